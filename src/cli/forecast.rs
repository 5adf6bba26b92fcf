//! `scale forecast` (docs/training.md).

use crate::Result;
use crate::core::time::parse_duration;
use crate::train::artifact::load_active;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value = "models")]
    models: PathBuf,
    #[arg(long)]
    service: String,
    /// How far ahead, e.g. 1h.
    #[arg(long, default_value = "1h")]
    horizon: String,
}

pub fn run(a: Args) -> Result<()> {
    let art = load_active(&a.models, &a.service)?;
    let (start, f) = art.forecast_ahead(parse_duration("--horizon", &a.horizon)?)?;
    let out = serde_json::json!({
        "service": a.service,
        "version": art.manifest.version,
        "family": art.manifest.family,
        "start": start,
        "step": art.state.step,
        "forecast": f,
    });
    println!("{out}");
    Ok(())
}
