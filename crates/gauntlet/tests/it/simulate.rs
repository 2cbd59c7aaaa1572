//! `run --repeat` flakiness and `gauntlet simulate` statistics on a seeded stochastic mock.

use crate::{gauntlet, stderr, stdout};

const COINS: &str = r#"
providers: { m: { type: mock } }
agents:
  coin:
    provider: m
    mock:
      latency_ms: { min: 1, max: 9 }
      responses:
        - { when: { contains: hard }, choices: [right, wrong, wrong] }
        - { when: { contains: easy }, choices: [right, right, right, right, wrong] }
        - { text: right }
suites:
  s:
    target: coin
    cases:
      - { id: hard, input: a hard question, assert: [ { type: equals, value: right } ] }
      - { id: easy, input: an easy question, assert: [ { type: equals, value: right } ] }
      - { id: trivial, input: trivial, assert: [ { type: equals, value: right } ] }
"#;

#[test]
fn repeat_classifies_flaky_cases_first() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.yaml"), COINS).unwrap();
    let r = gauntlet(
        dir.path(),
        &[
            "run", "p.yaml", "--repeat", "10", "--seed", "7", "-o", "r.json",
        ],
    );
    assert_eq!(r.status.code(), Some(1));
    let out = stdout(&r);
    assert!(out.contains("cases          30"), "{out}");
    assert!(
        out.contains("flakiness 2 flaky, 0 stable-fail, 1 stable-pass"),
        "{out}"
    );
    let flaky = out.find("~ easy [coin]").unwrap();
    assert!(flaky < out.find("~ hard [coin]").unwrap());
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("r.json")).unwrap()).unwrap();
    let flakes = report["summary"]["flakiness"].as_array().unwrap();
    assert_eq!(flakes[0]["class"], "flaky");
    assert_eq!(flakes[2]["class"], "stable-pass");
    assert_eq!(flakes[2]["id"], "trivial");
    assert_eq!(flakes[2]["passed"], 10);
    assert_eq!(
        report["cases"][1]["trial"], 1,
        "trials are numbered in the report"
    );
}

#[test]
fn simulation_is_stable_for_a_seed_and_checks_expectations() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.yaml"), COINS).unwrap();
    let sim = |out: &str| {
        let r = gauntlet(
            dir.path(),
            &[
                "simulate", "p.yaml", "--trials", "200", "--seed", "42", "-o", out,
            ],
        );
        assert_eq!(r.status.code(), Some(0), "{}", stderr(&r));
        let mut v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join(out)).unwrap()).unwrap();
        v.as_object_mut().unwrap().remove("run_id");
        (v, stdout(&r))
    };
    let (a, text) = sim("a.json");
    let (b, _) = sim("b.json");
    assert_eq!(a, b, "seed 42 gives the same numbers every time");
    assert!(
        !text.contains("failing cases"),
        "simulate prints its own report: {text}"
    );
    assert!(
        text.contains("simulation of suite s (200 trials, seed 42"),
        "{text}"
    );
    assert_eq!(a["pass_rate"]["trials"], 600);
    // The scripted odds are 1/3, 4/5 and 1; the intervals must cover them.
    for (id, p) in [("hard", 1.0 / 3.0), ("easy", 0.8), ("trivial", 1.0)] {
        let case = a["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap();
        let (low, high) = (
            case["ci95"][0].as_f64().unwrap(),
            case["ci95"][1].as_f64().unwrap(),
        );
        assert!(low <= p && p <= high, "{id}: {p} not in [{low}, {high}]");
    }
    assert_eq!(
        a["readiness"].as_f64().unwrap(),
        (a["pass_rate"]["ci95"][0].as_f64().unwrap() * 1000.0).round() / 10.0
    );

    std::fs::write(
        dir.path().join("ok.yaml"),
        "pass_rate: { min: 0.6 }\ncases:\n  trivial: { min: 1.0 }\nlatency_ms.max: { max: 9 }\n",
    )
    .unwrap();
    let ok = gauntlet(
        dir.path(),
        &[
            "simulate", "p.yaml", "--trials", "200", "--seed", "42", "--expect", "ok.yaml",
        ],
    );
    assert_eq!(ok.status.code(), Some(0), "{}", stdout(&ok));
    assert!(stdout(&ok).contains("expectations: all met"));
    std::fs::write(
        dir.path().join("strict.yaml"),
        "pass_rate: { min: 0.9 }\ncases:\n  hard: { value: 0.5, tolerance: 0.05 }\n",
    )
    .unwrap();
    let strict = gauntlet(
        dir.path(),
        &[
            "simulate",
            "p.yaml",
            "--trials",
            "200",
            "--seed",
            "42",
            "--expect",
            "strict.yaml",
        ],
    );
    assert_eq!(strict.status.code(), Some(1));
    let out = stdout(&strict);
    assert!(out.contains("expectations: 2 not met"), "{out}");
    assert!(out.contains("pass_rate is 0.72"), "{out}");
    assert!(
        out.contains("case `hard` [coin] pass rate is 0.345, expected 0.5 ± 0.05"),
        "{out}"
    );
    std::fs::write(dir.path().join("bad.yaml"), "pass_rat: { min: 1 }\n").unwrap();
    let bad = gauntlet(
        dir.path(),
        &[
            "simulate", "p.yaml", "--trials", "5", "--seed", "42", "--expect", "bad.yaml",
        ],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("unknown metric `pass_rat`"),
        "{}",
        stderr(&bad)
    );
}

#[test]
fn comparing_targets_ranks_them_and_finds_significant_winners() {
    let dir = tempfile::tempdir().unwrap();
    let project = COINS.replace(
        "agents:\n",
        "agents:\n  steady: { provider: m, mock: { latency_ms: 2, responses: [ { text: right } ] } }\n",
    )
    .replace("    target: coin\n", "    target: [coin, steady]\n");
    std::fs::write(dir.path().join("p.yaml"), project).unwrap();
    let r = gauntlet(
        dir.path(),
        &["run", "p.yaml", "--seed", "3", "--repeat", "30"],
    );
    let out = stdout(&r);
    assert!(out.contains("comparison of 2 targets"), "{out}");
    let steady = out.find("1    steady").expect("steady ranks first");
    assert!(steady < out.find("2    coin").unwrap(), "{out}");
    assert!(
        out.contains("steady vs coin (control), 90 paired cases: only control passed 0"),
        "{out}"
    );
    assert!(
        out.contains("winners: pass rate steady; score steady;"),
        "{out}"
    );

    let json = gauntlet(dir.path(), &["compare", "latest", "--format", "json"]);
    assert_eq!(json.status.code(), Some(0), "{}", stderr(&json));
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let p = v["versus"][0]["pass_p_value"].as_f64().unwrap();
    assert!(p < 1e-6, "steady never fails where coin passes; p = {p}");
    assert_eq!(v["winners"]["pass_rate"], "steady");

    std::fs::write(dir.path().join("one.yaml"), COINS).unwrap();
    gauntlet(dir.path(), &["run", "one.yaml", "--seed", "3"]);
    let not_comparable = gauntlet(dir.path(), &["compare", "latest"]);
    assert_eq!(not_comparable.status.code(), Some(2));
    assert!(
        stderr(&not_comparable).contains("has a single target"),
        "{}",
        stderr(&not_comparable)
    );
}
