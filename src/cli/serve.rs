//! `scale serve` (docs/serve.md).

use super::duration_secs;
use crate::core::time::SystemClock;
use crate::serve::config::{LeaderElection, ModeName, ServeConfig};
use crate::serve::{ActuateOptions, RunOptions, run_with, shutdown_signal};
use crate::{Error, Result};
use std::path::PathBuf;

/// `--mode` values, spelled as in the file's `defaults.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ModeArg {
    Off,
    ForecastOnly,
    Auto,
}

impl From<ModeArg> for ModeName {
    fn from(m: ModeArg) -> Self {
        match m {
            ModeArg::Off => ModeName::Off,
            ModeArg::ForecastOnly => ModeName::ForecastOnly,
            ModeArg::Auto => ModeName::Auto,
        }
    }
}

#[derive(clap::Args)]
pub struct Args {
    /// The serve TOML file.
    #[arg(long)]
    config: PathBuf,
    /// Overrides `defaults.mode` in the file.
    #[arg(long, value_enum)]
    mode: Option<ModeArg>,
    /// Run one tick per service and exit.
    #[arg(long, conflicts_with = "ticks")]
    once: bool,
    /// Run N ticks per service and exit.
    #[arg(long)]
    ticks: Option<u64>,
    /// Leader election with a Kubernetes Lease: only the leader actuates; others forecast.
    #[arg(long)]
    leader_elect: bool,
    #[arg(long)]
    lease_name: Option<String>,
    #[arg(long)]
    lease_namespace: Option<String>,
    #[arg(long)]
    lease_identity: Option<String>,
    #[arg(long)]
    lease_duration: Option<String>,
    #[arg(long)]
    renew_deadline: Option<String>,
    #[arg(long)]
    retry_period: Option<String>,
}

pub fn run(a: Args) -> Result<()> {
    let lease = LeaderElection {
        enabled: a.leader_elect,
        lease_name: a.lease_name,
        lease_namespace: a.lease_namespace,
        identity: a.lease_identity,
        lease_duration: duration_secs("--lease-duration", a.lease_duration)?,
        renew_deadline: duration_secs("--renew-deadline", a.renew_deadline)?,
        retry_period: duration_secs("--retry-period", a.retry_period)?,
    };
    lease.validate()?;
    if a.ticks == Some(0) {
        return Err(Error::config("--ticks", "must be at least 1"));
    }
    let cfg = ServeConfig::load(&a.config)?;
    let opts = RunOptions {
        mode: a.mode.map(|m| ModeName::from(m).into()),
        ticks: if a.once { Some(1) } else { a.ticks },
        clock: std::sync::Arc::new(SystemClock),
    };
    let rt = tokio::runtime::Runtime::new().map_err(|e| Error::io("tokio runtime", e))?;
    let act = ActuateOptions {
        kube: None,
        leader: lease,
    };
    rt.block_on(run_with(cfg, opts, act, shutdown_signal()))
}
