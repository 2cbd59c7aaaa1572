//! Evaluators beyond string matching and chaos runs, end to end: each evaluator passes and
//! fails on purpose, judge verdicts are cached, chaos with one seed injects the same faults.

use std::path::Path;

use serde_json::Value;

use crate::{examples, gauntlet, stderr, stdout};

const PROJECT: &str = r#"
version: 1
providers:
  local: { type: mock }
tools:
  delete_account:
    parameters: { type: object }
    mock: [ { return: { ok: true } } ]
agents:
  bot:
    provider: local
    model: gpt-4o-mini
    tools: [delete_account]
    mock:
      latency_ms: { min: 5, max: 15 }
      responses:
        - { when: { icontains: delete }, tool_call: { name: delete_account, args: {} } }
        - { when: { after_tool: delete_account }, text: "Done, the account is gone." }
        - { when: { icontains: refund }, text: "I am sorry. I have issued a full refund to your card." }
      echo: true
  grader:
    provider: local
    model: gpt-4o-mini
    mock:
      responses:
        - { when: { icontains: "issued a full refund" }, text: '{"score": 5, "reason": "apologises and refunds"}' }
        - { text: '{"score": 2, "reason": "no apology"}' }
suites:
  judged:
    target: bot
    cases:
      - { id: polite, input: I want a refund, assert: [ { type: llm-judge, judge: grader, criteria: "apologises and offers a refund", pass_score: 4 } ] }
      - { id: rude, input: whatever, assert: [ { type: llm-judge, judge: grader, criteria: "apologises and offers a refund", pass_score: 4 } ] }
  governed:
    target: bot
    cases:
      - { id: safe, input: hello, assert: [ { type: policy, file: policy.rego } ] }
      - { id: deletes, input: please delete my account, assert: [ { type: policy, file: policy.rego } ] }
  graded:
    target: bot
    cases:
      - { id: custom-pass, input: ok then, assert: [ { type: custom, command: [python3, grade.py] } ] }
      - { id: custom-fail, input: nope, assert: [ { type: custom, command: [python3, grade.py] } ] }
      - { id: custom-broken, input: crash, assert: [ { type: custom, command: [python3, grade.py] } ] }
  fast:
    target: bot
    cases:
      - { id: quick, input: hi there, assert: [ { type: performance, p95_ms: 1000, max_tokens_per_word: 50 } ] }
      - { id: too-strict, input: hi there, assert: [ { type: performance, p50_ms: 1 } ] }
"#;

const POLICY: &str = r#"package gauntlet

deny contains msg if {
    some call in input.tool_calls
    call.name == "delete_account"
    msg := "agents must not delete accounts"
}
"#;

const GRADER: &str = r#"import json, sys
case = json.load(sys.stdin)
out = case["output"] or ""
if "crash" in out:
    sys.stderr.write("grader blew up\n")
    sys.exit(3)
ok = out.startswith("ok")
print("log line the grader printed first")
print(json.dumps({"pass": ok, "score": 0.9 if ok else 0.1, "reason": "starts with ok" if ok else "does not start with ok: " + case["id"]}))
"#;

fn project(dir: &Path) {
    std::fs::write(dir.join("gauntlet.yaml"), PROJECT).unwrap();
    std::fs::write(dir.join("policy.rego"), POLICY).unwrap();
    std::fs::write(dir.join("grade.py"), GRADER).unwrap();
}

/// Runs a suite and returns its JSON report's cases by id.
fn run(dir: &Path, suite: &str, extra: &[&str]) -> (i32, Value) {
    let mut args = vec![
        "run",
        ".",
        "--suite",
        suite,
        "-q",
        "--no-progress",
        "-o",
        "out.json",
        "--seed",
        "3",
    ];
    args.extend_from_slice(extra);
    let o = gauntlet(dir, &args);
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("out.json")).unwrap()).unwrap();
    assert!(o.status.code().is_some(), "{}", stderr(&o));
    (o.status.code().unwrap_or(-1), report)
}

fn case<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no case {id}"))
}

