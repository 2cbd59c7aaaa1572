//! Bedrock Converse and ConverseStream: the request, SigV4 as AWS would check it, and the
//! binary event stream.

use std::time::{Duration, SystemTime};

use gauntlet_core::model::{AwsSettings, ErrorKind, ProviderKind};
use gauntlet_providers::adapter;
use gauntlet_providers::bedrock::Bedrock;
use serde_json::json;

use crate::server::{Reply, Server};
use crate::{KEY, assert_kind, complete, conversation, def};

const MODEL: &str = "anthropic.claude-3-haiku-20240307-v1:0";

fn bedrock_def(url: &str) -> gauntlet_core::model::Provider {
    let mut d = def(ProviderKind::Bedrock, url);
    d.aws = Some(AwsSettings {
        region: Some("us-east-1".into()),
        profile: None,
    });
    d
}

fn converse_ok() -> serde_json::Value {
    json!({"output": {"message": {"role": "assistant", "content": [
            {"text": "Checking."},
            {"toolUse": {"toolUseId": "tooluse_1", "name": "lookup_order", "input": {"id": 5}}}]}},
        "stopReason": "tool_use",
        "usage": {"inputTokens": 50, "outputTokens": 12, "totalTokens": 62},
        "metrics": {"latencyMs": 321}})
}

