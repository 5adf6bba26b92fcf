//! Vertical (CPU/memory request) recommender with the Kubernetes VPA recommender's semantics,
//! extended by the forecast, plus a vertical governor. Pure: times are Unix seconds.
//!
//! Semantics follow kubernetes/autoscaler `vertical-pod-autoscaler/pkg/recommender/`:
//! `util/histogram{,_options}.go`, `util/decaying_histogram.go`, `model/aggregations_config.go`,
//! `model/aggregate_container_state.go`, `model/container.go`, `logic/{recommender,estimator}.go`,
//! `config/config.go`, and the updater's `pkg/updater/priority/priority_processor.go`.
//!
//! Deliberate differences (all documented where they apply):
//! - CPU samples are weighted by max(request, 0.1), the VPA rule until Feb 2025; upstream now
//!   uses a constant 0.1 (commit ca812b36a3). Passing `request_cores = 0.0` reproduces that.
//! - Memory peaks are kept per 24 h interval aligned to the Unix epoch (upstream aligns to the
//!   container's first sample) and late samples are merged into their interval, not discarded;
//!   for the same reason an OOM is never dropped as "too old".
//! - One container per recommendation, so the pod minimums are not split across containers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

const DAY: f64 = 86_400.0;
const MIB: f64 = 1024.0 * 1024.0;

/// CPU histogram: first bucket 0.01 core, up to 1000 cores (`cpuHistogramOptions`).
pub const CPU_FIRST_BUCKET_CORES: f64 = 0.01;
pub const CPU_MAX_CORES: f64 = 1000.0;
/// Memory histogram: first bucket 10 MB, up to 1 TB (`memoryHistogramOptions`).
pub const MEMORY_FIRST_BUCKET_BYTES: f64 = 1e7;
pub const MEMORY_MAX_BYTES: f64 = 1e12;
/// Each bucket is 5% wider than the previous (`DefaultHistogramBucketSizeGrowth`).
pub const BUCKET_RATIO: f64 = 1.05;
/// Minimal weight of a CPU sample before decay (`minSampleWeight`).
pub const MIN_SAMPLE_WEIGHT: f64 = 0.1;
/// Weights below this count as empty (`epsilon = 0.001 * minSampleWeight`).
pub const HISTOGRAM_EPSILON: f64 = 0.001 * MIN_SAMPLE_WEIGHT;
/// CPU and memory histogram half-life (`Default{CPU,Memory}HistogramDecayHalfLife`).
pub const HALF_LIFE_SECONDS: f64 = DAY;
/// The reference moves once a sample is this many half-lives past it (`maxDecayExponent`).
pub const MAX_DECAY_EXPONENT: f64 = 100.0;
/// One memory peak per interval (`DefaultMemoryAggregationInterval`).
pub const MEMORY_AGGREGATION_INTERVAL_SECONDS: i64 = 86_400;
/// OOM bump (`DefaultOOMBumpUpRatio`, `DefaultOOMMinBumpUp`).
pub const OOM_BUMP_UP_RATIO: f64 = 1.2;
pub const OOM_MIN_BUMP_UP_BYTES: f64 = 100.0 * MIB;
/// History length that counts as confidence 1 (`confidence-interval-{cpu,memory}` = 24h).
pub const CONFIDENCE_INTERVAL_SECONDS: f64 = DAY;
/// (multiplier, exponent) of the confidence scaling (`CreatePodResourceRecommender`).
pub const UPPER_CONFIDENCE: (f64, f64) = (1.0, 1.0);
pub const LOWER_CONFIDENCE: (f64, f64) = (0.001, -2.0);
/// Largest representable amount (`MaxResourceAmount` = 1e14 millicores / bytes).
pub const MAX_CPU_CORES: f64 = 1e11;
pub const MAX_MEMORY_BYTES: f64 = 1e14;

fn valid_amount(v: f64) -> bool {
    v.is_finite() && v >= 0.0
}

/// Exponential bucketing: bucket `b` starts at first·(ratio^b − 1)/(ratio − 1).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HistogramOptions {
    first_bucket_size: f64,
    ratio: f64,
    num_buckets: usize,
    epsilon: f64,
}

impl HistogramOptions {
    /// None unless every input is finite, positive, and ratio > 1.
    pub fn exponential(max_value: f64, first_bucket_size: f64, ratio: f64, epsilon: f64) -> Option<Self> {
        let inputs = [max_value, first_bucket_size, ratio, epsilon];
        if !inputs.iter().all(|v| v.is_finite() && *v > 0.0) || ratio <= 1.0 {
            return None;
        }
        let n = (max_value * (ratio - 1.0) / first_bucket_size + 1.0).log(ratio).ceil() as usize + 1;
        Some(Self {
            first_bucket_size,
            ratio,
            num_buckets: n,
            epsilon,
        })
    }

    pub fn cpu() -> Self {
        Self::exponential(CPU_MAX_CORES, CPU_FIRST_BUCKET_CORES, BUCKET_RATIO, HISTOGRAM_EPSILON)
            .expect("constant options are valid")
    }

    pub fn memory() -> Self {
        Self::exponential(
            MEMORY_MAX_BYTES,
            MEMORY_FIRST_BUCKET_BYTES,
            BUCKET_RATIO,
            HISTOGRAM_EPSILON,
        )
        .expect("constant options are valid")
    }

    pub fn num_buckets(&self) -> usize {
        self.num_buckets
    }

    pub fn epsilon(&self) -> f64 {
        self.epsilon
    }

    /// Values past the last boundary land in the last bucket; NaN lands in bucket 0.
    pub fn find_bucket(&self, value: f64) -> usize {
        if value.is_nan() || value < self.first_bucket_size {
            return 0;
        }
        let b = (value * (self.ratio - 1.0) / self.first_bucket_size + 1.0).log(self.ratio);
        (b as usize).min(self.num_buckets - 1)
    }

