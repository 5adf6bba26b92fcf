//! Fit+predict cost per series for each model family, and one backtest.
//!
//! Run with `cargo bench --profile dev --bench forecast` (see docs/benchmarks.md for why
//! the dev profile). Benchmark ids are `fit_predict/<dataset>/<family>` and
//! `backtest/sf_traffic_4w`.

use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use scale::core::series::{GapPolicy, Series};
use scale::forecast::ModelSpec;
use scale::sim::synth::{SynthSpec, generate};
use scale::train::backtest::{BacktestConfig, backtest};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One benchmarked series: the last `len` points of a source, its seasonal periods
/// (daily first, then weekly) and the horizon a scaler would forecast.
struct Dataset {
    name: &'static str,
    series: Series,
    periods: Vec<usize>,
    horizon: usize,
}

fn crate_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// The last `n` points of the first series in `path`.
fn load_tail(path: &Path, n: usize) -> Series {
    let loaded = scale::observe::load_series(path, GapPolicy::default())
        .unwrap_or_else(|e| panic!("loading {}: {e}", path.display()));
    let s = &loaded
        .first()
        .unwrap_or_else(|| panic!("{} holds no series", path.display()))
        .series;
    assert!(s.len() >= n, "{} has {} points, need {n}", path.display(), s.len());
    s.slice(s.len() - n, s.len())
}

/// Hourly SF traffic, last 4 weeks.
fn sf_traffic() -> Dataset {
    Dataset {
        name: "sf_traffic_4w",
        series: load_tail(&crate_path("datasets/hourly_sf_traffic.csv"), 4 * 168),
        periods: vec![24, 168],
        horizon: 24,
    }
}

fn datasets() -> Vec<Dataset> {
    let mut out = vec![sf_traffic()];

    // Seeded synthetic 5-minute demand, 14 days.
    let synth = generate(&SynthSpec {
        services: 1,
        days: 14,
        ..Default::default()
    })
    .remove(0);
    assert_eq!(synth.len(), 4032);
    out.push(Dataset {
        name: "synth_5m_14d",
        series: synth,
        periods: vec![288, 2016],
        horizon: 12,
    });

    // NAB NYC taxi at 30 minutes, last 4 weeks, when the shared datasets are checked out.
    let taxi = crate_path("../shared/datasets/nab/realKnownCause/nyc_taxi.csv");
    if taxi.exists() {
        out.push(Dataset {
            name: "nyc_taxi_4w",
            series: load_tail(&taxi, 4 * 336),
            periods: vec![48, 336],
            horizon: 48,
        });
    } else {
        eprintln!(
            "note: {} not found; skipping the nyc_taxi_4w benchmarks",
            taxi.display()
        );
    }
    out
}

fn specs(d: &Dataset) -> Vec<ModelSpec> {
    vec![
        ModelSpec::SeasonalNaive { period: d.periods[0] },
        ModelSpec::Ets {
            spec: scale::train::backtest::ETS_SEARCH.into(),
            damped: None,
            window: Some(scale::forecast::ets::FIT_WINDOW),
        },
        ModelSpec::Mstl {
            periods: d.periods.clone(),
            trend_spec: scale::train::backtest::ETS_SEARCH.into(),
            trend_window: Some(scale::forecast::ets::FIT_WINDOW),
        },
    ]
}

fn fit_predict(c: &mut Criterion) {
    for d in datasets() {
        let y = &d.series.values;
        let mut group = c.benchmark_group(format!("fit_predict/{}", d.name));
        group
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3));
        for spec in specs(&d) {
            // Fail soft: a family that cannot fit this series is reported, not benchmarked.
            if let Err(e) = spec.fit(y).and_then(|m| m.predict(d.horizon)) {
                eprintln!("note: {} on {} failed, not benchmarked: {e}", spec.name(), d.name);
                continue;
            }
            if matches!(spec, ModelSpec::SeasonalNaive { .. }) {
                group.sampling_mode(SamplingMode::Auto).sample_size(100);
            } else {
                // Milliseconds or more per iteration: few samples, same count each.
                group.sampling_mode(SamplingMode::Flat).sample_size(10);
            }
            group.bench_function(spec.name(), |b| {
                b.iter(|| black_box(spec.fit(black_box(y)).unwrap().predict(d.horizon).unwrap()))
            });
        }
        group.finish();
    }
}

fn backtest_one(c: &mut Criterion) {
    let d = sf_traffic();
    let cfg = BacktestConfig::new(d.horizon);
    let mut group = c.benchmark_group("backtest");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10);
    group.bench_function(d.name, |b| {
        b.iter(|| black_box(backtest(black_box(&d.series), &cfg).unwrap()))
    });
    group.finish();
}

criterion_group!(benches, fit_predict, backtest_one);
criterion_main!(benches);
