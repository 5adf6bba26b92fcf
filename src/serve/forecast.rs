//! The forecast step of a tick: the active model's serving state continued by the fetched points
//! ([`Tracker`]), cached until the model or the data changes, and the previous forecast scored
//! against what was then observed. A model without a serving state (the MLP) refits on its
//! stored history continued by the recent data.

use super::registry::Registry;
use super::tracker::{Recent, Tracker};
use crate::forecast::Forecast;
use crate::plan::horizontal::ForecastWindow;
use crate::train::artifact::Artifact;

/// A forecast and where it starts: `forecast.point[i]` is the demand at `origin + i * step`.
#[derive(Debug, Clone, PartialEq)]
pub struct Anchored {
    pub forecast: Forecast,
    pub origin: i64,
    pub step: i64,
}

impl Anchored {
    /// The window the planner reads.
    pub fn window(&self) -> ForecastWindow<'_> {
        ForecastWindow {
            forecast: &self.forecast,
            origin: self.origin,
            step: self.step,
        }
    }

    /// The point forecast at time `t`, if the forecast reaches it.
    pub fn point_at(&self, t: i64) -> Option<f64> {
        let i = (t - self.origin).div_euclid(self.step).max(0) as usize;
        self.forecast.point.get(i).copied()
    }
}

/// What a forecast depends on: the model version, where the data ends, its newest value.
#[derive(Debug, Clone, PartialEq)]
struct ForecastKey {
    version: String,
    origin: i64,
    last: Option<u64>,
}

/// One service's forecast step, its cache and its bookkeeping.
pub struct Forecaster {
    /// How far ahead capacity must be right.
    lead_seconds: i64,
    /// Data older than this is stale; forecasts reach this much further so later ticks without
    /// new data still cover `now + lead`.
    max_metric_age_seconds: i64,
    /// The previous tick's forecast, to score it against what was then observed.
    last: Option<Anchored>,
    /// The last forecast computed and what it was computed from.
    cached: Option<(ForecastKey, Anchored)>,
    /// The active model's serving state, continued point by point.
    tracker: Option<Tracker>,
    /// Forecasts computed (state updates or, without a serving state, model refits).
    pub forecasts_computed: u64,
    /// Time spent computing forecasts (cache hits included), for the benchmark.
    pub forecast_seconds: f64,
}

/// The forecast step's result for one tick.
#[derive(Debug, Clone, PartialEq)]
pub struct Forecasted {
    pub forecast: Option<Anchored>,
    /// |forecast − observed| for the newest point, from the previous tick's forecast.
    pub abs_error: Option<f64>,
    /// Point forecast at now + lead.
    pub at_lead: Option<f64>,
}

impl Forecaster {
    pub fn new(lead_seconds: i64, max_metric_age_seconds: i64) -> Self {
        Forecaster {
            lead_seconds,
            max_metric_age_seconds,
            last: None,
            cached: None,
            tracker: None,
            forecasts_computed: 0,
            forecast_seconds: 0.0,
        }
    }

    /// Extra steps forecast so later ticks without new data still cover `now + lead`.
    fn slack(&self, step: i64) -> usize {
        (self.max_metric_age_seconds / step.max(1)).clamp(0, 1000) as usize + 1
    }

    /// Forecasts from the registry's active model continued by `recent` (None: the fetch
    /// failed), at `now`. Runs the model only when the model or the data changed.
    pub fn forecast(&mut self, registry: &mut Registry, recent: Option<&Recent>, name: &str, now: i64) -> Forecasted {
        let art = registry.current();
        self.forecast_with(art.as_deref(), || registry.take_tracker(), recent, name, now)
    }

