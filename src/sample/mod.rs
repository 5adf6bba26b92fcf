//! Anomaly-driven span sampling: score each span with Half-Space Trees over
//! (service one-hot, operation one-hot, duration) and keep the unusual ones.
//!
//! [`Sampler`] is pure and streaming (no clock, no I/O): feed spans in order, get
//! `(score, sampled)` back. `csv` is the file front end used by `scale sample`.

pub(crate) mod csv;
pub mod hst;
pub(crate) mod opname;
pub mod seed;
pub mod stream;

use hst::{HalfSpaceTrees, HstParams, Point};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Vocabulary maps hash short names per span; SipHash's flood resistance is not needed here
/// (the maps are bounded), its cost is.
type FastMap<V> = HashMap<Box<str>, V, BuildHasherDefault<FxHasher>>;

/// The multiply-rotate hash used by rustc (FxHash), eight bytes at a time.
#[derive(Default, Clone, Copy)]
struct FxHasher(u64);

impl FxHasher {
    #[inline]
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().unwrap_or_default()));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut b = [0u8; 8];
            b[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(b) ^ ((rest.len() as u64) << 56));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(i as u64);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// Sampler settings; `scale sample` exposes each as a flag with these defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplerConfig {
    /// The Half-Space Trees forest: trees, height, window, seed.
    pub hst: HstParams,
    /// Sample spans whose normalised score (0 ordinary … 1 anomalous) is at least this.
    pub min_score: f64,
    /// Durations at or above this (seconds) map to 1.
    pub max_duration: f64,
    /// How a duration becomes the [0, 1] feature.
    pub duration_scale: DurationScale,
    /// Spans seen before any decision: they build the vocabulary and the first windows, and are
    /// never sampled (score 0).
    pub train_size: usize,
    /// Most services given a one-hot dimension (default 256); see [`Sampler`].
    pub max_services: usize,
    /// Most operations given a one-hot dimension (default 1024); see [`Sampler`].
    pub max_operations: usize,
    /// Normalise operation names ([`opname::normalize`]) before the vocabulary lookup.
    pub normalize_operations: bool,
}

impl Default for SamplerConfig {
    fn default() -> Self {
        SamplerConfig {
            hst: HstParams {
                split_weight: hst::SplitWeight::Duration,
                ..HstParams::default()
            },
            min_score: 0.994,
            max_duration: 1.0,
            duration_scale: DurationScale::OpLog,
            train_size: 250,
            max_services: 256,
            max_operations: 1024,
            normalize_operations: true,
        }
    }
}

/// Duration feature: `linear` is the seed's `d / max_duration`; `log` is
/// `ln(1 + d/1ms) / ln(1 + max_duration/1ms)`, which spreads the millisecond range where most
/// spans live over the trees' splits instead of crowding it next to 0. `op-log` (the default) is
/// the log duration relative to the same endpoint's (service and operation):
/// `max(0, ℓ − mean ℓ of its earlier spans) / ln 100` with `ℓ = ln(1 + d/1ms)`, so "slow for
/// this endpoint" is one region of the duration axis whatever the endpoint's usual latency:
/// the usual (and faster) is 0 and 100× the usual is 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DurationScale {
    /// `d / max_duration`.
    Linear,
    /// `ln(1 + d/1ms) / ln(1 + max_duration/1ms)`.
    Log,
    /// The log duration relative to the endpoint's usual so far, slow side only; the default.
    OpLog,
}

impl DurationScale {
    /// The names as flags and config values spell them.
    pub const NAMES: [&str; 3] = ["linear", "log", "op-log"];

    /// Parses one of [`Self::NAMES`].
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "linear" => Some(DurationScale::Linear),
            "log" => Some(DurationScale::Log),
            "op-log" => Some(DurationScale::OpLog),
            _ => None,
        }
    }
}

impl DurationScale {
    /// The feature in [0, 1]; NaN and negative durations give 0. `op-log` needs the
    /// operation's history, so here it is `log` ([`Sampler`] applies the relative form).
    pub fn feature(self, seconds: f64, max: f64) -> f32 {
        let v = match self {
            DurationScale::Linear => seconds / max,
            DurationScale::Log | DurationScale::OpLog => (seconds.max(0.0) * 1e3).ln_1p() / (max * 1e3).ln_1p(),
        };
        if v.is_nan() { 0.0 } else { v.clamp(0.0, 1.0) as f32 }
    }
}

