//! `scale sample --seed-compat`: River's `anomaly.HalfSpaceTrees` as the seed system ran it.
//!
//! The seed passed River sparse dicts `{service: 1, operation: 1, duration_ms}` and learned only
//! its first `train_size` spans. River plants its trees over the keys of the *first* dict it
//! learns, so the features are that span's service, its operation and the duration; every other
//! key is ignored. Splits pick a feature with probability proportional to the width of its
//! limits, one-hot (0, 1) and the duration (0, `max_duration` ms), so nearly all fall on the
//! duration. A split on a key the span lacks follows the child with the larger latest mass, ties
//! to the left (River's `PaddedBranch`). Everything else (padding 0.15, the 10% cut-off, window
//! pivots, the score) is River's `hst.py`; only the random generator differs.

use super::Decision;
use crate::core::rng::Rng;

/// Settings of the seed's detector; `scale sample --seed-compat` defaults are the seed's.
#[derive(Debug, Clone, PartialEq)]
pub struct SeedConfig {
    /// Trees (seed: 16).
    pub n_trees: usize,
    /// Depth of each tree (seed: 8).
    pub height: usize,
    /// Spans per window (seed: 175).
    pub window_size: usize,
    /// Sampled when the score is at least this (seed: 0.6).
    pub min_score: f64,
    /// Upper limit of the duration feature, seconds (seed: 10 s); a planting range, not a clip.
    pub max_duration: f64,
    /// Spans learned (and not scored); later spans are only scored.
    pub train_size: usize,
    /// Seed of the random splits.
    pub seed: u64,
}

impl Default for SeedConfig {
    fn default() -> Self {
        SeedConfig {
            n_trees: 16,
            height: 8,
            window_size: 175,
            min_score: 0.6,
            max_duration: 10.0,
            train_size: 1000,
            seed: 42,
        }
    }
}

impl SeedConfig {
    /// Checks every setting; errors name the `scale sample` flag.
    pub fn validate(&self) -> crate::Result<()> {
        let bad = |f: &str, m: String| Err(crate::Error::config(f, m));
        if self.n_trees == 0 {
            return bad("n-trees", "must be at least 1".into());
        }
        if !(1..=20).contains(&self.height) {
            return bad("height", format!("must be 1..=20, got {}", self.height));
        }
        if self.window_size == 0 {
            return bad("window-size", "must be at least 1".into());
        }
        if !(0.0..=1.0).contains(&self.min_score) {
            return bad("min-score", format!("must be in [0, 1], got {}", self.min_score));
        }
        if !(self.max_duration.is_finite() && self.max_duration > 0.0) {
            return bad(
                "max-duration",
                format!("must be a positive number of seconds, got {}", self.max_duration),
            );
        }
        Ok(())
    }
}

/// Feature slots: the first span's service key, its operation key, the duration in ms.
const FEATURES: usize = 3;
const PADDING: f64 = 0.15;

/// River's forest over the three features, heap-ordered arrays per tree.
#[derive(Debug, Clone)]
struct Forest {
    height: usize,
    stride: usize,
    feature: Vec<u8>,
    threshold: Vec<f64>,
    l_mass: Vec<u32>,
    r_mass: Vec<u32>,
    counter: usize,
    window: usize,
    first_window: bool,
    size_limit: f64,
    max_score: f64,
}

impl Forest {
    fn new(cfg: &SeedConfig) -> Self {
        let h = cfg.height;
        let stride = (1usize << (h + 1)) - 1;
        let n = cfg.n_trees * stride;
        let mut f = Forest {
            height: h,
            stride,
            feature: vec![0; n],
            threshold: vec![0.0; n],
            l_mass: vec![0; n],
            r_mass: vec![0; n],
            counter: 0,
            window: cfg.window_size,
            first_window: true,
            size_limit: 0.1 * cfg.window_size as f64,
            max_score: cfg.n_trees as f64 * cfg.window_size as f64 * ((1u64 << (h + 1)) - 1) as f64,
        };
        let mut rng = Rng::from_state(cfg.seed);
        let mut limits = [(0.0, 1.0), (0.0, 1.0), (0.0, cfg.max_duration * 1e3)];
        for t in 0..cfg.n_trees {
            f.plant(&mut rng, t * stride, 0, h, &mut limits);
        }
        f
    }

