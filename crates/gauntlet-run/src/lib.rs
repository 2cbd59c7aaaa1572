//! The run service: the one lifecycle of a run, whoever starts it.
//!
//! The CLI's `run`, `replay` and `simulate`, the server's workers and anything later (remote
//! workers, the gateway) hand this crate a validated project (or the files to validate), a
//! [`RunPlan`], the tenant, the actor and an [`Observer`]. It snapshots the configuration,
//! records the sources, appends `config.change` / `run.start`, runs the engine on the run's
//! [`Host`](gauntlet_sandbox::Host), streams results into the store, appends `run.finish`
//! with the transcript digest, and settles the status. Nothing else calls the engine.

pub mod bundle;
mod plan;
mod verdicts;

use std::collections::BTreeSet;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use gauntlet_audit::NewEvent;
use gauntlet_core::capability::Capabilities;
use gauntlet_core::files::FileSet;
use gauntlet_core::model::Project;
use gauntlet_core::result::{CaseResult, CaseStatus, RunRecord, RunStatus, Totals};
use gauntlet_core::{RunId, TenantId};
use gauntlet_engine::cassette::Cassettes;
use gauntlet_engine::{Cancel, RunConfig, RunEnd};
use gauntlet_report::Summary;
use gauntlet_sandbox::Host;
use gauntlet_spec::{Diagnostic, Origin, Vars};
use gauntlet_store::{BaselineStore, RunFilter, RunStore, SourceStore, Store, StoreError};
use serde_json::json;

pub use plan::{RunPlan, SEED_LIMIT};
pub use verdicts::StoredVerdicts;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where a run's audit events are appended (the CLI's log, the server's sink).
pub trait AuditTrail: Send + Sync {
    /// Appends the events and returns once they are durable.
    fn append(&self, events: Vec<NewEvent>) -> BoxFuture<'_, Result<(), String>>;
}

/// What the caller sees of a run as it goes, and what it decides about it.
pub trait Observer: Send {
    /// The run is recorded and about to execute `planned` case results.
    fn started(&mut self, _run: &RunRecord, _planned: u64) {}
    /// A finished case; returning false keeps it out of the store (a case interrupted by a
    /// pause, to be run again on resume).
    fn case(&mut self, _case: &CaseResult, _totals: &Totals) -> bool {
        true
    }
    /// After the engine stopped early: whether the run stays open, to be resumed.
    fn stays_open(&self) -> bool {
        false
    }
    /// Whether the caller may still write the run (a worker whose lease moved on may not).
    fn owns(&self) -> Result<(), String> {
        Ok(())
    }
}

/// An observer that watches nothing.
pub struct Quiet;
impl Observer for Quiet {}

/// Why a run could not be executed or recorded.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The plan does not fit the project (no such suite, no case, no baseline): another
    /// attempt will not help.
    #[error("{0}")]
    Plan(String),
    /// The files do not validate (or need a capability the tenant lacks).
    #[error("the specification has {} error(s): {}", .0.len(), .0.first().map(|d| d.to_string()).unwrap_or_default())]
    Invalid(Vec<Diagnostic>),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("writing the audit log: {0}")]
    Audit(String),
    #[error("the engine failed: {0}")]
    Engine(String),
    /// The caller no longer owns the run (a lost lease); nothing more was written.
    #[error("{0}")]
    Lost(String),
}

impl RunError {
    /// Whether another attempt could succeed (the store or the audit log failed).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            RunError::Store(_) | RunError::Audit(_) | RunError::Lost(_)
        )
    }
}

/// The files a run was made from, recorded with it so that it can be replayed.
#[derive(Clone, Debug)]
pub enum Sources {
    /// In memory (a tenant's upload, a stored run, a sandboxed CLI run).
    Files(Arc<FileSet>),
    /// On the operator's disk: names and paths, streamed into the store.
    Disk(Vec<(String, PathBuf)>),
}

/// A validated project ready to run, with its sources and its host.
#[derive(Clone)]
pub struct Prepared {
    pub project: Arc<Project>,
    pub sources: Sources,
    pub host: Host,
}

