//! Authentication: API keys.
//!
//! A key is `gnt_<id>_<secret>`: the id (12 hex digits) finds the stored record, the secret
//! (64 hex digits, 256 random bits) is checked against its SHA-256 in constant time. The
//! secret is shown once, when the key is made; only the hash is stored. A key belongs to one
//! tenant and user and carries one role; it may expire and can be revoked.

use gauntlet_core::TenantId;
use sha2::{Digest, Sha256};

use crate::rbac::Grants;

/// Who is calling, resolved once per request by the authentication middleware.
#[derive(Clone, Debug)]
pub struct Principal {
    pub tenant: TenantId,
    pub user: String,
    pub role: String,
    pub grants: Grants,
    pub platform_admin: bool,
    /// How the caller authenticated: `key:<id>`.
    pub credential: String,
    /// Who issued the key, when another user did: the caller acts for `user`.
    pub issued_by: Option<String>,
}

impl Principal {
    /// The actor recorded in audit events.
    /// Who acts, as the audit log and run records name them: `user:B`, or `user:A for
    /// user:B` for a key A issued for B.
    pub fn actor(&self) -> String {
        match &self.issued_by {
            Some(issuer) => format!("user:{issuer} for user:{}", self.user),
            None => format!("user:{}", self.user),
        }
    }
}

/// Credentials verified recently, by the SHA-256 of the token: the database and the audit log
/// see a credential once per window, not on every request. Any change to keys, users, roles or
/// tenants made through this process clears the cache at once; made elsewhere, it takes effect
/// within the window.
pub struct Sessions {
    ttl: std::time::Duration,
    map: std::sync::Mutex<std::collections::HashMap<String, Session>>,
}

struct Session {
    principal: Principal,
    verified: std::time::Instant,
    /// Milliseconds since the epoch when the credential itself expires.
    expires_at: Option<i64>,
}

impl Sessions {
    pub fn new(ttl: std::time::Duration) -> Sessions {
        Sessions {
            ttl,
            map: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    pub fn get(&self, digest: &str, now_ms: i64) -> Option<Principal> {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let s = map.get(digest)?;
        let fresh = s.verified.elapsed() < self.ttl && s.expires_at.is_none_or(|t| t > now_ms);
        fresh.then(|| s.principal.clone())
    }

    pub fn put(&self, digest: String, principal: Principal, expires_at: Option<i64>) {
        if self.ttl.is_zero() {
            return;
        }
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= 100_000 {
            let ttl = self.ttl;
            map.retain(|_, s| s.verified.elapsed() < ttl);
        }
        map.insert(
            digest,
            Session {
                principal,
                verified: std::time::Instant::now(),
                expires_at,
            },
        );
    }

    /// Forgets every verified credential (after a permission change).
    pub fn clear(&self) {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

pub const KEY_PREFIX: &str = "gnt_";

pub fn random_hex(bytes: usize) -> Result<String, String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| format!("no randomness: {e}"))?;
    Ok(hex(&buf))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn sha256_hex(text: &str) -> String {
    hex(&Sha256::digest(text.as_bytes()))
}

/// A new key: (id, the whole token to show once, the hash to store).
pub fn new_key() -> Result<(String, String, String), String> {
    let id = random_hex(6)?;
    let secret = random_hex(32)?;
    let token = format!("{KEY_PREFIX}{id}_{secret}");
    let hash = sha256_hex(&token);
    Ok((id, token, hash))
}

/// The id part of a token that has the key shape.
pub fn key_id(token: &str) -> Option<&str> {
    let rest = token.strip_prefix(KEY_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let hexy = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hexy(id, 12) && hexy(secret, 64)).then_some(id)
}

/// Compares without an early exit, so timing does not reveal how much of a hash matched.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_a_recognisable_shape_and_hash() {
        let (id, token, hash) = new_key().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(key_id(&token), Some(id.as_str()));
        assert_eq!(sha256_hex(&token), hash);
        assert!(!token.contains(&hash));
        assert_eq!(key_id("gnt_short_x"), None);
        assert_eq!(key_id("Bearer x"), None);
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
