//! The page handlers: read what a page shows (tenant-scoped, a page at a time), render it with
//! `gauntlet-web`; the buttons call the API's operations.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use gauntlet_core::result::CaseStatus;
use gauntlet_store::RunStore;
use gauntlet_store::explore::{AssertionQuery, CaseQuery, RunCursor, RunQuery};

use super::{PageError, PageResult, Visitor, chrome, html, job_state, see_other};
use crate::auth::Principal;
use crate::error::{ApiError, Code, RequestId};
use crate::{AppState, blocking};

type Params = Query<HashMap<String, String>>;

fn param(q: &HashMap<String, String>, name: &str) -> String {
    q.get(name).map(|v| v.trim().to_owned()).unwrap_or_default()
}

fn some(v: String) -> Option<String> {
    (!v.is_empty()).then_some(v)
}

/// The stylesheet and the script, cached for a year (links carry their hash).
pub async fn asset(Path(file): Path<String>) -> Response {
    let (body, mime) = match file.as_str() {
        "app.css" => (gauntlet_web::STYLE, "text/css; charset=utf-8"),
        "app.js" => (gauntlet_web::SCRIPT, "text/javascript; charset=utf-8"),
        _ => {
            return PageError::from(ApiError::not_found(format!("asset `{file}`"))).into_response();
        }
    };
    let mut r = body.into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    r
}

/// A date from a filter (`2026-12-01`) as the start of its day in RFC 3339.
fn day(v: &str, end: bool) -> Result<Option<String>, ApiError> {
    if v.is_empty() {
        return Ok(None);
    }
    let ms = gauntlet_core::time::parse_rfc3339(&format!("{v}T00:00:00Z"))
        .ok_or_else(|| ApiError::bad_request(format!("`{v}` is not a date (YYYY-MM-DD)")))?;
    let ms = if end { ms + 86_400_000 } else { ms };
    Ok(Some(gauntlet_core::time::rfc3339(ms)))
}

pub async fn runs(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(v): Extension<Visitor>,
    Query(q): Params,
) -> PageResult<Response> {
    let filters = gauntlet_web::pages::runs::Filters {
        suite: param(&q, "suite"),
        target: param(&q, "target"),
        status: param(&q, "status"),
        tag: param(&q, "tag"),
        since: param(&q, "since"),
        until: param(&q, "until"),
        text: param(&q, "q"),
    };
    let after = some(param(&q, "after"));
    let query = RunQuery {
        suite: some(filters.suite.clone()),
        target: some(filters.target.clone()),
        status: some(filters.status.clone()),
        tag: some(filters.tag.clone()),
        since: day(&filters.since, false).map_err(|e| PageError(e, Some(p.clone())))?,
        until: day(&filters.until, true).map_err(|e| PageError(e, Some(p.clone())))?,
        text: some(filters.text.clone()),
        after: after.as_deref().and_then(RunCursor::decode),
        limit: 50,
    };
    let (a, who) = (Arc::clone(&app), p.clone());
    let first_page = after.is_none();
    let (page, facets, jobs, queued) = blocking(move || {
        let page = a.explore.runs(&who.tenant, &query)?;
        let facets = a.explore.facets(&who.tenant)?;
        // The queue's view of the runs shown (paused, queued), and what waits to start.
        let mut jobs = HashMap::new();
        for r in &page.items {
            if let Ok(j) = a.queue.get(&who.tenant, r.id.as_str()) {
                jobs.insert(r.id.as_str().to_owned(), j.state.as_str().to_owned());
            }
        }
        let queued = if first_page {
            a.queue.waiting(&who.tenant, 50)?
        } else {
            Vec::new()
        };
        Ok((page, facets, jobs, queued))
    })
    .await?;
    let next = if page.more {
        page.items.last().map(|r| {
            RunCursor {
                started_at: r.started_at.clone(),
                id: r.id.as_str().to_owned(),
            }
            .encode()
        })
    } else {
        None
    };
    // A running run shows what it has recorded so far.
    let mut rows = Vec::new();
    for run in page.items {
        let live = if run.status.as_str() == "running" {
            let (a, t, id) = (Arc::clone(&app), p.tenant.clone(), run.id.clone());
            let counts = blocking(move || Ok(a.explore.case_counts(&t, &id)?)).await?;
            let n = |s: CaseStatus| counts.iter().find(|(c, _)| *c == s).map_or(0, |(_, n)| *n);
            Some((
                n(CaseStatus::Passed),
                n(CaseStatus::Failed),
                n(CaseStatus::Error),
            ))
        } else {
            None
        };
        rows.push(gauntlet_web::pages::runs::Row {
            job: jobs.get(run.id.as_str()).cloned(),
            run,
            live,
        });
    }
    let queued: Vec<_> = queued
        .into_iter()
        .map(|j| gauntlet_web::pages::runs::Queued {
            suite: j.request["project"].as_str().unwrap_or("").to_owned(),
            state: j.state.as_str().to_owned(),
            created_at: gauntlet_core::time::rfc3339(j.created_at.max(0) as u64),
            id: j.id,
        })
        .collect();
    let view = gauntlet_web::pages::runs::View {
        filters: &filters,
        facets: &facets,
        rows: &rows,
        queued: &queued,
        next,
        paged: !first_page,
    };
    Ok(html(gauntlet_web::pages::runs::page(
        &chrome(&app, &p, &v),
        &view,
    )))
}

