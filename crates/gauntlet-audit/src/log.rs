//! The append-only log over a storage backend: appends place events, extend the tree and store
//! a tree head (checkpoint) in one transaction, then sign the head.

use serde::{Deserialize, Serialize};

use crate::AuditError;
use crate::event::{Event, NewEvent, StoredEvent};
use crate::merkle::{self, Frontier, Hash};
use crate::signer::{SignatureRecord, Signer, TrustedKeys};

/// A tree head: the size of the log and its Merkle root at a time, signed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub tree_size: u64,
    /// Hex SHA-256.
    pub root: String,
    pub time: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<SignatureRecord>,
}

impl Checkpoint {
    /// The signed bytes: a short text a person can read and any tool can rebuild.
    pub fn message(&self) -> Vec<u8> {
        format!(
            "gauntlet-audit-checkpoint/1\n{}\n{}\n{}\n",
            self.tree_size, self.root, self.time
        )
        .into_bytes()
    }

    pub fn root_hash(&self) -> Option<Hash> {
        merkle::from_hex(&self.root)
    }

    /// Checks the signature with `trusted`.
    pub fn verify(&self, trusted: &TrustedKeys) -> Result<(), String> {
        match &self.signature {
            Some(sig) => trusted.verify(&self.message(), sig),
            None => Err("it is not signed".into()),
        }
    }
}

/// What one append stores: the placed events, the new head, and the right edge of the tree
/// (so the next append need not read the log).
pub struct AppendPlan {
    pub events: Vec<StoredEvent>,
    pub checkpoint: Checkpoint,
    pub frontier: Frontier,
}

/// Where the log lives. Implementations keep events in index order and store an append's
/// events and checkpoint atomically.
pub trait AuditStorage: Send + Sync {
    /// In one write transaction: reads the frontier stored with the newest checkpoint (empty
    /// for a new log), calls `plan` with it, and stores what it returns.
    fn append(
        &self,
        plan: &mut dyn FnMut(Frontier) -> Result<AppendPlan, AuditError>,
    ) -> Result<Checkpoint, AuditError>;
    /// Attaches the signature of the checkpoint at `tree_size`.
    fn attach_signature(
        &self,
        tree_size: u64,
        signature: &SignatureRecord,
    ) -> Result<(), AuditError>;
    /// Every checkpoint, smallest first.
    fn checkpoints(&self) -> Result<Vec<Checkpoint>, AuditError>;
    /// Every stored event in index order, as stored (a tampered log may have gaps).
    fn for_each_event(
        &self,
        f: &mut dyn FnMut(StoredEvent) -> Result<(), AuditError>,
    ) -> Result<(), AuditError>;
    /// The stored leaf hashes of events `0..size`.
    fn leaf_hashes(&self, size: u64) -> Result<Vec<Hash>, AuditError>;
    fn event(&self, seq: u64) -> Result<Option<StoredEvent>, AuditError>;
    /// The events of `tenant` about `resource`, in index order.
    fn events_for(
        &self,
        tenant: &gauntlet_core::TenantId,
        resource: &str,
    ) -> Result<Vec<StoredEvent>, AuditError>;
}

/// The receipt of an append.
#[derive(Clone, Debug)]
pub struct Appended {
    pub first_seq: u64,
    pub checkpoint: Checkpoint,
}

/// An inclusion proof: enough to check offline that an event is in a signed tree head.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InclusionProof {
    pub event: Event,
    pub leaf_hash: String,
    pub tree_size: u64,
    pub path: Vec<String>,
    pub checkpoint: Checkpoint,
}

impl InclusionProof {
    /// Recomputes the leaf from the event, the root from the path, and checks the checkpoint's
    /// signature.
    pub fn verify(&self, trusted: &TrustedKeys) -> Result<(), String> {
        let leaf = self.event.leaf_hash();
        if merkle::to_hex(&leaf) != self.leaf_hash {
            return Err(format!(
                "event {} does not hash to the proof's leaf",
                self.event.seq
            ));
        }
        let path: Vec<Hash> = self
            .path
            .iter()
            .map(|h| merkle::from_hex(h).ok_or_else(|| format!("`{h}` is not a SHA-256 hash")))
            .collect::<Result<_, _>>()?;
        let root = self
            .checkpoint
            .root_hash()
            .ok_or("the checkpoint's root is not a SHA-256 hash")?;
        if self.checkpoint.tree_size != self.tree_size {
            return Err("the proof and the checkpoint disagree on the tree size".into());
        }
        if !merkle::verify_inclusion(self.event.seq, self.tree_size, &leaf, &path, &root) {
            return Err(format!(
                "event {} is not in the tree of size {} with root {}",
                self.event.seq, self.tree_size, self.checkpoint.root
            ));
        }
        self.checkpoint
            .verify(trusted)
            .map_err(|e| format!("the checkpoint of size {}: {e}", self.tree_size))
    }
}

pub fn now() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    gauntlet_core::time::rfc3339(ms)
}

