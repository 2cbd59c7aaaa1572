//! The HTTP path's cost: the same suite run on the in-process mock provider, then through the
//! OpenAI adapter (whole and streamed) and the Anthropic adapter against
//! `gauntlet mock-server` on loopback. Cases per second and the ratio to in-process are
//! printed, never asserted. `scripts/bench-http` builds and runs it.
//!
//! Arguments: `[CASES]` (default 2000).

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

fn fail(msg: &str) -> ! {
    eprintln!("gauntlet-http-bench: {msg}");
    std::process::exit(3)
}

fn binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_else(|e| fail(&e.to_string()));
    exe.with_file_name("gauntlet")
}

/// The project: one mock agent (also served over HTTP), and one agent per HTTP provider.
fn project(dir: &Path, url: &str, cases: usize) {
    let mut yaml = format!(
        r#"
providers:
  local: {{ type: mock }}
  openai: {{ type: openai, base_url: "{url}/v1", api_key: x, max_concurrency: 64, circuit_breaker: {{ failures: 0 }} }}
  openai-stream: {{ type: openai, base_url: "{url}/v1", api_key: x, stream: true, max_concurrency: 64, circuit_breaker: {{ failures: 0 }} }}
  anthropic: {{ type: anthropic, base_url: "{url}", api_key: x, max_concurrency: 64, circuit_breaker: {{ failures: 0 }} }}
agents:
  bot:
    provider: local
    model: gpt-4o-mini
    mock:
      responses:
        - {{ when: {{ icontains: capital }}, text: The capital of France is Paris. }}
      echo: true
  via-openai: {{ provider: openai, model: bot }}
  via-openai-stream: {{ provider: openai-stream, model: bot }}
  via-anthropic: {{ provider: anthropic, model: bot }}
suites:
"#
    );
    for (suite, target) in [
        ("in-process", "bot"),
        ("openai", "via-openai"),
        ("openai-stream", "via-openai-stream"),
        ("anthropic", "via-anthropic"),
    ] {
        yaml.push_str(&format!("  {suite}:\n    target: {target}\n    cases:\n"));
        for i in 0..cases {
            yaml.push_str(&format!(
                "      - {{ id: c{i}, input: \"What is the capital of France? #{i}\", assert: [{{ type: contains, value: Paris }}] }}\n"
            ));
        }
    }
    std::fs::write(dir.join("gauntlet.yaml"), yaml).unwrap_or_else(|e| fail(&e.to_string()));
}

fn main() {
    let cases: usize = std::env::args().nth(1).map_or(2000, |a| {
        a.parse().unwrap_or_else(|_| fail("CASES must be a number"))
    });
    let dir = std::env::temp_dir().join(format!("gauntlet-http-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| fail(&e.to_string()));
    // The server answers as the project's mock agent `bot`.
    project(&dir, "http://127.0.0.1:1", 1);
    let mut server = Command::new(binary())
        .args(["mock-server", "--port", "0"])
        .arg(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| fail(&format!("cannot start the mock server: {e}")));
    let mut line = String::new();
    if let Some(out) = server.stdout.take() {
        let _ = BufReader::new(out).read_line(&mut line);
    }
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| fail(&format!("no URL from the mock server: {line:?}")))
        .to_owned();
    project(&dir, &url, cases);
    println!("{cases} cases per suite, one model call each, -j 32, against {url}");
    println!(
        "{:<14} {:>9} {:>10} {:>9}",
        "suite", "wall s", "cases/s", "vs mock"
    );
    let mut base = None;
    for suite in ["in-process", "openai", "openai-stream", "anthropic"] {
        let started = Instant::now();
        let out = Command::new(binary())
            .args([
                "run",
                ".",
                "--suite",
                suite,
                "-j",
                "32",
                "--no-progress",
                "-q",
                "--seed",
                "1",
            ])
            .current_dir(&dir)
            .env("GAUNTLET_DATABASE_URL", dir.join(format!("{suite}.db")))
            .env("GAUNTLET_AUDIT_KEY", dir.join("audit.pem"))
            .output()
            .unwrap_or_else(|e| fail(&e.to_string()));
        let secs = started.elapsed().as_secs_f64();
        if !out.status.success() {
            fail(&format!(
                "suite {suite} failed:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let rate = cases as f64 / secs;
        let ratio = match base {
            None => {
                base = Some(secs);
                1.0
            }
            Some(b) => secs / b,
        };
        println!("{suite:<14} {secs:>9.3} {rate:>10.0} {ratio:>8.2}x");
    }
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
