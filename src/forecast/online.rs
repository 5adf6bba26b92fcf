//! Serving without refitting. A fitted model is frozen at the end of its training data:
//! its parameters stay fixed, and each new observation updates its state in O(1) (ETS
//! filtering, a ring of recent values for the lags and the seasonal naive, a seasonal phase).
//! Refitting is the training job's work; serve only filters and predicts, so a tick costs
//! microseconds per service instead of a model fit (docs/serve.md, docs/benchmarks.md).
//!
//! The state is plain data (serde), stored in the artifact beside the spec, so loading a model
//! never fits one. A missing observation (NaN) advances the state on its own forecast.

use super::ensemble::combine_surviving;
use super::{Forecast, Online};
use crate::Result;

impl Online {
    /// Feeds the next observation; a non-finite one counts as missing.
    pub fn observe(&mut self, y: f64) {
        match self {
            Online::SeasonalNaive(s) => s.observe(y),
            Online::Ets(s) => s.observe(y),
            Online::Mstl(s) => s.observe(y),
            Online::Linear(s) => s.observe(y),
            Online::Ensemble(s) => s.members.iter_mut().for_each(|m| m.state.observe(y)),
        }
    }

    /// Forecasts `horizon` steps after the last observation.
    pub fn predict(&self, horizon: usize) -> Result<Forecast> {
        match self {
            Online::SeasonalNaive(s) => Ok(s.predict(horizon)),
            Online::Ets(s) => Ok(s.predict(horizon)),
            Online::Mstl(s) => Ok(s.predict(horizon)),
            Online::Linear(s) => s.predict(horizon),
            Online::Ensemble(s) => combine_surviving(s.members.iter().map(|m| (m.state.predict(horizon), m.weight))),
        }
    }

    /// Consistency an artifact's serving state must have before it is continued: finite
    /// numbers and lengths that agree with each other (the lags read inside the tail, one
    /// coefficient per feature, no zero period), so a forecast cannot index out of bounds.
    pub fn validate(&self) -> std::result::Result<(), String> {
        let finite = |what: &str, xs: &mut dyn Iterator<Item = f64>| {
            for x in xs {
                if !x.is_finite() {
                    return Err(format!("online state: {what} must be finite"));
                }
            }
            Ok(())
        };
        let ets = |e: &super::ets::EtsState| {
            finite(
                "ets parameters",
                &mut [e.alpha, e.beta, e.phi, e.level, e.slope, e.sigma2].into_iter(),
            )
        };
        match self {
            Online::SeasonalNaive(s) => finite("seasonal naive values", &mut s.last.iter().copied().chain([s.sigma])),
            Online::Ets(e) => ets(e),
            Online::Mstl(m) => {
                finite("mstl profiles", &mut m.profiles.iter().flatten().copied())?;
                ets(&m.trend)
            }
            Online::Linear(l) => {
                let max_lag = l.lags.iter().copied().max().unwrap_or(0);
                let features = l
                    .periods
                    .len()
                    .checked_mul(l.fourier_terms)
                    .and_then(|n| n.checked_mul(2))
                    .and_then(|n| n.checked_add(l.lags.len()));
                if l.lags.contains(&0) || l.periods.contains(&0) {
                    return Err("online state: linear lags and periods must be at least 1".into());
                }
                if max_lag > l.tail.len() {
                    return Err(format!(
                        "online state: linear lag {max_lag} reads past a tail of {}",
                        l.tail.len()
                    ));
                }
                if features != Some(l.coef.len()) {
                    return Err(format!(
                        "online state: linear has {} coefficients for {} lags and {} Fourier features",
                        l.coef.len(),
                        l.lags.len(),
                        2 * l.periods.len() * l.fourier_terms
                    ));
                }
                // k·t is reduced modulo each period; keep it far from overflow.
                if l.t > 1 << 40 || l.fourier_terms > 1_000 {
                    return Err("online state: linear time index or fourier_terms out of range".into());
                }
                finite(
                    "linear coefficients",
                    &mut l.coef.iter().chain(&l.tail).copied().chain([l.intercept, l.sigma]),
                )
            }
            Online::Ensemble(e) => {
                if e.members.is_empty() {
                    return Err("online state: ensemble without members".into());
                }
                e.members.iter().try_for_each(|m| {
                    if !m.weight.is_finite() || m.weight < 0.0 {
                        return Err("online state: ensemble weights must be finite and non-negative".into());
                    }
                    m.state.validate()
                })
            }
        }
    }

