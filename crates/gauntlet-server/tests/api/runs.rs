//! Keys, queued runs, control, reports, restarts, errors and the OpenAPI document.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::*;

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
