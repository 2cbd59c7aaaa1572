//! SQLite behind [`Conn`](super::Conn).

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ToSql};

use super::{Conn, Dialect, Row, Val, sqlite_placeholders};
use crate::{Result, StoreError};

pub(super) struct Lite<'a>(pub &'a mut Connection);

thread_local! {
    /// Statements already rewritten to SQLite's placeholders: the writer runs the same few
    /// statements for every case, and rewriting each time cost more than the lookup.
    static REWRITTEN: std::cell::RefCell<std::collections::HashMap<String, std::rc::Rc<str>>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// `sql` with SQLite's placeholders, from the per-thread cache.
fn sqlite_sql(sql: &str) -> std::rc::Rc<str> {
    if let Some(hit) = REWRITTEN.with(|c| c.borrow().get(sql).cloned()) {
        return hit;
    }
    let rewritten: std::rc::Rc<str> = std::rc::Rc::from(sqlite_placeholders(sql).as_ref());
    REWRITTEN.with(|c| {
        let mut map = c.borrow_mut();
        if map.len() >= 1024 {
            map.clear();
        }
        map.insert(sql.to_owned(), std::rc::Rc::clone(&rewritten));
    });
    rewritten
}

impl ToSql for Val {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Val::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Val::Int(v) => ToSqlOutput::Borrowed(ValueRef::Integer(*v)),
            Val::Real(v) => ToSqlOutput::Borrowed(ValueRef::Real(*v)),
            Val::Text(v) => ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes())),
            Val::Blob(v) => ToSqlOutput::Borrowed(ValueRef::Blob(v)),
        })
    }
}

fn read(value: ValueRef<'_>) -> Result<Val> {
    Ok(match value {
        ValueRef::Null => Val::Null,
        ValueRef::Integer(v) => Val::Int(v),
        ValueRef::Real(v) => Val::Real(v),
        ValueRef::Text(v) => Val::Text(
            String::from_utf8(v.to_vec())
                .map_err(|_| StoreError::Corrupt("a text column is not UTF-8".into()))?,
        ),
        ValueRef::Blob(v) => Val::Blob(v.to_vec()),
    })
}

/// Opens a connection with the store's settings: WAL, `synchronous=FULL`, foreign keys, a busy
/// timeout, and the `now_ms()` function.
pub(crate) fn connect(path: &str) -> Result<Connection> {
    let conn = Connection::open(path).map_err(|e| StoreError::Open {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Plans that do not depend on bound values. Without this, a statement whose plan could
    // (a partial index, a LIMIT, STAT4 estimates) is compiled again at every execution with
    // new parameters, which measured as ~30% of a read-heavy server's CPU; every statement
    // here filters states with literals, so nothing is lost.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    conn.create_scalar_function(
        "now_ms",
        0,
        rusqlite::functions::FunctionFlags::SQLITE_UTF8,
        |_| {
            Ok(std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64))
        },
    )?;
    Ok(conn)
}

impl Conn for Lite<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn execute(&mut self, sql: &str, params: &[Val]) -> Result<u64> {
        let mut stmt = self.0.prepare_cached(&sqlite_sql(sql))?;
        Ok(stmt.execute(rusqlite::params_from_iter(params))? as u64)
    }

    fn query_each(
        &mut self,
        sql: &str,
        params: &[Val],
        f: &mut dyn FnMut(Row) -> Result<()>,
    ) -> Result<()> {
        let mut stmt = self.0.prepare_cached(&sqlite_sql(sql))?;
        let width = stmt.column_count();
        let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
        while let Some(row) = rows.next()? {
            let mut vals = Vec::with_capacity(width);
            for i in 0..width {
                vals.push(read(row.get_ref(i)?)?);
            }
            f(Row(vals))?;
        }
        Ok(())
    }

    fn batch(&mut self, sql: &str) -> Result<()> {
        Ok(self.0.execute_batch(sql)?)
    }

    fn sqlite(&mut self) -> Option<&mut Connection> {
        Some(self.0)
    }
}

pub(super) fn transaction<T>(
    conn: &mut Connection,
    f: &mut dyn FnMut(&mut dyn Conn) -> Result<T>,
) -> Result<T> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    match f(&mut Lite(conn)) {
        Ok(v) => match conn.execute_batch("COMMIT") {
            Ok(()) => Ok(v),
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                Err(e.into())
            }
        },
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_do_not_depend_on_bound_values() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("t.db");
        let conn = connect(&path.display().to_string()).unwrap_or_else(|e| panic!("{e}"));
        let qpsg = conn
            .db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            qpsg,
            "statements would be compiled again at every execution"
        );
    }
}
