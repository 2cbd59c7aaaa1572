//! `gauntlet worker` processes beside an API that executes nothing (`serve --workers 0`), on
//! PostgreSQL: the worker claims the run, its live events reach the API's subscribers, a
//! cancel sent to the API stops it on the worker within a second (the lease is long, so only
//! the note can do it), its operational endpoints answer, and SIGTERM drains it: the run in
//! hand finishes within the grace, or is handed back to another worker without it.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::examples;
use crate::serve::{
    Server, call, call_raw, command, listening, scratch_postgres, server_with_tenant_args, signal,
    wait_until,
};

/// `gauntlet worker` on `db` with `extra` arguments, its ops endpoints on a free port.
fn worker(dir: &Path, db: &str, extra: &[&str]) -> Server {
    let mut args = vec!["worker", "--metrics-listen", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    listening(command(dir, db, &args))
}

/// The quickstart uploaded as `qs` (a new version when it is there already).
pub(crate) fn upload(api: &Server, key: &str) {
    let yaml = std::fs::read_to_string(examples().join("quickstart/gauntlet.yaml"))
        .expect("the quickstart suite");
    let (st, body) = call(
        api,
        key,
        "POST",
        "/api/v1/suites",
        Some(&json!({"name": "qs", "files": {"gauntlet.yaml": yaml}})),
    );
    assert!(st == 201 || st == 200, "{st} {body}");
}

/// A run of `repeat` × the 12 cases of `qs` queued: its status path.
pub(crate) fn queue(api: &Server, key: &str, repeat: u64) -> String {
    let (st, run) = call(
        api,
        key,
        "POST",
        "/api/v1/runs",
        Some(&json!({"suite": "qs", "run": "basics", "repeat": repeat, "concurrency": 2})),
    );
    assert_eq!(st, 202, "{run}");
    format!("/api/v1/runs/{}", run["id"].as_str().expect("a run id"))
}

/// The quickstart uploaded and a run of it queued: the run's status path.
fn queue_run(api: &Server, key: &str, repeat: u64) -> String {
    upload(api, key);
    queue(api, key, repeat)
}

fn state(api: &Server, key: &str, status: &str) -> Value {
    call(api, key, "GET", status, None).1
}

/// Reads the run's event stream from the API until `wanted` appears in it.
fn stream_until(api: &Server, key: &str, status: &str, wanted: &str, timeout: Duration) -> String {
    let mut stream = TcpStream::connect(&api.addr).expect("the API accepts");
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("a read timeout");
    let request = format!(
        "GET {status}/events HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {key}\r\nAccept: text/event-stream\r\n\r\n",
        api.addr
    );
    stream.write_all(request.as_bytes()).expect("sent");
    let (deadline, mut seen, mut buf) = (Instant::now() + timeout, String::new(), [0u8; 8192]);
    while Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
            Err(_) => {}
        }
        if seen.contains(wanted) {
            return seen;
        }
    }
    panic!("`{wanted}` never came on the API's stream; it carried:\n{seen}");
}

#[test]
fn workers_execute_what_an_api_without_workers_queues_and_hear_its_cancels() {
    let Some(url) = scratch_postgres("workers_execute_what_an_api_without_workers_queues") else {
        return;
    };
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (api, key) = server_with_tenant_args(dir.path(), &url, &["--workers", "0"], &[]);
    let status = queue_run(&api, &key, 60);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        state(&api, &key, &status)["state"],
        "pending",
        "the API executes nothing itself"
    );

    // A 30 s lease: the heartbeat (every 10 s) is far too slow for the cancel below.
    let w = worker(dir.path(), &url, &["--concurrency", "1", "--lease", "30"]);
    let (st, ready) = call_raw(&w, "", "GET", "/readyz", None);
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&ready));
    // Cases executed on the worker reach the API's subscriber through the database.
    let events = stream_until(
        &api,
        &key,
        &status,
        "\"type\":\"case\"",
        Duration::from_secs(60),
    );
    assert!(events.contains("\"state\":\"running\""), "{events}");
    let (st, metrics) = call_raw(&w, "", "GET", "/metrics", None);
    let metrics = String::from_utf8_lossy(&metrics);
    assert_eq!(st, 200);
    assert!(metrics.contains("gauntlet_workers_busy 1"), "{metrics}");

    let asked = Instant::now();
    let (st, body) = call(&api, &key, "POST", &format!("{status}/cancel"), None);
    assert_eq!(st, 200, "{body}");
    let done = wait_until("the worker to stop the run", Duration::from_secs(5), || {
        let v = state(&api, &key, &status);
        (v["state"] == "cancelled").then_some(v)
    });
    let took = asked.elapsed();
    assert!(
        took < Duration::from_millis(1500),
        "the cancel took {took:?} to stop the run on the worker: {done}"
    );
}

