//! `gauntlet run`: validate, execute each suite, stream results to the store and the terminal,
//! then write the requested reports.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use gauntlet_core::model::Project;
use gauntlet_core::result::{CaseResult, CaseStatus, RunRecord, RunStatus, Totals};
use gauntlet_core::{RunId, TenantId};
use gauntlet_engine::{Cancel, RunConfig, RunEnd};
use gauntlet_report::{Format, Summary};
use gauntlet_store::sqlite::SqliteStore;
use gauntlet_store::{BaselineStore, RunStore, SourceStore};
use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::mpsc;

use crate::cli::RunArgs;
use crate::history::{self, ReportFile};
use crate::project::{load_with_files, project_dir, project_name};
use crate::{Outcome, UsageError, audit, output};

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// 64 random bits from the OS-seeded hasher, without a dependency on an RNG for it.
fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(now_ms());
    h.finish()
}

pub fn run(args: RunArgs) -> Result<Outcome> {
    run_with(args, &mut |_, _| Ok(true))
}

/// Runs the suites; after each finished run, `after` may inspect it in the store and veto
/// success by returning `false` (simulation checks, gates).
pub fn run_with(
    args: RunArgs,
    after: &mut dyn FnMut(&SqliteStore, &RunRecord) -> Result<bool>,
) -> Result<Outcome> {
    let formats: Vec<(PathBuf, Format)> = args
        .outputs
        .iter()
        .map(|p| {
            Format::from_path(p).map(|f| (p.clone(), f)).ok_or_else(|| {
                UsageError(format!(
                    "cannot tell the report format of `{}`; use .json, .xml, .md, .csv or .html",
                    p.display()
                ))
            })
        })
        .collect::<Result<_, _>>()?;
    let (Some(mut project), files) = load_with_files(&args.path)? else {
        return Ok(Outcome::Invalid);
    };
    if let Some(name) = &args.chaos {
        // Part of the configuration snapshot like any chaos block, so replays inject it too.
        let profile = gauntlet_core::chaos::Chaos::profile(name)
            .ok_or_else(|| UsageError(format!("unknown chaos profile `{name}`")))?;
        for suite in project.suites.values_mut() {
            suite.chaos = Some(profile.clone());
        }
    }
    let mut sources = crate::project::source_files(&args.path, &files);
    // The signed contract versions travel with the run (and into its audit bundle).
    let lock = project_dir(&args.path).join(gauntlet_audit::contract::LOCK_FILE);
    if lock.is_file() {
        sources.push((gauntlet_audit::contract::LOCK_FILE.to_owned(), lock));
    }
    // Build the tokenizer vocabularies the agents need while the snapshot is hashed and the
    // store is opened.
    gauntlet_providers::tokens::prewarm(
        project
            .agents
            .values()
            .map(|a| gauntlet_providers::model_of(&project, a)),
    );
    let suites: Vec<String> = if args.suites.is_empty() {
        project.suites.keys().cloned().collect()
    } else {
        for s in &args.suites {
            if !project.suites.contains_key(s) {
                let known: Vec<&str> = project.suites.keys().map(String::as_str).collect();
                return Err(UsageError(format!(
                    "no suite named `{s}`; suites: {}",
                    known.join(", ")
                ))
                .into());
            }
        }
        args.suites.clone()
    };
    if suites.is_empty() {
        return Err(UsageError("the project defines no suites".into()).into());
    }
    if !formats.is_empty() && suites.len() > 1 {
        return Err(UsageError(
            "`-o` writes the report of one suite; choose it with `--suite`".into(),
        )
        .into());
    }
    let store = history::open_store(&args.store, &project_dir(&args.path))?;
    let baseline = match &args.baseline {
        Some(name) => {
            let b = store
                .get_baseline(&TenantId::local(), name)
                .map_err(|e| UsageError(e.to_string()))?;
            if !suites.contains(&b.suite) {
                return Err(UsageError(format!(
                    "baseline `{name}` is a run of suite `{}`, which this run does not include",
                    b.suite
                ))
                .into());
            }
            Some(b)
        }
        None => None,
    };
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let project = Arc::new(project);
    // Random seeds stay below 2^32: easy to retype, and exact in every JSON reader.
    let seed = args.seed.unwrap_or_else(|| random_u64() >> 32);
    let cancel = Cancel::new();
    {
        // Ctrl-C cancels in-flight work; the partial results are still stored and summarised.
        let cancel = cancel.clone();
        runtime.spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                output::err("interrupted: cancelling in-flight cases…");
                cancel.cancel();
            }
        });
    }
    // Loaded (or reached, for Vault) once for every suite of the command.
    let signer = runtime.block_on(audit::signer(&args.store))?;
    let mut outcome = Outcome::Passed;
    for suite in &suites {
        if cancel.is_cancelled() {
            break;
        }
        let config = RunConfig {
            seed,
            concurrency: args.concurrency.unwrap_or(cores * 4),
            case_filter: args.cases.clone(),
            repeat: args.repeat,
            cassettes: cassettes_for(&args, suite),
            judge_cache: judge_cache(&args),
            performance_baseline: match baseline.as_ref().filter(|b| &b.suite == suite) {
                Some(b) => Some(Arc::new(performance_baseline(&store, &b.run_id)?)),
                None => None,
            },
            skip: Default::default(),
        };
        let (run, passed) = runtime.block_on(run_suite(
            &store,
            signer.as_ref(),
            &project,
            &args,
            suite,
            config,
            cancel.clone(),
            &sources,
        ))?;
        if !passed {
            outcome = Outcome::Failed;
        }
        if let Some(b) = baseline.as_ref().filter(|b| &b.suite == suite)
            && !check_baseline(&store, b, &run, &args)?
        {
            outcome = Outcome::Failed;
        }
        if !after(&store, &run)? {
            outcome = Outcome::Failed;
        }
        if project
            .suites
            .get(suite)
            .is_some_and(|s| s.targets.len() > 1)
            && !args.no_summary
            && let Some(report) = history::compare_targets(&store, &run)?
        {
            output::out(&gauntlet_report::comparison::render_text(&report));
        }
        if !formats.is_empty() {
            // All reports in one pass over the stored cases.
            let mut files = Vec::new();
            let mut targets: Vec<(Format, Box<dyn std::io::Write>)> = Vec::new();
            for (path, format) in &formats {
                let (file, w) = ReportFile::create(path)?;
                files.push(file);
                targets.push((*format, Box::new(w)));
            }
            history::write_reports(&store, &run, targets)?;
            for file in files {
                file.commit()?;
            }
            if !args.quiet {
                let names: Vec<String> = formats
                    .iter()
                    .map(|(p, _)| p.display().to_string())
                    .collect();
                output::err(&format!("reports written: {}", names.join(", ")));
            }
        }
    }
    runtime.shutdown_timeout(Duration::from_secs(1));
    Ok(outcome)
}

