//! The OpenAI and Anthropic wire formats: requests in, responses, stream events and errors out.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use gauntlet_core::model::ErrorKind;
use gauntlet_providers::{ChatResponse, Message, ProviderError, Role, ToolCall};
use serde_json::{Value, json};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    OpenAi,
    Anthropic,
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Text of a content that is a string or a list of `{type: text, text}` blocks.
fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    }
}

fn message(role: Role, content: String) -> Message {
    Message {
        role,
        content,
        tool_calls: Vec::new(),
        tool_name: None,
        tool_call_id: None,
    }
}

/// The conversation of a request. System messages are skipped: the agent's mock rules decide.
pub fn messages(dialect: Dialect, request: &Value) -> Result<Vec<Message>, String> {
    let list = request
        .get("messages")
        .and_then(Value::as_array)
        .ok_or("`messages` must be a list")?;
    let mut out: Vec<Message> = Vec::new();
    let name_of = |out: &[Message], id: &str| {
        out.iter()
            .flat_map(|m| &m.tool_calls)
            .find(|c| c.id == id)
            .map(|c| c.name.clone())
    };
    for (i, m) in list.iter().enumerate() {
        let role = m
            .get("role")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("messages[{i}] has no `role`"))?;
        let content = m.get("content").unwrap_or(&Value::Null);
        match (dialect, role) {
            (_, "system" | "developer") => {}
            (Dialect::OpenAi, "user") => out.push(message(Role::User, text_of(content))),
            (Dialect::OpenAi, "assistant") => {
                let mut msg = message(Role::Assistant, text_of(content));
                for c in m
                    .get("tool_calls")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let args = c
                        .pointer("/function/arguments")
                        .and_then(Value::as_str)
                        .unwrap_or("{}");
                    msg.tool_calls.push(ToolCall {
                        id: c
                            .get("id")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned(),
                        name: c
                            .pointer("/function/name")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned(),
                        args: serde_json::from_str(args).map_err(|e| {
                            format!("messages[{i}]: tool call arguments are not JSON: {e}")
                        })?,
                    });
                }
                out.push(msg);
            }
            (Dialect::OpenAi, "tool") => {
                let id = m
                    .get("tool_call_id")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let mut msg = message(Role::Tool, text_of(content));
                msg.tool_name = name_of(&out, id);
                msg.tool_call_id = Some(id.to_owned());
                out.push(msg);
            }
            (Dialect::Anthropic, "user") => {
                let blocks = match content {
                    Value::Array(b) => b.clone(),
                    other => vec![json!({"type": "text", "text": text_of(other)})],
                };
                let mut text = String::new();
                for b in &blocks {
                    match b.get("type").and_then(Value::as_str) {
                        Some("tool_result") => {
                            let id = b
                                .get("tool_use_id")
                                .and_then(Value::as_str)
                                .unwrap_or_default();
                            let mut msg = message(
                                Role::Tool,
                                text_of(b.get("content").unwrap_or(&Value::Null)),
                            );
                            if b.get("is_error").and_then(Value::as_bool) == Some(true) {
                                msg.content = json!({"error": msg.content}).to_string();
                            }
                            msg.tool_name = name_of(&out, id);
                            msg.tool_call_id = Some(id.to_owned());
                            out.push(msg);
                        }
                        Some("text") => {
                            text.push_str(b.get("text").and_then(Value::as_str).unwrap_or(""))
                        }
                        _ => {}
                    }
                }
                if !text.is_empty() {
                    out.push(message(Role::User, text));
                }
            }
            (Dialect::Anthropic, "assistant") => {
                let mut msg = message(Role::Assistant, text_of(content));
                for b in content.as_array().into_iter().flatten() {
                    if b.get("type").and_then(Value::as_str) == Some("tool_use") {
                        msg.tool_calls.push(ToolCall {
                            id: b
                                .get("id")
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                                .to_owned(),
                            name: b
                                .get("name")
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                                .to_owned(),
                            args: b.get("input").cloned().unwrap_or_else(|| json!({})),
                        });
                    }
                }
                out.push(msg);
            }
            (_, other) => return Err(format!("messages[{i}] has an unknown role `{other}`")),
        }
    }
    if !out.iter().any(|m| m.role == Role::User) {
        return Err("`messages` needs a user message".into());
    }
    Ok(out)
}

