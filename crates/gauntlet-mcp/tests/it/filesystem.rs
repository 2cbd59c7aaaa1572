//! server-filesystem over stdio, confined to a temporary root.

use gauntlet_mcp::{Client, ServerConfig, Transport};
use serde_json::json;

use crate::{CALL, STARTUP, filesystem_entry};

#[tokio::test]
async fn writes_and_reads_inside_the_root_and_refuses_outside() {
    let entry = filesystem_entry();
    let root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), "not for you").unwrap();
    // The server compares canonical paths (on some systems /tmp is a symlink).
    let root_path = root.path().canonicalize().unwrap();

    let config = ServerConfig::new(
        "filesystem",
        Transport::Stdio {
            command: "node".into(),
            args: vec![entry.display().to_string(), root_path.display().to_string()],
            env: Vec::new(),
            cwd: Some(root_path.clone()),
        },
    )
    .with_startup_timeout(STARTUP)
    .with_call_timeout(CALL);
    let client = Client::connect(config).await.unwrap();

    let names: Vec<String> = client
        .tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    for expected in ["write_file", "read_text_file", "list_directory"] {
        assert!(
            names.iter().any(|n| n == expected),
            "no `{expected}` in {names:?}"
        );
    }

    let file = root_path.join("notes/hello.txt");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let written = client
        .call_tool(
            "write_file",
            json!({"path": file.display().to_string(), "content": "line one\nline two\n"}),
        )
        .await
        .unwrap();
    assert!(!written.is_error, "{written:?}");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "line one\nline two\n"
    );

    let read = client
        .call_tool(
            "read_text_file",
            json!({"path": file.display().to_string()}),
        )
        .await
        .unwrap();
    assert!(!read.is_error, "{read:?}");
    assert_eq!(read.text, "line one\nline two\n");

    let listing = client
        .call_tool(
            "list_directory",
            json!({"path": root_path.join("notes").display().to_string()}),
        )
        .await
        .unwrap();
    assert!(
        listing.text.contains("[FILE] hello.txt"),
        "{}",
        listing.text
    );

    // Outside the root: the tool fails, the server and the client carry on.
    let secret = outside.path().join("secret.txt");
    let denied = client
        .call_tool(
            "read_text_file",
            json!({"path": secret.display().to_string()}),
        )
        .await
        .unwrap();
    assert!(denied.is_error, "{denied:?}");
    assert!(
        denied.text.to_lowercase().contains("access denied"),
        "{}",
        denied.text
    );
    let escape = client
        .call_tool(
            "write_file",
            json!({"path": root_path.join("../escaped.txt").display().to_string(), "content": "x"}),
        )
        .await
        .unwrap();
    assert!(escape.is_error, "{escape:?}");
    assert!(!root_path.join("../escaped.txt").exists());

    client.ping().await.unwrap();
    assert_eq!(client.reconnects(), 0);
}
