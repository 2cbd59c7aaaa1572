//! The mock provider: scripted, seeded model behaviour for offline runs.
//!
//! Rules are tried in order and the first whose `when` holds answers. A rule that requests tool
//! calls is passed over once those calls have been answered in the conversation, so a rule list
//! reads like a script: call the tool, then answer. Random choices (among `choices`, latency
//! within a range) come from the step's seeded RNG.

use std::time::Duration;

use gauntlet_core::model::{LatencyRange, MockBehaviour, MockReply, MockRule};
use gauntlet_core::result::Tokens;
use rand::RngExt;
use serde_json::{Map, Value, json};

use crate::{
    BoxFuture, CallContext, ChatRequest, ChatResponse, Message, Provider, ProviderError, Role,
    ToolCall, tokens,
};

pub struct MockProvider;

impl Provider for MockProvider {
    fn complete<'a>(
        &'a self,
        req: ChatRequest<'a>,
        ctx: &'a mut CallContext,
    ) -> BoxFuture<'a, Result<ChatResponse, ProviderError>> {
        Box::pin(async move {
            let (result, delay) = respond(&req, ctx);
            if delay > 0 {
                tokio::time::sleep(Duration::from_millis(delay)).await;
            }
            result
                .map(|mut r| {
                    r.latency_ms = Some(delay as f64);
                    r
                })
                .map_err(|mut e| {
                    e.latency_ms = Some(delay as f64);
                    e
                })
        })
    }
}

pub fn draw_latency(range: Option<LatencyRange>, rng: &mut rand_chacha::ChaCha8Rng) -> u64 {
    match range {
        Some(r) if r.max > r.min => rng.random_range(r.min..=r.max),
        Some(r) => r.min,
        None => 0,
    }
}

/// Decides the reply without waiting; returns it with the simulated delay in milliseconds.
fn respond(
    req: &ChatRequest<'_>,
    ctx: &mut CallContext,
) -> (Result<ChatResponse, ProviderError>, u64) {
    let Some(mock) = req.agent.mock.as_ref() else {
        return (
            Err(ProviderError::new(
                gauntlet_core::model::ErrorKind::InvalidRequest,
                format!("agent `{}` has no mock behaviour", req.agent.name),
            )),
            0,
        );
    };
    let delay = draw_latency(mock.latency_ms, &mut ctx.rng);
    let input = req
        .messages
        .iter()
        .find(|m| m.role == Role::User)
        .map_or("", |m| m.content.as_str());
    let reply = match pick(mock, req, input, ctx) {
        Ok(r) => r,
        Err(e) => return (Err(e), delay),
    };
    let (text, tool_calls) = reply;
    let usage = Tokens {
        input: prompt_tokens(req),
        output: completion_tokens(req.model, &text, &tool_calls),
    };
    (
        Ok(ChatResponse {
            text,
            tool_calls,
            usage,
            ..ChatResponse::default()
        }),
        delay,
    )
}

type Reply = (String, Vec<ToolCall>);

