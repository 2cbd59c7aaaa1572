//! Who signs tree heads and bundles: a [`Signer`] holds (or reaches) a private key; verifiers
//! need only [`TrustedKeys`], the public halves.
//!
//! Every signature is Ed25519, whoever makes it, so anything signed verifies offline with the
//! public key alone. [`LocalSigner`] keeps the key in a PKCS#8 PEM file created on first use
//! with mode 0600; [`VaultTransit`] asks HashiCorp Vault's Transit engine to sign with a key
//! that never leaves Vault. Cloud KMS adapters implement the same trait.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::AuditError;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A detached signature: the algorithm, the signing key's id and the signature in base64.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignatureRecord {
    pub alg: String,
    pub key_id: String,
    pub value: String,
}

pub const ED25519: &str = "ed25519";

pub trait Signer: Send + Sync {
    /// `ed25519:` and the first 16 hex digits of SHA-256 of the public key.
    fn key_id(&self) -> &str;
    fn public_key(&self) -> &VerifyingKey;
    fn sign<'a>(&'a self, message: &'a [u8]) -> BoxFuture<'a, Result<SignatureRecord, AuditError>>;
}

/// The id of a public key.
pub fn key_id(public: &VerifyingKey) -> String {
    let digest = gauntlet_core::hash::sha256_hex(public.as_bytes());
    format!("{ED25519}:{}", &digest[..16])
}

/// The public key in SubjectPublicKeyInfo PEM, as `openssl pkey -pubout` writes it.
pub fn public_key_pem(public: &VerifyingKey) -> Result<String, AuditError> {
    public
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| AuditError::Key(format!("encoding the public key: {e}")))
}

fn record(key_id: &str, signature: &Signature) -> SignatureRecord {
    SignatureRecord {
        alg: ED25519.to_owned(),
        key_id: key_id.to_owned(),
        value: B64.encode(signature.to_bytes()),
    }
}

/// An Ed25519 key in a local file.
pub struct LocalSigner {
    key: SigningKey,
    public: VerifyingKey,
    id: String,
    path: Option<PathBuf>,
}

impl LocalSigner {
    pub fn from_key(key: SigningKey) -> LocalSigner {
        let public = key.verifying_key();
        LocalSigner {
            id: key_id(&public),
            key,
            public,
            path: None,
        }
    }

    /// A fresh key from the operating system's random source.
    pub fn generate() -> Result<LocalSigner, AuditError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)
            .map_err(|e| AuditError::Key(format!("no randomness for a new key: {e}")))?;
        Ok(LocalSigner::from_key(SigningKey::from_bytes(&seed)))
    }

    /// Reads the key at `path`; refuses a key file that others can read.
    pub fn load(path: &Path) -> Result<LocalSigner, AuditError> {
        check_private(path)?;
        let text = std::fs::read_to_string(path)
            .map_err(|e| AuditError::Key(format!("reading {}: {e}", path.display())))?;
        let key = SigningKey::from_pkcs8_pem(&text).map_err(|e| {
            AuditError::Key(format!(
                "{} is not an Ed25519 private key in PKCS#8 PEM: {e}",
                path.display()
            ))
        })?;
        let mut signer = LocalSigner::from_key(key);
        signer.path = Some(path.to_owned());
        Ok(signer)
    }

    /// Reads the key at `path`, creating it (mode 0600, in a 0700 directory) if there is none.
    /// The flag tells whether it was created.
    pub fn load_or_create(path: &Path) -> Result<(LocalSigner, bool), AuditError> {
        if path.exists() {
            return LocalSigner::load(path).map(|s| (s, false));
        }
        let mut signer = LocalSigner::generate()?;
        let pem = signer
            .key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| AuditError::Key(format!("encoding the new key: {e}")))?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            create_private_dir(dir)?;
        }
        match write_new_private(path, pem.as_bytes()) {
            Ok(()) => {}
            // Another process created it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return LocalSigner::load(path).map(|s| (s, false));
            }
            Err(e) => {
                return Err(AuditError::Key(format!(
                    "creating the audit key {}: {e}",
                    path.display()
                )));
            }
        }
        signer.path = Some(path.to_owned());
        Ok((signer, true))
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Signs synchronously (the key is local).
    pub fn sign_now(&self, message: &[u8]) -> SignatureRecord {
        record(&self.id, &self.key.sign(message))
    }
}

