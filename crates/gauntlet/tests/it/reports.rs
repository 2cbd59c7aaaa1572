//! Report formats, as snapshots of a seeded run of the support-desk example.

use crate::{examples, gauntlet, mask, run_id, stdout};

#[test]
fn every_report_format_of_a_seeded_run() {
    let dir = tempfile::tempdir().unwrap();
    let desk = examples().join("support-desk");
    let r = gauntlet(
        dir.path(),
        &[
            "run",
            desk.to_str().unwrap(),
            "--suite",
            "routing",
            "--seed",
            "42",
        ],
    );
    assert_eq!(r.status.code(), Some(0));
    let id = run_id(&r);
    insta::assert_snapshot!("terminal_summary", mask(&stdout(&r)));
    let when = regex::Regex::new(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC").unwrap();
    let took = regex::Regex::new(r"<dt>Duration</dt><dd>[^<]*</dd>").unwrap();
    let assets = regex::Regex::new(r"(?s)<(style|script)>.*?</(?:style|script)>").unwrap();
    for format in ["markdown", "junit", "csv", "json", "html"] {
        let out = gauntlet(dir.path(), &["report", &id, "--format", format]);
        assert_eq!(out.status.code(), Some(0));
        let text = mask(&stdout(&out));
        match format {
            "json" => {
                let v: serde_json::Value = serde_json::from_str(&text).unwrap();
                for key in ["id", "suite", "seed", "status", "config_hash", "totals"] {
                    assert!(v["run"].get(key).is_some(), "run.{key}");
                }
                for key in ["cases", "passed", "failed", "errored", "tokens", "cost_usd"] {
                    assert!(v["run"]["totals"].get(key).is_some(), "run.totals.{key}");
                }
                let case = &v["cases"][0];
                for key in ["id", "status", "score", "output", "steps", "assertions"] {
                    assert!(case.get(key).is_some(), "cases[].{key}");
                }
                for key in [
                    "node",
                    "agent",
                    "input",
                    "output",
                    "tool_calls",
                    "tokens",
                    "cost_usd",
                    "latency_ms",
                ] {
                    assert!(case["steps"][0].get(key).is_some(), "steps[].{key}");
                }
                for key in ["type", "pass", "score", "reason"] {
                    assert!(
                        case["assertions"][0].get(key).is_some(),
                        "assertions[].{key}"
                    );
                }
            }
            "html" => {
                assert!(text.starts_with("<!doctype html>"));
                assert!(
                    !text.contains("http://") && !text.contains("https://"),
                    "the HTML report must be self-contained"
                );
            }
            _ => {}
        }
        // The page also shows the run's short id, its start as a date and its duration.
        let text = if format == "html" {
            let short = &id[id.len() - 10..];
            let t = text.replace(short, "[SHORT-ID]");
            let t = when.replace_all(&t, "[TIME] UTC").into_owned();
            // The inlined stylesheet and script are the dashboard's assets, not the report's
            // content: a style change is not a report change.
            let t = assets.replace_all(&t, "<$1>[ASSET]</$1>").into_owned();
            took.replace_all(&t, "<dt>Duration</dt><dd>[DURATION]</dd>")
                .into_owned()
        } else {
            text
        };
        insta::assert_snapshot!(format!("report_{format}"), text);
    }
}

#[test]
fn reports_escape_hostile_text() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("x.yaml"),
        "providers: { m: { type: mock } }\nagents:\n  a: { provider: m, mock: { echo: true } }\nsuites:\n  s:\n    target: a\n    cases:\n      - { id: xss, input: \"<script>alert('x')</script> & =cmd|' /C calc'!A0, \\\"q\\\"\", assert: [ { type: contains, value: nothing } ] }\n",
    )
    .unwrap();
    let r = gauntlet(
        dir.path(),
        &[
            "run", "x.yaml", "-o", "r.html", "-o", "r.xml", "-o", "r.csv",
        ],
    );
    assert_eq!(r.status.code(), Some(1));
    let html = std::fs::read_to_string(dir.path().join("r.html")).unwrap();
    assert!(!html.contains("<script>alert"), "unescaped script in HTML");
    assert!(html.contains("&lt;script&gt;alert"));
    let xml = std::fs::read_to_string(dir.path().join("r.xml")).unwrap();
    assert!(!xml.contains("<script>"));
    let csv = std::fs::read_to_string(dir.path().join("r.csv")).unwrap();
    assert!(
        csv.contains("\"<script>alert('x')</script> & =cmd|' /C calc'!A0, \"\"q\"\"\""),
        "{csv}"
    );
}
