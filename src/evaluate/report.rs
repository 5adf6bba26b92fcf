//! The `scale evaluate` output contract (`report.json`), documented in docs/evaluate.md.
//! Field names are a public interface: add fields, never rename or remove them.

use crate::core::series::DataIssue;
use crate::govern::ScaleIn;
use crate::sim::PolicySummary;
use crate::train::backtest::BacktestReport;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The three policies every report compares, and the seed's latency rules with `--rules`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Policies {
    pub predictive: PolicySummary,
    pub reactive_hpa: PolicySummary,
    pub oracle: PolicySummary,
    /// The `LatencyBasedAutoScaler` rule bound to the service (`--rules`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_rules: Option<PolicySummary>,
    /// The predictive policy with that rule attached, as `scale serve` runs a service with the
    /// rule in `[rules]` (`--rules`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predictive_with_rules: Option<PolicySummary>,
}

impl Policies {
    pub fn merge(&self, other: &Policies) -> Policies {
        Policies {
            predictive: self.predictive.merge(&other.predictive),
            reactive_hpa: self.reactive_hpa.merge(&other.reactive_hpa),
            oracle: self.oracle.merge(&other.oracle),
            latency_rules: merge_optional(&self.latency_rules, &other.latency_rules),
            predictive_with_rules: merge_optional(&self.predictive_with_rules, &other.predictive_with_rules),
        }
    }

    /// The policies by report name, in the order tables list them.
    pub fn named(&self) -> Vec<(&'static str, &PolicySummary)> {
        let mut out = vec![
            ("predictive", &self.predictive),
            ("reactive_hpa", &self.reactive_hpa),
            ("oracle", &self.oracle),
        ];
        if let Some(r) = &self.latency_rules {
            out.push(("latency_rules", r));
        }
        if let Some(r) = &self.predictive_with_rules {
            out.push(("predictive_with_rules", r));
        }
        out
    }
}

/// Services without the policy add nothing to the total.
fn merge_optional(a: &Option<PolicySummary>, b: &Option<PolicySummary>) -> Option<PolicySummary> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.merge(b)),
        (a, b) => a.clone().or_else(|| b.clone()),
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
    /// How often serve's forecast step ran: every tick (it recomputes when the data changed).
    pub reforecast_seconds: i64,
    /// When the model was retrained during the replay (`daily` at 03:00 UTC, or `never`).
    #[serde(default)]
    pub retrain: super::Retrain,
    /// Recent demand each tick fetched, as serve's `defaults.history`.
    #[serde(default)]
    pub history_seconds: i64,
    /// The latency rule replayed as `latency_rules` (`--rules`), as `scale rules check` prints it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_rule: Option<String>,
    pub min_replicas: u32,
    pub max_replicas: u32,
    /// How far the predictive policy's forecast may scale in.
    #[serde(default)]
    pub scale_in: crate::govern::ScaleIn,
    /// Which settings were derived from the data rather than given.
    pub derived: Vec<String>,
}

/// One replayed retraining: what `scale train` would have decided at `at`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Retrained {
    /// Unix seconds.
    pub at: i64,
    /// The version promoted, if the candidate was.
    pub version: Option<String>,
    /// The family serving after this retraining.
    pub family: String,
    /// The promotion decision (None when training failed).
    pub promotion: Option<crate::train::artifact::Promotion>,
    /// Why training failed, if it did; the active version stays.
    pub error: Option<String>,
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
    /// Each violation tick's cause per policy (empty string: no violation).
    #[serde(default)]
    pub cause: BTreeMap<String, Vec<String>>,
}

/// One point of the cost–SLO frontier (`scale evaluate --frontier`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrontierPoint {
    /// `reactive_hpa`, `predictive` or `latency_rules`.
    pub policy: String,
    /// The predictive policy's scale-in mode; null for the HPA.
    pub scale_in: Option<ScaleIn>,
    /// The HPA's target utilization (HPA points only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_utilization: Option<f64>,
    /// The predictive policy's quantile (predictive points only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantile: Option<f64>,
    pub slo_violation_minutes: f64,
    pub replica_hours: f64,
}

impl FrontierPoint {
    /// The HPA alone at `target` utilization.
    pub fn hpa(target: f64, s: &PolicySummary) -> Self {
        FrontierPoint {
            policy: "reactive_hpa".into(),
            scale_in: None,
            target_utilization: Some(target),
            quantile: None,
            slo_violation_minutes: s.slo_violation_minutes,
            replica_hours: s.replica_hours,
        }
    }

    /// The latency rule as written (it has no setting to sweep).
    pub fn latency_rules(s: &PolicySummary) -> Self {
        FrontierPoint {
            policy: "latency_rules".into(),
            scale_in: None,
            target_utilization: None,
            quantile: None,
            slo_violation_minutes: s.slo_violation_minutes,
            replica_hours: s.replica_hours,
        }
    }

    /// The predictive policy at `quantile` in `scale_in` mode.
    pub fn predictive(scale_in: ScaleIn, quantile: f64, s: &PolicySummary) -> Self {
        FrontierPoint {
            policy: "predictive".into(),
            scale_in: Some(scale_in),
            target_utilization: None,
            quantile: Some(quantile),
            slo_violation_minutes: s.slo_violation_minutes,
            replica_hours: s.replica_hours,
        }
    }

    fn same_setting(&self, o: &FrontierPoint) -> bool {
        (&self.policy, self.scale_in, self.target_utilization, self.quantile)
            == (&o.policy, o.scale_in, o.target_utilization, o.quantile)
    }
}

/// Sums two services' frontiers point by point (a point missing on one side is kept as is).
pub fn merge_frontier(a: &[FrontierPoint], b: &[FrontierPoint]) -> Vec<FrontierPoint> {
    let mut out = a.to_vec();
    for p in b {
        match out.iter_mut().find(|q| q.same_setting(p)) {
            Some(q) => {
                q.slo_violation_minutes += p.slo_violation_minutes;
                q.replica_hours += p.replica_hours;
            }
            None => out.push(p.clone()),
        }
    }
    out
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
    /// The cost–SLO frontier (empty without `--frontier`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub frontier: Vec<FrontierPoint>,
    #[serde(skip)]
    pub timeline: Timeline,
    /// The predictive policy's applied decisions (written to decisions.jsonl).
    #[serde(skip)]
    pub decisions: Vec<crate::control::DecisionRecord>,
    /// The replay's retrainings, in order (empty with `--retrain never`).
    #[serde(default)]
    pub retrains: Vec<Retrained>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvalReport {
    pub schema_version: u32,
    pub input: String,
    /// Totals over all services.
    pub policies: Policies,
    /// The cost–SLO frontier summed over services (empty without `--frontier`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub frontier: Vec<FrontierPoint>,
    /// The first service's backtest (the only one for a single-series file); all are under `services`.
    pub forecast: BacktestReport,
    pub services: BTreeMap<String, ServiceReport>,
}
