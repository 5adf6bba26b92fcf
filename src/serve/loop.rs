//! The live control loop: one tokio task per service. Each tick fetches recent demand, forecasts
//! from the loaded artifact, decides through [`Controller`] and actuates the target. A failed or
//! stale fetch becomes an observation without demand, so the governor's stale-data rules apply.

use super::config::{ServeConfig, ServiceConfig, TargetConfig, mode_label};
use super::metrics::Metrics;
use super::registry::{Registry, Reload};
use super::tracker::Tracker;
use crate::actuate::{Actuator, DryRun};
use crate::control::{ControlConfig, Controller, DecisionRecord, Observation, PolicyKind};
use crate::forecast::Forecast;
use crate::govern::{GovernorConfig, Mode, Reason};
use crate::observe::MetricSource;
use crate::plan::{ForecastWindow, PlanConfig};
use crate::reactive::hpa::HpaUtilization;
use crate::series::GapPolicy;
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

/// Unix seconds; injected so tests drive time.
pub trait Clock: Send + Sync {
    fn now(&self) -> i64;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    }
}

/// Recent decisions kept for /decisions.
pub const DECISIONS_KEPT: usize = 1000;

/// A decision with the service it was for and the model version used.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceDecision {
    pub service: String,
    pub model_version: Option<String>,
    #[serde(flatten)]
    pub record: DecisionRecord,
    /// What the target did: `{target, outcome, message, attempts}` (docs/serve.md).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actuation: Option<super::actuation::ActuationRecord>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ServiceStatus {
    pub model_version: Option<String>,
    pub ticks: u64,
    pub last_error: Option<String>,
}

/// What the HTTP server reads.
pub struct Shared {
    pub decisions: Mutex<VecDeque<ServiceDecision>>,
    pub status: Mutex<BTreeMap<String, ServiceStatus>>,
    pub metrics: Metrics,
}

impl Shared {
    pub fn new(services: &[String]) -> Self {
        Shared {
            decisions: Mutex::new(VecDeque::new()),
            status: Mutex::new(services.iter().map(|s| (s.clone(), ServiceStatus::default())).collect()),
            metrics: Metrics::new(),
        }
    }

    /// None when ready; otherwise why not.
    pub fn not_ready(&self) -> Option<String> {
        let st = self.status.lock().unwrap_or_else(|e| e.into_inner());
        let waiting: Vec<String> = st
            .iter()
            .filter_map(|(name, s)| match (&s.model_version, s.ticks) {
                (None, _) => Some(format!(
                    "{name}: no model loaded{}",
                    s.last_error.as_ref().map(|e| format!(" ({e})")).unwrap_or_default()
                )),
                (Some(_), 0) => Some(format!("{name}: no tick completed")),
                _ => None,
            })
            .collect();
        (!waiting.is_empty()).then(|| waiting.join("; "))
    }

    /// A service started at runtime (a ForecastScaler): /readyz waits for it too.
    pub fn add_service(&self, name: &str) {
        let mut st = self.status.lock().unwrap_or_else(|e| e.into_inner());
        st.entry(name.to_string()).or_default();
    }

    /// A stopped runtime service: gone from /readyz and its gauges gone from /metrics. Its past
    /// decisions stay in /decisions and its counters in /metrics (history, not state).
    pub fn remove_service(&self, name: &str) {
        self.status.lock().unwrap_or_else(|e| e.into_inner()).remove(name);
        let m = &self.metrics;
        let one = vec![("service".to_string(), name.to_string())];
        for g in [&m.forecast_demand, &m.observed_demand, &m.abs_error] {
            g.remove(&one);
        }
        for policy in ["desired", "current", "predictive", "reactive"] {
            m.replicas
                .remove(&vec![("service".into(), name.into()), ("policy".into(), policy.into())]);
        }
    }

    fn push(&self, d: ServiceDecision) {
        let mut q = self.decisions.lock().unwrap_or_else(|e| e.into_inner());
        if q.len() >= DECISIONS_KEPT {
            q.pop_front();
        }
        q.push_back(d);
    }
}

/// Recent demand as fetched: values on a regular grid, the last one at `last_time`.
#[derive(Debug, Clone, PartialEq)]
pub struct Recent {
    pub values: Vec<f64>,
    pub step: i64,
    pub last_time: i64,
}

