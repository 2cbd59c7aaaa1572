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
use gauntlet_core::TenantId;
use gauntlet_core::files::FileSet;

// ---- suites ----

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Upload {
    /// The suite's name in the library (1-64 letters, digits, `-`, `_`, `.`).
    pub name: String,
    /// The project's files by relative path: its YAML, and the files it names (facts, Rego
    /// policies, scripts of granted programs).
    pub files: BTreeMap<String, String>,
}

/// A validated upload: its summary, or the diagnostics as a 422. The files are validated
/// in memory, with the tenant's capabilities and variables: nothing outside them is read,
/// and a suite that needs a capability the tenant lacks is refused (`capability_denied`).
pub(crate) fn validate_files(
    app: &AppState,
    tenant: &TenantId,
    files: &BTreeMap<String, String>,
) -> ApiResult<(replies::SuiteSummary, gauntlet_core::model::Project)> {
    if files.is_empty() || files.len() > gauntlet_core::files::MAX_FILES {
        return Err(ApiError::bad_request(format!(
            "`files` must hold 1-{} files",
            gauntlet_core::files::MAX_FILES
        )));
    }
    let set = FileSet::new(files.clone()).map_err(|e| ApiError::bad_request(e.to_string()))?;
    if set.yaml_under("").is_empty() {
        return Err(ApiError::bad_request(
            "`files` holds no .yaml or .yml file at the top of the suite",
        ));
    }
    let caps = app.tenancy.capabilities(tenant)?;
    let vars = crate::settings::vars(app, tenant)?;
    let validated = gauntlet_spec::load_from(
        gauntlet_spec::Origin::set(Arc::new(set), caps),
        std::path::Path::new(""),
        &vars,
    );
    let errors: Vec<&gauntlet_spec::Diagnostic> = validated
        .diagnostics
        .iter()
        .filter(|d| d.severity == gauntlet_spec::Severity::Error)
        .collect();
    let denied = !errors.is_empty()
        && errors
            .iter()
            .all(|d| d.code.is_some_and(|c| c.starts_with("capability.")));
    let errors: Vec<Value> = errors
        .iter()
        .map(|d| {
            json!({
                "file": d.file.display().to_string(),
                "line": d.line, "column": d.col, "message": d.message, "hint": d.hint,
                "code": d.code,
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
        _ if denied => Err(ApiError::new(
            Code::CapabilityDenied,
            format!(
                "the suite needs {} capability(ies) this tenant was not granted",
                errors.len()
            ),
        )
        .details(json!({ "errors": errors }))),
        _ => Err(ApiError::new(
            Code::InvalidSpec,
            format!("the specification has {} error(s)", errors.len().max(1)),
        )
        .details(json!({ "errors": errors }))),
    }
}

pub async fn validate_suite(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    JsonBody(body): JsonBody<Upload>,
) -> ApiResult<axum::Json<replies::Validated>> {
    check_name("suite", &body.name)?;
    let _turn = app
        .validations
        .acquire()
        .await
        .map_err(ApiError::internal)?;
    let a = Arc::clone(&app);
    let summary =
        blocking(move || validate_files(&a, &p.tenant, &body.files).map(|(s, _)| s)).await?;
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
    let _turn = app
        .validations
        .acquire()
        .await
        .map_err(ApiError::internal)?;
    let a = Arc::clone(&app);
    let (t, who) = (p.tenant.clone(), p.actor());
    let (version, created) = blocking(move || {
        let (summary, _) = validate_files(&a, &t, &body.files)?;
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

/// The public half of the key that signs the audit log's tree heads and run bundles.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct AuditKey {
    pub key_id: String,
    /// PEM (SubjectPublicKeyInfo): what `gauntlet audit verify-bundle --public-key` takes.
    pub public_key_pem: String,
}

pub async fn audit_key(State(app): State<AppState>) -> ApiResult<axum::Json<AuditKey>> {
    let pem = gauntlet_audit::signer::public_key_pem(app.signer.public_key())
        .map_err(ApiError::internal)?;
    Ok(axum::Json(AuditKey {
        key_id: app.signer.key_id().to_owned(),
        public_key_pem: pem,
    }))
}

/// A run's signed audit bundle (gzip JSON lines), verifiable offline.
pub async fn run_bundle(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    // The run's own events must be in the log before they are proven.
    app.audit.flush().await;
    let now = now_rfc3339();
    let (bytes, bundled) = gauntlet_run::bundle::write(
        &app.runs,
        &p.tenant,
        &id,
        app.signer.as_ref(),
        Vec::new(),
        &now,
    )
    .await
    .map_err(|e| match e {
        gauntlet_run::bundle::BundleError::Store(s) => ApiError::from(s),
        e @ gauntlet_run::bundle::BundleError::NoEvents(_) => {
            ApiError::new(Code::Conflict, e.to_string())
        }
        other => ApiError::internal(other),
    })?;
    app.audit.send(
        app.audit
            .by(
                &p,
                crate::audit::action::EXPORT,
                format!("run/{}", bundled.run.id),
                &rid.0,
            )
            .details(json!({"what": "bundle", "key_id": bundled.key_id, "events": bundled.events})),
    );
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                "application/gzip".to_owned(),
            ),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"audit-bundle-{}.jsonl.gz\"",
                    bundled.run.id
                ),
            ),
        ],
        bytes,
    ))
}

/// An inclusion proof of one of the tenant's audit events in the newest signed tree head.
pub async fn event_proof(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(seq): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let seq: u64 = seq.parse().map_err(|_| {
        ApiError::not_found(format!(
            "audit event `{}`",
            seq.chars().take(40).collect::<String>()
        ))
    })?;
    app.audit.flush().await;
    let proof = blocking(move || {
        use gauntlet_audit::log::AuditStorage;
        let event = app.runs.event(seq).map_err(ApiError::internal)?;
        // Another tenant's event answers as missing.
        if event
            .as_ref()
            .is_none_or(|e| e.event.tenant != p.tenant.as_str())
        {
            return Err(ApiError::not_found(format!("audit event {seq}")));
        }
        let mut trusted = gauntlet_audit::TrustedKeys::new();
        trusted.add(*app.signer.public_key());
        let mut proofs = gauntlet_audit::log::proofs(app.runs.as_ref(), &[seq], &trusted)
            .map_err(|e| ApiError::new(Code::Conflict, e.to_string()))?;
        proofs
            .pop()
            .ok_or_else(|| ApiError::not_found(format!("audit event {seq}")))
    })
    .await?;
    Ok(axum::Json(
        serde_json::to_value(proof).map_err(ApiError::internal)?,
    ))
}

/// Verification of the whole log (platform administrators: it spans every tenant).
pub async fn verify_log(State(app): State<AppState>) -> ApiResult<axum::Json<Value>> {
    app.audit.flush().await;
    let v = blocking(move || {
        let mut trusted = gauntlet_audit::TrustedKeys::new();
        trusted.add(*app.signer.public_key());
        gauntlet_audit::verify::verify(app.runs.as_ref(), &trusted, None)
            .map_err(ApiError::internal)
    })
    .await?;
    let mut body = serde_json::to_value(&v).map_err(ApiError::internal)?;
    body["ok"] = json!(v.ok());
    Ok(axum::Json(body))
}