impl SamplerConfig {
    /// Checks every setting; errors name the `scale sample` flag (`min-score`, `height`, ...).
    pub fn validate(&self) -> crate::Result<()> {
        self.hst
            .check()
            .map_err(|(field, msg)| crate::Error::config(field.replace('_', "-"), msg))?;
        let bad = |f: &str, m: String| Err(crate::Error::config(f, m));
        if !(0.0..=1.0).contains(&self.min_score) {
            return bad("min-score", format!("must be in [0, 1], got {}", self.min_score));
        }
        if !(self.max_duration.is_finite() && self.max_duration > 0.0) {
            return bad(
                "max-duration",
                format!("must be a positive number of seconds, got {}", self.max_duration),
            );
        }
        if self.max_services == 0 || self.max_operations == 0 {
            return bad("max-services/max-operations", "must be at least 1".into());
        }
        Ok(())
    }
}

/// What the sampler says about one span.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision {
    /// Normalised anomaly score in [0, 1]; 0 during warm-up.
    pub score: f64,
    /// True when the span is kept: the forest has a reference window and `score ≥ min_score`.
    pub sampled: bool,
}

/// Streaming span sampler.
///
/// Vocabulary: during warm-up (the first `train_size` spans) each new service and operation gets
/// the next one-hot dimension, up to `max_services` / `max_operations`; names beyond the bound
/// share "unknown" (no dimension set). At the end of warm-up the trees are planted over the
/// dimensions seen so far and the buffered warm-up spans are learned. The vocabulary is then
/// fixed: a name first seen later is "unknown" too, which the trees place with the rare
/// side of every split on that group, so a new endpoint scores as unusual until it is common.
/// `op-log` keeps its own history per endpoint (service and operation), which does grow after
/// planting: up to `4 ×` each limit names and `4 × max_operations` endpoints, past which they
/// share one history. Memory is therefore bounded by the limits plus `train_size` buffered points.
#[derive(Debug, Clone)]
pub struct Sampler {
    cfg: SamplerConfig,
    /// Service name → its one-hot dimension and its `op-log` key.
    services: FastMap<Ids>,
    /// Normalised operation name → its one-hot dimension and its `op-log` key.
    operations: FastMap<Ids>,
    /// One-hot dimensions given so far (services, operations); fixed once planted.
    dims: (u32, u32),
    /// Raw operation name → its ids after normalisation, so a repeated name is one hash
    /// lookup. Exact: a name's ids never change once decided. Cleared when it reaches
    /// `4 × max_operations` names, which bounds it when raw names carry ids.
    raw_operations: FastMap<Ids>,
    /// `op-log`: (service key, operation key) → slot in `op_log`.
    op_log_slots: HashMap<u64, u32, BuildHasherDefault<FxHasher>>,
    /// `op-log`: per slot (slot 0: endpoints past the bounds) the mean of `ln(1 + d/1ms)` over
    /// its spans so far (moving past [`OP_LOG_MEMORY`]) and their count.
    op_log: Vec<(f64, u64)>,
    forest: Option<HalfSpaceTrees>,
    /// Warm-up spans as (service index, operation index, scaled duration).
    warm_up: Vec<(Option<u32>, Option<u32>, f32)>,
}

/// A name's one-hot dimension (`None`: past the vocabulary or first seen after planting) and its
/// `op-log` history key ([`OVERFLOW`]: past `4 ×` the vocabulary bound).
#[derive(Debug, Clone, Copy)]
struct Ids {
    dim: Option<u32>,
    key: u32,
}

/// The `op-log` key shared by names past the history bound.
const OVERFLOW: u32 = u32::MAX;

impl Sampler {
    /// A sampler with an empty vocabulary; fails when `cfg` does not validate.
    pub fn new(cfg: SamplerConfig) -> crate::Result<Self> {
        cfg.validate()?;
        let mut s = Sampler {
            services: FastMap::default(),
            operations: FastMap::default(),
            dims: (0, 0),
            raw_operations: FastMap::default(),
            op_log_slots: HashMap::default(),
            op_log: vec![(0.0, 0)],
            forest: None,
            warm_up: Vec::with_capacity(cfg.train_size),
            cfg,
        };
        if s.cfg.train_size == 0 {
            s.plant();
        }
        Ok(s)
    }

    /// The settings the sampler was built with.
    pub fn config(&self) -> &SamplerConfig {
        &self.cfg
    }

    /// Dimensions per one-hot group (services, operations).
    pub fn vocabulary_sizes(&self) -> (usize, usize) {
        (self.dims.0 as usize, self.dims.1 as usize)
    }

