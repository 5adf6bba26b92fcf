//! augurs MSTL: one STL pass per seasonal period (daily, weekly), AutoETS on the trend.

use super::Online;
use super::ets::{EtsState, serving_state};
use super::{Fitted, Forecast, Forecaster, ModelSpec, from_augurs};
use crate::{Error, Result};
use augurs::ets::{AutoETS, FittedAutoETS};
use augurs::mstl::{FittedMSTLModel, FittedTrendModel, MSTLModel, TrendModel};
use augurs::{Fit, Predict};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::sync::{Arc, Mutex};

pub struct Mstl {
    periods: Vec<usize>,
    trend_spec: String,
    trend_window: Option<usize>,
}

impl Mstl {
    pub fn new(periods: Vec<usize>, trend_spec: &str) -> Self {
        Mstl {
            periods,
            trend_spec: trend_spec.to_string(),
            trend_window: None,
        }
    }

    /// Fits the trend model on the last `window` deseasonalised points only.
    pub fn trend_window(mut self, window: Option<usize>) -> Self {
        self.trend_window = window;
        self
    }
}

impl Forecaster for Mstl {
    fn fit(&self, y: &[f64]) -> Result<Box<dyn Fitted>> {
        // STL needs two full cycles of each period; drop the ones the history cannot support.
        let periods: Vec<usize> = self
            .periods
            .iter()
            .copied()
            .filter(|&p| p >= 2 && y.len() >= 2 * p)
            .collect();
        if periods.is_empty() {
            return Err(Error::model(
                "mstl",
                format!(
                    "history of {} points is shorter than two cycles of every period {:?}",
                    y.len(),
                    self.periods
                ),
            ));
        }
        let trend = AutoETS::new(1, self.trend_spec.as_str())
            .map_err(|e| Error::model("mstl", format!("trend spec {:?}: {e}", self.trend_spec)))?;
        let trend_state = Arc::new(Mutex::new(None));
        let model = MSTLModel::new(
            periods.clone(),
            TailTrend {
                inner: trend,
                window: self.trend_window,
                state: trend_state.clone(),
            },
        );
        let fitted = model.fit(y).map_err(|e| Error::model("mstl", e.to_string()))?;
        let trend = trend_state.lock().ok().and_then(|mut s| s.take());
        // augurs forecasts the seasonal part by repeating each component's last cycle.
        let online = trend.map(|trend| MstlState {
            profiles: periods
                .iter()
                .zip(fitted.fit().seasonal())
                .map(|(&p, c)| c[c.len() - p..].iter().map(|v| *v as f64).collect())
                .collect(),
            t: 0,
            trend,
        });
        Ok(Box::new(FittedMstl {
            fitted,
            periods,
            trend_spec: self.trend_spec.clone(),
            trend_window: self.trend_window,
            online,
        }))
    }
}

struct FittedMstl {
    fitted: FittedMSTLModel,
    periods: Vec<usize>,
    trend_spec: String,
    trend_window: Option<usize>,
    online: Option<MstlState>,
}

impl Fitted for FittedMstl {
    fn predict(&self, horizon: usize) -> Result<Forecast> {
        let f = self
            .fitted
            .predict(horizon, 0.95)
            .map_err(|e| Error::model("mstl", e.to_string()))?;
        from_augurs("mstl", f)
    }

    fn frozen_spec(&self) -> ModelSpec {
        ModelSpec::Mstl {
            periods: self.periods.clone(),
            trend_spec: self.trend_spec.clone(),
            trend_window: self.trend_window,
        }
    }

    fn online(&self) -> Option<Online> {
        self.online.clone().map(Online::Mstl)
    }
}

/// Fits AutoETS on the last `window` points of the deseasonalised series only: the trend's
/// level and slope adapt within days, and the fit cost is linear in its length. It also leaves
/// the trend's serving state in `state`, the one place the deseasonalised series is seen.
#[derive(Debug)]
struct TailTrend {
    inner: AutoETS,
    window: Option<usize>,
    state: Arc<Mutex<Option<EtsState>>>,
}

impl TrendModel for TailTrend {
    fn name(&self) -> Cow<'_, str> {
        Cow::Borrowed("AutoETS")
    }

    fn fit(&self, y: &[f64]) -> std::result::Result<Box<dyn FittedTrendModel + Sync + Send>, BoxError> {
        let skip = y.len() - super::ets::tail(y, self.window).len();
        let inner = self.inner.fit(&y[skip..])?;
        if let Ok(mut s) = self.state.lock() {
            *s = serving_state(&inner, &y[skip..]);
        }
        Ok(Box::new(TailFitted { inner, skip }))
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug)]
struct TailFitted {
    inner: FittedAutoETS,
    skip: usize,
}

