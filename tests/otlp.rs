//! OTLP receivers end to end: the real OpenTelemetry Python SDK exports over OTLP/HTTP and
//! OTLP/gRPC; the per-service windows must match what it sent. Plus malformed input, limits and
//! backpressure, after which the receivers must still serve.

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span as OtlpSpan};
use prost::Message;
use scale::observe::otlp::window::WindowConfig;
use scale::observe::otlp::{Ingest, ReceiverConfig, Receivers, RpcStatus, grpc, http};
use scale::observe::spans::{ServiceMinute, Span, per_service_minutes};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;

/// The venv python with the OTel SDK, or `None` (skip) unless integration tests are required.
fn python() -> Option<PathBuf> {
    let venv = std::env::var("SCALE_PY_VENV").unwrap_or_else(|_| "/var/tmp/scale-venv".into());
    let py = PathBuf::from(venv).join("bin/python");
    let ok = py.exists()
        && Command::new(&py)
            .args([
                "-c",
                "import opentelemetry.exporter.otlp.proto.grpc, opentelemetry.exporter.otlp.proto.http",
            ])
            .status()
            .is_ok_and(|s| s.success());
    if ok {
        return Some(py);
    }
    let note = format!(
        "{} lacks the OpenTelemetry SDK (scripts/test.sh installs it)",
        py.display()
    );
    if std::env::var("SCALE_REQUIRE_INTEGRATION").as_deref() == Ok("1") {
        panic!("{note}");
    }
    eprintln!("SKIP: {note}");
    None
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/otlp/send_spans.py")
}

/// Runs the script (killed after two minutes); its stdout is one JSON object.
async fn run_script(py: PathBuf, args: Vec<String>) -> serde_json::Value {
    tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        let (out_path, err_path) = (dir.path().join("out"), dir.path().join("err"));
        let mut child = Command::new(py)
            .arg(script())
            .args(args)
            .stdout(std::fs::File::create(&out_path).unwrap())
            .stderr(std::fs::File::create(&err_path).unwrap())
            .spawn()
            .expect("cannot run send_spans.py");
        let deadline = Instant::now() + Duration::from_secs(120);
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("send_spans.py timed out");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
        assert!(status.success(), "send_spans.py failed: {stderr}");
        let stdout = std::fs::read(&out_path).unwrap();
        serde_json::from_slice(&stdout).unwrap_or_else(|e| panic!("bad script output ({e}): {stderr}"))
    })
    .await
    .unwrap()
}

fn local() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// Closed windows as the receivers hand them over.
type Collected = Arc<Mutex<Vec<ServiceMinute>>>;

fn collector() -> (Collected, impl FnMut(Vec<ServiceMinute>) + Send + 'static) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = got.clone();
    (got, move |w: Vec<ServiceMinute>| sink.lock().unwrap().extend(w))
}

fn config(max_message_bytes: usize) -> ReceiverConfig {
    ReceiverConfig {
        grpc: Some(local()),
        http: Some(local()),
        // Nothing closes during the test; shutdown flushes every window.
        window: WindowConfig {
            window_seconds: 60,
            lateness_seconds: 3600,
            ..Default::default()
        },
        max_message_bytes,
        close_on_clock: false,
        ..Default::default()
    }
}

