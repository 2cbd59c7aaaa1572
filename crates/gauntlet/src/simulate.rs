//! `gauntlet simulate`: a suite run N times with derived seeds, summarised with confidence
//! intervals, optionally checked against expectations.

use anyhow::{Context, Result};
use gauntlet_core::TenantId;
use gauntlet_report::simulation::{self, Simulation};
use gauntlet_store::RunStore;

use crate::cli::{RunArgs, SimulateArgs};
use crate::history::ReportFile;
use crate::{Outcome, UsageError, output, run};

pub fn simulate(args: SimulateArgs) -> Result<Outcome> {
    let expect = match &args.expect {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| UsageError(format!("cannot read {}: {e}", path.display())))?;
            let value = gauntlet_spec::yaml::parse_value(&text).map_err(|e| {
                UsageError(format!(
                    "{}:{}:{}: {}",
                    path.display(),
                    e.pos.line,
                    e.pos.col,
                    e.message
                ))
            })?;
            Some(value)
        }
        None => None,
    };
    let run_args = RunArgs {
        path: args.path.clone(),
        suites: args.suites.clone(),
        cases: Vec::new(),
        seed: args.seed,
        concurrency: args.concurrency,
        outputs: Vec::new(),
        no_progress: false,
        quiet: true,
        repeat: args.trials,
        chaos: None,
        no_summary: true,
        record: false,
        sandbox: false,
        replay: None,
        cassette_dir: None,
        baseline: None,
        max_pass_rate_drop: 0.0,
        max_score_drop: 0.0,
        max_cost_increase: 0.0,
        max_latency_increase: 0.0,
        store: args.store.clone(),
    };
    let mut reports = Vec::new();
    let mut met = true;
    let outcome = run::run_with(run_args, None, &mut |store, run| {
        let mut sim = Simulation::default();
        store.for_each_case(&TenantId::local(), &run.id, &mut |c| {
            sim.add(&c);
            Ok(())
        })?;
        let report = sim.report(&run.suite, run.id.as_str(), run.seed, args.trials);
        output::out(&simulation::render_text(&report));
        if let Some(expect) = &expect {
            let failures = simulation::check(&report, expect).map_err(UsageError)?;
            if failures.is_empty() {
                output::out("expectations: all met");
            } else {
                met = false;
                output::out(&format!(
                    "expectations: {} not met\n  {}",
                    failures.len(),
                    failures.join("\n  ")
                ));
            }
        }
        reports.push(report);
        Ok(true)
    })?;
    if let Outcome::Invalid = outcome {
        return Ok(Outcome::Invalid);
    }
    if let Some(path) = &args.output {
        let json = if reports.len() == 1 {
            serde_json::to_string_pretty(&reports[0])
        } else {
            serde_json::to_string_pretty(&reports)
        };
        let mut json = json.context("serialising the simulation")?;
        json.push('\n');
        ReportFile::write_or_print(Some(path), &json)?;
    }
    // Failing trials are data, not errors: only unmet expectations fail a simulation.
    Ok(if met {
        Outcome::Passed
    } else {
        Outcome::Failed
    })
}
