//! The Kubernetes and Knative targets through kube-rs against an API verifier: every request's
//! method, path, query, content type and body is asserted exactly, and answered with the JSON the
//! API server sends (Scale, Pod, Lease, Event objects; Status objects for errors).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use http::{Request, Response};
use kube::client::Body;
use scale::actuate::kube::events::{KubeEvents, ObjectRef};
use scale::actuate::kube::knative::KnativeService;
use scale::actuate::kube::lease::{LeaderElector, Leadership};
use scale::actuate::kube::resize::{ContainerResources, KubeResize, ResizeOutcome, VerticalPolicy};
use scale::actuate::kube::scale::{KubeScale, ScalableKind};
use scale::actuate::{ActuateError, Outcome, apply};
use scale::core::retry::RetryPolicy;
use scale::core::time::ManualClock;
use scale::plan::vertical::recommender::Resources;
use serde_json::{Value, json};

const MERGE: &str = "application/merge-patch+json";
const STRATEGIC: &str = "application/strategic-merge-patch+json";
const JSON: &str = "application/json";
const MIB: f64 = 1024.0 * 1024.0;

/// One expected request and the answer to it.
struct Exchange {
    method: &'static str,
    uri: String,
    content_type: Option<&'static str>,
    body: Option<Value>,
    status: u16,
    response: Value,
}

fn get(uri: impl Into<String>, status: u16, response: Value) -> Exchange {
    Exchange {
        method: "GET",
        uri: uri.into(),
        content_type: None,
        body: None,
        status,
        response,
    }
}

fn write(
    method: &'static str,
    uri: impl Into<String>,
    ct: &'static str,
    body: Value,
    status: u16,
    response: Value,
) -> Exchange {
    Exchange {
        method,
        uri: uri.into(),
        content_type: Some(ct),
        body: Some(body),
        status,
        response,
    }
}

/// A client whose every request must match the script, in order; the task fails on a mismatch
/// and on any request beyond the script.
fn verifier(script: Vec<Exchange>) -> (kube::Client, tokio::task::JoinHandle<()>) {
    let (svc, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let task = tokio::spawn(async move {
        let n = script.len();
        for (i, ex) in script.into_iter().enumerate() {
            let (req, send) = handle
                .next_request()
                .await
                .unwrap_or_else(|| panic!("request {i} of {n} ({} {}) was never sent", ex.method, ex.uri));
            let what = format!("request {i}: {} {}", req.method(), req.uri());
            assert_eq!(req.method().as_str(), ex.method, "{what}");
            assert_eq!(
                req.uri().path_and_query().map(|p| p.as_str()),
                Some(ex.uri.as_str()),
                "{what}"
            );
            let ct = req
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            if let Some(want) = ex.content_type {
                assert_eq!(ct.as_deref(), Some(want), "{what}: content-type");
            }
            let bytes = req.into_body().collect_bytes().await.expect("request body");
            match &ex.body {
                Some(want) => {
                    let got: Value = serde_json::from_slice(&bytes).expect("request body is JSON");
                    assert_eq!(&got, want, "{what}: body");
                }
                None => assert!(
                    bytes.is_empty(),
                    "{what}: unexpected body {:?}",
                    String::from_utf8_lossy(&bytes)
                ),
            }
            let resp = Response::builder()
                .status(ex.status)
                .header("content-type", "application/json")
                .body(Body::from(serde_json::to_vec(&ex.response).unwrap()))
                .unwrap();
            send.send_response(resp);
        }
        if let Some((req, _)) = handle.next_request().await {
            panic!("unexpected request {} {}", req.method(), req.uri());
        }
    });
    (kube::Client::new(svc, "default"), task)
}

/// Drops the client so the verifier sees the end of the conversation, then checks it.
async fn finish(client: kube::Client, task: tokio::task::JoinHandle<()>) {
    drop(client);
    task.await.expect("verifier");
}

fn status(code: u16, reason: &str, message: &str, details: Value) -> Value {
    json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "details": details, "code": code
    })
}

