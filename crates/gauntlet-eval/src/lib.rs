//! Deterministic assertions: each check scores an output (or a graph node's output, or the
//! case's steps) from 0 to 1 and says why in a sentence.
//!
//! Checks are pure functions of the [`Subject`]; regular expressions and schemas were compiled
//! once by validation. A case's verdict comes from [`verdict`].

pub mod factuality;
pub mod jsonpath;
pub mod performance;
pub mod policy;
pub mod security;
pub mod similarity;
pub mod style;

use gauntlet_core::model::{Assertion, Check, SimilarityMethod, TokenKind};
use gauntlet_core::result::{AssertionResult, StepRecord, Tokens};
use serde_json::Value;

/// What an assertion looks at: the final output (or a node's), and the steps that produced it.
pub struct Subject<'a> {
    /// The input handed to the target (or to the node).
    pub input: &'a str,
    pub output: Option<&'a str>,
    pub steps: &'a [StepRecord],
    pub latency_ms: f64,
    pub cost_usd: f64,
    pub tokens: Tokens,
    /// Violations of the suite's per-case contract.
    pub case_violations: &'a [String],
}

/// The longest stretch of output quoted in a reason.
const QUOTE_CHARS: usize = 120;

fn quote(s: &str) -> String {
    let mut out: String = s.chars().take(QUOTE_CHARS).collect();
    if s.chars().count() > QUOTE_CHARS {
        out.push('…');
    }
    format!("{out:?}")
}

/// The JSON value of an output: the whole text, or the content of a single fenced code block
/// (models often wrap JSON in ```json fences).
pub fn parse_json(output: &str) -> Option<Value> {
    let t = output.trim();
    if let Ok(v) = serde_json::from_str(t) {
        return Some(v);
    }
    let inner = t.strip_prefix("```")?.strip_suffix("```")?;
    let inner = inner.strip_prefix("json").unwrap_or(inner);
    serde_json::from_str(inner.trim()).ok()
}

/// What a check found, before negation.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    pub score: f64,
    /// Whether the check passes before negation (graded checks compare score and threshold).
    pub pass: bool,
    pub reason: String,
    pub details: Option<Value>,
    /// The evaluator's own cost (an LLM judge's calls).
    pub cost_usd: f64,
}

impl Outcome {
    pub fn with_details(mut self, details: Value) -> Outcome {
        self.details = Some(details);
        self
    }
}

pub fn binary(pass: bool, reason: String) -> Outcome {
    Outcome {
        score: if pass { 1.0 } else { 0.0 },
        pass,
        reason,
        ..Outcome::default()
    }
}

/// A graded outcome: passes when `score` reaches `threshold`.
pub fn graded(score: f64, threshold: f64, reason: String) -> Outcome {
    Outcome {
        score,
        pass: score + 1e-12 >= threshold,
        reason,
        ..Outcome::default()
    }
}

pub fn evaluate(a: &Assertion, s: &Subject<'_>) -> AssertionResult {
    finish(a, run(a, s))
}

/// The assertion's result from what its check found: negation applied, weight and labels
/// attached.
pub fn finish(a: &Assertion, o: Outcome) -> AssertionResult {
    let (pass, score, reason) = if a.negate {
        (!o.pass, 1.0 - o.score, format!("negated: {}", o.reason))
    } else {
        (o.pass, o.score, o.reason)
    };
    AssertionResult {
        kind: a.type_name(),
        pass,
        score,
        weight: a.weight,
        reason,
        node: a.node.clone(),
        metric: a.metric.clone(),
        details: o.details,
        cost_usd: o.cost_usd,
    }
}

