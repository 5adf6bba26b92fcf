//! OTLP/HTTP receiver: `POST /v1/traces`, protobuf or JSON, optionally gzip-compressed.
//!
//! Status codes follow the OTLP/HTTP spec: 200 (with partial success when spans were rejected),
//! 400 malformed body, 413 body too large, 415 unsupported content type or encoding, 503 queue
//! full (with `Retry-After`). Error bodies are a `google.rpc.Status` in the request's encoding
//! (JSON when the content type itself was not understood).

use super::convert::{self, Encoding};
use super::{Busy, Ingest, RpcStatus};
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTracePartialSuccess, ExportTraceServiceResponse};
use prost::Message;
use std::future::Future;
use std::io::Read;
use tokio::net::TcpListener;
use tokio_stream::StreamExt;

/// Seconds a client is asked to wait after a 503.
pub const RETRY_AFTER_SECONDS: u32 = 1;

// google.rpc.Code values used in error bodies.
const INVALID_ARGUMENT: i32 = 3;
const RESOURCE_EXHAUSTED: i32 = 8;
const UNAVAILABLE: i32 = 14;

#[derive(Clone)]
struct Receiver {
    ingest: Ingest,
    max_body_bytes: usize,
}

/// The `/v1/traces` router; `max_body_bytes` bounds the body both as sent and after gunzip.
pub fn router(ingest: Ingest, max_body_bytes: usize) -> Router {
    Router::new()
        .route("/v1/traces", post(traces))
        .with_state(Receiver { ingest, max_body_bytes })
}

/// Serves until `shutdown` completes; in-flight requests finish first.
pub async fn serve(
    listener: TcpListener,
    ingest: Ingest,
    max_body_bytes: usize,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    let addr = listener.local_addr().ok();
    axum::serve(listener, router(ingest, max_body_bytes))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|e| format!("OTLP HTTP receiver on {addr:?}: {e}"))
}

async fn traces(State(rx): State<Receiver>, headers: HeaderMap, body: Body) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let enc = match media.as_str() {
        "application/x-protobuf" | "application/protobuf" => Encoding::Protobuf,
        "application/json" => Encoding::Json,
        _ => {
            let msg =
                format!("unsupported Content-Type {content_type:?}: send application/x-protobuf or application/json");
            return status(
                Encoding::Json,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                INVALID_ARGUMENT,
                msg,
            );
        }
    };
    let gzip = match headers
        .get(header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("?").trim())
    {
        None | Some("") | Some("identity") => false,
        Some(e) if e.eq_ignore_ascii_case("gzip") => true,
        Some(e) => {
            let msg = format!("unsupported Content-Encoding {e:?}: send gzip or no encoding");
            return status(enc, StatusCode::UNSUPPORTED_MEDIA_TYPE, INVALID_ARGUMENT, msg);
        }
    };
    let too_large = |what: &str| {
        let msg = format!(
            "{what} is larger than the {} byte limit; send smaller batches",
            rx.max_body_bytes
        );
        let mut r = status(enc, StatusCode::PAYLOAD_TOO_LARGE, RESOURCE_EXHAUSTED, msg);
        r.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        r
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > rx.max_body_bytes as u64) {
        if declared.is_some_and(|n| n <= DRAIN_BYTES as u64) {
            drain(body.into_data_stream()).await;
        }
        return too_large("request body");
    }
    let mut raw = match read_limited(body, rx.max_body_bytes).await {
        Ok(Some(b)) => b,
        Ok(None) => return too_large("request body"),
        Err(e) => {
            let msg = format!("cannot read request body: {e}");
            return status(enc, StatusCode::BAD_REQUEST, INVALID_ARGUMENT, msg);
        }
    };
    if gzip {
        raw = match gunzip(&raw, rx.max_body_bytes) {
            Ok(Some(b)) => b,
            Ok(None) => return too_large("decompressed request body"),
            Err(e) => {
                let msg = format!("cannot gunzip request body: {e}");
                return status(enc, StatusCode::BAD_REQUEST, INVALID_ARGUMENT, msg);
            }
        };
    }
    let req = match convert::decode(&raw, enc) {
        Ok(r) => r,
        Err(msg) => return status(enc, StatusCode::BAD_REQUEST, INVALID_ARGUMENT, msg),
    };
    let mut converted = convert::convert(&req);
    if let Err(Busy) = rx.ingest.accept(&req, &mut converted) {
        let msg = "span queue full: the aggregator is behind; retry after the Retry-After delay".to_string();
        let mut r = status(enc, StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE, msg);
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
        return r;
    }
    let resp = ExportTraceServiceResponse {
        partial_success: (converted.rejected > 0).then_some(ExportTracePartialSuccess {
            rejected_spans: converted.rejected,
            error_message: converted.error_message,
        }),
    };
    match enc {
        Encoding::Protobuf => encoded(StatusCode::OK, enc, resp.encode_to_vec()),
        Encoding::Json => encoded(StatusCode::OK, enc, serde_json::to_vec(&resp).unwrap_or_default()),
    }
}

/// Bytes of an oversized body still read before the 413, and for how long. Closing on a
/// client that is still writing resets the connection, so it never sees the 413; past these
/// bounds it does (as it would with any server).
const DRAIN_BYTES: usize = 1 << 20;
const DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

async fn drain(mut stream: axum::body::BodyDataStream) {
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, async {
        let mut seen = 0usize;
        while let Some(Ok(chunk)) = stream.next().await {
            seen += chunk.len();
            if seen > DRAIN_BYTES {
                break;
            }
        }
    })
    .await;
}

/// The body, or `None` once it passes `limit` (the rest is drained within bounds, not kept).
async fn read_limited(body: Body, limit: usize) -> Result<Option<Vec<u8>>, axum::Error> {
    let mut stream = body.into_data_stream();
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        if out.len() + chunk.len() > limit {
            drain(stream).await;
            return Ok(None);
        }
        out.extend_from_slice(&chunk);
    }
    Ok(Some(out))
}

/// Decompressed bytes, or `None` past `limit` (a small gzip bomb stops at the limit).
pub fn gunzip(raw: &[u8], limit: usize) -> std::io::Result<Option<Vec<u8>>> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(raw)
        .take(limit as u64 + 1)
        .read_to_end(&mut out)?;
    Ok((out.len() <= limit).then_some(out))
}

fn status(enc: Encoding, code: StatusCode, rpc: i32, message: String) -> Response {
    let s = RpcStatus { code: rpc, message };
    let body = match enc {
        Encoding::Protobuf => s.encode_to_vec(),
        Encoding::Json => serde_json::to_vec(&s).unwrap_or_default(),
    };
    encoded(code, enc, body)
}

fn encoded(code: StatusCode, enc: Encoding, body: Vec<u8>) -> Response {
    let ct = match enc {
        Encoding::Protobuf => "application/x-protobuf",
        Encoding::Json => "application/json",
    };
    (code, [(header::CONTENT_TYPE, ct)], body).into_response()
}
