//! `gauntlet serve` as a process, under the faults of `design/queue.md`: killed with SIGKILL in
//! the middle of a run (no graceful hand-back, no flush), then started again on the same store,
//! it finishes the run with every case recorded exactly once (on SQLite the new process takes
//! the orphan at start-up; on PostgreSQL, where other machines may be working, it waits for the
//! dead worker's lease). Frozen with SIGSTOP while a second server takes its run over, then
//! thawed, the old process is a zombie whose writes the attempt fence refuses.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::examples;

pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn command(dir: &Path, db: &str, args: &[&str]) -> Command {
    // `.ci/run` runs the browser tests against the release binary too.
    let bin = std::env::var("GAUNTLET_TEST_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_gauntlet").to_owned());
    let mut c = Command::new(bin);
    c.args(args)
        .current_dir(dir)
        .env("GAUNTLET_DATABASE_URL", db)
        .env("GAUNTLET_AUDIT_KEY", dir.join("audit.pem"))
        .env("NO_COLOR", "1");
    c
}

/// Starts `gauntlet serve` on a free port and waits for the line that names its address.
fn serve(dir: &Path, db: &str) -> Server {
    serve_with(dir, db, &[])
}

/// [`serve`] with more variables in the server's environment.
pub(crate) fn serve_with(dir: &Path, db: &str, env: &[(&str, &str)]) -> Server {
    serve_args(dir, db, &["--workers", "1"], env)
}

/// `gauntlet serve` with `extra` arguments and `env` in its environment.
pub(crate) fn serve_args(dir: &Path, db: &str, extra: &[&str], env: &[(&str, &str)]) -> Server {
    let mut args = vec![
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--lease",
        "2",
        "--rate-limit",
        "100000",
    ];
    args.extend_from_slice(extra);
    let mut c = command(dir, db, &args);
    c.envs(env.iter().copied());
    listening(c)
}

