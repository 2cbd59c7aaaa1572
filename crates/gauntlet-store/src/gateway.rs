//! The gateway's shared state: the budget and rate ledger, kill switches and suspensions,
//! usage records, registered agents and keys.
//!
//! A reservation is one conditional upsert per counter, all in one transaction: the counter
//! takes the amount only when `used + held + amount` stays within its limit, so no number of
//! concurrent requests on any number of instances can hold more than the limit. Settling
//! releases the hold and adds what was really used. Counters are taken in a fixed order, so
//! two reservations never wait on each other in a cycle.

pub mod approvals;

use gauntlet_core::ids::TenantId;

use crate::db::{Db, Row};
use crate::{Result, StoreError, params};

/// One counter a request holds an amount on.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Hold {
    pub scope: String,
    pub subject: String,
    /// `tokens:2026-12-07`, `cost:2026-12`, `rpm:<minute>`, `tpm:<minute>`.
    pub period: String,
    pub amount: i64,
    pub limit: i64,
}

/// The counter that refused a reservation, with what it had.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub hold: Hold,
    pub used: i64,
    pub held: i64,
}

/// A budget counter: tenant, scope, subject, period, and what it used.
pub type Counter = (String, String, String, String, i64);

/// A kill switch or a suspension.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Switch {
    /// `*` for the global switch.
    pub tenant: String,
    /// `global`, `tenant`, `agent`.
    pub scope: String,
    pub subject: String,
    /// `killed` (by an administrator) or `suspended` (by anomaly detection).
    pub state: String,
    pub reason: String,
    pub actor: String,
    pub at_ms: i64,
}

/// One request as the gateway saw it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Usage {
    pub request_id: String,
    pub tenant: String,
    pub agent: String,
    pub key_id: String,
    pub model: String,
    pub provider: String,
    pub at_ms: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_micro: i64,
    pub latency_ms: f64,
    pub overhead_us: i64,
    pub status: i64,
    /// `allow`, `deny:<reason>`, `redact`, …
    pub decision: String,
    pub guardrail_hits: i64,
}

/// An agent's figures over a period.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct AgentFigures {
    pub agent: String,
    pub requests: i64,
    pub errors: i64,
    pub denied: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_micro: i64,
    pub guardrail_hits: i64,
    pub latency_p50_ms: f64,
    pub latency_p95_ms: f64,
    pub latency_p99_ms: f64,
}

/// A registered agent.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Agent {
    pub name: String,
    /// `active`, `retired` or `archived`.
    pub state: String,
    pub registered_at: i64,
    pub changed_at: i64,
    pub last_seen: Option<i64>,
}

/// A gateway key stored in the database.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredKey {
    pub id: String,
    pub tenant: TenantId,
    pub agent: String,
    pub secret_sha256: String,
    pub admin: bool,
    pub revoked_at: Option<i64>,
}

#[derive(Clone)]
pub struct GatewayStore {
    db: Db,
}

impl GatewayStore {
    pub fn new(db: Db) -> GatewayStore {
        GatewayStore { db }
    }

    /// Holds every amount, or none: the first counter that would pass its limit refuses.
    pub fn reserve(
        &self,
        tenant: &str,
        holds: &[Hold],
    ) -> Result<std::result::Result<(), Refusal>> {
        let mut sorted: Vec<&Hold> = holds.iter().collect();
        sorted.sort();
        if let Some(h) = sorted.iter().find(|h| h.amount > h.limit) {
            return Ok(Err(Refusal {
                hold: (*h).clone(),
                used: 0,
                held: 0,
            }));
        }
        let outcome = self.db.transaction(|c| {
            for h in &sorted {
                let n = c.execute(
                    "INSERT INTO gateway_ledger (tenant_id, scope, subject, period, used, held) VALUES ($1, $2, $3, $4, 0, $5)
                     ON CONFLICT (tenant_id, scope, subject, period) DO UPDATE SET held = gateway_ledger.held + $5
                     WHERE gateway_ledger.used + gateway_ledger.held + $5 <= $6",
                    params![tenant, h.scope.as_str(), h.subject.as_str(), h.period.as_str(), h.amount, h.limit],
                )?;
                if n == 0 {
                    // Rolls the transaction back; the refusal is read afterwards.
                    return Err(StoreError::Refused(format!("{}\u{0}{}\u{0}{}", h.scope, h.subject, h.period)));
                }
            }
            Ok(())
        });
        match outcome {
            Ok(()) => Ok(Ok(())),
            Err(StoreError::Refused(which)) if which.contains('\u{0}') => {
                let Some(hold) = sorted
                    .iter()
                    .find(|h| format!("{}\u{0}{}\u{0}{}", h.scope, h.subject, h.period) == which)
                else {
                    return Err(StoreError::Corrupt("a refusal names no counter".into()));
                };
                let (used, held) = self.counter(tenant, hold)?;
                Ok(Err(Refusal {
                    hold: (*hold).clone(),
                    used,
                    held,
                }))
            }
            Err(e) => Err(e),
        }
    }

