//! The vertical control step shared by `scale serve` and `scale evaluate --vertical`: usage in,
//! a governed size out, with a record of why. Pure: times are passed in.
//!
//! Two policies:
//! - `vpa`: the VPA recommender (`plan::vertical::recommender`) and updater
//!   (`govern::vertical::govern_vertical`), plus the updater's long-lived-pod rule;
//! - `predictive`: CPU sized for the coming peak within the lead, from the same phase on the
//!   previous days (usage has daily cycles); memory never below the recent peak plus the margin,
//!   lowered only after a stable period, then the resize governor (`limit_resize`).
//!
//! The usage is per pod (the max over a container's pods), so sizing a pod never reads the
//! demand signal horizontal scaling counts pods on.

use crate::govern::vertical::{
    ResizeInputs, ResizeLimits, VerticalBounds, clamp_min_max, govern_vertical, limit_reason, limit_resize,
};
use crate::plan::vertical::recommender::{
    ContainerUsage, Recommendation, RecommenderConfig, Resources, oom_bump, recommend,
};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// Which sizing a container gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum SizingPolicy {
    /// The VPA's recommender and updater semantics.
    Vpa,
    /// Forecast CPU for the coming peak; memory from the recent peak.
    #[default]
    Predictive,
}

/// Steps either side of a phase pooled into the seasonal quantile.
pub const POOL_STEPS: usize = 3;

/// The updater re-sizes a pod inside the recommended range once it has lived this long
/// (`podLifetimeUpdateThreshold`, `vertical-pod-autoscaler/pkg/updater/priority/`).
pub const VPA_LIFETIME_UPDATE_SECONDS: i64 = 12 * 3600;
/// ... when some request differs from its target by more than this (`defaultUpdateThreshold`).
pub const VPA_UPDATE_THRESHOLD: f64 = 0.10;

/// Everything the vertical step is configured with.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct VerticalConfig {
    /// Which sizing.
    pub policy: SizingPolicy,
    /// The VPA recommender's settings (margin, minimums, percentiles).
    pub recommender: RecommenderConfig,
    /// minAllowed, maxAllowed and the step limit.
    pub bounds: VerticalBounds,
    /// The predictive policy's churn limits.
    pub limits: ResizeLimits,
    /// Quantile, over the previous days, of the usage the predictive policy plans for.
    pub quantile: f64,
    /// Fraction the predictive policy adds to its CPU forecast (the VPA's margin is
    /// `recommender.safety_margin`).
    pub cpu_margin: f64,
    /// Seconds from a decision until the next one has taken effect: the resize delay plus the
    /// decision interval. The predictive policy sizes for the peak within it.
    pub lead_seconds: i64,
    /// Seconds of memory history whose peak memory is never sized below (default 24 h).
    pub memory_window_seconds: i64,
    /// Seconds memory must have stayed below the current request before it is lowered.
    pub memory_stable_seconds: i64,
    /// Days of history the predictive policy reads (at most 14).
    pub history_days: usize,
}

impl Default for VerticalConfig {
    fn default() -> Self {
        VerticalConfig {
            policy: SizingPolicy::Predictive,
            recommender: RecommenderConfig::default(),
            bounds: VerticalBounds {
                min: Resources::default(),
                max: Resources {
                    cpu_cores: f64::NAN,
                    memory_bytes: f64::NAN,
                },
                max_step_fraction: f64::INFINITY,
            },
            limits: ResizeLimits::default(),
            quantile: 0.9,
            cpu_margin: 0.15,
            lead_seconds: 360,
            memory_window_seconds: 86_400,
            memory_stable_seconds: 86_400,
            history_days: 7,
        }
    }
}

/// One container's usage at one time: the max over its pods, plus each pod's sample.
#[derive(Debug, Clone, Default)]
pub struct UsageSample {
    /// Unix seconds.
    pub time: i64,
    /// (CPU cores, memory bytes) of each pod; NaN entries are gaps.
    pub pods: Vec<Resources>,
}