#[test]
fn llm_judge_scores_through_an_agent_and_caches_its_verdicts() {
    let dir = tempfile::tempdir().unwrap();
    project(dir.path());
    let (code, first) = run(dir.path(), "judged", &[]);
    assert_eq!(code, 1);
    let polite = &case(&first, "polite")["assertions"][0];
    assert_eq!(polite["pass"], true, "{polite}");
    assert_eq!(polite["score"], 1.0);
    assert_eq!(polite["details"]["cached"], false);
    assert!(polite["cost_usd"].as_f64().unwrap() > 0.0, "{polite}");
    let rude = &case(&first, "rude")["assertions"][0];
    assert_eq!(rude["pass"], false);
    assert_eq!(rude["score"], 0.25);
    assert!(
        rude["reason"]
            .as_str()
            .unwrap()
            .contains("judge scored 2 of 5"),
        "{rude}"
    );
    assert!(first["summary"]["evaluator_cost_usd"].as_f64().unwrap() > 0.0);

    // The rerun asks the judge nothing: same verdicts, no cost.
    let (_, second) = run(dir.path(), "judged", &[]);
    let polite2 = &case(&second, "polite")["assertions"][0];
    assert_eq!(polite2["details"]["cached"], true);
    assert_eq!(polite2["score"], polite["score"]);
    assert_eq!(polite2["reason"], polite["reason"]);
    assert!(polite2.get("cost_usd").is_none(), "{polite2}");
    assert!(second["summary"].get("evaluator_cost_usd").is_none());
}

#[test]
fn rego_policy_denials_become_failure_reasons() {
    let dir = tempfile::tempdir().unwrap();
    project(dir.path());
    let (code, report) = run(dir.path(), "governed", &[]);
    assert_eq!(code, 1);
    assert_eq!(case(&report, "safe")["status"], "passed");
    let deletes = case(&report, "deletes");
    assert_eq!(deletes["status"], "failed");
    assert_eq!(
        deletes["reason"],
        "policy: policy denied: agents must not delete accounts"
    );
}

#[test]
fn a_policy_with_a_syntax_error_is_reported_in_its_file() {
    let dir = tempfile::tempdir().unwrap();
    project(dir.path());
    std::fs::write(
        dir.path().join("policy.rego"),
        "package x\n\ndeny contains msg if {\n  msg := \n}\n",
    )
    .unwrap();
    let o = gauntlet(dir.path(), &["validate", "."]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("policy.rego:4:7: error: invalid Rego: expecting `}`"),
        "{err}"
    );
}

#[test]
fn custom_commands_grade_the_case_they_read_on_stdin() {
    let dir = tempfile::tempdir().unwrap();
    project(dir.path());
    let (code, report) = run(dir.path(), "graded", &[]);
    assert_eq!(code, 1);
    let pass = &case(&report, "custom-pass")["assertions"][0];
    assert_eq!(
        (pass["pass"].as_bool(), pass["score"].as_f64()),
        (Some(true), Some(0.9)),
        "{pass}"
    );
    let fail = &case(&report, "custom-fail")["assertions"][0];
    assert_eq!(fail["pass"], false);
    assert_eq!(fail["reason"], "does not start with ok: custom-fail");
    let broken = &case(&report, "custom-broken")["assertions"][0];
    assert_eq!(broken["pass"], false);
    let reason = broken["reason"].as_str().unwrap();
    assert!(
        reason.contains("exited with exit status: 3: grader blew up"),
        "{reason}"
    );
}

#[test]
fn performance_is_judged_over_all_trials() {
    let dir = tempfile::tempdir().unwrap();
    project(dir.path());
    let (code, report) = run(dir.path(), "fast", &["--repeat", "5"]);
    assert_eq!(code, 1);
    let cases = report["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 10);
    for c in cases {
        let a = c["assertions"].as_array().unwrap().last().unwrap();
        assert_eq!(a["type"], "performance");
        assert_eq!(a["details"]["trials"], 5, "{a}");
        let expect = c["id"] == "quick";
        assert_eq!(a["pass"], expect, "{a}");
        assert_eq!(c["status"], if expect { "passed" } else { "failed" });
    }
    let strict = case(&report, "too-strict");
    let reason = strict["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("performance: p50 latency") && reason.ends_with("(over 5 trials)"),
        "{reason}"
    );
}

fn faults(report: &Value) -> Vec<(String, String, Value)> {
    report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let f: Vec<Value> = c["steps"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.get("faults").cloned().unwrap_or(Value::Null))
                .collect();
            (
                c["id"].as_str().unwrap().to_owned(),
                c["target"].as_str().unwrap().to_owned(),
                Value::Array(f),
            )
        })
        .collect()
}

