//! Gauntlet's MCP client, on the official Rust SDK (`rmcp`).
//!
//! A [`Client`] talks to one MCP server, spawned over stdio or reached over streamable
//! HTTP ([`Transport`]): it lists tools (through the server's tools filter), resources and
//! prompts, calls tools, reads resources, renders prompts, and pings. Startup and every
//! request are bounded by timeouts, a lost transport is reconnected once per request, and
//! every failure is an [`McpError`] naming the server and the operation.
//!
//! ```no_run
//! # async fn demo() -> Result<(), gauntlet_mcp::McpError> {
//! use gauntlet_mcp::{Client, ServerConfig};
//!
//! let config = ServerConfig::stdio("everything", "npx", ["-y", "@modelcontextprotocol/server-everything"])
//!     .with_tools_filter(["echo", "get-*", "!get-env"]);
//! let client = Client::connect(config).await?;
//! let result = client.call_tool("echo", serde_json::json!({"message": "hi"})).await?;
//! assert_eq!(result.text, "Echo: hi");
//! # Ok(()) }
//! ```

mod client;
mod config;
mod connect;
mod error;
mod filter;
mod types;

pub use client::Client;
pub use config::{DEFAULT_CALL_TIMEOUT, DEFAULT_STARTUP_TIMEOUT, ServerConfig, Transport};
pub use error::McpError;
pub use filter::{ToolFilter, glob_match};
pub use types::{PromptInfo, ResourceInfo, ToolInfo, ToolResult};
