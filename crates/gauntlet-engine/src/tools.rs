//! Executing tool calls: scripted results for offline runs, or an MCP server's tools.

use gauntlet_core::model::{Agent, Project, Tool, ToolMockResult};
use gauntlet_providers::ToolSpec;
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

pub struct ToolOutcome {
    pub result: Result<Value, String>,
    pub latency_ms: f64,
}

/// Answers a call from the tool's `mock` rules: the first rule whose `when` keys all equal the
/// call's arguments. Arguments that do not match the tool's parameter schema are an error
/// result, as a real tool would reject them.
pub async fn call(tool: &Tool, args: &Value, rng: &mut ChaCha8Rng) -> ToolOutcome {
    if let Some(schema) = &tool.parameters_schema
        && let Some(e) = schema.first_error(args)
    {
        return ToolOutcome {
            result: Err(format!(
                "arguments do not match the parameters of `{}`: {e}",
                tool.name
            )),
            latency_ms: 0.0,
        };
    }
    let rule = tool.mock.iter().find(|r| {
        r.when.as_ref().is_none_or(|w| {
            w.iter()
                .all(|(k, v)| args.get(k).is_some_and(|a| gauntlet_eval::subset(v, a)))
        })
    });
    let Some(rule) = rule else {
        return ToolOutcome {
            result: Err(format!(
                "tool `{}` has no mock result for arguments {args}; add a rule without `when` as a fallback",
                tool.name
            )),
            latency_ms: 0.0,
        };
    };
    let delay = gauntlet_providers::mock::draw_latency(rule.latency_ms, rng);
    if delay > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
    }
    let result = match &rule.result {
        ToolMockResult::Return(v) => Ok(v.clone()),
        ToolMockResult::Error(e) => Err(e.clone()),
    };
    ToolOutcome {
        result,
        latency_ms: delay as f64,
    }
}

/// The tools an agent's model sees: its own from `tools:`.
pub fn specs(project: &Project, agent: &Agent) -> Vec<ToolSpec> {
    agent
        .tools
        .iter()
        .filter_map(|t| project.tools.get(t))
        .map(|t| ToolSpec {
            name: t.name.clone(),
            description: t.description.clone(),
            parameters: t.parameters.clone(),
        })
        .collect()
}

/// Where a tool call goes.
#[derive(Clone, Copy)]
pub enum Target<'a> {
    Mock(&'a Tool),
    Mcp(&'a gauntlet_mcp::Client),
    /// A tool of an agent's MCP server during a strict replay, which is not connected: only
    /// the recording can answer.
    Recorded,
}

impl Target<'_> {
    pub async fn call(self, name: &str, args: &Value, rng: &mut ChaCha8Rng) -> ToolOutcome {
        match self {
            Target::Mock(tool) => call(tool, args, rng).await,
            Target::Mcp(client) => crate::mcp::call_tool(client, name, args).await,
            Target::Recorded => ToolOutcome {
                result: Err(format!(
                    "no recording of a call to MCP tool `{name}`, and a strict replay does not start MCP servers"
                )),
                latency_ms: 0.0,
            },
        }
    }
}
