//! The HTTP layer shared by the remote adapters: one client, request timeouts, the mapping of
//! statuses, headers and bodies onto [`ErrorKind`], server-sent events, and scrubbing of
//! secrets from every message that leaves an adapter.

use std::time::{Duration, Instant, SystemTime};

use gauntlet_core::model::{ErrorKind, Provider as ProviderDef};
use serde_json::Value;

use gauntlet_core::result::Tokens;

use crate::{ChatResponse, ProviderError, ToolCall};

/// Default limit of one request when the provider sets no `timeout_ms`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// Longest error body quoted in a message.
const QUOTE_LIMIT: usize = 500;

/// Largest response body read (a runaway server cannot exhaust memory).
const BODY_LIMIT: usize = 64 << 20;

/// Replaces every secret value of a provider with its reference (`${secret:NAME}`), so that
/// an endpoint echoing a key back cannot leak it into errors, outputs or reports.
#[derive(Clone, Debug, Default)]
pub struct Redactor {
    secrets: Vec<(String, String)>,
}

impl Redactor {
    pub fn for_provider(def: &ProviderDef) -> Redactor {
        let mut r = Redactor::default();
        for s in def.secrets() {
            r.add(s.expose(), s.reference());
        }
        r
    }

    pub fn add(&mut self, value: &str, reference: &str) {
        // Very short values would blank out ordinary text; they are not credentials anyway.
        if value.len() >= 4 && !self.secrets.iter().any(|(v, _)| v == value) {
            self.secrets.push((value.to_owned(), reference.to_owned()));
            // Longest first, so a secret containing another is replaced whole.
            self.secrets.sort_by_key(|s| std::cmp::Reverse(s.0.len()));
        }
    }

    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for (value, reference) in &self.secrets {
            if out.contains(value.as_str()) {
                out = out.replace(value.as_str(), reference);
            }
        }
        out
    }

    pub fn scrub_error(&self, mut e: ProviderError) -> ProviderError {
        e.message = self.scrub(&e.message);
        e
    }

    /// An answer with every secret replaced: its text, tool call arguments and reported
    /// tool calls.
    pub fn scrub_response(&self, mut r: ChatResponse) -> ChatResponse {
        if self.secrets.is_empty() {
            return r;
        }
        r.text = self.scrub(&r.text);
        for c in &mut r.tool_calls {
            self.scrub_value(&mut c.args);
        }
        for c in &mut r.reported_tool_calls {
            self.scrub_value(&mut c.args);
            if let Some(v) = c.result.as_mut() {
                self.scrub_value(v);
            }
        }
        r
    }

    fn scrub_value(&self, v: &mut Value) {
        match v {
            Value::String(s) => *s = self.scrub(s),
            Value::Array(items) => items.iter_mut().for_each(|x| self.scrub_value(x)),
            Value::Object(map) => map.values_mut().for_each(|x| self.scrub_value(x)),
            _ => {}
        }
    }
}

/// The error class of an HTTP status.
pub fn classify(status: u16) -> ErrorKind {
    match status {
        401 | 403 => ErrorKind::Auth,
        404 => ErrorKind::NotFound,
        408 | 504 => ErrorKind::Timeout,
        429 => ErrorKind::RateLimit,
        // 529: Anthropic's "overloaded".
        500..=599 => ErrorKind::ServerError,
        _ => ErrorKind::InvalidRequest,
    }
}

/// The wait a server asks for: `retry-after-ms`, `Retry-After` (seconds or an HTTP date), or
/// a rate-limit reset header (`x-ratelimit-reset-requests: 1m30s`, Anthropic's RFC 3339
/// `anthropic-ratelimit-requests-reset`).
pub fn retry_after(headers: &reqwest::header::HeaderMap, now: SystemTime) -> Option<u64> {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(ms) = get("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        return Some(ms.max(0.0).ceil() as u64);
    }
    if let Some(v) = get("retry-after") {
        if let Ok(secs) = v.parse::<f64>() {
            return Some((secs.max(0.0) * 1000.0).ceil() as u64);
        }
        if let Some(at) = parse_http_date(v) {
            return Some(until(at, now));
        }
    }
    for name in ["x-ratelimit-reset-requests", "x-ratelimit-reset-tokens"] {
        if let Some(ms) = get(name).and_then(parse_go_duration) {
            return Some(ms);
        }
    }
    for name in [
        "anthropic-ratelimit-requests-reset",
        "anthropic-ratelimit-tokens-reset",
    ] {
        if let Some(at) = get(name).and_then(parse_rfc3339) {
            return Some(until(at, now));
        }
    }
    None
}

