//! Executes suites: cases against agents and graphs, with tools, retries, timeouts, contracts,
//! seeded randomness and cancellation.
//!
//! The engine knows nothing about files, SQL or HTTP: it receives a validated
//! `gauntlet_core::model::Project`, calls providers through `gauntlet_providers::Provider`, and
//! streams one `CaseResult` per finished case into a channel. Memory does not grow with the
//! number of cases: at most `concurrency` cases are in flight and results leave immediately.

mod agent;
mod cancel;
mod case;
pub mod cassette;
mod chaos;
mod custom;
mod graph;
mod judge;
mod mcp;
mod perf;
mod retry;
mod tools;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use gauntlet_core::model::Project;
use gauntlet_core::result::CaseResult;
use gauntlet_providers::{Provider, ToolSpec};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

pub use cancel::Cancel;
pub use judge::{JudgeCache, parse_verdict, prompt as judge_prompt};
pub use mcp::config as mcp_config;
pub use perf::PerfBaseline;

/// Default limit of one step (one agent turn, retries included) when neither the agent nor the
/// suite sets one.
pub const DEFAULT_STEP_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Clone, Debug)]
pub struct RunConfig {
    pub seed: u64,
    /// Cases in flight at once.
    pub concurrency: usize,
    /// Run only cases with one of these ids (empty: all).
    pub case_filter: Vec<String>,
    /// Trials of every case (≥ 1); trial `t > 0` uses a seed derived from the run seed and `t`.
    pub repeat: u32,
    /// Record or replay provider and tool interactions.
    pub cassettes: Option<cassette::Cassettes>,
    /// Where `llm-judge` verdicts are cached between runs.
    pub judge_cache: Option<JudgeCacheHandle>,
    /// The suite's baseline run, for `performance` regression checks.
    pub performance_baseline: Option<Arc<PerfBaseline>>,
    /// Result indices already recorded (a resumed run): counted, not run again.
    pub skip: Arc<std::collections::BTreeSet<u32>>,
    /// The machine as the suite may use it: every program the run starts and every HTTP
    /// request it sends goes through this host (sandboxed and egress-checked for a tenant).
    pub host: gauntlet_sandbox::Host,
}

/// A shared judge cache (a newtype so that `RunConfig` stays `Debug`).
#[derive(Clone)]
pub struct JudgeCacheHandle(pub Arc<dyn JudgeCache>);

impl std::fmt::Debug for JudgeCacheHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JudgeCache")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunEnd {
    Completed,
    /// Cancelled by the caller (Ctrl-C) or the run timeout; in-flight cases were recorded as
    /// errors, cases not started are absent.
    Cancelled,
    TimedOut,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("no suite named `{0}`")]
    UnknownSuite(String),
}

/// Everything a case needs, shared by all case tasks of a run.
pub(crate) struct Shared {
    pub project: Arc<Project>,
    pub suite_index: usize,
    pub cassettes: Option<cassette::Cassettes>,
    pub seed: u64,
    pub providers: HashMap<String, Arc<dyn Provider>>,
    /// The tools each agent's model sees, by agent name.
    pub tool_specs: HashMap<String, Arc<[ToolSpec]>>,
    /// Every provider behind its limiter and breaker, for agents made up on the fly (judges).
    pub registry: gauntlet_providers::Registry,
    /// The run's MCP connections.
    pub mcp: mcp::Servers,
    pub cancel: Cancel,
    pub judge_cache: Option<Arc<dyn JudgeCache>>,
    pub host: gauntlet_sandbox::Host,
}

