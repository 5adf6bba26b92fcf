//! The replica calculator: what the controller sees (pods, metric values) → one proposal per
//! metric and the maximum across them. Pure arithmetic, as `replica_calculator.go`.

use super::spec::{MetricSourceType, MetricSpec, MetricTarget, TargetType};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

// ---------- what the controller sees ----------

/// The pod's `status.phase`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PodPhase {
    /// Not running yet: counted as unready.
    Pending,
    /// Running; with Ready, the only pods Object and External `Value` targets count.
    Running,
    /// Exited with success; grouped like Running.
    Succeeded,
    /// Exited with failure: ignored.
    Failed,
    /// The node stopped reporting; grouped like Running.
    Unknown,
}

/// One container's requests and usage, as the pod spec and metrics-server report them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContainerInput {
    /// The container's name, matched by ContainerResource metrics.
    #[serde(default)]
    pub name: Option<String>,
    /// CPU request in millicores; a Resource metric on cpu fails without it.
    #[serde(default)]
    pub cpu_request_milli: Option<f64>,
    /// CPU usage in millicores; `None` means the pod has no cpu metric.
    #[serde(default)]
    pub cpu_usage_milli: Option<f64>,
    /// Memory request in bytes; a Resource metric on memory fails without it.
    #[serde(default)]
    pub memory_request_bytes: Option<f64>,
    /// Memory usage in bytes; `None` means the pod has no memory metric.
    #[serde(default)]
    pub memory_usage_bytes: Option<f64>,
}

/// One pod the target's selector returns, with what the controller reads of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PodInput {
    /// The pod's name; metrics and pod groups are keyed by it.
    pub name: String,
    /// `status.phase`; defaults to Running.
    #[serde(default = "running")]
    pub phase: PodPhase,
    /// The Ready condition; defaults to true.
    #[serde(default = "yes")]
    pub ready: bool,
    /// `status.startTime` in seconds, on the clock of the tick's `now`; `None` counts as
    /// unready for cpu.
    #[serde(default)]
    pub start_time: Option<i64>,
    /// Last transition of the Ready condition; defaults to the start time.
    #[serde(default)]
    pub ready_time: Option<i64>,
    /// `metadata.deletionTimestamp` is set: the pod is ignored.
    #[serde(default)]
    pub deleting: bool,
    /// The pod's containers, for Resource and ContainerResource metrics.
    #[serde(default)]
    pub containers: Vec<ContainerInput>,
    /// Per-pod custom metrics (Pods metric sources), by name.
    #[serde(default)]
    pub metrics: BTreeMap<String, f64>,
}

fn running() -> PodPhase {
    PodPhase::Running
}
fn yes() -> bool {
    true
}

/// Controller flags: --horizontal-pod-autoscaler-tolerance, -cpu-initialization-period,
/// -initial-readiness-delay; and the metrics API window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ControllerOptions {
    /// No change while |1 − ratio| is at most this; default 0.1.
    #[serde(default = "tolerance")]
    pub tolerance: f64,
    /// Seconds after pod start during which cpu samples may be skipped (the pod is unready, or
    /// has been ready for less than one metric window); default 300.
    #[serde(default = "cpu_init")]
    pub cpu_initialization_period_seconds: i64,
    /// Seconds after pod start during which readiness changes count as its initial readiness
    /// (a pod unready since then is unready for cpu); default 30.
    #[serde(default = "readiness_delay")]
    pub initial_readiness_delay_seconds: i64,
    /// The resource metrics window (metrics-server reports its own; 30 s is usual).
    #[serde(default = "metric_window")]
    pub metric_window_seconds: i64,
}

fn tolerance() -> f64 {
    0.1
}
fn cpu_init() -> i64 {
    300
}
fn readiness_delay() -> i64 {
    30
}
fn metric_window() -> i64 {
    30
}

impl Default for ControllerOptions {
    fn default() -> Self {
        ControllerOptions {
            tolerance: tolerance(),
            cpu_initialization_period_seconds: cpu_init(),
            initial_readiness_delay_seconds: readiness_delay(),
            metric_window_seconds: metric_window(),
        }
    }
}

/// Tolerance per direction (the behavior's, else the controller's).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Tolerance {
    /// Applies when the ratio is above 1 (scale-up).
    pub up: f64,
    /// Applies when the ratio is 1 or below (scale-down).
    pub down: f64,
}

impl Tolerance {
    /// The same tolerance both ways, as the controller flag sets it.
    pub fn uniform(t: f64) -> Self {
        Tolerance { up: t, down: t }
    }

    fn within(&self, ratio: f64) -> bool {
        // |1 - ratio|, computed as the controller does, so float edges match it
        if ratio > 1.0 {
            (1.0 - ratio).abs() <= self.up
        } else {
            (1.0 - ratio).abs() <= self.down
        }
    }
}

