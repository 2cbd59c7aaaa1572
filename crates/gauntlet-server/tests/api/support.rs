//! Shared set-up: a server on SQLite or PostgreSQL, tenants with a key per role.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use gauntlet_server::{AppState, ServerConfig};

pub fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

pub struct Server {
    pub base: String,
    pub http: reqwest::Client,
    pub admin: String,
    pub app: AppState,
    pub stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub task: Option<tokio::task::JoinHandle<()>>,
    pub _dir: Arc<tempfile::TempDir>,
}

/// Where a test's server keeps its data: a temporary directory, and a PostgreSQL database
/// when the test runs on PostgreSQL.
#[derive(Clone)]
pub struct Place {
    pub dir: Arc<tempfile::TempDir>,
    pub url: Option<String>,
}

/// SQLite always; PostgreSQL too when `GAUNTLET_TEST_DATABASE_URL` is set.
pub fn places(test: &str) -> Vec<Place> {
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

pub async fn start_on(place: Place, admin: Option<String>) -> Server {
    start_with(place, admin, |_| {}).await
}

/// [`start_on`] with the configuration adjusted by `tune`.
pub async fn start_with(
    place: Place,
    admin: Option<String>,
    tune: impl FnOnce(&mut ServerConfig),
) -> Server {
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
    let mut config = ServerConfig {
        workers: 2,
        lease: Duration::from_millis(900),
        rate_limit_per_s: 10_000,
        auth_failures_per_s: 100_000,
        max_body_bytes: 1 << 20,
        work_dir: dir.path().join("work"),
        ..ServerConfig::default()
    };
    tune(&mut config);
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
    pub async fn call(
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

    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            ok(t.await);
        }
    }
}

pub fn quickstart() -> BTreeMap<String, String> {
    let text = ok(std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/quickstart/gauntlet.yaml"
    )));
    BTreeMap::from([("gauntlet.yaml".to_owned(), text)])
}

/// A tenant with one key per built-in role and a custom role; returns role → token.
pub async fn tenant_with_roles(s: &Server, id: &str) -> BTreeMap<String, String> {
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

pub fn concrete(path: &str, ids: &BTreeMap<&str, String>) -> String {
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

pub fn sample_body(op: &str) -> Option<Value> {
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
        "putVariable" | "putSecret" => json!({"value": "from-another-tenant"}),
        _ => return None,
    })
}

pub async fn wait_for(s: &Server, key: &str, run: &str, states: &[&str]) -> Value {
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
