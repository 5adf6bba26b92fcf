//! `scale serve --config FILE`: one TOML file, validated at start-up (docs/serve.md).
//! Errors name the field (`service[1].max_replicas`), never half-apply.

use crate::core::time::parse_duration;
use crate::govern::{Mode, ScaleIn};
use crate::observe::http::{AuthConfig, HttpConfig};
use crate::{Error, Result};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The whole `scale serve` file; [`ServeConfig::load`] reads and validates it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    /// `[server]`: the HTTP API.
    #[serde(default)]
    pub server: ServerConfig,
    /// `[defaults]`: the loop's settings shared by every service.
    #[serde(default)]
    pub defaults: Defaults,
    /// `[source.*]`: where demand is read from.
    pub source: SourceConfig,
    /// `[[service]]`, one per scaled service; may be empty only when ForecastScalers are watched.
    #[serde(rename = "service", default)]
    pub services: Vec<ServiceConfig>,
    /// `[kubernetes]`: ForecastScaler CRs run as services.
    #[serde(default)]
    pub kubernetes: KubernetesConfig,
    /// `[rules]`: latency rules attached to the file's services (docs/rules.md).
    #[serde(default)]
    pub rules: Option<RulesConfig>,
}

/// `[rules]`: `LatencyBasedAutoScaler` files whose recommendations enter each attached
/// service's governor, on latencies from the trace source (docs/rules.md#in-scale-serve).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesConfig {
    /// A rule file or a directory of them, as `scale rules check` reads it.
    pub path: PathBuf,
    /// How often the files are re-read (default `10s`); a changed set goes live only when it is
    /// valid as a whole.
    #[serde(default = "default_rules_reload")]
    pub reload: String,
}

/// Why `[rules]` needs a trace source.
pub(crate) const RULES_NEED_TRACES: &str = "latency rules read span windows: use [source.otlp] or [source.tempo]";

fn default_rules_reload() -> String {
    "10s".into()
}

impl RulesConfig {
    /// The reload interval.
    pub fn reload_seconds(&self) -> i64 {
        parse_duration("rules.reload", &self.reload).unwrap_or(10)
    }
}

/// `[kubernetes]`: run ForecastScaler CRs as services beside the file's (serve::reconcile).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubernetesConfig {
    /// `watch_forecastscalers`: list the CRs and run one loop per CR (default false).
    #[serde(default)]
    pub watch_forecastscalers: bool,
    /// `namespace`: only this namespace (a DNS label); unset: all namespaces.
    #[serde(default)]
    pub namespace: Option<String>,
    /// `resync`: how often the CRs are listed, a duration (default 30s).
    #[serde(default)]
    pub resync: Option<String>,
}

impl KubernetesConfig {
    pub(crate) fn validate(&self) -> Result<()> {
        if let Some(ns) = &self.namespace {
            let ok = !ns.is_empty()
                && ns.len() <= 63
                && ns
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !ns.starts_with('-')
                && !ns.ends_with('-');
            if !ok {
                return Err(Error::config(
                    "kubernetes.namespace",
                    format!("{ns:?} is not a namespace name"),
                ));
            }
        }
        if let Some(r) = &self.resync {
            parse_duration("kubernetes.resync", r)?;
        }
        if !self.watch_forecastscalers && (self.namespace.is_some() || self.resync.is_some()) {
            return Err(Error::config(
                "kubernetes.watch_forecastscalers",
                "namespace/resync are set but watch_forecastscalers is false",
            ));
        }
        Ok(())
    }

    /// `resync` in seconds (30 when unset).
    pub fn resync_seconds(&self) -> i64 {
        self.resync
            .as_deref()
            .and_then(|r| parse_duration("kubernetes.resync", r).ok())
            .unwrap_or(30)
    }
}

/// `[server]`: the HTTP API (/healthz, /readyz, /decisions, /metrics).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// `listen`: the API's socket address (default `127.0.0.1:8080`).
    #[serde(default = "default_listen")]
    pub listen: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: default_listen(),
        }
    }
}

fn default_listen() -> String {
    "127.0.0.1:8080".into()
}

/// The mode names in the file and on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModeName {
    /// `off`: decide nothing, apply nothing.
    Off,
    /// `forecast-only`: decide and record, never apply.
    ForecastOnly,
    /// `auto`: decide and apply.
    Auto,
}

impl From<ModeName> for Mode {
    fn from(m: ModeName) -> Mode {
        match m {
            ModeName::Off => Mode::Off,
            ModeName::ForecastOnly => Mode::ForecastOnly,
            ModeName::Auto => Mode::Auto,
        }
    }
}

/// The label used in /decisions and /metrics.
pub fn mode_label(m: Mode) -> &'static str {
    match m {
        Mode::Off => "off",
        Mode::ForecastOnly => "forecast_only",
        Mode::Auto => "auto",
    }
}

