//! The one path of a proxied request, from key to settled reservation.

use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use gauntlet_audit::{Decision, NewEvent};
use gauntlet_core::gateway::{Mode, Route, Stage};
use gauntlet_core::model::{Agent, ProviderKind, RetryPolicy};
use gauntlet_core::result::Tokens;
use gauntlet_mock_server::{Dialect, wire};
use gauntlet_providers::{CallContext, ChatRequest, ToolSpec};
use gauntlet_store::gateway::{Hold, Usage};
use rand::SeedableRng;
use serde_json::{Value, json};

use crate::guard::{self, Blocked, Hit, Vault};
use crate::ledger::{self, Ask};
use crate::{Caller, Gateway, now_ms};

pub async fn openai(State(gw): State<Arc<Gateway>>, headers: HeaderMap, body: Bytes) -> Response {
    handle(gw, Dialect::OpenAi, headers, body).await
}

pub async fn anthropic(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(gw, Dialect::Anthropic, headers, body).await
}

pub async fn not_found() -> Response {
    wire::error(
        Dialect::OpenAi,
        StatusCode::NOT_FOUND,
        "not_found",
        "no such endpoint; the gateway answers POST /v1/chat/completions, POST /v1/messages, GET /v1/models and /gateway/v1/… for administration",
        None,
    )
}

pub async fn models(State(gw): State<Arc<Gateway>>, headers: HeaderMap) -> Response {
    if caller(&gw, &headers).await.is_none() {
        return unauthorized(Dialect::OpenAi);
    }
    let data: Vec<Value> = gw
        .cfg
        .routes
        .keys()
        .map(|m| json!({"id": m, "object": "model", "created": 0, "owned_by": "gauntlet-gateway"}))
        .collect();
    axum::Json(json!({"object": "list", "data": data})).into_response()
}

/// The presented token: `Authorization: Bearer …` or `x-api-key`.
pub async fn caller(gw: &Gateway, headers: &HeaderMap) -> Option<Caller> {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()))?;
    gw.authenticate(token.trim()).await
}

fn unauthorized(dialect: Dialect) -> Response {
    wire::error(
        dialect,
        StatusCode::UNAUTHORIZED,
        "authentication_error",
        "the gateway key is missing, unknown or revoked",
        None,
    )
}

/// Everything known about a request as it goes.
pub struct Flight {
    pub gw: Arc<Gateway>,
    pub dialect: Dialect,
    pub caller: Caller,
    pub request_id: String,
    pub started: Instant,
    pub model: String,
    pub upstream_model: String,
    pub provider: String,
    pub holds: Vec<Hold>,
    pub ask: Ask,
    pub hits: Vec<Hit>,
    pub vault: Vault,
    pub tools: Vec<String>,
    pub overhead_us: u64,
}

