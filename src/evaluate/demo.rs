//! `scale demo`: the embedded default. Synthetic services plus the bundled SF traffic
//! series, trained and replayed end to end with no network and no external files.

use crate::core::series::GapPolicy;
use crate::evaluate::report::EvalReport;
use crate::evaluate::{EvalOptions, evaluate_all, write_outputs};
use crate::observe::load_series;
use crate::sim::synth::{SynthSpec, generate, to_long_csv};
use crate::train::backtest::BacktestConfig;
use crate::train::train_series;
use crate::{Error, Result};
use std::path::Path;

/// The bundled series (CC BY 4.0, see datasets/PROVENANCE.md), compiled in so the demo
/// runs from any directory.
pub const SF_TRAFFIC_CSV: &str = include_str!("../../datasets/hourly_sf_traffic.csv");

#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub synth: SynthSpec,
    /// Days of the SF traffic series to use (its last days; 0 leaves it out).
    pub sf_days: usize,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            synth: SynthSpec::default(),
            sf_days: 70,
        }
    }
}

/// Writes the demo data as one long-format CSV (services may differ in step).
fn demo_data(opts: &DemoOptions) -> String {
    let mut csv = to_long_csv(&generate(&opts.synth));
    if opts.sf_days > 0 {
        let rows: Vec<&str> = SF_TRAFFIC_CSV
            .lines()
            .skip(1)
            .filter(|l| !l.trim().is_empty())
            .collect();
        for row in &rows[rows.len().saturating_sub(opts.sf_days * 24)..] {
            csv.push_str("sf-traffic,");
            csv.push_str(row);
            csv.push('\n');
        }
    }
    csv
}

/// Runs the demo into `out`: data, trained models, report. Returns the report.
pub fn run(out: &Path, opts: &DemoOptions) -> Result<EvalReport> {
    let data_dir = out.join("data");
    std::fs::create_dir_all(&data_dir).map_err(|e| Error::io(&data_dir, e))?;
    let data = data_dir.join("demand.csv");
    std::fs::write(&data, demo_data(opts)).map_err(|e| Error::io(&data, e))?;
    let loaded = load_series(&data, GapPolicy::default())?;
    let models = out.join("models");
    for c in &loaded {
        let s = &c.series;
        let cfg = BacktestConfig::new((3600 / s.step).max(1) as usize);
        let t = train_series(s, &cfg, &models, crate::train::Retention::default())?;
        tracing::info!(service = %t.service, selected = %t.report.selected, dir = %t.dir.display(), "trained");
    }
    let eval = EvalOptions {
        frontier: true,
        ..EvalOptions::default()
    };
    let (report, timelines) = evaluate_all(&data, &loaded, &eval)?;
    write_outputs(out, &report, &timelines)?;
    Ok(report)
}
