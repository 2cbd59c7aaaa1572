//! Retries, timeouts, cancellation, contracts and determinism.

use std::time::Duration;

use gauntlet_core::result::CaseStatus;
use gauntlet_engine::{Cancel, RunEnd};

use crate::{case, project, run, run_with};

const CONTROL: &str = r#"
providers: { m: { type: mock } }
tools:
  lookup: { parameters: { type: object, required: [id] }, mock: [ { return: { ok: true } } ] }
  wipe: { parameters: { type: object }, mock: [ { return: wiped } ] }
agents:
  flaky:
    provider: m
    retry: { max_retries: 3, initial_backoff_ms: 1, max_backoff_ms: 4 }
    mock:
      responses:
        - { error: { kind: rate_limit, retry_after_ms: 2 }, times: 2 }
        - { text: recovered }
  broken:
    provider: m
    retry: { max_retries: 2, initial_backoff_ms: 1, max_backoff_ms: 2 }
    mock: { responses: [ { error: { kind: server_error, message: upstream 503 } } ] }
  fatal:
    provider: m
    mock: { responses: [ { error: { kind: invalid_request, message: bad prompt }, times: 1 }, { text: never } ] }
  sleepy: { provider: m, timeout_ms: 30, mock: { latency_ms: 2000, echo: true } }
  slowish: { provider: m, mock: { latency_ms: 300, echo: true } }
  schema:
    provider: m
    contract: { output_schema: { type: object, required: [answer] } }
    mock: { responses: [ { text: '{"wrong": 1}' } ] }
  rogue:
    provider: m
    tools: [lookup, wipe]
    contract: { allowed_tools: [lookup, wipe], max_tool_calls: 1 }
    mock:
      responses:
        - { when: { turn: 1 }, tool_call: { name: lookup, args: { id: 1 } } }
        - { when: { turn: 2 }, tool_call: { name: wipe } }
        - { text: done }
  gated:
    provider: m
    tools: [lookup]
    contract: { allowed_tools: [lookup], max_tokens: 5 }
    mock: { responses: [ { text: "a rather long answer that uses more than five tokens for sure" } ] }
  looping:
    provider: m
    tools: [lookup]
    max_turns: 2
    mock: { responses: [ { tool_call: { name: lookup, args: { id: 1 } } }, { tool_call: { name: lookup, args: { id: 2 } } }, { tool_call: { name: lookup, args: { id: 3 } } } ] }
  badargs:
    provider: m
    tools: [lookup]
    mock:
      responses:
        - { when: { turn: 1 }, tool_call: { name: lookup, args: { nope: 1 } } }
        - { text: "tool said {{ tool_results.lookup.error }}" }
  dice: { provider: m, mock: { latency_ms: { min: 1, max: 50 }, responses: [ { choices: [a, b, c, d, e, f, g, h] } ] } }
suites:
  retries:
    target: flaky
    cases: [ { id: recovers, input: x } ]
  exhausted:
    target: broken
    cases: [ { id: gives-up, input: x } ]
  fatal:
    target: fatal
    cases: [ { id: no-retry, input: x } ]
  step-timeout:
    target: sleepy
    cases: [ { id: slow, input: x } ]
  case-timeout:
    target: slowish
    case_timeout_ms: 20
    cases: [ { id: slow, input: x } ]
  run-timeout:
    target: slowish
    run_timeout_ms: 50
    cases: [ { id: a, input: x }, { id: b, input: y } ]
  cancel:
    target: slowish
    cases: [ { id: a, input: x }, { id: b, input: y }, { id: c, input: z } ]
  contracts:
    target: [schema, rogue, gated]
    cases: [ { id: c, input: x } ]
  expected-breach:
    target: schema
    cases: [ { id: caught, input: x, assert: [ { type: not-contract-valid } ] } ]
  case-contract:
    target: rogue
    contract: { allowed_tools: [lookup], max_cost_usd: 1 }
    cases: [ { id: c, input: x } ]
  turns:
    target: looping
    cases: [ { id: c, input: x } ]
  args:
    target: badargs
    cases: [ { id: c, input: x } ]
  dice:
    target: dice
    cases: [ { id: d1, input: x }, { id: d2, input: x }, { id: d3, input: x }, { id: d4, input: x }, { id: d5, input: x }, { id: d6, input: x } ]
"#;

#[tokio::test]
async fn retryable_errors_are_retried_with_backoff() {
    let p = project(CONTROL);
    let c = run(&p, "retries", 1).await.remove(0);
    assert_eq!(c.status, CaseStatus::Passed, "{:?}", c.reason);
    assert_eq!(c.output.as_deref(), Some("recovered"));
    assert_eq!(c.steps[0].retries, 2);
    assert_eq!(c.steps[0].model_calls, 3);
    // Retry-After (2 ms) is a floor under each backoff wait.
    assert!(c.latency_ms >= 4.0, "{}", c.latency_ms);
}

#[tokio::test]
async fn retries_stop_at_the_limit_and_fatal_errors_are_not_retried() {
    let p = project(CONTROL);
    let c = run(&p, "exhausted", 1).await.remove(0);
    assert_eq!(c.status, CaseStatus::Error);
    assert_eq!(
        c.reason.as_deref(),
        Some("server_error: upstream 503 (after 2 retries)")
    );
    assert_eq!(c.steps[0].model_calls, 3);
    let c = run(&p, "fatal", 1).await.remove(0);
    assert_eq!(c.reason.as_deref(), Some("invalid_request: bad prompt"));
    assert_eq!(c.steps[0].model_calls, 1);
}

