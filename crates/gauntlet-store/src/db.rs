//! One synchronous SQL interface over both backends.
//!
//! Statements are written once, with PostgreSQL's `$1` placeholders; on SQLite they are
//! rewritten to `?1`. Both backends know `now_ms()` (milliseconds since the epoch, from the
//! database's clock: leases and queue times never come from a client). Values cross the
//! boundary as [`Val`]; integer columns are `BIGINT` on PostgreSQL so that every integer binds
//! as `i64`. Schemas differ per backend and live in `migrations/<backend>/`.
//!
//! [`Db::transaction`] retries the whole closure when PostgreSQL reports a serialization
//! failure or deadlock, or when the connection was lost before the commit; the closure must
//! therefore be repeatable, which a transaction that rolled back always is.

mod lite;
pub mod notes;
mod pg;

use std::sync::{Arc, Condvar, Mutex};

use crate::{Result, StoreError};

/// A value bound to or read from a statement.
#[derive(Clone, Debug, PartialEq)]
pub enum Val {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl From<i64> for Val {
    fn from(v: i64) -> Val {
        Val::Int(v)
    }
}
impl From<u64> for Val {
    fn from(v: u64) -> Val {
        Val::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}
impl From<u32> for Val {
    fn from(v: u32) -> Val {
        Val::Int(i64::from(v))
    }
}
impl From<usize> for Val {
    fn from(v: usize) -> Val {
        Val::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}
impl From<bool> for Val {
    fn from(v: bool) -> Val {
        Val::Int(i64::from(v))
    }
}
impl From<f64> for Val {
    fn from(v: f64) -> Val {
        Val::Real(v)
    }
}
impl From<&str> for Val {
    fn from(v: &str) -> Val {
        Val::Text(v.to_owned())
    }
}
impl From<String> for Val {
    fn from(v: String) -> Val {
        Val::Text(v)
    }
}
impl From<&String> for Val {
    fn from(v: &String) -> Val {
        Val::Text(v.clone())
    }
}
impl From<Vec<u8>> for Val {
    fn from(v: Vec<u8>) -> Val {
        Val::Blob(v)
    }
}
impl From<&[u8]> for Val {
    fn from(v: &[u8]) -> Val {
        Val::Blob(v.to_vec())
    }
}
impl<T: Into<Val>> From<Option<T>> for Val {
    fn from(v: Option<T>) -> Val {
        v.map_or(Val::Null, Into::into)
    }
}

/// Builds a parameter list: `params![a, b]`.
#[macro_export]
macro_rules! params {
    ($($v:expr),* $(,)?) => { &[$($crate::db::Val::from($v)),*][..] };
}

/// One result row.
#[derive(Clone, Debug)]
pub struct Row(pub Vec<Val>);

impl Row {
    fn at(&self, i: usize) -> Result<&Val> {
        self.0
            .get(i)
            .ok_or_else(|| StoreError::Corrupt(format!("a row has no column {i}")))
    }
    pub fn int(&self, i: usize) -> Result<i64> {
        match self.at(i)? {
            Val::Int(v) => Ok(*v),
            other => Err(type_error(i, "an integer", other)),
        }
    }
    pub fn opt_int(&self, i: usize) -> Result<Option<i64>> {
        match self.at(i)? {
            Val::Null => Ok(None),
            _ => self.int(i).map(Some),
        }
    }
    pub fn real(&self, i: usize) -> Result<f64> {
        match self.at(i)? {
            Val::Real(v) => Ok(*v),
            Val::Int(v) => Ok(*v as f64),
            other => Err(type_error(i, "a number", other)),
        }
    }
    pub fn opt_real(&self, i: usize) -> Result<Option<f64>> {
        match self.at(i)? {
            Val::Null => Ok(None),
            _ => self.real(i).map(Some),
        }
    }
    pub fn text(&self, i: usize) -> Result<String> {
        match self.at(i)? {
            Val::Text(v) => Ok(v.clone()),
            other => Err(type_error(i, "text", other)),
        }
    }
    pub fn opt_text(&self, i: usize) -> Result<Option<String>> {
        match self.at(i)? {
            Val::Null => Ok(None),
            _ => self.text(i).map(Some),
        }
    }
    pub fn blob(&self, i: usize) -> Result<Vec<u8>> {
        match self.at(i)? {
            Val::Blob(v) => Ok(v.clone()),
            other => Err(type_error(i, "bytes", other)),
        }
    }
    pub fn opt_blob(&self, i: usize) -> Result<Option<Vec<u8>>> {
        match self.at(i)? {
            Val::Null => Ok(None),
            _ => self.blob(i).map(Some),
        }
    }
    pub fn bool(&self, i: usize) -> Result<bool> {
        self.int(i).map(|v| v != 0)
    }
}

fn type_error(i: usize, want: &str, got: &Val) -> StoreError {
    let got = match got {
        Val::Null => "null",
        Val::Int(_) => "an integer",
        Val::Real(_) => "a number",
        Val::Text(_) => "text",
        Val::Blob(_) => "bytes",
    };
    StoreError::Corrupt(format!("column {i} holds {got}, expected {want}"))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// A connection inside [`Db::with_conn`] or [`Db::transaction`].
pub trait Conn {
    fn dialect(&self) -> Dialect;
    /// Runs one statement; returns the number of rows changed.
    fn execute(&mut self, sql: &str, params: &[Val]) -> Result<u64>;
    /// Runs one query and collects its rows.
    fn query(&mut self, sql: &str, params: &[Val]) -> Result<Vec<Row>> {
        let mut rows = Vec::new();
        self.query_each(sql, params, &mut |r| {
            rows.push(r);
            Ok(())
        })?;
        Ok(rows)
    }
    /// Runs one query, handing each row to `f` as it is read.
    fn query_each(
        &mut self,
        sql: &str,
        params: &[Val],
        f: &mut dyn FnMut(Row) -> Result<()>,
    ) -> Result<()>;
    /// Several statements without parameters (migrations).
    fn batch(&mut self, sql: &str) -> Result<()>;
    /// The SQLite connection itself, for what only SQLite has (incremental blob I/O).
    fn sqlite(&mut self) -> Option<&mut rusqlite::Connection> {
        None
    }
}

impl dyn Conn + '_ {
    /// The first row, if any.
    pub fn query_opt(&mut self, sql: &str, params: &[Val]) -> Result<Option<Row>> {
        let mut first = None;
        self.query_each(sql, params, &mut |r| {
            if first.is_none() {
                first = Some(r);
            }
            Ok(())
        })?;
        Ok(first)
    }
    /// Exactly one row.
    pub fn query_one(&mut self, sql: &str, params: &[Val]) -> Result<Row> {
        self.query_opt(sql, params)?.ok_or_else(|| {
            StoreError::Corrupt("a query that always answers returned nothing".into())
        })
    }
}

/// A pool of connections to one database, SQLite or PostgreSQL.
#[derive(Clone)]
pub struct Db {
    inner: Arc<Inner>,
}

struct Inner {
    backend: Backend,
    idle: Mutex<Idle>,
    freed: Condvar,
    max: usize,
    /// PostgreSQL only: the connections [`Db::fetch`] shares among async readers.
    readers: Readers,
}

/// A few connections, each shared by any number of concurrent async readers, opened on first
/// use and again when lost.
struct Readers {
    slots: Vec<Mutex<Option<Arc<pg::Shared>>>>,
    /// Held while a slot connects, so that a burst of readers opens one connection, not many.
    connecting: Vec<tokio::sync::Mutex<()>>,
    next: std::sync::atomic::AtomicUsize,
}

impl Readers {
    fn new(n: usize) -> Readers {
        Readers {
            slots: (0..n).map(|_| Mutex::new(None)).collect(),
            connecting: (0..n).map(|_| tokio::sync::Mutex::new(())).collect(),
            next: std::sync::atomic::AtomicUsize::new(0),
        }
    }
}

/// How many connections [`Db::fetch`] spreads PostgreSQL reads over: half the cores, from one
/// to eight. Each pipelines every statement sent to it, so one already keeps a small machine
/// busy; more add PostgreSQL backends competing with the server for the same cores. Measured
/// on 2 cores (`scripts/bench-api`, wrk, 200 clients): 1 reader 28,800 req/s with p95 10.7 ms;
/// 2 readers 22,900 req/s, p95 26.5 ms; 4 readers 26,900 req/s, p95 20.1 ms.
fn reader_count() -> usize {
    std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).clamp(1, 8))
}

/// How many store calls from async code wait on blocking threads at once. Without a bound,
/// 200 concurrent requests become 200 blocking threads parked on a pool of a few connections
/// and woken in no particular order; with it, the excess waits as cheap tasks in a fair (first
/// come, first served) queue, which keeps the tail close to the median. 8 measured best on
/// both backends (`scripts/bench-api`: 2, 4, 8, 16 and unbounded tried; unbounded had 3.5x the
/// p95). The server's own blocking calls take their slots here too.
pub static BLOCKING_SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(8);

enum Backend {
    Sqlite { path: String },
    Postgres { config: Box<tokio_postgres::Config> },
}

enum Connection {
    Sqlite(rusqlite::Connection),
    Postgres(Box<pg::PgConn>),
}

struct Idle {
    conns: Vec<Connection>,
    open: usize,
}

/// Default pool size: SQLite has one writer anyway; PostgreSQL serves concurrent requests.
const SQLITE_POOL: usize = 4;
const POSTGRES_POOL: usize = 16;

impl Db {
    /// `postgres://…` / `postgresql://…` connects to PostgreSQL; anything else is a SQLite
    /// file path (created if missing).
    pub fn open(url_or_path: &str) -> Result<Db> {
        if url_or_path.starts_with("postgres://") || url_or_path.starts_with("postgresql://") {
            Db::postgres(url_or_path)
        } else {
            Db::sqlite(std::path::Path::new(url_or_path))
        }
    }

