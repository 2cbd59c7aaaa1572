//! Administration over HTTP with an admin key of a tenant: its agents (lifecycle and
//! telemetry), kill switches of its agents and of itself, and invoices. Every change is in the
//! audit log. The global switch is the operator's (`gauntlet gateway kill --global`).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use gauntlet_audit::{Decision, NewEvent};
use gauntlet_core::ids::TenantId;
use gauntlet_store::gateway::Switch;
use serde_json::{Value, json};

use crate::{Caller, Gateway, now_ms};

pub(crate) fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

pub(crate) async fn admin(gw: &Gateway, headers: &HeaderMap) -> Result<Caller, Response> {
    match crate::proxy::caller(gw, headers).await {
        Some(c) if c.admin => Ok(c),
        Some(_) => Err(error(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this key is not an admin key of its tenant",
        )),
        None => Err(error(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "the gateway key is missing, unknown or revoked",
        )),
    }
}

pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, gauntlet_store::StoreError> + Send + 'static,
) -> Result<T, Response> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(error(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            &e.to_string(),
        )),
        Err(e) => Err(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            &e.to_string(),
        )),
    }
}

pub(crate) fn audit(
    gw: &Gateway,
    c: &Caller,
    action: &str,
    resource: String,
    reason: Option<String>,
) {
    let mut e = NewEvent::new(&c.tenant, &format!("key:{}", c.key_id), action, resource);
    e.decision = Some(Decision::Allow);
    e.reason = reason;
    gw.audit.send(e);
}

/// The tenant's agents with their state, switch and last day's figures; zombies marked.
pub async fn agents(State(gw): State<Arc<Gateway>>, headers: HeaderMap) -> Response {
    let c = match admin(&gw, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let (store, tenant) = (gw.store.clone(), TenantId::new(&c.tenant));
    let now = now_ms() as i64;
    let got = blocking(move || {
        Ok((
            store.agents(&tenant)?,
            store.figures(&tenant, now - 86_400_000, now + 1)?,
        ))
    })
    .await;
    let (agents, figures) = match got {
        Ok(v) => v,
        Err(r) => return r,
    };
    let silent = gw.cfg.zombies.silent_after_seconds as i64 * 1000;
    let list: Vec<Value> = agents
        .iter()
        .filter(|a| a.state != "archived")
        .map(|a| {
            let switch = gw.switches.stopping(&c.tenant, &a.name).map(|s| json!({"scope": s.scope, "state": s.state, "reason": s.reason, "actor": s.actor}));
            json!({
                "name": a.name, "state": a.state, "registered_at": a.registered_at, "last_seen": a.last_seen,
                "zombie": a.state == "active" && a.last_seen.is_none_or(|t| now - t > silent),
                "switch": switch,
                "last_24h": figures.iter().find(|f| f.agent == a.name),
            })
        })
        .collect();
    axum::Json(json!({"agents": list})).into_response()
}

#[derive(serde::Deserialize)]
pub struct AgentState {
    state: String,
}

/// Registers an agent or moves it through its lifecycle: `active`, `retired` (refused),
/// `archived` (refused and hidden).
pub async fn set_agent(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let c = match admin(&gw, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let Ok(body) = serde_json::from_slice::<AgentState>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "send {\"state\": \"active\" | \"retired\" | \"archived\"}",
        );
    };
    if !matches!(body.state.as_str(), "active" | "retired" | "archived") {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_state",
            "state is one of: active, retired, archived",
        );
    }
    let (store, tenant, n, st) = (
        gw.store.clone(),
        c.tenant.clone(),
        name.clone(),
        body.state.clone(),
    );
    let switch = Switch {
        tenant: c.tenant.clone(),
        scope: "agent".into(),
        subject: name.clone(),
        state: "retired".into(),
        reason: format!("the agent is {}", body.state),
        actor: format!("key:{}", c.key_id),
        at_ms: now_ms() as i64,
    };
    let sw = switch.clone();
    let done = blocking(move || {
        store.set_agent(&TenantId::new(&tenant), &n, &st, now_ms() as i64)?;
        if st == "active" {
            // Reactivating lifts only the lifecycle's own switch.
            if store.switches()?.iter().any(|s| {
                s.tenant == tenant && s.scope == "agent" && s.subject == n && s.state == "retired"
            }) {
                store.clear_switch(&tenant, "agent", &n)?;
            }
        } else {
            store.set_switch(&sw)?;
        }
        Ok(())
    })
    .await;
    if let Err(r) = done {
        return r;
    }
    if body.state == "active" {
        if gw
            .switches
            .stopping(&c.tenant, &name)
            .is_some_and(|s| s.state == "retired")
        {
            gw.switches.remove(&c.tenant, "agent", &name);
        }
    } else {
        gw.switches.put(switch);
    }
    audit(
        &gw,
        &c,
        "gateway.agent",
        format!("agent:{name}"),
        Some(body.state.clone()),
    );
    axum::Json(json!({"name": name, "state": body.state})).into_response()
}

