//! A tenant's own variables and secrets, and the capabilities a platform administrator
//! grants it.
//!
//! A suite on the server sees no environment of the server's: `${NAME}` resolves against the
//! tenant's variables and `${secret:NAME}` against its secrets. Secrets are sealed with
//! AES-256-GCM under a key kept outside the database (`--secrets-key`), bound to their tenant
//! and name; the API accepts them and never returns them; every change is an audit event that
//! names the secret, never its value.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use axum::Extension;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use base64::Engine as _;
use gauntlet_core::TenantId;
use gauntlet_core::capability::Capabilities;
use gauntlet_store::tenancy::{StoredValue, ValueKind};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, RequestId};
use crate::http::JsonBody;
use crate::{AppState, blocking, now_rfc3339};

/// The key that seals a server's secrets.
pub struct Sealer {
    key: LessSafeKey,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer")
    }
}

const SEALED_PREFIX: &str = "v1:";

impl Sealer {
    /// Reads the 32-byte key (hex) at `path`, creating it (mode 0600) on first use.
    pub fn load_or_create(path: &Path) -> Result<Sealer, String> {
        let shown = path.display();
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; 32];
                getrandom::fill(&mut key).map_err(|e| format!("generating a key: {e}"))?;
                let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(|e| format!("{shown}: {e}"))?;
                }
                write_private(path, &hex).map_err(|e| format!("{shown}: {e}"))?;
                // Another process may have won the race: read what is there.
                std::fs::read_to_string(path).map_err(|e| format!("{shown}: {e}"))?
            }
            Err(e) => return Err(format!("{shown}: {e}")),
        };
        let hex = text.trim();
        let bytes: Option<Vec<u8>> = (0..hex.len())
            .step_by(2)
            .map(|i| {
                hex.get(i..i + 2)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
            })
            .collect();
        let bytes = bytes
            .filter(|b| b.len() == 32)
            .ok_or_else(|| format!("{shown} does not hold a 32-byte key in hex"))?;
        let key = UnboundKey::new(&AES_256_GCM, &bytes).map_err(|e| format!("{shown}: {e}"))?;
        Ok(Sealer {
            key: LessSafeKey::new(key),
        })
    }

    fn aad(tenant: &TenantId, name: &str) -> Vec<u8> {
        format!("gauntlet-secret\0{tenant}\0{name}").into_bytes()
    }

    pub fn seal(&self, tenant: &TenantId, name: &str, plain: &str) -> Result<String, String> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| e.to_string())?;
        let mut data = plain.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(Self::aad(tenant, name)),
                &mut data,
            )
            .map_err(|_| "sealing failed".to_owned())?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        Ok(format!(
            "{SEALED_PREFIX}{}",
            base64::engine::general_purpose::STANDARD.encode(out)
        ))
    }

    pub fn open(&self, tenant: &TenantId, name: &str, sealed: &str) -> Result<String, String> {
        let bad = || format!("secret `{name}` cannot be opened with this server's secrets key");
        let raw = sealed
            .strip_prefix(SEALED_PREFIX)
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .filter(|r| r.len() > NONCE_LEN)
            .ok_or_else(bad)?;
        let (nonce, data) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| bad())?;
        let mut data = data.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(Self::aad(tenant, name)), &mut data)
            .map_err(|_| bad())?;
        String::from_utf8(plain.to_vec()).map_err(|_| bad())
    }
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(mut f) => f.write_all(text.as_bytes()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// The interpolation variables of a tenant's suites: its variables, and its secrets opened.
pub fn vars(app: &AppState, tenant: &TenantId) -> ApiResult<gauntlet_spec::Vars> {
    let mut env = HashMap::new();
    let mut secrets = HashMap::new();
    for v in app.tenancy.values(tenant)? {
        match v.kind {
            ValueKind::Variable => {
                env.insert(v.name, v.value);
            }
            ValueKind::Secret => {
                let plain = app
                    .sealer
                    .open(tenant, &v.name, &v.value)
                    .map_err(ApiError::internal)?;
                secrets.insert(v.name, plain);
            }
        }
    }
    Ok(gauntlet_spec::Vars { env, secrets })
}

/// One variable or secret as the API shows it: a secret's value never.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ValueEntry {
    pub name: String,
    pub kind: ValueKind,
    /// The variable's value; absent for a secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    pub updated_at: String,
    pub updated_by: String,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Values {
    pub values: Vec<ValueEntry>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ValueBody {
    /// The value (at most 64 KiB).
    pub value: String,
}

fn check_value_name(name: &str) -> ApiResult<()> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "a name has 1-128 letters, digits and `_`, and does not start with a digit",
        ))
    }
}

pub async fn list_values(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
) -> ApiResult<axum::Json<Values>> {
    let values = blocking(move || Ok(app.tenancy.values(&p.tenant)?)).await?;
    Ok(axum::Json(Values {
        values: values
            .into_iter()
            .map(|v| ValueEntry {
                value: (v.kind == ValueKind::Variable).then_some(v.value),
                name: v.name,
                kind: v.kind,
                updated_at: v.updated_at,
                updated_by: v.updated_by,
            })
            .collect(),
    }))
}

