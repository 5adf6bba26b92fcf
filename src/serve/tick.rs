//! One tick of one service, in order: fetch → forecast → decide → actuate → publish; and the
//! loop that runs ticks until told to stop. A failed or stale fetch becomes an observation
//! without demand, so the governor's stale-data rules apply.

use super::actuation::ActuationRecord;
use super::publish::{Shared, publish};
use super::service::ServiceLoop;
use crate::control::{DecisionRecord, Inputs, Observation};
use crate::core::time::Clock;
use crate::observe::MetricSource;
use std::sync::Arc;

/// What every tick of a service needs beside the service itself.
#[derive(Clone)]
pub struct TickContext {
    pub source: Arc<dyn MetricSource>,
    pub shared: Arc<Shared>,
    pub clock: Arc<dyn Clock>,
    /// Seconds of recent demand fetched per tick.
    pub history: i64,
    /// Told about each decision before it is published (a ForecastScaler's status writer).
    pub after: Option<Arc<dyn AfterDecision>>,
}

/// Told about every decision of one service, after it was actuated and before it is published
/// (a ForecastScaler's status writer).
#[async_trait::async_trait]
pub trait AfterDecision: Send + Sync {
    async fn decided(&self, record: &DecisionRecord, model_version: Option<String>);
}

/// The numbers a tick produced beside its record (for /metrics).
#[derive(Debug, Clone, PartialEq)]
pub struct TickOutput {
    pub record: DecisionRecord,
    /// Point forecast at now + lead.
    pub forecast_at_lead: Option<f64>,
    /// |forecast − observed| for the latest sample, from the previous tick's forecast.
    pub abs_error: Option<f64>,
    /// What the target did with the decision.
    pub actuation: Option<ActuationRecord>,
}

/// One tick: fetch → forecast → decide → actuate → publish. Returns what it published.
pub async fn tick(svc: &mut ServiceLoop, ctx: &TickContext) -> TickOutput {
    let started = std::time::Instant::now();

    // Fetch: a newly published model, the recent demand, the target's size and bounds.
    svc.reload(&ctx.shared);
    let now = ctx.clock.now();
    let recent = match svc.fetch(ctx.source.as_ref(), now, ctx.history).await {
        Ok(r) => Some(r),
        Err(e) => {
            tracing::warn!(service = %svc.name, "demand fetch failed: {e}");
            None
        }
    };
    let reading = svc.actuation.read().await;

    // Forecast: the model's serving state continued by the fetched points.
    let forecasted = svc
        .forecaster
        .forecast(&mut svc.registry, recent.as_ref(), &svc.name, now);

    // Decide: pure, with the bounds, mode and trained capacity in force passed in.
    let model = svc.registry.current();
    let inputs = Inputs {
        limits: svc.actuation.limits(now),
        // A capacity model trained from spans replaces the configured capacity per replica.
        load_per_replica_at_slo: model
            .as_ref()
            .and_then(|a| a.state.capacity.as_ref())
            .and_then(|c| c.load_per_replica_at_slo),
    };
    let current = svc.actuation.current();
    let obs = Observation {
        now,
        current_replicas: current,
        ready_replicas: current,
        demand: recent.as_ref().and_then(|r| r.values.last().copied()),
        metric_age_seconds: recent
            .as_ref()
            .map(|r| (now - r.last_time).max(0))
            .unwrap_or(i64::MAX / 4),
    };
    let window = forecasted.forecast.as_ref().map(|f| f.window());
    let mut record = svc.controller.decide(obs, window, &inputs);

    // Actuate: apply what the governor allowed, report the outcome back to it.
    let (actuation, ok) = svc.actuation.apply(&mut record, &reading, now, &svc.name).await;
    if let Some(ok) = ok {
        svc.controller.record_actuation(now, ok);
    }

    // Publish: the status hook, /metrics, /decisions, the log.
    let out = TickOutput {
        record,
        forecast_at_lead: forecasted.at_lead,
        abs_error: forecasted.abs_error,
        actuation: Some(actuation),
    };
    if let Some(a) = &ctx.after {
        a.decided(&out.record, model.map(|a| a.manifest.version.clone())).await;
    }
    publish(&ctx.shared, svc, out.clone(), started.elapsed().as_secs_f64());
    out
}

