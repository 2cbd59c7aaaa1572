//! The dashboard: server-rendered pages over the same store, permissions and operations as
//! the API.
//!
//! Every page is an entry of [`pages`] naming the access it needs, exactly like the API's
//! route table; the router is built from that list and the middleware ([`guard`]) refuses
//! anything it does not list. A browser authenticates with a session cookie (begun with an API
//! key or through single sign-on, [`sign_in`]); the middleware resolves it to the same
//! [`Principal`] the API uses, checks the page's permission, and checks the CSRF token of
//! every form that changes something. Buttons call the API's own operations
//! (`runs::enqueue`, `runs::control`, `runs::delete`), so the dashboard can do nothing the
//! API would refuse. Under `gauntlet view` ([`Mode::Local`]) the caller is the local store's
//! owner and no sign-in is asked: the server listens on loopback only.

mod pages;
pub mod sign_in;

use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{MethodRouter, get, post};
use gauntlet_core::TenantId;

use crate::auth::Principal;
use crate::error::{ApiError, Code, RequestId};
use crate::rbac::{Action, Grants, Perm, Resource};
use crate::routes::Access;
use crate::{AppState, blocking};

/// How the dashboard is reached.
#[derive(Clone, Debug, Default)]
pub enum Mode {
    /// Under `gauntlet serve`: sign-in required.
    #[default]
    Server,
    /// Under `gauntlet view`: the local store of this tenant, no sign-in (loopback only).
    Local(TenantId),
}

#[derive(Clone, Debug)]
pub struct DashboardConfig {
    pub mode: Mode,
    /// How long a session lasts.
    pub session_ttl: std::time::Duration,
    /// Single sign-on through the OIDC issuer of `ServerConfig::oidc`.
    pub sso: Option<sign_in::SsoConfig>,
}

impl Default for DashboardConfig {
    fn default() -> DashboardConfig {
        DashboardConfig {
            mode: Mode::Server,
            session_ttl: std::time::Duration::from_secs(12 * 3600),
            sso: None,
        }
    }
}

/// The cookie that holds a session's secret.
pub const SESSION_COOKIE: &str = "gauntlet_session";

/// A page: method, path, the access it needs, the handler.
pub struct Page {
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
    pub handler: MethodRouter<AppState>,
}

const fn perm(r: Resource, a: Action) -> Access {
    Access::Perm(Perm(r, a))
}

/// Every page of the dashboard.
pub fn pages() -> Vec<Page> {
    use Access::{Authenticated, Public};
    use Action::{Delete, Execute, Read, Write};
    use Resource::{Runs, Suites, Users};
    let page = |method: Method, path, access, handler| Page {
        method,
        path,
        access,
        handler,
    };
    vec![
        page(Method::GET, "/assets/{file}", Public, get(pages::asset)),
        page(Method::GET, "/login", Public, get(sign_in::login_page)),
        page(Method::POST, "/login", Public, post(sign_in::login)),
        page(Method::GET, "/auth/sso", Public, get(sign_in::sso_start)),
        page(
            Method::GET,
            "/auth/callback",
            Public,
            get(sign_in::sso_callback),
        ),
        page(
            Method::POST,
            "/logout",
            Authenticated,
            post(sign_in::logout),
        ),
        page(Method::GET, "/", perm(Runs, Read), get(pages::runs)),
        page(
            Method::GET,
            "/runs/{run}",
            perm(Runs, Read),
            get(pages::run),
        ),
        page(
            Method::GET,
            "/runs/{run}/cases/{case}",
            perm(Runs, Read),
            get(pages::case),
        ),
        page(
            Method::GET,
            "/runs/{run}/cases/{case}/steps",
            perm(Runs, Read),
            get(pages::steps),
        ),
        page(
            Method::GET,
            "/runs/{run}/assertions",
            perm(Runs, Read),
            get(pages::assertions),
        ),
        page(
            Method::GET,
            "/compare",
            perm(Runs, Read),
            get(pages::compare),
        ),
        page(
            Method::GET,
            "/ui/runs/{run}/events",
            perm(Runs, Read),
            get(crate::runs::events),
        ),
        page(
            Method::POST,
            "/runs/{run}/cancel",
            perm(Suites, Execute),
            post(pages::cancel),
        ),
        page(
            Method::POST,
            "/runs/{run}/pause",
            perm(Suites, Execute),
            post(pages::pause),
        ),
        page(
            Method::POST,
            "/runs/{run}/resume",
            perm(Suites, Execute),
            post(pages::resume),
        ),
        page(
            Method::POST,
            "/runs/{run}/rerun",
            perm(Suites, Execute),
            post(pages::rerun),
        ),
        page(
            Method::POST,
            "/runs/{run}/replay",
            perm(Suites, Execute),
            post(pages::replay),
        ),
        page(
            Method::POST,
            "/runs/{run}/delete",
            perm(Runs, Delete),
            post(pages::delete),
        ),
        page(
            Method::GET,
            "/sessions",
            perm(Users, Write),
            get(sign_in::sessions),
        ),
        page(
            Method::POST,
            "/sessions/{session}/revoke",
            perm(Users, Write),
            post(sign_in::revoke),
        ),
    ]
}

