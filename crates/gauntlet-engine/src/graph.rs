//! Graph execution: conditional routing, parallel fan-out, joins and handoffs.
//!
//! Nodes run as soon as every incoming edge is decided ("dead-path elimination"): an edge is
//! taken when its source ran and its condition held, and dead when its source was skipped or
//! the condition failed. A node with at least one taken incoming edge runs (a join waits for all
//! its live branches); a node whose incoming edges are all dead is skipped, and so are the
//! nodes only it leads to. Independent branches run concurrently.
//!
//! Latency is computed on the critical path of step latencies, so that parallel branches add
//! up as a user would see them, and seeded runs reproduce exactly.

use std::collections::HashMap;
use std::sync::Arc;

use gauntlet_core::model::{Case, Graph};
use gauntlet_core::result::{EdgeTrace, GraphTrace, NodeState, NodeTrace, StepRecord};
use serde_json::{Map, Value, json};
use tokio::task::JoinSet;

use crate::Shared;
use crate::agent::{StepSite, run_step};

pub struct GraphRun {
    /// Steps in a deterministic order: by virtual start time, then node definition order.
    pub steps: Vec<StepRecord>,
    pub output: Option<String>,
    pub latency_ms: f64,
    pub trace: GraphTrace,
}

#[derive(Clone, Copy, PartialEq)]
enum State {
    Waiting,
    Running,
    Done,
    Skipped,
}

/// Parses outputs that are JSON, so conditions can read `output.queue`.
fn as_value(text: &str) -> Value {
    match gauntlet_eval::parse_json(text) {
        Some(v @ (Value::Object(_) | Value::Array(_))) => v,
        _ => Value::String(text.to_owned()),
    }
}

