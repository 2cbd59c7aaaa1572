//! Uploaded suites: every upload of a name is a new version unless its content is already
//! stored, in which case the existing version answers (content-addressed by SHA-256).

use std::collections::BTreeMap;

use gauntlet_core::TenantId;
use serde::Serialize;

use crate::db::{Db, Row};
use crate::{Result, StoreError, params};

/// One stored version, without its files.
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct SuiteVersion {
    pub name: String,
    pub version: i64,
    pub sha256: String,
    pub size: i64,
    /// What validation found: suites, agents and case counts (JSON).
    pub summary: serde_json::Value,
    pub created_by: String,
    pub created_at: String,
}

/// A version with its files (relative path → text).
#[derive(Clone, Debug, PartialEq)]
pub struct SuiteFiles {
    pub version: SuiteVersion,
    pub files: BTreeMap<String, String>,
}

#[derive(Clone)]
pub struct Suites {
    db: Db,
}

const COLUMNS: &str = "name, version, sha256, size, summary, created_by, created_at";

fn version_from(row: &Row) -> Result<SuiteVersion> {
    let summary = row.text(4)?;
    Ok(SuiteVersion {
        name: row.text(0)?,
        version: row.int(1)?,
        sha256: row.text(2)?,
        size: row.int(3)?,
        summary: serde_json::from_str(&summary)
            .map_err(|e| StoreError::Corrupt(format!("suite summary: {e}")))?,
        created_by: row.text(5)?,
        created_at: row.text(6)?,
    })
}

/// The content hash of a set of files: SHA-256 over each path and content, length-prefixed.
pub fn content_hash(files: &BTreeMap<String, String>) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for (path, text) in files {
        h.update((path.len() as u64).to_le_bytes());
        h.update(path.as_bytes());
        h.update((text.len() as u64).to_le_bytes());
        h.update(text.as_bytes());
    }
    h.finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()
}

impl Suites {
    pub fn new(db: Db) -> Suites {
        Suites { db }
    }

    /// Stores `files` as the next version of `name`; returns it and whether it is new.
    pub fn put(
        &self,
        tenant: &TenantId,
        name: &str,
        files: &BTreeMap<String, String>,
        summary: &serde_json::Value,
        created_by: &str,
        created_at: &str,
    ) -> Result<(SuiteVersion, bool)> {
        let sha = content_hash(files);
        let text = serde_json::to_string(files).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let summary_text = summary.to_string();
        let size = files.values().map(|t| t.len() as i64).sum::<i64>();
        self.db.transaction(|c| {
            if let Some(row) = c.query_opt(
                &format!("SELECT {COLUMNS} FROM suites WHERE tenant_id = $1 AND name = $2 AND sha256 = $3"),
                params![tenant.as_str(), name, &sha],
            )? {
                return Ok((version_from(&row)?, false));
            }
            let next = c
                .query_one(
                    "SELECT COALESCE(MAX(version), 0) + 1 FROM suites WHERE tenant_id = $1 AND name = $2",
                    params![tenant.as_str(), name],
                )?
                .int(0)?;
            c.execute(
                "INSERT INTO suites (tenant_id, name, version, sha256, files, size, summary, created_by, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                params![
                    tenant.as_str(),
                    name,
                    next,
                    &sha,
                    &text,
                    size,
                    &summary_text,
                    created_by,
                    created_at
                ],
            )?;
            Ok((
                SuiteVersion {
                    name: name.to_owned(),
                    version: next,
                    sha256: sha.clone(),
                    size,
                    summary: summary.clone(),
                    created_by: created_by.to_owned(),
                    created_at: created_at.to_owned(),
                },
                true,
            ))
        })
    }

    /// The newest version of every suite, from async code (see [`Db::fetch`]).
    pub async fn list(&self, tenant: &TenantId) -> Result<Vec<SuiteVersion>> {
        self.db
            .fetch(
                &format!(
                    "SELECT {COLUMNS} FROM suites s WHERE tenant_id = $1 AND version =
                       (SELECT MAX(version) FROM suites t WHERE t.tenant_id = s.tenant_id AND t.name = s.name)
                     ORDER BY name"
                ),
                vec![tenant.as_str().into()],
            )
            .await?
            .iter()
            .map(version_from)
            .collect()
    }

    pub fn versions(&self, tenant: &TenantId, name: &str) -> Result<Vec<SuiteVersion>> {
        let out: Vec<SuiteVersion> = self.db.with_conn(|c| {
            c.query(
                &format!("SELECT {COLUMNS} FROM suites WHERE tenant_id = $1 AND name = $2 ORDER BY version DESC"),
                params![tenant.as_str(), name],
            )?
            .iter()
            .map(version_from)
            .collect::<Result<_>>()
        })?;
        if out.is_empty() {
            return Err(StoreError::NotFound(format!("suite `{name}`")));
        }
        Ok(out)
    }

    /// A version with its files; `None` is the newest.
    pub fn get(&self, tenant: &TenantId, name: &str, version: Option<i64>) -> Result<SuiteFiles> {
        self.db.with_conn(|c| {
            let row = match version {
                Some(v) => c.query_opt(
                    &format!("SELECT {COLUMNS}, files FROM suites WHERE tenant_id = $1 AND name = $2 AND version = $3"),
                    params![tenant.as_str(), name, v],
                )?,
                None => c.query_opt(
                    &format!("SELECT {COLUMNS}, files FROM suites WHERE tenant_id = $1 AND name = $2 ORDER BY version DESC LIMIT 1"),
                    params![tenant.as_str(), name],
                )?,
            };
            let row = row.ok_or_else(|| StoreError::NotFound(format!("suite `{name}`")))?;
            let files = row.text(7)?;
            Ok(SuiteFiles {
                version: version_from(&row)?,
                files: serde_json::from_str(&files)
                    .map_err(|e| StoreError::Corrupt(format!("suite files: {e}")))?,
            })
        })
    }

    /// Deletes every version of a suite; returns how many there were.
    pub fn delete(&self, tenant: &TenantId, name: &str) -> Result<u64> {
        let n = self.db.with_conn(|c| {
            c.execute(
                "DELETE FROM suites WHERE tenant_id = $1 AND name = $2",
                params![tenant.as_str(), name],
            )
        })?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("suite `{name}`")));
        }
        Ok(n)
    }

    /// Bytes of suite files the tenant stores, for its storage quota.
    pub fn stored_bytes(&self, tenant: &TenantId) -> Result<i64> {
        self.db.with_conn(|c| {
            c.query_one(
                "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM suites WHERE tenant_id = $1",
                params![tenant.as_str()],
            )?
            .int(0)
        })
    }
}