/// Validates a file set with `caps` (from `root`, a file or directory of the set; empty for
/// all of it): a tenant's suite on the server, a stored run, or `run --sandbox`. Programs the
/// run starts see the set in a private directory under `scratch`.
pub fn prepare_files(
    files: Arc<FileSet>,
    vars: &Vars,
    caps: Capabilities,
    scratch: PathBuf,
    root: &Path,
    plan: &RunPlan,
) -> Result<Prepared, RunError> {
    let origin = Origin::set(Arc::clone(&files), caps.clone());
    let validated = gauntlet_spec::load_from(origin, root, vars);
    let errors: Vec<Diagnostic> = validated
        .diagnostics
        .into_iter()
        .filter(Diagnostic::is_error)
        .collect();
    let Some(mut project) = validated.project.filter(|_| errors.is_empty()) else {
        return Err(RunError::Invalid(errors));
    };
    plan.apply_chaos(&mut project)?;
    Ok(Prepared {
        project: Arc::new(project),
        host: Host::new(caps, Some(Arc::clone(&files)), scratch),
        sources: Sources::Files(files),
    })
}

/// How a run ended.
pub struct Finished {
    pub run: RunRecord,
    pub end: RunEnd,
    /// Stopped early and left open to resume (paused, shut down).
    pub open: bool,
    pub planned: u64,
    /// Every stored case of the run (earlier attempts included), summarised.
    pub summary: Summary,
}

impl Finished {
    /// Every case ran and passed.
    pub fn passed(&self) -> bool {
        self.run.status == RunStatus::Passed
    }
}

/// Per-execution settings that are not part of the plan.
#[derive(Default)]
pub struct Options {
    /// The run's id (a queued job's); a run already stored under it is resumed.
    pub run_id: Option<RunId>,
    /// The lease attempt whose writes are fenced (a queued run).
    pub attempt: Option<i64>,
    /// Recorded or replayed provider and tool calls.
    pub cassettes: Option<Cassettes>,
    pub cancel: Cancel,
}

/// Who runs, for whom, and where it is recorded.
pub struct Runner<'a> {
    pub store: &'a Store,
    pub tenant: TenantId,
    /// The audit actor (`user:…`, `server:worker`).
    pub actor: String,
    pub audit: &'a dyn AuditTrail,
}

