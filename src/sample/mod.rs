//! Anomaly-driven span sampling: score each span with Half-Space Trees over
//! (service one-hot, operation one-hot, duration) and keep the unusual ones.
//!
//! [`Sampler`] is pure and streaming (no clock, no I/O): feed spans in order, get
//! `(score, sampled)` back. `csv` is the file front end used by `scale sample`.

pub mod csv;
pub mod hst;
pub mod opname;

use hst::{HalfSpaceTrees, HstParams, Point};
use std::collections::HashMap;

/// Sampler settings; `scale sample` exposes each as a flag with these defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplerConfig {
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
    /// Vocabulary bounds per one-hot group; see [`Sampler`].
    pub max_services: usize,
    pub max_operations: usize,
    /// Normalise operation names ([`opname::normalize`]) before the vocabulary lookup.
    pub normalize_operations: bool,
}

impl Default for SamplerConfig {
    fn default() -> Self {
        SamplerConfig {
            hst: HstParams::default(),
            min_score: 0.9,
            max_duration: 1.0,
            duration_scale: DurationScale::Log,
            train_size: 1000,
            max_services: 256,
            max_operations: 1024,
            normalize_operations: true,
        }
    }
}

/// Duration feature: `linear` is the seed's `d / max_duration`; `log` is
/// `ln(1 + d/1ms) / ln(1 + max_duration/1ms)`, which spreads the millisecond range where most
/// spans live over the trees' splits instead of crowding it next to 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DurationScale {
    Linear,
    Log,
}

impl DurationScale {
    /// The feature in [0, 1]; NaN and negative durations give 0.
    pub fn feature(self, seconds: f64, max: f64) -> f32 {
        let v = match self {
            DurationScale::Linear => seconds / max,
            DurationScale::Log => (seconds.max(0.0) * 1e3).ln_1p() / (max * 1e3).ln_1p(),
        };
        if v.is_nan() { 0.0 } else { v.clamp(0.0, 1.0) as f32 }
    }
}

impl SamplerConfig {
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
/// Memory is therefore bounded by the two limits plus `train_size` buffered points.
#[derive(Debug, Clone)]
pub struct Sampler {
    cfg: SamplerConfig,
    services: HashMap<String, u32>,
    operations: HashMap<String, u32>,
    forest: Option<HalfSpaceTrees>,
    /// Warm-up spans as (service index, operation index, scaled duration).
    warm_up: Vec<(Option<u32>, Option<u32>, f32)>,
}

impl Sampler {
    pub fn new(cfg: SamplerConfig) -> crate::Result<Self> {
        cfg.validate()?;
        let mut s = Sampler {
            services: HashMap::new(),
            operations: HashMap::new(),
            forest: None,
            warm_up: Vec::with_capacity(cfg.train_size),
            cfg,
        };
        if s.cfg.train_size == 0 {
            s.plant();
        }
        Ok(s)
    }

    pub fn config(&self) -> &SamplerConfig {
        &self.cfg
    }

    /// Dimensions per one-hot group (services, operations).
    pub fn vocabulary_sizes(&self) -> (usize, usize) {
        (self.services.len(), self.operations.len())
    }

    /// Scores one span (duration in seconds) and learns it.
    pub fn observe(&mut self, service: &str, operation: &str, duration: f64) -> Decision {
        let op = if self.cfg.normalize_operations {
            opname::normalize(operation)
        } else {
            std::borrow::Cow::Borrowed(operation)
        };
        let warm = self.forest.is_none();
        let svc = lookup(&mut self.services, service, warm, self.cfg.max_services);
        let op = lookup(&mut self.operations, &op, warm, self.cfg.max_operations);
        let value = self.cfg.duration_scale.feature(duration, self.cfg.max_duration);
        match &mut self.forest {
            Some(f) => {
                let ready = f.ready();
                let score = f.score_learn(&point(self.services.len() as u32, svc, op, value));
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

    /// Plants over the current vocabulary and learns the buffered warm-up spans.
    fn plant(&mut self) {
        let n_svc = self.services.len() as u32;
        let mut forest = HalfSpaceTrees::new(self.cfg.hst, &[n_svc, self.operations.len() as u32]);
        for (svc, op, value) in std::mem::take(&mut self.warm_up) {
            forest.score_learn(&point(n_svc, svc, op, value));
        }
        self.forest = Some(forest);
    }
}

/// Operation dimensions follow the service dimensions.
#[inline]
fn point(n_services: u32, svc: Option<u32>, op: Option<u32>, value: f32) -> Point<2> {
    Point {
        active: [svc, op.map(|o| o + n_services)],
        value,
    }
}

/// Index of `name`, adding it while `grow` and under `max`.
fn lookup(vocab: &mut HashMap<String, u32>, name: &str, grow: bool, max: usize) -> Option<u32> {
    if let Some(&i) = vocab.get(name) {
        return Some(i);
    }
    if grow && vocab.len() < max {
        let i = vocab.len() as u32;
        vocab.insert(name.to_string(), i);
        return Some(i);
    }
    None
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
