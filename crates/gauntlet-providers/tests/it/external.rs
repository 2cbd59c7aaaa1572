//! External agents: an HTTP endpoint and JSON-lines processes.

use gauntlet_core::model::{ErrorKind, HttpAgent, ProcessAgent, ProviderKind};
use gauntlet_providers::{CallContext, ChatRequest, Message, Role, adapter};
use rand::SeedableRng;
use serde_json::{Value, json};

use crate::server::{Reply, Server};
use crate::{agent, complete, conversation, def, tools};

#[tokio::test]
async fn http_agent_builds_the_body_and_picks_the_answer() {
    let server = Server::start().await;
    server.reply(Reply::json(
        200,
        &json!({"reply": {"text": "Order 42 shipped."},
            "trace": [{"name": "lookup_order", "args": {"id": 42}, "result": {"status": "shipped"}}],
            "usage": {"in": 11, "out": 4}}),
    ));
    let mut d = def(ProviderKind::Http, &server.url);
    d.http = Some(HttpAgent {
        url: format!("{}/agent", server.url),
        method: "POST".into(),
        body: json!({"question": "Q: {{ input }}", "history": "{{ messages }}", "meta": {"model": "{{ model }}", "n": 1}}),
        output: "$.reply.text".into(),
        tool_calls: Some("/trace".into()),
        input_tokens: Some("/usage/in".into()),
        output_tokens: Some("$.usage.out".into()),
    });
    d.headers.insert(
        "x-team".into(),
        gauntlet_core::model::Secret::new("support", "support"),
    );
    let r = complete(adapter(&d).as_ref(), "bot-v2", &conversation()[..1])
        .await
        .unwrap();
    let req = server.last();
    assert_eq!(req.target, "/agent");
    assert_eq!(req.header("x-team"), Some("support"));
    assert_eq!(
        req.json(),
        json!({"question": "Q: Where is order 42?",
            "history": [{"role": "user", "content": "Where is order 42?"}],
            "meta": {"model": "bot-v2", "n": 1}})
    );
    assert_eq!(r.text, "Order 42 shipped.");
    assert!(
        r.tool_calls.is_empty(),
        "reported calls are not for Gauntlet to execute"
    );
    assert_eq!(r.reported_tool_calls.len(), 1);
    assert_eq!(r.reported_tool_calls[0].name, "lookup_order");
    assert_eq!(
        r.reported_tool_calls[0].result,
        Some(json!({"status": "shipped"}))
    );
    assert_eq!((r.usage.input, r.usage.output), (11, 4));
}

/// A Python agent speaking the protocol: asks for `lookup_order`, then answers with its result
/// and its own process id (to tell pooled processes apart).
const AGENT: &str = r#"
import json, os, sys
print(json.dumps({"type": "ready"}), flush=True)
for line in sys.stdin:
    msg = json.loads(line)
    if msg["type"] == "request":
        if "crash" in msg["input"]:
            print("about to fail", file=sys.stderr, flush=True)
            sys.exit(3)
        if "fail" in msg["input"]:
            print(json.dumps({"type": "error", "message": "cannot help", "kind": "invalid_request"}), flush=True)
            continue
        names = [t["name"] for t in msg["tools"]]
        print(json.dumps({"type": "tool_call", "id": "c1", "name": names[0], "args": {"id": 42}}), flush=True)
    elif msg["type"] == "tool_result":
        out = {"type": "final", "output": "status=%s pid=%d" % (msg["result"]["status"], os.getpid()),
               "usage": {"input_tokens": 7, "output_tokens": 3}}
        print(json.dumps(out), flush=True)
"#;

fn process_def(pool: bool, script: &str, dir: &std::path::Path) -> gauntlet_core::model::Provider {
    std::fs::write(dir.join("agent.py"), script).unwrap();
    let mut d = gauntlet_core::model::Provider::new("primary", ProviderKind::Process);
    d.process = Some(ProcessAgent {
        command: "python3".into(),
        args: vec!["-u".into(), "agent.py".into()],
        env: Default::default(),
        cwd: None,
        pool,
        startup_timeout_ms: 10_000,
        dir: dir.to_path_buf(),
    });
    d.timeout_ms = Some(10_000);
    d
}

