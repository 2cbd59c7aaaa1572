//! Fault injection. Each step draws from its own RNG, derived from the case's seed, in a fixed
//! order per call (every draw is taken whether or not an earlier one fired), so the same seed
//! injects the same faults at the same places.

use std::time::Duration;

use gauntlet_core::chaos::{Chaos, ToolFaultKind};
use gauntlet_core::model::ErrorKind;
use gauntlet_core::result::{Fault, StepRecord};
use gauntlet_providers::{ChatResponse, ProviderError};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

pub struct Injector<'a> {
    chaos: &'a Chaos,
    rng: ChaCha8Rng,
}

/// What chaos does to a tool call instead of the tool.
pub enum ToolOverride {
    Result(Value),
    Error(String),
}

impl<'a> Injector<'a> {
    pub fn new(chaos: &'a Chaos, rng: ChaCha8Rng) -> Injector<'a> {
        Injector { chaos, rng }
    }

    fn fires(&mut self, probability: f64) -> bool {
        let draw: f64 = self.rng.random();
        draw < probability
    }

    fn delay(&mut self, min: u64, max: u64) -> u64 {
        if max > min {
            self.rng.random_range(min..=max)
        } else {
            min
        }
    }

    /// Latency faults for `model` or a tool; sleeps and records them, returns the added
    /// milliseconds.
    async fn latency(
        &mut self,
        record: &mut StepRecord,
        at: &str,
        turn: u32,
        tool: Option<&str>,
    ) -> f64 {
        let mut added = 0;
        for l in &self.chaos.latency {
            let applies = match tool {
                None => l.applies_to_model(),
                Some(t) => l.applies_to_tool(t),
            };
            if !applies {
                continue;
            }
            let fires = self.fires(l.probability);
            let ms = self.delay(l.min_ms, l.max_ms);
            if fires && ms > 0 {
                added += ms;
                record.faults.push(Fault {
                    at: at.to_owned(),
                    turn,
                    kind: "latency".into(),
                    detail: format!("+{ms} ms"),
                });
            }
        }
        if added > 0 {
            tokio::time::sleep(Duration::from_millis(added)).await;
        }
        added as f64
    }

    /// Whether `before_model` needs the request's input tokens (counting them costs a
    /// tokenizer pass over the conversation, so it is done only for a `max_input` limit).
    pub fn limits_input(&self) -> bool {
        self.chaos
            .token_limit
            .is_some_and(|t| t.max_input.is_some())
    }

    /// Before a model call: added latency, then maybe a failure in place of the call.
    pub async fn before_model(
        &mut self,
        record: &mut StepRecord,
        turn: u32,
        input_tokens: u64,
    ) -> (f64, Option<ProviderError>) {
        let (added, error) = self.model_fault(record, turn, input_tokens).await;
        // An injected failure takes no time of its own (the latency fault is counted apart),
        // so chaos runs keep the exact latencies replays compare.
        (
            added,
            error.map(|mut e| {
                e.latency_ms = Some(0.0);
                e
            }),
        )
    }

    async fn model_fault(
        &mut self,
        record: &mut StepRecord,
        turn: u32,
        input_tokens: u64,
    ) -> (f64, Option<ProviderError>) {
        let added = self.latency(record, "model", turn, None).await;
        let network = self
            .chaos
            .network
            .map(|n| self.fires(n.probability))
            .unwrap_or(false);
        let rate_limited = self
            .chaos
            .rate_limit
            .map(|r| (self.fires(r.probability), r.retry_after_ms));
        let mut fault = |kind: &str, detail: String| {
            record.faults.push(Fault {
                at: "model".into(),
                turn,
                kind: kind.into(),
                detail,
            });
        };
        if let Some(max) = self.chaos.token_limit.and_then(|t| t.max_input)
            && input_tokens > max
        {
            fault(
                "token_limit",
                format!("request of {input_tokens} tokens over max_input {max}"),
            );
            return (
                added,
                Some(ProviderError::new(
                    ErrorKind::InvalidRequest,
                    format!("context length exceeded: {input_tokens} input tokens > {max} (chaos)"),
                )),
            );
        }
        if network {
            fault("network", "connection reset".into());
            return (
                added,
                Some(ProviderError::new(
                    ErrorKind::Network,
                    "connection reset by peer (chaos)",
                )),
            );
        }
        if let Some((true, retry_after)) = rate_limited {
            fault("rate_limit", format!("429, Retry-After {retry_after} ms"));
            let mut e = ProviderError::new(ErrorKind::RateLimit, "429 Too Many Requests (chaos)");
            e.retry_after_ms = Some(retry_after);
            return (added, Some(e));
        }
        (added, None)
    }

    /// After a successful model call: maybe a truncated or token-capped response.
    pub fn after_model(&mut self, record: &mut StepRecord, turn: u32, r: &mut ChatResponse) {
        let truncated = self
            .chaos
            .truncate
            .map(|t| (self.fires(t.probability), t.keep));
        if let Some(max) = self.chaos.token_limit.and_then(|t| t.max_output)
            && r.usage.output > max
        {
            let keep = max as f64 / r.usage.output as f64;
            cut(&mut r.text, keep);
            r.tool_calls.clear();
            record.faults.push(Fault {
                at: "model".into(),
                turn,
                kind: "token_limit".into(),
                detail: format!(
                    "answer of {} tokens cut to max_output {max}",
                    r.usage.output
                ),
            });
            r.usage.output = max;
        }
        if let Some((true, keep)) = truncated {
            let before = r.text.chars().count();
            cut(&mut r.text, keep);
            let dropped = r.tool_calls.len();
            r.tool_calls.clear();
            record.faults.push(Fault {
                at: "model".into(),
                turn,
                kind: "truncate".into(),
                detail: format!(
                    "response cut to {} of {before} characters{}",
                    r.text.chars().count(),
                    if dropped > 0 {
                        format!(", {dropped} tool call(s) lost")
                    } else {
                        String::new()
                    }
                ),
            });
        }
    }

    /// Before a tool call: added latency, then maybe a failure instead of the tool.
    pub async fn before_tool(
        &mut self,
        record: &mut StepRecord,
        turn: u32,
        tool: &str,
    ) -> (f64, Option<ToolOverride>) {
        let at = format!("tool:{tool}");
        let mut added = self.latency(record, &at, turn, Some(tool)).await;
        let mut chosen = None;
        for f in &self.chaos.tools {
            if f.tool != "*" && f.tool != tool {
                continue;
            }
            if self.fires(f.probability) && chosen.is_none() {
                chosen = Some(f);
            }
        }
        let Some(f) = chosen else {
            return (added, None);
        };
        let (kind, outcome) = match f.error {
            ToolFaultKind::Timeout => {
                tokio::time::sleep(Duration::from_millis(f.timeout_ms)).await;
                added += f.timeout_ms as f64;
                (
                    "tool_timeout",
                    ToolOverride::Error(format!("`{tool}` timed out after {} ms", f.timeout_ms)),
                )
            }
            ToolFaultKind::Error => (
                "tool_error",
                ToolOverride::Result(json!({
                    "error": f.message.clone().unwrap_or_else(|| "service unavailable".into())
                })),
            ),
            ToolFaultKind::Exception => (
                "tool_exception",
                ToolOverride::Error(format!(
                    "exception in `{tool}`: {}",
                    f.message
                        .clone()
                        .unwrap_or_else(|| "ConnectionError: connection pool exhausted".into())
                )),
            ),
        };
        record.faults.push(Fault {
            at,
            turn,
            kind: kind.into(),
            detail: f.message.clone().unwrap_or_else(|| f.error.as_str().into()),
        });
        (added, Some(outcome))
    }
}

/// Keeps the first `keep` share of `text`'s characters.
fn cut(text: &mut String, keep: f64) {
    let n = text.chars().count();
    let kept = ((n as f64) * keep).floor() as usize;
    if let Some((i, _)) = text.char_indices().nth(kept) {
        text.truncate(i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_respects_char_boundaries() {
        let mut s = "héllo wörld".to_owned();
        cut(&mut s, 0.5);
        assert_eq!(s, "héllo");
        let mut s = "abc".to_owned();
        cut(&mut s, 0.0);
        assert_eq!(s, "");
    }
}