/// One tick's observations for the replica calculator.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricsView {
    /// The pods the target's selector returns, with their resource and Pods metrics.
    pub pods: Vec<PodInput>,
    /// Object metric values by metric name.
    #[serde(default)]
    pub object_metrics: BTreeMap<String, f64>,
    /// External metric values by metric name; the series returned are summed.
    #[serde(default)]
    pub external_metrics: BTreeMap<String, Vec<f64>>,
}

/// A metric that could not be computed: the HPA condition reason and a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricError {
    /// The condition reason, such as `FailedGetResourceMetric`.
    pub reason: String,
    /// What went wrong, for people.
    pub message: String,
}

fn err(reason: &str, message: impl Into<String>) -> MetricError {
    MetricError {
        reason: reason.into(),
        message: message.into(),
    }
}

// ---------- pod grouping (groupPods) ----------

struct Groups {
    ready: usize,
    unready: BTreeSet<String>,
    missing: BTreeSet<String>,
    ignored: BTreeSet<String>,
}

fn group_pods(
    pods: &[PodInput],
    metrics: &BTreeMap<String, f64>,
    cpu: bool,
    now: i64,
    opts: &ControllerOptions,
) -> Groups {
    let mut g = Groups {
        ready: 0,
        unready: BTreeSet::new(),
        missing: BTreeSet::new(),
        ignored: BTreeSet::new(),
    };
    for p in pods {
        if p.deleting || p.phase == PodPhase::Failed {
            g.ignored.insert(p.name.clone());
            continue;
        }
        if p.phase == PodPhase::Pending {
            g.unready.insert(p.name.clone());
            continue;
        }
        if !metrics.contains_key(&p.name) {
            g.missing.insert(p.name.clone());
            continue;
        }
        if cpu && cpu_unready(p, now, opts) {
            g.unready.insert(p.name.clone());
            continue;
        }
        g.ready += 1;
    }
    g
}

/// CPU samples from pods still initializing are not trusted on scale-up.
fn cpu_unready(p: &PodInput, now: i64, opts: &ControllerOptions) -> bool {
    let Some(start) = p.start_time else { return true };
    let transition = p.ready_time.unwrap_or(start);
    if start + opts.cpu_initialization_period_seconds > now {
        // inside the initialization period: unready, or no full metric window since becoming ready
        !p.ready || now < transition + opts.metric_window_seconds
    } else {
        // afterwards: only pods that have never been ready
        !p.ready && start + opts.initial_readiness_delay_seconds > transition
    }
}

// ---------- the calculations ----------

/// calcPlainMetricReplicas: average value per pod against `target`.
fn plain_replicas(
    mut metrics: BTreeMap<String, f64>,
    current: u32,
    target: f64,
    g: &Groups,
    tol: Tolerance,
) -> Result<u32, String> {
    metrics.retain(|k, _| !g.ignored.contains(k) && !g.unready.contains(k));
    if metrics.is_empty() {
        return Err("did not receive metrics for targeted pods (pods might be unready)".into());
    }
    let ratio_of = |m: &BTreeMap<String, f64>| m.values().sum::<f64>() / m.len() as f64 / target;
    let ratio = ratio_of(&metrics);
    let up_with_unready = !g.unready.is_empty() && ratio > 1.0;
    if !up_with_unready && g.missing.is_empty() {
        if tol.within(ratio) {
            return Ok(current);
        }
        return Ok((ratio * g.ready as f64).ceil() as u32);
    }
    for name in &g.missing {
        metrics.insert(name.clone(), if ratio < 1.0 { target } else { 0.0 });
    }
    if up_with_unready {
        for name in &g.unready {
            metrics.insert(name.clone(), 0.0);
        }
    }
    finish(ratio, ratio_of(&metrics), metrics.len(), current, tol)
}

/// The shared tail: no change inside tolerance or when the direction flips.
fn finish(ratio: f64, new_ratio: f64, n: usize, current: u32, tol: Tolerance) -> Result<u32, String> {
    if tol.within(new_ratio) || (ratio < 1.0 && new_ratio > 1.0) || (ratio > 1.0 && new_ratio < 1.0) {
        return Ok(current);
    }
    let replicas = (new_ratio * n as f64).ceil() as u32;
    if (new_ratio < 1.0 && replicas > current) || (new_ratio > 1.0 && replicas < current) {
        return Ok(current);
    }
    Ok(replicas)
}

/// Per-pod (usage, request) of a resource; a pod missing any container's usage has no metric.
fn pod_resource(p: &PodInput, resource: &str, container: Option<&str>) -> Result<(Option<f64>, f64), String> {
    let mut usage = Some(0.0);
    let mut request = 0.0;
    let mut any = false;
    for c in p
        .containers
        .iter()
        .filter(|c| container.is_none_or(|n| c.name.as_deref() == Some(n)))
    {
        any = true;
        let (u, r) = match resource {
            "cpu" => (c.cpu_usage_milli, c.cpu_request_milli),
            _ => (c.memory_usage_bytes, c.memory_request_bytes),
        };
        usage = usage.zip(u).map(|(a, b)| a + b);
        let name = c.name.as_deref().unwrap_or("(unnamed)");
        request += r.ok_or_else(|| format!("missing request for {resource} in container {name} of Pod {}", p.name))?;
    }
    if !any {
        usage = None;
    }
    Ok((usage, request))
}

