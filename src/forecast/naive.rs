//! Seasonal naive: the value one season ago. Intervals follow Hyndman & Athanasopoulos
//! (FPP3 §5.5): σ_h = σ·√(k+1), k = ⌊(h−1)/m⌋, σ from the in-sample seasonal differences.

use super::Online;
use super::{Fitted, Forecast, Forecaster, ModelSpec};
use crate::Result;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

pub struct SeasonalNaive {
    period: usize,
}

impl SeasonalNaive {
    pub fn new(period: usize) -> Self {
        SeasonalNaive { period: period.max(1) }
    }
}

impl Forecaster for SeasonalNaive {
    fn fit(&self, y: &[f64]) -> Result<Box<dyn Fitted>> {
        // Fall back to period 1 when the history is shorter than two seasons.
        let m = if y.len() >= 2 * self.period { self.period } else { 1 };
        Ok(Box::new(FittedNaive {
            period: m,
            last: y[y.len() - m..].to_vec(),
            sigma: seasonal_diff_sd(y, m),
        }))
    }
}

/// RMS of the seasonal differences y[t] − y[t−m].
pub fn seasonal_diff_sd(y: &[f64], m: usize) -> f64 {
    let d: Vec<f64> = (m..y.len()).map(|t| y[t] - y[t - m]).collect();
    if d.is_empty() {
        return 0.0;
    }
    (d.iter().map(|x| x * x).sum::<f64>() / d.len() as f64).sqrt()
}

/// In-sample MAE of the seasonal naive forecast: the MASE denominator.
pub fn seasonal_naive_mae(y: &[f64], m: usize) -> f64 {
    let m = if y.len() > m { m } else { 1 };
    let n = y.len().saturating_sub(m);
    if n == 0 {
        return 0.0;
    }
    (m..y.len()).map(|t| (y[t] - y[t - m]).abs()).sum::<f64>() / n as f64
}

struct FittedNaive {
    period: usize,
    last: Vec<f64>,
    sigma: f64,
}

impl Fitted for FittedNaive {
    fn predict(&self, horizon: usize) -> Result<Forecast> {
        let m = self.period;
        let point: Vec<f64> = (0..horizon).map(|h| self.last[h % m]).collect();
        let sigma: Vec<f64> = (0..horizon).map(|h| self.sigma * ((h / m + 1) as f64).sqrt()).collect();
        Ok(Forecast::from_sigma(point, &sigma))
    }

    fn frozen_spec(&self) -> ModelSpec {
        ModelSpec::SeasonalNaive { period: self.period }
    }

    fn online(&self) -> Option<Online> {
        Some(Online::SeasonalNaive(NaiveState {
            last: self.last.iter().copied().collect(),
            sigma: self.sigma,
        }))
    }
}

/// Seasonal naive: the last season of values, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NaiveState {
    pub last: VecDeque<f64>,
    pub sigma: f64,
}

impl NaiveState {
    pub(crate) fn observe(&mut self, y: f64) {
        if let Some(old) = self.last.pop_front() {
            // A missing value repeats the season before, which is what was forecast for it.
            self.last.push_back(if y.is_finite() { y } else { old });
        }
    }

    pub(crate) fn predict(&self, horizon: usize) -> Forecast {
        let m = self.last.len().max(1);
        let point = (0..horizon)
            .map(|h| self.last.get(h % m).copied().unwrap_or(0.0))
            .collect();
        let sigma: Vec<f64> = (0..horizon).map(|h| self.sigma * ((h / m + 1) as f64).sqrt()).collect();
        Forecast::from_sigma(point, &sigma)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_on_known_series() {
        // Period 3; seasonal differences are all 1 apart from the pattern repeat, so σ is known.
        let y = [1.0, 2.0, 3.0, 2.0, 3.0, 4.0, 3.0, 4.0, 5.0];
        let f = SeasonalNaive::new(3).fit(&y).unwrap().predict(7).unwrap();
        assert_eq!(f.point, vec![3.0, 4.0, 5.0, 3.0, 4.0, 5.0, 3.0]);
        // every seasonal difference is exactly 1 → σ = 1; steps 1-3 use k=0, 4-6 k=1, 7 k=2.
        let s = |h: usize| (f.upper_95[h] - f.point[h]) / super::super::Z95;
        for (h, want) in [(0, 1.0), (2, 1.0), (3, 2f64.sqrt()), (6, 3f64.sqrt())] {
            assert!((s(h) - want).abs() < 1e-9, "h={h} sigma {} want {want}", s(h));
        }
        assert!((seasonal_naive_mae(&y, 3) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn short_history_falls_back_to_naive() {
        let f = SeasonalNaive::new(24).fit(&[1.0, 2.0, 3.0, 4.0]).unwrap();
        assert_eq!(f.predict(2).unwrap().point, vec![4.0, 4.0]);
        assert_eq!(f.frozen_spec(), ModelSpec::SeasonalNaive { period: 1 });
    }
}
