//! How one tick reaches its live target: read it (current replicas and its own max, which bound
//! the decision) and, once the controller decided, [`apply`] the record (read-compare-write with
//! retries) → outcome in the record, /metrics and a Kubernetes Event. Non-leaders decide in
//! forecast-only mode and never call the target.

use super::leader::LeaderGate;
use crate::actuate::kube::events::{KubeEvents, ObjectRef};
use crate::actuate::{ActuateError, Outcome, ScaleReading, ScaleTarget, apply};
use crate::control::DecisionRecord;
use crate::core::retry::RetryPolicy;
use crate::govern::{Limits, Mode};
use serde::Serialize;
use std::sync::Arc;

/// What happened to one tick's decision at the target (the record's `actuation` field).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActuationRecord {
    /// The target's id, e.g. `deployment/default/web`.
    pub target: String,
    /// `applied`, `retried` (applied after more than one write), `unchanged` (already at the
    /// size), `refused` (above the target's own max), `failed`, or `held` (not sent: mode,
    /// governor, or not the leader).
    pub outcome: &'static str,
    /// The API's message on failure, or why the decision was held.
    pub message: Option<String>,
    /// Writes attempted.
    pub attempts: u32,
}

/// The record for an [`apply`] outcome.
pub fn record_for(target: &str, o: &Outcome) -> ActuationRecord {
    let (outcome, message, attempts) = match o {
        Outcome::Unchanged { .. } => ("unchanged", None, 0),
        Outcome::Applied { attempts, .. } => (if *attempts > 1 { "retried" } else { "applied" }, None, *attempts),
        Outcome::Failed { error, attempts } => (
            if matches!(error, ActuateError::Refused(_)) {
                "refused"
            } else {
                "failed"
            },
            Some(error.to_string()),
            *attempts,
        ),
    };
    ActuationRecord {
        target: target.to_string(),
        outcome,
        message,
        attempts,
    }
}

/// The governor's bounds given the target's own: max = min(config max, target max); min is
/// lowered to fit when the target's max is below it.
pub fn effective_bounds(cfg_min: u32, cfg_max: u32, target_max: Option<u32>) -> (u32, u32) {
    let max = target_max.map_or(cfg_max, |m| cfg_max.min(m));
    (cfg_min.min(max), max)
}

/// One service's live target and what actuation needs beside it.
pub struct Actuation {
    /// Where decisions are read from and written to.
    pub target: Arc<dyn ScaleTarget>,
    /// The configured target's kind, the `target` label in /metrics.
    pub kind: &'static str,
    /// Backoff for retryable write failures (429, 5xx, transport).
    pub policy: RetryPolicy,
    /// Events for Kubernetes targets: the writer and the object.
    pub events: Option<(Arc<KubeEvents>, ObjectRef)>,
    /// Leader election; None means this instance always actuates.
    pub leader: Option<LeaderGate>,
    /// The configured mode (non-leaders run forecast-only).
    pub mode: Mode,
    cfg_min: u32,
    cfg_max: u32,
    /// The bounds from the last successful read (the configured ones before any).
    bounds: (u32, u32),
    /// Last replicas read, used when a read fails.
    last_current: u32,
}

/// What the target said at the start of a tick.
pub type Reading = std::result::Result<ScaleReading, ActuateError>;

impl Actuation {
    /// `target` of `kind`, deciding in `mode` within the configured `cfg_min..=cfg_max`;
    /// `start` is the size assumed until the first successful read.
    pub fn new(
        target: Arc<dyn ScaleTarget>,
        kind: &'static str,
        mode: Mode,
        cfg_min: u32,
        cfg_max: u32,
        start: u32,
    ) -> Self {
        Actuation {
            target,
            kind,
            policy: RetryPolicy::default(),
            events: None,
            leader: None,
            mode,
            cfg_min,
            cfg_max,
            bounds: (cfg_min, cfg_max),
            last_current: start,
        }
    }

