//! From loaded entities to a validated `gauntlet_core::model::Project`.
//!
//! Parse, then validate: each entity is deserialized into its `crate::raw` type (structural
//! errors), then checked against the others (references, graph shape, assertion parameters).
//! All errors are collected; a project is returned only when there are none.

mod assertions;
mod de;

use std::collections::{HashMap, HashSet};

use gauntlet_core::expr::Expr;
use gauntlet_core::model::{
    Agent, Contract, Edge, ErrorKind, Graph, GraphNode, LatencyRange, MockBehaviour, MockError,
    MockReply, MockRule, MockToolCall, MockWhen, Pattern, Price, Project, Provider, ProviderKind,
    RetryPolicy, Schema, Secret, Suite, Target, Tool, ToolMockResult, ToolMockRule,
};
use gauntlet_core::template::Template;
use indexmap::IndexMap;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::diag::{Diagnostic, did_you_mean, suggest};
use crate::load::{Entity, Loaded, Source};
use crate::raw;
use crate::yaml::{Pos, push_pointer};

/// The outcome of validation: the project when there were no errors, and every diagnostic.
pub struct Validated {
    pub project: Option<Project>,
    pub diagnostics: Vec<Diagnostic>,
    /// Every file that was read, in load order.
    pub files: Vec<std::path::PathBuf>,
}

struct Ctx<'a> {
    diags: Vec<Diagnostic>,
    failed: bool,
    /// Compiled once per distinct source: suites repeat the same patterns and schemas in
    /// thousands of cases, and compiled regexes and validators are shared, not copied.
    regexes: HashMap<String, Pattern>,
    schemas: HashMap<String, Schema>,
    names: HashMap<&'static str, Vec<&'a str>>,
}

impl<'a> Ctx<'a> {
    fn error(
        &mut self,
        src: &Source,
        pointer: &str,
        message: impl Into<String>,
    ) -> &mut Diagnostic {
        self.error_at(src, src.spans().locate(pointer), message)
    }

    fn error_at(&mut self, src: &Source, pos: Pos, message: impl Into<String>) -> &mut Diagnostic {
        self.push(Diagnostic::error(&src.path, pos, message))
    }

    fn warning(
        &mut self,
        src: &Source,
        pointer: &str,
        message: impl Into<String>,
    ) -> &mut Diagnostic {
        let pos = src.spans().locate(pointer);
        self.push(Diagnostic::warning(&src.path, pos, message))
    }

    fn push(&mut self, d: Diagnostic) -> &mut Diagnostic {
        self.diags.push(d);
        let last = self.diags.len() - 1;
        &mut self.diags[last]
    }

    /// Deserializes a value; returns it also when only unknown keys had to be dropped (those
    /// are reported, and `self.failed` makes sure no project is produced).
    fn de<T: DeserializeOwned>(&mut self, src: &Source, pointer: &str, value: &Value) -> Option<T> {
        match de::deserialize(src, pointer, value, &mut self.diags) {
            de::Outcome::Clean(v) => Some(v),
            de::Outcome::UnknownKeysRemoved(v) => {
                self.failed = true;
                Some(v)
            }
            de::Outcome::Failed => None,
        }
    }

    fn has(&self, section: &str, name: &str) -> bool {
        self.names.get(section).is_some_and(|n| n.contains(&name))
    }

    fn names(&self, section: &str) -> Vec<&'a str> {
        self.names.get(section).cloned().unwrap_or_default()
    }

    /// Reports an unknown reference with a did-you-mean or the list of known names.
    fn unknown(&mut self, src: &Source, pointer: &str, section: &str, what: &str, name: &str) {
        let candidates = self.names(section);
        let hint = suggest(name, section, candidates.iter().copied());
        self.error(src, pointer, format!("unknown {what} `{name}`"))
            .hint = Some(hint);
    }

    fn regex(&mut self, source: &str) -> Result<Pattern, regex::Error> {
        if let Some(p) = self.regexes.get(source) {
            return Ok(p.clone());
        }
        let p = Pattern(regex::Regex::new(source)?);
        self.regexes.insert(source.to_owned(), p.clone());
        Ok(p)
    }

    fn schema(&mut self, src: &Source, pointer: &str, value: &Value) -> Option<Schema> {
        let key = gauntlet_core::hash::canonical_json(value);
        if let Some(s) = self.schemas.get(&key) {
            return Some(s.clone());
        }
        match Schema::compile(value.clone()) {
            Ok(s) => {
                self.schemas.insert(key, s.clone());
                Some(s)
            }
            Err(msg) => {
                self.error(src, pointer, format!("invalid JSON Schema: {msg}"))
                    .hint = Some("see https://json-schema.org/understanding-json-schema/".into());
                None
            }
        }
    }

    fn template(
        &mut self,
        src: &Source,
        pointer: &str,
        text: &str,
        roots: &[&str],
    ) -> Option<Template> {
        match Template::parse(text) {
            Ok(t) => {
                for root in t.roots() {
                    if !roots.contains(&root.as_str()) {
                        let hint = format!("templates here can read: {}", roots.join(", "));
                        self.error(
                            src,
                            pointer,
                            format!("template reads unknown value `{root}`"),
                        )
                        .hint = Some(hint);
                        return None;
                    }
                }
                Some(t)
            }
            Err(err) => {
                self.error(src, pointer, format!("invalid template: {}", err.message))
                    .hint = Some(
                    "placeholders look like `{{ input }}`; write `{{{{` for a literal `{{`".into(),
                );
                None
            }
        }
    }
}

