//! JUnit XML as CI systems read it: one `<testsuite>`, a `<testcase>` per case; failed cases
//! carry `<failure>`, errored ones `<error>`.

use std::io::{self, Write};

use gauntlet_core::result::{CaseResult, CaseStatus, RunRecord};

use crate::{ReportWriter, Summary, escape_xml};

pub struct JunitReport<'a> {
    out: Box<dyn Write + 'a>,
}

impl<'a> JunitReport<'a> {
    pub fn new(out: Box<dyn Write + 'a>) -> Self {
        JunitReport { out }
    }
}

impl ReportWriter for JunitReport<'_> {
    fn begin(&mut self, run: &RunRecord) -> io::Result<()> {
        let t = &run.totals;
        writeln!(self.out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
        writeln!(
            self.out,
            r#"<testsuites name="gauntlet" tests="{}" failures="{}" errors="{}">"#,
            t.cases, t.failed, t.errored
        )?;
        writeln!(
            self.out,
            r#"  <testsuite name="{}" tests="{}" failures="{}" errors="{}" timestamp="{}">"#,
            escape_xml(&run.suite),
            t.cases,
            t.failed,
            t.errored,
            escape_xml(&run.started_at)
        )?;
        writeln!(self.out, "    <properties>")?;
        for (k, v) in [
            ("run_id", run.id.to_string()),
            ("seed", run.seed.to_string()),
            ("config_hash", run.config_hash.clone()),
        ] {
            writeln!(
                self.out,
                r#"      <property name="{k}" value="{}"/>"#,
                escape_xml(&v)
            )?;
        }
        writeln!(self.out, "    </properties>")
    }

    fn case(&mut self, c: &CaseResult) -> io::Result<()> {
        let name = if c.target.is_empty() {
            c.id.clone()
        } else {
            format!("{} [{}]", c.id, c.target)
        };
        write!(
            self.out,
            r#"    <testcase classname="{}" name="{}" time="{:.3}""#,
            escape_xml(&c.target),
            escape_xml(&name),
            c.latency_ms / 1000.0
        )?;
        let reason = escape_xml(c.reason.as_deref().unwrap_or(""));
        match c.status {
            CaseStatus::Passed => writeln!(self.out, "/>"),
            CaseStatus::Failed | CaseStatus::Error => {
                let tag = if c.status == CaseStatus::Failed {
                    "failure"
                } else {
                    "error"
                };
                writeln!(self.out, ">")?;
                let mut details = String::new();
                for a in c.assertions.iter().filter(|a| !a.pass) {
                    details.push_str(&format!("{}: {}\n", a.kind, a.reason));
                }
                if let Some(o) = &c.output {
                    details.push_str(&format!("output: {o}\n"));
                }
                writeln!(
                    self.out,
                    r#"      <{tag} message="{reason}" type="{}">{}</{tag}>"#,
                    c.status.as_str(),
                    escape_xml(&details)
                )?;
                writeln!(self.out, "    </testcase>")
            }
        }
    }

    fn end(&mut self, _run: &RunRecord, _summary: &Summary) -> io::Result<()> {
        writeln!(self.out, "  </testsuite>\n</testsuites>")?;
        self.out.flush()
    }
}
