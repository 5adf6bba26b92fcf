//! `scale evaluate`: backtest on the history before the replay window, then replay the
//! window through the predictive and reactive policies (the shared [`crate::control`] path)
//! and the perfect-foresight oracle, against the simulated cluster.

pub(crate) mod attribution;
pub(crate) mod demo;
pub(crate) mod html;
pub(crate) mod report;
pub mod vertical;

use crate::capacity::fit::CapacityModel;
use crate::capacity::queue::QueueModel;
use crate::control::DecisionRecord;
use crate::control::{ControlConfig, Controller, Inputs, PolicyKind};
use crate::core::series::{Cleaned, GapPolicy, Series};
use crate::forecast::Forecast;
use crate::govern::{GovernorConfig, GovernorState, ScaleIn};
use crate::observe::load_series;
use crate::observe::memory::MemorySource;
use crate::plan::horizontal::{ForecastWindow, PlanConfig};
use crate::reactive::hpa::replica::HpaUtilization;
use crate::reactive::rules::eval::Observation as LatencyWindow;
use crate::reactive::rules::eval::RuleRecord;
use crate::reactive::rules::spec::Rule;
use crate::serve::config::DEFAULT_MAX_DEMAND_RATIO;
use crate::serve::forecast::{Anchored, Forecaster};
use crate::serve::service::{fetch_start, recent_from};
use crate::sim::{DemandCurve, SimConfig, SimRun, oracle_schedule, run};
use crate::train::artifact::Artifact;
use crate::train::backtest::{BacktestConfig, backtest};
use crate::train::{candidate_from, promotion_against};
use crate::{Error, Result};
use attribution::TickNote;
use report::{EvalReport, EvalSettings, FittedCapacity, FrontierPoint, Policies, Retrained, ServiceReport, Timeline};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const REPORT_SCHEMA_VERSION: u32 = 1;
/// Workers per replica in the M/M/c latency model.
pub const WORKERS_PER_REPLICA: u32 = 4;
/// The forecast quantile planned for by default: the median. With the reactive floor and the
/// burst guard under it, a higher quantile bought few violation minutes for its cost (see the
/// frontier in docs/evaluate.md).
pub const DEFAULT_QUANTILE: f64 = 0.5;
/// Recent demand each replayed tick fetches: `scale serve`'s default `defaults.history`.
const REPLAY_HISTORY_SECONDS: i64 = 7200;
/// Longest replay window: the last 20% of history, at most two weeks.
const MAX_REPLAY_SECONDS: i64 = 14 * 86_400;

#[derive(Debug, Clone)]
pub struct EvalOptions {
    pub capacity_per_replica: Option<f64>,
    pub startup: Option<i64>,
    pub tick: Option<i64>,
    pub slo_latency: Option<f64>,
    pub quantile: f64,
    pub target_utilization: f64,
    pub gap_policy: GapPolicy,
    /// How far the predictive policy's forecast may scale in.
    pub scale_in: ScaleIn,
    /// The lower bound for every policy; 0 replays scale-to-zero.
    pub min_replicas: u32,
    /// Also replay the cost–SLO frontier.
    pub frontier: bool,
    /// When the replay retrains, as the retraining CronJob would.
    pub retrain: Retrain,
    /// `LatencyBasedAutoScaler` rules replayed as the `latency_rules` policy (`--rules`).
    pub rules: Vec<Rule>,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            capacity_per_replica: None,
            startup: None,
            tick: None,
            slo_latency: None,
            quantile: DEFAULT_QUANTILE,
            target_utilization: 0.8,
            gap_policy: GapPolicy::default(),
            scale_in: ScaleIn::Reactive,
            min_replicas: 1,
            frontier: false,
            retrain: Retrain::Daily,
            rules: Vec::new(),
        }
    }
}

impl EvalOptions {
    pub fn validate(&self) -> Result<()> {
        if let Some(c) = self.capacity_per_replica
            && !(c.is_finite() && c > 0.0)
        {
            return Err(Error::config(
                "--capacity-per-replica",
                format!("must be a positive number, got {c}"),
            ));
        }
        if let Some(s) = self.slo_latency
            && !(s.is_finite() && s > 0.0)
        {
            return Err(Error::config("--slo-latency", "must be positive"));
        }
        if !(self.quantile > 0.0 && self.quantile < 1.0) {
            return Err(Error::config(
                "--quantile",
                format!("must be in (0, 1), got {}", self.quantile),
            ));
        }
        if self.min_replicas > 1000 {
            return Err(Error::config(
                "--min-replicas",
                format!(
                    "must be at most 1000 (the replay's maxReplicas), got {}",
                    self.min_replicas
                ),
            ));
        }
        if !(self.target_utilization > 0.0 && self.target_utilization <= 1.0) {
            return Err(Error::config("target_utilization", "must be in (0, 1]"));
        }
        Ok(())
    }
}

/// Rounds to two significant figures, for readable derived defaults.
fn two_sig(x: f64) -> f64 {
    if x <= 0.0 || !x.is_finite() {
        return 1.0;
    }
    let mag = 10f64.powf(x.log10().floor() - 1.0);
    (x / mag).round() * mag
}

/// Settings for one series: given values win, the rest are derived from the data.
pub fn settings_for(series: &Series, train_end: usize, opts: &EvalOptions) -> EvalSettings {
    let mut derived = Vec::new();
    let step = series.step;
    let peak = series.values[..train_end].iter().copied().fold(0.0, f64::max);
    let capacity = opts.capacity_per_replica.unwrap_or_else(|| {
        derived.push(format!("capacity_per_replica = peak training demand {peak:.4} / 20"));
        two_sig(peak / 20.0)
    });
    let startup = opts.startup.unwrap_or_else(|| {
        derived.push("startup = half the data step, within [60s, 600s]".into());
        (step / 2).clamp(60, 600)
    });
    let tick = opts.tick.unwrap_or_else(|| {
        derived.push("tick = a tenth of the data step, within [15s, 300s]".into());
        (step / 10).clamp(15, 300)
    });
    let queue = QueueModel::new(capacity, WORKERS_PER_REPLICA);
    let slo = opts.slo_latency.unwrap_or_else(|| {
        derived.push("slo_latency = modelled p95 at 90% utilization".into());
        queue.p95(0.9 * capacity)
    });
    EvalSettings {
        capacity_per_replica: capacity,
        startup_seconds: startup,
        tick_seconds: tick,
        slo_latency_seconds: slo,
        target_utilization: opts.target_utilization,
        quantile: opts.quantile,
        // serve's forecast step runs every tick and recomputes when the data changed
        reforecast_seconds: tick,
        retrain: opts.retrain,
        history_seconds: REPLAY_HISTORY_SECONDS,
        latency_rule: None,
        min_replicas: opts.min_replicas,
        max_replicas: 1000,
        scale_in: opts.scale_in,
        derived,
    }
}

