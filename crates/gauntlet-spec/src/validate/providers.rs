//! Providers (model APIs and external agents) and MCP servers.

use gauntlet_core::model::{
    AwsSettings, AzureAuth, AzureSettings, HttpAgent, McpServer, McpTransport, Price, ProcessAgent,
    Provider, ProviderKind, ProviderLimits, Secret,
};
use indexmap::IndexMap;
use serde_json::Value;

use crate::load::{Entity, Source};
use crate::raw;
use crate::validate::Ctx;
use crate::yaml::push_pointer;

/// The Azure OpenAI `api-version` used when none is given (the current GA version).
pub const AZURE_API_VERSION: &str = "2024-10-21";

/// Roots a `http` agent's body templates may read.
pub const HTTP_BODY_ROOTS: [&str; 5] = ["input", "vars", "system", "model", "messages"];

pub(crate) fn provider(cx: &mut Ctx, e: &Entity) -> Option<Provider> {
    let mut raw: raw::Provider = cx.de(&e.source, &e.pointer, &e.value)?;
    let kind = match raw.kind {
        raw::ProviderType::Mock => ProviderKind::Mock,
        raw::ProviderType::Openai => ProviderKind::Openai,
        raw::ProviderType::AzureOpenai => ProviderKind::AzureOpenai,
        raw::ProviderType::Anthropic => ProviderKind::Anthropic,
        raw::ProviderType::Gemini => ProviderKind::Gemini,
        raw::ProviderType::Bedrock => ProviderKind::Bedrock,
        raw::ProviderType::Http => ProviderKind::Http,
        raw::ProviderType::Process => ProviderKind::Process,
    };
    let mut ok = true;
    ok &= only_for(cx, e, kind, &raw);
    let api_key = raw
        .api_key
        .take()
        .map(|value| secret(cx, &e.source, &push_pointer(&e.pointer, "api_key"), value));
    let headers = secrets(
        cx,
        &e.source,
        &push_pointer(&e.pointer, "headers"),
        std::mem::take(&mut raw.headers),
    );
    let env = secrets(
        cx,
        &e.source,
        &push_pointer(&e.pointer, "env"),
        std::mem::take(&mut raw.env),
    );
    let mut pricing = IndexMap::new();
    for (model, price) in std::mem::take(&mut raw.pricing) {
        if price.input_per_mtok < 0.0 || price.output_per_mtok < 0.0 {
            let p = push_pointer(&push_pointer(&e.pointer, "pricing"), &model);
            cx.error(&e.source, &p, "prices cannot be negative");
            ok = false;
        }
        pricing.insert(
            model,
            Price {
                input_per_mtok: price.input_per_mtok,
                output_per_mtok: price.output_per_mtok,
            },
        );
    }
    if let Some(url) = &raw.base_url {
        ok &= http_url(cx, &e.source, &push_pointer(&e.pointer, "base_url"), url);
    }
    for (i, f) in raw.fallback.iter().enumerate() {
        let p = push_pointer(&push_pointer(&e.pointer, "fallback"), &i.to_string());
        if f == &e.name {
            cx.error(&e.source, &p, "a provider cannot fall back to itself");
            ok = false;
        } else if !cx.has("providers", f) {
            cx.unknown(&e.source, &p, "providers", "provider", f);
            ok = false;
        }
    }
    // The mock is not rate limited and never breaks its circuit unless asked to: scripted
    // errors would otherwise change behaviour with the order cases finish in.
    let defaults = if kind == ProviderKind::Mock {
        ProviderLimits {
            max_concurrency: 1 << 20,
            breaker_failures: 0,
            ..ProviderLimits::default()
        }
    } else {
        ProviderLimits::default()
    };
    let max_concurrency = raw.max_concurrency.unwrap_or(defaults.max_concurrency);
    if max_concurrency == 0 {
        cx.error(
            &e.source,
            &push_pointer(&e.pointer, "max_concurrency"),
            "`max_concurrency` must be at least 1",
        );
        ok = false;
    }
    let limits = ProviderLimits {
        max_concurrency,
        min_concurrency: defaults.min_concurrency.min(max_concurrency.max(1)),
        breaker_failures: raw
            .circuit_breaker
            .as_ref()
            .and_then(|b| b.failures)
            .unwrap_or(defaults.breaker_failures),
        breaker_cooldown_ms: raw
            .circuit_breaker
            .as_ref()
            .and_then(|b| b.cooldown_ms)
            .unwrap_or(defaults.breaker_cooldown_ms),
        explicit: raw.max_concurrency.is_some() || raw.circuit_breaker.is_some(),
    };

    let azure = (kind == ProviderKind::AzureOpenai).then(|| AzureSettings {
        deployment: raw.deployment.clone(),
        api_version: raw
            .api_version
            .clone()
            .unwrap_or_else(|| AZURE_API_VERSION.to_owned()),
        auth: match raw.auth.as_deref() {
            Some("bearer") => AzureAuth::Bearer,
            _ => AzureAuth::ApiKey,
        },
    });
    if kind == ProviderKind::AzureOpenai {
        if let Some(a) = raw.auth.as_deref()
            && !matches!(a, "api-key" | "bearer")
        {
            cx.error(
                &e.source,
                &push_pointer(&e.pointer, "auth"),
                format!("unknown Azure authentication `{a}`"),
            )
            .hint = Some("use `api-key` (the default) or `bearer` (an Azure AD token)".into());
            ok = false;
        }
        if raw.base_url.is_none() {
            cx.error(
                &e.source,
                &e.pointer,
                "an `azure-openai` provider needs `base_url`",
            )
            .hint = Some(
                "the resource endpoint, e.g. `base_url: https://NAME.openai.azure.com`".into(),
            );
            ok = false;
        }
    }
    let aws = (kind == ProviderKind::Bedrock).then(|| AwsSettings {
        region: raw.region.clone(),
        profile: raw.profile.clone(),
    });
    let http = if kind == ProviderKind::Http {
        http_agent(cx, e, &raw)
    } else {
        None
    };
    ok &= kind != ProviderKind::Http || http.is_some();
    let process = if kind == ProviderKind::Process {
        match raw.command.clone() {
            Some(command)
                if !command.trim().is_empty()
                    && !cx.program(
                        &e.source,
                        &push_pointer(&e.pointer, "command"),
                        &command,
                        raw.cwd.as_deref(),
                    ) =>
            {
                return None;
            }
            Some(command) if !command.trim().is_empty() => Some(ProcessAgent {
                command,
                args: raw.args.clone(),
                env: env.clone(),
                cwd: raw.cwd.clone(),
                pool: raw.pool,
                startup_timeout_ms: raw.startup_timeout_ms.unwrap_or(10_000),
                dir: source_dir(&e.source),
            }),
            _ => {
                cx.error(
                    &e.source,
                    &e.pointer,
                    "a `process` provider needs `command`",
                )
                .hint = Some("e.g. `command: python3` with `args: [agent.py]`".into());
                ok = false;
                None
            }
        }
    } else {
        None
    };
    ok.then(|| Provider {
        name: e.name.clone(),
        kind,
        base_url: raw.base_url,
        api_key,
        model: raw.model,
        pricing,
        headers,
        stream: raw.stream,
        timeout_ms: raw.timeout_ms,
        azure,
        aws,
        http,
        process,
        limits,
        fallback: raw.fallback,
    })
}

