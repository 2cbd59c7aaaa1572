//! The graph of a case as SVG: nodes in layers by their longest distance from the start,
//! each coloured and labelled by what happened to it, edges drawn solid when taken, dashed
//! when not, dotted when never decided. Drawn on the server from the engine's own trace, so
//! it shows the route the run took and works without script (and in the report file).

use std::collections::HashMap;

use gauntlet_core::result::{GraphTrace, NodeState};

use crate::esc;

const W: f64 = 168.0;
const H: f64 = 50.0;
const GAP_X: f64 = 70.0;
const GAP_Y: f64 = 26.0;
const PAD: f64 = 16.0;

/// Layers of the nodes: the longest path from the start over edges, cycles cut at the first
/// revisit; nodes the start cannot reach go after the last layer.
fn layers(trace: &GraphTrace) -> HashMap<&str, usize> {
    let mut layer: HashMap<&str, usize> = HashMap::new();
    layer.insert(trace.start.as_str(), 0);
    // Bellman-Ford style relaxation, bounded by the node count (which also bounds cycles).
    for _ in 0..trace.nodes.len() {
        let mut changed = false;
        for e in &trace.edges {
            if let Some(&l) = layer.get(e.from.as_str()) {
                let next = l + 1;
                if next < trace.nodes.len() && layer.get(e.to.as_str()).is_none_or(|&t| t < next) {
                    layer.insert(e.to.as_str(), next);
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    let last = layer.values().copied().max().unwrap_or(0);
    for n in &trace.nodes {
        layer.entry(n.name.as_str()).or_insert(last + 1);
    }
    layer
}

fn class(state: NodeState) -> &'static str {
    match state {
        NodeState::Ran => "ran",
        NodeState::Failed => "failed",
        NodeState::Skipped => "skipped",
        NodeState::NotReached => "unreached",
    }
}

/// The SVG of the trace. `href(node)` links a node to its inspection.
pub fn svg(trace: &GraphTrace, href: &dyn Fn(&str) -> Option<String>) -> String {
    let layer = layers(trace);
    let mut rows: HashMap<usize, usize> = HashMap::new();
    let mut pos: HashMap<&str, (f64, f64)> = HashMap::new();
    for n in &trace.nodes {
        let l = layer.get(n.name.as_str()).copied().unwrap_or(0);
        let r = rows.entry(l).or_insert(0);
        pos.insert(
            n.name.as_str(),
            (PAD + l as f64 * (W + GAP_X), PAD + *r as f64 * (H + GAP_Y)),
        );
        *r += 1;
    }
    let width = pos.values().map(|p| p.0).fold(0.0, f64::max) + W + PAD * 2.0;
    let height = pos.values().map(|p| p.1).fold(0.0, f64::max) + H + PAD * 2.0;
    let mut out = format!(
        r#"<svg class="graph" viewBox="0 0 {width:.0} {height:.0}" width="{width:.0}" height="{height:.0}" role="img" aria-labelledby="graph-title"><title id="graph-title">Graph {name}: {summary}</title><defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" class="arrowhead"/></marker></defs>"#,
        name = esc(&trace.graph),
        summary = esc(&summary(trace)),
    );
    for e in &trace.edges {
        let (Some(a), Some(b)) = (pos.get(e.from.as_str()), pos.get(e.to.as_str())) else {
            continue;
        };
        let (x1, y1) = (a.0 + W, a.1 + H / 2.0);
        let (x2, y2) = (b.0, b.1 + H / 2.0);
        let (cls, word) = match e.taken {
            Some(true) => ("taken", "taken"),
            Some(false) => ("dead", "not taken"),
            None => ("undecided", "never decided"),
        };
        let d = if x2 > x1 {
            let mid = (x1 + x2) / 2.0;
            format!("M{x1:.1},{y1:.1} C{mid:.1},{y1:.1} {mid:.1},{y2:.1} {x2:.1},{y2:.1}")
        } else {
            // A backward edge loops under the nodes.
            let low = a.1.max(b.1) + H + GAP_Y / 2.0;
            format!(
                "M{x1:.1},{y1:.1} C{:.1},{low:.1} {:.1},{low:.1} {x2:.1},{y2:.1}",
                x1 + GAP_X,
                x2 - GAP_X
            )
        };
        let label = e.when.as_deref().unwrap_or("");
        out.push_str(&format!(
            r#"<g class="edge {cls}"><title>{from} → {to}: {word}{cond}</title><path d="{d}" marker-end="url(#arrow)"/>"#,
            from = esc(&e.from),
            to = esc(&e.to),
            cond = if label.is_empty() {
                String::new()
            } else {
                format!(" (when {})", esc(label))
            },
        ));
        if !label.is_empty() {
            let (lx, ly) = ((x1 + x2) / 2.0, (y1 + y2) / 2.0 - 4.0);
            out.push_str(&format!(
                r#"<text x="{lx:.1}" y="{ly:.1}" class="edge-label">{}</text>"#,
                esc(&gauntlet_report::clip(label, 22))
            ));
        }
        out.push_str("</g>");
    }
    for n in &trace.nodes {
        let Some(&(x, y)) = pos.get(n.name.as_str()) else {
            continue;
        };
        let start = if n.name == trace.start { " start" } else { "" };
        let body = format!(
            r#"<rect x="{x:.1}" y="{y:.1}" width="{W}" height="{H}" rx="8"/><text x="{tx:.1}" y="{ty:.1}" class="node-name">{name}</text><text x="{tx:.1}" y="{ty2:.1}" class="node-meta">{agent} · {state}</text>"#,
            tx = x + 10.0,
            ty = y + 21.0,
            ty2 = y + 39.0,
            name = esc(&gauntlet_report::clip(&n.name, 20)),
            agent = esc(&gauntlet_report::clip(&n.agent, 12)),
            state = n.state.as_str(),
        );
        let label = format!("node {}: {}", n.name, n.state.as_str());
        match href(&n.name) {
            Some(h) if n.state == NodeState::Ran || n.state == NodeState::Failed => {
                out.push_str(&format!(
                    r#"<a href="{}" class="node {}{start}" data-node="{}" aria-label="{}"><title>{}</title>{body}</a>"#,
                    esc(&h),
                    class(n.state),
                    esc(&n.name),
                    esc(&label),
                    esc(&label)
                ));
            }
            _ => out.push_str(&format!(
                r#"<g class="node {}{start}" data-node="{}"><title>{}</title>{body}</g>"#,
                class(n.state),
                esc(&n.name),
                esc(&label)
            )),
        }
    }
    out.push_str("</svg>");
    out
}

/// `3 ran, 1 failed, 2 skipped`.
pub fn summary(trace: &GraphTrace) -> String {
    let mut counts: Vec<(NodeState, usize)> = Vec::new();
    for n in &trace.nodes {
        match counts.iter_mut().find(|(s, _)| *s == n.state) {
            Some((_, c)) => *c += 1,
            None => counts.push((n.state, 1)),
        }
    }
    counts.sort_by_key(|(s, _)| *s as u8);
    counts
        .iter()
        .map(|(s, c)| format!("{c} {}", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Which nodes a failure kept from running: each failed node with the nodes it leads to that
/// never ran, as nested lists.
pub fn failure_tree(trace: &GraphTrace) -> Vec<(String, Vec<(String, usize)>)> {
    let state: HashMap<&str, NodeState> = trace
        .nodes
        .iter()
        .map(|n| (n.name.as_str(), n.state))
        .collect();
    let mut out = Vec::new();
    for root in trace.nodes.iter().filter(|n| n.state == NodeState::Failed) {
        let mut seen = vec![root.name.as_str()];
        let mut list = Vec::new();
        let mut stack = vec![(root.name.as_str(), 1usize)];
        while let Some((from, depth)) = stack.pop() {
            for e in trace.edges.iter().rev().filter(|e| e.from == from) {
                let to = e.to.as_str();
                if seen.contains(&to) || state.get(to) == Some(&NodeState::Ran) {
                    continue;
                }
                seen.push(to);
                list.push((to.to_owned(), depth));
                stack.push((to, depth + 1));
            }
        }
        out.push((root.name.clone(), list));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use gauntlet_core::result::{EdgeTrace, NodeTrace};

    fn trace() -> GraphTrace {
        let node = |name: &str, state| NodeTrace {
            name: name.into(),
            agent: "a".into(),
            state,
        };
        let edge = |from: &str, to: &str, taken| EdgeTrace {
            from: from.into(),
            to: to.into(),
            taken,
            when: None,
        };
        GraphTrace {
            graph: "g".into(),
            start: "triage".into(),
            nodes: vec![
                node("triage", NodeState::Ran),
                node("billing", NodeState::Failed),
                node("tech", NodeState::Skipped),
                node("reply", NodeState::NotReached),
                node("audit", NodeState::NotReached),
            ],
            edges: vec![
                edge("triage", "billing", Some(true)),
                edge("triage", "tech", Some(false)),
                edge("billing", "reply", None),
                edge("tech", "reply", Some(false)),
                edge("reply", "audit", None),
            ],
        }
    }

    #[test]
    fn nodes_sit_in_layers_by_their_longest_path() {
        let t = trace();
        let l = layers(&t);
        assert_eq!(l["triage"], 0);
        assert_eq!(l["billing"], 1);
        assert_eq!(l["tech"], 1);
        assert_eq!(l["reply"], 2);
        assert_eq!(l["audit"], 3);
    }

    #[test]
    fn the_svg_shows_each_state_and_each_decision() {
        let s = svg(&trace(), &|n| Some(format!("#step-{n}")));
        assert!(
            s.contains(r#"class="node failed" data-node="billing""#),
            "{s}"
        );
        assert!(s.contains(r#"class="node skipped" data-node="tech""#));
        assert!(s.contains(r#"class="edge taken""#));
        assert!(s.contains(r#"class="edge dead""#));
        assert!(s.contains(r#"class="edge undecided""#));
        assert!(s.contains("1 ran, 1 failed, 1 skipped, 2 not reached"));
    }

    #[test]
    fn the_failure_tree_names_what_a_failure_kept_from_running() {
        let tree = failure_tree(&trace());
        assert_eq!(
            tree,
            vec![(
                "billing".to_owned(),
                vec![("reply".to_owned(), 1), ("audit".to_owned(), 2)]
            )]
        );
    }
}
