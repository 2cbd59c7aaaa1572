//! `gauntlet serve`, `gauntlet migrate`, `gauntlet admin create`.

use std::sync::Arc;

use anyhow::{Context, Result};
use gauntlet_server::{ServeError, ServerConfig};
use gauntlet_store::Store;

use crate::cli::{AdminCreateArgs, RunnerArgs, ServeArgs, ServerDbArgs, WorkerArgs};
use crate::output;
use crate::{Outcome, UsageError};

/// The server's store: a SQLite file or a PostgreSQL URL, migrated.
fn open(args: &ServerDbArgs) -> Result<Store> {
    let url = args
        .database_url
        .strip_prefix("sqlite://")
        .unwrap_or(&args.database_url);
    Store::open_url(url).context("opening the server database")
}

pub fn migrate(args: &ServerDbArgs) -> Result<Outcome> {
    let store = open(args)?;
    let db = store.db();
    output::out(&format!(
        "{}: schema at migration {} of {}",
        db.location(),
        db.schema_version()?,
        gauntlet_store::migrations(db.dialect()).len()
    ));
    Ok(Outcome::Passed)
}

pub fn admin_create(args: &AdminCreateArgs) -> Result<Outcome> {
    let db = open(&args.db)?;
    let token =
        gauntlet_server::bootstrap_admin(&db, &args.tenant, &args.user).map_err(|e| match e {
            ServeError::Setup(m) => anyhow::anyhow!(m),
            other => anyhow::Error::from(other),
        })?;
    output::err(&format!(
        "created platform administrator `{}` in tenant `{}`; its API key follows and is not shown again:",
        args.user, args.tenant
    ));
    output::out(&token);
    Ok(Outcome::Passed)
}

