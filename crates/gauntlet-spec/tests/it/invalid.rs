//! Every class of validation error, one fixture each, with snapshot expectations.

use crate::{diagnostics, fixtures};

/// Runs every `invalid/*.yaml` fixture (and `invalid/*/` directories) and snapshots its
/// diagnostics; each fixture must be rejected.
#[test]
fn every_invalid_fixture_is_rejected_with_located_errors() {
    let dir = fixtures().join("invalid");
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    assert!(entries.len() >= 20, "fixtures missing");
    for path in entries {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let out = diagnostics(&path);
        assert!(
            out.ends_with("-- project: invalid"),
            "{name} was accepted:\n{out}"
        );
        assert!(out.contains(": error: "), "{name} has no error:\n{out}");
        insta::assert_snapshot!(name, out);
    }
}

#[test]
fn secrets_never_appear_in_diagnostics() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.yaml");
    std::fs::write(
        &file,
        "providers:\n  p: { type: openai, api_key: '${secret:API_KEY}', model: 7 }\n",
    )
    .unwrap();
    let v = gauntlet_spec::load_project(&file, &crate::vars());
    let all: String = v.diagnostics.iter().map(ToString::to_string).collect();
    assert!(!all.contains("sk-canary"), "{all}");
}

#[test]
fn loader_never_panics_on_mutated_input() {
    // A deterministic mutation fuzzer over the examples; `fuzz/` has the libFuzzer target.
    let sources = [
        include_str!("../../../../examples/quickstart/gauntlet.yaml"),
        include_str!("../../../../examples/support-desk/agents.yaml"),
        include_str!("../../../../examples/support-desk/graph.yaml"),
        include_str!("../../../../examples/support-desk/suites.yaml"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f.yaml");
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let pieces: [&[u8]; 12] = [
        b":", b"- ", b"{", b"}", b"[", b"]", b"'", b"\"", b"\n  ", b"&a ", b"*a", b"${",
    ];
    for round in 0..400 {
        let mut bytes = sources[round % sources.len()].as_bytes().to_vec();
        for _ in 0..(1 + next() % 6) {
            let at = (next() as usize) % bytes.len().max(1);
            match next() % 4 {
                0 => {
                    bytes.remove(at.min(bytes.len() - 1));
                }
                1 => {
                    let p = pieces[(next() as usize) % pieces.len()];
                    bytes.splice(at..at, p.iter().copied());
                }
                2 => bytes.truncate(at),
                _ => {
                    let len = (next() as usize % 40).min(bytes.len() - at);
                    let chunk: Vec<u8> = bytes[at..at + len].to_vec();
                    let to = (next() as usize) % bytes.len();
                    bytes.splice(to..to, chunk);
                }
            }
        }
        std::fs::write(&file, &bytes).unwrap();
        let v = gauntlet_spec::load_project(&file, &crate::vars());
        for d in &v.diagnostics {
            assert!(d.line >= 1 && d.col >= 1, "round {round}: {d}");
        }
    }
}
