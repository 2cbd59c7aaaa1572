//! A single self-contained HTML page (inline CSS and a few lines of script, no network).

use std::io::{self, Write};

use gauntlet_core::result::{CaseResult, RunRecord};

use crate::{ReportWriter, Summary, clip, escape_xml as esc};

pub struct HtmlReport<'a> {
    out: Box<dyn Write + 'a>,
}

impl<'a> HtmlReport<'a> {
    pub fn new(out: Box<dyn Write + 'a>) -> Self {
        HtmlReport { out }
    }
}

const STYLE: &str = r#"
:root { --ok:#1a7f37; --bad:#cf222e; --err:#9a6700; --bg:#fff; --fg:#1f2328; --mute:#656d76; --line:#d0d7de; --code:#f6f8fa; }
@media (prefers-color-scheme: dark) { :root { --bg:#0d1117; --fg:#e6edf3; --mute:#8d96a0; --line:#30363d; --code:#161b22; } }
body { font: 14px/1.5 system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; padding: 0 1rem; background: var(--bg); color: var(--fg); }
h1 { font-size: 1.4rem; margin-bottom: .2rem; } .mute { color: var(--mute); }
.cards { display: flex; gap: .8rem; flex-wrap: wrap; margin: 1rem 0; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: .6rem 1rem; min-width: 7rem; }
.card b { display: block; font-size: 1.3rem; }
table { border-collapse: collapse; width: 100%; } td, th { border-bottom: 1px solid var(--line); padding: .35rem .5rem; text-align: left; vertical-align: top; }
.passed { color: var(--ok); } .failed { color: var(--bad); } .error { color: var(--err); }
pre { background: var(--code); padding: .5rem; border-radius: 6px; white-space: pre-wrap; word-break: break-word; margin: .3rem 0; }
details summary { cursor: pointer; } .filters button { margin-right: .4rem; }
"#;

const SCRIPT: &str = r#"
function show(kind) {
  document.querySelectorAll('tr.case').forEach(function (r) {
    r.style.display = (kind === 'all' || r.dataset.status === kind || (kind === 'not-passed' && r.dataset.status !== 'passed')) ? '' : 'none';
  });
}
"#;

impl ReportWriter for HtmlReport<'_> {
    fn begin(&mut self, run: &RunRecord) -> io::Result<()> {
        let t = &run.totals;
        write!(
            self.out,
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
             <title>Gauntlet · {suite}</title><style>{STYLE}</style><script>{SCRIPT}</script></head><body>\n\
             <h1>Gauntlet report: {suite}</h1><div class=\"mute\">run <code>{id}</code> · {status} · seed {seed} · started {started} · config <code>{hash}</code></div>\n\
             <div class=\"cards\"><div class=\"card\">cases<b>{cases}</b></div><div class=\"card passed\">passed<b>{passed}</b></div>\
             <div class=\"card failed\">failed<b>{failed}</b></div><div class=\"card error\">errored<b>{errored}</b></div>\
             <div class=\"card\">tokens<b>{tokens}</b></div><div class=\"card\">cost<b>{cost}</b></div></div>\n\
             <div class=\"filters\"><button onclick=\"show('all')\">All</button><button onclick=\"show('not-passed')\">Failed &amp; errored</button><button onclick=\"show('passed')\">Passed</button></div>\n\
             <table><thead><tr><th>case</th><th>target</th><th>status</th><th>score</th><th>latency</th><th>details</th></tr></thead><tbody>\n",
            suite = esc(&run.suite),
            id = esc(run.id.as_str()),
            status = run.status.as_str(),
            seed = run.seed,
            started = esc(&run.started_at),
            hash = esc(&run.config_hash),
            cases = t.cases,
            passed = t.passed,
            failed = t.failed,
            errored = t.errored,
            tokens = t.tokens,
            cost = crate::usd(t.cost_usd),
        )
    }

    fn case(&mut self, c: &CaseResult) -> io::Result<()> {
        let status = c.status.as_str();
        let mut details = String::new();
        if let Some(r) = &c.reason {
            details.push_str(&format!("<p class=\"{status}\">{}</p>", esc(r)));
        }
        details.push_str(&format!(
            "<div class=\"mute\">input</div><pre>{}</pre>",
            esc(&c.input)
        ));
        details.push_str(&format!(
            "<div class=\"mute\">output</div><pre>{}</pre>",
            esc(c.output.as_deref().unwrap_or("(none)"))
        ));
        if !c.assertions.is_empty() {
            details.push_str("<table><tr><th>assertion</th><th>score</th><th>reason</th></tr>");
            for a in &c.assertions {
                let cls = if a.pass { "passed" } else { "failed" };
                let mark = if a.pass { "✓" } else { "✗" };
                details.push_str(&format!(
                    "<tr><td class=\"{cls}\">{mark} {}</td><td>{:.2}</td><td>{}</td></tr>",
                    esc(&a.kind),
                    a.score,
                    esc(&a.reason)
                ));
            }
            details.push_str("</table>");
        }
        for s in &c.steps {
            let label = s
                .node
                .as_ref()
                .map_or_else(|| s.agent.clone(), |n| format!("{n} ({})", s.agent));
            details.push_str(&format!(
                "<details><summary>step {} · {} tokens · ${:.6} · {:.1} ms{}</summary><div class=\"mute\">input</div><pre>{}</pre><div class=\"mute\">output</div><pre>{}</pre>",
                esc(&label),
                s.tokens.total(),
                s.cost_usd,
                s.latency_ms,
                if s.retries > 0 { format!(" · {} retries", s.retries) } else { String::new() },
                esc(&s.input),
                esc(s.output.as_deref().unwrap_or("(none)"))
            ));
            for call in &s.tool_calls {
                let res = call
                    .error
                    .clone()
                    .map(|e| format!("error: {e}"))
                    .or_else(|| call.result.as_ref().map(|r| r.to_string()))
                    .unwrap_or_default();
                details.push_str(&format!(
                    "<pre>→ {}({}) = {}</pre>",
                    esc(&call.name),
                    esc(&call.args.to_string()),
                    esc(&res)
                ));
            }
            for f in &s.faults {
                details.push_str(&format!(
                    "<p class=\"chaos\">⚡ chaos at {} (call {}): {} — {}</p>",
                    esc(&f.at),
                    f.turn,
                    esc(&f.kind),
                    esc(&f.detail)
                ));
            }
            for v in s.violations.iter().chain(s.error.iter()) {
                details.push_str(&format!("<p class=\"failed\">{}</p>", esc(v)));
            }
            details.push_str("</details>");
        }
        writeln!(
            self.out,
            "<tr class=\"case\" data-status=\"{status}\"><td><code>{}</code></td><td>{}</td><td class=\"{status}\">{status}</td><td>{:.2}</td><td>{:.1} ms</td><td><details><summary>{}</summary>{details}</details></td></tr>",
            esc(&c.id),
            esc(&c.target),
            c.score,
            c.latency_ms,
            esc(&clip(c.output.as_deref().unwrap_or(""), 80))
        )
    }

    fn end(&mut self, _run: &RunRecord, summary: &Summary) -> io::Result<()> {
        let mut s = summary.clone();
        writeln!(
            self.out,
            "</tbody></table>\n<p class=\"mute\">latency p50 {:.1} ms · p95 {:.1} ms · p99 {:.1} ms · generated by Gauntlet {}</p>\n</body></html>",
            s.latency_percentile(50.0),
            s.latency_percentile(95.0),
            s.latency_percentile(99.0),
            gauntlet_core::VERSION
        )?;
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gauntlet_core::result::CaseStatus;

    #[test]
    fn status_classes_cover_every_status() {
        for s in [CaseStatus::Passed, CaseStatus::Failed, CaseStatus::Error] {
            assert!(STYLE.contains(&format!(".{}", s.as_str())));
        }
    }
}
