//! Establishing one connection: spawning a stdio server or reaching an HTTP one, then the
//! `initialize` handshake, all within the startup timeout.

use std::collections::{HashMap, VecDeque};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use reqwest::header::{HeaderName, HeaderValue};
use rmcp::model::{ClientCapabilities, ClientConfig, Implementation};
use rmcp::service::{ClientInitializeError, RunningService};
use rmcp::transport::streamable_http_client::{
    StreamableHttpClientTransportConfig, StreamableHttpError,
};
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{RoleClient, ServiceExt};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::ChildStderr;

use crate::config::{ServerConfig, Transport};
use crate::error::McpError;

/// A running rmcp client session.
pub(crate) type Service = RunningService<RoleClient, ClientConfig>;

/// How many of the server's last stderr lines to keep for error messages.
const STDERR_LINES: usize = 12;
/// Longest stderr line kept, in characters.
const STDERR_LINE_CHARS: usize = 400;

/// One live connection to the server.
pub(crate) struct Connection {
    pub(crate) service: Service,
    /// The server's process id (stdio only).
    pub(crate) pid: Option<u32>,
    /// The server's recent stderr (stdio only).
    pub(crate) stderr: Option<StderrTail>,
    /// The process's private directory and limits, when sandboxed (kept while it runs).
    pub(crate) _guard: Option<gauntlet_sandbox::launch::Guard>,
}

impl Connection {
    /// Whether the connection is known to be gone: the service loop ended (the server closed
    /// the transport) or it was cancelled.
    pub(crate) fn is_closed(&self) -> bool {
        self.service.is_closed() || self.service.peer().is_transport_closed()
    }

    /// The server's recent stderr, for error messages.
    pub(crate) fn stderr(&self) -> Option<String> {
        self.stderr.as_ref().and_then(StderrTail::snapshot)
    }
}

/// Connects to the server described by `config` and performs the handshake, within
/// `config.startup_timeout`.
pub(crate) async fn connect(
    config: &ServerConfig,
    host: &gauntlet_sandbox::Host,
) -> Result<Connection, McpError> {
    match &config.transport {
        Transport::Stdio {
            command,
            args,
            env,
            cwd,
        } => {
            if command.trim().is_empty() {
                return Err(McpError::Config {
                    server: config.name.clone(),
                    message: "the stdio command is empty".into(),
                });
            }
            let dir = cwd.clone().unwrap_or_else(|| ".".into());
            let gauntlet_sandbox::Launch {
                command: mut cmd,
                guard,
            } = host
                .command(command, args, &dir, env)
                .map_err(|e| McpError::Config {
                    server: config.name.clone(),
                    message: e.to_string(),
                })?;
            // A safety net: rmcp kills the child when the session ends; this also covers a
            // runtime shutting down before that cleanup ran.
            cmd.kill_on_drop(true);
            let (transport, stderr) = TokioChildProcess::builder(cmd)
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|source| McpError::Spawn {
                    server: config.name.clone(),
                    command: command.clone(),
                    source,
                })?;
            let pid = transport.id();
            let tail = StderrTail::default();
            if let Some(stderr) = stderr {
                tail.follow(stderr);
            }
            let service = handshake(config, transport, Some(&tail)).await?;
            Ok(Connection {
                service,
                pid,
                stderr: Some(tail),
                _guard: Some(guard),
            })
        }
        Transport::Http { url, headers } => {
            let transport_config = http_config(config, url, headers)?;
            host.check_url(url).map_err(|e| McpError::Config {
                server: config.name.clone(),
                message: e.to_string(),
            })?;
            let transport =
                StreamableHttpClientTransport::with_client(host.http().clone(), transport_config);
            let service = handshake(config, transport, None).await?;
            Ok(Connection {
                service,
                pid: None,
                stderr: None,
                _guard: None,
            })
        }
    }
}

/// The identity and capabilities Gauntlet announces: none beyond the basics (no sampling,
/// roots or elicitation).
fn client_config() -> ClientConfig {
    ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("gauntlet", env!("CARGO_PKG_VERSION")),
    )
}