    /// Out-of-range indices are clamped (upstream panics). `powf`, not `powi`: powi may be
    /// folded differently at different call sites, and percentiles must compare exactly.
    pub fn bucket_start(&self, bucket: usize) -> f64 {
        let b = bucket.min(self.num_buckets - 1);
        if b == 0 {
            return 0.0;
        }
        self.first_bucket_size * (self.ratio.powf(b as f64) - 1.0) / (self.ratio - 1.0)
    }
}

/// Histogram whose sample weights grow by 2^((t − reference)/half_life), so older samples
/// count less; all weights are relative to `reference`, which moves forward when needed.
#[derive(Debug, Clone, PartialEq)]
pub struct DecayingHistogram {
    opts: HistogramOptions,
    half_life: f64,
    reference: Option<f64>,
    weights: Vec<f64>,
    total: f64,
    rejected: u64,
}

impl DecayingHistogram {
    /// A non-positive or NaN half-life falls back to 24 h; +∞ disables decay.
    pub fn new(opts: HistogramOptions, half_life_seconds: f64) -> Self {
        let half_life = if half_life_seconds > 0.0 {
            half_life_seconds
        } else {
            HALF_LIFE_SECONDS
        };
        Self {
            opts,
            half_life,
            reference: None,
            weights: vec![0.0; opts.num_buckets],
            total: 0.0,
            rejected: 0,
        }
    }

    /// Non-finite or negative values/weights are counted in `rejected_samples` and ignored.
    pub fn add_sample(&mut self, value: f64, weight: f64, time: i64) {
        if !valid_amount(value) || !valid_amount(weight) {
            self.rejected += 1;
            return;
        }
        let w = weight * self.decay_factor(time);
        let b = self.opts.find_bucket(value);
        self.weights[b] += w;
        self.total += w;
    }

    /// Removes a previously added sample; results below epsilon snap to 0 (`safeSubtract`).
    pub fn subtract_sample(&mut self, value: f64, weight: f64, time: i64) {
        if !valid_amount(value) || !valid_amount(weight) {
            self.rejected += 1;
            return;
        }
        let w = weight * self.decay_factor(time);
        let b = self.opts.find_bucket(value);
        let eps = self.opts.epsilon;
        let snap = |v: f64| if v - w < eps { 0.0 } else { v - w };
        self.weights[b] = snap(self.weights[b]);
        self.total = snap(self.total);
    }

    /// Upper end of the bucket where the cumulative weight first reaches p·total (0 if empty).
    pub fn percentile(&self, p: f64) -> f64 {
        let Some((lo, hi)) = self.occupied_range() else {
            return 0.0;
        };
        let threshold = p * self.total;
        let mut sum = 0.0;
        let bucket = (lo..hi)
            .find(|&b| {
                sum += self.weights[b];
                sum >= threshold
            })
            .unwrap_or(hi);
        if bucket + 1 < self.opts.num_buckets {
            self.opts.bucket_start(bucket + 1)
        } else {
            self.opts.bucket_start(bucket)
        }
    }

    pub fn is_empty(&self) -> bool {
        self.occupied_range().is_none()
    }

    /// Sum of decayed weights, relative to the current reference timestamp.
    pub fn total_weight(&self) -> f64 {
        self.total
    }

    pub fn rejected_samples(&self) -> u64 {
        self.rejected
    }

    pub fn reference_time(&self) -> Option<f64> {
        self.reference
    }

    pub fn options(&self) -> &HistogramOptions {
        &self.opts
    }

    /// Moves the reference to `time` rounded to the half-life and rescales every weight by
    /// 2^(round((old − new)/half_life)), so relative weights and percentiles are unchanged.
    pub fn shift_reference(&mut self, time: i64) {
        let new_ref = if self.half_life.is_finite() {
            (time as f64 / self.half_life).round() * self.half_life
        } else {
            time as f64
        };
        if let Some(old) = self.reference {
            // Clamped so the factor stays finite (0·∞ would poison weights).
            let exponent = ((old - new_ref) / self.half_life + 0.5).floor().clamp(-2000.0, 900.0);
            self.scale(exponent.exp2());
        }
        self.reference = Some(new_ref);
    }

    fn decay_factor(&mut self, time: i64) -> f64 {
        let t = time as f64;
        let horizon = self.reference.map(|r| r + MAX_DECAY_EXPONENT * self.half_life);
        if horizon.is_none_or(|h| t > h) {
            self.shift_reference(time);
        }
        let reference = self.reference.unwrap_or(t);
        ((t - reference) / self.half_life).exp2()
    }

    fn scale(&mut self, factor: f64) {
        self.weights.iter_mut().for_each(|w| *w *= factor);
        self.total *= factor;
    }

    fn occupied_range(&self) -> Option<(usize, usize)> {
        let eps = self.opts.epsilon;
        let lo = self.weights.iter().position(|w| *w >= eps)?;
        let hi = self.weights.iter().rposition(|w| *w >= eps)?;
        Some((lo, hi))
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Resources {
    pub cpu_cores: f64,
    pub memory_bytes: f64,
}

/// Peak memory of one aggregation interval: usage samples and OOM-derived samples are kept
/// apart because the OOM bump starts from the usage peak (`RecordOOM`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct IntervalPeak {
    usage: f64,
    oom: f64,
}

impl IntervalPeak {
    fn max(&self) -> f64 {
        self.usage.max(self.oom)
    }
}

/// Usage history of one container: the VPA's `ContainerState` and `AggregateContainerState`
/// in one. First/last sample times and the sample count come from CPU samples only, as upstream.
#[derive(Debug, Clone)]
pub struct ContainerUsage {
    cpu: DecayingHistogram,
    memory: DecayingHistogram,
    memory_interval: i64,
    peaks: BTreeMap<i64, IntervalPeak>,
    pub first_sample_time: Option<i64>,
    pub last_sample_time: Option<i64>,
    pub cpu_samples: u64,
    pub memory_samples: u64,
    pub oom_events: u64,
    /// Non-finite or negative samples, ignored.
    pub rejected_samples: u64,
}

impl Default for ContainerUsage {
    fn default() -> Self {
        Self::new()
    }
}

/// Memory believed needed after an OOM: max(used + 100 MiB, used × 1.2) (`RecordOOM`).
pub fn oom_bump(memory_bytes: f64) -> f64 {
    (memory_bytes + OOM_MIN_BUMP_UP_BYTES).max(memory_bytes * OOM_BUMP_UP_RATIO)
}

impl ContainerUsage {
    pub fn new() -> Self {
        Self::with_memory_interval(MEMORY_AGGREGATION_INTERVAL_SECONDS)
    }

