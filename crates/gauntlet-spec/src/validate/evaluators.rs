//! Parameters of the evaluators beyond string matching: `security`, `factuality`, `style`,
//! `performance`, `llm-judge`, `policy` and `custom`. Files they name (facts, Rego modules) are
//! read here, relative to the file that names them, and become part of the run's sources.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use gauntlet_core::evaluators::{
    CustomSpec, Facts, FactualitySpec, Judge, JudgeSpec, PerformanceSpec, PolicySpec,
    SecurityCheck, SecuritySpec, Sensitivity, StyleSpec, Tone,
};
use gauntlet_core::model::Check;
use serde_json::Value;

use crate::diag::suggest;
use crate::load::Source;
use crate::raw;
use crate::validate::Ctx;
use crate::yaml::push_pointer;

/// Keys each of these types takes (besides the common ones).
pub fn params(name: &str) -> Option<&'static [&'static str]> {
    Some(match name {
        "security" => &["checks", "sensitivity", "fail_on_warning", "value"],
        "factuality" => &["facts", "require_citations", "flag_unsupported"],
        "style" => &[
            "min_reading_ease",
            "max_reading_ease",
            "max_grade",
            "max_smog",
            "max_coleman_liau",
            "max_passive",
            "max_sentence_words",
            "max_mean_sentence_words",
            "tone",
            "banned",
            "required",
        ],
        "performance" => &[
            "p50_ms",
            "p95_ms",
            "p99_ms",
            "max_ttft_ms",
            "min_tokens_per_second",
            "max_tokens_per_word",
            "baseline_tolerance",
        ],
        "llm-judge" => &[
            "judge",
            "provider",
            "model",
            "criteria",
            "value",
            "steps",
            "score_range",
            "pass_score",
            "reference",
        ],
        "policy" => &["rego", "file", "query", "value"],
        "custom" => &["command", "value", "timeout_ms"],
        _ => return None,
    })
}

/// The keys of this file's evaluators that were written.
pub fn given(a: &raw::Assertion) -> Vec<&'static str> {
    let fields: [(&'static str, bool); 37] = [
        ("checks", a.checks.is_some()),
        ("sensitivity", a.sensitivity.is_some()),
        ("fail_on_warning", a.fail_on_warning.is_some()),
        ("facts", a.facts.is_some()),
        ("require_citations", a.require_citations.is_some()),
        ("flag_unsupported", a.flag_unsupported.is_some()),
        ("min_reading_ease", a.min_reading_ease.is_some()),
        ("max_reading_ease", a.max_reading_ease.is_some()),
        ("max_grade", a.max_grade.is_some()),
        ("max_smog", a.max_smog.is_some()),
        ("max_coleman_liau", a.max_coleman_liau.is_some()),
        ("max_passive", a.max_passive.is_some()),
        ("max_sentence_words", a.max_sentence_words.is_some()),
        (
            "max_mean_sentence_words",
            a.max_mean_sentence_words.is_some(),
        ),
        ("tone", a.tone.is_some()),
        ("banned", a.banned.is_some()),
        ("required", a.required.is_some()),
        ("p50_ms", a.p50_ms.is_some()),
        ("p95_ms", a.p95_ms.is_some()),
        ("p99_ms", a.p99_ms.is_some()),
        ("max_ttft_ms", a.max_ttft_ms.is_some()),
        ("min_tokens_per_second", a.min_tokens_per_second.is_some()),
        ("max_tokens_per_word", a.max_tokens_per_word.is_some()),
        ("baseline_tolerance", a.baseline_tolerance.is_some()),
        ("judge", a.judge.is_some()),
        ("provider", a.provider.is_some()),
        ("model", a.model.is_some()),
        ("criteria", a.criteria.is_some()),
        ("steps", a.steps.is_some()),
        ("score_range", a.score_range.is_some()),
        ("pass_score", a.pass_score.is_some()),
        ("reference", a.reference.is_some()),
        ("rego", a.rego.is_some()),
        ("file", a.file.is_some()),
        ("query", a.query.is_some()),
        ("command", a.command.is_some()),
        ("timeout_ms", a.timeout_ms.is_some()),
    ];
    fields
        .into_iter()
        .filter_map(|(k, present)| present.then_some(k))
        .collect()
}

