//! Ensembles: a weighted mean of member forecasts, weights ∝ 1 / backtest MASE.
//! The spread is the weighted mean of the members' σ_h (conservative: it ignores the
//! diversification), then calibrated by conformal multipliers like any family.

use super::Online;
use super::{Fitted, Forecast, Forecaster, ModelSpec, Z95};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Member {
    pub spec: ModelSpec,
    pub weight: f64,
}

/// Weights ∝ 1 / error, normalized; non-finite or non-positive errors get no weight.
pub fn inverse_error_weights(errors: &[f64]) -> Vec<f64> {
    let inv: Vec<f64> = errors
        .iter()
        .map(|e| if e.is_finite() && *e > 0.0 { 1.0 / e } else { 0.0 })
        .collect();
    let sum: f64 = inv.iter().sum();
    if sum <= 0.0 {
        return vec![1.0 / errors.len().max(1) as f64; errors.len()];
    }
    inv.iter().map(|w| w / sum).collect()
}

/// Combines member forecasts with `weights` (same horizon).
pub fn combine(forecasts: &[&Forecast], weights: &[f64]) -> Forecast {
    let h = forecasts.iter().map(|f| f.len()).min().unwrap_or(0);
    let mut point = vec![0.0; h];
    let mut sigma = vec![0.0; h];
    for (f, w) in forecasts.iter().zip(weights) {
        for i in 0..h {
            point[i] += w * f.point[i];
            sigma[i] += w * ((f.upper_95[i] - f.lower_95[i]) / (2.0 * Z95)).max(0.0);
        }
    }
    Forecast::from_sigma(point, &sigma)
}

pub struct Ensemble {
    members: Vec<Member>,
}

impl Ensemble {
    pub fn new(members: Vec<Member>) -> Self {
        Ensemble { members }
    }
}

impl Forecaster for Ensemble {
    fn fit(&self, y: &[f64]) -> Result<Box<dyn Fitted>> {
        let (fitted, weights) = survivors(self.members.iter().map(|m| (m.spec.fit(y), m.weight)))?;
        Ok(Box::new(FittedEnsemble { fitted, weights }))
    }
}

/// Members that succeeded, with their weights; a member that fails on this window drops out.
/// Errs with the first failure only when none is left.
fn survivors<T>(results: impl Iterator<Item = (Result<T>, f64)>) -> Result<(Vec<T>, Vec<f64>)> {
    let (mut ok, mut weights, mut first_err) = (Vec::new(), Vec::new(), None);
    for (r, w) in results {
        match r {
            Ok(v) => {
                ok.push(v);
                weights.push(w);
            }
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    if ok.is_empty() {
        return Err(first_err.unwrap_or_else(|| Error::model("ensemble", "no members")));
    }
    Ok((ok, weights))
}

struct FittedEnsemble {
    fitted: Vec<Box<dyn Fitted>>,
    weights: Vec<f64>,
}

/// Combines the member forecasts that succeeded and are finite, renormalizing the weights of
/// those left; errs with the first failure only when none is left.
pub fn combine_surviving(results: impl Iterator<Item = (Result<Forecast>, f64)>) -> Result<Forecast> {
    let finite = |p: Forecast| {
        if p.has_non_finite() {
            Err(Error::model("ensemble", "member forecast not finite"))
        } else {
            Ok(p)
        }
    };
    let (fs, ws) = survivors(results.map(|(f, w)| (f.and_then(finite), w)))?;
    let total: f64 = ws.iter().sum();
    let ws: Vec<f64> = ws
        .iter()
        .map(|w| if total > 0.0 { w / total } else { 1.0 / fs.len() as f64 })
        .collect();
    Ok(combine(&fs.iter().collect::<Vec<_>>(), &ws))
}

impl Fitted for FittedEnsemble {
    fn predict(&self, horizon: usize) -> Result<Forecast> {
        combine_surviving(
            self.fitted
                .iter()
                .zip(&self.weights)
                .map(|(f, w)| (f.predict(horizon), *w)),
        )
    }

    /// Every member's serving state, or None if a member has none.
    fn online(&self) -> Option<Online> {
        let members = self
            .fitted
            .iter()
            .zip(&self.weights)
            .map(|(f, w)| f.online().map(|state| OnlineMember { state, weight: *w }))
            .collect::<Option<Vec<_>>>()?;
        Some(Online::Ensemble(EnsembleState { members }))
    }

    fn frozen_spec(&self) -> ModelSpec {
        let members = self
            .fitted
            .iter()
            .zip(&self.weights)
            .map(|(f, w)| Member {
                spec: f.frozen_spec(),
                weight: *w,
            })
            .collect();
        ModelSpec::Ensemble { members }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnsembleState {
    pub members: Vec<OnlineMember>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnlineMember {
    pub state: Online,
    pub weight: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_and_combination() {
        let w = inverse_error_weights(&[0.5, 1.0, f64::NAN]);
        assert!((w[0] - 2.0 / 3.0).abs() < 1e-12 && (w[1] - 1.0 / 3.0).abs() < 1e-12 && w[2] == 0.0);
        let a = Forecast::from_sigma(vec![10.0, 10.0], &[1.0, 1.0]);
        let b = Forecast::from_sigma(vec![16.0, 4.0], &[2.0, 2.0]);
        let c = combine(&[&a, &b], &[2.0 / 3.0, 1.0 / 3.0]);
        assert!((c.point[0] - 12.0).abs() < 1e-9 && (c.point[1] - 8.0).abs() < 1e-9);
        assert!(((c.upper_95[0] - c.point[0]) / Z95 - 4.0 / 3.0).abs() < 1e-9);
    }

    #[test]
    fn fits_members_and_freezes_them() {
        let y: Vec<f64> = (0..96).map(|t| 10.0 + (t % 24) as f64).collect();
        let spec = ModelSpec::Ensemble {
            members: vec![
                Member {
                    spec: ModelSpec::SeasonalNaive { period: 24 },
                    weight: 0.5,
                },
                Member {
                    spec: ModelSpec::SeasonalNaive { period: 12 },
                    weight: 0.5,
                },
            ],
        };
        let f = spec.fit(&y).unwrap();
        let p = f.predict(3).unwrap();
        // period 24 repeats 10, 11, 12; period 12 repeats the last 12 values (22, 23, 24 → 10+12..)
        assert_eq!(
            p.point,
            vec![
                0.5 * 10.0 + 0.5 * 22.0,
                0.5 * 11.0 + 0.5 * 23.0,
                0.5 * 12.0 + 0.5 * 24.0
            ]
        );
        assert_eq!(f.frozen_spec(), spec);
    }

    #[test]
    fn a_failing_member_drops_out() {
        let y: Vec<f64> = (0..48).map(|t| 10.0 + (t % 24) as f64).collect();
        let spec = ModelSpec::Ensemble {
            members: vec![
                Member {
                    spec: ModelSpec::SeasonalNaive { period: 24 },
                    weight: 0.5,
                },
                // MSTL with a period longer than half the data cannot fit
                Member {
                    spec: ModelSpec::Mstl {
                        periods: vec![100],
                        trend_spec: "ZZN".into(),
                        trend_window: None,
                    },
                    weight: 0.5,
                },
            ],
        };
        let p = spec.fit(&y).unwrap().predict(2).unwrap();
        assert_eq!(p.point, vec![10.0, 11.0], "the surviving member carries full weight");
    }
}
