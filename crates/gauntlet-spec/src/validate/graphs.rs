//! Graphs: nodes, edges, conditions, reachability and cycles.

use std::collections::{HashMap, HashSet};

use gauntlet_core::expr::Expr;
use gauntlet_core::model::{Edge, Graph, GraphNode};
use indexmap::IndexMap;
use serde_json::Value;

use crate::diag::suggest;
use crate::load::Entity;
use crate::raw;
use crate::validate::Ctx;
use crate::yaml::{Pos, push_pointer};

pub(crate) fn one_or_many(
    cx: &mut Ctx,
    e: &Entity,
    pointer: &str,
    value: &Value,
    what: &str,
) -> Option<Vec<String>> {
    match value {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(items) if !items.is_empty() && items.iter().all(Value::is_string) => Some(
            items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
        ),
        _ => {
            cx.error(
                &e.source,
                pointer,
                format!("expected {what}: a name or a non-empty list of names"),
            );
            None
        }
    }
}

pub(crate) fn graph(cx: &mut Ctx, e: &Entity) -> Option<Graph> {
    let raw: raw::Graph = cx.de(&e.source, &e.pointer, &e.value)?;
    let mut ok = true;
    let nodes_ptr = push_pointer(&e.pointer, "nodes");
    let node_names: Vec<&str> = raw.nodes.keys().map(String::as_str).collect();
    if !raw.nodes.contains_key(&raw.start) {
        let hint = suggest(&raw.start, "nodes", node_names.iter().copied());
        cx.error(
            &e.source,
            &push_pointer(&e.pointer, "start"),
            format!("start node `{}` is not a node of this graph", raw.start),
        )
        .hint = Some(hint);
        ok = false;
    }
    let mut nodes = IndexMap::new();
    for (name, node) in &raw.nodes {
        let p = push_pointer(&nodes_ptr, name);
        if !cx.has("agents", &node.agent) {
            cx.unknown(
                &e.source,
                &push_pointer(&p, "agent"),
                "agents",
                "agent",
                &node.agent,
            );
            ok = false;
        }
        let input = match &node.input {
            Some(t) => match cx.template(
                &e.source,
                &push_pointer(&p, "input"),
                t,
                &["input", "output", "nodes", "vars"],
            ) {
                Some(t) => Some(t),
                None => {
                    ok = false;
                    None
                }
            },
            None => None,
        };
        nodes.insert(
            name.clone(),
            GraphNode {
                name: name.clone(),
                agent: node.agent.clone(),
                input,
            },
        );
    }
    let mut edges = Vec::new();
    for (i, edge) in raw.edges.iter().enumerate() {
        let p = push_pointer(&push_pointer(&e.pointer, "edges"), &i.to_string());
        let from = one_or_many(cx, e, &push_pointer(&p, "from"), &edge.from, "`from`");
        let to = one_or_many(cx, e, &push_pointer(&p, "to"), &edge.to, "`to`");
        let (Some(from), Some(to)) = (from, to) else {
            ok = false;
            continue;
        };
        for (field, list) in [("from", &from), ("to", &to)] {
            for n in list {
                if !raw.nodes.contains_key(n) {
                    let hint = suggest(n, "nodes", node_names.iter().copied());
                    let msg = if field == "to" {
                        format!("edge to nowhere: `{n}` is not a node of this graph")
                    } else {
                        format!("edge from `{n}`, which is not a node of this graph")
                    };
                    cx.error(&e.source, &push_pointer(&p, field), msg).hint = Some(hint);
                    ok = false;
                }
            }
        }
        let when = match &edge.when {
            Some(src) => match Expr::parse(src) {
                Ok(x) => {
                    for root in x.roots() {
                        if !["input", "output", "nodes", "vars"].contains(&root.as_str()) {
                            cx.error(
                                &e.source,
                                &push_pointer(&p, "when"),
                                format!("condition reads unknown value `{root}`"),
                            )
                            .hint = Some(
                                "conditions can read: input, output, nodes.NAME.output, vars"
                                    .into(),
                            );
                            ok = false;
                        }
                    }
                    Some(x)
                }
                Err(err) => {
                    // Scalar positions point at their first content character, so the offset adds directly.
                    let base = e.pos(&push_pointer(&p, "when"));
                    let pos = Pos {
                        line: base.line,
                        col: base.col + err.offset as u32,
                    };
                    cx.error_at(&e.source, pos, format!("invalid condition: {}", err.message)).hint =
                        Some("conditions look like `output.queue == \"billing\" && !(input contains \"vip\")`".into());
                    ok = false;
                    None
                }
            },
            None => None,
        };
        if edge.otherwise && edge.when.is_some() {
            cx.error(
                &e.source,
                &push_pointer(&p, "otherwise"),
                "an `otherwise` edge cannot also have `when`",
            );
            ok = false;
        }
        for f in &from {
            for t in &to {
                edges.push(Edge {
                    from: f.clone(),
                    to: t.clone(),
                    when: when.clone(),
                    otherwise: edge.otherwise,
                });
            }
        }
    }
    if ok {
        ok &= graph_shape(cx, e, &raw.start, &nodes, &edges);
    }
    ok.then(|| Graph {
        name: e.name.clone(),
        start: raw.start,
        nodes,
        edges,
    })
}

