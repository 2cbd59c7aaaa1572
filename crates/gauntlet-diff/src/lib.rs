//! What changed between two runs: configuration, and case by case (and node by node for
//! graphs) status transitions, scores, assertion outcomes, outputs, tool calls, tokens, cost and
//! latency.
//!
//! Pure computation over stored results; `render` turns a [`RunDiff`] into text, Markdown or
//! JSON. Knows nothing about where runs are stored.

pub mod drift;
pub mod render;

use std::collections::HashMap;

use gauntlet_core::result::{CaseResult, CaseStatus, RunRecord, Totals};
use serde::Serialize;
use serde_json::Value;

/// The parts of a case result a diff compares (outputs kept, bulky inputs dropped).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CaseSummary {
    pub id: String,
    pub target: String,
    pub status: CaseStatus,
    pub score: f64,
    pub output: Option<String>,
    pub reason: Option<String>,
    pub tokens: u64,
    pub cost_usd: f64,
    pub latency_ms: f64,
    /// `type` → pass, in order (repeated types are numbered `type#2`).
    pub assertions: Vec<(String, bool)>,
    /// `name(args)` of every tool call, in order.
    pub tool_calls: Vec<String>,
    /// Graph nodes that ran: node → output, or `error: …`.
    pub nodes: Vec<(String, String)>,
}

impl CaseSummary {
    pub fn of(c: &CaseResult) -> CaseSummary {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        let assertions = c
            .assertions
            .iter()
            .map(|a| {
                let n = seen.entry(a.kind.as_str()).or_insert(0);
                *n += 1;
                let key = if *n == 1 {
                    a.kind.clone()
                } else {
                    format!("{}#{n}", a.kind)
                };
                (key, a.pass)
            })
            .collect();
        CaseSummary {
            id: c.id.clone(),
            target: c.target.clone(),
            status: c.status,
            score: c.score,
            output: c.output.clone(),
            reason: c.reason.clone(),
            tokens: c.tokens.total(),
            cost_usd: c.cost_usd,
            latency_ms: c.latency_ms,
            assertions,
            tool_calls: c
                .steps
                .iter()
                .flat_map(|s| &s.tool_calls)
                .map(|t| format!("{}({})", t.name, t.args))
                .collect(),
            nodes: c
                .steps
                .iter()
                .filter_map(|s| {
                    let node = s.node.clone()?;
                    let what = match (&s.error, &s.output) {
                        (Some(e), _) => format!("error: {e}"),
                        (None, Some(o)) => o.clone(),
                        (None, None) => String::new(),
                    };
                    Some((node, what))
                })
                .collect(),
        }
    }

    fn key(&self) -> (String, String) {
        (self.id.clone(), self.target.clone())
    }
}

