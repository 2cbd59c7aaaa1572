//! The in-process workers: claim queued runs, execute them with the engine, and record the
//! results, every write fenced by the lease's attempt.
//!
//! A run's cases are written as they finish. A run that is resumed — after a pause, a crash,
//! a lost lease or a restart — skips the result indices already stored, so each case is
//! recorded once; within a case, model and tool calls are journaled under their
//! deterministic keys (the cassette keys) and replayed from the journal on the next attempt.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use gauntlet_core::ids::RunId;
use gauntlet_core::result::{CaseResult, RunRecord, RunStatus, Totals};
use gauntlet_engine::cassette::{CassetteMode, CassetteStore, Cassettes};
use gauntlet_engine::{Cancel, RunConfig, RunEnd};
use gauntlet_store::queue::{Lease, Outcome, Queue};
use gauntlet_store::{RunStore, SourceStore};
use serde_json::json;

use crate::audit::tracing_error;
use crate::runs::NewRun;
use crate::{AppState, now_ms, now_rfc3339};

/// The runs this process executes: their cancel handle and the reason it was used.
#[derive(Default)]
pub struct Running(std::sync::Mutex<std::collections::HashMap<String, (Cancel, Arc<AtomicU8>)>>);

impl Running {
    fn insert(&self, id: &str, cancel: Cancel, why: Arc<AtomicU8>) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_owned(), (cancel, why));
    }

    fn remove(&self, id: &str) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
    }

    /// Stops a run executing here at once (`cancel` or `pause`); elsewhere the heartbeat
    /// carries the request.
    pub fn signal(&self, id: &str, cancel_run: bool) {
        if let Some((cancel, why)) = self.0.lock().unwrap_or_else(|p| p.into_inner()).get(id) {
            let reason = if cancel_run { CANCELLED } else { PAUSED };
            let _ = why.compare_exchange(GO, reason, Ordering::SeqCst, Ordering::SeqCst);
            cancel.cancel();
        }
    }
}

pub struct Workers {
    handles: Vec<tokio::task::JoinHandle<()>>,
}

impl Workers {
    /// Waits for every worker to hand its run back.
    pub async fn drain(self) {
        for h in self.handles {
            let _ = h.await;
        }
    }
}

pub fn start(app: AppState) -> Workers {
    if app.db.dialect() == gauntlet_store::db::Dialect::Sqlite {
        // One machine: every run still marked running belongs to a process that is gone.
        if let Err(e) = app.queue.recover_orphans() {
            tracing_error(&format!("recovering orphaned runs: {e}"));
        }
    }
    let mut handles = Vec::new();
    for n in 0..app.config.workers.max(1) {
        let app = Arc::clone(&app);
        handles.push(tokio::spawn(async move { work(app, n).await }));
    }
    let reaper = Arc::clone(&app);
    handles.push(tokio::spawn(async move {
        let mut stop = reaper.stopping.subscribe();
        loop {
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(5)) => {}
                _ = stop.changed() => return,
            }
            let q = reaper.queue.clone();
            if let Ok(Ok(rescued)) = tokio::task::spawn_blocking(move || q.reap()).await
                && !rescued.is_empty()
            {
                reaper.wake.notify_waiters();
            }
        }
    }));
    Workers { handles }
}

async fn work(app: AppState, n: usize) {
    let mut stop = app.stopping.subscribe();
    let me = format!("{}/{n}", app.config.instance);
    loop {
        if *stop.borrow() {
            return;
        }
        let (q, who) = (app.queue.clone(), me.clone());
        let lease_ms = app.config.lease.as_millis() as i64;
        let deadline_ms = app.config.run_deadline.as_millis() as i64;
        let claimed =
            tokio::task::spawn_blocking(move || q.claim("runs", &who, 1, lease_ms, deadline_ms))
                .await;
        match claimed {
            Ok(Ok(mut leases)) if !leases.is_empty() => {
                let lease = leases.remove(0);
                app.metrics.busy_workers.fetch_add(1, Ordering::Relaxed);
                execute(&app, lease).await;
                app.metrics.busy_workers.fetch_sub(1, Ordering::Relaxed);
                continue;
            }
            Ok(Err(e)) => tracing_error(&format!("claiming runs: {e}")),
            _ => {}
        }
        tokio::select! {
            () = app.wake.notified() => {}
            () = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = stop.changed() => {}
        }
    }
}

