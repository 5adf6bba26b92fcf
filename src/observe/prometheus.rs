//! Prometheus HTTP API source: `/api/v1/query` and `/api/v1/query_range` (contract in
//! docs/prometheus.md). Parsing is pure (`parse_response`) so it is tested on the documented
//! response shapes without a server.

use crate::core::series::GapPolicy;
use crate::core::time::{parse_duration, parse_timestamp};
use crate::observe::http::{AuthConfig, HttpClient, HttpConfig, Request, join, parse_base_url};
use crate::observe::{LoadedSeries, MetricSource, NamedSample, NamedSeries};
use crate::{Error, Result};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Prometheus refuses range queries over 11,000 points per series; we stay below it.
pub const MAX_POINTS_PER_QUERY: usize = 10_000;

/// A series' label set, name → value, sorted by name (`__name__` is the metric name).
pub type Labels = BTreeMap<String, String>;

/// A decoded `data` object.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryData {
    /// Per series: its labels and `(unix seconds, value)` samples.
    Matrix(Vec<(Labels, Vec<(f64, f64)>)>),
    /// Per series: its labels and one `(unix seconds, value)` sample.
    Vector(Vec<(Labels, (f64, f64))>),
    /// One `(unix seconds, value)` sample.
    Scalar((f64, f64)),
    /// One `(unix seconds, string)` sample.
    String((f64, String)),
}

/// Why a response could not be used.
#[derive(Debug, Clone, PartialEq)]
pub enum ResponseError {
    /// `"status":"error"`: Prometheus' own `errorType` and `error`.
    Api {
        /// Prometheus' `errorType`, e.g. `bad_data`.
        error_type: String,
        /// Prometheus' `error` message.
        error: String,
    },
    /// Not the documented shape; names the JSON field at fault.
    Malformed(String),
}

impl std::fmt::Display for ResponseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResponseError::Api { error_type, error } => write!(f, "{error_type}: {error}"),
            ResponseError::Malformed(m) => write!(f, "malformed response: {m}"),
        }
    }
}

/// Decodes a Prometheus API body: the envelope, then `data` by `resultType`. Warnings are
/// returned beside the data.
pub fn parse_response(body: &[u8]) -> std::result::Result<(QueryData, Vec<String>), ResponseError> {
    let bad = ResponseError::Malformed;
    let v: Value = serde_json::from_slice(body).map_err(|e| bad(format!("invalid JSON: {e}")))?;
    let obj = v
        .as_object()
        .ok_or_else(|| bad(format!("top level: expected an object, got {}", kind(&v))))?;
    let status = get(obj, "", "status")?
        .as_str()
        .ok_or_else(|| bad("field status: expected a string".into()))?;
    match status {
        "success" => {}
        "error" => {
            let text = |k: &str| obj.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            return Err(ResponseError::Api {
                error_type: text("errorType"),
                error: text("error"),
            });
        }
        other => {
            return Err(bad(format!(
                "field status: expected \"success\" or \"error\", got {other:?}"
            )));
        }
    }
    let warnings = match obj.get("warnings") {
        None | Some(Value::Null) => vec![],
        Some(w) => array(w, "warnings")?
            .iter()
            .map(|x| x.as_str().unwrap_or_default().to_string())
            .collect(),
    };
    let data = get(obj, "", "data")?
        .as_object()
        .ok_or_else(|| bad("field data: expected an object".into()))?;
    let rt = get(data, "data", "resultType")?
        .as_str()
        .ok_or_else(|| bad("field data.resultType: expected a string".into()))?;
    let result = get(data, "data", "result")?;
    let out = match rt {
        "matrix" => QueryData::Matrix(
            array(result, "data.result")?
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let p = format!("data.result[{i}]");
                    let o = object(s, &p)?;
                    let labels = labels(get(o, &p, "metric")?, &format!("{p}.metric"))?;
                    // Native-histogram series carry `histograms` instead; they have no float samples.
                    let samples = match o.get("values") {
                        None if o.contains_key("histograms") => vec![],
                        None => return Err(bad(format!("field {p}.values: missing"))),
                        Some(vals) => array(vals, &format!("{p}.values"))?
                            .iter()
                            .enumerate()
                            .map(|(j, x)| sample(x, &format!("{p}.values[{j}]")))
                            .collect::<std::result::Result<_, _>>()?,
                    };
                    Ok((labels, samples))
                })
                .collect::<std::result::Result<_, ResponseError>>()?,
        ),
        "vector" => QueryData::Vector(
            array(result, "data.result")?
                .iter()
                .enumerate()
                .filter(|(_, s)| s.get("value").is_some() || s.get("histogram").is_none())
                .map(|(i, s)| {
                    let p = format!("data.result[{i}]");
                    let o = object(s, &p)?;
                    let labels = labels(get(o, &p, "metric")?, &format!("{p}.metric"))?;
                    Ok((labels, sample(get(o, &p, "value")?, &format!("{p}.value"))?))
                })
                .collect::<std::result::Result<_, ResponseError>>()?,
        ),
        "scalar" => QueryData::Scalar(sample(result, "data.result")?),
        "string" => {
            let a = array(result, "data.result")?;
            let (t, s) = match a.as_slice() {
                [t, s] => (t, s),
                _ => return Err(bad("field data.result: expected [time, \"string\"]".into())),
            };
            let t = t
                .as_f64()
                .ok_or_else(|| bad("field data.result[0]: expected a number".into()))?;
            let s = s
                .as_str()
                .ok_or_else(|| bad("field data.result[1]: expected a string".into()))?;
            QueryData::String((t, s.to_string()))
        }
        other => {
            return Err(bad(format!(
                "field data.resultType: unknown {other:?} (expected matrix, vector, scalar or string)"
            )));
        }
    };
    Ok((out, warnings))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn dotted(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn get<'a>(
    o: &'a serde_json::Map<String, Value>,
    path: &str,
    key: &str,
) -> std::result::Result<&'a Value, ResponseError> {
    o.get(key)
        .ok_or_else(|| ResponseError::Malformed(format!("field {}: missing", dotted(path, key))))
}

