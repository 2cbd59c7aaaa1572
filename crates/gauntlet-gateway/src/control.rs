//! Kill switches and suspensions, anomaly detection and loop detection.
//!
//! Switches live in the database; every instance reads them all every 250 ms, so a switch
//! flipped anywhere stops traffic everywhere within a second, and an instance that flips one
//! sees it at once. Anomalies are judged per agent and window against a baseline learnt from
//! the agent's own earlier windows (an exponentially weighted mean); an anomalous window
//! suspends the agent when the configuration says so.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use gauntlet_core::gateway::Anomaly as Settings;
use gauntlet_store::gateway::{GatewayStore, Switch};

pub const POLL: Duration = Duration::from_millis(250);

#[derive(Default)]
pub struct Switches {
    by_key: RwLock<HashMap<(String, String, String), Switch>>,
    /// Whether the last read of the database failed (the gateway then refuses: it cannot
    /// know whether a switch was flipped).
    stale: std::sync::atomic::AtomicBool,
}

impl Switches {
    /// The switch that stops a request of `agent` in `tenant`, if any: global first.
    pub fn stopping(&self, tenant: &str, agent: &str) -> Option<Switch> {
        let map = self.by_key.read().unwrap_or_else(|p| p.into_inner());
        [
            ("*", "global", "*"),
            (tenant, "tenant", tenant),
            (tenant, "agent", agent),
        ]
        .iter()
        .find_map(|(t, s, n)| map.get(&((*t).into(), (*s).into(), (*n).into())).cloned())
    }

    pub fn is_stale(&self) -> bool {
        self.stale.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn all(&self) -> Vec<Switch> {
        self.by_key
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    fn replace(&self, all: Vec<Switch>) {
        let map = all
            .into_iter()
            .map(|s| ((s.tenant.clone(), s.scope.clone(), s.subject.clone()), s))
            .collect();
        *self.by_key.write().unwrap_or_else(|p| p.into_inner()) = map;
    }

    /// Records a switch locally at once (the database already has it).
    pub fn put(&self, s: Switch) {
        self.by_key
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert((s.tenant.clone(), s.scope.clone(), s.subject.clone()), s);
    }

    pub fn remove(&self, tenant: &str, scope: &str, subject: &str) {
        self.by_key
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&(tenant.into(), scope.into(), subject.into()));
    }

    /// Reads the database's switches now, then every [`POLL`].
    pub async fn follow(self: Arc<Self>, store: GatewayStore) {
        loop {
            let s = store.clone();
            match tokio::task::spawn_blocking(move || s.switches()).await {
                Ok(Ok(all)) => {
                    self.replace(all);
                    self.stale
                        .store(false, std::sync::atomic::Ordering::Relaxed);
                }
                _ => self.stale.store(true, std::sync::atomic::Ordering::Relaxed),
            }
            tokio::time::sleep(POLL).await;
        }
    }

    pub fn load(&self, store: &GatewayStore) -> Result<(), gauntlet_store::StoreError> {
        self.replace(store.switches()?);
        Ok(())
    }
}

/// Reports agents silent past `zombies.silent_after_seconds`, once per silence (claimed in
/// the database, so of several instances one reports each), until the gateway is dropped.
pub async fn sweep_zombies(gw: std::sync::Weak<crate::Gateway>) {
    loop {
        let Some(g) = gw.upgrade() else { return };
        let silent_ms = g.cfg.zombies.silent_after_seconds.saturating_mul(1000);
        let every = Duration::from_millis((silent_ms / 4).clamp(250, 60_000));
        let (store, now) = (g.store.clone(), crate::now_ms() as i64);
        let claimed = tokio::task::spawn_blocking(move || {
            store.claim_silent_agents(now - silent_ms as i64, now)
        })
        .await;
        if let Ok(Ok(silent)) = claimed {
            for s in silent {
                let since = s.last_seen.map_or_else(
                    || "never seen since it was registered".to_owned(),
                    |t| format!("silent for {} s", (now - t) / 1000),
                );
                let mut e = gauntlet_audit::NewEvent::new(
                    &s.tenant,
                    "gauntlet.zombie",
                    "gateway.zombie",
                    format!("agent:{}", s.agent),
                );
                e.reason = Some(since.clone());
                g.audit.send(e);
                g.alert(serde_json::json!({
                    "alert": "agent_silent", "tenant": s.tenant, "agent": s.agent,
                    "last_seen": s.last_seen, "reason": since,
                }));
            }
        }
        drop(g);
        tokio::time::sleep(every).await;
    }
}

/// One agent's window and baseline.
#[derive(Default)]
struct Track {
    window: u64,
    requests: f64,
    errors: f64,
    cost: f64,
    baseline: [f64; 3],
    learnt: u32,
    tools: HashSet<String>,
    last_request: u64,
    repeats: u32,
    flagged: bool,
}

/// What made a window anomalous.
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    pub metric: &'static str,
    pub value: f64,
    pub baseline: f64,
}

