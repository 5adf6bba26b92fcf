//! The HPA spec (autoscaling/v2) as users write it, camelCase, and its validation.

use super::behavior::HpaBehavior;
use crate::core::quantity::Quantity;
use serde::{Deserialize, Serialize};

// ---------- the spec, as users write it (autoscaling/v2, camelCase) ----------

/// `HorizontalPodAutoscalerSpec`: the replica bounds, the metrics to scale on and the behavior.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HpaSpec {
    /// `scaleTargetRef`, kept as written; the replica calculation does not read it.
    #[serde(default)]
    pub scale_target_ref: Option<serde_json::Value>,
    /// `minReplicas`; the API default is 1 (see [`HpaSpec::min`]).
    #[serde(default)]
    pub min_replicas: Option<u32>,
    /// `maxReplicas`: the upper bound, at least 1 and at least `minReplicas`.
    pub max_replicas: u32,
    /// `metrics`; the proposal is the maximum over them. Empty means CPU at 80% once defaulted.
    #[serde(default)]
    pub metrics: Vec<MetricSpec>,
    /// `behavior`: scale-up and scale-down rules; `None` means the Kubernetes defaults.
    #[serde(default)]
    pub behavior: Option<HpaBehavior>,
}

/// `MetricSourceType`: which of the [`MetricSpec`] source fields is populated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MetricSourceType {
    /// A resource (cpu, memory) averaged over the target's pods.
    Resource,
    /// A resource of one named container in each pod.
    ContainerResource,
    /// A custom metric per pod, averaged over the pods.
    Pods,
    /// A metric describing one Kubernetes object (an Ingress, say).
    Object,
    /// A metric from outside the cluster (a queue length, say).
    External,
}

/// `MetricSpec`: one metric to scale on; `type` names the one source field that must be set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetricSpec {
    /// `type`: selects which of the fields below is read.
    #[serde(rename = "type")]
    pub kind: MetricSourceType,
    /// `resource`, for `type: Resource`.
    #[serde(default)]
    pub resource: Option<ResourceSource>,
    /// `containerResource`, for `type: ContainerResource`.
    #[serde(default)]
    pub container_resource: Option<ContainerResourceSource>,
    /// `pods`, for `type: Pods`.
    #[serde(default)]
    pub pods: Option<MetricSource>,
    /// `object`, for `type: Object`.
    #[serde(default)]
    pub object: Option<ObjectSource>,
    /// `external`, for `type: External`.
    #[serde(default)]
    pub external: Option<MetricSource>,
}

/// `ResourceMetricSource`: a resource summed over each pod's containers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceSource {
    /// The resource name, `cpu` or `memory`.
    pub name: String,
    /// Utilization (percent of the request) or AverageValue.
    pub target: MetricTarget,
}

/// `ContainerResourceMetricSource`: a resource of one container in each pod, not the pod's sum.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContainerResourceSource {
    /// The resource name, `cpu` or `memory`.
    pub name: String,
    /// The container's name; pods without it have no metric.
    pub container: String,
    /// Utilization (percent of the container's request) or AverageValue.
    pub target: MetricTarget,
}

/// `PodsMetricSource` or `ExternalMetricSource`: a named metric and its target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetricSource {
    /// The metric's name and label selector.
    pub metric: MetricIdentifier,
    /// AverageValue for Pods; Value or AverageValue for External.
    pub target: MetricTarget,
}

/// `ObjectMetricSource`: a metric describing one object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObjectSource {
    /// `describedObject`, kept as written; the metric value comes in already resolved.
    #[serde(default)]
    pub described_object: Option<serde_json::Value>,
    /// The metric's name and label selector.
    pub metric: MetricIdentifier,
    /// Value or AverageValue.
    pub target: MetricTarget,
}

/// `MetricIdentifier`: which metric, by name and optional label selector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetricIdentifier {
    /// The metric's name in the metrics API.
    pub name: String,
    /// A label selector, kept as written; `None` selects by name alone.
    #[serde(default)]
    pub selector: Option<serde_json::Value>,
}

/// `MetricTargetType`: which of the [`MetricTarget`] values is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TargetType {
    /// A percent of the pods' resource request (Resource and ContainerResource only).
    Utilization,
    /// The metric's total, compared as is (Object and External only).
    Value,
    /// The metric per pod (per current replica for Object and External).
    AverageValue,
}

