//! `gauntlet diff A B` between two runs of an edited project.

use crate::{gauntlet, mask, run_id, stderr, stdout};

const BEFORE: &str = r#"
providers: { m: { type: mock } }
tools:
  search: { parameters: { type: object }, mock: [ { return: { hits: 1 } } ] }
agents:
  bot:
    provider: m
    system: Be brief.
    tools: [search]
    mock:
      responses:
        - { when: { contains: weather }, text: "It is sunny" }
        - { when: { contains: capital }, text: "Lyon" }
        - { when: { contains: find, turn: 1 }, tool_call: { name: search, args: { q: rust } } }
        - { when: { contains: find }, text: "found it" }
suites:
  s:
    target: bot
    cases:
      - { id: weather, input: weather today?, assert: [ { type: contains, value: sunny } ] }
      - { id: capital, input: capital of France?, assert: [ { type: contains, value: Paris } ] }
      - { id: find, input: find rust, assert: [ { type: tool-called, name: search } ] }
      - { id: gone, input: weather again, assert: [ { type: contains, value: sunny } ] }
"#;

fn after() -> String {
    BEFORE
        .replace("text: \"It is sunny\"", "text: \"It is raining\"")
        .replace("text: \"Lyon\"", "text: \"Paris\"")
        .replace("args: { q: rust }", "args: { q: rustlang }")
        .replace("system: Be brief.", "system: Be very brief.")
        .replace("      - { id: gone, input: weather again, assert: [ { type: contains, value: sunny } ] }\n", "      - { id: fresh, input: capital again, assert: [ { type: contains, value: Paris } ] }\n")
}

