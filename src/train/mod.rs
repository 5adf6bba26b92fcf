//! Train: backtest candidate families per service, select by MASE, write artifacts.

pub mod artifact;
pub mod backtest;
pub mod job;

use crate::Result;
use crate::observe::load_series;
use crate::series::{GapPolicy, Series};
use artifact::{DataWindow, Manifest, State};
use backtest::{BacktestConfig, BacktestReport, backtest};
use std::path::{Path, PathBuf};

/// What training one service produced.
#[derive(Debug, Clone)]
pub struct Trained {
    pub service: String,
    pub report: BacktestReport,
    pub dir: PathBuf,
}

/// Backtests, selects and writes an artifact for one series.
pub fn train_series(series: &Series, cfg: &BacktestConfig, models_dir: &Path) -> Result<Trained> {
    let report = backtest(series, cfg)?;
    let chosen = report.selected_score().expect("selected model is scored").spec.clone();
    // Fit once on the full window to freeze searched forms (e.g. the ETS type) into the artifact.
    let window_start = series.len().saturating_sub(cfg.max_train);
    let history = series.values[window_start..].to_vec();
    let frozen = chosen.fit(&history)?.frozen_spec();
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
    };
    let state = State {
        spec: frozen,
        step: series.step,
        history_start: series.time_at(window_start),
        history,
    };
    let dir = artifact::write(models_dir, &series.name, manifest, &state)?;
    Ok(Trained {
        service: series.name.clone(),
        report,
        dir,
    })
}

/// Runs a job spec: load the source, train each selected service.
pub fn run_job(spec: &job::JobSpec) -> Result<Vec<Trained>> {
    let job::Source::File { path, max_gap_fill } = &spec.source;
    let loaded = load_series(
        path,
        GapPolicy {
            max_gap_fill: *max_gap_fill,
        },
    )?;
    let mut out = Vec::new();
    for cleaned in loaded {
        let s = &cleaned.series;
        if !spec.services.is_empty() && !spec.services.contains(&s.name) {
            continue;
        }
        for issue in &cleaned.issues {
            tracing::warn!(service = %s.name, line = issue.line, kind = ?issue.kind, "{}", issue.detail);
        }
        let mut cfg = BacktestConfig::new(((spec.horizon_seconds() + s.step - 1) / s.step) as usize);
        cfg.folds = spec.backtest.folds;
        cfg.families = spec.backtest.families.clone();
        cfg.max_train = (spec.history_seconds() / s.step).max(8) as usize;
        out.push(train_series(s, &cfg, &spec.models_dir)?);
    }
    if out.is_empty() {
        return Err(crate::Error::config(
            "services",
            format!("none of {:?} is in {}", spec.services, path.display()),
        ));
    }
    Ok(out)
}
