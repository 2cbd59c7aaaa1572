//! A scripted HTTP/1.1 server on a raw socket: it records each request exactly as received and
//! answers with queued replies byte for byte, including delays between chunks, bodies cut
//! short and connections dropped mid-stream.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[derive(Clone, Debug)]
pub struct Captured {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    /// Lower-cased names.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Captured {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// Body parts, each sent after its delay.
    pub parts: Vec<(u64, Vec<u8>)>,
    /// Declare a longer Content-Length than is sent, then close: a truncated body.
    pub truncate: bool,
}

impl Reply {
    pub fn json(status: u16, v: &Value) -> Reply {
        Reply {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            parts: vec![(0, v.to_string().into_bytes())],
            truncate: false,
        }
    }

    pub fn raw(status: u16, content_type: &str, body: &[u8]) -> Reply {
        Reply {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            parts: vec![(0, body.to_vec())],
            truncate: false,
        }
    }

    /// A body sent in parts with delays, ended by closing the connection.
    pub fn stream(content_type: &str, parts: Vec<(u64, Vec<u8>)>) -> Reply {
        Reply {
            status: 200,
            headers: vec![("content-type".into(), content_type.into())],
            parts,
            truncate: false,
        }
    }

    /// Server-sent events, one part per event, `delay` ms before each.
    pub fn sse(events: &[String], delay: u64) -> Reply {
        Reply::stream(
            "text/event-stream",
            events
                .iter()
                .map(|e| (delay, e.clone().into_bytes()))
                .collect(),
        )
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn truncated(mut self) -> Reply {
        self.truncate = true;
        self
    }
}

#[derive(Clone)]
pub struct Server {
    pub url: String,
    requests: Arc<Mutex<Vec<Captured>>>,
    replies: Arc<Mutex<VecDeque<Reply>>>,
}

impl Server {
    pub async fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = Server {
            url,
            requests: Default::default(),
            replies: Default::default(),
        };
        let s = server.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let s = s.clone();
                tokio::spawn(async move { s.handle(sock).await });
            }
        });
        server
    }

    pub fn reply(&self, r: Reply) {
        self.replies.lock().unwrap().push_back(r);
    }

    pub fn requests(&self) -> Vec<Captured> {
        self.requests.lock().unwrap().clone()
    }

    pub fn last(&self) -> Captured {
        self.requests().pop().expect("no request received")
    }

    async fn handle(&self, mut sock: tokio::net::TcpStream) {
        let mut buf = Vec::new();
        let mut tmp = [0u8; 8192];
        let head_end = loop {
            if let Some(i) = find(&buf, b"\r\n\r\n") {
                break i;
            }
            let n = sock.read(&mut tmp).await.unwrap_or(0);
            if n == 0 {
                return;
            }
            buf.extend_from_slice(&tmp[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let mut lines = head.split("\r\n");
        let request_line = lines.next().unwrap_or("");
        let mut it = request_line.split(' ');
        let method = it.next().unwrap_or("").to_owned();
        let target = it.next().unwrap_or("").to_owned();
        let headers: HashMap<String, String> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = buf[head_end + 4..].to_vec();
        while body.len() < len {
            let n = sock.read(&mut tmp).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            body.extend_from_slice(&tmp[..n]);
        }
        self.requests.lock().unwrap().push(Captured {
            method,
            target,
            headers,
            body,
        });
        let reply = self.replies.lock().unwrap().pop_front().unwrap_or_else(|| {
            Reply::json(500, &serde_json::json!({"error": "no reply scripted"}))
        });
        let total: usize = reply.parts.iter().map(|p| p.1.len()).sum();
        let mut out = format!("HTTP/1.1 {} X\r\nconnection: close\r\n", reply.status);
        for (k, v) in &reply.headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        let streamed = reply.parts.len() > 1 || reply.parts.iter().any(|p| p.0 > 0);
        if reply.truncate {
            out.push_str(&format!("content-length: {}\r\n", total + 100));
        } else if !streamed {
            out.push_str(&format!("content-length: {total}\r\n"));
        }
        out.push_str("\r\n");
        if sock.write_all(out.as_bytes()).await.is_err() {
            return;
        }
        for (delay, bytes) in reply.parts {
            if delay > 0 {
                tokio::time::sleep(Duration::from_millis(delay)).await;
            }
            if sock.write_all(&bytes).await.is_err() {
                return;
            }
            let _ = sock.flush().await;
        }
        let _ = sock.shutdown().await;
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
