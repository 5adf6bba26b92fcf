//! Capacity/latency model: each replica is an M/M/c queue (c workers, Poisson arrivals,
//! exponential service). Response time T = W + S, with P(W > t) = C·e^{-(cμ−λ)t} (Erlang C)
//! and S ~ Exp(μ); percentiles of T are solved numerically. Documented in docs/evaluate.md.

use serde::{Deserialize, Serialize};

/// One replica as an M/M/c queue: `workers` servers sharing `capacity_per_replica` req/s.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct QueueModel {
    /// Requests per second one replica sustains at 100% utilization (c·μ).
    pub capacity_per_replica: f64,
    /// Concurrent workers per replica (c).
    pub workers: u32,
}

impl QueueModel {
    /// A model with `capacity_per_replica` req/s over `workers` workers (at least 1).
    pub fn new(capacity_per_replica: f64, workers: u32) -> Self {
        QueueModel {
            capacity_per_replica,
            workers: workers.max(1),
        }
    }

    fn mu(&self) -> f64 {
        self.capacity_per_replica / self.workers as f64
    }

    /// Erlang C: probability an arrival waits, at per-replica load `lambda` (< capacity).
    pub fn erlang_c(&self, lambda: f64) -> f64 {
        let c = self.workers;
        let a = lambda / self.mu();
        let rho = a / c as f64;
        // Erlang B by its stable recursion, then C from B.
        let mut b = 1.0;
        for k in 1..=c {
            b = a * b / (k as f64 + a * b);
        }
        b / (1.0 - rho * (1.0 - b))
    }

    /// P(T > t) at per-replica load `lambda`.
    fn tail(&self, lambda: f64, t: f64) -> f64 {
        let mu = self.mu();
        let theta = self.capacity_per_replica - lambda;
        let c = self.erlang_c(lambda);
        let waited = if (theta - mu).abs() < 1e-12 * mu {
            (-mu * t).exp() * (1.0 + mu * t)
        } else {
            (theta * (-mu * t).exp() - mu * (-theta * t).exp()) / (theta - mu)
        };
        (1.0 - c) * (-mu * t).exp() + c * waited
    }

    /// The `q` quantile of response time in seconds at per-replica load `lambda`;
    /// infinite at or above capacity.
    pub fn latency_quantile(&self, lambda: f64, q: f64) -> f64 {
        if lambda >= self.capacity_per_replica || !lambda.is_finite() {
            return f64::INFINITY;
        }
        let lambda = lambda.max(0.0);
        let target = 1.0 - q;
        let mut hi = 1.0 / self.mu();
        while self.tail(lambda, hi) > target {
            hi *= 2.0;
            if hi > 1e9 {
                return f64::INFINITY;
            }
        }
        let mut lo = 0.0;
        for _ in 0..64 {
            let mid = 0.5 * (lo + hi);
            if self.tail(lambda, mid) > target {
                lo = mid
            } else {
                hi = mid
            }
        }
        hi
    }

    /// The p95 response time in seconds at per-replica load `lambda` req/s.
    pub fn p95(&self, lambda: f64) -> f64 {
        self.latency_quantile(lambda, 0.95)
    }

    /// The highest per-replica load whose p95 stays within `slo` seconds (0 if none does).
    pub fn max_load_at_slo(&self, slo: f64) -> f64 {
        if self.p95(0.0) > slo {
            return 0.0;
        }
        let (mut lo, mut hi) = (0.0, self.capacity_per_replica);
        for _ in 0..64 {
            let mid = 0.5 * (lo + hi);
            if self.p95(mid) <= slo { lo = mid } else { hi = mid }
        }
        lo
    }

    /// Fewest replicas that serve `demand` within the SLO.
    pub fn replicas_for(&self, demand: f64, slo: f64) -> u32 {
        self.replicas_at(demand, self.max_load_at_slo(slo), slo)
    }

    /// As [`Self::replicas_for`] with `per` = `max_load_at_slo(slo)` computed once by the caller.
    pub fn replicas_at(&self, demand: f64, per: f64, slo: f64) -> u32 {
        if demand <= 0.0 {
            return 0;
        }
        if per <= 0.0 {
            return u32::MAX;
        }
        let n = (demand / per).ceil();
        // guard the boundary: bisection leaves `per` a hair under the true limit
        if n > 1.0 && self.p95(demand / (n - 1.0)) <= slo {
            (n - 1.0) as u32
        } else {
            n as u32
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mm1_matches_closed_form() {
        // M/M/1: T ~ Exp(μ−λ), so p95 = ln 20 / (μ−λ).
        let m = QueueModel::new(10.0, 1);
        for lambda in [0.0, 2.0, 5.0, 9.0] {
            let want = 20f64.ln() / (10.0 - lambda);
            let got = m.p95(lambda);
            assert!((got - want).abs() / want < 1e-6, "λ={lambda}: {got} vs {want}");
        }
        assert!(m.p95(10.0).is_infinite());
    }

    #[test]
    fn erlang_c_reference() {
        // c=2, a=1 (ρ=0.5): C = 1/3 (textbook value).
        let m = QueueModel::new(2.0, 2);
        assert!((m.erlang_c(1.0) - 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn latency_grows_with_load_and_slo_inverts_it() {
        let m = QueueModel::new(50.0, 4);
        let mut last = 0.0;
        for i in 0..50 {
            let l = m.p95(i as f64);
            assert!(l > last);
            last = l;
        }
        let slo = m.p95(45.0);
        let max = m.max_load_at_slo(slo);
        assert!((max - 45.0).abs() < 1e-6, "{max}");
        assert_eq!(m.replicas_for(450.0, slo), 10);
        assert_eq!(m.replicas_for(450.1, slo), 11);
        assert_eq!(m.replicas_for(0.0, slo), 0);
    }
}
