//! Retention: deleting old runs, purging or anonymising their transcripts.

use gauntlet_core::ids::{RunId, TenantId};

use super::Store;
use super::runs::{RUN_COLUMNS, run_from_row};
use crate::db::{Dialect, Val};
use crate::{Result, RetainedRun, RetentionStore, StoreError, params};

/// The transcript's text columns: (table, key columns, text column).
const TEXT_COLUMNS: &[(&str, &[&str], &str)] = &[
    ("cases", &["idx"], "input"),
    ("cases", &["idx"], "output"),
    ("cases", &["idx"], "reason"),
    ("steps", &["case_idx", "step_idx"], "input"),
    ("steps", &["case_idx", "step_idx"], "output"),
    ("steps", &["case_idx", "step_idx"], "error"),
    ("tool_calls", &["case_idx", "step_idx", "call_idx"], "args"),
    (
        "tool_calls",
        &["case_idx", "step_idx", "call_idx"],
        "result",
    ),
    ("tool_calls", &["case_idx", "step_idx", "call_idx"], "error"),
    ("assertions", &["case_idx", "assertion_idx"], "reason"),
    ("assertions", &["case_idx", "assertion_idx"], "details"),
];

impl RetentionStore for Store {
    fn runs_before(
        &self,
        tenant: &TenantId,
        suite: Option<&str>,
        before: &str,
    ) -> Result<Vec<RetainedRun>> {
        let concat = match self.db.dialect() {
            Dialect::Sqlite => "group_concat(name, ',')",
            Dialect::Postgres => "string_agg(name, ',')",
        };
        let suite_filter = if suite.is_some() {
            "AND suite = $3"
        } else {
            ""
        };
        let sql = format!(
            "SELECT {RUN_COLUMNS}, transcript_purged_at, anonymised_at,
                    (SELECT {concat} FROM baselines b WHERE b.tenant_id = runs.tenant_id AND b.run_id = runs.id)
             FROM runs WHERE tenant_id = $1 {suite_filter} AND started_at < $2 AND status != 'running'
             ORDER BY started_at, id"
        );
        let rows = self.db.with_conn(|c| match suite {
            Some(s) => c.query(&sql, params![tenant.as_str(), before, s]),
            None => c.query(&sql, params![tenant.as_str(), before]),
        })?;
        rows.iter()
            .map(|row| {
                Ok(RetainedRun {
                    run: run_from_row(row)?,
                    transcript_purged_at: row.opt_text(16)?,
                    anonymised_at: row.opt_text(17)?,
                    baselines: row
                        .opt_text(18)?
                        .map(|b| b.split(',').map(str::to_owned).collect())
                        .unwrap_or_default(),
                })
            })
            .collect()
    }

    fn delete_run(&self, tenant: &TenantId, run: &RunId) -> Result<()> {
        self.db.transaction(|c| {
            let p = params![tenant.as_str(), run.as_str()];
            for table in [
                "tool_calls",
                "steps",
                "assertions",
                "cases",
                "run_sources",
                "experiments",
                "run_facets",
            ] {
                c.execute(
                    &format!("DELETE FROM {table} WHERE tenant_id = $1 AND run_id = $2"),
                    p,
                )?;
            }
            let n = c.execute("DELETE FROM runs WHERE tenant_id = $1 AND id = $2", p)?;
            if n == 0 {
                return Err(StoreError::RunNotFound(run.to_string()));
            }
            // Specification files no remaining run refers to.
            c.execute(
                "DELETE FROM sources WHERE tenant_id = $1 AND NOT EXISTS
                   (SELECT 1 FROM run_sources r WHERE r.tenant_id = sources.tenant_id AND r.sha256 = sources.sha256)",
                params![tenant.as_str()],
            )?;
            Ok(())
        })
    }

    fn purge_transcript(&self, tenant: &TenantId, run: &RunId, at: &str) -> Result<()> {
        self.db.transaction(|c| {
            let p = params![tenant.as_str(), run.as_str()];
            c.execute("DELETE FROM tool_calls WHERE tenant_id = $1 AND run_id = $2", p)?;
            c.execute("DELETE FROM steps WHERE tenant_id = $1 AND run_id = $2", p)?;
            c.execute(
                "UPDATE cases SET input = '', output = NULL, reason = NULL WHERE tenant_id = $1 AND run_id = $2",
                p,
            )?;
            c.execute(
                "UPDATE assertions SET reason = '', details = NULL WHERE tenant_id = $1 AND run_id = $2",
                p,
            )?;
            c.execute(
                "UPDATE runs SET transcript_purged_at = $3 WHERE tenant_id = $1 AND id = $2",
                params![tenant.as_str(), run.as_str(), at],
            )?;
            Ok(())
        })
    }

    fn anonymise_transcript(
        &self,
        tenant: &TenantId,
        run: &RunId,
        at: &str,
        f: &mut dyn FnMut(&str) -> String,
    ) -> Result<u64> {
        self.db.transaction(|c| {
            let mut changed = 0u64;
            for (table, keys, column) in TEXT_COLUMNS {
                let rows = c.query(
                    &format!(
                        "SELECT {}, {column} FROM {table} WHERE tenant_id = $1 AND run_id = $2 AND {column} IS NOT NULL",
                        keys.join(", ")
                    ),
                    params![tenant.as_str(), run.as_str()],
                )?;
                let filter = keys
                    .iter()
                    .enumerate()
                    .map(|(i, k)| format!("{k} = ${}", i + 4))
                    .collect::<Vec<_>>()
                    .join(" AND ");
                let update = format!(
                    "UPDATE {table} SET {column} = $3 WHERE tenant_id = $1 AND run_id = $2 AND {filter}"
                );
                for row in rows {
                    let text = row.text(keys.len())?;
                    let new = f(&text);
                    if new != text {
                        let mut values: Vec<Val> = vec![tenant.as_str().into(), run.as_str().into(), new.into()];
                        for i in 0..keys.len() {
                            values.push(Val::Int(row.int(i)?));
                        }
                        c.execute(&update, &values)?;
                        changed += 1;
                    }
                }
            }
            c.execute(
                "UPDATE runs SET anonymised_at = $3 WHERE tenant_id = $1 AND id = $2",
                params![tenant.as_str(), run.as_str(), at],
            )?;
            Ok(changed)
        })
    }
}
