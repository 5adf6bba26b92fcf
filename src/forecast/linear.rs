//! Direct autoregressive linear model: y[t] regressed with a linfa elastic net (pure ridge,
//! `l1_ratio` = 0, is solved exactly instead: see [`ridge`]) on lagged values y[t−l] and, for each seasonal period p, Fourier pairs
//! sin(2πkt/p), cos(2πkt/p), k = 1..K. Forecasts are recursive: each prediction is fed back
//! as a lag for the next step, so one fitted model serves every horizon.
//!
//! Features and target are standardized before fitting (means and standard deviations are
//! stored and folded back into raw-unit coefficients), so `alpha` means the same thing on a
//! series of 5 requests/s as on one of 50 000: it is relative to unit-variance features. In
//! linfa's parameterisation the objective is
//! ‖y − Xw‖²/(2n) + α·l1_ratio·‖w‖₁ + α·(1 − l1_ratio)/2·‖w‖²; α ≈ 1e-3 is light shrinkage.
//!
//! Intervals are Gaussian with σ_h = σ·√h, σ the RMS of the in-sample one-step residuals. That
//! is the random-walk growth rule, a simple approximation that ignores the fitted dynamics
//! (too wide for a fast-reverting series, too narrow for a near-unit-root one); calibrated
//! conformal intervals are applied on top elsewhere.

use super::Online;
use super::{Fitted, Forecast, Forecaster, ModelSpec};
use crate::{Error, Result};
use linfa::DatasetBase;
use linfa::traits::Fit;
use linfa_elasticnet::ElasticNet;
use ndarray::{ArrayView1, ArrayView2, ShapeBuilder};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::f64::consts::TAU;

const FAMILY: &str = "linear";

/// Coordinate-descent tolerance (duality gap relative to ‖z‖²): tighter than linfa's 1e-4
/// default so that strongly correlated lags (y[t−1], y[t−2], …) converge rather than stop early.
const TOLERANCE: f64 = 1e-6;
const MAX_ITERATIONS: u32 = 5000;

pub struct Linear {
    lags: Vec<usize>,
    periods: Vec<usize>,
    fourier_terms: usize,
    alpha: f64,
    l1_ratio: f64,
}

impl Linear {
    pub fn new(lags: Vec<usize>, periods: Vec<usize>, fourier_terms: usize, alpha: f64, l1_ratio: f64) -> Self {
        Linear {
            lags,
            periods,
            fourier_terms,
            alpha,
            l1_ratio,
        }
    }

    fn check_params(&self) -> Result<()> {
        if !(self.alpha.is_finite() && self.alpha >= 0.0) {
            return Err(err(format!("alpha must be finite and ≥ 0, got {}", self.alpha)));
        }
        if !(0.0..=1.0).contains(&self.l1_ratio) {
            return Err(err(format!("l1_ratio must be in [0, 1], got {}", self.l1_ratio)));
        }
        if self.lags.contains(&0) {
            return Err(err("lag 0 would regress y[t] on itself; lags must be ≥ 1"));
        }
        if self.fourier_terms > 0 && self.periods.contains(&0) {
            return Err(err("seasonal periods must be ≥ 1"));
        }
        if self.lags.is_empty() {
            return Err(err("no lags given: the model is autoregressive and needs at least one"));
        }
        Ok(())
    }

    fn n_fourier(&self) -> usize {
        2 * self.fourier_terms * self.periods.len()
    }

    /// linfa coordinate descent on the standardized column-major design `x` (rows × n_feat).
    fn elastic_net(&self, x: &[f64], z: &[f64], rows: usize, n_feat: usize) -> Result<(Vec<f64>, f64)> {
        let x = ArrayView2::from_shape((rows, n_feat).f(), x).map_err(|e| err(e.to_string()))?;
        let data = DatasetBase::new(x, ArrayView1::from(z));
        let model = ElasticNet::params()
            .penalty(self.alpha)
            .l1_ratio(self.l1_ratio)
            .with_intercept(true)
            .tolerance(TOLERANCE)
            .max_iterations(MAX_ITERATIONS)
            .fit(&data)
            .map_err(|e| err(e.to_string()))?;
        Ok((model.hyperplane().to_vec(), model.intercept()))
    }
}

