//! `gauntlet serve`: the multi-tenant REST API under `/api/v1`, its in-process run workers,
//! and the operational endpoints.
//!
//! Every request passes, in order: request id → metrics → authentication → authorisation →
//! handler. Routes exist only as entries of [`routes::table`], each of which names the access
//! it needs; the router is built from that table alone, and the authorisation middleware
//! refuses any (method, path) the table does not list — a route added some other way is
//! unreachable. Handlers get the caller's tenant from the authenticated [`auth::Principal`] and
//! pass it to every store call; the store filters every statement on it, so an object of
//! another tenant is simply not found (404).

pub mod audit;
pub mod auth;
pub mod bus;
pub mod dashboard;
pub mod error;
pub mod events;
mod handlers;
mod http;
pub mod jwt;
pub mod metrics;
pub mod openapi;
pub mod rbac;
mod replies;
pub mod routes;
mod runs;
mod settings;
mod suites;
pub mod worker;

use std::sync::Arc;
use std::time::Duration;

use gauntlet_store::accounts::Accounts;
use gauntlet_store::db::Db;
use gauntlet_store::queue::Queue;
use gauntlet_store::suites::Suites;

pub use error::{ApiError, Code};

/// The store holding runs and their results.
pub type RunDb = gauntlet_store::Store;

#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Runs executed at once by this process's workers (0: this process only serves the API
    /// and leaves runs to `gauntlet worker` processes on the same database).
    pub workers: usize,
    /// The queues this process's workers claim from, in order.
    pub queues: Vec<String>,
    /// On shutdown, how long the runs in hand may take to finish before they are handed back.
    pub grace: Duration,
    /// A worker's lease on a run; renewed every third of it.
    pub lease: Duration,
    /// How long a run may take in all.
    pub run_deadline: Duration,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// Requests per second allowed per credential (burst: twice that).
    pub rate_limit_per_s: u32,
    /// Where suites are unpacked to run.
    pub work_dir: std::path::PathBuf,
    /// Attempts of a run before it fails.
    pub max_attempts: i64,
    /// This process, in lease records.
    pub instance: String,
    /// Accept JWT bearer tokens from this OIDC issuer (besides API keys).
    pub oidc: Option<jwt::OidcConfig>,
    /// How long a verified credential is trusted without asking the database again.
    pub session_ttl: Duration,
    /// The key that seals tenants' secrets: a file outside the database, created on first
    /// use.
    pub secrets_key: std::path::PathBuf,
    /// Failed authentications allowed per client address and second (burst: twice that);
    /// past them the address is answered 429 before its credentials are looked at.
    pub auth_failures_per_s: u32,
    /// Take the client address from `X-Forwarded-For` (only behind a proxy that sets it).
    pub trust_forwarded_for: bool,
    /// The dashboard: how it is reached, its sessions, single sign-on.
    pub dashboard: dashboard::DashboardConfig,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            workers: 2,
            queues: vec!["runs".into()],
            grace: Duration::ZERO,
            lease: Duration::from_secs(30),
            run_deadline: Duration::from_secs(6 * 3600),
            max_body_bytes: 8 << 20,
            rate_limit_per_s: 100,
            work_dir: std::env::temp_dir().join("gauntlet-server"),
            max_attempts: 3,
            instance: instance_name("serve"),
            oidc: None,
            session_ttl: Duration::from_secs(30),
            secrets_key: std::env::temp_dir().join("gauntlet-server-secrets.key"),
            auth_failures_per_s: 20,
            trust_forwarded_for: false,
            dashboard: dashboard::DashboardConfig::default(),
        }
    }
}

/// A name for this process in lease records and notes, unique across machines: the host's
/// name, the process id (1 in every container) and a random suffix.
pub fn instance_name(role: &str) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".into());
    let suffix = auth::random_hex(3).unwrap_or_default();
    format!("{role}-{host}-{}-{suffix}", std::process::id())
}

