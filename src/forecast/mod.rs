//! Forecasting: unfitted specs ([`ModelSpec`]) fit into fitted models ([`Fitted`]) that predict
//! point forecasts with 80% and 95% intervals. Fitting and predicting are separate types,
//! as in augurs, so a fitted model cannot be used before it exists.

pub(crate) mod conformal;
pub(crate) mod ensemble;
pub mod ets;
pub(crate) mod linear;
pub(crate) mod metrics;
pub mod mlp;
pub(crate) mod mstl;
pub(crate) mod naive;
pub(crate) mod online;
pub(crate) mod season;

use crate::Result;
use serde::{Deserialize, Serialize};

/// z-score of the central 80% interval every forecast carries: Φ⁻¹(0.9).
pub const Z80: f64 = 1.281_551_565_545;
/// z-score of the central 95% interval every forecast carries: Φ⁻¹(0.975).
pub const Z95: f64 = 1.959_963_984_540;

/// Point forecast and central 80% / 95% intervals, one entry per step ahead.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Forecast {
    /// Point forecast; `point[0]` is one step after the training data.
    pub point: Vec<f64>,
    /// Lower edge of the central 80% interval (the 10% quantile).
    pub lower_80: Vec<f64>,
    /// Upper edge of the central 80% interval (the 90% quantile).
    pub upper_80: Vec<f64>,
    /// Lower edge of the central 95% interval (the 2.5% quantile).
    pub lower_95: Vec<f64>,
    /// Upper edge of the central 95% interval (the 97.5% quantile).
    pub upper_95: Vec<f64>,
}

impl Forecast {
    /// Steps ahead covered.
    pub fn len(&self) -> usize {
        self.point.len()
    }

    /// True when the forecast covers no step.
    pub fn is_empty(&self) -> bool {
        self.point.is_empty()
    }

    /// Gaussian intervals from a point forecast and per-step standard deviations.
    pub fn from_sigma(point: Vec<f64>, sigma: &[f64]) -> Forecast {
        let band = |z: f64, sign: f64| {
            point
                .iter()
                .zip(sigma)
                .map(|(p, s)| p + sign * z * s)
                .collect::<Vec<_>>()
        };
        Forecast {
            lower_80: band(Z80, -1.0),
            upper_80: band(Z80, 1.0),
            lower_95: band(Z95, -1.0),
            upper_95: band(Z95, 1.0),
            point,
        }
    }

    /// The `q` quantile at step `i`: read off the 80% band for central quantiles (p90 is its
    /// upper edge) and off the 95% band in the tails, Gaussian in between.
    pub fn quantile(&self, i: usize, q: f64) -> f64 {
        let z = normal_quantile(q);
        let (hi, lo, zb) = if z.abs() <= Z80 {
            (self.upper_80[i], self.lower_80[i], Z80)
        } else {
            (self.upper_95[i], self.lower_95[i], Z95)
        };
        let sigma = ((hi - lo) / (2.0 * zb)).max(0.0);
        self.point[i] + z * sigma
    }

    /// True if any value is NaN or infinite.
    pub fn has_non_finite(&self) -> bool {
        [
            &self.point,
            &self.lower_80,
            &self.upper_80,
            &self.lower_95,
            &self.upper_95,
        ]
        .iter()
        .any(|v| v.iter().any(|x| !x.is_finite()))
    }
}

