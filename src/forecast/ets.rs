//! augurs AutoETS without seasonality (augurs' AutoETS does not fit seasonal forms;
//! seasonality comes from MSTL). The chosen form is frozen into the artifact.

use super::{Fitted, Forecast, Forecaster, ModelSpec, from_augurs};
use crate::{Error, Result};
use augurs::ets::{AutoETS, FittedAutoETS};
use augurs::{Fit, Predict};

pub struct Ets {
    spec: String,
    damped: Option<bool>,
}

impl Ets {
    pub fn new(spec: &str, damped: Option<bool>) -> Self {
        Ets {
            spec: spec.to_string(),
            damped,
        }
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
        let fitted = self.model()?.fit(y).map_err(|e| Error::model("ets", e.to_string()))?;
        Ok(Box::new(FittedEts { fitted }))
    }
}

struct FittedEts {
    fitted: FittedAutoETS,
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
}
