//! `scale decide`: replays ticks through the reactive engine (HPA or KPA) and its governor,
//! one JSON object per tick. The input and output are a public contract: docs/decide.md.
//! The whole input is parsed and validated before any tick runs, so a bad file prints
//! nothing but one error naming the JSON path.

use crate::reactive::hpa::behavior::BehaviorState;
use crate::reactive::hpa::controller::HpaController;
use crate::reactive::hpa::replica::{ControllerOptions, MetricsView, PodInput};
use crate::reactive::hpa::spec::HpaSpec;
use crate::reactive::kpa::{self, KpaSpec, KpaState, KpaTick};
use crate::{Error, Result};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct HpaInput {
    #[allow(dead_code)]
    algorithm: String,
    hpa: HpaSpec,
    #[serde(default)]
    controller: ControllerOptions,
    #[serde(default)]
    history: History,
    ticks: Vec<HpaTick>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct History {
    #[serde(default)]
    recommendations: Vec<PastRecommendation>,
    #[serde(default)]
    scale_events: Vec<PastScaleEvent>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PastRecommendation {
    time: i64,
    replicas: u32,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PastScaleEvent {
    time: i64,
    replica_change: i64,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct HpaTick {
    time: i64,
    current_replicas: u32,
    #[serde(default)]
    pods: Vec<PodInput>,
    #[serde(default)]
    object_metrics: BTreeMap<String, f64>,
    #[serde(default)]
    external_metrics: BTreeMap<String, Vec<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct KpaInput {
    #[allow(dead_code)]
    algorithm: String,
    kpa: KpaSpec,
    ticks: Vec<KpaTick>,
}

/// Parses with the JSON path of any error: `hpa.metrics[0].resource.target: missing field ...`.
fn parse<T: serde::de::DeserializeOwned>(source: &str, v: serde_json::Value) -> Result<T> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        Error::data(source, None, format!("{path}: {}", e.inner()))
    })
}

fn check_times(source: &str, times: impl Iterator<Item = i64>) -> Result<()> {
    let mut last = i64::MIN;
    for (i, t) in times.enumerate() {
        if t < last {
            return Err(Error::data(
                source,
                None,
                format!("ticks[{i}].time: {t} is earlier than the previous tick ({last})"),
            ));
        }
        last = t;
    }
    Ok(())
}

/// Runs a decide input (JSON text) and returns one JSON line per tick.
pub fn run(source: &str, text: &str) -> Result<Vec<String>> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| Error::data(source, None, format!("not valid JSON: {e}")))?;
    let algorithm = value
        .get("algorithm")
        .and_then(|a| a.as_str())
        .ok_or_else(|| Error::data(source, None, "algorithm: missing; expected \"hpa\" or \"kpa\""))?;
    match algorithm {
        "hpa" => run_hpa(source, parse(source, value)?),
        "kpa" => run_kpa(source, parse(source, value)?),
        other => Err(Error::data(
            source,
            None,
            format!("algorithm: unknown {other:?}; expected \"hpa\" or \"kpa\""),
        )),
    }
}

fn run_hpa(source: &str, input: HpaInput) -> Result<Vec<String>> {
    check_times(source, input.ticks.iter().map(|t| t.time))?;
    let mut ctl = HpaController::new(input.hpa, input.controller).map_err(|e| Error::data(source, None, e))?;
    ctl.state = history_state(&input.history);
    let mut out = Vec::with_capacity(input.ticks.len());
    for t in input.ticks {
        let view = MetricsView {
            pods: t.pods,
            object_metrics: t.object_metrics,
            external_metrics: t.external_metrics,
        };
        let d = ctl.tick(t.time, t.current_replicas, &view);
        out.push(serde_json::to_string(&d).map_err(|e| Error::Encode(e.to_string()))?);
    }
    Ok(out)
}

/// Past recommendations and scale events given by the caller replace the seeded window.
fn history_state(h: &History) -> BehaviorState {
    let mut st = BehaviorState {
        initialized: !h.recommendations.is_empty(),
        ..Default::default()
    };
    st.recommendations = h.recommendations.iter().map(|r| (r.time, r.replicas)).collect();
    for e in &h.scale_events {
        let n = e.replica_change.unsigned_abs().min(u32::MAX as u64) as u32;
        if e.replica_change > 0 {
            st.up_events.push((e.time, n));
        } else if e.replica_change < 0 {
            st.down_events.push((e.time, n));
        }
    }
    st
}

fn run_kpa(source: &str, input: KpaInput) -> Result<Vec<String>> {
    check_times(source, input.ticks.iter().map(|t| t.time))?;
    input
        .kpa
        .validate()
        .map_err(|e| Error::data(source, None, format!("kpa.{e}")))?;
    let mut state = KpaState::default();
    input
        .ticks
        .iter()
        .map(|t| {
            serde_json::to_string(&kpa::decide(&input.kpa, &mut state, t)).map_err(|e| Error::Encode(e.to_string()))
        })
        .collect()
}
