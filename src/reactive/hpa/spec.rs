//! The HPA spec (autoscaling/v2) as users write it, camelCase, and its validation.

use super::behavior::HpaBehavior;
use crate::core::quantity::Quantity;
use serde::{Deserialize, Serialize};

// ---------- the spec, as users write it (autoscaling/v2, camelCase) ----------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HpaSpec {
    #[serde(default)]
    pub scale_target_ref: Option<serde_json::Value>,
    #[serde(default)]
    pub min_replicas: Option<u32>,
    pub max_replicas: u32,
    #[serde(default)]
    pub metrics: Vec<MetricSpec>,
    #[serde(default)]
    pub behavior: Option<HpaBehavior>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MetricSourceType {
    Resource,
    ContainerResource,
    Pods,
    Object,
    External,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetricSpec {
    #[serde(rename = "type")]
    pub kind: MetricSourceType,
    #[serde(default)]
    pub resource: Option<ResourceSource>,
    #[serde(default)]
    pub container_resource: Option<ContainerResourceSource>,
    #[serde(default)]
    pub pods: Option<MetricSource>,
    #[serde(default)]
    pub object: Option<ObjectSource>,
    #[serde(default)]
    pub external: Option<MetricSource>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceSource {
    pub name: String,
    pub target: MetricTarget,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContainerResourceSource {
    pub name: String,
    pub container: String,
    pub target: MetricTarget,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetricSource {
    pub metric: MetricIdentifier,
    pub target: MetricTarget,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObjectSource {
    #[serde(default)]
    pub described_object: Option<serde_json::Value>,
    pub metric: MetricIdentifier,
    pub target: MetricTarget,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetricIdentifier {
    pub name: String,
    #[serde(default)]
    pub selector: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TargetType {
    Utilization,
    Value,
    AverageValue,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetricTarget {
    #[serde(rename = "type")]
    pub kind: TargetType,
    #[serde(default)]
    pub average_utilization: Option<i64>,
    #[serde(default)]
    pub average_value: Option<Quantity>,
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
