//! The run list: filters, one row per run with its progress, paged by cursor.

use gauntlet_core::result::RunRecord;
use gauntlet_store::explore::Facets;

use crate::format::{badge, cost, count, ms, pct, short_id, time};
use crate::{Chrome, Nav, esc, layout, query};

/// The filters as the query string carries them.
#[derive(Clone, Debug, Default)]
pub struct Filters {
    pub suite: String,
    pub target: String,
    pub status: String,
    pub tag: String,
    pub since: String,
    pub until: String,
    pub text: String,
}

impl Filters {
    pub fn pairs(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("suite", self.suite.as_str()),
            ("target", self.target.as_str()),
            ("status", self.status.as_str()),
            ("tag", self.tag.as_str()),
            ("since", self.since.as_str()),
            ("until", self.until.as_str()),
            ("q", self.text.as_str()),
        ]
    }

    pub fn any(&self) -> bool {
        self.pairs().iter().any(|(_, v)| !v.is_empty())
    }
}

/// A run as the list shows it.
pub struct Row {
    pub run: RunRecord,
    /// The queue's state, for runs the server started (`None`: a CLI run).
    pub job: Option<String>,
    /// Cases recorded so far, for a run still going: (passed, failed, errored).
    pub live: Option<(u64, u64, u64)>,
}

/// A run waiting in the queue (no record yet).
pub struct Queued {
    pub id: String,
    pub suite: String,
    pub state: String,
    pub created_at: String,
}

pub struct View<'a> {
    pub filters: &'a Filters,
    pub facets: &'a Facets,
    pub rows: &'a [Row],
    pub queued: &'a [Queued],
    /// The cursor of the next page, if there is one.
    pub next: Option<String>,
    /// This page is not the first.
    pub paged: bool,
}

