//! Security scanner benchmarks: precision and recall per check on the labelled corpus
//! (`crates/gauntlet-eval/corpus/security.jsonl`, or the JSONL file given as the first
//! argument), and scanning throughput on a realistic 1 MB agent transcript.
//! `scripts/bench-security` builds and runs it. Figures are printed, never asserted.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::time::Instant;

use gauntlet_eval::security::corpus::{CheckScore, evaluate_samples, parse};
use gauntlet_eval::security::{SecurityCheck, Sensitivity, scan};

const CORPUS: &str = include_str!("../../../gauntlet-eval/corpus/security.jsonl");

fn fail(msg: &str) -> ! {
    eprintln!("gauntlet-security-bench: {msg}");
    std::process::exit(3)
}

fn row(s: &CheckScore) {
    let name = s.check.map_or("overall", SecurityCheck::as_str);
    println!(
        "{name:<18} {:>7} {:>5} {:>5} {:>5} {:>5} {:>9.3} {:>7.3}",
        s.samples, s.positives, s.tp, s.fp, s.fn_, s.precision, s.recall
    );
}

/// A deterministic generator (no dependency): xorshift64*.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

const WORDS: &[&str] = &[
    "the",
    "report",
    "shows",
    "that",
    "latency",
    "improved",
    "after",
    "we",
    "moved",
    "cache",
    "to",
    "a",
    "separate",
    "service",
    "and",
    "customers",
    "in",
    "region",
    "saw",
    "fewer",
    "timeouts",
    "during",
    "peak",
    "hours",
    "next",
    "step",
    "is",
    "migrating",
    "queue",
    "workers",
    "while",
    "keeping",
    "API",
    "stable",
    "for",
    "partners",
    "who",
    "depend",
    "on",
    "it",
    "summary",
    "of",
    "changes",
    "test",
    "coverage",
    "increased",
    "build",
    "passed",
    "deployment",
    "scheduled",
    "Friday",
    "review",
    "pending",
    "invoice",
    "order",
    "shipped",
    "version",
    "release",
    "notes",
    "database",
    "index",
    "query",
    "plan",
    "user",
    "request",
];

const CODE: &[&str] = &[
    "def load(path):\n    with open(path) as f:\n        return json.load(f)\n",
    "const total = items.reduce((sum, x) => sum + x.price * x.qty, 0);\n",
    "for i, row in enumerate(rows):\n    if row['status'] == 'active':\n        out.append(row)\n",
    "cur.execute(\"SELECT id, name FROM users WHERE team_id = %s\", (team_id,))\n",
    "resp = session.get(f\"{base}/v1/items\", timeout=10)\nresp.raise_for_status()\n",
    "fn parse(s: &str) -> Result<u32, ParseIntError> { s.trim().parse() }\n",
    "npm ci && npm run build && npm test -- --coverage\n",
];

const LOGS: &[&str] = &[
    "2024-06-11T10:14:22.481Z INFO  worker-3 processed batch 1182 in 412 ms (rows=5000)\n",
    "2024-06-11T10:14:23.002Z WARN  http retry 2/5 for GET /v1/orders?page=14 (503)\n",
    "2024-06-11T10:14:23.417Z DEBUG cache hit ratio 0.934 over last 60 s\n",
    "{\"level\":\"info\",\"ts\":1718100863.41,\"msg\":\"job finished\",\"job_id\":\"550e8400-e29b-41d4-a716-446655440000\",\"duration_ms\":1834}\n",
];

/// About `size` bytes of agent output: prose, code, logs and JSON, with corpus samples
/// (findings and near-misses) mixed in every few paragraphs.
fn transcript(size: usize, samples: &[&str]) -> String {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut out = String::with_capacity(size + 4096);
    let mut n = 0usize;
    while out.len() < size {
        n += 1;
        match rng.next() % 10 {
            0..=4 => {
                let len = 40 + (rng.next() % 80) as usize;
                for i in 0..len {
                    if i > 0 {
                        out.push(' ');
                    }
                    out.push_str(rng.pick(WORDS));
                }
                out.push_str(".\n\n");
            }
            5 | 6 => {
                out.push_str("```\n");
                out.push_str(rng.pick(CODE));
                out.push_str("```\n\n");
            }
            7 | 8 => {
                for _ in 0..4 {
                    out.push_str(rng.pick(LOGS));
                }
                out.push('\n');
            }
            _ => {
                out.push_str(rng.pick(samples));
                out.push_str("\n\n");
            }
        }
        if n.is_multiple_of(50) {
            out.push_str("Résumé: café, naïve, 日本語のテキスト, emoji 🚀 — all fine.\n\n");
        }
    }
    out
}

/// Best-of-`runs` throughput in MB/s and the number of findings.
fn throughput(text: &str, checks: &[SecurityCheck], s: Sensitivity, runs: usize) -> (f64, usize) {
    let mut best = f64::MAX;
    let mut found = 0;
    for _ in 0..runs {
        let t = Instant::now();
        found = scan(text, checks, s).len();
        best = best.min(t.elapsed().as_secs_f64());
    }
    (text.len() as f64 / 1e6 / best, found)
}

fn main() {
    let corpus = match std::env::args().nth(1) {
        Some(path) => {
            std::fs::read_to_string(&path).unwrap_or_else(|e| fail(&format!("{path}: {e}")))
        }
        None => CORPUS.to_owned(),
    };
    let samples = parse(&corpus).unwrap_or_else(|e| fail(&e));

    println!(
        "security scanner: corpus of {} samples, sensitivity medium\n",
        samples.len()
    );
    println!(
        "{:<18} {:>7} {:>5} {:>5} {:>5} {:>5} {:>9} {:>7}",
        "check", "samples", "pos", "TP", "FP", "FN", "precision", "recall"
    );
    let medium = evaluate_samples(&samples, Sensitivity::Medium);
    for s in &medium.checks {
        row(s);
    }
    row(&medium.overall);
    for (name, s) in [("low", Sensitivity::Low), ("high", Sensitivity::High)] {
        let e = evaluate_samples(&samples, s);
        println!(
            "sensitivity {name:<6} overall: TP {} FP {} FN {}  precision {:.3} recall {:.3}",
            e.overall.tp, e.overall.fp, e.overall.fn_, e.overall.precision, e.overall.recall
        );
    }
    if !medium.mistakes.is_empty() {
        println!("\nmistakes at medium:");
        for m in &medium.mistakes {
            println!(
                "  {:<28} expected {:?}, found {:?}",
                m.id, m.expected, m.found
            );
        }
    }

    let texts: Vec<&str> = samples.iter().map(|s| s.text.as_str()).collect();
    let text = transcript(1 << 20, &texts);
    println!(
        "\nthroughput on a {:.2} MB transcript (best of 5, {} cores)",
        text.len() as f64 / 1e6,
        std::thread::available_parallelism().map_or(1, usize::from)
    );
    for (name, s) in [
        ("all checks, low", Sensitivity::Low),
        ("all checks, medium", Sensitivity::Medium),
        ("all checks, high", Sensitivity::High),
    ] {
        let (mbs, found) = throughput(&text, &SecurityCheck::ALL, s, 5);
        println!("{name:<28} {mbs:>8.1} MB/s   ({found} findings)");
    }
    for check in SecurityCheck::ALL {
        let (mbs, found) = throughput(&text, &[check], Sensitivity::Medium, 5);
        println!(
            "{:<28} {mbs:>8.1} MB/s   ({found} findings)",
            check.as_str()
        );
    }
}
