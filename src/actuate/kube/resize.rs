//! Vertical target: container requests/limits. In place through the pod `resize` subresource
//! (Kubernetes 1.33+) where the policy allows, otherwise through the owning workload's pod
//! template (which rolls the pods).
//!
//! Both writes are strategic merge patches: containers merge by `name`, so the patch names one
//! container and leaves the others alone (a JSON merge patch would replace the whole list).

use kube::api::Patch;
use kube::core::Request;
use serde::Serialize;

use super::api::{from_build, from_kube, patch_params};
use super::scale::ScalableKind;
use crate::actuate::ActuateError;
use crate::plan::vertical::recommender::Resources;

const MIB: f64 = 1024.0 * 1024.0;

/// Where a vertical decision may be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum VerticalPolicy {
    /// Resize running pods; fail with the API's message when the cluster refuses.
    InPlaceOnly,
    /// Resize running pods; when the cluster has no `resize` subresource (pre-1.33: 404) or
    /// refuses the in-place change (422, e.g. it would change the pod's QoS class), patch the
    /// pod template instead.
    #[default]
    InPlaceOrTemplate,
    /// Always patch the pod template (new pods, rolling restart).
    PodTemplate,
}

/// Requests (from the recommender's target) and, optionally, limits.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ContainerResources {
    /// `resources.requests`: cpu and memory.
    pub requests: Resources,
    /// `resources.limits`; None leaves the container's limits as they are.
    pub limits: Option<Resources>,
}

/// How a vertical decision was applied.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "path", rename_all = "snake_case")]
pub enum ResizeOutcome {
    /// Pods resized in place, and pods that already matched.
    InPlace {
        /// Pods whose `resize` subresource was patched.
        resized: Vec<String>,
        /// Pods that already had the resources.
        unchanged: Vec<String>,
    },
    /// The pod template was patched; `reason` says why in place was not used.
    PodTemplate {
        /// The policy, or the in-place error that caused the fallback.
        reason: String,
    },
}

/// Pure: may a failed in-place resize fall back to the pod template?
pub fn fallback_to_template(policy: VerticalPolicy, err: &ActuateError) -> bool {
    policy == VerticalPolicy::InPlaceOrTemplate && matches!(err, ActuateError::Rejected { status: 404 | 422, .. })
}

/// CPU cores as whole millicores, rounded up (a request is a floor).
pub fn cpu_quantity(cores: f64) -> String {
    format!("{}m", (cores.max(0.0) * 1000.0).ceil() as u64)
}

/// Memory bytes as whole MiB, rounded up (a request is a floor).
pub fn memory_quantity(bytes: f64) -> String {
    format!("{}Mi", (bytes.max(0.0) / MIB).ceil() as u64)
}

fn quantities(r: &Resources) -> serde_json::Value {
    serde_json::json!({"cpu": cpu_quantity(r.cpu_cores), "memory": memory_quantity(r.memory_bytes)})
}

/// The container entry of both patches: `{"name": ..., "resources": {...}}`.
pub fn container_patch(container: &str, res: &ContainerResources) -> serde_json::Value {
    let mut resources = serde_json::json!({"requests": quantities(&res.requests)});
    if let Some(l) = &res.limits {
        resources["limits"] = quantities(l);
    }
    serde_json::json!({"name": container, "resources": resources})
}

/// True when the container already has exactly these quantities (compared as numbers, since the
/// API server canonicalises, e.g. `1000m` to `1`).
fn matches(container: &serde_json::Value, res: &ContainerResources) -> bool {
    let same = |section: &str, want: &Resources| {
        let get = |k: &str| {
            container["resources"][section][k]
                .as_str()
                .and_then(crate::core::quantity::parse)
        };
        let want_cpu = crate::core::quantity::parse(&cpu_quantity(want.cpu_cores));
        let want_mem = crate::core::quantity::parse(&memory_quantity(want.memory_bytes));
        get("cpu") == want_cpu && get("memory") == want_mem
    };
    same("requests", &res.requests) && res.limits.as_ref().is_none_or(|l| same("limits", l))
}

/// One container of one workload (apps/v1 Deployment, StatefulSet or ReplicaSet).
pub struct KubeResize {
    client: kube::Client,
    namespace: String,
    workload: ScalableKind,
    name: String,
    container: String,
    policy: VerticalPolicy,
}

impl KubeResize {
    /// Container `container` of the workload `name` in `namespace`, written as `policy` allows.
    pub fn new(
        client: kube::Client,
        namespace: &str,
        workload: ScalableKind,
        name: &str,
        container: &str,
        policy: VerticalPolicy,
    ) -> Self {
        KubeResize {
            client,
            namespace: namespace.into(),
            workload,
            name: name.into(),
            container: container.into(),
            policy,
        }
    }

