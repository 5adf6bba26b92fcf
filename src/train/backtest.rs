//! Rolling-origin backtests and per-series model selection by MASE.

use crate::core::series::Series;
use crate::forecast::conformal::{Conformal, calibrate, lofo_coverage, scores};
use crate::forecast::ensemble::{Member, combine, inverse_error_weights};
use crate::forecast::metrics::{coverage, mase, smape};
use crate::forecast::season::{detect_periods, primary_period};
use crate::forecast::{Forecast, ModelSpec, ets};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// The model families a job may try.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// The value one season ago (FPP3 intervals); also MASE's yardstick.
    SeasonalNaive,
    /// augurs AutoETS over [`ETS_SEARCH`], on a recent window.
    Ets,
    /// augurs MSTL on the detected periods, with an AutoETS trend.
    Mstl,
    /// Elastic net (ridge by default) on lags and Fourier terms, recursive multi-step.
    Linear,
    /// Opt-in: the candle network costs far more to fit than the others.
    Mlp,
}

impl Family {
    /// The default candidates (the MLP is opt-in).
    pub const ALL: [Family; 4] = [Family::SeasonalNaive, Family::Ets, Family::Mstl, Family::Linear];
}

/// How to backtest: the horizon, the folds, the training window and the families to try.
#[derive(Debug, Clone)]
pub struct BacktestConfig {
    /// Steps ahead scored in each fold.
    pub horizon: usize,
    /// Rolling origins: at least this many (≥ 3), more when the test share holds more
    /// non-overlapping horizons, up to `max_folds` (short horizons get more residuals to calibrate).
    pub folds: usize,
    /// The most rolling origins (default 8); very short horizons may exceed it to have at
    /// least 40 residuals.
    pub max_folds: usize,
    /// The share of history, at the end, in which origins lie.
    pub test_fraction: f64,
    /// At most this many points before an origin are used to fit (bounds cost on long series).
    pub max_train: usize,
    /// The families to try; default [`Family::ALL`].
    pub families: Vec<Family>,
}

impl BacktestConfig {
    /// The defaults for `horizon` steps: 3 to 8 folds in the last 20%, 8064 training points,
    /// every default family.
    pub fn new(horizon: usize) -> Self {
        BacktestConfig {
            horizon,
            folds: 3,
            max_folds: 8,
            test_fraction: 0.2,
            max_train: 4 * 2016,
            families: Family::ALL.to_vec(),
        }
    }
}

/// Scores of one family, averaged over folds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelScore {
    /// The family's name (`seasonal_naive`, `ets`, ..., `ensemble`).
    pub name: String,
    /// Mean absolute scaled error: forecast MAE over the seasonal naive's in-sample MAE.
    pub mase: f64,
    /// Symmetric MAPE in percent (0–200).
    pub smape: f64,
    /// Share of actuals inside the calibrated 80% interval, measured leave-one-fold-out.
    pub coverage_80: f64,
    /// Share of actuals inside the calibrated 95% interval, measured leave-one-fold-out.
    pub coverage_95: f64,
    /// Mean wall time of one fit plus one predict, in milliseconds.
    pub fit_predict_ms: f64,
    /// MASE of each fold, in origin order (null where undefined).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fold_mase: Vec<Option<f64>>,
    /// The spec that was fitted (searched forms not yet frozen).
    pub spec: ModelSpec,
    /// Conformal multipliers from all folds' residuals (applied to forecasts in use).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conformal: Option<Conformal>,
    /// Coverage of the family's own (uncalibrated) intervals, for comparison.
    #[serde(default)]
    pub native_coverage_80: f64,
    /// As `native_coverage_80`, for the 95% interval.
    #[serde(default)]
    pub native_coverage_95: f64,
}

/// A family that could not be backtested on the series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailedModel {
    /// The family's name.
    pub name: String,
    /// Why, e.g. `no seasonal period detected`.
    pub error: String,
}

