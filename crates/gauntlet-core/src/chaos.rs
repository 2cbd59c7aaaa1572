//! Chaos engineering: faults injected at the provider and tool layers.
//!
//! A chaos block is set per suite, per case, or for a whole run by `--chaos PROFILE`; the
//! engine draws every fault from an RNG derived from the case's seed, so a chaos run with the
//! same seed injects the same faults at the same steps. Every injected fault is recorded on its
//! step (`gauntlet_core::result::Fault`).

use serde::Serialize;

/// How an injected tool failure shows itself to the agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolFaultKind {
    /// The call hangs for `timeout_ms`, then fails with a timeout error.
    Timeout,
    /// The tool answers, but with an error payload (`{"error": …}`) as its result.
    Error,
    /// The tool raises: the call fails with an exception message.
    Exception,
}

impl ToolFaultKind {
    pub const NAMES: [&'static str; 3] = ["timeout", "error", "exception"];

    pub fn as_str(self) -> &'static str {
        match self {
            ToolFaultKind::Timeout => "timeout",
            ToolFaultKind::Error => "error",
            ToolFaultKind::Exception => "exception",
        }
    }

    pub fn parse(s: &str) -> Option<ToolFaultKind> {
        match s {
            "timeout" => Some(ToolFaultKind::Timeout),
            "error" => Some(ToolFaultKind::Error),
            "exception" => Some(ToolFaultKind::Exception),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ToolFault {
    /// A tool name, or `*` for every tool.
    pub tool: String,
    pub probability: f64,
    pub error: ToolFaultKind,
    /// For `timeout`: how long the call hangs first.
    pub timeout_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Extra latency on model calls (`model`), on every tool (`tools`), on one tool (its name),
/// or on everything (`*`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LatencyFault {
    pub target: String,
    pub min_ms: u64,
    pub max_ms: u64,
    pub probability: f64,
}

impl LatencyFault {
    pub fn applies_to_model(&self) -> bool {
        self.target == "model" || self.target == "*"
    }

    pub fn applies_to_tool(&self, tool: &str) -> bool {
        self.target == "*" || self.target == "tools" || self.target == tool
    }
}

/// Model calls answered with 429 and a `Retry-After`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct RateLimitFault {
    pub probability: f64,
    pub retry_after_ms: u64,
}

/// Model responses cut short: only the first `keep` share of the text arrives.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct TruncateFault {
    pub probability: f64,
    pub keep: f64,
}

/// A simulated context window: requests over `max_input` tokens fail as invalid (not
/// retryable), answers over `max_output` tokens are cut to it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct TokenLimit {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_input: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_output: Option<u64>,
}

/// Model calls failing with a connection reset.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct NetworkFault {
    pub probability: f64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Chaos {
    /// The named profile this block starts from, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<ToolFault>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub latency: Vec<LatencyFault>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitFault>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncate: Option<TruncateFault>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_limit: Option<TokenLimit>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkFault>,
}

impl Chaos {
    pub const PROFILES: [&'static str; 4] =
        ["flaky-tools", "slow-network", "rate-limited", "degraded"];

    /// A named profile.
    pub fn profile(name: &str) -> Option<Chaos> {
        let tool = |probability: f64, error: ToolFaultKind| ToolFault {
            tool: "*".into(),
            probability,
            error,
            timeout_ms: 1_000,
            message: None,
        };
        let mut c = Chaos {
            profile: Some(name.to_owned()),
            ..Chaos::default()
        };
        match name {
            "flaky-tools" => {
                c.tools = vec![
                    tool(0.15, ToolFaultKind::Error),
                    tool(0.1, ToolFaultKind::Exception),
                    tool(0.05, ToolFaultKind::Timeout),
                ];
            }
            "slow-network" => {
                c.latency = vec![LatencyFault {
                    target: "*".into(),
                    min_ms: 200,
                    max_ms: 1_500,
                    probability: 1.0,
                }];
                c.network = Some(NetworkFault { probability: 0.05 });
            }
            "rate-limited" => {
                c.rate_limit = Some(RateLimitFault {
                    probability: 0.3,
                    retry_after_ms: 500,
                });
            }
            "degraded" => {
                c.tools = vec![tool(0.1, ToolFaultKind::Error)];
                c.latency = vec![LatencyFault {
                    target: "*".into(),
                    min_ms: 50,
                    max_ms: 500,
                    probability: 0.5,
                }];
                c.rate_limit = Some(RateLimitFault {
                    probability: 0.1,
                    retry_after_ms: 250,
                });
                c.truncate = Some(TruncateFault {
                    probability: 0.1,
                    keep: 0.5,
                });
            }
            _ => return None,
        }
        Some(c)
    }

    /// Whether the block injects nothing.
    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
            && self.latency.is_empty()
            && self.rate_limit.is_none()
            && self.truncate.is_none()
            && self.token_limit.is_none()
            && self.network.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_named_profile_exists_and_injects_something() {
        for name in Chaos::PROFILES {
            let c = Chaos::profile(name).unwrap_or_default();
            assert!(!c.is_empty(), "{name}");
            assert_eq!(c.profile.as_deref(), Some(name));
        }
        assert!(Chaos::profile("gentle").is_none());
    }
}