pub fn validate(loaded: &Loaded) -> Validated {
    let mut names: HashMap<&'static str, Vec<&str>> = HashMap::new();
    for e in &loaded.entities {
        names.entry(e.section).or_default().push(e.name.as_str());
    }
    let mut cx = Ctx {
        diags: loaded.diagnostics.clone(),
        failed: false,
        regexes: HashMap::new(),
        schemas: HashMap::new(),
        names,
    };
    let mut project = Project::default();
    let mut contracts: HashMap<String, Contract> = HashMap::new();
    let mut complete = true;

    for section in raw::SECTIONS {
        for e in loaded.entities.iter().filter(|e| e.section == section) {
            let ok = match section {
                "providers" => provider(&mut cx, e)
                    .map(|p| project.providers.insert(e.name.clone(), p))
                    .is_some(),
                "tools" => tool(&mut cx, e)
                    .map(|t| project.tools.insert(e.name.clone(), t))
                    .is_some(),
                "contracts" => cx
                    .de::<raw::Contract>(&e.source, &e.pointer, &e.value)
                    .and_then(|c| contract(&mut cx, e, &e.pointer, c, Some(e.name.clone())))
                    .map(|c| contracts.insert(e.name.clone(), c))
                    .is_some(),
                "agents" => agent(&mut cx, e, &contracts, &project)
                    .map(|a| project.agents.insert(e.name.clone(), a))
                    .is_some(),
                "graphs" => graph(&mut cx, e)
                    .map(|g| project.graphs.insert(e.name.clone(), g))
                    .is_some(),
                _ => suite(&mut cx, e, &contracts, &project)
                    .map(|s| project.suites.insert(e.name.clone(), s))
                    .is_some(),
            };
            complete &= ok;
        }
    }
    let cx_failed = cx.failed;
    let mut diagnostics = cx.diags;
    let has_errors = diagnostics.iter().any(Diagnostic::is_error) || !complete || cx_failed;
    diagnostics.sort_by(|a, b| (&a.file, a.line, a.col).cmp(&(&b.file, b.line, b.col)));
    diagnostics.dedup();
    Validated {
        project: if has_errors { None } else { Some(project) },
        diagnostics,
        files: loaded.files.clone(),
    }
}

fn provider(cx: &mut Ctx, e: &Entity) -> Option<Provider> {
    let raw: raw::Provider = cx.de(&e.source, &e.pointer, &e.value)?;
    let kind = match raw.kind {
        raw::ProviderType::Mock => ProviderKind::Mock,
        raw::ProviderType::Openai => ProviderKind::Openai,
        raw::ProviderType::AzureOpenai => ProviderKind::AzureOpenai,
        raw::ProviderType::Anthropic => ProviderKind::Anthropic,
        raw::ProviderType::Gemini => ProviderKind::Gemini,
        raw::ProviderType::Bedrock => ProviderKind::Bedrock,
    };
    let key_ptr = push_pointer(&e.pointer, "api_key");
    let api_key = raw.api_key.map(|value| {
        let reference = e
            .source
            .credential(&key_ptr)
            .cloned()
            .unwrap_or_else(|| "***".to_owned());
        if reference == "***" {
            cx.warning(
                &e.source,
                &key_ptr,
                "credential written in plain text in the file",
            )
            .hint = Some(
                "write `api_key: ${secret:NAME}` and keep the value in the environment or `.env`"
                    .into(),
            );
        }
        Secret::new(reference, value)
    });
    let mut pricing = IndexMap::new();
    for (model, price) in raw.pricing {
        if price.input_per_mtok < 0.0 || price.output_per_mtok < 0.0 {
            let p = push_pointer(&push_pointer(&e.pointer, "pricing"), &model);
            cx.error(&e.source, &p, "prices cannot be negative");
            return None;
        }
        pricing.insert(
            model,
            Price {
                input_per_mtok: price.input_per_mtok,
                output_per_mtok: price.output_per_mtok,
            },
        );
    }
    Some(Provider {
        name: e.name.clone(),
        kind,
        base_url: raw.base_url,
        api_key,
        model: raw.model,
        pricing,
    })
}

