//! `gauntlet mock-server`: an HTTP server that speaks OpenAI's chat completions (also under
//! Azure's deployment paths) and Anthropic's Messages API, answering from the `mock` rules of a
//! project's agents. The request's `model` names the agent whose rules answer.
//!
//! Answers are deterministic: each request's randomness is seeded from the server seed and the
//! request's model and messages. Scripted errors (`error: {kind: rate_limit, ...}`) come back
//! as the vendor's HTTP status, headers and error body.

pub mod wire;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use gauntlet_core::model::{Agent, Project};
use gauntlet_providers::{CallContext, ChatRequest, ChatResponse, Message, Provider};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

pub use wire::Dialect;

struct App {
    project: Arc<Project>,
    seed: u64,
}

/// The server's routes over a validated project.
pub fn router(project: Arc<Project>, seed: u64) -> Router {
    let app = Arc::new(App { project, seed });
    Router::new()
        .route("/v1/models", get(models))
        .route("/v1/chat/completions", post(openai))
        .route(
            "/openai/deployments/{deployment}/chat/completions",
            post(azure),
        )
        .route("/v1/messages", post(anthropic))
        .fallback(not_found)
        .with_state(app)
}

/// Serves until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    project: Arc<Project>,
    seed: u64,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(project, seed))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Agents that can answer: those with mock behaviour.
fn answering(project: &Project) -> impl Iterator<Item = &Agent> {
    project.agents.values().filter(|a| a.mock.is_some())
}

async fn models(State(app): State<Arc<App>>) -> Response {
    let data: Vec<Value> = answering(&app.project)
        .map(|a| json!({"id": a.name, "object": "model", "created": 0, "owned_by": "gauntlet"}))
        .collect();
    axum::Json(json!({"object": "list", "data": data})).into_response()
}

async fn not_found() -> Response {
    wire::error(
        Dialect::OpenAi,
        StatusCode::NOT_FOUND,
        "not_found",
        "no such endpoint; this server answers POST /v1/chat/completions, POST /v1/messages and GET /v1/models",
        None,
    )
}

async fn openai(State(app): State<Arc<App>>, body: Bytes) -> Response {
    chat(&app, Dialect::OpenAi, None, &body).await
}

async fn azure(
    State(app): State<Arc<App>>,
    Path(deployment): Path<String>,
    body: Bytes,
) -> Response {
    chat(&app, Dialect::OpenAi, Some(deployment), &body).await
}

async fn anthropic(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    if !headers.contains_key("anthropic-version") {
        return wire::error(
            Dialect::Anthropic,
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "anthropic-version: header is required",
            None,
        );
    }
    chat(&app, Dialect::Anthropic, None, &body).await
}

async fn chat(app: &App, dialect: Dialect, deployment: Option<String>, body: &[u8]) -> Response {
    let request: Value = match serde_json::from_slice(body) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => {
            return wire::error(
                dialect,
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "the body must be a JSON object",
                None,
            );
        }
        Err(e) => {
            return wire::error(
                dialect,
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                &format!("the body is not valid JSON: {e}"),
                None,
            );
        }
    };
    let model = deployment.or_else(|| {
        request
            .get("model")
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    let Some(model) = model else {
        return wire::error(
            dialect,
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "`model` is required",
            None,
        );
    };
    let Some(agent) = answering(&app.project).find(|a| a.name == model) else {
        let known: Vec<&str> = answering(&app.project).map(|a| a.name.as_str()).collect();
        return wire::error(
            dialect,
            StatusCode::NOT_FOUND,
            "not_found_error",
            &format!(
                "the model `{model}` does not exist; models are the project's mock agents: {}",
                known.join(", ")
            ),
            None,
        );
    };
    let messages = match wire::messages(dialect, &request) {
        Ok(m) => m,
        Err(e) => {
            return wire::error(
                dialect,
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                &e,
                None,
            );
        }
    };
    let stream = request.get("stream").and_then(Value::as_bool) == Some(true);
    let include_usage = request
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        == Some(true);
    let seed = gauntlet_core::hash::derive_seed(
        app.seed,
        &[
            &model,
            &gauntlet_core::hash::canonical_json(&request["messages"]),
        ],
    );
    let turn = 1 + messages
        .iter()
        .rev()
        .take_while(|m| m.role != gauntlet_providers::Role::User)
        .filter(|m| m.role == gauntlet_providers::Role::Assistant)
        .count() as u32;
    let mut ctx = CallContext::new(ChaCha8Rng::seed_from_u64(seed));
    let result = gauntlet_providers::mock::MockProvider
        .complete(
            ChatRequest {
                agent,
                model: &model,
                messages: &messages,
                tools: &[],
                turn,
                vars: &Value::Null,
            },
            &mut ctx,
        )
        .await;
    let id = format!("{:016x}", seed);
    match result {
        Ok(r) => respond(dialect, &model, &id, &r, stream, include_usage),
        Err(e) => wire::provider_error(dialect, &e),
    }
}

fn respond(
    dialect: Dialect,
    model: &str,
    id: &str,
    r: &ChatResponse,
    stream: bool,
    include_usage: bool,
) -> Response {
    match (dialect, stream) {
        (Dialect::OpenAi, false) => {
            axum::Json(wire::openai_completion(model, id, r)).into_response()
        }
        (Dialect::OpenAi, true) => sse(wire::openai_stream(model, id, r, include_usage)),
        (Dialect::Anthropic, false) => {
            axum::Json(wire::anthropic_message(model, id, r)).into_response()
        }
        (Dialect::Anthropic, true) => sse(wire::anthropic_stream(model, id, r)),
    }
}

fn sse(body: String) -> Response {
    let mut response = body.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// Messages of a request in Gauntlet's form, for tests that drive the mock directly.
pub fn parse_messages(dialect: Dialect, request: &Value) -> Result<Vec<Message>, String> {
    wire::messages(dialect, request)
}
