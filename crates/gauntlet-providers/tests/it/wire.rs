//! Each adapter's request, exactly, and its reading of whole and streamed responses.

use gauntlet_core::model::{AzureAuth, AzureSettings, ProviderKind};
use gauntlet_providers::adapter;
use serde_json::{Value, json};

use crate::server::{Reply, Server};
use crate::{KEY, complete, conversation, def};

fn params() -> Value {
    json!({"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]})
}

fn sse(events: &[Value]) -> Vec<String> {
    events.iter().map(|e| format!("data: {e}\n\n")).collect()
}

fn named(events: &[(&str, Value)]) -> Vec<String> {
    events
        .iter()
        .map(|(n, e)| format!("event: {n}\ndata: {e}\n\n"))
        .collect()
}

#[tokio::test]
async fn openai_request_and_response() {
    let server = Server::start().await;
    server.reply(Reply::json(
        200,
        &json!({
            "id": "chatcmpl-abc", "object": "chat.completion", "created": 1_700_000_000u64,
            "model": "gpt-4o-mini-2024-07-18",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": null, "refusal": null,
                "tool_calls": [{"id": "call_9", "type": "function", "function": {"name": "lookup_order", "arguments": "{\"id\":7}"}}]},
                "logprobs": null, "finish_reason": "tool_calls"}],
            "usage": {"prompt_tokens": 82, "completion_tokens": 17, "total_tokens": 99,
                "prompt_tokens_details": {"cached_tokens": 0}, "completion_tokens_details": {"reasoning_tokens": 0}},
            "system_fingerprint": "fp_1"
        }),
    ));
    let p = adapter(&def(ProviderKind::Openai, &format!("{}/v1", server.url)));
    let r = complete(p.as_ref(), "gpt-4o-mini", &conversation())
        .await
        .unwrap();
    let req = server.last();
    assert_eq!(req.method, "POST");
    assert_eq!(req.target, "/v1/chat/completions");
    assert_eq!(
        req.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert_eq!(
        req.json(),
        json!({
            "model": "gpt-4o-mini",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Where is order 42?"},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "lookup_order", "arguments": "{\"id\":42}"}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "{\"status\":\"shipped\"}"},
            ],
            "tools": [{"type": "function", "function": {"name": "lookup_order", "description": "Find an order by id", "parameters": params()}}],
            "temperature": 0.2,
            "max_tokens": 100,
        })
    );
    assert_eq!(r.text, "");
    assert_eq!(r.tool_calls.len(), 1);
    assert_eq!(r.tool_calls[0].id, "call_9");
    assert_eq!(r.tool_calls[0].args, json!({"id": 7}));
    assert_eq!((r.usage.input, r.usage.output), (82, 17));
    assert_eq!(r.ttft_ms, None);
}

#[tokio::test]
async fn openai_stream_with_tool_call_deltas_and_usage() {
    let server = Server::start().await;
    let chunk = |delta: Value, finish: Value| {
        json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o",
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]})
    };
    let mut events = sse(&[
        chunk(json!({"role": "assistant", "content": ""}), Value::Null),
        chunk(json!({"content": "Checking"}), Value::Null),
        chunk(json!({"content": " now."}), Value::Null),
        chunk(
            json!({"tool_calls": [{"index": 0, "id": "call_a", "type": "function", "function": {"name": "lookup_order", "arguments": ""}}]}),
            Value::Null,
        ),
        chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"id\""}}]}),
            Value::Null,
        ),
        chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": ":42}"}}]}),
            Value::Null,
        ),
        chunk(json!({}), json!("tool_calls")),
        json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o", "choices": [],
            "usage": {"prompt_tokens": 30, "completion_tokens": 12, "total_tokens": 42}}),
    ]);
    events.push("data: [DONE]\n\n".into());
    server.reply(Reply::sse(&events, 40));
    let mut d = def(ProviderKind::Openai, &server.url);
    d.stream = true;
    let r = complete(adapter(&d).as_ref(), "gpt-4o", &conversation()[..1])
        .await
        .unwrap();
    let body = server.last().json();
    assert_eq!(body["stream"], json!(true));
    assert_eq!(body["stream_options"], json!({"include_usage": true}));
    assert_eq!(r.text, "Checking now.");
    assert_eq!(r.tool_calls[0].name, "lookup_order");
    assert_eq!(r.tool_calls[0].args, json!({"id": 42}));
    assert_eq!((r.usage.input, r.usage.output), (30, 12));
    let ttft = r.ttft_ms.expect("time to first token");
    assert!(
        ttft >= 70.0,
        "the first content came after two 40 ms gaps, got {ttft}"
    );
    assert!(r.tokens_per_s.unwrap() > 0.0);
}