/// Why the engine was stopped.
const GO: u8 = 0;
const CANCELLED: u8 = 1;
const PAUSED: u8 = 2;
const LOST: u8 = 3;
const SHUTDOWN: u8 = 4;

async fn execute(app: &AppState, lease: Lease) {
    let cancel = Cancel::new();
    let why = Arc::new(AtomicU8::new(GO));
    let beat = {
        let (app, lease, cancel, why) = (
            Arc::clone(app),
            lease.clone(),
            cancel.clone(),
            Arc::clone(&why),
        );
        tokio::spawn(async move {
            let lease_ms = app.config.lease.as_millis() as i64;
            let mut stop = app.stopping.subscribe();
            loop {
                tokio::select! {
                    () = tokio::time::sleep(app.config.lease / 3) => {}
                    _ = stop.changed() => {
                        let _ = why.compare_exchange(GO, SHUTDOWN, Ordering::SeqCst, Ordering::SeqCst);
                        cancel.cancel();
                        return;
                    }
                }
                let (q, l) = (app.queue.clone(), lease.clone());
                let signals = tokio::task::spawn_blocking(move || q.heartbeat(&l, lease_ms)).await;
                let reason = match signals {
                    Ok(Ok(None)) => LOST,
                    Ok(Ok(Some(s))) if s.cancel => CANCELLED,
                    Ok(Ok(Some(s))) if s.pause => PAUSED,
                    _ => continue,
                };
                let _ = why.compare_exchange(GO, reason, Ordering::SeqCst, Ordering::SeqCst);
                cancel.cancel();
                return;
            }
        })
    };
    // Signals set before the claim (a cancel racing the claim) are seen at once.
    if let Ok(Ok(Some(s))) = {
        let (q, l) = (app.queue.clone(), lease.clone());
        let lease_ms = app.config.lease.as_millis() as i64;
        tokio::task::spawn_blocking(move || q.heartbeat(&l, lease_ms)).await
    } && (s.cancel || s.pause)
    {
        let _ = why.compare_exchange(
            GO,
            if s.cancel { CANCELLED } else { PAUSED },
            Ordering::SeqCst,
            Ordering::SeqCst,
        );
        cancel.cancel();
    }
    app.running
        .insert(&lease.id, cancel.clone(), Arc::clone(&why));
    let result = run(app, &lease, cancel.clone(), &why).await;
    app.running.remove(&lease.id);
    beat.abort();
    let why = why.load(Ordering::SeqCst);
    let queue = app.queue.clone();
    let l = lease.clone();
    let id = lease.id.clone();
    let (outcome, message) = match (&result, why) {
        (_, LOST) => {
            tracing_error(&format!(
                "run {id}: the lease was lost; another worker owns it now"
            ));
            return;
        }
        (_, PAUSED) => (Outcome::Paused, None),
        (_, SHUTDOWN) => (
            Outcome::Released,
            Some("the server shut down; the run continues on the next start".to_owned()),
        ),
        (_, CANCELLED) => (Outcome::Cancelled, None),
        (Ok(_), _) => (Outcome::Succeeded, None),
        (Err(Failure::Permanent(m)), _) => (Outcome::Failed, Some(m.clone())),
        (Err(Failure::Retry(m)), _) => {
            let backoff = 1000 * (1i64 << lease.attempt.clamp(0, 8));
            let m = m.clone();
            let _ = tokio::task::spawn_blocking(move || queue.retry_later(&l, &m, backoff)).await;
            app.hub.publish(&id, json!({"type": "status", "run_id": id, "state": "retryable", "error": result.err().map(|f| f.message())}));
            return;
        }
    };
    let m = message.clone();
    let finished =
        tokio::task::spawn_blocking(move || queue.finish(&l, outcome, m.as_deref())).await;
    if !matches!(finished, Ok(Ok(true))) {
        return;
    }
    let state = match outcome {
        Outcome::Succeeded => "succeeded",
        Outcome::Failed => "failed",
        Outcome::Cancelled => "cancelled",
        Outcome::Paused => "paused",
        Outcome::Released => "pending",
    };
    app.metrics.run_finished(state);
    let status = result.as_ref().ok().map(|r| r.status.as_str());
    app.hub.publish(
        &id,
        json!({"type": "end", "run_id": id, "state": state, "status": status, "error": message}),
    );
    if !matches!(outcome, Outcome::Paused | Outcome::Released) {
        app.hub.close(&id);
    }
}

