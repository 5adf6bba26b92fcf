//! The `ForecastScaler` custom resource (scale.dev/v1alpha1): what to scale, within which
//! bounds and behavior, from which metrics, with which forecast, in which mode.
//!
//! The schema carries the checks the API server can do (types, ranges, CEL rules such as
//! minReplicas ≤ maxReplicas); [`ForecastScalerSpec::validate`] repeats them in code with
//! errors naming the field, for files read outside a cluster and for API servers without CEL.

use kube::{CustomResource, CustomResourceExt, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::reactive::hpa::behavior::HpaBehavior;
use crate::{Error, Result};

/// The spec of a ForecastScaler: one workload, its bounds, metrics, forecast and mode.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "scale.dev",
    version = "v1alpha1",
    kind = "ForecastScaler",
    plural = "forecastscalers",
    shortname = "fs",
    namespaced,
    status = "ForecastScalerStatus",
    printcolumn = r#"{"name":"Target","type":"string","jsonPath":".spec.scaleTargetRef.name"}"#,
    printcolumn = r#"{"name":"Mode","type":"string","jsonPath":".spec.mode"}"#,
    printcolumn = r#"{"name":"Min","type":"integer","jsonPath":".spec.minReplicas"}"#,
    printcolumn = r#"{"name":"Max","type":"integer","jsonPath":".spec.maxReplicas"}"#,
    printcolumn = r#"{"name":"Desired","type":"integer","jsonPath":".status.lastDecision.desiredReplicas"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[x_kube(validation = Rule::new("self.minReplicas <= self.maxReplicas").message("minReplicas must be less than or equal to maxReplicas"))]
#[serde(rename_all = "camelCase")]
pub struct ForecastScalerSpec {
    /// The workload whose replicas SCALE sets (a Deployment, StatefulSet, ReplicaSet, a custom
    /// resource with a scale subresource, or a Knative Service).
    pub scale_target_ref: ScaleTargetRef,
    /// Lower bound on replicas (default 1).
    #[serde(default = "default_min_replicas")]
    #[schemars(range(min = 0))]
    pub min_replicas: i32,
    /// Upper bound on replicas (at least 1 and at least minReplicas).
    #[schemars(range(min = 1))]
    pub max_replicas: i32,
    /// Scale-up/scale-down rules, the autoscaling/v2 HorizontalPodAutoscalerBehavior shape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "behavior_schema")]
    pub behavior: Option<HpaBehavior>,
    /// Demand signals; the first one drives the forecast.
    #[schemars(length(min = 1))]
    pub metrics: Vec<MetricSpec>,
    /// Horizon, quantile and model of the forecast.
    #[serde(default)]
    pub forecast: ForecastSettings,
    /// Mirrors the governor's modes. Default ForecastOnly: a new ForecastScaler records decisions
    /// (status, Events) and changes nothing until someone sets `Auto`.
    #[serde(default)]
    pub mode: ScalerMode,
    /// How far a forecast may scale in: `Reactive` (never below the HPA's recommendation, the
    /// default) or `Forecast` (forecast-driven, under a safety floor at the SLO-derived load).
    #[serde(default)]
    pub scale_in: ScaleInMode,
    /// Container requests/limits; absent means replicas only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vertical: Option<VerticalSettings>,
}

fn default_min_replicas() -> i32 {
    1
}

/// The scaled object, in the ForecastScaler's namespace (the autoscaling/v2 scaleTargetRef).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScaleTargetRef {
    /// e.g. `apps/v1` or `serving.knative.dev/v1`.
    pub api_version: String,
    /// e.g. `Deployment`, `StatefulSet` or `Service` (Knative).
    pub kind: String,
    /// The object's name.
    pub name: String,
}

/// One demand signal. `type` says which member is set (the autoscaling/v2 MetricSpec pattern).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[x_kube(validation = Rule::new("self.type == 'Prometheus' ? has(self.prometheus) : has(self.traces)").message("the member named by type must be set"))]
#[serde(rename_all = "camelCase")]
pub struct MetricSpec {
    /// `Prometheus` or `Traces`: which member below is set.
    #[serde(rename = "type")]
    pub kind: MetricType,
    /// A PromQL series; set when `type` is `Prometheus`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<PrometheusMetric>,
    /// A series derived from OpenTelemetry spans received by SCALE; set when `type` is `Traces`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traces: Option<TraceMetric>,
}