/// Runs one service every `every` until `ticks` are done (None: forever) or shutdown flips.
pub async fn run_service(
    mut svc: ServiceLoop,
    ctx: TickContext,
    every: std::time::Duration,
    ticks: Option<u64>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut interval = tokio::time::interval(every);
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
        tick(&mut svc, &ctx).await;
        done += 1;
        if ticks.is_some_and(|n| done >= n) {
            break;
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::actuate::dry_run::DryRunTarget;
    use crate::core::reason::Reason;
    use crate::core::time::ManualClock;
    use crate::govern::Mode;
    use crate::observe::memory::MemorySource;
    use crate::serve::actuation::Actuation;
    use crate::serve::config::ServeConfig;
    use crate::serve::registry::tests::{write_version, write_version_with};

    const NOW: i64 = 200 * 3600;

    /// A context whose source answers `query` from `samples`, with the clock at `now`.
    pub(crate) fn context(query: &str, samples: Vec<(i64, f64)>, now: i64) -> TickContext {
        let source = MemorySource::new();
        source.set(query, samples);
        TickContext {
            source: Arc::new(source),
            shared: Arc::new(Shared::new(&[])),
            clock: Arc::new(ManualClock::new(now)),
            history: 7200,
            after: None,
        }
    }

    fn cfg(models: &std::path::Path, mode: &str) -> ServeConfig {
        ServeConfig::parse(&format!(
            "[defaults]\nmode = \"{mode}\"\nmodels = {models:?}\nlead = \"2h\"\nmax_metric_age = \"10m\"\n\
             [source.prometheus]\nurl = \"http://127.0.0.1:9\"\n\
             [[service]]\nname = \"web\"\nquery = \"up\"\ncapacity_per_replica = 10\nmin_replicas = 1\nmax_replicas = 20\n\
             target = {{ kind = \"dry-run\", replicas = 2 }}\n"
        ))
        .unwrap()
    }

    /// The service on a dry-run target at 2 replicas, and the target.
    fn service(models: &std::path::Path, mode: &str) -> (ServiceLoop, Arc<DryRunTarget>) {
        let c = cfg(models, mode);
        let mode = Mode::from(c.defaults.mode);
        let target = Arc::new(DryRunTarget::new(2, None));
        let a = Actuation::new(target.clone(), "dry-run", mode, 1, 20, 2);
        (ServiceLoop::new(&c, &c.services[0], mode, a), target)
    }

    /// Hourly samples, the newest `age` seconds before `now`.
    fn hourly(values: &[f64], now: i64, age: i64) -> Vec<(i64, f64)> {
        let n = values.len() as i64;
        values
            .iter()
            .enumerate()
            .map(|(i, v)| (now - age - (n - 1 - i as i64) * 3600, *v))
            .collect()
    }

    #[tokio::test]
    async fn fresh_data_forecasts_and_plans() {
        let d = tempfile::tempdir().unwrap();
        write_version(d.path(), "web", true);
        let (mut s, target) = service(d.path(), "forecast-only");
        let out = tick(&mut s, &context("up", hourly(&[30.0, 31.0, 32.0], NOW, 60), NOW)).await;
        let r = &out.record;
        assert_eq!(r.mode, Mode::ForecastOnly);
        assert!(!r.applied);
        assert_eq!(r.demand, Some(32.0));
        // The range query's grid ends at now: the newest point is the sample 60 s before it.
        assert_eq!(r.metric_age_seconds, 0);
        assert!(r.predictive.is_some() && r.forecast_peak.is_some(), "{r:?}");
        assert!(out.forecast_at_lead.is_some());
        assert_eq!(out.actuation.as_ref().map(|a| a.outcome), Some("held"));
        assert_eq!(target.applied(), Vec::<u32>::new(), "forecast-only never actuates");
        // The next tick scores the previous forecast.
        let next = hourly(&[30.0, 31.0, 32.0, 33.0], NOW + 3600, 60);
        let out = tick(&mut s, &context("up", next, NOW + 3600)).await;
        assert!(out.abs_error.is_some());
    }

    #[tokio::test]
    async fn failed_fetch_is_stale_not_a_crash() {
        let d = tempfile::tempdir().unwrap();
        write_version(d.path(), "web", true);
        let (mut s, target) = service(d.path(), "auto");
        // No series at all: the fetch fails.
        let r = tick(&mut s, &context("other", vec![], NOW)).await.record;
        assert_eq!(r.demand, None);
        assert_eq!(r.desired_replicas, 2, "holds the current size: {r:?}");
        // Old data only (the source still has it, a stale exporter): the governor's
        // stale-metrics step fires and nothing scales down.
        let mut c = context("up", hourly(&[1.0, 1.0], 100 * 3600, 0), NOW);
        c.history = 200 * 3600;
        let r = tick(&mut s, &c).await.record;
        assert!(
            r.steps.iter().any(|st| st.reason == Reason::StaleMetrics),
            "{:?}",
            r.steps
        );
        assert!(r.desired_replicas >= 2);
        assert_eq!(target.applied(), Vec::<u32>::new());
    }

    #[tokio::test]
    async fn auto_mode_actuates_the_dry_run_target() {
        let d = tempfile::tempdir().unwrap();
        write_version(d.path(), "web", true);
        let (mut s, target) = service(d.path(), "auto");
        // Demand far above 2 replicas × 10 req/s: scale up, applied to the dry-run target.
        let out = tick(&mut s, &context("up", hourly(&[150.0; 3], NOW, 30), NOW)).await;
        let r = &out.record;
        assert!(r.applied && r.desired_replicas > 2, "{r:?}");
        assert_eq!(target.applied(), vec![r.desired_replicas]);
        assert_eq!(out.actuation.map(|a| a.outcome), Some("applied"));
    }

    #[tokio::test]
    async fn trained_capacity_replaces_the_configured_one() {
        // Same demand, two artifacts: the one carrying a span-fitted capacity of 50 req/s per
        // replica at the SLO plans far fewer replicas than the configured 10 req/s.
        async fn plan(capacity: Option<crate::capacity::fit::TrainedCapacity>) -> (u32, Option<f64>) {
            let d = tempfile::tempdir().unwrap();
            write_version_with(d.path(), "web", true, capacity);
            let (mut s, _) = service(d.path(), "forecast-only");
            let r = tick(&mut s, &context("up", hourly(&[150.0; 3], NOW, 30), NOW))
                .await
                .record;
            // The planner's own number, before the governor's scale-up rate limit; the
            // controller's config is never rewritten by a tick.
            (r.predictive.unwrap(), s.controller.config.plan.load_per_replica_at_slo)
        }
        let model = crate::capacity::fit::CapacityModel::fit(&[(10.0, 0.01, 0.02), (60.0, 0.02, 0.2)]).unwrap();
        let trained = crate::capacity::fit::TrainedCapacity {
            slo_seconds: 0.1,
            load_per_replica_at_slo: Some(50.0),
            source: "spans.csv (web)".into(),
            model,
        };
        let (configured, none) = plan(None).await;
        let (fitted, at_slo) = plan(Some(trained)).await;
        assert_eq!((none, at_slo), (None, None));
        assert!(fitted < configured, "{fitted} vs {configured}");
        // 7 req/s per replica (10 × utilization 0.7) against 50: about a seventh of the replicas.
        assert!(fitted <= (configured * 7).div_ceil(50) + 1, "{fitted} vs {configured}");
    }
}
