//! The `policy` assertion: a Rego module (through `regorus`) evaluated over the case
//! transcript. Every message of the queried rule (by default `deny`) is a failure reason.
//!
//! The input document is the case as JSON: `input`, `output`, `steps` (each with its agent,
//! model, tool calls, tokens, cost, latency and faults), `tool_calls` (all steps' calls in
//! order), `tokens`, `cost_usd` and `latency_ms`.

use std::num::NonZeroU32;
use std::time::Duration;

use gauntlet_core::evaluators::PolicySpec;
use regorus::utils::limits::ExecutionTimerConfig;
use serde_json::Value;

/// A policy that does not compile, with the position regorus reports when it has one.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyError {
    pub line: Option<u32>,
    pub col: Option<u32>,
    pub message: String,
}

/// Longest a policy may evaluate for one case.
const EVAL_LIMIT: Duration = Duration::from_secs(2);

fn engine(origin: &str, rego: &str) -> Result<(regorus::Engine, String), PolicyError> {
    let mut engine = regorus::Engine::new();
    if let Some(check_interval) = NonZeroU32::new(64) {
        engine.set_execution_timer_config(ExecutionTimerConfig {
            limit: EVAL_LIMIT,
            check_interval,
        });
    }
    match engine.add_policy(origin.to_owned(), rego.to_owned()) {
        Ok(package) => Ok((engine, package)),
        Err(e) => Err(position(origin, &e.to_string())),
    }
}

/// regorus reports parse errors as `--> origin:line:col`, a source excerpt, then
/// `error: message`.
fn position(origin: &str, message: &str) -> PolicyError {
    let text = message
        .lines()
        .find_map(|l| l.trim().strip_prefix("error:"))
        .unwrap_or_else(|| message.trim())
        .trim()
        .to_owned();
    let at = message
        .lines()
        .find_map(|l| l.trim().strip_prefix("-->"))
        .and_then(|l| l.trim().strip_prefix(origin))
        .and_then(|l| l.strip_prefix(':'));
    let (line, col) = match at.map(|l| l.split(':').map(|n| n.trim().parse::<u32>().ok())) {
        Some(mut parts) => (parts.next().flatten(), parts.next().flatten()),
        None => (None, None),
    };
    PolicyError {
        line,
        col,
        message: text,
    }
}

thread_local! {
    /// Compiled modules by source: a suite evaluates one policy for every case, and cloning a
    /// compiled engine costs about 0.2 µs where parsing again costs about 9 µs.
    static COMPILED: std::cell::RefCell<std::collections::HashMap<(String, String), regorus::Engine>> =
        std::cell::RefCell::default();
}

/// A fresh engine with the policy loaded, from this thread's cache.
fn compiled(spec: &PolicySpec) -> Result<regorus::Engine, String> {
    let key = (spec.origin.clone(), spec.rego.clone());
    if let Some(e) = COMPILED.with(|c| c.borrow().get(&key).cloned()) {
        return Ok(e);
    }
    let (e, _) = engine(&spec.origin, &spec.rego).map_err(|e| e.message)?;
    COMPILED.with(|c| c.borrow_mut().insert(key, e.clone()));
    Ok(e)
}

/// Compiles a module and returns its package path (`data.gauntlet`), for validation.
pub fn compile(origin: &str, rego: &str) -> Result<String, PolicyError> {
    engine(origin, rego).map(|(_, package)| package)
}

/// The messages of the policy's rule for this transcript; empty when the rule is undefined or
/// empty. A rule that yields `true` (a boolean deny) counts as one message.
pub fn denials(spec: &PolicySpec, transcript: &Value) -> Result<Vec<String>, String> {
    let mut engine = compiled(spec)?;
    let input = regorus::Value::from_json_str(&transcript.to_string())
        .map_err(|e| format!("cannot pass the transcript to the policy: {e}"))?;
    engine.set_input(input);
    let value = engine
        .eval_rule(spec.query.clone())
        .map_err(|e| format!("evaluating `{}` failed: {e}", spec.query))?;
    if value == regorus::Value::Undefined {
        return Ok(Vec::new());
    }
    let json = value
        .to_json_str()
        .map_err(|e| format!("the policy's result cannot be read: {e}"))?;
    let parsed: Value = serde_json::from_str(&json)
        .map_err(|e| format!("the policy's result cannot be read: {e}"))?;
    Ok(match parsed {
        Value::Array(items) => items.into_iter().map(message).collect(),
        Value::Bool(false) | Value::Null => Vec::new(),
        Value::Bool(true) => vec![format!("{} is true", spec.query)],
        Value::Object(map) if map.is_empty() => Vec::new(),
        other => vec![message(other)],
    })
}

fn message(v: Value) -> String {
    match v {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(rego: &str) -> PolicySpec {
        let package = compile("p.rego", rego).unwrap();
        PolicySpec {
            origin: "p.rego".into(),
            rego: rego.into(),
            query: format!("{package}.deny"),
            package,
        }
    }

    const REGO: &str = r#"
package gauntlet

deny contains msg if {
    some call in input.tool_calls
    call.name == "delete_account"
    msg := "the agent deleted an account"
}

deny contains msg if {
    input.cost_usd > 0.01
    msg := sprintf("case cost %v, over 0.01", [input.cost_usd])
}
"#;

    #[test]
    fn deny_messages_become_reasons() {
        let s = spec(REGO);
        assert_eq!(s.package, "data.gauntlet");
        let clean = json!({"tool_calls": [{"name": "lookup"}], "cost_usd": 0.001});
        assert!(denials(&s, &clean).unwrap().is_empty());
        let bad = json!({"tool_calls": [{"name": "delete_account"}], "cost_usd": 0.5});
        let d = denials(&s, &bad).unwrap();
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(d.contains(&"the agent deleted an account".to_owned()));
        assert!(d.iter().any(|m| m.starts_with("case cost 0.5")), "{d:?}");
    }

    #[test]
    fn syntax_errors_carry_a_position() {
        let e = compile(
            "p.rego",
            "package x\n\ndeny contains msg if {\n  msg := \n}\n",
        )
        .unwrap_err();
        assert_eq!((e.line, e.col), (Some(4), Some(7)), "{e:?}");
        assert_eq!(e.message, "expecting `}` while parsing set");
    }

    #[test]
    fn boolean_rules_count_once() {
        let s = PolicySpec {
            query: "data.b.deny".into(),
            ..spec("package b\n\ndeny if input.output == \"no\"\n")
        };
        assert_eq!(denials(&s, &json!({"output": "no"})).unwrap().len(), 1);
        assert!(denials(&s, &json!({"output": "yes"})).unwrap().is_empty());
    }
}