/// One vertical decision, as `decisions.jsonl` and `/decisions` carry it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerticalRecord {
    /// Unix seconds.
    pub time: i64,
    /// The policy that decided.
    pub policy: SizingPolicy,
    /// The requests in effect before.
    pub current: Resources,
    /// The VPA recommendation (both policies compute it).
    pub recommendation: Option<Recommendation>,
    /// What the policy wanted, before the governor.
    pub desired: Resources,
    /// The requests to set (equal to `current` when held).
    pub applied: Resources,
    /// The predictive policy's forecast peak CPU within the lead, cores.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forecast_peak_cpu: Option<f64>,
    /// (stage, reason) for every governor stage.
    pub reasons: Vec<(String, String)>,
}

impl VerticalRecord {
    /// Whether the decision resizes.
    pub fn changed(&self) -> bool {
        self.applied != self.current
    }
}

/// Ring of the per-step max over pods, for the seasonal peak forecast.
#[derive(Debug, Clone)]
struct History {
    step: i64,
    last: Option<i64>,
    cpu: VecDeque<f64>,
    memory: VecDeque<(i64, f64)>,
    cap: usize,
}

impl History {
    fn push(&mut self, time: i64, cpu: f64, memory: f64) {
        if let Some(last) = self.last {
            if time <= last {
                return;
            }
            // Missing steps are gaps, so each slot stays at its phase of the day.
            let missing = ((time - last) / self.step - 1).clamp(0, self.cap as i64);
            for _ in 0..missing {
                self.cpu.push_back(f64::NAN);
            }
        }
        self.cpu.push_back(cpu);
        while self.cpu.len() > self.cap {
            self.cpu.pop_front();
        }
        if memory.is_finite() {
            self.memory.push_back((time, memory));
        }
        self.last = Some(time);
    }

    /// The value `back` steps before the newest (0 = the newest).
    fn at(&self, back: usize) -> Option<f64> {
        let n = self.cpu.len();
        (back < n).then(|| self.cpu[n - 1 - back]).filter(|v| v.is_finite())
    }
}

