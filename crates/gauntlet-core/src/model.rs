//! The validated specification: what the engine executes.
//!
//! Values of these types exist only after `gauntlet-spec` has parsed and validated the files:
//! every reference resolves, every regex and schema compiles, every name is unique. The engine
//! never re-checks them. `Serialize` produces the configuration snapshot that is stored with
//! each run and hashed; secrets serialize as their reference, never their value.

use std::fmt;
use std::sync::Arc;

use indexmap::IndexMap;
use regex::Regex;
use serde::{Serialize, Serializer};
use serde_json::Value;

use crate::expr::Expr;
use crate::template::Template;

pub use crate::assertion::{Assertion, Check, SimilarityMethod, TokenKind};
pub use crate::provider::{
    AwsSettings, AzureAuth, AzureSettings, HttpAgent, McpCall, McpServer, McpTransport, Price,
    ProcessAgent, Provider, ProviderKind, ProviderLimits,
};
pub use crate::retention::RetentionPolicy;

#[derive(Clone, Debug, Default, Serialize)]
pub struct Project {
    pub providers: IndexMap<String, Provider>,
    pub tools: IndexMap<String, Tool>,
    /// MCP servers whose tools agents may use and whose tools, resources and prompts suites may
    /// call directly.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub mcp_servers: IndexMap<String, McpServer>,
    pub agents: IndexMap<String, Agent>,
    pub graphs: IndexMap<String, Graph>,
    pub suites: IndexMap<String, Suite>,
    /// Named contracts (agents and suites hold resolved copies).
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub contracts: IndexMap<String, Contract>,
    /// The project-wide retention policy; suites may override it.
    #[serde(skip)]
    pub retention: RetentionPolicy,
    /// The `gateway` block: what `gauntlet gateway` enforces.
    #[serde(skip)]
    pub gateway: Option<crate::gateway::Gateway>,
}

impl Project {
    /// The configuration snapshot of a run of `suite`: Gauntlet's version, the seed, and the
    /// slice of the project the suite depends on, fully resolved (agents, prompts, models,
    /// parameters, contracts, tools, graphs). Cases are pinned by count and a SHA-256 digest
    /// of their canonical JSON, computed case by case, so a 100,000-case suite does not turn
    /// into one huge document; their inputs and results are stored per case anyway.
    pub fn config_snapshot(&self, suite: &str, seed: u64) -> serde_json::Value {
        let slice = self.slice(suite, false);
        let mut digest = crate::hash::Digest::new();
        let mut count = 0u64;
        if let Some(s) = self.suites.get(suite) {
            for case in &s.cases {
                let value = serde_json::to_value(case).unwrap_or(serde_json::Value::Null);
                digest.update(crate::hash::canonical_json(&value).as_bytes());
                digest.update(b"\n");
                count += 1;
            }
        }
        serde_json::json!({
            "gauntlet_version": crate::VERSION,
            "seed": seed,
            "project": slice,
            "cases": { "count": count, "sha256": digest.hex() },
        })
    }

    /// The part of the project a suite depends on: the suite, its target agents and graphs,
    /// their agents, providers and tools. Snapshots and configuration hashes are taken of this
    /// slice, so editing an unrelated suite does not change them.
    pub fn slice_for_suite(&self, suite: &str) -> Project {
        self.slice(suite, true)
    }

    /// The MCP servers a suite uses: its `mcp:` targets and the servers of the agents it runs
    /// (the suite's cases are not copied).
    pub fn mcp_servers_of(&self, suite: &str) -> IndexMap<String, McpServer> {
        self.slice(suite, false).mcp_servers
    }

    fn slice(&self, suite: &str, with_cases: bool) -> Project {
        let mut out = Project::default();
        let Some(s) = self.suites.get(suite) else {
            return out;
        };
        out.suites.insert(
            suite.to_owned(),
            if with_cases {
                s.clone()
            } else {
                s.clone_without_cases()
            },
        );
        let mut agents: Vec<&str> = Vec::new();
        for t in &s.targets {
            match t {
                Target::Agent(a) => agents.push(a),
                Target::Mcp(m) => {
                    if let Some(server) = self.mcp_servers.get(m) {
                        out.mcp_servers.insert(m.clone(), server.clone());
                    }
                }
                Target::Graph(g) => {
                    if let Some(graph) = self.graphs.get(g) {
                        out.graphs.insert(g.clone(), graph.clone());
                        agents.extend(graph.nodes.values().map(|n| n.agent.as_str()));
                    }
                }
            }
        }
        for a in agents {
            let Some(agent) = self.agents.get(a) else {
                continue;
            };
            if out.agents.contains_key(a) {
                continue;
            }
            out.agents.insert(a.to_owned(), agent.clone());
            // The agent's provider and its fallback chain (fallbacks of fallbacks included).
            let mut chain = vec![agent.provider.as_str()];
            while let Some(name) = chain.pop() {
                if out.providers.contains_key(name) {
                    continue;
                }
                if let Some(p) = self.providers.get(name) {
                    out.providers.insert(name.to_owned(), p.clone());
                    chain.extend(p.fallback.iter().map(String::as_str));
                }
            }
            for m in &agent.mcp {
                if let Some(server) = self.mcp_servers.get(m) {
                    out.mcp_servers.insert(m.clone(), server.clone());
                }
            }
            for t in &agent.tools {
                if let Some(tool) = self.tools.get(t) {
                    out.tools.insert(t.clone(), tool.clone());
                }
            }
        }
        out.providers.sort_keys();
        out.mcp_servers.sort_keys();
        out.tools.sort_keys();
        out.agents.sort_keys();
        out
    }
}

