//! A suite loaded from a file set with a tenant's capabilities: what it may not do is refused
//! at the offending key, with a stable code, and nothing outside the set is read.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use gauntlet_core::capability::{Capabilities, Limits, Programs};
use gauntlet_core::files::FileSet;
use gauntlet_spec::{Origin, Vars};

fn load(
    files: &[(&str, &str)],
    caps: Capabilities,
    vars: &Vars,
) -> gauntlet_spec::validate::Validated {
    let map: BTreeMap<String, String> = files
        .iter()
        .map(|(p, t)| (p.to_string(), t.to_string()))
        .collect();
    let set = Arc::new(FileSet::new(map).unwrap());
    gauntlet_spec::load_from(Origin::set(set, caps), Path::new(""), vars)
}

/// (code, file, line, column) of each error.
fn refusals(
    v: &gauntlet_spec::validate::Validated,
) -> Vec<(Option<&'static str>, String, u32, u32)> {
    v.diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| (d.code, d.file.display().to_string(), d.line, d.col))
        .collect()
}

const AGENT: &str = "providers:\n  mock:\n    type: mock\nagents:\n  bot:\n    provider: mock\n    mock: { echo: true }\n";

#[test]
fn a_custom_evaluator_is_refused_at_its_command() {
    let suite = format!(
        "{AGENT}suites:\n  s:\n    target: bot\n    cases:\n      - id: c\n        input: hi\n        assert:\n          - type: custom\n            command: [sh, -c, \"id > marker\"]\n"
    );
    let v = load(
        &[("suite.yaml", &suite)],
        Capabilities::none(),
        &Vars::default(),
    );
    assert!(v.project.is_none());
    assert_eq!(
        refusals(&v),
        vec![(Some("capability.programs"), "suite.yaml".into(), 16, 22)]
    );
    // Granted, and in the allowlist: accepted.
    let caps = Capabilities {
        programs: Some(Programs {
            commands: vec!["sh".into()],
            limits: Limits::default(),
        }),
        ..Capabilities::none()
    };
    let v = load(&[("suite.yaml", &suite)], caps, &Vars::default());
    assert!(v.project.is_some(), "{:?}", v.diagnostics);
}

#[test]
fn process_agents_and_stdio_mcp_servers_are_programs() {
    let suite = "providers:\n  p:\n    type: process\n    command: python3\n    args: [agent.py]\nmcp_servers:\n  fs:\n    command: npx\nagents:\n  bot:\n    provider: p\n";
    let v = load(
        &[("suite.yaml", suite)],
        Capabilities::none(),
        &Vars::default(),
    );
    let codes: Vec<_> = refusals(&v).into_iter().map(|r| (r.0, r.2)).collect();
    assert_eq!(
        codes,
        vec![
            (Some("capability.programs"), 4),
            (Some("capability.programs"), 8)
        ]
    );
}

#[test]
fn internal_addresses_are_refused_at_the_url() {
    let suite = "providers:\n  a:\n    type: http\n    url: http://127.0.0.1:8080/chat\n    body: {q: \"{{input}}\"}\n    output: /a\n  b:\n    type: openai\n    base_url: http://169.254.169.254/v1\nmcp_servers:\n  m:\n    url: http://[::1]:9000/mcp\n  n:\n    url: http://localhost:9000/mcp\n";
    let v = load(
        &[("suite.yaml", suite)],
        Capabilities::none(),
        &Vars::default(),
    );
    let got: Vec<_> = refusals(&v).into_iter().map(|r| (r.0, r.2)).collect();
    assert_eq!(
        got,
        vec![
            (Some("capability.egress"), 4),
            (Some("capability.egress"), 9),
            (Some("capability.egress"), 12),
            (Some("capability.egress"), 14),
        ]
    );
    let allowed = Capabilities {
        internal_hosts: vec![
            "127.0.0.1".into(),
            "169.254.169.254".into(),
            "::1".into(),
            "localhost".into(),
        ],
        ..Capabilities::none()
    };
    let v = load(&[("suite.yaml", suite)], allowed, &Vars::default());
    assert!(refusals(&v).is_empty(), "{:?}", v.diagnostics);
}

#[test]
fn nothing_outside_the_set_is_read() {
    let suite = format!(
        "include: [\"/etc/passwd\", \"../../etc/shadow\"]\n{AGENT}suites:\n  s:\n    target: bot\n    cases:\n      - id: c\n        input: hi\n        assert:\n          - type: factuality\n            facts: /etc/hostname\n"
    );
    let v = load(
        &[("suite.yaml", &suite)],
        Capabilities::none(),
        &Vars::default(),
    );
    let text: Vec<String> = v.diagnostics.iter().map(|d| d.to_string()).collect();
    let all = text.join("\n");
    assert!(!all.contains("root:"), "a host file was quoted: {all}");
    let got: Vec<_> = refusals(&v).into_iter().map(|r| (r.0, r.2)).collect();
    assert_eq!(
        got,
        vec![
            (Some("capability.host_files"), 1),
            (Some("capability.host_files"), 1),
            (Some("capability.host_files"), 17),
        ],
        "{all}"
    );
    // Files of the set itself are found, relative to the file that names them.
    let facts = "entities: [Paris]\n";
    let ok = "include: [more/agents.yaml]\nsuites:\n  s:\n    target: bot\n    cases:\n      - id: c\n        input: hi\n        assert:\n          - type: factuality\n            facts: facts.yaml\n".to_owned();
    let v = load(
        &[
            ("suite.yaml", &ok),
            ("more/agents.yaml", AGENT),
            ("facts.yaml", facts),
        ],
        Capabilities::none(),
        &Vars::default(),
    );
    let errors: Vec<String> = v
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.to_string())
        .collect();
    assert!(
        !errors
            .iter()
            .any(|e| e.contains("not one of the suite's files")),
        "{errors:?}"
    );
}

#[test]
fn only_the_given_variables_are_visible() {
    let suite = format!(
        "{AGENT}suites:\n  s:\n    target: bot\n    cases:\n      - id: c\n        input: \"value=${{HOME:-none}} ${{MINE}}\"\n"
    );
    let mut vars = Vars::default();
    vars.env.insert("MINE".into(), "tenant-value".into());
    let v = load(&[("suite.yaml", &suite)], Capabilities::none(), &vars);
    let project = v.project.expect("valid");
    let input = &project.suites["s"].cases[0].input;
    assert!(
        format!("{input:?}").contains("value=none tenant-value"),
        "{input:?}"
    );
}

#[test]
fn a_literal_credential_is_refused_from_a_tenant_and_warned_locally() {
    let suite = "providers:\n  p:\n    type: openai\n    api_key: sk-literal-0123456789\n";
    let v = load(
        &[("suite.yaml", suite)],
        Capabilities::none(),
        &Vars::default(),
    );
    assert_eq!(
        refusals(&v),
        vec![(Some("credential.literal"), "suite.yaml".into(), 4, 14)]
    );
    let v = load(
        &[("suite.yaml", suite)],
        Capabilities::operator(),
        &Vars::default(),
    );
    assert!(refusals(&v).is_empty());
    assert!(
        v.diagnostics
            .iter()
            .any(|d| d.message.contains("plain text"))
    );
}