fn control_config(policy: PolicyKind, s: &EvalSettings, at_slo: Option<f64>) -> ControlConfig {
    ControlConfig {
        policy,
        plan: PlanConfig {
            quantile: s.quantile,
            capacity_per_replica: s.capacity_per_replica,
            target_utilization: s.target_utilization,
            load_per_replica_at_slo: at_slo,
        },
        hpa: HpaUtilization {
            target_utilization: s.target_utilization,
            tolerance: 0.1,
        },
        governor: GovernorConfig {
            scale_in: s.scale_in,
            ..GovernorConfig::hpa_default(s.min_replicas, s.max_replicas)
        },
        lead_seconds: s.startup_seconds + s.tick_seconds,
    }
}

/// Days of training history replayed through the reactive policy to measure latency.
const CAPACITY_FIT_DAYS: i64 = 7;

/// Learns the service's latency curve the way a live deployment would: the reactive policy runs
/// the last days of *training* history on the simulated cluster, its per-tick (load per ready
/// replica, p50, p95) measurements are fitted (`capacity_fit`), and the planner gets the load per
/// replica at the SLO. Nothing from the replay window is used.
fn fit_capacity(series: &Series, train_end: usize, s: &EvalSettings, sim: &SimConfig) -> Option<FittedCapacity> {
    let from = train_end.saturating_sub((CAPACITY_FIT_DAYS * 86_400 / series.step) as usize);
    if train_end < from + 2 {
        return None;
    }
    let demand = DemandCurve { series };
    let start = series.time_at(from);
    let initial = ((demand.at(start) / (s.capacity_per_replica * s.target_utilization)).ceil() as u32)
        .clamp(s.min_replicas, s.max_replicas);
    let warm = SimConfig {
        start,
        end: series.time_at(train_end - 1) + 1,
        initial_replicas: initial,
        ..*sim
    };
    let mut reactive = Controller::new(control_config(PolicyKind::Reactive, s, None));
    let r = run(&warm, demand, |obs| {
        applied(&reactive.decide(obs, None, &reactive.configured()))
    });
    let obs: Vec<crate::capacity::fit::Observation> = warm
        .ticks()
        .zip(r.ready.iter().zip(&r.p95))
        .filter_map(|(t, (&ready, p95))| {
            let p95 = (*p95)?;
            (ready > 0 && p95.is_finite()).then(|| {
                let load = demand.at(t) / ready as f64;
                (load, sim.queue.latency_quantile(load, 0.5), p95)
            })
        })
        .collect();
    let model = CapacityModel::fit(&obs).ok()?;
    Some(FittedCapacity {
        load_per_replica_at_slo: model.capacity_at_slo(s.slo_latency_seconds),
        true_load_per_replica_at_slo: sim.queue.max_load_at_slo(s.slo_latency_seconds),
        model,
        measured_from: format!(
            "reactive policy on the last {} of training history",
            crate::core::time::format_duration(warm.end - warm.start)
        ),
    })
}

/// How often the replay retrains the model, as `scale train`'s CronJob would.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Retrain {
    /// Every day at 03:00 UTC: the Helm chart's default schedule, `"0 3 * * *"`.
    #[default]
    Daily,
    /// Never: the version trained before the replay serves it all.
    Never,
}

impl Retrain {
    /// The name in flags and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Retrain::Daily => "daily",
            Retrain::Never => "never",
        }
    }

    /// The first retraining time strictly after `t`, if any.
    fn next_after(self, t: i64) -> Option<i64> {
        const DAY: i64 = 86_400;
        const AT: i64 = 3 * 3600;
        match self {
            Retrain::Daily => Some((t - AT).div_euclid(DAY) * DAY + DAY + AT),
            Retrain::Never => None,
        }
    }
}

impl std::str::FromStr for Retrain {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "daily" => Ok(Retrain::Daily),
            "never" => Ok(Retrain::Never),
            _ => Err(format!("expected \"daily\" or \"never\", got {s:?}")),
        }
    }
}

/// The query the replay's metric source answers: the series, sampled at every tick.
const DEMAND_QUERY: &str = "demand";

/// `scale serve`'s forecast step, replayed: each tick fetches recent demand from a metric
/// source that holds what a live gauge would have reported by then, and the shared
/// [`Forecaster`] continues the active version's serving state with it. On the retraining
/// schedule, the points seen so far are backtested and the candidate replaces the active
/// version only if `scale train` would promote it.
struct ServePath<'a> {
    series: &'a Series,
    source: std::sync::Arc<MemorySource>,
    forecaster: Forecaster,
    active: Artifact,
    versions: usize,
    bt_cfg: BacktestConfig,
    history: i64,
    retrain: Retrain,
    next_retrain: Option<i64>,
    retrains: Vec<Retrained>,
}

impl<'a> ServePath<'a> {
    /// Serves `active` from the start of `sim`, on `series` up to `train_end` and the demand
    /// the simulated cluster sees after it.
    fn new(
        series: &'a Series,
        train_end: usize,
        sim: &SimConfig,
        s: &EvalSettings,
        bt_cfg: BacktestConfig,
        active: Artifact,
    ) -> Self {
        // What a live gauge reports: the recorded points before the replay, then the demand
        // at every tick. Each fetch ends at its tick, so nothing later is visible.
        let demand = DemandCurve { series };
        let source = std::sync::Arc::new(MemorySource::new());
        source.set(
            DEMAND_QUERY,
            (0..train_end)
                .map(|i| (series.time_at(i), series.values[i]))
                .chain(sim.ticks().map(|t| (t, demand.at(t))))
                .collect(),
        );
        // As serve's ServiceLoop sets it up, from the control config.
        let control = control_config(PolicyKind::Predictive, s, None);
        ServePath {
            series,
            source,
            forecaster: Forecaster::new(control.lead_seconds, control.governor.max_metric_age_seconds),
            active,
            versions: 1,
            bt_cfg,
            history: s.history_seconds,
            retrain: s.retrain,
            next_retrain: s.retrain.next_after(sim.start),
            retrains: Vec::new(),
        }
    }

    /// The forecast serve would plan with at `now`.
    fn at(&mut self, now: i64) -> Option<Anchored> {
        if self.next_retrain.is_some_and(|t| now >= t) {
            self.retrain_at(now);
            self.next_retrain = self.retrain.next_after(now);
        }
        let step = self.active.state.step.max(1);
        let got = self
            .source
            .range_now(DEMAND_QUERY, fetch_start(now, self.history, step), now, step);
        let recent = recent_from(DEMAND_QUERY, &self.series.name, got, DEFAULT_MAX_DEMAND_RATIO)
            .map_err(|e| tracing::debug!(series = %self.series.name, now, "replayed fetch: {e}"))
            .ok();
        self.forecaster
            .forecast_with(Some(&self.active), || None, recent.as_ref(), &self.series.name, now)
            .forecast
    }

