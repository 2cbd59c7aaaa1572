//! `performance` assertions: held back until every trial of a case (and target) is in, then
//! evaluated over all of them and added to each trial's result.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use gauntlet_core::model::{Case, Check};
use gauntlet_core::result::{CaseResult, CaseStatus};
use gauntlet_eval::performance::{self, Trial};
use tokio::sync::mpsc;

use crate::Shared;

/// The baseline run's trials, by case id and target.
pub type PerfBaseline = HashMap<(String, String), Vec<Trial>>;

fn has_performance(case: &Case) -> bool {
    case.assertions
        .iter()
        .any(|a| matches!(a.check, Check::Performance(_)))
}

/// Ids of the suite's cases with a `performance` assertion.
pub fn cases_with_performance(shared: &Shared) -> HashSet<String> {
    shared
        .suite()
        .cases
        .iter()
        .filter(|c| has_performance(c))
        .map(|c| c.id.clone())
        .collect()
}

/// Passes results through, grouping those of `performance` cases until all `trials` arrived
/// (or the run ended: cancelled runs evaluate what they have).
pub async fn forward(
    mut rx: mpsc::Receiver<CaseResult>,
    out: mpsc::Sender<CaseResult>,
    shared: Arc<Shared>,
    perf_cases: HashSet<String>,
    trials: u32,
    baseline: Option<Arc<PerfBaseline>>,
) {
    let by_id: HashMap<&str, &Case> = shared
        .suite()
        .cases
        .iter()
        .filter(|c| perf_cases.contains(&c.id))
        .map(|c| (c.id.as_str(), c))
        .collect();
    let mut groups: HashMap<(String, String), Vec<CaseResult>> = HashMap::new();
    while let Some(r) = rx.recv().await {
        let Some(case) = by_id.get(r.id.as_str()) else {
            let _ = out.send(r).await;
            continue;
        };
        let key = (r.id.clone(), r.target.clone());
        let group = groups.entry(key.clone()).or_default();
        group.push(r);
        if group.len() >= trials.max(1) as usize
            && let Some(mut group) = groups.remove(&key)
        {
            conclude(&mut group, case, baseline.as_deref());
            for r in group {
                let _ = out.send(r).await;
            }
        }
    }
    for ((id, _), mut group) in groups {
        if let Some(case) = by_id.get(id.as_str()) {
            conclude(&mut group, case, baseline.as_deref());
        }
        for r in group {
            let _ = out.send(r).await;
        }
    }
}

fn conclude(group: &mut [CaseResult], case: &Case, baseline: Option<&PerfBaseline>) {
    group.sort_by_key(|r| r.trial);
    let trials: Vec<Trial> = group
        .iter()
        .filter(|r| r.status != CaseStatus::Error)
        .map(Trial::of)
        .collect();
    let Some(first) = group.first() else { return };
    let key = (first.id.clone(), first.target.clone());
    let base = baseline.and_then(|b| b.get(&key)).map(Vec::as_slice);
    let results: Vec<_> = case
        .assertions
        .iter()
        .filter_map(|a| match &a.check {
            Check::Performance(spec) => Some(gauntlet_eval::finish(
                a,
                performance::evaluate(spec, &trials, base),
            )),
            _ => None,
        })
        .collect();
    for r in group.iter_mut() {
        if r.status == CaseStatus::Error {
            continue;
        }
        r.assertions.extend(results.iter().cloned());
        let contract_failed = r.status == CaseStatus::Failed
            && r.reason
                .as_deref()
                .is_some_and(|x| x.starts_with("contract violation"));
        if contract_failed {
            // The contract verdict stands; only the score takes the new assertions in.
            r.score = gauntlet_eval::verdict(&r.assertions, case.threshold).1;
        } else {
            crate::case::settle(r, case, &[]);
        }
    }
}
