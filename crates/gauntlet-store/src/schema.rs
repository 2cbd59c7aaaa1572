//! Every migration per backend, for readiness checks and `gauntlet migrate`.

use crate::db::Dialect;

/// The migrations a database must have for the server (all of them).
pub fn server(dialect: Dialect) -> &'static [(&'static str, &'static str)] {
    crate::store::migrations(dialect)
}
