//! Tempo HTTP API source: TraceQL search (`/api/search`) and trace by id (`/api/traces/{id}`,
//! protobuf with a JSON fallback) → [`Span`]s, so `per_service_minutes` turns them into
//! per-service series. Contract in docs/tempo.md.
//!
//! `/api/traces/{id}` with `Accept: application/protobuf` returns `tempopb.Trace`, whose only
//! field is `repeated ResourceSpans batches = 1` — the same wire layout as OTLP's
//! `TracesData.resource_spans = 1`, so it decodes with opentelemetry-proto's `TracesData`.

use crate::observe::http::{HttpClient, HttpConfig, Request, join, parse_base_url};
use crate::observe::spans::Span;
use crate::{Error, Result};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::TracesData;
use serde_json::Value;

pub(crate) const PROTOBUF: &str = "application/protobuf";
const STATUS_ERROR: i32 = 2;

/// One hit of `/api/search`.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceSummary {
    /// `traceID` as Tempo returns it (hex; never empty).
    pub trace_id: String,
    /// `rootServiceName`; empty when Tempo did not report it.
    pub root_service: String,
    /// `rootTraceName`, the root span's name; empty when not reported.
    pub root_name: String,
    /// Trace start, Unix nanoseconds (0 when not reported).
    pub start_ns: i64,
    /// Trace duration, milliseconds (0 when not reported).
    pub duration_ms: u64,
    /// Spans matched by the TraceQL span sets (ids only; fetch the trace for the rest).
    pub matched_span_ids: Vec<String>,
}

/// A Tempo HTTP API client.
#[derive(Debug, Clone)]
pub struct Tempo {
    base: reqwest::Url,
    client: HttpClient,
}

impl Tempo {
    /// A client for the Tempo at base `url` (a path prefix is kept).
    pub fn new(url: &str, http: &HttpConfig) -> Result<Tempo> {
        Ok(Tempo {
            base: parse_base_url("url", url)?,
            client: HttpClient::new(http)?,
        })
    }

    /// `GET /api/search?q=<TraceQL>&start=<s>&end=<s>&limit=<n>`.
    pub async fn search(&self, q: &str, start: i64, end: i64, limit: usize) -> Result<Vec<TraceSummary>> {
        let mut url = join(&self.base, "api/search");
        url.query_pairs_mut()
            .append_pair("q", q)
            .append_pair("start", &start.to_string())
            .append_pair("end", &end.to_string())
            .append_pair("limit", &limit.to_string());
        let r = self
            .client
            .send(&Request::get(url.clone()).accept("application/json"))
            .await?;
        parse_search(&r.body).map_err(|m| Error::source(format!("tempo {}: search {q:?}: {m}", display(&url))))
    }

    /// `GET /api/traces/<id>`, asking for protobuf; a JSON answer is accepted too.
    pub async fn trace(&self, trace_id: &str) -> Result<Vec<Span>> {
        if trace_id.is_empty() || !trace_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(Error::source(format!("tempo: invalid trace id {trace_id:?}")));
        }
        let url = join(&self.base, &format!("api/traces/{trace_id}"));
        let r = self.client.send(&Request::get(url.clone()).accept(PROTOBUF)).await?;
        let json = r.content_type.as_deref().is_some_and(|c| c.contains("json")) || r.body.first() == Some(&b'{');
        let decoded = if json {
            spans_from_json(&r.body)
        } else {
            spans_from_protobuf(&r.body)
        };
        decoded.map_err(|m| Error::source(format!("tempo {url}: trace {trace_id}: {m}")))
    }

    /// Every span of every trace the search finds (at most `limit` traces), in search order.
    pub async fn spans(&self, q: &str, start: i64, end: i64, limit: usize) -> Result<Vec<Span>> {
        let mut out = Vec::new();
        for t in self.search(q, start, end, limit).await? {
            out.extend(self.trace(&t.trace_id).await?);
        }
        Ok(out)
    }
}

fn display(u: &reqwest::Url) -> String {
    let mut u = u.clone();
    u.set_query(None);
    u.to_string()
}

