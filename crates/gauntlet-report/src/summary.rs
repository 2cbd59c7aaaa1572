//! Run statistics gathered while cases stream by, in memory bounded by the case count only
//! through one `f64` per case (for exact percentiles).

use std::collections::BTreeMap;

use gauntlet_core::result::{CaseResult, CaseStatus, Totals};

/// Failing cases kept for display.
const KEEP_FAILURES: usize = 10;
/// Slowest cases kept for display.
const KEEP_SLOWEST: usize = 5;

#[derive(Clone, Debug, PartialEq)]
pub struct Listed {
    pub id: String,
    pub target: String,
    pub status: CaseStatus,
    pub latency_ms: f64,
    pub reason: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub totals: Totals,
    latencies: Vec<f64>,
    pub failures: Vec<Listed>,
    pub failures_not_listed: u64,
    pub slowest: Vec<Listed>,
    /// Named metrics: (sum of scores, count).
    pub metrics: BTreeMap<String, (f64, u64)>,
    /// Assertion types: (passed, total).
    pub assertion_types: BTreeMap<String, (u64, u64)>,
    /// With repeated trials: (case id, target) → (passed, trials).
    trials: Option<BTreeMap<(String, String), (u32, u32)>>,
    pub chaos: ChaosSummary,
    /// Steps answered by a fallback provider, by provider name.
    pub fallbacks: BTreeMap<String, u64>,
    /// What evaluators cost (LLM judges), apart from the cases' own cost.
    pub evaluator_cost_usd: f64,
    /// Usage by (agent, model).
    pub usage: BTreeMap<(String, String), gauntlet_core::result::Usage>,
    /// The targets and tags seen (at most [`KEEP_LABELS`] of each).
    pub targets: std::collections::BTreeSet<String>,
    pub tags: std::collections::BTreeSet<String>,
}

/// Distinct targets and tags a summary keeps.
pub const KEEP_LABELS: usize = 500;

/// How cases fared under injected faults.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct ChaosSummary {
    /// Faults injected, in all.
    pub faults: u64,
    /// Faults by kind (`tool_error`, `rate_limit`, …).
    pub by_kind: BTreeMap<String, u64>,
    /// Cases that had at least one fault injected.
    pub cases_hit: u64,
    /// Of those, the cases that still passed.
    pub survived: u64,
}

