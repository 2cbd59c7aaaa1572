//! SQL injection: payloads (tautologies, stacked queries, UNION probes, comment truncation,
//! time-based and error-based probes) and queries built from strings in code (concatenation,
//! f-strings, template literals, `format`/`%`, PHP interpolation).

use std::sync::LazyLock;

use super::util::{Hit, Re, Rule, run_rules};
use super::{Finding, SecurityCheck, Sensitivity, Severity};

use Sensitivity::{High as H, Low as L};
use Severity::{Critical, High, Low};

pub(super) const KINDS: &[&str] = &[
    "sql_tautology",
    "sql_stacked_query",
    "sql_union_select",
    "sql_comment_truncation",
    "sql_time_based",
    "sql_error_based",
    "sql_command_exec",
    "sql_file_access",
    "sql_concatenation",
    "sql_interpolation",
];

fn hint(kind: &str) -> &'static str {
    match kind {
        "sql_concatenation" | "sql_interpolation" => {
            "Use parameterised queries (placeholders bound by the driver), never string building."
        }
        _ => "This is an SQL injection payload: bind user input as parameters and validate it.",
    }
}

/// The start of an SQL statement inside a string: `SELECT … FROM`, `INSERT INTO`,
/// `UPDATE … SET`, `DELETE FROM`.
const SQL_START: &str = r"(?:select\s+(?:distinct\s+|top\s+\d+\s+)?(?:\*|[\w.()*]+(?:\s+as\s+\w+)?(?:\s*,\s*[\w.()*]+(?:\s+as\s+\w+)?)*)\s+from|insert\s+into|update\s+[\w.]+\s+set|delete\s+from)\b";

/// `' OR 'a'='a`: both sides equal (or different with `<>`/`!=`).
fn tautology(
    h: &Hit<'_, '_>,
    kind: &'static str,
    sev: Severity,
) -> Option<(&'static str, Severity)> {
    let (a, op, b) = (h.group(1), h.group(2).to_ascii_lowercase(), h.group(3));
    let same = a.eq_ignore_ascii_case(b);
    let holds = match op.as_str() {
        "<>" | "!=" => !same,
        _ => same,
    };
    holds.then_some((kind, sev))
}

fn equal_numbers(
    h: &Hit<'_, '_>,
    kind: &'static str,
    sev: Severity,
) -> Option<(&'static str, Severity)> {
    (h.group(1) == h.group(2)).then_some((kind, sev))
}

/// Interpolating only UPPER_CASE constants (`{TABLE}`) is a warning, not an injection.
fn interpolated(
    h: &Hit<'_, '_>,
    kind: &'static str,
    sev: Severity,
) -> Option<(&'static str, Severity)> {
    static FIELD: LazyLock<Re> = LazyLock::new(|| Re::new(r"\{([^{}]*)\}"));
    let s = h.group(0);
    let fields: Vec<&str> = FIELD
        .find_iter(s)
        .map(|m| m.as_str().trim_matches(['{', '}', ' ']))
        .collect();
    let constant = |f: &&str| {
        !f.is_empty()
            && f.bytes().any(|b| b.is_ascii_uppercase())
            && f.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_' || b == b'.')
    };
    if !fields.is_empty() && fields.iter().all(constant) {
        return Some((kind, Low));
    }
    Some((kind, sev))
}

/// Concatenating an UPPER_CASE constant (`"SELECT * FROM " + TABLE`) is a warning.
fn concatenated(
    h: &Hit<'_, '_>,
    kind: &'static str,
    sev: Severity,
) -> Option<(&'static str, Severity)> {
    let rest = super::util::after(h.text, h.end().saturating_sub(1), 64);
    let name: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    let next = rest[name.len()..].trim_start().chars().next();
    let constant = name.len() > 1
        && name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        && !matches!(next, Some('(' | '.' | '['));
    Some((kind, if constant { Low } else { sev }))
}

