//! Any bytes given to the loader produce a project or diagnostics, never a panic, and every
//! diagnostic has a position.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = std::env::temp_dir().join(format!("gauntlet-fuzz-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let file = dir.join("input.yaml");
    if std::fs::write(&file, data).is_err() {
        return;
    }
    let v = gauntlet_spec::load_project(&file, &gauntlet_spec::Vars::default());
    for d in &v.diagnostics {
        assert!(d.line >= 1 && d.col >= 1, "{d}");
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = gauntlet_spec::yaml::parse(text);
    }
});
