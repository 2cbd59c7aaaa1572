//! The dashboard over HTTP: sign-in with a key, sessions and their cookies, CSRF, pages and
//! buttons that follow the role, tenancy, revocation, live events.

use reqwest::Method;
use reqwest::header::{COOKIE, HOST, LOCATION, SET_COOKIE};
use serde_json::json;

use crate::support::*;

/// A URL-encoded form body.
fn form(pairs: &[(&str, &str)]) -> String {
    let enc = |v: &str| {
        v.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect::<String>()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn client() -> reqwest::Client {
    ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build())
}

/// Signs in with `key`; returns the session cookie (`name=value`).
async fn sign_in(s: &Server, key: &str) -> String {
    let r = ok(client()
        .post(format!("{}/login", s.base))
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(form(&[("key", key), ("next", "/")]))
        .send()
        .await);
    assert_eq!(r.status().as_u16(), 303, "{}", ok(r.text().await));
    let set = r
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with("gauntlet_session="))
        .expect("a session cookie");
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(set.contains(flag), "{set}");
    }
    assert!(!set.contains("Secure"), "loopback needs no Secure: {set}");
    set.split(';').next().unwrap().to_owned()
}

async fn get(s: &Server, cookie: &str, path: &str) -> (u16, String, Option<String>) {
    let r = ok(client()
        .get(format!("{}{path}", s.base))
        .header(COOKIE, cookie)
        .send()
        .await);
    let status = r.status().as_u16();
    let location = r
        .headers()
        .get(LOCATION)
        .map(|v| v.to_str().unwrap().to_owned());
    (status, ok(r.text().await), location)
}

async fn post(s: &Server, cookie: &str, path: &str, csrf: &str) -> (u16, String, Option<String>) {
    let r = ok(client()
        .post(format!("{}{path}", s.base))
        .header(COOKIE, cookie)
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(form(&[("csrf", csrf)]))
        .send()
        .await);
    let status = r.status().as_u16();
    let location = r
        .headers()
        .get(LOCATION)
        .map(|v| v.to_str().unwrap().to_owned());
    (status, ok(r.text().await), location)
}

