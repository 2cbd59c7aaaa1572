//! Reading and validating Gauntlet specification files.
//!
//! `load` reads YAML (one file or a directory, with includes and interpolation), `validate`
//! turns it into a `gauntlet_core::model::Project` or a list of diagnostics with file, line,
//! column and hint. Nothing here executes anything; bad input never panics.

pub mod diag;
pub mod interp;
pub mod load;
pub mod raw;
pub mod schema;
pub mod validate;
pub mod yaml;

use std::path::Path;

pub use diag::{Diagnostic, Severity};
pub use interp::Vars;

/// Loads and validates the project at `path`.
pub fn load_project(path: &Path, vars: &Vars) -> validate::Validated {
    let loaded = load::load(path, vars);
    validate::validate(&loaded)
}