/// The Resource or ContainerResource metric being computed.
struct ResourceMetric<'a> {
    /// `cpu` or `memory`.
    resource: &'a str,
    /// The container to read, for ContainerResource; `None` sums the pod's containers.
    container: Option<&'a str>,
    /// Utilization (percent of the request) or AverageValue.
    target: &'a MetricTarget,
}

fn resource_replicas(
    view: &MetricsView,
    metric: ResourceMetric,
    current: u32,
    now: i64,
    opts: &ControllerOptions,
    tol: Tolerance,
) -> Result<u32, String> {
    let ResourceMetric {
        resource,
        container,
        target,
    } = metric;
    if resource != "cpu" && resource != "memory" {
        return Err(format!("resource {resource:?} is not observed (cpu and memory are)"));
    }
    let mut metrics = BTreeMap::new();
    let mut requests = BTreeMap::new();
    for p in &view.pods {
        let (usage, request) = pod_resource(p, resource, container)?;
        requests.insert(p.name.clone(), request);
        if let Some(u) = usage.filter(|u| u.is_finite()) {
            metrics.insert(p.name.clone(), u);
        }
    }
    if view.pods.is_empty() {
        return Err("no pods returned by selector while calculating replica count".into());
    }
    let g = group_pods(&view.pods, &metrics, resource == "cpu", now, opts);
    match target.kind {
        TargetType::AverageValue => {
            // averageValue in base units; cpu usage arrives in millicores
            let t = target.average_value.map(|q| q.0).unwrap_or(0.0) * if resource == "cpu" { 1000.0 } else { 1.0 };
            plain_replicas(metrics, current, t, &g, tol)
        }
        _ => {
            let t = target.average_utilization.unwrap_or(0);
            utilization_replicas(metrics, &requests, current, t, &g, tol)
        }
    }
}

/// GetResourceReplicas: utilization in whole percent, as the controller computes it.
fn utilization_replicas(
    mut metrics: BTreeMap<String, f64>,
    requests: &BTreeMap<String, f64>,
    current: u32,
    target: i64,
    g: &Groups,
    tol: Tolerance,
) -> Result<u32, String> {
    metrics.retain(|k, _| !g.ignored.contains(k) && !g.unready.contains(k));
    if metrics.is_empty() {
        return Err("did not receive metrics for targeted pods (pods might be unready)".into());
    }
    let ratio_of = |m: &BTreeMap<String, f64>| -> Result<f64, String> {
        let used: f64 = m.values().sum();
        let req: f64 = m.keys().map(|k| requests.get(k).copied().unwrap_or(0.0)).sum();
        if req <= 0.0 {
            return Err("no metrics returned matched known pods".into());
        }
        // integer percent, truncated, as currentUtilization is an int32 in the controller
        let util = ((used * 100.0) / req).floor();
        Ok(util / target as f64)
    };
    let ratio = ratio_of(&metrics)?;
    let up_with_unready = !g.unready.is_empty() && ratio > 1.0;
    if !up_with_unready && g.missing.is_empty() {
        if tol.within(ratio) {
            return Ok(current);
        }
        return Ok((ratio * g.ready as f64).ceil() as u32);
    }
    let fallback = (target.max(100)) as f64 / 100.0;
    for name in &g.missing {
        let req = requests.get(name).copied().unwrap_or(0.0);
        metrics.insert(name.clone(), if ratio < 1.0 { (req * fallback).floor() } else { 0.0 });
    }
    if up_with_unready {
        for name in &g.unready {
            metrics.insert(name.clone(), 0.0);
        }
    }
    let new_ratio = ratio_of(&metrics)?;
    finish(ratio, new_ratio, metrics.len(), current, tol)
}

/// getUsageRatioReplicaCount: Object and External `Value` targets scale the ready pod count.
fn usage_ratio_replicas(view: &MetricsView, current: u32, ratio: f64, tol: Tolerance) -> Result<u32, String> {
    if current == 0 {
        return Ok(ratio.ceil() as u32);
    }
    if tol.within(ratio) {
        return Ok(current);
    }
    if view.pods.is_empty() {
        return Err("no pods returned by selector while calculating replica count".into());
    }
    let ready = view
        .pods
        .iter()
        .filter(|p| p.phase == PodPhase::Running && p.ready)
        .count();
    Ok((ratio * ready as f64).ceil() as u32)
}

/// Object/External `AverageValue`: usage over the target per replica.
fn per_pod_replicas(usage: f64, target: f64, current: u32, tol: Tolerance) -> u32 {
    let ratio = usage / (target * current as f64);
    if tol.within(ratio) {
        current
    } else {
        (usage / target).ceil() as u32
    }
}

