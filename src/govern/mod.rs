//! The governor: an ordered chain of clamps between a recommendation and the actuator.
//! Each step records (value, reason). Semantics follow the HPA's `behavior`:
//! scale-down stabilization over past recommendations, rate limits over past scale events
//! within each policy's period, then min/max bounds. Pure: time and state come in.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reason {
    /// The value passed this step unchanged.
    DesiredWithinRange,
    /// Raised to minReplicas.
    TooFewReplicas,
    /// Lowered to maxReplicas.
    TooManyReplicas,
    /// Limited by the scale-up rate policy.
    ScaleUpLimit,
    /// Limited by the scale-down rate policy.
    ScaleDownLimit,
    /// Held up by the highest recommendation inside the scale-down window.
    ScaleDownStabilized,
    /// Held down by the lowest recommendation inside the scale-up window.
    ScaleUpStabilized,
    /// No usable input: the current count is kept.
    NoRecommendation,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub step: String,
    pub value: u32,
    pub reason: Reason,
}

/// One rate policy: at most `value` pods, or `value` percent, per `period_seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum RatePolicy {
    Pods { value: u32, period_seconds: i64 },
    Percent { value: u32, period_seconds: i64 },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Direction {
    pub stabilization_seconds: i64,
    /// Combined with Max: the policy allowing the largest change wins (the HPA default).
    pub policies: Vec<RatePolicy>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GovernorConfig {
    pub min_replicas: u32,
    pub max_replicas: u32,
    pub scale_up: Direction,
    pub scale_down: Direction,
}

impl GovernorConfig {
    /// Kubernetes' default behavior: up by max(4 pods, 100%) per 15 s with no window;
    /// down by 100% per 15 s after a 300 s stabilization window.
    pub fn hpa_default(min_replicas: u32, max_replicas: u32) -> Self {
        GovernorConfig {
            min_replicas,
            max_replicas,
            scale_up: Direction {
                stabilization_seconds: 0,
                policies: vec![
                    RatePolicy::Pods {
                        value: 4,
                        period_seconds: 15,
                    },
                    RatePolicy::Percent {
                        value: 100,
                        period_seconds: 15,
                    },
                ],
            },
            scale_down: Direction {
                stabilization_seconds: 300,
                policies: vec![RatePolicy::Percent {
                    value: 100,
                    period_seconds: 15,
                }],
            },
        }
    }
}

/// Past recommendations and scale events, pruned to the longest window that reads them.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct GovernorState {
    pub recommendations: Vec<(i64, u32)>,
    /// (time, replica change) of applied scalings.
    pub events: Vec<(i64, i64)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Governed {
    pub desired: u32,
    pub steps: Vec<Step>,
}

fn step(name: &str, value: u32, reason: Reason) -> Step {
    Step {
        step: name.into(),
        value,
        reason,
    }
}

impl GovernorConfig {
    fn longest_window(&self) -> i64 {
        let periods = self
            .scale_up
            .policies
            .iter()
            .chain(&self.scale_down.policies)
            .map(|p| match p {
                RatePolicy::Pods { period_seconds, .. } | RatePolicy::Percent { period_seconds, .. } => *period_seconds,
            });
        periods
            .chain([
                self.scale_up.stabilization_seconds,
                self.scale_down.stabilization_seconds,
            ])
            .max()
            .unwrap_or(0)
    }

    /// Governs `recommended` at `now` given `current` replicas; records the recommendation and,
    /// when the result differs from `current`, the scale event.
    pub fn govern(&self, now: i64, current: u32, recommended: u32, state: &mut GovernorState) -> Governed {
        let keep = now - self.longest_window();
        state.recommendations.retain(|(t, _)| *t > keep);
        state.events.retain(|(t, _)| *t > keep);
        state.recommendations.push((now, recommended));
        let mut steps = vec![step("recommendation", recommended, Reason::DesiredWithinRange)];

        // Stabilization: down to the highest recommendation in the down window,
        // up to the lowest in the up window.
        let in_window = |secs: i64| {
            state
                .recommendations
                .iter()
                .filter(move |(t, _)| *t > now - secs || *t == now)
                .map(|(_, r)| *r)
        };
        let up_floor = in_window(self.scale_up.stabilization_seconds)
            .min()
            .unwrap_or(recommended);
        let down_ceiling = in_window(self.scale_down.stabilization_seconds)
            .max()
            .unwrap_or(recommended);
        let mut v = recommended;
        let mut reason = Reason::DesiredWithinRange;
        if v < current && down_ceiling > v {
            v = down_ceiling.min(current);
            reason = Reason::ScaleDownStabilized;
        } else if v > current && up_floor < v {
            v = up_floor.max(current);
            reason = Reason::ScaleUpStabilized;
        }
        steps.push(step("stabilization", v, reason));

        // Rate limits, measured from the replica count at the start of each period.
        let (limited, reason) = if v > current {
            let limit = self
                .scale_up
                .policies
                .iter()
                .map(|p| up_limit(p, current, now, &state.events))
                .max()
                .unwrap_or(i64::MAX);
            if v as i64 > limit {
                (limit.max(current as i64) as u32, Reason::ScaleUpLimit)
            } else {
                (v, Reason::DesiredWithinRange)
            }
        } else if v < current {
            let limit = self
                .scale_down
                .policies
                .iter()
                .map(|p| down_limit(p, current, now, &state.events))
                .min()
                .unwrap_or(i64::MIN);
            if (v as i64) < limit {
                (limit.min(current as i64) as u32, Reason::ScaleDownLimit)
            } else {
                (v, Reason::DesiredWithinRange)
            }
        } else {
            (v, Reason::DesiredWithinRange)
        };
        steps.push(step("rate_limit", limited, reason));

        let (bounded, reason) = if limited < self.min_replicas {
            (self.min_replicas, Reason::TooFewReplicas)
        } else if limited > self.max_replicas {
            (self.max_replicas, Reason::TooManyReplicas)
        } else {
            (limited, Reason::DesiredWithinRange)
        };
        steps.push(step("bounds", bounded, reason));
        if bounded != current {
            state.events.push((now, bounded as i64 - current as i64));
        }
        Governed {
            desired: bounded,
            steps,
        }
    }
}

fn period_of(p: &RatePolicy) -> i64 {
    match *p {
        RatePolicy::Pods { period_seconds, .. } | RatePolicy::Percent { period_seconds, .. } => period_seconds,
    }
}

/// Replicas added (up) or removed (down) by events inside the policy's period.
fn changed_in_period(p: &RatePolicy, now: i64, events: &[(i64, i64)], up: bool) -> i64 {
    let period = period_of(p);
    events
        .iter()
        .filter(|(t, d)| *t > now - period && if up { *d > 0 } else { *d < 0 })
        .map(|(_, d)| d.abs())
        .sum()
}

/// Highest count this policy allows: from the count at the period's start, plus its allowance.
fn up_limit(p: &RatePolicy, current: u32, now: i64, events: &[(i64, i64)]) -> i64 {
    let start = current as i64 - changed_in_period(p, now, events, true);
    match *p {
        RatePolicy::Pods { value, .. } => start + value as i64,
        RatePolicy::Percent { value, .. } => (start as f64 * (1.0 + value as f64 / 100.0)).ceil() as i64,
    }
}

/// Lowest count this policy allows.
fn down_limit(p: &RatePolicy, current: u32, now: i64, events: &[(i64, i64)]) -> i64 {
    let start = current as i64 + changed_in_period(p, now, events, false);
    match *p {
        RatePolicy::Pods { value, .. } => start - value as i64,
        RatePolicy::Percent { value, .. } => (start as f64 * (1.0 - value as f64 / 100.0)).ceil() as i64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn governor_table() {
        let g = GovernorConfig::hpa_default(1, 20);
        // (history of (time, current, recommended)) → expected final (desired, reason of the deciding step)
        struct Case {
            name: &'static str,
            ticks: Vec<(i64, u32, u32)>,
            want: u32,
            reason: Reason,
        }
        let cases = vec![
            // default scale-up: max(4 pods, 100%) per 15 s → from 2, at most 6
            Case {
                name: "up limited by 4 pods",
                ticks: vec![(0, 2, 10)],
                want: 6,
                reason: Reason::ScaleUpLimit,
            },
            // from 8, 100% allows 16
            Case {
                name: "up limited by 100%",
                ticks: vec![(0, 8, 30)],
                want: 16,
                reason: Reason::ScaleUpLimit,
            },
            Case {
                name: "max bound",
                ticks: vec![(0, 16, 25)],
                want: 20,
                reason: Reason::TooManyReplicas,
            },
            Case {
                name: "min bound",
                ticks: vec![(0, 1, 0)],
                want: 1,
                reason: Reason::TooFewReplicas,
            },
            // a recommendation of 8 at t=0 keeps 8 until 300 s have passed
            Case {
                name: "down stabilized",
                ticks: vec![(0, 8, 8), (100, 8, 2)],
                want: 8,
                reason: Reason::ScaleDownStabilized,
            },
            Case {
                name: "down after window",
                ticks: vec![(0, 8, 8), (301, 8, 2)],
                want: 2,
                reason: Reason::DesiredWithinRange,
            },
            // second scale-up inside the same 15 s period counts the first event
            Case {
                name: "rate over events",
                ticks: vec![(0, 2, 6), (5, 6, 20)],
                want: 6,
                reason: Reason::ScaleUpLimit,
            },
        ];
        for c in cases {
            let mut st = GovernorState::default();
            let mut last = None;
            for (t, cur, rec) in &c.ticks {
                last = Some(g.govern(*t, *cur, *rec, &mut st));
            }
            let out = last.unwrap();
            assert_eq!(out.desired, c.want, "{}: {:?}", c.name, out.steps);
            assert!(
                out.steps.iter().any(|s| s.reason == c.reason),
                "{}: {:?}",
                c.name,
                out.steps
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// Invariants: within [min, max]; no step beyond the rate policy; no scale-down
        /// while a higher recommendation is inside the stabilization window.
        #[test]
        fn governor_invariants(min in 0u32..5, span in 0u32..40, ticks in proptest::collection::vec((1i64..120, 0u32..80), 1..40)) {
            let g = GovernorConfig::hpa_default(min, min + span);
            let mut st = GovernorState::default();
            let mut current = min;
            let mut now = 0;
            let mut recs: Vec<(i64, u32)> = vec![];
            for (dt, rec) in ticks {
                now += dt;
                recs.push((now, rec));
                let out = g.govern(now, current, rec, &mut st);
                prop_assert!(out.desired >= g.min_replicas && out.desired <= g.max_replicas);
                if out.desired > current && current >= g.min_replicas {
                    prop_assert!(out.desired as i64 <= (current as i64 + 4).max(2 * current as i64));
                }
                if out.desired < current && current <= g.max_replicas {
                    let window_max = recs.iter().filter(|(t, _)| *t > now - 300).map(|(_, r)| *r).max().unwrap();
                    prop_assert!(out.desired >= window_max.min(current).max(g.min_replicas).min(g.max_replicas));
                }
                current = out.desired;
            }
        }
    }
}