/// Which kind of demand signal a [`MetricSpec`] is.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum MetricType {
    /// A PromQL query ([`PrometheusMetric`]).
    Prometheus,
    /// A rate derived from received spans ([`TraceMetric`]).
    Traces,
}

/// A demand series read from Prometheus.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrometheusMetric {
    /// PromQL returning one series, e.g. requests per second.
    #[schemars(length(min = 1))]
    pub query: String,
    /// Prometheus base URL; absent means the server's `[source.prometheus] url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// A series derived from OpenTelemetry spans received by SCALE.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TraceMetric {
    /// `service.name` of the spans.
    #[schemars(length(min = 1))]
    pub service: String,
    /// What is counted: `Requests` (default) or `BusySeconds`.
    #[serde(default)]
    pub signal: TraceSignal,
}

/// The series a [`TraceMetric`] derives from the spans.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum TraceSignal {
    /// Server spans per second.
    #[default]
    Requests,
    /// Sum of server span durations per second (busy seconds per second).
    BusySeconds,
}

/// How the demand is forecast.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ForecastSettings {
    /// How far ahead to plan, e.g. `15m`, `1h` (default `1h`).
    #[serde(default = "default_horizon")]
    pub horizon: String,
    /// Demand quantile planned for (default 0.5, the median; the reactive floor and the burst
    /// guard sit under it).
    #[serde(default = "default_quantile")]
    #[schemars(range(min = 0.5, max = 0.999))]
    pub quantile: f64,
    /// `auto` (the model family the backtest selected) or a family name, e.g. `ets`.
    #[serde(default = "default_model")]
    pub model: String,
}

impl Default for ForecastSettings {
    fn default() -> Self {
        ForecastSettings {
            horizon: default_horizon(),
            quantile: default_quantile(),
            model: default_model(),
        }
    }
}

fn default_horizon() -> String {
    "1h".into()
}
fn default_quantile() -> f64 {
    0.5
}

/// `spec.scaleIn`: the governor's scale-in mode, CamelCase as Kubernetes spells enums.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum ScaleInMode {
    /// Never below the reactive (HPA) recommendation.
    #[default]
    Reactive,
    /// Forecast-driven scale-in under a safety floor.
    Forecast,
}

impl From<ScaleInMode> for crate::govern::ScaleIn {
    fn from(m: ScaleInMode) -> Self {
        match m {
            ScaleInMode::Reactive => crate::govern::ScaleIn::Reactive,
            ScaleInMode::Forecast => crate::govern::ScaleIn::Forecast,
        }
    }
}
fn default_model() -> String {
    "auto".into()
}

/// Mirrors the governor's modes. Default ForecastOnly: a new ForecastScaler records decisions
/// (status, Events) and changes nothing until someone sets `Auto`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum ScalerMode {
    /// Decide nothing, apply nothing.
    Off,
    /// Decide and record (status, Events), never apply.
    #[default]
    ForecastOnly,
    /// Decide and apply.
    Auto,
}

impl From<ScalerMode> for crate::govern::Mode {
    fn from(m: ScalerMode) -> Self {
        match m {
            ScalerMode::Off => crate::govern::Mode::Off,
            ScalerMode::ForecastOnly => crate::govern::Mode::ForecastOnly,
            ScalerMode::Auto => crate::govern::Mode::Auto,
        }
    }
}

/// Vertical scaling: one container's requests/limits.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerticalSettings {
    /// Container whose requests/limits SCALE sets.
    pub container: String,
    /// How a new size reaches the pods (default `InPlaceOrTemplate`).
    #[serde(default)]
    pub update_policy: VerticalUpdatePolicy,
    /// Smallest resources SCALE sets, as Kubernetes quantities (e.g. `cpu: 250m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_allowed: Option<ResourceAmounts>,
    /// Largest resources SCALE sets, as Kubernetes quantities (e.g. `memory: 512Mi`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_allowed: Option<ResourceAmounts>,
    /// Largest relative change per step, e.g. 0.5 = ±50%.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0))]
    pub max_step_fraction: Option<f64>,
}

/// How vertical changes are applied.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum VerticalUpdatePolicy {
    /// Resize running pods; fail when the cluster refuses.
    InPlaceOnly,
    /// Resize running pods; patch the pod template when the cluster cannot.
    #[default]
    InPlaceOrTemplate,
    /// Always patch the pod template (new pods, rolling restart).
    PodTemplate,
}

