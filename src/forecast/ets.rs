//! augurs AutoETS without seasonality (augurs' AutoETS does not fit seasonal forms;
//! seasonality comes from MSTL). The chosen form is frozen into the artifact.

use super::Online;
use super::{Fitted, Forecast, Forecaster, ModelSpec, from_augurs, normal_quantile};
use crate::{Error, Result};
use augurs::ets::model::{ErrorComponent, SeasonalComponent, TrendComponent};
use augurs::ets::{AutoETS, FittedAutoETS};
use augurs::{Fit, Predict};
use serde::{Deserialize, Serialize};

/// The fit window the training candidates use. Non-seasonal ETS adapts its level and slope
/// within a day or two, and the AutoETS search cost is linear in length: on the 17 NAB AWS
/// series (5-minute steps) fitting the last 576 points instead of up to 8,064 cut the fit time
/// ~10× and did not worsen backtest MASE at 1h or 1d (see docs/benchmarks.md).
pub const FIT_WINDOW: usize = 576;

/// The unfitted ETS family: an AutoETS spec, an optional damping constraint and fit window.
pub struct Ets {
    spec: String,
    damped: Option<bool>,
    window: Option<usize>,
}

impl Ets {
    /// An AutoETS search over `spec` (e.g. "AZN"); `damped` fixes the trend damping (None: both).
    pub fn new(spec: &str, damped: Option<bool>) -> Self {
        Ets {
            spec: spec.to_string(),
            damped,
            window: None,
        }
    }

    /// Fits on the last `window` points only.
    pub fn window(mut self, window: Option<usize>) -> Self {
        self.window = window;
        self
    }

    fn model(&self) -> Result<AutoETS> {
        let mut m = AutoETS::new(1, self.spec.as_str())
            .map_err(|e| Error::model("ets", format!("spec {:?}: {e}", self.spec)))?;
        if let Some(d) = self.damped {
            m = m.damped(d).map_err(|e| Error::model("ets", e.to_string()))?;
        }
        Ok(m)
    }
}

impl Forecaster for Ets {
    fn fit(&self, y: &[f64]) -> Result<Box<dyn Fitted>> {
        let y = tail(y, self.window);
        let fitted = self.model()?.fit(y).map_err(|e| Error::model("ets", e.to_string()))?;
        let online = serving_state(&fitted, y);
        Ok(Box::new(FittedEts {
            fitted,
            window: self.window,
            online,
        }))
    }
}

/// The last `window` points of `y` (all of them for None, or a window too small to fit).
pub fn tail(y: &[f64], window: Option<usize>) -> &[f64] {
    match window {
        Some(w) if w >= 2 => &y[y.len().saturating_sub(w)..],
        _ => y,
    }
}

struct FittedEts {
    fitted: FittedAutoETS,
    window: Option<usize>,
    online: Option<EtsState>,
}

/// The serving state of a model AutoETS fitted on `y`, for the additive-error, non-seasonal
/// forms SCALE searches (None for the others: serve then refits them).
pub(crate) fn serving_state(fitted: &FittedAutoETS, y: &[f64]) -> Option<EtsState> {
    let mt = fitted.model().model_type();
    if mt.error != ErrorComponent::Additive
        || mt.season != SeasonalComponent::None
        || mt.trend == TrendComponent::Multiplicative
    {
        return None;
    }
    let in_sample = fitted.predict_in_sample(None).ok()?;
    let f = fitted.predict(3, 0.95).ok()?;
    let iv = f.intervals.as_ref()?;
    let sigma1 = (iv.upper[0] - iv.lower[0]) / (2.0 * normal_quantile(0.5 + iv.level / 2.0));
    EtsState::recover(
        y,
        &in_sample.point,
        [f.point[0], f.point[1], f.point[2]],
        sigma1,
        mt.trend.included(),
        fitted.model().damped(),
    )
}

impl Fitted for FittedEts {
    fn predict(&self, horizon: usize) -> Result<Forecast> {
        let f = self
            .fitted
            .predict(horizon, 0.95)
            .map_err(|e| Error::model("ets", e.to_string()))?;
        from_augurs("ets", f)
    }

    fn frozen_spec(&self) -> ModelSpec {
        let m = self.fitted.model();
        ModelSpec::Ets {
            spec: m.model_type().to_string(),
            damped: Some(m.damped()),
            window: self.window,
        }
    }

    fn online(&self) -> Option<Online> {
        self.online.clone().map(Online::Ets)
    }
}

/// Additive-error, non-seasonal ETS (ANN, AAN, AAdN) in state-space form:
/// ŷ = l + φb; e = y − ŷ; l ← l + φb + αe; b ← φb + βe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EtsState {
    /// Level smoothing weight α.
    pub alpha: f64,
    /// 0 without a trend.
    pub beta: f64,
    /// 1 unless damped; 0 without a trend.
    pub phi: f64,
    /// Level l after the last observed point.
    pub level: f64,
    /// Slope b after the last observed point; 0 without a trend.
    pub slope: f64,
    /// One-step residual variance.
    pub sigma2: f64,
}