    pub fn sqlite(path: &std::path::Path) -> Result<Db> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Open {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
        }
        // A new database is readable by its owner only (SQLite gives its -wal and -shm files
        // the same mode): it holds transcripts, keys' hashes and sealed secrets.
        #[cfg(unix)]
        if !path.exists() {
            use std::os::unix::fs::OpenOptionsExt;
            let created = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path);
            if let Err(e) = created
                && e.kind() != std::io::ErrorKind::AlreadyExists
            {
                return Err(StoreError::Open {
                    path: path.display().to_string(),
                    message: e.to_string(),
                });
            }
        }
        let db = Db::with_backend(
            Backend::Sqlite {
                path: path.display().to_string(),
            },
            SQLITE_POOL,
        );
        // Open one connection now so that a bad path fails here, not at first use.
        db.with_conn(|_| Ok(()))?;
        Ok(db)
    }

    pub fn postgres(url: &str) -> Result<Db> {
        let config: tokio_postgres::Config =
            url.parse()
                .map_err(|e: tokio_postgres::Error| StoreError::Open {
                    path: pg::redact_url(url),
                    message: e.to_string(),
                })?;
        let db = Db::with_backend(
            Backend::Postgres {
                config: Box::new(config),
            },
            POSTGRES_POOL,
        );
        db.with_conn(|_| Ok(()))?;
        Ok(db)
    }

    fn with_backend(backend: Backend, max: usize) -> Db {
        let readers = Readers::new(match backend {
            Backend::Sqlite { .. } => 0,
            Backend::Postgres { .. } => reader_count(),
        });
        Db {
            inner: Arc::new(Inner {
                backend,
                idle: Mutex::new(Idle {
                    conns: Vec::new(),
                    open: 0,
                }),
                freed: Condvar::new(),
                max,
                readers,
            }),
        }
    }

    pub fn dialect(&self) -> Dialect {
        match self.inner.backend {
            Backend::Sqlite { .. } => Dialect::Sqlite,
            Backend::Postgres { .. } => Dialect::Postgres,
        }
    }

    /// Where the data lives, with any password removed.
    pub fn location(&self) -> String {
        match &self.inner.backend {
            Backend::Sqlite { path } => path.clone(),
            Backend::Postgres { config } => pg::describe(config),
        }
    }

    fn checkout(&self) -> Result<Connection> {
        let mut idle = self.inner.idle.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(c) = idle.conns.pop() {
                // A PostgreSQL connection that died while idle (a server restart, an
                // administrator's kill) is dropped here rather than failing its next statement.
                if let Connection::Postgres(pg) = &c
                    && pg.is_closed()
                {
                    idle.open -= 1;
                    continue;
                }
                return Ok(c);
            }
            if idle.open < self.inner.max {
                idle.open += 1;
                drop(idle);
                let opened = self.connect();
                if opened.is_err() {
                    let mut idle = self.inner.idle.lock().unwrap_or_else(|p| p.into_inner());
                    idle.open -= 1;
                    self.inner.freed.notify_one();
                }
                return opened;
            }
            idle = self
                .inner
                .freed
                .wait(idle)
                .unwrap_or_else(|p| p.into_inner());
        }
    }

    fn checkin(&self, conn: Option<Connection>) {
        let mut idle = self.inner.idle.lock().unwrap_or_else(|p| p.into_inner());
        match conn {
            Some(c) => idle.conns.push(c),
            None => idle.open -= 1,
        }
        self.inner.freed.notify_one();
    }

    fn connect(&self) -> Result<Connection> {
        match &self.inner.backend {
            Backend::Sqlite { path } => lite::connect(path).map(Connection::Sqlite),
            Backend::Postgres { config } => {
                pg::connect(config).map(|c| Connection::Postgres(Box::new(c)))
            }
        }
    }

    /// Sends `payload` to every process listening on `channel` ([`Db::listen`]), at most
    /// [`notes::MAX_PAYLOAD`] bytes. PostgreSQL only: on SQLite, one process owns the file and
    /// there is nobody else to tell, so this does nothing.
    pub fn notify(&self, channel: &str, payload: &str) -> Result<()> {
        if self.dialect() == Dialect::Sqlite {
            return Ok(());
        }
        if payload.len() > notes::MAX_PAYLOAD {
            return Err(StoreError::Backend(format!(
                "a note of {} bytes is longer than the {} PostgreSQL carries",
                payload.len(),
                notes::MAX_PAYLOAD
            )));
        }
        self.with_conn(|c| {
            c.execute(
                "SELECT pg_notify($1, $2)",
                &[Val::Text(channel.to_owned()), Val::Text(payload.to_owned())],
            )
            .map(drop)
        })
    }

    /// The notes sent on `channel` by any process, on a connection of its own that is
    /// reopened when lost; `None` on SQLite. Must be called inside a tokio runtime.
    pub fn listen(&self, channel: &str) -> Option<tokio::sync::mpsc::Receiver<notes::Heard>> {
        match &self.inner.backend {
            Backend::Sqlite { .. } => None,
            Backend::Postgres { config } => {
                Some(notes::listen(config.as_ref().clone(), channel.to_owned()))
            }
        }
    }

    /// Runs `f` on a pooled connection, outside any transaction.
    pub fn with_conn<T>(&self, f: impl FnOnce(&mut dyn Conn) -> Result<T>) -> Result<T> {
        let mut conn = self.checkout()?;
        let out = match &mut conn {
            Connection::Sqlite(c) => f(&mut lite::Lite(c)),
            Connection::Postgres(c) => f(&mut pg::Pg(c)),
        };
        let keep = match &conn {
            Connection::Sqlite(_) => true,
            Connection::Postgres(c) => !c.is_closed(),
        };
        self.checkin(keep.then_some(conn));
        out
    }

    /// Runs one read-only statement from async code without blocking the calling thread.
    ///
    /// On PostgreSQL the statement goes to one of a few connections shared by every async
    /// reader (see `pg::Shared`); a lost connection is reopened and the read tried again, up to
    /// three times (so only `SELECT` is accepted: a retried write could happen twice). On SQLite,
    /// which has no async interface, it runs on a blocking thread once one of
    /// [`BLOCKING_SLOTS`] is free.
    ///
    /// Must be awaited inside a tokio runtime. A shared connection is driven by the runtime
    /// that opened it and is reopened once that runtime is gone, so a current-thread runtime
    /// should not be kept idle while another one reads through the same `Db`.
    pub async fn fetch(&self, sql: &str, params: Vec<Val>) -> Result<Vec<Row>> {
        let head = sql.trim_start().get(..6).unwrap_or_default();
        if !head.eq_ignore_ascii_case("select") {
            return Err(StoreError::Backend(
                "Db::fetch runs SELECT statements only".into(),
            ));
        }
        let config = match &self.inner.backend {
            Backend::Postgres { config } => config,
            Backend::Sqlite { .. } => {
                let _slot = BLOCKING_SLOTS
                    .acquire()
                    .await
                    .map_err(|e| StoreError::Backend(e.to_string()))?;
                let (db, sql) = (self.clone(), sql.to_owned());
                return tokio::task::spawn_blocking(move || {
                    db.with_conn(|c| c.query(&sql, &params))
                })
                .await
                .map_err(|e| StoreError::Backend(format!("a store thread failed: {e}")))?;
            }
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (slot, reader) = self.reader(config).await?;
            match reader.query(sql, &params).await {
                // Most likely the connection was lost: the next attempt opens a new one.
                Err(StoreError::Transient(_)) if attempt < 3 => {
                    let mut held = self.inner.readers.slots[slot]
                        .lock()
                        .unwrap_or_else(|p| p.into_inner());
                    if held.as_ref().is_some_and(|r| Arc::ptr_eq(r, &reader)) {
                        *held = None;
                    }
                }
                other => return other,
            }
        }
    }

    /// The next shared reader in turn, connected if it is not.
    async fn reader(&self, config: &tokio_postgres::Config) -> Result<(usize, Arc<pg::Shared>)> {
        let readers = &self.inner.readers;
        let slot = readers
            .next
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            % readers.slots.len();
        let open =
            |held: &Option<Arc<pg::Shared>>| held.as_ref().filter(|r| !r.is_closed()).cloned();
        if let Some(r) = open(
            &readers.slots[slot]
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        ) {
            return Ok((slot, r));
        }
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(StoreError::Backend(
                "an async read was attempted outside a tokio runtime".into(),
            ));
        }
        let _connecting = readers.connecting[slot].lock().await;
        if let Some(r) = open(
            &readers.slots[slot]
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        ) {
            return Ok((slot, r));
        }
        let fresh = Arc::new(pg::Shared::connect(config).await?);
        *readers.slots[slot]
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(Arc::clone(&fresh));
        Ok((slot, fresh))
    }

    /// Runs `f` in one transaction, committed when it returns `Ok`. SQLite takes the write
    /// lock at the start (`BEGIN IMMEDIATE`), so two writers queue instead of failing.
    pub fn transaction<T>(&self, mut f: impl FnMut(&mut dyn Conn) -> Result<T>) -> Result<T> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut conn = self.checkout()?;
            let out = match &mut conn {
                Connection::Sqlite(c) => lite::transaction(c, &mut f),
                Connection::Postgres(c) => pg::transaction(c, &mut f),
            };
            let keep = match &conn {
                Connection::Sqlite(_) => true,
                Connection::Postgres(c) => !c.is_closed(),
            };
            self.checkin(keep.then_some(conn));
            match out {
                Err(StoreError::Transient(_)) if attempt < 4 => {
                    std::thread::sleep(std::time::Duration::from_millis(20 * attempt));
                }
                other => return other,
            }
        }
    }

    /// Applies the migrations not yet applied, each in its own transaction, recording them in
    /// `schema_migrations`. Refuses a database migrated by a newer Gauntlet.
    pub fn migrate(&self, migrations: &[(&str, &str)]) -> Result<usize> {
        self.transaction(|c| {
            if c.dialect() == Dialect::Postgres {
                // Two servers starting at once: one migrates, the other waits for it.
                c.execute("SELECT pg_advisory_xact_lock(7412026)", &[])?;
                // SQLite gets `now_ms()` from the connection; PostgreSQL from the schema.
                // `clock_timestamp()` moves within a transaction, as SQLite's clock does.
                c.batch(
                    "CREATE OR REPLACE FUNCTION now_ms() RETURNS BIGINT LANGUAGE sql AS
                     $$ SELECT (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT $$",
                )?;
            }
            c.batch(
                "CREATE TABLE IF NOT EXISTS schema_migrations (
                    version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
            )
        })?;
        let mut applied = 0;
        for (i, (name, sql)) in migrations.iter().enumerate() {
            let version = i as i64 + 1;
            let done = self.transaction(|c| {
                if c.dialect() == Dialect::Postgres {
                    c.execute("SELECT pg_advisory_xact_lock(7412026)", &[])?;
                }
                let known = c
                    .query(
                        "SELECT version FROM schema_migrations WHERE version = $1",
                        params![version],
                    )?
                    .len();
                if known > 0 {
                    return Ok(false);
                }
                c.batch(sql)?;
                c.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, now_ms())",
                    params![version, *name],
                )?;
                Ok(true)
            })?;
            applied += usize::from(done);
        }
        let newest = self.with_conn(|c| {
            c.query_one(
                "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                &[],
            )?
            .int(0)
        })?;
        let known = migrations.len() as i64;
        if newest > known {
            return Err(StoreError::TooNew {
                found: newest,
                known,
            });
        }
        Ok(applied)
    }

    /// The number of migrations applied, for readiness checks.
    pub fn schema_version(&self) -> Result<i64> {
        self.with_conn(|c| {
            c.query_one(
                "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                &[],
            )?
            .int(0)
        })
    }
}

