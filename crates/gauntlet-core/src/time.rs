//! Formatting timestamps (the caller reads the clock).

/// `unix_ms` as an RFC 3339 UTC timestamp with milliseconds, e.g. `2026-11-22T03:04:05.678Z`.
pub fn rfc3339(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let ms = unix_ms % 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Parses `YYYY-MM-DD`, or `YYYY-MM-DDTHH:MM:SS[.fff]Z` (UTC), into Unix milliseconds.
pub fn parse_rfc3339(s: &str) -> Option<u64> {
    let (date, time) = match s.split_once('T') {
        Some((d, t)) => (
            d,
            Some(t.strip_suffix('Z').or_else(|| t.strip_suffix('z'))?),
        ),
        None => (s, None),
    };
    let mut parts = date.split('-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: u32 = parts.next()?.parse().ok()?;
    let d: u32 = parts.next()?.parse().ok()?;
    if parts.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let mut ms: u64 = 0;
    if let Some(t) = time {
        let (hms, frac) = t.split_once('.').unwrap_or((t, ""));
        let mut hms = hms.split(':');
        let h: u64 = hms.next()?.parse().ok()?;
        let mi: u64 = hms.next()?.parse().ok()?;
        let se: u64 = hms.next()?.parse().ok()?;
        if hms.next().is_some() || h > 23 || mi > 59 || se > 60 {
            return None;
        }
        let frac_ms: u64 = if frac.is_empty() {
            0
        } else {
            if !frac.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            format!("{frac:0<3}")[..3].parse().ok()?
        };
        ms = ((h * 60 + mi) * 60 + se) * 1000 + frac_ms;
    }
    let days = days_from_civil(y, m, d);
    u64::try_from(days).ok().map(|d| d * 86_400_000 + ms)
}

/// Howard Hinnant's civil-to-days algorithm.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_what_it_formats() {
        for ms in [0u64, 951_782_400_123, 1_790_000_000_999, 4_102_444_800_000] {
            assert_eq!(super::parse_rfc3339(&super::rfc3339(ms)), Some(ms));
        }
        assert_eq!(
            super::parse_rfc3339("2026-11-22"),
            super::parse_rfc3339("2026-11-22T00:00:00Z")
        );
        assert_eq!(
            super::parse_rfc3339("2026-11-22T10:00:00.5Z"),
            Some(super::parse_rfc3339("2026-11-22T10:00:00Z").unwrap_or(0) + 500)
        );
        for bad in [
            "",
            "2026-13-01",
            "2026-11-22T10:00:00",
            "yesterday",
            "2026-11-22T25:00:00Z",
        ] {
            assert_eq!(super::parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn formats_known_instants() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(super::rfc3339(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(
            super::rfc3339(1_795_402_800_000),
            "2026-11-23T03:00:00.000Z"
        );
    }
}
