//! Retention: deleting old runs, purging or anonymising their transcripts.

use gauntlet_core::ids::{RunId, TenantId};
use rusqlite::params;

use super::{RUN_COLUMNS, SqliteStore, run_from_row};
use crate::{Result, RetainedRun, RetentionStore, StoreError};

/// The transcript's text columns: (table, key columns, text column).
const TEXT_COLUMNS: &[(&str, &str, &str)] = &[
    ("cases", "idx, 0, 0", "input"),
    ("cases", "idx, 0, 0", "output"),
    ("cases", "idx, 0, 0", "reason"),
    ("steps", "case_idx, step_idx, 0", "input"),
    ("steps", "case_idx, step_idx, 0", "output"),
    ("steps", "case_idx, step_idx, 0", "error"),
    ("tool_calls", "case_idx, step_idx, call_idx", "args"),
    ("tool_calls", "case_idx, step_idx, call_idx", "result"),
    ("tool_calls", "case_idx, step_idx, call_idx", "error"),
    ("assertions", "case_idx, assertion_idx, 0", "reason"),
    ("assertions", "case_idx, assertion_idx, 0", "details"),
];

fn key_filter(table: &str) -> &'static str {
    match table {
        "cases" => "idx = ?3",
        "steps" => "case_idx = ?3 AND step_idx = ?4",
        "tool_calls" => "case_idx = ?3 AND step_idx = ?4 AND call_idx = ?5",
        _ => "case_idx = ?3 AND assertion_idx = ?4",
    }
}

impl RetentionStore for SqliteStore {
    fn runs_before(
        &self,
        tenant: &TenantId,
        suite: Option<&str>,
        before: &str,
    ) -> Result<Vec<RetainedRun>> {
        let conn = self.conn();
        let sql = format!(
            "SELECT {RUN_COLUMNS}, transcript_purged_at, anonymised_at,
                    (SELECT group_concat(name, ',') FROM baselines b WHERE b.tenant_id = runs.tenant_id AND b.run_id = runs.id)
             FROM runs WHERE tenant_id = ?1 AND (?2 IS NULL OR suite = ?2) AND started_at < ?3 AND status != 'running'
             ORDER BY started_at, id"
        );
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt.query_map(params![tenant.as_str(), suite, before], |row| {
            let run = run_from_row(row)?;
            let baselines: Option<String> = row.get(18)?;
            Ok((run, row.get(16)?, row.get(17)?, baselines))
        })?;
        let mut out = Vec::new();
        for r in rows {
            let (run, transcript_purged_at, anonymised_at, baselines) = r?;
            out.push(RetainedRun {
                run: run.map_err(StoreError::Corrupt)?,
                transcript_purged_at,
                anonymised_at,
                baselines: baselines
                    .map(|b| b.split(',').map(str::to_owned).collect())
                    .unwrap_or_default(),
            });
        }
        Ok(out)
    }

    fn delete_run(&self, tenant: &TenantId, run: &RunId) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let p = params![tenant.as_str(), run.as_str()];
        for table in [
            "tool_calls",
            "steps",
            "assertions",
            "cases",
            "run_sources",
            "experiments",
        ] {
            tx.execute(
                &format!("DELETE FROM {table} WHERE tenant_id = ?1 AND run_id = ?2"),
                p,
            )?;
        }
        let n = tx.execute("DELETE FROM runs WHERE tenant_id = ?1 AND id = ?2", p)?;
        if n == 0 {
            return Err(StoreError::RunNotFound(run.to_string()));
        }
        // Specification files no remaining run refers to.
        tx.execute(
            "DELETE FROM sources WHERE tenant_id = ?1 AND NOT EXISTS
               (SELECT 1 FROM run_sources r WHERE r.tenant_id = sources.tenant_id AND r.sha256 = sources.sha256)",
            params![tenant.as_str()],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn purge_transcript(&self, tenant: &TenantId, run: &RunId, at: &str) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let p = params![tenant.as_str(), run.as_str()];
        tx.execute(
            "DELETE FROM tool_calls WHERE tenant_id = ?1 AND run_id = ?2",
            p,
        )?;
        tx.execute("DELETE FROM steps WHERE tenant_id = ?1 AND run_id = ?2", p)?;
        tx.execute(
            "UPDATE cases SET input = '', output = NULL, reason = NULL WHERE tenant_id = ?1 AND run_id = ?2",
            p,
        )?;
        tx.execute(
            "UPDATE assertions SET reason = '', details = NULL WHERE tenant_id = ?1 AND run_id = ?2",
            p,
        )?;
        tx.execute(
            "UPDATE runs SET transcript_purged_at = ?3 WHERE tenant_id = ?1 AND id = ?2",
            params![tenant.as_str(), run.as_str(), at],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn anonymise_transcript(
        &self,
        tenant: &TenantId,
        run: &RunId,
        at: &str,
        f: &mut dyn FnMut(&str) -> String,
    ) -> Result<u64> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut changed = 0u64;
        for (table, keys, column) in TEXT_COLUMNS {
            let rows: Vec<(i64, i64, i64, String)> = {
                let mut stmt = tx.prepare(&format!(
                    "SELECT {keys}, {column} FROM {table} WHERE tenant_id = ?1 AND run_id = ?2 AND {column} IS NOT NULL"
                ))?;
                let rows = stmt.query_map(params![tenant.as_str(), run.as_str()], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })?;
                rows.collect::<std::result::Result<_, _>>()?
            };
            let mut update = tx.prepare(&format!(
                "UPDATE {table} SET {column} = ?6 WHERE tenant_id = ?1 AND run_id = ?2 AND {}",
                key_filter(table)
            ))?;
            for (a, b, c, text) in rows {
                let new = f(&text);
                if new != text {
                    update.execute(params![tenant.as_str(), run.as_str(), a, b, c, new])?;
                    changed += 1;
                }
            }
        }
        tx.execute(
            "UPDATE runs SET anonymised_at = ?3 WHERE tenant_id = ?1 AND id = ?2",
            params![tenant.as_str(), run.as_str(), at],
        )?;
        tx.commit()?;
        Ok(changed)
    }
}
