//! Static AWS credentials and region from the environment and the shared config files.
//!
//! Only static keys are supported (environment variables, `aws_access_key_id` /
//! `aws_secret_access_key` / `aws_session_token` in a profile). Profiles that rely on SSO,
//! assume-role or `credential_process` are reported as unsupported rather than skipped.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use crate::AwsError;
use crate::profile::{self, Env, FileKind};

/// Profile keys that mean "credentials come from elsewhere", which this crate does not do.
const UNSUPPORTED_KEYS: [&str; 6] = [
    "credential_process",
    "sso_session",
    "sso_start_url",
    "role_arn",
    "web_identity_token_file",
    "login_session",
];

/// An access key pair, with a session token for temporary credentials.
///
/// `Debug` prints the access key id (not a secret) but masks the secret key and the token.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"***")
            .field("session_token", &self.session_token.as_ref().map(|_| "***"))
            .finish()
    }
}

/// Resolves credentials from the process environment; see [`credentials_from`].
pub fn credentials(profile: Option<&str>) -> Result<Credentials, AwsError> {
    credentials_from(&|name| std::env::var(name).ok(), profile)
}

/// Resolves credentials with `env` as the environment.
///
/// When no profile is named (neither `profile` nor `AWS_PROFILE`), `AWS_ACCESS_KEY_ID` +
/// `AWS_SECRET_ACCESS_KEY` (+ `AWS_SESSION_TOKEN`) come first. Then the profile (`profile`,
/// else `AWS_PROFILE`, else `default`) is looked up in the shared credentials file
/// (`AWS_SHARED_CREDENTIALS_FILE`, else `$HOME/.aws/credentials`, section `[NAME]`) and then
/// the config file (`AWS_CONFIG_FILE`, else `$HOME/.aws/config`, section `[profile NAME]`,
/// or `[default]`). Errors list the sources tried and never contain a secret.
pub fn credentials_from(env: Env<'_>, profile: Option<&str>) -> Result<Credentials, AwsError> {
    let named = profile
        .map(str::to_owned)
        .or_else(|| profile::var(env, "AWS_PROFILE"));
    let mut tried = Vec::new();
    if named.is_none() {
        match from_env(env)? {
            Some(creds) => return Ok(creds),
            None => tried.push("environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)".to_owned()),
        }
    }
    let name = named.unwrap_or_else(|| "default".to_owned());
    let mut unsupported = None;
    for kind in [FileKind::Credentials, FileKind::Config] {
        let Some(path) = profile::path(env, kind) else {
            tried.push(kind.describe_unlocated());
            continue;
        };
        let Some(text) = profile::read(&path)? else {
            tried.push(format!("{} (not found)", path.display()));
            continue;
        };
        let header = match kind {
            FileKind::Credentials => format!("[{name}]"),
            FileKind::Config if name == "default" => "[default]".to_owned(),
            FileKind::Config => format!("[profile {name}]"),
        };
        let Some(keys) = profile::section(&text, kind, &name) else {
            tried.push(format!("{} (no {header} section)", path.display()));
            continue;
        };
        if let Some(creds) = from_section(&keys, &path, &header)? {
            return Ok(creds);
        }
        tried.push(format!("{} {header} (no keys)", path.display()));
        if unsupported.is_none()
            && let Some(key) = UNSUPPORTED_KEYS.iter().find(|k| keys.contains_key(**k))
        {
            unsupported = Some((path, (*key).to_owned()));
        }
    }
    match unsupported {
        Some((path, key)) => Err(AwsError::UnsupportedProfile {
            profile: name,
            path,
            key,
        }),
        None => Err(AwsError::NoCredentials {
            profile: name,
            tried: tried.join("; "),
        }),
    }
}

/// The key pair in the environment, `None` when neither half is set.
fn from_env(env: Env<'_>) -> Result<Option<Credentials>, AwsError> {
    let id = profile::var(env, "AWS_ACCESS_KEY_ID");
    let secret = profile::var(env, "AWS_SECRET_ACCESS_KEY");
    let token = profile::var(env, "AWS_SESSION_TOKEN");
    pair(
        id,
        secret,
        token,
        "the environment",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
    )
}

/// The key pair in a profile section, `None` when neither half is set.
fn from_section(
    keys: &HashMap<String, String>,
    path: &Path,
    header: &str,
) -> Result<Option<Credentials>, AwsError> {
    let get = |k: &str| keys.get(k).filter(|v| !v.is_empty()).cloned();
    let token = get("aws_session_token").or_else(|| get("aws_security_token"));
    pair(
        get("aws_access_key_id"),
        get("aws_secret_access_key"),
        token,
        &format!("{} {header}", path.display()),
        "aws_access_key_id",
        "aws_secret_access_key",
    )
}

/// Both halves, neither, or an error naming the missing half.
fn pair(
    id: Option<String>,
    secret: Option<String>,
    session_token: Option<String>,
    source_name: &str,
    id_name: &str,
    secret_name: &str,
) -> Result<Option<Credentials>, AwsError> {
    let partial = |missing: &str| AwsError::PartialCredentials {
        source_name: source_name.to_owned(),
        missing: missing.to_owned(),
    };
    match (id, secret) {
        (Some(access_key_id), Some(secret_access_key)) => Ok(Some(Credentials {
            access_key_id,
            secret_access_key,
            session_token,
        })),
        (Some(_), None) => Err(partial(secret_name)),
        (None, Some(_)) => Err(partial(id_name)),
        (None, None) => Ok(None),
    }
}

/// The region from the process environment; see [`region_from`].
pub fn region(profile: Option<&str>) -> Option<String> {
    region_from(&|name| std::env::var(name).ok(), profile)
}

/// The region with `env` as the environment: `AWS_REGION`, then `AWS_DEFAULT_REGION`, then
/// `region` in the config file's profile (`profile`, else `AWS_PROFILE`, else `default`).
/// An unreadable config file counts as having no region.
pub fn region_from(env: Env<'_>, profile: Option<&str>) -> Option<String> {
    if let Some(region) =
        profile::var(env, "AWS_REGION").or_else(|| profile::var(env, "AWS_DEFAULT_REGION"))
    {
        return Some(region.trim().to_owned());
    }
    let name = profile
        .map(str::to_owned)
        .or_else(|| profile::var(env, "AWS_PROFILE"))
        .unwrap_or_else(|| "default".to_owned());
    let path = profile::path(env, FileKind::Config)?;
    let text = profile::read(&path).ok()??;
    profile::section(&text, FileKind::Config, &name)?
        .remove("region")
        .filter(|r| !r.is_empty())
}