#[tokio::test]
async fn step_and_case_timeouts() {
    let p = project(CONTROL);
    let c = run(&p, "step-timeout", 1).await.remove(0);
    assert_eq!(c.status, CaseStatus::Error);
    assert_eq!(c.reason.as_deref(), Some("step timed out after 30 ms"));
    let c = run(&p, "case-timeout", 1).await.remove(0);
    assert_eq!(c.reason.as_deref(), Some("case timed out after 20 ms"));
}

#[tokio::test]
async fn run_timeout_cancels_the_remaining_work() {
    let p = project(CONTROL);
    let (results, end) = run_with(&p, "run-timeout", 1, Cancel::new()).await;
    assert_eq!(end, RunEnd::TimedOut);
    assert!(
        results
            .iter()
            .all(|c| c.status == CaseStatus::Error && c.reason.as_deref() == Some("cancelled")),
        "{results:#?}"
    );
}

#[tokio::test]
async fn cancellation_reaches_in_flight_cases_and_records_them() {
    let p = project(CONTROL);
    let cancel = Cancel::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(40)).await;
        trigger.cancel();
    });
    let started = std::time::Instant::now();
    let (results, end) = run_with(&p, "cancel", 1, cancel).await;
    assert_eq!(end, RunEnd::Cancelled);
    assert!(
        started.elapsed() < Duration::from_millis(290),
        "cancellation did not interrupt the 300 ms calls"
    );
    assert!(!results.is_empty());
    for c in &results {
        assert_eq!(c.status, CaseStatus::Error);
        assert_eq!(c.steps[0].error.as_deref(), Some("cancelled"));
    }
}

#[tokio::test]
async fn contracts_fail_steps_with_precise_reasons() {
    let p = project(CONTROL);
    let r = run(&p, "contracts", 1).await;
    let by_target = |t: &str| r.iter().find(|c| c.target == t).unwrap();
    let schema = by_target("schema");
    assert_eq!(schema.status, CaseStatus::Failed);
    let reason = schema.reason.as_deref().unwrap();
    assert!(
        reason
            .starts_with("contract violation: output does not match the contract's output_schema"),
        "{reason}"
    );
    assert!(reason.contains("answer"), "{reason}");
    let rogue = by_target("rogue");
    assert_eq!(rogue.status, CaseStatus::Failed);
    assert_eq!(
        rogue.reason.as_deref(),
        Some("contract violation: step made 2 tool calls, over the contract's max_tool_calls 1")
    );
    let gated = by_target("gated");
    assert!(
        gated
            .reason
            .as_deref()
            .unwrap()
            .contains("over the contract's max_tokens 5"),
        "{:?}",
        gated.reason
    );
}

#[tokio::test]
async fn a_case_can_assert_that_a_breach_is_caught() {
    let p = project(CONTROL);
    let c = run(&p, "expected-breach", 1).await.remove(0);
    assert_eq!(c.status, CaseStatus::Passed, "{:?}", c.reason);
}

#[tokio::test]
async fn suite_contracts_apply_to_the_whole_case() {
    let p = project(CONTROL);
    let c = run(&p, "case-contract", 1).await.remove(0);
    assert_eq!(c.status, CaseStatus::Failed);
    let reason = c.reason.unwrap();
    assert!(
        reason.contains("max_tool_calls 1") || reason.contains("suite's contract does not allow"),
        "{reason}"
    );
}

#[tokio::test]
async fn max_turns_bounds_the_tool_loop_and_bad_arguments_reach_the_model() {
    let p = project(CONTROL);
    let c = run(&p, "turns", 1).await.remove(0);
    assert_eq!(c.status, CaseStatus::Error);
    assert_eq!(
        c.reason.as_deref(),
        Some("agent `looping` made 2 model calls without a final answer (max_turns)")
    );
    let c = run(&p, "args", 1).await.remove(0);
    assert_eq!(c.status, CaseStatus::Passed);
    let call = &c.steps[0].tool_calls[0];
    assert!(
        call.error
            .as_deref()
            .unwrap()
            .contains("arguments do not match the parameters of `lookup`"),
        "{call:?}"
    );
    assert!(
        c.output
            .unwrap()
            .starts_with("tool said arguments do not match")
    );
}

#[tokio::test]
async fn the_same_seed_gives_identical_results_and_another_seed_differs() {
    let p = project(CONTROL);
    let a = serde_json::to_string(&run(&p, "dice", 42).await).unwrap();
    let b = serde_json::to_string(&run(&p, "dice", 42).await).unwrap();
    let c = serde_json::to_string(&run(&p, "dice", 43).await).unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[tokio::test]
async fn seeded_results_do_not_depend_on_concurrency() {
    let p = project(CONTROL);
    let serial = crate::run_at(&p, "dice", 7, Cancel::new(), 1).await.0;
    let parallel = run(&p, "dice", 7).await;
    assert_eq!(
        serde_json::to_string(&serial).unwrap(),
        serde_json::to_string(&parallel).unwrap()
    );
    let outputs: std::collections::HashSet<_> = parallel.iter().map(|c| c.output.clone()).collect();
    assert!(
        outputs.len() > 1,
        "choices should vary across cases: {outputs:?}"
    );
    assert_eq!(
        case(&parallel, "d1").steps[0].latency_ms,
        case(&serial, "d1").steps[0].latency_ms
    );
}
