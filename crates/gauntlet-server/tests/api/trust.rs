//! The trust boundary: a tenant's suite gets none of the server's powers unless a platform
//! administrator grants them, and then only inside the sandbox.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::*;

const AGENT: &str = "providers:\n  mock:\n    type: mock\nagents:\n  bot:\n    provider: mock\n    mock: { echo: true }\n";

fn files(list: &[(&str, String)]) -> Value {
    let map: BTreeMap<String, String> = list
        .iter()
        .map(|(p, t)| (p.to_string(), t.clone()))
        .collect();
    json!(map)
}

async fn upload(s: &Server, key: &str, name: &str, files: Value) -> (u16, Value) {
    s.call(
        key,
        Method::POST,
        "/api/v1/suites",
        Some(json!({"name": name, "files": files})),
    )
    .await
}

/// Runs a stored suite to its end; returns its results.
async fn run_to_end(s: &Server, key: &str, suite: &str) -> Value {
    run_suite_to_end(s, key, json!({"suite": suite})).await
}

async fn run_suite_to_end(s: &Server, key: &str, request: Value) -> Value {
    let (st, body) = s
        .call(key, Method::POST, "/api/v1/runs", Some(request))
        .await;
    assert_eq!(st, 202, "{body}");
    let id = body["id"].as_str().unwrap_or_default().to_owned();
    let end = wait_for(s, key, &id, &["succeeded", "failed", "cancelled"]).await;
    assert_eq!(end["state"], "succeeded", "{end}");
    let (st, results) = s
        .call(
            key,
            Method::GET,
            &format!("/api/v1/runs/{id}/results"),
            None,
        )
        .await;
    assert_eq!(st, 200, "{results}");
    results
}

async fn grant(s: &Server, tenant: &str, caps: Value) {
    let (st, body) = s
        .call(
            &s.admin,
            Method::PUT,
            &format!("/api/v1/tenants/{tenant}/capabilities"),
            Some(caps),
        )
        .await;
    assert_eq!(st, 200, "{body}");
}

fn custom_suite(command: &str) -> String {
    format!(
        "{AGENT}suites:\n  s:\n    target: bot\n    cases:\n      - id: c\n        input: hi\n        assert:\n          - type: custom\n            command: {command}\n"
    )
}

