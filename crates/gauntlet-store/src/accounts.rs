//! Tenants, users, custom roles and API keys.
//!
//! Every function but [`Accounts::key_for_auth`] and the tenant administration ones takes the
//! caller's [`TenantId`] and filters on it. Authentication has to find a key before it knows
//! the tenant, so it looks the key up by its id (the public part of the token) alone.

use gauntlet_core::TenantId;
use serde::{Deserialize, Serialize};

use crate::db::{Conn, Db, Row};
use crate::{Result, StoreError, params};

/// Per-tenant limits; `None` is unlimited.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Quotas {
    pub runs_per_day: Option<u64>,
    pub parallel_runs: Option<u64>,
    pub storage_bytes: Option<u64>,
    pub agents: Option<u64>,
    pub monthly_budget_usd: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Tenant {
    pub id: String,
    pub name: String,
    pub quotas: Quotas,
    pub created_at: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct User {
    pub id: String,
    pub name: String,
    pub email: Option<String>,
    pub role: String,
    pub platform_admin: bool,
    pub created_at: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct CustomRole {
    pub name: String,
    pub permissions: Vec<String>,
    pub created_at: String,
}

/// What the API shows of a key: never its secret or hash.
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct ApiKey {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub role: String,
    pub created_at: String,
    /// Milliseconds since the epoch.
    pub expires_at: Option<i64>,
    pub revoked_at: Option<String>,
    /// The user who issued the key, when it is not the key's own user: requests with it are
    /// recorded as that user acting for the owner.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_by: Option<String>,
}

/// What authentication needs of a key.
#[derive(Clone, Debug)]
pub struct KeyRecord {
    pub tenant: TenantId,
    pub key: ApiKey,
    pub secret_hash: String,
    pub platform_admin: bool,
    /// The key's user's role now (a key never acts above it).
    pub user_role: String,
}

/// Tables holding tenant data, children first; deprovisioning empties them all.
/// The audit log is not among them: it is append-only and pins deleted data by digest.
const TENANT_TABLES: &[&str] = &[
    "tenant_values",
    "tenant_capabilities",
    "tenant_spend",
    "step_results",
    "jobs",
    "assertions",
    "tool_calls",
    "steps",
    "cases",
    "experiments",
    "baselines",
    "run_sources",
    "runs",
    "sources",
    "cassettes",
    "judge_cache",
    "suites",
    "api_keys",
    "roles",
    "users",
];

#[derive(Clone)]
pub struct Accounts {
    db: Db,
}

fn tenant_from(row: &Row) -> Result<Tenant> {
    let quotas = row.text(2)?;
    Ok(Tenant {
        id: row.text(0)?,
        name: row.text(1)?,
        quotas: serde_json::from_str(&quotas)
            .map_err(|e| StoreError::Corrupt(format!("tenant quotas: {e}")))?,
        created_at: row.text(3)?,
    })
}

const USER_COLUMNS: &str = "id, name, email, role, platform_admin, created_at";

fn user_from(row: &Row) -> Result<User> {
    Ok(User {
        id: row.text(0)?,
        name: row.text(1)?,
        email: row.opt_text(2)?,
        role: row.text(3)?,
        platform_admin: row.bool(4)?,
        created_at: row.text(5)?,
    })
}

const KEY_COLUMNS: &str =
    "k.id, k.user_id, k.name, k.role, k.created_at, k.expires_at, k.revoked_at, k.issued_by";

fn key_from(row: &Row) -> Result<ApiKey> {
    Ok(ApiKey {
        id: row.text(0)?,
        user_id: row.text(1)?,
        name: row.text(2)?,
        role: row.text(3)?,
        created_at: row.text(4)?,
        expires_at: row.opt_int(5)?,
        revoked_at: row.opt_text(6)?,
        issued_by: row.opt_text(7)?,
    })
}

fn role_from(row: &Row) -> Result<CustomRole> {
    let perms = row.text(1)?;
    Ok(CustomRole {
        name: row.text(0)?,
        permissions: serde_json::from_str(&perms)
            .map_err(|e| StoreError::Corrupt(format!("role permissions: {e}")))?,
        created_at: row.text(2)?,
    })
}

fn exists(c: &mut dyn Conn, sql: &str, params: &[crate::db::Val]) -> Result<bool> {
    Ok(c.query_opt(sql, params)?.is_some())
}

impl Accounts {
    pub fn new(db: Db) -> Accounts {
        Accounts { db }
    }

    // ---- tenants (platform administration) ----

    pub fn create_tenant(&self, tenant: &Tenant) -> Result<()> {
        let quotas = serde_json::to_string(&tenant.quotas)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.db.transaction(|c| {
            if exists(
                c,
                "SELECT 1 FROM tenants WHERE id = $1",
                params![&tenant.id],
            )? {
                return Err(StoreError::Conflict(format!("tenant `{}`", tenant.id)));
            }
            // A new tenant must not inherit a deleted one's audit trail under the same id.
            if exists(
                c,
                "SELECT 1 FROM retired_ids WHERE kind = 'tenant' AND tenant_id = $1",
                params![&tenant.id],
            )? {
                return Err(StoreError::Refused(format!(
                    "tenant `{}` was deleted, and its id is not given out again; choose another",
                    tenant.id
                )));
            }
            c.execute(
                "INSERT INTO tenants (id, name, quotas, created_at) VALUES ($1, $2, $3, $4)",
                params![&tenant.id, &tenant.name, &quotas, &tenant.created_at],
            )?;
            Ok(())
        })
    }

    pub fn list_tenants(&self) -> Result<Vec<Tenant>> {
        self.db.with_conn(|c| {
            c.query(
                "SELECT id, name, quotas, created_at FROM tenants ORDER BY id",
                &[],
            )?
            .iter()
            .map(tenant_from)
            .collect()
        })
    }

    pub fn tenant(&self, tenant: &TenantId) -> Result<Tenant> {
        self.db.with_conn(|c| {
            c.query_opt(
                "SELECT id, name, quotas, created_at FROM tenants WHERE id = $1",
                params![tenant.as_str()],
            )?
            .as_ref()
            .map(tenant_from)
            .unwrap_or_else(|| Err(StoreError::NotFound(format!("tenant `{tenant}`"))))
        })
    }

    pub fn set_quotas(&self, tenant: &TenantId, quotas: &Quotas) -> Result<()> {
        let text = serde_json::to_string(quotas).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let n = self.db.with_conn(|c| {
            c.execute(
                "UPDATE tenants SET quotas = $2 WHERE id = $1",
                params![tenant.as_str(), &text],
            )
        })?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("tenant `{tenant}`")));
        }
        Ok(())
    }

    /// Removes the tenant and every row it owns, in one transaction; returns the rows removed.
    pub fn delete_tenant(&self, tenant: &TenantId) -> Result<u64> {
        self.db.transaction(|c| {
            if !exists(
                c,
                "SELECT 1 FROM tenants WHERE id = $1",
                params![tenant.as_str()],
            )? {
                return Err(StoreError::NotFound(format!("tenant `{tenant}`")));
            }
            let mut removed = 0;
            for table in TENANT_TABLES {
                removed += c.execute(
                    &format!("DELETE FROM {table} WHERE tenant_id = $1"),
                    params![tenant.as_str()],
                )?;
            }
            c.execute(
                "DELETE FROM tenants WHERE id = $1",
                params![tenant.as_str()],
            )?;
            c.execute(
                "INSERT INTO retired_ids (kind, tenant_id, id, retired_at) VALUES ('tenant', $1, '', $2)
                 ON CONFLICT DO NOTHING",
                params![tenant.as_str(), &gauntlet_core::time::rfc3339(now_unix_ms())],
            )?;
            Ok(removed + 1)
        })
    }

    // ---- users ----

    pub fn create_user(&self, tenant: &TenantId, user: &User) -> Result<()> {
        self.db.transaction(|c| {
            if exists(
                c,
                "SELECT 1 FROM users WHERE tenant_id = $1 AND (id = $2 OR email = $3)",
                params![tenant.as_str(), &user.id, user.email.as_deref()],
            )? {
                return Err(StoreError::Conflict(format!("user `{}`", user.id)));
            }
            // Created again on purpose: the id belongs to this user now.
            c.execute(
                "DELETE FROM retired_ids WHERE kind = 'user' AND tenant_id = $1 AND id = $2",
                params![tenant.as_str(), &user.id],
            )?;
            c.execute(
                "INSERT INTO users (tenant_id, id, name, email, role, platform_admin, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                params![
                    tenant.as_str(),
                    &user.id,
                    &user.name,
                    user.email.as_deref(),
                    &user.role,
                    user.platform_admin,
                    &user.created_at
                ],
            )?;
            Ok(())
        })
    }

    pub fn list_users(&self, tenant: &TenantId) -> Result<Vec<User>> {
        self.db.with_conn(|c| {
            c.query(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE tenant_id = $1 ORDER BY id"),
                params![tenant.as_str()],
            )?
            .iter()
            .map(user_from)
            .collect()
        })
    }

    pub fn user(&self, tenant: &TenantId, id: &str) -> Result<User> {
        self.db.with_conn(|c| {
            c.query_opt(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE tenant_id = $1 AND id = $2"),
                params![tenant.as_str(), id],
            )?
            .as_ref()
            .map(user_from)
            .unwrap_or_else(|| Err(StoreError::NotFound(format!("user `{id}`"))))
        })
    }

    /// The user with this email, for tokens whose subject is an email address.
    pub fn user_by_email(&self, tenant: &TenantId, email: &str) -> Result<Option<User>> {
        self.db.with_conn(|c| {
            c.query_opt(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE tenant_id = $1 AND email = $2"),
                params![tenant.as_str(), email],
            )?
            .as_ref()
            .map(user_from)
            .transpose()
        })
    }

    /// Changes a user's role; returns the previous one.
    pub fn set_user_role(&self, tenant: &TenantId, id: &str, role: &str) -> Result<String> {
        self.db.transaction(|c| {
            let before = c
                .query_opt(
                    "SELECT role FROM users WHERE tenant_id = $1 AND id = $2",
                    params![tenant.as_str(), id],
                )?
                .ok_or_else(|| StoreError::NotFound(format!("user `{id}`")))?
                .text(0)?;
            c.execute(
                "UPDATE users SET role = $3 WHERE tenant_id = $1 AND id = $2",
                params![tenant.as_str(), id, role],
            )?;
            Ok(before)
        })
    }

    /// Deletes a user and revokes their keys.
    pub fn delete_user(&self, tenant: &TenantId, id: &str, at: &str) -> Result<()> {
        self.db.transaction(|c| {
            let n = c.execute(
                "DELETE FROM users WHERE tenant_id = $1 AND id = $2",
                params![tenant.as_str(), id],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("user `{id}`")));
            }
            c.execute(
                "UPDATE api_keys SET revoked_at = $3
                 WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL",
                params![tenant.as_str(), id, at],
            )?;
            c.execute(
                "INSERT INTO retired_ids (kind, tenant_id, id, retired_at) VALUES ('user', $1, $2, $3)
                 ON CONFLICT DO NOTHING",
                params![tenant.as_str(), id, at],
            )?;
            Ok(())
        })
    }

    /// Whether `id` was a user of the tenant that was deleted (and not created again).
    pub fn is_deleted_user(&self, tenant: &TenantId, id: &str) -> Result<bool> {
        self.db.with_conn(|c| {
            exists(
                c,
                "SELECT 1 FROM retired_ids WHERE kind = 'user' AND tenant_id = $1 AND id = $2",
                params![tenant.as_str(), id],
            )
        })
    }

    // ---- custom roles ----

    /// Creates or replaces a custom role; returns its previous permissions.
    pub fn put_role(&self, tenant: &TenantId, role: &CustomRole) -> Result<Option<Vec<String>>> {
        let perms = serde_json::to_string(&role.permissions)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.db.transaction(|c| {
            let before = c
                .query_opt(
                    "SELECT name, permissions, created_at FROM roles WHERE tenant_id = $1 AND name = $2",
                    params![tenant.as_str(), &role.name],
                )?
                .as_ref()
                .map(role_from)
                .transpose()?;
            if before.is_some() {
                c.execute(
                    "UPDATE roles SET permissions = $3 WHERE tenant_id = $1 AND name = $2",
                    params![tenant.as_str(), &role.name, &perms],
                )?;
            } else {
                c.execute(
                    "INSERT INTO roles (tenant_id, name, permissions, created_at) VALUES ($1, $2, $3, $4)",
                    params![tenant.as_str(), &role.name, &perms, &role.created_at],
                )?;
            }
            Ok(before.map(|r| r.permissions))
        })
    }

    pub fn list_roles(&self, tenant: &TenantId) -> Result<Vec<CustomRole>> {
        self.db.with_conn(|c| {
            c.query(
                "SELECT name, permissions, created_at FROM roles WHERE tenant_id = $1 ORDER BY name",
                params![tenant.as_str()],
            )?
            .iter()
            .map(role_from)
            .collect()
        })
    }

    pub fn role(&self, tenant: &TenantId, name: &str) -> Result<Option<CustomRole>> {
        self.db.with_conn(|c| {
            c.query_opt(
                "SELECT name, permissions, created_at FROM roles WHERE tenant_id = $1 AND name = $2",
                params![tenant.as_str(), name],
            )?
            .as_ref()
            .map(role_from)
            .transpose()
        })
    }

    /// Deletes a custom role no user or live key holds.
    pub fn delete_role(&self, tenant: &TenantId, name: &str) -> Result<Vec<String>> {
        self.db.transaction(|c| {
            let role = c
                .query_opt(
                    "SELECT name, permissions, created_at FROM roles WHERE tenant_id = $1 AND name = $2",
                    params![tenant.as_str(), name],
                )?
                .as_ref()
                .map(role_from)
                .transpose()?
                .ok_or_else(|| StoreError::NotFound(format!("role `{name}`")))?;
            if exists(
                c,
                "SELECT 1 FROM users WHERE tenant_id = $1 AND role = $2
                 UNION ALL SELECT 1 FROM api_keys WHERE tenant_id = $1 AND role = $2 AND revoked_at IS NULL",
                params![tenant.as_str(), name],
            )? {
                return Err(StoreError::Conflict(format!(
                    "role `{name}` is held by users or keys; change them first, so role `{name}`"
                )));
            }
            c.execute(
                "DELETE FROM roles WHERE tenant_id = $1 AND name = $2",
                params![tenant.as_str(), name],
            )?;
            Ok(role.permissions)
        })
    }

    // ---- API keys ----

    pub fn create_key(&self, tenant: &TenantId, key: &ApiKey, secret_hash: &str) -> Result<()> {
        self.db.transaction(|c| {
            if !exists(
                c,
                "SELECT 1 FROM users WHERE tenant_id = $1 AND id = $2",
                params![tenant.as_str(), &key.user_id],
            )? {
                return Err(StoreError::NotFound(format!("user `{}`", key.user_id)));
            }
            c.execute(
                "INSERT INTO api_keys (tenant_id, id, user_id, name, secret_hash, role, created_at, expires_at, issued_by)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                params![
                    tenant.as_str(),
                    &key.id,
                    &key.user_id,
                    &key.name,
                    secret_hash,
                    &key.role,
                    &key.created_at,
                    key.expires_at,
                    key.issued_by.as_deref()
                ],
            )?;
            Ok(())
        })
    }

    pub fn list_keys(&self, tenant: &TenantId) -> Result<Vec<ApiKey>> {
        self.db.with_conn(|c| {
            c.query(
                &format!(
                    "SELECT {KEY_COLUMNS} FROM api_keys k WHERE k.tenant_id = $1 ORDER BY k.created_at, k.id"
                ),
                params![tenant.as_str()],
            )?
            .iter()
            .map(key_from)
            .collect()
        })
    }

    pub fn key(&self, tenant: &TenantId, id: &str) -> Result<ApiKey> {
        self.db.with_conn(|c| {
            c.query_opt(
                &format!(
                    "SELECT {KEY_COLUMNS} FROM api_keys k WHERE k.tenant_id = $1 AND k.id = $2"
                ),
                params![tenant.as_str(), id],
            )?
            .as_ref()
            .map(key_from)
            .unwrap_or_else(|| Err(StoreError::NotFound(format!("API key `{id}`"))))
        })
    }

    /// Revokes a key (idempotent: revoking twice keeps the first time).
    pub fn revoke_key(&self, tenant: &TenantId, id: &str, at: &str) -> Result<ApiKey> {
        self.db.with_conn(|c| {
            c.execute(
                "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $3) WHERE tenant_id = $1 AND id = $2",
                params![tenant.as_str(), id, at],
            )
        })?;
        self.key(tenant, id)
    }

    /// The key with this id and its owner's flags, whatever its tenant; for authentication only.
    pub fn key_for_auth(&self, id: &str) -> Result<Option<KeyRecord>> {
        self.db.with_conn(|c| {
            let Some(row) = c.query_opt(
                &format!(
                    "SELECT {KEY_COLUMNS}, k.tenant_id, k.secret_hash, u.platform_admin, u.role
                     FROM api_keys k JOIN users u ON u.tenant_id = k.tenant_id AND u.id = k.user_id
                     WHERE k.id = $1"
                ),
                params![id],
            )?
            else {
                return Ok(None);
            };
            Ok(Some(KeyRecord {
                key: key_from(&row)?,
                tenant: TenantId::new(row.text(8)?),
                secret_hash: row.text(9)?,
                platform_admin: row.bool(10)?,
                user_role: row.text(11)?,
            }))
        })
    }
}

fn now_unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
