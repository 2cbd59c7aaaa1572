//! The Anthropic Messages API: the system prompt as a top-level field, content blocks,
//! `tool_use` / `tool_result`, and the streaming event protocol.

use gauntlet_core::model::{ErrorKind, Provider as ProviderDef};
use gauntlet_core::result::Tokens;
use serde_json::{Map, Value, json};

use crate::http::{self, Call, Redactor, Stream};
use crate::{
    BoxFuture, CallContext, ChatRequest, ChatResponse, Provider, ProviderError, Role, ToolCall,
};

pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
pub const API_VERSION: &str = "2023-06-01";
/// `max_tokens` is required by the API; this is sent when the agent sets none.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

pub struct Anthropic {
    def: ProviderDef,
    host: gauntlet_sandbox::Host,
    redactor: Redactor,
}

impl Anthropic {
    pub fn new(def: ProviderDef, host: &gauntlet_sandbox::Host) -> Anthropic {
        Anthropic {
            host: host.clone(),
            redactor: Redactor::for_provider(&def),
            def,
        }
    }
}

/// The request body of a Messages call. Consecutive tool results go into one user message,
/// as the API requires.
pub fn body(req: &ChatRequest<'_>, stream: bool) -> Value {
    let mut messages: Vec<Value> = Vec::new();
    for m in req.messages {
        match m.role {
            Role::User => messages.push(json!({"role": "user", "content": m.content})),
            Role::Assistant => {
                let mut content = Vec::new();
                if !m.content.is_empty() {
                    content.push(json!({"type": "text", "text": m.content}));
                }
                for c in &m.tool_calls {
                    content.push(
                        json!({"type": "tool_use", "id": c.id, "name": c.name, "input": c.args}),
                    );
                }
                messages.push(json!({"role": "assistant", "content": content}));
            }
            Role::Tool => {
                let block = json!({
                    "type": "tool_result",
                    "tool_use_id": m.tool_call_id,
                    "content": m.content,
                });
                http::push_tool_result(
                    &mut messages,
                    "content",
                    |b| b["type"] == "tool_result",
                    block,
                );
            }
        }
    }
    let mut body = Map::new();
    body.insert("model".into(), json!(req.model));
    body.insert(
        "max_tokens".into(),
        json!(req.agent.max_output_tokens.unwrap_or(DEFAULT_MAX_TOKENS)),
    );
    if let Some(system) = &req.agent.system {
        body.insert("system".into(), json!(system));
    }
    body.insert("messages".into(), Value::Array(messages));
    if !req.tools.is_empty() {
        body.insert(
            "tools".into(),
            req.tools
                .iter()
                .map(|t| json!({"name": t.name, "description": t.description, "input_schema": t.parameters}))
                .collect(),
        );
    }
    if let Some(t) = req.agent.temperature {
        body.insert("temperature".into(), json!(t));
    }
    if stream {
        body.insert("stream".into(), json!(true));
    }
    Value::Object(body)
}

/// `{"type": "error", "error": {"type": ..., "message": ...}}`.
pub fn error_message(v: &Value) -> Option<String> {
    let e = v.get("error")?;
    let message = e.get("message").and_then(Value::as_str)?;
    Some(match e.get("type").and_then(Value::as_str) {
        Some(t) => format!("{message} ({t})"),
        None => message.to_owned(),
    })
}

/// The class of an error event inside a stream.
fn stream_error_kind(v: &Value) -> ErrorKind {
    match v.pointer("/error/type").and_then(Value::as_str) {
        Some("rate_limit_error") => ErrorKind::RateLimit,
        Some("overloaded_error" | "api_error") => ErrorKind::ServerError,
        Some("authentication_error" | "permission_error") => ErrorKind::Auth,
        Some("not_found_error") => ErrorKind::NotFound,
        Some("invalid_request_error") => ErrorKind::InvalidRequest,
        _ => ErrorKind::ServerError,
    }
}

impl Provider for Anthropic {
    fn complete<'a>(
        &'a self,
        req: ChatRequest<'a>,
        _ctx: &'a mut CallContext,
    ) -> BoxFuture<'a, Result<ChatResponse, ProviderError>> {
        Box::pin(async move {
            let call = Call::new(&self.def, &self.host, &self.redactor, error_message);
            let base = self.def.base_url.as_deref().unwrap_or(DEFAULT_BASE_URL);
            let mut request = self
                .host
                .http()
                .post(http::join(base, "v1/messages"))
                .header("anthropic-version", API_VERSION)
                .json(&body(&req, self.def.stream));
            if let Some(key) = &self.def.api_key {
                request = request.header("x-api-key", key.expose());
            }
            request = http::with_headers(request, &self.def);
            let (response, started) = call.send(request).await?;
            if self.def.stream {
                read_stream(&call, Stream::new(&call, response, started)).await
            } else {
                parse(&call, &call.json(response).await?)
            }
        })
    }
}

