//! What a run produces: per-case results with their steps, tool calls and assertion outcomes.
//!
//! These are the records the engine emits, the store persists and the reports render. Their
//! serde form is the `cases[]` element of the JSON report.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ids::RunId;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseStatus {
    Passed,
    Failed,
    Error,
}

impl CaseStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CaseStatus::Passed => "passed",
            CaseStatus::Failed => "failed",
            CaseStatus::Error => "error",
        }
    }

    pub fn parse(s: &str) -> Option<CaseStatus> {
        match s {
            "passed" => Some(CaseStatus::Passed),
            "failed" => Some(CaseStatus::Failed),
            "error" => Some(CaseStatus::Error),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Passed,
    Failed,
    Cancelled,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Passed => "passed",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<RunStatus> {
        match s {
            "running" => Some(RunStatus::Running),
            "passed" => Some(RunStatus::Passed),
            "failed" => Some(RunStatus::Failed),
            "cancelled" => Some(RunStatus::Cancelled),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct Tokens {
    pub input: u64,
    pub output: u64,
}

/// Serialized with a `total` for readers of reports; `total` is ignored when read back.
impl Serialize for Tokens {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Tokens", 3)?;
        st.serialize_field("input", &self.input)?;
        st.serialize_field("output", &self.output)?;
        st.serialize_field("total", &self.total())?;
        st.end()
    }
}

impl Tokens {
    pub fn total(self) -> u64 {
        self.input + self.output
    }

    pub fn add(&mut self, other: Tokens) {
        self.input += other.input;
        self.output += other.output;
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolCallRecord {
    pub name: String,
    pub args: Value,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub result: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
    pub latency_ms: f64,
}

/// One execution of one agent (one graph node, or the whole case for an agent target).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// The graph node; `null` when the target is an agent.
    #[serde(default)]
    pub node: Option<String>,
    pub agent: String,
    pub provider: String,
    pub model: String,
    pub input: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub output: Option<String>,
    pub tool_calls: Vec<ToolCallRecord>,
    pub tokens: Tokens,
    pub cost_usd: f64,
    pub latency_ms: f64,
    /// Model calls made in this step, retries included.
    pub model_calls: u32,
    pub retries: u32,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub violations: Vec<String>,
    /// Time to the first token of the step's first model call (the whole call's latency when
    /// the provider did not stream).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub ttft_ms: Option<f64>,
    /// Faults injected by chaos into this step, in order.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub faults: Vec<Fault>,
    /// The fallback provider that answered, when the agent's own provider failed or its
    /// circuit was open.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub served_by: Option<String>,
    /// Output tokens per second of streamed model calls (generation time after the first
    /// token).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tokens_per_s: Option<f64>,
    /// When the step began, in (virtual) milliseconds from the start of its case: graph nodes
    /// of parallel branches overlap.
    #[serde(skip_serializing_if = "is_zero_f64", default)]
    pub start_ms: f64,
    /// What the step spent its time on, in order: model calls, waits before retries, injected
    /// faults and tool calls, each placed from the start of the step.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub spans: Vec<Span>,
}

/// One stretch of a step's time, for timelines and waterfalls.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Span {
    pub kind: SpanKind,
    /// The model for a model call, the tool for a tool call, the fault's kind for a fault.
    pub name: String,
    /// Milliseconds from the start of the step.
    pub start_ms: f64,
    pub duration_ms: f64,
    /// The model call's number within the step (retries share it), starting at 1.
    pub turn: u32,
    /// Why it failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpanKind {
    Model,
    Tool,
    /// The wait before a retry.
    Backoff,
    /// Latency or an error injected by chaos.
    Fault,
}

impl SpanKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SpanKind::Model => "model",
            SpanKind::Tool => "tool",
            SpanKind::Backoff => "backoff",
            SpanKind::Fault => "fault",
        }
    }
}

