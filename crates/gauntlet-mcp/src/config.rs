//! How to reach one MCP server: its transport, which of its tools to expose, and timeouts.

use std::path::PathBuf;
use std::time::Duration;

/// Default for [`ServerConfig::startup_timeout`]: spawning or connecting plus the
/// `initialize` handshake.
pub const DEFAULT_STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// Default for [`ServerConfig::call_timeout`]: one request (a listing, a tool call, ...).
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// One MCP server as Gauntlet uses it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    /// The name the server goes by in errors and reports.
    pub name: String,
    /// How to reach it.
    pub transport: Transport,
    /// Glob patterns (`*` wildcard) of tool names to expose; empty = all. A pattern starting
    /// with `!` excludes. With only exclusions, every tool not excluded is exposed.
    pub tools_filter: Vec<String>,
    /// Limit on spawning or connecting plus the `initialize` handshake, for the first
    /// connection and for every reconnection.
    pub startup_timeout: Duration,
    /// Limit on each request to the server (a reconnection's retry gets its own).
    pub call_timeout: Duration,
}

impl ServerConfig {
    /// A server reached over stdio: `command args...`, with the default timeouts and no filter.
    pub fn stdio(
        name: impl Into<String>,
        command: impl Into<String>,
        args: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Self::new(
            name,
            Transport::Stdio {
                command: command.into(),
                args: args.into_iter().map(Into::into).collect(),
                env: Vec::new(),
                cwd: None,
            },
        )
    }

    /// A server reached over streamable HTTP at `url`, with the default timeouts and no filter.
    pub fn http(name: impl Into<String>, url: impl Into<String>) -> Self {
        Self::new(
            name,
            Transport::Http {
                url: url.into(),
                headers: Vec::new(),
            },
        )
    }

    /// A server with the given transport, the default timeouts and no filter.
    pub fn new(name: impl Into<String>, transport: Transport) -> Self {
        Self {
            name: name.into(),
            transport,
            tools_filter: Vec::new(),
            startup_timeout: DEFAULT_STARTUP_TIMEOUT,
            call_timeout: DEFAULT_CALL_TIMEOUT,
        }
    }

    /// Replaces the tools filter (see [`ServerConfig::tools_filter`]).
    pub fn with_tools_filter(
        mut self,
        patterns: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        self.tools_filter = patterns.into_iter().map(Into::into).collect();
        self
    }

    /// Replaces the startup timeout.
    pub fn with_startup_timeout(mut self, timeout: Duration) -> Self {
        self.startup_timeout = timeout;
        self
    }

    /// Replaces the per-request timeout.
    pub fn with_call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout;
        self
    }
}

/// How the client talks to a server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transport {
    /// Spawn `command args...` and speak newline-delimited JSON-RPC over its stdin/stdout.
    /// The child inherits this process's environment plus `env`; its stderr is captured
    /// and its last lines are quoted in startup and transport errors.
    Stdio {
        command: String,
        args: Vec<String>,
        env: Vec<(String, String)>,
        cwd: Option<PathBuf>,
    },
    /// MCP streamable HTTP at `url` (e.g. `http://127.0.0.1:3001/mcp`), sending `headers`
    /// (e.g. `Authorization`) with every request. TLS is rustls.
    Http {
        url: String,
        headers: Vec<(String, String)>,
    },
}

impl Transport {
    /// `stdio` or `http`, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Transport::Stdio { .. } => "stdio",
            Transport::Http { .. } => "http",
        }
    }
}
