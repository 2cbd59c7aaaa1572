//! Graph routing, fan-out and join, handoff, and graph-level contracts.

use gauntlet_core::result::CaseStatus;

use crate::{case, project, run};

const GRAPHS: &str = r#"
providers: { m: { type: mock } }
agents:
  router:
    provider: m
    mock:
      responses:
        - { when: { contains: bill }, text: '{"queue": "billing"}' }
        - { when: { contains: ship }, text: '{"queue": "shipping"}' }
        - { text: '{"queue": "other"}' }
  billing: { provider: m, mock: { latency_ms: 30, responses: [ { text: "billing handled {{ input }}" } ] } }
  shipping: { provider: m, mock: { latency_ms: 10, responses: [ { text: "shipping handled" } ] } }
  fallback: { provider: m, mock: { responses: [ { text: "a human will call" } ] } }
  slow: { provider: m, mock: { latency_ms: 40, responses: [ { text: "slow done" } ] } }
  fast: { provider: m, mock: { latency_ms: 5, responses: [ { text: "fast done" } ] } }
  joiner: { provider: m, mock: { echo: true } }
graphs:
  route:
    start: router
    nodes:
      router: { agent: router }
      billing: { agent: billing }
      shipping: { agent: shipping }
      fallback: { agent: fallback }
    edges:
      - { from: router, to: billing, when: 'output.queue == "billing"' }
      - { from: router, to: shipping, when: 'output.queue == "shipping"' }
      - { from: router, to: fallback, otherwise: true }
  fan:
    start: split
    nodes:
      split: { agent: joiner }
      slow: { agent: slow }
      fast: { agent: fast }
      join: { agent: joiner }
      templated: { agent: joiner, input: "slow={{ nodes.slow.output }} fast={{ nodes.fast.output }} in={{ input }}" }
    edges:
      - { from: split, to: [slow, fast] }
      - { from: [slow, fast], to: join }
      - { from: join, to: templated }
suites:
  route:
    target: graph:route
    cases:
      - { id: billing, input: please bill me }
      - { id: shipping, input: ship it }
      - { id: other, input: hello }
  fan:
    target: graph:fan
    cases:
      - { id: fan, input: go }
"#;

fn nodes(c: &gauntlet_core::result::CaseResult) -> Vec<&str> {
    c.steps
        .iter()
        .map(|s| s.node.as_deref().unwrap_or(""))
        .collect()
}

#[tokio::test]
async fn conditional_edges_route_and_otherwise_catches_the_rest() {
    let p = project(GRAPHS);
    let r = run(&p, "route", 1).await;
    assert_eq!(nodes(case(&r, "billing")), ["router", "billing"]);
    assert_eq!(
        case(&r, "billing").output.as_deref(),
        Some(r#"billing handled {"queue": "billing"}"#),
        "handoff passes the router's output on"
    );
    assert_eq!(nodes(case(&r, "shipping")), ["router", "shipping"]);
    assert_eq!(nodes(case(&r, "other")), ["router", "fallback"]);
    assert_eq!(
        case(&r, "other").output.as_deref(),
        Some("a human will call")
    );
    assert!(r.iter().all(|c| c.status == CaseStatus::Passed));
}

#[tokio::test]
async fn fan_out_runs_branches_in_parallel_and_join_waits_for_both() {
    let p = project(GRAPHS);
    let r = run(&p, "fan", 1).await;
    let c = case(&r, "fan");
    assert_eq!(c.status, CaseStatus::Passed, "{:?}", c.reason);
    // Steps are ordered by virtual start time, then definition order.
    assert_eq!(nodes(c), ["split", "slow", "fast", "join", "templated"]);
    let join = c
        .steps
        .iter()
        .find(|s| s.node.as_deref() == Some("join"))
        .unwrap();
    let joined: serde_json::Value = serde_json::from_str(&join.input).unwrap();
    assert_eq!(
        joined,
        serde_json::json!({"slow": "slow done", "fast": "fast done"})
    );
    assert_eq!(
        c.output.as_deref(),
        Some("slow=slow done fast=fast done in=go")
    );
    // Critical path: split 0 + max(slow 40, fast 5) + join 0 + templated 0.
    assert_eq!(c.latency_ms, 40.0);
}

#[tokio::test]
async fn branches_really_run_concurrently() {
    let p = project(GRAPHS);
    let started = std::time::Instant::now();
    run(&p, "fan", 1).await;
    // Sequential execution would take at least 45 ms of sleeps; allow generous slack, but
    // this fails if the branches are awaited one after the other with 40 ms sleeps doubled.
    let ms = started.elapsed().as_millis();
    assert!(ms < 2000, "fan-out took {ms} ms");
}

#[tokio::test]
async fn a_failing_node_stops_the_graph_and_names_the_node() {
    let p = project(&GRAPHS.replace(
        "shipping: { provider: m, mock: { latency_ms: 10, responses: [ { text: \"shipping handled\" } ] } }",
        "shipping: { provider: m, retry: { max_retries: 0 }, mock: { responses: [ { error: { kind: auth, message: bad key } } ] } }",
    ));
    let r = run(&p, "route", 1).await;
    let c = case(&r, "shipping");
    assert_eq!(c.status, CaseStatus::Error);
    assert_eq!(c.reason.as_deref(), Some("node `shipping`: auth: bad key"));
    assert_eq!(c.output, None);
}