/// The `backtest.json` contract (docs/backtest.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BacktestReport {
    /// Steps ahead scored per fold.
    pub horizon_steps: usize,
    /// The same horizon in seconds.
    pub horizon_seconds: i64,
    /// Rolling origins used.
    pub folds: usize,
    /// Fold origins as indices into the series.
    pub origins: Vec<usize>,
    /// Seasonal periods found, in steps; the first scales MASE.
    pub periods: Vec<usize>,
    /// Every family that was scored, the ensemble included when two or more succeeded.
    pub models: Vec<ModelScore>,
    /// The name of the model with the lowest MASE.
    pub selected: String,
    /// Families that failed, with their errors.
    pub failed: Vec<FailedModel>,
    /// Points before each origin used to fit (the window is `[origin − max_train, origin)`).
    #[serde(default)]
    pub max_train: usize,
    /// Out-of-sample score of the selection rule itself: each fold scored with the family
    /// selected on the other folds. The selected family's `mase` is optimistic by construction.
    #[serde(default)]
    pub selection_mase: Option<f64>,
}

impl BacktestReport {
    /// The selected model's scores.
    pub fn selected_score(&self) -> Option<&ModelScore> {
        self.models.iter().find(|m| m.name == self.selected)
    }
}

/// The AutoETS search the ETS and MSTL-trend candidates run: additive errors, trend none,
/// additive or damped. Multiplicative-error forms doubled the search cost and, on the NAB AWS
/// series, did not lower backtest MASE (docs/benchmarks.md).
pub const ETS_SEARCH: &str = "AZN";

/// Candidate specs for a series, given the families asked for and the seasonality found.
pub fn candidates(families: &[Family], periods: &[usize]) -> Vec<std::result::Result<ModelSpec, FailedModel>> {
    families
        .iter()
        .map(|f| match f {
            Family::SeasonalNaive => Ok(ModelSpec::SeasonalNaive {
                period: primary_period(periods),
            }),
            Family::Ets => Ok(ModelSpec::Ets {
                spec: ETS_SEARCH.into(),
                damped: None,
                window: Some(ets::FIT_WINDOW),
            }),
            Family::Mstl if periods.is_empty() => Err(FailedModel {
                name: "mstl".into(),
                error: "no seasonal period detected".into(),
            }),
            Family::Mstl => Ok(ModelSpec::Mstl {
                periods: periods.to_vec(),
                trend_spec: ETS_SEARCH.into(),
                trend_window: Some(ets::FIT_WINDOW),
            }),
            Family::Linear => {
                let mut lags = vec![1, 2, 3];
                lags.extend(periods.iter().copied());
                Ok(ModelSpec::Linear {
                    lags,
                    periods: periods.to_vec(),
                    fourier_terms: 3,
                    alpha: 0.001,
                    l1_ratio: 0.0,
                })
            }
            Family::Mlp => Ok(ModelSpec::Mlp {
                window: primary_period(periods).clamp(8, 48),
                hidden: 32,
                epochs: 200,
                seed: 42,
            }),
        })
        .collect()
}

/// Evenly spaced origins in the last `test_fraction` of the series, the last one leaving
/// exactly `horizon` points to score.
pub fn origins(n: usize, horizon: usize, folds: usize, test_fraction: f64, min_train: usize) -> Result<Vec<usize>> {
    if horizon == 0 || folds == 0 {
        return Err(Error::config("horizon", "horizon and folds must be at least 1"));
    }
    let last = n.checked_sub(horizon).filter(|&l| l >= min_train).ok_or_else(|| {
        Error::TooShort(format!(
            "series of {n} points is too short for a {horizon}-step horizon after {min_train} training points"
        ))
    })?;
    let mut first = (n - (n as f64 * test_fraction).ceil() as usize)
        .min(last)
        .max(min_train);
    if first == last {
        // The horizon outgrows the test share: spread the origins over one horizon instead.
        first = last.saturating_sub(horizon).max(min_train);
    }
    Ok((0..folds)
        .map(|j| {
            if folds == 1 {
                last
            } else {
                first + (last - first) * j / (folds - 1)
            }
        })
        .collect())
}

/// Folds the test share stretches to hold, where the series has room. Conformal multipliers
/// from fewer folds under-covered: with 3 folds at h = 1 day (5-minute NAB series), one fold
/// in a different regime left the 80%/95% intervals covering 73%/87%.
pub const MIN_CALIBRATION_FOLDS: usize = 5;

