//! One case against one target: execution, the per-case contract, assertions and the verdict.

use std::sync::Arc;
use std::time::Duration;

use gauntlet_core::model::{Case, Check, Target};
use gauntlet_core::result::{CaseResult, CaseStatus, StepRecord, Tokens};
use gauntlet_eval::Subject;

use crate::Shared;
use crate::agent::{StepSite, check_budgets, run_step};
use crate::graph::run_graph;

struct Execution {
    steps: Vec<StepRecord>,
    output: Option<String>,
    latency_ms: f64,
    trace: Option<gauntlet_core::result::GraphTrace>,
}

pub async fn run_case(
    shared: &Arc<Shared>,
    index: u32,
    case: &Case,
    target: &Target,
    trial: u32,
) -> CaseResult {
    let target_label = target.to_string();
    // Trial 0 uses the run seed itself, so a run without repeats is unchanged by them.
    let seed = if trial == 0 {
        shared.seed
    } else {
        gauntlet_core::hash::derive_seed(shared.seed, &["trial", &trial.to_string()])
    };
    let limit = case
        .timeout_ms
        .or(shared.suite().case_timeout_ms)
        .map(Duration::from_millis);
    let run = execute(shared, case, target, &target_label, seed, trial);
    let execution = match limit {
        Some(l) => tokio::time::timeout(l, run)
            .await
            .map_err(|_| format!("case timed out after {} ms", l.as_millis())),
        None => Ok(run.await),
    };
    let mut result = CaseResult {
        index,
        id: case.id.clone(),
        trial,
        target: target_label,
        status: CaseStatus::Error,
        score: 0.0,
        input: case.input.clone(),
        output: None,
        reason: None,
        tokens: Tokens::default(),
        cost_usd: 0.0,
        latency_ms: 0.0,
        steps: Vec::new(),
        assertions: Vec::new(),
        tags: case.tags.clone(),
        trace: None,
    };
    let ex = match execution {
        Ok(ex) => ex,
        Err(e) => {
            result.reason = Some(e);
            return result;
        }
    };
    for s in &ex.steps {
        result.tokens.add(s.tokens);
        result.cost_usd += s.cost_usd;
    }
    result.latency_ms = ex.latency_ms;
    result.output = ex.output;
    result.steps = ex.steps;
    result.trace = ex.trace;

    if let Some(err) = result
        .steps
        .iter()
        .find_map(|s| s.error.as_ref().map(|e| (s.node.clone(), e.clone())))
    {
        result.reason = Some(match err.0 {
            Some(node) => format!("node `{node}`: {}", err.1),
            None => err.1,
        });
        return result;
    }

    let mut case_violations = Vec::new();
    if let Some(c) = &shared.suite().contract {
        let calls: usize = result.steps.iter().map(|s| s.tool_calls.len()).sum();
        check_budgets(
            c,
            result.tokens,
            result.cost_usd,
            result.latency_ms,
            calls,
            &mut case_violations,
            "case",
        );
        if let Some(allowed) = &c.allowed_tools {
            for call in result.steps.iter().flat_map(|s| &s.tool_calls) {
                if !allowed.contains(&call.name) {
                    case_violations.push(format!(
                        "case called tool `{}`, which the suite's contract does not allow",
                        call.name
                    ));
                }
            }
        }
        if let (Some(schema), Some(out)) = (&c.output_schema, &result.output) {
            match gauntlet_eval::parse_json(out) {
                None => case_violations.push(
                    "final output is not JSON, but the suite's contract has an output_schema"
                        .into(),
                ),
                Some(v) => {
                    if let Some(e) = schema.first_error(&v) {
                        case_violations.push(format!(
                            "final output does not match the suite's output_schema: {e}"
                        ));
                    }
                }
            }
        }
    }

    let mut assertions = Vec::with_capacity(case.assertions.len());
    for (i, a) in case.assertions.iter().enumerate() {
        let subject = match &a.node {
            None => Subject {
                input: &result.input,
                output: result.output.as_deref(),
                steps: &result.steps,
                latency_ms: result.latency_ms,
                cost_usd: result.cost_usd,
                tokens: result.tokens,
                case_violations: &case_violations,
            },
            Some(node) => {
                let at = result
                    .steps
                    .iter()
                    .rposition(|s| s.node.as_deref() == Some(node.as_str()));
                let steps = at.map_or(&result.steps[..0], |i| &result.steps[i..=i]);
                Subject {
                    input: steps.first().map_or("", |s| s.input.as_str()),
                    output: steps.first().and_then(|s| s.output.as_deref()),
                    steps,
                    latency_ms: steps.first().map_or(0.0, |s| s.latency_ms),
                    cost_usd: steps.first().map_or(0.0, |s| s.cost_usd),
                    tokens: steps.first().map_or(Tokens::default(), |s| s.tokens),
                    case_violations: &[],
                }
            }
        };
        let r = match &a.check {
            // Evaluated over all trials of the case, once they are in (see `crate::perf`).
            Check::Performance(_) => continue,
            Check::LlmJudge(spec) => match subject.output {
                None => gauntlet_eval::evaluate(a, &subject),
                Some(out) => {
                    let judge_seed = gauntlet_core::hash::derive_seed(
                        seed,
                        &[&case.id, &result.target, "judge", &i.to_string()],
                    );
                    let o =
                        crate::judge::evaluate(shared, spec, subject.input, out, judge_seed).await;
                    gauntlet_eval::finish(a, o)
                }
            },
            Check::Custom(spec) => {
                let mut payload = gauntlet_eval::transcript(&subject);
                if let Some(m) = payload.as_object_mut() {
                    m.insert("id".into(), case.id.clone().into());
                    m.insert("target".into(), result.target.clone().into());
                    m.insert("trial".into(), trial.into());
                    m.insert("vars".into(), case.vars.clone());
                    m.insert(
                        "assertion".into(),
                        serde_json::to_value(a.as_ref()).unwrap_or_default(),
                    );
                }
                gauntlet_eval::finish(
                    a,
                    crate::custom::evaluate(spec, &shared.host, &payload).await,
                )
            }
            _ => gauntlet_eval::evaluate(a, &subject),
        };
        assertions.push(r);
    }
    result.assertions = assertions;
    settle(&mut result, case, &case_violations);
    result
}

