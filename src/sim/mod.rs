//! The simulated cluster: pods become ready `startup` seconds after they are requested,
//! each ready pod serves up to `capacity_per_replica`, and latency follows the M/M/c model
//! in [`crate::capacity`]. A tick violates the SLO when demand exceeds ready capacity or
//! the modelled p95 exceeds the SLO. Policies are driven through a callback, so the
//! simulator never holds a second copy of decision logic.

pub mod container;
pub mod synth;

use crate::capacity::queue::QueueModel;
use crate::control::Observation;
use crate::core::series::Series;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Outcome of one policy over the replay window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PolicySummary {
    /// Minutes during which demand exceeded ready capacity or modelled p95 exceeded the SLO.
    pub slo_violation_minutes: f64,
    /// Provisioned (starting or ready) replicas integrated over time.
    pub replica_hours: f64,
    /// Ticks at which the policy changed the replica count.
    pub scaling_actions: u64,
    /// Mean of demand / ready capacity over ticks, capped at 1.
    pub mean_utilization: f64,
    /// Minutes with demand and no ready pod (a cold start, when the policy scales to zero).
    #[serde(default)]
    pub cold_start_minutes: f64,
    /// `slo_violation_minutes` by cause (`scale evaluate` fills it; the values sum to the total).
    #[serde(default)]
    pub violations_by_cause: BTreeMap<String, f64>,
    /// The `late` minutes by the governor step that held the scale-up.
    #[serde(default)]
    pub late_by_step: BTreeMap<String, f64>,
    /// Replica-hours above the oracle's, by cause (they sum to the positive part of the excess).
    #[serde(default)]
    pub excess_replica_hours_by_cause: BTreeMap<String, f64>,
}

fn add_maps(a: &BTreeMap<String, f64>, b: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
    let mut out = a.clone();
    for (k, v) in b {
        *out.entry(k.clone()).or_default() += v;
    }
    out
}

impl PolicySummary {
    /// Sums two services' outcomes; utilization is weighted by replica-hours.
    pub fn merge(&self, other: &PolicySummary) -> PolicySummary {
        let rh = self.replica_hours + other.replica_hours;
        let util = if rh > 0.0 {
            (self.mean_utilization * self.replica_hours + other.mean_utilization * other.replica_hours) / rh
        } else {
            0.0
        };
        PolicySummary {
            slo_violation_minutes: self.slo_violation_minutes + other.slo_violation_minutes,
            replica_hours: rh,
            scaling_actions: self.scaling_actions + other.scaling_actions,
            mean_utilization: util,
            cold_start_minutes: self.cold_start_minutes + other.cold_start_minutes,
            violations_by_cause: add_maps(&self.violations_by_cause, &other.violations_by_cause),
            late_by_step: add_maps(&self.late_by_step, &other.late_by_step),
            excess_replica_hours_by_cause: add_maps(
                &self.excess_replica_hours_by_cause,
                &other.excess_replica_hours_by_cause,
            ),
        }
    }
}

/// Demand between samples is linearly interpolated; outside the data it holds the edge value.
#[derive(Debug, Clone, Copy)]
pub struct DemandCurve<'a> {
    /// Demand samples (requests/s) on the series' own grid.
    pub series: &'a Series,
}

impl DemandCurve<'_> {
    /// Demand at `t` (unix seconds); 0 for an empty series.
    pub fn at(&self, t: i64) -> f64 {
        let s = self.series;
        if s.is_empty() {
            return 0.0;
        }
        let pos = (t - s.start) as f64 / s.step as f64;
        if pos <= 0.0 {
            return s.values[0];
        }
        let i = pos.floor() as usize;
        if i + 1 >= s.len() {
            return s.values[s.len() - 1];
        }
        let frac = pos - i as f64;
        s.values[i] * (1.0 - frac) + s.values[i + 1] * frac
    }
}

/// Pods by the time they become ready.
#[derive(Debug, Clone)]
pub(crate) struct Cluster {
    startup: i64,
    ready_at: Vec<i64>,
}