async fn has_record(app: &AppState, p: &Principal, id: &str) -> PageResult<bool> {
    let (a, t, i) = (Arc::clone(app), p.tenant.clone(), id.to_owned());
    Ok(blocking(move || Ok(a.runs.get_run(&t, &i).is_ok_and(|r| r.id.as_str() == i))).await?)
}

/// A stored run of the caller's tenant, by its whole id.
async fn run_of(
    app: &AppState,
    p: &Principal,
    id: &str,
) -> PageResult<gauntlet_core::result::RunRecord> {
    let (a, t, i) = (Arc::clone(app), p.tenant.clone(), id.to_owned());
    let found = blocking(move || match a.runs.get_run(&t, &i) {
        Ok(r) if r.id.as_str() == i => Ok(Some(r)),
        Ok(_)
        | Err(gauntlet_store::StoreError::RunNotFound(_))
        | Err(gauntlet_store::StoreError::AmbiguousRun { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    })
    .await?;
    match found {
        Some(r) => Ok(r),
        None => {
            // A queued run has no results yet: its page says so.
            let job = job_state(app, p, id).await?;
            let message = match job {
                Some(j) => format!(
                    "run `{id}` has not started yet ({}); its page opens once it does",
                    j.state.as_str()
                ),
                None => format!("there is no run `{id}`"),
            };
            Err(PageError(
                ApiError::new(Code::NotFound, message),
                Some(p.clone()),
            ))
        }
    }
}

pub async fn run(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(v): Extension<Visitor>,
    Path(id): Path<String>,
    Query(q): Params,
) -> PageResult<Response> {
    let job = job_state(&app, &p, &id).await?;
    // A queued run has no record yet: its page waits for it, live.
    if let Some(j) = job.as_ref().filter(|j| !j.state.is_terminal())
        && !has_record(&app, &p, &id).await?
    {
        let suite = j.request["project"].as_str().unwrap_or("").to_owned();
        return Ok(html(gauntlet_web::pages::run::waiting(
            &chrome(&app, &p, &v),
            &id,
            &suite,
            j.state.as_str(),
        )));
    }
    let record = run_of(&app, &p, &id).await?;
    let filter = gauntlet_web::pages::run::CaseFilter {
        status: param(&q, "status"),
        target: param(&q, "target"),
        text: param(&q, "q"),
    };
    let status = match filter.status.as_str() {
        "" => None,
        s => Some(CaseStatus::parse(s).ok_or_else(|| {
            PageError(
                ApiError::bad_request("`status` is passed, failed or error"),
                Some(p.clone()),
            )
        })?),
    };
    let after = param(&q, "after").parse::<u32>().ok();
    let query = CaseQuery {
        status,
        target: some(filter.target.clone()),
        text: some(filter.text.clone()),
        after,
        limit: 100,
    };
    let (a, who, rid) = (Arc::clone(&app), p.clone(), record.id.clone());
    let suite = record.suite.clone();
    let (stats, counts, snapshot, cases, others) = blocking(move || {
        let stats = a.explore.stats(&who.tenant, &rid)?;
        let counts = a.explore.case_counts(&who.tenant, &rid)?;
        let snapshot = a.runs.snapshot(&who.tenant, &rid)?;
        let cases = a.explore.cases(&who.tenant, &rid, &query)?;
        let others = a
            .explore
            .runs(
                &who.tenant,
                &RunQuery {
                    suite: Some(suite),
                    limit: 21,
                    ..RunQuery::default()
                },
            )?
            .items
            .into_iter()
            .filter(|r| r.id != rid && r.finished_at.is_some())
            .take(20)
            .collect::<Vec<_>>();
        Ok((stats, counts, snapshot, cases, others))
    })
    .await?;
    // A run still going has its totals written at the end: show the cases recorded so far.
    let mut record = record;
    if record.finished_at.is_none() {
        let n = |s: CaseStatus| counts.iter().find(|(c, _)| *c == s).map_or(0, |(_, n)| *n);
        let t = &mut record.totals;
        (t.passed, t.failed, t.errored) = (
            n(CaseStatus::Passed),
            n(CaseStatus::Failed),
            n(CaseStatus::Error),
        );
        t.cases = t.passed + t.failed + t.errored;
    }
    let state = job.as_ref().map(|j| j.state.as_str());
    let view = gauntlet_web::pages::run::View {
        run: &record,
        job: state,
        stats: stats.as_ref(),
        counts: &counts,
        snapshot: &snapshot,
        cases: &cases,
        filter: &filter,
        after,
        others: &others,
    };
    Ok(html(gauntlet_web::pages::run::page(
        &chrome(&app, &p, &v),
        &view,
    )))
}

async fn case_of(
    app: &AppState,
    p: &Principal,
    id: &str,
    index: &str,
) -> PageResult<(
    gauntlet_core::result::RunRecord,
    gauntlet_core::result::CaseResult,
)> {
    let record = run_of(app, p, id).await?;
    let idx: u32 = index.parse().map_err(|_| {
        PageError(
            ApiError::not_found(format!("case `{index}`")),
            Some(p.clone()),
        )
    })?;
    let (a, t, rid) = (Arc::clone(app), p.tenant.clone(), record.id.clone());
    let case = blocking(move || Ok(a.runs.case_at(&t, &rid, idx)?)).await?;
    match case {
        Some(c) => Ok((record, c)),
        None => Err(PageError(
            ApiError::not_found(format!("case {idx} of run `{id}`")),
            Some(p.clone()),
        )),
    }
}

pub async fn case(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(v): Extension<Visitor>,
    Path((id, index)): Path<(String, String)>,
) -> PageResult<Response> {
    let (record, case) = case_of(&app, &p, &id, &index).await?;
    Ok(html(gauntlet_web::pages::case::page(
        &chrome(&app, &p, &v),
        &record,
        &case,
    )))
}

/// A page of a case's steps after the first, as a fragment ending with the link to the next.
pub async fn steps(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Path((id, index)): Path<(String, String)>,
    Query(q): Params,
) -> PageResult<Response> {
    let (_, case) = case_of(&app, &p, &id, &index).await?;
    let from = param(&q, "from").parse::<usize>().unwrap_or(0);
    let base = format!("/runs/{id}/cases/{index}/steps");
    Ok(html(gauntlet_web::pages::case::more_steps(
        &case, &base, from,
    )))
}

pub async fn assertions(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(v): Extension<Visitor>,
    Path(id): Path<String>,
    Query(q): Params,
) -> PageResult<Response> {
    let record = run_of(&app, &p, &id).await?;
    let kind = param(&q, "type");
    let failed_only = param(&q, "failed") == "1";
    let after = param(&q, "after");
    let after = after
        .split_once('.')
        .and_then(|(c, a)| Some((c.parse().ok()?, a.parse().ok()?)));
    let query = AssertionQuery {
        kind: some(kind.clone()),
        failed_only,
        after,
        limit: 200,
    };
    let (a, t, rid) = (Arc::clone(&app), p.tenant.clone(), record.id.clone());
    let (stats, rows) = blocking(move || {
        Ok((
            a.explore.stats(&t, &rid)?,
            a.explore.assertions(&t, &rid, &query)?,
        ))
    })
    .await?;
    let view = gauntlet_web::pages::assertions::View {
        run: &record,
        stats: stats.as_ref(),
        rows: &rows,
        kind: &kind,
        failed_only,
        paged: after.is_some(),
    };
    Ok(html(gauntlet_web::pages::assertions::page(
        &chrome(&app, &p, &v),
        &view,
    )))
}

pub async fn compare(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(v): Extension<Visitor>,
    Query(q): Params,
) -> PageResult<Response> {
    let (a, t) = (Arc::clone(&app), p.tenant.clone());
    let recent = blocking(move || {
        Ok(a.explore
            .runs(
                &t,
                &RunQuery {
                    limit: 50,
                    ..RunQuery::default()
                },
            )?
            .items)
    })
    .await?;
    let c = chrome(&app, &p, &v);
    let (ida, idb) = (param(&q, "a"), param(&q, "b"));
    if ida.is_empty() || idb.is_empty() {
        return Ok(html(gauntlet_web::pages::compare::choose(&c, &recent)));
    }
    let (ra, rb) = (run_of(&app, &p, &ida).await?, run_of(&app, &p, &idb).await?);
    let mut runs = recent;
    for r in [&ra, &rb] {
        if !runs.iter().any(|x| x.id == r.id) {
            runs.push(r.clone());
        }
    }
    let d = crate::runs::run_diff(&app, &p, ra, rb).await?;
    let from = param(&q, "from").parse::<usize>().unwrap_or(0);
    Ok(html(gauntlet_web::pages::compare::page(
        &c, &d, &runs, from,
    )))
}

async fn control(
    app: AppState,
    p: Principal,
    rid: RequestId,
    id: String,
    what: &'static str,
) -> PageResult<Response> {
    let _state = crate::runs::control(app, p.clone(), rid, id.clone(), what)
        .await
        .map_err(|e| PageError(e, Some(p)))?;
    Ok(see_other(&format!("/runs/{id}")))
}

pub async fn cancel(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    Path(id): Path<String>,
) -> PageResult<Response> {
    control(app, p, rid, id, "cancel").await
}

pub async fn pause(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    Path(id): Path<String>,
) -> PageResult<Response> {
    control(app, p, rid, id, "pause").await
}

pub async fn resume(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    Path(id): Path<String>,
) -> PageResult<Response> {
    control(app, p, rid, id, "resume").await
}

/// Queues the run again: a new seed for a re-run, the same seed for a replay.
async fn again(
    app: AppState,
    p: Principal,
    rid: RequestId,
    id: String,
    same_seed: bool,
) -> PageResult<Response> {
    let job = job_state(&app, &p, &id).await?.ok_or_else(|| {
        PageError(
            ApiError::new(
                Code::Conflict,
                "this run was started from the command line; run it again there",
            ),
            Some(p.clone()),
        )
    })?;
    let plan: gauntlet_run::RunPlan = serde_json::from_value(job.request.clone()).map_err(|e| {
        PageError(
            ApiError::new(
                Code::Conflict,
                format!("this run's plan cannot be read again: {e}"),
            ),
            Some(p.clone()),
        )
    })?;
    let seed = if same_seed {
        let (a, t, i) = (Arc::clone(&app), p.tenant.clone(), id.clone());
        Some(blocking(move || Ok(a.runs.get_run(&t, &i)?.seed)).await?)
    } else {
        None
    };
    let (new, _) = crate::runs::enqueue(&app, &p, &rid, crate::runs::again(&plan, seed), None)
        .await
        .map_err(|e| PageError(e, Some(p.clone())))?;
    Ok(see_other(&format!("/runs/{}", new.id)))
}

pub async fn rerun(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    Path(id): Path<String>,
) -> PageResult<Response> {
    again(app, p, rid, id, false).await
}

pub async fn replay(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    Path(id): Path<String>,
) -> PageResult<Response> {
    again(app, p, rid, id, true).await
}

pub async fn delete(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    Path(id): Path<String>,
) -> PageResult<Response> {
    crate::runs::delete(&app, &p, &rid, &id)
        .await
        .map_err(|e| PageError(e, Some(p.clone())))?;
    Ok(see_other("/"))
}
