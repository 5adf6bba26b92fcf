//! Trace sources: per-service request rate, p95 latency and error rate from spans, windowed as
//! [`ServiceMinute`]s. The OTLP receivers' aggregator feeds a [`WindowStore`]; [`Tempo`] answers
//! from its search API. [`TraceMetrics`] turns either into a [`MetricSource`] whose query is a
//! service name, so `scale serve` reads demand from traces like from PromQL (docs/serve.md).

use super::spans::{ServiceMinute, per_service_minutes};
use super::tempo::Tempo;
use super::{MetricSource, NamedSample, NamedSeries};
use crate::{Error, Result};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

/// Which per-service series a trace source gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceMetric {
    /// Entry spans per second.
    RequestRate,
    /// 95th-percentile entry-span duration, seconds.
    P95,
    /// Errors / requests.
    ErrorRate,
}

impl TraceMetric {
    fn of(self, m: &ServiceMinute) -> f64 {
        match self {
            TraceMetric::RequestRate => m.rate,
            TraceMetric::P95 => m.p95,
            TraceMetric::ErrorRate if m.requests > 0 => m.errors as f64 / m.requests as f64,
            TraceMetric::ErrorRate => 0.0,
        }
    }

    /// The value of a complete window in which the service received nothing.
    fn idle(self) -> f64 {
        match self {
            TraceMetric::RequestRate | TraceMetric::ErrorRate => 0.0,
            TraceMetric::P95 => f64::NAN,
        }
    }
}

/// Closed windows of one service, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct Windows {
    /// Length of each window, seconds.
    pub window_seconds: i64,
    /// The closed windows that had requests, by start time; idle ones are absent.
    pub windows: Vec<ServiceMinute>,
    /// Windows starting before this are complete: an absent one had no requests.
    pub complete_before: i64,
}

/// Per-service request windows between `start` and `end` (Unix seconds).
#[async_trait::async_trait]
pub trait TraceSource: Send + Sync {
    /// The closed windows of `service` that overlap `[start, end]`.
    async fn windows(&self, service: &str, start: i64, end: i64) -> Result<Windows>;
}

impl Windows {
    /// `metric` on the grid `start, start+step, …, end`: the value at `t` is that of the newest
    /// complete window ending at or before `t` (within one window); NaN where none is known yet.
    pub fn series(&self, service: &str, metric: TraceMetric, start: i64, end: i64, step: i64) -> NamedSeries {
        let w = self.window_seconds.max(1);
        let by_start: BTreeMap<i64, &ServiceMinute> = self.windows.iter().map(|m| (m.minute, m)).collect();
        let mut values = Vec::new();
        let mut t = start;
        while t <= end && step > 0 {
            let m = (t - w).div_euclid(w) * w;
            values.push(match by_start.get(&m) {
                Some(x) => metric.of(x),
                None if m + w <= self.complete_before => metric.idle(),
                None => f64::NAN,
            });
            t += step;
        }
        NamedSeries {
            name: format!("{{service={service:?}}}"),
            labels: [("service".to_string(), service.to_string())].into(),
            start,
            step,
            values,
        }
    }
}

/// Closed windows from the OTLP receivers' aggregator, kept per service for `retention_seconds`.
#[derive(Clone)]
pub struct WindowStore {
    window_seconds: i64,
    retention_seconds: i64,
    inner: Arc<Mutex<StoreInner>>,
}

#[derive(Default)]
struct StoreInner {
    services: BTreeMap<String, VecDeque<ServiceMinute>>,
    complete_before: i64,
}

impl WindowStore {
    /// An empty store of `window_seconds` windows (at least 1), keeping `retention_seconds` behind
    /// the newest closed window.
    pub fn new(window_seconds: i64, retention_seconds: i64) -> Self {
        WindowStore {
            window_seconds: window_seconds.max(1),
            retention_seconds,
            inner: Arc::new(Mutex::new(StoreInner {
                complete_before: i64::MIN,
                ..Default::default()
            })),
        }
    }

    /// The receivers' sink: closed windows, oldest first.
    pub fn add(&self, closed: Vec<ServiceMinute>) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        for m in closed {
            g.complete_before = g.complete_before.max(m.minute + self.window_seconds);
            g.services.entry(m.service.clone()).or_default().push_back(m);
        }
        let keep_from = g.complete_before.saturating_sub(self.retention_seconds);
        for q in g.services.values_mut() {
            while q.front().is_some_and(|m| m.minute < keep_from) {
                q.pop_front();
            }
        }
    }
}

