//! The audit log from the command line: the signer, recording events, and `gauntlet audit …`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use gauntlet_audit::export::ExportFormat;
use gauntlet_audit::signer::{VaultConfig, VaultTransit, public_key_pem};
use gauntlet_audit::{
    AuditLog, AuditStorage, Checkpoint, LocalSigner, NewEvent, Signer, TrustedKeys,
};
use gauntlet_core::TenantId;
use gauntlet_store::RunStore;
use gauntlet_store::sqlite::SqliteStore;

use crate::cli::{
    AuditBundleArgs, AuditExportArgs, AuditKeyArgs, AuditLogArgs, AuditProofArgs, AuditReadArgs,
    AuditVerifyArgs, StoreArgs, VerifyFileArgs,
};
use crate::history::{ReportFile, open_existing, user_error};
use crate::{Outcome, UsageError, output};

/// Who is acting: the operating-system user of this CLI.
pub fn actor() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
}

/// An event by this command's user in the local tenant.
pub fn event(action: &str, resource: impl Into<String>) -> NewEvent {
    NewEvent::new(TenantId::local().as_str(), &actor(), action, resource)
}

/// The local key file: `--audit-key` / GAUNTLET_AUDIT_KEY, else under the user's
/// configuration directory (never beside the database it protects).
pub fn key_path(args: &StoreArgs) -> PathBuf {
    if let Some(p) = &args.audit_key {
        return p.clone();
    }
    config_file("audit-ed25519.pem")
}

/// A file under the user's configuration directory (`$XDG_CONFIG_HOME/gauntlet`, else
/// `~/.config/gauntlet`).
pub fn config_file(name: &str) -> PathBuf {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .unwrap_or_else(|| PathBuf::from(".gauntlet"));
    base.join("gauntlet").join(name)
}

/// The signer named by GAUNTLET_AUDIT_SIGNER: `local` (default) or `vault` (Vault Transit,
/// configured by VAULT_ADDR, VAULT_TOKEN, VAULT_NAMESPACE, GAUNTLET_AUDIT_VAULT_KEY and
/// GAUNTLET_AUDIT_VAULT_MOUNT).
/// [`signer`] with only a key file given (the server, its workers and the gateway).
pub async fn signer_at(audit_key: Option<PathBuf>) -> Result<Box<dyn Signer>> {
    signer(&StoreArgs {
        db: None,
        audit_key,
    })
    .await
}

pub async fn signer(args: &StoreArgs) -> Result<Box<dyn Signer>> {
    match std::env::var("GAUNTLET_AUDIT_SIGNER").as_deref() {
        Err(_) | Ok("") | Ok("local") => {
            let path = key_path(args);
            let (signer, created) = LocalSigner::load_or_create(&path)?;
            if created {
                output::err(&format!(
                    "created the audit signing key {} ({}); keep it private, share `gauntlet audit key`",
                    path.display(),
                    signer.key_id()
                ));
            }
            Ok(Box::new(signer))
        }
        Ok("vault") => {
            let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
            let config = VaultConfig {
                address: var("VAULT_ADDR").ok_or_else(|| {
                    UsageError("GAUNTLET_AUDIT_SIGNER=vault needs VAULT_ADDR".into())
                })?,
                token: var("VAULT_TOKEN").ok_or_else(|| {
                    UsageError("GAUNTLET_AUDIT_SIGNER=vault needs VAULT_TOKEN".into())
                })?,
                mount: var("GAUNTLET_AUDIT_VAULT_MOUNT").unwrap_or_else(|| "transit".into()),
                key: var("GAUNTLET_AUDIT_VAULT_KEY").unwrap_or_else(|| "gauntlet-audit".into()),
                namespace: var("VAULT_NAMESPACE"),
            };
            Ok(Box::new(VaultTransit::connect(config).await?))
        }
        Ok(other) => Err(UsageError(format!(
            "unknown GAUNTLET_AUDIT_SIGNER `{other}`; use `local` or `vault`"
        ))
        .into()),
    }
}

/// Appends `events` as one batch under a head signed by `signer`.
pub async fn record(store: &SqliteStore, signer: &dyn Signer, events: Vec<NewEvent>) -> Result<()> {
    AuditLog {
        storage: store,
        signer,
    }
    .append(events)
    .await
    .context("writing the audit log")?;
    Ok(())
}

/// The local audit log as the run service's trail.
pub struct Trail<'a> {
    pub store: &'a SqliteStore,
    pub signer: &'a dyn Signer,
}

impl gauntlet_run::AuditTrail for Trail<'_> {
    fn append(&self, events: Vec<NewEvent>) -> gauntlet_run::BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            AuditLog {
                storage: self.store,
                signer: self.signer,
            }
            .append(events)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
        })
    }
}

/// [`record`] from synchronous code, with the configured signer.
pub fn record_now(store: &SqliteStore, args: &StoreArgs, events: Vec<NewEvent>) -> Result<()> {
    block_on(async { record(store, signer(args).await?.as_ref(), events).await })
}

pub fn block_on<T>(f: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(f)
}

