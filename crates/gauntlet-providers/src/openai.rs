//! OpenAI chat completions, for OpenAI itself, Azure OpenAI and every compatible server (vLLM,
//! Ollama, LM Studio, `gauntlet mock-server`).

use gauntlet_core::model::{AzureAuth, Provider as ProviderDef, ProviderKind};
use gauntlet_core::result::Tokens;
use serde_json::{Map, Value, json};

use crate::http::{self, Call, Redactor, Stream};
use crate::{
    BoxFuture, CallContext, ChatRequest, ChatResponse, Provider, ProviderError, Role, ToolCall,
};

pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

pub struct OpenAi {
    def: ProviderDef,
    host: gauntlet_sandbox::Host,
    redactor: Redactor,
}

impl OpenAi {
    pub fn new(def: ProviderDef, host: &gauntlet_sandbox::Host) -> OpenAi {
        OpenAi {
            host: host.clone(),
            redactor: Redactor::for_provider(&def),
            def,
        }
    }

    fn url(&self, model: &str) -> String {
        let base = self.def.base_url.as_deref().unwrap_or(DEFAULT_BASE_URL);
        match (&self.def.kind, &self.def.azure) {
            (ProviderKind::AzureOpenai, Some(azure)) => format!(
                "{}?api-version={}",
                http::join(
                    base,
                    &format!(
                        "openai/deployments/{}/chat/completions",
                        azure.deployment.as_deref().unwrap_or(model)
                    )
                ),
                azure.api_version
            ),
            _ => http::join(base, "chat/completions"),
        }
    }
}

/// The request body of a chat completion. `official` (api.openai.com) sends the output limit
/// as `max_completion_tokens`, which reasoning models require; compatible servers and Azure get
/// the older `max_tokens`, which they all accept.
pub fn body(req: &ChatRequest<'_>, stream: bool, with_model: bool, official: bool) -> Value {
    let mut messages = Vec::with_capacity(req.messages.len() + 1);
    if let Some(system) = &req.agent.system {
        messages.push(json!({"role": "system", "content": system}));
    }
    for m in req.messages {
        messages.push(match m.role {
            Role::User => json!({"role": "user", "content": m.content}),
            Role::Assistant if m.tool_calls.is_empty() => {
                json!({"role": "assistant", "content": m.content})
            }
            Role::Assistant => json!({
                "role": "assistant",
                "content": if m.content.is_empty() { Value::Null } else { Value::String(m.content.clone()) },
                "tool_calls": m.tool_calls.iter().map(|c| json!({
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.args.to_string()},
                })).collect::<Vec<_>>(),
            }),
            Role::Tool => json!({
                "role": "tool",
                "tool_call_id": m.tool_call_id,
                "content": m.content,
            }),
        });
    }
    let mut body = Map::new();
    if with_model {
        body.insert("model".into(), json!(req.model));
    }
    body.insert("messages".into(), Value::Array(messages));
    if !req.tools.is_empty() {
        body.insert(
            "tools".into(),
            req.tools
                .iter()
                .map(|t| {
                    json!({
                        "type": "function",
                        "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
                    })
                })
                .collect(),
        );
    }
    if let Some(t) = req.agent.temperature {
        body.insert("temperature".into(), json!(t));
    }
    if let Some(n) = req.agent.max_output_tokens {
        let key = if official {
            "max_completion_tokens"
        } else {
            "max_tokens"
        };
        body.insert(key.into(), json!(n));
    }
    if stream {
        body.insert("stream".into(), json!(true));
        body.insert("stream_options".into(), json!({"include_usage": true}));
    }
    Value::Object(body)
}

/// `{"error": {"message": ...}}`, the error body of OpenAI and Azure.
pub fn error_message(v: &Value) -> Option<String> {
    let e = v.get("error")?;
    let message = e
        .get("message")
        .and_then(Value::as_str)
        .or_else(|| e.as_str())?;
    Some(match e.get("code").and_then(Value::as_str) {
        Some(code) => format!("{message} ({code})"),
        None => message.to_owned(),
    })
}