/// The share of the series the fold origins span: `test_fraction`, stretched to hold
/// [`MIN_CALIBRATION_FOLDS`] horizons as long as `min_train` points stay before the first origin.
pub fn test_share(n: usize, cfg: &BacktestConfig, min_train: usize) -> f64 {
    if n == 0 {
        return cfg.test_fraction;
    }
    let want = (MIN_CALIBRATION_FOLDS * cfg.horizon) as f64 / n as f64;
    let room = n.saturating_sub(min_train) as f64 / n as f64;
    cfg.test_fraction.max(want.min(room))
}

/// The fewest points any backtest can use: the 8-point training minimum and one to score.
pub const MIN_POINTS: usize = 9;

/// Backtests every candidate family and selects the lowest mean MASE.
pub fn backtest(series: &Series, cfg: &BacktestConfig) -> Result<BacktestReport> {
    let y = &series.values;
    // Before period detection and fold arithmetic, which assume a series longer than a fold.
    if y.len() < MIN_POINTS {
        return Err(Error::TooShort(format!(
            "series {:?} has {} points; a backtest needs at least {MIN_POINTS}",
            series.name,
            y.len()
        )));
    }
    let periods = detect_periods(y, series.step);
    let m = primary_period(&periods);
    let min_train = (2 * m).max(8);
    let share = test_share(y.len(), cfg, min_train);
    let origins = origins(y.len(), cfg.horizon, fold_count(y.len(), cfg, share), share, min_train)?;
    let mut models = Vec::new();
    let mut failed = Vec::new();
    let mut fold_forecasts = Vec::new();
    for cand in candidates(&cfg.families, &periods) {
        let spec = match cand {
            Ok(s) => s,
            Err(f) => {
                failed.push(f);
                continue;
            }
        };
        match score(y, &spec, &origins, cfg, m) {
            Ok((s, folds)) => {
                fold_forecasts.push(folds);
                models.push(s)
            }
            Err(e) => failed.push(FailedModel {
                name: spec.name().into(),
                error: e.to_string(),
            }),
        }
    }
    if models.len() >= 2 {
        models.push(ensemble_score(y, &origins, cfg, m, &models, &fold_forecasts));
    }
    let selected = select(&models, None).map(|i| models[i].name.clone()).ok_or_else(|| {
        Error::Invalid(format!(
            "series {:?}: every model family failed: {failed:?}",
            series.name
        ))
    })?;
    let selection_mase = selection_mase(&models, origins.len());
    Ok(BacktestReport {
        horizon_steps: cfg.horizon,
        horizon_seconds: cfg.horizon as i64 * series.step,
        folds: origins.len(),
        origins,
        periods,
        models,
        selected,
        failed,
        max_train: cfg.max_train,
        selection_mase,
    })
}

/// Folds for a series of `n` points: one per horizon that fits in the test share, within
/// `[cfg.folds, cfg.max_folds]`.
pub fn fold_count(n: usize, cfg: &BacktestConfig, test_share: f64) -> usize {
    let test = (n as f64 * test_share).ceil() as usize;
    let h = cfg.horizon.max(1);
    // Very short horizons give one or two residuals per fold: allow more folds so the conformal
    // quantiles rest on at least MIN_CALIBRATION_RESIDUALS scores.
    let max = cfg.max_folds.max(cfg.folds).max(MIN_CALIBRATION_RESIDUALS.div_ceil(h));
    (test / h).clamp(cfg.folds, max)
}

/// Residuals the conformal multipliers need at least, where the test share has room: with 8
/// one-step folds the 95% multiplier was the largest of 7 scores.
pub const MIN_CALIBRATION_RESIDUALS: usize = 40;

/// The lowest mean MASE, counting only folds other than `skip`.
fn select(models: &[ModelScore], skip: Option<usize>) -> Option<usize> {
    let score = |m: &ModelScore| {
        if skip.is_none() {
            return m.mase;
        }
        let v: Vec<f64> = m
            .fold_mase
            .iter()
            .enumerate()
            .filter(|(k, _)| Some(*k) != skip)
            .filter_map(|(_, x)| *x)
            .collect();
        if v.is_empty() {
            f64::INFINITY
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        }
    };
    (0..models.len()).min_by(|&a, &b| score(&models[a]).total_cmp(&score(&models[b])))
}

