//! The bodies of successful JSON answers. Handlers build these types and the OpenAPI document
//! takes its response schemas from the same types (the route table names each), so the
//! document cannot describe a shape the server does not send; schemathesis checks the real
//! answers against it.

use std::collections::BTreeMap;

use gauntlet_store::accounts::{ApiKey, Tenant, User};
use gauntlet_store::queue::{Job, JobState};
use gauntlet_store::suites::SuiteVersion;
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Map, Value};

/// A JSON object whose fields are documented elsewhere (a stored run, a case, an audit event).
pub type Object = Map<String, Value>;

#[derive(Serialize, JsonSchema)]
pub struct Ready {
    pub status: &'static str,
    pub database: String,
    /// Migrations applied.
    pub migration: i64,
}

#[derive(Serialize, JsonSchema)]
pub struct Me {
    pub tenant: String,
    pub user: String,
    pub role: String,
    /// `resource:action` strings.
    pub permissions: Vec<String>,
    pub platform_admin: bool,
}

#[derive(Serialize, JsonSchema)]
pub struct Tenants {
    pub tenants: Vec<Tenant>,
}

/// A new key: `token` is shown this once and stored only as a hash.
#[derive(Serialize, JsonSchema)]
pub struct CreatedKey {
    pub key: ApiKey,
    pub token: String,
}

#[derive(Serialize, JsonSchema)]
pub struct CreatedTenant {
    pub tenant: Tenant,
    pub admin_key: CreatedKey,
}

#[derive(Serialize, JsonSchema)]
pub struct TenantDeleted {
    pub deleted: String,
    pub rows_removed: u64,
}

#[derive(Serialize, JsonSchema)]
pub struct Usage {
    pub runs_today: i64,
    pub runs_active: i64,
    pub suite_bytes: i64,
}

#[derive(Serialize, JsonSchema)]
pub struct OwnTenant {
    pub tenant: Tenant,
    pub usage: Usage,
}

#[derive(Serialize, JsonSchema)]
pub struct Users {
    pub users: Vec<User>,
}

#[derive(Serialize, JsonSchema)]
pub struct Role {
    pub name: String,
    pub builtin: bool,
    pub permissions: Vec<String>,
    /// Custom roles only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
}

#[derive(Serialize, JsonSchema)]
pub struct Roles {
    pub roles: Vec<Role>,
}

#[derive(Serialize, JsonSchema)]
pub struct Keys {
    pub keys: Vec<ApiKey>,
}

/// What validation found in an uploaded project (also stored with each version).
#[derive(Serialize, JsonSchema)]
pub struct SuiteSummary {
    pub suites: Vec<SuiteEntry>,
    pub agents: Vec<AgentEntry>,
}

#[derive(Serialize, JsonSchema)]
pub struct SuiteEntry {
    pub name: String,
    pub cases: usize,
    pub targets: usize,
}

#[derive(Serialize, JsonSchema)]
pub struct AgentEntry {
    pub name: String,
    pub provider: String,
}

#[derive(Serialize, JsonSchema)]
pub struct Validated {
    pub valid: bool,
    pub summary: SuiteSummary,
}

#[derive(Serialize, JsonSchema)]
pub struct Uploaded {
    pub suite: SuiteVersion,
    /// False when the same content was already the latest version.
    pub created: bool,
}

#[derive(Serialize, JsonSchema)]
pub struct Suites {
    pub suites: Vec<SuiteVersion>,
}

#[derive(Serialize, JsonSchema)]
pub struct SuiteWithFiles {
    pub suite: SuiteVersion,
    /// Relative path → text.
    pub files: BTreeMap<String, String>,
}

#[derive(Serialize, JsonSchema)]
pub struct Versions {
    pub versions: Vec<SuiteVersion>,
}

/// An agent of a stored suite (its latest version).
#[derive(Serialize, JsonSchema)]
pub struct Agent {
    pub name: String,
    pub provider: String,
    pub suite: String,
    pub version: i64,
}

#[derive(Serialize, JsonSchema)]
pub struct Agents {
    pub agents: Vec<Agent>,
}

/// A queued run, with what its stored record says once it has one.
#[derive(Serialize, JsonSchema)]
pub struct Run {
    pub id: String,
    pub state: JobState,
    pub attempt: i64,
    pub max_attempts: i64,
    pub request: Value,
    pub created_by: String,
    pub created_at: String,
    pub finished_at: Option<String>,
    pub cancel_requested: bool,
    pub pause_requested: bool,
    pub error: Option<String>,
    pub idempotency_key: Option<String>,
    /// The stored run's status (`passed`, `failed`, …), once it has a record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suite: Option<String>,
    /// Cases passed, failed and errored, tokens, cost and latency.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<Object>")]
    pub totals: Option<gauntlet_core::result::Totals>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_hash: Option<String>,
}

impl Run {
    pub fn of(job: &Job, record: Option<&gauntlet_core::result::RunRecord>) -> Run {
        let time = |t: i64| gauntlet_core::time::rfc3339(t.max(0) as u64);
        Run {
            id: job.id.clone(),
            state: job.state,
            attempt: job.attempt,
            max_attempts: job.max_attempts,
            request: job.request.clone(),
            created_by: job.created_by.clone(),
            created_at: time(job.created_at),
            finished_at: job.finished_at.map(time),
            cancel_requested: job.cancel_requested,
            pause_requested: job.pause_requested,
            error: job.last_error.clone(),
            idempotency_key: job.idempotency_key.clone(),
            status: record.map(|r| r.status.as_str().to_owned()),
            suite: record.map(|r| r.suite.clone()),
            totals: record.map(|r| r.totals),
            config_hash: record.map(|r| r.config_hash.clone()),
        }
    }
}

#[derive(Serialize, JsonSchema)]
pub struct Runs {
    pub runs: Vec<Run>,
}

#[derive(Serialize, JsonSchema)]
pub struct Results {
    /// The stored run record.
    #[schemars(with = "Object")]
    pub run: gauntlet_core::result::RunRecord,
    /// Every case with its steps, assertions and tool calls.
    #[schemars(with = "Vec<Object>")]
    pub cases: Vec<gauntlet_core::result::CaseResult>,
}

#[derive(Serialize, JsonSchema)]
pub struct Baselines {
    pub baselines: Vec<gauntlet_store::Baseline>,
}

#[derive(Serialize, JsonSchema)]
pub struct BaselineSet {
    pub name: String,
    pub run_id: String,
    /// What the name pointed at before, if anything.
    pub previous: Option<gauntlet_store::Baseline>,
}

#[derive(Serialize, JsonSchema)]
pub struct AuditEvents {
    #[schemars(with = "Vec<Object>")]
    pub events: Vec<gauntlet_audit::Event>,
}