impl Provider for OpenAi {
    fn complete<'a>(
        &'a self,
        req: ChatRequest<'a>,
        _ctx: &'a mut CallContext,
    ) -> BoxFuture<'a, Result<ChatResponse, ProviderError>> {
        Box::pin(async move {
            let call = Call::new(&self.def, &self.host, &self.redactor, error_message);
            let azure = self.def.kind == ProviderKind::AzureOpenai;
            let mut request = self.host.http().post(self.url(req.model)).json(&body(
                &req,
                self.def.stream,
                !azure,
                !azure && self.def.base_url.is_none(),
            ));
            if let Some(key) = &self.def.api_key {
                request = match self.def.azure.as_ref().map(|a| a.auth) {
                    Some(AzureAuth::ApiKey) => request.header("api-key", key.expose()),
                    _ => request.bearer_auth(key.expose()),
                };
            }
            request = http::with_headers(request, &self.def);
            let (response, started) = call.send(request).await?;
            let mut r = if self.def.stream {
                read_stream(&call, Stream::new(&call, response, started)).await?
            } else {
                parse(&call, &call.json(response).await?)?
            };
            crate::estimate_usage(&req, &mut r);
            Ok(r)
        })
    }
}

/// A whole (non-streamed) completion.
pub(crate) fn parse(call: &Call<'_>, v: &Value) -> Result<ChatResponse, ProviderError> {
    let message = v
        .pointer("/choices/0/message")
        .ok_or_else(|| call.malformed("no `choices[0].message`"))?;
    let text = message
        .get("content")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let mut tool_calls = Vec::new();
    for c in message
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let f = c
            .get("function")
            .ok_or_else(|| call.malformed("a tool call without `function`"))?;
        tool_calls.push(ToolCall {
            id: c
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            name: f
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| call.malformed("a tool call without a name"))?
                .to_owned(),
            args: http::parse_arguments(f.get("arguments").and_then(Value::as_str).unwrap_or("")),
        });
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
        input: n("prompt_tokens"),
        output: n("completion_tokens"),
    }
}

/// A streamed completion: `data:` chunks of deltas, usage in the last chunk, then `[DONE]`.
async fn read_stream(call: &Call<'_>, mut s: Stream<'_>) -> Result<ChatResponse, ProviderError> {
    let mut text = String::new();
    // (id, name, argument text) by the delta's `index`.
    let mut calls: Vec<(String, String, String)> = Vec::new();
    let mut tokens = Tokens::default();
    let mut done = false;
    while let Some(event) = s.next().await? {
        if event.data.trim() == "[DONE]" {
            done = true;
            break;
        }
        let v = http::event_json(call, &event)?;
        if let Some(message) = error_message(&v) {
            return Err(call.err(gauntlet_core::model::ErrorKind::ServerError, message));
        }
        if let Some(u) = v.get("usage").filter(|u| !u.is_null()) {
            tokens = usage(Some(u));
        }
        let Some(delta) = v.pointer("/choices/0/delta") else {
            continue;
        };
        if let Some(t) = delta.get("content").and_then(Value::as_str)
            && !t.is_empty()
        {
            s.token();
            text.push_str(t);
        }
        for c in delta
            .get("tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            s.token();
            let index = c.get("index").and_then(Value::as_u64).unwrap_or(0) as usize;
            if calls.len() <= index {
                calls.resize(index + 1, Default::default());
            }
            let slot = &mut calls[index];
            if let Some(id) = c.get("id").and_then(Value::as_str) {
                slot.0 = id.to_owned();
            }
            if let Some(name) = c.pointer("/function/name").and_then(Value::as_str) {
                slot.1.push_str(name);
            }
            if let Some(args) = c.pointer("/function/arguments").and_then(Value::as_str) {
                slot.2.push_str(args);
            }
        }
    }
    if !done {
        return Err(call.err(
            gauntlet_core::model::ErrorKind::Network,
            "the stream ended without `data: [DONE]`",
        ));
    }
    let tool_calls = calls
        .into_iter()
        .filter(|c| !c.1.is_empty())
        .map(|(id, name, args)| ToolCall {
            id,
            name,
            args: http::parse_arguments(&args),
        })
        .collect();
    Ok(s.timing.response(text, tool_calls, tokens))
}
