//! The backends every store test runs on.

#![allow(dead_code)]

use gauntlet_store::db::{Db, scratch};

#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// SQLite always; PostgreSQL when `GAUNTLET_TEST_DATABASE_URL` is set (loudly skipped if not).
pub fn backends(test: &str) -> Vec<Backend> {
    if std::env::var_os(scratch::TEST_DATABASE_URL).is_some() {
        vec![Backend::Sqlite, Backend::Postgres]
    } else {
        scratch::skipped(test);
        vec![Backend::Sqlite]
    }
}

/// A fresh, empty database: a SQLite file `name` under `dir`, or a new PostgreSQL database.
pub fn fresh_db(b: Backend, dir: &tempfile::TempDir, name: &str) -> Db {
    match b {
        Backend::Sqlite => Db::sqlite(&dir.path().join(name)).unwrap_or_else(|e| panic!("{e}")),
        Backend::Postgres => {
            scratch::postgres(name)
                .unwrap_or_else(|e| panic!("{e}"))
                .unwrap_or_else(|| panic!("{} is not set", scratch::TEST_DATABASE_URL))
                .0
        }
    }
}
