//! Record and replay: a recorded run replays identically offline, under another seed, after
//! the agents changed; an unrecorded request fails a strict replay and is recorded by a
//! lenient one.

use crate::{copy_desk, examples, gauntlet, report_cases, run_id, stderr, stdout};

fn edit(path: &std::path::Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{from}");
    std::fs::write(path, text.replace(from, to)).unwrap();
}

#[test]
fn replay_reproduces_the_recording_and_strict_misses_fail() {
    let dir = tempfile::tempdir().unwrap();
    let project = copy_desk(dir.path());
    let rec = gauntlet(
        dir.path(),
        &[
            "run", "desk", "--suite", "routing", "--seed", "1", "--record", "-o", "rec.json",
        ],
    );
    assert_eq!(rec.status.code(), Some(0), "{}", stderr(&rec));
    let files = walk(&project.join(".gauntlet/cassettes/routing"));
    assert!(
        files.len() >= 20,
        "one file per model and tool call: {}",
        files.len()
    );
    let sample: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&files[0]).unwrap()).unwrap();
    assert!(sample["request"]["site"]["case"].is_string() && sample["response"].is_object());

    // The agents change, and the seed too: the replay still serves the recording.
    edit(
        &project.join("agents.yaml"),
        "a refund has been requested.",
        "no refund is possible.",
    );
    let replay = gauntlet(
        dir.path(),
        &[
            "run",
            "desk",
            "--suite",
            "routing",
            "--seed",
            "9",
            "--replay",
            "-o",
            "replay.json",
        ],
    );
    assert_eq!(replay.status.code(), Some(0), "{}", stdout(&replay));
    let cases = |f: &str| report_cases(&dir.path().join(f));
    assert_eq!(
        cases("rec.json"),
        cases("replay.json"),
        "outputs, tool calls, scores, tokens and latencies are identical"
    );
    let d = gauntlet(dir.path(), &["diff", &run_id(&rec), &run_id(&replay)]);
    assert!(
        stdout(&d).contains("0 regressed, 0 fixed, 0 changed, 0 new, 0 removed, 4 unchanged"),
        "{}",
        stdout(&d)
    );
    // Without the cassette the edited agent fails the suite.
    let live = gauntlet(
        dir.path(),
        &["run", "desk", "--suite", "routing", "--seed", "1"],
    );
    assert_eq!(live.status.code(), Some(1));

    // A request nobody recorded: strict fails the case and shows the request.
    edit(
        &project.join("suites.yaml"),
        "Can you send me the invoice again?",
        "Can you send me that invoice again?",
    );
    let strict = gauntlet(
        dir.path(),
        &[
            "run", "desk", "--suite", "routing", "--seed", "1", "--replay", "strict",
        ],
    );
    assert_eq!(strict.status.code(), Some(1));
    let out = stdout(&strict);
    assert!(out.contains("! invoice-question [graph:support]  node `triage`: cassette_miss: no recording of this request (strict replay): {\"kind\":\"model\""), "{out}");
    // Lenient calls the (mock) provider and records; strict then finds it.
    let lenient = gauntlet(
        dir.path(),
        &[
            "run", "desk", "--suite", "routing", "--seed", "1", "--replay", "lenient",
        ],
    );
    assert!(
        !stdout(&lenient).contains("cassette_miss"),
        "{}",
        stdout(&lenient)
    );
    let again = gauntlet(
        dir.path(),
        &[
            "run", "desk", "--suite", "routing", "--seed", "1", "--replay", "strict",
        ],
    );
    assert!(
        !stdout(&again).contains("cassette_miss"),
        "{}",
        stdout(&again)
    );

    let both = gauntlet(dir.path(), &["run", "desk", "--record", "--replay"]);
    assert_eq!(both.status.code(), Some(2));
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

#[test]
fn replay_re_executes_a_stored_run_and_reports_whether_it_reproduced() {
    let dir = tempfile::tempdir().unwrap();
    let project = copy_desk(dir.path());
    let rec = gauntlet(
        dir.path(),
        &[
            "run", "desk", "--suite", "routing", "--seed", "3", "--record",
        ],
    );
    let recorded = run_id(&rec);
    // Replay uses the files stored with the run, not today's: editing them changes nothing.
    edit(
        &project.join("agents.yaml"),
        "a refund has been requested.",
        "no refund is possible.",
    );
    let same = gauntlet(dir.path(), &["replay", &recorded, "-p", "desk"]);
    assert_eq!(
        same.status.code(),
        Some(0),
        "{}{}",
        stdout(&same),
        stderr(&same)
    );
    assert!(
        stdout(&same).contains(&format!("run {recorded} reproduced exactly by run ")),
        "{}",
        stdout(&same)
    );
    assert!(stdout(&same).contains("(4 case results identical)"));

    // A live run of the edited files, replayed against the old recordings, does not reproduce.
    let live = gauntlet(
        dir.path(),
        &["run", "desk", "--suite", "routing", "--seed", "3"],
    );
    let differs = gauntlet(dir.path(), &["replay", &run_id(&live), "-p", "desk"]);
    assert_eq!(differs.status.code(), Some(1), "{}", stdout(&differs));
    let out = stdout(&differs);
    assert!(out.contains("did not reproduce exactly"), "{out}");
    assert!(
        out.contains("FIXED invoice-question"),
        "the recording answers as before the edit: {out}"
    );

    let unknown = gauntlet(dir.path(), &["replay", "ZZZ", "-p", "desk"]);
    assert_eq!(unknown.status.code(), Some(2));
}

#[test]
fn a_single_agent_with_tools_and_seeded_choices_replays_identically_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("quick");
    std::fs::create_dir(&project).unwrap();
    std::fs::copy(
        examples().join("quickstart/gauntlet.yaml"),
        project.join("gauntlet.yaml"),
    )
    .unwrap();
    let rec = gauntlet(
        dir.path(),
        &[
            "run", "quick", "--suite", "basics", "--seed", "5", "--record", "-o", "rec.json",
        ],
    );
    assert_eq!(rec.status.code(), Some(0), "{}", stdout(&rec));
    // Without the files, the copies in the result store serve the replay.
    std::fs::remove_dir_all(project.join(".gauntlet/cassettes")).unwrap();
    edit(
        &project.join("gauntlet.yaml"),
        "text: The capital of France is Paris.",
        "text: Paris it is.",
    );
    let replay = gauntlet(
        dir.path(),
        &[
            "run",
            "quick",
            "--suite",
            "basics",
            "--seed",
            "77",
            "--replay",
            "-o",
            "replay.json",
        ],
    );
    assert_eq!(replay.status.code(), Some(0), "{}", stdout(&replay));
    let cases = |f: &str| report_cases(&dir.path().join(f));
    assert_eq!(cases("rec.json"), cases("replay.json"));
}
