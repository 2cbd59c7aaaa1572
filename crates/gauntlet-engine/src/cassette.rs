//! Record and replay of provider and tool interactions ("cassettes").
//!
//! Every model call and tool call is keyed by the SHA-256 of its canonical request together
//! with where it happens (case, target, trial, node, turn, attempt or call number) — not the
//! seed, so a recording replays under any seed, and identical requests at different places
//! keep their own answers. The engine reads and writes entries through [`CassetteStore`];
//! where they live (files, a database) is the caller's business.

use std::sync::Arc;

use gauntlet_core::hash::{canonical_json, sha256_hex};
use gauntlet_core::model::ErrorKind;
use gauntlet_core::result::Tokens;
use gauntlet_providers::{ChatResponse, Message, ProviderError, Role, ToolCall};
use serde_json::{Value, json};

pub trait CassetteStore: Send + Sync {
    fn get(&self, key: &str) -> Option<Value>;
    fn put(&self, key: &str, entry: &Value) -> Result<(), String>;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CassetteMode {
    /// Call providers and tools, and record every interaction.
    Record,
    /// Serve recordings; a request without one fails the case.
    ReplayStrict,
    /// Serve recordings; a request without one goes to the provider and is recorded.
    ReplayLenient,
}

#[derive(Clone)]
pub struct Cassettes {
    pub mode: CassetteMode,
    pub store: Arc<dyn CassetteStore>,
}

/// An entry key and the document it is recorded under.
pub struct Keyed {
    pub key: String,
    pub request: Value,
}

pub fn key(request: Value) -> Keyed {
    Keyed {
        key: sha256_hex(canonical_json(&request).as_bytes()),
        request,
    }
}

pub fn messages_json(messages: &[Message]) -> Value {
    Value::Array(
        messages
            .iter()
            .map(|m| {
                let role = match m.role {
                    Role::User => "user",
                    Role::Assistant => "assistant",
                    Role::Tool => "tool",
                };
                let calls: Vec<Value> = m.tool_calls.iter().map(|c| json!({"name": c.name, "args": c.args})).collect();
                json!({"role": role, "content": m.content, "tool_calls": calls, "tool": m.tool_name})
            })
            .collect(),
    )
}

pub fn encode_response(result: &Result<ChatResponse, ProviderError>) -> Value {
    match result {
        Ok(r) => {
            let mut ok = json!({
                "text": r.text,
                "tool_calls": r.tool_calls.iter().map(|c| json!({"id": c.id, "name": c.name, "args": c.args})).collect::<Vec<_>>(),
                "usage": {"input": r.usage.input, "output": r.usage.output},
                "latency_ms": r.latency_ms,
                "ttft_ms": r.ttft_ms,
            });
            if let Value::Object(m) = &mut ok {
                if let Some(t) = r.tokens_per_s {
                    m.insert("tokens_per_s".into(), json!(t));
                }
                if let Some((p, model)) = &r.served_by {
                    m.insert("served_by".into(), json!([p, model]));
                }
                if !r.reported_tool_calls.is_empty() {
                    m.insert(
                        "reported_tool_calls".into(),
                        r.reported_tool_calls
                            .iter()
                            .map(|c| json!({"name": c.name, "args": c.args, "result": c.result}))
                            .collect(),
                    );
                }
            }
            json!({ "ok": ok })
        }
        Err(e) => {
            json!({"error": {"kind": e.kind.as_str(), "message": e.message, "retry_after_ms": e.retry_after_ms, "latency_ms": e.latency_ms}})
        }
    }
}

pub fn decode_response(entry: &Value) -> Option<Result<ChatResponse, ProviderError>> {
    let response = entry.get("response")?;
    if let Some(ok) = response.get("ok") {
        let tool_calls = ok
            .get("tool_calls")?
            .as_array()?
            .iter()
            .map(|c| {
                Some(ToolCall {
                    id: c.get("id")?.as_str()?.to_owned(),
                    name: c.get("name")?.as_str()?.to_owned(),
                    args: c.get("args")?.clone(),
                })
            })
            .collect::<Option<Vec<_>>>()?;
        let usage = ok.get("usage")?;
        return Some(Ok(ChatResponse {
            text: ok.get("text")?.as_str()?.to_owned(),
            tool_calls,
            usage: Tokens {
                input: usage.get("input")?.as_u64()?,
                output: usage.get("output")?.as_u64()?,
            },
            latency_ms: ok.get("latency_ms").and_then(Value::as_f64),
            ttft_ms: ok.get("ttft_ms").and_then(Value::as_f64),
            tokens_per_s: ok.get("tokens_per_s").and_then(Value::as_f64),
            served_by: ok.get("served_by").and_then(|s| {
                Some((
                    s.get(0)?.as_str()?.to_owned(),
                    s.get(1)?.as_str()?.to_owned(),
                ))
            }),
            reported_tool_calls: ok
                .get("reported_tool_calls")
                .and_then(Value::as_array)
                .map(|calls| {
                    calls
                        .iter()
                        .filter_map(|c| {
                            Some(gauntlet_providers::ReportedToolCall {
                                name: c.get("name")?.as_str()?.to_owned(),
                                args: c.get("args").cloned().unwrap_or(Value::Null),
                                result: c.get("result").cloned(),
                            })
                        })
                        .collect()
                })
                .unwrap_or_default(),
        }));
    }
    let e = response.get("error")?;
    let kind_name = e.get("kind")?.as_str()?;
    let kind = ErrorKind::ALL
        .iter()
        .copied()
        .find(|k| k.as_str() == kind_name)?;
    Some(Err(ProviderError {
        kind,
        message: e.get("message")?.as_str()?.to_owned(),
        retry_after_ms: e.get("retry_after_ms").and_then(Value::as_u64),
        latency_ms: e.get("latency_ms").and_then(Value::as_f64),
    }))
}

/// The error a strict replay gives for a request nobody recorded, showing the request.
pub fn miss(request: &Value) -> ProviderError {
    let mut shown = request.to_string();
    if shown.len() > 600 {
        let mut end = 600;
        while !shown.is_char_boundary(end) {
            end -= 1;
        }
        shown.truncate(end);
        shown.push('…');
    }
    ProviderError::new(
        ErrorKind::CassetteMiss,
        format!("no recording of this request (strict replay): {shown}"),
    )
}

impl std::fmt::Debug for Cassettes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cassettes({:?})", self.mode)
    }
}
