//! Budgets and rate limits as counters: what a request may hold before it is forwarded, and
//! what it really used when it is done.
//!
//! Two ledgers: [`Shared`] keeps the counters in the database, so every gateway instance on
//! it draws from the same budgets (each reservation is one transaction of conditional
//! upserts); [`Local`] keeps them in memory for a single instance and writes what was used
//! to the database once a second, so a restart starts from what was spent.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use gauntlet_core::gateway::Gateway as Config;
use gauntlet_store::StoreError;
use gauntlet_store::gateway::{GatewayStore, Hold, Refusal};

/// What a request asks for before it is forwarded.
#[derive(Clone, Copy, Debug, Default)]
pub struct Ask {
    pub input_tokens: u64,
    pub output_cap: u64,
    /// The worst case's price, in millionths of a dollar.
    pub cost_micro: u64,
}

/// The counters a request holds on: budgets (tokens per day, cost per month) and rate
/// windows (requests and tokens per minute) of its key, agent and tenant.
pub fn holds(
    cfg: &Config,
    key: &str,
    agent: &str,
    tenant: &str,
    ask: Ask,
    now_ms: u64,
) -> Vec<Hold> {
    let date = gauntlet_core::time::rfc3339(now_ms);
    let (day, month) = (&date[..10], &date[..7]);
    let minute = now_ms / 60_000;
    let tokens = (ask.input_tokens + ask.output_cap) as i64;
    let mut out = Vec::new();
    let mut push = |scope: &str, subject: &str, period: String, amount: i64, limit: u64| {
        out.push(Hold {
            scope: scope.into(),
            subject: subject.into(),
            period,
            amount,
            limit: i64::try_from(limit).unwrap_or(i64::MAX),
        });
    };
    for (scope, subject, b) in cfg.budgets.applying(key, agent, tenant) {
        if let Some(limit) = b.tokens_per_day {
            push(
                scope.as_str(),
                subject,
                format!("tokens:{day}"),
                tokens,
                limit,
            );
        }
        if let Some(limit) = b.cost_per_month_micro_usd {
            push(
                scope.as_str(),
                subject,
                format!("cost:{month}"),
                ask.cost_micro as i64,
                limit,
            );
        }
    }
    for (scope, subject, l) in cfg.limits.applying(key, agent, tenant) {
        if let Some(limit) = l.requests_per_minute {
            push(
                scope.as_str(),
                subject,
                format!("rpm:{minute:012}"),
                1,
                limit,
            );
        }
        if let Some(limit) = l.tokens_per_minute {
            push(
                scope.as_str(),
                subject,
                format!("tpm:{minute:012}"),
                tokens,
                limit,
            );
        }
    }
    out
}

/// What a request really used, for each of its holds.
pub fn used(holds: &[Hold], tokens: u64, cost_micro: u64) -> Vec<(Hold, i64)> {
    holds
        .iter()
        .map(|h| {
            let used = if h.period.starts_with("cost:") {
                cost_micro as i64
            } else if h.period.starts_with("rpm:") {
                1
            } else {
                tokens as i64
            };
            (h.clone(), used)
        })
        .collect()
}

pub trait Ledger: Send + Sync {
    fn reserve(&self, tenant: &str, holds: &[Hold]) -> Result<Result<(), Refusal>, StoreError>;
    fn settle(&self, tenant: &str, settled: &[(Hold, i64)]) -> Result<(), StoreError>;
    /// Whether reservations go to the database (then they are called on a blocking thread).
    fn blocking(&self) -> bool;
}

/// Counters in the database, shared by every instance.
pub struct Shared(pub GatewayStore);

impl Ledger for Shared {
    fn reserve(&self, tenant: &str, holds: &[Hold]) -> Result<Result<(), Refusal>, StoreError> {
        self.0.reserve(tenant, holds)
    }
    fn settle(&self, tenant: &str, settled: &[(Hold, i64)]) -> Result<(), StoreError> {
        self.0.settle(tenant, settled)
    }
    fn blocking(&self) -> bool {
        true
    }
}

type Counter = (String, String, String, String);

/// Counters in memory for one instance; what was used is written behind, once a second.
pub struct Local {
    counters: Mutex<HashMap<Counter, (i64, i64)>>,
    unwritten: Mutex<Vec<(String, Hold, i64)>>,
}

