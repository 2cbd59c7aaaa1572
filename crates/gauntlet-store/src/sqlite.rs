//! The SQLite backend: WAL, `synchronous=FULL`, one writer thread with batched transactions.

mod audit;
mod retention;

use std::path::Path;
use std::sync::Mutex;
use std::sync::mpsc;
use std::thread::JoinHandle;

use gauntlet_core::ids::{RunId, TenantId};
use gauntlet_core::result::{
    AssertionResult, CaseResult, CaseStatus, RunRecord, RunStatus, StepRecord, Tokens,
    ToolCallRecord, Totals,
};
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::Value;

use crate::{
    Baseline, BaselineStore, CassetteRecords, ExperimentStore, Result, RunFilter, RunStore,
    SourceStore, StoreError,
};

/// Numbered migrations, applied in order; the number of applied ones is `PRAGMA user_version`.
const MIGRATIONS: &[(&str, &str)] = &[
    (
        "0001_runs",
        include_str!("../migrations/sqlite/0001_runs.sql"),
    ),
    (
        "0002_baselines",
        include_str!("../migrations/sqlite/0002_baselines.sql"),
    ),
    (
        "0003_case_trials",
        include_str!("../migrations/sqlite/0003_case_trials.sql"),
    ),
    (
        "0004_experiments",
        include_str!("../migrations/sqlite/0004_experiments.sql"),
    ),
    (
        "0005_sources",
        include_str!("../migrations/sqlite/0005_sources.sql"),
    ),
    (
        "0006_cassettes",
        include_str!("../migrations/sqlite/0006_cassettes.sql"),
    ),
    (
        "0007_audit",
        include_str!("../migrations/sqlite/0007_audit.sql"),
    ),
    (
        "0008_retention",
        include_str!("../migrations/sqlite/0008_retention.sql"),
    ),
    (
        "0009_evaluators",
        include_str!("../migrations/sqlite/0009_evaluators.sql"),
    ),
    (
        "0010_providers",
        include_str!("../migrations/sqlite/0010_providers.sql"),
    ),
];

/// Group commit: a write transaction closes after this many cases or this long after its first
/// case, whichever comes first. Each commit is an fsync (`synchronous=FULL`), so fewer, larger
/// commits keep the disk from pacing the run; a crash loses at most the open batch.
const BATCH: usize = 4096;
const BATCH_WINDOW: std::time::Duration = std::time::Duration::from_millis(200);

pub struct SqliteStore {
    conn: Mutex<Connection>,
    path: String,
}

fn open_connection(path: &str) -> Result<Connection> {
    let conn = Connection::open(path).map_err(|e| StoreError::Open {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and applies pending migrations.
    pub fn open(path: &Path) -> Result<SqliteStore> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Open {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
        }
        let path = path.display().to_string();
        let mut conn = open_connection(&path)?;
        migrate(&mut conn)?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
            path,
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A poisoned lock only means another thread panicked mid-call; SQLite's own
        // transactions keep the data consistent, so the connection is still usable.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a writer thread on its own connection for the results of `run`.
    pub fn writer(&self, tenant: &TenantId, run: &RunId) -> Result<Writer> {
        let conn = open_connection(&self.path)?;
        let (tx, rx) = mpsc::sync_channel::<CaseResult>(BATCH);
        let tenant = tenant.clone();
        let run = run.clone();
        let handle = std::thread::Builder::new()
            .name("gauntlet-writer".into())
            .spawn(move || write_loop(conn, &tenant, &run, rx))
            .map_err(|e| StoreError::WriterGone(e.to_string()))?;
        Ok(Writer {
            tx: Some(tx),
            handle: Some(handle),
        })
    }
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(StoreError::TooNew {
            found: version,
            known,
        });
    }
    for (i, (_, sql)) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
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
    mut conn: Connection,
    tenant: &TenantId,
    run: &RunId,
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
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        for case in &batch {
            insert_case(&tx, tenant, run, case)?;
            transcript.add_serialize(case);
        }
        tx.commit()?;
        written += batch.len() as u64;
        batch.clear();
    }
    Ok(Written {
        cases: written,
        transcript: transcript.hex(),
    })
}

fn json_text<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".to_owned())
}

