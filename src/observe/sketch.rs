//! A mergeable latency sketch: exact up to [`EXACT_MAX`] values, then log-spaced buckets with a
//! relative error of at most [`RELATIVE_ERROR`] on any nearest-rank percentile (the DDSketch
//! construction). Windows keep one per service, so memory is bounded by services × windows and
//! not by spans (docs/otlp.md).

/// Values kept exactly before the sketch switches to buckets: small windows (and tests) get
/// exact nearest-rank percentiles.
pub const EXACT_MAX: usize = 512;
/// Largest relative error of a percentile once bucketed.
pub const RELATIVE_ERROR: f64 = 0.01;
/// Durations are clamped to `[MIN_VALUE, MAX_VALUE]` seconds before bucketing, which bounds the
/// bucket range (about 2,400 buckets at 1%) whatever a client sends.
const MIN_VALUE: f64 = 1e-9;
const MAX_VALUE: f64 = 1e6;

/// The nearest-rank `q` percentile of ascending `sorted`: the smallest value with at least
/// `q·n` values at or below it. NaN when empty.
pub fn nearest_rank(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[rank(q, sorted.len() as u64) as usize - 1]
}

/// The 1-based nearest rank of `q` among `n > 0` values (the 1e-9 keeps 0.95·100 at 95).
pub fn rank(q: f64, n: u64) -> u64 {
    (q * n as f64 - 1e-9).ceil().clamp(1.0, n as f64) as u64
}

/// γ = (1 + α) / (1 − α): bucket `i` holds `(γ^(i−1), γ^i]`.
fn gamma_ln() -> f64 {
    ((1.0 + RELATIVE_ERROR) / (1.0 - RELATIVE_ERROR)).ln()
}

/// Durations in seconds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LatencySketch {
    count: u64,
    exact: Vec<f64>,
    /// Values ≤ [`MIN_VALUE`] once bucketed.
    zeros: u64,
    /// `buckets[k]` counts bucket index `offset + k`.
    buckets: Vec<u32>,
    offset: i32,
    min: f64,
    max: f64,
}

impl LatencySketch {
    /// Values added so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Adds one value (clamped to `[0, MAX_VALUE]`; NaN counts as 0).
    pub fn add(&mut self, v: f64) {
        let v = if v.is_nan() { 0.0 } else { v.clamp(0.0, MAX_VALUE) };
        if self.count == 0 {
            (self.min, self.max) = (v, v);
        } else {
            (self.min, self.max) = (self.min.min(v), self.max.max(v));
        }
        self.count += 1;
        if !self.is_bucketed() {
            self.exact.push(v);
            if self.exact.len() > EXACT_MAX {
                for x in std::mem::take(&mut self.exact) {
                    self.bucket(x);
                }
            }
        } else {
            self.bucket(v);
        }
    }

    /// Adds everything in `other` (the result is the sketch of both inputs).
    pub fn merge(&mut self, other: &LatencySketch) {
        if other.count == 0 {
            return;
        }
        if self.is_bucketed() || other.is_bucketed() || self.exact.len() + other.exact.len() > EXACT_MAX {
            let (min, max, count) = (self.min, self.max, self.count);
            for x in std::mem::take(&mut self.exact) {
                self.bucket(x);
            }
            for &x in &other.exact {
                self.bucket(x);
            }
            self.zeros += other.zeros;
            for (k, &c) in other.buckets.iter().enumerate() {
                if c > 0 {
                    self.bucket_count(other.offset + k as i32, c);
                }
            }
            self.count = count + other.count;
            (self.min, self.max) = if count == 0 {
                (other.min, other.max)
            } else {
                (min.min(other.min), max.max(other.max))
            };
        } else {
            for &x in &other.exact {
                self.add(x);
            }
        }
    }

    fn is_bucketed(&self) -> bool {
        !self.buckets.is_empty() || self.zeros > 0
    }

    fn bucket(&mut self, v: f64) {
        if v <= MIN_VALUE {
            self.zeros += 1;
            return;
        }
        let i = (v.ln() / gamma_ln()).ceil() as i32;
        self.bucket_count(i, 1);
    }

