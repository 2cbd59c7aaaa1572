//! The store location and the history commands: `runs list`, `runs show`, `report`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use gauntlet_core::TenantId;
use gauntlet_core::result::RunRecord;
use gauntlet_report::{Format, ReportWriter, Summary};
use gauntlet_store::sqlite::SqliteStore;
use gauntlet_store::{BaselineStore, ExperimentStore, RunFilter, RunStore, StoreError};

use crate::cli::{
    BaselineListArgs, BaselineSetArgs, CompareArgs, DiffArgs, DriftArgs, GenerateArgs, ListArgs,
    ReadStoreArgs, ReportArgs, ShowArgs, StoreArgs,
};
use crate::{Outcome, UsageError, output};

/// Opens the store named by `--db` / GAUNTLET_DATABASE_URL, else `.gauntlet/gauntlet.db` in
/// `project_dir`, creating it if needed.
pub fn open_store(args: &StoreArgs, project_dir: &Path) -> Result<SqliteStore> {
    let path = store_path(args, project_dir)?;
    SqliteStore::open(&path).with_context(|| format!("opening the result store {}", path.display()))
}

/// Opens an existing store for reading; a missing one is a usage error, not a new empty file.
pub fn open_existing(args: &ReadStoreArgs) -> Result<SqliteStore> {
    // A server's PostgreSQL store reads the same way (`audit verify`, `runs list`, ...).
    if let Some(url) = args
        .store
        .db
        .as_deref()
        .filter(|u| u.starts_with("postgres://") || u.starts_with("postgresql://"))
    {
        return SqliteStore::open_url(url).context("opening the PostgreSQL store");
    }
    let path = store_path(&args.store, &args.project)?;
    if !path.exists() {
        return Err(UsageError(format!(
            "no result store at {}; run `gauntlet run` first, or point at one with --project DIR or --db PATH",
            path.display()
        ))
        .into());
    }
    SqliteStore::open(&path).with_context(|| format!("opening the result store {}", path.display()))
}

pub fn store_path(args: &StoreArgs, project_dir: &Path) -> Result<PathBuf> {
    Ok(match args.db.as_deref() {
        None | Some("") => project_dir.join(".gauntlet").join("gauntlet.db"),
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            return Err(UsageError(
                "the PostgreSQL store is not available in this build yet; use a SQLite path".into(),
            )
            .into());
        }
        Some(url) => PathBuf::from(
            url.strip_prefix("sqlite://")
                .or_else(|| url.strip_prefix("sqlite:"))
                .unwrap_or(url),
        ),
    })
}

/// Store errors a user causes (unknown or ambiguous ids) exit 2.
pub fn user_error(e: StoreError) -> anyhow::Error {
    match e {
        StoreError::RunNotFound(_) | StoreError::AmbiguousRun { .. } => {
            UsageError(e.to_string()).into()
        }
        other => other.into(),
    }
}

pub fn list(args: &ListArgs) -> Result<Outcome> {
    let store = open_existing(&args.store)?;
    let runs = store.list_runs(
        &TenantId::local(),
        &RunFilter {
            suite: args.suite.clone(),
            limit: args.limit,
        },
    )?;
    if runs.is_empty() {
        output::out("no runs stored yet; start one with `gauntlet run`");
        return Ok(Outcome::Passed);
    }
    let mut text = format!(
        "{:<26}  {:<20}  {:<9}  {:>13}  {:>9}  {}\n",
        "RUN", "SUITE", "STATUS", "PASSED/CASES", "COST", "STARTED"
    );
    for r in &runs {
        text.push_str(&format!(
            "{:<26}  {:<20}  {:<9}  {:>13}  {:>9}  {}\n",
            r.id,
            clip(&r.suite, 20),
            r.status.as_str(),
            format!("{}/{}", r.totals.passed, r.totals.cases),
            gauntlet_report::usd(r.totals.cost_usd),
            r.started_at
        ));
    }
    output::out(&text);
    Ok(Outcome::Passed)
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        s.chars().take(n - 1).chain(['…']).collect()
    }
}

