//! The crate's one retry policy: jittered exponential backoff with a seeded jitter, used by the
//! HTTP clients (Prometheus, Tempo) and the actuators.

use crate::core::rng::Rng;
use std::time::Duration;

/// Retries with jittered exponential backoff.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Calls to `write` at most (reads are not counted).
    pub attempts: u32,
    /// Delay before the first retry (200 ms by default); doubles on each further retry.
    pub base: Duration,
    /// Upper bound on one delay before jitter (10 s by default); also caps a server's Retry-After.
    pub max: Duration,
    /// Seed for the jitter, so a run is reproducible.
    pub seed: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            base: Duration::from_millis(200),
            max: Duration::from_secs(10),
            seed: 0x5ca1e,
        }
    }
}

impl RetryPolicy {
    /// Delay before retry `n` (0-based): base·2ⁿ capped at max, times a jitter in [0.5, 1).
    pub fn delay(&self, n: u32) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32.checked_shl(n.min(20)).unwrap_or(u32::MAX));
        let capped = exp.min(self.max);
        let mut rng = Rng::new(self.seed ^ u64::from(n).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        capped.mul_f64(0.5 + 0.5 * rng.uniform())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy::default();
        for n in 0..12 {
            let d = p.delay(n);
            let full = p.base.saturating_mul(1 << n).min(p.max);
            assert!(d >= full / 2 && d < full, "delay {n}: {d:?} vs {full:?}");
        }
    }
}
