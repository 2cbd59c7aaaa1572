//! Operational, identity, tenant and suite endpoints.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use gauntlet_audit::Decision;
use gauntlet_core::TenantId;
use gauntlet_store::accounts::{ApiKey, CustomRole, Quotas, Tenant, User};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::audit::action;
use crate::auth::{self, Principal};
use crate::error::{ApiError, ApiResult, Code, RequestId};
use crate::http::JsonBody;
use crate::rbac;
use crate::replies;
use crate::{AppState, blocking, now_ms, now_rfc3339};

type Json = axum::Json<Value>;

// ---- operations ----

pub async fn healthz() -> &'static str {
    "ok"
}

pub async fn readyz(State(app): State<AppState>) -> ApiResult<axum::Json<replies::Ready>> {
    if app.draining.load(std::sync::atomic::Ordering::SeqCst) {
        return Err(ApiError::new(
            Code::Unavailable,
            "shutting down: finishing the runs in hand, claiming no more",
        ));
    }
    let a = Arc::clone(&app);
    let version = blocking(move || Ok(a.db.schema_version()?))
        .await
        .map_err(|e| {
            ApiError::new(
                Code::Unavailable,
                format!("the database is not ready: {}", e.message),
            )
        })?;
    let expected = gauntlet_store::schema::server(app.db.dialect()).len() as i64;
    if version < expected {
        return Err(ApiError::new(
            Code::Unavailable,
            format!(
                "the database is at migration {version}, {expected} needed: run `gauntlet migrate`"
            ),
        ));
    }
    Ok(axum::Json(replies::Ready {
        status: "ready",
        database: app.db.location(),
        migration: version,
    }))
}

pub async fn metrics(State(app): State<AppState>) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        app.metrics.render(),
    )
}

pub async fn openapi() -> Json {
    axum::Json(crate::openapi::document())
}

pub async fn me(Extension(p): Extension<Principal>) -> axum::Json<replies::Me> {
    axum::Json(replies::Me {
        tenant: p.tenant.as_str().to_owned(),
        permissions: p.grants.list(),
        user: p.user,
        role: p.role,
        platform_admin: p.platform_admin,
    })
}

// ---- validation helpers ----

pub(crate) fn check_name(what: &str, s: &str) -> ApiResult<()> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        && !s.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "{what} `{}` must be 1-64 letters, digits, `-`, `_` or `.`, not starting with `.`",
            s.chars().take(80).collect::<String>()
        )))
    }
}

/// A free-text label (a tenant's, user's or key's name): 1-200 characters, no control
/// characters (newlines and terminal escapes would forge lines in logs and terminals).
pub(crate) fn check_label(what: &str, s: &str) -> ApiResult<()> {
    let ok = !s.trim().is_empty() && s.chars().count() <= 200 && !s.chars().any(char::is_control);
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "{what} must be 1-200 characters without control characters"
        )))
    }
}

fn check_role(role: &str, custom: bool) -> ApiResult<()> {
    if rbac::builtin(role).is_some() || custom {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "no role `{role}`; built-in roles are {}",
            rbac::BUILTIN.join(", ")
        )))
    }
}

/// Refuses to hand out (or act on a holder of) `role` unless the caller holds every
/// permission it carries: no grant above the granter.
async fn within(app: &AppState, p: &Principal, role: &str, what: &str) -> ApiResult<()> {
    let grants = crate::http::grants_of(app, &p.tenant, role).await?;
    within_grants(p, &grants, what)
}

fn within_grants(p: &Principal, grants: &rbac::Grants, what: &str) -> ApiResult<()> {
    let missing: Vec<String> = p
        .grants
        .missing(grants)
        .iter()
        .map(ToString::to_string)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(ApiError::new(
        Code::Forbidden,
        format!(
            "{what} needs {}, which you do not hold; nobody can grant more than they have",
            missing.join(", ")
        ),
    )
    .details(json!({ "required": missing })))
}

/// The role a user of the tenant holds now.
async fn user_role(app: &AppState, tenant: &TenantId, id: &str) -> ApiResult<String> {
    let (a, t, i) = (Arc::clone(app), tenant.clone(), id.to_owned());
    blocking(move || Ok(a.accounts.user(&t, &i)?.role)).await
}