#[test]
fn diff_reports_transitions_outputs_tools_and_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.yaml");
    std::fs::write(&file, BEFORE).unwrap();
    let a = gauntlet(dir.path(), &["run", "p.yaml", "--seed", "1"]);
    assert_eq!(a.status.code(), Some(1), "{}", stderr(&a));
    std::fs::write(&file, after()).unwrap();
    let b = gauntlet(dir.path(), &["run", "p.yaml", "--seed", "1"]);
    let (a, b) = (run_id(&a), run_id(&b));

    let text = gauntlet(dir.path(), &["diff", &a, &b]);
    assert_eq!(
        text.status.code(),
        Some(1),
        "a regression makes diff exit 1: {}",
        stderr(&text)
    );
    let out = stdout(&text);
    assert!(
        out.contains("1 regressed, 1 fixed, 1 changed, 1 new, 1 removed, 0 unchanged"),
        "{out}"
    );
    assert!(
        out.contains("REGRESSED weather [bot]  passed → failed"),
        "{out}"
    );
    assert!(out.contains("-It is sunny\n    +It is raining"), "{out}");
    assert!(
        out.contains("FIXED capital [bot]  failed → passed"),
        "{out}"
    );
    assert!(out.contains("assertion contains: fail → pass"), "{out}");
    assert!(
        out.contains("tool calls: [search({\"q\":\"rust\"})] → [search({\"q\":\"rustlang\"})]"),
        "{out}"
    );
    assert!(
        out.contains("/project/agents/bot/system: \"Be brief.\" → \"Be very brief.\""),
        "{out}"
    );
    assert!(
        out.find("REGRESSED").unwrap() < out.find("FIXED").unwrap(),
        "regressions come first"
    );

    let json = gauntlet(dir.path(), &["diff", &a, &b, "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["counts"]["regressed"], 1);
    assert_eq!(v["counts"]["new"], 1);
    assert_eq!(v["cases"][0]["change"], "regressed");

    let md = gauntlet(dir.path(), &["diff", &a, &b, "--format", "markdown"]);
    insta::assert_snapshot!("diff_markdown", mask(&stdout(&md)));

    let html = gauntlet(
        dir.path(),
        &["diff", &a, &b, "--format", "html", "-o", "d.html"],
    );
    assert_eq!(html.status.code(), Some(1));
    let page = std::fs::read_to_string(dir.path().join("d.html")).unwrap();
    assert!(
        page.starts_with("<!doctype html>")
            && page.contains("<td class=\"regressed\">REGRESSED</td>"),
        "{page}"
    );
    assert!(
        page.contains("<span class=\"del\">-It is sunny</span>"),
        "{page}"
    );
    assert!(!page.contains("http"), "self-contained");

    let same = gauntlet(dir.path(), &["diff", &a, &a]);
    assert_eq!(same.status.code(), Some(0));
    assert!(
        stdout(&same).contains("0 regressed, 0 fixed, 0 changed, 0 new, 0 removed, 4 unchanged")
    );
    assert!(stdout(&same).contains("configuration: unchanged"));

    let bad = gauntlet(dir.path(), &["diff", &a, &b, "--format", "pdf"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn baseline_gate_fails_a_run_that_regresses_beyond_tolerances() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.yaml");
    std::fs::write(&file, BEFORE).unwrap();
    let first = gauntlet(dir.path(), &["run", "p.yaml", "--seed", "1"]);
    let set = gauntlet(
        dir.path(),
        &["baseline", "set", &run_id(&first), "--name", "main"],
    );
    assert_eq!(set.status.code(), Some(0), "{}", stderr(&set));
    assert!(stdout(&set).starts_with("baseline `main` → run "));
    let list = gauntlet(dir.path(), &["baseline", "list"]);
    assert!(stdout(&list).contains("main") && stdout(&list).contains(&run_id(&first)));

    // Same files, same seed: within tolerances; the exit code still reflects the failing case.
    let same = gauntlet(
        dir.path(),
        &["run", "p.yaml", "--seed", "1", "--baseline", "main"],
    );
    assert!(
        stdout(&same).contains("✓ baseline `main`"),
        "{}",
        stdout(&same)
    );
    assert!(
        stdout(&same).contains("within tolerances; 0 regressed"),
        "{}",
        stdout(&same)
    );

    // A change that breaks two cases and fixes one: the pass rate falls and two scores drop.
    let changed = BEFORE
        .replace("text: \"It is sunny\"", "text: \"It is raining\"")
        .replace("text: \"Lyon\"", "text: \"Paris\"");
    std::fs::write(&file, changed).unwrap();
    let gate = |extra: &[&str]| {
        let mut args = vec!["run", "p.yaml", "--seed", "1", "--baseline", "main"];
        args.extend_from_slice(extra);
        stdout(&gauntlet(dir.path(), &args))
    };
    let worse = gauntlet(
        dir.path(),
        &["run", "p.yaml", "--seed", "1", "--baseline", "main"],
    );
    assert_eq!(worse.status.code(), Some(1));
    let out = stdout(&worse);
    assert!(out.contains("✗ baseline `main`"), "{out}");
    assert!(out.contains("2 regressed, 1 fixed"), "{out}");
    assert!(
        out.contains("pass rate fell from 75.0% to 50.0% (tolerance 0 points)"),
        "{out}"
    );
    assert!(
        out.contains("case `weather` [bot]: score 1.000 → 0.000, passed → failed (tolerance 0)"),
        "{out}"
    );
    assert!(
        out.contains("case `gone` [bot]: score 1.000 → 0.000, passed → failed (tolerance 0)"),
        "{out}"
    );
    assert!(out.contains("details: gauntlet diff"), "{out}");
    // Tolerating score drops leaves the pass rate; tolerating both lets the run through.
    let rate_only = gate(&["--max-score-drop", "1"]);
    assert!(
        rate_only.contains("pass rate fell") && !rate_only.contains("case `weather`"),
        "{rate_only}"
    );
    let tolerant = gate(&["--max-score-drop", "1", "--max-pass-rate-drop", "25"]);
    assert!(tolerant.contains("within tolerances"), "{tolerant}");

    let unknown = gauntlet(dir.path(), &["run", "p.yaml", "--baseline", "nope"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert_eq!(stderr(&unknown), "error: no baseline named `nope`\n");
    let bad_ratio = gauntlet(
        dir.path(),
        &[
            "run",
            "p.yaml",
            "--baseline",
            "main",
            "--max-cost-increase",
            "lots",
        ],
    );
    assert_eq!(bad_ratio.status.code(), Some(2));
}
