//! Latency as a function of load per replica, fitted from observations `(load, p50, p95)`:
//! load in requests per second per replica, latencies in seconds.
//!
//! Two models are fitted:
//! - **isotonic**: p50 and p95 as monotone non-decreasing functions of load (pool-adjacent-violators
//!   on load bins). Assumes nothing but "more load is never faster", so it is always available, but
//!   it knows nothing beyond the observed loads.
//! - **queueing**: an M/M/c [`QueueModel`] (c in 1..=16, capacity by grid + golden-section search)
//!   minimising the squared log-error of p95. It can extrapolate to unseen loads, so it is only used
//!   when it fits well *and* the data show enough load-dependence to pin the capacity down.

use crate::capacity::queue::QueueModel;
use crate::observe::spans::ServiceMinute;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// `(load_per_replica, p50, p95)`.
pub type Observation = (f64, f64, f64);

/// At most this many load bins: bins average out per-minute noise and bound the fitting cost.
const MAX_BINS: usize = 40;
/// The queue model needs this many bins to say anything about curvature.
const MIN_QUEUE_BINS: usize = 4;
/// Largest RMS log-error of p95 over the bins (≈ ±20%) at which the queue model is trusted.
const GOOD_FIT: f64 = 0.2;
/// The fitted p95 must rise by this factor across the observed loads; flatter data fit any large
/// capacity equally well, so the capacity would be a guess.
const MIN_RISE: f64 = 1.25;
const MAX_WORKERS: u32 = 16;
const LN_20: f64 = 2.995_732_273_553_991;

/// p50/p95 latency as a function of load per replica: the isotonic fit, and the queueing fit when
/// it is trusted (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapacityModel {
    /// `(load, p50, p95)` knots, load strictly increasing, p50 and p95 non-decreasing.
    pub isotonic: Vec<(f64, f64, f64)>,
    /// The queueing fit, present only when it fits well and is identifiable (see module docs).
    pub queue: Option<QueueModel>,
    /// RMS log-error of the best queueing candidate, kept even when it was rejected.
    pub queue_log_rmse: Option<f64>,
    /// Valid observations used.
    pub observations: usize,
}

/// A capacity model fitted at training time and stored in the artifact (`State::capacity`);
/// `scale serve` plans with its capacity at the SLO in place of the configured one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainedCapacity {
    /// The p95 latency objective the capacity was read at, seconds.
    pub slo_seconds: f64,
    /// The highest load per replica whose fitted p95 meets the SLO; None when no load does.
    pub load_per_replica_at_slo: Option<f64>,
    /// Where the observations came from, for `scale models show`.
    pub source: String,
    /// The fitted latency model, so the capacity can be re-read at another SLO.
    pub model: CapacityModel,
}

/// One load bin: means of load, p50 and p95, and of ln p95 (what the log-error fit needs).
#[derive(Debug, Clone, Copy)]
struct Bin {
    load: f64,
    p50: f64,
    p95: f64,
    log_p95: f64,
    weight: f64,
}

impl CapacityModel {
    /// Fits both models. Observations with a negative or non-finite load, a negative p50 or a
    /// non-positive p95 are dropped; an error only when none is left.
    pub fn fit(obs: &[Observation]) -> Result<Self> {
        let mut clean: Vec<Observation> = obs
            .iter()
            .copied()
            .filter(|&(l, p50, p95)| l.is_finite() && l >= 0.0 && p50.is_finite() && p50 >= 0.0 && p95.is_finite())
            .filter(|&(_, _, p95)| p95 > 0.0)
            .collect();
        if clean.is_empty() {
            return Err(Error::model(
                "capacity",
                format!("no valid (load, p50, p95) among {} observations", obs.len()),
            ));
        }
        let bins = bins(&mut clean);
        let best = fit_queue(&bins);
        let queue = best
            .filter(|&(q, rmse)| rmse <= GOOD_FIT && rises(&q, &bins))
            .map(|(q, _)| q);
        Ok(CapacityModel {
            isotonic: isotonic_knots(&bins),
            queue,
            queue_log_rmse: best.map(|b| b.1),
            observations: clean.len(),
        })
    }

    /// Predicted p95 (seconds) at `load` per replica: the queue model when accepted (infinite at or
    /// above its capacity), else isotonic interpolation, flat beyond the observed range (no
    /// evidence for a slope there). NaN for a model without knots.
    pub fn p95_at(&self, load: f64) -> f64 {
        match &self.queue {
            Some(q) => q.p95(load),
            None => interpolate(&self.isotonic, load, |k| k.2),
        }
    }

