//! Where a project's files are read from: the host's disk (the operator's CLI), or an
//! in-memory [`FileSet`] (a tenant's upload on the server, a stored run, `run --sandbox`),
//! from which nothing outside the set is read unless a capability names the host directory.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use gauntlet_core::capability::{Capabilities, Capability};
use gauntlet_core::files::{self, FileSet};

/// The origin of a project's files and the capabilities of whoever loads it.
#[derive(Clone, Debug)]
pub struct Origin {
    pub(crate) set: Option<Arc<FileSet>>,
    pub(crate) caps: Capabilities,
}

impl Default for Origin {
    fn default() -> Self {
        Origin::disk()
    }
}

/// Why a file could not be read.
#[derive(Debug)]
pub(crate) struct ReadError {
    pub message: String,
    /// The capability that would allow it, when that is the reason.
    pub denied: Option<Capability>,
    /// The system could not read it (the message is the OS's); otherwise the content is
    /// refused (too large, not UTF-8) and the message says so whole.
    pub io: bool,
}

impl ReadError {
    fn io(path: &Path, e: std::io::Error) -> ReadError {
        ReadError {
            message: {
                let _ = path;
                e.to_string()
            },
            denied: None,
            io: true,
        }
    }
}

impl Origin {
    /// The host's disk, with the operator's powers.
    pub fn disk() -> Origin {
        Origin {
            set: None,
            caps: Capabilities::operator(),
        }
    }

    /// A file set, loaded with `caps`.
    pub fn set(set: Arc<FileSet>, caps: Capabilities) -> Origin {
        Origin {
            set: Some(set),
            caps,
        }
    }

    pub fn caps(&self) -> &Capabilities {
        &self.caps
    }

    pub fn file_set(&self) -> Option<&Arc<FileSet>> {
        self.set.as_ref()
    }

    /// The set's name for `path`, or the host path it is allowed to read.
    fn locate(&self, path: &Path) -> Result<Located, ReadError> {
        let Some(set) = &self.set else {
            return Ok(Located::Host(path.to_path_buf()));
        };
        let text = path.to_string_lossy();
        if let Some(name) = files::normalize("", &text)
            && (set.get(&name).is_some() || set.is_dir(&name))
        {
            return Ok(Located::Set(name));
        }
        if path.is_absolute() {
            // Symbolic links resolved first, so a link cannot lead out of a granted directory.
            let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
            if !self.caps.host_files.is_empty() && self.caps.allows_host_file(&real) {
                return Ok(Located::Host(real));
            }
        }
        Err(ReadError {
            message: format!("`{}` is not one of the suite's files", text),
            denied: Some(Capability::HostFiles),
            io: false,
        })
    }

    /// The YAML files of a path: the file itself, or every `*.yaml` / `*.yml` below a
    /// directory (hidden directories, `target` and `node_modules` skipped), sorted.
    pub(crate) fn project_files(&self, path: &Path) -> Result<Vec<PathBuf>, ReadError> {
        match self.locate(path)? {
            Located::Host(p) => crate::load::project_files(&p).map_err(|e| ReadError::io(&p, e)),
            Located::Set(name) => {
                let Some(set) = &self.set else {
                    return Ok(Vec::new());
                };
                if set.get(&name).is_some() {
                    return Ok(vec![PathBuf::from(name)]);
                }
                Ok(set
                    .yaml_under(&name)
                    .into_iter()
                    .map(PathBuf::from)
                    .collect())
            }
        }
    }

    /// The text of a file, at most `limit` bytes.
    pub(crate) fn read(&self, path: &Path, limit: u64) -> Result<String, ReadError> {
        let too_large = || ReadError {
            message: format!("file is larger than {limit} bytes"),
            denied: None,
            io: false,
        };
        match self.locate(path)? {
            Located::Set(name) => match self.set.as_ref().and_then(|s| s.get(&name)) {
                Some(text) if text.len() as u64 > limit => Err(too_large()),
                Some(text) => Ok(text.to_owned()),
                None => Err(ReadError {
                    message: format!("`{name}` is a directory"),
                    denied: None,
                    io: false,
                }),
            },
            Located::Host(p) => {
                let meta = std::fs::metadata(&p).map_err(|e| ReadError::io(&p, e))?;
                if meta.len() > limit {
                    return Err(too_large());
                }
                let bytes = std::fs::read(&p).map_err(|e| ReadError::io(&p, e))?;
                String::from_utf8(bytes).map_err(|_| ReadError {
                    message: "file is not valid UTF-8".to_owned(),
                    denied: None,
                    io: false,
                })
            }
        }
    }

    /// The identity of a file, so that one included twice is loaded once.
    pub(crate) fn key(&self, path: &Path) -> PathBuf {
        match self.set {
            Some(_) => files::normalize("", &path.to_string_lossy())
                .map_or_else(|| path.to_path_buf(), PathBuf::from),
            None => std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()),
        }
    }

    /// `rel`, named in `file`, as a path of this origin.
    pub(crate) fn beside(&self, file: &Path, rel: &str) -> PathBuf {
        let base = file.parent().unwrap_or(Path::new(""));
        match self.set {
            Some(_) if Path::new(rel).is_absolute() => PathBuf::from(rel),
            Some(_) => files::normalize(&base.to_string_lossy(), rel)
                .map_or_else(|| PathBuf::from(rel), PathBuf::from),
            None => base.join(rel),
        }
    }
}

enum Located {
    Set(String),
    Host(PathBuf),
}