/// Ridge (l1_ratio = 0) in closed form: the minimiser of linfa's objective
/// ‖z − Xw‖²/(2n) + α/2·‖w‖² solves (XᵀX/n + αI) w = Xᵀz/n. linfa's coordinate descent stops
/// on a duality gap that is invalid without an L1 term (the scikit-learn formula it copies has
/// the same flaw, scikit-learn#32845), so for pure ridge it always runs to `max_iterations`:
/// hundreds of ms on a month of 5-minute data where this p×p solve takes microseconds.
/// With centred features and target the intercept is 0. Constant (`!live`) columns get w = 0.
fn ridge(x: &[f64], z: &[f64], rows: usize, live: &[bool], alpha: f64) -> Result<Vec<f64>> {
    let p = live.len();
    let col = |j: usize| &x[j * rows..(j + 1) * rows];
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(a, b)| a * b).sum::<f64>() / rows as f64;
    let mut gram = vec![0.0; p * p];
    let mut rhs = vec![0.0; p];
    for j in 0..p {
        if !live[j] {
            gram[j * p + j] = 1.0;
            continue;
        }
        rhs[j] = dot(col(j), z);
        for k in 0..=j {
            if live[k] {
                let g = dot(col(j), col(k));
                gram[j * p + k] = g;
                gram[k * p + j] = g;
            }
        }
    }
    // α = 0 with exactly collinear features (e.g. aliased harmonics) is singular: retry with
    // a jitter far below any useful penalty (approaching the minimum-norm solution).
    for jitter in [0.0, 1e-10, 1e-6] {
        let mut a = gram.clone();
        for j in 0..p {
            a[j * p + j] += alpha + jitter;
        }
        if let Some(w) = cholesky_solve(&mut a, &rhs, p) {
            return Ok(w);
        }
    }
    Err(err("ridge normal equations are singular"))
}

/// Solves A w = b for symmetric positive definite A (p × p, row-major, overwritten by its
/// Cholesky factor). None if A is not numerically positive definite.
fn cholesky_solve(a: &mut [f64], b: &[f64], p: usize) -> Option<Vec<f64>> {
    for j in 0..p {
        let mut d = a[j * p + j];
        for k in 0..j {
            d -= a[j * p + k] * a[j * p + k];
        }
        if d.is_nan() || d <= 1e-12 {
            return None;
        }
        let d = d.sqrt();
        a[j * p + j] = d;
        for i in j + 1..p {
            let mut v = a[i * p + j];
            for k in 0..j {
                v -= a[i * p + k] * a[j * p + k];
            }
            a[i * p + j] = v / d;
        }
    }
    // L y = b, then Lᵀ w = y.
    let mut w = b.to_vec();
    for i in 0..p {
        for k in 0..i {
            w[i] -= a[i * p + k] * w[k];
        }
        w[i] /= a[i * p + i];
    }
    for i in (0..p).rev() {
        for k in i + 1..p {
            w[i] -= a[k * p + i] * w[k];
        }
        w[i] /= a[i * p + i];
    }
    Some(w)
}

fn err(msg: impl Into<String>) -> Error {
    Error::model(FAMILY, msg)
}

