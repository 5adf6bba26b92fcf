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

    /// Replicas that carry `demand` at [`Self::per_replica`]; 0 for no demand.
    pub fn replicas_for(&self, demand: f64) -> u32 {
        let n = (demand.max(0.0) / self.per_replica()).ceil();
        if n.is_finite() {
            n.min(u32::MAX as f64) as u32
        } else {
            u32::MAX
        }
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

/// Replicas for the peak `quantile` of forecast demand over `[now, now + lead]`. Demand between
/// forecast points is linear, so the window's ends are interpolated rather than rounded out to
/// whole steps (rounding out planned a step's worth of the next peak too early). `observed`, the
/// demand at `now`, lowers a forecast it contradicts from above ([`overforecast_shift`]); `bias` is
/// added to every planned quantile first (the controller's correction for recent forecast error).
pub fn plan(
    now: i64,
    lead: i64,
    w: ForecastWindow<'_>,
    cfg: &PlanConfig,
    observed: Option<f64>,
    bias: f64,
) -> Result<Plan, NoPlan> {
    let f = w.forecast;
    let bias = if bias.is_finite() { bias } else { 0.0 };
    let shift = observed
        .and_then(|d| overforecast_shift(w, now, d - bias))
        .unwrap_or(0.0)
        - bias;
    let pos = |t: i64| (t - w.origin) as f64 / w.step as f64;
    // A window that ends before the first forecast point (the next unobserved one) plans for
    // that point: demand rises towards it from the last observation.
    let (a, b) = (pos(now).max(0.0), pos(now + lead).max(0.0));
    if b.ceil() as usize >= f.len() {
        return Err(NoPlan::ForecastExpired);
    }
    let (from, to) = (a.floor() as usize, b.ceil() as usize);
    // The interval is judged against the forecast's own magnitude, not the point alone: at the
    // end of an idle period the point is near zero while its interval is not.
    let scale = f
        .point
        .iter()
        .filter(|p| p.is_finite())
        .fold(0.0, |m: f64, p| m.max(p.abs()));
    for i in from..=to {
        check_point(f, i, scale)?;
    }
    // Demand is never negative: clamp each point before interpolating, so a slightly negative
    // forecast at the end of an idle period does not hide the rise after it.
    let q = |i: usize| (f.quantile(i, cfg.quantile) - shift).max(0.0);
    let at = |x: f64| {
        let i = x.floor() as usize;
        let frac = x - i as f64;
        if frac <= 0.0 {
            q(i)
        } else {
            q(i) * (1.0 - frac) + q(i + 1) * frac
        }
    };
    let inner = (from + 1..to).chain((b.fract() == 0.0).then_some(to)).map(q);
    let peak = inner.fold(at(a).max(at(b)), f64::max);
    Ok(Plan {
        replicas: cfg.replicas_for(peak),
        peak_demand: peak,
    })
}

/// The point forecast at `t` (the first point before it), interpolated; None outside.
pub fn point_at(w: ForecastWindow<'_>, t: i64) -> Option<f64> {
    series_at(w, &w.forecast.point, t.max(w.origin))
}

/// The forecast's 95% band top at `t`, interpolated; None outside the forecast.
pub fn upper_95_at(w: ForecastWindow<'_>, t: i64) -> Option<f64> {
    series_at(w, &w.forecast.upper_95, t)
}

/// `v` (one of the forecast's series) at `t`, interpolated; None outside the forecast.
fn series_at(w: ForecastWindow<'_>, v: &[f64], t: i64) -> Option<f64> {
    let x = (t - w.origin) as f64 / w.step as f64;
    if x < 0.0 || x.ceil() as usize >= v.len() {
        return None;
    }
    let i = x.floor() as usize;
    let frac = x - i as f64;
    let v = if frac <= 0.0 {
        v[i]
    } else {
        v[i] * (1.0 - frac) + v[i + 1] * frac
    };
    v.is_finite().then_some(v)
}

/// The smallest level shift that puts observed demand back inside the forecast's 95% band now:
/// a forecast the present contradicts from above (a past spike repeated by a seasonal model,
/// say) is lowered by that much over the whole window. None when the present agrees with it.
/// Only downward: demand above the band is the trend's and the burst guard's.
pub fn overforecast_shift(w: ForecastWindow<'_>, now: i64, observed: f64) -> Option<f64> {
    // Before the first forecast point (the next unobserved one), that point is the present's.
    let lo = series_at(w, &w.forecast.lower_95, now.max(w.origin))?;
    (observed.is_finite() && observed >= 0.0 && observed < lo).then_some(lo - observed)
}

fn check_point(f: &Forecast, i: usize, scale: f64) -> Result<(), NoPlan> {
    let width = f.upper_95[i] - f.lower_95[i];
    if !f.point[i].is_finite() || !width.is_finite() || !f.upper_95[i].is_finite() {
        return Err(NoPlan::ForecastInsane(format!("non-finite value at step {i}")));
    }
    if f.point[i] < -1e-9 * f.point[i].abs().max(1.0) && f.upper_95[i] < 0.0 {
        return Err(NoPlan::ForecastInsane(format!(
            "negative forecast {} at step {i}",
            f.point[i]
        )));
    }
    if width > 10.0 * scale.max(1e-9) && width > 1.0 {
        return Err(NoPlan::ForecastInsane(format!(
            "95% interval {width:.3} wider than 10x the point at step {i}"
        )));
    }
    Ok(())
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
        // (now, lead, expected replicas): 5 rps per replica at 50% of 10; the window's ends are
        // interpolated (90 s is half way from 20 to 40)
        let cases = [
            (0, 0, 2),
            (0, 60, 4),
            (0, 90, 6),
            (60, 60, 8),
            (180, 60, 6),
            (240, 0, 2),
            (30, 0, 3),
        ];
        for (now, lead, want) in cases {
            assert_eq!(
                plan(now, lead, window(&f), &cfg, None, 0.0).unwrap().replicas,
                want,
                "now={now} lead={lead}"
            );
        }
        assert_eq!(plan(300, 60, window(&f), &cfg, None, 0.0), Err(NoPlan::ForecastExpired));
        assert_eq!(plan(270, 60, window(&f), &cfg, None, 0.0), Err(NoPlan::ForecastExpired));
        // Before the forecast's origin, the first forecast point is planned for.
        let later = ForecastWindow {
            origin: 600,
            ..window(&f)
        };
        assert_eq!(plan(0, 60, later, &cfg, None, 0.0).unwrap().replicas, 2);
        // A fitted capacity replaces capacity × utilization: 8 rps per replica at the SLO.
        let fitted = PlanConfig {
            load_per_replica_at_slo: Some(8.0),
            ..cfg
        };
        assert_eq!(plan(0, 120, window(&f), &fitted, None, 0.0).unwrap().replicas, 5);
        // A useless fit (0, NaN) falls back to the fixed capacity.
        for bad in [0.0, f64::NAN] {
            let c = PlanConfig {
                load_per_replica_at_slo: Some(bad),
                ..cfg
            };
            assert_eq!(plan(0, 120, window(&f), &c, None, 0.0).unwrap().replicas, 8);
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
            let r = plan(0, 60, window(&f), &cfg, None, 0.0).unwrap().replicas;
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
            assert!(matches!(
                plan(0, 60, window(&f), &cfg, None, 0.0),
                Err(NoPlan::ForecastInsane(_))
            ));
        }
        // The end of an idle period: a point near zero with an ordinary interval is sane, and a
        // slightly negative point does not hide the rise after it.
        let waking = Forecast::from_sigma(vec![-1.5, 40.0, 40.0], &[4.0; 3]);
        // p90: 3.6 at step 0, 45.1 at step 1; 6 s is a tenth of the way: 7.75
        assert_eq!(plan(0, 6, window(&waking), &cfg, None, 0.0).unwrap().replicas, 8);
    }

    #[test]
    fn a_forecast_the_present_contradicts_from_above_is_lowered() {
        let cfg = PlanConfig {
            quantile: 0.5,
            capacity_per_replica: 1.0,
            target_utilization: 1.0,
            load_per_replica_at_slo: None,
        };
        // sigma 5: the 95% band's bottom is 100 - 1.96 * 5 = 90.2 at every step; a rise to 130 at
        // step 2 keeps its shape when the level is lowered.
        let f = Forecast::from_sigma(vec![100.0, 100.0, 130.0, 100.0], &[5.0; 4]);
        let later = ForecastWindow {
            origin: 600,
            ..window(&f)
        };
        // (what, window, now, lead, observed, planned replicas)
        let cases = [
            ("no observation: the forecast as it is", window(&f), 0, 60, None, 100),
            (
                "the present inside the band: unchanged",
                window(&f),
                0,
                60,
                Some(95.0),
                100,
            ),
            (
                "the present above the band: unchanged (the trend's job)",
                window(&f),
                0,
                60,
                Some(150.0),
                100,
            ),
            (
                "the present below the band: lowered to meet it",
                window(&f),
                0,
                60,
                Some(20.0),
                30,
            ),
            ("the rise ahead keeps its shape", window(&f), 60, 60, Some(20.0), 60),
            (
                "zero demand lowers to the band's distance",
                window(&f),
                0,
                60,
                Some(0.0),
                10,
            ),
            (
                "before the first point, the first point is the present's",
                later,
                0,
                60,
                Some(20.0),
                30,
            ),
            (
                "a NaN observation changes nothing",
                window(&f),
                0,
                60,
                Some(f64::NAN),
                100,
            ),
        ];
        for (what, w, now, lead, observed, want) in cases {
            assert_eq!(
                plan(now, lead, w, &cfg, observed, 0.0).unwrap().replicas,
                want,
                "{what}"
            );
        }
    }
}