/// Decodes the search JSON; errors name the field.
pub fn parse_search(body: &[u8]) -> std::result::Result<Vec<TraceSummary>, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("invalid JSON: {e}"))?;
    let traces = match v.get("traces") {
        None | Some(Value::Null) => return Ok(vec![]),
        Some(Value::Array(a)) => a,
        Some(_) => return Err("field traces: expected an array".into()),
    };
    traces
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let p = format!("traces[{i}]");
            let s = |k: &str| t.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            let trace_id = s("traceID");
            if trace_id.is_empty() {
                return Err(format!("field {p}.traceID: missing"));
            }
            let start_ns = int(t.get("startTimeUnixNano"), &format!("{p}.startTimeUnixNano"))?.unwrap_or(0);
            let duration_ms = int(t.get("durationMs"), &format!("{p}.durationMs"))?
                .unwrap_or(0)
                .max(0) as u64;
            let mut matched = Vec::new();
            let sets = t.get("spanSets").and_then(Value::as_array).cloned().unwrap_or_default();
            let legacy = t.get("spanSet").cloned().into_iter();
            for set in sets.iter().cloned().chain(legacy) {
                for sp in set.get("spans").and_then(Value::as_array).into_iter().flatten() {
                    if let Some(id) = sp.get("spanID").and_then(Value::as_str) {
                        matched.push(id.to_string());
                    }
                }
            }
            Ok(TraceSummary {
                trace_id,
                root_service: s("rootServiceName"),
                root_name: s("rootTraceName"),
                start_ns,
                duration_ms,
                matched_span_ids: matched,
            })
        })
        .collect()
}

/// A JSON integer that protobuf-JSON may write as a number or a decimal string.
fn int(v: Option<&Value>, path: &str) -> std::result::Result<Option<i64>, String> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_u64().map(|u| u as i64))
            .map(Some)
            .ok_or_else(|| format!("field {path}: not an integer")),
        Some(Value::String(s)) => s
            .parse::<u64>()
            .map(|u| Some(u as i64))
            .map_err(|_| format!("field {path}: cannot parse {s:?} as an integer")),
        Some(_) => Err(format!("field {path}: expected an integer")),
    }
}

/// `tempopb.Trace` bytes → spans.
pub fn spans_from_protobuf(body: &[u8]) -> std::result::Result<Vec<Span>, String> {
    let td = <TracesData as prost::Message>::decode(body)
        .map_err(|e| format!("cannot decode protobuf tempopb.Trace: {e}"))?;
    Ok(spans_from_traces(&td))
}

/// The conversion both encodings share: service from the resource's `service.name`, pod from
/// `k8s.pod.name` (else the service), error from status code ERROR.
pub fn spans_from_traces(td: &TracesData) -> Vec<Span> {
    let mut out = Vec::new();
    for rs in &td.resource_spans {
        let attrs = rs.resource.as_ref().map(|r| r.attributes.as_slice()).unwrap_or(&[]);
        let service = attr(attrs, "service.name").unwrap_or_else(|| "unknown_service".into());
        let pod = attr(attrs, "k8s.pod.name").unwrap_or_else(|| service.clone());
        for ss in &rs.scope_spans {
            for s in &ss.spans {
                out.push(Span {
                    trace_id: hex(&s.trace_id),
                    span_id: hex(&s.span_id),
                    parent_id: (!s.parent_span_id.is_empty() && s.parent_span_id.iter().any(|&b| b != 0))
                        .then(|| hex(&s.parent_span_id)),
                    pod: pod.clone(),
                    service: service.clone(),
                    operation: s.name.clone(),
                    start_ns: s.start_time_unix_nano as i64,
                    duration: s.end_time_unix_nano.saturating_sub(s.start_time_unix_nano) as f64 / 1e9,
                    error: s.status.as_ref().is_some_and(|st| st.code == STATUS_ERROR),
                });
            }
        }
    }
    out
}

fn attr(attrs: &[KeyValue], key: &str) -> Option<String> {
    attrs.iter().find(|kv| kv.key == key).and_then(|kv| match &kv.value {
        Some(AnyValue {
            value: Some(any_value::Value::StringValue(s)),
        }) if !s.is_empty() => Some(s.clone()),
        _ => None,
    })
}

