//! `gauntlet drift` on a synthetic history with a shift, and on one without.

use crate::{gauntlet, stderr, stdout};

fn project(latency: &str, c1_text: &str) -> String {
    format!(
        r#"
providers: {{ m: {{ type: mock }} }}
agents:
  a:
    provider: m
    mock:
      latency_ms: {latency}
      responses:
        - {{ when: {{ equals: c1 }}, text: "{c1_text}" }}
        - {{ text: "the same answer every time" }}
suites:
  s:
    target: a
    cases: [ {{ id: c1, input: c1 }}, {{ id: c2, input: c2 }}, {{ id: c3, input: c3 }}, {{ id: c4, input: c4 }}, {{ id: c5, input: c5 }}, {{ id: c6, input: c6 }} ]
"#
    )
}

fn run_ids(dir: &std::path::Path, seeds: std::ops::RangeInclusive<u32>) -> Vec<String> {
    seeds
        .map(|seed| {
            let r = gauntlet(dir, &["run", "p.yaml", "--seed", &seed.to_string(), "-q"]);
            assert_eq!(r.status.code(), Some(0), "{}", stderr(&r));
            crate::run_id(&r)
        })
        .collect()
}

#[test]
fn drift_is_found_where_the_history_shifts_and_not_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("p.yaml"),
        project("{ min: 2, max: 6 }", "short reply"),
    )
    .unwrap();
    run_ids(dir.path(), 1..=4);
    std::fs::write(
        dir.path().join("p.yaml"),
        project(
            "{ min: 30, max: 40 }",
            "a completely different and much longer reply",
        ),
    )
    .unwrap();
    let after = run_ids(dir.path(), 5..=8);

    let r = gauntlet(dir.path(), &["drift", ".", "--suite", "s"]);
    assert_eq!(r.status.code(), Some(1), "drift exits 1: {}", stdout(&r));
    let out = stdout(&r);
    assert!(out.contains("drift of suite s over 8 runs"), "{out}");
    assert!(out.contains(&"latency_ms  DRIFT".to_string()), "{out}");
    assert!(
        out.contains(&format!("from run {}", after[0])),
        "the shift starts at the 5th run: {out}"
    );
    assert!(out.contains("score       stable"), "{out}");
    assert!(out.contains("cost_usd    stable"), "{out}");
    assert!(
        out.contains(&"c1 [a]: similarity".to_string())
            && out.contains(&format!("from run {}\n", after[0])),
        "{out}"
    );
    assert!(!out.contains("c2 [a]"), "{out}");

    let json = gauntlet(
        dir.path(),
        &["drift", ".", "--suite", "s", "--format", "json"],
    );
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let latency = v["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["metric"] == "latency_ms")
        .unwrap();
    assert!(latency["p_value"].as_f64().unwrap() < 0.01);
    assert!(latency["test"].as_str().unwrap().contains("Mann–Whitney U"));

    let steady = tempfile::tempdir().unwrap();
    std::fs::write(
        steady.path().join("p.yaml"),
        project("{ min: 2, max: 6 }", "short reply"),
    )
    .unwrap();
    run_ids(steady.path(), 1..=8);
    let none = gauntlet(steady.path(), &["drift", ".", "--suite", "s"]);
    assert_eq!(none.status.code(), Some(0), "{}", stdout(&none));
    assert!(stdout(&none).contains("outputs: no persistent change"));
    assert!(!stdout(&none).contains("DRIFT"));

    let unknown = gauntlet(steady.path(), &["drift", ".", "--suite", "nope"]);
    assert_eq!(unknown.status.code(), Some(2));
}
