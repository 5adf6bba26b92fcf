//! The VPA recommender: one container's usage (CPU histogram, per-interval memory peaks, OOMs)
//! → target, lower and upper bounds with the safety margin, confidence multipliers and minimums
//! (`model/aggregate_container_state.go`, `logic/{recommender,estimator}.go`), and the
//! forecast-scaled variant.

use super::histogram::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// CPU and memory of one container: a request, a recommendation or one of its bounds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Resources {
    /// CPU in cores (0.025 is 25 millicores).
    pub cpu_cores: f64,
    /// Memory in bytes.
    pub memory_bytes: f64,
}

impl Resources {
    /// `cpu_cores` cores and `memory_bytes` bytes.
    pub const fn new(cpu_cores: f64, memory_bytes: f64) -> Self {
        Resources {
            cpu_cores,
            memory_bytes,
        }
    }
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
    /// Earliest CPU sample time, Unix seconds; None before the first.
    pub first_sample_time: Option<i64>,
    /// Latest CPU sample time, Unix seconds; None before the first.
    pub last_sample_time: Option<i64>,
    /// CPU samples accepted.
    pub cpu_samples: u64,
    /// Memory usage samples accepted (OOMs are counted apart).
    pub memory_samples: u64,
    /// OOMs recorded.
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
    /// An empty history with the VPA's 24 h memory peak interval.
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

    /// A memory usage sample in bytes at `time` (Unix seconds); only each interval's peak enters
    /// the histogram.
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

    /// The decaying histogram of CPU usage, cores.
    pub fn cpu_histogram(&self) -> &DecayingHistogram {
        &self.cpu
    }

    /// The decaying histogram of per-interval memory peaks, bytes.
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

/// One container's recommended requests and the range around them in which a request is left
/// alone (the VPA updater evicts outside it).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    /// The requests to set: the target percentile plus the safety margin, at least the minimums.
    pub target: Resources,
    /// The lower percentile plus the margin, scaled down while history is short.
    pub lower_bound: Resources,
    /// The upper percentile plus the margin, scaled up while history is short.
    pub upper_bound: Resources,
    /// History length in days, as [`ContainerUsage::confidence`].
    pub confidence: f64,
}

/// Percentiles apply to both CPU and memory (upstream has separate flags, same defaults).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RecommenderConfig {
    /// Fraction added to every percentile (default 0.15: +15%).
    pub safety_margin: f64,
    /// Smallest CPU recommendation, cores (default 0.025).
    pub min_cpu_cores: f64,
    /// Smallest memory recommendation, bytes (default 250 MiB).
    pub min_memory_bytes: f64,
    /// Usage percentile in [0, 1] behind the target (default 0.9).
    pub target_percentile: f64,
    /// Usage percentile in [0, 1] behind the lower bound (default 0.5).
    pub lower_percentile: f64,
    /// Usage percentile in [0, 1] behind the upper bound (default 0.95).
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
            (0.001, 1e6, cfg, Resources::new(0.025, 250.0 * MIB)),
            (
                2.0,
                2.0 * GIB,
                cfg,
                Resources::new(bucket_end(&o.0, 2.0) * 1.15, bucket_end(&o.1, 2.0 * GIB) * 1.15),
            ),
            (
                2.0,
                2.0 * GIB,
                RecommenderConfig {
                    min_cpu_cores: 4.0,
                    min_memory_bytes: 4.0 * GIB,
                    ..cfg
                },
                Resources::new(4.0, 4.0 * GIB),
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
    }
}
