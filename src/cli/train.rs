//! `scale train` (docs/training.md).

use crate::Result;
use crate::train::job::JobSpec;
use crate::train::run_job;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    config: PathBuf,
}

pub fn run(a: Args) -> Result<()> {
    let spec = JobSpec::load(&a.config)?;
    for t in run_job(&spec)? {
        let p = &t.promotion;
        println!(
            "{}: {} mase {:.3} → {} ({}: {})",
            t.service,
            t.report.selected,
            p.candidate_mase,
            t.dir.display(),
            if p.promoted {
                "promoted"
            } else {
                "rejected, last good version stays active"
            },
            p.reason
        );
    }
    Ok(())
}