/// Reports settings that do not apply to the provider's type.
fn only_for(cx: &mut Ctx, e: &Entity, kind: ProviderKind, raw: &raw::Provider) -> bool {
    use ProviderKind::*;
    let given: [(&str, bool, &[ProviderKind]); 19] = [
        ("deployment", raw.deployment.is_some(), &[AzureOpenai]),
        ("api_version", raw.api_version.is_some(), &[AzureOpenai]),
        ("auth", raw.auth.is_some(), &[AzureOpenai]),
        ("region", raw.region.is_some(), &[Bedrock]),
        ("profile", raw.profile.is_some(), &[Bedrock]),
        ("url", raw.url.is_some(), &[Http]),
        ("method", raw.method.is_some(), &[Http]),
        ("body", raw.body.is_some(), &[Http]),
        ("output", raw.output.is_some(), &[Http]),
        ("tool_calls", raw.tool_calls.is_some(), &[Http]),
        ("input_tokens", raw.input_tokens.is_some(), &[Http]),
        ("output_tokens", raw.output_tokens.is_some(), &[Http]),
        ("command", raw.command.is_some(), &[Process]),
        ("args", !raw.args.is_empty(), &[Process]),
        ("env", !raw.env.is_empty(), &[Process]),
        ("cwd", raw.cwd.is_some(), &[Process]),
        ("pool", raw.pool, &[Process]),
        (
            "startup_timeout_ms",
            raw.startup_timeout_ms.is_some(),
            &[Process],
        ),
        (
            "stream",
            raw.stream,
            &[Openai, AzureOpenai, Anthropic, Gemini, Bedrock],
        ),
    ];
    let mut ok = true;
    for (field, present, kinds) in given {
        if present && !kinds.contains(&kind) {
            let names: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
            cx.error(
                &e.source,
                &push_pointer(&e.pointer, field),
                format!(
                    "`{field}` does not apply to a provider of type `{}`",
                    kind.as_str()
                ),
            )
            .hint = Some(format!("`{field}` is a setting of: {}", names.join(", ")));
            ok = false;
        }
    }
    ok
}

