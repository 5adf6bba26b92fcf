//! The control step shared by the live loop and the simulator: observation (+ forecast) →
//! reactive and predictive recommendations → governor → decision record → actuator.
//! One path: `evaluate` drives this exact code against the simulated cluster.

use crate::actuate::Actuator;
use crate::govern::{GovernorConfig, GovernorInput, GovernorState, Mode, Step};
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
    /// Age of the demand sample in seconds.
    pub metric_age_seconds: i64,
}

/// Why a tick decided what it did: inputs, the forecast used, every clamp, the result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionRecord {
    pub time: i64,
    pub policy: PolicyKind,
    pub mode: Mode,
    pub current_replicas: u32,
    pub ready_replicas: u32,
    pub demand: Option<f64>,
    pub metric_age_seconds: i64,
    pub reactive: Option<u32>,
    pub predictive: Option<u32>,
    /// The forecast demand quantile planned for, if a forecast was used.
    pub forecast_peak: Option<f64>,
    pub forecast_quantile: f64,
    /// Why the forecast was not used, if it was not.
    pub forecast_skipped: Option<NoPlan>,
    pub steps: Vec<Step>,
    pub desired_replicas: u32,
    pub applied: bool,
    /// The actuator's error, if it failed.
    pub actuation_error: Option<String>,
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

    /// One tick without side effects: the record says whether to apply.
    pub fn decide(&mut self, obs: Observation, forecast: Option<ForecastWindow<'_>>) -> DecisionRecord {
        let c = &self.config;
        let reactive = obs.demand.and_then(|d| {
            let view = PodsView {
                current: obs.current_replicas,
                ready: obs.ready_replicas,
                ready_usage: d,
                per_pod_capacity: c.plan.capacity_per_replica,
            };
            recommend(&c.hpa, &view)
        });
        let planned = match c.policy {
            PolicyKind::Predictive => Some(match forecast {
                Some(w) => plan(obs.now, c.lead_seconds, w, &c.plan),
                None => Err(NoPlan::ForecastExpired),
            }),
            PolicyKind::Reactive => None,
        };
        let input = GovernorInput {
            now: obs.now,
            current: obs.current_replicas,
            reactive,
            metric_age_seconds: obs.demand.map(|_| obs.metric_age_seconds),
            predictive: planned.clone().map(|p| p.map(|p| p.replicas)),
        };
        let g = c.governor.govern(&input, &mut self.state);
        DecisionRecord {
            time: obs.now,
            policy: c.policy,
            mode: c.governor.mode,
            current_replicas: obs.current_replicas,
            ready_replicas: obs.ready_replicas,
            demand: obs.demand,
            metric_age_seconds: obs.metric_age_seconds,
            reactive,
            predictive: planned.as_ref().and_then(|p| p.as_ref().ok()).map(|p| p.replicas),
            forecast_peak: planned.as_ref().and_then(|p| p.as_ref().ok()).map(|p| p.peak_demand),
            forecast_quantile: c.plan.quantile,
            forecast_skipped: planned.and_then(|p| p.err()),
            steps: g.steps,
            desired_replicas: g.desired,
            applied: g.apply,
            actuation_error: None,
        }
    }

    /// Reports what the target did with an applied decision (failures start the cooldown).
    pub fn record_actuation(&mut self, now: i64, ok: bool) {
        self.state.record_actuation(now, ok);
    }

    /// One tick with an actuator: decide, apply when the governor says so, report the outcome.
    pub fn tick(
        &mut self,
        obs: Observation,
        forecast: Option<ForecastWindow<'_>>,
        actuator: &mut dyn Actuator,
    ) -> DecisionRecord {
        let mut rec = self.decide(obs, forecast);
        if rec.applied {
            let outcome = actuator.apply(rec.desired_replicas);
            self.state.record_actuation(obs.now, outcome.is_ok());
            if let Err(e) = outcome {
                rec.applied = false;
                rec.actuation_error = Some(e);
            }
        }
        rec
    }
}