/// Everything the handlers and workers share.
pub struct App {
    pub db: Db,
    pub runs: Arc<RunDb>,
    pub accounts: Accounts,
    pub suites: Suites,
    /// Tenants' capabilities, variables, secrets and spend.
    pub tenancy: gauntlet_store::tenancy::Tenancy,
    /// Seals and opens tenants' secrets.
    pub sealer: settings::Sealer,
    /// Validations of uploaded files running at once (each holds its files and their parse
    /// in memory): the rest wait their turn.
    pub validations: tokio::sync::Semaphore,
    pub queue: Queue,
    /// The dashboard's reads.
    pub explore: gauntlet_store::explore::Explore,
    /// Dashboard sessions and sign-ins under way.
    pub web: gauntlet_store::web::WebSessions,
    pub audit: audit::Sink,
    /// Signs the audit log's tree heads and run bundles.
    pub signer: Arc<dyn gauntlet_audit::Signer>,
    pub hub: events::Hub,
    /// Tells the other processes on the same PostgreSQL database about runs.
    pub bus: bus::Bus,
    pub metrics: metrics::Metrics,
    pub limiter: http::RateLimiter,
    /// Failed authentications per client address (before any credential is checked).
    pub auth_failures: http::RateLimiter,
    /// Credentials verified recently.
    pub sessions: auth::Sessions,
    /// The OIDC issuer's keys, when JWTs are accepted.
    pub jwks: Option<jwt::Jwks>,
    /// Talks to the OIDC issuer for single sign-on (an address the operator configured).
    pub sso_http: reqwest::Client,
    pub config: ServerConfig,
    /// Wakes the workers when a run is enqueued or resumed.
    pub wake: tokio::sync::Notify,
    /// Set when shutdown begins: workers stop claiming and finish what they hold.
    pub draining: std::sync::atomic::AtomicBool,
    /// Set when the grace is over: workers hand back the runs they still hold.
    pub stopping: tokio::sync::watch::Sender<bool>,
    /// Runs executing in this process, so that a cancel or pause reaches them at once rather
    /// than at the next heartbeat.
    pub running: worker::Running,
}

pub type AppState = Arc<App>;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Store(#[from] gauntlet_store::StoreError),
    #[error("{0}")]
    Setup(String),
}

/// Builds the shared state on an open (migrated) store.
pub fn app(
    store: gauntlet_store::Store,
    signer: Arc<dyn gauntlet_audit::Signer>,
    config: ServerConfig,
) -> Result<AppState, ServeError> {
    let db = store.db().clone();
    let runs = Arc::new(store);
    std::fs::create_dir_all(&config.work_dir)
        .map_err(|e| ServeError::Setup(format!("{}: {e}", config.work_dir.display())))?;
    let (stopping, _) = tokio::sync::watch::channel(false);
    let sealer = settings::Sealer::load_or_create(&config.secrets_key)
        .map_err(|e| ServeError::Setup(format!("the secrets key: {e}")))?;
    Ok(Arc::new(App {
        accounts: Accounts::new(db.clone()),
        suites: Suites::new(db.clone()),
        tenancy: gauntlet_store::tenancy::Tenancy::new(db.clone()),
        sealer,
        validations: tokio::sync::Semaphore::new(2),
        queue: Queue::new(db.clone()),
        explore: gauntlet_store::explore::Explore::new(db.clone()),
        web: gauntlet_store::web::WebSessions::new(db.clone()),
        audit: audit::Sink::start(Arc::clone(&runs), Arc::clone(&signer)),
        signer,
        hub: events::Hub::default(),
        bus: bus::Bus::start(&db, &config.instance),
        metrics: metrics::Metrics::default(),
        limiter: http::RateLimiter::new(config.rate_limit_per_s),
        auth_failures: http::RateLimiter::new(config.auth_failures_per_s),
        jwks: config.oidc.clone().map(jwt::Jwks::new),
        sso_http: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ServeError::Setup(format!("the HTTP client: {e}")))?,
        sessions: auth::Sessions::new(config.session_ttl),
        wake: tokio::sync::Notify::new(),
        running: worker::Running::default(),
        draining: std::sync::atomic::AtomicBool::new(false),
        stopping,
        db,
        runs,
        config,
    }))
}

/// The whole HTTP service.
pub fn router(state: AppState) -> axum::Router {
    http::router(state)
}

