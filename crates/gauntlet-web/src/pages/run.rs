//! A run: its summary (totals, pass rate, cost, tokens, latency percentiles, seed, config
//! hash, the pinned snapshot), usage by agent and model, assertions by type, the live log of a
//! run still going, and its cases, filterable and paged.

use gauntlet_core::result::{CaseStatus, RunRecord, RunStats};
use gauntlet_store::explore::{CaseRow, Page};
use serde_json::Value;

use crate::format::{badge, between, cost, count, ms, pct, short_id, time};
use crate::{Chrome, Mode, Nav, esc, layout, query};

#[derive(Clone, Debug, Default)]
pub struct CaseFilter {
    pub status: String,
    pub target: String,
    pub text: String,
}

pub struct View<'a> {
    pub run: &'a RunRecord,
    /// The queue's state, for runs the server started.
    pub job: Option<&'a str>,
    pub stats: Option<&'a RunStats>,
    pub counts: &'a [(CaseStatus, u64)],
    pub snapshot: &'a Value,
    pub cases: &'a Page<CaseRow>,
    pub filter: &'a CaseFilter,
    /// Where this page of cases began (`None`: the first page).
    pub after: Option<u32>,
    /// Other runs of the same suite, newest first, to compare with.
    pub others: &'a [RunRecord],
}

