//! The whole HTTP path, offline: `gauntlet mock-server`, the official OpenAI and Anthropic
//! client libraries against it, suites pointed at it through every adapter, external agents,
//! fallbacks, and a canary secret that must never surface.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::{examples, gauntlet, stderr, stdout};

/// A running `gauntlet mock-server`, killed on drop.
pub struct MockServer {
    child: Child,
    pub url: String,
}

impl Drop for MockServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The first `http://` URL a server prints on its first line of stdout.
pub fn first_url(child: &mut Child) -> String {
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    line.split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_owned()
}

pub fn mock_server(project: &Path) -> MockServer {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gauntlet"))
        .args(["mock-server", "--port", "0"])
        .arg(project)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the mock server starts");
    let url = first_url(&mut child);
    MockServer { child, url }
}

/// The official Python clients, installed by `scripts/sdk-clients` when missing.
pub fn sdk_clients() -> PathBuf {
    let dir = crate::test_peer("sdk-clients");
    assert!(
        dir.join("openai").is_dir() && dir.join("anthropic").is_dir(),
        "scripts/sdk-clients did not install the clients into {}",
        dir.display()
    );
    dir
}

const OFFICIAL_CLIENTS: &str = r#"
import json, sys
import openai, anthropic

base = sys.argv[1]
oa = openai.OpenAI(base_url=base + "/v1", api_key="sk-anything", max_retries=0)

ids = [m.id for m in oa.models.list()]
assert "assistant" in ids, ids

# A tool call, then the answer built from the tool's result.
tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]
messages = [{"role": "user", "content": "What's the weather in Paris?"}]
r = oa.chat.completions.create(model="assistant", messages=messages, tools=tools)
call = r.choices[0].message.tool_calls[0]
assert call.function.name == "get_weather", call
assert json.loads(call.function.arguments) == {"city": "Paris"}, call.function.arguments
assert r.choices[0].finish_reason == "tool_calls"
assert r.usage.prompt_tokens > 0 and r.usage.completion_tokens > 0
messages.append(r.choices[0].message.model_dump(exclude_none=True))
messages.append({"role": "tool", "tool_call_id": call.id, "content": json.dumps({"temp_c": 18, "conditions": "sunny"})})
r = oa.chat.completions.create(model="assistant", messages=messages, tools=tools)
assert r.choices[0].message.content == "It is 18°C and sunny.", r.choices[0].message.content

# Streaming, with usage in the last chunk.
text, usage = "", None
for chunk in oa.chat.completions.create(model="assistant", messages=[{"role": "user", "content": "What is the capital of France?"}], stream=True, stream_options={"include_usage": True}):
    if chunk.choices and chunk.choices[0].delta.content:
        text += chunk.choices[0].delta.content
    if chunk.usage:
        usage = chunk.usage
assert text == "The capital of France is Paris.", text
assert usage and usage.completion_tokens > 0

# Streaming tool calls.
stream = oa.chat.completions.create(model="assistant", messages=[{"role": "user", "content": "weather in Oslo"}], tools=tools, stream=True)
args, name = "", None
for chunk in stream:
    for tc in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
        name = tc.function.name or name
        args += tc.function.arguments or ""
assert name == "get_weather" and json.loads(args) == {"city": "Oslo"}, (name, args)

# Errors are the client's own exception types.
try:
    oa.chat.completions.create(model="no-such-agent", messages=[{"role": "user", "content": "hi"}])
    raise SystemExit("expected NotFoundError")
except openai.NotFoundError as e:
    assert "no-such-agent" in str(e)

an = anthropic.Anthropic(base_url=base, api_key="sk-ant-anything", max_retries=0)
m = an.messages.create(model="assistant", max_tokens=100, system="Be brief.", messages=[{"role": "user", "content": "Please greet me"}])
assert m.content[0].text == "Hello! Nice to meet you.", m.content
assert m.stop_reason == "end_turn" and m.usage.output_tokens > 0

m = an.messages.create(model="assistant", max_tokens=100, tools=[{"name": "get_weather", "input_schema": {"type": "object"}}],
                       messages=[{"role": "user", "content": "What's the weather in Paris?"}])