/// A secret resolved from `${secret:NAME}`: the value is only reachable through
/// [`Secret::expose`], and every other view (Debug, Display, Serialize) shows the reference.
#[derive(Clone)]
pub struct Secret {
    reference: String,
    value: String,
}

impl Secret {
    pub fn new(reference: impl Into<String>, value: impl Into<String>) -> Secret {
        Secret {
            reference: reference.into(),
            value: value.into(),
        }
    }

    pub fn expose(&self) -> &str {
        &self.value
    }

    /// The masked form, e.g. `${secret:OPENAI_API_KEY}` or `***` for literal credentials.
    pub fn reference(&self) -> &str {
        &self.reference
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reference)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reference)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.reference)
    }
}

/// A JSON Schema compiled once at validation time.
#[derive(Clone)]
pub struct Schema {
    pub source: Value,
    pub validator: Arc<jsonschema::Validator>,
}

impl Schema {
    pub fn compile(source: Value) -> Result<Schema, String> {
        let validator = jsonschema::options()
            .build(&source)
            .map_err(|e| e.to_string())?;
        Ok(Schema {
            source,
            validator: Arc::new(validator),
        })
    }

    /// The first validation error, as `path: message`, or `None` when `value` is valid.
    pub fn first_error(&self, value: &Value) -> Option<String> {
        self.validator.iter_errors(value).next().map(|e| {
            let path = e.instance_path().to_string();
            if path.is_empty() {
                e.to_string()
            } else {
                format!("{path}: {e}")
            }
        })
    }
}

impl fmt::Debug for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Schema({})", self.source)
    }
}

impl Serialize for Schema {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.source.serialize(s)
    }
}

/// A regular expression compiled once at validation time.
#[derive(Clone)]
pub struct Pattern(pub Regex);

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/{}/", self.0.as_str())
    }
}

impl Serialize for Pattern {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.as_str())
    }
}

macro_rules! source_serialize {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.source())
            }
        }
    };
}
source_serialize!(Expr);
source_serialize!(Template);