#[tokio::test]
async fn converse_request_with_an_api_key() {
    let server = Server::start().await;
    server.reply(Reply::json(200, &converse_ok()));
    let p = adapter(&bedrock_def(&server.url));
    let r = complete(p.as_ref(), MODEL, &conversation()).await.unwrap();
    let req = server.last();
    assert_eq!(
        req.target,
        "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"
    );
    assert_eq!(
        req.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(
        req.json(),
        json!({
            "messages": [
                {"role": "user", "content": [{"text": "Where is order 42?"}]},
                {"role": "assistant", "content": [{"toolUse": {"toolUseId": "call_1", "name": "lookup_order", "input": {"id": 42}}}]},
                {"role": "user", "content": [{"toolResult": {"toolUseId": "call_1", "content": [{"json": {"status": "shipped"}}], "status": "success"}}]},
            ],
            "system": [{"text": "Be brief."}],
            "inferenceConfig": {"maxTokens": 100, "temperature": 0.2},
            "toolConfig": {"tools": [{"toolSpec": {"name": "lookup_order", "description": "Find an order by id",
                "inputSchema": {"json": {"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]}}}}]},
        })
    );
    assert_eq!(r.text, "Checking.");
    assert_eq!(r.tool_calls[0].id, "tooluse_1");
    assert_eq!(r.tool_calls[0].args, json!({"id": 5}));
    assert_eq!((r.usage.input, r.usage.output), (50, 12));
}

/// `20261122T081500Z` as a time.
fn amz_time(s: &str) -> SystemTime {
    let n = |a: usize, b: usize| s[a..b].parse::<i64>().unwrap();
    let (y, m, d) = (n(0, 4), n(4, 6), n(6, 8));
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    let secs = days * 86_400 + n(9, 11) * 3600 + n(11, 13) * 60 + n(13, 15);
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs as u64)
}

#[tokio::test]
async fn sigv4_signature_verifies_on_the_server_side() {
    let server = Server::start().await;
    server.reply(Reply::json(200, &converse_ok()));
    let mut d = bedrock_def(&server.url);
    d.api_key = None;
    let creds = gauntlet_aws::Credentials {
        access_key_id: "AKIDEXAMPLE".into(),
        secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
        session_token: Some("session-token-1".into()),
    };
    let p = Bedrock::with_credentials(d, &gauntlet_sandbox::Host::operator(), creds.clone());
    complete(&p, MODEL, &conversation()[..1]).await.unwrap();
    let req = server.last();
    let date = req.header("x-amz-date").unwrap().to_owned();
    assert_eq!(req.header("x-amz-security-token"), Some("session-token-1"));
    let auth = req.header("authorization").unwrap().to_owned();
    assert!(
        auth.starts_with(&format!(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/{}/us-east-1/bedrock/aws4_request, SignedHeaders=",
            &date[..8]
        )),
        "{auth}"
    );
    // Recompute the signature from what arrived, as AWS does.
    let url = format!("{}{}", server.url, req.target);
    let signed = gauntlet_aws::sign(
        "POST",
        &url,
        &[(
            "content-type".into(),
            req.header("content-type").unwrap().into(),
        )],
        &req.body,
        &gauntlet_aws::SigningParams {
            credentials: &creds,
            region: "us-east-1",
            service: "bedrock",
            time: amz_time(&date),
        },
    )
    .unwrap();
    let expected = signed.iter().find(|(k, _)| k == "authorization").unwrap();
    assert_eq!(expected.1, auth);
    assert!(!format!("{creds:?}").contains("EXAMPLEKEY"));
}

fn frame(event: &str, payload: serde_json::Value) -> Vec<u8> {
    gauntlet_aws::encode(
        &[
            (":event-type", event),
            (":content-type", "application/json"),
            (":message-type", "event"),
        ],
        payload.to_string().as_bytes(),
    )
}

#[tokio::test]
async fn converse_stream_events() {
    let server = Server::start().await;
    let frames = vec![
        frame("messageStart", json!({"role": "assistant"})),
        frame(
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"text": "Let me "}}),
        ),
        frame(
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"text": "look."}}),
        ),
        frame("contentBlockStop", json!({"contentBlockIndex": 0})),
        frame(
            "contentBlockStart",
            json!({"contentBlockIndex": 1, "start": {"toolUse": {"toolUseId": "t1", "name": "lookup_order"}}}),
        ),
        frame(
            "contentBlockDelta",
            json!({"contentBlockIndex": 1, "delta": {"toolUse": {"input": "{\"id\":"}}}),
        ),
        frame(
            "contentBlockDelta",
            json!({"contentBlockIndex": 1, "delta": {"toolUse": {"input": "42}"}}}),
        ),
        frame("contentBlockStop", json!({"contentBlockIndex": 1})),
        frame("messageStop", json!({"stopReason": "tool_use"})),
        frame(
            "metadata",
            json!({"usage": {"inputTokens": 20, "outputTokens": 9, "totalTokens": 29}, "metrics": {"latencyMs": 100}}),
        ),
    ];
    // Split frames across arbitrary chunk borders.
    let all: Vec<u8> = frames.concat();
    let parts: Vec<(u64, Vec<u8>)> = all.chunks(37).map(|c| (5, c.to_vec())).collect();
    server.reply(Reply::stream("application/vnd.amazon.eventstream", parts));
    let mut d = bedrock_def(&server.url);
    d.stream = true;
    let r = complete(adapter(&d).as_ref(), MODEL, &conversation()[..1])
        .await
        .unwrap();
    assert_eq!(
        server.last().target,
        "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream"
    );
    assert_eq!(r.text, "Let me look.");
    assert_eq!(r.tool_calls[0].id, "t1");
    assert_eq!(r.tool_calls[0].args, json!({"id": 42}));
    assert_eq!((r.usage.input, r.usage.output), (20, 9));
    assert!(r.ttft_ms.is_some());

    // An exception inside the stream, and a stream cut mid-frame.
    let exception = gauntlet_aws::encode(
        &[
            (":exception-type", "throttlingException"),
            (":content-type", "application/json"),
            (":message-type", "exception"),
        ],
        br#"{"message":"Too many requests, please wait before trying again."}"#,
    );
    server.reply(Reply::stream(
        "application/vnd.amazon.eventstream",
        vec![(0, frames[0].clone()), (5, exception)],
    ));
    let e = assert_kind(
        complete(adapter(&d).as_ref(), MODEL, &conversation()[..1]).await,
        ErrorKind::RateLimit,
    );
    assert!(e.message.contains("Too many requests"));
    let cut = frames[1][..frames[1].len() - 3].to_vec();
    server.reply(Reply::stream(
        "application/vnd.amazon.eventstream",
        vec![(0, frames[0].clone()), (5, cut)],
    ));
    assert_kind(
        complete(adapter(&d).as_ref(), MODEL, &conversation()[..1]).await,
        ErrorKind::Network,
    );
}

#[tokio::test]
async fn bedrock_error_types_refine_the_status() {
    let server = Server::start().await;
    let p = adapter(&bedrock_def(&server.url));
    for (status, kind, expected) in [
        (400, "ValidationException", ErrorKind::InvalidRequest),
        (403, "AccessDeniedException", ErrorKind::Auth),
        (404, "ResourceNotFoundException", ErrorKind::NotFound),
        (408, "ModelTimeoutException", ErrorKind::Timeout),
        (429, "ThrottlingException", ErrorKind::RateLimit),
        (424, "ModelErrorException", ErrorKind::ServerError),
        (503, "ServiceUnavailableException", ErrorKind::ServerError),
    ] {
        server.reply(
            Reply::json(status, &json!({"message": format!("{kind} happened")})).header(
                "x-amzn-errortype",
                &format!("{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/"),
            ),
        );
        let e = assert_kind(
            complete(p.as_ref(), MODEL, &conversation()[..1]).await,
            expected,
        );
        assert!(
            e.message.contains(&format!("{kind} happened")),
            "{}",
            e.message
        );
    }
}
