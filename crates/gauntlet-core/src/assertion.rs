//! Assertions: what a case checks about its output, steps and costs. Names match the YAML
//! `type`; evaluators beyond string matching take their settings from `crate::evaluators`.

use serde::Serialize;
use serde_json::Value;

use crate::evaluators::{
    CustomSpec, FactualitySpec, JudgeSpec, PerformanceSpec, PolicySpec, SecuritySpec, StyleSpec,
};
use crate::model::{Pattern, Schema};

#[derive(Clone, Debug, Serialize)]
pub struct Assertion {
    pub check: Check,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub negate: bool,
    pub weight: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
}

impl Assertion {
    /// The assertion type as written in YAML, including a `not-` prefix.
    pub fn type_name(&self) -> String {
        if self.negate {
            format!("not-{}", self.check.name())
        } else {
            self.check.name().to_owned()
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SimilarityMethod {
    Levenshtein,
    TokenOverlap,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    Total,
    Input,
    Output,
}

/// What an assertion checks. Names match the YAML `type`.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Check {
    Equals {
        value: String,
    },
    Contains {
        value: String,
    },
    Icontains {
        value: String,
    },
    ContainsAny {
        values: Vec<String>,
    },
    ContainsAll {
        values: Vec<String>,
    },
    IcontainsAny {
        values: Vec<String>,
    },
    IcontainsAll {
        values: Vec<String>,
    },
    Regex {
        pattern: Pattern,
    },
    StartsWith {
        value: String,
    },
    EndsWith {
        value: String,
    },
    IsJson,
    JsonSchema {
        schema: Schema,
    },
    JsonPath {
        path: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        value: Option<Value>,
    },
    Similarity {
        value: String,
        method: SimilarityMethod,
    },
    WordCount {
        #[serde(skip_serializing_if = "Option::is_none")]
        min: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        max: Option<u64>,
    },
    Length {
        #[serde(skip_serializing_if = "Option::is_none")]
        min: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        max: Option<u64>,
    },
    Latency {
        max_ms: f64,
    },
    Cost {
        max_usd: f64,
    },
    Tokens {
        max: u64,
        kind: TokenKind,
    },
    ToolCalled {
        name: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        args: Option<Value>,
    },
    ToolSequence {
        names: Vec<String>,
        exact: bool,
    },
    NoTool {
        #[serde(skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
    NodeOutput {
        #[serde(skip_serializing_if = "Option::is_none")]
        value: Option<String>,
    },
    ContractValid,
    Security(SecuritySpec),
    Factuality(FactualitySpec),
    Style(StyleSpec),
    Performance(PerformanceSpec),
    LlmJudge(JudgeSpec),
    Policy(PolicySpec),
    Custom(CustomSpec),
}

impl Check {
    pub fn name(&self) -> &'static str {
        match self {
            Check::Equals { .. } => "equals",
            Check::Contains { .. } => "contains",
            Check::Icontains { .. } => "icontains",
            Check::ContainsAny { .. } => "contains-any",
            Check::ContainsAll { .. } => "contains-all",
            Check::IcontainsAny { .. } => "icontains-any",
            Check::IcontainsAll { .. } => "icontains-all",
            Check::Regex { .. } => "regex",
            Check::StartsWith { .. } => "starts-with",
            Check::EndsWith { .. } => "ends-with",
            Check::IsJson => "is-json",
            Check::JsonSchema { .. } => "json-schema",
            Check::JsonPath { .. } => "json-path",
            Check::Similarity { .. } => "similarity",
            Check::WordCount { .. } => "word-count",
            Check::Length { .. } => "length",
            Check::Latency { .. } => "latency",
            Check::Cost { .. } => "cost",
            Check::Tokens { .. } => "tokens",
            Check::ToolCalled { .. } => "tool-called",
            Check::ToolSequence { .. } => "tool-sequence",
            Check::NoTool { .. } => "no-tool",
            Check::NodeOutput { .. } => "node-output",
            Check::ContractValid => "contract-valid",
            Check::Security(_) => "security",
            Check::Factuality(_) => "factuality",
            Check::Style(_) => "style",
            Check::Performance(_) => "performance",
            Check::LlmJudge(_) => "llm-judge",
            Check::Policy(_) => "policy",
            Check::Custom(_) => "custom",
        }
    }

    /// Every assertion type, for did-you-mean hints and documentation.
    pub const NAMES: [&'static str; 31] = [
        "equals",
        "contains",
        "icontains",
        "contains-any",
        "contains-all",
        "icontains-any",
        "icontains-all",
        "regex",
        "starts-with",
        "ends-with",
        "is-json",
        "json-schema",
        "json-path",
        "similarity",
        "word-count",
        "length",
        "latency",
        "cost",
        "tokens",
        "tool-called",
        "tool-sequence",
        "no-tool",
        "node-output",
        "contract-valid",
        "security",
        "factuality",
        "style",
        "performance",
        "llm-judge",
        "policy",
        "custom",
    ];
}