#[tokio::test]
async fn a_custom_command_is_refused_until_granted_and_then_sandboxed() {
    let place = places("a_custom_command_is_refused").remove(0);
    let s = start_on(place, None).await;
    let keys = tenant_with_roles(&s, "acme").await;
    let admin = &keys["admin"];
    // The first reproduction: a command that writes `id` into the server's directory.
    let attack =
        custom_suite("[sh, -c, \"id > marker; echo '{\\\"pass\\\":true,\\\"score\\\":1}'\"]");
    for path in ["/api/v1/suites", "/api/v1/suites/validate"] {
        let (st, body) = s
            .call(
                admin,
                Method::POST,
                path,
                Some(json!({"name": "attack", "files": files(&[("suite.yaml", attack.clone())])})),
            )
            .await;
        assert_eq!(st, 422, "{path}: {body}");
        assert_eq!(body["code"], "capability_denied", "{body}");
        let e = &body["details"]["errors"][0];
        assert_eq!(
            (
                e["code"].as_str(),
                e["file"].as_str(),
                e["line"].as_u64(),
                e["column"].as_u64()
            ),
            (
                Some("capability.programs"),
                Some("suite.yaml"),
                Some(16),
                Some(22)
            ),
            "{body}"
        );
    }
    assert!(!std::path::Path::new("marker").exists());

    // Granted (python3 only), the program runs inside the sandbox and sees nothing of ours.
    grant(&s, "acme", json!({"programs": {"commands": ["python3"]}})).await;
    let outside = tempfile::tempdir().unwrap();
    let canary = outside.path().join("canary.txt");
    std::fs::write(&canary, "canary-file-content").unwrap();
    let probe = format!(
        r#"import json, os
seen = []
try:
    seen.append(open({canary:?}).read())
except OSError:
    seen.append("no-canary")
try:
    open({outside:?} + "/escaped", "w").write("x")
    seen.append("escaped")
except OSError:
    seen.append("no-write")
seen.append("env=" + ",".join(sorted(os.environ)))
print(json.dumps({{"pass": True, "score": 1, "reason": " | ".join(seen)}}))
"#,
        canary = canary.display().to_string(),
        outside = outside.path().display().to_string(),
    );
    let suite = custom_suite("[python3, probe.py]");
    let (st, body) = upload(
        &s,
        admin,
        "probe",
        files(&[("suite.yaml", suite), ("probe.py", probe)]),
    )
    .await;
    assert_eq!(st, 201, "{body}");
    let results = run_to_end(&s, admin, "probe").await;
    let reason = results["cases"][0]["assertions"][0]["reason"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(reason.contains("no-canary"), "{reason}");
    assert!(reason.contains("no-write"), "{reason}");
    assert!(
        !reason.contains("canary-file-content") && !reason.contains("CARGO"),
        "{reason}"
    );
    assert!(!outside.path().join("escaped").exists());
    // `sh` is not in the allowlist.
    let (st, body) = upload(&s, admin, "attack", files(&[("suite.yaml", attack)])).await;
    assert_eq!(
        (st, body["code"].as_str()),
        (422, Some("capability_denied")),
        "{body}"
    );

    // The grant is in the tenant's own audit log.
    let (st, events) = s
        .call(
            admin,
            Method::GET,
            "/api/v1/audit/events?resource=tenant/acme/capabilities",
            None,
        )
        .await;
    assert_eq!(st, 200, "{events}");
    assert_eq!(
        events["events"][0]["action"], "capability.grant",
        "{events}"
    );

    // Revoked, a stored suite that needs it no longer runs.
    grant(&s, "acme", json!({})).await;
    let (st, body) = s
        .call(
            admin,
            Method::POST,
            "/api/v1/runs",
            Some(json!({"suite": "probe"})),
        )
        .await;
    assert_eq!(
        (st, body["code"].as_str()),
        (422, Some("capability_denied")),
        "{body}"
    );
    // No role of a tenant can grant itself anything.
    let (st, _) = s
        .call(
            admin,
            Method::PUT,
            "/api/v1/tenants/acme/capabilities",
            Some(json!({"programs": {"commands": ["*"]}})),
        )
        .await;
    assert_eq!(st, 403);
    s.stop().await;
}

#[tokio::test]
async fn no_server_environment_file_or_address_reaches_a_suite() {
    let place = places("no_server_environment_file_or_address").remove(0);
    let s = start_on(place, None).await;
    let keys = tenant_with_roles(&s, "acme").await;
    let admin = &keys["admin"];
    // The second reproduction: `HOME` and `PATH` are set in the server's environment.
    let suite = format!(
        "{AGENT}suites:\n  s:\n    target: bot\n    cases:\n      - id: c\n        input: \"value=${{HOME:-none}} ${{PATH:-none}}\"\n"
    );
    let (st, body) = upload(&s, admin, "env", files(&[("suite.yaml", suite)])).await;
    assert_eq!(st, 201, "{body}");
    let results = run_to_end(&s, admin, "env").await;
    assert_eq!(results["cases"][0]["input"], "value=none none", "{results}");

    // Host files: not read, not quoted.
    let viewer = &keys["viewer"];
    let include = format!("include: [\"/etc/passwd\", \"../../../etc/shadow\"]\n{AGENT}");
    let (st, body) = s
        .call(
            viewer,
            Method::POST,
            "/api/v1/suites/validate",
            Some(json!({"name": "x", "files": files(&[("suite.yaml", include)])})),
        )
        .await;
    assert_eq!(
        (st, body["code"].as_str()),
        (422, Some("capability_denied")),
        "{body}"
    );
    assert!(!body.to_string().contains("root:"), "{body}");
    assert_eq!(
        body["details"]["errors"][0]["code"],
        "capability.host_files"
    );

    // Internal addresses: a listener on loopback sees nothing until the host is allowed.
    let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = socket.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&hits);
    std::thread::spawn(move || {
        for stream in socket.incoming() {
            let Ok(mut st) = stream else { continue };
            let mut buf = [0u8; 8192];
            let n = st.read(&mut buf).unwrap_or(0);
            counted.fetch_add(1, Ordering::SeqCst);
            let request = String::from_utf8_lossy(&buf[..n]).to_string();
            let auth = request
                .lines()
                .find_map(|l| {
                    l.strip_prefix("authorization: ")
                        .or_else(|| l.strip_prefix("Authorization: "))
                })
                .unwrap_or("")
                .to_owned();
            let body = json!({"a": format!("heard {auth}")}).to_string();
            let reply = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = st.write_all(reply.as_bytes());
        }
    });
    let http_agent = format!(
        "providers:\n  agent:\n    type: http\n    url: http://127.0.0.1:{port}/chat\n    api_key: ${{secret:AGENT_TOKEN}}\n    body: {{q: \"{{{{input}}}}\"}}\n    output: /a\nagents:\n  bot:\n    provider: agent\nsuites:\n  s:\n    target: bot\n    cases:\n      - id: c\n        input: hi\n"
    );
    let (st, body) = s
        .call(
            admin,
            Method::PUT,
            "/api/v1/settings/secrets/AGENT_TOKEN",
            Some(json!({"value": "tok-very-secret-123"})),
        )
        .await;
    assert_eq!(st, 204, "{body}");
    let (st, body) = upload(
        &s,
        admin,
        "agent",
        files(&[("suite.yaml", http_agent.clone())]),
    )
    .await;
    assert_eq!(
        (st, body["code"].as_str()),
        (422, Some("capability_denied")),
        "{body}"
    );
    assert_eq!(body["details"]["errors"][0]["code"], "capability.egress");
    assert_eq!(hits.load(Ordering::SeqCst), 0);
    grant(&s, "acme", json!({"internal_hosts": ["127.0.0.1"]})).await;
    let (st, body) = upload(&s, admin, "agent", files(&[("suite.yaml", http_agent)])).await;
    assert_eq!(st, 201, "{body}");
    let results = run_to_end(&s, admin, "agent").await;
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    // The agent echoed the key back: what is stored is the reference, never the value.
    let text = results.to_string();
    assert!(
        text.contains("heard Bearer ${secret:AGENT_TOKEN}"),
        "{text}"
    );
    assert!(!text.contains("tok-very-secret-123"), "{text}");
    let (_, values) = s
        .call(admin, Method::GET, "/api/v1/settings/values", None)
        .await;
    assert!(
        !values.to_string().contains("tok-very-secret-123"),
        "{values}"
    );
    let (_, events) = s
        .call(
            admin,
            Method::GET,
            "/api/v1/audit/events?resource=secret/AGENT_TOKEN",
            None,
        )
        .await;
    assert_eq!(
        events["events"].as_array().map(Vec::len),
        Some(1),
        "{events}"
    );
    assert!(
        !events.to_string().contains("tok-very-secret-123"),
        "{events}"
    );
    // The sealed value in the database is not the secret.
    let stored = s
        .app
        .tenancy
        .values(&gauntlet_core::TenantId::new("acme"))
        .unwrap();
    assert!(stored.iter().all(|v| !v.value.contains("tok-very-secret")));
    s.stop().await;
}

