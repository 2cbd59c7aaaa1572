//! One step: an agent turn of model calls and tool calls, bounded by `max_turns`, retried on
//! retryable errors, limited by the step timeout, checked against the agent's contract.

use std::time::{Duration, Instant};

use gauntlet_core::hash::derive_seed;
use gauntlet_core::model::{Agent, Contract, Suite};
use gauntlet_core::result::{Span, SpanKind, StepRecord, Tokens, ToolCallRecord};
use gauntlet_providers::{CallContext, ChatRequest, Message, Role, pricing};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use crate::{DEFAULT_STEP_TIMEOUT, Shared, chaos, retry, tools};

/// Where a step happens, for seeding and reporting.
pub struct StepSite<'a> {
    pub case_id: &'a str,
    pub target: &'a str,
    pub node: Option<&'a str>,
    /// The seed of this case's trial (the run seed, or one derived from it per trial).
    pub seed: u64,
    pub trial: u32,
    /// The faults to inject: the case's chaos block, else the suite's.
    pub chaos: Option<&'a gauntlet_core::chaos::Chaos>,
}

pub async fn run_step(
    shared: &Shared,
    suite: &Suite,
    agent: &Agent,
    input: String,
    vars: &Value,
    site: &StepSite<'_>,
) -> StepRecord {
    let project = &shared.project;
    let model = gauntlet_providers::model_of(project, agent).to_owned();
    let mut record = StepRecord::new(
        site.node.map(str::to_owned),
        agent.name.as_str(),
        agent.provider.as_str(),
        model,
        input,
    );
    let limit = agent
        .timeout_ms
        .or(suite.step_timeout_ms)
        .map_or(DEFAULT_STEP_TIMEOUT, Duration::from_millis);
    let outcome = tokio::select! {
        r = tokio::time::timeout(limit, turn(shared, suite, agent, vars, site, &mut record)) => match r {
            Ok(inner) => inner,
            Err(_) => Err(format!("step timed out after {} ms", limit.as_millis())),
        },
        () = shared.cancel.cancelled() => Err("cancelled".to_owned()),
    };
    if let Err(e) = outcome {
        record.error = Some(e);
    }
    if let Some(c) = &agent.contract {
        check_step_contract(c, &mut record);
    }
    record
}

