//! Traffic recording: each allowed exchange, as the provider saw it, appended as one JSON
//! line to `traffic-<day>.jsonl` in the configured directory (`generate-tests --traffic`
//! turns the files into a regression suite). Lines are written by one task, each with a
//! single `write`, so a crash loses at most the lines not yet written, never half a line.

use std::io::Write as _;
use std::path::PathBuf;

use gauntlet_core::gateway::{Exchange, ExchangeCall, ExchangeMessage};
use gauntlet_mock_server::Dialect;
use serde_json::Value;
use tokio::sync::mpsc;

#[derive(Clone)]
pub struct Recorder {
    tx: mpsc::UnboundedSender<Exchange>,
    /// Lines that could not be written (exposed on `/metrics`).
    pub failures: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Recorder {
    /// Starts the writer over `dir` (created if missing).
    pub fn start(dir: PathBuf) -> std::io::Result<Recorder> {
        std::fs::create_dir_all(&dir)?;
        let (tx, rx) = mpsc::unbounded_channel();
        let failures = std::sync::Arc::default();
        tokio::spawn(write(dir, rx, std::sync::Arc::clone(&failures)));
        Ok(Recorder { tx, failures })
    }

    pub fn send(&self, e: Exchange) {
        let _ = self.tx.send(e);
    }
}

async fn write(
    dir: PathBuf,
    mut rx: mpsc::UnboundedReceiver<Exchange>,
    failures: std::sync::Arc<std::sync::atomic::AtomicU64>,
) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while let Ok(e) = rx.try_recv() {
            batch.push(e);
            if batch.len() >= 256 {
                break;
            }
        }
        let (dir, failures) = (dir.clone(), std::sync::Arc::clone(&failures));
        let _ = tokio::task::spawn_blocking(move || {
            for e in batch {
                let day = &gauntlet_core::time::rfc3339(e.at_ms)[..10];
                let Ok(mut line) = serde_json::to_string(&e) else {
                    continue;
                };
                line.push('\n');
                let path = dir.join(format!("traffic-{day}.jsonl"));
                let written = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .and_then(|mut f| f.write_all(line.as_bytes()));
                if written.is_err() {
                    failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        })
        .await;
    }
}

fn text_of(c: &Value) -> String {
    match c {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter_map(|b| match b.get("type").and_then(Value::as_str) {
                Some("text") => b.get("text").and_then(Value::as_str).map(str::to_owned),
                Some("tool_result") => Some(text_of(b.get("content").unwrap_or(&Value::Null))),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// The system prompt and the conversation of a request body (after the guardrails).
pub fn conversation(dialect: Dialect, body: &Value) -> (Option<String>, Vec<ExchangeMessage>) {
    let mut system = match dialect {
        Dialect::Anthropic => body.get("system").map(text_of),
        Dialect::OpenAi => None,
    };
    let mut messages = Vec::new();
    for m in body
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let role = m.get("role").and_then(Value::as_str).unwrap_or("user");
        let content = text_of(m.get("content").unwrap_or(&Value::Null));
        let is_tool_result = m.get("content").and_then(Value::as_array).is_some_and(|b| {
            b.iter()
                .any(|b| b.get("type").and_then(Value::as_str) == Some("tool_result"))
        });
        match role {
            "system" | "developer" if system.is_none() => system = Some(content),
            "system" | "developer" => {}
            _ => messages.push(ExchangeMessage {
                role: if role == "tool" || is_tool_result {
                    "tool"
                } else {
                    role
                }
                .to_owned(),
                content,
            }),
        }
    }
    (system, messages)
}

/// The tool calls of a whole answer.
pub fn calls_of(dialect: Dialect, answer: &Value) -> Vec<ExchangeCall> {
    match dialect {
        Dialect::OpenAi => answer
            .pointer("/choices/0/message/tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|c| {
                let name = c.pointer("/function/name")?.as_str()?.to_owned();
                let args = c
                    .pointer("/function/arguments")
                    .and_then(Value::as_str)
                    .and_then(|a| serde_json::from_str(a).ok())
                    .unwrap_or(Value::Null);
                Some(ExchangeCall { name, args })
            })
            .collect(),
        Dialect::Anthropic => answer
            .get("content")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|b| b.get("type").and_then(Value::as_str) == Some("tool_use"))
            .filter_map(|b| {
                Some(ExchangeCall {
                    name: b.get("name")?.as_str()?.to_owned(),
                    args: b.get("input").cloned().unwrap_or(Value::Null),
                })
            })
            .collect(),
    }
}
