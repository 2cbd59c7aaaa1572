//! The shared AWS config and credentials files: where they live and how to read a section.
//!
//! The files are INI as Python's `configparser` reads them (which is what botocore and the
//! AWS CLI use): `[section]` headers, `key = value` or `key: value` lines, `#`/`;` comment
//! lines, indented lines continuing the previous value (nested `s3 =` blocks), keys
//! case-insensitive, section names case-sensitive, no inline comments.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::AwsError;

/// An environment lookup: `Some(value)` for a set variable.
pub(crate) type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Which of the two shared files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FileKind {
    /// `~/.aws/credentials`: sections are bare profile names.
    Credentials,
    /// `~/.aws/config`: sections are `profile NAME`, or `default`.
    Config,
}

impl FileKind {
    fn variable(self) -> &'static str {
        match self {
            FileKind::Credentials => "AWS_SHARED_CREDENTIALS_FILE",
            FileKind::Config => "AWS_CONFIG_FILE",
        }
    }

    fn default_name(self) -> &'static str {
        match self {
            FileKind::Credentials => "credentials",
            FileKind::Config => "config",
        }
    }

    /// What to call this file in an error when its location is unknown.
    pub(crate) fn describe_unlocated(self) -> String {
        format!(
            "shared {} file (neither {} nor HOME is set)",
            self.default_name(),
            self.variable()
        )
    }
}

/// A variable's value, treating an empty or blank value as unset.
pub(crate) fn var(env: Env<'_>, name: &str) -> Option<String> {
    env(name).filter(|v| !v.trim().is_empty())
}

/// Where the file lives: its variable (with a leading `~` expanded), else `$HOME/.aws/NAME`.
pub(crate) fn path(env: Env<'_>, kind: FileKind) -> Option<PathBuf> {
    let home = || var(env, "HOME").or_else(|| var(env, "USERPROFILE"));
    match var(env, kind.variable()) {
        Some(p) if p == "~" => home().map(PathBuf::from),
        Some(p) => match p.strip_prefix("~/").or_else(|| p.strip_prefix("~\\")) {
            Some(rest) => home().map(|h| Path::new(&h).join(rest)),
            None => Some(PathBuf::from(p)),
        },
        None => home().map(|h| Path::new(&h).join(".aws").join(kind.default_name())),
    }
}

/// The file's text, `None` when it does not exist.
pub(crate) fn read(path: &Path) -> Result<Option<String>, AwsError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(AwsError::Io {
            path: path.to_owned(),
            source,
        }),
    }
}

/// The keys of `profile`'s section in a file of `kind` (keys lowercased, values trimmed),
/// `None` when the file has no such section. In the config file the default profile may be
/// written `[default]` or `[profile default]`; both are merged, the latter winning.
pub(crate) fn section(
    text: &str,
    kind: FileKind,
    profile: &str,
) -> Option<HashMap<String, String>> {
    let matches = |header: &str| match kind {
        FileKind::Credentials => header == profile,
        FileKind::Config => {
            (profile == "default" && header == "default")
                || header
                    .strip_prefix("profile")
                    .filter(|rest| rest.starts_with(char::is_whitespace))
                    .is_some_and(|rest| rest.trim() == profile)
        }
    };
    parse(text, matches)
}

/// The merged keys of every section whose header satisfies `wanted`.
fn parse(text: &str, wanted: impl Fn(&str) -> bool) -> Option<HashMap<String, String>> {
    let mut found: Option<HashMap<String, String>> = None;
    let mut in_wanted = false;
    let mut has_key = false; // whether an indented line continues a value
    for raw in text.lines() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if raw.starts_with(char::is_whitespace) && has_key {
            continue; // continuation of the previous value (e.g. a nested `s3 =` block)
        }
        if let Some(header) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            in_wanted = wanted(header.trim());
            has_key = false;
            if in_wanted && found.is_none() {
                found = Some(HashMap::new());
            }
            continue;
        }
        let Some(at) = line.find(['=', ':']) else {
            continue; // configparser would reject the file; skipping is kinder
        };
        has_key = true;
        if in_wanted && let Some(keys) = found.as_mut() {
            let key = line[..at].trim().to_ascii_lowercase();
            keys.insert(key, line[at + 1..].trim().to_owned());
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "\
# a comment
[default]
region = us-east-1

[profile work]
Region: eu-west-3
s3 =
    region = ignored-nested
  ; indented comment
output = json

[profile  spaced ]
region = ap-south-1

[profilex]
region = wrong
";

    #[test]
    fn config_sections_use_the_profile_prefix() {
        let work = section(CONFIG, FileKind::Config, "work").unwrap();
        assert_eq!(work.get("region").map(String::as_str), Some("eu-west-3"));
        assert_eq!(work.get("output").map(String::as_str), Some("json"));
        assert_eq!(work.get("s3").map(String::as_str), Some(""));
        let default = section(CONFIG, FileKind::Config, "default").unwrap();
        assert_eq!(default.get("region").map(String::as_str), Some("us-east-1"));
        let spaced = section(CONFIG, FileKind::Config, "spaced").unwrap();
        assert_eq!(spaced.get("region").map(String::as_str), Some("ap-south-1"));
        assert!(section(CONFIG, FileKind::Config, "x").is_none());
        assert!(section(CONFIG, FileKind::Credentials, "work").is_none());
    }

    #[test]
    fn credentials_sections_are_bare_names() {
        let text = "[default]\na = 1\n[work]\na = 2\n[profile work]\na = 3\n";
        let work = section(text, FileKind::Credentials, "work").unwrap();
        assert_eq!(work.get("a").map(String::as_str), Some("2"));
    }

    #[test]
    fn locates_files_from_variables_or_home() {
        let env = |k: &str| match k {
            "HOME" => Some("/home/u".to_owned()),
            "AWS_CONFIG_FILE" => Some("~/cfg".to_owned()),
            _ => None,
        };
        assert_eq!(
            path(&env, FileKind::Credentials),
            Some(PathBuf::from("/home/u/.aws/credentials"))
        );
        assert_eq!(
            path(&env, FileKind::Config),
            Some(PathBuf::from("/home/u/cfg"))
        );
        assert_eq!(path(&|_: &str| None, FileKind::Config), None);
    }
}