    /// Custom peak interval (seconds, at least 1): 1 s makes every memory sample its own peak.
    pub fn with_memory_interval(seconds: i64) -> Self {
        Self {
            cpu: DecayingHistogram::new(HistogramOptions::cpu(), HALF_LIFE_SECONDS),
            memory: DecayingHistogram::new(HistogramOptions::memory(), HALF_LIFE_SECONDS),
            memory_interval: seconds.max(1),
            peaks: BTreeMap::new(),
            first_sample_time: None,
            last_sample_time: None,
            cpu_samples: 0,
            memory_samples: 0,
            oom_events: 0,
            rejected_samples: 0,
        }
    }

    /// Weight max(request, 0.1): a larger request makes older history decay relatively faster.
    /// An invalid request counts as unset; it is capped at 1000 cores to keep weights finite.
    pub fn add_cpu(&mut self, usage_cores: f64, request_cores: f64, time: i64) {
        if !valid_amount(usage_cores) {
            self.rejected_samples += 1;
            return;
        }
        let request = if valid_amount(request_cores) {
            request_cores
        } else {
            0.0
        };
        let weight = request.clamp(MIN_SAMPLE_WEIGHT, CPU_MAX_CORES);
        self.cpu.add_sample(usage_cores, weight, time);
        self.first_sample_time = Some(self.first_sample_time.map_or(time, |f| f.min(time)));
        self.last_sample_time = Some(self.last_sample_time.map_or(time, |l| l.max(time)));
        self.cpu_samples += 1;
    }

    pub fn add_memory_peak(&mut self, bytes: f64, time: i64) {
        if !valid_amount(bytes) {
            self.rejected_samples += 1;
            return;
        }
        self.update_peak(time, |p| p.usage = p.usage.max(bytes));
        self.memory_samples += 1;
    }

    /// Adds an artificial peak of `oom_bump(max(memory_bytes, this interval's usage peak))`.
    pub fn record_oom(&mut self, memory_bytes: f64, time: i64) {
        if !valid_amount(memory_bytes) {
            self.rejected_samples += 1;
            return;
        }
        let usage_peak = self.peaks.get(&self.interval_of(time)).map_or(0.0, |p| p.usage);
        let needed = oom_bump(memory_bytes.max(usage_peak));
        self.update_peak(time, |p| p.oom = p.oom.max(needed));
        self.oom_events += 1;
    }

    /// min(lifespan in days, CPU samples / 1440) (`getConfidence`, 24 h interval).
    pub fn confidence(&self) -> f64 {
        let (Some(first), Some(last)) = (self.first_sample_time, self.last_sample_time) else {
            return 0.0;
        };
        let lifespan_days = (last as f64 - first as f64) / CONFIDENCE_INTERVAL_SECONDS;
        let sample_days = self.cpu_samples as f64 / (CONFIDENCE_INTERVAL_SECONDS / 60.0);
        lifespan_days.min(sample_days)
    }

    pub fn cpu_histogram(&self) -> &DecayingHistogram {
        &self.cpu
    }

    pub fn memory_histogram(&self) -> &DecayingHistogram {
        &self.memory
    }

    fn interval_of(&self, time: i64) -> i64 {
        time.div_euclid(self.memory_interval)
    }

    /// Keeps one histogram sample per interval, stamped at the interval's end: a higher peak
    /// replaces the old one by subtract-then-add, as `addMemorySample` does.
    fn update_peak(&mut self, time: i64, update: impl FnOnce(&mut IntervalPeak)) {
        let k = self.interval_of(time);
        let end = k.saturating_add(1).saturating_mul(self.memory_interval);
        let existed = self.peaks.contains_key(&k);
        let peak = self.peaks.entry(k).or_default();
        let old = peak.max();
        update(peak);
        let new = peak.max();
        if !existed {
            self.memory.add_sample(new, 1.0, end);
        } else if new > old {
            self.memory.subtract_sample(old, 1.0, end);
            self.memory.add_sample(new, 1.0, end);
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    pub target: Resources,
    pub lower_bound: Resources,
    pub upper_bound: Resources,
    pub confidence: f64,
}

/// Percentiles apply to both CPU and memory (upstream has separate flags, same defaults).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RecommenderConfig {
    pub safety_margin: f64,
    pub min_cpu_cores: f64,
    pub min_memory_bytes: f64,
    pub target_percentile: f64,
    pub lower_percentile: f64,
    pub upper_percentile: f64,
}

impl Default for RecommenderConfig {
    /// `recommender/config/config.go` defaults: margin 0.15, pod minimums 25 millicores and
    /// 250 MB (multiplied by 1024·1024 in `GetRecommendedPodResources`), p90/p50/p95.
    fn default() -> Self {
        Self {
            safety_margin: 0.15,
            min_cpu_cores: 0.025,
            min_memory_bytes: 250.0 * MIB,
            target_percentile: 0.9,
            lower_percentile: 0.5,
            upper_percentile: 0.95,
        }
    }
}

/// `ScaleResource`: clamp to [0, max]; NaN (0·∞ with no history) becomes 0.
fn scale_amount(amount: f64, factor: f64, max: f64) -> f64 {
    let v = amount * factor;
    if v.is_nan() { 0.0 } else { v.clamp(0.0, max) }
}

/// (1 + multiplier/confidence)^exponent: ∞ for the upper bound and 0 for the lower bound
/// without history, converging to 1 as history grows.
fn confidence_factor((multiplier, exponent): (f64, f64), confidence: f64) -> f64 {
    (1.0 + multiplier / confidence).powf(exponent)
}

struct Estimator<'a> {
    hist: &'a DecayingHistogram,
    margin: f64,
    min: f64,
    max: f64,
}

impl Estimator<'_> {
    /// Upstream order: percentile → safety margin → confidence multiplier → minimum.
    fn estimate(&self, percentile: f64, confidence_factor: f64) -> f64 {
        let base = scale_amount(self.hist.percentile(percentile), 1.0 + self.margin, self.max);
        scale_amount(base, confidence_factor, self.max).max(self.min)
    }
}

