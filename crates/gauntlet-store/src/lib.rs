//! Persistence of runs, their results, and the server's tenants, identities, suites and queue.
//!
//! [`RunStore`] and its siblings are the domain interface the CLI and the server use; the
//! engine never sees them. Every method takes a [`TenantId`], and every statement filters on
//! it. One implementation, [`Store`], runs on both backends through [`db`]: SQLite (the
//! embedded default) and PostgreSQL (many machines). Migrations are numbered SQL files under
//! `migrations/<backend>/`. Results are written by a [`Writer`] thread in batched transactions
//! while the run goes, and read back in bounded chunks, so neither side holds a whole run in
//! memory.

pub mod accounts;
pub mod db;
pub mod explore;
pub mod gateway;
pub mod queue;
pub mod schema;
mod store;
pub mod suites;
pub mod tenancy;
pub mod web;

pub use store::{Store, Writer, Written, migrations};

/// The names the CLI has always used.
pub mod sqlite {
    pub use crate::store::{Store as SqliteStore, Writer, Written};
}

use gauntlet_core::ids::{RunId, TenantId};
use gauntlet_core::result::{CaseResult, RunRecord, RunStatus, Totals};
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] rusqlite::Error),
    #[error("cannot open the store at {path}: {message}")]
    Open { path: String, message: String },
    #[error("no run matches `{0}`")]
    RunNotFound(String),
    #[error("no baseline named `{0}`")]
    BaselineNotFound(String),
    #[error("`{prefix}` matches {count} runs; give more characters of the id")]
    AmbiguousRun { prefix: String, count: usize },
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error(
        "the store's schema is version {found}, newer than this Gauntlet understands ({known}); upgrade Gauntlet"
    )]
    TooNew { found: i64, known: i64 },
    #[error("the result writer stopped: {0}")]
    WriterGone(String),
    #[error("database error: {0}")]
    Backend(String),
    /// The object does not exist for this tenant (or at all: the two are not distinguished).
    #[error("{0} not found")]
    NotFound(String),
    /// A unique name or key is taken.
    #[error("{0} already exists")]
    Conflict(String),
    /// The object's state forbids the change; the message says why.
    #[error("{0}")]
    Refused(String),
    /// A queued run's lease moved on: this worker may no longer write for it.
    #[error("run {0} is no longer leased by this worker; nothing was written")]
    Fenced(String),
    /// A failure worth retrying: a lost connection, a serialization failure, a deadlock.
    #[error("database unavailable: {0}")]
    Transient(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Which runs to list.
#[derive(Clone, Debug, Default)]
pub struct RunFilter {
    pub suite: Option<String>,
    pub limit: usize,
}

pub trait RunStore {
    /// Records the start of a run with its configuration snapshot.
    fn create_run(&self, tenant: &TenantId, run: &RunRecord, snapshot: &Value) -> Result<()>;
    /// Records the end of a run.
    fn finish_run(
        &self,
        tenant: &TenantId,
        id: &RunId,
        status: RunStatus,
        totals: &Totals,
        finished_at: &str,
    ) -> Result<()>;
    /// Newest first.
    fn list_runs(&self, tenant: &TenantId, filter: &RunFilter) -> Result<Vec<RunRecord>>;
    /// A run by full id, unique prefix, or `latest`.
    fn get_run(&self, tenant: &TenantId, id_or_prefix: &str) -> Result<RunRecord>;
    fn snapshot(&self, tenant: &TenantId, id: &RunId) -> Result<Value>;
    /// Calls `f` with every case of the run in index order, reading as it goes.
    /// Stores a finished run's statistics, and its targets and tags for filtering.
    fn save_stats(
        &self,
        tenant: &TenantId,
        id: &RunId,
        stats: &gauntlet_core::result::RunStats,
    ) -> Result<()>;
    fn for_each_case(
        &self,
        tenant: &TenantId,
        id: &RunId,
        f: &mut dyn FnMut(CaseResult) -> Result<()>,
    ) -> Result<()>;
}

/// A named reference run.
#[derive(Clone, Debug, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct Baseline {
    pub name: String,
    #[schemars(with = "String")]
    pub run_id: RunId,
    pub suite: String,
    pub created_at: String,
}

pub trait BaselineStore {
    /// Points `name` at `run`, returning what it pointed at before.
    fn set_baseline(
        &self,
        tenant: &TenantId,
        name: &str,
        run: &RunRecord,
        created_at: &str,
    ) -> Result<Option<Baseline>>;
    fn get_baseline(&self, tenant: &TenantId, name: &str) -> Result<Baseline>;
    fn list_baselines(&self, tenant: &TenantId) -> Result<Vec<Baseline>>;
}

/// Outcomes of comparisons between the targets of a run.
pub trait ExperimentStore {
    fn save_experiment(
        &self,
        tenant: &TenantId,
        run: &RunId,
        created_at: &str,
        report: &Value,
    ) -> Result<()>;
    fn experiment(&self, tenant: &TenantId, run: &RunId) -> Result<Option<Value>>;
}

/// The specification files of runs: (path relative to the project, content).
pub trait SourceStore {
    /// Stores one file read from `content` (`len` bytes, SHA-256 `sha256`) under `path`;
    /// content already stored is not read again.
    fn save_source(
        &self,
        tenant: &TenantId,
        run: &RunId,
        path: &str,
        sha256: &str,
        len: u64,
        content: &mut dyn std::io::Read,
    ) -> Result<()>;
    fn sources(&self, tenant: &TenantId, run: &RunId) -> Result<Vec<(String, String)>>;
}

/// A run as retention sees it.
#[derive(Clone, Debug)]
pub struct RetainedRun {
    pub run: RunRecord,
    pub transcript_purged_at: Option<String>,
    pub anonymised_at: Option<String>,
    /// Baselines that point at the run; such runs are kept.
    pub baselines: Vec<String>,
}

/// Deleting old runs and purging or anonymising their transcripts. The audit log is never
/// touched: its events pin the purged data by digest.
pub trait RetentionStore {
    /// Finished runs (of `suite`, or all) started before `before` (RFC 3339), oldest first.
    fn runs_before(
        &self,
        tenant: &TenantId,
        suite: Option<&str>,
        before: &str,
    ) -> Result<Vec<RetainedRun>>;
    /// Deletes a run with its results and the specification files no other run uses.
    fn delete_run(&self, tenant: &TenantId, run: &RunId) -> Result<()>;
    /// Removes inputs, outputs, steps and tool calls, keeping verdicts, scores and totals.
    fn purge_transcript(&self, tenant: &TenantId, run: &RunId, at: &str) -> Result<()>;
    /// Rewrites every transcript text through `f`; returns how many values changed.
    fn anonymise_transcript(
        &self,
        tenant: &TenantId,
        run: &RunId,
        at: &str,
        f: &mut dyn FnMut(&str) -> String,
    ) -> Result<u64>;
}

/// Recorded provider and tool interactions by suite and key.
/// Cached `llm-judge` verdicts, by the engine's cache key.
pub trait JudgeVerdicts {
    fn put_verdict(&self, tenant: &TenantId, key: &str, verdict: &Value, at: &str) -> Result<()>;
    fn get_verdict(&self, tenant: &TenantId, key: &str) -> Result<Option<Value>>;
}

pub trait CassetteRecords {
    fn put_cassette(&self, tenant: &TenantId, suite: &str, key: &str, entry: &Value) -> Result<()>;
    fn get_cassette(&self, tenant: &TenantId, suite: &str, key: &str) -> Result<Option<Value>>;
}
