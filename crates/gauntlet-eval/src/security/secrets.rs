//! Secrets: known credential formats, private keys, JWTs, passwords in URLs and assignments,
//! and (from `Medium`) high-entropy tokens.

use std::sync::LazyLock;

use super::util::{
    FIRST_GROUP, Hit, Re, Rule, base64_decode, base64_text, before, char_at, char_before, entropy,
    run_rules,
};
use super::{Finding, SecurityCheck, Sensitivity, Severity};

use Sensitivity::{High as H, Low as L, Medium as M};
use Severity::{Critical, High, Low, Medium};

pub(super) const KINDS: &[&str] = &[
    "aws_access_key",
    "aws_secret_key",
    "gcp_api_key",
    "google_oauth_secret",
    "gcp_service_account",
    "azure_storage_key",
    "azure_sas_token",
    "github_token",
    "gitlab_token",
    "stripe_key",
    "stripe_webhook_secret",
    "slack_token",
    "slack_webhook",
    "twilio_key",
    "sendgrid_key",
    "openai_key",
    "anthropic_key",
    "huggingface_token",
    "npm_token",
    "pypi_token",
    "digitalocean_token",
    "shopify_token",
    "private_key",
    "jwt",
    "url_password",
    "bearer_token",
    "basic_auth",
    "generic_secret",
    "high_entropy",
];

const ROTATE: &str = "Revoke and rotate this credential, and load secrets from a secret store or environment at run time.";

fn hint(kind: &str) -> &'static str {
    match kind {
        "private_key" => "Never output private keys; revoke this key pair and issue a new one.",
        "jwt" => "Do not echo bearer tokens; invalidate this token if it is live.",
        "url_password" => "Remove the password from the URL and pass credentials separately.",
        "high_entropy" => "This looks like a random secret; remove it if it is a credential.",
        "generic_secret" => "Do not hard-code secrets; read them from the environment or a vault.",
        _ => ROTATE,
    }
}

/// The match must not run on into more token characters (keys have fixed lengths).
fn clean_end(
    h: &Hit<'_, '_>,
    kind: &'static str,
    sev: Severity,
) -> Option<(&'static str, Severity)> {
    let token =
        |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    (!token(char_at(h.text, h.end())) && !token(char_before(h.text, h.start())))
        .then_some((kind, sev))
}

fn classes(s: &str) -> (bool, bool, bool) {
    (
        s.bytes().any(|b| b.is_ascii_uppercase()),
        s.bytes().any(|b| b.is_ascii_lowercase()),
        s.bytes().any(|b| b.is_ascii_digit()),
    )
}

/// Random-looking: upper, lower and digits all present.
fn mixed(h: &Hit<'_, '_>, kind: &'static str, sev: Severity) -> Option<(&'static str, Severity)> {
    let t = h.group(0);
    let (u, l, d) = classes(t);
    if !(u && l && d) {
        return None;
    }
    clean_end(h, kind, sev)
}

/// Real keys have a varied body; `sk_live_xxxxxxxx…` is a placeholder.
fn varied(h: &Hit<'_, '_>, kind: &'static str, sev: Severity) -> Option<(&'static str, Severity)> {
    let t = h.group(0);
    let body = t.rsplit(['_', '-']).next().unwrap_or(t);
    let body = if body.len() >= 8 { body } else { t };
    let mut seen = [false; 128];
    let distinct = body
        .bytes()
        .filter(|&b| b < 128 && !std::mem::replace(&mut seen[usize::from(b)], true))
        .count();
    (distinct >= 8).then_some((kind, sev))
}

fn openai(h: &Hit<'_, '_>, kind: &'static str, sev: Severity) -> Option<(&'static str, Severity)> {
    if h.group(0).starts_with("sk-ant-") {
        return None;
    }
    mixed(h, kind, sev)
}