/// None when neither CPU nor memory has any sample.
pub fn recommend(cfg: &RecommenderConfig, usage: &ContainerUsage) -> Option<Recommendation> {
    if usage.cpu.is_empty() && usage.memory.is_empty() {
        return None;
    }
    let confidence = usage.confidence();
    let upper = confidence_factor(UPPER_CONFIDENCE, confidence);
    let lower = confidence_factor(LOWER_CONFIDENCE, confidence);
    let cpu = Estimator {
        hist: &usage.cpu,
        margin: cfg.safety_margin,
        min: cfg.min_cpu_cores,
        max: MAX_CPU_CORES,
    };
    let mem = Estimator {
        hist: &usage.memory,
        margin: cfg.safety_margin,
        min: cfg.min_memory_bytes,
        max: MAX_MEMORY_BYTES,
    };
    let both = |p: f64, f: f64| Resources {
        cpu_cores: cpu.estimate(p, f),
        memory_bytes: mem.estimate(p, f),
    };
    Some(Recommendation {
        target: both(cfg.target_percentile, 1.0),
        lower_bound: both(cfg.lower_percentile, lower),
        upper_bound: both(cfg.upper_percentile, upper),
        confidence,
    })
}

/// Sizes for the predicted peak over the horizon: CPU target and upper bound scale by
/// max(1, peak_ratio) (memory too when it follows load). A forecast never shrinks the
/// recommendation, and a non-finite ratio is ignored. The lower bound keeps history's view.
pub fn recommend_with_forecast(
    cfg: &RecommenderConfig,
    usage: &ContainerUsage,
    peak_ratio: f64,
    memory_follows_load: bool,
) -> Option<Recommendation> {
    let mut rec = recommend(cfg, usage)?;
    let f = if peak_ratio.is_finite() {
        peak_ratio.max(1.0)
    } else {
        1.0
    };
    for r in [&mut rec.target, &mut rec.upper_bound] {
        r.cpu_cores = scale_amount(r.cpu_cores, f, MAX_CPU_CORES);
        if memory_follows_load {
            r.memory_bytes = scale_amount(r.memory_bytes, f, MAX_MEMORY_BYTES);
        }
    }
    Some(rec)
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct VerticalBounds {
    pub min: Resources,
    pub max: Resources,
    /// Largest relative change per step, e.g. 0.5 = ±50%; NaN or negative means 0.
    pub max_step_fraction: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerticalDecision {
    pub cpu: (f64, String),
    pub memory: (f64, String),
    pub changed: bool,
    /// (resource.stage, value after the stage, reason), stages: range, step, bounds.
    pub steps: Vec<(String, f64, String)>,
}

/// Reasons recorded by `govern_vertical`.
pub mod reason {
    pub const WITHIN_BOUNDS: &str = "WithinBounds";
    pub const OUTSIDE_RECOMMENDATION_RANGE: &str = "OutsideRecommendationRange";
    pub const WITHIN_STEP_LIMIT: &str = "WithinStepLimit";
    pub const STEP_LIMITED: &str = "StepLimited";
    pub const WITHIN_MIN_MAX: &str = "WithinMinMax";
    pub const BELOW_MIN: &str = "BelowMin";
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
fn clamp_min_max(v: f64, min: f64, max: f64) -> (f64, &'static str) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A multiple of 24 h, so the first reference timestamp is exactly T0.
    const T0: i64 = 1_700_006_400;
    const D: i64 = 86_400;
    const GIB: f64 = 1024.0 * MIB;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
    }

    /// Upper end of the bucket holding `v`: what `Percentile` reports for it.
    fn bucket_end(o: &HistogramOptions, v: f64) -> f64 {
        o.bucket_start(o.find_bucket(v) + 1)
    }

    fn res(cpu_cores: f64, memory_bytes: f64) -> Resources {
        Resources {
            cpu_cores,
            memory_bytes,
        }
    }

    /// `samples` CPU and memory samples, `spacing` seconds apart, from T0.
    fn steady(cpu: f64, mem: f64, samples: i64, spacing: i64) -> ContainerUsage {
        let mut u = ContainerUsage::new();
        for i in 0..samples {
            u.add_cpu(cpu, 0.0, T0 + i * spacing);
            u.add_memory_peak(mem, T0 + i * spacing);
        }
        u
    }

    /// Three days of per-minute samples with spread; 60 s memory intervals keep every peak.
    fn varied() -> ContainerUsage {
        let mut u = ContainerUsage::with_memory_interval(60);
        for i in 0..3 * 1440 {
            let t = T0 + i * 60;
            u.add_cpu(0.05 + 0.1 * (i % 20) as f64, 1.0, t);
            u.add_memory_peak(GIB * (0.5 + 0.05 * (i % 30) as f64), t);
        }
        u
    }

    #[test]
    fn bucket_boundaries() {
        // histogram_options.go: numBuckets = ceil(log_r(max·(r−1)/first + 1)) + 1 and bucket b
        // starts at first·(r^b − 1)/(r − 1); aggregations_config.go: CPU first 0.01 core up to
        // 1000 cores, memory first 1e7 B up to 1e12 B, r = 1 + 0.05.
        let (cpu, mem) = (HistogramOptions::cpu(), HistogramOptions::memory());
        assert_eq!((cpu.num_buckets(), mem.num_buckets()), (176, 176));
        let starts = [
            (cpu, 0, 0.0),
            (cpu, 1, 0.01),
            (cpu, 2, 0.0205),
            (cpu, 3, 0.031525),
            (mem, 1, 1e7),
            (mem, 2, 2.05e7),
            (cpu, 999, cpu.bucket_start(175)),
        ];
        for (o, b, want) in starts {
            assert!(close(o.bucket_start(b), want), "start({b}) = {}", o.bucket_start(b));
        }
        // FindBucket: below the first size → 0, past the max → last bucket.
        let finds = [
            (cpu, 0.0, 0),
            (cpu, 0.005, 0),
            (cpu, 0.015, 1),
            (cpu, 0.025, 2),
            (cpu, 1000.0, 174),
            (cpu, 1e9, 175),
            (cpu, f64::NAN, 0),
            (mem, 5e6, 0),
            (mem, 1.5e7, 1),
            (mem, 1e15, 175),
        ];
        for (o, v, want) in finds {
            assert_eq!(o.find_bucket(v), want, "find_bucket({v})");
        }
        // Each bucket is 5% wider than the previous one.
        let width = |b: usize| cpu.bucket_start(b + 1) - cpu.bucket_start(b);
        for b in [1, 50, 150] {
            assert!(close(width(b + 1) / width(b), BUCKET_RATIO));
        }
        // NewExponentialHistogramOptions rejects ratio ≤ 1 and non-positive sizes.
        assert!(HistogramOptions::exponential(1000.0, 0.01, 1.0, 1e-4).is_none());
        assert!(HistogramOptions::exponential(f64::NAN, 0.01, 1.05, 1e-4).is_none());
        assert!(HistogramOptions::exponential(1000.0, 0.0, 1.05, 1e-4).is_none());
    }

    #[test]
    fn percentile_on_known_samples() {
        // histogram.go Percentile: the first bucket whose cumulative weight reaches p·total,
        // reported as that bucket's end (the next bucket's start) unless it is the last one.
        let o = HistogramOptions::cpu();
        let mut h = DecayingHistogram::new(o, HALF_LIFE_SECONDS);
        assert_eq!(h.percentile(0.5), 0.0, "empty histogram reports 0");
        for v in 1..=10 {
            h.add_sample(v as f64, 1.0, T0);
        }
        let rows = [
            (0.0, 1.0),
            (0.1, 1.0),
            (0.5, 5.0),
            (0.9, 9.0),
            (0.95, 10.0),
            (1.0, 10.0),
        ];
        for (p, v) in rows {
            let got = h.percentile(p);
            assert_eq!(got, bucket_end(&o, v), "p{p}");
            // Exponential buckets bound the relative error by the 5% growth.
            assert!(
                got > v && got <= v * BUCKET_RATIO + CPU_FIRST_BUCKET_CORES,
                "p{p} = {got}"
            );
        }
        // Weights count, not sample counts: 9 parts at 1 core, 1 part at 100 cores.
        let mut w = DecayingHistogram::new(o, HALF_LIFE_SECONDS);
        w.add_sample(1.0, 9.0, T0);
        w.add_sample(100.0, 1.0, T0);
        assert_eq!(w.percentile(0.9), bucket_end(&o, 1.0));
        assert_eq!(w.percentile(0.95), bucket_end(&o, 100.0));
        // The last bucket reports its own start: nothing lies beyond it.
        let mut last = DecayingHistogram::new(o, HALF_LIFE_SECONDS);
        last.add_sample(5000.0, 1.0, T0);
        assert_eq!(last.percentile(0.5), o.bucket_start(o.num_buckets() - 1));
    }

    #[test]
    fn half_life_decay() {
        // decaying_histogram.go decayFactor: weight · 2^((t − reference)/halfLife); with the
        // default 24 h half-life a sample 24 h older weighs half.
        let rows = [(0, 1.0), (D, 0.5), (2 * D, 0.25), (D / 2, 0.5f64.sqrt()), (-D, 2.0)];
        for (age, want) in rows {
            let mut h = DecayingHistogram::new(HistogramOptions::cpu(), HALF_LIFE_SECONDS);
            h.add_sample(1.0, 1.0, T0);
            h.add_sample(1.0, 1.0, T0 - age);
            assert!(close(h.total_weight() - 1.0, want), "age {age}: {}", h.total_weight());
        }
        // The decayed weight moves percentiles: 1 core now (w 1) vs 2 cores a day ago (w 0.5).
        let o = HistogramOptions::cpu();
        let mut h = DecayingHistogram::new(o, HALF_LIFE_SECONDS);
        h.add_sample(1.0, 1.0, T0);
        h.add_sample(2.0, 1.0, T0 - D);
        assert_eq!(h.percentile(0.6), bucket_end(&o, 1.0));
        assert_eq!(h.percentile(0.7), bucket_end(&o, 2.0));
    }

    #[test]
    fn renormalisation_keeps_percentiles() {
        // shiftReferenceTimestamp: moving the reference scales all weights by
        // 2^round((old − new)/halfLife), which leaves relative weights and percentiles alone.
        let o = HistogramOptions::cpu();
        let mut h = DecayingHistogram::new(o, HALF_LIFE_SECONDS);
        for (i, v) in [0.5, 1.0, 2.0, 4.0, 8.0, 3.0].into_iter().enumerate() {
            h.add_sample(v, 1.0, T0 + i as i64 * D / 2);
        }
        let ps = [0.5, 0.9, 0.95].map(|p| h.percentile(p));
        let total = h.total_weight();
        h.shift_reference(T0 + 10 * D);
        assert_eq!(ps, [0.5, 0.9, 0.95].map(|p| h.percentile(p)));
        assert_eq!(h.total_weight(), total / 1024.0);
        assert_eq!(h.reference_time(), Some((T0 + 10 * D) as f64));
        // A sample more than maxDecayExponent (100) half-lives past the reference moves it,
        // so weights stay finite; the old sample now weighs 2^-101 of the new one.
        let mut g = DecayingHistogram::new(o, HALF_LIFE_SECONDS);
        g.add_sample(1.0, 1.0, T0);
        g.add_sample(2.0, 1.0, T0 + 101 * D);
        assert_eq!(g.reference_time(), Some((T0 + 101 * D) as f64));
        assert!(close(g.total_weight(), 1.0 + 2f64.powi(-101)));
        assert_eq!(g.percentile(0.5), bucket_end(&o, 2.0));
    }

    #[test]
    fn cpu_sample_weight_follows_request() {
        // aggregate_container_state.go (before ca812b36a3): weight max(request, minSampleWeight
        // 0.1); upstream now always uses 0.1, which request 0 reproduces.
        let rows = [
            (2.0, 2.0),
            (0.0, 0.1),
            (0.05, 0.1),
            (f64::NAN, 0.1),
            (-1.0, 0.1),
            (1e9, 1000.0),
        ];
        for (request, weight) in rows {
            let mut u = ContainerUsage::new();
            u.add_cpu(0.5, request, T0);
            assert!(close(u.cpu_histogram().total_weight(), weight), "request {request}");
            assert_eq!(u.rejected_samples, 0, "an invalid request is not an invalid sample");
        }
    }

    #[test]
    fn memory_keeps_one_peak_per_interval() {
        // container.go addMemorySample: one peak per 24 h interval, stamped at the interval's
        // end; a higher sample replaces the old peak (SubtractSample then AddSample, weight 1).
        let o = HistogramOptions::memory();
        let mut u = ContainerUsage::new();
        for (gib, hour) in [(1.0, 1), (2.0, 2), (1.5, 3)] {
            u.add_memory_peak(gib * GIB, T0 + hour * 3600);
        }
        let h = u.memory_histogram();
        assert!(close(h.total_weight(), 1.0), "one peak: {}", h.total_weight());
        assert_eq!(
            (h.percentile(0.0), h.percentile(1.0)),
            (bucket_end(&o, 2.0 * GIB), bucket_end(&o, 2.0 * GIB))
        );
        // The next interval's peak is a day newer, so it weighs twice as much.
        u.add_memory_peak(0.5 * GIB, T0 + D + 3600);
        let h = u.memory_histogram();
        assert!(close(h.total_weight(), 3.0));
        assert_eq!(h.percentile(0.5), bucket_end(&o, 0.5 * GIB));
        assert_eq!(u.memory_samples, 4);
    }

    #[test]
    fn oom_bump() {
        // RecordOOM: needed = max(used + OOMMinBumpUp 100 MiB, used · OOMBumpUpRatio 1.2),
        // used = max(memory at OOM, this interval's usage peak). Below 500 MiB the +100 MiB
        // branch wins, above it ×1.2.
        let o = HistogramOptions::memory();
        let rows = [
            (0.0, 200.0 * MIB, 300.0 * MIB),
            (0.0, GIB, 1.2 * GIB),
            (0.0, 500.0 * MIB, 600.0 * MIB),
            (GIB, 512.0 * MIB, 1.2 * GIB),
            (100.0 * MIB, 200.0 * MIB, 300.0 * MIB),
        ];
        for (usage_peak, at_oom, needed) in rows {
            assert!(close(super::oom_bump(at_oom.max(usage_peak)), needed));
            let mut u = ContainerUsage::new();
            if usage_peak > 0.0 {
                u.add_memory_peak(usage_peak, T0 + 3600);
            }
            u.record_oom(at_oom, T0 + 7200);
            let h = u.memory_histogram();
            assert_eq!(h.percentile(1.0), bucket_end(&o, needed), "oom at {at_oom}");
            assert!(
                close(h.total_weight(), 1.0),
                "the OOM sample replaces the interval's peak"
            );
            assert_eq!(u.oom_events, 1);
        }
    }

    #[test]
    fn invalid_samples_are_counted_not_panicking() {
        // ContainerUsageSample.isValid: usage must be ≥ 0; non-finite values are rejected too.
        const NAN: f64 = f64::NAN;
        type Op = fn(&mut ContainerUsage);
        let rows: [(Op, u64); 11] = [
            (|u| u.add_cpu(NAN, 1.0, T0), 1),
            (|u| u.add_cpu(-1.0, 1.0, T0), 1),
            (|u| u.add_cpu(f64::INFINITY, 1.0, T0), 1),
            (|u| u.add_cpu(1.0, NAN, T0), 0),
            (|u| u.add_cpu(0.0, 0.0, T0), 0),
            (|u| u.add_memory_peak(NAN, T0), 1),
            (|u| u.add_memory_peak(-5.0, T0), 1),
            (|u| u.add_memory_peak(f64::INFINITY, T0), 1),
            (|u| u.record_oom(NAN, T0), 1),
            (|u| u.record_oom(-1.0, T0), 1),
            (|u| u.add_memory_peak(0.0, T0), 0),
        ];
        for (i, (op, rejected)) in rows.into_iter().enumerate() {
            let mut u = ContainerUsage::new();
            op(&mut u);
            assert_eq!(u.rejected_samples, rejected, "row {i}");
        }
        let mut h = DecayingHistogram::new(HistogramOptions::cpu(), HALF_LIFE_SECONDS);
        h.add_sample(f64::NAN, 1.0, T0);
        h.add_sample(1.0, -1.0, T0);
        h.subtract_sample(1.0, f64::NAN, T0);
        assert_eq!((h.rejected_samples(), h.is_empty()), (3, true));
    }

    #[test]
    fn no_samples_no_recommendation() {
        let cfg = RecommenderConfig::default();
        assert!(recommend(&cfg, &ContainerUsage::new()).is_none());
        let mut bad = ContainerUsage::new();
        bad.add_cpu(f64::NAN, 1.0, T0);
        assert!(recommend_with_forecast(&cfg, &bad, 2.0, true).is_none());
        // Memory only: confidence counts CPU samples only, so it is 0 and the upper bound is
        // capped at MaxResourceAmount (model/types.go) instead of ∞; the JSON stays finite.
        let mut mem = ContainerUsage::new();
        mem.add_memory_peak(GIB, T0);
        let r = recommend(&cfg, &mem).unwrap();
        assert_eq!(r.confidence, 0.0);
        assert_eq!(r.upper_bound.memory_bytes, MAX_MEMORY_BYTES);
        assert_eq!(r.target.cpu_cores, cfg.min_cpu_cores);
        assert!(serde_json::to_string(&r).unwrap().contains("\"upper_bound\""));
    }

    #[test]
    fn percentile_ordering() {
        // Defaults (config.go): lower p50 ≤ target p90 ≤ upper p95, then the margin and the
        // confidence multipliers (≤ 1 below, ≥ 1 above) keep the order.
        let u = varied();
        for h in [u.cpu_histogram(), u.memory_histogram()] {
            let (p50, p90, p95) = (h.percentile(0.5), h.percentile(0.9), h.percentile(0.95));
            assert!(p50 < p90 && p90 <= p95, "{p50} {p90} {p95}");
        }
        let r = recommend(&RecommenderConfig::default(), &u).unwrap();
        assert!(r.lower_bound.cpu_cores < r.target.cpu_cores && r.target.cpu_cores < r.upper_bound.cpu_cores);
        assert!(r.lower_bound.memory_bytes < r.target.memory_bytes);
        assert!(r.target.memory_bytes < r.upper_bound.memory_bytes);
    }

    #[test]
    fn safety_margin_multiplies() {
        // estimator.go cpu/memoryMarginEstimator: base + base·marginFraction (default 0.15).
        let u = varied();
        let (p90_cpu, p90_mem) = (u.cpu_histogram().percentile(0.9), u.memory_histogram().percentile(0.9));
        for margin in [0.0, 0.15, 0.5] {
            let cfg = RecommenderConfig {
                safety_margin: margin,
                min_cpu_cores: 0.0,
                min_memory_bytes: 0.0,
                ..RecommenderConfig::default()
            };
            let r = recommend(&cfg, &u).unwrap();
            assert!(close(r.target.cpu_cores, p90_cpu * (1.0 + margin)), "margin {margin}");
            assert!(
                close(r.target.memory_bytes, p90_mem * (1.0 + margin)),
                "margin {margin}"
            );
        }
    }

    #[test]
    fn minimum_resources_apply_last() {
        // recommender.go: WithCPU/MemoryMinResource wraps every estimator after the margin
        // and confidence; pod-recommendation-min-cpu-millicores 25, -min-memory-mb 250 (MiB).
        let cfg = RecommenderConfig::default();
        let o = (HistogramOptions::cpu(), HistogramOptions::memory());
        let rows = [
            (0.001, 1e6, cfg, res(0.025, 250.0 * MIB)),
            (
                2.0,
                2.0 * GIB,
                cfg,
                res(bucket_end(&o.0, 2.0) * 1.15, bucket_end(&o.1, 2.0 * GIB) * 1.15),
            ),
            (
                2.0,
                2.0 * GIB,
                RecommenderConfig {
                    min_cpu_cores: 4.0,
                    min_memory_bytes: 4.0 * GIB,
                    ..cfg
                },
                res(4.0, 4.0 * GIB),
            ),
        ];
        for (cpu, mem, cfg, want) in rows {
            let r = recommend(&cfg, &steady(cpu, mem, 1441, 60)).unwrap();
            assert!(
                close(r.target.cpu_cores, want.cpu_cores),
                "cpu {cpu}: {}",
                r.target.cpu_cores
            );
            assert!(close(r.target.memory_bytes, want.memory_bytes), "mem {mem}");
            assert!(r.lower_bound.cpu_cores >= cfg.min_cpu_cores && r.upper_bound.cpu_cores >= cfg.min_cpu_cores);
        }
        // Tiny usage: the bounds sit at the minimum too, since the minimum applies after them.
        let r = recommend(&cfg, &steady(0.001, 1e6, 1441, 60)).unwrap();
        assert_eq!((r.lower_bound, r.upper_bound), (r.target, r.target));
    }

    #[test]
    fn confidence_grows_with_history() {
        // estimator.go getConfidence = min(lifespan / 24 h, samples / 1440); the upper bound is
        // scaled by (1 + 1/c)^1 and the lower by (1 + 0.001/c)^-2 (recommender.go).
        let cfg = RecommenderConfig::default();
        let rows = [
            (1441, 60, 1.0),
            (7 * 1440 + 1, 60, 7.0),
            (721, 60, 0.5),
            (169, 3600, 169.0 / 1440.0), // a week of hourly samples: limited by the count
        ];
        let mut uppers = Vec::new();
        for (n, spacing, c) in rows {
            let u = steady(1.0, GIB, n, spacing);
            assert!(close(u.confidence(), c), "{n} samples: {}", u.confidence());
            let r = recommend(&cfg, &u).unwrap();
            // Steady usage: p50 = p90 = p95, so the ratios are the multipliers themselves.
            assert!(close(r.upper_bound.cpu_cores / r.target.cpu_cores, 1.0 + 1.0 / c));
            assert!(close(
                r.lower_bound.cpu_cores / r.target.cpu_cores,
                (1.0 + 0.001 / c).powi(-2)
            ));
            uppers.push(r.upper_bound.cpu_cores);
        }
        // 1 day → ×2, 7 days → ×1.14: a week of history gives the tighter upper bound.
        assert!(uppers[1] < uppers[0]);
        // One sample: confidence 0, upper ∞ capped at MaxResourceAmount, lower 0 raised to the min.
        let r = recommend(&cfg, &steady(1.0, GIB, 1, 60)).unwrap();
        assert_eq!(
            (r.upper_bound.cpu_cores, r.lower_bound.cpu_cores),
            (MAX_CPU_CORES, cfg.min_cpu_cores)
        );
    }

    #[test]
    fn forecast_sizes_for_the_peak() {
        // Extension: target and upper bound × max(1, predicted peak / current demand); memory
        // only when it follows load; the lower bound keeps history's view.
        let cfg = RecommenderConfig::default();
        let u = steady(1.0, GIB, 1441, 60);
        let base = recommend(&cfg, &u).unwrap();
        let rows = [
            (2.0, false, 2.0, 1.0),
            (2.0, true, 2.0, 2.0),
            (0.5, true, 1.0, 1.0),
            (1.0, false, 1.0, 1.0),
            (f64::NAN, true, 1.0, 1.0),
            (f64::INFINITY, true, 1.0, 1.0),
        ];
        for (ratio, follows, cpu_f, mem_f) in rows {
            let r = recommend_with_forecast(&cfg, &u, ratio, follows).unwrap();
            assert!(
                close(r.target.cpu_cores, base.target.cpu_cores * cpu_f),
                "ratio {ratio}"
            );
            assert!(close(r.upper_bound.cpu_cores, base.upper_bound.cpu_cores * cpu_f));
            assert!(close(r.target.memory_bytes, base.target.memory_bytes * mem_f));
            assert!(close(r.upper_bound.memory_bytes, base.upper_bound.memory_bytes * mem_f));
            assert_eq!(r.lower_bound, base.lower_bound);
        }
    }

    fn fixture() -> Recommendation {
        Recommendation {
            target: res(1.0, GIB),
            lower_bound: res(0.8, 0.8 * GIB),
            upper_bound: res(1.5, 1.5 * GIB),
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
            min: res(0.1, 128.0 * MIB),
            max: res(4.0, 8.0 * GIB),
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
                res(1.2, 1.2 * GIB),
                (1.2, WITHIN_BOUNDS),
                (1.2 * GIB, WITHIN_BOUNDS),
                false,
            ),
            (
                "cpu below lower: to target",
                b,
                res(0.7, GIB),
                (1.0, OUTSIDE_RECOMMENDATION_RANGE),
                (GIB, OUTSIDE_RECOMMENDATION_RANGE),
                true,
            ),
            (
                "step limit up",
                b,
                res(0.2, GIB),
                (0.3, STEP_LIMITED),
                (GIB, OUTSIDE_RECOMMENDATION_RANGE),
                true,
            ),
            (
                "step limit down",
                b,
                res(3.0, GIB),
                (1.5, STEP_LIMITED),
                (GIB, OUTSIDE_RECOMMENDATION_RANGE),
                true,
            ),
            (
                "max clamp",
                with(b.min, res(0.5, 8.0 * GIB), 1.0),
                res(2.0, GIB),
                (0.5, ABOVE_MAX),
                (GIB, OUTSIDE_RECOMMENDATION_RANGE),
                true,
            ),
            (
                "min clamp",
                with(res(1.2, 0.0), b.max, f64::INFINITY),
                res(0.5, GIB),
                (1.2, BELOW_MIN),
                (GIB, OUTSIDE_RECOMMENDATION_RANGE),
                true,
            ),
            (
                "bounds hold inside the range",
                with(b.min, res(1.0, 8.0 * GIB), 0.5),
                res(1.2, GIB),
                (1.0, ABOVE_MAX),
                (GIB, WITHIN_BOUNDS),
                true,
            ),
            (
                "memory outside moves cpu too",
                b,
                res(1.2, 3.0 * GIB),
                (1.0, OUTSIDE_RECOMMENDATION_RANGE),
                (1.5 * GIB, STEP_LIMITED),
                true,
            ),
            (
                "unset request jumps to target",
                b,
                res(0.0, GIB),
                (1.0, OUTSIDE_RECOMMENDATION_RANGE),
                (GIB, OUTSIDE_RECOMMENDATION_RANGE),
                true,
            ),
            (
                "NaN request jumps to target",
                b,
                res(f64::NAN, GIB),
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
            min: res(0.1, 0.0),
            max: res(0.5, 8.0 * GIB),
            max_step_fraction: 1.0,
        };
        let d = govern_vertical(&bounds, &res(2.0, GIB), &fixture());
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
        fn prop_target_between_bounds(
            samples in prop::collection::vec((0.0f64..64.0, 0.0f64..8.0, 0.0f64..64e9, 0i64..10 * D), 1..100),
            ratio in 0.0f64..4.0,
            follows in any::<bool>(),
        ) {
            let mut u = ContainerUsage::new();
            for (cpu, request, mem, dt) in samples {
                u.add_cpu(cpu, request, T0 + dt);
                u.add_memory_peak(mem, T0 + dt);
            }
            let cfg = RecommenderConfig::default();
            for r in [recommend(&cfg, &u), recommend_with_forecast(&cfg, &u, ratio, follows)] {
                let r = r.unwrap();
                let (l, t, h) = (r.lower_bound, r.target, r.upper_bound);
                prop_assert!(l.cpu_cores <= t.cpu_cores && t.cpu_cores <= h.cpu_cores, "{r:?}");
                prop_assert!(l.memory_bytes <= t.memory_bytes && t.memory_bytes <= h.memory_bytes, "{r:?}");
                prop_assert!(h.cpu_cores.is_finite() && h.memory_bytes.is_finite());
                prop_assert!(l.cpu_cores >= cfg.min_cpu_cores && l.memory_bytes >= cfg.min_memory_bytes);
            }
        }

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
                min: res(min.0, min.1),
                max: res(min.0 + span.0, min.1 + span.1),
                max_step_fraction: step,
            };
            let rec = Recommendation {
                target: res(cpu[0], mem[0]),
                lower_bound: res(cpu[1], mem[1]),
                upper_bound: res(cpu[2], mem[2]),
                confidence: 1.0,
            };
            let d = govern_vertical(&bounds, &res(current.0, current.1), &rec);
            prop_assert!(d.cpu.0 >= bounds.min.cpu_cores && d.cpu.0 <= bounds.max.cpu_cores, "{d:?}");
            prop_assert!(d.memory.0 >= bounds.min.memory_bytes && d.memory.0 <= bounds.max.memory_bytes, "{d:?}");
        }
    }
}
