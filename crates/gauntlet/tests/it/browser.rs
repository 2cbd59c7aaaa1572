//! The dashboard in Debian's headless Chromium against the real binary: single sign-on through
//! a local OpenID Connect issuer (code flow with PKCE), sign-in with a key, a run watched live,
//! the graph and the waterfall, a comparison, a viewer without run buttons, and a tenant that
//! never sees another's runs. `GAUNTLET_SCREENSHOTS=DIR` keeps a screenshot of every page
//! (`scripts/screenshots`).
//!
//! The browser is driven over the DevTools protocol with a small client of our own (one
//! WebSocket per page), so the tests need no Node and no downloaded browser.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD as B64};
use ed25519_dalek::{Signer, SigningKey};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio_tungstenite::tungstenite::Message;

use crate::serve::{Server, call, command, serve_with};

// ---- the browser ----

struct Browser {
    child: Child,
    port: u16,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

struct Page {
    ws: Socket,
    next: u64,
}

impl Browser {
    /// Headless Chromium with a fresh profile (so each browser is a separate person).
    fn launch() -> Browser {
        let exe = std::env::var("GAUNTLET_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        assert!(
            Path::new(&exe).exists(),
            "{exe} is missing: the dashboard tests need Debian's Chromium (`apt-get install chromium`; .ci/run installs it)"
        );
        let profile = tempfile::tempdir().unwrap();
        let child = Command::new(&exe)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--remote-debugging-port=0",
                "--window-size=1280,900",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromium starts");
        let file = profile.path().join("DevToolsActivePort");
        let deadline = Instant::now() + Duration::from_secs(30);
        let port = loop {
            if let Ok(text) = std::fs::read_to_string(&file)
                && let Some(p) = text.lines().next().and_then(|l| l.trim().parse().ok())
            {
                break p;
            }
            assert!(
                Instant::now() < deadline,
                "chromium did not open its DevTools port"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        Browser {
            child,
            port,
            _profile: profile,
        }
    }

    async fn page(&self) -> Page {
        let target: Value = reqwest::Client::new()
            .put(format!(
                "http://127.0.0.1:{}/json/new?about:blank",
                self.port
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let url = target["webSocketDebuggerUrl"]
            .as_str()
            .expect("a page target")
            .to_owned();
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("the page's DevTools socket");
        let mut page = Page { ws, next: 0 };
        page.send("Page.enable", json!({})).await;
        page.send(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": false}),
        )
        .await;
        page
    }
}

impl Page {
    async fn send(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = self.next;
        let msg = json!({"id": id, "method": method, "params": params}).to_string();
        self.ws.send(Message::Text(msg.into())).await.unwrap();
        let answer = tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                match self.ws.next().await {
                    Some(Ok(Message::Text(t))) => {
                        let v: Value = serde_json::from_str(&t).unwrap();
                        if v["id"] == id {
                            return v;
                        }
                    }
                    Some(Ok(_)) => {}
                    other => panic!("the DevTools socket closed: {other:?}"),
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{method} got no answer in 30 s"));
        if let Some(e) = answer.get("error") {
            panic!("{method}: {e}");
        }
        answer["result"].clone()
    }

    /// Evaluates `js` (awaiting a promise) and returns its value.
    async fn eval(&mut self, js: &str) -> Value {
        let r = self
            .send(
                "Runtime.evaluate",
                json!({"expression": js, "returnByValue": true, "awaitPromise": true}),
            )
            .await;
        if let Some(e) = r.get("exceptionDetails") {
            panic!("`{js}` threw: {e}");
        }
        r["result"]["value"].clone()
    }

    /// Waits until `js` is truthy.
    async fn wait(&mut self, js: &str, secs: u64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let v = self
                .eval(&format!(
                    "(() => {{ try {{ return ({js}); }} catch (e) {{ return null; }} }})()"
                ))
                .await;
            if !(v.is_null() || v == false || v == "" || v == 0) {
                return v;
            }
            if Instant::now() > deadline {
                let at = self.eval("location.href + '\\n' + (document.body ? document.body.innerText.slice(0, 1500) : '')").await;
                panic!(
                    "waited {secs} s for `{js}`; the page is {}",
                    at.as_str().unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(60)).await;
        }
    }

    async fn goto(&mut self, url: &str) {
        // Under load the previous document can stay up (and complete) for a while after the
        // navigation is sent: mark it, and wait for a document without the mark (redirects
        // included).
        self.eval("window.__gauntletLeaving = true").await;
        self.send("Page.navigate", json!({"url": url})).await;
        self.wait("!window.__gauntletLeaving", 20).await;
        self.settle().await;
    }

    /// Waits for the document the page is now on to finish loading.
    async fn settle(&mut self) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        self.wait("document.readyState === 'complete' && document.body", 20)
            .await;
    }

    async fn text(&mut self) -> String {
        self.eval("document.body.innerText")
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    async fn shot(&mut self, name: &str) {
        let Some(dir) = std::env::var_os("GAUNTLET_SCREENSHOTS").map(PathBuf::from) else {
            return;
        };
        std::fs::create_dir_all(&dir).unwrap();
        let r = self
            .send(
                "Page.captureScreenshot",
                json!({"format": "png", "captureBeyondViewport": true}),
            )
            .await;
        let png = STANDARD.decode(r["data"].as_str().unwrap()).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }
}

// ---- a local OpenID Connect issuer ----

struct Grant {
    claims: Value,
    nonce: String,
    challenge: String,
    redirect: String,
}

/// Discovery, an authorisation endpoint that signs the configured user in at once, a token
/// endpoint that checks the code (once), the redirect and the PKCE verifier, and the keys.
async fn issuer(client_id: &'static str, user: Value) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let key = SigningKey::from_bytes(&[7; 32]);
    let grants: Arc<Mutex<std::collections::HashMap<String, Grant>>> = Arc::default();
    let (b1, b2) = (base.clone(), base.clone());
    let g1 = Arc::clone(&grants);
    let jwk = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": "k1", "x": B64.encode(key.verifying_key().as_bytes())}]});
    type Q = axum::extract::Query<std::collections::HashMap<String, String>>;
    let app = axum::Router::new()
        .route(
            "/.well-known/openid-configuration",
            axum::routing::get(move || {
                let b = b1.clone();
                async move {
                    axum::Json(json!({"issuer": b, "jwks_uri": format!("{b}/jwks"), "authorization_endpoint": format!("{b}/authorize"), "token_endpoint": format!("{b}/token"), "code_challenge_methods_supported": ["S256"]}))
                }
            }),
        )
        .route("/jwks", axum::routing::get(move || { let k = jwk.clone(); async move { axum::Json(k) } }))
        .route(
            "/authorize",
            axum::routing::get(move |axum::extract::Query(q): Q| {
                let grants = Arc::clone(&g1);
                let user = user.clone();
                async move {
                    let ok = q.get("client_id").map(String::as_str) == Some(client_id)
                        && q.get("code_challenge_method").map(String::as_str) == Some("S256")
                        && ["state", "nonce", "code_challenge", "redirect_uri"].iter().all(|k| q.contains_key(*k));
                    if !ok {
                        return axum::response::Response::builder().status(400).body(axum::body::Body::from("bad authorisation request")).unwrap();
                    }
                    let code = format!("code-{}", grants.lock().unwrap().len());
                    grants.lock().unwrap().insert(code.clone(), Grant {
                        claims: user,
                        nonce: q["nonce"].clone(),
                        challenge: q["code_challenge"].clone(),
                        redirect: q["redirect_uri"].clone(),
                    });
                    let to = format!("{}?code={code}&state={}", q["redirect_uri"], q["state"]);
                    axum::response::Response::builder().status(302).header("location", to).body(axum::body::Body::empty()).unwrap()
                }
            }),
        )
        .route(
            "/token",
            axum::routing::post(move |body: String| {
                let grants = Arc::clone(&grants);
                let key = key.clone();
                let base = b2.clone();
                async move {
                    let form: std::collections::HashMap<String, String> = body
                        .split('&')
                        .filter_map(|kv| kv.split_once('='))
                        .map(|(k, v)| (k.to_owned(), percent_decode(v)))
                        .collect();
                    let refuse = |why: &str| (axum::http::StatusCode::BAD_REQUEST, axum::Json(json!({"error": "invalid_grant", "error_description": why})));
                    // A code is good once.
                    let Some(g) = grants.lock().unwrap().remove(form.get("code").map_or("", String::as_str)) else {
                        return refuse("unknown or used code");
                    };
                    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
                    if B64.encode(Sha256::digest(verifier.as_bytes())) != g.challenge {
                        return refuse("the PKCE verifier does not match");
                    }
                    if form.get("redirect_uri") != Some(&g.redirect) || form.get("client_id").map(String::as_str) != Some(client_id) {
                        return refuse("redirect or client differs");
                    }
                    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
                    let mut claims = g.claims.clone();
                    claims["iss"] = base.clone().into();
                    claims["aud"] = client_id.into();
                    claims["exp"] = (now + 300).into();
                    claims["iat"] = now.into();
                    claims["nonce"] = g.nonce.into();
                    let input = format!("{}.{}", B64.encode(json!({"alg": "EdDSA", "typ": "JWT", "kid": "k1"}).to_string()), B64.encode(claims.to_string()));
                    let token = format!("{input}.{}", B64.encode(key.sign(input.as_bytes()).to_bytes()));
                    (axum::http::StatusCode::OK, axum::Json(json!({"access_token": "opaque", "token_type": "Bearer", "expires_in": 300, "id_token": token})))
                }
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

fn percent_decode(v: &str) -> String {
    let b = v.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            out.push(
                u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap(), 16).unwrap(),
            );
            i += 3;
        } else {
            out.push(if b[i] == b'+' { b' ' } else { b[i] });
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

// ---- the test ----

fn files(dir: &str) -> Value {
    let root = crate::examples().join(dir);
    let mut out = serde_json::Map::new();
    for e in std::fs::read_dir(&root).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "yaml") {
            out.insert(
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap().into(),
            );
        }
    }
    Value::Object(out)
}

/// A platform administrator's key and the server.
fn start(dir: &Path, db: &str, env: &[(&str, &str)]) -> (Server, String) {
    let out = command(
        dir,
        db,
        &["admin", "create", "--tenant", "ops", "--user", "root"],
    )
    .output()
    .unwrap();
    assert!(out.status.success(), "{out:?}");
    let root = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (serve_with(dir, db, env), root)
}

fn tenant(s: &Server, root: &str, id: &str) -> String {
    let (st, made) = call(
        s,
        root,
        "POST",
        "/api/v1/tenants",
        Some(&json!({"id": id, "admin": "boss"})),
    );
    assert_eq!(st, 201, "{made}");
    made["admin_key"]["token"].as_str().unwrap().to_owned()
}

fn key_for(s: &Server, admin: &str, user: &str, role: &str) -> String {
    let (st, b) = call(
        s,
        admin,
        "POST",
        "/api/v1/users",
        Some(&json!({"id": user, "role": role})),
    );
    assert_eq!(st, 201, "{b}");
    let (st, b) = call(
        s,
        admin,
        "POST",
        "/api/v1/keys",
        Some(&json!({"name": user, "user": user})),
    );
    assert_eq!(st, 201, "{b}");
    b["token"].as_str().unwrap().to_owned()
}

fn run(s: &Server, key: &str, body: Value) -> String {
    let (st, b) = call(s, key, "POST", "/api/v1/runs", Some(&body));
    assert_eq!(st, 202, "{b}");
    b["id"].as_str().unwrap().to_owned()
}

fn finished(s: &Server, key: &str, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (_, b) = call(s, key, "GET", &format!("/api/v1/runs/{id}"), None);
        if ["succeeded", "failed", "cancelled"]
            .iter()
            .any(|x| b["state"] == *x)
        {
            return b;
        }
        assert!(Instant::now() < deadline, "run {id} did not finish: {b}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

async fn sign_in_with_key(p: &mut Page, base: &str, key: &str) {
    p.goto(&format!("{base}/login")).await;
    p.eval(&format!("document.getElementById('key').value = {}; document.querySelector('form[action=\"/login\"]').submit(); true", json!(key))).await;
    p.wait(
        "location.pathname === '/' && document.querySelector('table.runs, .empty')",
        20,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_in_a_browser() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("server.db").display().to_string();
    let idp = issuer(
        "gauntlet-dashboard",
        json!({"sub": "ada", "email": "ada@acme.test", "email_verified": true, "name": "Ada", "groups": ["eng"], "gauntlet_tenant": "acme"}),
    )
    .await;
    let (s, root) = start(
        dir.path(),
        &db,
        &[
            ("GAUNTLET_OIDC_ISSUER", idp.as_str()),
            ("GAUNTLET_OIDC_CLIENT_ID", "gauntlet-dashboard"),
            ("GAUNTLET_OIDC_GROUP_ROLES", "eng=developer"),
        ],
    );
    let base = format!("http://{}", s.addr);
    let acme = tenant(&s, &root, "acme");
    let globex = tenant(&s, &root, "globex");
    let viewer = key_for(&s, &acme, "vic", "viewer");
    for (name, dir) in [("qs", "quickstart"), ("desk", "support-desk")] {
        let (st, b) = call(
            &s,
            &acme,
            "POST",
            "/api/v1/suites",
            Some(&json!({"name": name, "files": files(dir)})),
        );
        assert_eq!(st, 201, "{b}");
    }
    let first = run(&s, &acme, json!({"suite": "desk", "run": "routing"}));
    finished(&s, &acme, &first);
    let second = run(
        &s,
        &acme,
        json!({"suite": "desk", "run": "routing", "chaos": "slow-network"}),
    );
    finished(&s, &acme, &second);

    let browser = Browser::launch();
    let mut p = browser.page().await;

    // Single sign-on: the issuer signs Ada in, her group makes her a developer.
    p.goto(&format!("{base}/")).await;
    p.wait("location.pathname === '/login'", 10).await;
    p.shot("login").await;
    p.eval("document.querySelector('a[href^=\"/auth/sso\"]').click(); true")
        .await;
    p.wait(
        "location.pathname === '/' && document.querySelector('table.runs')",
        20,
    )
    .await;
    let header = p.eval("document.querySelector('.who').innerText").await;
    assert!(
        header.as_str().unwrap().contains("ada") && header.as_str().unwrap().contains("developer"),
        "{header}"
    );
    assert_eq!(
        p.eval("document.cookie.includes('gauntlet_session')").await,
        false,
        "the session cookie is HttpOnly"
    );
    p.shot("runs").await;

    // A run watched live: the progress moves, then the page shows the result.
    let live = run(
        &s,
        &acme,
        json!({"suite": "qs", "run": "basics", "repeat": 40, "concurrency": 1}),
    );
    p.goto(&format!("{base}/runs/{live}")).await;
    let opened = Instant::now();
    let state = p
        .wait("(document.querySelector('[data-live]') && Number(document.querySelector('[data-live]').dataset.done) > 0 && 'live') || (document.querySelector('[data-cell=status] .badge').textContent !== 'running' && 'finished')", 60)
        .await;
    p.shot("run-live").await;
    p.wait("document.querySelector('[data-cell=status] .badge') && ['passed', 'failed'].includes(document.querySelector('[data-cell=status] .badge').textContent)", 120).await;
    assert_eq!(
        state,
        "live",
        "the run finished before the page saw it move ({:?})",
        opened.elapsed()
    );
    let text = p.text().await;
    assert!(
        text.contains("Latency p50") && text.contains("Tokens and cost by agent and model"),
        "{text}"
    );
    p.shot("run").await;

    // A graph case: nodes with their states, the edge taken, the waterfall drawn from its rows.
    p.goto(&format!("{base}/runs/{second}/cases/0")).await;
    assert!(
        p.eval("document.querySelectorAll('svg.graph .node.ran').length")
            .await
            .as_u64()
            .unwrap()
            >= 2
    );
    assert!(
        p.eval("document.querySelectorAll('svg.graph .edge.taken').length")
            .await
            .as_u64()
            .unwrap()
            >= 1
    );
    assert!(
        p.eval("document.querySelectorAll('svg.graph .node.skipped').length")
            .await
            .as_u64()
            .unwrap()
            >= 1
    );
    p.wait(
        "Number(document.querySelector('[data-waterfall]').dataset.drawn) > 3",
        10,
    )
    .await;
    assert!(
        p.eval("document.querySelectorAll('.wf-row .seg.fault').length")
            .await
            .as_u64()
            .unwrap()
            >= 1,
        "chaos faults show on the waterfall"
    );
    // A row of the waterfall opens its step.
    p.eval("document.querySelectorAll('.wf-row.d0')[1].click(); true")
        .await;
    p.wait(
        "document.querySelectorAll('details.step[open]').length >= 1",
        5,
    )
    .await;
    p.shot("case-graph").await;

    // Comparison with the previous run: what changed, newly failing first.
    p.goto(&format!("{base}/runs/{second}")).await;
    p.eval("document.querySelector('form[action=\"/compare\"]').submit(); true")
        .await;
    p.wait(
        "location.pathname === '/compare' && document.querySelector('.sides')",
        20,
    )
    .await;
    let text = p.text().await;
    assert!(
        text.contains("Newly failing") && text.contains("Configuration"),
        "{text}"
    );
    assert!(
        text.contains("chaos"),
        "the configuration change is named: {text}"
    );
    p.shot("compare").await;

    // The assertion explorer, filtered.
    p.goto(&format!("{base}/runs/{second}/assertions?failed=1"))
        .await;
    assert!(
        p.eval("document.querySelectorAll('table.assertions tbody tr').length")
            .await
            .as_u64()
            .unwrap()
            >= 1
    );
    p.shot("assertions").await;

    // Dark, narrow, keyboard: the first Tab reaches the skip link, which is visible.
    p.send(
        "Emulation.setEmulatedMedia",
        json!({"features": [{"name": "prefers-color-scheme", "value": "dark"}]}),
    )
    .await;
    p.send(
        "Emulation.setDeviceMetricsOverride",
        json!({"width": 420, "height": 900, "deviceScaleFactor": 1, "mobile": true}),
    )
    .await;
    p.goto(&format!("{base}/runs/{second}")).await;
    let bg = p
        .eval("getComputedStyle(document.body).backgroundColor")
        .await;
    assert_eq!(bg, "rgb(14, 17, 22)", "dark mode");
    assert!(
        p.eval("document.documentElement.scrollWidth <= 440").await == true,
        "no sideways scrolling in a narrow window"
    );
    for key in ["keyDown", "keyUp"] {
        p.send(
            "Input.dispatchKeyEvent",
            json!({"type": key, "key": "Tab", "code": "Tab", "windowsVirtualKeyCode": 9}),
        )
        .await;
    }
    assert_eq!(p.eval("document.activeElement.className").await, "skip");
    p.shot("run-dark-narrow").await;

    // A viewer signs in with a key: no run buttons, and the server refuses the action anyway.
    let other = Browser::launch();
    let mut v = other.page().await;
    sign_in_with_key(&mut v, &base, &viewer).await;
    v.goto(&format!("{base}/runs/{second}")).await;
    let text = v.text().await;
    assert!(
        !text.contains("Re-run") && !text.contains("Replay") && !text.contains("Delete"),
        "{text}"
    );
    let status = v
        .eval(&format!("fetch('/runs/{second}/rerun', {{method: 'POST', headers: {{'Content-Type': 'application/x-www-form-urlencoded'}}, body: 'csrf=' + encodeURIComponent(document.querySelector('input[name=csrf]').value)}}).then(r => r.status)"))
        .await;
    assert_eq!(status, 403);
    v.shot("run-viewer").await;

    // Another tenant sees none of it.
    let third = Browser::launch();
    let mut g = third.page().await;
    sign_in_with_key(&mut g, &base, &globex).await;
    let text = g.text().await;
    assert!(
        !text.contains(&first[first.len() - 10..]) && !text.contains(&second[second.len() - 10..]),
        "{text}"
    );
    g.goto(&format!("{base}/runs/{second}")).await;
    assert!(g.text().await.contains("there is no run"));
    g.goto(&format!("{base}/runs/{second}/cases/0")).await;
    assert!(g.text().await.contains("Not found"));
    drop(s);
}