/// Inverse standard normal CDF (Acklam's rational approximation, |error| < 1.2e-9).
pub fn normal_quantile(p: f64) -> f64 {
    let p = p.clamp(1e-12, 1.0 - 1e-12);
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.38357751867269e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// A model family with its parameters: the registry of families is this enum.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "family", rename_all = "snake_case", deny_unknown_fields)]
pub enum ModelSpec {
    /// y[t+h] = y[t+h-period·k]: the baseline every other family must beat.
    SeasonalNaive {
        /// Season length in steps.
        period: usize,
    },
    /// augurs AutoETS without a seasonal component; `spec` is e.g. "AZN" (search) or "AAN".
    Ets {
        /// AutoETS spec: error, trend and season letters, `Z` to search that component.
        spec: String,
        /// Only a damped (true) or only an undamped (false) trend; None searches both.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        damped: Option<bool>,
        /// Fit on the last `window` points only (None: all of them).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        window: Option<usize>,
    },
    /// augurs MSTL with an AutoETS trend; one period per seasonality (e.g. daily and weekly).
    Mstl {
        /// Seasonal periods in steps (e.g. 288 and 2016: daily and weekly at 5 minutes).
        periods: Vec<usize>,
        /// AutoETS spec of the trend model fitted to the deseasonalised series, e.g. "AZN".
        trend_spec: String,
        /// The trend model fits the last `trend_window` deseasonalised points (None: all).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        trend_window: Option<usize>,
    },
    /// linfa elastic net (ridge by default) on lags, and Fourier terms for each season.
    Linear {
        /// Lags in steps (each ≥ 1): y[t−l] for each `l` is a feature.
        lags: Vec<usize>,
        /// Seasonal periods in steps; `fourier_terms` sine/cosine pairs each.
        periods: Vec<usize>,
        /// Sine/cosine pairs per seasonal period.
        fourier_terms: usize,
        /// Regularization strength (linfa `penalty`).
        alpha: f64,
        /// 0 = ridge, 1 = lasso.
        l1_ratio: f64,
    },
    /// A small candle MLP on input windows, trained on CPU with a fixed seed.
    Mlp {
        /// Input length: the previous `window` values predict the next one.
        window: usize,
        /// Units in each of the two hidden layers.
        hidden: usize,
        /// Full-batch AdamW training epochs.
        epochs: usize,
        /// Seed of the weight initialization: same data and seed, same forecasts.
        seed: u64,
    },
    /// A weighted mean of member forecasts; weights from backtest errors.
    Ensemble {
        /// Member specs with their weights.
        members: Vec<ensemble::Member>,
    },
}

impl ModelSpec {
    /// The family name used in reports and configs.
    pub fn name(&self) -> &'static str {
        match self {
            ModelSpec::SeasonalNaive { .. } => "seasonal_naive",
            ModelSpec::Ets { .. } => "ets",
            ModelSpec::Mstl { .. } => "mstl",
            ModelSpec::Linear { .. } => "linear",
            ModelSpec::Mlp { .. } => "mlp",
            ModelSpec::Ensemble { .. } => "ensemble",
        }
    }

    /// Fits the family to `y` (oldest first).
    pub fn fit(&self, y: &[f64]) -> Result<Box<dyn Fitted>> {
        check_input(self.name(), y)?;
        match self {
            ModelSpec::SeasonalNaive { period } => naive::SeasonalNaive::new(*period).fit(y),
            ModelSpec::Ets { spec, damped, window } => ets::Ets::new(spec, *damped).window(*window).fit(y),
            ModelSpec::Mstl {
                periods,
                trend_spec,
                trend_window,
            } => mstl::Mstl::new(periods.clone(), trend_spec)
                .trend_window(*trend_window)
                .fit(y),
            ModelSpec::Linear {
                lags,
                periods,
                fourier_terms,
                alpha,
                l1_ratio,
            } => linear::Linear::new(lags.clone(), periods.clone(), *fourier_terms, *alpha, *l1_ratio).fit(y),
            ModelSpec::Mlp {
                window,
                hidden,
                epochs,
                seed,
            } => mlp::Mlp::new(*window, *hidden, *epochs, *seed).fit(y),
            ModelSpec::Ensemble { members } => ensemble::Ensemble::new(members.clone()).fit(y),
        }
    }

    /// Parameters an artifact may not carry: zero periods, lags or windows (divisions and
    /// indexing by them), and sizes that would take hours to fit. Used when loading one.
    pub fn validate(&self) -> std::result::Result<(), String> {
        // Far above anything training writes; a hand-edited `epochs: 1e12` would hang a reload.
        const MAX_SIZE: usize = 100_000;
        let sized = |what: &str, v: usize| {
            if (1..=MAX_SIZE).contains(&v) {
                Ok(())
            } else {
                Err(format!("{}: {what} {v} must be 1 to {MAX_SIZE}", self.name()))
            }
        };
        match self {
            ModelSpec::SeasonalNaive { period } => sized("period", *period),
            ModelSpec::Ets { window, .. } => window.map_or(Ok(()), |w| sized("window", w)),
            ModelSpec::Mstl {
                periods, trend_window, ..
            } => {
                periods.iter().try_for_each(|p| sized("period", *p))?;
                trend_window.map_or(Ok(()), |w| sized("trend_window", w))
            }
            ModelSpec::Linear {
                lags,
                periods,
                fourier_terms,
                alpha,
                l1_ratio,
            } => {
                lags.iter().try_for_each(|l| sized("lag", *l))?;
                periods.iter().try_for_each(|p| sized("period", *p))?;
                if *fourier_terms > 1_000 || !alpha.is_finite() || !l1_ratio.is_finite() {
                    return Err("linear: fourier_terms, alpha or l1_ratio out of range".into());
                }
                Ok(())
            }
            ModelSpec::Mlp {
                window, hidden, epochs, ..
            } => {
                sized("window", *window)?;
                sized("epochs", *epochs)?;
                // hidden² weights per layer: 4096 is already 16M of them.
                if !(1..=4096).contains(hidden) {
                    return Err(format!("mlp: hidden {hidden} must be 1 to 4096"));
                }
                Ok(())
            }
            ModelSpec::Ensemble { members } => {
                if members.is_empty() {
                    return Err("ensemble: no members".into());
                }
                members.iter().try_for_each(|m| {
                    if !m.weight.is_finite() || m.weight < 0.0 {
                        return Err(format!(
                            "ensemble: member weight {} must be finite and non-negative",
                            m.weight
                        ));
                    }
                    m.spec.validate()
                })
            }
        }
    }

    /// Rebuilds a fitted model from stored weights where the family has them (the MLP),
    /// conditioning on `y`; other families refit on `y`.
    pub fn restore(&self, y: &[f64], weights: Option<&[u8]>) -> Result<Box<dyn Fitted>> {
        check_input(self.name(), y)?;
        match (self, weights) {
            (
                ModelSpec::Mlp {
                    window,
                    hidden,
                    epochs,
                    seed,
                },
                Some(w),
            ) => mlp::Mlp::new(*window, *hidden, *epochs, *seed).restore(y, w),
            _ => self.fit(y),
        }
    }
}

