//! `${VAR}`, `${VAR:-default}` and `${secret:NAME}` interpolation of string values.
//!
//! Secrets are allowed only in credential fields (see [`is_credential`]): anywhere else the
//! value would flow into prompts, outputs, reports and snapshots, so the loader refuses it.
//! `$${` writes a literal `${`.

use std::collections::HashMap;

/// Variables visible to interpolation: the process environment, then `.env`, then a
/// secrets file, as assembled by the caller.
#[derive(Clone, Debug, Default)]
pub struct Vars {
    pub env: HashMap<String, String>,
    pub secrets: HashMap<String, String>,
}

impl Vars {
    /// Looks a secret up in the secrets file first, then the environment.
    fn secret(&self, name: &str) -> Option<&String> {
        self.secrets.get(name).or_else(|| self.env.get(name))
    }
}

#[derive(Debug, PartialEq, Eq)]
pub struct Interpolated {
    pub value: String,
    /// Whether a `${...}` was replaced.
    pub replaced: bool,
    pub used_secret: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub struct InterpError {
    pub message: String,
    pub hint: String,
}

/// JSON pointers of fields that may hold credentials: a provider's `api_key`, and the values
/// of `headers` and `env` of providers and MCP servers.
pub fn is_credential(pointer: &str) -> bool {
    let parts: Vec<&str> = pointer.split('/').collect();
    matches!(
        parts.as_slice(),
        ["", "providers", _, "api_key"]
            | ["", "gateway", "keys", _, "secret"]
            | ["", "providers" | "mcp_servers", _, "headers" | "env", _]
    )
}

/// Whether a credential field written as a literal is masked (`***`) in configuration
/// snapshots: always for `api_key`; for headers and environment variables, when the name looks
/// like a credential (`Authorization`, `X-Api-Key`, `GITHUB_TOKEN`, ...).
pub fn masks_literal(pointer: &str) -> bool {
    let name = pointer
        .rsplit('/')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    name == "api_key"
        || [
            "auth",
            "key",
            "token",
            "secret",
            "password",
            "cookie",
            "credential",
        ]
        .iter()
        .any(|w| name.contains(w))
}

pub fn interpolate(
    input: &str,
    vars: &Vars,
    allow_secrets: bool,
) -> Result<Interpolated, InterpError> {
    if !input.contains('$') {
        return Ok(Interpolated {
            value: input.to_owned(),
            replaced: false,
            used_secret: false,
        });
    }
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    let mut replaced = false;
    let mut used_secret = false;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        if let Some(stripped) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = stripped;
            continue;
        }
        if !after.starts_with("${") {
            out.push('$');
            rest = &after[1..];
            continue;
        }
        let Some(end) = after.find('}') else {
            return Err(InterpError {
                message: "`${` without a closing `}`".into(),
                hint: "write `$${` for a literal `${`".into(),
            });
        };
        let inner = &after[2..end];
        replaced = true;
        if let Some(name) = inner.strip_prefix("secret:") {
            if !allow_secrets {
                return Err(InterpError {
                    message: format!("`${{secret:{name}}}` is not allowed here"),
                    hint: "secrets may only be used in credential fields (a provider's `api_key`, and `headers` and `env` values of providers and MCP servers), so they never reach prompts, outputs or reports".into(),
                });
            }
            let Some(v) = vars.secret(name) else {
                return Err(InterpError {
                    message: format!("secret `{name}` is not set"),
                    hint: format!(
                        "set the environment variable `{name}`, add it to `.env`, or to the file named by GAUNTLET_SECRETS_FILE"
                    ),
                });
            };
            used_secret = true;
            out.push_str(v);
        } else {
            let (name, default) = match inner.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (inner, None),
            };
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(InterpError {
                    message: format!("`${{{inner}}}` is not a variable reference"),
                    hint: "use `${NAME}`, `${NAME:-default}` or `${secret:NAME}`; write `$${` for a literal `${`".into(),
                });
            }
            match (vars.env.get(name), default) {
                (Some(v), _) if !v.is_empty() || default.is_none() => out.push_str(v),
                (_, Some(d)) => out.push_str(d),
                (None, None) => {
                    return Err(InterpError {
                        message: format!("environment variable `{name}` is not set"),
                        hint: format!(
                            "export {name}, add it to `.env`, or give a default: `${{{name}:-value}}`"
                        ),
                    });
                }
                (Some(v), None) => out.push_str(v),
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(Interpolated {
        value: out,
        replaced,
        used_secret,
    })
}

/// Parses a dotenv file: `KEY=value` lines, `#` comments, optional `export`, optional quotes.
pub fn parse_dotenv(text: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim();
        let v = if v.len() >= 2
            && ((v.starts_with('"') && v.ends_with('"'))
                || (v.starts_with('\'') && v.ends_with('\'')))
        {
            &v[1..v.len() - 1]
        } else {
            v
        };
        out.insert(k.trim().to_owned(), v.to_owned());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars {
        let mut v = Vars::default();
        v.env.insert("HOST".into(), "example".into());
        v.env.insert("EMPTY".into(), String::new());
        v.secrets.insert("KEY".into(), "s3cr3t".into());
        v
    }

    #[test]
    fn interpolates_variables_defaults_and_escapes() {
        let v = vars();
        assert_eq!(
            interpolate("http://${HOST}:8080", &v, false).unwrap().value,
            "http://example:8080"
        );
        assert_eq!(
            interpolate("${MISSING:-x}-${EMPTY:-y}", &v, false)
                .unwrap()
                .value,
            "x-y"
        );
        assert_eq!(
            interpolate("$${HOST} costs $5", &v, false).unwrap().value,
            "${HOST} costs $5"
        );
        assert!(
            interpolate("${MISSING}", &v, false)
                .unwrap_err()
                .message
                .contains("MISSING")
        );
        assert!(interpolate("${bad name}", &v, false).is_err());
        assert!(interpolate("${HOST", &v, false).is_err());
    }

    #[test]
    fn secrets_only_in_credential_fields() {
        let v = vars();
        let ok = interpolate("${secret:KEY}", &v, true).unwrap();
        assert_eq!(ok.value, "s3cr3t");
        assert!(ok.used_secret);
        let err = interpolate("${secret:KEY}", &v, false).unwrap_err();
        assert!(!err.message.contains("s3cr3t"));
        assert!(interpolate("${secret:NOPE}", &v, true).is_err());
        assert!(is_credential("/providers/gpt/api_key"));
        assert!(!is_credential("/agents/a/system"));
        assert!(is_credential("/providers/p/headers/Authorization"));
        assert!(is_credential("/mcp_servers/fs/env/TOKEN"));
        assert!(!is_credential("/mcp_servers/fs/args/0"));
        assert!(masks_literal("/providers/p/headers/X-Api-Key"));
        assert!(!masks_literal("/mcp_servers/fs/env/ROOT_DIR"));
    }

    #[test]
    fn parses_dotenv() {
        let m = parse_dotenv("# c\nexport A=1\nB = \"two words\"\nbad line\n");
        assert_eq!(m.get("A").map(String::as_str), Some("1"));
        assert_eq!(m.get("B").map(String::as_str), Some("two words"));
    }
}
