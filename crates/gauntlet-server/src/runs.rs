//! Run endpoints: queue, inspect, control, results, reports, live events, baselines, diffs.

use std::convert::Infallible;
use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::response::sse::{Event, KeepAlive, Sse};
use gauntlet_core::ids::RunId;
use gauntlet_store::queue::{Admission, Admitted, NewJob};
use gauntlet_store::{BaselineStore, RunStore};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::audit::action;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, Code, RequestId};
use crate::http::JsonBody;
use crate::replies;
use crate::{AppState, blocking, now_ms};

#[derive(Clone, Debug, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRun {
    /// A stored suite (project) name.
    pub suite: String,
    /// The version to run (default: newest).
    pub version: Option<i64>,
    /// Which suite of the project to run (default: its only one).
    pub run: Option<String>,
    /// The run's seed (at most 2^53 - 1, exact in JSON); by default a random one below 2^32.
    pub seed: Option<u64>,
    /// A baseline of the tenant whose trials `performance` assertions compare with.
    pub baseline: Option<String>,
    /// A chaos profile injected into the suite (`flaky-network`, ...).
    pub chaos: Option<String>,
    /// Run only these case ids.
    #[serde(default)]
    pub cases: Vec<String>,
    /// Trials per case (1-100).
    pub repeat: Option<u32>,
    /// Cases in flight at once (1-256).
    pub concurrency: Option<usize>,
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    limit: Option<String>,
}

pub async fn list_runs(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Query(q): Query<ListQuery>,
) -> ApiResult<axum::Json<replies::Runs>> {
    let limit = match q.limit.as_deref() {
        None | Some("") => 50,
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|l| (1..=500).contains(l))
            .ok_or_else(|| ApiError::bad_request("`limit` must be a number from 1 to 500"))?,
    };
    let runs = app
        .queue
        .list_with_records(&p.tenant, limit)
        .await?
        .iter()
        .map(|(job, record)| replies::Run::of(job, record.as_ref()))
        .collect();
    Ok(axum::Json(replies::Runs { runs }))
}

pub async fn create_run(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<NewRun>,
) -> ApiResult<impl IntoResponse> {
    let key = match headers.get("idempotency-key") {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .filter(|k| !k.is_empty() && k.len() <= 200)
                .ok_or_else(|| {
                    ApiError::bad_request("`Idempotency-Key` must be 1-200 visible characters")
                })?
                .to_owned(),
        ),
    };
    let (job, created) = enqueue(&app, &p, &rid, body, key).await?;
    let status = if created {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(replies::Run::of(&job, None))))
}

