//! Every error class, for every HTTP adapter, from the vendor's own error bodies.

use gauntlet_core::model::{ErrorKind, ProviderKind};
use gauntlet_providers::adapter;
use serde_json::{Value, json};

use crate::server::{Reply, Server};
use crate::{KEY, assert_kind, complete, conversation, def};

const KINDS: [ProviderKind; 4] = [
    ProviderKind::Openai,
    ProviderKind::Anthropic,
    ProviderKind::Gemini,
    ProviderKind::Http,
];

/// The vendor's error body for a status and message.
fn body(kind: ProviderKind, status: u16, message: &str) -> Value {
    match kind {
        ProviderKind::Openai => {
            json!({"error": {"message": message, "type": "invalid_request_error", "param": null, "code": "code_x"}})
        }
        ProviderKind::Anthropic => {
            json!({"type": "error", "error": {"type": "rate_limit_error", "message": message}})
        }
        ProviderKind::Gemini => {
            json!({"error": {"code": status, "message": message, "status": "RESOURCE_EXHAUSTED"}})
        }
        _ => json!({"error": message}),
    }
}

fn provider_def(kind: ProviderKind, url: &str) -> gauntlet_core::model::Provider {
    let mut d = def(kind, url);
    if kind == ProviderKind::Http {
        d.http = Some(gauntlet_core::model::HttpAgent {
            url: format!("{url}/chat"),
            method: "POST".into(),
            body: json!({"q": "{{ input }}"}),
            output: "/answer".into(),
            tool_calls: None,
            input_tokens: None,
            output_tokens: None,
        });
    }
    d.timeout_ms = Some(400);
    d
}

#[tokio::test]
async fn statuses_map_to_error_classes() {
    let table = [
        (400, ErrorKind::InvalidRequest),
        (401, ErrorKind::Auth),
        (403, ErrorKind::Auth),
        (404, ErrorKind::NotFound),
        (408, ErrorKind::Timeout),
        (422, ErrorKind::InvalidRequest),
        (429, ErrorKind::RateLimit),
        (500, ErrorKind::ServerError),
        (502, ErrorKind::ServerError),
        (503, ErrorKind::ServerError),
        (504, ErrorKind::Timeout),
        (529, ErrorKind::ServerError),
    ];
    for kind in KINDS {
        let server = Server::start().await;
        let p = adapter(&provider_def(kind, &server.url));
        for (status, expected) in table {
            let message = format!("vendor says {status}");
            server.reply(Reply::json(status, &body(kind, status, &message)));
            let e = assert_kind(complete(p.as_ref(), "m", &conversation()).await, expected);
            assert!(
                e.message.contains(&message) && e.message.contains(&status.to_string()),
                "{kind:?} {status}: {}",
                e.message
            );
            assert_eq!(
                e.kind.is_retryable(),
                matches!(status, 408 | 429 | 500..=599)
            );
        }
    }
}

#[tokio::test]
async fn rate_limits_carry_the_wait() {
    let server = Server::start().await;
    for kind in KINDS {
        let p = adapter(&provider_def(kind, &server.url));
        server.reply(Reply::json(429, &body(kind, 429, "slow down")).header("retry-after", "3"));
        let e = assert_kind(
            complete(p.as_ref(), "m", &conversation()).await,
            ErrorKind::RateLimit,
        );
        assert_eq!(e.retry_after_ms, Some(3000), "{kind:?}");
        server.reply(
            Reply::json(429, &body(kind, 429, "slow down"))
                .header("x-ratelimit-reset-requests", "1.5s"),
        );
        let e = assert_kind(
            complete(p.as_ref(), "m", &conversation()).await,
            ErrorKind::RateLimit,
        );
        assert_eq!(e.retry_after_ms, Some(1500), "{kind:?}");
    }
}

#[tokio::test]
async fn malformed_truncated_and_unreachable() {
    for kind in KINDS {
        let server = Server::start().await;
        let p = adapter(&provider_def(kind, &server.url));
        // A 200 whose body is an HTML page from a proxy.
        server.reply(Reply::raw(200, "text/html", b"<html>Bad gateway</html>"));
        let e = assert_kind(
            complete(p.as_ref(), "m", &conversation()).await,
            ErrorKind::ServerError,
        );
        assert!(e.message.contains("malformed"), "{}", e.message);
        // Valid JSON that lacks the fields of the format.
        server.reply(Reply::json(200, &json!({"unexpected": true})));
        let e = assert_kind(
            complete(p.as_ref(), "m", &conversation()).await,
            ErrorKind::ServerError,
        );
        assert!(
            e.message.contains("malformed") || e.message.contains("nothing at"),
            "{}",
            e.message
        );
        // The connection closes before the declared length.
        server.reply(Reply::json(200, &json!({"choices": []})).truncated());
        assert_kind(
            complete(p.as_ref(), "m", &conversation()).await,
            ErrorKind::Network,
        );
        // The server takes longer than the provider's timeout.
        server.reply(Reply::stream(
            "application/json",
            vec![(1500, b"{}".to_vec())],
        ));
        assert_kind(
            complete(p.as_ref(), "m", &conversation()).await,
            ErrorKind::Timeout,
        );
    }
    // Nothing listens.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    for kind in KINDS {
        let p = adapter(&provider_def(kind, &url));
        assert_kind(
            complete(p.as_ref(), "m", &conversation()).await,
            ErrorKind::Network,
        );
    }
}

#[tokio::test]
async fn streams_cut_short_are_network_errors() {
    let cases: [(ProviderKind, Vec<String>); 3] = [
        (
            ProviderKind::Openai,
            vec![
                "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\n".into(),
                "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"}}]}\n\n".into(),
            ],
        ),
        (
            ProviderKind::Anthropic,
            vec![
                "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}}\n\n".into(),
                "event: content_block_delta\ndata: {\"type\":\"content_block_del".into(),
            ],
        ),
        (
            ProviderKind::Gemini,
            vec!["data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hel".into()],
        ),
    ];
    for (kind, events) in cases {
        let server = Server::start().await;
        let mut d = def(kind, &server.url);
        d.stream = true;
        server.reply(Reply::sse(&events, 5));
        let e = assert_kind(
            complete(adapter(&d).as_ref(), "m", &conversation()[..1]).await,
            ErrorKind::Network,
        );
        assert!(e.message.contains("stream"), "{kind:?}: {}", e.message);
    }
}

#[tokio::test]
async fn errors_inside_streams_are_classified() {
    let server = Server::start().await;
    let mut d = def(ProviderKind::Anthropic, &server.url);
    d.stream = true;
    server.reply(Reply::sse(
        &[
            "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}}\n\n".into(),
            "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n".into(),
        ],
        5,
    ));
    let e = assert_kind(
        complete(adapter(&d).as_ref(), "m", &conversation()[..1]).await,
        ErrorKind::ServerError,
    );
    assert!(e.message.contains("Overloaded"));
}

#[tokio::test]
async fn a_key_echoed_by_the_server_is_scrubbed() {
    for kind in KINDS {
        let server = Server::start().await;
        let p = adapter(&provider_def(kind, &server.url));
        server.reply(Reply::json(
            401,
            &body(kind, 401, &format!("Incorrect API key provided: {KEY}")),
        ));
        let e = assert_kind(
            complete(p.as_ref(), "m", &conversation()).await,
            ErrorKind::Auth,
        );
        assert!(e.message.contains("${secret:TEST_KEY}"), "{}", e.message);
    }
}
