//! The `llm-judge` assertion: a G-Eval style rubric scored by a model.
//!
//! Verdicts are cached by a hash of the judge (provider, its type, model, the judge agent's
//! system prompt), the rubric and the judged input and output: a rerun with a cache asks the
//! judge nothing, costs nothing and reproduces the verdict exactly. The judge's tokens and cost
//! are reported on the assertion, apart from the case's.

use std::sync::Arc;

use gauntlet_core::evaluators::{Judge, JudgeSpec};
use gauntlet_core::model::{Agent, RetryPolicy};
use gauntlet_eval::Outcome;
use gauntlet_providers::{CallContext, ChatRequest, Message, Provider, pricing};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use crate::{Shared, retry};

/// Where verdicts are kept between runs (the store, for the CLI).
pub trait JudgeCache: Send + Sync {
    fn get(&self, key: &str) -> Option<Value>;
    fn put(&self, key: &str, verdict: &Value) -> Result<(), String>;
}

/// The prompt the judge receives.
pub fn prompt(spec: &JudgeSpec, input: &str, output: &str) -> String {
    let mut p = String::from(
        "You are an impartial evaluator. Score the response below against the criteria.\n\n",
    );
    p.push_str(&format!("Criteria: {}\n", spec.criteria.trim()));
    if !spec.steps.is_empty() {
        p.push_str("\nEvaluation steps:\n");
        for (i, s) in spec.steps.iter().enumerate() {
            p.push_str(&format!("{}. {}\n", i + 1, s.trim()));
        }
    }
    p.push_str(&format!(
        "\nScore from {} (worst) to {} (best).\n",
        spec.score_min, spec.score_max
    ));
    if let Some(r) = &spec.reference {
        p.push_str(&format!("\nReference answer:\n<<<\n{r}\n>>>\n"));
    }
    p.push_str(&format!(
        "\nInput:\n<<<\n{input}\n>>>\n\nResponse:\n<<<\n{output}\n>>>\n\n"
    ));
    p.push_str("Reply with JSON only: {\"score\": <number>, \"reason\": \"<one sentence>\"}");
    p
}