impl Flight {
    /// Releases the reservation with what was used, records usage and the decision.
    pub async fn finish(self, status: u16, tokens: Tokens, decision: &str, reason: Option<String>) {
        let price = gauntlet_providers::pricing::price(
            self.gw.project.providers.get(&self.provider),
            &self.upstream_model,
        );
        let cost_micro =
            (gauntlet_providers::pricing::cost(price, tokens) * 1_000_000.0).ceil() as u64;
        let settled = ledger::used(&self.holds, tokens.input + tokens.output, cost_micro);
        let gw = Arc::clone(&self.gw);
        if !settled.is_empty() {
            let tenant = self.caller.tenant.clone();
            if gw.ledger.blocking() {
                let g = Arc::clone(&gw);
                let _ =
                    tokio::task::spawn_blocking(move || g.ledger.settle(&tenant, &settled)).await;
            } else {
                let _ = gw.ledger.settle(&tenant, &settled);
            }
        }
        let latency_ms = self.started.elapsed().as_secs_f64() * 1000.0;
        gw.metrics
            .finished(decision, tokens, cost_micro, self.overhead_us);
        gw.record(Usage {
            request_id: self.request_id.clone(),
            tenant: self.caller.tenant.clone(),
            agent: self.caller.agent.clone(),
            key_id: self.caller.key_id.clone(),
            model: self.model.clone(),
            provider: self.provider.clone(),
            at_ms: now_ms() as i64,
            input_tokens: tokens.input as i64,
            output_tokens: tokens.output as i64,
            cost_micro: cost_micro as i64,
            latency_ms,
            overhead_us: self.overhead_us as i64,
            status: i64::from(status),
            decision: decision.to_owned(),
            guardrail_hits: self.hits.len() as i64,
        });
        let action = if decision.starts_with("deny") {
            "gateway.deny"
        } else if self.hits.iter().any(|h| h.mode == Mode::Redact) {
            "gateway.redact"
        } else {
            "gateway.allow"
        };
        let mut event = NewEvent::new(
            &self.caller.tenant,
            &format!("key:{}", self.caller.key_id),
            action,
            format!("agent:{}", self.caller.agent),
        )
        .request_id(&self.request_id);
        event.decision = Some(if decision.starts_with("deny") {
            Decision::Deny
        } else {
            Decision::Allow
        });
        event.reason = reason;
        event.details = json!({
            "model": self.model, "provider": self.provider, "status": status,
            "input_tokens": tokens.input, "output_tokens": tokens.output, "cost_micro_usd": cost_micro,
            "guardrails": self.hits,
        });
        gw.audit.send(event);
        if let Some(f) = gw.detector.observe(
            &gw.cfg.anomaly,
            &self.caller.tenant,
            &self.caller.agent,
            now_ms(),
            status >= 500,
            cost_micro,
            &self.tools,
        ) {
            suspend(&gw, &self.caller, &self.request_id, &f.describe()).await;
        }
    }
}

/// Suspends an agent after an anomaly (when configured to), records it and alerts.
pub async fn suspend(gw: &Arc<Gateway>, caller: &Caller, request_id: &str, why: &str) {
    let switch = gauntlet_store::gateway::Switch {
        tenant: caller.tenant.clone(),
        scope: "agent".into(),
        subject: caller.agent.clone(),
        state: "suspended".into(),
        reason: format!("anomaly: {why}"),
        actor: "gauntlet.anomaly".into(),
        at_ms: now_ms() as i64,
    };
    let suspended = gw.cfg.anomaly.suspend;
    if suspended {
        let s = gw.store.clone();
        let sw = switch.clone();
        let _ = tokio::task::spawn_blocking(move || s.set_switch(&sw)).await;
        gw.switches.put(switch.clone());
    }
    let mut event = NewEvent::new(
        &caller.tenant,
        "gauntlet.anomaly",
        if suspended {
            "gateway.suspend"
        } else {
            "gateway.anomaly"
        },
        format!("agent:{}", caller.agent),
    )
    .request_id(request_id);
    event.decision = Some(Decision::Deny);
    event.reason = Some(switch.reason.clone());
    gw.audit.send(event);
    gw.alert(json!({
        "alert": if suspended { "agent_suspended" } else { "agent_anomaly" },
        "tenant": caller.tenant, "agent": caller.agent, "reason": switch.reason, "request_id": request_id,
    }));
}

/// A refusal before anything was forwarded: recorded and audited like every decision.
#[allow(clippy::too_many_arguments)]
async fn refuse(
    gw: &Arc<Gateway>,
    dialect: Dialect,
    caller: &Caller,
    request_id: &str,
    started: Instant,
    model: &str,
    decision: &str,
    status: StatusCode,
    kind: &str,
    message: &str,
    retry_after_ms: Option<u64>,
    hits: Vec<Hit>,
) -> Response {
    let flight = Flight {
        gw: Arc::clone(gw),
        dialect,
        caller: caller.clone(),
        request_id: request_id.to_owned(),
        started,
        model: model.to_owned(),
        upstream_model: model.to_owned(),
        provider: String::new(),
        holds: Vec::new(),
        ask: Ask::default(),
        hits,
        vault: Vault::default(),
        tools: Vec::new(),
        overhead_us: started.elapsed().as_micros() as u64,
    };
    flight
        .finish(
            status.as_u16(),
            Tokens::default(),
            decision,
            Some(message.to_owned()),
        )
        .await;
    let mut r = wire::error(dialect, status, kind, message, retry_after_ms);
    decorate(&mut r, request_id, started.elapsed().as_micros() as u64);
    r
}