pub(crate) fn parse(call: &Call<'_>, v: &Value) -> Result<ChatResponse, ProviderError> {
    let content = v
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| call.malformed("no `content` array"))?;
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    for block in content {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => text.push_str(block.get("text").and_then(Value::as_str).unwrap_or("")),
            Some("tool_use") => tool_calls.push(ToolCall {
                id: block
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                name: block
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or_else(|| call.malformed("a tool_use block without a name"))?
                    .to_owned(),
                args: block.get("input").cloned().unwrap_or_else(|| json!({})),
            }),
            _ => {}
        }
    }
    Ok(ChatResponse {
        text,
        tool_calls,
        usage: usage(v.get("usage")),
        ..ChatResponse::default()
    })
}

fn usage(u: Option<&Value>) -> Tokens {
    let n = |k: &str| {
        u.and_then(|u| u.get(k))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    Tokens {
        input: n("input_tokens") + n("cache_read_input_tokens") + n("cache_creation_input_tokens"),
        output: n("output_tokens"),
    }
}

enum Block {
    Text,
    Tool {
        id: String,
        name: String,
        json: String,
    },
    Other,
}

async fn read_stream(call: &Call<'_>, mut s: Stream<'_>) -> Result<ChatResponse, ProviderError> {
    let mut text = String::new();
    let mut blocks: Vec<Block> = Vec::new();
    let mut tokens = Tokens::default();
    let mut stopped = false;
    while let Some(event) = s.next().await? {
        let kind = event.event.clone().unwrap_or_default();
        if kind == "ping" {
            continue;
        }
        let v = http::event_json(call, &event)?;
        match v.get("type").and_then(Value::as_str).unwrap_or(&kind) {
            "message_start" => {
                tokens = usage(v.pointer("/message/usage"));
            }
            "content_block_start" => {
                let index = v.get("index").and_then(Value::as_u64).unwrap_or(0) as usize;
                let b = v.get("content_block").cloned().unwrap_or(Value::Null);
                let block = match b.get("type").and_then(Value::as_str) {
                    Some("text") => {
                        if let Some(t) = b.get("text").and_then(Value::as_str)
                            && !t.is_empty()
                        {
                            s.token();
                            text.push_str(t);
                        }
                        Block::Text
                    }
                    Some("tool_use") => {
                        s.token();
                        Block::Tool {
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
                            json: String::new(),
                        }
                    }
                    _ => Block::Other,
                };
                while blocks.len() < index {
                    blocks.push(Block::Other);
                }
                if blocks.len() == index {
                    blocks.push(block);
                } else {
                    blocks[index] = block;
                }
            }
            "content_block_delta" => {
                let index = v.get("index").and_then(Value::as_u64).unwrap_or(0) as usize;
                let delta = v.get("delta").cloned().unwrap_or(Value::Null);
                match (
                    delta.get("type").and_then(Value::as_str),
                    blocks.get_mut(index),
                ) {
                    (Some("text_delta"), _) => {
                        s.token();
                        text.push_str(delta.get("text").and_then(Value::as_str).unwrap_or(""));
                    }
                    (Some("input_json_delta"), Some(Block::Tool { json, .. })) => {
                        json.push_str(
                            delta
                                .get("partial_json")
                                .and_then(Value::as_str)
                                .unwrap_or(""),
                        );
                    }
                    (Some("input_json_delta"), _) => {
                        return Err(
                            s.malformed("input_json_delta for a block that is not tool_use")
                        );
                    }
                    _ => {}
                }
            }
            "message_delta" => {
                if let Some(out) = v.pointer("/usage/output_tokens").and_then(Value::as_u64) {
                    tokens.output = out;
                }
            }
            "message_stop" => {
                stopped = true;
                break;
            }
            "error" => {
                let message = error_message(&v).unwrap_or_else(|| event.data.clone());
                return Err(call.err(stream_error_kind(&v), message));
            }
            _ => {}
        }
    }
    if !stopped {
        return Err(call.err(ErrorKind::Network, "the stream ended before `message_stop`"));
    }
    let tool_calls = blocks
        .into_iter()
        .filter_map(|b| match b {
            Block::Tool { id, name, json } => Some(ToolCall {
                id,
                name,
                args: http::parse_arguments(&json),
            }),
            _ => None,
        })
        .collect();
    Ok(s.timing.response(text, tool_calls, tokens))
}
