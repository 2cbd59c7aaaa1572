//! The store over either backend: the result writer, migrations, and the trait
//! implementations (runs in `runs`, the rest in `extra`, `audit`, `retention`).

mod audit;
mod extra;
mod retention;
pub(crate) mod runs;

use std::path::Path;
use std::sync::mpsc;
use std::thread::JoinHandle;

use gauntlet_core::ids::{RunId, TenantId};
use gauntlet_core::result::CaseResult;

use crate::db::{Conn, Db, Dialect};
use crate::{Result, StoreError, params};

macro_rules! migrations {
    ($dir:literal: $($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../migrations/", $dir, "/", $name, ".sql")))),*]
    };
}

/// Numbered migrations per backend, applied in order and recorded in `schema_migrations`.
const SQLITE: &[(&str, &str)] = migrations!("sqlite":
    "0001_runs", "0002_baselines", "0003_case_trials", "0004_experiments", "0005_sources",
    "0006_cassettes", "0007_audit", "0008_retention", "0009_evaluators", "0010_providers",
    "0011_server", "0012_tenancy", "0013_dashboard", "0014_gateway",
    "0015_gateway_approvals",
);
const POSTGRES: &[(&str, &str)] = migrations!("postgres":
    "0001_runs", "0002_baselines", "0003_case_trials", "0004_experiments", "0005_sources",
    "0006_cassettes", "0007_audit", "0008_retention", "0009_evaluators", "0010_providers",
    "0011_server", "0012_tenancy", "0013_dashboard", "0014_gateway",
    "0015_gateway_approvals",
);

/// Every migration of a backend.
pub fn migrations(dialect: Dialect) -> &'static [(&'static str, &'static str)] {
    match dialect {
        Dialect::Sqlite => SQLITE,
        Dialect::Postgres => POSTGRES,
    }
}

/// Group commit: a write transaction closes after this many cases or this long after its first
/// case, whichever comes first. Each commit is an fsync on SQLite (`synchronous=FULL`), so
/// fewer, larger commits keep the disk from pacing the run; a crash loses at most the open
/// batch.
const BATCH: usize = 4096;
const BATCH_WINDOW: std::time::Duration = std::time::Duration::from_millis(200);

/// Runs and their results, on SQLite or PostgreSQL.
#[derive(Clone)]
pub struct Store {
    db: Db,
}

impl Store {
    /// A SQLite file path (created if missing) or a `postgres://` URL; applies pending
    /// migrations.
    pub fn open_url(url_or_path: &str) -> Result<Store> {
        Store::from_db(Db::open(url_or_path)?)
    }

    /// Opens (creating if needed) a SQLite database file and applies pending migrations.
    pub fn open(path: &Path) -> Result<Store> {
        Store::from_db(Db::sqlite(path)?)
    }

    /// The store on an open database, migrated.
    pub fn from_db(db: Db) -> Result<Store> {
        if db.dialect() == Dialect::Sqlite {
            adopt_user_version(&db)?;
        }
        db.migrate(migrations(db.dialect()))?;
        Ok(Store { db })
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Starts a writer thread on its own connection for the results of `run`.
    pub fn writer(&self, tenant: &TenantId, run: &RunId) -> Result<Writer> {
        self.start_writer(tenant, run, None)
    }

    /// A writer for a queued run: each batch commits only while the queue's job `run` is
    /// still `running` under `attempt`, checked in the batch's own transaction, so a worker
    /// that lost its lease cannot record a case ([`StoreError::Fenced`]).
    pub fn fenced_writer(&self, tenant: &TenantId, run: &RunId, attempt: i64) -> Result<Writer> {
        self.start_writer(tenant, run, Some(attempt))
    }

    fn start_writer(&self, tenant: &TenantId, run: &RunId, fence: Option<i64>) -> Result<Writer> {
        let (tx, rx) = mpsc::sync_channel::<CaseResult>(BATCH);
        let (db, tenant, run) = (self.db.clone(), tenant.clone(), run.clone());
        let handle = std::thread::Builder::new()
            .name("gauntlet-writer".into())
            .spawn(move || write_loop(&db, &tenant, &run, fence, rx))
            .map_err(|e| StoreError::WriterGone(e.to_string()))?;
        Ok(Writer {
            tx: Some(tx),
            handle: Some(handle),
        })
    }
}

/// Stores made before `schema_migrations` counted their migrations in `PRAGMA user_version`.
fn adopt_user_version(db: &Db) -> Result<()> {
    db.transaction(|c| {
        let version = c.query_one("PRAGMA user_version", &[])?.int(0)?;
        let tracked = c
            .query_opt(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'",
                &[],
            )?
            .is_some();
        if version == 0 || tracked {
            return Ok(());
        }
        let known = SQLITE.len() as i64;
        if version > known {
            return Err(StoreError::TooNew {
                found: version,
                known,
            });
        }
        c.batch(
            "CREATE TABLE schema_migrations (
                version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
        )?;
        for (i, (name, _)) in SQLITE.iter().enumerate().take(version as usize) {
            c.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, now_ms())",
                params![i as i64 + 1, *name],
            )?;
        }
        Ok(())
    })
}

/// Sends case results to the writer thread; [`Writer::finish`] waits until all are committed.
pub struct Writer {
    tx: Option<mpsc::SyncSender<CaseResult>>,
    handle: Option<JoinHandle<Result<Written>>>,
}

