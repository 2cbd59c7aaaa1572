//! Roles cannot be climbed: nobody grants more than they hold, nobody acts on a user more
//! powerful than they are, and a demotion bites on the keys the user already has.

use reqwest::Method;
use serde_json::json;

use gauntlet_server::rbac::{Grants, builtin};

use crate::support::*;

#[tokio::test]
async fn no_role_can_grant_more_than_it_holds() {
    for place in places("no_role_can_grant_more_than_it_holds") {
        let s = start_on(place, None).await;
        let keys = tenant_with_roles(&s, "acme").await;
        let admin = &keys["admin"];
        let (st, body) = s
            .call(
                admin,
                Method::PUT,
                "/api/v1/roles/usermgr",
                Some(json!({"permissions": ["users:read", "users:write"]})),
            )
            .await;
        assert_eq!(st, 200, "{body}");
        let (st, _) = s
            .call(
                admin,
                Method::POST,
                "/api/v1/users",
                Some(json!({"id": "mgr", "role": "usermgr"})),
            )
            .await;
        assert_eq!(st, 201);
        let (st, made) = s
            .call(
                admin,
                Method::POST,
                "/api/v1/keys",
                Some(json!({"name": "mgr", "user": "mgr"})),
            )
            .await;
        assert_eq!(st, 201, "{made}");
        let mgr = made["token"].as_str().unwrap_or_default().to_owned();

        // Each climb found by hand, refused.
        let climbs = [
            (
                Method::POST,
                "/api/v1/keys",
                json!({"name": "up", "role": "admin"}),
            ),
            (
                Method::POST,
                "/api/v1/keys",
                json!({"name": "as-boss", "user": "boss"}),
            ),
            (Method::PATCH, "/api/v1/users/mgr", json!({"role": "admin"})),
            (
                Method::PATCH,
                "/api/v1/users/developer",
                json!({"role": "viewer"}),
            ),
            (
                Method::POST,
                "/api/v1/users",
                json!({"id": "sock", "role": "admin"}),
            ),
            (
                Method::PUT,
                "/api/v1/roles/usermgr",
                json!({"permissions": ["users:read", "users:write", "runs:execute"]}),
            ),
        ];
        for (method, path, body) in climbs {
            let (st, answer) = s.call(&mgr, method.clone(), path, Some(body.clone())).await;
            assert_eq!(st, 403, "{method} {path} {body}: {answer}");
            assert_eq!(answer["code"], "forbidden");
        }
        let (st, _) = s
            .call(&mgr, Method::DELETE, "/api/v1/users/boss", None)
            .await;
        assert_eq!(st, 403, "removing a more powerful user");
        // What it does hold, it may hand out.
        let (st, body) = s
            .call(
                &mgr,
                Method::POST,
                "/api/v1/users",
                Some(json!({"id": "peer", "role": "usermgr"})),
            )
            .await;
        assert_eq!(st, 201, "{body}");
        let (st, body) = s
            .call(
                &mgr,
                Method::POST,
                "/api/v1/keys",
                Some(json!({"name": "own"})),
            )
            .await;
        assert_eq!(st, 201, "{body}");
        // An admin cannot mint a role with a permission no admin has.
        let (st, body) = s
            .call(
                admin,
                Method::PUT,
                "/api/v1/roles/scribe",
                Some(json!({"permissions": ["audit:write"]})),
            )
            .await;
        assert_eq!(st, 403, "{body}");

        // Every grant every role could make: a user or a key with any role succeeds exactly
        // when the role's permissions are the granter's.
        let granters = ["admin", "usermgr"];
        let targets = [
            "admin",
            "developer",
            "analyst",
            "auditor",
            "viewer",
            "usermgr",
            "runner",
        ];
        let perms = |role: &str| -> Grants {
            match role {
                "usermgr" => Grants::new([
                    gauntlet_server::rbac::Perm::parse("users:read").unwrap(),
                    gauntlet_server::rbac::Perm::parse("users:write").unwrap(),
                ]),
                "runner" => Grants::new(
                    ["suites:read", "suites:execute", "runs:read"]
                        .map(|p| gauntlet_server::rbac::Perm::parse(p).unwrap()),
                ),
                r => Grants::new(builtin(r).unwrap()),
            }
        };
        for (g, granter) in granters.iter().enumerate() {
            let key = if *granter == "admin" {
                admin.clone()
            } else {
                mgr.clone()
            };
            for (t, target) in targets.iter().enumerate() {
                let allowed = perms(granter).missing(&perms(target)).is_empty();
                let id = format!("u{g}-{t}");
                for (what, body) in [
                    ("users", json!({"id": id, "role": target})),
                    ("keys", json!({"name": id, "role": target})),
                ] {
                    let (st, answer) = s
                        .call(&key, Method::POST, &format!("/api/v1/{what}"), Some(body))
                        .await;
                    assert_eq!(
                        st == 201,
                        allowed,
                        "{granter} → {what} with {target}: {st} {answer}"
                    );
                }
            }
        }
        s.stop().await;
    }
}

