//! Translation: a request served by a provider of another dialect (an OpenAI client reaching
//! Anthropic, Bedrock, Gemini…) through Gauntlet's own adapters. The answer is whole before
//! anything is sent, so the response guardrails see all of it; a streamed request gets it as a
//! stream in the caller's dialect.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use gauntlet_core::gateway::{Route, Stage};
use gauntlet_core::model::{Agent, ErrorKind, RetryPolicy};
use gauntlet_core::result::Tokens;
use gauntlet_mock_server::{Dialect, wire};
use gauntlet_providers::{CallContext, ChatRequest, ProviderError, ToolSpec};
use rand::SeedableRng;
use serde_json::{Value, json};

use crate::guard;
use crate::proxy::Flight;

pub async fn translate(
    mut flight: Flight,
    route: &Route,
    body: Value,
    stream: bool,
    cap: u64,
) -> Response {
    let gw = Arc::clone(&flight.gw);
    let dialect = flight.dialect;
    let messages = match wire::messages(dialect, &body) {
        Ok(m) => m,
        Err(e) => {
            return flight
                .fail(
                    StatusCode::BAD_REQUEST,
                    Tokens::default(),
                    "deny:invalid",
                    "invalid_request_error",
                    e,
                    None,
                )
                .await;
        }
    };
    let agent = Agent {
        name: flight.caller.agent.clone(),
        provider: route.provider.clone(),
        model: Some(flight.upstream_model.clone()),
        system: system_of(dialect, &body),
        tools: Vec::new(),
        mcp: Vec::new(),
        contract: None,
        mock: None,
        max_turns: 1,
        temperature: body.get("temperature").and_then(Value::as_f64),
        max_output_tokens: u32::try_from(cap).ok(),
        retry: RetryPolicy {
            max_retries: 0,
            ..RetryPolicy::default()
        },
        timeout_ms: None,
    };
    let tools = tool_specs(&body);
    let provider = gw.registry.for_agent(&gw.project, &agent);
    flight.overhead_us = flight.started.elapsed().as_micros() as u64;
    let mut ctx = CallContext::new(rand_chacha::ChaCha8Rng::seed_from_u64(0));
    let result = provider
        .complete(
            ChatRequest {
                agent: &agent,
                model: &flight.upstream_model,
                messages: &messages,
                tools: &tools,
                turn: 1,
                vars: &Value::Null,
            },
            &mut ctx,
        )
        .await;
    let mut answer = match result {
        Ok(a) => a,
        Err(e) => {
            // The vendor's shape for the failure; the provider refusing the gateway's own
            // credentials is the gateway's failure, not the caller's.
            let e = ProviderError {
                kind: if e.kind == ErrorKind::Auth {
                    ErrorKind::ServerError
                } else {
                    e.kind
                },
                message: format!("the provider `{}` failed: {}", route.provider, e.message),
                ..e
            };
            let mut r = wire::provider_error(dialect, &e);
            crate::proxy::decorate(&mut r, &flight.request_id, flight.overhead_us);
            let status = r.status().as_u16();
            flight
                .finish(status, Tokens::default(), "error:upstream", Some(e.message))
                .await;
            return r;
        }
    };
    let tokens = answer.usage;
    {
        let Flight {
            vault,
            hits,
            recorded,
            ..
        } = &mut flight;
        if let Err(b) = guard::text(
            &gw.cfg.guardrails,
            Stage::Response,
            &mut answer.text,
            vault,
            hits,
        ) {
            return flight
                .fail(
                    StatusCode::BAD_REQUEST,
                    tokens,
                    "deny:guardrail",
                    "invalid_request_error",
                    b.message(),
                    None,
                )
                .await;
        }
        if let Some(r) = recorded.as_mut() {
            r.text = answer.text.clone();
            r.tool_calls = answer
                .tool_calls
                .iter()
                .map(|c| gauntlet_core::gateway::ExchangeCall {
                    name: c.name.clone(),
                    args: c.args.clone(),
                })
                .collect();
        }
        answer.text = vault.restore(&answer.text);
    }
    let id = flight.request_id.clone();
    let r = match (dialect, stream) {
        (Dialect::OpenAi, false) => {
            axum::Json(wire::openai_completion(&flight.model, &id, &answer)).into_response()
        }
        (Dialect::Anthropic, false) => {
            axum::Json(wire::anthropic_message(&flight.model, &id, &answer)).into_response()
        }
        (_, true) => {
            let text = match dialect {
                Dialect::OpenAi => wire::openai_stream(&flight.model, &id, &answer, true),
                Dialect::Anthropic => wire::anthropic_stream(&flight.model, &id, &answer),
            };
            let mut r = Response::new(Body::from(text));
            r.headers_mut().insert(
                "content-type",
                HeaderValue::from_static("text/event-stream"),
            );
            r
        }
    };
    flight.reply(r, tokens).await
}

/// The system prompt: Anthropic's `system`, OpenAI's system and developer messages.
fn system_of(dialect: Dialect, body: &Value) -> Option<String> {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Array(b) => b
            .iter()
            .filter_map(|x| x.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    };
    let s = match dialect {
        Dialect::Anthropic => body.get("system").map(text).unwrap_or_default(),
        Dialect::OpenAi => body
            .get("messages")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|m| {
                matches!(
                    m.get("role").and_then(Value::as_str),
                    Some("system" | "developer")
                )
            })
            .filter_map(|m| m.get("content").map(text))
            .collect::<Vec<_>>()
            .join("\n"),
    };
    (!s.is_empty()).then_some(s)
}

/// The tools a request offers, in either dialect.
fn tool_specs(body: &Value) -> Vec<ToolSpec> {
    body.get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| {
            let f = t.get("function").unwrap_or(t);
            Some(ToolSpec {
                name: f.get("name")?.as_str()?.to_owned(),
                description: f
                    .get("description")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
                parameters: f
                    .get("parameters")
                    .or_else(|| f.get("input_schema"))
                    .cloned()
                    .unwrap_or(json!({"type": "object"})),
            })
        })
        .collect()
}