fn scale_obj(name: &str, rv: &str, replicas: u32) -> Value {
    json!({
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": name, "namespace": "default", "uid": "8b7c5f0e-3d0a-4c1e-9f57-0a3c7f4e2b11",
            "resourceVersion": rv, "creationTimestamp": "2026-11-01T08:00:00Z"
        },
        "spec": {"replicas": replicas},
        "status": {"replicas": replicas, "selector": format!("app={name}")}
    })
}

fn conflict(plural_group: &str, name: &str) -> Value {
    status(
        409,
        "Conflict",
        &format!(
            "Operation cannot be fulfilled on {plural_group} \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
        ),
        json!({"name": name, "group": "apps", "kind": "deployments"}),
    )
}

fn kinds() -> Vec<(ScalableKind, &'static str)> {
    vec![
        (
            ScalableKind::deployment(),
            "/apis/apps/v1/namespaces/default/deployments/web",
        ),
        (
            ScalableKind::stateful_set(),
            "/apis/apps/v1/namespaces/default/statefulsets/web",
        ),
        (
            ScalableKind::replica_set(),
            "/apis/apps/v1/namespaces/default/replicasets/web",
        ),
        (
            ScalableKind::custom("workers.example.com", "v1beta1", "QueueWorker", "queueworkers"),
            "/apis/workers.example.com/v1beta1/namespaces/default/queueworkers/web",
        ),
    ]
}

#[tokio::test]
async fn scale_subresource_read_compare_write_for_every_kind() {
    for (kind, path) in kinds() {
        // Scale 3 → 5: one GET, one merge PATCH carrying the resourceVersion read.
        let (client, task) = verifier(vec![
            get(format!("{path}/scale"), 200, scale_obj("web", "4711", 3)),
            write(
                "PATCH",
                format!("{path}/scale?&fieldManager=scale"),
                MERGE,
                json!({"metadata": {"resourceVersion": "4711"}, "spec": {"replicas": 5}}),
                200,
                scale_obj("web", "4712", 5),
            ),
        ]);
        let target = KubeScale::new(client.clone(), "default", kind.clone(), "web");
        let got = apply(&target, 5, &RetryPolicy::default()).await;
        assert_eq!(
            got,
            Outcome::Applied {
                from: 3,
                to: 5,
                attempts: 1
            },
            "{kind:?}"
        );
        drop(target);
        finish(client, task).await;

        // Already at 5: read only.
        let (client, task) = verifier(vec![get(format!("{path}/scale"), 200, scale_obj("web", "4712", 5))]);
        let target = KubeScale::new(client.clone(), "default", kind.clone(), "web");
        assert_eq!(
            apply(&target, 5, &RetryPolicy::default()).await,
            Outcome::Unchanged { replicas: 5 }
        );
        drop(target);
        finish(client, task).await;
    }
}

#[tokio::test]
async fn scale_target_from_ref() {
    let (client, task) = verifier(vec![]);
    let t = KubeScale::from_ref(client.clone(), "prod", "apps/v1", "StatefulSet", "db").unwrap();
    assert_eq!(scale::actuate::ScaleTarget::describe(&t), "statefulset/prod/db");
    let err = KubeScale::from_ref(client.clone(), "prod", "example.com/v1", "Widget", "w")
        .err()
        .unwrap();
    assert!(err.to_string().contains("example.com/v1 Widget"), "{err}");
    drop(t);
    finish(client, task).await;
}