    /// Reads the target: its replicas and its own bounds (kept for when a later read fails).
    pub async fn read(&mut self) -> Reading {
        let reading = self.target.read().await;
        if let Ok(r) = &reading {
            self.last_current = r.replicas;
            self.bounds = effective_bounds(self.cfg_min, self.cfg_max, r.max);
        }
        reading
    }

    /// Replicas the target has, as last read.
    pub fn current(&self) -> u32 {
        self.last_current
    }

    /// The bounds and mode a decision at `now` is made under: the target's own maximum, and
    /// forecast-only while another instance leads.
    pub fn limits(&self, now: i64) -> Limits {
        let mode = match self.leader.as_ref().map(|l| l.is_leader(now)) {
            Some(false) if self.mode == Mode::Auto => Mode::ForecastOnly,
            _ => self.mode,
        };
        Limits {
            min_replicas: self.bounds.0,
            max_replicas: self.bounds.1,
            mode,
        }
    }

    /// The record of a write cancelled after `budget`: failed, so the governor's cooldown
    /// applies; whether it reached the target is unknown until the next read.
    pub fn overran(&self, record: &mut DecisionRecord, budget: std::time::Duration) -> (ActuationRecord, Option<bool>) {
        let msg = format!("cancelled after its budget of {budget:?}");
        record.applied = false;
        record.actuation_error = Some(msg.clone());
        let failed = ActuationRecord {
            target: self.target.describe(),
            outcome: "failed",
            message: Some(msg),
            attempts: 0,
        };
        (failed, Some(false))
    }

