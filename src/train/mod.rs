//! Train: backtest candidate families per service, select by MASE, write artifacts, and
//! promote a new version only if it is not worse than the active one (last-good fallback).

pub mod artifact;
pub mod backtest;
pub(crate) mod capacity;
pub mod job;

use crate::Result;
use crate::core::series::{GapPolicy, Series};
use crate::observe::load_series;
use artifact::{DataWindow, Manifest, Promotion, State};
use backtest::{BacktestConfig, BacktestReport, backtest, score_on};
use std::path::{Path, PathBuf};

/// How new versions replace old ones.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Retention {
    /// Relative MASE margin: a candidate up to this much worse is still promoted.
    pub promotion_margin: f64,
    /// Versions kept per service (the active one is always kept).
    pub keep_versions: usize,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            promotion_margin: 0.05,
            keep_versions: 5,
        }
    }
}

/// What training one service produced.
#[derive(Debug, Clone)]
pub struct Trained {
    /// The series' name.
    pub service: String,
    /// The backtest that selected the family.
    pub report: BacktestReport,
    /// The new version's directory, written whether or not it was promoted.
    pub dir: PathBuf,
    /// Whether the new version became active, and why.
    pub promotion: Promotion,
    /// Versions removed by retention, oldest first.
    pub pruned: Vec<String>,
}

/// Compares the candidate with the active version in `models_dir` on the candidate's folds.
fn decide_promotion(
    series: &Series,
    cfg: &BacktestConfig,
    report: &BacktestReport,
    models_dir: &Path,
    margin: f64,
) -> Promotion {
    let active = match artifact::load_active(models_dir, &series.name) {
        Ok(a) => Ok(a),
        Err(e)
            if artifact::versions(models_dir, &series.name)
                .map(|v| v.is_empty())
                .unwrap_or(true) =>
        {
            Err(format!("first version ({e})"))
        }
        Err(e) => {
            tracing::warn!(service = %series.name, "active version does not load, promoting the candidate: {e}");
            Err(format!("active version does not load: {e}"))
        }
    };
    promotion_against(series, cfg, report, active.as_ref().map_err(String::clone), margin)
}

/// Compares the candidate (`report`'s selection) with `active` on the candidate's folds: the
/// candidate is promoted unless its MASE is worse by more than `margin`. `Err` says why there
/// is no active version to compare with (the candidate is promoted).
pub fn promotion_against(
    series: &Series,
    cfg: &BacktestConfig,
    report: &BacktestReport,
    active: std::result::Result<&artifact::Artifact, String>,
    margin: f64,
) -> Promotion {
    let candidate = report.selected_score().map_or(f64::INFINITY, |s| s.mase);
    let promote = |reason: String, version, mase| Promotion {
        promoted: true,
        candidate_mase: candidate,
        active_version: version,
        active_mase: mase,
        margin,
        reason,
    };
    let active = match active {
        Ok(a) => a,
        Err(why) => return promote(why, None, None),
    };
    let version = Some(active.manifest.version.clone());
    let active_mase = match score_on(series, &active.state.spec, report, cfg) {
        Ok(s) => s.mase,
        Err(e) => return promote(format!("active spec fails on the new data: {e}"), version, None),
    };
    if candidate <= active_mase * (1.0 + margin) {
        promote(
            format!("MASE {candidate:.4} is within {margin} of the active {active_mase:.4}"),
            version,
            Some(active_mase),
        )
    } else {
        Promotion {
            promoted: false,
            candidate_mase: candidate,
            active_version: version,
            active_mase: Some(active_mase),
            margin,
            reason: format!("MASE {candidate:.4} is worse than the active {active_mase:.4} by more than {margin}"),
        }
    }
}

/// A trained version before it is written: what `scale train` stores, and what `scale
/// evaluate` serves from memory.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The backtest that selected the family.
    pub report: BacktestReport,
    /// The manifest without version, file names or checksums (set when written).
    pub manifest: Manifest,
    /// The serving state.
    pub state: State,
    /// The MLP's weights, for families that have them.
    pub weights: Option<Vec<u8>>,
}

