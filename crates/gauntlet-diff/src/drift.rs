//! Drift over the stored history of a suite: shifts in the distributions of scores, latency and
//! cost, and persistent changes of case and graph-node outputs.
//!
//! For each metric every split of the history into "before" and "after" (at least
//! `min_runs` runs on each side) is tested with a two-sided Mann–Whitney U test over the
//! case values; the split with the smallest p-value names the first run where the shift
//! appeared, and the p-value is Bonferroni-adjusted for the number of splits tried. An output
//! drifts when, from some run on, its similarity to the first recorded output stays below the
//! threshold in every later run (a change that stuck, not a flap).

use std::collections::BTreeMap;

use gauntlet_core::result::RunRecord;
use gauntlet_stats::mann_whitney_u;
use serde::Serialize;

use crate::CaseSummary;

#[derive(Clone, Copy, Debug)]
pub struct DriftOptions {
    /// Significance level after correction.
    pub alpha: f64,
    /// Outputs less similar than this (normalised Levenshtein) to the reference have drifted.
    pub min_similarity: f64,
    /// Runs required on each side of a split.
    pub min_runs: usize,
}

impl Default for DriftOptions {
    fn default() -> Self {
        DriftOptions {
            alpha: 0.01,
            min_similarity: 0.8,
            min_runs: 2,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct MetricCheck {
    pub metric: &'static str,
    pub test: String,
    /// Bonferroni-adjusted p-value of the best split (1 when no split could be tested).
    pub p_value: f64,
    pub drifted: bool,
    /// The first run after the best split.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_run: Option<String>,
    pub median_before: f64,
    pub median_after: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct OutputDrift {
    pub id: String,
    pub target: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    pub reference_run: String,
    pub first_run: String,
    /// Similarity to the reference output in the first drifted run.
    pub similarity: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct DriftReport {
    pub suite: String,
    pub runs: Vec<String>,
    pub metrics: Vec<MetricCheck>,
    pub outputs: Vec<OutputDrift>,
}

impl DriftReport {
    pub fn drifted(&self) -> bool {
        self.metrics.iter().any(|m| m.drifted) || !self.outputs.is_empty()
    }
}

/// (case id, target, graph node) of an output series.
type OutputKey = (String, String, Option<String>);

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    if values.is_empty() {
        0.0
    } else {
        values[values.len() / 2]
    }
}

/// Analyses `history`, oldest run first.
pub fn drift(
    suite: &str,
    history: &[(RunRecord, Vec<CaseSummary>)],
    opts: &DriftOptions,
) -> DriftReport {
    let metric = |name: &'static str, get: &dyn Fn(&CaseSummary) -> f64| -> MetricCheck {
        let per_run: Vec<Vec<f64>> = history
            .iter()
            .map(|(_, cases)| cases.iter().map(get).collect())
            .collect();
        let n = per_run.len();
        let splits: Vec<usize> = if n >= 2 * opts.min_runs {
            (opts.min_runs..=n - opts.min_runs).collect()
        } else {
            Vec::new()
        };
        let mut best: Option<(f64, usize)> = None;
        for &k in &splits {
            let a: Vec<f64> = per_run[..k].iter().flatten().copied().collect();
            let b: Vec<f64> = per_run[k..].iter().flatten().copied().collect();
            let p = mann_whitney_u(&a, &b).p_value;
            if best.is_none_or(|(bp, _)| p < bp) {
                best = Some((p, k));
            }
        }
        let test = format!(
            "two-sided Mann–Whitney U (normal approximation, tie-corrected), best of {} splits, Bonferroni-adjusted",
            splits.len()
        );
        match best {
            Some((p, k)) => {
                let adjusted = (p * splits.len() as f64).min(1.0);
                let mut before: Vec<f64> = per_run[..k].iter().flatten().copied().collect();
                let mut after: Vec<f64> = per_run[k..].iter().flatten().copied().collect();
                let drifted = adjusted < opts.alpha;
                MetricCheck {
                    metric: name,
                    test,
                    p_value: adjusted,
                    drifted,
                    first_run: drifted.then(|| history[k].0.id.to_string()),
                    median_before: median(&mut before),
                    median_after: median(&mut after),
                }
            }
            None => MetricCheck {
                metric: name,
                test,
                p_value: 1.0,
                drifted: false,
                first_run: None,
                median_before: 0.0,
                median_after: 0.0,
            },
        }
    };
    let metrics = vec![
        metric("score", &|c| c.score),
        metric("latency_ms", &|c| c.latency_ms),
        metric("cost_usd", &|c| c.cost_usd),
    ];

    // Output series per (case, target, node): (run index, output).
    let mut series: BTreeMap<OutputKey, Vec<(usize, String)>> = BTreeMap::new();
    for (i, (_, cases)) in history.iter().enumerate() {
        for c in cases {
            if let Some(o) = &c.output {
                series
                    .entry((c.id.clone(), c.target.clone(), None))
                    .or_default()
                    .push((i, o.clone()));
            }
            for (node, out) in &c.nodes {
                series
                    .entry((c.id.clone(), c.target.clone(), Some(node.clone())))
                    .or_default()
                    .push((i, out.clone()));
            }
        }
    }
    let mut outputs = Vec::new();
    for ((id, target, node), points) in series {
        let Some((ref_run, reference)) = points.first() else {
            continue;
        };
        let sims: Vec<f64> = points
            .iter()
            .map(|(_, o)| strsim::normalized_levenshtein(reference, o))
            .collect();
        // The earliest position from which every later output stays dissimilar.
        let mut first = None;
        for k in (1..sims.len()).rev() {
            if sims[k] < opts.min_similarity {
                first = Some(k);
            } else {
                break;
            }
        }
        // A change must hold for `min_runs` runs to count, so one flap in the latest run does not.
        if let Some(k) = first.filter(|k| sims.len() - k >= opts.min_runs) {
            outputs.push(OutputDrift {
                id,
                target,
                node,
                reference_run: history[*ref_run].0.id.to_string(),
                first_run: history[points[k].0].0.id.to_string(),
                similarity: (sims[k] * 1000.0).round() / 1000.0,
            });
        }
    }
    DriftReport {
        suite: suite.to_owned(),
        runs: history.iter().map(|(r, _)| r.id.to_string()).collect(),
        metrics,
        outputs,
    }
}

pub fn render_text(r: &DriftReport) -> String {
    let mut out = format!(
        "drift of suite {} over {} runs ({} … {})\n",
        r.suite,
        r.runs.len(),
        r.runs.first().map_or("-", String::as_str),
        r.runs.last().map_or("-", String::as_str)
    );
    for m in &r.metrics {
        let verdict = if m.drifted { "DRIFT" } else { "stable" };
        out.push_str(&format!(
            "  {:<11} {:<7} p = {:.3e}  median {:.6} → {:.6}",
            m.metric, verdict, m.p_value, m.median_before, m.median_after
        ));
        if let Some(run) = &m.first_run {
            out.push_str(&format!("  from run {run}"));
        }
        out.push('\n');
    }
    if let Some(m) = r.metrics.first() {
        out.push_str(&format!("  test: {}\n", m.test));
    }
    if r.outputs.is_empty() {
        out.push_str("  outputs: no persistent change\n");
    } else {
        out.push_str(&format!(
            "  outputs: {} changed and stayed changed\n",
            r.outputs.len()
        ));
        for o in &r.outputs {
            let node = o
                .node
                .as_ref()
                .map(|n| format!(" node {n}"))
                .unwrap_or_default();
            out.push_str(&format!(
                "    {} [{}]{node}: similarity {:.3} to run {} from run {}\n",
                o.id, o.target, o.similarity, o.reference_run, o.first_run
            ));
        }
    }
    out
}