/// What a [`Writer`] committed.
#[derive(Debug)]
pub struct Written {
    pub cases: u64,
    /// The transcript digest of the cases written ([`gauntlet_audit::bundle::TranscriptDigest`]),
    /// computed here, off the engine's path.
    pub transcript: String,
}

impl Writer {
    pub fn send(&self, case: CaseResult) -> Result<()> {
        match &self.tx {
            Some(tx) => tx
                .send(case)
                .map_err(|_| StoreError::WriterGone("the writer thread ended early".into())),
            None => Err(StoreError::WriterGone("the writer is finished".into())),
        }
    }

    /// Flushes and stops the thread; returns how many cases were written and their digest.
    pub fn finish(mut self) -> Result<Written> {
        drop(self.tx.take());
        match self.handle.take().map(JoinHandle::join) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(StoreError::WriterGone("the writer thread panicked".into())),
            None => Err(StoreError::WriterGone("the writer is finished".into())),
        }
    }
}

fn write_loop(
    db: &Db,
    tenant: &TenantId,
    run: &RunId,
    fence: Option<i64>,
    rx: mpsc::Receiver<CaseResult>,
) -> Result<Written> {
    let mut written = 0;
    let mut transcript = gauntlet_audit::bundle::TranscriptDigest::new();
    let mut batch = Vec::with_capacity(BATCH);
    while let Ok(first) = rx.recv() {
        batch.push(first);
        let deadline = std::time::Instant::now() + BATCH_WINDOW;
        while batch.len() < BATCH {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(c) => batch.push(c),
                Err(_) => break,
            }
        }
        // The batch is retried whole if the transaction is (a lost connection, a conflict).
        db.transaction(|c| {
            if let Some(attempt) = fence {
                let lock = match c.dialect() {
                    Dialect::Postgres => "FOR UPDATE",
                    Dialect::Sqlite => "",
                };
                let held = c
                    .query_opt(
                        &format!("SELECT 1 FROM jobs WHERE tenant_id = $1 AND id = $2 AND attempt = $3 AND state = 'running' {lock}"),
                        params![tenant.as_str(), run.as_str(), attempt],
                    )?
                    .is_some();
                if !held {
                    return Err(StoreError::Fenced(run.to_string()));
                }
            }
            for case in &batch {
                insert_case(c, tenant, run, case)?;
            }
            Ok(())
        })?;
        for case in &batch {
            transcript.add_serialize(case);
        }
        written += batch.len() as u64;
        batch.clear();
    }
    Ok(Written {
        cases: written,
        transcript: transcript.hex(),
    })
}

pub(crate) fn json_text<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".to_owned())
}

fn insert_case(c: &mut dyn Conn, tenant: &TenantId, run: &RunId, case: &CaseResult) -> Result<()> {
    let (t, r) = (tenant.as_str(), run.as_str());
    c.execute(
        "INSERT INTO cases (tenant_id, run_id, idx, case_id, target, status, score, input, output, reason, tokens_input, tokens_output, cost_usd, latency_ms, tags, trial, trace)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
        params![t, r, case.index, &case.id, &case.target, case.status.as_str(), case.score, &case.input, case.output.as_deref(), case.reason.as_deref(), case.tokens.input, case.tokens.output, case.cost_usd, case.latency_ms, json_text(&case.tags), case.trial, case.trace.as_ref().map(json_text)],
    )?;
    for (si, s) in case.steps.iter().enumerate() {
        c.execute(
            "INSERT INTO steps (tenant_id, run_id, case_idx, step_idx, node, agent, provider, model, input, output, tokens_input, tokens_output, cost_usd, latency_ms, model_calls, retries, error, violations, ttft_ms, faults, served_by, tokens_per_s, start_ms, spans)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24)",
            params![t, r, case.index, si, s.node.as_deref(), &s.agent, &s.provider, &s.model, &s.input, s.output.as_deref(), s.tokens.input, s.tokens.output, s.cost_usd, s.latency_ms, s.model_calls, s.retries, s.error.as_deref(), json_text(&s.violations), s.ttft_ms, (!s.faults.is_empty()).then(|| json_text(&s.faults)), s.served_by.as_deref(), s.tokens_per_s, s.start_ms, (!s.spans.is_empty()).then(|| json_text(&s.spans))],
        )?;
        for (ci, call) in s.tool_calls.iter().enumerate() {
            c.execute(
                "INSERT INTO tool_calls (tenant_id, run_id, case_idx, step_idx, call_idx, name, args, result, error, latency_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                params![t, r, case.index, si, ci, &call.name, json_text(&call.args), call.result.as_ref().map(json_text), call.error.as_deref(), call.latency_ms],
            )?;
        }
    }
    for (ai, a) in case.assertions.iter().enumerate() {
        c.execute(
            "INSERT INTO assertions (tenant_id, run_id, case_idx, assertion_idx, type, pass, score, weight, reason, node, metric, details, cost_usd) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            params![t, r, case.index, ai, &a.kind, a.pass, a.score, a.weight, &a.reason, a.node.as_deref(), a.metric.as_deref(), a.details.as_ref().map(json_text), a.cost_usd],
        )?;
    }
    Ok(())
}
