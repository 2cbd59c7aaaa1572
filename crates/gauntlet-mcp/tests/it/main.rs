#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! gauntlet-mcp against real MCP servers from the npm registry, at the versions pinned in
//! `scripts/mcp-servers` (which installs them into `$GAUNTLET_MCP_SERVERS`, by default
//! `~/.cache/gauntlet/mcp-servers`). Without them installed these tests fail, saying so.

mod everything;
mod failures;
mod filesystem;
mod http;

use std::path::{Path, PathBuf};
use std::time::Duration;

use gauntlet_mcp::{ServerConfig, Transport};

/// Generous: CI is a slow, shared 2-core machine and node takes a while to start.
pub const STARTUP: Duration = Duration::from_secs(60);
pub const CALL: Duration = Duration::from_secs(60);

/// Where the pinned servers are: `scripts/mcp-servers` installs them (once per test binary,
/// and only when they are missing) and prints the directory, so a fresh machine with node and
/// npm needs no set-up step. `GAUNTLET_MCP_SERVERS` overrides the directory.
pub fn servers_dir() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/mcp-servers");
        let out = std::process::Command::new("bash")
            .arg(&script)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        assert!(
            out.status.success(),
            "scripts/mcp-servers failed (node and npm are needed):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
    })
    .clone()
}

/// The version `scripts/mcp-servers` pins for a package, from its `NAME_VERSION="..."` line.
fn pinned_version(variable: &str) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/mcp-servers");
    let text = std::fs::read_to_string(&script).unwrap();
    let prefix = format!("{variable}=\"");
    let line = text
        .lines()
        .find_map(|line| line.trim().strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {variable} in {}", script.display()));
    line.trim_end_matches('"').to_owned()
}

/// The entry point of an installed server package, checked against the pinned version.
/// Panics (fails the test) with instructions when it is missing or stale.
pub fn server_entry(package: &str, version_variable: &str) -> PathBuf {
    let dir = servers_dir();
    let package_dir = dir.join("node_modules/@modelcontextprotocol").join(package);
    let manifest = package_dir.join("package.json");
    let pinned = pinned_version(version_variable);
    let hint = format!(
        "run scripts/mcp-servers to install the pinned MCP test servers into {} \
         (override with GAUNTLET_MCP_SERVERS)",
        dir.display()
    );
    let Ok(text) = std::fs::read_to_string(&manifest) else {
        panic!(
            "@modelcontextprotocol/{package} is not installed ({} missing): {hint}",
            manifest.display()
        );
    };
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let installed = json["version"].as_str().unwrap_or_default();
    assert_eq!(
        installed, pinned,
        "@modelcontextprotocol/{package} {installed} is installed but {pinned} is pinned: {hint}"
    );
    let entry = package_dir.join("dist/index.js");
    assert!(entry.is_file(), "{} is missing: {hint}", entry.display());
    entry
}

pub fn everything_entry() -> PathBuf {
    server_entry("server-everything", "EVERYTHING_VERSION")
}

pub fn filesystem_entry() -> PathBuf {
    server_entry("server-filesystem", "FILESYSTEM_VERSION")
}

/// server-everything over stdio.
pub fn everything(name: &str) -> ServerConfig {
    let entry = everything_entry();
    ServerConfig::new(
        name,
        Transport::Stdio {
            command: "node".into(),
            args: vec![entry.display().to_string(), "stdio".into()],
            env: Vec::new(),
            cwd: None,
        },
    )
    .with_startup_timeout(STARTUP)
    .with_call_timeout(CALL)
}

/// Runs `kill -9 pid`.
pub fn kill9(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -9 {pid} failed");
}
