//! Requests held for a person's approval, and the zombie alerts already sent.
//!
//! Every state change is a conditional update, so two gateway instances (or two approvers)
//! racing on one approval cannot both win: it is decided once and used once.

use gauntlet_core::ids::TenantId;

use super::GatewayStore;
use crate::db::Row;
use crate::{Result, params};

/// One held request: `pending`, then `approved` or `denied`; an approved one becomes `used`
/// when the request goes through.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Approval {
    pub id: String,
    pub tenant: String,
    pub agent: String,
    pub key_id: String,
    /// SHA-256 of the tenant, agent and body: the same request finds its approval again.
    #[serde(skip)]
    pub digest: String,
    pub model: String,
    pub reason: String,
    /// The request's texts as the provider would see them (PII already replaced).
    pub preview: String,
    pub request_id: String,
    pub state: String,
    pub requested_at: i64,
    pub decided_at: Option<i64>,
    pub decided_by: Option<String>,
    pub note: Option<String>,
}

const COLUMNS: &str = "id, tenant_id, agent, key_id, digest, model, reason, preview, request_id, state, requested_at, decided_at, decided_by, note";

fn approval(r: &Row) -> Result<Approval> {
    Ok(Approval {
        id: r.text(0)?,
        tenant: r.text(1)?,
        agent: r.text(2)?,
        key_id: r.text(3)?,
        digest: r.text(4)?,
        model: r.text(5)?,
        reason: r.text(6)?,
        preview: r.text(7)?,
        request_id: r.text(8)?,
        state: r.text(9)?,
        requested_at: r.int(10)?,
        decided_at: r.opt_int(11)?,
        decided_by: r.opt_text(12)?,
        note: r.opt_text(13)?,
    })
}

/// An agent registered and then silent.
#[derive(Clone, Debug, PartialEq)]
pub struct Silent {
    pub tenant: String,
    pub agent: String,
    pub last_seen: Option<i64>,
}

impl GatewayStore {
    /// The newest approval of this request asked for since `since_ms` that is still pending,
    /// approved and unused, or denied; or files `new` and returns it.
    pub fn approval_for(&self, new: &Approval, since_ms: i64) -> Result<Approval> {
        self.db.transaction(|c| {
            let found = c.query_opt(
                &format!("SELECT {COLUMNS} FROM gateway_approvals WHERE tenant_id = $1 AND agent = $2 AND digest = $3 AND requested_at >= $4 AND state IN ('pending', 'approved', 'denied') ORDER BY requested_at DESC LIMIT 1"),
                params![new.tenant.as_str(), new.agent.as_str(), new.digest.as_str(), since_ms],
            )?;
            if let Some(r) = found {
                return approval(&r);
            }
            c.execute(
                &format!("INSERT INTO gateway_approvals ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', $10, NULL, NULL, NULL)"),
                params![new.id.as_str(), new.tenant.as_str(), new.agent.as_str(), new.key_id.as_str(), new.digest.as_str(), new.model.as_str(), new.reason.as_str(), new.preview.as_str(), new.request_id.as_str(), new.requested_at],
            )?;
            Ok(Approval {
                state: "pending".into(),
                ..new.clone()
            })
        })
    }

    pub fn approval(&self, tenant: &TenantId, id: &str) -> Result<Option<Approval>> {
        self.db.with_conn(|c| {
            c.query_opt(
                &format!(
                    "SELECT {COLUMNS} FROM gateway_approvals WHERE tenant_id = $1 AND id = $2"
                ),
                params![tenant.as_str(), id],
            )?
            .as_ref()
            .map(approval)
            .transpose()
        })
    }