/// Runs the `initialize` handshake over `transport` within the startup timeout.
async fn handshake<T, E, A>(
    config: &ServerConfig,
    transport: T,
    stderr: Option<&StderrTail>,
) -> Result<Service, McpError>
where
    T: rmcp::transport::IntoTransport<RoleClient, E, A>,
    E: std::error::Error + Send + Sync + 'static,
{
    let snapshot = || stderr.and_then(StderrTail::snapshot);
    match tokio::time::timeout(config.startup_timeout, client_config().serve(transport)).await {
        Ok(Ok(service)) => Ok(service),
        Ok(Err(error)) => {
            // A process that died during the handshake may still be flushing its stderr.
            if stderr.is_some() {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            Err(McpError::Startup {
                server: config.name.clone(),
                message: describe_init_error(&error),
                stderr: snapshot(),
            })
        }
        Err(_) => Err(McpError::StartupTimeout {
            server: config.name.clone(),
            timeout: config.startup_timeout,
            stderr: snapshot(),
        }),
    }
}

/// A readable account of a failed handshake, down to the root cause (e.g. `Connection
/// refused`).
fn describe_init_error(error: &ClientInitializeError) -> String {
    let mut message = match error {
        ClientInitializeError::ConnectionClosed(context) => {
            format!("the server closed the connection during the handshake ({context})")
        }
        ClientInitializeError::JsonRpcError(data) => format!(
            "the server rejected `initialize`: error {}: {}",
            data.code.0, data.message
        ),
        ClientInitializeError::TransportError { error, context } => {
            let mut message = format!("could not {context}");
            append_causes(&mut message, Some(error.error.as_ref()));
            return message;
        }
        other => other.to_string(),
    };
    append_causes(&mut message, std::error::Error::source(error));
    message
}

/// Appends `: cause` for each error in the chain that `message` does not already say.
fn append_causes(message: &mut String, mut cause: Option<&(dyn std::error::Error + 'static)>) {
    while let Some(error) = cause {
        let text = error.to_string();
        if !text.is_empty() && !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        cause = match error.downcast_ref::<StreamableHttpError<reqwest::Error>>() {
            // Carries the reqwest error without exposing it as its source.
            Some(StreamableHttpError::Client(inner)) => Some(inner),
            _ => error.source(),
        };
    }
}

/// The streamable HTTP transport settings for `url` and `headers`.
fn http_config(
    config: &ServerConfig,
    url: &str,
    headers: &[(String, String)],
) -> Result<StreamableHttpClientTransportConfig, McpError> {
    let invalid = |message: String| McpError::Config {
        server: config.name.clone(),
        message,
    };
    let lower = url.trim().to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return Err(invalid(format!(
            "the URL `{url}` is not http:// or https://"
        )));
    }
    let mut custom = HashMap::new();
    for (name, value) in headers {
        let header_name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|e| invalid(format!("header name `{name}`: {e}")))?;
        let header_value = HeaderValue::from_str(value)
            .map_err(|e| invalid(format!("value of header `{name}`: {e}")))?;
        custom.insert(header_name, header_value);
    }
    Ok(StreamableHttpClientTransportConfig::with_uri(url.trim().to_owned()).custom_headers(custom))
}

/// The last lines a stdio server wrote to stderr, kept for error messages.
#[derive(Clone, Default)]
pub(crate) struct StderrTail {
    lines: Arc<Mutex<VecDeque<String>>>,
}

impl StderrTail {
    /// Reads `stderr` line by line in the background until it closes.
    fn follow(&self, stderr: ChildStderr) {
        let tail = self.clone();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stderr);
            let mut buffer = Vec::new();
            loop {
                buffer.clear();
                match reader.read_until(b'\n', &mut buffer).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => tail.push(&String::from_utf8_lossy(&buffer)),
                }
            }
        });
    }

    fn push(&self, line: &str) {
        let line = line.trim_end();
        if line.is_empty() {
            return;
        }
        let line: String = line.chars().take(STDERR_LINE_CHARS).collect();
        let mut lines = self
            .lines
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if lines.len() == STDERR_LINES {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    /// The kept lines joined by ` | `, or `None` when the server wrote nothing.
    pub(crate) fn snapshot(&self) -> Option<String> {
        let lines = self
            .lines
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if lines.is_empty() {
            None
        } else {
            Some(lines.iter().cloned().collect::<Vec<_>>().join(" | "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stderr_tail_keeps_the_last_lines() {
        let tail = StderrTail::default();
        assert_eq!(tail.snapshot(), None);
        for i in 0..20 {
            tail.push(&format!("line {i}\n"));
        }
        tail.push("   \n");
        let snapshot = tail.snapshot().unwrap_or_default();
        assert!(snapshot.starts_with("line 8 | line 9"), "{snapshot}");
        assert!(snapshot.ends_with("line 19"), "{snapshot}");
    }

    #[test]
    fn http_config_rejects_bad_urls_and_headers() {
        let config = ServerConfig::http("h", "ftp://example");
        let bad_url = http_config(&config, "ftp://example", &[]);
        assert!(matches!(bad_url, Err(McpError::Config { .. })));
        let bad_header = http_config(
            &config,
            "http://127.0.0.1:1/mcp",
            &[("bad header".into(), "x".into())],
        );
        assert!(matches!(bad_header, Err(McpError::Config { .. })));
        let good = http_config(
            &config,
            "http://127.0.0.1:1/mcp",
            &[("Authorization".into(), "Bearer t".into())],
        );
        assert!(good.is_ok());
    }
}
