//! Security scanning of text: personal data, secrets, prompt injection, unsafe code and SQL
//! injection.
//!
//! [`scan`] is a pure function of the text, the checks and the [`Sensitivity`]; every pattern is
//! compiled once. Each [`Finding`] carries a byte span, a kind (`"email"`, `"aws_access_key"`…),
//! a [`Severity`] (`Low` is a warning) and a one-sentence remediation hint. [`redact`] replaces
//! the spans.
//!
//! Sensitivity: `Low` reports only high-confidence findings (checksummed identifiers, exact key
//! formats, explicit injection, clearly dangerous code) and never warnings; `Medium` is the
//! default set; `High` adds heuristics, mostly as warnings.

mod code;
pub mod corpus;
mod injection;
mod pii;
mod secrets;
mod sql;
mod util;

use std::cmp::Reverse;

pub use gauntlet_core::evaluators::{SecurityCheck, Sensitivity, Severity};

/// One security finding: what was found, where (a byte span on char boundaries), how bad.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub check: SecurityCheck,
    pub kind: &'static str,
    pub start: usize,
    pub end: usize,
    pub severity: Severity,
    /// One-sentence remediation.
    pub hint: &'static str,
}

impl Finding {
    /// Low-severity findings are warnings.
    pub fn is_warning(&self) -> bool {
        self.severity == Severity::Low
    }

    /// The flagged text.
    pub fn text<'t>(&self, scanned: &'t str) -> &'t str {
        scanned.get(self.start..self.end).unwrap_or("")
    }
}

/// Every kind a check can report.
pub fn kinds(check: SecurityCheck) -> &'static [&'static str] {
    match check {
        SecurityCheck::Pii => pii::KINDS,
        SecurityCheck::Secrets => secrets::KINDS,
        SecurityCheck::PromptInjection => injection::KINDS,
        SecurityCheck::CodeSafety => code::KINDS,
        SecurityCheck::SqlInjection => sql::KINDS,
    }
}

/// Scans `text` with `checks` (duplicates ignored). Findings are sorted by start (then longest
/// first); overlapping findings of the same kind are reported once (the most severe, then the
/// longest), and a generic finding (a phone number, a high-entropy token…) overlapping a specific,
/// at least as severe one of the same check is dropped. At `Sensitivity::Low` warnings are dropped.
pub fn scan(text: &str, checks: &[SecurityCheck], sensitivity: Sensitivity) -> Vec<Finding> {
    let mut all = Vec::new();
    for check in SecurityCheck::ALL {
        if !checks.contains(&check) {
            continue;
        }
        let mut found = Vec::new();
        match check {
            SecurityCheck::Pii => pii::scan(text, sensitivity, &mut found),
            SecurityCheck::Secrets => secrets::scan(text, sensitivity, &mut found),
            SecurityCheck::PromptInjection => injection::scan(text, sensitivity, &mut found),
            SecurityCheck::CodeSafety => code::scan(text, sensitivity, &mut found),
            SecurityCheck::SqlInjection => sql::scan(text, sensitivity, &mut found),
        }
        if sensitivity == Sensitivity::Low {
            found.retain(|f| !f.is_warning());
        }
        all.extend(dedupe(found));
    }
    all.sort_by_key(|f| (f.start, Reverse(f.end), f.check, f.kind));
    all
}

/// Kinds that only stand in for a more specific finding when one covers the same text.
fn is_generic(kind: &str) -> bool {
    matches!(
        kind,
        "phone"
            | "high_entropy"
            | "generic_secret"
            | "subprocess_popen"
            | "network_request"
            | "child_process_import"
            | "file_deletion"
    )
}

fn overlaps(a: &Finding, b: &Finding) -> bool {
    a.start < b.end && b.start < a.end
}

/// Collapses overlapping findings of one check (see [`scan`]). Findings are split into clusters
/// of transitively overlapping spans (sorted by start), and each small cluster is resolved on its
/// own, so the cost stays near-linear in the number of findings.
fn dedupe(mut found: Vec<Finding>) -> Vec<Finding> {
    found.sort_by_key(|f| (f.start, Reverse(f.end)));
    let mut kept = Vec::with_capacity(found.len());
    let mut cluster: Vec<Finding> = Vec::new();
    let mut cluster_end = 0;
    for f in found {
        if !cluster.is_empty() && f.start >= cluster_end {
            resolve(std::mem::take(&mut cluster), &mut kept);
        }
        cluster_end = if cluster.is_empty() {
            f.end
        } else {
            cluster_end.max(f.end)
        };
        cluster.push(f);
    }
    resolve(cluster, &mut kept);
    kept
}

/// Keeps the findings of one cluster that no kept finding makes redundant, most severe (then
/// longest) first.
fn resolve(mut cluster: Vec<Finding>, kept: &mut Vec<Finding>) {
    if cluster.len() < 2 {
        kept.extend(cluster);
        return;
    }
    cluster.sort_by_key(|f| {
        (
            is_generic(f.kind),
            Reverse(f.severity),
            Reverse(f.end - f.start),
            f.start,
        )
    });
    let first = kept.len();
    for f in cluster {
        let redundant = kept[first..].iter().any(|k| {
            overlaps(k, &f)
                && (k.kind == f.kind
                    || (is_generic(f.kind) && !is_generic(k.kind) && k.severity >= f.severity))
        });
        if !redundant {
            kept.push(f);
        }
    }
}