/// SHA-256 and length of a file, read in chunks.
fn file_digest(file: &std::path::Path) -> Result<(String, u64)> {
    use std::io::Read;
    let mut f = std::fs::File::open(file).with_context(|| format!("reading {}", file.display()))?;
    let mut digest = gauntlet_core::hash::Digest::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut len = 0u64;
    loop {
        let n = f
            .read(&mut buf)
            .with_context(|| format!("reading {}", file.display()))?;
        if n == 0 {
            return Ok((digest.hex(), len));
        }
        digest.update(&buf[..n]);
        len += n as u64;
    }
}

/// The cassette store of `suite` when recording or replaying.
/// Verdicts of `llm-judge` assertions are cached in the result store.
fn judge_cache(args: &RunArgs) -> Option<gauntlet_engine::JudgeCacheHandle> {
    let path = history::store_path(&args.store, &project_dir(&args.path)).ok()?;
    let db = SqliteStore::open(&path).ok()?;
    Some(gauntlet_engine::JudgeCacheHandle(Arc::new(
        crate::cassettes::StoredVerdicts { db },
    )))
}

/// The baseline run's trials, for `performance` regression checks.
fn performance_baseline(store: &SqliteStore, run: &RunId) -> Result<gauntlet_engine::PerfBaseline> {
    let mut out = gauntlet_engine::PerfBaseline::new();
    store.for_each_case(&TenantId::local(), run, &mut |c| {
        if c.status != CaseStatus::Error {
            out.entry((c.id.clone(), c.target.clone()))
                .or_default()
                .push(gauntlet_eval::performance::Trial::of(&c));
        }
        Ok(())
    })?;
    Ok(out)
}

