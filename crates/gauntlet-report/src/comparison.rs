//! Comparing the targets of one run (a suite whose `target` is a list): a leaderboard, and for
//! each challenger against the control (the first target) paired significance tests on the
//! same cases and trials: exact McNemar for pass/fail, a seeded paired bootstrap for score, cost
//! and latency. A metric has a winner only when the difference is significant at 95%.

use std::collections::HashMap;

use gauntlet_core::result::{CaseResult, CaseStatus};
use gauntlet_stats::{MeanDifference, Z95, mcnemar_exact, paired_bootstrap, wilson};
use serde::Serialize;

use crate::simulation::Rate;

const RESAMPLES: usize = 2000;
/// Below this many pairs a percentile bootstrap is not credible: no difference is called
/// significant (McNemar is exact and needs no such floor).
pub const MIN_PAIRS: usize = 10;

/// One case-trial of one target: pass, score, cost, latency.
#[derive(Clone, Copy)]
struct Row {
    pass: bool,
    score: f64,
    cost: f64,
    latency: f64,
}

#[derive(Default)]
pub struct Comparison {
    /// Targets in the order first seen (the suite's order, since case 0 runs them in order).
    targets: Vec<String>,
    /// target → (case id, trial) → (pass, score, cost, latency)
    rows: HashMap<String, HashMap<(String, u32), Row>>,
}