impl From<VerticalUpdatePolicy> for crate::actuate::kube::resize::VerticalPolicy {
    fn from(p: VerticalUpdatePolicy) -> Self {
        use crate::actuate::kube::resize::VerticalPolicy as V;
        match p {
            VerticalUpdatePolicy::InPlaceOnly => V::InPlaceOnly,
            VerticalUpdatePolicy::InPlaceOrTemplate => V::InPlaceOrTemplate,
            VerticalUpdatePolicy::PodTemplate => V::PodTemplate,
        }
    }
}

/// Kubernetes quantities, e.g. `cpu: 250m`, `memory: 512Mi`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct ResourceAmounts {
    /// CPU quantity, e.g. `250m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
    /// Memory quantity, e.g. `512Mi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
}

/// What serve last decided and forecast for this ForecastScaler (written on change only).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ForecastScalerStatus {
    /// The metadata.generation the status was computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The most recent decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_decision: Option<LastDecision>,
    /// The forecast behind the last decision, when one was used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forecast: Option<ForecastSummary>,
    /// `Ready`, `Active` and `Error`.
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

/// One control-loop decision, as the status shows it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LastDecision {
    /// RFC 3339.
    pub time: String,
    /// Replicas the target had when the decision was made.
    pub current_replicas: i32,
    /// Replicas decided on.
    pub desired_replicas: i32,
    /// Whether the decision was written to the target.
    pub applied: bool,
    /// The governor step that decided, e.g. `PredictiveAboveReactive`, `ForecastOnly`.
    pub reason: String,
    /// `step=value` for every governor step.
    pub message: String,
}

/// The forecast a decision used.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ForecastSummary {
    /// RFC 3339 time the forecast was made.
    pub generated_at: String,
    /// spec.forecast.horizon.
    pub horizon: String,
    /// The demand quantile planned for.
    pub quantile: f64,
    /// Peak demand at `quantile` over the horizon.
    pub peak: f64,
    /// spec.forecast.model.
    pub model: String,
    /// The artifact version that forecast.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_version: Option<String>,
}

/// metav1.Condition.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// `Ready`, `Active` or `Error`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// The metadata.generation the condition was set for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// RFC 3339; changes only when `status` flips.
    pub last_transition_time: String,
    /// CamelCase cause, e.g. `Decided`, `NoDemand`, `ActuationFailed`.
    pub reason: String,
    /// Human-readable detail (the failure message for `Error`).
    pub message: String,
}

/// The autoscaling/v2 HorizontalPodAutoscalerBehavior schema (the repo's `HpaBehavior` has no
/// derived schema; it serializes to this shape).
fn behavior_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let rules = serde_json::json!({
        "type": "object",
        "properties": {
            "stabilizationWindowSeconds": {"type": "integer", "format": "int32", "minimum": 0, "maximum": 3600},
            "selectPolicy": {"type": "string", "enum": ["Max", "Min", "Disabled"]},
            "policies": {
                "type": "array",
                "x-kubernetes-list-type": "atomic",
                "items": {
                    "type": "object",
                    "required": ["type", "value", "periodSeconds"],
                    "properties": {
                        "type": {"type": "string", "enum": ["Pods", "Percent"]},
                        "value": {"type": "integer", "format": "int32", "minimum": 1},
                        "periodSeconds": {"type": "integer", "format": "int32", "minimum": 1, "maximum": 1800}
                    }
                }
            },
            "tolerance": {"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]}
        }
    });
    schemars::json_schema!({
        "type": "object",
        "description": "autoscaling/v2 HorizontalPodAutoscalerBehavior",
        "properties": {"scaleUp": rules, "scaleDown": rules}
    })
}