fn object<'a>(v: &'a Value, path: &str) -> std::result::Result<&'a serde_json::Map<String, Value>, ResponseError> {
    v.as_object()
        .ok_or_else(|| ResponseError::Malformed(format!("field {path}: expected an object, got {}", kind(v))))
}

fn array<'a>(v: &'a Value, path: &str) -> std::result::Result<&'a Vec<Value>, ResponseError> {
    v.as_array()
        .ok_or_else(|| ResponseError::Malformed(format!("field {path}: expected an array, got {}", kind(v))))
}

fn labels(v: &Value, path: &str) -> std::result::Result<Labels, ResponseError> {
    object(v, path)?
        .iter()
        .map(|(k, x)| match x.as_str() {
            Some(s) => Ok((k.clone(), s.to_string())),
            None => Err(ResponseError::Malformed(format!(
                "field {path}.{k}: expected a string, got {}",
                kind(x)
            ))),
        })
        .collect()
}

/// `[<unix seconds>, "<value>"]`; the value is a string so that NaN and ±Inf survive JSON.
fn sample(v: &Value, path: &str) -> std::result::Result<(f64, f64), ResponseError> {
    let bad = |m: String| ResponseError::Malformed(format!("field {path}{m}"));
    let a = array(v, path)?;
    let [t, x] = a.as_slice() else {
        return Err(bad(format!(": expected [time, \"value\"], got {} elements", a.len())));
    };
    let t = t
        .as_f64()
        .ok_or_else(|| bad(format!("[0]: expected a number, got {}", kind(t))))?;
    let s = x
        .as_str()
        .ok_or_else(|| bad(format!("[1]: expected a string, got {}", kind(x))))?;
    Ok((
        t,
        parse_value(s).ok_or_else(|| bad(format!("[1]: cannot parse {s:?} as a sample value")))?,
    ))
}

/// Go's `strconv.FormatFloat` output: decimal, exponent, `NaN`, `+Inf`, `-Inf`.
pub fn parse_value(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ if s.bytes().any(|b| b.is_ascii_alphabetic() && b != b'e' && b != b'E') => None,
        _ => s.parse().ok(),
    }
}

