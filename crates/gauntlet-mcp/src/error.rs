//! [`McpError`]: what went wrong, with which server, during which operation.

use std::time::Duration;

/// An MCP client failure. Every variant names the server (its
/// [`ServerConfig::name`](crate::ServerConfig::name)); request failures also name the
/// operation (`tools/call `echo``, `resources/read `demo://...``, ...).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum McpError {
    /// The configuration cannot be used: empty command, URL that is not http(s), header that
    /// is not a valid HTTP header, ...
    #[error("MCP server `{server}`: invalid configuration: {message}")]
    Config { server: String, message: String },

    /// The server's command could not be spawned (not found, not executable, bad cwd, ...).
    #[error("MCP server `{server}`: could not start `{command}`: {source}")]
    Spawn {
        server: String,
        command: String,
        #[source]
        source: std::io::Error,
    },

    /// Connecting plus the `initialize` handshake did not finish within the startup timeout:
    /// the server is slow, hung, or does not speak MCP on that transport.
    #[error(
        "MCP server `{server}`: startup timed out after {} (spawn/connect and initialize handshake){}",
        secs(.timeout),
        stderr_suffix(.stderr)
    )]
    StartupTimeout {
        server: String,
        timeout: Duration,
        /// The last lines the server wrote to stderr (stdio servers only).
        stderr: Option<String>,
    },

    /// Connecting or the `initialize` handshake failed before the timeout: the process
    /// exited, the HTTP connection was refused, the server answered with an error, ...
    #[error("MCP server `{server}`: startup failed: {message}{}", stderr_suffix(.stderr))]
    Startup {
        server: String,
        message: String,
        /// The last lines the server wrote to stderr (stdio servers only).
        stderr: Option<String>,
    },

    /// The connection was lost during a request (the server process died, the HTTP server
    /// stopped answering) and the one retry after a reconnection was lost too.
    #[error("MCP server `{server}`: transport closed during {operation}{}", stderr_suffix(.stderr))]
    TransportClosed {
        server: String,
        operation: String,
        /// The last lines the server wrote to stderr (stdio servers only).
        stderr: Option<String>,
    },

    /// The connection was lost during a request and reconnecting failed.
    #[error(
        "MCP server `{server}`: transport closed during {operation}, and reconnecting failed: {source}"
    )]
    Reconnect {
        server: String,
        operation: String,
        #[source]
        source: Box<McpError>,
    },

    /// A request got no answer within the call timeout.
    #[error("MCP server `{server}`: {operation} timed out after {}", secs(.timeout))]
    CallTimeout {
        server: String,
        operation: String,
        timeout: Duration,
    },

    /// The server has no tool by that name.
    #[error("MCP server `{server}`: tool `{tool}` not found")]
    ToolNotFound { server: String, tool: String },

    /// The tool exists (or may) but the server's tools filter does not expose it; the server
    /// was not asked.
    #[error("MCP server `{server}`: tool `{tool}` is excluded by the tools filter")]
    ToolFiltered { server: String, tool: String },

    /// The request could not be built (e.g. tool arguments that are not a JSON object).
    #[error("MCP server `{server}`: {operation}: invalid request: {message}")]
    InvalidRequest {
        server: String,
        operation: String,
        message: String,
    },

    /// The server answered the request with a JSON-RPC error.
    #[error("MCP server `{server}`: {operation} failed: server error {code}: {message}")]
    Server {
        server: String,
        operation: String,
        code: i32,
        message: String,
    },

    /// The server's answer broke the protocol (unexpected result type, undecodable message,
    /// a result the client cannot take, ...).
    #[error("MCP server `{server}`: {operation}: protocol error: {message}")]
    Protocol {
        server: String,
        operation: String,
        message: String,
    },
}

impl McpError {
    /// The name of the server the error is about.
    pub fn server(&self) -> &str {
        match self {
            McpError::Config { server, .. }
            | McpError::Spawn { server, .. }
            | McpError::StartupTimeout { server, .. }
            | McpError::Startup { server, .. }
            | McpError::TransportClosed { server, .. }
            | McpError::Reconnect { server, .. }
            | McpError::CallTimeout { server, .. }
            | McpError::ToolNotFound { server, .. }
            | McpError::ToolFiltered { server, .. }
            | McpError::InvalidRequest { server, .. }
            | McpError::Server { server, .. }
            | McpError::Protocol { server, .. } => server,
        }
    }

    /// Whether this is a startup timeout, directly or as the reason a reconnection failed.
    pub fn is_startup_timeout(&self) -> bool {
        match self {
            McpError::StartupTimeout { .. } => true,
            McpError::Reconnect { source, .. } => source.is_startup_timeout(),
            _ => false,
        }
    }

    /// Whether the connection to the server was lost (whether or not reconnecting was tried).
    pub fn is_transport_closed(&self) -> bool {
        matches!(
            self,
            McpError::TransportClosed { .. } | McpError::Reconnect { .. }
        )
    }
}

/// `1.5s`, `30s`, `250ms`.
fn secs(duration: &Duration) -> String {
    if duration.as_millis() < 1000 {
        format!("{}ms", duration.as_millis())
    } else {
        format!("{}s", duration.as_secs_f64())
    }
}

fn stderr_suffix(stderr: &Option<String>) -> String {
    match stderr {
        Some(text) if !text.is_empty() => format!("; server stderr (last lines): {text}"),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_server_and_operation() {
        let timeout = McpError::StartupTimeout {
            server: "fs".into(),
            timeout: Duration::from_millis(1500),
            stderr: Some("booting | still booting".into()),
        };
        assert_eq!(
            timeout.to_string(),
            "MCP server `fs`: startup timed out after 1.5s (spawn/connect and initialize \
             handshake); server stderr (last lines): booting | still booting"
        );
        assert!(timeout.is_startup_timeout());

        let reconnect = McpError::Reconnect {
            server: "fs".into(),
            operation: "tools/call `read_file`".into(),
            source: Box::new(timeout),
        };
        assert!(reconnect.is_startup_timeout() && reconnect.is_transport_closed());
        assert_eq!(reconnect.server(), "fs");
        assert!(reconnect.to_string().starts_with(
            "MCP server `fs`: transport closed during tools/call `read_file`, and reconnecting \
             failed: MCP server `fs`: startup timed out after 1.5s"
        ));

        let call = McpError::CallTimeout {
            server: "x".into(),
            operation: "ping".into(),
            timeout: Duration::from_millis(250),
        };
        assert_eq!(
            call.to_string(),
            "MCP server `x`: ping timed out after 250ms"
        );
    }
}
