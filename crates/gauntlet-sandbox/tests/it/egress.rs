use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use gauntlet_core::capability::Capabilities;
use gauntlet_sandbox::Host;

/// An HTTP listener on loopback that counts the requests reaching it; it answers 200, or a
/// redirect to `location` when given.
struct Listener {
    port: u16,
    hits: Arc<AtomicUsize>,
}

fn listen(location: Option<String>) -> Listener {
    let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = socket.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&hits);
    std::thread::spawn(move || {
        for stream in socket.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            counted.fetch_add(1, Ordering::SeqCst);
            let reply = match &location {
                Some(l) => format!(
                    "HTTP/1.1 302 Found\r\nLocation: {l}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                ),
                None => {
                    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok".to_owned()
                }
            };
            let _ = s.write_all(reply.as_bytes());
        }
    });
    Listener { port, hits }
}

fn tenant(internal_hosts: &[&str]) -> Host {
    Host::new(
        Capabilities {
            internal_hosts: internal_hosts.iter().map(|h| h.to_string()).collect(),
            ..Capabilities::none()
        },
        None,
        std::env::temp_dir(),
    )
}

/// Sends a GET as the providers do: the URL check, then the checked client.
async fn get(host: &Host, url: &str) -> Result<u16, String> {
    host.check_url(url).map_err(|e| e.to_string())?;
    match host.http().get(url).send().await {
        Ok(r) => Ok(r.status().as_u16()),
        Err(e) => {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                text.push_str(&format!(": {s}"));
                source = s.source();
            }
            Err(text)
        }
    }
}

#[tokio::test]
async fn a_tenant_reaches_no_internal_address_by_default() {
    let l = listen(None);
    let host = tenant(&[]);
    for url in [
        format!("http://127.0.0.1:{}/", l.port),
        format!("http://localhost:{}/", l.port),
        format!("http://[::ffff:127.0.0.1]:{}/", l.port),
        format!("http://0x7f.1:{}/", l.port),
        format!("http://2130706433:{}/", l.port),
        format!("http://127.1:{}/", l.port),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://[fd00:ec2::254]/".to_owned(),
    ] {
        let e = get(&host, &url).await.expect_err(&url);
        assert!(e.contains("internal address"), "{url}: {e}");
    }
    assert_eq!(
        l.hits.load(Ordering::SeqCst),
        0,
        "a request reached the listener"
    );
}

#[tokio::test]
async fn an_allowlisted_host_is_reached() {
    let l = listen(None);
    let url = format!("http://127.0.0.1:{}/", l.port);
    assert_eq!(get(&tenant(&["127.0.0.1"]), &url).await, Ok(200));
    assert_eq!(l.hits.load(Ordering::SeqCst), 1);
    // By name: the name is allowed, whatever it resolves to.
    let by_name = format!("http://localhost:{}/", l.port);
    assert_eq!(get(&tenant(&["localhost"]), &by_name).await, Ok(200));
    // By block.
    assert_eq!(get(&tenant(&["127.0.0.0/8"]), &url).await, Ok(200));
    assert_eq!(l.hits.load(Ordering::SeqCst), 3);
    // The operator reaches anything.
    assert_eq!(get(&Host::operator(), &url).await, Ok(200));
}

#[tokio::test]
async fn a_redirect_to_an_internal_address_is_not_followed() {
    let target = listen(None);
    let hop = listen(Some(format!("http://127.0.0.1:{}/", target.port)));
    // The first hop is allowed by name; the redirect's address is not.
    let host = tenant(&["localhost"]);
    let e = get(&host, &format!("http://localhost:{}/", hop.port))
        .await
        .expect_err("the redirect should be refused");
    assert!(e.contains("internal address"), "{e}");
    assert_eq!(hop.hits.load(Ordering::SeqCst), 1);
    assert_eq!(target.hits.load(Ordering::SeqCst), 0);
}
