//! The file format of providers (model APIs and external agents) and MCP servers.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Provider {
    /// `mock`, `openai` (and any OpenAI-compatible server), `azure-openai`, `anthropic`,
    /// `gemini`, `bedrock`; or an external agent: `http`, `process`.
    #[serde(rename = "type")]
    pub kind: ProviderType,
    /// The API's base URL, e.g. `http://localhost:11434/v1` for Ollama, or the Azure resource
    /// endpoint `https://NAME.openai.azure.com`.
    #[serde(default)]
    pub base_url: Option<String>,
    /// A credential; write `${secret:NAME}` so the value never enters the files.
    #[serde(default)]
    pub api_key: Option<String>,
    /// Default model for agents of this provider.
    #[serde(default)]
    pub model: Option<String>,
    /// Price overrides by model name, USD per million tokens.
    #[serde(default)]
    pub pricing: IndexMap<String, Price>,
    /// Extra HTTP headers sent with every request; values may be `${secret:NAME}`.
    #[serde(default)]
    pub headers: IndexMap<String, String>,
    /// Stream responses, recording time to first token; default false.
    #[serde(default)]
    pub stream: bool,
    /// Limit of one request, in milliseconds; default 120000.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// `azure-openai`: the deployment name (default: the model).
    #[serde(default)]
    pub deployment: Option<String>,
    /// `azure-openai`: the `api-version` query parameter; default `2024-10-21`.
    #[serde(default)]
    pub api_version: Option<String>,
    /// `azure-openai`: `api-key` (default) or `bearer` (an Azure AD token in `api_key`).
    #[serde(default)]
    pub auth: Option<String>,
    /// `bedrock`: the AWS region (default `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's).
    #[serde(default)]
    pub region: Option<String>,
    /// `bedrock`: the shared-credentials profile (default `AWS_PROFILE`, then `default`).
    #[serde(default)]
    pub profile: Option<String>,
    /// `http`: the agent's endpoint.
    #[serde(default)]
    pub url: Option<String>,
    /// `http`: the method; default `POST`.
    #[serde(default)]
    pub method: Option<String>,
    /// `http`: the JSON body; string values are templates over `input`, `vars`, `system`,
    /// `model` and `messages` (a value that is one placeholder inserts it as JSON).
    #[serde(default)]
    pub body: Option<Value>,
    /// `http`: where the answer is in the response: a JSON pointer (`/reply/text`) or path
    /// (`$.reply.text`).
    #[serde(default)]
    pub output: Option<String>,
    /// `http`: where the agent reports the tool calls it made (a list of `{name, args}`).
    #[serde(default)]
    pub tool_calls: Option<String>,
    /// `http`: where the input token count is.
    #[serde(default)]
    pub input_tokens: Option<String>,
    /// `http`: where the output token count is.
    #[serde(default)]
    pub output_tokens: Option<String>,
    /// `process`: the program to start.
    #[serde(default)]
    pub command: Option<String>,
    /// `process`: its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// `process`: environment variables; values may be `${secret:NAME}`.
    #[serde(default)]
    pub env: IndexMap<String, String>,
    /// `process`: working directory, relative to the project.
    #[serde(default)]
    pub cwd: Option<String>,
    /// `process`: keep processes alive between cases instead of one per case; default false.
    #[serde(default)]
    pub pool: bool,
    /// `process`: how long the process may take to print its `ready` line; default 10000.
    #[serde(default)]
    pub startup_timeout_ms: Option<u64>,
    /// Most requests in flight at once; backs off on 429 and recovers (AIMD). Default 16.
    #[serde(default)]
    pub max_concurrency: Option<u32>,
    /// Consecutive failures that open the circuit, and how long it stays open.
    #[serde(default)]
    pub circuit_breaker: Option<CircuitBreaker>,
    /// Providers to try, in order, when this one fails with a retryable error or its circuit
    /// is open.
    #[serde(default)]
    pub fallback: Vec<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CircuitBreaker {
    /// Consecutive failures that open the circuit; 0 disables it. Default 5.
    #[serde(default)]
    pub failures: Option<u32>,
    /// How long the circuit stays open before one trial request; default 30000.
    #[serde(default)]
    pub cooldown_ms: Option<u64>,
}

/// An MCP server, started as a child process (`command`) or reached over streamable HTTP
/// (`url`).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct McpServer {
    #[serde(default)]
    pub command: Option<String>,
    #[serde(default)]
    pub args: Vec<String>,
    /// Environment variables; values may be `${secret:NAME}`.
    #[serde(default)]
    pub env: IndexMap<String, String>,
    /// Working directory, relative to the project.
    #[serde(default)]
    pub cwd: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    /// HTTP headers; values may be `${secret:NAME}`.
    #[serde(default)]
    pub headers: IndexMap<String, String>,
    /// Tool names to expose (`*` wildcard; `!pattern` excludes); default all.
    #[serde(default)]
    pub tools_filter: Vec<String>,
    /// Limit of start-up and the initialize handshake; default 30000.
    #[serde(default)]
    pub startup_timeout_ms: Option<u64>,
    /// Limit of one request; default 60000.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

#[derive(Clone, Copy, Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ProviderType {
    Mock,
    Openai,
    AzureOpenai,
    Anthropic,
    Gemini,
    Bedrock,
    Http,
    Process,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Price {
    pub input_per_mtok: f64,
    pub output_per_mtok: f64,
}