fn cassettes_for(args: &RunArgs, suite: &str) -> Option<gauntlet_engine::cassette::Cassettes> {
    use gauntlet_engine::cassette::{CassetteMode, Cassettes};
    let mode = match (args.record, args.replay.as_deref()) {
        (true, _) => CassetteMode::Record,
        (false, Some("lenient")) => CassetteMode::ReplayLenient,
        (false, Some(_)) => CassetteMode::ReplayStrict,
        (false, None) => return None,
    };
    let root = args
        .cassette_dir
        .clone()
        .unwrap_or_else(|| project_dir(&args.path).join(".gauntlet").join("cassettes"))
        .join(suite);
    let files = crate::cassettes::DirCassettes { root };
    let store: Arc<dyn gauntlet_engine::cassette::CassetteStore> =
        match history::store_path(&args.store, &project_dir(&args.path))
            .ok()
            .and_then(|p| SqliteStore::open(&p).ok())
        {
            Some(db) => Arc::new(crate::cassettes::StoredCassettes {
                files,
                db,
                suite: suite.to_owned(),
            }),
            None => Arc::new(files),
        };
    Some(Cassettes { mode, store })
}

/// Compares a finished run with its baseline; prints the verdict; false when the gate fails.
fn check_baseline(
    store: &SqliteStore,
    baseline: &gauntlet_store::Baseline,
    run: &RunRecord,
    args: &RunArgs,
) -> Result<bool> {
    let tenant = TenantId::local();
    let base_run = store.get_run(&tenant, baseline.run_id.as_str())?;
    let d = gauntlet_diff::diff(
        history::side_of(store, base_run)?,
        history::side_of(store, run.clone())?,
    );
    let tolerances = gauntlet_diff::Tolerances {
        pass_rate_drop: args.max_pass_rate_drop,
        score_drop: args.max_score_drop,
        cost_increase: args.max_cost_increase,
        latency_increase: args.max_latency_increase,
    };
    let violations = gauntlet_diff::gate(&d, &tolerances);
    let style = output::style_stdout();
    let c = d.counts;
    let counts = format!(
        "{} regressed, {} fixed, {} changed, {} new, {} removed",
        c.regressed, c.fixed, c.changed, c.new, c.removed
    );
    if violations.is_empty() {
        output::out(&format!(
            "{} baseline `{}` (run {}): within tolerances; {counts}",
            style.green("✓"),
            baseline.name,
            baseline.run_id
        ));
    } else {
        let mut text = format!(
            "{} baseline `{}` (run {}): regression beyond tolerances; {counts}",
            style.red("✗"),
            baseline.name,
            baseline.run_id
        );
        for v in &violations {
            text.push_str(&format!("\n  {v}"));
        }
        text.push_str(&format!(
            "\n  details: gauntlet diff {} {}",
            baseline.run_id, run.id
        ));
        output::out(&text);
    }
    Ok(violations.is_empty())
}

/// Progress display: a bar on a terminal, otherwise a line per case that did not pass.
enum Progress {
    Bar(ProgressBar),
    Lines { quiet: bool },
}