/// `[defaults]`: the loop's settings for every service.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// `tick`: the control-loop interval, a duration (default 30s).
    #[serde(default = "default_tick")]
    pub tick: String,
    /// `mode`: `off`, `forecast-only` or `auto` (default `forecast-only`); `--mode` overrides.
    #[serde(default = "default_mode")]
    pub mode: ModeName,
    /// `models`: the artifact directory `scale train` wrote (default `models`).
    #[serde(default = "default_models")]
    pub models: PathBuf,
    /// `lead`: how far ahead capacity must be right, pod start-up plus one tick (default 5m).
    #[serde(default = "default_lead")]
    pub lead: String,
    /// `quantile`: the forecast quantile planned for, in (0, 1) (default 0.5).
    #[serde(default = "default_quantile")]
    pub quantile: f64,
    /// `history`: recent data fetched per tick, a duration (default 2h).
    #[serde(default = "default_history")]
    pub history: String,
    /// `target_utilization`: utilization provisioned for, the reactive (HPA) target, in (0, 1]
    /// (default 0.7).
    #[serde(default = "default_utilization")]
    pub target_utilization: f64,
    /// `max_metric_age`: demand older than this is stale, the governor disables the forecast and
    /// scale-down (default 10m).
    #[serde(default = "default_max_age")]
    pub max_metric_age: String,
    /// `scale_in`: `reactive` (never below the HPA's recommendation, the default) or `forecast`
    /// (forecast-driven scale-in under a safety floor); a service's own `scale_in` wins.
    #[serde(default)]
    pub scale_in: ScaleIn,
    /// `tick_budget`: the most one tick may take, a duration (default: `tick`). The fetch gets
    /// half of it, reading the target and the write a quarter each; what overruns is cancelled
    /// and the tick holds.
    #[serde(default)]
    pub tick_budget: Option<String>,
    /// `max_demand_ratio`: fetched demand above this multiple of the largest value in the
    /// rest of the fetched history is rejected as implausible (default 100).
    #[serde(default = "default_max_demand_ratio")]
    pub max_demand_ratio: f64,
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            tick: default_tick(),
            mode: default_mode(),
            models: default_models(),
            lead: default_lead(),
            quantile: default_quantile(),
            history: default_history(),
            target_utilization: default_utilization(),
            max_metric_age: default_max_age(),
            scale_in: ScaleIn::default(),
            tick_budget: None,
            max_demand_ratio: default_max_demand_ratio(),
        }
    }
}

fn default_tick() -> String {
    "30s".into()
}
fn default_mode() -> ModeName {
    ModeName::ForecastOnly
}
fn default_models() -> PathBuf {
    PathBuf::from("models")
}
fn default_lead() -> String {
    "5m".into()
}
fn default_quantile() -> f64 {
    0.5
}
/// `defaults.max_demand_ratio`'s default: a jump of more than 100× the recent maximum is not
/// traffic but a broken exporter or a unit change.
pub const DEFAULT_MAX_DEMAND_RATIO: f64 = 100.0;
fn default_max_demand_ratio() -> f64 {
    DEFAULT_MAX_DEMAND_RATIO
}
fn default_history() -> String {
    "2h".into()
}
fn default_utilization() -> f64 {
    0.7
}
fn default_max_age() -> String {
    "10m".into()
}

/// `[source]`: exactly one of the sources is set (error field `source`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// `[source.prometheus]`: demand is each service's PromQL `query`.
    #[serde(default)]
    pub prometheus: Option<PrometheusConn>,
    /// `[source.otlp]`: serve receives OTLP traces; demand is the entry spans' request rate.
    #[serde(default)]
    pub otlp: Option<OtlpSource>,
    /// `[source.tempo]`: demand is the request rate of the spans Grafana Tempo returns.
    #[serde(default)]
    pub tempo: Option<TempoSource>,
}

/// `[source.tempo]`: demand is each service's request rate from the spans of the traces a
/// TraceQL search finds in Grafana Tempo, in windows of `window` (docs/tempo.md, docs/serve.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TempoSource {
    /// `url`: Tempo's base URL (required; may carry a path prefix).
    pub url: String,
    /// `timeout`: per-request timeout, a duration (default 60s).
    #[serde(default)]
    pub timeout: Option<String>,
    /// `max_response_bytes`: larger responses fail (default 64 MiB).
    #[serde(default)]
    pub max_response_bytes: Option<usize>,
    /// `ca_file`: a PEM bundle added to the platform roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// `insecure_skip_verify`: accept any TLS certificate (default false).
    #[serde(default)]
    pub insecure_skip_verify: bool,
    /// `[source.tempo.auth]`: bearer token or basic auth (default none).
    #[serde(default)]
    pub auth: AuthConfig,
    /// `window`: window of the request rate, a duration (default 1m).
    #[serde(default = "default_otlp_window")]
    pub window: String,
    /// `limit`: traces per search at most (default 5000); a search returning `limit` traces fails
    /// the fetch, as the rate would be undercounted.
    #[serde(default = "default_tempo_limit")]
    pub limit: usize,
    /// `traceql`: the search per service (default `{ resource.service.name = "$service" }`);
    /// `$service` becomes the service name as a TraceQL string.
    #[serde(default = "default_tempo_traceql")]
    pub traceql: String,
}

fn default_tempo_limit() -> usize {
    5000
}
fn default_tempo_traceql() -> String {
    crate::observe::traces::DEFAULT_TRACEQL.into()
}

