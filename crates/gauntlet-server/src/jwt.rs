//! Authentication by JWT bearer tokens from an OIDC issuer, verified against its JWKS.
//!
//! The key set is fetched from the configured JWKS URL (or the issuer's discovery document),
//! cached, and fetched again when a token names a key id it does not hold — at most once per
//! `refresh_min` (default [`REFRESH_MIN`]) — so a rotated key works on its first use and a retired one stops working
//! once the issuer drops it. Only asymmetric algorithms are accepted, and the token's `alg`
//! must fit the key's type (no `none`, no HMAC with a public key). `iss`, `aud`, `exp` and
//! `sub` are required; `exp` and `nbf` allow [`OidcConfig::leeway_s`] of clock skew.
//!
//! The caller's tenant comes from a claim (`tenant_claim`); the role is the stored user's
//! (matched by subject, then email), else the token's `role_claim` if that names a role of the
//! tenant. A token for an unknown user without a usable role claim is refused.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

/// The default shortest time between two JWKS fetches caused by unknown key ids.
pub const REFRESH_MIN: Duration = Duration::from_secs(10);
/// How long a fetched key set is trusted before it is fetched again.
pub const TTL: Duration = Duration::from_secs(600);

#[derive(Clone, Debug)]
pub struct OidcConfig {
    pub issuer: String,
    pub audience: String,
    /// Where the key set is; `None`: from `{issuer}/.well-known/openid-configuration`.
    pub jwks_url: Option<String>,
    pub tenant_claim: String,
    pub role_claim: String,
    /// Match a token with an unknown subject to a stored user by its `email` claim (only when
    /// the token says `email_verified: true`). Off by default.
    pub match_email: bool,
    pub leeway_s: u64,
    /// The shortest time between two fetches caused by unknown key ids.
    pub refresh_min: Duration,
}

/// What a verified token says.
#[derive(Clone, Debug)]
pub struct Verified {
    pub subject: String,
    pub email: Option<String>,
    /// The tenant claim, when the token has one.
    pub tenant: Option<String>,
    pub role: Option<String>,
    /// `exp`, in milliseconds since the epoch.
    pub expires_at: Option<i64>,
    /// Every claim, for single sign-on (its nonce, groups and name).
    pub claims: Value,
}

#[derive(Default)]
struct Cache {
    keys: HashMap<String, (DecodingKey, KeyKind)>,
    fetched: Option<Instant>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KeyKind {
    Rsa,
    Ec,
    Okp,
}

pub struct Jwks {
    pub(crate) config: OidcConfig,
    http: reqwest::Client,
    cache: tokio::sync::Mutex<Cache>,
}

impl Jwks {
    pub fn new(config: OidcConfig) -> Jwks {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Jwks {
            config,
            http,
            cache: tokio::sync::Mutex::new(Cache::default()),
        }
    }

    pub fn config(&self) -> &OidcConfig {
        &self.config
    }

    async fn jwks_url(&self) -> Result<String, String> {
        if let Some(u) = &self.config.jwks_url {
            return Ok(u.clone());
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.config.issuer.trim_end_matches('/')
        );
        let doc: Value = self
            .http
            .get(&url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| format!("the issuer's discovery document is unavailable: {e}"))?
            .json()
            .await
            .map_err(|e| format!("the issuer's discovery document is not JSON: {e}"))?;
        doc["jwks_uri"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| "the issuer's discovery document has no jwks_uri".to_owned())
    }

    async fn fetch(&self) -> Result<HashMap<String, (DecodingKey, KeyKind)>, String> {
        let url = self.jwks_url().await?;
        let set: JwkSet = self
            .http
            .get(&url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| format!("the issuer's key set is unavailable: {e}"))?
            .json()
            .await
            .map_err(|e| format!("the issuer's key set is not a JWKS: {e}"))?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let Some(kid) = jwk.common.key_id.clone() else {
                continue;
            };
            let kind = match &jwk.algorithm {
                AlgorithmParameters::RSA(_) => KeyKind::Rsa,
                AlgorithmParameters::EllipticCurve(_) => KeyKind::Ec,
                AlgorithmParameters::OctetKeyPair(_) => KeyKind::Okp,
                // Symmetric keys have no place in a public key set.
                _ => continue,
            };
            if let Ok(key) = DecodingKey::from_jwk(jwk) {
                keys.insert(kid, (key, kind));
            }
        }
        Ok(keys)
    }