async fn role_exists(app: &AppState, tenant: &TenantId, role: &str) -> ApiResult<()> {
    if rbac::builtin(role).is_some() {
        return Ok(());
    }
    check_name("role", role)?;
    let (a, t, r) = (Arc::clone(app), tenant.clone(), role.to_owned());
    let found = blocking(move || Ok(a.accounts.role(&t, &r)?.is_some())).await?;
    check_role(role, found)
}

// ---- tenants ----

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTenant {
    /// 1-64 letters, digits, `-`, `_`, `.`.
    pub id: String,
    pub name: Option<String>,
    #[serde(default)]
    #[schemars(with = "Option<QuotasBody>")]
    pub quotas: Option<QuotasBody>,
    /// The tenant's first administrator.
    pub admin: String,
}

#[derive(Clone, Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QuotasBody {
    pub runs_per_day: Option<u64>,
    pub parallel_runs: Option<u64>,
    pub storage_bytes: Option<u64>,
    pub agents: Option<u64>,
    pub monthly_budget_usd: Option<f64>,
}

impl QuotasBody {
    /// A budget is a non-negative amount; to remove one, leave it out.
    fn check(&self) -> ApiResult<()> {
        match self.monthly_budget_usd {
            Some(b) if !b.is_finite() || b < 0.0 => Err(ApiError::bad_request(
                "`monthly_budget_usd` must be a non-negative amount (leave it out for no budget)",
            )),
            _ => Ok(()),
        }
    }
}

impl From<QuotasBody> for Quotas {
    fn from(q: QuotasBody) -> Quotas {
        Quotas {
            runs_per_day: q.runs_per_day,
            parallel_runs: q.parallel_runs,
            storage_bytes: q.storage_bytes,
            agents: q.agents,
            monthly_budget_usd: q.monthly_budget_usd.filter(|v| v.is_finite() && *v >= 0.0),
        }
    }
}

pub async fn list_tenants(State(app): State<AppState>) -> ApiResult<axum::Json<replies::Tenants>> {
    let tenants = blocking(move || Ok(app.accounts.list_tenants()?)).await?;
    Ok(axum::Json(replies::Tenants { tenants }))
}

/// Makes an API key for `user` and stores it; returns the record and the token.
pub(crate) fn issue_key(
    app: &AppState,
    tenant: &TenantId,
    user: &str,
    name: &str,
    role: &str,
    expires_at: Option<i64>,
    issued_by: Option<&str>,
) -> ApiResult<(ApiKey, String)> {
    let (id, token, hash) = auth::new_key().map_err(ApiError::internal)?;
    let key = ApiKey {
        id,
        user_id: user.to_owned(),
        name: name.to_owned(),
        role: role.to_owned(),
        created_at: now_rfc3339(),
        expires_at,
        revoked_at: None,
        issued_by: issued_by.map(str::to_owned),
    };
    app.accounts.create_key(tenant, &key, &hash)?;
    Ok((key, token))
}

pub async fn create_tenant(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    JsonBody(body): JsonBody<NewTenant>,
) -> ApiResult<impl IntoResponse> {
    check_name("tenant id", &body.id)?;
    check_name("user", &body.admin)?;
    if let Some(n) = &body.name {
        check_label("`name`", n)?;
    }
    if let Some(q) = &body.quotas {
        q.check()?;
    }
    let tenant = Tenant {
        id: body.id.clone(),
        name: body.name.clone().unwrap_or_else(|| body.id.clone()),
        quotas: body.quotas.clone().map(Quotas::from).unwrap_or_default(),
        created_at: now_rfc3339(),
    };
    let a = Arc::clone(&app);
    let (tenant, key, token) = blocking(move || {
        a.accounts.create_tenant(&tenant)?;
        let id = TenantId::new(&tenant.id);
        a.accounts.create_user(
            &id,
            &User {
                id: body.admin.clone(),
                name: body.admin.clone(),
                email: None,
                role: "admin".into(),
                platform_admin: false,
                created_at: now_rfc3339(),
            },
        )?;
        let (key, token) = issue_key(&a, &id, &body.admin, "bootstrap", "admin", None, None)?;
        Ok((tenant, key, token))
    })
    .await?;
    app.audit.mutation(
        &p,
        &rid.0,
        "tenant.create",
        format!("tenant/{}", tenant.id),
        json!({"admin": key.user_id}),
    );
    Ok((
        StatusCode::CREATED,
        axum::Json(replies::CreatedTenant {
            tenant,
            admin_key: replies::CreatedKey { key, token },
        }),
    ))
}

