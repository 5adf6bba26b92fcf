//! KEDA external scaler: serves SCALE's forecast as the metric KEDA scales on.
//!
//! Implements `externalscaler.ExternalScaler` (proto/externalscaler.proto, KEDA's contract)
//! with hand-written prost messages and a hand-written tonic service, so building SCALE needs
//! no protoc. The contract is in docs/keda.md; the per-ScaledObject settings arrive as
//! `scalerMetadata` and are parsed by [`ScalerMetadata::parse`].

use crate::core::time::{SharedClock, SystemClock};
use crate::forecast::Forecast;
use crate::train::artifact::{self, Artifact};
use crate::{Error, Result};
use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tonic::codegen::{Body, StdError, http};
use tonic::{Request, Response, Status};

// ---- wire messages (field numbers as in proto/externalscaler.proto) ----

#[derive(Clone, PartialEq, prost::Message)]
pub struct ScaledObjectRef {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub namespace: String,
    #[prost(map = "string, string", tag = "3")]
    pub scaler_metadata: HashMap<String, String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct IsActiveResponse {
    #[prost(bool, tag = "1")]
    pub result: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GetMetricSpecResponse {
    #[prost(message, repeated, tag = "1")]
    pub metric_specs: Vec<MetricSpec>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct MetricSpec {
    #[prost(string, tag = "1")]
    pub metric_name: String,
    #[prost(int64, tag = "2")]
    pub target_size: i64,
    #[prost(double, tag = "3")]
    pub target_size_float: f64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GetMetricsRequest {
    #[prost(message, optional, tag = "1")]
    pub scaled_object_ref: Option<ScaledObjectRef>,
    #[prost(string, tag = "2")]
    pub metric_name: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GetMetricsResponse {
    #[prost(message, repeated, tag = "1")]
    pub metric_values: Vec<MetricValue>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct MetricValue {
    #[prost(string, tag = "1")]
    pub metric_name: String,
    #[prost(int64, tag = "2")]
    pub metric_value: i64,
    #[prost(double, tag = "3")]
    pub metric_value_float: f64,
}

// ---- per-ScaledObject settings ----

/// Which forecast series becomes the metric. SCALE artifacts carry the point forecast and
/// conformal 80%/95% intervals, so exactly these quantiles exist.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Quantile {
    Lower95,
    Lower80,
    Point,
    Upper80,
    Upper95,
}

impl Quantile {
    fn parse(text: &str) -> Result<Self> {
        Ok(match text.trim() {
            "" | "point" | "0.5" | "median" => Quantile::Point,
            "0.025" => Quantile::Lower95,
            "0.1" => Quantile::Lower80,
            "0.9" => Quantile::Upper80,
            "0.975" => Quantile::Upper95,
            other => {
                return Err(Error::config(
                    "scalerMetadata.quantile",
                    format!("{other:?} is not one of point, 0.025, 0.1, 0.5, 0.9, 0.975"),
                ));
            }
        })
    }

    fn series(self, f: &Forecast) -> &[f64] {
        match self {
            Quantile::Lower95 => &f.lower_95,
            Quantile::Lower80 => &f.lower_80,
            Quantile::Point => &f.point,
            Quantile::Upper80 => &f.upper_80,
            Quantile::Upper95 => &f.upper_95,
        }
    }
}

/// Where the lead is counted from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Anchor {
    /// The end of the artifact's training history (what `scale forecast` does).
    Origin,
    /// The wall clock: the forecast for `now + lead`.
    Now,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ScalerMetadata {
    pub service: String,
    /// Seconds ahead; `None` = one model step.
    pub lead: Option<i64>,
    pub quantile: Quantile,
    pub anchor: Anchor,
    pub capacity_per_replica: Option<f64>,
    pub metric_name: Option<String>,
}

impl ScalerMetadata {
    /// Parses KEDA's `scalerMetadata`. Unknown keys are ignored: KEDA passes every trigger
    /// field, `scalerAddress` included.
    pub fn parse(md: &HashMap<String, String>) -> Result<Self> {
        let get = |k: &str| md.get(k).map(|s| s.trim()).filter(|s| !s.is_empty());
        // A client must not choose which directory the scaler reads: that would let anyone
        // who reaches the port probe the scaler's filesystem. The scaler serves `--models`.
        if md.contains_key("modelsDir") {
            return Err(Error::config(
                "scalerMetadata.modelsDir",
                "not accepted: the scaler serves only its own --models directory",
            ));
        }
        let service = get("service")
            .ok_or_else(|| Error::config("scalerMetadata.service", "missing (the SCALE service to forecast)"))?
            .to_string();
        if service.contains(['/', '\\']) || service.starts_with('.') || service.len() > 253 {
            return Err(Error::config(
                "scalerMetadata.service",
                format!("{service:?} is not a service name"),
            ));
        }
        let lead = get("lead")
            .map(|s| crate::core::time::parse_duration("scalerMetadata.lead", s))
            .transpose()?;
        let capacity_per_replica = get("capacityPerReplica")
            .map(|s| match s.parse::<f64>() {
                Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
                _ => Err(Error::config(
                    "scalerMetadata.capacityPerReplica",
                    format!("{s:?} is not a positive number"),
                )),
            })
            .transpose()?;
        let anchor = match get("anchor").unwrap_or("origin") {
            "origin" => Anchor::Origin,
            "now" => Anchor::Now,
            other => {
                return Err(Error::config(
                    "scalerMetadata.anchor",
                    format!("{other:?} is not origin or now"),
                ));
            }
        };
        Ok(Self {
            service,
            lead,
            quantile: Quantile::parse(get("quantile").unwrap_or(""))?,
            anchor,
            capacity_per_replica,
            metric_name: get("metricName").map(str::to_string),
        })
    }

    pub fn metric_name(&self) -> String {
        self.metric_name
            .clone()
            .unwrap_or_else(|| format!("scale-forecast-{}", self.service))
    }
}

/// Refuse leads further out than this many steps: the artifact is stale or the lead absurd.
pub const MAX_STEPS: usize = 10_000;

/// Steps ahead of the artifact's origin for this lead (at least 1: the first forecast point).
/// Checked throughout: `lead` comes from the client and `origin` from an artifact.
pub fn steps_for(anchor: Anchor, lead: Option<i64>, origin: i64, step: i64, now: i64) -> Result<usize> {
    let too_far = |steps: String| {
        Error::config(
            "scalerMetadata.lead",
            format!("{steps} steps past the artifact's history end exceeds {MAX_STEPS} (retrain, or shorten the lead)"),
        )
    };
    if step <= 0 {
        return Err(Error::config(
            "scalerMetadata.lead",
            format!("the artifact's step {step} is not positive"),
        ));
    }
    let lead = lead.unwrap_or(step);
    let ahead = match anchor {
        Anchor::Origin => Some(lead),
        Anchor::Now => now.checked_add(lead).and_then(|t| t.checked_sub(origin)),
    }
    .ok_or_else(|| too_far("too many".into()))?;
    let steps = ahead
        .checked_add(step - 1)
        .map(|a| a.div_euclid(step).max(1))
        .ok_or_else(|| too_far("too many".into()))?;
    if steps as u64 > MAX_STEPS as u64 {
        return Err(too_far(steps.to_string()));
    }
    Ok(steps as usize)
}

// ---- forecasts from artifacts ----

struct Cached {
    version: String,
    artifact: Arc<Artifact>,
    forecasts: HashMap<usize, Arc<Forecast>>,
}

/// Loads active artifacts and forecasts from them, caching per (models dir, service, version)
/// so KEDA's polling does not refit a model each time; a new ACTIVE version is picked up on
/// the next request.
pub struct ForecastSource {
    models_dir: PathBuf,
    clock: SharedClock,
    cache: Mutex<HashMap<String, Cached>>,
}

impl ForecastSource {
    pub fn new(models_dir: impl Into<PathBuf>) -> Self {
        Self::with_clock(models_dir, Arc::new(SystemClock))
    }

    pub fn with_clock(models_dir: impl Into<PathBuf>, clock: SharedClock) -> Self {
        Self {
            models_dir: models_dir.into(),
            clock,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The metric value: the forecast demand at the lead, at the quantile, floored at 0.
    pub fn value(&self, md: &ScalerMetadata) -> Result<f64> {
        let dir = &self.models_dir;
        let version = artifact::active_version(dir, &md.service)?
            .ok_or_else(|| Error::artifact(dir.join(&md.service), "no ACTIVE version (train the service first)"))?;
        let key = md.service.clone();
        let art = {
            let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            cache
                .get(&key)
                .filter(|c| c.version == version)
                .map(|c| c.artifact.clone())
        };
        let art = match art {
            Some(a) => a,
            None => {
                let a = Arc::new(artifact::load_active(dir, &md.service)?);
                let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
                cache.insert(
                    key.clone(),
                    Cached {
                        version: a.manifest.version.clone(),
                        artifact: a.clone(),
                        forecasts: HashMap::new(),
                    },
                );
                a
            }
        };
        let step = art.state.step;
        // Validated at load: in range, so this cannot overflow.
        let origin = art.history_end();
        let steps = steps_for(md.anchor, md.lead, origin, step, self.clock.now())?;
        let cached = {
            let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            cache.get(&key).and_then(|c| c.forecasts.get(&steps).cloned())
        };
        let f = match cached {
            Some(f) => f,
            None => {
                let f = Arc::new(art.forecast(&[], steps)?);
                let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(c) = cache.get_mut(&key).filter(|c| c.version == art.manifest.version) {
                    // Anchor "now" moves the step count over time: keep the map bounded.
                    if c.forecasts.len() >= 64 {
                        c.forecasts.clear();
                    }
                    c.forecasts.insert(steps, f.clone());
                }
                f
            }
        };
        let v = md.quantile.series(&f).get(steps - 1).copied().ok_or_else(|| {
            Error::model(
                &art.manifest.family,
                format!("forecast has {} steps, wanted {steps}", f.len()),
            )
        })?;
        if !v.is_finite() {
            return Err(Error::model(
                &art.manifest.family,
                format!("non-finite forecast {v} at step {steps}"),
            ));
        }
        Ok(v.max(0.0))
    }
}

// ---- the gRPC service ----

/// The `ExternalScaler` implementation behind the wire.
pub struct Scaler {
    pub source: ForecastSource,
    /// How often StreamIsActive pushes the current state.
    pub stream_interval: Duration,
}

fn status(e: Error) -> Status {
    match &e {
        Error::Config { .. } => Status::invalid_argument(e.to_string()),
        Error::Artifact { .. } | Error::Io { .. } => Status::failed_precondition(e.to_string()),
        _ => Status::internal(e.to_string()),
    }
}

impl Scaler {
    /// Forecasting may refit a model: keep it off the async workers.
    async fn value(self: &Arc<Self>, r: &ScaledObjectRef) -> std::result::Result<(ScalerMetadata, f64), Status> {
        let md = ScalerMetadata::parse(&r.scaler_metadata).map_err(status)?;
        let me = self.clone();
        let md2 = md.clone();
        let v = tokio::task::spawn_blocking(move || me.source.value(&md2))
            .await
            .map_err(|e| {
                // The panic message stays in the log: it may hold paths and internals.
                tracing::error!(service = %md.service, "forecast task failed: {e}");
                Status::internal("internal error while forecasting (details in the scaler's log)")
            })?
            .map_err(status)?;
        Ok((md, v))
    }

    async fn is_active(self: Arc<Self>, req: Request<ScaledObjectRef>) -> Result2<IsActiveResponse> {
        let (_, v) = self.value(req.get_ref()).await?;
        Ok(Response::new(IsActiveResponse { result: v > 0.0 }))
    }

    async fn stream_is_active(self: Arc<Self>, req: Request<ScaledObjectRef>) -> Result2<BoxStream<IsActiveResponse>> {
        let r = req.into_inner();
        // Fail the call itself on bad metadata rather than the first stream item.
        self.value(&r).await?;
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        tokio::spawn(async move {
            loop {
                let item = self.value(&r).await.map(|(_, v)| IsActiveResponse { result: v > 0.0 });
                // The client went away: stop.
                if tx.send(item).await.is_err() {
                    break;
                }
                tokio::select! {
                    _ = tokio::time::sleep(self.stream_interval) => {}
                    _ = tx.closed() => break,
                }
            }
        });
        let s: BoxStream<IsActiveResponse> = Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx));
        Ok(Response::new(s))
    }

    async fn get_metric_spec(self: Arc<Self>, req: Request<ScaledObjectRef>) -> Result2<GetMetricSpecResponse> {
        let md = ScalerMetadata::parse(&req.get_ref().scaler_metadata).map_err(status)?;
        let cap = md.capacity_per_replica.ok_or_else(|| {
            status(Error::config(
                "scalerMetadata.capacityPerReplica",
                "missing (demand one replica serves; the HPA target per replica)",
            ))
        })?;
        Ok(Response::new(GetMetricSpecResponse {
            metric_specs: vec![MetricSpec {
                metric_name: md.metric_name(),
                target_size: cap.ceil() as i64,
                target_size_float: cap,
            }],
        }))
    }

    async fn get_metrics(self: Arc<Self>, req: Request<GetMetricsRequest>) -> Result2<GetMetricsResponse> {
        let req = req.into_inner();
        let r = req
            .scaled_object_ref
            .ok_or_else(|| Status::invalid_argument("scaledObjectRef: missing"))?;
        let (md, v) = self.value(&r).await?;
        let name = if req.metric_name.is_empty() {
            md.metric_name()
        } else {
            req.metric_name
        };
        Ok(Response::new(GetMetricsResponse {
            metric_values: vec![MetricValue {
                metric_name: name,
                metric_value: v.ceil() as i64,
                metric_value_float: v,
            }],
        }))
    }
}

type Result2<T> = std::result::Result<Response<T>, Status>;
type BoxFut<T> = Pin<Box<dyn Future<Output = Result2<T>> + Send>>;
type BoxStream<T> = Pin<Box<dyn tokio_stream::Stream<Item = std::result::Result<T, Status>> + Send>>;

/// One RPC as a tower service, which tonic's unary and server-streaming adapters accept.
struct Rpc<Req, Resp> {
    scaler: Arc<Scaler>,
    call: fn(Arc<Scaler>, Request<Req>) -> BoxFut<Resp>,
}

impl<Req, Resp> tonic::codegen::Service<Request<Req>> for Rpc<Req, Resp> {
    type Response = Response<Resp>;
    type Error = Status;
    type Future = BoxFut<Resp>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<std::result::Result<(), Status>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, req: Request<Req>) -> Self::Future {
        (self.call)(self.scaler.clone(), req)
    }
}

/// The `externalscaler.ExternalScaler` gRPC service.
#[derive(Clone)]
pub struct ExternalScalerServer {
    scaler: Arc<Scaler>,
}

impl ExternalScalerServer {
    pub fn new(scaler: Arc<Scaler>) -> Self {
        Self { scaler }
    }
}

pub const SERVICE_NAME: &str = "externalscaler.ExternalScaler";

impl tonic::server::NamedService for ExternalScalerServer {
    const NAME: &'static str = SERVICE_NAME;
}

impl<B> tonic::codegen::Service<http::Request<B>> for ExternalScalerServer
where
    B: Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = std::result::Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<std::result::Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let scaler = self.scaler.clone();
        match req.uri().path() {
            "/externalscaler.ExternalScaler/IsActive" => Box::pin(async move {
                let rpc = Rpc {
                    scaler,
                    call: |s, r| Box::pin(s.is_active(r)),
                };
                Ok(tonic::server::Grpc::new(tonic_prost::ProstCodec::default())
                    .unary(rpc, req)
                    .await)
            }),
            "/externalscaler.ExternalScaler/StreamIsActive" => Box::pin(async move {
                let rpc = Rpc {
                    scaler,
                    call: |s, r| Box::pin(s.stream_is_active(r)),
                };
                Ok(tonic::server::Grpc::new(tonic_prost::ProstCodec::default())
                    .server_streaming(rpc, req)
                    .await)
            }),
            "/externalscaler.ExternalScaler/GetMetricSpec" => Box::pin(async move {
                let rpc = Rpc {
                    scaler,
                    call: |s, r| Box::pin(s.get_metric_spec(r)),
                };
                Ok(tonic::server::Grpc::new(tonic_prost::ProstCodec::default())
                    .unary(rpc, req)
                    .await)
            }),
            "/externalscaler.ExternalScaler/GetMetrics" => Box::pin(async move {
                let rpc = Rpc {
                    scaler,
                    call: |s, r| Box::pin(s.get_metrics(r)),
                };
                Ok(tonic::server::Grpc::new(tonic_prost::ProstCodec::default())
                    .unary(rpc, req)
                    .await)
            }),
            // StreamMetricSpec included: KEDA treats Unimplemented as "poll GetMetricSpec".
            _ => Box::pin(async move { Ok(Status::unimplemented("not served by SCALE").into_http()) }),
        }
    }
}

/// Serves the scaler on `listener` (HTTP/2 cleartext, as KEDA dials it) until `shutdown`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    scaler: Arc<Scaler>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let router = tonic::service::Routes::new(ExternalScalerServer::new(scaler)).into_axum_router();
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|e| Error::Task(format!("keda server: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn metadata_parses_and_names_bad_fields() {
        let ok = ScalerMetadata::parse(&md(&[
            ("scalerAddress", "scale-keda:9090"),
            ("service", "checkout"),
            ("lead", "10m"),
            ("quantile", "0.9"),
            ("capacityPerReplica", "12.5"),
        ]))
        .unwrap();
        assert_eq!(ok.service, "checkout");
        assert_eq!(ok.lead, Some(600));
        assert_eq!(ok.quantile, Quantile::Upper80);
        assert_eq!(ok.anchor, Anchor::Origin);
        assert_eq!(ok.capacity_per_replica, Some(12.5));
        assert_eq!(ok.metric_name(), "scale-forecast-checkout");

        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[], "scalerMetadata.service"),
            (&[("service", "../etc")], "scalerMetadata.service"),
            (&[("service", "a"), ("lead", "soon")], "scalerMetadata.lead"),
            (&[("service", "a"), ("quantile", "0.7")], "scalerMetadata.quantile"),
            (
                &[("service", "a"), ("capacityPerReplica", "-1")],
                "scalerMetadata.capacityPerReplica",
            ),
            (&[("service", "a"), ("anchor", "later")], "scalerMetadata.anchor"),
            (&[("service", "a"), ("lead", "1e30")], "scalerMetadata.lead"),
            (
                &[("service", "a"), ("lead", "9223372036854775807s")],
                "scalerMetadata.lead",
            ),
            (&[("service", "a"), ("modelsDir", "/etc")], "scalerMetadata.modelsDir"),
            (&[("service", "a"), ("modelsDir", "")], "scalerMetadata.modelsDir"),
            (&[("service", ".hidden")], "scalerMetadata.service"),
        ];
        for (pairs, field) in cases {
            let e = ScalerMetadata::parse(&md(pairs)).unwrap_err().to_string();
            assert!(e.contains(field), "{pairs:?}: {e}");
        }
    }

