//! ForecastScalers' Kubernetes calls (docs/serve.md "ForecastScalers"): list the CRs, hand them
//! to the pure [`super::mapping`], and write each CR's `status` subresource only when it changed.
//!
//! A periodic list, not a watch: the loop needs the full set anyway (to stop deleted CRs), a
//! list is one request whose exact form a verifier can assert, and a missed watch event cannot
//! leave a loop running for a deleted CR — the next list corrects it.

use super::crd::{ForecastScaler, ForecastScalerStatus};
use super::mapping::{Action, CrService, plan, rejected_status, status_changed};
use crate::{Error, Result};
use kube::api::{Api, ListParams, Patch, PatchParams};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Lists ForecastScalers in `namespace`, or in all namespaces when None.
pub async fn list(client: &kube::Client, namespace: Option<&str>) -> Result<Vec<ForecastScaler>> {
    let api: Api<ForecastScaler> = match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let what = namespace.map_or("all namespaces".to_string(), |n| format!("namespace {n}"));
    api.list(&ListParams::default())
        .await
        .map(|l| l.items)
        .map_err(|e| Error::Source {
            message: format!("listing ForecastScalers in {what}: {e}"),
            retryable: true,
        })
}

/// How a status write went.
#[derive(Debug, Clone, PartialEq)]
pub enum PatchOutcome {
    Written,
    Unchanged,
    /// 404: the CR was deleted; the next list stops its loop.
    Gone,
    /// 409: retried on the next decision.
    Conflict,
    Failed(String),
}

/// Merge-patches `status`, skipping writes that would not change it.
pub struct StatusWriter {
    client: kube::Client,
    last: HashMap<String, ForecastScalerStatus>,
}

impl StatusWriter {
    pub fn new(client: kube::Client) -> Self {
        StatusWriter {
            client,
            last: HashMap::new(),
        }
    }

    /// What was last written for `namespace/name` (the `prev` of [`status_for`]).
    pub fn last(&self, key: &str) -> Option<&ForecastScalerStatus> {
        self.last.get(key)
    }

    pub fn forget(&mut self, key: &str) {
        self.last.remove(key);
    }

    pub async fn write(&mut self, namespace: &str, name: &str, status: ForecastScalerStatus) -> PatchOutcome {
        let key = format!("{namespace}/{name}");
        if !status_changed(self.last.get(&key), &status) {
            return PatchOutcome::Unchanged;
        }
        let api: Api<ForecastScaler> = Api::namespaced(self.client.clone(), namespace);
        let body = serde_json::json!({ "status": status });
        match api
            .patch_status(name, &PatchParams::default(), &Patch::Merge(&body))
            .await
        {
            Ok(_) => {
                self.last.insert(key, status);
                PatchOutcome::Written
            }
            Err(e) => {
                // Nothing cached: the next decision writes again.
                self.last.remove(&key);
                let code = match &e {
                    kube::Error::Api(s) => s.code,
                    _ => 0,
                };
                match code {
                    404 => PatchOutcome::Gone,
                    409 => PatchOutcome::Conflict,
                    _ => {
                        tracing::warn!(cr = %key, "status patch failed: {e}");
                        PatchOutcome::Failed(e.to_string())
                    }
                }
            }
        }
    }
}

/// One periodic pass: list, plan, remember what runs, write rejected CRs' status. The caller
/// starts/stops the loops for the returned Start/Restart/Stop actions.
pub struct Reconciler {
    client: kube::Client,
    pub namespace: Option<String>,
    pub file_services: BTreeSet<String>,
    pub running: BTreeMap<String, CrService>,
    /// Shared with the CR loops, which write status after each decision.
    pub status: std::sync::Arc<tokio::sync::Mutex<StatusWriter>>,
}

impl Reconciler {
    pub fn new(client: kube::Client, namespace: Option<String>, file_services: BTreeSet<String>) -> Self {
        Reconciler {
            status: std::sync::Arc::new(tokio::sync::Mutex::new(StatusWriter::new(client.clone()))),
            client,
            namespace,
            file_services,
            running: BTreeMap::new(),
        }
    }

