//! OTLP trace export requests → [`Span`]s, rejecting invalid spans one by one.
//!
//! Both receivers (gRPC and HTTP) and the fuzz target go through [`decode`] and [`convert`], so
//! what one accepts the others accept too.

use crate::observe::spans::Span;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value::Value};
use opentelemetry_proto::tonic::trace::v1::{Span as OtlpSpan, status::StatusCode};
use prost::Message;
use std::collections::BTreeMap;

/// The OTel default for a resource without `service.name`.
pub const UNKNOWN_SERVICE: &str = "unknown_service";

/// How a request body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `application/x-protobuf` (and gRPC).
    Protobuf,
    /// `application/json`: the OTLP JSON mapping (hex ids, camelCase names, 64-bit ints as strings).
    Json,
}

/// Decodes an export request. The error is a one-line message for a `google.rpc.Status`.
pub fn decode(body: &[u8], encoding: Encoding) -> Result<ExportTraceServiceRequest, String> {
    match encoding {
        Encoding::Protobuf => ExportTraceServiceRequest::decode(body)
            .map_err(|e| format!("cannot decode protobuf ExportTraceServiceRequest: {e}")),
        Encoding::Json => {
            serde_json::from_slice(body).map_err(|e| format!("cannot decode OTLP/JSON ExportTraceServiceRequest: {e}"))
        }
    }
}

/// The valid spans of one request, and what was rejected (for OTLP partial success).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Converted {
    /// The valid spans, in request order.
    pub spans: Vec<Span>,
    /// Where each of `spans` is in the request: (resource_spans, scope_spans, spans) indices.
    pub origins: Vec<[usize; 3]>,
    /// Spans rejected as invalid: OTLP's `rejected_spans`.
    pub rejected: i64,
    /// Empty when nothing was rejected; else each reason with its count and first offender.
    pub error_message: String,
}

/// Converts every span; an invalid one is counted and described, never fatal to the rest.
///
/// Service is the resource's `service.name` ([`UNKNOWN_SERVICE`] when absent), pod its
/// `k8s.pod.name` (the service when absent), error is status code `ERROR`, duration is
/// end − start. Rejected: a trace id that is not 16 bytes or all zero, a span id that is not 8
/// bytes or all zero, a parent id that is neither empty nor 8 bytes, a zero or out-of-range start
/// time, an end before the start.
pub fn convert(req: &ExportTraceServiceRequest) -> Converted {
    let mut out = Converted::default();
    // reason → (count, where the first one was): one line per reason keeps the message short.
    let mut reasons: BTreeMap<String, (i64, String)> = BTreeMap::new();
    for (r, rs) in req.resource_spans.iter().enumerate() {
        let attrs = rs.resource.as_ref().map(|res| res.attributes.as_slice()).unwrap_or(&[]);
        let service = string_attr(attrs, "service.name").unwrap_or(UNKNOWN_SERVICE);
        let pod = string_attr(attrs, "k8s.pod.name").unwrap_or(service);
        for (s, ss) in rs.scope_spans.iter().enumerate() {
            for (i, span) in ss.spans.iter().enumerate() {
                match one(span, service, pod) {
                    Ok(span) => {
                        out.spans.push(span);
                        out.origins.push([r, s, i]);
                    }
                    Err(reason) => {
                        let e = reasons.entry(reason).or_insert_with(|| {
                            (
                                0,
                                format!("resourceSpans[{r}].scopeSpans[{s}].spans[{i}] {:?}", span.name),
                            )
                        });
                        e.0 += 1;
                        out.rejected += 1;
                    }
                }
            }
        }
    }
    if out.rejected > 0 {
        let total = out.rejected as usize + out.spans.len();
        let parts: Vec<String> = reasons
            .into_iter()
            .map(|(reason, (n, first))| format!("{n} with {reason} (first: {first})"))
            .collect();
        out.error_message = format!("rejected {} of {total} spans: {}", out.rejected, parts.join("; "));
    }
    out
}

fn one(span: &OtlpSpan, service: &str, pod: &str) -> Result<Span, String> {
    let trace_id = id(&span.trace_id, 16, "trace_id")?;
    let span_id = id(&span.span_id, 8, "span_id")?;
    let parent_id = match span.parent_span_id.len() {
        0 => None,
        8 if span.parent_span_id.iter().all(|&b| b == 0) => None,
        8 => Some(hex(&span.parent_span_id)),
        n => return Err(format!("parent_span_id of {n} bytes (want 8 or none)")),
    };
    let (start, end) = (span.start_time_unix_nano, span.end_time_unix_nano);
    if start == 0 {
        return Err("start_time_unix_nano unset (0)".into());
    }
    let start_ns = i64::try_from(start).map_err(|_| format!("start_time_unix_nano {start} out of range"))?;
    if end < start {
        return Err("end_time_unix_nano before start_time_unix_nano".into());
    }
    let error = span.status.as_ref().is_some_and(|s| s.code == StatusCode::Error as i32);
    Ok(Span {
        trace_id,
        span_id,
        parent_id,
        pod: pod.to_string(),
        service: service.to_string(),
        operation: span.name.clone(),
        start_ns,
        duration: (end - start) as f64 / 1e9,
        error,
    })
}

