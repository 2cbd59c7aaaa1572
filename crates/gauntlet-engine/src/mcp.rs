//! MCP servers during a run: connected once when the run starts, their (filtered) tools added
//! to the agents that list the server, tool calls routed to the server that offers the tool,
//! and the direct calls of `mcp:NAME` suites.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use gauntlet_core::model::{McpCall, McpServer, McpTransport, Project, Target};
use gauntlet_core::result::{StepRecord, ToolCallRecord};
use gauntlet_mcp::{Client, ServerConfig, Transport};
use gauntlet_providers::ToolSpec;
use serde_json::Value;

/// The run's MCP connections.
#[derive(Default)]
pub struct Servers {
    /// By server name: the client, or why it could not connect.
    clients: HashMap<String, Result<Client, String>>,
    /// By server name: its tools after the filter.
    tools: HashMap<String, Vec<gauntlet_mcp::ToolInfo>>,
}

/// The gauntlet-mcp configuration of a server definition.
pub fn config(def: &McpServer) -> ServerConfig {
    let transport = match &def.transport {
        McpTransport::Stdio {
            command,
            args,
            env,
            cwd,
        } => Transport::Stdio {
            command: command.clone(),
            args: args.clone(),
            env: env
                .iter()
                .map(|(k, v)| (k.clone(), v.expose().to_owned()))
                .collect(),
            cwd: Some(match cwd {
                Some(c) => def.dir.join(c),
                None if def.dir.as_os_str().is_empty() => ".".into(),
                None => def.dir.clone(),
            }),
        },
        McpTransport::Http { url, headers } => Transport::Http {
            url: url.clone(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.clone(), v.expose().to_owned()))
                .collect(),
        },
    };
    ServerConfig::new(def.name.clone(), transport)
        .with_tools_filter(def.tools_filter.clone())
        .with_startup_timeout(Duration::from_millis(def.startup_timeout_ms))
        .with_call_timeout(Duration::from_millis(def.timeout_ms))
}

impl Servers {
    /// Connects to every server the suite uses (its MCP targets and the servers of the agents
    /// it runs), concurrently, and lists their tools.
    pub async fn connect(project: &Project, suite: &str, host: &gauntlet_sandbox::Host) -> Servers {
        let mut tasks = tokio::task::JoinSet::new();
        for (name, def) in &project.mcp_servers_of(suite) {
            let name = name.clone();
            let cfg = config(def);
            let host = host.clone();
            tasks.spawn(async move {
                // Connect, check health with a ping, then list the (filtered) tools.
                let connected = match Client::connect_on(cfg, host).await {
                    Ok(c) => match c.ping().await {
                        Ok(()) => match c.tools().await {
                            Ok(tools) => Ok((c, tools)),
                            Err(e) => Err(e.to_string()),
                        },
                        Err(e) => Err(format!("health check failed: {e}")),
                    },
                    Err(e) => Err(e.to_string()),
                };
                (name, connected)
            });
        }
        let mut servers = Servers::default();
        while let Some(done) = tasks.join_next().await {
            let Ok((name, connected)) = done else {
                continue;
            };
            match connected {
                Ok((client, tools)) => {
                    servers.tools.insert(name.clone(), tools);
                    servers.clients.insert(name, Ok(client));
                }
                Err(e) => {
                    servers.clients.insert(name, Err(e));
                }
            }
        }
        servers
    }

    pub fn client(&self, server: &str) -> Result<&Client, String> {
        match self.clients.get(server) {
            Some(Ok(c)) => Ok(c),
            Some(Err(e)) => Err(format!("MCP server `{server}` is unavailable: {e}")),
            None => Err(format!(
                "MCP server `{server}` was not started for this run"
            )),
        }
    }

    /// The first unavailable server among `servers`, as an error message.
    pub fn unavailable(&self, servers: &[String]) -> Option<String> {
        servers.iter().find_map(|s| self.client(s).err())
    }

