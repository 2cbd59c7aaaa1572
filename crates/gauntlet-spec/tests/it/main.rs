#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Integration tests of loading and validation.

mod capabilities;
mod invalid;
mod valid;

use std::path::{Path, PathBuf};

use gauntlet_spec::Vars;

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it")
}

pub fn vars() -> Vars {
    let mut v = Vars::default();
    v.env.insert("BASE_URL".into(), "http://127.0.0.1:9".into());
    v.secrets
        .insert("API_KEY".into(), "sk-canary-0123456789".into());
    v
}

/// Diagnostics of a project as text, with paths relative to the fixtures directory.
pub fn diagnostics(path: &Path) -> String {
    let v = gauntlet_spec::load_project(path, &vars());
    let root = format!("{}/", fixtures().display());
    let text: Vec<String> = v
        .diagnostics
        .iter()
        .map(|d| d.to_string().replace(&root, ""))
        .collect();
    let mut out = text.join("\n");
    out.push_str(&format!(
        "\n-- project: {}",
        if v.project.is_some() {
            "valid"
        } else {
            "invalid"
        }
    ));
    out
}