#[cfg(unix)]
fn check_private(path: &Path) -> Result<(), AuditError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path)
        .map_err(|e| AuditError::Key(format!("reading {}: {e}", path.display())))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(AuditError::Key(format!(
            "the audit key {} is accessible by other users (mode {mode:04o}); run `chmod 600 {}`",
            path.display(),
            path.display()
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path) -> Result<(), AuditError> {
    Ok(())
}

fn create_private_dir(dir: &Path) -> Result<(), AuditError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .map_err(|e| AuditError::Key(format!("creating {}: {e}", dir.display())))
}

fn write_new_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

impl Signer for LocalSigner {
    fn key_id(&self) -> &str {
        &self.id
    }

    fn public_key(&self) -> &VerifyingKey {
        &self.public
    }

    fn sign<'a>(&'a self, message: &'a [u8]) -> BoxFuture<'a, Result<SignatureRecord, AuditError>> {
        let signed = self.sign_now(message);
        Box::pin(async move { Ok(signed) })
    }
}

/// Public keys a verifier trusts, by key id.
#[derive(Clone, Debug, Default)]
pub struct TrustedKeys {
    keys: BTreeMap<String, VerifyingKey>,
}

impl TrustedKeys {
    pub fn new() -> TrustedKeys {
        TrustedKeys::default()
    }

    pub fn add(&mut self, public: VerifyingKey) -> String {
        let id = key_id(&public);
        self.keys.insert(id.clone(), public);
        id
    }

    /// Adds the key in a PEM file: a public key, or the public half of a private key.
    pub fn add_pem_file(&mut self, path: &Path) -> Result<String, AuditError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| AuditError::Key(format!("reading {}: {e}", path.display())))?;
        let public = match VerifyingKey::from_public_key_pem(&text) {
            Ok(k) => k,
            Err(_) => SigningKey::from_pkcs8_pem(&text)
                .map(|k| k.verifying_key())
                .map_err(|_| {
                    AuditError::Key(format!(
                        "{} holds no Ed25519 key in PEM (expected `-----BEGIN PUBLIC KEY-----`)",
                        path.display()
                    ))
                })?,
        };
        Ok(self.add(public))
    }

    pub fn ids(&self) -> Vec<&str> {
        self.keys.keys().map(String::as_str).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Checks `signature` over `message` with the trusted key it names.
    pub fn verify(&self, message: &[u8], signature: &SignatureRecord) -> Result<(), String> {
        if signature.alg != ED25519 {
            return Err(format!(
                "unsupported signature algorithm `{}`",
                signature.alg
            ));
        }
        let Some(key) = self.keys.get(&signature.key_id) else {
            return Err(format!(
                "signed by key {}, which is not trusted here (trusted: {})",
                signature.key_id,
                if self.keys.is_empty() {
                    "none".to_owned()
                } else {
                    self.ids().join(", ")
                }
            ));
        };
        let bytes = B64
            .decode(&signature.value)
            .map_err(|_| "the signature is not base64".to_owned())?;
        let sig = Signature::from_slice(&bytes)
            .map_err(|_| "the signature is not 64 bytes".to_owned())?;
        key.verify(message, &sig).map_err(|_| {
            format!(
                "the signature does not verify with key {}",
                signature.key_id
            )
        })
    }
}

/// Where a [`VaultTransit`] signer finds Vault and its key.
#[derive(Clone, Debug)]
pub struct VaultConfig {
    /// `https://vault.example:8200`
    pub address: String,
    pub token: String,
    /// The Transit engine's mount path, `transit` by default.
    pub mount: String,
    pub key: String,
    /// Vault Enterprise namespace.
    pub namespace: Option<String>,
}

impl std::fmt::Display for VaultConfig {
    // Never prints the token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/v1/{}/keys/{}", self.address, self.mount, self.key)
    }
}

/// Signs through Vault's Transit secrets engine (`POST /v1/:mount/sign/:key`) with an
/// `ed25519` key; the private key never leaves Vault. The public key is read once, on connect,
/// and every signature Vault returns is checked against it before it is used.
pub struct VaultTransit {
    config: VaultConfig,
    client: reqwest::Client,
    public: VerifyingKey,
    id: String,
}

#[derive(Deserialize)]
struct VaultResponse<T> {
    data: T,
}

#[derive(Deserialize)]
struct VaultKey {
    #[serde(rename = "type")]
    kind: String,
    latest_version: u64,
    keys: BTreeMap<String, Value>,
}

#[derive(Deserialize)]
struct VaultSignature {
    signature: String,
}

use serde_json::Value;