fn base_ns() -> i64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    (now / 60 * 60 - 600) * 1_000_000_000
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_sdk_spans_over_http_and_grpc_become_per_service_windows() {
    let Some(py) = python() else { return };
    let (got, sink) = collector();
    let rx = Receivers::start(config(4 << 20), sink).await.unwrap();
    let base = base_ns();
    let args = vec![
        format!("--http=http://{}", rx.http_addr.unwrap()),
        format!("--grpc={}", rx.grpc_addr.unwrap()),
        format!("--base={base}"),
    ];
    let out = run_script(py, args).await;
    let stats = rx.shutdown().await.unwrap();
    assert_eq!((stats.late_spans, stats.forced_closes), (0, 0));

    // The JSON request (auth) got a JSON success without partial success.
    let jr = &out["json_response"];
    assert_eq!(jr["status"], 200, "{jr}");
    assert_eq!(jr["content_type"], "application/json");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(jr["body"].as_str().unwrap()).unwrap()["partialSuccess"],
        serde_json::Value::Null
    );

    // What the SDK sent, as spans → the file-based definition gives the expected windows.
    let sent: Vec<Span> = out["spans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| Span {
            trace_id: s["trace_id"].as_str().unwrap().into(),
            span_id: s["span_id"].as_str().unwrap().into(),
            parent_id: s["parent_id"].as_str().map(Into::into),
            pod: s["pod"].as_str().unwrap().into(),
            service: s["service"].as_str().unwrap().into(),
            operation: s["name"].as_str().unwrap().into(),
            start_ns: s["start_ns"].as_i64().unwrap(),
            duration: (s["end_ns"].as_i64().unwrap() - s["start_ns"].as_i64().unwrap()) as f64 / 1e9,
            error: s["error"].as_bool().unwrap(),
        })
        .collect();
    assert_eq!(sent.len(), 20 * 2 + 10 * 3 + 3 + 5 + 4);
    let mut got = got.lock().unwrap().clone();
    got.sort_by(|a, b| (a.service.as_str(), a.minute).cmp(&(b.service.as_str(), b.minute)));
    assert_eq!(got, per_service_minutes(&sent, 60));

    // And by hand from the script's definition: (service, window, requests, p50, p95, p99, errors, pods).
    let w0 = base / 1_000_000_000;
    let w1 = w0 + 60;
    let want = [
        ("auth", w1, 4, 0.007, 0.007, 0.007, 1, 1),
        ("cart", w0, 10, 0.025, 0.050, 0.050, 1, 1),
        ("db", w0, 3, 0.002, 0.003, 0.003, 1, 1),
        ("frontend", w0, 20, 0.100, 0.190, 0.200, 4, 2),
        ("frontend", w1, 5, 0.300, 0.500, 0.500, 0, 1),
    ];
    assert_eq!(got.len(), want.len(), "{got:#?}");
    for (g, (svc, minute, n, p50, p95, p99, errors, pods)) in got.iter().zip(want) {
        let close = |a: f64, b: f64| (a - b).abs() < 1e-6;
        assert_eq!(
            (g.service.as_str(), g.minute, g.requests, g.errors, g.pods),
            (svc, minute, n, errors, pods)
        );
        assert!(close(g.p50, p50) && close(g.p95, p95) && close(g.p99, p99), "{g:?}");
        assert!(close(g.rate, n as f64 / 60.0), "{g:?}");
    }
}

/// One span dated in the year 2200, unauthenticated: on main it moved the aggregator's clock, so
/// every window closed at once and the real traffic after it was dropped as late.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_future_dated_span_is_dropped_and_does_not_move_the_clock() {
    let now = base_ns() / 1_000_000_000 + 600;
    let clock = Arc::new(scale::core::time::ManualClock::new(now));
    let (got, sink) = collector();
    let cfg = ReceiverConfig {
        close_on_clock: true,
        window: WindowConfig {
            window_seconds: 60,
            lateness_seconds: 30,
            ..Default::default()
        },
        ..config(1 << 20)
    };
    let plugins = scale::observe::otlp::Plugins {
        clock: clock.clone(),
        ..Default::default()
    };
    let rx = Receivers::start_with(cfg, sink, plugins).await.unwrap();
    let mut c = TraceServiceClient::connect(format!("http://{}", rx.grpc_addr.unwrap()))
        .await
        .unwrap();
    let at = |id: u8, secs: i64| OtlpSpan {
        start_time_unix_nano: (secs * 1_000_000_000) as u64,
        end_time_unix_nano: (secs * 1_000_000_000 + 5_000_000) as u64,
        ..span(id)
    };
    c.export(request(vec![at(1, now - 20)])).await.unwrap();
    c.export(request(vec![at(2, 7_258_118_400)])).await.unwrap(); // 2200-01-01
    c.export(request(vec![at(3, now - 10), at(4, now - 5)])).await.unwrap();
    let stats = rx.shutdown().await.unwrap();
    assert_eq!((stats.future_spans, stats.late_spans), (1, 0), "{stats:?}");
    let got = got.lock().unwrap().clone();
    let requests: usize = got.iter().map(|m| m.requests).sum();
    assert_eq!(requests, 3, "{got:?}");
    assert!(got.iter().all(|m| m.minute < now), "{got:?}");
}