fn http_agent(cx: &mut Ctx, e: &Entity, raw: &raw::Provider) -> Option<HttpAgent> {
    let mut ok = true;
    let Some(url) = raw.url.clone() else {
        cx.error(&e.source, &e.pointer, "an `http` provider needs `url`")
            .hint = Some("the agent's endpoint, e.g. `url: http://localhost:8000/chat`".into());
        return None;
    };
    ok &= http_url(cx, &e.source, &push_pointer(&e.pointer, "url"), &url);
    let method = raw.method.clone().unwrap_or_else(|| "POST".to_owned());
    if !matches!(method.as_str(), "POST" | "PUT" | "PATCH") {
        cx.error(
            &e.source,
            &push_pointer(&e.pointer, "method"),
            format!("unsupported method `{method}`"),
        )
        .hint = Some("use POST (the default), PUT or PATCH".into());
        ok = false;
    }
    let body = raw
        .body
        .clone()
        .unwrap_or_else(|| serde_json::json!({"input": "{{ input }}"}));
    ok &= body_templates(cx, &e.source, &push_pointer(&e.pointer, "body"), &body);
    let Some(output) = raw.output.clone() else {
        cx.error(&e.source, &e.pointer, "an `http` provider needs `output`")
            .hint = Some(
            "where the answer is in the response, e.g. `output: /reply` or `output: $.choices[0].text`"
                .into(),
        );
        return None;
    };
    for (field, value) in [
        ("output", Some(&output)),
        ("tool_calls", raw.tool_calls.as_ref()),
        ("input_tokens", raw.input_tokens.as_ref()),
        ("output_tokens", raw.output_tokens.as_ref()),
    ] {
        if let Some(v) = value
            && !v.starts_with('/')
            && gauntlet_eval::jsonpath::select(&Value::Null, v).is_err()
        {
            cx.error(
                &e.source,
                &push_pointer(&e.pointer, field),
                format!("`{v}` is neither a JSON pointer nor a JSON path"),
            )
            .hint = Some(
                "write a pointer such as `/reply/text` or a path such as `$.reply.text`".into(),
            );
            ok = false;
        }
    }
    ok.then(|| HttpAgent {
        url,
        method,
        body,
        output,
        tool_calls: raw.tool_calls.clone(),
        input_tokens: raw.input_tokens.clone(),
        output_tokens: raw.output_tokens.clone(),
    })
}

fn body_templates(cx: &mut Ctx, src: &Source, pointer: &str, value: &Value) -> bool {
    match value {
        Value::String(s) => cx.template(src, pointer, s, &HTTP_BODY_ROOTS).is_some(),
        Value::Array(items) => items.iter().enumerate().fold(true, |ok, (i, v)| {
            body_templates(cx, src, &push_pointer(pointer, &i.to_string()), v) && ok
        }),
        Value::Object(m) => m.iter().fold(true, |ok, (k, v)| {
            body_templates(cx, src, &push_pointer(pointer, k), v) && ok
        }),
        _ => true,
    }
}

fn http_url(cx: &mut Ctx, src: &Source, pointer: &str, url: &str) -> bool {
    // An interpolation that failed was reported already.
    if url.contains("${") {
        return true;
    }
    if url.starts_with("http://") || url.starts_with("https://") {
        return cx.egress(src, pointer, url);
    }
    cx.error(src, pointer, format!("`{url}` is not an http(s) URL"))
        .hint = Some("e.g. `http://localhost:8080/v1`".into());
    false
}