/// Leave-one-fold-out score of the selection rule (see `BacktestReport::selection_mase`).
fn selection_mase(models: &[ModelScore], folds: usize) -> Option<f64> {
    let picks: Vec<f64> = (0..folds)
        .filter_map(|k| select(models, Some(k)).and_then(|i| models[i].fold_mase.get(k).copied().flatten()))
        .collect();
    (!picks.is_empty()).then(|| picks.iter().sum::<f64>() / picks.len() as f64)
}

/// Scores one spec on the given origins: how a candidate and the active version are compared.
pub fn score_on(
    series: &Series,
    spec: &ModelSpec,
    report: &BacktestReport,
    cfg: &BacktestConfig,
) -> Result<ModelScore> {
    score(
        &series.values,
        spec,
        &report.origins,
        cfg,
        primary_period(&report.periods),
    )
    .map(|(s, _)| s)
}

/// Per-fold forecasts of one family, kept to score ensembles without refitting.
type Folds = Vec<Forecast>;

fn score(
    y: &[f64],
    spec: &ModelSpec,
    origins: &[usize],
    cfg: &BacktestConfig,
    m: usize,
) -> Result<(ModelScore, Folds)> {
    let mut folds = Vec::with_capacity(origins.len());
    let mut ms = Vec::new();
    for &o in origins {
        let train = &y[o.saturating_sub(cfg.max_train)..o];
        let t0 = Instant::now();
        let f = spec.fit(train)?.predict(cfg.horizon)?;
        ms.push(t0.elapsed().as_secs_f64() * 1e3);
        if f.has_non_finite() {
            return Err(Error::model(spec.name(), format!("non-finite forecast at origin {o}")));
        }
        folds.push(f);
    }
    let mean_ms = ms.iter().sum::<f64>() / ms.len().max(1) as f64;
    let score = summarize(y, spec, origins, cfg, m, &folds, mean_ms)?;
    Ok((score, folds))
}

