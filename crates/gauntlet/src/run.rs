//! `gauntlet run`: validate, execute each suite, stream results to the store and the terminal,
//! then write the requested reports.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use gauntlet_core::TenantId;
use gauntlet_core::result::{CaseResult, CaseStatus, RunRecord, Totals};
use gauntlet_engine::{Cancel, RunEnd};
use gauntlet_report::Format;
use gauntlet_store::sqlite::SqliteStore;
use gauntlet_store::{BaselineStore, RunStore};
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::RunArgs;
use crate::history::{self, ReportFile};
use crate::project::{load_with_files, project_dir, project_name};
use crate::{Outcome, UsageError, audit, output};

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

pub fn run(args: RunArgs) -> Result<Outcome> {
    run_with(args, None, &mut |_, _| Ok(true))
}

/// Runs the suites of `args.path`, or of `files` (a stored run's sources, loaded with the
/// operator's powers but nothing from disk); after each finished run, `after` may inspect it
/// in the store and veto success by returning `false` (simulation checks, gates).
pub fn run_with(
    args: RunArgs,
    files: Option<Arc<gauntlet_core::files::FileSet>>,
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
    let mut plan = gauntlet_run::RunPlan {
        project: project_name(&args.path),
        seed: args.seed,
        repeat: args.repeat,
        cases: args.cases.clone(),
        chaos: args.chaos.clone(),
        concurrency: args.concurrency,
        baseline: args.baseline.clone(),
        ..gauntlet_run::RunPlan::default()
    };
    let Some(prepared) = prepare(&args, files, &plan)? else {
        return Ok(Outcome::Invalid);
    };
    let project = Arc::clone(&prepared.project);
    // Build the tokenizer vocabularies the agents need while the store is opened.
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
    // One seed for every suite of the command.
    plan.seed = Some(args.seed.unwrap_or_else(gauntlet_run::random_seed));
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
    let trail = audit::Trail {
        store: &store,
        signer: signer.as_ref(),
    };
    let runner = gauntlet_run::Runner {
        store: &store,
        tenant: TenantId::local(),
        actor: audit::actor(),
        audit: &trail,
    };
    let mut outcome = Outcome::Passed;
    for suite in &suites {
        if cancel.is_cancelled() {
            break;
        }
        plan.suite = Some(suite.clone());
        let options = gauntlet_run::Options {
            cassettes: cassettes_for(&args, suite),
            cancel: cancel.clone(),
            ..gauntlet_run::Options::default()
        };
        let mut progress = Progress::new(plan.planned(&project, suite), &args);
        let finished = runtime
            .block_on(runner.execute(&prepared, &plan, options, &mut progress))
            .map_err(|e| match e {
                gauntlet_run::RunError::Plan(m) => anyhow::Error::from(UsageError(m)),
                other => anyhow::Error::from(other),
            })?;
        progress.finish();
        let run = report(&finished, suite, &args);
        if !finished.passed() {
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

/// The project to run: from the disk with the operator's powers; from `files` (a stored
/// run); or, with `--sandbox`, the project directory read into a file set and run with the
/// server's policy for a tenant (no programs, no host files, no internal addresses, no
/// process environment). `None` when it does not validate (the diagnostics are printed).
fn prepare(
    args: &RunArgs,
    files: Option<Arc<gauntlet_core::files::FileSet>>,
    plan: &gauntlet_run::RunPlan,
) -> Result<Option<gauntlet_run::Prepared>> {
    use gauntlet_core::capability::Capabilities;
    let scratch = std::env::temp_dir();
    let from_set = |files, root: PathBuf, vars, caps| match gauntlet_run::prepare_files(
        files,
        &vars,
        caps,
        scratch.clone(),
        &root,
        plan,
    ) {
        Ok(p) => Ok(Some(p)),
        Err(gauntlet_run::RunError::Invalid(diagnostics)) => {
            crate::project::print_diagnostics(&diagnostics);
            Ok(None)
        }
        Err(gauntlet_run::RunError::Plan(m)) => Err(UsageError(m).into()),
        Err(e) => Err(anyhow::Error::from(e)),
    };
    if let Some(files) = files {
        let vars = crate::project::vars_with(&args.path, true)?;
        return from_set(files, PathBuf::new(), vars, Capabilities::operator());
    }
    if args.sandbox {
        let (files, root) = crate::project::file_set(&args.path)?;
        let vars = crate::project::vars_with(&args.path, false)?;
        return from_set(files, root, vars, Capabilities::none());
    }
    let (Some(mut project), files) = load_with_files(&args.path)? else {
        return Ok(None);
    };
    plan.apply_chaos(&mut project)
        .map_err(|e| UsageError(e.to_string()))?;
    let mut sources = crate::project::source_files(&args.path, &files);
    // The signed contract versions travel with the run (and into its audit bundle).
    let lock = project_dir(&args.path).join(gauntlet_audit::contract::LOCK_FILE);
    if lock.is_file() {
        sources.push((gauntlet_audit::contract::LOCK_FILE.to_owned(), lock));
    }
    Ok(Some(gauntlet_run::Prepared {
        project: Arc::new(project),
        sources: gauntlet_run::Sources::Disk(sources),
        host: gauntlet_sandbox::Host::operator(),
    }))
}

/// Prints how a finished run went; returns its record.
fn report(finished: &gauntlet_run::Finished, suite: &str, args: &RunArgs) -> RunRecord {
    let run = finished.run.clone();
    let planned = finished.planned;
    match finished.end {
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
            &finished.summary,
            output::style_stdout(),
        ));
    }
    output::out(&format!("run id: {}", run.id));
    run
}

/// The cassette store of `suite` when recording or replaying.
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

impl gauntlet_run::Observer for Progress {
    fn case(&mut self, case: &CaseResult, totals: &Totals) -> bool {
        let failed = totals.failed
            + totals.errored
            + u64::from(matches!(
                case.status,
                CaseStatus::Failed | CaseStatus::Error
            ));
        Progress::case(self, case, failed);
        true
    }
}
