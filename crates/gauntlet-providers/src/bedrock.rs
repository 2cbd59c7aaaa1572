//! AWS Bedrock's Converse and ConverseStream APIs, signed with SigV4 (credentials from the
//! standard environment variables or the shared profile files), or with a Bedrock API key as a
//! bearer token when `api_key` is set.

use std::sync::OnceLock;
use std::time::SystemTime;

use gauntlet_aws::eventstream;
use gauntlet_core::model::{ErrorKind, Provider as ProviderDef};
use gauntlet_core::result::Tokens;
use serde_json::{Map, Value, json};

use crate::http::{self, Call, Redactor};
use crate::{
    BoxFuture, CallContext, ChatRequest, ChatResponse, Provider, ProviderError, Role, ToolCall,
};

pub struct Bedrock {
    def: ProviderDef,
    host: gauntlet_sandbox::Host,
    redactor: Redactor,
    credentials: OnceLock<gauntlet_aws::Credentials>,
}

impl Bedrock {
    pub fn new(def: ProviderDef, host: &gauntlet_sandbox::Host) -> Bedrock {
        Bedrock {
            host: host.clone(),
            redactor: Redactor::for_provider(&def),
            def,
            credentials: OnceLock::new(),
        }
    }

    /// A Bedrock provider signing with the given credentials instead of looking them up.
    pub fn with_credentials(
        def: ProviderDef,
        host: &gauntlet_sandbox::Host,
        credentials: gauntlet_aws::Credentials,
    ) -> Bedrock {
        let b = Bedrock::new(def, host);
        let _ = b.credentials.set(credentials);
        b
    }

    fn profile(&self) -> Option<&str> {
        self.def.aws.as_ref().and_then(|a| a.profile.as_deref())
    }

    fn region(&self) -> Option<String> {
        self.def
            .aws
            .as_ref()
            .and_then(|a| a.region.clone())
            .or_else(|| {
                if self.host.caps().operator {
                    gauntlet_aws::region(self.profile())
                } else {
                    None
                }
            })
    }

    fn credentials(&self, call: &Call<'_>) -> Result<&gauntlet_aws::Credentials, ProviderError> {
        if let Some(c) = self.credentials.get() {
            return Ok(c);
        }
        // The server's own AWS credentials (its environment and ~/.aws) are not a tenant's.
        let c = if self.host.caps().operator {
            gauntlet_aws::credentials(self.profile())
        } else {
            gauntlet_aws::credentials_from(&|_| None, self.profile())
        }
        .map_err(|e| call.err(ErrorKind::Auth, e.to_string()))?;
        // Keep secrets out of every message, as for configured ones.
        Ok(self.credentials.get_or_init(|| c))
    }
}

/// A model id in a URL path: everything but unreserved characters percent-encoded
/// (`anthropic.claude-3-haiku-20240307-v1:0` → `...-v1%3A0`).
pub fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The Converse request body.
pub fn body(req: &ChatRequest<'_>) -> Value {
    let mut messages: Vec<Value> = Vec::new();
    for m in req.messages {
        match m.role {
            Role::User => messages.push(json!({"role": "user", "content": [{"text": m.content}]})),
            Role::Assistant => {
                let mut content = Vec::new();
                if !m.content.is_empty() {
                    content.push(json!({"text": m.content}));
                }
                for c in &m.tool_calls {
                    content.push(
                        json!({"toolUse": {"toolUseId": c.id, "name": c.name, "input": c.args}}),
                    );
                }
                messages.push(json!({"role": "assistant", "content": content}));
            }
            Role::Tool => {
                let parsed = serde_json::from_str::<Value>(&m.content).ok();
                let is_error = parsed
                    .as_ref()
                    .and_then(Value::as_object)
                    .is_some_and(|o| o.len() == 1 && o.contains_key("error"));
                let content = match parsed {
                    Some(v @ Value::Object(_)) => json!([{"json": v}]),
                    _ => json!([{"text": m.content}]),
                };
                let block = json!({"toolResult": {
                    "toolUseId": m.tool_call_id,
                    "content": content,
                    "status": if is_error { "error" } else { "success" },
                }});
                http::push_tool_result(
                    &mut messages,
                    "content",
                    |b| b.get("toolResult").is_some(),
                    block,
                );
            }
        }
    }
    let mut body = Map::new();
    body.insert("messages".into(), Value::Array(messages));
    if let Some(system) = &req.agent.system {
        body.insert("system".into(), json!([{"text": system}]));
    }
    let mut config = Map::new();
    if let Some(n) = req.agent.max_output_tokens {
        config.insert("maxTokens".into(), json!(n));
    }
    if let Some(t) = req.agent.temperature {
        config.insert("temperature".into(), json!(t));
    }
    if !config.is_empty() {
        body.insert("inferenceConfig".into(), Value::Object(config));
    }
    if !req.tools.is_empty() {
        body.insert(
            "toolConfig".into(),
            json!({"tools": req.tools.iter().map(|t| json!({"toolSpec": {
                "name": t.name,
                "description": t.description,
                "inputSchema": {"json": t.parameters},
            }})).collect::<Vec<_>>()}),
        );
    }
    Value::Object(body)
}