/// Reachability from the start node, and the absence of cycles.
pub(crate) fn graph_shape(
    cx: &mut Ctx,
    e: &Entity,
    start: &str,
    nodes: &IndexMap<String, GraphNode>,
    edges: &[Edge],
) -> bool {
    let mut ok = true;
    let nodes_ptr = push_pointer(&e.pointer, "nodes");
    let mut reached: HashSet<&str> = HashSet::from([start]);
    let mut stack = vec![start];
    while let Some(n) = stack.pop() {
        for edge in edges.iter().filter(|x| x.from == n) {
            if reached.insert(edge.to.as_str()) {
                stack.push(edge.to.as_str());
            }
        }
    }
    for name in nodes.keys() {
        if !reached.contains(name.as_str()) {
            cx.error(
                &e.source,
                &push_pointer(&nodes_ptr, name),
                format!("node `{name}` is unreachable from the start node `{start}`"),
            )
            .hint = Some(format!("add an edge to `{name}`, or remove the node"));
            ok = false;
        }
    }
    for (name, _) in nodes {
        let mut n_other = 0;
        for edge in edges.iter().filter(|x| &x.from == name) {
            n_other += usize::from(edge.otherwise);
        }
        if n_other > 1 {
            cx.error(
                &e.source,
                &push_pointer(&nodes_ptr, name),
                format!("node `{name}` has more than one `otherwise` edge"),
            );
            ok = false;
        }
    }
    // Depth-first search for a back edge.
    fn visit<'g>(
        n: &'g str,
        edges: &'g [Edge],
        state: &mut HashMap<&'g str, u8>,
        path: &mut Vec<&'g str>,
    ) -> Option<Vec<String>> {
        state.insert(n, 1);
        path.push(n);
        for edge in edges.iter().filter(|x| x.from == n) {
            match state.get(edge.to.as_str()) {
                Some(1) => {
                    let at = path.iter().position(|p| *p == edge.to).unwrap_or(0);
                    let mut cycle: Vec<String> =
                        path[at..].iter().map(|s| (*s).to_owned()).collect();
                    cycle.push(edge.to.clone());
                    return Some(cycle);
                }
                Some(_) => {}
                None => {
                    if let Some(c) = visit(&edge.to, edges, state, path) {
                        return Some(c);
                    }
                }
            }
        }
        path.pop();
        state.insert(n, 2);
        None
    }
    let mut state = HashMap::new();
    if let Some(cycle) = visit(start, edges, &mut state, &mut Vec::new()) {
        cx.error(
            &e.source,
            &push_pointer(&e.pointer, "edges"),
            format!("the edges form a cycle: {}", cycle.join(" → ")),
        )
        .hint = Some(
            "graphs must be acyclic for now; loops between agents are not supported yet".into(),
        );
        ok = false;
    }
    ok
}