/// Builds the check of one of these types; `None` after reporting an error.
pub fn check(cx: &mut Ctx, e: &Source, p: &str, name: &str, a: &raw::Assertion) -> Option<Check> {
    match name {
        "security" => security(cx, e, p, a).map(Check::Security),
        "factuality" => factuality(cx, e, p, a).map(Check::Factuality),
        "style" => style(cx, e, p, a).map(Check::Style),
        "performance" => performance(cx, e, p, a).map(Check::Performance),
        "llm-judge" => judge(cx, e, p, a).map(Check::LlmJudge),
        "policy" => policy(cx, e, p, a).map(Check::Policy),
        "custom" => custom(cx, e, p, a).map(Check::Custom),
        _ => None,
    }
}

fn security(cx: &mut Ctx, e: &Source, p: &str, a: &raw::Assertion) -> Option<SecuritySpec> {
    let (ptr, list) = match (&a.checks, &a.value) {
        (Some(v), _) => (push_pointer(p, "checks"), Some(v)),
        (None, Some(v)) => (push_pointer(p, "value"), Some(v)),
        (None, None) => (String::new(), None),
    };
    let checks = match list {
        None => SecurityCheck::ALL.to_vec(),
        Some(v) => {
            let names: Vec<(usize, &str)> = match v {
                Value::String(s) => vec![(0, s.as_str())],
                Value::Array(items) => items
                    .iter()
                    .enumerate()
                    .filter_map(|(i, x)| x.as_str().map(|s| (i, s)))
                    .collect(),
                _ => Vec::new(),
            };
            if names.is_empty() {
                cx.error(e, &ptr, "`checks` must be a list of check names")
                    .hint = Some(format!(
                    "e.g. `checks: [pii, secrets]`; checks: {}",
                    SecurityCheck::NAMES.join(", ")
                ));
                return None;
            }
            let mut out = Vec::new();
            for (i, n) in names {
                match SecurityCheck::parse(n) {
                    Some(c) if !out.contains(&c) => out.push(c),
                    Some(_) => {}
                    None => {
                        let at = if v.is_array() {
                            push_pointer(&ptr, &i.to_string())
                        } else {
                            ptr.clone()
                        };
                        cx.error(e, &at, format!("unknown security check `{n}`"))
                            .hint = Some(suggest(n, "checks", SecurityCheck::NAMES));
                        return None;
                    }
                }
            }
            out
        }
    };
    let sensitivity = match a.sensitivity.as_deref() {
        None => Sensitivity::default(),
        Some(s) => match Sensitivity::parse(s) {
            Some(x) => x,
            None => {
                cx.error(
                    e,
                    &push_pointer(p, "sensitivity"),
                    format!("unknown sensitivity `{s}`"),
                )
                .hint = Some(suggest(s, "levels", ["low", "medium", "high"]));
                return None;
            }
        },
    };
    Some(SecuritySpec {
        checks,
        sensitivity,
        fail_on_warning: a.fail_on_warning.unwrap_or(false),
    })
}

/// Resolves `rel` against the directory of the file that names it.
fn beside(cx: &Ctx, e: &Source, rel: &str) -> PathBuf {
    cx.origin.beside(&e.path, rel)
}

fn read(cx: &mut Ctx, e: &Source, ptr: &str, rel: &str, what: &str) -> Option<(PathBuf, String)> {
    let path = beside(cx, e, rel);
    match cx.origin.read(&path, 32 << 20) {
        Ok(text) => {
            if !cx.files.contains(&path) {
                cx.files.push(path.clone());
            }
            Some((path, text))
        }
        Err(err) => {
            let refused = err.denied;
            let d = cx.error(
                e,
                ptr,
                format!(
                    "cannot read the {what} `{}`: {}",
                    path.display(),
                    err.message
                ),
            );
            match refused {
                Some(cap) => {
                    d.code = Some(cap.code());
                    d.hint = Some("only the suite's own files can be read; a platform administrator can grant host directories".into());
                }
                None => {
                    d.hint = Some(format!(
                        "the path is relative to `{}`",
                        e.path.parent().unwrap_or(Path::new(".")).display()
                    ));
                }
            }
            None
        }
    }
}

