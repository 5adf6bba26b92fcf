//! The ForecastScaler resync task (docs/serve.md "ForecastScalers"): every `resync`, list the
//! CRs ([`Reconciler::reconcile_once`], which plans and writes rejected CRs' status) and start,
//! restart or stop one service loop per CR, keyed by `namespace/name`, beside the file's
//! services. Deciding stays in the service loop; this module only owns the task set.

pub mod crd;
pub(crate) mod mapping;
pub(crate) mod reconcile;

use crate::control::DecisionRecord;
use crate::core::time::Clock;
use crate::govern::Mode;
use crate::observe::MetricSource;
use crate::reactive::hpa::behavior::BehaviorConfig;
use crate::serve::config::ServeConfig;
use crate::serve::leader::LeaderGate;
use crate::serve::publish::Shared;
use crate::serve::service::ServiceLoop;
use crate::serve::tick::{AfterDecision, TickContext, run_service};
use crate::{Error, Result};
use mapping::{Action, CrService, rejected_status, status_for};
use reconcile::{PatchOutcome, Reconciler, StatusWriter};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How long a stopped loop may take to finish its tick before it is aborted.
pub const STOP_GRACE: Duration = Duration::from_secs(30);

/// What every CR loop shares with the file services.
pub struct Deps {
    /// The serve config: tick, history, models directory, defaults.
    pub cfg: Arc<ServeConfig>,
    /// `--mode`: a ceiling on each CR's own mode (see [`effective_mode`]).
    pub mode_ceiling: Option<Mode>,
    /// The demand source (Prometheus: a CR's demand is its PromQL query).
    pub source: Arc<dyn MetricSource>,
    /// Where the CR loops publish, beside the file services.
    pub shared: Arc<Shared>,
    /// The ticks' and resyncs' time.
    pub clock: Arc<dyn Clock>,
    /// The one client for the CRs, their targets, Events and status.
    pub kube: kube::Client,
    /// This instance's name in Events.
    pub identity: String,
    /// Leader election; None: this instance always actuates.
    pub gate: Option<LeaderGate>,
    /// `--ticks`/`--once`: one list, then each loop runs this many ticks.
    pub ticks: Option<u64>,
}

/// Pure: a CR's mode under the `--mode` flag, which can only lower it (Off < ForecastOnly <
/// Auto), so `--mode forecast-only` guarantees nothing is actuated.
pub fn effective_mode(cr: Mode, ceiling: Option<Mode>) -> Mode {
    let rank = |m: Mode| match m {
        Mode::Off => 0,
        Mode::ForecastOnly => 1,
        Mode::Auto => 2,
    };
    match ceiling {
        Some(c) if rank(c) < rank(cr) => c,
        _ => cr,
    }
}

struct Running {
    service: String,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// Writes a CR's status after each decision of its loop (only on change: [`StatusWriter`]).
struct StatusHook {
    cr: CrService,
    writer: Arc<tokio::sync::Mutex<StatusWriter>>,
}

#[async_trait::async_trait]
impl AfterDecision for StatusHook {
    async fn decided(&self, record: &DecisionRecord, model_version: Option<String>) {
        let mut w = self.writer.lock().await;
        let st = status_for(w.last(&self.cr.key), &self.cr, record, model_version);
        match w.write(&self.cr.namespace, &self.cr.name, st).await {
            PatchOutcome::Written | PatchOutcome::Unchanged => {}
            o => tracing::info!(cr = %self.cr.key, ?o, "status not written; retried on the next decision"),
        }
    }
}

/// The CR-backed service loops.
pub struct CrLoops {
    pub(crate) reconciler: Reconciler,
    deps: Deps,
    loops: BTreeMap<String, Running>,
}

impl CrLoops {
    /// No loops yet; `namespace` limits the list, `file_services` are the names CRs may not take.
    pub fn new(deps: Deps, namespace: Option<String>, file_services: BTreeSet<String>) -> Self {
        CrLoops {
            reconciler: Reconciler::new(deps.kube.clone(), namespace, file_services),
            deps,
            loops: BTreeMap::new(),
        }
    }

    /// `namespace/name` of every loop started and not stopped.
    pub fn running(&self) -> Vec<String> {
        self.loops.keys().cloned().collect()
    }