/// One run's side of a comparison.
pub struct Side {
    pub run: RunRecord,
    pub snapshot: Value,
    pub cases: Vec<CaseSummary>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// Passed in A, did not pass in B.
    Regressed,
    /// Did not pass in A, passed in B.
    Fixed,
    /// Same status, but outputs, scores, assertions or tool calls differ.
    Changed,
    New,
    Removed,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ConfigChange {
    pub pointer: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AssertionChange {
    pub assertion: String,
    pub before: Option<bool>,
    pub after: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NodeChange {
    pub node: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CaseDiff {
    pub id: String,
    pub target: String,
    pub change: Change,
    pub status: (Option<CaseStatus>, Option<CaseStatus>),
    pub score: (Option<f64>, Option<f64>),
    pub reason: Option<String>,
    pub assertions: Vec<AssertionChange>,
    /// Unified diff of the outputs, when they differ.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_diff: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<(Vec<String>, Vec<String>)>,
    pub nodes: Vec<NodeChange>,
    pub tokens: (Option<u64>, Option<u64>),
    pub cost_usd: (Option<f64>, Option<f64>),
    pub latency_ms: (Option<f64>, Option<f64>),
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub regressed: u64,
    pub fixed: u64,
    pub changed: u64,
    pub new: u64,
    pub removed: u64,
    pub unchanged: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct RunDiff {
    pub a: RunRecord,
    pub b: RunRecord,
    pub config: Vec<ConfigChange>,
    pub counts: Counts,
    pub totals: (Totals, Totals),
    pub latency_ms: (f64, f64),
    pub cases: Vec<CaseDiff>,
}

impl RunDiff {
    pub fn has_regressions(&self) -> bool {
        self.counts.regressed > 0
    }
}

fn passed(s: CaseStatus) -> bool {
    s == CaseStatus::Passed
}

/// Compares run A (before) with run B (after).
pub fn diff(a: Side, b: Side) -> RunDiff {
    let mut config = Vec::new();
    compare_values("", Some(&a.snapshot), Some(&b.snapshot), &mut config);
    let mut counts = Counts::default();
    let mut cases = Vec::new();
    let mut in_b: HashMap<(String, String), CaseSummary> =
        b.cases.iter().map(|c| (c.key(), c.clone())).collect();
    let mean_latency = |cs: &[CaseSummary]| {
        if cs.is_empty() {
            0.0
        } else {
            cs.iter().map(|c| c.latency_ms).sum::<f64>() / cs.len() as f64
        }
    };
    let latency = (mean_latency(&a.cases), mean_latency(&b.cases));
    for before in &a.cases {
        match in_b.remove(&before.key()) {
            None => {
                counts.removed += 1;
                cases.push(case_diff(Some(before), None, Change::Removed));
            }
            Some(after) => {
                let change = match (passed(before.status), passed(after.status)) {
                    (true, false) => Some(Change::Regressed),
                    (false, true) => Some(Change::Fixed),
                    _ if differs(before, &after) => Some(Change::Changed),
                    _ => None,
                };
                match change {
                    Some(ch) => {
                        match ch {
                            Change::Regressed => counts.regressed += 1,
                            Change::Fixed => counts.fixed += 1,
                            _ => counts.changed += 1,
                        }
                        cases.push(case_diff(Some(before), Some(&after), ch));
                    }
                    None => counts.unchanged += 1,
                }
            }
        }
    }
    // Cases only in B, in B's order.
    for after in &b.cases {
        if in_b.contains_key(&after.key()) {
            counts.new += 1;
            cases.push(case_diff(None, Some(after), Change::New));
        }
    }
    // Regressions first: they are what a reviewer must see.
    cases.sort_by_key(|c| match c.change {
        Change::Regressed => 0,
        Change::Fixed => 1,
        Change::Changed => 2,
        Change::New => 3,
        Change::Removed => 4,
    });
    RunDiff {
        totals: (a.run.totals, b.run.totals),
        a: a.run,
        b: b.run,
        config,
        counts,
        latency_ms: latency,
        cases,
    }
}

fn differs(a: &CaseSummary, b: &CaseSummary) -> bool {
    a.status != b.status
        || (a.score - b.score).abs() > 1e-9
        || a.output != b.output
        || a.assertions != b.assertions
        || a.tool_calls != b.tool_calls
        || a.nodes != b.nodes
}

fn case_diff(a: Option<&CaseSummary>, b: Option<&CaseSummary>, change: Change) -> CaseDiff {
    let any = a.or(b);
    let mut assertions = Vec::new();
    if let (Some(a), Some(b)) = (a, b) {
        for (kind, pass) in &a.assertions {
            let after = b
                .assertions
                .iter()
                .find(|(k, _)| k == kind)
                .map(|(_, p)| *p);
            if after != Some(*pass) {
                assertions.push(AssertionChange {
                    assertion: kind.clone(),
                    before: Some(*pass),
                    after,
                });
            }
        }
        for (kind, pass) in &b.assertions {
            if !a.assertions.iter().any(|(k, _)| k == kind) {
                assertions.push(AssertionChange {
                    assertion: kind.clone(),
                    before: None,
                    after: Some(*pass),
                });
            }
        }
    }
    let output_diff = match (
        a.and_then(|c| c.output.as_deref()),
        b.and_then(|c| c.output.as_deref()),
    ) {
        (Some(x), Some(y)) if x != y => Some(unified(x, y)),
        _ => None,
    };
    let tool_calls = match (a, b) {
        (Some(x), Some(y)) if x.tool_calls != y.tool_calls => {
            Some((x.tool_calls.clone(), y.tool_calls.clone()))
        }
        _ => None,
    };
    let mut nodes = Vec::new();
    if let (Some(a), Some(b)) = (a, b) {
        for (node, out) in &a.nodes {
            let after = b
                .nodes
                .iter()
                .find(|(n, _)| n == node)
                .map(|(_, o)| o.clone());
            if after.as_ref() != Some(out) {
                nodes.push(NodeChange {
                    node: node.clone(),
                    before: Some(out.clone()),
                    after,
                });
            }
        }
        for (node, out) in &b.nodes {
            if !a.nodes.iter().any(|(n, _)| n == node) {
                nodes.push(NodeChange {
                    node: node.clone(),
                    before: None,
                    after: Some(out.clone()),
                });
            }
        }
    }
    CaseDiff {
        id: any.map(|c| c.id.clone()).unwrap_or_default(),
        target: any.map(|c| c.target.clone()).unwrap_or_default(),
        change,
        status: (a.map(|c| c.status), b.map(|c| c.status)),
        score: (a.map(|c| c.score), b.map(|c| c.score)),
        reason: b.and_then(|c| c.reason.clone()),
        assertions,
        output_diff,
        tool_calls,
        nodes,
        tokens: (a.map(|c| c.tokens), b.map(|c| c.tokens)),
        cost_usd: (a.map(|c| c.cost_usd), b.map(|c| c.cost_usd)),
        latency_ms: (a.map(|c| c.latency_ms), b.map(|c| c.latency_ms)),
    }
}

/// A unified line diff of two outputs (one-line outputs become one `-` and one `+` line).
pub fn unified(a: &str, b: &str) -> String {
    let (a, b) = (with_newline(a), with_newline(b));
    similar::TextDiff::from_lines(a.as_str(), b.as_str())
        .unified_diff()
        .context_radius(2)
        .missing_newline_hint(false)
        .to_string()
}

fn with_newline(s: &str) -> String {
    if s.ends_with('\n') {
        s.to_owned()
    } else {
        format!("{s}\n")
    }
}

/// The configuration paths (JSON pointers) where snapshot `b` differs from `a`.
pub fn config_changes(a: &Value, b: &Value) -> Vec<ConfigChange> {
    let mut out = Vec::new();
    compare_values("", Some(a), Some(b), &mut out);
    out
}

/// Leaf-level differences between two JSON values, as JSON pointers. Objects are compared key
/// by key, arrays element by element when their lengths match (otherwise as a whole).
fn compare_values(
    pointer: &str,
    a: Option<&Value>,
    b: Option<&Value>,
    out: &mut Vec<ConfigChange>,
) {
    match (a, b) {
        (Some(Value::Object(x)), Some(Value::Object(y))) => {
            for (k, v) in x {
                compare_values(&format!("{pointer}/{}", escape(k)), Some(v), y.get(k), out);
            }
            for (k, v) in y {
                if !x.contains_key(k) {
                    compare_values(&format!("{pointer}/{}", escape(k)), None, Some(v), out);
                }
            }
        }
        (Some(Value::Array(x)), Some(Value::Array(y))) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                compare_values(&format!("{pointer}/{i}"), Some(p), Some(q), out);
            }
        }
        (x, y) if x != y => out.push(ConfigChange {
            pointer: pointer.to_owned(),
            before: x.cloned(),
            after: y.cloned(),
        }),
        _ => {}
    }
}

fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn config_changes_are_leaf_pointers() {
        let mut out = Vec::new();
        let a = json!({"project": {"agents": {"t": {"system": "old", "tools": ["x"]}}}, "seed": 1});
        let b = json!({"project": {"agents": {"t": {"system": "new", "tools": ["x", "y"]}, "u": {}}}, "seed": 1});
        compare_values("", Some(&a), Some(&b), &mut out);
        let pointers: Vec<&str> = out.iter().map(|c| c.pointer.as_str()).collect();
        assert_eq!(
            pointers,
            [
                "/project/agents/t/system",
                "/project/agents/t/tools",
                "/project/agents/u"
            ]
        );
        assert_eq!(out[0].before, Some(json!("old")));
        assert_eq!(out[2].before, None);
    }

    #[test]
    fn unified_diff_of_single_lines() {
        assert_eq!(
            unified("hello world", "hello there"),
            "@@ -1 +1 @@\n-hello world\n+hello there\n"
        );
    }
}

/// How much worse a run may be than its baseline before the gate fails.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Tolerances {
    /// Percentage points the pass rate may fall.
    pub pass_rate_drop: f64,
    /// How far any one case's score (0–1) may fall.
    pub score_drop: f64,
    /// Relative increase of the mean cost per case (0.10 = 10%).
    pub cost_increase: f64,
    /// Relative increase of the mean latency per case.
    pub latency_increase: f64,
}

impl Default for Tolerances {
    fn default() -> Self {
        Tolerances {
            pass_rate_drop: 0.0,
            score_drop: 0.0,
            cost_increase: 0.10,
            latency_increase: 0.20,
        }
    }
}

/// The gate's verdict: every tolerance the run (B) exceeds against its baseline (A).
pub fn gate(d: &RunDiff, t: &Tolerances) -> Vec<String> {
    let mut out = Vec::new();
    let rate = |x: &Totals| {
        if x.cases == 0 {
            0.0
        } else {
            100.0 * x.passed as f64 / x.cases as f64
        }
    };
    let (ra, rb) = (rate(&d.totals.0), rate(&d.totals.1));
    if rb + 1e-9 < ra - t.pass_rate_drop {
        out.push(format!(
            "pass rate fell from {ra:.1}% to {rb:.1}% (tolerance {} points)",
            t.pass_rate_drop
        ));
    }
    for c in &d.cases {
        if let (Some(a), Some(b)) = c.score
            && b + 1e-9 < a - t.score_drop
        {
            let how = match c.change {
                Change::Regressed => format!(
                    ", {} → {}",
                    c.status.0.map_or("—", CaseStatus::as_str),
                    c.status.1.map_or("—", CaseStatus::as_str)
                ),
                _ => String::new(),
            };
            out.push(format!(
                "case `{}` [{}]: score {a:.3} → {b:.3}{how} (tolerance {})",
                c.id, c.target, t.score_drop
            ));
        }
    }
    let per_case = |total: f64, n: u64| if n == 0 { 0.0 } else { total / n as f64 };
    let (ca, cb) = (
        per_case(d.totals.0.cost_usd, d.totals.0.cases),
        per_case(d.totals.1.cost_usd, d.totals.1.cases),
    );
    if cb > ca * (1.0 + t.cost_increase) + 1e-12 {
        out.push(format!(
            "mean cost per case rose from ${ca:.6} to ${cb:.6} (tolerance +{:.0}%)",
            t.cost_increase * 100.0
        ));
    }
    let (la, lb) = d.latency_ms;
    // Below a millisecond, relative changes are noise.
    if lb > la * (1.0 + t.latency_increase) && lb - la > 1.0 {
        out.push(format!(
            "mean latency per case rose from {la:.1} ms to {lb:.1} ms (tolerance +{:.0}%)",
            t.latency_increase * 100.0
        ));
    }
    out
}