fn private_key(
    h: &Hit<'_, '_>,
    kind: &'static str,
    sev: Severity,
) -> Option<(&'static str, Severity)> {
    // The body runs from the end of the BEGIN line to the END line; keys pasted inside JSON
    // strings carry `\n` escapes instead of line breaks.
    let block = h.group(0);
    let after_begin = block
        .get(11..)
        .and_then(|b| b.split_once("-----"))
        .map_or("", |p| p.1);
    let body = after_begin
        .split("-----END")
        .next()
        .unwrap_or("")
        .replace("\\n", "\n");
    let body = body
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '+' || *c == '/')
        .count();
    if body >= 20 {
        Some((kind, sev))
    } else if h.sensitivity == H {
        Some((kind, Low))
    } else {
        None
    }
}

fn jwt(h: &Hit<'_, '_>, kind: &'static str, sev: Severity) -> Option<(&'static str, Severity)> {
    let mut parts = h.group(0).split('.');
    let header = parts.next().and_then(base64_decode)?;
    let payload = parts.next().and_then(base64_decode)?;
    let header: serde_json::Value = serde_json::from_slice(&header).ok()?;
    let payload: serde_json::Value = serde_json::from_slice(&payload).ok()?;
    (header.get("alg").is_some() && payload.is_object()).then_some((kind, sev))
}

const PLACEHOLDER_WORDS: &[&str] = &[
    "your",
    "example",
    "placeholder",
    "changeme",
    "change_me",
    "change-me",
    "redacted",
    "dummy",
    "sample",
    "xxxx",
    "****",
    "...",
    "replace",
    "insert",
    "here",
    "todo",
    "secret_value",
    "<",
    ">",
    "{{",
    "}}",
];
const PLACEHOLDER_VALUES: &[&str] = &[
    "password",
    "passwd",
    "pass",
    "pwd",
    "secret",
    "token",
    "apikey",
    "api_key",
    "api-key",
    "admin",
    "root",
    "test",
    "testing",
    "null",
    "none",
    "undefined",
    "true",
    "false",
    "string",
    "value",
    "username",
    "user",
];

/// Values that stand for a secret without being one: `${VAR}`, `<token>`, `YOUR_API_KEY`,
/// `********`, `password`…
fn placeholder(v: &str) -> bool {
    let lower = v.to_ascii_lowercase();
    let env_name = v.len() > 3
        && v.contains('_')
        && v.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    v.starts_with(['$', '{', '<', '[', '(', '%'])
        || v.bytes()
            .all(|b| matches!(b, b'*' | b'x' | b'X' | b'.' | b'#' | b'-' | b'_' | b'0'))
        || PLACEHOLDER_WORDS.iter().any(|w| lower.contains(w))
        || PLACEHOLDER_VALUES.contains(&lower.as_str())
        || env_name
}

fn url_password(
    h: &Hit<'_, '_>,
    kind: &'static str,
    sev: Severity,
) -> Option<(&'static str, Severity)> {
    let (user, pass) = (h.group(1), h.group(2));
    if placeholder(pass) {
        return None;
    }
    // `postgres:postgres@` and the like are defaults, not leaks.
    if pass.eq_ignore_ascii_case(user) {
        return Some((kind, Low));
    }
    Some((kind, sev))
}

fn assigned_secret(
    h: &Hit<'_, '_>,
    kind: &'static str,
    sev: Severity,
) -> Option<(&'static str, Severity)> {
    let v = h.group(2);
    if placeholder(v) || v.contains("://") || v.starts_with(['/', '.', '~']) {
        return None;
    }
    let (u, l, d) = classes(v);
    let symbol = v.bytes().any(|b| !b.is_ascii_alphanumeric());
    let kinds = usize::from(u) + usize::from(l) + usize::from(d);
    if kinds < 2 || !(d || (symbol && u)) || entropy(v) < 2.5 {
        return None;
    }
    Some((kind, sev))
}

fn prose_secret(
    h: &Hit<'_, '_>,
    kind: &'static str,
    sev: Severity,
) -> Option<(&'static str, Severity)> {
    let v = h.group(1).trim_end_matches(['.', ',', ';', ')']);
    if placeholder(v) || v.contains("://") {
        return None;
    }
    let (u, l, d) = classes(v);
    let symbol = v.bytes().any(|b| !b.is_ascii_alphanumeric());
    (l && d && (u || symbol)).then_some((kind, sev))
}