/// Mean and population standard deviation.
fn mean_std(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// True when a column or target is constant up to rounding: it carries no information and
/// must not be divided by its (near-zero) standard deviation.
fn degenerate(mean: f64, std: f64) -> bool {
    std.is_nan() || std <= 1e-10 * mean.abs().max(1.0)
}

impl Forecaster for Linear {
    fn fit(&self, y: &[f64]) -> Result<Box<dyn Fitted>> {
        self.check_params()?;
        let n = y.len();
        if n < 4 {
            return Err(err(format!("need at least 4 points, got {n}")));
        }
        if let Some(i) = y.iter().position(|v| !v.is_finite()) {
            return Err(err(format!("non-finite training value at index {i}")));
        }

        // Lags longer than half the series would leave too few rows (and none of the
        // history they are meant to capture); drop them and report what remains.
        let mut lags = self.lags.clone();
        lags.sort_unstable();
        lags.dedup();
        lags.retain(|&l| l <= n / 2);
        let Some(&max_lag) = lags.last() else {
            return Err(err(format!(
                "series too short: {n} points, but every lag in {:?} exceeds half its length ({})",
                self.lags,
                n / 2
            )));
        };

        let rows = n - max_lag;
        let n_lag = lags.len();
        let n_feat = n_lag + self.n_fourier();
        if rows <= n_feat + 1 {
            return Err(err(format!(
                "series too short: {rows} training rows (after the longest lag, {max_lag}) for {n_feat} features"
            )));
        }

        // Column-major design matrix: linfa's coordinate descent walks one column at a time.
        let mut x = vec![0.0; rows * n_feat];
        for (j, &l) in lags.iter().enumerate() {
            x[j * rows..(j + 1) * rows].copy_from_slice(&y[max_lag - l..n - l]);
        }
        let mut row = vec![0.0; self.n_fourier()];
        for i in 0..rows {
            fourier_into(max_lag + i, &self.periods, self.fourier_terms, &mut row);
            for (j, v) in row.iter().enumerate() {
                x[(n_lag + j) * rows + i] = *v;
            }
        }
        let mut means = vec![0.0; n_feat];
        let mut stds = vec![1.0; n_feat];
        let mut live = vec![false; n_feat];
        for j in 0..n_feat {
            let col = &mut x[j * rows..(j + 1) * rows];
            let (m, s) = mean_std(col);
            if degenerate(m, s) {
                // Constant column (e.g. cos for period 1): zero it so the solver skips it.
                col.fill(0.0);
                continue;
            }
            means[j] = m;
            stds[j] = s;
            live[j] = true;
            col.iter_mut().for_each(|v| *v = (*v - m) / s);
        }

        let target = &y[max_lag..];
        let (y_mean, y_std) = mean_std(target);
        let tail = y[n - max_lag..].to_vec();
        let frozen = ModelSpec::Linear {
            lags: lags.clone(),
            periods: self.periods.clone(),
            fourier_terms: self.fourier_terms,
            alpha: self.alpha,
            l1_ratio: self.l1_ratio,
        };
        if degenerate(y_mean, y_std) {
            // A constant target: nothing to learn, and an all-zero target would make the
            // solver's relative stopping rule never fire.
            return Ok(Box::new(FittedLinear {
                frozen,
                state: LinearState {
                    lags,
                    periods: self.periods.clone(),
                    fourier_terms: self.fourier_terms,
                    coef: vec![0.0; n_feat],
                    intercept: y_mean,
                    tail: tail.into(),
                    t: n,
                    sigma: 0.0,
                },
            }));
        }

        let z: Vec<f64> = target.iter().map(|v| (v - y_mean) / y_std).collect();
        let (w, b) = if self.l1_ratio == 0.0 {
            (ridge(&x, &z, rows, &live, self.alpha)?, 0.0)
        } else {
            self.elastic_net(&x, &z, rows, n_feat)?
        };
        if !b.is_finite() || w.iter().any(|v| !v.is_finite()) {
            return Err(err("solver returned non-finite coefficients"));
        }

        // In-sample one-step residuals, on the standardized scale, then back to raw units.
        let mut fitted = vec![b; rows];
        for (j, wj) in w.iter().enumerate() {
            let col = &x[j * rows..(j + 1) * rows];
            fitted.iter_mut().zip(col).for_each(|(f, x)| *f += wj * x);
        }
        let sse: f64 = fitted.iter().zip(&z).map(|(f, z)| (z - f) * (z - f)).sum();
        let sigma = y_std * (sse / rows as f64).sqrt();

        // Fold the standardization into raw-unit coefficients:
        // ŷ = ȳ + s_y·(b + Σ w_j (x_j − m_j)/s_j) = intercept + Σ coef_j x_j.
        let coef: Vec<f64> = (0..n_feat).map(|j| y_std * w[j] / stds[j]).collect();
        let intercept = y_mean + y_std * b - coef.iter().zip(&means).map(|(c, m)| c * m).sum::<f64>();

        Ok(Box::new(FittedLinear {
            frozen,
            state: LinearState {
                lags,
                periods: self.periods.clone(),
                fourier_terms: self.fourier_terms,
                coef,
                intercept,
                tail: tail.into(),
                t: n,
                sigma,
            },
        }))
    }
}

struct FittedLinear {
    frozen: ModelSpec,
    /// Coefficients, the last max(lags) training values and the next time index.
    state: LinearState,
}

impl Fitted for FittedLinear {
    fn predict(&self, horizon: usize) -> Result<Forecast> {
        self.state.predict(horizon)
    }

    fn online(&self) -> Option<Online> {
        Some(Online::Linear(self.state.clone()))
    }

    fn frozen_spec(&self) -> ModelSpec {
        self.frozen.clone()
    }
}

/// The recursive linear model: raw-unit coefficients on lags then Fourier pairs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinearState {
    /// Effective lags, ascending.
    pub lags: Vec<usize>,
    pub periods: Vec<usize>,
    pub fourier_terms: usize,
    pub coef: Vec<f64>,
    pub intercept: f64,
    /// The last max(lags) values, oldest first.
    pub tail: VecDeque<f64>,
    /// Time index of the next point (the Fourier phase continues from training).
    pub t: usize,
    pub sigma: f64,
}

