//! `scale backtest` (docs/backtest.md).

use crate::core::time::parse_duration;
use crate::train::backtest::backtest_file;
use crate::{Error, Result};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    input: PathBuf,
    /// Forecast horizon, e.g. 1h or 1d.
    #[arg(long)]
    horizon: String,
    #[arg(long, default_value = ".")]
    output: PathBuf,
    /// Also write each series exactly as backtested (after the gap policy) to
    /// DIR/series/<name>.csv, so other tools can score the same data.
    #[arg(long)]
    write_series: bool,
}

pub fn run(a: Args) -> Result<()> {
    let horizon = parse_duration("--horizon", &a.horizon)?;
    let run = backtest_file(&a.input, horizon)?;
    for (s, r) in &run.series {
        println!(
            "{}: selected {} (horizon {} steps)",
            s.name, r.selected, r.horizon_steps
        );
        for m in &r.models {
            println!(
                "  {:<15} mase {:>7.3}  smape {:>7.2}  cov80 {:>5.2}  cov95 {:>5.2}  {:>8.2} ms",
                m.name, m.mase, m.smape, m.coverage_80, m.coverage_95, m.fit_predict_ms
            );
        }
        for f in &r.failed {
            println!("  {:<15} failed: {}", f.name, f.error);
        }
        if a.write_series {
            let dir = a.output.join("series");
            std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
            let path = dir.join(format!("{}.csv", s.file_stem()));
            std::fs::write(&path, s.to_csv()).map_err(|e| Error::io(&path, e))?;
        }
    }
    let doc = run.document()?;
    std::fs::create_dir_all(&a.output).map_err(|e| Error::io(&a.output, e))?;
    let path = a.output.join("backtest.json");
    std::fs::write(&path, super::to_json(&doc)?).map_err(|e| Error::io(&path, e))?;
    println!("wrote {}", path.display());
    Ok(())
}