/// The model ↔ tool loop. Errors are returned as text; partial progress stays in `record`.
async fn turn(
    shared: &Shared,
    suite: &Suite,
    agent: &Agent,
    vars: &Value,
    site: &StepSite<'_>,
    record: &mut StepRecord,
) -> Result<(), String> {
    let node = site.node.unwrap_or("");
    let seed = |purpose: &str| {
        derive_seed(
            site.seed,
            &[site.case_id, site.target, node, &agent.name, purpose],
        )
    };
    let mut ctx = CallContext::new(ChaCha8Rng::seed_from_u64(seed("model")));
    let mut jitter = ChaCha8Rng::seed_from_u64(seed("backoff"));
    let mut tool_rng = ChaCha8Rng::seed_from_u64(seed("tools"));
    let mut injector = site
        .chaos
        .map(|c| chaos::Injector::new(c, ChaCha8Rng::seed_from_u64(seed("chaos"))));
    let provider = shared
        .providers
        .get(&agent.name)
        .ok_or_else(|| format!("no provider for agent `{}`", agent.name))?;
    let provider_def = shared.project.providers.get(&agent.provider);
    let price = pricing::price(provider_def, &record.model);
    let no_tools: std::sync::Arc<[gauntlet_providers::ToolSpec]> = std::sync::Arc::new([]);
    let tool_specs = shared.tool_specs.get(&agent.name).unwrap_or(&no_tools);
    let policy = suite.retry.unwrap_or(agent.retry);

    if let Some(schema) = agent
        .contract
        .as_ref()
        .and_then(|c| c.input_schema.as_ref())
    {
        let value = gauntlet_eval::parse_json(&record.input)
            .unwrap_or_else(|| Value::String(record.input.clone()));
        if let Some(e) = schema.first_error(&value) {
            record.violations.push(format!(
                "input does not match the contract's input_schema: {e}"
            ));
            return Ok(());
        }
    }

    // A strict replay answers MCP tool calls from the recording: the servers are not needed.
    let strict_replay = shared
        .cassettes
        .as_ref()
        .is_some_and(|c| c.mode == crate::cassette::CassetteMode::ReplayStrict);
    if !strict_replay && let Some(e) = shared.mcp.unavailable(&agent.mcp) {
        return Err(e);
    }
    let mut messages = vec![Message::user(record.input.clone())];
    for turn_no in 1..=agent.max_turns {
        let mut attempt = 0;
        let response = loop {
            let mut injected = None;
            if let Some(inj) = injector.as_mut() {
                let input_tokens: u64 = if inj.limits_input() {
                    agent
                        .system
                        .iter()
                        .map(|s| s.as_str())
                        .chain(messages.iter().map(|m| m.content.as_str()))
                        .map(|t| gauntlet_providers::tokens::count(&record.model, t))
                        .sum()
                } else {
                    0
                };
                let before = record.latency_ms;
                let faults = record.faults.len();
                let (added, error) = inj.before_model(record, turn_no, input_tokens).await;
                record.latency_ms += added;
                if record.faults.len() > faults {
                    let kind = record.faults[faults..]
                        .iter()
                        .map(|f| f.kind.as_str())
                        .collect::<Vec<_>>()
                        .join(", ");
                    push_span(record, SpanKind::Fault, kind, before, added, turn_no, None);
                }
                injected = error;
            }
            let started = Instant::now();
            let req = ChatRequest {
                agent,
                model: &record.model,
                messages: &messages,
                tools: tool_specs,
                turn: turn_no,
                vars,
            };
            let result = if let Some(e) = injected {
                Err(e)
            } else {
                match &shared.cassettes {
                    None => provider.complete(req, &mut ctx).await,
                    Some(c) => {
                        let keyed = crate::cassette::key(json!({
                            "kind": "model",
                            "request": {
                                "provider": agent.provider,
                                "type": provider_def.map(|p| p.kind.as_str()),
                                "model": record.model,
                                "system": agent.system,
                                "messages": crate::cassette::messages_json(&messages),
                                "tools": agent.tools.iter().map(|t| json!({"name": t, "parameters": shared.project.tools.get(t).map(|x| &x.parameters)})).collect::<Vec<_>>(),
                                "temperature": agent.temperature,
                                "max_output_tokens": agent.max_output_tokens,
                            },
                            "site": {"case": site.case_id, "target": site.target, "trial": site.trial, "node": site.node, "agent": agent.name, "turn": turn_no, "attempt": attempt},
                        }));
                        let recorded = match c.mode {
                            crate::cassette::CassetteMode::Record => None,
                            _ => c
                                .store
                                .get(&keyed.key)
                                .and_then(|e| crate::cassette::decode_response(&e)),
                        };
                        match (recorded, c.mode) {
                            (Some(r), _) => r,
                            (None, crate::cassette::CassetteMode::ReplayStrict) => {
                                Err(crate::cassette::miss(&keyed.request))
                            }
                            (None, _) => {
                                let live = provider.complete(req, &mut ctx).await;
                                let entry = json!({"request": keyed.request, "response": crate::cassette::encode_response(&live)});
                                c.store
                                    .put(&keyed.key, &entry)
                                    .map_err(|e| format!("cannot record a cassette: {e}"))?;
                                live
                            }
                        }
                    }
                }
            };
            record.model_calls += 1;
            let model = record.model.clone();
            match result {
                Ok(mut r) => {
                    let call_ms = r
                        .latency_ms
                        .unwrap_or_else(|| started.elapsed().as_secs_f64() * 1000.0);
                    if record.ttft_ms.is_none() {
                        record.ttft_ms = Some(record.latency_ms + r.ttft_ms.unwrap_or(call_ms));
                    }
                    let at = record.latency_ms;
                    push_span(record, SpanKind::Model, model, at, call_ms, turn_no, None);
                    record.latency_ms += call_ms;
                    if let Some(inj) = injector.as_mut() {
                        inj.after_model(record, turn_no, &mut r);
                    }
                    break r;
                }
                Err(e) => {
                    let call_ms = e
                        .latency_ms
                        .unwrap_or_else(|| started.elapsed().as_secs_f64() * 1000.0);
                    let at = record.latency_ms;
                    let why = Some(e.to_string());
                    push_span(record, SpanKind::Model, model, at, call_ms, turn_no, why);
                    record.latency_ms += call_ms;
                    if !e.kind.is_retryable() || attempt >= policy.max_retries {
                        let tries = if attempt > 0 {
                            format!(" (after {} retries)", attempt)
                        } else {
                            String::new()
                        };
                        return Err(format!("{e}{tries}"));
                    }
                    attempt += 1;
                    record.retries += 1;
                    let wait = retry::backoff(&policy, attempt, e.retry_after_ms, &mut jitter);
                    let (at, ms) = (record.latency_ms, wait.as_secs_f64() * 1000.0);
                    let name = format!("retry {attempt}");
                    push_span(record, SpanKind::Backoff, name, at, ms, turn_no, None);
                    record.latency_ms += ms;
                    tokio::time::sleep(wait).await;
                }
            }
        };
        record.tokens.add(response.usage);
        let price = match &response.served_by {
            Some((provider, model)) => {
                record.served_by = Some(provider.clone());
                pricing::price(shared.project.providers.get(provider), model)
            }
            None => price,
        };
        record.cost_usd += pricing::cost(price, response.usage);
        if let Some(tps) = response.tokens_per_s {
            record.tokens_per_s = Some(tps);
        }
        for c in &response.reported_tool_calls {
            record.tool_calls.push(ToolCallRecord {
                name: c.name.clone(),
                args: c.args.clone(),
                result: c.result.clone(),
                error: None,
                latency_ms: 0.0,
            });
        }
        if response.tool_calls.is_empty() {
            record.output = Some(response.text);
            return Ok(());
        }
        messages.push(Message {
            role: Role::Assistant,
            content: response.text,
            tool_calls: response.tool_calls.clone(),
            tool_name: None,
            tool_call_id: None,
        });
        for call in response.tool_calls {
            let allowed_by_contract = agent
                .contract
                .as_ref()
                .and_then(|c| c.allowed_tools.as_ref())
                .is_none_or(|a| a.contains(&call.name));
            let tool = shared
                .project
                .tools
                .get(&call.name)
                .filter(|_| agent.tools.contains(&call.name))
                .map(tools::Target::Mock)
                .or_else(|| {
                    let server = shared.mcp.route(&agent.mcp, &call.name)?;
                    shared.mcp.client(server).ok().map(tools::Target::Mcp)
                })
                .or_else(|| {
                    (strict_replay && !agent.mcp.is_empty()).then_some(tools::Target::Recorded)
                });
            let (result, error, latency) = match (tool, allowed_by_contract) {
                (_, false) => {
                    record.violations.push(format!(
                        "called tool `{}`, which the contract does not allow",
                        call.name
                    ));
                    (
                        None,
                        Some("blocked: not allowed by the contract".to_owned()),
                        0.0,
                    )
                }
                (None, true) => {
                    record.violations.push(format!(
                        "called tool `{}`, which the agent does not have",
                        call.name
                    ));
                    (None, Some(format!("unknown tool `{}`", call.name)), 0.0)
                }
                (Some(tool), true) => {
                    let (added, overridden) = match injector.as_mut() {
                        Some(inj) => inj.before_tool(record, turn_no, &call.name).await,
                        None => (0.0, None),
                    };
                    let out = match overridden {
                        Some(chaos::ToolOverride::Result(v)) => tools::ToolOutcome {
                            result: Ok(v),
                            latency_ms: added,
                        },
                        Some(chaos::ToolOverride::Error(e)) => tools::ToolOutcome {
                            result: Err(e),
                            latency_ms: added,
                        },
                        None => {
                            let mut out = call_tool(
                                shared,
                                tool,
                                &call.name,
                                &call.args,
                                &mut tool_rng,
                                site,
                                &agent.name,
                                turn_no,
                                record.tool_calls.len(),
                            )
                            .await?;
                            out.latency_ms += added;
                            out
                        }
                    };
                    match out.result {
                        Ok(v) => (Some(v), None, out.latency_ms),
                        Err(e) => (None, Some(e), out.latency_ms),
                    }
                }
            };
            let at = record.latency_ms;
            let (name, why) = (call.name.clone(), error.clone());
            push_span(record, SpanKind::Tool, name, at, latency, turn_no, why);
            record.latency_ms += latency;
            let content = match (&result, &error) {
                (Some(v), _) => match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                },
                (None, Some(e)) => serde_json::json!({ "error": e }).to_string(),
                (None, None) => String::new(),
            };
            record.tool_calls.push(ToolCallRecord {
                name: call.name.clone(),
                args: call.args.clone(),
                result,
                error,
                latency_ms: latency,
            });
            messages.push(Message {
                role: Role::Tool,
                content,
                tool_calls: Vec::new(),
                tool_name: Some(call.name),
                tool_call_id: Some(call.id),
            });
        }
        if !record.violations.is_empty() {
            // A contract breach ends the step: the agent must not keep acting.
            return Ok(());
        }
    }
    Err(format!(
        "agent `{}` made {} model calls without a final answer (max_turns)",
        agent.name, agent.max_turns
    ))
}