/// The password group of a command line (whichever alternative matched).
fn cli_password(
    h: &Hit<'_, '_>,
    kind: &'static str,
    sev: Severity,
) -> Option<(&'static str, Severity)> {
    let v = [1, 2, 3]
        .iter()
        .map(|&i| h.group(i))
        .find(|g| !g.is_empty())?;
    (!placeholder(v)).then_some((kind, sev))
}

fn bearer(h: &Hit<'_, '_>, kind: &'static str, sev: Severity) -> Option<(&'static str, Severity)> {
    let t = h.group(1);
    let (u, l, d) = classes(t);
    if placeholder(t) || (t.starts_with("eyJ") && t.matches('.').count() == 2) {
        return None;
    }
    (usize::from(u) + usize::from(l) + usize::from(d) >= 2 && entropy(t) >= 3.5)
        .then_some((kind, sev))
}

fn basic_auth(
    h: &Hit<'_, '_>,
    kind: &'static str,
    sev: Severity,
) -> Option<(&'static str, Severity)> {
    let decoded = base64_text(h.group(1))?;
    let (_, pass) = decoded.split_once(':')?;
    (!pass.is_empty() && !placeholder(pass)).then_some((kind, sev))
}

fn sas(h: &Hit<'_, '_>, kind: &'static str, sev: Severity) -> Option<(&'static str, Severity)> {
    before(h.text, h.start(), 300)
        .contains("sv=")
        .then_some((kind, sev))
}

