//! Settings of the evaluators beyond string matching: security, factuality, style,
//! performance, LLM judge, Rego policy and external commands.
//!
//! Validation (`gauntlet-spec`) builds these from YAML; `gauntlet-eval` and the engine apply
//! them. Their serde form is part of the configuration snapshot, so anything that changes a
//! verdict is serialised and anything machine-specific (absolute paths) is not.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A family of security findings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecurityCheck {
    Pii,
    Secrets,
    PromptInjection,
    CodeSafety,
    SqlInjection,
}

impl SecurityCheck {
    pub const ALL: [SecurityCheck; 5] = [
        SecurityCheck::Pii,
        SecurityCheck::Secrets,
        SecurityCheck::PromptInjection,
        SecurityCheck::CodeSafety,
        SecurityCheck::SqlInjection,
    ];
    pub const NAMES: [&'static str; 5] = [
        "pii",
        "secrets",
        "prompt_injection",
        "code_safety",
        "sql_injection",
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SecurityCheck::Pii => "pii",
            SecurityCheck::Secrets => "secrets",
            SecurityCheck::PromptInjection => "prompt_injection",
            SecurityCheck::CodeSafety => "code_safety",
            SecurityCheck::SqlInjection => "sql_injection",
        }
    }

    pub fn parse(s: &str) -> Option<SecurityCheck> {
        SecurityCheck::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// How eager the security scanner is: `low` reports only unambiguous findings, `high` adds
/// heuristics (entropy, weak injection phrasing) that may be false positives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sensitivity {
    Low,
    #[default]
    Medium,
    High,
}

impl Sensitivity {
    pub fn parse(s: &str) -> Option<Sensitivity> {
        match s {
            "low" => Some(Sensitivity::Low),
            "medium" => Some(Sensitivity::Medium),
            "high" => Some(Sensitivity::High),
            _ => None,
        }
    }
}

/// Severity of one finding. `Low` findings are warnings: they fail an assertion only with
/// `fail_on_warning`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SecuritySpec {
    pub checks: Vec<SecurityCheck>,
    pub sensitivity: Sensitivity,
    pub fail_on_warning: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tone {
    Formal,
    Casual,
    Friendly,
    Professional,
}

impl Tone {
    pub const NAMES: [&'static str; 4] = ["formal", "casual", "friendly", "professional"];

    pub fn as_str(self) -> &'static str {
        match self {
            Tone::Formal => "formal",
            Tone::Casual => "casual",
            Tone::Friendly => "friendly",
            Tone::Professional => "professional",
        }
    }

    pub fn parse(s: &str) -> Option<Tone> {
        match s {
            "formal" => Some(Tone::Formal),
            "casual" => Some(Tone::Casual),
            "friendly" => Some(Tone::Friendly),
            "professional" => Some(Tone::Professional),
            _ => None,
        }
    }
}

/// Bounds on readability and style; every bound is optional, and the assertion's score is the
/// share of the given bounds that hold.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct StyleSpec {
    /// Flesch reading ease (higher is easier).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_reading_ease: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_reading_ease: Option<f64>,
    /// Flesch–Kincaid grade level.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_grade: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_smog: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_coleman_liau: Option<f64>,
    /// Largest share (0–1) of sentences in the passive voice.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_passive: Option<f64>,
    /// Longest sentence, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_sentence_words: Option<f64>,
    /// Mean sentence length, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_mean_sentence_words: Option<f64>,
    /// The dominant tone the text must have.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tone: Option<Tone>,
    /// Phrases that must not appear (case-insensitive, on word boundaries).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub banned: Vec<String>,
    /// Phrases that must appear (case-insensitive, on word boundaries).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub required: Vec<String>,
}

/// A ground-truth file for `factuality`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Facts {
    #[serde(default)]
    pub facts: Vec<Fact>,
    /// Names known to be real in this context (people, places, products); names in the output
    /// that are neither here nor in a fact or source are flagged as possible hallucinations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entities: Vec<String>,
    /// Documents the output may cite, by `id` (`[1]`, `[doc-a]`, `[source: doc-a]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<FactSource>,
}

/// One fact: a subject/attribute `key` (with aliases as the output may phrase it) and its true
/// value: a number (with unit and relative tolerance), a date (`YYYY`, `YYYY-MM` or
/// `YYYY-MM-DD`) or a text such as a name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fact {
    pub key: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    pub value: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// Relative tolerance for numbers (0.01 = 1 %); default exact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FactSource {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The source's text; claims found in it count as supported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FactualitySpec {
    /// The facts file as given in YAML (relative to the project file).
    pub facts_path: String,
    pub facts: Arc<Facts>,
    /// Every sentence with a checkable claim must cite a source, and every citation must
    /// resolve to one of `sources`.
    pub require_citations: bool,
    /// Whether claims found nowhere in the facts (numbers, names) lower the score; default true.
    pub flag_unsupported: bool,
}

/// Latency and throughput bounds, evaluated over all trials of a case (`--repeat N`).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PerformanceSpec {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p50_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p95_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p99_ms: Option<f64>,
    /// Time to first token of the case's first model call, at p95 over trials.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_ttft_ms: Option<f64>,
    /// Output tokens per second of generation, at the median over trials.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_tokens_per_second: Option<f64>,
    /// Total tokens spent per word of final output (token efficiency), median over trials.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens_per_word: Option<f64>,
    /// Fail when p50 or p95 latency exceeds the suite's baseline run by more than this share
    /// (0.2 = 20 %).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline_tolerance: Option<f64>,
}

/// Who judges: an agent of the project (its provider, model, system prompt and, with the mock
/// provider, its scripted replies), or a provider and model directly.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Judge {
    Agent(String),
    Provider {
        provider: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        model: Option<String>,
    },
}

/// A G-Eval style rubric.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct JudgeSpec {
    pub judge: Judge,
    pub criteria: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<String>,
    pub score_min: f64,
    pub score_max: f64,
    /// The raw score (on the rubric's scale) that passes.
    pub pass_score: f64,
    /// A reference answer shown to the judge.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

/// A Rego policy evaluated over the case transcript; every message of its `deny` rule is a
/// failure reason.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PolicySpec {
    /// `inline` or the file as given in YAML.
    pub origin: String,
    pub rego: String,
    pub package: String,
    /// The rule queried, `data.<package>.deny` unless set.
    pub query: String,
}

/// An external evaluator: the case as JSON on stdin, `{pass, score, reason}` on stdout.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CustomSpec {
    pub command: Vec<String>,
    pub timeout_ms: u64,
    /// The project directory, where the command runs (machine-specific, so not serialised).
    #[serde(skip)]
    pub dir: std::path::PathBuf,
}