/// How a graph case went through its graph: every node's fate and every edge's decision, as
/// the engine decided them (so a view draws the route taken, not a guess from the steps).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GraphTrace {
    pub graph: String,
    pub start: String,
    pub nodes: Vec<NodeTrace>,
    pub edges: Vec<EdgeTrace>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeTrace {
    pub name: String,
    pub agent: String,
    pub state: NodeState,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeState {
    /// Ran and succeeded.
    Ran,
    /// Ran and failed (an error or a contract violation): the case stopped there.
    Failed,
    /// Every incoming edge was dead: the route did not lead here.
    Skipped,
    /// Never decided, because an earlier node failed (or was still running when one did).
    NotReached,
}

impl NodeState {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeState::Ran => "ran",
            NodeState::Failed => "failed",
            NodeState::Skipped => "skipped",
            NodeState::NotReached => "not reached",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EdgeTrace {
    pub from: String,
    pub to: String,
    /// `Some(true)` taken, `Some(false)` not taken (its condition failed or its source did
    /// not run), `None` never decided.
    pub taken: Option<bool>,
    /// The edge's condition as written, if any (`otherwise` for the fallback edge).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub when: Option<String>,
}

impl StepRecord {
    /// A step that has not run yet: who runs it and on what input.
    pub fn new(
        node: Option<String>,
        agent: impl Into<String>,
        provider: impl Into<String>,
        model: impl Into<String>,
        input: String,
    ) -> StepRecord {
        StepRecord {
            node,
            agent: agent.into(),
            provider: provider.into(),
            model: model.into(),
            input,
            output: None,
            tool_calls: Vec::new(),
            tokens: Tokens::default(),
            cost_usd: 0.0,
            latency_ms: 0.0,
            model_calls: 0,
            retries: 0,
            error: None,
            violations: Vec::new(),
            ttft_ms: None,
            faults: Vec::new(),
            served_by: None,
            tokens_per_s: None,
            start_ms: 0.0,
            spans: Vec::new(),
        }
    }
}

/// One fault injected by chaos.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fault {
    /// `model`, or `tool:<name>`.
    pub at: String,
    /// The model call's number within the step, starting at 1.
    pub turn: u32,
    /// `rate_limit`, `network`, `latency`, `truncate`, `token_limit`, `tool_timeout`,
    /// `tool_error` or `tool_exception`.
    pub kind: String,
    pub detail: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AssertionResult {
    #[serde(rename = "type")]
    pub kind: String,
    pub pass: bool,
    pub score: f64,
    pub weight: f64,
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub node: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub metric: Option<String>,
    /// Structured detail of rich evaluators: security findings (redacted), claims, style
    /// metrics, the judge's verdict, latency percentiles.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub details: Option<Value>,
    /// What the evaluator itself cost (an LLM judge's calls), accounted apart from the case.
    #[serde(skip_serializing_if = "is_zero_f64", default)]
    pub cost_usd: f64,
}

fn is_zero_f64(x: &f64) -> bool {
    *x == 0.0
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CaseResult {
    /// Position of the case in the suite (stable across runs of the same files).
    pub index: u32,
    pub id: String,
    /// Which repetition of the case this is (`run --repeat`, `simulate`); 0 without repeats.
    #[serde(skip_serializing_if = "is_zero", default)]
    pub trial: u32,
    pub target: String,
    pub status: CaseStatus,
    pub score: f64,
    pub input: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub output: Option<String>,
    /// Why the case did not pass: the first failing assertion, violation or error.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
    pub tokens: Tokens,
    pub cost_usd: f64,
    pub latency_ms: f64,
    pub steps: Vec<StepRecord>,
    pub assertions: Vec<AssertionResult>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub tags: Vec<String>,
    /// For a graph target: the route through the graph.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub trace: Option<GraphTrace>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub cases: u64,
    pub passed: u64,
    pub failed: u64,
    pub errored: u64,
    pub tokens: u64,
    pub tokens_input: u64,
    pub tokens_output: u64,
    pub cost_usd: f64,
}

impl Totals {
    pub fn add(&mut self, case: &CaseResult) {
        self.cases += 1;
        match case.status {
            CaseStatus::Passed => self.passed += 1,
            CaseStatus::Failed => self.failed += 1,
            CaseStatus::Error => self.errored += 1,
        }
        self.tokens_input += case.tokens.input;
        self.tokens_output += case.tokens.output;
        self.tokens = self.tokens_input + self.tokens_output;
        self.cost_usd += case.cost_usd;
    }
}

/// The header of a stored run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub id: RunId,
    pub project: String,
    pub suite: String,
    pub seed: u64,
    pub status: RunStatus,
    pub config_hash: String,
    pub gauntlet_version: String,
    /// RFC 3339 UTC timestamps.
    pub started_at: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub finished_at: Option<String>,
    pub totals: Totals,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Statistics of a finished run, stored with it so that a view of a run with a million cases
/// reads one row.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunStats {
    /// Case latency percentiles (nearest rank), in milliseconds.
    pub latency_ms: Percentiles,
    /// Usage by agent and model, largest cost first.
    pub usage: Vec<Usage>,
    /// Assertions by type: how many passed of how many.
    pub assertions: Vec<AssertionCount>,
    /// Faults injected by chaos, by kind.
    #[serde(default)]
    pub faults: Vec<(String, u64)>,
    pub targets: Vec<String>,
    pub tags: Vec<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    pub agent: String,
    pub model: String,
    pub steps: u64,
    pub model_calls: u64,
    pub tool_calls: u64,
    pub tokens: Tokens,
    pub cost_usd: f64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AssertionCount {
    #[serde(rename = "type")]
    pub kind: String,
    pub passed: u64,
    pub total: u64,
}
