//! Baselines, experiments, specification sources, cassettes and judge verdicts.

use gauntlet_core::ids::{RunId, TenantId};
use gauntlet_core::result::RunRecord;
use serde_json::Value;

use super::runs::parse_json_column;
use super::{Store, json_text};
use crate::db::Row;
use crate::{
    Baseline, BaselineStore, CassetteRecords, ExperimentStore, JudgeVerdicts, Result, SourceStore,
    StoreError, params,
};

impl JudgeVerdicts for Store {
    fn put_verdict(&self, tenant: &TenantId, key: &str, verdict: &Value, at: &str) -> Result<()> {
        self.db.with_conn(|c| {
            c.execute(
                "INSERT INTO judge_cache (tenant_id, key, verdict, created_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (tenant_id, key) DO NOTHING",
                params![tenant.as_str(), key, json_text(verdict), at],
            )
        })?;
        Ok(())
    }

    fn get_verdict(&self, tenant: &TenantId, key: &str) -> Result<Option<Value>> {
        let text = self.db.with_conn(|c| {
            c.query_opt(
                "SELECT verdict FROM judge_cache WHERE tenant_id = $1 AND key = $2",
                params![tenant.as_str(), key],
            )?
            .map(|r| r.text(0))
            .transpose()
        })?;
        parse_json_column(text, "judge verdict")
    }
}

impl CassetteRecords for Store {
    fn put_cassette(&self, tenant: &TenantId, suite: &str, key: &str, entry: &Value) -> Result<()> {
        self.db.with_conn(|c| {
            c.execute(
                "INSERT INTO cassettes (tenant_id, suite, key, entry) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (tenant_id, suite, key) DO UPDATE SET entry = excluded.entry",
                params![tenant.as_str(), suite, key, json_text(entry)],
            )
        })?;
        Ok(())
    }

    fn get_cassette(&self, tenant: &TenantId, suite: &str, key: &str) -> Result<Option<Value>> {
        let text = self.db.with_conn(|c| {
            c.query_opt(
                "SELECT entry FROM cassettes WHERE tenant_id = $1 AND suite = $2 AND key = $3",
                params![tenant.as_str(), suite, key],
            )?
            .map(|r| r.text(0))
            .transpose()
        })?;
        parse_json_column(text, "cassette")
    }
}

impl SourceStore for Store {
    fn save_source(
        &self,
        tenant: &TenantId,
        run: &RunId,
        path: &str,
        sha256: &str,
        len: u64,
        content: &mut dyn std::io::Read,
    ) -> Result<()> {
        // Not retried: the reader is consumed by the first attempt.
        let mut content = Some(content);
        self.db.transaction(|c| {
            let stored = c
                .query_opt(
                    "SELECT 1 FROM sources WHERE tenant_id = $1 AND sha256 = $2",
                    params![tenant.as_str(), sha256],
                )?
                .is_some();
            if !stored {
                let reader = content
                    .take()
                    .ok_or_else(|| StoreError::Transient("the source cannot be read twice".into()))?;
                let copied = match c.sqlite() {
                    // Written in chunks into a zero-filled blob, so a large file is never held
                    // in memory twice (once by us, once by SQLite).
                    Some(conn) => {
                        conn.execute(
                            "INSERT INTO sources (tenant_id, sha256, content) VALUES (?1, ?2, zeroblob(?3))",
                            rusqlite::params![tenant.as_str(), sha256, len as i64],
                        )?;
                        let rowid = conn.last_insert_rowid();
                        let mut blob =
                            conn.blob_open(rusqlite::MAIN_DB, "sources", "content", rowid, false)?;
                        std::io::copy(reader, &mut blob)
                    }
                    None => {
                        let mut bytes = Vec::with_capacity(len as usize);
                        let n = std::io::copy(reader, &mut bytes);
                        if n.as_ref().is_ok_and(|n| *n == len) {
                            c.execute(
                                "INSERT INTO sources (tenant_id, sha256, content) VALUES ($1, $2, $3)",
                                params![tenant.as_str(), sha256, bytes],
                            )?;
                        }
                        n
                    }
                }
                .map_err(|e| StoreError::Corrupt(format!("writing source `{path}`: {e}")))?;
                if copied != len {
                    return Err(StoreError::Corrupt(format!(
                        "source `{path}` changed while it was stored ({copied} of {len} bytes)"
                    )));
                }
            }
            c.execute(
                "INSERT INTO run_sources (tenant_id, run_id, path, sha256) VALUES ($1, $2, $3, $4)",
                params![tenant.as_str(), run.as_str(), path, sha256],
            )?;
            Ok(())
        })
    }

