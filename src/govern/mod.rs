//! The governor: an ordered chain of clamps between recommendations and the actuator.
//! Every step records (value, reason); together they are the decision record.
//!
//! Chain: staleness → forecast sanity → combine (max(predictive, reactive), or in forecast
//! scale-in mode the forecast above a safety floor) → burst guard → HPA behavior
//! (stabilization, rate limits, min/max; exact, see [`crate::reactive::hpa::behavior`]) → budget → cooldown after
//! failed actuations → mode (Off, ForecastOnly, Auto). Pure: time and state come in.

pub mod rules;
pub mod vertical;

use crate::core::reason::{Reason, Step};
use crate::plan::horizontal::NoPlan;
use crate::reactive::hpa::behavior::{BehaviorConfig, BehaviorState, normalize_holding, normalized_steps};
use serde::{Deserialize, Serialize};

/// What the governor may do with its decision; the last step of the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Mode {
    /// Decide nothing, apply nothing.
    Off,
    /// Decide and record, never apply (dry run).
    ForecastOnly,
    /// Decide and apply.
    #[default]
    Auto,
}

/// How far a forecast may take capacity down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ScaleIn {
    /// Never below the reactive (HPA) recommendation; the default.
    #[default]
    Reactive,
    /// The forecast drives scale-in, under a safety floor at the SLO-derived load per replica.
    Forecast,
}

impl ScaleIn {
    /// The name in configs, flags and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ScaleIn::Reactive => "reactive",
            ScaleIn::Forecast => "forecast",
        }
    }
}

impl std::str::FromStr for ScaleIn {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "reactive" => Ok(ScaleIn::Reactive),
            "forecast" => Ok(ScaleIn::Forecast),
            _ => Err(format!("expected \"reactive\" or \"forecast\", got {s:?}")),
        }
    }
}

/// A cap on provisioned capacity per window (replica-hours; multiply by a price for cost).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    /// Replica-hours that may be provisioned within any window; past it, growth stops at the
    /// reactive floor.
    pub max_replica_hours: f64,
    /// The sliding window, in seconds.
    pub window_seconds: i64,
}

/// The governor's settings for one target; see the module docs for the chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GovernorConfig {
    /// The lower bound (the HPA's `minReplicas`).
    pub min_replicas: u32,
    /// The upper bound (the HPA's `maxReplicas`).
    pub max_replicas: u32,
    /// Stabilization windows and rate limits, as the HPA's `behavior` after defaulting.
    pub behavior: BehaviorConfig,
    /// Off, ForecastOnly or Auto.
    pub mode: Mode,
    /// Metrics older than this disable the predictive path and any scale-down.
    pub max_metric_age_seconds: i64,
    /// Whether a forecast may take capacity below the reactive recommendation.
    #[serde(default)]
    pub scale_in: ScaleIn,
    /// A cap on replica-hours; `None` means no cap.
    pub budget: Option<Budget>,
    /// After a failed actuation, hold for this long.
    pub failure_cooldown_seconds: i64,
}

/// What bounds and mode a decision is made under: the configured ones, or what the tick passes in
/// (the target's own maximum, forecast-only on a follower). The config itself is never rewritten.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// The lower bound in force.
    pub min_replicas: u32,
    /// The upper bound in force.
    pub max_replicas: u32,
    /// The mode in force.
    pub mode: Mode,
}

impl GovernorConfig {
    /// The configured bounds and mode.
    pub fn limits(&self) -> Limits {
        Limits {
            min_replicas: self.min_replicas,
            max_replicas: self.max_replicas,
            mode: self.mode,
        }
    }

    /// Kubernetes' default behavior, Auto mode, 2-minute staleness bound, 60 s cooldown.
    pub fn hpa_default(min_replicas: u32, max_replicas: u32) -> Self {
        GovernorConfig {
            min_replicas,
            max_replicas,
            behavior: BehaviorConfig::default(),
            mode: Mode::Auto,
            max_metric_age_seconds: 120,
            scale_in: ScaleIn::Reactive,
            budget: None,
            failure_cooldown_seconds: 60,
        }
    }
}

