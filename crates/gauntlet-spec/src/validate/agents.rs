//! Agents and their mock behaviour.

use std::collections::HashMap;

use gauntlet_core::model::{
    Agent, Contract, ErrorKind, MockBehaviour, MockError, MockReply, MockRule, MockToolCall,
    MockWhen, Project, ProviderKind,
};

use crate::diag::suggest;
use crate::load::Entity;
use crate::raw;
use crate::validate::Ctx;
use crate::validate::definitions::{contract_ref, latency, retry};
use crate::yaml::push_pointer;

pub(crate) fn agent(
    cx: &mut Ctx,
    e: &Entity,
    contracts: &HashMap<String, Contract>,
    project: &Project,
) -> Option<Agent> {
    let raw: raw::Agent = cx.de(&e.source, &e.pointer, &e.value)?;
    let mut ok = true;
    let provider_ptr = push_pointer(&e.pointer, "provider");
    if !cx.has("providers", &raw.provider) {
        cx.unknown(
            &e.source,
            &provider_ptr,
            "providers",
            "provider",
            &raw.provider,
        );
        ok = false;
    }
    let tools_ptr = push_pointer(&e.pointer, "tools");
    for (i, t) in raw.tools.iter().enumerate() {
        if !cx.has("tools", t) {
            cx.unknown(
                &e.source,
                &push_pointer(&tools_ptr, &i.to_string()),
                "tools",
                "tool",
                t,
            );
            ok = false;
        }
    }
    let mcp_ptr = push_pointer(&e.pointer, "mcp");
    for (i, m) in raw.mcp.iter().enumerate() {
        if !cx.has("mcp_servers", m) {
            cx.unknown(
                &e.source,
                &push_pointer(&mcp_ptr, &i.to_string()),
                "mcp_servers",
                "MCP server",
                m,
            );
            ok = false;
        }
    }
    let contract_ptr = push_pointer(&e.pointer, "contract");
    let contract = contract_ref(cx, e, &contract_ptr, raw.contract.as_ref(), contracts)
        .unwrap_or_else(|()| {
            ok = false;
            None
        });
    if let Some(allowed) = contract.as_ref().and_then(|c| c.allowed_tools.as_ref()) {
        for (i, t) in raw.tools.iter().enumerate() {
            if !allowed.contains(t) && cx.has("tools", t) {
                let hint = format!(
                    "the contract allows: {}",
                    if allowed.is_empty() {
                        "no tools".to_owned()
                    } else {
                        allowed.join(", ")
                    }
                );
                cx.error(
                    &e.source,
                    &push_pointer(&tools_ptr, &i.to_string()),
                    format!(
                        "tool `{t}` is not allowed by the contract of agent `{}`",
                        e.name
                    ),
                )
                .hint = Some(hint);
                ok = false;
            }
        }
    }
    let is_mock = project
        .providers
        .get(&raw.provider)
        .is_some_and(|p| p.kind == ProviderKind::Mock);
    let mock = match raw.mock {
        Some(m) => mock(cx, e, m, &raw.tools, !raw.mcp.is_empty()).or_else(|| {
            ok = false;
            None
        }),
        None if is_mock => {
            cx.error(
                &e.source,
                &e.pointer,
                format!(
                    "agent `{}` uses a mock provider but has no `mock` behaviour",
                    e.name
                ),
            )
            .hint = Some(
                "add `mock: { echo: true }` or `mock: { responses: [ { text: \"...\" } ] }`".into(),
            );
            ok = false;
            None
        }
        None => None,
    };
    if raw.max_turns == Some(0) {
        cx.error(
            &e.source,
            &push_pointer(&e.pointer, "max_turns"),
            "`max_turns` must be at least 1",
        );
        ok = false;
    }
    ok.then(|| Agent {
        name: e.name.clone(),
        provider: raw.provider,
        model: raw.model,
        system: raw.system,
        tools: raw.tools,
        mcp: raw.mcp,
        contract,
        mock,
        max_turns: raw.max_turns.unwrap_or(8),
        temperature: raw.temperature,
        max_output_tokens: raw.max_output_tokens,
        retry: retry(raw.retry).unwrap_or_default(),
        timeout_ms: raw.timeout_ms,
    })
}