/// Reads `{"score": n, "reason": "…"}`, or a `Score: n` line, from the judge's reply.
pub fn parse_verdict(text: &str) -> Option<(f64, String)> {
    if let Some(v) = gauntlet_eval::parse_json(text).or_else(|| {
        let start = text.find('{')?;
        let end = text.rfind('}')?;
        (end > start)
            .then(|| serde_json::from_str(&text[start..=end]).ok())
            .flatten()
    }) {
        let score = match v.get("score") {
            Some(Value::Number(n)) => n.as_f64(),
            Some(Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        }?;
        let reason = v
            .get("reason")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        return Some((score, reason));
    }
    let lower = text.to_lowercase();
    let at = lower.find("score")?;
    let rest = &text[at + 5..];
    let num: String = rest
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    Some((num.parse().ok()?, text.trim().to_owned()))
}

fn judge_agent(shared: &Shared, spec: &JudgeSpec) -> Option<(Agent, Arc<dyn Provider>)> {
    match &spec.judge {
        Judge::Agent(name) => {
            let agent = shared.project.agents.get(name)?.clone();
            let provider = shared.providers.get(name).cloned()?;
            Some((agent, provider))
        }
        Judge::Provider { provider, model } => {
            let agent = Agent {
                name: format!("judge:{provider}"),
                provider: provider.clone(),
                model: model.clone(),
                system: None,
                tools: Vec::new(),
                mcp: Vec::new(),
                contract: None,
                mock: None,
                max_turns: 1,
                temperature: Some(0.0),
                max_output_tokens: None,
                retry: RetryPolicy::default(),
                timeout_ms: None,
            };
            let p: Arc<dyn Provider> = shared.registry.for_agent(&shared.project, &agent);
            Some((agent, p))
        }
    }
}

pub(crate) async fn evaluate(
    shared: &Shared,
    spec: &JudgeSpec,
    input: &str,
    output: &str,
    seed: u64,
) -> Outcome {
    let Some((agent, provider)) = judge_agent(shared, spec) else {
        return gauntlet_eval::binary(false, "the judge is not configured".into());
    };
    let model = gauntlet_providers::model_of(&shared.project, &agent).to_owned();
    let provider_def = shared.project.providers.get(&agent.provider);
    let key = gauntlet_core::hash::content_hash(&json!({
        "provider": agent.provider,
        "type": provider_def.map(|p| p.kind.as_str()),
        "model": model,
        "system": agent.system,
        "rubric": spec,
        "input": input,
        "output": output,
    }));
    let cached = shared.judge_cache.as_ref().and_then(|c| c.get(&key));
    let (verdict, cost, fresh) = match cached {
        Some(v) => (v, 0.0, false),
        None => match ask(
            shared,
            &agent,
            provider.as_ref(),
            &model,
            spec,
            input,
            output,
            seed,
        )
        .await
        {
            Ok((v, cost)) => (v, cost, true),
            Err(e) => return gauntlet_eval::binary(false, format!("judge failed: {e}")),
        },
    };
    let (Some(score), reason) = (
        verdict.get("score").and_then(Value::as_f64),
        verdict
            .get("reason")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
    ) else {
        return gauntlet_eval::binary(false, "the cached verdict has no score".into());
    };
    if fresh && let Some(c) = &shared.judge_cache {
        // A verdict that cannot be cached still counts; the next run asks again.
        let _ = c.put(&key, &verdict);
    }
    let normalised = (score - spec.score_min) / (spec.score_max - spec.score_min);
    let pass = score + 1e-9 >= spec.pass_score;
    Outcome {
        score: normalised.clamp(0.0, 1.0),
        pass,
        reason: format!(
            "judge scored {score} of {} ({} {}){}",
            spec.score_max,
            if pass { "≥" } else { "<" },
            spec.pass_score,
            if reason.is_empty() {
                String::new()
            } else {
                format!(": {reason}")
            }
        ),
        details: Some(json!({
            "judge": agent.name,
            "model": model,
            "score": score,
            "reason": reason,
            "cached": !fresh,
            "tokens": verdict.get("tokens"),
        })),
        cost_usd: cost,
    }
}

/// One judge call, with the agent's retry policy on retryable errors.
#[allow(clippy::too_many_arguments)]
async fn ask(
    shared: &Shared,
    agent: &Agent,
    provider: &dyn Provider,
    model: &str,
    spec: &JudgeSpec,
    input: &str,
    output: &str,
    seed: u64,
) -> Result<(Value, f64), String> {
    let messages = vec![Message::user(prompt(spec, input, output))];
    let mut ctx = CallContext::new(ChaCha8Rng::seed_from_u64(seed));
    let mut jitter = ChaCha8Rng::seed_from_u64(seed ^ 0x9e37_79b9);
    let mut attempt = 0;
    let response = loop {
        let req = ChatRequest {
            agent,
            model,
            messages: &messages,
            tools: &[],
            turn: 1,
            vars: &Value::Null,
        };
        match provider.complete(req, &mut ctx).await {
            Ok(r) => break r,
            Err(e) if e.kind.is_retryable() && attempt < agent.retry.max_retries => {
                attempt += 1;
                tokio::time::sleep(retry::backoff(
                    &agent.retry,
                    attempt,
                    e.retry_after_ms,
                    &mut jitter,
                ))
                .await;
            }
            Err(e) => return Err(e.to_string()),
        }
    };
    let price = pricing::price(shared.project.providers.get(&agent.provider), model);
    let cost = pricing::cost(price, response.usage);
    let Some((score, reason)) = parse_verdict(&response.text) else {
        let mut shown: String = response.text.chars().take(120).collect();
        if response.text.chars().count() > 120 {
            shown.push('…');
        }
        return Err(format!("the judge's reply has no score: {shown:?}"));
    };
    if !(spec.score_min..=spec.score_max).contains(&score) {
        return Err(format!(
            "the judge scored {score}, outside [{}, {}]",
            spec.score_min, spec.score_max
        ));
    }
    Ok((
        json!({
            "score": score,
            "reason": reason,
            "tokens": response.usage,
            "cost_usd": cost,
        }),
        cost,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_are_read_from_json_or_text() {
        assert_eq!(
            parse_verdict(r#"{"score": 4, "reason": "polite"}"#),
            Some((4.0, "polite".into()))
        );
        assert_eq!(
            parse_verdict("Sure! ```json\n{\"score\": \"3.5\", \"reason\": \"ok\"}\n```"),
            Some((3.5, "ok".into()))
        );
        assert_eq!(
            parse_verdict("Here: {\"score\": 2} done").map(|v| v.0),
            Some(2.0)
        );
        assert_eq!(parse_verdict("Score: 5/5").map(|v| v.0), Some(5.0));
        assert_eq!(parse_verdict("no idea"), None);
    }
}