static RULES: LazyLock<Vec<Rule>> = LazyLock::new(|| {
    vec![
        Rule::new("aws_access_key", r"\b(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}\b", Critical, L, ROTATE).check(varied),
        Rule::new(
            "aws_secret_key",
            r#"(?i)(?:aws_?)?secret_?(?:access_?)?key["']?\s*(?:[:=]|=>)\s*["']?([A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$)"#,
            Critical,
            L,
            ROTATE,
        )
        .group(1),
        Rule::new("gcp_api_key", r"\bAIza[0-9A-Za-z_\-]{35}", High, L, ROTATE).check(clean_end),
        Rule::new("google_oauth_secret", r"\bGOCSPX-[0-9A-Za-z_\-]{28}", High, L, ROTATE).check(clean_end),
        Rule::new("gcp_service_account", r#""type"\s*:\s*"service_account""#, Medium, M, ROTATE),
        Rule::new(
            "azure_storage_key",
            r"(?i)(?:DefaultEndpointsProtocol=https?;)?(?:AccountName=[^;\s]+;)?AccountKey=[A-Za-z0-9+/]{40,}={0,2}|(?i)SharedAccessKey=[A-Za-z0-9+/]{30,}={0,2}",
            Critical,
            L,
            ROTATE,
        ),
        Rule::new("azure_sas_token", r"[?&]sig=[A-Za-z0-9%+/=]{30,}", High, L, ROTATE).check(sas),
        Rule::new(
            "github_token",
            r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36}\b|\bgithub_pat_[A-Za-z0-9_]{50,}",
            Critical,
            L,
            ROTATE,
        )
        .check(varied),
        Rule::new("gitlab_token", r"\bgl(?:pat|dt|rt|ptt)-[A-Za-z0-9_\-]{20,}", Critical, L, ROTATE).check(clean_end),
        Rule::new("stripe_key", r"\b(?:sk|rk)_live_[0-9A-Za-z]{20,}", Critical, L, ROTATE).check(varied),
        Rule::new("stripe_key", r"\b(?:sk|rk)_test_[0-9A-Za-z]{20,}", Medium, M, ROTATE).check(varied),
        Rule::new("stripe_webhook_secret", r"\bwhsec_[A-Za-z0-9]{32,}", High, L, ROTATE).check(varied),
        Rule::new("slack_token", r"\bxox[abposr]-[0-9A-Za-z\-]{10,}", Critical, L, ROTATE).check(varied),
        Rule::new(
            "slack_webhook",
            r"https://hooks\.slack\.com/(?:services|workflows)/[A-Za-z0-9/_\-]{20,}",
            High,
            L,
            ROTATE,
        ),
        Rule::new("twilio_key", r"\bSK[0-9a-fA-F]{32}\b", High, L, ROTATE),
        Rule::new("twilio_key", r"(?i)twilio[^\n]{0,60}?\b([0-9a-f]{32})\b", High, M, ROTATE).group(1),
        Rule::new("sendgrid_key", r"\bSG\.[A-Za-z0-9_\-]{16,32}\.[A-Za-z0-9_\-]{16,64}", Critical, L, ROTATE)
            .check(clean_end),
        Rule::new(
            "openai_key",
            r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}",
            Critical,
            L,
            ROTATE,
        )
        .check(openai),
        Rule::new("anthropic_key", r"\bsk-ant-[A-Za-z0-9_\-]{20,}", Critical, L, ROTATE).check(mixed),
        Rule::new("huggingface_token", r"\bhf_[A-Za-z0-9]{30,}\b", Critical, L, ROTATE).check(mixed),
        Rule::new("npm_token", r"\bnpm_[A-Za-z0-9]{36}\b", Critical, L, ROTATE).check(mixed),
        Rule::new("pypi_token", r"\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_\-]{50,}", Critical, L, ROTATE),
        Rule::new("digitalocean_token", r"\bdo[por]_v1_[a-f0-9]{64}\b", Critical, L, ROTATE),
        Rule::new("shopify_token", r"\bshp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}\b", Critical, L, ROTATE),
        Rule::new(
            "private_key",
            r"(?s)-----BEGIN[ A-Z0-9]{0,30}PRIVATE KEY(?: BLOCK)?-----(?:.*?-----END[ A-Z0-9]{0,30}PRIVATE KEY(?: BLOCK)?-----|[A-Za-z0-9+/=\s]*)",
            Critical,
            L,
            hint("private_key"),
        )
        .check(private_key),
        Rule::new(
            "jwt",
            r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*",
            High,
            L,
            hint("jwt"),
        )
        .check(jwt),
        Rule::new(
            "url_password",
            r#"\b[A-Za-z][A-Za-z0-9+.\-]{1,20}://([^\s:/?#@'"<>]{1,64}):([^\s/?@'"<>]{1,128})@[A-Za-z0-9.\-\[\]_]+"#,
            High,
            L,
            hint("url_password"),
        )
        .group(2)
        .check(url_password),
        Rule::new("bearer_token", r"(?i)\bbearer\s+([A-Za-z0-9\-._~+/]{20,}=*)", High, M, ROTATE)
            .group(1)
            .check(bearer),
        Rule::new(
            "basic_auth",
            r"(?i)\bauthorization\s*:\s*basic\s+([A-Za-z0-9+/]{8,}={0,2})",
            High,
            L,
            ROTATE,
        )
        .group(1)
        .check(basic_auth),
        Rule::new(
            "generic_secret",
            r#"(?i)\b([a-z0-9_\-]*(?:password|passwd|pwd|secret|api[_\-]?key|apikey|access[_\-]?key|auth[_\-]?token|access[_\-]?token|refresh[_\-]?token|client[_\-]?secret|private[_\-]?key|secret[_\-]?key|token))["']?\s*(?:=|:|:=|=>)\s*["']([^"'\s]{8,200})["']"#,
            Medium,
            M,
            hint("generic_secret"),
        )
        .group(2)
        .check(assigned_secret),
        Rule::new(
            "generic_secret",
            r"(?m)(?:^|[ \t])(?:export[ \t]+)?([A-Z0-9_]*(?:PASSWORD|PASSWD|SECRET|API_KEY|APIKEY|TOKEN|ACCESS_KEY|PRIVATE_KEY|SECRET_KEY|AUTH_KEY))[ \t]*=[ \t]*([^\s\x22'#$<{]{8,200})(?:[ \t]|$)",
            Medium,
            M,
            hint("generic_secret"),
        )
        .group(2)
        .check(assigned_secret),
        // Prose: "the password I set is Pz8!qW3#rT6u", "passphrase: …".
        Rule::new(
            "generic_secret",
            r#"(?i)\b(?:password|passphrase|passcode|passwd)\b[^.\n:=@/]{0,30}?(?:\bis\b|:|=)\s*["'`]?([^\s"'`]{6,64})"#,
            Medium,
            M,
            hint("generic_secret"),
        )
        .group(1)
        .check(prose_secret),
        // YAML: `password: S3cr3t!` (unquoted).
        Rule::new(
            "generic_secret",
            r"(?im)^[ \t]*-?[ \t]*([a-z0-9_\-]*(?:password|passwd|pwd|secret|api[_\-]?key|apikey|auth[_\-]?token|access[_\-]?token|client[_\-]?secret|private[_\-]?key|secret[_\-]?key))[ \t]*:[ \t]+([^\s\x22'#{}\[\]&*|>!][^\s\x22'#]{7,199})[ \t]*$",
            Medium,
            M,
            hint("generic_secret"),
        )
        .group(2)
        .check(assigned_secret),
        // Passwords on command lines: `mysql -pS3cret`, `--password=S3cret`, `sshpass -p S3cret`.
        Rule::new(
            "generic_secret",
            r#"\b(?:mysql|mysqldump|mysqladmin|mariadb)\b[^\n]*?\s-p([^\s\-"'][^\s"']{3,})|(?i)--password[= ]["']?([^\s"'$<{-][^\s"']{5,})|\bsshpass\s+-p\s*["']?([^\s"'$<{-][^\s"']{3,})"#,
            Medium,
            M,
            hint("generic_secret"),
        )
        .group(FIRST_GROUP)
        .check(cli_password),
    ]
});

