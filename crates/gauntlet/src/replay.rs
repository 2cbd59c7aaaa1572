//! `gauntlet replay RUN`: re-execute a stored run from the files it was made from, its seed and
//! repeat count, serving every provider and tool call from the project's cassettes (strict),
//! and say whether it reproduced exactly.

use anyhow::Result;
use gauntlet_core::TenantId;
use gauntlet_store::{RunStore, SourceStore};

use crate::cli::{ReplayArgs, RunArgs, StoreArgs};
use crate::history::{open_existing, side_of, store_path, user_error};
use crate::{Outcome, UsageError, output, run};

pub fn replay(args: &ReplayArgs) -> Result<Outcome> {
    let store = open_existing(&args.store)?;
    let tenant = TenantId::local();
    let original = store.get_run(&tenant, &args.run).map_err(user_error)?;
    let sources = store.sources(&tenant, &original.id)?;
    if sources.is_empty() {
        return Err(UsageError(format!(
            "run {} stored no specification files, so it cannot be replayed",
            original.id
        ))
        .into());
    }
    let snapshot = store.snapshot(&tenant, &original.id)?;
    let repeat = snapshot
        .get("repeat")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(1) as u32;
    let chaos = snapshot
        .get("chaos")
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned);

    // The stored files, as a file set: nothing is written out or read back from disk, and a
    // name that leaves the project (`../shared.yaml`) stays a name in the set.
    let files = gauntlet_core::files::FileSet::with_parents(sources.into_iter().collect())
        .map_err(|e| {
            UsageError(format!(
                "run {} was made from files that cannot be replayed: {e}",
                original.id
            ))
        })?;
    let db = store_path(&args.store.store, &args.store.project)?;
    let run_args = RunArgs {
        path: args.store.project.clone(),
        suites: vec![original.suite.clone()],
        cases: Vec::new(),
        seed: Some(original.seed),
        concurrency: None,
        outputs: Vec::new(),
        no_progress: true,
        quiet: true,
        repeat,
        chaos,
        baseline: None,
        max_pass_rate_drop: 0.0,
        max_score_drop: 0.0,
        max_cost_increase: 0.0,
        max_latency_increase: 0.0,
        record: false,
        sandbox: false,
        replay: Some("strict".to_owned()),
        cassette_dir: Some(args.store.project.join(".gauntlet").join("cassettes")),
        no_summary: true,
        store: StoreArgs {
            db: Some(db.display().to_string()),
            audit_key: args.store.store.audit_key.clone(),
        },
    };
    let mut replayed = None;
    let outcome = run::run_with(run_args, Some(std::sync::Arc::new(files)), &mut |_, run| {
        replayed = Some(run.clone());
        Ok(true)
    });
    if let Outcome::Invalid = outcome? {
        return Err(UsageError(format!(
            "the stored files of run {} no longer validate",
            original.id
        ))
        .into());
    }
    let Some(replayed) = replayed else {
        return Err(UsageError("the replay did not run".into()).into());
    };
    let (a, b) = (
        side_of(&store, original.clone())?,
        side_of(&store, replayed.clone())?,
    );
    let mut cases_a = a.cases.clone();
    let mut cases_b = b.cases.clone();
    let key = |c: &gauntlet_diff::CaseSummary| {
        (
            c.id.clone(),
            c.target.clone(),
            (c.latency_ms * 1000.0) as i64,
        )
    };
    cases_a.sort_by_key(key);
    cases_b.sort_by_key(key);
    let same_config = original.config_hash == replayed.config_hash;
    if cases_a == cases_b && same_config {
        output::out(&format!(
            "run {} reproduced exactly by run {} ({} case results identical)",
            original.id,
            replayed.id,
            cases_a.len()
        ));
        return Ok(Outcome::Passed);
    }
    let mut text = format!(
        "run {} did not reproduce exactly (replay: run {})\n",
        original.id, replayed.id
    );
    if !same_config {
        text.push_str(&format!(
            "  configuration hash {} → {} (environment variables or Gauntlet's version differ)\n",
            original.config_hash, replayed.config_hash
        ));
    }
    let d = gauntlet_diff::diff(a, b);
    text.push_str(&gauntlet_diff::render::text(
        &d,
        gauntlet_diff::render::Colors(false),
    ));
    let mut subtle = 0;
    for (x, y) in cases_a.iter().zip(&cases_b) {
        if x != y && x.output == y.output && x.status == y.status {
            subtle += 1;
            text.push_str(&format!(
                "\n  {} [{}]: tokens {} → {}, cost {} → {}, latency {:.1} → {:.1} ms",
                x.id,
                x.target,
                x.tokens,
                y.tokens,
                x.cost_usd,
                y.cost_usd,
                x.latency_ms,
                y.latency_ms
            ));
        }
    }
    if subtle > 0 {
        text.push('\n');
    }
    output::out(&text);
    Ok(Outcome::Failed)
}
