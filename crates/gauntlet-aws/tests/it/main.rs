#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Integration tests for gauntlet-aws: SigV4 vectors, credential resolution, event streams.

mod credentials;
mod eventstream;
mod sigv4;
