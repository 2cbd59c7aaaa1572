//! The host a run executes on, as a suite may see it: the programs it may start and the
//! network it may reach, according to its [`Capabilities`].
//!
//! Every child process and every outbound HTTP call of a run goes through one [`Host`]:
//! - the operator's host ([`Host::operator`]) starts programs bare and reaches any address;
//! - a tenant's host checks each connection's address after name resolution
//!   ([`egress`]), and starts granted programs only inside the sandbox ([`launch`]):
//!   bubblewrap namespaces with no network, a private copy of the suite's files, no inherited
//!   environment, an unprivileged user, and CPU, memory, file-size, process and wall-clock
//!   limits. Without bubblewrap it refuses to start them.

pub mod egress;
pub mod launch;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use gauntlet_core::capability::Capabilities;
use gauntlet_core::files::FileSet;

pub use egress::Denied;
pub use launch::{Launch, LaunchError};

/// What a run may do to the machine, and the means to do it.
#[derive(Clone, Debug)]
pub struct Host {
    caps: Arc<Capabilities>,
    /// The suite's files when they live in memory (a tenant's upload, a stored run): a
    /// program gets a private directory holding them. `None`: programs start in the project
    /// directory on disk.
    files: Option<Arc<FileSet>>,
    /// Where private directories are made.
    scratch: PathBuf,
    /// The bubblewrap program (default: found on `PATH`).
    bwrap: Option<PathBuf>,
    http: reqwest::Client,
}

impl Host {
    /// The operator's own machine: everything allowed, nothing sandboxed.
    pub fn operator() -> Host {
        Host::new(Capabilities::operator(), None, std::env::temp_dir())
    }

    /// A host with `caps`, whose programs see `files` (when given) in a private directory
    /// made under `scratch`.
    pub fn new(caps: Capabilities, files: Option<Arc<FileSet>>, scratch: PathBuf) -> Host {
        let caps = Arc::new(caps);
        let http = egress::client(&caps);
        Host {
            caps,
            files,
            scratch,
            bwrap: None,
            http,
        }
    }

    /// Uses the bubblewrap program at `path` instead of the one on `PATH`.
    pub fn with_bwrap(mut self, path: PathBuf) -> Host {
        self.bwrap = Some(path);
        self
    }

    pub fn caps(&self) -> &Capabilities {
        &self.caps
    }

    /// The HTTP client of the run: every connection it opens is checked against the
    /// capabilities (a tenant's) or not (the operator's).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Refuses a URL whose host is an address literal the run may not reach (host names are
    /// checked when they resolve, by the client itself).
    pub fn check_url(&self, url: &str) -> Result<(), Denied> {
        egress::check_url(&self.caps, url)
    }

    /// A command for `program` with `args`, started in `dir` (a directory of the project, or
    /// of the file set) with exactly `env` as its environment besides `PATH`, `HOME` and
    /// `LANG` when sandboxed. Relative program paths (`./grade.sh`) are relative to `dir`.
    pub fn command(
        &self,
        program: &str,
        args: &[String],
        dir: &Path,
        env: &[(String, String)],
    ) -> Result<Launch, LaunchError> {
        launch::command(self, program, args, dir, env)
    }
}