impl Candidate {
    /// The candidate as a loaded artifact, without writing it.
    pub fn in_memory(self, version: &str) -> artifact::Artifact {
        let mut manifest = self.manifest;
        manifest.version = version.to_string();
        artifact::Artifact {
            dir: PathBuf::from(format!("<in-memory {}/{version}>", manifest.service)),
            manifest,
            state: self.state,
            weights: self.weights,
        }
    }
}

/// Fits the family `report` selected on the last `cfg.max_train` points and captures its
/// serving state.
pub fn candidate_from(
    series: &Series,
    cfg: &BacktestConfig,
    report: BacktestReport,
    capacity: Option<crate::capacity::fit::TrainedCapacity>,
) -> Result<Candidate> {
    let chosen = report
        .selected_score()
        .ok_or_else(|| crate::Error::Invalid(format!("series {:?}: no model was selected", series.name)))?
        .spec
        .clone();
    // Fit once on the full window to freeze searched forms (e.g. the ETS type) into the artifact.
    let window_start = series.len().saturating_sub(cfg.max_train);
    let history = series.values[window_start..].to_vec();
    let fitted = chosen.fit(&history)?;
    let frozen = fitted.frozen_spec();
    let weights = fitted.weights();
    let conformal = report.selected_score().and_then(|s| s.conformal);
    let manifest = Manifest {
        schema_version: artifact::SCHEMA_VERSION,
        service: series.name.clone(),
        version: String::new(),
        family: frozen.name().into(),
        params: frozen.clone(),
        created_at: chrono::Utc::now().to_rfc3339(),
        data_window: DataWindow {
            start: series.start,
            end: series.end(),
            step: series.step,
            points: series.len(),
        },
        data_fingerprint: series.fingerprint(),
        backtest: report.clone(),
        state_file: String::new(),
        state_sha256: String::new(),
        manifest_sha256: None,
        promotion: None,
    };
    let state = State {
        spec: frozen,
        step: series.step,
        history_start: series.time_at(window_start),
        history,
        conformal,
        weights: None,
        capacity,
        online: fitted.online(),
    };
    Ok(Candidate {
        report,
        manifest,
        state,
        weights,
    })
}

/// Backtests, selects, writes a version and promotes it if it is not worse than the active one.
pub fn train_series(series: &Series, cfg: &BacktestConfig, models_dir: &Path, retention: Retention) -> Result<Trained> {
    train_with_capacity(series, cfg, models_dir, retention, None)
}

/// [`train_series`], storing a fitted capacity model in the artifact.
pub fn train_with_capacity(
    series: &Series,
    cfg: &BacktestConfig,
    models_dir: &Path,
    retention: Retention,
    capacity: Option<crate::capacity::fit::TrainedCapacity>,
) -> Result<Trained> {
    let report = backtest(series, cfg)?;
    let promotion = decide_promotion(series, cfg, &report, models_dir, retention.promotion_margin);
    let Candidate {
        report,
        mut manifest,
        state,
        weights,
    } = candidate_from(series, cfg, report, capacity)?;
    manifest.promotion = Some(promotion.clone());
    let dir = artifact::write_version(
        models_dir,
        &series.name,
        manifest,
        &state,
        weights.as_deref(),
        promotion.promoted,
    )?;
    if promotion.promoted {
        tracing::info!(service = %series.name, dir = %dir.display(), "promoted: {}", promotion.reason);
    } else {
        tracing::warn!(
            service = %series.name,
            candidate_mase = promotion.candidate_mase,
            active_mase = promotion.active_mase,
            active = ?promotion.active_version,
            "rejected, last good version stays active: {}",
            promotion.reason
        );
    }
    let pruned = artifact::prune(models_dir, &series.name, retention.keep_versions)?;
    Ok(Trained {
        service: series.name.clone(),
        report,
        dir,
        promotion,
        pruned,
    })
}

