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

/// Parses "90s", "5m", "1h 30m" (humantime) into whole seconds; a bare number is seconds.
pub fn parse_duration(field: &str, text: &str) -> Result<i64> {
    let t = text.trim();
    if let Ok(secs) = t.parse::<f64>()
        && secs.is_finite()
        && secs > 0.0
    {
        return Ok(secs.round() as i64);
    }
    let d = humantime::parse_duration(t)
        .map_err(|e| Error::config(field, format!("cannot parse duration {text:?}: {e}")))?;
    let secs = d.as_secs() as i64;
    if secs <= 0 {
        return Err(Error::config(field, format!("duration {text:?} must be at least 1s")));
    }
    Ok(secs)
}

/// Formats seconds compactly: 90 → "1m30s".
pub fn format_duration(secs: i64) -> String {
    humantime::format_duration(std::time::Duration::from_secs(secs.max(0) as u64))
        .to_string()
        .replace(' ', "")
}

/// Parses a timestamp into Unix seconds (UTC). Accepts RFC 3339, "YYYY-MM-DD HH:MM:SS",
/// "YYYY-MM-DDTHH:MM:SS", a bare date, or integer Unix seconds.
pub fn parse_timestamp(text: &str) -> Option<i64> {
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
        for bad in ["", "-5", "0s", "soon"] {
            let err = parse_duration("tick", bad).unwrap_err().to_string();
            assert!(err.contains("tick"), "{err}");
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
        assert_eq!(format_timestamp(base), "2014-07-01 00:00:00");
    }
}
