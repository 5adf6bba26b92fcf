//! The vertical governor: per-resource bounds, the updater's recommendation-range rule and a
//! step limit between a container's current requests and a recommendation, each stage with its
//! reason (`pkg/updater/priority/priority_processor.go`).

use crate::plan::vertical::histogram::valid_amount;
use crate::plan::vertical::recommender::{Recommendation, Resources};
use serde::{Deserialize, Serialize};

/// Per-container limits on what the vertical governor may set (the VPA's `minAllowed` and
/// `maxAllowed`, plus a step limit).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct VerticalBounds {
    /// `minAllowed`: the lowest requests; an invalid amount means 0.
    pub min: Resources,
    /// `maxAllowed`: the highest requests; NaN means unbounded, and `min` wins when lower.
    pub max: Resources,
    /// Largest relative change per step, e.g. 0.5 = ±50%; NaN or negative means 0.
    pub max_step_fraction: f64,
}

/// The requests to set for one container and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerticalDecision {
    /// (cpu request in cores, the reason of the last stage that decided it).
    pub cpu: (f64, String),
    /// (memory request in bytes, the reason of the last stage that decided it).
    pub memory: (f64, String),
    /// Whether either request differs from the current one.
    pub changed: bool,
    /// (resource.stage, value after the stage, reason), stages: range, step, bounds.
    pub steps: Vec<(String, f64, String)>,
}

/// Reasons recorded by `govern_vertical`.
pub mod reason {
    /// Range stage: every request is inside [lowerBound, upperBound]; requests stay.
    pub const WITHIN_BOUNDS: &str = "WithinBounds";
    /// Range stage: some request is outside [lowerBound, upperBound]; every resource moves to
    /// its target.
    pub const OUTSIDE_RECOMMENDATION_RANGE: &str = "OutsideRecommendationRange";
    /// Step stage: the change is within `max_step_fraction` (or there is no current request).
    pub const WITHIN_STEP_LIMIT: &str = "WithinStepLimit";
    /// Step stage: the change was cut to `max_step_fraction` of the current request.
    pub const STEP_LIMITED: &str = "StepLimited";
    /// Bounds stage: inside [min, max].
    pub const WITHIN_MIN_MAX: &str = "WithinMinMax";
    /// Bounds stage: raised to min (NaN too).
    pub const BELOW_MIN: &str = "BelowMin";
    /// Bounds stage: lowered to max.
    pub const ABOVE_MAX: &str = "AboveMax";
}

struct Lane {
    name: &'static str,
    current: f64,
    target: f64,
    min: f64,
    max: f64,
}

/// NaN, infinite or negative comparisons count as outside (an unset request too, as upstream).
fn outside(current: f64, lower: f64, upper: f64) -> bool {
    !(current >= lower && current <= upper)
}

fn step_limit(current: f64, desired: f64, fraction: f64) -> (f64, &'static str) {
    // No request yet: a relative step from 0 would never move.
    if !(current.is_finite() && current > 0.0) {
        return (desired, reason::WITHIN_STEP_LIMIT);
    }
    let f = if fraction >= 0.0 { fraction } else { 0.0 };
    let (lo, hi) = ((current * (1.0 - f)).max(0.0), current * (1.0 + f));
    if desired < lo {
        (lo, reason::STEP_LIMITED)
    } else if desired > hi {
        (hi, reason::STEP_LIMITED)
    } else {
        (desired, reason::WITHIN_STEP_LIMIT)
    }
}

/// Invalid min is 0, NaN max is unbounded, and min wins when max < min.
pub(crate) fn clamp_min_max(v: f64, min: f64, max: f64) -> (f64, &'static str) {
    let lo = if valid_amount(min) { min } else { 0.0 };
    let hi = if max.is_nan() { f64::INFINITY } else { max.max(lo) };
    if v.is_nan() || v < lo {
        (lo, reason::BELOW_MIN)
    } else if v > hi {
        (hi, reason::ABOVE_MAX)
    } else {
        (v, reason::WITHIN_MIN_MAX)
    }
}