    #[test]
    fn steps_round_up_and_anchor_on_clock() {
        // (anchor, lead, now) → steps, with origin 1000 and a 60 s step.
        let cases = [
            (Anchor::Origin, None, 0, 1),
            (Anchor::Origin, Some(60), 0, 1),
            (Anchor::Origin, Some(61), 0, 2),
            (Anchor::Origin, Some(600), 0, 10),
            (Anchor::Now, Some(60), 1000, 1),
            (Anchor::Now, Some(60), 1300, 6),
            (Anchor::Now, Some(60), 0, 1),
        ];
        for (anchor, lead, now, want) in cases {
            assert_eq!(
                steps_for(anchor, lead, 1000, 60, now).unwrap(),
                want,
                "{anchor:?} {lead:?} {now}"
            );
        }
        // Too far, or arithmetic that would overflow: an error, never a panic.
        for (anchor, lead, origin, now) in [
            (Anchor::Now, Some(60), 0, 60 * 20_000),
            (Anchor::Origin, Some(i64::MAX), 0, 0),
            (Anchor::Now, Some(i64::MAX), 0, i64::MAX),
            (Anchor::Now, Some(60), i64::MIN, i64::MAX),
        ] {
            let e = steps_for(anchor, lead, origin, 60, now).unwrap_err();
            assert!(e.to_string().contains("scalerMetadata.lead"), "{e}");
        }
    }

    #[test]
    fn messages_round_trip_with_proto_field_numbers() {
        use prost::Message;
        let m = MetricValue {
            metric_name: "m".into(),
            metric_value: 3,
            metric_value_float: 2.5,
        };
        // field 1 string "m", field 2 varint 3, field 3 double 2.5
        let mut want = vec![0x0a, 0x01, b'm', 0x10, 0x03, 0x19];
        want.extend_from_slice(&2.5f64.to_le_bytes());
        assert_eq!(m.encode_to_vec(), want);
        assert_eq!(MetricValue::decode(&want[..]).unwrap(), m);
    }
}