static PEM_BLOCK: LazyLock<Re> = LazyLock::new(|| {
    Re::new(r"(?s)-----BEGIN [A-Z0-9 ]{1,40}-----.*?(?:-----END [A-Z0-9 ]{1,40}-----|\z)")
});
static TOKEN: LazyLock<Re> = LazyLock::new(|| Re::new(r"[A-Za-z0-9+/_\-]{20,}={0,2}"));
static SECRET_CONTEXT: LazyLock<Re> = LazyLock::new(|| {
    Re::new(
        r#"(?i)(?:key|token|secret|passw|credential|auth|bearer|apikey|signature|sig)[a-z_\-]*["']?\s*(?:[:=]|=>|is)?\s*["']?$"#,
    )
});
static DATA_CONTEXT: LazyLock<Re> = LazyLock::new(|| {
    Re::new(
        r"(?i)(?:request[_\- ]?id|trace|span|etag|nonce|hash|digest|checksum|integrity|commit|sha\d*|md5|fingerprint|\bid|uuid|base64,|data:|sha\d+-|salt|iv|ciphertext|encoded|ssh-(?:rsa|ed25519|dss)|ecdsa-sha2-[a-z0-9]+|sk-ssh-ed25519@openssh\.com)\W{0,6}$",
    )
});

/// Fraction of adjacent chars that switch between upper, lower, digit and other: random
/// strings switch often, identifiers and words rarely.
fn switches(t: &str) -> f64 {
    let class = |b: u8| match b {
        b'A'..=b'Z' => 0,
        b'a'..=b'z' => 1,
        b'0'..=b'9' => 2,
        _ => 3,
    };
    let b = t.as_bytes();
    if b.len() < 2 {
        return 0.0;
    }
    let n = b.windows(2).filter(|w| class(w[0]) != class(w[1])).count();
    n as f64 / (b.len() - 1) as f64
}