fn insert_case(
    tx: &rusqlite::Transaction<'_>,
    tenant: &TenantId,
    run: &RunId,
    c: &CaseResult,
) -> Result<()> {
    let (t, r) = (tenant.as_str(), run.as_str());
    tx.prepare_cached(
        "INSERT INTO cases (tenant_id, run_id, idx, case_id, target, status, score, input, output, reason, tokens_input, tokens_output, cost_usd, latency_ms, tags, trial)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
    )?
    .execute(params![t, r, c.index, c.id, c.target, c.status.as_str(), c.score, c.input, c.output, c.reason, c.tokens.input as i64, c.tokens.output as i64, c.cost_usd, c.latency_ms, json_text(&c.tags), c.trial])?;
    for (si, s) in c.steps.iter().enumerate() {
        tx.prepare_cached(
            "INSERT INTO steps (tenant_id, run_id, case_idx, step_idx, node, agent, provider, model, input, output, tokens_input, tokens_output, cost_usd, latency_ms, model_calls, retries, error, violations, ttft_ms, faults, served_by, tokens_per_s)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22)",
        )?
        .execute(params![t, r, c.index, si as i64, s.node, s.agent, s.provider, s.model, s.input, s.output, s.tokens.input as i64, s.tokens.output as i64, s.cost_usd, s.latency_ms, s.model_calls, s.retries, s.error, json_text(&s.violations), s.ttft_ms, (!s.faults.is_empty()).then(|| json_text(&s.faults)), s.served_by, s.tokens_per_s])?;
        for (ci, call) in s.tool_calls.iter().enumerate() {
            tx.prepare_cached(
                "INSERT INTO tool_calls (tenant_id, run_id, case_idx, step_idx, call_idx, name, args, result, error, latency_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?
            .execute(params![t, r, c.index, si as i64, ci as i64, call.name, json_text(&call.args), call.result.as_ref().map(json_text), call.error, call.latency_ms])?;
        }
    }
    for (ai, a) in c.assertions.iter().enumerate() {
        tx.prepare_cached(
            "INSERT INTO assertions (tenant_id, run_id, case_idx, assertion_idx, type, pass, score, weight, reason, node, metric, details, cost_usd) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        )?
        .execute(params![t, r, c.index, ai as i64, a.kind, a.pass, a.score, a.weight, a.reason, a.node, a.metric, a.details.as_ref().map(json_text), a.cost_usd])?;
    }
    Ok(())
}

const RUN_COLUMNS: &str = "id, project, suite, seed, status, config_hash, gauntlet_version, started_at, finished_at, cases_total, passed, failed, errored, tokens_input, tokens_output, cost_usd";

fn run_from_row(row: &Row<'_>) -> rusqlite::Result<std::result::Result<RunRecord, String>> {
    let seed: String = row.get(3)?;
    let status: String = row.get(4)?;
    let (tokens_input, tokens_output): (i64, i64) = (row.get(13)?, row.get(14)?);
    let record = (|| {
        Ok(RunRecord {
            id: RunId::from_string(row.get::<_, String>(0).map_err(|e| e.to_string())?),
            project: row.get(1).map_err(|e| e.to_string())?,
            suite: row.get(2).map_err(|e| e.to_string())?,
            seed: seed
                .parse()
                .map_err(|_| format!("seed `{seed}` is not a number"))?,
            status: RunStatus::parse(&status)
                .ok_or_else(|| format!("unknown run status `{status}`"))?,
            config_hash: row.get(5).map_err(|e| e.to_string())?,
            gauntlet_version: row.get(6).map_err(|e| e.to_string())?,
            started_at: row.get(7).map_err(|e| e.to_string())?,
            finished_at: row.get(8).map_err(|e| e.to_string())?,
            totals: Totals {
                cases: row.get::<_, i64>(9).map_err(|e| e.to_string())? as u64,
                passed: row.get::<_, i64>(10).map_err(|e| e.to_string())? as u64,
                failed: row.get::<_, i64>(11).map_err(|e| e.to_string())? as u64,
                errored: row.get::<_, i64>(12).map_err(|e| e.to_string())? as u64,
                tokens: (tokens_input + tokens_output) as u64,
                tokens_input: tokens_input as u64,
                tokens_output: tokens_output as u64,
                cost_usd: row.get(15).map_err(|e| e.to_string())?,
            },
        })
    })();
    Ok(record)
}

impl crate::JudgeVerdicts for SqliteStore {
    fn put_verdict(&self, tenant: &TenantId, key: &str, verdict: &Value, at: &str) -> Result<()> {
        self.conn().execute(
            "INSERT INTO judge_cache (tenant_id, key, verdict, created_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (tenant_id, key) DO NOTHING",
            params![tenant.as_str(), key, json_text(verdict), at],
        )?;
        Ok(())
    }

    fn get_verdict(&self, tenant: &TenantId, key: &str) -> Result<Option<Value>> {
        let text: Option<String> = self
            .conn()
            .query_row(
                "SELECT verdict FROM judge_cache WHERE tenant_id = ?1 AND key = ?2",
                params![tenant.as_str(), key],
                |r| r.get(0),
            )
            .optional()?;
        parse_json_column(text, "judge verdict")
    }
}

impl CassetteRecords for SqliteStore {
    fn put_cassette(&self, tenant: &TenantId, suite: &str, key: &str, entry: &Value) -> Result<()> {
        self.conn().execute(
            "INSERT INTO cassettes (tenant_id, suite, key, entry) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (tenant_id, suite, key) DO UPDATE SET entry = excluded.entry",
            params![tenant.as_str(), suite, key, json_text(entry)],
        )?;
        Ok(())
    }

    fn get_cassette(&self, tenant: &TenantId, suite: &str, key: &str) -> Result<Option<Value>> {
        let text: Option<String> = self
            .conn()
            .query_row(
                "SELECT entry FROM cassettes WHERE tenant_id = ?1 AND suite = ?2 AND key = ?3",
                params![tenant.as_str(), suite, key],
                |r| r.get(0),
            )
            .optional()?;
        parse_json_column(text, "cassette")
    }
}

impl SourceStore for SqliteStore {
    fn save_source(
        &self,
        tenant: &TenantId,
        run: &RunId,
        path: &str,
        sha256: &str,
        len: u64,
        content: &mut dyn std::io::Read,
    ) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let stored: Option<i64> = tx
            .query_row(
                "SELECT 1 FROM sources WHERE tenant_id = ?1 AND sha256 = ?2",
                params![tenant.as_str(), sha256],
                |r| r.get(0),
            )
            .optional()?;
        if stored.is_none() {
            // Written in chunks into a zero-filled blob, so a large file is never held in
            // memory twice (once by us, once by SQLite).
            tx.execute(
                "INSERT INTO sources (tenant_id, sha256, content) VALUES (?1, ?2, zeroblob(?3))",
                params![tenant.as_str(), sha256, len as i64],
            )?;
            let rowid = tx.last_insert_rowid();
            let mut blob = tx.blob_open(rusqlite::MAIN_DB, "sources", "content", rowid, false)?;
            let copied = std::io::copy(content, &mut blob)
                .map_err(|e| StoreError::Corrupt(format!("writing source `{path}`: {e}")))?;
            if copied != len {
                return Err(StoreError::Corrupt(format!(
                    "source `{path}` changed while it was stored ({copied} of {len} bytes)"
                )));
            }
        }
        tx.execute(
            "INSERT INTO run_sources (tenant_id, run_id, path, sha256) VALUES (?1, ?2, ?3, ?4)",
            params![tenant.as_str(), run.as_str(), path, sha256],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn sources(&self, tenant: &TenantId, run: &RunId) -> Result<Vec<(String, String)>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT r.path, s.content FROM run_sources r JOIN sources s ON s.tenant_id = r.tenant_id AND s.sha256 = r.sha256
             WHERE r.tenant_id = ?1 AND r.run_id = ?2 ORDER BY r.path",
        )?;
        let rows = stmt.query_map(params![tenant.as_str(), run.as_str()], |r| {
            let bytes: Vec<u8> = r.get(1)?;
            Ok((
                r.get::<_, String>(0)?,
                String::from_utf8_lossy(&bytes).into_owned(),
            ))
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }
}

impl ExperimentStore for SqliteStore {
    fn save_experiment(
        &self,
        tenant: &TenantId,
        run: &RunId,
        created_at: &str,
        report: &Value,
    ) -> Result<()> {
        self.conn().execute(
            "INSERT INTO experiments (tenant_id, run_id, created_at, report) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (tenant_id, run_id) DO UPDATE SET created_at = excluded.created_at, report = excluded.report",
            params![tenant.as_str(), run.as_str(), created_at, json_text(report)],
        )?;
        Ok(())
    }

    fn experiment(&self, tenant: &TenantId, run: &RunId) -> Result<Option<Value>> {
        let text: Option<String> = self
            .conn()
            .query_row(
                "SELECT report FROM experiments WHERE tenant_id = ?1 AND run_id = ?2",
                params![tenant.as_str(), run.as_str()],
                |r| r.get(0),
            )
            .optional()?;
        parse_json_column(text, "experiment")
    }
}

impl BaselineStore for SqliteStore {
    fn set_baseline(
        &self,
        tenant: &TenantId,
        name: &str,
        run: &RunRecord,
        created_at: &str,
    ) -> Result<Option<Baseline>> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let previous = tx
            .query_row(
                "SELECT name, run_id, suite, created_at FROM baselines WHERE tenant_id = ?1 AND name = ?2",
                params![tenant.as_str(), name],
                baseline_from_row,
            )
            .optional()?;
        tx.execute(
            "INSERT INTO baselines (tenant_id, name, run_id, suite, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (tenant_id, name) DO UPDATE SET run_id = excluded.run_id, suite = excluded.suite, created_at = excluded.created_at",
            params![tenant.as_str(), name, run.id.as_str(), run.suite, created_at],
        )?;
        tx.commit()?;
        Ok(previous)
    }

    fn get_baseline(&self, tenant: &TenantId, name: &str) -> Result<Baseline> {
        self.conn()
            .query_row(
                "SELECT name, run_id, suite, created_at FROM baselines WHERE tenant_id = ?1 AND name = ?2",
                params![tenant.as_str(), name],
                baseline_from_row,
            )
            .optional()?
            .ok_or_else(|| StoreError::BaselineNotFound(name.to_owned()))
    }

    fn list_baselines(&self, tenant: &TenantId) -> Result<Vec<Baseline>> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT name, run_id, suite, created_at FROM baselines WHERE tenant_id = ?1 ORDER BY name")?;
        let rows = stmt.query_map(params![tenant.as_str()], baseline_from_row)?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }
}

fn baseline_from_row(row: &Row<'_>) -> rusqlite::Result<Baseline> {
    Ok(Baseline {
        name: row.get(0)?,
        run_id: RunId::from_string(row.get::<_, String>(1)?),
        suite: row.get(2)?,
        created_at: row.get(3)?,
    })
}

impl RunStore for SqliteStore {
    fn create_run(&self, tenant: &TenantId, run: &RunRecord, snapshot: &Value) -> Result<()> {
        self.conn().execute(
            "INSERT INTO runs (tenant_id, id, project, suite, seed, status, config_hash, config_snapshot, gauntlet_version, started_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![tenant.as_str(), run.id.as_str(), run.project, run.suite, run.seed.to_string(), run.status.as_str(), run.config_hash, json_text(snapshot), run.gauntlet_version, run.started_at],
        )?;
        Ok(())
    }

    fn finish_run(
        &self,
        tenant: &TenantId,
        id: &RunId,
        status: RunStatus,
        t: &Totals,
        finished_at: &str,
    ) -> Result<()> {
        let n = self.conn().execute(
            "UPDATE runs SET status = ?3, finished_at = ?4, cases_total = ?5, passed = ?6, failed = ?7, errored = ?8, tokens_input = ?9, tokens_output = ?10, cost_usd = ?11
             WHERE tenant_id = ?1 AND id = ?2",
            params![tenant.as_str(), id.as_str(), status.as_str(), finished_at, t.cases as i64, t.passed as i64, t.failed as i64, t.errored as i64, t.tokens_input as i64, t.tokens_output as i64, t.cost_usd],
        )?;
        if n == 0 {
            return Err(StoreError::RunNotFound(id.to_string()));
        }
        Ok(())
    }

    fn list_runs(&self, tenant: &TenantId, filter: &RunFilter) -> Result<Vec<RunRecord>> {
        let conn = self.conn();
        let limit = if filter.limit == 0 { 50 } else { filter.limit } as i64;
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE tenant_id = ?1 AND (?2 IS NULL OR suite = ?2) ORDER BY started_at DESC, id DESC LIMIT ?3"
        );
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt.query_map(params![tenant.as_str(), filter.suite, limit], run_from_row)?;
        let mut out = Vec::new();
        for r in rows {
            out.push(r?.map_err(StoreError::Corrupt)?);
        }
        Ok(out)
    }

    fn get_run(&self, tenant: &TenantId, id_or_prefix: &str) -> Result<RunRecord> {
        let conn = self.conn();
        if id_or_prefix == "latest" || id_or_prefix == "last" {
            let sql = format!(
                "SELECT {RUN_COLUMNS} FROM runs WHERE tenant_id = ?1 ORDER BY started_at DESC, id DESC LIMIT 1"
            );
            return conn
                .query_row(&sql, params![tenant.as_str()], run_from_row)
                .optional()?
                .ok_or_else(|| StoreError::RunNotFound(id_or_prefix.to_owned()))?
                .map_err(StoreError::Corrupt);
        }
        let wanted = id_or_prefix.to_ascii_uppercase();
        // Prefix search with a range, not LIKE, so `%` and `_` in the input mean nothing.
        let upper = format!("{wanted}\u{10FFFF}");
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE tenant_id = ?1 AND id >= ?2 AND id < ?3 ORDER BY id LIMIT 2"
        );
        let mut stmt = conn.prepare(&sql)?;
        let rows: Vec<_> = stmt
            .query_map(params![tenant.as_str(), wanted, upper], run_from_row)?
            .collect::<std::result::Result<_, _>>()?;
        match rows.len() {
            0 => Err(StoreError::RunNotFound(id_or_prefix.to_owned())),
            1 => rows
                .into_iter()
                .next()
                .ok_or_else(|| StoreError::RunNotFound(id_or_prefix.to_owned()))?
                .map_err(StoreError::Corrupt),
            _ => {
                let exact = rows
                    .into_iter()
                    .filter_map(|r| r.ok())
                    .find(|r| r.id.as_str() == wanted);
                exact.ok_or_else(|| StoreError::AmbiguousRun {
                    prefix: id_or_prefix.to_owned(),
                    count: 2,
                })
            }
        }
    }

    fn snapshot(&self, tenant: &TenantId, id: &RunId) -> Result<Value> {
        let text: String = self
            .conn()
            .query_row(
                "SELECT config_snapshot FROM runs WHERE tenant_id = ?1 AND id = ?2",
                params![tenant.as_str(), id.as_str()],
                |r| r.get(0),
            )
            .optional()?
            .ok_or_else(|| StoreError::RunNotFound(id.to_string()))?;
        serde_json::from_str(&text)
            .map_err(|e| StoreError::Corrupt(format!("configuration snapshot: {e}")))
    }

    fn for_each_case(
        &self,
        tenant: &TenantId,
        id: &RunId,
        f: &mut dyn FnMut(CaseResult) -> Result<()>,
    ) -> Result<()> {
        let conn = self.conn();
        let p = params![tenant.as_str(), id.as_str()];
        let mut cases = conn.prepare(
            "SELECT idx, case_id, target, status, score, input, output, reason, tokens_input, tokens_output, cost_usd, latency_ms, tags, trial
             FROM cases WHERE tenant_id = ?1 AND run_id = ?2 ORDER BY idx",
        )?;
        let mut steps = conn.prepare(
            "SELECT case_idx, step_idx, node, agent, provider, model, input, output, tokens_input, tokens_output, cost_usd, latency_ms, model_calls, retries, error, violations, ttft_ms, faults, served_by, tokens_per_s
             FROM steps WHERE tenant_id = ?1 AND run_id = ?2 ORDER BY case_idx, step_idx",
        )?;
        let mut calls = conn.prepare(
            "SELECT case_idx, step_idx, name, args, result, error, latency_ms FROM tool_calls WHERE tenant_id = ?1 AND run_id = ?2 ORDER BY case_idx, step_idx, call_idx",
        )?;
        let mut asserts = conn.prepare(
            "SELECT case_idx, type, pass, score, weight, reason, node, metric, details, cost_usd FROM assertions WHERE tenant_id = ?1 AND run_id = ?2 ORDER BY case_idx, assertion_idx",
        )?;
        // A merge join over four cursors, all ordered by case index.
        let mut step_rows = steps.query(p)?;
        let mut call_rows = calls.query(p)?;
        let mut assert_rows = asserts.query(p)?;
        let mut case_rows = cases.query(p)?;
        let mut next_step = step_rows.next()?.map(read_step).transpose()?;
        let mut next_call = call_rows.next()?.map(read_call).transpose()?;
        let mut next_assert = assert_rows.next()?.map(read_assertion).transpose()?;
        while let Some(row) = case_rows.next()? {
            let mut case = read_case(row)?;
            let idx = i64::from(case.index);
            while let Some((ci, _, _)) = &next_step {
                if *ci != idx {
                    break;
                }
                if let Some((_, si, mut step)) = next_step.take() {
                    while let Some((cc, cs, _)) = &next_call {
                        if *cc != idx || *cs != si {
                            break;
                        }
                        if let Some((_, _, call)) = next_call.take() {
                            step.tool_calls.push(call);
                        }
                        next_call = call_rows.next()?.map(read_call).transpose()?;
                    }
                    case.steps.push(step);
                }
                next_step = step_rows.next()?.map(read_step).transpose()?;
            }
            while let Some((ai, _)) = &next_assert {
                if *ai != idx {
                    break;
                }
                if let Some((_, a)) = next_assert.take() {
                    case.assertions.push(a);
                }
                next_assert = assert_rows.next()?.map(read_assertion).transpose()?;
            }
            f(case)?;
        }
        Ok(())
    }
}