impl Cluster {
    /// A cluster with `initial` pods already ready at `now`.
    pub fn new(initial: u32, startup: i64, now: i64) -> Self {
        Cluster {
            startup,
            ready_at: vec![now; initial as usize],
        }
    }

    /// Pods requested so far, starting or ready.
    pub fn provisioned(&self) -> u32 {
        self.ready_at.len() as u32
    }

    /// Pods ready at `now`.
    pub fn ready(&self, now: i64) -> u32 {
        self.ready_at.iter().filter(|&&t| t <= now).count() as u32
    }

    /// Adds pods that become ready after start-up, or removes the least ready first
    /// (as a ReplicaSet deletes unready pods before ready ones).
    pub fn scale_to(&mut self, now: i64, n: u32) {
        let n = n as usize;
        if n > self.ready_at.len() {
            self.ready_at.resize(n, now + self.startup);
        } else {
            self.ready_at.sort_unstable();
            self.ready_at.truncate(n);
        }
    }
}

/// The replay window, the cluster's timing and the latency model.
#[derive(Debug, Clone, Copy)]
pub struct SimConfig {
    /// First tick, unix seconds.
    pub start: i64,
    /// End of the window, unix seconds (exclusive).
    pub end: i64,
    /// Seconds between ticks.
    pub tick: i64,
    /// Seconds from requesting a pod to its being ready.
    pub startup: i64,
    /// Per-replica capacity and workers, for the modelled p95.
    pub queue: QueueModel,
    /// The p95 latency SLO in seconds.
    pub slo_latency: f64,
    /// Pods already ready at `start`.
    pub initial_replicas: u32,
}

impl SimConfig {
    /// The tick times: `start`, `start + tick`, ... while before `end`.
    pub fn ticks(&self) -> impl Iterator<Item = i64> + '_ {
        (0..)
            .map(move |k| self.start + k * self.tick)
            .take_while(move |t| *t < self.end)
    }
}

/// One policy's replay: the summary and one entry per tick, measured before the policy acts.
#[derive(Debug, Clone, Default)]
pub struct SimRun {
    /// Totals over the window.
    pub summary: PolicySummary,
    /// Provisioned (starting or ready) replicas per tick.
    pub replicas: Vec<u32>,
    /// Ready replicas per tick.
    pub ready: Vec<u32>,
    /// Whether the tick violated the SLO.
    pub violation: Vec<bool>,
    /// Modelled p95 latency in seconds; `None` when unbounded (overload, or demand and no ready
    /// pod).
    pub p95: Vec<Option<f64>>,
}

/// Replays `demand` through a policy. At each tick the cluster is measured first, then the
/// policy decides from what a controller could see at that moment.
pub fn run(cfg: &SimConfig, demand: DemandCurve<'_>, mut policy: impl FnMut(Observation) -> u32) -> SimRun {
    let mut cluster = Cluster::new(cfg.initial_replicas, cfg.startup, cfg.start);
    let mut out = SimRun::default();
    let cap = cfg.queue.capacity_per_replica;
    let (mut util_sum, mut util_n) = (0.0, 0usize);
    for now in cfg.ticks() {
        let ready = cluster.ready(now);
        let d = demand.at(now);
        let p95 = if ready == 0 {
            if d > 0.0 { f64::INFINITY } else { 0.0 }
        } else {
            cfg.queue.p95(d / ready as f64)
        };
        let violated = d > ready as f64 * cap || p95 > cfg.slo_latency;
        if ready > 0 {
            util_sum += (d / (ready as f64 * cap)).min(1.0);
            util_n += 1;
        }
        let minutes = cfg.tick as f64 / 60.0;
        if violated {
            out.summary.slo_violation_minutes += minutes;
        }
        if ready == 0 && d > 0.0 {
            out.summary.cold_start_minutes += minutes;
        }
        out.summary.replica_hours += cluster.provisioned() as f64 * minutes / 60.0;
        out.replicas.push(cluster.provisioned());
        out.ready.push(ready);
        out.violation.push(violated);
        out.p95.push(p95.is_finite().then_some(p95));
        let current = cluster.provisioned();
        let desired = policy(Observation {
            now,
            current_replicas: current,
            ready_replicas: ready,
            demand: Some(d),
            metric_age_seconds: 0,
            demand_rejected: false,
        });
        if desired != current {
            out.summary.scaling_actions += 1;
            cluster.scale_to(now, desired);
        }
    }
    out.summary.mean_utilization = if util_n > 0 { util_sum / util_n as f64 } else { 0.0 };
    out
}

