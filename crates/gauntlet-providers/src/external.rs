//! External agents: an HTTP endpoint, or a child process speaking JSON lines.
//!
//! The process protocol (documented in `docs/process-agents.md`), one JSON object per line:
//! the agent prints `{"type":"ready"}` once started; Gauntlet sends `{"type":"request", ...}`;
//! the agent answers `{"type":"tool_call","id","name","args"}` (Gauntlet executes the tool and
//! replies `{"type":"tool_result","id","result"}` or `{"type":"tool_result","id","error"}`),
//! and finally `{"type":"final","output","usage"}` or `{"type":"error","message"}`.

use std::collections::VecDeque;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gauntlet_core::model::{ErrorKind, Provider as ProviderDef};
use gauntlet_core::result::Tokens;
use gauntlet_core::template::Template;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};

use crate::http::{self, Call, Redactor};
use crate::{
    BoxFuture, CallContext, ChatRequest, ChatResponse, Message, Provider, ProviderError,
    ReportedToolCall, Role, ToolCall,
};

/// The values an HTTP agent's body templates and a process request see.
fn request_context(req: &ChatRequest<'_>) -> Value {
    json!({
        "input": req.messages.iter().find(|m| m.role == Role::User).map_or("", |m| m.content.as_str()),
        "vars": req.vars,
        "system": req.agent.system,
        "model": req.model,
        "messages": messages_json(req.messages),
    })
}

fn messages_json(messages: &[Message]) -> Value {
    messages
        .iter()
        .map(|m| {
            let mut v = json!({
                "role": match m.role { Role::User => "user", Role::Assistant => "assistant", Role::Tool => "tool" },
                "content": m.content,
            });
            if !m.tool_calls.is_empty() {
                v["tool_calls"] = m
                    .tool_calls
                    .iter()
                    .map(|c| json!({"id": c.id, "name": c.name, "args": c.args}))
                    .collect();
            }
            if let Some(id) = &m.tool_call_id {
                v["tool_call_id"] = json!(id);
            }
            v
        })
        .collect()
}

/// A value picked by JSON pointer (`/a/0`) or JSON path (`$.a[0]`).
pub fn pick<'v>(doc: &'v Value, path: &str) -> Option<&'v Value> {
    if path.starts_with('/') || path.is_empty() {
        doc.pointer(path)
    } else {
        gauntlet_eval::jsonpath::select(doc, path)
            .ok()
            .and_then(|found| found.into_iter().next())
    }
}

