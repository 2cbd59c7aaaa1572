//! Identifiers for runs and tenants.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A run identifier: 26 characters of Crockford base32 (a ULID), so ids sort by creation time
/// and a unique prefix is enough to name a run on the command line.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunId(String);

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

impl RunId {
    /// Builds an id from a millisecond timestamp and 80 bits of randomness supplied by the caller.
    pub fn from_parts(unix_ms: u64, random: u128) -> RunId {
        let value: u128 =
            ((unix_ms as u128 & 0xFFFF_FFFF_FFFF) << 80) | (random & ((1u128 << 80) - 1));
        let mut out = [0u8; 26];
        for (i, slot) in out.iter_mut().enumerate() {
            let shift = 5 * (25 - i);
            *slot = CROCKFORD[((value >> shift) & 0x1F) as usize];
        }
        RunId(out.iter().map(|&b| b as char).collect())
    }

    /// Wraps an id read back from storage or typed by a user.
    pub fn from_string(s: impl Into<String>) -> RunId {
        RunId(s.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The isolation unit of every stored row. The embedded store uses [`TenantId::local`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TenantId(String);

impl TenantId {
    pub fn new(s: impl Into<String>) -> TenantId {
        TenantId(s.into())
    }

    /// The tenant of the single-user embedded store.
    pub fn local() -> TenantId {
        TenantId("local".to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_sort_by_time_and_have_26_chars() {
        let a = RunId::from_parts(1_000, u128::MAX);
        let b = RunId::from_parts(1_001, 0);
        assert_eq!(a.as_str().len(), 26);
        assert!(a < b);
        assert_eq!(
            RunId::from_parts(0, 0).as_str(),
            "00000000000000000000000000"
        );
    }
}
