//! A streamed answer relayed event by event, never buffered whole.
//!
//! Text deltas are collected into a pending buffer; every new delta is scanned by the
//! response guardrails together with the last [`OVERLAP`] characters already sent (so a
//! finding split across deltas is seen whole), and text is released only once [`HOLDBACK`]
//! characters have arrived after it. A finding of up to `HOLDBACK` characters is therefore
//! caught before any of it leaves; when a block happens the caller has received the text up
//! to at most `HOLDBACK` characters before the finding, then an error event in the vendor's
//! shape, then the end of the stream. Released text has its PII placeholders replaced with the
//! caller's values (a placeholder split across deltas is held until it is complete). Other
//! events (tool-call deltas, stops, usage) pass through in order, after the pending text.
//! Output tokens are counted as they come: a stream that would pass its reservation is cut
//! off with an error event.

use bytes_of::sse_bytes;
use gauntlet_core::gateway::{Guardrail, Mode, Stage};
use gauntlet_core::result::Tokens;
use gauntlet_mock_server::Dialect;
use gauntlet_providers::http::{Event, SseParser};
use serde_json::{Value, json};

use crate::guard;
use crate::proxy::Flight;

pub const OVERLAP: usize = 256;
pub const HOLDBACK: usize = 64;

type Tx = tokio::sync::mpsc::Sender<Result<axum::body::Bytes, std::io::Error>>;

mod bytes_of {
    use serde_json::Value;

    pub fn sse_bytes(event: Option<&str>, data: &Value) -> axum::body::Bytes {
        let mut s = String::new();
        if let Some(e) = event {
            s.push_str("event: ");
            s.push_str(e);
            s.push('\n');
        }
        s.push_str("data: ");
        s.push_str(&data.to_string());
        s.push_str("\n\n");
        axum::body::Bytes::from(s)
    }
}

struct Relay {
    dialect: Dialect,
    model: String,
    pending: String,
    /// The last text event, whose shape released text is sent in.
    template: Option<(Option<String>, Value)>,
    /// The tail of what was sent, for the next scan's overlap.
    sent_tail: String,
    output_tokens: u64,
    input_tokens: Option<u64>,
    reported_output: Option<u64>,
    cap: u64,
    wants_usage: bool,
    monitored: Vec<String>,
    /// The response guardrails, split once per stream: those that redact the pending text,
    /// and those that block or monitor the window.
    redacting: Vec<Guardrail>,
    watching: Vec<Guardrail>,
}

