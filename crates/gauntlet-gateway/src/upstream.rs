//! Passthrough: the request sent to a provider that speaks the caller's dialect, its answer
//! relayed (a stream through [`crate::relay`], a whole answer through the response
//! guardrails).

use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use gauntlet_core::gateway::{Route, Stage};
use gauntlet_core::result::Tokens;
use gauntlet_mock_server::Dialect;
use serde_json::{Value, json};

use crate::guard::{self, Blocked};
use crate::proxy::Flight;

pub async fn forward(
    mut flight: Flight,
    route: &Route,
    mut body: Value,
    headers: &HeaderMap,
    stream: bool,
    cap: u64,
) -> Response {
    let gw = Arc::clone(&flight.gw);
    let Some(def) = gw.project.providers.get(&route.provider) else {
        let message = format!("the provider `{}` is not defined", route.provider);
        return flight
            .fail(
                StatusCode::NOT_FOUND,
                Tokens::default(),
                "deny:model",
                "not_found_error",
                message,
                None,
            )
            .await;
    };
    body["model"] = json!(flight.upstream_model);
    let wants_usage = body
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        == Some(true);
    let mut request = match flight.dialect {
        Dialect::OpenAi => {
            if stream {
                // The usage chunk settles the reservation; it is passed on only if asked for.
                body["stream_options"] = json!({"include_usage": true});
            }
            if body.get("max_tokens").is_none() && body.get("max_completion_tokens").is_none() {
                body["max_tokens"] = json!(cap);
            }
            let base = def
                .base_url
                .as_deref()
                .unwrap_or(gauntlet_providers::openai::DEFAULT_BASE_URL);
            let mut r = gw
                .http
                .post(gauntlet_providers::http::join(base, "chat/completions"));
            if let Some(k) = &def.api_key {
                r = r.bearer_auth(k.expose());
            }
            r
        }
        Dialect::Anthropic => {
            let base = def
                .base_url
                .as_deref()
                .unwrap_or(gauntlet_providers::anthropic::DEFAULT_BASE_URL);
            let version = headers
                .get("anthropic-version")
                .and_then(|v| v.to_str().ok())
                .unwrap_or(gauntlet_providers::anthropic::API_VERSION)
                .to_owned();
            let mut r = gw
                .http
                .post(gauntlet_providers::http::join(base, "v1/messages"))
                .header("anthropic-version", version);
            if let Some(k) = &def.api_key {
                r = r.header("x-api-key", k.expose());
            }
            r
        }
    };
    request = gauntlet_providers::http::with_headers(request, def).json(&body);
    if let Some(ms) = def.timeout_ms {
        request = request.timeout(std::time::Duration::from_millis(ms));
    }
    let before = flight.started.elapsed();
    flight.overhead_us = before.as_micros() as u64;
    let upstream_started = Instant::now();
    let response = match request.send().await {
        Ok(r) => r,
        Err(e) => {
            let message = format!(
                "the provider `{}` could not be reached: {}",
                route.provider,
                without_url(&e)
            );
            return flight.bad_gateway(message).await;
        }
    };
    let waited = upstream_started.elapsed();
    let status = response.status();
    if !status.is_success() {
        // The provider's own error, as it sent it (its body is already the vendor's shape).
        let text = response.bytes().await.unwrap_or_default();
        let r = (
            StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY),
            [("content-type", "application/json")],
            text,
        )
            .into_response();
        return flight.reply(r, Tokens::default()).await;
    }
    if stream {
        flight.overhead_us = flight.started.elapsed().saturating_sub(waited).as_micros() as u64;
        let (rid, overhead) = (flight.request_id.clone(), flight.overhead_us);
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(32);
        tokio::spawn(crate::relay::run(flight, response, tx, wants_usage, cap));
        let body = Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        }));
        let mut r = Response::new(body);
        r.headers_mut().insert(
            "content-type",
            HeaderValue::from_static("text/event-stream"),
        );
        r.headers_mut()
            .insert("cache-control", HeaderValue::from_static("no-cache"));
        crate::proxy::decorate(&mut r, &rid, overhead);
        return r;
    }
    let bytes = match response.bytes().await {
        Ok(b) => b,
        Err(e) => {
            let message = format!("the provider's answer was cut short: {}", without_url(&e));
            return flight.bad_gateway(message).await;
        }
    };
    let after = Instant::now();
    let mut answer: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let (input, output) = usage_of(flight.dialect, &answer);
    let tokens = Tokens {
        input: input.unwrap_or(flight.ask.input_tokens),
        output: output.unwrap_or(0),
    };
    // The response guardrails over the whole answer, the caller's values restored.
    let gw = Arc::clone(&flight.gw);
    let mut blocked: Option<Blocked> = None;
    {
        let Flight {
            vault,
            hits,
            dialect,
            recorded,
            ..
        } = &mut flight;
        if let Some(r) = recorded {
            r.tool_calls = crate::record::calls_of(*dialect, &answer);
        }
        guard::for_each_response_text(*dialect, &mut answer, &mut |t| {
            if blocked.is_none()
                && let Err(b) = guard::text(&gw.cfg.guardrails, Stage::Response, t, vault, hits)
            {
                blocked = Some(b);
            }
            if let Some(r) = recorded.as_mut() {
                r.text.push_str(t);
            }
            *t = vault.restore(t);
        });
    }
    flight.overhead_us = (before + after.elapsed()).as_micros() as u64;
    match blocked {
        Some(b) => {
            flight
                .fail(
                    StatusCode::BAD_REQUEST,
                    tokens,
                    "deny:guardrail",
                    "invalid_request_error",
                    b.message(),
                    None,
                )
                .await
        }
        None => {
            flight
                .reply(axum::Json(answer).into_response(), tokens)
                .await
        }
    }
}

/// (input, output) tokens a whole answer reports.
fn usage_of(dialect: Dialect, v: &Value) -> (Option<u64>, Option<u64>) {
    let (i, o) = match dialect {
        Dialect::OpenAi => ("/usage/prompt_tokens", "/usage/completion_tokens"),
        Dialect::Anthropic => ("/usage/input_tokens", "/usage/output_tokens"),
    };
    (
        v.pointer(i).and_then(Value::as_u64),
        v.pointer(o).and_then(Value::as_u64),
    )
}

/// A client error without the provider's URL (which may carry a key in its query).
fn without_url(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    if let Some(u) = e.url() {
        s = s.replace(u.as_str(), "(upstream)");
    }
    s
}