impl LinearState {
    /// The one-step prediction for the next point, given `ahead` predictions already made.
    fn next_value(&self, ahead: &[f64], four: &mut [f64]) -> f64 {
        let h = ahead.len();
        fourier_into(self.t + h, &self.periods, self.fourier_terms, four);
        let len = self.tail.len();
        let lag = |l: usize| if l <= h { ahead[h - l] } else { self.tail[len + h - l] };
        let n_lag = self.lags.len();
        let lag_part: f64 = self.lags.iter().zip(&self.coef).map(|(&l, c)| c * lag(l)).sum();
        let season_part: f64 = four.iter().zip(&self.coef[n_lag..]).map(|(f, c)| c * f).sum();
        self.intercept + lag_part + season_part
    }

    pub(crate) fn observe(&mut self, y: f64) {
        let mut four = vec![0.0; self.coef.len().saturating_sub(self.lags.len())];
        // A missing value is replaced by the model's own one-step prediction.
        let v = if y.is_finite() {
            y
        } else {
            self.next_value(&[], &mut four)
        };
        if self.tail.pop_front().is_some() {
            self.tail.push_back(v);
        }
        self.t += 1;
    }

    pub fn predict(&self, horizon: usize) -> Result<Forecast> {
        let mut four = vec![0.0; self.coef.len().saturating_sub(self.lags.len())];
        let mut point = Vec::with_capacity(horizon);
        for h in 0..horizon {
            let v = self.next_value(&point, &mut four);
            if !v.is_finite() {
                return Err(err(format!("recursive forecast diverged at step {}", h + 1)));
            }
            point.push(v);
        }
        let sigma: Vec<f64> = (1..=horizon).map(|h| self.sigma * (h as f64).sqrt()).collect();
        Ok(Forecast::from_sigma(point, &sigma))
    }
}

