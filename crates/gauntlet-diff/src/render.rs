//! A [`RunDiff`] as terminal text, Markdown (for pull-request comments) or JSON.

use std::fmt::Write as _;

use gauntlet_core::result::CaseStatus;
use serde_json::Value;

use crate::{Change, RunDiff};

/// ANSI colour, or none.
#[derive(Clone, Copy)]
pub struct Colors(pub bool);

impl Colors {
    fn paint(self, code: &str, s: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_owned()
        }
    }
}

/// An assertion outcome before or after: pass, fail, or — when absent.
fn outcome(p: Option<bool>) -> &'static str {
    p.map_or("—", |p| if p { "pass" } else { "fail" })
}

fn status(s: Option<CaseStatus>) -> &'static str {
    s.map_or("—", CaseStatus::as_str)
}

fn short(v: &Option<Value>) -> String {
    match v {
        None => "(absent)".to_owned(),
        Some(Value::String(s)) => clip(&format!("{s:?}"), 100),
        Some(other) => clip(&other.to_string(), 100),
    }
}

fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        s.chars().take(max - 1).chain(['…']).collect()
    }
}

fn delta_f(a: Option<f64>, b: Option<f64>, unit: &str, digits: usize) -> String {
    match (a, b) {
        (Some(x), Some(y)) => format!(
            "{x:.digits$}{unit} → {y:.digits$}{unit} ({:+.digits$})",
            y - x
        ),
        (Some(x), None) => format!("{x:.digits$}{unit} → —"),
        (None, Some(y)) => format!("— → {y:.digits$}{unit}"),
        (None, None) => "—".into(),
    }
}

fn label(c: Change) -> &'static str {
    match c {
        Change::Regressed => "REGRESSED",
        Change::Fixed => "FIXED",
        Change::Changed => "CHANGED",
        Change::New => "NEW",
        Change::Removed => "REMOVED",
    }
}

pub fn text(d: &RunDiff, colors: Colors) -> String {
    let mut out = String::new();
    let (ta, tb) = (&d.totals.0, &d.totals.1);
    let rate = |p: u64, n: u64| {
        if n == 0 {
            0.0
        } else {
            100.0 * p as f64 / n as f64
        }
    };
    let _ = writeln!(out, "A {} ({}, {})", d.a.id, d.a.suite, d.a.started_at);
    let _ = writeln!(out, "B {} ({}, {})", d.b.id, d.b.suite, d.b.started_at);
    let _ = writeln!(
        out,
        "pass rate {:.1}% → {:.1}%   tokens {} → {}   cost ${:.6} → ${:.6}   mean latency {:.1} → {:.1} ms",
        rate(ta.passed, ta.cases),
        rate(tb.passed, tb.cases),
        ta.tokens,
        tb.tokens,
        ta.cost_usd,
        tb.cost_usd,
        d.latency_ms.0,
        d.latency_ms.1
    );
    let c = &d.counts;
    let regressed = format!("{} regressed", c.regressed);
    let _ = writeln!(
        out,
        "{}, {} fixed, {} changed, {} new, {} removed, {} unchanged",
        if c.regressed > 0 {
            colors.paint("31;1", &regressed)
        } else {
            regressed
        },
        c.fixed,
        c.changed,
        c.new,
        c.removed,
        c.unchanged
    );
    if d.config.is_empty() {
        let _ = writeln!(out, "configuration: unchanged ({})", d.a.config_hash);
    } else {
        let _ = writeln!(out, "configuration: {} change(s)", d.config.len());
        for ch in &d.config {
            let _ = writeln!(
                out,
                "  {}: {} → {}",
                ch.pointer,
                short(&ch.before),
                short(&ch.after)
            );
        }
    }
    for cd in &d.cases {
        let code = match cd.change {
            Change::Regressed => "31;1",
            Change::Fixed => "32;1",
            _ => "33",
        };
        let _ = writeln!(
            out,
            "\n{} {} [{}]  {} → {}",
            colors.paint(code, label(cd.change)),
            cd.id,
            cd.target,
            status(cd.status.0),
            status(cd.status.1)
        );
        if let (Some(a), Some(b)) = cd.score
            && (a - b).abs() > 1e-9
        {
            let _ = writeln!(out, "  score {a:.3} → {b:.3} ({:+.3})", b - a);
        }
        if let (Some(r), Change::Regressed) = (&cd.reason, cd.change) {
            let _ = writeln!(out, "  reason: {}", clip(r, 200));
        }
        for a in &cd.assertions {
            let _ = writeln!(
                out,
                "  assertion {}: {} → {}",
                a.assertion,
                outcome(a.before),
                outcome(a.after)
            );
        }
        for n in &cd.nodes {
            let _ = writeln!(
                out,
                "  node {}: {} → {}",
                n.node,
                n.before
                    .as_deref()
                    .map_or("(did not run)".to_owned(), |s| clip(&format!("{s:?}"), 80)),
                n.after
                    .as_deref()
                    .map_or("(did not run)".to_owned(), |s| clip(&format!("{s:?}"), 80))
            );
        }
        if let Some((a, b)) = &cd.tool_calls {
            let _ = writeln!(out, "  tool calls: [{}] → [{}]", a.join(", "), b.join(", "));
        }
        if let Some(diff) = &cd.output_diff {
            for line in diff.lines() {
                let painted = match line.chars().next() {
                    Some('-') => colors.paint("31", line),
                    Some('+') => colors.paint("32", line),
                    _ => line.to_owned(),
                };
                let _ = writeln!(out, "    {painted}");
            }
        }
        let _ = writeln!(
            out,
            "  tokens {}   cost {}   latency {}",
            match cd.tokens {
                (Some(a), Some(b)) => format!("{a} → {b} ({:+})", b as i64 - a as i64),
                _ => "—".into(),
            },
            delta_f(cd.cost_usd.0, cd.cost_usd.1, "", 6),
            delta_f(cd.latency_ms.0, cd.latency_ms.1, " ms", 1)
        );
    }
    out
}