/// `MetricTarget`: the desired value; `type` says which field must be set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetricTarget {
    /// `type`: selects the field below that is compared.
    #[serde(rename = "type")]
    pub kind: TargetType,
    /// `averageUtilization`: percent of the request, greater than 0.
    #[serde(default)]
    pub average_utilization: Option<i64>,
    /// `averageValue`: the per-pod target, positive.
    #[serde(default)]
    pub average_value: Option<Quantity>,
    /// `value`: the total target, positive.
    #[serde(default)]
    pub value: Option<Quantity>,
}

impl HpaSpec {
    /// API defaults: minReplicas 1; no metrics means CPU at 80% utilization.
    pub fn defaulted(mut self) -> Self {
        self.min_replicas.get_or_insert(1);
        if self.metrics.is_empty() {
            self.metrics.push(MetricSpec {
                kind: MetricSourceType::Resource,
                resource: Some(ResourceSource {
                    name: "cpu".into(),
                    target: MetricTarget {
                        kind: TargetType::Utilization,
                        average_utilization: Some(80),
                        average_value: None,
                        value: None,
                    },
                }),
                container_resource: None,
                pods: None,
                object: None,
                external: None,
            });
        }
        self
    }

    /// `minReplicas`, or its API default 1.
    pub fn min(&self) -> u32 {
        self.min_replicas.unwrap_or(1)
    }

    /// The API server's checks; errors name the field path under `hpa`.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_replicas < 1 {
            return Err("hpa.maxReplicas: must be greater than or equal to 1".into());
        }
        if let Some(m) = self.min_replicas {
            if m < 1 {
                return Err("hpa.minReplicas: must be greater than or equal to 1".into());
            }
            if m > self.max_replicas {
                return Err(format!(
                    "hpa.maxReplicas: must be greater than or equal to `minReplicas` ({m})"
                ));
            }
        }
        for (i, m) in self.metrics.iter().enumerate() {
            validate_metric(&format!("hpa.metrics[{i}]"), m)?;
        }
        Ok(())
    }
}

fn validate_metric(path: &str, m: &MetricSpec) -> Result<(), String> {
    let (field, target) = match m.kind {
        MetricSourceType::Resource => ("resource", m.resource.as_ref().map(|r| &r.target)),
        MetricSourceType::ContainerResource => ("containerResource", m.container_resource.as_ref().map(|r| &r.target)),
        MetricSourceType::Pods => ("pods", m.pods.as_ref().map(|r| &r.target)),
        MetricSourceType::Object => ("object", m.object.as_ref().map(|r| &r.target)),
        MetricSourceType::External => ("external", m.external.as_ref().map(|r| &r.target)),
    };
    let t = target.ok_or_else(|| format!("{path}.{field}: must populate information for the given metric source"))?;
    let tp = format!("{path}.{field}.target");
    let positive = |q: Option<Quantity>, name: &str| match q {
        Some(Quantity(v)) if v > 0.0 => Ok(()),
        Some(Quantity(v)) => Err(format!("{tp}.{name}: must be positive, got {v}")),
        None => Err(format!("{tp}.{name}: must be set for a {:?} target", t.kind)),
    };
    let resource_like = matches!(m.kind, MetricSourceType::Resource | MetricSourceType::ContainerResource);
    match t.kind {
        TargetType::Utilization if !resource_like => {
            Err(format!("{tp}.type: Utilization is only valid for Resource metrics"))
        }
        TargetType::Utilization => match t.average_utilization {
            Some(u) if u > 0 => Ok(()),
            Some(u) => Err(format!("{tp}.averageUtilization: must be greater than 0, got {u}")),
            None => Err(format!("{tp}.averageUtilization: must be set for a Utilization target")),
        },
        TargetType::AverageValue => positive(t.average_value, "averageValue"),
        TargetType::Value if matches!(m.kind, MetricSourceType::Object | MetricSourceType::External) => {
            positive(t.value, "value")
        }
        TargetType::Value => Err(format!(
            "{tp}.type: Value is only valid for Object and External metrics"
        )),
    }
}
