//! What to run: the plan a CLI command builds from its flags and a server stores as the job
//! its workers claim.

use gauntlet_core::model::Project;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::RunError;

/// Seeds above this are not exact in a JavaScript number (2^53 - 1); random seeds stay
/// below 2^32.
pub const SEED_LIMIT: u64 = (1 << 53) - 1;

/// One run of one suite.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunPlan {
    /// The project: a stored suite's name on the server, the directory's name in the CLI.
    pub project: String,
    /// The stored version of the project that runs (server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    /// The suite of the project; by default its only one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suite: Option<String>,
    /// The run's seed; by default a random one below 2^32.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Trials of every case (1 or more).
    #[serde(default = "one")]
    pub repeat: u32,
    /// Run only these case ids (empty: all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cases: Vec<String>,
    /// A chaos profile injected into every suite (`--chaos`), recorded in the snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chaos: Option<String>,
    /// Cases in flight at once; by default four per core.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<usize>,
    /// A baseline whose trials `performance` assertions compare with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<String>,
}

fn one() -> u32 {
    1
}

impl RunPlan {
    pub fn new(project: impl Into<String>) -> RunPlan {
        RunPlan {
            project: project.into(),
            repeat: 1,
            ..RunPlan::default()
        }
    }

    /// The suite this plan runs in `project`.
    pub fn suite_of(&self, project: &Project) -> Result<String, RunError> {
        match &self.suite {
            Some(name) if project.suites.contains_key(name) => Ok(name.clone()),
            Some(name) => Err(RunError::Plan(format!(
                "no suite named `{name}`; suites: {}",
                names(project)
            ))),
            None if project.suites.len() == 1 => {
                Ok(project.suites.keys().next().cloned().unwrap_or_default())
            }
            None if project.suites.is_empty() => {
                Err(RunError::Plan("the project defines no suites".into()))
            }
            None => Err(RunError::Plan(format!(
                "the project has {} suites; name one: {}",
                project.suites.len(),
                names(project)
            ))),
        }
    }

    /// Case results the run will produce.
    pub fn planned(&self, project: &Project, suite: &str) -> u64 {
        project.suites.get(suite).map_or(0, |s| {
            let cases = s
                .cases
                .iter()
                .filter(|c| self.cases.is_empty() || self.cases.contains(&c.id))
                .count();
            (cases * s.targets.len()) as u64 * u64::from(self.repeat.max(1))
        })
    }

    /// Sets the plan's chaos profile on every suite of the project.
    pub fn apply_chaos(&self, project: &mut Project) -> Result<(), RunError> {
        if let Some(name) = &self.chaos {
            let profile = gauntlet_core::chaos::Chaos::profile(name)
                .ok_or_else(|| RunError::Plan(format!("unknown chaos profile `{name}`")))?;
            for suite in project.suites.values_mut() {
                suite.chaos = Some(profile.clone());
            }
        }
        Ok(())
    }

    /// The configuration snapshot of the run: the project's, with what the plan adds that
    /// changes results (trials, the chaos profile, the stored version).
    pub fn snapshot(&self, project: &Project, suite: &str, seed: u64) -> Value {
        let mut snapshot = project.config_snapshot(suite, seed);
        if let Some(obj) = snapshot.as_object_mut() {
            if self.repeat > 1 {
                // A run of N trials is not comparable to a single one.
                obj.insert("repeat".into(), self.repeat.into());
            }
            if let Some(name) = &self.chaos {
                // `--chaos` is not in the files; replays read it from here.
                obj.insert("chaos".into(), name.clone().into());
            }
            if let Some(v) = self.version {
                obj.insert("suite_version".into(), v.into());
            }
        }
        snapshot
    }
}

fn names(project: &Project) -> String {
    project
        .suites
        .keys()
        .cloned()
        .collect::<Vec<_>>()
        .join(", ")
}