impl TempoSource {
    fn connection(&self) -> crate::observe::prometheus::Connection<'_> {
        crate::observe::prometheus::Connection {
            url: &self.url,
            method: None,
            timeout: self.timeout.as_deref(),
            max_response_bytes: self.max_response_bytes,
            ca_file: self.ca_file.as_ref(),
            insecure_skip_verify: self.insecure_skip_verify,
            auth: &self.auth,
        }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        self.connection().validate("source.tempo")?;
        parse_duration("source.tempo.window", &self.window)?;
        if self.limit == 0 {
            return Err(Error::config("source.tempo.limit", "must be at least 1"));
        }
        let q = self.traceql.trim();
        if !(q.starts_with('{') && q.contains('}')) {
            return Err(Error::config(
                "source.tempo.traceql",
                format!("{q:?} is not a TraceQL query (it starts with a {{ ... }} span set)"),
            ));
        }
        Ok(())
    }

    /// `window` in seconds (60 when it does not parse).
    pub fn window_seconds(&self) -> i64 {
        parse_duration("source.tempo.window", &self.window).unwrap_or(60)
    }

    /// The Tempo client, with the connection options checked.
    pub fn client(&self) -> Result<crate::observe::tempo::Tempo> {
        let http = self.connection().http_config("source.tempo")?;
        crate::observe::tempo::Tempo::new(&self.url, &http).map_err(|e| match e {
            Error::Config { message, .. } => Error::config("source.tempo.url", message),
            other => other,
        })
    }
}

/// `[source.otlp]`: serve runs the OTLP trace receivers; demand is each service's request rate
/// from its entry spans, in windows of `window` (docs/otlp.md, docs/serve.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtlpSource {
    /// `grpc`: the OTLP/gRPC receiver's address (default `127.0.0.1:4317`; port 0 picks one).
    #[serde(default = "default_otlp_grpc")]
    pub grpc: String,
    /// `http`: the OTLP/HTTP receiver's address (default `127.0.0.1:4318`; port 0 picks one).
    #[serde(default = "default_otlp_http")]
    pub http: String,
    /// `window`: width of a request-rate window, a duration (default 1m); train on this step.
    #[serde(default = "default_otlp_window")]
    pub window: String,
    /// `lateness`: a window closes once event time passes its end plus this (default 30s).
    #[serde(default = "default_otlp_lateness")]
    pub lateness: String,
    /// `[source.otlp.sample]`: score spans and stream the sampled ones (docs/sample.md).
    #[serde(default)]
    pub sample: Option<OtlpSample>,
}

/// `[source.otlp.sample]`: the span sampler's settings (as `scale sample`'s flags, same
/// defaults) and the stream's per-subscriber queue and subscriber limit.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtlpSample {
    /// `n_trees`: half-space trees in the forest (default 10).
    pub n_trees: Option<usize>,
    /// `height`: depth of each tree (default 8).
    pub height: Option<usize>,
    /// `window_size`: spans per reference window (default 250).
    pub window_size: Option<usize>,
    /// `seed`: the trees' random seed (default 42).
    pub seed: Option<u64>,
    /// `split_weight`: `dimension`, `group` or `duration` (default `duration`).
    pub split_weight: Option<String>,
    /// `min_score`: sample spans whose normalised score (0 ordinary … 1 anomalous) is at least
    /// this (default 0.994).
    pub min_score: Option<f64>,
    /// `max_duration`: durations at or above this many seconds map to 1 (default 1).
    pub max_duration: Option<f64>,
    /// `duration_scale`: `log`, `linear` or `op-log` (default `op-log`).
    pub duration_scale: Option<String>,
    /// `train_size`: warm-up spans that build the vocabulary, never sampled (default 250).
    pub train_size: Option<usize>,
    /// `max_services`: service names in the vocabulary at most (default 256).
    pub max_services: Option<usize>,
    /// `max_operations`: operation names in the vocabulary at most (default 1024).
    pub max_operations: Option<usize>,
    /// `raw_operations`: use operation names as received, not normalised (default false).
    #[serde(default)]
    pub raw_operations: bool,
    /// `queue`: sampled spans queued per subscriber before its copies are dropped (default 1024).
    pub queue: Option<usize>,
    /// `max_subscribers`: concurrent stream subscribers at most (default 16).
    pub max_subscribers: Option<usize>,
}

