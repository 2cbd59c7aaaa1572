//! Quotas, rate limits, deprovisioning, the audit trail of access decisions, deny by default.

use std::time::Duration;

use gauntlet_audit::{AuditStorage, Signer};
use gauntlet_server::routes::{Access, table};
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::*;

#[test]
fn every_endpoint_declares_a_permission_unless_it_is_on_the_public_list() {
    // A new route must name a resource and action (or platform administration); only these
    // may be public or open to any authenticated caller.
    let open = [
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/metrics"),
        ("GET", "/api/v1/openapi.json"),
        ("GET", "/api/v1/me"),
    ];
    let mut seen = std::collections::BTreeSet::new();
    for r in table() {
        assert!(
            seen.insert((r.method.clone(), r.path)),
            "{} {} is listed twice",
            r.method,
            r.path
        );
        let declared = matches!(r.access, Access::Perm(_) | Access::Platform);
        let listed = open.contains(&(r.method.as_str(), r.path));
        assert!(
            declared || listed,
            "{} {} declares no permission: give it Access::Perm(resource, action)",
            r.method,
            r.path
        );
        assert!(
            !(declared && listed),
            "{} {} is on the open list but declares a permission",
            r.method,
            r.path
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_quotas_block_with_clear_codes() {
    for place in places("tenant_quotas_block_with_clear_codes") {
        tenant_quotas_block_with_clear_codes_on(place).await;
    }
}

async fn tenant_quotas_block_with_clear_codes_on(place: Place) {
    let s = start_on(place, None).await;
    let keys = tenant_with_roles(&s, "acme").await;
    let dev = &keys["developer"];
    let (st, _) = s
        .call(
            dev,
            Method::POST,
            "/api/v1/suites",
            Some(json!({"name": "qs", "files": quickstart()})),
        )
        .await;
    assert_eq!(st, 201);
    let set = |q: Value| {
        s.call(
            &s.admin,
            Method::PUT,
            "/api/v1/tenants/acme/quotas",
            Some(q),
        )
    };
    // Runs per day.
    let (st, body) = set(json!({"runs_per_day": 1})).await;
    assert_eq!(st, 200, "{body}");
    let run = json!({"suite": "qs", "run": "basics"});
    let (st, first) = s
        .call(dev, Method::POST, "/api/v1/runs", Some(run.clone()))
        .await;
    assert_eq!(st, 202, "{first}");
    let (st, body) = s
        .call(dev, Method::POST, "/api/v1/runs", Some(run.clone()))
        .await;
    assert_eq!(
        (st, body["code"].as_str()),
        (429, Some("quota_exceeded")),
        "{body}"
    );
    wait_for(&s, dev, first["id"].as_str().unwrap(), &["succeeded"]).await;
    // Parallel runs: one queued at a time.
    set(json!({"parallel_runs": 1})).await;
    let (_, paused) = s
        .call(
            dev,
            Method::POST,
            "/api/v1/runs",
            Some(json!({"suite": "qs", "run": "basics", "repeat": 50})),
        )
        .await;
    let id = paused["id"].as_str().unwrap().to_owned();
    s.call(dev, Method::POST, &format!("/api/v1/runs/{id}/pause"), None)
        .await;
    wait_for(&s, dev, &id, &["paused"]).await;
    s.call(
        dev,
        Method::POST,
        &format!("/api/v1/runs/{id}/resume"),
        None,
    )
    .await;
    let (st, body) = s
        .call(dev, Method::POST, "/api/v1/runs", Some(run.clone()))
        .await;
    if st != 202 {
        assert_eq!(
            (st, body["code"].as_str()),
            (429, Some("quota_exceeded")),
            "{body}"
        );
    }
    s.call(
        dev,
        Method::POST,
        &format!("/api/v1/runs/{id}/cancel"),
        None,
    )
    .await;
    // Monthly LLM budget: a budget of zero is spent.
    set(json!({"monthly_budget_usd": 0.0})).await;
    let (st, body) = s
        .call(dev, Method::POST, "/api/v1/runs", Some(run.clone()))
        .await;
    assert_eq!(
        (st, body["code"].as_str()),
        (402, Some("budget_exceeded")),
        "{body}"
    );
    // Storage and agents.
    set(json!({"storage_bytes": 10})).await;
    let (st, body) = s
        .call(
            dev,
            Method::POST,
            "/api/v1/suites",
            Some(json!({"name": "qs2", "files": quickstart()})),
        )
        .await;
    assert_eq!(
        (st, body["code"].as_str()),
        (429, Some("quota_exceeded")),
        "{body}"
    );
    set(json!({"agents": 0})).await;
    let (st, body) = s
        .call(
            dev,
            Method::POST,
            "/api/v1/suites",
            Some(json!({"name": "qs3", "files": quickstart()})),
        )
        .await;
    assert_eq!(
        (st, body["code"].as_str()),
        (429, Some("quota_exceeded")),
        "{body}"
    );
    // Usage is visible to the tenant's admins.
    let (st, body) = s
        .call(&keys["admin"], Method::GET, "/api/v1/tenant", None)
        .await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["tenant"]["quotas"]["agents"], 0);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_rate_limited_with_retry_after() {
    let place = places("keys_are_rate_limited_with_retry_after").remove(0);
    let s = start_with(place, None, |c| c.rate_limit_per_s = 2).await;
    let mut limited = None;
    for _ in 0..20 {
        let r = s
            .http
            .get(format!("{}/api/v1/me", s.base))
            .bearer_auth(&s.admin)
            .send()
            .await
            .unwrap();
        if r.status() == 429 {
            limited = Some((
                r.headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned),
                r.json::<Value>().await.unwrap(),
            ));
            break;
        }
    }
    let (retry, body) = limited.expect("no request was rate limited");
    assert_eq!(body["code"], "rate_limited");
    assert!(retry.is_some_and(|r| r.parse::<u64>().is_ok_and(|n| n >= 1)));
    // Health checks are not limited.
    for _ in 0..10 {
        assert_eq!(s.call("", Method::GET, "/healthz", None).await.0, 200);
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deprovisioning_removes_a_tenant_and_access_is_audited() {
    for place in places("deprovisioning_removes_a_tenant_and_access_is_audited") {
        deprovisioning_removes_a_tenant_and_access_is_audited_on(place).await;
    }
}

async fn deprovisioning_removes_a_tenant_and_access_is_audited_on(place: Place) {
    let s = start_on(place, None).await;
    let keys = tenant_with_roles(&s, "doomed").await;
    let (st, _) = s
        .call(
            &keys["developer"],
            Method::POST,
            "/api/v1/suites",
            Some(json!({"name": "qs", "files": quickstart()})),
        )
        .await;
    assert_eq!(st, 201);
    // A viewer is denied a write; an unknown key is refused.
    let (st, _) = s
        .call(&keys["viewer"], Method::DELETE, "/api/v1/suites/qs", None)
        .await;
    assert_eq!(st, 403);
    let r = s
        .http
        .get(format!("{}/api/v1/suites", s.base))
        .bearer_auth(
            "gnt_000000000000_0000000000000000000000000000000000000000000000000000000000000000",
        )
        .header("x-request-id", "req-unknown-key")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Only a platform administrator deprovisions.
    let (st, _) = s
        .call(
            &keys["admin"],
            Method::DELETE,
            "/api/v1/tenants/doomed",
            None,
        )
        .await;
    assert_eq!(st, 403);
    let (st, body) = s
        .call(&s.admin, Method::DELETE, "/api/v1/tenants/doomed", None)
        .await;
    assert_eq!(st, 200, "{body}");
    assert!(body["rows_removed"].as_u64().unwrap() > 5, "{body}");
    let (st, body) = s
        .call(&keys["admin"], Method::GET, "/api/v1/suites", None)
        .await;
    assert_eq!((st, body["code"].as_str()), (401, Some("unauthenticated")));
    let (st, _) = s
        .call(&s.admin, Method::GET, "/api/v1/tenants/doomed", None)
        .await;
    assert_eq!(st, 404);

    // The audit log holds the authentications, the denials and the mutations, with request ids.
    s.app.audit.flush().await;
    let mut actions = Vec::new();
    ok(s.app.runs.for_each_event(&mut |e| {
        actions.push((
            e.event.action.clone(),
            e.event.resource.clone(),
            e.event.request_id.clone(),
            e.event.decision,
        ));
        Ok(())
    }));
    let has = |action: &str, resource: &str| {
        actions.iter().any(|(a, r, id, _)| {
            a == action && r.contains(resource) && id.as_deref().is_some_and(|i| !i.is_empty())
        })
    };
    assert!(has("auth.success", "credential/key:"), "{actions:?}");
    assert!(has("auth.failure", "credential/unknown"), "{actions:?}");
    assert!(
        actions
            .iter()
            .any(|(a, _, id, _)| a == "auth.failure" && id.as_deref() == Some("req-unknown-key"))
    );
    assert!(
        has("authz.deny", "DELETE /api/v1/suites/{suite}"),
        "{actions:?}"
    );
    assert!(
        has("authz.deny", "DELETE /api/v1/tenants/{tenant}"),
        "{actions:?}"
    );
    assert!(has("api.mutation", "suite/qs"), "{actions:?}");
    assert!(has("api.mutation", "tenant/doomed"), "{actions:?}");
    assert!(has("permission.change", "role/runner"), "{actions:?}");
    assert!(has("permission.change", "key/"), "{actions:?}");
    // …and it verifies.
    let mut trusted = gauntlet_audit::TrustedKeys::new();
    let (signer, _) = ok(gauntlet_audit::LocalSigner::load_or_create(
        &s._dir.path().join("keys/audit.pem"),
    ));
    trusted.add(*signer.public_key());
    let v = ok(gauntlet_audit::verify::verify(
        s.app.runs.as_ref(),
        &trusted,
        None,
    ));
    assert!(v.ok(), "{:?}", v.problems);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_reaches_a_running_run_within_a_second() {
    for place in places("a_cancel_reaches_a_running_run_within_a_second") {
        a_cancel_reaches_a_running_run_within_a_second_on(place).await;
    }
}

async fn a_cancel_reaches_a_running_run_within_a_second_on(place: Place) {
    // A long lease, so that the heartbeat cannot be what delivers the cancel.
    let s = start_with(place, None, |c| c.lease = Duration::from_secs(60)).await;
    let keys = tenant_with_roles(&s, "acme").await;
    let dev = &keys["developer"];
    s.call(
        dev,
        Method::POST,
        "/api/v1/suites",
        Some(json!({"name": "qs", "files": quickstart()})),
    )
    .await;
    let (_, run) = s
        .call(
            dev,
            Method::POST,
            "/api/v1/runs",
            Some(json!({"suite": "qs", "run": "basics", "repeat": 100, "concurrency": 1})),
        )
        .await;
    let id = run["id"].as_str().unwrap().to_owned();
    wait_for(&s, dev, &id, &["running"]).await;
    // `wait_for` gives up after 15 s, before the first heartbeat (20 s) could deliver it.
    s.call(
        dev,
        Method::POST,
        &format!("/api/v1/runs/{id}/cancel"),
        None,
    )
    .await;
    let end = wait_for(&s, dev, &id, &["cancelled", "succeeded"]).await;
    assert_eq!(end["state"], "cancelled", "{end}");
    assert_eq!(end["status"], "cancelled", "{end}");
    s.stop().await;
}