fn until(at: i64, now: SystemTime) -> u64 {
    let now_s = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    (at - now_s).max(0) as u64 * 1000
}

/// `1s`, `250ms`, `6m0s`, `1h2m3.5s` → milliseconds.
fn parse_go_duration(s: &str) -> Option<u64> {
    let mut total = 0.0;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .filter(|&i| i > 0)?;
        let n: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let (factor, len) = if rest.starts_with("ms") {
            (1.0, 2)
        } else if rest.starts_with('h') {
            (3_600_000.0, 1)
        } else if rest.starts_with('m') {
            (60_000.0, 1)
        } else if rest.starts_with('s') {
            (1000.0, 1)
        } else {
            return None;
        };
        total += n * factor;
        rest = &rest[len..];
    }
    Some(total.ceil() as u64)
}

/// Seconds since the epoch of `Sun, 06 Nov 1994 08:49:37 GMT`.
fn parse_http_date(s: &str) -> Option<i64> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    let [_, day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| m == month)? as u32
        + 1;
    epoch_seconds(year.parse().ok()?, month, day.parse().ok()?, time)
}

/// Seconds since the epoch of `2024-05-01T12:00:30Z` (fractions and offsets `Z` only).
fn parse_rfc3339(s: &str) -> Option<i64> {
    let s = s.strip_suffix('Z')?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.split('-');
    let (y, m, day) = (d.next()?, d.next()?, d.next()?);
    let time = time.split('.').next()?;
    epoch_seconds(y.parse().ok()?, m.parse().ok()?, day.parse().ok()?, time)
}

fn epoch_seconds(year: i64, month: u32, day: u32, hms: &str) -> Option<i64> {
    let mut t = hms.split(':');
    let (h, m, sec): (i64, i64, i64) = (
        t.next()?.parse().ok()?,
        t.next()?.parse().ok()?,
        t.next()?.parse().ok()?,
    );
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + m * 60 + sec)
}

/// What an adapter needs to send one request.
pub(crate) struct Call<'a> {
    /// The provider's name, for messages.
    pub provider: &'a str,
    /// Whose network the request goes out on (checked for a tenant).
    pub host: &'a gauntlet_sandbox::Host,
    pub timeout: Duration,
    pub redactor: &'a Redactor,
    /// Pulls the human message out of the vendor's error body.
    pub error_message: fn(&Value) -> Option<String>,
    /// Refines the status class from the response headers (Bedrock's `x-amzn-ErrorType`).
    pub refine: Option<fn(&reqwest::header::HeaderMap) -> Option<ErrorKind>>,
}