pub fn serve(args: &ServeArgs) -> Result<Outcome> {
    let store = open(&args.db)?;
    if args.workers == 0 && store.db().dialect() == gauntlet_store::db::Dialect::Sqlite {
        return Err(UsageError(
            "--workers 0 leaves runs to `gauntlet worker` processes, which share a PostgreSQL database; on SQLite nothing would ever execute them".into(),
        )
        .into());
    }
    let config = ServerConfig {
        workers: args.workers,
        rate_limit_per_s: args.rate_limit,
        auth_failures_per_s: args.auth_failure_limit,
        trust_forwarded_for: args.trust_forwarded_for,
        max_body_bytes: args.max_body,
        dashboard: gauntlet_server::dashboard::DashboardConfig {
            mode: gauntlet_server::dashboard::Mode::Server,
            session_ttl: std::time::Duration::from_secs(args.session_hours * 3600),
            sso: sso(args)?,
        },
        oidc: match (
            &args.oidc_issuer,
            args.oidc_audience.as_ref().or(args.oidc_client_id.as_ref()),
        ) {
            (Some(issuer), Some(audience)) => Some(gauntlet_server::jwt::OidcConfig {
                issuer: issuer.clone(),
                audience: audience.clone(),
                jwks_url: args.oidc_jwks_url.clone(),
                tenant_claim: args.oidc_tenant_claim.clone(),
                role_claim: args.oidc_role_claim.clone(),
                match_email: args.oidc_match_email,
                leeway_s: args.oidc_leeway,
                refresh_min: gauntlet_server::jwt::REFRESH_MIN,
            }),
            (Some(_), None) => {
                return Err(UsageError("--oidc-issuer needs --oidc-audience (bearer tokens) or --oidc-client-id (dashboard sign-on)".into()).into());
            }
            _ => None,
        },
        ..runner(&args.runner, "serve")
    };
    let rt = crate::runtime()?;
    rt.block_on(async move {
        // The same signer configuration as the CLI's (a local key, or Vault Transit).
        let signer = crate::audit::signer_at(args.runner.audit_key.clone())
        .await?;
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let addr = listener.local_addr()?;
        let mut config = config;
        if let Some(sso) = config.dashboard.sso.as_mut()
            && args.oidc_redirect_url.is_none()
        {
            sso.redirect_url = format!("http://{addr}/auth/callback");
        }
        let app = gauntlet_server::app(store, Arc::from(signer), config)?;
        output::err(&format!(
            "gauntlet serve: dashboard http://{addr}/ and API http://{addr}/api/v1 on {} (OpenAPI at /api/v1/openapi.json); SIGTERM or Ctrl-C stops",
            app.db.location()
        ));
        gauntlet_server::serve(app, listener, shutdown_signal()).await?;
        output::err("gauntlet serve: stopped; running runs were paused and resume on the next start");
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(Outcome::Passed)
}

/// The configuration of a process that executes runs, from the flags both commands share.
fn runner(args: &RunnerArgs, role: &str) -> ServerConfig {
    ServerConfig {
        secrets_key: args
            .secrets_key
            .clone()
            .unwrap_or_else(|| crate::audit::config_file("secrets.key")),
        work_dir: args
            .work_dir
            .clone()
            .unwrap_or_else(|| ServerConfig::default().work_dir),
        lease: std::time::Duration::from_secs(args.lease),
        grace: std::time::Duration::from_secs(args.grace.unwrap_or(if role == "worker" {
            25
        } else {
            0
        })),
        queues: args.queues.clone(),
        instance: gauntlet_server::instance_name(role),
        ..ServerConfig::default()
    }
}

/// `gauntlet worker`: runs from the database, no API.
pub fn worker(args: &WorkerArgs) -> Result<Outcome> {
    let url = args.database_url.as_str();
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(UsageError(
            "workers share a PostgreSQL database (--database-url postgres://…); on SQLite one process owns the file, and `gauntlet serve` executes the runs itself".into(),
        )
        .into());
    }
    let store = open(&ServerDbArgs {
        database_url: args.database_url.clone(),
    })?;
    if args.runner.queues.iter().any(|q| q.trim().is_empty()) {
        return Err(UsageError("--queues: a queue name is empty".into()).into());
    }
    let config = ServerConfig {
        workers: args.concurrency as usize,
        ..runner(&args.runner, "worker")
    };
    let rt = crate::runtime()?;
    rt.block_on(async move {
        let signer = crate::audit::signer_at(args.runner.audit_key.clone())
        .await?;
        let ops = match &args.metrics_listen {
            Some(addr) => Some(
                tokio::net::TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on {addr}"))?,
            ),
            None => None,
        };
        let ops_addr = ops.as_ref().and_then(|l| l.local_addr().ok());
        let app = gauntlet_server::app(store, Arc::from(signer), config)?;
        output::err(&format!(
            "gauntlet worker {}: {} runs at once from queue(s) {} on {}{}; SIGTERM drains (grace {} s)",
            app.config.instance,
            app.config.workers,
            app.config.queues.join(", "),
            app.db.location(),
            ops_addr.map_or(String::new(), |a| format!("; http://{a}/metrics, /healthz and /readyz")),
            app.config.grace.as_secs(),
        ));
        gauntlet_server::work(app, ops, shutdown_signal()).await?;
        output::err("gauntlet worker: stopped; runs not finished within the grace were handed back to the queue");
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(Outcome::Passed)
}

/// Single sign-on from the flags.
fn sso(args: &ServeArgs) -> Result<Option<gauntlet_server::dashboard::sign_in::SsoConfig>> {
    let Some(client_id) = &args.oidc_client_id else {
        return Ok(None);
    };
    let mut group_roles = Vec::new();
    for pair in &args.oidc_group_roles {
        let Some((group, role)) = pair
            .split_once('=')
            .filter(|(g, r)| !g.is_empty() && !r.is_empty())
        else {
            return Err(UsageError(format!("--oidc-group-role `{pair}`: write GROUP=ROLE")).into());
        };
        group_roles.push((group.to_owned(), role.to_owned()));
    }
    Ok(Some(gauntlet_server::dashboard::sign_in::SsoConfig {
        client_id: client_id.clone(),
        client_secret: args.oidc_client_secret.clone(),
        redirect_url: args
            .oidc_redirect_url
            .clone()
            .unwrap_or_else(|| format!("http://{}/auth/callback", args.listen)),
        groups_claim: args.oidc_groups_claim.clone(),
        group_roles,
        default_role: args.oidc_default_role.clone(),
        tenant: args.oidc_tenant.clone(),
    }))
}

/// `gauntlet view`: the dashboard over the local store, on loopback, as its owner.
pub fn view(args: &crate::cli::ViewArgs) -> Result<Outcome> {
    let read = crate::cli::ReadStoreArgs {
        project: args.path.clone(),
        store: crate::cli::StoreArgs {
            db: args.store.db.clone(),
            audit_key: args.store.audit_key.clone(),
        },
    };
    let store = crate::history::open_existing(&read)?;
    let listen: std::net::SocketAddr = args.listen.parse().map_err(|_| {
        UsageError(format!(
            "--listen `{}` is not an address such as 127.0.0.1:8484",
            args.listen
        ))
    })?;
    if !listen.ip().is_loopback() {
        return Err(UsageError(format!(
            "--listen {listen}: the local view has no sign-in, so it listens on loopback only; use `gauntlet serve` to share a dashboard"
        ))
        .into());
    }
    let scratch = tempfile::tempdir().context("cannot make a scratch directory")?;
    let config = ServerConfig {
        workers: 0,
        work_dir: scratch.path().join("work"),
        secrets_key: scratch.path().join("secrets.key"),
        dashboard: gauntlet_server::dashboard::DashboardConfig {
            mode: gauntlet_server::dashboard::Mode::Local(gauntlet_core::TenantId::local()),
            ..Default::default()
        },
        ..ServerConfig::default()
    };
    let rt = crate::runtime()?;
    rt.block_on(async move {
        let signer = crate::audit::signer(&read.store).await?;
        let app = gauntlet_server::app(store, Arc::from(signer), config)?;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let addr = listener.local_addr()?;
        output::out(&format!(
            "gauntlet view: http://{addr}/ ({}); Ctrl-C stops",
            app.db.location()
        ));
        gauntlet_server::serve_dashboard(app, listener, shutdown_signal()).await?;
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(Outcome::Passed)
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