fn govern_lane(lane: &Lane, act: bool, fraction: f64, steps: &mut Vec<(String, f64, String)>) -> (f64, String) {
    let mut record = |stage: &str, v: f64, r: &str| steps.push((format!("{}.{stage}", lane.name), v, r.into()));
    let (v, mut why) = match act {
        true if lane.target.is_finite() => (lane.target, reason::OUTSIDE_RECOMMENDATION_RANGE),
        true => (lane.current, reason::OUTSIDE_RECOMMENDATION_RANGE),
        false => (lane.current, reason::WITHIN_BOUNDS),
    };
    record("range", v, why);
    let (v, r) = if act {
        step_limit(lane.current, v, fraction)
    } else {
        (v, reason::WITHIN_STEP_LIMIT)
    };
    record("step", v, r);
    if r == reason::STEP_LIMITED {
        why = r;
    }
    // Hard bounds last: they win over the step limit.
    let (v, r) = clamp_min_max(v, lane.min, lane.max);
    record("bounds", v, r);
    if r != reason::WITHIN_MIN_MAX {
        why = r;
    }
    (v, why.to_string())
}

/// The VPA updater's rule: act only when some request lies outside [lower, upper]; then
/// every resource moves toward its target (an evicted pod gets all targets), limited per step
/// and clamped to [min, max]. Otherwise requests stay, except to honour [min, max].
pub fn govern_vertical(bounds: &VerticalBounds, current: &Resources, rec: &Recommendation) -> VerticalDecision {
    let act = outside(current.cpu_cores, rec.lower_bound.cpu_cores, rec.upper_bound.cpu_cores)
        || outside(
            current.memory_bytes,
            rec.lower_bound.memory_bytes,
            rec.upper_bound.memory_bytes,
        );
    let cpu = Lane {
        name: "cpu",
        current: current.cpu_cores,
        target: rec.target.cpu_cores,
        min: bounds.min.cpu_cores,
        max: bounds.max.cpu_cores,
    };
    let memory = Lane {
        name: "memory",
        current: current.memory_bytes,
        target: rec.target.memory_bytes,
        min: bounds.min.memory_bytes,
        max: bounds.max.memory_bytes,
    };
    let mut steps = Vec::with_capacity(6);
    let cpu = govern_lane(&cpu, act, bounds.max_step_fraction, &mut steps);
    let memory = govern_lane(&memory, act, bounds.max_step_fraction, &mut steps);
    let changed = cpu.0 != current.cpu_cores || memory.0 != current.memory_bytes;
    VerticalDecision {
        cpu,
        memory,
        changed,
        steps,
    }
}

/// The resize governor's limits: what keeps a desired size from churning the pods.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ResizeLimits {
    /// A change smaller than this fraction of the current request is held (default 0.1),
    /// unless it raises a request that usage already exceeds.
    pub min_relative_change: f64,
    /// Most resizes in any hour (default 6).
    pub max_resizes_per_hour: u32,
    /// Usage older than this, seconds, holds every resize (default 600).
    pub stale_after_seconds: i64,
}

impl Default for ResizeLimits {
    fn default() -> Self {
        ResizeLimits {
            min_relative_change: 0.1,
            max_resizes_per_hour: 6,
            stale_after_seconds: 600,
        }
    }
}

/// What `limit_resize` sees besides the desired size: all inputs, no clock.
#[derive(Debug, Clone, Copy)]
pub struct ResizeInputs<'a> {
    /// Now, Unix seconds.
    pub now: i64,
    /// The requests in effect.
    pub current: Resources,
    /// The latest observed usage (the max over pods).
    pub usage: Resources,
    /// Time of the latest usage sample.
    pub usage_time: i64,
    /// Times of the recent resizes.
    pub recent_resizes: &'a [i64],
}

