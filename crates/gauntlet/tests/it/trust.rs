//! The trust boundary from the outside: `gauntlet run --sandbox` applies the server's policy
//! locally; `gauntlet serve` gives a tenant none of its environment, files or programs; and
//! the same suite run by the CLI and by the server is recorded the same, with bundles that
//! both verify offline.

use std::io::BufRead;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::serve::{call, call_raw, wait_until};
use crate::{examples, gauntlet, stdout};

const SUITE: &str = "providers:\n  mock:\n    type: mock\nagents:\n  bot:\n    provider: mock\n    mock: { echo: true }\nsuites:\n  s:\n    target: bot\n    cases:\n      - id: c\n        input: \"value=${HOME:-none}\"\n        assert:\n          - type: custom\n            command: [sh, -c, \"id > marker; echo '{\\\"pass\\\":true}'\"]\n";

#[test]
fn run_sandbox_applies_the_servers_policy_locally() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("suite.yaml"), SUITE).unwrap();
    let out = gauntlet(dir.path(), &["run", "--sandbox", "suite.yaml"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("suite.yaml:16:22: error: running the program `sh` is not allowed here [capability.programs]"),
        "{err}"
    );
    assert!(!dir.path().join("marker").exists());
    // Without the program, the suite runs, and sees none of the environment.
    let plain = SUITE.split("        assert:").next().unwrap_or_default();
    std::fs::write(dir.path().join("suite.yaml"), plain).unwrap();
    let out = gauntlet(
        dir.path(),
        &["run", "--sandbox", "suite.yaml", "-o", "r.json"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = std::fs::read_to_string(dir.path().join("r.json")).unwrap();
    assert!(report.contains("value=none"), "{report}");
    // The operator's own run keeps the operator's powers.
    let out = gauntlet(dir.path(), &["run", "suite.yaml", "-o", "r.json"]);
    assert!(out.status.success());
    let report = std::fs::read_to_string(dir.path().join("r.json")).unwrap();
    assert!(!report.contains("value=none"), "{report}");
}

fn server_with_tenant(dir: &Path, env: &[(&str, &str)]) -> (crate::serve::Server, String) {
    let db = dir.join("server.db").display().to_string();
    crate::serve::server_with_tenant(dir, &db, env)
}

fn run_on_server(s: &crate::serve::Server, key: &str, request: Value) -> String {
    let (st, run) = call(s, key, "POST", "/api/v1/runs", Some(&request));
    assert_eq!(st, 202, "{run}");
    let id = run["id"].as_str().unwrap_or_default().to_owned();
    let done = wait_until("the run to end", Duration::from_secs(60), || {
        let (_, v) = call(s, key, "GET", &format!("/api/v1/runs/{id}"), None);
        matches!(
            v["state"].as_str(),
            Some("succeeded" | "failed" | "cancelled")
        )
        .then_some(v)
    });
    assert_eq!(done["state"], "succeeded", "{done}");
    id
}

#[test]
fn the_reproductions_fail_safely_against_gauntlet_serve() {
    let dir = tempfile::tempdir().unwrap();
    let (s, key) = server_with_tenant(dir.path(), &[("SERVER_SECRET", "the-servers-own-secret")]);
    // A custom command is refused at upload, with its location.
    let (st, body) = call(
        &s,
        &key,
        "POST",
        "/api/v1/suites",
        Some(&json!({"name": "attack", "files": {"suite.yaml": SUITE}})),
    );
    assert_eq!(
        (st, body["code"].as_str()),
        (422, Some("capability_denied")),
        "{body}"
    );
    assert_eq!(body["details"]["errors"][0]["line"], 16);
    assert!(!dir.path().join("marker").exists());
    // The server's environment does not reach a case.
    let leak = "providers:\n  mock:\n    type: mock\nagents:\n  bot:\n    provider: mock\n    mock: { echo: true }\nsuites:\n  s:\n    target: bot\n    cases:\n      - id: c\n        input: \"value=${SERVER_SECRET:-none}\"\n";
    let (st, body) = call(
        &s,
        &key,
        "POST",
        "/api/v1/suites",
        Some(&json!({"name": "leak", "files": {"suite.yaml": leak}})),
    );
    assert_eq!(st, 201, "{body}");
    let id = run_on_server(&s, &key, json!({"suite": "leak"}));
    let (_, results) = call(&s, &key, "GET", &format!("/api/v1/runs/{id}/results"), None);
    assert_eq!(results["cases"][0]["input"], "value=none", "{results}");
    assert!(!results.to_string().contains("the-servers-own-secret"));
}

/// The records of a bundle: (kind, data).
fn bundle_records(bytes: &[u8]) -> Vec<(String, Value)> {
    let reader = std::io::BufReader::new(flate2::read::GzDecoder::new(bytes));
    reader
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| serde_json::from_str::<Value>(&l).ok())
        .map(|v| {
            (
                v["kind"].as_str().unwrap_or_default().to_owned(),
                v["data"].clone(),
            )
        })
        .collect()
}

/// What must agree between two runs of one suite: each case's outcome, the totals, and the
/// kinds of the run's audit events.
fn essence(records: &[(String, Value)]) -> Value {
    let mut cases: Vec<Value> = records
        .iter()
        .filter(|(k, _)| k == "case")
        .map(|(_, c)| {
            json!([
                c["id"],
                c["target"],
                c["trial"],
                c["status"],
                c["score"],
                c["output"],
                c["tokens"],
                c["cost_usd"]
            ])
        })
        .collect();
    cases.sort_by_key(|c| c.to_string());
    let run = records
        .iter()
        .find(|(k, _)| k == "run")
        .map(|(_, r)| r.clone())
        .unwrap_or_default();
    let totals = &run["totals"];
    let events: Vec<Value> = records
        .iter()
        .filter(|(k, _)| k == "event")
        .map(|(_, e)| e["event"]["action"].clone())
        // The server's request to run (`api.mutation`) has no CLI counterpart.
        .filter(|a| a.as_str().is_some_and(|a| a.starts_with("run.")))
        .collect();
    json!({
        "cases": cases,
        "totals": [totals["cases"], totals["passed"], totals["failed"], totals["errored"], totals["tokens_input"], totals["tokens_output"]],
        "status": run["status"],
        "seed": run["seed"],
        "events": events,
    })
}

#[test]
fn a_suite_run_by_the_cli_and_by_the_server_is_recorded_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = std::fs::read_to_string(examples().join("quickstart/gauntlet.yaml")).unwrap();
    std::fs::write(dir.path().join("gauntlet.yaml"), &yaml).unwrap();
    // The CLI.
    let out = gauntlet(
        dir.path(),
        &["run", "gauntlet.yaml", "--suite", "basics", "--seed", "7"],
    );
    assert!(out.status.code().is_some(), "{out:?}");
    let out = gauntlet(
        dir.path(),
        &["audit", "bundle", "latest", "-o", "cli.jsonl.gz"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = gauntlet(dir.path(), &["audit", "verify-bundle", "cli.jsonl.gz"]);
    assert!(out.status.success(), "{}", stdout(&out));
    let cli = bundle_records(&std::fs::read(dir.path().join("cli.jsonl.gz")).unwrap());

    // The server, the same files and seed.
    let sdir = tempfile::tempdir().unwrap();
    let (s, key) = server_with_tenant(sdir.path(), &[]);
    let (st, body) = call(
        &s,
        &key,
        "POST",
        "/api/v1/suites",
        Some(&json!({"name": "quick", "files": {"gauntlet.yaml": yaml}})),
    );
    assert_eq!(st, 201, "{body}");
    let id = run_on_server(
        &s,
        &key,
        json!({"suite": "quick", "run": "basics", "seed": 7}),
    );
    let (st, bytes) = call_raw(&s, &key, "GET", &format!("/api/v1/runs/{id}/bundle"), None);
    assert_eq!(st, 200);
    std::fs::write(dir.path().join("server.jsonl.gz"), &bytes).unwrap();
    let (_, k) = call(&s, &key, "GET", "/api/v1/audit/key", None);
    std::fs::write(
        dir.path().join("server.pem"),
        k["public_key_pem"].as_str().unwrap_or_default(),
    )
    .unwrap();
    let out = gauntlet(
        dir.path(),
        &[
            "audit",
            "verify-bundle",
            "server.jsonl.gz",
            "--public-key",
            "server.pem",
        ],
    );
    assert!(out.status.success(), "{}", stdout(&out));
    let server = bundle_records(&bytes);

    let (a, b) = (essence(&cli), essence(&server));
    assert_eq!(a, b, "the CLI's run and the server's differ");
    assert_eq!(a["events"], json!(["run.start", "run.finish"]));
    assert!(a["cases"].as_array().is_some_and(|c| !c.is_empty()));
}

#[test]
fn hostile_files_get_a_located_error_within_a_memory_limit() {
    let dir = tempfile::tempdir().unwrap();
    let mut bomb = format!("a0: &a0 \"{}\"\n", "x".repeat(900));
    for i in 1..9 {
        let p = i - 1;
        bomb.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    let keys: String = (0..1_000_000).map(|i| format!("key{i}: {i}\n")).collect();
    let deep = format!("a: {}1{}\n", "[".repeat(200), "]".repeat(200));
    for (name, text, limit) in [
        ("bomb.yaml", bomb, "alias bomb"),
        ("keys.yaml", keys, "more than 10000 keys"),
        ("deep.yaml", deep, "nesting deeper than"),
    ] {
        std::fs::write(dir.path().join(name), &text).unwrap();
        // 512 MiB of address space: the parser must stop long before it.
        let out = std::process::Command::new("prlimit")
            .arg(format!("--as={}", 512u64 << 20))
            .arg(env!("CARGO_BIN_EXE_gauntlet"))
            .args(["validate", name])
            .current_dir(dir.path())
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        assert!(
            err.contains(&format!("{name}:")) && err.contains(limit),
            "{name}: {err}"
        );
    }
}

#[test]
fn audit_verify_reads_a_postgresql_store_with_the_servers_flag() {
    let Some(url) = gauntlet_store::db::scratch::postgres("audit_verify_reads_a_postgresql_store")
        .expect("a scratch database")
        .map(|(_, url)| url)
    else {
        gauntlet_store::db::scratch::skipped("audit_verify_reads_a_postgresql_store");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (s, key) = {
        let (s, key) = crate::serve::server_with_tenant(dir.path(), &url, &[]);
        (s, key)
    };
    let (st, _) = call(&s, &key, "GET", "/api/v1/runs", None);
    assert_eq!(st, 200);
    drop(s);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gauntlet"))
        .args(["audit", "verify", "--database-url", &url])
        .env("GAUNTLET_AUDIT_KEY", dir.path().join("audit.pem"))
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout(&out).contains("audit log verified"),
        "{}",
        stdout(&out)
    );
}
