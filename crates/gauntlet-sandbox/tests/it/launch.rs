use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;

use gauntlet_core::capability::{Capabilities, Limits, Programs};
use gauntlet_core::files::FileSet;
use gauntlet_sandbox::{Host, LaunchError};

fn granted(commands: &[&str], limits: Limits) -> Capabilities {
    Capabilities {
        programs: Some(Programs {
            commands: commands.iter().map(|c| c.to_string()).collect(),
            limits,
        }),
        ..Capabilities::none()
    }
}

fn files(list: &[(&str, &str)]) -> Arc<FileSet> {
    let map: BTreeMap<String, String> = list
        .iter()
        .map(|(p, t)| (p.to_string(), t.to_string()))
        .collect();
    Arc::new(FileSet::new(map).unwrap())
}

struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    explained: Option<String>,
}

async fn run(host: &Host, program: &str, args: &[&str], env: &[(&str, &str)]) -> Ran {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let gauntlet_sandbox::Launch { mut command, guard } = host
        .command(program, &args, Path::new("."), &env)
        .unwrap_or_else(|e| panic!("the sandbox should start `{program}`: {e}"));
    // A canary in the environment the launcher was called with: it must not get through.
    command.env("GAUNTLET_CANARY", "canary-from-the-server-environment");
    let out = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    Ran {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        explained: guard.explain(out.status, &stderr),
        stderr,
    }
}

fn require_bubblewrap() {
    if let Err(e) = gauntlet_sandbox::launch::available() {
        panic!("{e} — run scripts/sandbox (the CI does)");
    }
}

#[tokio::test]
async fn a_granted_program_sees_only_its_own_files_and_no_environment() {
    require_bubblewrap();
    let outside = tempfile::tempdir().unwrap();
    let canary = outside.path().join("canary.txt");
    std::fs::write(&canary, "canary-file-content").unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let script = format!(
        "#!/bin/sh\n\
         cat {canary} 2>&1 || echo no-canary-file\n\
         ls /root 2>&1 || echo no-root-home\n\
         env\n\
         echo written > {outside}/escaped 2>&1 || echo no-write-outside\n\
         echo written > /usr/escaped 2>&1 || echo no-write-usr\n\
         echo kept > mine.txt && cat mine.txt\n\
         cat data.txt\n\
         id -u\n",
        canary = canary.display(),
        outside = outside.path().display(),
    );
    let host = Host::new(
        granted(&["./probe.sh"], Limits::default()),
        Some(files(&[("probe.sh", &script), ("data.txt", "suite-data")])),
        scratch.path().to_path_buf(),
    );
    let ran = run(&host, "./probe.sh", &[], &[("GIVEN", "by-the-suite")]).await;
    assert_eq!(ran.code, Some(0), "stderr: {}", ran.stderr);
    let out = ran.stdout;
    assert!(!out.contains("canary-file-content"), "{out}");
    assert!(out.contains("no-canary-file"), "{out}");
    assert!(!out.contains("canary-from-the-server-environment"), "{out}");
    assert!(!out.contains("CARGO_MANIFEST_DIR"), "{out}");
    assert!(out.contains("GIVEN=by-the-suite"), "{out}");
    assert!(
        out.contains("no-write-outside") && out.contains("no-write-usr"),
        "{out}"
    );
    assert!(out.contains("kept") && out.contains("suite-data"), "{out}");
    assert!(!outside.path().join("escaped").exists());
    assert!(!Path::new("/usr/escaped").exists());
    // As root, the program runs as an unprivileged user.
    if std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
    {
        assert!(out.trim_end().ends_with("65534"), "{out}");
    }
    // The private directory is gone with the program.
    assert_eq!(std::fs::read_dir(scratch.path()).unwrap().count(), 0);
}

#[tokio::test]
async fn a_granted_program_has_no_network() {
    require_bubblewrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let scratch = tempfile::tempdir().unwrap();
    let host = Host::new(
        granted(&["python3"], Limits::default()),
        None,
        scratch.path().to_path_buf(),
    );
    let code = format!(
        "import socket\ntry:\n    socket.create_connection(('127.0.0.1', {port}), timeout=2)\n    print('connected')\nexcept OSError as e:\n    print('refused', e)\n"
    );
    let ran = run(&host, "python3", &["-c", &code], &[]).await;
    assert!(
        ran.stdout.contains("refused"),
        "{} {}",
        ran.stdout,
        ran.stderr
    );
    assert!(listener.accept().is_err(), "the listener was reached");
}

#[tokio::test]
async fn each_limit_stops_the_program_with_its_reason() {
    require_bubblewrap();
    let scratch = tempfile::tempdir().unwrap();
    let limits = Limits {
        cpu_seconds: 1,
        memory_mib: 128,
        file_size_mib: 1,
        processes: 16,
        wall_seconds: 3,
    };
    let host = Host::new(
        granted(&["python3", "sh", "sleep"], limits),
        None,
        scratch.path().to_path_buf(),
    );
    let cases: Vec<(&str, Vec<&str>, &str)> = vec![
        (
            "python3",
            vec!["-c", "while True: pass"],
            "CPU time limit of 1 s",
        ),
        (
            "python3",
            vec!["-c", "x = bytearray(512 * 1024 * 1024)"],
            "memory limit of 128 MiB",
        ),
        (
            "sh",
            vec!["-c", "head -c 5000000 /dev/zero > big"],
            "file-size limit of 1 MiB",
        ),
        ("sleep", vec!["30"], "wall-clock limit of 3 s"),
    ];
    for (program, args, reason) in cases {
        let ran = run(&host, program, &args, &[]).await;
        assert_ne!(ran.code, Some(0), "{program} {args:?} should be stopped");
        let why = ran.explained.unwrap_or_else(|| {
            panic!(
                "{program} {args:?}: no reason ({:?}: {})",
                ran.code, ran.stderr
            )
        });
        assert!(why.contains(reason), "{program} {args:?}: {why}");
    }
    let as_root = std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false);
    if as_root {
        let ran = run(
            &host,
            "sh",
            &["-c", "for i in $(seq 1 40); do sleep 5 & done; wait"],
            &[],
        )
        .await;
        let why = ran.explained.unwrap_or_default();
        assert!(
            why.contains("limit of 16 processes"),
            "{why}: {}",
            ran.stderr
        );
    }
}

#[tokio::test]
async fn programs_outside_the_allowlist_and_a_missing_sandbox_are_refused() {
    let scratch = tempfile::tempdir().unwrap();
    let host = Host::new(
        granted(&["python3"], Limits::default()),
        None,
        scratch.path().to_path_buf(),
    );
    let refused = host.command("sh", &[], Path::new("."), &[]);
    assert!(matches!(refused, Err(LaunchError::Denied(_))));
    let none = Host::new(Capabilities::none(), None, scratch.path().to_path_buf());
    assert!(matches!(
        none.command("python3", &[], Path::new("."), &[]),
        Err(LaunchError::Denied(_))
    ));
    // Fail closed: without bubblewrap nothing starts, and the error says why.
    let missing = Host::new(
        granted(&["python3"], Limits::default()),
        None,
        scratch.path().to_path_buf(),
    )
    .with_bwrap(scratch.path().join("no-such-bwrap"));
    match missing.command("python3", &[], Path::new("."), &[]) {
        Err(e @ LaunchError::Unavailable(_)) => {
            assert_eq!(e.code(), "sandbox.unavailable");
            assert!(e.to_string().contains("not started without it"), "{e}");
        }
        other => panic!("expected the sandbox to be unavailable, got {other:?}"),
    }
}
