//! HTTP dates: `email.utils.formatdate(usegmt=True)` output and a tolerant parser for
//! If-Modified-Since (RFC 1123, RFC 850 and asctime forms, like `parsedate_to_datetime`).

use std::time::{SystemTime, UNIX_EPOCH};

const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Days since 1970-01-01 to (year, month 1-12, day 1-31); Hinnant's civil-from-days.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// (year, month 1-12, day 1-31) to days since 1970-01-01.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = year - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let mp = i64::from((month + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` for seconds since the epoch.
pub fn format(unix_seconds: i64) -> String {
    let days = unix_seconds.div_euclid(86_400);
    let secs = unix_seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    // 1970-01-01 was a Thursday (index 3 from Monday).
    let weekday = DAYS[(days + 3).rem_euclid(7) as usize];
    let month_name = MONTHS[(month - 1) as usize];
    format!(
        "{weekday}, {day:02} {month_name} {year:04} {:02}:{:02}:{:02} GMT",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Seconds since the epoch of a system time (negative before 1970), whole seconds.
pub fn unix_seconds(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => {
            let before = before.duration();
            let whole = i64::try_from(before.as_secs()).unwrap_or(i64::MAX);
            if before.subsec_nanos() > 0 {
                -whole - 1
            } else {
                -whole
            }
        }
    }
}

/// The current time as a Date header value.
pub fn now() -> String {
    format(unix_seconds(SystemTime::now()))
}

fn month_index(token: &str) -> Option<u32> {
    let prefix = token.get(..3)?;
    MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(prefix))
        .map(|i| i as u32 + 1)
}

fn parse_time(token: &str) -> Option<(i64, i64, i64)> {
    let mut parts = token.split(':');
    let hour = parts.next()?.parse().ok()?;
    let minute = parts.next()?.parse().ok()?;
    let second = parts.next().map_or(Some(0), |s| s.parse().ok())?;
    if parts.next().is_some() || hour > 23 || minute > 59 || second > 61 {
        return None;
    }
    Some((hour, minute, second))
}

/// Zone offset in seconds; None for a zone we do not know.
fn parse_zone(token: &str) -> Option<i64> {
    match token.to_ascii_uppercase().as_str() {
        "GMT" | "UT" | "UTC" | "Z" => return Some(0),
        _ => {}
    }
    let (sign, digits) = match token.as_bytes().first()? {
        b'+' => (1, &token[1..]),
        b'-' => (-1, &token[1..]),
        _ => return None,
    };
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value: i64 = digits.parse().ok()?;
    Some(sign * (value / 100 * 3600 + value % 100 * 60))
}

/// Seconds since the epoch of an HTTP date in UTC (or without a zone, taken as UTC).
/// None when malformed or in another zone, which the stdlib then ignores.
pub fn parse(value: &str) -> Option<i64> {
    let mut tokens: Vec<&str> = Vec::with_capacity(6);
    for word in value.split_whitespace() {
        // RFC 850 writes the date as 06-Nov-94.
        if word.matches('-').count() == 2 && !word.starts_with('-') {
            tokens.extend(word.split('-'));
        } else {
            tokens.push(word);
        }
    }
    let (mut day, mut month, mut year, mut time, mut zone) = (None, None, None, None, None);
    for (i, token) in tokens.iter().enumerate() {
        let token = token.trim_end_matches(',');
        let is_weekday = i == 0
            && token.len() >= 3
            && DAYS.iter().any(|d| {
                token
                    .get(..3)
                    .is_some_and(|prefix| prefix.eq_ignore_ascii_case(d))
            });
        if is_weekday {
            continue;
        }
        if token.contains(':') {
            time = Some(parse_time(token)?);
        } else if month.is_none() && token.starts_with(|c: char| c.is_ascii_alphabetic()) {
            if let Some(m) = month_index(token) {
                month = Some(m);
                continue;
            }
            zone = Some(parse_zone(token)?);
        } else if token.bytes().all(|b| b.is_ascii_digit()) && !token.is_empty() {
            let number: i64 = token.parse().ok()?;
            if day.is_none() && token.len() <= 2 {
                day = Some(number);
            } else if year.is_none() {
                year = Some(if token.len() <= 2 {
                    // Two-digit years as email.utils reads them.
                    if number > 68 {
                        number + 1900
                    } else {
                        number + 2000
                    }
                } else {
                    number
                });
            } else {
                return None;
            }
        } else {
            zone = Some(parse_zone(token)?);
        }
    }
    let (day, month, year, (hour, minute, second)) = (day?, month?, year?, time?);
    if !(1..=31).contains(&day) || !(1..=9999).contains(&year) {
        return None;
    }
    let days = days_from_civil(year, month, day as u32);
    if civil_from_days(days) != (year, month, day as u32) {
        return None;
    }
    // Only UTC (or no zone at all) counts, as in SimpleHTTPRequestHandler.send_head.
    if zone.unwrap_or(0) != 0 {
        return None;
    }
    Some(days * 86_400 + hour * 3600 + minute * 60 + second.min(59))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_formatdate() {
        assert_eq!(format(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(format(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(format(1_795_609_829), "Wed, 25 Nov 2026 12:30:29 GMT");
        assert_eq!(format(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
    }

    #[test]
    fn parses_the_three_http_forms() {
        assert_eq!(parse("Sun, 06 Nov 1994 08:49:37 GMT"), Some(784_111_777));
        assert_eq!(parse("Sunday, 06-Nov-94 08:49:37 GMT"), Some(784_111_777));
        assert_eq!(parse("Sun Nov  6 08:49:37 1994"), Some(784_111_777));
        assert_eq!(parse("06 Nov 1994 08:49:37 +0000"), Some(784_111_777));
        assert_eq!(parse("Sun, 06 Nov 1994 08:49:37 -0000"), Some(784_111_777));
    }

    #[test]
    fn rejects_garbage_and_other_zones() {
        assert_eq!(parse("yesterday"), None);
        assert_eq!(parse(""), None);
        assert_eq!(parse("Sun, 31 Feb 1994 08:49:37 GMT"), None);
        assert_eq!(parse("Sun, 06 Nov 1994 08:49:37 +0100"), None);
        assert_eq!(parse("Sun, 06 Nov 1994 25:49:37 GMT"), None);
    }

    #[test]
    fn round_trips() {
        for t in [
            0_i64,
            1,
            86_399,
            86_400,
            1_000_000_000,
            4_102_444_800,
            253_402_300_799,
        ] {
            assert_eq!(parse(&format(t)), Some(t), "{t}");
        }
    }
}
