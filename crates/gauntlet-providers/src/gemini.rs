//! Google Gemini `generateContent` and `streamGenerateContent` (server-sent events):
//! `contents` with `parts`, `functionDeclarations`, `functionCall` / `functionResponse`.

use gauntlet_core::model::{ErrorKind, Provider as ProviderDef};
use gauntlet_core::result::Tokens;
use serde_json::{Map, Value, json};

use crate::http::{self, Call, Redactor, Stream};
use crate::{
    BoxFuture, CallContext, ChatRequest, ChatResponse, Provider, ProviderError, Role, ToolCall,
};

pub const DEFAULT_BASE_URL: &str = "https://generativelanguage.googleapis.com/v1beta";

pub struct Gemini {
    def: ProviderDef,
    host: gauntlet_sandbox::Host,
    redactor: Redactor,
}

impl Gemini {
    pub fn new(def: ProviderDef, host: &gauntlet_sandbox::Host) -> Gemini {
        Gemini {
            host: host.clone(),
            redactor: Redactor::for_provider(&def),
            def,
        }
    }
}

/// JSON Schema keywords Gemini's OpenAPI-subset schemas reject.
const UNSUPPORTED_SCHEMA_KEYS: [&str; 3] = ["$schema", "additionalProperties", "$id"];

fn schema(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !UNSUPPORTED_SCHEMA_KEYS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), schema(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(schema).collect()),
        other => other.clone(),
    }
}

/// The request body. Tool results become `functionResponse` parts of a user turn, their
/// `response` an object (`{"result": ...}` or `{"error": ...}`) as the API requires.
pub fn body(req: &ChatRequest<'_>) -> Value {
    let mut contents: Vec<Value> = Vec::new();
    for m in req.messages {
        match m.role {
            Role::User => contents.push(json!({"role": "user", "parts": [{"text": m.content}]})),
            Role::Assistant => {
                let mut parts = Vec::new();
                if !m.content.is_empty() {
                    parts.push(json!({"text": m.content}));
                }
                for c in &m.tool_calls {
                    parts.push(json!({"functionCall": {"name": c.name, "args": c.args}}));
                }
                contents.push(json!({"role": "model", "parts": parts}));
            }
            Role::Tool => {
                let value = serde_json::from_str::<Value>(&m.content)
                    .unwrap_or_else(|_| Value::String(m.content.clone()));
                let response = match value {
                    Value::Object(o) if o.contains_key("error") && o.len() == 1 => Value::Object(o),
                    other => json!({"result": other}),
                };
                let part = json!({"functionResponse": {
                    "name": m.tool_name.clone().unwrap_or_default(),
                    "response": response,
                }});
                http::push_tool_result(
                    &mut contents,
                    "parts",
                    |x| x.get("functionResponse").is_some(),
                    part,
                );
            }
        }
    }
    let mut body = Map::new();
    body.insert("contents".into(), Value::Array(contents));
    if let Some(system) = &req.agent.system {
        body.insert(
            "systemInstruction".into(),
            json!({"parts": [{"text": system}]}),
        );
    }
    if !req.tools.is_empty() {
        body.insert(
            "tools".into(),
            json!([{"functionDeclarations": req.tools.iter().map(|t| json!({
                "name": t.name,
                "description": t.description,
                "parameters": schema(&t.parameters),
            })).collect::<Vec<_>>()}]),
        );
    }
    let mut config = Map::new();
    if let Some(t) = req.agent.temperature {
        config.insert("temperature".into(), json!(t));
    }
    if let Some(n) = req.agent.max_output_tokens {
        config.insert("maxOutputTokens".into(), json!(n));
    }
    if !config.is_empty() {
        body.insert("generationConfig".into(), Value::Object(config));
    }
    Value::Object(body)
}

