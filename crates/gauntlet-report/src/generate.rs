//! Regression tests from a recorded run: each case becomes a test whose assertions pin the
//! recorded behaviour (final output by similarity, the JSON shape of structured outputs, key
//! phrases, every tool call), with personal data in inputs and expectations replaced by stable
//! placeholders and near-duplicate inputs merged. The generated suite passes against the
//! recording's behaviour and fails when it changes.

pub mod traffic;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use gauntlet_core::result::{CaseResult, CaseStatus};
use regex::Regex;
use serde_json::{Value, json};

/// Inputs at least this similar (normalised Levenshtein, after anonymisation) are one test.
const DUPLICATE_SIMILARITY: f64 = 0.95;

/// Replaces personal data with placeholders that are stable within one generation: the same
/// address is always `<EMAIL_1>`.
pub struct Anonymiser {
    patterns: Vec<(&'static str, Regex)>,
    seen: BTreeMap<String, String>,
    counts: BTreeMap<&'static str, usize>,
}

impl Anonymiser {
    pub fn new() -> Anonymiser {
        // Ordered: longer, more specific shapes first so a card number is not taken for a phone.
        let patterns = [
            ("EMAIL", r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"),
            ("CARD", r"\b(?:\d[ -]?){13,19}\b"),
            (
                "IP",
                r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b",
            ),
            (
                "PHONE",
                r"(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}[ .-]\d{2,4}[ .-]\d{2,5}\b",
            ),
        ];
        Anonymiser {
            patterns: patterns
                .iter()
                .filter_map(|(k, p)| Regex::new(p).ok().map(|r| (*k, r)))
                .collect(),
            seen: BTreeMap::new(),
            counts: BTreeMap::new(),
        }
    }

    pub fn anonymise(&mut self, text: &str) -> String {
        let mut out = text.to_owned();
        for (kind, re) in &self.patterns {
            let mut replaced = String::new();
            let mut last = 0;
            for m in re.find_iter(&out) {
                let value = m.as_str();
                if *kind == "CARD" && !luhn(value) {
                    continue;
                }
                let placeholder = match self.seen.get(value) {
                    Some(p) => p.clone(),
                    None => {
                        let n = self.counts.entry(kind).or_insert(0);
                        *n += 1;
                        let p = format!("<{kind}_{n}>");
                        self.seen.insert(value.to_owned(), p.clone());
                        p
                    }
                };
                replaced.push_str(&out[last..m.start()]);
                replaced.push_str(&placeholder);
                last = m.end();
            }
            replaced.push_str(&out[last..]);
            out = replaced;
        }
        out
    }
}

impl Default for Anonymiser {
    fn default() -> Self {
        Anonymiser::new()
    }
}

fn luhn(s: &str) -> bool {
    let digits: Vec<u32> = s.chars().filter_map(|c| c.to_digit(10)).collect();
    if digits.len() < 13 {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            if i % 2 == 1 {
                if d * 2 > 9 { d * 2 - 9 } else { d * 2 }
            } else {
                *d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// The JSON Schema of a value's shape: types, and for objects the keys it had (required).
pub fn infer_schema(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let props: serde_json::Map<String, Value> = m
                .iter()
                .map(|(k, v)| (k.clone(), infer_schema(v)))
                .collect();
            json!({ "type": "object", "required": m.keys().collect::<Vec<_>>(), "properties": props })
        }
        Value::Array(items) => match items.first() {
            Some(first) => json!({ "type": "array", "items": infer_schema(first) }),
            None => json!({ "type": "array" }),
        },
        Value::String(_) => json!({ "type": "string" }),
        Value::Number(n) if n.is_i64() || n.is_u64() => json!({ "type": "integer" }),
        Value::Number(_) => json!({ "type": "number" }),
        Value::Bool(_) => json!({ "type": "boolean" }),
        Value::Null => json!({ "type": "null" }),
    }
}

/// Words that carry meaning: the longest distinct words of the output, in order of appearance.
fn key_phrases(text: &str, n: usize) -> Vec<String> {
    let mut words: Vec<&str> = text
        .split(|c: char| !c.is_alphanumeric() && c != '-')
        .filter(|w| w.chars().count() >= 5 && !w.starts_with('<'))
        .collect();
    let mut seen = Vec::new();
    words.retain(|w| {
        let lower = w.to_lowercase();
        if seen.contains(&lower) {
            false
        } else {
            seen.push(lower);
            true
        }
    });
    let mut ranked: Vec<(usize, &str)> = words.iter().copied().enumerate().collect();
    ranked.sort_by(|a, b| {
        b.1.chars()
            .count()
            .cmp(&a.1.chars().count())
            .then(a.0.cmp(&b.0))
    });
    ranked.truncate(n);
    ranked.sort_by_key(|(i, _)| *i);
    ranked.into_iter().map(|(_, w)| w.to_owned()).collect()
}

pub struct Generated {
    pub yaml: String,
    pub cases: usize,
    pub merged: usize,
    pub skipped: usize,
}

/// Builds a suite named `name` from the passed cases of a run (failed and errored ones record
/// behaviour nobody wants pinned, and are skipped).
pub fn generate(name: &str, source: &str, cases: &[CaseResult]) -> Generated {
    let mut anon = Anonymiser::new();
    let mut kept: Vec<(String, String, Vec<Value>)> = Vec::new(); // (target, input, assertions)
    let (mut merged, mut skipped) = (0, 0);
    let mut ids: Vec<String> = Vec::new();
    for c in cases {
        if c.status != CaseStatus::Passed || c.output.is_none() {
            skipped += 1;
            continue;
        }
        let input = anon.anonymise(&c.input);
        if kept.iter().any(|(t, i, _)| {
            t == &c.target && strsim::normalized_levenshtein(i, &input) >= DUPLICATE_SIMILARITY
        }) {
            merged += 1;
            continue;
        }
        let output = anon.anonymise(c.output.as_deref().unwrap_or(""));
        let mut asserts = Vec::new();
        match serde_json::from_str::<Value>(output.trim()) {
            Ok(v @ (Value::Object(_) | Value::Array(_))) => {
                asserts.push(json!({ "type": "json-schema", "schema": infer_schema(&v) }));
                if let Value::Object(m) = &v {
                    for (k, val) in m
                        .iter()
                        .filter(|(_, v)| !v.is_object() && !v.is_array())
                        .take(5)
                    {
                        asserts.push(
                            json!({ "type": "json-path", "path": format!("$.{k}"), "value": val }),
                        );
                    }
                }
            }
            _ => {
                asserts.push(json!({ "type": "similarity", "value": output, "threshold": 0.9 }));
                let phrases = key_phrases(&output, 3);
                if !phrases.is_empty() {
                    asserts.push(json!({ "type": "icontains-all", "value": phrases }));
                }
            }
        }
        let calls: Vec<_> = c.steps.iter().flat_map(|s| &s.tool_calls).collect();
        if calls.is_empty() {
            asserts.push(json!({ "type": "no-tool" }));
        } else {
            for call in &calls {
                // Arguments holding personal data are not pinned: the placeholder would never
                // match what the agent sends, and the real value must not be written down.
                let mut pinned = serde_json::Map::new();
                if let Value::Object(args) = &call.args {
                    for (k, v) in args {
                        let text = v.to_string();
                        if anon.anonymise(&text) == text {
                            pinned.insert(k.clone(), v.clone());
                        }
                    }
                }
                let mut assertion = json!({ "type": "tool-called", "name": call.name });
                if !pinned.is_empty() {
                    assertion["args"] = Value::Object(pinned);
                }
                asserts.push(assertion);
            }
            let names: Vec<&str> = calls.iter().map(|c| c.name.as_str()).collect();
            asserts.push(json!({ "type": "tool-sequence", "value": names, "exact": true }));
        }
        let mut id = c.id.clone();
        if ids.contains(&id) {
            id = format!("{}-{}", c.id, c.target.replace(':', "-"));
        }
        ids.push(id);
        kept.push((c.target.clone(), input, asserts));
    }
    // JSON is YAML: every value is written as JSON inside a readable block layout.
    let q = |s: &str| Value::String(s.to_owned()).to_string();
    let mut yaml = format!(
        "# Generated by `gauntlet generate-tests` from {source}.\n# Inputs and expectations are anonymised; review before committing.\nversion: 1\nsuites:\n  {}:\n",
        q(name)
    );
    let targets: Vec<&String> = kept.iter().map(|(t, _, _)| t).collect();
    let single_target = targets.windows(2).all(|w| w[0] == w[1]);
    if let (true, Some(t)) = (single_target, targets.first()) {
        let _ = writeln!(yaml, "    target: {}", q(t));
    } else {
        let mut distinct: Vec<&String> = Vec::new();
        for t in targets {
            if !distinct.contains(&t) {
                distinct.push(t);
            }
        }
        let _ = writeln!(
            yaml,
            "    target: {}",
            Value::from(distinct.iter().map(|t| t.as_str()).collect::<Vec<_>>())
        );
    }
    yaml.push_str("    cases:\n");
    for ((_, input, asserts), id) in kept.iter().zip(&ids) {
        let _ = writeln!(
            yaml,
            "      - id: {}\n        input: {}\n        assert:",
            q(id),
            q(input)
        );
        for a in asserts {
            let _ = writeln!(yaml, "          - {a}");
        }
    }
    Generated {
        yaml,
        cases: kept.len(),
        merged,
        skipped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anonymises_with_stable_placeholders() {
        let mut a = Anonymiser::new();
        let out = a.anonymise("Mail ada@example.com or bob@x.org, again ada@example.com; call +44 20 7946 0958 from 10.0.0.1, card 4111 1111 1111 1111");
        assert_eq!(
            out,
            "Mail <EMAIL_1> or <EMAIL_2>, again <EMAIL_1>; call <PHONE_1> from <IP_1>, card <CARD_1>"
        );
        // Not a valid card number (Luhn): left alone as a card, though it may read as a phone.
        assert!(!a.anonymise("order 1234 5678 9012 3456").contains("CARD"));
        assert_eq!(
            a.anonymise("write to ada@example.com"),
            "write to <EMAIL_1>"
        );
    }

    #[test]
    fn schemas_and_phrases() {
        let v: Value =
            serde_json::from_str(r#"{"queue": "billing", "n": 2, "tags": ["a"]}"#).unwrap();
        assert_eq!(
            infer_schema(&v),
            json!({"type": "object", "required": ["queue", "n", "tags"], "properties": {"queue": {"type": "string"}, "n": {"type": "integer"}, "tags": {"type": "array", "items": {"type": "string"}}}})
        );
        assert_eq!(
            key_phrases("Your package is in transit and arrives tomorrow.", 3),
            ["package", "transit", "tomorrow"]
        );
    }
}
