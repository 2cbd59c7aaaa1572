//! Dashboard sessions and single sign-on logins under way.
//!
//! A session's cookie holds a random secret; the table holds its SHA-256, so a copy of the
//! database opens no browser's session. Sessions are tenant-scoped like everything else; the
//! only unscoped read is the lookup by hash when a request arrives (as for API keys).

use gauntlet_core::ids::TenantId;

use crate::db::{Db, Row};
use crate::{Result, params};

#[derive(Clone, Debug, PartialEq)]
pub struct Session {
    /// The SHA-256 of the cookie's secret (hex).
    pub id: String,
    pub tenant: TenantId,
    pub user: String,
    /// The API key it began with (its role caps the session's).
    pub key_id: Option<String>,
    /// `key` or `sso`.
    pub method: String,
    pub csrf: String,
    pub address: String,
    pub user_agent: String,
    /// Milliseconds since the epoch.
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

/// A single sign-on request waiting for the issuer's answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Login {
    pub state: String,
    pub nonce: String,
    pub verifier: String,
    pub return_to: String,
    pub expires_at: i64,
}

const COLUMNS: &str = "id, tenant_id, user_id, key_id, method, csrf, address, user_agent, created_at, expires_at, revoked_at";

fn session(r: &Row) -> Result<Session> {
    Ok(Session {
        id: r.text(0)?,
        tenant: TenantId::new(&r.text(1)?),
        user: r.text(2)?,
        key_id: r.opt_text(3)?,
        method: r.text(4)?,
        csrf: r.text(5)?,
        address: r.text(6)?,
        user_agent: r.text(7)?,
        created_at: r.int(8)?,
        expires_at: r.int(9)?,
        revoked_at: r.opt_int(10)?,
    })
}

#[derive(Clone)]
pub struct WebSessions {
    db: Db,
}

impl WebSessions {
    pub fn new(db: Db) -> WebSessions {
        WebSessions { db }
    }

    pub fn create(&self, s: &Session) -> Result<()> {
        self.db.with_conn(|c| {
            c.execute(
                &format!("INSERT INTO web_sessions ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"),
                params![s.id.as_str(), s.tenant.as_str(), s.user.as_str(), s.key_id.as_deref(), s.method.as_str(), s.csrf.as_str(), s.address.as_str(), s.user_agent.as_str(), s.created_at, s.expires_at, s.revoked_at],
            )?;
            // Expired sessions are dropped as new ones begin.
            c.execute(
                "DELETE FROM web_sessions WHERE expires_at < $1",
                params![s.created_at - 86_400_000],
            )?;
            Ok(())
        })
    }

    /// A session by the hash of its secret, whatever its state (the caller checks).
    pub fn by_hash(&self, id: &str) -> Result<Option<Session>> {
        self.db.with_conn(|c| {
            c.query_opt(
                &format!("SELECT {COLUMNS} FROM web_sessions WHERE id = $1"),
                params![id],
            )?
            .as_ref()
            .map(session)
            .transpose()
        })
    }

    /// A tenant's sessions that have neither expired nor been revoked, newest first.
    pub fn open(&self, tenant: &TenantId, now: i64) -> Result<Vec<Session>> {
        self.db.with_conn(|c| {
            c.query(
                &format!("SELECT {COLUMNS} FROM web_sessions WHERE tenant_id = $1 AND revoked_at IS NULL AND expires_at > $2 ORDER BY created_at DESC LIMIT 500"),
                params![tenant.as_str(), now],
            )?
            .iter()
            .map(session)
            .collect()
        })
    }

    /// Revokes a session of the tenant, named by its hash; false if there is none.
    pub fn revoke(&self, tenant: &TenantId, id: &str, now: i64) -> Result<bool> {
        let n = self.db.with_conn(|c| {
            c.execute(
                "UPDATE web_sessions SET revoked_at = $3 WHERE tenant_id = $1 AND id = $2 AND revoked_at IS NULL",
                params![tenant.as_str(), id, now],
            )
        })?;
        Ok(n > 0)
    }

    /// Revokes every session of a user (deleted, or demoted by an administrator).
    pub fn revoke_user(&self, tenant: &TenantId, user: &str, now: i64) -> Result<u64> {
        let n = self.db.with_conn(|c| {
            c.execute(
                "UPDATE web_sessions SET revoked_at = $3 WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL",
                params![tenant.as_str(), user, now],
            )
        })?;
        Ok(n)
    }

    pub fn begin_login(&self, l: &Login) -> Result<()> {
        self.db.with_conn(|c| {
            c.execute(
                "DELETE FROM web_logins WHERE expires_at < $1",
                params![l.expires_at - 3_600_000],
            )?;
            c.execute(
                "INSERT INTO web_logins (state, nonce, verifier, return_to, expires_at) VALUES ($1, $2, $3, $4, $5)",
                params![l.state.as_str(), l.nonce.as_str(), l.verifier.as_str(), l.return_to.as_str(), l.expires_at],
            )?;
            Ok(())
        })
    }

    /// Takes a login by its state: once only, and only before it expires.
    pub fn take_login(&self, state: &str, now: i64) -> Result<Option<Login>> {
        self.db.transaction(|c| {
            let found = c.query_opt(
                "SELECT state, nonce, verifier, return_to, expires_at FROM web_logins WHERE state = $1",
                params![state],
            )?;
            let Some(r) = found else { return Ok(None) };
            c.execute("DELETE FROM web_logins WHERE state = $1", params![state])?;
            let l = Login {
                state: r.text(0)?,
                nonce: r.text(1)?,
                verifier: r.text(2)?,
                return_to: r.text(3)?,
                expires_at: r.int(4)?,
            };
            Ok((l.expires_at > now).then_some(l))
        })
    }
}
