//! Read latency of `gauntlet serve` under load: the release binary serves on a scratch store
//! (SQLite, or PostgreSQL with `--postgres URL`); after one tenant, one suite and one finished
//! run are in place, C concurrent clients (default 200) with keep-alive connections read for D
//! seconds (default 10): `GET /api/v1/runs/{id}` and `GET /api/v1/suites` in turn, each
//! authenticated with an API key (so each request also authenticates, checks RBAC and is
//! audited). Prints requests per second and p50/p95/p99 per endpoint; asserts nothing.
//! `scripts/bench-api` builds and runs it.
//!
//! With `--wrk`, the load comes from `wrk` (Debian's package) instead of the in-process Rust
//! client, which leaves more of the two cores to the server.
//!
//! Arguments: `[--clients C] [--seconds D] [--postgres URL] [--wrk]`.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The server this benchmark started, stopped by [`fail`] too: left running, it would keep
/// the caller's pipes open and its port taken.
static SERVER: std::sync::Mutex<Option<std::process::Child>> = std::sync::Mutex::new(None);

fn fail(msg: &str) -> ! {
    eprintln!("gauntlet-api-bench: {msg}");
    stop_server();
    std::process::exit(3)
}

fn stop_server() {
    let server = SERVER.lock().map(|mut s| s.take()).unwrap_or_default();
    if let Some(mut server) = server {
        let _ = server.kill();
        let _ = server.wait();
    }
}

fn binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_else(|e| fail(&e.to_string()));
    exe.with_file_name("gauntlet")
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

struct Args {
    clients: usize,
    seconds: u64,
    postgres: Option<String>,
    wrk: bool,
}

fn args() -> Args {
    let mut a = Args {
        clients: 200,
        seconds: 10,
        postgres: None,
        wrk: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--wrk" {
            a.wrk = true;
            continue;
        }
        let value = it
            .next()
            .unwrap_or_else(|| fail(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--clients" => a.clients = value.parse().unwrap_or_else(|_| fail("--clients N")),
            "--seconds" => a.seconds = value.parse().unwrap_or_else(|_| fail("--seconds N")),
            "--postgres" => a.postgres = Some(value),
            other => fail(&format!("unknown argument {other}")),
        }
    }
    a
}

async fn call(
    http: &reqwest::Client,
    key: &str,
    method: reqwest::Method,
    url: &str,
    body: Option<serde_json::Value>,
) -> serde_json::Value {
    let mut req = http.request(method, url).bearer_auth(key);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap_or_else(|e| fail(&e.to_string()));
    let status = resp.status();
    let v: serde_json::Value = resp.json().await.unwrap_or_default();
    if !status.is_success() {
        fail(&format!("{url}: {status} {v}"));
    }
    v
}

