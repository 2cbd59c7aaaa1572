//! Markdown for pull-request comments: a verdict line, totals, failing cases, statistics.

use std::io::{self, Write};

use gauntlet_core::result::{CaseResult, CaseStatus, RunRecord};

use crate::{ReportWriter, Summary, clip};

pub struct MarkdownReport<'a> {
    out: Box<dyn Write + 'a>,
    failures_header: bool,
}

impl<'a> MarkdownReport<'a> {
    pub fn new(out: Box<dyn Write + 'a>) -> Self {
        MarkdownReport {
            out,
            failures_header: false,
        }
    }
}

/// Escapes table-breaking characters.
fn cell(s: &str) -> String {
    clip(s, 160).replace('|', "\\|")
}

impl ReportWriter for MarkdownReport<'_> {
    fn begin(&mut self, run: &RunRecord) -> io::Result<()> {
        let t = &run.totals;
        let icon = if t.failed + t.errored == 0 {
            "✅"
        } else {
            "❌"
        };
        writeln!(
            self.out,
            "## {icon} Gauntlet: `{}` — {} of {} passed\n",
            run.suite, t.passed, t.cases
        )?;
        writeln!(
            self.out,
            "| run | status | passed | failed | errored | tokens | cost |"
        )?;
        writeln!(self.out, "|---|---|---:|---:|---:|---:|---:|")?;
        writeln!(
            self.out,
            "| `{}` | {} | {} | {} | {} | {} | {} |\n",
            run.id,
            run.status.as_str(),
            t.passed,
            t.failed,
            t.errored,
            t.tokens,
            crate::usd(t.cost_usd)
        )
    }

    fn case(&mut self, c: &CaseResult) -> io::Result<()> {
        if c.status == CaseStatus::Passed {
            return Ok(());
        }
        if !self.failures_header {
            writeln!(self.out, "### Failing cases\n")?;
            writeln!(self.out, "| case | target | status | score | reason |")?;
            writeln!(self.out, "|---|---|---|---:|---|")?;
            self.failures_header = true;
        }
        writeln!(
            self.out,
            "| `{}` | {} | {} | {:.2} | {} |",
            cell(&c.id),
            cell(&c.target),
            c.status.as_str(),
            c.score,
            cell(c.reason.as_deref().unwrap_or(""))
        )
    }

    fn end(&mut self, run: &RunRecord, summary: &Summary) -> io::Result<()> {
        let mut s = summary.clone();
        if self.failures_header {
            writeln!(self.out)?;
        }
        writeln!(
            self.out,
            "**Latency** p50 {:.1} ms · p95 {:.1} ms · p99 {:.1} ms  ",
            s.latency_percentile(50.0),
            s.latency_percentile(95.0),
            s.latency_percentile(99.0)
        )?;
        writeln!(
            self.out,
            "**Seed** {} · **config** `{}`\n",
            run.seed, run.config_hash
        )?;
        if s.chaos.faults > 0 {
            writeln!(
                self.out,
                "**Chaos** {} faults injected in {} cases, {} survived ({})\n",
                s.chaos.faults,
                s.chaos.cases_hit,
                s.chaos.survived,
                s.chaos.kinds()
            )?;
        }
        if !s.fallbacks.is_empty() {
            writeln!(
                self.out,
                "**Fallbacks** {} step(s) served by a fallback provider ({})\n",
                s.fallbacks.values().sum::<u64>(),
                crate::summary::fallback_list(&s.fallbacks)
            )?;
        }
        if !s.assertion_types.is_empty() {
            writeln!(self.out, "<details><summary>Assertions by type</summary>\n")?;
            writeln!(self.out, "| type | passed | total |")?;
            writeln!(self.out, "|---|---:|---:|")?;
            for (k, (p, t)) in &s.assertion_types {
                writeln!(self.out, "| {k} | {p} | {t} |")?;
            }
            writeln!(self.out, "\n</details>")?;
        }
        self.out.flush()
    }
}
