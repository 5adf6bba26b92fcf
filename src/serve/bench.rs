//! `scale bench serve`: the cost of one serve tick for many services on one core (docs/benchmarks.md).
//!
//! A few synthetic services are trained for real (backtest, family selection, artifacts); N
//! services then hard-link those artifacts and load them through the registry the loop uses.
//! Each tick runs every service's real tick (an in-memory fetch → forecast → plan → govern →
//! dry-run actuate → publish) on the calling thread, fed one new point per tick (the worst case:
//! every forecast is recomputed). The same run repeats with seasonal-naive artifacts as the
//! baseline.

use super::actuation::Actuation;
use super::config::ServeConfig;
use super::publish::Shared;
use super::registry::Reload;
use super::service::ServiceLoop;
use super::tick::{TickContext, tick};
use crate::actuate::dry_run::DryRunTarget;
use crate::core::series::Series;
use crate::core::time::ManualClock;
use crate::govern::Mode;
use crate::observe::memory::MemorySource;
use crate::train::backtest::{BacktestConfig, Family};
use crate::train::{Retention, train_series};
use crate::{Error, Result};
use serde::Serialize;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub services: usize,
    pub ticks: usize,
    /// Distinct trained templates the services share.
    pub templates: usize,
    /// Days of 5-minute data each template is trained on.
    pub days: usize,
    /// Families training may select for the measured pass (the baseline is seasonal naive).
    pub families: Vec<Family>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PassResult {
    pub name: String,
    /// Families of the templates, as training selected them.
    pub families: Vec<String>,
    pub load_seconds: f64,
    pub tick_seconds: Vec<f64>,
    pub median_tick_seconds: f64,
    pub median_us_per_service: f64,
    /// A tick with no new point (tick shorter than the data step): cached forecasts.
    pub cached_tick_seconds: f64,
    pub forecasts_computed: u64,
    /// Of a mean timed tick: time computing forecasts (serving-state update and predict, or a
    /// refit for families without a state).
    pub forecast_seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub services: usize,
    pub ticks: usize,
    pub history_points: usize,
    pub selected: PassResult,
    pub baseline: PassResult,
    /// selected median tick / baseline median tick.
    pub ratio: f64,
    /// Peak resident set (VmHWM) of the whole run, MiB.
    pub peak_rss_mib: Option<f64>,
    pub target_tick_seconds: f64,
    pub target_rss_mib: f64,
    pub meets_tick_target: bool,
    pub meets_rss_target: Option<bool>,
}

const STEP: i64 = 300;

/// VmHWM or VmRSS from /proc/self/status, in MiB (None off Linux).
pub fn proc_status_mib(key: &str) -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with(key))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    if s.is_empty() { 0.0 } else { s[s.len() / 2] }
}

/// Trains the templates on the first `days` of `series` into `models/tpl-i`; returns the families.
fn train_templates(series: &[Series], days: usize, families: &[Family], models: &Path) -> Result<Vec<String>> {
    let n = days * 86_400 / STEP as usize;
    let mut out = Vec::new();
    for (i, s) in series.iter().enumerate() {
        let mut train = s.slice(0, n.min(s.len()));
        train.name = format!("tpl-{i}");
        let mut cfg = BacktestConfig::new(12);
        cfg.families = families.to_vec();
        let t = train_series(&train, &cfg, models, Retention::default())?;
        out.push(
            t.report
                .selected_score()
                .map(|s| s.name.clone())
                .unwrap_or_else(|| "?".into()),
        );
    }
    Ok(out)
}

/// Hard-links template `i % templates` as each service's only version.
fn link_services(models: &Path, services: usize, templates: usize) -> Result<()> {
    for i in 0..services {
        let tpl = models.join(format!("tpl-{}", i % templates)).join("v0001");
        let dst = models.join(format!("svc-{i:05}")).join("v0001");
        std::fs::create_dir_all(&dst).map_err(|e| Error::io(&dst, e))?;
        for f in std::fs::read_dir(&tpl).map_err(|e| Error::io(&tpl, e))? {
            let f = f.map_err(|e| Error::io(&tpl, e))?;
            let to = dst.join(f.file_name());
            std::fs::hard_link(f.path(), &to).map_err(|e| Error::io(&to, e))?;
        }
    }
    Ok(())
}

fn config(models: &Path, services: usize, templates: usize) -> Result<ServeConfig> {
    let mut t = format!(
        "[defaults]\nmodels = {:?}\nlead = \"5m\"\nhistory = \"2h\"\n[source.prometheus]\nurl = \"http://127.0.0.1:9\"\n",
        models.display().to_string()
    );
    for i in 0..services {
        t.push_str(&format!(
            "[[service]]\nname = \"svc-{i:05}\"\nquery = \"q{}\"\ncapacity_per_replica = 20\nmin_replicas = 1\nmax_replicas = 200\n",
            i % templates
        ));
    }
    ServeConfig::parse(&t)
}