impl EtsState {
    pub(crate) fn observe(&mut self, y: f64) {
        let pred = self.level + self.phi * self.slope;
        let e = if y.is_finite() { y - pred } else { 0.0 };
        self.level = pred + self.alpha * e;
        self.slope = self.phi * self.slope + self.beta * e;
    }

    /// Points and the class-1 variance σ²(1 + Σ_{j<k} c_j²), c_j = α + β(φ + … + φ^j)
    /// (Hyndman et al., Forecasting with Exponential Smoothing, §6.3). The point at step k is
    /// l + (φ + φ + φ² + … + φ^(k−1))·b, the damped sum augurs' ETS forecast uses (the textbook
    /// has φ + … + φ^k); serve keeps it so that it forecasts what training backtested.
    pub(crate) fn predict(&self, horizon: usize) -> Forecast {
        let mut point = Vec::with_capacity(horizon);
        let mut sigma = Vec::with_capacity(horizon);
        let (mut damp_point, mut damp_var, mut phi_k, mut var_sum) = (self.phi, 0.0, 1.0, 1.0);
        for _ in 0..horizon {
            phi_k *= self.phi;
            damp_var += phi_k;
            point.push(self.level + damp_point * self.slope);
            sigma.push((self.sigma2 * var_sum).max(0.0).sqrt());
            let c = self.alpha + self.beta * damp_var;
            var_sum += c * c;
            damp_point += phi_k;
        }
        Forecast::from_sigma(point, &sigma)
    }

    /// Reads a fitted additive-error ETS model's parameters and final state off what it
    /// exposes: its in-sample one-step predictions `fitted` of `y`, its first three forecast
    /// points and its one-step σ. With D_t = ŷ_{t+1} − ŷ_t and e_t = y_t − ŷ_t the recursions give
    /// D_t = αe_t without a trend and D_t − φD_{t−1} = (α+φβ)e_t − φαe_{t−1} with one (φ = 1
    /// undamped), solved by least squares. The result is checked by replaying the last points;
    /// None when it does not reproduce the model.
    pub fn recover(
        y: &[f64],
        fitted: &[f64],
        next: [f64; 3],
        sigma1: f64,
        trend: bool,
        damped: bool,
    ) -> Option<EtsState> {
        let n = y.len();
        if n < 12 || fitted.len() != n || !sigma1.is_finite() {
            return None;
        }
        let e: Vec<f64> = y.iter().zip(fitted).map(|(y, f)| y - f).collect();
        let d: Vec<f64> = (0..n)
            .map(|t| if t + 1 < n { fitted[t + 1] } else { next[0] } - fitted[t])
            .collect();
        let (alpha, beta, phi) = if !trend {
            let (a,) = lstsq1((0..n).map(|t| (e[t], d[t])))?;
            (a, 0.0, 0.0)
        } else {
            // φ from the forecasts, (p2 − p1)/(p1 − p0) = φ²b/φb, when the final slope is not ~0;
            // otherwise from the three-term regression (ill-conditioned when α ≈ 1).
            let step = next[1] - next[0];
            let phi = if !damped {
                1.0
            } else if step.abs() > 1e-9 * next[0].abs().max(1.0) {
                (next[2] - next[1]) / step
            } else {
                lstsq3((1..n).map(|t| ([e[t], d[t - 1], e[t - 1]], d[t])))?[1]
            };
            if phi.is_nan() || phi.abs() < 1e-6 {
                return None;
            }
            // D_t − φD_{t−1} = (α + φβ)e_t − φαe_{t−1}.
            let (c1, c2) = lstsq2((1..n).map(|t| ([e[t], e[t - 1]], d[t] - phi * d[t - 1])))?;
            let alpha = -c2 / phi;
            (alpha, (c1 - alpha) / phi, phi)
        };
        // Final state from the forecasts: p0 = l + φb, p1 = l + 2φb (see `predict`).
        let (level, slope) = if trend {
            let slope = (next[1] - next[0]) / phi;
            (next[0] - phi * slope, slope)
        } else {
            (next[0], 0.0)
        };
        let s = EtsState {
            alpha,
            beta,
            phi,
            level,
            slope,
            sigma2: sigma1 * sigma1,
        };
        let ok = [alpha, beta, phi, level, slope].iter().all(|v| v.is_finite()) && s.replays(y, fitted, &e, &d, next);
        ok.then_some(s)
    }

    /// Starts from the state implied at t0 and checks that filtering y reproduces the model's
    /// one-step predictions and its forecasts.
    fn replays(&self, y: &[f64], fitted: &[f64], e: &[f64], d: &[f64], next: [f64; 3]) -> bool {
        let n = y.len();
        let t0 = n.saturating_sub(64).max(1);
        let scale = y.iter().map(|v| v.abs()).sum::<f64>() / n as f64 + 1e-9;
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-6 * scale.max(b.abs());
        let phi_b = d[t0] - self.alpha * e[t0];
        let mut s = EtsState {
            level: fitted[t0] + self.alpha * e[t0],
            slope: if self.phi != 0.0 { phi_b / self.phi } else { 0.0 },
            ..self.clone()
        };
        for t in t0 + 1..n {
            if !close(s.level + s.phi * s.slope, fitted[t]) {
                return false;
            }
            s.observe(y[t]);
        }
        let f = s.predict(3);
        f.point.iter().zip(next).all(|(a, b)| close(*a, b))
    }
}