/// The source's cleaned series and a name for it in messages.
fn load_source(source: &job::Source) -> Result<(crate::observe::LoadedSeries, String)> {
    match source {
        job::Source::File { path, max_gap_fill } => {
            let policy = GapPolicy {
                max_gap_fill: *max_gap_fill,
            };
            Ok((load_series(path, policy)?, path.display().to_string()))
        }
        job::Source::Prometheus(p) => {
            let client = p.client()?;
            let window = p.window(chrono::Utc::now().timestamp())?;
            let policy = GapPolicy {
                max_gap_fill: p.max_gap_fill,
            };
            // `scale train` is synchronous; one small runtime serves the queries.
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| crate::Error::Task(format!("cannot start the async runtime: {e}")))?;
            let loaded = rt.block_on(crate::observe::prometheus::load_services(
                &client, &p.queries, window, policy,
            ))?;
            Ok((loaded, p.url.clone()))
        }
    }
}

/// Runs a job spec: load the source, train each selected service, with a progress bar.
pub fn run_job(spec: &job::JobSpec) -> Result<Vec<Trained>> {
    // Before loading anything: a second run on the same directory fails fast.
    let _lock = artifact::lock_models_dir(&spec.models_dir)?;
    let (loaded, origin) = load_source(&spec.source)?;
    let selected: Vec<_> = loaded
        .iter()
        .filter(|c| spec.services.is_empty() || spec.services.contains(&c.series.name))
        .collect();
    if selected.is_empty() {
        return Err(crate::Error::config(
            "services",
            format!("none of {:?} is in {origin}", spec.services),
        ));
    }
    // Spans are read and fitted before any artifact is written, so a bad span file changes nothing.
    let mut capacities = match &spec.capacity {
        Some(c) => capacity::fit_services(c, &selected.iter().map(|s| s.series.name.as_str()).collect::<Vec<_>>())?,
        None => Default::default(),
    };
    let bar = indicatif::ProgressBar::new(selected.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} training [{bar:30}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut out = Vec::new();
    for cleaned in selected {
        let s = &cleaned.series;
        bar.set_message(s.name.clone());
        for issue in &cleaned.issues {
            tracing::warn!(service = %s.name, line = issue.line, kind = ?issue.kind, "{}", issue.detail);
        }
        let mut cfg = BacktestConfig::new(((spec.horizon_seconds() + s.step - 1) / s.step) as usize);
        cfg.folds = spec.backtest.folds;
        cfg.families = spec.backtest.families.clone();
        cfg.max_train = (spec.history_seconds() / s.step).max(8) as usize;
        let retention = Retention {
            promotion_margin: spec.promotion_margin,
            keep_versions: spec.keep_versions,
        };
        out.push(
            train_with_capacity(s, &cfg, &spec.models_dir, retention, capacities.remove(&s.name))
                .map_err(|e| e.in_file(Path::new(&origin)))?,
        );
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::backtest::Family;

    fn seasonal(n: usize) -> Series {
        let y = (0..n)
            .map(|t| 100.0 + 30.0 * ((t % 24) as f64 - 12.0).abs() + ((t * 13) % 7) as f64)
            .collect();
        Series::new("svc", 0, 3600, y)
    }

    #[test]
    fn worse_model_is_rejected_and_last_good_stays_active() {
        let d = tempfile::tempdir().unwrap();
        let s = seasonal(24 * 21);
        let good = BacktestConfig::new(24);
        let t1 = train_series(&s, &good, d.path(), Retention::default()).unwrap();
        assert!(t1.promotion.promoted);
        // only the non-seasonal family: much worse on a daily cycle
        let mut worse = BacktestConfig::new(24);
        worse.families = vec![Family::Ets];
        let t2 = train_series(&s, &worse, d.path(), Retention::default()).unwrap();
        assert!(!t2.promotion.promoted, "{:?}", t2.promotion);
        assert!(t2.promotion.candidate_mase > t2.promotion.active_mase.unwrap());
        assert_eq!(artifact::active_version(d.path(), "svc").unwrap().unwrap(), "v0001");
        assert_eq!(
            artifact::load_active(d.path(), "svc").unwrap().manifest.family,
            t1.report.selected
        );
        // the rejected version is kept for inspection, with the decision in its manifest
        let rejected = artifact::load(&d.path().join("svc/v0002")).unwrap();
        assert!(!rejected.manifest.promotion.unwrap().promoted);
        // an equal or better one is promoted
        let t3 = train_series(&s, &good, d.path(), Retention::default()).unwrap();
        assert!(t3.promotion.promoted);
        assert_eq!(artifact::active_version(d.path(), "svc").unwrap().unwrap(), "v0003");
    }

    /// Each family's artifact stores a serving state that forecasts what refitting the stored
    /// spec on the stored history forecasts.
    #[test]
    fn artifact_stores_a_serving_state_equal_to_the_refit() {
        let s = seasonal(24 * 21);
        for family in [Family::SeasonalNaive, Family::Ets, Family::Mstl, Family::Linear] {
            let d = tempfile::tempdir().unwrap();
            let mut cfg = BacktestConfig::new(24);
            cfg.families = vec![family];
            train_series(&s, &cfg, d.path(), Retention::default()).unwrap();
            let a = artifact::load_active(d.path(), "svc").unwrap();
            let online = a
                .state
                .online
                .clone()
                .unwrap_or_else(|| panic!("{family:?}: no serving state"));
            let refit = a.forecast(&a.state.history, 48).unwrap();
            let served = a.state.calibrate(online.predict(48).unwrap());
            for (i, (x, y)) in served.point.iter().zip(&refit.point).enumerate() {
                assert!(
                    (x - y).abs() <= 1e-6 * y.abs().max(1.0),
                    "{family:?} step {i}: {x} vs {y}"
                );
            }
            for (x, y) in served.upper_95.iter().zip(&refit.upper_95) {
                assert!((x - y).abs() <= 1e-6 * y.abs().max(1.0), "{family:?}: {x} vs {y}");
            }
        }
    }

    #[test]
    fn keeps_n_versions_and_never_the_active_one() {
        let d = tempfile::tempdir().unwrap();
        let s = seasonal(24 * 14);
        let cfg = BacktestConfig::new(12);
        let keep = Retention {
            promotion_margin: 0.05,
            keep_versions: 2,
        };
        for _ in 0..4 {
            train_series(&s, &cfg, d.path(), keep).unwrap();
        }
        assert_eq!(artifact::versions(d.path(), "svc").unwrap(), ["v0003", "v0004"]);
    }

    #[test]
    fn crash_between_write_and_rename_leaves_the_old_version_loadable() {
        let d = tempfile::tempdir().unwrap();
        let s = seasonal(24 * 14);
        train_series(&s, &BacktestConfig::new(12), d.path(), Retention::default()).unwrap();
        // what a crash mid-write leaves: a temporary directory with a partial manifest
        let tmp = d.path().join("svc/.tmp-v0002-999");
        std::fs::create_dir_all(&tmp).unwrap();
        std::fs::write(tmp.join("manifest.json"), "{\"schema_version\": 1, \"serv").unwrap();
        assert_eq!(artifact::versions(d.path(), "svc").unwrap(), ["v0001"]);
        let a = artifact::load_active(d.path(), "svc").unwrap();
        assert_eq!(a.manifest.version, "v0001");
        assert_eq!(a.forecast(&[], 6).unwrap().len(), 6);
        // and the next write still succeeds
        let t = train_series(&s, &BacktestConfig::new(12), d.path(), Retention::default()).unwrap();
        assert!(t.dir.ends_with("svc/v0002"));
    }
}
