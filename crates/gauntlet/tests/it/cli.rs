//! Exit codes and commands as a user meets them.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::{examples, gauntlet, mask, run_id, stderr, stdout};

#[test]
fn validate_exit_codes_and_located_errors() {
    let dir = tempfile::tempdir().unwrap();
    let ok = gauntlet(
        dir.path(),
        &[
            "validate",
            examples().join("support-desk").to_str().unwrap(),
        ],
    );
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    assert!(
        stdout(&ok).starts_with("ok: 1 provider(s), 2 tool(s), 7 agent(s), 1 graph(s), 2 suite(s)"),
        "{}",
        stdout(&ok)
    );

    std::fs::write(
        dir.path().join("bad.yaml"),
        "providers:\n  m: { type: mock }\nagents:\n  a: { provider: mm, mock: { echo: true } }\n",
    )
    .unwrap();
    let bad = gauntlet(dir.path(), &["validate", "bad.yaml"]);
    assert_eq!(bad.status.code(), Some(2));
    assert_eq!(
        stderr(&bad),
        "bad.yaml:4:18: error: unknown provider `mm`\n  hint: did you mean `m`?\n1 error found\n"
    );
    // `run` validates first and refuses invalid files the same way.
    let run = gauntlet(dir.path(), &["run", "bad.yaml"]);
    assert_eq!(run.status.code(), Some(2));
    assert!(stderr(&run).contains("bad.yaml:4:18"));
}

#[test]
fn run_exit_codes_follow_the_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let quickstart = examples().join("quickstart");
    let q = quickstart.to_str().unwrap();
    let pass = gauntlet(dir.path(), &["run", q, "--suite", "basics", "--seed", "1"]);
    assert_eq!(
        pass.status.code(),
        Some(0),
        "{}{}",
        stdout(&pass),
        stderr(&pass)
    );
    assert!(stdout(&pass).contains("PASSED suite basics"));
    assert!(stdout(&pass).contains("cases          12   passed 12"));

    let fail = gauntlet(
        dir.path(),
        &["run", q, "--suite", "failure-demo", "--seed", "1"],
    );
    assert_eq!(fail.status.code(), Some(1));
    let out = stdout(&fail);
    assert!(out.contains("FAILED suite failure-demo"), "{out}");
    assert!(out.contains("✗ wrong-capital [assistant]  contains: expected output to contain \"Berlin\", got \"The capital of France is Paris.\""), "{out}");

    let usage = gauntlet(dir.path(), &["run", q, "--suite", "nope"]);
    assert_eq!(usage.status.code(), Some(2));
    assert!(stderr(&usage).contains("no suite named `nope`; suites: basics, failure-demo"));
    let flag = gauntlet(dir.path(), &["run", "--frobnicate"]);
    assert_eq!(flag.status.code(), Some(2));
    let format = gauntlet(
        dir.path(),
        &["run", q, "--suite", "basics", "-o", "out.pdf"],
    );
    assert_eq!(format.status.code(), Some(2));
    assert!(stderr(&format).contains("cannot tell the report format of `out.pdf`"));
    let missing = gauntlet(dir.path(), &["run", "does-not-exist"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("cannot read does-not-exist"));
}

