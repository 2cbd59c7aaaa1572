//! The `gateway` block: routes name known providers, keys hold secrets, guardrails name
//! known checks and compile their policies.

use gauntlet_core::evaluators::{PolicySpec, SecurityCheck, Sensitivity};
use gauntlet_core::gateway::{
    Anomaly, Approvals, Budget, GuardCheck, Guardrail, Key, Mode, RateLimit, Recording, Route,
    Scoped, Stage, Zombies,
};
use gauntlet_core::model::Project;
use indexmap::IndexMap;

use super::Ctx;
use crate::load::Source;
use crate::raw::gateway as raw;
use crate::yaml::push_pointer;

pub(crate) fn gateway(
    cx: &mut Ctx,
    src: &Source,
    pointer: &str,
    raw: raw::Gateway,
    project: &Project,
) -> Option<gauntlet_core::gateway::Gateway> {
    let mut ok = true;
    let mut routes = IndexMap::new();
    for (name, r) in raw.routes {
        let p = push_pointer(&push_pointer(pointer, "routes"), &name);
        let (provider, model) = match r {
            raw::Route::Provider(p) => (p, None),
            raw::Route::Full { provider, model } => (provider, model),
        };
        if !project.providers.contains_key(&provider) {
            cx.unknown(src, &p, "providers", "provider", &provider);
            ok = false;
            continue;
        }
        routes.insert(name, Route { provider, model });
    }
    let mut keys = IndexMap::new();
    for (id, k) in raw.keys {
        let p = push_pointer(&push_pointer(pointer, "keys"), &id);
        let secret = super::providers::secret(cx, src, &push_pointer(&p, "secret"), k.secret);
        if secret.expose().len() < 16 {
            cx.error(
                src,
                &push_pointer(&p, "secret"),
                "a gateway key's secret must have at least 16 characters",
            )
            .hint =
                Some("generate one, e.g. `openssl rand -hex 24`, and keep it as a secret".into());
            ok = false;
        }
        keys.insert(id, Key::new(&secret, &k.tenant, &k.agent, k.admin));
    }
    let budgets = scoped(raw.budgets, |b| Budget {
        tokens_per_day: b.tokens_per_day,
        cost_per_month_micro_usd: b
            .cost_per_month_usd
            .map(|usd| (usd.max(0.0) * 1_000_000.0).round() as u64),
        max_tokens_per_request: b.max_tokens_per_request,
    });
    let limits = scoped(raw.limits, |l| RateLimit {
        requests_per_minute: l.requests_per_minute,
        tokens_per_minute: l.tokens_per_minute,
    });
    let mut guardrails = Vec::new();
    for (i, g) in raw.guardrails.into_iter().enumerate() {
        let p = push_pointer(&push_pointer(pointer, "guardrails"), &i.to_string());
        match guardrail(cx, src, &p, g) {
            Some(g) => guardrails.push(g),
            None => ok = false,
        }
    }
    if let Some(url) = &raw.alert_webhook
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        cx.error(
            src,
            &push_pointer(pointer, "alert_webhook"),
            "`alert_webhook` must be an http(s) URL",
        );
        ok = false;
    }
    let defaults = Anomaly::default();
    let anomaly = raw.anomaly.map_or(defaults.clone(), |a| Anomaly {
        enabled: a.enabled.unwrap_or(defaults.enabled),
        window_seconds: a.window_seconds.unwrap_or(defaults.window_seconds).max(1),
        learn_windows: a.learn_windows.unwrap_or(defaults.learn_windows).max(1),
        factor: a.factor.unwrap_or(defaults.factor).max(1.0),
        min_requests: a.min_requests.unwrap_or(defaults.min_requests),
        suspend: a.suspend.unwrap_or(defaults.suspend),
    });
    let zdefaults = Zombies::default();
    let zombies = raw.zombies.map_or(zdefaults.clone(), |z| Zombies {
        silent_after_seconds: z
            .silent_after_seconds
            .unwrap_or(zdefaults.silent_after_seconds),
        repeat_limit: z.repeat_limit.unwrap_or(zdefaults.repeat_limit).max(2),
    });
    let adefaults = Approvals::default();
    let approvals = raw.approvals.map_or(adefaults.clone(), |a| Approvals {
        wait_seconds: a.wait_seconds.unwrap_or(adefaults.wait_seconds),
        valid_seconds: a.valid_seconds.unwrap_or(adefaults.valid_seconds).max(1),
    });
    if approvals.wait_seconds > 600 {
        cx.error(
            src,
            &push_pointer(&push_pointer(pointer, "approvals"), "wait_seconds"),
            "`wait_seconds` is at most 600",
        )
        .hint =
            Some("clients time out; answer sooner and let the agent retry the same request".into());
        ok = false;
    }
    let record = raw.record.map(|r| Recording {
        dir: src
            .path
            .parent()
            .unwrap_or(std::path::Path::new("."))
            .join(r.dir),
    });
    ok.then_some(gauntlet_core::gateway::Gateway {
        routes,
        keys,
        budgets,
        limits,
        guardrails,
        default_max_tokens: raw.default_max_tokens.unwrap_or(1024).max(1),
        anomaly,
        zombies,
        alert_webhook: raw.alert_webhook,
        approvals,
        record,
    })
}

