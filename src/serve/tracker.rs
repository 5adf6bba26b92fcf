//! The active model's serving state, continued point by point as recent data arrives
//! (forecast::online). Points are placed on the model's time grid (history_start + k·step);
//! every point but the newest is committed to the state, and the newest is applied to a copy
//! only, because the next fetch may still revise it.

use crate::Result;
use crate::forecast::Forecast;
use crate::forecast::Online;
use crate::train::artifact::Artifact;

/// Recent demand as fetched: values on a regular grid, the last one at `last_time`.
#[derive(Debug, Clone, PartialEq)]
pub struct Recent {
    pub values: Vec<f64>,
    pub step: i64,
    pub last_time: i64,
}

/// Grid steps a gap is filled across (each a missing observation); a longer gap is bridged
/// directly, as if the data had been continuous.
const MAX_GAP_STEPS: i64 = 100_000;

pub struct Tracker {
    version: String,
    state: Option<Online>,
    start: i64,
    step: i64,
    /// Grid slot of the next point to commit.
    next_slot: i64,
}

impl Tracker {
    /// Moves the serving state out of `a` (see [`Self::for_artifact`]) and, when there is
    /// one, frees the stored history, which only a refit would read: serving thousands of
    /// services, the histories would be most of the memory.
    pub fn take_from(a: &mut Artifact) -> Tracker {
        let online = a.state.online.take();
        let t = Tracker::build(a, online);
        if t.is_online() {
            a.state.history = Vec::new();
        }
        t
    }

    /// The stored serving state of `a`, or one fitted once from its history for artifacts
    /// written before states were stored; None inside when the family has none (the MLP).
    pub fn for_artifact(a: &Artifact) -> Tracker {
        Tracker::build(a, a.state.online.clone())
    }

    fn build(a: &Artifact, online: Option<Online>) -> Tracker {
        let st = &a.state;
        let state = online.or_else(|| {
            st.spec
                .restore(&st.history, a.weights.as_deref())
                .ok()
                .and_then(|f| f.online())
        });
        Tracker {
            version: a.manifest.version.clone(),
            state,
            start: st.history_start,
            step: st.step.max(1),
            next_slot: st.history.len() as i64,
        }
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    pub fn is_online(&self) -> bool {
        self.state.is_some()
    }

    /// Time of the first step after the committed points.
    pub fn committed_end(&self) -> i64 {
        self.start + self.next_slot * self.step
    }

    /// Commits what `recent` adds and forecasts `horizon` steps after its newest point.
    /// Returns the forecast and its origin (the time of its first step: one step after the
    /// newest point, or after the committed ones); None without a state.
    pub fn forecast(&mut self, recent: Option<&Recent>, horizon: usize) -> Option<Result<(Forecast, i64)>> {
        let step = self.step;
        let pending = match recent.filter(|r| !r.values.is_empty()) {
            Some(r) => {
                let newest = (r.last_time - self.start + step / 2).div_euclid(step);
                let first = newest - (r.values.len() as i64 - 1);
                if first - self.next_slot > MAX_GAP_STEPS {
                    self.next_slot = first;
                }
                let state = self.state.as_mut()?;
                while self.next_slot < first.min(newest) {
                    state.observe(f64::NAN);
                    self.next_slot += 1;
                }
                for (slot, v) in (first..newest).zip(&r.values) {
                    if slot >= self.next_slot {
                        state.observe(*v);
                        self.next_slot = slot + 1;
                    }
                }
                // The origin stays on the fetched grid: one step after the newest point.
                (newest >= self.next_slot).then(|| (r.values[r.values.len() - 1], r.last_time + step))
            }
            None => None,
        };
        let state = self.state.as_ref()?;
        let origin = pending.map_or(self.committed_end(), |(_, o)| o);
        let pending = pending.map(|(v, _)| v);
        Some(state.predict_after(pending.as_slice(), horizon).map(|f| (f, origin)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forecast::naive::NaiveState;

    fn tracker(season: &[f64], start: i64, step: i64, history_len: i64) -> Tracker {
        Tracker {
            version: "v1".into(),
            state: Some(Online::SeasonalNaive(NaiveState {
                last: season.iter().copied().collect(),
                sigma: 1.0,
            })),
            start,
            step,
            next_slot: history_len,
        }
    }

    fn recent(values: &[f64], last_time: i64, step: i64) -> Recent {
        Recent {
            values: values.to_vec(),
            step,
            last_time,
        }
    }

    /// Seasonal naive of period 3 trained on slots 0..6 (times 0..600 at 100 s), its season
    /// [1, 2, 3] in slots 3..6: the forecast repeats the last three values, committed or pending.
    #[test]
    fn commits_all_but_the_newest_point_on_the_model_grid() {
        // (recent values, last_time, expected forecast of 3 steps, expected origin, committed_end)
        type Case<'a> = (&'a [f64], i64, [f64; 3], i64, i64);
        let cases: &[Case] = &[
            // No recent data: the stored state, from the end of history.
            (&[], 0, [1.0, 2.0, 3.0], 600, 600),
            // Slots 6 and 7 (times 600, 700, sampled 20 s late): 6 committed, 7 pending.
            (&[10.0, 11.0], 720, [3.0, 10.0, 11.0], 820, 700),
            // Slot 7 revised, and slot 8 arrives: 7 is committed with the revised value.
            (&[10.0, 12.0, 13.0], 805, [10.0, 12.0, 13.0], 905, 800),
            // The same window again: nothing new is committed.
            (&[10.0, 12.0, 13.0], 805, [10.0, 12.0, 13.0], 905, 800),
            // A gap: slots 8..11 missing (8 was only ever pending), data resumes at slots 12
            // and 13. Missing slots repeat the season: 8→3, 9→10, 10→12, 11→3; then 12 = 20
            // is committed and 13 = 21 pending, so the next season is [3, 20, 21].
            (&[20.0, 21.0], 1300, [3.0, 20.0, 21.0], 1400, 1300),
        ];
        let mut t = tracker(&[1.0, 2.0, 3.0], 0, 100, 6);
        for (i, (values, last, want, origin, end)) in cases.iter().enumerate() {
            let r = recent(values, *last, 100);
            let (f, o) = t.forecast(Some(&r), 3).unwrap().unwrap();
            assert_eq!(f.point, want.to_vec(), "case {i}");
            assert_eq!((o, t.committed_end()), (*origin, *end), "case {i}");
        }
    }

    #[test]
    fn older_data_than_committed_changes_nothing() {
        let mut t = tracker(&[1.0, 2.0, 3.0], 0, 100, 6);
        let (f, o) = t.forecast(Some(&recent(&[9.0, 9.0], 300, 100)), 3).unwrap().unwrap();
        assert_eq!((f.point, o, t.committed_end()), (vec![1.0, 2.0, 3.0], 600, 600));
    }

    #[test]
    fn no_state_means_no_forecast() {
        let mut t = tracker(&[1.0], 0, 100, 6);
        t.state = None;
        assert!(t.forecast(None, 3).is_none() && !t.is_online());
    }
}
