//! The sampled-span stream: spans accepted by the OTLP receivers are scored by a [`Sampler`];
//! the sampled ones go out in full (resource, scope, span) to subscribers of the gRPC
//! server-streaming RPC `scale.sample.v1.SampledSpans/Subscribe` (proto/scale_sample_v1.proto,
//! docs/sample.md).
//!
//! Hand-written prost messages and tonic service (as tonic's generated code is), so no protoc.
//! Backpressure: each subscriber has its own bounded queue; publishing never waits. A full
//! queue drops that subscriber's copy and counts it; the next message it gets carries the count.

use super::{Sampler, SamplerConfig};
use crate::observe::otlp::convert::Converted;
use crate::observe::otlp::{Plugins, Tap};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::sync::mpsc;
use tonic::codegen::{Body, StdError, http};
use tonic::{Request, Response, Status};

/// The gRPC service's full name, as reflection and routing see it.
pub const SERVICE_NAME: &str = "scale.sample.v1.SampledSpans";
/// The HTTP/2 path of the server-streaming `Subscribe` RPC.
pub const SUBSCRIBE_PATH: &str = "/scale.sample.v1.SampledSpans/Subscribe";

/// `scale.sample.v1.SubscribeRequest`: which sampled spans a subscriber wants.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SubscribeRequest {
    /// Only spans of these services (resource `service.name`); empty: every service.
    #[prost(string, repeated, tag = "1")]
    pub service_names: Vec<String>,
    /// Only sampled spans scoring at least this, in [0, 1]; 0: every sampled span.
    #[prost(double, tag = "2")]
    pub min_score: f64,
}

/// `scale.sample.v1.SampledSpan`: one sampled span in full.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SampledSpan {
    /// The span as received: its resource and scope (with schema URLs), and exactly one span.
    #[prost(message, optional, tag = "1")]
    pub resource_spans: Option<ResourceSpans>,
    /// The sampler's normalised anomaly score in [0, 1].
    #[prost(double, tag = "2")]
    pub score: f64,
    /// The resource's `service.name` (`unknown_service` when absent), as the sampler saw it.
    #[prost(string, tag = "3")]
    pub service_name: String,
    /// Spans this subscriber missed (its queue was full) since its previous message.
    #[prost(uint64, tag = "4")]
    pub dropped: u64,
}

/// Stream settings; `[source.otlp.sample]` in `scale serve` sets them (docs/serve.md).
#[derive(Debug, Clone, PartialEq)]
pub struct StreamConfig {
    /// The sampler every accepted span goes through.
    pub sampler: SamplerConfig,
    /// Messages buffered per subscriber before its copies are dropped.
    pub queue: usize,
    /// Concurrent subscribers at most; more are refused with `RESOURCE_EXHAUSTED`.
    pub max_subscribers: usize,
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            sampler: SamplerConfig::default(),
            queue: 1024,
            max_subscribers: 16,
        }
    }
}

/// Counters over the stream's life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// Spans scored by the sampler.
    pub scored: u64,
    /// Spans the sampler kept (each published once to the hub).
    pub sampled: u64,
    /// Copies queued to subscribers.
    pub delivered: u64,
    /// Copies dropped because a subscriber's queue was full.
    pub dropped: u64,
}

struct Subscriber {
    filter: SubscribeRequest,
    tx: mpsc::Sender<Result<SampledSpan, Status>>,
    /// Dropped since the last message that reached the queue.
    pending_dropped: u64,
}

/// The subscribers and the counters. Publishing never blocks.
pub struct Hub {
    subscribers: Mutex<Option<Vec<Subscriber>>>,
    queue: usize,
    max_subscribers: usize,
    scored: AtomicU64,
    sampled: AtomicU64,
    delivered: AtomicU64,
    dropped: AtomicU64,
}

impl Hub {
    pub(crate) fn new(queue: usize, max_subscribers: usize) -> Hub {
        Hub {
            subscribers: Mutex::new(Some(Vec::new())),
            queue: queue.max(1),
            max_subscribers,
            scored: AtomicU64::new(0),
            sampled: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        }
    }

    /// A new subscriber's queue; errors are the RPC's status.
    pub fn subscribe(&self, filter: SubscribeRequest) -> Result<mpsc::Receiver<Result<SampledSpan, Status>>, Status> {
        if !(0.0..=1.0).contains(&filter.min_score) {
            return Err(Status::invalid_argument(format!(
                "min_score must be in [0, 1], got {}",
                filter.min_score
            )));
        }
        let mut g = self.subscribers.lock().unwrap_or_else(|e| e.into_inner());
        let Some(subs) = g.as_mut() else {
            return Err(Status::unavailable("the span stream is shutting down"));
        };
        subs.retain(|s| !s.tx.is_closed());
        if subs.len() >= self.max_subscribers {
            return Err(Status::resource_exhausted(format!(
                "{} subscribers already (the limit)",
                subs.len()
            )));
        }
        let (tx, rx) = mpsc::channel(self.queue);
        subs.push(Subscriber {
            filter,
            tx,
            pending_dropped: 0,
        });
        Ok(rx)
    }