enum Step {
    Go(Vec<axum::body::Bytes>),
    Stop(Vec<axum::body::Bytes>, &'static str, String),
}

impl Relay {
    fn text_of<'v>(&self, e: &Event, v: &'v Value) -> Option<&'v str> {
        match self.dialect {
            Dialect::OpenAi => v
                .pointer("/choices/0/delta/content")
                .and_then(Value::as_str),
            Dialect::Anthropic => (e.event.as_deref() == Some("content_block_delta")
                && v.pointer("/delta/type").and_then(Value::as_str) == Some("text_delta"))
            .then(|| v.pointer("/delta/text").and_then(Value::as_str))
            .flatten(),
        }
    }

    fn error_event(&self, kind: &str, message: &str) -> axum::body::Bytes {
        match self.dialect {
            Dialect::OpenAi => sse_bytes(
                None,
                &json!({"error": {"message": message, "type": kind, "param": null, "code": kind}}),
            ),
            Dialect::Anthropic => sse_bytes(
                Some("error"),
                &json!({"type": "error", "error": {"type": kind, "message": message}}),
            ),
        }
    }

    /// Sends pending text up to `upto` bytes (restored), in the last text event's shape.
    fn release(&mut self, flight: &mut Flight, upto: usize, out: &mut Vec<axum::body::Bytes>) {
        let mut cut = upto.min(self.pending.len());
        while !self.pending.is_char_boundary(cut) {
            cut -= 1;
        }
        if let Some(p) = flight.vault.partial_at_end(&self.pending[..cut]) {
            cut = p;
        }
        if cut == 0 {
            return;
        }
        let text: String = self.pending.drain(..cut).collect();
        self.sent_tail.push_str(&text);
        if self.sent_tail.len() > OVERLAP * 2 {
            let mut from = self.sent_tail.len() - OVERLAP;
            while !self.sent_tail.is_char_boundary(from) {
                from -= 1;
            }
            self.sent_tail.drain(..from);
        }
        if let Some(r) = flight.recorded.as_mut() {
            r.text.push_str(&text);
        }
        let restored = flight.vault.restore(&text);
        out.extend(self.text_event(restored));
    }

    /// `text` in the shape of the last text event.
    fn text_event(&self, text: String) -> Option<axum::body::Bytes> {
        let (event, mut v) = self.template.clone()?;
        let ptr = match self.dialect {
            Dialect::OpenAi => "/choices/0/delta/content",
            Dialect::Anthropic => "/delta/text",
        };
        if let Some(slot) = v.pointer_mut(ptr) {
            *slot = Value::String(text);
        }
        Some(sse_bytes(event.as_deref(), &v))
    }

    /// Scans the pending text with the overlap; `Err` when a guardrail blocks.
    fn scan(&mut self, flight: &mut Flight) -> Result<(), guard::Blocked> {
        if (self.redacting.is_empty() && self.watching.is_empty()) || self.pending.is_empty() {
            return Ok(());
        }
        // Redaction applies to the pending text itself; blocks and monitors see the window.
        let mut hits = Vec::new();
        if !self.redacting.is_empty() {
            let _ = guard::text(
                &self.redacting,
                Stage::Response,
                &mut self.pending,
                &mut flight.vault,
                &mut hits,
            );
        }
        let mut window = format!("{}{}", self.sent_tail, self.pending);
        let outcome = guard::text(
            &self.watching,
            Stage::Response,
            &mut window,
            &mut flight.vault,
            &mut hits,
        );
        for h in hits {
            if !self.monitored.contains(&h.guardrail) {
                self.monitored.push(h.guardrail.clone());
                flight.hits.push(h);
            }
        }
        outcome
    }

    fn on_event(&mut self, flight: &mut Flight, e: Event) -> Step {
        let mut out = Vec::new();
        if self.dialect == Dialect::OpenAi && e.data.trim() == "[DONE]" {
            return self.finish(
                flight,
                Some(axum::body::Bytes::from_static(b"data: [DONE]\n\n")),
            );
        }
        let Ok(v) = serde_json::from_str::<Value>(&e.data) else {
            return Step::Go(vec![sse_bytes(e.event.as_deref(), &Value::String(e.data))]);
        };
        self.note_usage(&e, &v);
        if let Some(text) = self.text_of(&e, &v).map(str::to_owned) {
            if text.is_empty() {
                return Step::Go(vec![sse_bytes(e.event.as_deref(), &v)]);
            }
            self.output_tokens += gauntlet_providers::tokens::count(&self.model, &text).max(1);
            if self.output_tokens > self.cap {
                let message = format!(
                    "the response passed its reservation of {} output tokens and was cut off",
                    self.cap
                );
                out.push(self.error_event("max_tokens_exceeded", &message));
                return Step::Stop(out, "deny:reservation", message);
            }
            self.pending.push_str(&text);
            self.template = Some((e.event.clone(), v));
            if let Err(b) = self.scan(flight) {
                let message = b.message();
                out.push(self.error_event("invalid_request_error", &message));
                return Step::Stop(out, "deny:guardrail", message);
            }
            if self.pending.len() > HOLDBACK {
                let upto = self.pending.len() - HOLDBACK;
                self.release(flight, upto, &mut out);
            }
            return Step::Go(out);
        }
        // Anything else goes after the pending text.
        if let Err(b) = self.scan(flight) {
            let message = b.message();
            out.push(self.error_event("invalid_request_error", &message));
            return Step::Stop(out, "deny:guardrail", message);
        }
        self.release(flight, usize::MAX, &mut out);
        let usage_only = self.dialect == Dialect::OpenAi
            && v.get("choices")
                .and_then(Value::as_array)
                .is_some_and(Vec::is_empty)
            && v.get("usage").is_some();
        if !usage_only || self.wants_usage {
            out.push(sse_bytes(e.event.as_deref(), &v));
        }
        Step::Go(out)
    }

    fn note_usage(&mut self, e: &Event, v: &Value) {
        match self.dialect {
            Dialect::OpenAi => {
                if let Some(u) = v.get("usage").filter(|u| !u.is_null()) {
                    self.input_tokens = u.get("prompt_tokens").and_then(Value::as_u64);
                    self.reported_output = u.get("completion_tokens").and_then(Value::as_u64);
                }
            }
            Dialect::Anthropic => match e.event.as_deref() {
                Some("message_start") => {
                    self.input_tokens = v
                        .pointer("/message/usage/input_tokens")
                        .and_then(Value::as_u64);
                }
                Some("message_delta") => {
                    self.reported_output =
                        v.pointer("/usage/output_tokens").and_then(Value::as_u64);
                }
                _ => {}
            },
        }
    }

    fn finish(&mut self, flight: &mut Flight, last: Option<axum::body::Bytes>) -> Step {
        let mut out = Vec::new();
        if let Err(b) = self.scan(flight) {
            let message = b.message();
            out.push(self.error_event("invalid_request_error", &message));
            return Step::Stop(out, "deny:guardrail", message);
        }
        self.release(flight, usize::MAX, &mut out);
        if !self.pending.is_empty() {
            // A placeholder prefix that never completed: sent as it is.
            let text = std::mem::take(&mut self.pending);
            out.extend(self.text_event(text));
        }
        out.extend(last);
        Step::Go(out)
    }

    fn tokens(&self, fallback_input: u64) -> Tokens {
        Tokens {
            input: self.input_tokens.unwrap_or(fallback_input),
            output: self.reported_output.unwrap_or(self.output_tokens),
        }
    }
}