/// The SDK's gRPC exporter with gzip on (the Collector's default): every span arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_sdk_grpc_exporter_with_gzip_is_accepted() {
    let Some(py) = python() else { return };
    let (got, sink) = collector();
    let rx = Receivers::start(config(4 << 20), sink).await.unwrap();
    let args = vec![
        format!("--http=http://{}", rx.http_addr.unwrap()),
        format!("--grpc={}", rx.grpc_addr.unwrap()),
        format!("--base={}", base_ns()),
        "--grpc-compression=gzip".into(),
    ];
    // The script asserts each export succeeded; before gzip was accepted it failed here.
    let out = run_script(py, args).await;
    rx.shutdown().await.unwrap();
    let got = got.lock().unwrap().clone();
    let grpc_sent = out["spans"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["service"] == "cart" || s["service"] == "db")
        .count();
    assert!(grpc_sent > 0);
    for svc in ["cart", "db"] {
        assert!(got.iter().any(|m| m.service == svc && m.requests > 0), "{svc}: {got:?}");
    }
}

fn request(spans: Vec<OtlpSpan>) -> ExportTraceServiceRequest {
    let name = KeyValue {
        key: "service.name".into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue("web".into())),
        }),
        ..Default::default()
    };
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![name],
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

fn span(id: u8) -> OtlpSpan {
    let start = base_ns() as u64;
    OtlpSpan {
        trace_id: vec![7; 16],
        span_id: vec![id; 8],
        name: "GET /".into(),
        start_time_unix_nano: start,
        end_time_unix_nano: start + 5_000_000,
        ..Default::default()
    }
}

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

