//! Two runs side by side: `gauntlet diff` rendered. Configuration changes, case transitions
//! with newly failing cases first, output diffs, and score, cost and latency deltas.

use gauntlet_core::result::RunRecord;
use gauntlet_diff::{Change, RunDiff};

use crate::format::{badge, cost, ms, short_id, time};
use crate::{Chrome, Nav, esc, layout, query};

/// Case differences shown per page.
pub const CASES_PER_PAGE: usize = 200;

fn option_list(runs: &[RunRecord], selected: &str) -> String {
    runs.iter()
        .map(|r| {
            format!(
                r#"<option value="{id}"{sel}>{suite} · {short} · {at} · {p}/{n} passed</option>"#,
                id = esc(r.id.as_str()),
                sel = if r.id.as_str() == selected {
                    " selected"
                } else {
                    ""
                },
                suite = esc(&r.suite),
                short = esc(short_id(r.id.as_str())),
                at = esc(r.started_at.get(..16).unwrap_or(&r.started_at)),
                p = r.totals.passed,
                n = r.totals.cases,
            )
        })
        .collect()
}

/// The two pickers.
fn picker(runs: &[RunRecord], a: &str, b: &str) -> String {
    format!(
        r#"<form class="filters" method="get" action="/compare" aria-label="Choose two runs"><label class="grow">Baseline (A)<select name="a">{}</select></label><label class="grow">Compared (B)<select name="b">{}</select></label><button type="submit">Compare</button></form>"#,
        option_list(runs, a),
        option_list(runs, b)
    )
}