    /// Predicted median latency, chosen as [`Self::p95_at`].
    pub fn p50_at(&self, load: f64) -> f64 {
        match &self.queue {
            Some(q) => q.latency_quantile(load, 0.5),
            None => interpolate(&self.isotonic, load, |k| k.1),
        }
    }

    /// The highest load per replica whose predicted p95 ≤ `slo`; `None` when even the lightest load
    /// misses it. The isotonic curve never claims more than the highest observed load, since its
    /// flat extrapolation is a convenience, not evidence.
    pub fn capacity_at_slo(&self, slo_seconds: f64) -> Option<f64> {
        if slo_seconds.is_nan() || slo_seconds <= 0.0 {
            return None;
        }
        match &self.queue {
            Some(q) => (q.p95(0.0) <= slo_seconds).then(|| q.max_load_at_slo(slo_seconds)),
            None => isotonic_capacity(&self.isotonic, slo_seconds),
        }
    }

    /// The highest observed (binned) load per replica; 0 without knots.
    pub fn max_observed_load(&self) -> f64 {
        self.isotonic.last().map_or(0.0, |k| k.0)
    }
}

/// Observations from span windows. `replicas` divides the rate; `None` uses the window's distinct
/// serving pods (at least 1).
pub fn observations(minutes: &[ServiceMinute], replicas: Option<f64>) -> Vec<Observation> {
    minutes
        .iter()
        .map(|m| (m.rate / replicas.unwrap_or(m.pods.max(1) as f64), m.p50, m.p95))
        .collect()
}

/// Weighted pool-adjacent-violators: the non-decreasing sequence closest to `values` in weighted
/// least squares. Weights must be positive; the shorter of the two lengths is used.
pub fn pava(values: &[f64], weights: &[f64]) -> Vec<f64> {
    // blocks of (Σ w·y, Σ w, members)
    let mut blocks: Vec<(f64, f64, usize)> = Vec::with_capacity(values.len());
    for (&y, &w) in values.iter().zip(weights) {
        blocks.push((w * y, w, 1));
        while let [.., a, b] = blocks[..] {
            if a.0 / a.1 <= b.0 / b.1 {
                break;
            }
            blocks.truncate(blocks.len() - 2);
            blocks.push((a.0 + b.0, a.1 + b.1, a.2 + b.2));
        }
    }
    blocks
        .iter()
        .flat_map(|&(s, w, n)| std::iter::repeat_n(s / w, n))
        .collect()
}

/// Equal-count bins over observations sorted by load; a bin never splits equal loads, so bin
/// loads strictly increase.
fn bins(obs: &mut [Observation]) -> Vec<Bin> {
    obs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let target = obs.len().div_ceil(MAX_BINS);
    let mut out = Vec::new();
    let mut start = 0;
    for i in 0..obs.len() {
        let at_end = i + 1 == obs.len();
        if at_end || (i + 1 - start >= target && obs[i + 1].0 > obs[i].0) {
            out.push(Bin::of(&obs[start..=i]));
            start = i + 1;
        }
    }
    out
}

impl Bin {
    fn of(obs: &[Observation]) -> Bin {
        let n = obs.len() as f64;
        let mean = |f: &dyn Fn(&Observation) -> f64| obs.iter().map(f).sum::<f64>() / n;
        Bin {
            load: mean(&|o| o.0),
            p50: mean(&|o| o.1),
            p95: mean(&|o| o.2),
            log_p95: mean(&|o| o.2.ln()),
            weight: n,
        }
    }
}

fn isotonic_knots(bins: &[Bin]) -> Vec<(f64, f64, f64)> {
    let w: Vec<f64> = bins.iter().map(|b| b.weight).collect();
    let p50 = pava(&bins.iter().map(|b| b.p50).collect::<Vec<_>>(), &w);
    let p95 = pava(&bins.iter().map(|b| b.p95).collect::<Vec<_>>(), &w);
    bins.iter()
        .zip(p50)
        .zip(p95)
        .map(|((b, m), h)| (b.load, m, h))
        .collect()
}