    /// A short, stable id for logs, e.g. `deployment/default/web/app`.
    pub fn describe(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.workload.kind.to_lowercase(),
            self.namespace,
            self.name,
            self.container
        )
    }

    /// Applies the resources by the policy. Pods already at the desired values are not written.
    pub async fn apply(&self, res: &ContainerResources) -> Result<ResizeOutcome, ActuateError> {
        if self.policy == VerticalPolicy::PodTemplate {
            self.patch_template(res).await?;
            return Ok(ResizeOutcome::PodTemplate {
                reason: "policy pod-template".into(),
            });
        }
        match self.resize_pods(res).await {
            Ok(outcome) => Ok(outcome),
            Err(e) if fallback_to_template(self.policy, &e) => {
                self.patch_template(res).await?;
                Ok(ResizeOutcome::PodTemplate {
                    reason: format!("in-place resize refused: {e}"),
                })
            }
            Err(e) => Err(e),
        }
    }

    /// `matchLabels` of the workload's selector as a label selector string, sorted by key.
    async fn selector(&self) -> Result<String, ActuateError> {
        let req = Request::new(self.workload.collection_path(&self.namespace))
            .get(&self.name, &Default::default())
            .map_err(from_build)?;
        let obj: serde_json::Value = self.client.request(req).await.map_err(from_kube)?;
        let labels = obj["spec"]["selector"]["matchLabels"]
            .as_object()
            .filter(|m| !m.is_empty());
        let Some(labels) = labels else {
            return Err(ActuateError::Refused(format!(
                "{}: spec.selector.matchLabels is empty; cannot find its pods",
                self.describe()
            )));
        };
        let mut pairs: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
            .collect();
        pairs.sort();
        Ok(pairs.join(","))
    }

    async fn resize_pods(&self, res: &ContainerResources) -> Result<ResizeOutcome, ActuateError> {
        let selector = self.selector().await?;
        let pods = Request::new(format!("/api/v1/namespaces/{}/pods", self.namespace));
        let lp = kube::api::ListParams::default().labels(&selector);
        let list: serde_json::Value = self
            .client
            .request(pods.list(&lp).map_err(from_build)?)
            .await
            .map_err(from_kube)?;
        let (mut resized, mut unchanged) = (vec![], vec![]);
        for pod in list["items"].as_array().into_iter().flatten() {
            let name = pod["metadata"]["name"].as_str().unwrap_or_default();
            // Terminating or finished pods are not worth resizing.
            let running = pod["status"]["phase"].as_str() == Some("Running");
            if name.is_empty() || !running || !pod["metadata"]["deletionTimestamp"].is_null() {
                continue;
            }
            let container = pod["spec"]["containers"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| c["name"].as_str() == Some(self.container.as_str()));
            let Some(container) = container else {
                return Err(ActuateError::Refused(format!(
                    "pod {name} has no container {:?}",
                    self.container
                )));
            };
            if matches(container, res) {
                unchanged.push(name.to_string());
                continue;
            }
            let patch = Patch::Strategic(serde_json::json!({
                "spec": {"containers": [container_patch(&self.container, res)]}
            }));
            let req = pods
                .patch_subresource("resize", name, &patch_params(), &patch)
                .map_err(from_build)?;
            let _: serde_json::Value = self.client.request(req).await.map_err(from_kube)?;
            resized.push(name.to_string());
        }
        Ok(ResizeOutcome::InPlace { resized, unchanged })
    }

    async fn patch_template(&self, res: &ContainerResources) -> Result<(), ActuateError> {
        let patch = Patch::Strategic(serde_json::json!({
            "spec": {"template": {"spec": {"containers": [container_patch(&self.container, res)]}}}
        }));
        let req = Request::new(self.workload.collection_path(&self.namespace))
            .patch(&self.name, &patch_params(), &patch)
            .map_err(from_build)?;
        let _: serde_json::Value = self.client.request(req).await.map_err(from_kube)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_round_up() {
        let cases = [(0.25, "250m"), (0.0001, "1m"), (1.5, "1500m"), (0.0, "0m")];
        for (cores, want) in cases {
            assert_eq!(cpu_quantity(cores), want);
        }
        let cases = [(256.0 * MIB, "256Mi"), (256.0 * MIB + 1.0, "257Mi"), (1e9, "954Mi")];
        for (bytes, want) in cases {
            assert_eq!(memory_quantity(bytes), want);
        }
    }

    #[test]
    fn fallback_by_policy_and_error() {
        let e404 = ActuateError::from_status(404, "the server could not find the requested resource");
        let e422 = ActuateError::from_status(422, "Pod QOS Class may not change as a result of resizing");
        let e409 = ActuateError::from_status(409, "conflict");
        let e403 = ActuateError::from_status(403, "forbidden");
        let cases = [
            (VerticalPolicy::InPlaceOrTemplate, &e404, true),
            (VerticalPolicy::InPlaceOrTemplate, &e422, true),
            (VerticalPolicy::InPlaceOrTemplate, &e409, false),
            (VerticalPolicy::InPlaceOrTemplate, &e403, false),
            (VerticalPolicy::InPlaceOnly, &e404, false),
            (VerticalPolicy::InPlaceOnly, &e422, false),
        ];
        for (policy, err, want) in cases {
            assert_eq!(fallback_to_template(policy, err), want, "{policy:?} {err}");
        }
    }

    #[test]
    fn matches_compares_numbers() {
        let res = ContainerResources {
            requests: Resources {
                cpu_cores: 1.0,
                memory_bytes: 512.0 * MIB,
            },
            limits: None,
        };
        let c = serde_json::json!({"name": "app", "resources": {"requests": {"cpu": "1", "memory": "512Mi"}}});
        assert!(matches(&c, &res));
        let c = serde_json::json!({"name": "app", "resources": {"requests": {"cpu": "900m", "memory": "512Mi"}}});
        assert!(!matches(&c, &res));
        let c = serde_json::json!({"name": "app"});
        assert!(!matches(&c, &res));
    }
}
