//! The crate's error type. Messages name the files and variables involved, never a secret.

use std::path::PathBuf;

/// Everything that can go wrong resolving credentials, signing or decoding an event stream.
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    /// No source held credentials; `tried` lists the sources consulted, in order.
    #[error("no AWS credentials found for profile `{profile}` (tried: {tried})")]
    NoCredentials { profile: String, tried: String },
    /// A source held only part of a key pair (e.g. an access key id without its secret).
    #[error("incomplete AWS credentials in {source_name}: {missing} is missing")]
    PartialCredentials {
        source_name: String,
        missing: String,
    },
    /// The profile relies on a mechanism this crate does not implement (SSO, assume-role,
    /// credential_process, ...).
    #[error(
        "AWS profile `{profile}` in {} uses `{key}`, which gauntlet does not support; \
         export static credentials instead (e.g. `aws configure export-credentials --profile {profile} --format env`)",
        path.display()
    )]
    UnsupportedProfile {
        profile: String,
        path: PathBuf,
        key: String,
    },
    /// A credentials or config file exists but could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The URL given to [`crate::sign`] could not be parsed.
    #[error("cannot sign `{url}`: {reason}")]
    InvalidUrl { url: String, reason: String },
    /// The signing time cannot be expressed (before 1970).
    #[error("invalid signing time: {0}")]
    InvalidTime(String),
    /// The CRC of an event-stream prelude (the first 8 bytes) does not match.
    #[error(
        "event stream prelude CRC mismatch (frame says {expected:#010x}, computed {computed:#010x})"
    )]
    PreludeCrc { expected: u32, computed: u32 },
    /// The CRC of a whole event-stream message does not match.
    #[error(
        "event stream message CRC mismatch (frame says {expected:#010x}, computed {computed:#010x})"
    )]
    MessageCrc { expected: u32, computed: u32 },
    /// A frame declares a length outside what the format allows.
    #[error("event stream frame length {0} is out of range (16 bytes to 16 MiB)")]
    FrameLength(u64),
    /// A frame's headers could not be parsed.
    #[error("malformed event stream frame: {0}")]
    MalformedFrame(String),
    /// The stream ended in the middle of a frame.
    #[error("event stream ended mid-frame ({0} bytes left over)")]
    Truncated(usize),
}
