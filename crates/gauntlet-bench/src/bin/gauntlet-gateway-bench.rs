//! What the gateway adds to a request: the same chat completions sent at a fixed rate (open
//! loop) straight to `gauntlet mock-server` and through `gauntlet gateway` in front of it, with
//! authentication, budget and rate reservation, PII redaction and the injection scan all on.
//! Prints client-side p50/p99 for both and the difference, and the gateway's own
//! `x-gauntlet-overhead-ms` percentiles; asserts nothing. `scripts/bench-gateway` runs it.
//!
//! Arguments: `[SECONDS]` per rate (default 5), `[RATES]` (default 500,1000,2000) and
//! `[pinned|shared]` (default both, pinned first, on a machine with two cores or more).

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn fail(msg: &str) -> ! {
    eprintln!("gauntlet-gateway-bench: {msg}");
    std::process::exit(3)
}

fn binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_else(|e| fail(&e.to_string()));
    exe.with_file_name("gauntlet")
}

const KEY: &str = "gw-bench-key-0123456789abcdef";

fn project(dir: &Path, upstream: &str) {
    let yaml = format!(
        r#"version: 1
providers:
  mock: {{ type: mock }}
  up: {{ type: openai, base_url: "{upstream}/v1", api_key: x, model: echo }}
agents:
  echo:
    provider: mock
    mock: {{ echo: true }}
gateway:
  routes: {{ gpt-4o-mini: up }}
  keys:
    bench: {{ secret: "{KEY}", tenant: acme, agent: bench-bot }}
  budgets:
    agents: {{ bench-bot: {{ tokens_per_day: 1000000000000, cost_per_month_usd: 1000000, max_tokens_per_request: 256 }} }}
  limits:
    tenants: {{ acme: {{ requests_per_minute: 100000000 }} }}
  guardrails:
    - {{ check: pii, mode: redact }}
    - {{ check: prompt_injection, mode: block, on: [prompt, tool_result] }}
  anomaly: {{ enabled: false }}
"#
    );
    std::fs::write(dir.join("gauntlet.yaml"), yaml).unwrap_or_else(|e| fail(&e.to_string()));
}

fn start(mut cmd: Command) -> (Child, String) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| fail(&e.to_string()));
    let mut line = String::new();
    let Some(out) = child.stdout.take() else {
        fail("no stdout")
    };
    let _ = BufReader::new(out).read_line(&mut line);
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| fail(&format!("no URL in {line:?}")))
        .to_owned();
    (child, url)
}

fn pct(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(((v.len() as f64 * q).ceil() as usize).saturating_sub(1))
        .copied()
        .unwrap_or(f64::NAN)
}

/// Sends requests at `rate` per second for `secs`; latencies in ms and the overhead headers.
async fn load(
    client: &reqwest::Client,
    url: &str,
    auth: Option<&str>,
    model: &str,
    rate: u64,
    secs: u64,
) -> (Vec<f64>, Vec<f64>, usize) {
    let total = rate * secs;
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let begin = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    let url = Arc::new(format!("{url}/v1/chat/completions"));
    for i in 0..total {
        tokio::time::sleep_until(begin + interval * i as u32).await;
        let (client, url, auth, model) = (
            client.clone(),
            Arc::clone(&url),
            auth.map(str::to_owned),
            model.to_owned(),
        );
        tasks.push(tokio::spawn(async move {
            let body = serde_json::json!({"model": model, "max_tokens": 64, "messages": [
                {"role": "user", "content": format!("Order {i}: please reply to jane.doe@acme-corp.com about the refund for order A-{i}.")}
            ]});
            let mut r = client.post(url.as_str()).json(&body);
            if let Some(a) = &auth {
                r = r.bearer_auth(a);
            }
            let t = Instant::now();
            match r.send().await {
                Ok(resp) if resp.status().is_success() => {
                    let overhead = resp
                        .headers()
                        .get("x-gauntlet-overhead-ms")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<f64>().ok());
                    let _ = resp.bytes().await;
                    Some((t.elapsed().as_secs_f64() * 1000.0, overhead))
                }
                _ => None,
            }
        }));
    }
    let (mut lat, mut over, mut failed) = (Vec::new(), Vec::new(), 0);
    for t in tasks {
        match t.await.ok().flatten() {
            Some((l, o)) => {
                lat.push(l);
                over.extend(o);
            }
            None => failed += 1,
        }
    }
    (lat, over, failed)
}

