#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! End-to-end tests of the `gauntlet` binary: exit codes, output, stored history, reports.

mod audit;
mod browser;
mod cassettes;
mod cli;
mod diff;
mod drift;
mod evaluators;
mod faults;
mod gateway;
mod gateway_ops;
mod generate;
mod mcp;
mod providers;
mod reports;
mod serve;
mod simulate;
mod trust;
mod workers;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// Runs `gauntlet` in `dir` with its store under `dir`, without colour or progress bars.
pub fn gauntlet(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gauntlet"))
        .args(args)
        .current_dir(dir)
        .env("GAUNTLET_DATABASE_URL", dir.join("store.db"))
        .env("GAUNTLET_AUDIT_KEY", dir.join("keys").join("audit.pem"))
        .env_remove("GAUNTLET_AUDIT_SIGNER")
        .env("NO_COLOR", "1")
        .env_remove("GAUNTLET_SEED")
        .output()
        .expect("the gauntlet binary runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The run id printed by `gauntlet run`.
pub fn run_id(o: &Output) -> String {
    stdout(o)
        .lines()
        .find_map(|l| l.strip_prefix("run id: "))
        .expect("a run id")
        .trim()
        .to_owned()
}

/// Replaces run ids, timestamps and the version so reports can be compared and snapshotted.
pub fn mask(text: &str) -> String {
    let ids = regex::Regex::new(r"\b[0-9A-HJKMNP-TV-Z]{26}\b").unwrap();
    let times = regex::Regex::new(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z").unwrap();
    let text = ids.replace_all(text, "[RUN-ID]");
    let text = times.replace_all(&text, "[TIME]");
    text.replace(
        &format!("Gauntlet {}", env!("CARGO_PKG_VERSION")),
        "Gauntlet [VERSION]",
    )
}

/// A copy of the support-desk example in `dir/desk`, to edit freely.
pub fn copy_desk(dir: &Path) -> PathBuf {
    let project = dir.join("desk");
    std::fs::create_dir(&project).unwrap();
    for f in [
        "providers.yaml",
        "tools.yaml",
        "agents.yaml",
        "graph.yaml",
        "suites.yaml",
    ] {
        std::fs::copy(examples().join("support-desk").join(f), project.join(f)).unwrap();
    }
    project
}

/// The `cases` of a JSON report file, with ids and timestamps masked.
pub fn report_cases(file: &Path) -> serde_json::Value {
    let v: serde_json::Value =
        serde_json::from_str(&mask(&std::fs::read_to_string(file).unwrap())).unwrap();
    v["cases"].clone()
}

/// Runs an idempotent installer of a test peer in `scripts/` (once per test binary) and
/// returns the directory it prints: the reference MCP servers, the official SDK clients.
pub fn test_peer(script: &str) -> PathBuf {
    static DIRS: std::sync::Mutex<Vec<(String, PathBuf)>> = std::sync::Mutex::new(Vec::new());
    let mut dirs = DIRS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, d)) = dirs.iter().find(|(s, _)| s == script) {
        return d.clone();
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scripts")
        .join(script);
    let out = Command::new("bash")
        .arg(&path)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", path.display()));
    assert!(
        out.status.success(),
        "scripts/{script} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    dirs.push((script.to_owned(), dir.clone()));
    dir
}