impl Progress {
    fn new(total: u64, args: &RunArgs) -> Progress {
        if !args.no_progress && !args.quiet && std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(total);
            let style = ProgressStyle::with_template(
                "{spinner} {msg} [{bar:30}] {pos}/{len} {per_sec} eta {eta}",
            )
            .map(|s| s.progress_chars("=> "))
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(100));
            Progress::Bar(bar)
        } else {
            Progress::Lines { quiet: args.quiet }
        }
    }

    fn case(&self, c: &CaseResult, failed: u64) {
        let style = output::style_stderr();
        let line = || {
            let target = if c.target.is_empty() {
                String::new()
            } else {
                format!(" [{}]", c.target)
            };
            format!(
                "{} {}{}  {}",
                gauntlet_report::text::status_mark(c.status, style),
                c.id,
                target,
                c.reason.as_deref().unwrap_or("")
            )
        };
        match self {
            Progress::Bar(bar) => {
                if c.status != CaseStatus::Passed {
                    bar.println(line());
                    bar.set_message(format!("{failed} failing"));
                }
                bar.inc(1);
            }
            Progress::Lines { quiet } => {
                if c.status != CaseStatus::Passed && !quiet {
                    output::err(&line());
                }
            }
        }
    }

    fn finish(&self) {
        if let Progress::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}