fn scoped<R, T>(raw: raw::Scoped<R>, f: impl Fn(R) -> T) -> Scoped<T> {
    let map = |m: IndexMap<String, R>| m.into_iter().map(|(k, v)| (k, f(v))).collect();
    Scoped {
        keys: map(raw.keys),
        agents: map(raw.agents),
        tenants: map(raw.tenants),
    }
}

fn guardrail(cx: &mut Ctx, src: &Source, p: &str, g: raw::Guardrail) -> Option<Guardrail> {
    let check = match g.check.as_str() {
        "policy" => {
            let Some(rego) = g.rego else {
                cx.error(src, p, "a `policy` guardrail needs `rego`").hint =
                    Some("e.g. `rego: \"package gw\\ndeny contains m if { ... }\"`".into());
                return None;
            };
            let package = match gauntlet_eval::policy::compile("gateway", &rego) {
                Ok(package) => package,
                Err(e) => {
                    cx.error(
                        src,
                        &push_pointer(p, "rego"),
                        format!("invalid Rego: {}", e.message),
                    )
                    .hint = Some("policies are Rego v1: `deny contains msg if { ... }`".into());
                    return None;
                }
            };
            GuardCheck::Policy(PolicySpec {
                origin: "gateway".into(),
                query: format!("{package}.deny"),
                rego,
                package,
            })
        }
        other => match SecurityCheck::ALL.iter().find(|c| c.as_str() == other) {
            Some(c) => GuardCheck::Security(*c),
            None => {
                let names: Vec<&str> = SecurityCheck::ALL.iter().map(|c| c.as_str()).collect();
                cx.error(
                    src,
                    &push_pointer(p, "check"),
                    format!("unknown guardrail check `{other}`"),
                )
                .hint = Some(format!("checks are: {}, policy", names.join(", ")));
                return None;
            }
        },
    };
    let mode = match g.mode.as_deref().unwrap_or("block") {
        "block" => Mode::Block,
        "redact" => Mode::Redact,
        "monitor" => Mode::Monitor,
        other => {
            cx.error(
                src,
                &push_pointer(p, "mode"),
                format!("unknown mode `{other}`"),
            )
            .hint = Some("modes are: block, redact, monitor".into());
            return None;
        }
    };
    if mode == Mode::Redact && matches!(check, GuardCheck::Policy(_)) {
        cx.error(src, &push_pointer(p, "mode"), "a policy cannot redact")
            .hint = Some("use `block` or `monitor`".into());
        return None;
    }
    let mut stages = Vec::new();
    for (i, s) in g.on.iter().enumerate() {
        stages.push(match s.as_str() {
            "prompt" => Stage::Prompt,
            "tool_result" => Stage::ToolResult,
            "response" => Stage::Response,
            other => {
                cx.error(
                    src,
                    &push_pointer(&push_pointer(p, "on"), &i.to_string()),
                    format!("unknown stage `{other}`"),
                )
                .hint = Some("stages are: prompt, tool_result, response".into());
                return None;
            }
        });
    }
    if stages.is_empty() {
        stages = vec![Stage::Prompt, Stage::ToolResult, Stage::Response];
    }
    let sensitivity = match g.sensitivity.as_deref().unwrap_or("medium") {
        "low" => Sensitivity::Low,
        "medium" => Sensitivity::Medium,
        "high" => Sensitivity::High,
        other => {
            cx.error(
                src,
                &push_pointer(p, "sensitivity"),
                format!("unknown sensitivity `{other}`"),
            )
            .hint = Some("sensitivities are: low, medium, high".into());
            return None;
        }
    };
    Some(Guardrail {
        name: g.name.unwrap_or_else(|| g.check.clone()),
        check,
        mode,
        stages,
        sensitivity,
    })
}