fn decorate(r: &mut Response, request_id: &str, overhead_us: u64) {
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-request-id", v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("{:.3}", overhead_us as f64 / 1000.0)) {
        h.insert("x-gauntlet-overhead-ms", v);
    }
}

fn request_id(headers: &HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 128 && v.chars().all(|c| c.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| {
            let mut b = [0u8; 12];
            let _ = getrandom::fill(&mut b);
            format!(
                "gw-{}",
                b.iter().map(|x| format!("{x:02x}")).collect::<String>()
            )
        })
}

fn digest(bytes: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

async fn handle(gw: Arc<Gateway>, dialect: Dialect, headers: HeaderMap, raw: Bytes) -> Response {
    let started = Instant::now();
    let rid = request_id(&headers);
    let Some(caller) = caller(&gw, &headers).await else {
        gw.metrics.finished("deny:auth", Tokens::default(), 0, 0);
        let mut r = unauthorized(dialect);
        decorate(&mut r, &rid, started.elapsed().as_micros() as u64);
        return r;
    };
    let deny =
        |decision: &'static str, status: StatusCode, kind: &'static str| (decision, status, kind);
    let refuse_with = |d: (&str, StatusCode, &str),
                       model: &str,
                       message: String,
                       retry: Option<u64>,
                       hits: Vec<Hit>| {
        let gw = Arc::clone(&gw);
        let caller = caller.clone();
        let rid = rid.clone();
        let model = model.to_owned();
        let (decision, status, kind) = (d.0.to_owned(), d.1, d.2.to_owned());
        async move {
            refuse(
                &gw, dialect, &caller, &rid, started, &model, &decision, status, &kind, &message,
                retry, hits,
            )
            .await
        }
    };
    if gw.switches.is_stale() {
        return refuse_with(
            deny(
                "deny:unavailable",
                StatusCode::SERVICE_UNAVAILABLE,
                "api_error",
            ),
            "",
            "the gateway cannot read its kill switches from the database; it refuses until it can"
                .into(),
            Some(1000),
            Vec::new(),
        )
        .await;
    }
    if let Some(s) = gw.switches.stopping(&caller.tenant, &caller.agent) {
        let what = match (s.scope.as_str(), s.state.as_str()) {
            ("global", _) => "all traffic is stopped by the global kill switch".to_owned(),
            ("tenant", _) => format!("the tenant `{}` is stopped by its kill switch", s.subject),
            (_, "suspended") => format!("the agent `{}` is suspended ({})", s.subject, s.reason),
            (_, "retired") => format!("the agent `{}` is retired", s.subject),
            _ => format!(
                "the agent `{}` is stopped by its kill switch ({})",
                s.subject, s.reason
            ),
        };
        return refuse_with(
            deny("deny:switch", StatusCode::FORBIDDEN, "permission_error"),
            "",
            what,
            None,
            Vec::new(),
        )
        .await;
    }
    let mut body: Value = match serde_json::from_slice(&raw) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            return refuse_with(
                deny(
                    "deny:invalid",
                    StatusCode::BAD_REQUEST,
                    "invalid_request_error",
                ),
                "",
                "the body must be a JSON object".into(),
                None,
                Vec::new(),
            )
            .await;
        }
    };
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let Some(route) = gw.cfg.routes.get(&model).cloned() else {
        let known: Vec<&str> = gw.cfg.routes.keys().map(String::as_str).collect();
        return refuse_with(
            deny("deny:model", StatusCode::NOT_FOUND, "not_found_error"),
            &model,
            format!(
                "the model `{model}` is not routed by this gateway; its models are: {}",
                known.join(", ")
            ),
            None,
            Vec::new(),
        )
        .await;
    };
    if let Some(n) = gw.detector.repeat(
        &caller.tenant,
        &caller.agent,
        digest(&raw),
        gw.cfg.zombies.repeat_limit,
    ) {
        if n == gw.cfg.zombies.repeat_limit {
            let mut e = NewEvent::new(
                &caller.tenant,
                "gauntlet.zombie",
                "gateway.loop",
                format!("agent:{}", caller.agent),
            )
            .request_id(&rid);
            e.reason = Some(format!("the same request {n} times in a row"));
            gw.audit.send(e);
            gw.alert(json!({"alert": "agent_loop", "tenant": caller.tenant, "agent": caller.agent, "repeats": n}));
        }
        return refuse_with(
            deny("deny:loop", StatusCode::TOO_MANY_REQUESTS, "rate_limit_error"),
            &model,
            format!("the agent sent the same request {n} times in a row; the gateway treats it as stuck in a loop"),
            None,
            Vec::new(),
        )
        .await;
    }
    let Some(def) = gw.project.providers.get(&route.provider) else {
        return refuse_with(
            deny("deny:model", StatusCode::NOT_FOUND, "not_found_error"),
            &model,
            format!("the provider of `{model}` is not defined"),
            None,
            Vec::new(),
        )
        .await;
    };
    let upstream_model = route
        .model
        .clone()
        .or_else(|| def.model.clone())
        .unwrap_or_else(|| model.clone());
    // The output cap: the request's, else the gateway's default; never above a budget's.
    let asked = body
        .get("max_tokens")
        .or_else(|| body.get("max_completion_tokens"))
        .and_then(Value::as_u64);
    let per_request = gw
        .cfg
        .budgets
        .applying(&caller.key_id, &caller.agent, &caller.tenant)
        .filter_map(|(_, _, b)| b.max_tokens_per_request)
        .min();
    if let (Some(a), Some(limit)) = (asked, per_request)
        && a > u64::from(limit)
    {
        return refuse_with(
            deny(
                "deny:max_tokens",
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
            ),
            &model,
            format!("max_tokens {a} is above this agent's limit of {limit} tokens per request"),
            None,
            Vec::new(),
        )
        .await;
    }
    let cap = asked
        .unwrap_or(u64::from(gw.cfg.default_max_tokens))
        .min(per_request.map_or(u64::MAX, u64::from));
    // Prompt and tool-result guardrails, PII placeholders.
    let (mut vault, mut hits) = (Vault::default(), Vec::new());
    let input_for_policy =
        |b: &Value| guard::policy_input(dialect, &caller.tenant, &caller.agent, &model, b);
    if let Err(b) = guard::request(
        &gw.cfg.guardrails,
        dialect,
        &mut body,
        input_for_policy,
        &mut vault,
        &mut hits,
    ) {
        return refuse_with(
            deny(
                "deny:guardrail",
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
            ),
            &model,
            b.message(),
            None,
            hits,
        )
        .await;
    }
    let tools = tool_names(&body);
    // The worst case, reserved on every budget and window.
    let mut prompt = String::new();
    guard::for_each_text(dialect, &mut body, &mut |_, t| {
        prompt.push_str(t);
        prompt.push('\n');
    });
    let input_tokens = gauntlet_providers::tokens::count(&upstream_model, &prompt) + 8;
    let price = gauntlet_providers::pricing::price(Some(def), &upstream_model);
    let ask = Ask {
        input_tokens,
        output_cap: cap,
        cost_micro: (gauntlet_providers::pricing::cost(
            price,
            Tokens {
                input: input_tokens,
                output: cap,
            },
        ) * 1_000_000.0)
            .ceil() as u64,
    };
    let holds = ledger::holds(
        &gw.cfg,
        &caller.key_id,
        &caller.agent,
        &caller.tenant,
        ask,
        now_ms(),
    );
    if !holds.is_empty() {
        let reserved = if gw.ledger.blocking() {
            let (g, t, h) = (Arc::clone(&gw), caller.tenant.clone(), holds.clone());
            tokio::task::spawn_blocking(move || g.ledger.reserve(&t, &h))
                .await
                .unwrap_or_else(|e| Err(gauntlet_store::StoreError::Backend(e.to_string())))
        } else {
            gw.ledger.reserve(&caller.tenant, &holds)
        };
        match reserved {
            Ok(Ok(())) => {}
            Ok(Err(r)) => {
                let rate = r.hold.period.starts_with("rpm:") || r.hold.period.starts_with("tpm:");
                let (what, unit) = match r.hold.period.split(':').next().unwrap_or("") {
                    "tokens" => ("tokens per day", "tokens"),
                    "cost" => ("cost per month", "micro-USD"),
                    "rpm" => ("requests per minute", "requests"),
                    _ => ("tokens per minute", "tokens"),
                };
                let message = format!(
                    "the {} `{}` would pass its limit of {} {what}: {} {unit} used, {} held by requests in flight, this request needs {}",
                    r.hold.scope, r.hold.subject, r.hold.limit, r.used, r.held, r.hold.amount
                );
                let (decision, kind) = match (rate, dialect) {
                    (true, Dialect::OpenAi) => ("deny:rate", "rate_limit_exceeded"),
                    (false, Dialect::OpenAi) => ("deny:budget", "insufficient_quota"),
                    (true, _) => ("deny:rate", "rate_limit_error"),
                    (false, _) => ("deny:budget", "rate_limit_error"),
                };
                let retry = rate.then(|| 60_000 - now_ms() % 60_000);
                return refuse_with(
                    (decision, StatusCode::TOO_MANY_REQUESTS, kind),
                    &model,
                    message,
                    retry,
                    hits,
                )
                .await;
            }
            Err(e) => {
                return refuse_with(
                    deny(
                        "deny:unavailable",
                        StatusCode::SERVICE_UNAVAILABLE,
                        "api_error",
                    ),
                    &model,
                    format!("the budget store is unreachable, so nothing is forwarded: {e}"),
                    Some(1000),
                    hits,
                )
                .await;
            }
        }
    }
    let stream = body.get("stream").and_then(Value::as_bool) == Some(true);
    let flight = Flight {
        gw: Arc::clone(&gw),
        dialect,
        caller: caller.clone(),
        request_id: rid.clone(),
        started,
        model: model.clone(),
        upstream_model: upstream_model.clone(),
        provider: route.provider.clone(),
        holds,
        ask,
        hits,
        vault,
        tools,
        overhead_us: 0,
    };
    let passthrough = matches!(
        (dialect, def.kind),
        (Dialect::OpenAi, ProviderKind::Openai) | (Dialect::Anthropic, ProviderKind::Anthropic)
    );
    if passthrough {
        forward(flight, &route, body, &headers, stream, cap).await
    } else {
        translate(flight, &route, body, stream, cap).await
    }
}

