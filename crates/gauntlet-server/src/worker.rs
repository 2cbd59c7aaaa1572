//! The in-process workers: claim queued runs, execute them with the engine, and record the
//! results, every write fenced by the lease's attempt.
//!
//! A run's cases are written as they finish. A run that is resumed — after a pause, a crash,
//! a lost lease or a restart — skips the result indices already stored, so each case is
//! recorded once; within a case, model and tool calls are journaled under their
//! deterministic keys (the cassette keys) and replayed from the journal on the next attempt.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use gauntlet_core::files::FileSet;
use gauntlet_core::ids::RunId;
use gauntlet_core::result::{CaseResult, RunRecord};
use gauntlet_engine::Cancel;
use gauntlet_engine::cassette::{CassetteMode, CassetteStore, Cassettes};
use gauntlet_run::RunPlan;
use gauntlet_store::queue::{Lease, Outcome, Queue};
use serde_json::json;

use crate::AppState;
use crate::audit::tracing_error;

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
    runners: Vec<tokio::task::JoinHandle<()>>,
    reaper: tokio::task::JoinHandle<()>,
}

impl Workers {
    /// Stops claiming, gives the runs in hand up to `grace` to finish, then hands the rest
    /// back (released to the queue, resumed from their journal by whoever claims them next).
    pub async fn drain(mut self, app: &AppState, grace: Duration) {
        app.draining.store(true, Ordering::SeqCst);
        app.wake.notify_waiters();
        let finished = tokio::time::timeout(
            grace,
            futures_util::future::join_all(self.runners.iter_mut()),
        )
        .await;
        let _ = app.stopping.send(true);
        if finished.is_err() {
            futures_util::future::join_all(self.runners.iter_mut()).await;
        }
        let _ = self.reaper.await;
    }
}

/// Starts `config.workers` runners (none for an API that leaves runs to other processes) and
/// the reaper, which every process runs.
pub fn start(app: AppState) -> Workers {
    if app.db.dialect() == gauntlet_store::db::Dialect::Sqlite && app.config.workers > 0 {
        // One machine: every run still marked running belongs to a process that is gone.
        if let Err(e) = app.queue.recover_orphans() {
            tracing_error(&format!("recovering orphaned runs: {e}"));
        }
    }
    let mut runners = Vec::new();
    for n in 0..app.config.workers {
        let app = Arc::clone(&app);
        runners.push(tokio::spawn(async move { work(app, n).await }));
    }
    let reaper = Arc::clone(&app);
    let reaper = tokio::spawn(async move {
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
                reaper.wake_workers();
            }
        }
    });
    Workers { runners, reaper }
}

