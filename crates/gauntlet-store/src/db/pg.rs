//! PostgreSQL behind [`Conn`](super::Conn), on the synchronous `postgres` client.
//!
//! The client runs its own small runtime, so it must be called from a plain thread or from
//! `spawn_blocking`, never directly inside an async task; the server does the former.

use std::error::Error as _;

use postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};
use postgres::{Client, NoTls};

use super::{Conn, Dialect, Row, Val};
use crate::{Result, StoreError};

pub(super) struct Pg<'a>(pub &'a mut Client);

impl ToSql for Val {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut postgres::types::private::BytesMut,
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
fn error(e: postgres::Error) -> StoreError {
    use postgres::error::SqlState;
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

pub(super) fn connect(config: &postgres::Config) -> Result<Client> {
    let mut config = config.clone();
    config.connect_timeout(std::time::Duration::from_secs(10));
    let client = config.connect(NoTls).map_err(|e| StoreError::Open {
        path: describe(&config),
        message: e.to_string(),
    })?;
    Ok(client)
}

/// `host:port/database`, never the password.
pub(super) fn describe(config: &postgres::Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            postgres::config::Host::Tcp(h) => h.clone(),
            postgres::config::Host::Unix(p) => p.display().to_string(),
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
        self.0.execute(sql, &refs(params)).map_err(error)
    }

    fn query_each(
        &mut self,
        sql: &str,
        params: &[Val],
        f: &mut dyn FnMut(Row) -> Result<()>,
    ) -> Result<()> {
        use postgres::fallible_iterator::FallibleIterator;
        let mut rows = self.0.query_raw(sql, params.iter()).map_err(error)?;
        while let Some(row) = rows.next().map_err(error)? {
            let mut vals = Vec::with_capacity(row.len());
            for i in 0..row.len() {
                vals.push(row.try_get::<_, Val>(i).map_err(error)?);
            }
            f(Row(vals))?;
        }
        Ok(())
    }

    fn batch(&mut self, sql: &str) -> Result<()> {
        self.0.batch_execute(sql).map_err(error)
    }
}

pub(super) fn transaction<T>(
    client: &mut Client,
    f: &mut dyn FnMut(&mut dyn Conn) -> Result<T>,
) -> Result<T> {
    client.batch_execute("BEGIN").map_err(error)?;
    match f(&mut Pg(client)) {
        Ok(v) => match client.batch_execute("COMMIT") {
            Ok(()) => Ok(v),
            Err(e) => {
                let _ = client.batch_execute("ROLLBACK");
                Err(error(e))
            }
        },
        Err(e) => {
            let _ = client.batch_execute("ROLLBACK");
            Err(e)
        }
    }
}