    fn sources(&self, tenant: &TenantId, run: &RunId) -> Result<Vec<(String, String)>> {
        self.db.with_conn(|c| {
            c.query(
                "SELECT r.path, s.content FROM run_sources r JOIN sources s ON s.tenant_id = r.tenant_id AND s.sha256 = r.sha256
                 WHERE r.tenant_id = $1 AND r.run_id = $2 ORDER BY r.path",
                params![tenant.as_str(), run.as_str()],
            )?
            .iter()
            .map(|r| Ok((r.text(0)?, String::from_utf8_lossy(&r.blob(1)?).into_owned())))
            .collect()
        })
    }
}

impl ExperimentStore for Store {
    fn save_experiment(
        &self,
        tenant: &TenantId,
        run: &RunId,
        created_at: &str,
        report: &Value,
    ) -> Result<()> {
        self.db.with_conn(|c| {
            c.execute(
                "INSERT INTO experiments (tenant_id, run_id, created_at, report) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (tenant_id, run_id) DO UPDATE SET created_at = excluded.created_at, report = excluded.report",
                params![tenant.as_str(), run.as_str(), created_at, json_text(report)],
            )
        })?;
        Ok(())
    }

    fn experiment(&self, tenant: &TenantId, run: &RunId) -> Result<Option<Value>> {
        let text = self.db.with_conn(|c| {
            c.query_opt(
                "SELECT report FROM experiments WHERE tenant_id = $1 AND run_id = $2",
                params![tenant.as_str(), run.as_str()],
            )?
            .map(|r| r.text(0))
            .transpose()
        })?;
        parse_json_column(text, "experiment")
    }
}

fn baseline_from_row(row: &Row) -> Result<Baseline> {
    Ok(Baseline {
        name: row.text(0)?,
        run_id: RunId::from_string(row.text(1)?),
        suite: row.text(2)?,
        created_at: row.text(3)?,
    })
}

impl BaselineStore for Store {
    fn set_baseline(
        &self,
        tenant: &TenantId,
        name: &str,
        run: &RunRecord,
        created_at: &str,
    ) -> Result<Option<Baseline>> {
        self.db.transaction(|c| {
            let previous = c
                .query_opt(
                    "SELECT name, run_id, suite, created_at FROM baselines WHERE tenant_id = $1 AND name = $2",
                    params![tenant.as_str(), name],
                )?
                .as_ref()
                .map(baseline_from_row)
                .transpose()?;
            c.execute(
                "INSERT INTO baselines (tenant_id, name, run_id, suite, created_at) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (tenant_id, name) DO UPDATE SET run_id = excluded.run_id, suite = excluded.suite, created_at = excluded.created_at",
                params![tenant.as_str(), name, run.id.as_str(), &run.suite, created_at],
            )?;
            Ok(previous)
        })
    }

    fn get_baseline(&self, tenant: &TenantId, name: &str) -> Result<Baseline> {
        self.db.with_conn(|c| {
            c.query_opt(
                "SELECT name, run_id, suite, created_at FROM baselines WHERE tenant_id = $1 AND name = $2",
                params![tenant.as_str(), name],
            )?
            .as_ref()
            .map(baseline_from_row)
            .unwrap_or_else(|| Err(StoreError::BaselineNotFound(name.to_owned())))
        })
    }

    fn list_baselines(&self, tenant: &TenantId) -> Result<Vec<Baseline>> {
        self.db.with_conn(|c| {
            c.query(
                "SELECT name, run_id, suite, created_at FROM baselines WHERE tenant_id = $1 ORDER BY name",
                params![tenant.as_str()],
            )?
            .iter()
            .map(baseline_from_row)
            .collect()
        })
    }
}