    /// Offers `span` to every subscriber whose filter takes it; a full queue drops and counts.
    pub fn publish(&self, span: &SampledSpan) {
        let mut g = self.subscribers.lock().unwrap_or_else(|e| e.into_inner());
        let Some(subs) = g.as_mut() else { return };
        subs.retain_mut(|s| {
            let f = &s.filter;
            if span.score < f.min_score || !(f.service_names.is_empty() || f.service_names.contains(&span.service_name))
            {
                return !s.tx.is_closed();
            }
            let msg = SampledSpan {
                dropped: s.pending_dropped,
                ..span.clone()
            };
            match s.tx.try_send(Ok(msg)) {
                Ok(()) => {
                    s.pending_dropped = 0;
                    self.delivered.fetch_add(1, Ordering::Relaxed);
                    true
                }
                Err(mpsc::error::TrySendError::Full(_)) => {
                    s.pending_dropped += 1;
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                    true
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            }
        });
    }

    /// Ends every subscription (their streams finish) and refuses new ones.
    pub fn close(&self) {
        self.subscribers.lock().unwrap_or_else(|e| e.into_inner()).take();
    }

    /// Open subscriptions.
    pub fn subscribers(&self) -> usize {
        let g = self.subscribers.lock().unwrap_or_else(|e| e.into_inner());
        g.as_ref().map_or(0, |s| s.iter().filter(|s| !s.tx.is_closed()).count())
    }

    /// The counters so far.
    pub fn stats(&self) -> StreamStats {
        StreamStats {
            scored: self.scored.load(Ordering::Relaxed),
            sampled: self.sampled.load(Ordering::Relaxed),
            delivered: self.delivered.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }
}

/// The receivers' [`Tap`]: scores every accepted span, publishes the sampled ones.
pub struct SamplingTap {
    sampler: Mutex<Sampler>,
    hub: Arc<Hub>,
}

impl Tap for SamplingTap {
    fn accepted(&self, request: &ExportTraceServiceRequest, converted: &Converted) {
        let mut out = Vec::new();
        {
            // One lock per request: spans are scored in request order.
            let mut sampler = self.sampler.lock().unwrap_or_else(|e| e.into_inner());
            for (span, origin) in converted.spans.iter().zip(&converted.origins) {
                let d = sampler.observe(&span.service, &span.operation, span.duration);
                if d.sampled {
                    out.push((*origin, d.score, span.service.as_str()));
                }
            }
        }
        let n = converted.spans.len() as u64;
        self.hub.scored.fetch_add(n, Ordering::Relaxed);
        self.hub.sampled.fetch_add(out.len() as u64, Ordering::Relaxed);
        for ([r, s, i], score, service) in out {
            if let Some(msg) = full_span(request, [r, s, i], score, service) {
                self.hub.publish(&msg);
            }
        }
    }
}

/// The span at `[r, s, i]` with its resource and scope.
fn full_span(req: &ExportTraceServiceRequest, [r, s, i]: [usize; 3], score: f64, service: &str) -> Option<SampledSpan> {
    let rs = req.resource_spans.get(r)?;
    let ss = rs.scope_spans.get(s)?;
    let span = ss.spans.get(i)?;
    Some(SampledSpan {
        resource_spans: Some(ResourceSpans {
            resource: rs.resource.clone(),
            scope_spans: vec![ScopeSpans {
                scope: ss.scope.clone(),
                spans: vec![span.clone()],
                schema_url: ss.schema_url.clone(),
            }],
            schema_url: rs.schema_url.clone(),
        }),
        score,
        service_name: service.to_string(),
        dropped: 0,
    })
}

/// A sampler, its subscribers and the RPC serving them: plug it into the OTLP receivers with
/// [`SampleStream::plugins`].
#[derive(Clone)]
pub struct SampleStream {
    tap: Arc<SamplingTap>,
}

impl SampleStream {
    /// A stream with no subscribers; fails when the sampler settings do not validate.
    pub fn new(cfg: StreamConfig) -> crate::Result<SampleStream> {
        Ok(SampleStream {
            tap: Arc::new(SamplingTap {
                sampler: Mutex::new(Sampler::new(cfg.sampler)?),
                hub: Arc::new(Hub::new(cfg.queue, cfg.max_subscribers)),
            }),
        })
    }

    /// The receivers' tap that scores spans and publishes the sampled ones.
    pub fn tap(&self) -> Arc<dyn Tap> {
        self.tap.clone()
    }

    /// The subscribers and counters.
    pub fn hub(&self) -> &Arc<Hub> {
        &self.tap.hub
    }

    /// The `SampledSpans` gRPC service over this stream's hub.
    pub fn server(&self) -> SampledSpansServer {
        SampledSpansServer {
            hub: self.tap.hub.clone(),
        }
    }

    /// The receivers' plugins: the tap, the `SampledSpans` service on the gRPC port, and closing
    /// the hub first on shutdown (open subscriptions would hold the server's graceful shutdown).
    pub fn plugins(&self) -> Plugins {
        let hub = self.tap.hub.clone();
        Plugins {
            taps: vec![self.tap()],
            grpc: Some(tonic::service::Routes::new(self.server())),
            on_shutdown: vec![Box::new(move || hub.close())],
            ..Plugins::default()
        }
    }
}

/// The `scale.sample.v1.SampledSpans` gRPC service.
#[derive(Clone)]
pub struct SampledSpansServer {
    hub: Arc<Hub>,
}

impl tonic::server::NamedService for SampledSpansServer {
    const NAME: &'static str = SERVICE_NAME;
}

type SpanStream = tokio_stream::wrappers::ReceiverStream<Result<SampledSpan, Status>>;

/// `Subscribe` as a tower service, which tonic's server-streaming adapter takes.
struct Subscribe(Arc<Hub>);

impl tonic::codegen::Service<Request<SubscribeRequest>> for Subscribe {
    type Response = Response<SpanStream>;
    type Error = Status;
    type Future = std::future::Ready<Result<Response<SpanStream>, Status>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Status>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<SubscribeRequest>) -> Self::Future {
        std::future::ready(
            self.0
                .subscribe(req.into_inner())
                .map(|rx| Response::new(SpanStream::new(rx))),
        )
    }
}

impl<B> tonic::codegen::Service<http::Request<B>> for SampledSpansServer
where
    B: Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        if req.uri().path() != SUBSCRIBE_PATH {
            return Box::pin(async { Ok(Status::unimplemented("only SampledSpans/Subscribe is served").into_http()) });
        }
        let hub = self.hub.clone();
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(tonic_prost::ProstCodec::default());
            Ok(grpc.server_streaming(Subscribe(hub), req).await)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::otlp::convert::convert;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::Span as OtlpSpan;

