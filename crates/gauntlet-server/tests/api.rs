#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The server end to end: a real listener, real HTTP, a SQLite store in a temporary directory.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use gauntlet_server::rbac::{self, Grants};
use gauntlet_server::routes::{Access, table};
use gauntlet_server::{AppState, ServerConfig};
use reqwest::Method;
use serde_json::{Value, json};

fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

struct Server {
    base: String,
    http: reqwest::Client,
    admin: String,
    app: AppState,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    _dir: Arc<tempfile::TempDir>,
}

/// Where a test's server keeps its data: a temporary directory, and a PostgreSQL database
/// when the test runs on PostgreSQL.
#[derive(Clone)]
struct Place {
    dir: Arc<tempfile::TempDir>,
    url: Option<String>,
}

/// SQLite always; PostgreSQL too when `GAUNTLET_TEST_DATABASE_URL` is set.
fn places(test: &str) -> Vec<Place> {
    let dir = || Arc::new(ok(tempfile::tempdir()));
    let mut out = vec![Place {
        dir: dir(),
        url: None,
    }];
    match ok(gauntlet_store::db::scratch::postgres(test)) {
        Some((_, url)) => out.push(Place {
            dir: dir(),
            url: Some(url),
        }),
        None => gauntlet_store::db::scratch::skipped(test),
    }
    out
}

async fn start_on(place: Place, admin: Option<String>) -> Server {
    let dir = Arc::clone(&place.dir);
    let store = match place.url.clone() {
        Some(url) => ok(gauntlet_store::Store::open_url(&url)),
        None => ok(gauntlet_store::Store::open(&dir.path().join("server.db"))),
    };
    let admin = match admin {
        Some(a) => a,
        None => ok(gauntlet_server::bootstrap_admin(&store, "platform", "root")),
    };
    let (signer, _) = ok(gauntlet_audit::LocalSigner::load_or_create(
        &dir.path().join("keys/audit.pem"),
    ));
    let config = ServerConfig {
        workers: 2,
        lease: Duration::from_millis(900),
        rate_limit_per_s: 10_000,
        max_body_bytes: 1 << 20,
        work_dir: dir.path().join("work"),
        ..ServerConfig::default()
    };
    let app = ok(gauntlet_server::app(store, Arc::new(signer), config));
    let listener = ok(tokio::net::TcpListener::bind("127.0.0.1:0").await);
    let base = format!("http://{}", ok(listener.local_addr()));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let a = Arc::clone(&app);
    let task = tokio::spawn(async move {
        ok(gauntlet_server::serve(a, listener, async move {
            let _ = rx.await;
        })
        .await);
    });
    Server {
        base,
        http: reqwest::Client::new(),
        admin,
        app,
        stop: Some(tx),
        task: Some(task),
        _dir: dir,
    }
}

impl Server {
    async fn call(
        &self,
        key: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if !key.is_empty() {
            req = req.bearer_auth(key);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = ok(req.send().await);
        let status = resp.status().as_u16();
        let text = ok(resp.text().await);
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            ok(t.await);
        }
    }
}

fn quickstart() -> BTreeMap<String, String> {
    let text = ok(std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/quickstart/gauntlet.yaml"
    )));
    BTreeMap::from([("gauntlet.yaml".to_owned(), text)])
}