#[tokio::test]
async fn tenants_variables_are_their_own() {
    let place = places("tenants_variables_are_their_own").remove(0);
    let s = start_on(place, None).await;
    let a = tenant_with_roles(&s, "acme").await;
    let b = tenant_with_roles(&s, "globex").await;
    let (st, _) = s
        .call(
            &a["admin"],
            Method::PUT,
            "/api/v1/settings/variables/GREETING",
            Some(json!({"value": "hello from acme"})),
        )
        .await;
    assert_eq!(st, 204);
    let suite = format!(
        "{AGENT}suites:\n  s:\n    target: bot\n    cases:\n      - id: c\n        input: \"${{GREETING}}\"\n"
    );
    let (st, body) = upload(
        &s,
        &a["admin"],
        "greet",
        files(&[("suite.yaml", suite.clone())]),
    )
    .await;
    assert_eq!(st, 201, "{body}");
    let results = run_to_end(&s, &a["admin"], "greet").await;
    assert_eq!(results["cases"][0]["input"], "hello from acme");
    // Another tenant does not see it.
    let (st, body) = upload(&s, &b["admin"], "greet", files(&[("suite.yaml", suite)])).await;
    assert_eq!(
        (st, body["code"].as_str()),
        (422, Some("invalid_spec")),
        "{body}"
    );
    assert!(body.to_string().contains("GREETING"), "{body}");
    // Developers read settings but cannot write secrets.
    let (st, _) = s
        .call(
            &a["developer"],
            Method::PUT,
            "/api/v1/settings/secrets/X",
            Some(json!({"value": "v"})),
        )
        .await;
    assert_eq!(st, 403);
    s.stop().await;
}

