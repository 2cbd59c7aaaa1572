//! `gauntlet gateway`: the proxy, its database keys and the global kill switch.

use std::sync::Arc;

use anyhow::{Context, Result};
use gauntlet_store::gateway::{GatewayStore, StoredKey, Switch};

use crate::cli::{GatewayCommand, GatewayKeyArgs, GatewayServeArgs, GatewaySwitchArgs};
use crate::{Outcome, UsageError, output, project};

pub fn run(cmd: &GatewayCommand) -> Result<Outcome> {
    match cmd {
        GatewayCommand::Serve(a) => serve(a),
        GatewayCommand::Key(a) => key(a),
        GatewayCommand::Kill(a) => switch(a, true),
        GatewayCommand::Resume(a) => switch(a, false),
    }
}

fn open(url: &str) -> Result<gauntlet_store::Store> {
    gauntlet_store::Store::open_url(url.strip_prefix("sqlite://").unwrap_or(url))
        .with_context(|| "opening the gateway's database".to_string())
}

fn serve(args: &GatewayServeArgs) -> Result<Outcome> {
    let Some(project) = project::load(&args.path)? else {
        return Ok(Outcome::Invalid);
    };
    if project.gateway.is_none() {
        return Err(UsageError(format!(
            "{} has no `gateway` block: add `gateway:` with `routes` (model → provider) and `keys`; see the README's Gateway section",
            args.path.display()
        ))
        .into());
    }
    let shared = args.database_url.is_some();
    let store = match &args.database_url {
        Some(url) => open(url)?,
        // The project's own store, as `gauntlet run` uses it.
        None => crate::history::open_store(
            &crate::cli::StoreArgs {
                db: args.store.clone(),
                audit_key: args.audit_key.clone(),
            },
            &args.path,
        )?,
    };
    let rt = crate::runtime()?;
    rt.block_on(async move {
        let signer = crate::audit::signer_at(args.audit_key.clone())
        .await?;
        let location = store.db().location();
        let gw = gauntlet_gateway::Gateway::start(Arc::new(project), Arc::new(store), Arc::from(signer), shared)?;
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .map_err(|e| UsageError(format!("cannot listen on {}: {e}", args.listen)))?;
        let addr = listener.local_addr()?;
        let models: Vec<&str> = gw.cfg.routes.keys().map(String::as_str).collect();
        output::out(&format!(
            "gateway on http://{addr} (OpenAI: /v1/chat/completions; Anthropic: /v1/messages; admin: /gateway/v1; /metrics) over {location}{}\nmodels: {}",
            if shared { ", shared with other instances" } else { "" },
            models.join(", ")
        ));
        gauntlet_gateway::serve(gw, listener, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(Outcome::Passed)
}

fn key(args: &GatewayKeyArgs) -> Result<Outcome> {
    let store = open(&args.database_url)?;
    let mut id = [0u8; 6];
    let mut secret = [0u8; 24];
    getrandom::fill(&mut id).context("no randomness")?;
    getrandom::fill(&mut secret).context("no randomness")?;
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let id = hex(&id);
    let token = format!("gk_{id}_{}", hex(&secret));
    GatewayStore::new(store.db().clone()).create_key(
        &StoredKey {
            id: id.clone(),
            tenant: gauntlet_core::ids::TenantId::new(&args.tenant),
            agent: args.agent.clone(),
            secret_sha256: gauntlet_core::hash::sha256_hex(token.as_bytes()),
            admin: args.admin,
            revoked_at: None,
        },
        gauntlet_gateway::now_ms() as i64,
    )?;
    output::err(&format!(
        "created gateway key `{id}` for agent `{}` of tenant `{}`; it follows and is not shown again:",
        args.agent, args.tenant
    ));
    output::out(&token);
    Ok(Outcome::Passed)
}

fn switch(args: &GatewaySwitchArgs, on: bool) -> Result<Outcome> {
    let store = GatewayStore::new(open(&args.database_url)?.db().clone());
    if on {
        store.set_switch(&Switch {
            tenant: "*".into(),
            scope: "global".into(),
            subject: "*".into(),
            state: "killed".into(),
            reason: args.reason.clone(),
            actor: "operator".into(),
            at_ms: gauntlet_gateway::now_ms() as i64,
        })?;
        output::err(
            "the global kill switch is on: every gateway on this database refuses all traffic within a second",
        );
    } else {
        let was = store.clear_switch("*", "global", "*")?;
        output::err(if was.is_some() {
            "the global kill switch is off"
        } else {
            "the global kill switch was not on"
        });
    }
    Ok(Outcome::Passed)
}