/// What the governor carries between decisions for one target.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GovernorState {
    /// The HPA behavior's past recommendations and scale events.
    pub behavior: BehaviorState,
    /// (time, provisioned replicas) for the budget.
    pub usage: Vec<(i64, u32)>,
    /// Time of the last failed actuation, in seconds; starts the cooldown.
    pub last_failure: Option<i64>,
}

impl GovernorState {
    /// Reports an actuation outcome; failures start the cooldown.
    pub fn record_actuation(&mut self, now: i64, ok: bool) {
        if !ok {
            self.last_failure = Some(now);
        }
    }

    /// Replica-hours provisioned within `(now - window, now]`.
    fn used(&self, now: i64, window: i64) -> f64 {
        let from = now - window;
        self.usage
            .windows(2)
            .map(|w| {
                let (a, b) = (w[0].0.max(from), w[1].0);
                if b > a {
                    w[0].1 as f64 * (b - a) as f64 / 3600.0
                } else {
                    0.0
                }
            })
            .sum::<f64>()
            + self.usage.last().map_or(0.0, |&(t, r)| {
                if now > t.max(from) {
                    r as f64 * (now - t.max(from)) as f64 / 3600.0
                } else {
                    0.0
                }
            })
    }
}

/// What the governor is asked to decide on.
#[derive(Debug, Clone, PartialEq)]
pub struct GovernorInput {
    /// The decision's time in seconds.
    pub now: i64,
    /// The target's replica count now.
    pub current: u32,
    /// The reactive recommendation (HPA arithmetic or a latency rule); None when there is none.
    pub reactive: Option<u32>,
    /// Age of the newest metric; None when metrics are missing.
    pub metric_age_seconds: Option<i64>,
    /// None when no forecast is configured.
    pub predictive: Option<Result<u32, NoPlan>>,
    /// The bounds and mode in force for this decision; None: the configured ones.
    pub limits: Option<Limits>,
    /// Forecast scale-in mode: replicas the observed demand needs at the SLO-derived load per
    /// replica. Forecast scale-in never goes below min(this, reactive); None: the reactive count.
    pub safety_floor: Option<u32>,
    /// Replicas the observed demand needs when it left the forecast band while pods are short;
    /// raises at once, never lowers.
    pub burst: Option<u32>,
    /// The demand fetched failed the plausibility check: held like stale metrics.
    pub implausible: bool,
    /// A fresh latency rule's count: it raises the combined recommendation and never lowers it,
    /// so its scale-downs stay within the scale-in mode's floor.
    pub rule: Option<u32>,
}

/// The governor's decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Governed {
    /// The replica count after every clamp; `current` when nothing changes.
    pub desired: u32,
    /// Whether the actuator should be called (Auto mode and a change).
    pub apply: bool,
    /// Each clamp's value and reason, in chain order.
    pub steps: Vec<Step>,
}