fn openai_tool_calls(calls: &[ToolCall]) -> Vec<Value> {
    calls
        .iter()
        .map(|c| {
            json!({
                "id": c.id,
                "type": "function",
                "function": {"name": c.name, "arguments": c.args.to_string()},
            })
        })
        .collect()
}

fn finish_reason(r: &ChatResponse) -> &'static str {
    if r.tool_calls.is_empty() {
        "stop"
    } else {
        "tool_calls"
    }
}

pub fn openai_completion(model: &str, id: &str, r: &ChatResponse) -> Value {
    let mut message = json!({
        "role": "assistant",
        "content": if r.text.is_empty() && !r.tool_calls.is_empty() { Value::Null } else { json!(r.text) },
        "refusal": null,
    });
    if !r.tool_calls.is_empty() {
        message["tool_calls"] = Value::Array(openai_tool_calls(&r.tool_calls));
    }
    json!({
        "id": format!("chatcmpl-{id}"),
        "object": "chat.completion",
        "created": now(),
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish_reason(r)}],
        "usage": {
            "prompt_tokens": r.usage.input,
            "completion_tokens": r.usage.output,
            "total_tokens": r.usage.input + r.usage.output,
        },
        "system_fingerprint": null,
    })
}

/// Words of a text with their following whitespace, as stream deltas.
fn pieces(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut in_space = false;
    for (i, c) in text.char_indices() {
        if c.is_whitespace() {
            in_space = true;
        } else if in_space {
            out.push(&text[start..i]);
            start = i;
            in_space = false;
        }
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

fn data(out: &mut String, v: &Value) {
    out.push_str("data: ");
    out.push_str(&v.to_string());
    out.push_str("\n\n");
}

pub fn openai_stream(model: &str, id: &str, r: &ChatResponse, include_usage: bool) -> String {
    let created = now();
    let chunk = |delta: Value, finish: Value| {
        json!({
            "id": format!("chatcmpl-{id}"),
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": null,
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
        })
    };
    let mut out = String::new();
    data(
        &mut out,
        &chunk(json!({"role": "assistant", "content": ""}), Value::Null),
    );
    for p in pieces(&r.text) {
        data(&mut out, &chunk(json!({"content": p}), Value::Null));
    }
    for (i, c) in r.tool_calls.iter().enumerate() {
        data(
            &mut out,
            &chunk(
                json!({"tool_calls": [{"index": i, "id": c.id, "type": "function", "function": {"name": c.name, "arguments": ""}}]}),
                Value::Null,
            ),
        );
        data(
            &mut out,
            &chunk(
                json!({"tool_calls": [{"index": i, "function": {"arguments": c.args.to_string()}}]}),
                Value::Null,
            ),
        );
    }
    data(&mut out, &chunk(json!({}), json!(finish_reason(r))));
    if include_usage {
        data(
            &mut out,
            &json!({
                "id": format!("chatcmpl-{id}"),
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": null,
                "choices": [],
                "usage": {
                    "prompt_tokens": r.usage.input,
                    "completion_tokens": r.usage.output,
                    "total_tokens": r.usage.input + r.usage.output,
                },
            }),
        );
    }
    out.push_str("data: [DONE]\n\n");
    out
}

fn anthropic_blocks(r: &ChatResponse) -> Vec<Value> {
    let mut blocks = Vec::new();
    if !r.text.is_empty() || r.tool_calls.is_empty() {
        blocks.push(json!({"type": "text", "text": r.text}));
    }
    for c in &r.tool_calls {
        blocks.push(json!({"type": "tool_use", "id": c.id, "name": c.name, "input": c.args}));
    }
    blocks
}

fn stop_reason(r: &ChatResponse) -> &'static str {
    if r.tool_calls.is_empty() {
        "end_turn"
    } else {
        "tool_use"
    }
}

pub fn anthropic_message(model: &str, id: &str, r: &ChatResponse) -> Value {
    json!({
        "id": format!("msg_{id}"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": anthropic_blocks(r),
        "stop_reason": stop_reason(r),
        "stop_sequence": null,
        "usage": {"input_tokens": r.usage.input, "output_tokens": r.usage.output},
    })
}

fn event(out: &mut String, name: &str, v: &Value) {
    out.push_str("event: ");
    out.push_str(name);
    out.push('\n');
    data(out, v);
}

pub fn anthropic_stream(model: &str, id: &str, r: &ChatResponse) -> String {
    let mut out = String::new();
    event(
        &mut out,
        "message_start",
        &json!({"type": "message_start", "message": {
            "id": format!("msg_{id}"), "type": "message", "role": "assistant", "model": model,
            "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": r.usage.input, "output_tokens": 1},
        }}),
    );
    event(&mut out, "ping", &json!({"type": "ping"}));
    let mut index = 0;
    if !r.text.is_empty() || r.tool_calls.is_empty() {
        event(
            &mut out,
            "content_block_start",
            &json!({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}),
        );
        for p in pieces(&r.text) {
            event(
                &mut out,
                "content_block_delta",
                &json!({"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": p}}),
            );
        }
        event(
            &mut out,
            "content_block_stop",
            &json!({"type": "content_block_stop", "index": index}),
        );
        index += 1;
    }
    for c in &r.tool_calls {
        event(
            &mut out,
            "content_block_start",
            &json!({"type": "content_block_start", "index": index, "content_block": {"type": "tool_use", "id": c.id, "name": c.name, "input": {}}}),
        );
        let args = c.args.to_string();
        let mid = args.len() / 2;
        let cut = (0..=mid)
            .rev()
            .find(|i| args.is_char_boundary(*i))
            .unwrap_or(0);
        for part in [&args[..cut], &args[cut..]] {
            event(
                &mut out,
                "content_block_delta",
                &json!({"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": part}}),
            );
        }
        event(
            &mut out,
            "content_block_stop",
            &json!({"type": "content_block_stop", "index": index}),
        );
        index += 1;
    }
    event(
        &mut out,
        "message_delta",
        &json!({"type": "message_delta", "delta": {"stop_reason": stop_reason(r), "stop_sequence": null}, "usage": {"output_tokens": r.usage.output}}),
    );
    event(&mut out, "message_stop", &json!({"type": "message_stop"}));
    out
}

