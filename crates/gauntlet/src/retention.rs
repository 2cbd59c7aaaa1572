//! `gauntlet retention apply`: the retention policies of the project (the tenant's default)
//! and its suites, applied to stored runs. Every purge is an audit event; the audit log itself
//! is never purged, and its events keep the digests of what was removed.

use anyhow::Result;
use gauntlet_audit::NewEvent;
use gauntlet_core::TenantId;
use gauntlet_core::model::RetentionPolicy;
use gauntlet_store::{RetainedRun, RetentionStore};

use crate::cli::RetentionApplyArgs;
use crate::history::open_store;
use crate::project::{load, project_dir, project_name};
use crate::{Outcome, UsageError, audit, output};

const DAY_MS: u64 = 86_400_000;

#[derive(Default)]
struct Tally {
    deleted: Vec<String>,
    purged: Vec<String>,
    anonymised: Vec<String>,
    kept_baselines: Vec<String>,
}

pub fn apply(args: &RetentionApplyArgs) -> Result<Outcome> {
    let Some(project) = load(&args.path)? else {
        return Ok(Outcome::Invalid);
    };
    let now = match &args.as_of {
        None => crate::run::now_ms(),
        Some(t) => gauntlet_core::time::parse_rfc3339(t).ok_or_else(|| {
            UsageError(format!(
                "`--as-of {t}` is not a UTC time like 2026-11-22 or 2026-11-22T10:00:00Z"
            ))
        })?,
    };
    let cutoff = |days: Option<u32>| {
        days.map(|d| gauntlet_core::time::rfc3339(now.saturating_sub(u64::from(d) * DAY_MS)))
    };
    let store = open_store(&args.store, &project_dir(&args.path))?;
    let tenant = TenantId::local();
    let at = gauntlet_core::time::rfc3339(crate::run::now_ms());
    let project_name = project_name(&args.path);
    let mut tally = Tally::default();
    let mut events = Vec::new();
    let mut policies = 0;
    for (name, suite) in &project.suites {
        let policy: RetentionPolicy = suite.retention.or(project.retention);
        if policy.is_empty() {
            continue;
        }
        policies += 1;
        // The oldest cutoff first: a deleted run needs no purge.
        let runs_before = |before: Option<String>| -> Result<Vec<RetainedRun>> {
            Ok(match before {
                None => Vec::new(),
                Some(b) => store
                    .runs_before(&tenant, Some(name), &b)?
                    .into_iter()
                    .filter(|r| r.run.project == project_name)
                    .collect(),
            })
        };
        for r in runs_before(cutoff(policy.keep_runs_days))? {
            if !r.baselines.is_empty() {
                tally.kept_baselines.push(format!(
                    "{} (baseline {})",
                    r.run.id,
                    r.baselines.join(", ")
                ));
                continue;
            }
            if !args.dry_run {
                store.delete_run(&tenant, &r.run.id)?;
                events.push(purge_event(&r, "delete-run", policy.keep_runs_days));
            }
            tally.deleted.push(r.run.id.to_string());
        }
        for r in runs_before(cutoff(policy.keep_transcripts_days))? {
            if r.transcript_purged_at.is_some() || tally.deleted.contains(&r.run.id.to_string()) {
                continue;
            }
            if !args.dry_run {
                store.purge_transcript(&tenant, &r.run.id, &at)?;
                events.push(purge_event(
                    &r,
                    "purge-transcript",
                    policy.keep_transcripts_days,
                ));
            }
            tally.purged.push(r.run.id.to_string());
        }
        for r in runs_before(cutoff(policy.anonymise_after_days))? {
            if r.anonymised_at.is_some()
                || r.transcript_purged_at.is_some()
                || tally.deleted.contains(&r.run.id.to_string())
                || tally.purged.contains(&r.run.id.to_string())
            {
                continue;
            }
            if !args.dry_run {
                let mut anon = gauntlet_report::generate::Anonymiser::new();
                let changed = store
                    .anonymise_transcript(&tenant, &r.run.id, &at, &mut |t| anon.anonymise(t))?;
                events.push(
                    purge_event(&r, "anonymise", policy.anonymise_after_days).details(
                        serde_json::json!({
                            "operation": "anonymise",
                            "suite": r.run.suite,
                            "started_at": r.run.started_at,
                            "days": policy.anonymise_after_days,
                            "values_changed": changed,
                        }),
                    ),
                );
            }
            tally.anonymised.push(r.run.id.to_string());
        }
    }
    if policies == 0 {
        output::out("no retention policy: add `retention:` to the project or a suite");
        return Ok(Outcome::Passed);
    }
    if !events.is_empty() {
        audit::record_now(&store, &args.store, events)?;
    }
    let verb = if args.dry_run { "would " } else { "" };
    let mut text = format!(
        "retention{}: {verb}delete {} run(s), {verb}purge {} transcript(s), {verb}anonymise {} transcript(s)",
        if args.dry_run { " (dry run)" } else { "" },
        tally.deleted.len(),
        tally.purged.len(),
        tally.anonymised.len()
    );
    for (label, list) in [
        ("deleted", &tally.deleted),
        ("transcript purged", &tally.purged),
        ("anonymised", &tally.anonymised),
        ("kept (baseline)", &tally.kept_baselines),
    ] {
        for id in list {
            text.push_str(&format!("\n  {label}: {id}"));
        }
    }
    output::out(&text);
    Ok(Outcome::Passed)
}

/// A purge event pins the run by its configuration hash and its recorded transcript digest.
fn purge_event(r: &RetainedRun, op: &str, days: Option<u32>) -> NewEvent {
    audit::event(
        gauntlet_audit::action::RETENTION_PURGE,
        format!("run/{}", r.run.id),
    )
    .digest(r.run.config_hash.clone())
    .reason(format!(
        "retention policy: {op} after {} days",
        days.unwrap_or(0)
    ))
    .details(serde_json::json!({
        "operation": op,
        "suite": r.run.suite,
        "started_at": r.run.started_at,
        "days": days,
    }))
}
