//! `scale bench serve` (docs/benchmarks.md).

use crate::Result;
use crate::serve::bench::{BenchOptions, parse_families, run as run_bench};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Time serve ticks (fetch → forecast → plan → govern → publish) for many services on one
    /// core and report the peak RSS; prints JSON.
    Serve {
        #[arg(long, default_value_t = 10_000)]
        services: usize,
        #[arg(long, default_value_t = 3)]
        ticks: usize,
        /// Trained artifacts the services share (hard-linked copies).
        #[arg(long, default_value_t = 4)]
        templates: usize,
        /// Days of 5-minute synthetic data each template is trained on.
        #[arg(long, default_value_t = 14)]
        days: usize,
        /// Families training may select, comma-separated (default: the training default).
        #[arg(long, default_value = "seasonal_naive,ets,mstl,linear")]
        families: String,
    },
}

pub fn run(c: Command) -> Result<()> {
    let Command::Serve {
        services,
        ticks,
        templates,
        days,
        families,
    } = c;
    let report = run_bench(&BenchOptions {
        services,
        ticks,
        templates,
        days,
        families: parse_families(&families)?,
    })?;
    println!("{}", super::to_json(&report)?);
    Ok(())
}
