//! Minimal AWS plumbing for the Bedrock provider, without the AWS SDK: static credentials and
//! region from the environment and the shared config files, SigV4 request signing, and the
//! event-stream framing that Bedrock `ConverseStream` responds with.

mod credentials;
mod crypto;
mod error;
pub mod eventstream;
mod profile;
mod sigv4;
mod time;

pub use credentials::{Credentials, credentials, credentials_from, region, region_from};
pub use error::AwsError;
pub use eventstream::{Decoder, HeaderValue, Message, encode};
pub use sigv4::{SigningParams, sign};
