//! The `performance` assertion: latency percentiles, time to first token, throughput and token
//! efficiency over all trials of a case (`--repeat N`), and regression against the suite's
//! baseline run.
//!
//! Percentiles are by nearest rank. Tokens per second are output tokens over generation time:
//! the model latency after the first token when the provider streamed, the whole latency
//! otherwise. Token efficiency is total tokens spent per word of final output.

use gauntlet_core::evaluators::PerformanceSpec;
use gauntlet_core::result::CaseResult;
use gauntlet_stats::percentile_sorted;
use serde_json::json;

use crate::Outcome;

/// What one trial contributes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Trial {
    pub latency_ms: f64,
    pub ttft_ms: Option<f64>,
    pub output_tokens: u64,
    pub total_tokens: u64,
    pub output_words: usize,
}

impl Trial {
    pub fn of(case: &CaseResult) -> Trial {
        Trial {
            latency_ms: case.latency_ms,
            ttft_ms: case.steps.iter().find_map(|s| s.ttft_ms),
            output_tokens: case.tokens.output,
            total_tokens: case.tokens.total(),
            output_words: case
                .output
                .as_deref()
                .map_or(0, |o| o.split_whitespace().count()),
        }
    }

    fn tokens_per_second(&self) -> Option<f64> {
        let generation = match self.ttft_ms {
            Some(t) if t < self.latency_ms => self.latency_ms - t,
            _ => self.latency_ms,
        };
        (generation > 0.0 && self.output_tokens > 0)
            .then(|| self.output_tokens as f64 / (generation / 1000.0))
    }