/// The planner/governor settings for one service.
pub fn control_config(cfg: &ServeConfig, s: &ServiceConfig, mode: Mode) -> ControlConfig {
    let mut governor = GovernorConfig::hpa_default(s.min_replicas, s.max_replicas);
    governor.mode = mode;
    governor.max_metric_age_seconds = cfg.max_metric_age_seconds();
    ControlConfig {
        policy: PolicyKind::Predictive,
        plan: PlanConfig {
            quantile: cfg.defaults.quantile,
            capacity_per_replica: s.capacity_per_replica,
            target_utilization: cfg.defaults.target_utilization,
            load_per_replica_at_slo: None,
        },
        hpa: HpaUtilization {
            target_utilization: cfg.defaults.target_utilization,
            tolerance: 0.1,
        },
        governor,
        lead_seconds: cfg.lead_seconds(),
    }
}

/// One service's loop state. `step` is pure given the fetched data and the time.
pub struct ServiceLoop {
    pub name: String,
    pub query: String,
    pub registry: Registry,
    pub controller: Controller,
    pub target: DryRun,
    /// The configured target's kind, the `target` label in /metrics.
    pub target_kind: &'static str,
    /// The previous tick's forecast, to score it against what was then observed.
    last_forecast: Option<(Forecast, i64, i64)>,
    /// The last forecast computed and what it was computed from.
    cached: Option<(ForecastKey, Forecast, i64)>,
    /// Forecasts computed (state updates or, without a serving state, model refits).
    pub forecasts_computed: u64,
    /// The active model's serving state, continued point by point.
    tracker: Option<Tracker>,
    /// Time spent computing forecasts (cache hits included), for the benchmark.
    pub forecast_seconds: f64,
}

/// What a forecast depends on: the model version, where the data ends, its newest value.
#[derive(Debug, Clone, PartialEq)]
struct ForecastKey {
    version: String,
    origin: i64,
    last: Option<u64>,
}

/// The numbers a tick produced beside its record (for /metrics).
#[derive(Debug, Clone, PartialEq)]
pub struct TickOutput {
    pub record: DecisionRecord,
    /// Point forecast at now + lead.
    pub forecast_at_lead: Option<f64>,
    /// |forecast − observed| for the latest sample, from the previous tick's forecast.
    pub abs_error: Option<f64>,
    /// What the live target did with the decision (None from the sync `step`).
    pub actuation: Option<super::actuation::ActuationRecord>,
}

impl ServiceLoop {
    pub fn new(cfg: &ServeConfig, s: &ServiceConfig, mode: Mode) -> Self {
        let start = match &s.target {
            Some(TargetConfig::DryRun { replicas, .. }) => *replicas,
            _ => s.min_replicas,
        };
        ServiceLoop {
            name: s.name.clone(),
            query: s.query.clone(),
            registry: Registry::new(&cfg.defaults.models, &s.name),
            controller: Controller::new(control_config(cfg, s, mode)),
            target: DryRun::new(start),
            target_kind: s.target.as_ref().map_or("dry-run", |t| t.label()),
            last_forecast: None,
            cached: None,
            forecasts_computed: 0,
            tracker: None,
            forecast_seconds: 0.0,
        }
    }

    /// Extra steps forecast so later ticks without new data still cover `now + lead`.
    fn slack(&self, step: i64) -> usize {
        (self.controller.config.governor.max_metric_age_seconds / step.max(1)).clamp(0, 1000) as usize + 1
    }

    /// Decides one tick from `recent` (None: the fetch failed) at `now`, and actuates the
    /// in-memory dry-run target.
    pub fn step(&mut self, recent: Option<&Recent>, now: i64) -> TickOutput {
        let mut out = self.decide(recent, now, self.target.current());
        if out.record.applied {
            let r = self.target.apply(out.record.desired_replicas);
            self.controller.record_actuation(now, r.is_ok());
            if let Err(e) = r {
                out.record.applied = false;
                out.record.actuation_error = Some(e);
            }
        }
        out
    }