impl VaultTransit {
    pub async fn connect(config: VaultConfig) -> Result<VaultTransit, AuditError> {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| AuditError::Signer(format!("building the HTTP client: {e}")))?;
        let url = format!(
            "{}/v1/{}/keys/{}",
            config.address.trim_end_matches('/'),
            config.mount,
            config.key
        );
        let key: VaultKey = vault_call(&config, client.get(&url)).await?;
        if key.kind != ED25519 {
            return Err(AuditError::Signer(format!(
                "Vault key `{}` is of type `{}`; audit checkpoints are signed with `ed25519` keys (create one with `vault write {}/keys/{} type=ed25519`)",
                config.key, key.kind, config.mount, config.key
            )));
        }
        let latest = key.keys.get(&key.latest_version.to_string());
        let public_b64 = latest
            .and_then(|v| v.get("public_key"))
            .and_then(Value::as_str)
            .ok_or_else(|| {
                AuditError::Signer(format!(
                    "Vault returned no public key for version {} of `{}`",
                    key.latest_version, config.key
                ))
            })?;
        let bytes: [u8; 32] = B64
            .decode(public_b64)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| AuditError::Signer("Vault's public key is not 32 bytes".into()))?;
        let public = VerifyingKey::from_bytes(&bytes)
            .map_err(|e| AuditError::Signer(format!("Vault's public key is invalid: {e}")))?;
        Ok(VaultTransit {
            id: key_id(&public),
            config,
            client,
            public,
        })
    }
}

async fn vault_call<T: serde::de::DeserializeOwned>(
    config: &VaultConfig,
    request: reqwest::RequestBuilder,
) -> Result<T, AuditError> {
    let mut request = request.header("X-Vault-Token", &config.token);
    if let Some(ns) = &config.namespace {
        request = request.header("X-Vault-Namespace", ns);
    }
    let response = request
        .send()
        .await
        .map_err(|e| AuditError::Signer(format!("calling Vault at {config}: {e}")))?;
    let status = response.status();
    let body = response
        .text()
        .await
        .map_err(|e| AuditError::Signer(format!("reading Vault's answer: {e}")))?;
    if !status.is_success() {
        // Vault puts its reasons in `errors`; nothing of the request (the token) is echoed.
        let errors = serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| v.get("errors").cloned())
            .map(|e| e.to_string())
            .unwrap_or_default();
        return Err(AuditError::Signer(format!(
            "Vault answered {status} for {config} {errors}"
        )));
    }
    serde_json::from_str::<VaultResponse<T>>(&body)
        .map(|r| r.data)
        .map_err(|e| AuditError::Signer(format!("unexpected answer from Vault: {e}")))
}

impl Signer for VaultTransit {
    fn key_id(&self) -> &str {
        &self.id
    }

    fn public_key(&self) -> &VerifyingKey {
        &self.public
    }

    fn sign<'a>(&'a self, message: &'a [u8]) -> BoxFuture<'a, Result<SignatureRecord, AuditError>> {
        Box::pin(async move {
            let url = format!(
                "{}/v1/{}/sign/{}",
                self.config.address.trim_end_matches('/'),
                self.config.mount,
                self.config.key
            );
            let body = serde_json::json!({ "input": B64.encode(message) });
            let signed: VaultSignature =
                vault_call(&self.config, self.client.post(&url).json(&body)).await?;
            // `vault:v<N>:<base64>`
            let b64 = signed
                .signature
                .strip_prefix("vault:v")
                .and_then(|rest| rest.split_once(':'))
                .map(|(_, b)| b)
                .ok_or_else(|| {
                    AuditError::Signer("Vault's signature is not in `vault:vN:…` form".into())
                })?;
            let bytes = B64
                .decode(b64)
                .map_err(|_| AuditError::Signer("Vault's signature is not base64".into()))?;
            let sig = Signature::from_slice(&bytes)
                .map_err(|_| AuditError::Signer("Vault's signature is not 64 bytes".into()))?;
            self.public.verify(message, &sig).map_err(|_| {
                AuditError::Signer(format!(
                    "Vault signed with a key other than {} (was `{}` rotated?); restart to pick up the new key",
                    self.id, self.config.key
                ))
            })?;
            Ok(record(&self.id, &sig))
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_created_key_is_private_reloads_and_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/audit.pem");
        let (signer, created) = LocalSigner::load_or_create(&path).unwrap();
        assert!(created);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let (again, created) = LocalSigner::load_or_create(&path).unwrap();
        assert!(!created);
        assert_eq!(signer.key_id(), again.key_id());

        let sig = signer.sign_now(b"hello");
        let mut trusted = TrustedKeys::new();
        let pub_path = dir.path().join("audit.pub");
        std::fs::write(&pub_path, public_key_pem(signer.public_key()).unwrap()).unwrap();
        trusted.add_pem_file(&pub_path).unwrap();
        assert!(trusted.verify(b"hello", &sig).is_ok());
        assert!(trusted.verify(b"hellO", &sig).is_err());

        let other = LocalSigner::generate().unwrap();
        let mut wrong = TrustedKeys::new();
        wrong.add(*other.public_key());
        assert!(
            wrong
                .verify(b"hello", &sig)
                .unwrap_err()
                .contains("not trusted")
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_key_readable_by_others_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.pem");
        LocalSigner::load_or_create(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = LocalSigner::load(&path).err().unwrap().to_string();
        assert!(err.contains("chmod 600"), "{err}");
    }
}