fn csrf_of(page: &str) -> String {
    let at = page
        .find(r#"name="csrf" value=""#)
        .expect("a form with a CSRF token");
    let rest = &page[at + r#"name="csrf" value=""#.len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_follow_sessions_roles_and_tenants() {
    for place in places("pages_follow_sessions_roles_and_tenants") {
        pages_follow_sessions_roles_and_tenants_on(place).await;
    }
}

async fn pages_follow_sessions_roles_and_tenants_on(place: Place) {
    let s = start_on(place, None).await;
    let a = tenant_with_roles(&s, "acme").await;
    let b = tenant_with_roles(&s, "globex").await;
    let (st, body) = s
        .call(
            &a["developer"],
            Method::POST,
            "/api/v1/suites",
            Some(json!({"name": "qs", "files": quickstart()})),
        )
        .await;
    assert_eq!(st, 201, "{body}");
    let (st, body) = s
        .call(
            &a["developer"],
            Method::POST,
            "/api/v1/runs",
            Some(json!({"suite": "qs", "run": "basics"})),
        )
        .await;
    assert_eq!(st, 202, "{body}");
    let run = body["id"].as_str().unwrap().to_owned();
    wait_for(&s, &a["developer"], &run, &["succeeded", "failed"]).await;

    // Without a session, pages send the browser to sign in, and come back after.
    let (st, _, to) = get(&s, "", "/runs/x?status=failed").await;
    assert_eq!(
        (st, to.as_deref()),
        (303, Some("/login?next=%2Fruns%2Fx%3Fstatus%3Dfailed"))
    );
    let r = ok(client()
        .post(format!("{}/login", s.base))
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(form(&[(
            "key",
            &format!("gnt_000000000000_{}", "0".repeat(64)),
        )]))
        .send()
        .await);
    assert_eq!(r.status().as_u16(), 401);
    assert!(ok(r.text().await).contains("unknown API key"));

    // A viewer sees the runs but no button that changes them, and cannot use one anyway.
    let viewer = sign_in(&s, &a["viewer"]).await;
    let (st, page, _) = get(&s, &viewer, "/").await;
    assert_eq!(st, 200, "{page}");
    assert!(page.contains(&run[run.len() - 10..]), "{page}");
    let (st, page, _) = get(&s, &viewer, &format!("/runs/{run}")).await;
    assert_eq!(st, 200, "{page}");
    for button in ["Re-run", "Replay", ">Delete<", ">Cancel<"] {
        assert!(!page.contains(button), "a viewer sees {button}");
    }
    let token = csrf_of(&page); // the sign-out form
    let (st, page, _) = post(&s, &viewer, &format!("/runs/{run}/rerun"), &token).await;
    assert_eq!(st, 403, "{page}");
    assert!(page.contains("does not grant suites:execute"), "{page}");

    // A developer re-runs it; a form without the session's token is refused.
    let dev = sign_in(&s, &a["developer"]).await;
    let (_, page, _) = get(&s, &dev, &format!("/runs/{run}")).await;
    assert!(
        page.contains("Re-run") && page.contains("Replay (same seed)"),
        "{page}"
    );
    let (st, _, _) = post(&s, &dev, &format!("/runs/{run}/rerun"), "forged").await;
    assert_eq!(st, 403);
    let (st, _, to) = post(&s, &dev, &format!("/runs/{run}/replay"), &csrf_of(&page)).await;
    assert_eq!(st, 303);
    let again = to.unwrap().trim_start_matches("/runs/").to_owned();
    assert_ne!(again, run);
    let replayed = wait_for(&s, &a["developer"], &again, &["succeeded", "failed"]).await;
    let (_, first) = s
        .call(
            &a["developer"],
            Method::GET,
            &format!("/api/v1/runs/{run}"),
            None,
        )
        .await;
    assert_eq!(replayed["seed"], first["seed"], "a replay keeps the seed");

    // Case, assertions, comparison and the live events of a finished run.
    let (st, page, _) = get(&s, &dev, &format!("/runs/{run}/cases/0")).await;
    assert!(
        st == 200 && page.contains("Assertions") && page.contains("waterfall"),
        "{page}"
    );
    let (st, page, _) = get(&s, &dev, &format!("/runs/{run}/assertions?failed=1")).await;
    assert!(st == 200 && page.contains("Assertion explorer"), "{page}");
    let (st, page, _) = get(&s, &dev, &format!("/compare?a={run}&b={again}")).await;
    assert!(
        st == 200 && page.contains("The two runs used the same configuration"),
        "{page}"
    );
    let (st, events, _) = get(&s, &dev, &format!("/ui/runs/{run}/events")).await;
    assert_eq!(st, 200);
    assert!(
        events.contains("event: snapshot") && events.contains("event: end"),
        "{events}"
    );

    // Another tenant's run is not there, and its list does not show it.
    let other = sign_in(&s, &b["admin"]).await;
    let (st, _, _) = get(&s, &other, &format!("/runs/{run}")).await;
    assert_eq!(st, 404);
    let (_, page, _) = get(&s, &other, "/").await;
    assert!(!page.contains(&run[run.len() - 10..]));
    let (st, _, _) = get(&s, &other, &format!("/runs/{run}/cases/0")).await;
    assert_eq!(st, 404);

    // An administrator revokes the viewer's session: its next request signs in again.
    let admin = sign_in(&s, &a["admin"]).await;
    let (st, page, _) = get(&s, &admin, "/sessions").await;
    assert_eq!(st, 200, "{page}");
    let (_, viewer_sessions, _) = get(&s, &dev, "/sessions").await;
    assert!(viewer_sessions.contains("does not grant users:write"));
    let marker = r#"<tr data-session=""#;
    let ids: Vec<&str> = page
        .match_indices(marker)
        .map(|(i, _)| &page[i + marker.len()..i + marker.len() + 64])
        .collect();
    let viewer_row = page
        .match_indices(marker)
        .map(|(i, _)| &page[i..])
        .position(|row| row[..row.find("</tr>").unwrap()].contains(">viewer<"))
        .expect("the viewer's session is listed");
    let (st, _, _) = post(
        &s,
        &admin,
        &format!("/sessions/{}/revoke", ids[viewer_row]),
        &csrf_of(&page),
    )
    .await;
    assert_eq!(st, 303);
    let (st, _, to) = get(&s, &viewer, "/").await;
    assert_eq!((st, to.as_deref()), (303, Some("/login?next=%2F")));

    // Revoking the key a session began with ends the session; so does signing out.
    let (_, keys) = s.call(&a["admin"], Method::GET, "/api/v1/keys", None).await;
    let dev_key = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["user_id"] == "developer")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (st, _) = s
        .call(
            &a["admin"],
            Method::DELETE,
            &format!("/api/v1/keys/{dev_key}"),
            None,
        )
        .await;
    assert!(st == 200 || st == 204, "{st}");
    let (st, _, _) = get(&s, &dev, "/").await;
    assert_eq!(st, 303);
    let (_, page, _) = get(&s, &admin, "/").await;
    let (st, _, _) = post(&s, &admin, "/logout", &csrf_of(&page)).await;
    assert_eq!(st, 303);
    let (st, _, _) = get(&s, &admin, "/").await;
    assert_eq!(st, 303);

    // Outside loopback, the cookie is Secure.
    let r = ok(client()
        .post(format!("{}/login", s.base))
        .header(HOST, "gauntlet.example")
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(form(&[("key", a["analyst"].as_str())]))
        .send()
        .await);
    let set = r
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(set.contains("Secure"), "{set}");

    // The HTML report is the run page as one file: nothing loads from the server.
    let r = ok(s
        .http
        .get(format!("{}/api/v1/runs/{run}/report?format=html", s.base))
        .bearer_auth(&a["analyst"])
        .send()
        .await);
    let report = ok(r.text().await);
    assert!(
        report.contains("<style>")
            && report.contains("data-waterfall")
            && !report.contains("/assets/"),
        "{}",
        &report[..500.min(report.len())]
    );
    s.stop().await;
}
