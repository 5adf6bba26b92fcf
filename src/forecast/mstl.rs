//! augurs MSTL: one STL pass per seasonal period (daily, weekly), AutoETS on the trend.

use super::{Fitted, Forecast, Forecaster, ModelSpec, from_augurs};
use crate::{Error, Result};
use augurs::ets::AutoETS;
use augurs::ets::trend::AutoETSTrendModel;
use augurs::mstl::{FittedMSTLModel, MSTLModel};
use augurs::{Fit, Predict};

pub struct Mstl {
    periods: Vec<usize>,
    trend_spec: String,
}

impl Mstl {
    pub fn new(periods: Vec<usize>, trend_spec: &str) -> Self {
        Mstl {
            periods,
            trend_spec: trend_spec.to_string(),
        }
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
        let model = MSTLModel::new(periods.clone(), AutoETSTrendModel::from(trend));
        let fitted = model.fit(y).map_err(|e| Error::model("mstl", e.to_string()))?;
        Ok(Box::new(FittedMstl {
            fitted,
            periods,
            trend_spec: self.trend_spec.clone(),
        }))
    }
}

struct FittedMstl {
    fitted: FittedMSTLModel,
    periods: Vec<usize>,
    trend_spec: String,
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
        }
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
}