#[test]
fn sigterm_drains_a_worker_within_its_grace_or_hands_the_run_on() {
    let Some(url) = scratch_postgres("sigterm_drains_a_worker_within_its_grace") else {
        return;
    };
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (api, key) = server_with_tenant_args(dir.path(), &url, &["--workers", "0"], &[]);

    // With a grace, the run in hand finishes before the worker exits.
    let mut patient = worker(dir.path(), &url, &["--grace", "60", "--lease", "5"]);
    let status = queue_run(&api, &key, 5);
    wait_until("the run to start", Duration::from_secs(60), || {
        let v = state(&api, &key, &status);
        (v["state"] == "running").then_some(v)
    });
    signal(&patient, "-TERM");
    let exit = patient.child.wait().expect("the worker exits");
    assert!(exit.success(), "{exit:?}");
    let v = state(&api, &key, &status);
    assert_eq!(v["state"], "succeeded", "finished within the grace: {v}");
    assert_eq!(v["attempt"], 1, "{v}");

    // Without one, the run is handed back at once and another worker finishes it.
    let hasty = worker(dir.path(), &url, &["--grace", "0", "--lease", "5"]);
    let status = queue_run(&api, &key, 60);
    wait_until("the run to start", Duration::from_secs(60), || {
        let v = state(&api, &key, &status);
        (v["state"] == "running").then_some(v)
    });
    std::thread::sleep(Duration::from_millis(300));
    signal(&hasty, "-TERM");
    let handed = wait_until("the run to be handed back", Duration::from_secs(10), || {
        let v = state(&api, &key, &status);
        (v["state"] == "pending").then_some(v)
    });
    assert_eq!(handed["attempt"], 1, "{handed}");
    let _next = worker(dir.path(), &url, &["--lease", "5"]);
    let done = wait_until(
        "the second worker to finish it",
        Duration::from_secs(120),
        || {
            let v = state(&api, &key, &status);
            matches!(v["state"].as_str(), Some("succeeded" | "failed")).then_some(v)
        },
    );
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(done["attempt"], 2, "{done}");
    let (st, body) = call(&api, &key, "GET", &format!("{status}/results"), None);
    assert_eq!(st, 200, "{body}");
    let cases = body["cases"].as_array().cloned().unwrap_or_default();
    let mut idx: Vec<u64> = cases.iter().filter_map(|c| c["index"].as_u64()).collect();
    let n = idx.len();
    idx.sort_unstable();
    idx.dedup();
    assert_eq!(
        (n, idx.len()),
        (12 * 60, 12 * 60),
        "each case recorded once"
    );
}

#[test]
fn a_worker_refuses_sqlite_and_an_api_without_workers_on_sqlite_refuses_too() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("server.db").display().to_string();
    let out = command(dir.path(), &db, &["worker"])
        .output()
        .expect("gauntlet worker runs");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("PostgreSQL"),
        "{out:?}"
    );
    let out = command(dir.path(), &db, &["serve", "--workers", "0"])
        .output()
        .expect("gauntlet serve runs");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--workers 0"),
        "{out:?}"
    );
}
