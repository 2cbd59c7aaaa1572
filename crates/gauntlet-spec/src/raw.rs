//! The file format as written: plain serde types with `deny_unknown_fields`.
//!
//! These types define the YAML format and generate its JSON Schema; `crate::validate` turns
//! them into `gauntlet_core::model`. Fields whose shape varies (a name or an inline contract,
//! a number or a range) are `serde_json::Value` here, with a schema attribute describing the
//! accepted shapes, so that validation can report precise errors.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

pub mod gateway;
mod providers;
pub use gateway::Gateway;
pub use providers::{CircuitBreaker, McpServer, Price, Provider, ProviderType};

/// A Gauntlet specification file. A project is one file or a directory of them.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct File {
    /// Format version; `1`.
    #[serde(default)]
    pub version: Option<u32>,
    /// Other files or directories to load, relative to this file.
    #[serde(default)]
    pub include: Vec<String>,
    #[serde(default)]
    pub providers: IndexMap<String, Provider>,
    /// MCP servers: their tools for agents, and direct calls from suites (`target: mcp:NAME`).
    #[serde(default)]
    pub mcp_servers: IndexMap<String, McpServer>,
    #[serde(default)]
    pub tools: IndexMap<String, Tool>,
    /// Named contracts that agents and suites refer to by name.
    #[serde(default)]
    pub contracts: IndexMap<String, Contract>,
    #[serde(default)]
    pub agents: IndexMap<String, Agent>,
    #[serde(default)]
    pub graphs: IndexMap<String, Graph>,
    #[serde(default)]
    pub suites: IndexMap<String, Suite>,
    /// The default retention policy of every suite (the tenant's policy).
    #[serde(default)]
    pub retention: Option<Retention>,
    /// What `gauntlet gateway` enforces: routes, keys, budgets, limits, guardrails.
    #[serde(default)]
    pub gateway: Option<Gateway>,
}

/// How long stored results are kept; `gauntlet retention apply` enforces it.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    /// Delete runs (results, transcripts, files) older than this many days.
    #[serde(default)]
    pub keep_runs_days: Option<u32>,
    /// Purge inputs, outputs, steps and tool calls of runs older than this; verdicts stay.
    #[serde(default)]
    pub keep_transcripts_days: Option<u32>,
    /// Replace PII (emails, phone numbers, cards, IPs) in transcripts older than this.
    #[serde(default)]
    pub anonymise_after_days: Option<u32>,
}

/// The top-level sections, in the order they are validated.
pub const SECTIONS: [&str; 7] = [
    "providers",
    "mcp_servers",
    "tools",
    "contracts",
    "agents",
    "graphs",
    "suites",
];

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Tool {
    #[serde(default)]
    pub description: String,
    /// JSON Schema of the arguments.
    #[serde(default)]
    pub parameters: Option<Value>,
    /// Scripted results for offline runs; the first rule whose `when` matches answers.
    #[serde(default)]
    pub mock: Vec<ToolMockRule>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolMockRule {
    /// Argument values that must all be equal for this rule to apply.
    #[serde(default)]
    pub when: Option<serde_json::Map<String, Value>>,
    #[serde(default, rename = "return")]
    pub returns: Option<Value>,
    /// Makes the tool call fail with this message.
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    #[schemars(with = "Option<LatencySchema>")]
    pub latency_ms: Option<Value>,
}

/// A fixed number of milliseconds or a `{min, max}` range drawn with the run's seed.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum LatencySchema {
    Fixed(u64),
    Range { min: u64, max: u64 },
}

/// A contract name from `contracts:` or an inline contract.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum ContractRefSchema {
    Name(String),
    Inline(Box<Contract>),
}

