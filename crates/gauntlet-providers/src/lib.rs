//! Model providers behind one trait, with token counting and pricing.
//!
//! The engine sends a [`ChatRequest`] and gets a [`ChatResponse`] or a classified
//! [`ProviderError`]; it knows nothing about wire formats. This crate has the mock provider
//! used for offline runs; adapters for remote APIs implement the same trait.

pub mod mock;
pub mod pricing;
pub mod tokens;

use std::future::Future;
use std::pin::Pin;

use gauntlet_core::model::{Agent, ErrorKind, Project, ProviderKind};
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

/// One model call: the conversation so far and what the model may do.
pub struct ChatRequest<'a> {
    pub agent: &'a Agent,
    pub model: &'a str,
    pub messages: &'a [Message],
    /// The model call's number within the agent turn, starting at 1.
    pub turn: u32,
    /// The case's `vars`, visible to mock templates.
    pub vars: &'a Value,
}

#[derive(Clone, Debug, PartialEq)]
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
}

impl CallContext {
    pub fn new(rng: ChaCha8Rng) -> CallContext {
        CallContext {
            rng,
            rule_hits: Default::default(),
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

/// The provider behind an agent: the mock for `type: mock`; for provider types whose adapter
/// is not part of this build, a provider that fails every call with a clear `unsupported`
/// error (never a fake answer).
pub fn for_agent(project: &Project, agent: &Agent) -> Box<dyn Provider> {
    match project.providers.get(&agent.provider).map(|p| p.kind) {
        Some(ProviderKind::Mock) => Box::new(mock::MockProvider),
        Some(kind) => Box::new(Unavailable(kind)),
        None => Box::new(Unavailable(ProviderKind::Mock)),
    }
}

struct Unavailable(ProviderKind);

impl Provider for Unavailable {
    fn complete<'a>(
        &'a self,
        _req: ChatRequest<'a>,
        _ctx: &'a mut CallContext,
    ) -> BoxFuture<'a, Result<ChatResponse, ProviderError>> {
        let kind = self.0;
        Box::pin(async move {
            Err(ProviderError::new(
                ErrorKind::Unsupported,
                format!(
                    "provider type `{}` is not available in this build yet; only `mock` runs",
                    kind.as_str()
                ),
            ))
        })
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