/// The log: storage plus the signer of its tree heads.
pub struct AuditLog<'a> {
    pub storage: &'a dyn AuditStorage,
    pub signer: &'a dyn Signer,
}

impl AuditLog<'_> {
    /// Appends `events` as one batch under one signed tree head.
    pub async fn append(&self, events: Vec<NewEvent>) -> Result<Appended, AuditError> {
        if events.is_empty() {
            return Err(AuditError::Invalid(
                "an append needs at least one event".into(),
            ));
        }
        let time = now();
        let mut first_seq = 0;
        let checkpoint = self.storage.append(&mut |mut frontier| {
            first_seq = frontier.size();
            let mut placed = Vec::with_capacity(events.len());
            for e in &events {
                let stored = StoredEvent::of(e.clone().place(frontier.size(), time.clone()));
                frontier.push(stored.leaf_hash);
                placed.push(stored);
            }
            Ok(AppendPlan {
                events: placed,
                checkpoint: Checkpoint {
                    tree_size: frontier.size(),
                    root: merkle::to_hex(&frontier.root()),
                    time: time.clone(),
                    signature: None,
                },
                frontier,
            })
        })?;
        // Signed after the commit: a remote signer is not called while the database is locked.
        // A crash here leaves an unsigned head, which the next append's signed head covers.
        let signature = self.signer.sign(&checkpoint.message()).await?;
        self.storage
            .attach_signature(checkpoint.tree_size, &signature)?;
        Ok(Appended {
            first_seq,
            checkpoint: Checkpoint {
                signature: Some(signature),
                ..checkpoint
            },
        })
    }

    /// Inclusion proofs of `seqs` in the newest signed checkpoint, each checked before it is
    /// returned.
    pub fn proofs(
        &self,
        seqs: &[u64],
        trusted: &TrustedKeys,
    ) -> Result<Vec<InclusionProof>, AuditError> {
        proofs(self.storage, seqs, trusted)
    }
}

/// The newest checkpoint with a signature.
pub fn latest_signed(storage: &dyn AuditStorage) -> Result<Option<Checkpoint>, AuditError> {
    Ok(storage
        .checkpoints()?
        .into_iter()
        .rev()
        .find(|c| c.signature.is_some()))
}

/// Inclusion proofs of `seqs` in the newest signed checkpoint (one read of the leaf hashes for
/// all of them). Each proof is verified before it is returned, so a damaged log yields an
/// error, never a proof that does not check.
pub fn proofs(
    storage: &dyn AuditStorage,
    seqs: &[u64],
    trusted: &TrustedKeys,
) -> Result<Vec<InclusionProof>, AuditError> {
    let Some(checkpoint) = latest_signed(storage)? else {
        return Err(AuditError::Invalid(
            "the audit log has no signed checkpoint yet".into(),
        ));
    };
    let leaves = storage.leaf_hashes(checkpoint.tree_size)?;
    if leaves.len() as u64 != checkpoint.tree_size {
        return Err(AuditError::Tampered(format!(
            "the checkpoint covers {} events but {} are stored; run `gauntlet audit verify`",
            checkpoint.tree_size,
            leaves.len()
        )));
    }
    let tree = merkle::Tree::new(&leaves);
    drop(leaves);
    let mut out = Vec::with_capacity(seqs.len());
    for &seq in seqs {
        let stored = storage
            .event(seq)?
            .ok_or_else(|| AuditError::Invalid(format!("no audit event {seq}")))?;
        let path = tree
            .inclusion_proof(seq as usize, tree.len())
            .ok_or_else(|| {
                AuditError::Invalid(format!(
                    "event {seq} is newer than the latest signed checkpoint (size {})",
                    checkpoint.tree_size
                ))
            })?;
        let proof = InclusionProof {
            leaf_hash: merkle::to_hex(&stored.leaf_hash),
            event: stored.event,
            tree_size: checkpoint.tree_size,
            path: path.iter().map(|h| merkle::to_hex(h)).collect(),
            checkpoint: checkpoint.clone(),
        };
        proof.verify(trusted).map_err(|e| {
            AuditError::Tampered(format!(
                "{e}; the log is damaged, run `gauntlet audit verify`"
            ))
        })?;
        out.push(proof);
    }
    Ok(out)
}

/// A consistency proof between two tree sizes of the stored log.
pub fn consistency(
    storage: &dyn AuditStorage,
    old_size: u64,
    new_size: u64,
) -> Result<Vec<String>, AuditError> {
    let leaves = storage.leaf_hashes(new_size)?;
    if (leaves.len() as u64) < new_size {
        return Err(AuditError::Invalid(format!(
            "the log has {} events, fewer than {new_size}",
            leaves.len()
        )));
    }
    merkle::consistency_proof(&leaves, old_size as usize)
        .map(|p| p.iter().map(|h| merkle::to_hex(h)).collect())
        .ok_or_else(|| AuditError::Invalid(format!("{old_size} is larger than {new_size}")))
}
