//! Knative's KPA decider: what Knative Serving's Pod Autoscaler would ask for at one tick.
//!
//! A re-implementation (not a port) of `pkg/autoscaler/scaling/autoscaler.go` (`Scale`), the
//! scale-down delay window of `pkg/autoscaler/aggregation/max` (`TimeWindow`), the bounds and
//! scale-to-zero step of `pkg/reconciler/autoscaling/kpa/scaler.go` (`applyBounds`,
//! `handleScaleToZero`, simplified) and `computeNumActivators` of
//! `pkg/reconciler/autoscaling/kpa/kpa.go`. Pure: the state and the time come in as arguments.
//!
//! Rules, in order (Knative docs: "Configuring the autoscaler", "Configuring scale bounds",
//! "Configuring scale to zero", "Configuring target burst capacity"):
//! 1. readyPodsCount = max(1, readyPods); maxScaleUp = ceil(maxScaleUpRate × readyPodsCount);
//!    maxScaleDown = floor(readyPodsCount / maxScaleDownRate) when reachable, else 0.
//! 2. Stable and panic pod counts = ceil(value / target), clamped into [maxScaleDown, maxScaleUp];
//!    a non-zero raw count below `activationScale` (when > 1) is raised to it.
//! 3. Panic starts (or is extended) while ceil(panic / target) / readyPodsCount ≥ panicThreshold,
//!    and ends only when below it and the last panic time is more than a stable window ago.
//!    While panicking: max(stable, panic), never below the highest count asked for in this panic.
//! 4. With a scale-down delay (reachable revisions only): the maximum asked for over the delay,
//!    bucketed by the 2 s autoscaler tick.
//! 5. Bounds [minScale, maxScale] (maxScale 0 = none; minScale ignored when unreachable), then
//!    scale to zero (see [`decide`] for the simplification).
//!
//! Times are whole seconds (e.g. Unix seconds).

use serde::{Deserialize, Deserializer, Serialize};

/// Autoscaler tick (`tickInterval`, multiscaler.go): the granularity of the scale-down delay window.
const TICK_INTERVAL_SECONDS: i64 = 2;
/// `minActivators` (kpa.go): at least two activators for high availability.
const MIN_ACTIVATORS: u32 = 2;
/// `autoscaling.TargetMin` (register.go).
const TARGET_MIN: f64 = 0.01;
/// `autoscaling.WindowMin` / `WindowMax` (register.go), also the scale-down delay's upper bound.
const WINDOW_MIN_SECONDS: i64 = 6;
const WINDOW_MAX_SECONDS: i64 = 3600;
/// `PanicThresholdPercentageMin` / `Max` (register.go) as fractions.
const PANIC_THRESHOLD_MIN: f64 = 1.1;
const PANIC_THRESHOLD_MAX: f64 = 10.0;

/// Step names in [`KpaDecision::steps`].
pub mod step {
    /// ceil(stable value / target): the raw count from the stable window.
    pub const STABLE: &str = "stable";
    /// The stable count clamped to the max scale-up or scale-down rate.
    pub const RATE_LIMIT: &str = "rate_limit";
    /// The stable count raised to activation-scale.
    pub const ACTIVATION_SCALE: &str = "activation_scale";
    /// A panic transition: max(stable, panic) while panicking, the stable count once it ends.
    pub const PANIC: &str = "panic";
    /// The count held at the highest asked for in this panic.
    pub const PANIC_HOLD: &str = "panic_hold";
    /// The count held at the maximum over the scale-down delay.
    pub const SCALE_DOWN_DELAY: &str = "scale_down_delay";
    /// The count clamped into [minScale, maxScale].
    pub const BOUNDS: &str = "bounds";
    /// The scale-to-zero step: 0 applied, or 1 held.
    pub const SCALE_TO_ZERO: &str = "scale_to_zero";
    /// The tick gave no decision; the only step then.
    pub const NO_DECISION: &str = "no_decision";
}

/// Reasons in [`KpaDecision::steps`].
pub mod reason {
    /// The stable window's average over the target.
    pub const STABLE_WINDOW: &str = "StableWindow";
    /// Capped at ceil(maxScaleUpRate × ready pods).
    pub const MAX_SCALE_UP_RATE: &str = "MaxScaleUpRate";
    /// Floored at floor(ready pods / maxScaleDownRate).
    pub const MAX_SCALE_DOWN_RATE: &str = "MaxScaleDownRate";
    /// A non-zero count below activation-scale was raised to it.
    pub const ACTIVATION_SCALE: &str = "ActivationScale";
    /// The panic threshold was crossed while calm.
    pub const PANIC_STARTED: &str = "PanicStarted";
    /// Still over the panic threshold: the panic time moves to now.
    pub const PANIC_EXTENDED: &str = "PanicExtended";
    /// Below the threshold, but less than a stable window since the last panic time.
    pub const PANIC_WINDOW_NOT_ELAPSED: &str = "PanicWindowNotElapsed";
    /// Below the threshold for a stable window: back to the stable count.
    pub const PANIC_ENDED: &str = "PanicEnded";
    /// No scale-down while panicking.
    pub const PANIC_NO_SCALE_DOWN: &str = "PanicModeNoScaleDown";
    /// A higher count inside the scale-down delay wins.
    pub const SCALE_DOWN_DELAYED: &str = "ScaleDownDelayed";
    /// Raised to minScale.
    pub const MIN_SCALE: &str = "MinScale";
    /// Lowered to maxScale.
    pub const MAX_SCALE: &str = "MaxScale";
    /// 0 asked for, but for less than the grace period: 1 is held.
    pub const SCALE_TO_ZERO_GRACE: &str = "ScaleToZeroGrace";
    /// 0 asked for with scale to zero disabled: 1 is held.
    pub const SCALE_TO_ZERO_DISABLED: &str = "ScaleToZeroDisabled";
    /// 0 asked for through the grace period: scaled to 0.
    pub const SCALED_TO_ZERO: &str = "ScaledToZero";
    /// 0 asked for with no ready pods: stays at 0 at once.
    pub const ALREADY_AT_ZERO: &str = "AlreadyAtZero";
    /// A window value is missing (NaN or null).
    pub const NO_METRICS: &str = "NoMetrics";
    /// A window value is infinite or negative.
    pub const INVALID_METRICS: &str = "InvalidMetrics";
    /// The spec fails [`KpaSpec::validate`](super::KpaSpec::validate).
    pub const INVALID_SPEC: &str = "InvalidSpec";
}