    fn counter(&self, tenant: &str, h: &Hold) -> Result<(i64, i64)> {
        self.db.with_conn(|c| {
            Ok(c
                .query_opt(
                    "SELECT used, held FROM gateway_ledger WHERE tenant_id = $1 AND scope = $2 AND subject = $3 AND period = $4",
                    params![tenant, h.scope.as_str(), h.subject.as_str(), h.period.as_str()],
                )?
                .map(|r| Ok::<_, StoreError>((r.int(0)?, r.int(1)?)))
                .transpose()?
                .unwrap_or((0, 0)))
        })
    }

    /// Releases each hold and adds what was used instead.
    pub fn settle(&self, tenant: &str, settled: &[(Hold, i64)]) -> Result<()> {
        let mut sorted: Vec<&(Hold, i64)> = settled.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        self.db.transaction(|c| {
            for (h, used) in &sorted {
                c.execute(
                    "UPDATE gateway_ledger SET held = held - $5, used = used + $6
                     WHERE tenant_id = $1 AND scope = $2 AND subject = $3 AND period = $4",
                    params![
                        tenant,
                        h.scope.as_str(),
                        h.subject.as_str(),
                        h.period.as_str(),
                        h.amount,
                        *used
                    ],
                )?;
            }
            Ok(())
        })
    }

    /// What a counter has used (settled), for tests and telemetry.
    pub fn used(
        &self,
        tenant: &str,
        scope: &str,
        subject: &str,
        period: &str,
    ) -> Result<(i64, i64)> {
        self.counter(
            tenant,
            &Hold {
                scope: scope.into(),
                subject: subject.into(),
                period: period.into(),
                amount: 0,
                limit: 0,
            },
        )
    }

    /// Budget counters (not rate windows) with what they used, for an instance that keeps
    /// them in memory.
    pub fn budget_counters(&self) -> Result<Vec<Counter>> {
        self.db.with_conn(|c| {
            c.query(
                "SELECT tenant_id, scope, subject, period, used FROM gateway_ledger WHERE period LIKE 'tokens:%' OR period LIKE 'cost:%'",
                &[],
            )?
            .iter()
            .map(|r| Ok((r.text(0)?, r.text(1)?, r.text(2)?, r.text(3)?, r.int(4)?)))
            .collect()
        })
    }

    /// Adds what was used to counters, in one transaction.
    pub fn add_used(&self, rows: &[(String, Hold, i64)]) -> Result<()> {
        self.db.transaction(|c| {
            for (tenant, h, used) in rows {
                c.execute(
                    "INSERT INTO gateway_ledger (tenant_id, scope, subject, period, used, held) VALUES ($1, $2, $3, $4, $5, 0)
                     ON CONFLICT (tenant_id, scope, subject, period) DO UPDATE SET used = gateway_ledger.used + $5",
                    params![tenant.as_str(), h.scope.as_str(), h.subject.as_str(), h.period.as_str(), *used],
                )?;
            }
            Ok(())
        })
    }

    /// Drops rate windows older than `before_minute`.
    pub fn prune_windows(&self, before_minute: i64) -> Result<u64> {
        self.db.with_conn(|c| {
            let mut n = 0;
            for kind in ["rpm", "tpm"] {
                n += c.execute(
                    "DELETE FROM gateway_ledger WHERE period LIKE $1 AND period < $2 AND held = 0",
                    params![format!("{kind}:%"), format!("{kind}:{before_minute:012}")],
                )?;
            }
            Ok(n)
        })
    }

    /// Every switch of every tenant: each gateway instance polls them (the only unscoped read
    /// here, by design; the gateway serves all tenants).
    pub fn switches(&self) -> Result<Vec<Switch>> {
        self.db.with_conn(|c| {
            c.query(
                "SELECT tenant_id, scope, subject, state, reason, actor, at_ms FROM gateway_switches ORDER BY tenant_id, scope, subject",
                &[],
            )?
            .iter()
            .map(switch)
            .collect()
        })
    }