fn run(a: &Assertion, s: &Subject<'_>) -> Outcome {
    let needs_output = !matches!(
        a.check,
        Check::Latency { .. }
            | Check::Cost { .. }
            | Check::Tokens { .. }
            | Check::ToolCalled { .. }
            | Check::ToolSequence { .. }
            | Check::NoTool { .. }
            | Check::ContractValid
            | Check::NodeOutput { .. }
            | Check::Policy(_)
            | Check::Performance(_)
            | Check::LlmJudge(_)
            | Check::Custom(_)
    );
    let out = match (s.output, needs_output) {
        (Some(o), _) => o,
        (None, false) => "",
        (None, true) => {
            let what = a
                .node
                .as_ref()
                .map_or("the case".to_owned(), |n| format!("node `{n}`"));
            return binary(false, format!("{what} produced no output"));
        }
    };
    match &a.check {
        Check::Equals { value } => {
            let exact = out == value;
            let json_equal = !exact
                && parse_json(out)
                    .zip(parse_json(value))
                    .is_some_and(|(x, y)| x == y);
            if exact || json_equal {
                binary(true, format!("output equals {}", quote(value)))
            } else {
                binary(
                    false,
                    format!("expected {}, got {}", quote(value), quote(out)),
                )
            }
        }
        Check::Contains { value } => contains(out, value, false),
        Check::Icontains { value } => contains(out, value, true),
        Check::ContainsAny { values } => any_all(out, values, false, false),
        Check::ContainsAll { values } => any_all(out, values, true, false),
        Check::IcontainsAny { values } => any_all(out, values, false, true),
        Check::IcontainsAll { values } => any_all(out, values, true, true),
        Check::Regex { pattern } => match pattern.0.find(out) {
            Some(m) => binary(
                true,
                format!("/{}/ matches {}", pattern.0.as_str(), quote(m.as_str())),
            ),
            None => binary(
                false,
                format!("/{}/ does not match {}", pattern.0.as_str(), quote(out)),
            ),
        },
        Check::StartsWith { value } => binary(
            out.starts_with(value.as_str()),
            if out.starts_with(value.as_str()) {
                format!("output starts with {}", quote(value))
            } else {
                format!(
                    "expected output to start with {}, got {}",
                    quote(value),
                    quote(out)
                )
            },
        ),
        Check::EndsWith { value } => binary(
            out.ends_with(value.as_str()),
            if out.ends_with(value.as_str()) {
                format!("output ends with {}", quote(value))
            } else {
                format!(
                    "expected output to end with {}, got {}",
                    quote(value),
                    quote(out)
                )
            },
        ),
        Check::IsJson => match parse_json(out) {
            Some(_) => binary(true, "output is valid JSON".into()),
            None => binary(false, format!("output is not valid JSON: {}", quote(out))),
        },
        Check::JsonSchema { schema } => match parse_json(out) {
            None => binary(false, format!("output is not valid JSON: {}", quote(out))),
            Some(v) => match schema.first_error(&v) {
                None => binary(true, "output matches the schema".into()),
                Some(e) => binary(false, format!("output does not match the schema: {e}")),
            },
        },
        Check::JsonPath { path, value } => json_path(out, path, value.as_ref()),
        Check::Similarity { value, method } => {
            let score = match method {
                SimilarityMethod::Levenshtein => similarity::levenshtein(out, value),
                SimilarityMethod::TokenOverlap => similarity::token_overlap(out, value),
            };
            let threshold = a.threshold.unwrap_or(0.8);
            let verb = if score >= threshold { "≥" } else { "<" };
            graded(
                score,
                threshold,
                format!(
                    "similarity {score:.3} {verb} threshold {threshold} to {}",
                    quote(value)
                ),
            )
        }
        Check::WordCount { min, max } => bounds(
            "word count",
            out.split_whitespace().count() as u64,
            *min,
            *max,
        ),
        Check::Length { min, max } => bounds("length", out.chars().count() as u64, *min, *max),
        Check::Latency { max_ms } => binary(
            s.latency_ms <= *max_ms,
            format!(
                "latency {:.1} ms {} {max_ms} ms",
                s.latency_ms,
                if s.latency_ms <= *max_ms { "≤" } else { ">" }
            ),
        ),
        Check::Cost { max_usd } => binary(
            s.cost_usd <= *max_usd,
            format!(
                "cost ${:.6} {} ${max_usd}",
                s.cost_usd,
                if s.cost_usd <= *max_usd { "≤" } else { ">" }
            ),
        ),
        Check::Tokens { max, kind } => {
            let (n, label) = match kind {
                TokenKind::Total => (s.tokens.total(), "total"),
                TokenKind::Input => (s.tokens.input, "input"),
                TokenKind::Output => (s.tokens.output, "output"),
            };
            binary(
                n <= *max,
                format!(
                    "{n} {label} tokens {} {max}",
                    if n <= *max { "≤" } else { ">" }
                ),
            )
        }
        Check::ToolCalled { name, args } => {
            let calls: Vec<_> = s
                .steps
                .iter()
                .flat_map(|st| &st.tool_calls)
                .filter(|c| &c.name == name)
                .collect();
            if calls.is_empty() {
                return binary(
                    false,
                    format!("tool `{name}` was not called; calls: {}", call_names(s)),
                );
            }
            match args {
                None => binary(
                    true,
                    format!("tool `{name}` was called {} time(s)", calls.len()),
                ),
                Some(expected) => {
                    if calls.iter().any(|c| subset(expected, &c.args)) {
                        binary(true, format!("tool `{name}` was called with {expected}"))
                    } else {
                        let seen: Vec<String> = calls.iter().map(|c| c.args.to_string()).collect();
                        binary(
                            false,
                            format!(
                                "tool `{name}` was called, but not with {expected}; arguments seen: {}",
                                seen.join(", ")
                            ),
                        )
                    }
                }
            }
        }
        Check::ToolSequence { names, exact } => {
            let seen: Vec<&str> = s
                .steps
                .iter()
                .flat_map(|st| &st.tool_calls)
                .map(|c| c.name.as_str())
                .collect();
            let pass = if *exact {
                seen == names.iter().map(String::as_str).collect::<Vec<_>>()
            } else {
                is_subsequence(names, &seen)
            };
            let how = if *exact { "exactly" } else { "in order" };
            binary(
                pass,
                format!(
                    "expected calls {how} [{}], got [{}]",
                    names.join(", "),
                    seen.join(", ")
                ),
            )
        }
        Check::NoTool { name } => {
            let count = s
                .steps
                .iter()
                .flat_map(|st| &st.tool_calls)
                .filter(|c| name.as_ref().is_none_or(|n| &c.name == n))
                .count();
            let what = name
                .as_ref()
                .map_or("any tool".to_owned(), |n| format!("tool `{n}`"));
            if count == 0 {
                binary(true, format!("no call to {what}"))
            } else {
                binary(
                    false,
                    format!(
                        "expected no call to {what}, but {count} call(s) were made: {}",
                        call_names(s)
                    ),
                )
            }
        }
        Check::NodeOutput { value } => {
            let node = a.node.as_deref().unwrap_or("?");
            match (s.output, value) {
                (None, _) => binary(
                    false,
                    format!("node `{node}` did not run or produced no output"),
                ),
                (Some(o), None) => binary(true, format!("node `{node}` produced {}", quote(o))),
                (Some(o), Some(v)) => binary(
                    o.contains(v.as_str()),
                    format!(
                        "node `{node}` output {} {}",
                        if o.contains(v.as_str()) {
                            "contains"
                        } else {
                            "does not contain"
                        },
                        quote(v)
                    ),
                ),
            }
        }
        Check::ContractValid => {
            let violations: Vec<&String> = s
                .steps
                .iter()
                .flat_map(|st| &st.violations)
                .chain(s.case_violations)
                .collect();
            if violations.is_empty() {
                binary(true, "no contract violations".into())
            } else {
                let list: Vec<&str> = violations.iter().map(|v| v.as_str()).collect();
                binary(false, format!("contract violated: {}", list.join("; ")))
            }
        }
        Check::Policy(spec) => policy_check(spec, s),
        Check::Security(spec) => security_check(spec, out),
        Check::Style(spec) => {
            let v = style::check(out, spec);
            let reason = if v.failures.is_empty() {
                v.summary.clone()
            } else {
                format!("{} ({})", v.failures.join("; "), v.summary)
            };
            Outcome {
                score: v.score,
                pass: v.pass,
                reason,
                details: Some(serde_json::json!({ "failures": v.failures, "summary": v.summary })),
                cost_usd: 0.0,
            }
        }
        Check::Factuality(spec) => {
            let r = factuality::check(out, spec, a.threshold.unwrap_or(0.8));
            let claims: Vec<Value> = r
                .claims
                .iter()
                .map(|c| {
                    serde_json::json!({
                        "kind": c.claim.kind.as_str(),
                        "text": c.claim.text,
                        "status": c.status.as_str(),
                        "confidence": c.confidence,
                        "fact": c.fact,
                        "note": c.note,
                    })
                })
                .collect();
            let issues: Vec<&str> = r
                .citation_issues
                .iter()
                .map(|i| i.message.as_str())
                .collect();
            let reason = if issues.is_empty() {
                r.summary.clone()
            } else {
                format!("{}; citations: {}", r.summary, issues.join("; "))
            };
            Outcome {
                score: r.score,
                pass: r.pass,
                reason,
                details: Some(serde_json::json!({ "claims": claims, "citation_issues": issues })),
                cost_usd: 0.0,
            }
        }
        Check::Performance(_) | Check::LlmJudge(_) | Check::Custom(_) => binary(
            false,
            format!(
                "`{}` is evaluated by the engine, not on its own",
                a.check.name()
            ),
        ),
    }
}

