//! Who may call what: the role matrix and tenant isolation on every endpoint.

use std::collections::BTreeMap;

use gauntlet_server::rbac::{self, Grants};
use gauntlet_server::routes::{Access, table};
use reqwest::Method;
use serde_json::json;

use crate::support::*;

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
    for kind in ["variables", "secrets"] {
        let (st, body) = s
            .call(
                admin_a,
                Method::PUT,
                &format!("/api/v1/settings/{kind}/only_a"),
                Some(json!({"value": "value-of-tenant-a"})),
            )
            .await;
        assert_eq!(st, 204, "{body}");
    }
    let (_, keys) = s.call(admin_a, Method::GET, "/api/v1/keys", None).await;
    let key_id = keys["keys"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let (_, events) = s
        .call(
            admin_a,
            Method::GET,
            &format!("/api/v1/audit/events?resource=run/{run_id}"),
            None,
        )
        .await;
    let event_seq = events["events"][0]["seq"].as_u64().unwrap_or(0).to_string();
    let ids = BTreeMap::from([
        ("suite", "secret-suite".to_owned()),
        ("run", run_id.clone()),
        ("user", "only-a".to_owned()),
        ("key", key_id.clone()),
        ("role", "only-a-role".to_owned()),
        ("baseline", "gold".to_owned()),
        ("name", "only_a".to_owned()),
        ("event", event_seq),
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
            "putRole" | "deleteRole" | "putVariable" | "putSecret" | "deleteVariable"
            | "deleteSecret" => {
                assert!(matches!(status, 200 | 204), "{path}: {status} {text}")
            }
            _ => assert_eq!(status, 404, "{} {path}: {text}", route.method),
        }
        assert!(
            !text.contains("Write a haiku")
                && !text.contains(&key_id[..6])
                && !text.contains("value-of-tenant-a")
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
    // A's variable kept its value, and its secret is listed by name only.
    let (st, body) = s
        .call(admin_a, Method::GET, "/api/v1/settings/values", None)
        .await;
    assert_eq!(st, 200);
    let values = body["values"].as_array().cloned().unwrap_or_default();
    assert_eq!(values.len(), 2, "{body}");
    assert!(
        values
            .iter()
            .any(|v| v["kind"] == "variable" && v["value"] == "value-of-tenant-a")
    );
    assert!(
        values
            .iter()
            .any(|v| v["kind"] == "secret" && v.get("value").is_none())
    );
    s.stop().await;
}
