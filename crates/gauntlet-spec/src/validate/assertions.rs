//! Assertion parameters: which keys each `type` takes, and their values.

use gauntlet_core::model::{Assertion, Check, Project, SimilarityMethod, Target, TokenKind};
use serde_json::Value;

use crate::diag::suggest;
use crate::load::Source;
use crate::raw;
use crate::validate::{Ctx, evaluators};
use crate::yaml::push_pointer;

/// What the suite's targets make available to assertions (graph nodes for `node:`).
pub struct Scope {
    /// `None` when some target is an agent (no nodes); otherwise the union of node names.
    nodes: Option<Vec<String>>,
}

impl Scope {
    pub fn new(project: &Project, targets: &[Target]) -> Scope {
        let mut nodes = Some(Vec::new());
        for t in targets {
            match t {
                Target::Agent(_) | Target::Mcp(_) => nodes = None,
                Target::Graph(g) => {
                    if let (Some(list), Some(graph)) = (nodes.as_mut(), project.graphs.get(g)) {
                        list.extend(graph.nodes.keys().cloned());
                    }
                }
            }
        }
        Scope { nodes }
    }
}

/// Keys every assertion may have besides `type`.
const COMMON: [&str; 4] = ["weight", "node", "metric", "threshold"];

fn params(name: &str) -> &'static [&'static str] {
    if let Some(p) = evaluators::params(name) {
        return p;
    }
    match name {
        "equals" | "contains" | "icontains" | "starts-with" | "ends-with" | "regex" => &["value"],
        "contains-any" | "contains-all" | "icontains-any" | "icontains-all" => &["value"],
        "is-json" | "contract-valid" => &[],
        "json-schema" => &["value", "schema"],
        "json-path" => &["path", "value"],
        "similarity" => &["value", "method"],
        "word-count" | "length" => &["min", "max"],
        "latency" => &["max_ms", "value"],
        "cost" => &["max_usd", "value"],
        "tokens" => &["max", "value", "kind"],
        "tool-called" => &["name", "value", "args"],
        "tool-sequence" => &["value", "exact"],
        "no-tool" => &["name", "value"],
        "node-output" => &["value"],
        _ => &[],
    }
}

fn given(a: &raw::Assertion) -> Vec<&'static str> {
    let mut out = Vec::new();
    let fields: [(&'static str, bool); 13] = [
        ("value", a.value.is_some()),
        ("method", a.method.is_some()),
        ("min", a.min.is_some()),
        ("max", a.max.is_some()),
        ("max_ms", a.max_ms.is_some()),
        ("max_usd", a.max_usd.is_some()),
        ("kind", a.kind.is_some()),
        ("name", a.name.is_some()),
        ("args", a.args.is_some()),
        ("exact", a.exact.is_some()),
        ("path", a.path.is_some()),
        ("schema", a.schema.is_some()),
        ("threshold", a.threshold.is_some()),
    ];
    for (k, present) in fields {
        if present {
            out.push(k);
        }
    }
    out.extend(evaluators::given(a));
    out
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(_) | Value::Bool(_) => Some(v.to_string()),
        _ => None,
    }
}

fn texts(v: &Value) -> Option<Vec<String>> {
    match v {
        Value::Array(items) if !items.is_empty() => items.iter().map(text).collect(),
        other => text(other).map(|t| vec![t]),
    }
}

