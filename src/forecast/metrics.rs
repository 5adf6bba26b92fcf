//! Accuracy scores. MASE is scaled by the in-sample seasonal-naive MAE (Hyndman & Koehler 2006).

use super::Forecast;
use super::naive::seasonal_naive_mae;

/// Mean absolute scaled error of `pred` against `actual`, scaled by the seasonal naive MAE
/// (period `m`) on `train`. Returns None when the scale is zero (a constant history).
pub fn mase(train: &[f64], m: usize, actual: &[f64], pred: &[f64]) -> Option<f64> {
    let scale = seasonal_naive_mae(train, m);
    if scale <= 0.0 || actual.is_empty() {
        return None;
    }
    Some(mae(actual, pred) / scale)
}

pub fn mae(actual: &[f64], pred: &[f64]) -> f64 {
    actual.iter().zip(pred).map(|(a, p)| (a - p).abs()).sum::<f64>() / actual.len().max(1) as f64
}

/// Symmetric MAPE in percent (0–200); pairs where both are zero count as 0.
pub fn smape(actual: &[f64], pred: &[f64]) -> f64 {
    let s: f64 = actual
        .iter()
        .zip(pred)
        .map(|(a, p)| {
            let d = a.abs() + p.abs();
            if d == 0.0 { 0.0 } else { 200.0 * (a - p).abs() / d }
        })
        .sum();
    s / actual.len().max(1) as f64
}

/// Fractions of actuals inside the 80% and 95% intervals.
pub fn coverage(actual: &[f64], f: &Forecast) -> (f64, f64) {
    let n = actual.len().max(1) as f64;
    let inside = |lo: &[f64], hi: &[f64]| {
        actual
            .iter()
            .enumerate()
            .filter(|&(i, a)| *a >= lo[i] && *a <= hi[i])
            .count() as f64
            / n
    };
    (inside(&f.lower_80, &f.upper_80), inside(&f.lower_95, &f.upper_95))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_values() {
        let train = [1.0, 2.0, 3.0, 4.0, 5.0];
        // naive (m=1) in-sample MAE = 1
        assert_eq!(mase(&train, 1, &[6.0, 7.0], &[6.0, 9.0]), Some(1.0));
        assert_eq!(mase(&[3.0; 5], 1, &[3.0], &[3.0]), None);
        assert!((smape(&[100.0, 0.0], &[110.0, 0.0]) - 200.0 * 10.0 / 210.0 / 2.0).abs() < 1e-12);
        let f = Forecast::from_sigma(vec![0.0, 0.0, 0.0, 0.0], &[1.0; 4]);
        assert_eq!(coverage(&[0.0, 1.5, 1.0, 3.0], &f), (0.5, 0.75));
    }
}