enum Failure {
    /// Bad input that another attempt will not fix (the suite no longer validates).
    Permanent(String),
    /// A fault worth retrying (the database, the disk).
    Retry(String),
}

impl Failure {
    fn message(&self) -> String {
        match self {
            Failure::Permanent(m) | Failure::Retry(m) => m.clone(),
        }
    }
}

fn retry(e: impl std::fmt::Display) -> Failure {
    Failure::Retry(e.to_string())
}

/// The journal of a run as the engine's cassette store: recorded once under the lease,
/// replayed on later attempts.
struct Journal {
    queue: Queue,
    lease: Lease,
}

impl CassetteStore for Journal {
    fn get(&self, key: &str) -> Option<serde_json::Value> {
        let text = self
            .queue
            .journal_get(&self.lease.tenant, &self.lease.id, key)
            .ok()??;
        serde_json::from_str(&text).ok()
    }
    fn put(&self, key: &str, entry: &serde_json::Value) -> Result<(), String> {
        match self.queue.journal_put(&self.lease, key, &entry.to_string()) {
            Ok(true) => Ok(()),
            Ok(false) => Err("the run's lease was lost".into()),
            Err(e) => Err(e.to_string()),
        }
    }
}

async fn run(
    app: &AppState,
    lease: &Lease,
    cancel: Cancel,
    why: &AtomicU8,
) -> Result<RunRecord, Failure> {
    let request: NewRun = serde_json::from_value(lease.request.clone())
        .map_err(|e| Failure::Permanent(format!("the run request is unreadable: {e}")))?;
    let (a, l, req) = (Arc::clone(app), lease.clone(), request.clone());
    let prepared = tokio::task::spawn_blocking(move || prepare(&a, &l, &req))
        .await
        .map_err(retry)??;
    let Prepared {
        project,
        suite,
        record,
        skip,
        dir: _dir,
        planned,
    } = prepared;
    let config = RunConfig {
        seed: record.seed,
        concurrency: request.concurrency.unwrap_or(8).clamp(1, 256),
        case_filter: request.cases.clone(),
        repeat: request.repeat.unwrap_or(1).max(1),
        cassettes: Some(Cassettes {
            mode: CassetteMode::ReplayLenient,
            store: Arc::new(Journal {
                queue: app.queue.clone(),
                lease: lease.clone(),
            }),
        }),
        judge_cache: None,
        performance_baseline: None,
        skip: Arc::new(skip),
    };
    let writer = app
        .runs
        .fenced_writer(&lease.tenant, &record.id, lease.attempt)
        .map_err(retry)?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<CaseResult>(256);
    let engine = {
        let (project, suite, cancel) = (Arc::clone(&project), suite.clone(), cancel.clone());
        tokio::spawn(async move {
            gauntlet_engine::run_suite(project, &suite, config, cancel, tx).await
        })
    };
    app.hub.publish(&lease.id, json!({"type": "status", "run_id": lease.id, "state": "running", "attempt": lease.attempt, "planned": planned}));
    let mut write_error = None;
    while let Some(case) = rx.recv().await {
        // A pause or shutdown interrupts the cases in flight; they are not recorded, so the
        // resumed run executes them again (their model and tool calls come from the journal).
        if matches!(why.load(Ordering::SeqCst), PAUSED | SHUTDOWN | LOST)
            && case.status == gauntlet_core::result::CaseStatus::Error
        {
            continue;
        }
        app.hub.publish(
            &lease.id,
            json!({
                "type": "case", "run_id": lease.id, "index": case.index, "case": case.id,
                "target": case.target, "status": case.status, "score": case.score,
            }),
        );
        if write_error.is_none()
            && let Err(e) = writer.send(case)
        {
            write_error = Some(e);
            cancel.cancel();
        }
    }
    let end = engine
        .await
        .map_err(retry)?
        .map_err(|e| Failure::Permanent(e.to_string()))?;
    writer.finish().map_err(retry)?;
    if let Some(e) = write_error {
        return Err(retry(e));
    }
    let (a, l) = (Arc::clone(app), lease.clone());
    tokio::task::spawn_blocking(move || conclude(&a, &l, record, end))
        .await
        .map_err(retry)?
}

