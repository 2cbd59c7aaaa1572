#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Engine integration tests: projects written as YAML, run through the real engine.

mod assertions;
mod control;
mod graphs;

use std::sync::Arc;

use gauntlet_core::model::Project;
use gauntlet_core::result::CaseResult;
use gauntlet_engine::{Cancel, RunConfig, RunEnd};

pub fn project(yaml: &str) -> Arc<Project> {
    // Kept: `custom` evaluators run in the project's directory.
    let dir = tempfile::tempdir().unwrap().keep();
    let file = dir.join("p.yaml");
    std::fs::write(&file, yaml).unwrap();
    let v = gauntlet_spec::load_project(&file, &gauntlet_spec::Vars::default());
    let errors: Vec<String> = v.diagnostics.iter().map(ToString::to_string).collect();
    Arc::new(
        v.project
            .unwrap_or_else(|| panic!("invalid test project: {errors:#?}")),
    )
}

pub async fn run_with(
    project: &Arc<Project>,
    suite: &str,
    seed: u64,
    cancel: Cancel,
) -> (Vec<CaseResult>, RunEnd) {
    run_at(project, suite, seed, cancel, 8).await
}

/// Runs a suite with `concurrency` cases in flight; results sorted by case index.
pub async fn run_at(
    project: &Arc<Project>,
    suite: &str,
    seed: u64,
    cancel: Cancel,
    concurrency: usize,
) -> (Vec<CaseResult>, RunEnd) {
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let config = RunConfig {
        seed,
        concurrency,
        case_filter: Vec::new(),
        repeat: 1,
        cassettes: None,
        judge_cache: None,
        performance_baseline: None,
        skip: Default::default(),
        host: gauntlet_sandbox::Host::operator(),
    };
    let handle = tokio::spawn({
        let project = Arc::clone(project);
        let suite = suite.to_owned();
        async move { gauntlet_engine::run_suite(project, &suite, config, cancel, tx).await }
    });
    let mut out = Vec::new();
    while let Some(c) = rx.recv().await {
        out.push(c);
    }
    let end = handle.await.unwrap().unwrap();
    out.sort_by_key(|c| c.index);
    (out, end)
}

pub async fn run(project: &Arc<Project>, suite: &str, seed: u64) -> Vec<CaseResult> {
    run_with(project, suite, seed, Cancel::new()).await.0
}

pub fn case<'a>(results: &'a [CaseResult], id: &str) -> &'a CaseResult {
    results
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("no case {id}"))
}
