//! Prometheus metrics in the text exposition format: requests by route, method and status,
//! request latency, runs by outcome and the queue's workers.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

const BUCKETS: [f64; 11] = [
    0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    total: u64,
}

#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    latency: Mutex<BTreeMap<(String, String), Histogram>>,
    runs: Mutex<BTreeMap<String, u64>>,
    pub busy_workers: AtomicI64,
}

impl Metrics {
    pub fn request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        *self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((method.to_owned(), route.to_owned(), status))
            .or_default() += 1;
        let mut lat = self.latency.lock().unwrap_or_else(|p| p.into_inner());
        let h = lat
            .entry((method.to_owned(), route.to_owned()))
            .or_default();
        for (i, b) in BUCKETS.iter().enumerate() {
            if seconds <= *b {
                h.counts[i] += 1;
            }
        }
        h.sum += seconds;
        h.total += 1;
    }

    pub fn run_finished(&self, outcome: &str) {
        *self
            .runs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(outcome.to_owned())
            .or_default() += 1;
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let esc = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
        out.push_str("# HELP gauntlet_http_requests_total HTTP requests answered.\n# TYPE gauntlet_http_requests_total counter\n");
        for ((m, r, s), n) in self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "gauntlet_http_requests_total{{method=\"{m}\",route=\"{}\",status=\"{s}\"}} {n}",
                esc(r)
            );
        }
        out.push_str("# HELP gauntlet_http_request_duration_seconds Time to answer a request.\n# TYPE gauntlet_http_request_duration_seconds histogram\n");
        for ((m, r), h) in self
            .latency
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let labels = format!("method=\"{m}\",route=\"{}\"", esc(r));
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "gauntlet_http_request_duration_seconds_bucket{{{labels},le=\"{b}\"}} {}",
                    h.counts[i]
                );
            }
            let _ = writeln!(
                out,
                "gauntlet_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                h.total
            );
            let _ = writeln!(
                out,
                "gauntlet_http_request_duration_seconds_sum{{{labels}}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "gauntlet_http_request_duration_seconds_count{{{labels}}} {}",
                h.total
            );
        }
        out.push_str("# HELP gauntlet_runs_finished_total Runs this process finished, by outcome.\n# TYPE gauntlet_runs_finished_total counter\n");
        for (o, n) in self.runs.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = writeln!(out, "gauntlet_runs_finished_total{{outcome=\"{o}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP gauntlet_workers_busy Runs executing in this process.\n# TYPE gauntlet_workers_busy gauge\ngauntlet_workers_busy {}",
            self.busy_workers.load(Ordering::Relaxed)
        );
        out
    }
}
