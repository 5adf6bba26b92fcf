//! Observe: where series come from. Files now; Prometheus and traces plug in beside them.

pub(crate) mod files;
pub mod otlp;
pub mod spans;

pub use files::{LoadedSeries, load_series};

pub mod http;
pub mod memory;
pub mod prometheus;
pub mod sketch;
pub mod tempo;
pub mod traces;
pub mod usage;

/// One series a metric source returned, on the query's step grid: `values[i]` is at
/// `start + i·step`; a missing step is NaN (clean it with [`NamedSeries::clean`]).
#[derive(Debug, Clone, PartialEq)]
pub struct NamedSeries {
    /// Canonical form `__name__{a="b",c="d"}` (labels sorted), `{}` when there are none.
    pub name: String,
    /// The series' labels, `__name__` included when the source returned it.
    pub labels: std::collections::BTreeMap<String, String>,
    /// Time of `values[0]`, Unix seconds.
    pub start: i64,
    /// The query step, seconds.
    pub step: i64,
    /// One value per step, NaN where the source had none.
    pub values: Vec<f64>,
}

/// One sample of an instant query.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedSample {
    /// Canonical form `__name__{a="b"}`, as in [`NamedSeries::name`].
    pub name: String,
    /// The sample's labels.
    pub labels: std::collections::BTreeMap<String, String>,
    /// Evaluation time, Unix seconds (fractional, as the source reports it).
    pub time: f64,
    /// The sample value; may be NaN or infinite.
    pub value: f64,
}

/// A source of metric series (Prometheus now; others beside it). Times are Unix seconds.
#[async_trait::async_trait]
pub trait MetricSource: Send + Sync {
    /// Evaluates `query` over `[start, end]` every `step` seconds.
    async fn range(&self, query: &str, start: i64, end: i64, step: i64) -> crate::Result<Vec<NamedSeries>>;
    /// Evaluates `query` at `time`.
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