#[tokio::test(start_paused = true)]
async fn apply_error_classes_through_kube() {
    let path = "/apis/apps/v1/namespaces/default/deployments/web";
    let patch = |rv: &str, status: u16, response: Value| {
        write(
            "PATCH",
            format!("{path}/scale?&fieldManager=scale"),
            MERGE,
            json!({"metadata": {"resourceVersion": rv}, "spec": {"replicas": 5}}),
            status,
            response,
        )
    };
    let read = |rv: &str, n: u32| get(format!("{path}/scale"), 200, scale_obj("web", rv, n));
    let not_found = status(
        404,
        "NotFound",
        "deployments.apps \"web\" not found",
        json!({"name": "web", "group": "apps", "kind": "deployments"}),
    );
    let throttled = status(
        429,
        "TooManyRequests",
        "Too many requests, please try again later.",
        json!({"retryAfterSeconds": 1}),
    );
    let internal = status(
        500,
        "InternalError",
        "Internal error occurred: etcdserver: request timed out",
        json!({"causes": [{"message": "etcdserver: request timed out"}]}),
    );
    let policy = RetryPolicy::default();
    // (name, script, expected outcome, minimum virtual time spent backing off)
    let cases: Vec<(&str, Vec<Exchange>, Outcome, Duration)> = vec![
        (
            "409 re-reads and retries with the new resourceVersion",
            vec![
                read("100", 3),
                patch("100", 409, conflict("deployments.apps", "web")),
                read("101", 4),
                patch("101", 200, scale_obj("web", "102", 5)),
            ],
            Outcome::Applied {
                from: 4,
                to: 5,
                attempts: 2,
            },
            Duration::ZERO,
        ),
        (
            "404 on read fails with the API's message",
            vec![get(format!("{path}/scale"), 404, not_found.clone())],
            Outcome::Failed {
                error: ActuateError::Rejected {
                    status: 404,
                    message: "deployments.apps \"web\" not found".into(),
                },
                attempts: 0,
            },
            Duration::ZERO,
        ),
        (
            "404 on write fails with the API's message, no retry",
            vec![read("100", 3), patch("100", 404, not_found.clone())],
            Outcome::Failed {
                error: ActuateError::Rejected {
                    status: 404,
                    message: "deployments.apps \"web\" not found".into(),
                },
                attempts: 1,
            },
            Duration::ZERO,
        ),
        (
            "429 then 500 back off, then succeed",
            vec![
                read("100", 3),
                patch("100", 429, throttled.clone()),
                read("100", 3),
                patch("100", 500, internal.clone()),
                read("100", 3),
                patch("100", 200, scale_obj("web", "101", 5)),
            ],
            Outcome::Applied {
                from: 3,
                to: 5,
                attempts: 3,
            },
            policy.delay(0) + policy.delay(1),
        ),
        (
            "500 on every write gives up after the attempts",
            (0..5)
                .flat_map(|_| [read("100", 3), patch("100", 500, internal.clone())])
                .collect(),
            Outcome::Failed {
                error: ActuateError::Server {
                    status: 500,
                    message: "Internal error occurred: etcdserver: request timed out".into(),
                },
                attempts: 5,
            },
            (0..4).map(|n| policy.delay(n)).sum(),
        ),
        (
            "429 on read backs off and re-reads",
            vec![
                get(format!("{path}/scale"), 429, throttled.clone()),
                read("100", 3),
                patch("100", 200, scale_obj("web", "101", 5)),
            ],
            Outcome::Applied {
                from: 3,
                to: 5,
                attempts: 1,
            },
            policy.delay(0),
        ),
    ];
    for (name, script, want, min_wait) in cases {
        let (client, task) = verifier(script);
        let target = KubeScale::new(client.clone(), "default", ScalableKind::deployment(), "web");
        let start = tokio::time::Instant::now();
        let got = apply(&target, 5, &policy).await;
        let waited = start.elapsed();
        assert_eq!(got, want, "{name}");
        assert!(
            waited >= min_wait,
            "{name}: waited {waited:?}, expected at least {min_wait:?}"
        );
        drop(target);
        finish(client, task).await;
    }
}

fn deployment(kind: &str, name: &str) -> Value {
    json!({
        "kind": kind, "apiVersion": "apps/v1",
        "metadata": {"name": name, "namespace": "default", "resourceVersion": "900", "generation": 4},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": name, "tier": "api"}},
            "template": {
                "metadata": {"labels": {"app": name, "tier": "api"}},
                "spec": {"containers": [
                    {"name": "app", "image": "ghcr.io/example/web:1.4.2",
                     "resources": {"requests": {"cpu": "500m", "memory": "256Mi"}}},
                    {"name": "sidecar", "image": "envoyproxy/envoy:v1.31.0"}
                ]}
            }
        }
    })
}

