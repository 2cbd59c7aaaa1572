//! `gauntlet gateway`: an OpenAI- and Anthropic-compatible proxy between agents and their
//! providers that enforces a tenant's rules on every call and records every decision.
//!
//! A request goes through one path ([`proxy`]): the key (bound to a tenant and an agent),
//! kill switches and suspensions, loop detection, the prompt and tool-result guardrails, the
//! worst case reserved on every budget and rate window, then the provider: passed through
//! chunk by chunk when it speaks the caller's dialect, translated through Gauntlet's adapters
//! otherwise. The response goes through the response guardrails (a stream in overlapping
//! windows, see [`relay`]), PII placeholders are put back, the reservation is settled with the
//! real usage, and the decision is appended to the audit log.

pub mod admin;
pub mod approval;
pub mod control;
pub mod guard;
pub mod ledger;
pub mod metrics;
pub mod proxy;
pub mod record;
pub mod relay;
pub mod translate;
pub mod upstream;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gauntlet_audit::Signer;
use gauntlet_core::gateway::Gateway as Config;
use gauntlet_core::model::Project;
use gauntlet_server::audit::Sink;
use gauntlet_store::gateway::{GatewayStore, Usage};
use tokio::sync::mpsc;

pub use gauntlet_mock_server::Dialect;

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error(
        "the project has no `gateway` block; add one with `routes` and `keys` (see the README's Gateway section)"
    )]
    NotConfigured,
    #[error(transparent)]
    Store(#[from] gauntlet_store::StoreError),
    #[error("cannot record traffic in {0}: {1}")]
    Record(String, String),
}

/// Who is calling: a key's tenant and agent.
#[derive(Clone, Debug, PartialEq)]
pub struct Caller {
    pub key_id: String,
    pub tenant: String,
    pub agent: String,
    pub admin: bool,
}

pub struct Gateway {
    pub project: Arc<Project>,
    pub cfg: Config,
    /// SHA-256 of a configured key's secret → its id.
    keys_by_hash: HashMap<String, String>,
    /// Keys found in the database, by the SHA-256 of the presented token, for a few seconds.
    key_cache: Mutex<HashMap<String, (Option<Caller>, Instant)>>,
    pub store: GatewayStore,
    pub ledger: Arc<dyn ledger::Ledger>,
    pub switches: Arc<control::Switches>,
    pub detector: control::Detector,
    pub audit: Sink,
    usage: mpsc::UnboundedSender<Usage>,
    pub registry: gauntlet_providers::Registry,
    pub http: reqwest::Client,
    pub metrics: metrics::Metrics,
    /// Whether keys and counters are shared through the database with other instances.
    pub shared: bool,
    pub recorder: Option<record::Recorder>,
}

/// How long a key read from the database is trusted before it is read again (a revoked
/// database key stops working within this).
const KEY_CACHE: Duration = Duration::from_secs(5);

impl Gateway {
    /// A gateway over `project`'s `gateway` block. With `shared`, budgets and rate windows
    /// are counted in the database (every instance on it draws from the same budgets) and
    /// keys may also come from its `gateway_keys`; otherwise they are counted in memory.
    /// Must be called inside a Tokio runtime (it starts the switch poller and the writers).
    pub fn start(
        project: Arc<Project>,
        store: Arc<gauntlet_store::Store>,
        signer: Arc<dyn Signer>,
        shared: bool,
    ) -> Result<Arc<Gateway>, GatewayError> {
        let cfg = project.gateway.clone().ok_or(GatewayError::NotConfigured)?;
        let gw_store = GatewayStore::new(store.db().clone());
        let ledger: Arc<dyn ledger::Ledger> = if shared {
            Arc::new(ledger::Shared(gw_store.clone()))
        } else {
            ledger::Local::start(gw_store.clone())?
        };
        let switches = Arc::new(control::Switches::default());
        switches.load(&gw_store)?;
        tokio::spawn(Arc::clone(&switches).follow(gw_store.clone()));
        let (usage, rx) = mpsc::unbounded_channel();
        tokio::spawn(record_usage(gw_store.clone(), rx));
        let keys_by_hash = cfg
            .keys
            .iter()
            .map(|(id, k)| (k.secret_sha256.clone(), id.clone()))
            .collect();
        let recorder =
            match &cfg.record {
                Some(r) => Some(record::Recorder::start(r.dir.clone()).map_err(|e| {
                    GatewayError::Record(r.dir.display().to_string(), e.to_string())
                })?),
                None => None,
            };
        let host = gauntlet_sandbox::Host::operator();
        // The tokenizers load once, now, not on the first request.
        gauntlet_providers::tokens::prewarm(cfg.routes.values().filter_map(|r| {
            r.model.as_deref().or_else(|| {
                project
                    .providers
                    .get(&r.provider)
                    .and_then(|p| p.model.as_deref())
            })
        }));
        let gw = Arc::new(Gateway {
            registry: gauntlet_providers::Registry::on(&project, &host),
            http: host.http().clone(),
            cfg,
            project,
            keys_by_hash,
            key_cache: Mutex::new(HashMap::new()),
            store: gw_store,
            ledger,
            switches,
            detector: control::Detector::default(),
            audit: Sink::start(store, signer),
            usage,
            metrics: metrics::Metrics::default(),
            shared,
            recorder,
        });
        tokio::spawn(control::sweep_zombies(Arc::downgrade(&gw)));
        guard::prewarm(&gw.cfg.guardrails);
        Ok(gw)
    }