/// Scores fold forecasts: MASE, sMAPE, native and conformal (leave-one-fold-out) coverage.
fn summarize(
    y: &[f64],
    spec: &ModelSpec,
    origins: &[usize],
    cfg: &BacktestConfig,
    m: usize,
    folds: &[Forecast],
    ms: f64,
) -> Result<ModelScore> {
    let (mut mases, mut smapes, mut c80, mut c95, mut fold_scores) = (vec![], vec![], vec![], vec![], vec![]);
    let mut fold_mase = Vec::with_capacity(folds.len());
    for (&o, f) in origins.iter().zip(folds) {
        let train = &y[o.saturating_sub(cfg.max_train)..o];
        let actual = &y[o..o + cfg.horizon];
        let v = mase(train, m, actual, &f.point);
        fold_mase.push(v);
        if let Some(v) = v {
            mases.push(v);
        }
        smapes.push(smape(actual, &f.point));
        let (a, b) = coverage(actual, f);
        c80.push(a);
        c95.push(b);
        fold_scores.push(scores(actual, f));
    }
    if mases.is_empty() {
        return Err(Error::model(
            spec.name(),
            "MASE undefined: the training data has no variation",
        ));
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let all: Vec<f64> = fold_scores.iter().flatten().copied().collect();
    let conformal = calibrate(&all);
    let (cov80, cov95) = lofo_coverage(&fold_scores).unwrap_or((mean(&c80), mean(&c95)));
    Ok(ModelScore {
        name: spec.name().into(),
        mase: mean(&mases),
        smape: mean(&smapes),
        coverage_80: cov80,
        coverage_95: cov95,
        fit_predict_ms: ms,
        fold_mase,
        spec: spec.clone(),
        conformal,
        native_coverage_80: mean(&c80),
        native_coverage_95: mean(&c95),
    })
}

/// The inverse-MASE weighted ensemble of the best three families, scored on their folds.
fn ensemble_score(
    y: &[f64],
    origins: &[usize],
    cfg: &BacktestConfig,
    m: usize,
    models: &[ModelScore],
    folds: &[Folds],
) -> ModelScore {
    let mut order: Vec<usize> = (0..models.len()).collect();
    order.sort_by(|a, b| models[*a].mase.total_cmp(&models[*b].mase));
    order.truncate(3);
    let weights = inverse_error_weights(&order.iter().map(|&i| models[i].mase).collect::<Vec<_>>());
    let members: Vec<Member> = order
        .iter()
        .zip(&weights)
        .map(|(&i, w)| Member {
            spec: models[i].spec.clone(),
            weight: *w,
        })
        .collect();
    let combined: Vec<Forecast> = (0..origins.len())
        .map(|k| combine(&order.iter().map(|&i| &folds[i][k]).collect::<Vec<_>>(), &weights))
        .collect();
    let ms = order.iter().map(|&i| models[i].fit_predict_ms).sum();
    let spec = ModelSpec::Ensemble { members };
    summarize(y, &spec, origins, cfg, m, &combined, ms).unwrap_or_else(|_| ModelScore {
        name: "ensemble".into(),
        mase: f64::INFINITY,
        smape: f64::NAN,
        coverage_80: 0.0,
        coverage_95: 0.0,
        fit_predict_ms: ms,
        fold_mase: vec![],
        spec,
        conformal: None,
        native_coverage_80: 0.0,
        native_coverage_95: 0.0,
    })
}

/// The backtest of every series in one input file (`scale backtest`).
pub struct FileBacktest {
    /// The input as given.
    pub input: String,
    /// Each series exactly as backtested (after the gap policy), with its report.
    pub series: Vec<(Series, BacktestReport)>,
}

impl FileBacktest {
    /// The `backtest.json` document (docs/backtest.md): the first series' report at the top
    /// level, `input`, and every series' report under `services`.
    pub fn document(&self) -> Result<serde_json::Value> {
        let mut per_service = serde_json::Map::new();
        let mut first = None;
        for (s, r) in &self.series {
            let v = serde_json::to_value(r).map_err(|e| Error::Encode(e.to_string()))?;
            first.get_or_insert_with(|| v.clone());
            per_service.insert(s.name.clone(), v);
        }
        let mut doc = first.ok_or_else(|| Error::NoData("no series".into()))?;
        if let Some(obj) = doc.as_object_mut() {
            obj.insert("input".into(), self.input.clone().into());
            obj.insert("services".into(), per_service.into());
        }
        Ok(doc)
    }
}

/// Loads `input` with the default gap policy and backtests every series at a horizon of
/// `horizon_seconds` (whole steps of each series, at least one).
pub fn backtest_file(input: &std::path::Path, horizon_seconds: i64) -> Result<FileBacktest> {
    let loaded = crate::observe::load_series(input, crate::core::series::GapPolicy::default())?;
    let mut series = Vec::with_capacity(loaded.len());
    for c in loaded {
        let s = c.series;
        let steps = (horizon_seconds + s.step - 1) / s.step;
        let r = backtest(&s, &BacktestConfig::new(steps.max(1) as usize)).map_err(|e| e.in_file(input))?;
        series.push((s, r));
    }
    Ok(FileBacktest {
        input: input.display().to_string(),
        series,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::TAU;

    #[test]
    fn origins_table() {
        // (n, horizon, folds, min_train) → origins
        let cases: [(usize, usize, usize, usize, Vec<usize>); 3] = [
            (100, 5, 3, 10, vec![80, 87, 95]),
            (100, 30, 3, 10, vec![40, 55, 70]),
            (50, 10, 4, 8, vec![30, 33, 36, 40]),
        ];
        for (n, h, k, min, want) in cases {
            let got = origins(n, h, k, 0.2, min).unwrap();
            assert_eq!(got, want, "n={n} h={h}");
            assert!(got.iter().all(|&o| o + h <= n && o >= min));
        }
        assert!(origins(20, 15, 3, 0.2, 10).is_err());
    }

    #[test]
    fn fold_count_table() {
        // (n, horizon, min_train) → folds: 3 to 8, or up to ⌈40/h⌉ for very short horizons; the
        // share stretches to 5 horizons where min_train leaves room.
        for (n, h, min_train, want) in [
            (672, 24, 48, 5),
            (4032, 12, 576, 8),
            (4032, 288, 576, 5),
            (4032, 288, 3500, 3),
            (100, 1, 8, 20),
            (17520, 1, 48, 40),
            (17520, 2, 48, 20),
            (10, 5, 2, 3),
        ] {
            let cfg = BacktestConfig::new(h);
            let share = test_share(n, &cfg, min_train);
            assert_eq!(fold_count(n, &cfg, share), want, "n={n} h={h}");
            let o = origins(n, h, want, share, min_train).unwrap();
            assert!(o[0] >= min_train && *o.last().unwrap() == n - h, "{o:?}");
        }
    }

    #[test]
    fn selection_is_scored_out_of_sample() {
        let m = |name: &str, folds: [f64; 3]| ModelScore {
            name: name.into(),
            mase: folds.iter().sum::<f64>() / 3.0,
            smape: 0.0,
            coverage_80: 0.0,
            coverage_95: 0.0,
            fit_predict_ms: 0.0,
            fold_mase: folds.iter().map(|&x| Some(x)).collect(),
            spec: ModelSpec::SeasonalNaive { period: 1 },
            conformal: None,
            native_coverage_80: 0.0,
            native_coverage_95: 0.0,
        };
        // a wins folds 1 and 2, b wins fold 0: leaving fold 0 out picks a (0.5 on fold 0)
        let models = [m("a", [0.5, 0.2, 0.2]), m("b", [0.1, 0.9, 0.9])];
        // fold 0 → picked on {1,2}: a → 0.5; fold 1 → on {0,2}: a (0.35 vs 0.5) → 0.2; fold 2 → a → 0.2
        let got = selection_mase(&models, 3).unwrap();
        assert!((got - 0.3).abs() < 1e-12, "{got}");
    }

    #[test]
    fn selects_a_seasonal_model_on_seasonal_data() {
        let y: Vec<f64> = (0..24 * 28)
            .map(|t| 100.0 + 40.0 * (TAU * t as f64 / 24.0).sin() + 5.0 * ((t * 37 % 11) as f64 / 11.0 - 0.5))
            .collect();
        let s = Series::new("s", 0, 3600, y);
        let r = backtest(&s, &BacktestConfig::new(24)).unwrap();
        // 20% of 672 points holds 5 one-day horizons
        assert_eq!(r.folds, 5);
        assert!(r.models.iter().all(|m| m.name == "ensemble" || m.fold_mase.len() == 5));
        let sel = r.selection_mase.unwrap();
        let all: Vec<f64> = r
            .models
            .iter()
            .flat_map(|m| m.fold_mase.iter().flatten().copied())
            .collect();
        let (lo, hi) = all.iter().fold((f64::MAX, 0.0f64), |(a, b), &x| (a.min(x), b.max(x)));
        assert!(sel >= lo && sel <= hi, "{sel} outside [{lo}, {hi}]");
        let names: Vec<&str> = r.models.iter().map(|m| m.name.as_str()).collect();
        for want in ["seasonal_naive", "ets", "mstl", "ensemble"] {
            assert!(names.contains(&want), "{want} missing: {names:?} {:?}", r.failed);
        }
        // the ensemble's members are the best three, weights summing to 1
        let ens = r.models.iter().find(|m| m.name == "ensemble").unwrap();
        let ModelSpec::Ensemble { members } = &ens.spec else {
            panic!("ensemble spec")
        };
        assert!((members.iter().map(|m| m.weight).sum::<f64>() - 1.0).abs() < 1e-9);
        // every scored family carries conformal multipliers, 95% wider than 80%
        for m in &r.models {
            let c = m.conformal.unwrap();
            assert!(c.q95 >= c.q80 && c.q80 > 0.0, "{m:?}");
        }
        assert_ne!(
            r.selected, "ets",
            "a non-seasonal model cannot win on a daily cycle: {:?}",
            r.models
        );
        let sel = r.selected_score().unwrap();
        assert!(sel.mase < 1.0, "{sel:?}");
    }
}
