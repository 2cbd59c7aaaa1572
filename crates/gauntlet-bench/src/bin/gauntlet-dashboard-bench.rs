//! Dashboard page times with a million stored case results: seeds a store (SQLite, or
//! PostgreSQL with `--postgres URL`) with R runs of N/R graph cases each (three steps, four
//! assertions, chaos on some) plus one case of 10,000 steps, then serves it with the release
//! `gauntlet view` (SQLite) or `gauntlet serve` (PostgreSQL, signed in with a key) and times each page
//! (the median and the slowest of several requests, over loopback). Prints figures; asserts
//! nothing. `scripts/bench-dashboard` builds and runs it.
//!
//! Arguments: `[--cases N] [--runs R] [--postgres URL] [--keep DIR]`.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gauntlet_core::ids::{RunId, TenantId};
use gauntlet_core::result::*;
use gauntlet_store::{RunStore, Store};

fn fail(msg: &str) -> ! {
    eprintln!("gauntlet-dashboard-bench: {msg}");
    std::process::exit(3)
}

fn step(node: &str, start: f64, ms: f64, fail_it: bool) -> StepRecord {
    let mut s = StepRecord::new(
        Some(node.into()),
        format!("{node}-agent"),
        "local",
        "gpt-4o-mini",
        format!("input of {node}"),
    );
    s.output = Some(format!(
        "{{\"queue\": \"billing\", \"note\": \"output of {node}\"}}"
    ));
    s.start_ms = start;
    s.latency_ms = ms;
    s.model_calls = 1;
    s.tokens = Tokens {
        input: 40,
        output: 12,
    };
    s.cost_usd = 0.00002;
    s.spans.push(Span {
        kind: SpanKind::Model,
        name: "gpt-4o-mini".into(),
        start_ms: 0.0,
        duration_ms: ms * 0.8,
        turn: 1,
        error: None,
    });
    s.spans.push(Span {
        kind: SpanKind::Tool,
        name: "lookup".into(),
        start_ms: ms * 0.8,
        duration_ms: ms * 0.2,
        turn: 1,
        error: None,
    });
    if fail_it {
        s.error = Some("rate limited (after 2 retries)".into());
    }
    s
}

fn case(index: u32, steps: usize) -> CaseResult {
    let failed = index % 7 == 3;
    let mut all: Vec<StepRecord> = (0..steps)
        .map(|i| {
            step(
                &format!("n{}", i % 3),
                i as f64 * 10.0,
                10.0,
                failed && i == 1,
            )
        })
        .collect();
    if steps == 3 {
        all = vec![
            step("triage", 0.0, 30.0, false),
            step("billing", 30.0, 50.0, failed),
            step("reply", 80.0, 20.0, false),
        ];
    }
    let assertion = |kind: &str, pass: bool| AssertionResult {
        kind: kind.into(),
        pass,
        score: if pass { 1.0 } else { 0.0 },
        weight: 1.0,
        reason: format!(
            "{kind} {}",
            if pass {
                "held"
            } else {
                "did not hold: expected \"order\""
            }
        ),
        node: None,
        metric: None,
        details: None,
        cost_usd: 0.0,
    };
    let node = |name: &str, state| NodeTrace {
        name: name.into(),
        agent: format!("{name}-agent"),
        state,
    };
    let edge = |from: &str, to: &str, taken| EdgeTrace {
        from: from.into(),
        to: to.into(),
        taken,
        when: None,
    };
    CaseResult {
        index,
        id: format!("order-{index}"),
        trial: 0,
        target: "graph:support".into(),
        status: if failed {
            CaseStatus::Failed
        } else {
            CaseStatus::Passed
        },
        score: if failed { 0.5 } else { 1.0 },
        input: format!("Where is order {index}?"),
        output: Some(format!("Order {index} ships tomorrow.")),
        reason: failed.then(|| "contains: expected output to contain \"order\"".to_owned()),
        tokens: Tokens {
            input: 120,
            output: 36,
        },
        cost_usd: 0.00006,
        latency_ms: 100.0 + f64::from(index % 50),
        steps: all,
        assertions: vec![
            assertion("contains", !failed),
            assertion("json-path", true),
            assertion("latency", true),
            assertion("tool-called", true),
        ],
        tags: vec![if index.is_multiple_of(2) {
            "billing".into()
        } else {
            "shipping".into()
        }],
        trace: Some(GraphTrace {
            graph: "support".into(),
            start: "triage".into(),
            nodes: vec![
                node("triage", NodeState::Ran),
                node(
                    "billing",
                    if failed {
                        NodeState::Failed
                    } else {
                        NodeState::Ran
                    },
                ),
                node("shipping", NodeState::Skipped),
                node(
                    "reply",
                    if failed {
                        NodeState::NotReached
                    } else {
                        NodeState::Ran
                    },
                ),
            ],
            edges: vec![
                edge("triage", "billing", Some(true)),
                edge("triage", "shipping", Some(false)),
                edge("billing", "reply", if failed { None } else { Some(true) }),
                edge("shipping", "reply", Some(false)),
            ],
        }),
    }
}

