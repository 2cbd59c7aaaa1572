//! The terminal summary printed after a run.

use std::fmt::Write;

use gauntlet_core::result::{CaseStatus, RunRecord};

use crate::{Summary, clip};

/// ANSI styling, or none.
#[derive(Clone, Copy)]
pub struct Style {
    pub color: bool,
}

impl Style {
    fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_owned()
        }
    }
    pub fn green(&self, s: &str) -> String {
        self.paint("32", s)
    }
    pub fn red(&self, s: &str) -> String {
        self.paint("31", s)
    }
    pub fn yellow(&self, s: &str) -> String {
        self.paint("33", s)
    }
    pub fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }
    pub fn dim(&self, s: &str) -> String {
        self.paint("2", s)
    }
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn status_mark(status: CaseStatus, style: Style) -> String {
    match status {
        CaseStatus::Passed => style.green("✓"),
        CaseStatus::Failed => style.red("✗"),
        CaseStatus::Error => style.yellow("!"),
    }
}

/// The summary block: totals, tokens and cost, latency percentiles, failing and slowest cases.
pub fn render(run: &RunRecord, summary: &Summary, style: Style) -> String {
    let mut s = summary.clone();
    let t = &run.totals;
    let mut out = String::new();
    let verdict = match run.status {
        gauntlet_core::result::RunStatus::Passed => style.green("PASSED"),
        gauntlet_core::result::RunStatus::Cancelled => style.yellow("CANCELLED"),
        _ => style.red("FAILED"),
    };
    let _ = writeln!(
        out,
        "{} suite {} {}",
        verdict,
        style.bold(&run.suite),
        style.dim(&format!("(run {}, seed {})", run.id, run.seed))
    );
    let _ = writeln!(
        out,
        "  {:<9}{:>8}   passed {:<7} failed {:<7} errored {}",
        "cases",
        thousands(t.cases),
        thousands(t.passed),
        thousands(t.failed),
        thousands(t.errored)
    );
    let _ = writeln!(
        out,
        "  {:<9}{:>8}   input {} / output {}",
        "tokens",
        thousands(t.tokens),
        thousands(t.tokens_input),
        thousands(t.tokens_output)
    );
    if s.evaluator_cost_usd > 0.0 {
        let _ = writeln!(
            out,
            "  {:<9}{:>8}   and {} for evaluators (LLM judges)",
            "cost",
            crate::usd(t.cost_usd),
            crate::usd(s.evaluator_cost_usd)
        );
    } else {
        let _ = writeln!(out, "  {:<9}{:>8}", "cost", crate::usd(t.cost_usd));
    }
    let _ = writeln!(
        out,
        "  {:<9}{:>8}   p95 {:.1} ms   p99 {:.1} ms",
        "latency",
        format!("{:.1} ms", s.latency_percentile(50.0)),
        s.latency_percentile(95.0),
        s.latency_percentile(99.0)
    );
    if s.chaos.faults > 0 {
        let _ = writeln!(
            out,
            "  {:<9}{:>8}   faults injected in {} case(s), {} survived ({})",
            "chaos",
            thousands(s.chaos.faults),
            thousands(s.chaos.cases_hit),
            thousands(s.chaos.survived),
            s.chaos.kinds()
        );
    }
    if !s.fallbacks.is_empty() {
        let _ = writeln!(
            out,
            "  {:<9}{:>8}   step(s) served by a fallback provider ({})",
            "fallback",
            thousands(s.fallbacks.values().sum()),
            crate::summary::fallback_list(&s.fallbacks)
        );
    }
    if !s.metrics.is_empty() {
        let list: Vec<String> = s
            .metrics
            .iter()
            .map(|(k, (sum, n))| format!("{k} {:.3}", sum / *n as f64))
            .collect();
        let _ = writeln!(out, "  {:<9}{}", "metrics", list.join("   "));
    }
    if !s.failures.is_empty() {
        let _ = writeln!(out, "{}", style.bold("failing cases"));
        for f in &s.failures {
            let target = if f.target.is_empty() {
                String::new()
            } else {
                style.dim(&format!(" [{}]", f.target))
            };
            let _ = writeln!(
                out,
                "  {} {}{}  {}",
                status_mark(f.status, style),
                f.id,
                target,
                clip(f.reason.as_deref().unwrap_or(""), 160)
            );
        }
        if s.failures_not_listed > 0 {
            let _ = writeln!(
                out,
                "  … and {} more (see `gauntlet report {} --format markdown`)",
                s.failures_not_listed, run.id
            );
        }
    }
    if let Some(flakes) = s.flakiness() {
        let count = |k: crate::summary::Stability| flakes.iter().filter(|f| f.class == k).count();
        use crate::summary::Stability::{Flaky, StableFail, StablePass};
        let _ = writeln!(
            out,
            "{} {} flaky, {} stable-fail, {} stable-pass",
            style.bold("flakiness"),
            count(Flaky),
            count(StableFail),
            count(StablePass)
        );
        for f in flakes.iter().filter(|f| f.class != StablePass).take(20) {
            let mark = if f.class == Flaky {
                style.yellow("~")
            } else {
                style.red("✗")
            };
            let _ = writeln!(
                out,
                "  {mark} {} [{}]  {}/{} passed",
                f.id, f.target, f.passed, f.trials
            );
        }
    }
    if s.totals.cases > 1 && s.slowest.first().is_some_and(|x| x.latency_ms > 0.0) {
        let list: Vec<String> = s
            .slowest
            .iter()
            .map(|x| format!("{} {:.1} ms", x.id, x.latency_ms))
            .collect();
        let _ = writeln!(out, "{} {}", style.bold("slowest"), list.join(", "));
    }
    out
}
