//! `scale demo`: the embedded default (docs: README).

use crate::Result;
use crate::evaluate::demo::{DemoOptions, run as run_demo};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value = "scale-demo")]
    output: PathBuf,
    /// Days of synthetic history per service.
    #[arg(long, default_value_t = 21)]
    days: usize,
    /// Number of synthetic services.
    #[arg(long, default_value_t = 4)]
    services: usize,
}

pub fn run(a: Args) -> Result<()> {
    let mut opts = DemoOptions::default();
    opts.synth.days = a.days;
    opts.synth.services = a.services;
    let report = run_demo(&a.output, &opts)?;
    super::evaluate::print_summary(&report);
    println!("\nreport: {}", a.output.join("report.html").display());
    println!("models: {}", a.output.join("models").display());
    Ok(())
}
