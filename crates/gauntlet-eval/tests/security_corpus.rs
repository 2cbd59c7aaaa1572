//! The security scanner against its labelled corpus: precision ≥ 0.95 and recall ≥ 0.90 per
//! check at the default sensitivity.

use gauntlet_eval::security::corpus::{evaluate, evaluate_samples, parse};
use gauntlet_eval::security::{SecurityCheck, Sensitivity, kinds, scan};

const CORPUS: &str = include_str!("../corpus/security.jsonl");

#[test]
fn corpus_is_large_and_balanced() {
    let samples = parse(CORPUS).unwrap();
    assert!(samples.len() >= 300, "{} samples", samples.len());
    for check in SecurityCheck::ALL {
        let of = |pos: bool| {
            samples
                .iter()
                .filter(|s| s.check == check && s.expect.is_empty() != pos)
                .count()
        };
        assert!(of(true) >= 30, "{}: {} positives", check.as_str(), of(true));
        assert!(
            of(false) >= 25,
            "{}: {} negatives",
            check.as_str(),
            of(false)
        );
    }
}

#[test]
fn precision_and_recall_per_check() {
    let samples = parse(CORPUS).unwrap();
    let e = evaluate_samples(&samples, Sensitivity::Medium);
    let report: Vec<String> = e
        .mistakes
        .iter()
        .map(|m| format!("{}: expected {:?}, found {:?}", m.id, m.expected, m.found))
        .collect();
    for s in &e.checks {
        let name = s.check.map_or("overall", SecurityCheck::as_str);
        assert!(
            s.precision >= 0.95 && s.recall >= 0.90,
            "{name}: precision {:.3}, recall {:.3}\n{}",
            s.precision,
            s.recall,
            report.join("\n")
        );
    }
    assert_eq!(evaluate(CORPUS, Sensitivity::Medium).unwrap(), e.checks);
}

#[test]
fn findings_are_well_formed_at_every_sensitivity() {
    let samples = parse(CORPUS).unwrap();
    for sensitivity in [Sensitivity::Low, Sensitivity::Medium, Sensitivity::High] {
        for s in &samples {
            let found = scan(&s.text, &SecurityCheck::ALL, sensitivity);
            for w in found.windows(2) {
                assert!(w[0].start <= w[1].start, "{}: unsorted", s.id);
                if w[0].kind == w[1].kind && w[0].check == w[1].check {
                    assert!(
                        w[0].end <= w[1].start,
                        "{}: overlapping {}",
                        s.id,
                        w[0].kind
                    );
                }
            }
            for f in &found {
                assert!(
                    f.start < f.end && f.end <= s.text.len(),
                    "{}: bad span",
                    s.id
                );
                assert!(s.text.is_char_boundary(f.start) && s.text.is_char_boundary(f.end));
                assert!(
                    kinds(f.check).contains(&f.kind),
                    "{}: unknown kind {}",
                    s.id,
                    f.kind
                );
                assert!(!f.hint.is_empty());
                if sensitivity == Sensitivity::Low {
                    assert!(!f.is_warning(), "{}: warning at low sensitivity", s.id);
                }
            }
        }
    }
}

#[test]
fn sensitivity_is_monotonic_on_the_corpus() {
    // Low reports a subset of Medium; what Medium reports (ignoring warnings), High reports too.
    let samples = parse(CORPUS).unwrap();
    let strong = |text: &str, check, s| -> Vec<(&'static str, usize, usize)> {
        scan(text, &[check], s)
            .into_iter()
            .filter(|f| !f.is_warning())
            .map(|f| (f.kind, f.start, f.end))
            .collect()
    };
    for s in &samples {
        let low = strong(&s.text, s.check, Sensitivity::Low);
        let medium = strong(&s.text, s.check, Sensitivity::Medium);
        let high: Vec<_> = scan(&s.text, &[s.check], Sensitivity::High)
            .into_iter()
            .map(|f| (f.kind, f.start, f.end))
            .collect();
        for f in &low {
            assert!(medium.contains(f), "{}: {f:?} at low but not medium", s.id);
        }
        for f in &medium {
            assert!(high.contains(f), "{}: {f:?} at medium but not high", s.id);
        }
    }
}

#[test]
fn mutated_samples_do_not_panic() {
    // Multibyte chars next to every kind of boundary the scanners look at.
    let inserts = [
        "\u{3000}", "é", "\u{200B}", "日本", "🚀", "\u{202E}", "\n", "'", "$", "=",
    ];
    for (n, s) in parse(CORPUS).unwrap().iter().enumerate() {
        let chars: Vec<char> = s.text.chars().collect();
        for (k, ins) in inserts.iter().enumerate() {
            let at = (n * 7 + k * 13) % (chars.len() + 1);
            let text: String = chars[..at]
                .iter()
                .copied()
                .chain(ins.chars())
                .chain(chars[at..].iter().copied())
                .collect();
            for f in scan(&text, &SecurityCheck::ALL, Sensitivity::High) {
                assert!(text.is_char_boundary(f.start) && text.is_char_boundary(f.end));
            }
        }
    }
}