/// Linear between knots, flat outside them.
fn interpolate(knots: &[(f64, f64, f64)], load: f64, y: impl Fn(&(f64, f64, f64)) -> f64) -> f64 {
    let (Some(first), Some(last)) = (knots.first(), knots.last()) else {
        return f64::NAN;
    };
    if load.is_nan() {
        return f64::NAN;
    }
    if load <= first.0 {
        return y(first);
    }
    if load >= last.0 {
        return y(last);
    }
    let i = knots.partition_point(|k| k.0 <= load).clamp(1, knots.len() - 1);
    let (a, b) = (&knots[i - 1], &knots[i]);
    let t = if b.0 > a.0 { (load - a.0) / (b.0 - a.0) } else { 1.0 };
    y(a) + t * (y(b) - y(a))
}

fn isotonic_capacity(knots: &[(f64, f64, f64)], slo: f64) -> Option<f64> {
    let k = knots.iter().take_while(|k| k.2 <= slo).count().checked_sub(1)?;
    let a = knots[k];
    match knots.get(k + 1) {
        None => Some(a.0),
        Some(b) => Some(a.0 + (slo - a.2) / (b.2 - a.2) * (b.0 - a.0)),
    }
}

/// Weighted RMS of ln(model p95) − mean ln(observed p95) over the bins; infinite when the model
/// saturates at an observed load.
fn log_rmse(q: &QueueModel, bins: &[Bin]) -> f64 {
    let (mut sse, mut w) = (0.0, 0.0);
    for b in bins {
        let e = q.p95(b.load).ln() - b.log_p95;
        sse += b.weight * e * e;
        w += b.weight;
    }
    if sse.is_finite() {
        (sse / w).sqrt()
    } else {
        f64::INFINITY
    }
}

/// The best M/M/c over c = 1..=16 with its RMS log-error, or `None` with too few bins.
fn fit_queue(bins: &[Bin]) -> Option<(QueueModel, f64)> {
    if bins.len() < MIN_QUEUE_BINS {
        return None;
    }
    (1..=MAX_WORKERS)
        .filter_map(|c| fit_capacity(bins, c))
        .min_by(|a, b| a.1.total_cmp(&b.1))
}

/// Capacity for `c` workers: a log-spaced grid from just above the highest observed load to well
/// past the capacity that explains the lowest p95 as pure service time (p95(0) = ln 20 · c / K),
/// then golden-section search between the best grid point's neighbours.
fn fit_capacity(bins: &[Bin], c: u32) -> Option<(QueueModel, f64)> {
    let max_load = bins.iter().map(|b| b.load).fold(0.0, f64::max);
    let min_p95 = bins.iter().map(|b| b.log_p95.exp()).fold(f64::INFINITY, f64::min);
    let lo = (max_load * (1.0 + 1e-6)).max(1e-9).ln();
    let hi = (LN_20 * c as f64 / min_p95).max(lo.exp()).ln() + 10f64.ln();
    let cost = |ln_k: f64| log_rmse(&QueueModel::new(ln_k.exp(), c), bins);
    const GRID: usize = 48;
    let xs: Vec<f64> = (0..=GRID).map(|i| lo + (hi - lo) * i as f64 / GRID as f64).collect();
    let best = (0..=GRID).min_by(|&a, &b| cost(xs[a]).total_cmp(&cost(xs[b])))?;
    let (mut a, mut b) = (xs[best.saturating_sub(1)], xs[(best + 1).min(GRID)]);
    let g = (5f64.sqrt() - 1.0) / 2.0;
    for _ in 0..40 {
        let (x1, x2) = (b - g * (b - a), a + g * (b - a));
        if cost(x1) <= cost(x2) { b = x2 } else { a = x1 }
    }
    let k = if cost(0.5 * (a + b)) <= cost(xs[best]) {
        0.5 * (a + b)
    } else {
        xs[best]
    };
    let rmse = cost(k);
    rmse.is_finite().then(|| (QueueModel::new(k.exp(), c), rmse))
}