fn parse_json_column(text: Option<String>, what: &str) -> Result<Option<Value>> {
    text.map(|t| serde_json::from_str(&t).map_err(|e| StoreError::Corrupt(format!("{what}: {e}"))))
        .transpose()
}

fn read_case(row: &Row<'_>) -> Result<CaseResult> {
    let status: String = row.get(3)?;
    let tags: String = row.get(12)?;
    Ok(CaseResult {
        index: row.get(0)?,
        id: row.get(1)?,
        trial: row.get(13)?,
        target: row.get(2)?,
        status: CaseStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown case status `{status}`")))?,
        score: row.get(4)?,
        input: row.get(5)?,
        output: row.get(6)?,
        reason: row.get(7)?,
        tokens: Tokens {
            input: row.get::<_, i64>(8)? as u64,
            output: row.get::<_, i64>(9)? as u64,
        },
        cost_usd: row.get(10)?,
        latency_ms: row.get(11)?,
        steps: Vec::new(),
        assertions: Vec::new(),
        tags: serde_json::from_str(&tags)
            .map_err(|e| StoreError::Corrupt(format!("case tags: {e}")))?,
    })
}

fn read_step(row: &Row<'_>) -> Result<(i64, i64, StepRecord)> {
    let violations: String = row.get(15)?;
    Ok((
        row.get(0)?,
        row.get(1)?,
        StepRecord {
            node: row.get(2)?,
            agent: row.get(3)?,
            provider: row.get(4)?,
            model: row.get(5)?,
            input: row.get(6)?,
            output: row.get(7)?,
            tool_calls: Vec::new(),
            tokens: Tokens {
                input: row.get::<_, i64>(8)? as u64,
                output: row.get::<_, i64>(9)? as u64,
            },
            cost_usd: row.get(10)?,
            latency_ms: row.get(11)?,
            model_calls: row.get(12)?,
            retries: row.get(13)?,
            error: row.get(14)?,
            violations: serde_json::from_str(&violations)
                .map_err(|e| StoreError::Corrupt(format!("step violations: {e}")))?,
            ttft_ms: row.get(16)?,
            faults: match parse_json_column(row.get(17)?, "step faults")? {
                Some(v) => serde_json::from_value(v)
                    .map_err(|e| StoreError::Corrupt(format!("step faults: {e}")))?,
                None => Vec::new(),
            },
            served_by: row.get(18)?,
            tokens_per_s: row.get(19)?,
        },
    ))
}

fn read_call(row: &Row<'_>) -> Result<(i64, i64, ToolCallRecord)> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        ToolCallRecord {
            name: row.get(2)?,
            args: parse_json_column(Some(row.get(3)?), "tool arguments")?.unwrap_or(Value::Null),
            result: parse_json_column(row.get(4)?, "tool result")?,
            error: row.get(5)?,
            latency_ms: row.get(6)?,
        },
    ))
}

fn read_assertion(row: &Row<'_>) -> Result<(i64, AssertionResult)> {
    Ok((
        row.get(0)?,
        AssertionResult {
            kind: row.get(1)?,
            pass: row.get(2)?,
            score: row.get(3)?,
            weight: row.get(4)?,
            reason: row.get(5)?,
            node: row.get(6)?,
            metric: row.get(7)?,
            details: parse_json_column(row.get(8)?, "assertion details")?,
            cost_usd: row.get(9)?,
        },
    ))
}