/// The cards at the top of a run.
pub fn summary(run: &RunRecord, stats: Option<&RunStats>, snapshot: &Value) -> String {
    let t = &run.totals;
    let card = |label: &str, value: String, class: &str| {
        format!(r#"<div class="card {class}"><span>{label}</span><b>{value}</b></div>"#)
    };
    let mut out = String::from(r#"<section class="cards" aria-label="Summary">"#);
    out.push_str(&card("Cases", count(t.cases), ""));
    out.push_str(&card("Pass rate", pct(t.passed, t.cases), ""));
    out.push_str(&card("Passed", count(t.passed), "ok"));
    out.push_str(&card(
        "Failed",
        count(t.failed),
        if t.failed > 0 { "bad" } else { "" },
    ));
    out.push_str(&card(
        "Errored",
        count(t.errored),
        if t.errored > 0 { "warn" } else { "" },
    ));
    out.push_str(&card("Cost", cost(t.cost_usd), ""));
    out.push_str(&card(
        "Tokens",
        format!(
            "{}<small> {} in · {} out</small>",
            count(t.tokens),
            count(t.tokens_input),
            count(t.tokens_output)
        ),
        "wide",
    ));
    if let Some(s) = stats {
        let l = &s.latency_ms;
        out.push_str(&card(
            "Latency p50 · p95 · p99",
            format!(
                "{} <small>· {} · {}</small>",
                ms(l.p50),
                ms(l.p95),
                ms(l.p99)
            ),
            "wide",
        ));
    }
    out.push_str("</section>");
    let pinned: Vec<String> = ["suite_version", "repeat", "chaos"]
        .iter()
        .filter_map(|k| {
            snapshot
                .get(*k)
                .map(|v| format!("{k} {}", esc(v.to_string().trim_matches('"'))))
        })
        .collect();
    out.push_str(&format!(
        r#"<dl class="facts"><div><dt>Run</dt><dd><code>{id}</code></dd></div><div><dt>Project</dt><dd>{project}</dd></div><div><dt>Seed</dt><dd><code>{seed}</code></dd></div><div><dt>Config hash</dt><dd><code title="{hash}">{hash_short}</code></dd></div><div><dt>Snapshot</dt><dd>{pinned}</dd></div><div><dt>Started</dt><dd>{started}</dd></div><div><dt>Duration</dt><dd>{duration}</dd></div><div><dt>Gauntlet</dt><dd>{version}</dd></div></dl>"#,
        id = esc(run.id.as_str()),
        project = esc(&run.project),
        seed = run.seed,
        hash = esc(&run.config_hash),
        hash_short = esc(run.config_hash.get(..16).unwrap_or(&run.config_hash)),
        pinned = if pinned.is_empty() { "as written".to_owned() } else { pinned.join(" · ") },
        started = time(&run.started_at),
        duration = between(&run.started_at, run.finished_at.as_deref())
            .map(ms)
            .unwrap_or_else(|| "still running".to_owned()),
        version = esc(&run.gauntlet_version),
    ));
    out
}

/// Tokens and cost by agent and model.
pub fn usage(stats: &RunStats) -> String {
    if stats.usage.is_empty() {
        return String::new();
    }
    let total: f64 = stats.usage.iter().map(|u| u.cost_usd).sum();
    let mut out = String::from(
        r#"<section aria-labelledby="usage-h"><h2 id="usage-h">Tokens and cost by agent and model</h2><div class="scroll"><table><thead><tr><th scope="col">Agent</th><th scope="col">Model</th><th scope="col" class="num">Steps</th><th scope="col" class="num">Model calls</th><th scope="col" class="num">Tool calls</th><th scope="col" class="num">Tokens in</th><th scope="col" class="num">Tokens out</th><th scope="col" class="num">Cost</th><th scope="col">Share</th></tr></thead><tbody>"#,
    );
    for u in &stats.usage {
        let share = if total > 0.0 {
            u.cost_usd / total * 100.0
        } else {
            0.0
        };
        out.push_str(&format!(
            r#"<tr><td>{}</td><td><code>{}</code></td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td><span class="bar share" role="img" aria-label="{share:.0}% of the cost"><i class="accent" style="width:{share:.1}%"></i></span></td></tr>"#,
            esc(&u.agent),
            esc(&u.model),
            count(u.steps),
            count(u.model_calls),
            count(u.tool_calls),
            count(u.tokens.input),
            count(u.tokens.output),
            cost(u.cost_usd),
        ));
    }
    out.push_str("</tbody></table></div></section>");
    out
}

/// Assertions by type; each links to the explorer filtered on it when `link` is given.
pub fn assertion_types(stats: &RunStats, link: Option<&str>) -> String {
    if stats.assertions.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        r#"<section aria-labelledby="types-h"><h2 id="types-h">Assertions by type</h2><ul class="types">"#,
    );
    for a in &stats.assertions {
        let failed = a.total - a.passed;
        let label = match link {
            Some(base) => format!(
                r#"<a href="{base}{}">{}</a>"#,
                query(&[("type", a.kind.as_str())]),
                esc(&a.kind)
            ),
            None => esc(&a.kind),
        };
        out.push_str(&format!(
            r#"<li><span class="type">{label}</span>{bar}<span class="sub">{} of {} passed{}</span></li>"#,
            a.passed,
            a.total,
            if failed > 0 { format!(", <b class=\"bad-text\">{failed} failed</b>") } else { String::new() },
            bar = crate::pages::runs::progress(a.passed, failed, 0),
        ));
    }
    out.push_str("</ul></section>");
    if !stats.faults.is_empty() {
        out.push_str(r#"<section aria-labelledby="faults-h"><h2 id="faults-h">Chaos faults injected</h2><p>"#);
        out.push_str(
            &stats
                .faults
                .iter()
                .map(|(k, n)| format!("<span class=\"chip\">{} × {n}</span>", esc(k)))
                .collect::<Vec<_>>()
                .join(" "),
        );
        out.push_str("</p></section>");
    }
    out
}

/// The header row of the case table.
pub const CASE_HEAD: &str = r#"<thead><tr><th scope="col">#</th><th scope="col">Case</th><th scope="col">Target</th><th scope="col">Status</th><th scope="col" class="num">Score</th><th scope="col">Reason</th><th scope="col" class="num">Latency</th><th scope="col" class="num">Cost</th></tr></thead>"#;

/// One row of the case table; `href` is where the case opens.
pub fn case_row(c: &CaseRow, href: &str) -> String {
    format!(
        r#"<tr class="case" data-status="{status}" data-index="{idx}"><td class="num">{idx}</td><td><a href="{href}">{id}</a>{trial}</td><td><code>{target}</code></td><td>{badge}</td><td class="num">{score:.2}</td><td class="reason">{reason}</td><td class="num">{latency}</td><td class="num">{cost}</td></tr>"#,
        status = c.status.as_str(),
        idx = c.index,
        href = esc(href),
        id = esc(&c.id),
        trial = if c.trial > 0 {
            format!(r#" <span class="sub">trial {}</span>"#, c.trial)
        } else {
            String::new()
        },
        target = esc(&c.target),
        badge = badge(c.status.as_str()),
        score = c.score,
        reason = esc(&gauntlet_report::clip(
            c.reason.as_deref().unwrap_or(""),
            160
        )),
        latency = ms(c.latency_ms),
        cost = cost(c.cost_usd),
    )
}

fn actions(chrome: &Chrome, run: &RunRecord, job: Option<&str>) -> String {
    if chrome.mode != Mode::Server && chrome.mode != Mode::Local {
        return String::new();
    }
    let id = run.id.as_str();
    let mut out = String::new();
    if chrome.can.execute && job.is_some() {
        let state = job.unwrap_or("");
        match state {
            "running" | "pending" | "retryable" => {
                out.push_str(&chrome.button(&format!("/runs/{id}/pause"), "Pause", ""));
                out.push_str(&chrome.button(&format!("/runs/{id}/cancel"), "Cancel", "danger"));
            }
            "paused" => {
                out.push_str(&chrome.button(&format!("/runs/{id}/resume"), "Resume", ""));
                out.push_str(&chrome.button(&format!("/runs/{id}/cancel"), "Cancel", "danger"));
            }
            _ => {
                out.push_str(&chrome.button(&format!("/runs/{id}/rerun"), "Re-run", ""));
                out.push_str(&chrome.button(
                    &format!("/runs/{id}/replay"),
                    "Replay (same seed)",
                    "",
                ));
            }
        }
    }
    if chrome.can.delete
        && job.is_none_or(|s| !matches!(s, "running" | "pending" | "retryable" | "paused"))
        && run.finished_at.is_some()
    {
        out.push_str(&format!(
            r#"<form method="post" action="/runs/{id}/delete" class="inline" data-confirm="Delete run {short} and all its results?">{}<button type="submit" class="danger">Delete</button></form>"#,
            chrome.csrf_field(),
            id = esc(id),
            short = esc(short_id(id)),
        ));
    }
    out
}

/// A run still waiting in the queue: the page reloads itself when it starts.
pub fn waiting(chrome: &Chrome, id: &str, suite: &str, state: &str) -> String {
    let body = format!(
        r#"<nav class="crumbs" aria-label="Breadcrumb"><a href="/">Runs</a> / <span>{suite}</span></nav><div class="title"><h1>{suite} <code class="sub">{short}</code></h1><span data-cell="status">{badge}</span><span class="spacer"></span><div class="actions">{cancel}</div></div><section class="live" data-live="/ui/runs/{id}/events" data-reload-on-start aria-labelledby="live-h"><h2 id="live-h">Waiting for a worker</h2><p class="sub" data-live-state aria-live="polite">This run is queued; the page follows it as soon as a worker starts it.</p></section>"#,
        suite = esc(suite),
        short = esc(short_id(id)),
        badge = badge(state),
        id = esc(id),
        cancel = if chrome.can.execute {
            chrome.button(&format!("/runs/{id}/cancel"), "Cancel", "danger")
        } else {
            String::new()
        },
    );
    layout(
        chrome,
        Nav::Runs,
        &format!("{suite} {}", short_id(id)),
        &body,
    )
}

pub fn page(chrome: &Chrome, v: &View) -> String {
    let run = v.run;
    let id = run.id.as_str();
    let running = run.status.as_str() == "running";
    let state = match v.job {
        Some("paused") => "paused",
        _ => run.status.as_str(),
    };
    let mut body = format!(
        r#"<nav class="crumbs" aria-label="Breadcrumb"><a href="/">Runs</a> / <span>{suite}</span></nav><div class="title"><h1>{suite} <code class="sub">{short}</code></h1><span data-cell="status">{badge}</span><span class="spacer"></span><div class="actions">{actions}</div></div>"#,
        suite = esc(&run.suite),
        short = esc(short_id(id)),
        badge = badge(state),
        actions = actions(chrome, run, v.job),
    );
    if v.job.is_none() && chrome.mode == Mode::Local {
        body.push_str(r#"<p class="note">Started from the command line: re-run it with <code>gauntlet run</code> or <code>gauntlet replay</code>.</p>"#);
    }
    body.push_str(&summary(run, v.stats, v.snapshot));
    if running {
        body.push_str(&format!(
            r#"<section class="live" aria-labelledby="live-h" data-live="/ui/runs/{id}/events" data-run="{id}"><h2 id="live-h">Live</h2><p class="sub" data-live-state aria-live="polite">Connecting…</p>{bar}<ol class="log" data-live-log aria-label="Cases as they finish"></ol></section>"#,
            id = esc(id),
            bar = crate::pages::runs::progress(0, 0, 0).replace("class=\"bar empty\"", "class=\"bar empty\" data-live-bar"),
        ));
    } else if v.stats.is_none() {
        body.push_str(r#"<p class="note">Latency percentiles and usage appear when the run has finished.</p>"#);
    }
    if let Some(s) = v.stats {
        body.push_str(&usage(s));
        body.push_str(&assertion_types(s, Some(&format!("/runs/{id}/assertions"))));
    }
    // Cases, filtered.
    let f = v.filter;
    let total: u64 = v.counts.iter().map(|(_, n)| n).sum();
    let n_of = |s: CaseStatus| {
        v.counts
            .iter()
            .find(|(c, _)| *c == s)
            .map_or(0, |(_, n)| *n)
    };
    let tab = |value: &str, label: String| {
        let current = if f.status == value {
            r#" aria-current="true""#
        } else {
            ""
        };
        format!(
            r#"<a href="/runs/{id}{q}"{current}>{label}</a>"#,
            id = esc(id),
            q = query(&[("status", value), ("q", &f.text), ("target", &f.target)]),
        )
    };
    body.push_str(&format!(
        r#"<section aria-labelledby="cases-h"><div class="title"><h2 id="cases-h">Cases</h2><nav class="tabs" aria-label="Filter by status">{}{}{}{}</nav><span class="spacer"></span><a href="/runs/{id}/assertions">Assertion explorer</a></div><form class="filters" method="get" action="/runs/{id}" role="search" aria-label="Filter cases"><input type="hidden" name="status" value="{status}"><label class="grow">Search cases<input type="search" name="q" value="{text}" placeholder="id, reason or input"></label><label>Target<input name="target" value="{target}"></label><button type="submit">Filter</button></form>"#,
        tab("", format!("All <span class=\"count\">{}</span>", count(total))),
        tab("failed", format!("Failed <span class=\"count\">{}</span>", count(n_of(CaseStatus::Failed)))),
        tab("error", format!("Errored <span class=\"count\">{}</span>", count(n_of(CaseStatus::Error)))),
        tab("passed", format!("Passed <span class=\"count\">{}</span>", count(n_of(CaseStatus::Passed)))),
        id = esc(id),
        status = esc(&f.status),
        text = esc(&f.text),
        target = esc(&f.target),
    ));
    if v.cases.items.is_empty() {
        body.push_str(r#"<p class="empty">No case matches.</p>"#);
    } else {
        body.push_str(&format!(
            r#"<div class="scroll"><table class="cases">{CASE_HEAD}<tbody>"#
        ));
        for c in &v.cases.items {
            body.push_str(&case_row(c, &format!("/runs/{id}/cases/{}", c.index)));
        }
        body.push_str("</tbody></table></div>");
    }
    let mut pager = String::new();
    let base = [
        ("status", f.status.as_str()),
        ("q", f.text.as_str()),
        ("target", f.target.as_str()),
    ];
    if v.after.is_some() {
        pager.push_str(&format!(
            r#"<a href="/runs/{}{}">First cases</a>"#,
            esc(id),
            query(&base)
        ));
    }
    if v.cases.more
        && let Some(last) = v.cases.items.last()
    {
        let after = last.index.to_string();
        let mut pairs = base.to_vec();
        pairs.push(("after", after.as_str()));
        pager.push_str(&format!(
            r#"<a href="/runs/{}{}" rel="next">Next cases →</a>"#,
            esc(id),
            query(&pairs)
        ));
    }
    if !pager.is_empty() {
        body.push_str(&format!(
            r#"<nav class="pager" aria-label="Pages of cases">{pager}</nav>"#
        ));
    }
    body.push_str("</section>");
    // Compare.
    if !v.others.is_empty() {
        let mut options = String::new();
        for (i, o) in v.others.iter().enumerate() {
            options.push_str(&format!(
                r#"<option value="{}"{}>{} · {} · {} passed of {}</option>"#,
                esc(o.id.as_str()),
                if i == 0 { " selected" } else { "" },
                esc(short_id(o.id.as_str())),
                esc(o.started_at.get(..16).unwrap_or(&o.started_at)),
                o.totals.passed,
                o.totals.cases,
            ));
        }
        body.push_str(&format!(
            r#"<section aria-labelledby="cmp-h"><h2 id="cmp-h">Compare</h2><form method="get" action="/compare" class="filters"><input type="hidden" name="b" value="{id}"><label class="grow">Baseline (the earlier run)<select name="a">{options}</select></label><button type="submit">Compare with this run</button></form></section>"#,
            id = esc(id),
        ));
    }
    layout(
        chrome,
        Nav::Runs,
        &format!("{} {}", run.suite, short_id(id)),
        &body,
    )
}