/// Rewrites `$N` placeholders to SQLite's `?N`, leaving quoted text alone.
pub(crate) fn sqlite_placeholders(sql: &str) -> std::borrow::Cow<'_, str> {
    if !sql.contains('$') {
        return std::borrow::Cow::Borrowed(sql);
    }
    let mut out = String::with_capacity(sql.len());
    let mut quoted = false;
    let mut chars = sql.chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            '\'' => {
                quoted = !quoted;
                out.push(ch);
            }
            '$' if !quoted && chars.peek().is_some_and(char::is_ascii_digit) => out.push('?'),
            _ => out.push(ch),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Test support: fresh, empty databases on both backends.
pub mod scratch {
    use super::Db;
    use crate::{Result, StoreError};

    /// The environment variable naming the PostgreSQL server tests use.
    pub const TEST_DATABASE_URL: &str = "GAUNTLET_TEST_DATABASE_URL";

    /// A new PostgreSQL database on the server named by `GAUNTLET_TEST_DATABASE_URL`, or `None`
    /// when it is unset. Each call creates its own database, so tests never share state; the
    /// databases are named `gauntlet_test_…`; `.ci/run` drops the previous ones before it tests.
    pub fn postgres(label: &str) -> Result<Option<(Db, String)>> {
        let Ok(base) = std::env::var(TEST_DATABASE_URL) else {
            return Ok(None);
        };
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let label: String = label
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .take(24)
            .collect();
        let name = format!("gauntlet_test_{}_{n}_{nanos}_{label}", std::process::id());
        let admin = Db::postgres(&base)?;
        admin.with_conn(|c| c.batch(&format!("CREATE DATABASE \"{name}\"")))?;
        let url = with_database(&base, &name).ok_or_else(|| StoreError::Open {
            path: TEST_DATABASE_URL.into(),
            message: "not a postgres:// URL with a database name".into(),
        })?;
        Ok(Some((Db::postgres(&url)?, url)))
    }

    /// `base` with its database replaced by `name`.
    pub fn with_database(base: &str, name: &str) -> Option<String> {
        let (head, query) = match base.split_once('?') {
            Some((h, q)) => (h, Some(q)),
            None => (base, None),
        };
        let scheme_end = head.find("://")? + 3;
        let path = head[scheme_end..].find('/').map(|i| i + scheme_end);
        let root = path.map_or(head, |i| &head[..i]);
        Some(match query {
            Some(q) => format!("{root}/{name}?{q}"),
            None => format!("{root}/{name}"),
        })
    }

    /// Says loudly, once per test, that the PostgreSQL half did not run. Written to the
    /// stderr handle itself, not through `eprintln!`, which the test harness captures and
    /// hides for a test that passes.
    pub fn skipped(test: &str) {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "\n*** SKIPPED: the PostgreSQL half of `{test}`: {TEST_DATABASE_URL} is not set ***\n"
        );
    }
}

#[cfg(test)]
mod tests;