/// One metric's proposal (computeReplicasForMetric), or why it has none.
pub(crate) fn metric_replicas(
    spec: &MetricSpec,
    view: &MetricsView,
    current: u32,
    now: i64,
    opts: &ControllerOptions,
    tol: Tolerance,
) -> Result<u32, MetricError> {
    let target_of = |t: &MetricTarget| match t.kind {
        TargetType::Value => t.value.map(|q| q.0),
        _ => t.average_value.map(|q| q.0),
    };
    match spec.kind {
        MetricSourceType::Resource => {
            let r = spec
                .resource
                .as_ref()
                .ok_or_else(|| err("InvalidMetricSourceType", "resource is not set"))?;
            let metric = ResourceMetric {
                resource: &r.name,
                container: None,
                target: &r.target,
            };
            resource_replicas(view, metric, current, now, opts, tol).map_err(|m| {
                err(
                    "FailedGetResourceMetric",
                    format!("failed to get {} utilization: {m}", r.name),
                )
            })
        }
        MetricSourceType::ContainerResource => {
            let r = spec
                .container_resource
                .as_ref()
                .ok_or_else(|| err("InvalidMetricSourceType", "containerResource is not set"))?;
            let metric = ResourceMetric {
                resource: &r.name,
                container: Some(&r.container),
                target: &r.target,
            };
            resource_replicas(view, metric, current, now, opts, tol).map_err(|m| {
                err(
                    "FailedGetContainerResourceMetric",
                    format!("failed to get {} of container {}: {m}", r.name, r.container),
                )
            })
        }
        MetricSourceType::Pods => {
            let s = spec
                .pods
                .as_ref()
                .ok_or_else(|| err("InvalidMetricSourceType", "pods is not set"))?;
            let metrics: BTreeMap<String, f64> = view
                .pods
                .iter()
                .filter_map(|p| {
                    p.metrics
                        .get(&s.metric.name)
                        .filter(|v| v.is_finite())
                        .map(|v| (p.name.clone(), *v))
                })
                .collect();
            let g = group_pods(&view.pods, &metrics, false, now, opts);
            let target = target_of(&s.target).unwrap_or(0.0);
            plain_replicas(metrics, current, target, &g, tol).map_err(|m| {
                err(
                    "FailedGetPodsMetric",
                    format!("failed to get pods metric {}: {m}", s.metric.name),
                )
            })
        }
        MetricSourceType::Object => {
            let s = spec
                .object
                .as_ref()
                .ok_or_else(|| err("InvalidMetricSourceType", "object is not set"))?;
            let usage = view
                .object_metrics
                .get(&s.metric.name)
                .copied()
                .filter(|v| v.is_finite())
                .ok_or_else(|| {
                    err(
                        "FailedGetObjectMetric",
                        format!("unable to get object metric {}", s.metric.name),
                    )
                })?;
            let target = target_of(&s.target).unwrap_or(0.0);
            match s.target.kind {
                TargetType::AverageValue => Ok(per_pod_replicas(usage, target, current, tol)),
                _ => usage_ratio_replicas(view, current, usage / target, tol)
                    .map_err(|m| err("FailedGetObjectMetric", m)),
            }
        }
        MetricSourceType::External => {
            let s = spec
                .external
                .as_ref()
                .ok_or_else(|| err("InvalidMetricSourceType", "external is not set"))?;
            let values = view
                .external_metrics
                .get(&s.metric.name)
                .filter(|v| !v.is_empty() && v.iter().all(|x| x.is_finite()));
            let usage: f64 = values
                .ok_or_else(|| {
                    err(
                        "FailedGetExternalMetric",
                        format!("no metrics returned from external metrics API for {}", s.metric.name),
                    )
                })?
                .iter()
                .sum();
            let target = target_of(&s.target).unwrap_or(0.0);
            match s.target.kind {
                TargetType::AverageValue => Ok(per_pod_replicas(usage, target, current, tol)),
                _ => usage_ratio_replicas(view, current, usage / target, tol)
                    .map_err(|m| err("FailedGetExternalMetric", m)),
            }
        }
    }
}

/// One metric's outcome, for decision records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricProposal {
    /// The metric's label: `resource/cpu`, `containerResource/app/cpu`, `pods/qps`, ...
    pub metric: String,
    /// The replicas this metric alone asks for; `None` when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u32>,
    /// Why the metric has no proposal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<MetricError>,
}

fn metric_label(m: &MetricSpec) -> String {
    match m.kind {
        MetricSourceType::Resource => format!("resource/{}", m.resource.as_ref().map_or("?", |r| r.name.as_str())),
        MetricSourceType::ContainerResource => {
            format!(
                "containerResource/{}",
                m.container_resource
                    .as_ref()
                    .map_or("?".into(), |r| format!("{}/{}", r.container, r.name))
            )
        }
        MetricSourceType::Pods => format!("pods/{}", m.pods.as_ref().map_or("?", |r| r.metric.name.as_str())),
        MetricSourceType::Object => format!("object/{}", m.object.as_ref().map_or("?", |r| r.metric.name.as_str())),
        MetricSourceType::External => format!(
            "external/{}",
            m.external.as_ref().map_or("?", |r| r.metric.name.as_str())
        ),
    }
}

