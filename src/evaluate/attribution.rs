//! Why a policy violated the SLO and where it spent more than the oracle: every violation minute
//! and every excess replica-hour gets exactly one cause, so each table sums to its total.
//! Pure: it reads a finished replay (the run, the per-tick notes of the control step, the
//! forecasts it planned with); nothing here changes a decision.

use super::ForecastTrack;
use crate::core::reason::Reason;
use crate::plan::horizontal::upper_95_at;
use crate::sim::SimRun;
use std::collections::BTreeMap;

/// Why a violation minute happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cause {
    /// Demand was above the quantile that was planned for.
    UnderForecast,
    /// The plan was right, but the pods were not ready in time.
    Late,
    /// Capacity was removed before demand fell.
    EarlyScaleIn,
    /// Latency was above the SLO at or below the planned load per replica.
    CapacityModel,
    /// Demand rose above the 95% band faster than the lead time.
    Burst,
}

impl Cause {
    /// Every cause, in report order.
    pub const ALL: [Cause; 5] = [
        Cause::UnderForecast,
        Cause::Late,
        Cause::EarlyScaleIn,
        Cause::CapacityModel,
        Cause::Burst,
    ];

    /// The key in `violations_by_cause`.
    pub fn label(self) -> &'static str {
        match self {
            Cause::UnderForecast => "under_forecast",
            Cause::Late => "late",
            Cause::EarlyScaleIn => "early_scale_in",
            Cause::CapacityModel => "capacity_model",
            Cause::Burst => "burst",
        }
    }
}

/// Why a replica-hour above the oracle's was spent.
pub const EXCESS_CAUSES: [&str; 5] = [
    "quantile_margin",
    "reactive_floor",
    "stabilization",
    "min_replicas",
    "other",
];

/// What the control step decided at one tick, as much as attribution needs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TickNote {
    /// The combine step's reason (None: the governor held before combining).
    pub combine: Option<Reason>,
    /// The planner's count, if it planned.
    pub predictive: Option<u32>,
    /// The demand quantile planned for.
    pub peak: Option<f64>,
    /// The governed count.
    pub desired: u32,
    /// Whether the scale-down stabilization window held the count up.
    pub stabilized: bool,
    /// The first governor step that held a scale-up below the plan.
    pub held_by: Option<String>,
}

impl TickNote {
    /// The note of one decision record.
    pub fn of(rec: &crate::control::DecisionRecord) -> TickNote {
        let combine = rec.steps.iter().find(|s| s.step == "combine").map(|s| s.reason);
        let held_by = rec.predictive.and_then(|p| {
            (rec.desired_replicas < p && p > rec.current_replicas)
                .then(|| rec.steps.iter().find(|s| s.value < p && s.step != "combine"))
                .flatten()
                .map(|s| s.step.clone())
        });
        TickNote {
            combine,
            predictive: rec.predictive,
            peak: rec.forecast_peak,
            desired: rec.desired_replicas,
            stabilized: rec.steps.iter().any(|s| s.reason == Reason::ScaleDownStabilized),
            held_by,
        }
    }
}

impl TickNote {
    /// The note of a governed recommendation without a plan (the latency rules).
    pub fn of_governed(g: &crate::govern::Governed) -> TickNote {
        TickNote {
            combine: g.steps.iter().find(|s| s.step == "combine").map(|s| s.reason),
            desired: g.desired,
            stabilized: g.steps.iter().any(|s| s.reason == Reason::ScaleDownStabilized),
            ..TickNote::default()
        }
    }
}

/// What a replay is attributed against.
pub struct Context<'a> {
    /// Demand at each tick.
    pub demand: &'a [f64],
    /// The forecasts the policy planned with (None for a reactive policy).
    pub forecasts: Option<&'a ForecastTrack>,
    /// Tick times.
    pub times: &'a [i64],
    /// Seconds between ticks.
    pub tick: i64,
    /// Ticks from a decision to its pods being ready (start-up plus one tick).
    pub lead_ticks: usize,
    /// Demand one ready replica is planned to carry.
    pub per_replica: f64,
    /// The oracle's provisioned replicas per tick.
    pub oracle: &'a [u32],
    /// The lower bound on replicas.
    pub min_replicas: u32,
}

