//! A run's signed audit bundle: its record, configuration and contract snapshots, every case
//! result, and its audit events with inclusion proofs, signed — what `gauntlet audit bundle`
//! writes and `GET /api/v1/runs/{id}/bundle` serves, and `gauntlet audit verify-bundle`
//! checks offline with the public key.

use std::io::Write;
use std::path::Path;

use gauntlet_audit::{AuditError, AuditStorage, Signer, TrustedKeys};
use gauntlet_core::TenantId;
use gauntlet_core::result::RunRecord;
use gauntlet_store::{RunStore, SourceStore, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("run {0} has no audit events (it predates the audit log), so it cannot be bundled")]
    NoEvents(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error("writing the bundle: {0}")]
    Io(#[from] std::io::Error),
}

/// What went into a bundle.
pub struct Bundled {
    pub run: RunRecord,
    pub events: usize,
    pub key_id: String,
}

/// Writes the bundle of `run` (an id or unique prefix) of `tenant` to `out`, signed by
/// `signer`, whose key also vouches for the proofs' tree head.
pub async fn write<W: Write>(
    store: &Store,
    tenant: &TenantId,
    run: &str,
    signer: &dyn Signer,
    out: W,
    now: &str,
) -> Result<(W, Bundled), BundleError> {
    let run = store.get_run(tenant, run)?;
    let resource = format!("run/{}", run.id);
    let events = store.events_for(tenant, &resource)?;
    if events.is_empty() {
        return Err(BundleError::NoEvents(run.id.to_string()));
    }
    let snapshot = store.snapshot(tenant, &run.id)?;
    let contracts = contract_snapshot(&snapshot);
    let seqs: Vec<u64> = events.iter().map(|e| e.event.seq).collect();
    let mut trusted = TrustedKeys::new();
    trusted.add(*signer.public_key());
    let proofs = gauntlet_audit::log::proofs(store, &seqs, &trusted)?;
    let mut b = gauntlet_audit::bundle::BundleWriter::new(out, run.id.as_str(), now)?;
    b.record("run", &run)?;
    b.record(
        "config",
        &serde_json::json!({ "hash": gauntlet_core::hash::content_hash(&snapshot), "snapshot": snapshot }),
    )?;
    b.record(
        "contracts",
        &serde_json::json!({
            "policy_bundle_checksum": gauntlet_core::hash::content_hash(&contracts),
            "contracts": contracts,
            "lock": contract_lock_of(store, tenant, &run.id),
        }),
    )?;
    let mut failure = None;
    store.for_each_case(tenant, &run.id, &mut |c| {
        if failure.is_none()
            && let Err(e) = b.record("case", &c)
        {
            failure = Some(e);
        }
        Ok(())
    })?;
    if let Some(e) = failure {
        return Err(e.into());
    }
    for p in &proofs {
        b.record("event", p)?;
    }
    let w = b.finish(signer).await?;
    Ok((
        w,
        Bundled {
            run,
            events: proofs.len(),
            key_id: signer.key_id().to_owned(),
        },
    ))
}

/// The contracts the run used: named ones and inline ones, by agent, from its snapshot.
fn contract_snapshot(snapshot: &serde_json::Value) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    if let Some(agents) = snapshot["project"]["agents"].as_object() {
        for (name, agent) in agents {
            if let Some(c) = agent.get("contract").filter(|c| !c.is_null()) {
                out.insert(format!("agents/{name}"), c.clone());
            }
        }
    }
    if let Some(suites) = snapshot["project"]["suites"].as_object() {
        for (name, suite) in suites {
            if let Some(c) = suite.get("contract").filter(|c| !c.is_null()) {
                out.insert(format!("suites/{name}"), c.clone());
            }
        }
    }
    serde_json::Value::Object(out)
}

/// The contract lock stored with the run's sources, if the project had one.
fn contract_lock_of(
    store: &Store,
    tenant: &TenantId,
    run: &gauntlet_core::RunId,
) -> serde_json::Value {
    store
        .sources(tenant, run)
        .ok()
        .and_then(|files| {
            files.into_iter().find(|(p, _)| {
                Path::new(p).file_name().and_then(|n| n.to_str())
                    == Some(gauntlet_audit::contract::LOCK_FILE)
            })
        })
        .and_then(|(_, text)| serde_json::from_str(&text).ok())
        .unwrap_or(serde_json::Value::Null)
}