fn seed(store: &Store, runs: u64, cases: u64) -> (Vec<RunId>, RunId) {
    let tenant = TenantId::local();
    let per = (cases / runs).max(1);
    let mut ids = Vec::new();
    let start = Instant::now();
    let mut big = None;
    for r in 0..runs {
        let id = RunId::from_parts(1_700_000_000_000 + r * 60_000, u128::from(r) * 7919 + 1);
        let mut record = RunRecord {
            id: id.clone(),
            project: "bench".into(),
            suite: format!("suite-{}", r % 5),
            seed: r,
            status: RunStatus::Running,
            config_hash: "sha256:bench".into(),
            gauntlet_version: "bench".into(),
            started_at: gauntlet_core::time::rfc3339(1_700_000_000_000 + r * 60_000),
            finished_at: None,
            totals: Totals::default(),
        };
        store
            .create_run(
                &tenant,
                &record,
                &serde_json::json!({"suite": record.suite, "seed": r}),
            )
            .unwrap_or_else(|e| fail(&e.to_string()));
        let writer = store
            .writer(&tenant, &id)
            .unwrap_or_else(|e| fail(&e.to_string()));
        let mut summary = gauntlet_report::Summary::default();
        for i in 0..per {
            let c = case(i as u32, 3);
            summary.add(&c);
            writer.send(c).unwrap_or_else(|e| fail(&e.to_string()));
        }
        if r == runs - 1 {
            let c = case(per as u32, 10_000);
            summary.add(&c);
            writer.send(c).unwrap_or_else(|e| fail(&e.to_string()));
            big = Some(id.clone());
        }
        writer.finish().unwrap_or_else(|e| fail(&e.to_string()));
        record.totals = summary.totals;
        store
            .save_stats(&tenant, &id, &summary.stats())
            .unwrap_or_else(|e| fail(&e.to_string()));
        let status = if summary.totals.failed > 0 {
            RunStatus::Failed
        } else {
            RunStatus::Passed
        };
        store
            .finish_run(
                &tenant,
                &id,
                status,
                &record.totals,
                &gauntlet_core::time::rfc3339(1_700_000_000_000 + r * 60_000 + 30_000),
            )
            .unwrap_or_else(|e| fail(&e.to_string()));
        ids.push(id);
        if r % 20 == 19 {
            eprintln!(
                "  seeded {} runs, {} cases, {:.0} s",
                r + 1,
                (r + 1) * per,
                start.elapsed().as_secs_f64()
            );
        }
    }
    (ids, big.unwrap_or_else(|| fail("no runs")))
}

