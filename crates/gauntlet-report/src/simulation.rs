//! Monte Carlo simulation results: a suite run N times with derived seeds, summarised as pass
//! rates with 95% Wilson intervals, contract pass rate, cost and latency distributions and a
//! readiness score; and checks of those numbers against expectations (`--expect FILE`).
//!
//! Readiness is 100 × the lower bound of the 95% Wilson interval of the overall pass rate: the
//! pass rate the evidence supports with 95% confidence, so few trials or flaky cases lower it.

use std::collections::BTreeMap;

use gauntlet_core::result::{CaseResult, CaseStatus};
use gauntlet_stats::{Proportion, Z95, distribution, wilson};
use serde::Serialize;
use serde_json::Value;

#[derive(Default)]
pub struct Simulation {
    cases: BTreeMap<(String, String), (u64, u64)>,
    passed: u64,
    total: u64,
    contract_ok: u64,
    costs: Vec<f64>,
    latencies: Vec<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Rate {
    pub passed: u64,
    pub trials: u64,
    pub rate: f64,
    pub ci95: [f64; 2],
}

impl From<Proportion> for Rate {
    fn from(p: Proportion) -> Rate {
        let r = |x: f64| (x * 1e6).round() / 1e6;
        Rate {
            passed: p.successes,
            trials: p.trials,
            rate: r(p.rate),
            ci95: [r(p.low), r(p.high)],
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Dist {
    pub mean: f64,
    pub p50: f64,
    pub p95: f64,
    pub max: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct CaseRate {
    pub id: String,
    pub target: String,
    #[serde(flatten)]
    pub rate: Rate,
}

#[derive(Clone, Debug, Serialize)]
pub struct SimulationReport {
    pub suite: String,
    pub run_id: String,
    pub seed: u64,
    pub trials: u32,
    pub pass_rate: Rate,
    pub readiness: f64,
    pub contract_pass_rate: Rate,
    pub cost_usd: Dist,
    pub latency_ms: Dist,
    pub cases: Vec<CaseRate>,
}

impl Simulation {
    pub fn add(&mut self, c: &CaseResult) {
        let pass = c.status == CaseStatus::Passed;
        let e = self
            .cases
            .entry((c.id.clone(), c.target.clone()))
            .or_insert((0, 0));
        e.0 += u64::from(pass);
        e.1 += 1;
        self.passed += u64::from(pass);
        self.total += 1;
        let violated = c.steps.iter().any(|s| !s.violations.is_empty())
            || c.reason
                .as_deref()
                .is_some_and(|r| r.starts_with("contract violation"));
        self.contract_ok += u64::from(!violated);
        self.costs.push(c.cost_usd);
        self.latencies.push(c.latency_ms);
    }

    pub fn report(mut self, suite: &str, run_id: &str, seed: u64, trials: u32) -> SimulationReport {
        let dist = |v: &mut Vec<f64>, digits: i32| {
            let d = distribution(v);
            let r = |x: f64| (x * 10f64.powi(digits)).round() / 10f64.powi(digits);
            Dist {
                mean: r(d.mean),
                p50: r(d.p50),
                p95: r(d.p95),
                max: r(d.max),
            }
        };
        let overall = wilson(self.passed, self.total, Z95);
        SimulationReport {
            suite: suite.to_owned(),
            run_id: run_id.to_owned(),
            seed,
            trials,
            readiness: (overall.low * 1000.0).round() / 10.0,
            pass_rate: overall.into(),
            contract_pass_rate: wilson(self.contract_ok, self.total, Z95).into(),
            cost_usd: dist(&mut self.costs, 9),
            latency_ms: dist(&mut self.latencies, 3),
            cases: self
                .cases
                .iter()
                .map(|((id, target), (p, n))| CaseRate {
                    id: id.clone(),
                    target: target.clone(),
                    rate: wilson(*p, *n, Z95).into(),
                })
                .collect(),
        }
    }
}

pub fn render_text(r: &SimulationReport) -> String {
    let pct = |x: f64| format!("{:.1}%", x * 100.0);
    let mut out = format!(
        "simulation of suite {} ({} trials, seed {}, run {})\n  pass rate {} (95% CI {} – {}), {}/{} case-trials\n  readiness {:.1}\n  contract pass rate {} (95% CI {} – {})\n  cost per case  mean ${:.6}  p50 ${:.6}  p95 ${:.6}\n  latency        mean {:.1} ms  p50 {:.1} ms  p95 {:.1} ms  max {:.1} ms\n  cases\n",
        r.suite,
        r.trials,
        r.seed,
        r.run_id,
        pct(r.pass_rate.rate),
        pct(r.pass_rate.ci95[0]),
        pct(r.pass_rate.ci95[1]),
        r.pass_rate.passed,
        r.pass_rate.trials,
        r.readiness,
        pct(r.contract_pass_rate.rate),
        pct(r.contract_pass_rate.ci95[0]),
        pct(r.contract_pass_rate.ci95[1]),
        r.cost_usd.mean,
        r.cost_usd.p50,
        r.cost_usd.p95,
        r.latency_ms.mean,
        r.latency_ms.p50,
        r.latency_ms.p95,
        r.latency_ms.max
    );
    let mut cases: Vec<&CaseRate> = r.cases.iter().collect();
    cases.sort_by(|a, b| a.rate.rate.total_cmp(&b.rate.rate).then(a.id.cmp(&b.id)));
    for c in cases {
        out.push_str(&format!(
            "    {:<28} {:>6} ({} – {})  {}/{}\n",
            format!("{} [{}]", c.id, c.target),
            pct(c.rate.rate),
            pct(c.rate.ci95[0]),
            pct(c.rate.ci95[1]),
            c.rate.passed,
            c.rate.trials
        ));
    }
    out
}

/// Checks a report against expectations, e.g.
///
/// ```yaml
/// pass_rate: { min: 0.9 }
/// readiness: { min: 70 }
/// latency_ms.p95: { max: 300 }
/// cost_usd.mean: { value: 0.00012, tolerance: 0.00002 }
/// cases:
///   refund: { min: 1.0 }          # the case's pass rate (every target)
/// ```
///
/// Metrics are paths into the JSON report (`pass_rate` is `pass_rate.rate`). Returns one line
/// per unmet expectation, or an error for a malformed file.
pub fn check(report: &SimulationReport, expect: &Value) -> Result<Vec<String>, String> {
    let doc = serde_json::to_value(report).map_err(|e| e.to_string())?;
    let Value::Object(expect) = expect else {
        return Err(
            "expectations must be a mapping from metric to { min, max, value, tolerance }".into(),
        );
    };
    let mut failures = Vec::new();
    for (metric, bound) in expect {
        if metric == "cases" {
            let Value::Object(cases) = bound else {
                return Err("`cases` must map case ids to { min, max, value, tolerance }".into());
            };
            for (id, b) in cases {
                let matching: Vec<&CaseRate> =
                    report.cases.iter().filter(|c| &c.id == id).collect();
                if matching.is_empty() {
                    failures.push(format!("case `{id}`: not in the simulation"));
                }
                for c in matching {
                    check_bound(
                        &format!("case `{}` [{}] pass rate", c.id, c.target),
                        c.rate.rate,
                        b,
                        &mut failures,
                    )?;
                }
            }
            continue;
        }
        let mut path = metric.split('.').collect::<Vec<_>>();
        if matches!(path.as_slice(), ["pass_rate"] | ["contract_pass_rate"]) {
            path.push("rate");
        }
        let mut cur = &doc;
        for p in &path {
            cur = cur.get(*p).ok_or_else(|| format!("unknown metric `{metric}`; metrics are paths into the simulation JSON, e.g. pass_rate, readiness, latency_ms.p95"))?;
        }
        let actual = cur
            .as_f64()
            .ok_or_else(|| format!("metric `{metric}` is not a number"))?;
        check_bound(metric, actual, bound, &mut failures)?;
    }
    Ok(failures)
}

fn check_bound(
    what: &str,
    actual: f64,
    bound: &Value,
    failures: &mut Vec<String>,
) -> Result<(), String> {
    let get = |k: &str| bound.get(k).and_then(Value::as_f64);
    if !bound.is_object()
        || bound.as_object().is_some_and(|o| {
            o.keys()
                .any(|k| !["min", "max", "value", "tolerance"].contains(&k.as_str()))
        })
    {
        return Err(format!(
            "expectation for {what} must be {{ min, max, value, tolerance }}"
        ));
    }
    if let Some(min) = get("min")
        && actual + 1e-12 < min
    {
        failures.push(format!(
            "{what} is {actual}, below the expected minimum {min}"
        ));
    }
    if let Some(max) = get("max")
        && actual > max + 1e-12
    {
        failures.push(format!(
            "{what} is {actual}, above the expected maximum {max}"
        ));
    }
    if let Some(value) = get("value") {
        let tolerance = get("tolerance").unwrap_or(0.0);
        if (actual - value).abs() > tolerance + 1e-12 {
            failures.push(format!(
                "{what} is {actual}, expected {value} ± {tolerance}"
            ));
        }
    }
    Ok(())
}
