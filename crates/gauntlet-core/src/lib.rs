//! Gauntlet's vocabulary: identifiers, the validated specification model, run results and the
//! small expression and template languages used inside specifications.
//!
//! This crate performs no I/O: no files, no network, no database, no clock reads except through
//! values handed to it. Every other crate speaks in these types.

pub mod assertion;
pub mod capability;
pub mod chaos;
pub mod evaluators;
pub mod expr;
pub mod files;
pub mod gateway;
pub mod hash;
pub mod ids;
pub mod model;
pub mod provider;
pub mod result;
pub mod retention;
pub mod template;
pub mod time;

pub use ids::{RunId, TenantId};

/// The version of Gauntlet recorded in every configuration snapshot.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
