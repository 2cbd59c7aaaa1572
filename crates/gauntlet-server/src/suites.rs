//! Suite library, agents and audit endpoints.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, Code, RequestId};
use crate::handlers::check_name;
use crate::http::JsonBody;
use crate::replies;
use crate::{AppState, blocking, now_rfc3339};

// ---- suites ----

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Upload {
    /// The suite's name in the library (1-64 letters, digits, `-`, `_`, `.`).
    pub name: String,
    /// The project's YAML files by relative path.
    pub files: BTreeMap<String, String>,
}

/// A validated upload: its summary, or the diagnostics as a 422.
pub(crate) fn validate_files(
    work: &std::path::Path,
    files: &BTreeMap<String, String>,
) -> ApiResult<(replies::SuiteSummary, gauntlet_core::model::Project)> {
    if files.is_empty() || files.len() > 2000 {
        return Err(ApiError::bad_request("`files` must hold 1-2000 files"));
    }
    let dir = tempfile::Builder::new()
        .prefix("upload-")
        .tempdir_in(work)
        .map_err(ApiError::internal)?;
    for (path, text) in files {
        let rel = std::path::Path::new(path);
        let safe = !path.is_empty()
            && path.len() <= 300
            && rel
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)))
            && (path.ends_with(".yaml") || path.ends_with(".yml"));
        if !safe {
            return Err(ApiError::bad_request(format!(
                "file path `{}` must be relative, without `..`, and end in .yaml or .yml",
                path.chars().take(100).collect::<String>()
            )));
        }
        let full = dir.path().join(rel);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).map_err(ApiError::internal)?;
        }
        std::fs::write(&full, text).map_err(ApiError::internal)?;
    }
    let vars = gauntlet_spec::Vars::default();
    let validated = gauntlet_spec::load_project(dir.path(), &vars);
    let errors: Vec<Value> = validated
        .diagnostics
        .iter()
        .filter(|d| d.severity == gauntlet_spec::Severity::Error)
        .map(|d| {
            json!({
                "file": d.file.strip_prefix(dir.path()).unwrap_or(&d.file).display().to_string(),
                "line": d.line, "column": d.col, "message": d.message, "hint": d.hint,
            })
        })
        .collect();
    match validated.project {
        Some(project) if errors.is_empty() => {
            let suites = project
                .suites
                .iter()
                .map(|(name, s)| replies::SuiteEntry {
                    name: name.to_string(),
                    cases: s.cases.len(),
                    targets: s.targets.len(),
                })
                .collect();
            let agents = project
                .agents
                .iter()
                .map(|(name, a)| replies::AgentEntry {
                    name: name.to_string(),
                    provider: a.provider.clone(),
                })
                .collect();
            Ok((replies::SuiteSummary { suites, agents }, project))
        }
        _ => Err(ApiError::new(
            Code::InvalidSpec,
            format!("the specification has {} error(s)", errors.len().max(1)),
        )
        .details(json!({ "errors": errors }))),
    }
}

pub async fn validate_suite(
    State(app): State<AppState>,
    JsonBody(body): JsonBody<Upload>,
) -> ApiResult<axum::Json<replies::Validated>> {
    check_name("suite", &body.name)?;
    let work = app.config.work_dir.clone();
    let summary = blocking(move || validate_files(&work, &body.files).map(|(s, _)| s)).await?;
    Ok(axum::Json(replies::Validated {
        valid: true,
        summary,
    }))
}

