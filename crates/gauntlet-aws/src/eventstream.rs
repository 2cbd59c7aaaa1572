//! The AWS event stream binary framing (`application/vnd.amazon.eventstream`), as used by
//! Bedrock `ConverseStream`.
//!
//! A frame is a 12-byte prelude (total length, headers length, CRC32 of those 8 bytes, all
//! big-endian), the headers, the payload, and a CRC32 of everything before it. Each header is
//! a 1-byte name length, the name, a 1-byte type and a typed value.

use crate::AwsError;

/// Prelude (8 bytes + CRC) plus the trailing message CRC.
const OVERHEAD: usize = 16;
/// The largest frame accepted; anything bigger is treated as corruption.
const MAX_FRAME: usize = 16 * 1024 * 1024;

/// One decoded frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub headers: Vec<(String, HeaderValue)>,
    pub payload: Vec<u8>,
}

/// A typed header value (wire type numbers in brackets).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeaderValue {
    /// [0] true, [1] false.
    Bool(bool),
    /// [2]
    Byte(i8),
    /// [3]
    Short(i16),
    /// [4]
    Int(i32),
    /// [5]
    Long(i64),
    /// [6] u16 length, then the bytes.
    Bytes(Vec<u8>),
    /// [7] u16 length, then UTF-8.
    String(String),
    /// [8] milliseconds since the Unix epoch.
    Timestamp(i64),
    /// [9]
    Uuid([u8; 16]),
}

impl Message {
    /// The first header called `name`, whatever its type.
    pub fn header(&self, name: &str) -> Option<&HeaderValue> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// The first header called `name` when it is a string, e.g. `:event-type`,
    /// `:message-type` or `:exception-type`.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        match self.header(name) {
            Some(HeaderValue::String(s)) => Some(s),
            _ => None,
        }
    }
}

/// An incremental decoder: [`push`](Decoder::push) bytes as they arrive, then call
/// [`next`](Decoder::next) until it returns `Ok(None)`.
///
/// After an error the stream cannot be resynchronised; drop the decoder.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
    /// Bytes of `buf` already consumed.
    start: usize,
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends bytes received from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete message, `None` when more bytes are needed. CRCs and lengths are
    /// checked; the prelude as soon as its 12 bytes are in.
    #[expect(
        clippy::should_implement_trait,
        reason = "fallible, so not an Iterator"
    )]
    pub fn next(&mut self) -> Result<Option<Message>, AwsError> {
        let avail = &self.buf[self.start..];
        if avail.len() < 12 {
            return Ok(None);
        }
        let total = read_u32(avail, 0);
        let headers_len = read_u32(avail, 4);
        let expected = read_u32(avail, 8);
        let computed = crc32fast::hash(&avail[..8]);
        if expected != computed {
            return Err(AwsError::PreludeCrc { expected, computed });
        }
        let total_len = usize::try_from(total).unwrap_or(usize::MAX);
        if !(OVERHEAD..=MAX_FRAME).contains(&total_len) {
            return Err(AwsError::FrameLength(u64::from(total)));
        }
        let headers_len = usize::try_from(headers_len).unwrap_or(usize::MAX);
        if headers_len > total_len - OVERHEAD {
            return Err(AwsError::MalformedFrame(format!(
                "headers length {headers_len} exceeds the frame's {total_len} bytes"
            )));
        }
        if avail.len() < total_len {
            return Ok(None);
        }
        let frame = &avail[..total_len];
        let expected = read_u32(frame, total_len - 4);
        let computed = crc32fast::hash(&frame[..total_len - 4]);
        if expected != computed {
            return Err(AwsError::MessageCrc { expected, computed });
        }
        let headers = parse_headers(&frame[12..12 + headers_len])?;
        let payload = frame[12 + headers_len..total_len - 4].to_vec();
        self.start += total_len;
        Ok(Some(Message { headers, payload }))
    }

    /// Whether no unconsumed bytes remain. A stream that ends while this is false ended
    /// mid-frame; [`finish`](Decoder::finish) turns that into an error.
    pub fn is_empty(&self) -> bool {
        self.start >= self.buf.len()
    }

    /// Call at the end of the stream (after draining [`next`](Decoder::next)):
    /// [`AwsError::Truncated`] if bytes of an incomplete frame remain.
    pub fn finish(&self) -> Result<(), AwsError> {
        match self.buf.len().saturating_sub(self.start) {
            0 => Ok(()),
            left => Err(AwsError::Truncated(left)),
        }
    }
}

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_be_bytes(word)
}