impl<'a> Call<'a> {
    /// The call settings of a provider definition.
    pub fn new(
        def: &'a ProviderDef,
        host: &'a gauntlet_sandbox::Host,
        redactor: &'a Redactor,
        error_message: fn(&Value) -> Option<String>,
    ) -> Call<'a> {
        Call {
            provider: &def.name,
            host,
            timeout: timeout(def),
            redactor,
            error_message,
            refine: None,
        }
    }

    /// Sends the request; any non-2xx status becomes a classified error quoting the vendor's
    /// message.
    pub async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<(reqwest::Response, Instant), ProviderError> {
        let started = Instant::now();
        let (client, request) = request.timeout(self.timeout).build_split();
        let request = request.map_err(|e| self.transport_error(&e))?;
        // Address literals are checked here; host names when the client resolves them.
        self.host
            .check_url(request.url().as_str())
            .map_err(|d| self.err(ErrorKind::InvalidRequest, d.to_string()))?;
        let response = client
            .execute(request)
            .await
            .map_err(|e| self.transport_error(&e))?;
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            return Ok((response, started));
        }
        let retry = retry_after(response.headers(), SystemTime::now());
        let kind = self
            .refine
            .and_then(|f| f(response.headers()))
            .unwrap_or_else(|| classify(status));
        let body = self.read(response).await.unwrap_or_default();
        let text = String::from_utf8_lossy(&body);
        let vendor = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| (self.error_message)(&v))
            .unwrap_or_else(|| quote(&text));
        let mut e = ProviderError::new(
            kind,
            format!("{} returned HTTP {status}: {vendor}", self.provider),
        );
        e.retry_after_ms = retry;
        Err(self.redactor.scrub_error(e))
    }

    /// Reads a whole body, bounded; a connection dropped mid-body is a network error.
    pub async fn read(&self, mut response: reqwest::Response) -> Result<Vec<u8>, ProviderError> {
        let mut out = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if out.len() + chunk.len() > BODY_LIMIT {
                        return Err(self.err(
                            ErrorKind::ServerError,
                            format!("response body over {} MiB", BODY_LIMIT >> 20),
                        ));
                    }
                    out.extend_from_slice(&chunk);
                }
                Ok(None) => return Ok(out),
                Err(e) => return Err(self.transport_error(&e)),
            }
        }
    }

    /// Reads and parses a JSON body; a body that is not JSON (cut short, or an HTML error page
    /// from a proxy) is a retryable server error.
    pub async fn json(&self, response: reqwest::Response) -> Result<Value, ProviderError> {
        let body = self.read(response).await?;
        serde_json::from_slice(&body).map_err(|e| {
            self.err(
                ErrorKind::ServerError,
                format!(
                    "malformed response body ({e}): {}",
                    quote(&String::from_utf8_lossy(&body))
                ),
            )
        })
    }

    pub fn err(&self, kind: ErrorKind, message: impl AsRef<str>) -> ProviderError {
        self.redactor.scrub_error(ProviderError::new(
            kind,
            format!("{}: {}", self.provider, message.as_ref()),
        ))
    }

    pub fn transport_error(&self, e: &reqwest::Error) -> ProviderError {
        let kind = if e.is_timeout() {
            ErrorKind::Timeout
        } else {
            ErrorKind::Network
        };
        let mut detail = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            detail.push_str(": ");
            detail.push_str(&s.to_string());
            source = s.source();
        }
        self.err(kind, detail)
    }

    /// A response body that is missing a field the wire format requires.
    pub fn malformed(&self, what: &str) -> ProviderError {
        self.err(
            ErrorKind::ServerError,
            format!("malformed response: {what}"),
        )
    }
}

/// At most [`QUOTE_LIMIT`] bytes of a body, cut at a character boundary.
fn quote(text: &str) -> String {
    let t = text.trim();
    if t.len() <= QUOTE_LIMIT {
        return t.to_owned();
    }
    let mut end = QUOTE_LIMIT;
    while !t.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &t[..end])
}

/// One server-sent event.
#[derive(Debug, Default, PartialEq)]
pub struct Event {
    pub event: Option<String>,
    pub data: String,
}

/// Splits a byte stream into server-sent events (`text/event-stream`), across chunk borders.
#[derive(Default)]
pub struct SseParser {
    buf: Vec<u8>,
    current: Event,
    has_data: bool,
}