    /// Scores one span (duration in seconds) and learns it.
    pub fn observe(&mut self, service: &str, operation: &str, duration: f64) -> Decision {
        let warm = self.forest.is_none();
        let svc = ids(
            &mut self.services,
            service,
            warm,
            &mut self.dims.0,
            self.cfg.max_services,
        );
        let op = match self.raw_operations.get(operation) {
            Some(&op) => op,
            None => {
                let name = if self.cfg.normalize_operations {
                    opname::normalize(operation)
                } else {
                    std::borrow::Cow::Borrowed(operation)
                };
                let op = ids(
                    &mut self.operations,
                    &name,
                    warm,
                    &mut self.dims.1,
                    self.cfg.max_operations,
                );
                if self.raw_operations.len() >= 4 * self.cfg.max_operations {
                    self.raw_operations.clear();
                }
                self.raw_operations.insert(operation.into(), op);
                op
            }
        };
        let value = match self.cfg.duration_scale {
            DurationScale::OpLog => self.op_log_feature(svc.key, op.key, duration),
            scale => scale.feature(duration, self.cfg.max_duration),
        };
        let (svc, op) = (svc.dim, op.dim);
        match &mut self.forest {
            Some(f) => {
                let ready = f.ready();
                let score = f.score_learn(&point(self.dims.0, svc, op, value));
                Decision {
                    score,
                    sampled: ready && score >= self.cfg.min_score,
                }
            }
            None => {
                self.warm_up.push((svc, op, value));
                if self.warm_up.len() >= self.cfg.train_size {
                    self.plant();
                }
                Decision {
                    score: 0.0,
                    sampled: false,
                }
            }
        }
    }

    /// `op-log` feature against the same endpoint's (service and operation) earlier spans (0
    /// for its first), then records this span.
    fn op_log_feature(&mut self, svc: u32, op: u32, duration: f64) -> f32 {
        let l = (duration.max(0.0) * 1e3).ln_1p();
        if l.is_nan() {
            return 0.0;
        }
        let slot = if svc == OVERFLOW || op == OVERFLOW {
            0
        } else {
            let next = self.op_log.len() as u32;
            let bound = 4 * self.cfg.max_operations;
            match self.op_log_slots.get(&(u64::from(svc) << 32 | u64::from(op))) {
                Some(&s) => s,
                None if self.op_log_slots.len() < bound => {
                    self.op_log_slots.insert(u64::from(svc) << 32 | u64::from(op), next);
                    self.op_log.push((0.0, 0));
                    next
                }
                None => 0,
            }
        };
        let (mean, n) = &mut self.op_log[slot as usize];
        let usual = if *n == 0 { l } else { *mean };
        *n += 1;
        // The plain mean for an endpoint's first OP_LOG_MEMORY spans, then moving, so a lasting
        // change of its latency becomes its new usual.
        *mean += (l - *mean) / (*n).min(OP_LOG_MEMORY) as f64;
        // One-sided: faster than usual is usual. A fast span is no latency problem, and as a
        // low-density region of the axis it would only be sampled as a false alarm.
        let v = (l - usual).max(0.0) / OP_LOG_RANGE;
        v.clamp(0.0, 1.0) as f32
    }

    /// Plants over the current vocabulary and learns the buffered warm-up spans.
    fn plant(&mut self) {
        let n_svc = self.dims.0;
        let mut forest = HalfSpaceTrees::new(self.cfg.hst, &[n_svc, self.dims.1]);
        for (svc, op, value) in std::mem::take(&mut self.warm_up) {
            forest.score_learn(&point(n_svc, svc, op, value));
        }
        self.forest = Some(forest);
    }
}

/// `op-log`: the log ratio to the endpoint's usual duration that reaches the top of the axis (100×).
/// Shocks of 8–10× (plus 10 ms) land in its upper half while an endpoint's usual spread stays
/// next to 0; a narrower range saturates and a wider one crowds (docs/sample.md).
pub const OP_LOG_RANGE: f64 = 4.605_170_185_988_092;

/// `op-log`: spans of an endpoint after which its usual duration becomes a moving mean.
pub const OP_LOG_MEMORY: u64 = 1024;

/// Operation dimensions follow the service dimensions.
#[inline]
fn point(n_services: u32, svc: Option<u32>, op: Option<u32>, value: f32) -> Point<2> {
    Point {
        active: [svc, op.map(|o| o + n_services)],
        value,
    }
}

