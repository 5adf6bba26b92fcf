//! `scale sample` (docs/sample.md).

use crate::Result;
use crate::sample::csv::{DurationUnit, Model, SampleOptions, run as run_sample};
use crate::sample::hst::{HstParams, SplitWeight};
use crate::sample::seed::SeedConfig;
use crate::sample::{DurationScale, SamplerConfig};
use std::path::PathBuf;

/// `--duration-scale` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Scale {
    Linear,
    Log,
    OpLog,
}

impl From<Scale> for DurationScale {
    fn from(s: Scale) -> Self {
        match s {
            Scale::Linear => DurationScale::Linear,
            Scale::Log => DurationScale::Log,
            Scale::OpLog => DurationScale::OpLog,
        }
    }
}

/// `--split-weight` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Split {
    /// River's rule: every dimension by its range width, so a group of k categories weighs k.
    Dimension,
    /// A one-hot group weighs 1 in total (it is one categorical variable), shared by its
    /// dimensions still open on the path; the continuous feature weighs its range width.
    Group,
    /// Only the duration is split (the default: with `op-log` the operation is in the value).
    Duration,
}

impl From<Split> for SplitWeight {
    fn from(s: Split) -> Self {
        match s {
            Split::Dimension => SplitWeight::Dimension,
            Split::Group => SplitWeight::Group,
            Split::Duration => SplitWeight::Duration,
        }
    }
}

/// `scale sample` flags. Forest flags left out take the mode's defaults: SCALE's
/// ([`SamplerConfig::default`]) or, with `--seed-compat`, the seed's ([`SeedConfig::default`]).
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Span CSV (plain or xz-compressed).
    #[arg(long)]
    input: PathBuf,
    /// Where to write the input columns plus `score` and `sampled`.
    #[arg(long)]
    output: PathBuf,
    /// Unit of the `Duration` column.
    #[arg(long, default_value = "us")]
    duration_unit: String,
    /// Reproduce River's HalfSpaceTrees as the seed ran it (docs/sample.md): 16 trees, height 8,
    /// window 175, min-score 0.6, max-duration 10 s; learns the first --train-size spans only.
    #[arg(long)]
    seed_compat: bool,
    /// Trees (default 10; seed-compat 16).
    #[arg(long)]
    n_trees: Option<usize>,
    /// Tree depth (default 8).
    #[arg(long)]
    height: Option<usize>,
    /// Spans per window (default 250; seed-compat 175).
    #[arg(long)]
    window_size: Option<usize>,
    /// Sample spans scoring at least this (default 0.994; seed-compat 0.6).
    #[arg(long)]
    min_score: Option<f64>,
    /// Seconds: the top of the `log`/`linear` feature (default 1), or seed-compat's duration
    /// limit (default 10).
    #[arg(long)]
    max_duration: Option<f64>,
    /// Duration feature: `op-log` (default), `log` or the seed's `linear`.
    #[arg(long, value_enum, default_value_t = Scale::OpLog)]
    duration_scale: Scale,
    /// Spans learned before any is sampled (default 250, one window; seed-compat 1000, learned,
    /// then only scoring).
    #[arg(long)]
    train_size: Option<usize>,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Which features the splits use: `duration` (default), `group` or River's `dimension`.
    #[arg(long, value_enum, default_value_t = Split::Duration)]
    split_weight: Split,
    #[arg(long, default_value_t = 256)]
    max_services: usize,
    #[arg(long, default_value_t = 1024)]
    max_operations: usize,
    /// Keep operation names as they are (no query-string/id normalisation).
    #[arg(long)]
    raw_operations: bool,
    /// Also write the run's summary as JSON here: `spans`, `sampled`, `scoring_seconds` and
    /// `us_per_span` (the scoring loop alone, reading/parsing/writing excluded).
    #[arg(long)]
    stats: Option<PathBuf>,
}

pub fn run(a: Args) -> Result<()> {
    let model = if a.seed_compat {
        let d = SeedConfig::default();
        Model::Seed(SeedConfig {
            n_trees: a.n_trees.unwrap_or(d.n_trees),
            height: a.height.unwrap_or(d.height),
            window_size: a.window_size.unwrap_or(d.window_size),
            min_score: a.min_score.unwrap_or(d.min_score),
            max_duration: a.max_duration.unwrap_or(d.max_duration),
            train_size: a.train_size.unwrap_or(d.train_size),
            seed: a.seed,
        })
    } else {
        let d = SamplerConfig::default();
        Model::Scale(SamplerConfig {
            hst: HstParams {
                n_trees: a.n_trees.unwrap_or(d.hst.n_trees),
                height: a.height.unwrap_or(d.hst.height),
                window_size: a.window_size.unwrap_or(d.hst.window_size),
                seed: a.seed,
                split_weight: a.split_weight.into(),
            },
            min_score: a.min_score.unwrap_or(d.min_score),
            max_duration: a.max_duration.unwrap_or(d.max_duration),
            duration_scale: a.duration_scale.into(),
            train_size: a.train_size.unwrap_or(d.train_size),
            max_services: a.max_services,
            max_operations: a.max_operations,
            normalize_operations: !a.raw_operations,
        })
    };
    let opts = SampleOptions {
        duration_unit: DurationUnit::parse(&a.duration_unit)?,
        model,
        input: a.input,
        output: a.output,
        stats: a.stats,
    };
    let s = run_sample(&opts)?;
    eprintln!(
        "scored {} spans, sampled {}; scoring took {:.3} ms ({:.3} µs/span, excluding I/O)",
        s.spans,
        s.sampled,
        s.scoring_seconds * 1e3,
        s.scoring_seconds * 1e6 / s.spans.max(1) as f64
    );
    Ok(())
}
