//! Training job specs: `training/<name>.toml` (documented in docs/training.md).

use crate::core::series::GapPolicy;
use crate::core::time::parse_duration;
use crate::train::backtest::Family;
use crate::{Error, Result};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// One training job: where the series come from, how to backtest and what to keep.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    /// A name for logs and the CronJob.
    pub name: String,
    /// `[source]`: a file or a Prometheus server.
    pub source: Source,
    /// Where artifacts go (relative to the working directory).
    #[serde(default = "default_models_dir")]
    pub models_dir: PathBuf,
    /// Services to train; empty means every series in the source.
    #[serde(default)]
    pub services: Vec<String>,
    /// `[backtest]`: horizon, folds, families and history.
    pub backtest: BacktestSpec,
    /// Cron schedule for the retraining CronJob; `scale train` itself runs once.
    #[serde(default)]
    pub schedule: Option<String>,
    /// A new version is promoted unless its MASE is worse than the active one's by more than this.
    #[serde(default = "default_margin")]
    pub promotion_margin: f64,
    /// Versions kept per service (the active one is always kept).
    #[serde(default = "default_keep")]
    pub keep_versions: usize,
    /// Fit a latency/capacity model per service from spans and store it in the artifact.
    #[serde(default)]
    pub capacity: Option<CapacitySpec>,
}

/// `[capacity]`: where the latency observations come from (docs/training.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapacitySpec {
    /// Span CSV (plain or .xz) in the TraceMesh/Nezha layout that `scale sample` reads.
    pub spans: PathBuf,
    /// The p95 latency objective, e.g. "250ms".
    pub slo: String,
    /// Aggregation window for rate and percentiles, e.g. "1m".
    #[serde(default = "default_capacity_window")]
    pub window: String,
    /// Replicas serving the spans; absent: the distinct pods seen in each window.
    #[serde(default)]
    pub replicas: Option<f64>,
    /// Job service name → service name in the spans, where they differ.
    #[serde(default)]
    pub span_services: std::collections::BTreeMap<String, String>,
}

impl CapacitySpec {
    /// The SLO in seconds; above 0.
    pub fn slo_seconds(&self) -> Result<f64> {
        let slo =
            crate::reactive::rules::spec::parse_latency(&self.slo).map_err(|m| Error::config("capacity.slo", m))?;
        if slo <= 0.0 {
            return Err(Error::config("capacity.slo", "must be above 0"));
        }
        Ok(slo)
    }
}

fn default_capacity_window() -> String {
    "1m".into()
}

fn default_margin() -> f64 {
    0.05
}
fn default_keep() -> usize {
    5
}

/// `[source]`, tagged by `kind`: `file` or `prometheus`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Source {
    /// A CSV or Parquet file, NAB or long format.
    File {
        /// The file, relative to the working directory.
        path: PathBuf,
        /// The longest run of missing steps interpolated; longer gaps are refused.
        #[serde(default = "default_max_gap")]
        max_gap_fill: usize,
    },
    /// A Prometheus server: one PromQL query per service (docs/prometheus.md).
    // Boxed: it is far larger than `File` (clippy::large_enum_variant).
    Prometheus(Box<crate::observe::prometheus::PrometheusSource>),
}

/// `[backtest]`: how candidates are scored before one is selected.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BacktestSpec {
    /// Forecast horizon, e.g. "1h" or "1d".
    pub horizon: String,
    /// Rolling origins, at least 3; default 3.
    #[serde(default = "default_folds")]
    pub folds: usize,
    /// The families to try, at least one; default [`Family::ALL`] (no MLP).
    #[serde(default = "default_families")]
    pub families: Vec<Family>,
    /// History used to fit, e.g. "8w"; the default is 4 weeks.
    #[serde(default)]
    pub history: Option<String>,
}

fn default_models_dir() -> PathBuf {
    PathBuf::from("models")
}
fn default_max_gap() -> usize {
    GapPolicy::default().max_gap_fill
}
fn default_folds() -> usize {
    3
}
fn default_families() -> Vec<Family> {
    Family::ALL.to_vec()
}