pub fn show(args: &ShowArgs) -> Result<Outcome> {
    let store = open_existing(&args.store)?;
    let tenant = TenantId::local();
    let run = store.get_run(&tenant, &args.run).map_err(user_error)?;
    let style = output::style_stdout();
    let mut summary = Summary::default();
    let mut lines = String::new();
    store.for_each_case(&tenant, &run.id, &mut |c| {
        summary.add(&c);
        let target = if c.target.is_empty() {
            String::new()
        } else {
            format!(" [{}]", c.target)
        };
        let detail = match &c.reason {
            Some(r) => r.clone(),
            None => format!("score {:.2}", c.score),
        };
        lines.push_str(&format!(
            "  {} {}{}  {:.1} ms  {}\n",
            gauntlet_report::text::status_mark(c.status, style),
            c.id,
            target,
            c.latency_ms,
            clip(&detail.replace('\n', " "), 140)
        ));
        Ok(())
    })?;
    output::out(&format!(
        "run {}\n  project {}  suite {}  status {}\n  started {}  finished {}\n  config {}  gauntlet {}\ncases\n{lines}",
        run.id,
        run.project,
        run.suite,
        run.status.as_str(),
        run.started_at,
        run.finished_at.as_deref().unwrap_or("-"),
        run.config_hash,
        run.gauntlet_version
    ));
    output::out(&gauntlet_report::text::render(&run, &summary, style));
    Ok(Outcome::Passed)
}

/// Writes reports of a stored run in one pass over its cases.
pub fn write_reports(
    store: &SqliteStore,
    run: &RunRecord,
    targets: Vec<(Format, Box<dyn Write + '_>)>,
) -> Result<()> {
    let tenant = TenantId::local();
    let mut writers: Vec<Box<dyn ReportWriter + '_>> = targets
        .into_iter()
        .map(|(f, w)| gauntlet_web::report::writer(f, w))
        .collect();
    for w in &mut writers {
        w.begin(run)?;
    }
    let repeated = store
        .snapshot(&tenant, &run.id)?
        .get("repeat")
        .and_then(serde_json::Value::as_u64)
        .is_some_and(|r| r > 1);
    let mut summary = if repeated {
        Summary::with_trials()
    } else {
        Summary::default()
    };
    let mut io_error: Option<std::io::Error> = None;
    store.for_each_case(&tenant, &run.id, &mut |c| {
        summary.add(&c);
        for w in &mut writers {
            if let Err(e) = w.case(&c) {
                io_error.get_or_insert(e);
            }
        }
        Ok(())
    })?;
    if let Some(e) = io_error {
        return Err(e.into());
    }
    for w in &mut writers {
        w.end(run, &summary)?;
    }
    Ok(())
}

/// Opens a report file, writing through a temporary file renamed into place at the end, so
/// an interrupted write never leaves a truncated report behind.
pub struct ReportFile {
    tmp: PathBuf,
    path: PathBuf,
}

impl ReportFile {
    pub fn create(path: &Path) -> Result<(ReportFile, BufWriter<File>)> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "report".into());
        let tmp = path.with_file_name(format!(".{name}.tmp"));
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let file = File::create(&tmp).with_context(|| format!("creating {}", path.display()))?;
        Ok((
            ReportFile {
                tmp,
                path: path.to_path_buf(),
            },
            BufWriter::new(file),
        ))
    }

    /// Writes `text` to `path` through a temporary file, or prints it when there is no path.
    pub fn write_or_print(path: Option<&Path>, text: &str) -> Result<()> {
        let Some(path) = path else {
            output::out(text);
            return Ok(());
        };
        let (file, mut w) = ReportFile::create(path)?;
        w.write_all(text.as_bytes())?;
        w.flush()?;
        drop(w);
        file.commit()
    }

    pub fn commit(self) -> Result<()> {
        std::fs::rename(&self.tmp, &self.path)
            .with_context(|| format!("writing {}", self.path.display()))
    }
}

