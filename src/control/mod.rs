//! The control step shared by the live loop and the simulator: observation (+ forecast) →
//! reactive and predictive recommendations → governor → decision record. Pure: the record says
//! whether to apply; the caller actuates and reports back ([`Controller::record_actuation`]).
//! One path: `evaluate` drives this exact code against the simulated cluster.

use crate::core::reason::Step;
use crate::govern::{GovernorConfig, GovernorInput, GovernorState, Limits, Mode, ScaleIn};
use crate::plan::horizontal::{ForecastWindow, NoPlan, PlanConfig, plan, point_at, upper_95_at};
use crate::reactive::hpa::replica::{HpaUtilization, PodsView, recommend};
use crate::reactive::rules::eval::RuleRecord;
use serde::{Deserialize, Serialize};

pub mod vertical;

/// Which recommendations feed the governor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyKind {
    /// max(predictive, reactive), governed.
    Predictive,
    /// The HPA alone, governed.
    Reactive,
}

/// Half-life of the forecast-error memory, in forecast steps: long enough that one noisy point
/// does not move the plan, short enough that a day's wrong seasonal peak is corrected within it.
pub const BIAS_HALF_LIFE_STEPS: f64 = 3.0;

/// One target's control settings: the planner, the reactive HPA and the governor.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ControlConfig {
    /// Predictive (forecast and HPA) or reactive (HPA alone).
    pub policy: PolicyKind,
    /// How a forecast becomes a replica count: the quantile, capacity per replica, utilization.
    pub plan: PlanConfig,
    /// The reactive recommendation's target utilization and tolerance.
    pub hpa: HpaUtilization,
    /// The clamps between recommendations and the actuator.
    pub governor: GovernorConfig,
    /// How far ahead capacity must be right: pod start-up plus one tick.
    pub lead_seconds: i64,
}

/// What the controller sees at a tick.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observation {
    /// The tick's time, unix seconds.
    pub now: i64,
    /// Replicas the target has (spec), ready or not.
    pub current_replicas: u32,
    /// Replicas ready to serve; only they share the demand in the reactive path.
    pub ready_replicas: u32,
    /// Current demand (requests/s); None when the metric is missing.
    pub demand: Option<f64>,
    /// Age of the demand sample in seconds.
    pub metric_age_seconds: i64,
    /// The fetched demand failed the plausibility check (`demand` is then None).
    pub demand_rejected: bool,
}

/// What a tick passes in beside the observation: the bounds and mode in force (the target's own
/// maximum, forecast-only on a follower) and the capacity the active model carries. None of it is
/// written back into the controller's config.
#[derive(Debug, Clone, PartialEq)]
pub struct Inputs {
    /// The bounds and mode for this tick.
    pub limits: Limits,
    /// Load per replica at the SLO from the active model's capacity fit; replaces the configured
    /// capacity × utilization when set.
    pub load_per_replica_at_slo: Option<f64>,
    /// The latency rule attached to the service, evaluated on this tick's windows (`[rules]`).
    pub rule: Option<RuleRecord>,
}

