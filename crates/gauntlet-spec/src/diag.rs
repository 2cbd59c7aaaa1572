//! Diagnostics: an error or warning at a file, line and column, with a hint.

use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub file: PathBuf,
    pub line: u32,
    pub col: u32,
    pub message: String,
    pub hint: Option<String>,
    /// A stable code for errors a program may act on (`capability.programs`, ...).
    pub code: Option<&'static str>,
}

impl Diagnostic {
    pub fn error(file: &Path, pos: crate::yaml::Pos, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            file: file.to_path_buf(),
            line: pos.line,
            col: pos.col,
            message: message.into(),
            hint: None,
            code: None,
        }
    }

    pub fn warning(file: &Path, pos: crate::yaml::Pos, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(file, pos, message)
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Diagnostic {
        self.hint = Some(hint.into());
        self
    }

    pub fn with_code(mut self, code: &'static str) -> Diagnostic {
        self.code = Some(code);
        self
    }

    pub fn with_hint_opt(mut self, hint: Option<String>) -> Diagnostic {
        self.hint = hint;
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{}:{}:{}: {label}: {}",
            self.file.display(),
            self.line,
            self.col,
            self.message
        )?;
        if let Some(code) = self.code {
            write!(f, " [{code}]")?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// The closest candidate to `name` by Jaro–Winkler similarity, if it is close enough to be a
/// plausible misspelling.
pub fn did_you_mean<'a, I>(name: &str, candidates: I) -> Option<String>
where
    I: IntoIterator<Item = &'a str>,
{
    let lowered = name.to_lowercase();
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(&lowered, &c.to_lowercase()), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| format!("did you mean `{c}`?"))
}

/// Lists candidates for a hint, e.g. "defined agents: `a`, `b`".
pub fn known<'a, I>(what: &str, candidates: I) -> String
where
    I: IntoIterator<Item = &'a str>,
{
    let names: Vec<String> = candidates
        .into_iter()
        .take(12)
        .map(|c| format!("`{c}`"))
        .collect();
    if names.is_empty() {
        format!("no {what} are defined")
    } else {
        format!("defined {what}: {}", names.join(", "))
    }
}

/// `did_you_mean`, else the list of known names.
pub fn suggest<'a, I>(name: &str, what: &str, candidates: I) -> String
where
    I: IntoIterator<Item = &'a str> + Clone,
{
    did_you_mean(name, candidates.clone()).unwrap_or_else(|| known(what, candidates))
}

/// The one-line cause of a regex compile error (the library's message spans several lines).
pub fn regex_error(e: &regex::Error) -> String {
    let text = e.to_string();
    let last = text
        .lines()
        .last()
        .unwrap_or("syntax error")
        .trim_start_matches("error: ")
        .to_owned();
    format!("invalid regular expression: {last}")
}
