//! Loading a project from disk with the environment, `.env` and secrets file, and `validate`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Result;
use gauntlet_core::model::Project;
use gauntlet_spec::{Severity, Vars};

use crate::cli::ValidateArgs;
use crate::{Outcome, UsageError, output};

/// The directory a project lives in: the path itself, or the directory of a file.
pub fn project_dir(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.to_path_buf()
    } else {
        // `gauntlet.yaml`'s parent is the empty path: the current directory.
        path.parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
    }
}

/// A stable name for the project: its directory's name.
pub fn project_name(path: &Path) -> String {
    let dir = project_dir(path);
    std::fs::canonicalize(&dir)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "project".to_owned())
}

/// Interpolation variables: `.env` beside the project, overridden by the environment; secrets
/// from the file named by GAUNTLET_SECRETS_FILE.
fn vars(path: &Path) -> Result<Vars> {
    let mut env: HashMap<String, String> =
        match std::fs::read_to_string(project_dir(path).join(".env")) {
            Ok(text) => gauntlet_spec::interp::parse_dotenv(&text),
            Err(_) => HashMap::new(),
        };
    env.extend(std::env::vars());
    let secrets = match std::env::var_os("GAUNTLET_SECRETS_FILE") {
        Some(file) => {
            let text = std::fs::read_to_string(&file).map_err(|e| {
                UsageError(format!(
                    "cannot read GAUNTLET_SECRETS_FILE {}: {e}",
                    PathBuf::from(&file).display()
                ))
            })?;
            gauntlet_spec::interp::parse_dotenv(&text)
        }
        None => HashMap::new(),
    };
    Ok(Vars { env, secrets })
}

/// Loads and validates, printing diagnostics to stderr; `None` when there were errors.
pub fn load(path: &Path) -> Result<Option<Project>> {
    Ok(load_with_files(path)?.0)
}

/// The specification files read, named relative to the project directory (files outside it by
/// their absolute path). Contents are read when stored, one file at a time.
pub fn source_files(path: &Path, files: &[PathBuf]) -> Vec<(String, PathBuf)> {
    let root = std::fs::canonicalize(project_dir(path)).unwrap_or_else(|_| project_dir(path));
    files
        .iter()
        .filter_map(|f| {
            let full = std::fs::canonicalize(f).ok()?;
            let name = full
                .strip_prefix(&root)
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| full.display().to_string());
            Some((name, full))
        })
        .collect()
}

/// Loads and validates; also returns the files that were read.
pub fn load_with_files(path: &Path) -> Result<(Option<Project>, Vec<PathBuf>)> {
    let validated = gauntlet_spec::load_project(path, &vars(path)?);
    let style = output::style_stderr();
    let mut errors = 0;
    for d in &validated.diagnostics {
        if d.severity == Severity::Error {
            errors += 1;
        }
        let text = d.to_string();
        let text = match d.severity {
            Severity::Error => {
                text.replacen(": error: ", &format!(": {}: ", style.red("error")), 1)
            }
            Severity::Warning => text.replacen(
                ": warning: ",
                &format!(": {}: ", style.yellow("warning")),
                1,
            ),
        };
        output::err(&text);
    }
    if errors > 0 {
        output::err(&format!(
            "{errors} error{} found",
            if errors == 1 { "" } else { "s" }
        ));
    }
    Ok((validated.project, validated.files))
}

pub fn validate_command(args: &ValidateArgs) -> Result<Outcome> {
    match load(&args.path)? {
        None => Ok(Outcome::Invalid),
        Some(p) => {
            let cases: usize = p
                .suites
                .values()
                .map(|s| s.cases.len() * s.targets.len())
                .sum();
            output::out(&format!(
                "ok: {} provider(s), {} tool(s), {} agent(s), {} graph(s), {} suite(s), {} case(s)",
                p.providers.len(),
                p.tools.len(),
                p.agents.len(),
                p.graphs.len(),
                p.suites.len(),
                cases
            ));
            Ok(Outcome::Passed)
        }
    }
}
