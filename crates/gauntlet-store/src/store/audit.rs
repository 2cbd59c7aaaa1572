//! The audit log's tables: events in index order and the tree head of every append.

use super::{Store, json_text};
use crate::db::Row;
use crate::params;
use gauntlet_audit::log::{AppendPlan, AuditStorage, Checkpoint};
use gauntlet_audit::merkle::{Frontier, Hash};
use gauntlet_audit::signer::SignatureRecord;
use gauntlet_audit::{AuditError, Decision, Event, StoredEvent};
use gauntlet_core::TenantId;

fn storage(e: crate::StoreError) -> AuditError {
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

fn event_from_row(row: &Row) -> Result<StoredEvent, AuditError> {
    let decision = row.opt_text(6).map_err(storage)?;
    let details = row.text(10).map_err(storage)?;
    let event = Event {
        seq: row.int(0).map_err(storage)? as u64,
        time: row.text(1).map_err(storage)?,
        tenant: row.text(2).map_err(storage)?,
        actor: row.text(3).map_err(storage)?,
        action: row.text(4).map_err(storage)?,
        resource: row.text(5).map_err(storage)?,
        decision: match decision.as_deref() {
            None => None,
            Some("allow") => Some(Decision::Allow),
            Some("deny") => Some(Decision::Deny),
            // Not a value Gauntlet writes: read as a denial (never as an allowance); an edit
            // from `allow` shows in the leaf hash, and verification needs no parse error.
            Some(_) => Some(Decision::Deny),
        },
        reason: row.opt_text(7).map_err(storage)?,
        request_id: row.opt_text(8).map_err(storage)?,
        payload_digest: row.opt_text(9).map_err(storage)?,
        details: serde_json::from_str(&details).unwrap_or(serde_json::Value::String(details)),
    };
    Ok(StoredEvent {
        event,
        leaf_hash: hash_of(row.blob(11).map_err(storage)?, "a stored leaf hash")?,
    })
}

fn checkpoint_from_row(row: &Row) -> Result<Checkpoint, AuditError> {
    let signature = row.opt_text(3).map_err(storage)?;
    Ok(Checkpoint {
        tree_size: row.int(0).map_err(storage)? as u64,
        root: row.text(1).map_err(storage)?,
        time: row.text(2).map_err(storage)?,
        signature: signature.map(|text| {
            serde_json::from_str(&text).unwrap_or(SignatureRecord {
                alg: "unreadable".into(),
                key_id: String::new(),
                value: text,
            })
        }),
    })
}

impl AuditStorage for Store {
    fn append(
        &self,
        plan: &mut dyn FnMut(Frontier) -> Result<AppendPlan, AuditError>,
    ) -> Result<Checkpoint, AuditError> {
        // The plan's error is carried out of the transaction closure (which speaks StoreError).
        let mut failure: Option<AuditError> = None;
        let out = self.db.transaction(|c| {
            if c.dialect() == crate::db::Dialect::Postgres {
                // One appender at a time across servers: the tree is a chain.
                c.execute("SELECT pg_advisory_xact_lock(7412027)", &[])?;
            }
            let head = c.query_opt(
                "SELECT tree_size, root, frontier FROM audit_checkpoints ORDER BY tree_size DESC LIMIT 1",
                &[],
            )?;
            let frontier = match head {
                None => Frontier::new(),
                Some(row) => {
                    let f = match frontier_of(row.int(0)? as u64, row.blob(2)?) {
                        Ok(f) => f,
                        Err(e) => {
                            failure = Some(e);
                            return Err(crate::StoreError::Corrupt("audit".into()));
                        }
                    };
                    if gauntlet_audit::merkle::to_hex(&f.root()) != row.text(1)? {
                        failure = Some(AuditError::Tampered(
                            "the newest tree head does not match its stored edge; run `gauntlet audit verify`".into(),
                        ));
                        return Err(crate::StoreError::Corrupt("audit".into()));
                    }
                    f
                }
            };
            let p = match plan(frontier) {
                Ok(p) => p,
                Err(e) => {
                    failure = Some(e);
                    return Err(crate::StoreError::Corrupt("audit".into()));
                }
            };
            for s in &p.events {
                let e = &s.event;
                let decision = e.decision.map(|d| match d {
                    Decision::Allow => "allow",
                    Decision::Deny => "deny",
                });
                c.execute(
                    &format!("INSERT INTO audit_events ({EVENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"),
                    params![
                        e.seq,
                        &e.time,
                        &e.tenant,
                        &e.actor,
                        &e.action,
                        &e.resource,
                        decision,
                        e.reason.as_deref(),
                        e.request_id.as_deref(),
                        e.payload_digest.as_deref(),
                        json_text(&e.details),
                        &s.leaf_hash[..]
                    ],
                )?;
            }
            let edge: Vec<u8> = p.frontier.hashes().concat();
            c.execute(
                "INSERT INTO audit_checkpoints (tree_size, root, time, frontier) VALUES ($1, $2, $3, $4)",
                params![p.checkpoint.tree_size, &p.checkpoint.root, &p.checkpoint.time, edge],
            )?;
            Ok(p.checkpoint)
        });
        match (out, failure) {
            (_, Some(e)) => Err(e),
            (r, None) => r.map_err(storage),
        }
    }

    fn attach_signature(
        &self,
        tree_size: u64,
        signature: &SignatureRecord,
    ) -> Result<(), AuditError> {
        let n = self
            .db
            .with_conn(|c| {
                c.execute(
                    "UPDATE audit_checkpoints SET signature = $2 WHERE tree_size = $1 AND signature IS NULL",
                    params![tree_size, json_text(signature)],
                )
            })
            .map_err(storage)?;
        if n == 0 {
            return Err(AuditError::Storage(format!(
                "no unsigned tree head of size {tree_size}"
            )));
        }
        Ok(())
    }

    fn checkpoints(&self) -> Result<Vec<Checkpoint>, AuditError> {
        let rows = self
            .db
            .with_conn(|c| {
                c.query(
                    "SELECT tree_size, root, time, signature FROM audit_checkpoints ORDER BY tree_size",
                    &[],
                )
            })
            .map_err(storage)?;
        rows.iter().map(checkpoint_from_row).collect()
    }

    fn for_each_event(
        &self,
        f: &mut dyn FnMut(StoredEvent) -> Result<(), AuditError>,
    ) -> Result<(), AuditError> {
        let mut failure = None;
        let out = self.db.with_conn(|c| {
            c.query_each(
                &format!("SELECT {EVENT_COLUMNS} FROM audit_events ORDER BY seq"),
                &[],
                &mut |row| match event_from_row(&row).and_then(&mut *f) {
                    Ok(()) => Ok(()),
                    Err(e) => {
                        failure = Some(e);
                        Err(crate::StoreError::Corrupt("audit".into()))
                    }
                },
            )
        });
        match (out, failure) {
            (_, Some(e)) => Err(e),
            (r, None) => r.map_err(storage),
        }
    }

    fn leaf_hashes(&self, size: u64) -> Result<Vec<Hash>, AuditError> {
        let rows = self
            .db
            .with_conn(|c| {
                c.query(
                    "SELECT leaf_hash FROM audit_events WHERE seq < $1 ORDER BY seq",
                    params![size],
                )
            })
            .map_err(storage)?;
        rows.iter()
            .map(|r| hash_of(r.blob(0).map_err(storage)?, "a stored leaf hash"))
            .collect()
    }

    fn event(&self, seq: u64) -> Result<Option<StoredEvent>, AuditError> {
        let row = self
            .db
            .with_conn(|c| {
                c.query_opt(
                    &format!("SELECT {EVENT_COLUMNS} FROM audit_events WHERE seq = $1"),
                    params![seq],
                )
            })
            .map_err(storage)?;
        row.as_ref().map(event_from_row).transpose()
    }

    fn events_for(
        &self,
        tenant: &TenantId,
        resource: &str,
    ) -> Result<Vec<StoredEvent>, AuditError> {
        let rows = self
            .db
            .with_conn(|c| {
                c.query(
                    &format!("SELECT {EVENT_COLUMNS} FROM audit_events WHERE tenant_id = $1 AND resource = $2 ORDER BY seq"),
                    params![tenant.as_str(), resource],
                )
            })
            .map_err(storage)?;
        rows.iter().map(event_from_row).collect()
    }
}
