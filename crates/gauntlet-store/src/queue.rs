//! The durable run queue of `design/queue.md`: lease, heartbeat, fencing by attempt, a step
//! journal, cancellation and pause.
//!
//! A job's id is its run's id. Every write a worker makes after claiming is fenced: it names
//! the attempt it claimed, and a row whose attempt moved on (the lease was lost and another
//! worker claimed it) or whose state is no longer `running` refuses it. Times are the
//! database's (`now_ms()`), never a worker's.
//!
//! Claiming and reaping serve every tenant (workers are shared); every other function takes
//! the caller's tenant.

use gauntlet_core::TenantId;
use serde::Serialize;

use crate::db::{Conn, Db, Dialect, Row};
use crate::{Result, StoreError, params};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Pending,
    Retryable,
    Running,
    Paused,
    Succeeded,
    Failed,
    Cancelled,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Pending => "pending",
            JobState::Retryable => "retryable",
            JobState::Running => "running",
            JobState::Paused => "paused",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }

    fn parse(s: &str) -> Result<JobState> {
        Ok(match s {
            "pending" => JobState::Pending,
            "retryable" => JobState::Retryable,
            "running" => JobState::Running,
            "paused" => JobState::Paused,
            "succeeded" => JobState::Succeeded,
            "failed" => JobState::Failed,
            "cancelled" => JobState::Cancelled,
            other => return Err(StoreError::Corrupt(format!("job state `{other}`"))),
        })
    }

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobState::Succeeded | JobState::Failed | JobState::Cancelled
        )
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Job {
    pub id: String,
    pub state: JobState,
    pub attempt: i64,
    pub max_attempts: i64,
    pub idempotency_key: Option<String>,
    pub last_error: Option<String>,
    pub request: serde_json::Value,
    pub created_by: String,
    /// Milliseconds since the epoch.
    pub created_at: i64,
    pub finished_at: Option<i64>,
    pub cancel_requested: bool,
    pub pause_requested: bool,
}

const COLUMNS: &str = "id, state, attempt, max_attempts, idempotency_key, last_error, request, created_by, created_at, finished_at, cancel_requested_at, pause_requested_at";

fn job_from(row: &Row) -> Result<Job> {
    let request = row.text(6)?;
    Ok(Job {
        id: row.text(0)?,
        state: JobState::parse(&row.text(1)?)?,
        attempt: row.int(2)?,
        max_attempts: row.int(3)?,
        idempotency_key: row.opt_text(4)?,
        last_error: row.opt_text(5)?,
        request: serde_json::from_str(&request)
            .map_err(|e| StoreError::Corrupt(format!("job request: {e}")))?,
        created_by: row.text(7)?,
        created_at: row.int(8)?,
        finished_at: row.opt_int(9)?,
        cancel_requested: row.opt_int(10)?.is_some(),
        pause_requested: row.opt_int(11)?.is_some(),
    })
}

/// A job and its run's record, which exists once a worker started the run.
pub type JobWithRecord = (Job, Option<gauntlet_core::result::RunRecord>);

/// A job and its run's record, by id; then the newest jobs with theirs.
static JOB_WITH_RECORD: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| with_records("j.tenant_id = $1 AND j.id = $2"));
static JOBS_WITH_RECORDS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    with_records("j.tenant_id = $1 ORDER BY j.created_at DESC, j.id DESC LIMIT $2")
});

