//! The simulated container of the vertical replay, minute by minute:
//! - CPU is throttled in any minute in which usage exceeds the CPU limit;
//! - memory above the memory limit is an OOM kill: the container is down for the restart time,
//!   and every down minute is a violation minute;
//! - a resize takes effect after the resize delay.
//!
//! Limits keep the spec's limit-to-request ratio. An unset request (0) has no limit, as a
//! BestEffort container.

use crate::plan::vertical::recommender::Resources;
use serde::Serialize;
use std::collections::VecDeque;

/// The container's fixed behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ContainerSpec {
    /// Limit ÷ request for CPU and memory (default 1).
    pub limit_ratio: f64,
    /// Minutes an OOM-killed container is down (default 1).
    pub restart_minutes: i64,
    /// Minutes from a resize until it takes effect (default 1).
    pub resize_delay_minutes: i64,
}

impl Default for ContainerSpec {
    fn default() -> Self {
        ContainerSpec {
            limit_ratio: 1.0,
            restart_minutes: 1,
            resize_delay_minutes: 1,
        }
    }
}

/// What one policy's container did over a replay (the `vertical.policies.<policy>` object).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct VerticalSummary {
    /// Minutes in which CPU usage exceeded the CPU limit.
    pub throttled_minutes: f64,
    /// OOM kills.
    pub oom_kills: u64,
    /// Minutes throttled or down after an OOM kill.
    pub violation_minutes: f64,
    /// Requested CPU integrated over time, core-hours.
    pub cpu_core_hours: f64,
    /// Requested memory integrated over time, GiB-hours.
    pub memory_gib_hours: f64,
    /// Resizes issued.
    pub resizes: u64,
}

impl VerticalSummary {
    /// Sum of two summaries (pods or containers).
    pub fn merge(&self, o: &VerticalSummary) -> VerticalSummary {
        VerticalSummary {
            throttled_minutes: self.throttled_minutes + o.throttled_minutes,
            oom_kills: self.oom_kills + o.oom_kills,
            violation_minutes: self.violation_minutes + o.violation_minutes,
            cpu_core_hours: self.cpu_core_hours + o.cpu_core_hours,
            memory_gib_hours: self.memory_gib_hours + o.memory_gib_hours,
            resizes: self.resizes + o.resizes,
        }
    }
}

/// What happened to one pod in one minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MinuteOutcome {
    /// CPU usage above the limit.
    pub throttled: bool,
    /// Killed this minute.
    pub oom: bool,
    /// Down (restarting after an OOM).
    pub down: bool,
}

/// One pod of the container.
#[derive(Debug, Clone)]
pub struct SimPod {
    spec: ContainerSpec,
    requests: Resources,
    pending: VecDeque<(i64, Resources)>,
    down_until: i64,
    /// Totals so far.
    pub summary: VerticalSummary,
}

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

impl SimPod {
    /// A pod with `requests` in effect.
    pub fn new(spec: ContainerSpec, requests: Resources) -> Self {
        SimPod {
            spec,
            requests,
            pending: VecDeque::new(),
            down_until: i64::MIN,
            summary: VerticalSummary::default(),
        }
    }

    /// The requests in effect.
    pub fn requests(&self) -> Resources {
        self.requests
    }

    /// Resizes at `minute`: effective after the delay (`immediate` for the oracle bound).
    pub fn resize(&mut self, minute: i64, to: Resources, immediate: bool) {
        let delay = if immediate {
            0
        } else {
            self.spec.resize_delay_minutes.max(0)
        };
        self.pending.push_back((minute + delay, to));
    }

    /// Plays one minute of usage (NaN: the pod is absent and costs nothing).
    pub fn step(&mut self, minute: i64, usage: Resources) -> MinuteOutcome {
        while self.pending.front().is_some_and(|&(at, _)| at <= minute) {
            if let Some((_, r)) = self.pending.pop_front() {
                self.requests = r;
            }
        }
        if !(usage.cpu_cores.is_finite() && usage.memory_bytes.is_finite()) {
            return MinuteOutcome::default();
        }
        let s = &mut self.summary;
        s.cpu_core_hours += self.requests.cpu_cores / 60.0;
        s.memory_gib_hours += self.requests.memory_bytes / GIB / 60.0;
        let limit = |r: f64| {
            if r > 0.0 {
                r * self.spec.limit_ratio.max(1.0)
            } else {
                f64::INFINITY
            }
        };
        let mut out = MinuteOutcome::default();
        if minute < self.down_until {
            out.down = true;
        } else if usage.memory_bytes > limit(self.requests.memory_bytes) {
            out.oom = true;
            out.down = true;
            s.oom_kills += 1;
            self.down_until = minute + self.spec.restart_minutes.max(1);
        } else if usage.cpu_cores > limit(self.requests.cpu_cores) {
            out.throttled = true;
            s.throttled_minutes += 1.0;
        }
        if out.down || out.throttled {
            s.violation_minutes += 1.0;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_oom_restart_and_delay() {
        let spec = ContainerSpec {
            limit_ratio: 1.0,
            restart_minutes: 2,
            resize_delay_minutes: 1,
        };
        let mut p = SimPod::new(spec, Resources::new(1.0, 100.0));
        // (minute, usage, resize issued this minute, want)
        let t = |throttled, oom, down| MinuteOutcome { throttled, oom, down };
        let cases = [
            (0, Resources::new(0.5, 50.0), None, t(false, false, false)),
            (
                1,
                Resources::new(1.5, 50.0),
                Some(Resources::new(2.0, 100.0)),
                t(true, false, false),
            ),
            // The resize from minute 1 has taken effect.
            (2, Resources::new(1.5, 50.0), None, t(false, false, false)),
            (3, Resources::new(1.5, 150.0), None, t(false, true, true)),
            (4, Resources::new(0.1, 10.0), None, t(false, false, true)),
            (5, Resources::new(0.1, 10.0), None, t(false, false, false)),
            (6, Resources::new(f64::NAN, f64::NAN), None, t(false, false, false)),
        ];
        for (m, u, resize, want) in cases {
            if let Some(r) = resize {
                p.resize(m, r, false);
            }
            assert_eq!(p.step(m, u), want, "minute {m}");
        }
        let s = p.summary;
        assert_eq!((s.throttled_minutes, s.oom_kills, s.violation_minutes), (1.0, 1, 3.0));
        // 2 minutes at 1 core, 4 at 2 cores; the absent minute costs nothing.
        assert!((s.cpu_core_hours - 10.0 / 60.0).abs() < 1e-12, "{s:?}");
    }

    #[test]
    fn unset_requests_have_no_limit_and_the_ratio_raises_it() {
        let mut p = SimPod::new(ContainerSpec::default(), Resources::new(0.0, 0.0));
        assert_eq!(p.step(0, Resources::new(5.0, 5e9)), MinuteOutcome::default());
        let spec = ContainerSpec {
            limit_ratio: 2.0,
            ..ContainerSpec::default()
        };
        let mut p = SimPod::new(spec, Resources::new(1.0, 100.0));
        assert_eq!(p.step(0, Resources::new(1.9, 190.0)), MinuteOutcome::default());
        assert!(p.step(1, Resources::new(2.1, 190.0)).throttled);
    }
}
