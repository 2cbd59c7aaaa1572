//! server-everything in its streamable HTTP mode, on a free local port.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gauntlet_mcp::{Client, McpError, ServerConfig, Transport};
use serde_json::json;

use crate::{CALL, STARTUP, everything_entry};

/// A server-everything process in streamable HTTP mode, killed on drop.
struct HttpServer {
    child: Child,
    port: u16,
}

impl HttpServer {
    /// Starts the server on `port` (a free one when `None`) and waits until it accepts
    /// connections.
    async fn start(port: Option<u16>) -> HttpServer {
        let port = port.unwrap_or_else(free_port);
        let child = Command::new("node")
            .arg(everything_entry())
            .arg("streamableHttp")
            .env("PORT", port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let server = HttpServer { child, port };
        let deadline = Instant::now() + STARTUP;
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "server-everything did not listen on port {port} within {STARTUP:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        server
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/mcp", self.port)
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn http_config(name: &str, url: String) -> ServerConfig {
    ServerConfig::new(
        name,
        Transport::Http {
            url,
            headers: vec![("X-Gauntlet-Test".into(), "1".into())],
        },
    )
    .with_startup_timeout(STARTUP)
    .with_call_timeout(CALL)
}

#[tokio::test]
async fn lists_and_calls_over_streamable_http() {
    let server = HttpServer::start(None).await;
    let client = Client::connect(http_config("everything-http", server.url()))
        .await
        .unwrap();
    assert_eq!(client.server_pid(), None);

    let tools = client.tools().await.unwrap();
    assert!(tools.iter().any(|t| t.name == "echo"), "{tools:?}");
    assert!(tools.iter().any(|t| t.name == "get-sum"), "{tools:?}");
    let echo = client
        .call_tool("echo", json!({"message": "over http"}))
        .await
        .unwrap();
    assert_eq!(echo.text, "Echo: over http");
    let sum = client
        .call_tool("get-sum", json!({"a": 1.5, "b": 2}))
        .await
        .unwrap();
    assert_eq!(sum.text, "The sum of 1.5 and 2 is 3.5.");
    let prompt = client
        .get_prompt("simple-prompt", serde_json::Map::new())
        .await
        .unwrap();
    assert_eq!(prompt, "user: This is a simple prompt without arguments.");
    client.ping().await.unwrap();
    assert_eq!(client.reconnects(), 0);
}

#[tokio::test]
async fn http_server_gone_is_a_clear_error_and_comes_back() {
    let mut server = HttpServer::start(None).await;
    let port = server.port;
    let config = http_config("everything-http-restart", server.url())
        .with_startup_timeout(Duration::from_secs(20))
        .with_call_timeout(Duration::from_secs(20));
    let client = Client::connect(config).await.unwrap();
    client.ping().await.unwrap();

    server.stop();
    let started = Instant::now();
    let error = client
        .call_tool("echo", json!({"message": "anyone?"}))
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
    // The call failed to send, the one reconnection was refused.
    assert!(
        matches!(&error, McpError::Reconnect { server, source, .. }
            if server == "everything-http-restart" && matches!(**source, McpError::Startup { .. })),
        "{error:?}"
    );
    assert!(error.is_transport_closed());
    assert!(error.to_string().contains("Connection refused"), "{error}");
    assert_eq!(client.reconnects(), 0);

    // Back on the same port: the next call reconnects and succeeds.
    let _server = HttpServer::start(Some(port)).await;
    let echo = client
        .call_tool("echo", json!({"message": "back"}))
        .await
        .unwrap();
    assert_eq!(echo.text, "Echo: back");
    assert_eq!(client.reconnects(), 1);
}

#[tokio::test]
async fn nobody_listening_is_a_startup_error() {
    let port = free_port();
    let config = http_config("nobody", format!("http://127.0.0.1:{port}/mcp"));
    let error = Client::connect(config).await.unwrap_err();
    assert!(matches!(error, McpError::Startup { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.starts_with("MCP server `nobody`: startup failed"),
        "{message}"
    );
    assert!(message.contains("Connection refused"), "{message}");
}
