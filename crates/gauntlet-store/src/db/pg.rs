//! PostgreSQL behind [`Conn`](super::Conn), on `tokio-postgres`.
//!
//! Pooled connections are driven by a private one-thread runtime; statements are awaited with
//! a plain thread-parking executor, so a call works from any thread — a plain one, a
//! `spawn_blocking` task, or (briefly blocking it) an async task — without nesting runtimes.
//!
//! [`Shared`] connections serve async readers instead ([`Db::fetch`](super::Db::fetch)): many
//! tasks use one at once (tokio-postgres pipelines their statements on the socket), and its
//! socket is driven by the readers' own runtime, so a read costs no thread hand-over at all.

use std::error::Error as _;
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Wake, Waker};

use tokio_postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::{Client, NoTls};

use super::{Conn, Dialect, Row, Val};
use crate::{Result, StoreError};

/// A connection with the statements it has prepared: a repeated statement costs one round
/// trip instead of two.
pub(crate) struct PgConn {
    client: Client,
    statements: std::collections::HashMap<String, tokio_postgres::Statement>,
}

impl PgConn {
    pub(super) fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    fn prepare(&mut self, sql: &str) -> Result<tokio_postgres::Statement> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let stmt = wait(self.client.prepare(sql)).map_err(error)?;
        remember(&mut self.statements, sql, &stmt);
        Ok(stmt)
    }
}

/// Keeps a prepared statement for reuse, forgetting them all past 512 (statements are built
/// from a fixed set of texts, so that bound is only reached by something unusual).
fn remember(
    statements: &mut std::collections::HashMap<String, tokio_postgres::Statement>,
    sql: &str,
    stmt: &tokio_postgres::Statement,
) {
    if statements.len() >= 512 {
        statements.clear();
    }
    statements.insert(sql.to_owned(), stmt.clone());
}

pub(super) struct Pg<'a>(pub &'a mut PgConn);

/// The runtime that drives every connection's socket.
fn driver() -> Result<&'static tokio::runtime::Runtime> {
    static DRIVER: OnceLock<std::result::Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    DRIVER
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("gauntlet-pg")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| StoreError::Backend(format!("cannot start the PostgreSQL driver: {e}")))
}

struct Unpark(std::thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls `f` to completion on this thread, parking between wake-ups. The futures awaited here
/// only exchange messages with the connection task on the driver runtime.
fn wait<F: Future>(f: F) -> F::Output {
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}

/// A connection many async readers share; see the module's documentation.
pub(crate) struct Shared {
    client: Client,
    statements: std::sync::Mutex<std::collections::HashMap<String, tokio_postgres::Statement>>,
}

impl Shared {
    /// Connects, driving the socket on the current tokio runtime: the connection lives until
    /// the last clone of the client is dropped or that runtime shuts down.
    pub(super) async fn connect(config: &tokio_postgres::Config) -> Result<Shared> {
        let mut config = config.clone();
        config.connect_timeout(std::time::Duration::from_secs(10));
        let (client, connection) = config.connect(NoTls).await.map_err(|e| StoreError::Open {
            path: describe(&config),
            message: match e.as_db_error() {
                Some(db) => db.message().to_owned(),
                None => e.to_string(),
            },
        })?;
        // The connection ends when the client is dropped; its error then is of no interest.
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Shared {
            client,
            statements: std::sync::Mutex::new(std::collections::HashMap::new()),
        })
    }

    pub(super) fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    async fn prepare(&self, sql: &str) -> Result<tokio_postgres::Statement> {
        let cached = self
            .statements
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(sql)
            .cloned();
        if let Some(s) = cached {
            return Ok(s);
        }
        let stmt = self.client.prepare(sql).await.map_err(error)?;
        remember(
            &mut self.statements.lock().unwrap_or_else(|p| p.into_inner()),
            sql,
            &stmt,
        );
        Ok(stmt)
    }

    pub(super) async fn query(&self, sql: &str, params: &[Val]) -> Result<Vec<Row>> {
        let stmt = self.prepare(sql).await?;
        self.client
            .query(&stmt, &refs(params))
            .await
            .map_err(error)?
            .iter()
            .map(row_of)
            .collect()
    }
}

fn row_of(row: &tokio_postgres::Row) -> Result<Row> {
    (0..row.len())
        .map(|i| row.try_get::<_, Val>(i).map_err(error))
        .collect::<Result<Vec<_>>>()
        .map(Row)
}