/// The dashboard's router, to be merged with the API's.
pub fn router(state: AppState) -> axum::Router<AppState> {
    let (router, access) = crate::http::table_router(
        pages()
            .into_iter()
            .map(|p| (p.method, p.path, p.access, p.handler)),
    );
    router.layer(middleware::from_fn_with_state((state, access), guard))
}

/// What the pages know of the caller besides the principal.
#[derive(Clone, Debug)]
pub struct Visitor {
    pub csrf: Option<String>,
    /// The hash of the session, to mark it in the session list.
    pub session: Option<String>,
}

/// A page's answer when something goes wrong: the error as a page, with its status.
pub struct PageError(pub ApiError, pub Option<crate::auth::Principal>);

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> PageError {
        PageError(e, None)
    }
}

impl From<gauntlet_store::StoreError> for PageError {
    fn from(e: gauntlet_store::StoreError) -> PageError {
        PageError(e.into(), None)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = self.0.code.status();
        let chrome = gauntlet_web::Chrome {
            mode: gauntlet_web::Mode::Server,
            user: self.1.as_ref().map(|p| p.user.clone()),
            role: self.1.as_ref().map(|p| p.role.clone()),
            tenant: self.1.as_ref().map(|p| p.tenant.as_str().to_owned()),
            csrf: None,
            can: gauntlet_web::Can::default(),
        };
        let page = gauntlet_web::pages::auth::error(&chrome, status.as_u16(), &self.0.message);
        let mut r = (status, html(page)).into_response();
        if let Some(wait) = self.0.retry_after
            && let Ok(v) = HeaderValue::from_str(&wait.to_string())
        {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        r
    }
}

pub type PageResult<T> = Result<T, PageError>;

/// An HTML body with the headers every page carries.
pub fn html(body: String) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // Pages load only their own script and style; no frame may hold them.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
    );
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    r
}

/// A cookie's value from the request.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Whether the request reached the server by a loopback name (cookies need `Secure`
/// everywhere else).
pub fn loopback(headers: &HeaderMap) -> bool {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let name = match host.rsplit_once(':') {
        Some((h, port)) if !h.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    };
    matches!(name, "localhost" | "127.0.0.1" | "[::1]") || name.starts_with("127.")
}

/// Where to go after signing in: a path of this site only.
pub fn safe_next(next: &str) -> String {
    if next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && !next.contains(['\r', '\n'])
    {
        next.to_owned()
    } else {
        "/".to_owned()
    }
}

fn login_redirect(req: &Request) -> Response {
    let next = req.uri().path_and_query().map_or("/", |p| p.as_str());
    Redirect::to(&format!("/login?next={}", gauntlet_web::encode(next))).into_response()
}

/// The local store's owner, under `gauntlet view`.
fn local_principal(tenant: &TenantId) -> Principal {
    Principal {
        tenant: tenant.clone(),
        user: "local".into(),
        role: "admin".into(),
        grants: Grants::new(crate::rbac::builtin("admin").unwrap_or_default()),
        platform_admin: false,
        credential: "local".into(),
        issued_by: None,
    }
}

/// Largest form a page accepts.
const MAX_FORM: usize = 64 << 10;

