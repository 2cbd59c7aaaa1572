//! Regression tests from traffic the gateway recorded: every first-turn exchange (one user
//! message, no tools offered) becomes a case of an agent defined with the exchange's
//! provider, model and system prompt, its assertions pinning the recorded answer as
//! [`super::generate`] does for a run. Inputs keep the gateway's PII placeholders: the
//! recording never held the caller's values.

use std::fmt::Write as _;

use gauntlet_core::gateway::Exchange;
use gauntlet_core::result::{CaseResult, CaseStatus, Tokens};
use serde_json::Value;

/// What the traffic held, beyond the generated cases.
#[derive(Debug, Default, PartialEq)]
pub struct Skipped {
    /// Later turns of a conversation (more than one message) or tool results.
    pub continuations: usize,
    /// Exchanges that offered tools: a generated agent would need their implementations.
    pub with_tools: usize,
}

pub fn from_traffic(
    name: &str,
    source: &str,
    exchanges: &[Exchange],
) -> (super::Generated, Skipped) {
    let mut skipped = Skipped::default();
    // (generated agent name, agent, provider, model, system)
    let mut agents: Vec<(String, String, String, String, Option<String>)> = Vec::new();
    let mut cases = Vec::new();
    for e in exchanges {
        if !e.tools.is_empty() || !e.tool_calls.is_empty() {
            skipped.with_tools += 1;
            continue;
        }
        let [only] = e.messages.as_slice() else {
            skipped.continuations += 1;
            continue;
        };
        if only.role != "user" {
            skipped.continuations += 1;
            continue;
        }
        let found = agents.iter().find(|a| {
            a.1 == e.agent && a.2 == e.provider && a.3 == e.upstream_model && a.4 == e.system
        });
        let target = match found {
            Some(a) => a.0.clone(),
            None => {
                let same = agents.iter().filter(|a| a.1 == e.agent).count();
                let base = format!("recorded-{}", slug(&e.agent));
                let generated = if same == 0 {
                    base
                } else {
                    format!("{base}-{}", same + 1)
                };
                agents.push((
                    generated.clone(),
                    e.agent.clone(),
                    e.provider.clone(),
                    e.upstream_model.clone(),
                    e.system.clone(),
                ));
                generated
            }
        };
        cases.push(CaseResult {
            index: cases.len() as u32,
            id: format!("{}-{}", slug(&e.agent), cases.len() + 1),
            trial: 0,
            target,
            status: CaseStatus::Passed,
            score: 1.0,
            input: only.content.clone(),
            output: Some(e.text.clone()),
            reason: None,
            tokens: Tokens {
                input: e.input_tokens,
                output: e.output_tokens,
            },
            cost_usd: 0.0,
            latency_ms: 0.0,
            steps: Vec::new(),
            assertions: Vec::new(),
            tags: Vec::new(),
            trace: None,
        });
    }
    // One suite per recorded agent (a suite with several targets runs every case on each).
    let mut generated = super::Generated {
        yaml: String::new(),
        cases: 0,
        merged: 0,
        skipped: 0,
    };
    for (target, ..) in &agents {
        let mine: Vec<CaseResult> = cases
            .iter()
            .filter(|c| &c.target == target)
            .cloned()
            .collect();
        let suite = if agents.len() == 1 {
            name.to_owned()
        } else {
            format!("{name}-{}", target.trim_start_matches("recorded-"))
        };
        let g = super::generate(&suite, source, &mine);
        if generated.yaml.is_empty() {
            generated.yaml = g.yaml;
        } else if let Some((_, rest)) = g.yaml.split_once("suites:\n") {
            generated.yaml.push_str(rest);
        }
        generated.cases += g.cases;
        generated.merged += g.merged;
        generated.skipped += g.skipped;
    }
    let q = |s: &str| Value::String(s.to_owned()).to_string();
    let mut block = String::from("agents:\n");
    for (generated_name, agent, provider, model, system) in &agents {
        let _ = writeln!(
            block,
            "  {}:  # recorded from the gateway's agent {}\n    provider: {}\n    model: {}",
            q(generated_name),
            q(agent),
            q(provider),
            q(model)
        );
        if let Some(s) = system {
            let _ = writeln!(block, "    system: {}", q(s));
        }
    }
    if !agents.is_empty() {
        generated.yaml = generated
            .yaml
            .replacen("suites:\n", &format!("{block}suites:\n"), 1);
    }
    (generated, skipped)
}

fn slug(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use gauntlet_core::gateway::ExchangeMessage;

    fn exchange(agent: &str, input: &str, text: &str) -> Exchange {
        Exchange {
            agent: agent.into(),
            provider: "openai-up".into(),
            upstream_model: "echo".into(),
            system: Some("Be brief.".into()),
            messages: vec![ExchangeMessage {
                role: "user".into(),
                content: input.into(),
            }],
            text: text.into(),
            ..Default::default()
        }
    }

    #[test]
    fn first_turns_become_cases_of_recorded_agents() {
        let mut with_tools = exchange("bot", "weather?", "");
        with_tools.tools = vec!["get_weather".into()];
        let mut later = exchange("bot", "a", "b");
        later.messages.push(ExchangeMessage {
            role: "assistant".into(),
            content: "b".into(),
        });
        let (g, skipped) = from_traffic(
            "bot-traffic",
            "traffic",
            &[
                exchange(
                    "bot",
                    "Where is my parcel [EMAIL_1]?",
                    "It arrives tomorrow by courier.",
                ),
                with_tools,
                later,
                exchange(
                    "other bot",
                    "Reset my password please",
                    "A reset link is on its way.",
                ),
            ],
        );
        assert_eq!(g.cases, 2);
        assert_eq!(
            skipped,
            Skipped {
                continuations: 1,
                with_tools: 1
            }
        );
        assert!(
            g.yaml.contains("agents:\n  \"recorded-bot\":"),
            "{}",
            g.yaml
        );
        assert!(g.yaml.contains("\"recorded-other-bot\""), "{}", g.yaml);
        assert!(g.yaml.contains("    system: \"Be brief.\""), "{}", g.yaml);
        assert!(g.yaml.contains("[EMAIL_1]"), "{}", g.yaml);
        assert!(g.yaml.contains("courier"), "{}", g.yaml);
        assert!(
            g.yaml
                .contains("  \"bot-traffic-bot\":\n    target: \"recorded-bot\""),
            "{}",
            g.yaml
        );
        assert!(
            g.yaml
                .contains("  \"bot-traffic-other-bot\":\n    target: \"recorded-other-bot\""),
            "{}",
            g.yaml
        );
    }
}
