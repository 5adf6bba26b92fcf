//! The Tempo client against a local HTTP server that speaks Tempo's API with real Nezha spans:
//! `/api/search` as JSON and `/api/traces/{id}` as protobuf `tempopb.Trace` (or JSON). The
//! client's per-service series must equal `per_service_minutes` over the same spans read directly.

use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::trace::v1::TracesData;
use scale::observe::http::HttpConfig;
use scale::observe::spans::{Span, per_service_minutes, read_spans};
use scale::observe::tempo::{Tempo, hex};
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};

mod support;
use support::tempo::{encode, id_bytes};

const NEZHA: &str = "/work/shared/datasets/nezha/nezha-onlineboutique/rca_data/trace/03_53_trace.csv.xz";

#[derive(Debug, Clone)]
struct Seen {
    path: String,
    query: HashMap<String, String>,
    accept: String,
}

struct Srv {
    traces: BTreeMap<String, Vec<Span>>,
    json: bool,
    seen: Mutex<Vec<Seen>>,
}

/// Tempo's JSON trace layout (`batches`, camelCase, string nanos), ids in hex.
fn encode_json(td: &TracesData) -> serde_json::Value {
    let batches: Vec<_> = td
        .resource_spans
        .iter()
        .map(|rs| {
            let attrs: Vec<_> = rs
                .resource
                .as_ref()
                .unwrap()
                .attributes
                .iter()
                .map(|kv| match &kv.value.as_ref().unwrap().value {
                    Some(any_value::Value::StringValue(s)) => json!({"key": kv.key, "value": {"stringValue": s}}),
                    _ => unreachable!(),
                })
                .collect();
            let spans: Vec<_> = rs.scope_spans[0]
                .spans
                .iter()
                .map(|s| {
                    json!({
                        "traceId": hex(&s.trace_id), "spanId": hex(&s.span_id), "parentSpanId": hex(&s.parent_span_id),
                        "name": s.name, "startTimeUnixNano": s.start_time_unix_nano.to_string(),
                        "endTimeUnixNano": s.end_time_unix_nano.to_string(),
                        "status": if s.status.as_ref().unwrap().code == 2 { json!({"code": "STATUS_CODE_ERROR"}) } else { json!({}) },
                    })
                })
                .collect();
            json!({"resource": {"attributes": attrs}, "scopeSpans": [{"scope": {"name": "nezha"}, "spans": spans}]})
        })
        .collect();
    json!({ "batches": batches })
}

fn record(srv: &Srv, path: String, query: HashMap<String, String>, headers: &HeaderMap) {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    srv.seen.lock().unwrap().push(Seen { path, query, accept });
}

async fn search(State(srv): State<Arc<Srv>>, Query(q): Query<HashMap<String, String>>, headers: HeaderMap) -> Response {
    record(&srv, "/api/search".into(), q.clone(), &headers);
    let num = |k: &str| q.get(k).and_then(|v| v.parse::<i64>().ok());
    let (Some(start), Some(end), Some(limit)) = (num("start"), num("end"), num("limit")) else {
        return (StatusCode::BAD_REQUEST, "start, end and limit are required").into_response();
    };
    let mut hits: Vec<_> = srv
        .traces
        .iter()
        .map(|(id, spans)| (spans.iter().map(|s| s.start_ns).min().unwrap(), id, spans))
        .filter(|(t, _, _)| (start..end).contains(&(t / 1_000_000_000)))
        .collect();
    hits.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    let traces: Vec<_> = hits
        .into_iter()
        .take(limit as usize)
        .map(|(t0, id, spans)| {
            let root = spans.iter().find(|s| s.parent_id.is_none()).unwrap_or(&spans[0]);
            let end = spans.iter().map(|s| s.start_ns + (s.duration * 1e9) as i64).max().unwrap();
            json!({
                "traceID": hex(&id_bytes(id)), "rootServiceName": root.service, "rootTraceName": root.operation,
                "startTimeUnixNano": t0.to_string(), "durationMs": (end - t0) / 1_000_000,
                "spanSets": [{"spans": [{"spanID": hex(&id_bytes(&root.span_id)), "startTimeUnixNano": root.start_ns.to_string()}], "matched": 1}],
            })
        })
        .collect();
    axum::Json(json!({"traces": traces, "metrics": {"inspectedTraces": srv.traces.len()}})).into_response()
}

