//! The control step shared by the live loop and the simulator: observation (+ forecast) →
//! recommendation (reactive, predictive, combined) → governor → decision record.
//! One path: `evaluate` drives this exact code against the simulated cluster.

use crate::govern::{Governed, GovernorConfig, GovernorState, Step};
use crate::plan::{ForecastWindow, NoPlan, PlanConfig, plan};
use crate::reactive::hpa::{HpaUtilization, PodsView, recommend};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyKind {
    /// max(predictive, reactive), governed.
    Predictive,
    /// The HPA alone, governed.
    Reactive,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ControlConfig {
    pub policy: PolicyKind,
    pub plan: PlanConfig,
    pub hpa: HpaUtilization,
    pub governor: GovernorConfig,
    /// How far ahead capacity must be right: pod start-up plus one tick.
    pub lead_seconds: i64,
}

/// What the controller sees at a tick.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observation {
    pub now: i64,
    pub current_replicas: u32,
    pub ready_replicas: u32,
    /// Current demand (requests/s); None when the metric is missing.
    pub demand: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionRecord {
    pub time: i64,
    pub policy: PolicyKind,
    pub current_replicas: u32,
    pub demand: Option<f64>,
    pub reactive: Option<u32>,
    pub predictive: Option<u32>,
    /// The forecast demand quantile planned for, if a forecast was used.
    pub forecast_peak: Option<f64>,
    /// Why the forecast was not used, if it was not.
    pub forecast_skipped: Option<NoPlan>,
    pub steps: Vec<Step>,
    pub desired_replicas: u32,
}

#[derive(Debug, Clone)]
pub struct Controller {
    pub config: ControlConfig,
    state: GovernorState,
}

impl Controller {
    pub fn new(config: ControlConfig) -> Self {
        Controller {
            config,
            state: GovernorState::default(),
        }
    }

    /// One tick. Without a reactive or predictive recommendation the current count is held:
    /// never scale on missing data.
    pub fn decide(&mut self, obs: Observation, forecast: Option<ForecastWindow<'_>>) -> DecisionRecord {
        let c = &self.config;
        let reactive = obs.demand.and_then(|d| {
            recommend(
                &c.hpa,
                &PodsView {
                    current: obs.current_replicas,
                    ready: obs.ready_replicas,
                    ready_usage: d,
                    per_pod_capacity: c.plan.capacity_per_replica,
                },
            )
        });
        let (mut predictive, mut forecast_peak, mut forecast_skipped) = (None, None, None);
        if c.policy == PolicyKind::Predictive {
            match forecast.map(|w| plan(obs.now, c.lead_seconds, w, &c.plan)) {
                Some(Ok(p)) => {
                    predictive = Some(p.replicas);
                    forecast_peak = Some(p.peak_demand);
                }
                Some(Err(why)) => forecast_skipped = Some(why),
                None => forecast_skipped = Some(NoPlan::ForecastExpired),
            }
        }
        let combined = match (reactive, predictive) {
            (Some(r), Some(p)) => Some(r.max(p)),
            // A forecast alone may raise capacity but never lower it without a live metric.
            (None, Some(p)) => Some(p.max(obs.current_replicas)),
            (r, None) => r,
        };
        let Governed { desired, steps } = match combined {
            Some(rec) => c.governor.govern(obs.now, obs.current_replicas, rec, &mut self.state),
            None => Governed {
                desired: obs.current_replicas,
                steps: vec![Step {
                    step: "hold".into(),
                    value: obs.current_replicas,
                    reason: crate::govern::Reason::NoRecommendation,
                }],
            },
        };
        DecisionRecord {
            time: obs.now,
            policy: c.policy,
            current_replicas: obs.current_replicas,
            demand: obs.demand,
            reactive,
            predictive,
            forecast_peak,
            forecast_skipped,
            steps,
            desired_replicas: desired,
        }
    }
}
