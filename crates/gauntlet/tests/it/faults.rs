//! The fault-injection harness of `design/queue.md`, on a PostgreSQL cluster of the test's own
//! (initdb in a temporary directory, on a free port), so that it can be restarted with
//! `-m immediate` without touching the server the other tests share. An API without workers
//! queues runs; `gauntlet worker` processes execute them while the harness restarts the
//! database under their claims and completions, kills workers with SIGKILL mid-step and
//! mid-commit, or cuts one worker off behind a proxy that stops forwarding past its lease and
//! then lets its stale writes through. A checker then
//! reads the recorded history and asserts the invariants: every queued run reached one
//! terminal state (no lost run), it succeeded once, each of its cases is recorded exactly once,
//! and attempts stay within the maximum. Many concurrent enqueues with one idempotency key
//! create one run.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::serve::{Server, call, command, listening, server_with_tenant_args, wait_until};
use crate::workers::{queue, upload};

/// A PostgreSQL cluster of the test's own, stopped when dropped.
struct Cluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
}

impl Cluster {
    /// Starts one, or `None` (said loudly) where PostgreSQL's server binaries are missing.
    fn start(test: &str) -> Option<Cluster> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(Result::ok)
            .map(|e| e.path().join("bin"))
            .find(|b| b.join("initdb").exists());
        let Some(bin) = bin else {
            let _ = writeln!(
                std::io::stderr(),
                "\n*** SKIPPED: `{test}`: no PostgreSQL server binaries under /usr/lib/postgresql ***\n"
            );
            return None;
        };
        let dir = tempfile::tempdir().expect("a temporary directory");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let c = Cluster { bin, dir, port };
        // initdb refuses to run as root; the cluster then belongs to `postgres`.
        if is_root() {
            let ok = Command::new("chown")
                .args(["postgres", &c.dir.path().display().to_string()])
                .status()
                .expect("chown runs");
            assert!(ok.success());
        }
        let out = c
            .pg("initdb")
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
            .arg(c.data())
            .output()
            .expect("initdb runs");
        assert!(out.status.success(), "{out:?}");
        c.ctl(&["start"]);
        Some(c)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn pg(&self, tool: &str) -> Command {
        let exe = self.bin.join(tool);
        if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        }
    }

    fn ctl(&self, what: &[&str]) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            self.port,
            self.dir.path().display()
        );
        let out = self
            .pg("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-w", "-t", "60", "-l"])
            .arg(self.dir.path().join("log"))
            .args(["-o", &options])
            .args(what)
            .output()
            .expect("pg_ctl runs");
        assert!(out.status.success(), "pg_ctl {what:?}: {out:?}");
    }

    /// Kills every backend without a checkpoint (a crash), then starts again.
    fn restart_immediately(&self) {
        self.ctl(&["-m", "immediate", "restart"]);
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self
            .pg("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "stop"])
            .output();
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A TCP proxy that can stop forwarding (holding what it read) and start again: a network
/// partition whose stale packets arrive once it heals.
struct Partition {
    addr: String,
    frozen: Arc<AtomicBool>,
}

impl Partition {
    fn new(upstream: u16) -> Partition {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a proxy port");
        let addr = listener.local_addr().expect("its address").to_string();
        let frozen = Arc::new(AtomicBool::new(false));
        let f = Arc::clone(&frozen);
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                for (mut from, mut to) in [
                    (client.try_clone(), server.try_clone()),
                    (server.try_clone(), client.try_clone()),
                ]
                .into_iter()
                .filter_map(|(a, b)| Some((a.ok()?, b.ok()?)))
                {
                    let f = Arc::clone(&f);
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 16384];
                        while let Ok(n @ 1..) = from.read(&mut buf) {
                            while f.load(Ordering::SeqCst) {
                                std::thread::sleep(Duration::from_millis(20));
                            }
                            if to.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        Partition { addr, frozen }
    }

    fn url(&self) -> String {
        format!("postgres://postgres@{}/postgres", self.addr)
    }
}

fn worker(dir: &Path, db: &str, extra: &[&str]) -> Server {
    let mut args = vec!["worker", "--metrics-listen", "127.0.0.1:0", "--lease", "2"];
    args.extend_from_slice(extra);
    listening(command(dir, db, &args))
}

/// A cluster of the test's own, an API without workers on it with a tenant, and the
/// quickstart uploaded: (cluster, scratch directory, database URL, API, tenant admin key).
fn setup(test: &str) -> Option<(Cluster, tempfile::TempDir, String, Server, String)> {
    let pg = Cluster::start(test)?;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = pg.url();
    let (api, key) = server_with_tenant_args(dir.path(), &url, &["--workers", "0"], &[]);
    upload(&api, &key);
    Some((pg, dir, url, api, key))
}

/// The checker: each run reached a terminal state (waiting up to `timeout` once the faults
/// stopped), succeeded once within the attempts allowed, and recorded each of its cases
/// exactly once. Returns the runs' final states.
fn check(api: &Server, key: &str, runs: &[(String, u64)], timeout: Duration) -> Vec<Value> {
    let mut finals = Vec::new();
    for (status, repeat) in runs {
        let done = wait_until(&format!("{status} to end"), timeout, || {
            match call(api, key, "GET", status, None) {
                (200, v)
                    if matches!(
                        v["state"].as_str(),
                        Some("succeeded" | "failed" | "cancelled")
                    ) =>
                {
                    Some(v)
                }
                _ => None,
            }
        });
        assert_eq!(done["state"], "succeeded", "no lost or failed run: {done}");
        let attempt = done["attempt"].as_i64().unwrap_or(0);
        assert!(
            (1..=3).contains(&attempt),
            "attempts within the maximum: {done}"
        );
        let (st, body) = call(api, key, "GET", &format!("{status}/results"), None);
        assert_eq!(st, 200, "{body}");
        let cases = body["cases"].as_array().cloned().unwrap_or_default();
        let mut idx: Vec<u64> = cases.iter().filter_map(|c| c["index"].as_u64()).collect();
        let recorded = idx.len();
        idx.sort_unstable();
        idx.dedup();
        let planned = (12 * repeat) as usize;
        assert_eq!(
            (recorded, idx.len()),
            (planned, planned),
            "each case of {status} recorded exactly once"
        );
        finals.push(done);
    }
    finals
}

#[test]
fn runs_complete_exactly_once_through_immediate_database_restarts() {
    let Some((pg, dir, url, api, key)) =
        setup("runs_complete_exactly_once_through_immediate_database_restarts")
    else {
        return;
    };
    let _w1 = worker(dir.path(), &url, &["--concurrency", "2"]);
    let _w2 = worker(dir.path(), &url, &["--concurrency", "2"]);
    let runs: Vec<(String, u64)> = (0..6).map(|_| (queue(&api, &key, 20), 20)).collect();
    // Restarts while the workers claim (runs still queued) and while they complete cases and
    // runs; each takes every backend down without a checkpoint.
    let begin = Instant::now();
    for pause in [300, 900, 1500, 700] {
        std::thread::sleep(Duration::from_millis(pause));
        pg.restart_immediately();
    }
    let finals = check(&api, &key, &runs, Duration::from_secs(180));
    let retried = finals
        .iter()
        .filter(|v| v["attempt"].as_i64() > Some(1))
        .count();
    let _ = writeln!(
        std::io::stderr(),
        "faults: 4 immediate restarts in {:?}; {retried} of {} runs needed another attempt",
        begin.elapsed(),
        finals.len()
    );
}

#[test]
fn runs_complete_exactly_once_while_workers_are_killed_mid_step_and_mid_commit() {
    let Some((_pg, dir, url, api, key)) =
        setup("runs_complete_exactly_once_while_workers_are_killed")
    else {
        return;
    };
    let runs: Vec<(String, u64)> = (0..4).map(|_| (queue(&api, &key, 30), 30)).collect();
    // A worker is killed (no hand-back, no flush) every 700 ms while cases are executed and
    // their batches committed, and a fresh one started; a survivor keeps going throughout.
    let _survivor = worker(dir.path(), &url, &["--concurrency", "1"]);
    let mut victim = worker(dir.path(), &url, &["--concurrency", "2"]);
    for _ in 0..6 {
        std::thread::sleep(Duration::from_millis(700));
        victim.child.kill().expect("SIGKILL is delivered");
        let _ = victim.child.wait();
        victim = worker(dir.path(), &url, &["--concurrency", "2"]);
    }
    check(&api, &key, &runs, Duration::from_secs(180));
}

#[test]
fn a_worker_cut_off_past_its_lease_cannot_write_once_it_is_back() {
    let Some((pg, dir, url, api, key)) =
        setup("a_worker_cut_off_past_its_lease_cannot_write_once_it_is_back")
    else {
        return;
    };
    let cut = Partition::new(pg.port);
    let _isolated = worker(dir.path(), &cut.url(), &["--concurrency", "1"]);
    let status = queue(&api, &key, 60);
    wait_until("the run to start", Duration::from_secs(60), || {
        let (_, v) = call(&api, &key, "GET", &status, None);
        (v["state"] == "running").then_some(v)
    });
    std::thread::sleep(Duration::from_millis(300));
    // The worker's packets stop; its lease (2 s) runs out and the reaper hands the run on to
    // a worker that still reaches the database.
    cut.frozen.store(true, Ordering::SeqCst);
    let _healthy = worker(dir.path(), &url, &["--concurrency", "1"]);
    wait_until(
        "another worker to take the run over",
        Duration::from_secs(60),
        || {
            let (_, v) = call(&api, &key, "GET", &status, None);
            (v["attempt"].as_i64() >= Some(2) && v["state"] == "running").then_some(v)
        },
    );
    // The partition heals: everything the cut-off worker sent arrives now, under its old
    // attempt, and must be refused.
    cut.frozen.store(false, Ordering::SeqCst);
    let finals = check(
        &api,
        &key,
        &[(status.clone(), 60)],
        Duration::from_secs(120),
    );
    std::thread::sleep(Duration::from_secs(3));
    let again = check(&api, &key, &[(status, 60)], Duration::from_secs(5));
    assert_eq!(
        (&finals[0]["state"], &finals[0]["attempt"]),
        (&again[0]["state"], &again[0]["attempt"]),
        "nothing of the old attempt landed later"
    );
}

#[test]
fn concurrent_enqueues_with_one_idempotency_key_make_one_run() {
    let Some((_pg, _dir, _url, api, key)) =
        setup("concurrent_enqueues_with_one_idempotency_key_make_one_run")
    else {
        return;
    };
    let addr = api.addr.clone();
    let ids: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..32)
            .map(|_| {
                let (addr, key) = (addr.clone(), key.clone());
                s.spawn(move || {
                    let body = json!({"suite": "qs", "run": "basics"}).to_string();
                    let mut stream = TcpStream::connect(&addr).expect("the API accepts");
                    let request = format!(
                        "POST /api/v1/runs HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\nIdempotency-Key: one-run\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    stream.write_all(request.as_bytes()).expect("sent");
                    let mut raw = String::new();
                    stream.read_to_string(&mut raw).expect("read");
                    let json_at = raw.find("\r\n\r\n").expect("a response") + 4;
                    let v: Value = serde_json::from_str(&raw[json_at..]).unwrap_or(Value::Null);
                    assert!(
                        raw.starts_with("HTTP/1.1 202") || raw.starts_with("HTTP/1.1 200"),
                        "{raw}"
                    );
                    v["id"].as_str().unwrap_or_default().to_owned()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a client thread"))
            .collect()
    });
    let mut distinct = ids.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 1, "one run for one key: {ids:?}");
    let (st, list) = call(&api, &key, "GET", "/api/v1/runs", None);
    assert_eq!(st, 200, "{list}");
    let listed = list["runs"].as_array().map_or(0, Vec::len);
    assert_eq!(listed, 1, "{list}");
}