fn latency(
    cx: &mut Ctx,
    e: &Entity,
    pointer: &str,
    value: Option<&Value>,
) -> Result<Option<LatencyRange>, ()> {
    let range = match value {
        None => return Ok(None),
        Some(Value::Number(n)) => n.as_u64().map(|v| LatencyRange { min: v, max: v }),
        Some(Value::Object(m)) if m.keys().all(|k| k == "min" || k == "max") => {
            match (
                m.get("min").and_then(Value::as_u64),
                m.get("max").and_then(Value::as_u64),
            ) {
                (Some(min), Some(max)) if min <= max => Some(LatencyRange { min, max }),
                _ => None,
            }
        }
        Some(_) => None,
    };
    match range {
        Some(r) => Ok(Some(r)),
        None => {
            cx.error(&e.source, pointer, "invalid latency").hint =
                Some("give milliseconds as a number (`latency_ms: 20`) or a range (`latency_ms: { min: 5, max: 20 }`, min ≤ max)".into());
            Err(())
        }
    }
}

fn tool(cx: &mut Ctx, e: &Entity) -> Option<Tool> {
    let raw: raw::Tool = cx.de(&e.source, &e.pointer, &e.value)?;
    let mut ok = true;
    let params_ptr = push_pointer(&e.pointer, "parameters");
    let parameters = raw
        .parameters
        .unwrap_or_else(|| serde_json::json!({"type": "object"}));
    let parameters_schema = cx.schema(&e.source, &params_ptr, &parameters);
    ok &= parameters_schema.is_some();
    let mut mock = Vec::new();
    for (i, rule) in raw.mock.into_iter().enumerate() {
        let p = push_pointer(&push_pointer(&e.pointer, "mock"), &i.to_string());
        let result = match (rule.returns, rule.error) {
            (Some(v), None) => ToolMockResult::Return(v),
            (None, Some(err)) => ToolMockResult::Error(err),
            _ => {
                cx.error(
                    &e.source,
                    &p,
                    "a tool mock rule needs exactly one of `return` or `error`",
                );
                ok = false;
                continue;
            }
        };
        let Ok(latency_ms) = latency(
            cx,
            e,
            &push_pointer(&p, "latency_ms"),
            rule.latency_ms.as_ref(),
        ) else {
            ok = false;
            continue;
        };
        mock.push(ToolMockRule {
            when: rule.when,
            result,
            latency_ms,
        });
    }
    ok.then(|| Tool {
        name: e.name.clone(),
        description: raw.description,
        parameters,
        parameters_schema,
        mock,
    })
}

fn contract(
    cx: &mut Ctx,
    e: &Entity,
    pointer: &str,
    raw: raw::Contract,
    name: Option<String>,
) -> Option<Contract> {
    let mut ok = true;
    let input_schema = raw.input_schema.as_ref().and_then(|s| {
        let r = cx.schema(&e.source, &push_pointer(pointer, "input_schema"), s);
        ok &= r.is_some();
        r
    });
    let output_schema = raw.output_schema.as_ref().and_then(|s| {
        let r = cx.schema(&e.source, &push_pointer(pointer, "output_schema"), s);
        ok &= r.is_some();
        r
    });
    if let Some(tools) = &raw.allowed_tools {
        for (i, t) in tools.iter().enumerate() {
            if !cx.has("tools", t) {
                let p = push_pointer(&push_pointer(pointer, "allowed_tools"), &i.to_string());
                cx.unknown(&e.source, &p, "tools", "tool", t);
                ok = false;
            }
        }
    }
    for (field, v) in [
        ("max_cost_usd", raw.max_cost_usd),
        ("max_latency_ms", raw.max_latency_ms),
    ] {
        if v.is_some_and(|v| v.is_nan() || v < 0.0) {
            cx.error(
                &e.source,
                &push_pointer(pointer, field),
                format!("`{field}` must be a non-negative number"),
            );
            ok = false;
        }
    }
    ok.then_some(Contract {
        name,
        input_schema,
        output_schema,
        allowed_tools: raw.allowed_tools,
        max_tool_calls: raw.max_tool_calls,
        max_tokens: raw.max_tokens,
        max_cost_usd: raw.max_cost_usd,
        max_latency_ms: raw.max_latency_ms,
    })
}