pub async fn upload_suite(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    JsonBody(body): JsonBody<Upload>,
) -> ApiResult<impl IntoResponse> {
    check_name("suite", &body.name)?;
    let a = Arc::clone(&app);
    let (t, who) = (p.tenant.clone(), p.actor());
    let (version, created) = blocking(move || {
        let (summary, _) = validate_files(&a.config.work_dir, &body.files)?;
        let tenant = a.accounts.tenant(&t)?;
        let size: u64 = body.files.values().map(|f| f.len() as u64).sum();
        if let Some(limit) = tenant.quotas.storage_bytes {
            let used = a.suites.stored_bytes(&t)?.max(0) as u64;
            if used + size > limit {
                return Err(ApiError::new(Code::QuotaExceeded, format!(
                    "storing {size} more bytes would pass the tenant's storage quota ({used} of {limit} used)"
                )));
            }
        }
        if let Some(limit) = tenant.quotas.agents {
            let agents = summary.agents.len() as u64;
            if agents > limit {
                return Err(ApiError::new(Code::QuotaExceeded, format!(
                    "the suite defines {agents} agents; the tenant's quota is {limit}"
                )));
            }
        }
        let summary = serde_json::to_value(&summary).map_err(ApiError::internal)?;
        Ok(a.suites.put(&t, &body.name, &body.files, &summary, &who, &now_rfc3339())?)
    })
    .await?;
    app.audit.mutation(
        &p,
        &rid.0,
        "suite.upload",
        format!("suite/{}", version.name),
        json!({"version": version.version, "sha256": version.sha256, "new": created}),
    );
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        axum::Json(replies::Uploaded {
            suite: version,
            created,
        }),
    ))
}

pub async fn list_suites(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
) -> ApiResult<axum::Json<replies::Suites>> {
    let suites = app.suites.list(&p.tenant).await?;
    Ok(axum::Json(replies::Suites { suites }))
}

#[derive(Debug, Deserialize)]
pub struct VersionQuery {
    version: Option<String>,
}

pub async fn get_suite(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(name): Path<String>,
    Query(q): Query<VersionQuery>,
) -> ApiResult<axum::Json<replies::SuiteWithFiles>> {
    let version = match q.version.as_deref() {
        None | Some("") | Some("latest") => None,
        Some(v) => Some(v.parse::<i64>().ok().filter(|v| *v > 0).ok_or_else(|| {
            ApiError::bad_request("`version` must be a positive number or `latest`")
        })?),
    };
    let s = blocking(move || Ok(app.suites.get(&p.tenant, &name, version)?)).await?;
    Ok(axum::Json(replies::SuiteWithFiles {
        suite: s.version,
        files: s.files,
    }))
}

pub async fn suite_versions(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(name): Path<String>,
) -> ApiResult<axum::Json<replies::Versions>> {
    let versions = blocking(move || Ok(app.suites.versions(&p.tenant, &name)?)).await?;
    Ok(axum::Json(replies::Versions { versions }))
}

pub async fn delete_suite(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    let (a, t, n) = (Arc::clone(&app), p.tenant.clone(), name.clone());
    let n = blocking(move || Ok(a.suites.delete(&t, &n)?)).await?;
    app.audit.mutation(
        &p,
        &rid.0,
        "suite.delete",
        format!("suite/{name}"),
        json!({"versions": n}),
    );
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list_agents(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
) -> ApiResult<axum::Json<replies::Agents>> {
    let suites = app.suites.list(&p.tenant).await?;
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let agents = suites
        .iter()
        .flat_map(|s| {
            s.summary["agents"]
                .as_array()
                .into_iter()
                .flatten()
                .map(move |a| replies::Agent {
                    name: text(&a["name"]),
                    provider: text(&a["provider"]),
                    suite: s.name.clone(),
                    version: s.version,
                })
        })
        .collect();
    Ok(axum::Json(replies::Agents { agents }))
}

// ---- audit ----

#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    resource: Option<String>,
}

pub async fn audit_events(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Query(q): Query<AuditQuery>,
) -> ApiResult<axum::Json<replies::AuditEvents>> {
    let resource = q
        .resource
        .filter(|r| !r.is_empty() && r.len() <= 300)
        .ok_or_else(|| {
            ApiError::bad_request("`resource` is required, e.g. run/<id> or user/<id>")
        })?;
    app.audit.flush().await;
    let events = blocking(move || {
        use gauntlet_audit::log::AuditStorage;
        app.runs
            .events_for(&p.tenant, &resource)
            .map_err(ApiError::internal)
    })
    .await?;
    Ok(axum::Json(replies::AuditEvents {
        events: events.into_iter().map(|e| e.event).collect(),
    }))
}