fn tool_names(body: &Value) -> Vec<String> {
    body.get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| t.pointer("/function/name").or_else(|| t.get("name")))
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

/// Sends the request to a provider that speaks the caller's dialect and relays its answer.
async fn forward(
    mut flight: Flight,
    route: &Route,
    mut body: Value,
    headers: &HeaderMap,
    stream: bool,
    cap: u64,
) -> Response {
    let gw = Arc::clone(&flight.gw);
    let Some(def) = gw.project.providers.get(&route.provider) else {
        return wire::error(
            flight.dialect,
            StatusCode::NOT_FOUND,
            "not_found_error",
            "no provider",
            None,
        );
    };
    body["model"] = json!(flight.upstream_model);
    let wants_usage = body
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        == Some(true);
    let mut request = match flight.dialect {
        Dialect::OpenAi => {
            if stream {
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
    let upstream_started = Instant::now();
    let response = match request.send().await {
        Ok(r) => r,
        Err(e) => {
            flight.overhead_us = before.as_micros() as u64;
            let message = format!(
                "the provider `{}` could not be reached: {}",
                route.provider,
                without_url(&e)
            );
            let dialect = flight.dialect;
            let rid = flight.request_id.clone();
            flight
                .finish(
                    502,
                    Tokens::default(),
                    "error:upstream",
                    Some(message.clone()),
                )
                .await;
            let mut r = wire::error(
                dialect,
                StatusCode::BAD_GATEWAY,
                "api_error",
                &message,
                None,
            );
            decorate(&mut r, &rid, before.as_micros() as u64);
            return r;
        }
    };
    let waited = upstream_started.elapsed();
    let status = response.status();
    if !status.is_success() {
        // The provider's own error, as it sent it (its body is already the vendor's shape).
        let text = response.bytes().await.unwrap_or_default();
        flight.overhead_us = before.as_micros() as u64;
        let rid = flight.request_id.clone();
        flight
            .finish(
                status.as_u16(),
                Tokens::default(),
                "error:upstream",
                Some(format!("the provider answered {status}")),
            )
            .await;
        let mut r = (
            StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY),
            [("content-type", "application/json")],
            text,
        )
            .into_response();
        decorate(&mut r, &rid, before.as_micros() as u64);
        return r;
    }
    if stream {
        flight.overhead_us = (flight.started.elapsed().saturating_sub(waited)).as_micros() as u64;
        let rid = flight.request_id.clone();
        let overhead = flight.overhead_us;
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
        decorate(&mut r, &rid, overhead);
        return r;
    }
    let bytes = match response.bytes().await {
        Ok(b) => b,
        Err(e) => {
            let message = format!("the provider's answer was cut short: {}", without_url(&e));
            let (dialect, rid) = (flight.dialect, flight.request_id.clone());
            flight
                .finish(
                    502,
                    Tokens::default(),
                    "error:upstream",
                    Some(message.clone()),
                )
                .await;
            let mut r = wire::error(
                dialect,
                StatusCode::BAD_GATEWAY,
                "api_error",
                &message,
                None,
            );
            decorate(&mut r, &rid, before.as_micros() as u64);
            return r;
        }
    };
    let after = Instant::now();
    let mut answer: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let usage = usage_of(flight.dialect, &answer);
    let tokens = Tokens {
        input: usage.0.unwrap_or(flight.ask.input_tokens),
        output: usage.1.unwrap_or(0),
    };
    respond_whole(flight, &mut answer, tokens, before + after.elapsed()).await
}

/// The response guardrails over a whole answer, the caller's values restored, settled.
async fn respond_whole(
    mut flight: Flight,
    answer: &mut Value,
    tokens: Tokens,
    overhead: std::time::Duration,
) -> Response {
    let started_post = Instant::now();
    let guards = flight.gw.cfg.guardrails.clone();
    let mut blocked: Option<Blocked> = None;
    let mut hits = std::mem::take(&mut flight.hits);
    {
        let vault = &mut flight.vault;
        guard::for_each_response_text(flight.dialect, answer, &mut |t| {
            if blocked.is_none()
                && let Err(b) = guard::text(&guards, Stage::Response, t, vault, &mut hits)
            {
                blocked = Some(b);
            }
            *t = vault.restore(t);
        });
    }
    flight.hits = hits;
    let overhead_us = (overhead + started_post.elapsed()).as_micros() as u64;
    flight.overhead_us = overhead_us;
    let (dialect, rid) = (flight.dialect, flight.request_id.clone());
    if let Some(b) = blocked {
        let message = b.message();
        flight
            .finish(400, tokens, "deny:guardrail", Some(message.clone()))
            .await;
        let mut r = wire::error(
            dialect,
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            &message,
            None,
        );
        decorate(&mut r, &rid, overhead_us);
        return r;
    }
    flight.finish(200, tokens, "allow", None).await;
    let mut r = axum::Json(answer.take()).into_response();
    decorate(&mut r, &rid, overhead_us);
    r
}

/// (input, output) tokens a whole answer reports.
pub fn usage_of(dialect: Dialect, v: &Value) -> (Option<u64>, Option<u64>) {
    match dialect {
        Dialect::OpenAi => (
            v.pointer("/usage/prompt_tokens").and_then(Value::as_u64),
            v.pointer("/usage/completion_tokens")
                .and_then(Value::as_u64),
        ),
        Dialect::Anthropic => (
            v.pointer("/usage/input_tokens").and_then(Value::as_u64),
            v.pointer("/usage/output_tokens").and_then(Value::as_u64),
        ),
    }
}

fn without_url(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    if let Some(u) = e.url() {
        s = s.replace(u.as_str(), "(upstream)");
    }
    s
}

/// Serves a request through a provider of another dialect (or Bedrock, Gemini…) with
/// Gauntlet's own adapters; a streamed request gets the whole answer as a stream.
async fn translate(
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
            let rid = flight.request_id.clone();
            flight
                .finish(400, Tokens::default(), "deny:invalid", Some(e.clone()))
                .await;
            let mut r = wire::error(
                dialect,
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                &e,
                None,
            );
            decorate(&mut r, &rid, 0);
            return r;
        }
    };
    let system = system_of(dialect, &body);
    let tools = tool_specs(&body);
    let agent = Agent {
        name: flight.caller.agent.clone(),
        provider: route.provider.clone(),
        model: Some(flight.upstream_model.clone()),
        system,
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
    let provider = gw.registry.for_agent(&gw.project, &agent);
    let before = flight.started.elapsed();
    let upstream = Instant::now();
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
    let _ = upstream.elapsed();
    let id = flight.request_id.clone();
    match result {
        Err(e) => {
            let (status, kind) = match e.kind {
                gauntlet_core::model::ErrorKind::RateLimit => {
                    (StatusCode::TOO_MANY_REQUESTS, "rate_limit_error")
                }
                gauntlet_core::model::ErrorKind::Auth => (StatusCode::BAD_GATEWAY, "api_error"),
                gauntlet_core::model::ErrorKind::InvalidRequest => {
                    (StatusCode::BAD_REQUEST, "invalid_request_error")
                }
                gauntlet_core::model::ErrorKind::NotFound => {
                    (StatusCode::NOT_FOUND, "not_found_error")
                }
                gauntlet_core::model::ErrorKind::Timeout => {
                    (StatusCode::GATEWAY_TIMEOUT, "timeout_error")
                }
                _ => (StatusCode::BAD_GATEWAY, "api_error"),
            };
            flight.overhead_us = before.as_micros() as u64;
            let message = format!("the provider `{}` failed: {}", route.provider, e.message);
            flight
                .finish(
                    status.as_u16(),
                    Tokens::default(),
                    "error:upstream",
                    Some(message.clone()),
                )
                .await;
            let mut r = wire::error(dialect, status, kind, &message, e.retry_after_ms);
            decorate(&mut r, &id, before.as_micros() as u64);
            r
        }
        Ok(mut answer) => {
            let tokens = answer.usage;
            if !stream {
                let mut v = match dialect {
                    Dialect::OpenAi => wire::openai_completion(&flight.model, &id, &answer),
                    Dialect::Anthropic => wire::anthropic_message(&flight.model, &id, &answer),
                };
                return respond_whole(flight, &mut v, tokens, before).await;
            }
            // The answer is whole already: the response guardrails see all of it before any
            // of it is sent.
            let guards = gw.cfg.guardrails.clone();
            let mut hits = std::mem::take(&mut flight.hits);
            let blocked = guard::text(
                &guards,
                Stage::Response,
                &mut answer.text,
                &mut flight.vault,
                &mut hits,
            );
            flight.hits = hits;
            answer.text = flight.vault.restore(&answer.text);
            flight.overhead_us = before.as_micros() as u64;
            if let Err(b) = blocked {
                let message = b.message();
                flight
                    .finish(400, tokens, "deny:guardrail", Some(message.clone()))
                    .await;
                let mut r = wire::error(
                    dialect,
                    StatusCode::BAD_REQUEST,
                    "invalid_request_error",
                    &message,
                    None,
                );
                decorate(&mut r, &id, before.as_micros() as u64);
                return r;
            }
            let text = match dialect {
                Dialect::OpenAi => wire::openai_stream(&flight.model, &id, &answer, true),
                Dialect::Anthropic => wire::anthropic_stream(&flight.model, &id, &answer),
            };
            let overhead = flight.overhead_us;
            flight.finish(200, tokens, "allow", None).await;
            let mut r = Response::new(Body::from(text));
            r.headers_mut().insert(
                "content-type",
                HeaderValue::from_static("text/event-stream"),
            );
            decorate(&mut r, &id, overhead);
            r
        }
    }
}

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
