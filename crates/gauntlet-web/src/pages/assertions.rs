//! The assertion explorer: every assertion of a run with its score and reason, filtered by
//! type and outcome, paged.

use gauntlet_core::result::{RunRecord, RunStats};
use gauntlet_store::explore::{AssertionRow, Page};

use crate::format::{badge, short_id};
use crate::{Chrome, Nav, esc, layout, query};

pub struct View<'a> {
    pub run: &'a RunRecord,
    pub stats: Option<&'a RunStats>,
    pub rows: &'a Page<AssertionRow>,
    pub kind: &'a str,
    pub failed_only: bool,
    pub paged: bool,
}

pub fn page(chrome: &Chrome, v: &View) -> String {
    let id = v.run.id.as_str();
    let mut types: Vec<String> = v
        .stats
        .map(|s| s.assertions.iter().map(|a| a.kind.clone()).collect())
        .unwrap_or_default();
    if !v.kind.is_empty() && !types.iter().any(|t| t == v.kind) {
        types.push(v.kind.to_owned());
    }
    let options: String = types
        .iter()
        .map(|t| {
            let count = v
                .stats
                .and_then(|s| s.assertions.iter().find(|a| &a.kind == t))
                .map(|a| format!(" ({} of {} failed)", a.total - a.passed, a.total))
                .unwrap_or_default();
            format!(
                r#"<option value="{v}"{sel}>{v}{count}</option>"#,
                v = esc(t),
                sel = if t == v.kind { " selected" } else { "" }
            )
        })
        .collect();
    let mut body = format!(
        r#"<nav class="crumbs" aria-label="Breadcrumb"><a href="/">Runs</a> / <a href="/runs/{id}">{suite} <code>{short}</code></a> / <span>assertions</span></nav><div class="title"><h1>Assertion explorer</h1></div><form class="filters" method="get" action="/runs/{id}/assertions" role="search" aria-label="Filter assertions"><label>Type<select name="type"><option value="">every type</option>{options}</select></label><label class="check"><input type="checkbox" name="failed" value="1"{checked}> failed only</label><button type="submit">Filter</button></form>"#,
        id = esc(id),
        suite = esc(&v.run.suite),
        short = esc(short_id(id)),
        checked = if v.failed_only { " checked" } else { "" },
    );
    if v.rows.items.is_empty() {
        body.push_str(r#"<p class="empty">No assertion matches.</p>"#);
    } else {
        body.push_str(r#"<div class="scroll"><table class="assertions"><thead><tr><th scope="col">Case</th><th scope="col">Target</th><th scope="col">Type</th><th scope="col">Result</th><th scope="col" class="num">Score</th><th scope="col">Node</th><th scope="col">Reason</th></tr></thead><tbody>"#);
        for a in &v.rows.items {
            body.push_str(&format!(
                r#"<tr data-pass="{pass}"><td><a href="/runs/{id}/cases/{ci}">{case}</a></td><td><code>{target}</code></td><td><code>{kind}</code></td><td>{badge}</td><td class="num">{score:.2}</td><td>{node}</td><td>{reason}</td></tr>"#,
                pass = a.pass,
                id = esc(id),
                ci = a.case_index,
                case = esc(&a.case_id),
                target = esc(&a.target),
                kind = esc(&a.kind),
                badge = badge(if a.pass { "passed" } else { "failed" }),
                score = a.score,
                node = esc(a.node.as_deref().unwrap_or("")),
                reason = esc(&gauntlet_report::clip(&a.reason, 240)),
            ));
        }
        body.push_str("</tbody></table></div>");
    }
    let failed = if v.failed_only { "1" } else { "" };
    let mut pager = String::new();
    if v.paged {
        pager.push_str(&format!(
            r#"<a href="/runs/{}/assertions{}">First</a>"#,
            esc(id),
            query(&[("type", v.kind), ("failed", failed)])
        ));
    }
    if v.rows.more
        && let Some(last) = v.rows.items.last()
    {
        let after = format!("{}.{}", last.case_index, last.assertion_index);
        pager.push_str(&format!(
            r#"<a href="/runs/{}/assertions{}" rel="next">Next →</a>"#,
            esc(id),
            query(&[("type", v.kind), ("failed", failed), ("after", &after)])
        ));
    }
    if !pager.is_empty() {
        body.push_str(&format!(
            r#"<nav class="pager" aria-label="Pages">{pager}</nav>"#
        ));
    }
    layout(chrome, Nav::Assertions, "Assertions", &body)
}