/// Replaces each finding's span by `[REDACTED:<kind>]`. Overlapping spans are merged into one
/// replacement labelled with the kind of the most severe (then longest) finding among them;
/// spans outside the text or off char boundaries are ignored.
pub fn redact(text: &str, findings: &[Finding]) -> String {
    let mut spans: Vec<&Finding> = findings
        .iter()
        .filter(|f| {
            f.start < f.end
                && f.end <= text.len()
                && text.is_char_boundary(f.start)
                && text.is_char_boundary(f.end)
        })
        .collect();
    spans.sort_by_key(|f| (f.start, Reverse(f.end)));
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    let mut i = 0;
    while i < spans.len() {
        let first = spans[i];
        let (start, mut end, mut label) = (first.start, first.end, first);
        i += 1;
        while i < spans.len() && spans[i].start < end {
            let f = spans[i];
            end = end.max(f.end);
            if (f.severity, f.end - f.start) > (label.severity, label.end - label.start) {
                label = f;
            }
            i += 1;
        }
        out.push_str(&text[pos..start]);
        out.push_str("[REDACTED:");
        out.push_str(label.kind);
        out.push(']');
        pos = end;
    }
    out.push_str(&text[pos..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(kind: &'static str, start: usize, end: usize, severity: Severity) -> Finding {
        Finding {
            check: SecurityCheck::Pii,
            kind,
            start,
            end,
            severity,
            hint: "",
        }
    }

    #[test]
    fn redact_replaces_and_merges_overlaps() {
        let text = "mail bob@mailbox.org or call +44 20 7946 0958 now";
        let found = scan(text, &[SecurityCheck::Pii], Sensitivity::Medium);
        assert_eq!(
            redact(text, &found),
            "mail [REDACTED:email] or call [REDACTED:phone] now"
        );
        let merged = redact(
            "0123456789",
            &[
                f("a", 1, 4, Severity::Low),
                f("b", 3, 7, Severity::High),
                f("c", 8, 9, Severity::Low),
            ],
        );
        assert_eq!(merged, "0[REDACTED:b]7[REDACTED:c]9");
        // Adjacent spans stay separate; bad spans are ignored.
        let adjacent = redact(
            "abcdef",
            &[
                f("x", 0, 2, Severity::Low),
                f("y", 2, 4, Severity::Low),
                f("z", 5, 99, Severity::Low),
            ],
        );
        assert_eq!(adjacent, "[REDACTED:x][REDACTED:y]ef");
        assert_eq!(redact("é", &[f("x", 1, 2, Severity::Low)]), "é");
    }

    #[test]
    fn scan_sorts_and_dedupes() {
        let text = "key AKIAIOSFODNN7EXAMPLE and card 4111 1111 1111 1111, mail ann@fastmail.com";
        let found = scan(text, &SecurityCheck::ALL, Sensitivity::Medium);
        assert!(found.windows(2).all(|w| w[0].start <= w[1].start));
        let kinds: Vec<&str> = found.iter().map(|f| f.kind).collect();
        assert!(kinds.contains(&"aws_access_key"), "{kinds:?}");
        assert!(kinds.contains(&"credit_card"), "{kinds:?}");
        assert!(kinds.contains(&"email"), "{kinds:?}");
        assert!(!kinds.contains(&"phone"), "{kinds:?}");
        assert!(!kinds.contains(&"high_entropy"), "{kinds:?}");
        for f in &found {
            assert!(text.is_char_boundary(f.start) && text.is_char_boundary(f.end));
            assert!(super::kinds(f.check).contains(&f.kind), "{}", f.kind);
        }
        let card = found
            .iter()
            .find(|f| f.kind == "credit_card")
            .map(|f| f.text(text));
        assert_eq!(card, Some("4111 1111 1111 1111"));
        // Only the requested checks run.
        assert!(scan(text, &[SecurityCheck::SqlInjection], Sensitivity::High).is_empty());
    }

    #[test]
    fn same_kind_overlaps_collapse() {
        let out = dedupe(vec![
            f("email", 0, 10, Severity::Medium),
            f("email", 2, 12, Severity::High),
            f("phone", 5, 8, Severity::Medium),
            f("iban", 20, 30, Severity::High),
            f("phone", 25, 28, Severity::Medium),
        ]);
        let mut kept: Vec<(&str, usize)> = out.iter().map(|f| (f.kind, f.start)).collect();
        kept.sort_by_key(|k| k.1);
        assert_eq!(kept, vec![("email", 2), ("iban", 20)]);
    }

    #[test]
    fn low_sensitivity_drops_warnings() {
        let text = "try rm -rf node_modules, then curl -fsSL https://get.example.sh | sh";
        let medium = scan(text, &[SecurityCheck::CodeSafety], Sensitivity::Medium);
        assert!(medium.iter().any(|f| f.is_warning()), "{medium:?}");
        let low = scan(text, &[SecurityCheck::CodeSafety], Sensitivity::Low);
        assert!(low.iter().all(|f| !f.is_warning()));
        assert!(low.iter().any(|f| f.kind == "pipe_to_shell"));
    }
}
