//! The `gateway` block: what `gauntlet gateway` enforces in front of the providers.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Gateway {
    /// Client-facing model names and the provider that serves each (a name of `providers`, or
    /// `{provider, model}` to choose the upstream model).
    #[serde(default)]
    pub routes: IndexMap<String, Route>,
    /// Keys agents present (`Authorization: Bearer …` or `x-api-key`), by public id.
    #[serde(default)]
    pub keys: IndexMap<String, Key>,
    #[serde(default)]
    pub budgets: Scoped<Budget>,
    #[serde(default)]
    pub limits: Scoped<RateLimit>,
    #[serde(default)]
    pub guardrails: Vec<Guardrail>,
    /// Output tokens reserved for a request that sets no `max_tokens` (default 1024).
    #[serde(default)]
    pub default_max_tokens: Option<u32>,
    #[serde(default)]
    pub anomaly: Option<Anomaly>,
    #[serde(default)]
    pub zombies: Option<Zombies>,
    /// URL that receives alerts (suspensions, zombies) as JSON.
    #[serde(default)]
    pub alert_webhook: Option<String>,
    /// How requests held by a policy's `require_approval` rule wait for a decision.
    #[serde(default)]
    pub approvals: Option<Approvals>,
    /// Records allowed exchanges (as the provider saw them) for `generate-tests --traffic`.
    #[serde(default)]
    pub record: Option<Record>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Approvals {
    /// Seconds a held request waits for a decision (default 30; 0 answers at once).
    #[serde(default)]
    pub wait_seconds: Option<u64>,
    /// Seconds an approval stays usable after it was asked for (default 3600).
    #[serde(default)]
    pub valid_seconds: Option<u64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// Directory of the `traffic-<day>.jsonl` files, relative to this file.
    pub dir: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Route {
    Provider(String),
    Full {
        provider: String,
        #[serde(default)]
        model: Option<String>,
    },
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Key {
    /// The key's secret: `${secret:NAME}`; only its SHA-256 is kept.
    pub secret: String,
    pub tenant: String,
    pub agent: String,
    /// May flip kill switches, unsuspend agents and read telemetry and invoices.
    #[serde(default)]
    pub admin: bool,
}

/// Entries per key id, agent and tenant; `*` is every one without its own entry.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, bound(deserialize = "T: Deserialize<'de>"))]
pub struct Scoped<T> {
    #[serde(default)]
    pub keys: IndexMap<String, T>,
    #[serde(default)]
    pub agents: IndexMap<String, T>,
    #[serde(default)]
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

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    #[serde(default)]
    pub tokens_per_day: Option<u64>,
    /// US dollars per calendar month (UTC).
    #[serde(default)]
    pub cost_per_month_usd: Option<f64>,
    #[serde(default)]
    pub max_tokens_per_request: Option<u32>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    #[serde(default)]
    pub requests_per_minute: Option<u64>,
    #[serde(default)]
    pub tokens_per_minute: Option<u64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Guardrail {
    /// `pii`, `secrets`, `prompt_injection`, `sql_injection`, `code_safety`, or `policy`.
    pub check: String,
    /// `block` (default), `redact` or `monitor`.
    #[serde(default)]
    pub mode: Option<String>,
    /// Where it looks: `prompt`, `tool_result`, `response` (default: all three).
    #[serde(default)]
    pub on: Vec<String>,
    /// `low`, `medium` (default) or `high`.
    #[serde(default)]
    pub sensitivity: Option<String>,
    /// For `check: policy`: the Rego module: its `deny` rule refuses, its `require_approval`
    /// rule holds the request for an administrator's decision.
    #[serde(default)]
    pub rego: Option<String>,
    /// A name for decision records (default: the check).
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Anomaly {
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub window_seconds: Option<u64>,
    #[serde(default)]
    pub learn_windows: Option<u32>,
    #[serde(default)]
    pub factor: Option<f64>,
    #[serde(default)]
    pub min_requests: Option<u64>,
    #[serde(default)]
    pub suspend: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Zombies {
    #[serde(default)]
    pub silent_after_seconds: Option<u64>,
    #[serde(default)]
    pub repeat_limit: Option<u32>,
}