    /// `scale train` on the points recorded by `now`.
    fn retrain_at(&mut self, now: i64) {
        let s = self.series;
        let seen = (((now - s.start) / s.step) + 1).clamp(0, s.len() as i64) as usize;
        let hist = s.slice(seen.saturating_sub(self.bt_cfg.max_train), seen);
        let outcome = backtest(&hist, &self.bt_cfg).and_then(|report| {
            let promotion = promotion_against(
                &hist,
                &self.bt_cfg,
                &report,
                Ok(&self.active),
                crate::train::Retention::default().promotion_margin,
            );
            if !promotion.promoted {
                return Ok((promotion, None));
            }
            let version = format!("v{:04}", self.versions + 1);
            let art = candidate_from(&hist, &self.bt_cfg, report, None)?.in_memory(&version);
            Ok((promotion, Some(art)))
        });
        match outcome {
            Ok((promotion, art)) => {
                let version = art.as_ref().map(|a| a.manifest.version.clone());
                if let Some(a) = art {
                    self.versions += 1;
                    self.active = a;
                }
                self.retrains.push(Retrained {
                    at: now,
                    family: self.active.manifest.family.clone(),
                    version,
                    promotion: Some(promotion),
                    error: None,
                });
            }
            Err(e) => {
                tracing::warn!(series = %s.name, now, "replayed retraining failed, the active version stays: {e}");
                self.retrains.push(Retrained {
                    at: now,
                    family: self.active.manifest.family.clone(),
                    version: None,
                    promotion: None,
                    error: Some(e.to_string()),
                });
            }
        }
    }
}

/// Interpolated forecast value and bands at time `t`, NaN outside the window.
fn forecast_at(w: Option<ForecastWindow<'_>>, t: i64) -> [f64; 5] {
    let Some(w) = w else { return [f64::NAN; 5] };
    let pos = (t - w.origin) as f64 / w.step as f64;
    let f = w.forecast;
    // Between the last observed point and the first forecast one, show the first forecast.
    let pos = if (-1.0..0.0).contains(&pos) { 0.0 } else { pos };
    if pos < 0.0 || pos + 1.0 >= f.len() as f64 {
        return [f64::NAN; 5];
    }
    let (i, frac) = (pos.floor() as usize, pos.fract());
    let lerp = |v: &[f64]| v[i] * (1.0 - frac) + v[i + 1] * frac;
    [
        lerp(&f.point),
        lerp(&f.lower_80),
        lerp(&f.upper_80),
        lerp(&f.lower_95),
        lerp(&f.upper_95),
    ]
}

/// Evaluates one cleaned series.
pub fn evaluate_series(
    cleaned: &Cleaned,
    opts: &EvalOptions,
    rule: Option<&Rule>,
) -> Result<(ServiceReport, Timeline)> {
    let series = &cleaned.series;
    let n = series.len();
    let replay_len = ((n as f64 * 0.2).ceil() as usize)
        .min((MAX_REPLAY_SECONDS / series.step) as usize)
        .max(1);
    let train_end = n - replay_len.min(n);
    if train_end < 16 {
        return Err(Error::TooShort(format!(
            "series {:?}: {n} points leave {train_end} for training before the replay window; need at least 16",
            series.name
        )));
    }
    let mut settings = settings_for(series, train_end, opts);
    settings.latency_rule = rule.map(|r| r.to_string());
    let s = &settings;
    let history = series.slice(0, train_end);
    let lead = s.startup_seconds + s.tick_seconds;
    // Selection and calibration score an hour past the lead, as `scale train`'s default
    // horizon does.
    let horizon = ((3600 + lead) as f64 / series.step as f64).ceil() as usize + 2;
    let mut bt_cfg = BacktestConfig::new(horizon);
    bt_cfg.max_train = (28 * 86_400 / series.step).max(64) as usize;
    let forecast = backtest(&history, &bt_cfg)?;
    let initial_version = candidate_from(&history, &bt_cfg, forecast.clone(), None)?.in_memory("v0001");

    let queue = QueueModel::new(s.capacity_per_replica, WORKERS_PER_REPLICA);
    let demand = DemandCurve { series };
    let start = series.time_at(train_end);
    let initial = ((demand.at(start) / (s.capacity_per_replica * s.target_utilization)).ceil() as u32)
        .clamp(s.min_replicas, s.max_replicas);
    let sim = SimConfig {
        start,
        end: series.time_at(n - 1) + 1,
        tick: s.tick_seconds,
        startup: s.startup_seconds,
        queue,
        slo_latency: s.slo_latency_seconds,
        initial_replicas: initial,
    };

    let mut path = ServePath::new(series, train_end, &sim, s, bt_cfg, initial_version);
    let track = ForecastTrack::record(&sim, series.step, &mut path);
    let retrains = path.retrains;
    let capacity = fit_capacity(series, train_end, s, &sim);
    let at_slo = capacity.as_ref().and_then(|c| c.load_per_replica_at_slo);
    let latency_model = capacity.as_ref().map(|c| c.model.clone());
    let replay = Replay {
        sim: &sim,
        demand,
        track: &track,
        settings: s,
        at_slo,
    };
    let pred_cfg = control_config(PolicyKind::Predictive, s, at_slo);
    let (mut pred, decisions, pred_notes) = replay.play(&pred_cfg);
    let reac_cfg = control_config(PolicyKind::Reactive, s, None);
    let (mut reac, _, reac_notes) = replay.play(&reac_cfg);
    let mut rules = rule.map(|r| replay.play_rule(r, &reac_cfg.governor));
    // What `scale serve` runs for a service with the rule in `[rules]`: the forecast and the rule.
    let mut attached = rule.map(|r| {
        let (run, _, notes) = replay.play_attached(&pred_cfg, Some(r));
        (run, notes)
    });
    let sched = oracle_schedule(&sim, demand, s.min_replicas, s.max_replicas);
    let oracle_sim = SimConfig {
        initial_replicas: sched.first().copied().unwrap_or(initial),
        ..sim
    };
    let mut orac = run(&oracle_sim, demand, |obs| {
        sched[((obs.now - sim.start) / sim.tick) as usize]
    });
    let oracle_replicas = orac.replicas.clone();
    let causes = [
        replay.attribute(
            &mut pred,
            &pred_notes,
            true,
            pred_cfg.plan.per_replica(),
            &oracle_replicas,
        ),
        replay.attribute(
            &mut reac,
            &reac_notes,
            false,
            reac_cfg.plan.per_replica(),
            &oracle_replicas,
        ),
        replay.attribute(
            &mut orac,
            &[],
            false,
            sim.queue.max_load_at_slo(sim.slo_latency),
            &oracle_replicas,
        ),
    ];
    let rules_cause = rules
        .as_mut()
        .map(|(r, notes)| replay.attribute(r, notes, false, reac_cfg.plan.per_replica(), &oracle_replicas));
    let attached_cause = attached
        .as_mut()
        .map(|(r, notes)| replay.attribute(r, notes, true, pred_cfg.plan.per_replica(), &oracle_replicas));
    let mut frontier = if opts.frontier { replay.frontier() } else { Vec::new() };
    if let (true, Some((r, _))) = (opts.frontier, &rules) {
        frontier.push(FrontierPoint::latency_rules(&r.summary));
    }

    let mut timeline = Timeline::default();
    for (k, t) in sim.ticks().enumerate() {
        let fv = forecast_at(track.window(k), t);
        timeline.time.push(t);
        timeline.demand.push(demand.at(t));
        timeline.forecast.push(fv[0]);
        timeline.forecast_lower_80.push(fv[1]);
        timeline.forecast_upper_80.push(fv[2]);
        timeline.forecast_lower_95.push(fv[3]);
        timeline.forecast_upper_95.push(fv[4]);
        // The latency forecast: the fitted curve at forecast demand over the planned replicas.
        let current = pred.replicas.get(k).copied().unwrap_or(0);
        timeline.predicted_p95.push(match &latency_model {
            Some(m) if fv[0].is_finite() && current > 0 => {
                Some(m.p95_at(fv[0].max(0.0) / current as f64)).filter(|v| v.is_finite())
            }
            _ => None,
        });
    }
    for ((name, r), cause) in [("predictive", &pred), ("reactive_hpa", &reac), ("oracle", &orac)]
        .into_iter()
        .zip(causes)
    {
        add_run(&mut timeline, name, r);
        timeline.cause.insert(name.into(), cause);
    }
    for (name, run, cause) in [
        ("latency_rules", rules.as_ref(), rules_cause),
        ("predictive_with_rules", attached.as_ref(), attached_cause),
    ] {
        if let (Some((r, _)), Some(cause)) = (run, cause) {
            add_run(&mut timeline, name, r);
            timeline.cause.insert(name.into(), cause);
        }
    }
    let report = ServiceReport {
        policies: Policies {
            predictive: pred.summary,
            reactive_hpa: reac.summary,
            oracle: orac.summary,
            latency_rules: rules.map(|(r, _)| r.summary),
            predictive_with_rules: attached.map(|(r, _)| r.summary),
        },
        forecast,
        settings,
        capacity,
        replay_start: start,
        replay_end: series.end(),
        training_points: train_end,
        data_issues: cleaned.issues.clone(),
        frontier,
        timeline: Timeline::default(),
        decisions,
        retrains,
    };
    Ok((report, timeline))
}