impl ToSql for Val {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut tokio_postgres::types::private::BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Val::Null => Ok(IsNull::Yes),
            Val::Int(v) => match *ty {
                Type::INT2 => i16::try_from(*v)?.to_sql(ty, out),
                Type::INT4 => i32::try_from(*v)?.to_sql(ty, out),
                Type::FLOAT8 => (*v as f64).to_sql(ty, out),
                Type::FLOAT4 => (*v as f32).to_sql(ty, out),
                Type::BOOL => (*v != 0).to_sql(ty, out),
                Type::TEXT | Type::VARCHAR => v.to_string().to_sql(ty, out),
                _ => v.to_sql(ty, out),
            },
            Val::Real(v) => match *ty {
                Type::FLOAT4 => (*v as f32).to_sql(ty, out),
                _ => v.to_sql(ty, out),
            },
            Val::Text(v) => v.to_sql(ty, out),
            Val::Blob(v) => v.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

impl<'a> FromSql<'a> for Val {
    fn from_sql(
        ty: &Type,
        raw: &'a [u8],
    ) -> std::result::Result<Val, Box<dyn std::error::Error + Sync + Send>> {
        Ok(match *ty {
            Type::INT8 => Val::Int(i64::from_sql(ty, raw)?),
            Type::INT4 => Val::Int(i64::from(i32::from_sql(ty, raw)?)),
            Type::INT2 => Val::Int(i64::from(i16::from_sql(ty, raw)?)),
            Type::BOOL => Val::Int(i64::from(bool::from_sql(ty, raw)?)),
            Type::FLOAT8 => Val::Real(f64::from_sql(ty, raw)?),
            Type::FLOAT4 => Val::Real(f64::from(f32::from_sql(ty, raw)?)),
            Type::BYTEA => Val::Blob(Vec::<u8>::from_sql(ty, raw)?),
            _ => Val::Text(String::from_sql(ty, raw)?),
        })
    }

    fn from_sql_null(
        _: &Type,
    ) -> std::result::Result<Val, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Val::Null)
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// Serialization failures, deadlocks and lost connections are worth retrying; the rest is not.
fn error(e: tokio_postgres::Error) -> StoreError {
    use tokio_postgres::error::SqlState;
    let transient = e.is_closed()
        || e.code().is_some_and(|c| {
            *c == SqlState::T_R_SERIALIZATION_FAILURE
                || *c == SqlState::T_R_DEADLOCK_DETECTED
                || *c == SqlState::ADMIN_SHUTDOWN
                || *c == SqlState::CANNOT_CONNECT_NOW
        })
        || e.source().is_some_and(|s| s.is::<std::io::Error>());
    let message = match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => e.to_string(),
    };
    if transient {
        StoreError::Transient(message)
    } else {
        StoreError::Backend(message)
    }
}

/// A pooled connection, its socket driven by the private runtime.
pub(super) fn connect(config: &tokio_postgres::Config) -> Result<PgConn> {
    let (rt, config) = (driver()?, config.clone());
    let described = describe(&config);
    match wait(rt.spawn(async move { Shared::connect(&config).await })) {
        Ok(opened) => opened.map(|shared| PgConn {
            client: shared.client,
            statements: std::collections::HashMap::new(),
        }),
        Err(e) => Err(StoreError::Open {
            path: described,
            message: e.to_string(),
        }),
    }
}

/// `host:port/database`, never the password.
pub(super) fn describe(config: &tokio_postgres::Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(h) => h.clone(),
            tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
        })
        .unwrap_or_default();
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "postgres://{host}:{port}/{}",
        config.get_dbname().unwrap_or_default()
    )
}

/// A connection URL with its password replaced, for error messages.
pub(super) fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

fn refs(params: &[Val]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

impl Conn for Pg<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn execute(&mut self, sql: &str, params: &[Val]) -> Result<u64> {
        let stmt = self.0.prepare(sql)?;
        wait(self.0.client.execute(&stmt, &refs(params))).map_err(error)
    }

    fn query_each(
        &mut self,
        sql: &str,
        params: &[Val],
        f: &mut dyn FnMut(Row) -> Result<()>,
    ) -> Result<()> {
        use futures_util::StreamExt;
        let stmt = self.0.prepare(sql)?;
        let rows = wait(self.0.client.query_raw(&stmt, params.iter())).map_err(error)?;
        let mut rows = std::pin::pin!(rows);
        while let Some(row) = wait(rows.next()) {
            f(row_of(&row.map_err(error)?)?)?;
        }
        Ok(())
    }

    fn batch(&mut self, sql: &str) -> Result<()> {
        wait(self.0.client.batch_execute(sql)).map_err(error)
    }
}

pub(super) fn transaction<T>(
    conn: &mut PgConn,
    f: &mut dyn FnMut(&mut dyn Conn) -> Result<T>,
) -> Result<T> {
    wait(conn.client.batch_execute("BEGIN")).map_err(error)?;
    match f(&mut Pg(conn)) {
        Ok(v) => match wait(conn.client.batch_execute("COMMIT")) {
            Ok(()) => Ok(v),
            Err(e) => {
                let _ = wait(conn.client.batch_execute("ROLLBACK"));
                Err(error(e))
            }
        },
        Err(e) => {
            let _ = wait(conn.client.batch_execute("ROLLBACK"));
            Err(e)
        }
    }
}