/// Minutes (or replica-hours) per cause; the values sum to the attributed total.
pub type ByCause = BTreeMap<String, f64>;

/// The attribution of one policy's replay.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attribution {
    /// Violation minutes per [`Cause`] label.
    pub violations: ByCause,
    /// `late` minutes by the governor step that held the scale-up (`lead` when none did: the
    /// lead was too short; `reactive` for a policy without a forecast).
    pub late_by_step: ByCause,
    /// Replica-hours above the oracle's per excess cause.
    pub excess: ByCause,
    /// Each tick's violation cause (None: no violation).
    pub per_tick: Vec<Option<Cause>>,
}

/// Attributes one replay. `notes[k]` is the decision at tick k (empty for the oracle).
pub fn attribute(run: &SimRun, notes: &[TickNote], cx: &Context<'_>) -> Attribution {
    let mut a = Attribution {
        violations: Cause::ALL.iter().map(|c| (c.label().to_string(), 0.0)).collect(),
        excess: EXCESS_CAUSES.iter().map(|c| (c.to_string(), 0.0)).collect(),
        ..Attribution::default()
    };
    let minutes = cx.tick as f64 / 60.0;
    for k in 0..run.violation.len() {
        let cause = run.violation[k].then(|| {
            let (cause, step) = violation_cause(run, notes, cx, k);
            if let Some(step) = step {
                *a.late_by_step.entry(step).or_default() += minutes;
            }
            *a.violations.entry(cause.label().into()).or_default() += minutes;
            cause
        });
        a.per_tick.push(cause);
        let over = run.replicas[k].saturating_sub(cx.oracle.get(k).copied().unwrap_or(0));
        if over > 0 {
            let label = excess_cause(run, notes, cx, k);
            *a.excess.entry(label.into()).or_default() += over as f64 * minutes / 60.0;
        }
    }
    a
}

/// The cause of the violation at tick `k`, and for `late` the step that held the scale-up.
pub fn violation_cause(run: &SimRun, notes: &[TickNote], cx: &Context<'_>, k: usize) -> (Cause, Option<String>) {
    let d = cx.demand[k];
    let ready = run.ready[k] as f64;
    if d <= ready * cx.per_replica {
        return (Cause::CapacityModel, None);
    }
    // The decision whose pods should be ready now.
    let j = k.saturating_sub(cx.lead_ticks);
    if let Some(w) = cx.forecasts.and_then(|t| t.window(j)) {
        let band = |i: usize| upper_95_at(w, cx.times[i]);
        if let (Some(top_k), Some(top_j)) = (band(k), band(j))
            && d > top_k
            && cx.demand[j] <= top_j
        {
            return (Cause::Burst, None);
        }
        if notes.get(j).and_then(|n| n.peak).is_some_and(|p| d > p) {
            return (Cause::UnderForecast, None);
        }
    }
    if (j + 1..=k).any(|i| run.replicas[i] < run.replicas[i - 1]) {
        return (Cause::EarlyScaleIn, None);
    }
    let step = match notes.get(j) {
        None => "lead".to_string(),
        Some(n) if n.predictive.is_none() => "reactive".to_string(),
        Some(n) => n.held_by.clone().unwrap_or_else(|| "lead".into()),
    };
    (Cause::Late, Some(step))
}