/// One pass: load N services from `models`, run the ticks, and time the forecasts alone.
fn pass(name: &str, families: Vec<String>, models: &Path, series: &[Series], o: &BenchOptions) -> Result<PassResult> {
    let cfg = config(models, o.services, o.templates)?;
    let t = Instant::now();
    let mut loops = Vec::with_capacity(o.services);
    for s in &cfg.services {
        let target = Arc::new(DryRunTarget::new(s.min_replicas, None));
        let a = Actuation::new(
            target,
            "dry-run",
            Mode::Auto,
            s.min_replicas,
            s.max_replicas,
            s.min_replicas,
        );
        let mut l = ServiceLoop::new(&cfg, s, Mode::Auto, a);
        if let Reload::Failed(m) = l.registry.poll() {
            return Err(Error::Invalid(format!("{}: {m}", s.name)));
        }
        loops.push(l);
    }
    let load_seconds = t.elapsed().as_secs_f64();
    let names: Vec<String> = cfg.services.iter().map(|s| s.name.clone()).collect();
    // Each template's series as its query's samples; the fetch reads the window ending at now.
    let source = Arc::new(MemorySource::new());
    for (i, s) in series.iter().enumerate() {
        source.set(
            &format!("q{i}"),
            (0..s.len()).map(|k| (s.time_at(k), s.values[k])).collect(),
        );
    }
    let clock = Arc::new(ManualClock::new(0));
    let ctx = TickContext {
        source,
        shared: Arc::new(Shared::new(&names)),
        clock: clock.clone(),
        history: cfg.history_seconds(),
        after: None,
        budget: cfg.tick_budget(),
    };
    // Timers: each tick's phases run under its time budget.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .map_err(|e| Error::io("tokio runtime", e))?;
    let train_end = o.days * 86_400 / STEP as usize;
    // Tick k sees one more point: the newest is at train_end + k, 30 s old.
    let newest = |k: usize| series[0].time_at(train_end + k);
    let mut ticks = Vec::with_capacity(o.ticks);
    let forecast_before: f64 = loops.iter().map(|l| l.forecaster.forecast_seconds).sum();
    for k in 0..o.ticks {
        clock.set(newest(k) + 30);
        let t = Instant::now();
        rt.block_on(async {
            for l in loops.iter_mut() {
                tick(l, &ctx).await;
            }
        });
        ticks.push(t.elapsed().as_secs_f64());
    }
    let forecast_seconds =
        (loops.iter().map(|l| l.forecaster.forecast_seconds).sum::<f64>() - forecast_before) / o.ticks as f64;
    // The last tick again, on the same fetched data: every forecast comes from the cache.
    clock.set(newest(o.ticks - 1) + 30);
    let t = Instant::now();
    rt.block_on(async {
        for l in loops.iter_mut() {
            tick(l, &ctx).await;
        }
    });
    let cached_tick_seconds = t.elapsed().as_secs_f64();
    let forecasts_computed = loops.iter().map(|l| l.forecaster.forecasts_computed).sum();
    let m = median(&ticks);
    Ok(PassResult {
        name: name.into(),
        families,
        load_seconds,
        median_tick_seconds: m,
        median_us_per_service: m * 1e6 / o.services.max(1) as f64,
        tick_seconds: ticks,
        cached_tick_seconds,
        forecasts_computed,
        forecast_seconds,
    })
}

pub fn run(o: &BenchOptions) -> Result<BenchReport> {
    for (field, v, min) in [
        ("--services", o.services, 1),
        ("--ticks", o.ticks, 1),
        ("--templates", o.templates, 1),
        ("--days", o.days, 3),
    ] {
        if v < min {
            return Err(Error::config(field, format!("must be at least {min}, got {v}")));
        }
    }
    if o.families.is_empty() {
        return Err(Error::config("--families", "list at least one family"));
    }
    let series = crate::sim::synth::generate(&crate::sim::synth::SynthSpec {
        services: o.templates,
        // One more day than trained on supplies the "live" points.
        days: o.days + 1,
        step: STEP,
        ..Default::default()
    });
    let dir = tempfile_dir()?;
    let run = || -> Result<(PassResult, PassResult)> {
        let sel = dir.join("selected");
        let families = train_templates(&series, o.days, &o.families, &sel)?;
        link_services(&sel, o.services, o.templates)?;
        let selected = pass("selected", families, &sel, &series, o)?;
        let base = dir.join("baseline");
        let families = train_templates(&series, o.days, &[Family::SeasonalNaive], &base)?;
        link_services(&base, o.services, o.templates)?;
        let baseline = pass("seasonal_naive", families, &base, &series, o)?;
        Ok((selected, baseline))
    };
    let result = run();
    let _ = std::fs::remove_dir_all(&dir);
    let (selected, baseline) = result?;
    let peak = proc_status_mib("VmHWM:");
    let history_points = o.days * 86_400 / STEP as usize;
    Ok(BenchReport {
        services: o.services,
        ticks: o.ticks,
        history_points,
        ratio: selected.median_tick_seconds / baseline.median_tick_seconds.max(1e-12),
        meets_tick_target: selected.median_tick_seconds <= 1.0,
        meets_rss_target: peak.map(|p| p <= 512.0),
        peak_rss_mib: peak,
        target_tick_seconds: 1.0,
        target_rss_mib: 512.0,
        selected,
        baseline,
    })
}

/// A fresh directory under the system temp dir (removed by `run`).
fn tempfile_dir() -> Result<std::path::PathBuf> {
    let d = std::env::temp_dir().join(format!("scale-bench-serve-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).map_err(|e| Error::io(&d, e))?;
    Ok(d)
}

/// `--families seasonal_naive,ets`: the training family names.
pub fn parse_families(v: &str) -> Result<Vec<Family>> {
    v.split(',')
        .map(|f| {
            serde_json::from_value(serde_json::Value::String(f.trim().to_string()))
                .map_err(|_| Error::config("--families", format!("unknown family {f:?}")))
        })
        .collect()
}
