//! Knative Service (serving.knative.dev/v1) target: SCALE sets the floor the Knative Pod
//! Autoscaler scales from, through the revision template's autoscaling annotations.
//!
//! Why the template and not the PodAutoscaler: the PodAutoscaler is owned by the Revision and
//! the revision reconciler rewrites its spec from the Revision's annotations, so a direct PA
//! patch is undone on the next reconcile. Patching `spec.template.metadata.annotations` is the
//! supported interface; its cost is a new Revision per change (see docs/actuators.md). So the
//! target writes only when the floor actually changes (read-compare-write), and sets
//! `initial-scale` to the same floor so the new Revision is brought up at the pre-warmed size
//! before traffic moves to it, instead of at 1.
//!
//! `replicas` of this target is `min-scale`; `max-scale` is reported as the target's maximum so
//! [`crate::actuate::apply`] refuses to set a floor above it.

use std::sync::Mutex;

use kube::api::Patch;
use kube::core::Request;

use super::api::{from_build, from_kube, patch_params};
use crate::actuate::{ActuateError, ScaleReading, ScaleTarget};

/// The KPA's floor: this target's `replicas`.
pub const MIN_SCALE: &str = "autoscaling.knative.dev/min-scale";
/// The KPA's ceiling: reported as the target's maximum.
pub const MAX_SCALE: &str = "autoscaling.knative.dev/max-scale";
/// The size a new Revision starts at; written equal to the floor.
pub const INITIAL_SCALE: &str = "autoscaling.knative.dev/initial-scale";

/// The three annotations; None removes one (a merge-patch `null`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnativeBounds {
    /// [`MIN_SCALE`].
    pub min: Option<u32>,
    /// [`MAX_SCALE`].
    pub max: Option<u32>,
    /// [`INITIAL_SCALE`].
    pub initial: Option<u32>,
}

/// The merge patch for `bounds`, with the `resourceVersion` precondition when known.
pub fn bounds_patch(bounds: &KnativeBounds, resource_version: Option<&str>) -> serde_json::Value {
    let v = |x: Option<u32>| x.map_or(serde_json::Value::Null, |n| n.to_string().into());
    let mut patch = serde_json::json!({
        "spec": {"template": {"metadata": {"annotations": {
            MIN_SCALE: v(bounds.min),
            MAX_SCALE: v(bounds.max),
            INITIAL_SCALE: v(bounds.initial),
        }}}}
    });
    if let Some(rv) = resource_version {
        patch["metadata"] = serde_json::json!({"resourceVersion": rv});
    }
    patch
}

/// Annotation value as a count; absent is None, malformed is an error naming the annotation.
fn annotation(annotations: &serde_json::Value, key: &str, service: &str) -> Result<Option<u32>, ActuateError> {
    match annotations[key].as_str() {
        None => Ok(None),
        Some(s) => s.trim().parse::<u32>().map(Some).map_err(|_| {
            ActuateError::Refused(format!(
                "ksvc {service}: spec.template.metadata.annotations[{key}] = {s:?} is not a whole number"
            ))
        }),
    }
}

/// One Knative Service as a [`ScaleTarget`]: its replica count is the `min-scale` floor.
pub struct KnativeService {
    client: kube::Client,
    namespace: String,
    name: String,
    /// Last read: bounds and `resourceVersion` (the next write's precondition).
    seen: Mutex<Option<(KnativeBounds, Option<String>)>>,
}

impl KnativeService {
    /// The Service `name` in `namespace`.
    pub fn new(client: kube::Client, namespace: &str, name: &str) -> Self {
        KnativeService {
            client,
            namespace: namespace.into(),
            name: name.into(),
            seen: Mutex::new(None),
        }
    }

    fn request(&self) -> Request {
        Request::new(format!(
            "/apis/serving.knative.dev/v1/namespaces/{}/services",
            self.namespace
        ))
    }

    /// Current annotations of the revision template.
    pub async fn read_bounds(&self) -> Result<KnativeBounds, ActuateError> {
        let req = self
            .request()
            .get(&self.name, &Default::default())
            .map_err(from_build)?;
        let svc: serde_json::Value = self.client.request(req).await.map_err(from_kube)?;
        let ann = &svc["spec"]["template"]["metadata"]["annotations"];
        let bounds = KnativeBounds {
            min: annotation(ann, MIN_SCALE, &self.name)?,
            max: annotation(ann, MAX_SCALE, &self.name)?,
            initial: annotation(ann, INITIAL_SCALE, &self.name)?,
        };
        let rv = svc["metadata"]["resourceVersion"].as_str().map(str::to_string);
        *self.seen.lock().unwrap_or_else(|p| p.into_inner()) = Some((bounds, rv));
        Ok(bounds)
    }

    /// Writes all three annotations (None removes one).
    pub async fn write_bounds(&self, bounds: &KnativeBounds) -> Result<(), ActuateError> {
        let rv = self
            .seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .and_then(|(_, rv)| rv.clone());
        let patch = Patch::Merge(bounds_patch(bounds, rv.as_deref()));
        let req = self
            .request()
            .patch(&self.name, &patch_params(), &patch)
            .map_err(from_build)?;
        let _: serde_json::Value = self.client.request(req).await.map_err(from_kube)?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl ScaleTarget for KnativeService {
    fn describe(&self) -> String {
        format!("ksvc/{}/{}", self.namespace, self.name)
    }

    async fn read(&self) -> Result<ScaleReading, ActuateError> {
        let b = self.read_bounds().await?;
        Ok(ScaleReading {
            replicas: b.min.unwrap_or(0),
            min: None,
            // max-scale 0 means unbounded in Knative.
            max: b.max.filter(|&m| m > 0),
        })
    }

    /// min-scale = initial-scale = replicas; max-scale untouched. A floor of 0 removes
    /// initial-scale (0 needs the cluster's allow-zero-initial-scale).
    async fn write(&self, replicas: u32) -> Result<(), ActuateError> {
        let max = self
            .seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .and_then(|(b, _)| b.max);
        let bounds = KnativeBounds {
            min: Some(replicas),
            max,
            initial: (replicas > 0).then_some(replicas),
        };
        self.write_bounds(&bounds).await
    }
}