/// The case transcript as policies and external evaluators see it.
pub fn transcript(s: &Subject<'_>) -> Value {
    let calls: Vec<&gauntlet_core::result::ToolCallRecord> =
        s.steps.iter().flat_map(|st| &st.tool_calls).collect();
    serde_json::json!({
        "input": s.input,
        "output": s.output,
        "steps": s.steps,
        "tool_calls": calls,
        "tokens": s.tokens,
        "cost_usd": s.cost_usd,
        "latency_ms": s.latency_ms,
        "violations": s.case_violations,
    })
}

/// Findings fail the assertion (warnings only with `fail_on_warning`); reasons and details
/// show them redacted, never the matched text.
fn security_check(spec: &gauntlet_core::evaluators::SecuritySpec, out: &str) -> Outcome {
    let findings = security::scan(out, &spec.checks, spec.sensitivity);
    let failing: Vec<&security::Finding> = findings
        .iter()
        .filter(|f| spec.fail_on_warning || !f.is_warning())
        .collect();
    let listed: Vec<Value> = findings
        .iter()
        .map(|f| {
            serde_json::json!({
                "check": f.check.as_str(),
                "kind": f.kind,
                "start": f.start,
                "end": f.end,
                "severity": f.severity.as_str(),
                "hint": f.hint,
            })
        })
        .collect();
    let details =
        serde_json::json!({ "findings": listed, "redacted": security::redact(out, &findings) });
    if failing.is_empty() {
        let warnings = findings.len();
        let reason = if warnings == 0 {
            format!("no findings ({} checks)", spec.checks.len())
        } else {
            format!("no findings above warning level ({warnings} warning(s))")
        };
        return binary(true, reason).with_details(details);
    }
    let mut kinds: Vec<String> = failing
        .iter()
        .map(|f| format!("{} ({}, {})", f.kind, f.check.as_str(), f.severity.as_str()))
        .collect();
    kinds.dedup();
    let hint = failing.first().map_or("", |f| f.hint);
    binary(
        false,
        format!("{} finding(s): {}; {hint}", failing.len(), kinds.join(", ")),
    )
    .with_details(details)
}

