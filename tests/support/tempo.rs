//! Tempo-format test data: spans encoded as `tempopb.Trace` (OTLP TracesData), shared by the
//! Tempo client test and the serve-on-Tempo test.

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Status, TracesData};
use scale::observe::spans::Span;
use std::collections::BTreeMap;

/// Hex ids become their bytes; anything else its UTF-8 bytes (consistently, so parents still match).
pub fn id_bytes(s: &str) -> Vec<u8> {
    if s.len().is_multiple_of(2) && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    } else {
        s.as_bytes().to_vec()
    }
}

pub fn string_attr(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..Default::default()
    }
}

/// One ResourceSpans per (service, pod), as an OTel SDK per process would send them.
pub fn encode<'a>(spans: impl IntoIterator<Item = &'a Span>) -> TracesData {
    let mut by_resource: BTreeMap<(&str, &str), Vec<&Span>> = BTreeMap::new();
    for s in spans {
        by_resource
            .entry((s.service.as_str(), s.pod.as_str()))
            .or_default()
            .push(s);
    }
    TracesData {
        resource_spans: by_resource
            .into_iter()
            .map(|((service, pod), ss)| ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![string_attr("service.name", service), string_attr("k8s.pod.name", pod)],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans: ss
                        .into_iter()
                        .map(|s| opentelemetry_proto::tonic::trace::v1::Span {
                            trace_id: id_bytes(&s.trace_id),
                            span_id: id_bytes(&s.span_id),
                            parent_span_id: s.parent_id.as_deref().map(id_bytes).unwrap_or_default(),
                            name: s.operation.clone(),
                            start_time_unix_nano: s.start_ns as u64,
                            end_time_unix_nano: (s.start_ns + (s.duration * 1e9).round() as i64) as u64,
                            status: Some(Status {
                                code: if s.error { 2 } else { 0 },
                                ..Default::default()
                            }),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect(),
    }
}
