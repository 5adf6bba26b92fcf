//! Conformal calibration of forecast intervals (normalized split conformal).
//!
//! Each family's own intervals give a shape σ_h per step ahead; the backtest residuals,
//! scaled by that σ_h, give the multipliers that make the 80% and 95% intervals cover what
//! they claim on this series. Coverage is reported leave-one-fold-out, so it is measured on
//! residuals the calibration did not see.

use super::{Forecast, Z95};
use serde::{Deserialize, Serialize};

/// Interval multipliers on the model's σ_h: `point ± q80·σ_h` is the 80% interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Conformal {
    pub q80: f64,
    pub q95: f64,
    /// Residuals the multipliers were computed from.
    pub residuals: usize,
}

/// σ_h read from the 95% band, floored so a zero-width band cannot divide by zero.
fn sigmas(f: &Forecast) -> Vec<f64> {
    let raw: Vec<f64> = f
        .upper_95
        .iter()
        .zip(&f.lower_95)
        .map(|(u, l)| ((u - l) / (2.0 * Z95)).max(0.0))
        .collect();
    let scale = f.point.iter().map(|p| p.abs()).sum::<f64>() / f.point.len().max(1) as f64;
    let floor = (scale * 1e-6).max(1e-12);
    raw.into_iter().map(|s| s.max(floor)).collect()
}

/// |actual − point| / σ_h for each step.
pub fn scores(actual: &[f64], f: &Forecast) -> Vec<f64> {
    actual
        .iter()
        .zip(&f.point)
        .zip(sigmas(f))
        .map(|((a, p), s)| (a - p).abs() / s)
        .collect()
}

/// The finite-sample conformal quantile: the ⌈(n+1)·level⌉-th smallest score.
fn quantile(sorted: &[f64], level: f64) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return f64::NAN;
    }
    let k = ((n as f64 + 1.0) * level).ceil() as usize;
    sorted[k.clamp(1, n) - 1]
}

pub fn calibrate(scores: &[f64]) -> Option<Conformal> {
    let mut s: Vec<f64> = scores.iter().copied().filter(|x| x.is_finite()).collect();
    if s.is_empty() {
        return None;
    }
    s.sort_by(f64::total_cmp);
    Some(Conformal {
        q80: quantile(&s, 0.8),
        q95: quantile(&s, 0.95).max(quantile(&s, 0.8)),
        residuals: s.len(),
    })
}

/// Leave-one-fold-out coverage of the calibrated 80% and 95% intervals.
pub fn lofo_coverage(fold_scores: &[Vec<f64>]) -> Option<(f64, f64)> {
    if fold_scores.len() < 2 {
        return None;
    }
    let (mut hit80, mut hit95, mut n) = (0usize, 0usize, 0usize);
    for (j, held) in fold_scores.iter().enumerate() {
        let rest: Vec<f64> = fold_scores
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != j)
            .flat_map(|(_, s)| s.iter().copied())
            .collect();
        let c = calibrate(&rest)?;
        for s in held {
            n += 1;
            hit80 += (*s <= c.q80) as usize;
            hit95 += (*s <= c.q95) as usize;
        }
    }
    (n > 0).then(|| (hit80 as f64 / n as f64, hit95 as f64 / n as f64))
}

impl Forecast {
    /// The same point forecast with conformal intervals.
    pub fn calibrated(&self, c: &Conformal) -> Forecast {
        let s = sigmas(self);
        let band = |q: f64, sign: f64| self.point.iter().zip(&s).map(|(p, s)| p + sign * q * s).collect();
        Forecast {
            point: self.point.clone(),
            lower_80: band(c.q80, -1.0),
            upper_80: band(c.q80, 1.0),
            lower_95: band(c.q95, -1.0),
            upper_95: band(c.q95, 1.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finite_sample_quantile() {
        // n = 9: the 80% score is the ⌈10·0.8⌉ = 8th smallest
        let s: Vec<f64> = (1..=9).map(|x| x as f64).collect();
        let c = calibrate(&s).unwrap();
        assert_eq!((c.q80, c.q95, c.residuals), (8.0, 9.0, 9));
    }

    #[test]
    fn calibration_fixes_overconfident_intervals() {
        // the model claims σ = 1 but errors are ~3σ: calibrated multipliers grow to match
        let f = Forecast::from_sigma(vec![0.0; 200], &[1.0; 200]);
        let actual: Vec<f64> = (0..200)
            .map(|i| 3.0 * (((i * 7919) % 200) as f64 / 100.0 - 1.0))
            .collect();
        let c = calibrate(&scores(&actual, &f)).unwrap();
        let cal = f.calibrated(&c);
        let inside = |lo: &[f64], hi: &[f64]| {
            actual
                .iter()
                .enumerate()
                .filter(|(i, a)| **a >= lo[*i] && **a <= hi[*i])
                .count() as f64
                / 200.0
        };
        let (c80, c95) = (
            inside(&cal.lower_80, &cal.upper_80),
            inside(&cal.lower_95, &cal.upper_95),
        );
        assert!((0.78..=0.84).contains(&c80), "{c80}");
        assert!((0.93..=0.97).contains(&c95), "{c95}");
        // the native intervals covered far less
        assert!(inside(&f.lower_80, &f.upper_80) < 0.5);
    }

    #[test]
    fn lofo_needs_two_folds() {
        assert!(lofo_coverage(&[vec![1.0, 2.0]]).is_none());
        let (a, b) = lofo_coverage(&[vec![1.0, 2.0, 3.0], vec![1.5, 2.5, 0.5]]).unwrap();
        assert!((0.0..=1.0).contains(&a) && b >= a);
    }
}