fn policy_check(spec: &gauntlet_core::evaluators::PolicySpec, s: &Subject<'_>) -> Outcome {
    match policy::denials(spec, &transcript(s)) {
        Ok(d) if d.is_empty() => binary(true, format!("policy `{}` allows the case", spec.query)),
        Ok(d) => binary(false, format!("policy denied: {}", d.join("; ")))
            .with_details(serde_json::json!({ "deny": d })),
        Err(e) => binary(false, format!("policy error: {e}")),
    }
}

fn call_names(s: &Subject<'_>) -> String {
    let names: Vec<&str> = s
        .steps
        .iter()
        .flat_map(|st| &st.tool_calls)
        .map(|c| c.name.as_str())
        .collect();
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

fn contains(out: &str, value: &str, insensitive: bool) -> Outcome {
    let found = if insensitive {
        out.to_lowercase().contains(&value.to_lowercase())
    } else {
        out.contains(value)
    };
    if found {
        binary(true, format!("output contains {}", quote(value)))
    } else {
        binary(
            false,
            format!(
                "expected output to contain {}, got {}",
                quote(value),
                quote(out)
            ),
        )
    }
}

/// `-all` checks give partial credit (the share of values found); `-any` checks are binary.
fn any_all(out: &str, values: &[String], all: bool, insensitive: bool) -> Outcome {
    let hay = if insensitive {
        out.to_lowercase()
    } else {
        out.to_owned()
    };
    let found: Vec<&String> = values
        .iter()
        .filter(|v| {
            if insensitive {
                hay.contains(&v.to_lowercase())
            } else {
                hay.contains(v.as_str())
            }
        })
        .collect();
    let missing: Vec<String> = values
        .iter()
        .filter(|v| !found.contains(v))
        .map(|v| quote(v))
        .collect();
    if all {
        let score = found.len() as f64 / values.len().max(1) as f64;
        let pass = missing.is_empty();
        let reason = if pass {
            format!("output contains all {} values", values.len())
        } else {
            format!("output is missing {}", missing.join(", "))
        };
        Outcome {
            score,
            pass,
            reason,
            ..Outcome::default()
        }
    } else if let Some(first) = found.first() {
        binary(true, format!("output contains {}", quote(first)))
    } else {
        binary(
            false,
            format!("output contains none of {}", missing.join(", ")),
        )
    }
}

fn bounds(what: &str, n: u64, min: Option<u64>, max: Option<u64>) -> Outcome {
    let low = min.is_none_or(|m| n >= m);
    let high = max.is_none_or(|m| n <= m);
    let range = match (min, max) {
        (Some(a), Some(b)) => format!("[{a}, {b}]"),
        (Some(a), None) => format!("≥ {a}"),
        (None, Some(b)) => format!("≤ {b}"),
        (None, None) => "any".into(),
    };
    binary(
        low && high,
        format!(
            "{what} {n} {} {range}",
            if low && high { "within" } else { "outside" }
        ),
    )
}

fn json_path(out: &str, path: &str, expected: Option<&Value>) -> Outcome {
    let Some(doc) = parse_json(out) else {
        return binary(false, format!("output is not valid JSON: {}", quote(out)));
    };
    let found = match jsonpath::select(&doc, path) {
        Ok(f) => f,
        Err(e) => return binary(false, format!("invalid JSON path `{path}`: {e}")),
    };
    match expected {
        None if found.is_empty() => binary(false, format!("`{path}` matches nothing")),
        None => binary(true, format!("`{path}` exists")),
        Some(v) => {
            if found.iter().any(|f| loose_eq(f, v)) {
                binary(true, format!("`{path}` equals {v}"))
            } else {
                let seen: Vec<String> = found.iter().map(|f| f.to_string()).collect();
                binary(
                    false,
                    format!(
                        "expected `{path}` to equal {v}, found [{}]",
                        seen.join(", ")
                    ),
                )
            }
        }
    }
}

/// Equality that treats a number and its text as equal (YAML `7` vs JSON `"7"`).
fn loose_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Number(n), Value::String(s)) | (Value::String(s), Value::Number(n)) => {
            s.parse::<f64>().ok() == n.as_f64()
        }
        _ => a == b,
    }
}