#[async_trait::async_trait]
impl TraceSource for WindowStore {
    async fn windows(&self, service: &str, start: i64, end: i64) -> Result<Windows> {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let w = self.window_seconds;
        Ok(Windows {
            window_seconds: w,
            windows: g
                .services
                .get(service)
                .map(|q| {
                    q.iter()
                        .filter(|m| m.minute + w >= start && m.minute <= end)
                        .cloned()
                        .collect()
                })
                .unwrap_or_default(),
            complete_before: g.complete_before,
        })
    }
}

/// The default TraceQL per service of [`TempoTraces`].
pub const DEFAULT_TRACEQL: &str = "{ resource.service.name = \"$service\" }";

/// Tempo as a trace source: the service's spans from a TraceQL search, windowed.
///
/// The calls of one tick share one search per service: the demand fetch and a latency rule ask
/// for the same `end` (the tick's now), so the latest search is kept per service and a call it
/// covers is answered from it. Each search spans the widest range asked for that service, so
/// from the second tick on the rule's shorter range is always covered.
pub struct TempoTraces {
    /// The Tempo to search.
    pub tempo: Tempo,
    /// Length of the windows spans are grouped into, seconds.
    pub window_seconds: i64,
    /// Traces fetched per search at most.
    pub limit: usize,
    /// The search; `$service` is replaced by the service name, escaped for a TraceQL string
    /// (see [`DEFAULT_TRACEQL`]).
    pub traceql: String,
    recent: Mutex<BTreeMap<String, Arc<tokio::sync::Mutex<Recent>>>>,
}

/// Services whose latest search is kept at most; past it the memo starts afresh.
const MAX_RECENT_SERVICES: usize = 10_000;

/// One service's widest range asked (seconds) and its latest search: (start, end, windows).
#[derive(Default)]
struct Recent {
    widest: i64,
    got: Option<(i64, i64, Windows)>,
}

impl TempoTraces {
    /// A source searching `tempo` with `traceql`, at most `limit` traces per search.
    pub fn new(tempo: Tempo, window_seconds: i64, limit: usize, traceql: String) -> Self {
        TempoTraces {
            tempo,
            window_seconds,
            limit,
            traceql,
            recent: Mutex::new(BTreeMap::new()),
        }
    }

    /// The query for `service`.
    pub fn query(&self, service: &str) -> String {
        let escaped = service.replace('\\', "\\\\").replace('"', "\\\"");
        self.traceql.replace("$service", &escaped)
    }

    /// One search and its traces, windowed.
    async fn search(&self, service: &str, start: i64, end: i64) -> Result<Windows> {
        let q = self.query(service);
        let hits = self.tempo.search(&q, start, end, self.limit).await?;
        if hits.len() >= self.limit {
            // Planning on an undercounted rate could scale down under load: fail the fetch, so
            // the governor treats it as missing data.
            return Err(Error::NoData(format!(
                "tempo search {q:?} returned {} traces, the limit: the request rate would be undercounted; raise source.tempo.limit",
                hits.len()
            )));
        }
        let mut spans = Vec::new();
        for t in &hits {
            spans.extend(self.tempo.trace(&t.trace_id).await?);
        }
        let w = self.window_seconds.max(1);
        Ok(Windows {
            window_seconds: w,
            windows: per_service_minutes(&spans, w)
                .into_iter()
                .filter(|m| m.service == service)
                .collect(),
            // Tempo answers for the whole range asked; the last, partial window is not complete.
            complete_before: end.div_euclid(w) * w,
        })
    }
}

impl Windows {
    /// The windows that end after `start`.
    fn since(&self, start: i64) -> Windows {
        Windows {
            windows: self
                .windows
                .iter()
                .filter(|m| m.minute + self.window_seconds > start)
                .cloned()
                .collect(),
            ..self.clone()
        }
    }
}

#[async_trait::async_trait]
impl TraceSource for TempoTraces {
    async fn windows(&self, service: &str, start: i64, end: i64) -> Result<Windows> {
        let entry = {
            let mut m = self.recent.lock().unwrap_or_else(|e| e.into_inner());
            if m.len() >= MAX_RECENT_SERVICES && !m.contains_key(service) {
                m.clear();
            }
            m.entry(service.to_string()).or_default().clone()
        };
        // Held across the search, so a concurrent call of the same tick waits and reuses it.
        let mut recent = entry.lock().await;
        recent.widest = recent.widest.max(end.saturating_sub(start));
        if let Some((s, e, w)) = &recent.got
            && *e == end
            && *s <= start
        {
            return Ok(w.since(start));
        }
        let from = end.saturating_sub(recent.widest);
        let w = self.search(service, from, end).await?;
        let got = w.since(start);
        recent.got = Some((from, end, w));
        Ok(got)
    }
}