/// The forecast each tick of the replay planned with, recorded once so that every policy and
/// frontier point replays the same forecasts.
pub(crate) struct ForecastTrack {
    pub(crate) step: i64,
    pub(crate) forecasts: Vec<(i64, Forecast)>,
    pub(crate) at_tick: Vec<Option<usize>>,
}

impl ForecastTrack {
    fn record(sim: &SimConfig, step: i64, path: &mut ServePath<'_>) -> Self {
        let mut track = ForecastTrack {
            step,
            forecasts: Vec::new(),
            at_tick: Vec::new(),
        };
        for t in sim.ticks() {
            let idx = path.at(t).map(|a| {
                if track
                    .forecasts
                    .last()
                    .is_none_or(|(o, f)| *o != a.origin || *f != a.forecast)
                {
                    track.forecasts.push((a.origin, a.forecast));
                }
                track.forecasts.len() - 1
            });
            track.at_tick.push(idx);
        }
        track
    }

    fn window(&self, tick: usize) -> Option<ForecastWindow<'_>> {
        let (origin, f) = &self.forecasts[(*self.at_tick.get(tick)?)?];
        Some(ForecastWindow {
            forecast: f,
            origin: *origin,
            step: self.step,
        })
    }
}

/// One service's replay: the simulated cluster, its demand and the recorded forecasts.
struct Replay<'a> {
    sim: &'a SimConfig,
    demand: DemandCurve<'a>,
    track: &'a ForecastTrack,
    settings: &'a EvalSettings,
    at_slo: Option<f64>,
}

impl Replay<'_> {
    /// Replays one control config through the shared control step; returns the run and the
    /// applied decisions.
    fn play(&self, cfg: &ControlConfig) -> (SimRun, Vec<DecisionRecord>, Vec<TickNote>) {
        self.play_attached(cfg, None)
    }

    /// As [`Self::play`], with `rule` attached as `scale serve`'s `[rules]` attaches it: each
    /// tick's verdict on the simulated cluster's latency windows goes into the controller's
    /// inputs, and the governor's `rule` step takes it.
    fn play_attached(&self, cfg: &ControlConfig, rule: Option<&Rule>) -> (SimRun, Vec<DecisionRecord>, Vec<TickNote>) {
        let mut ctl = Controller::new(cfg.clone());
        let configured = ctl.configured();
        let mut latency = rule.map(|r| (r, SimLatency::new(self, r)));
        let mut decisions = Vec::new();
        let mut notes = Vec::new();
        let mut k = 0;
        let r = run(self.sim, self.demand, |obs| {
            let w = match cfg.policy {
                PolicyKind::Predictive => self.track.window(k),
                PolicyKind::Reactive => None,
            };
            k += 1;
            let inputs = match &mut latency {
                Some((rule, l)) => {
                    let windows = l.observe(&obs);
                    let rec = crate::reactive::rules::eval::evaluate(rule, windows, obs.current_replicas, obs.now);
                    Inputs {
                        rule: Some(RuleRecord::of(rule, &rec)),
                        ..configured.clone()
                    }
                }
                None => configured.clone(),
            };
            let rec = ctl.decide(obs, w, &inputs);
            notes.push(TickNote::of(&rec));
            let n = applied(&rec);
            if rec.applied {
                decisions.push(rec);
            }
            n
        });
        (r, decisions, notes)
    }

    /// Attributes a finished run and writes the causes into its summary; returns each tick's
    /// cause label ("" without a violation) for the timeline.
    fn attribute(
        &self,
        r: &mut SimRun,
        notes: &[TickNote],
        forecast: bool,
        per_replica: f64,
        oracle: &[u32],
    ) -> Vec<String> {
        let times: Vec<i64> = self.sim.ticks().collect();
        let demand: Vec<f64> = times.iter().map(|&t| self.demand.at(t)).collect();
        let cx = attribution::Context {
            demand: &demand,
            forecasts: forecast.then_some(self.track),
            times: &times,
            tick: self.sim.tick,
            lead_ticks: ((self.sim.startup + self.sim.tick) as f64 / self.sim.tick as f64).ceil() as usize,
            per_replica,
            oracle,
            min_replicas: self.settings.min_replicas,
        };
        let a = attribution::attribute(r, notes, &cx);
        r.summary.violations_by_cause = a.violations;
        r.summary.late_by_step = a.late_by_step;
        r.summary.excess_replica_hours_by_cause = a.excess;
        a.per_tick
            .iter()
            .map(|c| c.map_or(String::new(), |c| c.label().to_string()))
            .collect()
    }

    /// The cost–SLO frontier: the HPA at five targets, the predictive policy at five quantiles in
    /// each scale-in mode.
    fn frontier(&self) -> Vec<FrontierPoint> {
        let s = self.settings;
        let mut points = Vec::new();
        for target in FRONTIER_TARGETS {
            let at = EvalSettings {
                target_utilization: target,
                ..s.clone()
            };
            let (r, _, _) = self.play(&control_config(PolicyKind::Reactive, &at, None));
            points.push(FrontierPoint::hpa(target, &r.summary));
        }
        for scale_in in [ScaleIn::Reactive, ScaleIn::Forecast] {
            for quantile in FRONTIER_QUANTILES {
                let at = EvalSettings {
                    quantile,
                    scale_in,
                    ..s.clone()
                };
                let (r, _, _) = self.play(&control_config(PolicyKind::Predictive, &at, self.at_slo));
                points.push(FrontierPoint::predictive(scale_in, quantile, &r.summary));
            }
        }
        points
    }
}

