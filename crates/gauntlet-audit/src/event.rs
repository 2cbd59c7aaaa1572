//! Audit events: what is recorded, and the bytes its leaf hash covers.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::merkle::{self, Hash};

/// What an authorisation decision concluded; absent for events that are not decisions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Allow,
    Deny,
}

/// The actions this build records.
pub mod action {
    pub const RUN_START: &str = "run.start";
    pub const RUN_FINISH: &str = "run.finish";
    pub const CONFIG_CHANGE: &str = "config.change";
    pub const BASELINE_SET: &str = "baseline.set";
    pub const CONTRACT_SIGN: &str = "contract.sign";
    pub const RETENTION_PURGE: &str = "retention.purge";
    pub const AUDIT_BUNDLE: &str = "audit.bundle";
    pub const AUDIT_EXPORT: &str = "audit.export";
}

/// An event before the log places it: everything but its index and time.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NewEvent {
    pub tenant: String,
    pub actor: String,
    pub action: String,
    pub resource: String,
    pub decision: Option<Decision>,
    pub reason: Option<String>,
    pub request_id: Option<String>,
    /// SHA-256 (hex) of the data the event is about (a configuration snapshot, a transcript):
    /// the event pins that data without holding it, so purging the data leaves the log whole.
    pub payload_digest: Option<String>,
    /// Small, non-sensitive facts (counts, names, hashes); never transcripts or secrets.
    pub details: Value,
}

impl NewEvent {
    pub fn new(tenant: &str, actor: &str, action: &str, resource: impl Into<String>) -> NewEvent {
        NewEvent {
            tenant: tenant.to_owned(),
            actor: actor.to_owned(),
            action: action.to_owned(),
            resource: resource.into(),
            details: Value::Object(Default::default()),
            ..NewEvent::default()
        }
    }

    pub fn digest(mut self, digest: impl Into<String>) -> NewEvent {
        self.payload_digest = Some(digest.into());
        self
    }

    pub fn details(mut self, details: Value) -> NewEvent {
        self.details = details;
        self
    }

    pub fn reason(mut self, reason: impl Into<String>) -> NewEvent {
        self.reason = Some(reason.into());
        self
    }

    pub fn decision(mut self, decision: Decision) -> NewEvent {
        self.decision = Some(decision);
        self
    }

    pub fn request_id(mut self, id: impl Into<String>) -> NewEvent {
        self.request_id = Some(id.into());
        self
    }

    pub(crate) fn place(self, seq: u64, time: String) -> Event {
        Event {
            seq,
            time,
            tenant: self.tenant,
            actor: self.actor,
            action: self.action,
            resource: self.resource,
            decision: self.decision,
            reason: self.reason,
            request_id: self.request_id,
            payload_digest: self.payload_digest,
            details: self.details,
        }
    }
}

/// An event in the log. Its leaf is the canonical JSON of all its fields, index included, so
/// an event moved to another position no longer matches its leaf hash.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub seq: u64,
    pub time: String,
    pub tenant: String,
    pub actor: String,
    pub action: String,
    pub resource: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_digest: Option<String>,
    #[serde(default)]
    pub details: Value,
}

impl Event {
    /// The leaf data: canonical JSON (sorted keys, no whitespace), written field by field in
    /// key order; verification hashes every event, so this skips the intermediate `Value`.
    pub fn leaf_data(&self) -> String {
        fn field(out: &mut String, key: &str, value: &str) {
            if out.len() > 1 {
                out.push(',');
            }
            out.push('"');
            out.push_str(key);
            out.push_str("\":");
            out.push_str(value);
        }
        fn text(s: &str) -> String {
            serde_json::to_string(s).unwrap_or_default()
        }
        let mut out = String::with_capacity(256);
        out.push('{');
        field(&mut out, "action", &text(&self.action));
        field(&mut out, "actor", &text(&self.actor));
        if let Some(d) = self.decision {
            let d = match d {
                Decision::Allow => "\"allow\"",
                Decision::Deny => "\"deny\"",
            };
            field(&mut out, "decision", d);
        }
        field(
            &mut out,
            "details",
            &gauntlet_core::hash::canonical_json(&self.details),
        );
        for (key, value) in [
            ("payload_digest", &self.payload_digest),
            ("reason", &self.reason),
            ("request_id", &self.request_id),
        ] {
            if let Some(v) = value {
                field(&mut out, key, &text(v));
            }
        }
        field(&mut out, "resource", &text(&self.resource));
        field(&mut out, "seq", &self.seq.to_string());
        field(&mut out, "tenant", &text(&self.tenant));
        field(&mut out, "time", &text(&self.time));
        out.push('}');
        out
    }

    pub fn leaf_hash(&self) -> Hash {
        merkle::leaf_hash(self.leaf_data().as_bytes())
    }
}

/// An event as stored: with the leaf hash computed when it was appended.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredEvent {
    pub event: Event,
    pub leaf_hash: Hash,
}

impl StoredEvent {
    pub fn of(event: Event) -> StoredEvent {
        let leaf_hash = event.leaf_hash();
        StoredEvent { event, leaf_hash }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_leaf_is_the_canonical_json_of_the_event() {
        let full = NewEvent::new("t\u{e9}", "cli:\"me\"", action::BASELINE_SET, "b/\n1")
            .digest("sha256:00")
            .reason("why\t")
            .request_id("req-1")
            .decision(Decision::Deny)
            .details(serde_json::json!({"z": [1.5, {"b": null, "a": "\u{1F600}"}], "a": true}))
            .place(u64::MAX, "2026-01-01T00:00:00.000Z".into());
        let bare = NewEvent::new("t", "a", "x", "r")
            .details(Value::Null)
            .place(0, "t".into());
        for e in [full, bare] {
            let canonical =
                gauntlet_core::hash::canonical_json(&serde_json::to_value(&e).unwrap_or_default());
            assert_eq!(e.leaf_data(), canonical);
        }
    }

    #[test]
    fn the_leaf_covers_the_index_and_ignores_key_order() {
        let e = NewEvent::new("t", "cli:me", action::RUN_START, "run/1")
            .details(serde_json::json!({"b": 1, "a": 2}))
            .place(3, "2026-01-01T00:00:00.000Z".into());
        assert_eq!(
            e.leaf_data(),
            r#"{"action":"run.start","actor":"cli:me","details":{"a":2,"b":1},"resource":"run/1","seq":3,"tenant":"t","time":"2026-01-01T00:00:00.000Z"}"#
        );
        let mut moved = e.clone();
        moved.seq = 4;
        assert_ne!(e.leaf_hash(), moved.leaf_hash());
    }
}
