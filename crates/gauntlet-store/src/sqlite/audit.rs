//! The audit log's tables: events in index order and the tree head of every append.

use gauntlet_audit::log::{AppendPlan, AuditStorage, Checkpoint};
use gauntlet_audit::merkle::{Frontier, Hash};
use gauntlet_audit::signer::SignatureRecord;
use gauntlet_audit::{AuditError, Decision, Event, StoredEvent};
use gauntlet_core::TenantId;
use rusqlite::{OptionalExtension, Row, params};

use super::{SqliteStore, json_text};

fn storage(e: rusqlite::Error) -> AuditError {
    AuditError::Storage(e.to_string())
}

fn hash_of(bytes: Vec<u8>, what: &str) -> Result<Hash, AuditError> {
    bytes
        .try_into()
        .map_err(|_| AuditError::Tampered(format!("{what} is not a 32-byte hash")))
}

fn frontier_of(size: u64, blob: Vec<u8>) -> Result<Frontier, AuditError> {
    if !blob.len().is_multiple_of(32) {
        return Err(AuditError::Tampered(
            "a stored tree edge is malformed".into(),
        ));
    }
    let hashes = blob
        .chunks(32)
        .map(|c| hash_of(c.to_vec(), "a tree edge node"))
        .collect::<Result<Vec<_>, _>>()?;
    Frontier::from_parts(size, hashes).ok_or_else(|| {
        AuditError::Tampered(format!("the stored tree edge at size {size} is malformed"))
    })
}

const EVENT_COLUMNS: &str = "seq, time, tenant_id, actor, action, resource, decision, reason, request_id, payload_digest, details, leaf_hash";

fn event_from_row(row: &Row<'_>) -> Result<StoredEvent, AuditError> {
    let get = |e: rusqlite::Error| AuditError::Storage(e.to_string());
    let decision: Option<String> = row.get(6).map_err(get)?;
    let details: String = row.get(10).map_err(get)?;
    let event = Event {
        seq: row.get::<_, i64>(0).map_err(get)? as u64,
        time: row.get(1).map_err(get)?,
        tenant: row.get(2).map_err(get)?,
        actor: row.get(3).map_err(get)?,
        action: row.get(4).map_err(get)?,
        resource: row.get(5).map_err(get)?,
        decision: match decision.as_deref() {
            None => None,
            Some("allow") => Some(Decision::Allow),
            Some("deny") => Some(Decision::Deny),
            // Not a value Gauntlet writes: read as a denial (never as an allowance); an edit
            // from `allow` shows in the leaf hash, and verification needs no parse error.
            Some(_) => Some(Decision::Deny),
        },
        reason: row.get(7).map_err(get)?,
        request_id: row.get(8).map_err(get)?,
        payload_digest: row.get(9).map_err(get)?,
        details: serde_json::from_str(&details).unwrap_or(serde_json::Value::String(details)),
    };
    Ok(StoredEvent {
        event,
        leaf_hash: hash_of(row.get(11).map_err(get)?, "a stored leaf hash")?,
    })
}

fn checkpoint_from_row(row: &Row<'_>) -> rusqlite::Result<(Checkpoint, Option<String>)> {
    let signature: Option<String> = row.get(3)?;
    Ok((
        Checkpoint {
            tree_size: row.get::<_, i64>(0)? as u64,
            root: row.get(1)?,
            time: row.get(2)?,
            signature: None,
        },
        signature,
    ))
}