pub fn report(args: &ReportArgs) -> Result<Outcome> {
    let format = Format::parse(&args.format).ok_or_else(|| {
        UsageError(format!(
            "unknown report format `{}`; use one of: {}",
            args.format,
            Format::NAMES.join(", ")
        ))
    })?;
    let store = open_existing(&args.store)?;
    let run = store
        .get_run(&TenantId::local(), &args.run)
        .map_err(user_error)?;
    match &args.output {
        Some(path) => {
            let (file, w) = ReportFile::create(path)?;
            write_reports(&store, &run, vec![(format, Box::new(w))])?;
            file.commit()?;
        }
        None => write_reports(
            &store,
            &run,
            vec![(format, Box::new(std::io::stdout().lock()))],
        )?,
    }
    Ok(Outcome::Passed)
}

/// `gauntlet diff A B`: exits 1 when a case that passed in A does not pass in B.
pub fn diff(args: &DiffArgs) -> Result<Outcome> {
    let render: fn(&gauntlet_diff::RunDiff) -> String = match args.format.as_str() {
        "text" => |d| gauntlet_diff::render::text(d, gauntlet_diff::render::Colors(false)),
        "markdown" | "md" => gauntlet_diff::render::markdown,
        "json" => gauntlet_diff::render::json,
        "html" => gauntlet_diff::render::html,
        other => {
            return Err(UsageError(format!(
                "unknown diff format `{other}`; use text, markdown, json or html"
            ))
            .into());
        }
    };
    let store = open_existing(&args.store)?;
    let tenant = TenantId::local();
    let side = |id: &str| -> Result<gauntlet_diff::Side> {
        let run = store.get_run(&tenant, id).map_err(user_error)?;
        side_of(&store, run)
    };
    let d = gauntlet_diff::diff(side(&args.a)?, side(&args.b)?);
    let text = if args.format == "text" && args.output.is_none() {
        gauntlet_diff::render::text(
            &d,
            gauntlet_diff::render::Colors(output::style_stdout().color),
        )
    } else {
        render(&d)
    };
    ReportFile::write_or_print(args.output.as_deref(), &text)?;
    Ok(if d.has_regressions() {
        Outcome::Failed
    } else {
        Outcome::Passed
    })
}

/// A stored run, its snapshot and case summaries, for comparisons.
pub fn side_of(store: &SqliteStore, run: RunRecord) -> Result<gauntlet_diff::Side> {
    let tenant = TenantId::local();
    let snapshot = store.snapshot(&tenant, &run.id)?;
    let mut cases = Vec::new();
    store.for_each_case(&tenant, &run.id, &mut |c| {
        cases.push(gauntlet_diff::CaseSummary::of(&c));
        Ok(())
    })?;
    Ok(gauntlet_diff::Side {
        run,
        snapshot,
        cases,
    })
}

pub fn baseline_set(args: &BaselineSetArgs) -> Result<Outcome> {
    if args.name.is_empty()
        || !args
            .name
            .chars()
            .all(|c| c.is_alphanumeric() || "-_.".contains(c))
    {
        return Err(UsageError(format!(
            "invalid baseline name `{}`: use letters, digits, `-`, `_` and `.`",
            args.name
        ))
        .into());
    }
    let store = open_existing(&args.store)?;
    let tenant = TenantId::local();
    let run = store.get_run(&tenant, &args.run).map_err(user_error)?;
    if run.status == gauntlet_core::result::RunStatus::Running {
        return Err(UsageError(format!(
            "run {} has not finished; a baseline must be a finished run",
            run.id
        ))
        .into());
    }
    let now = gauntlet_core::time::rfc3339(crate::run::now_ms());
    let previous = store.set_baseline(&tenant, &args.name, &run, &now)?;
    crate::audit::record_now(
        &store,
        &args.store.store,
        vec![
            crate::audit::event(
                gauntlet_audit::action::BASELINE_SET,
                format!("baseline/{}", args.name),
            )
            .digest(run.config_hash.clone())
            .details(serde_json::json!({
                "run": run.id.as_str(),
                "suite": run.suite,
                "previous_run": previous.as_ref().map(|p| p.run_id.to_string()),
            })),
        ],
    )?;
    let was = previous
        .map(|p| format!(" (was run {})", p.run_id))
        .unwrap_or_default();
    output::out(&format!(
        "baseline `{}` → run {} of suite `{}`{was}",
        args.name, run.id, run.suite
    ));
    Ok(Outcome::Passed)
}

