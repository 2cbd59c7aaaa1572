//! Requests a policy's `require_approval` rule holds until a person decides, and the queue
//! administrators decide them from.
//!
//! A held request is filed once (found again by the SHA-256 of its tenant, agent and body)
//! and waits up to `approvals.wait_seconds`, polling its approval; undecided by then, it is
//! answered "pending" and the agent may send the same request again later. An approval lets
//! exactly one request through, on whichever instance sees it first. Filing, deciding and
//! using an approval are all in the audit log.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use gauntlet_audit::{Decision, NewEvent};
use gauntlet_core::ids::TenantId;
use gauntlet_store::gateway::approvals::Approval;
use serde_json::json;

use crate::admin::{admin, audit, blocking, error};
use crate::guard::Held;
use crate::{Caller, Gateway, now_ms};

/// What became of a held request.
pub enum Outcome {
    /// Approved, and this request used the approval.
    Approved(Approval),
    Denied(Approval),
    /// Still undecided after the wait.
    Pending(Approval),
    /// The database could not be read: the gateway refuses.
    Unavailable(String),
}

const POLL: Duration = Duration::from_millis(250);
const PREVIEW_CHARS: usize = 2000;

/// Files the request for approval (or finds its approval) and waits for a decision.
pub async fn wait(
    gw: &Arc<Gateway>,
    caller: &Caller,
    request_id: &str,
    model: &str,
    digest: String,
    held: &Held,
    preview: &str,
) -> Outcome {
    let started = Instant::now();
    let wait = Duration::from_secs(gw.cfg.approvals.wait_seconds);
    let mut id_bytes = [0u8; 9];
    let _ = getrandom::fill(&mut id_bytes);
    let new = Approval {
        id: format!(
            "ap_{}",
            id_bytes
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        ),
        tenant: caller.tenant.clone(),
        agent: caller.agent.clone(),
        key_id: caller.key_id.clone(),
        digest,
        model: model.to_owned(),
        reason: format!("{}: {}", held.guardrail, held.reason),
        preview: preview.chars().take(PREVIEW_CHARS).collect(),
        request_id: request_id.to_owned(),
        state: "pending".into(),
        requested_at: now_ms() as i64,
        decided_at: None,
        decided_by: None,
        note: None,
    };
    let since = new.requested_at - gw.cfg.approvals.valid_seconds as i64 * 1000;
    loop {
        let (store, n) = (gw.store.clone(), new.clone());
        let found = match tokio::task::spawn_blocking(move || store.approval_for(&n, since)).await {
            Ok(Ok(a)) => a,
            Ok(Err(e)) => return Outcome::Unavailable(e.to_string()),
            Err(e) => return Outcome::Unavailable(e.to_string()),
        };
        if found.id == new.id {
            filed(gw, &found);
        }
        match found.state.as_str() {
            "approved" => {
                let (store, t, id) = (gw.store.clone(), found.tenant.clone(), found.id.clone());
                match tokio::task::spawn_blocking(move || store.use_approval(&t, &id)).await {
                    Ok(Ok(true)) => {
                        let mut e = NewEvent::new(
                            &caller.tenant,
                            &format!("key:{}", caller.key_id),
                            "gateway.approval.use",
                            format!("approval:{}", found.id),
                        )
                        .request_id(request_id);
                        e.decision = Some(Decision::Allow);
                        gw.audit.send(e);
                        return Outcome::Approved(found);
                    }
                    // Another copy of the request used it first: this one asks again.
                    Ok(Ok(false)) => continue,
                    Ok(Err(e)) => return Outcome::Unavailable(e.to_string()),
                    Err(e) => return Outcome::Unavailable(e.to_string()),
                }
            }
            "denied" => return Outcome::Denied(found),
            _ if started.elapsed() >= wait => return Outcome::Pending(found),
            _ => tokio::time::sleep(POLL.min(wait.saturating_sub(started.elapsed()))).await,
        }
    }
}

