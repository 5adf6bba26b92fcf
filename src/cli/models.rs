//! `scale models list|show` (docs/training.md).

use crate::core::time::format_timestamp;
use crate::train::artifact::{services, version_entries};
use crate::{Error, Result};
use std::path::{Path, PathBuf};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Every service: versions, selected family, backtest MASE, which is active.
    List {
        #[arg(long, default_value = "models")]
        models: PathBuf,
    },
    /// One service: each version's manifest summary and promotion decision.
    Show {
        service: String,
        #[arg(long, default_value = "models")]
        models: PathBuf,
    },
}

pub fn run(c: Command) -> Result<()> {
    match c {
        Command::List { models } => list(&models),
        Command::Show { service, models } => show(&models, &service),
    }
}

fn list(models: &Path) -> Result<()> {
    println!(
        "{:<24} {:<8} {:<15} {:>8} {:<6}",
        "service", "version", "family", "mase", "active"
    );
    for svc in services(models)? {
        for e in version_entries(models, &svc)? {
            let (v, mark) = (&e.version, if e.active { "*" } else { "" });
            match &e.artifact {
                Ok(a) => {
                    let mase = a.manifest.backtest.selected_score().map_or(f64::NAN, |s| s.mase);
                    println!("{svc:<24} {v:<8} {:<15} {mase:>8.3} {mark:<6}", a.manifest.family);
                }
                Err(e) => println!("{svc:<24} {v:<8} {:<15} {:>8} {mark:<6} ({e})", "unloadable", "-"),
            }
        }
    }
    Ok(())
}

fn show(models: &Path, service: &str) -> Result<()> {
    let entries = version_entries(models, service)?;
    if entries.is_empty() {
        return Err(Error::artifact(models.join(service), "no model versions"));
    }
    for e in entries {
        let active_mark = if e.active { " (active)" } else { "" };
        println!("{service} {}{active_mark}", e.version);
        match &e.artifact {
            Ok(a) => {
                let m = &a.manifest;
                println!("  created   {}", m.created_at);
                println!("  params    {}", serde_json::to_string(&m.params).unwrap_or_default());
                println!(
                    "  data      {} .. {} ({} points, step {}s) {}",
                    format_timestamp(m.data_window.start),
                    format_timestamp(m.data_window.end),
                    m.data_window.points,
                    m.data_window.step,
                    m.data_fingerprint
                );
                for s in &m.backtest.models {
                    let sel = if s.name == m.backtest.selected { "*" } else { " " };
                    println!(
                        "  {sel} {:<15} mase {:>7.3} smape {:>7.2} cov80 {:.2} cov95 {:.2}",
                        s.name, s.mase, s.smape, s.coverage_80, s.coverage_95
                    );
                }
                if let Some(c) = &a.state.capacity {
                    let at = c
                        .load_per_replica_at_slo
                        .map_or("SLO missed at every observed load".to_string(), |l| {
                            format!("{l:.4} req/s per replica")
                        });
                    println!(
                        "  capacity  {at} at p95 <= {}s ({} by {}, from {})",
                        c.slo_seconds,
                        c.model.observations,
                        if c.model.queue.is_some() { "M/M/c" } else { "isotonic" },
                        c.source
                    );
                }
                if let Some(p) = &m.promotion {
                    println!(
                        "  promotion {}: {}",
                        if p.promoted { "promoted" } else { "rejected" },
                        p.reason
                    );
                }
            }
            Err(e) => println!("  unloadable: {e}"),
        }
    }
    Ok(())
}
