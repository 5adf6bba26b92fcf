//! One tick of one service, in order: fetch → forecast → decide → actuate → publish; and the
//! loop that runs ticks until told to stop. A failed or stale fetch becomes an observation
//! without demand, so the governor's stale-data rules apply.

use super::publish::{Shared, TickOutput, publish};
use super::service::ServiceLoop;
use crate::control::{DecisionRecord, Inputs, Observation};
use crate::core::time::Clock;
use crate::observe::MetricSource;
use std::sync::Arc;

/// What every tick of a service needs beside the service itself.
#[derive(Clone)]
pub struct TickContext {
    /// Where demand is fetched from.
    pub source: Arc<dyn MetricSource>,
    /// Where decisions are published (the HTTP API's state).
    pub shared: Arc<Shared>,
    /// The tick's `now`.
    pub clock: Arc<dyn Clock>,
    /// Seconds of recent demand fetched per tick.
    pub history: i64,
    /// Told about each decision before it is published (a ForecastScaler's status writer).
    pub after: Option<Arc<dyn AfterDecision>>,
    /// The most one tick may take (`defaults.tick_budget`): half for the fetch, a quarter each
    /// for reading the target and for the write. What overruns is cancelled and the tick holds.
    pub budget: std::time::Duration,
}

/// Told about every decision of one service, after it was actuated and before it is published
/// (a ForecastScaler's status writer).
#[async_trait::async_trait]
pub trait AfterDecision: Send + Sync {
    /// `record` was decided (and actuated) with the artifact `model_version`.
    async fn decided(&self, record: &DecisionRecord, model_version: Option<String>);
}

/// One tick: fetch → forecast → decide → actuate → publish. Returns what it published.
pub async fn tick(svc: &mut ServiceLoop, ctx: &TickContext) -> TickOutput {
    let started = std::time::Instant::now();

    // Fetch: a newly published model, the recent demand, the target's size and bounds.
    let reload = svc.reload();
    ctx.shared.model_reloaded(&svc.name, reload);
    let now = ctx.clock.now();
    let fetch_budget = ctx.budget / 2;
    let fetch = tokio::time::timeout(fetch_budget, svc.fetch(ctx.source.as_ref(), now, ctx.history));
    let rule_fetch = async {
        match &svc.rules {
            Some(link) => link.fetch(&svc.name, now, fetch_budget).await,
            None => None,
        }
    };
    let (fetched, rule_fetched) = tokio::join!(fetch, rule_fetch);
    let (recent, demand_rejected) = match fetched {
        Ok(Ok(r)) => (Some(r), false),
        Ok(Err(crate::Error::Implausible(e))) => {
            tracing::warn!(service = %svc.name, "demand rejected: {e}");
            (None, true)
        }
        Ok(Err(e)) => {
            tracing::warn!(service = %svc.name, "demand fetch failed: {e}");
            (None, false)
        }
        Err(_) => {
            tracing::warn!(service = %svc.name, "demand fetch cancelled after its budget of {fetch_budget:?}");
            ctx.shared.budget_overrun(&svc.name, "fetch");
            (None, false)
        }
    };
    let io_budget = ctx.budget / 4;
    let reading = match tokio::time::timeout(io_budget, svc.actuation.read()).await {
        Ok(r) => r,
        Err(_) => {
            ctx.shared.budget_overrun(&svc.name, "read");
            Err(crate::actuate::ActuateError::Transport(format!(
                "reading the target took longer than its budget of {io_budget:?}"
            )))
        }
    };

    // The attached latency rule's verdict on its windows, at the count just read.
    let current = svc.actuation.current();
    let rule = match (svc.rules.as_mut(), rule_fetched) {
        (Some(link), Some(f)) => {
            let (record, breach) = link.verdict(f, now, current);
            if let Some(b) = breach {
                ctx.shared.rule_breach(&svc.name, &record.name, b.label());
            }
            Some(record)
        }
        _ => None,
    };

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
        rule,
    };
    let obs = Observation {
        now,
        current_replicas: current,
        ready_replicas: current,
        demand: recent.as_ref().and_then(|r| r.values.last().copied()),
        metric_age_seconds: recent
            .as_ref()
            .map(|r| (now - r.last_time).max(0))
            .unwrap_or(i64::MAX / 4),
        demand_rejected,
    };
    let window = forecasted.forecast.as_ref().map(|f| f.window());
    let mut record = svc.controller.decide(obs, window, &inputs);

    // Actuate: apply what the governor allowed, report the outcome back to it.
    let applied = tokio::time::timeout(io_budget, svc.actuation.apply(&mut record, &reading, now, &svc.name)).await;
    let (actuation, ok) = match applied {
        Ok(done) => done,
        Err(_) => {
            ctx.shared.budget_overrun(&svc.name, "actuate");
            svc.actuation.overran(&mut record, io_budget)
        }
    };
    if let Some(ok) = ok {
        svc.controller.record_actuation(now, ok);
    }

    // Vertical: the container's recommendation from per-pod usage (recommend only).
    let vertical = match svc.vertical.as_mut() {
        Some(v) => match tokio::time::timeout(io_budget, v.tick(ctx.source.as_ref(), now, ctx.history)).await {
            Ok((r, err)) => {
                if let Some(e) = err {
                    tracing::warn!(service = %svc.name, "usage fetch failed: {e}");
                }
                Some(r)
            }
            Err(_) => {
                ctx.shared.budget_overrun(&svc.name, "vertical");
                None
            }
        },
        None => None,
    };

    // Publish: the status hook, /metrics, /decisions, the log.
    let out = TickOutput {
        record,
        forecast_at_lead: forecasted.at_lead,
        abs_error: forecasted.abs_error,
        actuation: Some(actuation),
        vertical,
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
    let mut backoff = RESTART_BACKOFF_MIN;
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = shutdown.changed() => break,
        }
        if *shutdown.borrow() {
            break;
        }
        // A panic in one tick must not end the service's loop for good (issue 17): it is
        // caught, logged with the service, counted, and the loop goes on after a backoff.
        match CatchUnwind(Box::pin(tick(&mut svc, &ctx))).await {
            Ok(_) => {
                ctx.shared.loop_running(&svc.name);
                backoff = RESTART_BACKOFF_MIN;
            }
            Err(payload) => {
                let why = panic_message(payload.as_ref());
                tracing::error!(service = %svc.name, "service loop panicked: {why}; restarting in {backoff:?}");
                ctx.shared.loop_panicked(&svc.name, &why);
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shutdown.changed() => break,
                }
                backoff = (backoff * 2).min(RESTART_BACKOFF_MAX);
            }
        }
        done += 1;
        if ticks.is_some_and(|n| done >= n) {
            break;
        }
    }
}