/// The keys to verify with: the given PEM files, else the configured signer's public key.
pub fn trusted_keys(files: &[PathBuf], args: &StoreArgs) -> Result<TrustedKeys> {
    let mut trusted = TrustedKeys::new();
    for f in files {
        trusted
            .add_pem_file(f)
            .map_err(|e| UsageError(e.to_string()))?;
    }
    if trusted.is_empty() {
        let vault = std::env::var("GAUNTLET_AUDIT_SIGNER").as_deref() == Ok("vault");
        let path = key_path(args);
        if !vault && !path.exists() {
            return Err(UsageError(format!(
                "no audit key at {} to verify with; pass the signer's public key with --public-key FILE",
                path.display()
            ))
            .into());
        }
        let signer = block_on(signer(args))?;
        trusted.add(*signer.public_key());
    }
    Ok(trusted)
}

pub fn verify(args: &AuditVerifyArgs) -> Result<Outcome> {
    let store = open_existing(&args.store)?;
    let trusted = trusted_keys(&args.public_keys, &args.store.store)?;
    let witness: Option<Checkpoint> = match &args.witness {
        None => None,
        Some(p) => Some(
            serde_json::from_str(
                &std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
            )
            .map_err(|e| {
                UsageError(format!(
                    "{} is not a tree head saved by `gauntlet audit head`: {e}",
                    p.display()
                ))
            })?,
        ),
    };
    let started = std::time::Instant::now();
    let v = gauntlet_audit::verify::verify(&store, &trusted, witness.as_ref())?;
    if args.json {
        output::out(&serde_json::to_string_pretty(&v)?);
    } else if v.ok() {
        let head = v
            .latest_signed
            .as_ref()
            .map(|c| format!("; signed tree head: size {}, root {}", c.tree_size, c.root))
            .unwrap_or_default();
        output::out(&format!(
            "audit log verified: {} events, {} tree heads ({} signed) in {:.2} s{head}",
            v.events,
            v.checkpoints,
            v.signed_checkpoints,
            started.elapsed().as_secs_f64()
        ));
    } else {
        let mut text = match v.first_bad_index() {
            Some(i) => format!(
                "audit log verification FAILED: first bad event index {i} ({} events checked)\n",
                v.events
            ),
            None => format!(
                "audit log verification FAILED ({} events checked)\n",
                v.events
            ),
        };
        for p in &v.problems {
            let kind = serde_json::to_value(p.kind)
                .ok()
                .and_then(|k| k.as_str().map(str::to_owned))
                .unwrap_or_default();
            text.push_str(&format!("  {kind}: {}\n", p.message));
        }
        output::out(text.trim_end());
    }
    Ok(if v.ok() {
        Outcome::Passed
    } else {
        Outcome::Failed
    })
}

pub fn log(args: &AuditLogArgs) -> Result<Outcome> {
    let store = open_existing(&args.store)?;
    let mut events = std::collections::VecDeque::new();
    store.for_each_event(&mut |e| {
        if args.action.as_deref().is_none_or(|a| a == e.event.action) {
            events.push_back(e);
            if events.len() > args.limit.max(1) {
                events.pop_front();
            }
        }
        Ok(())
    })?;
    if events.is_empty() {
        output::out("no audit events");
        return Ok(Outcome::Passed);
    }
    let mut text = String::new();
    for s in events {
        let e = s.event;
        text.push_str(&format!(
            "{:>6}  {}  {:<16} {:<40} {}{}\n",
            e.seq,
            e.time,
            e.action,
            e.resource,
            e.actor,
            e.reason.map(|r| format!("  ({r})")).unwrap_or_default()
        ));
    }
    output::out(text.trim_end());
    Ok(Outcome::Passed)
}

pub fn proof(args: &AuditProofArgs) -> Result<Outcome> {
    let store = open_existing(&args.store)?;
    let trusted = trusted_keys(&[], &args.store.store)?;
    let proofs = gauntlet_audit::log::proofs(&store, &[args.event], &trusted)
        .map_err(|e| UsageError(e.to_string()))?;
    let text = serde_json::to_string_pretty(&proofs[0])? + "\n";
    ReportFile::write_or_print(args.output.as_deref(), &text)?;
    Ok(Outcome::Passed)
}

pub fn verify_proof(args: &VerifyFileArgs) -> Result<Outcome> {
    let trusted = trusted_keys(&args.public_keys, &args.store)?;
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    let proof: gauntlet_audit::InclusionProof = serde_json::from_str(&text).map_err(|e| {
        UsageError(format!(
            "{} is not an inclusion proof: {e}",
            args.file.display()
        ))
    })?;
    match proof.verify(&trusted) {
        Ok(()) => {
            output::out(&format!(
                "proof verified: event {} ({} {}) is in the signed tree of size {} with root {}",
                proof.event.seq,
                proof.event.action,
                proof.event.resource,
                proof.tree_size,
                proof.checkpoint.root
            ));
            Ok(Outcome::Passed)
        }
        Err(e) => {
            output::out(&format!("proof verification FAILED: {e}"));
            Ok(Outcome::Failed)
        }
    }
}