/// Writes the Fourier features of time index `t` into `out` (length 2·K per period):
/// sin, cos for k = 1..K of each period in turn. The phase is reduced modulo p in integers
/// so that t in the millions loses no precision.
pub(crate) fn fourier_into(t: usize, periods: &[usize], k_max: usize, out: &mut [f64]) {
    let mut i = 0;
    for &p in periods {
        for k in 1..=k_max {
            let phase = ((k * t) % p) as f64 / p as f64;
            let (s, c) = (TAU * phase).sin_cos();
            out[i] = s;
            out[i + 1] = c;
            i += 2;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic uniform noise in [−1, 1] (a 64-bit LCG), so tests never depend on a RNG crate.
    fn noise(len: usize, seed: u64) -> Vec<f64> {
        let mut s = seed;
        (0..len)
            .map(|_| {
                s = s
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                (s >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
            })
            .collect()
    }

    fn sine(t: usize) -> f64 {
        10.0 + 3.0 * (TAU * t as f64 / 24.0).sin()
    }

    fn linear(lags: &[usize], periods: &[usize], k: usize, alpha: f64) -> Linear {
        Linear::new(lags.to_vec(), periods.to_vec(), k, alpha, 0.0)
    }

    #[test]
    fn ridge_matches_linfa_coordinate_descent() {
        // The closed form must minimise the same objective linfa does with l1_ratio = 0.
        let (rows, p) = (200, 3);
        let e = noise(rows * (p + 1), 13);
        let x: Vec<f64> = e[..rows * p].to_vec();
        let z: Vec<f64> = (0..rows)
            .map(|i| 2.0 * x[i] - x[rows + i] + 0.5 * x[2 * rows + i] + 0.1 * e[rows * p + i])
            .collect();
        let alpha = 0.05;
        let w = ridge(&x, &z, rows, &[true; 3], alpha).unwrap();
        let xs = ArrayView2::from_shape((rows, p).f(), &x[..]).unwrap();
        let m = ElasticNet::params()
            .penalty(alpha)
            .l1_ratio(0.0)
            .with_intercept(false)
            .tolerance(1e-12)
            .max_iterations(2000)
            .fit(&DatasetBase::new(xs, ArrayView1::from(&z[..])))
            .unwrap();
        for (a, b) in w.iter().zip(m.hyperplane()) {
            assert!((a - b).abs() < 1e-9 * b.abs().max(1.0), "{w:?} vs {}", m.hyperplane());
        }
    }

    #[test]
    fn elastic_net_path_fits_too() {
        // l1_ratio > 0 goes through linfa's coordinate descent; it still follows the sine.
        let e = noise(480, 17);
        let y: Vec<f64> = (0..480).map(|t| sine(t) + 0.01 * e[t]).collect();
        let f = Linear::new(vec![1, 24], vec![24], 2, 1e-3, 0.5)
            .fit(&y)
            .unwrap()
            .predict(24)
            .unwrap();
        for (h, p) in f.point.iter().enumerate() {
            let want = sine(480 + h);
            assert!((p - want).abs() / want < 0.02, "h={h}: {p} vs {want}");
        }
    }

    #[test]
    fn continues_a_seasonal_sine() {
        // y = 10 + 3 sin(2πt/24) + 0.01·noise: the 48-step forecast follows the true continuation.
        let e = noise(480, 1);
        let y: Vec<f64> = (0..480).map(|t| sine(t) + 0.01 * e[t]).collect();
        let f = linear(&[1, 24], &[24], 2, 1e-3).fit(&y).unwrap().predict(48).unwrap();
        assert_eq!(f.len(), 48);
        for (h, p) in f.point.iter().enumerate() {
            let want = sine(480 + h);
            assert!((p - want).abs() / want < 0.02, "h={h}: {p} vs {want}");
        }
    }

    #[test]
    fn ar1_forecast_decays_to_the_mean() {
        // y_t − 10 = 0.8 (y_{t−1} − 10) + shock, ending on a large shock so y_n is far from the mean.
        let e = noise(2000, 7);
        let mut y = vec![10.0];
        for t in 1..2000 {
            let shock = if t == 1999 { 5.0 } else { e[t] };
            y.push(10.0 + 0.8 * (y[t - 1] - 10.0) + shock);
        }
        let yn = *y.last().unwrap();
        let f = linear(&[1], &[], 0, 1e-4).fit(&y).unwrap().predict(30).unwrap();
        let want = 0.8 * yn + 0.2 * 10.0;
        assert!((f.point[0] - want).abs() / want < 0.05, "{} vs {want}", f.point[0]);
        // Starting above the mean, the forecast falls monotonically and is (almost) there after 30 steps.
        for h in 1..30 {
            assert!(f.point[h] < f.point[h - 1], "h={h}");
        }
        assert!((f.point[29] - 10.0).abs() < 0.2, "{}", f.point[29]);
    }

    #[test]
    fn long_lags_are_dropped_and_frozen() {
        // 100 points: lag 168 exceeds n/2 = 50 and is dropped; duplicates collapse; order is ascending.
        let y: Vec<f64> = (0..100).map(sine).collect();
        let fitted = linear(&[24, 1, 168, 1], &[24], 1, 1e-3).fit(&y).unwrap();
        let frozen = fitted.frozen_spec();
        assert_eq!(
            frozen,
            ModelSpec::Linear {
                lags: vec![1, 24],
                periods: vec![24],
                fourier_terms: 1,
                alpha: 1e-3,
                l1_ratio: 0.0
            }
        );
        // The frozen spec refits to the same forecast.
        let a = fitted.predict(5).unwrap();
        let b = frozen.fit(&y).unwrap().predict(5).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn short_input_and_bad_parameters_are_errors() {
        let msg = |l: Linear, y: &[f64]| l.fit(y).err().expect("should fail").to_string();
        let m = msg(linear(&[1], &[], 0, 0.1), &[1.0, 2.0, 3.0]);
        assert!(m.contains("at least 4 points"), "{m}");
        let y: Vec<f64> = (0..20).map(sine).collect();
        let m = msg(linear(&[24, 168], &[], 0, 0.1), &y);
        assert!(m.contains("too short") && m.contains("half"), "{m}");
        // Lag 10 fits (10 ≤ 20/2) but leaves 10 rows for 1 + 2·3·2 = 13 features.
        let m = msg(linear(&[10], &[24, 12], 3, 0.1), &y);
        assert!(m.contains("too short") && m.contains("rows"), "{m}");
        assert!(msg(linear(&[1], &[], 0, -1.0), &y).contains("alpha"));
        assert!(msg(Linear::new(vec![1], vec![], 0, 0.1, 1.5), &y).contains("l1_ratio"));
        assert!(msg(linear(&[0, 1], &[], 0, 0.1), &y).contains("lag 0"));
        assert!(msg(linear(&[], &[24], 1, 0.1), &y).contains("no lags"));
        let mut bad = y.clone();
        bad[3] = f64::NAN;
        assert!(msg(linear(&[1], &[], 0, 0.1), &bad).contains("index 3"));
    }

    #[test]
    fn intervals_are_ordered_and_widen() {
        let e = noise(300, 3);
        let y: Vec<f64> = (0..300).map(|t| sine(t) + 0.5 * e[t]).collect();
        let f = linear(&[1, 2, 24], &[24], 2, 1e-2)
            .fit(&y)
            .unwrap()
            .predict(24)
            .unwrap();
        for h in 0..24 {
            assert!(f.lower_95[h] <= f.lower_80[h], "h={h}");
            assert!(f.lower_80[h] < f.point[h] && f.point[h] < f.upper_80[h], "h={h}");
            assert!(f.upper_80[h] <= f.upper_95[h], "h={h}");
            if h > 0 {
                assert!(
                    f.upper_95[h] - f.lower_95[h] > f.upper_95[h - 1] - f.lower_95[h - 1],
                    "h={h}"
                );
            }
        }
        // σ_1 is the residual RMS, close to the noise sd 0.5/√3 ≈ 0.29 (uniform noise).
        let s1 = (f.upper_95[0] - f.point[0]) / super::super::Z95;
        assert!((s1 - 0.5 / 3f64.sqrt()).abs() / s1 < 0.2, "σ₁ = {s1}");
        let s24 = (f.upper_95[23] - f.point[23]) / super::super::Z95;
        assert!((s24 / s1 - 24f64.sqrt()).abs() < 1e-9);
    }

    #[test]
    fn same_input_same_output() {
        let e = noise(500, 11);
        let y: Vec<f64> = (0..500).map(|t| sine(t) + e[t]).collect();
        let spec = ModelSpec::Linear {
            lags: vec![1, 2, 24],
            periods: vec![24],
            fourier_terms: 3,
            alpha: 0.01,
            l1_ratio: 0.5,
        };
        let a = spec.fit(&y).unwrap().predict(36).unwrap();
        let b = spec.fit(&y).unwrap().predict(36).unwrap();
        assert_eq!(a, b);
        assert!(!a.has_non_finite());
    }

    #[test]
    fn aliased_harmonics_without_penalty_still_fit() {
        // Period 4 with K = 3: harmonic 3 aliases harmonic 1 (exactly collinear) and sin(πt) is
        // identically 0. With α = 0 the normal equations are singular; the jitter retry copes.
        let y: Vec<f64> = (0..80)
            .map(|t| 5.0 + [1.0, 2.0, 0.5, -1.0][t % 4] + 0.01 * (t % 7) as f64)
            .collect();
        let f = Linear::new(vec![1], vec![4], 3, 0.0, 0.0)
            .fit(&y)
            .unwrap()
            .predict(8)
            .unwrap();
        assert!(!f.has_non_finite());
        for (h, p) in f.point.iter().enumerate() {
            let want = 5.0 + [1.0, 2.0, 0.5, -1.0][(80 + h) % 4];
            assert!((p - want).abs() < 0.1, "h={h}: {p} vs {want}");
        }
    }

    #[test]
    fn constant_series_gives_a_flat_forecast() {
        let f = linear(&[1, 2], &[4], 1, 0.1)
            .fit(&[7.0; 40])
            .unwrap()
            .predict(5)
            .unwrap();
        assert_eq!(f.point, vec![7.0; 5]);
        assert_eq!(f.upper_95, vec![7.0; 5]);
    }

    #[test]
    fn fits_a_month_of_five_minute_data() {
        // 14 days of 5-minute points with daily and weekly seasonality: the production shape.
        // Prints the time of one fit + predict(12) (not asserted: CI machines vary).
        let e = noise(4032, 5);
        let y: Vec<f64> = (0..4032)
            .map(|t| {
                let d = (TAU * t as f64 / 288.0).sin();
                let w = (TAU * t as f64 / 2016.0).cos();
                100.0 + 30.0 * d + 10.0 * w + 3.0 * e[t]
            })
            .collect();
        let spec = Linear::new(vec![1, 2, 3, 288, 2016], vec![288, 2016], 3, 1e-3, 0.0);
        let start = std::time::Instant::now();
        let f = spec.fit(&y).unwrap().predict(12).unwrap();
        eprintln!("linear (ridge) fit+predict(12) on 4032 points: {:?}", start.elapsed());
        assert!(!f.has_non_finite());
        let start = std::time::Instant::now();
        let g = Linear::new(vec![1, 2, 3, 288, 2016], vec![288, 2016], 3, 1e-3, 0.5)
            .fit(&y)
            .unwrap()
            .predict(12);
        eprintln!(
            "linear (l1_ratio 0.5) fit+predict(12) on 4032 points: {:?}",
            start.elapsed()
        );
        assert!(!g.unwrap().has_non_finite());
        for (h, p) in f.point.iter().enumerate() {
            let t = (4032 + h) as f64;
            let want = 100.0 + 30.0 * (TAU * t / 288.0).sin() + 10.0 * (TAU * t / 2016.0).cos();
            assert!((p - want).abs() / want < 0.05, "h={h}: {p} vs {want}");
        }
    }
}
