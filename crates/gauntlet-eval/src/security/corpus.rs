//! Scoring the scanner against a labelled corpus (JSON lines).
//!
//! Each line is `{"id": "…", "check": "pii", "text": "…", "expect": ["email"]}`; an empty
//! `expect` marks a negative sample. Each sample is scanned with only its own check enabled.
//! Warnings (`Severity::Low`) never count, for positives or negatives: a positive is a true
//! positive when a non-warning finding has one of the expected kinds (otherwise a false
//! negative); a negative is a false positive when it yields any non-warning finding of its check.
//! Findings of other kinds on a positive sample are not scored.

use serde_json::Value;

use super::{SecurityCheck, Sensitivity, kinds, scan};

/// One labelled sample.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub id: String,
    pub check: SecurityCheck,
    pub text: String,
    /// Expected finding kinds; empty for a negative sample.
    pub expect: Vec<String>,
}

/// Scores of one check (or of all checks, with `check: None`).
#[derive(Clone, Debug, PartialEq)]
pub struct CheckScore {
    pub check: Option<SecurityCheck>,
    pub samples: usize,
    pub positives: usize,
    pub negatives: usize,
    pub tp: usize,
    pub fp: usize,
    pub fn_: usize,
    pub tn: usize,
    /// tp / (tp + fp); 1 when nothing was reported.
    pub precision: f64,
    /// tp / (tp + fn); 1 when there are no positives.
    pub recall: f64,
}

/// A sample scored wrongly: a missed positive or a flagged negative.
#[derive(Clone, Debug, PartialEq)]
pub struct Mistake {
    pub id: String,
    pub expected: Vec<String>,
    /// Kinds of the non-warning findings.
    pub found: Vec<&'static str>,
}

/// Per-check scores (in [`SecurityCheck::ALL`] order), the overall score and the mistakes.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    pub checks: Vec<CheckScore>,
    pub overall: CheckScore,
    pub mistakes: Vec<Mistake>,
}

/// Parses the corpus: one JSON object per non-blank line, unique ids, known checks and kinds.
pub fn parse(jsonl: &str) -> Result<Vec<Sample>, String> {
    let mut samples: Vec<Sample> = Vec::new();
    for (i, line) in jsonl.lines().enumerate() {
        let n = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(line).map_err(|e| format!("line {n}: {e}"))?;
        let field = |k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .ok_or_else(|| format!("line {n}: missing string `{k}`"))
        };
        let id = field("id")?.to_owned();
        let check = SecurityCheck::parse(field("check")?)
            .ok_or_else(|| format!("line {n}: unknown check {:?}", field("check").unwrap_or("")))?;
        let text = field("text")?.to_owned();
        let expect = v
            .get("expect")
            .and_then(Value::as_array)
            .ok_or_else(|| format!("line {n}: missing array `expect`"))?
            .iter()
            .map(|k| {
                let k = k
                    .as_str()
                    .ok_or_else(|| format!("line {n}: `expect` holds a non-string"))?;
                if kinds(check).contains(&k) {
                    Ok(k.to_owned())
                } else {
                    Err(format!(
                        "line {n}: `{k}` is not a kind of {}",
                        check.as_str()
                    ))
                }
            })
            .collect::<Result<Vec<_>, String>>()?;
        if samples.iter().any(|s| s.id == id) {
            return Err(format!("line {n}: duplicate id `{id}`"));
        }
        samples.push(Sample {
            id,
            check,
            text,
            expect,
        });
    }
    Ok(samples)
}

fn ratio(num: usize, den: usize) -> f64 {
    if den == 0 {
        1.0
    } else {
        num as f64 / den as f64
    }
}

fn score(check: Option<SecurityCheck>, tp: usize, fp: usize, fn_: usize, tn: usize) -> CheckScore {
    CheckScore {
        check,
        samples: tp + fp + fn_ + tn,
        positives: tp + fn_,
        negatives: fp + tn,
        tp,
        fp,
        fn_,
        tn,
        precision: ratio(tp, tp + fp),
        recall: ratio(tp, tp + fn_),
    }
}