impl JobSpec {
    /// Reads and validates a job file; errors name the file and the field.
    pub fn load(path: &Path) -> Result<JobSpec> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let spec: JobSpec = toml::from_str(&text).map_err(|e| Error::Config {
            path: Some(path.to_path_buf()),
            field: "toml".into(),
            message: e.to_string().trim().replace('\n', " "),
        })?;
        spec.validate().map_err(|e| match e {
            Error::Config { field, message, .. } => Error::Config {
                path: Some(path.to_path_buf()),
                field,
                message,
            },
            other => other,
        })?;
        Ok(spec)
    }

    /// Checks values serde cannot; names the field at fault.
    pub fn validate(&self) -> Result<()> {
        parse_duration("backtest.horizon", &self.backtest.horizon)?;
        if let Source::Prometheus(p) = &self.source {
            p.validate()?;
        }
        if let Some(h) = &self.backtest.history {
            parse_duration("backtest.history", h)?;
        }
        if self.backtest.folds < 3 {
            return Err(Error::config(
                "backtest.folds",
                format!("must be at least 3, got {}", self.backtest.folds),
            ));
        }
        if self.backtest.families.is_empty() {
            return Err(Error::config("backtest.families", "list at least one family"));
        }
        if !(self.promotion_margin >= 0.0 && self.promotion_margin.is_finite()) {
            return Err(Error::config(
                "promotion_margin",
                format!("must be a non-negative number, got {}", self.promotion_margin),
            ));
        }
        if self.keep_versions == 0 {
            return Err(Error::config("keep_versions", "must be at least 1"));
        }
        if let Some(c) = &self.capacity {
            c.slo_seconds()?;
            parse_duration("capacity.window", &c.window)?;
            if let Some(r) = c.replicas
                && !(r.is_finite() && r > 0.0)
            {
                return Err(Error::config("capacity.replicas", format!("must be positive, got {r}")));
            }
        }
        if self.name.trim().is_empty() {
            return Err(Error::config("name", "must not be empty"));
        }
        Ok(())
    }

    /// The horizon in seconds (3600 if it does not parse; [`Self::validate`] rejects that).
    pub fn horizon_seconds(&self) -> i64 {
        parse_duration("backtest.horizon", &self.backtest.horizon).unwrap_or(3600)
    }

    /// The fit window in seconds; 4 weeks by default.
    pub fn history_seconds(&self) -> i64 {
        self.backtest
            .history
            .as_deref()
            .and_then(|h| parse_duration("backtest.history", h).ok())
            .unwrap_or(28 * 86_400)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_errors_name_the_field() {
        let d = tempfile::tempdir().unwrap();
        let cases = [
            (
                "name='x'\n[source]\nkind='file'\npath='a.csv'\n[backtest]\nhorizon='soon'\n",
                "backtest.horizon",
            ),
            (
                "name='x'\n[source]\nkind='file'\npath='a.csv'\n[backtest]\nhorizon='1h'\nfolds=2\n",
                "backtest.folds",
            ),
            (
                "name='x'\n[source]\nkind='file'\npath='a.csv'\n[backtest]\nhorizon='1h'\nfamilies=['prophet']\n",
                "prophet",
            ),
            (
                "name='x'\nbogus=1\n[source]\nkind='file'\npath='a.csv'\n[backtest]\nhorizon='1h'\n",
                "bogus",
            ),
            ("name='x'\n[source]\nkind='kafka'\n[backtest]\nhorizon='1h'\n", "kafka"),
            (
                "name='x'\n[source]\nkind='prometheus'\nurl='http://p:9090'\nhistory='1d'\nstep='5m'\n[source.queries]\n[backtest]\nhorizon='1h'\n",
                "source.queries",
            ),
            (
                "name='x'\n[source]\nkind='prometheus'\nurl='http://p:9090'\nhistory='1d'\nstep='5m'\nbogus=1\n[source.queries]\nweb='up'\n[backtest]\nhorizon='1h'\n",
                "bogus",
            ),
        ];
        for (text, want) in cases {
            let p = d.path().join("job.toml");
            std::fs::write(&p, text).unwrap();
            let err = JobSpec::load(&p).unwrap_err().to_string();
            assert!(err.contains(want) && err.contains("job.toml"), "want {want:?} in {err}");
        }
    }
}