fn select(name: &str, label: &str, current: &str, options: &[String]) -> String {
    let mut out = format!(r#"<label>{label}<select name="{name}"><option value="">any</option>"#);
    for o in options {
        let sel = if o == current { " selected" } else { "" };
        out.push_str(&format!(
            r#"<option value="{v}"{sel}>{v}</option>"#,
            v = esc(o)
        ));
    }
    if !current.is_empty() && !options.iter().any(|o| o == current) {
        out.push_str(&format!(
            r#"<option value="{v}" selected>{v}</option>"#,
            v = esc(current)
        ));
    }
    out.push_str("</select></label>");
    out
}

/// The stacked bar of passed, failed and errored cases.
pub fn progress(passed: u64, failed: u64, errored: u64) -> String {
    let total = passed + failed + errored;
    if total == 0 {
        return r#"<span class="bar empty" aria-label="no cases yet"></span>"#.to_owned();
    }
    let w = |n: u64| n as f64 * 100.0 / total as f64;
    format!(
        r#"<span class="bar" role="img" aria-label="{passed} passed, {failed} failed, {errored} errored"><i class="ok" style="width:{:.2}%"></i><i class="bad" style="width:{:.2}%"></i><i class="warn" style="width:{:.2}%"></i></span>"#,
        w(passed),
        w(failed),
        w(errored)
    )
}

pub fn page(chrome: &Chrome, v: &View) -> String {
    let f = v.filters;
    let statuses: Vec<String> = ["running", "passed", "failed", "cancelled"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let mut body = String::from(r#"<div class="title"><h1>Runs</h1></div>"#);
    body.push_str(&format!(
        r#"<form class="filters" method="get" action="/" role="search" aria-label="Filter runs">{}{}{}{}<label>From<input type="date" name="since" value="{}"></label><label>Until<input type="date" name="until" value="{}"></label><label class="grow">Search<input type="search" name="q" value="{}" placeholder="run id, suite or project"></label><button type="submit">Filter</button>{}</form>"#,
        select("suite", "Suite", &f.suite, &v.facets.suites),
        select("target", "Target", &f.target, &v.facets.targets),
        select("status", "Status", &f.status, &statuses),
        select("tag", "Tag", &f.tag, &v.facets.tags),
        esc(&f.since),
        esc(&f.until),
        esc(&f.text),
        if f.any() { r#"<a href="/" class="clear">Clear</a>"# } else { "" },
    ));
    if !v.queued.is_empty() {
        body.push_str(r#"<section aria-labelledby="queued-h"><h2 id="queued-h">Waiting to start</h2><table><thead><tr><th scope="col">Run</th><th scope="col">Suite</th><th scope="col">State</th><th scope="col">Queued</th><th scope="col"><span class="sr">Actions</span></th></tr></thead><tbody>"#);
        for q in v.queued {
            body.push_str(&format!(
                r#"<tr data-run="{id}"><td><code>{short}</code></td><td>{suite}</td><td>{state}</td><td>{at}</td><td>{cancel}</td></tr>"#,
                id = esc(&q.id),
                short = esc(short_id(&q.id)),
                suite = esc(&q.suite),
                state = badge(&q.state),
                at = time(&q.created_at),
                cancel = if chrome.can.execute {
                    chrome.button(&format!("/runs/{}/cancel", q.id), "Cancel", "danger small")
                } else {
                    String::new()
                },
            ));
        }
        body.push_str("</tbody></table></section>");
    }
    if v.rows.is_empty() {
        body.push_str(if f.any() {
            r#"<p class="empty">No run matches these filters.</p>"#
        } else {
            r#"<div class="empty"><p>No runs yet.</p><p>Run a suite with <code>gauntlet run</code>, then reload this page.</p></div>"#
        });
    } else {
        body.push_str(r#"<div class="scroll"><table class="runs"><thead><tr><th scope="col">Status</th><th scope="col">Run</th><th scope="col">Suite</th><th scope="col">Started</th><th scope="col">Cases</th><th scope="col" class="num">Pass rate</th><th scope="col" class="num">Cost</th><th scope="col" class="num">Tokens</th><th scope="col" class="num">Duration</th><th scope="col"><span class="sr">Actions</span></th></tr></thead><tbody>"#);
        for r in v.rows {
            body.push_str(&row(chrome, r));
        }
        body.push_str("</tbody></table></div>");
    }
    let mut pager = String::new();
    if v.paged {
        pager.push_str(&format!(r#"<a href="/{}">Newest</a>"#, query(&f.pairs())));
    }
    if let Some(next) = &v.next {
        let mut pairs = f.pairs();
        pairs.push(("after", next.as_str()));
        pager.push_str(&format!(
            r#"<a href="/{}" rel="next">Older runs →</a>"#,
            query(&pairs)
        ));
    }
    if !pager.is_empty() {
        body.push_str(&format!(
            r#"<nav class="pager" aria-label="Pages">{pager}</nav>"#
        ));
    }
    layout(chrome, Nav::Runs, "Runs", &body)
}

fn row(chrome: &Chrome, r: &Row) -> String {
    let run = &r.run;
    let t = &run.totals;
    let running = run.status.as_str() == "running";
    let (p, fl, e) = r.live.unwrap_or((t.passed, t.failed, t.errored));
    let done = p + fl + e;
    let state = match r.job.as_deref() {
        Some("paused") => "paused",
        Some("pending") | Some("retryable") if running => "queued",
        _ => run.status.as_str(),
    };
    let id = run.id.as_str();
    let mut actions = String::new();
    if chrome.can.execute && r.job.is_some() {
        match state {
            "running" | "queued" => {
                actions.push_str(&chrome.button(&format!("/runs/{id}/pause"), "Pause", "small"));
                actions.push_str(&chrome.button(
                    &format!("/runs/{id}/cancel"),
                    "Cancel",
                    "danger small",
                ));
            }
            "paused" => {
                actions.push_str(&chrome.button(&format!("/runs/{id}/resume"), "Resume", "small"));
                actions.push_str(&chrome.button(
                    &format!("/runs/{id}/cancel"),
                    "Cancel",
                    "danger small",
                ));
            }
            _ => actions.push_str(&chrome.button(&format!("/runs/{id}/rerun"), "Re-run", "small")),
        }
    }
    let live = if running {
        format!(r#" data-live="/ui/runs/{}/events""#, esc(id))
    } else {
        String::new()
    };
    format!(
        r#"<tr data-run="{id}" data-status="{state}"{live}><td data-cell="status">{badge}</td><td><a href="/runs/{id}"><code>{short}</code></a></td><td>{suite}<div class="sub">{project}</div></td><td>{started}</td><td data-cell="cases">{bar}<span class="sub" data-cell="count">{done} case{plural}</span></td><td class="num" data-cell="rate">{rate}</td><td class="num">{cost}</td><td class="num">{tokens}</td><td class="num">{duration}</td><td class="actions">{actions}</td></tr>"#,
        id = esc(id),
        badge = badge(state),
        short = esc(short_id(id)),
        suite = esc(&run.suite),
        project = esc(&run.project),
        started = time(&run.started_at),
        bar = progress(p, fl, e),
        plural = if done == 1 { "" } else { "s" },
        rate = pct(p, done),
        cost = cost(t.cost_usd),
        tokens = count(t.tokens),
        duration = crate::format::between(&run.started_at, run.finished_at.as_deref())
            .map(ms)
            .unwrap_or_else(|| "–".to_owned()),
    )
}
