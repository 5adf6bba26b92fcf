//! augurs AutoETS without seasonality (augurs' AutoETS does not fit seasonal forms;
//! seasonality comes from MSTL). The chosen form is frozen into the artifact.

use super::{Fitted, Forecast, Forecaster, ModelSpec, from_augurs};
use crate::{Error, Result};
use augurs::ets::{AutoETS, FittedAutoETS};
use augurs::{Fit, Predict};

/// The fit window the training candidates use. Non-seasonal ETS adapts its level and slope
/// within a day or two, and the AutoETS search cost is linear in length: on the 17 NAB AWS
/// series (5-minute steps) fitting the last 576 points instead of up to 8,064 cut the fit time
/// ~10× and did not worsen backtest MASE at 1h or 1d (see docs/benchmarks.md).
pub const FIT_WINDOW: usize = 576;

pub struct Ets {
    spec: String,
    damped: Option<bool>,
    window: Option<usize>,
}

impl Ets {
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
        Ok(Box::new(FittedEts {
            fitted,
            window: self.window,
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