/// Why a tick decided what it did: inputs, the forecast used, every clamp, the result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionRecord {
    /// The tick's time, unix seconds.
    pub time: i64,
    /// The policy that decided.
    pub policy: PolicyKind,
    /// The mode in force for this tick.
    pub mode: Mode,
    /// From the observation.
    pub current_replicas: u32,
    /// From the observation.
    pub ready_replicas: u32,
    /// Observed demand (requests/s); None when the metric was missing.
    pub demand: Option<f64>,
    /// Age of the demand sample in seconds.
    pub metric_age_seconds: i64,
    /// The reactive recommendation on the observed demand: the HPA's for the reactive policy;
    /// for the predictive one, the count a standalone HPA would run on this demand (its own
    /// recommendation through its behavior). None without demand.
    pub reactive: Option<u32>,
    /// The planner's recommendation; None for the reactive policy or when no plan was made.
    pub predictive: Option<u32>,
    /// The forecast demand quantile planned for, if a forecast was used.
    pub forecast_peak: Option<f64>,
    /// The quantile of the forecast the planner aims at (0.9, say).
    pub forecast_quantile: f64,
    /// Why the forecast was not used, if it was not.
    pub forecast_skipped: Option<NoPlan>,
    /// The governor's steps, in order.
    pub steps: Vec<Step>,
    /// Forecast scale-in mode: the replicas observed demand needs at the planned load per
    /// replica, below which the forecast may not scale in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub safety_floor: Option<u32>,
    /// The burst guard's count, when observed demand left the forecast band with pods short.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<u32>,
    /// Observed demand extrapolated along its rising trend to the lead, when it was above the
    /// forecast peak and so planned for instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trend_demand: Option<f64>,
    /// How much the planned quantiles were lowered for the forecast's recent over-forecasting
    /// (requests/s, negative), when they were.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forecast_bias: Option<f64>,
    /// The attached latency rule's verdict, when the service has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<RuleRecord>,
    /// The governed replica count.
    pub desired_replicas: u32,
    /// Whether the caller should actuate (Auto mode and a change).
    pub applied: bool,
    /// The actuator's error, if it failed.
    pub actuation_error: Option<String>,
}

/// The control step for one target, with the governor's state across ticks.
#[derive(Debug, Clone)]
pub struct Controller {
    /// The settings; a tick's [`Inputs`] override bounds, mode and capacity without writing here.
    pub config: ControlConfig,
    state: GovernorState,
    /// The previous observed demand, for the short-term trend.
    last_demand: Option<(i64, f64)>,
    /// The predictive policy's reactive floor: a standalone HPA on the same demand (its own
    /// count and behavior state), so the floor is what the HPA alone would run.
    shadow: Option<(u32, GovernorState)>,
    /// Recent forecast error at the tick (observed − point), decayed: (last update, value).
    bias: Option<(i64, f64)>,
}

impl Controller {
    /// A controller with fresh governor state.
    pub fn new(config: ControlConfig) -> Self {
        Controller {
            config,
            state: GovernorState::default(),
            last_demand: None,
            shadow: None,
            bias: None,
        }
    }

    /// The configured inputs: the config's bounds and mode, no fitted capacity.
    pub fn configured(&self) -> Inputs {
        Inputs {
            limits: self.config.governor.limits(),
            load_per_replica_at_slo: self.config.plan.load_per_replica_at_slo,
            rule: None,
        }
    }

