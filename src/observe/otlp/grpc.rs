//! OTLP/gRPC `TraceService/Export` server.
//!
//! Hand-written instead of the generated `TraceServiceServer` for one reason: the generated codec
//! turns a protobuf decode error into `INTERNAL`, while a malformed request is the client's fault
//! (`INVALID_ARGUMENT`, not retryable). Our codec hands the raw message to [`convert::decode`], the
//! decoder the HTTP receiver uses. Message size is limited by tonic (`RESOURCE_EXHAUSTED`).
//! gzip (the OpenTelemetry Collector's default exporter compression) is accepted; tonic bounds
//! the decompressed message by the same limit, so the limit matches the HTTP receiver's.

use super::convert::{self, Encoding};
use super::{Busy, Ingest};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTracePartialSuccess, ExportTraceServiceResponse};
use prost::Message;
use prost::bytes::Buf;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::net::TcpListener;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::{Body, StdError, http};
use tonic::{Request, Response, Status};

const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// Serves until `shutdown` completes; in-flight requests finish first.
/// Serves `TraceService/Export`, and the caller's `routes` on the same port when given, until
/// `shutdown` completes; in-flight requests finish first.
pub async fn serve_with(
    listener: TcpListener,
    ingest: Ingest,
    max_message_bytes: usize,
    routes: Option<tonic::service::Routes>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    let addr = listener.local_addr().ok();
    let trace = TraceServer {
        ingest,
        max_message_bytes,
    };
    let mut builder = tonic::transport::Server::builder();
    let router = match routes {
        Some(r) => builder.add_routes(r).add_service(trace),
        None => builder.add_service(trace),
    };
    router
        .serve_with_incoming_shutdown(tonic::transport::server::TcpIncoming::from(listener), shutdown)
        .await
        .map_err(|e| format!("OTLP gRPC receiver on {addr:?}: {e}"))
}

/// The export handler: decode, convert, queue. Pure apart from the channel.
pub fn export(ingest: &Ingest, message: &[u8]) -> Result<ExportTraceServiceResponse, Status> {
    let req = convert::decode(message, Encoding::Protobuf).map_err(Status::invalid_argument)?;
    let mut converted = convert::convert(&req);
    ingest
        .accept(&req, &mut converted)
        .map_err(|Busy| Status::unavailable("span queue full: the aggregator is behind; retry with backoff"))?;
    Ok(ExportTraceServiceResponse {
        partial_success: (converted.rejected > 0).then_some(ExportTracePartialSuccess {
            rejected_spans: converted.rejected,
            error_message: converted.error_message,
        }),
    })
}

#[derive(Clone)]
struct TraceServer {
    ingest: Ingest,
    max_message_bytes: usize,
}

impl tonic::server::NamedService for TraceServer {
    const NAME: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
}

impl<B> tonic::codegen::Service<http::Request<B>> for TraceServer
where
    B: Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        if req.uri().path() != EXPORT_PATH {
            return Box::pin(async { Ok(Status::unimplemented("only TraceService/Export is served").into_http()) });
        }
        let (ingest, max) = (self.ingest.clone(), self.max_message_bytes);
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(RawCodec)
                .accept_compressed(tonic::codec::CompressionEncoding::Gzip)
                .apply_max_message_size_config(Some(max), None);
            let mut res = grpc.unary(Export(ingest), req).await;
            // tonic reports a message over the limit as OUT_OF_RANGE; gRPC's own servers and the
            // OTLP spec say RESOURCE_EXHAUSTED. A body that does not gunzip is INTERNAL from
            // tonic, but the client's fault: INVALID_ARGUMENT. Our handler returns neither code.
            let remap = match res.headers().get(tonic::Status::GRPC_STATUS).map(|v| v.as_bytes()) {
                Some(b"11") => Some(tonic::Code::ResourceExhausted),
                Some(b"13") => Some(tonic::Code::InvalidArgument),
                _ => None,
            };
            if let Some(code) = remap {
                res.headers_mut()
                    .insert(tonic::Status::GRPC_STATUS, http::HeaderValue::from(code as i32));
            }
            Ok(res)
        })
    }
}

struct Export(Ingest);

impl tonic::server::UnaryService<Vec<u8>> for Export {
    type Response = ExportTraceServiceResponse;
    type Future = std::future::Ready<Result<Response<ExportTraceServiceResponse>, Status>>;

    fn call(&mut self, request: Request<Vec<u8>>) -> Self::Future {
        std::future::ready(export(&self.0, request.get_ref()).map(Response::new))
    }
}

/// Decodes to the raw message bytes; encodes responses with prost.
struct RawCodec;

impl Codec for RawCodec {
    type Encode = ExportTraceServiceResponse;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }

    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = ExportTraceServiceResponse;
    type Error = Status;

    fn encode(&mut self, item: Self::Item, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        item.encode(dst)
            .map_err(|e| Status::internal(format!("cannot encode response: {e}")))
    }
}

impl Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining()).to_vec()))
    }
}
