//! Signing in to the dashboard: with an API key, or by single sign-on (OpenID Connect
//! authorisation code flow with PKCE; state and nonce checked), with just-in-time users and
//! group-to-role mapping. Sessions, logout, and revocation by an administrator.
//!
//! A session acts as its user with the user's role as it is now (a demotion or deletion bites
//! at the next request), capped by the key's role when it began with a key (and ended when
//! that key is revoked). The cookie is `HttpOnly`, `SameSite=Lax`, and `Secure` unless the
//! browser reached the server by a loopback name.

use std::sync::Arc;

use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use base64::Engine;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{
    PageError, PageResult, SESSION_COOKIE, Visitor, chrome, cookie, html, loopback, safe_next,
    see_other,
};
use crate::auth::{self, Principal};
use crate::error::{ApiError, Code, RequestId};
use crate::{AppState, blocking, now_ms};
use gauntlet_store::web::{Login, Session};

/// Single sign-on through the server's OIDC issuer.
#[derive(Clone, Debug)]
pub struct SsoConfig {
    pub client_id: String,
    pub client_secret: Option<String>,
    /// This server's callback as the issuer knows it: `https://gauntlet.example/auth/callback`.
    pub redirect_url: String,
    /// The claim listing the user's groups.
    pub groups_claim: String,
    /// Group → role, first match wins.
    pub group_roles: Vec<(String, String)>,
    /// The role of a new user whose groups map to none (`None`: such a user is refused).
    pub default_role: Option<String>,
    /// The tenant of users whose token names none.
    pub tenant: Option<String>,
}

/// The cookie binding a sign-in under way to the browser that began it.
const LOGIN_COOKIE: &str = "gauntlet_login";
/// How long a sign-in may take at the issuer.
const LOGIN_TTL_MS: i64 = 10 * 60 * 1000;

fn random_token() -> Result<String, ApiError> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(ApiError::internal)?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b))
}

fn set_cookie(headers: &HeaderMap, name: &str, value: &str, max_age_s: i64) -> HeaderValue {
    let secure = if loopback(headers) { "" } else { "; Secure" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_s}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn user_agent(headers: &HeaderMap) -> String {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.chars().take(200).collect())
        .unwrap_or_default()
}

fn address(
    headers: &HeaderMap,
    peer: Option<std::net::SocketAddr>,
    trust_forwarded: bool,
) -> String {
    if trust_forwarded
        && let Some(first) = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|a| a.trim().parse::<std::net::IpAddr>().ok())
    {
        return first.to_string();
    }
    peer.map_or_else(|| "unknown".to_owned(), |p| p.ip().to_string())
}

