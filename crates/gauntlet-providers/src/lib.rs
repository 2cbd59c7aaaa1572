//! Model providers behind one trait, with token counting and pricing.
//!
//! The engine sends a [`ChatRequest`] and gets a [`ChatResponse`] or a classified
//! [`ProviderError`]; it knows nothing about wire formats. Adapters: the mock (offline runs),
//! OpenAI-compatible and Azure OpenAI, Anthropic, Gemini, Bedrock, and external agents over
//! HTTP or a child process. [`Registry`] puts each behind its adaptive limiter and circuit
//! breaker and routes an agent's calls through its fallback chain.

pub mod anthropic;
pub mod bedrock;
pub mod external;
pub mod gemini;
pub mod http;
pub mod mock;
pub mod openai;
pub mod pricing;
pub mod resilience;
pub mod tokens;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use gauntlet_core::model::{Agent, ErrorKind, Project, Provider as ProviderDef, ProviderKind};
use gauntlet_core::result::Tokens;
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    User,
    Assistant,
    Tool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub args: Value,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub role: Role,
    pub content: String,
    /// Calls requested by an assistant message.
    pub tool_calls: Vec<ToolCall>,
    /// For tool messages: the tool that produced this result.
    pub tool_name: Option<String>,
    pub tool_call_id: Option<String>,
}

impl Message {
    pub fn user(content: impl Into<String>) -> Message {
        Message {
            role: Role::User,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_name: None,
            tool_call_id: None,
        }
    }
}

/// A tool as the model sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    /// JSON Schema of the arguments.
    pub parameters: Value,
}

/// One model call: the conversation so far and what the model may do.
pub struct ChatRequest<'a> {
    pub agent: &'a Agent,
    pub model: &'a str,
    pub messages: &'a [Message],
    /// The tools the model may call.
    pub tools: &'a [ToolSpec],
    /// The model call's number within the agent turn, starting at 1.
    pub turn: u32,
    /// The case's `vars`, visible to mock templates.
    pub vars: &'a Value,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChatResponse {
    pub text: String,
    pub tool_calls: Vec<ToolCall>,
    pub usage: Tokens,
    /// Latency of the call as the provider reports it (the mock reports its simulated delay,
    /// so that seeded runs reproduce exactly); `None` lets the engine measure wall time.
    pub latency_ms: Option<f64>,
    /// Time to the first token when the response was streamed; `None` otherwise (the first
    /// token then arrives with the whole response).
    pub ttft_ms: Option<f64>,
    /// Output tokens per second after the first token, for streamed responses.
    pub tokens_per_s: Option<f64>,
    /// The fallback provider that answered, and its model, when it was not the agent's own.
    pub served_by: Option<(String, String)>,
    /// Tool calls an external agent reports having made itself (recorded, not executed).
    pub reported_tool_calls: Vec<ReportedToolCall>,
}

/// A tool call made inside an external agent.
#[derive(Clone, Debug, PartialEq)]
pub struct ReportedToolCall {
    pub name: String,
    pub args: Value,
    pub result: Option<Value>,
}

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{kind}: {message}", kind = kind.as_str())]
pub struct ProviderError {
    pub kind: ErrorKind,
    pub message: String,
    pub retry_after_ms: Option<u64>,
    /// As for responses: the provider's own latency figure, if it has one.
    pub latency_ms: Option<f64>,
}

impl ProviderError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> ProviderError {
        ProviderError {
            kind,
            message: message.into(),
            retry_after_ms: None,
            latency_ms: None,
        }
    }
}

/// Mutable state of one step (one agent turn): the seeded RNG and per-rule counters.
pub struct CallContext {
    pub rng: ChaCha8Rng,
    pub rule_hits: std::collections::HashMap<usize, u32>,
    /// State an adapter keeps across the model calls of one step (a process agent's
    /// conversation); dropped when the step ends.
    pub session: Option<Box<dyn std::any::Any + Send>>,
}

impl CallContext {
    pub fn new(rng: ChaCha8Rng) -> CallContext {
        CallContext {
            rng,
            rule_hits: Default::default(),
            session: None,
        }
    }
}

