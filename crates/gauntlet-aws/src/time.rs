//! UTC timestamps for SigV4 without a date crate.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::AwsError;

/// `time` as the SigV4 pair (`yyyymmddThhmmssZ`, `yyyymmdd`), in UTC.
pub(crate) fn amz_date(time: SystemTime) -> Result<(String, String), AwsError> {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map_err(|_| AwsError::InvalidTime("before 1970-01-01".to_owned()))?
        .as_secs();
    let days = i64::try_from(secs / 86_400)
        .map_err(|_| AwsError::InvalidTime("too far in the future".to_owned()))?;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    if y > 9999 {
        return Err(AwsError::InvalidTime("year after 9999".to_owned()));
    }
    let date = format!("{y:04}{m:02}{d:02}");
    let stamp = format!(
        "{date}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    Ok((stamp, date))
}

/// Howard Hinnant's days-to-civil: the proleptic Gregorian (year, month, day) `days` after
/// 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March-based
    let day = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let month = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let year = yoe + era * 400 + i64::from(month <= 2);
    // Both fit: day is in 1..=31 and month in 1..=12 by construction.
    (year, month as u32, day as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64) -> (String, String) {
        amz_date(UNIX_EPOCH + Duration::from_secs(secs)).unwrap()
    }

    #[test]
    fn formats_known_instants() {
        assert_eq!(at(0).0, "19700101T000000Z");
        assert_eq!(
            at(1_440_938_160),
            ("20150830T123600Z".into(), "20150830".into())
        );
        // Leap day, end of a leap year, and the 2000 (divisible by 400) leap day.
        assert_eq!(at(1_709_210_096).0, "20240229T123456Z");
        assert_eq!(at(1_735_689_599).0, "20241231T235959Z");
        assert_eq!(at(951_782_400).0, "20000229T000000Z");
        assert_eq!(at(4_107_542_400).0, "21000301T000000Z");
    }

    #[test]
    fn every_day_advances_the_calendar_by_one() {
        let mut prev = civil_from_days(-1);
        for days in 0..200_000 {
            let cur = civil_from_days(days);
            let next_day = (prev.0, prev.1, prev.2 + 1);
            let next_month = (prev.0, prev.1 + 1, 1);
            let next_year = (prev.0 + 1, 1, 1);
            let leap = prev.0 % 4 == 0 && (prev.0 % 100 != 0 || prev.0 % 400 == 0);
            let month_len = match prev.1 {
                2 if leap => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            let ok = if prev.2 == month_len {
                cur == if prev.1 == 12 { next_year } else { next_month }
            } else {
                cur == next_day
            };
            assert!(ok, "{prev:?} -> {cur:?}");
            prev = cur;
        }
    }

    #[test]
    fn rejects_times_before_the_epoch() {
        assert!(amz_date(UNIX_EPOCH - Duration::from_secs(1)).is_err());
    }
}
