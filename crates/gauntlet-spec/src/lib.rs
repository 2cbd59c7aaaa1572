//! Reading and validating Gauntlet specification files.
//!
//! `load` reads YAML (one file or a directory, with includes and interpolation), `validate`
//! turns it into a `gauntlet_core::model::Project` or a list of diagnostics with file, line,
//! column and hint. Nothing here executes anything; bad input never panics.

pub mod diag;
pub mod files;
pub mod interp;
pub mod load;
pub mod raw;
pub mod schema;
pub mod validate;
pub mod yaml;

use std::path::Path;

pub use diag::{Diagnostic, Severity};
pub use files::Origin;
pub use interp::Vars;

/// Loads and validates the project at `path` on the host's disk, with the operator's powers.
pub fn load_project(path: &Path, vars: &Vars) -> validate::Validated {
    let loaded = load::load(path, vars);
    validate::validate(&loaded)
}

/// Loads and validates the project at `path` of `origin` (`""` is a file set's root),
/// refusing what its capabilities do not allow.
pub fn load_from(origin: Origin, path: &Path, vars: &Vars) -> validate::Validated {
    let loaded = load::load_from(origin, path, vars);
    validate::validate(&loaded)
}
