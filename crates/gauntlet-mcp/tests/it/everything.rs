//! server-everything over stdio: listings, tools, resources, prompts, ping, the tools filter.

use gauntlet_mcp::{Client, McpError};
use serde_json::{Map, Value, json};

use crate::everything;

#[tokio::test]
async fn lists_calls_reads_and_pings_over_stdio() {
    let client = Client::connect(everything("everything")).await.unwrap();
    assert!(client.server_pid().is_some());

    let tools = client.tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
    for expected in ["echo", "get-sum", "get-env", "get-structured-content"] {
        assert!(names.contains(&expected), "no `{expected}` in {names:?}");
    }
    let echo = tools.iter().find(|t| t.name == "echo").unwrap();
    assert_eq!(echo.description, "Echoes back the input string");
    assert_eq!(echo.input_schema["type"], "object");
    assert_eq!(echo.input_schema["properties"]["message"]["type"], "string");

    let result = client
        .call_tool("echo", json!({"message": "hello gauntlet"}))
        .await
        .unwrap();
    assert!(!result.is_error);
    assert_eq!(result.text, "Echo: hello gauntlet");
    assert_eq!(
        result.content,
        json!([{"type": "text", "text": "Echo: hello gauntlet"}])
    );
    assert_eq!(result.structured, None);

    let sum = client
        .call_tool("get-sum", json!({"a": 19, "b": 23}))
        .await
        .unwrap();
    assert!(!sum.is_error);
    assert_eq!(sum.text, "The sum of 19 and 23 is 42.");

    let weather = client
        .call_tool("get-structured-content", json!({"location": "Chicago"}))
        .await
        .unwrap();
    let structured = weather.structured.expect("structured content");
    assert!(structured["temperature"].is_number(), "{structured}");

    // A tool that ran and failed (bad arguments) is a result, not an Err.
    let bad = client
        .call_tool("get-sum", json!({"a": "nineteen"}))
        .await
        .unwrap();
    assert!(bad.is_error, "{bad:?}");
    assert!(!bad.text.is_empty());

    let resources = client.resources().await.unwrap();
    let doc = resources
        .iter()
        .find(|r| r.uri == "demo://resource/static/document/features.md")
        .unwrap_or_else(|| panic!("no features.md in {resources:?}"));
    assert_eq!(doc.name, "features.md");
    assert_eq!(doc.mime_type.as_deref(), Some("text/markdown"));
    let text = client.read_resource(&doc.uri).await.unwrap();
    assert!(text.starts_with("# Everything Server - Features"), "{text}");
    let dynamic = client
        .read_resource("demo://resource/dynamic/text/7")
        .await
        .unwrap();
    assert!(
        dynamic.starts_with("Resource 7: This is a plaintext resource"),
        "{dynamic}"
    );

    let prompts = client.prompts().await.unwrap();
    let args_prompt = prompts.iter().find(|p| p.name == "args-prompt").unwrap();
    assert_eq!(args_prompt.arguments, ["city", "state"]);
    assert!(prompts.iter().any(|p| p.name == "simple-prompt"));
    let simple = client
        .get_prompt("simple-prompt", Map::new())
        .await
        .unwrap();
    assert_eq!(simple, "user: This is a simple prompt without arguments.");
    let mut args = Map::new();
    args.insert("city".into(), Value::String("Lyon".into()));
    args.insert("state".into(), Value::String("Rhône".into()));
    let rendered = client.get_prompt("args-prompt", args).await.unwrap();
    assert_eq!(rendered, "user: What's weather in Lyon, Rhône?");

    client.ping().await.unwrap();
    assert_eq!(client.reconnects(), 0);
}

#[tokio::test]
async fn unknown_tools_and_bad_requests_are_clear_errors() {
    let client = Client::connect(everything("everything-errors"))
        .await
        .unwrap();

    let missing = client
        .call_tool("no-such-tool", json!({}))
        .await
        .unwrap_err();
    assert!(
        matches!(&missing, McpError::ToolNotFound { server, tool } if server == "everything-errors" && tool == "no-such-tool"),
        "{missing:?}"
    );
    assert_eq!(
        missing.to_string(),
        "MCP server `everything-errors`: tool `no-such-tool` not found"
    );

    let not_object = client.call_tool("echo", json!(["x"])).await.unwrap_err();
    assert!(
        matches!(not_object, McpError::InvalidRequest { .. }),
        "{not_object:?}"
    );

    let missing_resource = client
        .read_resource("demo://resource/nowhere")
        .await
        .unwrap_err();
    assert!(
        matches!(&missing_resource, McpError::Server { operation, .. } if operation.contains("demo://resource/nowhere")),
        "{missing_resource:?}"
    );

    let missing_prompt = client
        .get_prompt("no-such-prompt", Map::new())
        .await
        .unwrap_err();
    assert!(
        matches!(missing_prompt, McpError::Server { .. }),
        "{missing_prompt:?}"
    );

    // The client still works after all that.
    client.ping().await.unwrap();
}

#[tokio::test]
async fn tools_filter_includes_excludes_and_refuses() {
    let config = everything("everything-filtered").with_tools_filter(["echo", "get-*", "!get-env"]);
    let client = Client::connect(config).await.unwrap();
    let mut names: Vec<String> = client
        .tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    names.sort();
    assert!(names.contains(&"echo".to_owned()) && names.contains(&"get-sum".to_owned()));
    assert!(!names.contains(&"get-env".to_owned()), "{names:?}");
    assert!(
        names.iter().all(|n| n == "echo" || n.starts_with("get-")),
        "{names:?}"
    );

    let refused = client.call_tool("get-env", json!({})).await.unwrap_err();
    assert!(
        matches!(&refused, McpError::ToolFiltered { tool, .. } if tool == "get-env"),
        "{refused:?}"
    );
    assert_eq!(
        refused.to_string(),
        "MCP server `everything-filtered`: tool `get-env` is excluded by the tools filter"
    );
    let not_included = client
        .call_tool("trigger-long-running-operation", json!({}))
        .await
        .unwrap_err();
    assert!(
        matches!(not_included, McpError::ToolFiltered { .. }),
        "{not_included:?}"
    );
    let echo = client
        .call_tool("echo", json!({"message": "ok"}))
        .await
        .unwrap();
    assert_eq!(echo.text, "Echo: ok");

    // Exclusions only: everything else stays.
    let except =
        Client::connect(everything("everything-except").with_tools_filter(["!echo", "!toggle-*"]))
            .await
            .unwrap();
    let names: Vec<String> = except
        .tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert!(names.contains(&"get-sum".to_owned()), "{names:?}");
    assert!(
        !names
            .iter()
            .any(|n| n == "echo" || n.starts_with("toggle-")),
        "{names:?}"
    );
    assert!(matches!(
        except.call_tool("echo", json!({"message": "x"})).await,
        Err(McpError::ToolFiltered { .. })
    ));
}
