//! Contract immutability: a lock file (`gauntlet.contracts.lock`, committed beside the
//! project) records, for each named contract, a chain of signed versions. Each entry holds the
//! contract's canonical hash and the hash of the entry before it, so a version cannot be
//! edited, dropped or reordered without `gauntlet contract check` noticing.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::AuditError;
use crate::signer::{SignatureRecord, TrustedKeys};

pub const LOCK_FILE: &str = "gauntlet.contracts.lock";
pub const LOCK_FORMAT: &str = "gauntlet-contracts-lock/1";

/// The canonical hash of a contract's content: canonical JSON (sorted keys, no whitespace)
/// without its `version` and `name`, so formatting and key order do not matter and bumping
/// the version alone does not change it.
pub fn contract_hash(definition: &Value) -> String {
    let mut content = definition.clone();
    if let Some(obj) = content.as_object_mut() {
        obj.remove("version");
        obj.remove("name");
    }
    gauntlet_core::hash::content_hash(&content)
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ContractLock {
    pub format: String,
    /// Public keys (PEM) that signed entries, by key id; `contract check --public-key` pins
    /// a key instead of trusting these.
    #[serde(default)]
    pub keys: BTreeMap<String, String>,
    pub contracts: BTreeMap<String, Vec<SignedVersion>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SignedVersion {
    pub version: String,
    pub hash: String,
    /// The entry hash of the previous version; absent on the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    pub signed_at: String,
    pub signed_by: String,
    pub signature: SignatureRecord,
}

impl SignedVersion {
    fn body(&self, name: &str) -> Value {
        json!({
            "contract": name,
            "version": self.version,
            "hash": self.hash,
            "previous": self.previous,
            "signed_at": self.signed_at,
            "signed_by": self.signed_by,
        })
    }

    /// The hash the next version's `previous` must name.
    pub fn entry_hash(&self, name: &str) -> String {
        gauntlet_core::hash::content_hash(&self.body(name))
    }

    /// The bytes the signature covers.
    pub fn message(&self, name: &str) -> Vec<u8> {
        format!(
            "gauntlet-contract/1\n{}\n",
            gauntlet_core::hash::canonical_json(&self.body(name))
        )
        .into_bytes()
    }
}

impl ContractLock {
    pub fn new() -> ContractLock {
        ContractLock {
            format: LOCK_FORMAT.to_owned(),
            ..ContractLock::default()
        }
    }

    pub fn parse(text: &str) -> Result<ContractLock, AuditError> {
        let lock: ContractLock = serde_json::from_str(text)
            .map_err(|e| AuditError::Invalid(format!("{LOCK_FILE} is not a contract lock: {e}")))?;
        if lock.format != LOCK_FORMAT {
            return Err(AuditError::Invalid(format!(
                "{LOCK_FILE} has format `{}`; this Gauntlet reads `{LOCK_FORMAT}`",
                lock.format
            )));
        }
        Ok(lock)
    }

    pub fn to_text(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    pub fn latest(&self, name: &str) -> Option<&SignedVersion> {
        self.contracts.get(name).and_then(|c| c.last())
    }
}

/// A contract as the project defines it now.
#[derive(Clone, Debug)]
pub struct CurrentContract {
    pub version: Option<String>,
    pub hash: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Finding {
    /// Never signed: informational unless `--require-signed`.
    Unsigned { contract: String },
    /// The content differs from the signed version of the same number.
    ChangedWithoutVersion {
        contract: String,
        version: String,
        signed: String,
        current: String,
    },
    /// The version was bumped (or removed) but the new content is not signed.
    VersionNotSigned {
        contract: String,
        version: Option<String>,
        latest_signed: String,
    },
    /// An entry's `previous` does not name the entry before it, or a version repeats.
    BrokenChain {
        contract: String,
        index: usize,
        reason: String,
    },
    BadSignature {
        contract: String,
        version: String,
        reason: String,
    },
    /// Signed, but no longer in the project.
    Removed { contract: String },
}

impl Finding {
    /// Whether the finding fails `contract check`.
    pub fn fails(&self, require_signed: bool) -> bool {
        match self {
            Finding::Unsigned { .. } => require_signed,
            Finding::Removed { .. } => false,
            _ => true,
        }
    }

    pub fn message(&self) -> String {
        match self {
            Finding::Unsigned { contract } => {
                format!("contract `{contract}` is not signed; run `gauntlet contract sign`")
            }
            Finding::ChangedWithoutVersion {
                contract,
                version,
                signed,
                current,
            } => format!(
                "contract `{contract}` changed without a new version: version {version} was signed as {} and is now {}; bump its `version` and run `gauntlet contract sign`",
                short(signed),
                short(current)
            ),
            Finding::VersionNotSigned {
                contract,
                version,
                latest_signed,
            } => format!(
                "contract `{contract}` is at {} but the latest signed version is {latest_signed}; run `gauntlet contract sign`",
                version
                    .as_deref()
                    .map_or("no version".to_owned(), |v| format!("version {v}"))
            ),
            Finding::BrokenChain {
                contract,
                index,
                reason,
            } => {
                format!("the signed versions of `{contract}` are broken at entry {index}: {reason}")
            }
            Finding::BadSignature {
                contract,
                version,
                reason,
            } => format!("version {version} of `{contract}`: {reason}"),
            Finding::Removed { contract } => {
                format!("contract `{contract}` is signed but no longer defined")
            }
        }
    }
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

/// Checks the project's contracts against the lock. `trusted` verifies the signatures; when
/// it is empty the keys recorded in the lock are used.
pub fn check(
    lock: &ContractLock,
    current: &BTreeMap<String, CurrentContract>,
    trusted: &TrustedKeys,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut recorded = TrustedKeys::new();
    let keys = if trusted.is_empty() {
        for pem in lock.keys.values() {
            if let Ok(k) = <ed25519_dalek::VerifyingKey as ed25519_dalek::pkcs8::DecodePublicKey>::from_public_key_pem(pem) {
                recorded.add(k);
            }
        }
        &recorded
    } else {
        trusted
    };
    for (name, versions) in &lock.contracts {
        let mut seen = std::collections::BTreeSet::new();
        for (i, v) in versions.iter().enumerate() {
            let expected = i.checked_sub(1).map(|p| versions[p].entry_hash(name));
            if v.previous != expected {
                findings.push(Finding::BrokenChain {
                    contract: name.clone(),
                    index: i,
                    reason: match (&expected, &v.previous) {
                        (None, Some(_)) => "the first version names a predecessor".into(),
                        (Some(_), None) => "it does not name its predecessor".into(),
                        _ => "its predecessor's hash does not match (an earlier version was edited, removed or reordered)".into(),
                    },
                });
            }
            if !seen.insert(v.version.clone()) {
                findings.push(Finding::BrokenChain {
                    contract: name.clone(),
                    index: i,
                    reason: format!("version {} is signed twice", v.version),
                });
            }
            if let Err(reason) = keys.verify(&v.message(name), &v.signature) {
                findings.push(Finding::BadSignature {
                    contract: name.clone(),
                    version: v.version.clone(),
                    reason,
                });
            }
        }
        if !current.contains_key(name) {
            findings.push(Finding::Removed {
                contract: name.clone(),
            });
        }
    }
    for (name, c) in current {
        let Some(latest) = lock.latest(name) else {
            findings.push(Finding::Unsigned {
                contract: name.clone(),
            });
            continue;
        };
        if c.version.as_deref() == Some(latest.version.as_str()) {
            if c.hash != latest.hash {
                findings.push(Finding::ChangedWithoutVersion {
                    contract: name.clone(),
                    version: latest.version.clone(),
                    signed: latest.hash.clone(),
                    current: c.hash.clone(),
                });
            }
        } else {
            findings.push(Finding::VersionNotSigned {
                contract: name.clone(),
                version: c.version.clone(),
                latest_signed: latest.version.clone(),
            });
        }
    }
    findings
}

/// What [`prepare`] decided for one contract.
#[derive(Debug, PartialEq)]
pub enum SignPlan {
    /// This exact content and version are already the latest signed entry.
    AlreadySigned,
    /// A new entry (signature still empty) to sign and append.
    Append(SignedVersion),
}

/// Plans signing `name` at its current content: refuses a reused version or a changed
/// content under a signed version number.
pub fn prepare(
    lock: &ContractLock,
    name: &str,
    current: &CurrentContract,
    signed_at: &str,
    signed_by: &str,
) -> Result<SignPlan, AuditError> {
    let Some(version) = current.version.clone() else {
        return Err(AuditError::Invalid(format!(
            "contract `{name}` has no `version`; add one (e.g. `version: 1.0.0`) before signing"
        )));
    };
    let versions = lock.contracts.get(name).map(Vec::as_slice).unwrap_or(&[]);
    if let Some(latest) = versions.last()
        && latest.version == version
    {
        if latest.hash == current.hash {
            return Ok(SignPlan::AlreadySigned);
        }
        return Err(AuditError::Invalid(format!(
            "contract `{name}` changed since version {version} was signed; give it a new `version` to sign the change"
        )));
    }
    if versions.iter().any(|v| v.version == version) {
        return Err(AuditError::Invalid(format!(
            "version {version} of contract `{name}` was signed before; versions are never reused"
        )));
    }
    Ok(SignPlan::Append(SignedVersion {
        version,
        hash: current.hash.clone(),
        previous: versions.last().map(|v| v.entry_hash(name)),
        signed_at: signed_at.to_owned(),
        signed_by: signed_by.to_owned(),
        signature: SignatureRecord {
            alg: String::new(),
            key_id: String::new(),
            value: String::new(),
        },
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use crate::signer::{LocalSigner, Signer, public_key_pem};

    fn sign(lock: &mut ContractLock, signer: &LocalSigner, name: &str, c: &CurrentContract) {
        match prepare(lock, name, c, "2026-01-01T00:00:00.000Z", "tester").unwrap() {
            SignPlan::AlreadySigned => {}
            SignPlan::Append(mut v) => {
                v.signature = signer.sign_now(&v.message(name));
                lock.keys.insert(
                    signer.key_id().to_owned(),
                    public_key_pem(signer.public_key()).unwrap(),
                );
                lock.contracts.entry(name.to_owned()).or_default().push(v);
            }
        }
    }

    fn current(version: &str, def: Value) -> CurrentContract {
        CurrentContract {
            version: Some(version.into()),
            hash: contract_hash(&def),
        }
    }

    #[test]
    fn the_hash_ignores_formatting_key_order_and_the_version() {
        let a: Value =
            serde_json::from_str(r#"{"max_tokens": 10, "allowed_tools": ["a"], "version": "1"}"#)
                .unwrap();
        let b: Value = serde_json::from_str(
            r#"{ "allowed_tools" : [ "a" ],
            "version": "2", "max_tokens":10 }"#,
        )
        .unwrap();
        assert_eq!(contract_hash(&a), contract_hash(&b));
        let c: Value =
            serde_json::from_str(r#"{"max_tokens": 11, "allowed_tools": ["a"]}"#).unwrap();
        assert_ne!(contract_hash(&a), contract_hash(&c));
    }

    #[test]
    fn a_chain_of_versions_checks_and_every_break_is_named() {
        let signer = LocalSigner::generate().unwrap();
        let mut lock = ContractLock::new();
        let v1 = current("1.0.0", json!({"max_tokens": 10}));
        let v2 = current("1.1.0", json!({"max_tokens": 20}));
        sign(&mut lock, &signer, "budget", &v1);
        sign(&mut lock, &signer, "budget", &v2);
        let project = |c: &CurrentContract| BTreeMap::from([("budget".to_owned(), c.clone())]);
        let none = TrustedKeys::new();
        assert_eq!(check(&lock, &project(&v2), &none), vec![]);

        // Re-signing the same content and version is a no-op; changed content under the same
        // version, or a reused version, is refused.
        assert_eq!(
            prepare(&lock, "budget", &v2, "t", "me").unwrap(),
            SignPlan::AlreadySigned
        );
        let edited = current("1.1.0", json!({"max_tokens": 30}));
        assert!(prepare(&lock, "budget", &edited, "t", "me").is_err());
        assert!(prepare(&lock, "budget", &current("1.0.0", json!({})), "t", "me").is_err());

        // Content changed without a version bump.
        let findings = check(&lock, &project(&edited), &none);
        assert!(
            matches!(findings[..], [Finding::ChangedWithoutVersion { .. }]),
            "{findings:?}"
        );
        assert!(findings[0].fails(false));
        // A bumped but unsigned version.
        let bumped = current("2.0.0", json!({"max_tokens": 30}));
        assert!(matches!(
            check(&lock, &project(&bumped), &none)[..],
            [Finding::VersionNotSigned { .. }]
        ));

        // Editing an old entry breaks the chain after it, and its signature.
        let mut tampered = lock.clone();
        tampered.contracts.get_mut("budget").unwrap()[0].hash = "0".repeat(64);
        let findings = check(&tampered, &project(&v2), &none);
        assert!(
            findings
                .iter()
                .any(|f| matches!(f, Finding::BrokenChain { index: 1, .. }))
        );
        assert!(
            findings
                .iter()
                .any(|f| matches!(f, Finding::BadSignature { .. }))
        );

        // Dropping the first version breaks the chain too.
        let mut dropped = lock.clone();
        dropped.contracts.get_mut("budget").unwrap().remove(0);
        assert!(matches!(
            check(&dropped, &project(&v2), &none)[..],
            [Finding::BrokenChain { index: 0, .. }]
        ));

        // Pinning another key rejects every signature.
        let mut other = TrustedKeys::new();
        other.add(*LocalSigner::generate().unwrap().public_key());
        assert_eq!(
            check(&lock, &project(&v2), &other)
                .iter()
                .filter(|f| matches!(f, Finding::BadSignature { .. }))
                .count(),
            2
        );
        // The lock round-trips through its text.
        assert_eq!(ContractLock::parse(&lock.to_text()).unwrap(), lock);
    }
}