/// Binds each rule to the series it targets: the one named like its target (`spec.target.service`,
/// else `deploymentName`) or its `serviceName`; a lone rule on a lone series binds to it whatever
/// the names.
pub(crate) fn bind_rules<'a>(rules: &'a [Rule], names: &[&str]) -> Result<BTreeMap<String, &'a Rule>> {
    let mut bound: BTreeMap<String, &Rule> = BTreeMap::new();
    for r in rules {
        let matched: Vec<&str> = names
            .iter()
            .copied()
            .filter(|n| *n == r.target_name() || *n == r.service)
            .collect();
        let matched = match (matched.as_slice(), rules.len(), names) {
            ([], 1, [only]) => vec![*only],
            ([], _, _) => {
                return Err(Error::config(
                    "--rules",
                    format!(
                        "{}:{}: rule {} targets deployment {:?} (service {:?}), which names none of the input's series: {}",
                        r.source.file.display(),
                        r.source.line,
                        r.name,
                        r.deployment,
                        r.service,
                        names.join(", ")
                    ),
                ));
            }
            (m, _, _) => m.to_vec(),
        };
        for n in matched {
            if let Some(other) = bound.insert(n.to_string(), r) {
                return Err(Error::config(
                    "--rules",
                    format!(
                        "{}:{}: rule {} and rule {} ({}:{}) both target series {n:?}",
                        r.source.file.display(),
                        r.source.line,
                        r.name,
                        other.name,
                        other.source.file.display(),
                        other.source.line
                    ),
                ));
            }
        }
    }
    Ok(bound)
}

/// The latency a request that never completes is measured at (overload, or no ready pod), so
/// that the rule sees the breach instead of a missing window.
const UNBOUNDED_LATENCY_SECONDS: f64 = 1e6;

impl Replay<'_> {
    /// The seed's autoscaler: `rule` alone on the simulated cluster's latency ([`SimLatency`]),
    /// through the governor (HPA behavior, as `govern::rules` applies it).
    fn play_rule(&self, rule: &Rule, governor: &GovernorConfig) -> (SimRun, Vec<TickNote>) {
        let mut state = GovernorState::default();
        let mut latency = SimLatency::new(self, rule);
        let mut notes = Vec::new();
        let r = run(self.sim, self.demand, |o| {
            let windows = latency.observe(&o);
            let rec = crate::reactive::rules::eval::evaluate(rule, windows, o.current_replicas, o.now);
            let g = crate::govern::rules::govern(governor, &mut state, &rec, o.now, o.current_replicas);
            notes.push(TickNote::of_governed(&g));
            if g.apply { g.desired } else { o.current_replicas }
        });
        (r, notes)
    }
}

/// The simulated cluster's latency windows as a rule reads them: the receivers' default minute,
/// each window's statistic the highest modelled latency at the rule's percentile measured in it:
/// at every tick, and once a minute between ticks longer than a minute (at the demand then and
/// the tick's ready replicas).
struct SimLatency<'a> {
    sim: &'a SimConfig,
    demand: DemandCurve<'a>,
    q: f64,
    keep: i64,
    windows: std::collections::VecDeque<LatencyWindow>,
}

impl<'a> SimLatency<'a> {
    const WINDOW: i64 = 60;

    fn new(replay: &Replay<'a>, rule: &Rule) -> Self {
        SimLatency {
            sim: replay.sim,
            demand: replay.demand,
            q: rule.percentile.quantile(),
            keep: rule.breaches.window_seconds.unwrap_or(0) + 2 * Self::WINDOW.max(replay.sim.tick),
            windows: std::collections::VecDeque::new(),
        }
    }

    /// Measures the tick `o` and returns the windows the rule sees then, oldest first.
    fn observe(&mut self, o: &crate::control::Observation) -> &[LatencyWindow] {
        // Ticks longer than a window are measured once a minute since the previous tick.
        let samples = (self.sim.tick / Self::WINDOW).max(1);
        for j in (0..samples).rev() {
            let t = o.now - j * Self::WINDOW;
            let d = self.demand.at(t);
            let latency = match o.ready_replicas {
                0 if d > 0.0 => f64::INFINITY,
                0 => 0.0,
                ready => self.sim.queue.latency_quantile(d / ready as f64, self.q),
            };
            let latency = if latency.is_finite() {
                latency.min(UNBOUNDED_LATENCY_SECONDS)
            } else {
                UNBOUNDED_LATENCY_SECONDS
            };
            let requests = (d.max(0.0) * Self::WINDOW.min(self.sim.tick) as f64) as usize;
            let start = t.div_euclid(Self::WINDOW) * Self::WINDOW;
            match self.windows.back_mut() {
                Some(w) if w.start == start => {
                    w.latency = w.latency.max(latency);
                    w.requests += requests;
                }
                _ => self.windows.push_back(LatencyWindow {
                    start,
                    seconds: Self::WINDOW,
                    latency,
                    requests,
                }),
            }
        }
        while self.windows.front().is_some_and(|w| w.end() < o.now - self.keep) {
            self.windows.pop_front();
        }
        self.windows.make_contiguous()
    }
}

/// The HPA's target utilizations on the frontier.
pub const FRONTIER_TARGETS: [f64; 5] = [0.5, 0.6, 0.7, 0.8, 0.9];
/// The predictive policy's quantiles on the frontier.
pub const FRONTIER_QUANTILES: [f64; 5] = [0.5, 0.8, 0.9, 0.95, 0.99];

/// The count the cluster ends up with: the decision if applied, else unchanged.
fn applied(r: &crate::control::DecisionRecord) -> u32 {
    if r.applied {
        r.desired_replicas
    } else {
        r.current_replicas
    }
}