impl Runner<'_> {
    /// Executes one suite of `prepared` as `plan` says.
    pub async fn execute(
        &self,
        prepared: &Prepared,
        plan: &RunPlan,
        options: Options,
        observer: &mut dyn Observer,
    ) -> Result<Finished, RunError> {
        let project = &prepared.project;
        let suite = plan.suite_of(project)?;
        let planned = plan.planned(project, &suite);
        if planned == 0 {
            return Err(RunError::Plan(if plan.cases.is_empty() {
                format!("suite `{suite}` has no case to run")
            } else {
                format!(
                    "suite `{suite}` has no case matching {}",
                    plan.cases.join(", ")
                )
            }));
        }
        let tenant = &self.tenant;
        let performance_baseline = match &plan.baseline {
            Some(name) => {
                let b = self
                    .store
                    .get_baseline(tenant, name)
                    .map_err(|e| RunError::Plan(e.to_string()))?;
                if b.suite != suite {
                    None
                } else {
                    Some(Arc::new(performance_baseline(
                        self.store, tenant, &b.run_id,
                    )?))
                }
            }
            None => None,
        };
        let resumed = match &options.run_id {
            Some(id) => match self.store.get_run(tenant, id.as_str()) {
                Ok(existing) if existing.id == *id => Some(existing),
                _ => None,
            },
            None => None,
        };
        let (mut run, skip) = match resumed {
            Some(existing) => {
                let mut done = BTreeSet::new();
                self.store.for_each_case(tenant, &existing.id, &mut |c| {
                    done.insert(c.index);
                    Ok(())
                })?;
                (existing, done)
            }
            None => (
                self.start(prepared, plan, &suite, options.run_id.clone(), observer)
                    .await?,
                BTreeSet::new(),
            ),
        };
        let resumed = !skip.is_empty();
        observer.started(&run, planned);
        let writer = match options.attempt {
            Some(attempt) => self.store.fenced_writer(tenant, &run.id, attempt)?,
            None => self.store.writer(tenant, &run.id)?,
        };
        let config = RunConfig {
            seed: run.seed,
            concurrency: plan.concurrency.unwrap_or_else(default_concurrency),
            case_filter: plan.cases.clone(),
            repeat: plan.repeat.max(1),
            cassettes: options.cassettes,
            judge_cache: Some(gauntlet_engine::JudgeCacheHandle(Arc::new(
                StoredVerdicts::new(self.store.clone(), tenant.clone()),
            ))),
            performance_baseline,
            skip: Arc::new(skip),
            host: prepared.host.clone(),
        };
        let (tx, mut rx) = tokio::sync::mpsc::channel::<CaseResult>(1024);
        let engine = {
            let (project, suite, cancel) =
                (Arc::clone(project), suite.clone(), options.cancel.clone());
            tokio::spawn(async move {
                gauntlet_engine::run_suite(project, &suite, config, cancel, tx).await
            })
        };
        let mut summary = summary_for(plan);
        let mut write_error = None;
        while let Some(case) = rx.recv().await {
            if !observer.case(&case, &summary.totals) {
                continue;
            }
            summary.add(&case);
            if write_error.is_none()
                && let Err(e) = writer.send(case)
            {
                write_error = Some(e);
                options.cancel.cancel();
            }
        }
        let end = engine
            .await
            .map_err(|e| RunError::Engine(e.to_string()))?
            .map_err(|e| RunError::Plan(e.to_string()))?;
        let written = writer.finish();
        let written = match (written, write_error) {
            (Ok(w), None) => w,
            (Ok(_), Some(e)) | (Err(e), _) => {
                if options.attempt.is_none() {
                    // Close the run so it does not stay `running`; what was committed remains
                    // readable. (A queued run stays open for its next attempt.)
                    let _ = self.store.finish_run(
                        tenant,
                        &run.id,
                        RunStatus::Failed,
                        &summary.totals,
                        &now_rfc3339(),
                    );
                }
                return Err(e.into());
            }
        };
        // A resumed run's totals and transcript cover every attempt's cases.
        let transcript = if resumed {
            let mut all = summary_for(plan);
            let mut digest = gauntlet_audit::bundle::TranscriptDigest::new();
            self.store.for_each_case(tenant, &run.id, &mut |c| {
                all.add(&c);
                digest.add_serialize(&c);
                Ok(())
            })?;
            summary = all;
            digest.hex()
        } else {
            written.transcript
        };
        run.totals = summary.totals;
        let open = end != RunEnd::Completed && observer.stays_open();
        if open {
            return Ok(Finished {
                run,
                end,
                open,
                planned,
                summary,
            });
        }
        run.status = match end {
            RunEnd::Completed if run.totals.cases > 0 && run.totals.passed == run.totals.cases => {
                RunStatus::Passed
            }
            RunEnd::Completed => RunStatus::Failed,
            RunEnd::Cancelled | RunEnd::TimedOut => RunStatus::Cancelled,
        };
        observer.owns().map_err(RunError::Lost)?;
        let finished = now_rfc3339();
        self.store.save_stats(tenant, &run.id, &summary.stats())?;
        self.store
            .finish_run(tenant, &run.id, run.status, &run.totals, &finished)?;
        run.finished_at = Some(finished);
        self.audit
            .append(vec![
                self.event(
                    gauntlet_audit::action::RUN_FINISH,
                    format!("run/{}", run.id),
                )
                .digest(transcript)
                .details(json!({
                    "status": run.status.as_str(),
                    "cases": run.totals.cases,
                    "passed": run.totals.passed,
                    "failed": run.totals.failed,
                    "errored": run.totals.errored,
                })),
            ])
            .await
            .map_err(RunError::Audit)?;
        Ok(Finished {
            run,
            end,
            open,
            planned,
            summary,
        })
    }

    /// Records a new run: its record and snapshot, `config.change` and `run.start`, and
    /// its sources.
    async fn start(
        &self,
        prepared: &Prepared,
        plan: &RunPlan,
        suite: &str,
        id: Option<RunId>,
        observer: &mut dyn Observer,
    ) -> Result<RunRecord, RunError> {
        let tenant = &self.tenant;
        let project = &prepared.project;
        let seed = plan.seed.unwrap_or_else(random_seed);
        let snapshot = plan.snapshot(project, suite, seed);
        let started = now_ms();
        let run = RunRecord {
            id: id.unwrap_or_else(|| RunId::from_parts(started, random_u128())),
            project: plan.project.clone(),
            suite: suite.to_owned(),
            seed,
            status: RunStatus::Running,
            config_hash: gauntlet_core::hash::content_hash(&snapshot),
            gauntlet_version: gauntlet_core::VERSION.to_owned(),
            started_at: gauntlet_core::time::rfc3339(started),
            finished_at: None,
            totals: Totals::default(),
        };
        let previous = self
            .store
            .list_runs(
                tenant,
                &RunFilter {
                    suite: Some(suite.to_owned()),
                    limit: 20,
                },
            )?
            .into_iter()
            .find(|p| p.project == run.project);
        observer.owns().map_err(RunError::Lost)?;
        self.store.create_run(tenant, &run, &snapshot)?;
        let mut events = Vec::with_capacity(2);
        if let Some(prev) = previous.filter(|p| p.config_hash != run.config_hash) {
            // Configuration changes between runs: which paths changed, never their values.
            let changed: Vec<String> = self
                .store
                .snapshot(tenant, &prev.id)
                .map(|before| {
                    gauntlet_diff::config_changes(&before, &snapshot)
                        .into_iter()
                        .map(|c| c.pointer)
                        .filter(|p| p != "/seed")
                        .take(100)
                        .collect()
                })
                .unwrap_or_default();
            if !changed.is_empty() {
                events.push(
                    self.event(
                        gauntlet_audit::action::CONFIG_CHANGE,
                        format!("suite/{}/{suite}", run.project),
                    )
                    .digest(run.config_hash.clone())
                    .details(json!({
                        "from_run": prev.id.as_str(),
                        "from": prev.config_hash,
                        "to_run": run.id.as_str(),
                        "changed": changed,
                    })),
                );
            }
        }
        events.push(
            self.event(gauntlet_audit::action::RUN_START, format!("run/{}", run.id))
                .digest(run.config_hash.clone())
                .details(json!({
                    "project": run.project,
                    "suite": suite,
                    "seed": run.seed,
                    "version": plan.version,
                    "gauntlet_version": run.gauntlet_version,
                })),
        );
        self.audit.append(events).await.map_err(RunError::Audit)?;
        self.save_sources(&run.id, &prepared.sources)?;
        Ok(run)
    }

    /// The files themselves, so that the run can be replayed; each digest is the SHA-256 of
    /// the file's bytes.
    fn save_sources(&self, run: &RunId, sources: &Sources) -> Result<(), RunError> {
        match sources {
            Sources::Files(files) => {
                for (name, text) in files.iter() {
                    let digest = gauntlet_core::hash::sha256_hex(text.as_bytes());
                    self.store.save_source(
                        &self.tenant,
                        run,
                        name,
                        &digest,
                        text.len() as u64,
                        &mut text.as_bytes(),
                    )?;
                }
            }
            Sources::Disk(files) => {
                for (name, path) in files {
                    // Streamed: a 100,000-case suite is tens of megabytes of text.
                    let (digest, len) = file_digest(path)?;
                    let mut reader = std::fs::File::open(path)
                        .map_err(|e| RunError::Plan(format!("reading {}: {e}", path.display())))?;
                    self.store
                        .save_source(&self.tenant, run, name, &digest, len, &mut reader)?;
                }
            }
        }
        Ok(())
    }

    fn event(&self, action: &str, resource: String) -> NewEvent {
        NewEvent::new(self.tenant.as_str(), &self.actor, action, resource)
    }
}