fn lstsq1(rows: impl Iterator<Item = (f64, f64)>) -> Option<(f64,)> {
    let (mut xx, mut xy) = (0.0, 0.0);
    for (x, y) in rows {
        xx += x * x;
        xy += x * y;
    }
    (xx > 1e-300).then(|| (xy / xx,))
}

fn lstsq2(rows: impl Iterator<Item = ([f64; 2], f64)>) -> Option<(f64, f64)> {
    let mut a = [[0.0; 2]; 2];
    let mut b = [0.0; 2];
    for (x, y) in rows {
        for i in 0..2 {
            b[i] += x[i] * y;
            for j in 0..2 {
                a[i][j] += x[i] * x[j];
            }
        }
    }
    let det = a[0][0] * a[1][1] - a[0][1] * a[1][0];
    if det.abs() <= 1e-12 * (a[0][0] * a[1][1]).abs().max(1e-300) {
        return None;
    }
    Some((
        (b[0] * a[1][1] - b[1] * a[0][1]) / det,
        (a[0][0] * b[1] - a[1][0] * b[0]) / det,
    ))
}

/// 3×3 normal equations by Gaussian elimination with partial pivoting.
fn lstsq3(rows: impl Iterator<Item = ([f64; 3], f64)>) -> Option<[f64; 3]> {
    let mut m = [[0.0; 4]; 3];
    for (x, y) in rows {
        for i in 0..3 {
            m[i][3] += x[i] * y;
            for j in 0..3 {
                m[i][j] += x[i] * x[j];
            }
        }
    }
    let scale = (0..3).map(|i| m[i][i].abs()).fold(0.0, f64::max);
    for c in 0..3 {
        let p = (c..3).max_by(|&a, &b| m[a][c].abs().total_cmp(&m[b][c].abs()))?;
        if m[p][c].abs() <= 1e-12 * scale.max(1e-300) {
            return None;
        }
        m.swap(c, p);
        for r in 0..3 {
            if r != c {
                let f = m[r][c] / m[c][c];
                let pivot = m[c];
                for (x, p) in m[r].iter_mut().zip(pivot).skip(c) {
                    *x -= f * p;
                }
            }
        }
    }
    Some([m[0][3] / m[0][0], m[1][3] / m[1][1], m[2][3] / m[2][2]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracks_a_linear_trend() {
        // y = 10 + 0.5 t with a little deterministic wiggle: the forecast continues the line.
        let y: Vec<f64> = (0..120)
            .map(|t| 10.0 + 0.5 * t as f64 + 0.1 * ((t * 7 % 5) as f64 - 2.0))
            .collect();
        let fitted = Ets::new("ZZN", None).fit(&y).unwrap();
        let f = fitted.predict(10).unwrap();
        for (h, p) in f.point.iter().enumerate() {
            let want = 10.0 + 0.5 * (120 + h) as f64;
            assert!((p - want).abs() / want < 0.02, "h={h}: {p} vs {want}");
            assert!(f.lower_95[h] <= *p && *p <= f.upper_95[h]);
            assert!(f.lower_95[h] <= f.lower_80[h] && f.upper_80[h] <= f.upper_95[h]);
        }
        // The frozen form refits to the same forecast.
        let frozen = fitted.frozen_spec();
        assert!(
            matches!(&frozen, ModelSpec::Ets { spec, .. } if spec.len() == 3 && !spec.contains('Z')),
            "{frozen:?}"
        );
        let again = frozen.fit(&y).unwrap().predict(10).unwrap();
        for (a, b) in again.point.iter().zip(&f.point) {
            assert!((a - b).abs() / b.abs() < 1e-6);
        }
    }

    #[test]
    fn window_fits_only_the_tail() {
        // Flat at 10 for 900 points, then a clean line: the tail fit continues the line
        // (relative 2%), and the frozen form keeps the window.
        let y: Vec<f64> = (0..1000)
            .map(|t| if t < 900 { 10.0 } else { 10.0 + 2.0 * (t - 900) as f64 })
            .collect();
        let fitted = Ets::new("AZN", None).window(Some(80)).fit(&y).unwrap();
        let f = fitted.predict(5).unwrap();
        for (h, p) in f.point.iter().enumerate() {
            let want = 10.0 + 2.0 * (100 + h) as f64;
            assert!((p - want).abs() / want < 0.02, "h={h}: {p} vs {want}");
        }
        assert!(matches!(fitted.frozen_spec(), ModelSpec::Ets { window: Some(80), .. }));
        assert_eq!(tail(&y, Some(80)).len(), 80);
        assert_eq!(tail(&y, None).len(), 1000);
        assert_eq!(tail(&y, Some(5000)).len(), 1000);
    }
}