pub async fn switches(State(gw): State<Arc<Gateway>>, headers: HeaderMap) -> Response {
    let c = match admin(&gw, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let list: Vec<Value> = gw
        .switches
        .all()
        .into_iter()
        .filter(|s| s.tenant == c.tenant || s.scope == "global")
        .map(|s| json!({"scope": s.scope, "subject": s.subject, "state": s.state, "reason": s.reason, "actor": s.actor, "at_ms": s.at_ms}))
        .collect();
    axum::Json(json!({"switches": list})).into_response()
}

#[derive(serde::Deserialize)]
pub struct Kill {
    scope: String,
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

/// Flips a kill switch of the caller's tenant (`scope: tenant`) or of one of its agents.
pub async fn kill(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let c = match admin(&gw, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let Ok(k) = serde_json::from_slice::<Kill>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "send {\"scope\": \"agent\" | \"tenant\", \"subject\": NAME, \"reason\": …}",
        );
    };
    let subject = match (k.scope.as_str(), k.subject) {
        ("tenant", _) => c.tenant.clone(),
        ("agent", Some(s)) if !s.is_empty() => s,
        ("agent", _) => {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_subject",
                "an agent switch needs `subject`: the agent's name",
            );
        }
        _ => {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_scope",
                "scope is `agent` or `tenant`; the global switch is the operator's (`gauntlet gateway kill --global`)",
            );
        }
    };
    let s = Switch {
        tenant: c.tenant.clone(),
        scope: k.scope.clone(),
        subject: subject.clone(),
        state: "killed".into(),
        reason: k
            .reason
            .unwrap_or_else(|| "killed by an administrator".into()),
        actor: format!("key:{}", c.key_id),
        at_ms: now_ms() as i64,
    };
    let (store, sw) = (gw.store.clone(), s.clone());
    if let Err(r) = blocking(move || store.set_switch(&sw)).await {
        return r;
    }
    gw.switches.put(s.clone());
    audit(
        &gw,
        &c,
        "gateway.kill",
        format!("{}:{subject}", k.scope),
        Some(s.reason.clone()),
    );
    (
        StatusCode::CREATED,
        axum::Json(json!({"scope": s.scope, "subject": s.subject, "state": s.state})),
    )
        .into_response()
}

/// Lifts a kill switch or a suspension of the caller's tenant.
pub async fn resume(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    Path((scope, subject)): Path<(String, String)>,
) -> Response {
    let c = match admin(&gw, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if !matches!(scope.as_str(), "agent" | "tenant") || (scope == "tenant" && subject != c.tenant) {
        return error(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such switch in this tenant",
        );
    }
    let (store, tenant, sc, su) = (
        gw.store.clone(),
        c.tenant.clone(),
        scope.clone(),
        subject.clone(),
    );
    let found = match blocking(move || store.clear_switch(&tenant, &sc, &su)).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let Some(was) = found else {
        return error(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such switch in this tenant",
        );
    };
    gw.switches.remove(&c.tenant, &scope, &subject);
    let action = if was.state == "suspended" {
        "gateway.unsuspend"
    } else {
        "gateway.resume"
    };
    audit(
        &gw,
        &c,
        action,
        format!("{scope}:{subject}"),
        Some(format!("was {}: {}", was.state, was.reason)),
    );
    axum::Json(json!({"scope": scope, "subject": subject, "lifted": was.state})).into_response()
}

#[derive(serde::Deserialize)]
pub struct InvoiceQuery {
    #[serde(default)]
    format: Option<String>,
}

/// The tenant's invoice for a month (`2026-12`): a line per agent and model, in JSON or CSV,
/// summed from the same usage records the budgets settled.
pub async fn invoice(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    Path(month): Path<String>,
    Query(q): Query<InvoiceQuery>,
) -> Response {
    let c = match admin(&gw, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let Some((from, to)) = month_range(&month) else {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_month",
            "the month is written YYYY-MM, e.g. 2026-12",
        );
    };
    let (store, tenant) = (gw.store.clone(), TenantId::new(&c.tenant));
    let rows = match blocking(move || store.usage(&tenant, from, to, 5_000_000)).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let mut lines: std::collections::BTreeMap<(String, String), (i64, i64, i64, i64)> =
        Default::default();
    for u in rows
        .iter()
        .filter(|u| u.status < 400 || u.output_tokens > 0)
    {
        let l = lines.entry((u.agent.clone(), u.model.clone())).or_default();
        l.0 += 1;
        l.1 += u.input_tokens;
        l.2 += u.output_tokens;
        l.3 += u.cost_micro;
    }
    let total: i64 = lines.values().map(|l| l.3).sum();
    if q.format.as_deref() == Some("csv") {
        let mut out =
            String::from("tenant,month,agent,model,requests,input_tokens,output_tokens,cost_usd\n");
        for ((agent, model), (n, i, o, cost)) in &lines {
            out.push_str(&format!(
                "{},{month},{},{},{n},{i},{o},{:.6}\n",
                csv(&c.tenant),
                csv(agent),
                csv(model),
                *cost as f64 / 1e6
            ));
        }
        out.push_str(&format!(
            "{},{month},TOTAL,,,,,{:.6}\n",
            csv(&c.tenant),
            total as f64 / 1e6
        ));
        return ([("content-type", "text/csv; charset=utf-8")], out).into_response();
    }
    let list: Vec<Value> = lines
        .iter()
        .map(|((agent, model), (n, i, o, cost))| json!({"agent": agent, "model": model, "requests": n, "input_tokens": i, "output_tokens": o, "cost_usd": *cost as f64 / 1e6, "cost_micro_usd": cost}))
        .collect();
    axum::Json(json!({"tenant": c.tenant, "month": month, "lines": list, "total_usd": total as f64 / 1e6, "total_micro_usd": total})).into_response()
}

fn csv(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// Milliseconds of the first instant of `YYYY-MM` and of the next month.
fn month_range(month: &str) -> Option<(i64, i64)> {
    let (y, m) = month.split_once('-')?;
    let (y, m): (i64, i64) = (y.parse().ok()?, m.parse().ok()?);
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || month.len() != 7 {
        return None;
    }
    let start = gauntlet_core::time::parse_rfc3339(&format!("{y:04}-{m:02}-01T00:00:00Z"))?;
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    let end = gauntlet_core::time::parse_rfc3339(&format!("{ny:04}-{nm:02}-01T00:00:00Z"))?;
    Some((start as i64, end as i64))
}