/// A fitted model's serving state as the artifact stores it: each family's own state type, one
/// variant per family that has one (the MLP does not: it restores its stored weights instead).
/// Continuing it point by point is [`online`]'s work.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "family", rename_all = "snake_case")]
pub enum Online {
    /// The last season of values, repeated forward.
    SeasonalNaive(naive::NaiveState),
    /// Smoothing parameters and the final level and slope.
    Ets(ets::EtsState),
    /// The seasonal components and the ETS trend state.
    Mstl(mstl::MstlState),
    /// Coefficients and the recent values the lags read.
    Linear(linear::LinearState),
    /// Each member's state with its weight.
    Ensemble(ensemble::EnsembleState),
}

/// An unfitted model.
pub trait Forecaster {
    /// Fits to `y` (oldest first).
    fn fit(&self, y: &[f64]) -> Result<Box<dyn Fitted>>;
}

/// A fitted model.
pub trait Fitted: Send {
    /// Forecasts `horizon` steps after the end of the training data.
    fn predict(&self, horizon: usize) -> Result<Forecast>;
    /// The spec that refits this model without searching again (e.g. the ETS form AutoETS chose).
    fn frozen_spec(&self) -> ModelSpec;
    /// Learned weights to store in the artifact (safetensors bytes), for families that have them.
    fn weights(&self) -> Option<Vec<u8>> {
        None
    }
    /// The state serve continues point by point without refitting (None: the family has
    /// none, or it could not be read off this fit; serve then refits each new point).
    fn online(&self) -> Option<Online> {
        None
    }
}

fn check_input(family: &str, y: &[f64]) -> Result<()> {
    if y.len() < 4 {
        return Err(crate::Error::model(
            family,
            format!("need at least 4 points, got {}", y.len()),
        ));
    }
    if let Some(i) = y.iter().position(|v| !v.is_finite()) {
        return Err(crate::Error::model(
            family,
            format!("non-finite training value at index {i}"),
        ));
    }
    Ok(())
}

/// Converts an augurs forecast at one level into our two-level form by reading its sigma.
pub(crate) fn from_augurs(family: &str, f: augurs::Forecast) -> Result<Forecast> {
    let iv = f
        .intervals
        .ok_or_else(|| crate::Error::model(family, "model returned no prediction intervals"))?;
    let z = normal_quantile(0.5 + iv.level / 2.0);
    let sigma: Vec<f64> = iv
        .upper
        .iter()
        .zip(&iv.lower)
        .map(|(u, l)| ((u - l) / (2.0 * z)).max(0.0))
        .collect();
    Ok(Forecast::from_sigma(f.point, &sigma))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_quantile_reference_values() {
        // Reference values from the standard normal table.
        for (p, z) in [
            (0.5, 0.0),
            (0.9, 1.281_551_565_5),
            (0.975, 1.959_963_985),
            (0.05, -1.644_853_627),
            (0.999, 3.090_232_306),
        ] {
            assert!((normal_quantile(p) - z).abs() < 1e-6, "p={p}");
        }
    }

    #[test]
    fn quantile_reads_bands() {
        let f = Forecast::from_sigma(vec![10.0], &[2.0]);
        assert!((f.quantile(0, 0.9) - (10.0 + 2.0 * Z80)).abs() < 1e-6);
        assert!((f.quantile(0, 0.5) - 10.0).abs() < 1e-9);
    }

    #[test]
    fn spec_round_trips_and_rejects_unknown() {
        let s = ModelSpec::Mstl {
            periods: vec![24, 168],
            trend_spec: "ZZN".into(),
            trend_window: None,
        };
        let j = serde_json::to_string(&s).unwrap();
        assert_eq!(j, r#"{"family":"mstl","periods":[24,168],"trend_spec":"ZZN"}"#);
        assert_eq!(serde_json::from_str::<ModelSpec>(&j).unwrap(), s);
        // Artifacts written before fit windows existed still load, as full-window fits.
        let ets: ModelSpec = serde_json::from_str(r#"{"family":"ets","spec":"AAN"}"#).unwrap();
        assert_eq!(
            ets,
            ModelSpec::Ets {
                spec: "AAN".into(),
                damped: None,
                window: None
            }
        );
        assert!(serde_json::from_str::<ModelSpec>(r#"{"family":"prophet"}"#).is_err());
    }

    #[test]
    fn bad_training_data_is_an_error() {
        let spec = ModelSpec::SeasonalNaive { period: 2 };
        assert!(spec.fit(&[1.0, 2.0]).is_err());
        let err = spec.fit(&[1.0, f64::NAN, 2.0, 3.0, 4.0]).err().unwrap().to_string();
        assert!(err.contains("index 1"), "{err}");
    }
}
