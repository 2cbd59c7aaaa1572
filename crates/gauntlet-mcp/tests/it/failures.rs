//! Startup failures and reconnection after the server process dies.

use std::time::{Duration, Instant};

use gauntlet_mcp::{Client, McpError, ServerConfig};
use serde_json::json;

use crate::{everything, kill9};

#[tokio::test]
async fn a_server_that_never_speaks_mcp_times_out_at_startup() {
    let config =
        ServerConfig::stdio("mute", "sleep", ["30"]).with_startup_timeout(Duration::from_secs(2));
    let started = Instant::now();
    let error = Client::connect(config).await.unwrap_err();
    let elapsed = started.elapsed();
    assert!(
        matches!(&error, McpError::StartupTimeout { server, timeout, .. } if server == "mute" && *timeout == Duration::from_secs(2)),
        "{error:?}"
    );
    assert!(error.is_startup_timeout());
    assert!(elapsed >= Duration::from_secs(2), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(15), "{elapsed:?}");
    assert!(
        error
            .to_string()
            .starts_with("MCP server `mute`: startup timed out after 2s"),
        "{error}"
    );
}

#[tokio::test]
async fn a_missing_command_or_a_crashing_server_fails_to_start() {
    let missing = Client::connect(ServerConfig::stdio(
        "ghost",
        "gauntlet-no-such-mcp-server",
        Vec::<String>::new(),
    ))
    .await
    .unwrap_err();
    assert!(
        matches!(&missing, McpError::Spawn { server, command, .. } if server == "ghost" && command == "gauntlet-no-such-mcp-server"),
        "{missing:?}"
    );

    let crashing = ServerConfig::stdio(
        "crasher",
        "sh",
        ["-c", "echo 'fatal: no config file' >&2; exit 3"],
    )
    .with_startup_timeout(Duration::from_secs(30));
    let error = Client::connect(crashing).await.unwrap_err();
    assert!(matches!(error, McpError::Startup { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.starts_with("MCP server `crasher`: startup failed"),
        "{message}"
    );
    assert!(message.contains("fatal: no config file"), "{message}");

    let bad_url = Client::connect(ServerConfig::http("web", "localhost:1/mcp"))
        .await
        .unwrap_err();
    assert!(matches!(bad_url, McpError::Config { .. }), "{bad_url:?}");
}

#[tokio::test]
async fn reconnects_once_after_the_server_is_killed() {
    let client = Client::connect(everything("everything-reconnect"))
        .await
        .unwrap();
    let first = client
        .call_tool("echo", json!({"message": "one"}))
        .await
        .unwrap();
    assert_eq!(first.text, "Echo: one");
    let old_pid = client.server_pid().unwrap();

    kill9(old_pid);
    let again = client
        .call_tool("echo", json!({"message": "two"}))
        .await
        .unwrap();
    assert_eq!(again.text, "Echo: two");
    assert_eq!(client.reconnects(), 1);
    let new_pid = client.server_pid().unwrap();
    assert_ne!(new_pid, old_pid);

    // Concurrent callers after a second kill share one replacement server.
    kill9(new_pid);
    let calls = (0..6).map(|i| {
        let client = client.clone();
        tokio::spawn(async move {
            client
                .call_tool("echo", json!({"message": format!("concurrent {i}")}))
                .await
        })
    });
    let results = futures_join(calls).await;
    for (i, result) in results.into_iter().enumerate() {
        assert_eq!(result.unwrap().text, format!("Echo: concurrent {i}"));
    }
    assert_eq!(client.reconnects(), 2);
    assert_ne!(client.server_pid().unwrap(), new_pid);
    client.ping().await.unwrap();
}

/// Awaits every task, in order.
async fn futures_join<T: Send + 'static>(
    tasks: impl Iterator<Item = tokio::task::JoinHandle<T>>,
) -> Vec<T> {
    let mut results = Vec::new();
    for task in tasks.collect::<Vec<_>>() {
        results.push(task.await.unwrap());
    }
    results
}