/// Reasons recorded by `limit_resize`.
pub mod limit_reason {
    /// Usage is older than `stale_after_seconds`.
    pub const STALE_DATA: &str = "StaleData";
    /// Raised to the latest usage: a request is never set below what the container uses.
    pub const BELOW_USAGE: &str = "BelowUsage";
    /// Every change is below `min_relative_change`.
    pub const BELOW_MIN_CHANGE: &str = "BelowMinChange";
    /// `max_resizes_per_hour` resizes happened in the last hour.
    pub const RESIZE_BUDGET_SPENT: &str = "ResizeBudgetSpent";
    /// Applied as desired.
    pub const APPLIED: &str = "Applied";
    /// No usage sample yet.
    pub const NO_USAGE: &str = "NoUsage";
    /// Every reason that holds the current requests (counted in /metrics).
    pub const HOLDS: [&str; 4] = [STALE_DATA, NO_USAGE, BELOW_MIN_CHANGE, RESIZE_BUDGET_SPENT];
}

fn relative_change(current: f64, desired: f64) -> f64 {
    if current > 0.0 && current.is_finite() {
        (desired - current).abs() / current
    } else {
        f64::INFINITY
    }
}

/// Clamps a desired size (already inside [min, max]) by the limits above, in order: stale
/// data, never below usage, minimum change, resize budget. Returns the size to set (the
/// current one when held) and each stage's (stage, reason).
pub fn limit_resize(
    limits: &ResizeLimits,
    inp: &ResizeInputs<'_>,
    desired: Resources,
) -> (Resources, Vec<(String, String)>) {
    use limit_reason::*;
    let mut steps = Vec::with_capacity(4);
    let mut step = |stage: &str, why: &str| steps.push((stage.to_string(), why.to_string()));
    if inp.now.saturating_sub(inp.usage_time) > limits.stale_after_seconds {
        step("stale", STALE_DATA);
        return (inp.current, steps);
    }
    let mut d = desired;
    if d.cpu_cores < inp.usage.cpu_cores || d.memory_bytes < inp.usage.memory_bytes {
        d.cpu_cores = d.cpu_cores.max(inp.usage.cpu_cores);
        d.memory_bytes = d.memory_bytes.max(inp.usage.memory_bytes);
        step("usage", BELOW_USAGE);
    }
    let starved = (d.cpu_cores > inp.current.cpu_cores && inp.usage.cpu_cores > inp.current.cpu_cores)
        || (d.memory_bytes > inp.current.memory_bytes && inp.usage.memory_bytes > inp.current.memory_bytes);
    let change = relative_change(inp.current.cpu_cores, d.cpu_cores)
        .max(relative_change(inp.current.memory_bytes, d.memory_bytes));
    if change == 0.0 || (!starved && change < limits.min_relative_change) {
        step("change", BELOW_MIN_CHANGE);
        return (inp.current, steps);
    }
    let in_hour = inp.recent_resizes.iter().filter(|&&t| inp.now - t < 3600).count();
    if in_hour >= limits.max_resizes_per_hour as usize {
        step("budget", RESIZE_BUDGET_SPENT);
        return (inp.current, steps);
    }
    step("apply", APPLIED);
    (d, steps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::vertical::histogram::MIB;
    use proptest::prelude::*;

    const GIB: f64 = 1024.0 * MIB;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
    }

    fn fixture() -> Recommendation {
        Recommendation {
            target: Resources::new(1.0, GIB),
            lower_bound: Resources::new(0.8, 0.8 * GIB),
            upper_bound: Resources::new(1.5, 1.5 * GIB),
            confidence: 7.0,
        }
    }

    #[test]
    fn governor_rules() {
        use reason::*;
        // priority_processor.go: the updater acts only when a request is outside
        // [lowerBound, upperBound]; the evicted pod then gets every target. Our extension:
        // ±max_step_fraction per step, then hard [min, max] bounds.
        let b = VerticalBounds {
            min: Resources::new(0.1, 128.0 * MIB),
            max: Resources::new(4.0, 8.0 * GIB),
            max_step_fraction: 0.5,
        };
        let with = |min: Resources, max: Resources, step: f64| VerticalBounds {
            min,
            max,
            max_step_fraction: step,
        };
        let rows = [
            (
                "within range: no change",
                b,
                Resources::new(1.2, 1.2 * GIB),
                (1.2, WITHIN_BOUNDS),
                (1.2 * GIB, WITHIN_BOUNDS),
                false,
            ),
            (
                "cpu below lower: to target",
                b,
                Resources::new(0.7, GIB),
                (1.0, OUTSIDE_RECOMMENDATION_RANGE),
                (GIB, OUTSIDE_RECOMMENDATION_RANGE),
                true,
            ),
            (
                "step limit up",
                b,
                Resources::new(0.2, GIB),
                (0.3, STEP_LIMITED),
                (GIB, OUTSIDE_RECOMMENDATION_RANGE),
                true,
            ),
            (
                "step limit down",
                b,
                Resources::new(3.0, GIB),
                (1.5, STEP_LIMITED),
                (GIB, OUTSIDE_RECOMMENDATION_RANGE),
                true,
            ),
            (
                "max clamp",
                with(b.min, Resources::new(0.5, 8.0 * GIB), 1.0),
                Resources::new(2.0, GIB),
                (0.5, ABOVE_MAX),
                (GIB, OUTSIDE_RECOMMENDATION_RANGE),
                true,
            ),
            (
                "min clamp",
                with(Resources::new(1.2, 0.0), b.max, f64::INFINITY),
                Resources::new(0.5, GIB),
                (1.2, BELOW_MIN),
                (GIB, OUTSIDE_RECOMMENDATION_RANGE),
                true,
            ),
            (
                "bounds hold inside the range",
                with(b.min, Resources::new(1.0, 8.0 * GIB), 0.5),
                Resources::new(1.2, GIB),
                (1.0, ABOVE_MAX),
                (GIB, WITHIN_BOUNDS),
                true,
            ),
            (
                "memory outside moves cpu too",
                b,
                Resources::new(1.2, 3.0 * GIB),
                (1.0, OUTSIDE_RECOMMENDATION_RANGE),
                (1.5 * GIB, STEP_LIMITED),
                true,
            ),
            (
                "unset request jumps to target",
                b,
                Resources::new(0.0, GIB),
                (1.0, OUTSIDE_RECOMMENDATION_RANGE),
                (GIB, OUTSIDE_RECOMMENDATION_RANGE),
                true,
            ),
            (
                "NaN request jumps to target",
                b,
                Resources::new(f64::NAN, GIB),
                (1.0, OUTSIDE_RECOMMENDATION_RANGE),
                (GIB, OUTSIDE_RECOMMENDATION_RANGE),
                true,
            ),
        ];
        for (name, bounds, current, cpu, mem, changed) in rows {
            let d = govern_vertical(&bounds, &current, &fixture());
            assert!(close(d.cpu.0, cpu.0) && d.cpu.1 == cpu.1, "{name}: cpu {:?}", d.cpu);
            assert!(
                close(d.memory.0, mem.0) && d.memory.1 == mem.1,
                "{name}: memory {:?}",
                d.memory
            );
            assert_eq!(d.changed, changed, "{name}");
        }
    }

    #[test]
    fn governor_records_each_stage() {
        let bounds = VerticalBounds {
            min: Resources::new(0.1, 0.0),
            max: Resources::new(0.5, 8.0 * GIB),
            max_step_fraction: 1.0,
        };
        let d = govern_vertical(&bounds, &Resources::new(2.0, GIB), &fixture());
        let cpu: Vec<_> = d
            .steps
            .iter()
            .take(3)
            .map(|(s, v, r)| (s.as_str(), *v, r.as_str()))
            .collect();
        assert_eq!(
            cpu,
            [
                ("cpu.range", 1.0, reason::OUTSIDE_RECOMMENDATION_RANGE),
                ("cpu.step", 1.0, reason::WITHIN_STEP_LIMIT),
                ("cpu.bounds", 0.5, reason::ABOVE_MAX),
            ]
        );
        assert_eq!(d.steps.len(), 6);
        assert!(serde_json::to_string(&d).unwrap().contains("AboveMax"));
    }

    fn current_value() -> impl Strategy<Value = f64> {
        prop_oneof![Just(f64::NAN), Just(0.0), -1.0f64..20.0]
    }

    proptest! {
        #[test]
        fn prop_governor_within_min_max(
            min in (0.0f64..8.0, 0.0f64..8e9),
            span in (0.0f64..8.0, 0.0f64..8e9),
            current in (current_value(), current_value()),
            cpu in prop::array::uniform3(0.0f64..20.0),
            mem in prop::array::uniform3(0.0f64..2e10),
            step in 0.0f64..2.0,
        ) {
            let bounds = VerticalBounds {
                min: Resources::new(min.0, min.1),
                max: Resources::new(min.0 + span.0, min.1 + span.1),
                max_step_fraction: step,
            };
            let rec = Recommendation {
                target: Resources::new(cpu[0], mem[0]),
                lower_bound: Resources::new(cpu[1], mem[1]),
                upper_bound: Resources::new(cpu[2], mem[2]),
                confidence: 1.0,
            };
            let d = govern_vertical(&bounds, &Resources::new(current.0, current.1), &rec);
            prop_assert!(d.cpu.0 >= bounds.min.cpu_cores && d.cpu.0 <= bounds.max.cpu_cores, "{d:?}");
            prop_assert!(d.memory.0 >= bounds.min.memory_bytes && d.memory.0 <= bounds.max.memory_bytes, "{d:?}");
        }
    }

    #[test]
    fn resize_limits_table() {
        let lim = ResizeLimits::default();
        let cur = Resources::new(1.0, GIB);
        // (desired, usage, usage age s, resizes in the last hour, want, last reason)
        let cases = [
            (
                Resources::new(2.0, GIB),
                Resources::new(0.5, GIB / 2.0),
                0,
                0,
                Resources::new(2.0, GIB),
                "Applied",
            ),
            (
                Resources::new(2.0, GIB),
                Resources::new(0.5, GIB / 2.0),
                601,
                0,
                cur,
                "StaleData",
            ),
            (
                Resources::new(1.05, GIB),
                Resources::new(0.5, GIB / 2.0),
                0,
                0,
                cur,
                "BelowMinChange",
            ),
            // Usage above the request: a small raise is not held.
            (
                Resources::new(1.05, GIB),
                Resources::new(1.02, GIB / 2.0),
                0,
                0,
                Resources::new(1.05, GIB),
                "Applied",
            ),
            (
                Resources::new(0.2, GIB),
                Resources::new(0.5, GIB / 2.0),
                0,
                0,
                Resources::new(0.5, GIB),
                "Applied",
            ),
            (
                Resources::new(2.0, GIB),
                Resources::new(0.5, GIB / 2.0),
                0,
                6,
                cur,
                "ResizeBudgetSpent",
            ),
            (
                Resources::new(2.0, GIB),
                Resources::new(0.5, GIB / 2.0),
                0,
                5,
                Resources::new(2.0, GIB),
                "Applied",
            ),
        ];
        for (desired, usage, age, n, want, why) in cases {
            let recent: Vec<i64> = (0..n).map(|i| 10_000 - 60 * i).collect();
            let inp = ResizeInputs {
                now: 10_000,
                current: cur,
                usage,
                usage_time: 10_000 - age,
                recent_resizes: &recent,
            };
            let (got, steps) = limit_resize(&lim, &inp, desired);
            assert_eq!(got, want, "{desired:?} {usage:?} {age} {n}");
            assert_eq!(steps.last().unwrap().1, why, "{steps:?}");
        }
        // A resize more than an hour old does not count.
        let old = [10_000 - 3600; 6];
        let inp = ResizeInputs {
            now: 10_000,
            current: cur,
            usage: Resources::new(0.5, GIB / 2.0),
            usage_time: 10_000,
            recent_resizes: &old,
        };
        assert_eq!(
            limit_resize(&lim, &inp, Resources::new(2.0, GIB)).0,
            Resources::new(2.0, GIB)
        );
    }
}