/// The rules an agent (per step) or a suite (per case) must keep.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Contract {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_schema: Option<Schema>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_schema: Option<Schema>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_tools: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tool_calls: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_cost_usd: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_latency_ms: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Tool {
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    pub parameters: Value,
    #[serde(skip)]
    pub parameters_schema: Option<Schema>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mock: Vec<ToolMockRule>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ToolMockRule {
    /// Matches when every key here equals the same key of the call's arguments.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub when: Option<serde_json::Map<String, Value>>,
    pub result: ToolMockResult,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<LatencyRange>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolMockResult {
    Return(Value),
    Error(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct LatencyRange {
    pub min: u64,
    pub max: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Agent {
    pub name: String,
    pub provider: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<String>,
    /// MCP servers whose (filtered) tools the agent may call.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mcp: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contract: Option<Contract>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mock: Option<MockBehaviour>,
    pub max_turns: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u32>,
    pub retry: RetryPolicy,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct RetryPolicy {
    /// Attempts after the first one.
    pub max_retries: u32,
    pub initial_backoff_ms: u64,
    pub max_backoff_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            initial_backoff_ms: 200,
            max_backoff_ms: 10_000,
        }
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct MockBehaviour {
    pub echo: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub responses: Vec<MockRule>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<LatencyRange>,
}

#[derive(Clone, Debug, Serialize)]
pub struct MockRule {
    #[serde(skip_serializing_if = "MockWhen::is_empty")]
    pub when: MockWhen,
    pub reply: MockReply,
    /// For errors: fail only the first `times` matching calls of a case.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
}

/// Conditions of a mock rule; all given conditions must hold. They test the conversation's
/// first user message (the agent's input) unless stated otherwise.
#[derive(Clone, Debug, Default, Serialize)]
pub struct MockWhen {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contains: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icontains: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_contains: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub equals: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub regex: Option<Pattern>,
    /// A result of this tool is already in the conversation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_tool: Option<String>,
    /// The latest result of this tool in the conversation is an error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_failed: Option<String>,
    /// The model call's number within the agent turn, starting at 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub turn: Option<u32>,
}

impl MockWhen {
    pub fn is_empty(&self) -> bool {
        self.contains.is_none()
            && self.icontains.is_none()
            && self.not_contains.is_none()
            && self.equals.is_none()
            && self.regex.is_none()
            && self.after_tool.is_none()
            && self.tool_failed.is_none()
            && self.turn.is_none()
    }
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MockReply {
    Text(Template),
    ToolCalls(Vec<MockToolCall>),
    Choices(Vec<Template>),
    Error(MockError),
}

#[derive(Clone, Debug, Serialize)]
pub struct MockToolCall {
    pub name: String,
    pub args: Value,
}

#[derive(Clone, Debug, Serialize)]
pub struct MockError {
    pub kind: ErrorKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

/// How a provider or tool failure is classified; decides whether the engine retries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    RateLimit,
    ServerError,
    Timeout,
    Network,
    InvalidRequest,
    Auth,
    NotFound,
    Unsupported,
    /// Strict replay found no recording of a request.
    CassetteMiss,
}

impl ErrorKind {
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorKind::RateLimit | ErrorKind::ServerError | ErrorKind::Timeout | ErrorKind::Network
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::RateLimit => "rate_limit",
            ErrorKind::ServerError => "server_error",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Network => "network",
            ErrorKind::InvalidRequest => "invalid_request",
            ErrorKind::Auth => "auth",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::CassetteMiss => "cassette_miss",
        }
    }

    pub const ALL: [ErrorKind; 8] = [
        ErrorKind::RateLimit,
        ErrorKind::ServerError,
        ErrorKind::Timeout,
        ErrorKind::Network,
        ErrorKind::InvalidRequest,
        ErrorKind::Auth,
        ErrorKind::NotFound,
        ErrorKind::Unsupported,
    ];
}

#[derive(Clone, Debug, Serialize)]
pub struct Graph {
    pub name: String,
    pub start: String,
    pub nodes: IndexMap<String, GraphNode>,
    pub edges: Vec<Edge>,
}

#[derive(Clone, Debug, Serialize)]
pub struct GraphNode {
    pub name: String,
    pub agent: String,
    /// Builds the node's input; by default the predecessor's output (or, after a join, a JSON
    /// object of the predecessors' outputs keyed by node name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<Template>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Edge {
    pub from: String,
    pub to: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub when: Option<Expr>,
    /// Taken only when no other edge leaving `from` was taken.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub otherwise: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "name", rename_all = "snake_case")]
pub enum Target {
    Agent(String),
    Graph(String),
    /// Cases call an MCP server's tools, resources or prompts directly.
    Mcp(String),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Agent(a) => f.write_str(a),
            Target::Graph(g) => write!(f, "graph:{g}"),
            Target::Mcp(m) => write!(f, "mcp:{m}"),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Suite {
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    pub targets: Vec<Target>,
    /// Per-case contract (budgets over all steps of a case, final output schema).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contract: Option<Contract>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step_timeout_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub case_timeout_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_timeout_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryPolicy>,
    pub cases: Vec<Case>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Not part of the configuration snapshot: keeping results longer changes no behaviour.
    #[serde(skip)]
    pub retention: RetentionPolicy,
    /// Faults injected into every case without a chaos block of its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chaos: Option<crate::chaos::Chaos>,
}

impl Suite {
    /// A copy of the suite's settings with no cases (cheap for large suites).
    pub fn clone_without_cases(&self) -> Suite {
        Suite {
            name: self.name.clone(),
            description: self.description.clone(),
            targets: self.targets.clone(),
            contract: self.contract.clone(),
            step_timeout_ms: self.step_timeout_ms,
            case_timeout_ms: self.case_timeout_ms,
            run_timeout_ms: self.run_timeout_ms,
            retry: self.retry,
            cases: Vec::new(),
            tags: self.tags.clone(),
            retention: self.retention,
            chaos: self.chaos.clone(),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Case {
    pub id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The input text handed to the target (structured YAML inputs are passed as JSON text).
    pub input: String,
    #[serde(skip_serializing_if = "Value::is_null")]
    pub vars: Value,
    /// The case's own assertions followed by the suite's `defaults.assert`. Shared: a suite
    /// that repeats an assertion in many cases holds it once.
    pub assertions: Vec<Arc<Assertion>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Replaces the suite's chaos for this case.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chaos: Option<Arc<crate::chaos::Chaos>>,
    /// For MCP targets: the tool, resource or prompt the case calls.
    #[serde(skip_serializing_if = "Option::is_none")]
    /// Boxed: rare, and cases are many.
    pub call: Option<Box<McpCall>>,
}
