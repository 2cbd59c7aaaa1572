//! The server's tables (`0011_server`), per backend. They are applied after the store's own
//! migrations.

use crate::db::Dialect;

pub const SERVER_SQLITE: &[(&str, &str)] = &[(
    "0011_server",
    include_str!("../migrations/sqlite/0011_server.sql"),
)];

pub const SERVER_POSTGRES: &[(&str, &str)] = &[(
    "0011_server",
    include_str!("../migrations/postgres/0011_server.sql"),
)];

pub fn server(dialect: Dialect) -> &'static [(&'static str, &'static str)] {
    match dialect {
        Dialect::Sqlite => SERVER_SQLITE,
        Dialect::Postgres => SERVER_POSTGRES,
    }
}