fn add_run(t: &mut Timeline, name: &str, r: &SimRun) {
    t.replicas.insert(name.into(), r.replicas.clone());
    t.ready.insert(name.into(), r.ready.clone());
    t.violation.insert(name.into(), r.violation.clone());
    t.p95_latency.insert(name.into(), r.p95.clone());
}

/// Evaluates every series of `input`, using up to `threads` threads.
pub fn evaluate_all(
    input: &Path,
    loaded: &[Cleaned],
    opts: &EvalOptions,
) -> Result<(EvalReport, BTreeMap<String, Timeline>)> {
    opts.validate()?;
    let names: Vec<&str> = loaded.iter().map(|c| c.series.name.as_str()).collect();
    let bound = bind_rules(&opts.rules, &names)?;
    let bound = &bound;
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(loaded.len())
        .max(1);
    let chunks: Vec<Vec<&Cleaned>> = (0..threads)
        .map(|k| loaded.iter().skip(k).step_by(threads).collect())
        .collect();
    let results: Vec<Result<Vec<(String, ServiceReport, Timeline)>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .iter()
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|c| {
                            evaluate_series(c, opts, bound.get(&c.series.name).copied())
                                .map(|(r, t)| (c.series.name.clone(), r, t))
                        })
                        .collect::<Result<Vec<_>>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(Error::Task("evaluation thread panicked".into())))
            })
            .collect()
    });
    let mut services = BTreeMap::new();
    let mut timelines = BTreeMap::new();
    for r in results {
        for (name, rep, tl) in r? {
            services.insert(name.clone(), rep);
            timelines.insert(name, tl);
        }
    }
    let mut totals = Policies::default();
    let mut frontier: Vec<FrontierPoint> = Vec::new();
    for s in services.values() {
        totals = totals.merge(&s.policies);
        frontier = report::merge_frontier(&frontier, &s.frontier);
    }
    let first = services
        .values()
        .next()
        .ok_or_else(|| Error::NoData("no series to evaluate".into()))?;
    let report = EvalReport {
        schema_version: REPORT_SCHEMA_VERSION,
        input: input.display().to_string(),
        policies: totals,
        frontier,
        forecast: first.forecast.clone(),
        services,
    };
    Ok((report, timelines))
}

/// Writes `report.json`, `timeline.csv` and `report.html` into `out`.
pub fn write_outputs(out: &Path, report: &EvalReport, timelines: &BTreeMap<String, Timeline>) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let json = serde_json::to_string_pretty(report).map_err(|e| Error::Encode(e.to_string()))?;
    let paths = [
        out.join("report.json"),
        out.join("timeline.csv"),
        out.join("report.html"),
    ];
    std::fs::write(&paths[0], json).map_err(|e| Error::io(&paths[0], e))?;
    std::fs::write(&paths[1], timeline_csv(timelines)).map_err(|e| Error::io(&paths[1], e))?;
    let mut jsonl = String::new();
    for (name, svc) in &report.services {
        for d in &svc.decisions {
            let line = serde_json::json!({"service": name, "decision": d});
            jsonl.push_str(&line.to_string());
            jsonl.push('\n');
        }
    }
    let dpath = out.join("decisions.jsonl");
    std::fs::write(&dpath, jsonl).map_err(|e| Error::io(&dpath, e))?;
    let page = html::render(report, timelines)?;
    std::fs::write(&paths[2], page).map_err(|e| Error::io(&paths[2], e))?;
    Ok(paths.to_vec())
}

/// One row per service and tick; documented in docs/evaluate.md.
pub fn timeline_csv(timelines: &BTreeMap<String, Timeline>) -> String {
    const POLICIES: [&str; 3] = ["predictive", "reactive_hpa", "oracle"];
    // Columns of the policies only `--rules` replays follow, each only when replayed.
    const OPTIONAL: [&str; 2] = ["latency_rules", "predictive_with_rules"];
    let mut out = String::from(
        "service,time,demand,forecast,forecast_lower_80,forecast_upper_80,forecast_lower_95,forecast_upper_95",
    );
    for p in POLICIES {
        out.push_str(&format!(",{p}_replicas,{p}_ready,{p}_violation,{p}_p95_seconds"));
    }
    out.push_str(",predicted_p95_seconds");
    for p in POLICIES {
        out.push_str(&format!(",{p}_cause"));
    }
    let optional: Vec<&str> = OPTIONAL
        .into_iter()
        .filter(|p| timelines.values().any(|t| t.replicas.contains_key(*p)))
        .collect();
    for p in &optional {
        out.push_str(&format!(
            ",{p}_replicas,{p}_ready,{p}_violation,{p}_p95_seconds,{p}_cause"
        ));
    }
    out.push('\n');
    let num = |x: f64| {
        if x.is_finite() {
            format!("{x:.6}")
        } else {
            String::new()
        }
    };
    for (name, t) in timelines {
        for i in 0..t.time.len() {
            out.push_str(&format!(
                "{name},{},{},{},{},{},{},{}",
                t.time[i],
                num(t.demand[i]),
                num(t.forecast[i]),
                num(t.forecast_lower_80[i]),
                num(t.forecast_upper_80[i]),
                num(t.forecast_lower_95[i]),
                num(t.forecast_upper_95[i])
            ));
            let run_cols = |p: &str| {
                let get = |m: &BTreeMap<String, Vec<u32>>| {
                    m.get(p)
                        .and_then(|v| v.get(i))
                        .map(|x| x.to_string())
                        .unwrap_or_default()
                };
                let viol = t
                    .violation
                    .get(p)
                    .and_then(|v| v.get(i))
                    .map(|b| (*b as u8).to_string())
                    .unwrap_or_default();
                let lat = t
                    .p95_latency
                    .get(p)
                    .and_then(|v| v.get(i))
                    .copied()
                    .flatten()
                    .map(num)
                    .unwrap_or_default();
                format!(",{},{},{viol},{lat}", get(&t.replicas), get(&t.ready))
            };
            let cause = |p: &str| {
                t.cause
                    .get(p)
                    .and_then(|v| v.get(i))
                    .map_or("", String::as_str)
                    .to_string()
            };
            for p in POLICIES {
                out.push_str(&run_cols(p));
            }
            let predicted = t.predicted_p95.get(i).copied().flatten().map(num).unwrap_or_default();
            out.push_str(&format!(",{predicted}"));
            for p in POLICIES {
                out.push(',');
                out.push_str(&cause(p));
            }
            for p in &optional {
                out.push_str(&run_cols(p));
                out.push(',');
                out.push_str(&cause(p));
            }
            out.push('\n');
        }
    }
    out
}

