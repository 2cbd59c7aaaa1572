//! The server's audit trail: authentications (success and failure), authorisation denials,
//! mutations and data exports, each with its request id, appended to the tamper-evident log.
//!
//! Events are appended by one task in batches (up to 256 events or 25 ms), each batch under
//! one signed tree head, so that auditing every request does not cost a signature and an
//! fsync per request. `flush` waits for everything sent so far; shutdown calls it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use gauntlet_audit::{Decision, NewEvent, Signer};
use tokio::sync::{mpsc, oneshot};

use crate::RunDb;
use crate::auth::Principal;

enum Msg {
    Event(Box<NewEvent>),
    Flush(oneshot::Sender<()>),
}

#[derive(Clone)]
pub struct Sink {
    tx: mpsc::UnboundedSender<Msg>,
    failures: Arc<std::sync::Mutex<HashMap<FailureKey, Failures>>>,
}

/// Authentication failures are counted per tenant (when the credential names one), subject,
/// client address and reason, and logged as one event per window: a flood of bogus
/// credentials cannot grow the log without limit.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct FailureKey {
    tenant: String,
    subject: String,
    address: String,
    reason: String,
}

struct Failures {
    window_start: std::time::Instant,
    first_ms: i64,
    /// Failures since the window's first, not logged yet.
    pending: u64,
    last_request_id: String,
}

/// How long failures of one key are folded into one event.
const FAILURE_WINDOW: Duration = Duration::from_secs(60);

pub mod action {
    pub const AUTH_SUCCESS: &str = "auth.success";
    pub const AUTH_FAILURE: &str = "auth.failure";
    pub const AUTHZ_DENY: &str = "authz.deny";
    pub const MUTATION: &str = "api.mutation";
    pub const EXPORT: &str = "data.export";
    pub const PERMISSION_CHANGE: &str = "permission.change";
}

impl Sink {
    pub fn start(store: Arc<RunDb>, signer: Arc<dyn Signer>) -> Sink {
        let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
        tokio::spawn(async move {
            let mut batch = Vec::new();
            let mut waiters = Vec::new();
            while let Some(first) = rx.recv().await {
                let mut next = Some(first);
                let deadline = tokio::time::Instant::now() + Duration::from_millis(25);
                loop {
                    match next.take() {
                        Some(Msg::Event(e)) => batch.push(*e),
                        Some(Msg::Flush(w)) => {
                            waiters.push(w);
                            break;
                        }
                        None => {}
                    }
                    if batch.len() >= 256 {
                        break;
                    }
                    match tokio::time::timeout_at(deadline, rx.recv()).await {
                        Ok(Some(m)) => next = Some(m),
                        Ok(None) | Err(_) => break,
                    }
                }
                if !batch.is_empty() {
                    let events = std::mem::take(&mut batch);
                    let (store, signer) = (Arc::clone(&store), Arc::clone(&signer));
                    let handle = tokio::runtime::Handle::current();
                    let done = tokio::task::spawn_blocking(move || {
                        handle.block_on(async {
                            gauntlet_audit::log::AuditLog {
                                storage: store.as_ref(),
                                signer: signer.as_ref(),
                            }
                            .append(events)
                            .await
                        })
                    })
                    .await;
                    if let Ok(Err(e)) = done {
                        tracing_error(&format!("the audit log refused a batch: {e}"));
                    }
                }
                for w in waiters.drain(..) {
                    let _ = w.send(());
                }
            }
        });
        Sink {
            tx,
            failures: Arc::default(),
        }
    }

    /// Records an authentication failure: the first of a window at once, the rest of the
    /// window as one event with their count (at the window's end or the next flush).
    pub fn auth_failure(
        &self,
        tenant: &str,
        subject: &str,
        address: &str,
        reason: &str,
        request_id: &str,
    ) {
        let key = FailureKey {
            tenant: tenant.to_owned(),
            subject: subject.to_owned(),
            address: address.to_owned(),
            reason: reason.to_owned(),
        };
        let now = std::time::Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let expired = map
            .get(&key)
            .is_none_or(|f| now.duration_since(f.window_start) >= FAILURE_WINDOW);
        if expired {
            if let Some(f) = map.remove(&key) {
                self.failure_event(&key, &f);
            }
            if map.len() >= 10_000 {
                // Bounded memory: fold everything pending into the log now.
                for (k, f) in map.drain() {
                    self.failure_event(&k, &f);
                }
            }
            self.send(failure(&key, 1, crate::now_ms(), request_id));
            map.insert(
                key,
                Failures {
                    window_start: now,
                    first_ms: crate::now_ms(),
                    pending: 0,
                    last_request_id: request_id.to_owned(),
                },
            );
        } else if let Some(f) = map.get_mut(&key) {
            f.pending += 1;
            f.last_request_id = request_id.to_owned();
        }
    }

    fn failure_event(&self, key: &FailureKey, f: &Failures) {
        if f.pending > 0 {
            self.send(failure(key, f.pending, f.first_ms, &f.last_request_id));
        }
    }

    pub fn send(&self, event: NewEvent) {
        let _ = self.tx.send(Msg::Event(Box::new(event)));
    }

    /// Waits until every event sent before this call is in the log.
    pub async fn flush(&self) {
        {
            let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
            for (k, f) in map.iter_mut() {
                if f.pending > 0 {
                    self.send(failure(k, f.pending, f.first_ms, &f.last_request_id));
                    f.pending = 0;
                }
            }
        }
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Msg::Flush(tx)).is_ok() {
            let _ = rx.await;
        }
    }

    /// An event by `who` in their tenant.
    pub fn by(
        &self,
        who: &Principal,
        action: &str,
        resource: impl Into<String>,
        request_id: &str,
    ) -> NewEvent {
        NewEvent::new(who.tenant.as_str(), &who.actor(), action, resource).request_id(request_id)
    }

    pub fn mutation(
        &self,
        who: &Principal,
        request_id: &str,
        what: &str,
        resource: impl Into<String>,
        details: serde_json::Value,
    ) {
        self.send(
            self.by(who, action::MUTATION, resource, request_id)
                .decision(Decision::Allow)
                .details(serde_json::json!({ "operation": what, "details": details })),
        );
    }
}

/// The sink as the run service's audit trail: an append returns once the events are in the
/// log.
pub struct Trail<'a>(pub &'a Sink);

impl gauntlet_run::AuditTrail for Trail<'_> {
    fn append(&self, events: Vec<NewEvent>) -> gauntlet_run::BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            for e in events {
                self.0.send(e);
            }
            self.0.flush().await;
            Ok(())
        })
    }
}

fn failure(key: &FailureKey, count: u64, since_ms: i64, request_id: &str) -> NewEvent {
    NewEvent::new(
        &key.tenant,
        "anonymous",
        action::AUTH_FAILURE,
        format!("credential/{}", key.subject),
    )
    .request_id(request_id)
    .decision(Decision::Deny)
    .reason(key.reason.clone())
    .details(serde_json::json!({
        "count": count,
        "address": key.address,
        "since": gauntlet_core::time::rfc3339(since_ms.max(0) as u64),
    }))
}

/// The server has no log stream of its own yet: operational errors go to stderr.
pub(crate) fn tracing_error(message: &str) {
    #[allow(clippy::print_stderr)]
    {
        eprintln!("gauntlet serve: {message}");
    }
}
