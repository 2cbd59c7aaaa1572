//! MCP servers from the npm registry (installed by `scripts/mcp-servers`): the example
//! project, a server killed in the middle of a suite, and a server that never starts.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::{examples, stderr, stdout};

/// The pinned reference servers, installed by `scripts/mcp-servers` when missing.
pub fn servers() -> PathBuf {
    let dir = crate::test_peer("mcp-servers");
    assert!(
        dir.join("node_modules/@modelcontextprotocol/server-everything/dist/index.js")
            .is_file(),
        "scripts/mcp-servers did not install server-everything into {}",
        dir.display()
    );
    dir
}

fn run(dir: &Path, project: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gauntlet"))
        .arg("run")
        .arg(project)
        .args(extra)
        .current_dir(dir)
        .env("GAUNTLET_DATABASE_URL", dir.join("store.db"))
        .env("GAUNTLET_AUDIT_KEY", dir.join("audit.pem"))
        .env("GAUNTLET_MCP_SERVERS", servers())
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

#[test]
fn the_mcp_example_passes_against_the_reference_servers() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &examples().join("mcp"), &[]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("PASSED suite everything-direct"), "{text}");
    assert!(text.contains("PASSED suite agent-with-mcp-tools"), "{text}");
}

/// Starts the real server behind a pass-through on stdio that records each start and, the
/// first time, dies (with the server) right after forwarding the long-running tool call: the
/// server is killed in the middle of a call, at the same point on every run.
const DYING_PROXY: &str = r#"
import os, subprocess, sys
pids, server = sys.argv[1], sys.argv[2]
with open(pids, "a") as f:
    f.write("%d\n" % os.getpid())
first = sum(1 for _ in open(pids)) == 1
child = subprocess.Popen(["node", server, "stdio"], stdin=subprocess.PIPE)
for line in sys.stdin.buffer:
    child.stdin.write(line)
    child.stdin.flush()
    if first and b"tools/call" in line and b"trigger-long-running-operation" in line:
        child.kill()
        os._exit(1)
child.stdin.close()
child.wait()
"#;

#[test]
fn a_server_killed_mid_suite_is_restarted_and_the_suite_passes() {
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    std::fs::write(dir.path().join("proxy.py"), DYING_PROXY).unwrap();
    let yaml = format!(
        r#"
mcp_servers:
  everything:
    command: python3
    args: [proxy.py, "{pids}", "{server}"]
suites:
  slow:
    target: mcp:everything
    cases:
      - id: long
        tool: trigger-long-running-operation
        input: {{ duration: 1, steps: 2 }}
        assert: [{{ type: icontains, value: completed }}]
      - id: echo-after
        tool: echo
        input: {{ message: still here }}
        assert: [{{ type: equals, value: "Echo: still here" }}]
"#,
        pids = pids.display(),
        server = servers()
            .join("node_modules/@modelcontextprotocol/server-everything/dist/index.js")
            .display(),
    );
    std::fs::write(dir.path().join("gauntlet.yaml"), yaml).unwrap();
    let out = run(dir.path(), Path::new("."), &["-j", "1"]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    let starts = std::fs::read_to_string(&pids).unwrap();
    assert_eq!(
        starts.lines().count(),
        2,
        "the server died during the call and was started again: {starts}"
    );
}

#[test]
fn a_server_that_cannot_start_fails_its_cases_clearly() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("gauntlet.yaml"),
        r#"
mcp_servers:
  broken:
    command: sh
    args: ["-c", "echo 'missing module' >&2; exit 1"]
    startup_timeout_ms: 5000
suites:
  direct:
    target: mcp:broken
    cases:
      - { id: one, tool: echo, input: { message: hi }, assert: [{ type: contains, value: hi }] }
"#,
    )
    .unwrap();
    let out = run(dir.path(), Path::new("."), &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("MCP server `broken` is unavailable"),
        "{text}"
    );
    let report = crate::gauntlet(dir.path(), &["report", "latest", "--format", "json"]);
    let report: serde_json::Value = serde_json::from_str(&stdout(&report)).unwrap();
    let reason = report["cases"][0]["reason"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        reason.contains("missing module"),
        "the server's stderr is quoted: {reason}"
    );
}

#[test]
fn a_strict_replay_needs_no_mcp_server() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("mcp");
    std::fs::create_dir_all(project.join("files")).unwrap();
    for f in ["gauntlet.yaml", "files/policy.txt"] {
        std::fs::copy(examples().join("mcp").join(f), project.join(f)).unwrap();
    }
    let suite = ["--suite", "agent-with-mcp-tools", "--seed", "3"];
    let recorded = run(dir.path(), &project, &[&suite[..], &["--record"]].concat());
    assert!(
        recorded.status.success(),
        "{}\n{}",
        stdout(&recorded),
        stderr(&recorded)
    );
    // The servers cannot start now: the replay answers every tool call from the recording.
    let replay = Command::new(env!("CARGO_BIN_EXE_gauntlet"))
        .arg("run")
        .arg(&project)
        .args(suite)
        .args(["--replay", "strict"])
        .current_dir(dir.path())
        .env("GAUNTLET_DATABASE_URL", dir.path().join("store.db"))
        .env("GAUNTLET_AUDIT_KEY", dir.path().join("audit.pem"))
        .env("GAUNTLET_MCP_SERVERS", "/nonexistent")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(
        replay.status.success(),
        "{}\n{}",
        stdout(&replay),
        stderr(&replay)
    );
    assert!(stdout(&replay).contains("passed 3"), "{}", stdout(&replay));
}