    /// `make_padded_tree`: node `i` of the tree at `base`.
    fn plant(&mut self, rng: &mut Rng, base: usize, i: usize, levels: usize, limits: &mut [(f64, f64); FEATURES]) {
        if levels == 0 {
            return;
        }
        let total: f64 = limits.iter().map(|(a, b)| b - a).sum();
        let mut pick = rng.uniform() * total;
        let mut on = FEATURES - 1;
        for (k, (a, b)) in limits.iter().enumerate() {
            if pick < b - a {
                on = k;
                break;
            }
            pick -= b - a;
        }
        let (a, b) = limits[on];
        let at = a + PADDING * (b - a) + rng.uniform() * (1.0 - 2.0 * PADDING) * (b - a);
        self.feature[base + i] = on as u8;
        self.threshold[base + i] = at;
        limits[on] = (a, at);
        self.plant(rng, base, 2 * i + 1, levels - 1, limits);
        limits[on] = (at, b);
        self.plant(rng, base, 2 * i + 2, levels - 1, limits);
        limits[on] = (a, b);
    }

    /// River's `next`: a missing key follows the child with more latest mass, ties left.
    #[inline(always)]
    fn next(&self, base: usize, i: usize, x: &[Option<f64>; FEATURES]) -> usize {
        let (l, r) = (2 * i + 1, 2 * i + 2);
        match x[self.feature[base + i] as usize] {
            Some(v) => {
                if v < self.threshold[base + i] {
                    l
                } else {
                    r
                }
            }
            None => {
                if self.l_mass[base + l] < self.l_mass[base + r] {
                    r
                } else {
                    l
                }
            }
        }
    }

    fn learn(&mut self, x: &[Option<f64>; FEATURES]) {
        for base in (0..self.l_mass.len()).step_by(self.stride) {
            let mut i = 0;
            for _ in 0..self.height {
                self.l_mass[base + i] += 1;
                i = self.next(base, i, x);
            }
            self.l_mass[base + i] += 1;
        }
        self.counter += 1;
        if self.counter == self.window {
            self.r_mass.copy_from_slice(&self.l_mass);
            self.l_mass.fill(0);
            self.first_window = false;
            self.counter = 0;
        }
    }

    fn score(&self, x: &[Option<f64>; FEATURES]) -> f64 {
        if self.first_window {
            return 0.0;
        }
        let mut score = 0.0;
        'trees: for base in (0..self.r_mass.len()).step_by(self.stride) {
            let mut i = 0;
            let mut pow = 1.0;
            for _ in 0..self.height {
                let r = self.r_mass[base + i] as f64;
                score += r * pow;
                if r < self.size_limit {
                    continue 'trees;
                }
                i = self.next(base, i, x);
                pow *= 2.0;
            }
            score += self.r_mass[base + i] as f64 * pow;
        }
        1.0 - score / self.max_score
    }
}

/// The seed's sampler: learns the first `train_size` spans, then only scores.
#[derive(Debug, Clone)]
pub struct SeedSampler {
    cfg: SeedConfig,
    /// The first span's service and operation: the only one-hot keys the trees know.
    keys: Option<(Box<str>, Box<str>)>,
    forest: Forest,
    seen: usize,
}

impl SeedSampler {
    /// Fails when `cfg` does not validate.
    pub fn new(cfg: SeedConfig) -> crate::Result<Self> {
        cfg.validate()?;
        Ok(SeedSampler {
            forest: Forest::new(&cfg),
            cfg,
            keys: None,
            seen: 0,
        })
    }