async fn post(c: &reqwest::Client, url: &str, ct: &str, headers: &[(&str, &str)], body: Vec<u8>) -> reqwest::Response {
    let mut r = c.post(url).header("content-type", ct).body(body);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    r.send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_input_is_rejected_and_the_receivers_keep_serving() {
    const LIMIT: usize = 64 * 1024;
    let (got, sink) = collector();
    let rx = Receivers::start(config(LIMIT), sink).await.unwrap();
    let url = format!("http://{}/v1/traces", rx.http_addr.unwrap());
    let c = client();
    let valid = request(vec![span(1)]).encode_to_vec();
    let pb = "application/x-protobuf";
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &valid).unwrap();
    let gzipped = gz.finish().unwrap();
    let mut bomb = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut bomb, &vec![0u8; LIMIT * 4]).unwrap();
    let bomb = bomb.finish().unwrap();

    // (content type, extra headers, body, status, body contains) — each followed by a valid request.
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Vec<u8>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            pb,
            vec![],
            valid[..valid.len() - 4].to_vec(),
            400,
            "cannot decode protobuf",
        ),
        (
            "application/json",
            vec![],
            b"{\"resourceSpans\":[".to_vec(),
            400,
            "cannot decode OTLP/JSON",
        ),
        ("text/plain", vec![], valid.clone(), 415, "unsupported Content-Type"),
        (
            pb,
            vec![("content-encoding", "br")],
            valid.clone(),
            415,
            "unsupported Content-Encoding",
        ),
        (pb, vec![], vec![0x0a; LIMIT + 1], 413, "byte limit"),
        // Large enough that a server closing without reading would reset the client mid-write.
        (pb, vec![], vec![0x0a; LIMIT * 8], 413, "byte limit"),
        (
            pb,
            vec![("content-encoding", "gzip")],
            bomb,
            413,
            "decompressed request body",
        ),
        (
            pb,
            vec![("content-encoding", "gzip")],
            b"not gzip".to_vec(),
            400,
            "cannot gunzip",
        ),
        (pb, vec![("content-encoding", "gzip")], gzipped, 200, ""),
    ];
    for (ct, headers, body, want, says) in cases {
        let r = post(&c, &url, ct, &headers, body).await;
        let status = r.status().as_u16();
        let rct = r.headers()["content-type"].to_str().unwrap().to_string();
        let bytes = r.bytes().await.unwrap();
        assert_eq!(status, want, "{ct} {headers:?}: {}", String::from_utf8_lossy(&bytes));
        if want != 200 {
            // A google.rpc.Status in the request's encoding (JSON when the type was not understood).
            let message = if rct == pb {
                RpcStatus::decode(bytes.as_ref()).unwrap().message
            } else {
                let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                assert!(v["code"].as_i64().unwrap() > 0);
                v["message"].as_str().unwrap().to_string()
            };
            assert!(message.contains(says), "{message}");
        }
        let ok = post(&c, &url, pb, &[], valid.clone()).await;
        assert_eq!(ok.status().as_u16(), 200, "valid request after {ct} {want}");
    }

    // Partial success, in the request's encoding.
    let mut bad = span(2);
    bad.trace_id.clear();
    let two = request(vec![span(3), bad]);
    let r = post(&c, &url, pb, &[], two.encode_to_vec()).await;
    let resp = ExportTraceServiceResponse::decode(r.bytes().await.unwrap()).unwrap();
    let ps = resp.partial_success.unwrap();
    assert_eq!(ps.rejected_spans, 1);
    assert!(ps.error_message.contains("empty trace_id"), "{}", ps.error_message);
    let json = serde_json::to_vec(&two).unwrap();
    let r = post(&c, &url, "application/json; charset=utf-8", &[], json).await;
    assert_eq!(r.headers()["content-type"], "application/json");
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["partialSuccess"]["rejectedSpans"], 1, "{v}");

    // gRPC over the same receivers, from Python's grpc with raw bytes.
    let mut grpc_ok = 0;
    if let Some(py) = python() {
        let args = vec![
            format!("--grpc={}", rx.grpc_addr.unwrap()),
            format!("--base={}", base_ns()),
            "--malformed-grpc".into(),
            format!("--oversize={}", LIMIT + 1),
        ];
        let out = run_script(py, args).await;
        assert_eq!(out["truncated"], "INVALID_ARGUMENT", "{out}");
        assert!(
            out["truncated_message"]
                .as_str()
                .unwrap()
                .contains("cannot decode protobuf"),
            "{out}"
        );
        assert_eq!(out["oversized"], "RESOURCE_EXHAUSTED", "{out}");
        assert_eq!(out["valid"], "OK", "{out}");
        // gzip is accepted (UNIMPLEMENTED before), and the limit holds after inflating
        assert_eq!(out["gzip_valid"], "OK", "{out}");
        assert_eq!(out["gzip_bomb"], "RESOURCE_EXHAUSTED", "{out}");
        grpc_ok = 2;
    }
    rx.shutdown().await.unwrap();
    // One valid span after each of the 9 cases, the gzipped one, one from each partial request,
    // and the valid gRPC ones (plain and gzip): nothing from the rejected requests.
    let got = got.lock().unwrap().clone();
    let requests: usize = got.iter().map(|m| m.requests).sum();
    assert!(got.iter().all(|m| m.service == "web"), "{got:?}");
    assert_eq!(requests, 9 + 1 + 2 + grpc_ok, "{got:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_is_retryable_not_buffered() {
    // A queue of one batch that nobody drains.
    let (ingest, mut queue) = Ingest::channel(1);
    let (g, h) = (
        TcpListener::bind(local()).await.unwrap(),
        TcpListener::bind(local()).await.unwrap(),
    );
    let (gaddr, haddr) = (g.local_addr().unwrap(), h.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let wait = |mut s: tokio::sync::watch::Receiver<bool>| async move {
        let _ = s.wait_for(|v| *v).await;
    };
    let gs = tokio::spawn(grpc::serve_with(
        g,
        ingest.clone(),
        1 << 20,
        None,
        wait(stopped.clone()),
    ));
    let hs = tokio::spawn(http::serve(h, ingest, 1 << 20, wait(stopped)));

    let c = client();
    let url = format!("http://{haddr}/v1/traces");
    let body = request(vec![span(1)]).encode_to_vec();
    assert_eq!(
        post(&c, &url, "application/x-protobuf", &[], body.clone())
            .await
            .status()
            .as_u16(),
        200
    );
    let full = post(&c, &url, "application/x-protobuf", &[], body.clone()).await;
    assert_eq!(full.status().as_u16(), 503);
    assert_eq!(full.headers()["retry-after"], "1");
    let s = RpcStatus::decode(full.bytes().await.unwrap()).unwrap();
    assert_eq!(s.code, 14);

    let mut grpc_client = TraceServiceClient::connect(format!("http://{gaddr}")).await.unwrap();
    let err = grpc_client.export(request(vec![span(2)])).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unavailable, "{err:?}");

    // Once the aggregator catches up, both accept again.
    assert_eq!(queue.recv().await.unwrap().len(), 1);
    grpc_client.export(request(vec![span(3)])).await.unwrap();
    assert_eq!(queue.recv().await.unwrap()[0].span_id, "0303030303030303");
    assert_eq!(
        post(&c, &url, "application/x-protobuf", &[], body)
            .await
            .status()
            .as_u16(),
        200
    );
    stop.send(true).unwrap();
    gs.await.unwrap().unwrap();
    hs.await.unwrap().unwrap();
}