async fn work(app: AppState, n: usize) {
    let mut stop = app.stopping.subscribe();
    let me = format!("{}/{n}", app.config.instance);
    loop {
        if *stop.borrow() || app.draining.load(Ordering::SeqCst) {
            return;
        }
        let (q, who) = (app.queue.clone(), me.clone());
        let lease_ms = app.config.lease.as_millis() as i64;
        let deadline_ms = app.config.run_deadline.as_millis() as i64;
        let queues = app.config.queues.clone();
        let claimed = tokio::task::spawn_blocking(move || {
            for queue in &queues {
                let leases = q.claim(queue, &who, 1, lease_ms, deadline_ms)?;
                if !leases.is_empty() {
                    return Ok(leases);
                }
            }
            Ok::<_, gauntlet_store::StoreError>(Vec::new())
        })
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
            app.publish(&id, json!({"type": "status", "run_id": id, "state": "retryable", "error": result.err().map(|f| f.message())}));
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
    let status = result.as_ref().ok().map(|f| f.run.status.as_str());
    app.publish(
        &id,
        json!({"type": "end", "run_id": id, "state": state, "status": status, "error": message}),
    );
    if !matches!(outcome, Outcome::Paused | Outcome::Released) {
        app.close_run(&id);
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
    why: &Arc<AtomicU8>,
) -> Result<gauntlet_run::Finished, Failure> {
    let plan: RunPlan = serde_json::from_value(lease.request.clone())
        .map_err(|e| Failure::Permanent(format!("the run request is unreadable: {e}")))?;
    let (a, l, p) = (Arc::clone(app), lease.clone(), plan.clone());
    let prepared = tokio::task::spawn_blocking(move || prepare(&a, &l, &p))
        .await
        .map_err(retry)??;
    let trail = crate::audit::Trail(&app.audit);
    let runner = gauntlet_run::Runner {
        store: &app.runs,
        tenant: lease.tenant.clone(),
        actor: "server:worker".to_owned(),
        audit: &trail,
    };
    let options = gauntlet_run::Options {
        run_id: Some(RunId::from_string(&lease.id)),
        attempt: Some(lease.attempt),
        cassettes: Some(Cassettes {
            mode: CassetteMode::ReplayLenient,
            store: Arc::new(Journal {
                queue: app.queue.clone(),
                lease: lease.clone(),
            }),
        }),
        cancel,
    };
    let mut observer = Watch {
        app,
        lease,
        why: Arc::clone(why),
    };
    runner
        .execute(&prepared, &plan, options, &mut observer)
        .await
        .map_err(|e| {
            if e.is_transient() {
                Failure::Retry(e.to_string())
            } else {
                Failure::Permanent(e.to_string())
            }
        })
}

/// The stored suite version as a file set, validated with the tenant's capabilities and
/// variables (and nothing of the server's own environment).
fn prepare(
    app: &AppState,
    lease: &Lease,
    plan: &RunPlan,
) -> Result<gauntlet_run::Prepared, Failure> {
    let tenant = &lease.tenant;
    let stored = app
        .suites
        .get(tenant, &plan.project, plan.version)
        .map_err(|e| Failure::Permanent(format!("suite `{}`: {e}", plan.project)))?;
    let files = FileSet::new(stored.files)
        .map_err(|e| Failure::Permanent(format!("suite `{}`: {e}", plan.project)))?;
    let caps = app.tenancy.capabilities(tenant).map_err(retry)?;
    let vars = crate::settings::vars(app, tenant).map_err(|e| Failure::Retry(e.message))?;
    gauntlet_run::prepare_files(
        Arc::new(files),
        &vars,
        caps,
        app.config.work_dir.clone(),
        std::path::Path::new(""),
        plan,
    )
    .map_err(|e| match e {
        gauntlet_run::RunError::Invalid(d) => Failure::Permanent(format!(
            "suite `{}` version {} does not validate for this tenant: {}",
            plan.project,
            stored.version.version,
            d.first().map(|d| d.to_string()).unwrap_or_default()
        )),
        other => Failure::Permanent(other.to_string()),
    })
}

/// What the worker sees of its run: live events for subscribers, the pause and shutdown
/// that keep a run open, and the lease that fences its writes.
struct Watch<'a> {
    app: &'a AppState,
    lease: &'a Lease,
    why: Arc<AtomicU8>,
}

impl gauntlet_run::Observer for Watch<'_> {
    fn started(&mut self, run: &RunRecord, planned: u64) {
        let id = &self.lease.id;
        // A resumed run counts the cases its earlier attempts recorded.
        let mut counts = [0u64; 3];
        if let Ok(stored) = self.app.explore.case_counts(&self.lease.tenant, &run.id) {
            for (status, n) in stored {
                counts[status as usize] += n;
            }
        }
        self.app.open_run(id, counts, planned);
        self.app.publish(id, json!({"type": "status", "run_id": id, "state": "running", "attempt": self.lease.attempt, "planned": planned}));
    }

    fn case(&mut self, case: &CaseResult, _totals: &gauntlet_core::result::Totals) -> bool {
        // A pause or shutdown interrupts the cases in flight; they are not recorded, so the
        // resumed run executes them again (their model and tool calls come from the journal).
        if self.stays_open() && case.status == gauntlet_core::result::CaseStatus::Error {
            return false;
        }
        let id = &self.lease.id;
        self.app.publish(
            id,
            json!({
                "type": "case", "run_id": id, "index": case.index, "trial": case.trial, "case": case.id,
                "target": case.target, "status": case.status, "score": case.score,
            }),
        );
        true
    }

    fn stays_open(&self) -> bool {
        matches!(self.why.load(Ordering::SeqCst), PAUSED | SHUTDOWN | LOST)
    }

    fn owns(&self) -> Result<(), String> {
        match self.app.queue.holds(self.lease) {
            Ok(true) => Ok(()),
            Ok(false) => Err("the lease was lost; another worker owns the run now".into()),
            Err(e) => Err(e.to_string()),
        }
    }
}