/// `__name__{a="b",c="d"}` with labels sorted and values escaped as in PromQL; `{}` when empty.
pub fn series_name(labels: &Labels) -> String {
    let name = labels.get("__name__").map(String::as_str).unwrap_or("");
    let rest: Vec<String> = labels
        .iter()
        .filter(|(k, _)| *k != "__name__")
        .map(|(k, v)| {
            let v = v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
            format!("{k}=\"{v}\"")
        })
        .collect();
    if !name.is_empty() && rest.is_empty() {
        return name.to_string();
    }
    format!("{name}{{{}}}", rest.join(","))
}

/// Places range samples on the grid `start + i·step`, `i ≤ n-1`; missing steps stay NaN.
pub fn to_grid(data: Vec<(Labels, Vec<(f64, f64)>)>, start: i64, step: i64, n: usize) -> Vec<NamedSeries> {
    data.into_iter()
        .map(|(labels, samples)| {
            let mut values = vec![f64::NAN; n];
            for (t, v) in samples {
                let i = ((t - start as f64) / step as f64).round();
                if i >= 0.0 && (i as usize) < n {
                    values[i as usize] = v;
                }
            }
            NamedSeries {
                name: series_name(&labels),
                labels,
                start,
                step,
                values,
            }
        })
        .collect()
}

/// A Prometheus server.
#[derive(Debug, Clone)]
pub struct Prometheus {
    base: reqwest::Url,
    client: HttpClient,
    /// GET with a query string instead of a POST form (some proxies allow only GET).
    use_get: bool,
    max_points: usize,
}

impl Prometheus {
    /// A source at base `url` (a path prefix is kept), POSTing queries through a client built
    /// from `http`.
    pub fn new(url: &str, http: &HttpConfig) -> Result<Prometheus> {
        Ok(Prometheus {
            base: parse_base_url("url", url)?,
            client: HttpClient::new(http)?,
            use_get: false,
            max_points: MAX_POINTS_PER_QUERY,
        })
    }

    /// Sends queries as GET with a query string instead of a POST form (some proxies allow only GET).
    pub fn with_get(mut self, use_get: bool) -> Self {
        self.use_get = use_get;
        self
    }

    /// Points per range request (at most [`MAX_POINTS_PER_QUERY`]); longer ranges are split.
    pub fn with_max_points(mut self, n: usize) -> Self {
        self.max_points = n.clamp(2, MAX_POINTS_PER_QUERY);
        self
    }

    async fn call(&self, path: &str, query: &str, params: &[(&str, String)]) -> Result<QueryData> {
        let url = join(&self.base, path);
        let req = if self.use_get {
            let mut u = url.clone();
            u.query_pairs_mut()
                .extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())));
            Request::get(u)
        } else {
            Request::post_form(url.clone(), params)
        }
        .accept("application/json");
        let ctx = |m: String| Error::source(format!("prometheus {url}: query {query:?}: {m}"));
        // Prometheus answers bad queries with 400/422/503 and the JSON error envelope.
        let body = match self.client.send(&req).await {
            Ok(r) => r.body,
            Err(crate::observe::http::HttpError::Status { status, message, .. }) => {
                return Err(ctx(match parse_response(message.as_bytes()) {
                    Err(e @ ResponseError::Api { .. }) => format!("{e} (HTTP {status})"),
                    _ => format!("HTTP {status}: {message}"),
                }));
            }
            Err(e) => return Err(e.into()),
        };
        let (data, warnings) = parse_response(&body).map_err(|e| ctx(e.to_string()))?;
        for w in warnings {
            tracing::warn!(%query, "prometheus warning: {w}");
        }
        Ok(data)
    }
}