/// Why tick `k` ran more replicas than the oracle.
fn excess_cause(run: &SimRun, notes: &[TickNote], cx: &Context<'_>, k: usize) -> &'static str {
    if run.replicas[k] <= cx.min_replicas {
        return "min_replicas";
    }
    // The count at tick k was set by the decision before it.
    let Some(n) = k.checked_sub(1).and_then(|i| notes.get(i)) else {
        return "other";
    };
    if n.stabilized {
        return "stabilization";
    }
    match n.combine {
        Some(Reason::ReactiveFloor | Reason::SafetyFloor | Reason::DesiredWithinRange) => "reactive_floor",
        Some(
            Reason::PredictiveAboveReactive | Reason::ForecastScaleIn | Reason::ForecastOnlyRaises | Reason::BurstGuard,
        ) => "quantile_margin",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forecast::Forecast;

    /// A run of `ticks` with the given demand, provisioned and ready counts, violating where
    /// demand exceeds ready × 10.
    fn run_of(demand: &[f64], replicas: &[u32], ready: &[u32], violation: &[bool]) -> SimRun {
        let mut r = SimRun {
            replicas: replicas.to_vec(),
            ready: ready.to_vec(),
            violation: violation.to_vec(),
            p95: vec![None; demand.len()],
            ..SimRun::default()
        };
        r.summary.slo_violation_minutes = violation.iter().filter(|v| **v).count() as f64;
        r
    }

    /// One forecast from time 0, used at every tick.
    fn track(f: Forecast, step: i64, ticks: usize) -> ForecastTrack {
        ForecastTrack {
            step,
            forecasts: vec![(0, f)],
            at_tick: vec![Some(0); ticks],
        }
    }

    fn note(combine: Reason, predictive: Option<u32>, peak: Option<f64>, desired: u32) -> TickNote {
        TickNote {
            combine: Some(combine),
            predictive,
            peak,
            desired,
            ..TickNote::default()
        }
    }

    struct Case {
        doc: &'static str,
        demand: Vec<f64>,
        replicas: Vec<u32>,
        ready: Vec<u32>,
        notes: Vec<TickNote>,
        /// The forecast's point (and a ±1 band) per tick, or none.
        forecast: Option<Vec<f64>>,
        want: Cause,
        step: Option<&'static str>,
    }

    #[test]
    fn each_constructed_cause_is_attributed_to_it() {
        let p = Reason::PredictiveAboveReactive;
        let cases = vec![
            Case {
                doc: "ready capacity covered the planned load, latency still broke the SLO",
                demand: vec![10.0, 10.0, 10.0],
                replicas: vec![2, 2, 2],
                ready: vec![2, 2, 2],
                notes: vec![note(p, Some(2), Some(10.0), 2); 3],
                forecast: Some(vec![10.0; 8]),
                want: Cause::CapacityModel,
                step: None,
            },
            Case {
                doc: "demand above the planned quantile, inside the band",
                demand: vec![10.0, 10.0, 19.0],
                replicas: vec![2, 2, 2],
                ready: vec![2, 2, 2],
                notes: vec![note(p, Some(2), Some(10.0), 2); 3],
                forecast: Some(vec![10.0, 10.0, 18.5, 10.0, 10.0, 10.0]),
                want: Cause::UnderForecast,
                step: None,
            },
            Case {
                doc: "demand jumped above the 95% band within the lead",
                demand: vec![10.0, 10.0, 40.0],
                replicas: vec![2, 2, 2],
                ready: vec![2, 2, 2],
                notes: vec![note(p, Some(2), Some(10.0), 2); 3],
                forecast: Some(vec![10.0; 8]),
                want: Cause::Burst,
                step: None,
            },
            Case {
                doc: "capacity removed before demand fell",
                demand: vec![18.0, 18.0, 18.0],
                replicas: vec![4, 4, 1],
                ready: vec![4, 4, 1],
                notes: vec![note(p, Some(4), Some(18.0), 4); 3],
                forecast: Some(vec![18.0; 8]),
                want: Cause::EarlyScaleIn,
                step: None,
            },
            Case {
                doc: "the plan was right, the rate limit held the scale-up",
                demand: vec![30.0, 30.0, 30.0],
                replicas: vec![2, 3, 3],
                ready: vec![2, 2, 2],
                notes: vec![
                    TickNote {
                        held_by: Some("rate_limit".into()),
                        ..note(p, Some(6), Some(30.0), 3)
                    };
                    3
                ],
                forecast: Some(vec![30.0; 8]),
                want: Cause::Late,
                step: Some("rate_limit"),
            },
            Case {
                doc: "the plan was right and nothing held it: the lead was too short",
                demand: vec![30.0, 30.0, 30.0],
                replicas: vec![2, 6, 6],
                ready: vec![2, 2, 2],
                notes: vec![note(p, Some(6), Some(30.0), 6); 3],
                forecast: Some(vec![30.0; 8]),
                want: Cause::Late,
                step: Some("lead"),
            },
            Case {
                doc: "a reactive policy reacts after the load",
                demand: vec![10.0, 10.0, 30.0],
                replicas: vec![2, 2, 2],
                ready: vec![2, 2, 2],
                notes: vec![note(Reason::DesiredWithinRange, None, None, 2); 3],
                forecast: None,
                want: Cause::Late,
                step: Some("reactive"),
            },
        ];
        for c in cases {
            let violation: Vec<bool> = vec![false, false, true];
            let run = run_of(&c.demand, &c.replicas, &c.ready, &violation);
            let f = c
                .forecast
                .as_ref()
                .map(|p| track(Forecast::from_sigma(p.clone(), &vec![0.5; p.len()]), 60, 3));
            let cx = Context {
                demand: &c.demand,
                forecasts: f.as_ref(),
                times: &[0, 60, 120],
                tick: 60,
                lead_ticks: 1,
                per_replica: 5.0,
                oracle: &[0, 0, 0],
                min_replicas: 1,
            };
            let a = attribute(&run, &c.notes, &cx);
            assert_eq!(a.per_tick, vec![None, None, Some(c.want)], "{}", c.doc);
            assert_eq!(a.violations[c.want.label()], 1.0, "{}", c.doc);
            assert_eq!(
                a.late_by_step.keys().map(String::as_str).collect::<Vec<_>>(),
                c.step.into_iter().collect::<Vec<_>>(),
                "{}",
                c.doc
            );
        }
    }

    #[test]
    fn attribution_sums_to_the_totals() {
        // A seeded random replay: every violation minute and excess replica-hour is attributed.
        let mut rng = crate::core::rng::Rng::new(7);
        let n = 500;
        let demand: Vec<f64> = (0..n).map(|_| rng.uniform() * 100.0).collect();
        let replicas: Vec<u32> = (0..n).map(|_| 1 + (rng.uniform() * 20.0) as u32).collect();
        let ready: Vec<u32> = replicas
            .iter()
            .map(|r| r.saturating_sub((rng.uniform() * 3.0) as u32))
            .collect();
        let violation: Vec<bool> = demand.iter().zip(&ready).map(|(d, r)| *d > *r as f64 * 5.0).collect();
        let oracle: Vec<u32> = demand.iter().map(|d| (d / 5.0).ceil() as u32).collect();
        let reasons = [
            Reason::ReactiveFloor,
            Reason::PredictiveAboveReactive,
            Reason::SafetyFloor,
        ];
        let notes: Vec<TickNote> = (0..n)
            .map(|k| TickNote {
                stabilized: k % 7 == 0,
                ..note(reasons[k % 3], Some(replicas[k]), Some(demand[k]), replicas[k])
            })
            .collect();
        let run = run_of(&demand, &replicas, &ready, &violation);
        let f = track(Forecast::from_sigma(vec![50.0; n + 10], &vec![10.0; n + 10]), 30, n);
        let times: Vec<i64> = (0..n as i64).map(|k| k * 30).collect();
        let cx = Context {
            demand: &demand,
            forecasts: Some(&f),
            times: &times,
            tick: 30,
            lead_ticks: 4,
            per_replica: 5.0,
            oracle: &oracle,
            min_replicas: 1,
        };
        let a = attribute(&run, &notes, &cx);
        let total_minutes = violation.iter().filter(|v| **v).count() as f64 * 0.5;
        assert!(total_minutes > 0.0);
        assert!((a.violations.values().sum::<f64>() - total_minutes).abs() < 1e-9);
        let late: f64 = a.late_by_step.values().sum();
        assert!((late - a.violations["late"]).abs() < 1e-9);
        let excess: f64 = replicas
            .iter()
            .zip(&oracle)
            .map(|(r, o)| r.saturating_sub(*o) as f64 * 0.5 / 60.0)
            .sum();
        assert!((a.excess.values().sum::<f64>() - excess).abs() < 1e-9);
        assert_eq!(
            a.per_tick.iter().filter(|c| c.is_some()).count(),
            violation.iter().filter(|v| **v).count()
        );
    }
}