fn is_uuid_or_hex(t: &str) -> bool {
    let hex = t.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
    hex && (t.bytes().filter(|&b| b == b'-').count() == 4 || !t.contains('-'))
}

fn high_entropy(text: &str, s: Sensitivity, out: &mut Vec<Finding>) {
    if s == L {
        return;
    }
    // Certificates and public keys are base64 without being secret; private keys have a rule.
    let pem: Vec<(usize, usize)> = PEM_BLOCK
        .find_iter(text)
        .map(|m| (m.start(), m.end()))
        .collect();
    let mut block = 0;
    for m in TOKEN.find_iter(text) {
        // Tokens and blocks both come in text order.
        while pem.get(block).is_some_and(|&(_, end)| end <= m.start()) {
            block += 1;
        }
        if pem
            .get(block)
            .is_some_and(|&(start, end)| start <= m.start() && m.end() <= end)
        {
            continue;
        }
        let t = m.as_str().trim_end_matches('=');
        let glued = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
        if glued(char_before(text, m.start())) || glued(char_at(text, m.end())) {
            continue;
        }
        let n = t.len();
        let public = t.starts_with("pk_live_") || t.starts_with("pk_test_");
        if n > 256 || public || (is_uuid_or_hex(t) && s == M) {
            continue;
        }
        let ctx_before = before(text, m.start(), 40);
        if DATA_CONTEXT.is_match(ctx_before) || base64_text(t).is_some() {
            continue;
        }
        // Inside a URL, only query values after a secret-ish name count.
        let wide = before(text, m.start(), 200);
        let word_start = wide
            .char_indices()
            .rev()
            .find(|&(_, c)| c.is_whitespace() || c == '"' || c == '\'' || c == '(')
            .map_or(0, |(i, c)| i + c.len_utf8());
        let word = &wide[word_start..];
        let in_url = word.contains("://");
        // crypt(3)-style password hashes: `$argon2id$v=19$…$salt$hash`, `$2b$12$…`.
        if word.starts_with('$') && word[1..].contains('$') {
            continue;
        }
        let secret_ctx = SECRET_CONTEXT.is_match(ctx_before);
        let url_part = in_url && !secret_ctx;
        if url_part && s == M {
            continue;
        }
        let (u, l, d) = classes(t);
        let kinds = usize::from(u) + usize::from(l) + usize::from(d);
        let e = entropy(t);
        let strong = kinds == 3
            && switches(t) >= 0.3
            && ((n >= 32 && e >= 4.2) || (secret_ctx && n >= 20 && e >= 3.8));
        let weak = kinds >= 2 && switches(t) >= 0.2 && e >= 3.5;
        let severity = if strong && !url_part {
            Medium
        } else if (weak || strong) && s == H {
            Low
        } else {
            continue;
        };
        out.push(Finding {
            check: SecurityCheck::Secrets,
            kind: "high_entropy",
            start: m.start(),
            end: m.start() + t.len(),
            severity,
            hint: hint("high_entropy"),
        });
    }
}