#[tokio::test]
async fn azure_paths_keys_and_bearer_tokens() {
    for (auth, header, value) in [
        (AzureAuth::ApiKey, "api-key", KEY.to_owned()),
        (AzureAuth::Bearer, "authorization", format!("Bearer {KEY}")),
    ] {
        let server = Server::start().await;
        server.reply(Reply::json(
            200,
            &json!({"id": "x", "object": "chat.completion", "created": 1, "model": "gpt-4o",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}),
        ));
        let mut d = def(ProviderKind::AzureOpenai, &server.url);
        d.azure = Some(AzureSettings {
            deployment: Some("prod-4o".into()),
            api_version: "2024-10-21".into(),
            auth,
        });
        let r = complete(adapter(&d).as_ref(), "gpt-4o", &conversation()[..1])
            .await
            .unwrap();
        assert_eq!(r.text, "hi");
        let req = server.last();
        assert_eq!(
            req.target,
            "/openai/deployments/prod-4o/chat/completions?api-version=2024-10-21"
        );
        assert_eq!(req.header(header), Some(value.as_str()));
        assert!(
            req.json().get("model").is_none(),
            "Azure takes the deployment from the path"
        );
    }
}

#[tokio::test]
async fn anthropic_request_and_response() {
    let server = Server::start().await;
    server.reply(Reply::json(
        200,
        &json!({"id": "msg_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4-20250514",
            "content": [{"type": "text", "text": "It shipped."}, {"type": "tool_use", "id": "toolu_1", "name": "lookup_order", "input": {"id": 43}}],
            "stop_reason": "tool_use", "stop_sequence": null,
            "usage": {"input_tokens": 120, "output_tokens": 30, "cache_read_input_tokens": 5}}),
    ));
    let p = adapter(&def(ProviderKind::Anthropic, &server.url));
    let r = complete(p.as_ref(), "claude-sonnet-4-20250514", &conversation())
        .await
        .unwrap();
    let req = server.last();
    assert_eq!(req.target, "/v1/messages");
    assert_eq!(req.header("x-api-key"), Some(KEY));
    assert_eq!(req.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(
        req.json(),
        json!({
            "model": "claude-sonnet-4-20250514",
            "max_tokens": 100,
            "system": "Be brief.",
            "messages": [
                {"role": "user", "content": "Where is order 42?"},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "call_1", "name": "lookup_order", "input": {"id": 42}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": "{\"status\":\"shipped\"}"}]},
            ],
            "tools": [{"name": "lookup_order", "description": "Find an order by id", "input_schema": params()}],
            "temperature": 0.2,
        })
    );
    assert_eq!(r.text, "It shipped.");
    assert_eq!(r.tool_calls[0].id, "toolu_1");
    assert_eq!(r.tool_calls[0].args, json!({"id": 43}));
    assert_eq!((r.usage.input, r.usage.output), (125, 30));
}

#[tokio::test]
async fn anthropic_stream_events() {
    let server = Server::start().await;
    let events = named(&[
        (
            "message_start",
            json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant",
            "content": [], "model": "claude-sonnet-4", "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 472, "output_tokens": 2}}}),
        ),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ),
        ("ping", json!({"type": "ping"})),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Let me"}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": " check."}}),
        ),
        (
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        ),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "toolu_01", "name": "lookup_order", "input": {}}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": ""}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"id\": 4"}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "2}"}}),
        ),
        (
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 1}),
        ),
        (
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null}, "usage": {"output_tokens": 89}}),
        ),
        ("message_stop", json!({"type": "message_stop"})),
    ]);
    server.reply(Reply::sse(&events, 15));
    let mut d = def(ProviderKind::Anthropic, &server.url);
    d.stream = true;
    let r = complete(
        adapter(&d).as_ref(),
        "claude-sonnet-4",
        &conversation()[..1],
    )
    .await
    .unwrap();
    assert_eq!(server.last().json()["stream"], json!(true));
    assert_eq!(r.text, "Let me check.");
    assert_eq!(r.tool_calls[0].id, "toolu_01");
    assert_eq!(r.tool_calls[0].args, json!({"id": 42}));
    assert_eq!((r.usage.input, r.usage.output), (472, 89));
    assert!(r.ttft_ms.unwrap() >= 50.0, "{:?}", r.ttft_ms);
}

