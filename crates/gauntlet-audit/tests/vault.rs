#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The Vault Transit signer against a local fake that speaks Vault's documented HTTP API
//! (`GET /v1/:mount/keys/:name`, `POST /v1/:mount/sign/:name`), signing with a real key.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use gauntlet_audit::signer::{VaultConfig, VaultTransit};
use gauntlet_audit::{LocalSigner, Signer, TrustedKeys};

const TOKEN: &str = "s.canary-vault-token-1234";

struct Fake {
    address: String,
    /// (method, path, token header) of every request.
    seen: Arc<Mutex<Vec<(String, String, String)>>>,
    key: Arc<LocalSigner>,
}

/// Serves `requests` requests; `key_type` is what the key read reports.
fn fake(key_type: &'static str, wrong_signer: bool) -> Fake {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let key = Arc::new(LocalSigner::generate().unwrap());
    let other = LocalSigner::generate().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (k, s) = (Arc::clone(&key), Arc::clone(&seen));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut token = String::new();
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let line = line.trim_end();
                if line.is_empty() {
                    break;
                }
                let (name, value) = line.split_once(':').unwrap();
                match name.to_ascii_lowercase().as_str() {
                    "x-vault-token" => token = value.trim().to_owned(),
                    "content-length" => length = value.trim().parse().unwrap(),
                    _ => {}
                }
            }
            let mut body = vec![0u8; length];
            reader.read_exact(&mut body).unwrap();
            let mut parts = request_line.split_whitespace();
            let (method, path) = (
                parts.next().unwrap().to_owned(),
                parts.next().unwrap().to_owned(),
            );
            s.lock()
                .unwrap()
                .push((method.clone(), path.clone(), token.clone()));
            let (status, answer) = if token != TOKEN {
                (
                    "403 Forbidden",
                    serde_json::json!({ "errors": ["permission denied"] }),
                )
            } else if method == "GET" && path == "/v1/transit/keys/audit" {
                (
                    "200 OK",
                    serde_json::json!({ "data": {
                        "type": key_type,
                        "latest_version": 1,
                        "keys": { "1": { "public_key": B64.encode(k.public_key().as_bytes()), "creation_time": "2026-01-01T00:00:00Z" } }
                    }}),
                )
            } else if method == "POST" && path == "/v1/transit/sign/audit" {
                let req: serde_json::Value = serde_json::from_slice(&body).unwrap();
                let input = B64.decode(req["input"].as_str().unwrap()).unwrap();
                let signer: &LocalSigner = if wrong_signer { &other } else { &k };
                let sig = signer.sign_now(&input);
                (
                    "200 OK",
                    serde_json::json!({ "data": { "signature": format!("vault:v1:{}", sig.value), "key_version": 1 } }),
                )
            } else {
                ("404 Not Found", serde_json::json!({ "errors": [] }))
            };
            let text = answer.to_string();
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
                text.len()
            );
        }
    });
    Fake { address, seen, key }
}

fn config(address: &str, token: &str) -> VaultConfig {
    VaultConfig {
        address: address.to_owned(),
        token: token.to_owned(),
        mount: "transit".into(),
        key: "audit".into(),
        namespace: None,
    }
}

#[tokio::test]
async fn vault_transit_signs_what_the_public_key_verifies() {
    let f = fake("ed25519", false);
    let signer = VaultTransit::connect(config(&f.address, TOKEN))
        .await
        .unwrap();
    assert_eq!(signer.public_key(), f.key.public_key());
    let sig = signer
        .sign(b"gauntlet-audit-checkpoint/1\n1\nabc\nt\n")
        .await
        .unwrap();
    let mut trusted = TrustedKeys::new();
    trusted.add(*f.key.public_key());
    trusted
        .verify(b"gauntlet-audit-checkpoint/1\n1\nabc\nt\n", &sig)
        .unwrap();
    assert!(trusted.verify(b"something else", &sig).is_err());
    let seen = f.seen.lock().unwrap().clone();
    assert_eq!(
        seen.iter()
            .map(|(m, p, _)| format!("{m} {p}"))
            .collect::<Vec<_>>(),
        ["GET /v1/transit/keys/audit", "POST /v1/transit/sign/audit"]
    );
    assert!(seen.iter().all(|(_, _, t)| t == TOKEN));
}

#[tokio::test]
async fn vault_errors_are_clear_and_never_echo_the_token() {
    let f = fake("ed25519", false);
    let err = VaultTransit::connect(config(&f.address, "s.wrong-token-5678"))
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("403") && err.contains("permission denied"),
        "{err}"
    );
    assert!(!err.contains("wrong-token"), "{err}");

    let rsa = fake("rsa-2048", false);
    let err = VaultTransit::connect(config(&rsa.address, TOKEN))
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("type=ed25519"), "{err}");

    // A signature from a key other than the one announced is refused, not passed on.
    let rotated = fake("ed25519", true);
    let signer = VaultTransit::connect(config(&rotated.address, TOKEN))
        .await
        .unwrap();
    let err = signer.sign(b"x").await.err().unwrap().to_string();
    assert!(err.contains("rotated"), "{err}");

    let err = VaultTransit::connect(config("http://127.0.0.1:9", TOKEN))
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("calling Vault"), "{err}");
}
