//! How numbers, times and statuses read on a page.

use crate::esc;

/// `840 ms`, `1.24 s`, `3 min 05 s`.
pub fn ms(v: f64) -> String {
    if !v.is_finite() || v < 0.0 {
        return "–".to_owned();
    }
    if v < 1.0 {
        format!("{v:.2} ms")
    } else if v < 1000.0 {
        format!("{v:.0} ms")
    } else if v < 60_000.0 {
        format!("{:.2} s", v / 1000.0)
    } else {
        let s = (v / 1000.0).round() as u64;
        format!("{} min {:02} s", s / 60, s % 60)
    }
}

/// `$0.0123`, `$12.40`, `$0` for nothing.
pub fn cost(v: f64) -> String {
    if v == 0.0 {
        "$0".to_owned()
    } else if v < 0.01 {
        format!("${v:.5}")
    } else if v < 100.0 {
        format!("${v:.4}")
    } else {
        format!("${v:.2}")
    }
}

/// `950`, `12.3k`, `4.1M`.
pub fn count(v: u64) -> String {
    if v < 10_000 {
        v.to_string()
    } else if v < 1_000_000 {
        format!("{:.1}k", v as f64 / 1000.0)
    } else {
        format!("{:.1}M", v as f64 / 1_000_000.0)
    }
}

/// `87.5%`.
pub fn pct(part: u64, whole: u64) -> String {
    if whole == 0 {
        "–".to_owned()
    } else {
        format!("{:.1}%", part as f64 * 100.0 / whole as f64)
    }
}

/// An RFC 3339 time as `2026-12-07 10:35:17 UTC`, with the exact value on hover.
pub fn time(rfc3339: &str) -> String {
    let short = rfc3339
        .get(..19)
        .map(|s| s.replace('T', " "))
        .unwrap_or_else(|| rfc3339.to_owned());
    format!(
        r#"<time datetime="{}">{} UTC</time>"#,
        esc(rfc3339),
        esc(&short)
    )
}

/// Milliseconds between two RFC 3339 times, when both parse.
pub fn between(start: &str, end: Option<&str>) -> Option<f64> {
    let a = gauntlet_core::time::parse_rfc3339(start)?;
    let b = gauntlet_core::time::parse_rfc3339(end?)?;
    Some(b.saturating_sub(a) as f64)
}

/// A status as a labelled badge (the word is always there: colour is never the only signal).
pub fn badge(status: &str) -> String {
    let class = match status {
        "passed" | "succeeded" | "ran" => "ok",
        "failed" => "bad",
        "error" | "errored" | "retryable" => "warn",
        "running" | "pending" | "queued" => "live",
        "paused" => "paused",
        _ => "mute",
    };
    format!(r#"<span class="badge {class}">{}</span>"#, esc(status))
}

/// A short run id for tables: the last 10 characters of the ULID.
pub fn short_id(id: &str) -> &str {
    id.get(id.len().saturating_sub(10)..).unwrap_or(id)
}
