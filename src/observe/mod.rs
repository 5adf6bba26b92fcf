//! Observe: where series come from. Files now; Prometheus and traces plug in beside them.

pub mod files;
pub mod otlp;
pub mod spans;

pub use files::{LoadedSeries, load_series};