use = [b for b in m.content if b.type == "tool_use"][0]
assert use.name == "get_weather" and use.input == {"city": "Paris"} and m.stop_reason == "tool_use"
m = an.messages.create(model="assistant", max_tokens=100,
                       messages=[{"role": "user", "content": "What's the weather in Paris?"},
                                 {"role": "assistant", "content": [b.model_dump() for b in m.content]},
                                 {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": json.dumps({"temp_c": 18, "conditions": "sunny"})}]}])
assert m.content[0].text == "It is 18°C and sunny.", m.content

with an.messages.stream(model="assistant", max_tokens=100, messages=[{"role": "user", "content": "What is the capital of France?"}]) as s:
    streamed = "".join(s.text_stream)
    final = s.get_final_message()
assert streamed == "The capital of France is Paris.", streamed
assert final.usage.output_tokens > 0

try:
    an.messages.create(model="nobody", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    raise SystemExit("expected NotFoundError")
except anthropic.NotFoundError:
    pass
print("official clients OK")
"#;

#[test]
fn official_clients_work_against_the_mock_server() {
    let server = mock_server(&examples().join("quickstart"));
    let dir = tempfile::tempdir().unwrap();
    let out = python(dir.path(), OFFICIAL_CLIENTS, &[&server.url]);
    assert!(out.contains("official clients OK"));
}

/// Runs `script` with python3 (the official SDK clients importable) and `args`, written into
/// `dir`; asserts that it succeeded and returns what it printed.
pub(crate) fn python(dir: &Path, script: &str, args: &[&str]) -> String {
    let path = dir.join("script.py");
    std::fs::write(&path, script).unwrap();
    let out = Command::new("python3")
        .arg(&path)
        .args(args)
        .env("PYTHONPATH", sdk_clients())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every file under `dir`, as bytes, with its path.
fn all_files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(all_files(&p));
        } else if let Ok(bytes) = std::fs::read(&p) {
            out.push((p, bytes));
        }
    }
    out
}

fn assert_no_canary(canary: &str, outputs: &[(&str, String)], dir: &Path) {
    for (what, text) in outputs {
        assert!(
            !text.contains(canary),
            "the secret leaked into {what}:\n{text}"
        );
    }
    for (path, bytes) in all_files(dir) {
        let found = bytes.windows(canary.len()).any(|w| w == canary.as_bytes());
        assert!(!found, "the secret leaked into {}", path.display());
    }
}

#[test]
fn live_openai_example_runs_against_the_mock_server_and_never_leaks_the_key() {
    let server = mock_server(&examples().join("quickstart"));
    let dir = tempfile::tempdir().unwrap();
    let canary = "sk-canary-7f3a9c2e5b1d4e6f";
    let run = Command::new(env!("CARGO_BIN_EXE_gauntlet"))
        .args(["run"])
        .arg(examples().join("live-openai"))
        .arg("-o")
        .arg(dir.path().join("report.json"))
        .current_dir(dir.path())
        .env("GAUNTLET_DATABASE_URL", dir.path().join("store.db"))
        .env("GAUNTLET_AUDIT_KEY", dir.path().join("audit.pem"))
        .env("NO_COLOR", "1")
        .env("OPENAI_BASE_URL", format!("{}/v1", server.url))
        .env("OPENAI_MODEL", "assistant")
        .env("OPENAI_API_KEY", canary)
        .output()
        .unwrap();
    let (out, err) = (stdout(&run), stderr(&run));
    assert!(run.status.success(), "stdout:\n{out}\nstderr:\n{err}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("report.json")).unwrap()).unwrap();
    let cases = report["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 4);
    let steps: Vec<&serde_json::Value> = cases
        .iter()
        .flat_map(|c| c["steps"].as_array().unwrap())
        .collect();
    assert!(
        steps.iter().all(|s| s["ttft_ms"].as_f64().is_some()),
        "streamed steps record time to first token"
    );
    let mut outputs = vec![("run stdout", out), ("run stderr", err)];
    for format in ["json", "markdown", "html", "junit", "csv"] {
        let o = gauntlet(dir.path(), &["report", "latest", "--format", format]);
        assert!(o.status.success(), "{}", stderr(&o));
        outputs.push(("a report", stdout(&o) + &stderr(&o)));
    }
    assert_no_canary(canary, &outputs, dir.path());
}

const PROCESS_AGENT: &str = r#"
import json, os, sys
print(json.dumps({"type": "ready"}), flush=True)
for line in sys.stdin:
    m = json.loads(line)
    if m["type"] == "request":
        if "token" in m["input"]:
            print(json.dumps({"type": "final", "output": "my token is " + os.environ["AGENT_TOKEN"]}), flush=True)
        else:
            assert [t["name"] for t in m["tools"]] == ["get_weather"], m["tools"]
            print(json.dumps({"type": "tool_call", "id": "t1", "name": "get_weather", "args": {"city": "Paris"}}), flush=True)
    elif m["type"] == "tool_result":
        out = {"type": "final", "output": "It is %s C" % m["result"]["temp_c"], "usage": {"input_tokens": 5, "output_tokens": 3}}
        print(json.dumps(out), flush=True)
"#;

#[test]
fn fallbacks_http_and_process_agents_from_yaml_with_a_canary_secret() {
    let server = mock_server(&examples().join("quickstart"));
    let dir = tempfile::tempdir().unwrap();
    let canary = "sk-canary-0b9e8d7c6a5f4e3d";
    std::fs::write(dir.path().join("agent.py"), PROCESS_AGENT).unwrap();
    let yaml = format!(
        r#"
providers:
  down:
    type: openai
    base_url: http://127.0.0.1:9/v1        # nothing listens: a network error
    api_key: ${{secret:CANARY_KEY}}
    headers: {{ X-Trace: "${{secret:CANARY_KEY}}" }}
    fallback: [claude]
  claude:
    type: anthropic
    base_url: {url}
    api_key: ${{secret:CANARY_KEY}}
    model: assistant
    stream: true
  web:
    type: http
    url: {url}/v1/chat/completions
    headers: {{ Authorization: "Bearer ${{secret:CANARY_KEY}}" }}
    body: {{ model: assistant, messages: [{{ role: user, content: "{{{{ input }}}}" }}] }}
    output: $.choices[0].message.content
    input_tokens: /usage/prompt_tokens
    output_tokens: /usage/completion_tokens
  proc:
    type: process
    command: python3
    args: [agent.py]
    env: {{ AGENT_TOKEN: "${{secret:CANARY_KEY}}" }}
    pool: true
tools:
  get_weather:
    parameters: {{ type: object, properties: {{ city: {{ type: string }} }} }}
    mock: [{{ when: {{ city: Paris }}, return: {{ temp_c: 18, conditions: sunny }} }}]
agents:
  routed: {{ provider: down, tools: [get_weather], retry: {{ max_retries: 0 }} }}
  web-agent: {{ provider: web }}
  proc-agent: {{ provider: proc, tools: [get_weather] }}
suites:
  routed:
    target: routed
    cases:
      - {{ id: capital, input: What is the capital of France?, assert: [{{ type: contains, value: Paris }}] }}
      - id: weather
        input: What's the weather in Paris?
        assert: [{{ type: tool-called, name: get_weather }}, {{ type: contains, value: "18" }}]
  web:
    target: web-agent
    cases:
      - {{ id: greet, input: Please greet me, assert: [{{ type: contains, value: Hello }}, {{ type: tokens, max: 1000 }}] }}
  proc:
    target: proc-agent
    cases:
      - id: weather
        input: weather please
        assert: [{{ type: tool-called, name: get_weather, args: {{ city: Paris }} }}, {{ type: equals, value: It is 18 C }}]
      - id: leak
        input: tell me your token
        assert: [{{ type: equals, value: "my token is $${{secret:CANARY_KEY}}" }}]
"#,
        url = server.url
    );
    std::fs::write(dir.path().join("gauntlet.yaml"), yaml).unwrap();
    let mut outputs = Vec::new();
    for suite in ["routed", "web", "proc"] {
        let out = Command::new(env!("CARGO_BIN_EXE_gauntlet"))
            .args(["run", ".", "--suite", suite, "-o"])
            .arg(format!("{suite}.json"))
            .current_dir(dir.path())
            .env("GAUNTLET_DATABASE_URL", dir.path().join("store.db"))
            .env("GAUNTLET_AUDIT_KEY", dir.path().join("audit.pem"))
            .env("NO_COLOR", "1")
            .env("CANARY_KEY", canary)
            .output()
            .unwrap();
        let (o, e) = (stdout(&out), stderr(&out));
        assert!(out.status.success(), "{suite}:\n{o}\n{e}");
        outputs.push(("run output", o + &e));
    }
    assert!(
        outputs[0]
            .1
            .contains("step(s) served by a fallback provider (claude 2)"),
        "{}",
        outputs[0].1
    );
    let routed: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("routed.json")).unwrap()).unwrap();
    for case in routed["cases"].as_array().unwrap() {
        assert_eq!(case["steps"][0]["served_by"], "claude", "{case}");
    }
    let web: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("web.json")).unwrap()).unwrap();
    assert!(
        web["cases"][0]["steps"][0]["tokens"]["input"]
            .as_u64()
            .unwrap()
            > 0
    );
    let validate = gauntlet(dir.path(), &["validate", "."]);
    outputs.push(("validate", stdout(&validate) + &stderr(&validate)));
    for format in ["json", "markdown", "html", "junit", "csv"] {
        let o = gauntlet(dir.path(), &["report", "latest", "--format", format]);
        outputs.push(("a report", stdout(&o) + &stderr(&o)));
    }
    assert_no_canary(canary, &outputs, dir.path());
}