    /// The caller a presented token identifies: a configured key (by the SHA-256 of the whole
    /// token), or with a shared database a stored key `gk_<id>_<secret>`.
    pub async fn authenticate(&self, token: &str) -> Option<Caller> {
        let digest = gauntlet_core::hash::sha256_hex(token.as_bytes());
        if let Some(id) = self.keys_by_hash.get(&digest) {
            let k = self.cfg.keys.get(id)?;
            return Some(Caller {
                key_id: id.clone(),
                tenant: k.tenant.clone(),
                agent: k.agent.clone(),
                admin: k.admin,
            });
        }
        let id = token.strip_prefix("gk_")?.split_once('_')?.0.to_owned();
        if let Some((c, at)) = self
            .key_cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&digest)
            && at.elapsed() < KEY_CACHE
        {
            return c.clone();
        }
        let store = self.store.clone();
        let found = tokio::task::spawn_blocking(move || store.key(&id))
            .await
            .ok()?
            .ok()?;
        let caller = found.and_then(|k| {
            let full = gauntlet_core::hash::sha256_hex(token.as_bytes());
            (k.revoked_at.is_none()
                && constant_time_eq(full.as_bytes(), k.secret_sha256.as_bytes()))
            .then(|| Caller {
                key_id: k.id,
                tenant: k.tenant.as_str().to_owned(),
                agent: k.agent,
                admin: k.admin,
            })
        });
        let mut cache = self.key_cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() > 10_000 {
            cache.clear();
        }
        cache.insert(digest, (caller.clone(), Instant::now()));
        caller
    }

    pub fn record(&self, u: Usage) {
        let _ = self.usage.send(u);
    }

    /// Posts an alert to the configured webhook, if any, without waiting for it.
    pub fn alert(&self, body: serde_json::Value) {
        let Some(url) = self.cfg.alert_webhook.clone() else {
            return;
        };
        let http = self.http.clone();
        tokio::spawn(async move {
            let _ = http
                .post(url)
                .json(&body)
                .timeout(Duration::from_secs(5))
                .send()
                .await;
        });
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Writes usage records in batches (every 50 ms or 512 records).
async fn record_usage(store: GatewayStore, mut rx: mpsc::UnboundedReceiver<Usage>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + Duration::from_millis(50);
        while batch.len() < 512 {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(u)) => batch.push(u),
                _ => break,
            }
        }
        let s = store.clone();
        let _ = tokio::task::spawn_blocking(move || s.record(&batch)).await;
    }
}

/// Ready while the kill switches are fresh: a gateway that cannot read them refuses every
/// request (fails closed), so it should leave its Service until it can.
async fn readyz(
    axum::extract::State(gw): axum::extract::State<Arc<Gateway>>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if gw.switches.is_stale() {
        return (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({
                "status": "unavailable",
                "reason": "the kill switches cannot be read from the database; every request is refused until they can",
            })),
        )
            .into_response();
    }
    axum::Json(serde_json::json!({"status": "ready"})).into_response()
}

/// The gateway's routes: the proxy endpoints, administration, health, readiness and metrics.
pub fn router(gw: Arc<Gateway>) -> axum::Router {
    use axum::routing::{delete, get, post, put};
    axum::Router::new()
        .route("/v1/chat/completions", post(proxy::openai))
        .route("/v1/messages", post(proxy::anthropic))
        .route("/v1/models", get(proxy::models))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics::handler))
        .route("/gateway/v1/agents", get(admin::agents))
        .route("/gateway/v1/agents/{name}", put(admin::set_agent))
        .route(
            "/gateway/v1/switches",
            get(admin::switches).post(admin::kill),
        )
        .route(
            "/gateway/v1/switches/{scope}/{subject}",
            delete(admin::resume),
        )
        .route("/gateway/v1/invoices/{month}", get(admin::invoice))
        .route("/gateway/v1/approvals", get(approval::list))
        .route("/gateway/v1/approvals/{id}", get(approval::get))
        .route(
            "/gateway/v1/approvals/{id}/approve",
            post(approval::approve),
        )
        .route("/gateway/v1/approvals/{id}/deny", post(approval::deny))
        .fallback(proxy::not_found)
        .layer(axum::extract::DefaultBodyLimit::max(8 << 20))
        .with_state(gw)
}

/// Serves until `shutdown` completes, then flushes the audit log and the usage records.
pub async fn serve(
    gw: Arc<Gateway>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(Arc::clone(&gw)))
        .with_graceful_shutdown(shutdown)
        .await?;
    gw.audit.flush().await;
    tokio::time::sleep(Duration::from_millis(120)).await;
    Ok(())
}