    /// [`Self::forecast`] from `art`, wherever it is held: serve's registry or the replay's
    /// in-memory versions. `loaded` hands over the serving state prepared when `art` was
    /// loaded, if any; otherwise one is built from `art`.
    pub fn forecast_with(
        &mut self,
        art: Option<&Artifact>,
        loaded: impl FnOnce() -> Option<Tracker>,
        recent: Option<&Recent>,
        name: &str,
        now: i64,
    ) -> Forecasted {
        let lead = self.lead_seconds;
        let demand = recent.and_then(|r| r.values.last().copied());
        let abs_error = match (&self.last, recent, demand) {
            (Some(f), Some(r), Some(d)) => {
                let i = (r.last_time - f.origin) as f64 / f.step as f64;
                (i >= 0.0 && (i.round() as usize) < f.forecast.len())
                    .then(|| (f.forecast.point[i.round() as usize] - d).abs())
            }
            _ => None,
        };
        if let Some(a) = &art
            && self.tracker.as_ref().is_none_or(|t| t.version() != a.manifest.version)
        {
            self.tracker = Some(
                loaded()
                    .filter(|t| t.version() == a.manifest.version)
                    .unwrap_or_else(|| Tracker::for_artifact(a)),
            );
        }
        let started = std::time::Instant::now();
        let forecast = art.as_ref().and_then(|a| {
            let step = a.state.step;
            let origin = match (recent, &self.tracker) {
                (Some(r), _) if !r.values.is_empty() => r.last_time + step,
                (_, Some(t)) if t.is_online() => t.committed_end(),
                _ => a.state.history_start + a.state.history.len() as i64 * step,
            };
            let h = ((now + lead - origin).div_euclid(step) + 3).max(3) as usize;
            let key = ForecastKey {
                version: a.manifest.version.clone(),
                origin,
                last: recent.and_then(|r| r.values.last()).map(|v| v.to_bits()),
            };
            if let Some((k, f)) = &self.cached
                && *k == key
                && f.forecast.len() >= h
            {
                return Some(f.clone());
            }
            let horizon = (h + self.slack(step)).min(100_000);
            let computed = match self.tracker.as_mut().and_then(|t| t.forecast(recent, horizon)) {
                Some(r) => r.map(|(f, o)| (a.state.calibrate(f), o)),
                None => match recent {
                    Some(r) if !r.values.is_empty() => {
                        let keep = a.state.history.len().saturating_sub(r.values.len());
                        let mut y = Vec::with_capacity(keep + r.values.len());
                        y.extend_from_slice(&a.state.history[a.state.history.len() - keep..]);
                        y.extend_from_slice(&r.values);
                        a.forecast(&y, horizon)
                    }
                    _ => a.forecast(&a.state.history, horizon),
                }
                .map(|f| (f, origin)),
            };
            self.forecasts_computed += 1;
            match computed {
                Ok((forecast, origin)) => {
                    let f = Anchored { forecast, origin, step };
                    self.cached = Some((key, f.clone()));
                    Some(f)
                }
                Err(e) => {
                    tracing::warn!(service = %name, "forecast failed: {e}");
                    None
                }
            }
        });
        self.forecast_seconds += started.elapsed().as_secs_f64();
        let at_lead = forecast.as_ref().and_then(|f| f.point_at(now + lead));
        self.last = forecast.clone();
        Forecasted {
            forecast,
            abs_error,
            at_lead,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::registry::Reload;
    use crate::serve::registry::tests::write_version;

    #[test]
    fn forecast_is_recomputed_only_for_new_data_or_model() {
        let d = tempfile::tempdir().unwrap();
        write_version(d.path(), "web", true);
        let mut reg = Registry::new(d.path(), "web");
        assert!(matches!(reg.poll(), Reload::Loaded(_)));
        let mut f = Forecaster::new(7200, 600);
        let now = 200 * 3600;
        let recent = Recent {
            values: vec![30.0, 31.0, 32.0],
            step: 3600,
            last_time: now - 60,
        };
        let first = f.forecast(&mut reg, Some(&recent), "web", now);
        // Same data 30 s later: the cached forecast.
        let again = f.forecast(&mut reg, Some(&recent), "web", now + 30);
        assert_eq!(f.forecasts_computed, 1);
        assert_eq!(first.forecast, again.forecast);
        assert!(again.forecast.is_some());
        // A revised newest value, a new point, or a new model version recomputes.
        let revised = Recent {
            values: vec![30.0, 31.0, 40.0],
            ..recent.clone()
        };
        f.forecast(&mut reg, Some(&revised), "web", now + 60);
        assert_eq!(f.forecasts_computed, 2);
        let next = Recent {
            values: vec![31.0, 40.0, 33.0],
            last_time: now + 3600 - 60,
            ..recent.clone()
        };
        f.forecast(&mut reg, Some(&next), "web", now + 3600);
        assert_eq!(f.forecasts_computed, 3);
        write_version(d.path(), "web", true);
        assert!(matches!(reg.poll(), Reload::Loaded(_)));
        f.forecast(&mut reg, Some(&next), "web", now + 3630);
        assert_eq!(f.forecasts_computed, 4);
        // A tick so late that the cached forecast no longer reaches now + lead recomputes too.
        f.forecast(&mut reg, Some(&next), "web", now + 3600 + 40 * 3600);
        assert_eq!(f.forecasts_computed, 5);
    }

    #[test]
    fn the_previous_forecast_is_scored_against_the_new_point() {
        let d = tempfile::tempdir().unwrap();
        write_version(d.path(), "web", true);
        let mut reg = Registry::new(d.path(), "web");
        assert!(matches!(reg.poll(), Reload::Loaded(_)));
        let mut f = Forecaster::new(7200, 600);
        let now = 200 * 3600;
        let recent = Recent {
            values: vec![30.0, 31.0, 32.0],
            step: 3600,
            last_time: now - 60,
        };
        let first = f.forecast(&mut reg, Some(&recent), "web", now);
        assert_eq!(first.abs_error, None, "nothing to score yet");
        let prev = first.forecast.unwrap();
        let next = Recent {
            values: vec![31.0, 32.0, 50.0],
            last_time: now + 3600 - 60,
            ..recent
        };
        let second = f.forecast(&mut reg, Some(&next), "web", now + 3600);
        let want = (prev.forecast.point[0] - 50.0).abs();
        assert_eq!(second.abs_error, Some(want));
    }
}