/// Backoff after a panicking tick: doubling from the minimum, capped.
const RESTART_BACKOFF_MIN: std::time::Duration = std::time::Duration::from_secs(1);
const RESTART_BACKOFF_MAX: std::time::Duration = std::time::Duration::from_secs(60);

/// A boxed future's panic as an `Err`, so the loop around it survives.
struct CatchUnwind<F>(F);

impl<F: std::future::Future + Unpin> std::future::Future for CatchUnwind<F> {
    type Output = std::thread::Result<F::Output>;

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        let inner = &mut self.0;
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| std::pin::Pin::new(inner).poll(cx))) {
            Ok(p) => p.map(Ok),
            Err(payload) => std::task::Poll::Ready(Err(payload)),
        }
    }
}

/// The text of a panic payload (`&str` or `String`), for the log and /healthz.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".into())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::actuate::dry_run::DryRunTarget;
    use crate::actuate::kube::events::{KubeEvents, event_body};
    use crate::actuate::target::build;
    use crate::actuate::{ActuateError, Outcome, ScaleTarget};
    use crate::core::reason::Reason;
    use crate::core::time::ManualClock;
    use crate::govern::Mode;
    use crate::observe::memory::MemorySource;
    use crate::serve::actuation::Actuation;
    use crate::serve::actuation::record_for;
    use crate::serve::actuation::tests::{ex, verifier};
    use crate::serve::config::ServeConfig;
    use crate::serve::events::event_for;
    use crate::serve::leader::LeaderGate;
    use crate::serve::registry::tests::{write_version, write_version_with};
    use serde_json::{Value, json};

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
            budget: std::time::Duration::from_secs(30),
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

    /// A status hook that panics on its first `n` calls, as a buggy one would.
    struct PanicsFirst(std::sync::atomic::AtomicU32);

    #[async_trait::async_trait]
    impl AfterDecision for PanicsFirst {
        async fn decided(&self, _: &DecisionRecord, _: Option<String>) {
            let left = self.0.load(std::sync::atomic::Ordering::SeqCst);
            if left > 0 {
                self.0.store(left - 1, std::sync::atomic::Ordering::SeqCst);
                panic!("status writer bug #{left}");
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_panicking_tick_is_caught_counted_and_the_loop_restarts() {
        let d = tempfile::tempdir().unwrap();
        write_version(d.path(), "web", true);
        let (s, _) = service(d.path(), "forecast-only");
        let mut ctx = context("up", hourly(&[30.0, 31.0, 32.0], NOW, 60), NOW);
        ctx.shared = Arc::new(Shared::new(&["web".to_string()]));
        ctx.after = Some(Arc::new(PanicsFirst(2.into())));
        let shared = ctx.shared.clone();
        let (_stop, stopped) = tokio::sync::watch::channel(false);
        // On main the first panic ended the loop: no tick ever completed.
        let run = tokio::spawn(run_service(
            s,
            ctx,
            std::time::Duration::from_secs(30),
            Some(4),
            stopped,
        ));
        // Paused time: the backoffs (1 s, 2 s) and ticks elapse at once.
        tokio::time::sleep(std::time::Duration::from_secs(20)).await;
        let (up, loops) = shared.loops();
        assert!(!up, "{loops}");
        assert_eq!(loops["web"]["state"], "restarting", "{loops}");
        assert!(
            shared
                .not_ready()
                .unwrap()
                .contains("web: loop restarting after a panic (status writer bug")
        );
        run.await.unwrap();
        let (up, loops) = shared.loops();
        assert!(up, "{loops}");
        assert_eq!(loops["web"]["restarts"], 2, "{loops}");
        assert_eq!(loops["web"]["ticks"], 2, "two of four ticks completed: {loops}");
        let text = shared.metrics.encode();
        assert!(text.contains("scale_loop_restarts_total{service=\"web\"} 2"), "{text}");
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
    async fn a_hung_prometheus_is_cancelled_at_the_tick_budget() {
        // Accepts connections and never answers, as a hung Prometheus does.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hung = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((c, _)) = listener.accept().await {
                held.push(c);
            }
        });
        let d = tempfile::tempdir().unwrap();
        write_version(d.path(), "web", true);
        let (mut s, target) = service(d.path(), "auto");
        let prometheus = crate::observe::prometheus::Prometheus::new(
            &format!("http://{addr}"),
            &crate::observe::http::HttpConfig::default(),
        )
        .unwrap();
        let mut c = context("up", vec![], NOW);
        c.source = Arc::new(prometheus);
        c.budget = std::time::Duration::from_secs(2);
        let started = std::time::Instant::now();
        let r = tick(&mut s, &c).await.record;
        let took = started.elapsed();
        // The client alone would wait 60 s per attempt, four times; the fetch has half the budget.
        assert!(
            (900..1900).contains(&took.as_millis()),
            "tick took {took:?} against a 2 s budget"
        );
        assert_eq!(r.demand, None);
        assert_eq!(r.desired_replicas, 2, "holds: {r:?}");
        assert!(
            r.steps.iter().any(|st| st.reason == Reason::StaleMetrics),
            "{:?}",
            r.steps
        );
        assert_eq!(target.applied(), Vec::<u32>::new());
        let text = c.shared.metrics.encode();
        assert!(
            text.contains("scale_tick_budget_overruns_total{service=\"web\",phase=\"fetch\"} 1"),
            "{text}"
        );
        hung.abort();
    }

    #[tokio::test]
    async fn negative_or_huge_demand_is_rejected_and_the_loop_holds() {
        let d = tempfile::tempdir().unwrap();
        write_version(d.path(), "web", true);
        let (mut s, target) = service(d.path(), "auto");
        for bad in [-50.0, 1e308] {
            let r = tick(&mut s, &context("up", hourly(&[30.0, 31.0, bad], NOW, 60), NOW))
                .await
                .record;
            assert_eq!(r.demand, None, "{bad}: rejected, not read as demand");
            assert_eq!(r.steps[0].reason, Reason::ImplausibleDemand, "{bad}: {:?}", r.steps);
            assert_eq!(r.desired_replicas, 2, "{bad}: holds: {r:?}");
        }
        assert_eq!(target.applied(), Vec::<u32>::new());
        // Plausible demand again: decided as usual.
        let r = tick(&mut s, &context("up", hourly(&[30.0, 31.0, 32.0], NOW, 60), NOW))
            .await
            .record;
        assert_eq!(r.demand, Some(32.0));
        assert!(
            r.steps.iter().all(|st| st.reason != Reason::ImplausibleDemand),
            "{:?}",
            r.steps
        );
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

    fn service_cfg(models: &std::path::Path, max: u32, target: &str) -> ServeConfig {
        ServeConfig::parse(&format!(
            "[defaults]\nmode = \"auto\"\nmodels = {models:?}\nlead = \"2h\"\n\
             [source.prometheus]\nurl = \"http://127.0.0.1:9\"\n\
             [[service]]\nname = \"web\"\nquery = \"up\"\ncapacity_per_replica = 10\nmin_replicas = 1\nmax_replicas = {max}\n\
             [service.target]\n{target}\n"
        ))
        .unwrap()
    }

    fn target_actuation(c: &ServeConfig, target: Arc<dyn ScaleTarget>, start: u32) -> Actuation {
        let s = &c.services[0];
        let kind = s.target.as_ref().unwrap().label();
        Actuation::new(target, kind, Mode::Auto, s.min_replicas, s.max_replicas, start)
    }

    fn on_target(c: &ServeConfig, a: Actuation) -> ServiceLoop {
        ServiceLoop::new(c, &c.services[0], Mode::Auto, a)
    }

    /// One tick at NOW with demand far above 2 replicas × 10 req/s.
    async fn busy_tick(svc: &mut ServiceLoop) -> TickOutput {
        let samples = (0..3).map(|k| (NOW - 30 - k * 3600, 150.0)).collect();
        tick(svc, &context("up", samples, NOW)).await
    }

    // ---- ticks against live targets ----

    #[tokio::test]
    async fn governor_clamps_to_the_target_max_before_any_call() {
        let d = tempfile::tempdir().unwrap();
        write_version(d.path(), "web", true);
        // (config max, target's own max, expected desired)
        for (cfg_max, target_max, want) in [(20, 5, 5), (3, 5, 3)] {
            let c = service_cfg(
                d.path(),
                cfg_max,
                &format!("kind = \"dry-run\"\nreplicas = 2\nmax_replicas = {target_max}"),
            );
            let t = Arc::new(DryRunTarget::new(2, Some(target_max)));
            let mut svc = on_target(&c, target_actuation(&c, t.clone(), 2));
            let out = busy_tick(&mut svc).await;
            let r = &out.record;
            assert_eq!(r.desired_replicas, want, "{:?}", r.steps);
            assert!(r.applied, "{r:?}");
            assert!(
                r.steps
                    .iter()
                    .any(|s| s.value == want && s.reason != crate::core::reason::Reason::DesiredWithinRange),
                "a governor step clamps to {want}: {:?}",
                r.steps
            );
            let act = out.actuation.unwrap();
            assert_eq!((act.outcome, act.attempts), ("applied", 1), "not refused by the target");
            assert_eq!(t.applied(), vec![want], "no write above the max");
        }
    }

    fn scale_obj(rv: &str, n: u32) -> Value {
        json!({"kind": "Scale", "apiVersion": "autoscaling/v1",
               "metadata": {"name": "web", "namespace": "shop", "resourceVersion": rv},
               "spec": {"replicas": n}, "status": {"replicas": n}})
    }

    const KUBE: &str = "kind = \"kubernetes\"\nnamespace = \"shop\"\n\
                        scale_target_ref = { api_version = \"apps/v1\", kind = \"Deployment\", name = \"web\" }";
    const SCALE: &str = "/apis/apps/v1/namespaces/shop/deployments/web/scale";

    /// The decision the same inputs give on the in-memory target (what the script expects).
    async fn reference(c: &ServeConfig) -> crate::control::DecisionRecord {
        let mut svc = on_target(c, target_actuation(c, Arc::new(DryRunTarget::new(2, None)), 2));
        busy_tick(&mut svc).await.record
    }

    #[tokio::test]
    async fn kubernetes_target_applies_and_reports_through_the_api() {
        let d = tempfile::tempdir().unwrap();
        write_version(d.path(), "web", true);
        let c = service_cfg(d.path(), 20, KUBE);
        let want = reference(&c).await;
        let n = want.desired_replicas;
        assert!(n > 2);
        let regarding = c.services[0].target.as_ref().unwrap().regarding().unwrap();
        let at = chrono::DateTime::from_timestamp(NOW, 0).unwrap();
        let not_found = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "deployments.apps \"web\" not found", "reason": "NotFound", "code": 404});
        let patch = json!({"metadata": {"resourceVersion": "7"}, "spec": {"replicas": n}});
        let patch_uri = format!("{SCALE}?&fieldManager=scale");
        let events_uri = "/apis/events.k8s.io/v1/namespaces/shop/events?";
        // (name, patch answer, expected outcome, message)
        let cases = [
            (
                "applied",
                (200, scale_obj("8", n)),
                Outcome::Applied {
                    from: 2,
                    to: n,
                    attempts: 1,
                },
            ),
            (
                "failed",
                (404, not_found),
                Outcome::Failed {
                    error: ActuateError::Rejected {
                        status: 404,
                        message: "deployments.apps \"web\" not found".into(),
                    },
                    attempts: 1,
                },
            ),
        ];
        for (name, (status, answer), outcome) in cases {
            let event = event_body(&regarding, &event_for(&want, Some(&outcome)).unwrap(), "scale-0", at);
            let script = vec![
                ex("GET", SCALE, None, 200, scale_obj("7", 2)),
                ex("GET", SCALE, None, 200, scale_obj("7", 2)),
                ex("PATCH", &patch_uri, Some(patch.clone()), status, answer),
                ex("POST", events_uri, Some(event.clone()), 201, event),
            ];
            let (client, task) = verifier(script);
            let target = build(
                c.services[0].target.as_ref().unwrap(),
                "service[0].target",
                Some(&client),
            )
            .unwrap();
            let mut a = target_actuation(&c, target, 2);
            a.events = Some((Arc::new(KubeEvents::new(client.clone(), "scale-0")), regarding.clone()));
            let mut svc = on_target(&c, a);
            let out = busy_tick(&mut svc).await;
            let rec = out.actuation.clone().unwrap();
            assert_eq!(rec, record_for("deployment/shop/web", &outcome), "{name}");
            assert_eq!(out.record.applied, name == "applied", "{name}");
            if name == "failed" {
                assert_eq!(out.record.actuation_error.as_deref(), rec.message.as_deref());
                assert_eq!(
                    rec.message.as_deref(),
                    Some("rejected 404: deployments.apps \"web\" not found")
                );
            }
            drop((svc, client));
            task.await.unwrap();
        }
    }

    #[tokio::test]
    async fn a_follower_forecasts_but_never_writes() {
        let d = tempfile::tempdir().unwrap();
        write_version(d.path(), "web", true);
        let c = service_cfg(d.path(), 20, KUBE);
        // Only the read: no patch, no event.
        let (client, task) = verifier(vec![ex("GET", SCALE, None, 200, scale_obj("7", 2))]);
        let target = build(
            c.services[0].target.as_ref().unwrap(),
            "service[0].target",
            Some(&client),
        )
        .unwrap();
        let mut a = target_actuation(&c, target, 2);
        a.leader = Some(LeaderGate::new(10));
        let regarding = c.services[0].target.as_ref().unwrap().regarding().unwrap();
        a.events = Some((Arc::new(KubeEvents::new(client.clone(), "scale-1")), regarding));
        let mut svc = on_target(&c, a);
        let out = busy_tick(&mut svc).await;
        assert_eq!(out.record.mode, Mode::ForecastOnly);
        assert!(!out.record.applied);
        assert!(out.record.predictive.is_some(), "still forecasts");
        let rec = out.actuation.unwrap();
        assert_eq!(rec.outcome, "held");
        assert!(rec.message.unwrap().contains("not the leader"));
        drop((svc, client));
        task.await.unwrap();
    }
}