    /// Scores (after training) or learns (during it) one span; duration in seconds.
    pub fn observe(&mut self, service: &str, operation: &str, duration: f64) -> Decision {
        let (svc, op) = self.keys.get_or_insert_with(|| (service.into(), operation.into()));
        let one = |hit: bool| if hit { Some(1.0) } else { None };
        let x = [one(**svc == *service), one(**op == *operation), Some(duration * 1e3)];
        self.seen += 1;
        if self.seen <= self.cfg.train_size {
            self.forest.learn(&x);
            return Decision {
                score: 0.0,
                sampled: false,
            };
        }
        let score = self.forest.score(&x);
        Decision {
            score,
            sampled: !self.forest.first_window && score >= self.cfg.min_score,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DURATION: u8 = 2;

    fn cfg(train_size: usize) -> SeedConfig {
        SeedConfig {
            train_size,
            window_size: 50,
            ..SeedConfig::default()
        }
    }

    #[test]
    fn splits_fall_on_the_duration_by_limit_width() {
        let f = Forest::new(&SeedConfig::default());
        let internal: Vec<u8> = (0..f.feature.len())
            .filter(|i| i % f.stride < (1 << f.height) - 1)
            .map(|i| f.feature[i])
            .collect();
        let on_duration = internal.iter().filter(|&&k| k == DURATION).count();
        // widths 1, 1, 10,000: one-hot splits come only where the duration range has shrunk
        assert!(
            on_duration as f64 / internal.len() as f64 > 0.9,
            "{on_duration}/{}",
            internal.len()
        );
    }

    #[test]
    fn missing_key_follows_the_heavier_child_ties_left() {
        let mut f = Forest::new(&SeedConfig {
            n_trees: 1,
            height: 1,
            ..SeedConfig::default()
        });
        f.feature[0] = 0;
        f.threshold[0] = 0.5;
        let absent = [None, None, Some(1.0)];
        // (left l_mass, right l_mass) → child
        for (l, r, want) in [(0, 0, 1), (3, 2, 1), (2, 3, 2)] {
            f.l_mass[1] = l;
            f.l_mass[2] = r;
            assert_eq!(f.next(0, 0, &absent), want, "{l} {r}");
        }
        assert_eq!(f.next(0, 0, &[Some(1.0), None, None]), 2);
    }

    #[test]
    fn learns_then_only_scores_and_finds_slow_spans() {
        let mut s = SeedSampler::new(cfg(500)).unwrap();
        let mut rng = Rng::from_state(3);
        let mut d = Vec::new();
        for i in 0..700 {
            let slow = i >= 500 && i % 20 == 0;
            let ms = 20.0 + 10.0 * rng.uniform() + if slow { 5000.0 } else { 0.0 };
            d.push((slow, s.observe("frontend", "GET /", ms / 1e3)));
        }
        assert!(d[..500].iter().all(|(_, x)| x.score == 0.0 && !x.sampled));
        let masses: u32 = s.forest.l_mass.iter().sum();
        assert!(d[500..].iter().all(|(slow, x)| x.sampled == *slow), "{d:?}");
        // scoring after training learns nothing
        assert_eq!(s.forest.l_mass.iter().sum::<u32>(), masses);
    }

    #[test]
    fn bad_settings_name_the_flag() {
        for (c, flag) in [
            (SeedConfig { n_trees: 0, ..cfg(1) }, "n-trees"),
            (SeedConfig { height: 0, ..cfg(1) }, "height"),
            (
                SeedConfig {
                    window_size: 0,
                    ..cfg(1)
                },
                "window-size",
            ),
            (
                SeedConfig {
                    min_score: 2.0,
                    ..cfg(1)
                },
                "min-score",
            ),
            (
                SeedConfig {
                    max_duration: 0.0,
                    ..cfg(1)
                },
                "max-duration",
            ),
        ] {
            let e = SeedSampler::new(c).unwrap_err().to_string();
            assert!(e.contains(flag), "{e}");
        }
    }
}