fn id(bytes: &[u8], len: usize, field: &str) -> Result<String, String> {
    if bytes.is_empty() {
        Err(format!("empty {field}"))
    } else if bytes.len() != len {
        Err(format!("{field} of {} bytes (want {len})", bytes.len()))
    } else if bytes.iter().all(|&b| b == 0) {
        Err(format!("all-zero {field}"))
    } else {
        Ok(hex(bytes))
    }
}

/// Lower-case hex, the form OTLP/JSON and W3C trace context use.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

fn string_attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            Value::StringValue(s) if !s.trim().is_empty() => Some(s.as_str()),
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::AnyValue;
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Status};

    fn kv(k: &str, v: &str) -> KeyValue {
        KeyValue {
            key: k.into(),
            value: Some(AnyValue {
                value: Some(Value::StringValue(v.into())),
            }),
            ..Default::default()
        }
    }

    fn span(trace: u8, id: u8, parent: Option<u8>, start: u64, end: u64) -> OtlpSpan {
        OtlpSpan {
            trace_id: vec![trace; 16],
            span_id: vec![id; 8],
            parent_span_id: parent.map(|p| vec![p; 8]).unwrap_or_default(),
            name: format!("op{id}"),
            start_time_unix_nano: start,
            end_time_unix_nano: end,
            ..Default::default()
        }
    }

    fn request(attrs: Vec<KeyValue>, spans: Vec<OtlpSpan>) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: attrs,
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    #[test]
    fn fields_map_to_span() {
        let mut err = span(1, 2, Some(3), 1_000_000_000, 1_250_000_000);
        err.status = Some(Status {
            code: StatusCode::Error as i32,
            ..Default::default()
        });
        let ok = span(1, 3, None, 2_000_000_000, 2_000_000_000);
        let got = convert(&request(
            vec![kv("service.name", "cart"), kv("k8s.pod.name", "cart-0")],
            vec![err, ok],
        ));
        assert_eq!(got.rejected, 0);
        assert_eq!(got.error_message, "");
        let s = &got.spans[0];
        assert_eq!(s.trace_id, "01".repeat(16));
        assert_eq!(s.span_id, "0202020202020202");
        assert_eq!(s.parent_id.as_deref(), Some("0303030303030303"));
        assert_eq!(
            (s.service.as_str(), s.pod.as_str(), s.operation.as_str()),
            ("cart", "cart-0", "op2")
        );
        assert_eq!((s.start_ns, s.duration, s.error), (1_000_000_000, 0.25, true));
        assert_eq!(
            (
                got.spans[1].parent_id.as_deref(),
                got.spans[1].duration,
                got.spans[1].error
            ),
            (None, 0.0, false)
        );
        // No service.name → the OTel default; no pod → the service.
        let got = convert(&request(vec![], vec![span(1, 2, None, 5, 6)]));
        assert_eq!(
            (got.spans[0].service.as_str(), got.spans[0].pod.as_str()),
            (UNKNOWN_SERVICE, UNKNOWN_SERVICE)
        );
    }

    #[test]
    fn invalid_spans_are_rejected_and_named() {
        let good = span(1, 1, None, 10, 20);
        let cases: Vec<(OtlpSpan, &str)> = vec![
            (
                OtlpSpan {
                    trace_id: vec![],
                    ..good.clone()
                },
                "empty trace_id",
            ),
            (
                OtlpSpan {
                    trace_id: vec![0; 16],
                    ..good.clone()
                },
                "all-zero trace_id",
            ),
            (
                OtlpSpan {
                    trace_id: vec![1; 3],
                    ..good.clone()
                },
                "trace_id of 3 bytes (want 16)",
            ),
            (
                OtlpSpan {
                    span_id: vec![],
                    ..good.clone()
                },
                "empty span_id",
            ),
            (
                OtlpSpan {
                    span_id: vec![0; 8],
                    ..good.clone()
                },
                "all-zero span_id",
            ),
            (
                OtlpSpan {
                    parent_span_id: vec![1; 4],
                    ..good.clone()
                },
                "parent_span_id of 4 bytes",
            ),
            (
                OtlpSpan {
                    end_time_unix_nano: 9,
                    ..good.clone()
                },
                "end_time_unix_nano before start_time_unix_nano",
            ),
            (
                OtlpSpan {
                    start_time_unix_nano: 0,
                    ..good.clone()
                },
                "start_time_unix_nano unset",
            ),
            (
                OtlpSpan {
                    start_time_unix_nano: u64::MAX,
                    end_time_unix_nano: u64::MAX,
                    ..good.clone()
                },
                "out of range",
            ),
        ];
        for (bad, want) in cases {
            let got = convert(&request(vec![kv("service.name", "web")], vec![good.clone(), bad]));
            assert_eq!((got.spans.len(), got.rejected), (1, 1), "{want}");
            assert!(got.error_message.contains(want), "{want}: {}", got.error_message);
            assert!(
                got.error_message.starts_with("rejected 1 of 2 spans"),
                "{}",
                got.error_message
            );
            assert!(
                got.error_message.contains("resourceSpans[0].scopeSpans[0].spans[1]"),
                "{}",
                got.error_message
            );
        }
        // All-zero parent = root, like the file reader.
        let root = OtlpSpan {
            parent_span_id: vec![0; 8],
            ..good
        };
        assert_eq!(convert(&request(vec![], vec![root])).spans[0].parent_id, None);
    }

    #[test]
    fn reasons_are_counted_once_each() {
        let bad = |i| OtlpSpan {
            trace_id: vec![],
            ..span(1, i, None, 10, 20)
        };
        let got = convert(&request(vec![], vec![bad(1), bad(2), span(1, 3, None, 30, 20)]));
        assert_eq!(got.rejected, 3);
        assert_eq!(
            got.error_message,
            "rejected 3 of 3 spans: 2 with empty trace_id (first: resourceSpans[0].scopeSpans[0].spans[0] \"op1\"); \
             1 with end_time_unix_nano before start_time_unix_nano (first: resourceSpans[0].scopeSpans[0].spans[2] \"op3\")"
        );
    }

    #[test]
    fn otlp_json_mapping_decodes() {
        // The OTLP/JSON form (spec "JSON Protobuf Encoding"): hex ids, camelCase keys, 64-bit
        // integers as strings or numbers, enums as integers.
        let body = br#"{"resourceSpans":[{"resource":{"attributes":[
            {"key":"service.name","value":{"stringValue":"checkout"}},
            {"key":"k8s.pod.name","value":{"stringValue":"checkout-7d9f-abcde"}},
            {"key":"replicas","value":{"intValue":"3"}}]},
          "scopeSpans":[{"scope":{"name":"manual"},"spans":[
            {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174",
             "parentSpanId":"","name":"POST /pay","kind":2,
             "startTimeUnixNano":"1544712660000000000","endTimeUnixNano":"1544712660300000000",
             "status":{"code":2,"message":"card declined"}},
            {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b175",
             "parentSpanId":"eee19b7ec3c1b174","name":"charge","kind":3,
             "startTimeUnixNano":1544712660100000000,"endTimeUnixNano":1544712660200000000}]}]}]}"#;
        let req = decode(body, Encoding::Json).unwrap();
        let got = convert(&req);
        assert_eq!(got.rejected, 0);
        let [a, b] = &got.spans[..] else { panic!("{got:?}") };
        assert_eq!(
            (a.trace_id.as_str(), a.span_id.as_str()),
            ("5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174")
        );
        assert_eq!(
            (a.service.as_str(), a.pod.as_str(), a.error),
            ("checkout", "checkout-7d9f-abcde", true)
        );
        assert!((a.duration - 0.3).abs() < 1e-9);
        assert_eq!((b.parent_id.as_deref(), b.error), (Some("eee19b7ec3c1b174"), false));
        // The same request through protobuf converts identically.
        let again = decode(&req.encode_to_vec(), Encoding::Protobuf).unwrap();
        assert_eq!(convert(&again), got);
    }

    #[test]
    fn malformed_bodies_are_errors_not_panics() {
        let whole = request(vec![kv("service.name", "web")], vec![span(1, 1, None, 10, 20)]).encode_to_vec();
        let cases: [(&[u8], Encoding, &str); 5] = [
            (&whole[..whole.len() - 3], Encoding::Protobuf, "cannot decode protobuf"),
            (&[0xff, 0xff, 0xff], Encoding::Protobuf, "cannot decode protobuf"),
            (b"{\"resourceSpans\":[", Encoding::Json, "cannot decode OTLP/JSON"),
            (
                br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"xyz"}]}]}]}"#,
                Encoding::Json,
                "OTLP/JSON",
            ),
            (b"\x00\x01", Encoding::Json, "OTLP/JSON"),
        ];
        for (body, enc, want) in cases {
            let err = decode(body, enc).unwrap_err();
            assert!(err.contains(want), "{err}");
        }
        assert_eq!(
            decode(b"", Encoding::Protobuf).unwrap(),
            ExportTraceServiceRequest::default()
        );
    }
}