/// A credential field: its masked reference comes from interpolation; a literal credential is
/// reported.
pub(crate) fn secret(cx: &mut Ctx, src: &Source, pointer: &str, value: String) -> Secret {
    // Files without `${` are not interpolated: their credential fields are all literal.
    let reference = match src.credential(pointer) {
        Some(r) => r.clone(),
        None if crate::interp::masks_literal(pointer) => "***".to_owned(),
        None => value.clone(),
    };
    if reference == "***" && !cx.origin.caps().operator {
        // On the server every viewer of the suite would read it back.
        let d = cx.error(
            src,
            pointer,
            "credential written in plain text in the suite",
        );
        d.code = Some("credential.literal");
        d.hint = Some(
            "store it as a secret of the tenant (PUT /api/v1/settings/secrets/NAME) and write `${secret:NAME}`"
                .into(),
        );
    } else if reference == "***" {
        cx.warning(src, pointer, "credential written in plain text in the file")
            .hint =
            Some("write `${secret:NAME}` and keep the value in the environment or `.env`".into());
    }
    Secret::new(reference, value)
}

fn secrets(
    cx: &mut Ctx,
    src: &Source,
    pointer: &str,
    map: IndexMap<String, String>,
) -> IndexMap<String, Secret> {
    map.into_iter()
        .map(|(k, v)| {
            let s = secret(cx, src, &push_pointer(pointer, &k), v);
            (k, s)
        })
        .collect()
}

pub(crate) fn mcp_server(cx: &mut Ctx, e: &Entity) -> Option<McpServer> {
    let mut raw: raw::McpServer = cx.de(&e.source, &e.pointer, &e.value)?;
    let env = secrets(
        cx,
        &e.source,
        &push_pointer(&e.pointer, "env"),
        std::mem::take(&mut raw.env),
    );
    let headers = secrets(
        cx,
        &e.source,
        &push_pointer(&e.pointer, "headers"),
        std::mem::take(&mut raw.headers),
    );
    let transport = match (raw.command, raw.url) {
        (Some(command), None) => {
            if !cx.program(
                &e.source,
                &push_pointer(&e.pointer, "command"),
                &command,
                raw.cwd.as_deref(),
            ) {
                return None;
            }
            if !headers.is_empty() {
                cx.error(
                    &e.source,
                    &push_pointer(&e.pointer, "headers"),
                    "`headers` apply to MCP servers reached by `url`",
                );
                return None;
            }
            McpTransport::Stdio {
                command,
                args: raw.args,
                env,
                cwd: raw.cwd,
            }
        }
        (None, Some(url)) => {
            if !http_url(cx, &e.source, &push_pointer(&e.pointer, "url"), &url) {
                return None;
            }
            if !raw.args.is_empty() || !env.is_empty() || raw.cwd.is_some() {
                cx.error(
                    &e.source,
                    &e.pointer,
                    "`args`, `env` and `cwd` apply to MCP servers started by `command`",
                );
                return None;
            }
            McpTransport::Http { url, headers }
        }
        (Some(_), Some(_)) => {
            cx.error(
                &e.source,
                &e.pointer,
                "an MCP server has `command` or `url`, not both",
            )
            .hint = Some(
                "`command` starts it over stdio; `url` reaches it over streamable HTTP".into(),
            );
            return None;
        }
        (None, None) => {
            cx.error(&e.source, &e.pointer, "an MCP server needs `command` or `url`")
                .hint = Some(
                "e.g. `command: npx` with `args: [\"@modelcontextprotocol/server-everything\"]`, or `url: http://localhost:3001/mcp`"
                    .into(),
            );
            return None;
        }
    };
    for (i, f) in raw.tools_filter.iter().enumerate() {
        let pattern = f.strip_prefix('!').unwrap_or(f);
        if pattern.is_empty() {
            cx.error(
                &e.source,
                &push_pointer(&push_pointer(&e.pointer, "tools_filter"), &i.to_string()),
                "empty tool pattern",
            )
            .hint = Some("e.g. `tools_filter: [\"read_*\", \"!write_file\"]`".into());
            return None;
        }
    }
    Some(McpServer {
        name: e.name.clone(),
        transport,
        tools_filter: raw.tools_filter,
        startup_timeout_ms: raw.startup_timeout_ms.unwrap_or(30_000),
        timeout_ms: raw.timeout_ms.unwrap_or(60_000),
        dir: source_dir(&e.source),
    })
}

fn source_dir(src: &Source) -> std::path::PathBuf {
    src.path
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default()
}