impl GovernorConfig {
    /// Runs the chain once; updates `state` (recommendations, the scale event when applied,
    /// budget usage).
    pub fn govern(&self, input: &GovernorInput, state: &mut GovernorState) -> Governed {
        let mut steps = Vec::new();
        let current = input.current;
        let lim = input.limits.unwrap_or_else(|| self.limits());
        let stale = input.implausible || input.metric_age_seconds.is_none_or(|a| a > self.max_metric_age_seconds);
        let (reactive, predictive) = if stale {
            let why = if input.implausible {
                Reason::ImplausibleDemand
            } else {
                Reason::StaleMetrics
            };
            steps.push(Step::new("staleness", current, why));
            (None, None)
        } else {
            (input.reactive, self.sane_forecast(input, &mut steps))
        };
        let floor = if stale { None } else { input.safety_floor };
        let combined = self.combine(current, reactive, predictive, floor, &mut steps).map(|v| {
            match input.burst.filter(|b| !stale && *b > v && *b > current) {
                Some(b) => {
                    steps.push(Step::new("burst_guard", b, Reason::BurstGuard));
                    b
                }
                None => v,
            }
        });
        let combined = match input.rule {
            Some(r) if r > combined.unwrap_or(current) => {
                steps.push(Step::new("rule", r, Reason::LatencyRule));
                Some(r)
            }
            _ => combined,
        };
        // What the scale-down stabilization window remembers. With a forecast configured, the
        // reactive count is the controller's standalone HPA, already through its own window:
        // holding it again would keep a passed peak for twice the window, and a forecast peak
        // that passed is not held either. The HPA policy's own count is held as the HPA holds it.
        let held = input.predictive.is_some().then_some(0);
        let mut desired = match combined {
            Some(rec) => self.behave(input.now, current, (rec, held), lim, state, &mut steps),
            None => {
                steps.push(Step::new("hold", current, Reason::NoRecommendation));
                current
            }
        };
        if stale && desired < current {
            desired = current; // never scale down on stale or missing data
        }
        desired = self.budget(input, lim, reactive, desired, state, &mut steps);
        if state
            .last_failure
            .is_some_and(|t| input.now - t < self.failure_cooldown_seconds)
            && desired != current
        {
            desired = current;
            steps.push(Step::new("cooldown", desired, Reason::ActuationCooldown));
        }
        let apply = match lim.mode {
            Mode::Off => {
                desired = current;
                steps.push(Step::new("mode", desired, Reason::ModeOff));
                false
            }
            Mode::ForecastOnly => {
                steps.push(Step::new("mode", desired, Reason::ForecastOnly));
                false
            }
            Mode::Auto => desired != current,
        };
        if apply {
            state.behavior.record_scale(input.now, current, desired);
        }
        state.usage.push((input.now, if apply { desired } else { current }));
        if let Some(b) = self.budget {
            let keep = input.now - b.window_seconds;
            // keep one sample before the window: it covers the window's start
            let first = state.usage.iter().rposition(|(t, _)| *t <= keep).unwrap_or(0);
            state.usage.drain(..first);
        } else {
            state.usage.clear();
        }
        Governed { desired, apply, steps }
    }

    fn sane_forecast(&self, input: &GovernorInput, steps: &mut Vec<Step>) -> Option<u32> {
        match &input.predictive {
            Some(Ok(p)) => Some(*p),
            Some(Err(NoPlan::ForecastInsane(_))) => {
                steps.push(Step::new("forecast", input.current, Reason::ForecastDiscarded));
                None
            }
            Some(Err(NoPlan::ForecastExpired)) => {
                steps.push(Step::new("forecast", input.current, Reason::ForecastExpired));
                None
            }
            None => None,
        }
    }

    fn combine(
        &self,
        current: u32,
        reactive: Option<u32>,
        predictive: Option<u32>,
        floor: Option<u32>,
        steps: &mut Vec<Step>,
    ) -> Option<u32> {
        let (v, reason) = match (reactive, predictive) {
            (Some(r), Some(p)) if self.scale_in == ScaleIn::Forecast && p < r => {
                let floor = floor.map_or(r, |f| f.min(r));
                if p >= floor {
                    (p, Reason::ForecastScaleIn)
                } else {
                    (floor, Reason::SafetyFloor)
                }
            }
            (Some(r), Some(p)) if p > r => (p, Reason::PredictiveAboveReactive),
            (Some(r), Some(_)) => (r, Reason::ReactiveFloor),
            (None, Some(p)) => (p.max(current), Reason::ForecastOnlyRaises),
            (Some(r), None) => (r, Reason::DesiredWithinRange),
            (None, None) => return None,
        };
        steps.push(Step::new("combine", v, reason));
        Some(v)
    }

    /// The HPA's own order: a count outside [min, max] goes straight to the bound; otherwise
    /// stabilization then rate limits (which fold in the bounds).
    fn behave(
        &self,
        now: i64,
        current: u32,
        (rec, held): (u32, Option<u32>),
        lim: Limits,
        state: &mut GovernorState,
        steps: &mut Vec<Step>,
    ) -> u32 {
        if current > lim.max_replicas {
            steps.push(Step::new("bounds", lim.max_replicas, Reason::TooManyReplicas));
            return lim.max_replicas;
        }
        if current < lim.min_replicas {
            steps.push(Step::new("bounds", lim.min_replicas, Reason::TooFewReplicas));
            return lim.min_replicas;
        }
        let n = normalize_holding(
            &self.behavior,
            &mut state.behavior,
            now,
            (lim.min_replicas, lim.max_replicas),
            current,
            rec,
            held.unwrap_or(rec),
        );
        steps.extend(normalized_steps(&n));
        n.desired
    }