    /// As [`Self::predict`], after feeding `pending` to a copy: for a newest point that the
    /// next fetch may still revise, so it is not committed to the state yet.
    pub fn predict_after(&self, pending: &[f64], horizon: usize) -> Result<Forecast> {
        if pending.is_empty() {
            return self.predict(horizon);
        }
        let mut s = self.clone();
        pending.iter().for_each(|y| s.observe(*y));
        s.predict(horizon)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forecast::ModelSpec;
    use crate::forecast::ets::EtsState;
    use crate::forecast::naive::NaiveState;
    use std::collections::VecDeque;
    use std::f64::consts::TAU;

    /// Deterministic uniform noise in [−0.5, 0.5).
    fn noise(n: usize, seed: u64) -> Vec<f64> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5
            })
            .collect()
    }

    /// Noise around a slow trend and a daily cycle (period 24).
    fn wiggly(n: usize, seed: u64) -> Vec<f64> {
        noise(n, seed)
            .iter()
            .enumerate()
            .map(|(t, u)| 100.0 + 0.05 * t as f64 + 15.0 * (TAU * t as f64 / 24.0).sin() + 6.0 * u)
            .collect()
    }

    fn assert_forecasts_equal(a: &Forecast, b: &Forecast, tol: f64, what: &str) {
        assert_eq!(a.len(), b.len(), "{what}");
        for (name, x, y) in [
            ("point", &a.point, &b.point),
            ("lower_80", &a.lower_80, &b.lower_80),
            ("upper_95", &a.upper_95, &b.upper_95),
        ] {
            for (i, (x, y)) in x.iter().zip(y).enumerate() {
                assert!(
                    (x - y).abs() <= tol * y.abs().max(1.0),
                    "{what} {name}[{i}]: {x} vs {y}"
                );
            }
        }
    }

    /// Every family with a serving state forecasts exactly what its fitted model forecasts.
    #[test]
    fn online_state_reproduces_the_fitted_forecast() {
        let y = wiggly(24 * 30, 7);
        let specs = [
            ModelSpec::SeasonalNaive { period: 24 },
            ModelSpec::Ets {
                spec: "AAN".into(),
                damped: Some(false),
                window: None,
            },
            ModelSpec::Ets {
                spec: "AAN".into(),
                damped: Some(true),
                window: Some(400),
            },
            ModelSpec::Ets {
                spec: "AZN".into(),
                damped: None,
                window: Some(576),
            },
            ModelSpec::Mstl {
                periods: vec![24],
                trend_spec: "AZN".into(),
                trend_window: Some(300),
            },
            ModelSpec::Linear {
                lags: vec![1, 2, 3, 24],
                periods: vec![24],
                fourier_terms: 3,
                alpha: 0.001,
                l1_ratio: 0.0,
            },
        ];
        for spec in specs {
            let fitted = spec.fit(&y).unwrap_or_else(|e| panic!("{spec:?}: {e}"));
            let online = fitted.online().unwrap_or_else(|| panic!("{spec:?}: no online state"));
            let want = fitted.predict(30).unwrap();
            assert_forecasts_equal(&online.predict(30).unwrap(), &want, 1e-6, &format!("{spec:?}"));
            // It survives a round trip through the artifact's JSON (serde_json's default float
            // parser may differ in the last bit).
            let back: Online = serde_json::from_str(&serde_json::to_string(&online).unwrap()).unwrap();
            assert_forecasts_equal(&back.predict(30).unwrap(), &want, 1e-9, "round trip");
        }
    }

    /// Continuing the state over new points equals a model with the same frozen parameters run
    /// over them: checked where the frozen model is known in closed form.
    #[test]
    fn observing_follows_the_state_equations() {
        // Table: (state, observations, expected one-step point after them).
        let ets = |alpha, beta, phi| EtsState {
            alpha,
            beta,
            phi,
            level: 10.0,
            slope: 1.0,
            sigma2: 1.0,
        };
        let cases: Vec<(Online, Vec<f64>, f64)> = vec![
            // Random walk (α = 1, no trend): the forecast is the last value.
            (Online::Ets(ets(1.0, 0.0, 0.0)), vec![12.0, 15.0], 15.0),
            // α = 0.5, no trend: 10 → 11 → 13.
            (Online::Ets(ets(0.5, 0.0, 0.0)), vec![12.0, 15.0], 13.0),
            // Holt, α = 1, β = 0: level = last value, slope stays 1.
            (Online::Ets(ets(1.0, 0.0, 1.0)), vec![20.0], 21.0),
            // A missing value advances on the model's own forecast: 10 + 1, then + 1 again.
            (Online::Ets(ets(0.3, 0.1, 1.0)), vec![f64::NAN], 12.0),
            (
                Online::SeasonalNaive(NaiveState {
                    last: VecDeque::from(vec![1.0, 2.0, 3.0]),
                    sigma: 1.0,
                }),
                vec![7.0, f64::NAN],
                3.0,
            ),
        ];
        for (mut s, obs, want) in cases {
            obs.iter().for_each(|y| s.observe(*y));
            let got = s.predict(1).unwrap().point[0];
            assert!((got - want).abs() < 1e-12, "{s:?}: {got} vs {want}");
        }
    }

    /// Feeding the next points to the state equals refitting with frozen parameters where
    /// refitting is deterministic in them: the linear model and seasonal naive.
    #[test]
    fn continuing_matches_a_fit_on_the_longer_series_for_parameter_free_parts() {
        let y = wiggly(24 * 20, 3);
        let (head, new) = y.split_at(y.len() - 5);
        let spec = ModelSpec::SeasonalNaive { period: 24 };
        let mut s = spec.fit(head).unwrap().online().unwrap();
        new.iter().for_each(|v| s.observe(*v));
        let refit = spec.fit(&y).unwrap().predict(10).unwrap();
        assert_eq!(s.predict(10).unwrap().point, refit.point);

        // Linear: continuing keeps the coefficients and shifts lags and Fourier phase, so the
        // forecast equals the frozen model's own recursion from the longer history.
        let spec = ModelSpec::Linear {
            lags: vec![1, 24],
            periods: vec![24],
            fourier_terms: 2,
            alpha: 0.001,
            l1_ratio: 0.0,
        };
        let mut s = spec.fit(head).unwrap().online().unwrap();
        new.iter().for_each(|v| s.observe(*v));
        let Online::Linear(l) = &s else { panic!() };
        assert_eq!(l.t, y.len());
        assert_eq!(l.tail.iter().copied().collect::<Vec<_>>(), y[y.len() - 24..].to_vec());
        let by_hand = l.coef[0] * y[y.len() - 1] + l.coef[1] * y[y.len() - 24] + l.intercept + {
            let mut f = [0.0; 4];
            crate::forecast::linear::fourier_into(y.len(), &[24], 2, &mut f);
            f.iter().zip(&l.coef[2..]).map(|(a, b)| a * b).sum::<f64>()
        };
        assert!((s.predict(1).unwrap().point[0] - by_hand).abs() < 1e-9);
    }

    #[test]
    fn ets_state_tracks_a_level_shift_without_refitting() {
        // Trained flat at 100; after a shift to 150 the state's forecast moves towards 150.
        // A random walk, so the fitted α is large and the level follows the data.
        let y: Vec<f64> = noise(600, 5)
            .iter()
            .scan(100.0, |level, u| {
                *level += 2.0 * u;
                Some(*level)
            })
            .collect();
        let spec = "AZN";
        let fitted = ModelSpec::Ets {
            spec: spec.into(),
            damped: None,
            window: None,
        }
        .fit(&y)
        .unwrap();
        let mut s = fitted.online().unwrap();
        assert_forecasts_equal(&s.predict(5).unwrap(), &fitted.predict(5).unwrap(), 1e-6, spec);
        let before = s.predict(1).unwrap().point[0];
        (0..50).for_each(|_| s.observe(150.0));
        let after = s.predict(1).unwrap().point[0];
        assert!(
            (after - 150.0).abs() < (before - 150.0).abs() / 2.0,
            "{spec}: {before} → {after}"
        );
    }

    #[test]
    fn ensemble_and_predict_after() {
        let y = wiggly(24 * 20, 11);
        let spec = ModelSpec::Ensemble {
            members: vec![
                crate::forecast::ensemble::Member {
                    spec: ModelSpec::SeasonalNaive { period: 24 },
                    weight: 0.25,
                },
                crate::forecast::ensemble::Member {
                    spec: ModelSpec::Ets {
                        spec: "AZN".into(),
                        damped: None,
                        window: Some(200),
                    },
                    weight: 0.75,
                },
            ],
        };
        let fitted = spec.fit(&y).unwrap();
        let online = fitted.online().unwrap();
        assert_forecasts_equal(
            &online.predict(12).unwrap(),
            &fitted.predict(12).unwrap(),
            1e-6,
            "ensemble",
        );
        // predict_after leaves the state as it was.
        let copy = online.clone();
        let a = online.predict_after(&[130.0], 5).unwrap();
        assert_eq!(online, copy);
        let mut b = online.clone();
        b.observe(130.0);
        assert_eq!(a, b.predict(5).unwrap());
    }

    #[test]
    fn recover_refuses_what_it_cannot_reproduce() {
        let y = wiggly(100, 1);
        // Fitted values unrelated to any ETS recursion.
        let fitted: Vec<f64> = y.iter().map(|v| v * 0.5 + (v * 13.0).sin()).collect();
        assert!(EtsState::recover(&y, &fitted, [1.0, 2.0, 3.0], 1.0, true, true).is_none());
        assert!(EtsState::recover(&y[..5], &fitted[..5], [1.0, 2.0, 3.0], 1.0, false, false).is_none());
    }
}
