//! Why a decision step produced its value: the vocabulary every recommender, the governor, the
//! decision record, Events and reports share. "No decision" is a value with a reason, never an
//! error (the HPA's `ScaleUpLimit`, `TooManyReplicas`, `ScaleDownStabilized`, ...).

use serde::{Deserialize, Serialize};

/// Why a step left its value where it did; serialized by variant name (the HPA's condition reasons
/// where one exists).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reason {
    /// The value passed this step unchanged.
    DesiredWithinRange,
    /// Held at minReplicas: the count was below it, or a scale-down would cross it.
    TooFewReplicas,
    /// Held at maxReplicas: the count was above it, or a scale-up would cross it.
    TooManyReplicas,
    /// Capped by the scale-up policies (pods or percent per period).
    ScaleUpLimit,
    /// Held up by the scale-down policies (pods or percent per period).
    ScaleDownLimit,
    /// Kept at the highest recommendation inside the scale-down stabilization window.
    ScaleDownStabilized,
    /// Kept at the lowest recommendation inside the scale-up stabilization window.
    ScaleUpStabilized,
    /// Neither a reactive nor a predictive recommendation: hold.
    NoRecommendation,
    /// The target sits at zero replicas with minReplicas > 0: autoscaling is off.
    ScalingDisabled,
    /// A metric failed; the HPA holds rather than scale down on partial data.
    InvalidMetrics,
    /// Metrics older than the staleness bound: predictive off, no scale-down.
    StaleMetrics,
    /// The fetched demand was non-finite, negative or implausibly far above its recent history:
    /// rejected, and held as missing data (predictive off, no scale-down).
    ImplausibleDemand,
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
    /// Forecast scale-in stopped at the safety floor: observed demand at the SLO-derived load
    /// per replica.
    SafetyFloor,
    /// Observed demand left the forecast band while pods were short: raised at once to what the
    /// observed demand needs (KPA's panic mode on the predictive path); never scales in.
    BurstGuard,
    /// A latency rule asked for more than the other recommendations (its window breached
    /// `upperBound`, or it holds the count while latency is within its bounds).
    LatencyRule,
    /// Only a forecast: it may raise capacity but not lower it.
    ForecastOnlyRaises,
    /// The replica-hour budget for the window is spent: forecast-driven growth stops at the
    /// reactive floor.
    BudgetExhausted,
    /// A recent actuation failed: hold the current count until the failure cooldown passes.
    ActuationCooldown,
    /// Mode `off`: the current count is kept and nothing is applied.
    ModeOff,
    /// Dry run: recorded, not applied.
    ForecastOnly,
}

/// One step of a decision record: the replica count a named stage produced, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// Stage name as records and reports print it: `combine`, `bounds`, `stabilization`,
    /// `rate_limit`, `budget`, `cooldown`, `mode`, ...
    pub step: String,
    /// Replica count after this stage.
    pub value: u32,
    /// Why the stage produced `value`.
    pub reason: Reason,
}

impl Step {
    /// A step named `step` that produced `value` for `reason`.
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
