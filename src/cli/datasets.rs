//! `scale datasets synth` (datasets/PROVENANCE.md).

use crate::core::time::parse_duration;
use crate::sim::synth::{SynthSpec, generate, to_long_csv};
use crate::{Error, Result};
use std::path::PathBuf;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Seeded synthetic demand for N services, written as service,timestamp,value.
    Synth {
        #[arg(long, default_value_t = 4)]
        services: usize,
        #[arg(long, default_value_t = 21)]
        days: usize,
        #[arg(long, default_value = "5m")]
        step: String,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        #[arg(long)]
        output: PathBuf,
    },
}

pub fn run(c: Command) -> Result<()> {
    let Command::Synth {
        services,
        days,
        step,
        seed,
        output,
    } = c;
    let spec = SynthSpec {
        services,
        days,
        step: parse_duration("--step", &step)?,
        seed,
        ..Default::default()
    };
    let series = generate(&spec);
    std::fs::write(&output, to_long_csv(&series)).map_err(|e| Error::io(&output, e))?;
    println!(
        "wrote {} services × {} points to {}",
        series.len(),
        series.first().map_or(0, |s| s.len()),
        output.display()
    );
    Ok(())
}