/// `"backup 3, claude 1"`: steps served by each fallback provider.
pub fn fallback_list(fallbacks: &BTreeMap<String, u64>) -> String {
    fallbacks
        .iter()
        .map(|(p, n)| format!("{p} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl ChaosSummary {
    /// `"latency 5, rate_limit 2"`.
    pub fn kinds(&self) -> String {
        let kinds: Vec<String> = self
            .by_kind
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        kinds.join(", ")
    }
}

/// How a repeated case behaved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stability {
    Flaky,
    StableFail,
    StablePass,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Flake {
    pub id: String,
    pub target: String,
    pub passed: u32,
    pub trials: u32,
    pub class: Stability,
}

fn listed(c: &CaseResult) -> Listed {
    Listed {
        id: c.id.clone(),
        target: c.target.clone(),
        status: c.status,
        latency_ms: c.latency_ms,
        reason: c.reason.clone(),
    }
}

impl Summary {
    /// A summary that also classifies cases run several times (`run --repeat`).
    pub fn with_trials() -> Summary {
        Summary {
            trials: Some(BTreeMap::new()),
            ..Summary::default()
        }
    }

    /// Cases run more than once, flaky first, then stable failures, then stable passes.
    pub fn flakiness(&self) -> Option<Vec<Flake>> {
        let trials = self.trials.as_ref()?;
        let mut out: Vec<Flake> = trials
            .iter()
            .map(|((id, target), (passed, n))| Flake {
                id: id.clone(),
                target: target.clone(),
                passed: *passed,
                trials: *n,
                class: if *passed == *n {
                    Stability::StablePass
                } else if *passed == 0 {
                    Stability::StableFail
                } else {
                    Stability::Flaky
                },
            })
            .collect();
        out.sort_by(|a, b| {
            a.class
                .cmp(&b.class)
                .then(a.id.cmp(&b.id))
                .then(a.target.cmp(&b.target))
        });
        Some(out)
    }

    pub fn add(&mut self, c: &CaseResult) {
        if let Some(t) = self.trials.as_mut() {
            let e = t.entry((c.id.clone(), c.target.clone())).or_insert((0, 0));
            e.0 += u32::from(c.status == CaseStatus::Passed);
            e.1 += 1;
        }
        self.totals.add(c);
        self.latencies.push(c.latency_ms);
        if c.status != CaseStatus::Passed {
            if self.failures.len() < KEEP_FAILURES {
                self.failures.push(listed(c));
            } else {
                self.failures_not_listed += 1;
            }
        }
        if self.slowest.len() < KEEP_SLOWEST
            || self
                .slowest
                .last()
                .is_some_and(|s| c.latency_ms > s.latency_ms)
        {
            self.slowest.push(listed(c));
            self.slowest
                .sort_by(|a, b| b.latency_ms.total_cmp(&a.latency_ms).then(a.id.cmp(&b.id)));
            self.slowest.truncate(KEEP_SLOWEST);
        }
        let faults: Vec<&gauntlet_core::result::Fault> =
            c.steps.iter().flat_map(|s| &s.faults).collect();
        if !faults.is_empty() {
            self.chaos.faults += faults.len() as u64;
            self.chaos.cases_hit += 1;
            self.chaos.survived += u64::from(c.status == CaseStatus::Passed);
            for f in faults {
                *self.chaos.by_kind.entry(f.kind.clone()).or_default() += 1;
            }
        }
        for s in &c.steps {
            if let Some(p) = &s.served_by {
                *self.fallbacks.entry(p.clone()).or_default() += 1;
            }
            let key = (s.agent.clone(), s.model.clone());
            let u = self
                .usage
                .entry(key)
                .or_insert_with(|| gauntlet_core::result::Usage {
                    agent: s.agent.clone(),
                    model: s.model.clone(),
                    ..Default::default()
                });
            u.steps += 1;
            u.model_calls += u64::from(s.model_calls);
            u.tool_calls += s.tool_calls.len() as u64;
            u.tokens.add(s.tokens);
            u.cost_usd += s.cost_usd;
        }
        if self.targets.len() < KEEP_LABELS {
            self.targets.insert(c.target.clone());
        }
        for t in &c.tags {
            if self.tags.len() < KEEP_LABELS {
                self.tags.insert(t.clone());
            }
        }
        for a in &c.assertions {
            self.evaluator_cost_usd += a.cost_usd;
            let t = self.assertion_types.entry(a.kind.clone()).or_default();
            t.1 += 1;
            t.0 += u64::from(a.pass);
            if let Some(m) = &a.metric {
                let e = self.metrics.entry(m.clone()).or_default();
                e.0 += a.score;
                e.1 += 1;
            }
        }
    }

    /// The `p`-th percentile (0–100) of case latency, nearest-rank; 0 without cases.
    pub fn latency_percentile(&mut self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return 0.0;
        }
        self.latencies.sort_by(f64::total_cmp);
        let rank = ((p / 100.0) * self.latencies.len() as f64).ceil().max(1.0) as usize;
        self.latencies[rank.min(self.latencies.len()) - 1]
    }

    /// What is stored with a finished run for its views.
    pub fn stats(&mut self) -> gauntlet_core::result::RunStats {
        use gauntlet_core::result::{AssertionCount, Percentiles, RunStats};
        let latency_ms = Percentiles {
            p50: self.latency_percentile(50.0),
            p90: self.latency_percentile(90.0),
            p95: self.latency_percentile(95.0),
            p99: self.latency_percentile(99.0),
            max: self.latency_percentile(100.0),
        };
        let mut usage: Vec<_> = self.usage.values().cloned().collect();
        usage.sort_by(|a, b| {
            b.cost_usd
                .total_cmp(&a.cost_usd)
                .then(b.steps.cmp(&a.steps))
        });
        RunStats {
            latency_ms,
            usage,
            assertions: self
                .assertion_types
                .iter()
                .map(|(k, (passed, total))| AssertionCount {
                    kind: k.clone(),
                    passed: *passed,
                    total: *total,
                })
                .collect(),
            faults: self
                .chaos
                .by_kind
                .iter()
                .map(|(k, n)| (k.clone(), *n))
                .collect(),
            targets: self.targets.iter().cloned().collect(),
            tags: self.tags.iter().cloned().collect(),
        }
    }

    pub fn pass_rate(&self) -> f64 {
        if self.totals.cases == 0 {
            0.0
        } else {
            self.totals.passed as f64 / self.totals.cases as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut s = Summary {
            latencies: (1..=100).map(f64::from).collect(),
            ..Default::default()
        };
        assert_eq!(s.latency_percentile(50.0), 50.0);
        assert_eq!(s.latency_percentile(95.0), 95.0);
        assert_eq!(s.latency_percentile(100.0), 100.0);
        assert_eq!(Summary::default().latency_percentile(50.0), 0.0);
    }
}