impl ForecastScalerSpec {
    /// The schema's rules, in code, with the failing field named.
    pub fn validate(&self) -> Result<()> {
        let r = &self.scale_target_ref;
        for (field, v) in [
            ("spec.scaleTargetRef.apiVersion", &r.api_version),
            ("spec.scaleTargetRef.kind", &r.kind),
            ("spec.scaleTargetRef.name", &r.name),
        ] {
            if v.trim().is_empty() {
                return Err(Error::config(field, "must not be empty"));
            }
        }
        if self.min_replicas < 0 {
            return Err(Error::config(
                "spec.minReplicas",
                format!("{} is negative", self.min_replicas),
            ));
        }
        if self.max_replicas < 1 {
            return Err(Error::config(
                "spec.maxReplicas",
                format!("{} is below 1", self.max_replicas),
            ));
        }
        if self.min_replicas > self.max_replicas {
            return Err(Error::config(
                "spec.minReplicas",
                format!("{} is above maxReplicas {}", self.min_replicas, self.max_replicas),
            ));
        }
        if self.metrics.is_empty() {
            return Err(Error::config("spec.metrics", "at least one metric is required"));
        }
        for (i, m) in self.metrics.iter().enumerate() {
            let ok = match m.kind {
                MetricType::Prometheus => m.prometheus.as_ref().is_some_and(|p| !p.query.trim().is_empty()),
                MetricType::Traces => m.traces.as_ref().is_some_and(|t| !t.service.trim().is_empty()),
            };
            if !ok {
                let member = match m.kind {
                    MetricType::Prometheus => "prometheus.query",
                    MetricType::Traces => "traces.service",
                };
                return Err(Error::config(
                    format!("spec.metrics[{i}]"),
                    format!("type {:?} needs {member}", m.kind),
                ));
            }
        }
        if let Some(b) = &self.behavior {
            crate::reactive::hpa::behavior::BehaviorConfig::from_spec(Some(b))
                .map_err(|e| Error::config("spec.behavior", e))?;
        }
        crate::core::time::parse_duration("spec.forecast.horizon", &self.forecast.horizon)?;
        let q = self.forecast.quantile;
        if !(0.5..=0.999).contains(&q) {
            return Err(Error::config(
                "spec.forecast.quantile",
                format!("{q} is outside [0.5, 0.999]"),
            ));
        }
        if let Some(v) = &self.vertical {
            if v.container.trim().is_empty() {
                return Err(Error::config("spec.vertical.container", "must not be empty"));
            }
            for (field, amounts) in [
                ("spec.vertical.minAllowed", &v.min_allowed),
                ("spec.vertical.maxAllowed", &v.max_allowed),
            ] {
                let Some(a) = amounts else { continue };
                for (k, q) in [("cpu", &a.cpu), ("memory", &a.memory)] {
                    if let Some(q) = q.as_deref().filter(|q| crate::core::quantity::parse(q).is_none()) {
                        return Err(Error::config(
                            format!("{field}.{k}"),
                            format!("{q:?} is not a quantity"),
                        ));
                    }
                }
            }
            if v.max_step_fraction.is_some_and(|f| !(f >= 0.0 && f.is_finite())) {
                return Err(Error::config(
                    "spec.vertical.maxStepFraction",
                    "must be a finite number ≥ 0",
                ));
            }
        }
        Ok(())
    }
}

/// Parses and validates a ForecastScaler manifest; errors name the file (and line for YAML
/// syntax or type errors) or the field.
pub fn parse_manifest(path: &std::path::Path, text: &str) -> Result<ForecastScaler> {
    let yaml_err = |e: serde_yaml_ng::Error| Error::data(path, e.location().map(|l| l.line()), e.to_string());
    let raw: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).map_err(yaml_err)?;
    let field = |k: &str| raw.get(k).and_then(|v| v.as_str()).unwrap_or_default().to_string();
    let (api_version, kind) = (field("apiVersion"), field("kind"));
    if api_version != "scale.dev/v1alpha1" || kind != "ForecastScaler" {
        return Err(Error::data(
            path,
            None,
            format!("expected apiVersion scale.dev/v1alpha1, kind ForecastScaler; found {api_version:?}, {kind:?}"),
        ));
    }
    let fs: ForecastScaler = serde_yaml_ng::from_str(text).map_err(yaml_err)?;
    fs.spec.validate().map_err(|e| match e {
        Error::Config { field, message, .. } => Error::Config {
            path: Some(path.into()),
            field,
            message,
        },
        other => other,
    })?;
    Ok(fs)
}

/// The CustomResourceDefinition as YAML, what `scale crd` prints.
pub fn crd_yaml() -> Result<String> {
    serde_yaml_ng::to_string(&ForecastScaler::crd()).map_err(|e| Error::Encode(format!("CRD to YAML: {e}")))
}