/// Lowercase hex of `b`, as trace and span ids are written.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Tempo's JSON trace (`{"batches":[…]}`, or OTLP's `resourceSpans`) → spans. Ids may be base64
/// (Tempo's protobuf-JSON) or hex (OTLP JSON); both are normalised to lowercase hex.
pub fn spans_from_json(body: &[u8]) -> std::result::Result<Vec<Span>, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("invalid JSON: {e}"))?;
    let (key, batches) = ["batches", "resourceSpans"]
        .iter()
        .find_map(|k| v.get(*k).map(|b| (*k, b)))
        .ok_or("field batches: missing")?;
    let batches = batches.as_array().ok_or(format!("field {key}: expected an array"))?;
    let mut td = TracesData::default();
    for (i, b) in batches.iter().enumerate() {
        let p = format!("{key}[{i}]");
        let mut rs = opentelemetry_proto::tonic::trace::v1::ResourceSpans::default();
        let attrs = b.pointer("/resource/attributes").and_then(Value::as_array);
        let mut resource = opentelemetry_proto::tonic::resource::v1::Resource::default();
        for a in attrs.into_iter().flatten() {
            if let (Some(k), Some(s)) = (
                a.get("key").and_then(Value::as_str),
                a.pointer("/value/stringValue").and_then(Value::as_str),
            ) {
                resource.attributes.push(KeyValue {
                    key: k.into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue(s.into())),
                    }),
                    ..Default::default()
                });
            }
        }
        rs.resource = Some(resource);
        let scopes = ["scopeSpans", "instrumentationLibrarySpans"]
            .iter()
            .find_map(|k| b.get(*k).and_then(Value::as_array))
            .cloned()
            .unwrap_or_default();
        for (j, sc) in scopes.iter().enumerate() {
            let mut ss = opentelemetry_proto::tonic::trace::v1::ScopeSpans::default();
            for (k, s) in sc
                .get("spans")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                let sp = format!("{p}.scopeSpans[{j}].spans[{k}]");
                let id = |f: &str| -> std::result::Result<Vec<u8>, String> {
                    match s.get(f).and_then(Value::as_str) {
                        None | Some("") => Ok(vec![]),
                        Some(t) => decode_id(t).ok_or(format!("field {sp}.{f}: cannot decode id {t:?}")),
                    }
                };
                let code = match s.pointer("/status/code") {
                    Some(Value::Number(n)) => n.as_i64().unwrap_or(0) as i32,
                    Some(Value::String(c)) if c == "STATUS_CODE_ERROR" => STATUS_ERROR,
                    _ => 0,
                };
                ss.spans.push(opentelemetry_proto::tonic::trace::v1::Span {
                    trace_id: id("traceId")?,
                    span_id: id("spanId")?,
                    parent_span_id: id("parentSpanId")?,
                    name: s.get("name").and_then(Value::as_str).unwrap_or("").into(),
                    start_time_unix_nano: int(s.get("startTimeUnixNano"), &format!("{sp}.startTimeUnixNano"))?
                        .ok_or(format!("field {sp}.startTimeUnixNano: missing"))?
                        as u64,
                    end_time_unix_nano: int(s.get("endTimeUnixNano"), &format!("{sp}.endTimeUnixNano"))?
                        .ok_or(format!("field {sp}.endTimeUnixNano: missing"))?
                        as u64,
                    status: Some(opentelemetry_proto::tonic::trace::v1::Status {
                        code,
                        ..Default::default()
                    }),
                    ..Default::default()
                });
            }
            rs.scope_spans.push(ss);
        }
        td.resource_spans.push(rs);
    }
    Ok(spans_from_traces(&td))
}

/// Hex when it looks like a 16- or 8-byte hex id, else standard base64.
fn decode_id(s: &str) -> Option<Vec<u8>> {
    if (s.len() == 32 || s.len() == 16) && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
            .collect();
    }
    base64(s)
}