    /// The pure part of a tick: the decision for `current` replicas, not yet applied.
    pub fn decide(&mut self, recent: Option<&Recent>, now: i64, current: u32) -> TickOutput {
        let lead = self.controller.config.lead_seconds;
        let art = self.registry.current();
        // A capacity model trained from spans replaces the configured capacity per replica.
        self.controller.config.plan.load_per_replica_at_slo = art
            .as_ref()
            .and_then(|a| a.state.capacity.as_ref())
            .and_then(|c| c.load_per_replica_at_slo);
        let demand = recent.and_then(|r| r.values.last().copied());
        let age = recent.map(|r| (now - r.last_time).max(0)).unwrap_or(i64::MAX / 4);
        let abs_error = match (&self.last_forecast, recent, demand) {
            (Some((f, origin, step)), Some(r), Some(d)) => {
                let i = (r.last_time - origin) as f64 / *step as f64;
                (i >= 0.0 && (i.round() as usize) < f.len()).then(|| (f.point[i.round() as usize] - d).abs())
            }
            _ => None,
        };
        // Forecast from the model's serving state continued by the recent data (no refit). A
        // model without one (the MLP) refits on its stored history continued by the recent
        // data. Either runs only when the model or the data changed.
        if let Some(a) = &art
            && self.tracker.as_ref().is_none_or(|t| t.version() != a.manifest.version)
        {
            self.tracker = Some(
                self.registry
                    .take_tracker()
                    .filter(|t| t.version() == a.manifest.version)
                    .unwrap_or_else(|| Tracker::for_artifact(a)),
            );
        }
        let started = std::time::Instant::now();
        let forecast = art.as_ref().and_then(|a| {
            let step = a.state.step;
            let origin = match (recent, &self.tracker) {
                (Some(r), _) if !r.values.is_empty() => r.last_time + step,
                (_, Some(t)) if t.is_online() => t.committed_end(),
                _ => a.state.history_start + a.state.history.len() as i64 * step,
            };
            let h = ((now + lead - origin).div_euclid(step) + 3).max(3) as usize;
            let key = ForecastKey {
                version: a.manifest.version.clone(),
                origin,
                last: recent.and_then(|r| r.values.last()).map(|v| v.to_bits()),
            };
            if let Some((k, f, o)) = &self.cached
                && *k == key
                && f.len() >= h
            {
                return Some((f.clone(), *o, step));
            }
            let horizon = (h + self.slack(step)).min(100_000);
            let forecast = match self.tracker.as_mut().and_then(|t| t.forecast(recent, horizon)) {
                Some(r) => r.map(|(f, o)| (a.state.calibrate(f), o)),
                None => match recent {
                    Some(r) if !r.values.is_empty() => {
                        let keep = a.state.history.len().saturating_sub(r.values.len());
                        let mut y = Vec::with_capacity(keep + r.values.len());
                        y.extend_from_slice(&a.state.history[a.state.history.len() - keep..]);
                        y.extend_from_slice(&r.values);
                        a.forecast(&y, horizon)
                    }
                    _ => a.forecast(&a.state.history, horizon),
                }
                .map(|f| (f, origin)),
            };
            self.forecasts_computed += 1;
            match forecast {
                Ok((f, o)) => {
                    self.cached = Some((key, f.clone(), o));
                    Some((f, o, step))
                }
                Err(e) => {
                    tracing::warn!(service = %self.name, "forecast failed: {e}");
                    None
                }
            }
        });
        self.forecast_seconds += started.elapsed().as_secs_f64();
        let obs = Observation {
            now,
            current_replicas: current,
            ready_replicas: current,
            demand,
            metric_age_seconds: age,
        };
        let window = forecast.as_ref().map(|(f, origin, step)| ForecastWindow {
            forecast: f,
            origin: *origin,
            step: *step,
        });
        let forecast_at_lead = forecast.as_ref().and_then(|(f, origin, step)| {
            let i = (now + lead - origin).div_euclid(*step).max(0) as usize;
            f.point.get(i).copied()
        });
        let record = self.controller.decide(obs, window);
        self.last_forecast = forecast;
        TickOutput {
            record,
            forecast_at_lead,
            abs_error,
            actuation: None,
        }
    }

    /// Fetches the last `history` seconds on the model's step; None when the fetch fails or
    /// returns nothing usable (logged).
    pub async fn fetch(&self, source: &dyn MetricSource, now: i64, history: i64) -> Result<Recent, String> {
        let step = self.registry.current().map(|a| a.state.step).unwrap_or(60).max(1);
        // End exactly at now so the grid lands on the freshest samples.
        let start = now - (history / step).max(1) * step;
        let got = source
            .range(&self.query, start, now, step)
            .await
            .map_err(|e| e.to_string())?;
        let one = match got.as_slice() {
            [one] => one,
            [] => return Err(format!("query {:?} returned no series", self.query)),
            many => {
                return Err(format!(
                    "query {:?} returned {} series; aggregate it to one, e.g. sum(...)",
                    self.query,
                    many.len()
                ));
            }
        };
        let c = one
            .clean(
                &format!("prometheus query {:?}", self.query),
                &self.name,
                GapPolicy::default(),
            )
            .map_err(|e| e.to_string())?;
        let s = c.series;
        if s.values.is_empty() {
            return Err(format!("query {:?}: no samples", self.query));
        }
        Ok(Recent {
            last_time: s.start + (s.values.len() as i64 - 1) * s.step,
            step: s.step,
            values: s.values,
        })
    }
}

