//! The bare run queue: jobs per second that workers claim and complete (empty jobs, nothing
//! executed), on PostgreSQL (`FOR UPDATE SKIP LOCKED`, attempt-fenced completion) and on the
//! embedded SQLite, with 1, 2, 4 and 8 worker threads each holding its own connection. Also
//! the rate of enqueues with an idempotency key. Figures, not assertions;
//! `scripts/bench-queue` runs it.
//!
//! Arguments: `[JOBS]` per measurement (default 5000) and `[postgres://… URL]` of a server
//! where it may create a scratch database (default: `GAUNTLET_TEST_DATABASE_URL`, else
//! `postgres://postgres@127.0.0.1:5432/postgres`).

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::sync::Arc;
use std::time::Instant;

use gauntlet_core::TenantId;
use gauntlet_store::accounts::{Accounts, Quotas, Tenant};
use gauntlet_store::db::Db;
use gauntlet_store::queue::{NewJob, Outcome, Queue};

fn fail(msg: &str) -> ! {
    eprintln!("gauntlet-queue-bench: {msg}");
    std::process::exit(3)
}

fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| fail(&e.to_string()))
}

fn job(id: String, key: Option<String>) -> NewJob {
    NewJob {
        id,
        queue: "runs".into(),
        priority: 0,
        max_attempts: 3,
        idempotency_key: key,
        request: serde_json::json!({}),
        created_by: "bench".into(),
    }
}

/// Enqueues `n` jobs, then `workers` threads claim and complete them one at a time until the
/// queue is empty: (enqueues per second, completions per second).
fn measure(db: &Db, tenant: &TenantId, round: usize, n: usize, workers: usize) -> (f64, f64) {
    let q = Queue::new(db.clone());
    let t = Instant::now();
    for i in 0..n {
        ok(q.enqueue(
            tenant,
            &job(format!("r{round}-{i}"), Some(format!("k{round}-{i}"))),
        ));
    }
    let enqueued = n as f64 / t.elapsed().as_secs_f64();
    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let t = Instant::now();
    std::thread::scope(|s| {
        for w in 0..workers {
            let (q, done) = (q.clone(), Arc::clone(&done));
            s.spawn(move || {
                let me = format!("w{w}");
                loop {
                    let leases = ok(q.claim("runs", &me, 1, 30_000, 600_000));
                    let Some(lease) = leases.into_iter().next() else {
                        return;
                    };
                    if ok(q.finish(&lease, Outcome::Succeeded, None)) {
                        done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let completed = done.load(std::sync::atomic::Ordering::Relaxed);
    if completed != n {
        fail(&format!("{completed} of {n} jobs completed"));
    }
    (enqueued, n as f64 / t.elapsed().as_secs_f64())
}

fn backend(name: &str, db: &Db, n: usize) {
    ok(db.migrate(gauntlet_store::schema::server(db.dialect())));
    let accounts = Accounts::new(db.clone());
    ok(accounts.create_tenant(&Tenant {
        id: "bench".into(),
        name: "bench".into(),
        quotas: Quotas::default(),
        created_at: "2026-01-01T00:00:00Z".into(),
    }));
    let tenant = TenantId::new("bench");
    println!("\n{name}");
    println!(
        "{:>8} | {:>16} | {:>20} | {:>8}",
        "workers", "enqueues/s", "claim+complete/s", "scaling"
    );
    let mut one = 0.0;
    for (round, workers) in [1usize, 2, 4, 8].into_iter().enumerate() {
        let (enq, jobs) = measure(db, &tenant, round, n, workers);
        if workers == 1 {
            one = jobs;
        }
        println!(
            "{workers:>8} | {enq:>16.0} | {jobs:>20.0} | {:>7.2}x",
            jobs / one
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(5000);
    let base = args
        .get(1)
        .cloned()
        .or_else(|| std::env::var(gauntlet_store::db::scratch::TEST_DATABASE_URL).ok())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".into());
    println!(
        "the bare run queue: {n} empty jobs per row, enqueued with idempotency keys, then claimed one at a time and completed (attempt-fenced), this machine ({} cores)",
        std::thread::available_parallelism().map_or(0, |c| c.get())
    );
    let (pg, url) = {
        let name = format!("gauntlet_bench_queue_{}", std::process::id());
        let admin = ok(Db::postgres(&base));
        ok(admin.with_conn(|c| c.batch(&format!("CREATE DATABASE \"{name}\""))));
        let url = gauntlet_store::db::scratch::with_database(&base, &name)
            .unwrap_or_else(|| fail("the PostgreSQL URL names no database"));
        (ok(Db::postgres(&url)), (admin, name))
    };
    backend(&format!("PostgreSQL ({})", pg.location()), &pg, n);
    drop(pg);
    let (admin, name) = url;
    let _ =
        admin.with_conn(|c| c.batch(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")));
    let dir = std::env::temp_dir().join(format!("gauntlet-queue-bench-{}", std::process::id()));
    ok(std::fs::create_dir_all(&dir));
    let lite = ok(Db::sqlite(&dir.join("queue.db")));
    backend("SQLite (embedded, one file)", &lite, n);
    drop(lite);
    let _ = std::fs::remove_dir_all(&dir);
}