/// computeReplicasForMetrics: the highest proposal. If every metric failed, or some failed
/// and the rest would scale down, there is no recommendation (the HPA never scales down on
/// partial data).
pub(crate) fn replicas_for_metrics(
    metrics: &[MetricSpec],
    view: &MetricsView,
    current: u32,
    now: i64,
    opts: &ControllerOptions,
    tol: Tolerance,
) -> (Result<u32, MetricError>, Vec<MetricProposal>) {
    let mut best: Option<u32> = None;
    let mut first_err = None;
    let mut proposals = Vec::new();
    for m in metrics {
        match metric_replicas(m, view, current, now, opts, tol) {
            Ok(r) => {
                best = Some(best.map_or(r, |b| b.max(r)));
                proposals.push(MetricProposal {
                    metric: metric_label(m),
                    replicas: Some(r),
                    error: None,
                });
            }
            Err(e) => {
                first_err.get_or_insert_with(|| e.clone());
                proposals.push(MetricProposal {
                    metric: metric_label(m),
                    replicas: None,
                    error: Some(e),
                });
            }
        }
    }
    let result = match (best, first_err) {
        (None, Some(e)) => Err(e),
        (None, None) => Err(err("InvalidMetricSourceType", "no metrics configured")),
        (Some(b), Some(e)) if b < current => Err(MetricError {
            reason: e.reason,
            message: format!("{} (not scaling down while a metric is invalid)", e.message),
        }),
        (Some(b), _) => Ok(b),
    };
    (result, proposals)
}

/// The utilization calculation on aggregate numbers, as the simulator needs it: `ready` pods
/// share `ready_usage`; the other `current − ready` pods are starting (Pending).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HpaUtilization {
    /// Target utilization as a fraction of capacity (0.8 is `averageUtilization: 80`).
    pub target_utilization: f64,
    /// The controller's tolerance, both directions; the HPA default is 0.1.
    pub tolerance: f64,
}

/// The pods of [`recommend`] in aggregate: counts and the usage the ready ones share.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PodsView {
    /// Pods that exist now, ready or starting.
    pub current: u32,
    /// Pods that are ready and report usage.
    pub ready: u32,
    /// Usage summed over the ready pods, in the unit of `per_pod_capacity` (the control step
    /// passes demand in req/s).
    pub ready_usage: f64,
    /// What one pod handles at 100% utilization: its request, in the unit of `ready_usage`.
    pub per_pod_capacity: f64,
}

