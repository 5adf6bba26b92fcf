//! What a decision says on Kubernetes: the Event (reason and note) for a decision record and
//! what the target did with it.

use crate::actuate::Outcome;
use crate::actuate::kube::events::DecisionEvent;
use crate::control::DecisionRecord;
use crate::core::reason::Reason;

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

/// Pure: the event for a decision and what the target did with it. `outcome` is None when the
/// decision was not sent to the target (governor held it: dry run, budget, cooldown, mode off).
/// None when there is nothing to report: the target already matched, or nothing was wanted.
pub fn event_for(record: &DecisionRecord, outcome: Option<&Outcome>) -> Option<DecisionEvent> {
    let why = decisive_reason(record).map_or_else(|| "DesiredWithinRange".to_string(), Reason::label);
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
    Some(DecisionEvent::new(ev.kind, ev.reason, ev.action, ev.note))
}