    /// An exhausted budget stops forecast-driven growth; the reactive floor still holds.
    fn budget(
        &self,
        input: &GovernorInput,
        lim: Limits,
        reactive: Option<u32>,
        desired: u32,
        state: &GovernorState,
        steps: &mut Vec<Step>,
    ) -> u32 {
        let Some(b) = self.budget else { return desired };
        if state.used(input.now, b.window_seconds) < b.max_replica_hours || desired <= input.current {
            return desired;
        }
        let floor = reactive
            .unwrap_or(input.current)
            .max(input.current)
            .clamp(lim.min_replicas, lim.max_replicas);
        if desired > floor {
            steps.push(Step::new("budget", floor, Reason::BudgetExhausted));
            return floor;
        }
        desired
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::proptest_cases;
    use crate::reactive::hpa::behavior::{
        HpaBehavior, HpaScalingPolicy, HpaScalingRules, PolicyType, SelectPolicy, scale_down_limit, scale_up_limit,
    };
    use proptest::prelude::*;

    fn input(
        now: i64,
        current: u32,
        reactive: Option<u32>,
        age: Option<i64>,
        predictive: Option<Result<u32, NoPlan>>,
    ) -> GovernorInput {
        GovernorInput {
            now,
            current,
            reactive,
            metric_age_seconds: age,
            predictive,
            limits: None,
            safety_floor: None,
            burst: None,
            implausible: false,
            rule: None,
        }
    }

    fn reasons(g: &Governed) -> Vec<Reason> {
        g.steps.iter().map(|s| s.reason).collect()
    }

    #[test]
    fn governor_chain_table() {
        let cfg = |f: &dyn Fn(&mut GovernorConfig)| {
            let mut c = GovernorConfig::hpa_default(1, 50);
            c.behavior.scale_down.stabilization_window_seconds = 0;
            f(&mut c);
            c
        };
        let insane = Some(Err(NoPlan::ForecastInsane("NaN".into())));
        // (rule, config, input, expected desired, expected apply, a reason that must appear)
        let cases: Vec<(&str, GovernorConfig, GovernorInput, u32, bool, Reason)> = vec![
            (
                "default is max(predictive, reactive): forecast above",
                cfg(&|_| {}),
                input(0, 5, Some(6), Some(0), Some(Ok(9))),
                9,
                true,
                Reason::PredictiveAboveReactive,
            ),
            (
                "a low forecast never takes capacity below the reactive recommendation",
                cfg(&|_| {}),
                input(0, 5, Some(8), Some(0), Some(Ok(2))),
                8,
                true,
                Reason::ReactiveFloor,
            ),
            (
                "forecast mode without a safety floor stays at the reactive count",
                cfg(&|c| c.scale_in = ScaleIn::Forecast),
                input(0, 5, Some(5), Some(0), Some(Ok(3))),
                5,
                false,
                Reason::SafetyFloor,
            ),
            (
                "forecast mode: scale-in stops at the safety floor",
                cfg(&|c| c.scale_in = ScaleIn::Forecast),
                GovernorInput {
                    safety_floor: Some(5),
                    ..input(0, 8, Some(8), Some(0), Some(Ok(3)))
                },
                5,
                true,
                Reason::SafetyFloor,
            ),
            (
                "forecast mode: the safety floor is never above the reactive count",
                cfg(&|c| c.scale_in = ScaleIn::Forecast),
                GovernorInput {
                    safety_floor: Some(9),
                    ..input(0, 8, Some(6), Some(0), Some(Ok(3)))
                },
                6,
                true,
                Reason::SafetyFloor,
            ),
            (
                "forecast mode: a forecast above the floor scales in to the forecast",
                cfg(&|c| c.scale_in = ScaleIn::Forecast),
                GovernorInput {
                    safety_floor: Some(2),
                    ..input(0, 8, Some(6), Some(0), Some(Ok(3)))
                },
                3,
                true,
                Reason::ForecastScaleIn,
            ),
            (
                "reactive mode ignores the safety floor",
                cfg(&|_| {}),
                GovernorInput {
                    safety_floor: Some(2),
                    ..input(0, 8, Some(6), Some(0), Some(Ok(3)))
                },
                6,
                true,
                Reason::ReactiveFloor,
            ),
            (
                "a latency rule above the others raises the count",
                cfg(&|_| {}),
                GovernorInput {
                    rule: Some(7),
                    ..input(0, 5, Some(5), Some(0), Some(Ok(4)))
                },
                7,
                true,
                Reason::LatencyRule,
            ),
            (
                "a rule's scale-down stops at the reactive floor (reactive scale-in)",
                cfg(&|_| {}),
                GovernorInput {
                    rule: Some(3),
                    ..input(0, 8, Some(6), Some(0), Some(Ok(2)))
                },
                6,
                true,
                Reason::ReactiveFloor,
            ),
            (
                "a rule's scale-down stops at the safety floor (forecast scale-in)",
                cfg(&|c| c.scale_in = ScaleIn::Forecast),
                GovernorInput {
                    rule: Some(3),
                    safety_floor: Some(5),
                    ..input(0, 8, Some(8), Some(0), Some(Ok(2)))
                },
                5,
                true,
                Reason::SafetyFloor,
            ),
            (
                "a rule holding the count keeps it against a lower forecast and HPA",
                cfg(&|_| {}),
                GovernorInput {
                    rule: Some(8),
                    ..input(0, 8, Some(3), Some(0), Some(Ok(2)))
                },
                8,
                false,
                Reason::LatencyRule,
            ),
            (
                "a rule still raises when demand metrics are stale",
                cfg(&|_| {}),
                GovernorInput {
                    rule: Some(6),
                    ..input(0, 5, Some(5), None, Some(Ok(4)))
                },
                6,
                true,
                Reason::LatencyRule,
            ),
            (
                "the burst guard raises at once to what observed demand needs",
                cfg(&|_| {}),
                GovernorInput {
                    burst: Some(9),
                    ..input(0, 5, Some(6), Some(0), Some(Ok(5)))
                },
                9,
                true,
                Reason::BurstGuard,
            ),
            (
                "the burst guard never scales in",
                cfg(&|c| c.scale_in = ScaleIn::Forecast),
                GovernorInput {
                    burst: Some(4),
                    ..input(0, 8, Some(2), Some(0), Some(Ok(2)))
                },
                2,
                true,
                Reason::ReactiveFloor,
            ),
            (
                "stale metrics disable the predictive path and hold",
                cfg(&|_| {}),
                input(0, 5, Some(2), Some(600), Some(Ok(9))),
                5,
                false,
                Reason::StaleMetrics,
            ),
            (
                "missing metrics: hold, never scale down",
                cfg(&|_| {}),
                input(0, 5, None, None, Some(Ok(1))),
                5,
                false,
                Reason::StaleMetrics,
            ),
            (
                "a NaN/insane forecast is discarded; reactive decides",
                cfg(&|_| {}),
                input(0, 5, Some(7), Some(0), insane.clone()),
                7,
                true,
                Reason::ForecastDiscarded,
            ),
            (
                "an expired forecast is skipped",
                cfg(&|_| {}),
                input(0, 5, Some(4), Some(0), Some(Err(NoPlan::ForecastExpired))),
                4,
                true,
                Reason::ForecastExpired,
            ),
            (
                "a forecast alone may raise capacity",
                cfg(&|_| {}),
                input(0, 5, None, Some(0), Some(Ok(7))),
                7,
                true,
                Reason::ForecastOnlyRaises,
            ),
            (
                "a forecast alone may not lower capacity",
                cfg(&|_| {}),
                input(0, 5, None, Some(0), Some(Ok(2))),
                5,
                false,
                Reason::ForecastOnlyRaises,
            ),
            (
                "Off mode: nothing applied",
                cfg(&|c| c.mode = Mode::Off),
                input(0, 5, Some(9), Some(0), None),
                5,
                false,
                Reason::ModeOff,
            ),
            (
                "ForecastOnly mode: decided, recorded, not applied",
                cfg(&|c| c.mode = Mode::ForecastOnly),
                input(0, 5, Some(9), Some(0), None),
                9,
                false,
                Reason::ForecastOnly,
            ),
            (
                "bounds: maxReplicas",
                cfg(&|_| {}),
                input(0, 40, Some(80), Some(0), None),
                50,
                true,
                Reason::TooManyReplicas,
            ),
            (
                "bounds: a current count above max goes straight to max",
                cfg(&|_| {}),
                input(0, 60, Some(60), Some(0), None),
                50,
                true,
                Reason::TooManyReplicas,
            ),
            (
                "rate: default scale-up limit",
                cfg(&|_| {}),
                input(0, 2, Some(20), Some(0), None),
                6,
                true,
                Reason::ScaleUpLimit,
            ),
        ];
        for (doc, c, inp, want, apply, reason) in cases {
            let g = c.govern(&inp, &mut GovernorState::default());
            assert_eq!((g.desired, g.apply), (want, apply), "{doc}: {:?}", g.steps);
            assert!(reasons(&g).contains(&reason), "{doc}: {:?}", g.steps);
        }
    }

    #[test]
    fn budget_and_cooldown() {
        let mut c = GovernorConfig::hpa_default(1, 50);
        c.budget = Some(Budget {
            max_replica_hours: 10.0,
            window_seconds: 3600,
        });
        let mut st = GovernorState::default();
        // 20 replicas for 30 minutes uses the 10 replica-hour budget
        c.govern(&input(0, 20, Some(20), Some(0), None), &mut st);
        let g = c.govern(&input(1800, 20, Some(20), Some(0), Some(Ok(30))), &mut st);
        assert_eq!(g.desired, 20, "forecast growth stops at the budget: {:?}", g.steps);
        assert!(reasons(&g).contains(&Reason::BudgetExhausted));
        let g = c.govern(&input(1801, 20, Some(24), Some(0), Some(Ok(30))), &mut st);
        assert_eq!(g.desired, 24, "the reactive floor is never cut");

        let c = GovernorConfig::hpa_default(1, 50);
        let mut st = GovernorState::default();
        st.record_actuation(100, false);
        let g = c.govern(&input(130, 5, Some(9), Some(0), None), &mut st);
        assert_eq!((g.desired, g.apply), (5, false), "cooldown after a failed actuation");
        assert!(reasons(&g).contains(&Reason::ActuationCooldown));
        let g = c.govern(&input(161, 5, Some(9), Some(0), None), &mut st);
        assert_eq!(g.desired, 9, "cooldown over");
    }

    fn behavior_strategy() -> impl Strategy<Value = BehaviorConfig> {
        let policy = (
            prop_oneof![Just(PolicyType::Pods), Just(PolicyType::Percent)],
            1i64..200,
            1i64..120,
        )
            .prop_map(|(kind, value, period_seconds)| HpaScalingPolicy {
                kind,
                value,
                period_seconds,
            });
        let select = prop_oneof![
            Just(SelectPolicy::Max),
            Just(SelectPolicy::Min),
            Just(SelectPolicy::Disabled)
        ];
        let rules =
            (0i64..400, select, proptest::collection::vec(policy, 1..3)).prop_map(|(w, s, p)| HpaScalingRules {
                stabilization_window_seconds: Some(w),
                select_policy: Some(s),
                policies: Some(p),
                tolerance: None,
            });
        prop_oneof![
            Just(BehaviorConfig::default()),
            (rules.clone(), rules).prop_map(|(u, d)| BehaviorConfig::from_spec(Some(&HpaBehavior {
                scale_up: Some(u),
                scale_down: Some(d)
            }))
            .unwrap()),
        ]
    }

    type Tick = (i64, Option<u32>, Option<i64>, Option<u32>, bool);

    fn tick_strategy() -> impl Strategy<Value = Tick> {
        (
            1i64..90,
            proptest::option::weighted(0.9, 0u32..120),
            proptest::option::weighted(0.9, 0i64..300),
            proptest::option::of(0u32..120),
            any::<bool>(),
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(proptest_cases()))]

        /// Both scale-in modes keep their floors at every tick: reactive mode never scales in
        /// below the reactive count, forecast mode never below min(safety floor, reactive), and
        /// the burst guard never scales in.
        #[test]
        fn scale_in_modes_keep_their_floors(
            min in 0u32..4, span in 1u32..60, behavior in behavior_strategy(), forecast in any::<bool>(),
            ticks in proptest::collection::vec(
                (1i64..90, proptest::option::weighted(0.9, 0u32..80), proptest::option::weighted(0.9, 0u32..80),
                 proptest::option::of(0u32..80), proptest::option::of(0u32..80)),
                1..16,
            ),
        ) {
            let mut c = GovernorConfig::hpa_default(min, min + span);
            c.behavior = behavior;
            c.scale_in = if forecast { ScaleIn::Forecast } else { ScaleIn::Reactive };
            let mut st = GovernorState::default();
            let (mut current, mut now) = (min, 0);
            for (dt, reactive, predictive, floor, burst) in ticks {
                now += dt;
                let inp = GovernorInput {
                    safety_floor: floor,
                    burst,
                    ..input(now, current, reactive, Some(0), predictive.map(Ok))
                };
                let g = c.govern(&inp, &mut st);
                let cap = |x: u32| x.min(current).min(c.max_replicas);
                if let Some(r) = reactive {
                    let f = if forecast && predictive.is_some() { floor.map_or(r, |f| f.min(r)) } else { r };
                    prop_assert!(g.desired >= cap(f), "below its floor {f}: {:?}", g.steps);
                }
                if g.steps.iter().any(|s| s.reason == Reason::BurstGuard) {
                    prop_assert!(g.desired >= current.min(c.max_replicas), "burst scaled in: {:?}", g.steps);
                }
                if g.apply {
                    current = g.desired;
                }
            }
        }

        /// Invariants of the governor chain, checked at every tick of a random sequence:
        /// within [min, max]; no step beyond the selected rate policy; no scale-down inside the
        /// stabilization window; no scale-down on stale or missing data.
        #[test]
        fn governor_invariants(
            min in 1u32..6, span in 0u32..60, behavior in behavior_strategy(), scale_in in any::<bool>(),
            ticks in proptest::collection::vec(tick_strategy(), 1..12),
        ) {
            let mut c = GovernorConfig::hpa_default(min, min + span);
            c.behavior = behavior;
            c.scale_in = if scale_in { ScaleIn::Forecast } else { ScaleIn::Reactive };
            let mut st = GovernorState::default();
            let mut current = min;
            let mut now = 0;
            for (dt, reactive, age, predictive, insane) in ticks {
                now += dt;
                let pred = predictive.map(|p| if insane { Err(NoPlan::ForecastInsane("x".into())) } else { Ok(p) });
                let before = st.clone();
                let g = c.govern(&input(now, current, reactive, age, pred), &mut st);
                prop_assert!(g.desired >= c.min_replicas && g.desired <= c.max_replicas, "bounds: {:?}", g.steps);
                let mut seeded = before.behavior.clone();
                seeded.maybe_init(&c.behavior, now, current);
                if g.desired > current {
                    let limit = scale_up_limit(&c.behavior.scale_up, &seeded, now, current).max(current as i64);
                    prop_assert!(g.desired as i64 <= limit, "up rate: {} > {limit}", g.desired);
                }
                if g.desired < current {
                    let limit = scale_down_limit(&c.behavior.scale_down, &seeded, now, current).min(current as i64);
                    prop_assert!(g.desired as i64 >= limit.max(c.min_replicas as i64), "down rate: {} < {limit}", g.desired);
                    let w = c.behavior.scale_down.stabilization_window_seconds;
                    let window_max = st.behavior.recommendations.iter().filter(|(t, _)| *t > now - w).map(|(_, r)| *r).max().unwrap_or(0);
                    prop_assert!(g.desired >= window_max.min(current), "stabilization: {} < {window_max}", g.desired);
                }
                if age.is_none_or(|a| a > c.max_metric_age_seconds) {
                    prop_assert!(g.desired >= current, "scaled down on stale data: {:?}", g.steps);
                }
                if g.apply {
                    current = g.desired;
                }
            }
        }
    }
}