    /// One tick without side effects: the record says whether to apply.
    pub fn decide(
        &mut self,
        obs: Observation,
        forecast: Option<ForecastWindow<'_>>,
        inputs: &Inputs,
    ) -> DecisionRecord {
        let plan_cfg = PlanConfig {
            load_per_replica_at_slo: inputs.load_per_replica_at_slo,
            ..self.config.plan
        };
        let age = obs.demand.map(|_| obs.metric_age_seconds);
        let reactive = match self.config.policy {
            PolicyKind::Reactive => obs
                .demand
                .and_then(|d| hpa_recommend(&self.config, &plan_cfg, obs.current_replicas, obs.ready_replicas, d)),
            PolicyKind::Predictive => self.shadow_hpa(&obs, &plan_cfg, inputs.limits),
        };
        let trend = self.trend(&obs);
        let bias = forecast.map(|w| self.bias(&obs, w)).unwrap_or(0.0);
        let c = &self.config;
        let mut burst = None;
        let mut safety_floor = None;
        let planned = match c.policy {
            PolicyKind::Predictive => Some(match forecast {
                Some(w) => plan(obs.now, c.lead_seconds, w, &plan_cfg, obs.demand, bias).map(|mut p| {
                    // Demand climbing faster than the forecast: plan for where the trend
                    // reaches when the pods requested now are ready.
                    if let Some(t) = trend.filter(|t| *t > p.peak_demand) {
                        p.replicas = p.replicas.max(plan_cfg.replicas_for(t));
                    }
                    if let (Some(d), Some(top)) = (obs.demand, upper_95_at(w, obs.now)) {
                        let need = plan_cfg.replicas_for(d);
                        if d > top && need > obs.current_replicas {
                            burst = Some(need);
                        }
                    }
                    p
                }),
                None => Err(NoPlan::ForecastExpired),
            }),
            PolicyKind::Reactive => None,
        };
        let trend_demand = match &planned {
            Some(Ok(p)) => trend.filter(|t| *t > p.peak_demand),
            _ => None,
        };
        if c.governor.scale_in == ScaleIn::Forecast && planned.is_some() {
            safety_floor = obs.demand.map(|d| plan_cfg.replicas_for(d));
        }
        let input = GovernorInput {
            now: obs.now,
            current: obs.current_replicas,
            reactive,
            metric_age_seconds: age,
            predictive: planned.clone().map(|p| p.map(|p| p.replicas)),
            limits: Some(inputs.limits),
            safety_floor,
            burst,
            implausible: obs.demand_rejected,
            // A rule whose latest window is older than the staleness bound is not heard.
            rule: inputs
                .rule
                .as_ref()
                .filter(|r| {
                    r.metric_age_seconds
                        .is_some_and(|a| a <= c.governor.max_metric_age_seconds)
                })
                .and_then(|r| r.desired),
        };
        let g = c.governor.govern(&input, &mut self.state);
        DecisionRecord {
            time: obs.now,
            policy: c.policy,
            mode: inputs.limits.mode,
            current_replicas: obs.current_replicas,
            ready_replicas: obs.ready_replicas,
            demand: obs.demand,
            metric_age_seconds: obs.metric_age_seconds,
            reactive,
            predictive: planned.as_ref().and_then(|p| p.as_ref().ok()).map(|p| p.replicas),
            forecast_peak: planned.as_ref().and_then(|p| p.as_ref().ok()).map(|p| p.peak_demand),
            forecast_quantile: plan_cfg.quantile,
            forecast_skipped: planned.and_then(|p| p.err()),
            steps: g.steps,
            safety_floor,
            burst,
            trend_demand,
            forecast_bias: (bias < 0.0).then_some(bias),
            rule: inputs.rule.clone(),
            desired_replicas: g.desired,
            applied: g.apply,
            actuation_error: None,
        }
    }

    /// The standalone HPA's count on this demand: its own recommendation (all its pods ready),
    /// through the same behavior and bounds. None without demand.
    fn shadow_hpa(&mut self, obs: &Observation, plan_cfg: &PlanConfig, limits: Limits) -> Option<u32> {
        let c = &self.config;
        let d = obs.demand?;
        let (count, state) = self
            .shadow
            .get_or_insert_with(|| (obs.current_replicas, GovernorState::default()));
        let rec = hpa_recommend(c, plan_cfg, *count, *count, d);
        let input = GovernorInput {
            now: obs.now,
            current: *count,
            reactive: rec,
            metric_age_seconds: Some(obs.metric_age_seconds),
            predictive: None,
            limits: Some(Limits {
                mode: Mode::Auto,
                ..limits
            }),
            safety_floor: None,
            burst: None,
            implausible: false,
            rule: None,
        };
        let hpa = GovernorConfig {
            scale_in: ScaleIn::Reactive,
            budget: None,
            ..c.governor.clone()
        };
        *count = hpa.govern(&input, state).desired;
        Some(*count)
    }

    /// How far the forecast has recently run above observed demand: the error at each tick
    /// (observed − point), decayed with a half-life of [`BIAS_HALF_LIFE_STEPS`] of the forecast's
    /// steps, and only when negative. A model that keeps over-forecasting (a seasonal peak that
    /// does not come, a level that has dropped) is lowered by that much; an under-forecast is left
    /// to the trend and the burst guard, which react within a tick.
    fn bias(&mut self, obs: &Observation, w: ForecastWindow<'_>) -> f64 {
        let (Some(d), Some(p)) = (obs.demand, point_at(w, obs.now)) else {
            return self.bias.map_or(0.0, |b| b.1.min(0.0));
        };
        let err = d - p;
        let half = BIAS_HALF_LIFE_STEPS * w.step.max(1) as f64;
        let b = match self.bias {
            Some((t, b)) if obs.now >= t => b + (1.0 - 0.5f64.powf((obs.now - t) as f64 / half)) * (err - b),
            _ => err,
        };
        let b = if b.is_finite() { b } else { 0.0 };
        self.bias = Some((obs.now, b));
        b.min(0.0)
    }

