//! Audit bundles: one gzip-compressed JSON-lines file holding everything needed to check a run
//! offline with only a public key.
//!
//! Lines, in order: `header`, `run`, `config`, `contracts`, one `case` per case result, one
//! `event` per audit event of the run (each with its inclusion proof in a signed tree head),
//! and a final `signature` over the SHA-256 of every byte before it. Records are streamed, so
//! a bundle of a 100,000-case run is never held in memory.

use std::io::{BufRead, BufReader, Read, Write};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::AuditError;
use crate::event::action;
use crate::log::InclusionProof;
use crate::merkle;
use crate::signer::{SignatureRecord, Signer, TrustedKeys};

pub const FORMAT: &str = "gauntlet-audit-bundle/1";

/// How [`BundleWriter::record`] starts a case line; the rest up to the final `}` is the case.
const CASE_PREFIX: &[u8] = br#"{"kind":"case","data":"#;

/// The bytes the bundle signature covers.
fn signed_message(sha256: &str) -> Vec<u8> {
    format!("{FORMAT}\n{sha256}\n").into_bytes()
}

/// The digest of a run's transcript: SHA-256 over the sorted SHA-256s of each case result's
/// JSON (as `serde_json` writes the result type: fields in declaration order). Order-free, so
/// results written in completion order and read back in index order agree. The bundle verifier
/// hashes the exact bytes of each `case` record, so no re-serialisation is involved.
#[derive(Default)]
pub struct TranscriptDigest {
    cases: Vec<[u8; 32]>,
}

impl TranscriptDigest {
    pub fn new() -> TranscriptDigest {
        TranscriptDigest::default()
    }

    pub fn add_bytes(&mut self, case_json: &[u8]) {
        self.cases.push(Sha256::digest(case_json).into());
    }

    pub fn add_serialize<T: Serialize>(&mut self, case: &T) {
        self.add_bytes(&serde_json::to_vec(case).unwrap_or_default());
    }

    pub fn len(&self) -> usize {
        self.cases.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cases.is_empty()
    }

    pub fn hex(mut self) -> String {
        self.cases.sort_unstable();
        let mut h = Sha256::new();
        for c in &self.cases {
            h.update(c);
        }
        merkle::to_hex(&h.finalize())
    }
}

/// Writes a bundle record by record.
pub struct BundleWriter<W: Write> {
    gz: GzEncoder<W>,
    digest: Sha256,
    line: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct Line<T> {
    kind: String,
    data: T,
}

impl<W: Write> BundleWriter<W> {
    pub fn new(out: W, run_id: &str, created_at: &str) -> Result<BundleWriter<W>, AuditError> {
        let mut w = BundleWriter {
            gz: GzEncoder::new(out, Compression::default()),
            digest: Sha256::new(),
            line: Vec::with_capacity(4096),
        };
        w.record(
            "header",
            &json!({ "format": FORMAT, "run_id": run_id, "created_at": created_at }),
        )?;
        Ok(w)
    }

    pub fn record<T: Serialize>(&mut self, kind: &str, data: &T) -> Result<(), AuditError> {
        self.line.clear();
        serde_json::to_writer(
            &mut self.line,
            &Line {
                kind: kind.to_owned(),
                data,
            },
        )
        .map_err(|e| AuditError::Invalid(format!("encoding a `{kind}` record: {e}")))?;
        self.line.push(b'\n');
        self.digest.update(&self.line);
        self.gz.write_all(&self.line).map_err(AuditError::Io)
    }