pub fn export(args: &AuditExportArgs) -> Result<Outcome> {
    let format = match args.format.as_str() {
        "jsonl" | "json" | "ndjson" => ExportFormat::JsonLines,
        "syslog" => ExportFormat::Syslog,
        other => {
            return Err(UsageError(format!(
                "unknown export format `{other}`; use jsonl or syslog"
            ))
            .into());
        }
    };
    let store = open_existing(&args.store)?;
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default();
    let (file, mut out): (Option<ReportFile>, Box<dyn Write>) = match &args.output {
        Some(p) => {
            let (f, w) = ReportFile::create(p)?;
            (Some(f), Box::new(w))
        }
        None => (
            None,
            Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
        ),
    };
    let mut count = 0u64;
    store.for_each_event(&mut |e| {
        if e.event.seq >= args.since {
            gauntlet_audit::export::write_event(&mut out, format, &e, &host)?;
            count += 1;
        }
        Ok(())
    })?;
    out.flush()?;
    drop(out);
    if let Some(f) = file {
        f.commit()?;
        record_now(
            &store,
            &args.store.store,
            vec![
                event(gauntlet_audit::action::AUDIT_EXPORT, "audit-log")
                .details(serde_json::json!({ "format": args.format, "since": args.since, "events": count })),
            ],
        )?;
    }
    Ok(Outcome::Passed)
}

pub fn head(args: &AuditReadArgs) -> Result<Outcome> {
    let store = open_existing(&args.store)?;
    match gauntlet_audit::log::latest_signed(&store)? {
        Some(c) => output::out(&serde_json::to_string_pretty(&c)?),
        None => output::out("the audit log has no signed tree head yet"),
    }
    Ok(Outcome::Passed)
}

pub fn key(args: &AuditKeyArgs) -> Result<Outcome> {
    let signer = block_on(signer(&args.store))?;
    let pem = public_key_pem(signer.public_key())?;
    match &args.output {
        Some(p) => {
            ReportFile::write_or_print(Some(p), &pem)?;
            output::err(&format!("{} ({})", p.display(), signer.key_id()));
        }
        None => output::out(&format!("# {}\n{}", signer.key_id(), pem.trim_end())),
    }
    Ok(Outcome::Passed)
}

/// The audit bundle of a run: transcript, configuration and contract snapshots, the run's
/// audit events with inclusion proofs, all signed.
pub fn bundle(args: &AuditBundleArgs) -> Result<Outcome> {
    let store = open_existing(&args.store)?;
    let tenant = TenantId::local();
    // Fails early, before a file is made, for a run that is not there.
    let run = store.get_run(&tenant, &args.run).map_err(user_error)?;
    // One signer for the proofs' trust, the bundle's signature and the audit record.
    let signer = block_on(signer(&args.store.store))?;
    let path = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("audit-bundle-{}.jsonl.gz", run.id)));
    let (file, w) = ReportFile::create(&path)?;
    let now = gauntlet_core::time::rfc3339(crate::run::now_ms());
    let bundled = block_on(async {
        let (mut w, bundled) =
            gauntlet_run::bundle::write(&store, &tenant, run.id.as_str(), signer.as_ref(), w, &now)
                .await
                .map_err(|e| match e {
                    e @ gauntlet_run::bundle::BundleError::NoEvents(_) => {
                        anyhow::Error::from(UsageError(e.to_string()))
                    }
                    other => anyhow::Error::from(other),
                })?;
        w.flush()?;
        Ok(bundled)
    })?;
    file.commit()?;
    block_on(record(
        &store,
        signer.as_ref(),
        vec![
            event(
                gauntlet_audit::action::AUDIT_BUNDLE,
                format!("run/{}", run.id),
            )
            .details(
                serde_json::json!({ "file": path.display().to_string(), "key_id": bundled.key_id }),
            ),
        ],
    ))?;
    output::out(&format!(
        "audit bundle of run {} written to {} ({} audit events, signed by {})",
        run.id,
        path.display(),
        bundled.events,
        bundled.key_id
    ));
    Ok(Outcome::Passed)
}

pub fn verify_bundle(args: &VerifyFileArgs) -> Result<Outcome> {
    let trusted = trusted_keys(&args.public_keys, &args.store)?;
    let file = std::fs::File::open(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    match gauntlet_audit::bundle::verify_bundle(std::io::BufReader::new(file), &trusted) {
        Ok(s) => {
            output::out(&format!(
                "bundle verified: run {} of suite `{}` ({}), {} cases, {} audit events in the signed tree of size {}; bundle signed by {}, tree head by {}; policy bundle {}",
                s.run_id,
                s.suite,
                s.status,
                s.cases,
                s.events,
                s.tree_size,
                s.bundle_key,
                s.checkpoint_key,
                &s.policy_bundle_checksum[..16.min(s.policy_bundle_checksum.len())]
            ));
            Ok(Outcome::Passed)
        }
        Err(e) => {
            output::out(&format!("bundle verification FAILED: {e}"));
            Ok(Outcome::Failed)
        }
    }
}
