//! Chaos blocks of suites and cases: a profile name, or a block that may start from one.

use gauntlet_core::chaos::{
    Chaos, LatencyFault, NetworkFault, RateLimitFault, TokenLimit, ToolFault, ToolFaultKind,
    TruncateFault,
};
use serde_json::Value;

use crate::diag::suggest;
use crate::load::Source;
use crate::raw;
use crate::validate::Ctx;
use crate::yaml::push_pointer;

fn unknown_profile(cx: &mut Ctx, e: &Source, ptr: &str, name: &str) {
    cx.error(e, ptr, format!("unknown chaos profile `{name}`"))
        .hint = Some(suggest(name, "profiles", Chaos::PROFILES));
}

/// A probability in [0, 1], or an error at `ptr`.
fn probability(cx: &mut Ctx, e: &Source, ptr: &str, p: f64) -> Option<f64> {
    if (0.0..=1.0).contains(&p) {
        Some(p)
    } else {
        cx.error(e, ptr, format!("probability {p} is outside [0, 1]"))
            .hint = Some("e.g. `probability: 0.2` for one call in five".into());
        None
    }
}

pub fn chaos(cx: &mut Ctx, e: &Source, ptr: &str, value: &Value) -> Option<Chaos> {
    if let Value::String(name) = value {
        return match Chaos::profile(name) {
            Some(c) => Some(c),
            None => {
                unknown_profile(cx, e, ptr, name);
                None
            }
        };
    }
    if !value.is_object() {
        cx.error(e, ptr, "`chaos` is a profile name or a chaos block")
            .hint = Some(format!(
            "profiles: {}; or a block with tools, latency, rate_limit, truncate, token_limit, network",
            Chaos::PROFILES.join(", ")
        ));
        return None;
    }
    let raw: raw::Chaos = cx.de(e, ptr, value)?;
    let mut c = match &raw.profile {
        None => Chaos::default(),
        Some(name) => match Chaos::profile(name) {
            Some(c) => c,
            None => {
                unknown_profile(cx, e, &push_pointer(ptr, "profile"), name);
                return None;
            }
        },
    };
    let mut ok = true;
    for (i, t) in raw.tools.iter().enumerate() {
        let p = push_pointer(&push_pointer(ptr, "tools"), &i.to_string());
        let tool = t.tool.clone().unwrap_or_else(|| "*".to_owned());
        if tool != "*" && !cx.known_tool(&tool) {
            cx.unknown(e, &push_pointer(&p, "tool"), "tools", "tool", &tool);
            ok = false;
            continue;
        }
        let error = match t.error.as_deref() {
            None => ToolFaultKind::Error,
            Some(k) => match ToolFaultKind::parse(k) {
                Some(k) => k,
                None => {
                    cx.error(
                        e,
                        &push_pointer(&p, "error"),
                        format!("unknown tool fault `{k}`"),
                    )
                    .hint = Some(suggest(k, "faults", ToolFaultKind::NAMES));
                    ok = false;
                    continue;
                }
            },
        };
        let Some(probability) = probability(cx, e, &push_pointer(&p, "probability"), t.probability)
        else {
            ok = false;
            continue;
        };
        c.tools.push(ToolFault {
            tool,
            probability,
            error,
            timeout_ms: t.timeout_ms.unwrap_or(1_000),
            message: t.message.clone(),
        });
    }
    for (i, l) in raw.latency.iter().enumerate() {
        let p = push_pointer(&push_pointer(ptr, "latency"), &i.to_string());
        let target = l.target.clone().unwrap_or_else(|| "*".to_owned());
        if !matches!(target.as_str(), "*" | "model" | "tools") && !cx.known_tool(&target) {
            cx.error(
                e,
                &push_pointer(&p, "target"),
                format!("unknown latency target `{target}`"),
            )
            .hint = Some("`model`, `tools`, a tool name, or `*`".into());
            ok = false;
            continue;
        }
        if l.min_ms > l.max_ms {
            cx.error(
                e,
                &push_pointer(&p, "min_ms"),
                "`min_ms` is greater than `max_ms`",
            );
            ok = false;
            continue;
        }
        let Some(probability) = probability(
            cx,
            e,
            &push_pointer(&p, "probability"),
            l.probability.unwrap_or(1.0),
        ) else {
            ok = false;
            continue;
        };
        c.latency.push(LatencyFault {
            target,
            min_ms: l.min_ms,
            max_ms: l.max_ms,
            probability,
        });
    }
    if let Some(r) = &raw.rate_limit {
        let p = push_pointer(&push_pointer(ptr, "rate_limit"), "probability");
        match probability(cx, e, &p, r.probability) {
            Some(probability) => {
                c.rate_limit = Some(RateLimitFault {
                    probability,
                    retry_after_ms: r.retry_after_ms.unwrap_or(1_000),
                });
            }
            None => ok = false,
        }
    }
    if let Some(t) = &raw.truncate {
        let p = push_pointer(ptr, "truncate");
        let keep = t.keep.unwrap_or(0.5);
        if !(0.0..1.0).contains(&keep) {
            cx.error(e, &push_pointer(&p, "keep"), "`keep` is a share in [0, 1)")
                .hint = Some("e.g. `keep: 0.5` delivers the first half of the text".into());
            ok = false;
        } else if let Some(probability) =
            probability(cx, e, &push_pointer(&p, "probability"), t.probability)
        {
            c.truncate = Some(TruncateFault { probability, keep });
        } else {
            ok = false;
        }
    }
    if let Some(t) = &raw.token_limit {
        if t.max_input.is_none() && t.max_output.is_none() {
            cx.error(
                e,
                &push_pointer(ptr, "token_limit"),
                "`token_limit` needs `max_input`, `max_output` or both",
            );
            ok = false;
        }
        c.token_limit = Some(TokenLimit {
            max_input: t.max_input,
            max_output: t.max_output,
        });
    }
    if let Some(n) = &raw.network {
        let p = push_pointer(&push_pointer(ptr, "network"), "probability");
        match probability(cx, e, &p, n.probability) {
            Some(probability) => c.network = Some(NetworkFault { probability }),
            None => ok = false,
        }
    }
    ok.then_some(c)
}