    fn msg(service: &str, score: f64) -> SampledSpan {
        SampledSpan {
            resource_spans: None,
            score,
            service_name: service.into(),
            dropped: 0,
        }
    }

    #[test]
    fn filters_by_service_and_score() {
        let hub = Hub::new(16, 4);
        let mut all = hub.subscribe(SubscribeRequest::default()).unwrap();
        let mut cart = hub
            .subscribe(SubscribeRequest {
                service_names: vec!["cart".into()],
                min_score: 0.95,
            })
            .unwrap();
        for (svc, score) in [("cart", 0.9), ("cart", 0.97), ("web", 0.99)] {
            hub.publish(&msg(svc, score));
        }
        let drain = |rx: &mut mpsc::Receiver<Result<SampledSpan, Status>>| {
            std::iter::from_fn(|| rx.try_recv().ok())
                .map(|m| {
                    let m = m.unwrap();
                    (m.service_name, m.score)
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(drain(&mut all).len(), 3);
        assert_eq!(drain(&mut cart), vec![("cart".to_string(), 0.97)]);
        assert_eq!(hub.stats().delivered, 4);
    }

    #[test]
    fn slow_subscriber_drops_and_is_told_how_many() {
        let hub = Hub::new(2, 4);
        let mut slow = hub.subscribe(SubscribeRequest::default()).unwrap();
        for i in 0..5 {
            hub.publish(&msg("web", 0.9 + i as f64 / 100.0));
        }
        assert_eq!((hub.stats().delivered, hub.stats().dropped), (2, 3));
        let first: Vec<u64> = std::iter::from_fn(|| slow.try_recv().ok())
            .map(|m| m.unwrap().dropped)
            .collect();
        assert_eq!(first, vec![0, 0]);
        hub.publish(&msg("web", 0.99));
        let next = slow.try_recv().unwrap().unwrap();
        assert_eq!((next.dropped, next.score), (3, 0.99));
    }

    #[test]
    fn refusals_name_the_reason() {
        let hub = Hub::new(2, 1);
        let bad = hub
            .subscribe(SubscribeRequest {
                min_score: 1.5,
                ..Default::default()
            })
            .unwrap_err();
        assert_eq!(bad.code(), tonic::Code::InvalidArgument);
        let nan = hub
            .subscribe(SubscribeRequest {
                min_score: f64::NAN,
                ..Default::default()
            })
            .unwrap_err();
        assert_eq!(nan.code(), tonic::Code::InvalidArgument);
        let one = hub.subscribe(SubscribeRequest::default()).unwrap();
        let full = hub.subscribe(SubscribeRequest::default()).unwrap_err();
        assert_eq!(full.code(), tonic::Code::ResourceExhausted);
        // A gone subscriber frees its place.
        drop(one);
        let mut again = hub.subscribe(SubscribeRequest::default()).unwrap();
        hub.close();
        assert!(again.try_recv().is_err() && again.is_closed());
        assert_eq!(
            hub.subscribe(SubscribeRequest::default()).unwrap_err().code(),
            tonic::Code::Unavailable
        );
    }

    fn kv(k: &str, v: &str) -> KeyValue {
        KeyValue {
            key: k.into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(v.into())),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn tap_delivers_the_sampled_spans_in_full_and_matches_the_sampler() {
        let cfg = StreamConfig {
            sampler: SamplerConfig {
                train_size: 50,
                min_score: 0.5,
                hst: super::super::hst::HstParams {
                    window_size: 50,
                    ..Default::default()
                },
                ..Default::default()
            },
            queue: 10_000,
            max_subscribers: 2,
        };
        let stream = SampleStream::new(cfg.clone()).unwrap();
        let mut rx = stream.hub().subscribe(SubscribeRequest::default()).unwrap();
        let mut reference = Sampler::new(cfg.sampler).unwrap();
        let mut want = Vec::new();
        for batch in 0..20u64 {
            let spans: Vec<OtlpSpan> = (0..20u64)
                .map(|i| {
                    let n = batch * 20 + i;
                    // Every 97th span is 3 s instead of ~10 ms.
                    let d = if n % 97 == 96 {
                        3_000_000_000
                    } else {
                        8_000_000 + (n * 7919 % 5) * 1_000_000
                    };
                    OtlpSpan {
                        trace_id: [n.to_be_bytes(), 1u64.to_be_bytes()].concat(),
                        span_id: (n + 1).to_be_bytes().to_vec(),
                        name: format!("op{}", n % 3),
                        start_time_unix_nano: 1_000_000_000 + n,
                        end_time_unix_nano: 1_000_000_000 + n + d,
                        attributes: vec![kv("n", &n.to_string())],
                        ..Default::default()
                    }
                })
                .collect();
            let req = ExportTraceServiceRequest {
                resource_spans: vec![ResourceSpans {
                    resource: Some(Resource {
                        attributes: vec![kv("service.name", "web"), kv("host", "h1")],
                        ..Default::default()
                    }),
                    scope_spans: vec![ScopeSpans {
                        scope: Some(InstrumentationScope {
                            name: "lib".into(),
                            ..Default::default()
                        }),
                        spans: spans.clone(),
                        schema_url: "s".into(),
                    }],
                    schema_url: "r".into(),
                }],
            };
            for s in &spans {
                let d = reference.observe(
                    "web",
                    &s.name,
                    (s.end_time_unix_nano - s.start_time_unix_nano) as f64 / 1e9,
                );
                if d.sampled {
                    want.push((s.clone(), d.score));
                }
            }
            stream.tap().accepted(&req, &convert(&req));
        }
        let got: Vec<SampledSpan> = std::iter::from_fn(|| rx.try_recv().ok()).map(|m| m.unwrap()).collect();
        assert!(
            want.iter()
                .any(|(s, _)| s.end_time_unix_nano - s.start_time_unix_nano == 3_000_000_000)
        );
        assert_eq!(got.len(), want.len());
        for (g, (span, score)) in got.iter().zip(&want) {
            let rs = g.resource_spans.as_ref().unwrap();
            assert_eq!(rs.schema_url, "r");
            assert_eq!(rs.resource.as_ref().unwrap().attributes[1], kv("host", "h1"));
            assert_eq!(rs.scope_spans.len(), 1);
            assert_eq!(rs.scope_spans[0].scope.as_ref().unwrap().name, "lib");
            assert_eq!(rs.scope_spans[0].schema_url, "s");
            assert_eq!(rs.scope_spans[0].spans, vec![span.clone()]);
            assert_eq!((g.score, g.service_name.as_str()), (*score, "web"));
        }
        let st = stream.hub().stats();
        assert_eq!(
            (st.scored, st.sampled, st.delivered),
            (400, want.len() as u64, want.len() as u64)
        );
    }
}