    /// The key with this id, fetching the set when it is stale or lacks the id.
    async fn key(&self, kid: &str) -> Result<(DecodingKey, KeyKind), String> {
        let mut cache = self.cache.lock().await;
        let stale = cache.fetched.is_none_or(|t| t.elapsed() > TTL);
        let missing = !cache.keys.contains_key(kid);
        let may_refresh = cache
            .fetched
            .is_none_or(|t| t.elapsed() >= self.config.refresh_min);
        if stale || (missing && may_refresh) {
            match self.fetch().await {
                Ok(keys) => {
                    cache.keys = keys;
                    cache.fetched = Some(Instant::now());
                }
                // Keep serving the keys we have if the issuer is briefly down.
                Err(e) if cache.keys.is_empty() => return Err(e),
                Err(_) => {}
            }
        }
        cache
            .keys
            .get(kid)
            .cloned()
            .ok_or_else(|| format!("the token's key `{kid}` is not in the issuer's key set"))
    }

    /// Verifies a bearer token's signature and claims.
    pub async fn verify(&self, token: &str) -> Result<Verified, String> {
        self.verify_for(token, &self.config.audience).await
    }

    /// Verifies a token issued for `audience` (single sign-on's ID tokens are for the
    /// dashboard's client id).
    pub async fn verify_for(&self, token: &str, audience: &str) -> Result<Verified, String> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| format!("malformed token: {e}"))?;
        let kid = header
            .kid
            .ok_or_else(|| "the token names no key (`kid`)".to_owned())?;
        let (key, kind) = self.key(&kid).await?;
        let fits = matches!(
            (kind, header.alg),
            (
                KeyKind::Rsa,
                Algorithm::RS256
                    | Algorithm::RS384
                    | Algorithm::RS512
                    | Algorithm::PS256
                    | Algorithm::PS384
                    | Algorithm::PS512
            ) | (KeyKind::Ec, Algorithm::ES256 | Algorithm::ES384)
                | (KeyKind::Okp, Algorithm::EdDSA)
        );
        if !fits {
            return Err(format!(
                "the token's algorithm {:?} does not fit its key",
                header.alg
            ));
        }
        let mut v = Validation::new(header.alg);
        v.set_issuer(&[&self.config.issuer]);
        v.set_audience(&[audience]);
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        v.leeway = self.config.leeway_s;
        v.validate_nbf = true;
        let data = jsonwebtoken::decode::<Value>(token, &key, &v).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind as K;
            match e.kind() {
                K::ExpiredSignature => "the token has expired".to_owned(),
                K::ImmatureSignature => "the token is not valid yet".to_owned(),
                K::InvalidIssuer => "the token's issuer is not trusted".to_owned(),
                K::InvalidAudience => "the token is for another audience".to_owned(),
                K::InvalidSignature => "the token's signature does not verify".to_owned(),
                K::MissingRequiredClaim(c) => format!("the token lacks the `{c}` claim"),
                _ => format!("the token is invalid: {e}"),
            }
        })?;
        let claims = data.claims;
        let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_owned);
        Ok(Verified {
            subject: text("sub").unwrap_or_default(),
            // An address the issuer has not verified names nobody.
            email: text("email").filter(|_| {
                self.config.match_email
                    && claims.get("email_verified").and_then(Value::as_bool) == Some(true)
            }),
            tenant: text(&self.config.tenant_claim),
            role: text(&self.config.role_claim),
            expires_at: claims
                .get("exp")
                .and_then(Value::as_i64)
                .map(|s| s.saturating_mul(1000)),
            claims: claims.clone(),
        })
    }
}