impl FittedTrendModel for TailFitted {
    fn predict_inplace(
        &self,
        horizon: usize,
        level: Option<f64>,
        f: &mut augurs::Forecast,
    ) -> std::result::Result<(), BoxError> {
        Ok(self.inner.predict_inplace(horizon, level, f)?)
    }

    /// The skipped head has no fitted values; it repeats the first one so lengths still match.
    fn predict_in_sample_inplace(
        &self,
        level: Option<f64>,
        f: &mut augurs::Forecast,
    ) -> std::result::Result<(), BoxError> {
        Predict::predict_in_sample_inplace(&self.inner, level, f)?;
        let pad = |v: &mut Vec<f64>, skip: usize| {
            let first = v.first().copied().unwrap_or(f64::NAN);
            v.splice(0..0, std::iter::repeat_n(first, skip));
        };
        pad(&mut f.point, self.skip);
        if let Some(iv) = f.intervals.as_mut() {
            pad(&mut iv.lower, self.skip);
            pad(&mut iv.upper, self.skip);
        }
        Ok(())
    }

    fn training_data_size(&self) -> Option<usize> {
        Some(Predict::training_data_size(&self.inner) + self.skip)
    }
}

/// MSTL with frozen seasonal profiles (the last cycle of each STL component, as augurs
/// repeats it) and an ETS state on the deseasonalised series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MstlState {
    /// One cycle per period, starting at the first step after training.
    pub profiles: Vec<Vec<f64>>,
    /// Steps observed since training ended.
    pub t: u64,
    pub trend: EtsState,
}

impl MstlState {
    fn seasonal(&self, t: u64) -> f64 {
        self.profiles
            .iter()
            .filter(|p| !p.is_empty())
            .map(|p| p[(t % p.len() as u64) as usize])
            .sum()
    }

    pub(crate) fn observe(&mut self, y: f64) {
        self.trend.observe(y - self.seasonal(self.t));
        self.t += 1;
    }

    pub(crate) fn predict(&self, horizon: usize) -> Forecast {
        let mut f = self.trend.predict(horizon);
        for h in 0..horizon {
            let s = self.seasonal(self.t + h as u64);
            for v in [
                &mut f.point,
                &mut f.lower_80,
                &mut f.upper_80,
                &mut f.lower_95,
                &mut f.upper_95,
            ] {
                v[h] += s;
            }
        }
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::TAU;

    #[test]
    fn recovers_two_seasonalities() {
        // Daily (24) and weekly (168) cycles on a level of 100; 6 weeks of history.
        let f = |t: usize| 100.0 + 20.0 * (TAU * t as f64 / 24.0).sin() + 10.0 * (TAU * t as f64 / 168.0).cos();
        let y: Vec<f64> = (0..1008).map(f).collect();
        let fc = Mstl::new(vec![24, 168], "ZZN").fit(&y).unwrap().predict(48).unwrap();
        for (h, p) in fc.point.iter().enumerate() {
            let want = f(1008 + h);
            assert!((p - want).abs() / want < 0.02, "h={h}: {p} vs {want}");
        }
    }

    #[test]
    fn too_short_is_an_error() {
        let err = Mstl::new(vec![168], "ZZN").fit(&[1.0; 100]).err().unwrap().to_string();
        assert!(err.contains("shorter than two cycles"), "{err}");
    }

    #[test]
    fn trend_window_fits_the_tail() {
        // A level shift 200 points before the end: a tail-only trend fit sees only the new level.
        let f = |t: usize| (if t < 800 { 50.0 } else { 100.0 }) + 10.0 * (TAU * t as f64 / 24.0).sin();
        let y: Vec<f64> = (0..1000).map(f).collect();
        let fitted = Mstl::new(vec![24], "AZN").trend_window(Some(150)).fit(&y).unwrap();
        let fc = fitted.predict(24).unwrap();
        for (h, p) in fc.point.iter().enumerate() {
            let want = f(1000 + h);
            assert!((p - want).abs() / want < 0.05, "h={h}: {p} vs {want}");
        }
        assert!(matches!(
            fitted.frozen_spec(),
            ModelSpec::Mstl {
                trend_window: Some(150),
                ..
            }
        ));
    }
}