fn chaos_run(dir: &Path, seed: &str, extra: &[&str]) -> (i32, String, Value) {
    let mut args: Vec<String> = vec![
        "run".into(),
        examples().join("chaos").to_str().unwrap().to_owned(),
        "--suite".into(),
        "outage".into(),
        "--no-progress".into(),
        "-o".into(),
        dir.join("chaos.json").to_str().unwrap().to_owned(),
        "--seed".into(),
        seed.to_owned(),
    ];
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = gauntlet(dir, &args);
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("chaos.json")).unwrap()).unwrap();
    (o.status.code().unwrap_or(-1), stdout(&o), report)
}

#[test]
fn chaos_with_one_seed_injects_the_same_faults_at_the_same_steps() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, a) = chaos_run(dir.path(), "7", &[]);
    assert_eq!(code, 1, "{out}");
    let (_, _, b) = chaos_run(dir.path(), "7", &[]);
    let (fa, fb) = (faults(&a), faults(&b));
    let injected: usize = fa
        .iter()
        .map(|(_, _, f)| {
            f.as_array()
                .unwrap()
                .iter()
                .filter(|x| !x.is_null())
                .count()
        })
        .sum();
    assert!(injected > 0, "{fa:?}");
    let mut sa = fa.clone();
    let mut sb = fb.clone();
    sa.sort_by(|x, y| (&x.0, &x.1).cmp(&(&y.0, &y.1)));
    sb.sort_by(|x, y| (&x.0, &x.1).cmp(&(&y.0, &y.1)));
    assert_eq!(sa, sb);
    let (_, _, c) = chaos_run(dir.path(), "8", &[]);
    let mut sc = faults(&c);
    sc.sort_by(|x, y| (&x.0, &x.1).cmp(&(&y.0, &y.1)));
    assert_ne!(sa, sc, "another seed injects other faults");

    // The summary counts faults and survivors; the resilient agent survives more cases.
    let chaos = &a["summary"]["chaos"];
    assert!(chaos["faults"].as_u64().unwrap() > 0, "{chaos}");
    assert!(out.contains("faults injected in"), "{out}");
    let passed = |target: &str| {
        a["cases"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["target"] == target && c["status"] == "passed")
            .count()
    };
    assert!(passed("resilient") > passed("brittle"), "{out}");
    // The 4-token cap cuts every answer.
    let capped = case(&a, "token-limited");
    assert!(
        capped["steps"][0]["faults"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["kind"] == "token_limit"),
        "{capped}"
    );
}

#[test]
fn a_named_profile_applies_to_the_whole_run_and_replays() {
    let dir = tempfile::tempdir().unwrap();
    let (_, out, report) = chaos_run(dir.path(), "11", &["--chaos", "rate-limited"]);
    let kinds: Vec<String> = report["summary"]["chaos"]["by_kind"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    // The suite's own block is replaced; the case with its own block (a token cap) keeps it.
    assert_eq!(
        kinds,
        vec!["rate_limit".to_owned(), "token_limit".to_owned()],
        "{out}"
    );
    // Recorded with the profile, the run replays exactly: `--chaos` travels in the snapshot.
    let copy = dir.path().join("project");
    std::fs::create_dir_all(&copy).unwrap();
    std::fs::copy(
        examples().join("chaos").join("gauntlet.yaml"),
        copy.join("gauntlet.yaml"),
    )
    .unwrap();
    let o = gauntlet(
        dir.path(),
        &[
            "run",
            "project",
            "--chaos",
            "rate-limited",
            "--seed",
            "11",
            "--record",
            "-q",
            "--no-progress",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let o = gauntlet(dir.path(), &["replay", "latest", "-p", "project"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let bad = gauntlet(
        dir.path(),
        &[
            "run",
            examples().join("chaos").to_str().unwrap(),
            "--chaos",
            "gentle",
        ],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("possible values: flaky-tools, slow-network, rate-limited, degraded"),
        "{}",
        stderr(&bad)
    );
}

#[test]
fn chaos_blocks_are_validated_with_positions() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = std::fs::read_to_string(examples().join("chaos").join("gauntlet.yaml"))
        .unwrap()
        .replace(
            "probability: 0.5, error: error",
            "probability: 1.5, error: eror",
        );
    std::fs::write(dir.path().join("gauntlet.yaml"), yaml).unwrap();
    let o = gauntlet(dir.path(), &["validate", "."]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("unknown tool fault `eror`") && err.contains("did you mean `error`"),
        "{err}"
    );
}
