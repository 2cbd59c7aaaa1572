//! `gauntlet mock-server` and `gauntlet mcp list`: the commands that face outward.

use std::sync::Arc;

use anyhow::Result;

use crate::cli::{McpListArgs, MockServerArgs};
use crate::{Outcome, UsageError, output, project, runtime};

/// Serves the project's mock agents over HTTP until Ctrl-C.
pub fn mock_server(args: &MockServerArgs) -> Result<Outcome> {
    let Some(project) = project::load(&args.path)? else {
        return Ok(Outcome::Invalid);
    };
    let agents: Vec<&str> = project
        .agents
        .values()
        .filter(|a| a.mock.is_some())
        .map(|a| a.name.as_str())
        .collect();
    if agents.is_empty() {
        return Err(UsageError(
            "the project has no agent with `mock` rules for the server to answer as".into(),
        )
        .into());
    }
    let models = agents.join(", ");
    let rt = runtime()?;
    rt.block_on(async move {
        let addr = format!("{}:{}", args.host, args.port);
        let listener = tokio::net::TcpListener::bind(&addr)
            .await
            .map_err(|e| UsageError(format!("cannot listen on {addr}: {e}")))?;
        let local = listener.local_addr()?;
        output::out(&format!(
            "mock server on http://{local} (OpenAI: /v1/chat/completions, /v1/models; Anthropic: /v1/messages)\nmodels: {models}"
        ));
        gauntlet_mock_server::serve(listener, Arc::new(project), args.seed, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
        Ok(Outcome::Passed)
    })
}

/// Connects to an MCP server of the project and lists its tools, resources and prompts.
pub fn mcp_list(args: &McpListArgs) -> Result<Outcome> {
    let Some(project) = project::load(&args.path)? else {
        return Ok(Outcome::Invalid);
    };
    let Some(def) = project.mcp_servers.get(&args.server) else {
        let known: Vec<&str> = project.mcp_servers.keys().map(String::as_str).collect();
        return Err(UsageError(format!(
            "no MCP server `{}` in the project; servers: {}",
            args.server,
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        ))
        .into());
    };
    let config = gauntlet_engine::mcp_config(def);
    let rt = runtime()?;
    rt.block_on(async move {
        let started = std::time::Instant::now();
        let client = gauntlet_mcp::Client::connect(config).await?;
        let connected = started.elapsed();
        let pinged = std::time::Instant::now();
        client.ping().await?;
        output::out(&format!(
            "connected in {} ms, ping {} ms",
            connected.as_millis(),
            pinged.elapsed().as_millis()
        ));
        let tools = client.tools().await?;
        output::out(&format!("tools ({}):", tools.len()));
        for t in &tools {
            output::out(&format!("  {}  {}", t.name, first_line(&t.description)));
        }
        // Resources and prompts are optional capabilities: a server without them says so.
        match client.resources().await {
            Ok(resources) => {
                output::out(&format!("resources ({}):", resources.len()));
                for r in resources.iter().take(args.limit) {
                    output::out(&format!("  {}  {}", r.uri, r.name));
                }
                if resources.len() > args.limit {
                    output::out(&format!("  … {} more", resources.len() - args.limit));
                }
            }
            Err(e) => output::out(&format!("resources: {}", unoffered(&e))),
        }
        match client.prompts().await {
            Ok(prompts) => {
                output::out(&format!("prompts ({}):", prompts.len()));
                for p in &prompts {
                    output::out(&format!(
                        "  {}({})  {}",
                        p.name,
                        p.arguments.join(", "),
                        first_line(&p.description)
                    ));
                }
            }
            Err(e) => output::out(&format!("prompts: {}", unoffered(&e))),
        }
        Ok(Outcome::Passed)
    })
}

/// A capability the server does not implement (JSON-RPC "method not found") is not an error.
fn unoffered(e: &gauntlet_mcp::McpError) -> String {
    let text = e.to_string();
    if text.contains("-32601") {
        "none (the server does not offer them)".to_owned()
    } else {
        format!("unavailable ({text})")
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}