impl SseParser {
    /// Feeds bytes; returns the events completed by them.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Event> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        while let Some(nl) = self.buf.iter().position(|&b| b == b'\n') {
            let mut line: Vec<u8> = self.buf.drain(..=nl).collect();
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            let line = String::from_utf8_lossy(&line);
            if line.is_empty() {
                if self.has_data || self.current.event.is_some() {
                    out.push(std::mem::take(&mut self.current));
                    self.has_data = false;
                }
                continue;
            }
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = match line.split_once(':') {
                Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
                None => (line.as_ref(), ""),
            };
            match field {
                "event" => self.current.event = Some(value.to_owned()),
                "data" => {
                    if self.has_data {
                        self.current.data.push('\n');
                    }
                    self.current.data.push_str(value);
                    self.has_data = true;
                }
                _ => {}
            }
        }
        out
    }

    /// Whether bytes of an unfinished event are left (a stream cut short).
    pub fn is_mid_event(&self) -> bool {
        self.has_data || !self.buf.is_empty()
    }
}

/// Reads a streamed body event by event, timing the first token.
pub(crate) struct Stream<'a> {
    call: &'a Call<'a>,
    response: reqwest::Response,
    parser: SseParser,
    pending: std::collections::VecDeque<Event>,
    pub timing: Timing,
}

/// When a streamed response started and when its first content arrived.
pub(crate) struct Timing {
    started: Instant,
    first: Option<Duration>,
}

impl Timing {
    pub fn new(started: Instant) -> Timing {
        Timing {
            started,
            first: None,
        }
    }

    /// Marks the arrival of content (only the first counts).
    pub fn token(&mut self) {
        if self.first.is_none() {
            self.first = Some(self.started.elapsed());
        }
    }

    /// The streamed response, with time to first token and output tokens per second after it.
    pub fn response(&self, text: String, tool_calls: Vec<ToolCall>, usage: Tokens) -> ChatResponse {
        let total = self.started.elapsed();
        let ttft_ms = self.first.map(|f| f.as_secs_f64() * 1000.0);
        let tokens_per_s = self.first.and_then(|f| {
            let generating = total.saturating_sub(f).as_secs_f64();
            (generating > 0.0 && usage.output > 0).then(|| usage.output as f64 / generating)
        });
        ChatResponse {
            text,
            tool_calls,
            usage,
            ttft_ms,
            tokens_per_s,
            ..ChatResponse::default()
        }
    }
}

impl<'a> Stream<'a> {
    pub fn new(call: &'a Call<'a>, response: reqwest::Response, started: Instant) -> Stream<'a> {
        Stream {
            call,
            response,
            parser: SseParser::default(),
            pending: Default::default(),
            timing: Timing::new(started),
        }
    }

    /// The next event, or `None` at the end of the body.
    pub async fn next(&mut self) -> Result<Option<Event>, ProviderError> {
        loop {
            if let Some(e) = self.pending.pop_front() {
                return Ok(Some(e));
            }
            match self.response.chunk().await {
                Ok(Some(chunk)) => self.pending.extend(self.parser.push(&chunk)),
                Ok(None) => {
                    if self.parser.is_mid_event() {
                        return Err(self.call.err(
                            ErrorKind::Network,
                            "the stream ended in the middle of an event",
                        ));
                    }
                    return Ok(None);
                }
                Err(e) => return Err(self.call.transport_error(&e)),
            }
        }
    }

    /// Marks the arrival of content.
    pub fn token(&mut self) {
        self.timing.token();
    }

    pub fn malformed(&self, what: &str) -> ProviderError {
        self.call.malformed(what)
    }
}

/// The JSON of an event's data; an unparsable event is a malformed stream.
pub(crate) fn event_json(call: &Call<'_>, e: &Event) -> Result<Value, ProviderError> {
    serde_json::from_str(&e.data).map_err(|err| {
        call.err(
            ErrorKind::ServerError,
            format!("malformed stream event ({err}): {}", quote(&e.data)),
        )
    })
}

/// The request timeout of a provider.
pub(crate) fn timeout(def: &ProviderDef) -> Duration {
    def.timeout_ms
        .map_or(DEFAULT_TIMEOUT, Duration::from_millis)
}