fn quantile(v: &mut [f64], q: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let i = ((q.clamp(0.0, 1.0) * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
    Some(v[i])
}

/// The vertical step of one container.
#[derive(Debug, Clone)]
pub struct VerticalController {
    config: VerticalConfig,
    usage: ContainerUsage,
    history: History,
    per_day: usize,
    latest: Option<(i64, Resources)>,
    recent_resizes: VecDeque<i64>,
    /// Since when the memory need has been below the current request.
    memory_low_since: Option<i64>,
    /// OOMs not yet answered, with the memory at the kill.
    pending_oom: Option<f64>,
    /// (time, memory needed) of OOMs in the memory window.
    ooms: VecDeque<(i64, f64)>,
    last_resize: Option<i64>,
}

impl VerticalController {
    /// `step`: seconds between usage samples (the decision interval in serve).
    pub fn new(config: VerticalConfig, step: i64) -> Self {
        let step = step.clamp(1, 86_400);
        let per_day = (86_400 / step).max(1) as usize;
        let days = config.history_days.clamp(1, 14);
        VerticalController {
            config,
            usage: ContainerUsage::new(),
            history: History {
                step,
                last: None,
                cpu: VecDeque::new(),
                memory: VecDeque::new(),
                cap: per_day * (days + 1),
            },
            per_day,
            latest: None,
            recent_resizes: VecDeque::new(),
            memory_low_since: None,
            pending_oom: None,
            ooms: VecDeque::new(),
            last_resize: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &VerticalConfig {
        &self.config
    }

    /// Feeds one sample; `request` is the CPU request in effect (the VPA's sample weight).
    pub fn observe(&mut self, s: &UsageSample, request: Resources) {
        let finite = |f: fn(&Resources) -> f64| {
            s.pods
                .iter()
                .map(f)
                .filter(|v| v.is_finite() && *v >= 0.0)
                .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))))
        };
        let (cpu, mem) = (finite(|r| r.cpu_cores), finite(|r| r.memory_bytes));
        for p in &s.pods {
            self.usage.add_cpu(p.cpu_cores, request.cpu_cores, s.time);
            self.usage.add_memory_peak(p.memory_bytes, s.time);
        }
        if cpu.is_none() && mem.is_none() {
            return;
        }
        self.history
            .push(s.time, cpu.unwrap_or(f64::NAN), mem.unwrap_or(f64::NAN));
        let window = self.config.memory_window_seconds;
        while self.history.memory.front().is_some_and(|&(t, _)| s.time - t > window) {
            self.history.memory.pop_front();
        }
        self.latest = Some((
            s.time,
            Resources {
                cpu_cores: cpu.unwrap_or(0.0),
                memory_bytes: mem.unwrap_or(0.0),
            },
        ));
    }

    /// An OOM kill at `time` with `memory_bytes` in use: the next memory size rises as the
    /// VPA's does (`RecordOOM`).
    pub fn record_oom(&mut self, time: i64, memory_bytes: f64) {
        self.usage.record_oom(memory_bytes, time);
        if memory_bytes.is_finite() && memory_bytes >= 0.0 {
            self.ooms.push_back((time, oom_bump(memory_bytes)));
            self.pending_oom = Some(memory_bytes);
        }
    }

    /// The CPU peak within the lead: at each step ahead, the configured quantile of the
    /// previous days' usage within ±`POOL_STEPS` of the same phase (pooled, so one noisy
    /// sample does not set the size), and never below the quantile of the last hour; plus how
    /// much the latest sample runs above its own seasonal quantile. None before a full day.
    pub fn forecast_peak_cpu(&self) -> Option<f64> {
        let h = &self.history;
        let (day, step) = (self.per_day, h.step);
        let days = (h.cpu.len().saturating_sub(1)) / day;
        if days == 0 {
            return None;
        }
        let q = self.config.quantile;
        let pool = POOL_STEPS.min(day / 2) as i64;
        let seasonal = |ahead: usize| {
            let mut v: Vec<f64> = (1..=days)
                .flat_map(|k| (-pool..=pool).map(move |j| (k * day) as i64 - ahead as i64 + j))
                .filter_map(|b| usize::try_from(b).ok().and_then(|b| h.at(b)))
                .collect();
            quantile(&mut v, q)
        };
        let now = h.at(0)?;
        let excess = seasonal(0).map_or(0.0, |s| (now - s).max(0.0));
        let lead = ((self.config.lead_seconds.max(step) + step - 1) / step) as usize;
        let peak = (1..=lead.min(day)).filter_map(seasonal).fold(f64::NAN, f64::max);
        let hour = (3600 / step).max(1) as usize;
        let mut recent: Vec<f64> = (0..hour).filter_map(|b| h.at(b)).collect();
        let recent = quantile(&mut recent, q).unwrap_or(now);
        Some(peak.max(recent) + excess)
    }

    /// Decides the requests to set at `now`, with `current` in effect.
    pub fn decide(&mut self, now: i64, current: Resources) -> VerticalRecord {
        let rec = recommend(&self.config.recommender, &self.usage);
        let mut record = VerticalRecord {
            time: now,
            policy: self.config.policy,
            current,
            recommendation: rec,
            desired: current,
            applied: current,
            forecast_peak_cpu: None,
            reasons: Vec::new(),
        };
        let Some((usage_time, usage)) = self.latest else {
            record.reasons.push(("usage".into(), limit_reason::NO_USAGE.into()));
            return record;
        };
        match self.config.policy {
            SizingPolicy::Vpa => self.decide_vpa(now, usage_time, &mut record),
            SizingPolicy::Predictive => self.decide_predictive(now, usage_time, usage, &mut record),
        }
        self.pending_oom = None;
        if record.changed() {
            self.last_resize = Some(now);
            self.recent_resizes.push_back(now);
        }
        while self.recent_resizes.front().is_some_and(|&t| now - t >= 3600) {
            self.recent_resizes.pop_front();
        }
        record
    }

    fn decide_vpa(&mut self, now: i64, usage_time: i64, record: &mut VerticalRecord) {
        let Some(rec) = record.recommendation else {
            return;
        };
        if now.saturating_sub(usage_time) > self.config.limits.stale_after_seconds {
            record.reasons.push(("stale".into(), limit_reason::STALE_DATA.into()));
            return;
        }
        let current = record.current;
        let mut d = govern_vertical(&self.config.bounds, &current, &rec);
        let diff = |c: f64, t: f64| if c > 0.0 { (t - c).abs() / c } else { f64::INFINITY };
        let long_lived = self.last_resize.is_none_or(|t| now - t >= VPA_LIFETIME_UPDATE_SECONDS);
        let significant = diff(current.cpu_cores, rec.target.cpu_cores)
            .max(diff(current.memory_bytes, rec.target.memory_bytes))
            > VPA_UPDATE_THRESHOLD;
        // An OOM-killed pod is updated at once (the updater's quick-OOM rule, simplified to
        // any OOM) and so is a long-lived pod far from its target: both move to the targets,
        // as outside the range, by collapsing the range onto the target.
        let forced = (self.pending_oom.is_some() && rec.target.memory_bytes > current.memory_bytes)
            || (long_lived && significant);
        if !d.changed && forced {
            let collapsed = Recommendation {
                lower_bound: rec.target,
                upper_bound: rec.target,
                ..rec
            };
            d = govern_vertical(&self.config.bounds, &current, &collapsed);
        }
        record.desired = rec.target;
        record.applied = Resources {
            cpu_cores: d.cpu.0,
            memory_bytes: d.memory.0,
        };
        record.reasons.push(("cpu".into(), d.cpu.1));
        record.reasons.push(("memory".into(), d.memory.1));
    }

    fn decide_predictive(&mut self, now: i64, usage_time: i64, usage: Resources, record: &mut VerticalRecord) {
        let cfg = self.config;
        let margin = 1.0 + cfg.recommender.safety_margin.max(0.0);
        let cpu_margin = 1.0 + cfg.cpu_margin.max(0.0);
        let peak = self.forecast_peak_cpu();
        record.forecast_peak_cpu = peak;
        // Before a day of history there is no phase to read: the VPA target stands in.
        let cpu = match (peak, record.recommendation) {
            (Some(p), _) => p * cpu_margin,
            (None, Some(r)) => r.target.cpu_cores.max(usage.cpu_cores * margin),
            (None, None) => usage.cpu_cores * margin,
        };
        while self
            .ooms
            .front()
            .is_some_and(|&(t, _)| now - t > cfg.memory_window_seconds)
        {
            self.ooms.pop_front();
        }
        let mem_peak = self.history.memory.iter().map(|&(_, m)| m).fold(0.0, f64::max);
        let oom_need = self.ooms.iter().map(|&(_, m)| m).fold(0.0, f64::max);
        let mut memory = (mem_peak * margin).max(oom_need);
        // Memory is not compressible: lower it only after a stable period below the request.
        let current = record.current;
        if memory < current.memory_bytes {
            let since = *self.memory_low_since.get_or_insert(now);
            if now - since < cfg.memory_stable_seconds {
                memory = current.memory_bytes;
            }
        } else {
            self.memory_low_since = None;
        }
        let clamp = |v: f64, lo: f64, hi: f64| clamp_min_max(v, lo, hi).0;
        let desired = Resources {
            cpu_cores: clamp(
                cpu,
                cfg.recommender.min_cpu_cores.max(cfg.bounds.min.cpu_cores),
                cfg.bounds.max.cpu_cores,
            ),
            memory_bytes: clamp(
                memory,
                cfg.recommender.min_memory_bytes.max(cfg.bounds.min.memory_bytes),
                cfg.bounds.max.memory_bytes,
            ),
        };
        record.desired = desired;
        let resizes: Vec<i64> = self.recent_resizes.iter().copied().collect();
        // maxAllowed is hard: the usage floor never lifts a request past it.
        let cap = |v: f64, max: f64| if max.is_nan() { v } else { v.min(max) };
        let inputs = ResizeInputs {
            now,
            current,
            usage: Resources::new(
                cap(usage.cpu_cores, cfg.bounds.max.cpu_cores),
                cap(usage.memory_bytes, cfg.bounds.max.memory_bytes),
            ),
            usage_time,
            recent_resizes: &resizes,
        };
        let (applied, steps) = limit_resize(&cfg.limits, &inputs, desired);
        record.applied = applied;
        record.reasons.extend(steps);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::vertical::histogram::MIB;

    fn sample(time: i64, cpu: f64, mem: f64) -> UsageSample {
        UsageSample {
            time,
            pods: vec![Resources::new(cpu, mem)],
        }
    }

    /// A daily cycle at 5-minute steps: 0.2 cores at night, 1.0 from 09:00 to 17:00.
    fn daily(t: i64) -> f64 {
        let hour = (t % 86_400) / 3600;
        if (9..17).contains(&hour) { 1.0 } else { 0.2 }
    }

    #[test]
    fn predictive_raises_before_the_daily_peak_and_lowers_after() {
        let cfg = VerticalConfig::default();
        let mut c = VerticalController::new(cfg, 300);
        let mut cur = Resources::new(0.0, 0.0);
        let at = |c: &mut VerticalController, cur: &mut Resources, t: i64| {
            c.observe(&sample(t, daily(t), 300.0 * MIB), *cur);
            let r = c.decide(t, *cur);
            *cur = r.applied;
            r
        };
        for t in (0..3 * 86_400).step_by(300) {
            at(&mut c, &mut cur, t);
        }
        // Day 4, 08:55: the 09:00 peak lies within the lead, so CPU rises before it arrives.
        let mut before = None;
        for t in (3 * 86_400..3 * 86_400 + 9 * 3600 - 300 + 1).step_by(300) {
            before = Some(at(&mut c, &mut cur, t));
        }
        let before = before.unwrap();
        assert!(before.forecast_peak_cpu.unwrap() >= 1.0, "{before:?}");
        assert!(cur.cpu_cores >= 1.0, "{before:?}");
        // At night CPU is sized for the trough, below the VPA's p90 target.
        for t in (3 * 86_400 + 9 * 3600..3 * 86_400 + 20 * 3600 + 1).step_by(300) {
            at(&mut c, &mut cur, t);
        }
        let vpa = recommend(&cfg.recommender, &c.usage).unwrap().target.cpu_cores;
        assert!(cur.cpu_cores < 0.5 && vpa > 1.0, "{cur:?} vpa {vpa}");
        // Memory is never below the recent peak plus the margin.
        assert!(cur.memory_bytes >= 300.0 * MIB * 1.15);
    }

    #[test]
    fn an_oom_raises_memory_for_both_policies() {
        for policy in [SizingPolicy::Vpa, SizingPolicy::Predictive] {
            let cfg = VerticalConfig {
                policy,
                ..VerticalConfig::default()
            };
            let mut c = VerticalController::new(cfg, 60);
            let mut cur = Resources::new(0.0, 0.0);
            for t in (0..7200).step_by(60) {
                c.observe(&sample(t, 0.5, 400.0 * MIB), cur);
                cur = c.decide(t, cur).applied;
            }
            let before = cur.memory_bytes;
            c.record_oom(7200, before);
            c.observe(&sample(7200, 0.5, 400.0 * MIB), cur);
            let r = c.decide(7200, cur);
            assert!(
                r.applied.memory_bytes >= oom_bump(before) * 0.999,
                "{policy:?}: {before} → {r:?}"
            );
        }
    }

    #[test]
    fn no_usage_and_stale_usage_hold() {
        for policy in [SizingPolicy::Vpa, SizingPolicy::Predictive] {
            let cfg = VerticalConfig {
                policy,
                ..VerticalConfig::default()
            };
            let mut c = VerticalController::new(cfg, 60);
            let cur = Resources::new(1.0, 1e9);
            let r = c.decide(0, cur);
            assert_eq!((r.applied, r.reasons[0].1.as_str()), (cur, "NoUsage"));
            c.observe(&sample(0, 0.1, 1e8), cur);
            let r = c.decide(601, cur);
            assert_eq!(r.applied, cur, "{policy:?}");
            assert!(r.reasons.iter().any(|(_, w)| w == "StaleData"), "{policy:?} {r:?}");
        }
    }
}