/// The ids of `name`: a new one-hot dimension while `grow` and under `max` (counted in `dims`),
/// and a history key while under `4 × max` names.
fn ids(vocab: &mut FastMap<Ids>, name: &str, grow: bool, dims: &mut u32, max: usize) -> Ids {
    if let Some(&i) = vocab.get(name) {
        return i;
    }
    if vocab.len() >= 4 * max {
        return Ids {
            dim: None,
            key: OVERFLOW,
        };
    }
    let dim = (grow && (*dims as usize) < max).then(|| {
        *dims += 1;
        *dims - 1
    });
    let i = Ids {
        dim,
        key: vocab.len() as u32,
    };
    vocab.insert(name.into(), i);
    i
}

#[cfg(test)]
mod scale_tests {
    use super::DurationScale;

    #[test]
    fn duration_features() {
        // (scale, seconds, max) → feature
        let cases = [
            (DurationScale::Linear, 0.5, 1.0, 0.5),
            (DurationScale::Linear, 2.0, 1.0, 1.0),
            (DurationScale::Linear, f64::NAN, 1.0, 0.0),
            (DurationScale::Log, 1.0, 1.0, 1.0),
            (DurationScale::Log, 0.0, 1.0, 0.0),
            (DurationScale::Log, 0.001, 1.0, 2f64.ln() / 1001f64.ln()),
            (DurationScale::Log, -1.0, 1.0, 0.0),
        ];
        for (scale, d, max, want) in cases {
            assert!((f64::from(scale.feature(d, max)) - want).abs() < 1e-6, "{scale:?} {d}");
        }
        // log keeps a 2 ms span and a 90 ms one far apart; linear crowds both next to 0
        let gap = |s: DurationScale| s.feature(0.09, 1.0) - s.feature(0.002, 1.0);
        assert!(gap(DurationScale::Log) > 0.4 && gap(DurationScale::Linear) < 0.1);
    }
}

#[cfg(test)]
mod default_tests {
    use super::{Sampler, SamplerConfig};
    use crate::core::rng::Rng;
    use proptest::prelude::*;

    /// Endpoints first seen after planting, and one operation name in two services, each keep
    /// their own usual duration: their usual spans are not sampled, a 9× one outranks them all,
    /// and a 10× faster one scores as usual.
    #[test]
    fn each_endpoint_keeps_its_own_usual() {
        let mut s = Sampler::new(SamplerConfig::default()).unwrap();
        let mut rng = Rng::from_state(7);
        let jitter = |rng: &mut Rng| 0.8 + 0.4 * rng.uniform();
        for _ in 0..1000 {
            s.observe("a", "fast", 0.001 * jitter(&mut rng));
        }
        // (service, operation, usual seconds), none seen during warm-up
        let endpoints = [("b", "slow", 0.5), ("c", "HTTP POST", 0.002), ("d", "HTTP POST", 0.2)];
        let (mut usual_sampled, mut usual, mut top) = (0, 0, 0f64);
        for i in 0..3000 {
            let (svc, op, base) = endpoints[i % 3];
            let d = s.observe(svc, op, base * jitter(&mut rng));
            if i >= 300 {
                usual += 1;
                usual_sampled += d.sampled as u32;
                top = top.max(d.score);
            }
        }
        assert!(
            usual_sampled * 100 <= usual,
            "{usual_sampled} of {usual} usual spans sampled"
        );
        for (svc, op, base) in endpoints {
            let slow = s.observe(svc, op, base * 9.0).score;
            let fast = s.observe(svc, op, base * 0.1).score;
            assert!(slow > top, "{svc}/{op} at 9×: {slow} vs the usual's top {top}");
            assert!(fast <= top, "{svc}/{op} at 0.1×: {fast} vs the usual's top {top}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        /// With the defaults, a span 8–10× slower than its operation's usual duration outranks
        /// that operation's usual spans once the trees are warm.
        #[test]
        fn slow_for_its_operation_outranks_usual(
            ops in 1usize..12,
            seed in any::<u64>(),
            factor in 8.0f64..10.0,
        ) {
            let mut rng = Rng::from_state(seed);
            let base: Vec<f64> = (0..ops).map(|_| 0.0005 + 0.2 * rng.uniform()).collect();
            let mut s = Sampler::new(SamplerConfig::default()).unwrap();
            let usual = |rng: &mut Rng, o: usize| base[o] * (0.8 + 0.4 * rng.uniform());
            for i in 0..3000 {
                let o = i % ops;
                s.observe("svc", &format!("op{o}"), usual(&mut rng, o));
            }
            let o = (seed % ops as u64) as usize;
            let slow = s.observe("svc", &format!("op{o}"), base[o] * factor).score;
            for _ in 0..50 {
                let d = s.observe("svc", &format!("op{o}"), usual(&mut rng, o));
                prop_assert!(slow > d.score, "slow {slow} vs usual {}", d.score);
            }
        }
    }
}