    /// The tools of `servers` as the model sees them, skipping names already taken.
    pub fn specs(&self, servers: &[String], taken: &mut Vec<String>) -> Vec<ToolSpec> {
        let mut out = Vec::new();
        for s in servers {
            for t in self.tools.get(s).into_iter().flatten() {
                if taken.contains(&t.name) {
                    continue;
                }
                taken.push(t.name.clone());
                out.push(ToolSpec {
                    name: t.name.clone(),
                    description: t.description.clone(),
                    parameters: t.input_schema.clone(),
                });
            }
        }
        out
    }

    /// The server among `servers` that offers tool `name`.
    pub fn route<'s>(&self, servers: &'s [String], name: &str) -> Option<&'s str> {
        servers.iter().map(String::as_str).find(|s| {
            self.tools
                .get(*s)
                .is_some_and(|tools| tools.iter().any(|t| t.name == name))
        })
    }
}

/// The result of an MCP tool as a tool-call outcome: structured content when the tool gave
/// some, else its text (parsed as JSON when it is JSON); a tool-reported failure is an error.
pub fn outcome(r: gauntlet_mcp::ToolResult) -> Result<Value, String> {
    if r.is_error {
        return Err(r.text);
    }
    Ok(match r.structured {
        Some(v) => v,
        None => serde_json::from_str::<Value>(&r.text)
            .ok()
            .filter(|v| v.is_object() || v.is_array())
            .unwrap_or(Value::String(r.text)),
    })
}

/// Calls a tool of an MCP server for an agent.
pub async fn call_tool(client: &Client, name: &str, args: &Value) -> crate::tools::ToolOutcome {
    let started = Instant::now();
    let result = match client.call_tool(name, args.clone()).await {
        Ok(r) => outcome(r),
        Err(e) => Err(e.to_string()),
    };
    crate::tools::ToolOutcome {
        result,
        latency_ms: started.elapsed().as_secs_f64() * 1000.0,
    }
}

/// One case of an `mcp:NAME` suite: the call, as a step whose output is what the server
/// answered. A tool that reports failure gives its error text as the output (so cases can
/// assert on how a tool rejects bad input) and an error on the tool call; a server that
/// cannot be reached is a step error.
pub async fn run_direct(
    servers: &Servers,
    target: &Target,
    call: Option<&McpCall>,
    input: &str,
) -> StepRecord {
    let server = match target {
        Target::Mcp(s) => s.as_str(),
        _ => "",
    };
    let mut record = StepRecord::new(None, format!("mcp:{server}"), "mcp", "", input.to_owned());
    let client = match servers.client(server) {
        Ok(c) => c,
        Err(e) => {
            record.error = Some(e);
            return record;
        }
    };
    let started = Instant::now();
    match call {
        None => record.error = Some("the case names no `tool`, `resource` or `prompt`".into()),
        Some(McpCall::Tool { name, args }) => {
            record.model = name.clone();
            match client.call_tool(name, args.clone()).await {
                Ok(r) => {
                    let text = r.text.clone();
                    let (result, error) = match outcome(r) {
                        Ok(v) => (Some(v), None),
                        Err(e) => (None, Some(e)),
                    };
                    record.output = Some(match &result {
                        Some(Value::String(s)) => s.clone(),
                        Some(v) if text.is_empty() => v.to_string(),
                        _ => text,
                    });
                    record.tool_calls.push(ToolCallRecord {
                        name: name.clone(),
                        args: args.clone(),
                        result,
                        error,
                        latency_ms: started.elapsed().as_secs_f64() * 1000.0,
                    });
                }
                Err(e) => record.error = Some(e.to_string()),
            }
        }
        Some(McpCall::Resource { uri }) => {
            record.model = uri.clone();
            match client.read_resource(uri).await {
                Ok(text) => record.output = Some(text),
                Err(e) => record.error = Some(e.to_string()),
            }
        }
        Some(McpCall::Prompt { name, args }) => {
            record.model = name.clone();
            match client.get_prompt(name, args.clone()).await {
                Ok(text) => record.output = Some(text),
                Err(e) => record.error = Some(e.to_string()),
            }
        }
    }
    record.latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    record
}