// The command's shared state, passed explicitly rather than bundled into a struct used once.
#[allow(clippy::too_many_arguments)]
async fn run_suite(
    store: &SqliteStore,
    signer: &dyn gauntlet_audit::Signer,
    project: &Arc<Project>,
    args: &RunArgs,
    suite: &str,
    config: RunConfig,
    cancel: Cancel,
    sources: &[(String, PathBuf)],
) -> Result<(RunRecord, bool)> {
    let tenant = TenantId::local();
    let mut snapshot = project.config_snapshot(suite, config.seed);
    if config.repeat > 1 {
        // Part of the configuration: a run of N trials is not comparable to a single one.
        if let Some(obj) = snapshot.as_object_mut() {
            obj.insert("repeat".into(), config.repeat.into());
        }
    }
    if let (Some(name), Some(obj)) = (&args.chaos, snapshot.as_object_mut()) {
        // `--chaos` is not in the files; replays read it from here.
        obj.insert("chaos".into(), name.clone().into());
    }
    let started = now_ms();
    let mut run = RunRecord {
        id: RunId::from_parts(
            started,
            u128::from(random_u64()) << 16 ^ u128::from(random_u64()),
        ),
        project: project_name(&args.path),
        suite: suite.to_owned(),
        seed: config.seed,
        status: RunStatus::Running,
        config_hash: gauntlet_core::hash::content_hash(&snapshot),
        gauntlet_version: gauntlet_core::VERSION.to_owned(),
        started_at: gauntlet_core::time::rfc3339(started),
        finished_at: None,
        totals: Totals::default(),
    };
    let previous = store
        .list_runs(
            &tenant,
            &gauntlet_store::RunFilter {
                suite: Some(suite.to_owned()),
                limit: 1,
            },
        )?
        .into_iter()
        .find(|p| p.project == run.project);
    store.create_run(&tenant, &run, &snapshot)?;
    let mut events = Vec::with_capacity(2);
    if let Some(prev) = previous.filter(|p| p.config_hash != run.config_hash) {
        // Configuration changes between runs: which paths changed, never their values.
        let changed: Vec<String> = store
            .snapshot(&tenant, &prev.id)
            .map(|before| {
                gauntlet_diff::config_changes(&before, &snapshot)
                    .into_iter()
                    .map(|c| c.pointer)
                    .filter(|p| p != "/seed")
                    .take(100)
                    .collect()
            })
            .unwrap_or_default();
        if !changed.is_empty() {
            events.push(
                audit::event(
                    gauntlet_audit::action::CONFIG_CHANGE,
                    format!("suite/{}/{suite}", run.project),
                )
                .digest(run.config_hash.clone())
                .details(serde_json::json!({
                    "from_run": prev.id.as_str(),
                    "from": prev.config_hash,
                    "to_run": run.id.as_str(),
                    "changed": changed,
                })),
            );
        }
    }
    events.push(
        audit::event(gauntlet_audit::action::RUN_START, format!("run/{}", run.id))
            .digest(run.config_hash.clone())
            .details(serde_json::json!({
                "project": run.project,
                "suite": suite,
                "seed": run.seed,
                "gauntlet_version": run.gauntlet_version,
            })),
    );
    audit::record(store, signer, events).await?;
    // The files themselves, so that `gauntlet replay` can re-execute this run.
    for (name, file) in sources {
        // Streamed: a 100,000-case suite is tens of megabytes of text.
        let (digest, len) = file_digest(file)?;
        let mut reader =
            std::fs::File::open(file).with_context(|| format!("reading {}", file.display()))?;
        store.save_source(&tenant, &run.id, name, &digest, len, &mut reader)?;
    }
    let writer = store.writer(&tenant, &run.id)?;

    let planned = project.suites.get(suite).map_or(0, |s| {
        let cases = if config.case_filter.is_empty() {
            s.cases.len()
        } else {
            s.cases
                .iter()
                .filter(|c| config.case_filter.contains(&c.id))
                .count()
        };
        (cases * s.targets.len()) as u64 * u64::from(config.repeat.max(1))
    });
    if planned == 0 {
        return Err(UsageError(format!(
            "suite `{suite}` has no case matching --case {}",
            config.case_filter.join(", ")
        ))
        .into());
    }
    let progress = Progress::new(planned, args);
    let repeated = config.repeat > 1;
    let (tx, mut rx) = mpsc::channel::<CaseResult>(1024);
    let engine = {
        let (project, suite) = (Arc::clone(project), suite.to_owned());
        tokio::spawn(async move {
            gauntlet_engine::run_suite(project, &suite, config, cancel, tx).await
        })
    };
    let mut summary = if repeated {
        Summary::with_trials()
    } else {
        Summary::default()
    };
    let mut write_error = None;
    while let Some(case) = rx.recv().await {
        summary.add(&case);
        progress.case(&case, summary.totals.failed + summary.totals.errored);
        if write_error.is_none()
            && let Err(e) = writer.send(case)
        {
            write_error = Some(e);
        }
    }
    progress.finish();
    let end = engine.await.context("the engine task failed")??;
    let (written, write_error) = match (writer.finish(), write_error) {
        (Ok(w), None) => (w, None),
        (Ok(_), Some(e)) | (Err(e), _) => (
            gauntlet_store::sqlite::Written {
                cases: 0,
                transcript: String::new(),
            },
            Some(e),
        ),
    };
    if let Some(e) = write_error {
        // Close the run so it does not stay `running`; what was committed remains readable.
        let finished = gauntlet_core::time::rfc3339(now_ms());
        let _ = store.finish_run(
            &tenant,
            &run.id,
            RunStatus::Failed,
            &summary.totals,
            &finished,
        );
        return Err(
            anyhow::Error::from(e).context(format!("storing the results of run {}", run.id))
        );
    }
    run.totals = summary.totals;
    let passed = summary.totals.cases > 0
        && summary.totals.passed == summary.totals.cases
        && end == RunEnd::Completed;
    run.status = match end {
        RunEnd::Completed if passed => RunStatus::Passed,
        RunEnd::Completed => RunStatus::Failed,
        RunEnd::Cancelled | RunEnd::TimedOut => RunStatus::Cancelled,
    };
    let finished = gauntlet_core::time::rfc3339(now_ms());
    store.finish_run(&tenant, &run.id, run.status, &run.totals, &finished)?;
    audit::record(
        store,
        signer,
        vec![
            audit::event(
                gauntlet_audit::action::RUN_FINISH,
                format!("run/{}", run.id),
            )
            .digest(written.transcript)
            .details(serde_json::json!({
                "status": run.status.as_str(),
                "cases": run.totals.cases,
                "passed": run.totals.passed,
                "failed": run.totals.failed,
                "errored": run.totals.errored,
            })),
        ],
    )
    .await?;
    run.finished_at = Some(finished);
    match end {
        RunEnd::TimedOut => output::err(&format!(
            "suite `{suite}` reached its run timeout; {} of {planned} cases finished",
            run.totals.cases
        )),
        RunEnd::Cancelled => output::err(&format!(
            "run cancelled; {} of {planned} cases finished",
            run.totals.cases
        )),
        RunEnd::Completed => {}
    }
    if !args.no_summary {
        output::out(&gauntlet_report::text::render(
            &run,
            &summary,
            output::style_stdout(),
        ));
    }
    output::out(&format!("run id: {}", run.id));
    Ok((run, passed))
}
