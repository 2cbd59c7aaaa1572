#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! JWT bearer tokens against a local OIDC issuer: discovery, JWKS, signatures, audience,
//! issuer, expiry with clock skew, unknown keys, and key rotation.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ed25519_dalek::{Signer, SigningKey};
use gauntlet_server::ServerConfig;
use gauntlet_server::jwt::OidcConfig;
use serde_json::{Value, json};

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn jwk(kid: &str, k: &SigningKey) -> Value {
    json!({"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": kid,
           "x": B64.encode(k.verifying_key().as_bytes())})
}

fn token(kid: &str, k: &SigningKey, claims: &Value) -> String {
    let header = json!({"alg": "EdDSA", "typ": "JWT", "kid": kid});
    let signing_input = format!(
        "{}.{}",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string())
    );
    let sig = k.sign(signing_input.as_bytes());
    format!("{signing_input}.{}", B64.encode(sig.to_bytes()))
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A local issuer: its discovery document and a key set the test can swap.
async fn issuer(keys: Arc<Mutex<Value>>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let b = base.clone();
    let app = axum::Router::new()
        .route(
            "/.well-known/openid-configuration",
            axum::routing::get(move || {
                let b = b.clone();
                async move { axum::Json(json!({"issuer": b, "jwks_uri": format!("{b}/jwks")})) }
            }),
        )
        .route(
            "/jwks",
            axum::routing::get(move || {
                let keys = Arc::clone(&keys);
                async move { axum::Json(keys.lock().unwrap().clone()) }
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_bearer_tokens_are_verified_against_the_issuers_keys() {
    let (k1, k2, mallory) = (key(1), key(2), key(9));
    let keys = Arc::new(Mutex::new(json!({"keys": [jwk("k1", &k1)]})));
    let iss = issuer(Arc::clone(&keys)).await;

    let dir = tempfile::tempdir().unwrap();
    let store = gauntlet_store::Store::open(&dir.path().join("s.db")).unwrap();
    let root = gauntlet_server::bootstrap_admin(&store, "platform", "root").unwrap();
    let (signer, _) =
        gauntlet_audit::LocalSigner::load_or_create(&dir.path().join("k/audit.pem")).unwrap();
    let config = ServerConfig {
        work_dir: dir.path().join("work"),
        // Every request verifies its token: no session cache between them.
        session_ttl: Duration::ZERO,
        oidc: Some(OidcConfig {
            issuer: iss.clone(),
            audience: "gauntlet".into(),
            jwks_url: None,
            tenant_claim: "gauntlet_tenant".into(),
            role_claim: "gauntlet_role".into(),
            match_email: true,
            leeway_s: 60,
            refresh_min: Duration::ZERO,
        }),
        ..ServerConfig::default()
    };
    let app = gauntlet_server::app(store, Arc::new(signer), config).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(gauntlet_server::serve(
        app,
        listener,
        std::future::pending(),
    ));
    let http = reqwest::Client::new();
    let get = |t: String| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let r = http
                .get(format!("{base}/api/v1/me"))
                .bearer_auth(t)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    // A tenant with one stored user.
    let r = http
        .post(format!("{base}/api/v1/tenants"))
        .bearer_auth(&root)
        .json(&json!({"id": "acme", "admin": "boss"}))
        .send()
        .await
        .unwrap();
    let admin = r.json::<Value>().await.unwrap()["admin_key"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = http
        .post(format!("{base}/api/v1/users"))
        .bearer_auth(&admin)
        .json(&json!({"id": "dev", "email": "dev@acme.test", "role": "developer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    let claims = |sub: &str, extra: Value| {
        let mut c = json!({"iss": iss, "aud": "gauntlet", "sub": sub, "exp": now() + 300,
                           "iat": now(), "gauntlet_tenant": "acme"});
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    // The stored user, by subject and by email.
    let (st, me) = get(token("k1", &k1, &claims("dev", json!({})))).await;
    assert_eq!(
        (st, me["role"].as_str(), me["tenant"].as_str()),
        (200, Some("developer"), Some("acme")),
        "{me}"
    );
    let (st, me) = get(token(
        "k1",
        &k1,
        &claims(
            "idp|123",
            json!({"email": "dev@acme.test", "email_verified": true}),
        ),
    ))
    .await;
    assert_eq!((st, me["user"].as_str()), (200, Some("dev")), "{me}");
    // An address the issuer did not verify matches nobody (and the token names no role).
    for extra in [
        json!({"email": "dev@acme.test"}),
        json!({"email": "dev@acme.test", "email_verified": false}),
    ] {
        let (st, me) = get(token("k1", &k1, &claims("idp|123", extra.clone()))).await;
        assert_eq!(st, 401, "{extra}: {me}");
    }
    // Unknown user: the role claim, if it is a role of the tenant.
    let (st, me) = get(token(
        "k1",
        &k1,
        &claims("guest", json!({"gauntlet_role": "viewer"})),
    ))
    .await;
    assert_eq!((st, me["role"].as_str()), (200, Some("viewer")), "{me}");
    // A deleted user's token does not fall back to its role claim.
    let r = http
        .post(format!("{base}/api/v1/users"))
        .bearer_auth(&admin)
        .json(&json!({"id": "gone", "role": "viewer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = http
        .delete(format!("{base}/api/v1/users/gone"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (st, me) = get(token(
        "k1",
        &k1,
        &claims("gone", json!({"gauntlet_role": "admin"})),
    ))
    .await;
    assert_eq!(st, 401, "a deleted user's token was accepted: {me}");
    assert!(me.to_string().contains("deleted user"), "{me}");
    for (name, t, reason) in [
        (
            "no role",
            token("k1", &k1, &claims("guest", json!({}))),
            "names no role",
        ),
        (
            "unknown role",
            token("k1", &k1, &claims("guest", json!({"gauntlet_role": "god"}))),
            "not a role",
        ),
        (
            "unknown tenant",
            token(
                "k1",
                &k1,
                &claims("dev", json!({"gauntlet_tenant": "nope"})),
            ),
            "does not exist",
        ),
        (
            "bad signature",
            token("k1", &mallory, &claims("dev", json!({}))),
            "signature",
        ),
        (
            "wrong audience",
            token("k1", &k1, &claims("dev", json!({"aud": "other"}))),
            "audience",
        ),
        (
            "wrong issuer",
            token(
                "k1",
                &k1,
                &claims("dev", json!({"iss": "https://evil.test"})),
            ),
            "issuer",
        ),
        (
            "expired",
            token("k1", &k1, &claims("dev", json!({"exp": now() - 120}))),
            "expired",
        ),
        (
            "unknown key",
            token("k9", &mallory, &claims("dev", json!({}))),
            "not in the issuer's key set",
        ),
        (
            "no exp",
            {
                let mut c = claims("dev", json!({}));
                c.as_object_mut().unwrap().remove("exp");
                token("k1", &k1, &c)
            },
            "exp",
        ),
    ] {
        let (st, body) = get(t).await;
        assert_eq!(st, 401, "{name}: {body}");
        assert_eq!(body["code"], "unauthenticated", "{name}");
        assert!(
            body["message"].as_str().unwrap().contains(reason),
            "{name}: {body}"
        );
    }
    // Clock skew: expired 30 s ago is within the 60 s leeway.
    let (st, _) = get(token("k1", &k1, &claims("dev", json!({"exp": now() - 30})))).await;
    assert_eq!(st, 200);
    // `alg: none` and HMAC are refused whatever the key.
    let unsigned = format!(
        "{}.{}.",
        B64.encode(json!({"alg": "none", "kid": "k1"}).to_string()),
        B64.encode(claims("dev", json!({})).to_string())
    );
    assert_eq!(get(unsigned).await.0, 401);

    // Rotation: the issuer publishes k2 and drops k1.
    *keys.lock().unwrap() = json!({"keys": [jwk("k2", &k2)]});
    let (st, me) = get(token("k2", &k2, &claims("dev", json!({})))).await;
    assert_eq!((st, me["role"].as_str()), (200, Some("developer")), "{me}");
    let (st, body) = get(token("k1", &k1, &claims("dev", json!({})))).await;
    assert_eq!(st, 401, "a retired key still works: {body}");
}