fn pick(
    mock: &MockBehaviour,
    req: &ChatRequest<'_>,
    input: &str,
    ctx: &mut CallContext,
) -> Result<Reply, ProviderError> {
    for (index, rule) in mock.responses.iter().enumerate() {
        if !matches(rule, req, input) {
            continue;
        }
        match &rule.reply {
            MockReply::ToolCalls(calls) => {
                let answered = calls.iter().all(|c| {
                    req.messages.iter().any(|m| {
                        m.role == Role::Assistant
                            && m.tool_calls
                                .iter()
                                .any(|tc| tc.name == c.name && tc.args == c.args)
                    })
                });
                if answered {
                    continue;
                }
                let calls = calls
                    .iter()
                    .enumerate()
                    .map(|(i, c)| ToolCall {
                        id: format!("call_{}_{}", req.turn, i + 1),
                        name: c.name.clone(),
                        args: c.args.clone(),
                    })
                    .collect();
                return Ok((String::new(), calls));
            }
            MockReply::Error(err) => {
                let hits = ctx.rule_hits.entry(index).or_insert(0);
                if rule.times.is_some_and(|t| *hits >= t) {
                    continue;
                }
                *hits += 1;
                return Err(ProviderError {
                    kind: err.kind,
                    message: err
                        .message
                        .clone()
                        .unwrap_or_else(|| format!("scripted {} from the mock", err.kind.as_str())),
                    retry_after_ms: err.retry_after_ms,
                    latency_ms: None,
                });
            }
            MockReply::Text(t) => return Ok((t.render(&template_context(req, input)), Vec::new())),
            MockReply::Choices(choices) => {
                let i = ctx.rng.random_range(0..choices.len());
                return Ok((choices[i].render(&template_context(req, input)), Vec::new()));
            }
        }
    }
    if mock.echo {
        return Ok((input.to_owned(), Vec::new()));
    }
    let shown: String = input.chars().take(80).collect();
    Err(ProviderError::new(
        gauntlet_core::model::ErrorKind::InvalidRequest,
        format!(
            "no mock rule of agent `{}` matches input {shown:?} at turn {}; add a rule without `when` as a fallback",
            req.agent.name, req.turn
        ),
    ))
}

fn matches(rule: &MockRule, req: &ChatRequest<'_>, input: &str) -> bool {
    let w = &rule.when;
    w.contains
        .as_ref()
        .is_none_or(|s| input.contains(s.as_str()))
        && w.icontains
            .as_ref()
            .is_none_or(|s| input.to_lowercase().contains(&s.to_lowercase()))
        && w.not_contains
            .as_ref()
            .is_none_or(|s| !input.contains(s.as_str()))
        && w.equals.as_ref().is_none_or(|s| input == s)
        && w.regex.as_ref().is_none_or(|p| p.0.is_match(input))
        && w.turn.is_none_or(|t| t == req.turn)
        && w.after_tool.as_ref().is_none_or(|t| {
            req.messages
                .iter()
                .any(|m| m.role == Role::Tool && m.tool_name.as_deref() == Some(t))
        })
        && w.tool_failed.as_ref().is_none_or(|t| {
            req.messages
                .iter()
                .rev()
                .find(|m| m.role == Role::Tool && m.tool_name.as_deref() == Some(t))
                .is_some_and(|m| {
                    serde_json::from_str::<Value>(&m.content)
                        .is_ok_and(|v| v.get("error").is_some())
                })
        })
}

fn template_context(req: &ChatRequest<'_>, input: &str) -> Value {
    let mut results = Map::new();
    for m in req.messages.iter().filter(|m| m.role == Role::Tool) {
        if let Some(name) = &m.tool_name {
            let v = serde_json::from_str(&m.content)
                .unwrap_or_else(|_| Value::String(m.content.clone()));
            results.insert(name.clone(), v);
        }
    }
    json!({ "input": input, "vars": req.vars, "tool_results": results })
}

pub(crate) fn prompt_tokens(req: &ChatRequest<'_>) -> u64 {
    let mut n = req.agent.system.as_deref().map_or(0, |s| {
        tokens::count(req.model, s) + tokens::MESSAGE_OVERHEAD
    });
    for m in req.messages {
        n += tokens::MESSAGE_OVERHEAD + message_tokens(req.model, m);
    }
    n
}

fn message_tokens(model: &str, m: &Message) -> u64 {
    tokens::count(model, &m.content)
        + m.tool_calls
            .iter()
            .map(|c| tokens::count(model, &c.name) + tokens::count(model, &c.args.to_string()))
            .sum::<u64>()
}

pub(crate) fn completion_tokens(model: &str, text: &str, calls: &[ToolCall]) -> u64 {
    tokens::count(model, text)
        + calls
            .iter()
            .map(|c| tokens::count(model, &c.name) + tokens::count(model, &c.args.to_string()))
            .sum::<u64>()
}
