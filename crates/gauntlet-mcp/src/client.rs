//! [`Client`]: one MCP server, with timeouts, the tools filter and reconnection.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use rmcp::ServiceError;
use rmcp::model::{
    CallToolRequestParams, ClientRequest, GetPromptRequestParams, PingRequest,
    ReadResourceRequestParams, ServerResult,
};
use serde_json::{Map, Value};
use tokio::sync::RwLock;

use crate::config::ServerConfig;
use crate::connect::{Connection, connect};
use crate::error::McpError;
use crate::filter::ToolFilter;
use crate::types::{
    PromptInfo, ResourceInfo, ToolInfo, ToolResult, render_messages, render_resource_contents,
};

/// A connection to one MCP server.
///
/// Cheap to clone (the clones share one connection), `Send + Sync`. Every request is
/// bounded by [`ServerConfig::call_timeout`]. When a request fails because the transport
/// closed (the server process died, the HTTP server went away), the client reconnects once,
/// within [`ServerConfig::startup_timeout`], and retries the request once; concurrent
/// callers share a single reconnection. Dropping the last clone ends the session and stops
/// a stdio server.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    config: ServerConfig,
    /// Where the server's process starts and its requests go out.
    host: gauntlet_sandbox::Host,
    filter: ToolFilter,
    /// The live connection and its generation (bumped on every reconnection). Requests hold
    /// the read lock only to clone the `Arc`; a reconnection holds the write lock while it
    /// connects, so callers arriving meanwhile wait for the new connection.
    slot: RwLock<Slot>,
    reconnects: AtomicU32,
    /// The stdio server's process id, 0 when there is none.
    pid: AtomicU32,
}

struct Slot {
    connection: Arc<Connection>,
    generation: u64,
}

/// Why one attempt at a request failed.
enum Failure {
    /// The transport is gone: worth a reconnection.
    Closed,
    /// Anything else: final.
    Final(McpError),
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("server", &self.inner.config.name)
            .field("transport", &self.inner.config.transport.kind())
            .field("reconnects", &self.reconnects())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Starts or reaches the server and performs the `initialize` handshake, within
    /// [`ServerConfig::startup_timeout`].
    pub async fn connect(config: ServerConfig) -> Result<Client, McpError> {
        Client::connect_on(config, gauntlet_sandbox::Host::operator()).await
    }

    /// As [`Client::connect`], with the server's process started and its HTTP requests sent
    /// through `host` (sandboxed and egress-checked for a tenant).
    pub async fn connect_on(
        config: ServerConfig,
        host: gauntlet_sandbox::Host,
    ) -> Result<Client, McpError> {
        let connection = connect(&config, &host).await?;
        let pid = connection.pid.unwrap_or(0);
        Ok(Client {
            inner: Arc::new(Inner {
                filter: ToolFilter::new(&config.tools_filter),
                config,
                host,
                slot: RwLock::new(Slot {
                    connection: Arc::new(connection),
                    generation: 0,
                }),
                reconnects: AtomicU32::new(0),
                pid: AtomicU32::new(pid),
            }),
        })
    }