/// `{"error": {"code": 429, "message": ..., "status": "RESOURCE_EXHAUSTED"}}`.
pub fn error_message(v: &Value) -> Option<String> {
    let e = v.get("error")?;
    let message = e.get("message").and_then(Value::as_str)?;
    Some(match e.get("status").and_then(Value::as_str) {
        Some(s) => format!("{message} ({s})"),
        None => message.to_owned(),
    })
}

impl Provider for Gemini {
    fn complete<'a>(
        &'a self,
        req: ChatRequest<'a>,
        _ctx: &'a mut CallContext,
    ) -> BoxFuture<'a, Result<ChatResponse, ProviderError>> {
        Box::pin(async move {
            let call = Call::new(&self.def, &self.host, &self.redactor, error_message);
            let base = self.def.base_url.as_deref().unwrap_or(DEFAULT_BASE_URL);
            let url = if self.def.stream {
                http::join(
                    base,
                    &format!("models/{}:streamGenerateContent?alt=sse", req.model),
                )
            } else {
                http::join(base, &format!("models/{}:generateContent", req.model))
            };
            let mut request = self.host.http().post(url).json(&body(&req));
            if let Some(key) = &self.def.api_key {
                request = request.header("x-goog-api-key", key.expose());
            }
            request = http::with_headers(request, &self.def);
            let (response, started) = call.send(request).await?;
            let mut acc = Accumulated::default();
            if self.def.stream {
                let mut s = Stream::new(&call, response, started);
                let mut any = false;
                while let Some(event) = s.next().await? {
                    let v = http::event_json(&call, &event)?;
                    if let Some(message) = error_message(&v) {
                        return Err(call.err(ErrorKind::ServerError, message));
                    }
                    if acc.add(&call, &v)? {
                        s.token();
                    }
                    any = true;
                }
                if !any {
                    return Err(call.err(ErrorKind::Network, "the stream ended without a chunk"));
                }
                Ok(s.timing.response(acc.text, acc.calls, acc.tokens))
            } else {
                let v = call.json(response).await?;
                if v.get("candidates").is_none() {
                    return Err(call.malformed("no `candidates`"));
                }
                acc.add(&call, &v)?;
                Ok(acc.finish())
            }
        })
    }
}

#[derive(Default)]
struct Accumulated {
    text: String,
    calls: Vec<ToolCall>,
    tokens: Tokens,
}

impl Accumulated {
    /// Adds one response (or stream chunk); returns whether it carried content.
    fn add(&mut self, call: &Call<'_>, v: &Value) -> Result<bool, ProviderError> {
        if let Some(u) = v.get("usageMetadata") {
            let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
            self.tokens = Tokens {
                input: n("promptTokenCount"),
                output: n("candidatesTokenCount") + n("thoughtsTokenCount"),
            };
        }
        if let Some(reason) = v
            .pointer("/promptFeedback/blockReason")
            .and_then(Value::as_str)
        {
            return Err(call.err(
                ErrorKind::InvalidRequest,
                format!("the prompt was blocked ({reason})"),
            ));
        }
        let mut content = false;
        for part in v
            .pointer("/candidates/0/content/parts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(t) = part.get("text").and_then(Value::as_str) {
                if part.get("thought").and_then(Value::as_bool) == Some(true) {
                    continue;
                }
                content |= !t.is_empty();
                self.text.push_str(t);
            }
            if let Some(f) = part.get("functionCall") {
                content = true;
                self.calls.push(ToolCall {
                    id: f
                        .get("id")
                        .and_then(Value::as_str)
                        .map_or_else(|| format!("call_{}", self.calls.len() + 1), str::to_owned),
                    name: f
                        .get("name")
                        .and_then(Value::as_str)
                        .ok_or_else(|| call.malformed("a functionCall without a name"))?
                        .to_owned(),
                    args: f.get("args").cloned().unwrap_or_else(|| json!({})),
                });
            }
        }
        Ok(content)
    }

    fn finish(self) -> ChatResponse {
        ChatResponse {
            text: self.text,
            tool_calls: self.calls,
            usage: self.tokens,
            ..ChatResponse::default()
        }
    }
}