/// The session a request's cookie names, resolved to its principal; `None` when there is no
/// valid session.
pub(super) async fn resolve(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<(Principal, Visitor)>, ApiError> {
    let Some(secret) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let hash = auth::sha256_hex(secret);
    let (a, h) = (Arc::clone(state), hash.clone());
    let now = now_ms();
    let found = blocking(move || {
        let Some(s) = a.web.by_hash(&h)? else {
            return Ok(None);
        };
        if s.revoked_at.is_some() || s.expires_at <= now {
            return Ok(None);
        }
        // The user as they are now: a deleted user has no session.
        let user = match a.accounts.user(&s.tenant, &s.user) {
            Ok(u) => u,
            Err(gauntlet_store::StoreError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let key = match &s.key_id {
            Some(k) => match a.accounts.key(&s.tenant, k) {
                Ok(key) if key.revoked_at.is_none() && key.expires_at.is_none_or(|t| t > now) => {
                    Some(key)
                }
                Ok(_) | Err(gauntlet_store::StoreError::NotFound(_)) => return Ok(None),
                Err(e) => return Err(e.into()),
            },
            None => None,
        };
        Ok(Some((s, user, key)))
    })
    .await?;
    let Some((s, user, key)) = found else {
        return Ok(None);
    };
    let mut grants = crate::http::grants_of(state, &s.tenant, &user.role).await?;
    let mut role = user.role.clone();
    if let Some(k) = &key {
        grants = grants.intersect(&crate::http::grants_of(state, &s.tenant, &k.role).await?);
        role = k.role.clone();
    }
    let principal = Principal {
        tenant: s.tenant.clone(),
        user: user.id.clone(),
        role,
        grants,
        platform_admin: user.platform_admin,
        credential: format!("session:{}", &hash[..12]),
        issued_by: key.and_then(|k| k.issued_by),
    };
    Ok(Some((
        principal,
        Visitor {
            csrf: Some(s.csrf),
            session: Some(hash),
        },
    )))
}

/// Who a new session is for.
struct Holder {
    tenant: gauntlet_core::TenantId,
    user: String,
    /// The API key it begins with.
    key_id: Option<String>,
    method: &'static str,
}

/// Begins a session for a signed-in user and answers with its cookie and where to go.
async fn begin(
    state: &AppState,
    headers: &HeaderMap,
    peer: Option<std::net::SocketAddr>,
    who: Holder,
    next: &str,
) -> Result<Response, ApiError> {
    let secret = random_token()?;
    let now = now_ms();
    let ttl = state.config.dashboard.session_ttl.as_millis() as i64;
    let session = Session {
        id: auth::sha256_hex(&secret),
        tenant: who.tenant,
        user: who.user,
        key_id: who.key_id,
        method: who.method.to_owned(),
        csrf: random_token()?,
        address: address(headers, peer, state.config.trust_forwarded_for),
        user_agent: user_agent(headers),
        created_at: now,
        expires_at: now + ttl,
        revoked_at: None,
    };
    let (a, s) = (Arc::clone(state), session.clone());
    blocking(move || Ok(a.web.create(&s)?)).await?;
    let mut r = see_other(&safe_next(next));
    let h = r.headers_mut();
    h.append(
        header::SET_COOKIE,
        set_cookie(headers, SESSION_COOKIE, &secret, ttl / 1000),
    );
    h.append(header::SET_COOKIE, set_cookie(headers, LOGIN_COOKIE, "", 0));
    Ok(r)
}

fn anonymous(state: &AppState) -> gauntlet_web::Chrome {
    let mut c = chrome(
        state,
        &Principal {
            tenant: gauntlet_core::TenantId::new(""),
            user: String::new(),
            role: String::new(),
            grants: crate::rbac::Grants::default(),
            platform_admin: false,
            credential: String::new(),
            issued_by: None,
        },
        &Visitor {
            csrf: None,
            session: None,
        },
    );
    c.user = None;
    c
}

fn login_form(state: &AppState, error: Option<&str>, next: &str, status: u16) -> Response {
    let page = gauntlet_web::pages::auth::login(
        &anonymous(state),
        error,
        state.config.dashboard.sso.is_some() && state.jwks.is_some(),
        &safe_next(next),
    );
    let mut r = html(page);
    *r.status_mut() =
        axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::OK);
    r
}

pub async fn login_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> PageResult<Response> {
    let next = q.get("next").cloned().unwrap_or_else(|| "/".into());
    if matches!(state.config.dashboard.mode, super::Mode::Local(_))
        || resolve(&state, &headers).await?.is_some()
    {
        return Ok(see_other(&safe_next(&next)));
    }
    Ok(login_form(
        &state,
        q.get("error").map(String::as_str),
        &next,
        200,
    ))
}

/// Signs in with an API key: checked exactly as the API checks it (the same failure limits and
/// audit events), then exchanged for a session.
pub async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    connect: Option<Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    Extension(rid): Extension<RequestId>,
    body: axum::body::Bytes,
) -> PageResult<Response> {
    let key = super::form_value(&body, "key").unwrap_or_default();
    let next = super::form_value(&body, "next").unwrap_or_else(|| "/".into());
    let peer = connect.map(|c| c.0.0);
    let addr = address(&headers, peer, state.config.trust_forwarded_for);
    if let Some(wait) = state.auth_failures.exhausted(&addr) {
        return Err(ApiError::new(
            Code::RateLimited,
            format!("too many failed sign-ins from this address; retry in {wait} s"),
        )
        .retry_after(wait)
        .into());
    }
    if auth::key_id(key.trim()).is_none() {
        let _ = state.auth_failures.check(&addr);
        return Ok(login_form(
            &state,
            Some("That is not a Gauntlet API key (they begin with gnt_)."),
            &next,
            401,
        ));
    }
    let mut h = HeaderMap::new();
    let bearer = HeaderValue::from_str(&format!("Bearer {}", key.trim()))
        .map_err(|_| ApiError::bad_request("the key holds characters a key cannot"))?;
    h.insert(header::AUTHORIZATION, bearer);
    let principal = match crate::http::authenticate(&state, &h, &rid.0, &addr).await {
        Ok(p) => p,
        Err(e) => return Ok(login_form(&state, Some(&e.message), &next, 401)),
    };
    let key_id = principal.credential.strip_prefix("key:").map(str::to_owned);
    state.audit.mutation(
        &principal,
        &rid.0,
        "session.begin",
        "session".to_owned(),
        json!({"method": "key"}),
    );
    let who = Holder {
        tenant: principal.tenant,
        user: principal.user,
        key_id,
        method: "key",
    };
    Ok(begin(&state, &headers, peer, who, &next).await?)
}

pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    Extension(p): Extension<Principal>,
    Extension(v): Extension<Visitor>,
    Extension(rid): Extension<RequestId>,
) -> PageResult<Response> {
    if let Some(hash) = v.session {
        let (a, t) = (Arc::clone(&state), p.tenant.clone());
        blocking(move || Ok(a.web.revoke(&t, &hash, now_ms())?)).await?;
        state
            .audit
            .mutation(&p, &rid.0, "session.end", "session".to_owned(), Value::Null);
    }
    let mut r = see_other("/login");
    r.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&headers, SESSION_COOKIE, "", 0),
    );
    Ok(r)
}

