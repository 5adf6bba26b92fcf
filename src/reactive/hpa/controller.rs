//! One HPA reconcile per tick (the controller's reconcileAutoscaler): bounds on the current
//! count, the replica calculation across metrics, then `behavior` normalization; scale
//! events are recorded when the count changes. State carries across ticks.

use crate::core::reason::{Reason, Step};
use crate::reactive::hpa::behavior::normalized_steps;
use crate::reactive::hpa::behavior::{BehaviorConfig, BehaviorState, Stabilization, normalize};
use crate::reactive::hpa::replica::{ControllerOptions, MetricProposal, MetricsView, Tolerance, replicas_for_metrics};
use crate::reactive::hpa::spec::HpaSpec;
use serde::Serialize;

/// One HorizontalPodAutoscaler: its defaulted spec, controller flags and the state kept across
/// ticks.
#[derive(Debug, Clone)]
pub struct HpaController {
    /// The spec after API defaulting.
    pub spec: HpaSpec,
    /// The spec's behavior after API defaulting.
    pub behavior: BehaviorConfig,
    /// The kube-controller-manager flags.
    pub options: ControllerOptions,
    /// Past recommendations and scale events.
    pub state: BehaviorState,
}

/// One reconcile's outcome, with the HPA's status conditions and the steps that led there.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HpaDecision {
    /// The tick's time in seconds.
    pub time: i64,
    /// The target's replica count when the tick started.
    pub current_replicas: u32,
    /// What to scale to; `current_replicas` when nothing changes.
    pub desired_replicas: u32,
    /// The ScalingLimited reason (or ScalingDisabled / a metric failure reason).
    pub condition: String,
    /// The AbleToScale reason: ReadyForNewScale, ScaleUpStabilized or ScaleDownStabilized.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub able_to_scale: Option<Stabilization>,
    /// The metric failure's message, when no recommendation could be made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Each metric's proposal or failure, in spec order.
    pub metrics: Vec<MetricProposal>,
    /// The decision steps: bounds or hold, else recommendation, stabilization, rate limit.
    pub steps: Vec<Step>,
}

impl HpaController {
    /// Validates and defaults `spec` as the API server would; errors name the field.
    pub fn new(spec: HpaSpec, options: ControllerOptions) -> Result<Self, String> {
        spec.validate()?;
        if !(options.tolerance >= 0.0 && options.tolerance.is_finite()) {
            return Err("controller.tolerance: must be a non-negative number".into());
        }
        let behavior = BehaviorConfig::from_spec(spec.behavior.as_ref())?;
        Ok(HpaController {
            spec: spec.defaulted(),
            behavior,
            options,
            state: BehaviorState::default(),
        })
    }

    fn tolerance(&self) -> Tolerance {
        Tolerance {
            up: self.behavior.scale_up.tolerance.unwrap_or(self.options.tolerance),
            down: self.behavior.scale_down.tolerance.unwrap_or(self.options.tolerance),
        }
    }

    /// One reconcile at `now` (seconds) with `current` replicas; records the scale event when
    /// the count changes, as if the change were applied.
    pub fn tick(&mut self, now: i64, current: u32, view: &MetricsView) -> HpaDecision {
        let (min, max) = (self.spec.min(), self.spec.max_replicas);
        let mut d = HpaDecision {
            time: now,
            current_replicas: current,
            desired_replicas: current,
            condition: "DesiredWithinRange".into(),
            able_to_scale: None,
            error: None,
            metrics: vec![],
            steps: vec![],
        };
        if current == 0 && min != 0 {
            // the target was scaled to zero by hand: autoscaling is off
            d.desired_replicas = 0;
            d.condition = "ScalingDisabled".into();
            d.steps.push(Step::new("bounds", 0, Reason::ScalingDisabled));
            return d;
        }
        if current > max || current < min {
            let (v, r) = if current > max {
                (max, Reason::TooManyReplicas)
            } else {
                (min, Reason::TooFewReplicas)
            };
            d.desired_replicas = v;
            d.condition = format!("{r:?}");
            d.steps.push(Step::new("bounds", v, r));
            self.state.record_scale(now, current, v);
            return d;
        }
        let (proposal, metrics) =
            replicas_for_metrics(&self.spec.metrics, view, current, now, &self.options, self.tolerance());
        d.metrics = metrics;
        let recommended = match proposal {
            Ok(r) => r,
            Err(e) => {
                d.condition = e.reason.clone();
                d.error = Some(e.message);
                d.steps.push(Step::new("hold", current, Reason::InvalidMetrics));
                return d;
            }
        };
        d.steps
            .push(Step::new("recommendation", recommended, Reason::DesiredWithinRange));
        let n = normalize(&self.behavior, &mut self.state, now, min, max, current, recommended);
        d.steps.extend(normalized_steps(&n));
        d.able_to_scale = Some(n.stabilization);
        d.condition = format!("{:?}", n.limit);
        d.desired_replicas = n.desired;
        self.state.record_scale(now, current, n.desired);
        d
    }
}
