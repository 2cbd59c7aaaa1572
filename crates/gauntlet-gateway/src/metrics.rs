//! The gateway's Prometheus metrics: decisions, tokens, cost and its own overhead.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::State;
use gauntlet_core::result::Tokens;

use crate::Gateway;

/// Upper bounds of the overhead histogram, in seconds.
const BUCKETS: [f64; 9] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25,
];

#[derive(Default)]
pub struct Metrics {
    decisions: Mutex<BTreeMap<String, u64>>,
    input_tokens: AtomicU64,
    output_tokens: AtomicU64,
    cost_micro: AtomicU64,
    buckets: [AtomicU64; 9],
    overhead_count: AtomicU64,
    overhead_sum_us: AtomicU64,
}

impl Metrics {
    pub fn finished(&self, decision: &str, tokens: Tokens, cost_micro: u64, overhead_us: u64) {
        // The decision's class only (`deny:budget`), never anything unbounded.
        let class = decision.split(':').take(2).collect::<Vec<_>>().join(":");
        *self
            .decisions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(class)
            .or_default() += 1;
        self.input_tokens.fetch_add(tokens.input, Ordering::Relaxed);
        self.output_tokens
            .fetch_add(tokens.output, Ordering::Relaxed);
        self.cost_micro.fetch_add(cost_micro, Ordering::Relaxed);
        let s = overhead_us as f64 / 1e6;
        for (b, le) in self.buckets.iter().zip(BUCKETS) {
            if s <= le {
                b.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.overhead_count.fetch_add(1, Ordering::Relaxed);
        self.overhead_sum_us
            .fetch_add(overhead_us, Ordering::Relaxed);
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP gauntlet_gateway_requests_total Requests by the gateway's decision.\n# TYPE gauntlet_gateway_requests_total counter\n");
        for (d, n) in self
            .decisions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            out.push_str(&format!(
                "gauntlet_gateway_requests_total{{decision=\"{d}\"}} {n}\n"
            ));
        }
        out.push_str("# HELP gauntlet_gateway_tokens_total Tokens of forwarded requests.\n# TYPE gauntlet_gateway_tokens_total counter\n");
        out.push_str(&format!(
            "gauntlet_gateway_tokens_total{{type=\"input\"}} {}\n",
            self.input_tokens.load(Ordering::Relaxed)
        ));
        out.push_str(&format!(
            "gauntlet_gateway_tokens_total{{type=\"output\"}} {}\n",
            self.output_tokens.load(Ordering::Relaxed)
        ));
        out.push_str("# HELP gauntlet_gateway_cost_usd_total Cost of forwarded requests.\n# TYPE gauntlet_gateway_cost_usd_total counter\n");
        out.push_str(&format!(
            "gauntlet_gateway_cost_usd_total {}\n",
            self.cost_micro.load(Ordering::Relaxed) as f64 / 1e6
        ));
        out.push_str("# HELP gauntlet_gateway_overhead_seconds Time the gateway adds to a request, upstream excluded.\n# TYPE gauntlet_gateway_overhead_seconds histogram\n");
        for (b, le) in self.buckets.iter().zip(BUCKETS) {
            out.push_str(&format!(
                "gauntlet_gateway_overhead_seconds_bucket{{le=\"{le}\"}} {}\n",
                b.load(Ordering::Relaxed)
            ));
        }
        let count = self.overhead_count.load(Ordering::Relaxed);
        out.push_str(&format!(
            "gauntlet_gateway_overhead_seconds_bucket{{le=\"+Inf\"}} {count}\n"
        ));
        out.push_str(&format!(
            "gauntlet_gateway_overhead_seconds_sum {}\n",
            self.overhead_sum_us.load(Ordering::Relaxed) as f64 / 1e6
        ));
        out.push_str(&format!(
            "gauntlet_gateway_overhead_seconds_count {count}\n"
        ));
        out
    }
}

pub async fn handler(
    State(gw): State<Arc<Gateway>>,
) -> ([(&'static str, &'static str); 1], String) {
    ([("content-type", "text/plain; version=0.0.4")], {
        let mut out = gw.metrics.render();
        if let Some(r) = &gw.recorder {
            out.push_str(&format!(
                    "# HELP gauntlet_gateway_traffic_record_failures_total Recorded exchanges that could not be written.\n# TYPE gauntlet_gateway_traffic_record_failures_total counter\ngauntlet_gateway_traffic_record_failures_total {}\n",
                    r.failures.load(std::sync::atomic::Ordering::Relaxed)
                ));
        }
        out
    })
}