fn sso_of(state: &AppState) -> Result<(&SsoConfig, &crate::jwt::Jwks), ApiError> {
    match (&state.config.dashboard.sso, &state.jwks) {
        (Some(s), Some(j)) => Ok((s, j)),
        _ => Err(ApiError::new(
            Code::NotFound,
            "single sign-on is not configured on this server (see `gauntlet serve --help`, --oidc-client-id)",
        )),
    }
}

/// The issuer's endpoints, from its discovery document.
async fn discover(state: &AppState, issuer: &str) -> Result<(String, String), ApiError> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let doc: Value = state
        .sso_http
        .get(&url)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| {
            ApiError::new(
                Code::Unavailable,
                format!("the sign-in provider's discovery document is unavailable: {e}"),
            )
        })?
        .json()
        .await
        .map_err(|e| {
            ApiError::new(
                Code::Unavailable,
                format!("the sign-in provider's discovery document is not JSON: {e}"),
            )
        })?;
    let field = |name: &str| {
        doc.get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| {
                ApiError::new(
                    Code::Unavailable,
                    format!("the sign-in provider's discovery document has no `{name}`"),
                )
            })
    };
    Ok((field("authorization_endpoint")?, field("token_endpoint")?))
}

pub async fn sso_start(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> PageResult<Response> {
    let (sso, jwks) = sso_of(&state)?;
    let (authorize, _) = discover(&state, &jwks.config.issuer).await?;
    let (login_state, nonce, verifier) = (random_token()?, random_token()?, random_token()?);
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    let login = Login {
        state: login_state.clone(),
        nonce: nonce.clone(),
        verifier,
        return_to: safe_next(q.get("next").map_or("/", String::as_str)),
        expires_at: now_ms() + LOGIN_TTL_MS,
    };
    let a = Arc::clone(&state);
    blocking(move || Ok(a.web.begin_login(&login)?)).await?;
    let e = gauntlet_web::encode;
    let url = format!(
        "{authorize}{sep}response_type=code&client_id={}&redirect_uri={}&scope=openid%20email%20profile&state={}&nonce={}&code_challenge={}&code_challenge_method=S256",
        e(&sso.client_id),
        e(&sso.redirect_url),
        e(&login_state),
        e(&nonce),
        e(&challenge),
        sep = if authorize.contains('?') { "&" } else { "?" },
    );
    let mut r = see_other(&url);
    r.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&headers, LOGIN_COOKIE, &login_state, LOGIN_TTL_MS / 1000),
    );
    Ok(r)
}