/// `{"message": "..."}` (or `Message`), Bedrock's error body.
pub fn error_message(v: &Value) -> Option<String> {
    v.get("message")
        .or_else(|| v.get("Message"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// The class of a Bedrock exception named in a stream or an `x-amzn-ErrorType` header.
pub fn exception_kind(name: &str) -> ErrorKind {
    let name = name.split(':').next().unwrap_or(name).to_ascii_lowercase();
    match name.as_str() {
        "throttlingexception" | "toomanyrequestsexception" => ErrorKind::RateLimit,
        "accessdeniedexception" | "unrecognizedclientexception" => ErrorKind::Auth,
        "resourcenotfoundexception" => ErrorKind::NotFound,
        "modeltimeoutexception" => ErrorKind::Timeout,
        "validationexception" => ErrorKind::InvalidRequest,
        _ => ErrorKind::ServerError,
    }
}

impl Provider for Bedrock {
    fn complete<'a>(
        &'a self,
        req: ChatRequest<'a>,
        _ctx: &'a mut CallContext,
    ) -> BoxFuture<'a, Result<ChatResponse, ProviderError>> {
        Box::pin(async move {
            let call = Call {
                refine: Some(|h| {
                    h.get("x-amzn-errortype")
                        .and_then(|v| v.to_str().ok())
                        .map(exception_kind)
                }),
                ..Call::new(&self.def, &self.host, &self.redactor, error_message)
            };
            let base = match (&self.def.base_url, self.region()) {
                (Some(b), _) => b.clone(),
                (None, Some(region)) => format!("https://bedrock-runtime.{region}.amazonaws.com"),
                (None, None) => {
                    return Err(call.err(
                        ErrorKind::InvalidRequest,
                        "no AWS region: set `region`, AWS_REGION, or a region in the profile",
                    ));
                }
            };
            let action = if self.def.stream {
                "converse-stream"
            } else {
                "converse"
            };
            let url = http::join(
                &base,
                &format!("model/{}/{action}", encode_segment(req.model)),
            );
            let payload = serde_json::to_vec(&body(&req))
                .map_err(|e| call.err(ErrorKind::InvalidRequest, e.to_string()))?;
            let mut headers: Vec<(String, String)> =
                vec![("content-type".into(), "application/json".into())];
            if let Some(key) = &self.def.api_key {
                headers.push(("authorization".into(), format!("Bearer {}", key.expose())));
            } else {
                let creds = self.credentials(&call)?;
                let region = self.region().unwrap_or_else(|| "us-east-1".to_owned());
                let signed = gauntlet_aws::sign(
                    "POST",
                    &url,
                    &headers,
                    &payload,
                    &gauntlet_aws::SigningParams {
                        credentials: creds,
                        region: &region,
                        service: "bedrock",
                        time: SystemTime::now(),
                    },
                )
                .map_err(|e| call.err(ErrorKind::InvalidRequest, e.to_string()))?;
                headers.extend(signed);
            }
            let mut request = self.host.http().post(&url).body(payload);
            for (k, v) in &headers {
                request = request.header(k, v);
            }
            request = http::with_headers(request, &self.def);
            let (response, started) = call.send(request).await?;
            if self.def.stream {
                read_stream(&call, response, started).await
            } else {
                parse(&call, &call.json(response).await?)
            }
        })
    }
}

pub(crate) fn parse(call: &Call<'_>, v: &Value) -> Result<ChatResponse, ProviderError> {
    let content = v
        .pointer("/output/message/content")
        .and_then(Value::as_array)
        .ok_or_else(|| call.malformed("no `output.message.content`"))?;
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    for block in content {
        if let Some(t) = block.get("text").and_then(Value::as_str) {
            text.push_str(t);
        }
        if let Some(u) = block.get("toolUse") {
            tool_calls.push(ToolCall {
                id: u
                    .get("toolUseId")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                name: u
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or_else(|| call.malformed("a toolUse block without a name"))?
                    .to_owned(),
                args: u.get("input").cloned().unwrap_or_else(|| json!({})),
            });
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
        input: n("inputTokens"),
        output: n("outputTokens"),
    }
}

async fn read_stream(
    call: &Call<'_>,
    mut response: reqwest::Response,
    started: std::time::Instant,
) -> Result<ChatResponse, ProviderError> {
    let mut decoder = eventstream::Decoder::default();
    let mut text = String::new();
    // (id, name, input JSON text) by content block index.
    let mut tools: Vec<Option<(String, String, String)>> = Vec::new();
    let mut tokens = Tokens::default();
    let mut timing = http::Timing::new(started);
    let mut stopped = false;
    loop {
        let message = match decoder.next() {
            Err(e) => return Err(call.malformed(&format!("event stream: {e}"))),
            Ok(Some(m)) => m,
            Ok(None) => match response.chunk().await {
                Ok(Some(chunk)) => {
                    decoder.push(&chunk);
                    continue;
                }
                Ok(None) => break,
                Err(e) => return Err(call.transport_error(&e)),
            },
        };
        let payload: Value = serde_json::from_slice(&message.payload)
            .map_err(|e| call.malformed(&format!("event payload: {e}")))?;
        if message.header_str(":message-type") == Some("exception") {
            let name = message.header_str(":exception-type").unwrap_or("exception");
            return Err(call.err(
                exception_kind(name),
                format!(
                    "{name}: {}",
                    error_message(&payload).unwrap_or_else(|| payload.to_string())
                ),
            ));
        }
        let index = payload
            .get("contentBlockIndex")
            .and_then(Value::as_u64)
            .unwrap_or(0) as usize;
        match message.header_str(":event-type").unwrap_or("") {
            "contentBlockStart" => {
                if let Some(u) = payload.pointer("/start/toolUse") {
                    timing.token();
                    if tools.len() <= index {
                        tools.resize(index + 1, None);
                    }
                    tools[index] = Some((
                        u.get("toolUseId")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned(),
                        u.get("name")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned(),
                        String::new(),
                    ));
                }
            }
            "contentBlockDelta" => {
                if let Some(t) = payload.pointer("/delta/text").and_then(Value::as_str) {
                    timing.token();
                    text.push_str(t);
                }
                if let Some(input) = payload
                    .pointer("/delta/toolUse/input")
                    .and_then(Value::as_str)
                {
                    match tools.get_mut(index) {
                        Some(Some(t)) => t.2.push_str(input),
                        _ => return Err(call.malformed("toolUse delta before its block start")),
                    }
                }
            }
            "messageStop" => stopped = true,
            "metadata" => tokens = usage(payload.get("usage")),
            _ => {}
        }
    }
    if !decoder.is_empty() || !stopped {
        return Err(call.err(
            ErrorKind::Network,
            "the event stream ended before `messageStop`",
        ));
    }
    let tool_calls = tools
        .into_iter()
        .flatten()
        .map(|(id, name, input)| ToolCall {
            id,
            name,
            args: http::parse_arguments(&input),
        })
        .collect();
    Ok(timing.response(text, tool_calls, tokens))
}
