//! Export for SIEMs: JSON lines (one event per line, with its leaf hash) and RFC 5424 syslog.

use std::io::Write;

use crate::event::{Decision, StoredEvent};
use crate::merkle;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    JsonLines,
    Syslog,
}

/// Writes one event in `format`, newline-terminated.
pub fn write_event(
    out: &mut dyn Write,
    format: ExportFormat,
    stored: &StoredEvent,
    hostname: &str,
) -> std::io::Result<()> {
    match format {
        ExportFormat::JsonLines => {
            let mut value = serde_json::to_value(&stored.event).unwrap_or_default();
            if let Some(obj) = value.as_object_mut() {
                obj.insert("leaf_hash".into(), merkle::to_hex(&stored.leaf_hash).into());
            }
            serde_json::to_writer(&mut *out, &value)?;
            out.write_all(b"\n")
        }
        ExportFormat::Syslog => out.write_all(syslog_line(stored, hostname).as_bytes()),
    }
}

/// Facility 13 (log audit); severity 4 (warning) for denials, 5 (notice) otherwise.
fn priority(decision: Option<Decision>) -> u8 {
    13 * 8
        + if decision == Some(Decision::Deny) {
            4
        } else {
            5
        }
}

/// An RFC 5424 message: the event's fields as structured data under `gauntlet@32473` (32473
/// is the private enterprise number RFC 5612 reserves for documentation and examples).
pub fn syslog_line(stored: &StoredEvent, hostname: &str) -> String {
    let e = &stored.event;
    let mut sd = format!(
        "[gauntlet@32473 seq=\"{}\" tenant=\"{}\" actor=\"{}\" action=\"{}\" resource=\"{}\"",
        e.seq,
        sd_escape(&e.tenant),
        sd_escape(&e.actor),
        sd_escape(&e.action),
        sd_escape(&e.resource)
    );
    if let Some(d) = e.decision {
        sd.push_str(&format!(
            " decision=\"{}\"",
            if d == Decision::Deny { "deny" } else { "allow" }
        ));
    }
    if let Some(id) = &e.request_id {
        sd.push_str(&format!(" request_id=\"{}\"", sd_escape(id)));
    }
    if let Some(d) = &e.payload_digest {
        sd.push_str(&format!(" payload_digest=\"{}\"", sd_escape(d)));
    }
    sd.push_str(&format!(
        " leaf_hash=\"{}\"]",
        merkle::to_hex(&stored.leaf_hash)
    ));
    let mut msg = format!("{} {} {}", e.actor, e.action, e.resource);
    if let Some(r) = &e.reason {
        msg.push_str(": ");
        msg.push_str(r);
    }
    let host = if hostname.is_empty() { "-" } else { hostname };
    format!(
        "<{}>1 {} {} gauntlet - {} {} {}\n",
        priority(e.decision),
        e.time,
        host,
        msgid(&e.action),
        sd,
        msg.replace(['\n', '\r'], " ")
    )
}

/// MSGID is at most 32 printable ASCII characters.
fn msgid(action: &str) -> String {
    let s: String = action
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(32)
        .collect();
    if s.is_empty() { "-".into() } else { s }
}

/// PARAM-VALUE escapes `"`, `\` and `]` (RFC 5424 §6.3.3).
fn sd_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Event, StoredEvent};

    #[test]
    fn syslog_lines_follow_rfc_5424() {
        let e = StoredEvent::of(Event {
            seq: 7,
            time: "2026-11-22T10:00:00.000Z".into(),
            tenant: "acme".into(),
            actor: "user:\"eve\"".into(),
            action: "auth.login".into(),
            resource: "key/abc]".into(),
            decision: Some(Decision::Deny),
            reason: Some("bad key\nretry".into()),
            request_id: Some("req-1".into()),
            payload_digest: None,
            details: serde_json::Value::Null,
        });
        let line = syslog_line(&e, "host1");
        assert!(line.starts_with("<108>1 2026-11-22T10:00:00.000Z host1 gauntlet - auth.login [gauntlet@32473 seq=\"7\" tenant=\"acme\" actor=\"user:\\\"eve\\\"\" action=\"auth.login\" resource=\"key/abc\\]\" decision=\"deny\" request_id=\"req-1\" leaf_hash=\""), "{line}");
        assert!(
            line.ends_with("] user:\"eve\" auth.login key/abc]: bad key retry\n"),
            "{line}"
        );
    }
}