    /// Applies `record` when the governor said so (read-compare-write with retries), posts the
    /// Event for Kubernetes targets and says what happened. Returns whether a write was
    /// attempted and succeeded (`Some(ok)`), for the governor's cooldown, beside the record.
    pub async fn apply(
        &mut self,
        record: &mut DecisionRecord,
        reading: &Reading,
        now: i64,
        service: &str,
    ) -> (ActuationRecord, Option<bool>) {
        let id = self.target.describe();
        let (actuation, sent, ok) = match (reading, record.applied) {
            (_, false) => {
                let why = match &self.leader {
                    Some(l) if !l.is_leader(now) => format!("not the leader ({})", l.holder()),
                    _ => format!("mode {}", super::config::mode_label(record.mode)),
                };
                let held = ActuationRecord {
                    target: id.clone(),
                    outcome: "held",
                    message: Some(why),
                    attempts: 0,
                };
                (held, None, None)
            }
            (Err(e), true) => {
                let msg = format!("read: {e}");
                record.applied = false;
                record.actuation_error = Some(msg.clone());
                let failed = ActuationRecord {
                    target: id.clone(),
                    outcome: "failed",
                    message: Some(msg),
                    attempts: 0,
                };
                (failed, None, Some(false))
            }
            (Ok(_), true) => {
                let o = apply(self.target.as_ref(), record.desired_replicas, &self.policy).await;
                let ok = !matches!(o, Outcome::Failed { .. });
                if let Outcome::Failed { error, .. } = &o {
                    record.applied = false;
                    record.actuation_error = Some(error.to_string());
                } else if let Outcome::Applied { to, .. } = &o {
                    self.last_current = *to;
                }
                (record_for(&id, &o), Some(o), Some(ok))
            }
        };
        if let (Some(o), Some((events, regarding))) = (&sent, &self.events) {
            let at = chrono::DateTime::from_timestamp(now, 0).unwrap_or_default();
            if let Some(ev) = crate::serve::events::event_for(record, Some(o))
                && let Err(e) = events.emit(regarding, &ev, at).await
            {
                tracing::warn!(service = %service, "event for {id}: {e}");
            }
        }
        (actuation, ok)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::Result;
    use crate::serve::config::ServeConfig;

    const HEAD: &str = "[source.prometheus]\nurl = \"http://127.0.0.1:9\"\n[[service]]\nname = \"web\"\nquery = \"up\"\n\
                        capacity_per_replica = 10\nmin_replicas = 1\nmax_replicas = 20\n";

    fn parse_target(t: &str) -> Result<ServeConfig> {
        ServeConfig::parse(&format!("{HEAD}[service.target]\n{t}\n"))
    }

    #[test]
    fn every_kind_parses() {
        let cases: Vec<(&str, &str)> = vec![
            ("kind = \"dry-run\"\nreplicas = 2\nmax_replicas = 5", "dry-run"),
            (
                "kind = \"kubernetes\"\nnamespace = \"shop\"\nscale_target_ref = { api_version = \"apps/v1\", kind = \"StatefulSet\", name = \"db\" }",
                "kubernetes",
            ),
            (
                "kind = \"kubernetes\"\nnamespace = \"shop\"\nscale_target_ref = { api_version = \"example.com/v1\", kind = \"Worker\", name = \"w\", plural = \"workers\" }",
                "kubernetes",
            ),
            ("kind = \"knative\"\nnamespace = \"shop\"\nname = \"api\"", "knative"),
            ("kind = \"aws-asg\"\ngroup = \"web\"\nregion = \"eu-west-1\"", "aws-asg"),
            (
                "kind = \"gcp-mig\"\nproject = \"p\"\nregion = \"europe-west1\"\nname = \"web\"",
                "gcp-mig",
            ),
            (
                "kind = \"azure-vmss\"\nsubscription = \"s\"\nresource_group = \"rg\"\nname = \"web\"",
                "azure-vmss",
            ),
        ];
        for (t, label) in cases {
            let c = parse_target(t).unwrap_or_else(|e| panic!("{t}: {e}"));
            assert_eq!(c.services[0].target.as_ref().unwrap().label(), label);
        }
    }

    #[test]
    fn bad_targets_name_the_field() {
        let cases = [
            (
                "kind = \"dry-run\"\nreplicas = 2\nmax_replicas = 0",
                "service[0].target.max_replicas",
            ),
            (
                "kind = \"kubernetes\"\nnamespace = \"Shop\"\nscale_target_ref = { api_version = \"apps/v1\", kind = \"Deployment\", name = \"web\" }",
                "service[0].target.namespace",
            ),
            (
                "kind = \"kubernetes\"\nnamespace = \"shop\"\nscale_target_ref = { api_version = \"example.com/v1\", kind = \"Worker\", name = \"w\" }",
                "service[0].target.scale_target_ref.kind",
            ),
            (
                "kind = \"kubernetes\"\nnamespace = \"shop\"\nscale_target_ref = { api_version = \"apps/v1\", kind = \"Deployment\" }",
                "missing field `name`",
            ),
            (
                "kind = \"knative\"\nnamespace = \"shop\"\nname = \"\"",
                "service[0].target.name",
            ),
            ("kind = \"aws-asg\"\ngroup = \"\"", "service[0].target.group"),
            (
                "kind = \"aws-asg\"\ngroup = \"g\"\nregion = \"eu west\"",
                "service[0].target.region",
            ),
            (
                "kind = \"aws-asg\"\ngroup = \"g\"\nendpoint = \"ftp://x\"",
                "service[0].target.endpoint",
            ),
            (
                "kind = \"gcp-mig\"\nproject = \"p\"\nname = \"web\"",
                "service[0].target.zone",
            ),
            (
                "kind = \"gcp-mig\"\nproject = \"p\"\nzone = \"a\"\nregion = \"b\"\nname = \"web\"",
                "service[0].target.zone",
            ),
            (
                "kind = \"azure-vmss\"\nsubscription = \"s\"\nresource_group = \"\"\nname = \"web\"",
                "service[0].target.resource_group",
            ),
            (
                "kind = \"azure-vmss\"\nsubscription = \"s\"\nname = \"web\"",
                "resource_group",
            ),
            ("kind = \"nomad\"", "service[0].target"),
        ];
        for (t, want) in cases {
            let e = parse_target(t).unwrap_err().to_string();
            assert!(e.contains(want), "{t}: want {want:?} in: {e}");
        }
    }

    #[test]
    fn bounds_follow_the_target_max() {
        // (config min, config max, target max) → governor (min, max)
        for (cmin, cmax, tmax, want) in [
            (1, 20, None, (1, 20)),
            (1, 20, Some(5), (1, 5)),
            (1, 5, Some(20), (1, 5)),
            (3, 20, Some(2), (2, 2)),
        ] {
            assert_eq!(effective_bounds(cmin, cmax, tmax), want);
        }
    }

    #[test]
    fn outcomes_map_to_records() {
        let cases = [
            (Outcome::Unchanged { replicas: 3 }, "unchanged", None),
            (
                Outcome::Applied {
                    from: 1,
                    to: 3,
                    attempts: 1,
                },
                "applied",
                None,
            ),
            (
                Outcome::Applied {
                    from: 1,
                    to: 3,
                    attempts: 3,
                },
                "retried",
                None,
            ),
            (
                Outcome::Failed {
                    error: ActuateError::Refused("9 replicas is above the target's maximum 5".into()),
                    attempts: 0,
                },
                "refused",
                Some("refused: 9 replicas is above the target's maximum 5"),
            ),
            (
                Outcome::Failed {
                    error: ActuateError::Rejected {
                        status: 404,
                        message: "not found".into(),
                    },
                    attempts: 1,
                },
                "failed",
                Some("rejected 404: not found"),
            ),
        ];
        for (o, want, msg) in cases {
            let r = record_for("t", &o);
            assert_eq!(r.outcome, want);
            assert_eq!(r.message.as_deref(), msg);
        }
    }

    use crate::actuate::kube::lease::{LeaderElector, Leadership};
    use http::{Request, Response};
    use kube::client::Body;
    use serde_json::{Value, json};

    const NOW: i64 = 200 * 3600;

    /// One expected request (method, path and query, JSON body) and the answer.
    pub(crate) struct Exchange {
        method: &'static str,
        uri: String,
        body: Option<Value>,
        status: u16,
        response: Value,
    }

    pub(crate) fn ex(method: &'static str, uri: &str, body: Option<Value>, status: u16, response: Value) -> Exchange {
        Exchange {
            method,
            uri: uri.into(),
            body,
            status,
            response,
        }
    }

    /// A kube client whose every request must match `script` in order, and nothing more.
    pub(crate) fn verifier(script: Vec<Exchange>) -> (kube::Client, tokio::task::JoinHandle<()>) {
        let (svc, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let task = tokio::spawn(async move {
            for (i, e) in script.into_iter().enumerate() {
                let (req, send) = handle
                    .next_request()
                    .await
                    .unwrap_or_else(|| panic!("request {i} ({} {}) never sent", e.method, e.uri));
                let what = format!("request {i}: {} {}", req.method(), req.uri());
                assert_eq!(req.method().as_str(), e.method, "{what}");
                assert_eq!(
                    req.uri().path_and_query().map(|p| p.as_str()),
                    Some(e.uri.as_str()),
                    "{what}"
                );
                let bytes = req.into_body().collect_bytes().await.unwrap();
                match &e.body {
                    Some(want) => assert_eq!(&serde_json::from_slice::<Value>(&bytes).unwrap(), want, "{what}"),
                    None => assert!(bytes.is_empty(), "{what}: unexpected body"),
                }
                let resp = Response::builder()
                    .status(e.status)
                    .header("content-type", "application/json")
                    .body(Body::from(serde_json::to_vec(&e.response).unwrap()))
                    .unwrap();
                send.send_response(resp);
            }
            if let Some((req, _)) = handle.next_request().await {
                panic!("unexpected request {} {}", req.method(), req.uri());
            }
        });
        (kube::Client::new(svc, "default"), task)
    }

    fn lease(holder: &str, renew: &str, rv: &str) -> Value {
        json!({"kind": "Lease", "apiVersion": "coordination.k8s.io/v1",
               "metadata": {"name": "scale-leader", "namespace": "scale-system", "resourceVersion": rv},
               "spec": {"holderIdentity": holder, "leaseDurationSeconds": 15, "acquireTime": renew,
                        "renewTime": renew, "leaseTransitions": 0}})
    }

    /// Two instances, each with its own API conversation: A creates the Lease and acts, B sees it
    /// held and does not; A then cannot renew, stops acting at its renew deadline, and B takes the
    /// lease over only after it expired. At every checked time at most one acts.
    #[tokio::test]
    async fn two_instances_through_the_lease_api() {
        let uri = "/apis/coordination.k8s.io/v1/namespaces/scale-system/leases";
        let named = format!("{uri}/scale-leader");
        let t0 = NOW;
        let ts = |s: i64| crate::actuate::kube::events::micro_time(chrono::DateTime::from_timestamp(s, 0).unwrap());
        let not_found = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "leases.coordination.k8s.io \"scale-leader\" not found", "reason": "NotFound", "code": 404});
        let unavailable = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "etcdserver: request timed out", "reason": "InternalError", "code": 500});
        let clock_at = |t: i64| -> crate::core::time::SharedClock { Arc::new(crate::core::time::ManualClock::new(t)) };
        let elector = |client: &kube::Client, me: &str, t: i64| {
            LeaderElector::new(
                client.clone(),
                "scale-system",
                "scale-leader",
                me,
                std::time::Duration::from_secs(15),
                clock_at(t),
            )
        };
        let mut a_body = lease("a", &ts(t0), "1");
        a_body["metadata"].as_object_mut().unwrap().remove("resourceVersion");
        let mut b_body = lease("b", &ts(t0 + 16), "1");
        b_body["spec"]["leaseTransitions"] = 1.into();
        // A: create at t0, then a failed renew at t0 + 2.
        let (ca, task_a) = verifier(vec![
            ex("GET", &named, None, 404, not_found),
            ex("POST", &format!("{uri}?"), Some(a_body), 201, lease("a", &ts(t0), "1")),
            ex("GET", &named, None, 500, unavailable),
        ]);
        // B: sees A's live lease at t0 + 1, takes over the expired one at t0 + 16.
        let (cb, task_b) = verifier(vec![
            ex("GET", &named, None, 200, lease("a", &ts(t0), "1")),
            ex("GET", &named, None, 200, lease("a", &ts(t0), "1")),
            ex(
                "PUT",
                &format!("{named}?"),
                Some(b_body),
                200,
                lease("b", &ts(t0 + 16), "2"),
            ),
        ]);
        let (ga, gb) = (LeaderGate::new(10), LeaderGate::new(10));
        let both = |t: i64| (ga.is_leader(t), gb.is_leader(t));
        let r = elector(&ca, "a", t0).try_acquire_or_renew().await;
        assert_eq!(r, Ok(Leadership::Leader));
        ga.observe(t0, &r);
        let r = elector(&cb, "b", t0 + 1).try_acquire_or_renew().await;
        assert_eq!(
            r,
            Ok(Leadership::Follower {
                holder: Some("a".into())
            })
        );
        gb.observe(t0 + 1, &r);
        assert_eq!(both(t0 + 1), (true, false));
        let r = elector(&ca, "a", t0 + 2).try_acquire_or_renew().await;
        assert!(r.is_err());
        ga.observe(t0 + 2, &r);
        assert_eq!(both(t0 + 9), (true, false));
        assert_eq!(both(t0 + 10), (false, false), "A stops at its renew deadline");
        // Still A's lease at t0 + 14: B must not take it.
        assert!(matches!(
            crate::actuate::kube::lease::decide(
                Some(&crate::actuate::kube::lease::lease_state(&lease("a", &ts(t0), "1"))),
                "b",
                chrono::DateTime::from_timestamp(t0 + 14, 0).unwrap()
            ),
            crate::actuate::kube::lease::LeaderAction::Follow { .. }
        ));
        let r = elector(&cb, "b", t0 + 16).try_acquire_or_renew().await;
        assert_eq!(r, Ok(Leadership::Leader));
        gb.observe(t0 + 16, &r);
        assert_eq!(both(t0 + 16), (false, true));
        drop((ca, cb));
        task_a.await.unwrap();
        task_b.await.unwrap();
    }
}