/// Whether the fitted p95 rises enough across the observed loads to identify the capacity.
fn rises(q: &QueueModel, bins: &[Bin]) -> bool {
    let (Some(first), Some(last)) = (bins.first(), bins.last()) else {
        return false;
    };
    q.p95(last.load) >= MIN_RISE * q.p95(first.load)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pava_known_sequences() {
        let ones = [1.0; 6];
        assert_eq!(
            pava(&[1.0, 3.0, 2.0, 4.0, 3.0, 5.0], &ones),
            [1.0, 2.5, 2.5, 3.5, 3.5, 5.0]
        );
        assert_eq!(pava(&[3.0, 2.0, 1.0], &ones), [2.0, 2.0, 2.0]);
        assert_eq!(pava(&[5.0, 1.0], &[1.0, 3.0]), [2.0, 2.0]);
        assert_eq!(pava(&[1.0, 2.0, 3.0], &ones), [1.0, 2.0, 3.0]);
        assert!(pava(&[], &[]).is_empty());
    }

    #[test]
    fn isotonic_curve_interpolates_and_stays_flat_outside() {
        // a dip at load 3 is pooled away; too few distinct loads for a queue fit
        let obs = [(1.0, 0.1, 0.2), (2.0, 0.1, 0.4), (3.0, 0.1, 0.3), (1.0, 0.1, 0.2)];
        let m = CapacityModel::fit(&obs).unwrap();
        assert_eq!(m.queue, None);
        assert_eq!(m.observations, 4);
        let p95: Vec<f64> = m.isotonic.iter().map(|k| k.2).collect();
        assert_eq!(p95, [0.2, 0.35, 0.35]);
        assert_eq!(m.p95_at(0.0), 0.2);
        assert!((m.p95_at(1.5) - 0.275).abs() < 1e-12);
        assert_eq!(m.p95_at(100.0), 0.35);
        assert!((m.capacity_at_slo(0.3).unwrap() - 5.0 / 3.0).abs() < 1e-12);
        assert_eq!(m.capacity_at_slo(1.0), Some(3.0), "no claim beyond observed loads");
        assert_eq!(m.capacity_at_slo(0.1), None);
        assert_eq!(m.capacity_at_slo(f64::NAN), None);
    }

    #[test]
    fn queue_fit_recovers_exact_mmc() {
        let truth = QueueModel::new(50.0, 4);
        let obs: Vec<Observation> = (5..=48)
            .map(|l| (l as f64, truth.latency_quantile(l as f64, 0.5), truth.p95(l as f64)))
            .collect();
        let m = CapacityModel::fit(&obs).unwrap();
        let q = m.queue.expect("exact M/M/c data fit well");
        assert!((q.capacity_per_replica - 50.0).abs() < 1.0 && q.workers == 4, "{q:?}");
        let slo = truth.p95(40.0);
        assert!((m.capacity_at_slo(slo).unwrap() - 40.0).abs() < 0.5);
        // serde_json (without `float_roundtrip`) may move the last bit of a float
        let back: CapacityModel = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * a.abs().max(1.0);
        assert_eq!(
            (back.observations, back.isotonic.len()),
            (m.observations, m.isotonic.len())
        );
        let flat = |m: &CapacityModel| m.isotonic.iter().flat_map(|k| [k.0, k.1, k.2]).collect::<Vec<_>>();
        assert!(flat(&back).into_iter().zip(flat(&m)).all(|(a, b)| close(a, b)));
        let bq = back.queue.unwrap();
        assert!(bq.workers == q.workers && close(bq.capacity_per_replica, q.capacity_per_replica));
    }

    #[test]
    fn flat_latency_rejects_the_queue_model() {
        let obs: Vec<Observation> = (1..=30)
            .map(|l| (l as f64, 0.01, 0.02 + 0.0001 * (l % 3) as f64))
            .collect();
        let m = CapacityModel::fit(&obs).unwrap();
        assert_eq!(m.queue, None, "{:?}", m.queue_log_rmse);
        assert_eq!(m.capacity_at_slo(0.05), Some(30.0));
    }

    #[test]
    fn invalid_observations_are_dropped_or_rejected() {
        let err = CapacityModel::fit(&[(f64::NAN, 0.1, 0.2), (1.0, 0.1, 0.0), (-1.0, 0.1, 0.2)]).unwrap_err();
        assert!(err.to_string().contains("no valid"), "{err}");
        assert!(CapacityModel::fit(&[]).is_err());
        let m = CapacityModel::fit(&[(f64::INFINITY, 0.1, 0.2), (2.0, 0.1, 0.2)]).unwrap();
        assert_eq!(m.observations, 1);
        let empty = CapacityModel {
            isotonic: vec![],
            queue: None,
            queue_log_rmse: None,
            observations: 0,
        };
        assert!(empty.p95_at(1.0).is_nan());
        assert_eq!(empty.capacity_at_slo(1.0), None);
    }
}