/// The KPA decider's knobs. Every field defaults to Knative's `config-autoscaler` default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KpaSpec {
    /// Metric per pod to aim for. Default 70: container-concurrency-target-default 100 × 70%.
    #[serde(default = "defaults::target_value")]
    pub target_value: f64,
    /// Metric one pod can take. Default 100 (container-concurrency-target-default).
    #[serde(default = "defaults::total_value")]
    pub total_value: f64,
    /// target-burst-capacity: 0 = activator only at zero, -1 = always. Default 211 (the code's and
    /// the shipped config map's value; the docs page says 200).
    #[serde(default = "defaults::target_burst_capacity")]
    pub target_burst_capacity: f64,
    /// panic-threshold-percentage / 100. Default 2.0 (200%).
    #[serde(default = "defaults::panic_threshold")]
    pub panic_threshold: f64,
    /// max-scale-up-rate. Default 1000.
    #[serde(default = "defaults::max_scale_up_rate")]
    pub max_scale_up_rate: f64,
    /// max-scale-down-rate. Default 2.
    #[serde(default = "defaults::max_scale_down_rate")]
    pub max_scale_down_rate: f64,
    /// stable-window. Default 60 s.
    #[serde(default = "defaults::stable_window_seconds")]
    pub stable_window_seconds: i64,
    /// scale-down-delay. Default 0 s (no delay window).
    #[serde(default)]
    pub scale_down_delay_seconds: i64,
    /// activation-scale; 0 or 1 = off. Default 1.
    #[serde(default = "defaults::activation_scale")]
    pub activation_scale: u32,
    /// activator-capacity. Default 100.
    #[serde(default = "defaults::activator_capacity")]
    pub activator_capacity: f64,
    /// min-scale. Default 0.
    #[serde(default)]
    pub min_scale: u32,
    /// max-scale; 0 = unbounded. Default 0.
    #[serde(default)]
    pub max_scale: u32,
    /// Whether a route references the revision. Default true.
    #[serde(default = "defaults::yes")]
    pub reachable: bool,
    /// enable-scale-to-zero. Default true.
    #[serde(default = "defaults::yes")]
    pub enable_scale_to_zero: bool,
    /// scale-to-zero-grace-period. Default 30 s.
    #[serde(default = "defaults::scale_to_zero_grace_period_seconds")]
    pub scale_to_zero_grace_period_seconds: i64,
}

mod defaults {
    pub fn target_value() -> f64 {
        70.0
    }
    pub fn total_value() -> f64 {
        100.0
    }
    pub fn target_burst_capacity() -> f64 {
        211.0
    }
    pub fn panic_threshold() -> f64 {
        2.0
    }
    pub fn max_scale_up_rate() -> f64 {
        1000.0
    }
    pub fn max_scale_down_rate() -> f64 {
        2.0
    }
    pub fn stable_window_seconds() -> i64 {
        60
    }
    pub fn activation_scale() -> u32 {
        1
    }
    pub fn activator_capacity() -> f64 {
        100.0
    }
    pub fn yes() -> bool {
        true
    }
    pub fn scale_to_zero_grace_period_seconds() -> i64 {
        30
    }
}

impl Default for KpaSpec {
    fn default() -> Self {
        KpaSpec {
            target_value: defaults::target_value(),
            total_value: defaults::total_value(),
            target_burst_capacity: defaults::target_burst_capacity(),
            panic_threshold: defaults::panic_threshold(),
            max_scale_up_rate: defaults::max_scale_up_rate(),
            max_scale_down_rate: defaults::max_scale_down_rate(),
            stable_window_seconds: defaults::stable_window_seconds(),
            scale_down_delay_seconds: 0,
            activation_scale: defaults::activation_scale(),
            activator_capacity: defaults::activator_capacity(),
            min_scale: 0,
            max_scale: 0,
            reachable: true,
            enable_scale_to_zero: true,
            scale_to_zero_grace_period_seconds: defaults::scale_to_zero_grace_period_seconds(),
        }
    }
}

impl KpaSpec {
    /// Knative's own limits (config.go `validate`, annotation_validation.go); the error names the field.
    pub fn validate(&self) -> Result<(), String> {
        let act = self.activation_scale;
        let checks = [
            (
                finite_at_least(self.target_value, TARGET_MIN),
                "targetValue must be a number >= 0.01",
            ),
            (
                self.total_value.is_finite() && self.total_value > 0.0,
                "totalValue must be a number > 0",
            ),
            (
                valid_tbc(self.target_burst_capacity),
                "targetBurstCapacity must be >= 0, or -1 for unlimited",
            ),
            (
                in_range(self.panic_threshold, PANIC_THRESHOLD_MIN, PANIC_THRESHOLD_MAX),
                "panicThreshold must be in [1.1, 10] (110%..1000%)",
            ),
            (
                self.max_scale_up_rate.is_finite() && self.max_scale_up_rate > 1.0,
                "maxScaleUpRate must be > 1",
            ),
            (
                self.max_scale_down_rate.is_finite() && self.max_scale_down_rate > 1.0,
                "maxScaleDownRate must be > 1",
            ),
            (
                (WINDOW_MIN_SECONDS..=WINDOW_MAX_SECONDS).contains(&self.stable_window_seconds),
                "stableWindowSeconds must be in [6, 3600]",
            ),
            (
                (0..=WINDOW_MAX_SECONDS).contains(&self.scale_down_delay_seconds),
                "scaleDownDelaySeconds must be in [0, 3600]",
            ),
            (
                finite_at_least(self.activator_capacity, 1.0),
                "activatorCapacity must be >= 1",
            ),
            (
                self.max_scale == 0 || self.min_scale <= self.max_scale,
                "minScale must be <= maxScale",
            ),
            (act < 2 || act >= self.min_scale, "activationScale must be >= minScale"),
            (
                act < 2 || self.max_scale == 0 || act <= self.max_scale,
                "activationScale must be <= maxScale",
            ),
            (
                self.scale_to_zero_grace_period_seconds > 0,
                "scaleToZeroGracePeriodSeconds must be > 0",
            ),
        ];
        match checks.iter().find(|(ok, _)| !ok) {
            Some((_, msg)) => Err((*msg).to_string()),
            None => Ok(()),
        }
    }
}

fn finite_at_least(x: f64, min: f64) -> bool {
    x.is_finite() && x >= min
}

fn in_range(x: f64, lo: f64, hi: f64) -> bool {
    (lo..=hi).contains(&x)
}

fn valid_tbc(x: f64) -> bool {
    x == -1.0 || finite_at_least(x, 0.0)
}

/// One autoscaler tick: ready pods and the metric averaged over the stable and panic windows
/// (totals across pods, as Knative's metric collector reports them). A missing or null value is NaN.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KpaTick {
    /// The tick's time in whole seconds.
    pub time: i64,
    /// Ready pods of the revision now.
    pub ready_pods: u32,
    /// The metric total (concurrency or RPS) averaged over the stable window.
    #[serde(default = "nan", deserialize_with = "nullable_f64")]
    pub stable_value: f64,
    /// The metric total averaged over the panic window.
    #[serde(default = "nan", deserialize_with = "nullable_f64")]
    pub panic_value: f64,
}

fn nan() -> f64 {
    f64::NAN
}

fn nullable_f64<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// One bucket of the scale-down delay window: the largest count asked for in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DelaySample {
    /// The 2 s tick bucket: time / 2.
    pub bucket: i64,
    /// The largest count asked for in the bucket.
    pub value: u32,
}

