//! [`RunStore`]: runs and their case results.

use gauntlet_core::ids::{RunId, TenantId};
use gauntlet_core::result::{
    AssertionResult, CaseResult, CaseStatus, RunRecord, RunStats, RunStatus, StepRecord, Tokens,
    ToolCallRecord, Totals,
};
use serde_json::Value;

use super::{Store, json_text};
use crate::db::{Dialect, Row};
use crate::{Result, RunFilter, RunStore, StoreError, params};

pub(crate) const RUN_COLUMNS: &str = "id, project, suite, seed, status, config_hash, gauntlet_version, started_at, finished_at, cases_total, passed, failed, errored, tokens_input, tokens_output, cost_usd";

/// Cases read per round trip by [`RunStore::for_each_case`]: bounded memory on any backend.
const CHUNK: i64 = 1024;

pub(crate) fn run_from_row(row: &Row) -> Result<RunRecord> {
    let seed = row.text(3)?;
    let status = row.text(4)?;
    let (tokens_input, tokens_output) = (row.int(13)?, row.int(14)?);
    Ok(RunRecord {
        id: RunId::from_string(row.text(0)?),
        project: row.text(1)?,
        suite: row.text(2)?,
        seed: seed
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("seed `{seed}` is not a number")))?,
        status: RunStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown run status `{status}`")))?,
        config_hash: row.text(5)?,
        gauntlet_version: row.text(6)?,
        started_at: row.text(7)?,
        finished_at: row.opt_text(8)?,
        totals: Totals {
            cases: row.int(9)? as u64,
            passed: row.int(10)? as u64,
            failed: row.int(11)? as u64,
            errored: row.int(12)? as u64,
            tokens: (tokens_input + tokens_output) as u64,
            tokens_input: tokens_input as u64,
            tokens_output: tokens_output as u64,
            cost_usd: row.real(15)?,
        },
    })
}

pub(super) fn parse_json_column(text: Option<String>, what: &str) -> Result<Option<Value>> {
    text.map(|t| serde_json::from_str(&t).map_err(|e| StoreError::Corrupt(format!("{what}: {e}"))))
        .transpose()
}

impl RunStore for Store {
    fn create_run(&self, tenant: &TenantId, run: &RunRecord, snapshot: &Value) -> Result<()> {
        self.db.with_conn(|c| {
            c.execute(
                "INSERT INTO runs (tenant_id, id, project, suite, seed, status, config_hash, config_snapshot, gauntlet_version, started_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                params![tenant.as_str(), run.id.as_str(), &run.project, &run.suite, run.seed.to_string(), run.status.as_str(), &run.config_hash, json_text(snapshot), &run.gauntlet_version, &run.started_at],
            )
        })?;
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
        // The run's cost joins its month's running total once, when it first finishes.
        let n = self.db.transaction(|c| {
            let open = c
                .query(
                    "SELECT CASE WHEN finished_at IS NULL THEN 1 ELSE 0 END FROM runs WHERE tenant_id = $1 AND id = $2",
                    params![tenant.as_str(), id.as_str()],
                )?
                .first()
                .map(|r| r.bool(0))
                .transpose()?;
            let Some(open) = open else {
                return Ok(0);
            };
            let n = c.execute(
                "UPDATE runs SET status = $3, finished_at = $4, cases_total = $5, passed = $6, failed = $7, errored = $8, tokens_input = $9, tokens_output = $10, cost_usd = $11
                 WHERE tenant_id = $1 AND id = $2",
                params![tenant.as_str(), id.as_str(), status.as_str(), finished_at, t.cases, t.passed, t.failed, t.errored, t.tokens_input, t.tokens_output, t.cost_usd],
            )?;
            if open && t.cost_usd > 0.0 {
                c.execute(
                    "INSERT INTO tenant_spend (tenant_id, month, cost_usd)
                     SELECT tenant_id, substr(started_at, 1, 7), cost_usd FROM runs WHERE tenant_id = $1 AND id = $2
                     ON CONFLICT (tenant_id, month) DO UPDATE SET cost_usd = tenant_spend.cost_usd + excluded.cost_usd",
                    params![tenant.as_str(), id.as_str()],
                )?;
            }
            Ok(n)
        })?;
        if n == 0 {
            return Err(StoreError::RunNotFound(id.to_string()));
        }
        Ok(())
    }