    /// One pass: list, plan, then start/restart/stop loops. A failed list changes nothing.
    pub async fn resync(&mut self) -> Result<Vec<Action>> {
        let now = self.deps.clock.now();
        let actions = self.reconciler.reconcile_once(now).await?;
        for a in &actions {
            match a {
                Action::Start(cr) => self.start(cr).await,
                Action::Restart(cr) => {
                    // Keep the cached status: transition times carry over.
                    self.stop(&cr.key, false).await;
                    self.start(cr).await;
                }
                Action::Stop(key) => self.stop(key, true).await,
                Action::Reject { .. } => {}
            }
        }
        Ok(actions)
    }

    /// The loop and its target for one CR, honouring its mode, quantile and behavior.
    fn build(&self, cr: &CrService) -> Result<ServiceLoop> {
        let mode = effective_mode(cr.mode, self.deps.mode_ceiling);
        let act = crate::serve::actuation_for(
            &cr.service,
            &format!("ForecastScaler {} spec.scaleTargetRef", cr.key),
            mode,
            Some(&self.deps.kube),
            &self.deps.identity,
            self.deps.gate.as_ref(),
        )?;
        let mut svc = ServiceLoop::new(&self.deps.cfg, &cr.service, mode, act);
        svc.controller.config.plan.quantile = cr.quantile;
        svc.controller.config.governor.behavior = BehaviorConfig::from_spec(cr.spec.behavior.as_ref())
            .map_err(|e| Error::config(format!("ForecastScaler {} spec.behavior", cr.key), e))?;
        Ok(svc)
    }

    async fn start(&mut self, cr: &CrService) {
        let svc = match self.build(cr) {
            Ok(b) => b,
            Err(e) => {
                // Not run: forget it so the next list retries, and say why on the CR.
                self.reconciler.running.remove(&cr.key);
                let msg = e.to_string();
                let mut w = self.reconciler.status.lock().await;
                let st = rejected_status(
                    w.last(&cr.key),
                    cr.generation,
                    "InvalidSpec",
                    &msg,
                    self.deps.clock.now(),
                );
                let o = w.write(&cr.namespace, &cr.name, st).await;
                tracing::warn!(cr = %cr.key, ?o, "ForecastScaler not run: {msg}");
                return;
            }
        };
        let d = &self.deps;
        d.shared.add_service(&cr.service.name);
        let (stop, rx) = watch::channel(false);
        let hook: Arc<dyn AfterDecision> = Arc::new(StatusHook {
            cr: cr.clone(),
            writer: self.reconciler.status.clone(),
        });
        let ctx = TickContext {
            source: d.source.clone(),
            shared: d.shared.clone(),
            clock: d.clock.clone(),
            history: d.cfg.history_seconds(),
            after: Some(hook),
            budget: d.cfg.tick_budget(),
        };
        let task = tokio::spawn(run_service(
            svc,
            ctx,
            Duration::from_secs(d.cfg.tick_seconds().max(1) as u64),
            d.ticks,
            rx,
        ));
        tracing::info!(cr = %cr.key, service = %cr.service.name, mode = crate::serve::config::mode_label(effective_mode(cr.mode, d.mode_ceiling)), "ForecastScaler loop started");
        self.loops.insert(
            cr.key.clone(),
            Running {
                service: cr.service.name.clone(),
                stop,
                task,
            },
        );
    }

    /// Stops a loop (its current tick finishes, within [`STOP_GRACE`]) and removes its service
    /// from /readyz and /metrics gauges; `forget` drops its cached status (the CR is gone).
    async fn stop(&mut self, key: &str, forget: bool) {
        let Some(r) = self.loops.remove(key) else {
            return;
        };
        let _ = r.stop.send(true);
        let mut task = r.task;
        if tokio::time::timeout(STOP_GRACE, &mut task).await.is_err() {
            task.abort();
            let _ = task.await;
        }
        self.deps.shared.remove_service(&r.service);
        if forget {
            self.reconciler.status.lock().await.forget(key);
        }
        tracing::info!(cr = %key, "ForecastScaler loop stopped");
    }

    async fn stop_all(&mut self) {
        for key in self.running() {
            self.stop(&key, false).await;
        }
    }