impl Finding {
    pub fn describe(&self) -> String {
        if self.metric == "tool" {
            return "a tool the agent has never used before".into();
        }
        format!(
            "{} {:.0} in the window against a baseline of {:.1}",
            self.metric.replace('_', " "),
            self.value,
            self.baseline
        )
    }
}

#[derive(Default)]
pub struct Detector {
    agents: Mutex<HashMap<(String, String), Track>>,
}

impl Detector {
    /// Counts a request before it is forwarded: the same request repeated `repeat_limit`
    /// times in a row is a loop (`Some(count)`).
    pub fn repeat(&self, tenant: &str, agent: &str, digest: u64, repeat_limit: u32) -> Option<u32> {
        let mut map = self.agents.lock().unwrap_or_else(|p| p.into_inner());
        let t = map.entry((tenant.into(), agent.into())).or_default();
        if t.last_request == digest {
            t.repeats += 1;
        } else {
            t.last_request = digest;
            t.repeats = 1;
        }
        (t.repeats >= repeat_limit).then_some(t.repeats)
    }

    #[allow(clippy::too_many_arguments)]
    /// Counts a finished request and says whether its window became anomalous (once per
    /// window), or whether it used a tool never seen after the baseline was learnt.
    pub fn observe(
        &self,
        s: &Settings,
        tenant: &str,
        agent: &str,
        now_ms: u64,
        error: bool,
        cost_micro: u64,
        tools: &[String],
    ) -> Option<Finding> {
        if !s.enabled {
            return None;
        }
        let window = now_ms / (s.window_seconds * 1000).max(1);
        let mut map = self.agents.lock().unwrap_or_else(|p| p.into_inner());
        let t = map.entry((tenant.into(), agent.into())).or_default();
        if t.window != window {
            if t.window != 0 && !t.flagged {
                // Windows with no traffic in between count as zero.
                let gap = window.saturating_sub(t.window).saturating_sub(1).min(100);
                let current = [t.requests, t.errors, t.cost];
                for (b, c) in t.baseline.iter_mut().zip(current) {
                    let mut v = if t.learnt == 0 { c } else { 0.7 * *b + 0.3 * c };
                    for _ in 0..gap {
                        v *= 0.7;
                    }
                    *b = v;
                }
                t.learnt += 1 + gap as u32;
            }
            t.window = window;
            (t.requests, t.errors, t.cost) = (0.0, 0.0, 0.0);
            t.flagged = false;
        }
        t.requests += 1.0;
        t.errors += f64::from(u8::from(error));
        t.cost += cost_micro as f64;
        let learning = t.learnt < s.learn_windows;
        let mut finding = None;
        for name in tools {
            if !t.tools.contains(name) {
                if !learning && finding.is_none() {
                    finding = Some(Finding {
                        metric: "tool",
                        value: 0.0,
                        baseline: 0.0,
                    });
                }
                t.tools.insert(name.clone());
            }
        }
        if learning || t.flagged {
            return finding;
        }
        let checks = [
            ("requests", t.requests, t.baseline[0], s.min_requests as f64),
            (
                "errors",
                t.errors,
                t.baseline[1],
                s.min_requests as f64 / 2.0,
            ),
            ("cost_micro_usd", t.cost, t.baseline[2], 1.0),
        ];
        for (metric, value, baseline, floor) in checks {
            if value >= floor && value > s.factor * baseline.max(1.0) {
                t.flagged = true;
                return Some(Finding {
                    metric,
                    value,
                    baseline,
                });
            }
        }
        finding
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spike_over_the_learnt_baseline_is_found_once_per_window() {
        let s = Settings {
            window_seconds: 1,
            learn_windows: 3,
            factor: 4.0,
            min_requests: 10,
            ..Settings::default()
        };
        let d = Detector::default();
        // Five quiet windows of 5 requests each.
        for w in 1..=5u64 {
            for _ in 0..5 {
                assert_eq!(
                    d.observe(&s, "t", "bot", w * 1000, false, 0, &["search".into()]),
                    None
                );
            }
        }
        // Then a burst.
        let found: Vec<Finding> = (0..50)
            .filter_map(|_| d.observe(&s, "t", "bot", 6000, false, 0, &[]))
            .collect();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].metric, "requests");
        assert_eq!(found[0].value, 21.0);
        // A tool never seen after learning.
        assert_eq!(
            d.observe(&s, "t", "bot", 7000, false, 0, &["delete_all".into()])
                .map(|f| f.metric),
            Some("tool")
        );
        // Another agent has its own baseline.
        assert_eq!(d.observe(&s, "t", "other", 6000, false, 0, &[]), None);
    }

    #[test]
    fn the_same_request_repeated_is_a_loop() {
        let d = Detector::default();
        assert_eq!(d.repeat("t", "a", 7, 3), None);
        assert_eq!(d.repeat("t", "a", 7, 3), None);
        assert_eq!(d.repeat("t", "a", 7, 3), Some(3));
        assert_eq!(d.repeat("t", "a", 8, 3), None);
    }
}