#[test]
fn history_commands_read_back_stored_runs() {
    let dir = tempfile::tempdir().unwrap();
    let q = examples().join("quickstart");
    let run = gauntlet(
        dir.path(),
        &[
            "run",
            q.to_str().unwrap(),
            "--suite",
            "failure-demo",
            "--seed",
            "3",
        ],
    );
    let id = run_id(&run);

    let list = gauntlet(dir.path(), &["runs", "list"]);
    assert_eq!(list.status.code(), Some(0));
    assert!(
        stdout(&list).contains(&id)
            && stdout(&list).contains("failure-demo")
            && stdout(&list).contains("0/1"),
        "{}",
        stdout(&list)
    );

    let show = gauntlet(dir.path(), &["runs", "show", &id[..10]]);
    assert_eq!(show.status.code(), Some(0), "{}", stderr(&show));
    assert!(
        stdout(&show).contains("✗ wrong-capital [assistant]"),
        "{}",
        stdout(&show)
    );
    assert!(stdout(&show).contains("suite failure-demo"));

    let latest = gauntlet(dir.path(), &["report", "latest", "--format", "junit"]);
    assert!(
        stdout(&latest)
            .contains("<failure message=\"contains: expected output to contain &quot;Berlin&quot;"),
        "{}",
        stdout(&latest)
    );

    // Reading a project's own store with --project, and refusing to invent a store.
    let project = tempfile::tempdir().unwrap();
    std::fs::copy(
        q.join("gauntlet.yaml"),
        project.path().join("gauntlet.yaml"),
    )
    .unwrap();
    let plain = |dir: &std::path::Path, args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_gauntlet"))
            .args(args)
            .current_dir(dir)
            .env_remove("GAUNTLET_DATABASE_URL")
            .output()
            .unwrap()
    };
    let elsewhere = tempfile::tempdir().unwrap();
    let none = plain(elsewhere.path(), &["runs", "list"]);
    assert_eq!(none.status.code(), Some(2));
    assert!(
        stderr(&none).contains("no result store at"),
        "{}",
        stderr(&none)
    );
    assert!(
        !elsewhere.path().join(".gauntlet").exists(),
        "listing must not create a store"
    );
    let own = plain(project.path(), &["run", ".", "--suite", "basics", "-q"]);
    assert_eq!(own.status.code(), Some(0));
    assert!(project.path().join(".gauntlet/gauntlet.db").exists());
    let listed = plain(
        elsewhere.path(),
        &[
            "runs",
            "list",
            "--project",
            project.path().to_str().unwrap(),
        ],
    );
    assert_eq!(listed.status.code(), Some(0));
    assert!(stdout(&listed).contains(&run_id(&own)));

    let unknown = gauntlet(dir.path(), &["runs", "show", "ZZZZ"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert_eq!(stderr(&unknown), "error: no run matches `ZZZZ`\n");
    let bad_format = gauntlet(dir.path(), &["report", &id, "--format", "pdf"]);
    assert_eq!(bad_format.status.code(), Some(2));
}

#[test]
fn same_seed_same_files_give_identical_reports() {
    let dir = tempfile::tempdir().unwrap();
    let desk = examples().join("support-desk");
    let d = desk.to_str().unwrap();
    for out in ["a.json", "b.json", "c.json"] {
        let seed = if out == "c.json" { "8" } else { "7" };
        let r = gauntlet(
            dir.path(),
            &["run", d, "--suite", "routing", "--seed", seed, "-o", out],
        );
        assert_eq!(r.status.code(), Some(0), "{}", stderr(&r));
    }
    let read = |f: &str| mask(&std::fs::read_to_string(dir.path().join(f)).unwrap());
    assert_eq!(read("a.json"), read("b.json"));
    // Another seed draws other mock latencies.
    assert_ne!(read("a.json"), read("c.json"));
}

#[test]
fn stored_reports_equal_the_reports_written_during_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let q = examples().join("quickstart");
    let r = gauntlet(
        dir.path(),
        &[
            "run",
            q.to_str().unwrap(),
            "--suite",
            "basics",
            "--seed",
            "5",
            "-o",
            "live.json",
            "-o",
            "live.md",
        ],
    );
    let id = run_id(&r);
    for (file, format) in [("live.json", "json"), ("live.md", "markdown")] {
        let later = gauntlet(dir.path(), &["report", &id, "--format", format]);
        assert_eq!(
            stdout(&later),
            std::fs::read_to_string(dir.path().join(file)).unwrap()
        );
    }
}

#[test]
fn init_scaffolds_a_project_that_passes() {
    let dir = tempfile::tempdir().unwrap();
    let init = gauntlet(dir.path(), &["init", "proj"]);
    assert_eq!(init.status.code(), Some(0));
    let again = gauntlet(dir.path(), &["init", "proj"]);
    assert_eq!(again.status.code(), Some(2), "init must not overwrite");
    assert_eq!(
        gauntlet(dir.path(), &["validate", "proj"]).status.code(),
        Some(0)
    );
    let run = gauntlet(dir.path(), &["run", "proj"]);
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}{}",
        stdout(&run),
        stderr(&run)
    );
}

#[test]
fn ctrl_c_cancels_and_still_stores_and_prints_a_partial_summary() {
    let dir = tempfile::tempdir().unwrap();
    let mut cases = String::new();
    for i in 0..40 {
        cases.push_str(&format!("      - {{ id: c{i}, input: x }}\n"));
    }
    std::fs::write(
        dir.path().join("slow.yaml"),
        format!("providers: {{ m: {{ type: mock }} }}\nagents:\n  a: {{ provider: m, mock: {{ echo: true, latency_ms: 400 }} }}\nsuites:\n  slow:\n    target: a\n    cases:\n{cases}"),
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_gauntlet"))
        .args(["run", "slow.yaml", "-j", "4", "--no-progress"])
        .current_dir(dir.path())
        .env("GAUNTLET_DATABASE_URL", dir.path().join("store.db"))
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(600));
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let err = stderr(&out);
    assert!(
        err.contains("interrupted: cancelling in-flight cases"),
        "{err}"
    );
    assert!(err.contains("run cancelled;"), "{err}");
    assert!(
        stdout(&out).contains("CANCELLED suite slow"),
        "{}",
        stdout(&out)
    );
    let list = gauntlet(dir.path(), &["runs", "list"]);
    assert!(stdout(&list).contains("cancelled"), "{}", stdout(&list));
}

#[test]
fn help_lists_the_commands() {
    let dir = tempfile::tempdir().unwrap();
    let help = gauntlet(dir.path(), &["--help"]);
    for cmd in ["init", "validate", "run", "runs", "report", "schema"] {
        assert!(stdout(&help).contains(cmd), "{cmd}");
    }
    let schema = gauntlet(dir.path(), &["schema"]);
    let parsed: serde_json::Value = serde_json::from_slice(&schema.stdout).unwrap();
    assert_eq!(parsed["title"], "File");
}