pub fn markdown(d: &RunDiff) -> String {
    let mut out = String::new();
    let c = &d.counts;
    let icon = if c.regressed > 0 { "❌" } else { "✅" };
    let _ = writeln!(
        out,
        "## {icon} Gauntlet diff: `{}` → `{}`\n",
        d.a.id, d.b.id
    );
    let _ = writeln!(
        out,
        "| regressed | fixed | changed | new | removed | unchanged |\n|---:|---:|---:|---:|---:|---:|"
    );
    let _ = writeln!(
        out,
        "| {} | {} | {} | {} | {} | {} |\n",
        c.regressed, c.fixed, c.changed, c.new, c.removed, c.unchanged
    );
    let (ta, tb) = (&d.totals.0, &d.totals.1);
    let _ = writeln!(out, "| | A | B |\n|---|---:|---:|");
    let _ = writeln!(
        out,
        "| passed | {}/{} | {}/{} |",
        ta.passed, ta.cases, tb.passed, tb.cases
    );
    let _ = writeln!(out, "| tokens | {} | {} |", ta.tokens, tb.tokens);
    let _ = writeln!(out, "| cost | ${:.6} | ${:.6} |", ta.cost_usd, tb.cost_usd);
    let _ = writeln!(
        out,
        "| mean latency | {:.1} ms | {:.1} ms |\n",
        d.latency_ms.0, d.latency_ms.1
    );
    if !d.config.is_empty() {
        let _ = writeln!(
            out,
            "### Configuration changes\n\n| path | A | B |\n|---|---|---|"
        );
        for ch in &d.config {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} |",
                ch.pointer,
                short(&ch.before).replace('|', "\\|"),
                short(&ch.after).replace('|', "\\|")
            );
        }
        out.push('\n');
    }
    if !d.cases.is_empty() {
        let _ = writeln!(
            out,
            "### Cases\n\n| case | change | status | score |\n|---|---|---|---|"
        );
        for cd in &d.cases {
            let score = match cd.score {
                (Some(a), Some(b)) => format!("{a:.2} → {b:.2}"),
                (a, b) => format!(
                    "{} → {}",
                    a.map_or("—".into(), |x| format!("{x:.2}")),
                    b.map_or("—".into(), |x| format!("{x:.2}"))
                ),
            };
            let _ = writeln!(
                out,
                "| `{}` [{}] | {} | {} → {} | {} |",
                cd.id,
                cd.target,
                label(cd.change),
                status(cd.status.0),
                status(cd.status.1),
                score
            );
        }
        for cd in d.cases.iter().filter(|c| c.output_diff.is_some()) {
            let _ = writeln!(
                out,
                "\n<details><summary><code>{}</code> output</summary>\n\n```diff\n{}```\n</details>",
                cd.id,
                cd.output_diff.as_deref().unwrap_or("")
            );
        }
    }
    out
}