/// Records a tick's outcome in /metrics, /decisions and the log.
pub fn publish(shared: &Shared, svc: &ServiceLoop, out: TickOutput, seconds: f64) {
    let r = &out.record;
    let m = &shared.metrics;
    let name = svc.name.as_str();
    m.decisions
        .get_or_create(&vec![
            ("service".into(), name.into()),
            ("mode".into(), mode_label(r.mode).into()),
        ])
        .inc();
    for s in r.steps.iter().filter(|s| s.reason != Reason::DesiredWithinRange) {
        m.clamps
            .get_or_create(&vec![
                ("service".into(), name.into()),
                ("reason".into(), reason_label(s.reason)),
            ])
            .inc();
    }
    let svc_label = vec![("service".to_string(), name.to_string())];
    if let Some(f) = out.forecast_at_lead {
        m.forecast_demand.get_or_create(&svc_label).set(f);
    }
    if let Some(d) = r.demand {
        m.observed_demand.get_or_create(&svc_label).set(d);
    }
    if let Some(e) = out.abs_error {
        m.abs_error.get_or_create(&svc_label).set(e);
    }
    for (policy, v) in [
        ("desired", Some(r.desired_replicas)),
        ("current", Some(r.current_replicas)),
        ("predictive", r.predictive),
        ("reactive", r.reactive),
    ] {
        if let Some(v) = v {
            m.replicas
                .get_or_create(&vec![("service".into(), name.into()), ("policy".into(), policy.into())])
                .set(v as f64);
        }
    }
    m.tick_seconds.observe(seconds);
    if let Some(a) = &out.actuation {
        m.actuations
            .get_or_create(&vec![
                ("service".into(), name.into()),
                ("target".into(), svc.target_kind.into()),
                ("outcome".into(), a.outcome.into()),
            ])
            .inc();
    }
    let reasons: Vec<String> = r
        .steps
        .iter()
        .filter(|s| s.reason != Reason::DesiredWithinRange)
        .map(|s| format!("{}:{}", s.step, reason_label(s.reason)))
        .collect();
    tracing::info!(
        service = name,
        desired = r.desired_replicas,
        current = r.current_replicas,
        applied = r.applied,
        mode = mode_label(r.mode),
        demand = ?r.demand,
        forecast_peak = ?r.forecast_peak,
        reasons = %reasons.join(","),
        "decision"
    );
    let version = svc.registry.current().map(|a| a.manifest.version.clone());
    {
        let mut st = shared.status.lock().unwrap_or_else(|e| e.into_inner());
        let e = st.entry(name.to_string()).or_default();
        e.ticks += 1;
        e.model_version = version.clone();
    }
    shared.push(ServiceDecision {
        service: name.to_string(),
        model_version: version,
        record: out.record,
        actuation: out.actuation,
    });
}

/// The reason's name as serialized (e.g. `StaleMetrics`).
pub fn reason_label(r: Reason) -> String {
    serde_json::to_value(r)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{r:?}"))
}

/// Told about every decision of one service, after it was actuated and before it is published
/// (a ForecastScaler's status writer).
#[async_trait::async_trait]
pub trait AfterDecision: Send + Sync {
    async fn decided(&self, record: &DecisionRecord, model_version: Option<String>);
}

/// Runs one service until `ticks` are done (None: forever) or shutdown flips.
#[allow(clippy::too_many_arguments)]
pub async fn run_service(
    svc: ServiceLoop,
    actuation: super::actuation::Actuation,
    source: Arc<dyn MetricSource>,
    shared: Arc<Shared>,
    clock: Arc<dyn Clock>,
    tick: std::time::Duration,
    history: i64,
    ticks: Option<u64>,
    shutdown: tokio::sync::watch::Receiver<bool>,
) {
    run_service_with(
        svc, actuation, source, shared, clock, tick, history, ticks, shutdown, None,
    )
    .await
}

