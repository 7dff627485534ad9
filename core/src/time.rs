//! Time as the core keeps it: UTC instants in milliseconds since the epoch in the
//! store, RFC 3339 on the wire and on screen, and user durations like `2h`.

use chrono::{DateTime, SecondsFormat, Utc};
use std::time::Duration;

/// Milliseconds since the Unix epoch.
pub type Millis = i64;

pub fn now_ms() -> Millis {
    Utc::now().timestamp_millis()
}

/// RFC 3339 with millisecond precision, `Z` suffix.
pub fn rfc3339(ms: Millis) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Parses an RFC 3339 timestamp into milliseconds.
pub fn parse_rfc3339(s: &str) -> Option<Millis> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// Parses an instant a person writes: RFC 3339 (`2026-11-01T00:00:00Z`) or a
/// date (`2026-11-01`, midnight UTC).
pub fn parse_instant(s: &str) -> Result<Millis, String> {
    let s = s.trim();
    if let Some(ms) = parse_rfc3339(s) {
        return Ok(ms);
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_millis())
        .ok_or_else(|| format!("{s:?} is not a time: write 2026-11-01 or 2026-11-01T12:00:00Z"))
}

/// Parses the start of a window: an instant (`parse_instant`) or a duration ago
/// (`24h` is 24 hours before now).
pub fn parse_since(s: &str) -> Result<Millis, String> {
    parse_instant(s).or_else(|_| {
        parse_duration(s)
            .map(|d| now_ms() - duration_ms(d))
            .map_err(|_| format!("{s:?} is neither a time (2026-11-01) nor a duration (24h)"))
    })
}

/// The longest duration anything accepts (ten years): far beyond any lifetime,
/// and far from where milliseconds since the epoch could overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// The shortest lifetime a sandbox may be given or extended by.
pub const MIN_LIFETIME: Duration = Duration::from_secs(1);

/// Parses a duration such as `90s`, `30m`, `2h` or `1d 6h`; longer than zero and no
/// longer than `MAX_DURATION`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s.trim())
        .map_err(|e| format!("invalid duration {s:?}: {e} (write it like 30m, 2h or 1d)"))?;
    if d.is_zero() {
        return Err(format!(
            "invalid duration {s:?}: it must be longer than zero"
        ));
    }
    if d > MAX_DURATION {
        return Err(format!(
            "invalid duration {s:?}: the longest accepted is {}d",
            MAX_DURATION.as_secs() / 86_400
        ));
    }
    Ok(d)
}

/// Parses a lifetime (a TTL, or how much to extend one by): a duration of at least
/// `MIN_LIFETIME`.
pub fn parse_lifetime(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d < MIN_LIFETIME {
        return Err(format!(
            "invalid duration {s:?}: a lifetime is at least {}",
            format_duration(MIN_LIFETIME)
        ));
    }
    Ok(d)
}

/// `at + d`, or an error naming `what` when the instant would not be representable.
pub fn checked_after(at: Millis, d: Duration, what: &str) -> Result<Millis, String> {
    at.checked_add(duration_ms(d))
        .filter(|t| *t <= now_ms().saturating_add(duration_ms(MAX_DURATION) * 2))
        .ok_or_else(|| format!("{what}: {} is too far in the future", format_duration(d)))
}

/// A duration as a person writes it (`2h 30m`).
pub fn format_duration(d: Duration) -> String {
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
}

pub fn duration_ms(d: Duration) -> Millis {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_are_dates_or_rfc3339() {
        assert_eq!(parse_instant("1970-01-02").unwrap(), 86_400_000);
        assert_eq!(parse_instant("1970-01-01T00:00:01.5Z").unwrap(), 1_500);
        assert_eq!(parse_instant("1970-01-01T01:00:00+01:00").unwrap(), 0);
        assert!(
            parse_instant("yesterday")
                .unwrap_err()
                .contains("2026-11-01")
        );
    }

    #[test]
    fn durations_round_trip_and_refuse_nonsense() {
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(
            parse_duration(" 1d 6h ").unwrap(),
            Duration::from_secs(108_000)
        );
        assert!(
            parse_duration("0s")
                .unwrap_err()
                .contains("longer than zero")
        );
        assert!(parse_duration("soon").unwrap_err().contains("30m"));
        assert!(parse_duration("-5m").is_err());
        assert!(
            parse_duration("5000000000000h")
                .unwrap_err()
                .contains("longest accepted")
        );
        assert!(parse_duration("9999999999999999999999h").is_err());
        assert!(parse_lifetime("1ns").unwrap_err().contains("at least 1s"));
        assert_eq!(parse_lifetime("1s").unwrap(), Duration::from_secs(1));
        assert_eq!(format_duration(Duration::from_millis(7_200_900)), "2h");
    }

    #[test]
    fn instants_after_a_duration_are_checked() {
        assert_eq!(checked_after(1_000, Duration::from_secs(1), "x"), Ok(2_000));
        assert!(checked_after(i64::MAX - 1, Duration::from_secs(1), "ttl").is_err());
        assert!(
            checked_after(now_ms(), Duration::MAX, "ttl")
                .unwrap_err()
                .starts_with("ttl:")
        );
    }

    #[test]
    fn instants_round_trip() {
        let t = 1_764_194_400_123;
        assert_eq!(rfc3339(t), "2025-11-26T22:00:00.123Z");
        assert_eq!(parse_rfc3339(&rfc3339(t)), Some(t));
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
