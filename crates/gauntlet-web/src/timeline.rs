//! The execution timeline of a case: one row per step, placed at its (virtual) start, and
//! under it one row per model call, wait before a retry, injected fault and tool call. The
//! page's script draws the rows as a latency waterfall and renders only those in view, so a
//! case with ten thousand steps opens at once.

use gauntlet_core::result::{CaseResult, SpanKind};
use serde_json::{Value, json};

/// The rows as compact arrays `[depth, kind, label, start_ms, duration_ms, state, detail,
/// step]`, the anchor of each step's inspection (anchors under `prefix`), and the case's total
/// span.
pub fn rows(case: &CaseResult, prefix: &str) -> Value {
    let mut rows = Vec::new();
    let anchors: Vec<String> = case
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| crate::pages::case::step_anchor(prefix, i, s))
        .collect();
    let mut end: f64 = case.latency_ms;
    for (i, s) in case.steps.iter().enumerate() {
        let label = match &s.node {
            Some(n) => format!("{n} ({})", s.agent),
            None => s.agent.clone(),
        };
        let failed = s.error.is_some() || !s.violations.is_empty();
        let detail = s
            .error
            .clone()
            .or_else(|| s.violations.first().cloned())
            .unwrap_or_else(|| {
                format!(
                    "{} model call{}, {} tool call{}, {} tokens",
                    s.model_calls,
                    if s.model_calls == 1 { "" } else { "s" },
                    s.tool_calls.len(),
                    if s.tool_calls.len() == 1 { "" } else { "s" },
                    s.tokens.total()
                )
            });
        end = end.max(s.start_ms + s.latency_ms);
        rows.push(json!([
            0,
            "step",
            label,
            s.start_ms,
            s.latency_ms,
            if failed { "bad" } else { "ok" },
            detail,
            i
        ]));
        for sp in &s.spans {
            let kind = sp.kind.as_str();
            let label = match sp.kind {
                SpanKind::Model => format!("model {} · turn {}", sp.name, sp.turn),
                SpanKind::Tool => format!("tool {}", sp.name),
                SpanKind::Backoff => format!("wait before {}", sp.name),
                SpanKind::Fault => format!("chaos: {}", sp.name),
            };
            let state = match (&sp.error, sp.kind) {
                (Some(_), _) => "bad",
                (None, SpanKind::Fault | SpanKind::Backoff) => "warn",
                _ => "ok",
            };
            rows.push(json!([
                1,
                kind,
                label,
                s.start_ms + sp.start_ms,
                sp.duration_ms,
                state,
                sp.error.clone().unwrap_or_default(),
                i
            ]));
        }
    }
    json!({ "total_ms": end, "rows": rows, "anchors": anchors })
}

#[cfg(test)]
mod tests {
    use super::*;
    use gauntlet_core::result::{CaseStatus, Span, StepRecord, Tokens};

    #[test]
    fn spans_are_placed_from_their_step_s_start() {
        let mut step = StepRecord::new(Some("b".into()), "agent", "p", "m", String::new());
        step.start_ms = 100.0;
        step.latency_ms = 50.0;
        step.spans.push(Span {
            kind: SpanKind::Tool,
            name: "lookup".into(),
            start_ms: 20.0,
            duration_ms: 30.0,
            turn: 1,
            error: Some("boom".into()),
        });
        let case = CaseResult {
            index: 0,
            id: "c".into(),
            trial: 0,
            target: "graph:g".into(),
            status: CaseStatus::Failed,
            score: 0.0,
            input: String::new(),
            output: None,
            reason: None,
            tokens: Tokens::default(),
            cost_usd: 0.0,
            latency_ms: 150.0,
            steps: vec![step],
            assertions: vec![],
            tags: vec![],
            trace: None,
        };
        let v = rows(&case, "");
        assert_eq!(v["anchors"][0], "step-b");
        assert_eq!(v["total_ms"], 150.0);
        assert_eq!(v["rows"][0][3], 100.0);
        assert_eq!(v["rows"][1][1], "tool");
        assert_eq!(v["rows"][1][3], 120.0);
        assert_eq!(v["rows"][1][5], "bad");
    }
}