fn push_span(
    record: &mut StepRecord,
    kind: SpanKind,
    name: String,
    start_ms: f64,
    duration_ms: f64,
    turn: u32,
    error: Option<String>,
) {
    // A step that loops for thousands of turns keeps a bounded timeline.
    if record.spans.len() < MAX_SPANS {
        record.spans.push(Span {
            kind,
            name,
            start_ms,
            duration_ms,
            turn,
            error,
        });
    }
}

/// Spans kept per step.
pub const MAX_SPANS: usize = 10_000;

/// Per-step budgets and the output schema of the agent's contract.
fn check_step_contract(c: &Contract, r: &mut StepRecord) {
    check_budgets(
        c,
        r.tokens,
        r.cost_usd,
        r.latency_ms,
        r.tool_calls.len(),
        &mut r.violations,
        "step",
    );
    if let (Some(schema), Some(out)) = (&c.output_schema, &r.output) {
        match gauntlet_eval::parse_json(out) {
            None => r
                .violations
                .push("output is not JSON, but the contract has an output_schema".to_owned()),
            Some(v) => {
                if let Some(e) = schema.first_error(&v) {
                    r.violations.push(format!(
                        "output does not match the contract's output_schema: {e}"
                    ));
                }
            }
        }
    }
}

/// Token, cost, latency and tool-call budgets, shared by step and case contracts.
pub fn check_budgets(
    c: &Contract,
    tokens: Tokens,
    cost: f64,
    latency: f64,
    tool_calls: usize,
    out: &mut Vec<String>,
    scope: &str,
) {
    if let Some(max) = c.max_tokens
        && tokens.total() > max
    {
        out.push(format!(
            "{scope} used {} tokens, over the contract's max_tokens {max}",
            tokens.total()
        ));
    }
    if let Some(max) = c.max_cost_usd
        && cost > max
    {
        out.push(format!(
            "{scope} cost ${cost:.6}, over the contract's max_cost_usd {max}"
        ));
    }
    if let Some(max) = c.max_latency_ms
        && latency > max
    {
        out.push(format!(
            "{scope} took {latency:.1} ms, over the contract's max_latency_ms {max}"
        ));
    }
    if let Some(max) = c.max_tool_calls
        && tool_calls > max as usize
    {
        out.push(format!(
            "{scope} made {tool_calls} tool calls, over the contract's max_tool_calls {max}"
        ));
    }
}

