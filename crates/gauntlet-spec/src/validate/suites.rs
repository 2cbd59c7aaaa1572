//! Suites and their cases.

use std::collections::HashMap;

use gauntlet_core::model::{Contract, McpCall, Project, Suite, Target};
use serde_json::Value;

use crate::diag::{Diagnostic, did_you_mean};
use crate::load::{Entity, Source};
use crate::raw;
use crate::validate::definitions::{contract_ref, retry};
use crate::validate::graphs::one_or_many;
use crate::validate::{Ctx, assertions, de};
use crate::yaml::push_pointer;

/// Deserializes a case (without its assertions) while the file is being parsed.
pub(crate) fn deserialize_case(
    src: &Source,
    pointer: &str,
    value: &Value,
    diags: &mut Vec<Diagnostic>,
) -> Option<raw::Case> {
    match de::deserialize(src, pointer, value, diags) {
        de::Outcome::Clean(c) | de::Outcome::UnknownKeysRemoved(c) => Some(c),
        de::Outcome::Failed => None,
    }
}

pub(crate) fn suite(
    cx: &mut Ctx,
    e: &Entity,
    contracts: &HashMap<String, Contract>,
    project: &Project,
) -> Option<Suite> {
    let raw: raw::Suite<serde::de::IgnoredAny> = cx.de(&e.source, &e.pointer, &e.value)?;
    let mut ok = true;
    let target_ptr = push_pointer(&e.pointer, "target");
    let mut targets = Vec::new();
    for name in one_or_many(cx, e, &target_ptr, &raw.target, "a target")? {
        if let Some(m) = name.strip_prefix("mcp:") {
            if cx.has("mcp_servers", m) {
                targets.push(Target::Mcp(m.to_owned()));
            } else {
                cx.unknown(&e.source, &target_ptr, "mcp_servers", "MCP server", m);
                ok = false;
            }
        } else if let Some(g) = name.strip_prefix("graph:") {
            if cx.has("graphs", g) {
                targets.push(Target::Graph(g.to_owned()));
            } else {
                cx.unknown(&e.source, &target_ptr, "graphs", "graph", g);
                ok = false;
            }
        } else if cx.has("agents", &name) {
            targets.push(Target::Agent(name));
        } else if cx.has("graphs", &name) {
            cx.error(
                &e.source,
                &target_ptr,
                format!("`{name}` is a graph; graph targets are written `graph:{name}`"),
            )
            .hint = Some(format!("write `target: graph:{name}`"));
            ok = false;
        } else {
            let agents = cx.names("agents");
            let graphs: Vec<String> = cx
                .names("graphs")
                .iter()
                .map(|g| format!("graph:{g}"))
                .collect();
            let hint = did_you_mean(
                &name,
                agents
                    .iter()
                    .copied()
                    .chain(graphs.iter().map(String::as_str)),
            )
            .unwrap_or_else(|| crate::diag::known("agents", agents.iter().copied()));
            cx.error(&e.source, &target_ptr, format!("unknown target `{name}`"))
                .hint = Some(hint);
            ok = false;
        }
    }
    let mcp_suite = targets.iter().any(|t| matches!(t, Target::Mcp(_)));
    if mcp_suite && targets.iter().any(|t| !matches!(t, Target::Mcp(_))) {
        cx.error(
            &e.source,
            &target_ptr,
            "a suite cannot mix MCP servers with agents or graphs",
        )
        .hint = Some(
            "cases of `mcp:NAME` targets call tools directly; put them in their own suite".into(),
        );
        ok = false;
    }
    let contract = contract_ref(
        cx,
        e,
        &push_pointer(&e.pointer, "contract"),
        raw.contract.as_ref(),
        contracts,
    )
    .unwrap_or_else(|()| {
        ok = false;
        None
    });
    let suite_chaos = match &raw.chaos {
        None => None,
        Some(v) => {
            let c = super::chaos::chaos(cx, &e.source, &push_pointer(&e.pointer, "chaos"), v);
            ok &= c.is_some();
            c
        }
    };
    let scope = assertions::Scope::new(project, &targets);
    let defaults_ptr = push_pointer(&e.pointer, "defaults");
    let mut default_asserts = Vec::new();
    let (default_threshold, default_timeout) = match raw.defaults {
        Some(d) => {
            for (i, a) in d.assert.into_iter().enumerate() {
                let p = push_pointer(&push_pointer(&defaults_ptr, "assert"), &i.to_string());
                match assertions::check(cx, &e.source, &p, a, &scope) {
                    Some(a) => default_asserts.push(std::sync::Arc::new(a)),
                    None => ok = false,
                }
            }
            (d.threshold, d.timeout_ms)
        }
        None => (None, None),
    };
    let mut cases = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let cases_ptr = push_pointer(&e.pointer, "cases");
    if e.cases.is_empty() {
        cx.error(&e.source, &cases_ptr, "a suite needs at least one case");
        ok = false;
    }
    // Each distinct assertion is validated once for the suite, however many cases use it.
    let mut checked: HashMap<
        *const crate::load::InternedAssertion,
        Option<std::sync::Arc<gauntlet_core::model::Assertion>>,
    > = HashMap::new();
    for (i, draft) in e.cases.iter().enumerate() {
        let Some(c) = draft.case.as_ref() else {
            ok = false;
            continue;
        };
        let p = draft.pointer.clone();
        let id = c.id.clone().unwrap_or_else(|| format!("case-{}", i + 1));
        if let Some(first) = seen.insert(id.clone(), i) {
            cx.error(
                &e.source,
                &push_pointer(&p, "id"),
                format!("duplicate case id `{id}`"),
            )
            .hint = Some(format!("case {} already uses this id", first + 1));
            ok = false;
        }
        let call = if mcp_suite {
            let call = mcp_call(cx, &e.source, &p, c).map(Box::new);
            ok &= call.is_some();
            call
        } else {
            for (field, given) in [
                ("tool", c.tool.is_some()),
                ("resource", c.resource.is_some()),
                ("prompt", c.prompt.is_some()),
            ] {
                if given {
                    cx.error(
                        &e.source,
                        &push_pointer(&p, field),
                        format!("`{field}` applies to cases of MCP targets (`target: mcp:NAME`)"),
                    );
                    ok = false;
                }
            }
            None
        };
        let input = match &c.input {
            Value::String(s) => s.clone(),
            Value::Null if mcp_suite => String::new(),
            Value::Null => {
                cx.error(
                    &e.source,
                    &push_pointer(&p, "input"),
                    "`input` cannot be empty",
                )
                .hint = Some("give the case an `input:`, the text handed to the target".into());
                ok = false;
                String::new()
            }
            Value::Number(_) | Value::Bool(_) => c.input.to_string(),
            other => serde_json::to_string(other).unwrap_or_default(),
        };
        let mut asserts = Vec::with_capacity(draft.assertions.len() + default_asserts.len());
        for interned in &draft.assertions {
            let key = std::sync::Arc::as_ptr(interned);
            let result = match checked.get(&key) {
                Some(r) => r.clone(),
                None => {
                    let src = &interned.source;
                    let r = cx
                        .de::<raw::Assertion>(src, &interned.pointer, &interned.value)
                        .and_then(|a| assertions::check(cx, src, &interned.pointer, a, &scope))
                        .map(std::sync::Arc::new);
                    checked.insert(key, r.clone());
                    r
                }
            };
            match result {
                Some(a) => asserts.push(a),
                None => ok = false,
            }
        }
        asserts.extend(default_asserts.iter().cloned());
        let threshold = c.threshold.or(default_threshold);
        if threshold.is_some_and(|t| !(0.0..=1.0).contains(&t)) {
            cx.error(
                &e.source,
                &push_pointer(&p, "threshold"),
                "`threshold` must be between 0 and 1",
            );
            ok = false;
        }
        cases.push(gauntlet_core::model::Case {
            id,
            description: c.description.clone(),
            input,
            vars: c.vars.clone().unwrap_or(Value::Null),
            assertions: asserts,
            threshold,
            tags: c.tags.clone(),
            timeout_ms: c.timeout_ms.or(default_timeout),
            chaos: match &c.chaos {
                None => None,
                Some(v) => {
                    match super::chaos::chaos(cx, &e.source, &push_pointer(&p, "chaos"), v) {
                        Some(c) => Some(std::sync::Arc::new(c)),
                        None => {
                            ok = false;
                            None
                        }
                    }
                }
            },
            call,
        });
    }
    ok.then(|| Suite {
        name: e.name.clone(),
        description: raw.description,
        targets,
        contract,
        step_timeout_ms: raw.step_timeout_ms,
        case_timeout_ms: raw.case_timeout_ms,
        run_timeout_ms: raw.run_timeout_ms,
        retry: retry(raw.retry),
        cases,
        tags: raw.tags,
        retention: super::retention(raw.retention),
        chaos: suite_chaos,
    })
}