    /// Observed demand extrapolated by its rising slope to when pods requested now are ready.
    fn trend(&mut self, obs: &Observation) -> Option<f64> {
        let d = obs.demand?;
        let prev = self.last_demand.replace((obs.now, d));
        let (t0, d0) = prev?;
        (obs.now > t0).then(|| {
            let slope = ((d - d0) / (obs.now - t0) as f64).max(0.0);
            d + slope * self.config.lead_seconds as f64
        })
    }

    /// Reports what the target did with an applied decision (failures start the cooldown).
    pub fn record_actuation(&mut self, now: i64, ok: bool) {
        self.state.record_actuation(now, ok);
    }
}

/// The HPA's recommendation on aggregate numbers. From zero pods it answers as an activator
/// would: the count the demand needs at the target utilization (zero for no demand).
fn hpa_recommend(c: &ControlConfig, plan_cfg: &PlanConfig, current: u32, ready: u32, d: f64) -> Option<u32> {
    if current == 0 {
        let per = plan_cfg.capacity_per_replica * c.hpa.target_utilization;
        return (d.is_finite() && per > 0.0).then(|| (d.max(0.0) / per).ceil() as u32);
    }
    recommend(
        &c.hpa,
        &PodsView {
            current,
            ready,
            ready_usage: d,
            per_pod_capacity: plan_cfg.capacity_per_replica,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::proptest_cases;
    use crate::forecast::Forecast;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(proptest_cases()))]

        /// ForecastOnly and Off never say apply (the only way a target is written), whatever the
        /// inputs.
        #[test]
        fn dry_modes_never_actuate(
            mode in prop_oneof![Just(Mode::Off), Just(Mode::ForecastOnly)],
            ticks in proptest::collection::vec((1i64..60, 0.0f64..500.0, 0u32..10), 1..12),
        ) {
            let mut gov = GovernorConfig::hpa_default(1, 100);
            gov.mode = mode;
            let mut ctl = Controller::new(ControlConfig {
                policy: PolicyKind::Predictive,
                plan: PlanConfig {
                    quantile: 0.9,
                    capacity_per_replica: 10.0,
                    target_utilization: 0.8,
                    load_per_replica_at_slo: None,
                },
                hpa: HpaUtilization { target_utilization: 0.8, tolerance: 0.1 },
                governor: gov,
                lead_seconds: 60,
            });
            let f = Forecast::from_sigma(vec![300.0; 200], &[10.0; 200]);
            let inputs = ctl.configured();
            let mut now = 0;
            for (dt, demand, unready) in ticks {
                now += dt;
                let current = 3;
                let obs = Observation { now, current_replicas: current, ready_replicas: current.saturating_sub(unready), demand: Some(demand), metric_age_seconds: 0, demand_rejected: false };
                let rec = ctl.decide(obs, Some(ForecastWindow { forecast: &f, origin: 0, step: 60 }), &inputs);
                prop_assert!(!rec.applied);
            }
        }
    }
}

#[cfg(test)]
mod floor_tests {
    use super::*;
    use crate::forecast::Forecast;

    /// A fresh observation at `now`: `replicas` all ready, `demand` current.
    pub(super) fn observed(now: i64, replicas: u32, demand: f64) -> Observation {
        Observation {
            now,
            current_replicas: replicas,
            ready_replicas: replicas,
            demand: Some(demand),
            metric_age_seconds: 0,
            demand_rejected: false,
        }
    }