fn factuality(cx: &mut Ctx, e: &Source, p: &str, a: &raw::Assertion) -> Option<FactualitySpec> {
    let ptr = push_pointer(p, "facts");
    let (facts_path, facts) = match &a.facts {
        None => {
            cx.error(e, p, "`factuality` needs `facts`").hint =
                Some("e.g. `facts: facts.yaml` (a file of `facts`, `entities`, `sources`)".into());
            return None;
        }
        Some(Value::String(rel)) => {
            if let Some(f) = cx.facts.get(&beside(cx, e, rel)) {
                (rel.clone(), Arc::clone(f))
            } else {
                let (path, text) = read(cx, e, &ptr, rel, "facts file")?;
                let value = match crate::yaml::parse_value(&text) {
                    Ok(v) => v,
                    Err(err) => {
                        cx.error_at(
                            &Source::new(path, text),
                            err.pos,
                            format!("invalid YAML: {}", err.message),
                        );
                        return None;
                    }
                };
                let src = Source::new(path.clone(), text);
                let facts: Facts = cx.de(&src, "", &value)?;
                let facts = Arc::new(facts);
                cx.facts.insert(path, Arc::clone(&facts));
                (rel.clone(), facts)
            }
        }
        Some(v @ Value::Object(_)) => {
            let facts: Facts = cx.de(e, &ptr, v)?;
            ("inline".to_owned(), Arc::new(facts))
        }
        Some(_) => {
            cx.error(e, &ptr, "`facts` must be a file name or a mapping")
                .hint = Some("e.g. `facts: facts.yaml`".into());
            return None;
        }
    };
    for (i, f) in facts.facts.iter().enumerate() {
        if f.key.trim().is_empty() {
            cx.error(
                e,
                &ptr,
                format!("fact {i} of `{facts_path}` has an empty `key`"),
            );
            return None;
        }
    }
    Some(FactualitySpec {
        facts_path,
        facts,
        require_citations: a.require_citations.unwrap_or(false),
        flag_unsupported: a.flag_unsupported.unwrap_or(true),
    })
}

fn style(cx: &mut Ctx, e: &Source, p: &str, a: &raw::Assertion) -> Option<StyleSpec> {
    let tone = match a.tone.as_deref() {
        None => None,
        Some(t) => match Tone::parse(t) {
            Some(t) => Some(t),
            None => {
                cx.error(e, &push_pointer(p, "tone"), format!("unknown tone `{t}`"))
                    .hint = Some(suggest(t, "tones", Tone::NAMES));
                return None;
            }
        },
    };
    if let Some(x) = a.max_passive
        && !(0.0..=1.0).contains(&x)
    {
        cx.error(
            e,
            &push_pointer(p, "max_passive"),
            "`max_passive` is a share between 0 and 1",
        )
        .hint = Some("e.g. `max_passive: 0.2` for at most one sentence in five".into());
        return None;
    }
    let spec = StyleSpec {
        min_reading_ease: a.min_reading_ease,
        max_reading_ease: a.max_reading_ease,
        max_grade: a.max_grade,
        max_smog: a.max_smog,
        max_coleman_liau: a.max_coleman_liau,
        max_passive: a.max_passive,
        max_sentence_words: a.max_sentence_words,
        max_mean_sentence_words: a.max_mean_sentence_words,
        tone,
        banned: a.banned.clone().unwrap_or_default(),
        required: a.required.clone().unwrap_or_default(),
    };
    if spec == StyleSpec::default() {
        cx.error(e, p, "`style` needs at least one bound").hint = Some(
            "e.g. `max_grade: 8`, `min_reading_ease: 60`, `tone: professional` or `banned: [...]`"
                .into(),
        );
        return None;
    }
    Some(spec)
}

