//! MCP servers from the npm registry (installed by `scripts/mcp-servers`): the example
//! project, a server killed in the middle of a suite, and a server that never starts.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

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

#[test]
fn a_server_killed_mid_suite_is_restarted_and_the_suite_passes() {
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    // The server runs behind a shell that records each start, so the test can kill it.
    let yaml = format!(
        r#"
mcp_servers:
  everything:
    command: sh
    args: ["-c", "echo $$ >> {pids}; exec node {server} stdio"]
suites:
  slow:
    target: mcp:everything
    cases:
      - id: long
        tool: trigger-long-running-operation
        input: {{ duration: 4, steps: 4 }}
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
    let child = Command::new(env!("CARGO_BIN_EXE_gauntlet"))
        .args(["run", ".", "-j", "1"])
        .current_dir(dir.path())
        .env("GAUNTLET_DATABASE_URL", dir.path().join("store.db"))
        .env("GAUNTLET_AUDIT_KEY", dir.path().join("audit.pem"))
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the server, give the long operation time to start, then kill the server.
    let started = Instant::now();
    while !pids.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the server never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(1500));
    let first = std::fs::read_to_string(&pids).unwrap();
    let status = Command::new("kill")
        .args(["-9", first.trim()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    let starts = std::fs::read_to_string(&pids).unwrap();
    assert_eq!(
        starts.lines().count(),
        2,
        "the server was started again after it died: {starts}"
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
