//! What a tenant brings besides its suites: the capabilities a platform administrator
//! granted it, its variables and sealed secrets, and its spend per month.

use gauntlet_core::TenantId;
use gauntlet_core::capability::Capabilities;

use crate::db::Db;
use crate::{Result, StoreError, params};

/// A variable (`${NAME}`) or a secret (`${secret:NAME}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ValueKind {
    Variable,
    Secret,
}

impl ValueKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ValueKind::Variable => "variable",
            ValueKind::Secret => "secret",
        }
    }

    fn parse(s: &str) -> Result<ValueKind> {
        match s {
            "variable" => Ok(ValueKind::Variable),
            "secret" => Ok(ValueKind::Secret),
            other => Err(StoreError::Corrupt(format!("value kind `{other}`"))),
        }
    }
}

/// One stored value: for a secret, `value` is the sealed text, never the secret.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredValue {
    pub kind: ValueKind,
    pub name: String,
    pub value: String,
    pub updated_at: String,
    pub updated_by: String,
}

#[derive(Clone)]
pub struct Tenancy {
    db: Db,
}

impl Tenancy {
    pub fn new(db: Db) -> Tenancy {
        Tenancy { db }
    }

    /// The capabilities granted to the tenant; none when nothing was granted.
    pub fn capabilities(&self, tenant: &TenantId) -> Result<Capabilities> {
        let rows = self.db.with_conn(|c| {
            c.query(
                "SELECT grant_json FROM tenant_capabilities WHERE tenant_id = $1",
                params![tenant.as_str()],
            )
        })?;
        match rows.first() {
            None => Ok(Capabilities::none()),
            Some(r) => serde_json::from_str(&r.text(0)?)
                .map_err(|e| StoreError::Corrupt(format!("capabilities of `{tenant}`: {e}"))),
        }
    }

    /// Replaces the tenant's grant.
    pub fn set_capabilities(
        &self,
        tenant: &TenantId,
        caps: &Capabilities,
        by: &str,
        at: &str,
    ) -> Result<()> {
        let json = serde_json::to_string(caps).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.db.with_conn(|c| {
            c.execute(
                "INSERT INTO tenant_capabilities (tenant_id, grant_json, updated_at, updated_by) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (tenant_id) DO UPDATE SET grant_json = excluded.grant_json, updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                params![tenant.as_str(), json.as_str(), at, by],
            )
        })?;
        Ok(())
    }

    /// Every variable and secret of the tenant, by kind and name.
    pub fn values(&self, tenant: &TenantId) -> Result<Vec<StoredValue>> {
        let rows = self.db.with_conn(|c| {
            c.query(
                "SELECT kind, name, value, updated_at, updated_by FROM tenant_values WHERE tenant_id = $1 ORDER BY kind, name",
                params![tenant.as_str()],
            )
        })?;
        rows.iter()
            .map(|r| {
                Ok(StoredValue {
                    kind: ValueKind::parse(&r.text(0)?)?,
                    name: r.text(1)?,
                    value: r.text(2)?,
                    updated_at: r.text(3)?,
                    updated_by: r.text(4)?,
                })
            })
            .collect()
    }

    /// Sets a variable or secret; true when it replaced one.
    pub fn put_value(&self, tenant: &TenantId, v: &StoredValue) -> Result<bool> {
        self.db.transaction(|c| {
            let existed = !c
                .query(
                    "SELECT 1 FROM tenant_values WHERE tenant_id = $1 AND kind = $2 AND name = $3",
                    params![tenant.as_str(), v.kind.as_str(), v.name.as_str()],
                )?
                .is_empty();
            c.execute(
                "INSERT INTO tenant_values (tenant_id, kind, name, value, updated_at, updated_by) VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (tenant_id, kind, name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                params![tenant.as_str(), v.kind.as_str(), v.name.as_str(), v.value.as_str(), v.updated_at.as_str(), v.updated_by.as_str()],
            )?;
            Ok(existed)
        })
    }

    pub fn delete_value(&self, tenant: &TenantId, kind: ValueKind, name: &str) -> Result<()> {
        let n = self.db.with_conn(|c| {
            c.execute(
                "DELETE FROM tenant_values WHERE tenant_id = $1 AND kind = $2 AND name = $3",
                params![tenant.as_str(), kind.as_str(), name],
            )
        })?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("{} `{name}`", kind.as_str())));
        }
        Ok(())
    }

    /// What the tenant's finished runs cost in `month` (`YYYY-MM`).
    pub fn month_spend(&self, tenant: &TenantId, month: &str) -> Result<f64> {
        let rows = self.db.with_conn(|c| {
            c.query(
                "SELECT cost_usd FROM tenant_spend WHERE tenant_id = $1 AND month = $2",
                params![tenant.as_str(), month],
            )
        })?;
        rows.first().map_or(Ok(0.0), |r| r.real(0))
    }
}