#[tokio::test]
async fn a_server_run_has_a_bundle_that_verifies_offline() {
    for place in places("a_server_run_has_a_bundle") {
        let s = start_on(place, None).await;
        let keys = tenant_with_roles(&s, "acme").await;
        let admin = &keys["admin"];
        let (st, body) = upload(&s, admin, "quick", json!(quickstart())).await;
        assert_eq!(st, 201, "{body}");
        let results = run_suite_to_end(&s, admin, json!({"suite": "quick", "run": "basics"})).await;
        let id = results["run"]["id"].as_str().unwrap_or_default().to_owned();
        let (st, key) = s.call(admin, Method::GET, "/api/v1/audit/key", None).await;
        assert_eq!(st, 200, "{key}");
        let resp = s
            .http
            .get(format!("{}/api/v1/runs/{id}/bundle", s.base))
            .bearer_auth(admin)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        let bytes = resp.bytes().await.unwrap();
        let mut trusted = gauntlet_audit::TrustedKeys::new();
        let pem = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(
            pem.path(),
            key["public_key_pem"].as_str().unwrap_or_default(),
        )
        .unwrap();
        trusted.add_pem_file(pem.path()).unwrap();
        let summary = gauntlet_audit::bundle::verify_bundle(&bytes[..], &trusted)
            .unwrap_or_else(|e| panic!("the bundle does not verify: {e}"));
        assert_eq!(summary.run_id, id);
        assert_eq!(
            summary.cases as u64,
            results["run"]["totals"]["cases"].as_u64().unwrap_or(0)
        );
        // Another tenant's key finds no such run.
        let other = tenant_with_roles(&s, "globex").await;
        let (st, _) = s
            .call(
                &other["admin"],
                Method::GET,
                &format!("/api/v1/runs/{id}/bundle"),
                None,
            )
            .await;
        assert_eq!(st, 404);
        // Inclusion proofs, for the tenant's own events only.
        let (_, events) = s
            .call(
                admin,
                Method::GET,
                &format!("/api/v1/audit/events?resource=run/{id}"),
                None,
            )
            .await;
        let kinds: Vec<&str> = events["events"]
            .as_array()
            .map(|e| e.iter().filter_map(|x| x["action"].as_str()).collect())
            .unwrap_or_default();
        assert!(
            kinds.contains(&"run.start") && kinds.contains(&"run.finish"),
            "{kinds:?}"
        );
        let seq = events["events"][0]["seq"].as_u64().unwrap_or(0);
        let (st, proof) = s
            .call(
                admin,
                Method::GET,
                &format!("/api/v1/audit/events/{seq}/proof"),
                None,
            )
            .await;
        assert_eq!(st, 200, "{proof}");
        let proof: gauntlet_audit::InclusionProof = serde_json::from_value(proof).unwrap();
        proof.verify(&trusted).unwrap();
        let (st, _) = s
            .call(
                &other["admin"],
                Method::GET,
                &format!("/api/v1/audit/events/{seq}/proof"),
                None,
            )
            .await;
        assert_eq!(st, 404);
        s.stop().await;
    }
}