fn pod(name: &str, phase: &str, cpu: &str, memory: &str) -> Value {
    json!({
        "kind": "Pod", "apiVersion": "v1",
        "metadata": {"name": name, "namespace": "default", "resourceVersion": "1200",
                     "labels": {"app": "web", "tier": "api"}},
        "spec": {"containers": [
            {"name": "app", "image": "ghcr.io/example/web:1.4.2",
             "resizePolicy": [{"resourceName": "cpu", "restartPolicy": "NotRequired"},
                              {"resourceName": "memory", "restartPolicy": "NotRequired"}],
             "resources": {"requests": {"cpu": cpu, "memory": memory}}},
            {"name": "sidecar", "image": "envoyproxy/envoy:v1.31.0"}
        ]},
        "status": {"phase": phase, "qosClass": "Burstable"}
    })
}

#[tokio::test]
async fn vertical_in_place_and_template_fallback() {
    let desired = ContainerResources {
        requests: Resources {
            cpu_cores: 0.75,
            memory_bytes: 384.0 * MIB,
        },
        limits: None,
    };
    let container = json!({"name": "app", "resources": {"requests": {"cpu": "750m", "memory": "384Mi"}}});
    let resize_body = json!({"spec": {"containers": [container.clone()]}});
    let template_body = json!({"spec": {"template": {"spec": {"containers": [container.clone()]}}}});
    let pods_uri = "/api/v1/namespaces/default/pods?&labelSelector=app%3Dweb%2Ctier%3Dapi";
    let pod_list = json!({
        "kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "1300"},
        "items": [
            pod("web-7d9f-abcde", "Running", "500m", "256Mi"),
            pod("web-7d9f-fghij", "Running", "750m", "384Mi"),
            pod("web-7d9f-klmno", "Pending", "500m", "256Mi"),
        ]
    });
    let not_served = status(
        404,
        "NotFound",
        "the server could not find the requested resource",
        json!({}),
    );
    let qos = status(
        422,
        "Invalid",
        "Pod \"web-7d9f-abcde\" is invalid: metadata: Invalid value: \"Guaranteed\": Pod QOS Class may not change as a result of resizing",
        json!({"name": "web-7d9f-abcde", "kind": "Pod"}),
    );
    // (kind, policy, resize answer (None: no in-place attempt), expected)
    type Case = (
        ScalableKind,
        VerticalPolicy,
        Option<(u16, Value)>,
        Result<ResizeOutcome, String>,
    );
    let cases: Vec<Case> = vec![
        (
            ScalableKind::deployment(),
            VerticalPolicy::InPlaceOrTemplate,
            Some((200, pod("web-7d9f-abcde", "Running", "750m", "384Mi"))),
            Ok(ResizeOutcome::InPlace {
                resized: vec!["web-7d9f-abcde".into()],
                unchanged: vec!["web-7d9f-fghij".into()],
            }),
        ),
        (
            ScalableKind::deployment(),
            VerticalPolicy::InPlaceOrTemplate,
            Some((404, not_served.clone())),
            Ok(ResizeOutcome::PodTemplate {
                reason: "in-place resize refused: rejected 404: the server could not find the requested resource"
                    .into(),
            }),
        ),
        (
            ScalableKind::stateful_set(),
            VerticalPolicy::InPlaceOrTemplate,
            Some((422, qos.clone())),
            Ok(ResizeOutcome::PodTemplate {
                reason: format!(
                    "in-place resize refused: rejected 422: {}",
                    qos["message"].as_str().unwrap()
                ),
            }),
        ),
        (
            ScalableKind::deployment(),
            VerticalPolicy::InPlaceOnly,
            Some((404, not_served.clone())),
            Err("rejected 404: the server could not find the requested resource".into()),
        ),
        (
            ScalableKind::replica_set(),
            VerticalPolicy::PodTemplate,
            None,
            Ok(ResizeOutcome::PodTemplate {
                reason: "policy pod-template".into(),
            }),
        ),
    ];
    for (kind, policy, resize, want) in cases {
        let workload = format!("{}/web", kind.collection_path("default"));
        let mut script = vec![];
        if let Some((code, answer)) = resize.clone() {
            script.push(get(workload.clone(), 200, deployment(&kind.kind, "web")));
            script.push(get(pods_uri, 200, pod_list.clone()));
            script.push(write(
                "PATCH",
                "/api/v1/namespaces/default/pods/web-7d9f-abcde/resize?&fieldManager=scale",
                STRATEGIC,
                resize_body.clone(),
                code,
                answer,
            ));
        }
        if matches!(want, Ok(ResizeOutcome::PodTemplate { .. })) {
            let mut updated = deployment(&kind.kind, "web");
            updated["spec"]["template"]["spec"]["containers"][0]["resources"] = container["resources"].clone();
            script.push(write(
                "PATCH",
                format!("{workload}?&fieldManager=scale"),
                STRATEGIC,
                template_body.clone(),
                200,
                updated,
            ));
        }
        let (client, task) = verifier(script);
        let target = KubeResize::new(client.clone(), "default", kind.clone(), "web", "app", policy);
        let got = target.apply(&desired).await.map_err(|e| e.to_string());
        assert_eq!(got, want, "{kind:?} {policy:?}");
        drop(target);
        finish(client, task).await;
    }
}