/// Relays `response` to `tx`, then settles the flight.
pub async fn run(
    mut flight: Flight,
    mut response: reqwest::Response,
    tx: Tx,
    wants_usage: bool,
    cap: u64,
) {
    let mut relay = Relay {
        dialect: flight.dialect,
        model: flight.upstream_model.clone(),
        pending: String::new(),
        template: None,
        sent_tail: String::new(),
        output_tokens: 0,
        input_tokens: None,
        reported_output: None,
        cap,
        wants_usage,
        monitored: Vec::new(),
        redacting: Vec::new(),
        watching: Vec::new(),
    };
    for g in flight
        .gw
        .cfg
        .guardrails
        .iter()
        .filter(|g| g.stages.contains(&Stage::Response))
    {
        if g.mode == Mode::Redact {
            relay.redacting.push(g.clone());
        } else {
            relay.watching.push(g.clone());
        }
    }
    let mut parser = SseParser::default();
    let mut outcome: (&str, Option<String>, u16) = ("allow", None, 200);
    'read: loop {
        match response.chunk().await {
            Ok(Some(bytes)) => {
                for e in parser.push(&bytes) {
                    match relay.on_event(&mut flight, e) {
                        Step::Go(out) => {
                            for b in out {
                                if tx.send(Ok(b)).await.is_err() {
                                    outcome = ("allow:caller_left", None, 499);
                                    break 'read;
                                }
                            }
                        }
                        Step::Stop(out, decision, message) => {
                            for b in out {
                                let _ = tx.send(Ok(b)).await;
                            }
                            outcome = (decision, Some(message), 200);
                            break 'read;
                        }
                    }
                }
            }
            Ok(None) => {
                let (Step::Go(out) | Step::Stop(out, _, _)) = relay.finish(&mut flight, None);
                {
                    for b in out {
                        let _ = tx.send(Ok(b)).await;
                    }
                }
                break;
            }
            Err(e) => {
                let message = format!("the provider's stream broke off: {e}");
                let _ = tx.send(Ok(relay.error_event("api_error", &message))).await;
                outcome = ("error:upstream", Some(message), 502);
                break;
            }
        }
    }
    drop(tx);
    let tokens = relay.tokens(flight.ask.input_tokens);
    let (decision, reason, status) = outcome;
    flight.finish(status, tokens, decision, reason).await;
}
