//! Plan: forecast demand over the lead window → replicas. Pure; time is an argument.

use crate::forecast::Forecast;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PlanConfig {
    /// Forecast quantile to provision for (0.9 = p90).
    pub quantile: f64,
    /// Requests per second one replica serves at 100% utilization.
    pub capacity_per_replica: f64,
    /// Utilization to provision for, as the HPA target.
    pub target_utilization: f64,
    /// Load per replica at which the fitted latency model meets the SLO (`capacity_fit`). When
    /// set it replaces `capacity_per_replica × target_utilization`: capacity comes from measured
    /// latency, not a fixed guess.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_per_replica_at_slo: Option<f64>,
}

impl PlanConfig {
    /// Demand one replica is planned to carry.
    pub fn per_replica(&self) -> f64 {
        self.load_per_replica_at_slo
            .filter(|l| l.is_finite() && *l > 0.0)
            .unwrap_or(self.capacity_per_replica * self.target_utilization)
    }
}

/// A forecast anchored in time: `forecast.point[i]` is the demand at `origin + i * step`.
#[derive(Debug, Clone, Copy)]
pub struct ForecastWindow<'a> {
    pub forecast: &'a Forecast,
    pub origin: i64,
    pub step: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub replicas: u32,
    /// The demand quantile provisioned for (the peak over the lead window).
    pub peak_demand: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoPlan {
    /// The forecast does not reach the end of the lead window.
    ForecastExpired,
    /// NaN, infinite or negative values, or an interval wider than 10× the point.
    ForecastInsane(String),
}

/// Replicas for the peak `quantile` of forecast demand over `[now, now + lead]`.
pub fn plan(now: i64, lead: i64, w: ForecastWindow<'_>, cfg: &PlanConfig) -> Result<Plan, NoPlan> {
    let f = w.forecast;
    let idx = |t: i64| (t - w.origin).div_euclid(w.step);
    let (from, to) = (idx(now).max(0), idx(now + lead) + 1);
    if to as usize >= f.len() || to <= 0 {
        return Err(NoPlan::ForecastExpired);
    }
    let mut peak: f64 = 0.0;
    // include the point after the window end: demand between samples is interpolated
    for i in from as usize..=to as usize {
        let q = f.quantile(i, cfg.quantile);
        let width = f.upper_95[i] - f.lower_95[i];
        if !q.is_finite() || !f.point[i].is_finite() || !width.is_finite() {
            return Err(NoPlan::ForecastInsane(format!("non-finite value at step {i}")));
        }
        if f.point[i] < -1e-9 * f.point[i].abs().max(1.0) && f.upper_95[i] < 0.0 {
            return Err(NoPlan::ForecastInsane(format!(
                "negative forecast {} at step {i}",
                f.point[i]
            )));
        }
        if width > 10.0 * f.point[i].abs().max(1e-9) && width > 1.0 {
            return Err(NoPlan::ForecastInsane(format!(
                "95% interval {width:.3} wider than 10x the point at step {i}"
            )));
        }
        peak = peak.max(q);
    }
    let per = cfg.per_replica();
    Ok(Plan {
        replicas: (peak.max(0.0) / per).ceil() as u32,
        peak_demand: peak,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(f: &Forecast) -> ForecastWindow<'_> {
        ForecastWindow {
            forecast: f,
            origin: 0,
            step: 60,
        }
    }

    #[test]
    fn plan_table() {
        let cfg = PlanConfig {
            quantile: 0.5,
            capacity_per_replica: 10.0,
            target_utilization: 0.5,
            load_per_replica_at_slo: None,
        };
        let f = Forecast::from_sigma(vec![10.0, 20.0, 40.0, 30.0, 10.0, 10.0], &[1.0; 6]);
        // (now, lead, expected replicas): 5 rps per replica at 50% of 10
        let cases = [(0, 0, 4), (0, 60, 8), (60, 60, 8), (180, 60, 6), (240, 0, 2)];
        for (now, lead, want) in cases {
            assert_eq!(
                plan(now, lead, window(&f), &cfg).unwrap().replicas,
                want,
                "now={now} lead={lead}"
            );
        }
        assert_eq!(plan(300, 60, window(&f), &cfg), Err(NoPlan::ForecastExpired));
        // A fitted capacity replaces capacity × utilization: 8 rps per replica at the SLO.
        let fitted = PlanConfig {
            load_per_replica_at_slo: Some(8.0),
            ..cfg
        };
        assert_eq!(plan(0, 60, window(&f), &fitted).unwrap().replicas, 5);
        // A useless fit (0, NaN) falls back to the fixed capacity.
        for bad in [0.0, f64::NAN] {
            let c = PlanConfig {
                load_per_replica_at_slo: Some(bad),
                ..cfg
            };
            assert_eq!(plan(0, 60, window(&f), &c).unwrap().replicas, 8);
        }
    }

    #[test]
    fn higher_quantile_never_plans_less() {
        let f = Forecast::from_sigma(vec![10.0; 5], &[3.0; 5]);
        let mut last = 0;
        for q in [0.5, 0.8, 0.9, 0.95, 0.99] {
            let cfg = PlanConfig {
                quantile: q,
                capacity_per_replica: 1.0,
                target_utilization: 1.0,
                load_per_replica_at_slo: None,
            };
            let r = plan(0, 60, window(&f), &cfg).unwrap().replicas;
            assert!(r >= last);
            last = r;
        }
    }

    #[test]
    fn insane_forecasts_are_discarded() {
        let cfg = PlanConfig {
            quantile: 0.9,
            capacity_per_replica: 1.0,
            target_utilization: 1.0,
            load_per_replica_at_slo: None,
        };
        let nan = Forecast::from_sigma(vec![f64::NAN; 3], &[1.0; 3]);
        let wide = Forecast::from_sigma(vec![1.0; 3], &[100.0; 3]);
        let neg = Forecast::from_sigma(vec![-50.0; 3], &[1.0; 3]);
        for f in [nan, wide, neg] {
            assert!(matches!(plan(0, 60, window(&f), &cfg), Err(NoPlan::ForecastInsane(_))));
        }
    }
}