/// What the decider carries between ticks.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct KpaState {
    /// Last time the panic threshold was crossed; `None` when not panicking.
    pub panic_time: Option<i64>,
    /// Highest count asked for during the current panic (the no-scale-down floor).
    pub max_panic_pods: u32,
    /// Descending maxima of the delay window, oldest first (only with a scale-down delay).
    pub delay_window: Vec<DelaySample>,
    /// Since when the bounded count has been 0 (scale-to-zero grace).
    pub zero_since: Option<i64>,
}

impl KpaState {
    /// A decider created while `ready_pods` pods run, as Knative's `newAutoscaler` does: with more
    /// than one pod it starts in panic, holding them until it has seen enough metrics.
    pub fn starting_with(ready_pods: u32, now: i64) -> Self {
        KpaState {
            panic_time: (ready_pods > 1).then_some(now),
            max_panic_pods: ready_pods,
            ..Default::default()
        }
    }
}

/// What the decider asks for at one tick, with the PodAutoscaler status it would report.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KpaDecision {
    /// The tick's time in whole seconds.
    pub time: i64,
    /// The pod count to scale to; 0 when `scale_valid` is false.
    pub desired_replicas: u32,
    /// floor(ready × total − burst capacity − panic value); 0 when burst capacity is 0, -1 when
    /// unlimited. Negative puts the activator in the request path.
    pub excess_burst_capacity: i64,
    /// Whether the decider is in panic mode after this tick.
    pub panicking: bool,
    /// Activators to run for the revision, at least 2.
    pub num_activators: u32,
    /// False when the spec or the metrics were unusable (see the `no_decision` step).
    pub scale_valid: bool,
    /// The steps that changed the count, in order.
    pub steps: Vec<KpaStep>,
}

/// One step of the decision: its name, the desired count after it and why it changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KpaStep {
    /// A name from [`step`].
    pub step: String,
    /// The desired count after this step.
    pub value: u32,
    /// A name from [`reason`].
    pub reason: String,
}

fn push(steps: &mut Vec<KpaStep>, step: &str, value: u32, reason: &str) {
    steps.push(KpaStep {
        step: step.to_string(),
        value,
        reason: reason.to_string(),
    });
}

/// Knative's decision for one tick. An invalid spec or a tick without usable metrics (NaN,
/// infinite or negative) gives "no decision" (`scale_valid` false) and leaves the state alone.
///
/// Scale to zero is simplified: a bounded count of 0 is applied only when scale to zero is
/// enabled and 0 has been asked for continuously for `scaleToZeroGracePeriodSeconds`; until then
/// the count is held at 1 (and it is always 1 when disabled). Knative instead marks the
/// PodAutoscaler inactive after a stable window of activity, probes that the activator is in the
/// request path and then waits up to the grace period (and any pod retention period); those
/// steps depend on cluster objects (PA conditions, the SKS mode, probes) this pure function does
/// not see, and the grace period is the bound Knative documents for them. A revision with no
/// ready pods that asks for 0 stays at 0 at once: holding 1 there would scale an idle revision up.
pub fn decide(spec: &KpaSpec, state: &mut KpaState, tick: &KpaTick) -> KpaDecision {
    let num_activators = compute_num_activators(spec, tick.ready_pods);
    if let Err(why) = check_inputs(spec, tick) {
        return no_decision(state, tick, num_activators, why);
    }
    let mut steps = Vec::new();
    let desired = autoscale(spec, state, tick, &mut steps);
    let desired = apply_bounds(spec, desired, &mut steps);
    let desired = handle_scale_to_zero(spec, state, tick, desired, &mut steps);
    KpaDecision {
        time: tick.time,
        desired_replicas: desired,
        excess_burst_capacity: excess_burst_capacity(spec, tick),
        panicking: state.panic_time.is_some(),
        num_activators,
        scale_valid: true,
        steps,
    }
}

fn check_inputs(spec: &KpaSpec, tick: &KpaTick) -> Result<(), &'static str> {
    if spec.validate().is_err() {
        return Err(reason::INVALID_SPEC);
    }
    let values = [tick.stable_value, tick.panic_value];
    if values.iter().any(|v| v.is_nan()) {
        return Err(reason::NO_METRICS);
    }
    if values.iter().any(|v| !v.is_finite() || *v < 0.0) {
        return Err(reason::INVALID_METRICS);
    }
    Ok(())
}

fn no_decision(state: &KpaState, tick: &KpaTick, num_activators: u32, why: &str) -> KpaDecision {
    KpaDecision {
        time: tick.time,
        desired_replicas: 0,
        excess_burst_capacity: 0,
        panicking: state.panic_time.is_some(),
        num_activators,
        scale_valid: false,
        steps: vec![KpaStep {
            step: step::NO_DECISION.to_string(),
            value: 0,
            reason: why.to_string(),
        }],
    }
}

/// Float to count: saturating, as the counts never go below 0 here (NaN cannot reach it).
fn to_count(x: f64) -> u32 {
    x as u32
}

/// `Scale` in autoscaler.go: stable/panic counts, rate limits, panic mode, scale-down delay.
fn autoscale(spec: &KpaSpec, state: &mut KpaState, tick: &KpaTick, steps: &mut Vec<KpaStep>) -> u32 {
    let ready = f64::from(tick.ready_pods.max(1));
    let max_up = (spec.max_scale_up_rate * ready).ceil();
    let max_down = if spec.reachable {
        (ready / spec.max_scale_down_rate).floor()
    } else {
        0.0
    };
    let dspc = (tick.stable_value / spec.target_value).ceil();
    let dppc = (tick.panic_value / spec.target_value).ceil();
    let clamp = |raw: f64| to_count(raw.max(max_down).min(max_up));

    push(steps, step::STABLE, to_count(dspc), reason::STABLE_WINDOW);
    let stable = clamp(dspc);
    if stable != to_count(dspc) {
        let why = if dspc > max_up {
            reason::MAX_SCALE_UP_RATE
        } else {
            reason::MAX_SCALE_DOWN_RATE
        };
        push(steps, step::RATE_LIMIT, stable, why);
    }
    let stable = activation_scale(spec, dspc, stable);
    if stable != clamp(dspc) {
        push(steps, step::ACTIVATION_SCALE, stable, reason::ACTIVATION_SCALE);
    }
    let panic = activation_scale(spec, dppc, clamp(dppc));

    let transition = update_panic(spec, state, tick.time, dppc / ready >= spec.panic_threshold);
    let desired = match transition {
        Panic::Calm => stable,
        Panic::Ended => {
            push(steps, step::PANIC, stable, reason::PANIC_ENDED);
            stable
        }
        _ => panic_mode(state, stable, panic, transition, steps),
    };
    scale_down_delay(spec, state, tick.time, desired, steps)
}

