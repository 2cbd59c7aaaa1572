//! The gateway's operations end to end: requests held for approval and decided by an admin,
//! an anomalous agent suspended and unsuspended (both in the audit log), a silent agent
//! reported on the alert webhook, and recorded traffic turned into a regression suite that
//! runs.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use crate::examples;
use crate::gateway::{ADMIN, SUPPORT, gateway};
use crate::providers::mock_server;

/// The example project in `dir/project`, its `gateway` block extended with `extra` lines
/// (indented as its keys) and its anomaly and zombie settings replaced.
fn project(dir: &Path, anomaly: &str, zombies: &str, extra: &str) -> PathBuf {
    let project = dir.join("project");
    std::fs::create_dir(&project).unwrap();
    std::fs::copy(
        examples().join("gateway/upstream.yaml"),
        project.join("upstream.yaml"),
    )
    .unwrap();
    let text = std::fs::read_to_string(examples().join("gateway/gateway.yaml")).unwrap();
    let mut out = String::new();
    for line in text.lines() {
        let line = if line.starts_with("  anomaly:") {
            anomaly
        } else if line.starts_with("  zombies:") {
            zombies
        } else {
            line
        };
        out.push_str(line);
        out.push('\n');
    }
    out.push_str(extra);
    std::fs::write(project.join("gateway.yaml"), out).unwrap();
    project
}

/// A webhook receiver: every POST body it got, in order.
fn webhook() -> (String, Arc<Mutex<Vec<serde_json::Value>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/alerts", listener.local_addr().unwrap());
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&got);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_ok()
                && let Ok(v) = serde_json::from_slice(&body)
            {
                sink.lock().unwrap().push(v);
            }
            let _ = reader.get_mut().write_all(
                b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            );
        }
    });
    (url, got)
}

fn python(dir: &Path, script: &str, args: &[&str]) -> String {
    crate::providers::python(dir, &[PRELUDE, script].concat(), args)
}

/// The audit log's actions, in order.
fn audit_actions(dir: &Path) -> Vec<serde_json::Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_gauntlet"))
        .args(["audit", "export"])
        .env("GAUNTLET_DATABASE_URL", dir.join("store.db"))
        .env("GAUNTLET_AUDIT_KEY", dir.join("audit.pem"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn has(events: &[serde_json::Value], action: &str) -> bool {
    events
        .iter()
        .any(|e| e.to_string().contains(&format!("\"{action}\"")))
}

/// What both scripts start with: the arguments and one JSON call with a key.
const PRELUDE: &str = r#"
import json, re, sys, threading, time, urllib.request, urllib.error
base, support, admin = sys.argv[1], sys.argv[2], sys.argv[3]

def call(key, method, path, body=None):
    req = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode() if body is not None else None,
                                 headers={"authorization": "Bearer " + key, "content-type": "application/json"})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())
"#;

const APPROVALS: &str = r#"
def chat(text):
    return call(support, "POST", "/v1/chat/completions", {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]})

# Recorded traffic: plain exchanges, one with PII (recorded as the provider saw it).
for text in ["hello there", "Mail me at jane.doe@acme-corp.com", "what are your opening hours"]:
    status, body = chat(text)
    assert status == 200, body

# A refund is held for approval; undecided within the wait, it is answered "pending".
started = time.time()
status, body = chat("please refund order 7")
assert status == 403 and time.time() - started >= 1.5, (status, body, time.time() - started)
message = body["error"]["message"]
assert "approval" in message and "refunds need a person" in message, message
first = re.search(r"ap_[0-9a-f]+", message).group(0)
status, queue = call(admin, "GET", "/gateway/v1/approvals?state=pending")
assert [a["id"] for a in queue["approvals"]] == [first], queue
assert queue["approvals"][0]["preview"].startswith("please refund order 7"), queue

# The agent's own key cannot decide; an admin approves while the same request waits.
status, body = call(support, "POST", f"/gateway/v1/approvals/{first}/approve")
assert status == 403, (status, body)
result = {}
waiting = threading.Thread(target=lambda: result.update(r=chat("please refund order 7")))
waiting.start()
time.sleep(0.5)
status, body = call(admin, "POST", f"/gateway/v1/approvals/{first}/approve", {"note": "customer verified"})
assert status == 200 and body["state"] == "approved" and body["decided_by"] == "key:admin", body
waiting.join()
status, body = result["r"]
assert status == 200 and body["choices"][0]["message"]["content"] == "You wrote: please refund order 7", body
status, body = call(admin, "POST", f"/gateway/v1/approvals/{first}/deny")
assert status == 409, (status, body)

# An approval lets one request through: the next asks again, and a denial refuses it.
status, body = chat("please refund order 7")
second = re.search(r"ap_[0-9a-f]+", body["error"]["message"]).group(0)
assert status == 403 and second != first, body
status, body = call(admin, "POST", f"/gateway/v1/approvals/{second}/deny", {"note": "already refunded"})
assert status == 200 and body["state"] == "denied", body
status, body = chat("please refund order 7")
assert status == 403 and "denied by key:admin" in body["error"]["message"] and "already refunded" in body["error"]["message"], body
status, listed = call(admin, "GET", "/gateway/v1/approvals")
assert sorted(a["state"] for a in listed["approvals"]) == ["denied", "used"], listed
print("approvals OK")
"#;