fn refused(state: &AppState, message: &str) -> Response {
    login_form(state, Some(message), "/", 401)
}

pub async fn sso_callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    connect: Option<Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    Extension(rid): Extension<RequestId>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> PageResult<Response> {
    let (sso, jwks) = sso_of(&state)?;
    if let Some(err) = q.get("error") {
        let why = q
            .get("error_description")
            .map_or(err.as_str(), String::as_str);
        return Ok(refused(
            &state,
            &format!("The sign-in provider refused: {why}"),
        ));
    }
    let (Some(code), Some(st)) = (q.get("code"), q.get("state")) else {
        return Ok(refused(
            &state,
            "The sign-in provider's answer has no code or state.",
        ));
    };
    // The state must be the one this browser began with, and unused.
    if cookie(&headers, LOGIN_COOKIE) != Some(st.as_str()) {
        return Ok(refused(
            &state,
            "This sign-in was not begun in this browser; start again.",
        ));
    }
    let (a, s) = (Arc::clone(&state), st.clone());
    let Some(login) = blocking(move || Ok(a.web.take_login(&s, now_ms())?)).await? else {
        return Ok(refused(
            &state,
            "This sign-in expired or was already used; start again.",
        ));
    };
    let (_, token_url) = discover(&state, &jwks.config.issuer).await?;
    let mut form = vec![
        ("grant_type", "authorization_code".to_owned()),
        ("code", code.clone()),
        ("redirect_uri", sso.redirect_url.clone()),
        ("client_id", sso.client_id.clone()),
        ("code_verifier", login.verifier.clone()),
    ];
    if let Some(secret) = &sso.client_secret {
        form.push(("client_secret", secret.clone()));
    }
    let body = form
        .iter()
        .map(|(k, v)| format!("{k}={}", gauntlet_web::encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let answer = state
        .sso_http
        .post(&token_url)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .map_err(|e| {
            ApiError::new(
                Code::Unavailable,
                format!("the sign-in provider's token endpoint is unavailable: {e}"),
            )
        })?;
    let status = answer.status();
    let tokens: Value = answer.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        let why = tokens["error_description"]
            .as_str()
            .or(tokens["error"].as_str())
            .unwrap_or("no reason given");
        return Ok(refused(
            &state,
            &format!("The sign-in provider did not accept the code: {why}"),
        ));
    }
    let Some(id_token) = tokens["id_token"].as_str() else {
        return Ok(refused(
            &state,
            "The sign-in provider answered without an ID token.",
        ));
    };
    let verified = match jwks.verify_for(id_token, &sso.client_id).await {
        Ok(v) => v,
        Err(e) => return Ok(refused(&state, &format!("The ID token was refused: {e}"))),
    };
    let nonce_ok = verified.claims["nonce"]
        .as_str()
        .is_some_and(|n| auth::constant_time_eq(n.as_bytes(), login.nonce.as_bytes()));
    if !nonce_ok {
        return Ok(refused(
            &state,
            "The ID token's nonce does not match this sign-in; start again.",
        ));
    }
    let Some(tenant_name) = verified.tenant.clone().or_else(|| sso.tenant.clone()) else {
        return Ok(refused(
            &state,
            &format!(
                "The ID token names no tenant (claim `{}`), and the server has no default (--oidc-tenant).",
                jwks.config.tenant_claim
            ),
        ));
    };
    let tenant = gauntlet_core::TenantId::new(&tenant_name);
    let groups: Vec<String> = match &verified.claims[&sso.groups_claim] {
        Value::Array(a) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Value::String(s) => vec![s.clone()],
        _ => Vec::new(),
    };
    let mapped = sso
        .group_roles
        .iter()
        .find(|(g, _)| groups.contains(g))
        .map(|(_, r)| r.clone());
    let name = verified.claims["name"]
        .as_str()
        .or(verified.claims["email"].as_str())
        .unwrap_or(&verified.subject)
        .to_owned();
    let (a, t, sub, email) = (
        Arc::clone(&state),
        tenant.clone(),
        verified.subject.clone(),
        verified.email.clone(),
    );
    let default_role = sso.default_role.clone();
    let outcome = blocking(move || {
        a.accounts.tenant(&t).map_err(|_| ApiError::not_found(format!("tenant `{}`", t.as_str())))?;
        match a.accounts.user(&t, &sub) {
            Ok(u) => {
                // The issuer's groups decide the role of users they map.
                if let Some(role) = mapped.filter(|r| *r != u.role) {
                    a.accounts.set_user_role(&t, &sub, &role)?;
                    return Ok(Ok(("user.role_sync", Some(role))));
                }
                Ok(Ok(("", None)))
            }
            Err(gauntlet_store::StoreError::NotFound(_)) => {
                if a.accounts.is_deleted_user(&t, &sub)? {
                    return Ok(Err("Your account was deleted from this tenant; ask an administrator to add it again.".to_owned()));
                }
                let Some(role) = mapped.or(default_role) else {
                    return Ok(Err("None of your groups maps to a role here; ask an administrator.".to_owned()));
                };
                a.accounts.create_user(&t, &gauntlet_store::accounts::User {
                    id: sub.clone(),
                    name,
                    email,
                    role: role.clone(),
                    platform_admin: false,
                    created_at: crate::now_rfc3339(),
                })?;
                Ok(Ok(("user.provision", Some(role))))
            }
            Err(e) => Err(e.into()),
        }
    })
    .await?;
    let (event, role) = match outcome {
        Ok(x) => x,
        Err(message) => return Ok(refused(&state, &message)),
    };
    let who = Principal {
        tenant: tenant.clone(),
        user: verified.subject.clone(),
        role: role.clone().unwrap_or_default(),
        grants: crate::rbac::Grants::default(),
        platform_admin: false,
        credential: format!("sso:{}", verified.subject),
        issued_by: None,
    };
    if !event.is_empty() {
        state.audit.mutation(
            &who,
            &rid.0,
            event,
            format!("user/{}", verified.subject),
            json!({"role": role, "groups": groups}),
        );
        state.sessions.clear();
    }
    state.audit.mutation(
        &who,
        &rid.0,
        "session.begin",
        "session".to_owned(),
        json!({"method": "sso"}),
    );
    let peer = connect.map(|c| c.0.0);
    let who = Holder {
        tenant,
        user: verified.subject,
        key_id: None,
        method: "sso",
    };
    Ok(begin(&state, &headers, peer, who, &login.return_to).await?)
}

pub async fn sessions(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(v): Extension<Visitor>,
) -> PageResult<Response> {
    let (a, t) = (Arc::clone(&state), p.tenant.clone());
    let open = blocking(move || Ok(a.web.open(&t, now_ms())?)).await?;
    let rows: Vec<_> = open
        .into_iter()
        .map(|s| gauntlet_web::pages::auth::SessionRow {
            current: v.session.as_deref() == Some(s.id.as_str()),
            id: s.id,
            user: s.user,
            method: if s.key_id.is_some() {
                format!("{} (key)", s.method)
            } else {
                s.method
            },
            address: s.address,
            user_agent: s.user_agent,
            created_at: gauntlet_core::time::rfc3339(s.created_at.max(0) as u64),
            expires_at: gauntlet_core::time::rfc3339(s.expires_at.max(0) as u64),
        })
        .collect();
    Ok(html(gauntlet_web::pages::auth::sessions(
        &chrome(&state, &p, &v),
        &rows,
    )))
}

pub async fn revoke(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    Path(id): Path<String>,
) -> PageResult<Response> {
    let (a, t, i) = (Arc::clone(&state), p.tenant.clone(), id.clone());
    let done = blocking(move || Ok(a.web.revoke(&t, &i, now_ms())?)).await?;
    if !done {
        return Err(PageError(
            ApiError::not_found("that session (it may have ended already)"),
            Some(p),
        ));
    }
    state.audit.mutation(
        &p,
        &rid.0,
        "session.revoke",
        format!("session/{}", &id[..id.len().min(12)]),
        Value::Null,
    );
    Ok(see_other("/sessions"))
}