fn render_body(v: &Value, ctx: &Value) -> Value {
    match v {
        Value::String(s) => match Template::parse(s) {
            Ok(t) => t.render_value(ctx),
            Err(_) => v.clone(),
        },
        Value::Array(a) => Value::Array(a.iter().map(|x| render_body(x, ctx)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| (k.clone(), render_body(x, ctx)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// `{"error": "..."}`, `{"error": {"message": ...}}` or `{"message": ...}`.
fn generic_error(v: &Value) -> Option<String> {
    match v.get("error") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(e) => e.get("message").and_then(Value::as_str).map(str::to_owned),
        None => v.get("message").and_then(Value::as_str).map(str::to_owned),
    }
}

pub struct HttpAgent {
    def: ProviderDef,
    host: gauntlet_sandbox::Host,
    redactor: Redactor,
}

impl HttpAgent {
    pub fn new(def: ProviderDef, host: &gauntlet_sandbox::Host) -> HttpAgent {
        HttpAgent {
            host: host.clone(),
            redactor: Redactor::for_provider(&def),
            def,
        }
    }
}

impl Provider for HttpAgent {
    fn complete<'a>(
        &'a self,
        req: ChatRequest<'a>,
        _ctx: &'a mut CallContext,
    ) -> BoxFuture<'a, Result<ChatResponse, ProviderError>> {
        Box::pin(async move {
            let call = Call::new(&self.def, &self.host, &self.redactor, generic_error);
            let Some(spec) = &self.def.http else {
                return Err(call.err(ErrorKind::InvalidRequest, "no `url` configured"));
            };
            let body = render_body(&spec.body, &request_context(&req));
            let method = reqwest::Method::from_bytes(spec.method.as_bytes())
                .unwrap_or(reqwest::Method::POST);
            let mut request = self.host.http().request(method, &spec.url).json(&body);
            if let Some(key) = &self.def.api_key {
                request = request.bearer_auth(key.expose());
            }
            request = http::with_headers(request, &self.def);
            let (response, _) = call.send(request).await?;
            let v = call.json(response).await?;
            let output = pick(&v, &spec.output).ok_or_else(|| {
                call.malformed(&format!("the response has nothing at `{}`", spec.output))
            })?;
            let count = |p: &Option<String>| {
                p.as_deref()
                    .and_then(|p| pick(&v, p))
                    .and_then(Value::as_u64)
                    .unwrap_or(0)
            };
            let mut reported = Vec::new();
            if let Some(p) = &spec.tool_calls {
                for c in pick(&v, p).and_then(Value::as_array).into_iter().flatten() {
                    reported.push(ReportedToolCall {
                        name: c
                            .get("name")
                            .and_then(Value::as_str)
                            .ok_or_else(|| call.malformed("a reported tool call without `name`"))?
                            .to_owned(),
                        args: c
                            .get("args")
                            .or_else(|| c.get("arguments"))
                            .cloned()
                            .unwrap_or_else(|| json!({})),
                        result: c.get("result").cloned(),
                    });
                }
            }
            let mut r = ChatResponse {
                text: self.redactor.scrub(&text_of(output)),
                usage: Tokens {
                    input: count(&spec.input_tokens),
                    output: count(&spec.output_tokens),
                },
                reported_tool_calls: reported,
                ..ChatResponse::default()
            };
            crate::estimate_usage(&req, &mut r);
            Ok(r)
        })
    }
}

/// A running agent process.
struct Proc {
    child: Child,
    /// The process's private directory and limits, when sandboxed.
    guard: gauntlet_sandbox::launch::Guard,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
    stderr: Arc<Mutex<VecDeque<String>>>,
}

/// Lines of stderr kept for error messages.
const STDERR_TAIL: usize = 20;

impl Proc {
    async fn spawn(agent: &ProcessAgent) -> Result<Proc, ProviderError> {
        let spec = agent.spec()?;
        let dir = match &spec.cwd {
            Some(c) => spec.dir.join(c),
            None => spec.dir.clone(),
        };
        let env: Vec<(String, String)> = spec
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.expose().to_owned()))
            .collect();
        let dir = if dir.as_os_str().is_empty() {
            ".".into()
        } else {
            dir
        };
        let launch = agent
            .host
            .command(&spec.command, &spec.args, &dir, &env)
            .map_err(|e| agent.err(ErrorKind::InvalidRequest, e.to_string()))?;
        let gauntlet_sandbox::Launch {
            command: mut cmd,
            guard,
        } = launch;
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|e| {
            agent.err(
                ErrorKind::InvalidRequest,
                format!("cannot start `{}`: {e}", spec.command),
            )
        })?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(agent.err(ErrorKind::Network, "the process has no stdio pipes"));
        };
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        let sink = Arc::clone(&tail);
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let mut t = sink.lock().unwrap_or_else(|p| p.into_inner());
                if t.len() == STDERR_TAIL {
                    t.pop_front();
                }
                t.push_back(line);
            }
        });
        let mut p = Proc {
            child,
            guard,
            stdin,
            stdout: BufReader::new(stdout).lines(),
            stderr: tail,
        };
        let startup = Duration::from_millis(spec.startup_timeout_ms);
        match p.recv(agent, startup).await {
            Ok(v) if v.get("type").and_then(Value::as_str) == Some("ready") => Ok(p),
            Ok(v) => Err(agent.err(
                ErrorKind::InvalidRequest,
                format!("expected `{{\"type\":\"ready\"}}` as the first line, got {v}"),
            )),
            Err(mut e) => {
                if e.kind == ErrorKind::Timeout {
                    e.message = format!(
                        "{}: did not print `{{\"type\":\"ready\"}}` within the start-up timeout of {} ms",
                        agent.def.name, spec.startup_timeout_ms
                    );
                }
                Err(e)
            }
        }
    }

    async fn send(&mut self, agent: &ProcessAgent, v: &Value) -> Result<(), ProviderError> {
        let mut line = v.to_string();
        line.push('\n');
        let r = self.stdin.write_all(line.as_bytes()).await;
        let r = match r {
            Ok(()) => self.stdin.flush().await,
            Err(e) => Err(e),
        };
        r.map_err(|e| self.died(agent, &format!("cannot write to the process: {e}")))
    }

    async fn recv(
        &mut self,
        agent: &ProcessAgent,
        limit: Duration,
    ) -> Result<Value, ProviderError> {
        loop {
            let line = match tokio::time::timeout(limit, self.stdout.next_line()).await {
                Err(_) => {
                    return Err(agent.err(
                        ErrorKind::Timeout,
                        format!("no answer within {} ms", limit.as_millis()),
                    ));
                }
                Ok(Err(e)) => return Err(self.died(agent, &format!("cannot read: {e}"))),
                Ok(Ok(None)) => return Err(self.died(agent, "the process closed its output")),
                Ok(Ok(Some(line))) => line,
            };
            if line.trim().is_empty() {
                continue;
            }
            let v: Value = serde_json::from_str(&line).map_err(|e| {
                agent.err(
                    ErrorKind::InvalidRequest,
                    format!(
                        "the process printed a line that is not JSON ({e}): {}",
                        line.chars().take(200).collect::<String>()
                    ),
                )
            })?;
            if v.get("type").and_then(Value::as_str) == Some("log") {
                continue;
            }
            return Ok(v);
        }
    }

    /// A network-class error naming the exit status and the end of stderr.
    fn died(&mut self, agent: &ProcessAgent, what: &str) -> ProviderError {
        let tail: Vec<String> = self
            .stderr
            .lock()
            .map(|t| t.iter().cloned().collect())
            .unwrap_or_default();
        let status = match self.child.try_wait() {
            Ok(Some(s)) => match self.guard.explain(s, &tail.join("\n")) {
                Some(why) => format!(" ({s}; {why})"),
                None => format!(" ({s})"),
            },
            _ => String::new(),
        };
        let stderr = if tail.is_empty() {
            String::new()
        } else {
            format!("; stderr: {}", tail.join(" | "))
        };
        agent.err(ErrorKind::Network, format!("{what}{status}{stderr}"))
    }
}