static RULES: LazyLock<Vec<Rule>> = LazyLock::new(|| {
    let p = hint("sql_tautology");
    let c = hint("sql_concatenation");
    vec![
        Rule::new(
            "sql_tautology",
            r#"(?i)(?:['"]|\b[0-9]+)\s*\)*\s*(?:or\b|\|\|)\s*\(?\s*['"]?([a-z0-9_]*)['"]?\s*(=|<>|!=|\blike\b)\s*['"]?([a-z0-9_]*)['"]?"#,
            High,
            L,
            p,
        )
        .check(tautology),
        Rule::new("sql_tautology", r"(?i)\bor\s+([0-9]+)\s*=\s*([0-9]+)\b", High, L, p).check(equal_numbers),
        Rule::new("sql_tautology", r"(?i)['\x22]\s*\)*\s*or\s+(?:true|not\s+false)\b", High, L, p),
        // Boolean-based blind probes: `1' AND 1=1 --`, `' AND 1=2#`.
        Rule::new(
            "sql_tautology",
            r#"(?i)['"]\s*\)*\s*and\s+[0-9]+\s*=\s*[0-9]+\s*(?:--|#|/\*)"#,
            High,
            L,
            p,
        ),
        Rule::new(
            "sql_stacked_query",
            r#"(?i)['"]\s*\)?\s*;\s*(?:drop\s+(?:table|database|schema)|truncate\s|shutdown\b|exec(?:ute)?\s+(?:xp_|sp_)|delete\s+from|insert\s+into|update\s+\w+\s+set|alter\s+(?:table|user)|create\s+user|grant\s)"#,
            Critical,
            L,
            p,
        ),
        Rule::new(
            "sql_stacked_query",
            r"(?i)\b[0-9]+\s*;\s*(?:drop\s+(?:table|database)|shutdown|truncate\s+table)\b[^\n]{0,80}(?:--|#|/\*)",
            Critical,
            L,
            p,
        ),
        Rule::new(
            "sql_union_select",
            r#"(?i)['"]\s*\)*\s*(?:(?:and|or)\s+[^;'"\n]{0,30}?)?union\s+(?:all\s+)?select\b|-[0-9]+\s+union\s+(?:all\s+)?select\b|['"]\s*\)*\s*order\s+by\s+[0-9]+\s*(?:--|#|/\*)"#,
            High,
            L,
            p,
        ),
        Rule::new(
            "sql_union_select",
            r"(?i)\bunion\s+(?:all\s+)?select\s+(?:null|[0-9]+|@@\w+|\w+\(\))(?:\s*,\s*(?:null|[0-9]+|@@\w+|\w+\(\)|'[^']*'))+",
            High,
            L,
            p,
        ),
        Rule::new(
            "sql_union_select",
            r"(?i)\bunion\s+(?:all\s+)?select\b[^;\n]{0,200}\b(?:information_schema|sys\.tables|sysobjects|pg_catalog|sqlite_master|mysql\.user)\b",
            High,
            L,
            p,
        ),
        Rule::new("sql_union_select", r"(?i)\bunion\s+(?:all\s+)?select\b", Low, H, p),
        Rule::new(
            "sql_comment_truncation",
            r#"(?m)[\w)]['"]\s*(?:--|#)[ \t]*$|\w['"](?:--|#|/\*)"#,
            High,
            L,
            p,
        ),
        Rule::new(
            "sql_time_based",
            r#"(?i)(?:['"]|\b(?:and|or|if|then)\b|;|\|\||\(\s*select\b)\s*\(?\s*(?:select\s+)?(?:sleep|pg_sleep|dbms_lock\.sleep)\s*\(\s*[0-9]"#,
            High,
            L,
            p,
        ),
        Rule::new(
            "sql_time_based",
            r"(?i)\bwaitfor\s+delay\s+'|\bbenchmark\s*\(\s*[0-9]{4,}\s*,",
            High,
            L,
            p,
        ),
        Rule::new("sql_time_based", r"(?i)\bpg_sleep\s*\(|\bsleep\s*\(\s*[0-9]+\s*\)", Low, H, p),
        Rule::new(
            "sql_error_based",
            r"(?i)\b(?:extractvalue|updatexml)\s*\(\s*[0-9]+\s*,\s*concat|\bconvert\s*\(\s*int\s*,\s*\(?\s*select\b|\bcast\s*\(\s*\(?\s*select\b[^)]{0,100}\bas\s+(?:int|numeric)\b|\band\s+[0-9]+\s*=\s*(?:cast|convert)\s*\(",
            High,
            L,
            p,
        ),
        Rule::new("sql_command_exec", r"(?i)\bxp_cmdshell\b|\bsp_oacreate\b|\bcopy\s+\w+\s+from\s+program\b", Critical, L, p),
        Rule::new(
            "sql_file_access",
            r"(?i)\bload_file\s*\(\s*['0x]|\binto\s+(?:out|dump)file\s+'",
            High,
            L,
            p,
        ),
        // Queries built from strings.
        Rule::new(
            "sql_concatenation",
            &format!(r#"(?i)["`]\s*{SQL_START}[^"`\n]{{0,200}}?["`]\s*(?:\+|\.|\|\||&)\s*[A-Za-z_$(]"#),
            High,
            L,
            c,
        )
        .check(concatenated),
        Rule::new(
            "sql_concatenation",
            &format!(r#"(?i)'\s*{SQL_START}[^'\n]{{0,200}}?'\s*(?:\+|\.|\|\||&)\s*[A-Za-z_$(]"#),
            High,
            L,
            c,
        )
        .check(concatenated),
        Rule::new(
            "sql_interpolation",
            &format!(r#"(?i)(?:\b(?:f|rf|fr)|\$)"\s*{SQL_START}[^"\n]*\{{[^}}"\n]+\}}|(?:\b(?:f|rf|fr)|\$)'\s*{SQL_START}[^'\n]*\{{[^}}'\n]+\}}"#),
            High,
            L,
            c,
        )
        .check(interpolated),
        Rule::new(
            "sql_interpolation",
            &format!(r#"(?i)`\s*{SQL_START}[^`]*\$\{{[^}}]+\}}"#),
            High,
            L,
            c,
        )
        .check(interpolated),
        Rule::new(
            "sql_interpolation",
            &format!(r#"(?i)"\s*{SQL_START}[^"\n]*\{{\w*\}}[^"\n]*"\s*\.format\s*\(|'\s*{SQL_START}[^'\n]*\{{\w*\}}[^'\n]*'\s*\.format\s*\(|"\s*{SQL_START}[^"\n]*%[sd][^"\n]*"\s*%\s*[\w(]|'\s*{SQL_START}[^'\n]*%[sd][^'\n]*'\s*%\s*[\w(]"#),
            High,
            L,
            c,
        ),
        Rule::new(
            "sql_interpolation",
            &format!(r#"(?i)\b(?:sprintf|format|String\.format)\s*\(\s*(?:"\s*{SQL_START}[^"\n]*|'\s*{SQL_START}[^'\n]*)%[sdv]"#),
            High,
            L,
            c,
        ),
        // Ruby: `User.where("name = '#{params[:name]}'")`, `"SELECT … #{x}"`.
        Rule::new(
            "sql_interpolation",
            &format!(r#"(?i)\.(?:where|find_by_sql|execute|exec_query|select_all|order|having|joins|from)\s*\(\s*"[^"\n]*#\{{[^}}]+\}}|"\s*{SQL_START}[^"\n]*#\{{[^}}]+\}}"#),
            High,
            L,
            c,
        ),
        Rule::new(
            "sql_interpolation",
            &format!(r#"(?i)"\s*{SQL_START}[^"\n]*\$(?:_GET|_POST|_REQUEST|_COOKIE)\b"#),
            Critical,
            L,
            c,
        ),
        Rule::new(
            "sql_interpolation",
            &format!(r#"(?i)"\s*{SQL_START}[^"\n]*\$[A-Za-z_]"#),
            High,
            L,
            c,
        ),
    ]
});

pub(super) fn scan(text: &str, s: Sensitivity, out: &mut Vec<Finding>) {
    run_rules(&RULES, SecurityCheck::SqlInjection, text, s, hint, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<&'static str> {
        super::super::util::failing_kinds(text, SecurityCheck::SqlInjection)
    }

    #[test]
    fn patterns_compile() {
        super::super::util::assert_rules(&RULES, KINDS);
    }

    #[test]
    fn payloads() {
        assert_eq!(kinds("username: admin' OR '1'='1"), vec!["sql_tautology"]);
        assert_eq!(kinds("id=5 OR 1=1"), vec!["sql_tautology"]);
        assert_eq!(
            kinds("name=x'; DROP TABLE users; --"),
            vec!["sql_stacked_query"]
        );
        assert_eq!(
            kinds("id=-1 UNION SELECT username, password FROM users"),
            vec!["sql_union_select"]
        );
        assert_eq!(kinds("user: admin'--"), vec!["sql_comment_truncation"]);
        assert_eq!(kinds("q=1' AND SLEEP(5)"), vec!["sql_time_based"]);
        assert_eq!(kinds("'; WAITFOR DELAY '0:0:5'"), vec!["sql_time_based"]);
    }

    #[test]
    fn string_built_queries() {
        assert_eq!(
            kinds(r#"q = "SELECT * FROM users WHERE name = '" + name + "'""#),
            vec!["sql_concatenation"]
        );
        assert_eq!(
            kinds(r#"cur.execute(f"SELECT * FROM orders WHERE id = {order_id}")"#),
            vec!["sql_interpolation"]
        );
        assert_eq!(
            kinds("db.query(`SELECT * FROM users WHERE email = '${email}'`)"),
            vec!["sql_interpolation"]
        );
    }

    #[test]
    fn safe_queries() {
        assert!(
            kinds(r#"cur.execute("SELECT * FROM users WHERE id = %s", (user_id,))"#).is_empty()
        );
        assert!(kinds("SELECT id FROM a UNION SELECT id FROM b").is_empty());
        assert!(kinds("WHERE status = 'active' OR role = 'admin'").is_empty());
        assert!(kinds("SELECT * FROM t WHERE 1=1 AND deleted_at IS NULL").is_empty());
        assert!(kinds("time.sleep(5)").is_empty());
        assert!(kinds(r#"log.info("select returned " + str(n))"#).is_empty());
        assert!(kinds(r#"f"SELECT * FROM {TABLE} WHERE id = ?""#).is_empty());
    }
}