    /// A failed list changes nothing (running loops keep running until a list succeeds).
    pub async fn reconcile_once(&mut self, now: i64) -> Result<Vec<Action>> {
        let listed = list(&self.client, self.namespace.as_deref()).await?;
        let actions = plan(&self.file_services, &self.running, &listed);
        for a in &actions {
            match a {
                Action::Start(s) | Action::Restart(s) => {
                    self.running.insert(s.key.clone(), (**s).clone());
                }
                Action::Stop(k) => {
                    self.running.remove(k);
                }
                Action::Reject {
                    key,
                    namespace,
                    name,
                    generation,
                    reason,
                    message,
                } => {
                    let mut w = self.status.lock().await;
                    let st = rejected_status(w.last(key), *generation, reason, message, now);
                    let outcome = w.write(namespace, name, st).await;
                    tracing::warn!(cr = %key, ?outcome, "ForecastScaler not run: {message}");
                }
            }
        }
        Ok(actions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::actuation::tests::{ex, verifier};
    use crate::serve::forecastscaler::mapping::tests::{cr, decision, spec, summary};
    use crate::serve::forecastscaler::mapping::{status_for, to_service};
    use serde_json::{Value, json};

    const STATUS: &str = "/apis/scale.dev/v1alpha1/namespaces/shop/forecastscalers/web/status?";

    fn cr_json() -> Value {
        json!({"apiVersion": "scale.dev/v1alpha1", "kind": "ForecastScaler",
               "metadata": {"name": "web", "namespace": "shop"}, "spec": spec()})
    }

    #[tokio::test]
    async fn lists_all_namespaces_or_one() {
        let item = cr_json();
        let page = json!({"apiVersion": "scale.dev/v1alpha1", "kind": "ForecastScalerList",
                          "metadata": {"resourceVersion": "7"}, "items": [item]});
        let (client, task) = verifier(vec![
            ex(
                "GET",
                "/apis/scale.dev/v1alpha1/forecastscalers?",
                None,
                200,
                page.clone(),
            ),
            ex(
                "GET",
                "/apis/scale.dev/v1alpha1/namespaces/shop/forecastscalers?",
                None,
                200,
                page,
            ),
            ex(
                "GET",
                "/apis/scale.dev/v1alpha1/forecastscalers?",
                None,
                403,
                json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": "forbidden", "reason": "Forbidden", "code": 403}),
            ),
        ]);
        let all = list(&client, None).await.unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].metadata.name.as_deref(), Some("web"));
        assert_eq!(list(&client, Some("shop")).await.unwrap().len(), 1);
        let e = list(&client, None).await.unwrap_err().to_string();
        assert!(e.contains("listing ForecastScalers in all namespaces"), "{e}");
        drop(client);
        task.await.unwrap();
    }

    #[tokio::test]
    async fn status_patches_only_on_change_and_survives_404_and_409() {
        let svc = to_service(&cr("shop", "web", Some("50"), spec())).unwrap();
        let s1 = status_for(None, &svc, &decision(5, Some(300.0), None), Some("v2".into()));
        let want1 = json!({"status": {
        "observedGeneration": 3,
        "lastDecision": {"time": "2023-11-14T22:13:20Z", "currentReplicas": 2, "desiredReplicas": 5,
                         "applied": true, "reason": "final", "message": "final=5"},
        "forecast": {"generatedAt": "2023-11-14T22:13:20Z", "horizon": "30m", "quantile": 0.95,
                     "peak": 300.0, "model": "ets", "modelVersion": "v2"},
        "conditions": [
            {"type": "Ready", "status": "True", "observedGeneration": 3,
             "lastTransitionTime": "2023-11-14T22:13:20Z", "reason": "Decided", "message": ""},
            {"type": "Active", "status": "True", "observedGeneration": 3,
             "lastTransitionTime": "2023-11-14T22:13:20Z", "reason": "ForecastApplied", "message": ""},
            {"type": "Error", "status": "False", "observedGeneration": 3,
             "lastTransitionTime": "2023-11-14T22:13:20Z", "reason": "None", "message": ""}
        ]}});
        // Next tick, same decision, peak +0.5%: no write. Then the actuation fails.
        let mut d2 = decision(5, Some(301.5), None);
        d2.time += 30;
        let mut d3 = decision(5, Some(300.0), Some("scale: forbidden"));
        d3.time += 60;
        let s3 = status_for(Some(&s1), &svc, &d3, Some("v2".into()));
        let mut want3 = serde_json::to_value(&s3).unwrap();
        assert_eq!(want3["conditions"][0]["status"], "False");
        assert_eq!(want3["conditions"][0]["lastTransitionTime"], "2023-11-14T22:14:20Z");
        assert_eq!(
            want3["conditions"][1]["lastTransitionTime"], "2023-11-14T22:13:20Z",
            "Active did not flip"
        );
        assert_eq!(want3["conditions"][2]["message"], "scale: forbidden");
        want3 = json!({ "status": want3 });
        let gone = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": "not found"});
        let conflict = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Conflict", "code": 409, "message": "conflict"});
        let (client, task) = verifier(vec![
            ex("PATCH", STATUS, Some(want1.clone()), 200, cr_json()),
            ex("PATCH", STATUS, Some(want3.clone()), 409, conflict),
            ex("PATCH", STATUS, Some(want3.clone()), 200, cr_json()),
            ex("PATCH", STATUS, Some(want1.clone()), 404, gone),
        ]);
        let mut w = StatusWriter::new(client);
        assert_eq!(w.write("shop", "web", s1.clone()).await, PatchOutcome::Written);
        let s2 = status_for(w.last("shop/web"), &svc, &d2, Some("v2".into()));
        assert_eq!(w.write("shop", "web", s2).await, PatchOutcome::Unchanged);
        assert_eq!(w.write("shop", "web", s3.clone()).await, PatchOutcome::Conflict);
        assert_eq!(
            w.write("shop", "web", s3.clone()).await,
            PatchOutcome::Written,
            "409 retried"
        );
        assert_eq!(w.write("shop", "web", s3).await, PatchOutcome::Unchanged);
        assert_eq!(w.write("shop", "web", s1).await, PatchOutcome::Gone);
        assert!(w.last("shop/web").is_none());
        drop(w);
        task.await.unwrap();
    }