    fn list_runs(&self, tenant: &TenantId, filter: &RunFilter) -> Result<Vec<RunRecord>> {
        let limit = if filter.limit == 0 { 50 } else { filter.limit };
        self.db.with_conn(|c| {
            let rows = match &filter.suite {
                Some(suite) => c.query(
                    &format!("SELECT {RUN_COLUMNS} FROM runs WHERE tenant_id = $1 AND suite = $2 ORDER BY started_at DESC, id DESC LIMIT $3"),
                    params![tenant.as_str(), suite.as_str(), limit],
                )?,
                None => c.query(
                    &format!("SELECT {RUN_COLUMNS} FROM runs WHERE tenant_id = $1 ORDER BY started_at DESC, id DESC LIMIT $2"),
                    params![tenant.as_str(), limit],
                )?,
            };
            rows.iter().map(run_from_row).collect()
        })
    }

    fn get_run(&self, tenant: &TenantId, id_or_prefix: &str) -> Result<RunRecord> {
        if id_or_prefix == "latest" || id_or_prefix == "last" {
            return self.db.with_conn(|c| {
                c.query_opt(
                    &format!("SELECT {RUN_COLUMNS} FROM runs WHERE tenant_id = $1 ORDER BY started_at DESC, id DESC LIMIT 1"),
                    params![tenant.as_str()],
                )?
                .as_ref()
                .map(run_from_row)
                .unwrap_or_else(|| Err(StoreError::RunNotFound(id_or_prefix.to_owned())))
            });
        }
        let wanted = id_or_prefix.to_ascii_uppercase();
        let rows = self.db.with_conn(|c| {
            // A prefix as a byte range (indexed; `%` and `_` in the input mean nothing). On
            // PostgreSQL the comparison needs the byte order of the "C" collation.
            let sql = match c.dialect() {
                Dialect::Sqlite => format!("SELECT {RUN_COLUMNS} FROM runs WHERE tenant_id = $1 AND id >= $2 AND id < $3 ORDER BY id LIMIT 2"),
                Dialect::Postgres => format!("SELECT {RUN_COLUMNS} FROM runs WHERE tenant_id = $1 AND id COLLATE \"C\" >= $2 AND id COLLATE \"C\" < $3 ORDER BY id LIMIT 2"),
            };
            c.query(&sql, params![tenant.as_str(), wanted.as_str(), format!("{wanted}\u{10FFFF}")])
        })?;
        let runs: Vec<RunRecord> = rows.iter().map(run_from_row).collect::<Result<_>>()?;
        match runs.len() {
            0 => Err(StoreError::RunNotFound(id_or_prefix.to_owned())),
            1 => runs
                .into_iter()
                .next()
                .ok_or_else(|| StoreError::RunNotFound(id_or_prefix.to_owned())),
            _ => runs
                .into_iter()
                .find(|r| r.id.as_str() == wanted)
                .ok_or_else(|| StoreError::AmbiguousRun {
                    prefix: id_or_prefix.to_owned(),
                    count: 2,
                }),
        }
    }

    fn snapshot(&self, tenant: &TenantId, id: &RunId) -> Result<Value> {
        let text = self.db.with_conn(|c| {
            c.query_opt(
                "SELECT config_snapshot FROM runs WHERE tenant_id = $1 AND id = $2",
                params![tenant.as_str(), id.as_str()],
            )?
            .ok_or_else(|| StoreError::RunNotFound(id.to_string()))?
            .text(0)
        })?;
        serde_json::from_str(&text)
            .map_err(|e| StoreError::Corrupt(format!("configuration snapshot: {e}")))
    }

    fn for_each_case(
        &self,
        tenant: &TenantId,
        id: &RunId,
        f: &mut dyn FnMut(CaseResult) -> Result<()>,
    ) -> Result<()> {
        self.cases_between(tenant, id, 0, i64::MAX, f)
    }

    fn save_stats(&self, tenant: &TenantId, id: &RunId, stats: &RunStats) -> Result<()> {
        self.db.transaction(|c| {
            let (t, r) = (tenant.as_str(), id.as_str());
            c.execute(
                "UPDATE runs SET stats = $3 WHERE tenant_id = $1 AND id = $2",
                params![t, r, json_text(stats)],
            )?;
            let facets = stats
                .targets
                .iter()
                .map(|v| ("target", v))
                .chain(stats.tags.iter().map(|v| ("tag", v)));
            for (kind, value) in facets {
                c.execute(
                    "INSERT INTO run_facets (tenant_id, kind, value, run_id) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (tenant_id, kind, value, run_id) DO NOTHING",
                    params![t, kind, value.as_str(), r],
                )?;
            }
            Ok(())
        })
    }
}