    /// The server's configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.inner.config
    }

    /// The server's name.
    pub fn name(&self) -> &str {
        &self.inner.config.name
    }

    /// How many times the client reconnected after losing the transport.
    pub fn reconnects(&self) -> u32 {
        self.inner.reconnects.load(Ordering::Relaxed)
    }

    /// The process id of the current stdio server; `None` over HTTP.
    pub fn server_pid(&self) -> Option<u32> {
        match self.inner.pid.load(Ordering::Relaxed) {
            0 => None,
            pid => Some(pid),
        }
    }

    /// The server's tools that the tools filter exposes, following pagination.
    pub async fn tools(&self) -> Result<Vec<ToolInfo>, McpError> {
        let tools = self.all_tools().await?;
        Ok(tools
            .into_iter()
            .filter(|tool| self.inner.filter.allows(&tool.name))
            .collect())
    }

    /// Every tool the server lists, ignoring the filter.
    async fn all_tools(&self) -> Result<Vec<ToolInfo>, McpError> {
        let tools = self
            .request(
                "tools/list",
                |c| async move { c.service.list_all_tools().await },
            )
            .await?;
        Ok(tools
            .into_iter()
            .map(|tool| ToolInfo {
                name: tool.name.into_owned(),
                description: tool.description.map(|d| d.into_owned()).unwrap_or_default(),
                input_schema: Value::Object((*tool.input_schema).clone()),
            })
            .collect())
    }

    /// The server's resources, following pagination.
    pub async fn resources(&self) -> Result<Vec<ResourceInfo>, McpError> {
        let resources = self
            .request("resources/list", |c| async move {
                c.service.list_all_resources().await
            })
            .await?;
        Ok(resources
            .into_iter()
            .map(|resource| ResourceInfo {
                uri: resource.uri,
                name: resource.name,
                mime_type: resource.mime_type,
            })
            .collect())
    }

    /// The server's prompts, following pagination.
    pub async fn prompts(&self) -> Result<Vec<PromptInfo>, McpError> {
        let prompts = self
            .request("prompts/list", |c| async move {
                c.service.list_all_prompts().await
            })
            .await?;
        Ok(prompts
            .into_iter()
            .map(|prompt| PromptInfo {
                name: prompt.name,
                description: prompt.description.unwrap_or_default(),
                arguments: prompt
                    .arguments
                    .unwrap_or_default()
                    .into_iter()
                    .map(|argument| argument.name)
                    .collect(),
            })
            .collect())
    }

    /// Calls the tool `name` with `args` (a JSON object, or `null` for none).
    ///
    /// A tool excluded by the tools filter is refused without asking the server
    /// ([`McpError::ToolFiltered`]); a tool the server does not list is
    /// [`McpError::ToolNotFound`]. A tool that ran and failed is `Ok` with `is_error`.
    pub async fn call_tool(&self, name: &str, args: Value) -> Result<ToolResult, McpError> {
        let operation = format!("tools/call `{name}`");
        if !self.inner.filter.allows(name) {
            return Err(McpError::ToolFiltered {
                server: self.name().to_owned(),
                tool: name.to_owned(),
            });
        }
        let arguments = match args {
            Value::Object(map) => Some(map),
            Value::Null => None,
            other => {
                return Err(McpError::InvalidRequest {
                    server: self.name().to_owned(),
                    operation,
                    message: format!("tool arguments must be a JSON object, not `{other}`"),
                });
            }
        };
        let outcome = self
            .request(&operation, |c| {
                let mut params = CallToolRequestParams::new(name.to_owned());
                params.arguments = arguments.clone();
                async move { c.service.call_tool(params).await }
            })
            .await;
        match outcome {
            Ok(result) => {
                let content =
                    serde_json::to_value(&result.content).map_err(|e| McpError::Protocol {
                        server: self.name().to_owned(),
                        operation: operation.clone(),
                        message: format!("could not encode the tool's content: {e}"),
                    })?;
                let result = ToolResult::new(
                    result.is_error.unwrap_or(false),
                    content,
                    result.structured_content,
                );
                // Servers report an unknown tool either as a JSON-RPC error or as an error
                // result; either way, ask the listing before calling it "not found".
                if result.is_error && self.lacks_tool(name).await {
                    return Err(self.tool_not_found(name));
                }
                Ok(result)
            }
            Err(error @ McpError::Server { .. }) => {
                if self.lacks_tool(name).await {
                    Err(self.tool_not_found(name))
                } else {
                    Err(error)
                }
            }
            Err(error) => Err(error),
        }
    }

    /// Whether the server's listing is known not to have the tool `name` (false when the
    /// listing itself fails).
    async fn lacks_tool(&self, name: &str) -> bool {
        match self.all_tools().await {
            Ok(tools) => !tools.iter().any(|tool| tool.name == name),
            Err(_) => false,
        }
    }

    fn tool_not_found(&self, name: &str) -> McpError {
        McpError::ToolNotFound {
            server: self.name().to_owned(),
            tool: name.to_owned(),
        }
    }

    /// Reads the resource at `uri`: its text contents joined by `"\n"` (binary contents
    /// appear as a one-line summary in brackets).
    pub async fn read_resource(&self, uri: &str) -> Result<String, McpError> {
        let operation = format!("resources/read `{uri}`");
        let result = self
            .request(&operation, |c| {
                let params = ReadResourceRequestParams::new(uri.to_owned());
                async move { c.service.read_resource(params).await }
            })
            .await?;
        let contents = self.to_json(&operation, &result.contents)?;
        let parts: Vec<String> = match &contents {
            Value::Array(items) => items.iter().map(render_resource_contents).collect(),
            _ => Vec::new(),
        };
        Ok(parts.join("\n"))
    }

    /// Gets the prompt `name` with `args`, rendered as one `role: text` line per message.
    /// Prompt arguments are strings in MCP: other JSON values are sent as their JSON text.
    pub async fn get_prompt(
        &self,
        name: &str,
        args: Map<String, Value>,
    ) -> Result<String, McpError> {
        let operation = format!("prompts/get `{name}`");
        let arguments: Map<String, Value> = args
            .into_iter()
            .map(|(key, value)| match value {
                Value::String(_) => (key, value),
                other => (key, Value::String(other.to_string())),
            })
            .collect();
        let result = self
            .request(&operation, |c| {
                let mut params = GetPromptRequestParams::new(name.to_owned());
                if !arguments.is_empty() {
                    params.arguments = Some(arguments.clone());
                }
                async move { c.service.get_prompt(params).await }
            })
            .await?;
        let messages = self.to_json(&operation, &result.messages)?;
        Ok(match &messages {
            Value::Array(messages) => render_messages(messages),
            _ => String::new(),
        })
    }

    /// Checks the server answers a `ping`.
    pub async fn ping(&self) -> Result<(), McpError> {
        let operation = "ping";
        let result = self
            .request(operation, |c| async move {
                c.service
                    .send_request(ClientRequest::PingRequest(PingRequest::default()))
                    .await
            })
            .await?;
        match result {
            ServerResult::EmptyResult(_) => Ok(()),
            other => Err(McpError::Protocol {
                server: self.name().to_owned(),
                operation: operation.to_owned(),
                message: format!("expected an empty result, got {other:?}"),
            }),
        }
    }

    fn to_json<T: serde::Serialize>(&self, operation: &str, value: &T) -> Result<Value, McpError> {
        serde_json::to_value(value).map_err(|e| McpError::Protocol {
            server: self.name().to_owned(),
            operation: operation.to_owned(),
            message: format!("could not encode the server's answer: {e}"),
        })
    }

    /// Runs one request against the current connection, with the call timeout; on a closed
    /// transport, reconnects once and retries once.
    async fn request<T, F, Fut>(&self, operation: &str, attempt: F) -> Result<T, McpError>
    where
        F: Fn(Arc<Connection>) -> Fut,
        Fut: Future<Output = Result<T, ServiceError>>,
    {
        let (mut connection, mut generation) = self.current().await;
        let mut reconnected = false;
        if connection.is_closed() {
            // Known dead before we even ask (e.g. the server exited while idle).
            self.reconnect(generation, operation).await?;
            (connection, generation) = self.current().await;
            reconnected = true;
        }
        loop {
            match self.attempt(operation, &connection, &attempt).await {
                Ok(value) => return Ok(value),
                Err(Failure::Final(error)) => return Err(error),
                Err(Failure::Closed) if !reconnected => {
                    self.reconnect(generation, operation).await?;
                    (connection, generation) = self.current().await;
                    reconnected = true;
                }
                Err(Failure::Closed) => {
                    return Err(McpError::TransportClosed {
                        server: self.name().to_owned(),
                        operation: operation.to_owned(),
                        stderr: connection.stderr(),
                    });
                }
            }
        }
    }

    /// One try of a request on `connection`, classified.
    async fn attempt<T, F, Fut>(
        &self,
        operation: &str,
        connection: &Arc<Connection>,
        attempt: &F,
    ) -> Result<T, Failure>
    where
        F: Fn(Arc<Connection>) -> Fut,
        Fut: Future<Output = Result<T, ServiceError>>,
    {
        let timeout = self.inner.config.call_timeout;
        let server = || self.name().to_owned();
        match tokio::time::timeout(timeout, attempt(Arc::clone(connection))).await {
            Ok(Ok(value)) => Ok(value),
            Err(_) => Err(Failure::Final(McpError::CallTimeout {
                server: server(),
                operation: operation.to_owned(),
                timeout,
            })),
            Ok(Err(error)) => Err(match error {
                ServiceError::McpError(data) => Failure::Final(McpError::Server {
                    server: server(),
                    operation: operation.to_owned(),
                    code: data.code.0,
                    message: data.message.into_owned(),
                }),
                ServiceError::TransportClosed | ServiceError::TransportSend(_) => Failure::Closed,
                ServiceError::Timeout { timeout } => Failure::Final(McpError::CallTimeout {
                    server: server(),
                    operation: operation.to_owned(),
                    timeout,
                }),
                // Whatever else went wrong, a dead transport is the better explanation.
                _ if connection.is_closed() => Failure::Closed,
                other => Failure::Final(McpError::Protocol {
                    server: server(),
                    operation: operation.to_owned(),
                    message: other.to_string(),
                }),
            }),
        }
    }

    /// The current connection and its generation.
    async fn current(&self) -> (Arc<Connection>, u64) {
        let slot = self.inner.slot.read().await;
        (Arc::clone(&slot.connection), slot.generation)
    }

    /// Replaces the connection of generation `seen`, unless another caller already did.
    async fn reconnect(&self, seen: u64, operation: &str) -> Result<(), McpError> {
        let mut slot = self.inner.slot.write().await;
        if slot.generation != seen {
            return Ok(());
        }
        // The old connection is dead to us: end it (a stdio server that somehow survived is
        // stopped) so that, should reconnecting fail, the next request tries again instead
        // of talking to it.
        slot.connection.service.cancellation_token().cancel();
        let connection = connect(&self.inner.config, &self.inner.host)
            .await
            .map_err(|source| McpError::Reconnect {
                server: self.name().to_owned(),
                operation: operation.to_owned(),
                source: Box::new(source),
            })?;
        self.inner
            .pid
            .store(connection.pid.unwrap_or(0), Ordering::Relaxed);
        slot.connection = Arc::new(connection);
        slot.generation += 1;
        self.inner.reconnects.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// `Client` must stay cheap to clone and shareable across tasks.
const _: () = {
    const fn assert_shareable<T: Clone + Send + Sync + 'static>() {}
    assert_shareable::<Client>();
};
