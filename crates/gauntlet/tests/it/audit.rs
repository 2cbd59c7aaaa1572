//! The audit log end to end: what runs record, `audit verify` on an edited database file,
//! proofs, export, bundles, contract signing and retention.

use std::io::{Read, Write};
use std::path::Path;

use crate::{examples, gauntlet, run_id, stderr, stdout};

fn quickstart(dir: &Path) -> String {
    let o = gauntlet(
        dir,
        &[
            "run",
            examples().join("quickstart").to_str().unwrap(),
            "--suite",
            "basics",
            "-q",
            "--no-progress",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    run_id(&o)
}

fn events(dir: &Path) -> Vec<serde_json::Value> {
    let o = gauntlet(dir, &["audit", "export", "-p", "."]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn runs_are_recorded_and_an_edit_of_the_database_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let first = quickstart(dir.path());
    let second = quickstart(dir.path());
    let ev = events(dir.path());
    let actions: Vec<&str> = ev.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        ["run.start", "run.finish", "run.start", "run.finish"]
    );
    assert_eq!(ev[0]["resource"], format!("run/{first}"));
    assert_eq!(ev[2]["resource"], format!("run/{second}"));
    assert!(
        ev[0]["payload_digest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    assert_eq!(ev[1]["details"]["status"], "passed");

    let o = gauntlet(dir.path(), &["audit", "verify", "-p", "."]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).contains("audit log verified: 4 events, 4 tree heads (4 signed)"));

    // Edit the bytes of the SQLite file: one hex digit of event 1's transcript digest.
    let digest = ev[1]["payload_digest"].as_str().unwrap().to_owned();
    let db = dir.path().join("store.db");
    let mut bytes = std::fs::read(&db).unwrap();
    let at = bytes
        .windows(digest.len())
        .position(|w| w == digest.as_bytes())
        .expect("the digest is in the file");
    bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
    std::fs::write(&db, bytes).unwrap();

    let o = gauntlet(dir.path(), &["audit", "verify", "-p", "."]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("first bad event index 1"),
        "{}",
        stdout(&o)
    );
    assert!(stdout(&o).contains("modified-event"), "{}", stdout(&o));
}

#[test]
fn configuration_and_baseline_changes_are_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let project = crate::copy_desk(dir.path());
    let run = |d: &Path| {
        let o = gauntlet(
            d,
            &["run", "desk", "--suite", "routing", "-q", "--no-progress"],
        );
        assert!(o.status.code().unwrap() <= 1, "{}", stderr(&o));
        run_id(&o)
    };
    run(dir.path());
    let agents = project.join("agents.yaml");
    let text = std::fs::read_to_string(&agents).unwrap();
    std::fs::write(
        &agents,
        text.replacen("system:", "temperature: 0.5\n    system:", 1),
    )
    .unwrap();
    let second = run(dir.path());
    let o = gauntlet(
        dir.path(),
        &["baseline", "set", &second, "--name", "main", "-p", "."],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let ev = events(dir.path());
    let change = ev
        .iter()
        .find(|e| e["action"] == "config.change")
        .expect("a config.change event");
    assert_eq!(change["details"]["to_run"], second.as_str());
    let changed = change["details"]["changed"].to_string();
    assert!(changed.contains("temperature"), "{changed}");
    let baseline = ev.iter().find(|e| e["action"] == "baseline.set").unwrap();
    assert_eq!(baseline["resource"], "baseline/main");
    assert_eq!(baseline["details"]["run"], second.as_str());
    // The log stays verifiable, and syslog export carries the same events.
    assert_eq!(
        gauntlet(dir.path(), &["audit", "verify", "-p", "."])
            .status
            .code(),
        Some(0)
    );
    let o = gauntlet(dir.path(), &["audit", "export", "-f", "syslog", "-p", "."]);
    let lines = stdout(&o);
    assert_eq!(lines.lines().count(), ev.len());
    assert!(lines.lines().all(|l| l.starts_with("<109>1 ")), "{lines}");
}

#[test]
fn proofs_check_offline_and_bundles_verify_only_with_the_right_key() {
    let dir = tempfile::tempdir().unwrap();
    let run = quickstart(dir.path());
    quickstart(dir.path());
    let d = dir.path();

    let o = gauntlet(d, &["audit", "key", "-o", "audit.pub"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = gauntlet(d, &["audit", "proof", "1", "-o", "proof.json", "-p", "."]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // Offline: no database, no private key, only the public key.
    let offline = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_gauntlet"))
            .args(args)
            .current_dir(d)
            .env("GAUNTLET_AUDIT_KEY", d.join("nowhere.pem"))
            .env("GAUNTLET_DATABASE_URL", d.join("nowhere.db"))
            .output()
            .unwrap()
    };
    let o = offline(&[
        "audit",
        "verify-proof",
        "proof.json",
        "--public-key",
        "audit.pub",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("proof verified: event 1 (run.finish"));
    let mut proof: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("proof.json")).unwrap()).unwrap();
    proof["event"]["details"]["passed"] = 0.into();
    std::fs::write(d.join("forged.json"), proof.to_string()).unwrap();
    let o = offline(&[
        "audit",
        "verify-proof",
        "forged.json",
        "--public-key",
        "audit.pub",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));

    let o = gauntlet(
        d,
        &["audit", "bundle", &run, "-o", "bundle.jsonl.gz", "-p", "."],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = offline(&[
        "audit",
        "verify-bundle",
        "bundle.jsonl.gz",
        "--public-key",
        "audit.pub",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains(&format!("bundle verified: run {run}")));
    assert!(
        stdout(&o).contains("12 cases, 2 audit events"),
        "{}",
        stdout(&o)
    );

    // Another key: refused.
    let o = gauntlet(
        d,
        &[
            "audit",
            "key",
            "-o",
            "other.pub",
            "--audit-key",
            d.join("other.pem").to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = offline(&[
        "audit",
        "verify-bundle",
        "bundle.jsonl.gz",
        "--public-key",
        "other.pub",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("not trusted"), "{}", stdout(&o));

    // One case changed inside the bundle: refused, whether or not the digest is redone.
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(d.join("bundle.jsonl.gz")).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    let edited = text.replacen("\"status\":\"passed\"", "\"status\":\"failed\"", 2);
    assert_ne!(edited, text);
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(d.join("edited.jsonl.gz")).unwrap(),
        flate2::Compression::default(),
    );
    gz.write_all(edited.as_bytes()).unwrap();
    gz.finish().unwrap();
    let o = offline(&[
        "audit",
        "verify-bundle",
        "edited.jsonl.gz",
        "--public-key",
        "audit.pub",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("modified"), "{}", stdout(&o));

    let ev = events(d);
    assert_eq!(ev.last().unwrap()["action"], "audit.bundle");
}

const CONTRACT_PROJECT: &str = r#"
version: 1
providers:
  mock: { type: mock }
contracts:
  budget:
    version: 1.0.0
    max_tokens: 500
    max_tool_calls: 2
agents:
  bot:
    provider: mock
    contract: budget
    mock: { echo: true }
suites:
  smoke:
    target: bot
    cases:
      - input: hello
        assert: [{ type: contains, value: hello }]
"#;

#[test]
fn contract_versions_are_signed_chained_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let spec = d.join("gauntlet.yaml");
    std::fs::write(&spec, CONTRACT_PROJECT).unwrap();
    let check = |extra: &[&str]| {
        let mut args = vec!["contract", "check", "gauntlet.yaml"];
        args.extend_from_slice(extra);
        gauntlet(d, &args)
    };
    let o = check(&[]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).contains("`budget` is not signed"));
    assert_eq!(check(&["--require-signed"]).status.code(), Some(1));

    let o = gauntlet(d, &["contract", "sign", "gauntlet.yaml"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("signed contract `budget` version 1.0.0"));
    assert_eq!(check(&["--require-signed"]).status.code(), Some(0));

    // Reformatting and reordering keys changes nothing.
    let reformatted = CONTRACT_PROJECT.replace(
        "  budget:\n    version: 1.0.0\n    max_tokens: 500\n    max_tool_calls: 2\n",
        "  budget: { max_tool_calls: 2,   max_tokens: 500, version: 1.0.0 }\n",
    );
    assert_ne!(reformatted, CONTRACT_PROJECT);
    std::fs::write(&spec, reformatted).unwrap();
    let o = check(&[]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));

    // A change without a new version fails, naming the fix.
    let changed = CONTRACT_PROJECT.replace("max_tokens: 500", "max_tokens: 5000");
    std::fs::write(&spec, &changed).unwrap();
    let o = check(&[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("changed without a new version"),
        "{}",
        stdout(&o)
    );
    let o = gauntlet(d, &["contract", "sign", "gauntlet.yaml"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));

    // A new version must be signed before check passes; then the chain has two entries.
    std::fs::write(&spec, changed.replace("version: 1.0.0", "version: 1.1.0")).unwrap();
    assert_eq!(check(&[]).status.code(), Some(1));
    assert_eq!(
        gauntlet(d, &["contract", "sign", "gauntlet.yaml"])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(check(&[]).status.code(), Some(0));
    let lock: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("gauntlet.contracts.lock")).unwrap())
            .unwrap();
    let chain = lock["contracts"]["budget"].as_array().unwrap();
    assert_eq!(chain.len(), 2);
    assert!(chain[0].get("previous").is_none());
    assert!(
        chain[1]["previous"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );

    // Pinning the right key passes; editing the first entry breaks the chain.
    assert_eq!(
        gauntlet(d, &["audit", "key", "-o", "k.pub"]).status.code(),
        Some(0)
    );
    assert_eq!(check(&["--public-key", "k.pub"]).status.code(), Some(0));
    let text = std::fs::read_to_string(d.join("gauntlet.contracts.lock")).unwrap();
    let first_hash = chain[0]["hash"].as_str().unwrap();
    std::fs::write(
        d.join("gauntlet.contracts.lock"),
        text.replacen(first_hash, &format!("sha256:{}", "0".repeat(64)), 1),
    )
    .unwrap();
    let o = check(&[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("broken at entry 1"), "{}", stdout(&o));

    let ev = events(d);
    assert_eq!(
        ev.iter().filter(|e| e["action"] == "contract.sign").count(),
        2
    );

    // The lock travels with the run's files: a single-file project still replays exactly.
    std::fs::write(
        d.join("gauntlet.contracts.lock"),
        text, // the untampered lock
    )
    .unwrap();
    let o = gauntlet(
        d,
        &["run", "gauntlet.yaml", "--record", "-q", "--no-progress"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = gauntlet(d, &["replay", "latest", "-p", "."]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
}

#[test]
fn retention_purges_anonymises_and_deletes_and_the_log_stays_verifiable() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let spec = d.join("gauntlet.yaml");
    let project = |retention: &str| {
        format!(
            "version: 1\nproviders:\n  mock: {{ type: mock }}\nagents:\n  bot:\n    provider: mock\n    mock: {{ echo: true }}\nsuites:\n  smoke:\n    target: bot\n{retention}    cases:\n      - input: mail ada@example.com\n        assert: [{{ type: contains, value: mail }}]\n"
        )
    };
    std::fs::write(&spec, project("")).unwrap();
    let run = || {
        let o = gauntlet(d, &["run", "gauntlet.yaml", "-q", "--no-progress"]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        run_id(&o)
    };
    let (a, b, c) = (run(), run(), run());
    let o = gauntlet(d, &["retention", "apply", "gauntlet.yaml"]);
    assert!(stdout(&o).contains("no retention policy"), "{}", stdout(&o));

    std::fs::write(
        &spec,
        project("    retention: { anonymise_after_days: 1, keep_transcripts_days: 10, keep_runs_days: 30 }\n"),
    )
    .unwrap();
    let at = |days: u64| {
        gauntlet_core::time::rfc3339(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis() as u64
                + days * 86_400_000,
        )
    };
    // Dry run: nothing changes.
    let o = gauntlet(
        d,
        &[
            "retention",
            "apply",
            "gauntlet.yaml",
            "--dry-run",
            "--as-of",
            &at(2),
        ],
    );
    assert!(
        stdout(&o).contains("would anonymise 3 transcript(s)"),
        "{}",
        stdout(&o)
    );
    let show = |id: &str| stdout(&gauntlet(d, &["report", id, "-f", "json", "-p", "."]));
    assert!(show(&a).contains("ada@example.com"));

    let o = gauntlet(
        d,
        &["retention", "apply", "gauntlet.yaml", "--as-of", &at(2)],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("anonymise 3 transcript(s)"),
        "{}",
        stdout(&o)
    );
    assert!(!show(&a).contains("ada@example.com"), "{}", show(&a));
    assert!(show(&a).contains("<EMAIL_1>"), "{}", show(&a));

    // The baseline run is kept when runs expire.
    assert_eq!(
        gauntlet(d, &["baseline", "set", &c, "--name", "keep", "-p", "."])
            .status
            .code(),
        Some(0)
    );
    let o = gauntlet(
        d,
        &["retention", "apply", "gauntlet.yaml", "--as-of", &at(11)],
    );
    assert!(
        stdout(&o).contains("purge 3 transcript(s)"),
        "{}",
        stdout(&o)
    );
    let o = gauntlet(
        d,
        &["retention", "apply", "gauntlet.yaml", "--as-of", &at(31)],
    );
    assert!(stdout(&o).contains("delete 2 run(s)"), "{}", stdout(&o));
    assert!(
        stdout(&o).contains(&format!("kept (baseline): {c}")),
        "{}",
        stdout(&o)
    );
    let o = gauntlet(d, &["runs", "show", &b, "-p", "."]);
    assert_eq!(o.status.code(), Some(2));

    // The purges are in the log, which still verifies; a deleted run cannot be bundled.
    let ev = events(d);
    let purges: Vec<&str> = ev
        .iter()
        .filter(|e| e["action"] == "retention.purge")
        .map(|e| e["details"]["operation"].as_str().unwrap())
        .collect();
    assert_eq!(
        purges,
        [
            "anonymise",
            "anonymise",
            "anonymise",
            "purge-transcript",
            "purge-transcript",
            "purge-transcript",
            "delete-run",
            "delete-run"
        ]
    );
    let o = gauntlet(d, &["audit", "verify", "-p", "."]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let o = gauntlet(d, &["audit", "bundle", &a, "-p", "."]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let o = gauntlet(
        d,
        &["retention", "apply", "gauntlet.yaml", "--as-of", "someday"],
    );
    assert_eq!(o.status.code(), Some(2));
}
