//! Why a decision step produced its value: the vocabulary every recommender, the governor, the
//! decision record, Events and reports share. "No decision" is a value with a reason, never an
//! error (the HPA's `ScaleUpLimit`, `TooManyReplicas`, `ScaleDownStabilized`, ...).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reason {
    /// The value passed this step unchanged.
    DesiredWithinRange,
    TooFewReplicas,
    TooManyReplicas,
    ScaleUpLimit,
    ScaleDownLimit,
    ScaleDownStabilized,
    ScaleUpStabilized,
    /// Neither a reactive nor a predictive recommendation: hold.
    NoRecommendation,
    /// The target sits at zero replicas with minReplicas > 0: autoscaling is off.
    ScalingDisabled,
    /// A metric failed; the HPA holds rather than scale down on partial data.
    InvalidMetrics,
    /// Metrics older than the staleness bound: predictive off, no scale-down.
    StaleMetrics,
    /// The forecast was NaN, infinite, negative or absurdly wide.
    ForecastDiscarded,
    /// The forecast does not cover the lead window.
    ForecastExpired,
    /// The forecast asked for more than the reactive algorithm.
    PredictiveAboveReactive,
    /// The reactive recommendation held capacity above the forecast.
    ReactiveFloor,
    /// Forecast-driven scale-in (opt-in) took capacity below the reactive recommendation.
    ForecastScaleIn,
    /// Only a forecast: it may raise capacity but not lower it.
    ForecastOnlyRaises,
    BudgetExhausted,
    ActuationCooldown,
    ModeOff,
    /// Dry run: recorded, not applied.
    ForecastOnly,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub step: String,
    pub value: u32,
    pub reason: Reason,
}

impl Step {
    pub fn new(step: &str, value: u32, reason: Reason) -> Self {
        Step {
            step: step.into(),
            value,
            reason,
        }
    }
}

impl Reason {
    /// The reason's name as serialized (e.g. `StaleMetrics`): the label in /metrics and Events.
    pub fn label(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| format!("{self:?}"))
    }
}