pub(super) fn scan(text: &str, s: Sensitivity, out: &mut Vec<Finding>) {
    run_rules(&RULES, SecurityCheck::Secrets, text, s, hint, out);
    high_entropy(text, s, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str, s: Sensitivity) -> Vec<(&'static str, String, Severity)> {
        let out = super::super::scan(text, &[SecurityCheck::Secrets], s);
        out.iter()
            .map(|f| (f.kind, text[f.start..f.end].to_owned(), f.severity))
            .collect()
    }

    fn kinds(text: &str) -> Vec<&'static str> {
        found(text, M)
            .into_iter()
            .filter(|f| f.2 != Low)
            .map(|f| f.0)
            .collect()
    }

    #[test]
    fn patterns_compile() {
        super::super::util::assert_rules(&RULES, KINDS);
        assert!(
            TOKEN.compiled()
                && SECRET_CONTEXT.compiled()
                && DATA_CONTEXT.compiled()
                && PEM_BLOCK.compiled()
        );
    }

    #[test]
    fn known_formats() {
        assert_eq!(kinds("id AKIAIOSFODNN7EXAMPLE"), vec!["aws_access_key"]);
        assert_eq!(
            found(
                "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
                M
            )[0]
            .1,
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
        );
        assert_eq!(
            kinds("token ghp_R4nd0mT0k3nV4lu3F0rT3st1ngPurp0s3sX9"),
            vec!["github_token"]
        );
        assert_eq!(
            kinds("OPENAI_API_KEY=sk-proj-Ab3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE3fG5hJ7k"),
            vec!["openai_key"]
        );
        assert_eq!(
            kinds("key sk-ant-api03-Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0FeDcBa9876543210"),
            vec!["anthropic_key"]
        );
        assert!(
            kinds("pip install scikit-learn; import sk-learn-classification-pipeline").is_empty()
        );
        assert_eq!(
            kinds(
                "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7bq3xTl2mK9vQ+xZ4nP1sR8\n-----END RSA PRIVATE KEY-----"
            ),
            vec!["private_key"]
        );
        assert!(kinds("-----BEGIN PRIVATE KEY-----\n...\n-----END PRIVATE KEY-----").is_empty());
        let json = r#"{"private_key": "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"}"#;
        assert_eq!(kinds(json), vec!["private_key"]);
        assert!(kinds("-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n-----END PUBLIC KEY-----").is_empty());
    }

    #[test]
    fn jwt_header_must_decode() {
        let jwt = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c3JfNDIiLCJyb2xlIjoiYWRtaW4ifQ.c2lnbmF0dXJlX2J5dGVzX2hlcmVfMTIz";
        assert_eq!(kinds(&format!("Authorization: Bearer {jwt}")), vec!["jwt"]);
        assert!(kinds("eyJub3RhbGciOjF9.eyJzdWIiOiJ1c3JfNDIifQ.abc").is_empty());
    }

    #[test]
    fn url_passwords() {
        let f = found(
            "DATABASE_URL=postgres://app:Xk82-vLq9!r@db.internal:5432/app",
            M,
        );
        assert_eq!(f[0].0, "url_password");
        assert_eq!(f[0].1, "Xk82-vLq9!r");
        assert!(
            kinds("postgres://user:password@localhost/db and redis://:${REDIS_PASS}@cache")
                .is_empty()
        );
        assert!(kinds("postgres://postgres:postgres@localhost:5432/dev").is_empty());
    }

    #[test]
    fn entropy_tokens() {
        // A random 40-char token is reported; hashes, UUIDs and identifiers are not.
        assert_eq!(
            kinds("use Kq3Zp8Xw2Lm7Rt9Vb4Nc6Yh1Jd5Fg0Ts8Ue3Wa"),
            vec!["high_entropy"]
        );
        assert!(kinds("commit 3f786850e387550fdab836ed7e6dc881de23001b").is_empty());
        assert!(
            kinds("sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")
                .is_empty()
        );
        assert!(kinds("id 123e4567-e89b-12d3-a456-426614174000").is_empty());
        assert!(kinds("AbstractSingletonProxyFactoryBeanConfiguration").is_empty());
        assert!(found("use Kq3Zp8Xw2Lm7Rt9Vb4Nc6Yh1Jd5Fg0Ts8Ue3Wa", L).is_empty());
        assert!(kinds("c2VuZCB0aGUgcmVwb3J0IHRvIHRoZSB0ZWFtIGJ5IEZyaWRheQ==").is_empty());
    }

    #[test]
    fn generic_assignments() {
        assert_eq!(
            kinds(r#"DB_PASSWORD = "Tr0ub4dor&3x""#),
            vec!["generic_secret"]
        );
        assert!(kinds(r#"password = os.environ["DB_PASSWORD"]"#).is_empty());
        assert!(kinds(r#"api_key: "YOUR_API_KEY""#).is_empty());
        assert!(kinds(r#"secret: "prod-db-credentials""#).is_empty());
        assert!(kinds("API_TOKEN=${API_TOKEN}\n").is_empty());
    }
}
