//! One case: its graph with each node's fate and the edges taken, the failure tree, the
//! execution timeline and latency waterfall, node-by-node inspection of input, output,
//! conversation and tool calls, contract checks, and every assertion with its score and reason.

use gauntlet_core::result::{CaseResult, NodeState, RunRecord, StepRecord};

use crate::format::{badge, cost, count, ms, short_id};
use crate::{Chrome, Nav, esc, json_block, layout};

/// Steps rendered with the page; the rest load when asked for, this many at a time.
pub const STEPS_INLINE: usize = 100;
pub const STEPS_PER_LOAD: usize = 500;

/// The anchor of a step: its node's name, or its position.
pub fn step_anchor(prefix: &str, i: usize, s: &StepRecord) -> String {
    let key: String = match &s.node {
        Some(n) => n
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '-'
                }
            })
            .collect(),
        None => i.to_string(),
    };
    format!("{prefix}step-{key}")
}

fn pre(text: &str) -> String {
    format!("<pre>{}</pre>", esc(text))
}

fn json_pre(v: &serde_json::Value) -> String {
    pre(&serde_json::to_string_pretty(v).unwrap_or_default())
}

/// One step, as an expandable section.
pub fn step(prefix: &str, i: usize, s: &StepRecord, open: bool) -> String {
    let failed = s.error.is_some() || !s.violations.is_empty();
    let title = match &s.node {
        Some(n) => format!(
            "{} <span class=\"sub\">agent {}</span>",
            esc(n),
            esc(&s.agent)
        ),
        None => esc(&s.agent),
    };
    let mut out = format!(
        r#"<details class="step{cls}" id="{anchor}"{open}><summary><span class="step-no">{n}</span> {title} {state} <span class="sub">{model} · {latency} · {tokens} tokens · {cost}</span></summary><div class="step-body">"#,
        cls = if failed { " failed" } else { "" },
        anchor = esc(&step_anchor(prefix, i, s)),
        open = if open { " open" } else { "" },
        n = i + 1,
        state = badge(if failed { "failed" } else { "ran" }),
        model = esc(&format!("{}/{}", s.provider, s.model)),
        latency = ms(s.latency_ms),
        tokens = count(s.tokens.total()),
        cost = cost(s.cost_usd),
    );
    let mut facts = vec![
        format!("starts at {}", ms(s.start_ms)),
        format!(
            "{} model call{}",
            s.model_calls,
            if s.model_calls == 1 { "" } else { "s" }
        ),
        format!("{} in / {} out tokens", s.tokens.input, s.tokens.output),
    ];
    if s.retries > 0 {
        facts.push(format!(
            "{} retr{}",
            s.retries,
            if s.retries == 1 { "y" } else { "ies" }
        ));
    }
    if let Some(t) = s.ttft_ms {
        facts.push(format!("first token after {}", ms(t)));
    }
    if let Some(t) = s.tokens_per_s {
        facts.push(format!("{t:.0} tokens/s"));
    }
    if let Some(p) = &s.served_by {
        facts.push(format!("served by fallback {}", esc(p)));
    }
    out.push_str(&format!(r#"<p class="sub">{}</p>"#, facts.join(" · ")));
    if let Some(e) = &s.error {
        out.push_str(&format!(
            r#"<p class="problem" role="alert"><b>Error:</b> {}</p>"#,
            esc(e)
        ));
    }
    for v in &s.violations {
        out.push_str(&format!(
            r#"<p class="problem"><b>Contract:</b> {}</p>"#,
            esc(v)
        ));
    }
    for f in &s.faults {
        out.push_str(&format!(
            r#"<p class="fault"><b>Chaos</b> {} at {} (turn {}): {}</p>"#,
            esc(&f.kind),
            esc(&f.at),
            f.turn,
            esc(&f.detail)
        ));
    }
    // The conversation as recorded: the input, each tool call with its result, the answer.
    out.push_str(r#"<ol class="conversation" aria-label="Conversation">"#);
    out.push_str(&format!(
        r#"<li class="msg user"><span class="who">input</span>{}</li>"#,
        pre(&s.input)
    ));
    for c in &s.tool_calls {
        let result = match (&c.result, &c.error) {
            (_, Some(e)) => format!(r#"<div class="problem">error: {}</div>"#, esc(e)),
            (Some(v), None) => json_pre(v),
            (None, None) => String::new(),
        };
        out.push_str(&format!(
            r#"<li class="msg tool"><span class="who">tool call <code>{}</code> · {}</span>{}<span class="who">result</span>{}</li>"#,
            esc(&c.name),
            ms(c.latency_ms),
            json_pre(&c.args),
            result
        ));
    }
    match &s.output {
        Some(o) => out.push_str(&format!(r#"<li class="msg assistant"><span class="who">output</span>{}</li>"#, pre(o))),
        None => out.push_str(r#"<li class="msg assistant"><span class="who">output</span><p class="sub">none</p></li>"#),
    }
    out.push_str("</ol></div></details>");
    out
}

/// Steps `from..to` of a case, for the page and for loading more.
pub fn steps(case: &CaseResult, prefix: &str, from: usize, to: usize) -> String {
    let only = case.steps.len() == 1;
    case.steps
        .iter()
        .enumerate()
        .skip(from)
        .take(to.saturating_sub(from))
        .map(|(i, s)| {
            let failed = s.error.is_some() || !s.violations.is_empty();
            step(prefix, i, s, only || failed)
        })
        .collect()
}

/// The steps from `from` for the "show more" link: a page of them, then the link to the next.
pub fn more_steps(case: &CaseResult, href_base: &str, from: usize) -> String {
    let to = (from + STEPS_PER_LOAD).min(case.steps.len());
    let mut out = steps(case, "", from, to);
    if to < case.steps.len() {
        out.push_str(&load_more(href_base, to, case.steps.len()));
    }
    out
}

fn load_more(href_base: &str, from: usize, total: usize) -> String {
    let href = format!("{href_base}?from={from}");
    format!(
        r#"<p class="more"><a class="button" href="{href}" data-load-more="{href}">Show steps {} to {} of {total}</a></p>"#,
        from + 1,
        (from + STEPS_PER_LOAD).min(total),
        href = esc(&href)
    )
}

/// Everything about a case below its header. `prefix` keeps anchors unique when several cases
/// share a page (the report); `more` is where further steps load from (`?from=N`).
pub fn detail(case: &CaseResult, prefix: &str, more: Option<&str>) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        r#"<div class="io"><section><h3>Input</h3>{}</section><section><h3>Output</h3>{}</section></div>"#,
        pre(&case.input),
        case.output.as_deref().map(pre).unwrap_or_else(|| r#"<p class="sub">none</p>"#.to_owned()),
    ));
    if let Some(trace) = &case.trace {
        let href = |node: &str| {
            case.steps
                .iter()
                .enumerate()
                .find(|(_, s)| s.node.as_deref() == Some(node))
                .map(|(i, s)| format!("#{}", step_anchor(prefix, i, s)))
        };
        out.push_str(&format!(
            r#"<section aria-labelledby="{prefix}graph-h"><h3 id="{prefix}graph-h">Graph <code>{}</code></h3><div class="legend" aria-hidden="true"><span class="ran">ran</span><span class="failed">failed</span><span class="skipped">skipped</span><span class="unreached">not reached</span><span class="edge-taken">edge taken</span><span class="edge-dead">not taken</span></div><div class="graph-box">{}</div></section>"#,
            esc(&trace.graph),
            crate::graph::svg(trace, &href),
        ));
        let tree = crate::graph::failure_tree(trace);
        if !tree.is_empty() {
            out.push_str(&format!(r#"<section aria-labelledby="{prefix}tree-h"><h3 id="{prefix}tree-h">Failure tree</h3><ul class="tree">"#));
            for (root, below) in &tree {
                let why = case
                    .steps
                    .iter()
                    .find(|s| s.node.as_deref() == Some(root))
                    .and_then(|s| s.error.clone().or_else(|| s.violations.first().cloned()))
                    .unwrap_or_default();
                out.push_str(&format!(
                    r#"<li><b class="bad-text">{}</b> failed: {}"#,
                    esc(root),
                    esc(&why)
                ));
                if !below.is_empty() {
                    out.push_str("<ul>");
                    for (n, depth) in below {
                        out.push_str(&format!(
                            r#"<li style="margin-left:{}rem">{} did not run</li>"#,
                            (depth - 1) as f64 * 1.2,
                            esc(n)
                        ));
                    }
                    out.push_str("</ul>");
                }
                let downstream: Vec<&str> = case
                    .assertions
                    .iter()
                    .filter(|a| !a.pass)
                    .map(|a| a.kind.as_str())
                    .collect();
                if !downstream.is_empty() {
                    out.push_str(&format!(
                        r#"<p class="sub">and so failed: {}</p>"#,
                        esc(&downstream.join(", "))
                    ));
                }
                out.push_str("</li>");
            }
            out.push_str("</ul></section>");
        } else if trace.nodes.iter().all(|n| n.state != NodeState::Failed)
            && case.assertions.iter().any(|a| !a.pass)
        {
            out.push_str(&format!(
                r#"<section aria-labelledby="{prefix}tree-h"><h3 id="{prefix}tree-h">Failure tree</h3><p>Every node ran; the case failed on its assertions: {}.</p></section>"#,
                esc(&case.assertions.iter().filter(|a| !a.pass).map(|a| match &a.node {
                    Some(n) => format!("{} (on node {n})", a.kind),
                    None => a.kind.clone(),
                }).collect::<Vec<_>>().join(", "))
            ));
        }
    }
    if !case.steps.is_empty() {
        let id = format!("{prefix}wf");
        out.push_str(&format!(
            r#"<section aria-labelledby="{prefix}wf-h"><h3 id="{prefix}wf-h">Timeline and latency waterfall</h3><div class="legend" aria-hidden="true"><span class="k-step">step</span><span class="k-model">model call</span><span class="k-tool">tool call</span><span class="k-backoff">retry wait</span><span class="k-fault">chaos fault</span></div><div class="waterfall" data-waterfall="{id}" tabindex="0" aria-label="Waterfall of {n} steps; rows open their step"><noscript>The waterfall needs JavaScript; the steps are listed below.</noscript></div>{json}</section>"#,
            n = case.steps.len(),
            json = json_block(&id, &crate::timeline::rows(case, prefix)),
        ));
        out.push_str(&usage(case, prefix));
        out.push_str(&format!(
            r#"<section aria-labelledby="{prefix}steps-h"><h3 id="{prefix}steps-h">Steps <span class="count">{}</span></h3><div class="steps" data-steps>"#,
            case.steps.len()
        ));
        let inline = case.steps.len().min(STEPS_INLINE);
        out.push_str(&steps(case, prefix, 0, inline));
        if case.steps.len() > inline {
            match more {
                Some(base) => out.push_str(&load_more(base, inline, case.steps.len())),
                None => out.push_str(&steps(case, prefix, inline, case.steps.len())),
            }
        }
        out.push_str("</div></section>");
        let violations: Vec<(&StepRecord, &String)> = case
            .steps
            .iter()
            .flat_map(|s| s.violations.iter().map(move |v| (s, v)))
            .collect();
        out.push_str(&format!(r#"<section aria-labelledby="{prefix}contract-h"><h3 id="{prefix}contract-h">Contract checks</h3>"#));
        if violations.is_empty() {
            out.push_str(r#"<p class="ok-text">No step broke its agent's contract.</p>"#);
        } else {
            out.push_str("<ul>");
            for (s, v) in violations {
                out.push_str(&format!(
                    "<li><b>{}</b>: {}</li>",
                    esc(s.node.as_deref().unwrap_or(&s.agent)),
                    esc(v)
                ));
            }
            out.push_str("</ul>");
        }
        out.push_str("</section>");
    }
    out.push_str(&format!(
        r#"<section aria-labelledby="{prefix}asserts-h"><h3 id="{prefix}asserts-h">Assertions</h3>"#
    ));
    if case.assertions.is_empty() {
        out.push_str(r#"<p class="sub">This case has no assertions.</p>"#);
    } else {
        out.push_str(r#"<div class="scroll"><table class="assertions"><thead><tr><th scope="col">Type</th><th scope="col">Result</th><th scope="col" class="num">Score</th><th scope="col" class="num">Weight</th><th scope="col">Node</th><th scope="col">Reason</th></tr></thead><tbody>"#);
        for a in &case.assertions {
            let details = a
                .details
                .as_ref()
                .map(|d| {
                    format!(
                        "<details><summary>details</summary>{}</details>",
                        json_pre(d)
                    )
                })
                .unwrap_or_default();
            out.push_str(&format!(
                r#"<tr data-pass="{}"><td><code>{}</code></td><td>{}</td><td class="num">{:.2}</td><td class="num">{}</td><td>{}</td><td>{}{}</td></tr>"#,
                a.pass,
                esc(&a.kind),
                badge(if a.pass { "passed" } else { "failed" }),
                a.score,
                a.weight,
                esc(a.node.as_deref().unwrap_or("")),
                esc(&a.reason),
                details
            ));
        }
        out.push_str("</tbody></table></div>");
    }
    out.push_str("</section>");
    out
}

/// Tokens and cost of the case by agent and model.
fn usage(case: &CaseResult, prefix: &str) -> String {
    let mut rows: Vec<(&str, &str, u64, u64, u64, f64, f64)> = Vec::new();
    for s in &case.steps {
        match rows.iter_mut().find(|r| r.0 == s.agent && r.1 == s.model) {
            Some(r) => {
                r.2 += 1;
                r.3 += s.tokens.input;
                r.4 += s.tokens.output;
                r.5 += s.cost_usd;
                r.6 += s.latency_ms;
            }
            None => rows.push((
                &s.agent,
                &s.model,
                1,
                s.tokens.input,
                s.tokens.output,
                s.cost_usd,
                s.latency_ms,
            )),
        }
    }
    let mut out = format!(
        r#"<section aria-labelledby="{prefix}usage-h"><h3 id="{prefix}usage-h">Tokens and cost by agent and model</h3><div class="scroll"><table><thead><tr><th scope="col">Agent</th><th scope="col">Model</th><th scope="col" class="num">Steps</th><th scope="col" class="num">Tokens in</th><th scope="col" class="num">Tokens out</th><th scope="col" class="num">Cost</th><th scope="col" class="num">Time</th></tr></thead><tbody>"#
    );
    for (agent, model, n, i, o, c, l) in rows {
        out.push_str(&format!(
            r#"<tr><td>{}</td><td><code>{}</code></td><td class="num">{n}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td></tr>"#,
            esc(agent),
            esc(model),
            count(i),
            count(o),
            cost(c),
            ms(l)
        ));
    }
    out.push_str("</tbody></table></div></section>");
    out
}

/// The facts of a case, as one line of chips.
pub fn header(case: &CaseResult) -> String {
    format!(
        r#"<p class="chips">{badge} <span class="chip">target <code>{target}</code></span><span class="chip">score {score:.2}</span><span class="chip">{latency}</span><span class="chip">{cost}</span><span class="chip">{tokens} tokens</span><span class="chip">{steps} step{s}</span>{tags}</p>{reason}"#,
        badge = badge(case.status.as_str()),
        target = esc(&case.target),
        score = case.score,
        latency = ms(case.latency_ms),
        cost = cost(case.cost_usd),
        tokens = count(case.tokens.total()),
        steps = case.steps.len(),
        s = if case.steps.len() == 1 { "" } else { "s" },
        tags = case
            .tags
            .iter()
            .map(|t| format!(r#"<span class="chip tag">#{}</span>"#, esc(t)))
            .collect::<String>(),
        reason = case
            .reason
            .as_deref()
            .map(|r| format!(r#"<p class="problem"><b>Why:</b> {}</p>"#, esc(r)))
            .unwrap_or_default(),
    )
}

pub fn page(chrome: &Chrome, run: &RunRecord, case: &CaseResult) -> String {
    let id = run.id.as_str();
    let more = format!("/runs/{id}/cases/{}/steps", case.index);
    let body = format!(
        r#"<nav class="crumbs" aria-label="Breadcrumb"><a href="/">Runs</a> / <a href="/runs/{id}">{suite} <code>{short}</code></a> / <span>case {idx}</span></nav><div class="title"><h1>{case_id}{trial}</h1></div>{header}{detail}"#,
        id = esc(id),
        suite = esc(&run.suite),
        short = esc(short_id(id)),
        idx = case.index,
        case_id = esc(&case.id),
        trial = if case.trial > 0 {
            format!(" <span class=\"sub\">trial {}</span>", case.trial)
        } else {
            String::new()
        },
        header = header(case),
        detail = detail(case, "", Some(&more)),
    );
    layout(
        chrome,
        Nav::Runs,
        &format!("{} · {}", case.id, run.suite),
        &body,
    )
}