#[derive(Clone, Debug, Serialize)]
pub struct TargetStats {
    pub rank: usize,
    pub target: String,
    pub pass_rate: Rate,
    pub mean_score: f64,
    pub mean_cost_usd: f64,
    pub mean_latency_ms: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Diff {
    pub mean: f64,
    pub ci95: [f64; 2],
    pub significant: bool,
}

impl From<MeanDifference> for Diff {
    fn from(d: MeanDifference) -> Diff {
        let r = |x: f64| (x * 1e9).round() / 1e9;
        Diff {
            mean: r(d.mean),
            ci95: [r(d.low), r(d.high)],
            significant: d.significant(),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Versus {
    pub control: String,
    pub challenger: String,
    pub pairs: usize,
    /// Pairs where only the control passed / only the challenger passed.
    pub only_control_passed: u64,
    pub only_challenger_passed: u64,
    /// Exact McNemar p-value of the pass/fail difference.
    pub pass_p_value: f64,
    /// challenger − control
    pub score: Diff,
    pub cost_usd: Diff,
    pub latency_ms: Diff,
}

#[derive(Clone, Debug, Serialize)]
pub struct Winners {
    pub pass_rate: Option<String>,
    pub score: Option<String>,
    pub cost: Option<String>,
    pub latency: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ComparisonReport {
    pub run_id: String,
    pub suite: String,
    pub leaderboard: Vec<TargetStats>,
    pub versus: Vec<Versus>,
    pub winners: Winners,
}

impl Comparison {
    pub fn add(&mut self, c: &CaseResult) {
        if !self.targets.contains(&c.target) {
            self.targets.push(c.target.clone());
        }
        self.rows.entry(c.target.clone()).or_default().insert(
            (c.id.clone(), c.trial),
            Row {
                pass: c.status == CaseStatus::Passed,
                score: c.score,
                cost: c.cost_usd,
                latency: c.latency_ms,
            },
        );
    }

    pub fn targets(&self) -> usize {
        self.targets.len()
    }

    pub fn report(&self, run_id: &str, suite: &str, seed: u64) -> ComparisonReport {
        let stats = |t: &str| {
            let rows: Vec<&Row> = self
                .rows
                .get(t)
                .map(|r| r.values().collect())
                .unwrap_or_default();
            let n = rows.len().max(1) as f64;
            let passed = rows.iter().filter(|r| r.pass).count() as u64;
            TargetStats {
                rank: 0,
                target: t.to_owned(),
                pass_rate: wilson(passed, rows.len() as u64, Z95).into(),
                mean_score: rows.iter().map(|r| r.score).sum::<f64>() / n,
                mean_cost_usd: rows.iter().map(|r| r.cost).sum::<f64>() / n,
                mean_latency_ms: rows.iter().map(|r| r.latency).sum::<f64>() / n,
            }
        };
        let mut leaderboard: Vec<TargetStats> = self.targets.iter().map(|t| stats(t)).collect();
        leaderboard.sort_by(|a, b| {
            b.pass_rate
                .rate
                .total_cmp(&a.pass_rate.rate)
                .then(b.mean_score.total_cmp(&a.mean_score))
                .then(a.mean_cost_usd.total_cmp(&b.mean_cost_usd))
                .then(a.mean_latency_ms.total_cmp(&b.mean_latency_ms))
        });
        for (i, t) in leaderboard.iter_mut().enumerate() {
            t.rank = i + 1;
        }
        let control = self.targets.first().cloned().unwrap_or_default();
        let versus: Vec<Versus> = self
            .targets
            .iter()
            .skip(1)
            .map(|ch| self.versus(&control, ch, seed))
            .collect();
        // With one challenger, winners come from the paired tests; the control wins a metric
        // when the challenger is significantly worse.
        let pick = |better_challenger: Option<bool>, challenger: &str| match better_challenger {
            Some(true) => Some(challenger.to_owned()),
            Some(false) => Some(control.clone()),
            None => None,
        };
        let winners = match versus.as_slice() {
            [v] => Winners {
                pass_rate: pick(
                    (v.pass_p_value < 0.05)
                        .then_some(v.only_challenger_passed > v.only_control_passed),
                    &v.challenger,
                ),
                score: pick(
                    v.score.significant.then_some(v.score.mean > 0.0),
                    &v.challenger,
                ),
                cost: pick(
                    v.cost_usd.significant.then_some(v.cost_usd.mean < 0.0),
                    &v.challenger,
                ),
                latency: pick(
                    v.latency_ms.significant.then_some(v.latency_ms.mean < 0.0),
                    &v.challenger,
                ),
            },
            _ => {
                // Several challengers: a winner only when it beat the control significantly
                // and no other challenger did.
                let only = |f: &dyn Fn(&Versus) -> bool| {
                    let mut w = versus.iter().filter(|v| f(v));
                    match (w.next(), w.next()) {
                        (Some(v), None) => Some(v.challenger.clone()),
                        _ => None,
                    }
                };
                Winners {
                    pass_rate: only(&|v| {
                        v.pass_p_value < 0.05 && v.only_challenger_passed > v.only_control_passed
                    }),
                    score: only(&|v| v.score.significant && v.score.mean > 0.0),
                    cost: only(&|v| v.cost_usd.significant && v.cost_usd.mean < 0.0),
                    latency: only(&|v| v.latency_ms.significant && v.latency_ms.mean < 0.0),
                }
            }
        };
        ComparisonReport {
            run_id: run_id.to_owned(),
            suite: suite.to_owned(),
            leaderboard,
            versus,
            winners,
        }
    }

    fn versus(&self, control: &str, challenger: &str, seed: u64) -> Versus {
        let empty = HashMap::new();
        let a = self.rows.get(control).unwrap_or(&empty);
        let b = self.rows.get(challenger).unwrap_or(&empty);
        let mut keys: Vec<&(String, u32)> = a.keys().filter(|k| b.contains_key(*k)).collect();
        keys.sort();
        let (mut only_a, mut only_b) = (0, 0);
        let (mut ds, mut dc, mut dl) = (Vec::new(), Vec::new(), Vec::new());
        for k in &keys {
            let (x, y) = (a[*k], b[*k]);
            only_a += u64::from(x.pass && !y.pass);
            only_b += u64::from(!x.pass && y.pass);
            ds.push(y.score - x.score);
            dc.push(y.cost - x.cost);
            dl.push(y.latency - x.latency);
        }
        let enough = keys.len() >= MIN_PAIRS;
        let tested = |d: MeanDifference| {
            let mut d: Diff = d.into();
            d.significant &= enough;
            d
        };
        Versus {
            control: control.to_owned(),
            challenger: challenger.to_owned(),
            pairs: keys.len(),
            only_control_passed: only_a,
            only_challenger_passed: only_b,
            pass_p_value: mcnemar_exact(only_a, only_b),
            score: tested(paired_bootstrap(&ds, RESAMPLES, seed)),
            cost_usd: tested(paired_bootstrap(&dc, RESAMPLES, seed ^ 1)),
            latency_ms: tested(paired_bootstrap(&dl, RESAMPLES, seed ^ 2)),
        }
    }
}

pub fn render_text(r: &ComparisonReport) -> String {
    let pct = |x: f64| format!("{:.1}%", x * 100.0);
    let mut out = format!(
        "comparison of {} targets (run {})\n",
        r.leaderboard.len(),
        r.run_id
    );
    out.push_str(&format!(
        "  {:<4} {:<24} {:>26} {:>10} {:>12} {:>12}\n",
        "rank", "target", "pass rate (95% CI)", "score", "cost", "latency"
    ));
    for t in &r.leaderboard {
        out.push_str(&format!(
            "  {:<4} {:<24} {:>26} {:>10.3} {:>12} {:>12}\n",
            t.rank,
            t.target,
            format!(
                "{} ({}–{})",
                pct(t.pass_rate.rate),
                pct(t.pass_rate.ci95[0]),
                pct(t.pass_rate.ci95[1])
            ),
            t.mean_score,
            format!("${:.6}", t.mean_cost_usd),
            format!("{:.1} ms", t.mean_latency_ms)
        ));
    }
    for v in &r.versus {
        let sig = |d: &Diff| {
            if d.significant {
                "significant"
            } else {
                "not significant"
            }
        };
        out.push_str(&format!(
            "  {} vs {} (control), {} paired cases: only control passed {}, only {} passed {}, p = {:.4} (exact McNemar)\n    score {:+.3} [{:+.3}, {:+.3}] {}; cost {:+.6} [{:+.6}, {:+.6}] {}; latency {:+.1} ms [{:+.1}, {:+.1}] {}\n",
            v.challenger,
            v.control,
            v.pairs,
            v.only_control_passed,
            v.challenger,
            v.only_challenger_passed,
            v.pass_p_value,
            v.score.mean,
            v.score.ci95[0],
            v.score.ci95[1],
            sig(&v.score),
            v.cost_usd.mean,
            v.cost_usd.ci95[0],
            v.cost_usd.ci95[1],
            sig(&v.cost_usd),
            v.latency_ms.mean,
            v.latency_ms.ci95[0],
            v.latency_ms.ci95[1],
            sig(&v.latency_ms)
        ));
    }
    if r.versus.iter().any(|v| v.pairs < MIN_PAIRS) {
        out.push_str(&format!("  note: fewer than {MIN_PAIRS} paired cases: score, cost and latency differences are not called significant; add trials with --repeat\n"));
    }
    let w = |x: &Option<String>| {
        x.clone()
            .unwrap_or_else(|| "no significant difference".to_owned())
    };
    out.push_str(&format!(
        "  winners: pass rate {}; score {}; cost {}; latency {}\n",
        w(&r.winners.pass_rate),
        w(&r.winners.score),
        w(&r.winners.cost),
        w(&r.winners.latency)
    ));
    out
}