#[test]
fn a_held_request_waits_for_an_admin_and_recorded_traffic_becomes_a_suite_that_runs() {
    let upstream = mock_server(&examples().join("gateway/upstream.yaml"));
    let dir = tempfile::tempdir().unwrap();
    let project = project(
        dir.path(),
        "  anomaly: { enabled: false }",
        "  zombies: { repeat_limit: 8 }",
        "  approvals: { wait_seconds: 2 }\n  record: { dir: traffic }\n",
    );
    // The held-for-approval policy joins the example's guardrails.
    let yaml = std::fs::read_to_string(project.join("gateway.yaml"))
        .unwrap()
        .replace(
            "  guardrails:\n",
            "  guardrails:\n    - { name: refunds, check: policy, rego: \"package refunds\\nrequire_approval contains m if { contains(input.messages[_].text, \\\"refund\\\"); m := \\\"refunds need a person\\\" }\" }\n",
        );
    std::fs::write(project.join("gateway.yaml"), yaml).unwrap();
    let gw = gateway(&project, dir.path(), &upstream.url, None);
    python(dir.path(), APPROVALS, &[&gw.url, SUPPORT, ADMIN]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    drop(gw);
    let events = audit_actions(dir.path());
    for action in [
        "gateway.approval.request",
        "gateway.approve",
        "gateway.approval.use",
        "gateway.reject",
    ] {
        assert!(has(&events, action), "no {action} in the audit log");
    }

    // The recording holds what the provider saw, never the caller's address.
    let traffic = project.join("traffic");
    let recorded: String = std::fs::read_dir(&traffic)
        .unwrap()
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    assert!(recorded.contains("[EMAIL_1]"), "{recorded}");
    assert!(!recorded.contains("jane.doe"), "{recorded}");
    assert_eq!(
        recorded
            .matches("\"content\":\"please refund order 7\"")
            .count(),
        1,
        "only the approved one"
    );

    let generated = project.join("regression.yaml");
    let out = Command::new(env!("CARGO_BIN_EXE_gauntlet"))
        .args(["generate-tests", "--traffic"])
        .arg(&traffic)
        .arg("-o")
        .arg(&generated)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("4 case(s)"), "{err}");
    let run = Command::new(env!("CARGO_BIN_EXE_gauntlet"))
        .args(["run"])
        .arg(&project)
        .args(["--suite", "traffic"])
        .env("UPSTREAM_URL", &upstream.url)
        .env("UPSTREAM_KEY", "sk-upstream")
        .env("GATEWAY_KEY_SUPPORT", SUPPORT)
        .env("GATEWAY_KEY_ADMIN", ADMIN)
        .env("GAUNTLET_DATABASE_URL", dir.path().join("run.db"))
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "the generated suite runs:\n{}\n{}\n{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr),
        std::fs::read_to_string(&generated).unwrap()
    );
}

const BURST: &str = r#"
n = [0]
def chat():
    n[0] += 1
    return call(support, "POST", "/v1/chat/completions", {"model": "gpt-4o-mini", "max_tokens": 5, "messages": [{"role": "user", "content": f"request {n[0]}"}]})

# Quiet windows teach the baseline: two requests a second.
for _ in range(8):
    assert chat()[0] == 200
    time.sleep(0.5)
# Then a burst: the agent is suspended within it.
codes = [chat() for _ in range(80)]
refused = [b for s, b in codes if s == 403]
assert refused and "suspended" in refused[0]["error"]["message"], codes[-1]
agents = call(admin, "GET", "/gateway/v1/agents")[1]["agents"]
bot = [a for a in agents if a["name"] == "support-bot"][0]
assert bot["switch"]["state"] == "suspended" and bot["switch"]["actor"] == "gauntlet.anomaly", bot
# An admin lifts the suspension; the agent works again.
status, body = call(admin, "DELETE", "/gateway/v1/switches/agent/support-bot")
assert status == 200 and body["lifted"] == "suspended", body
assert chat()[0] == 200
print("anomaly OK")
"#;

#[test]
fn an_anomalous_agent_is_suspended_an_admin_lifts_it_and_a_silent_agent_is_reported() {
    let upstream = mock_server(&examples().join("gateway/upstream.yaml"));
    let (hook, alerts) = webhook();
    let dir = tempfile::tempdir().unwrap();
    let project = project(
        dir.path(),
        "  anomaly: { window_seconds: 1, learn_windows: 2, factor: 4, min_requests: 10 }",
        "  zombies: { silent_after_seconds: 2, repeat_limit: 8 }",
        &format!("  alert_webhook: {hook}\n"),
    );
    let gw = gateway(&project, dir.path(), &upstream.url, None);
    python(dir.path(), BURST, &[&gw.url, SUPPORT, ADMIN]);
    // Then the agent falls silent: reported once on the webhook.
    let started = std::time::Instant::now();
    while !alerts
        .lock()
        .unwrap()
        .iter()
        .any(|a| a["alert"] == "agent_silent" && a["agent"] == "support-bot")
    {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "no zombie alert: {:?}",
            alerts.lock().unwrap()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    std::thread::sleep(std::time::Duration::from_millis(1500));
    drop(gw);
    let got = alerts.lock().unwrap().clone();
    assert!(
        got.iter()
            .any(|a| a["alert"] == "agent_suspended" && a["agent"] == "support-bot"),
        "{got:?}"
    );
    assert_eq!(
        got.iter()
            .filter(|a| a["alert"] == "agent_silent" && a["agent"] == "support-bot")
            .count(),
        1,
        "one alert per silence: {got:?}"
    );
    let events = audit_actions(dir.path());
    let suspend = events
        .iter()
        .position(|e| e.to_string().contains("\"gateway.suspend\""));
    let lift = events
        .iter()
        .position(|e| e.to_string().contains("\"gateway.unsuspend\""));
    assert!(
        matches!((suspend, lift), (Some(s), Some(l)) if s < l),
        "the audit log shows the suspension, then the admin lifting it"
    );
    assert!(has(&events, "gateway.zombie"));
}
