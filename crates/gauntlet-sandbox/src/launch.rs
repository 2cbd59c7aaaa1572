//! Starting a suite's programs: bare for the operator, inside bubblewrap for a tenant.
//!
//! A sandboxed program runs as an unprivileged user (when the server runs as root) in new
//! user, mount, PID, IPC, UTS, cgroup and network namespaces: it sees `/usr` read-only, a
//! private `/tmp`, and a private copy of the suite's files at `/work`, and nothing else of
//! the host — not its files, database, keys, environment or network. `prlimit` caps its CPU
//! time, address space, file size, processes and open files; `timeout` its wall-clock time.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Instant;

use gauntlet_core::capability::Limits;

use crate::Host;

/// The user and group a sandboxed program runs as when the server is root (`nobody`).
const NOBODY: u32 = 65534;

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("running the program `{0}` is not allowed for this tenant")]
    Denied(String),
    #[error(
        "the sandbox is unavailable ({0}); the program is not started without it. Install bubblewrap (Debian: `apt-get install bubblewrap`; scripts/sandbox does it)"
    )]
    Unavailable(String),
    #[error("preparing the program's directory: {0}")]
    Io(#[from] std::io::Error),
}

impl LaunchError {
    /// The stable code of a refusal.
    pub fn code(&self) -> &'static str {
        match self {
            LaunchError::Denied(_) => "capability.programs",
            LaunchError::Unavailable(_) => "sandbox.unavailable",
            LaunchError::Io(_) => "sandbox.io",
        }
    }
}

/// A command ready to spawn, and what must live as long as its process.
#[derive(Debug)]
pub struct Launch {
    pub command: tokio::process::Command,
    pub guard: Guard,
}

/// Keeps a sandboxed program's private directory until dropped, and explains its end.
#[derive(Debug, Default)]
pub struct Guard {
    workdir: Option<tempfile::TempDir>,
    limits: Option<Limits>,
    started: Option<Instant>,
}

impl Guard {
    /// The private directory the program runs in, if it has one.
    pub fn dir(&self) -> Option<&Path> {
        self.workdir.as_ref().map(tempfile::TempDir::path)
    }

    /// Whether the program runs inside the sandbox.
    pub fn sandboxed(&self) -> bool {
        self.limits.is_some()
    }

    /// Why a sandboxed program ended, when one of its limits stopped it.
    pub fn explain(&self, status: ExitStatus, stderr: &str) -> Option<String> {
        let l = self.limits?;
        let code = status.code();
        let elapsed = self.started.map_or(0, |s| s.elapsed().as_secs());
        let limit = if code == Some(124) {
            format!("its wall-clock limit of {} s", l.wall_seconds)
        } else if code == Some(153) || stderr.contains("File size limit exceeded") {
            format!("its file-size limit of {} MiB", l.file_size_mib)
        } else if [
            "MemoryError",
            "Cannot allocate memory",
            "out of memory",
            "bad_alloc",
        ]
        .iter()
        .any(|m| stderr.contains(m))
        {
            format!("its memory limit of {} MiB", l.memory_mib)
        } else if [
            "Cannot fork",
            "can't fork",
            "Resource temporarily unavailable",
        ]
        .iter()
        .any(|m| stderr.contains(m))
        {
            format!("its limit of {} processes", l.processes)
        } else if matches!(code, Some(137) | Some(152)) && elapsed < l.wall_seconds {
            format!("its CPU time limit of {} s", l.cpu_seconds)
        } else {
            return None;
        };
        Some(format!("the sandbox stopped the program at {limit}"))
    }
}