pub async fn run_graph(
    shared: &Arc<Shared>,
    graph: &Graph,
    case: &Case,
    target: &str,
    seed: u64,
    trial: u32,
) -> GraphRun {
    let order: HashMap<&str, usize> = graph
        .nodes
        .keys()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let mut state: HashMap<&str, State> = graph
        .nodes
        .keys()
        .map(|n| (n.as_str(), State::Waiting))
        .collect();
    let mut edge_state: Vec<Option<bool>> = vec![None; graph.edges.len()];
    let mut outputs: Map<String, Value> = Map::new();
    let mut raw_outputs: HashMap<String, String> = HashMap::new();
    let mut start_at: HashMap<String, f64> = HashMap::new();
    let mut finish_at: HashMap<String, f64> = HashMap::new();
    let mut steps: Vec<(f64, usize, StepRecord)> = Vec::new();
    let mut tasks: JoinSet<(String, StepRecord)> = JoinSet::new();

    let spawn = |tasks: &mut JoinSet<(String, StepRecord)>, node: String, input: String| {
        let shared = Arc::clone(shared);
        let vars = case.vars.clone();
        let case_id = case.id.clone();
        let case_chaos = case.chaos.clone();
        let target = target.to_owned();
        let agent_name = graph
            .nodes
            .get(&node)
            .map(|n| n.agent.clone())
            .unwrap_or_default();
        tasks.spawn(async move {
            let site = StepSite {
                case_id: &case_id,
                target: &target,
                node: Some(&node),
                seed,
                trial,
                chaos: case_chaos.as_deref().or(shared.suite().chaos.as_ref()),
            };
            let record = match shared.project.agents.get(&agent_name) {
                Some(agent) => run_step(&shared, shared.suite(), agent, input, &vars, &site).await,
                None => unreachable_agent(&node, &agent_name, input),
            };
            (node, record)
        });
    };

    state.insert(graph.start.as_str(), State::Running);
    start_at.insert(graph.start.clone(), 0.0);
    spawn(&mut tasks, graph.start.clone(), case.input.clone());

    let mut failed = false;
    let mut failed_nodes: Vec<String> = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let Ok((node, record)) = joined else { continue };
        let begin = start_at.get(&node).copied().unwrap_or(0.0);
        let finish = begin + record.latency_ms;
        finish_at.insert(node.clone(), finish);
        let ok = record.error.is_none() && record.violations.is_empty();
        let out = record.output.clone();
        steps.push((
            begin,
            order.get(node.as_str()).copied().unwrap_or(usize::MAX),
            record,
        ));
        if let Some(s) = state.get_mut(node.as_str()) {
            *s = State::Done;
        }
        if !ok {
            // A failed node fails the case; running branches are abandoned.
            failed = true;
            failed_nodes.push(node.clone());
            tasks.abort_all();
            break;
        }
        let text = out.unwrap_or_default();
        let value = as_value(&text);
        outputs.insert(node.clone(), json!({ "output": value.clone() }));
        raw_outputs.insert(node.clone(), text);

        // Decide the edges leaving this node.
        let ctx =
            json!({ "input": case.input, "output": value, "nodes": outputs, "vars": case.vars });
        let mut any = false;
        for (i, e) in graph.edges.iter().enumerate() {
            if e.from == node && !e.otherwise {
                let taken = e.when.as_ref().is_none_or(|w| w.eval_bool(&ctx));
                any |= taken;
                edge_state[i] = Some(taken);
            }
        }
        for (i, e) in graph.edges.iter().enumerate() {
            if e.from == node && e.otherwise {
                edge_state[i] = Some(!any);
            }
        }

        // Start or skip every node whose incoming edges are now all decided.
        loop {
            let mut progressed = false;
            for name in graph.nodes.keys() {
                if state.get(name.as_str()) != Some(&State::Waiting) {
                    continue;
                }
                let incoming: Vec<usize> = graph
                    .edges
                    .iter()
                    .enumerate()
                    .filter(|(_, e)| &e.to == name)
                    .map(|(i, _)| i)
                    .collect();
                if incoming.iter().any(|i| edge_state[*i].is_none()) {
                    continue;
                }
                progressed = true;
                let live: Vec<&str> = incoming
                    .iter()
                    .filter(|i| edge_state[**i] == Some(true))
                    .map(|i| graph.edges[*i].from.as_str())
                    .collect();
                if live.is_empty() {
                    state.insert(name.as_str(), State::Skipped);
                    for (i, e) in graph.edges.iter().enumerate() {
                        if &e.from == name {
                            edge_state[i] = Some(false);
                        }
                    }
                    continue;
                }
                let begin = live
                    .iter()
                    .filter_map(|p| finish_at.get(*p))
                    .fold(0.0_f64, |a, b| a.max(*b));
                let joined_value = if live.len() == 1 {
                    outputs
                        .get(live[0])
                        .and_then(|o| o.get("output"))
                        .cloned()
                        .unwrap_or(Value::Null)
                } else {
                    Value::Object(
                        live.iter()
                            .map(|p| {
                                (
                                    (*p).to_owned(),
                                    outputs
                                        .get(*p)
                                        .and_then(|o| o.get("output"))
                                        .cloned()
                                        .unwrap_or(Value::Null),
                                )
                            })
                            .collect(),
                    )
                };
                let input = match graph.nodes.get(name).and_then(|n| n.input.as_ref()) {
                    Some(t) => t.render(&json!({ "input": case.input, "output": joined_value, "nodes": outputs, "vars": case.vars })),
                    None if live.len() == 1 => raw_outputs.get(live[0]).cloned().unwrap_or_default(),
                    None => joined_value.to_string(),
                };
                state.insert(name.as_str(), State::Running);
                start_at.insert(name.clone(), begin);
                spawn(&mut tasks, name.clone(), input);
            }
            if !progressed {
                break;
            }
        }
    }

    steps.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    for (begin, _, record) in &mut steps {
        record.start_ms = *begin;
    }
    let trace = GraphTrace {
        graph: graph.name.clone(),
        start: graph.start.clone(),
        nodes: graph
            .nodes
            .iter()
            .map(|(name, n)| NodeTrace {
                name: name.clone(),
                agent: n.agent.clone(),
                state: if failed_nodes.contains(name) {
                    NodeState::Failed
                } else {
                    match state.get(name.as_str()) {
                        Some(State::Done) => NodeState::Ran,
                        Some(State::Skipped) => NodeState::Skipped,
                        _ => NodeState::NotReached,
                    }
                },
            })
            .collect(),
        edges: graph
            .edges
            .iter()
            .zip(&edge_state)
            .map(|(e, taken)| EdgeTrace {
                from: e.from.clone(),
                to: e.to.clone(),
                taken: *taken,
                when: if e.otherwise {
                    Some("otherwise".to_owned())
                } else {
                    e.when.as_ref().map(|w| w.source().to_owned())
                },
            })
            .collect(),
    };
    let latency_ms = finish_at.values().fold(0.0_f64, |a, b| a.max(*b));
    let output = if failed {
        None
    } else {
        // The graph's output: that of the nodes that ran and handed nothing on.
        let sinks: Vec<&String> = graph
            .nodes
            .keys()
            .filter(|n| state.get(n.as_str()) == Some(&State::Done))
            .filter(|n| {
                !graph
                    .edges
                    .iter()
                    .enumerate()
                    .any(|(i, e)| &e.from == *n && edge_state[i] == Some(true))
            })
            .collect();
        match sinks.as_slice() {
            [] => None,
            [one] => raw_outputs.get(*one).cloned(),
            many => Some(
                Value::Object(
                    many.iter()
                        .map(|n| {
                            (
                                (*n).clone(),
                                outputs
                                    .get(*n)
                                    .and_then(|o| o.get("output"))
                                    .cloned()
                                    .unwrap_or(Value::Null),
                            )
                        })
                        .collect(),
                )
                .to_string(),
            ),
        }
    };
    GraphRun {
        steps: steps.into_iter().map(|(_, _, r)| r).collect(),
        output,
        latency_ms,
        trace,
    }
}

/// Validation guarantees every node's agent exists; this keeps the engine total regardless.
fn unreachable_agent(node: &str, agent: &str, input: String) -> StepRecord {
    StepRecord {
        error: Some(format!("agent `{agent}` of node `{node}` is not defined")),
        ..StepRecord::new(Some(node.to_owned()), agent, "", "", input)
    }
}