/// A `contract:` field: a name from `contracts:` or an inline contract.
fn contract_ref(
    cx: &mut Ctx,
    e: &Entity,
    pointer: &str,
    value: Option<&Value>,
    named: &HashMap<String, Contract>,
) -> Result<Option<Contract>, ()> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(name)) => match named.get(name) {
            Some(c) => Ok(Some(c.clone())),
            None if cx.has("contracts", name) => Err(()), // already reported where it is defined
            None => {
                cx.unknown(&e.source, pointer, "contracts", "contract", name);
                Err(())
            }
        },
        Some(v @ Value::Object(_)) => {
            let raw: raw::Contract = cx.de(&e.source, pointer, v).ok_or(())?;
            contract(cx, e, pointer, raw, None).map(Some).ok_or(())
        }
        Some(_) => {
            cx.error(
                &e.source,
                pointer,
                "`contract` must be a contract name or a mapping",
            )
            .hint = Some("e.g. `contract: { output_schema: {...}, max_cost_usd: 0.01 }`".into());
            Err(())
        }
    }
}

fn retry(raw: Option<raw::Retry>) -> Option<RetryPolicy> {
    raw.map(|r| {
        let d = RetryPolicy::default();
        RetryPolicy {
            max_retries: r.max_retries.unwrap_or(d.max_retries),
            initial_backoff_ms: r.initial_backoff_ms.unwrap_or(d.initial_backoff_ms),
            max_backoff_ms: r.max_backoff_ms.unwrap_or(d.max_backoff_ms),
        }
    })
}

fn agent(
    cx: &mut Ctx,
    e: &Entity,
    contracts: &HashMap<String, Contract>,
    project: &Project,
) -> Option<Agent> {
    let raw: raw::Agent = cx.de(&e.source, &e.pointer, &e.value)?;
    let mut ok = true;
    let provider_ptr = push_pointer(&e.pointer, "provider");
    if !cx.has("providers", &raw.provider) {
        cx.unknown(
            &e.source,
            &provider_ptr,
            "providers",
            "provider",
            &raw.provider,
        );
        ok = false;
    }
    let tools_ptr = push_pointer(&e.pointer, "tools");
    for (i, t) in raw.tools.iter().enumerate() {
        if !cx.has("tools", t) {
            cx.unknown(
                &e.source,
                &push_pointer(&tools_ptr, &i.to_string()),
                "tools",
                "tool",
                t,
            );
            ok = false;
        }
    }
    let contract_ptr = push_pointer(&e.pointer, "contract");
    let contract = contract_ref(cx, e, &contract_ptr, raw.contract.as_ref(), contracts)
        .unwrap_or_else(|()| {
            ok = false;
            None
        });
    if let Some(allowed) = contract.as_ref().and_then(|c| c.allowed_tools.as_ref()) {
        for (i, t) in raw.tools.iter().enumerate() {
            if !allowed.contains(t) && cx.has("tools", t) {
                let hint = format!(
                    "the contract allows: {}",
                    if allowed.is_empty() {
                        "no tools".to_owned()
                    } else {
                        allowed.join(", ")
                    }
                );
                cx.error(
                    &e.source,
                    &push_pointer(&tools_ptr, &i.to_string()),
                    format!(
                        "tool `{t}` is not allowed by the contract of agent `{}`",
                        e.name
                    ),
                )
                .hint = Some(hint);
                ok = false;
            }
        }
    }
    let is_mock = project
        .providers
        .get(&raw.provider)
        .is_some_and(|p| p.kind == ProviderKind::Mock);
    let mock = match raw.mock {
        Some(m) => mock(cx, e, m, &raw.tools).or_else(|| {
            ok = false;
            None
        }),
        None if is_mock => {
            cx.error(
                &e.source,
                &e.pointer,
                format!(
                    "agent `{}` uses a mock provider but has no `mock` behaviour",
                    e.name
                ),
            )
            .hint = Some(
                "add `mock: { echo: true }` or `mock: { responses: [ { text: \"...\" } ] }`".into(),
            );
            ok = false;
            None
        }
        None => None,
    };
    if raw.max_turns == Some(0) {
        cx.error(
            &e.source,
            &push_pointer(&e.pointer, "max_turns"),
            "`max_turns` must be at least 1",
        );
        ok = false;
    }
    ok.then(|| Agent {
        name: e.name.clone(),
        provider: raw.provider,
        model: raw.model,
        system: raw.system,
        tools: raw.tools,
        contract,
        mock,
        max_turns: raw.max_turns.unwrap_or(8),
        temperature: raw.temperature,
        max_output_tokens: raw.max_output_tokens,
        retry: retry(raw.retry).unwrap_or_default(),
        timeout_ms: raw.timeout_ms,
    })
}

