//! `scale sample` (docs/sample.md).

use crate::Result;
use crate::sample::csv::{DurationUnit, SampleOptions, run as run_sample};
use crate::sample::hst::{HstParams, SplitWeight};
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
}

impl From<Split> for SplitWeight {
    fn from(s: Split) -> Self {
        match s {
            Split::Dimension => SplitWeight::Dimension,
            Split::Group => SplitWeight::Group,
        }
    }
}

/// `scale sample` flags; defaults are [`SamplerConfig::default`]'s.
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
    #[arg(long, default_value_t = 10)]
    n_trees: usize,
    #[arg(long, default_value_t = 8)]
    height: usize,
    #[arg(long, default_value_t = 250)]
    window_size: usize,
    /// Sample spans scoring at least this (0 ordinary … 1 anomalous).
    #[arg(long, default_value_t = 0.9)]
    min_score: f64,
    /// Durations at or above this many seconds map to the top of the feature range.
    #[arg(long, default_value_t = 1.0)]
    max_duration: f64,
    /// Duration feature: `log` (default) or the seed's `linear` (d / max-duration).
    #[arg(long, value_enum, default_value_t = Scale::Log)]
    duration_scale: Scale,
    /// Spans seen before any is scored or sampled.
    #[arg(long, default_value_t = 1000)]
    train_size: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// How splits weigh one-hot dimensions: River's `dimension` (default) or `group`.
    #[arg(long, value_enum, default_value_t = Split::Dimension)]
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
    let opts = SampleOptions {
        duration_unit: DurationUnit::parse(&a.duration_unit)?,
        sampler: SamplerConfig {
            hst: HstParams {
                n_trees: a.n_trees,
                height: a.height,
                window_size: a.window_size,
                seed: a.seed,
                split_weight: a.split_weight.into(),
            },
            min_score: a.min_score,
            max_duration: a.max_duration,
            duration_scale: a.duration_scale.into(),
            train_size: a.train_size,
            max_services: a.max_services,
            max_operations: a.max_operations,
            normalize_operations: !a.raw_operations,
        },
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
