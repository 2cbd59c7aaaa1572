//! The gateway's configuration as validated: which client-facing models reach which
//! providers, the keys agents present, budgets, rate limits, guardrails, anomaly detection.

use indexmap::IndexMap;
use serde::Serialize;

use crate::evaluators::{SecurityCheck, Sensitivity};
use crate::model::Secret;

#[derive(Clone, Debug, Default, Serialize)]
pub struct Gateway {
    /// Client-facing model name → the provider (of the project's `providers`) that serves it.
    pub routes: IndexMap<String, Route>,
    /// Keys by public id.
    pub keys: IndexMap<String, Key>,
    pub budgets: Scoped<Budget>,
    pub limits: Scoped<RateLimit>,
    pub guardrails: Vec<Guardrail>,
    /// The output cap reserved when a request names none.
    pub default_max_tokens: u32,
    pub anomaly: Anomaly,
    pub zombies: Zombies,
    /// Where an alert (a suspension, a zombie) is posted as JSON, if anywhere.
    pub alert_webhook: Option<String>,
    /// How requests a policy holds for approval wait.
    pub approvals: Approvals,
    /// Where allowed exchanges are recorded for `generate-tests --traffic`, if anywhere.
    pub record: Option<Recording>,
}

/// Requests a policy's `require_approval` rule holds until a person decides.
#[derive(Clone, Debug, Serialize)]
pub struct Approvals {
    /// How long a held request waits for a decision before it is answered "pending" (the
    /// caller may send it again; it finds the same approval).
    pub wait_seconds: u64,
    /// How long an approval stays usable after it was asked for.
    pub valid_seconds: u64,
}

impl Default for Approvals {
    fn default() -> Self {
        Approvals {
            wait_seconds: 30,
            valid_seconds: 3600,
        }
    }
}

/// Traffic recording: each allowed exchange, as the provider saw it (PII already replaced),
/// appended to `traffic-<day>.jsonl` in `dir`.
#[derive(Clone, Debug, Serialize)]
pub struct Recording {
    pub dir: std::path::PathBuf,
}