fn main() {
    let mut cases: u64 = 1_000_000;
    let mut runs: u64 = 200;
    let mut postgres: Option<String> = None;
    let mut keep: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| fail(&format!("{a} needs a value")))
        };
        match a.as_str() {
            "--cases" => cases = value().parse().unwrap_or_else(|_| fail("--cases N")),
            "--runs" => runs = value().parse().unwrap_or_else(|_| fail("--runs R")),
            "--postgres" => postgres = Some(value()),
            "--keep" => keep = Some(PathBuf::from(value())),
            other => fail(&format!("unknown argument {other}")),
        }
    }
    let scratch =
        std::env::temp_dir().join(format!("gauntlet-dashboard-bench-{}", std::process::id()));
    let dir = keep.clone().unwrap_or(scratch);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| fail(&e.to_string()));
    let db = postgres
        .clone()
        .unwrap_or_else(|| dir.join("gauntlet.db").display().to_string());
    let store = Store::open_url(&db).unwrap_or_else(|e| fail(&e.to_string()));
    let t = Instant::now();
    eprintln!("seeding {cases} case results in {runs} runs ({db})");
    let (ids, big) = seed(&store, runs, cases);
    let seeded = t.elapsed();
    println!(
        "seeded {} case results in {runs} runs in {:.1} s ({:.0} cases/s)",
        cases,
        seeded.as_secs_f64(),
        cases as f64 / seeded.as_secs_f64()
    );
    drop(store);

    let bin = std::env::current_exe()
        .unwrap_or_else(|e| fail(&e.to_string()))
        .with_file_name("gauntlet");
    let port = 18000 + (std::process::id() % 1000) as u16;
    let mut child = Command::new(&bin)
        .args([
            "view",
            dir.to_str().unwrap_or("."),
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--db",
            &db,
        ])
        .env("GAUNTLET_AUDIT_KEY", dir.join("audit.pem"))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| fail(&format!("{}: {e}", bin.display())));
    let base = format!("http://127.0.0.1:{port}");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(&e.to_string()));
    rt.block_on(async {
        let http = reqwest::Client::new();
        for _ in 0..200 {
            if http
                .get(format!("{base}/assets/app.css"))
                .send()
                .await
                .is_ok()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let last = ids.last().unwrap_or(&big).as_str().to_owned();
        let first = ids.first().unwrap_or(&big).as_str().to_owned();
        let mid = ids[ids.len() / 2].as_str().to_owned();
        let per = cases / runs;
        // The cursor after the first page (50 runs), or after the middle run of fewer.
        let cut = if runs > 50 { runs - 50 } else { runs / 2 };
        let after = format!(
            "{}|{}",
            gauntlet_core::time::rfc3339(1_700_000_000_000 + cut * 60_000),
            ids[cut as usize]
        );
        let pages: Vec<(&str, String)> = vec![
            ("run list", "/".into()),
            ("run list, filtered by suite", "/?suite=suite-3".into()),
            ("run list, filtered by tag", "/?tag=billing".into()),
            (
                "run list, text search",
                format!("/?q={}", &mid[mid.len() - 6..]),
            ),
            (
                "run list, date range",
                "/?since=2023-11-14&until=2023-11-15".into(),
            ),
            (
                "run list, second page",
                format!("/?after={}", after.replace('|', "%7C").replace(':', "%3A")),
            ),
            (leak(format!("run ({per} cases)")), format!("/runs/{mid}")),
            ("run, failed cases", format!("/runs/{mid}?status=failed")),
            (
                "run, cases page 10",
                format!("/runs/{mid}?after={}", per / 2),
            ),
            ("run, case search", format!("/runs/{mid}?q=order-4999")),
            ("case (3 steps, graph)", format!("/runs/{mid}/cases/3")),
            ("case (10,000 steps)", format!("/runs/{big}/cases/{per}")),
            (
                "case, next 500 steps (fragment)",
                format!("/runs/{big}/cases/{per}/steps?from=100"),
            ),
            (
                "assertion explorer, failed contains",
                format!("/runs/{mid}/assertions?type=contains&failed=1"),
            ),
            ("assertion explorer, all", format!("/runs/{mid}/assertions")),
            (
                leak(format!("compare two runs of {per} cases")),
                format!("/compare?a={first}&b={last}"),
            ),
        ];
        println!(
            "\n{:<42} {:>10} {:>10} {:>10}",
            "page", "median", "slowest", "bytes"
        );
        for (name, path) in pages {
            let mut times = Vec::new();
            let mut size = 0;
            for _ in 0..5 {
                let t = Instant::now();
                let r = http
                    .get(format!("{base}{path}"))
                    .send()
                    .await
                    .unwrap_or_else(|e| fail(&e.to_string()));
                let status = r.status();
                let body = r.bytes().await.unwrap_or_default();
                times.push(t.elapsed().as_secs_f64() * 1000.0);
                size = body.len();
                if !status.is_success() {
                    fail(&format!("{path}: {status}"));
                }
            }
            times.sort_by(f64::total_cmp);
            println!(
                "{name:<42} {:>7.1} ms {:>7.1} ms {size:>10}",
                times[2], times[4]
            );
        }
    });
    let _ = child.kill();
    let _ = child.wait();
    if keep.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}