    /// Resyncs every `every` until `stop` flips, then stops every loop. With `ticks` set: one
    /// list, then waits for the loops it started to finish their ticks.
    pub async fn run(mut self, every: Duration, mut stop: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                r = self.resync() => if let Err(e) = r {
                    tracing::warn!("ForecastScaler resync: {e}");
                },
                _ = stop.wait_for(|s| *s) => break,
            }
            if self.deps.ticks.is_some() {
                let all = async {
                    for r in self.loops.values_mut() {
                        let _ = (&mut r.task).await;
                    }
                };
                tokio::select! {
                    _ = all => {}
                    _ = stop.wait_for(|s| *s) => {}
                }
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.wait_for(|s| *s) => break,
            }
        }
        if self.deps.ticks.is_none() {
            self.stop_all().await;
        } else {
            // One-shot run: keep the finished services' status for the final /readyz.
            for (_, r) in std::mem::take(&mut self.loops) {
                let _ = r.stop.send(true);
                // A handle awaited to completion above panics if polled again.
                if !r.task.is_finished() {
                    let _ = r.task.await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actuate::Outcome;
    use crate::actuate::dry_run::DryRunTarget;
    use crate::actuate::kube::events::event_body;
    use crate::observe::spans::ServiceMinute;
    use crate::observe::traces::{TraceMetric, TraceMetrics, WindowStore};
    use crate::serve::actuation::Actuation;
    use crate::serve::actuation::tests::{ex, verifier};
    use crate::serve::events::event_for;
    use crate::serve::forecastscaler::crd::ForecastScaler;
    use crate::serve::forecastscaler::mapping::{CAPACITY_ANNOTATION, to_service};
    use crate::serve::registry::tests::write_version;
    use serde_json::{Value, json};

    const NOW: i64 = 200 * 3600;
    const QUERY: &str = "sum(rate(http_requests_total{service=\"web\"}[1m]))";

    /// Unix time following tokio's (paused) clock from NOW.
    struct TokioClock(tokio::time::Instant);
    impl Clock for TokioClock {
        fn now(&self) -> i64 {
            NOW + self.0.elapsed().as_secs() as i64
        }
    }

    fn cr(ns: &str, name: &str, mode: &str) -> Value {
        json!({"apiVersion": "scale.dev/v1alpha1", "kind": "ForecastScaler",
               "metadata": {"name": name, "namespace": ns, "generation": 2,
                            "annotations": {CAPACITY_ANNOTATION: "50"}},
               "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                        "minReplicas": 2, "maxReplicas": 20,
                        "metrics": [{"type": "Prometheus", "prometheus": {"query": QUERY}}],
                        "forecast": {"horizon": "1h", "quantile": 0.95, "model": "auto"},
                        "mode": mode}})
    }

    fn page(items: Vec<Value>) -> Value {
        json!({"apiVersion": "scale.dev/v1alpha1", "kind": "ForecastScalerList",
               "metadata": {"resourceVersion": "9"}, "items": items})
    }

    fn scale_obj(rv: &str, n: u32) -> Value {
        json!({"kind": "Scale", "apiVersion": "autoscaling/v1",
               "metadata": {"name": "web", "namespace": "shop", "resourceVersion": rv},
               "spec": {"replicas": n}, "status": {"replicas": n}})
    }

    /// A file service `team.web` (what `team/web` would be called), ticks every 5 minutes,
    /// resync every minute.
    fn config(models: &std::path::Path) -> Arc<ServeConfig> {
        Arc::new(
            ServeConfig::parse(&format!(
                "[defaults]\ntick = \"300s\"\nmode = \"auto\"\nmodels = {models:?}\nlead = \"2h\"\n\
                 [source.prometheus]\nurl = \"http://127.0.0.1:9\"\n\
                 [kubernetes]\nwatch_forecastscalers = true\nresync = \"60s\"\n\
                 [[service]]\nname = \"team.web\"\nquery = \"up\"\ncapacity_per_replica = 10\nmin_replicas = 1\nmax_replicas = 5\n"
            ))
            .unwrap(),
        )
    }

    /// The OTLP window store (an in-memory source) holding 150 req/s for the five hours before
    /// NOW, under the CR's query as the series name.
    fn source() -> Arc<dyn MetricSource> {
        let store = WindowStore::new(3600, 10 * 3600);
        store.add(
            (1..=5)
                .rev()
                .map(|h| ServiceMinute {
                    service: QUERY.into(),
                    minute: NOW - h * 3600,
                    requests: 540_000,
                    rate: 150.0,
                    p50: 0.01,
                    p95: 0.02,
                    p99: 0.03,
                    errors: 0,
                    pods: 2,
                })
                .collect(),
        );
        Arc::new(TraceMetrics {
            source: Arc::new(store),
            metric: TraceMetric::RequestRate,
        })
    }

    /// The same CR's decision on an in-memory target at 2 replicas: what the API must see.
    async fn reference(cfg: &ServeConfig, cr: &CrService, source: Arc<dyn MetricSource>) -> (DecisionRecord, String) {
        let a = Actuation::new(Arc::new(DryRunTarget::new(2, None)), "kubernetes", cr.mode, 2, 20, 2);
        let mut svc = ServiceLoop::new(cfg, &cr.service, cr.mode, a);
        svc.controller.config.plan.quantile = cr.quantile;
        let ctx = TickContext {
            source,
            shared: Arc::new(Shared::new(&[])),
            clock: Arc::new(crate::core::time::ManualClock::new(NOW)),
            history: cfg.history_seconds(),
            after: None,
            budget: cfg.tick_budget(),
        };
        let record = crate::serve::tick::tick(&mut svc, &ctx).await.record;
        (record, svc.registry.current().unwrap().manifest.version.clone())
    }

    /// First list: `shop/web` starts, its loop scales the Deployment (GET, GET, PATCH, Event)
    /// and patches its status with that decision; `team/web` collides with the file service
    /// `team.web`, gets the error on its status and never runs. Second list, a minute later:
    /// `shop/web` is gone, its loop stops and leaves /readyz; the collision status is unchanged,
    /// so it is not written again.
    #[tokio::test(start_paused = true)]
    async fn resync_starts_reports_and_stops_cr_loops() {
        let d = tempfile::tempdir().unwrap();
        write_version(d.path(), "shop.web", true);
        let cfg = config(d.path());
        let source = source();
        let web: ForecastScaler = serde_json::from_value(cr("shop", "web", "Auto")).unwrap();
        let web_svc = to_service(&web).unwrap();
        let (want, version) = reference(&cfg, &web_svc, source.clone()).await;
        let n = want.desired_replicas;
        assert!(n > 2 && want.applied && want.demand == Some(150.0), "{want:?}");

        let at = chrono::DateTime::from_timestamp(NOW, 0).unwrap();
        let outcome = Outcome::Applied {
            from: 2,
            to: n,
            attempts: 1,
        };
        let regarding = web_svc.service.target.as_ref().unwrap().regarding().unwrap();
        let event = event_body(&regarding, &event_for(&want, Some(&outcome)).unwrap(), "scale-0", at);
        let status = json!({ "status": status_for(None, &web_svc, &want, Some(version)) });
        assert_eq!(status["status"]["lastDecision"]["desiredReplicas"], n);
        assert_eq!(status["status"]["conditions"][0]["status"], "True", "Ready: {status}");
        let msg = "service name \"team.web\" is already a [[service]] in the serve config";
        let cond = |t: &str, st: &str, m: &str| {
            json!({"type": t, "status": st, "observedGeneration": 2,
                   "lastTransitionTime": "1970-01-09T08:00:00Z", "reason": "NameCollision", "message": m})
        };
        let clash_status = json!({"status": {"observedGeneration": 2, "conditions": [
            cond("Ready", "False", msg), cond("Active", "False", ""), cond("Error", "True", msg)]}});
        let all = "/apis/scale.dev/v1alpha1/forecastscalers?";
        let scale = "/apis/apps/v1/namespaces/shop/deployments/web/scale";
        let (client, task) = verifier(vec![
            ex(
                "GET",
                all,
                None,
                200,
                page(vec![cr("shop", "web", "Auto"), cr("team", "web", "Auto")]),
            ),
            ex(
                "PATCH",
                "/apis/scale.dev/v1alpha1/namespaces/team/forecastscalers/web/status?",
                Some(clash_status),
                200,
                cr("team", "web", "Auto"),
            ),
            ex("GET", scale, None, 200, scale_obj("7", 2)),
            ex("GET", scale, None, 200, scale_obj("7", 2)),
            ex(
                "PATCH",
                &format!("{scale}?&fieldManager=scale"),
                Some(json!({"metadata": {"resourceVersion": "7"}, "spec": {"replicas": n}})),
                200,
                scale_obj("8", n),
            ),
            ex(
                "POST",
                "/apis/events.k8s.io/v1/namespaces/shop/events?",
                Some(event.clone()),
                201,
                event,
            ),
            ex(
                "PATCH",
                "/apis/scale.dev/v1alpha1/namespaces/shop/forecastscalers/web/status?",
                Some(status),
                200,
                cr("shop", "web", "Auto"),
            ),
            ex("GET", all, None, 200, page(vec![cr("team", "web", "Auto")])),
        ]);
        let shared = Arc::new(Shared::new(&["team.web".to_string()]));
        let mut crs = CrLoops::new(
            Deps {
                cfg: cfg.clone(),
                mode_ceiling: None,
                source,
                shared: shared.clone(),
                clock: Arc::new(TokioClock(tokio::time::Instant::now())),
                kube: client.clone(),
                identity: "scale-0".into(),
                gate: None,
                ticks: None,
            },
            None,
            ["team.web".to_string()].into(),
        );
        let kinds = |a: &[Action]| -> Vec<String> {
            a.iter()
                .map(|a| match a {
                    Action::Start(s) => format!("start {}", s.key),
                    Action::Restart(s) => format!("restart {}", s.key),
                    Action::Stop(k) => format!("stop {k}"),
                    Action::Reject { key, reason, .. } => format!("reject {key} {reason}"),
                })
                .collect()
        };
        assert_eq!(
            kinds(&crs.resync().await.unwrap()),
            vec!["start shop/web", "reject team/web NameCollision"]
        );
        assert_eq!(crs.running(), vec!["shop/web"]);
        assert!(shared.status.lock().unwrap().contains_key("shop.web"), "in /readyz");
        // A minute on the paused clock: the loop ticks once (the next tick is at 5 minutes).
        tokio::time::sleep(Duration::from_secs(60)).await;
        let decisions: Vec<_> = shared.decisions.lock().unwrap().iter().cloned().collect();
        assert_eq!(decisions.len(), 1);
        assert_eq!(decisions[0].service, "shop.web");
        assert_eq!(decisions[0].record.desired_replicas, n);
        assert_eq!(decisions[0].actuation.as_ref().unwrap().outcome, "applied");
        assert!(
            shared
                .metrics
                .encode()
                .contains("scale_replicas{service=\"shop.web\",policy=\"desired\"}")
        );

        assert_eq!(
            kinds(&crs.resync().await.unwrap()),
            vec!["reject team/web NameCollision", "stop shop/web"],
            "rejected again, not written again"
        );
        assert!(crs.running().is_empty());
        assert_eq!(
            shared.status.lock().unwrap().keys().collect::<Vec<_>>(),
            vec!["team.web"],
            "gone from /readyz"
        );
        let text = shared.metrics.encode();
        assert!(
            !text.contains("scale_replicas{service=\"shop.web\""),
            "gauges removed: {text}"
        );
        assert!(
            text.contains("scale_decisions_total{service=\"shop.web\",mode=\"auto\"} 1"),
            "{text}"
        );
        drop(crs);
        drop(client);
        task.await.unwrap();
    }

    /// The README's example runs through the same mapping serve uses.
    #[test]
    fn the_example_forecastscaler_maps_to_a_service() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/forecastscaler.yaml");
        let fs =
            crate::serve::forecastscaler::crd::parse_manifest(&path, &std::fs::read_to_string(&path).unwrap()).unwrap();
        let s = to_service(&fs).unwrap();
        assert_eq!(
            (s.key.as_str(), s.service.name.as_str()),
            ("default/web", "default.web")
        );
        assert_eq!(s.service.capacity_per_replica, 50.0);
        assert_eq!((s.service.min_replicas, s.service.max_replicas), (2, 20));
        assert_eq!((s.mode, s.quantile, s.horizon_seconds), (Mode::ForecastOnly, 0.9, 3600));
        // spec.scaleIn reaches the governor of the loop built from it.
        assert_eq!(s.service.scale_in, Some(crate::govern::ScaleIn::Forecast));
        assert_eq!(s.service.target.as_ref().unwrap().label(), "kubernetes");
        // Its behavior is honoured by the loop CrLoops builds.
        BehaviorConfig::from_spec(s.spec.behavior.as_ref()).unwrap();
    }

    #[test]
    fn the_mode_flag_only_lowers_a_cr_mode() {
        use Mode::*;
        for (cr, flag, want) in [
            (Auto, None, Auto),
            (Auto, Some(ForecastOnly), ForecastOnly),
            (Auto, Some(Off), Off),
            (ForecastOnly, Some(Auto), ForecastOnly),
            (Off, Some(Auto), Off),
            (ForecastOnly, Some(Off), Off),
        ] {
            assert_eq!(effective_mode(cr, flag), want, "{cr:?} under {flag:?}");
        }
    }

    struct Fixed;
    impl Clock for Fixed {
        fn now(&self) -> i64 {
            NOW
        }
    }

    /// `scale serve` itself (`run_with`, one tick) with no `[[service]]` and watching on: the one
    /// injected client lists the CRs, reads the CR's target and patches its status. The CR asks
    /// for Auto; `--mode forecast-only` caps it, so the target is read but never written.
    #[tokio::test]
    async fn serve_runs_a_forecastscaler_with_no_file_service() {
        let d = tempfile::tempdir().unwrap();
        write_version(d.path(), "shop.web", true);
        let cfg = ServeConfig::parse(&format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n[defaults]\nmode = \"auto\"\nmodels = {:?}\nlead = \"2h\"\n\
             [source.prometheus]\nurl = \"http://127.0.0.1:9\"\n[kubernetes]\nwatch_forecastscalers = true\nnamespace = \"shop\"\n",
            d.path()
        ))
        .unwrap();
        let web: ForecastScaler = serde_json::from_value(cr("shop", "web", "Auto")).unwrap();
        let mut web_svc = to_service(&web).unwrap();
        web_svc.mode = Mode::ForecastOnly;
        // Port 9 refuses: no demand, the governor holds, the status says so.
        let a = Actuation::new(
            Arc::new(DryRunTarget::new(2, None)),
            "kubernetes",
            Mode::ForecastOnly,
            2,
            20,
            2,
        );
        let mut svc = ServiceLoop::new(&cfg, &web_svc.service, Mode::ForecastOnly, a);
        svc.controller.config.plan.quantile = web_svc.quantile;
        let ctx = TickContext {
            source: Arc::new(cfg.source.prometheus.as_ref().unwrap().client().unwrap()),
            shared: Arc::new(Shared::new(&[])),
            clock: Arc::new(crate::core::time::ManualClock::new(NOW)),
            history: cfg.history_seconds(),
            after: None,
            budget: cfg.tick_budget(),
        };
        let want = crate::serve::tick::tick(&mut svc, &ctx).await.record;
        let version = svc.registry.current().unwrap().manifest.version.clone();
        let status = serde_json::to_value(status_for(None, &web_svc, &want, Some(version))).unwrap();
        assert_eq!(status["lastDecision"]["applied"], false);
        assert_eq!(status["conditions"][0]["reason"], "NoDemand", "{status}");
        assert_eq!(status["conditions"][1]["reason"], "ForecastOnly", "{status}");
        let (client, task) = verifier(vec![
            ex(
                "GET",
                "/apis/scale.dev/v1alpha1/namespaces/shop/forecastscalers?",
                None,
                200,
                page(vec![cr("shop", "web", "Auto")]),
            ),
            ex(
                "GET",
                "/apis/apps/v1/namespaces/shop/deployments/web/scale",
                None,
                200,
                scale_obj("7", 2),
            ),
            ex(
                "PATCH",
                "/apis/scale.dev/v1alpha1/namespaces/shop/forecastscalers/web/status?",
                Some(json!({ "status": status })),
                200,
                cr("shop", "web", "Auto"),
            ),
        ]);
        let run = crate::serve::run_with(
            cfg,
            crate::serve::RunOptions {
                mode: Some(Mode::ForecastOnly),
                ticks: Some(1),
                clock: Arc::new(Fixed),
            },
            crate::serve::ActuateOptions {
                kube: Some(client.clone()),
                leader: Default::default(),
            },
            std::future::pending(),
        );
        tokio::time::timeout(Duration::from_secs(60), run)
            .await
            .expect("one tick ends the run")
            .unwrap();
        drop(client);
        task.await.unwrap();
    }
}
