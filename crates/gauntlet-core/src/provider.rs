//! Providers (model APIs and external agents) and MCP servers, as validated; re-exported by
//! [`crate::model`]. Secrets serialize as their reference.

use indexmap::IndexMap;
use serde::Serialize;
use serde_json::Value;

use crate::model::Secret;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProviderKind {
    Mock,
    Openai,
    AzureOpenai,
    Anthropic,
    Gemini,
    Bedrock,
    /// An external agent behind an HTTP endpoint.
    Http,
    /// An external agent speaking JSON lines over stdin and stdout.
    Process,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Mock => "mock",
            ProviderKind::Openai => "openai",
            ProviderKind::AzureOpenai => "azure-openai",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::Gemini => "gemini",
            ProviderKind::Bedrock => "bedrock",
            ProviderKind::Http => "http",
            ProviderKind::Process => "process",
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Provider {
    pub name: String,
    pub kind: ProviderKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Per-model price overrides, USD per million tokens.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub pricing: IndexMap<String, Price>,
    /// Extra HTTP headers; values may hold secrets.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub headers: IndexMap<String, Secret>,
    /// Stream responses (records time to first token).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stream: bool,
    /// Limit of one HTTP request or process exchange.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub azure: Option<AzureSettings>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws: Option<AwsSettings>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpAgent>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub process: Option<ProcessAgent>,
    /// Adaptive concurrency and the circuit breaker; in the snapshot only when set in the file,
    /// so that adding the settings did not change the hash of existing configurations.
    #[serde(skip_serializing_if = "ProviderLimits::is_implicit")]
    pub limits: ProviderLimits,
    /// Providers tried in order when this one fails with a retryable error or its circuit is
    /// open.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fallback: Vec<String>,
}

impl Provider {
    /// A provider of `kind` with every optional setting at its default.
    pub fn new(name: impl Into<String>, kind: ProviderKind) -> Provider {
        Provider {
            name: name.into(),
            kind,
            base_url: None,
            api_key: None,
            model: None,
            pricing: IndexMap::new(),
            headers: IndexMap::new(),
            stream: false,
            timeout_ms: None,
            azure: None,
            aws: None,
            http: None,
            process: None,
            limits: ProviderLimits::default(),
            fallback: Vec::new(),
        }
    }

    /// Every secret this provider holds, for scrubbing them from messages.
    pub fn secrets(&self) -> impl Iterator<Item = &Secret> {
        self.api_key
            .iter()
            .chain(self.headers.values())
            .chain(self.process.iter().flat_map(|p| p.env.values()))
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct AzureSettings {
    /// The deployment name; defaults to the model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment: Option<String>,
    pub api_version: String,
    /// `api-key` header, or `Authorization: Bearer` with an Azure AD token.
    pub auth: AzureAuth,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AzureAuth {
    ApiKey,
    Bearer,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct AwsSettings {
    /// Defaults to `AWS_REGION`, `AWS_DEFAULT_REGION`, then the profile's region.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The shared-credentials profile; defaults to `AWS_PROFILE`, then `default`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
}

/// An agent behind an HTTP endpoint: a JSON body built from a template, the answer picked from
/// the response.
#[derive(Clone, Debug, Serialize)]
pub struct HttpAgent {
    pub url: String,
    pub method: String,
    /// The request body; string leaves are templates over `input`, `vars`, `messages`,
    /// `system` and `model`.
    pub body: Value,
    /// Where the answer is in the response (JSON pointer `/a/0` or path `$.a[0]`).
    pub output: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<String>,
}

/// An agent in a child process speaking the JSON-lines protocol of `docs/process-agents.md`.
#[derive(Clone, Debug, Serialize)]
pub struct ProcessAgent {
    pub command: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub env: IndexMap<String, Secret>,
    /// Working directory, resolved against the project.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// Keep processes alive between cases (at most `limits.max_concurrency` of them), instead
    /// of one process per case.
    pub pool: bool,
    pub startup_timeout_ms: u64,
    /// The directory of the file that defines it: where the process starts (joined with
    /// `cwd`). Not part of the snapshot, so moving a project does not change its hash.
    #[serde(skip)]
    pub dir: std::path::PathBuf,
}

/// Adaptive concurrency (AIMD: halve on 429, add one per `increase_after` successes) and the
/// circuit breaker of a provider.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct ProviderLimits {
    pub max_concurrency: u32,
    pub min_concurrency: u32,
    /// Consecutive failures that open the circuit; 0 disables the breaker.
    pub breaker_failures: u32,
    /// How long an open circuit stays open before one trial call.
    pub breaker_cooldown_ms: u64,
    /// Whether the file set any of these (otherwise they are the defaults of the type).
    #[serde(skip)]
    pub explicit: bool,
}

impl ProviderLimits {
    pub fn is_implicit(&self) -> bool {
        !self.explicit
    }
}

impl Default for ProviderLimits {
    fn default() -> Self {
        ProviderLimits {
            max_concurrency: 16,
            min_concurrency: 1,
            breaker_failures: 5,
            breaker_cooldown_ms: 30_000,
            explicit: false,
        }
    }
}

/// An MCP server.
#[derive(Clone, Debug, Serialize)]
pub struct McpServer {
    pub name: String,
    pub transport: McpTransport,
    /// Glob patterns of the tools to expose (`*` wildcard, `!` excludes); empty exposes all.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools_filter: Vec<String>,
    pub startup_timeout_ms: u64,
    pub timeout_ms: u64,
    /// The directory of the file that defines it (see [`ProcessAgent::dir`]).
    #[serde(skip)]
    pub dir: std::path::PathBuf,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum McpTransport {
    Stdio {
        command: String,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        args: Vec<String>,
        #[serde(skip_serializing_if = "IndexMap::is_empty")]
        env: IndexMap<String, Secret>,
        #[serde(skip_serializing_if = "Option::is_none")]
        cwd: Option<String>,
    },
    Http {
        url: String,
        #[serde(skip_serializing_if = "IndexMap::is_empty")]
        headers: IndexMap<String, Secret>,
    },
}

/// What a case of an MCP target calls directly.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum McpCall {
    Tool {
        name: String,
        args: Value,
    },
    Resource {
        uri: String,
    },
    Prompt {
        name: String,
        args: serde_json::Map<String, Value>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Price {
    pub input_per_mtok: f64,
    pub output_per_mtok: f64,
}