pub(crate) fn command(
    host: &Host,
    program: &str,
    args: &[String],
    dir: &Path,
    env: &[(String, String)],
) -> Result<Launch, LaunchError> {
    let caps = host.caps();
    if caps.operator {
        // The operator's files: in place on disk, or a scratch copy of a stored set.
        let (workdir, dir) = match &host.files {
            Some(files) => {
                let tmp = scratch_dir(&host.scratch)?;
                materialize(files, tmp.path(), false)?;
                let inside = tmp.path().join(dir);
                (Some(tmp), inside)
            }
            None => (None, dir.to_path_buf()),
        };
        let program = if program.contains('/') && Path::new(program).is_relative() {
            dir.join(program).display().to_string()
        } else {
            program.to_owned()
        };
        let mut command = tokio::process::Command::new(program);
        command
            .args(args)
            .current_dir(&dir)
            .envs(env.iter().cloned());
        return Ok(Launch {
            command,
            guard: Guard {
                workdir,
                ..Guard::default()
            },
        });
    }
    if !caps.allows_command(program) {
        return Err(LaunchError::Denied(program.to_owned()));
    }
    let limits = caps.programs.as_ref().map(|p| p.limits).unwrap_or_default();
    let tools = Tools::find(host.bwrap.as_deref())?;
    let root = is_root();
    let tmp = scratch_dir(&host.scratch)?;
    if let Some(files) = &host.files {
        materialize(files, tmp.path(), root)?;
    }
    if root {
        std::os::unix::fs::chown(tmp.path(), Some(NOBODY), Some(NOBODY))?;
    }
    let inside = Path::new("/work").join(clean_relative(dir));
    let mut command = tokio::process::Command::new(&tools.timeout);
    command.env_clear().env("PATH", "/usr/bin:/bin");
    command
        .args(["--signal=TERM", "--kill-after=2"])
        .arg(format!("{}s", limits.wall_seconds.max(1)))
        .arg(&tools.prlimit)
        .arg(format!("--cpu={}", limits.cpu_seconds.max(1)))
        .arg(format!("--as={}", limits.memory_mib.max(16) << 20))
        .arg(format!("--fsize={}", limits.file_size_mib.max(1) << 20))
        .arg("--nofile=256");
    if root {
        // RLIMIT_NPROC counts every process of the user: only meaningful for the sandbox's
        // own unprivileged user, not for a server running as an ordinary user.
        command.arg(format!("--nproc={}", limits.processes.max(4)));
    }
    command.arg("--");
    if root {
        command
            .arg(&tools.setpriv)
            .arg(format!("--reuid={NOBODY}"))
            .arg(format!("--regid={NOBODY}"))
            .args([
                "--clear-groups",
                "--inh-caps=-all",
                "--bounding-set=-all",
                "--",
            ]);
    }
    command
        .arg(&tools.bwrap)
        .args([
            "--unshare-all",
            "--unshare-user",
            "--die-with-parent",
            "--new-session",
            "--clearenv",
            "--ro-bind",
            "/usr",
            "/usr",
            "--symlink",
            "usr/bin",
            "/bin",
            "--symlink",
            "usr/sbin",
            "/sbin",
            "--symlink",
            "usr/lib",
            "/lib",
            "--symlink",
            "usr/lib64",
            "/lib64",
            "--ro-bind-try",
            "/etc/alternatives",
            "/etc/alternatives",
            "--ro-bind-try",
            "/etc/ld.so.cache",
            "/etc/ld.so.cache",
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--tmpfs",
            "/tmp",
            "--bind",
        ])
        .arg(tmp.path())
        .arg("/work")
        .arg("--chdir")
        .arg(&inside)
        .args(["--setenv", "PATH", "/usr/bin:/bin"])
        .args(["--setenv", "HOME", "/work"])
        .args(["--setenv", "TMPDIR", "/tmp"])
        .args(["--setenv", "LANG", "C.UTF-8"]);
    for (k, v) in env {
        command.arg("--setenv").arg(k).arg(v);
    }
    command.arg("--").arg(program).args(args);
    Ok(Launch {
        command,
        guard: Guard {
            workdir: Some(tmp),
            limits: Some(limits),
            started: Some(Instant::now()),
        },
    })
}

/// The host programs the sandbox is built from, found on `PATH`.
struct Tools {
    bwrap: PathBuf,
    prlimit: PathBuf,
    setpriv: PathBuf,
    timeout: PathBuf,
}

impl Tools {
    fn find(bwrap: Option<&Path>) -> Result<Tools, LaunchError> {
        let find = |name: &str| {
            which(name).ok_or_else(|| LaunchError::Unavailable(format!("`{name}` was not found")))
        };
        let bwrap = match bwrap {
            Some(p) if p.is_file() => p.to_path_buf(),
            Some(p) => {
                return Err(LaunchError::Unavailable(format!(
                    "`{}` was not found",
                    p.display()
                )));
            }
            None => find("bwrap")?,
        };
        Ok(Tools {
            bwrap,
            prlimit: find("prlimit")?,
            setpriv: find("setpriv")?,
            timeout: find("timeout")?,
        })
    }
}

/// Whether the sandbox can be used on this machine, or why not.
pub fn available() -> Result<(), LaunchError> {
    Tools::find(None).map(|_| ())
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/sbin")])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

fn scratch_dir(under: &Path) -> Result<tempfile::TempDir, LaunchError> {
    std::fs::create_dir_all(under)?;
    Ok(tempfile::Builder::new()
        .prefix("sandbox-")
        .tempdir_in(under)?)
}

/// `dir` without `..`, absolute or empty parts (a program cannot start outside `/work`).
fn clean_relative(dir: &Path) -> PathBuf {
    dir.components()
        .filter_map(|c| match c {
            std::path::Component::Normal(p) => Some(p),
            _ => None,
        })
        .collect()
}

/// Writes the set's files under `root` (scripts with a `#!` line executable), owned by the
/// sandbox's user when `chown`. Names that leave the set's root are not written.
fn materialize(
    files: &gauntlet_core::files::FileSet,
    root: &Path,
    chown: bool,
) -> Result<(), std::io::Error> {
    for (name, text) in files.iter() {
        if name.starts_with("..") {
            continue;
        }
        let path = root.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
            if chown {
                let mut p = parent;
                while p != root {
                    std::os::unix::fs::chown(p, Some(NOBODY), Some(NOBODY))?;
                    match p.parent() {
                        Some(up) => p = up,
                        None => break,
                    }
                }
            }
        }
        std::fs::write(&path, text)?;
        let mode = if text.starts_with("#!") { 0o755 } else { 0o644 };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))?;
        if chown {
            std::os::unix::fs::chown(&path, Some(NOBODY), Some(NOBODY))?;
        }
    }
    Ok(())
}
