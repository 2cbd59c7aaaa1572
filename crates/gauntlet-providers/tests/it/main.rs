#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Provider adapters against local servers speaking each vendor's wire format.

mod bedrock;
mod errors;
mod external;
mod resilience;
mod server;
mod wire;

use gauntlet_core::model::{
    Agent, ErrorKind, Provider as ProviderDef, ProviderKind, RetryPolicy, Secret,
};
use gauntlet_providers::{
    CallContext, ChatRequest, ChatResponse, Message, Provider, ProviderError, Role, ToolCall,
    ToolSpec,
};
use rand::SeedableRng;
use serde_json::{Value, json};

pub const KEY: &str = "sk-test-0123456789abcdef";

pub fn def(kind: ProviderKind, base_url: &str) -> ProviderDef {
    let mut d = ProviderDef::new("primary", kind);
    d.base_url = Some(base_url.to_owned());
    d.api_key = Some(Secret::new("${secret:TEST_KEY}", KEY));
    d
}

pub fn agent() -> Agent {
    Agent {
        name: "support".into(),
        provider: "primary".into(),
        model: None,
        system: Some("Be brief.".into()),
        tools: vec!["lookup_order".into()],
        mcp: Vec::new(),
        contract: None,
        mock: None,
        max_turns: 4,
        temperature: Some(0.2),
        max_output_tokens: Some(100),
        retry: RetryPolicy::default(),
        timeout_ms: None,
    }
}

/// A user question, the model's tool call, and the tool's result.
pub fn conversation() -> Vec<Message> {
    vec![
        Message::user("Where is order 42?"),
        Message {
            role: Role::Assistant,
            content: String::new(),
            tool_calls: vec![ToolCall {
                id: "call_1".into(),
                name: "lookup_order".into(),
                args: json!({"id": 42}),
            }],
            tool_name: None,
            tool_call_id: None,
        },
        Message {
            role: Role::Tool,
            content: r#"{"status":"shipped"}"#.into(),
            tool_calls: Vec::new(),
            tool_name: Some("lookup_order".into()),
            tool_call_id: Some("call_1".into()),
        },
    ]
}

pub fn tools() -> Vec<ToolSpec> {
    vec![ToolSpec {
        name: "lookup_order".into(),
        description: "Find an order by id".into(),
        parameters: json!({"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]}),
    }]
}

pub async fn complete(
    p: &dyn Provider,
    model: &str,
    messages: &[Message],
) -> Result<ChatResponse, ProviderError> {
    let agent = agent();
    let tools = tools();
    let mut ctx = CallContext::new(rand_chacha::ChaCha8Rng::seed_from_u64(1));
    p.complete(
        ChatRequest {
            agent: &agent,
            model,
            messages,
            tools: &tools,
            turn: 1,
            vars: &Value::Null,
        },
        &mut ctx,
    )
    .await
}

pub fn assert_kind(r: Result<ChatResponse, ProviderError>, kind: ErrorKind) -> ProviderError {
    match r {
        Ok(ok) => panic!("expected {kind:?}, got a response {ok:?}"),
        Err(e) => {
            assert_eq!(e.kind, kind, "{e}");
            assert!(
                !e.message.contains(KEY),
                "the key leaked into: {}",
                e.message
            );
            e
        }
    }
}