pub(crate) fn mock(
    cx: &mut Ctx,
    e: &Entity,
    raw: raw::Mock,
    agent_tools: &[String],
    has_mcp: bool,
) -> Option<MockBehaviour> {
    let base = push_pointer(&e.pointer, "mock");
    let mut ok = true;
    let latency_ms = latency(
        cx,
        e,
        &push_pointer(&base, "latency_ms"),
        raw.latency_ms.as_ref(),
    )
    .unwrap_or_else(|()| {
        ok = false;
        None
    });
    if !raw.echo && raw.responses.is_empty() {
        cx.error(
            &e.source,
            &base,
            "mock behaviour needs `echo: true` or at least one rule in `responses`",
        );
        return None;
    }
    let mut responses = Vec::new();
    let text_roots = ["input", "vars", "tool_results"];
    for (i, rule) in raw.responses.into_iter().enumerate() {
        let p = push_pointer(&push_pointer(&base, "responses"), &i.to_string());
        let given = [
            rule.text.is_some(),
            rule.tool_call.is_some(),
            rule.tool_calls.is_some(),
            rule.choices.is_some(),
            rule.error.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if given != 1 {
            cx.error(&e.source, &p, "a mock rule needs exactly one of `text`, `tool_call`, `tool_calls`, `choices` or `error`");
            ok = false;
            continue;
        }
        let check_call =
            |cx: &mut Ctx, ptr: &str, call: raw::MockToolCall| -> Option<MockToolCall> {
                // Tools of MCP servers are discovered when the run starts.
                if !agent_tools.contains(&call.name) && !has_mcp {
                    let hint = if cx.has("tools", &call.name) {
                        format!("add `{}` to the agent's `tools` list", call.name)
                    } else {
                        suggest(&call.name, "tools", agent_tools.iter().map(String::as_str))
                    };
                    cx.error(
                        &e.source,
                        &push_pointer(ptr, "name"),
                        format!(
                            "mock calls tool `{}` that the agent does not list in `tools`",
                            call.name
                        ),
                    )
                    .hint = Some(hint);
                    return None;
                }
                Some(MockToolCall {
                    name: call.name,
                    args: call.args.unwrap_or_else(|| serde_json::json!({})),
                })
            };
        let reply = if let Some(text) = rule.text {
            cx.template(&e.source, &push_pointer(&p, "text"), &text, &text_roots)
                .map(MockReply::Text)
        } else if let Some(call) = rule.tool_call {
            check_call(cx, &push_pointer(&p, "tool_call"), call)
                .map(|c| MockReply::ToolCalls(vec![c]))
        } else if let Some(calls) = rule.tool_calls {
            let mut out = Vec::new();
            for (j, call) in calls.into_iter().enumerate() {
                let cp = push_pointer(&push_pointer(&p, "tool_calls"), &j.to_string());
                out.extend(check_call(cx, &cp, call));
            }
            (!out.is_empty()).then_some(MockReply::ToolCalls(out))
        } else if let Some(choices) = rule.choices {
            if choices.is_empty() {
                cx.error(
                    &e.source,
                    &push_pointer(&p, "choices"),
                    "`choices` needs at least one reply",
                );
                None
            } else {
                let mut out = Vec::new();
                for (j, c) in choices.iter().enumerate() {
                    out.extend(cx.template(
                        &e.source,
                        &push_pointer(&push_pointer(&p, "choices"), &j.to_string()),
                        c,
                        &text_roots,
                    ));
                }
                (out.len() == choices.len()).then_some(MockReply::Choices(out))
            }
        } else if let Some(err) = rule.error {
            let kind = ErrorKind::ALL
                .iter()
                .copied()
                .find(|k| k.as_str() == err.kind);
            match kind {
                Some(kind) => Some(MockReply::Error(MockError {
                    kind,
                    message: err.message,
                    retry_after_ms: err.retry_after_ms,
                })),
                None => {
                    let names: Vec<&str> = ErrorKind::ALL.iter().map(|k| k.as_str()).collect();
                    let hint = suggest(&err.kind, "error kinds", names.iter().copied());
                    cx.error(
                        &e.source,
                        &push_pointer(&push_pointer(&p, "error"), "kind"),
                        format!("unknown error kind `{}`", err.kind),
                    )
                    .hint = Some(hint);
                    None
                }
            }
        } else {
            None
        };
        let when = rule.when.unwrap_or_default();
        let regex = match &when.regex {
            Some(r) => {
                match cx.regex(r) {
                    Ok(re) => Some(re),
                    Err(err) => {
                        cx.error(&e.source, &push_pointer(&push_pointer(&p, "when"), "regex"), crate::diag::regex_error(&err)).hint =
                        Some("patterns use Rust regex syntax; escape backslashes inside double quotes".into());
                        ok = false;
                        None
                    }
                }
            }
            None => None,
        };
        for (key, tool) in [
            ("after_tool", &when.after_tool),
            ("tool_failed", &when.tool_failed),
        ] {
            if let Some(tool) = tool
                && !agent_tools.contains(tool)
                && !has_mcp
            {
                cx.error(
                    &e.source,
                    &push_pointer(&push_pointer(&p, "when"), key),
                    format!("`{key}` names `{tool}`, which the agent does not list in `tools`"),
                );
                ok = false;
            }
        }
        if rule.times.is_some() && !matches!(reply, Some(MockReply::Error(_))) {
            cx.warning(
                &e.source,
                &push_pointer(&p, "times"),
                "`times` only applies to `error` rules and is ignored here",
            );
        }
        let Some(reply) = reply else {
            ok = false;
            continue;
        };
        responses.push(MockRule {
            when: MockWhen {
                contains: when.contains,
                icontains: when.icontains,
                not_contains: when.not_contains,
                equals: when.equals,
                regex,
                after_tool: when.after_tool,
                tool_failed: when.tool_failed,
                turn: when.turn,
            },
            reply,
            times: rule.times,
        });
    }
    ok.then_some(MockBehaviour {
        echo: raw.echo,
        responses,
        latency_ms,
    })
}
