//! `{"run": {...}, "cases": [...], "summary": {...}}`, streamed.

use std::io::{self, Write};

use gauntlet_core::result::{CaseResult, RunRecord};
use serde_json::json;

use crate::{ReportWriter, Summary};

pub struct JsonReport<'a> {
    out: Box<dyn Write + 'a>,
    first: bool,
}

impl<'a> JsonReport<'a> {
    pub fn new(out: Box<dyn Write + 'a>) -> Self {
        JsonReport { out, first: true }
    }
}

fn io_err(e: serde_json::Error) -> io::Error {
    io::Error::other(e)
}

impl ReportWriter for JsonReport<'_> {
    fn begin(&mut self, run: &RunRecord) -> io::Result<()> {
        write!(self.out, "{{\n\"run\": ")?;
        serde_json::to_writer_pretty(&mut self.out, run).map_err(io_err)?;
        write!(self.out, ",\n\"cases\": [")
    }

    fn case(&mut self, case: &CaseResult) -> io::Result<()> {
        if !self.first {
            write!(self.out, ",")?;
        }
        self.first = false;
        writeln!(self.out)?;
        serde_json::to_writer_pretty(&mut self.out, case).map_err(io_err)
    }

    fn end(&mut self, _run: &RunRecord, summary: &Summary) -> io::Result<()> {
        let mut s = summary.clone();
        let summary = json!({
            "pass_rate": s.pass_rate(),
            "latency_ms": { "p50": s.latency_percentile(50.0), "p95": s.latency_percentile(95.0), "p99": s.latency_percentile(99.0) },
            "assertions": s.assertion_types.iter().map(|(k, (p, t))| (k.clone(), json!({"passed": p, "total": t}))).collect::<serde_json::Map<_, _>>(),
            "metrics": s.metrics.iter().map(|(k, (sum, n))| (k.clone(), json!(sum / *n as f64))).collect::<serde_json::Map<_, _>>(),
        });
        let mut summary = summary;
        if let (Some(flakes), Some(obj)) = (s.flakiness(), summary.as_object_mut()) {
            obj.insert("flakiness".into(), json!(flakes));
        }
        if let Some(obj) = summary.as_object_mut() {
            if s.chaos.faults > 0 {
                obj.insert("chaos".into(), json!(s.chaos));
            }
            if s.evaluator_cost_usd > 0.0 {
                obj.insert("evaluator_cost_usd".into(), json!(s.evaluator_cost_usd));
            }
        }
        write!(self.out, "\n],\n\"summary\": ")?;
        serde_json::to_writer_pretty(&mut self.out, &summary).map_err(io_err)?;
        writeln!(self.out, "\n}}")?;
        self.out.flush()
    }
}