/// A [`TraceSource`] read as a [`MetricSource`]: the query is the service name.
pub struct TraceMetrics {
    /// Where the windows come from (the OTLP store or Tempo).
    pub source: Arc<dyn TraceSource>,
    /// Which series every query returns.
    pub metric: TraceMetric,
}

#[async_trait::async_trait]
impl MetricSource for TraceMetrics {
    async fn range(&self, query: &str, start: i64, end: i64, step: i64) -> Result<Vec<NamedSeries>> {
        if step <= 0 || end < start {
            return Err(Error::Invalid(format!("trace range {start}..{end} step {step}")));
        }
        let w = self.source.windows(query, start - 2 * step.max(1), end).await?;
        let s = w.series(query, self.metric, start, end, step);
        Ok(if s.values.iter().all(|v| v.is_nan()) {
            vec![]
        } else {
            vec![s]
        })
    }

    async fn instant(&self, query: &str, time: i64) -> Result<Vec<NamedSample>> {
        let got = self.range(query, time, time, 1).await?;
        Ok(got
            .into_iter()
            .map(|s| NamedSample {
                name: s.name,
                labels: s.labels,
                time: time as f64,
                value: s.values[0],
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minute(service: &str, t: i64, requests: usize, errors: usize) -> ServiceMinute {
        ServiceMinute {
            service: service.into(),
            minute: t,
            requests,
            rate: requests as f64 / 10.0,
            p50: 0.1,
            p95: 0.2,
            p99: 0.3,
            errors,
            pods: 1,
        }
    }

    #[test]
    fn grid_values_idle_windows_and_unknown_tail() {
        let store = WindowStore::new(10, 600);
        store.add(vec![minute("web", 100, 50, 5), minute("api", 110, 7, 0)]);
        store.add(vec![minute("web", 120, 30, 0)]);
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let w = rt.block_on(store.windows("web", 100, 140)).unwrap();
        assert_eq!(w.complete_before, 130);
        // t=110 → window 100; t=120 → window 110 (idle: web had none, but api's closed it);
        // t=130 → window 120; t=140 → window 130, not complete yet.
        let cases = [
            (TraceMetric::RequestRate, [5.0, 0.0, 3.0]),
            (TraceMetric::ErrorRate, [0.1, 0.0, 0.0]),
        ];
        for (metric, want) in cases {
            let s = w.series("web", metric, 110, 140, 10);
            assert_eq!(&s.values[..3], &want, "{metric:?}");
            assert!(s.values[3].is_nan(), "{metric:?}");
        }
        let p95 = w.series("web", TraceMetric::P95, 110, 130, 10).values;
        assert!(p95[0] == 0.2 && p95[1].is_nan() && p95[2] == 0.2, "{p95:?}");
        // Retention drops old windows.
        store.add(vec![minute("web", 1000, 1, 0)]);
        let w = rt.block_on(store.windows("web", 0, 2000)).unwrap();
        assert_eq!(w.windows.iter().map(|m| m.minute).collect::<Vec<_>>(), vec![1000]);
    }

    #[test]
    fn tempo_query_escapes_the_service_name() {
        let t = TempoTraces::new(
            Tempo::new("http://127.0.0.1:1", &crate::observe::http::HttpConfig::default()).unwrap(),
            60,
            10,
            DEFAULT_TRACEQL.into(),
        );
        let cases = [
            ("frontend", r#"{ resource.service.name = "frontend" }"#),
            (r#"we"ird\"#, r#"{ resource.service.name = "we\"ird\\" }"#),
        ];
        for (service, want) in cases {
            assert_eq!(t.query(service), want);
        }
    }

    #[test]
    fn metric_source_view_cleans_like_prometheus() {
        let store = WindowStore::new(10, 600);
        store.add(
            (0..6)
                .map(|i| minute("web", 1000 + 10 * i, 10 * (i as usize + 1), 0))
                .collect(),
        );
        let src = TraceMetrics {
            source: Arc::new(store),
            metric: TraceMetric::RequestRate,
        };
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let got = rt.block_on(src.range("web", 1010, 1080, 10)).unwrap();
        assert_eq!(got.len(), 1);
        let c = got[0]
            .clean("trace", "web", crate::core::series::GapPolicy::default())
            .unwrap();
        // The trailing unknown window is trimmed, as a Prometheus query past the data end is.
        assert_eq!(c.series.values, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        // A service without spans in complete windows had no requests.
        let idle = rt.block_on(src.range("nobody", 1010, 1080, 10)).unwrap();
        assert_eq!(&idle[0].values[..6], &[0.0; 6]);
        assert!(rt.block_on(src.range("web", 5000, 5010, 10)).unwrap().is_empty());
    }
}
