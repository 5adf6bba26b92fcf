//! Time: the crate's one clock, and durations and timestamps as users write them.

use crate::{Error, Result};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// Unix seconds, injected everywhere time is read so that tests (and replays) drive it.
pub trait Clock: Send + Sync {
    /// The current time, unix seconds.
    fn now(&self) -> i64;

    /// [`Clock::now`] as a UTC timestamp.
    fn now_utc(&self) -> DateTime<Utc> {
        DateTime::from_timestamp(self.now(), 0).unwrap_or_default()
    }
}

/// A shared clock.
pub type SharedClock = Arc<dyn Clock>;

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    }
}

/// A clock that moves only when told to (tests, simulated time).
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// A clock standing at `now`.
    pub fn new(now: i64) -> Self {
        ManualClock(AtomicI64::new(now))
    }

    /// Moves the clock to `now`.
    pub fn set(&self, now: i64) {
        self.0.store(now, Ordering::SeqCst);
    }

    /// Moves the clock `seconds` forward.
    pub fn advance(&self, seconds: i64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// The longest duration any field or flag accepts: 10 years. Everything downstream multiplies
/// durations (by steps, by nanoseconds), so the bound keeps that arithmetic far from overflow.
pub const MAX_DURATION_SECONDS: i64 = 10 * 366 * 86_400;

/// The earliest timestamp accepted from outside: 0001-01-01T00:00:00Z.
pub const MIN_TIMESTAMP: i64 = -62_135_596_800;
/// The latest timestamp accepted from outside: 9999-12-31T23:59:59Z. Seconds this size plus
/// [`MAX_DURATION_SECONDS`] are far from `i64` overflow (nanosecond paths saturate instead).
pub const MAX_TIMESTAMP: i64 = 253_402_300_799;

/// Parses "90s", "5m", "1h 30m" (humantime) into whole seconds; a bare number is seconds.
/// Accepts 1s to [`MAX_DURATION_SECONDS`]; anything else is an error naming `field`.
pub fn parse_duration(field: &str, text: &str) -> Result<i64> {
    let t = text.trim();
    let too_long = || {
        Error::config(
            field,
            format!("duration {text:?} is longer than the maximum of 10 years ({MAX_DURATION_SECONDS}s)"),
        )
    };
    if let Ok(secs) = t.parse::<f64>()
        && secs.is_finite()
        && secs > 0.0
    {
        // Compare as f64 before converting: `1e30 as i64` would saturate silently.
        if secs.round() > MAX_DURATION_SECONDS as f64 {
            return Err(too_long());
        }
        if secs.round() < 1.0 {
            return Err(Error::config(field, format!("duration {text:?} must be at least 1s")));
        }
        return Ok(secs.round() as i64);
    }
    let d = humantime::parse_duration(t)
        .map_err(|e| Error::config(field, format!("cannot parse duration {text:?}: {e}")))?;
    if d.as_secs() > MAX_DURATION_SECONDS as u64 {
        return Err(too_long());
    }
    let secs = d.as_secs() as i64;
    if secs <= 0 {
        return Err(Error::config(field, format!("duration {text:?} must be at least 1s")));
    }
    Ok(secs)
}

/// Checks that a timestamp from outside lies in [`MIN_TIMESTAMP`, `MAX_TIMESTAMP`] (years
/// 1–9999), so arithmetic on it (steps, spans, durations) cannot overflow.
pub fn timestamp_in_range(secs: i64) -> bool {
    (MIN_TIMESTAMP..=MAX_TIMESTAMP).contains(&secs)
}

/// Formats seconds compactly: 90 → "1m30s".
pub fn format_duration(secs: i64) -> String {
    humantime::format_duration(std::time::Duration::from_secs(secs.max(0) as u64))
        .to_string()
        .replace(' ', "")
}

/// Parses a timestamp into Unix seconds (UTC). Accepts RFC 3339, "YYYY-MM-DD HH:MM:SS",
/// "YYYY-MM-DDTHH:MM:SS", a bare date, or integer Unix seconds; None outside years 1–9999
/// ([`timestamp_in_range`]).
pub fn parse_timestamp(text: &str) -> Option<i64> {
    parse_timestamp_unchecked(text).filter(|&t| timestamp_in_range(t))
}

fn parse_timestamp_unchecked(text: &str) -> Option<i64> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    if let Ok(n) = t.parse::<i64>() {
        return Some(n);
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Some(dt.timestamp());
    }
    for fmt in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
    ] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(t, fmt) {
            return Some(dt.and_utc().timestamp());
        }
    }
    NaiveDate::parse_from_str(t, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|dt| dt.and_utc().timestamp())
}

/// Formats Unix seconds as "YYYY-MM-DD HH:MM:SS" (UTC), the NAB layout.
pub fn format_timestamp(secs: i64) -> String {
    DateTime::from_timestamp(secs, 0)
        .map(|d| d.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| secs.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        for (text, want) in [("90s", 90), ("5m", 300), ("1h 30m", 5400), ("45", 45), ("2min", 120)] {
            assert_eq!(parse_duration("f", text).unwrap(), want, "{text}");
        }
        assert_eq!(parse_duration("f", "3650d").unwrap(), 3650 * 86_400);
        // (text, part of the error)
        for (bad, why) in [
            ("", "cannot parse"),
            ("-5", "cannot parse"),
            ("0s", "at least 1s"),
            ("0.2", "at least 1s"),
            ("soon", "cannot parse"),
            ("1e30", "maximum"),
            ("9223372036854775807", "maximum"),
            ("4000d", "maximum"),
            ("100000000years", "maximum"),
            ("inf", "cannot parse"),
        ] {
            let err = parse_duration("tick", bad).unwrap_err().to_string();
            assert!(err.contains("tick") && err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn timestamps() {
        let base = 1_404_172_800; // 2014-07-01 00:00:00 UTC
        for text in [
            "2014-07-01 00:00:00",
            "2014-07-01T00:00:00",
            "2014-07-01T00:00:00Z",
            "2014-07-01",
            "1404172800",
        ] {
            assert_eq!(parse_timestamp(text), Some(base), "{text}");
        }
        assert_eq!(parse_timestamp("yesterday"), None);
        for out_of_range in ["1000000000000", "-9223372036854775808", "9223372036854775807"] {
            assert_eq!(parse_timestamp(out_of_range), None, "{out_of_range}");
        }
        assert_eq!(format_timestamp(base), "2014-07-01 00:00:00");
    }
}
