//! Loading a project from disk with the environment, `.env` and secrets file, and `validate`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Result;
use gauntlet_core::files::FileSet;
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
    vars_with(path, true)
}

/// As [`vars`]; without `ambient`, the process environment is not part of them (the server's
/// policy, which `run --sandbox` applies).
pub fn vars_with(path: &Path, ambient: bool) -> Result<Vars> {
    let mut env: HashMap<String, String> =
        match std::fs::read_to_string(project_dir(path).join(".env")) {
            Ok(text) => gauntlet_spec::interp::parse_dotenv(&text),
            Err(_) => HashMap::new(),
        };
    if ambient {
        env.extend(std::env::vars());
    }
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
    print_diagnostics(&validated.diagnostics);
    Ok((validated.project, validated.files))
}

/// The project directory of `path` read into a file set (hidden directories, `target` and
/// `node_modules` skipped), and the path to load inside it: what `run --sandbox` runs, as the
/// server would run the same files uploaded.
pub fn file_set(path: &Path) -> Result<(Arc<FileSet>, PathBuf)> {
    let dir = project_dir(path);
    let root = if path.is_dir() {
        PathBuf::new()
    } else {
        PathBuf::from(path.file_name().unwrap_or_default())
    };
    let mut files = std::collections::BTreeMap::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let entries = std::fs::read_dir(dir.join(&rel))
            .map_err(|e| UsageError(format!("cannot read {}: {e}", dir.join(&rel).display())))?;
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || name == "target" || name == "node_modules" {
                continue;
            }
            let ty = entry.file_type()?;
            let child = rel.join(&name);
            if ty.is_dir() {
                stack.push(child);
            } else if ty.is_file() {
                // Files that are not text (images, archives) are not part of a suite.
                if let Ok(text) = String::from_utf8(std::fs::read(entry.path())?) {
                    files.insert(child.to_string_lossy().replace('\\', "/"), text);
                }
            }
        }
    }
    let set = FileSet::new(files).map_err(|e| UsageError(format!("--sandbox: {e}")))?;
    Ok((Arc::new(set), root))
}

/// Prints diagnostics to stderr, and how many errors there were.
pub fn print_diagnostics(diagnostics: &[gauntlet_spec::Diagnostic]) {
    let style = output::style_stderr();
    let mut errors = 0;
    for d in diagnostics {
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
