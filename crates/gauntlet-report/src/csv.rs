//! One row per case (RFC 4180 quoting).

use std::io::{self, Write};

use gauntlet_core::result::{CaseResult, RunRecord};

use crate::{ReportWriter, Summary};

pub struct CsvReport<'a> {
    out: Box<dyn Write + 'a>,
    run_id: String,
}

impl<'a> CsvReport<'a> {
    pub fn new(out: Box<dyn Write + 'a>) -> Self {
        CsvReport {
            out,
            run_id: String::new(),
        }
    }
}

fn field(s: &str) -> String {
    // Cells starting with formula characters are prefixed so spreadsheets do not execute them.
    let s = if s.starts_with(['=', '+', '-', '@']) && s.parse::<f64>().is_err() {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

impl ReportWriter for CsvReport<'_> {
    fn begin(&mut self, run: &RunRecord) -> io::Result<()> {
        self.run_id = run.id.to_string();
        writeln!(
            self.out,
            "run_id,case_id,target,status,score,latency_ms,tokens_input,tokens_output,cost_usd,assertions_passed,assertions_total,reason,output"
        )
    }

    fn case(&mut self, c: &CaseResult) -> io::Result<()> {
        let passed = c.assertions.iter().filter(|a| a.pass).count();
        writeln!(
            self.out,
            "{},{},{},{},{:.4},{:.1},{},{},{:.6},{},{},{},{}",
            field(&self.run_id),
            field(&c.id),
            field(&c.target),
            c.status.as_str(),
            c.score,
            c.latency_ms,
            c.tokens.input,
            c.tokens.output,
            c.cost_usd,
            passed,
            c.assertions.len(),
            field(c.reason.as_deref().unwrap_or("")),
            field(c.output.as_deref().unwrap_or(""))
        )
    }

    fn end(&mut self, _run: &RunRecord, _summary: &Summary) -> io::Result<()> {
        self.out.flush()
    }
}