/// The verdict of a case from its assertions and contract: its score, status and reason.
pub(crate) fn settle(result: &mut CaseResult, case: &Case, case_violations: &[String]) {
    let (pass, score) = gauntlet_eval::verdict(&result.assertions, case.threshold);
    result.score = score;
    // Contract violations fail the case unless the case asserts on the contract itself (for
    // example `not-contract-valid` to test that a breach is caught).
    let owns_contract = case
        .assertions
        .iter()
        .any(|a| matches!(a.check, Check::ContractValid));
    let violation = result
        .steps
        .iter()
        .flat_map(|s| s.violations.iter().map(move |v| (s.node.clone(), v)))
        .next()
        .map(|(node, v)| match node {
            Some(n) => format!("contract violation at node `{n}`: {v}"),
            None => format!("contract violation: {v}"),
        });
    let violation = violation.or_else(|| {
        case_violations
            .first()
            .map(|v| format!("contract violation: {v}"))
    });
    if let (Some(v), false) = (violation, owns_contract) {
        result.status = CaseStatus::Failed;
        result.reason = Some(v);
    } else if pass {
        result.status = CaseStatus::Passed;
        result.reason = None;
    } else {
        result.status = CaseStatus::Failed;
        result.reason = result
            .assertions
            .iter()
            .find(|a| !a.pass && a.weight > 0.0)
            .map(|a| format!("{}: {}", a.kind, a.reason));
        if result.reason.is_none() {
            result.reason = Some(format!(
                "score {score:.3} is below the threshold {}",
                case.threshold.unwrap_or(1.0)
            ));
        }
    }
}

async fn execute(
    shared: &Arc<Shared>,
    case: &Case,
    target: &Target,
    label: &str,
    seed: u64,
    trial: u32,
) -> Execution {
    match target {
        Target::Mcp(_) => {
            let step =
                crate::mcp::run_direct(&shared.mcp, target, case.call.as_deref(), &case.input)
                    .await;
            Execution {
                output: step.output.clone(),
                latency_ms: step.latency_ms,
                steps: vec![step],
                trace: None,
            }
        }
        Target::Agent(name) => {
            let Some(agent) = shared.project.agents.get(name) else {
                return Execution {
                    steps: Vec::new(),
                    output: None,
                    latency_ms: 0.0,
                    trace: None,
                };
            };
            let site = StepSite {
                case_id: &case.id,
                target: label,
                node: None,
                seed,
                trial,
                chaos: case.chaos.as_deref().or(shared.suite().chaos.as_ref()),
            };
            let step = run_step(
                shared,
                shared.suite(),
                agent,
                case.input.clone(),
                &case.vars,
                &site,
            )
            .await;
            let output = if step.violations.is_empty() || step.output.is_some() {
                step.output.clone()
            } else {
                None
            };
            Execution {
                latency_ms: step.latency_ms,
                output,
                steps: vec![step],
                trace: None,
            }
        }
        Target::Graph(name) => match shared.project.graphs.get(name) {
            Some(graph) => {
                let g = run_graph(shared, graph, case, label, seed, trial).await;
                Execution {
                    steps: g.steps,
                    output: g.output,
                    latency_ms: g.latency_ms,
                    trace: Some(g.trace),
                }
            }
            None => Execution {
                steps: Vec::new(),
                output: None,
                latency_ms: 0.0,
                trace: None,
            },
        },
    }
}
