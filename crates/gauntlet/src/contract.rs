//! `gauntlet contract sign | check`: signed, chained contract versions in
//! `gauntlet.contracts.lock` beside the project.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use gauntlet_audit::contract::{
    self, ContractLock, CurrentContract, LOCK_FILE, SignPlan, contract_hash,
};
use gauntlet_audit::signer::public_key_pem;
use gauntlet_core::model::Project;

use crate::cli::{ContractCheckArgs, ContractSignArgs};
use crate::history::{ReportFile, open_store};
use crate::project::{load, project_dir};
use crate::{Outcome, UsageError, audit, output};

fn lock_path(path: &Path) -> PathBuf {
    project_dir(path).join(LOCK_FILE)
}

fn read_lock(path: &Path) -> Result<Option<ContractLock>> {
    match std::fs::read_to_string(path) {
        Ok(text) => ContractLock::parse(&text)
            .map(Some)
            .map_err(|e| UsageError(format!("{}: {e}", path.display())).into()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(anyhow::Error::from(e).context(format!("reading {}", path.display()))),
    }
}

/// The named contracts of the project, with their canonical hashes.
fn current(project: &Project) -> BTreeMap<String, CurrentContract> {
    project
        .contracts
        .iter()
        .map(|(name, c)| {
            let value = serde_json::to_value(c).unwrap_or_default();
            (
                name.clone(),
                CurrentContract {
                    version: c.version.clone(),
                    hash: contract_hash(&value),
                },
            )
        })
        .collect()
}

pub fn sign(args: &ContractSignArgs) -> Result<Outcome> {
    let Some(project) = load(&args.path)? else {
        return Ok(Outcome::Invalid);
    };
    let contracts = current(&project);
    for name in &args.contracts {
        if !contracts.contains_key(name) {
            return Err(UsageError(format!(
                "no contract named `{name}`; named contracts: {}",
                contracts.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
            .into());
        }
    }
    if contracts.is_empty() {
        return Err(
            UsageError("the project defines no named contracts (`contracts:`)".into()).into(),
        );
    }
    let path = lock_path(&args.path);
    let mut lock = read_lock(&path)?.unwrap_or_else(ContractLock::new);
    let now = gauntlet_core::time::rfc3339(crate::run::now_ms());
    let actor = audit::actor();
    let signer = audit::block_on(audit::signer(&args.store))?;
    let mut signed = Vec::new();
    for (name, c) in &contracts {
        if !args.contracts.is_empty() && !args.contracts.contains(name) {
            continue;
        }
        match contract::prepare(&lock, name, c, &now, &actor)
            .map_err(|e| UsageError(e.to_string()))?
        {
            SignPlan::AlreadySigned => output::out(&format!(
                "contract `{name}` version {} is already signed",
                c.version.as_deref().unwrap_or("?")
            )),
            SignPlan::Append(mut entry) => {
                let message = entry.message(name);
                entry.signature = audit::block_on(async {
                    signer.sign(&message).await.map_err(anyhow::Error::from)
                })?;
                lock.keys.insert(
                    signer.key_id().to_owned(),
                    public_key_pem(signer.public_key())?,
                );
                signed.push((name.clone(), entry.clone()));
                lock.contracts.entry(name.clone()).or_default().push(entry);
            }
        }
    }
    if signed.is_empty() {
        return Ok(Outcome::Passed);
    }
    ReportFile::write_or_print(Some(&path), &lock.to_text())?;
    let store = open_store(&args.store, &project_dir(&args.path))?;
    let events = signed
        .iter()
        .map(|(name, v)| {
            audit::event(
                gauntlet_audit::action::CONTRACT_SIGN,
                format!("contract/{name}"),
            )
            .digest(v.hash.clone())
            .details(serde_json::json!({
                "version": v.version,
                "previous": v.previous,
                "key_id": v.signature.key_id,
            }))
        })
        .collect();
    audit::block_on(audit::record(&store, signer.as_ref(), events))?;
    for (name, v) in &signed {
        output::out(&format!(
            "signed contract `{name}` version {} ({}) with {}",
            v.version,
            &v.hash[..12],
            v.signature.key_id
        ));
    }
    output::err(&format!("{} updated; commit it", path.display()));
    Ok(Outcome::Passed)
}

pub fn check(args: &ContractCheckArgs) -> Result<Outcome> {
    let Some(project) = load(&args.path)? else {
        return Ok(Outcome::Invalid);
    };
    let contracts = current(&project);
    let path = lock_path(&args.path);
    let lock = match read_lock(&path)? {
        Some(l) => l,
        None if contracts.is_empty() => {
            output::out("no named contracts");
            return Ok(Outcome::Passed);
        }
        None => ContractLock::new(),
    };
    let mut trusted = gauntlet_audit::TrustedKeys::new();
    for f in &args.public_keys {
        trusted
            .add_pem_file(f)
            .map_err(|e| UsageError(e.to_string()))
            .with_context(|| format!("reading {}", f.display()))?;
    }
    let findings = contract::check(&lock, &contracts, &trusted);
    let failures = findings
        .iter()
        .filter(|f| f.fails(args.require_signed))
        .count();
    let mut text = String::new();
    for f in &findings {
        let tag = if f.fails(args.require_signed) {
            "error"
        } else {
            "note"
        };
        text.push_str(&format!("{tag}: {}\n", f.message()));
    }
    let ok = contracts
        .keys()
        .filter(|n| !findings.iter().any(|f| contract_name(f) == n.as_str()))
        .count();
    text.push_str(&format!(
        "{} contract(s): {ok} match their signed version, {failures} problem(s){}",
        contracts.len(),
        if args.public_keys.is_empty() && !lock.keys.is_empty() {
            "; signatures checked against the keys recorded in the lock (pin one with --public-key)"
        } else {
            ""
        }
    ));
    output::out(&text);
    Ok(if failures == 0 {
        Outcome::Passed
    } else {
        Outcome::Failed
    })
}

fn contract_name(f: &contract::Finding) -> &str {
    use contract::Finding::*;
    match f {
        Unsigned { contract }
        | ChangedWithoutVersion { contract, .. }
        | VersionNotSigned { contract, .. }
        | BrokenChain { contract, .. }
        | BadSignature { contract, .. }
        | Removed { contract } => contract,
    }
}
