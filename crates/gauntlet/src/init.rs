//! `gauntlet init`: a small project that validates and passes.

use std::path::Path;

use anyhow::{Context, Result};

use crate::cli::InitArgs;
use crate::{Outcome, UsageError, output};

const FILES: &[(&str, &str)] = &[
    ("gauntlet.yaml", include_str!("init/gauntlet.yaml")),
    (".gitignore", ".gauntlet/\n.env\n"),
];

pub fn run(args: &InitArgs) -> Result<Outcome> {
    let dir = &args.dir;
    if !args.force {
        let existing: Vec<String> = FILES
            .iter()
            .map(|(f, _)| dir.join(f))
            .filter(|p| p.exists())
            .map(|p| p.display().to_string())
            .collect();
        if !existing.is_empty() {
            return Err(UsageError(format!(
                "{} already exist(s); use --force to overwrite",
                existing.join(", ")
            ))
            .into());
        }
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for (name, content) in FILES {
        let path = dir.join(name);
        std::fs::write(&path, content).with_context(|| format!("writing {}", path.display()))?;
    }
    let shown = if dir == Path::new(".") {
        String::new()
    } else {
        format!(" {}", dir.display())
    };
    output::out(&format!(
        "created a Gauntlet project in {}\nnext:\n  gauntlet validate{shown}\n  gauntlet run{shown}",
        dir.display()
    ));
    Ok(Outcome::Passed)
}
