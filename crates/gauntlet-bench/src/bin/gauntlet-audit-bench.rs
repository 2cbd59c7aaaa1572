//! Audit log benchmarks: append throughput (batched, and one signed head per event), full
//! verification of a 1,000,000-event log (library and `gauntlet audit verify`), and inclusion
//! proofs. `scripts/bench-audit` builds and runs it. Figures are printed, never asserted.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::Command;
use std::time::Instant;

use gauntlet_audit::{AuditLog, LocalSigner, NewEvent, Signer, TrustedKeys};
use gauntlet_store::sqlite::SqliteStore;

fn fail(msg: &str) -> ! {
    eprintln!("gauntlet-audit-bench: {msg}");
    std::process::exit(3)
}

fn event(i: u64) -> NewEvent {
    NewEvent::new("local", "cli:bench", "run.finish", format!("run/{i:026}"))
        .digest(format!("{i:064x}"))
        .details(serde_json::json!({ "status": "passed", "cases": 12, "passed": 12, "failed": 0, "errored": 0 }))
}

fn main() {
    let total: u64 = std::env::args()
        .nth(1)
        .map(|a| {
            a.parse()
                .unwrap_or_else(|_| fail("usage: gauntlet-audit-bench [EVENTS]"))
        })
        .unwrap_or(1_000_000);
    let batch: u64 = 1_000;
    let work = std::env::temp_dir().join(format!("gauntlet-audit-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap_or_else(|e| fail(&e.to_string()));
    let db = work.join("audit.db");
    let key = work.join("audit.pem");
    let store = SqliteStore::open(&db).unwrap_or_else(|e| fail(&e.to_string()));
    let (signer, _) = LocalSigner::load_or_create(&key).unwrap_or_else(|e| fail(&e.to_string()));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap_or_else(|e| fail(&e.to_string()));
    let log = AuditLog {
        storage: &store,
        signer: &signer,
    };
    println!(
        "audit log benchmarks ({} cores, SQLite WAL synchronous=FULL)\n",
        std::thread::available_parallelism().map_or(1, usize::from)
    );

    // One event per append: a transaction, an fsync and a signature each (the CLI's pattern).
    let singles = 1_000u64;
    let t = Instant::now();
    for i in 0..singles {
        rt.block_on(log.append(vec![event(i)]))
            .unwrap_or_else(|e| fail(&e.to_string()));
    }
    let single_rate = singles as f64 / t.elapsed().as_secs_f64();
    println!(
        "append, 1 event per signed head    {single_rate:>10.0} events/s  ({singles} appends)"
    );

    // Batched appends: one transaction and one signed head per batch.
    let t = Instant::now();
    let mut n = singles;
    while n < total {
        let end = (n + batch).min(total);
        rt.block_on(log.append((n..end).map(event).collect()))
            .unwrap_or_else(|e| fail(&e.to_string()));
        n = end;
    }
    let batched = (total - singles) as f64 / t.elapsed().as_secs_f64();
    println!(
        "append, batches of {batch:<5}            {batched:>10.0} events/s  (target ≥ 20,000; {:.1}× it)",
        batched / 20_000.0
    );

    let mut trusted = TrustedKeys::new();
    trusted.add(*signer.public_key());
    let t = Instant::now();
    let v = gauntlet_audit::verify::verify(&store, &trusted, None)
        .unwrap_or_else(|e| fail(&e.to_string()));
    let verify_s = t.elapsed().as_secs_f64();
    if !v.ok() {
        fail(&format!(
            "the benchmark log does not verify: {:?}",
            v.problems
        ));
    }
    println!(
        "verify {} events, {} heads   {verify_s:>10.2} s       ({:.0} events/s)",
        v.events,
        v.checkpoints,
        v.events as f64 / verify_s
    );

    let picks: Vec<u64> = (0..100).map(|i| i * (total / 100)).collect();
    let t = Instant::now();
    let proofs = gauntlet_audit::log::proofs(&store, &picks, &trusted)
        .unwrap_or_else(|e| fail(&e.to_string()));
    println!(
        "100 inclusion proofs (one read)     {:>10.2} s       (path length {})",
        t.elapsed().as_secs_f64(),
        proofs.first().map_or(0, |p| p.path.len())
    );

    let exe = std::env::current_exe().unwrap_or_else(|e| fail(&e.to_string()));
    let bin = exe.with_file_name("gauntlet");
    if bin.exists() {
        drop(store);
        let t = Instant::now();
        let out = Command::new(&bin)
            .args(["audit", "verify", "--db"])
            .arg(&db)
            .env("GAUNTLET_AUDIT_KEY", &key)
            .output()
            .unwrap_or_else(|e| fail(&e.to_string()));
        println!(
            "`gauntlet audit verify` (process)   {:>10.2} s       exit {}",
            t.elapsed().as_secs_f64(),
            out.status.code().unwrap_or(-1)
        );
    }
    let size = std::fs::metadata(&db).map_or(0, |m| m.len());
    println!(
        "database size                       {:>10.1} MB      ({:.0} bytes/event)",
        size as f64 / 1e6,
        size as f64 / total as f64
    );
    let _ = std::fs::remove_dir_all(&work);
}
