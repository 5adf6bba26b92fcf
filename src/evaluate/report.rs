//! The `scale evaluate` output contract (`report.json`), documented in docs/evaluate.md.
//! Field names are a public interface: add fields, never rename or remove them.

use crate::core::series::DataIssue;
use crate::sim::PolicySummary;
use crate::train::backtest::BacktestReport;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The three policies every report compares.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Policies {
    pub predictive: PolicySummary,
    pub reactive_hpa: PolicySummary,
    pub oracle: PolicySummary,
}

impl Policies {
    pub fn merge(&self, other: &Policies) -> Policies {
        Policies {
            predictive: self.predictive.merge(&other.predictive),
            reactive_hpa: self.reactive_hpa.merge(&other.reactive_hpa),
            oracle: self.oracle.merge(&other.oracle),
        }
    }
}

/// The settings the replay used, after defaults were derived from the data.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvalSettings {
    pub capacity_per_replica: f64,
    pub startup_seconds: i64,
    pub tick_seconds: i64,
    pub slo_latency_seconds: f64,
    pub target_utilization: f64,
    pub quantile: f64,
    pub reforecast_seconds: i64,
    pub min_replicas: u32,
    pub max_replicas: u32,
    /// Which settings were derived from the data rather than given.
    pub derived: Vec<String>,
}

/// The latency curve learned from measurements and what it implies for planning.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FittedCapacity {
    /// Load per replica at which the fitted p95 meets the SLO (what the planner provisions for).
    pub load_per_replica_at_slo: Option<f64>,
    /// The same, from the simulated cluster's true latency model: how well the fit recovered it.
    pub true_load_per_replica_at_slo: f64,
    pub model: crate::capacity::fit::CapacityModel,
    pub measured_from: String,
}

/// Per-tick trace of one service's replay, for charts and notebooks (also written as timeline.csv).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Timeline {
    /// Unix seconds of each tick.
    pub time: Vec<i64>,
    pub demand: Vec<f64>,
    /// Forecast for the tick's time, from the latest reforecast before it (NaN before the first).
    pub forecast: Vec<f64>,
    pub forecast_lower_80: Vec<f64>,
    pub forecast_upper_80: Vec<f64>,
    pub forecast_lower_95: Vec<f64>,
    pub forecast_upper_95: Vec<f64>,
    /// Provisioned replicas per policy.
    pub replicas: BTreeMap<String, Vec<u32>>,
    /// Ready replicas per policy.
    pub ready: BTreeMap<String, Vec<u32>>,
    /// Whether the tick violated the SLO, per policy.
    pub violation: BTreeMap<String, Vec<bool>>,
    /// Modelled p95 latency in seconds per policy (infinite when overloaded, written as null).
    pub p95_latency: BTreeMap<String, Vec<Option<f64>>>,
    /// The predictive policy's latency forecast: fitted p95 at the forecast demand over its
    /// provisioned replicas (null without a forecast or fitted model).
    #[serde(default)]
    pub predicted_p95: Vec<Option<f64>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServiceReport {
    pub policies: Policies,
    pub forecast: BacktestReport,
    pub settings: EvalSettings,
    /// The latency/capacity model the predictive planner used (None: fixed capacity).
    #[serde(default)]
    pub capacity: Option<FittedCapacity>,
    /// Replay window, Unix seconds.
    pub replay_start: i64,
    pub replay_end: i64,
    pub training_points: usize,
    pub data_issues: Vec<DataIssue>,
    #[serde(skip)]
    pub timeline: Timeline,
    /// The predictive policy's applied decisions (written to decisions.jsonl).
    #[serde(skip)]
    pub decisions: Vec<crate::control::DecisionRecord>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvalReport {
    pub schema_version: u32,
    pub input: String,
    /// Totals over all services.
    pub policies: Policies,
    /// The first service's backtest (the only one for a single-series file); all are under `services`.
    pub forecast: BacktestReport,
    pub services: BTreeMap<String, ServiceReport>,
}
