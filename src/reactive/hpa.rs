//! The HPA replica calculation for a utilization metric (Kubernetes "Algorithm details"):
//! desired = ceil(current × currentUtilization / targetUtilization), no change inside the
//! tolerance; on scale-up, unready pods count as 0% utilization, and if that flips the
//! direction the recommendation is no change. Pure: inputs in, recommendation out.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HpaUtilization {
    pub target_utilization: f64,
    /// Kubernetes' default is 0.1.
    pub tolerance: f64,
}

/// What the HPA sees of the target this tick.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PodsView {
    /// The scale subresource's current replicas.
    pub current: u32,
    pub ready: u32,
    /// Summed usage of the ready pods, in the same unit as capacity (e.g. requests/s).
    pub ready_usage: f64,
    /// Usage at 100% utilization for one pod.
    pub per_pod_capacity: f64,
}

/// The recommendation, or None when there are no ready pods to measure (the HPA holds).
pub fn recommend(h: &HpaUtilization, v: &PodsView) -> Option<u32> {
    if v.ready == 0 || v.per_pod_capacity <= 0.0 || !v.ready_usage.is_finite() {
        return None;
    }
    let util = v.ready_usage / (v.ready as f64 * v.per_pod_capacity);
    let ratio = util / h.target_utilization;
    if (ratio - 1.0).abs() <= h.tolerance {
        return Some(v.current);
    }
    let unready = v.current.saturating_sub(v.ready);
    if ratio > 1.0 && unready > 0 {
        // Unready pods at 0%: recompute over all pods; no change if that flips direction.
        let all = (v.ready + unready) as f64;
        let new_ratio = (util * v.ready as f64) / (all * h.target_utilization);
        if new_ratio <= 1.0 || (new_ratio - 1.0).abs() <= h.tolerance {
            return Some(v.current);
        }
        return Some((new_ratio * all).ceil() as u32);
    }
    Some((ratio * v.ready as f64).ceil() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hpa_table() {
        let h = HpaUtilization {
            target_utilization: 0.5,
            tolerance: 0.1,
        };
        let v = |current, ready, usage| PodsView {
            current,
            ready,
            ready_usage: usage,
            per_pod_capacity: 1.0,
        };
        // (view, expected) — cases from the Kubernetes HPA algorithm details
        let cases = [
            (v(4, 4, 4.0), Some(8)),  // 100% vs 50% target: double
            (v(4, 4, 1.0), Some(2)),  // 25%: halve
            (v(4, 4, 2.1), Some(4)),  // ratio 1.05 within tolerance
            (v(4, 4, 1.82), Some(4)), // ratio 0.91 within tolerance
            (v(4, 2, 2.0), Some(4)),  // scale-up flips to no change with unready pods at 0%
            (v(4, 2, 3.0), Some(6)),  // 150% over 2 ready, 4 total at 0.75 → ratio 1.5 → 6
            (v(3, 0, 0.0), None),     // no ready pods: no recommendation
        ];
        for (i, (view, want)) in cases.into_iter().enumerate() {
            assert_eq!(recommend(&h, &view), want, "case {i}: {view:?}");
        }
    }
}