/// Starts a `gauntlet` process (with the test's secrets key) and waits for the line of its
/// stderr that names an `http://` address.
pub(crate) fn listening(mut command: Command) -> Server {
    let mut child = command
        .env(
            "GAUNTLET_SECRETS_KEY",
            command_dir(&command).join("secrets.key"),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("gauntlet starts");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr is piped")).lines();
    let mut seen = String::new();
    let addr = loop {
        let Some(Ok(line)) = lines.next() else {
            panic!("gauntlet stopped before it listened:\n{seen}");
        };
        if let Some(rest) = line.split("http://").nth(1) {
            break rest.split('/').next().unwrap_or_default().to_owned();
        }
        seen.push_str(&line);
        seen.push('\n');
    };
    // Keep draining stderr so the process never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Server { child, addr }
}

fn command_dir(c: &Command) -> std::path::PathBuf {
    c.get_current_dir()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// One HTTP/1.1 exchange (`Connection: close`), returning the status and the JSON body.
pub(crate) fn call(
    s: &Server,
    key: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let (status, body) = call_raw(s, key, method, path, body);
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// One exchange, returning the status and the body's bytes.
pub(crate) fn call_raw(
    s: &Server,
    key: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> (u16, Vec<u8>) {
    let mut stream = TcpStream::connect(&s.addr).expect("the server accepts");
    let body = body.map(Value::to_string).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {key}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        s.addr,
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .expect("the request is sent");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("the response is read");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete response");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let rest = &raw[split + 4..];
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(rest)
    } else {
        rest.to_vec()
    };
    (status, body)
}

fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(at) = rest.windows(2).position(|w| w == b"\r\n") {
        let size = String::from_utf8_lossy(&rest[..at]).to_string();
        let tail = &rest[at + 2..];
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || tail.len() < n {
            break;
        }
        out.extend_from_slice(&tail[..n]);
        rest = tail[n..].strip_prefix(b"\r\n").unwrap_or(&tail[n..]);
    }
    out
}

pub(crate) fn wait_until(
    what: &str,
    timeout: Duration,
    mut done: impl FnMut() -> Option<Value>,
) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = done() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A platform admin, a server, a tenant `acme` with the quickstart uploaded, and a long run
/// (12 cases × 60) started and running: (server, tenant admin key, run status path).
fn running_run(dir: &Path, db: &str) -> (Server, String, String) {
    let (s, key) = server_with_tenant(dir, db, &[]);
    let yaml = std::fs::read_to_string(examples().join("quickstart/gauntlet.yaml"))
        .expect("the quickstart suite");
    let (st, body) = call(
        &s,
        &key,
        "POST",
        "/api/v1/suites",
        Some(&json!({"name": "qs", "files": {"gauntlet.yaml": yaml}})),
    );
    assert_eq!(st, 201, "{body}");
    let (st, run) = call(
        &s,
        &key,
        "POST",
        "/api/v1/runs",
        Some(&json!({"suite": "qs", "run": "basics", "repeat": 60, "concurrency": 2})),
    );
    assert_eq!(st, 202, "{run}");
    let id = run["id"].as_str().expect("a run id").to_owned();
    let status = format!("/api/v1/runs/{id}");
    wait_until("the run to start", Duration::from_secs(60), || {
        let (_, v) = call(&s, &key, "GET", &status, None);
        (v["state"] == "running").then_some(v)
    });
    std::thread::sleep(Duration::from_millis(150));
    (s, key, status)
}

/// A platform admin, `gauntlet serve` on `db` with `env` in its environment, and a tenant
/// `acme`: (server, the tenant admin's key).
pub(crate) fn server_with_tenant(dir: &Path, db: &str, env: &[(&str, &str)]) -> (Server, String) {
    server_with_tenant_args(dir, db, &["--workers", "1"], env)
}

/// [`server_with_tenant`] with `extra` arguments to `gauntlet serve`.
pub(crate) fn server_with_tenant_args(
    dir: &Path,
    db: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (Server, String) {
    let out = command(
        dir,
        db,
        &["admin", "create", "--tenant", "ops", "--user", "root"],
    )
    .output()
    .expect("gauntlet admin create runs");
    assert!(out.status.success(), "{out:?}");
    let root = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let s = serve_args(dir, db, extra, env);
    let (st, made) = call(
        &s,
        &root,
        "POST",
        "/api/v1/tenants",
        Some(&json!({"id": "acme", "admin": "alice"})),
    );
    assert_eq!(st, 201, "{made}");
    let key = made["admin_key"]["token"]
        .as_str()
        .expect("an admin key")
        .to_owned();
    (s, key)
}

/// The run finished once, by a later attempt, with each of its 720 cases stored once.
fn finished_exactly_once(s: &Server, key: &str, status: &str, timeout: Duration) -> Value {
    let done = wait_until("the run to finish after the takeover", timeout, || {
        let (_, v) = call(s, key, "GET", status, None);
        matches!(v["state"].as_str(), Some("succeeded" | "failed")).then_some(v)
    });
    assert_eq!(done["state"], "succeeded", "{done}");
    assert!(
        done["attempt"].as_i64() >= Some(2),
        "the fault did not interrupt the run: {done}"
    );
    let (st, body) = call(s, key, "GET", &format!("{status}/results"), None);
    assert_eq!(st, 200, "{body}");
    let cases = body["cases"].as_array().cloned().unwrap_or_default();
    assert_eq!(cases.len(), 12 * 60, "every case is recorded once");
    let mut idx: Vec<u64> = cases.iter().filter_map(|c| c["index"].as_u64()).collect();
    idx.sort_unstable();
    idx.dedup();
    assert_eq!(idx.len(), 12 * 60, "no case index is recorded twice");
    done
}

fn sigkill_mid_run_then_restart_on(dir: &Path, db: &str, takeover: Duration) {
    let (mut s, key, status) = running_run(dir, db);
    s.child.kill().expect("SIGKILL is delivered");
    let _ = s.child.wait();
    drop(s);

    let s = serve(dir, db);
    finished_exactly_once(&s, &key, &status, takeover + Duration::from_secs(120));
}

pub(crate) fn signal(s: &Server, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &s.child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(ok.success(), "kill {sig}");
}

/// A scratch PostgreSQL database's URL, or `None` (said loudly) without a test server.
pub(crate) fn scratch_postgres(test: &str) -> Option<String> {
    let found = gauntlet_store::db::scratch::postgres(test).expect("a scratch database");
    if found.is_none() {
        gauntlet_store::db::scratch::skipped(test);
    }
    found.map(|(_, url)| url)
}

#[test]
fn a_server_killed_mid_run_resumes_it_on_restart_sqlite() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("server.db").display().to_string();
    sigkill_mid_run_then_restart_on(dir.path(), &db, Duration::ZERO);
}

#[test]
fn a_server_killed_mid_run_resumes_it_on_restart_postgres() {
    let Some(url) = scratch_postgres("a_server_killed_mid_run_resumes_it_on_restart_postgres")
    else {
        return;
    };
    let dir = tempfile::tempdir().expect("a temporary directory");
    // The dead worker's lease (2 s) must run out and the reaper (every 5 s) must see it.
    sigkill_mid_run_then_restart_on(dir.path(), &url, Duration::from_secs(10));
}

#[test]
fn a_frozen_server_cannot_write_into_a_run_another_took_over() {
    let Some(url) = scratch_postgres("a_frozen_server_cannot_write_into_a_run_another_took_over")
    else {
        return;
    };
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (zombie, key, status) = running_run(dir.path(), &url);
    signal(&zombie, "-STOP");
    let other = serve(dir.path(), &url);
    // The frozen worker's lease (2 s) runs out; the reaper (every 5 s) hands the run on.
    wait_until(
        "the second server to take the run",
        Duration::from_secs(60),
        || {
            let (_, v) = call(&other, &key, "GET", &status, None);
            (v["attempt"].as_i64() >= Some(2) && v["state"] == "running").then_some(v)
        },
    );
    signal(&zombie, "-CONT");
    let done = finished_exactly_once(&other, &key, &status, Duration::from_secs(120));
    // The thawed process went on with its attempt; none of it may land, now or later.
    std::thread::sleep(Duration::from_secs(3));
    let after = finished_exactly_once(&other, &key, &status, Duration::from_secs(5));
    assert_eq!(
        (&after["state"], &after["attempt"]),
        (&done["state"], &done["attempt"])
    );
    let (st, _) = call(&zombie, &key, "GET", "/healthz", None);
    assert_eq!(st, 200, "the thawed server still answers");
}