fn performance(cx: &mut Ctx, e: &Source, p: &str, a: &raw::Assertion) -> Option<PerformanceSpec> {
    let spec = PerformanceSpec {
        p50_ms: a.p50_ms,
        p95_ms: a.p95_ms,
        p99_ms: a.p99_ms,
        max_ttft_ms: a.max_ttft_ms,
        min_tokens_per_second: a.min_tokens_per_second,
        max_tokens_per_word: a.max_tokens_per_word,
        baseline_tolerance: a.baseline_tolerance,
    };
    if spec == PerformanceSpec::default() {
        cx.error(e, p, "`performance` needs at least one bound").hint = Some(
            "e.g. `p95_ms: 800`, `max_ttft_ms: 300` or `baseline_tolerance: 0.2`; run with `--repeat N` for percentiles over N trials"
                .into(),
        );
        return None;
    }
    for (key, v) in [
        ("p50_ms", a.p50_ms),
        ("p95_ms", a.p95_ms),
        ("p99_ms", a.p99_ms),
        ("max_ttft_ms", a.max_ttft_ms),
        ("min_tokens_per_second", a.min_tokens_per_second),
        ("max_tokens_per_word", a.max_tokens_per_word),
        ("baseline_tolerance", a.baseline_tolerance),
    ] {
        if v.is_some_and(|x| x.is_nan() || x < 0.0) {
            cx.error(
                e,
                &push_pointer(p, key),
                format!("`{key}` must be a non-negative number"),
            );
            return None;
        }
    }
    Some(spec)
}

fn judge(cx: &mut Ctx, e: &Source, p: &str, a: &raw::Assertion) -> Option<JudgeSpec> {
    let judge = match (&a.judge, &a.provider) {
        (Some(agent), None) => {
            if !cx.has("agents", agent) {
                cx.unknown(e, &push_pointer(p, "judge"), "agents", "agent", agent);
                return None;
            }
            if a.model.is_some() {
                cx.error(
                    e,
                    &push_pointer(p, "model"),
                    "`model` goes with `provider`; a `judge` agent has its own model",
                );
                return None;
            }
            Judge::Agent(agent.clone())
        }
        (None, Some(provider)) => {
            if !cx.has("providers", provider) {
                cx.unknown(
                    e,
                    &push_pointer(p, "provider"),
                    "providers",
                    "provider",
                    provider,
                );
                return None;
            }
            Judge::Provider {
                provider: provider.clone(),
                model: a.model.clone(),
            }
        }
        (Some(_), Some(_)) => {
            cx.error(
                e,
                &push_pointer(p, "provider"),
                "give `judge` or `provider`, not both",
            )
            .hint = Some("`judge` names an agent; `provider` (with `model`) a provider".into());
            return None;
        }
        (None, None) => {
            cx.error(e, p, "`llm-judge` needs a `judge` agent or a `provider`")
                .hint = Some(
                "e.g. `{ type: llm-judge, judge: grader, criteria: \"answers politely\" }`".into(),
            );
            return None;
        }
    };
    let criteria = a
        .criteria
        .clone()
        .or_else(|| a.value.as_ref().and_then(Value::as_str).map(str::to_owned));
    let Some(criteria) = criteria.filter(|c| !c.trim().is_empty()) else {
        cx.error(e, p, "`llm-judge` needs `criteria`").hint = Some(
            "describe what a good answer does, e.g. `criteria: \"apologises and offers a refund\"`"
                .into(),
        );
        return None;
    };
    let (score_min, score_max) = match a.score_range.as_deref() {
        None => (1.0, 5.0),
        Some([lo, hi]) if lo < hi => (*lo, *hi),
        Some(_) => {
            cx.error(
                e,
                &push_pointer(p, "score_range"),
                "`score_range` is `[min, max]` with min < max",
            )
            .hint = Some("e.g. `score_range: [1, 10]`".into());
            return None;
        }
    };
    let pass_score = a
        .pass_score
        .unwrap_or(score_min + 0.6 * (score_max - score_min));
    if !(score_min..=score_max).contains(&pass_score) {
        cx.error(
            e,
            &push_pointer(p, "pass_score"),
            format!(
                "`pass_score` {pass_score} is outside the score range [{score_min}, {score_max}]"
            ),
        );
        return None;
    }
    Some(JudgeSpec {
        judge,
        criteria,
        steps: a.steps.clone().unwrap_or_default(),
        score_min,
        score_max,
        pass_score,
        reference: a.reference.clone(),
    })
}