/// A tenant with one key per built-in role and a custom role; returns role → token.
async fn tenant_with_roles(s: &Server, id: &str) -> BTreeMap<String, String> {
    let (st, body) = s
        .call(
            &s.admin,
            Method::POST,
            "/api/v1/tenants",
            Some(json!({"id": id, "admin": "boss"})),
        )
        .await;
    assert_eq!(st, 201, "{body}");
    let admin = body["admin_key"]["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let mut keys = BTreeMap::from([("admin".to_owned(), admin.clone())]);
    let (st, body) = s
        .call(
            &admin,
            Method::PUT,
            "/api/v1/roles/runner",
            Some(json!({"permissions": ["suites:read", "suites:execute", "runs:read"]})),
        )
        .await;
    assert_eq!(st, 200, "{body}");
    for role in ["developer", "analyst", "auditor", "viewer", "runner"] {
        let (st, body) = s
            .call(
                &admin,
                Method::POST,
                "/api/v1/users",
                Some(json!({"id": role, "role": role})),
            )
            .await;
        assert_eq!(st, 201, "{body}");
        let (st, body) = s
            .call(
                &admin,
                Method::POST,
                "/api/v1/keys",
                Some(json!({"name": role, "user": role})),
            )
            .await;
        assert_eq!(st, 201, "{body}");
        keys.insert(
            role.to_owned(),
            body["token"].as_str().unwrap_or_default().to_owned(),
        );
    }
    keys
}

fn concrete(path: &str, ids: &BTreeMap<&str, String>) -> String {
    path.split('/')
        .map(
            |seg| match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => ids.get(name).cloned().unwrap_or_else(|| "x".into()),
                None => seg.to_owned(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

fn sample_body(op: &str) -> Option<Value> {
    Some(match op {
        "createTenant" => json!({"id": "zz-probe", "admin": "a"}),
        "setQuotas" => json!({}),
        "createUser" => json!({"id": "probe-user", "role": "viewer"}),
        "updateUser" => json!({"role": "viewer"}),
        "putRole" => json!({"permissions": ["runs:read"]}),
        "createKey" => json!({"name": "probe"}),
        "uploadSuite" | "validateSuite" => json!({"name": "probe", "files": {"a.yaml": "x: ["}}),
        "createRun" => json!({"suite": "no-such-suite"}),
        "setBaseline" => json!({"run": "no-such-run"}),
        _ => return None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_meets_the_matrix_on_every_endpoint() {
    for place in places("every_role_meets_the_matrix_on_every_endpoint") {
        every_role_meets_the_matrix_on_every_endpoint_on(place).await;
    }
}

async fn every_role_meets_the_matrix_on_every_endpoint_on(place: Place) {
    let s = start_on(place.clone(), None).await;
    let keys = tenant_with_roles(&s, "acme").await;
    let ids = BTreeMap::new();
    let mut checked = 0;
    for route in table() {
        let path = concrete(route.path, &ids);
        let path = if route.query.iter().any(|(_, _, req)| *req) {
            format!("{path}?format=json&a=x&b=x&resource=x")
        } else {
            path
        };
        for (role, key) in &keys {
            let grants = if rbac::builtin(role).is_some() {
                Grants::new(rbac::builtin(role).unwrap_or_default())
            } else {
                Grants::new(
                    rbac::parse_all(&[
                        "suites:read".into(),
                        "suites:execute".into(),
                        "runs:read".into(),
                    ])
                    .unwrap_or_default(),
                )
            };
            let allowed = match route.access {
                Access::Public | Access::Authenticated => true,
                Access::Platform => false,
                Access::Perm(p) => grants.allows(p),
            };
            if route.access == Access::Platform && route.method == Method::DELETE {
                // Never let a probe delete a tenant.
            }
            let (status, body) = s
                .call(
                    key,
                    route.method.clone(),
                    &path,
                    sample_body(route.operation),
                )
                .await;
            if allowed {
                assert!(
                    status != 403 && status != 401,
                    "{role} {} {path}: {status} {body}",
                    route.method
                );
            } else {
                assert_eq!(status, 403, "{role} {} {path}: {body}", route.method);
                assert_eq!(body["code"], "forbidden");
                assert!(body["request_id"].as_str().is_some_and(|r| !r.is_empty()));
            }
            checked += 1;
        }
        // No credentials: only public routes answer.
        if route.access != Access::Public {
            let (status, body) = s
                .call(
                    "",
                    route.method.clone(),
                    &path,
                    sample_body(route.operation),
                )
                .await;
            assert_eq!(status, 401, "{} {path}: {body}", route.method);
            assert_eq!(body["code"], "unauthenticated");
        }
    }
    assert!(checked >= 6 * 40, "{checked}");
    s.stop().await;
}

async fn wait_for(s: &Server, key: &str, run: &str, states: &[&str]) -> Value {
    for _ in 0..300 {
        let (st, body) = s
            .call(key, Method::GET, &format!("/api/v1/runs/{run}"), None)
            .await;
        assert_eq!(st, 200, "{body}");
        if states.iter().any(|x| body["state"] == *x) {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("run {run} never reached {states:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenants_objects_answer_404_on_every_endpoint() {
    for place in places("another_tenants_objects_answer_404_on_every_endpoint") {
        another_tenants_objects_answer_404_on_every_endpoint_on(place).await;
    }
}

async fn another_tenants_objects_answer_404_on_every_endpoint_on(place: Place) {
    let s = start_on(place.clone(), None).await;
    let a = tenant_with_roles(&s, "acme").await;
    let b = tenant_with_roles(&s, "globex").await;
    let admin_a = &a["admin"];
    let (st, body) = s
        .call(
            admin_a,
            Method::POST,
            "/api/v1/suites",
            Some(json!({"name": "secret-suite", "files": quickstart()})),
        )
        .await;
    assert_eq!(st, 201, "{body}");
    let (st, run) = s
        .call(
            admin_a,
            Method::POST,
            "/api/v1/runs",
            Some(json!({"suite": "secret-suite", "run": "basics"})),
        )
        .await;
    assert_eq!(st, 202, "{run}");
    let run_id = run["id"].as_str().unwrap_or_default().to_owned();
    wait_for(&s, admin_a, &run_id, &["succeeded"]).await;
    let (st, body) = s
        .call(
            admin_a,
            Method::PUT,
            "/api/v1/baselines/gold",
            Some(json!({"run": run_id})),
        )
        .await;
    assert_eq!(st, 200, "{body}");
    let (st, _) = s
        .call(
            admin_a,
            Method::POST,
            "/api/v1/users",
            Some(json!({"id": "only-a", "role": "viewer"})),
        )
        .await;
    assert_eq!(st, 201);
    let (st, _) = s
        .call(
            admin_a,
            Method::PUT,
            "/api/v1/roles/only-a-role",
            Some(json!({"permissions": ["runs:read"]})),
        )
        .await;
    assert_eq!(st, 200);
    let (_, keys) = s.call(admin_a, Method::GET, "/api/v1/keys", None).await;
    let key_id = keys["keys"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let ids = BTreeMap::from([
        ("suite", "secret-suite".to_owned()),
        ("run", run_id.clone()),
        ("user", "only-a".to_owned()),
        ("key", key_id.clone()),
        ("role", "only-a-role".to_owned()),
        ("baseline", "gold".to_owned()),
    ]);
    let admin_b = &b["admin"];
    for route in table() {
        if !route.path.contains('{') || route.access == Access::Platform {
            continue;
        }
        let path = concrete(route.path, &ids);
        let path = if route.operation == "getReport" {
            format!("{path}?format=json")
        } else {
            path
        };
        let (status, body) = s
            .call(
                admin_b,
                route.method.clone(),
                &path,
                sample_body(route.operation),
            )
            .await;
        let text = body.to_string();
        match route.operation {
            // Creating under a name is allowed in one's own tenant: it must not touch A's.
            // Creating a role under the same name is allowed in one's own tenant (and deleting
            // that one); neither touches A's, checked below.
            "putRole" | "deleteRole" => {
                assert!(matches!(status, 200 | 204), "{path}: {status} {text}")
            }
            _ => assert_eq!(status, 404, "{} {path}: {text}", route.method),
        }
        assert!(
            !text.contains("Write a haiku") && !text.contains(&key_id[..6])
                || route.operation == "revokeKey",
            "{path}: {text}"
        );
    }
    // Queries name ids too.
    let (st, body) = s
        .call(
            admin_b,
            Method::GET,
            &format!("/api/v1/diff?a={run_id}&b={run_id}"),
            None,
        )
        .await;
    assert_eq!(st, 404, "{body}");
    // A's objects are intact.
    let (st, body) = s
        .call(
            admin_a,
            Method::GET,
            &format!("/api/v1/runs/{run_id}/results"),
            None,
        )
        .await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["cases"].as_array().map(Vec::len), Some(12));
    let (st, _) = s
        .call(admin_a, Method::GET, "/api/v1/users/developer", None)
        .await;
    assert_eq!(st, 200);
    let (st, body) = s.call(admin_a, Method::GET, "/api/v1/roles", None).await;
    assert_eq!(st, 200);
    assert!(body.to_string().contains("only-a-role"));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_expire_revoke_and_stay_in_their_tenant() {
    for place in places("api_keys_expire_revoke_and_stay_in_their_tenant") {
        api_keys_expire_revoke_and_stay_in_their_tenant_on(place).await;
    }
}

async fn api_keys_expire_revoke_and_stay_in_their_tenant_on(place: Place) {
    let s = start_on(place.clone(), None).await;
    let a = tenant_with_roles(&s, "acme").await;
    let (st, body) = s
        .call(
            &a["admin"],
            Method::POST,
            "/api/v1/keys",
            Some(json!({"name": "short", "expires_in_s": 1})),
        )
        .await;
    assert_eq!(st, 201, "{body}");
    let short = body["token"].as_str().unwrap_or_default().to_owned();
    let (st, me) = s.call(&short, Method::GET, "/api/v1/me", None).await;
    assert_eq!((st, me["tenant"].as_str()), (200, Some("acme")));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (st, body) = s.call(&short, Method::GET, "/api/v1/me", None).await;
    assert_eq!(
        (st, body["message"].as_str()),
        (401, Some("the API key has expired"))
    );

    let dev = &a["developer"];
    let (_, keys) = s.call(&a["admin"], Method::GET, "/api/v1/keys", None).await;
    assert!(!keys.to_string().contains("secret_hash"));
    let dev_key = keys["keys"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|k| k["user_id"] == "developer")
        .cloned()
        .unwrap_or_default();
    let (st, _) = s.call(dev, Method::GET, "/api/v1/suites", None).await;
    assert_eq!(st, 200);
    let (st, _) = s
        .call(
            &a["admin"],
            Method::DELETE,
            &format!(
                "/api/v1/keys/{}",
                dev_key["id"].as_str().unwrap_or_default()
            ),
            None,
        )
        .await;
    assert_eq!(st, 200);
    let (st, body) = s.call(dev, Method::GET, "/api/v1/suites", None).await;
    assert_eq!(
        (st, body["message"].as_str()),
        (401, Some("the API key was revoked"))
    );
    // A forged secret for a real key id is refused like an unknown key.
    let mut forged = a["viewer"].clone();
    forged.pop();
    forged.push(if a["viewer"].ends_with('0') { '1' } else { '0' });
    let (st, body) = s.call(&forged, Method::GET, "/api/v1/suites", None).await;
    assert_eq!((st, body["code"].as_str()), (401, Some("unauthenticated")));
    // Every authentication is in the audit log, with the request id.
    let (st, events) = s
        .call(
            &a["auditor"],
            Method::GET,
            "/api/v1/audit/events?resource=credential/key:"
                .to_owned()
                .as_str(),
            None,
        )
        .await;
    assert_eq!(st, 200, "{events}");
    s.app.audit.flush().await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_queue_idempotently_report_and_obey_cancel_pause_resume() {
    for place in places("runs_queue_idempotently_report_and_obey_cancel_pause_resume") {
        runs_queue_idempotently_report_and_obey_cancel_pause_resume_on(place).await;
    }
}

async fn runs_queue_idempotently_report_and_obey_cancel_pause_resume_on(place: Place) {
    let s = start_on(place.clone(), None).await;
    let a = tenant_with_roles(&s, "acme").await;
    let dev = &a["developer"];
    // Invalid specs answer 422 with file, line and column.
    let (st, body) = s.call(dev, Method::POST, "/api/v1/suites", Some(json!({"name": "bad", "files": {"g.yaml": "suites:\n  s:\n    target: nobody\n    cases: []\n"}}))).await;
    assert_eq!(
        (st, body["code"].as_str()),
        (422, Some("invalid_spec")),
        "{body}"
    );
    assert!(
        body["details"]["errors"][0]["line"].as_u64().is_some(),
        "{body}"
    );
    let (st, body) = s
        .call(
            dev,
            Method::POST,
            "/api/v1/suites",
            Some(json!({"name": "qs", "files": quickstart()})),
        )
        .await;
    assert_eq!(st, 201, "{body}");
    let (st, again) = s
        .call(
            dev,
            Method::POST,
            "/api/v1/suites",
            Some(json!({"name": "qs", "files": quickstart()})),
        )
        .await;
    assert_eq!(
        (
            st,
            again["suite"]["version"].as_i64(),
            again["created"].as_bool()
        ),
        (200, Some(1), Some(false))
    );

    let post = |key: &'static str| {
        let http = s.http.clone();
        let url = format!("{}/api/v1/runs", s.base);
        let token = dev.clone();
        async move {
            let r = ok(http
                .post(url)
                .bearer_auth(token)
                .header("Idempotency-Key", key)
                .json(&json!({"suite": "qs", "run": "basics", "seed": 7}))
                .send()
                .await);
            (r.status().as_u16(), ok(r.json::<Value>().await))
        }
    };
    let (st1, r1) = post("k-1").await;
    let (st2, r2) = post("k-1").await;
    assert_eq!((st1, st2), (202, 200));
    assert_eq!(r1["id"], r2["id"]);
    let id = r1["id"].as_str().unwrap_or_default().to_owned();
    let done = wait_for(&s, dev, &id, &["succeeded", "failed"]).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(done["status"], "passed", "{done}");
    assert_eq!(done["totals"]["cases"], 12);
    for format in ["json", "junit", "markdown", "csv", "html"] {
        let (st, body) = s
            .call(
                dev,
                Method::GET,
                &format!("/api/v1/runs/{id}/report?format={format}"),
                None,
            )
            .await;
        assert_eq!(st, 200, "{format}: {body}");
        assert!(body.to_string().len() > 100, "{format}");
    }
    let (st, body) = s
        .call(
            dev,
            Method::GET,
            &format!("/api/v1/runs/{id}/report?format=pdf"),
            None,
        )
        .await;
    assert_eq!((st, body["code"].as_str()), (400, Some("bad_request")));

    // Cancel before it runs; pause and resume.
    let (_, queued) = s
        .call(
            dev,
            Method::POST,
            "/api/v1/runs",
            Some(json!({"suite": "qs", "run": "basics", "repeat": 40, "concurrency": 1})),
        )
        .await;
    let qid = queued["id"].as_str().unwrap_or_default().to_owned();
    let (st, body) = s
        .call(
            dev,
            Method::POST,
            &format!("/api/v1/runs/{qid}/pause"),
            None,
        )
        .await;
    assert_eq!(st, 200, "{body}");
    wait_for(&s, dev, &qid, &["paused"]).await;
    let (st, _) = s
        .call(
            dev,
            Method::POST,
            &format!("/api/v1/runs/{qid}/resume"),
            None,
        )
        .await;
    assert_eq!(st, 200);
    let (st, _) = s
        .call(
            dev,
            Method::POST,
            &format!("/api/v1/runs/{qid}/cancel"),
            None,
        )
        .await;
    assert_eq!(st, 200);
    let end = wait_for(&s, dev, &qid, &["cancelled", "succeeded"]).await;
    assert_eq!(end["state"], "cancelled", "{end}");
    let (st, body) = s
        .call(
            dev,
            Method::POST,
            &format!("/api/v1/runs/{qid}/resume"),
            None,
        )
        .await;
    assert_eq!((st, body["code"].as_str()), (409, Some("conflict")));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_mid_run_resumes_without_recording_a_case_twice() {
    for place in places("a_restart_mid_run_resumes_without_recording_a_case_twice") {
        a_restart_mid_run_resumes_without_recording_a_case_twice_on(place).await;
    }
}

async fn a_restart_mid_run_resumes_without_recording_a_case_twice_on(place: Place) {
    let s = start_on(place.clone(), None).await;
    let admin = s.admin.clone();
    let a = tenant_with_roles(&s, "acme").await;
    let dev = a["developer"].clone();
    let (st, _) = s
        .call(
            &dev,
            Method::POST,
            "/api/v1/suites",
            Some(json!({"name": "qs", "files": quickstart()})),
        )
        .await;
    assert_eq!(st, 201);
    let (_, run) = s
        .call(
            &dev,
            Method::POST,
            "/api/v1/runs",
            Some(json!({"suite": "qs", "run": "basics", "repeat": 60, "concurrency": 2})),
        )
        .await;
    let id = run["id"].as_str().unwrap_or_default().to_owned();
    wait_for(&s, &dev, &id, &["running"]).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    s.stop().await;
    let s = start_on(place.clone(), Some(admin)).await;
    let state = s
        .call(&dev, Method::GET, &format!("/api/v1/runs/{id}"), None)
        .await
        .1;
    assert!(
        state["state"] != "succeeded" || state["attempt"].as_i64() >= Some(1),
        "{state}"
    );
    let done = wait_for(&s, &dev, &id, &["succeeded", "failed"]).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    assert!(
        done["attempt"].as_i64() >= Some(2),
        "the run was not interrupted: {done}"
    );
    let (st, body) = s
        .call(
            &dev,
            Method::GET,
            &format!("/api/v1/runs/{id}/results"),
            None,
        )
        .await;
    assert_eq!(st, 200);
    let cases = body["cases"].as_array().cloned().unwrap_or_default();
    assert_eq!(cases.len(), 12 * 60);
    let mut idx: Vec<u64> = cases.iter().filter_map(|c| c["index"].as_u64()).collect();
    idx.sort_unstable();
    idx.dedup();
    assert_eq!(idx.len(), 12 * 60);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_uniform_and_the_openapi_document_is_checked_in() {
    for place in places("errors_are_uniform_and_the_openapi_document_is_checked_in") {
        errors_are_uniform_and_the_openapi_document_is_checked_in_on(place).await;
    }
}

async fn errors_are_uniform_and_the_openapi_document_is_checked_in_on(place: Place) {
    let s = start_on(place.clone(), None).await;
    for (method, path, body, status, code) in [
        (Method::GET, "/api/v1/nope", None, 404, "not_found"),
        (
            Method::PATCH,
            "/api/v1/suites",
            None,
            405,
            "method_not_allowed",
        ),
        (
            Method::POST,
            "/api/v1/users",
            Some(json!({"id": 5})),
            400,
            "bad_request",
        ),
        (
            Method::POST,
            "/api/v1/users",
            Some(json!({"id": "ok", "role": "wizard"})),
            400,
            "bad_request",
        ),
    ] {
        let (st, b) = s.call(&s.admin, method, path, body).await;
        assert_eq!(
            (st, b["code"].as_str()),
            (status, Some(code)),
            "{path}: {b}"
        );
        assert!(b["request_id"].as_str().is_some_and(|r| !r.is_empty()));
    }
    let big = "x".repeat(2 << 20);
    let (st, b) = s
        .call(
            &s.admin,
            Method::POST,
            "/api/v1/suites",
            Some(json!({"name": "big", "files": {"a.yaml": big}})),
        )
        .await;
    assert_eq!(
        (st, b["code"].as_str()),
        (413, Some("payload_too_large")),
        "{b}"
    );
    let (st, health) = s.call("", Method::GET, "/readyz", None).await;
    assert_eq!(st, 200, "{health}");
    let (st, metrics) = s.call("", Method::GET, "/metrics", None).await;
    assert_eq!(st, 200);
    assert!(
        metrics
            .as_str()
            .is_some_and(|m| m.contains("gauntlet_http_requests_total"))
    );
    let (_, served) = s.call("", Method::GET, "/api/v1/openapi.json", None).await;
    let checked_in = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");
    let generated = ok(serde_json::to_string_pretty(&served)) + "\n";
    if std::env::var_os("GAUNTLET_UPDATE_OPENAPI").is_some() {
        ok(std::fs::write(checked_in, &generated));
    }
    let stored = std::fs::read_to_string(checked_in).unwrap_or_default();
    assert!(
        stored == generated,
        "docs/openapi.json is stale: run GAUNTLET_UPDATE_OPENAPI=1 cargo test -p gauntlet-server"
    );
    s.stop().await;
}