/// Queues a run: what `POST /runs` and the dashboard's re-run and replay buttons do.
pub(crate) async fn enqueue(
    app: &AppState,
    p: &Principal,
    rid: &RequestId,
    body: NewRun,
    key: Option<String>,
) -> ApiResult<(gauntlet_store::queue::Job, bool)> {
    if body.repeat.is_some_and(|r| !(1..=100).contains(&r)) {
        return Err(ApiError::bad_request("`repeat` must be from 1 to 100"));
    }
    if body.concurrency.is_some_and(|c| !(1..=256).contains(&c)) {
        return Err(ApiError::bad_request("`concurrency` must be from 1 to 256"));
    }
    if body.cases.len() > 10_000 {
        return Err(ApiError::bad_request("`cases` lists at most 10000 ids"));
    }
    if body.seed.is_some_and(|s| s > gauntlet_run::SEED_LIMIT) {
        return Err(ApiError::bad_request(
            "`seed` must be at most 9007199254740991 (2^53 - 1), so that every JSON reader keeps it exact",
        ));
    }
    if let Some(c) = &body.chaos
        && gauntlet_core::chaos::Chaos::profile(c).is_none()
    {
        return Err(ApiError::bad_request(format!(
            "unknown chaos profile `{c}`; profiles: {}",
            gauntlet_core::chaos::Chaos::PROFILES.join(", ")
        )));
    }
    let _turn = app
        .validations
        .acquire()
        .await
        .map_err(ApiError::internal)?;
    let a = Arc::clone(app);
    let who = p.clone();
    let (job, created) = blocking(move || {
        // The suite must exist now (the run pins its version).
        let suite = a.suites.get(&who.tenant, &body.suite, body.version)?;
        let tenant = a.accounts.tenant(&who.tenant)?;
        let day_start = now_ms() - now_ms() % 86_400_000;
        if let Some(budget) = tenant.quotas.monthly_budget_usd {
            // A running total per month, kept as runs finish.
            let month = gauntlet_core::time::rfc3339(now_ms().max(0) as u64);
            let spent = a.tenancy.month_spend(&who.tenant, &month[..7])?;
            if spent >= budget {
                return Err(ApiError::new(Code::BudgetExceeded, format!(
                    "the tenant's monthly LLM budget of ${budget:.2} is spent (${spent:.2} this month)"
                )));
            }
        }
        if let Some(name) = &body.baseline {
            a.runs.get_baseline(&who.tenant, name).map_err(|_| ApiError::not_found(format!("baseline `{name}`")))?;
        }
        // Capabilities may have been revoked since the upload: the stored files must still
        // validate for the tenant as it is now.
        crate::suites::validate_files(&a, &who.tenant, &suite.files)?;
        let plan = gauntlet_run::RunPlan {
            project: body.suite.clone(),
            version: Some(suite.version.version),
            suite: body.run.clone(),
            seed: body.seed,
            repeat: body.repeat.unwrap_or(1).max(1),
            cases: body.cases.clone(),
            chaos: body.chaos.clone(),
            concurrency: body.concurrency.or(Some(8)),
            baseline: body.baseline.clone(),
        };
        let request = serde_json::to_value(&plan).map_err(ApiError::internal)?;
        let id = RunId::from_parts(now_ms() as u64, u128::from_le_bytes(random16()?));
        let admitted = a.queue.enqueue_within(
            &who.tenant,
            &NewJob {
                id: id.as_str().to_owned(),
                queue: "runs".into(),
                priority: 0,
                max_attempts: a.config.max_attempts,
                idempotency_key: key,
                request,
                created_by: who.actor(),
            },
                    &Admission {
                runs_per_day: tenant.quotas.runs_per_day,
                parallel_runs: tenant.quotas.parallel_runs,
                day_start_ms: day_start,
            },
        )?;
        match admitted {
            Admitted::Queued(job, created) => Ok((*job, created)),
            Admitted::OverDaily { limit } => Err(ApiError::new(
                Code::QuotaExceeded,
                format!("the tenant's quota of {limit} runs per day is used up"),
            )
            .retry_after(((day_start + 86_400_000 - now_ms()) / 1000).max(1) as u64)),
            Admitted::OverParallel { active, limit } => Err(ApiError::new(
                Code::QuotaExceeded,
                format!("the tenant already has {active} runs queued or running; its quota is {limit}"),
            )
            .retry_after(5)),
        }
    })
    .await?;
    if created {
        app.wake_workers();
        app.audit.mutation(
            p,
            &rid.0,
            "run.create",
            format!("run/{}", job.id),
            json!({"request": job.request}),
        );
    }
    Ok((job, created))
}

/// A new run of what a stored run ran: the same suite version, cases, chaos and settings;
/// the same seed for a replay, a new one for a re-run.
pub(crate) fn again(plan: &gauntlet_run::RunPlan, seed: Option<u64>) -> NewRun {
    NewRun {
        suite: plan.project.clone(),
        version: plan.version,
        run: plan.suite.clone(),
        seed,
        baseline: plan.baseline.clone(),
        chaos: plan.chaos.clone(),
        cases: plan.cases.clone(),
        repeat: Some(plan.repeat.max(1)),
        concurrency: plan.concurrency,
    }
}

fn random16() -> ApiResult<[u8; 16]> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(ApiError::internal)?;
    Ok(b)
}

