//! Tools and contracts.

use std::collections::HashMap;

use gauntlet_core::model::{
    Contract, LatencyRange, RetryPolicy, Tool, ToolMockResult, ToolMockRule,
};
use serde_json::Value;

use crate::load::Entity;
use crate::raw;
use crate::validate::Ctx;
use crate::yaml::push_pointer;

pub(crate) fn latency(
    cx: &mut Ctx,
    e: &Entity,
    pointer: &str,
    value: Option<&Value>,
) -> Result<Option<LatencyRange>, ()> {
    let range = match value {
        None => return Ok(None),
        Some(Value::Number(n)) => n.as_u64().map(|v| LatencyRange { min: v, max: v }),
        Some(Value::Object(m)) if m.keys().all(|k| k == "min" || k == "max") => {
            match (
                m.get("min").and_then(Value::as_u64),
                m.get("max").and_then(Value::as_u64),
            ) {
                (Some(min), Some(max)) if min <= max => Some(LatencyRange { min, max }),
                _ => None,
            }
        }
        Some(_) => None,
    };
    match range {
        Some(r) => Ok(Some(r)),
        None => {
            cx.error(&e.source, pointer, "invalid latency").hint =
                Some("give milliseconds as a number (`latency_ms: 20`) or a range (`latency_ms: { min: 5, max: 20 }`, min ≤ max)".into());
            Err(())
        }
    }
}

pub(crate) fn tool(cx: &mut Ctx, e: &Entity) -> Option<Tool> {
    let raw: raw::Tool = cx.de(&e.source, &e.pointer, &e.value)?;
    let mut ok = true;
    let params_ptr = push_pointer(&e.pointer, "parameters");
    let parameters = raw
        .parameters
        .unwrap_or_else(|| serde_json::json!({"type": "object"}));
    let parameters_schema = cx.schema(&e.source, &params_ptr, &parameters);
    ok &= parameters_schema.is_some();
    let mut mock = Vec::new();
    for (i, rule) in raw.mock.into_iter().enumerate() {
        let p = push_pointer(&push_pointer(&e.pointer, "mock"), &i.to_string());
        let result = match (rule.returns, rule.error) {
            (Some(v), None) => ToolMockResult::Return(v),
            (None, Some(err)) => ToolMockResult::Error(err),
            _ => {
                cx.error(
                    &e.source,
                    &p,
                    "a tool mock rule needs exactly one of `return` or `error`",
                );
                ok = false;
                continue;
            }
        };
        let Ok(latency_ms) = latency(
            cx,
            e,
            &push_pointer(&p, "latency_ms"),
            rule.latency_ms.as_ref(),
        ) else {
            ok = false;
            continue;
        };
        mock.push(ToolMockRule {
            when: rule.when,
            result,
            latency_ms,
        });
    }
    ok.then(|| Tool {
        name: e.name.clone(),
        description: raw.description,
        parameters,
        parameters_schema,
        mock,
    })
}

pub(crate) fn contract(
    cx: &mut Ctx,
    e: &Entity,
    pointer: &str,
    raw: raw::Contract,
    name: Option<String>,
) -> Option<Contract> {
    let mut ok = true;
    let input_schema = raw.input_schema.as_ref().and_then(|s| {
        let r = cx.schema(&e.source, &push_pointer(pointer, "input_schema"), s);
        ok &= r.is_some();
        r
    });
    let output_schema = raw.output_schema.as_ref().and_then(|s| {
        let r = cx.schema(&e.source, &push_pointer(pointer, "output_schema"), s);
        ok &= r.is_some();
        r
    });
    if let Some(tools) = &raw.allowed_tools {
        for (i, t) in tools.iter().enumerate() {
            if !cx.has("tools", t) {
                let p = push_pointer(&push_pointer(pointer, "allowed_tools"), &i.to_string());
                cx.unknown(&e.source, &p, "tools", "tool", t);
                ok = false;
            }
        }
    }
    for (field, v) in [
        ("max_cost_usd", raw.max_cost_usd),
        ("max_latency_ms", raw.max_latency_ms),
    ] {
        if v.is_some_and(|v| v.is_nan() || v < 0.0) {
            cx.error(
                &e.source,
                &push_pointer(pointer, field),
                format!("`{field}` must be a non-negative number"),
            );
            ok = false;
        }
    }
    ok.then_some(Contract {
        name,
        version: raw.version,
        input_schema,
        output_schema,
        allowed_tools: raw.allowed_tools,
        max_tool_calls: raw.max_tool_calls,
        max_tokens: raw.max_tokens,
        max_cost_usd: raw.max_cost_usd,
        max_latency_ms: raw.max_latency_ms,
    })
}

/// A `contract:` field: a name from `contracts:` or an inline contract.
pub(crate) fn contract_ref(
    cx: &mut Ctx,
    e: &Entity,
    pointer: &str,
    value: Option<&Value>,
    named: &HashMap<String, Contract>,
) -> Result<Option<Contract>, ()> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(name)) => match named.get(name) {
            Some(c) => Ok(Some(c.clone())),
            None if cx.has("contracts", name) => Err(()), // already reported where it is defined
            None => {
                cx.unknown(&e.source, pointer, "contracts", "contract", name);
                Err(())
            }
        },
        Some(v @ Value::Object(_)) => {
            let raw: raw::Contract = cx.de(&e.source, pointer, v).ok_or(())?;
            contract(cx, e, pointer, raw, None).map(Some).ok_or(())
        }
        Some(_) => {
            cx.error(
                &e.source,
                pointer,
                "`contract` must be a contract name or a mapping",
            )
            .hint = Some("e.g. `contract: { output_schema: {...}, max_cost_usd: 0.01 }`".into());
            Err(())
        }
    }
}

pub(crate) fn retry(raw: Option<raw::Retry>) -> Option<RetryPolicy> {
    raw.map(|r| {
        let d = RetryPolicy::default();
        RetryPolicy {
            max_retries: r.max_retries.unwrap_or(d.max_retries),
            initial_backoff_ms: r.initial_backoff_ms.unwrap_or(d.initial_backoff_ms),
            max_backoff_ms: r.max_backoff_ms.unwrap_or(d.max_backoff_ms),
        }
    })
}