/// A non-zero raw count below activation-scale is raised to it (`ActivationScale` > 1 only).
fn activation_scale(spec: &KpaSpec, raw: f64, count: u32) -> u32 {
    if spec.activation_scale > 1 && raw > 0.0 {
        count.max(spec.activation_scale)
    } else {
        count
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Panic {
    Calm,
    Started,
    Extended,
    NotElapsed,
    Ended,
}

/// Panic starts or is extended while over the threshold; it ends only below it and once the
/// last panic time plus the stable window is strictly before now.
fn update_panic(spec: &KpaSpec, state: &mut KpaState, now: i64, over: bool) -> Panic {
    match (state.panic_time, over) {
        (None, true) => {
            state.panic_time = Some(now);
            Panic::Started
        }
        (Some(_), true) => {
            state.panic_time = Some(now);
            Panic::Extended
        }
        (Some(t), false) if t.saturating_add(spec.stable_window_seconds) < now => {
            state.panic_time = None;
            state.max_panic_pods = 0;
            Panic::Ended
        }
        (Some(_), false) => Panic::NotElapsed,
        (None, false) => Panic::Calm,
    }
}

/// The larger of stable and panic, never below the highest count of this panic.
fn panic_mode(state: &mut KpaState, stable: u32, panic: u32, transition: Panic, steps: &mut Vec<KpaStep>) -> u32 {
    let wanted = stable.max(panic);
    let why = match transition {
        Panic::Started => reason::PANIC_STARTED,
        Panic::Extended => reason::PANIC_EXTENDED,
        _ => reason::PANIC_WINDOW_NOT_ELAPSED,
    };
    push(steps, step::PANIC, wanted, why);
    state.max_panic_pods = state.max_panic_pods.max(wanted);
    if state.max_panic_pods > wanted {
        push(
            steps,
            step::PANIC_HOLD,
            state.max_panic_pods,
            reason::PANIC_NO_SCALE_DOWN,
        );
    }
    state.max_panic_pods
}

/// `max.TimeWindow`: the maximum recorded over the last ceil(delay / 2 s) tick buckets.
/// Only for reachable revisions with a positive delay; otherwise no window at all.
fn scale_down_delay(spec: &KpaSpec, state: &mut KpaState, now: i64, desired: u32, steps: &mut Vec<KpaStep>) -> u32 {
    if !spec.reachable || spec.scale_down_delay_seconds <= 0 {
        return desired;
    }
    let buckets = (spec.scale_down_delay_seconds + TICK_INTERVAL_SECONDS - 1) / TICK_INTERVAL_SECONDS;
    let delayed = record_max(&mut state.delay_window, now / TICK_INTERVAL_SECONDS, desired, buckets);
    if delayed != desired {
        push(steps, step::SCALE_DOWN_DELAY, delayed, reason::SCALE_DOWN_DELAYED);
    }
    delayed
}

/// Descending-maxima window: drop samples the new value dominates, drop samples `buckets` or
/// more buckets old, merge a repeat of the same bucket by max, append; the front is the maximum.
fn record_max(window: &mut Vec<DelaySample>, bucket: i64, value: u32, buckets: i64) -> u32 {
    while window.last().is_some_and(|s| s.value <= value) {
        window.pop();
    }
    window.retain(|s| bucket.saturating_sub(s.bucket) < buckets);
    let mut value = value;
    if let Some(last) = window.last().copied()
        && last.bucket == bucket
    {
        value = value.max(last.value);
        window.pop();
    }
    window.push(DelaySample { bucket, value });
    window.first().map_or(value, |s| s.value)
}

/// `applyBounds`; minScale does not apply to unreachable revisions (`ScaleBounds`).
fn apply_bounds(spec: &KpaSpec, desired: u32, steps: &mut Vec<KpaStep>) -> u32 {
    let min = if spec.reachable { spec.min_scale } else { 0 };
    if desired < min {
        push(steps, step::BOUNDS, min, reason::MIN_SCALE);
        return min;
    }
    if spec.max_scale != 0 && desired > spec.max_scale {
        push(steps, step::BOUNDS, spec.max_scale, reason::MAX_SCALE);
        return spec.max_scale;
    }
    desired
}

/// Simplified `handleScaleToZero`; see [`decide`].
fn handle_scale_to_zero(
    spec: &KpaSpec,
    state: &mut KpaState,
    tick: &KpaTick,
    desired: u32,
    steps: &mut Vec<KpaStep>,
) -> u32 {
    if desired != 0 || !spec.enable_scale_to_zero {
        state.zero_since = None;
        if desired == 0 {
            push(steps, step::SCALE_TO_ZERO, 1, reason::SCALE_TO_ZERO_DISABLED);
            return 1;
        }
        return desired;
    }
    let since = *state.zero_since.get_or_insert(tick.time);
    let (value, why) = if tick.ready_pods == 0 {
        (0, reason::ALREADY_AT_ZERO)
    } else if tick.time.saturating_sub(since) >= spec.scale_to_zero_grace_period_seconds {
        (0, reason::SCALED_TO_ZERO)
    } else {
        (1, reason::SCALE_TO_ZERO_GRACE)
    };
    push(steps, step::SCALE_TO_ZERO, value, why);
    value
}

/// Headroom over the target burst capacity, from the ORIGINAL ready count and the panic value:
/// 0 when TBC is 0, -1 when unlimited, else floor(ready × total − TBC − panic).
fn excess_burst_capacity(spec: &KpaSpec, tick: &KpaTick) -> i64 {
    let tbc = spec.target_burst_capacity;
    if tbc == 0.0 {
        0
    } else if tbc > 0.0 {
        (f64::from(tick.ready_pods) * spec.total_value - tbc - tick.panic_value).floor() as i64
    } else {
        -1
    }
}

/// `computeNumActivators`: enough activators for the pods' capacity plus the burst capacity,
/// at least two; exactly two when TBC is 0.
pub fn compute_num_activators(spec: &KpaSpec, ready_pods: u32) -> u32 {
    let tbc = spec.target_burst_capacity;
    if tbc == 0.0 {
        return MIN_ACTIVATORS;
    }
    let mut capacity = f64::from(ready_pods) * spec.total_value;
    if tbc > 0.0 {
        capacity += tbc;
    }
    MIN_ACTIVATORS.max(to_count((capacity / spec.activator_capacity).ceil()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::proptest_cases;
    use proptest::prelude::*;

    /// The JSON `scale decide` reads for KPA (docs/decide.md).
    const CONTRACT: &str = r#"{"targetValue":10,"totalValue":13.33,"targetBurstCapacity":100,"panicThreshold":2.0,
        "maxScaleUpRate":10,"maxScaleDownRate":10,"stableWindowSeconds":60,"scaleDownDelaySeconds":0,
        "activationScale":1,"activatorCapacity":150,"minScale":0,"maxScale":0,"reachable":true}"#;

    fn contract_spec() -> KpaSpec {
        serde_json::from_str(CONTRACT).unwrap()
    }

    /// The spec Knative's autoscaler_test.go builds: total = target / 0.75, threshold 200%,
    /// rates 10, stable window 60 s.
    fn k(target: f64, tbc: f64) -> KpaSpec {
        KpaSpec {
            target_value: target,
            total_value: target / 0.75,
            target_burst_capacity: tbc,
            max_scale_up_rate: 10.0,
            max_scale_down_rate: 10.0,
            ..KpaSpec::default()
        }
    }

    /// Knative's `expectedEBC` for [`k`] specs.
    fn kebc(target: f64, tbc: f64, panic: f64, ready: f64) -> i64 {
        (target / 0.75 * ready - tbc - panic).floor() as i64
    }

    fn with(spec: KpaSpec, f: impl FnOnce(&mut KpaSpec)) -> KpaSpec {
        let mut s = spec;
        f(&mut s);
        s
    }

    fn tk(time: i64, ready_pods: u32, stable_value: f64, panic_value: f64) -> KpaTick {
        KpaTick {
            time,
            ready_pods,
            stable_value,
            panic_value,
        }
    }

    #[derive(Debug, Clone)]
    struct Want {
        desired: u32,
        panicking: bool,
        valid: bool,
        ebc: Option<i64>,
        acts: Option<u32>,
        step: Option<(&'static str, u32, &'static str)>,
    }

    fn want(desired: u32, panicking: bool) -> Want {
        Want {
            desired,
            panicking,
            valid: true,
            ebc: None,
            acts: None,
            step: None,
        }
    }

    fn invalid(panicking: bool, why: &'static str) -> Want {
        Want {
            valid: false,
            step: Some((step::NO_DECISION, 0, why)),
            ..want(0, panicking)
        }
    }

    impl Want {
        fn ebc(self, e: i64) -> Self {
            Want { ebc: Some(e), ..self }
        }
        fn acts(self, n: u32) -> Self {
            Want { acts: Some(n), ..self }
        }
        fn step(self, name: &'static str, value: u32, why: &'static str) -> Self {
            Want {
                step: Some((name, value, why)),
                ..self
            }
        }
    }

    struct Case {
        name: &'static str,
        spec: KpaSpec,
        state: KpaState,
        ticks: Vec<(KpaTick, Want)>,
    }

    fn case(name: &'static str, spec: KpaSpec, ticks: Vec<(KpaTick, Want)>) -> Case {
        Case {
            name,
            spec,
            state: KpaState::default(),
            ticks,
        }
    }

    fn check(c: &Case) {
        let mut state = c.state.clone();
        for (i, (tick, w)) in c.ticks.iter().enumerate() {
            let d = decide(&c.spec, &mut state, tick);
            let at = format!("{} tick {i}: {d:?}", c.name);
            assert_eq!(
                (d.desired_replicas, d.panicking, d.scale_valid),
                (w.desired, w.panicking, w.valid),
                "{at}"
            );
            assert_eq!(d.time, tick.time, "{at}");
            if let Some(e) = w.ebc {
                assert_eq!(d.excess_burst_capacity, e, "{at}");
            }
            if let Some(n) = w.acts {
                assert_eq!(d.num_activators, n, "{at}");
            }
            if let Some((name, value, why)) = w.step {
                let found = d
                    .steps
                    .iter()
                    .any(|s| s.step == name && s.value == value && s.reason == why);
                assert!(found, "missing step ({name}, {value}, {why}) in {at}");
            }
            // The steps explain the result: the last one carries the final count.
            assert_eq!(d.steps.last().map(|s| s.value), Some(d.desired_replicas), "{at}");
        }
    }

    fn cases() -> Vec<Case> {
        use reason as r;
        use step as s;
        let nan = f64::NAN;
        vec![
            // autoscaler.go Scale: dspc = ceil(stable / target); docs "Configuring the autoscaler".
            case(
                "stable scaling",
                k(10.0, 100.0),
                vec![(tk(0, 5, 50.0, 50.0), want(5, false).ebc(kebc(10.0, 100.0, 50.0, 5.0)))],
            ),
            // Scale in stable mode follows the stable value down (TestAutoscalerStableModeDecrease).
            case(
                "stable decrease",
                k(10.0, 98.0),
                vec![
                    (
                        tk(0, 8, 100.0, 100.0),
                        want(10, false).ebc(kebc(10.0, 98.0, 100.0, 8.0)),
                    ),
                    (tk(2, 8, 50.0, 50.0), want(5, false)),
                ],
            ),
            // maxScaleUp = ceil(maxScaleUpRate × readyPodsCount) (config-autoscaler max-scale-up-rate).
            case(
                "max scale-up rate",
                k(10.0, 61.0),
                vec![
                    (
                        tk(0, 1, 1000.0, 1001.0),
                        want(10, true).step(s::RATE_LIMIT, 10, r::MAX_SCALE_UP_RATE),
                    ),
                    (
                        tk(2, 10, 1000.0, 1001.0),
                        want(100, true).ebc(kebc(10.0, 61.0, 1001.0, 10.0)),
                    ),
                ],
            ),
            // The ceil lets a conservative rate still add a pod: 1.1 × 2 → 3 (autoscaler.go comment).
            case(
                "scale-up rate allows +1",
                with(k(1.0, 1982.0), |s| s.max_scale_up_rate = 1.1),
                vec![(tk(0, 2, 3.0, 3.1), want(3, true).ebc(kebc(1.0, 1982.0, 3.1, 2.0)))],
            ),
            // maxScaleDown = floor(readyPodsCount / maxScaleDownRate) (max-scale-down-rate).
            case(
                "max scale-down rate",
                k(10.0, 61.0),
                vec![
                    (
                        tk(0, 100, 1.0, 1.0),
                        want(10, false).step(s::RATE_LIMIT, 10, r::MAX_SCALE_DOWN_RATE),
                    ),
                    (tk(2, 10, 1.0, 1.0), want(1, false)),
                ],
            ),
            // floor(100 / 1.1) = 90 (AutoscalerStableModeDecreaseWithSmallScaleDownRate).
            case(
                "small scale-down rate",
                with(k(10.0, 1982.0), |s| s.max_scale_down_rate = 1.1),
                vec![(tk(0, 100, 1.0, 1.0), want(90, false))],
            ),
            // Unreachable: maxScaleDown = 0 (Scale), and minScale is ignored (ScaleBounds).
            case(
                "unreachable revision",
                with(k(10.0, 1982.0), |s| {
                    s.max_scale_down_rate = 1.1;
                    s.reachable = false;
                    s.min_scale = 5;
                }),
                vec![(tk(0, 100, 1.0, 1.0), want(1, false))],
            ),
            // Panic when ceil(panic/target)/readyPodsCount >= threshold; the panic count wins.
            case(
                "panic entry",
                k(10.0, 84.0),
                vec![(
                    tk(0, 1, 50.0, 100.0),
                    want(10, true)
                        .ebc(kebc(10.0, 84.0, 100.0, 1.0))
                        .step(s::PANIC, 10, r::PANIC_STARTED),
                )],
            ),
            // Staying over the threshold moves panicTime to now (TestAutoscalerExtendPanicWindow):
            // at 61 s panic continues only because it was extended at 30 s; it ends after 90 s.
            case(
                "panic extension",
                k(1.0, 98.0),
                vec![
                    (tk(0, 10, 11.0, 25.0), want(25, true)),
                    (
                        tk(30, 40, 30.0, 80.0),
                        want(80, true).step(s::PANIC, 80, r::PANIC_EXTENDED),
                    ),
                    (
                        tk(61, 80, 30.0, 30.0),
                        want(80, true).step(s::PANIC_HOLD, 80, r::PANIC_NO_SCALE_DOWN),
                    ),
                    (
                        tk(91, 80, 30.0, 30.0),
                        want(30, false).step(s::PANIC, 30, r::PANIC_ENDED),
                    ),
                ],
            ),
            // Below the threshold but within a stable window of panicTime: still panicking, and the
            // count still ratchets up (TestAutoscalerUnpanicAfterSlowIncrease).
            case(
                "panic within stable window after surge",
                k(1.0, 98.0),
                vec![
                    (tk(0, 10, 11.0, 25.0), want(25, true).ebc(kebc(1.0, 98.0, 25.0, 10.0))),
                    (
                        tk(30, 40, 30.0, 41.0),
                        want(41, true).step(s::PANIC, 41, r::PANIC_WINDOW_NOT_ELAPSED),
                    ),
                    (tk(62, 55, 50.0, 56.0), want(50, false).ebc(kebc(1.0, 98.0, 56.0, 55.0))),
                ],
            ),
            // Un-panic only when panicTime + stableWindow is strictly before now
            // (TestAutoscalerPanicThenUnPanicScaleDown); at exactly +60 s it still holds.
            case(
                "leaving panic",
                k(10.0, 93.0),
                vec![
                    (tk(0, 1, 100.0, 100.0), want(10, true)),
                    (
                        tk(1, 10, 100.0, 1000.0),
                        want(100, true).ebc(kebc(10.0, 93.0, 1000.0, 10.0)),
                    ),
                    (tk(31, 10, 1.0, 1.0), want(100, true)),
                    (tk(61, 10, 1.0, 1.0), want(100, true)),
                    (tk(62, 10, 1.0, 1.0), want(1, false)),
                ],
            ),
            // "We do not scale down while in panic mode": maxPanicPods only ratchets up.
            case(
                "no scale-down while panicking",
                k(10.0, 100.0),
                vec![
                    (tk(0, 1, 10.0, 100.0), want(10, true)),
                    (
                        tk(2, 4, 10.0, 80.0),
                        want(10, true).step(s::PANIC, 8, r::PANIC_EXTENDED).step(
                            s::PANIC_HOLD,
                            10,
                            r::PANIC_NO_SCALE_DOWN,
                        ),
                    ),
                ],
            ),
            // While panicking the larger of stable and panic counts is used (AutoscalerPanicStableLargerThanPanic).
            Case {
                state: KpaState {
                    panic_time: Some(-5),
                    max_panic_pods: 5,
                    ..Default::default()
                },
                ..case(
                    "stable larger than panic while panicking",
                    k(1.0, 100.0),
                    vec![(tk(0, 5, 50.0, 30.0), want(50, true).ebc(kebc(1.0, 100.0, 30.0, 5.0)))],
                )
            },
            // ... and the panic count when it is larger (AutoscalerPanicStableLessThanPanic).
            Case {
                state: KpaState {
                    panic_time: Some(-5),
                    max_panic_pods: 5,
                    ..Default::default()
                },
                ..case(
                    "panic larger than stable while panicking",
                    k(1.0, 100.0),
                    vec![(tk(0, 5, 20.0, 30.0), want(30, true))],
                )
            },
            // activation-scale raises a non-zero count to it and leaves 0 alone (TestAutoscalerActivationScale).
            case(
                "activation scale",
                with(k(10.0, 75.0), |s| s.activation_scale = 2),
                vec![
                    (tk(0, 0, 0.0, 0.0), want(0, false)),
                    (
                        tk(2, 0, 1.0, 0.0),
                        want(2, false).step(s::ACTIVATION_SCALE, 2, r::ACTIVATION_SCALE),
                    ),
                ],
            ),
            // TBC 0: EBC 0 and two activators (Autoscaler0TBC; computeNumActivators).
            case(
                "tbc zero",
                k(10.0, 0.0),
                vec![(tk(0, 1, 50.0, 49.0), want(5, true).ebc(0).acts(2))],
            ),
            // The decide contract: 5 pods, EBC floor(13.33 − 100 − 50) = −137, 5/1 >= 2 → panic.
            case(
                "contract example",
                contract_spec(),
                vec![(tk(0, 1, 50.0, 50.0), want(5, true).ebc(-137).acts(2))],
            ),
            // Knative defaults (target 70, TBC 211, down rate 2): EBC floor(10·100 − 211 − 50) = 739
            // >= 0, activators ceil((1000 + 211) / 100) = 13; scale-down capped at floor(10/2).
            case(
                "tbc positive, defaults",
                KpaSpec::default(),
                vec![(
                    tk(0, 10, 50.0, 50.0),
                    want(5, false)
                        .ebc(739)
                        .acts(13)
                        .step(s::RATE_LIMIT, 5, r::MAX_SCALE_DOWN_RATE),
                )],
            ),
            // TBC -1 (unlimited): EBC −1; activators ceil(1 × 241.3 / 100) = 3 (AutoscalerStableModeUnlimitedTBC).
            case(
                "tbc unlimited",
                k(181.0, -1.0),
                vec![(tk(0, 1, 21.0, 26.0), want(1, false).ebc(-1).acts(3))],
            ),
            // Zero ready pods count as one for rates, but EBC uses the original 0:
            // floor(0 − 81 − 888) = −969 (TestAutoscalerUseOnePodAsMinimumIfEndpointsNotFound).
            case(
                "zero ready pods",
                k(10.0, 81.0),
                vec![(tk(0, 0, 888.0, 888.0), want(10, true).ebc(-969).acts(2))],
            ),
            // numActivators = max(2, ceil((ready × total + TBC) / activatorCapacity)) = 102.
            case(
                "num activators",
                with(KpaSpec::default(), |s| s.target_burst_capacity = 200.0),
                vec![(tk(0, 100, 7000.0, 7000.0), want(100, false).ebc(2800).acts(102))],
            ),
            // scale-down-delay: max over ceil(300 s / 2 s) tick buckets (TestAutoscalerScaleDownDelay).
            case(
                "scale-down delay window",
                with(k(10.0, 0.0), |s| {
                    s.panic_threshold = 10.0;
                    s.scale_down_delay_seconds = 300;
                }),
                vec![
                    (tk(2, 0, 40.0, 40.0), want(4, false)),
                    (
                        tk(300, 0, 0.0, 0.0),
                        want(4, false).step(s::SCALE_DOWN_DELAY, 4, r::SCALE_DOWN_DELAYED),
                    ),
                    (tk(302, 0, 0.0, 0.0), want(0, false)),
                    (tk(540, 0, 40.0, 40.0), want(4, false)),
                    (tk(600, 0, 30.0, 30.0), want(4, false)),
                    (tk(660, 0, 0.0, 0.0), want(4, false)),
                    (tk(840, 0, 0.0, 0.0), want(3, false)),
                    (tk(900, 0, 0.0, 0.0), want(0, false)),
                ],
            ),
            // Delay 0: no window, so two ticks in one bucket give the latest (TestAutoscalerScaleDownDelayZero).
            case(
                "no delay window",
                with(k(10.0, 0.0), |s| s.panic_threshold = 10.0),
                vec![
                    (tk(0, 0, 40.0, 40.0), want(4, false)),
                    (tk(0, 0, 0.0, 0.0), want(0, false)),
                ],
            ),
            // With a window, the same bucket keeps its max; a sample expires `buckets` buckets later.
            case(
                "delay window bucket edges",
                with(k(10.0, 0.0), |s| {
                    s.panic_threshold = 10.0;
                    s.scale_down_delay_seconds = 60;
                }),
                vec![
                    (tk(0, 0, 40.0, 40.0), want(4, false)),
                    (tk(1, 0, 0.0, 0.0), want(4, false)),
                    (tk(58, 0, 0.0, 0.0), want(4, false)),
                    (tk(60, 0, 0.0, 0.0), want(0, false)),
                ],
            ),
            // The delay applies to reachable revisions only (TestAutoscalerScaleDownDelayNotReachable).
            case(
                "delay ignored when unreachable",
                with(k(10.0, 0.0), |s| {
                    s.panic_threshold = 10.0;
                    s.scale_down_delay_seconds = 300;
                    s.reachable = false;
                }),
                vec![
                    (tk(2, 0, 40.0, 40.0), want(4, false)),
                    (tk(60, 0, 0.0, 0.0), want(0, false)),
                ],
            ),
            // applyBounds: below minScale → minScale, so it never scales to zero ("Configuring scale bounds").
            case(
                "min scale",
                with(k(10.0, 100.0), |s| s.min_scale = 2),
                vec![
                    (tk(0, 3, 0.0, 0.0), want(2, false).step(s::BOUNDS, 2, r::MIN_SCALE)),
                    (tk(100, 3, 0.0, 0.0), want(2, false)),
                ],
            ),
            // applyBounds: above a non-zero maxScale → maxScale.
            case(
                "max scale",
                with(k(10.0, 100.0), |s| s.max_scale = 20),
                vec![(
                    tk(0, 30, 500.0, 500.0),
                    want(20, false).step(s::BOUNDS, 20, r::MAX_SCALE),
                )],
            ),
            // maxScale 0 means no upper bound ("Configuring scale bounds": default 0 = unlimited).
            case(
                "max scale 0 unbounded",
                k(10.0, 100.0),
                vec![(tk(0, 300, 5000.0, 5000.0), want(500, false))],
            ),
            // Scale to zero after the grace period ("Configuring scale to zero", simplified handleScaleToZero).
            case(
                "scale to zero after grace",
                k(10.0, 100.0),
                vec![
                    (
                        tk(0, 1, 0.0, 0.0),
                        want(1, false).step(s::SCALE_TO_ZERO, 1, r::SCALE_TO_ZERO_GRACE),
                    ),
                    (tk(29, 1, 0.0, 0.0), want(1, false)),
                    (
                        tk(30, 1, 0.0, 0.0),
                        want(0, false).step(s::SCALE_TO_ZERO, 0, r::SCALED_TO_ZERO),
                    ),
                    (tk(32, 0, 0.0, 0.0), want(0, false)),
                ],
            ),
            // Held at 1 before the grace period; traffic restarts the grace period.
            case(
                "held at one before grace",
                k(10.0, 100.0),
                vec![
                    (tk(0, 1, 0.0, 0.0), want(1, false)),
                    (tk(20, 1, 5.0, 5.0), want(1, false)),
                    (tk(40, 1, 0.0, 0.0), want(1, false)),
                    (tk(69, 1, 0.0, 0.0), want(1, false)),
                    (tk(70, 1, 0.0, 0.0), want(0, false)),
                ],
            ),
            // enable-scale-to-zero false: stop at 1 replica (handleScaleToZero returns 1).
            case(
                "scale to zero disabled",
                with(k(10.0, 100.0), |s| s.enable_scale_to_zero = false),
                vec![
                    (
                        tk(0, 1, 0.0, 0.0),
                        want(1, false).step(s::SCALE_TO_ZERO, 1, r::SCALE_TO_ZERO_DISABLED),
                    ),
                    (tk(100, 1, 0.0, 0.0), want(1, false)),
                    (tk(200, 0, 0.0, 0.0), want(1, false)),
                ],
            ),
            // No metrics → invalidSR (no decision); the panic state is left as it was.
            case(
                "missing metrics",
                k(10.0, 100.0),
                vec![
                    (tk(0, 1, 10.0, 100.0), want(10, true)),
                    (tk(2, 1, nan, 50.0), invalid(true, r::NO_METRICS).acts(2)),
                    (tk(4, 1, 10.0, f64::INFINITY), invalid(true, r::INVALID_METRICS)),
                    (tk(6, 1, -1.0, 0.0), invalid(true, r::INVALID_METRICS)),
                    (
                        tk(8, 1, 10.0, 10.0),
                        want(10, true).step(s::PANIC_HOLD, 10, r::PANIC_NO_SCALE_DOWN),
                    ),
                ],
            ),
            // newAutoscaler starts in panic holding the running pods when more than one (TestStartInPanicMode).
            Case {
                state: KpaState::starting_with(5, 0),
                ..case(
                    "start in panic",
                    k(10.0, 100.0),
                    vec![
                        (
                            tk(2, 5, 10.0, 10.0),
                            want(5, true).step(s::PANIC_HOLD, 5, r::PANIC_NO_SCALE_DOWN),
                        ),
                        (tk(61, 5, 10.0, 10.0), want(1, false)),
                    ],
                )
            },
            // A spec Knative would reject gives no decision rather than a panic.
            case(
                "invalid spec",
                k(0.0, 100.0),
                vec![(tk(0, 1, 10.0, 10.0), invalid(false, r::INVALID_SPEC))],
            ),
        ]
    }

    #[test]
    fn table() {
        let all = cases();
        assert!(all.len() >= 25);
        for c in &all {
            check(c);
        }
    }

    #[test]
    fn contract_output_line() {
        let tick: KpaTick =
            serde_json::from_str(r#"{"time":0,"readyPods":1,"stableValue":50,"panicValue":50}"#).unwrap();
        let line = serde_json::to_string(&decide(&contract_spec(), &mut KpaState::default(), &tick)).unwrap();
        let head = r#"{"time":0,"desiredReplicas":5,"excessBurstCapacity":-137,"panicking":true,"numActivators":2,"scaleValid":true,"steps":["#;
        assert!(line.starts_with(head), "{line}");
    }

    #[test]
    fn defaults_are_knatives() {
        let s: KpaSpec = serde_json::from_str("{}").unwrap();
        assert_eq!(s, KpaSpec::default());
        assert_eq!(
            (
                s.target_value,
                s.total_value,
                s.target_burst_capacity,
                s.panic_threshold
            ),
            (70.0, 100.0, 211.0, 2.0)
        );
        assert_eq!(
            (s.max_scale_up_rate, s.max_scale_down_rate, s.stable_window_seconds),
            (1000.0, 2.0, 60)
        );
        assert_eq!(
            (s.scale_down_delay_seconds, s.activation_scale, s.activator_capacity),
            (0, 1, 100.0)
        );
        assert_eq!(
            (s.min_scale, s.max_scale, s.reachable, s.enable_scale_to_zero),
            (0, 0, true, true)
        );
        assert_eq!(s.scale_to_zero_grace_period_seconds, 30);
        assert_eq!(s.validate(), Ok(()));
        assert_eq!(contract_spec().validate(), Ok(()));
        assert!(serde_json::from_str::<KpaSpec>(r#"{"targetValu": 1}"#).is_err());
    }

    #[test]
    fn validate_names_the_field() {
        type Mutation = fn(&mut KpaSpec);
        let cases: Vec<(Mutation, &str)> = vec![
            (|s| s.target_value = 0.0, "targetValue"),
            (|s| s.target_value = f64::NAN, "targetValue"),
            (|s| s.total_value = -1.0, "totalValue"),
            (|s| s.target_burst_capacity = -2.0, "targetBurstCapacity"),
            (|s| s.panic_threshold = 1.0, "panicThreshold"),
            (|s| s.max_scale_up_rate = 1.0, "maxScaleUpRate"),
            (|s| s.max_scale_down_rate = f64::INFINITY, "maxScaleDownRate"),
            (|s| s.stable_window_seconds = 5, "stableWindowSeconds"),
            (|s| s.scale_down_delay_seconds = -1, "scaleDownDelaySeconds"),
            (|s| s.activator_capacity = 0.5, "activatorCapacity"),
            (
                |s| {
                    s.min_scale = 3;
                    s.max_scale = 2;
                },
                "minScale",
            ),
            (
                |s| {
                    s.activation_scale = 3;
                    s.max_scale = 2;
                },
                "activationScale",
            ),
            (
                |s| s.scale_to_zero_grace_period_seconds = 0,
                "scaleToZeroGracePeriodSeconds",
            ),
        ];
        for (f, field) in cases {
            let err = with(KpaSpec::default(), f).validate().unwrap_err();
            assert!(err.starts_with(field), "{err}");
        }
        assert_eq!(
            with(KpaSpec::default(), |s| s.target_burst_capacity = -1.0).validate(),
            Ok(())
        );
    }

    #[test]
    fn missing_or_null_metrics_are_no_decision() {
        for text in [
            r#"{"time":3,"readyPods":2}"#,
            r#"{"time":3,"readyPods":2,"stableValue":null,"panicValue":1}"#,
        ] {
            let tick: KpaTick = serde_json::from_str(text).unwrap();
            let d = decide(&KpaSpec::default(), &mut KpaState::default(), &tick);
            assert!(!d.scale_valid, "{text}");
            assert_eq!(d.steps[0].reason, reason::NO_METRICS);
        }
    }

    #[test]
    fn state_round_trips() {
        let spec = with(k(10.0, 100.0), |s| s.scale_down_delay_seconds = 30);
        let mut st = KpaState::default();
        decide(&spec, &mut st, &tk(0, 1, 10.0, 100.0));
        let back: KpaState = serde_json::from_str(&serde_json::to_string(&st).unwrap()).unwrap();
        assert_eq!(back, st);
        assert!(back.panic_time.is_some() && !back.delay_window.is_empty());
    }

    fn metric() -> impl Strategy<Value = f64> {
        prop_oneof![8 => 0.0f64..2000.0, 1 => Just(0.0), 1 => Just(f64::NAN), 1 => Just(f64::INFINITY)]
    }

    fn spec_strategy() -> impl Strategy<Value = KpaSpec> {
        let knobs = (
            0.5f64..50.0,
            prop_oneof![Just(0.0), Just(-1.0), 1.0f64..300.0],
            1.1f64..10.0,
            1.1f64..20.0,
            1.1f64..10.0,
        );
        let more = (
            6i64..120,
            prop_oneof![3 => Just(0i64), 1 => 1i64..120],
            0u32..4,
            0u32..5,
            0u32..40,
            any::<bool>(),
            any::<bool>(),
        );
        (knobs, more).prop_map(
            |((target, tbc, thr, up, down), (sw, delay, act, min, span, reach, stz))| KpaSpec {
                target_value: target,
                total_value: target / 0.7,
                target_burst_capacity: tbc,
                panic_threshold: thr,
                max_scale_up_rate: up,
                max_scale_down_rate: down,
                stable_window_seconds: sw,
                scale_down_delay_seconds: delay,
                activation_scale: if act >= 2 { act.max(min) } else { act },
                min_scale: min,
                max_scale: if span == 0 { 0 } else { min.max(act) + span },
                reachable: reach,
                enable_scale_to_zero: stz,
                ..KpaSpec::default()
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(proptest_cases()))]

        /// Knative's panic rule ("we do not scale down while in panic mode") and applyBounds:
        /// at consecutive panicking ticks the count never drops (the ratchet always; the final
        /// count when no delay window re-times it), and a non-zero count is within bounds.
        #[test]
        fn panic_never_scales_down_and_bounds_hold(
            spec in spec_strategy(),
            ticks in proptest::collection::vec((1i64..40, 0u32..60, metric(), metric()), 1..40),
        ) {
            prop_assert_eq!(spec.validate(), Ok(()));
            let mut st = KpaState::default();
            let (mut now, mut prev): (i64, Option<KpaDecision>) = (0, None);
            let delay_window = spec.reachable && spec.scale_down_delay_seconds > 0;
            let min = if spec.reachable { spec.min_scale } else { 0 };
            for (dt, ready, stable, panic) in ticks {
                now += dt;
                let ratchet = st.max_panic_pods;
                let d = decide(&spec, &mut st, &tk(now, ready, stable, panic));
                if !d.scale_valid {
                    continue;
                }
                if let Some(p) = prev.as_ref().filter(|p| p.panicking && d.panicking) {
                    prop_assert!(st.max_panic_pods >= ratchet);
                    if !delay_window {
                        prop_assert!(d.desired_replicas >= p.desired_replicas, "{:?} then {:?}", p, d);
                    }
                }
                if d.desired_replicas != 0 {
                    prop_assert!(d.desired_replicas >= min);
                    prop_assert!(spec.max_scale == 0 || d.desired_replicas <= spec.max_scale);
                } else {
                    prop_assert!(min == 0 && spec.enable_scale_to_zero);
                }
                prop_assert!(d.num_activators >= MIN_ACTIVATORS);
                prop_assert_eq!(d.steps.last().map(|s| s.value), Some(d.desired_replicas));
                prev = Some(d);
            }
        }
    }
}