async fn put(
    app: AppState,
    p: Principal,
    rid: RequestId,
    kind: ValueKind,
    name: String,
    body: ValueBody,
) -> ApiResult<StatusCode> {
    check_value_name(&name)?;
    if body.value.len() > 64 << 10 {
        return Err(ApiError::bad_request("a value holds at most 64 KiB"));
    }
    let a = Arc::clone(&app);
    let (t, n, who) = (p.tenant.clone(), name.clone(), p.actor());
    let replaced = blocking(move || {
        let value = match kind {
            ValueKind::Variable => body.value,
            ValueKind::Secret => a
                .sealer
                .seal(&t, &n, &body.value)
                .map_err(ApiError::internal)?,
        };
        Ok(a.tenancy.put_value(
            &t,
            &StoredValue {
                kind,
                name: n,
                value,
                updated_at: now_rfc3339(),
                updated_by: who,
            },
        )?)
    })
    .await?;
    // The event names what changed, never the value.
    app.audit.mutation(
        &p,
        &rid.0,
        &format!("{}.set", kind.as_str()),
        format!("{}/{name}", kind.as_str()),
        json!({ "replaced": replaced }),
    );
    Ok(StatusCode::NO_CONTENT)
}

async fn delete(
    app: AppState,
    p: Principal,
    rid: RequestId,
    kind: ValueKind,
    name: String,
) -> ApiResult<StatusCode> {
    check_value_name(&name)?;
    let (a, t, n) = (Arc::clone(&app), p.tenant.clone(), name.clone());
    blocking(move || Ok(a.tenancy.delete_value(&t, kind, &n)?)).await?;
    app.audit.mutation(
        &p,
        &rid.0,
        &format!("{}.delete", kind.as_str()),
        format!("{}/{name}", kind.as_str()),
        json!({}),
    );
    Ok(StatusCode::NO_CONTENT)
}

pub async fn put_variable(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    UrlPath(name): UrlPath<String>,
    JsonBody(body): JsonBody<ValueBody>,
) -> ApiResult<StatusCode> {
    put(app, p, rid, ValueKind::Variable, name, body).await
}

pub async fn put_secret(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    UrlPath(name): UrlPath<String>,
    JsonBody(body): JsonBody<ValueBody>,
) -> ApiResult<StatusCode> {
    put(app, p, rid, ValueKind::Secret, name, body).await
}

pub async fn delete_variable(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    UrlPath(name): UrlPath<String>,
) -> ApiResult<StatusCode> {
    delete(app, p, rid, ValueKind::Variable, name).await
}

pub async fn delete_secret(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    UrlPath(name): UrlPath<String>,
) -> ApiResult<StatusCode> {
    delete(app, p, rid, ValueKind::Secret, name).await
}

// ---- capabilities (platform administrators) ----

pub async fn get_capabilities(
    State(app): State<AppState>,
    UrlPath(id): UrlPath<String>,
) -> ApiResult<axum::Json<Capabilities>> {
    let caps = blocking(move || {
        let t = TenantId::new(id);
        app.accounts.tenant(&t)?;
        Ok(app.tenancy.capabilities(&t)?)
    })
    .await?;
    Ok(axum::Json(caps))
}

pub async fn put_capabilities(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    UrlPath(id): UrlPath<String>,
    JsonBody(caps): JsonBody<Capabilities>,
) -> ApiResult<axum::Json<Capabilities>> {
    if let Some(programs) = &caps.programs {
        if programs.commands.is_empty() {
            return Err(ApiError::bad_request(
                "`programs.commands` lists the programs allowed (or `*`)",
            ));
        }
        if programs
            .commands
            .iter()
            .any(|c| c.is_empty() || c.len() > 256)
        {
            return Err(ApiError::bad_request("a command is 1-256 characters"));
        }
    }
    if caps.host_files.iter().any(|d| !Path::new(d).is_absolute()) {
        return Err(ApiError::bad_request(
            "`host_files` lists absolute directories",
        ));
    }
    if caps.programs.is_some() {
        gauntlet_sandbox::launch::available()
            .map_err(|e| ApiError::new(crate::error::Code::Conflict, e.to_string()))?;
    }
    let (a, c, who) = (Arc::clone(&app), caps.clone(), p.actor());
    let tenant = TenantId::new(&id);
    let t = tenant.clone();
    blocking(move || {
        a.accounts.tenant(&t)?;
        a.tenancy.set_capabilities(&t, &c, &who, &now_rfc3339())?;
        Ok(())
    })
    .await?;
    // The grant is recorded in the tenant's own log, and as the administrator's mutation.
    app.audit.send(
        gauntlet_audit::NewEvent::new(
            tenant.as_str(),
            &p.actor(),
            "capability.grant",
            format!("tenant/{id}/capabilities"),
        )
        .request_id(&rid.0)
        .details(json!(caps)),
    );
    app.audit.mutation(
        &p,
        &rid.0,
        "tenant.capabilities",
        format!("tenant/{id}"),
        json!(caps),
    );
    Ok(axum::Json(caps))
}