impl Store {
    /// The case at `index` of a run, whole (steps, tool calls, assertions).
    pub fn case_at(&self, tenant: &TenantId, id: &RunId, index: u32) -> Result<Option<CaseResult>> {
        let mut found = None;
        let at = i64::from(index);
        self.cases_between(tenant, id, at, at + 1, &mut |c| {
            found = Some(c);
            Ok(())
        })?;
        Ok(found)
    }

    /// The cases with `from <= index < end`, in order.
    fn cases_between(
        &self,
        tenant: &TenantId,
        id: &RunId,
        mut from: i64,
        end: i64,
        f: &mut dyn FnMut(CaseResult) -> Result<()>,
    ) -> Result<()> {
        // Chunks of case indices, each read with four queries and merged in memory: one
        // connection, bounded memory, and no interleaved cursors (PostgreSQL has none).
        loop {
            if from >= end {
                return Ok(());
            }
            let chunk = self.db.with_conn(|c| {
                let first = c.query_opt(
                    "SELECT idx FROM cases WHERE tenant_id = $1 AND run_id = $2 AND idx >= $3 ORDER BY idx LIMIT 1",
                    params![tenant.as_str(), id.as_str(), from],
                )?;
                let Some(first) = first else {
                    return Ok(None);
                };
                let lo = first.int(0)?;
                if lo >= end {
                    return Ok(None);
                }
                let hi = lo.saturating_add(CHUNK).min(end);
                let p = params![tenant.as_str(), id.as_str(), lo, hi];
                let cases = c.query(
                    "SELECT idx, case_id, target, status, score, input, output, reason, tokens_input, tokens_output, cost_usd, latency_ms, tags, trial, trace
                     FROM cases WHERE tenant_id = $1 AND run_id = $2 AND idx >= $3 AND idx < $4 ORDER BY idx",
                    p,
                )?;
                let steps = c.query(
                    "SELECT case_idx, step_idx, node, agent, provider, model, input, output, tokens_input, tokens_output, cost_usd, latency_ms, model_calls, retries, error, violations, ttft_ms, faults, served_by, tokens_per_s, start_ms, spans
                     FROM steps WHERE tenant_id = $1 AND run_id = $2 AND case_idx >= $3 AND case_idx < $4 ORDER BY case_idx, step_idx",
                    p,
                )?;
                let calls = c.query(
                    "SELECT case_idx, step_idx, name, args, result, error, latency_ms FROM tool_calls
                     WHERE tenant_id = $1 AND run_id = $2 AND case_idx >= $3 AND case_idx < $4 ORDER BY case_idx, step_idx, call_idx",
                    p,
                )?;
                let asserts = c.query(
                    "SELECT case_idx, type, pass, score, weight, reason, node, metric, details, cost_usd FROM assertions
                     WHERE tenant_id = $1 AND run_id = $2 AND case_idx >= $3 AND case_idx < $4 ORDER BY case_idx, assertion_idx",
                    p,
                )?;
                Ok(Some((hi, cases, steps, calls, asserts)))
            })?;
            let Some((hi, cases, steps, calls, asserts)) = chunk else {
                return Ok(());
            };
            let mut steps = steps.iter().map(read_step).peekable();
            let mut calls = calls.iter().map(read_call).peekable();
            let mut asserts = asserts.iter().map(read_assertion).peekable();
            for row in &cases {
                let mut case = read_case(row)?;
                let idx = i64::from(case.index);
                while let Some(Ok((ci, _, _))) = steps.peek() {
                    if *ci != idx {
                        break;
                    }
                    let Some(Ok((_, si, mut step))) = steps.next() else {
                        break;
                    };
                    while let Some(Ok((cc, cs, _))) = calls.peek() {
                        if *cc != idx || *cs != si {
                            break;
                        }
                        if let Some(Ok((_, _, call))) = calls.next() {
                            step.tool_calls.push(call);
                        }
                    }
                    case.steps.push(step);
                }
                while let Some(Ok((ai, _))) = asserts.peek() {
                    if *ai != idx {
                        break;
                    }
                    if let Some(Ok((_, a))) = asserts.next() {
                        case.assertions.push(a);
                    }
                }
                // A row that failed to read surfaces here rather than being skipped.
                if let Some(Err(_)) = steps.peek() {
                    return steps.next().map_or(Ok(()), |r| r.map(|_| ()));
                }
                if let Some(Err(_)) = calls.peek() {
                    return calls.next().map_or(Ok(()), |r| r.map(|_| ()));
                }
                if let Some(Err(_)) = asserts.peek() {
                    return asserts.next().map_or(Ok(()), |r| r.map(|_| ()));
                }
                f(case)?;
            }
            from = hi;
        }
    }
}