/// Authentication by session cookie, CSRF on every POST, and the page's permission.
async fn guard(
    State((state, access)): State<(AppState, crate::http::AccessMap)>,
    req: Request,
    next: Next,
) -> Response {
    let Some(path) = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
    else {
        return next.run(req).await;
    };
    let Some(need) = access.need(req.method(), &path) else {
        return PageError::from(ApiError::new(
            Code::MethodNotAllowed,
            "this page does not take that method",
        ))
        .into_response();
    };
    if need == Access::Public {
        return next.run(req).await;
    }
    let (principal, visitor) = match &state.config.dashboard.mode {
        Mode::Local(tenant) => (
            local_principal(tenant),
            Visitor {
                csrf: None,
                session: None,
            },
        ),
        Mode::Server => match sign_in::resolve(&state, req.headers()).await {
            Ok(Some((p, v))) => (p, v),
            Ok(None) => {
                return if req.method() == Method::GET {
                    login_redirect(&req)
                } else {
                    PageError::from(ApiError::new(
                        Code::Unauthenticated,
                        "your session ended; sign in again",
                    ))
                    .into_response()
                };
            }
            Err(e) => return PageError::from(e).into_response(),
        },
    };
    let mut req = req;
    if req.method() == Method::POST {
        // A form from another site is refused by its origin, and by its token.
        if let Some(origin) = req
            .headers()
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok())
        {
            let host = req
                .headers()
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let origin_host = origin.split("://").nth(1).unwrap_or("");
            if origin_host != host {
                return PageError(
                    ApiError::new(Code::Forbidden, "the form came from another site"),
                    Some(principal),
                )
                .into_response();
            }
        }
        let (parts, body) = req.into_parts();
        let bytes = match axum::body::to_bytes(body, MAX_FORM).await {
            Ok(b) => b,
            Err(_) => {
                return PageError::from(ApiError::new(
                    Code::PayloadTooLarge,
                    "the form is too large",
                ))
                .into_response();
            }
        };
        if let Some(expected) = &visitor.csrf {
            let sent = form_value(&bytes, "csrf").unwrap_or_default();
            if !crate::auth::constant_time_eq(sent.as_bytes(), expected.as_bytes()) {
                return PageError(
                    ApiError::new(Code::Forbidden, "the form's security token is missing or stale; reload the page and try again"),
                    Some(principal),
                )
                .into_response();
            }
        }
        req = Request::from_parts(parts, axum::body::Body::from(bytes));
    }
    let rid = req
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    if let Err(e) = crate::http::permitted(&state, &principal, need, req.method(), &path, &rid) {
        return PageError(e, Some(principal)).into_response();
    }
    req.extensions_mut().insert(principal);
    req.extensions_mut().insert(visitor);
    next.run(req).await
}

/// One field of a URL-encoded form.
pub fn form_value(body: &[u8], name: &str) -> Option<String> {
    std::str::from_utf8(body)
        .ok()?
        .split('&')
        .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
        .find(|(k, _)| decode(k) == name)
        .map(|(_, v)| decode(v))
}

/// Percent-decoding of a form value (`+` is a space).
pub fn decode(v: &str) -> String {
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The chrome of a page for this caller.
pub fn chrome(state: &AppState, p: &Principal, v: &Visitor) -> gauntlet_web::Chrome {
    gauntlet_web::Chrome {
        mode: match state.config.dashboard.mode {
            Mode::Local(_) => gauntlet_web::Mode::Local,
            Mode::Server => gauntlet_web::Mode::Server,
        },
        user: Some(p.user.clone()),
        role: Some(p.role.clone()),
        tenant: Some(p.tenant.as_str().to_owned()),
        csrf: v.csrf.clone(),
        can: gauntlet_web::Can {
            // Starting and steering runs is `suites:execute`, as in the API.
            execute: p.grants.allows(Perm(Resource::Suites, Action::Execute)),
            delete: p.grants.allows(Perm(Resource::Runs, Action::Delete)),
            manage_sessions: matches!(state.config.dashboard.mode, Mode::Server)
                && p.grants.allows(Perm(Resource::Users, Action::Write)),
        },
    }
}

/// A run's queue state, if the server started it.
pub(crate) async fn job_state(
    state: &AppState,
    p: &Principal,
    id: &str,
) -> PageResult<Option<gauntlet_store::queue::Job>> {
    let (a, t, i) = (Arc::clone(state), p.tenant.clone(), id.to_owned());
    Ok(blocking(move || match a.queue.get(&t, &i) {
        Ok(j) => Ok(Some(j)),
        Err(gauntlet_store::StoreError::NotFound(_)) => Ok(None),
        Err(e) => Err(e.into()),
    })
    .await?)
}

pub(crate) fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_owned())]).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_decode_like_browsers_send_them() {
        assert_eq!(
            form_value(b"a=1&csrf=x%2By+z&b", "csrf").as_deref(),
            Some("x+y z")
        );
        assert_eq!(form_value(b"b", "b").as_deref(), Some(""));
        assert_eq!(decode("%zz%4"), "%zz%4");
    }

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(safe_next("/runs/1?x=2"), "/runs/1?x=2");
        assert_eq!(safe_next("//evil.example"), "/");
        assert_eq!(safe_next("https://evil.example"), "/");
        assert_eq!(safe_next("/\\evil"), "/");
    }
}