fn mock(cx: &mut Ctx, e: &Entity, raw: raw::Mock, agent_tools: &[String]) -> Option<MockBehaviour> {
    let base = push_pointer(&e.pointer, "mock");
    let mut ok = true;
    let latency_ms = latency(
        cx,
        e,
        &push_pointer(&base, "latency_ms"),
        raw.latency_ms.as_ref(),
    )
    .unwrap_or_else(|()| {
        ok = false;
        None
    });
    if !raw.echo && raw.responses.is_empty() {
        cx.error(
            &e.source,
            &base,
            "mock behaviour needs `echo: true` or at least one rule in `responses`",
        );
        return None;
    }
    let mut responses = Vec::new();
    let text_roots = ["input", "vars", "tool_results"];
    for (i, rule) in raw.responses.into_iter().enumerate() {
        let p = push_pointer(&push_pointer(&base, "responses"), &i.to_string());
        let given = [
            rule.text.is_some(),
            rule.tool_call.is_some(),
            rule.tool_calls.is_some(),
            rule.choices.is_some(),
            rule.error.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if given != 1 {
            cx.error(&e.source, &p, "a mock rule needs exactly one of `text`, `tool_call`, `tool_calls`, `choices` or `error`");
            ok = false;
            continue;
        }
        let check_call =
            |cx: &mut Ctx, ptr: &str, call: raw::MockToolCall| -> Option<MockToolCall> {
                if !agent_tools.contains(&call.name) {
                    let hint = if cx.has("tools", &call.name) {
                        format!("add `{}` to the agent's `tools` list", call.name)
                    } else {
                        suggest(&call.name, "tools", agent_tools.iter().map(String::as_str))
                    };
                    cx.error(
                        &e.source,
                        &push_pointer(ptr, "name"),
                        format!(
                            "mock calls tool `{}` that the agent does not list in `tools`",
                            call.name
                        ),
                    )
                    .hint = Some(hint);
                    return None;
                }
                Some(MockToolCall {
                    name: call.name,
                    args: call.args.unwrap_or_else(|| serde_json::json!({})),
                })
            };
        let reply = if let Some(text) = rule.text {
            cx.template(&e.source, &push_pointer(&p, "text"), &text, &text_roots)
                .map(MockReply::Text)
        } else if let Some(call) = rule.tool_call {
            check_call(cx, &push_pointer(&p, "tool_call"), call)
                .map(|c| MockReply::ToolCalls(vec![c]))
        } else if let Some(calls) = rule.tool_calls {
            let mut out = Vec::new();
            for (j, call) in calls.into_iter().enumerate() {
                let cp = push_pointer(&push_pointer(&p, "tool_calls"), &j.to_string());
                out.extend(check_call(cx, &cp, call));
            }
            (!out.is_empty()).then_some(MockReply::ToolCalls(out))
        } else if let Some(choices) = rule.choices {
            if choices.is_empty() {
                cx.error(
                    &e.source,
                    &push_pointer(&p, "choices"),
                    "`choices` needs at least one reply",
                );
                None
            } else {
                let mut out = Vec::new();
                for (j, c) in choices.iter().enumerate() {
                    out.extend(cx.template(
                        &e.source,
                        &push_pointer(&push_pointer(&p, "choices"), &j.to_string()),
                        c,
                        &text_roots,
                    ));
                }
                (out.len() == choices.len()).then_some(MockReply::Choices(out))
            }
        } else if let Some(err) = rule.error {
            let kind = ErrorKind::ALL
                .iter()
                .copied()
                .find(|k| k.as_str() == err.kind);
            match kind {
                Some(kind) => Some(MockReply::Error(MockError {
                    kind,
                    message: err.message,
                    retry_after_ms: err.retry_after_ms,
                })),
                None => {
                    let names: Vec<&str> = ErrorKind::ALL.iter().map(|k| k.as_str()).collect();
                    let hint = suggest(&err.kind, "error kinds", names.iter().copied());
                    cx.error(
                        &e.source,
                        &push_pointer(&push_pointer(&p, "error"), "kind"),
                        format!("unknown error kind `{}`", err.kind),
                    )
                    .hint = Some(hint);
                    None
                }
            }
        } else {
            None
        };
        let when = rule.when.unwrap_or_default();
        let regex = match &when.regex {
            Some(r) => {
                match cx.regex(r) {
                    Ok(re) => Some(re),
                    Err(err) => {
                        cx.error(&e.source, &push_pointer(&push_pointer(&p, "when"), "regex"), crate::diag::regex_error(&err)).hint =
                        Some("patterns use Rust regex syntax; escape backslashes inside double quotes".into());
                        ok = false;
                        None
                    }
                }
            }
            None => None,
        };
        if let Some(tool) = &when.after_tool
            && !agent_tools.contains(tool)
        {
            cx.error(
                &e.source,
                &push_pointer(&push_pointer(&p, "when"), "after_tool"),
                format!("`after_tool` names `{tool}`, which the agent does not list in `tools`"),
            );
            ok = false;
        }
        if rule.times.is_some() && !matches!(reply, Some(MockReply::Error(_))) {
            cx.warning(
                &e.source,
                &push_pointer(&p, "times"),
                "`times` only applies to `error` rules and is ignored here",
            );
        }
        let Some(reply) = reply else {
            ok = false;
            continue;
        };
        responses.push(MockRule {
            when: MockWhen {
                contains: when.contains,
                icontains: when.icontains,
                not_contains: when.not_contains,
                equals: when.equals,
                regex,
                after_tool: when.after_tool,
                turn: when.turn,
            },
            reply,
            times: rule.times,
        });
    }
    ok.then_some(MockBehaviour {
        echo: raw.echo,
        responses,
        latency_ms,
    })
}

fn one_or_many(
    cx: &mut Ctx,
    e: &Entity,
    pointer: &str,
    value: &Value,
    what: &str,
) -> Option<Vec<String>> {
    match value {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(items) if !items.is_empty() && items.iter().all(Value::is_string) => Some(
            items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
        ),
        _ => {
            cx.error(
                &e.source,
                pointer,
                format!("expected {what}: a name or a non-empty list of names"),
            );
            None
        }
    }
}

fn graph(cx: &mut Ctx, e: &Entity) -> Option<Graph> {
    let raw: raw::Graph = cx.de(&e.source, &e.pointer, &e.value)?;
    let mut ok = true;
    let nodes_ptr = push_pointer(&e.pointer, "nodes");
    let node_names: Vec<&str> = raw.nodes.keys().map(String::as_str).collect();
    if !raw.nodes.contains_key(&raw.start) {
        let hint = suggest(&raw.start, "nodes", node_names.iter().copied());
        cx.error(
            &e.source,
            &push_pointer(&e.pointer, "start"),
            format!("start node `{}` is not a node of this graph", raw.start),
        )
        .hint = Some(hint);
        ok = false;
    }
    let mut nodes = IndexMap::new();
    for (name, node) in &raw.nodes {
        let p = push_pointer(&nodes_ptr, name);
        if !cx.has("agents", &node.agent) {
            cx.unknown(
                &e.source,
                &push_pointer(&p, "agent"),
                "agents",
                "agent",
                &node.agent,
            );
            ok = false;
        }
        let input = match &node.input {
            Some(t) => match cx.template(
                &e.source,
                &push_pointer(&p, "input"),
                t,
                &["input", "output", "nodes", "vars"],
            ) {
                Some(t) => Some(t),
                None => {
                    ok = false;
                    None
                }
            },
            None => None,
        };
        nodes.insert(
            name.clone(),
            GraphNode {
                name: name.clone(),
                agent: node.agent.clone(),
                input,
            },
        );
    }
    let mut edges = Vec::new();
    for (i, edge) in raw.edges.iter().enumerate() {
        let p = push_pointer(&push_pointer(&e.pointer, "edges"), &i.to_string());
        let from = one_or_many(cx, e, &push_pointer(&p, "from"), &edge.from, "`from`");
        let to = one_or_many(cx, e, &push_pointer(&p, "to"), &edge.to, "`to`");
        let (Some(from), Some(to)) = (from, to) else {
            ok = false;
            continue;
        };
        for (field, list) in [("from", &from), ("to", &to)] {
            for n in list {
                if !raw.nodes.contains_key(n) {
                    let hint = suggest(n, "nodes", node_names.iter().copied());
                    let msg = if field == "to" {
                        format!("edge to nowhere: `{n}` is not a node of this graph")
                    } else {
                        format!("edge from `{n}`, which is not a node of this graph")
                    };
                    cx.error(&e.source, &push_pointer(&p, field), msg).hint = Some(hint);
                    ok = false;
                }
            }
        }
        let when = match &edge.when {
            Some(src) => match Expr::parse(src) {
                Ok(x) => {
                    for root in x.roots() {
                        if !["input", "output", "nodes", "vars"].contains(&root.as_str()) {
                            cx.error(
                                &e.source,
                                &push_pointer(&p, "when"),
                                format!("condition reads unknown value `{root}`"),
                            )
                            .hint = Some(
                                "conditions can read: input, output, nodes.NAME.output, vars"
                                    .into(),
                            );
                            ok = false;
                        }
                    }
                    Some(x)
                }
                Err(err) => {
                    // Scalar positions point at their first content character, so the offset adds directly.
                    let base = e.pos(&push_pointer(&p, "when"));
                    let pos = Pos {
                        line: base.line,
                        col: base.col + err.offset as u32,
                    };
                    cx.error_at(&e.source, pos, format!("invalid condition: {}", err.message)).hint =
                        Some("conditions look like `output.queue == \"billing\" && !(input contains \"vip\")`".into());
                    ok = false;
                    None
                }
            },
            None => None,
        };
        if edge.otherwise && edge.when.is_some() {
            cx.error(
                &e.source,
                &push_pointer(&p, "otherwise"),
                "an `otherwise` edge cannot also have `when`",
            );
            ok = false;
        }
        for f in &from {
            for t in &to {
                edges.push(Edge {
                    from: f.clone(),
                    to: t.clone(),
                    when: when.clone(),
                    otherwise: edge.otherwise,
                });
            }
        }
    }
    if ok {
        ok &= graph_shape(cx, e, &raw.start, &nodes, &edges);
    }
    ok.then(|| Graph {
        name: e.name.clone(),
        start: raw.start,
        nodes,
        edges,
    })
}

/// Reachability from the start node, and the absence of cycles.
fn graph_shape(
    cx: &mut Ctx,
    e: &Entity,
    start: &str,
    nodes: &IndexMap<String, GraphNode>,
    edges: &[Edge],
) -> bool {
    let mut ok = true;
    let nodes_ptr = push_pointer(&e.pointer, "nodes");
    let mut reached: HashSet<&str> = HashSet::from([start]);
    let mut stack = vec![start];
    while let Some(n) = stack.pop() {
        for edge in edges.iter().filter(|x| x.from == n) {
            if reached.insert(edge.to.as_str()) {
                stack.push(edge.to.as_str());
            }
        }
    }
    for name in nodes.keys() {
        if !reached.contains(name.as_str()) {
            cx.error(
                &e.source,
                &push_pointer(&nodes_ptr, name),
                format!("node `{name}` is unreachable from the start node `{start}`"),
            )
            .hint = Some(format!("add an edge to `{name}`, or remove the node"));
            ok = false;
        }
    }
    for (name, _) in nodes {
        let mut n_other = 0;
        for edge in edges.iter().filter(|x| &x.from == name) {
            n_other += usize::from(edge.otherwise);
        }
        if n_other > 1 {
            cx.error(
                &e.source,
                &push_pointer(&nodes_ptr, name),
                format!("node `{name}` has more than one `otherwise` edge"),
            );
            ok = false;
        }
    }
    // Depth-first search for a back edge.
    fn visit<'g>(
        n: &'g str,
        edges: &'g [Edge],
        state: &mut HashMap<&'g str, u8>,
        path: &mut Vec<&'g str>,
    ) -> Option<Vec<String>> {
        state.insert(n, 1);
        path.push(n);
        for edge in edges.iter().filter(|x| x.from == n) {
            match state.get(edge.to.as_str()) {
                Some(1) => {
                    let at = path.iter().position(|p| *p == edge.to).unwrap_or(0);
                    let mut cycle: Vec<String> =
                        path[at..].iter().map(|s| (*s).to_owned()).collect();
                    cycle.push(edge.to.clone());
                    return Some(cycle);
                }
                Some(_) => {}
                None => {
                    if let Some(c) = visit(&edge.to, edges, state, path) {
                        return Some(c);
                    }
                }
            }
        }
        path.pop();
        state.insert(n, 2);
        None
    }
    let mut state = HashMap::new();
    if let Some(cycle) = visit(start, edges, &mut state, &mut Vec::new()) {
        cx.error(
            &e.source,
            &push_pointer(&e.pointer, "edges"),
            format!("the edges form a cycle: {}", cycle.join(" → ")),
        )
        .hint = Some(
            "graphs must be acyclic for now; loops between agents are not supported yet".into(),
        );
        ok = false;
    }
    ok
}