fn read_case(row: &Row) -> Result<CaseResult> {
    let status = row.text(3)?;
    let tags = row.text(12)?;
    Ok(CaseResult {
        index: u32::try_from(row.int(0)?)
            .map_err(|_| StoreError::Corrupt("a case index is out of range".into()))?,
        id: row.text(1)?,
        trial: row.int(13)? as u32,
        target: row.text(2)?,
        status: CaseStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown case status `{status}`")))?,
        score: row.real(4)?,
        input: row.text(5)?,
        output: row.opt_text(6)?,
        reason: row.opt_text(7)?,
        tokens: Tokens {
            input: row.int(8)? as u64,
            output: row.int(9)? as u64,
        },
        cost_usd: row.real(10)?,
        latency_ms: row.real(11)?,
        steps: Vec::new(),
        assertions: Vec::new(),
        tags: serde_json::from_str(&tags)
            .map_err(|e| StoreError::Corrupt(format!("case tags: {e}")))?,
        trace: match parse_json_column(row.opt_text(14)?, "case trace")? {
            Some(v) => Some(
                serde_json::from_value(v)
                    .map_err(|e| StoreError::Corrupt(format!("case trace: {e}")))?,
            ),
            None => None,
        },
    })
}

fn read_step(row: &Row) -> Result<(i64, i64, StepRecord)> {
    let violations = row.text(15)?;
    Ok((
        row.int(0)?,
        row.int(1)?,
        StepRecord {
            node: row.opt_text(2)?,
            agent: row.text(3)?,
            provider: row.text(4)?,
            model: row.text(5)?,
            input: row.text(6)?,
            output: row.opt_text(7)?,
            tool_calls: Vec::new(),
            tokens: Tokens {
                input: row.int(8)? as u64,
                output: row.int(9)? as u64,
            },
            cost_usd: row.real(10)?,
            latency_ms: row.real(11)?,
            model_calls: row.int(12)? as u32,
            retries: row.int(13)? as u32,
            error: row.opt_text(14)?,
            violations: serde_json::from_str(&violations)
                .map_err(|e| StoreError::Corrupt(format!("step violations: {e}")))?,
            ttft_ms: row.opt_real(16)?,
            faults: match parse_json_column(row.opt_text(17)?, "step faults")? {
                Some(v) => serde_json::from_value(v)
                    .map_err(|e| StoreError::Corrupt(format!("step faults: {e}")))?,
                None => Vec::new(),
            },
            served_by: row.opt_text(18)?,
            tokens_per_s: row.opt_real(19)?,
            start_ms: row.real(20)?,
            spans: match parse_json_column(row.opt_text(21)?, "step spans")? {
                Some(v) => serde_json::from_value(v)
                    .map_err(|e| StoreError::Corrupt(format!("step spans: {e}")))?,
                None => Vec::new(),
            },
        },
    ))
}

fn read_call(row: &Row) -> Result<(i64, i64, ToolCallRecord)> {
    Ok((
        row.int(0)?,
        row.int(1)?,
        ToolCallRecord {
            name: row.text(2)?,
            args: parse_json_column(Some(row.text(3)?), "tool arguments")?.unwrap_or(Value::Null),
            result: parse_json_column(row.opt_text(4)?, "tool result")?,
            error: row.opt_text(5)?,
            latency_ms: row.real(6)?,
        },
    ))
}

fn read_assertion(row: &Row) -> Result<(i64, AssertionResult)> {
    Ok((
        row.int(0)?,
        AssertionResult {
            kind: row.text(1)?,
            pass: row.bool(2)?,
            score: row.real(3)?,
            weight: row.real(4)?,
            reason: row.text(5)?,
            node: row.opt_text(6)?,
            metric: row.opt_text(7)?,
            details: parse_json_column(row.opt_text(8)?, "assertion details")?,
            cost_usd: row.real(9)?,
        },
    ))
}