/// Jobs joined to their runs' records, filtered and ordered by `tail` (which names the job
/// table `j`).
fn with_records(tail: &str) -> String {
    use crate::store::runs::RUN_COLUMNS;
    let qualified = |cols: &str, table: &str| {
        cols.split(", ")
            .map(|c| format!("{table}.{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "SELECT {}, {} FROM jobs j LEFT JOIN runs r ON r.tenant_id = j.tenant_id AND r.id = j.id WHERE {tail}",
        qualified(COLUMNS, "j"),
        qualified(RUN_COLUMNS, "r"),
    )
}

fn job_with_record(mut row: Row) -> Result<JobWithRecord> {
    let width = COLUMNS.split(", ").count();
    if row.0.len() < width {
        return Err(StoreError::Corrupt("a job row is too short".into()));
    }
    let run = Row(row.0.split_off(width));
    let job = job_from(&row)?;
    let record = match run.0.first() {
        None | Some(crate::db::Val::Null) => None,
        Some(_) => Some(crate::store::runs::run_from_row(&run)?),
    };
    Ok((job, record))
}

/// The run quotas an enqueue must stay within (none by default).
#[derive(Clone, Copy, Debug, Default)]
pub struct Admission {
    pub runs_per_day: Option<u64>,
    pub parallel_runs: Option<u64>,
    /// Where today began (ms), for `runs_per_day`.
    pub day_start_ms: i64,
}

/// What an enqueue under quotas did.
#[derive(Debug)]
pub enum Admitted {
    /// Queued (`true`), or the run already queued under the idempotency key (`false`).
    Queued(Box<Job>, bool),
    OverDaily {
        limit: u64,
    },
    OverParallel {
        active: u64,
        limit: u64,
    },
}

/// Runs created since `since_ms`, and runs queued or running, of a tenant.
fn counts_in(c: &mut dyn Conn, tenant: &TenantId, since_ms: i64) -> Result<(i64, i64)> {
    let r = c.query_one(
        "SELECT
            CAST(COALESCE(SUM(CASE WHEN created_at >= $2 THEN 1 ELSE 0 END), 0) AS BIGINT),
            CAST(COALESCE(SUM(CASE WHEN state IN ('running', 'pending', 'retryable') THEN 1 ELSE 0 END), 0) AS BIGINT)
         FROM jobs WHERE tenant_id = $1",
        params![tenant.as_str(), since_ms],
    )?;
    Ok((r.int(0)?, r.int(1)?))
}

/// A job to enqueue.
#[derive(Clone, Debug)]
pub struct NewJob {
    pub id: String,
    pub queue: String,
    pub priority: i64,
    pub max_attempts: i64,
    pub idempotency_key: Option<String>,
    pub request: serde_json::Value,
    pub created_by: String,
}

/// A job a worker holds: it may write only under this attempt.
#[derive(Clone, Debug, PartialEq)]
pub struct Lease {
    pub tenant: TenantId,
    pub id: String,
    pub attempt: i64,
    pub request: serde_json::Value,
}

/// What a heartbeat learns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Signals {
    pub cancel: bool,
    pub pause: bool,
}

/// How a worker ends its attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
    Failed,
    Cancelled,
    /// Stopped at a step boundary on request; `resume` makes it pending again.
    Paused,
    /// Handed back unfinished (the worker is shutting down): pending again at once, for any
    /// worker, without counting as a failure.
    Released,
}

#[derive(Clone)]
pub struct Queue {
    db: Db,
}

impl Queue {
    pub fn new(db: Db) -> Queue {
        Queue { db }
    }

    /// Enqueues a job, or returns the one already enqueued under the same idempotency key
    /// (`false` then).
    pub fn enqueue(&self, tenant: &TenantId, job: &NewJob) -> Result<(Job, bool)> {
        match self.enqueue_within(tenant, job, &Admission::default())? {
            Admitted::Queued(job, created) => Ok((*job, created)),
            // No limits were given, so none can be exceeded.
            other => Err(StoreError::Corrupt(format!(
                "unexpected admission: {other:?}"
            ))),
        }
    }