    fn bucket_count(&mut self, i: i32, c: u32) {
        if self.buckets.is_empty() {
            self.offset = i;
            self.buckets.push(0);
        } else if i < self.offset {
            let grow = (self.offset - i) as usize;
            self.buckets.splice(0..0, std::iter::repeat_n(0, grow));
            self.offset = i;
        } else if (i - self.offset) as usize >= self.buckets.len() {
            self.buckets.resize((i - self.offset) as usize + 1, 0);
        }
        let k = (i - self.offset) as usize;
        self.buckets[k] = self.buckets[k].saturating_add(c);
    }

    /// The nearest-rank `q` percentile (`q` in (0, 1]): the value of rank ⌈q·n⌉; exact while
    /// unbucketed, else within [`RELATIVE_ERROR`] of it. 0 when empty.
    pub fn quantile(&self, q: f64) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        let rank = rank(q, self.count);
        if !self.is_bucketed() {
            let mut v = self.exact.clone();
            let k = (rank - 1) as usize;
            v.select_nth_unstable_by(k, f64::total_cmp);
            return v[k];
        }
        let mut seen = self.zeros;
        if rank <= seen {
            return self.min;
        }
        for (k, &c) in self.buckets.iter().enumerate() {
            seen += u64::from(c);
            if rank <= seen {
                let i = f64::from(self.offset + k as i32);
                // The bucket's midpoint in relative terms: within α of every value in it.
                let mid = 2.0 * (i * gamma_ln()).exp() / (1.0 + (gamma_ln()).exp());
                return mid.clamp(self.min, self.max);
            }
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sorted_rank(v: &[f64], q: f64) -> f64 {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        nearest_rank(&v, q)
    }

    #[test]
    fn small_sets_are_exact() {
        // (values, q, nearest-rank value)
        let cases: [(&[f64], f64, f64); 5] = [
            (&[], 0.5, 0.0),
            (&[0.3], 0.99, 0.3),
            (&[0.1, 0.2, 0.3, 0.4], 0.5, 0.2),
            (&[0.1, 0.2, 0.3, 0.4], 0.95, 0.4),
            (&[0.0, 0.0, 1.0], 0.5, 0.0),
        ];
        for (values, q, want) in cases {
            let mut s = LatencySketch::default();
            values.iter().for_each(|&v| s.add(v));
            assert_eq!(s.quantile(q), want, "{values:?} q={q}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn bucketed_percentiles_are_within_the_relative_error(
            values in prop::collection::vec(0.0f64..30.0, EXACT_MAX + 1..3000),
            split in 0usize..3000,
        ) {
            let mut whole = LatencySketch::default();
            values.iter().for_each(|&v| whole.add(v));
            // Two halves merged equal the whole.
            let (a, b) = values.split_at(split.min(values.len()));
            let (mut left, mut right) = (LatencySketch::default(), LatencySketch::default());
            a.iter().for_each(|&v| left.add(v));
            b.iter().for_each(|&v| right.add(v));
            left.merge(&right);
            prop_assert_eq!(left.count(), values.len() as u64);
            for q in [0.5, 0.95, 0.99] {
                let want = sorted_rank(&values, q);
                for got in [whole.quantile(q), left.quantile(q)] {
                    prop_assert!((got - want).abs() <= RELATIVE_ERROR * want + 1e-9, "q={} got={} want={}", q, got, want);
                }
            }
        }
    }

    #[test]
    fn hostile_values_stay_bounded() {
        let mut s = LatencySketch::default();
        for v in [f64::NAN, -5.0, f64::INFINITY, 1e300, 1e-300, 0.0] {
            for _ in 0..200 {
                s.add(v);
            }
        }
        assert!(s.buckets.len() < 2_500, "{}", s.buckets.len());
        assert_eq!(s.count(), 1200);
        assert_eq!(s.quantile(0.5), 0.0);
        assert!(s.quantile(1.0) >= 1e6 * (1.0 - RELATIVE_ERROR));
    }
}
