//! A project as an in-memory set of files: what the server stores for a tenant's suite, what a
//! run records as its sources, and what `gauntlet run --sandbox` reads a directory into.
//!
//! Paths are relative, `/`-separated and normalised. Resolving a path named inside the set
//! (`include: ../shared.yaml`) is lexical: nothing outside the set is ever looked at, so a
//! path that leaves it is simply not there.

use std::collections::BTreeMap;

/// The largest set accepted from a tenant: files, bytes of one file, bytes in all.
pub const MAX_FILES: usize = 2000;
pub const MAX_FILE_BYTES: usize = 32 << 20;
pub const MAX_TOTAL_BYTES: usize = 128 << 20;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileSet {
    files: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FileSetError {
    #[error("file path `{0}` must be relative and without `.`, `..` or empty parts")]
    Path(String),
    #[error("the file set holds {0} files; at most {MAX_FILES} are accepted")]
    TooMany(usize),
    #[error("`{0}` is larger than {MAX_FILE_BYTES} bytes")]
    TooLarge(String),
    #[error("the files hold more than {MAX_TOTAL_BYTES} bytes in all")]
    TooLargeInAll,
}

impl FileSet {
    /// A set of a tenant's files: every path relative and inside the set.
    pub fn new(files: BTreeMap<String, String>) -> Result<FileSet, FileSetError> {
        if files.len() > MAX_FILES {
            return Err(FileSetError::TooMany(files.len()));
        }
        let mut total = 0usize;
        for (path, text) in &files {
            if !is_clean(path) {
                return Err(FileSetError::Path(path.chars().take(100).collect()));
            }
            if text.len() > MAX_FILE_BYTES {
                return Err(FileSetError::TooLarge(path.clone()));
            }
            total += text.len();
            if total > MAX_TOTAL_BYTES {
                return Err(FileSetError::TooLargeInAll);
            }
        }
        Ok(FileSet { files })
    }

    /// A set whose paths may start with `../` (a run's recorded sources include siblings of
    /// the project); they stay names in the set, never host paths.
    pub fn with_parents(files: BTreeMap<String, String>) -> Result<FileSet, FileSetError> {
        let mut clean = BTreeMap::new();
        for (path, text) in files {
            let Some(norm) = normalize("", &path) else {
                return Err(FileSetError::Path(path));
            };
            clean.insert(norm, text);
        }
        Ok(FileSet { files: clean })
    }

    pub fn get(&self, path: &str) -> Option<&str> {
        self.files.get(path).map(String::as_str)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.files.iter().map(|(p, t)| (p.as_str(), t.as_str()))
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    pub fn bytes(&self) -> usize {
        self.files.values().map(String::len).sum()
    }

    pub fn into_map(self) -> BTreeMap<String, String> {
        self.files
    }

    /// Whether `dir` (normalised) is a directory of the set: some file lies below it.
    pub fn is_dir(&self, dir: &str) -> bool {
        dir.is_empty() || self.files.keys().any(|p| under(p, dir))
    }

    /// The YAML files at or below `dir` (normalised; `""` is the root), sorted, hidden
    /// files and directories skipped as on disk.
    pub fn yaml_under(&self, dir: &str) -> Vec<&str> {
        self.files
            .keys()
            .filter(|p| under(p, dir))
            .filter(|p| {
                (p.ends_with(".yaml") || p.ends_with(".yml")) && !hidden(&p[prefix_len(dir)..])
            })
            .map(String::as_str)
            .collect()
    }
}

fn prefix_len(dir: &str) -> usize {
    if dir.is_empty() { 0 } else { dir.len() + 1 }
}

fn under(path: &str, dir: &str) -> bool {
    dir.is_empty()
        || (path.len() > dir.len() && path.starts_with(dir) && path.as_bytes()[dir.len()] == b'/')
}

fn hidden(rel: &str) -> bool {
    rel.split('/')
        .any(|part| part.starts_with('.') || part == "target" || part == "node_modules")
}

fn is_clean(path: &str) -> bool {
    !path.is_empty()
        && path.len() <= 300
        && !path.contains('\\')
        && !path.contains('\0')
        && path
            .split('/')
            .all(|p| !p.is_empty() && p != "." && p != "..")
}

/// `rel` joined to the directory `base` and normalised lexically; leading `..` parts are
/// kept (they name files outside the set's root). `None` for absolute paths.
pub fn normalize(base: &str, rel: &str) -> Option<String> {
    if rel.starts_with('/') || rel.contains('\\') || rel.contains('\0') {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in base.split('/').chain(rel.split('/')) {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else {
                    parts.push("..");
                }
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

/// The directory part of a set path (`""` for a file at the root).
pub fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(d, _)| d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(paths: &[&str]) -> FileSet {
        FileSet::new(
            paths
                .iter()
                .map(|p| (p.to_string(), String::new()))
                .collect(),
        )
        .unwrap()
    }

    #[test]
    fn paths_must_stay_inside() {
        for bad in [
            "/etc/passwd",
            "../x.yaml",
            "a/../../x",
            "a//b",
            "",
            "a\\b",
            "./a",
        ] {
            let files = [(bad.to_owned(), String::new())].into_iter().collect();
            assert!(FileSet::new(files).is_err(), "{bad}");
        }
    }

    #[test]
    fn normalisation_is_lexical() {
        assert_eq!(normalize("a/b", "../c.yaml").as_deref(), Some("a/c.yaml"));
        assert_eq!(
            normalize("", "../../etc/shadow").as_deref(),
            Some("../../etc/shadow")
        );
        assert_eq!(normalize("a", "./b/./c").as_deref(), Some("a/b/c"));
        assert_eq!(normalize("a", "/etc/shadow"), None);
    }

    #[test]
    fn yaml_below_a_directory() {
        let s = set(&[
            "a.yaml",
            "sub/b.yml",
            "sub/c.txt",
            "sub/.hidden/d.yaml",
            "subway/e.yaml",
        ]);
        assert_eq!(s.yaml_under("sub"), vec!["sub/b.yml"]);
        assert_eq!(s.yaml_under("").len(), 3);
        assert!(s.is_dir("sub") && !s.is_dir("su"));
    }
}
