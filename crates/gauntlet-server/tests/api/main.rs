#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The server end to end: a real listener, real HTTP, on SQLite and (when configured)
//! PostgreSQL.

mod access;
mod dashboard;
mod escalation;
mod governance;
mod runs;
mod support;
mod trust;