pub fn json(d: &RunDiff) -> String {
    let mut s =
        serde_json::to_string_pretty(d).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    s.push('\n');
    s
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// A self-contained HTML page (inline CSS, no scripts, no network).
pub fn html(d: &RunDiff) -> String {
    let c = &d.counts;
    let mut out = String::from(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Gauntlet diff</title><style>\
         body{font:14px/1.5 system-ui,sans-serif;max-width:1100px;margin:2rem auto;padding:0 1rem}\
         table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #d0d7de;padding:.3rem .5rem;text-align:left;vertical-align:top}\
         .regressed{color:#cf222e}.fixed{color:#1a7f37}.changed,.new,.removed{color:#9a6700}\
         pre{background:#f6f8fa;padding:.5rem;white-space:pre-wrap}.del{color:#cf222e}.add{color:#1a7f37}</style></head><body>\n",
    );
    let _ = writeln!(
        out,
        "<h1>Gauntlet diff</h1><p><code>{}</code> → <code>{}</code> (suite {})</p>",
        esc(d.a.id.as_str()),
        esc(d.b.id.as_str()),
        esc(&d.b.suite)
    );
    let _ = writeln!(
        out,
        "<p><b class=\"regressed\">{} regressed</b> · <b class=\"fixed\">{} fixed</b> · {} changed · {} new · {} removed · {} unchanged</p>",
        c.regressed, c.fixed, c.changed, c.new, c.removed, c.unchanged
    );
    if !d.config.is_empty() {
        out.push_str("<h2>Configuration</h2><table><tr><th>path</th><th>A</th><th>B</th></tr>");
        for ch in &d.config {
            let _ = write!(
                out,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                esc(&ch.pointer),
                esc(&short(&ch.before)),
                esc(&short(&ch.after))
            );
        }
        out.push_str("</table>\n");
    }
    out.push_str("<h2>Cases</h2><table><tr><th>case</th><th>change</th><th>status</th><th>details</th></tr>\n");
    for cd in &d.cases {
        let class = format!("{:?}", cd.change).to_lowercase();
        let mut details = String::new();
        for a in &cd.assertions {
            let _ = write!(
                details,
                "<div>assertion {}: {} → {}</div>",
                esc(&a.assertion),
                outcome(a.before),
                outcome(a.after)
            );
        }
        for n in &cd.nodes {
            let _ = write!(
                details,
                "<div>node {}: {} → {}</div>",
                esc(&n.node),
                esc(n.before.as_deref().unwrap_or("(did not run)")),
                esc(n.after.as_deref().unwrap_or("(did not run)"))
            );
        }
        if let Some((a, b)) = &cd.tool_calls {
            let _ = write!(
                details,
                "<div>tool calls: {} → {}</div>",
                esc(&a.join(", ")),
                esc(&b.join(", "))
            );
        }
        if let Some(diff) = &cd.output_diff {
            details.push_str("<pre>");
            for line in diff.lines() {
                let cls = match line.chars().next() {
                    Some('-') => "del",
                    Some('+') => "add",
                    _ => "",
                };
                let _ = writeln!(details, "<span class=\"{cls}\">{}</span>", esc(line));
            }
            details.push_str("</pre>");
        }
        let _ = writeln!(
            out,
            "<tr><td><code>{}</code> [{}]</td><td class=\"{class}\">{}</td><td>{} → {}</td><td>{details}</td></tr>",
            esc(&cd.id),
            esc(&cd.target),
            label(cd.change),
            status(cd.status.0),
            status(cd.status.1)
        );
    }
    out.push_str("</table>\n</body></html>\n");
    out
}