/// The perfect-foresight schedule: at each tick, the most replicas any tick up to one
/// start-up ahead will need, so every pod is ready in time and none lingers.
pub fn oracle_schedule(cfg: &SimConfig, demand: DemandCurve<'_>, min: u32, max: u32) -> Vec<u32> {
    let ticks: Vec<i64> = cfg.ticks().collect();
    let per = cfg.queue.max_load_at_slo(cfg.slo_latency);
    let need: Vec<u32> = ticks
        .iter()
        .map(|&t| {
            cfg.queue
                .replicas_at(demand.at(t), per, cfg.slo_latency)
                .clamp(min, max)
        })
        .collect();
    // ticks whose pods must be requested now: up to the first tick at or after now + startup
    let ahead = ((cfg.startup + cfg.tick - 1) / cfg.tick) as usize;
    (0..ticks.len())
        .map(|i| {
            need[i..(i + ahead + 1).min(need.len())]
                .iter()
                .copied()
                .max()
                .unwrap_or(min)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(startup: i64, end: i64) -> SimConfig {
        SimConfig {
            start: 0,
            end,
            tick: 10,
            startup,
            queue: QueueModel::new(10.0, 4),
            slo_latency: QueueModel::new(10.0, 4).p95(9.0),
            initial_replicas: 1,
        }
    }

    #[test]
    fn pods_are_ready_only_after_startup() {
        let mut c = Cluster::new(1, 60, 0);
        c.scale_to(0, 3);
        for (t, want) in [(0, 1), (30, 1), (59, 1), (60, 3), (100, 3)] {
            assert_eq!(c.ready(t), want, "t={t}");
        }
        assert_eq!(c.provisioned(), 3);
        // scaling down removes the pods that are not ready first
        c.scale_to(70, 5);
        c.scale_to(80, 3);
        assert_eq!(c.ready(80), 3);
        assert_eq!(c.ready(1000), 3);
    }

    #[test]
    fn sim_counts_startup_violations() {
        // demand jumps from 5 to 35 at t=100; a policy that asks for 4 pods as soon as it sees it
        let s = Series::new("s", 0, 100, vec![5.0, 35.0, 35.0, 35.0, 35.0]);
        let d = DemandCurve { series: &s };
        let c = cfg(60, 500);
        let run = run(&c, d, |o| if o.demand.unwrap() > 10.0 { 5 } else { 1 });
        // linear ramp from 5 to 35 over [0,100]: the pod count changes once the demand passes 10
        // `replicas` is measured before each tick's decision, so the request was one tick earlier
        let requested = run.replicas.iter().position(|&r| r == 5).unwrap() - 1;
        let ready_at = run.ready.iter().position(|&r| r == 5).unwrap();
        assert_eq!(
            (ready_at - requested) as i64 * c.tick,
            60,
            "pods ready exactly one start-up after the request"
        );
        assert!(run.summary.slo_violation_minutes > 0.0);
        assert_eq!(run.summary.scaling_actions, 1);
    }

    #[test]
    fn oracle_never_violates_within_bounds() {
        let vals: Vec<f64> = (0..60).map(|i| 5.0 + 40.0 * ((i as f64 / 7.0).sin().abs())).collect();
        let s = Series::new("s", 0, 50, vals);
        let d = DemandCurve { series: &s };
        let mut c = cfg(45, 2900);
        let sched = oracle_schedule(&c, d, 1, 100);
        c.initial_replicas = sched[0];
        let run = run(&c, d, |o| sched[((o.now - c.start) / c.tick) as usize]);
        assert_eq!(run.summary.slo_violation_minutes, 0.0, "{:?}", run.violation);
    }
}
