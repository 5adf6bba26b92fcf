//! A metric source held in memory: samples per query, answered the way Prometheus answers a
//! range query (each grid point takes the newest sample at or before it, within the lookback).
//! For replays, benchmarks and tests that drive the real serve tick without a server.

use super::{MetricSource, NamedSample, NamedSeries};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Prometheus' default lookback: a grid point sees samples up to 5 minutes old.
pub const LOOKBACK_SECONDS: i64 = 300;

/// Samples `(unix seconds, value)` per query, sorted by time.
#[derive(Debug, Default)]
pub struct MemorySource {
    series: Mutex<BTreeMap<String, Vec<(i64, f64)>>>,
}

impl MemorySource {
    /// An empty source: every query returns no series.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets what `query` returns to `samples` (any order).
    pub fn set(&self, query: &str, mut samples: Vec<(i64, f64)>) {
        samples.sort_by_key(|s| s.0);
        self.series
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(query.to_string(), samples);
    }

    fn value_at(samples: &[(i64, f64)], t: i64) -> f64 {
        let i = samples.partition_point(|s| s.0 <= t);
        match i.checked_sub(1).map(|k| samples[k]) {
            Some((at, v)) if t - at <= LOOKBACK_SECONDS => v,
            _ => f64::NAN,
        }
    }
}

impl MemorySource {
    /// The range query, answered synchronously (the replay calls it inside its own loop).
    pub fn range_now(&self, query: &str, start: i64, end: i64, step: i64) -> Vec<NamedSeries> {
        let all = self.series.lock().unwrap_or_else(|e| e.into_inner());
        let Some(samples) = all.get(query) else {
            return vec![];
        };
        let step = step.max(1);
        let n = ((end - start).max(0) / step + 1).min(11_000) as usize;
        let values: Vec<f64> = (0..n)
            .map(|i| Self::value_at(samples, start + i as i64 * step))
            .collect();
        if values.iter().all(|v| v.is_nan()) {
            return vec![];
        }
        vec![NamedSeries {
            name: "{}".into(),
            labels: BTreeMap::new(),
            start,
            step,
            values,
        }]
    }
}

#[async_trait::async_trait]
impl MetricSource for MemorySource {
    async fn range(&self, query: &str, start: i64, end: i64, step: i64) -> crate::Result<Vec<NamedSeries>> {
        Ok(self.range_now(query, start, end, step))
    }

    async fn instant(&self, query: &str, time: i64) -> crate::Result<Vec<NamedSample>> {
        let all = self.series.lock().unwrap_or_else(|e| e.into_inner());
        let v = all.get(query).map_or(f64::NAN, |s| Self::value_at(s, time));
        Ok(if v.is_nan() {
            vec![]
        } else {
            vec![NamedSample {
                name: "{}".into(),
                labels: BTreeMap::new(),
                time: time as f64,
                value: v,
            }]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn answers_like_a_range_query() {
        let s = MemorySource::new();
        s.set("q", vec![(100, 1.0), (160, 2.0), (400, 3.0)]);
        // (start, end, step) → values: newest sample at or before each point, within 5 minutes.
        let cases: [(i64, i64, i64, Vec<f64>); 3] = [
            (100, 220, 60, vec![1.0, 2.0, 2.0]),
            (400, 760, 180, vec![3.0, 3.0, f64::NAN]),
            (0, 60, 60, vec![]),
        ];
        for (start, end, step, want) in cases {
            let got = s.range("q", start, end, step).await.unwrap();
            let values = got.first().map(|g| g.values.clone()).unwrap_or_default();
            assert_eq!(format!("{values:?}"), format!("{want:?}"), "{start}..{end} by {step}");
        }
        assert!(s.range("other", 0, 600, 60).await.unwrap().is_empty());
        assert_eq!(s.instant("q", 170).await.unwrap()[0].value, 2.0);
    }
}
