//! Observe: where series come from. Files now; Prometheus and traces plug in beside them.

pub(crate) mod files;
pub mod otlp;
pub mod spans;

pub use files::{LoadedSeries, load_series};

pub mod http;
pub mod memory;
pub mod prometheus;
pub mod tempo;
pub mod traces;

/// One series a metric source returned, on the query's step grid: `values[i]` is at
/// `start + i·step`; a missing step is NaN (clean it with [`NamedSeries::clean`]).
#[derive(Debug, Clone, PartialEq)]
pub struct NamedSeries {
    /// Canonical form `__name__{a="b",c="d"}` (labels sorted), `{}` when there are none.
    pub name: String,
    pub labels: std::collections::BTreeMap<String, String>,
    pub start: i64,
    pub step: i64,
    pub values: Vec<f64>,
}

/// One sample of an instant query.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedSample {
    pub name: String,
    pub labels: std::collections::BTreeMap<String, String>,
    pub time: f64,
    pub value: f64,
}

/// A source of metric series (Prometheus now; others beside it). Times are Unix seconds.
#[async_trait::async_trait]
pub trait MetricSource: Send + Sync {
    async fn range(&self, query: &str, start: i64, end: i64, step: i64) -> crate::Result<Vec<NamedSeries>>;
    async fn instant(&self, query: &str, time: i64) -> crate::Result<Vec<NamedSample>>;
}

impl NamedSeries {
    /// Applies the file loader's data policy (`crate::core::series::regularize`): NaN and ±Inf samples
    /// and missing steps are gaps, short ones interpolated, long ones refused. `origin` names the
    /// source in errors (e.g. the query); "line" there is the 1-based step index.
    pub fn clean(
        &self,
        origin: &str,
        service: &str,
        policy: crate::core::series::GapPolicy,
    ) -> crate::Result<crate::core::series::Cleaned> {
        let rows = self
            .values
            .iter()
            .enumerate()
            .map(|(i, &v)| crate::core::series::RawPoint {
                line: i + 1,
                time: self.start + i as i64 * self.step,
                value: v.is_finite().then_some(v),
            })
            .collect();
        crate::core::series::regularize(std::path::Path::new(origin), service, rows, policy)
    }
}