impl AuditStorage for SqliteStore {
    fn append(
        &self,
        plan: &mut dyn FnMut(Frontier) -> Result<AppendPlan, AuditError>,
    ) -> Result<Checkpoint, AuditError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(storage)?;
        let head: Option<(i64, String, Vec<u8>)> = tx
            .query_row(
                "SELECT tree_size, root, frontier FROM audit_checkpoints ORDER BY tree_size DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(storage)?;
        let frontier = match head {
            None => Frontier::new(),
            Some((size, root, blob)) => {
                let f = frontier_of(size as u64, blob)?;
                if gauntlet_audit::merkle::to_hex(&f.root()) != root {
                    return Err(AuditError::Tampered(
                        "the newest tree head does not match its stored edge; run `gauntlet audit verify`".into(),
                    ));
                }
                f
            }
        };
        let p = plan(frontier)?;
        {
            let mut insert = tx
                .prepare_cached(&format!(
                    "INSERT INTO audit_events ({EVENT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
                ))
                .map_err(storage)?;
            for s in &p.events {
                let e = &s.event;
                let decision = e.decision.map(|d| match d {
                    Decision::Allow => "allow",
                    Decision::Deny => "deny",
                });
                insert
                    .execute(params![
                        e.seq as i64,
                        e.time,
                        e.tenant,
                        e.actor,
                        e.action,
                        e.resource,
                        decision,
                        e.reason,
                        e.request_id,
                        e.payload_digest,
                        json_text(&e.details),
                        &s.leaf_hash[..]
                    ])
                    .map_err(storage)?;
            }
        }
        let edge: Vec<u8> = p.frontier.hashes().concat();
        tx.execute(
            "INSERT INTO audit_checkpoints (tree_size, root, time, frontier) VALUES (?1, ?2, ?3, ?4)",
            params![p.checkpoint.tree_size as i64, p.checkpoint.root, p.checkpoint.time, edge],
        )
        .map_err(storage)?;
        tx.commit().map_err(storage)?;
        Ok(p.checkpoint)
    }

    fn attach_signature(
        &self,
        tree_size: u64,
        signature: &SignatureRecord,
    ) -> Result<(), AuditError> {
        let n = self
            .conn()
            .execute(
                "UPDATE audit_checkpoints SET signature = ?2 WHERE tree_size = ?1 AND signature IS NULL",
                params![tree_size as i64, json_text(signature)],
            )
            .map_err(storage)?;
        if n == 0 {
            return Err(AuditError::Storage(format!(
                "no unsigned tree head of size {tree_size}"
            )));
        }
        Ok(())
    }

    fn checkpoints(&self) -> Result<Vec<Checkpoint>, AuditError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT tree_size, root, time, signature FROM audit_checkpoints ORDER BY tree_size",
            )
            .map_err(storage)?;
        let rows = stmt.query_map([], checkpoint_from_row).map_err(storage)?;
        let mut out = Vec::new();
        for row in rows {
            let (mut cp, sig) = row.map_err(storage)?;
            cp.signature = sig.map(|text| {
                serde_json::from_str(&text).unwrap_or(SignatureRecord {
                    alg: "unreadable".into(),
                    key_id: String::new(),
                    value: text,
                })
            });
            out.push(cp);
        }
        Ok(out)
    }

    fn for_each_event(
        &self,
        f: &mut dyn FnMut(StoredEvent) -> Result<(), AuditError>,
    ) -> Result<(), AuditError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {EVENT_COLUMNS} FROM audit_events ORDER BY seq"
            ))
            .map_err(storage)?;
        let mut rows = stmt.query([]).map_err(storage)?;
        while let Some(row) = rows.next().map_err(storage)? {
            f(event_from_row(row)?)?;
        }
        Ok(())
    }

    fn leaf_hashes(&self, size: u64) -> Result<Vec<Hash>, AuditError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT leaf_hash FROM audit_events WHERE seq < ?1 ORDER BY seq")
            .map_err(storage)?;
        let mut rows = stmt.query(params![size as i64]).map_err(storage)?;
        let mut out = Vec::with_capacity(size as usize);
        while let Some(row) = rows.next().map_err(storage)? {
            out.push(hash_of(row.get(0).map_err(storage)?, "a stored leaf hash")?);
        }
        Ok(out)
    }

    fn event(&self, seq: u64) -> Result<Option<StoredEvent>, AuditError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {EVENT_COLUMNS} FROM audit_events WHERE seq = ?1"
            ))
            .map_err(storage)?;
        let mut rows = stmt.query(params![seq as i64]).map_err(storage)?;
        rows.next()
            .map_err(storage)?
            .map(event_from_row)
            .transpose()
    }

    fn events_for(
        &self,
        tenant: &TenantId,
        resource: &str,
    ) -> Result<Vec<StoredEvent>, AuditError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {EVENT_COLUMNS} FROM audit_events WHERE tenant_id = ?1 AND resource = ?2 ORDER BY seq"
            ))
            .map_err(storage)?;
        let mut rows = stmt
            .query(params![tenant.as_str(), resource])
            .map_err(storage)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(storage)? {
            out.push(event_from_row(row)?);
        }
        Ok(out)
    }
}
