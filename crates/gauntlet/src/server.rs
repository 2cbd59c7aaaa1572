//! `gauntlet serve`, `gauntlet migrate`, `gauntlet admin create`.

use std::sync::Arc;

use anyhow::{Context, Result};
use gauntlet_server::{ServeError, ServerConfig};
use gauntlet_store::Store;

use crate::Outcome;
use crate::cli::{AdminCreateArgs, ServeArgs, ServerDbArgs};
use crate::output;

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
    let config = ServerConfig {
        secrets_key: args
            .secrets_key
            .clone()
            .unwrap_or_else(|| crate::audit::config_file("secrets.key")),
        work_dir: args
            .work_dir
            .clone()
            .unwrap_or_else(|| ServerConfig::default().work_dir),
        workers: args.workers.max(1),
        lease: std::time::Duration::from_secs(args.lease),
        rate_limit_per_s: args.rate_limit,
        auth_failures_per_s: args.auth_failure_limit,
        trust_forwarded_for: args.trust_forwarded_for,
        max_body_bytes: args.max_body,
        oidc: match (&args.oidc_issuer, &args.oidc_audience) {
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
            _ => None,
        },
        ..ServerConfig::default()
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async move {
        // The same signer configuration as the CLI's (a local key, or Vault Transit).
        let signer = crate::audit::signer(&crate::cli::StoreArgs {
            db: None,
            audit_key: args.audit_key.clone(),
        })
        .await?;
        let app = gauntlet_server::app(store, Arc::from(signer), config)?;
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let addr = listener.local_addr()?;
        output::err(&format!(
            "gauntlet serve: http://{addr}/api/v1 on {} (OpenAPI at /api/v1/openapi.json); SIGTERM or Ctrl-C stops",
            app.db.location()
        ));
        gauntlet_server::serve(app, listener, shutdown_signal()).await?;
        output::err("gauntlet serve: stopped; running runs were paused and resume on the next start");
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