#[async_trait::async_trait]
impl MetricSource for Prometheus {
    async fn range(&self, query: &str, start: i64, end: i64, step: i64) -> Result<Vec<NamedSeries>> {
        if step <= 0 || end < start {
            return Err(Error::Invalid(format!(
                "query {query:?}: need step > 0 and end ≥ start, got start={start} end={end} step={step}"
            )));
        }
        let n = ((end - start) / step) as usize + 1;
        let mut merged: BTreeMap<Labels, Vec<(f64, f64)>> = BTreeMap::new();
        let mut from = 0usize;
        while from < n {
            let to = (from + self.max_points).min(n);
            let params = [
                ("query", query.to_string()),
                ("start", (start + from as i64 * step).to_string()),
                ("end", (start + (to - 1) as i64 * step).to_string()),
                ("step", step.to_string()),
            ];
            match self.call("api/v1/query_range", query, &params).await? {
                QueryData::Matrix(series) => {
                    for (labels, samples) in series {
                        merged.entry(labels).or_default().extend(samples);
                    }
                }
                other => {
                    return Err(Error::source(format!(
                        "query {query:?}: query_range returned {}, expected a matrix",
                        result_type(&other)
                    )));
                }
            }
            from = to;
        }
        let mut out = to_grid(merged.into_iter().collect(), start, step, n);
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    async fn instant(&self, query: &str, time: i64) -> Result<Vec<NamedSample>> {
        let params = [("query", query.to_string()), ("time", time.to_string())];
        let sample = |labels: Labels, (t, v): (f64, f64)| NamedSample {
            name: series_name(&labels),
            labels,
            time: t,
            value: v,
        };
        match self.call("api/v1/query", query, &params).await? {
            QueryData::Vector(v) => Ok(v.into_iter().map(|(l, s)| sample(l, s)).collect()),
            QueryData::Scalar(s) => Ok(vec![sample(Labels::new(), s)]),
            other => Err(Error::source(format!(
                "query {query:?}: instant query returned {}, expected a vector or scalar",
                result_type(&other)
            ))),
        }
    }
}

fn result_type(d: &QueryData) -> &'static str {
    match d {
        QueryData::Matrix(_) => "a matrix",
        QueryData::Vector(_) => "a vector",
        QueryData::Scalar(_) => "a scalar",
        QueryData::String(_) => "a string",
    }
}

/// `[source] kind = "prometheus"` of a training job (docs/prometheus.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusSource {
    /// Base URL of the Prometheus HTTP API, e.g. `http://prometheus:9090` (a path prefix is kept).
    pub url: String,
    /// Service name → PromQL returning exactly one series for it.
    pub queries: BTreeMap<String, String>,
    /// How far back to read, e.g. "8w".
    pub history: String,
    /// Query resolution, e.g. "5m"; it becomes the series step.
    pub step: String,
    /// Last evaluation time (RFC 3339 or Unix seconds); default: now, floored to the step.
    #[serde(default)]
    pub end: Option<String>,
    /// Longest run of missing steps to interpolate (default 12, as for files).
    #[serde(default = "default_max_gap")]
    pub max_gap_fill: usize,
    /// "post" (default) or "get".
    #[serde(default)]
    pub method: Option<String>,
    /// Whole-request timeout, e.g. "30s" (default 60 s).
    #[serde(default)]
    pub timeout: Option<String>,
    /// A longer response body is refused (default 64 MiB).
    #[serde(default)]
    pub max_response_bytes: Option<usize>,
    /// PEM file of extra CA certificates.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Accept any server certificate. For test clusters only.
    #[serde(default)]
    pub insecure_skip_verify: bool,
    /// Bearer or basic credentials (none by default).
    #[serde(default)]
    pub auth: AuthConfig,
}

fn default_max_gap() -> usize {
    GapPolicy::default().max_gap_fill
}

impl PrometheusSource {
    /// Checks every field; errors name it as `source.<field>`.
    pub fn validate(&self) -> Result<()> {
        self.connection().validate("source")?;
        if self.queries.is_empty() {
            return Err(Error::config(
                "source.queries",
                "list at least one service = \"PromQL\"",
            ));
        }
        if let Some((svc, _)) = self.queries.iter().find(|(_, q)| q.trim().is_empty()) {
            return Err(Error::config(format!("source.queries.{svc}"), "empty query"));
        }
        let step = parse_duration("source.step", &self.step)?;
        let history = parse_duration("source.history", &self.history)?;
        if history < 2 * step {
            return Err(Error::config("source.history", "must cover at least two steps"));
        }
        if let Some(e) = &self.end {
            parse_timestamp(e).ok_or_else(|| Error::config("source.end", format!("cannot parse timestamp {e:?}")))?;
        }
        Ok(())
    }