/// An error response in the dialect's format, with `Retry-After` when a wait is known.
pub fn error(
    dialect: Dialect,
    status: StatusCode,
    kind: &str,
    message: &str,
    retry_after_ms: Option<u64>,
) -> Response {
    let body = match dialect {
        Dialect::OpenAi => json!({"error": {
            "message": message,
            "type": kind,
            "param": null,
            "code": if status == StatusCode::NOT_FOUND { json!("model_not_found") } else { Value::Null },
        }}),
        Dialect::Anthropic => json!({"type": "error", "error": {"type": kind, "message": message}}),
    };
    let mut response = (status, axum::Json(body)).into_response();
    if let Some(ms) = retry_after_ms {
        let h = response.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&ms.div_ceil(1000).to_string()) {
            h.insert("retry-after", v);
        }
        if let Ok(v) = HeaderValue::from_str(&ms.to_string()) {
            h.insert("retry-after-ms", v);
        }
    }
    response
}

/// A scripted error as the vendor would send it.
pub fn provider_error(dialect: Dialect, e: &ProviderError) -> Response {
    let (status, kind) = match e.kind {
        ErrorKind::RateLimit => (StatusCode::TOO_MANY_REQUESTS, "rate_limit_error"),
        ErrorKind::Timeout => (StatusCode::GATEWAY_TIMEOUT, "timeout_error"),
        ErrorKind::Network => (StatusCode::BAD_GATEWAY, "api_error"),
        ErrorKind::InvalidRequest => (StatusCode::BAD_REQUEST, "invalid_request_error"),
        ErrorKind::Auth => (StatusCode::UNAUTHORIZED, "authentication_error"),
        ErrorKind::NotFound => (StatusCode::NOT_FOUND, "not_found_error"),
        ErrorKind::ServerError | ErrorKind::Unsupported | ErrorKind::CassetteMiss => {
            (StatusCode::INTERNAL_SERVER_ERROR, "api_error")
        }
    };
    error(dialect, status, kind, &e.message, e.retry_after_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_keep_every_character() {
        let t = "Hello,  world!\nNext line";
        assert_eq!(pieces(t).concat(), t);
        assert_eq!(pieces(t), vec!["Hello,  ", "world!\n", "Next ", "line"]);
        assert!(pieces("").is_empty());
    }
}