/// What a case of an MCP suite calls: exactly one of `tool`, `resource` and `prompt`.
fn mcp_call(cx: &mut Ctx, src: &Source, p: &str, c: &raw::Case) -> Option<McpCall> {
    let args = || match &c.input {
        Value::Null => Some(serde_json::Map::new()),
        Value::Object(m) => Some(m.clone()),
        _ => None,
    };
    let bad_args = |cx: &mut Ctx| {
        cx.error(
            src,
            &push_pointer(p, "input"),
            "the arguments must be a mapping",
        )
        .hint = Some("e.g. `input: { message: hello }`".into());
    };
    match (&c.tool, &c.resource, &c.prompt) {
        (Some(name), None, None) => match args() {
            Some(a) => Some(McpCall::Tool {
                name: name.to_string(),
                args: Value::Object(a),
            }),
            None => {
                bad_args(cx);
                None
            }
        },
        (None, Some(uri), None) => {
            if !c.input.is_null() {
                cx.error(
                    src,
                    &push_pointer(p, "input"),
                    "a `resource` case takes no `input`",
                );
                return None;
            }
            Some(McpCall::Resource {
                uri: uri.to_string(),
            })
        }
        (None, None, Some(name)) => match args() {
            Some(a) => Some(McpCall::Prompt {
                name: name.to_string(),
                args: a,
            }),
            None => {
                bad_args(cx);
                None
            }
        },
        _ => {
            cx.error(
                src,
                p,
                "a case of an MCP target needs exactly one of `tool`, `resource` and `prompt`",
            )
            .hint = Some("e.g. `tool: echo` with `input: { message: hi }`".into());
            None
        }
    }
}