/// Scores every sample at `sensitivity` (see the module documentation for the rules).
pub fn evaluate_samples(samples: &[Sample], sensitivity: Sensitivity) -> Evaluation {
    // (tp, fp, fn, tn) per check.
    let mut counts = [(0usize, 0usize, 0usize, 0usize); 5];
    let mut mistakes = Vec::new();
    for s in samples {
        let found: Vec<&'static str> = scan(&s.text, &[s.check], sensitivity)
            .into_iter()
            .filter(|f| !f.is_warning())
            .map(|f| f.kind)
            .collect();
        let i = SecurityCheck::ALL
            .iter()
            .position(|c| *c == s.check)
            .unwrap_or(0);
        let c = &mut counts[i];
        let correct = if s.expect.is_empty() {
            if found.is_empty() {
                c.3 += 1;
                true
            } else {
                c.1 += 1;
                false
            }
        } else if found.iter().any(|k| s.expect.iter().any(|e| e == k)) {
            c.0 += 1;
            true
        } else {
            c.2 += 1;
            false
        };
        if !correct {
            mistakes.push(Mistake {
                id: s.id.clone(),
                expected: s.expect.clone(),
                found,
            });
        }
    }
    let checks: Vec<CheckScore> = SecurityCheck::ALL
        .iter()
        .zip(counts)
        .map(|(c, (tp, fp, fn_, tn))| score(Some(*c), tp, fp, fn_, tn))
        .collect();
    let sum = |f: fn(&CheckScore) -> usize| checks.iter().map(f).sum::<usize>();
    let overall = score(
        None,
        sum(|c| c.tp),
        sum(|c| c.fp),
        sum(|c| c.fn_),
        sum(|c| c.tn),
    );
    Evaluation {
        checks,
        overall,
        mistakes,
    }
}

/// Parses `jsonl` and returns the per-check scores at `sensitivity`.
pub fn evaluate(jsonl: &str, sensitivity: Sensitivity) -> Result<Vec<CheckScore>, String> {
    Ok(evaluate_samples(&parse(jsonl)?, sensitivity).checks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_a_small_corpus() {
        let jsonl = r#"{"id":"p1","check":"pii","text":"mail ann@fastmail.com","expect":["email"]}
{"id":"p2","check":"pii","text":"nothing here","expect":["email"]}

{"id":"n1","check":"pii","text":"order 2024-000123","expect":[]}
{"id":"n2","check":"secrets","text":"AKIAIOSFODNN7EXAMPLE","expect":[]}"#;
        let e = evaluate_samples(&parse(jsonl).unwrap_or_default(), Sensitivity::Medium);
        let pii = &e.checks[0];
        assert_eq!((pii.tp, pii.fp, pii.fn_, pii.tn), (1, 0, 1, 1));
        assert_eq!(pii.recall, 0.5);
        assert_eq!(pii.precision, 1.0);
        let secrets = &e.checks[1];
        assert_eq!((secrets.fp, secrets.precision), (1, 0.0));
        assert_eq!(e.overall.samples, 4);
        let ids: Vec<&str> = e.mistakes.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, vec!["p2", "n2"]);
    }

    #[test]
    fn rejects_bad_lines() {
        assert!(parse("{").is_err());
        assert!(parse(r#"{"id":"a","check":"nope","text":"","expect":[]}"#).is_err());
        assert!(
            parse(r#"{"id":"a","check":"pii","text":"","expect":["aws_access_key"]}"#).is_err()
        );
        let dup = r#"{"id":"a","check":"pii","text":"","expect":[]}
{"id":"a","check":"pii","text":"","expect":[]}"#;
        assert!(parse(dup).is_err());
    }
}