    /// [`Queue::enqueue`] under the tenant's run quotas, counted and taken in the same
    /// transaction, so concurrent requests cannot admit more runs than the limits allow. A
    /// retried request (same idempotency key) answers its run without counting again.
    pub fn enqueue_within(
        &self,
        tenant: &TenantId,
        job: &NewJob,
        admission: &Admission,
    ) -> Result<Admitted> {
        let request = job.request.to_string();
        let existing = |c: &mut dyn Conn| -> Result<Option<Job>> {
            let Some(key) = &job.idempotency_key else {
                return Ok(None);
            };
            c.query_opt(
                &format!("SELECT {COLUMNS} FROM jobs WHERE tenant_id = $1 AND queue = $2 AND idempotency_key = $3"),
                params![tenant.as_str(), &job.queue, key],
            )?
            .as_ref()
            .map(job_from)
            .transpose()
        };
        let inserted = self.db.transaction(|c| {
            if let Some(found) = existing(c)? {
                if found.request != job.request {
                    return Err(StoreError::Refused(format!(
                        "the idempotency key `{}` was used for another request; use a new key",
                        job.idempotency_key.as_deref().unwrap_or_default()
                    )));
                }
                return Ok(Some(Admitted::Queued(Box::new(found), false)));
            }
            if admission.runs_per_day.is_some() || admission.parallel_runs.is_some() {
                if c.dialect() == crate::db::Dialect::Postgres {
                    // One admission per tenant at a time (SQLite's write lock already is).
                    c.execute(
                        "SELECT pg_advisory_xact_lock(hashtextextended($1, 7412027))",
                        params![tenant.as_str()],
                    )?;
                }
                let (today, active) = counts_in(c, tenant, admission.day_start_ms)?;
                if let Some(limit) = admission.runs_per_day
                    && today as u64 >= limit
                {
                    return Ok(Some(Admitted::OverDaily { limit }));
                }
                if let Some(limit) = admission.parallel_runs
                    && active as u64 >= limit
                {
                    return Ok(Some(Admitted::OverParallel {
                        active: active as u64,
                        limit,
                    }));
                }
            }
            let n = c.execute(
                "INSERT INTO jobs (tenant_id, id, queue, state, priority, run_at, max_attempts,
                                   idempotency_key, request, created_by, created_at)
                 VALUES ($1, $2, $3, 'pending', $4, now_ms(), $5, $6, $7, $8, now_ms())
                 ON CONFLICT DO NOTHING",
                params![
                    tenant.as_str(),
                    &job.id,
                    &job.queue,
                    job.priority,
                    job.max_attempts,
                    job.idempotency_key.as_deref(),
                    &request,
                    &job.created_by
                ],
            )?;
            if n == 0 {
                // A concurrent enqueue with the same key won the race.
                return Ok(None);
            }
            Ok(Some(Admitted::Queued(
                Box::new(self.get_in(c, tenant, &job.id)?),
                true,
            )))
        })?;
        match inserted {
            Some(found) => Ok(found),
            None => self
                .db
                .with_conn(|c| existing(c))?
                .map(|j| Admitted::Queued(Box::new(j), false))
                .ok_or_else(|| StoreError::Conflict(format!("job `{}`", job.id))),
        }
    }

    fn get_in(&self, c: &mut dyn Conn, tenant: &TenantId, id: &str) -> Result<Job> {
        c.query_opt(
            &format!("SELECT {COLUMNS} FROM jobs WHERE tenant_id = $1 AND id = $2"),
            params![tenant.as_str(), id],
        )?
        .as_ref()
        .map(job_from)
        .unwrap_or_else(|| Err(StoreError::NotFound(format!("run `{id}`"))))
    }

    /// A tenant's runs waiting to start (queued, or waiting for a retry before their first
    /// attempt recorded anything), oldest first.
    pub fn waiting(&self, tenant: &TenantId, limit: i64) -> Result<Vec<Job>> {
        self.db.with_conn(|c| {
            c.query(
                &format!("SELECT {COLUMNS} FROM jobs j WHERE j.tenant_id = $1 AND j.state IN ('pending', 'retryable') AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.tenant_id = j.tenant_id AND r.id = j.id) ORDER BY j.created_at, j.id LIMIT $2"),
                params![tenant.as_str(), limit],
            )?
            .iter()
            .map(job_from)
            .collect()
        })
    }

    pub fn get(&self, tenant: &TenantId, id: &str) -> Result<Job> {
        self.db.with_conn(|c| self.get_in(c, tenant, id))
    }

    /// A run's job and, once the run started, its record: one statement, from async code
    /// (see [`Db::fetch`]).
    pub async fn get_with_record(&self, tenant: &TenantId, id: &str) -> Result<JobWithRecord> {
        let rows = self
            .db
            .fetch(&JOB_WITH_RECORD, vec![tenant.as_str().into(), id.into()])
            .await?;
        rows.into_iter()
            .next()
            .map(job_with_record)
            .unwrap_or_else(|| Err(StoreError::NotFound(format!("run `{id}`"))))
    }

    /// The newest `limit` jobs, newest first, each with its run's record: one statement, from
    /// async code.
    pub async fn list_with_records(
        &self,
        tenant: &TenantId,
        limit: usize,
    ) -> Result<Vec<JobWithRecord>> {
        self.db
            .fetch(
                &JOBS_WITH_RECORDS,
                vec![tenant.as_str().into(), limit.into()],
            )
            .await?
            .into_iter()
            .map(job_with_record)
            .collect()
    }

    /// Claims up to `n` ready jobs for `worker`, leasing each for `lease_ms` and giving it
    /// `deadline_ms` to finish.
    pub fn claim(
        &self,
        queue: &str,
        worker: &str,
        n: usize,
        lease_ms: i64,
        deadline_ms: i64,
    ) -> Result<Vec<Lease>> {
        let lock = match self.db.dialect() {
            Dialect::Postgres => "FOR UPDATE SKIP LOCKED",
            // SQLite: the transaction holds the only write lock already.
            Dialect::Sqlite => "",
        };
        let sql = format!(
            "UPDATE jobs SET state = 'running', attempt = attempt + 1, lease_owner = $2,
                    lease_expires_at = now_ms() + $3, heartbeat_at = now_ms(),
                    deadline_at = now_ms() + $4
             WHERE id IN (SELECT id FROM jobs
                          WHERE queue = $1 AND state IN ('pending', 'retryable') AND run_at <= now_ms()
                          ORDER BY priority, run_at, id LIMIT $5 {lock})
             RETURNING tenant_id, id, attempt, request"
        );
        self.db.transaction(|c| {
            c.query(&sql, params![queue, worker, lease_ms, deadline_ms, n])?
                .iter()
                .map(|r| {
                    let request = r.text(3)?;
                    Ok(Lease {
                        tenant: TenantId::new(r.text(0)?),
                        id: r.text(1)?,
                        attempt: r.int(2)?,
                        request: serde_json::from_str(&request)
                            .map_err(|e| StoreError::Corrupt(format!("job request: {e}")))?,
                    })
                })
                .collect()
        })
    }

    /// Extends the lease; `None` means it is lost and the worker must stop without writing.
    pub fn heartbeat(&self, lease: &Lease, lease_ms: i64) -> Result<Option<Signals>> {
        let row = self.db.with_conn(|c| {
            c.query_opt(
                "UPDATE jobs SET lease_expires_at = now_ms() + $3, heartbeat_at = now_ms()
                 WHERE id = $1 AND attempt = $2 AND state = 'running'
                 RETURNING cancel_requested_at, pause_requested_at",
                params![&lease.id, lease.attempt, lease_ms],
            )
        })?;
        row.map(|r| {
            Ok(Signals {
                cancel: r.opt_int(0)?.is_some(),
                pause: r.opt_int(1)?.is_some(),
            })
        })
        .transpose()
    }

    /// Ends the attempt; `false` when the lease was lost (nothing was written).
    pub fn finish(&self, lease: &Lease, outcome: Outcome, error: Option<&str>) -> Result<bool> {
        let sql = match outcome {
            Outcome::Released => {
                "UPDATE jobs SET state = 'pending', run_at = now_ms(), lease_owner = NULL,
                        lease_expires_at = NULL, last_error = $3
                 WHERE id = $1 AND attempt = $2 AND state = 'running'"
            }
            Outcome::Paused => {
                "UPDATE jobs SET state = 'paused', lease_owner = NULL, lease_expires_at = NULL,
                        pause_requested_at = NULL, last_error = $3
                 WHERE id = $1 AND attempt = $2 AND state = 'running'"
            }
            _ => {
                "UPDATE jobs SET state = $4, lease_owner = NULL, lease_expires_at = NULL,
                        last_error = $3, finished_at = now_ms()
                 WHERE id = $1 AND attempt = $2 AND state = 'running'"
            }
        };
        let state = match outcome {
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
            Outcome::Cancelled => "cancelled",
            Outcome::Paused => "paused",
            Outcome::Released => "pending",
        };
        let n = self.db.with_conn(|c| {
            if matches!(outcome, Outcome::Paused | Outcome::Released) {
                c.execute(sql, params![&lease.id, lease.attempt, error])
            } else {
                c.execute(sql, params![&lease.id, lease.attempt, error, state])
            }
        })?;
        Ok(n == 1)
    }

    /// A failed attempt: retried after `backoff_ms` until `max_attempts`, then `failed`.
    pub fn retry_later(&self, lease: &Lease, error: &str, backoff_ms: i64) -> Result<bool> {
        let n = self.db.with_conn(|c| {
            c.execute(
                "UPDATE jobs SET
                    state = CASE WHEN attempt >= max_attempts THEN 'failed' ELSE 'retryable' END,
                    finished_at = CASE WHEN attempt >= max_attempts THEN now_ms() ELSE NULL END,
                    run_at = now_ms() + $4, lease_owner = NULL, lease_expires_at = NULL, last_error = $3
                 WHERE id = $1 AND attempt = $2 AND state = 'running'",
                params![&lease.id, lease.attempt, error, backoff_ms],
            )
        })?;
        Ok(n == 1)
    }

    /// Running jobs whose lease or deadline passed: retried (or failed past their attempts, or
    /// cancelled when that was asked). Safe on every node. Returns the ids rescued.
    pub fn reap(&self) -> Result<Vec<String>> {
        self.db.transaction(|c| {
            let rows = c.query(
                "UPDATE jobs SET
                    state = CASE
                        WHEN cancel_requested_at IS NOT NULL THEN 'cancelled'
                        WHEN pause_requested_at IS NOT NULL THEN 'paused'
                        WHEN attempt >= max_attempts OR deadline_at < now_ms() THEN 'failed'
                        ELSE 'retryable' END,
                    finished_at = CASE
                        WHEN pause_requested_at IS NULL AND cancel_requested_at IS NULL
                             AND attempt < max_attempts AND deadline_at >= now_ms() THEN NULL
                        WHEN pause_requested_at IS NOT NULL AND cancel_requested_at IS NULL THEN NULL
                        ELSE now_ms() END,
                    pause_requested_at = NULL,
                    last_error = CASE WHEN deadline_at < now_ms() THEN 'the run passed its deadline'
                                      ELSE 'the worker stopped renewing its lease' END,
                    lease_owner = NULL, lease_expires_at = NULL
                 WHERE state = 'running' AND (lease_expires_at < now_ms() OR deadline_at < now_ms())
                 RETURNING id",
                &[],
            )?;
            rows.iter().map(|r| r.text(0)).collect()
        })
    }

    /// At start-up of a single-machine (SQLite) server: this process is the only worker, so
    /// every `running` job is an orphan of a previous process and is retried at once.
    pub fn recover_orphans(&self) -> Result<u64> {
        self.db.with_conn(|c| {
            c.execute(
                "UPDATE jobs SET state = 'retryable', run_at = now_ms(), lease_owner = NULL,
                        lease_expires_at = NULL, last_error = 'the server stopped while it ran'
                 WHERE state = 'running'",
                &[],
            )
        })
    }

    /// Queued or paused: cancelled at once. Running: flagged; the worker stops within a
    /// heartbeat. Returns the job as it now is.
    pub fn cancel(&self, tenant: &TenantId, id: &str) -> Result<Job> {
        self.db.transaction(|c| {
            c.execute(
                "UPDATE jobs SET state = 'cancelled', finished_at = now_ms()
                 WHERE tenant_id = $1 AND id = $2 AND state IN ('pending', 'retryable', 'paused')",
                params![tenant.as_str(), id],
            )?;
            c.execute(
                "UPDATE jobs SET cancel_requested_at = COALESCE(cancel_requested_at, now_ms())
                 WHERE tenant_id = $1 AND id = $2 AND state = 'running'",
                params![tenant.as_str(), id],
            )?;
            self.get_in(c, tenant, id)
        })
    }

    /// Queued: paused at once. Running: flagged; the worker stops at the next case boundary.
    pub fn pause(&self, tenant: &TenantId, id: &str) -> Result<Job> {
        self.db.transaction(|c| {
            c.execute(
                "UPDATE jobs SET state = 'paused'
                 WHERE tenant_id = $1 AND id = $2 AND state IN ('pending', 'retryable')",
                params![tenant.as_str(), id],
            )?;
            c.execute(
                "UPDATE jobs SET pause_requested_at = COALESCE(pause_requested_at, now_ms())
                 WHERE tenant_id = $1 AND id = $2 AND state = 'running'",
                params![tenant.as_str(), id],
            )?;
            self.get_in(c, tenant, id)
        })
    }

    /// A paused job becomes pending again (a pause still being honoured is withdrawn).
    pub fn resume(&self, tenant: &TenantId, id: &str) -> Result<Job> {
        self.db.transaction(|c| {
            c.execute(
                "UPDATE jobs SET state = 'pending', run_at = now_ms()
                 WHERE tenant_id = $1 AND id = $2 AND state = 'paused'",
                params![tenant.as_str(), id],
            )?;
            c.execute(
                "UPDATE jobs SET pause_requested_at = NULL
                 WHERE tenant_id = $1 AND id = $2 AND state = 'running'",
                params![tenant.as_str(), id],
            )?;
            self.get_in(c, tenant, id)
        })
    }

    /// Jobs of the tenant created since `since_ms`, and those running now (for quotas).
    pub fn counts(&self, tenant: &TenantId, since_ms: i64) -> Result<(i64, i64)> {
        self.db.with_conn(|c| counts_in(c, tenant, since_ms))
    }

    // ---- the journal ----

    /// A journaled step result of the run.
    pub fn journal_get(&self, tenant: &TenantId, run: &str, key: &str) -> Result<Option<String>> {
        self.db.with_conn(|c| {
            c.query_opt(
                "SELECT output FROM step_results WHERE tenant_id = $1 AND run_id = $2 AND step_key = $3",
                params![tenant.as_str(), run, key],
            )?
            .map(|r| r.text(0))
            .transpose()
        })
    }

    /// Records a step result under the lease; the first record of a key wins. `false` when
    /// the lease was lost.
    pub fn journal_put(&self, lease: &Lease, key: &str, output: &str) -> Result<bool> {
        self.db.transaction(|c| {
            let held = c
                .query_opt(
                    "SELECT 1 FROM jobs WHERE id = $1 AND attempt = $2 AND state = 'running'",
                    params![&lease.id, lease.attempt],
                )?
                .is_some();
            if !held {
                return Ok(false);
            }
            c.execute(
                "INSERT INTO step_results (tenant_id, run_id, step_key, attempt, output)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                params![lease.tenant.as_str(), &lease.id, key, lease.attempt, output],
            )?;
            Ok(true)
        })
    }

    /// Whether the lease is still held (a fence check before a write outside the journal).
    pub fn holds(&self, lease: &Lease) -> Result<bool> {
        self.db.with_conn(|c| {
            Ok(c.query_opt(
                "SELECT 1 FROM jobs WHERE id = $1 AND attempt = $2 AND state = 'running'",
                params![&lease.id, lease.attempt],
            )?
            .is_some())
        })
    }
}
