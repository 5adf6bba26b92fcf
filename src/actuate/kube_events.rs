//! A Kubernetes Event on the target for each applied or refused decision.
//!
//! API: events.k8s.io/v1. It is the current Events API (core/v1 Event is its legacy view of the
//! same objects, so `kubectl describe` and `kubectl events` show these too), and it has the
//! fields a controller should fill: `reportingController`, `reportingInstance`, `action` and
//! `regarding`. Names follow client-go: `{object}.{unix-nanos as hex}`, unique per object and time.

use chrono::{DateTime, Utc};
use kube::api::PostParams;
use kube::core::Request;
use serde::Serialize;

use super::kube_api::{from_build, from_kube};
use super::{ActuateError, Outcome};
use crate::control::DecisionRecord;
use crate::govern::Reason;

/// Whom SCALE reports as (`reportingController`).
pub const REPORTING_CONTROLLER: &str = "scale.dev/scale";
/// The API bound on `note` (1 kB); longer notes are cut at a character boundary.
pub const MAX_NOTE: usize = 1024;

/// The object an event is about (`regarding`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    pub api_version: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

/// One event's content, derived from a decision record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DecisionEvent {
    /// `Normal` or `Warning`.
    pub kind: &'static str,
    pub reason: String,
    pub action: &'static str,
    pub note: String,
}

fn reason_name(r: Reason) -> String {
    serde_json::to_value(r)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{r:?}"))
}

/// The step that decided: the last one that changed or held the value for a reason.
fn decisive_reason(record: &DecisionRecord) -> Option<Reason> {
    record
        .steps
        .iter()
        .rev()
        .map(|s| s.reason)
        .find(|r| *r != Reason::DesiredWithinRange)
}

fn forecast_note(record: &DecisionRecord) -> String {
    match record.forecast_peak {
        Some(p) => format!("; forecast p{:.0} peak {p:.1}", record.forecast_quantile * 100.0),
        None => String::new(),
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

/// Pure: the event for a decision and what the target did with it. `outcome` is None when the
/// decision was not sent to the target (governor held it: dry run, budget, cooldown, mode off).
/// None when there is nothing to report: the target already matched, or nothing was wanted.
pub fn event_for(record: &DecisionRecord, outcome: Option<&Outcome>) -> Option<DecisionEvent> {
    let why = decisive_reason(record).map_or_else(|| "DesiredWithinRange".to_string(), reason_name);
    let forecast = forecast_note(record);
    let ev = match outcome {
        Some(Outcome::Unchanged { .. }) => return None,
        Some(Outcome::Applied { from, to, .. }) => DecisionEvent {
            kind: "Normal",
            reason: "SuccessfulRescale".into(),
            action: "Scale",
            note: format!("New size: {to} (from {from}); reason: {why}{forecast}"),
        },
        Some(Outcome::Failed { error, attempts }) => DecisionEvent {
            kind: "Warning",
            reason: "FailedRescale".into(),
            action: "Scale",
            note: format!(
                "New size: {} (from {}); reason: {why}{forecast}; error after {attempts} attempts: {error}",
                record.desired_replicas, record.current_replicas
            ),
        },
        None => {
            // What the recommenders asked for before the governor held it.
            let wanted = record.predictive.max(record.reactive)?;
            if wanted == record.current_replicas {
                return None;
            }
            DecisionEvent {
                kind: "Normal",
                reason: why.clone(),
                action: "Hold",
                note: format!(
                    "Held at {} (recommended {wanted}); reason: {why}{forecast}",
                    record.desired_replicas
                ),
            }
        }
    };
    Some(DecisionEvent {
        note: truncate(ev.note),
        ..ev
    })
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

    /// Derives and posts the event for a decision; Ok(false) when there was nothing to report.
    pub async fn record(
        &self,
        regarding: &ObjectRef,
        record: &DecisionRecord,
        outcome: Option<&Outcome>,
        now: DateTime<Utc>,
    ) -> Result<bool, ActuateError> {
        match event_for(record, outcome) {
            Some(ev) => self.emit(regarding, &ev, now).await.map(|()| true),
            None => Ok(false),
        }
    }
}