/// One step's conversation with a process; a pooled process goes back to the pool when the
/// conversation finished cleanly, otherwise it is killed.
struct Session {
    proc: Option<Proc>,
    pool: Option<Arc<Mutex<Vec<Proc>>>>,
    clean: bool,
}

impl Drop for Session {
    fn drop(&mut self) {
        if let (true, Some(pool), Some(p)) = (self.clean, &self.pool, self.proc.take()) {
            pool.lock().unwrap_or_else(|p| p.into_inner()).push(p);
        }
        // Otherwise the process is dropped, and `kill_on_drop` ends it.
    }
}

pub struct ProcessAgent {
    def: ProviderDef,
    host: gauntlet_sandbox::Host,
    redactor: Redactor,
    idle: Arc<Mutex<Vec<Proc>>>,
}

impl ProcessAgent {
    pub fn new(def: ProviderDef, host: &gauntlet_sandbox::Host) -> ProcessAgent {
        ProcessAgent {
            host: host.clone(),
            redactor: Redactor::for_provider(&def),
            def,
            idle: Arc::new(Mutex::new(Vec::new())),
        }
    }

    fn spec(&self) -> Result<&gauntlet_core::model::ProcessAgent, ProviderError> {
        self.def
            .process
            .as_ref()
            .ok_or_else(|| self.err(ErrorKind::InvalidRequest, "no `command` configured"))
    }

    fn err(&self, kind: ErrorKind, message: impl AsRef<str>) -> ProviderError {
        self.redactor.scrub_error(ProviderError::new(
            kind,
            format!("{}: {}", self.def.name, message.as_ref()),
        ))
    }

    async fn checkout(&self) -> Result<Session, ProviderError> {
        let pooled = self.spec()?.pool;
        let reused = if pooled {
            self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop()
        } else {
            None
        };
        let proc = match reused {
            Some(mut p) => match p.child.try_wait() {
                Ok(None) => p,
                _ => Proc::spawn(self).await?,
            },
            None => Proc::spawn(self).await?,
        };
        Ok(Session {
            proc: Some(proc),
            pool: pooled.then(|| Arc::clone(&self.idle)),
            clean: false,
        })
    }