#[tokio::test]
async fn vertical_limits_are_patched_with_requests() {
    let desired = ContainerResources {
        requests: Resources {
            cpu_cores: 0.25,
            memory_bytes: 300.0 * MIB,
        },
        limits: Some(Resources {
            cpu_cores: 1.0,
            memory_bytes: 600.0 * MIB,
        }),
    };
    let body = json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "resources": {
        "requests": {"cpu": "250m", "memory": "300Mi"}, "limits": {"cpu": "1000m", "memory": "600Mi"}
    }}]}}}});
    let (client, task) = verifier(vec![write(
        "PATCH",
        "/apis/apps/v1/namespaces/default/deployments/web?&fieldManager=scale",
        STRATEGIC,
        body,
        200,
        deployment("Deployment", "web"),
    )]);
    let t = KubeResize::new(
        client.clone(),
        "default",
        ScalableKind::deployment(),
        "web",
        "app",
        VerticalPolicy::PodTemplate,
    );
    t.apply(&desired).await.unwrap();
    drop(t);
    finish(client, task).await;
}

fn record(
    current: u32,
    desired: u32,
    applied: bool,
    reason: scale::core::reason::Reason,
) -> scale::control::DecisionRecord {
    use scale::core::reason::{Reason, Step};
    scale::control::DecisionRecord {
        time: 1_795_838_400,
        policy: scale::control::PolicyKind::Predictive,
        mode: if applied {
            scale::govern::Mode::Auto
        } else {
            scale::govern::Mode::ForecastOnly
        },
        current_replicas: current,
        ready_replicas: current,
        demand: Some(240.0),
        metric_age_seconds: 15,
        reactive: Some(current),
        predictive: Some(5),
        forecast_peak: Some(412.34),
        forecast_quantile: 0.9,
        forecast_skipped: None,
        steps: vec![
            Step::new("combine", 5, Reason::PredictiveAboveReactive),
            Step::new("behavior", 5, Reason::DesiredWithinRange),
            Step::new("mode", desired, reason),
        ],
        safety_floor: None,
        burst: None,
        trend_demand: None,
        forecast_bias: None,
        rule: None,
        desired_replicas: desired,
        applied,
        actuation_error: None,
    }
}