impl OtlpSample {
    /// The stream's settings, checked; errors name `source.otlp.sample.<field>`.
    pub fn stream_config(&self) -> Result<crate::sample::stream::StreamConfig> {
        use crate::sample::stream::StreamConfig;
        let f = |name: &str| format!("source.otlp.sample.{name}");
        let d = StreamConfig::default();
        let mut c = d.sampler.clone();
        c.hst.n_trees = self.n_trees.unwrap_or(c.hst.n_trees);
        c.hst.height = self.height.unwrap_or(c.hst.height);
        c.hst.window_size = self.window_size.unwrap_or(c.hst.window_size);
        c.hst.seed = self.seed.unwrap_or(c.hst.seed);
        if let Some(w) = &self.split_weight {
            c.hst.split_weight = crate::sample::hst::SplitWeight::parse(w).ok_or_else(|| {
                Error::config(
                    f("split_weight"),
                    format!("{w:?}: expected \"dimension\", \"group\" or \"duration\""),
                )
            })?;
        }
        if let Some(s) = &self.duration_scale {
            c.duration_scale = crate::sample::DurationScale::parse(s).ok_or_else(|| {
                Error::config(
                    f("duration_scale"),
                    format!("{s:?}: expected \"log\", \"linear\" or \"op-log\""),
                )
            })?;
        }
        c.min_score = self.min_score.unwrap_or(c.min_score);
        c.max_duration = self.max_duration.unwrap_or(c.max_duration);
        c.train_size = self.train_size.unwrap_or(c.train_size);
        c.max_services = self.max_services.unwrap_or(c.max_services);
        c.max_operations = self.max_operations.unwrap_or(c.max_operations);
        c.normalize_operations = !self.raw_operations;
        // The sampler names its fields as flags (`min-score`); here they are TOML keys.
        c.validate().map_err(|e| match e {
            Error::Config { field, message, .. } => {
                let key = field
                    .replace('-', "_")
                    .replace("max_services/max_operations", "max_services");
                Error::config(f(&key), message)
            }
            other => other,
        })?;
        for (name, v) in [("queue", self.queue), ("max_subscribers", self.max_subscribers)] {
            if v == Some(0) {
                return Err(Error::config(f(name), "must be at least 1"));
            }
        }
        Ok(StreamConfig {
            sampler: c,
            queue: self.queue.unwrap_or(d.queue),
            max_subscribers: self.max_subscribers.unwrap_or(d.max_subscribers),
        })
    }
}

fn default_otlp_grpc() -> String {
    "127.0.0.1:4317".into()
}
fn default_otlp_http() -> String {
    "127.0.0.1:4318".into()
}
fn default_otlp_window() -> String {
    "1m".into()
}
fn default_otlp_lateness() -> String {
    "30s".into()
}

impl OtlpSource {
    pub(crate) fn validate(&self) -> Result<()> {
        for (f, v) in [("source.otlp.grpc", &self.grpc), ("source.otlp.http", &self.http)] {
            v.parse::<std::net::SocketAddr>()
                .map_err(|e| Error::config(f, format!("{v:?}: {e}")))?;
        }
        parse_duration("source.otlp.window", &self.window)?;
        parse_duration("source.otlp.lateness", &self.lateness)?;
        if let Some(s) = &self.sample {
            s.stream_config()?;
        }
        Ok(())
    }
}

/// Connection options, as the training job's Prometheus source has them (docs/prometheus.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusConn {
    /// `url`: Prometheus's base URL (required; may carry a path prefix).
    pub url: String,
    /// `method`: `get` or `post` (default `post`, the form body).
    #[serde(default)]
    pub method: Option<String>,
    /// `timeout`: per-request timeout, a duration (default 60s).
    #[serde(default)]
    pub timeout: Option<String>,
    /// `max_response_bytes`: larger responses fail (default 64 MiB).
    #[serde(default)]
    pub max_response_bytes: Option<usize>,
    /// `ca_file`: a PEM bundle added to the platform roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// `insecure_skip_verify`: accept any TLS certificate (default false).
    #[serde(default)]
    pub insecure_skip_verify: bool,
    /// `[source.prometheus.auth]`: bearer token or basic auth (default none).
    #[serde(default)]
    pub auth: AuthConfig,
}

impl PrometheusConn {
    fn connection(&self) -> crate::observe::prometheus::Connection<'_> {
        crate::observe::prometheus::Connection {
            url: &self.url,
            method: self.method.as_deref(),
            timeout: self.timeout.as_deref(),
            max_response_bytes: self.max_response_bytes,
            ca_file: self.ca_file.as_ref(),
            insecure_skip_verify: self.insecure_skip_verify,
            auth: &self.auth,
        }
    }

    /// The HTTP client settings; errors name `source.prometheus.<field>`.
    pub fn http_config(&self) -> Result<HttpConfig> {
        self.connection().http_config("source.prometheus")
    }

    /// The Prometheus client, with the connection options checked.
    pub fn client(&self) -> Result<crate::observe::prometheus::Prometheus> {
        self.connection().client("source.prometheus")
    }
}

/// `[[service]]`: one scaled service.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// `name`: unique; also the model directory under `defaults.models`.
    pub name: String,
    /// `query`: PromQL returning one series, the service's demand (requests/s). With
    /// `[source.otlp]` or `[source.tempo]`, the span service name to read (default: `name`).
    #[serde(default)]
    pub query: String,
    /// `capacity_per_replica`: demand one replica serves (requests/s, > 0).
    pub capacity_per_replica: f64,
    /// `min_replicas`: the governor's lower bound.
    pub min_replicas: u32,
    /// `max_replicas`: the governor's upper bound (≥ 1 and ≥ `min_replicas`).
    pub max_replicas: u32,
    /// `[service.target]`: where decisions go, tagged by `kind` (default: a dry run).
    #[serde(default)]
    pub target: Option<TargetConfig>,
    /// `scale_in`: this service's scale-in mode; default: `[defaults] scale_in`.
    #[serde(default)]
    pub scale_in: Option<ScaleIn>,
    /// `[service.vertical]`: recommend one container's CPU and memory requests.
    #[serde(default)]
    pub vertical: Option<super::vertical::VerticalServiceConfig>,
}