    fn connection(&self) -> Connection<'_> {
        Connection {
            url: &self.url,
            method: self.method.as_deref(),
            timeout: self.timeout.as_deref(),
            max_response_bytes: self.max_response_bytes,
            ca_file: self.ca_file.as_ref(),
            insecure_skip_verify: self.insecure_skip_verify,
            auth: &self.auth,
        }
    }

    /// The HTTP client settings the connection fields give.
    pub fn http_config(&self) -> Result<HttpConfig> {
        self.connection().http_config("source")
    }

    /// The source these fields configure.
    pub fn client(&self) -> Result<Prometheus> {
        self.connection().client("source")
    }

    /// The evaluation window `(start, end, step)`; `now` is injected for tests.
    pub fn window(&self, now: i64) -> Result<(i64, i64, i64)> {
        let step = parse_duration("source.step", &self.step)?;
        let history = parse_duration("source.history", &self.history)?;
        let end = match &self.end {
            Some(e) => parse_timestamp(e).ok_or_else(|| Error::config("source.end", format!("cannot parse {e:?}")))?,
            None => now.div_euclid(step) * step,
        };
        Ok((end - history + step, end, step))
    }
}

/// The connection options a Prometheus source has wherever it is configured (training job,
/// `scale serve`); one reading of them, with `prefix` naming the fields in errors.
pub(crate) struct Connection<'a> {
    pub url: &'a str,
    pub method: Option<&'a str>,
    pub timeout: Option<&'a str>,
    pub max_response_bytes: Option<usize>,
    pub ca_file: Option<&'a PathBuf>,
    pub insecure_skip_verify: bool,
    pub auth: &'a AuthConfig,
}

impl Connection<'_> {
    /// Checks the connection fields; errors name them as `<prefix>.<field>`.
    pub fn validate(&self, prefix: &str) -> Result<()> {
        parse_base_url(&format!("{prefix}.url"), self.url)?;
        if let Some(t) = self.timeout {
            parse_duration(&format!("{prefix}.timeout"), t)?;
        }
        if let Some(m) = self.method
            && !matches!(m, "get" | "post")
        {
            return Err(Error::config(
                format!("{prefix}.method"),
                format!("{m:?}: expected \"get\" or \"post\""),
            ));
        }
        if self.max_response_bytes == Some(0) {
            return Err(Error::config(
                format!("{prefix}.max_response_bytes"),
                "must be positive",
            ));
        }
        self.auth.resolve(&format!("{prefix}.auth"))?;
        Ok(())
    }

    pub fn http_config(&self, prefix: &str) -> Result<HttpConfig> {
        let mut c = HttpConfig {
            auth: self.auth.resolve(&format!("{prefix}.auth"))?,
            ca_file: self.ca_file.cloned(),
            insecure_skip_verify: self.insecure_skip_verify,
            ..HttpConfig::default()
        };
        if let Some(t) = self.timeout {
            c.timeout = Duration::from_secs(parse_duration(&format!("{prefix}.timeout"), t)? as u64);
        }
        if let Some(n) = self.max_response_bytes {
            c.max_body_bytes = n;
        }
        Ok(c)
    }

    /// `method = "get"` selects GET; anything else POSTs the form.
    pub fn client(&self, prefix: &str) -> Result<Prometheus> {
        Ok(Prometheus::new(self.url, &self.http_config(prefix)?)?.with_get(self.method == Some("get")))
    }
}