fn policy(cx: &mut Ctx, e: &Source, p: &str, a: &raw::Assertion) -> Option<PolicySpec> {
    let inline = a
        .rego
        .clone()
        .or_else(|| a.value.as_ref().and_then(Value::as_str).map(str::to_owned));
    let (origin, rego, at) = match (inline, &a.file) {
        (Some(r), None) => ("inline".to_owned(), r, None),
        (None, Some(f)) => {
            let (path, text) = read(cx, e, &push_pointer(p, "file"), f, "Rego file")?;
            (f.clone(), text, Some(path))
        }
        (Some(_), Some(_)) => {
            cx.error(
                e,
                &push_pointer(p, "file"),
                "give `rego` or `file`, not both",
            );
            return None;
        }
        (None, None) => {
            cx.error(e, p, "`policy` needs a Rego module as `rego` or `file`")
                .hint = Some("e.g. `file: policies/no_refunds.rego` with a `deny` rule".into());
            return None;
        }
    };
    let package = match gauntlet_eval::policy::compile(&origin, &rego) {
        Ok(package) => package,
        Err(err) => {
            let message = format!("invalid Rego: {}", err.message);
            let hint = "policies are Rego v1: `deny contains msg if { ... }`".to_owned();
            match (at, err.line) {
                (Some(path), Some(line)) => {
                    let pos = crate::yaml::Pos {
                        line,
                        col: err.col.unwrap_or(1),
                    };
                    cx.error_at(&Source::new(path, rego.clone()), pos, message)
                        .hint = Some(hint);
                }
                (None, Some(line)) => {
                    let ptr = push_pointer(p, if a.rego.is_some() { "rego" } else { "value" });
                    cx.error(e, &ptr, format!("{message} (line {line} of the module)"))
                        .hint = Some(hint);
                }
                _ => cx.error(e, p, message).hint = Some(hint),
            }
            return None;
        }
    };
    let query = a.query.clone().unwrap_or_else(|| format!("{package}.deny"));
    if !query.starts_with("data.") {
        cx.error(
            e,
            &push_pointer(p, "query"),
            "`query` is a rule path such as `data.gauntlet.deny`",
        );
        return None;
    }
    Some(PolicySpec {
        origin,
        rego,
        package,
        query,
    })
}

fn custom(cx: &mut Ctx, e: &Source, p: &str, a: &raw::Assertion) -> Option<CustomSpec> {
    let (ptr, v) = match (&a.command, &a.value) {
        (Some(v), _) => (push_pointer(p, "command"), v),
        (None, Some(v)) => (push_pointer(p, "value"), v),
        (None, None) => {
            cx.error(e, p, "`custom` needs a `command`").hint = Some(
                "e.g. `command: [python3, graders/tone.py]`; it reads the case as JSON on stdin and prints `{\"pass\": true, \"score\": 1, \"reason\": \"...\"}`"
                    .into(),
            );
            return None;
        }
    };
    let command: Vec<String> = match v {
        Value::String(s) => s.split_whitespace().map(str::to_owned).collect(),
        Value::Array(items) => items
            .iter()
            .filter_map(|x| x.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    };
    if command.is_empty() || matches!(v, Value::Array(items) if items.len() != command.len()) {
        cx.error(
            e,
            &ptr,
            "`command` must be a program and its arguments, as text",
        )
        .hint = Some("e.g. `command: [python3, graders/tone.py]`".into());
        return None;
    }
    if !cx.program(e, &ptr, &command[0], None) {
        return None;
    }
    Some(CustomSpec {
        command,
        timeout_ms: a.timeout_ms.unwrap_or(30_000),
        dir: e
            .path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
    })
}