/// The page before two runs are chosen.
pub fn choose(chrome: &Chrome, runs: &[RunRecord]) -> String {
    let (a, b) = match runs {
        [newest, older, ..] => (older.id.as_str(), newest.id.as_str()),
        [only] => (only.id.as_str(), only.id.as_str()),
        [] => ("", ""),
    };
    let mut body = String::from(r#"<div class="title"><h1>Compare runs</h1></div>"#);
    if runs.len() < 2 {
        body.push_str(r#"<p class="empty">Comparing needs two runs; run a suite twice (for example after changing a prompt).</p>"#);
    } else {
        body.push_str(&picker(runs, a, b));
    }
    layout(chrome, Nav::Compare, "Compare", &body)
}

fn delta(before: f64, after: f64, fmt: &dyn Fn(f64) -> String, lower_is_better: bool) -> String {
    let d = after - before;
    if d.abs() < 1e-12 {
        return format!(r#"{} <span class="sub">±0</span>"#, fmt(after));
    }
    let worse = if lower_is_better { d > 0.0 } else { d < 0.0 };
    let sign = if d > 0.0 { "+" } else { "−" };
    format!(
        r#"{} <span class="{}">{sign}{}</span>"#,
        fmt(after),
        if worse { "bad-text" } else { "ok-text" },
        fmt(d.abs())
    )
}

fn opt_f(v: Option<f64>) -> f64 {
    v.unwrap_or(0.0)
}

/// An output diff with added and removed lines marked.
fn unified(text: &str) -> String {
    let mut out = String::from(r#"<pre class="diff">"#);
    for line in text.lines().take(400) {
        let class = if line.starts_with("+++") || line.starts_with("---") {
            "hdr"
        } else if line.starts_with('+') {
            "add"
        } else if line.starts_with('-') {
            "del"
        } else if line.starts_with("@@") {
            "hunk"
        } else {
            ""
        };
        out.push_str(&format!(r#"<span class="{class}">{}</span>"#, esc(line)));
        out.push('\n');
    }
    out.push_str("</pre>");
    out
}

pub fn page(chrome: &Chrome, d: &RunDiff, runs: &[RunRecord], from: usize) -> String {
    let (ta, tb) = &d.totals;
    let (a, b) = (d.a.id.as_str(), d.b.id.as_str());
    let c = &d.counts;
    let mut body = format!(
        r#"<div class="title"><h1>Compare runs</h1></div>{picker}<div class="sides"><div><span class="sub">A · baseline</span><h2><a href="/runs/{a}">{sa}</a> <code>{a_short}</code></h2>{a_time}</div><div><span class="sub">B · compared</span><h2><a href="/runs/{b}">{sb}</a> <code>{b_short}</code></h2>{b_time}</div></div>"#,
        picker = picker(runs, a, b),
        a = esc(a),
        b = esc(b),
        sa = esc(&d.a.suite),
        sb = esc(&d.b.suite),
        a_short = esc(short_id(a)),
        b_short = esc(short_id(b)),
        a_time = time(&d.a.started_at),
        b_time = time(&d.b.started_at),
    );
    let rate = |t: &gauntlet_core::result::Totals| {
        if t.cases == 0 {
            0.0
        } else {
            t.passed as f64 / t.cases as f64
        }
    };
    body.push_str(&format!(
        r#"<section class="cards" aria-label="What changed"><div class="card {rc}"><span>Newly failing</span><b>{}</b></div><div class="card {fc}"><span>Fixed</span><b>{}</b></div><div class="card"><span>Changed</span><b>{}</b></div><div class="card"><span>New · removed</span><b>{} · {}</b></div><div class="card"><span>Unchanged</span><b>{}</b></div><div class="card wide"><span>Pass rate</span><b>{}</b></div><div class="card"><span>Cost</span><b>{}</b></div><div class="card"><span>Tokens</span><b>{}</b></div><div class="card"><span>Mean latency</span><b>{}</b></div></section>"#,
        c.regressed,
        c.fixed,
        c.changed,
        c.new,
        c.removed,
        c.unchanged,
        delta(rate(ta), rate(tb), &|v| format!("{:.1}%", v * 100.0), false),
        delta(ta.cost_usd, tb.cost_usd, &cost, true),
        delta(ta.tokens as f64, tb.tokens as f64, &|v| format!("{v:.0}"), true),
        delta(d.latency_ms.0, d.latency_ms.1, &ms, true),
        rc = if c.regressed > 0 { "bad" } else { "" },
        fc = if c.fixed > 0 { "ok" } else { "" },
    ));
    body.push_str(r#"<section aria-labelledby="cfg-h"><h2 id="cfg-h">Configuration</h2>"#);
    if d.config.is_empty() {
        body.push_str(r#"<p class="sub">The two runs used the same configuration.</p>"#);
    } else {
        body.push_str(r#"<div class="scroll"><table><thead><tr><th scope="col">Where</th><th scope="col">A</th><th scope="col">B</th></tr></thead><tbody>"#);
        for ch in &d.config {
            let show = |v: &Option<serde_json::Value>| match v {
                Some(v) => format!(
                    "<code>{}</code>",
                    esc(&gauntlet_report::clip(&v.to_string(), 200))
                ),
                None => r#"<span class="sub">absent</span>"#.to_owned(),
            };
            body.push_str(&format!(
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                esc(&ch.pointer),
                show(&ch.before),
                show(&ch.after)
            ));
        }
        body.push_str("</tbody></table></div>");
    }
    body.push_str("</section>");
    body.push_str(&format!(
        r#"<section aria-labelledby="cd-h"><h2 id="cd-h">Cases that differ <span class="count">{}</span></h2>"#,
        d.cases.len()
    ));
    if d.cases.is_empty() {
        body.push_str(
            r#"<p class="ok-text">Every case ended the same way with the same output.</p>"#,
        );
    }
    for cd in d.cases.iter().skip(from).take(CASES_PER_PAGE) {
        let change = match cd.change {
            Change::Regressed => ("newly failing", "bad"),
            Change::Fixed => ("fixed", "ok"),
            Change::Changed => ("changed", "mute"),
            Change::New => ("new", "live"),
            Change::Removed => ("removed", "mute"),
        };
        let st = |s: Option<gauntlet_core::result::CaseStatus>| {
            s.map(|s| badge(s.as_str()))
                .unwrap_or_else(|| r#"<span class="sub">–</span>"#.to_owned())
        };
        body.push_str(&format!(
            r#"<details class="casediff {cls}" data-change="{word}"{open}><summary><span class="badge {cls}">{word}</span> <b>{id}</b> <code class="sub">{target}</code> {sa} → {sb} <span class="sub">score {score} · cost {cost} · latency {lat}</span></summary><div class="step-body">"#,
            cls = change.1,
            word = change.0,
            open = if cd.change == Change::Regressed { " open" } else { "" },
            id = esc(&cd.id),
            target = esc(&cd.target),
            sa = st(cd.status.0),
            sb = st(cd.status.1),
            score = delta(opt_f(cd.score.0), opt_f(cd.score.1), &|v| format!("{v:.2}"), false),
            cost = delta(opt_f(cd.cost_usd.0), opt_f(cd.cost_usd.1), &cost, true),
            lat = delta(opt_f(cd.latency_ms.0), opt_f(cd.latency_ms.1), &ms, true),
        ));
        if let Some(r) = &cd.reason {
            body.push_str(&format!(r#"<p class="problem"><b>Why:</b> {}</p>"#, esc(r)));
        }
        if !cd.assertions.is_empty() {
            body.push_str("<ul>");
            for a in &cd.assertions {
                let word = |v: Option<bool>| match v {
                    Some(true) => "pass",
                    Some(false) => "fail",
                    None => "absent",
                };
                body.push_str(&format!(
                    "<li><code>{}</code>: {} → {}</li>",
                    esc(&a.assertion),
                    word(a.before),
                    word(a.after)
                ));
            }
            body.push_str("</ul>");
        }
        for n in &cd.nodes {
            body.push_str(&format!(
                r#"<p>node <code>{}</code>: {} → {}</p>"#,
                esc(&n.node),
                esc(&gauntlet_report::clip(
                    n.before.as_deref().unwrap_or("did not run"),
                    120
                )),
                esc(&gauntlet_report::clip(
                    n.after.as_deref().unwrap_or("did not run"),
                    120
                )),
            ));
        }
        if let Some((before, after)) = &cd.tool_calls {
            body.push_str(&format!(
                r#"<p>tool calls: <code>{}</code> → <code>{}</code></p>"#,
                esc(&before.join(", ")),
                esc(&after.join(", "))
            ));
        }
        if let Some(diff) = &cd.output_diff {
            body.push_str(&unified(diff));
        }
        body.push_str("</div></details>");
    }
    if d.cases.len() > from + CASES_PER_PAGE {
        body.push_str(&format!(
            r#"<nav class="pager" aria-label="Pages"><a href="/compare{}" rel="next">Next {} cases →</a></nav>"#,
            query(&[("a", a), ("b", b), ("from", &(from + CASES_PER_PAGE).to_string())]),
            CASES_PER_PAGE
        ));
    }
    body.push_str("</section>");
    layout(chrome, Nav::Compare, "Compare", &body)
}