    /// A tenant's approvals, newest first, in one state or all.
    pub fn approvals(
        &self,
        tenant: &TenantId,
        state: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Approval>> {
        self.db.with_conn(|c| {
            c.query(
                &format!("SELECT {COLUMNS} FROM gateway_approvals WHERE tenant_id = $1 AND ($2 = '' OR state = $2) ORDER BY requested_at DESC, id LIMIT $3"),
                params![tenant.as_str(), state.unwrap_or(""), limit],
            )?
            .iter()
            .map(approval)
            .collect()
        })
    }

    /// Approves or denies a pending approval; `None` when there is no such approval or it
    /// was already decided (the current one is returned by [`GatewayStore::approval`]).
    pub fn decide_approval(
        &self,
        tenant: &TenantId,
        id: &str,
        approve: bool,
        actor: &str,
        note: Option<&str>,
        now: i64,
    ) -> Result<Option<Approval>> {
        let state = if approve { "approved" } else { "denied" };
        let n = self.db.with_conn(|c| {
            c.execute(
                "UPDATE gateway_approvals SET state = $3, decided_at = $4, decided_by = $5, note = $6 WHERE tenant_id = $1 AND id = $2 AND state = 'pending'",
                params![tenant.as_str(), id, state, now, actor, note],
            )
        })?;
        if n == 0 {
            return Ok(None);
        }
        self.approval(tenant, id)
    }

    /// Uses an approved approval for the request it covers; false when it was already used.
    pub fn use_approval(&self, tenant: &str, id: &str) -> Result<bool> {
        Ok(self.db.with_conn(|c| {
            c.execute(
                "UPDATE gateway_approvals SET state = 'used' WHERE tenant_id = $1 AND id = $2 AND state = 'approved'",
                params![tenant, id],
            )
        })? > 0)
    }

    /// Active agents last seen (or registered, if never seen) before `before_ms` that were not
    /// reported since; each is claimed, so of several instances only one reports it.
    pub fn claim_silent_agents(&self, before_ms: i64, now: i64) -> Result<Vec<Silent>> {
        self.db.transaction(|c| {
            let rows = c.query(
                "SELECT tenant_id, name, last_seen FROM gateway_agents
                 WHERE state = 'active' AND COALESCE(last_seen, registered_at) < $1
                   AND (zombie_alerted_at IS NULL OR zombie_alerted_at < COALESCE(last_seen, registered_at))
                 ORDER BY tenant_id, name LIMIT 1000",
                params![before_ms],
            )?;
            let mut out = Vec::new();
            for r in &rows {
                let s = Silent {
                    tenant: r.text(0)?,
                    agent: r.text(1)?,
                    last_seen: r.opt_int(2)?,
                };
                let n = c.execute(
                    "UPDATE gateway_agents SET zombie_alerted_at = $3 WHERE tenant_id = $1 AND name = $2
                       AND (zombie_alerted_at IS NULL OR zombie_alerted_at < COALESCE(last_seen, registered_at))",
                    params![s.tenant.as_str(), s.agent.as_str(), now],
                )?;
                if n > 0 {
                    out.push(s);
                }
            }
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(id: &str, at: i64) -> Approval {
        Approval {
            id: id.into(),
            tenant: "t".into(),
            agent: "bot".into(),
            key_id: "k".into(),
            digest: "d1".into(),
            model: "m".into(),
            reason: "refunds need a person".into(),
            preview: "refund order 7".into(),
            request_id: "r1".into(),
            state: String::new(),
            requested_at: at,
            decided_at: None,
            decided_by: None,
            note: None,
        }
    }

    #[test]
    fn an_approval_is_decided_once_and_used_once() {
        for (_dir, g) in super::super::tests::stores() {
            let t = TenantId::new("t");
            let a = g
                .approval_for(&pending("ap1", 1000), 0)
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(a.state, "pending");
            // The same request again finds the same approval.
            let again = g
                .approval_for(&pending("ap2", 1100), 0)
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(again.id, "ap1");
            // Another tenant sees nothing.
            assert_eq!(g.approval(&TenantId::new("u"), "ap1").ok().flatten(), None);
            let decided = g
                .decide_approval(&t, "ap1", true, "key:admin", Some("ok"), 1200)
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(decided.map(|a| a.state), Some("approved".into()));
            assert_eq!(
                g.decide_approval(&t, "ap1", false, "key:other", None, 1300)
                    .ok(),
                Some(None),
                "decided twice"
            );
            assert!(g.use_approval("t", "ap1").unwrap_or_else(|e| panic!("{e}")));
            assert!(!g.use_approval("t", "ap1").unwrap_or_else(|e| panic!("{e}")));
            // Used: the same request asks again.
            let next = g
                .approval_for(&pending("ap3", 1400), 0)
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!((next.id.as_str(), next.state.as_str()), ("ap3", "pending"));
            let listed = g
                .approvals(&t, Some("pending"), 10)
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                listed.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(),
                ["ap3"]
            );
            assert_eq!(g.approvals(&t, None, 10).map(|v| v.len()).ok(), Some(2));
        }
    }

    #[test]
    fn a_silent_agent_is_reported_once_per_silence() {
        for (_dir, g) in super::super::tests::stores() {
            let t = TenantId::new("t");
            g.set_agent(&t, "quiet", "active", 1000)
                .unwrap_or_else(|e| panic!("{e}"));
            g.set_agent(&t, "gone", "retired", 1000)
                .unwrap_or_else(|e| panic!("{e}"));
            let first = g
                .claim_silent_agents(5000, 6000)
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                first.iter().map(|s| s.agent.as_str()).collect::<Vec<_>>(),
                ["quiet"]
            );
            assert_eq!(
                g.claim_silent_agents(5000, 6100).map(|v| v.len()).ok(),
                Some(0)
            );
            // It speaks again, then falls silent again: reported again.
            g.record(&[super::super::Usage {
                request_id: "r".into(),
                tenant: "t".into(),
                agent: "quiet".into(),
                at_ms: 7000,
                ..Default::default()
            }])
            .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                g.claim_silent_agents(5000, 7100).map(|v| v.len()).ok(),
                Some(0)
            );
            assert_eq!(
                g.claim_silent_agents(9000, 9100).map(|v| v.len()).ok(),
                Some(1)
            );
        }
    }
}