struct Prepared {
    project: Arc<gauntlet_core::model::Project>,
    suite: String,
    record: RunRecord,
    skip: BTreeSet<u32>,
    dir: tempfile::TempDir,
    planned: u64,
}

fn prepare(app: &AppState, lease: &Lease, req: &NewRun) -> Result<Prepared, Failure> {
    let tenant = &lease.tenant;
    let stored = app
        .suites
        .get(tenant, &req.suite, req.version)
        .map_err(|e| Failure::Permanent(format!("suite `{}`: {e}", req.suite)))?;
    let dir = tempfile::Builder::new()
        .prefix("run-")
        .tempdir_in(&app.config.work_dir)
        .map_err(retry)?;
    for (path, text) in &stored.files {
        let full = dir.path().join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).map_err(retry)?;
        }
        std::fs::write(&full, text).map_err(retry)?;
    }
    let validated = gauntlet_spec::load_project(
        dir.path(),
        &gauntlet_spec::Vars {
            env: std::env::vars().collect(),
            secrets: Default::default(),
        },
    );
    let project = validated.project.ok_or_else(|| {
        Failure::Permanent(format!(
            "suite `{}` version {} no longer validates: {}",
            req.suite,
            stored.version.version,
            validated
                .diagnostics
                .first()
                .map(|d| d.message.clone())
                .unwrap_or_default()
        ))
    })?;
    let suite = match &req.run {
        Some(name) if project.suites.contains_key(name) => name.clone(),
        Some(name) => {
            return Err(Failure::Permanent(format!(
                "the project has no suite `{name}`"
            )));
        }
        None if project.suites.len() == 1 => {
            project.suites.keys().next().cloned().unwrap_or_default()
        }
        None => {
            return Err(Failure::Permanent(format!(
                "the project has {} suites; name one in `run`: {}",
                project.suites.len(),
                project
                    .suites
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    };
    let planned = project.suites.get(&suite).map_or(0, |s| {
        let cases = s
            .cases
            .iter()
            .filter(|c| req.cases.is_empty() || req.cases.contains(&c.id))
            .count();
        (cases * s.targets.len()) as u64 * u64::from(req.repeat.unwrap_or(1).max(1))
    });
    if planned == 0 {
        return Err(Failure::Permanent(format!(
            "suite `{suite}` has no case to run"
        )));
    }
    let run_id = RunId::from_string(&lease.id);
    let (record, skip) = match app.runs.get_run(tenant, &lease.id) {
        Ok(existing) if existing.id == run_id => {
            let mut done = BTreeSet::new();
            app.runs
                .for_each_case(tenant, &run_id, &mut |c| {
                    done.insert(c.index);
                    Ok(())
                })
                .map_err(retry)?;
            (existing, done)
        }
        _ => {
            let seed = req
                .seed
                .unwrap_or_else(|| (now_ms() as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let mut snapshot = project.config_snapshot(&suite, seed);
            if let Some(obj) = snapshot.as_object_mut() {
                obj.insert("repeat".into(), json!(req.repeat.unwrap_or(1).max(1)));
                obj.insert("suite_version".into(), json!(stored.version.version));
            }
            let started = now_ms() as u64;
            let record = RunRecord {
                id: run_id.clone(),
                project: req.suite.clone(),
                suite: suite.clone(),
                seed,
                status: RunStatus::Running,
                config_hash: gauntlet_core::hash::content_hash(&snapshot),
                gauntlet_version: gauntlet_core::VERSION.to_owned(),
                started_at: gauntlet_core::time::rfc3339(started),
                finished_at: None,
                totals: Totals::default(),
            };
            if !app.queue.holds(lease).map_err(retry)? {
                return Err(retry("the lease was lost before the run started"));
            }
            app.runs
                .create_run(tenant, &record, &snapshot)
                .map_err(retry)?;
            for (path, text) in &stored.files {
                let digest = gauntlet_store::suites::content_hash(
                    &std::iter::once((path.clone(), text.clone())).collect(),
                );
                app.runs
                    .save_source(
                        tenant,
                        &run_id,
                        path,
                        &digest,
                        text.len() as u64,
                        &mut text.as_bytes(),
                    )
                    .map_err(retry)?;
            }
            app.audit.send(
                gauntlet_audit::NewEvent::new(tenant.as_str(), "server:worker", gauntlet_audit::action::RUN_START, format!("run/{run_id}"))
                    .digest(record.config_hash.clone())
                    .details(json!({"suite": suite, "project": req.suite, "seed": seed, "version": stored.version.version})),
            );
            (record, BTreeSet::new())
        }
    };
    Ok(Prepared {
        project: Arc::new(project),
        suite,
        record,
        skip,
        dir,
        planned,
    })
}

/// Totals from every stored case (earlier attempts included), then the run's end, fenced.
fn conclude(
    app: &AppState,
    lease: &Lease,
    mut record: RunRecord,
    end: RunEnd,
) -> Result<RunRecord, Failure> {
    let mut summary = gauntlet_report::Summary::default();
    app.runs
        .for_each_case(&lease.tenant, &record.id, &mut |c| {
            summary.add(&c);
            Ok(())
        })
        .map_err(retry)?;
    record.totals = summary.totals;
    let status = match end {
        RunEnd::Completed
            if record.totals.cases > 0 && record.totals.passed == record.totals.cases =>
        {
            RunStatus::Passed
        }
        RunEnd::Completed => RunStatus::Failed,
        RunEnd::Cancelled | RunEnd::TimedOut => RunStatus::Cancelled,
    };
    if !app.queue.holds(lease).map_err(retry)? {
        return Err(retry("the lease was lost before the run finished"));
    }
    let paused = app
        .queue
        .get(&lease.tenant, &lease.id)
        .map(|j| j.pause_requested && !j.cancel_requested)
        .unwrap_or(false);
    let cancelled = app
        .queue
        .get(&lease.tenant, &lease.id)
        .map(|j| j.cancel_requested)
        .unwrap_or(false);
    if end != RunEnd::Completed && (paused || !cancelled) {
        // Paused, or stopped by a shutdown: the run stays open and resumes later.
        return Ok(record);
    }
    let finished = now_rfc3339();
    app.runs
        .finish_run(&lease.tenant, &record.id, status, &record.totals, &finished)
        .map_err(retry)?;
    record.status = status;
    record.finished_at = Some(finished);
    app.audit.send(
        gauntlet_audit::NewEvent::new(lease.tenant.as_str(), "server:worker", gauntlet_audit::action::RUN_FINISH, format!("run/{}", record.id))
            .details(json!({"status": status.as_str(), "cases": record.totals.cases, "passed": record.totals.passed})),
    );
    Ok(record)
}
