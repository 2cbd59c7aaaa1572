#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The sandbox and the egress checks, against the real thing: bubblewrap (installed by
//! `scripts/sandbox`), real processes, and listeners on loopback that count what reaches them.

mod egress;
mod launch;