#[tokio::test]
async fn events_for_applied_failed_and_held_decisions() {
    use scale::core::reason::Reason;
    let now: DateTime<Utc> =
        Utc.with_ymd_and_hms(2026, 11, 28, 4, 0, 0).unwrap() + chrono::Duration::microseconds(123_456);
    let regarding = ObjectRef {
        api_version: "apps/v1".into(),
        kind: "Deployment".into(),
        namespace: "shop".into(),
        name: "web".into(),
    };
    let nanos = now.timestamp_nanos_opt().unwrap();
    let body = |kind: &str, reason: &str, action: &str, note: &str| {
        json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": format!("web.{nanos:x}"), "namespace": "shop"},
            "eventTime": "2026-11-28T04:00:00.123456Z",
            "reportingController": "scale.dev/scale", "reportingInstance": "scale-6c9b8-x2k4q",
            "action": action, "reason": reason, "note": note, "type": kind,
            "regarding": {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "shop", "name": "web"}
        })
    };
    let created = |b: &Value| {
        let mut v = b.clone();
        v["metadata"]["uid"] = "f3a1c2d4-0000-4b5c-8d9e-111213141516".into();
        v["metadata"]["resourceVersion"] = "77001".into();
        v["metadata"]["creationTimestamp"] = "2026-11-28T04:00:00Z".into();
        v
    };
    // (record, outcome, expected event body; None = no request)
    let cases: Vec<(scale::control::DecisionRecord, Option<Outcome>, Option<Value>)> = vec![
        (
            record(3, 5, true, Reason::DesiredWithinRange),
            Some(Outcome::Applied {
                from: 3,
                to: 5,
                attempts: 1,
            }),
            Some(body(
                "Normal",
                "SuccessfulRescale",
                "Scale",
                "New size: 5 (from 3); reason: PredictiveAboveReactive; forecast p90 peak 412.3",
            )),
        ),
        (
            record(3, 5, true, Reason::DesiredWithinRange),
            Some(Outcome::Failed {
                error: ActuateError::Rejected {
                    status: 403,
                    message: "deployments.apps \"web\" is forbidden".into(),
                },
                attempts: 1,
            }),
            Some(body(
                "Warning",
                "FailedRescale",
                "Scale",
                "New size: 5 (from 3); reason: PredictiveAboveReactive; forecast p90 peak 412.3; error after 1 attempts: rejected 403: deployments.apps \"web\" is forbidden",
            )),
        ),
        (
            record(3, 3, false, Reason::ForecastOnly),
            None,
            Some(body(
                "Normal",
                "ForecastOnly",
                "Hold",
                "Held at 3 (recommended 5); reason: ForecastOnly; forecast p90 peak 412.3",
            )),
        ),
        (
            record(5, 5, true, Reason::DesiredWithinRange),
            Some(Outcome::Unchanged { replicas: 5 }),
            None,
        ),
    ];
    for (rec, outcome, want) in cases {
        let script = match &want {
            Some(b) => vec![write(
                "POST",
                "/apis/events.k8s.io/v1/namespaces/shop/events?",
                JSON,
                b.clone(),
                201,
                created(b),
            )],
            None => vec![],
        };
        let (client, task) = verifier(script);
        let events = KubeEvents::new(client.clone(), "scale-6c9b8-x2k4q");
        let ev = scale::serve::events::event_for(&rec, outcome.as_ref());
        assert_eq!(ev.is_some(), want.is_some());
        if let Some(ev) = ev {
            events.emit(&regarding, &ev, now).await.unwrap();
        }
        drop(events);
        finish(client, task).await;
    }
}

fn lease(holder: &str, acquire: &str, renew: &str, transitions: i64, rv: &str) -> Value {
    json!({
        "kind": "Lease", "apiVersion": "coordination.k8s.io/v1",
        "metadata": {"name": "scale-leader", "namespace": "scale-system", "resourceVersion": rv,
                     "uid": "0d7e6c5b-1a2b-4c3d-9e8f-a0b1c2d3e4f5"},
        "spec": {"holderIdentity": holder, "leaseDurationSeconds": 15,
                 "acquireTime": acquire, "renewTime": renew, "leaseTransitions": transitions}
    })
}

