//! The one path of a proxied request, from key to settled reservation.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use gauntlet_audit::{Decision, NewEvent};
use gauntlet_core::gateway::Mode;
use gauntlet_core::model::ProviderKind;
use gauntlet_core::result::Tokens;
use gauntlet_mock_server::{Dialect, wire};
use gauntlet_store::gateway::{Hold, Usage};
use serde_json::{Value, json};

use crate::guard::{self, Hit, Vault};
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
    /// The exchange being recorded, when the gateway records traffic.
    pub recorded: Option<gauntlet_core::gateway::Exchange>,
}

impl Flight {
    /// Releases the reservation with what was used, records usage and the decision.
    pub async fn finish(
        mut self,
        status: u16,
        tokens: Tokens,
        decision: &str,
        reason: Option<String>,
    ) {
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
        if let (Some(rec), Some(mut e)) = (&gw.recorder, self.recorded.take())
            && decision == "allow"
            && status < 400
        {
            e.input_tokens = tokens.input;
            e.output_tokens = tokens.output;
            rec.send(e);
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

impl Flight {
    /// Finishes with a refusal or an upstream failure, answered in the caller's dialect.
    pub async fn fail(
        self,
        status: StatusCode,
        tokens: Tokens,
        decision: &str,
        kind: &str,
        message: String,
        retry_after_ms: Option<u64>,
    ) -> Response {
        let mut r = wire::error(self.dialect, status, kind, &message, retry_after_ms);
        decorate(&mut r, &self.request_id, self.overhead_us);
        self.finish(status.as_u16(), tokens, decision, Some(message))
            .await;
        r
    }

    /// Finishes with the provider unreachable or its answer broken (`502`).
    pub async fn bad_gateway(self, message: String) -> Response {
        self.fail(
            StatusCode::BAD_GATEWAY,
            Tokens::default(),
            "error:upstream",
            "api_error",
            message,
            None,
        )
        .await
    }

    /// Finishes with an answer the caller gets as it is.
    pub async fn reply(self, mut r: Response, tokens: Tokens) -> Response {
        decorate(&mut r, &self.request_id, self.overhead_us);
        let status = r.status().as_u16();
        let decision = if status < 400 {
            "allow"
        } else {
            "error:upstream"
        };
        let reason = (status >= 400).then(|| format!("the provider answered {status}"));
        self.finish(status, tokens, decision, reason).await;
        r
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
        recorded: None,
    };
    flight
        .fail(
            status,
            Tokens::default(),
            decision,
            kind,
            message.to_owned(),
            retry_after_ms,
        )
        .await
}

pub(crate) fn decorate(r: &mut Response, request_id: &str, overhead_us: u64) {
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
    let held = match guard::request(
        &gw.cfg.guardrails,
        dialect,
        &mut body,
        input_for_policy,
        &mut vault,
        &mut hits,
    ) {
        Ok(held) => held,
        Err(b) => {
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
    };
    let tools = tool_names(&body);
    // The texts as the provider will see them (PII replaced): counted, and shown to approvers.
    let mut prompt = String::new();
    guard::for_each_text(dialect, &mut body, &mut |_, t| {
        prompt.push_str(t);
        prompt.push('\n');
    });
    if let Some(h) = held {
        let digest = gauntlet_core::hash::sha256_hex(
            [
                caller.tenant.as_bytes(),
                b"\0",
                caller.agent.as_bytes(),
                b"\0",
                &raw,
            ]
            .concat()
            .as_slice(),
        );
        let refusal = match crate::approval::wait(&gw, &caller, &rid, &model, digest, &h, &prompt)
            .await
        {
            crate::approval::Outcome::Approved(_) => None,
            crate::approval::Outcome::Denied(a) => Some((
                deny("deny:approval", StatusCode::FORBIDDEN, "permission_error"),
                format!(
                    "the request was denied by {} (approval `{}`){}",
                    a.decided_by.as_deref().unwrap_or("an administrator"),
                    a.id,
                    a.note.map(|n| format!(": {n}")).unwrap_or_default()
                ),
                None,
            )),
            crate::approval::Outcome::Pending(a) => Some((
                deny("deny:pending", StatusCode::FORBIDDEN, "permission_error"),
                format!(
                    "the request needs a person's approval ({}); it waits as approval `{}`: an admin of the tenant approves it with POST /gateway/v1/approvals/{}/approve, then the same request goes through once",
                    a.reason, a.id, a.id
                ),
                None,
            )),
            crate::approval::Outcome::Unavailable(e) => Some((
                deny(
                    "deny:unavailable",
                    StatusCode::SERVICE_UNAVAILABLE,
                    "api_error",
                ),
                format!("the approval queue is unreachable, so nothing is forwarded: {e}"),
                Some(1000),
            )),
        };
        if let Some((d, message, retry)) = refusal {
            return refuse_with(d, &model, message, retry, hits).await;
        }
    }
    // The worst case, reserved on every budget and window.
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
    let recorded = gw.recorder.as_ref().map(|_| {
        let (system, messages) = crate::record::conversation(dialect, &body);
        gauntlet_core::gateway::Exchange {
            request_id: rid.clone(),
            at_ms: now_ms(),
            tenant: caller.tenant.clone(),
            agent: caller.agent.clone(),
            model: model.clone(),
            provider: route.provider.clone(),
            upstream_model: upstream_model.clone(),
            system,
            messages,
            tools: tools.clone(),
            streamed: stream,
            ..Default::default()
        }
    });
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
        recorded,
    };
    let passthrough = matches!(
        (dialect, def.kind),
        (Dialect::OpenAi, ProviderKind::Openai) | (Dialect::Anthropic, ProviderKind::Anthropic)
    );
    if passthrough {
        crate::upstream::forward(flight, &route, body, &headers, stream, cap).await
    } else {
        crate::translate::translate(flight, &route, body, stream, cap).await
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
