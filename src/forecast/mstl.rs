//! augurs MSTL: one STL pass per seasonal period (daily, weekly), AutoETS on the trend.

use super::{Fitted, Forecast, Forecaster, ModelSpec, from_augurs};
use crate::{Error, Result};
use augurs::ets::AutoETS;
use augurs::ets::trend::AutoETSTrendModel;
use augurs::mstl::{FittedMSTLModel, FittedTrendModel, MSTLModel, TrendModel};
use augurs::{Fit, Predict};
use std::borrow::Cow;

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
        let model = MSTLModel::new(
            periods.clone(),
            TailTrend {
                inner: AutoETSTrendModel::from(trend),
                window: self.trend_window,
            },
        );
        let fitted = model.fit(y).map_err(|e| Error::model("mstl", e.to_string()))?;
        Ok(Box::new(FittedMstl {
            fitted,
            periods,
            trend_spec: self.trend_spec.clone(),
            trend_window: self.trend_window,
        }))
    }
}

struct FittedMstl {
    fitted: FittedMSTLModel,
    periods: Vec<usize>,
    trend_spec: String,
    trend_window: Option<usize>,
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
}

/// Fits the trend model on the last `window` points of the deseasonalised series only: the
/// trend's level and slope adapt within days, and the fit cost is linear in its length.
#[derive(Debug)]
struct TailTrend<T> {
    inner: T,
    window: Option<usize>,
}

impl<T: TrendModel> TrendModel for TailTrend<T> {
    fn name(&self) -> Cow<'_, str> {
        self.inner.name()
    }

    fn fit(&self, y: &[f64]) -> std::result::Result<Box<dyn FittedTrendModel + Sync + Send>, BoxError> {
        let skip = y.len() - super::ets::tail(y, self.window).len();
        let inner = self.inner.fit(&y[skip..])?;
        Ok(Box::new(TailFitted { inner, skip }))
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug)]
struct TailFitted {
    inner: Box<dyn FittedTrendModel + Sync + Send>,
    skip: usize,
}

impl FittedTrendModel for TailFitted {
    fn predict_inplace(
        &self,
        horizon: usize,
        level: Option<f64>,
        f: &mut augurs::Forecast,
    ) -> std::result::Result<(), BoxError> {
        self.inner.predict_inplace(horizon, level, f)
    }

    /// The skipped head has no fitted values; it repeats the first one so lengths still match.
    fn predict_in_sample_inplace(
        &self,
        level: Option<f64>,
        f: &mut augurs::Forecast,
    ) -> std::result::Result<(), BoxError> {
        self.inner.predict_in_sample_inplace(level, f)?;
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
        self.inner.training_data_size().map(|n| n + self.skip)
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