#[tokio::test]
async fn lease_acquire_renew_follow_and_lose() {
    let uri = "/apis/coordination.k8s.io/v1/namespaces/scale-system/leases";
    let now = Utc.with_ymd_and_hms(2026, 11, 28, 4, 0, 30).unwrap();
    let now_s = "2026-11-28T04:00:30.000000Z";
    let mine = |acquire: &str, transitions: i64, rv: Option<&str>| {
        let mut v = json!({
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": "scale-leader", "namespace": "scale-system"},
            "spec": {"holderIdentity": "scale-0", "leaseDurationSeconds": 15,
                     "acquireTime": acquire, "renewTime": now_s, "leaseTransitions": transitions}
        });
        if let Some(rv) = rv {
            v["metadata"]["resourceVersion"] = rv.into();
        }
        v
    };
    let not_found = status(
        404,
        "NotFound",
        "leases.coordination.k8s.io \"scale-leader\" not found",
        json!({"name": "scale-leader", "group": "coordination.k8s.io", "kind": "leases"}),
    );
    let exists = status(
        409,
        "AlreadyExists",
        "leases.coordination.k8s.io \"scale-leader\" already exists",
        json!({"name": "scale-leader", "group": "coordination.k8s.io", "kind": "leases"}),
    );
    let modified = status(
        409,
        "Conflict",
        "Operation cannot be fulfilled on leases.coordination.k8s.io \"scale-leader\": the object has been modified; please apply your changes to the latest version and try again",
        json!({"name": "scale-leader", "group": "coordination.k8s.io", "kind": "leases"}),
    );
    let get_lease = |status: u16, body: Value| get(format!("{uri}/scale-leader"), status, body);
    let create = |status: u16, resp: Value| write("POST", format!("{uri}?"), JSON, mine(now_s, 0, None), status, resp);
    let replace = |acquire: &str, transitions: i64, rv: &str, status: u16, resp: Value| {
        write(
            "PUT",
            format!("{uri}/scale-leader?"),
            JSON,
            mine(acquire, transitions, Some(rv)),
            status,
            resp,
        )
    };
    let cases: Vec<(&str, Vec<Exchange>, Leadership)> = vec![
        (
            "absent: create",
            vec![
                get_lease(404, not_found.clone()),
                create(201, lease("scale-0", now_s, now_s, 0, "501")),
            ],
            Leadership::Leader,
        ),
        (
            "absent, but another replica created it first",
            vec![get_lease(404, not_found.clone()), create(409, exists.clone())],
            Leadership::Follower { holder: None },
        ),
        (
            "ours: renew, keeping acquireTime and transitions",
            vec![
                get_lease(
                    200,
                    lease(
                        "scale-0",
                        "2026-11-28T03:00:00.000000Z",
                        "2026-11-28T04:00:20.000000Z",
                        3,
                        "600",
                    ),
                ),
                replace(
                    "2026-11-28T03:00:00.000000Z",
                    3,
                    "600",
                    200,
                    lease("scale-0", "2026-11-28T03:00:00.000000Z", now_s, 3, "601"),
                ),
            ],
            Leadership::Leader,
        ),
        (
            "held by a live peer: follow, no write",
            vec![get_lease(
                200,
                lease(
                    "scale-1",
                    "2026-11-28T03:00:00.000000Z",
                    "2026-11-28T04:00:20.000000Z",
                    3,
                    "600",
                ),
            )],
            Leadership::Follower {
                holder: Some("scale-1".into()),
            },
        ),
        (
            "expired: take over",
            vec![
                get_lease(
                    200,
                    lease(
                        "scale-1",
                        "2026-11-28T03:00:00.000000Z",
                        "2026-11-28T04:00:10.000000Z",
                        3,
                        "600",
                    ),
                ),
                replace(now_s, 4, "600", 200, lease("scale-0", now_s, now_s, 4, "601")),
            ],
            Leadership::Leader,
        ),
        (
            "expired, but a peer took it first (409)",
            vec![
                get_lease(
                    200,
                    lease(
                        "scale-1",
                        "2026-11-28T03:00:00.000000Z",
                        "2026-11-28T04:00:10.000000Z",
                        3,
                        "600",
                    ),
                ),
                replace(now_s, 4, "600", 409, modified.clone()),
            ],
            Leadership::Follower { holder: None },
        ),
    ];
    for (name, script, want) in cases {
        let (client, task) = verifier(script);
        let clock = Arc::new(ManualClock::new(now.timestamp()));
        let elector = LeaderElector::new(
            client.clone(),
            "scale-system",
            "scale-leader",
            "scale-0",
            Duration::from_secs(15),
            clock,
        );
        assert_eq!(elector.try_acquire_or_renew().await.unwrap(), want, "{name}");
        drop(elector);
        finish(client, task).await;
    }
}