    fn tokens_per_word(&self) -> Option<f64> {
        (self.output_words > 0).then(|| self.total_tokens as f64 / self.output_words as f64)
    }
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

/// Evaluates the bounds over `trials`; `baseline` holds the baseline run's trials of the same
/// case and target, when the suite has a baseline.
pub fn evaluate(spec: &PerformanceSpec, trials: &[Trial], baseline: Option<&[Trial]>) -> Outcome {
    let latencies = sorted(trials.iter().map(|t| t.latency_ms).collect());
    let p50 = percentile_sorted(&latencies, 50.0);
    let p95 = percentile_sorted(&latencies, 95.0);
    let p99 = percentile_sorted(&latencies, 99.0);
    let ttfts = sorted(trials.iter().filter_map(|t| t.ttft_ms).collect());
    let ttft_p95 = (!ttfts.is_empty()).then(|| percentile_sorted(&ttfts, 95.0));
    let tps = sorted(trials.iter().filter_map(Trial::tokens_per_second).collect());
    let tps_p50 = (!tps.is_empty()).then(|| percentile_sorted(&tps, 50.0));
    let tpw = sorted(trials.iter().filter_map(Trial::tokens_per_word).collect());
    let tpw_p50 = (!tpw.is_empty()).then(|| percentile_sorted(&tpw, 50.0));

    let mut bounds = 0usize;
    let mut failures: Vec<String> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    let mut at_most = |what: &str, value: Option<f64>, max: Option<f64>, unit: &str| {
        let Some(max) = max else { return };
        bounds += 1;
        match value {
            Some(v) if v <= max => notes.push(format!("{what} {v:.1}{unit} ≤ {max}{unit}")),
            Some(v) => failures.push(format!("{what} {v:.1}{unit} > {max}{unit}")),
            None => failures.push(format!("{what} was not measured")),
        }
    };
    at_most("p50 latency", Some(p50), spec.p50_ms, " ms");
    at_most("p95 latency", Some(p95), spec.p95_ms, " ms");
    at_most("p99 latency", Some(p99), spec.p99_ms, " ms");
    at_most("p95 time to first token", ttft_p95, spec.max_ttft_ms, " ms");
    at_most("tokens per word", tpw_p50, spec.max_tokens_per_word, "");
    if let Some(min) = spec.min_tokens_per_second {
        bounds += 1;
        match tps_p50 {
            Some(v) if v >= min => notes.push(format!("{v:.1} tokens/s ≥ {min}")),
            Some(v) => failures.push(format!("{v:.1} tokens/s < {min}")),
            None => failures.push("tokens per second were not measured".into()),
        }
    }
    let mut baseline_detail = serde_json::Value::Null;
    if let Some(tolerance) = spec.baseline_tolerance {
        match baseline.filter(|b| !b.is_empty()) {
            None => notes.push("no baseline run for this case; regression not checked".into()),
            Some(b) => {
                let base = sorted(b.iter().map(|t| t.latency_ms).collect());
                let (b50, b95) = (
                    percentile_sorted(&base, 50.0),
                    percentile_sorted(&base, 95.0),
                );
                baseline_detail = json!({"p50_ms": b50, "p95_ms": b95, "trials": b.len()});
                for (what, now, then) in [("p50", p50, b50), ("p95", p95, b95)] {
                    bounds += 1;
                    let limit = then * (1.0 + tolerance);
                    if now <= limit + 1e-9 {
                        notes.push(format!(
                            "{what} {now:.1} ms within {:.0} % of baseline {then:.1} ms",
                            tolerance * 100.0
                        ));
                    } else {
                        let slower = if then > 0.0 {
                            (now / then - 1.0) * 100.0
                        } else {
                            f64::INFINITY
                        };
                        failures.push(format!(
                            "{what} {now:.1} ms is {slower:.0} % slower than baseline {then:.1} ms (tolerance {:.0} %)",
                            tolerance * 100.0
                        ));
                    }
                }
            }
        }
    }
    let score = if bounds == 0 {
        1.0
    } else {
        (bounds - failures.len()) as f64 / bounds as f64
    };
    let over = format!(
        "over {} trial{}",
        trials.len(),
        if trials.len() == 1 { "" } else { "s" }
    );
    let reason = if failures.is_empty() {
        format!("{} ({over})", notes.join("; "))
    } else {
        format!("{} ({over})", failures.join("; "))
    };
    Outcome {
        score,
        pass: failures.is_empty(),
        reason,
        details: Some(json!({
            "trials": trials.len(),
            "p50_ms": p50,
            "p95_ms": p95,
            "p99_ms": p99,
            "ttft_p95_ms": ttft_p95,
            "tokens_per_second_p50": tps_p50,
            "tokens_per_word_p50": tpw_p50,
            "baseline": baseline_detail,
        })),
        cost_usd: 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trial(latency_ms: f64) -> Trial {
        Trial {
            latency_ms,
            ttft_ms: Some(latency_ms / 4.0),
            output_tokens: 30,
            total_tokens: 60,
            output_words: 20,
        }
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let trials: Vec<Trial> = (1..=20).map(|i| trial(i as f64 * 10.0)).collect();
        let spec = PerformanceSpec {
            p50_ms: Some(100.0),
            p95_ms: Some(190.0),
            ..PerformanceSpec::default()
        };
        let o = evaluate(&spec, &trials, None);
        assert!(o.pass, "{}", o.reason);
        let d = o.details.unwrap();
        assert_eq!(d["p50_ms"], 100.0);
        assert_eq!(d["p95_ms"], 190.0);
        assert_eq!(d["p99_ms"], 200.0);
        let tight = PerformanceSpec {
            p95_ms: Some(150.0),
            ..PerformanceSpec::default()
        };
        let o = evaluate(&tight, &trials, None);
        assert!(!o.pass);
        assert!(
            o.reason.contains("p95 latency 190.0 ms > 150 ms"),
            "{}",
            o.reason
        );
    }

    #[test]
    fn throughput_ttft_and_efficiency() {
        // 30 tokens over 300 ms of generation (400 ms latency, first token at 100 ms).
        let t = [trial(400.0)];
        let spec = PerformanceSpec {
            min_tokens_per_second: Some(100.0),
            max_ttft_ms: Some(100.0),
            max_tokens_per_word: Some(3.0),
            ..PerformanceSpec::default()
        };
        let o = evaluate(&spec, &t, None);
        assert!(o.pass, "{}", o.reason);
        assert_eq!(o.details.as_ref().unwrap()["tokens_per_second_p50"], 100.0);
        let strict = PerformanceSpec {
            min_tokens_per_second: Some(101.0),
            max_tokens_per_word: Some(2.0),
            ..PerformanceSpec::default()
        };
        let o = evaluate(&strict, &t, None);
        assert!(!o.pass);
        assert_eq!(o.score, 0.0);
    }

    #[test]
    fn regression_against_the_baseline() {
        let spec = PerformanceSpec {
            baseline_tolerance: Some(0.2),
            ..PerformanceSpec::default()
        };
        let base: Vec<Trial> = (0..10).map(|_| trial(100.0)).collect();
        let same: Vec<Trial> = (0..10).map(|_| trial(115.0)).collect();
        assert!(evaluate(&spec, &same, Some(&base)).pass);
        let slow: Vec<Trial> = (0..10).map(|_| trial(150.0)).collect();
        let o = evaluate(&spec, &slow, Some(&base));
        assert!(!o.pass);
        assert!(
            o.reason.contains("50 % slower than baseline 100.0 ms"),
            "{}",
            o.reason
        );
        let o = evaluate(&spec, &slow, None);
        assert!(o.pass && o.reason.contains("no baseline"), "{}", o.reason);
    }
}