pub async fn get_run(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<replies::Run>> {
    let (job, record) = app.queue.get_with_record(&p.tenant, &id).await?;
    Ok(axum::Json(replies::Run::of(&job, record.as_ref())))
}

/// Cancels, pauses or resumes a run: the API's and the dashboard's buttons.
pub(crate) async fn control(
    app: AppState,
    p: Principal,
    rid: RequestId,
    id: String,
    what: &'static str,
) -> ApiResult<axum::Json<replies::Run>> {
    let (a, t, i) = (Arc::clone(&app), p.tenant.clone(), id.clone());
    let job = blocking(move || {
        let before = a.queue.get(&t, &i)?;
        if before.state.is_terminal() {
            return Err(ApiError::new(
                Code::Conflict,
                format!("run `{i}` already ended ({})", before.state.as_str()),
            ));
        }
        Ok(match what {
            "cancel" => a.queue.cancel(&t, &i)?,
            "pause" => a.queue.pause(&t, &i)?,
            _ => a.queue.resume(&t, &i)?,
        })
    })
    .await?;
    match what {
        "resume" => app.wake_workers(),
        "cancel" => app.signal_run(&id, true),
        _ => app.signal_run(&id, false),
    }
    app.publish(
        &id,
        json!({"type": "status", "run_id": id, "state": job.state, "requested": what}),
    );
    app.audit.mutation(
        &p,
        &rid.0,
        &format!("run.{what}"),
        format!("run/{id}"),
        json!({"state": job.state}),
    );
    Ok(axum::Json(replies::Run::of(&job, None)))
}

pub async fn cancel_run(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<replies::Run>> {
    control(app, p, rid, id, "cancel").await
}

pub async fn pause_run(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<replies::Run>> {
    control(app, p, rid, id, "pause").await
}

pub async fn resume_run(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<replies::Run>> {
    control(app, p, rid, id, "resume").await
}

pub async fn delete_run(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    delete(&app, &p, &rid, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes a finished run and its results (a CLI run has no job; a baseline's run stays).
pub(crate) async fn delete(
    app: &AppState,
    p: &Principal,
    rid: &RequestId,
    id: &str,
) -> ApiResult<()> {
    let (a, t, i) = (Arc::clone(app), p.tenant.clone(), id.to_owned());
    blocking(move || {
        use gauntlet_store::RetentionStore;
        let job = match a.queue.get(&t, &i) {
            Ok(job) => Some(job),
            // A run the command line recorded has no job.
            Err(gauntlet_store::StoreError::NotFound(_)) if a.runs.get_run(&t, &i).is_ok() => None,
            Err(e) => return Err(e.into()),
        };
        if let Some(job) = job.filter(|j| !j.state.is_terminal()) {
            return Err(ApiError::new(
                Code::Conflict,
                format!("run `{i}` is {}; cancel it first", job.state.as_str()),
            ));
        }
        // A baseline must not point at nothing.
        if let Some(b) = a
            .runs
            .list_baselines(&t)?
            .into_iter()
            .find(|b| b.run_id.as_str() == i)
        {
            return Err(ApiError::new(
                Code::Conflict,
                format!(
                    "run `{i}` is the baseline `{}`; point the baseline at another run first",
                    b.name
                ),
            ));
        }
        if a.runs.get_run(&t, &i).is_ok() {
            a.runs.delete_run(&t, &RunId::from_string(&i))?;
        }
        a.db.with_conn(|c| {
            c.execute(
                "DELETE FROM step_results WHERE tenant_id = $1 AND run_id = $2",
                gauntlet_store::params![t.as_str(), i.as_str()],
            )?;
            c.execute(
                "DELETE FROM jobs WHERE tenant_id = $1 AND id = $2",
                gauntlet_store::params![t.as_str(), i.as_str()],
            )
        })?;
        Ok(())
    })
    .await?;
    app.audit
        .mutation(p, &rid.0, "run.delete", format!("run/{id}"), Value::Null);
    Ok(())
}

/// The stored run of a job in the caller's tenant (404 until the run started).
async fn stored(
    app: &AppState,
    p: &Principal,
    id: &str,
) -> ApiResult<gauntlet_core::result::RunRecord> {
    let (_, record) = app.queue.get_with_record(&p.tenant, id).await?;
    record.ok_or_else(|| ApiError::not_found(format!("results of run `{id}` (it has not started)")))
}

pub async fn results(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<replies::Results>> {
    let run = stored(&app, &p, &id).await?;
    let (a, who) = (Arc::clone(&app), p.clone());
    let (run, cases) = blocking(move || {
        let mut cases = Vec::new();
        a.runs.for_each_case(&who.tenant, &run.id, &mut |c| {
            cases.push(c);
            Ok(())
        })?;
        Ok((run, cases))
    })
    .await?;
    app.audit.send(
        app.audit
            .by(&p, action::EXPORT, format!("run/{id}"), &rid.0)
            .details(json!({"what": "results", "cases": cases.len()})),
    );
    Ok(axum::Json(replies::Results { run, cases }))
}

#[derive(Debug, Deserialize)]
pub struct ReportQuery {
    format: Option<String>,
}

pub async fn report(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    Path(id): Path<String>,
    Query(q): Query<ReportQuery>,
) -> ApiResult<impl IntoResponse> {
    let name = q.format.unwrap_or_default();
    let format = gauntlet_report::Format::parse(&name).ok_or_else(|| {
        ApiError::bad_request(format!(
            "`format` must be one of {}",
            gauntlet_report::Format::NAMES.join(", ")
        ))
    })?;
    let run = stored(&app, &p, &id).await?;
    let (a, who) = (Arc::clone(&app), p.clone());
    let bytes = blocking(move || {
        let mut out = Vec::new();
        {
            let mut w = gauntlet_web::report::writer(format, Box::new(&mut out));
            w.begin(&run).map_err(ApiError::internal)?;
            let repeated = a
                .runs
                .snapshot(&who.tenant, &run.id)?
                .get("repeat")
                .and_then(Value::as_u64)
                .is_some_and(|r| r > 1);
            let mut summary = if repeated {
                gauntlet_report::Summary::with_trials()
            } else {
                gauntlet_report::Summary::default()
            };
            let mut failed = None;
            a.runs.for_each_case(&who.tenant, &run.id, &mut |c| {
                summary.add(&c);
                if let Err(e) = w.case(&c) {
                    failed.get_or_insert(e);
                }
                Ok(())
            })?;
            if let Some(e) = failed {
                return Err(ApiError::internal(e));
            }
            w.end(&run, &summary).map_err(ApiError::internal)?;
        }
        Ok(out)
    })
    .await?;
    app.audit.send(
        app.audit
            .by(&p, action::EXPORT, format!("run/{id}"), &rid.0)
            .details(json!({"what": "report", "format": name})),
    );
    let mime = match format {
        gauntlet_report::Format::Json => "application/json",
        gauntlet_report::Format::Junit => "application/xml",
        gauntlet_report::Format::Markdown => "text/markdown; charset=utf-8",
        gauntlet_report::Format::Csv => "text/csv; charset=utf-8",
        gauntlet_report::Format::Html => "text/html; charset=utf-8",
    };
    Ok(([(axum::http::header::CONTENT_TYPE, mime)], bytes))
}

/// Where a run stands for a new subscriber: its state, whether it ended, and its counts from
/// the store (for a run no worker of this process is executing).
async fn standing(app: &AppState, p: &Principal, id: &str) -> ApiResult<(String, bool, [u64; 3])> {
    let (a, t, i) = (Arc::clone(app), p.tenant.clone(), id.to_owned());
    blocking(move || {
        let (state, done) = match a.queue.get(&t, &i) {
            Ok(job) => (job.state.as_str().to_owned(), job.state.is_terminal()),
            // A run recorded by the command line has no job.
            Err(gauntlet_store::StoreError::NotFound(_)) => {
                let run = a
                    .runs
                    .get_run(&t, &i)
                    .map_err(|_| ApiError::not_found(format!("run `{i}`")))?;
                (run.status.as_str().to_owned(), run.finished_at.is_some())
            }
            Err(e) => return Err(e.into()),
        };
        let mut counts = [0u64; 3];
        for (status, n) in a.explore.case_counts(&t, &RunId::from_string(&i))? {
            counts[match status {
                gauntlet_core::result::CaseStatus::Passed => 0,
                gauntlet_core::result::CaseStatus::Failed => 1,
                gauntlet_core::result::CaseStatus::Error => 2,
            }] += n;
        }
        Ok((state, done, counts))
    })
    .await
}

/// The events a subscriber receives first, and whether the run already ended.
async fn opening(
    app: &AppState,
    p: &Principal,
    id: &str,
    after: Option<u64>,
) -> ApiResult<(
    Vec<crate::events::Numbered>,
    bool,
    tokio::sync::broadcast::Receiver<crate::events::Numbered>,
)> {
    // The run must be the caller's before anything is kept for it.
    let (state, done, stored) = standing(app, p, id).await?;
    let (start, rx) = app.hub.subscribe(id, after, done);
    let mut first = match start {
        crate::events::Start::Missed(events) => events,
        crate::events::Start::Fresh {
            seq,
            counts,
            planned,
        } => vec![(
            seq,
            crate::events::snapshot(id, &state, counts.unwrap_or(stored), planned),
        )],
    };
    if done && !first.iter().any(|(_, v)| v["type"] == "end") {
        let seq = first.last().map_or(0, |(n, _)| *n);
        first.push((seq, json!({"type": "end", "run_id": id, "state": state})));
    }
    Ok((first, done, rx))
}

fn last_event_id(headers: &HeaderMap) -> Option<u64> {
    headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// Live events over SSE. Each event carries its number as its `id`; a client reconnecting
/// with `Last-Event-ID` gets the events it missed, else a `snapshot` first.
pub async fn events(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<impl IntoResponse> {
    let (first, done, rx) = opening(&app, &p, &id, last_event_id(&headers)).await?;
    let stream = futures_util::stream::unfold(
        (std::collections::VecDeque::from(first), done, false, rx),
        |(mut pending, ended, finished, mut rx)| async move {
            if finished {
                return None;
            }
            let (n, v) = match pending.pop_front() {
                Some(e) => e,
                None if ended => return None,
                None => loop {
                    match rx.recv().await {
                        Ok(e) => break e,
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(_) => return None,
                    }
                },
            };
            let end = v["type"] == "end";
            let event = Event::default()
                .id(n.to_string())
                .event(v["type"].as_str().unwrap_or("status"))
                .data(v.to_string());
            Some((Ok::<_, Infallible>(event), (pending, ended, end, rx)))
        },
    );
    Ok((
        [(axum::http::header::CACHE_CONTROL, "no-cache")],
        Sse::new(stream).keep_alive(KeepAlive::default()),
    ))
}

/// The same events over WebSocket: one JSON text message each (with its number as `seq`),
/// closed after `end`. `?after=N` resumes after event N.
pub async fn events_ws(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
    Query(q): Query<AfterQuery>,
    ws: Result<
        axum::extract::ws::WebSocketUpgrade,
        axum::extract::ws::rejection::WebSocketUpgradeRejection,
    >,
) -> ApiResult<axum::response::Response> {
    use axum::extract::ws::Message;
    let (first, done, rx) = opening(&app, &p, &id, q.after).await?;
    let ws = ws.map_err(|_| {
        ApiError::bad_request("this endpoint speaks WebSocket: send an upgrade request")
    })?;
    let text = |(n, mut v): crate::events::Numbered| {
        v["seq"] = n.into();
        Message::Text(v.to_string().into())
    };
    Ok(ws.on_upgrade(move |mut socket| async move {
        let mut rx = rx;
        for e in first {
            let end = e.1["type"] == "end";
            if socket.send(text(e)).await.is_err() {
                return;
            }
            if end {
                let _ = socket.send(Message::Close(None)).await;
                return;
            }
        }
        if done {
            let _ = socket.send(Message::Close(None)).await;
            return;
        }
        loop {
            tokio::select! {
                event = rx.recv() => match event {
                    Ok(e) => {
                        let end = e.1["type"] == "end";
                        if socket.send(text(e)).await.is_err() {
                            return;
                        }
                        if end {
                            let _ = socket.send(Message::Close(None)).await;
                            return;
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => return,
                },
                incoming = socket.recv() => match incoming {
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                    Some(Ok(_)) => {}
                },
            }
        }
    }))
}

#[derive(Debug, Deserialize)]
pub struct AfterQuery {
    after: Option<u64>,
}

// ---- baselines and diffs ----

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BaselineBody {
    /// The run the baseline points at.
    pub run: String,
}

pub async fn list_baselines(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
) -> ApiResult<axum::Json<replies::Baselines>> {
    let b = blocking(move || Ok(app.runs.list_baselines(&p.tenant)?)).await?;
    Ok(axum::Json(replies::Baselines { baselines: b }))
}

pub async fn set_baseline(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<BaselineBody>,
) -> ApiResult<axum::Json<replies::BaselineSet>> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(ApiError::bad_request(
            "a baseline name is 1-64 letters, digits, `-`, `_`, `.`",
        ));
    }
    let run = stored(&app, &p, &body.run).await?;
    let (a, who, n) = (Arc::clone(&app), p.clone(), name.clone());
    let (before, run) = blocking(move || {
        let before = a
            .runs
            .set_baseline(&who.tenant, &n, &run, &crate::now_rfc3339())?;
        Ok((before, run))
    })
    .await?;
    app.audit.mutation(
        &p,
        &rid.0,
        "baseline.set",
        format!("baseline/{name}"),
        json!({"run": run.id.as_str(), "previous": before.as_ref().map(|b| b.run_id.as_str())}),
    );
    Ok(axum::Json(replies::BaselineSet {
        name,
        run_id: run.id.as_str().to_owned(),
        previous: before,
    }))
}

#[derive(Debug, Deserialize)]
pub struct DiffQuery {
    a: Option<String>,
    b: Option<String>,
}

pub async fn diff(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Query(q): Query<DiffQuery>,
) -> ApiResult<impl IntoResponse> {
    let (Some(a_id), Some(b_id)) = (q.a, q.b) else {
        return Err(ApiError::bad_request("give both runs: ?a=<run>&b=<run>"));
    };
    let (run_a, run_b) = (
        stored(&app, &p, &a_id).await?,
        stored(&app, &p, &b_id).await?,
    );
    let d = run_diff(&app, &p, run_a, run_b).await?;
    let text = gauntlet_diff::render::json(&d);
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        text,
    ))
}

/// The diff of two stored runs of the caller's tenant.
pub(crate) async fn run_diff(
    app: &AppState,
    p: &Principal,
    run_a: gauntlet_core::result::RunRecord,
    run_b: gauntlet_core::result::RunRecord,
) -> ApiResult<gauntlet_diff::RunDiff> {
    // The two sides are read at once, each on its own connection.
    let side = |run: gauntlet_core::result::RunRecord| {
        let (app, p) = (Arc::clone(app), p.clone());
        blocking(move || {
            let snapshot = app.runs.snapshot(&p.tenant, &run.id)?;
            let mut cases = Vec::new();
            app.runs.for_each_case(&p.tenant, &run.id, &mut |c| {
                cases.push(gauntlet_diff::CaseSummary::of(&c));
                Ok(())
            })?;
            Ok(gauntlet_diff::Side {
                run,
                snapshot,
                cases,
            })
        })
    };
    let (a, b) = tokio::join!(side(run_a), side(run_b));
    let (a, b) = (a?, b?);
    blocking(move || Ok(gauntlet_diff::diff(a, b))).await
}