#[tokio::test]
async fn lease_server_error_is_reported() {
    let internal = status(
        500,
        "InternalError",
        "Internal error occurred: etcdserver: leader changed",
        json!({}),
    );
    let (client, task) = verifier(vec![get(
        "/apis/coordination.k8s.io/v1/namespaces/scale-system/leases/scale-leader",
        500,
        internal,
    )]);
    let now = Utc.with_ymd_and_hms(2026, 11, 28, 4, 0, 30).unwrap();
    let elector = LeaderElector::new(
        client.clone(),
        "scale-system",
        "scale-leader",
        "scale-0",
        Duration::from_secs(15),
        Arc::new(ManualClock::new(now.timestamp())),
    );
    let err = elector.try_acquire_or_renew().await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "server error 500: Internal error occurred: etcdserver: leader changed"
    );
    drop(elector);
    finish(client, task).await;
}

fn ksvc(annotations: Value, rv: &str) -> Value {
    json!({
        "apiVersion": "serving.knative.dev/v1", "kind": "Service",
        "metadata": {"name": "checkout", "namespace": "default", "resourceVersion": rv, "generation": 7},
        "spec": {
            "template": {
                "metadata": {"annotations": annotations},
                "spec": {"containerConcurrency": 0, "containers": [{"image": "ghcr.io/example/checkout:2.0.1"}]}
            },
            "traffic": [{"latestRevision": true, "percent": 100}]
        },
        "status": {"latestReadyRevisionName": "checkout-00007", "latestCreatedRevisionName": "checkout-00007"}
    })
}

#[tokio::test]
async fn knative_min_scale_annotations() {
    let path = "/apis/serving.knative.dev/v1/namespaces/default/services/checkout";
    let ann = |min: &str, max: &str| {
        json!({"autoscaling.knative.dev/min-scale": min, "autoscaling.knative.dev/max-scale": max,
               "autoscaling.knative.dev/metric": "concurrency"})
    };
    let patch = |min: Value, max: Value, initial: Value| {
        json!({"metadata": {"resourceVersion": "3300"}, "spec": {"template": {"metadata": {"annotations": {
            "autoscaling.knative.dev/min-scale": min,
            "autoscaling.knative.dev/max-scale": max,
            "autoscaling.knative.dev/initial-scale": initial,
        }}}}})
    };
    let cases: Vec<(&str, u32, Vec<Exchange>, Outcome)> = vec![
        (
            "raise the floor 1 → 5, initial-scale follows, max-scale kept",
            5,
            vec![
                get(path, 200, ksvc(ann("1", "20"), "3300")),
                write("PATCH", format!("{path}?&fieldManager=scale"), MERGE, patch("5".into(), "20".into(), "5".into()), 200, ksvc(ann("5", "20"), "3301")),
            ],
            Outcome::Applied { from: 1, to: 5, attempts: 1 },
        ),
        (
            "floor to 0 removes initial-scale",
            0,
            vec![
                get(path, 200, ksvc(json!({"autoscaling.knative.dev/min-scale": "2"}), "3300")),
                write("PATCH", format!("{path}?&fieldManager=scale"), MERGE, patch("0".into(), Value::Null, Value::Null), 200, ksvc(json!({"autoscaling.knative.dev/min-scale": "0"}), "3301")),
            ],
            Outcome::Applied { from: 2, to: 0, attempts: 1 },
        ),
        (
            "unchanged floor: no new Revision",
            5,
            vec![get(path, 200, ksvc(ann("5", "20"), "3300"))],
            Outcome::Unchanged { replicas: 5 },
        ),
        (
            "above max-scale: refused before any write",
            25,
            vec![get(path, 200, ksvc(ann("1", "20"), "3300"))],
            Outcome::Failed { error: ActuateError::Refused("25 replicas is above the target's maximum 20".into()), attempts: 0 },
        ),
        (
            "malformed annotation names itself",
            5,
            vec![get(path, 200, ksvc(ann("two", "20"), "3300"))],
            Outcome::Failed {
                error: ActuateError::Refused("ksvc checkout: spec.template.metadata.annotations[autoscaling.knative.dev/min-scale] = \"two\" is not a whole number".into()),
                attempts: 0,
            },
        ),
    ];
    for (name, desired, script, want) in cases {
        let (client, task) = verifier(script);
        let target = KnativeService::new(client.clone(), "default", "checkout");
        assert_eq!(apply(&target, desired, &RetryPolicy::default()).await, want, "{name}");
        drop(target);
        finish(client, task).await;
    }
}