/// One name or a list of names.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum OneOrManySchema {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Contract {
    /// The contract's version; signed versions are recorded by `gauntlet contract sign`, and a
    /// change without a new version fails `gauntlet contract check`.
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub input_schema: Option<Value>,
    /// JSON Schema the output (parsed as JSON) must satisfy.
    #[serde(default)]
    pub output_schema: Option<Value>,
    /// Tools the agent may call; a call to any other fails the step.
    #[serde(default)]
    pub allowed_tools: Option<Vec<String>>,
    #[serde(default)]
    pub max_tool_calls: Option<u32>,
    #[serde(default)]
    pub max_tokens: Option<u64>,
    #[serde(default)]
    pub max_cost_usd: Option<f64>,
    #[serde(default)]
    pub max_latency_ms: Option<f64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Agent {
    /// A provider name from `providers:`.
    pub provider: String,
    /// Overrides the provider's model.
    #[serde(default)]
    pub model: Option<String>,
    /// The system prompt.
    #[serde(default)]
    pub system: Option<String>,
    /// Tools the agent may call (names from `tools:`).
    #[serde(default)]
    pub tools: Vec<String>,
    /// MCP servers (names from `mcp_servers:`) whose tools the agent may call.
    #[serde(default)]
    pub mcp: Vec<String>,
    #[serde(default)]
    #[schemars(with = "Option<ContractRefSchema>")]
    pub contract: Option<Value>,
    /// Behaviour on the mock provider.
    #[serde(default)]
    pub mock: Option<Mock>,
    /// Model calls allowed in one agent turn (tool-call round trips); default 8.
    #[serde(default)]
    pub max_turns: Option<u32>,
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default)]
    pub max_output_tokens: Option<u32>,
    #[serde(default)]
    pub retry: Option<Retry>,
    /// Timeout of one step of this agent.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Retry {
    /// Retries after the first attempt for retryable errors (429, 5xx, timeouts); default 3.
    #[serde(default)]
    pub max_retries: Option<u32>,
    #[serde(default)]
    pub initial_backoff_ms: Option<u64>,
    #[serde(default)]
    pub max_backoff_ms: Option<u64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Mock {
    /// Answer with the input.
    #[serde(default)]
    pub echo: bool,
    /// Rules tried in order; the first whose `when` matches answers.
    #[serde(default)]
    pub responses: Vec<MockRule>,
    #[serde(default)]
    #[schemars(with = "Option<LatencySchema>")]
    pub latency_ms: Option<Value>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MockRule {
    #[serde(default)]
    pub when: Option<MockWhen>,
    /// Reply text; may use `{{ input }}` and `{{ tool_results.NAME... }}`.
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub tool_call: Option<MockToolCall>,
    #[serde(default)]
    pub tool_calls: Option<Vec<MockToolCall>>,
    /// Replies chosen among with the run's seed.
    #[serde(default)]
    pub choices: Option<Vec<String>>,
    #[serde(default)]
    pub error: Option<MockError>,
    /// With `error`: fail only the first N matching calls of each case.
    #[serde(default)]
    pub times: Option<u32>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MockWhen {
    #[serde(default)]
    pub contains: Option<String>,
    #[serde(default)]
    pub icontains: Option<String>,
    #[serde(default)]
    pub not_contains: Option<String>,
    #[serde(default)]
    pub equals: Option<String>,
    #[serde(default)]
    pub regex: Option<String>,
    #[serde(default)]
    pub after_tool: Option<String>,
    /// The latest result of this tool in the conversation is an error (an `error` payload, a
    /// failure or a timeout): lets a mock agent show how it copes.
    #[serde(default)]
    pub tool_failed: Option<String>,
    #[serde(default)]
    pub turn: Option<u32>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MockToolCall {
    pub name: String,
    #[serde(default)]
    pub args: Option<Value>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MockError {
    /// `rate_limit`, `server_error`, `timeout`, `network`, `invalid_request`, `auth`, `not_found`.
    pub kind: String,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub retry_after_ms: Option<u64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Graph {
    /// The first node.
    pub start: String,
    pub nodes: IndexMap<String, Node>,
    #[serde(default)]
    pub edges: Vec<Edge>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Node {
    pub agent: String,
    /// Template of the node's input, e.g. `"Ticket: {{ input }}\nRoute: {{ nodes.triage.output }}"`.
    #[serde(default)]
    pub input: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Edge {
    #[schemars(with = "OneOrManySchema")]
    pub from: Value,
    #[schemars(with = "OneOrManySchema")]
    pub to: Value,
    /// Condition over `output`, `input`, `nodes.NAME.output`, e.g. `output.queue == "billing"`.
    #[serde(default)]
    pub when: Option<String>,
    /// Taken only when no other edge leaving the same node was taken.
    #[serde(default)]
    pub otherwise: bool,
}

/// A suite. Validation reads it with its cases left out (`Suite<IgnoredAny>`), because cases
/// are converted one by one while the file is parsed.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Suite")]
pub struct Suite<C = Case> {
    #[serde(default)]
    pub description: String,
    /// An agent name, `graph:NAME`, or a list of them to compare.
    #[schemars(with = "OneOrManySchema")]
    pub target: Value,
    #[serde(default)]
    pub defaults: Option<Defaults>,
    /// Per-case contract: budgets over all steps of a case, schema of the final output.
    #[serde(default)]
    #[schemars(with = "Option<ContractRefSchema>")]
    pub contract: Option<Value>,
    #[serde(default)]
    pub step_timeout_ms: Option<u64>,
    #[serde(default)]
    pub case_timeout_ms: Option<u64>,
    #[serde(default)]
    pub run_timeout_ms: Option<u64>,
    #[serde(default)]
    pub retry: Option<Retry>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Overrides the project's `retention` for this suite's runs.
    #[serde(default)]
    pub retention: Option<Retention>,
    /// Fault injection for every case: a profile name or a chaos block.
    #[serde(default)]
    #[schemars(schema_with = "chaos_schema")]
    pub chaos: Option<Value>,
    pub cases: Vec<C>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// Assertions added to every case.
    #[serde(default)]
    pub assert: Vec<Assertion>,
    #[serde(default)]
    pub threshold: Option<f64>,
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// Unique within the suite; defaults to `case-N`.
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub description: String,
    /// Text, or structured data passed to the target as JSON; for `tool` and `prompt` cases
    /// of an MCP target, the arguments.
    #[serde(default)]
    pub input: Value,
    /// MCP targets: the tool to call with `input` as its arguments.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub tool: Option<Box<String>>,
    /// MCP targets: the URI of the resource to read.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub resource: Option<Box<String>>,
    /// MCP targets: the prompt to get with `input` as its arguments.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub prompt: Option<Box<String>>,
    /// Values available to templates as `vars.NAME`.
    #[serde(default)]
    pub vars: Option<Value>,
    #[serde(default)]
    pub assert: Vec<Assertion>,
    /// Weighted score (0–1) the case needs; default: every assertion must pass.
    #[serde(default)]
    pub threshold: Option<f64>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// Fault injection for this case (replaces the suite's): a profile name or a chaos block.
    #[serde(default)]
    #[schemars(schema_with = "chaos_schema")]
    pub chaos: Option<Value>,
}

fn chaos_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let block = generator.subschema_for::<Chaos>();
    schemars::json_schema!({
        "oneOf": [
            { "type": "string", "enum": gauntlet_core::chaos::Chaos::PROFILES },
            block,
        ]
    })
}

/// A chaos block: faults injected at the provider and tool layers, drawn from the case's seed.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Chaos {
    /// Start from a named profile: `flaky-tools`, `slow-network`, `rate-limited`, `degraded`.
    #[serde(default)]
    pub profile: Option<String>,
    #[serde(default)]
    pub tools: Vec<ChaosToolFault>,
    #[serde(default)]
    pub latency: Vec<ChaosLatency>,
    #[serde(default)]
    pub rate_limit: Option<ChaosRateLimit>,
    #[serde(default)]
    pub truncate: Option<ChaosTruncate>,
    #[serde(default)]
    pub token_limit: Option<ChaosTokenLimit>,
    #[serde(default)]
    pub network: Option<ChaosProbability>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChaosToolFault {
    /// A tool name, or `*` (default) for every tool.
    #[serde(default)]
    pub tool: Option<String>,
    pub probability: f64,
    /// `timeout`, `error` (an error payload as the result, default) or `exception`.
    #[serde(default)]
    pub error: Option<String>,
    /// For `timeout`: how long the call hangs first (default 1000).
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    #[serde(default)]
    pub message: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChaosLatency {
    /// `model`, `tools`, a tool name, or `*` (default).
    #[serde(default)]
    pub target: Option<String>,
    pub min_ms: u64,
    pub max_ms: u64,
    /// Default 1.
    #[serde(default)]
    pub probability: Option<f64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChaosRateLimit {
    pub probability: f64,
    /// Default 1000.
    #[serde(default)]
    pub retry_after_ms: Option<u64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChaosTruncate {
    pub probability: f64,
    /// Share of the text that arrives (default 0.5).
    #[serde(default)]
    pub keep: Option<f64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChaosTokenLimit {
    #[serde(default)]
    pub max_input: Option<u64>,
    #[serde(default)]
    pub max_output: Option<u64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChaosProbability {
    pub probability: f64,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Assertion {
    /// The check, optionally prefixed with `not-` to negate it.
    #[serde(rename = "type")]
    #[schemars(schema_with = "assertion_type_schema")]
    pub check_type: String,
    /// Expected text, list of texts, pattern, schema or JSON value, depending on the type.
    #[serde(default)]
    pub value: Option<Value>,
    /// Minimum score (0–1) for graded checks such as `similarity`.
    #[serde(default)]
    pub threshold: Option<f64>,
    /// Weight in the case score; default 1.
    #[serde(default)]
    pub weight: Option<f64>,
    /// Check this graph node's output instead of the final output.
    #[serde(default)]
    pub node: Option<String>,
    /// Name under which the score is reported.
    #[serde(default)]
    pub metric: Option<String>,
    /// `similarity`: `levenshtein` (default) or `token-overlap`.
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub min: Option<u64>,
    #[serde(default)]
    pub max: Option<u64>,
    #[serde(default)]
    pub max_ms: Option<f64>,
    #[serde(default)]
    pub max_usd: Option<f64>,
    /// `tokens`: `total` (default), `input` or `output`.
    #[serde(default)]
    pub kind: Option<String>,
    /// `tool-called`, `no-tool`: the tool name.
    #[serde(default)]
    pub name: Option<String>,
    /// `tool-called`: arguments the call must include.
    #[serde(default)]
    pub args: Option<Value>,
    /// `tool-sequence`: the calls must be exactly these (default: in this order, gaps allowed).
    #[serde(default)]
    pub exact: Option<bool>,
    /// `json-path`: a path such as `$.items[0].id`.
    #[serde(default)]
    pub path: Option<String>,
    /// `json-schema`: the schema (or give it as `value`).
    #[serde(default)]
    pub schema: Option<Value>,
    /// `security`: which checks (`pii`, `secrets`, `prompt_injection`, `code_safety`,
    /// `sql_injection`); default all.
    #[serde(default)]
    pub checks: Option<Value>,
    /// `security`: `low`, `medium` (default) or `high`.
    #[serde(default)]
    pub sensitivity: Option<String>,
    /// `security`: low-severity findings (warnings) fail too.
    #[serde(default)]
    pub fail_on_warning: Option<bool>,
    /// `factuality`: the facts file (YAML or JSON, relative to this file), or the facts inline.
    #[serde(default)]
    pub facts: Option<Value>,
    /// `factuality`: every sentence with a claim must cite a source.
    #[serde(default)]
    pub require_citations: Option<bool>,
    /// `factuality`: claims found nowhere in the facts lower the score (default true).
    #[serde(default)]
    pub flag_unsupported: Option<bool>,
    /// `style`: minimum Flesch reading ease.
    #[serde(default)]
    pub min_reading_ease: Option<f64>,
    #[serde(default)]
    pub max_reading_ease: Option<f64>,
    /// `style`: maximum Flesch–Kincaid grade.
    #[serde(default)]
    pub max_grade: Option<f64>,
    #[serde(default)]
    pub max_smog: Option<f64>,
    #[serde(default)]
    pub max_coleman_liau: Option<f64>,
    /// `style`: largest share (0–1) of passive sentences.
    #[serde(default)]
    pub max_passive: Option<f64>,
    #[serde(default)]
    pub max_sentence_words: Option<f64>,
    #[serde(default)]
    pub max_mean_sentence_words: Option<f64>,
    /// `style`: `formal`, `casual`, `friendly` or `professional`.
    #[serde(default)]
    pub tone: Option<String>,
    /// `style`: phrases that must not appear.
    #[serde(default)]
    pub banned: Option<Vec<String>>,
    /// `style`: phrases that must appear.
    #[serde(default)]
    pub required: Option<Vec<String>>,
    /// `performance`: latency percentiles over the case's trials, in milliseconds.
    #[serde(default)]
    pub p50_ms: Option<f64>,
    #[serde(default)]
    pub p95_ms: Option<f64>,
    #[serde(default)]
    pub p99_ms: Option<f64>,
    #[serde(default)]
    pub max_ttft_ms: Option<f64>,
    #[serde(default)]
    pub min_tokens_per_second: Option<f64>,
    #[serde(default)]
    pub max_tokens_per_word: Option<f64>,
    /// `performance`: allowed slowdown against the suite's baseline run (0.2 = 20 %).
    #[serde(default)]
    pub baseline_tolerance: Option<f64>,
    /// `llm-judge`: the agent that judges.
    #[serde(default)]
    pub judge: Option<String>,
    /// `llm-judge`: the provider that judges (instead of `judge`).
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    /// `llm-judge`: what a good answer does (or give it as `value`).
    #[serde(default)]
    pub criteria: Option<String>,
    /// `llm-judge`: evaluation steps the judge follows.
    #[serde(default)]
    pub steps: Option<Vec<String>>,
    /// `llm-judge`: `[min, max]` of the rubric's scale; default `[1, 5]`.
    #[serde(default)]
    pub score_range: Option<Vec<f64>>,
    /// `llm-judge`: the lowest raw score that passes; default the scale's upper 60 %.
    #[serde(default)]
    pub pass_score: Option<f64>,
    /// `llm-judge`: a reference answer shown to the judge.
    #[serde(default)]
    pub reference: Option<String>,
    /// `policy`: the Rego module inline.
    #[serde(default)]
    pub rego: Option<String>,
    /// `policy`: a Rego file, relative to this file.
    #[serde(default)]
    pub file: Option<String>,
    /// `policy`: the rule to query; default `data.<package>.deny`.
    #[serde(default)]
    pub query: Option<String>,
    /// `custom`: the command (a list, or a string split on spaces).
    #[serde(default)]
    pub command: Option<Value>,
    /// `custom`: how long the command may run; default 30 000.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

fn assertion_type_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let mut names: Vec<String> = gauntlet_core::model::Check::NAMES
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    names.extend(
        gauntlet_core::model::Check::NAMES
            .iter()
            .map(|s| format!("not-{s}")),
    );
    schemars::json_schema!({ "type": "string", "enum": names })
}