/// A request newly filed: audited, and announced on the alert webhook.
fn filed(gw: &Gateway, a: &Approval) {
    let mut e = NewEvent::new(
        &a.tenant,
        &format!("key:{}", a.key_id),
        "gateway.approval.request",
        format!("approval:{}", a.id),
    )
    .request_id(&a.request_id);
    e.reason = Some(a.reason.clone());
    e.details = json!({"agent": a.agent, "model": a.model});
    gw.audit.send(e);
    gw.alert(json!({
        "alert": "approval_required", "tenant": a.tenant, "agent": a.agent, "approval": a.id,
        "reason": a.reason, "model": a.model, "request_id": a.request_id,
    }));
}

#[derive(serde::Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    state: Option<String>,
}

/// The tenant's approvals, newest first: `?state=pending` for the queue.
pub async fn list(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Response {
    let c = match admin(&gw, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if let Some(s) = &q.state
        && !matches!(s.as_str(), "pending" | "approved" | "denied" | "used")
    {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_state",
            "state is one of: pending, approved, denied, used",
        );
    }
    let (store, tenant) = (gw.store.clone(), TenantId::new(&c.tenant));
    match blocking(move || store.approvals(&tenant, q.state.as_deref(), 500)).await {
        Ok(list) => axum::Json(json!({"approvals": list})).into_response(),
        Err(r) => r,
    }
}

pub async fn get(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let c = match admin(&gw, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let (store, tenant) = (gw.store.clone(), TenantId::new(&c.tenant));
    match blocking(move || store.approval(&tenant, &id)).await {
        Ok(Some(a)) => axum::Json(a).into_response(),
        Ok(None) => not_found(),
        Err(r) => r,
    }
}

fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such approval in this tenant",
    )
}

#[derive(serde::Deserialize, Default)]
pub struct DecideBody {
    #[serde(default)]
    note: Option<String>,
}

pub async fn approve(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    decide(gw, headers, id, body, true).await
}

pub async fn deny(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    decide(gw, headers, id, body, false).await
}

/// Decides a pending approval of the caller's tenant. A key cannot decide a request it
/// sent itself.
async fn decide(
    gw: Arc<Gateway>,
    headers: HeaderMap,
    id: String,
    body: axum::body::Bytes,
    approve: bool,
) -> Response {
    let c = match admin(&gw, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let note = if body.is_empty() {
        DecideBody::default()
    } else {
        match serde_json::from_slice::<DecideBody>(&body) {
            Ok(b) => b,
            Err(_) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "invalid_body",
                    "send nothing, or {\"note\": \"why\"}",
                );
            }
        }
    }
    .note
    .map(|n| n.chars().take(1000).collect::<String>());
    let (store, tenant, i) = (gw.store.clone(), TenantId::new(&c.tenant), id.clone());
    let current = match blocking(move || store.approval(&tenant, &i)).await {
        Ok(Some(a)) => a,
        Ok(None) => return not_found(),
        Err(r) => return r,
    };
    if current.key_id == c.key_id {
        return error(
            StatusCode::FORBIDDEN,
            "forbidden",
            "a key cannot decide a request it sent itself",
        );
    }
    let actor = format!("key:{}", c.key_id);
    let (store, tenant, i, a, n) = (
        gw.store.clone(),
        TenantId::new(&c.tenant),
        id.clone(),
        actor.clone(),
        note.clone(),
    );
    let decided = match blocking(move || {
        store.decide_approval(&tenant, &i, approve, &a, n.as_deref(), now_ms() as i64)
    })
    .await
    {
        Ok(d) => d,
        Err(r) => return r,
    };
    let Some(decided) = decided else {
        return error(
            StatusCode::CONFLICT,
            "already_decided",
            &format!("the approval is already {}", current.state),
        );
    };
    audit(
        &gw,
        &c,
        if approve {
            "gateway.approve"
        } else {
            "gateway.reject"
        },
        format!("approval:{id}"),
        note.or(Some(decided.reason.clone())),
    );
    axum::Json(decided).into_response()
}
