//! The tamper-evident audit log.
//!
//! Events are leaves of an RFC 6962 Merkle tree ([`merkle`]). Every append stores the new tree
//! head (a [`log::Checkpoint`]) with the events in one transaction, then signs it with a
//! pluggable [`signer::Signer`] (a local Ed25519 key by default, Vault Transit, later cloud
//! KMS). [`verify::verify`] rebuilds the tree from the events and checks every head;
//! inclusion proofs and signed [`bundle`]s verify offline with the public key alone.
//!
//! Storage is a trait ([`log::AuditStorage`]) implemented by `gauntlet-store` for each
//! database, so the log lives beside the runs it describes.

pub mod bundle;
pub mod contract;
pub mod event;
pub mod export;
pub mod log;
pub mod merkle;
pub mod signer;
pub mod verify;

pub use event::{Decision, Event, NewEvent, StoredEvent, action};
pub use log::{AuditLog, AuditStorage, Checkpoint, InclusionProof};
pub use signer::{LocalSigner, Signer, TrustedKeys};

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit storage: {0}")]
    Storage(String),
    #[error("audit signing key: {0}")]
    Key(String),
    #[error("audit signer: {0}")]
    Signer(String),
    #[error("{0}")]
    Invalid(String),
    #[error("the audit log is damaged: {0}")]
    Tampered(String),
    #[error("audit bundle: {0}")]
    Bundle(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}