/// Reads each service's query over the window and cleans it with the files' policy. A query
/// must return exactly one series (aggregate with `sum(...)` otherwise); no data is an error.
pub async fn load_services(
    source: &dyn MetricSource,
    queries: &BTreeMap<String, String>,
    (start, end, step): (i64, i64, i64),
    policy: GapPolicy,
) -> Result<LoadedSeries> {
    let mut out = Vec::new();
    for (service, query) in queries {
        let got = source.range(query, start, end, step).await?;
        let one = match got.as_slice() {
            [one] => one,
            [] => {
                return Err(Error::NoData(format!(
                    "service {service}: query {query:?} returned no series between {start} and {end}"
                )));
            }
            many => {
                let names: Vec<&str> = many.iter().take(3).map(|s| s.name.as_str()).collect();
                return Err(Error::NoData(format!(
                    "service {service}: query {query:?} returned {} series (e.g. {names:?}); aggregate it to one, e.g. sum(...)",
                    many.len()
                )));
            }
        };
        out.push(one.clean(&format!("prometheus query {query:?}"), service, policy)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// Response shapes from the Prometheus HTTP API documentation.
    #[test]
    fn parses_documented_shapes() {
        let matrix = r#"{
           "status" : "success",
           "data" : {
              "resultType" : "matrix",
              "result" : [
                 {
                    "metric" : {"__name__" : "up", "job" : "prometheus", "instance" : "localhost:9090"},
                    "values" : [[1435781430.781, "1"], [1435781445.781, "NaN"], [1435781460.781, "+Inf"]]
                 },
                 {
                    "metric" : {"__name__" : "up", "job" : "node", "instance" : "localhost:9091"},
                    "values" : [[1435781430.781, "0"], [1435781445.781, "-Inf"], [1435781460.781, "1e3"]]
                 }
              ]
           }
        }"#;
        let (d, w) = parse_response(matrix.as_bytes()).unwrap();
        assert!(w.is_empty());
        let QueryData::Matrix(m) = d else { panic!("{d:?}") };
        assert_eq!(m.len(), 2);
        assert_eq!(
            m[0].0,
            labels(&[
                ("__name__", "up"),
                ("job", "prometheus"),
                ("instance", "localhost:9090")
            ])
        );
        assert_eq!(m[0].1[0], (1435781430.781, 1.0));
        assert!(m[0].1[1].1.is_nan());
        assert_eq!(m[0].1[2].1, f64::INFINITY);
        assert_eq!(m[1].1[1].1, f64::NEG_INFINITY);
        assert_eq!(m[1].1[2].1, 1000.0);

        let vector = r#"{
           "status" : "success",
           "data" : {
              "resultType" : "vector",
              "result" : [
                 {"metric" : {"__name__" : "up", "job" : "prometheus", "instance" : "localhost:9090"}, "value": [1435781451.781, "1"]},
                 {"metric" : {}, "value": [1435781451.781, "0.5"]}
              ]
           },
           "warnings": ["PromQL info: metric might not be a counter"]
        }"#;
        let (d, w) = parse_response(vector.as_bytes()).unwrap();
        assert_eq!(w, ["PromQL info: metric might not be a counter"]);
        assert_eq!(
            d,
            QueryData::Vector(vec![
                (
                    labels(&[
                        ("__name__", "up"),
                        ("job", "prometheus"),
                        ("instance", "localhost:9090")
                    ]),
                    (1435781451.781, 1.0)
                ),
                (Labels::new(), (1435781451.781, 0.5)),
            ])
        );
        let scalar = r#"{"status":"success","data":{"resultType":"scalar","result":[1435781451.781,"2"]}}"#;
        assert_eq!(
            parse_response(scalar.as_bytes()).unwrap().0,
            QueryData::Scalar((1435781451.781, 2.0))
        );
        let string = r#"{"status":"success","data":{"resultType":"string","result":[1,"hello"]}}"#;
        assert_eq!(
            parse_response(string.as_bytes()).unwrap().0,
            QueryData::String((1.0, "hello".into()))
        );
        let empty = r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#;
        assert_eq!(parse_response(empty.as_bytes()).unwrap().0, QueryData::Matrix(vec![]));
    }

    #[test]
    fn error_envelope_and_malformed_responses_name_the_field() {
        let cases: &[(&str, &str)] = &[
            (
                r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:6: parse error: unexpected <by>"}"#,
                "bad_data: invalid parameter \"query\": 1:6: parse error: unexpected <by>",
            ),
            (
                "{\"status\":\"success\",\"data\":",
                "malformed response: invalid JSON: EOF while parsing",
            ),
            ("[]", "top level: expected an object, got an array"),
            (r#"{"data":{}}"#, "field status: missing"),
            (
                r#"{"status":"ok"}"#,
                "field status: expected \"success\" or \"error\", got \"ok\"",
            ),
            (r#"{"status":"success"}"#, "field data: missing"),
            (
                r#"{"status":"success","data":{"result":[]}}"#,
                "field data.resultType: missing",
            ),
            (
                r#"{"status":"success","data":{"resultType":"histogram","result":[]}}"#,
                "field data.resultType: unknown \"histogram\"",
            ),
            (
                r#"{"status":"success","data":{"resultType":"matrix","result":{}}}"#,
                "field data.result: expected an array, got an object",
            ),
            (
                r#"{"status":"success","data":{"resultType":"matrix","result":[{"values":[]}]}}"#,
                "field data.result[0].metric: missing",
            ),
            (
                r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"a":1},"values":[]}]}}"#,
                "field data.result[0].metric.a: expected a string, got a number",
            ),
            (
                r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"1"],[2,"abc"]]}]}}"#,
                "field data.result[0].values[1][1]: cannot parse \"abc\" as a sample value",
            ),
            (
                r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,1]]}]}}"#,
                "field data.result[0].values[0][1]: expected a string, got a number",
            ),
            (
                r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[["1","1"]]}]}}"#,
                "field data.result[0].values[0][0]: expected a number, got a string",
            ),
            (
                r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1]}]}}"#,
                "field data.result[0].value: expected [time, \"value\"], got 1 elements",
            ),
        ];
        for (body, want) in cases {
            let got = parse_response(body.as_bytes()).unwrap_err().to_string();
            assert!(got.contains(want), "want {want:?} in {got:?}");
        }
    }

    #[test]
    fn values_and_names() {
        for (s, want) in [
            ("1", Some(1.0)),
            ("-2.5e-3", Some(-0.0025)),
            ("+Inf", Some(f64::INFINITY)),
            ("inf", None),
            ("1x", None),
            ("", None),
        ] {
            assert_eq!(parse_value(s), want, "{s:?}");
        }
        assert!(parse_value("NaN").unwrap().is_nan());
        let cases = [
            (labels(&[("__name__", "up")]), "up"),
            (
                labels(&[("__name__", "up"), ("b", "2"), ("a", "1")]),
                "up{a=\"1\",b=\"2\"}",
            ),
            (labels(&[("job", "x\"y\\z")]), "{job=\"x\\\"y\\\\z\"}"),
            (Labels::new(), "{}"),
        ];
        for (l, want) in cases {
            assert_eq!(series_name(&l), want);
        }
    }

    #[test]
    fn grid_gaps_become_nan_then_follow_the_file_policy() {
        // a stale marker makes Prometheus omit steps 2..3; step 6 is past the requested end
        let samples = vec![(100.0, 1.0), (160.0, 2.0), (280.0, 5.0), (340.0, 6.0), (460.0, 9.0)];
        let g = to_grid(vec![(labels(&[("__name__", "x")]), samples)], 100, 60, 5);
        assert_eq!(g[0].name, "x");
        let v = &g[0].values;
        assert_eq!((v[0], v[1], v[3], v[4]), (1.0, 2.0, 5.0, 6.0));
        assert!(v[2].is_nan());
        let c = g[0].clean("q", "svc", GapPolicy { max_gap_fill: 1 }).unwrap();
        assert_eq!(c.series.values, vec![1.0, 2.0, 3.5, 5.0, 6.0]);
        assert_eq!(
            (c.series.start, c.series.step, c.series.name.as_str()),
            (100, 60, "svc")
        );
        let e = g[0]
            .clean("prometheus query \"x\"", "svc", GapPolicy { max_gap_fill: 0 })
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("prometheus query \"x\":4: series \"svc\": gap of 1 missing steps"),
            "{e}"
        );
    }

    #[test]
    fn source_config_errors_name_the_field() {
        let base = r#"url = "http://127.0.0.1:9090"
history = "1d"
step = "5m"
[queries]
web = "sum(rate(x[5m]))"
"#;
        let ok: PrometheusSource = toml::from_str(base).unwrap();
        ok.validate().unwrap();
        assert_eq!(ok.window(1_000_000).unwrap(), (999_900 - 86_400 + 300, 999_900, 300));
        let cases = [
            (base.replace("http://127", "tcp://127"), "source.url"),
            (base.replace("\"1d\"", "\"yesterday\""), "source.history"),
            (base.replace("\"5m\"", "\"2d\""), "source.history"),
            (
                base.replace("step = \"5m\"", "step = \"5m\"\nend = \"soon\""),
                "source.end",
            ),
            (base.replace("sum(rate(x[5m]))", " "), "source.queries.web"),
            (
                base.replace("step = \"5m\"", "step = \"5m\"\nmethod = \"put\""),
                "source.method",
            ),
        ];
        for (text, want) in cases {
            let s: PrometheusSource = toml::from_str(&text).unwrap();
            let e = s.validate().unwrap_err().to_string();
            assert!(e.contains(want), "want {want:?} in {e}");
        }
    }
}
