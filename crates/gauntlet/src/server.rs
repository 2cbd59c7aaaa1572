//! `gauntlet serve`, `gauntlet migrate`, `gauntlet admin create`.

use std::sync::Arc;

use anyhow::{Context, Result};
use gauntlet_server::{ServeError, ServerConfig};
use gauntlet_store::db::Db;

use crate::Outcome;
use crate::cli::{AdminCreateArgs, ServeArgs, ServerDbArgs};
use crate::output;

fn open(args: &ServerDbArgs) -> Result<Db> {
    let url = args
        .database_url
        .strip_prefix("sqlite://")
        .unwrap_or(&args.database_url);
    Db::open(url).context("opening the server database")
}

/// The store of runs and results beside the server's tables.
fn run_store(args: &ServerDbArgs) -> Result<Arc<gauntlet_server::RunDb>> {
    let url = args
        .database_url
        .strip_prefix("sqlite://")
        .unwrap_or(&args.database_url);
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        anyhow::bail!(
            "run results cannot be stored in PostgreSQL by this build yet; use a SQLite path for --database-url"
        );
    }
    Ok(Arc::new(
        gauntlet_store::sqlite::SqliteStore::open(std::path::Path::new(url))
            .context("opening the run store")?,
    ))
}

pub fn migrate(args: &ServerDbArgs) -> Result<Outcome> {
    run_store(args)?;
    let db = open(args)?;
    let applied = db.migrate(gauntlet_store::schema::server(db.dialect()))?;
    output::out(&format!(
        "{}: {applied} migration(s) applied, schema at {}",
        db.location(),
        db.schema_version()?
    ));
    Ok(Outcome::Passed)
}

pub fn admin_create(args: &AdminCreateArgs) -> Result<Outcome> {
    run_store(&args.db)?;
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
    let runs = run_store(&args.db)?;
    let db = open(&args.db)?;
    let key_path = args.audit_key.clone().unwrap_or_else(|| {
        crate::audit::key_path(&crate::cli::StoreArgs {
            db: None,
            audit_key: None,
        })
    });
    let (signer, _) = gauntlet_audit::LocalSigner::load_or_create(&key_path)
        .with_context(|| format!("loading the audit key {}", key_path.display()))?;
    let config = ServerConfig {
        workers: args.workers.max(1),
        rate_limit_per_s: args.rate_limit,
        max_body_bytes: args.max_body,
        ..ServerConfig::default()
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async move {
        let app = gauntlet_server::app(db, runs, Arc::new(signer), config)?;
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