/// Joins a base URL and a path with exactly one `/`.
pub fn join(base: &str, path: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

/// Arguments of a tool call sent as a JSON string (OpenAI): the parsed object, or the raw text
/// when the model produced invalid JSON (the tool's schema check then reports it).
pub(crate) fn parse_arguments(text: &str) -> Value {
    if text.trim().is_empty() {
        return Value::Object(Default::default());
    }
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

/// Adds the provider's own `headers` (values may be secrets).
pub fn with_headers(
    mut request: reqwest::RequestBuilder,
    def: &ProviderDef,
) -> reqwest::RequestBuilder {
    for (name, value) in &def.headers {
        request = request.header(name, value.expose());
    }
    request
}

/// Appends a tool-result block to the last message when it is a user message holding only
/// such blocks (the APIs want consecutive results in one message), else starts one.
pub(crate) fn push_tool_result(
    messages: &mut Vec<Value>,
    content_key: &str,
    is_result: fn(&Value) -> bool,
    block: Value,
) {
    if let Some(last) = messages.last_mut()
        && last["role"] == "user"
        && last[content_key]
            .as_array()
            .is_some_and(|blocks| blocks.iter().all(is_result))
        && let Some(blocks) = last[content_key].as_array_mut()
    {
        blocks.push(block);
        return;
    }
    messages.push(serde_json::json!({"role": "user", content_key: [block]}));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_classes() {
        assert_eq!(classify(400), ErrorKind::InvalidRequest);
        assert_eq!(classify(422), ErrorKind::InvalidRequest);
        assert_eq!(classify(401), ErrorKind::Auth);
        assert_eq!(classify(403), ErrorKind::Auth);
        assert_eq!(classify(404), ErrorKind::NotFound);
        assert_eq!(classify(408), ErrorKind::Timeout);
        assert_eq!(classify(504), ErrorKind::Timeout);
        assert_eq!(classify(429), ErrorKind::RateLimit);
        assert_eq!(classify(500), ErrorKind::ServerError);
        assert_eq!(classify(529), ErrorKind::ServerError);
    }

    #[test]
    fn retry_after_forms() {
        use reqwest::header::{HeaderMap, HeaderValue};
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
        let h = |name: &'static str, v: &'static str| {
            let mut m = HeaderMap::new();
            m.insert(name, HeaderValue::from_static(v));
            m
        };
        assert_eq!(retry_after(&h("retry-after", "2"), now), Some(2000));
        assert_eq!(retry_after(&h("retry-after-ms", "150"), now), Some(150));
        // RFC 7231's example date is 784111777 seconds after the epoch.
        assert_eq!(
            retry_after(&h("retry-after", "Sun, 06 Nov 1994 08:49:40 GMT"), now),
            Some(3000)
        );
        assert_eq!(
            retry_after(&h("x-ratelimit-reset-requests", "1m30s"), now),
            Some(90_000)
        );
        assert_eq!(
            retry_after(&h("x-ratelimit-reset-tokens", "250ms"), now),
            Some(250)
        );
        assert_eq!(
            retry_after(
                &h("anthropic-ratelimit-requests-reset", "1994-11-06T08:49:42Z"),
                now
            ),
            Some(5000)
        );
        assert_eq!(retry_after(&h("retry-after", "soon"), now), None);
    }

    #[test]
    fn sse_events_across_chunks() {
        let mut p = SseParser::default();
        let mut events = p.push(b"event: a\r\ndata: {\"x\"");
        assert!(events.is_empty());
        assert!(p.is_mid_event());
        events.extend(p.push(b":1}\r\n\r\n: comment\n\ndata: one\ndata: two\n\n"));
        assert_eq!(
            events,
            vec![
                Event {
                    event: Some("a".into()),
                    data: "{\"x\":1}".into()
                },
                Event {
                    event: None,
                    data: "one\ntwo".into()
                },
            ]
        );
        assert!(!p.is_mid_event());
    }

    #[test]
    fn redactor_replaces_longest_first() {
        let mut r = Redactor::default();
        r.add("sk-abc", "${secret:A}");
        r.add("sk-abcdef", "${secret:B}");
        r.add("x", "${secret:C}");
        assert_eq!(
            r.scrub("key sk-abcdef and sk-abc and x"),
            "key ${secret:B} and ${secret:A} and x"
        );
    }
}
