//! The HTML report (`gauntlet run -o run.html`, `gauntlet report --format html`, the API's
//! `?format=html`): the run page as one self-contained file, stylesheet and script inline,
//! written case by case as the store streams them. Each case opens in place with its graph,
//! waterfall, steps and assertions, exactly as the dashboard shows them.

use std::io::{self, Write};

use gauntlet_core::result::{CaseResult, RunRecord};
use gauntlet_report::{ReportWriter, Summary};
use gauntlet_store::explore::CaseRow;

use crate::format::{badge, short_id};
use crate::pages::{case, run};
use crate::{Chrome, LAYOUT_CLOSE, Nav, esc, layout_open};

pub struct HtmlReport<'a> {
    out: Box<dyn Write + 'a>,
}

impl<'a> HtmlReport<'a> {
    pub fn new(out: Box<dyn Write + 'a>) -> Self {
        HtmlReport { out }
    }
}

/// The report writer for `format`: HTML from here, the others from `gauntlet-report`.
pub fn writer<'a>(
    format: gauntlet_report::Format,
    out: Box<dyn Write + 'a>,
) -> Box<dyn ReportWriter + 'a> {
    if format == gauntlet_report::Format::Html {
        return Box::new(HtmlReport::new(out));
    }
    match gauntlet_report::data_writer(format, out) {
        Some(w) => w,
        // Only HTML has no data writer, and it was answered above.
        None => Box::new(HtmlReport::new(Box::new(std::io::sink()))),
    }
}

impl ReportWriter for HtmlReport<'_> {
    fn begin(&mut self, r: &RunRecord) -> io::Result<()> {
        let chrome = Chrome::standalone();
        let title = format!("{} {}", r.suite, short_id(r.id.as_str()));
        write!(
            self.out,
            r##"{head}<div class="report"><div class="title"><h1>{suite} <code class="sub">{short}</code></h1>{badge}<span class="spacer"></span><span class="sub">Gauntlet report</span></div><section aria-labelledby="cases-h" class="report-cases"><div class="title"><h2 id="cases-h">Cases</h2><nav class="tabs" aria-label="Filter by status" data-status-filter><a href="#" data-show="all" aria-current="true">All</a><a href="#" data-show="not-passed">Failed and errored</a><a href="#" data-show="passed">Passed</a></nav></div><div class="scroll"><table class="cases">{head_row}<tbody>"##,
            head = layout_open(&chrome, Nav::Runs, &title),
            suite = esc(&r.suite),
            short = esc(short_id(r.id.as_str())),
            badge = badge(r.status.as_str()),
            head_row = run::CASE_HEAD,
        )
    }

    fn case(&mut self, c: &CaseResult) -> io::Result<()> {
        let row = CaseRow {
            index: c.index,
            id: c.id.clone(),
            trial: c.trial,
            target: c.target.clone(),
            status: c.status,
            score: c.score,
            reason: c.reason.clone(),
            latency_ms: c.latency_ms,
            cost_usd: c.cost_usd,
            tokens: c.tokens,
        };
        let prefix = format!("c{}-", c.index);
        write!(
            self.out,
            r#"{row}<tr class="case-detail" id="case-{idx}" data-status="{status}" hidden><td colspan="8">{header}{detail}</td></tr>"#,
            row = run::case_row(&row, &format!("#case-{}", c.index)),
            idx = c.index,
            status = c.status.as_str(),
            header = case::header(c),
            detail = case::detail(c, &prefix, None),
        )
    }

    fn end(&mut self, r: &RunRecord, summary: &Summary) -> io::Result<()> {
        let mut summary = summary.clone();
        let stats = summary.stats();
        // Written last (the statistics need every case), shown first.
        write!(
            self.out,
            r#"</tbody></table></div></section><section class="report-summary" aria-label="Summary">{cards}{usage}{types}</section></div>{close}"#,
            cards = run::summary(r, Some(&stats), &serde_json::Value::Null),
            usage = run::usage(&stats),
            types = run::assertion_types(&stats, None),
            close = LAYOUT_CLOSE,
        )?;
        self.out.flush()
    }
}