/// Loads `input` and evaluates it: the `scale evaluate` command minus printing.
pub fn evaluate_file(input: &Path, out: &Path, opts: &EvalOptions) -> Result<EvalReport> {
    opts.validate()?;
    let loaded = load_series(input, opts.gap_policy)?;
    let (report, timelines) = evaluate_all(input, &loaded, opts).map_err(|e| e.in_file(input))?;
    write_outputs(out, &report, &timelines)?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actuate::dry_run::DryRunTarget;
    use crate::core::time::ManualClock;
    use crate::govern::Mode;
    use crate::serve::actuation::Actuation;
    use crate::serve::config::ServeConfig;
    use crate::serve::publish::Shared;
    use crate::serve::service::ServiceLoop;
    use crate::serve::tick::{TickContext, tick};
    use crate::train::backtest::Family;
    use std::sync::Arc;

    /// Nine days of 5-minute demand with a daily cycle and a deterministic wiggle.
    fn daily(days: usize) -> Series {
        let n = days * 288;
        let values = (0..n)
            .map(|i| {
                let d = (i % 288) as f64 / 288.0 * std::f64::consts::TAU;
                60.0 + 40.0 * d.sin() + 3.0 * ((i * 7919) % 13) as f64 / 13.0
            })
            .collect();
        Series::new("web".to_string(), 1_700_000_100, 300, values)
    }

    #[tokio::test]
    async fn the_replay_forecasts_exactly_what_serve_does() {
        let series = daily(9);
        let train_end = 8 * 288;
        let opts = EvalOptions {
            startup: Some(60),
            tick: Some(30),
            retrain: Retrain::Never,
            ..EvalOptions::default()
        };
        let s = settings_for(&series, train_end, &opts);
        let history = series.slice(0, train_end);
        let mut bt = BacktestConfig::new(16);
        bt.families = vec![Family::SeasonalNaive, Family::Ets, Family::Mstl];

        // `scale train` writes v0001; the replay serves its candidate from memory.
        let models = tempfile::tempdir().unwrap();
        crate::train::train_series(&history, &bt, models.path(), crate::train::Retention::default()).unwrap();
        let written = crate::train::artifact::load_active(models.path(), "web").unwrap();
        let report = backtest(&history, &bt).unwrap();
        let in_memory = candidate_from(&history, &bt, report, None).unwrap().in_memory("v0001");
        // serde_json's float_roundtrip: the stored state loads bit for bit.
        assert_eq!(in_memory.state, written.state);
        assert_eq!(in_memory.manifest.version, written.manifest.version);

        let sim = SimConfig {
            start: series.time_at(train_end),
            end: series.time_at(train_end) + 3 * 3600,
            tick: s.tick_seconds,
            startup: s.startup_seconds,
            queue: QueueModel::new(s.capacity_per_replica, WORKERS_PER_REPLICA),
            slo_latency: s.slo_latency_seconds,
            initial_replicas: 2,
        };
        let mut path = ServePath::new(&series, train_end, &sim, &s, bt, in_memory);

        // `scale serve` on the written version, fetching from the same source.
        let cfg = ServeConfig::parse(&format!(
            "[defaults]\nmode = \"forecast-only\"\nmodels = {:?}\nlead = \"90s\"\nmax_metric_age = \"2m\"\n\
             [source.prometheus]\nurl = \"http://127.0.0.1:9\"\n\
             [[service]]\nname = \"web\"\nquery = \"{DEMAND_QUERY}\"\ncapacity_per_replica = 10\n\
             min_replicas = 1\nmax_replicas = 20\ntarget = {{ kind = \"dry-run\", replicas = 2 }}\n",
            models.path()
        ))
        .unwrap();
        let actuation = Actuation::new(
            Arc::new(DryRunTarget::new(2, None)),
            "dry-run",
            Mode::ForecastOnly,
            1,
            20,
            2,
        );
        let mut svc = ServiceLoop::new(&cfg, &cfg.services[0], Mode::ForecastOnly, actuation);
        let clock = Arc::new(ManualClock::new(sim.start));
        let ctx = TickContext {
            source: path.source.clone(),
            shared: Arc::new(Shared::new(&[])),
            clock: clock.clone(),
            history: s.history_seconds,
            after: None,
            budget: std::time::Duration::from_secs(30),
        };
        let lead = s.startup_seconds + s.tick_seconds;
        let mut compared = 0;
        for t in sim.ticks() {
            clock.set(t);
            let served = tick(&mut svc, &ctx).await.forecast_at_lead;
            let replayed = path.at(t).and_then(|a| a.point_at(t + lead));
            assert_eq!(served, replayed, "at {t}");
            compared += served.is_some() as usize;
        }
        assert_eq!(compared, sim.ticks().count(), "every tick forecast");
    }

    #[test]
    fn retraining_runs_daily_at_three_utc_and_never_when_told() {
        let day = 86_400;
        let cases = [
            (Retrain::Daily, 0, Some(3 * 3600)),
            (Retrain::Daily, 3 * 3600 - 1, Some(3 * 3600)),
            (Retrain::Daily, 3 * 3600, Some(day + 3 * 3600)),
            (Retrain::Daily, 10 * day + 5 * 3600, Some(11 * day + 3 * 3600)),
            (Retrain::Never, 0, None),
        ];
        for (r, t, want) in cases {
            assert_eq!(r.next_after(t), want, "{r:?} after {t}");
        }
        assert_eq!("daily".parse::<Retrain>(), Ok(Retrain::Daily));
        assert!(
            "weekly"
                .parse::<Retrain>()
                .unwrap_err()
                .contains("\"daily\" or \"never\"")
        );
    }

    fn rule_yaml(name: &str, target: &str, upper: &str, lower: &str) -> String {
        format!(
            "apiVersion: scale.autoscaling/v1\nkind: LatencyBasedAutoScaler\nmetadata:\n  name: {name}\nspec:\n  target:\n    serviceName: {target}\n    deploymentName: {target}\n  latencyThreshold:\n    upperBound: {upper}\n    lowerBound: {lower}\n  step: 2\n"
        )
    }

    fn rules(docs: &[(&str, &str)]) -> Vec<Rule> {
        let text: Vec<String> = docs.iter().map(|(n, t)| rule_yaml(n, t, "500ms", "100ms")).collect();
        crate::reactive::rules::spec::parse_rules(std::path::Path::new("r.yaml"), &text.join("---\n")).unwrap()
    }

    /// (rules as (name, target), series) → bound (series → rule) or the error's text.
    type BindCase = (
        Vec<(&'static str, &'static str)>,
        Vec<&'static str>,
        std::result::Result<Vec<(&'static str, &'static str)>, &'static str>,
    );

    #[test]
    fn rules_bind_to_the_series_they_name() {
        let cases: Vec<BindCase> = vec![
            (vec![("a", "web")], vec!["web", "api"], Ok(vec![("web", "a")])),
            (vec![("a", "frontend")], vec!["nyc_taxi"], Ok(vec![("nyc_taxi", "a")])),
            (
                vec![("a", "web"), ("b", "api")],
                vec!["web", "api"],
                Ok(vec![("api", "b"), ("web", "a")]),
            ),
            (
                vec![("a", "frontend")],
                vec!["web", "api"],
                Err("r.yaml:1: rule a targets deployment \"frontend\""),
            ),
            (
                vec![("a", "web"), ("b", "x")],
                vec!["web"],
                Err("rule b targets deployment \"x\""),
            ),
            (
                vec![("a", "web"), ("b", "web")],
                vec!["web"],
                Err("both target series \"web\""),
            ),
            (vec![], vec!["web"], Ok(vec![])),
        ];
        // `spec.target.service` names the series, as it names the service in `scale serve`.
        let attached = rule_yaml("a", "frontend", "500ms", "100ms")
            .replace("deploymentName: frontend", "deploymentName: frontend\n    service: web");
        let rs = crate::reactive::rules::spec::parse_rules(std::path::Path::new("r.yaml"), &attached).unwrap();
        let got: Vec<String> = bind_rules(&rs, &["api", "web"]).unwrap().into_keys().collect();
        assert_eq!(got, ["web"]);
        for (docs, names, want) in cases {
            let rs = rules(&docs);
            let got = bind_rules(&rs, &names);
            match want {
                Ok(pairs) => {
                    let got: Vec<(String, String)> =
                        got.unwrap().into_iter().map(|(k, r)| (k, r.name.clone())).collect();
                    let pairs: Vec<(String, String)> =
                        pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
                    assert_eq!(got, pairs, "{docs:?} on {names:?}");
                }
                Err(text) => {
                    let e = got.unwrap_err().to_string();
                    assert!(e.contains(text), "{docs:?} on {names:?}: {e}");
                }
            }
        }
    }

    /// A daily series, the replay options of the rule tests, and a rule "web-latency" with its
    /// bounds (upper, lower) as multiples of the derived SLO, so it acts on this service's
    /// latency scale.
    fn rule_case() -> (Cleaned, EvalOptions, impl Fn(f64, f64) -> Rule) {
        let series = daily(9);
        let opts = EvalOptions {
            startup: Some(60),
            tick: Some(30),
            retrain: Retrain::Never,
            ..EvalOptions::default()
        };
        let train_end = series.len() - (series.len() as f64 * 0.2).ceil() as usize;
        let slo = settings_for(&series, train_end, &opts).slo_latency_seconds;
        let rule = move |upper: f64, lower: f64| {
            let ms = |f: f64| format!("{:.3}ms", slo * f * 1000.0);
            let text = rule_yaml("web-latency", "web", &ms(upper), &ms(lower));
            crate::reactive::rules::spec::parse_rules(std::path::Path::new("r.yaml"), &text)
                .unwrap()
                .remove(0)
        };
        (Cleaned { series, issues: vec![] }, opts, rule)
    }

    #[test]
    fn latency_rules_scale_up_on_slow_windows_and_down_on_fast_ones() {
        let (cleaned, opts, rule) = rule_case();
        let rule = rule(0.9, 0.5);
        let (report, timeline) = evaluate_series(&cleaned, &opts, Some(&rule)).unwrap();
        let r = report.policies.latency_rules.as_ref().expect("latency_rules replayed");
        assert!(
            report
                .settings
                .latency_rule
                .as_deref()
                .unwrap()
                .starts_with("web-latency (r.yaml:1)")
        );
        let replicas = &timeline.replicas["latency_rules"];
        let ups = replicas.windows(2).filter(|w| w[1] > w[0]).count();
        let downs = replicas.windows(2).filter(|w| w[1] < w[0]).count();
        assert!(ups > 3 && downs > 3, "follows the daily cycle: {ups} up, {downs} down");
        // Each action moves by the rule's step (or to a bound).
        assert!(replicas.windows(2).all(|w| w[1].abs_diff(w[0]) <= 2), "{replicas:?}");
        // Attributed like the other policies.
        let by_cause: f64 = r.violations_by_cause.values().sum();
        assert!(
            (by_cause - r.slo_violation_minutes).abs() < 1e-6,
            "{by_cause} vs {}",
            r.slo_violation_minutes
        );
        assert_eq!(timeline.cause["latency_rules"].len(), replicas.len());
        let csv = timeline_csv(&BTreeMap::from([("web".to_string(), timeline)]));
        let header = csv.lines().next().unwrap();
        assert!(header.contains(",latency_rules_replicas,latency_rules_ready,latency_rules_violation,latency_rules_p95_seconds,latency_rules_cause"), "{header}");
        assert!(header.ends_with(",predictive_with_rules_replicas,predictive_with_rules_ready,predictive_with_rules_violation,predictive_with_rules_p95_seconds,predictive_with_rules_cause"), "{header}");
    }

    /// `--rules` also replays serve's path for a service with the rule in `[rules]`: the forecast
    /// with the rule's verdict in the controller's inputs. A rule whose upper bound is always
    /// breached raises that policy above the forecast alone; one that is never breached leaves
    /// the forecast's scale-ups as they are.
    #[test]
    fn rules_attached_to_the_forecast_replay_serves_path() {
        let (cleaned, opts, rule_at) = rule_case();
        // (upper, lower as multiples of the SLO) → attached replica-hours vs the forecast alone
        type Case = (f64, f64, fn(f64, f64) -> bool);
        let cases: [Case; 2] = [
            (0.01, 0.005, |with, alone| with > alone),
            (1e6, 1e-6, |with, alone| with >= alone),
        ];
        for (upper, lower, want) in cases {
            let rule = rule_at(upper, lower);
            let (report, timeline) = evaluate_series(&cleaned, &opts, Some(&rule)).unwrap();
            let p = &report.policies;
            let with = p
                .predictive_with_rules
                .as_ref()
                .expect("predictive_with_rules replayed");
            assert!(
                want(with.replica_hours, p.predictive.replica_hours),
                "upper {upper}× SLO: {} with the rule vs {} alone",
                with.replica_hours,
                p.predictive.replica_hours
            );
            let by_cause: f64 = with.violations_by_cause.values().sum();
            assert!((by_cause - with.slo_violation_minutes).abs() < 1e-6);
            let (ups_with, ups_alone) = (
                &timeline.replicas["predictive_with_rules"],
                &timeline.replicas["predictive"],
            );
            assert_eq!(ups_with.len(), ups_alone.len());
            if upper > 1.0 {
                // Never breached: every scale-up of the forecast alone happens with the rule too.
                for k in 1..ups_alone.len() {
                    if ups_alone[k] > ups_alone[k - 1] && ups_with[k - 1] == ups_alone[k - 1] {
                        assert!(
                            ups_with[k] >= ups_alone[k],
                            "tick {k}: {} vs {}",
                            ups_with[k],
                            ups_alone[k]
                        );
                    }
                }
            }
        }
    }
}