/// Serves the dashboard alone (no API, no workers) until `shutdown` resolves: `gauntlet view`.
pub async fn serve_dashboard(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    axum::serve(
        listener,
        http::dashboard_only(Arc::clone(&state))
            .into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
    .map_err(|e| ServeError::Setup(e.to_string()))?;
    state.audit.flush().await;
    Ok(())
}

/// Serves on `listener` until `shutdown` resolves, then stops taking requests, lets the
/// workers hand their runs back (paused runs resume on the next start), and flushes the
/// audit log.
pub async fn serve(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let workers = worker::start(Arc::clone(&state));
    bus::listen(&state, true);
    let s = Arc::clone(&state);
    axum::serve(
        listener,
        router(Arc::clone(&state)).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        // The API keeps answering while the runs in hand finish; live streams end after.
        workers.drain(&s, s.config.grace).await;
    })
    .await
    .map_err(|e| ServeError::Setup(e.to_string()))?;
    state.audit.flush().await;
    Ok(())
}

/// `gauntlet worker`: executes queued runs without serving the API, with `/metrics`,
/// `/healthz` and `/readyz` on `ops` if given, until `shutdown` resolves; then it stops
/// claiming, lets the runs in hand finish within the grace and hands back the rest.
pub async fn work(
    state: AppState,
    ops: Option<tokio::net::TcpListener>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let workers = worker::start(Arc::clone(&state));
    bus::listen(&state, false);
    let server = ops.map(|listener| {
        let router = http::ops_router(Arc::clone(&state));
        let mut stop = state.stopping.subscribe();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = stop.changed().await;
                })
                .await;
        })
    });
    shutdown.await;
    workers.drain(&state, state.config.grace).await;
    if let Some(s) = server {
        let _ = s.await;
    }
    state.audit.flush().await;
    Ok(())
}

/// Runs a blocking store call off the async threads, once one of the store's
/// [`BLOCKING_SLOTS`](gauntlet_store::db::BLOCKING_SLOTS) is free.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let _slot = gauntlet_store::db::BLOCKING_SLOTS
        .acquire()
        .await
        .map_err(ApiError::internal)?;
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(ApiError::internal(e)))
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

pub(crate) fn now_rfc3339() -> String {
    gauntlet_core::time::rfc3339(now_ms() as u64)
}

/// `gauntlet admin create`: a platform administrator in `tenant` (created if missing), with a
/// new admin API key. Returns the token, which is shown once and stored only as a hash.
pub fn bootstrap_admin(
    store: &gauntlet_store::Store,
    tenant: &str,
    user: &str,
) -> Result<String, ServeError> {
    let accounts = Accounts::new(store.db().clone());
    let id = gauntlet_core::TenantId::new(tenant);
    match accounts.tenant(&id) {
        Ok(_) => {}
        Err(gauntlet_store::StoreError::NotFound(_)) => {
            accounts.create_tenant(&gauntlet_store::accounts::Tenant {
                id: tenant.to_owned(),
                name: tenant.to_owned(),
                quotas: Default::default(),
                created_at: now_rfc3339(),
            })?;
        }
        Err(e) => return Err(e.into()),
    }
    match accounts.user(&id, user) {
        Ok(u) if u.platform_admin => {}
        Ok(_) => {
            return Err(ServeError::Setup(format!(
                "user `{user}` exists in tenant `{tenant}` and is not a platform administrator; choose another name"
            )));
        }
        Err(gauntlet_store::StoreError::NotFound(_)) => {
            accounts.create_user(
                &id,
                &gauntlet_store::accounts::User {
                    id: user.to_owned(),
                    name: user.to_owned(),
                    email: None,
                    role: "admin".into(),
                    platform_admin: true,
                    created_at: now_rfc3339(),
                },
            )?;
        }
        Err(e) => return Err(e.into()),
    }
    let (key_id, token, hash) = auth::new_key().map_err(ServeError::Setup)?;
    accounts.create_key(
        &id,
        &gauntlet_store::accounts::ApiKey {
            id: key_id,
            user_id: user.to_owned(),
            name: "bootstrap".into(),
            role: "admin".into(),
            created_at: now_rfc3339(),
            expires_at: None,
            revoked_at: None,
            issued_by: None,
        },
        &hash,
    )?;
    Ok(token)
}