pub async fn get_tenant(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Tenant>> {
    let t = blocking(move || Ok(app.accounts.tenant(&TenantId::new(id))?)).await?;
    Ok(axum::Json(t))
}

pub async fn set_quotas(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<QuotasBody>,
) -> ApiResult<axum::Json<Tenant>> {
    body.check()?;
    let quotas = Quotas::from(body);
    let a = Arc::clone(&app);
    let q = quotas.clone();
    let tid = TenantId::new(&id);
    let t = blocking(move || {
        a.accounts.set_quotas(&tid, &q)?;
        Ok(a.accounts.tenant(&tid)?)
    })
    .await?;
    app.audit.mutation(
        &p,
        &rid.0,
        "tenant.quotas",
        format!("tenant/{id}"),
        json!(quotas),
    );
    Ok(axum::Json(t))
}

pub async fn delete_tenant(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<replies::TenantDeleted>> {
    if id == p.tenant.as_str() {
        return Err(ApiError::new(
            Code::Conflict,
            "a platform administrator cannot delete their own tenant",
        ));
    }
    let a = Arc::clone(&app);
    let tid = TenantId::new(&id);
    let removed = blocking(move || Ok(a.accounts.delete_tenant(&tid)?)).await?;
    app.sessions.clear();
    app.audit.mutation(
        &p,
        &rid.0,
        "tenant.delete",
        format!("tenant/{id}"),
        json!({"rows_removed": removed}),
    );
    Ok(axum::Json(replies::TenantDeleted {
        deleted: id,
        rows_removed: removed,
    }))
}

pub async fn own_tenant(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
) -> ApiResult<axum::Json<replies::OwnTenant>> {
    let tenant = p.tenant.clone();
    let (t, usage) = blocking(move || {
        let t = app.accounts.tenant(&tenant)?;
        let day = now_ms() - now_ms() % 86_400_000;
        let (today, active) = app.queue.counts(&tenant, day)?;
        let bytes = app.suites.stored_bytes(&tenant)?;
        Ok((
            t,
            replies::Usage {
                runs_today: today,
                runs_active: active,
                suite_bytes: bytes,
            },
        ))
    })
    .await?;
    Ok(axum::Json(replies::OwnTenant { tenant: t, usage }))
}

// ---- users ----

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub id: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub role: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    pub role: String,
}

pub async fn list_users(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
) -> ApiResult<axum::Json<replies::Users>> {
    let users = blocking(move || Ok(app.accounts.list_users(&p.tenant)?)).await?;
    Ok(axum::Json(replies::Users { users }))
}

pub async fn create_user(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    JsonBody(body): JsonBody<NewUser>,
) -> ApiResult<impl IntoResponse> {
    check_name("user", &body.id)?;
    if let Some(e) = &body.email
        && (e.len() > 254 || !e.contains('@'))
    {
        return Err(ApiError::bad_request("`email` is not an email address"));
    }
    if let Some(n) = &body.name {
        check_label("`name`", n)?;
    }
    role_exists(&app, &p.tenant, &body.role).await?;
    within(
        &app,
        &p,
        &body.role,
        &format!("giving a user the role `{}`", body.role),
    )
    .await?;
    let user = User {
        id: body.id.clone(),
        name: body.name.clone().unwrap_or_else(|| body.id.clone()),
        email: body.email.clone(),
        role: body.role.clone(),
        platform_admin: false,
        created_at: now_rfc3339(),
    };
    let (a, t, u) = (Arc::clone(&app), p.tenant.clone(), user.clone());
    blocking(move || Ok(a.accounts.create_user(&t, &u)?)).await?;
    app.sessions.clear();
    app.audit.send(
        app.audit
            .by(
                &p,
                action::PERMISSION_CHANGE,
                format!("user/{}", user.id),
                &rid.0,
            )
            .decision(Decision::Allow)
            .details(json!({"operation": "user.create", "role": user.role})),
    );
    Ok((StatusCode::CREATED, axum::Json(user)))
}

pub async fn get_user(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<User>> {
    let u = blocking(move || Ok(app.accounts.user(&p.tenant, &id)?)).await?;
    Ok(axum::Json(u))
}

pub async fn update_user(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<UserPatch>,
) -> ApiResult<axum::Json<User>> {
    role_exists(&app, &p.tenant, &body.role).await?;
    let current = user_role(&app, &p.tenant, &id).await?;
    within(
        &app,
        &p,
        &current,
        &format!("changing a user with the role `{current}`"),
    )
    .await?;
    within(
        &app,
        &p,
        &body.role,
        &format!("giving a user the role `{}`", body.role),
    )
    .await?;
    let (a, t, i, r) = (
        Arc::clone(&app),
        p.tenant.clone(),
        id.clone(),
        body.role.clone(),
    );
    let (before, user) = blocking(move || {
        let before = a.accounts.set_user_role(&t, &i, &r)?;
        Ok((before, a.accounts.user(&t, &i)?))
    })
    .await?;
    app.sessions.clear();
    app.audit.send(
        app.audit
            .by(&p, action::PERMISSION_CHANGE, format!("user/{id}"), &rid.0)
            .decision(Decision::Allow)
            .details(json!({"operation": "user.role", "from": before, "to": body.role})),
    );
    Ok(axum::Json(user))
}

pub async fn delete_user(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    if id == p.user {
        return Err(ApiError::new(Code::Conflict, "you cannot delete yourself"));
    }
    let current = user_role(&app, &p.tenant, &id).await?;
    within(
        &app,
        &p,
        &current,
        &format!("removing a user with the role `{current}`"),
    )
    .await?;
    let (a, t, i) = (Arc::clone(&app), p.tenant.clone(), id.clone());
    blocking(move || Ok(a.accounts.delete_user(&t, &i, &now_rfc3339())?)).await?;
    app.sessions.clear();
    app.audit.send(
        app.audit
            .by(&p, action::PERMISSION_CHANGE, format!("user/{id}"), &rid.0)
            .decision(Decision::Allow)
            .details(json!({"operation": "user.delete"})),
    );
    Ok(StatusCode::NO_CONTENT)
}

// ---- roles ----

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleBody {
    /// `resource:action` strings, e.g. `runs:read`.
    pub permissions: Vec<String>,
}

pub async fn list_roles(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
) -> ApiResult<axum::Json<replies::Roles>> {
    let custom = blocking(move || Ok(app.accounts.list_roles(&p.tenant)?)).await?;
    let builtin = rbac::BUILTIN.iter().map(|r| replies::Role {
        name: (*r).to_owned(),
        builtin: true,
        permissions: rbac::Grants::new(rbac::builtin(r).unwrap_or_default()).list(),
        created_at: None,
    });
    let custom = custom.into_iter().map(|r| replies::Role {
        name: r.name,
        builtin: false,
        permissions: r.permissions,
        created_at: Some(r.created_at),
    });
    Ok(axum::Json(replies::Roles {
        roles: builtin.chain(custom).collect(),
    }))
}

pub async fn put_role(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<RoleBody>,
) -> ApiResult<axum::Json<replies::Role>> {
    check_name("role", &name)?;
    if rbac::builtin(&name).is_some() {
        return Err(ApiError::new(
            Code::Conflict,
            format!("`{name}` is a built-in role and cannot be changed"),
        ));
    }
    let perms = rbac::parse_all(&body.permissions).map_err(ApiError::bad_request)?;
    let granted = rbac::Grants::new(perms);
    within_grants(&p, &granted, &format!("the role `{name}`"))?;
    // Changing a role changes what its holders may do: the caller must hold what it had too.
    within(&app, &p, &name, &format!("changing the role `{name}`")).await?;
    let normalised = granted.list();
    let role = CustomRole {
        name: name.clone(),
        permissions: normalised.clone(),
        created_at: now_rfc3339(),
    };
    let (a, t) = (Arc::clone(&app), p.tenant.clone());
    let before = blocking(move || Ok(a.accounts.put_role(&t, &role)?)).await?;
    app.sessions.clear();
    app.audit.send(
        app.audit
            .by(
                &p,
                action::PERMISSION_CHANGE,
                format!("role/{name}"),
                &rid.0,
            )
            .decision(Decision::Allow)
            .details(json!({"operation": "role.put", "from": before, "to": normalised})),
    );
    Ok(axum::Json(replies::Role {
        name,
        builtin: false,
        permissions: normalised,
        created_at: None,
    }))
}

pub async fn delete_role(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    if rbac::builtin(&name).is_some() {
        return Err(ApiError::new(
            Code::Conflict,
            format!("`{name}` is a built-in role"),
        ));
    }
    within(&app, &p, &name, &format!("removing the role `{name}`")).await?;
    let (a, t, n) = (Arc::clone(&app), p.tenant.clone(), name.clone());
    let before = blocking(move || Ok(a.accounts.delete_role(&t, &n)?)).await?;
    app.sessions.clear();
    app.audit.send(
        app.audit
            .by(
                &p,
                action::PERMISSION_CHANGE,
                format!("role/{name}"),
                &rid.0,
            )
            .decision(Decision::Allow)
            .details(json!({"operation": "role.delete", "from": before})),
    );
    Ok(StatusCode::NO_CONTENT)
}

// ---- keys ----

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    pub name: String,
    /// The user the key acts for (default: the caller).
    pub user: Option<String>,
    /// The key's role (default: the user's role).
    pub role: Option<String>,
    /// Lifetime in seconds (default: no expiry).
    pub expires_in_s: Option<u64>,
}

pub async fn list_keys(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
) -> ApiResult<axum::Json<replies::Keys>> {
    let keys = blocking(move || Ok(app.accounts.list_keys(&p.tenant)?)).await?;
    Ok(axum::Json(replies::Keys { keys }))
}

pub async fn create_key(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    JsonBody(body): JsonBody<NewKey>,
) -> ApiResult<impl IntoResponse> {
    check_label("`name`", &body.name)?;
    if body.name.len() > 100 {
        return Err(ApiError::bad_request("`name` must be 1-100 characters"));
    }
    let user = body.user.clone().unwrap_or_else(|| p.user.clone());
    check_name("user", &user)?;
    if let Some(role) = &body.role {
        role_exists(&app, &p.tenant, role).await?;
    }
    let expires_at = match body.expires_in_s {
        Some(s) if s == 0 || s > 10 * 365 * 86_400 => {
            return Err(ApiError::bad_request(
                "`expires_in_s` must be between 1 and 315360000",
            ));
        }
        Some(s) => Some(now_ms() + (s as i64) * 1000),
        None => None,
    };
    let owner = {
        let (a, t, u) = (Arc::clone(&app), p.tenant.clone(), user.clone());
        blocking(move || Ok(a.accounts.user(&t, &u)?)).await?
    };
    let role = body.role.clone().unwrap_or_else(|| owner.role.clone());
    // A key for another user acts as that user: only for one the caller could act as.
    if owner.id != p.user {
        within(
            &app,
            &p,
            &owner.role,
            &format!("a key for `{}` (role `{}`)", owner.id, owner.role),
        )
        .await?;
    }
    within(&app, &p, &role, &format!("a key with the role `{role}`")).await?;
    let (a, t, name) = (Arc::clone(&app), p.tenant.clone(), body.name.clone());
    let issuer = (owner.id != p.user).then(|| p.user.clone());
    let (key, token) = blocking(move || {
        issue_key(
            &a,
            &t,
            &owner.id,
            &name,
            &role,
            expires_at,
            issuer.as_deref(),
        )
    })
    .await?;
    app.sessions.clear();
    app.audit.send(
        app.audit
            .by(
                &p,
                action::PERMISSION_CHANGE,
                format!("key/{}", key.id),
                &rid.0,
            )
            .decision(Decision::Allow)
            .details(json!({"operation": "key.create", "user": key.user_id, "role": key.role})),
    );
    Ok((
        StatusCode::CREATED,
        axum::Json(replies::CreatedKey { key, token }),
    ))
}

pub async fn revoke_key(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<ApiKey>> {
    let (a, t, i) = (Arc::clone(&app), p.tenant.clone(), id.clone());
    let key = blocking(move || Ok(a.accounts.revoke_key(&t, &i, &now_rfc3339())?)).await?;
    app.sessions.clear();
    app.audit.send(
        app.audit
            .by(&p, action::PERMISSION_CHANGE, format!("key/{id}"), &rid.0)
            .decision(Decision::Allow)
            .details(json!({"operation": "key.revoke"})),
    );
    Ok(axum::Json(key))
}