/// Runs one suite, sending each finished case to `results` (in completion order; each carries
/// its `index`). Returns how the run ended.
pub async fn run_suite(
    project: Arc<Project>,
    suite_name: &str,
    config: RunConfig,
    cancel: Cancel,
    results: mpsc::Sender<CaseResult>,
) -> Result<RunEnd, EngineError> {
    let suite_index = project
        .suites
        .get_index_of(suite_name)
        .ok_or_else(|| EngineError::UnknownSuite(suite_name.to_owned()))?;
    let registry = gauntlet_providers::Registry::on(&project, &config.host);
    // A strict replay answers agents' MCP tool calls from the recording; suites that call a
    // server directly (`mcp:NAME` targets) test the server itself, so they still connect.
    let strict_replay = config
        .cassettes
        .as_ref()
        .is_some_and(|c| c.mode == cassette::CassetteMode::ReplayStrict);
    let direct = project.suites.get(suite_name).is_some_and(|s| {
        s.targets
            .iter()
            .any(|t| matches!(t, gauntlet_core::model::Target::Mcp(_)))
    });
    let mcp = if strict_replay && !direct {
        mcp::Servers::default()
    } else {
        mcp::Servers::connect(&project, suite_name, &config.host).await
    };
    let mut providers: HashMap<String, Arc<dyn Provider>> = HashMap::new();
    let mut tool_specs: HashMap<String, Arc<[ToolSpec]>> = HashMap::new();
    for (name, agent) in &project.agents {
        providers.insert(name.clone(), registry.for_agent(&project, agent));
        let mut specs = tools::specs(&project, agent);
        let mut taken: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
        specs.extend(mcp.specs(&agent.mcp, &mut taken));
        tool_specs.insert(name.clone(), specs.into());
    }
    let shared = Arc::new(Shared {
        project: Arc::clone(&project),
        suite_index,
        seed: config.seed,
        cassettes: config.cassettes.clone(),
        providers,
        tool_specs,
        registry,
        mcp,
        cancel: cancel.clone(),
        judge_cache: config.judge_cache.as_ref().map(|h| Arc::clone(&h.0)),
        host: config.host.clone(),
    });
    // Cases with `performance` assertions pass through a collector that waits for all their
    // trials; the others go straight to the caller.
    let perf_cases = perf::cases_with_performance(&shared);
    let (sender, collector) = if perf_cases.is_empty() {
        (results, None)
    } else {
        let (tx, rx) = mpsc::channel(64);
        let handle = tokio::spawn(perf::forward(
            rx,
            results,
            Arc::clone(&shared),
            perf_cases,
            config.repeat.max(1),
            config.performance_baseline.clone(),
        ));
        (tx, Some(handle))
    };
    let suite = shared.suite();

    // The run timeout cancels the run like Ctrl-C does, remembering why.
    let timed_out = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let timer = suite.run_timeout_ms.map(|ms| {
        let cancel = cancel.clone();
        let flag = Arc::clone(&timed_out);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
            cancel.cancel();
        })
    });

    let permits = Arc::new(Semaphore::new(config.concurrency.max(1)));
    let mut tasks = JoinSet::new();
    let mut index: u32 = 0;
    'cases: for (case_index, case) in suite.cases.iter().enumerate() {
        if !config.case_filter.is_empty() && !config.case_filter.contains(&case.id) {
            continue;
        }
        for (target_index, trial) in
            (0..suite.targets.len()).flat_map(|t| (0..config.repeat.max(1)).map(move |r| (t, r)))
        {
            let permit = tokio::select! {
                p = Arc::clone(&permits).acquire_owned() => match p { Ok(p) => p, Err(_) => break 'cases },
                () = cancel.cancelled() => break 'cases,
            };
            // Reap finished tasks as we go so the set stays small.
            while let Some(done) = tasks.try_join_next() {
                report_panic(done);
            }
            let shared = Arc::clone(&shared);
            let tx = sender.clone();
            let this_index = index;
            index += 1;
            if config.skip.contains(&this_index) {
                drop(permit);
                continue;
            }
            tasks.spawn(async move {
                let suite = shared.suite();
                let result = case::run_case(
                    &shared,
                    this_index,
                    &suite.cases[case_index],
                    &suite.targets[target_index],
                    trial,
                )
                .await;
                let _ = tx.send(result).await;
                drop(permit);
            });
        }
    }
    while let Some(done) = tasks.join_next().await {
        report_panic(done);
    }
    drop(sender);
    if let Some(c) = collector {
        report_panic(c.await);
    }
    if let Some(t) = timer {
        t.abort();
    }
    Ok(if timed_out.load(std::sync::atomic::Ordering::SeqCst) {
        RunEnd::TimedOut
    } else if cancel.is_cancelled() {
        RunEnd::Cancelled
    } else {
        RunEnd::Completed
    })
}

impl Shared {
    pub fn suite(&self) -> &gauntlet_core::model::Suite {
        match self.project.suites.get_index(self.suite_index) {
            Some((_, s)) => s,
            // The index was looked up in this same project when `Shared` was built.
            None => unreachable!("suite index out of range"),
        }
    }
}

fn report_panic(done: Result<(), tokio::task::JoinError>) {
    if let Err(e) = done
        && e.is_panic()
    {
        // A panic in a case task is a bug in Gauntlet; surface it instead of hiding it.
        std::panic::resume_unwind(e.into_panic());
    }
}