fn base64(s: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        } as u32)
    };
    let bytes: Vec<u8> = s.bytes().filter(|&b| b != b'=').collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= val(c)? << (18 - 6 * i);
        }
        let n = match chunk.len() {
            4 => 3,
            3 => 2,
            2 => 1,
            _ => return None,
        };
        out.extend_from_slice(&acc.to_be_bytes()[1..1 + n]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_response_shape_from_the_tempo_docs() {
        let body = r#"{
          "traces": [
            {
              "traceID": "2f3e0cee77ae5dc9c17ade3689eb2e54",
              "rootServiceName": "shop-backend",
              "rootTraceName": "update-billing",
              "startTimeUnixNano": "1684778327699392724",
              "durationMs": 557,
              "spanSets": [
                {
                  "spans": [
                    {
                      "spanID": "563d623c76514f8e",
                      "startTimeUnixNano": "1684778327735077898",
                      "durationNanos": "446979497",
                      "attributes": [{"key": "status", "value": {"stringValue": "error"}}]
                    }
                  ],
                  "matched": 1
                }
              ]
            },
            {"traceID": "abc", "startTimeUnixNano": "1"}
          ],
          "metrics": {"totalBlocks": 13}
        }"#;
        let t = parse_search(body.as_bytes()).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(
            t[0],
            TraceSummary {
                trace_id: "2f3e0cee77ae5dc9c17ade3689eb2e54".into(),
                root_service: "shop-backend".into(),
                root_name: "update-billing".into(),
                start_ns: 1684778327699392724,
                duration_ms: 557,
                matched_span_ids: vec!["563d623c76514f8e".into()],
            }
        );
        assert_eq!(t[1].duration_ms, 0);
        assert_eq!(parse_search(b"{}").unwrap(), vec![]);
        let e = parse_search(br#"{"traces":[{"traceID":"a","startTimeUnixNano":"soon"}]}"#).unwrap_err();
        assert!(e.contains("traces[0].startTimeUnixNano"), "{e}");
        let e = parse_search(br#"{"traces":[{"rootServiceName":"a"}]}"#).unwrap_err();
        assert!(e.contains("traces[0].traceID: missing"), "{e}");
    }

    #[test]
    fn json_trace_with_base64_and_hex_ids() {
        // Tempo's protobuf-JSON: base64 ids, string nanos, enum names
        let body = r#"{"batches":[{"resource":{"attributes":[
            {"key":"service.name","value":{"stringValue":"cart"}},
            {"key":"k8s.pod.name","value":{"stringValue":"cart-7d4f-abcde"}}]},
          "scopeSpans":[{"scope":{"name":"x"},"spans":[
            {"traceId":"AAAAAAAAAABJUZNhBsV3ow==","spanId":"AAAAAAAAAAE=","name":"GET /cart",
             "startTimeUnixNano":"1000000000","endTimeUnixNano":"1250000000","status":{"code":"STATUS_CODE_ERROR"}},
            {"traceId":"000000000000000049519361 06c577a3","spanId":"0000000000000002","parentSpanId":"0000000000000001",
             "name":"db","startTimeUnixNano":1100000000,"endTimeUnixNano":1200000000,"status":{}}]}]}]}"#
            .replace("49519361 06c577a3", "4951936106c577a3");
        let s = spans_from_json(body.as_bytes()).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].trace_id, "00000000000000004951936106c577a3");
        assert_eq!(s[1].trace_id, s[0].trace_id);
        assert_eq!(s[0].span_id, "0000000000000001");
        assert_eq!(s[1].parent_id.as_deref(), Some("0000000000000001"));
        assert_eq!((s[0].service.as_str(), s[0].pod.as_str()), ("cart", "cart-7d4f-abcde"));
        assert!(s[0].error && !s[1].error);
        assert!((s[0].duration - 0.25).abs() < 1e-12);
        assert_eq!(s[0].parent_id, None);
        let e = spans_from_json(br#"{"traces":[]}"#).unwrap_err();
        assert!(e.contains("field batches: missing"), "{e}");
        let e = spans_from_json(br#"{"batches":[{"scopeSpans":[{"spans":[{"spanId":"!!"}]}]}]}"#).unwrap_err();
        assert!(e.contains("batches[0].scopeSpans[0].spans[0].spanId"), "{e}");
    }

    #[test]
    fn garbage_protobuf_is_an_error_not_a_panic() {
        let e = spans_from_protobuf(&[0x0a, 0xff, 0xff, 0xff]).unwrap_err();
        assert!(e.contains("tempopb.Trace"), "{e}");
    }
}
