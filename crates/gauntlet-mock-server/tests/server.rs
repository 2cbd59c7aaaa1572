#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The mock server through Gauntlet's own adapters: tool calls over both dialects, streaming,
//! and scripted errors arriving as the vendor's statuses with `Retry-After`.

use std::sync::Arc;

use gauntlet_core::model::{ErrorKind, Provider as ProviderDef, ProviderKind, Secret};
use gauntlet_providers::{CallContext, ChatRequest, Message, ToolSpec, adapter};
use rand::SeedableRng;
use serde_json::{Value, json};

const PROJECT: &str = r#"
providers:
  local: { type: mock }
tools:
  lookup: { parameters: { type: object }, mock: [{ return: { status: shipped } }] }
agents:
  clerk:
    provider: local
    tools: [lookup]
    mock:
      responses:
        - { when: { icontains: busy }, error: { kind: rate_limit, retry_after_ms: 2500, message: slow down } }
        - { when: { icontains: broken }, error: { kind: server_error } }
        - { when: { icontains: order }, tool_call: { name: lookup, args: { id: 42 } } }
        - { when: { after_tool: lookup }, text: "Order {{ tool_results.lookup.status }}." }
      echo: true
"#;

async fn start() -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("gauntlet.yaml"), PROJECT).unwrap();
    let validated = gauntlet_spec::load_project(dir.path(), &Default::default());
    let project = validated.project.expect("the test project is valid");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(gauntlet_mock_server::serve(
        listener,
        Arc::new(project),
        0,
        std::future::pending(),
    ));
    url
}

fn def(kind: ProviderKind, base: String, stream: bool) -> ProviderDef {
    let mut d = ProviderDef::new("p", kind);
    d.base_url = Some(base);
    d.api_key = Some(Secret::new("***", "k"));
    d.stream = stream;
    d
}

async fn ask(
    d: &ProviderDef,
    messages: &[Message],
) -> Result<gauntlet_providers::ChatResponse, gauntlet_providers::ProviderError> {
    let agent = gauntlet_core::model::Agent {
        name: "a".into(),
        provider: "p".into(),
        model: None,
        system: Some("sys".into()),
        tools: vec![],
        mcp: vec![],
        contract: None,
        mock: None,
        max_turns: 4,
        temperature: None,
        max_output_tokens: None,
        retry: Default::default(),
        timeout_ms: None,
    };
    let tools = [ToolSpec {
        name: "lookup".into(),
        description: String::new(),
        parameters: json!({"type": "object"}),
    }];
    let mut ctx = CallContext::new(rand_chacha::ChaCha8Rng::seed_from_u64(0));
    adapter(d)
        .complete(
            ChatRequest {
                agent: &agent,
                model: "clerk",
                messages,
                tools: &tools,
                turn: 1,
                vars: &Value::Null,
            },
            &mut ctx,
        )
        .await
}

#[tokio::test]
async fn round_trips_through_both_dialects_whole_and_streamed() {
    let url = start().await;
    for (kind, base) in [
        (ProviderKind::Openai, format!("{url}/v1")),
        (ProviderKind::Anthropic, url.clone()),
    ] {
        for stream in [false, true] {
            let d = def(kind, base.clone(), stream);
            let mut messages = vec![Message::user("where is my order?")];
            let r = ask(&d, &messages).await.unwrap();
            assert_eq!(r.tool_calls.len(), 1, "{kind:?} stream={stream}");
            assert_eq!(r.tool_calls[0].args, json!({"id": 42}));
            messages.push(Message {
                role: gauntlet_providers::Role::Assistant,
                content: r.text,
                tool_calls: r.tool_calls.clone(),
                tool_name: None,
                tool_call_id: None,
            });
            messages.push(Message {
                role: gauntlet_providers::Role::Tool,
                content: r#"{"status":"shipped"}"#.into(),
                tool_calls: vec![],
                tool_name: Some("lookup".into()),
                tool_call_id: Some(r.tool_calls[0].id.clone()),
            });
            let r = ask(&d, &messages).await.unwrap();
            assert_eq!(r.text, "Order shipped.", "{kind:?} stream={stream}");
            assert!(r.usage.input > 0 && r.usage.output > 0);
            assert_eq!(r.ttft_ms.is_some(), stream);
        }
    }
}

#[tokio::test]
async fn scripted_errors_arrive_as_vendor_errors() {
    let url = start().await;
    for (kind, base) in [
        (ProviderKind::Openai, format!("{url}/v1")),
        (ProviderKind::Anthropic, url.clone()),
    ] {
        let d = def(kind, base, false);
        let e = ask(&d, &[Message::user("are you busy?")])
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::RateLimit, "{kind:?}: {e}");
        assert_eq!(e.retry_after_ms, Some(2500));
        assert!(e.message.contains("slow down"), "{}", e.message);
        let e = ask(&d, &[Message::user("broken?")]).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::ServerError, "{kind:?}: {e}");
    }
    // Unknown models are 404 in the vendor's format.
    let client = reqwest::Client::new();
    let r = client
        .post(format!("{url}/v1/chat/completions"))
        .json(&json!({"model": "nobody", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "model_not_found");
    let r = client
        .post(format!("{url}/v1/messages"))
        .json(&json!({"model": "clerk", "max_tokens": 5, "messages": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400, "anthropic-version is required");
}
