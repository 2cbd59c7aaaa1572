//! `gauntlet generate-tests`: a suite from a recorded run passes on that behaviour and fails
//! when it changes.

use crate::{copy_desk, gauntlet, stderr, stdout};

#[test]
fn generated_suites_pin_recorded_behaviour() {
    let dir = tempfile::tempdir().unwrap();
    let project = copy_desk(dir.path());
    // A duplicate input (differing only in the email) is merged into one test.
    let suites = std::fs::read_to_string(project.join("suites.yaml")).unwrap().replace(
        "      - id: invoice-question\n",
        "      - id: refund-again\n        input: I was charged twice, please refund me. My email is bob@example.com\n      - id: invoice-question\n",
    );
    std::fs::write(project.join("suites.yaml"), suites).unwrap();
    let r = gauntlet(
        dir.path(),
        &["run", "desk", "--suite", "routing", "--seed", "1"],
    );
    assert_eq!(r.status.code(), Some(0), "{}{}", stdout(&r), stderr(&r));

    let g = gauntlet(
        dir.path(),
        &["generate-tests", "latest", "-o", "desk/generated.yaml"],
    );
    assert_eq!(g.status.code(), Some(0), "{}", stderr(&g));
    assert!(
        stderr(&g).contains(
            "generated suite `routing-regression`: 4 case(s); 1 near-duplicate(s) merged"
        ),
        "{}",
        stderr(&g)
    );
    let yaml = std::fs::read_to_string(project.join("generated.yaml")).unwrap();
    assert!(
        !yaml.contains("ada@example.com") && yaml.contains("<EMAIL_1>"),
        "{yaml}"
    );
    assert!(
        yaml.contains("{\"type\":\"tool-called\",\"name\":\"lookup_invoice\"}"),
        "PII arguments are not pinned: {yaml}"
    );
    assert!(yaml.contains("{\"type\":\"tool-called\",\"name\":\"track_package\",\"args\":{\"tracking_id\":\"PKG-42\"}}"), "{yaml}");
    assert!(
        yaml.contains("\"type\":\"json-schema\""),
        "structured outputs get a schema: {yaml}"
    );

    let again = gauntlet(
        dir.path(),
        &[
            "run",
            "desk",
            "--suite",
            "routing-regression",
            "--seed",
            "1",
        ],
    );
    assert_eq!(
        again.status.code(),
        Some(0),
        "the generated suite passes on the recorded behaviour: {}",
        stdout(&again)
    );

    // Change the billing agent's answer: the generated suite notices.
    let agents = std::fs::read_to_string(project.join("agents.yaml"))
        .unwrap()
        .replace("a refund has been requested.", "no refund is possible.");
    std::fs::write(project.join("agents.yaml"), agents).unwrap();
    let changed = gauntlet(
        dir.path(),
        &[
            "run",
            "desk",
            "--suite",
            "routing-regression",
            "--seed",
            "1",
        ],
    );
    assert_eq!(changed.status.code(), Some(1), "{}", stdout(&changed));
    assert!(stdout(&changed).contains("refund"), "{}", stdout(&changed));
}