/// A cursor over a frame's header block.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], AwsError> {
        if self.bytes.len() < n {
            return Err(AwsError::MalformedFrame(format!(
                "header block ends inside a {what}"
            )));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], AwsError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    fn u8(&mut self, what: &str) -> Result<u8, AwsError> {
        Ok(self.array::<1>(what)?[0])
    }

    fn var_bytes(&mut self, what: &str) -> Result<&'a [u8], AwsError> {
        let len = u16::from_be_bytes(self.array(what)?);
        self.take(usize::from(len), what)
    }
}

fn parse_headers(block: &[u8]) -> Result<Vec<(String, HeaderValue)>, AwsError> {
    let mut r = Reader { bytes: block };
    let mut headers = Vec::new();
    while !r.bytes.is_empty() {
        let name_len = r.u8("header name length")?;
        let name = std::str::from_utf8(r.take(usize::from(name_len), "header name")?)
            .map_err(|_| AwsError::MalformedFrame("header name is not UTF-8".to_owned()))?
            .to_owned();
        let value = match r.u8("header type")? {
            0 => HeaderValue::Bool(true),
            1 => HeaderValue::Bool(false),
            2 => HeaderValue::Byte(i8::from_be_bytes(r.array("byte header")?)),
            3 => HeaderValue::Short(i16::from_be_bytes(r.array("short header")?)),
            4 => HeaderValue::Int(i32::from_be_bytes(r.array("int header")?)),
            5 => HeaderValue::Long(i64::from_be_bytes(r.array("long header")?)),
            6 => HeaderValue::Bytes(r.var_bytes("bytes header")?.to_vec()),
            7 => {
                let raw = r.var_bytes("string header")?;
                let s = std::str::from_utf8(raw).map_err(|_| {
                    AwsError::MalformedFrame(format!("header `{name}` is not UTF-8"))
                })?;
                HeaderValue::String(s.to_owned())
            }
            8 => HeaderValue::Timestamp(i64::from_be_bytes(r.array("timestamp header")?)),
            9 => HeaderValue::Uuid(r.array("uuid header")?),
            t => {
                return Err(AwsError::MalformedFrame(format!(
                    "header `{name}` has unknown type {t}"
                )));
            }
        };
        headers.push((name, value));
    }
    Ok(headers)
}

/// Encodes one frame with string headers, for test servers. Names longer than 255 bytes and
/// values longer than 65,535 bytes are cut at a character boundary to fit the format.
pub fn encode(headers: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
    let mut block = Vec::new();
    for (name, value) in headers {
        let name = truncate(name, usize::from(u8::MAX));
        let value = truncate(value, usize::from(u16::MAX));
        block.push(u8::try_from(name.len()).unwrap_or(u8::MAX));
        block.extend_from_slice(name.as_bytes());
        block.push(7);
        block.extend_from_slice(&u16::try_from(value.len()).unwrap_or(u16::MAX).to_be_bytes());
        block.extend_from_slice(value.as_bytes());
    }
    let total = OVERHEAD + block.len() + payload.len();
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&u32::try_from(total).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(&u32::try_from(block.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(&crc32fast::hash(&out).to_be_bytes());
    out.extend_from_slice(&block);
    out.extend_from_slice(payload);
    out.extend_from_slice(&crc32fast::hash(&out).to_be_bytes());
    out
}

/// The longest prefix of `s` of at most `max` bytes ending on a character boundary.
fn truncate(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