    /// A window over `forecast` from time 0 with `step` seconds between points.
    pub(super) fn window(forecast: &Forecast, step: i64) -> ForecastWindow<'_> {
        ForecastWindow {
            forecast,
            origin: 0,
            step,
        }
    }

    pub(super) fn controller(policy: PolicyKind) -> Controller {
        Controller::new(ControlConfig {
            policy,
            plan: PlanConfig {
                quantile: 0.5,
                capacity_per_replica: 10.0,
                target_utilization: 0.8,
                load_per_replica_at_slo: None,
            },
            hpa: HpaUtilization {
                target_utilization: 0.8,
                tolerance: 0.1,
            },
            governor: GovernorConfig::hpa_default(1, 100),
            lead_seconds: 60,
        })
    }

    /// In reactive scale-in, a forecast below the HPA leaves the count exactly where a standalone
    /// HPA on the same demand would put it: its stabilization window counts once, not twice.
    #[test]
    fn a_low_forecast_follows_the_standalone_hpa_tick_for_tick() {
        // (what, demand per 30 s tick)
        let spike = |n: usize| {
            (0..40)
                .map(move |i| if i < n { 400.0 } else { 40.0 })
                .collect::<Vec<_>>()
        };
        let cases: Vec<(&str, Vec<f64>)> = vec![
            ("a spike then quiet", spike(4)),
            ("a long peak then quiet", spike(15)),
            ("steps down", (0..40).map(|i| 400.0 - 9.0 * i as f64).collect()),
            ("flat", vec![120.0; 40]),
        ];
        let low = Forecast::from_sigma(vec![1.0; 200], &[0.1; 200]);
        for (what, demand) in cases {
            let (mut pred, mut hpa) = (controller(PolicyKind::Predictive), controller(PolicyKind::Reactive));
            let inputs = pred.configured();
            let (mut pc, mut hc) = (5u32, 5u32);
            for (i, d) in demand.iter().enumerate() {
                let now = 30 * i as i64;
                let p = pred.decide(observed(now, pc, *d), Some(window(&low, 30)), &inputs);
                let h = hpa.decide(observed(now, hc, *d), None, &inputs);
                assert_eq!(p.desired_replicas, h.desired_replicas, "{what}: tick {i}");
                (pc, hc) = (p.desired_replicas, h.desired_replicas);
            }
        }
    }
}

#[cfg(test)]
mod bias_tests {
    use super::*;
    use crate::forecast::Forecast;

    /// A forecast that keeps running above observed demand is lowered by the decayed error; one
    /// that runs below, or on the mark, is left alone (the trend and burst guard handle rises).
    #[test]
    fn recent_over_forecasting_lowers_the_plan_and_nothing_else_does() {
        // (what, demand per 60 s tick, peak planned at the last tick (±1), bias recorded)
        let cases: Vec<(&str, Vec<f64>, f64, bool)> = vec![
            ("runs 100 above demand", vec![200.0; 30], 200.0, true),
            ("on the mark", vec![300.0; 30], 300.0, false),
            ("runs below demand", vec![350.0; 30], 300.0, false),
            // One low point out of thirty moves the plan by a fraction of its error, not all of it.
            ("one low point", [vec![300.0; 29], vec![100.0]].concat(), 259.0, true),
        ];
        // Wide bands, so the present never leaves the 95% band and only the bias can lower it.
        let f = Forecast::from_sigma(vec![300.0; 200], &[100.0; 200]);
        for (what, demand, want_peak, want_bias) in cases {
            let mut ctl = floor_tests::controller(PolicyKind::Predictive);
            let inputs = ctl.configured();
            let mut last = None;
            for (i, d) in demand.iter().enumerate() {
                let obs = floor_tests::observed(60 * i as i64, 40, *d);
                last = Some(ctl.decide(obs, Some(floor_tests::window(&f, 60)), &inputs));
            }
            let rec = last.expect("ticks");
            let peak = rec.forecast_peak.expect("planned");
            assert!((peak - want_peak).abs() <= 1.0, "{what}: peak {peak}, want {want_peak}");
            assert_eq!(
                rec.forecast_bias.is_some(),
                want_bias,
                "{what}: {:?}",
                rec.forecast_bias
            );
            let need = (peak / 8.0).ceil() as u32;
            assert!(
                rec.predictive.is_some_and(|p| p >= need),
                "{what}: {:?} < {need}",
                rec.predictive
            );
        }
    }
}