impl Local {
    /// Starts from what the database says was used in the current periods.
    pub fn start(store: GatewayStore) -> Result<Arc<Local>, StoreError> {
        let mut counters = HashMap::new();
        for (tenant, scope, subject, period, used) in store.budget_counters()? {
            counters.insert((tenant, scope, subject, period), (used, 0));
        }
        let local = Arc::new(Local {
            counters: Mutex::new(counters),
            unwritten: Mutex::new(Vec::new()),
        });
        let writer = Arc::clone(&local);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
            loop {
                tick.tick().await;
                writer.write_behind(&store).await;
            }
        });
        Ok(local)
    }

    /// Writes what was used since the last call (budgets only; rate windows stay in memory).
    pub async fn write_behind(&self, store: &GatewayStore) {
        let batch = std::mem::take(&mut *self.unwritten.lock().unwrap_or_else(|p| p.into_inner()));
        if batch.is_empty() {
            return;
        }
        let store = store.clone();
        let failed = tokio::task::spawn_blocking(move || match store.add_used(&batch) {
            Ok(()) => None,
            Err(_) => Some(batch),
        })
        .await
        .ok()
        .flatten();
        if let Some(batch) = failed {
            // Kept for the next tick: the counters in memory are right meanwhile.
            self.unwritten
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend(batch);
        }
    }
}

fn counter(tenant: &str, h: &Hold) -> Counter {
    (
        tenant.into(),
        h.scope.clone(),
        h.subject.clone(),
        h.period.clone(),
    )
}

impl Ledger for Local {
    fn reserve(&self, tenant: &str, holds: &[Hold]) -> Result<Result<(), Refusal>, StoreError> {
        let mut counters = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        for h in holds {
            let (used, held) = counters.get(&counter(tenant, h)).copied().unwrap_or((0, 0));
            if used + held + h.amount > h.limit {
                return Ok(Err(Refusal {
                    hold: h.clone(),
                    used,
                    held,
                }));
            }
        }
        for h in holds {
            counters.entry(counter(tenant, h)).or_insert((0, 0)).1 += h.amount;
        }
        Ok(Ok(()))
    }

    fn settle(&self, tenant: &str, settled: &[(Hold, i64)]) -> Result<(), StoreError> {
        let mut counters = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        let mut unwritten = self.unwritten.lock().unwrap_or_else(|p| p.into_inner());
        for (h, used) in settled {
            let c = counters.entry(counter(tenant, h)).or_insert((0, 0));
            c.1 -= h.amount;
            c.0 += used;
            if !(h.period.starts_with("rpm:") || h.period.starts_with("tpm:")) {
                unwritten.push((tenant.to_owned(), h.clone(), *used));
            }
        }
        // Rate windows older than two minutes are forgotten.
        if counters.len() > 4096 {
            let minute = crate::now_ms() / 60_000;
            let keep = format!("{:012}", minute.saturating_sub(2));
            counters.retain(|(_, _, _, p), (_, held)| {
                *held > 0 || !(p.starts_with("rpm:") || p.starts_with("tpm:")) || p[4..] >= *keep
            });
        }
        Ok(())
    }

    fn blocking(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gauntlet_core::gateway::{Budget, RateLimit};

    #[test]
    fn holds_cover_every_applying_scope() {
        let mut cfg = Config::default();
        cfg.budgets.agents.insert(
            "*".into(),
            Budget {
                tokens_per_day: Some(1000),
                cost_per_month_micro_usd: Some(5_000_000),
                max_tokens_per_request: None,
            },
        );
        cfg.limits.tenants.insert(
            "acme".into(),
            RateLimit {
                requests_per_minute: Some(60),
                tokens_per_minute: None,
            },
        );
        let ask = Ask {
            input_tokens: 10,
            output_cap: 90,
            cost_micro: 42,
        };
        // 2026-12-07T16:00:00Z
        let h = holds(&cfg, "k", "bot", "acme", ask, 1_796_659_200_000);
        let names: Vec<String> = h
            .iter()
            .map(|h| format!("{}/{}/{}/{}", h.scope, h.subject, h.period, h.amount))
            .collect();
        assert_eq!(names.len(), 3, "{names:?}");
        assert!(
            names[0].starts_with("agent/bot/tokens:2026-12-") && names[0].ends_with("/100"),
            "{names:?}"
        );
        assert!(
            names[1].starts_with("agent/bot/cost:2026-12/42"),
            "{names:?}"
        );
        assert!(names[2].starts_with("tenant/acme/rpm:"), "{names:?}");
        let u = used(&h, 30, 7);
        assert_eq!(
            u.iter().map(|(_, n)| *n).collect::<Vec<_>>(),
            vec![30, 7, 1]
        );
    }
}