pub trait Provider: Send + Sync {
    fn complete<'a>(
        &'a self,
        req: ChatRequest<'a>,
        ctx: &'a mut CallContext,
    ) -> BoxFuture<'a, Result<ChatResponse, ProviderError>>;
}

/// One guarded adapter per provider definition, shared by every agent that uses it.
pub struct Registry {
    guarded: std::collections::HashMap<String, Arc<resilience::Guarded>>,
}

impl Registry {
    /// The registry of the operator's own runs (no egress checks).
    pub fn new(project: &Project) -> Registry {
        Registry::on(project, &gauntlet_sandbox::Host::operator())
    }

    /// The registry of a run on `host`: every adapter's requests and processes go through it.
    pub fn on(project: &Project, host: &gauntlet_sandbox::Host) -> Registry {
        let guarded = project
            .providers
            .iter()
            .map(|(name, def)| {
                (
                    name.clone(),
                    Arc::new(resilience::Guarded {
                        name: name.clone(),
                        model: def.model.clone(),
                        inner: adapter_on(def, host),
                        limiter: Arc::new(resilience::Limiter::new(&def.limits)),
                        breaker: resilience::Breaker::new(&def.limits),
                        redactor: http::Redactor::for_provider(def),
                    }),
                )
            })
            .collect();
        Registry { guarded }
    }

    /// The agent's provider followed by its fallback chain (depth first, each provider once).
    pub fn for_agent(&self, project: &Project, agent: &Agent) -> Arc<dyn Provider> {
        let mut chain = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut queue = vec![agent.provider.as_str()];
        while let Some(name) = queue.first().copied() {
            queue.remove(0);
            if !seen.insert(name) {
                continue;
            }
            if let Some(g) = self.guarded.get(name) {
                chain.push(Arc::clone(g));
            }
            if let Some(def) = project.providers.get(name) {
                for (i, f) in def.fallback.iter().enumerate() {
                    queue.insert(i, f.as_str());
                }
            }
        }
        Arc::new(resilience::Routed { chain })
    }

    /// The limiter of a provider, for inspection.
    pub fn limiter(&self, provider: &str) -> Option<&resilience::Limiter> {
        self.guarded.get(provider).map(|g| g.limiter.as_ref())
    }
}

/// The adapter for a provider definition, on the operator's host.
pub fn adapter(def: &ProviderDef) -> Box<dyn Provider> {
    adapter_on(def, &gauntlet_sandbox::Host::operator())
}

/// The adapter for a provider definition whose requests and processes go through `host`.
pub fn adapter_on(def: &ProviderDef, host: &gauntlet_sandbox::Host) -> Box<dyn Provider> {
    match def.kind {
        ProviderKind::Mock => Box::new(mock::MockProvider),
        ProviderKind::Openai | ProviderKind::AzureOpenai => {
            Box::new(openai::OpenAi::new(def.clone(), host))
        }
        ProviderKind::Anthropic => Box::new(anthropic::Anthropic::new(def.clone(), host)),
        ProviderKind::Gemini => Box::new(gemini::Gemini::new(def.clone(), host)),
        ProviderKind::Bedrock => Box::new(bedrock::Bedrock::new(def.clone(), host)),
        ProviderKind::Http => Box::new(external::HttpAgent::new(def.clone(), host)),
        ProviderKind::Process => Box::new(external::ProcessAgent::new(def.clone(), host)),
    }
}

/// Fills in token counts a server did not report (some OpenAI-compatible servers send no
/// `usage`, external agents may not know theirs), counting with tiktoken as the mock does.
pub(crate) fn estimate_usage(req: &ChatRequest<'_>, r: &mut ChatResponse) {
    if r.usage.input == 0 && r.usage.output == 0 {
        r.usage.input = mock::prompt_tokens(req);
        r.usage.output = mock::completion_tokens(req.model, &r.text, &r.tool_calls);
    }
}

/// The model an agent calls: its own, else its provider's default, else `mock`.
pub fn model_of<'a>(project: &'a Project, agent: &'a Agent) -> &'a str {
    agent
        .model
        .as_deref()
        .or_else(|| {
            project
                .providers
                .get(&agent.provider)
                .and_then(|p| p.model.as_deref())
        })
        .unwrap_or("mock")
}
