//! Where ticks publish: the state the HTTP API reads (recent decisions, per-service status),
//! /metrics, and one structured log line per decision.

use super::actuation::ActuationRecord;
use super::config::mode_label;
use super::metrics::Metrics;
use super::registry::Reload;
use super::service::ServiceLoop;
use crate::control::DecisionRecord;
use crate::core::reason::Reason;
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

/// Recent decisions kept for /decisions.
pub const DECISIONS_KEPT: usize = 1000;

/// A decision with the service it was for and the model version used.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceDecision {
    /// The service's name (`NAMESPACE.NAME` for a ForecastScaler).
    pub service: String,
    /// The artifact version that forecast; None without a loaded model.
    pub model_version: Option<String>,
    /// The decision itself, flattened into the JSON object.
    #[serde(flatten)]
    pub record: DecisionRecord,
    /// What the target did: `{target, outcome, message, attempts}` (docs/serve.md).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actuation: Option<ActuationRecord>,
    /// `[service.vertical]`'s recommendation (docs/serve.md).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vertical: Option<crate::control::vertical::VerticalRecord>,
}

/// One service's readiness: /readyz waits for a loaded model and one tick.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ServiceStatus {
    /// The loaded artifact version; None until a model loads.
    pub model_version: Option<String>,
    /// Ticks completed.
    pub ticks: u64,
    /// The last model-load failure; cleared when a version loads.
    pub last_error: Option<String>,
    /// Ticks that panicked (each caught and the loop restarted).
    pub loop_restarts: u64,
    /// Set while the loop is backing off after a panic: the service is down (not ready) until
    /// a tick completes again.
    pub loop_panic: Option<String>,
}

/// What the HTTP server reads.
pub struct Shared {
    /// The most recent decisions of every service, oldest first, at most [`DECISIONS_KEPT`].
    pub decisions: Mutex<VecDeque<ServiceDecision>>,
    /// Per service, keyed by name.
    pub status: Mutex<BTreeMap<String, ServiceStatus>>,
    pub(crate) metrics: Metrics,
}

impl Shared {
    /// Empty state with a not-yet-ready status for each of `services`.
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
                _ if s.loop_panic.is_some() => Some(format!(
                    "{name}: loop restarting after a panic ({})",
                    s.loop_panic.as_deref().unwrap_or_default()
                )),
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

    /// A tick of `name` panicked: counted in /metrics, not ready, reported by /healthz.
    pub fn loop_panicked(&self, name: &str, why: &str) {
        self.metrics
            .loop_restarts
            .get_or_create(&vec![("service".to_string(), name.to_string())])
            .inc();
        let mut st = self.status.lock().unwrap_or_else(|e| e.into_inner());
        let e = st.entry(name.to_string()).or_default();
        e.loop_restarts += 1;
        e.loop_panic = Some(why.to_string());
    }

    /// A phase of `name`'s tick (`fetch`, `read`, `actuate`) was cancelled after its budget.
    pub fn budget_overrun(&self, name: &str, phase: &str) {
        self.metrics
            .budget_overruns
            .get_or_create(&vec![
                ("service".to_string(), name.to_string()),
                ("phase".to_string(), phase.to_string()),
            ])
            .inc();
    }

    /// A window of `service` breached `rule`'s `bound` (`upper` or `lower`); counted once per window.
    pub fn rule_breach(&self, service: &str, rule: &str, bound: &str) {
        self.metrics
            .rule_breaches
            .get_or_create(&vec![
                ("service".to_string(), service.to_string()),
                ("rule".to_string(), rule.to_string()),
                ("bound".to_string(), bound.to_string()),
            ])
            .inc();
    }

    /// A tick of `name` completed: its loop is up.
    pub fn loop_running(&self, name: &str) {
        let mut st = self.status.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = st.get_mut(name) {
            e.loop_panic = None;
        }
    }

    /// Each loop's state for /healthz, and whether every loop is up.
    pub fn loops(&self) -> (bool, serde_json::Value) {
        let st = self.status.lock().unwrap_or_else(|e| e.into_inner());
        let loops: serde_json::Map<String, serde_json::Value> = st
            .iter()
            .map(|(name, s)| {
                let state = if s.loop_panic.is_some() {
                    "restarting"
                } else {
                    "running"
                };
                let v = serde_json::json!({
                    "state": state,
                    "ticks": s.ticks,
                    "restarts": s.loop_restarts,
                    "last_panic": s.loop_panic,
                });
                (name.clone(), v)
            })
            .collect();
        (st.values().all(|s| s.loop_panic.is_none()), loops.into())
    }

    /// Records what a poll of the service's model registry did in its status.
    pub fn model_reloaded(&self, name: &str, reload: Reload) {
        let mut st = self.status.lock().unwrap_or_else(|e| e.into_inner());
        let e = st.entry(name.to_string()).or_default();
        match reload {
            Reload::Failed(m) => e.last_error = Some(m),
            Reload::Loaded(v) => {
                e.last_error = None;
                e.model_version = Some(v);
            }
            Reload::Unchanged => {}
        }
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

/// The numbers a tick produced beside its record (for /metrics).
#[derive(Debug, Clone, PartialEq)]
pub struct TickOutput {
    /// The decision, as /decisions shows it.
    pub record: DecisionRecord,
    /// Point forecast at now + lead.
    pub forecast_at_lead: Option<f64>,
    /// |forecast − observed| for the latest sample, from the previous tick's forecast.
    pub abs_error: Option<f64>,
    /// What the target did with the decision.
    pub actuation: Option<ActuationRecord>,
    /// `[service.vertical]`'s recommendation this tick.
    pub vertical: Option<crate::control::vertical::VerticalRecord>,
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
                ("reason".into(), s.reason.label()),
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
    if let Some(v) = &out.vertical {
        let target = v.recommendation.map(|r| r.target);
        for (kind, r) in [
            ("recommended", target),
            ("desired", Some(v.desired)),
            ("applied", Some(v.applied)),
        ] {
            let Some(r) = r else { continue };
            for (resource, value) in [("cpu", r.cpu_cores), ("memory", r.memory_bytes)] {
                m.container_requests
                    .get_or_create(&vec![
                        ("service".into(), name.into()),
                        ("resource".into(), resource.into()),
                        ("kind".into(), kind.into()),
                    ])
                    .set(value);
            }
        }
        let held = crate::govern::vertical::limit_reason::HOLDS;
        for (_, reason) in v.reasons.iter().filter(|(_, r)| held.contains(&r.as_str())) {
            m.vertical_holds
                .get_or_create(&vec![
                    ("service".into(), name.into()),
                    ("reason".into(), reason.clone()),
                ])
                .inc();
        }
        tracing::info!(
            service = name,
            container_cpu = v.applied.cpu_cores,
            container_memory = v.applied.memory_bytes,
            forecast_peak_cpu = ?v.forecast_peak_cpu,
            "vertical recommendation"
        );
    }
    if let Some(a) = &out.actuation {
        m.actuations
            .get_or_create(&vec![
                ("service".into(), name.into()),
                ("target".into(), svc.actuation.kind.into()),
                ("outcome".into(), a.outcome.into()),
            ])
            .inc();
    }
    let reasons: Vec<String> = r
        .steps
        .iter()
        .filter(|s| s.reason != Reason::DesiredWithinRange)
        .map(|s| format!("{}:{}", s.step, s.reason.label()))
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
        vertical: out.vertical,
    });
}