#[tokio::test]
async fn a_demotion_bites_on_the_keys_a_user_already_has() {
    for place in places("a_demotion_bites_on_the_keys") {
        let s = start_on(place, None).await;
        let keys = tenant_with_roles(&s, "acme").await;
        let (admin, dev) = (&keys["admin"], &keys["developer"]);
        let (st, body) = s
            .call(
                admin,
                Method::POST,
                "/api/v1/suites",
                Some(json!({"name": "qs", "files": quickstart()})),
            )
            .await;
        assert_eq!(st, 201, "{body}");
        let run = json!({"suite": "qs", "run": "basics"});
        let (st, body) = s
            .call(dev, Method::POST, "/api/v1/runs", Some(run.clone()))
            .await;
        assert_eq!(st, 202, "{body}");
        let (st, body) = s
            .call(
                admin,
                Method::PATCH,
                "/api/v1/users/developer",
                Some(json!({"role": "viewer"})),
            )
            .await;
        assert_eq!(st, 200, "{body}");
        let (st, body) = s.call(dev, Method::POST, "/api/v1/runs", Some(run)).await;
        assert_eq!(
            st, 403,
            "the demoted developer's old key still starts runs: {body}"
        );
        // It still reads what a viewer reads.
        let (st, _) = s.call(dev, Method::GET, "/api/v1/runs", None).await;
        assert_eq!(st, 200);
        s.stop().await;
    }
}

#[tokio::test]
async fn concurrent_runs_cannot_pass_the_parallel_quota() {
    for place in places("concurrent_runs_cannot_pass_the_parallel_quota") {
        let s = start_on(place, None).await;
        let keys = tenant_with_roles(&s, "acme").await;
        let admin = keys["admin"].clone();
        let (st, body) = s
            .call(
                &s.admin,
                Method::PUT,
                "/api/v1/tenants/acme/quotas",
                Some(json!({"parallel_runs": 4})),
            )
            .await;
        assert_eq!(st, 200, "{body}");
        let (st, body) = s
            .call(
                &admin,
                Method::POST,
                "/api/v1/suites",
                Some(json!({"name": "qs", "files": quickstart()})),
            )
            .await;
        assert_eq!(st, 201, "{body}");
        // Long runs: none ends while the requests are answered.
        let run = json!({"suite": "qs", "run": "basics", "repeat": 100, "concurrency": 1});
        let calls =
            (0..12).map(|_| s.call(&admin, Method::POST, "/api/v1/runs", Some(run.clone())));
        let answers = futures_util::future::join_all(calls).await;
        let accepted = answers.iter().filter(|(st, _)| *st == 202).count();
        let refused = answers
            .iter()
            .filter(|(st, b)| *st == 429 && b["code"] == "quota_exceeded")
            .count();
        assert_eq!((accepted, refused), (4, 8), "{answers:?}");
        let (_, runs) = s.call(&admin, Method::GET, "/api/v1/runs", None).await;
        let active = runs["runs"]
            .as_array()
            .map(|r| {
                r.iter()
                    .filter(|x| matches!(x["state"].as_str(), Some("pending" | "running")))
                    .count()
            })
            .unwrap_or(0);
        assert!(active <= 4, "{runs}");
        for r in runs["runs"].as_array().cloned().unwrap_or_default() {
            let id = r["id"].as_str().unwrap_or_default();
            s.call(
                &admin,
                Method::POST,
                &format!("/api/v1/runs/{id}/cancel"),
                None,
            )
            .await;
        }
        s.stop().await;
    }
}

#[tokio::test]
async fn a_deleted_tenants_id_is_not_given_out_again() {
    for place in places("a_deleted_tenants_id_is_not_given_out_again") {
        let s = start_on(place, None).await;
        tenant_with_roles(&s, "acme").await;
        let (st, _) = s
            .call(&s.admin, Method::DELETE, "/api/v1/tenants/acme", None)
            .await;
        assert_eq!(st, 200);
        let (st, body) = s
            .call(
                &s.admin,
                Method::POST,
                "/api/v1/tenants",
                Some(json!({"id": "acme", "admin": "mallory"})),
            )
            .await;
        assert_eq!(
            (st, body["code"].as_str()),
            (409, Some("conflict")),
            "{body}"
        );
        assert!(
            body["message"]
                .as_str()
                .unwrap_or_default()
                .contains("not given out again")
        );
        s.stop().await;
    }
}