/// The Resource-utilization rules on aggregate numbers (ready pods share the usage equally,
/// the rest are Pending), identical to `utilization_replicas` on the equivalent pod list.
pub fn recommend(h: &HpaUtilization, v: &PodsView) -> Option<u32> {
    if v.ready == 0 || v.per_pod_capacity <= 0.0 || !v.ready_usage.is_finite() {
        return None;
    }
    let target = (h.target_utilization * 100.0).round() as i64;
    let each = v.ready_usage / v.ready as f64;
    let mut metrics = BTreeMap::new();
    let mut requests = BTreeMap::new();
    let mut g = Groups {
        ready: v.ready as usize,
        unready: BTreeSet::new(),
        missing: BTreeSet::new(),
        ignored: BTreeSet::new(),
    };
    for i in 0..v.current.max(v.ready) {
        let name = format!("p{i}");
        requests.insert(name.clone(), v.per_pod_capacity);
        if i < v.ready {
            metrics.insert(name, each);
        } else {
            g.unready.insert(name);
        }
    }
    utilization_replicas(
        metrics,
        &requests,
        v.current,
        target,
        &g,
        Tolerance::uniform(h.tolerance),
    )
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reactive::hpa::spec::*;

    /// A running, ready pod started long ago with one container.
    fn pod(name: &str, request: f64, usage: Option<f64>) -> PodInput {
        PodInput {
            name: name.into(),
            phase: PodPhase::Running,
            ready: true,
            start_time: Some(-3600),
            ready_time: Some(-3500),
            deleting: false,
            containers: vec![ContainerInput {
                name: Some("app".into()),
                cpu_request_milli: Some(request),
                cpu_usage_milli: usage,
                memory_request_bytes: Some(1e9),
                memory_usage_bytes: usage.map(|u| u * 1e6),
            }],
            metrics: usage
                .map(|u| BTreeMap::from([("qps".to_string(), u)]))
                .unwrap_or_default(),
        }
    }

    fn cpu(util: i64) -> MetricSpec {
        serde_json::from_value(serde_json::json!({"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": util}}})).unwrap()
    }

    fn spec(v: serde_json::Value) -> MetricSpec {
        serde_json::from_value(v).unwrap()
    }

    fn view(pods: Vec<PodInput>) -> MetricsView {
        MetricsView {
            pods,
            ..Default::default()
        }
    }

    fn calc(m: &MetricSpec, v: &MetricsView, current: u32) -> Result<u32, MetricError> {
        metric_replicas(m, v, current, 0, &ControllerOptions::default(), Tolerance::uniform(0.1))
    }

    #[test]
    fn replica_calculation_table() {
        let with = |mut p: PodInput, f: &dyn Fn(&mut PodInput)| {
            f(&mut p);
            p
        };
        let pods_qps = spec(
            serde_json::json!({"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue", "averageValue": "10"}}}),
        );
        let cpu_avg = spec(
            serde_json::json!({"type": "Resource", "resource": {"name": "cpu", "target": {"type": "AverageValue", "averageValue": "500m"}}}),
        );
        let mem = spec(
            serde_json::json!({"type": "Resource", "resource": {"name": "memory", "target": {"type": "Utilization", "averageUtilization": 50}}}),
        );
        let container = spec(
            serde_json::json!({"type": "ContainerResource", "containerResource": {"name": "cpu", "container": "app", "target": {"type": "Utilization", "averageUtilization": 50}}}),
        );
        // (documented rule, metric, pods, current, expected)
        type Case = (&'static str, MetricSpec, Vec<PodInput>, u32, Option<u32>);
        let cases: Vec<Case> = vec![
            (
                "ratio 2.0 doubles the replicas (currentMetricValue/desiredMetricValue)",
                cpu(50),
                vec![pod("a", 1000.0, Some(1000.0)), pod("b", 1000.0, Some(1000.0))],
                2,
                Some(4),
            ),
            (
                "ratio 0.5 halves the replicas",
                cpu(50),
                vec![
                    pod("a", 1000.0, Some(250.0)),
                    pod("b", 1000.0, Some(250.0)),
                    pod("c", 1000.0, Some(250.0)),
                    pod("d", 1000.0, Some(250.0)),
                ],
                4,
                Some(2),
            ),
            (
                "within the 0.1 tolerance nothing changes (ratio 1.08)",
                cpu(50),
                vec![pod("a", 1000.0, Some(540.0)), pod("b", 1000.0, Some(540.0))],
                2,
                Some(2),
            ),
            (
                "ratio 1.1 is just outside the tolerance in float64, as in the controller",
                cpu(50),
                vec![pod("a", 1000.0, Some(550.0)), pod("b", 1000.0, Some(550.0))],
                2,
                Some(3),
            ),
            (
                "within tolerance below 1 (ratio 0.9)",
                cpu(50),
                vec![pod("a", 1000.0, Some(450.0)), pod("b", 1000.0, Some(450.0))],
                2,
                Some(2),
            ),
            (
                "just outside tolerance scales (ratio 1.12 → ceil(2.24)=3)",
                cpu(50),
                vec![pod("a", 1000.0, Some(560.0)), pod("b", 1000.0, Some(560.0))],
                2,
                Some(3),
            ),
            (
                "utilization is whole percent, truncated (66.6% → 66%)",
                cpu(30),
                vec![pod("a", 3000.0, Some(2000.0))],
                1,
                Some(3),
            ),
            (
                "pods being deleted are discarded",
                cpu(50),
                vec![
                    pod("a", 1000.0, Some(1000.0)),
                    with(pod("b", 1000.0, Some(0.0)), &|p| p.deleting = true),
                ],
                2,
                Some(2),
            ),
            (
                "failed pods are discarded",
                cpu(50),
                vec![
                    pod("a", 1000.0, Some(1000.0)),
                    with(pod("b", 1000.0, Some(0.0)), &|p| p.phase = PodPhase::Failed),
                ],
                2,
                Some(2),
            ),
            (
                "missing metrics count as 100% on scale-down",
                cpu(50),
                vec![pod("a", 1000.0, Some(100.0)), pod("b", 1000.0, None)],
                2,
                Some(2),
            ),
            (
                "missing metrics, scale-down that survives the 100% assumption",
                cpu(50),
                vec![
                    pod("a", 1000.0, Some(0.0)),
                    pod("b", 1000.0, Some(0.0)),
                    pod("c", 1000.0, Some(0.0)),
                    pod("d", 1000.0, None),
                ],
                4,
                Some(2),
            ),
            (
                "missing metrics count as 0% on scale-up",
                cpu(50),
                vec![pod("a", 1000.0, Some(1000.0)), pod("b", 1000.0, None)],
                2,
                Some(2),
            ),
            (
                "missing metrics, scale-up that survives the 0% assumption",
                cpu(50),
                vec![
                    pod("a", 1000.0, Some(1000.0)),
                    pod("b", 1000.0, Some(1000.0)),
                    pod("c", 1000.0, None),
                ],
                3,
                Some(4),
            ),
            (
                "pending pods count as 0% on scale-up",
                cpu(50),
                vec![
                    pod("a", 1000.0, Some(1000.0)),
                    with(pod("b", 1000.0, None), &|p| p.phase = PodPhase::Pending),
                ],
                2,
                Some(2),
            ),
            (
                "unready pods are ignored on scale-down",
                cpu(50),
                vec![
                    pod("a", 1000.0, Some(100.0)),
                    pod("b", 1000.0, Some(100.0)),
                    with(pod("c", 1000.0, Some(900.0)), &|p| {
                        p.ready = false;
                        p.ready_time = Some(-3600);
                        p.start_time = Some(-3590)
                    }),
                ],
                3,
                Some(1),
            ),
            (
                "unready pods count as 0% on scale-up; no change if the direction flips",
                cpu(50),
                vec![
                    pod("a", 1000.0, Some(800.0)),
                    with(pod("b", 1000.0, Some(900.0)), &|p| {
                        p.ready = false;
                        p.start_time = Some(-100);
                        p.ready_time = Some(-100)
                    }),
                ],
                2,
                Some(2),
            ),
            (
                "a pod inside the CPU initialization period whose metric window is not complete counts as unready",
                cpu(50),
                vec![
                    pod("a", 1000.0, Some(1000.0)),
                    pod("b", 1000.0, Some(1000.0)),
                    with(pod("c", 1000.0, Some(1000.0)), &|p| {
                        p.start_time = Some(-60);
                        p.ready_time = Some(-10)
                    }),
                ],
                3,
                Some(4),
            ),
            (
                "after the initialization period a ready pod counts normally",
                cpu(50),
                vec![
                    pod("a", 1000.0, Some(1000.0)),
                    pod("b", 1000.0, Some(1000.0)),
                    with(pod("c", 1000.0, Some(1000.0)), &|p| {
                        p.start_time = Some(-400);
                        p.ready_time = Some(-390)
                    }),
                ],
                3,
                Some(6),
            ),
            (
                "memory has no initialization rule",
                mem.clone(),
                vec![
                    pod("a", 1000.0, Some(1000.0)),
                    with(pod("b", 1000.0, Some(1000.0)), &|p| {
                        p.start_time = Some(-60);
                        p.ready_time = Some(-10)
                    }),
                ],
                2,
                Some(4),
            ),
            (
                "Resource AverageValue: 1000m average against 500m",
                cpu_avg,
                vec![pod("a", 1000.0, Some(1000.0)), pod("b", 1000.0, Some(1000.0))],
                2,
                Some(4),
            ),
            (
                "Pods AverageValue: average 20 qps against 10",
                pods_qps.clone(),
                vec![pod("a", 1000.0, Some(20.0)), pod("b", 1000.0, Some(20.0))],
                2,
                Some(4),
            ),
            (
                "Pods metric: missing pods at the target on scale-down",
                pods_qps.clone(),
                vec![
                    pod("a", 1000.0, Some(2.0)),
                    pod("b", 1000.0, Some(2.0)),
                    pod("c", 1000.0, Some(2.0)),
                    pod("d", 1000.0, None),
                ],
                4,
                Some(2),
            ),
            (
                "ContainerResource reads one container",
                container,
                vec![pod("a", 1000.0, Some(1000.0))],
                1,
                Some(2),
            ),
            (
                "no metrics for any pod is an error",
                pods_qps,
                vec![pod("a", 1000.0, None)],
                1,
                None,
            ),
        ];
        for (doc, m, pods, current, want) in cases {
            assert_eq!(calc(&m, &view(pods), current).ok(), want, "{doc}");
        }
    }

    #[test]
    fn object_and_external_table() {
        let obj = |kind: &str, v: &str| {
            spec(
                serde_json::json!({"type": "Object", "object": {"describedObject": {"kind": "Ingress", "name": "main"}, "metric": {"name": "rps"}, "target": {"type": kind, kind_field(kind): v}}}),
            )
        };
        let ext = |kind: &str, v: &str| {
            spec(
                serde_json::json!({"type": "External", "external": {"metric": {"name": "queue"}, "target": {"type": kind, kind_field(kind): v}}}),
            )
        };
        let pods = vec![
            pod("a", 1000.0, Some(1.0)),
            pod("b", 1000.0, Some(1.0)),
            with_unready(pod("c", 1000.0, Some(1.0))),
        ];
        let v = MetricsView {
            pods,
            object_metrics: BTreeMap::from([("rps".into(), 40.0)]),
            external_metrics: BTreeMap::from([("queue".into(), vec![30.0, 30.0])]),
        };
        // (documented rule, metric, current, expected)
        let cases = [
            (
                "Object Value: ratio × ready pods (40/10 × 2 ready)",
                obj("Value", "10"),
                3,
                Some(8),
            ),
            ("Object Value within tolerance", obj("Value", "38"), 3, Some(3)),
            (
                "Object AverageValue: usage / target per pod",
                obj("AverageValue", "5"),
                3,
                Some(8),
            ),
            (
                "Object AverageValue within tolerance of current",
                obj("AverageValue", "13"),
                3,
                Some(3),
            ),
            (
                "External Value: sum of series (60/20 × 2 ready)",
                ext("Value", "20"),
                3,
                Some(6),
            ),
            ("External AverageValue: 60 / 15", ext("AverageValue", "15"), 3, Some(4)),
            (
                "Object Value from zero replicas: ceil(ratio)",
                obj("Value", "10"),
                0,
                Some(4),
            ),
        ];
        for (doc, m, current, want) in cases {
            assert_eq!(calc(&m, &v, current).ok(), want, "{doc}");
        }
        let empty = MetricsView {
            pods: v.pods.clone(),
            ..Default::default()
        };
        assert_eq!(
            calc(&obj("Value", "10"), &empty, 3).unwrap_err().reason,
            "FailedGetObjectMetric"
        );
        assert_eq!(
            calc(&ext("Value", "10"), &empty, 3).unwrap_err().reason,
            "FailedGetExternalMetric"
        );
    }

    fn kind_field(kind: &str) -> &'static str {
        if kind == "Value" { "value" } else { "averageValue" }
    }

    fn with_unready(mut p: PodInput) -> PodInput {
        p.ready = false;
        p
    }

    #[test]
    fn multiple_metrics_take_the_max_and_never_scale_down_on_partial_data() {
        let qps = spec(
            serde_json::json!({"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue", "averageValue": 10}}}),
        );
        let missing = spec(
            serde_json::json!({"type": "External", "external": {"metric": {"name": "nope"}, "target": {"type": "Value", "value": 1}}}),
        );
        let opts = ControllerOptions::default();
        let tol = Tolerance::uniform(0.1);
        // "the largest of the desired replica counts is chosen"
        let v = view(vec![pod("a", 1000.0, Some(40.0)), pod("b", 1000.0, Some(40.0))]);
        let (r, _) = replicas_for_metrics(&[cpu(50), qps.clone()], &v, 2, 0, &opts, tol);
        assert_eq!(r.unwrap(), 8);
        // "if a metric cannot be computed and the others suggest scale-down, scaling is skipped"
        let low = view(vec![pod("a", 1000.0, Some(1.0)), pod("b", 1000.0, Some(1.0))]);
        let (r, props) = replicas_for_metrics(&[qps.clone(), missing.clone()], &low, 2, 0, &opts, tol);
        assert!(r.is_err() && props.len() == 2);
        // "...but it can still scale up"
        let (r, _) = replicas_for_metrics(&[qps, missing], &v, 2, 0, &opts, tol);
        assert_eq!(r.unwrap(), 8);
    }

    #[test]
    fn missing_request_is_an_error() {
        let mut p = pod("a", 1000.0, Some(500.0));
        p.containers[0].cpu_request_milli = None;
        let e = calc(&cpu(50), &view(vec![p]), 1).unwrap_err();
        assert!(
            e.message.contains("missing request for cpu in container app of Pod a"),
            "{e:?}"
        );
    }

    #[test]
    fn spec_validation_names_paths() {
        let cases = [
            (serde_json::json!({"maxReplicas": 0}), "hpa.maxReplicas"),
            (
                serde_json::json!({"minReplicas": 5, "maxReplicas": 3}),
                "hpa.maxReplicas",
            ),
            (
                serde_json::json!({"maxReplicas": 3, "metrics": [{"type": "Resource"}]}),
                "hpa.metrics[0].resource",
            ),
            (
                serde_json::json!({"maxReplicas": 3, "metrics": [{"type": "Pods", "pods": {"metric": {"name": "q"}, "target": {"type": "Utilization", "averageUtilization": 5}}}]}),
                "hpa.metrics[0].pods.target.type",
            ),
            (
                serde_json::json!({"maxReplicas": 3, "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 0}}}]}),
                "hpa.metrics[0].resource.target.averageUtilization",
            ),
        ];
        for (json, want) in cases {
            let s: HpaSpec = serde_json::from_value(json).unwrap();
            let e = s.validate().unwrap_err();
            assert!(e.starts_with(want), "{e}");
        }
        let s: HpaSpec = serde_json::from_value(serde_json::json!({"maxReplicas": 3})).unwrap();
        let d = s.defaulted();
        assert_eq!((d.min(), d.metrics.len()), (1, 1), "defaults: minReplicas 1, cpu 80%");
    }

    #[test]
    fn aggregate_recommend_matches_rules() {
        let h = HpaUtilization {
            target_utilization: 0.5,
            tolerance: 0.1,
        };
        let v = |current, ready, usage| PodsView {
            current,
            ready,
            ready_usage: usage,
            per_pod_capacity: 1.0,
        };
        for (view, want) in [
            (v(4, 4, 4.0), Some(8)),
            (v(4, 4, 1.0), Some(2)),
            (v(4, 4, 2.1), Some(4)),
            (v(4, 2, 2.0), Some(4)),
            (v(4, 2, 3.0), Some(6)),
            (v(3, 0, 0.0), None),
        ] {
            assert_eq!(recommend(&h, &view), want, "{view:?}");
        }
    }
}