/// Every key of `expected` appears in `actual` with an equal value (recursively for objects).
pub fn subset(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => e
            .iter()
            .all(|(k, v)| a.get(k).is_some_and(|av| subset(v, av))),
        _ => loose_eq(expected, actual),
    }
}

fn is_subsequence(needle: &[String], hay: &[&str]) -> bool {
    let mut it = hay.iter();
    needle.iter().all(|n| it.any(|h| h == n))
}

/// A case's verdict: the weighted mean score, and whether it passes: every assertion with a
/// non-zero weight passes (weight 0 makes an assertion informational), or, with a threshold,
/// the weighted score reaches it. No assertions: passes with score 1.
pub fn verdict(results: &[AssertionResult], threshold: Option<f64>) -> (bool, f64) {
    let total_weight: f64 = results.iter().map(|r| r.weight).sum();
    let score = if results.is_empty() {
        1.0
    } else if total_weight > 0.0 {
        results.iter().map(|r| r.score * r.weight).sum::<f64>() / total_weight
    } else {
        results.iter().map(|r| r.score).sum::<f64>() / results.len() as f64
    };
    let pass = match threshold {
        Some(t) => score + 1e-12 >= t,
        None => results.iter().filter(|r| r.weight > 0.0).all(|r| r.pass),
    };
    (pass, score)
}