#[tokio::test]
async fn floods_of_bad_credentials_get_429_and_one_event_per_window() {
    for place in places("floods_of_bad_credentials_get_429") {
        let s = start_with(place, None, |c| c.auth_failures_per_s = 10).await;
        let keys = tenant_with_roles(&s, "acme").await;
        let admin = keys["admin"].clone();
        // The same key id with a wrong secret: a failure the key's tenant must see.
        let mut forged = admin.clone();
        let last = forged.pop().unwrap_or('x');
        forged.push(if last == 'a' { 'b' } else { 'a' });
        let mut statuses = Vec::new();
        for _ in 0..60 {
            let (st, _) = s.call(&forged, Method::GET, "/api/v1/runs", None).await;
            statuses.push(st);
        }
        let unauthorized = statuses.iter().filter(|&&st| st == 401).count();
        let limited = statuses.iter().filter(|&&st| st == 429).count();
        assert_eq!(unauthorized + limited, 60, "{statuses:?}");
        assert!(
            (20..=25).contains(&unauthorized),
            "the burst is twice the rate: {statuses:?}"
        );
        // Bogus keys from the same address are answered 429 before they are looked at.
        let (st, body) = s
            .call("gnt_bogus_key", Method::GET, "/api/v1/runs", None)
            .await;
        assert_eq!(
            (st, body["code"].as_str()),
            (429, Some("rate_limited")),
            "{body}"
        );
        // Let the address recover, then read the log as the tenant's admin.
        tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
        let id = admin.split('_').nth(1).unwrap_or_default();
        let (st, events) = s
            .call(
                &admin,
                Method::GET,
                &format!("/api/v1/audit/events?resource=credential/key:{id}"),
                None,
            )
            .await;
        assert_eq!(st, 200, "{events}");
        let failures: Vec<&serde_json::Value> = events["events"]
            .as_array()
            .map(|e| e.iter().filter(|x| x["action"] == "auth.failure").collect())
            .unwrap_or_default();
        assert_eq!(failures.len(), 2, "one at once, the rest folded: {events}");
        let counted: u64 = failures
            .iter()
            .filter_map(|e| e["details"]["count"].as_u64())
            .sum();
        assert_eq!(counted as usize, unauthorized, "{events}");
        assert_eq!(failures[0]["details"]["address"], "127.0.0.1");
        s.stop().await;
    }
}

#[tokio::test]
async fn small_holes_stay_closed() {
    for place in places("small_holes_stay_closed") {
        let sqlite_file = place
            .url
            .is_none()
            .then(|| place.dir.path().join("server.db"));
        let s = start_on(place, None).await;
        let keys = tenant_with_roles(&s, "acme").await;
        let admin = &keys["admin"];
        // The SQLite database is its owner's only.
        if let Some(file) = sqlite_file {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "server.db is mode {mode:o}");
        }
        // An Idempotency-Key reused for another request is refused, not answered with the old run.
        let (st, body) = s
            .call(
                admin,
                Method::POST,
                "/api/v1/suites",
                Some(json!({"name": "qs", "files": quickstart()})),
            )
            .await;
        assert_eq!(st, 201, "{body}");
        let send = |request: serde_json::Value| {
            s.http
                .post(format!("{}/api/v1/runs", s.base))
                .bearer_auth(admin)
                .header("Idempotency-Key", "once")
                .json(&request)
                .send()
        };
        let first = send(json!({"suite": "qs", "run": "basics"})).await.unwrap();
        assert_eq!(first.status().as_u16(), 202);
        let first: serde_json::Value = first.json().await.unwrap();
        let again = send(json!({"suite": "qs", "run": "basics"})).await.unwrap();
        assert_eq!(
            again.status().as_u16(),
            200,
            "the same request answers its run"
        );
        let other = send(json!({"suite": "qs", "run": "failure-demo"}))
            .await
            .unwrap();
        assert_eq!(other.status().as_u16(), 409);
        // A run that is a baseline is not deleted from under it.
        let id = first["id"].as_str().unwrap_or_default().to_owned();
        wait_for(&s, admin, &id, &["succeeded", "failed"]).await;
        let (st, body) = s
            .call(
                admin,
                Method::PUT,
                "/api/v1/baselines/gold",
                Some(json!({"run": id})),
            )
            .await;
        assert_eq!(st, 200, "{body}");
        let (st, body) = s
            .call(admin, Method::DELETE, &format!("/api/v1/runs/{id}"), None)
            .await;
        assert_eq!(st, 409, "{body}");
        assert!(
            body["message"]
                .as_str()
                .unwrap_or_default()
                .contains("baseline `gold`")
        );
        // A negative budget is an error, not "unlimited".
        let (st, body) = s
            .call(
                &s.admin,
                Method::PUT,
                "/api/v1/tenants/acme/quotas",
                Some(json!({"monthly_budget_usd": -5.0})),
            )
            .await;
        assert_eq!(st, 400, "{body}");
        // Labels cannot forge log lines or fill the database.
        for name in ["two\nlines", "\u{1b}[31mred", &"x".repeat(300)] {
            let (st, body) = s
                .call(
                    admin,
                    Method::POST,
                    "/api/v1/keys",
                    Some(json!({"name": name})),
                )
                .await;
            assert_eq!(st, 400, "{name:?}: {body}");
            let (st, body) = s
                .call(
                    admin,
                    Method::POST,
                    "/api/v1/users",
                    Some(json!({"id": "labelled", "name": name, "role": "viewer"})),
                )
                .await;
            assert_eq!(st, 400, "{name:?}: {body}");
        }
        s.stop().await;
    }
}