/// Where the processes run. `Pinned` gives the gateway a core of its own and puts the load
/// generator and the upstream on the other, so the figures measure the gateway's work rather
/// than three processes competing for two cores; `Shared` lets the scheduler place everything.
#[derive(Clone, Copy, PartialEq)]
enum Layout {
    Pinned,
    Shared,
}

impl Layout {
    fn name(self) -> &'static str {
        match self {
            Layout::Pinned => "pinned: gateway on CPU 1; client and upstream on CPU 0",
            Layout::Shared => "shared: every process on every core",
        }
    }

    /// The command, under `taskset` when pinned.
    fn command(self, cpu: usize) -> Command {
        match self {
            Layout::Pinned => {
                let mut c = Command::new("taskset");
                c.args(["-c", &cpu.to_string()]).arg(binary());
                c
            }
            Layout::Shared => Command::new(binary()),
        }
    }

    /// Pins this process's main thread, and so the runtime threads it starts next, when pinned.
    fn pin_self(self, cores: usize) {
        let cpus = match self {
            Layout::Pinned => "0".to_owned(),
            Layout::Shared => format!("0-{}", cores.saturating_sub(1)),
        };
        let ok = Command::new("taskset")
            .args(["-p", "-c", &cpus, &std::process::id().to_string()])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            fail(
                "taskset could not set this process's CPUs (util-linux is needed for the pinned layout)",
            );
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let secs: u64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(5);
    let rates: Vec<u64> = args
        .get(1)
        .map_or("500,1000,2000", String::as_str)
        .split(',')
        .filter_map(|r| r.parse().ok())
        .collect();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let layouts: Vec<Layout> = match args.get(2).map(String::as_str) {
        Some("shared") => vec![Layout::Shared],
        Some("pinned") if cores >= 2 => vec![Layout::Pinned],
        _ if cores >= 2 => vec![Layout::Pinned, Layout::Shared],
        _ => vec![Layout::Shared],
    };
    println!(
        "gateway overhead, open loop, {secs} s per rate, one client process, this machine ({cores} cores)"
    );
    for layout in layouts {
        measure(layout, cores, secs, &rates);
    }
}

fn measure(layout: Layout, cores: usize, secs: u64, rates: &[u64]) {
    let dir = tempfile_dir();
    project(&dir, "http://127.0.0.1:1");
    let mut mock = layout.command(0);
    mock.args(["mock-server", "--port", "0"])
        .arg(dir.join("gauntlet.yaml"));
    let (mut mock_child, upstream) = start(mock);
    project(&dir, &upstream);
    let mut gw = layout.command(1);
    gw.args(["gateway", "serve"])
        .arg(dir.join("gauntlet.yaml"))
        .args(["--listen", "127.0.0.1:0"])
        .env("GAUNTLET_DATABASE_URL", dir.join("store.db"))
        .env("GAUNTLET_AUDIT_KEY", dir.join("audit.pem"));
    let (mut gw_child, gateway) = start(gw);
    layout.pin_self(cores);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(&e.to_string()));
    println!("\n{}", layout.name());
    println!(
        "{:>6} | {:>17} | {:>17} | {:>17} | {:>21} | failed",
        "req/s", "direct p50/p99 ms", "gateway p50/p99", "added p50/p99", "self-reported p50/p99"
    );
    rt.block_on(async {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(512)
            .build()
            .unwrap_or_else(|e| fail(&e.to_string()));
        // Warm both paths.
        let _ = load(&client, &upstream, None, "echo", 200, 1).await;
        let _ = load(&client, &gateway, Some(KEY), "gpt-4o-mini", 200, 1).await;
        for &rate in rates {
            let (mut d, _, df) = load(&client, &upstream, None, "echo", rate, secs).await;
            let (mut g, mut o, gf) = load(&client, &gateway, Some(KEY), "gpt-4o-mini", rate, secs).await;
            let (d50, d99, g50, g99) = (pct(&mut d, 0.5), pct(&mut d, 0.99), pct(&mut g, 0.5), pct(&mut g, 0.99));
            println!(
                "{rate:>6} | {d50:>7.3} / {d99:>7.3} | {g50:>7.3} / {g99:>7.3} | {:>7.3} / {:>7.3} | {:>9.3} / {:>9.3} | {df}/{gf}",
                g50 - d50,
                g99 - d99,
                pct(&mut o, 0.5),
                pct(&mut o, 0.99)
            );
        }
    });
    drop(rt);
    let _ = gw_child.kill();
    let _ = mock_child.kill();
    let _ = gw_child.wait();
    let _ = mock_child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempfile_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gauntlet-gateway-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| fail(&e.to_string()));
    dir
}