pub fn baseline_list(args: &BaselineListArgs) -> Result<Outcome> {
    let store = open_existing(&args.store)?;
    let list = store.list_baselines(&TenantId::local())?;
    if list.is_empty() {
        output::out("no baselines yet; set one with `gauntlet baseline set RUN --name NAME`");
        return Ok(Outcome::Passed);
    }
    let mut text = format!(
        "{:<20}  {:<26}  {:<20}  {}\n",
        "NAME", "RUN", "SUITE", "SET"
    );
    for b in list {
        text.push_str(&format!(
            "{:<20}  {:<26}  {:<20}  {}\n",
            b.name, b.run_id, b.suite, b.created_at
        ));
    }
    output::out(&text);
    Ok(Outcome::Passed)
}

/// Compares the targets of `run` and records the outcome as the run's experiment; `None` when
/// the run has a single target.
pub fn compare_targets(
    store: &SqliteStore,
    run: &RunRecord,
) -> Result<Option<gauntlet_report::comparison::ComparisonReport>> {
    let tenant = TenantId::local();
    let mut cmp = gauntlet_report::comparison::Comparison::default();
    store.for_each_case(&tenant, &run.id, &mut |c| {
        cmp.add(&c);
        Ok(())
    })?;
    if cmp.targets() < 2 {
        return Ok(None);
    }
    let report = cmp.report(run.id.as_str(), &run.suite, run.seed);
    let now = gauntlet_core::time::rfc3339(crate::run::now_ms());
    store.save_experiment(&tenant, &run.id, &now, &serde_json::to_value(&report)?)?;
    Ok(Some(report))
}

pub fn compare(args: &CompareArgs) -> Result<Outcome> {
    if args.format != "text" && args.format != "json" {
        return Err(UsageError(format!(
            "unknown comparison format `{}`; use text or json",
            args.format
        ))
        .into());
    }
    let store = open_existing(&args.store)?;
    let run = store
        .get_run(&TenantId::local(), &args.run)
        .map_err(user_error)?;
    let Some(report) = compare_targets(&store, &run)? else {
        return Err(UsageError(format!("run {} has a single target; give a suite several targets (`target: [a, b]`) to compare them", run.id)).into());
    };
    if args.format == "json" {
        output::out(&serde_json::to_string_pretty(&report)?);
    } else {
        output::out(&gauntlet_report::comparison::render_text(&report));
    }
    Ok(Outcome::Passed)
}

pub fn drift(args: &DriftArgs) -> Result<Outcome> {
    if args.format != "text" && args.format != "json" {
        return Err(UsageError(format!(
            "unknown drift format `{}`; use text or json",
            args.format
        ))
        .into());
    }
    if !(0.0..1.0).contains(&args.alpha) || !(0.0..=1.0).contains(&args.min_similarity) {
        return Err(
            UsageError("--alpha must be in [0, 1) and --min-similarity in [0, 1]".into()).into(),
        );
    }
    let store = open_existing(&ReadStoreArgs {
        project: crate::project::project_dir(&args.path),
        store: args.store.clone(),
    })?;
    let tenant = TenantId::local();
    let mut runs = store.list_runs(
        &tenant,
        &RunFilter {
            suite: Some(args.suite.clone()),
            limit: args.last.max(1) * 2,
        },
    )?;
    runs.retain(|r| r.status != gauntlet_core::result::RunStatus::Running);
    runs.truncate(args.last.max(1));
    runs.reverse();
    if runs.is_empty() {
        return Err(UsageError(format!(
            "no finished runs of suite `{}` are stored",
            args.suite
        ))
        .into());
    }
    let mut history = Vec::new();
    for run in runs {
        let side = side_of(&store, run)?;
        history.push((side.run, side.cases));
    }
    let opts = gauntlet_diff::drift::DriftOptions {
        alpha: args.alpha,
        min_similarity: args.min_similarity,
        ..Default::default()
    };
    let report = gauntlet_diff::drift::drift(&args.suite, &history, &opts);
    if args.format == "json" {
        output::out(&serde_json::to_string_pretty(&report)?);
    } else {
        output::out(&gauntlet_diff::drift::render_text(&report));
    }
    Ok(if report.drifted() {
        Outcome::Failed
    } else {
        Outcome::Passed
    })
}