    #[tokio::test]
    async fn reconcile_pass_lists_plans_and_reports_collisions_on_status() {
        let page = |items: Vec<Value>| {
            json!({"apiVersion": "scale.dev/v1alpha1", "kind": "ForecastScalerList",
                   "metadata": {"resourceVersion": "7"}, "items": items})
        };
        let web = serde_json::to_value(cr("shop", "web", Some("50"), spec())).unwrap();
        let clash = serde_json::to_value(cr("team", "web", Some("50"), spec())).unwrap();
        let msg = "service name \"team.web\" is already a [[service]] in the serve config";
        let cond = |t: &str, st: &str, m: &str| {
            json!({"type": t, "status": st, "observedGeneration": 3,
                   "lastTransitionTime": "2023-11-14T22:13:20Z", "reason": "NameCollision", "message": m})
        };
        let want = json!({"status": {"observedGeneration": 3, "conditions": [
            cond("Ready", "False", msg), cond("Active", "False", ""), cond("Error", "True", msg)]}});
        let all = "/apis/scale.dev/v1alpha1/forecastscalers?";
        let (client, task) = verifier(vec![
            ex("GET", all, None, 200, page(vec![web.clone(), clash.clone()])),
            ex(
                "PATCH",
                "/apis/scale.dev/v1alpha1/namespaces/team/forecastscalers/web/status?",
                Some(want),
                200,
                clash.clone(),
            ),
            // Second pass: same list; the collision status is unchanged, so no write.
            ex("GET", all, None, 200, page(vec![web, clash])),
            ex(
                "GET",
                all,
                None,
                500,
                json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 500, "message": "boom"}),
            ),
            ex("GET", all, None, 200, page(vec![])),
        ]);
        let mut r = Reconciler::new(client, None, ["team.web".to_string()].into());
        let now = 1_700_000_000;
        assert_eq!(
            summary(&r.reconcile_once(now).await.unwrap()),
            vec!["start shop/web", "reject team/web NameCollision"]
        );
        assert_eq!(
            summary(&r.reconcile_once(now + 30).await.unwrap()),
            vec!["reject team/web NameCollision"]
        );
        assert!(r.reconcile_once(now + 60).await.is_err());
        assert_eq!(
            r.running.keys().collect::<Vec<_>>(),
            vec!["shop/web"],
            "a failed list stops nothing"
        );
        assert_eq!(
            summary(&r.reconcile_once(now + 90).await.unwrap()),
            vec!["stop shop/web"]
        );
        assert!(r.running.is_empty());
        drop(r);
        task.await.unwrap();
    }
}