    /// Signs everything written and closes the stream.
    pub async fn finish(mut self, signer: &dyn Signer) -> Result<W, AuditError> {
        let sha256 = merkle::to_hex(&self.digest.clone().finalize());
        let signature = signer.sign(&signed_message(&sha256)).await?;
        self.record(
            "signature",
            &json!({ "sha256": sha256, "signature": signature }),
        )?;
        self.gz.finish().map_err(AuditError::Io)
    }
}

/// What a verified bundle holds.
#[derive(Clone, Debug, Serialize)]
pub struct BundleSummary {
    pub run_id: String,
    pub suite: String,
    pub status: String,
    pub config_hash: String,
    pub cases: usize,
    pub events: usize,
    pub tree_size: u64,
    pub bundle_key: String,
    pub checkpoint_key: String,
    pub policy_bundle_checksum: String,
}

fn bad(msg: impl Into<String>) -> AuditError {
    AuditError::Bundle(msg.into())
}

/// Checks a bundle offline: the signature over its bytes, each event's inclusion proof and
/// tree-head signature, the configuration against the run's hash, the transcript against the
/// digest the run's `run.finish` event pinned, and the contracts against their checksum.
pub fn verify_bundle(input: impl Read, trusted: &TrustedKeys) -> Result<BundleSummary, AuditError> {
    let reader = BufReader::new(GzDecoder::new(input));
    let mut digest = Sha256::new();
    let mut transcript = TranscriptDigest::new();
    let mut header: Option<Value> = None;
    let mut run: Option<Value> = None;
    let mut config_hash: Option<String> = None;
    let mut policy: Option<String> = None;
    let mut proofs: Vec<InclusionProof> = Vec::new();
    let mut signature: Option<(String, SignatureRecord)> = None;
    for (n, line) in reader.split(b'\n').enumerate() {
        let line = line.map_err(|e| bad(format!("the bundle is not valid gzip: {e}")))?;
        if signature.is_some() {
            return Err(bad("data follows the signature"));
        }
        let record: Line<Value> = serde_json::from_slice(&line)
            .map_err(|e| bad(format!("line {} is not a bundle record: {e}", n + 1)))?;
        if record.kind != "signature" {
            digest.update(&line);
            digest.update(b"\n");
        }
        let data = record.data;
        match record.kind.as_str() {
            "header" if n == 0 => {
                if data["format"] != FORMAT {
                    return Err(bad(format!("unknown bundle format {}", data["format"])));
                }
                header = Some(data);
            }
            _ if n == 0 => return Err(bad("the bundle does not start with a header")),
            "run" => run = Some(data),
            "config" => {
                let snapshot = &data["snapshot"];
                let computed = gauntlet_core::hash::content_hash(snapshot);
                if data["hash"] != computed.as_str() {
                    return Err(bad("the configuration snapshot does not match its hash"));
                }
                config_hash = Some(computed);
            }
            "contracts" => {
                let computed = gauntlet_core::hash::content_hash(&data["contracts"]);
                if data["policy_bundle_checksum"] != computed.as_str() {
                    return Err(bad("the contract snapshot does not match its checksum"));
                }
                policy = Some(computed);
            }
            "case" => transcript.add_bytes(
                line.strip_prefix(CASE_PREFIX)
                    .and_then(|rest| rest.strip_suffix(b"}"))
                    .ok_or_else(|| bad(format!("line {} is not a case record", n + 1)))?,
            ),
            "event" => proofs.push(
                serde_json::from_value(data)
                    .map_err(|e| bad(format!("line {}: not an audit event proof: {e}", n + 1)))?,
            ),
            "signature" => {
                let sig: SignatureRecord = serde_json::from_value(data["signature"].clone())
                    .map_err(|e| bad(format!("the signature record is malformed: {e}")))?;
                let sha = data["sha256"].as_str().unwrap_or_default().to_owned();
                signature = Some((sha, sig));
            }
            other => return Err(bad(format!("unknown record kind `{other}`"))),
        }
    }
    let (sha, sig) = signature.ok_or_else(|| bad("the bundle is not signed (or is truncated)"))?;
    let computed = merkle::to_hex(&digest.finalize());
    if sha != computed {
        return Err(bad(
            "the bundle's contents do not match the digest it was signed over: it was modified",
        ));
    }
    trusted
        .verify(&signed_message(&sha), &sig)
        .map_err(|e| bad(format!("bundle signature: {e}")))?;

    let header = header.ok_or_else(|| bad("no header"))?;
    let run = run.ok_or_else(|| bad("no run record"))?;
    let run_id = run["id"].as_str().unwrap_or_default().to_owned();
    if header["run_id"] != run_id.as_str() {
        return Err(bad("the header and the run record name different runs"));
    }
    let config_hash = config_hash.ok_or_else(|| bad("no configuration snapshot"))?;
    if run["config_hash"] != config_hash.as_str() {
        return Err(bad(
            "the run's configuration hash does not match the snapshot",
        ));
    }
    let resource = format!("run/{run_id}");
    let mut start = None;
    let mut finish = None;
    for p in &proofs {
        p.verify(trusted)
            .map_err(|e| bad(format!("audit event {}: {e}", p.event.seq)))?;
        if p.event.resource == resource {
            match p.event.action.as_str() {
                action::RUN_START => start = Some(p),
                action::RUN_FINISH => finish = Some(p),
                _ => {}
            }
        }
    }
    let start = start.ok_or_else(|| bad("no audit event records the start of this run"))?;
    if start.event.payload_digest.as_deref() != Some(config_hash.as_str()) {
        return Err(bad(
            "the configuration differs from the one recorded in the audit log when the run started",
        ));
    }
    let finish = finish.ok_or_else(|| bad("no audit event records the end of this run"))?;
    let cases = transcript.len();
    if finish.event.payload_digest.as_deref() != Some(transcript.hex().as_str()) {
        return Err(bad(
            "the case results differ from the transcript recorded in the audit log when the run finished",
        ));
    }
    let tree_size = proofs.iter().map(|p| p.tree_size).max().unwrap_or(0);
    Ok(BundleSummary {
        run_id,
        suite: run["suite"].as_str().unwrap_or_default().to_owned(),
        status: run["status"].as_str().unwrap_or_default().to_owned(),
        config_hash,
        cases,
        events: proofs.len(),
        tree_size,
        bundle_key: sig.key_id,
        checkpoint_key: finish
            .checkpoint
            .signature
            .as_ref()
            .map(|s| s.key_id.clone())
            .unwrap_or_default(),
        policy_bundle_checksum: policy.ok_or_else(|| bad("no contract snapshot"))?,
    })
}