    async fn exchange(
        &self,
        req: &ChatRequest<'_>,
        ctx: &mut CallContext,
    ) -> Result<ChatResponse, ProviderError> {
        let limit = http::timeout(&self.def);
        let resuming = ctx.session.as_ref().is_some_and(|s| {
            s.downcast_ref::<Session>()
                .is_some_and(|s| s.proc.is_some())
        });
        if !resuming {
            ctx.session = Some(Box::new(self.checkout().await?));
        }
        let Some(session) = ctx
            .session
            .as_mut()
            .and_then(|s| s.downcast_mut::<Session>())
        else {
            return Err(self.err(ErrorKind::Network, "lost the process session"));
        };
        let Some(proc) = session.proc.as_mut() else {
            return Err(self.err(ErrorKind::Network, "lost the process session"));
        };
        if resuming {
            // The tool results since the agent's last tool call.
            let start = req
                .messages
                .iter()
                .rposition(|m| m.role == Role::Assistant)
                .map_or(req.messages.len(), |i| i + 1);
            for m in &req.messages[start..] {
                let mut msg = json!({"type": "tool_result", "id": m.tool_call_id});
                match serde_json::from_str::<Value>(&m.content) {
                    Ok(Value::Object(o)) if o.len() == 1 && o.contains_key("error") => {
                        msg["error"] = o["error"].clone();
                    }
                    Ok(v) => msg["result"] = v,
                    Err(_) => msg["result"] = json!(m.content),
                }
                proc.send(self, &msg).await?;
            }
        } else {
            let mut request = request_context(req);
            request["type"] = json!("request");
            request["tools"] = req
                .tools
                .iter()
                .map(|t| json!({"name": t.name, "description": t.description, "parameters": t.parameters}))
                .collect();
            proc.send(self, &request).await?;
        }
        let v = proc.recv(self, limit).await?;
        match v.get("type").and_then(Value::as_str) {
            Some("tool_call") => Ok(ChatResponse {
                tool_calls: vec![ToolCall {
                    id: v
                        .get("id")
                        .and_then(Value::as_str)
                        .unwrap_or("call")
                        .to_owned(),
                    name: v
                        .get("name")
                        .and_then(Value::as_str)
                        .ok_or_else(|| {
                            self.err(ErrorKind::InvalidRequest, "a tool_call without `name`")
                        })?
                        .to_owned(),
                    args: v.get("args").cloned().unwrap_or_else(|| json!({})),
                }],
                ..ChatResponse::default()
            }),
            Some("final") => {
                session.clean = true;
                let n = |k: &str| {
                    v.pointer(&format!("/usage/{k}"))
                        .and_then(Value::as_u64)
                        .unwrap_or(0)
                };
                let response = ChatResponse {
                    text: self
                        .redactor
                        .scrub(&text_of(v.get("output").unwrap_or(&Value::Null))),
                    usage: Tokens {
                        input: n("input_tokens"),
                        output: n("output_tokens"),
                    },
                    ..ChatResponse::default()
                };
                // Ends the session: a pooled process goes back to the pool.
                ctx.session = None;
                Ok(response)
            }
            Some("error") => Err(self.err(
                v.get("kind")
                    .and_then(Value::as_str)
                    .and_then(|k| ErrorKind::ALL.into_iter().find(|e| e.as_str() == k))
                    .unwrap_or(ErrorKind::ServerError),
                v.get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("the agent reported an error"),
            )),
            _ => Err(self.err(
                ErrorKind::InvalidRequest,
                format!("unexpected message {v}; expected `tool_call`, `final` or `error`"),
            )),
        }
    }
}

impl Provider for ProcessAgent {
    fn complete<'a>(
        &'a self,
        req: ChatRequest<'a>,
        ctx: &'a mut CallContext,
    ) -> BoxFuture<'a, Result<ChatResponse, ProviderError>> {
        Box::pin(async move {
            let mut result = self.exchange(&req, ctx).await;
            if let Ok(r) = result.as_mut()
                && r.tool_calls.is_empty()
            {
                crate::estimate_usage(&req, r);
            }
            if result.is_err() {
                // A broken conversation is not resumed: the next call starts afresh.
                ctx.session = None;
            }
            result
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_by_pointer_and_path() {
        let v = json!({"a": {"b": [1, {"c": "x"}]}, "k y": 2});
        assert_eq!(pick(&v, "/a/b/1/c"), Some(&json!("x")));
        assert_eq!(pick(&v, "$.a.b[1].c"), Some(&json!("x")));
        assert_eq!(pick(&v, "$.a.b[-2]"), Some(&json!(1)));
        assert_eq!(pick(&v, "$['k y']"), Some(&json!(2)));
        assert_eq!(pick(&v, "$.a.missing"), None);
    }

    #[test]
    fn body_templates_keep_json_values() {
        let ctx = json!({"input": "hi", "vars": {"n": 3, "tags": ["a"]}});
        let body =
            json!({"q": "{{ input }}!", "n": "{{ vars.n }}", "tags": "{{ vars.tags }}", "k": 1});
        assert_eq!(
            render_body(&body, &ctx),
            json!({"q": "hi!", "n": 3, "tags": ["a"], "k": 1})
        );
    }
}
