//! Horizontal target: the `scale` subresource (autoscaling/v1 `Scale`) of any scalable
//! resource — Deployment, StatefulSet, ReplicaSet, or a custom resource with a scale
//! subresource.
//!
//! Patch type: JSON merge patch (`application/merge-patch+json`). Strategic merge patch is not
//! served for custom resources, and server-side apply would take field ownership of
//! `spec.replicas` from whoever else applies the workload; a merge patch works for every scalable
//! kind. The patch carries the `resourceVersion` of the last read, so a write that raced another
//! writer fails with 409 and [`crate::actuate::apply`] re-reads instead of overwriting blindly.

use std::sync::Mutex;

use k8s_openapi::api::autoscaling::v1::Scale;
use kube::core::Request;

use super::api::{from_build, from_kube, patch_params};
use crate::actuate::{ActuateError, ScaleReading, ScaleTarget};

/// Which collection a scalable resource lives in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScalableKind {
    /// Empty for the core group.
    pub group: String,
    /// The API version within the group, e.g. `v1`.
    pub version: String,
    /// The kind, e.g. `Deployment`.
    pub kind: String,
    /// The resource's plural, the last segment of its collection path, e.g. `deployments`.
    pub plural: String,
}

impl ScalableKind {
    /// apps/v1 Deployment.
    pub fn deployment() -> Self {
        Self::custom("apps", "v1", "Deployment", "deployments")
    }
    /// apps/v1 StatefulSet.
    pub fn stateful_set() -> Self {
        Self::custom("apps", "v1", "StatefulSet", "statefulsets")
    }
    /// apps/v1 ReplicaSet.
    pub fn replica_set() -> Self {
        Self::custom("apps", "v1", "ReplicaSet", "replicasets")
    }
    /// A custom resource whose CRD declares a scale subresource.
    pub fn custom(group: &str, version: &str, kind: &str, plural: &str) -> Self {
        ScalableKind {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
            plural: plural.into(),
        }
    }

    /// The built-in kinds from a `scaleTargetRef` (`apiVersion` + `kind`). Custom resources need
    /// their plural, so they go through [`ScalableKind::custom`].
    pub fn from_ref(api_version: &str, kind: &str) -> Result<Self, ActuateError> {
        match (api_version, kind) {
            ("apps/v1", "Deployment") => Ok(Self::deployment()),
            ("apps/v1", "StatefulSet") => Ok(Self::stateful_set()),
            ("apps/v1", "ReplicaSet") => Ok(Self::replica_set()),
            _ => Err(ActuateError::Refused(format!(
                "scaleTargetRef {api_version} {kind}: not a built-in scalable kind; \
                 give group/version/plural for a custom resource"
            ))),
        }
    }

    /// `group/version`, or just the version for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `/apis/{group}/{version}/namespaces/{ns}/{plural}` (or `/api/v1/...` for core).
    pub fn collection_path(&self, namespace: &str) -> String {
        let root = if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        };
        format!("{root}/namespaces/{namespace}/{}", self.plural)
    }
}

/// Replicas of one scalable object through its `scale` subresource.
pub struct KubeScale {
    client: kube::Client,
    namespace: String,
    kind: ScalableKind,
    name: String,
    /// `resourceVersion` of the last read: the precondition of the next write.
    seen: Mutex<Option<String>>,
}

impl KubeScale {
    /// The object `name` of `kind` in `namespace`.
    pub fn new(client: kube::Client, namespace: &str, kind: ScalableKind, name: &str) -> Self {
        KubeScale {
            client,
            namespace: namespace.into(),
            kind,
            name: name.into(),
            seen: Mutex::new(None),
        }
    }

    /// From a `scaleTargetRef` of a built-in kind.
    pub fn from_ref(
        client: kube::Client,
        namespace: &str,
        api_version: &str,
        kind: &str,
        name: &str,
    ) -> Result<Self, ActuateError> {
        Ok(Self::new(
            client,
            namespace,
            ScalableKind::from_ref(api_version, kind)?,
            name,
        ))
    }

    fn request(&self) -> Request {
        Request::new(self.kind.collection_path(&self.namespace))
    }

    /// The merge patch `write` sends.
    pub fn patch_body(replicas: u32, resource_version: Option<&str>) -> serde_json::Value {
        let mut patch = serde_json::json!({"spec": {"replicas": replicas}});
        if let Some(rv) = resource_version {
            patch["metadata"] = serde_json::json!({"resourceVersion": rv});
        }
        patch
    }
}

#[async_trait::async_trait]
impl ScaleTarget for KubeScale {
    fn describe(&self) -> String {
        format!("{}/{}/{}", self.kind.kind.to_lowercase(), self.namespace, self.name)
    }

    async fn read(&self) -> Result<ScaleReading, ActuateError> {
        let req = self
            .request()
            .get_subresource("scale", &self.name)
            .map_err(from_build)?;
        let scale: Scale = self.client.request(req).await.map_err(from_kube)?;
        let replicas = scale.spec.and_then(|s| s.replicas).unwrap_or(0);
        *self.seen.lock().unwrap_or_else(|p| p.into_inner()) = scale.metadata.resource_version;
        Ok(ScaleReading {
            replicas: u32::try_from(replicas).unwrap_or(0),
            min: None,
            max: None,
        })
    }

    async fn write(&self, replicas: u32) -> Result<(), ActuateError> {
        let rv = self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let patch = kube::api::Patch::Merge(Self::patch_body(replicas, rv.as_deref()));
        let req = self
            .request()
            .patch_subresource("scale", &self.name, &patch_params(), &patch)
            .map_err(from_build)?;
        let _: Scale = self.client.request(req).await.map_err(from_kube)?;
        Ok(())
    }
}
