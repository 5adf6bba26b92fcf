//! Kubernetes Events on a target: a reason and a note, posted as an events.k8s.io/v1 Event.
//!
//! API: events.k8s.io/v1. It is the current Events API (core/v1 Event is its legacy view of the
//! same objects, so `kubectl describe` and `kubectl events` show these too), and it has the
//! fields a controller should fill: `reportingController`, `reportingInstance`, `action` and
//! `regarding`. Names follow client-go: `{object}.{unix-nanos as hex}`, unique per object and time.

use chrono::{DateTime, Utc};
use kube::api::PostParams;
use kube::core::Request;
use serde::Serialize;

use super::api::{from_build, from_kube};
use crate::actuate::ActuateError;

/// Whom SCALE reports as (`reportingController`).
pub const REPORTING_CONTROLLER: &str = "scale.dev/scale";
/// The API bound on `note` (1 kB); longer notes are cut at a character boundary.
pub const MAX_NOTE: usize = 1024;

/// The object an event is about (`regarding`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    /// The object's `apiVersion`, e.g. `apps/v1`.
    pub api_version: String,
    /// The object's `kind`, e.g. `Deployment`.
    pub kind: String,
    /// The object's namespace; the event is posted there.
    pub namespace: String,
    /// The object's name; the event's name starts with it.
    pub name: String,
}

/// One event's content: a reason and a note (what to say is the caller's business).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DecisionEvent {
    /// `Normal` or `Warning`.
    pub kind: &'static str,
    /// The event's reason, e.g. `SuccessfulRescale`.
    pub reason: String,
    /// What was done: `Scale` or `Hold`.
    pub action: &'static str,
    /// Human-readable detail, at most [`MAX_NOTE`] bytes.
    pub note: String,
}

impl DecisionEvent {
    /// An event whose note is cut to the API's bound at a character boundary.
    pub fn new(kind: &'static str, reason: impl Into<String>, action: &'static str, note: String) -> Self {
        DecisionEvent {
            kind,
            reason: reason.into(),
            action,
            note: truncate(note),
        }
    }
}

fn truncate(mut s: String) -> String {
    if s.len() > MAX_NOTE {
        let mut cut = MAX_NOTE;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

/// `2026-11-28T04:00:00.000000Z`: MicroTime's wire format.
pub fn micro_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// The events.k8s.io/v1 Event object for `ev` about `regarding` at `now`.
pub fn event_body(regarding: &ObjectRef, ev: &DecisionEvent, instance: &str, now: DateTime<Utc>) -> serde_json::Value {
    let nanos = now.timestamp_nanos_opt().unwrap_or_default();
    serde_json::json!({
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {
            "name": format!("{}.{:x}", regarding.name, nanos),
            "namespace": regarding.namespace,
        },
        "eventTime": micro_time(now),
        "reportingController": REPORTING_CONTROLLER,
        "reportingInstance": instance,
        "action": ev.action,
        "reason": ev.reason,
        "note": ev.note,
        "type": ev.kind,
        "regarding": regarding,
    })
}

/// Writes decision events for one SCALE instance.
pub struct KubeEvents {
    client: kube::Client,
    /// `reportingInstance`: the pod name of this SCALE replica, typically.
    instance: String,
}

impl KubeEvents {
    /// Events reported by `instance` (`reportingInstance`).
    pub fn new(client: kube::Client, instance: &str) -> Self {
        KubeEvents {
            client,
            instance: instance.into(),
        }
    }

    /// Posts the event into the namespace of the object it regards.
    pub async fn emit(
        &self,
        regarding: &ObjectRef,
        ev: &DecisionEvent,
        now: DateTime<Utc>,
    ) -> Result<(), ActuateError> {
        let body = event_body(regarding, ev, &self.instance, now);
        let path = format!("/apis/events.k8s.io/v1/namespaces/{}/events", regarding.namespace);
        let req = Request::new(path)
            .create(&PostParams::default(), serde_json::to_vec(&body).unwrap_or_default())
            .map_err(from_build)?;
        let _: serde_json::Value = self.client.request(req).await.map_err(from_kube)?;
        Ok(())
    }
}