pub fn check(
    cx: &mut Ctx,
    e: &Source,
    p: &str,
    a: raw::Assertion,
    scope: &Scope,
) -> Option<Assertion> {
    let type_ptr = push_pointer(p, "type");
    let (negate, name) = match a.check_type.strip_prefix("not-") {
        Some(rest) => (true, rest.to_owned()),
        None => (false, a.check_type.clone()),
    };
    if !Check::NAMES.contains(&name.as_str()) {
        let mut all: Vec<String> = Check::NAMES.iter().map(|s| (*s).to_owned()).collect();
        all.extend(Check::NAMES.iter().map(|s| format!("not-{s}")));
        let hint = suggest(
            &a.check_type,
            "assertion types",
            all.iter().map(String::as_str),
        );
        cx.error(
            e,
            &type_ptr,
            format!("unknown assertion type `{}`", a.check_type),
        )
        .hint = Some(hint);
        return None;
    }
    let allowed = params(&name);
    let mut ok = true;
    for key in given(&a) {
        if !allowed.contains(&key) && !COMMON.contains(&key) {
            let hint = if allowed.is_empty() {
                format!("`{name}` takes no parameters")
            } else {
                format!("`{name}` takes: {}", allowed.join(", "))
            };
            cx.error(
                e,
                &push_pointer(p, key),
                format!("`{key}` has no meaning for a `{name}` assertion"),
            )
            .hint = Some(hint);
            ok = false;
        }
    }
    if !ok {
        return None;
    }
    let value_ptr = push_pointer(p, "value");
    let need = |cx: &mut Ctx, what: &str, example: &str| {
        cx.error(e, p, format!("`{name}` needs {what}")).hint =
            Some(format!("e.g. `{{ type: {name}, {example} }}`"));
    };
    let value_text = a.value.as_ref().and_then(text);
    let check = match name.as_str() {
        "equals" | "contains" | "icontains" | "starts-with" | "ends-with" | "node-output" => {
            let v = match (&a.value, name.as_str()) {
                (Some(Value::Object(_) | Value::Array(_)), "equals") => {
                    a.value.as_ref().map(|v| v.to_string())
                }
                _ => value_text.clone(),
            };
            match (name.as_str(), v) {
                ("node-output", v) => Check::NodeOutput { value: v },
                (_, None) => {
                    need(cx, "a `value`", "value: hello");
                    return None;
                }
                ("equals", Some(value)) => Check::Equals { value },
                ("contains", Some(value)) => Check::Contains { value },
                ("icontains", Some(value)) => Check::Icontains { value },
                ("starts-with", Some(value)) => Check::StartsWith { value },
                (_, Some(value)) => Check::EndsWith { value },
            }
        }
        "contains-any" | "contains-all" | "icontains-any" | "icontains-all" => {
            let Some(values) = a.value.as_ref().and_then(texts) else {
                need(cx, "a list of texts as `value`", "value: [a, b]");
                return None;
            };
            match name.as_str() {
                "contains-any" => Check::ContainsAny { values },
                "contains-all" => Check::ContainsAll { values },
                "icontains-any" => Check::IcontainsAny { values },
                _ => Check::IcontainsAll { values },
            }
        }
        "regex" => {
            let Some(src) = value_text else {
                need(cx, "a pattern as `value`", "value: \"^hello\"");
                return None;
            };
            match cx.regex(&src) {
                Ok(pattern) => Check::Regex { pattern },
                Err(err) => {
                    cx.error(e, &value_ptr, crate::diag::regex_error(&err)).hint = Some(
                        "patterns use Rust regex syntax; escape backslashes inside double quotes"
                            .into(),
                    );
                    return None;
                }
            }
        }
        "is-json" => Check::IsJson,
        "contract-valid" => Check::ContractValid,
        "json-schema" => {
            let (ptr, source) = match (&a.schema, &a.value) {
                (Some(s), None) => (push_pointer(p, "schema"), s),
                (None, Some(v)) => (value_ptr.clone(), v),
                _ => {
                    need(
                        cx,
                        "the schema as `schema` (or `value`), once",
                        "schema: { type: object }",
                    );
                    return None;
                }
            };
            Check::JsonSchema {
                schema: cx.schema(e, &ptr, source)?,
            }
        }
        "json-path" => {
            let Some(path) = a.path.clone() else {
                need(cx, "a `path`", "path: $.items[0].id, value: 7");
                return None;
            };
            if !path.starts_with('$') {
                cx.error(e, &push_pointer(p, "path"), "JSON paths start with `$`")
                    .hint = Some("e.g. `$.order.status` or `$.items[0]`".into());
                return None;
            }
            Check::JsonPath {
                path,
                value: a.value.clone(),
            }
        }
        "similarity" => {
            let Some(value) = value_text else {
                need(
                    cx,
                    "a `value` to compare with",
                    "value: \"hello world\", threshold: 0.8",
                );
                return None;
            };
            let method = match a.method.as_deref() {
                None | Some("levenshtein") => SimilarityMethod::Levenshtein,
                Some("token-overlap") => SimilarityMethod::TokenOverlap,
                Some(other) => {
                    let hint = suggest(other, "methods", ["levenshtein", "token-overlap"]);
                    cx.error(
                        e,
                        &push_pointer(p, "method"),
                        format!("unknown similarity method `{other}`"),
                    )
                    .hint = Some(hint);
                    return None;
                }
            };
            Check::Similarity { value, method }
        }
        "word-count" | "length" => {
            if a.min.is_none() && a.max.is_none() {
                need(cx, "`min`, `max` or both", "min: 3, max: 50");
                return None;
            }
            if let (Some(lo), Some(hi)) = (a.min, a.max)
                && lo > hi
            {
                cx.error(e, &push_pointer(p, "min"), "`min` is greater than `max`");
                return None;
            }
            if name == "length" {
                Check::Length {
                    min: a.min,
                    max: a.max,
                }
            } else {
                Check::WordCount {
                    min: a.min,
                    max: a.max,
                }
            }
        }
        "latency" | "cost" => {
            let key = if name == "latency" {
                "max_ms"
            } else {
                "max_usd"
            };
            let bound = if name == "latency" {
                a.max_ms
            } else {
                a.max_usd
            }
            .or_else(|| a.value.as_ref().and_then(Value::as_f64));
            match bound {
                Some(b) if b >= 0.0 => {
                    if name == "latency" {
                        Check::Latency { max_ms: b }
                    } else {
                        Check::Cost { max_usd: b }
                    }
                }
                _ => {
                    need(
                        cx,
                        &format!("a non-negative `{key}`"),
                        &format!("{key}: 1000"),
                    );
                    return None;
                }
            }
        }
        "tokens" => {
            let Some(max) = a.max.or_else(|| a.value.as_ref().and_then(Value::as_u64)) else {
                need(cx, "a `max`", "max: 500");
                return None;
            };
            let kind = match a.kind.as_deref() {
                None | Some("total") => TokenKind::Total,
                Some("input") => TokenKind::Input,
                Some("output") => TokenKind::Output,
                Some(other) => {
                    let hint = suggest(other, "kinds", ["total", "input", "output"]);
                    cx.error(
                        e,
                        &push_pointer(p, "kind"),
                        format!("unknown token kind `{other}`"),
                    )
                    .hint = Some(hint);
                    return None;
                }
            };
            Check::Tokens { max, kind }
        }
        "tool-called" | "no-tool" => {
            let tool = a.name.clone().or(value_text);
            if let Some(t) = &tool
                && !cx.known_tool(t)
            {
                let ptr = if a.name.is_some() {
                    push_pointer(p, "name")
                } else {
                    value_ptr.clone()
                };
                cx.unknown(e, &ptr, "tools", "tool", t);
                return None;
            }
            if name == "no-tool" {
                Check::NoTool { name: tool }
            } else {
                let Some(tool) = tool else {
                    need(cx, "the tool `name`", "name: lookup_order");
                    return None;
                };
                if a.args.as_ref().is_some_and(|v| !v.is_object()) {
                    cx.error(
                        e,
                        &push_pointer(p, "args"),
                        "`args` must be a mapping of argument values",
                    );
                    return None;
                }
                Check::ToolCalled {
                    name: tool,
                    args: a.args.clone(),
                }
            }
        }
        "tool-sequence" => {
            let Some(names) = a.value.as_ref().and_then(texts) else {
                need(
                    cx,
                    "the tool names in order as `value`",
                    "value: [search, lookup_order]",
                );
                return None;
            };
            for (i, t) in names.iter().enumerate() {
                if !cx.known_tool(t) {
                    cx.unknown(
                        e,
                        &push_pointer(&value_ptr, &i.to_string()),
                        "tools",
                        "tool",
                        t,
                    );
                    return None;
                }
            }
            Check::ToolSequence {
                names,
                exact: a.exact.unwrap_or(false),
            }
        }
        other => evaluators::check(cx, e, p, other, &a)?,
    };
    if let Some(t) = a.threshold
        && !(0.0..=1.0).contains(&t)
    {
        cx.error(
            e,
            &push_pointer(p, "threshold"),
            "`threshold` must be between 0 and 1",
        );
        return None;
    }
    let weight = a.weight.unwrap_or(1.0);
    // Also rejects NaN.
    if weight.is_nan() || weight < 0.0 {
        cx.error(
            e,
            &push_pointer(p, "weight"),
            "`weight` must be a non-negative number",
        );
        return None;
    }
    match (&a.node, &scope.nodes) {
        (Some(_), None) => {
            cx.error(
                e,
                &push_pointer(p, "node"),
                "`node` applies only when the suite's targets are graphs",
            );
            return None;
        }
        (Some(n), Some(nodes)) if !nodes.contains(n) => {
            let hint = suggest(n, "nodes", nodes.iter().map(String::as_str));
            cx.error(
                e,
                &push_pointer(p, "node"),
                format!("unknown graph node `{n}`"),
            )
            .hint = Some(hint);
            return None;
        }
        (None, _) if name == "node-output" => {
            need(cx, "a `node`", "node: billing");
            return None;
        }
        _ => {}
    }
    Some(Assertion {
        check,
        negate,
        weight,
        threshold: a.threshold,
        node: a.node,
        metric: a.metric,
    })
}