#[derive(Clone, Debug, Serialize)]
pub struct Route {
    pub provider: String,
    /// The upstream model; the provider's own model when absent.
    pub model: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Key {
    /// SHA-256 (hex) of the secret; the secret itself is not kept.
    #[serde(skip)]
    pub secret_sha256: String,
    pub tenant: String,
    pub agent: String,
    /// May flip kill switches, unsuspend agents, read telemetry and invoices of its tenant.
    pub admin: bool,
}

impl Key {
    /// A key whose secret is `secret`.
    pub fn new(secret: &Secret, tenant: &str, agent: &str, admin: bool) -> Key {
        Key {
            secret_sha256: crate::hash::sha256_hex(secret.expose().as_bytes()),
            tenant: tenant.to_owned(),
            agent: agent.to_owned(),
            admin,
        }
    }
}

/// Settings per key, agent and tenant; `*` applies to every one without its own entry.
#[derive(Clone, Debug, Serialize)]
pub struct Scoped<T> {
    pub keys: IndexMap<String, T>,
    pub agents: IndexMap<String, T>,
    pub tenants: IndexMap<String, T>,
}

impl<T> Default for Scoped<T> {
    fn default() -> Self {
        Scoped {
            keys: IndexMap::new(),
            agents: IndexMap::new(),
            tenants: IndexMap::new(),
        }
    }
}

impl<T> Scoped<T> {
    /// The entries that apply to a request: (scope, subject, settings).
    pub fn applying<'a>(
        &'a self,
        key: &'a str,
        agent: &'a str,
        tenant: &'a str,
    ) -> impl Iterator<Item = (Scope, &'a str, &'a T)> + 'a {
        let pick = |map: &'a IndexMap<String, T>, scope: Scope, name: &'a str| {
            map.get(name)
                .or_else(|| map.get("*"))
                .map(move |t| (scope, name, t))
        };
        [
            pick(&self.keys, Scope::Key, key),
            pick(&self.agents, Scope::Agent, agent),
            pick(&self.tenants, Scope::Tenant, tenant),
        ]
        .into_iter()
        .flatten()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Key,
    Agent,
    Tenant,
    Global,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Key => "key",
            Scope::Agent => "agent",
            Scope::Tenant => "tenant",
            Scope::Global => "global",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Some(match s {
            "key" => Scope::Key,
            "agent" => Scope::Agent,
            "tenant" => Scope::Tenant,
            "global" => Scope::Global,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Budget {
    pub tokens_per_day: Option<u64>,
    /// In millionths of a US dollar.
    pub cost_per_month_micro_usd: Option<u64>,
    pub max_tokens_per_request: Option<u32>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct RateLimit {
    pub requests_per_minute: Option<u64>,
    pub tokens_per_minute: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Refuse the request (or end the response).
    Block,
    /// Replace what was found: PII with placeholders the caller gets back restored, anything
    /// else with a marker.
    Redact,
    /// Let it through and record the finding.
    Monitor,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Text the caller writes (system and user messages).
    Prompt,
    /// Results of tools the agent sends back (where indirect injection arrives).
    ToolResult,
    /// The model's answer, streamed or not.
    Response,
}

#[derive(Clone, Debug, Serialize)]
pub enum GuardCheck {
    Security(SecurityCheck),
    /// A Rego policy over the request (`input.messages`, `input.agent`, `input.tools`,
    /// `input.model`): its `deny` messages refuse it.
    Policy(crate::evaluators::PolicySpec),
}

#[derive(Clone, Debug, Serialize)]
pub struct Guardrail {
    pub name: String,
    pub check: GuardCheck,
    pub mode: Mode,
    pub stages: Vec<Stage>,
    pub sensitivity: Sensitivity,
}

/// Suspension on anomalies: each agent's rates per window against a baseline learnt from its
/// own earlier windows.
#[derive(Clone, Debug, Serialize)]
pub struct Anomaly {
    pub enabled: bool,
    pub window_seconds: u64,
    /// Windows observed before the baseline is trusted.
    pub learn_windows: u32,
    /// A window this many times above the baseline is an anomaly.
    pub factor: f64,
    /// …and at least this many requests (small numbers are never anomalies).
    pub min_requests: u64,
    /// Suspend the agent (else only record and alert).
    pub suspend: bool,
}

impl Default for Anomaly {
    fn default() -> Self {
        Anomaly {
            enabled: true,
            window_seconds: 60,
            learn_windows: 5,
            factor: 5.0,
            min_requests: 20,
            suspend: true,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Zombies {
    /// An active agent not heard from for this long is reported as a zombie.
    pub silent_after_seconds: u64,
    /// The same request repeated this many times in a row is a loop: it is refused.
    pub repeat_limit: u32,
}

impl Default for Zombies {
    fn default() -> Self {
        Zombies {
            silent_after_seconds: 86_400,
            repeat_limit: 8,
        }
    }
}

/// One allowed exchange as the gateway recorded it: the request as the provider saw it (PII
/// already replaced by placeholders) and the provider's answer. One JSON object per line in
/// the recording's `traffic-<day>.jsonl`; `generate-tests --traffic` reads them back.
#[derive(Clone, Debug, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct Exchange {
    pub request_id: String,
    pub at_ms: u64,
    pub tenant: String,
    pub agent: String,
    /// The client-facing model, its provider and the upstream model.
    pub model: String,
    pub provider: String,
    pub upstream_model: String,
    #[serde(default)]
    pub system: Option<String>,
    pub messages: Vec<ExchangeMessage>,
    /// Names of the tools the request offered.
    #[serde(default)]
    pub tools: Vec<String>,
    #[serde(default)]
    pub streamed: bool,
    pub text: String,
    #[serde(default)]
    pub tool_calls: Vec<ExchangeCall>,
    #[serde(default)]
    pub input_tokens: u64,
    #[serde(default)]
    pub output_tokens: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct ExchangeMessage {
    /// `user`, `assistant` or `tool`.
    pub role: String,
    pub content: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct ExchangeCall {
    pub name: String,
    #[serde(default)]
    pub args: serde_json::Value,
}
