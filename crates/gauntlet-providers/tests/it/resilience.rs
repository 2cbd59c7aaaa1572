//! Routing, fallback chains, the circuit breaker and the adaptive limiter under scripted 429s
//! and 5xx, through the registry the engine uses.

use gauntlet_core::model::{ErrorKind, Project, ProviderKind, ProviderLimits};
use gauntlet_providers::Registry;
use serde_json::json;

use crate::server::{Reply, Server};
use crate::{agent, complete, conversation, def};

fn ok_body(text: &str) -> serde_json::Value {
    json!({"id": "x", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}})
}

fn project(primary: &Server, backup: &Server, limits: ProviderLimits) -> Project {
    let mut p = Project::default();
    let mut a = def(ProviderKind::Openai, &primary.url);
    a.fallback = vec!["backup".into()];
    a.limits = limits;
    let mut b = def(ProviderKind::Anthropic, &backup.url);
    b.name = "backup".into();
    b.model = Some("claude-haiku-4".into());
    p.providers.insert("primary".into(), a);
    p.providers.insert("backup".into(), b);
    p
}

fn anthropic_ok(text: &str) -> serde_json::Value {
    json!({"id": "m", "type": "message", "role": "assistant", "model": "claude-haiku-4",
        "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": null,
        "usage": {"input_tokens": 3, "output_tokens": 2}})
}

#[tokio::test]
async fn a_retryable_failure_falls_back_and_names_who_served() {
    let (primary, backup) = (Server::start().await, Server::start().await);
    let p = project(&primary, &backup, ProviderLimits::default());
    let registry = Registry::new(&p);
    let routed = registry.for_agent(&p, &agent());

    primary.reply(Reply::json(200, &ok_body("from primary")));
    let r = complete(routed.as_ref(), "gpt-4o", &conversation()[..1])
        .await
        .unwrap();
    assert_eq!(r.text, "from primary");
    assert_eq!(r.served_by, None);

    primary.reply(Reply::json(503, &json!({"error": {"message": "down"}})));
    backup.reply(Reply::json(200, &anthropic_ok("from backup")));
    let r = complete(routed.as_ref(), "gpt-4o", &conversation()[..1])
        .await
        .unwrap();
    assert_eq!(r.text, "from backup");
    assert_eq!(
        r.served_by,
        Some(("backup".into(), "claude-haiku-4".into()))
    );
    assert_eq!(
        backup.last().json()["model"],
        json!("claude-haiku-4"),
        "the fallback uses its own model"
    );

    // A fatal error does not fall back: the request itself is wrong.
    let before = backup.requests().len();
    primary.reply(Reply::json(
        400,
        &json!({"error": {"message": "bad request"}}),
    ));
    let e = complete(routed.as_ref(), "gpt-4o", &conversation()[..1])
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidRequest);
    assert_eq!(backup.requests().len(), before);

    // When every provider fails, the last error is returned.
    primary.reply(Reply::json(500, &json!({"error": {"message": "boom"}})));
    backup.reply(Reply::json(
        529,
        &json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    ));
    let e = complete(routed.as_ref(), "gpt-4o", &conversation()[..1])
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::ServerError);
    assert!(e.message.contains("Overloaded"), "{}", e.message);
}

#[tokio::test]
async fn an_open_circuit_skips_the_provider_until_the_cooldown() {
    let (primary, backup) = (Server::start().await, Server::start().await);
    let limits = ProviderLimits {
        breaker_failures: 2,
        breaker_cooldown_ms: 300,
        ..ProviderLimits::default()
    };
    let p = project(&primary, &backup, limits);
    let registry = Registry::new(&p);
    let routed = registry.for_agent(&p, &agent());
    for _ in 0..2 {
        primary.reply(Reply::json(500, &json!({"error": {"message": "boom"}})));
        backup.reply(Reply::json(200, &anthropic_ok("backup")));
        complete(routed.as_ref(), "gpt-4o", &conversation()[..1])
            .await
            .unwrap();
    }
    assert_eq!(primary.requests().len(), 2);
    // Open: the primary is not even asked.
    for _ in 0..3 {
        backup.reply(Reply::json(200, &anthropic_ok("backup")));
        let r = complete(routed.as_ref(), "gpt-4o", &conversation()[..1])
            .await
            .unwrap();
        assert_eq!(r.served_by.as_ref().map(|s| s.0.as_str()), Some("backup"));
    }
    assert_eq!(primary.requests().len(), 2, "an open circuit sends nothing");
    // After the cool-down one trial goes through; its success closes the circuit.
    tokio::time::sleep(std::time::Duration::from_millis(350)).await;
    primary.reply(Reply::json(200, &ok_body("primary again")));
    let r = complete(routed.as_ref(), "gpt-4o", &conversation()[..1])
        .await
        .unwrap();
    assert_eq!(r.text, "primary again");
    assert_eq!(primary.requests().len(), 3);
}

#[tokio::test]
async fn the_limiter_backs_off_on_429_and_recovers() {
    let server = Server::start().await;
    let mut p = Project::default();
    let mut d = def(ProviderKind::Openai, &server.url);
    d.limits = ProviderLimits {
        max_concurrency: 8,
        min_concurrency: 1,
        breaker_failures: 0,
        breaker_cooldown_ms: 0,
        explicit: true,
    };
    p.providers.insert("primary".into(), d);
    let registry = Registry::new(&p);
    let routed = registry.for_agent(&p, &agent());
    let limiter = registry.limiter("primary").unwrap();
    assert_eq!(limiter.limit(), 8);
    for expected in [4, 2, 1, 1] {
        server.reply(
            Reply::json(429, &json!({"error": {"message": "rate limited"}}))
                .header("retry-after-ms", "20"),
        );
        let e = complete(routed.as_ref(), "gpt-4o", &conversation()[..1])
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::RateLimit);
        assert_eq!(e.retry_after_ms, Some(20));
        assert_eq!(limiter.limit(), expected);
    }
    // Additive recovery: 1 success → 2, 2 more → 3.
    for expected in [2, 2, 3] {
        server.reply(Reply::json(200, &ok_body("ok")));
        complete(routed.as_ref(), "gpt-4o", &conversation()[..1])
            .await
            .unwrap();
        assert_eq!(limiter.limit(), expected);
    }
}

#[tokio::test]
async fn an_endpoint_echoing_its_key_leaks_nothing() {
    let (primary, backup) = (Server::start().await, Server::start().await);
    let p = project(&primary, &backup, ProviderLimits::default());
    let registry = Registry::new(&p);
    let routed = registry.for_agent(&p, &agent());
    let key = crate::KEY;
    primary.reply(Reply::json(
        200,
        &ok_body(&format!("your key is Bearer {key}")),
    ));
    let r = complete(routed.as_ref(), "gpt-4o", &conversation()[..1])
        .await
        .unwrap();
    assert_eq!(r.text, "your key is Bearer ${secret:TEST_KEY}");
    // Errors too.
    primary.reply(Reply::json(
        400,
        &json!({"error": {"message": format!("bad key {key}")}}),
    ));
    let e = complete(routed.as_ref(), "gpt-4o", &conversation()[..1])
        .await
        .unwrap_err();
    assert!(!e.message.contains(key), "{}", e.message);
}