fn main() {
    let a = args();
    let dir = tempfile_dir();
    let db = match &a.postgres {
        Some(url) => url.clone(),
        None => dir.join("server.db").display().to_string(),
    };
    let bin = binary();
    let env = [
        ("GAUNTLET_DATABASE_URL", db.clone()),
        (
            "GAUNTLET_AUDIT_KEY",
            dir.join("audit.pem").display().to_string(),
        ),
    ];
    let out = Command::new(&bin)
        .args([
            "admin",
            "create",
            "--tenant",
            "bench-platform",
            "--user",
            "root",
        ])
        .envs(env.iter().cloned())
        .stderr(Stdio::null())
        .output()
        .unwrap_or_else(|e| fail(&e.to_string()));
    if !out.status.success() {
        fail("admin create failed");
    }
    let root = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let port = 20000 + (std::process::id() % 20000) as u16;
    let server = Some(
        Command::new(&bin)
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--rate-limit",
                "1000000",
                "--workers",
                "1",
            ])
            .envs(env.iter().cloned())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| fail(&e.to_string())),
    );
    *SERVER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = server;
    let base = format!("http://127.0.0.1:{port}");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(&e.to_string()));
    rt.block_on(async {
        let http = reqwest::Client::builder().pool_max_idle_per_host(a.clients).build().unwrap_or_else(|e| fail(&e.to_string()));
        for _ in 0..100 {
            if http.get(format!("{base}/healthz")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let tenant = format!("t{}", std::process::id());
        let made = call(&http, &root, reqwest::Method::POST, &format!("{base}/api/v1/tenants"), Some(serde_json::json!({"id": tenant, "admin": "alice"}))).await;
        let key = made["admin_key"]["token"].as_str().unwrap_or_else(|| fail("no admin key")).to_owned();
        let yaml = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/quickstart/gauntlet.yaml")).unwrap_or_else(|e| fail(&e.to_string()));
        call(&http, &key, reqwest::Method::POST, &format!("{base}/api/v1/suites"), Some(serde_json::json!({"name": "qs", "files": {"gauntlet.yaml": yaml}}))).await;
        let run = call(&http, &key, reqwest::Method::POST, &format!("{base}/api/v1/runs"), Some(serde_json::json!({"suite": "qs", "run": "basics"}))).await;
        let id = run["id"].as_str().unwrap_or_else(|| fail("no run id")).to_owned();
        loop {
            let r = call(&http, &key, reqwest::Method::GET, &format!("{base}/api/v1/runs/{id}"), None).await;
            if r["state"] == "succeeded" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let backend = if a.postgres.is_some() { "PostgreSQL" } else { "SQLite" };
        if a.wrk {
            run_wrk(&a, &base, &key, &id, backend);
            return;
        }
        let urls = [format!("{base}/api/v1/runs/{id}"), format!("{base}/api/v1/suites")];
        let deadline = Instant::now() + Duration::from_secs(a.seconds);
        let started = Instant::now();
        let mut tasks = Vec::new();
        for c in 0..a.clients {
            let (http, key, urls) = (http.clone(), key.clone(), urls.clone());
            tasks.push(tokio::spawn(async move {
                let mut lat: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
                let mut errors = 0u64;
                let mut n = c;
                while Instant::now() < deadline {
                    let which = n % 2;
                    n += 1;
                    let t = Instant::now();
                    match http.get(&urls[which]).bearer_auth(&key).send().await {
                        Ok(r) if r.status().is_success() => {
                            let _ = r.bytes().await;
                            lat[which].push(t.elapsed().as_secs_f64() * 1000.0);
                        }
                        _ => errors += 1,
                    }
                }
                (lat, errors)
            }));
        }
        let mut all: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
        let mut errors = 0;
        for t in tasks {
            if let Ok((lat, e)) = t.await {
                for (i, l) in lat.into_iter().enumerate() {
                    all[i].extend(l);
                }
                errors += e;
            }
        }
        let elapsed = started.elapsed().as_secs_f64();
        let total: usize = all.iter().map(Vec::len).sum();
        println!(
            "gauntlet serve on {}: {} clients, {:.1} s, {} requests ({:.0}/s), {} errors",
            if a.postgres.is_some() { "PostgreSQL" } else { "SQLite" },
            a.clients,
            elapsed,
            total,
            total as f64 / elapsed,
            errors
        );
        let mut merged: Vec<f64> = all.iter().flatten().copied().collect();
        merged.sort_by(f64::total_cmp);
        for (name, lat) in [("GET /api/v1/runs/{id}", &mut all[0].clone()), ("GET /api/v1/suites", &mut all[1].clone()), ("all reads", &mut merged)] {
            lat.sort_by(f64::total_cmp);
            println!(
                "  {name:<24} p50 {:>7.2} ms   p95 {:>7.2} ms   p99 {:>7.2} ms   (target p95 < 20 ms: {:.2}x of it)",
                percentile(lat, 0.50),
                percentile(lat, 0.95),
                percentile(lat, 0.99),
                percentile(lat, 0.95) / 20.0
            );
        }
    });
    stop_server();
    let _ = std::fs::remove_dir_all(&dir);
}

/// The same two reads, alternating, driven by wrk; its Lua `done` hook prints the percentiles.
fn run_wrk(a: &Args, base: &str, key: &str, run: &str, backend: &str) {
    let script =
        std::env::temp_dir().join(format!("gauntlet-api-bench-{}.lua", std::process::id()));
    let lua = format!(
        r#"local paths = {{"/api/v1/runs/{run}", "/api/v1/suites"}}
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i % 2) + 1])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("gauntlet serve on {backend} (wrk): {clients} connections, %.1f s, %d requests (%.0f/s), %d errors\n",
    summary.duration / 1e6, summary.requests, summary.requests / (summary.duration / 1e6),
    e.status + e.connect + e.read + e.write + e.timeout))
  io.write(string.format("  all reads                p50 %7.2f ms   p95 %7.2f ms   p99 %7.2f ms   (target p95 < 20 ms: %.2fx of it)\n",
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    latency:percentile(95) / 1000 / 20))
end
"#,
        clients = a.clients
    );
    std::fs::write(&script, lua).unwrap_or_else(|e| fail(&e.to_string()));
    let status = Command::new("wrk")
        .args([
            "-t",
            "2",
            "-c",
            &a.clients.to_string(),
            "-d",
            &format!("{}s", a.seconds),
            "--timeout",
            "5s",
        ])
        .args(["-H", &format!("Authorization: Bearer {key}"), "-s"])
        .arg(&script)
        .arg(base)
        .stdout(Stdio::piped())
        .output()
        .unwrap_or_else(|e| fail(&format!("wrk: {e} (apt-get install wrk)")));
    let text = String::from_utf8_lossy(&status.stdout);
    for line in text
        .lines()
        .filter(|l| l.starts_with("gauntlet serve") || l.starts_with("  all reads"))
    {
        println!("{line}");
    }
    let _ = std::fs::remove_file(&script);
}

fn tempfile_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gauntlet-api-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| fail(&e.to_string()));
    dir
}