/// Where decisions go (dry run, Kubernetes, Knative, AWS/GCP/Azure groups).
use crate::actuate::target::TargetConfig;

impl ServeConfig {
    /// Reads, parses and validates; errors name the file and the field.
    pub fn load(path: &Path) -> Result<ServeConfig> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&text).map_err(|e| match e {
            Error::Config { field, message, .. } => Error::Config {
                path: Some(path.to_path_buf()),
                field,
                message,
            },
            other => other,
        })
    }

    /// Parses and validates TOML text; errors name the field (no file path).
    pub fn parse(text: &str) -> Result<ServeConfig> {
        let de = toml::Deserializer::parse(text)
            .map_err(|e| Error::config("toml", e.to_string().trim().replace('\n', " ")))?;
        let cfg: ServeConfig = serde_path_to_error::deserialize(de).map_err(|e| {
            let field = e.path().to_string();
            Error::config(
                if field == "." { "toml".to_string() } else { field },
                e.into_inner().to_string().trim().replace('\n', " "),
            )
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks values serde cannot.
    pub fn validate(&self) -> Result<()> {
        self.server
            .listen
            .parse::<std::net::SocketAddr>()
            .map_err(|e| Error::config("server.listen", format!("{:?}: {e}", self.server.listen)))?;
        let d = &self.defaults;
        for (f, v) in [
            ("defaults.tick", &d.tick),
            ("defaults.lead", &d.lead),
            ("defaults.history", &d.history),
            ("defaults.max_metric_age", &d.max_metric_age),
        ] {
            parse_duration(f, v)?;
        }
        if let Some(b) = &d.tick_budget {
            parse_duration("defaults.tick_budget", b)?;
        }
        if !(d.max_demand_ratio.is_finite() && d.max_demand_ratio >= 1.0) {
            return Err(Error::config(
                "defaults.max_demand_ratio",
                format!("must be a finite number ≥ 1, got {}", d.max_demand_ratio),
            ));
        }
        if !(d.quantile > 0.0 && d.quantile < 1.0) {
            return Err(Error::config(
                "defaults.quantile",
                format!("must be in (0, 1), got {}", d.quantile),
            ));
        }
        if !(d.target_utilization > 0.0 && d.target_utilization <= 1.0) {
            return Err(Error::config(
                "defaults.target_utilization",
                format!("must be in (0, 1], got {}", d.target_utilization),
            ));
        }
        self.kubernetes.validate()?;
        if let Some(r) = &self.rules {
            let every = parse_duration("rules.reload", &r.reload)?;
            if !(1..=3600).contains(&every) {
                return Err(Error::config(
                    "rules.reload",
                    format!("must be within [1s, 1h], got {}", r.reload),
                ));
            }
            if self.source.prometheus.is_some() {
                return Err(Error::config("rules", RULES_NEED_TRACES));
            }
        }
        let p = match (&self.source.prometheus, &self.source.otlp, &self.source.tempo) {
            (Some(p), None, None) => p,
            (None, o, t) if o.is_some() != t.is_some() && self.kubernetes.watch_forecastscalers => {
                // A ForecastScaler's demand is its PromQL query (serve::reconcile::to_service).
                return Err(Error::config(
                    "kubernetes.watch_forecastscalers",
                    "ForecastScalers are forecast from their Prometheus query: use [source.prometheus]",
                ));
            }
            (None, Some(o), None) => return o.validate().and_then(|()| self.validate_services(false)),
            (None, None, Some(t)) => return t.validate().and_then(|()| self.validate_services(false)),
            _ => {
                return Err(Error::config(
                    "source",
                    "set exactly one of [source.prometheus], [source.otlp] and [source.tempo]",
                ));
            }
        };
        p.connection().validate("source.prometheus")?;
        self.validate_services(true)
    }

    fn validate_services(&self, promql: bool) -> Result<()> {
        if self.services.is_empty() && !self.kubernetes.watch_forecastscalers {
            return Err(Error::config("service", "list at least one [[service]]"));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, s) in self.services.iter().enumerate() {
            let f = |name: &str| format!("service[{i}].{name}");
            if s.name.is_empty() || s.name.contains(['/', '\\']) || s.name.starts_with('.') {
                return Err(Error::config(
                    f("name"),
                    format!("{:?} cannot name a model directory", s.name),
                ));
            }
            if !seen.insert(s.name.as_str()) {
                return Err(Error::config(f("name"), format!("{:?} appears twice", s.name)));
            }
            if promql && s.query.trim().is_empty() {
                return Err(Error::config(f("query"), "empty query"));
            }
            if let Some(v) = &s.vertical {
                if !promql {
                    return Err(Error::config(
                        f("vertical"),
                        "needs [source.prometheus] for container usage",
                    ));
                }
                v.validate(&f("vertical"))?;
            }
            if !(s.capacity_per_replica > 0.0 && s.capacity_per_replica.is_finite()) {
                return Err(Error::config(
                    f("capacity_per_replica"),
                    format!("must be a positive number, got {}", s.capacity_per_replica),
                ));
            }
            if s.max_replicas == 0 || s.max_replicas < s.min_replicas {
                return Err(Error::config(
                    f("max_replicas"),
                    format!(
                        "must be at least 1 and at least min_replicas ({}), got {}",
                        s.min_replicas, s.max_replicas
                    ),
                ));
            }
            if let Some(t) = &s.target {
                t.validate(&f("target"), s.min_replicas)?;
            }
        }
        Ok(())
    }

    /// `defaults.tick` in seconds.
    pub fn tick_seconds(&self) -> i64 {
        parse_duration("defaults.tick", &self.defaults.tick).unwrap_or(30)
    }
    /// `defaults.lead` in seconds.
    pub fn lead_seconds(&self) -> i64 {
        parse_duration("defaults.lead", &self.defaults.lead).unwrap_or(300)
    }
    /// `defaults.history` in seconds.
    pub fn history_seconds(&self) -> i64 {
        parse_duration("defaults.history", &self.defaults.history).unwrap_or(7200)
    }
    /// `defaults.tick_budget` (default `defaults.tick`).
    pub fn tick_budget(&self) -> std::time::Duration {
        let secs = match &self.defaults.tick_budget {
            Some(b) => parse_duration("defaults.tick_budget", b).unwrap_or(30),
            None => self.tick_seconds(),
        };
        std::time::Duration::from_secs(secs.max(1) as u64)
    }
    /// `defaults.max_metric_age` in seconds.
    pub fn max_metric_age_seconds(&self) -> i64 {
        parse_duration("defaults.max_metric_age", &self.defaults.max_metric_age).unwrap_or(600)
    }
}

/// Leader-election flags the Helm chart passes; a Kubernetes Lease gates actuation
/// (serve::leader).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LeaderElection {
    /// `--leader-elect`: only the Lease holder actuates.
    pub enabled: bool,
    /// `--lease-name` (default `scale-leader`).
    pub lease_name: Option<String>,
    /// `--lease-namespace` (default `$POD_NAMESPACE`, else `default`).
    pub lease_namespace: Option<String>,
    /// `--lease-identity` (default `$POD_NAME`, else `$HOSTNAME`); see [`super::identity`].
    pub identity: Option<String>,
    /// `--lease-duration` in seconds (default 15).
    pub lease_duration: Option<i64>,
    /// `--renew-deadline` in seconds (default 10): a leader acts only this long after its last
    /// successful round.
    pub renew_deadline: Option<i64>,
    /// `--retry-period` in seconds (default 2): how often election rounds run.
    pub retry_period: Option<i64>,
}

impl LeaderElection {
    /// Checks the flags the way client-go does: duration > renew deadline > retry period.
    pub fn validate(&self) -> Result<()> {
        if let (Some(d), Some(r)) = (self.lease_duration, self.renew_deadline)
            && d <= r
        {
            return Err(Error::config(
                "--lease-duration",
                "must be longer than --renew-deadline",
            ));
        }
        if let (Some(r), Some(p)) = (self.renew_deadline, self.retry_period)
            && r <= p
        {
            return Err(Error::config("--renew-deadline", "must be longer than --retry-period"));
        }
        for (f, v) in [
            ("--lease-name", &self.lease_name),
            ("--lease-namespace", &self.lease_namespace),
        ] {
            if v.as_deref().is_some_and(|s| s.trim().is_empty()) {
                return Err(Error::config(f, "must not be empty"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[server]
listen = "127.0.0.1:0"
[defaults]
tick = "30s"
mode = "auto"
[source.prometheus]
url = "http://127.0.0.1:9090"
[[service]]
name = "web"
query = "sum(rate(http_requests_total[1m]))"
capacity_per_replica = 50
min_replicas = 1
max_replicas = 10
target = { kind = "dry-run", replicas = 3 }
"#;

    #[test]
    fn good_config_parses() {
        let c = ServeConfig::parse(GOOD).unwrap();
        assert_eq!(c.defaults.mode, ModeName::Auto);
        assert_eq!(
            c.services[0].target,
            Some(TargetConfig::DryRun {
                replicas: 3,
                max_replicas: None
            })
        );
        assert_eq!(c.tick_seconds(), 30);
        assert_eq!(c.history_seconds(), 7200);
    }

    #[test]
    fn kubernetes_section_is_off_by_default() {
        let c = ServeConfig::parse(GOOD).unwrap();
        assert!(!c.kubernetes.watch_forecastscalers);
        let on = format!("{GOOD}[kubernetes]\nwatch_forecastscalers = true\nnamespace = \"shop\"\nresync = \"1m\"\n");
        let c = ServeConfig::parse(&on).unwrap();
        assert!(c.kubernetes.watch_forecastscalers);
        assert_eq!(
            (c.kubernetes.namespace.as_deref(), c.kubernetes.resync_seconds()),
            (Some("shop"), 60)
        );
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (GOOD.replace("127.0.0.1:0", "nowhere"), "server.listen"),
            (GOOD.replace("tick = \"30s\"", "tick = \"soon\""), "defaults.tick"),
            (GOOD.replace("mode = \"auto\"", "mode = \"yolo\""), "defaults.mode"),
            (
                GOOD.replace("[defaults]", "[defaults]\nquantile = 1.5"),
                "defaults.quantile",
            ),
            (
                GOOD.replace("http://127.0.0.1:9090", "ftp://x"),
                "source.prometheus.url",
            ),
            (
                GOOD.replace("[source.prometheus]", "[source.prometheus]\nbogus = 1"),
                "source.prometheus",
            ),
            (
                GOOD.replace("max_replicas = 10", "max_replicas = 0"),
                "service[0].max_replicas",
            ),
            (
                format!("{GOOD}[kubernetes]\nwatch_forecastscalers = true\nnamespace = \"Bad_NS\"\n"),
                "kubernetes.namespace",
            ),
            (
                format!("{GOOD}[kubernetes]\nwatch_forecastscalers = true\nresync = \"often\"\n"),
                "kubernetes.resync",
            ),
            (
                format!("{GOOD}[kubernetes]\nnamespace = \"shop\"\n"),
                "kubernetes.watch_forecastscalers",
            ),
            (format!("{GOOD}[kubernetes]\nwatch = true\n"), "kubernetes"),
            (
                GOOD.replace("capacity_per_replica = 50", "capacity_per_replica = -1"),
                "service[0].capacity_per_replica",
            ),
            (
                GOOD.replace("min_replicas = 1", "min_replicas = -1"),
                "service[0].min_replicas",
            ),
            (
                GOOD.replace("kind = \"dry-run\"", "kind = \"kube\""),
                "service[0].target",
            ),
            (GOOD.replace("name = \"web\"", "name = \"../x\""), "service[0].name"),
            (
                GOOD.replace("query = \"sum(rate(http_requests_total[1m]))\"", "query = \" \""),
                "service[0].query",
            ),
            (
                format!(
                    "{GOOD}\n[[service]]\nname = \"web\"\nquery = \"up\"\ncapacity_per_replica = 1\nmin_replicas = 1\nmax_replicas = 2\n"
                ),
                "service[1].name",
            ),
            (GOOD.replace("[server]", "[server]\nport = 1"), "server"),
            (
                GOOD.replace("[source.prometheus]", "[source.otlp]\n[source.prometheus]"),
                "source: set exactly one",
            ),
            (
                GOOD.replace(
                    "[source.prometheus]\nurl = \"http://127.0.0.1:9090\"",
                    "[source.otlp]\nhttp = \"x\"",
                ),
                "source.otlp.http",
            ),
            (
                GOOD.replace(
                    "[source.prometheus]\nurl = \"http://127.0.0.1:9090\"",
                    "[source.otlp]\nwindow = \"often\"",
                ),
                "source.otlp.window",
            ),
            (
                GOOD.replace(
                    "[source.prometheus]\nurl = \"http://127.0.0.1:9090\"",
                    "[source.otlp]\nport = 1",
                ),
                "source.otlp",
            ),
            (
                format!("{GOOD}[rules]\npath = \"rules\"\n"),
                "rules: latency rules read span windows",
            ),
            (
                GOOD.replace(
                    "[source.prometheus]\nurl = \"http://127.0.0.1:9090\"",
                    "[source.otlp]\n[rules]\npath = \"rules\"\nreload = \"0s\"",
                ),
                "rules.reload",
            ),
            (
                GOOD.replace(
                    "[source.prometheus]\nurl = \"http://127.0.0.1:9090\"",
                    "[source.otlp]\n[rules]\npath = \"rules\"\nwatch = true",
                ),
                "rules",
            ),
        ];
        for (text, want) in cases {
            let e = ServeConfig::parse(&text).unwrap_err().to_string();
            assert!(e.contains(want), "want {want:?} in: {e}");
        }
    }

    #[test]
    fn no_service_only_when_watching_forecastscalers() {
        let head = "[source.prometheus]\nurl = \"http://127.0.0.1:9090\"\n";
        let e = ServeConfig::parse(head).unwrap_err().to_string();
        assert!(e.contains("service: list at least one [[service]]"), "{e}");
        let c = ServeConfig::parse(&format!("{head}[kubernetes]\nwatch_forecastscalers = true\n")).unwrap();
        assert!(c.services.is_empty());
        let otlp = "[source.otlp]\n[kubernetes]\nwatch_forecastscalers = true\n";
        let e = ServeConfig::parse(otlp).unwrap_err().to_string();
        assert!(
            e.contains("kubernetes.watch_forecastscalers") && e.contains("[source.prometheus]"),
            "{e}"
        );
    }

    #[test]
    fn otlp_source_needs_no_query() {
        let c = ServeConfig::parse(
            &GOOD
                .replace(
                    "[source.prometheus]\nurl = \"http://127.0.0.1:9090\"",
                    "[source.otlp]\nwindow = \"10s\"",
                )
                .replace("query = \"sum(rate(http_requests_total[1m]))\"\n", ""),
        )
        .unwrap();
        let o = c.source.otlp.unwrap();
        assert_eq!((o.grpc.as_str(), o.window.as_str()), ("127.0.0.1:4317", "10s"));
        assert!(c.services[0].query.is_empty());
    }

    const TEMPO: &str = "[source.tempo]\nurl = \"http://127.0.0.1:3200\"";
    const OTLP: &str = "[source.otlp]\n[source.otlp.sample]";

    fn with_source(source: &str) -> String {
        GOOD.replace("[source.prometheus]\nurl = \"http://127.0.0.1:9090\"", source)
            .replace("query = \"sum(rate(http_requests_total[1m]))\"\n", "")
    }

    #[test]
    fn tempo_source_defaults_and_fields() {
        let c = ServeConfig::parse(&with_source(TEMPO)).unwrap();
        let t = c.source.tempo.unwrap();
        assert_eq!((t.window_seconds(), t.limit), (60, 5000));
        assert_eq!(t.traceql, crate::observe::traces::DEFAULT_TRACEQL);
        let c = ServeConfig::parse(&with_source(&format!(
            "{TEMPO}\nwindow = \"15s\"\nlimit = 20\ntimeout = \"5s\"\ntraceql = '{{ resource.service.name = \"$service\" && span.kind = server }}'\n[source.tempo.auth]\nbearer_token = \"t\""
        )))
        .unwrap();
        let t = c.source.tempo.unwrap();
        assert_eq!((t.window_seconds(), t.limit), (15, 20));
        assert!(t.client().is_ok());
    }

    #[test]
    fn tempo_and_sample_errors_name_the_field() {
        let cases = [
            (format!("{TEMPO}\nlimit = 0"), "source.tempo.limit"),
            (format!("{TEMPO}\nwindow = \"soon\""), "source.tempo.window"),
            (format!("{TEMPO}\ntimeout = \"x\""), "source.tempo.timeout"),
            (format!("{TEMPO}\ntraceql = \"frontend\""), "source.tempo.traceql"),
            (format!("{TEMPO}\nquery = 1"), "source.tempo"),
            (
                format!("{TEMPO}\n[source.tempo.auth]\nbearer_token = \"a\"\nusername = \"u\""),
                "source.tempo.auth",
            ),
            (TEMPO.replace("http://127.0.0.1:3200", "ftp://x"), "source.tempo.url"),
            (format!("{TEMPO}\n{OTLP}"), "source: set exactly one"),
            (format!("{OTLP}\nmin_score = 2"), "source.otlp.sample.min_score"),
            (format!("{OTLP}\nheight = 0"), "source.otlp.sample.height"),
            (format!("{OTLP}\nn_trees = 0"), "source.otlp.sample.n_trees"),
            (format!("{OTLP}\nmax_duration = -1"), "source.otlp.sample.max_duration"),
            (format!("{OTLP}\nmax_services = 0"), "source.otlp.sample.max_services"),
            (
                format!("{OTLP}\nsplit_weight = \"tree\""),
                "source.otlp.sample.split_weight",
            ),
            (
                format!("{OTLP}\nduration_scale = \"exp\""),
                "source.otlp.sample.duration_scale",
            ),
            (format!("{OTLP}\nqueue = 0"), "source.otlp.sample.queue"),
            (
                format!("{OTLP}\nmax_subscribers = 0"),
                "source.otlp.sample.max_subscribers",
            ),
            (format!("{OTLP}\nbogus = 1"), "source.otlp.sample"),
        ];
        for (source, want) in cases {
            let e = ServeConfig::parse(&with_source(&source)).unwrap_err().to_string();
            assert!(e.contains(want), "want {want:?} in: {e}");
        }
    }

    #[test]
    fn sample_section_sets_the_stream() {
        let c = ServeConfig::parse(&with_source(&format!(
            "{OTLP}\nmin_score = 0.8\ntrain_size = 100\nwindow_size = 50\nsplit_weight = \"group\"\nduration_scale = \"op-log\"\nqueue = 8\nraw_operations = true"
        )))
        .unwrap();
        let s = c.source.otlp.unwrap().sample.unwrap().stream_config().unwrap();
        assert_eq!(
            (s.sampler.min_score, s.sampler.train_size, s.sampler.hst.window_size),
            (0.8, 100, 50)
        );
        assert_eq!(s.sampler.hst.split_weight, crate::sample::hst::SplitWeight::Group);
        assert_eq!(s.sampler.duration_scale, crate::sample::DurationScale::OpLog);
        assert!(!s.sampler.normalize_operations);
        assert_eq!((s.queue, s.max_subscribers), (8, 16));
        // Without the table there is no stream.
        let c = ServeConfig::parse(&with_source("[source.otlp]")).unwrap();
        assert!(c.source.otlp.unwrap().sample.is_none());
    }

    #[test]
    fn lease_flags_are_checked() {
        let ok = LeaderElection {
            enabled: true,
            lease_duration: Some(15),
            renew_deadline: Some(10),
            retry_period: Some(2),
            ..Default::default()
        };
        ok.validate().unwrap();
        let bad = LeaderElection {
            renew_deadline: Some(20),
            ..ok.clone()
        };
        assert!(bad.validate().unwrap_err().to_string().contains("--lease-duration"));
    }
}