    pub fn set_switch(&self, s: &Switch) -> Result<()> {
        self.db.with_conn(|c| {
            c.execute(
                "INSERT INTO gateway_switches (tenant_id, scope, subject, state, reason, actor, at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (tenant_id, scope, subject) DO UPDATE SET state = $4, reason = $5, actor = $6, at_ms = $7",
                params![s.tenant.as_str(), s.scope.as_str(), s.subject.as_str(), s.state.as_str(), s.reason.as_str(), s.actor.as_str(), s.at_ms],
            )?;
            Ok(())
        })
    }

    /// Clears a switch; false when there was none.
    pub fn clear_switch(&self, tenant: &str, scope: &str, subject: &str) -> Result<Option<Switch>> {
        self.db.transaction(|c| {
            let found = c
                .query_opt(
                    "SELECT tenant_id, scope, subject, state, reason, actor, at_ms FROM gateway_switches WHERE tenant_id = $1 AND scope = $2 AND subject = $3",
                    params![tenant, scope, subject],
                )?
                .as_ref()
                .map(switch)
                .transpose()?;
            c.execute(
                "DELETE FROM gateway_switches WHERE tenant_id = $1 AND scope = $2 AND subject = $3",
                params![tenant, scope, subject],
            )?;
            Ok(found)
        })
    }

    /// Appends usage records in one transaction and marks their agents as seen.
    pub fn record(&self, rows: &[Usage]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        self.db.transaction(|c| {
            for u in rows {
                c.execute(
                    "INSERT INTO gateway_usage (request_id, tenant_id, agent, key_id, model, provider, at_ms, input_tokens, output_tokens, cost_micro, latency_ms, overhead_us, status, decision, guardrail_hits)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) ON CONFLICT (request_id) DO NOTHING",
                    params![u.request_id.as_str(), u.tenant.as_str(), u.agent.as_str(), u.key_id.as_str(), u.model.as_str(), u.provider.as_str(), u.at_ms, u.input_tokens, u.output_tokens, u.cost_micro, u.latency_ms, u.overhead_us, u.status, u.decision.as_str(), u.guardrail_hits],
                )?;
                c.execute(
                    "INSERT INTO gateway_agents (tenant_id, name, state, registered_at, changed_at, last_seen) VALUES ($1, $2, 'active', $3, $3, $3)
                     ON CONFLICT (tenant_id, name) DO UPDATE SET last_seen = $3 WHERE gateway_agents.last_seen IS NULL OR gateway_agents.last_seen < $3",
                    params![u.tenant.as_str(), u.agent.as_str(), u.at_ms],
                )?;
            }
            Ok(())
        })
    }

