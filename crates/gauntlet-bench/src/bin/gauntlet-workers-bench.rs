//! Throughput of `gauntlet worker` processes on one PostgreSQL database, I/O-bound: a mock
//! provider that takes 50 ms per call, 16 runs of 40 cases each (cases one at a time within a
//! run) queued through an API that executes nothing (`serve --workers 0`) to 1, 2, 4 and 8
//! worker processes (two runs at once each, started beforehand), timed from the first enqueue
//! until every run succeeded. Prints cases per
//! second and the scaling against one worker. This measures the pool over whole runs; a
//! single run is still executed by one worker (runs are not split into batches yet).
//! `scripts/bench-workers` runs it; figures, not assertions.
//!
//! Arguments: `[postgres://… URL]` of a server where scratch databases may be created
//! (default: `GAUNTLET_TEST_DATABASE_URL`, else the local server).

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const RUNS: usize = 16;
const CASES: usize = 40;

const SUITE: &str = r#"version: 1
providers:
  slow: { type: mock }
agents:
  io:
    provider: slow
    model: gpt-4o-mini
    mock:
      latency_ms: 50
      responses:
        - { text: "done" }
suites:
  io:
    target: io
    cases:
      - id: call
        input: "one call of 50 ms"
        assert:
          - { type: contains, value: done }
"#;

fn fail(msg: &str) -> ! {
    eprintln!("gauntlet-workers-bench: {msg}");
    std::process::exit(3)
}

fn binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_else(|e| fail(&e.to_string()));
    exe.with_file_name("gauntlet")
}

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn gauntlet(dir: &Path, db: &str, args: &[&str]) -> Command {
    let mut c = Command::new(binary());
    c.args(args)
        .current_dir(dir)
        .env("GAUNTLET_DATABASE_URL", db)
        .env("GAUNTLET_AUDIT_KEY", dir.join("audit.pem"))
        .env("GAUNTLET_SECRETS_KEY", dir.join("secrets.key"))
        .env("NO_COLOR", "1");
    c
}

/// Starts a process and waits for the stderr line naming its address.
fn started(mut c: Command) -> (Proc, String) {
    let mut child = c
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| fail(&e.to_string()));
    let Some(err) = child.stderr.take() else {
        fail("no stderr")
    };
    let mut lines = BufReader::new(err).lines();
    let addr = loop {
        match lines.next() {
            Some(Ok(l)) => {
                if let Some(rest) = l.split("http://").nth(1) {
                    break rest.split('/').next().unwrap_or_default().to_owned();
                }
            }
            _ => fail("a process stopped before it listened"),
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (Proc(child), addr)
}

async fn api(
    http: &reqwest::Client,
    addr: &str,
    key: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Value {
    let mut r = http
        .request(method, format!("http://{addr}{path}"))
        .bearer_auth(key);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let resp = r.send().await.unwrap_or_else(|e| fail(&e.to_string()));
    let status = resp.status();
    let v: Value = resp.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        fail(&format!("{path}: {status} {v}"));
    }
    v
}

/// One measurement on a fresh database: seconds until every run succeeded, and of those the
/// seconds spent queueing the runs (one request after another, each validating the suite).
async fn measure(base: &str, workers: usize) -> (f64, f64) {
    let name = format!("gauntlet_bench_workers_{}_{workers}", std::process::id());
    let admin = gauntlet_store::db::Db::postgres(base).unwrap_or_else(|e| fail(&e.to_string()));
    admin
        .with_conn(|c| c.batch(&format!("CREATE DATABASE \"{name}\"")))
        .unwrap_or_else(|e| fail(&e.to_string()));
    let db = gauntlet_store::db::scratch::with_database(base, &name)
        .unwrap_or_else(|| fail("the PostgreSQL URL names no database"));
    let dir = std::env::temp_dir().join(format!("gauntlet-workers-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| fail(&e.to_string()));
    let out = gauntlet(
        &dir,
        &db,
        &["admin", "create", "--tenant", "ops", "--user", "root"],
    )
    .output()
    .unwrap_or_else(|e| fail(&e.to_string()));
    let root = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let (serve, addr) = started(gauntlet(
        &dir,
        &db,
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--workers",
            "0",
            "--rate-limit",
            "100000",
        ],
    ));
    let http = reqwest::Client::new();
    let made = api(
        &http,
        &addr,
        &root,
        reqwest::Method::POST,
        "/api/v1/tenants",
        Some(json!({"id": "acme", "admin": "alice"})),
    )
    .await;
    let key = made["admin_key"]["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    api(
        &http,
        &addr,
        &key,
        reqwest::Method::POST,
        "/api/v1/suites",
        Some(json!({"name": "io", "files": {"gauntlet.yaml": SUITE}})),
    )
    .await;
    // The workers are up (listening) before the clock starts; queued runs wake them.
    let pool: Vec<Proc> = (0..workers)
        .map(|_| {
            started(gauntlet(
                &dir,
                &db,
                &[
                    "worker",
                    "--concurrency",
                    "2",
                    "--metrics-listen",
                    "127.0.0.1:0",
                ],
            ))
            .0
        })
        .collect();
    let begin = Instant::now();
    let mut ids = Vec::new();
    for _ in 0..RUNS {
        let run = api(
            &http,
            &addr,
            &key,
            reqwest::Method::POST,
            "/api/v1/runs",
            Some(json!({"suite": "io", "run": "io", "repeat": CASES, "concurrency": 1})),
        )
        .await;
        ids.push(run["id"].as_str().unwrap_or_default().to_owned());
    }
    let enqueued = begin.elapsed().as_secs_f64();
    for id in &ids {
        loop {
            let v = api(
                &http,
                &addr,
                &key,
                reqwest::Method::GET,
                &format!("/api/v1/runs/{id}"),
                None,
            )
            .await;
            match v["state"].as_str() {
                Some("succeeded") => break,
                Some("failed" | "cancelled") => fail(&format!("run {id} ended {v}")),
                _ => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }
    let secs = begin.elapsed().as_secs_f64();
    drop(pool);
    drop(serve);
    let _ =
        admin.with_conn(|c| c.batch(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")));
    let _ = std::fs::remove_dir_all(&dir);
    (secs, enqueued)
}

fn main() {
    let base = std::env::args()
        .nth(1)
        .or_else(|| std::env::var(gauntlet_store::db::scratch::TEST_DATABASE_URL).ok())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let rt = tokio::runtime::Runtime::new().unwrap_or_else(|e| fail(&e.to_string()));
    println!(
        "gauntlet worker processes on PostgreSQL: {RUNS} runs x {CASES} cases, 50 ms mock calls, each worker 2 runs at once, this machine ({} cores)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "{:>8} | {:>9} | {:>15} | {:>8} | {:>8} | {:>11}",
        "workers", "seconds", "of it queueing", "cases/s", "scaling", "of linear"
    );
    let mut one = 0.0;
    for workers in [1usize, 2, 4, 8] {
        let (secs, queueing) = rt.block_on(measure(&base, workers));
        let rate = (RUNS * CASES) as f64 / secs;
        if workers == 1 {
            one = rate;
        }
        let scaling = rate / one;
        println!(
            "{workers:>8} | {secs:>9.2} | {queueing:>15.2} | {rate:>8.1} | {scaling:>7.2}x | {:>10.0}%",
            100.0 * scaling / workers as f64
        );
    }
}