fn summary_for(plan: &RunPlan) -> Summary {
    if plan.repeat > 1 {
        Summary::with_trials()
    } else {
        Summary::default()
    }
}

fn default_concurrency() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from) * 4
}

/// The baseline run's trials, for `performance` regression checks.
fn performance_baseline(
    store: &Store,
    tenant: &TenantId,
    run: &RunId,
) -> Result<gauntlet_engine::PerfBaseline, RunError> {
    let mut out = gauntlet_engine::PerfBaseline::new();
    store.for_each_case(tenant, run, &mut |c| {
        if c.status != CaseStatus::Error {
            out.entry((c.id.clone(), c.target.clone()))
                .or_default()
                .push(gauntlet_eval::performance::Trial::of(&c));
        }
        Ok(())
    })?;
    Ok(out)
}

/// SHA-256 and length of a file, read in chunks.
fn file_digest(path: &Path) -> Result<(String, u64), RunError> {
    use std::io::Read;
    let read_error = |e: std::io::Error| RunError::Plan(format!("reading {}: {e}", path.display()));
    let mut f = std::fs::File::open(path).map_err(read_error)?;
    let mut digest = gauntlet_core::hash::Digest::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut len = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(read_error)?;
        if n == 0 {
            return Ok((digest.hex(), len));
        }
        digest.update(&buf[..n]);
        len += n as u64;
    }
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn now_rfc3339() -> String {
    gauntlet_core::time::rfc3339(now_ms())
}

fn random_u128() -> u128 {
    let mut b = [0u8; 16];
    if getrandom::fill(&mut b).is_err() {
        // No OS randomness: the clock's nanoseconds still make ids distinct in practice.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        return nanos ^ (u128::from(std::process::id()) << 64);
    }
    u128::from_le_bytes(b)
}

/// A random seed below 2^32: easy to retype, and exact in every JSON reader.
pub fn random_seed() -> u64 {
    (random_u128() as u64) >> 32
}