/// Deserializes a case (without its assertions) while the file is being parsed.
pub(crate) fn deserialize_case(
    src: &Source,
    pointer: &str,
    value: &Value,
    diags: &mut Vec<Diagnostic>,
) -> Option<raw::Case> {
    match de::deserialize(src, pointer, value, diags) {
        de::Outcome::Clean(c) | de::Outcome::UnknownKeysRemoved(c) => Some(c),
        de::Outcome::Failed => None,
    }
}

fn suite(
    cx: &mut Ctx,
    e: &Entity,
    contracts: &HashMap<String, Contract>,
    project: &Project,
) -> Option<Suite> {
    let raw: raw::Suite<serde::de::IgnoredAny> = cx.de(&e.source, &e.pointer, &e.value)?;
    let mut ok = true;
    let target_ptr = push_pointer(&e.pointer, "target");
    let mut targets = Vec::new();
    for name in one_or_many(cx, e, &target_ptr, &raw.target, "a target")? {
        if let Some(g) = name.strip_prefix("graph:") {
            if cx.has("graphs", g) {
                targets.push(Target::Graph(g.to_owned()));
            } else {
                cx.unknown(&e.source, &target_ptr, "graphs", "graph", g);
                ok = false;
            }
        } else if cx.has("agents", &name) {
            targets.push(Target::Agent(name));
        } else if cx.has("graphs", &name) {
            cx.error(
                &e.source,
                &target_ptr,
                format!("`{name}` is a graph; graph targets are written `graph:{name}`"),
            )
            .hint = Some(format!("write `target: graph:{name}`"));
            ok = false;
        } else {
            let agents = cx.names("agents");
            let graphs: Vec<String> = cx
                .names("graphs")
                .iter()
                .map(|g| format!("graph:{g}"))
                .collect();
            let hint = did_you_mean(
                &name,
                agents
                    .iter()
                    .copied()
                    .chain(graphs.iter().map(String::as_str)),
            )
            .unwrap_or_else(|| crate::diag::known("agents", agents.iter().copied()));
            cx.error(&e.source, &target_ptr, format!("unknown target `{name}`"))
                .hint = Some(hint);
            ok = false;
        }
    }
    let contract = contract_ref(
        cx,
        e,
        &push_pointer(&e.pointer, "contract"),
        raw.contract.as_ref(),
        contracts,
    )
    .unwrap_or_else(|()| {
        ok = false;
        None
    });
    let scope = assertions::Scope::new(project, &targets);
    let defaults_ptr = push_pointer(&e.pointer, "defaults");
    let mut default_asserts = Vec::new();
    let (default_threshold, default_timeout) = match raw.defaults {
        Some(d) => {
            for (i, a) in d.assert.into_iter().enumerate() {
                let p = push_pointer(&push_pointer(&defaults_ptr, "assert"), &i.to_string());
                match assertions::check(cx, &e.source, &p, a, &scope) {
                    Some(a) => default_asserts.push(std::sync::Arc::new(a)),
                    None => ok = false,
                }
            }
            (d.threshold, d.timeout_ms)
        }
        None => (None, None),
    };
    let mut cases = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let cases_ptr = push_pointer(&e.pointer, "cases");
    if e.cases.is_empty() {
        cx.error(&e.source, &cases_ptr, "a suite needs at least one case");
        ok = false;
    }
    // Each distinct assertion is validated once for the suite, however many cases use it.
    let mut checked: HashMap<
        *const crate::load::InternedAssertion,
        Option<std::sync::Arc<gauntlet_core::model::Assertion>>,
    > = HashMap::new();
    for (i, draft) in e.cases.iter().enumerate() {
        let Some(c) = draft.case.as_ref() else {
            ok = false;
            continue;
        };
        let p = draft.pointer.clone();
        let id = c.id.clone().unwrap_or_else(|| format!("case-{}", i + 1));
        if let Some(first) = seen.insert(id.clone(), i) {
            cx.error(
                &e.source,
                &push_pointer(&p, "id"),
                format!("duplicate case id `{id}`"),
            )
            .hint = Some(format!("case {} already uses this id", first + 1));
            ok = false;
        }
        let input = match &c.input {
            Value::String(s) => s.clone(),
            Value::Null => {
                cx.error(
                    &e.source,
                    &push_pointer(&p, "input"),
                    "`input` cannot be empty",
                );
                ok = false;
                String::new()
            }
            Value::Number(_) | Value::Bool(_) => c.input.to_string(),
            other => serde_json::to_string(other).unwrap_or_default(),
        };
        let mut asserts = Vec::with_capacity(draft.assertions.len() + default_asserts.len());
        for interned in &draft.assertions {
            let key = std::sync::Arc::as_ptr(interned);
            let result = match checked.get(&key) {
                Some(r) => r.clone(),
                None => {
                    let src = &interned.source;
                    let r = cx
                        .de::<raw::Assertion>(src, &interned.pointer, &interned.value)
                        .and_then(|a| assertions::check(cx, src, &interned.pointer, a, &scope))
                        .map(std::sync::Arc::new);
                    checked.insert(key, r.clone());
                    r
                }
            };
            match result {
                Some(a) => asserts.push(a),
                None => ok = false,
            }
        }
        asserts.extend(default_asserts.iter().cloned());
        let threshold = c.threshold.or(default_threshold);
        if threshold.is_some_and(|t| !(0.0..=1.0).contains(&t)) {
            cx.error(
                &e.source,
                &push_pointer(&p, "threshold"),
                "`threshold` must be between 0 and 1",
            );
            ok = false;
        }
        cases.push(gauntlet_core::model::Case {
            id,
            description: c.description.clone(),
            input,
            vars: c.vars.clone().unwrap_or(Value::Null),
            assertions: asserts,
            threshold,
            tags: c.tags.clone(),
            timeout_ms: c.timeout_ms.or(default_timeout),
        });
    }
    ok.then(|| Suite {
        name: e.name.clone(),
        description: raw.description,
        targets,
        contract,
        step_timeout_ms: raw.step_timeout_ms,
        case_timeout_ms: raw.case_timeout_ms,
        run_timeout_ms: raw.run_timeout_ms,
        retry: retry(raw.retry),
        cases,
        tags: raw.tags,
    })
}