#[tokio::test]
async fn gemini_request_and_response() {
    let server = Server::start().await;
    server.reply(Reply::json(
        200,
        &json!({"candidates": [{"content": {"parts": [{"text": "Shipped. "}, {"functionCall": {"name": "lookup_order", "args": {"id": 9}}}], "role": "model"},
            "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 40, "candidatesTokenCount": 8, "totalTokenCount": 48},
            "modelVersion": "gemini-2.5-flash"}),
    ));
    let p = adapter(&def(
        ProviderKind::Gemini,
        &format!("{}/v1beta", server.url),
    ));
    let r = complete(p.as_ref(), "gemini-2.5-flash", &conversation())
        .await
        .unwrap();
    let req = server.last();
    assert_eq!(
        req.target,
        "/v1beta/models/gemini-2.5-flash:generateContent"
    );
    assert_eq!(req.header("x-goog-api-key"), Some(KEY));
    assert_eq!(
        req.json(),
        json!({
            "contents": [
                {"role": "user", "parts": [{"text": "Where is order 42?"}]},
                {"role": "model", "parts": [{"functionCall": {"name": "lookup_order", "args": {"id": 42}}}]},
                {"role": "user", "parts": [{"functionResponse": {"name": "lookup_order", "response": {"result": {"status": "shipped"}}}}]},
            ],
            "systemInstruction": {"parts": [{"text": "Be brief."}]},
            "tools": [{"functionDeclarations": [{"name": "lookup_order", "description": "Find an order by id", "parameters": params()}]}],
            "generationConfig": {"temperature": 0.2, "maxOutputTokens": 100},
        })
    );
    assert_eq!(r.text, "Shipped. ");
    assert_eq!(r.tool_calls[0].name, "lookup_order");
    assert_eq!(r.tool_calls[0].args, json!({"id": 9}));
    assert_eq!((r.usage.input, r.usage.output), (40, 8));
}

#[tokio::test]
async fn gemini_stream() {
    let server = Server::start().await;
    let chunk = |text: &str, usage: Option<Value>| {
        let mut v = json!({"candidates": [{"content": {"parts": [{"text": text}], "role": "model"}, "index": 0}], "modelVersion": "gemini-2.5-flash"});
        if let Some(u) = usage {
            v["usageMetadata"] = u;
        }
        v
    };
    let events = sse(&[
        chunk("Your order", None),
        chunk(
            " has shipped.",
            Some(json!({"promptTokenCount": 12, "candidatesTokenCount": 6, "totalTokenCount": 18})),
        ),
    ]);
    server.reply(Reply::sse(&events, 30));
    let mut d = def(ProviderKind::Gemini, &server.url);
    d.stream = true;
    let r = complete(
        adapter(&d).as_ref(),
        "gemini-2.5-flash",
        &conversation()[..1],
    )
    .await
    .unwrap();
    assert_eq!(
        server.last().target,
        "/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    );
    assert_eq!(r.text, "Your order has shipped.");
    assert_eq!((r.usage.input, r.usage.output), (12, 6));
    assert!(r.ttft_ms.unwrap() >= 25.0);
}

#[tokio::test]
async fn missing_usage_is_counted_locally() {
    let server = Server::start().await;
    server.reply(Reply::json(
        200,
        &json!({"id": "x", "object": "chat.completion", "created": 1, "model": "llama3",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "It shipped on Monday."}, "finish_reason": "stop"}]}),
    ));
    let p = adapter(&def(ProviderKind::Openai, &server.url));
    let r = complete(p.as_ref(), "gpt-4o", &conversation()[..1])
        .await
        .unwrap();
    assert!(r.usage.input > 5 && r.usage.output >= 5, "{:?}", r.usage);
}

#[test]
fn the_official_api_gets_max_completion_tokens() {
    let agent = crate::agent();
    let messages = conversation();
    let req = gauntlet_providers::ChatRequest {
        agent: &agent,
        model: "o3",
        messages: &messages,
        tools: &[],
        turn: 1,
        vars: &Value::Null,
    };
    let official = gauntlet_providers::openai::body(&req, false, true, true);
    assert_eq!(official["max_completion_tokens"], json!(100));
    assert!(official.get("max_tokens").is_none());
    let compatible = gauntlet_providers::openai::body(&req, false, true, false);
    assert_eq!(compatible["max_tokens"], json!(100));
}