/// Drives one step like the engine: call, answer tool calls, call again until final.
async fn step(
    p: &dyn gauntlet_providers::Provider,
    input: &str,
) -> Result<String, gauntlet_providers::ProviderError> {
    let agent = agent();
    let tools = tools();
    let mut ctx = CallContext::new(rand_chacha::ChaCha8Rng::seed_from_u64(1));
    let mut messages = vec![Message::user(input)];
    for turn in 1..=4 {
        let r = p
            .complete(
                ChatRequest {
                    agent: &agent,
                    model: "m",
                    messages: &messages,
                    tools: &tools,
                    turn,
                    vars: &Value::Null,
                },
                &mut ctx,
            )
            .await?;
        if r.tool_calls.is_empty() {
            return Ok(r.text);
        }
        messages.push(Message {
            role: Role::Assistant,
            content: r.text,
            tool_calls: r.tool_calls.clone(),
            tool_name: None,
            tool_call_id: None,
        });
        for c in r.tool_calls {
            messages.push(Message {
                role: Role::Tool,
                content: r#"{"status":"shipped"}"#.into(),
                tool_calls: Vec::new(),
                tool_name: Some(c.name),
                tool_call_id: Some(c.id),
            });
        }
    }
    panic!("no final answer");
}

fn pid(answer: &str) -> String {
    answer.split("pid=").nth(1).unwrap().to_owned()
}

#[tokio::test]
async fn process_agent_per_case_and_pooled() {
    let dir = tempfile::tempdir().unwrap();
    let per_case = adapter(&process_def(false, AGENT, dir.path()));
    let a = step(per_case.as_ref(), "where is 42").await.unwrap();
    let b = step(per_case.as_ref(), "where is 42").await.unwrap();
    assert!(a.starts_with("status=shipped"), "{a}");
    assert_ne!(pid(&a), pid(&b), "one process per case");

    let pooled = adapter(&process_def(true, AGENT, dir.path()));
    let a = step(pooled.as_ref(), "where is 42").await.unwrap();
    let b = step(pooled.as_ref(), "where is 42").await.unwrap();
    assert_eq!(pid(&a), pid(&b), "the pooled process is reused");

    let e = step(pooled.as_ref(), "please fail").await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidRequest);
    assert!(e.message.contains("cannot help"));

    let e = step(pooled.as_ref(), "crash now").await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Network);
    assert!(
        e.message.contains("about to fail"),
        "stderr is quoted: {}",
        e.message
    );
    // The crashed process is replaced.
    let c = step(pooled.as_ref(), "where is 42").await.unwrap();
    assert!(c.starts_with("status=shipped"));
}

#[tokio::test]
async fn process_agent_startup_timeout_and_bad_lines() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = process_def(false, "import time\ntime.sleep(30)\n", dir.path());
    if let Some(p) = d.process.as_mut() {
        p.startup_timeout_ms = 300;
    }
    let started = std::time::Instant::now();
    let e = step(adapter(&d).as_ref(), "hi").await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Timeout);
    assert!(
        e.message.contains("start-up timeout of 300 ms"),
        "{}",
        e.message
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));

    let d = process_def(false, "print('hello, not json', flush=True)\n", dir.path());
    let e = step(adapter(&d).as_ref(), "hi").await.unwrap_err();
    assert!(e.message.contains("not JSON"), "{}", e.message);

    let mut d = process_def(false, "", dir.path());
    if let Some(p) = d.process.as_mut() {
        p.command = "/nonexistent/agent".into();
    }
    let e = step(adapter(&d).as_ref(), "hi").await.unwrap_err();
    assert!(e.message.contains("cannot start"), "{}", e.message);
}