pub fn generate_tests(args: &GenerateArgs) -> Result<Outcome> {
    let Some(run_ref) = &args.run else {
        return generate_from_traffic(args);
    };
    let store = open_existing(&args.store)?;
    let tenant = TenantId::local();
    let run = store.get_run(&tenant, run_ref).map_err(user_error)?;
    let mut cases = Vec::new();
    store.for_each_case(&tenant, &run.id, &mut |c| {
        cases.push(c);
        Ok(())
    })?;
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| format!("{}-regression", run.suite));
    let generated = gauntlet_report::generate::generate(
        &name,
        &format!("run {} of suite `{}`", run.id, run.suite),
        &cases,
    );
    if generated.cases == 0 {
        return Err(UsageError(format!(
            "run {} has no passed case to turn into a test",
            run.id
        ))
        .into());
    }
    ReportFile::write_or_print(args.output.as_deref(), &generated.yaml)?;
    output::err(&format!(
        "generated suite `{name}`: {} case(s); {} near-duplicate(s) merged, {} failed or errored case(s) skipped",
        generated.cases, generated.merged, generated.skipped
    ));
    Ok(Outcome::Passed)
}

/// `generate-tests --traffic`: a regression suite from the exchanges the gateway recorded.
fn generate_from_traffic(args: &GenerateArgs) -> Result<Outcome> {
    let path = args.traffic.as_deref().unwrap_or(std::path::Path::new("."));
    let mut files = Vec::new();
    if path.is_dir() {
        for entry in
            std::fs::read_dir(path).with_context(|| format!("cannot read {}", path.display()))?
        {
            let p = entry?.path();
            if p.extension().is_some_and(|e| e == "jsonl") {
                files.push(p);
            }
        }
        files.sort();
    } else {
        files.push(path.to_path_buf());
    }
    let mut exchanges = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file)
            .map_err(|e| UsageError(format!("cannot read {}: {e}", file.display())))?;
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let e: gauntlet_core::gateway::Exchange = serde_json::from_str(line).map_err(|e| {
                UsageError(format!(
                    "{}:{}:{}: not a recorded exchange: {e}\n  hint: the file must be written by the gateway's `record` setting",
                    file.display(),
                    i + 1,
                    e.column()
                ))
            })?;
            exchanges.push(e);
        }
    }
    let name = args.name.clone().unwrap_or_else(|| "traffic".into());
    let source = format!(
        "{} exchange(s) recorded by the gateway in {}",
        exchanges.len(),
        path.display()
    );
    let (generated, skipped) =
        gauntlet_report::generate::traffic::from_traffic(&name, &source, &exchanges);
    if generated.cases == 0 {
        return Err(UsageError(format!(
            "{} holds no first-turn exchange without tools to turn into a test ({} exchange(s) read: {} later turns, {} with tools)",
            path.display(),
            exchanges.len(),
            skipped.continuations,
            skipped.with_tools
        ))
        .into());
    }
    ReportFile::write_or_print(args.output.as_deref(), &generated.yaml)?;
    output::err(&format!(
        "generated suite(s) from {} exchange(s): {} case(s); {} near-duplicate(s) merged; skipped {} later turn(s) of conversations and {} exchange(s) with tools (a generated agent would need the tools' implementations)",
        exchanges.len(),
        generated.cases,
        generated.merged,
        skipped.continuations,
        skipped.with_tools
    ));
    Ok(Outcome::Passed)
}