async fn trace(State(srv): State<Arc<Srv>>, UrlPath(id): UrlPath<String>, headers: HeaderMap) -> Response {
    record(&srv, format!("/api/traces/{id}"), HashMap::new(), &headers);
    let Some(spans) = srv.traces.values().find(|s| hex(&id_bytes(&s[0].trace_id)) == id) else {
        return (StatusCode::NOT_FOUND, "trace not found").into_response();
    };
    let td = encode(spans);
    let wants_proto = headers.get(header::ACCEPT).is_some_and(|a| a == "application/protobuf");
    if wants_proto && !srv.json {
        (
            [(header::CONTENT_TYPE, "application/protobuf")],
            prost::Message::encode_to_vec(&td),
        )
            .into_response()
    } else {
        axum::Json(encode_json(&td)).into_response()
    }
}

async fn serve(spans: &[Span], json: bool) -> (String, Arc<Srv>) {
    let mut traces: BTreeMap<String, Vec<Span>> = BTreeMap::new();
    for s in spans {
        traces.entry(s.trace_id.clone()).or_default().push(s.clone());
    }
    let srv = Arc::new(Srv {
        traces,
        json,
        seen: Mutex::new(vec![]),
    });
    let app = axum::Router::new()
        .route("/api/search", axum::routing::get(search))
        .route("/api/traces/{id}", axum::routing::get(trace))
        .with_state(srv.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    // The task ends with the test's runtime.
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (format!("http://{addr}"), srv)
}

#[tokio::test(flavor = "multi_thread")]
async fn per_service_series_from_tempo_equal_the_direct_ones() {
    if !Path::new(NEZHA).exists() {
        eprintln!("skip: {NEZHA} absent (shared Nezha dataset)");
        return;
    }
    let spans = read_spans(Path::new(NEZHA)).unwrap();
    let n_traces = spans
        .iter()
        .map(|s| &s.trace_id)
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    let start = spans.iter().map(|s| s.start_ns).min().unwrap() / 1_000_000_000;
    let end = spans.iter().map(|s| s.start_ns).max().unwrap() / 1_000_000_000 + 1;
    let (url, srv) = serve(&spans, false).await;
    let tempo = Tempo::new(&url, &HttpConfig::default()).unwrap();
    let q = "{ resource.service.name != \"\" }";
    let got = tempo.spans(q, start, end, n_traces).await.unwrap();
    assert_eq!(got.len(), spans.len());

    let want = per_service_minutes(&spans, 60);
    let have = per_service_minutes(&got, 60);
    assert!(want.len() > 10, "{} windows", want.len());
    assert_eq!(have.len(), want.len());
    for (h, w) in have.iter().zip(&want) {
        assert_eq!(
            (&h.service, h.minute, h.requests, h.errors, h.pods),
            (&w.service, w.minute, w.requests, w.errors, w.pods)
        );
        for (a, b) in [(h.rate, w.rate), (h.p50, w.p50), (h.p95, w.p95), (h.p99, w.p99)] {
            assert!((a - b).abs() <= 1e-9, "{}@{}: {a} vs {b}", h.service, h.minute);
        }
    }

    // The requests: one search with the TraceQL and window, then one protobuf fetch per trace.
    let seen = srv.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1 + n_traces);
    assert_eq!(seen[0].path, "/api/search");
    let want_q: HashMap<String, String> = [
        ("q", q.to_string()),
        ("start", start.to_string()),
        ("end", end.to_string()),
        ("limit", n_traces.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(seen[0].query, want_q);
    assert_eq!(seen[0].accept, "application/json");
    for s in &seen[1..] {
        assert!(
            s.path.starts_with("/api/traces/") && s.path.len() == "/api/traces/".len() + 32,
            "{}",
            s.path
        );
        assert_eq!(s.accept, "application/protobuf");
    }

    // `limit` is passed through: the server returns at most that many traces.
    let few = tempo.search(q, start, end, 5).await.unwrap();
    assert_eq!(few.len(), 5);
    assert!(few.windows(2).all(|w| w[0].start_ns <= w[1].start_ns));

    // JSON fallback: a server that answers JSON whatever the Accept gives the same spans.
    let (json_url, _) = serve(&spans, true).await;
    let json_tempo = Tempo::new(&json_url, &HttpConfig::default()).unwrap();
    for t in &few {
        assert_eq!(
            json_tempo.trace(&t.trace_id).await.unwrap(),
            tempo.trace(&t.trace_id).await.unwrap()
        );
    }
    // An unknown trace is the server's 404, naming the URL.
    let e = tempo
        .trace("00000000000000000000000000000000")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&format!(
            "{url}/api/traces/00000000000000000000000000000000: HTTP 404: trace not found"
        )),
        "{e}"
    );
}