/// [`run_service`] with a hook called after each decision.
#[allow(clippy::too_many_arguments)]
pub async fn run_service_with(
    mut svc: ServiceLoop,
    mut actuation: super::actuation::Actuation,
    source: Arc<dyn MetricSource>,
    shared: Arc<Shared>,
    clock: Arc<dyn Clock>,
    tick: std::time::Duration,
    history: i64,
    ticks: Option<u64>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
    after: Option<Arc<dyn AfterDecision>>,
) {
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut done = 0u64;
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = shutdown.changed() => break,
        }
        if *shutdown.borrow() {
            break;
        }
        let started = std::time::Instant::now();
        let reload = svc.registry.poll();
        {
            let mut st = shared.status.lock().unwrap_or_else(|e| e.into_inner());
            let e = st.entry(svc.name.clone()).or_default();
            match &reload {
                Reload::Failed(m) => e.last_error = Some(m.clone()),
                Reload::Loaded(v) => {
                    e.last_error = None;
                    e.model_version = Some(v.clone());
                }
                Reload::Unchanged => {}
            }
        }
        let now = clock.now();
        let recent = match svc.fetch(source.as_ref(), now, history).await {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::warn!(service = %svc.name, "demand fetch failed: {e}");
                None
            }
        };
        let out = actuation.tick(&mut svc, recent.as_ref(), now).await;
        if let Some(a) = &after {
            let version = svc.registry.current().map(|a| a.manifest.version.clone());
            a.decided(&out.record, version).await;
        }
        publish(&shared, &svc, out, started.elapsed().as_secs_f64());
        done += 1;
        if ticks.is_some_and(|n| done >= n) {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::config::ServeConfig;
    use crate::serve::registry::tests::write_version;

    fn cfg(models: &std::path::Path, mode: &str) -> ServeConfig {
        ServeConfig::parse(&format!(
            "[defaults]\nmode = \"{mode}\"\nmodels = {models:?}\nlead = \"2h\"\nmax_metric_age = \"10m\"\n\
             [source.prometheus]\nurl = \"http://127.0.0.1:9\"\n\
             [[service]]\nname = \"web\"\nquery = \"up\"\ncapacity_per_replica = 10\nmin_replicas = 1\nmax_replicas = 20\n\
             target = {{ kind = \"dry-run\", replicas = 2 }}\n"
        ))
        .unwrap()
    }

    fn service(models: &std::path::Path, mode: &str) -> ServiceLoop {
        let c = cfg(models, mode);
        let mode = Mode::from(c.defaults.mode);
        let mut s = ServiceLoop::new(&c, &c.services[0], mode);
        assert!(matches!(s.registry.poll(), Reload::Loaded(_)));
        s
    }

    #[test]
    fn fresh_data_forecasts_and_plans() {
        let d = tempfile::tempdir().unwrap();
        write_version(d.path(), "web", true);
        let mut s = service(d.path(), "forecast-only");
        let now = 200 * 3600;
        let recent = Recent {
            values: (0..3).map(|i| 30.0 + i as f64).collect(),
            step: 3600,
            last_time: now - 60,
        };
        let out = s.step(Some(&recent), now);
        let r = &out.record;
        assert_eq!(r.mode, Mode::ForecastOnly);
        assert!(!r.applied);
        assert_eq!(r.demand, Some(32.0));
        assert_eq!(r.metric_age_seconds, 60);
        assert!(r.predictive.is_some() && r.forecast_peak.is_some(), "{r:?}");
        assert!(out.forecast_at_lead.is_some());
        assert_eq!(s.target.applied, Vec::<u32>::new(), "forecast-only never actuates");
        // The next tick scores the previous forecast.
        let recent2 = Recent {
            last_time: now + 3600 - 60,
            ..recent
        };
        assert!(s.step(Some(&recent2), now + 3600).abs_error.is_some());
    }

    #[test]
    fn forecast_is_recomputed_only_for_new_data_or_model() {
        let d = tempfile::tempdir().unwrap();
        write_version(d.path(), "web", true);
        let mut s = service(d.path(), "forecast-only");
        let now = 200 * 3600;
        let recent = Recent {
            values: vec![30.0, 31.0, 32.0],
            step: 3600,
            last_time: now - 60,
        };
        let first = s.step(Some(&recent), now).record;
        // Same data 30 s later: the cached forecast plans the same peak.
        let again = s.step(Some(&recent), now + 30).record;
        assert_eq!(s.forecasts_computed, 1);
        assert_eq!(first.forecast_peak, again.forecast_peak);
        assert!(again.forecast_peak.is_some());
        // A revised newest value, a new point, or a new model version refits.
        let revised = Recent {
            values: vec![30.0, 31.0, 40.0],
            ..recent.clone()
        };
        s.step(Some(&revised), now + 60);
        assert_eq!(s.forecasts_computed, 2);
        let next = Recent {
            values: vec![31.0, 40.0, 33.0],
            last_time: now + 3600 - 60,
            ..recent.clone()
        };
        s.step(Some(&next), now + 3600);
        assert_eq!(s.forecasts_computed, 3);
        write_version(d.path(), "web", true);
        assert!(matches!(s.registry.poll(), Reload::Loaded(_)));
        s.step(Some(&next), now + 3630);
        assert_eq!(s.forecasts_computed, 4);
        // A tick so late that the cached forecast no longer reaches now + lead refits too.
        s.step(Some(&next), now + 3600 + 40 * 3600);
        assert_eq!(s.forecasts_computed, 5);
    }

    #[test]
    fn failed_fetch_is_stale_not_a_crash() {
        let d = tempfile::tempdir().unwrap();
        write_version(d.path(), "web", true);
        let mut s = service(d.path(), "auto");
        let r = s.step(None, 200 * 3600).record;
        assert_eq!(r.demand, None);
        assert_eq!(r.desired_replicas, 2, "holds the current size: {r:?}");
        // Old data: the governor's stale-metrics step fires and nothing scales down.
        let old = Recent {
            values: vec![1.0, 1.0],
            step: 3600,
            last_time: 100 * 3600,
        };
        let r = s.step(Some(&old), 200 * 3600).record;
        assert!(
            r.steps.iter().any(|st| st.reason == Reason::StaleMetrics),
            "{:?}",
            r.steps
        );
        assert!(r.desired_replicas >= 2);
    }

    #[test]
    fn auto_mode_actuates_the_dry_run_target() {
        let d = tempfile::tempdir().unwrap();
        write_version(d.path(), "web", true);
        let mut s = service(d.path(), "auto");
        let now = 200 * 3600;
        // Demand far above 2 replicas × 10 req/s: scale up, applied to the dry-run target.
        let recent = Recent {
            values: vec![150.0; 3],
            step: 3600,
            last_time: now - 30,
        };
        let r = s.step(Some(&recent), now).record;
        assert!(r.applied && r.desired_replicas > 2, "{r:?}");
        assert_eq!(s.target.applied, vec![r.desired_replicas]);
    }

    #[test]
    fn trained_capacity_replaces_the_configured_one() {
        // Same demand, two artifacts: the one carrying a span-fitted capacity of 50 req/s per
        // replica at the SLO plans far fewer replicas than the configured 10 req/s.
        let plan = |capacity| {
            let d = tempfile::tempdir().unwrap();
            crate::serve::registry::tests::write_version_with(d.path(), "web", true, capacity);
            let mut s = service(d.path(), "forecast-only");
            let now = 200 * 3600;
            let recent = Recent {
                values: vec![150.0; 3],
                step: 3600,
                last_time: now - 30,
            };
            let r = s.step(Some(&recent), now).record;
            // The planner's own number, before the governor's scale-up rate limit.
            (r.predictive.unwrap(), s.controller.config.plan.load_per_replica_at_slo)
        };
        let model = crate::capacity_fit::CapacityModel::fit(&[(10.0, 0.01, 0.02), (60.0, 0.02, 0.2)]).unwrap();
        let trained = crate::capacity_fit::TrainedCapacity {
            slo_seconds: 0.1,
            load_per_replica_at_slo: Some(50.0),
            source: "spans.csv (web)".into(),
            model,
        };
        let (configured, none) = plan(None);
        let (fitted, at_slo) = plan(Some(trained));
        assert_eq!((none, at_slo), (None, Some(50.0)));
        assert!(fitted < configured, "{fitted} vs {configured}");

        // 7 req/s per replica (10 × utilization 0.7) against 50: about a seventh of the replicas.
        assert!(fitted <= (configured * 7).div_ceil(50) + 1, "{fitted} vs {configured}");
    }
}
