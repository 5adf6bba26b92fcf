//! The VPA recommender's histograms: exponential buckets (`util/histogram{,_options}.go`) and
//! exponential decay with a half-life (`util/decaying_histogram.go`), with the upstream defaults.

use serde::{Deserialize, Serialize};

const DAY: f64 = 86_400.0;
/// Bytes in a MiB.
pub const MIB: f64 = 1024.0 * 1024.0;

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

/// A finite, non-negative amount (what a sample or a bound must be).
pub fn valid_amount(v: f64) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A multiple of 24 h, so the first reference timestamp is exactly T0.
    const T0: i64 = 1_700_006_400;
    const D: i64 = 86_400;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
    }

    /// Upper end of the bucket holding `v`: what `Percentile` reports for it.
    fn bucket_end(o: &HistogramOptions, v: f64) -> f64 {
        o.bucket_start(o.find_bucket(v) + 1)
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
}