/// A tool call, through the cassette when one is in use.
#[allow(clippy::too_many_arguments)]
async fn call_tool(
    shared: &Shared,
    tool: tools::Target<'_>,
    name: &str,
    args: &Value,
    rng: &mut ChaCha8Rng,
    site: &StepSite<'_>,
    agent: &str,
    turn: u32,
    index: usize,
) -> Result<tools::ToolOutcome, String> {
    let Some(c) = &shared.cassettes else {
        return Ok(tool.call(name, args, rng).await);
    };
    let keyed = crate::cassette::key(json!({
        "kind": "tool",
        "request": {"tool": name, "args": args},
        "site": {"case": site.case_id, "target": site.target, "trial": site.trial, "node": site.node, "agent": agent, "turn": turn, "call": index},
    }));
    let recorded = match c.mode {
        crate::cassette::CassetteMode::Record => None,
        _ => c.store.get(&keyed.key),
    };
    if let Some(entry) = recorded {
        let r = entry.get("response").cloned().unwrap_or(Value::Null);
        let latency_ms = r.get("latency_ms").and_then(Value::as_f64).unwrap_or(0.0);
        let result = match (r.get("result"), r.get("error").and_then(Value::as_str)) {
            (_, Some(e)) => Err(e.to_owned()),
            (Some(v), None) => Ok(v.clone()),
            (None, None) => Err("the recording of this tool call is damaged".to_owned()),
        };
        return Ok(tools::ToolOutcome { result, latency_ms });
    }
    if c.mode == crate::cassette::CassetteMode::ReplayStrict {
        return Ok(tools::ToolOutcome {
            result: Err(crate::cassette::miss(&keyed.request).message),
            latency_ms: 0.0,
        });
    }
    let out = tool.call(name, args, rng).await;
    let response = match &out.result {
        Ok(v) => json!({"result": v, "latency_ms": out.latency_ms}),
        Err(e) => json!({"error": e, "latency_ms": out.latency_ms}),
    };
    c.store
        .put(
            &keyed.key,
            &json!({"request": keyed.request, "response": response}),
        )
        .map_err(|e| format!("cannot record a cassette: {e}"))?;
    Ok(out)
}
