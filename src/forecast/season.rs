//! Season detection: calendar periods (a day, a week) confirmed by autocorrelation,
//! else augurs' periodogram detector.

use augurs::seasons::{Detector, PeriodogramDetector};

/// Autocorrelation at `lag`.
pub fn autocorrelation(x: &[f64], lag: usize) -> f64 {
    if lag == 0 || lag >= x.len() {
        return 0.0;
    }
    let m = x.iter().sum::<f64>() / x.len() as f64;
    let var: f64 = x.iter().map(|v| (v - m).powi(2)).sum();
    if var == 0.0 {
        return 0.0;
    }
    x.iter().zip(&x[lag..]).map(|(a, b)| (a - m) * (b - m)).sum::<f64>() / var
}

/// Seasonal periods (in steps) worth modelling, shortest first. Calendar candidates need
/// two full cycles of history and an autocorrelation above 0.2 at their lag.
pub fn detect_periods(y: &[f64], step_seconds: i64) -> Vec<usize> {
    let mut out = Vec::new();
    for secs in [86_400i64, 7 * 86_400] {
        if step_seconds <= 0 || secs % step_seconds != 0 {
            continue;
        }
        let p = (secs / step_seconds) as usize;
        if p >= 2 && y.len() >= 2 * p && autocorrelation(y, p) > 0.2 {
            out.push(p);
        }
    }
    if out.is_empty() {
        let detector = PeriodogramDetector::builder()
            .min_period(2)
            .max_period((y.len() / 2).max(3) as u32)
            .build();
        if let Some(p) = detector.detect(y).into_iter().next()
            && p >= 2
            && y.len() >= 2 * p as usize
        {
            out.push(p as usize);
        }
    }
    out
}

/// The period used for the MASE scale and the seasonal naive baseline: the shortest detected, or 1.
pub fn primary_period(periods: &[usize]) -> usize {
    periods.first().copied().unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::TAU;

    #[test]
    fn finds_daily_and_weekly() {
        // hourly data: daily cycle plus a weekend dip, 4 weeks
        let y: Vec<f64> = (0..672)
            .map(|t| 50.0 + 20.0 * (TAU * t as f64 / 24.0).sin() + if (t / 24) % 7 >= 5 { -15.0 } else { 0.0 })
            .collect();
        assert_eq!(detect_periods(&y, 3600), vec![24, 168]);
        // too short for weekly
        assert_eq!(detect_periods(&y[..200], 3600), vec![24]);
    }

    #[test]
    fn periodogram_fallback_on_odd_step() {
        // period 10 at a step that divides no calendar unit
        let y: Vec<f64> = (0..400).map(|t| (TAU * t as f64 / 10.0).sin()).collect();
        assert_eq!(detect_periods(&y, 7), vec![10]);
    }
}
