//! The router and the middleware every request passes through.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use gauntlet_audit::Decision;

use crate::audit::action;
use crate::auth::{self, Principal};
use crate::error::{ApiError, Code, REQUEST_ID, RequestId};
use crate::rbac::{self, Grants};
use crate::routes::{self, Access};
use crate::{AppState, blocking, now_ms};

/// The access of every (method, path template), from a table of routes or pages.
#[derive(Clone)]
pub(crate) struct AccessMap(Arc<HashMap<(Method, &'static str), Access>>);

impl AccessMap {
    /// The access a (method, path template) needs; `None` if the table does not list it.
    pub(crate) fn need(&self, method: &Method, path: &str) -> Option<Access> {
        self.0
            .iter()
            .find(|((m, p), _)| m == method && *p == path)
            .map(|(_, a)| *a)
    }
}

/// A router from (method, path, access, handler) entries, and the access map its guard
/// checks: the API's route table and the dashboard's pages are both built here.
pub(crate) fn table_router(
    entries: impl IntoIterator<Item = (Method, &'static str, Access, MethodRouter<AppState>)>,
) -> (axum::Router<AppState>, AccessMap) {
    let mut access = HashMap::new();
    let mut by_path: Vec<(&'static str, MethodRouter<AppState>)> = Vec::new();
    for (method, path, need, handler) in entries {
        access.insert((method, path), need);
        match by_path.iter_mut().find(|(p, _)| *p == path) {
            Some((_, mr)) => *mr = std::mem::take(mr).merge(handler),
            None => by_path.push((path, handler)),
        }
    }
    let mut router = axum::Router::new();
    for (path, mr) in by_path {
        router = router.route(path, mr);
    }
    (router, AccessMap(Arc::new(access)))
}

/// Whether the principal holds what `need` asks; if not, the denial is audited and the answer
/// says which permission was missing.
pub(crate) fn permitted(
    state: &AppState,
    principal: &Principal,
    need: Access,
    method: &Method,
    path: &str,
    request_id: &str,
) -> Result<(), ApiError> {
    let allowed = match need {
        Access::Public | Access::Authenticated => true,
        Access::Platform => principal.platform_admin,
        Access::Perm(p) => principal.grants.allows(p),
    };
    if allowed {
        return Ok(());
    }
    let needed = match need {
        Access::Perm(p) => p.to_string(),
        _ => "platform administration".to_owned(),
    };
    state.audit.send(
        state
            .audit
            .by(
                principal,
                action::AUTHZ_DENY,
                format!("{method} {path}"),
                request_id,
            )
            .decision(Decision::Deny)
            .reason(format!("role `{}` lacks {needed}", principal.role)),
    );
    Err(ApiError::new(
        Code::Forbidden,
        format!("your role `{}` does not grant {needed}", principal.role),
    )
    .details(serde_json::json!({ "required": needed })))
}

pub fn router(state: AppState) -> axum::Router {
    let (router, access) = table_router(
        routes::table()
            .into_iter()
            .map(|r| (r.method, r.path, r.access, r.handler)),
    );
    router
        // Layers run bottom-up: the last added sees the request first.
        .layer(middleware::from_fn_with_state(
            (Arc::clone(&state), access),
            authorize,
        ))
        // The dashboard's pages, behind their own guard (sessions, CSRF, the same grants).
        .merge(crate::dashboard::router(Arc::clone(&state)))
        .fallback(|| async { ApiError::new(Code::NotFound, "no such endpoint") })
        .layer(middleware::from_fn_with_state(Arc::clone(&state), observe))
        .layer(axum::extract::DefaultBodyLimit::max(
            state.config.max_body_bytes,
        ))
        .with_state(state)
}

/// A worker's operational endpoints: `/healthz`, `/readyz` (the database at the current
/// migration, and not draining) and `/metrics`, with no sign-in (bind them to the pod's
/// network, not a public one).
pub fn ops_router(state: AppState) -> axum::Router {
    use axum::routing::get;
    axum::Router::new()
        .route("/healthz", get(crate::handlers::healthz))
        .route("/readyz", get(crate::handlers::readyz))
        .route("/metrics", get(crate::handlers::metrics))
        .fallback(|| async { ApiError::new(Code::NotFound, "no such endpoint") })
        .with_state(state)
}

/// The dashboard alone, with the request id and metrics every request gets.
pub fn dashboard_only(state: AppState) -> axum::Router {
    crate::dashboard::router(Arc::clone(&state))
        .fallback(|| async {
            crate::dashboard::PageError::from(ApiError::new(Code::NotFound, "no such page"))
        })
        .layer(middleware::from_fn_with_state(Arc::clone(&state), observe))
        .with_state(state)
}

fn request_id(headers: &HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map(str::to_owned)
        .unwrap_or_else(|| auth::random_hex(12).unwrap_or_else(|_| format!("{:x}", now_ms())))
}

/// Request id, metrics, and the uniform shape of every error (including axum's own rejections
/// and the body limit, which answer in plain text).
async fn observe(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request_id(req.headers());
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    req.extensions_mut().insert(RequestId(id.clone()));
    let mut response = REQUEST_ID
        .scope(id.clone(), async move {
            let response = next.run(req).await;
            uniform(response).await
        })
        .await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", v);
    }
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
        // The rest of the body was never read, so the connection cannot carry another request;
        // saying so keeps clients from reusing it and failing their next request.
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    state.metrics.request(
        method.as_str(),
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// Rewrites an error response that is not already the uniform JSON body.
async fn uniform(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        // The dashboard's error pages are already what a browser should show.
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/html"));
    if is_json {
        return response;
    }
    let code = match status {
        StatusCode::BAD_REQUEST => Code::BadRequest,
        StatusCode::UNAUTHORIZED => Code::Unauthenticated,
        StatusCode::FORBIDDEN => Code::Forbidden,
        StatusCode::NOT_FOUND => Code::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => Code::MethodNotAllowed,
        StatusCode::CONFLICT => Code::Conflict,
        StatusCode::PAYLOAD_TOO_LARGE => Code::PayloadTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => Code::UnsupportedMediaType,
        StatusCode::UNPROCESSABLE_ENTITY => Code::BadRequest,
        StatusCode::TOO_MANY_REQUESTS => Code::RateLimited,
        StatusCode::SERVICE_UNAVAILABLE => Code::Unavailable,
        _ if status.is_client_error() => Code::BadRequest,
        _ => Code::Internal,
    };
    let text = axum::body::to_bytes(response.into_body(), 64 << 10)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let message = if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("request failed")
            .to_owned()
    } else {
        text
    };
    let mut e = ApiError::new(code, message);
    if code == Code::BadRequest && status == StatusCode::UNPROCESSABLE_ENTITY {
        e.message = format!("the body does not match the expected shape: {}", e.message);
    }
    let mut r = e.into_response();
    if status == StatusCode::UNPROCESSABLE_ENTITY {
        *r.status_mut() = StatusCode::BAD_REQUEST;
    }
    r
}

/// The client's address: the connection's peer, or, when the operator trusts a proxy in
/// front (`--trust-forwarded-for`), the first address of `X-Forwarded-For`.
pub(crate) fn client_address(req: &Request, trust_forwarded_for: bool) -> String {
    if trust_forwarded_for
        && let Some(first) = req
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|a| a.trim().parse::<std::net::IpAddr>().ok())
    {
        return first.to_string();
    }
    req.extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map_or_else(|| "unknown".to_owned(), |c| c.0.ip().to_string())
}

fn credential(headers: &HeaderMap) -> Option<&str> {
    if let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let (scheme, token) = v.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then_some(token.trim());
    }
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// Authentication, rate limiting and authorisation. Public routes pass; a (method, path) the
/// table does not list is refused; everything else needs a valid credential whose role
/// grants the route's permission.
async fn authorize(
    State((state, access)): State<(AppState, AccessMap)>,
    mut req: Request,
    next: Next,
) -> Response {
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    let Some(path) = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
    else {
        return next.run(req).await;
    };
    let Some(need) = access.need(req.method(), &path) else {
        // The path exists but not with this method (or the route bypassed the table).
        let methods = access
            .0
            .keys()
            .filter(|(_, p)| *p == path)
            .map(|(m, _)| m.as_str())
            .collect::<Vec<_>>();
        return if methods.is_empty() {
            ApiError::new(Code::Forbidden, "this endpoint declares no permission").into_response()
        } else {
            let mut r = ApiError::new(
                Code::MethodNotAllowed,
                format!(
                    "{} is not allowed here; use {}",
                    req.method(),
                    methods.join(", ")
                ),
            )
            .into_response();
            if let Ok(v) = HeaderValue::from_str(&methods.join(", ")) {
                r.headers_mut().insert(header::ALLOW, v);
            }
            r
        };
    };
    if need == Access::Public {
        return next.run(req).await;
    }
    // Before any credential is looked at: an address that keeps failing waits.
    let address = client_address(&req, state.config.trust_forwarded_for);
    if let Some(wait) = state.auth_failures.exhausted(&address) {
        return ApiError::new(
            Code::RateLimited,
            format!("too many failed authentications from this address; retry in {wait} s"),
        )
        .retry_after(wait)
        .into_response();
    }
    let principal = match authenticate(&state, req.headers(), &request_id, &address).await {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    if let Err(wait) = state.limiter.check(&principal.credential) {
        return ApiError::new(
            Code::RateLimited,
            format!("too many requests for this credential; retry in {wait} s"),
        )
        .retry_after(wait)
        .into_response();
    }
    if let Err(e) = permitted(&state, &principal, need, req.method(), &path, &request_id) {
        return e.into_response();
    }
    req.extensions_mut().insert(principal);
    next.run(req).await
}

pub(crate) async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    request_id: &str,
    address: &str,
) -> Result<Principal, ApiError> {
    // Each failure spends one of the address's tokens and is counted for the audit log.
    let fail = |reason: &str, subject: &str, tenant: &str| {
        let _ = state.auth_failures.check(address);
        state
            .audit
            .auth_failure(tenant, subject, address, reason, request_id);
        ApiError::new(Code::Unauthenticated, reason.to_owned())
    };
    let Some(token) = credential(headers) else {
        return Err(fail(
            "no credentials: send `Authorization: Bearer <API key>`",
            "none",
            "",
        ));
    };
    let digest = auth::sha256_hex(token);
    if let Some(p) = state.sessions.get(&digest, now_ms()) {
        return Ok(p);
    }
    let Some(id) = auth::key_id(token).map(str::to_owned) else {
        return match &state.jwks {
            Some(jwks) if token.split('.').count() == 3 => {
                let verified = jwks
                    .verify(token)
                    .await
                    .map_err(|reason| fail(&reason, "jwt", ""))?;
                let expires_at = verified.expires_at;
                let p = jwt_principal(state, verified, request_id)
                    .await
                    .map_err(|reason| fail(&reason, "jwt", ""))?;
                state.sessions.put(digest, p.clone(), expires_at);
                Ok(p)
            }
            _ => Err(fail(
                "the credential is not a Gauntlet API key",
                "malformed",
                "",
            )),
        };
    };
    let app = Arc::clone(state);
    let found = blocking(move || Ok(app.accounts.key_for_auth(&id)?)).await?;
    let Some(rec) = found else {
        return Err(fail("unknown API key", "unknown", ""));
    };
    let subject = format!("key:{}", rec.key.id);
    // The key's tenant sees the failures against its keys.
    let tenant = rec.tenant.as_str();
    if !auth::constant_time_eq(digest.as_bytes(), rec.secret_hash.as_bytes()) {
        return Err(fail("unknown API key", &subject, tenant));
    }
    if rec.key.revoked_at.is_some() {
        return Err(fail("the API key was revoked", &subject, tenant));
    }
    if rec.key.expires_at.is_some_and(|t| t <= now_ms()) {
        return Err(fail("the API key has expired", &subject, tenant));
    }
    // A key acts with the smaller of its own role and its user's current role: demoting the
    // user demotes every key they hold at once.
    let grants = grants_of(state, &rec.tenant, &rec.key.role)
        .await?
        .intersect(&grants_of(state, &rec.tenant, &rec.user_role).await?);
    let principal = Principal {
        tenant: rec.tenant,
        user: rec.key.user_id.clone(),
        role: rec.key.role.clone(),
        grants,
        platform_admin: rec.platform_admin,
        credential: subject.clone(),
        issued_by: rec.key.issued_by.clone(),
    };
    state.audit.send(
        state
            .audit
            .by(
                &principal,
                action::AUTH_SUCCESS,
                format!("credential/{subject}"),
                request_id,
            )
            .decision(Decision::Allow),
    );
    state
        .sessions
        .put(digest, principal.clone(), rec.key.expires_at);
    Ok(principal)
}

/// The caller a verified JWT names: the stored user (by subject, then email), else the
/// token's role claim if the tenant has that role.
async fn jwt_principal(
    state: &AppState,
    v: crate::jwt::Verified,
    request_id: &str,
) -> Result<Principal, String> {
    let Some(tenant_name) = v.tenant.clone() else {
        return Err(format!(
            "the token lacks the `{}` claim",
            state
                .jwks
                .as_ref()
                .map_or("gauntlet_tenant", |j| j.config.tenant_claim.as_str())
        ));
    };
    let tenant = gauntlet_core::TenantId::new(&tenant_name);
    let (app, t, sub, email) = (
        Arc::clone(state),
        tenant.clone(),
        v.subject.clone(),
        v.email.clone(),
    );
    let user = blocking(move || {
        app.accounts.tenant(&t)?;
        match app.accounts.user(&t, &sub) {
            Ok(u) => Ok(Some(u)),
            Err(gauntlet_store::StoreError::NotFound(_)) => match email {
                Some(e) => Ok(app.accounts.user_by_email(&t, &e)?),
                None => Ok(None),
            },
            Err(e) => Err(e.into()),
        }
    })
    .await
    .map_err(|e| match e.code {
        Code::NotFound => format!("the token's tenant `{tenant_name}` does not exist"),
        _ => e.message,
    })?;
    let (user, role, platform_admin) = match user {
        Some(u) => (u.id, u.role, u.platform_admin),
        None => {
            // A deleted user's token does not fall back to its role claim.
            let (app, t, sub) = (Arc::clone(state), tenant.clone(), v.subject.clone());
            let deleted = blocking(move || Ok(app.accounts.is_deleted_user(&t, &sub)?))
                .await
                .map_err(|e| e.message)?;
            if deleted {
                return Err(format!(
                    "the token's subject `{}` is a deleted user of tenant `{tenant_name}`",
                    v.subject
                ));
            }
            let Some(role) = v.role.clone() else {
                return Err(format!(
                    "no user of tenant `{tenant_name}` matches the token's subject or email, and it names no role"
                ));
            };
            let known = rbac::builtin(&role).is_some() || {
                let (app, t, r) = (Arc::clone(state), tenant.clone(), role.clone());
                blocking(move || Ok(app.accounts.role(&t, &r)?.is_some()))
                    .await
                    .unwrap_or(false)
            };
            if !known {
                return Err(format!(
                    "the token's role `{role}` is not a role of tenant `{tenant_name}`"
                ));
            }
            (v.subject.clone(), role, false)
        }
    };
    let grants = grants_of(state, &tenant, &role)
        .await
        .map_err(|e| e.message)?;
    let principal = Principal {
        tenant,
        user,
        role,
        grants,
        platform_admin,
        credential: format!("jwt:{}", v.subject),
        issued_by: None,
    };
    state.audit.send(
        state
            .audit
            .by(
                &principal,
                action::AUTH_SUCCESS,
                format!("credential/{}", principal.credential),
                request_id,
            )
            .decision(Decision::Allow),
    );
    Ok(principal)
}

/// A role's permissions: built in, or the tenant's custom role (none if it was deleted).
pub(crate) async fn grants_of(
    state: &AppState,
    tenant: &gauntlet_core::TenantId,
    role: &str,
) -> Result<Grants, ApiError> {
    if let Some(perms) = rbac::builtin(role) {
        return Ok(Grants::new(perms));
    }
    let (app, tenant, role) = (Arc::clone(state), tenant.clone(), role.to_owned());
    let custom = blocking(move || Ok(app.accounts.role(&tenant, &role)?)).await?;
    Ok(Grants::new(
        custom
            .map(|r| {
                r.permissions
                    .iter()
                    .filter_map(|p| rbac::Perm::parse(p))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default(),
    ))
}

/// A token bucket per credential.
pub struct RateLimiter {
    per_s: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    pub fn new(per_s: u32) -> RateLimiter {
        RateLimiter {
            per_s: f64::from(per_s.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Without taking one: how many seconds until `who` has a token again, if it has none.
    pub fn exhausted(&self, who: &str) -> Option<u64> {
        let burst = self.per_s * 2.0;
        let now = Instant::now();
        let map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let (tokens, at) = map.get(who)?;
        let tokens = (tokens + now.duration_since(*at).as_secs_f64() * self.per_s).min(burst);
        (tokens < 1.0).then(|| ((1.0 - tokens) / self.per_s).ceil().max(1.0) as u64)
    }

    /// Takes a token, or says how many seconds until one is free.
    pub fn check(&self, who: &str) -> Result<(), u64> {
        let burst = self.per_s * 2.0;
        let now = Instant::now();
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 100_000 {
            map.retain(|_, (_, at)| now.duration_since(*at).as_secs() < 60);
        }
        let (tokens, at) = map.entry(who.to_owned()).or_insert((burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * self.per_s).min(burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) / self.per_s).ceil().max(1.0) as u64)
        }
    }
}

/// A JSON body, with axum's rejections turned into the uniform error.
pub struct JsonBody<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> axum::extract::FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        use axum::extract::rejection::JsonRejection as J;
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(JsonBody(v)),
            Err(J::MissingJsonContentType(_)) => Err(ApiError::new(
                Code::UnsupportedMediaType,
                "send the body as JSON with `Content-Type: application/json`",
            )),
            Err(J::BytesRejection(e)) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::new(
                    Code::PayloadTooLarge,
                    "the body is larger than the server accepts",
                ))
            }
            Err(e) => Err(ApiError::bad_request(e.body_text())),
        }
    }
}