    /// Usage records of a tenant between two times, oldest first, at most `limit`.
    pub fn usage(
        &self,
        tenant: &TenantId,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> Result<Vec<Usage>> {
        self.db.with_conn(|c| {
            c.query(
                "SELECT request_id, tenant_id, agent, key_id, model, provider, at_ms, input_tokens, output_tokens, cost_micro, latency_ms, overhead_us, status, decision, guardrail_hits
                 FROM gateway_usage WHERE tenant_id = $1 AND at_ms >= $2 AND at_ms < $3 ORDER BY at_ms, request_id LIMIT $4",
                params![tenant.as_str(), from_ms, to_ms, limit],
            )?
            .iter()
            .map(usage)
            .collect()
        })
    }

    /// Per-agent figures of a tenant between two times.
    pub fn figures(
        &self,
        tenant: &TenantId,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<AgentFigures>> {
        let rows = self.db.with_conn(|c| {
            c.query(
                "SELECT agent, status, decision, input_tokens, output_tokens, cost_micro, guardrail_hits, latency_ms
                 FROM gateway_usage WHERE tenant_id = $1 AND at_ms >= $2 AND at_ms < $3 ORDER BY agent",
                params![tenant.as_str(), from_ms, to_ms],
            )
        })?;
        let mut out: Vec<(AgentFigures, Vec<f64>)> = Vec::new();
        for r in &rows {
            let agent = r.text(0)?;
            if out.last().is_none_or(|(f, _)| f.agent != agent) {
                out.push((
                    AgentFigures {
                        agent,
                        ..AgentFigures::default()
                    },
                    Vec::new(),
                ));
            }
            let Some((f, lat)) = out.last_mut() else {
                continue;
            };
            let status = r.int(1)?;
            f.requests += 1;
            if r.text(2)?.starts_with("deny") {
                f.denied += 1;
            } else if status >= 400 {
                f.errors += 1;
            }
            f.input_tokens += r.int(3)?;
            f.output_tokens += r.int(4)?;
            f.cost_micro += r.int(5)?;
            f.guardrail_hits += r.int(6)?;
            lat.push(r.real(7)?);
        }
        Ok(out
            .into_iter()
            .map(|(mut f, mut lat)| {
                lat.sort_by(f64::total_cmp);
                let at = |q: f64| {
                    lat.get(((lat.len() as f64 * q).ceil() as usize).saturating_sub(1))
                        .copied()
                        .unwrap_or(0.0)
                };
                f.latency_p50_ms = at(0.50);
                f.latency_p95_ms = at(0.95);
                f.latency_p99_ms = at(0.99);
                f
            })
            .collect())
    }

    pub fn agents(&self, tenant: &TenantId) -> Result<Vec<Agent>> {
        self.db.with_conn(|c| {
            c.query(
                "SELECT name, state, registered_at, changed_at, last_seen FROM gateway_agents WHERE tenant_id = $1 ORDER BY name",
                params![tenant.as_str()],
            )?
            .iter()
            .map(|r| {
                Ok(Agent {
                    name: r.text(0)?,
                    state: r.text(1)?,
                    registered_at: r.int(2)?,
                    changed_at: r.int(3)?,
                    last_seen: r.opt_int(4)?,
                })
            })
            .collect()
        })
    }

    /// Registers an agent or changes its state (`active`, `retired`, `archived`).
    pub fn set_agent(&self, tenant: &TenantId, name: &str, state: &str, now: i64) -> Result<()> {
        self.db.with_conn(|c| {
            c.execute(
                "INSERT INTO gateway_agents (tenant_id, name, state, registered_at, changed_at) VALUES ($1, $2, $3, $4, $4)
                 ON CONFLICT (tenant_id, name) DO UPDATE SET state = $3, changed_at = $4",
                params![tenant.as_str(), name, state, now],
            )?;
            Ok(())
        })
    }

    pub fn create_key(&self, k: &StoredKey, now: i64) -> Result<()> {
        self.db.with_conn(|c| {
            let n = c.execute(
                "INSERT INTO gateway_keys (id, tenant_id, agent, secret_sha256, admin, created_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
                params![k.id.as_str(), k.tenant.as_str(), k.agent.as_str(), k.secret_sha256.as_str(), k.admin, now],
            )?;
            if n == 0 {
                return Err(StoreError::Conflict(format!("gateway key `{}`", k.id)));
            }
            Ok(())
        })
    }

    /// A key by its public id (unscoped: the tenant is what the key says).
    pub fn key(&self, id: &str) -> Result<Option<StoredKey>> {
        self.db.with_conn(|c| {
            c.query_opt(
                "SELECT id, tenant_id, agent, secret_sha256, admin, revoked_at FROM gateway_keys WHERE id = $1",
                params![id],
            )?
            .map(|r| {
                Ok(StoredKey {
                    id: r.text(0)?,
                    tenant: TenantId::new(&r.text(1)?),
                    agent: r.text(2)?,
                    secret_sha256: r.text(3)?,
                    admin: r.bool(4)?,
                    revoked_at: r.opt_int(5)?,
                })
            })
            .transpose()
        })
    }

    pub fn revoke_key(&self, tenant: &TenantId, id: &str, now: i64) -> Result<bool> {
        Ok(self.db.with_conn(|c| {
            c.execute(
                "UPDATE gateway_keys SET revoked_at = $3 WHERE tenant_id = $1 AND id = $2 AND revoked_at IS NULL",
                params![tenant.as_str(), id, now],
            )
        })? > 0)
    }
}

fn switch(r: &Row) -> Result<Switch> {
    Ok(Switch {
        tenant: r.text(0)?,
        scope: r.text(1)?,
        subject: r.text(2)?,
        state: r.text(3)?,
        reason: r.text(4)?,
        actor: r.text(5)?,
        at_ms: r.int(6)?,
    })
}

fn usage(r: &Row) -> Result<Usage> {
    Ok(Usage {
        request_id: r.text(0)?,
        tenant: r.text(1)?,
        agent: r.text(2)?,
        key_id: r.text(3)?,
        model: r.text(4)?,
        provider: r.text(5)?,
        at_ms: r.int(6)?,
        input_tokens: r.int(7)?,
        output_tokens: r.int(8)?,
        cost_micro: r.int(9)?,
        latency_ms: r.real(10)?,
        overhead_us: r.int(11)?,
        status: r.int(12)?,
        decision: r.text(13)?,
        guardrail_hits: r.int(14)?,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn stores() -> Vec<(tempfile::TempDir, GatewayStore)> {
        let mut out = Vec::new();
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let store = crate::Store::open(&dir.path().join("g.db")).unwrap_or_else(|e| panic!("{e}"));
        out.push((dir, GatewayStore::new(store.db().clone())));
        match crate::db::scratch::postgres("gateway_ledger").unwrap_or_else(|e| panic!("{e}")) {
            Some((_, url)) => {
                let store = crate::Store::open_url(&url).unwrap_or_else(|e| panic!("{e}"));
                let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
                out.push((dir, GatewayStore::new(store.db().clone())));
            }
            None => crate::db::scratch::skipped("gateway ledger"),
        }
        out
    }

    fn hold(amount: i64, limit: i64) -> Hold {
        Hold {
            scope: "agent".into(),
            subject: "bot".into(),
            period: "tokens:2026-12-07".into(),
            amount,
            limit,
        }
    }

    #[test]
    fn reservations_never_pass_the_limit_and_settle_with_real_use() {
        for (_dir, g) in stores() {
            assert_eq!(
                g.reserve("t", &[hold(60, 100)])
                    .unwrap_or_else(|e| panic!("{e}")),
                Ok(())
            );
            let refused = g
                .reserve("t", &[hold(60, 100)])
                .unwrap_or_else(|e| panic!("{e}"));
            let Err(r) = refused else {
                panic!("a second 60 of 100 must be refused")
            };
            assert_eq!((r.used, r.held), (0, 60));
            g.settle("t", &[(hold(60, 100), 25)])
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                g.used("t", "agent", "bot", "tokens:2026-12-07")
                    .unwrap_or_else(|e| panic!("{e}")),
                (25, 0)
            );
            assert_eq!(
                g.reserve("t", &[hold(75, 100)])
                    .unwrap_or_else(|e| panic!("{e}")),
                Ok(())
            );
            // All or nothing: the second counter refuses, the first keeps nothing.
            let other = Hold {
                subject: "other".into(),
                ..hold(10, 100)
            };
            let out = g
                .reserve("t", &[other.clone(), hold(1, 100)])
                .unwrap_or_else(|e| panic!("{e}"));
            assert!(out.is_err());
            assert_eq!(
                g.used("t", "agent", "other", "tokens:2026-12-07")
                    .unwrap_or_else(|e| panic!("{e}")),
                (0, 0)
            );
            // Another tenant's counter is its own.
            assert_eq!(
                g.reserve("u", &[hold(100, 100)])
                    .unwrap_or_else(|e| panic!("{e}")),
                Ok(())
            );
        }
    }

    #[test]
    fn switches_round_trip_and_usage_makes_figures() {
        for (_dir, g) in stores() {
            let s = Switch {
                tenant: "acme".into(),
                scope: "agent".into(),
                subject: "bot".into(),
                state: "killed".into(),
                reason: "runaway".into(),
                actor: "admin".into(),
                at_ms: 1,
            };
            g.set_switch(&s).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                g.switches().unwrap_or_else(|e| panic!("{e}")),
                vec![s.clone()]
            );
            assert_eq!(
                g.clear_switch("acme", "agent", "bot")
                    .unwrap_or_else(|e| panic!("{e}")),
                Some(s)
            );
            assert!(g.switches().unwrap_or_else(|e| panic!("{e}")).is_empty());
            let rows: Vec<Usage> = (0..10)
                .map(|i| Usage {
                    request_id: format!("r{i}"),
                    tenant: "acme".into(),
                    agent: "bot".into(),
                    at_ms: 1000 + i,
                    input_tokens: 10,
                    output_tokens: 5,
                    cost_micro: 7,
                    latency_ms: i as f64,
                    status: if i == 9 { 500 } else { 200 },
                    decision: if i == 8 {
                        "deny:budget".into()
                    } else {
                        "allow".into()
                    },
                    ..Usage::default()
                })
                .collect();
            g.record(&rows).unwrap_or_else(|e| panic!("{e}"));
            g.record(&rows).unwrap_or_else(|e| panic!("{e}"));
            let f = g
                .figures(&TenantId::new("acme"), 0, 10_000)
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(f.len(), 1);
            assert_eq!(
                (f[0].requests, f[0].errors, f[0].denied, f[0].cost_micro),
                (10, 1, 1, 70)
            );
            assert_eq!(f[0].latency_p50_ms, 4.0);
            assert!(
                g.figures(&TenantId::new("other"), 0, 10_000)
                    .unwrap_or_else(|e| panic!("{e}"))
                    .is_empty()
            );
            let agents = g
                .agents(&TenantId::new("acme"))
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(agents[0].last_seen, Some(1009));
        }
    }
}
