//! Valid projects load without diagnostics, and the checked-in JSON Schema is current.

use std::path::Path;

fn examples() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

#[test]
fn examples_are_valid() {
    for name in ["quickstart", "support-desk"] {
        let v = gauntlet_spec::load_project(&examples().join(name), &crate::vars());
        let text: Vec<String> = v.diagnostics.iter().map(ToString::to_string).collect();
        assert!(v.diagnostics.is_empty(), "{name}: {text:?}");
        assert!(v.project.is_some());
    }
}

#[test]
fn directory_projects_merge_files_and_includes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("more")).unwrap();
    std::fs::write(
        dir.path().join("main.yml"),
        "version: 1\ninclude: [more]\nsuites:\n  s: { target: a, cases: [ { input: hi } ] }\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("more/agents.yaml"),
        "providers: { p: { type: mock } }\nagents:\n  a: { provider: p, mock: { echo: true } }\n",
    )
    .unwrap();
    let v = gauntlet_spec::load_project(&dir.path().join("main.yml"), &crate::vars());
    assert!(v.diagnostics.is_empty(), "{:?}", v.diagnostics);
    let p = v.project.unwrap();
    assert_eq!(p.suites["s"].cases[0].id, "case-1");
    assert!(p.agents.contains_key("a"));
}

#[test]
fn interpolation_resolves_env_defaults_and_masks_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.yaml");
    std::fs::write(
        &file,
        "providers:\n  p: { type: openai, base_url: '${BASE_URL}/v1', api_key: '${secret:API_KEY}', model: '${MODEL:-gpt-4o-mini}' }\n  m: { type: mock }\nagents:\n  a: { provider: m, system: 'Escaped $${HOME}', mock: { echo: true } }\n",
    )
    .unwrap();
    let v = gauntlet_spec::load_project(&file, &crate::vars());
    assert!(v.diagnostics.is_empty(), "{:?}", v.diagnostics);
    let p = v.project.unwrap();
    let provider = &p.providers["p"];
    assert_eq!(provider.base_url.as_deref(), Some("http://127.0.0.1:9/v1"));
    assert_eq!(provider.model.as_deref(), Some("gpt-4o-mini"));
    let key = provider.api_key.as_ref().unwrap();
    assert_eq!(key.expose(), "sk-canary-0123456789");
    assert_eq!(
        format!("{key:?} {key}"),
        "${secret:API_KEY} ${secret:API_KEY}"
    );
    let snapshot = serde_json::to_string(&p).unwrap();
    assert!(!snapshot.contains("sk-canary"), "{snapshot}");
    assert_eq!(p.agents["a"].system.as_deref(), Some("Escaped ${HOME}"));
}

#[test]
fn checked_in_json_schema_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schema/gauntlet.schema.json");
    let current = gauntlet_spec::schema::json_schema();
    if std::env::var_os("GAUNTLET_UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &current).unwrap();
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == current,
        "schema/gauntlet.schema.json is stale; run `scripts/regenerate` (GAUNTLET_UPDATE_SCHEMA=1 cargo test -p gauntlet-spec)"
    );
}

#[test]
fn the_schema_accepts_the_examples() {
    let schema: serde_json::Value =
        serde_json::from_str(&gauntlet_spec::schema::json_schema()).unwrap();
    let validator = jsonschema::options().build(&schema).unwrap();
    for file in gauntlet_spec::load::project_files(&examples()).unwrap() {
        let text = std::fs::read_to_string(&file).unwrap();
        let doc = gauntlet_spec::yaml::parse(&text).unwrap().value;
        let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{}: {errors:?}", file.display());
    }
}
