//! The sampled-span stream end to end: `scale serve` with `[source.otlp.sample]` receives spans
//! from the real OpenTelemetry Python SDK (OTLP/gRPC and OTLP/HTTP), scores them with the
//! Half-Space-Trees sampler, and a tonic client subscribed to `scale.sample.v1.SampledSpans`
//! gets the sampled spans in full. What it gets must be exactly what the library sampler
//! decides over the same spans in the same order, and include every shocked span.

use scale::sample::stream::{SUBSCRIBE_PATH, SampledSpan, SubscribeRequest};
use scale::sample::{Sampler, SamplerConfig, hst};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

mod support;
use support::prometheus::KillOnDrop;

/// The `[source.otlp.sample]` of the test, and the same as a library config.
const SAMPLE_TOML: &str = "[source.otlp.sample]\ntrain_size = 200\nwindow_size = 100\nmin_score = 0.9\n\
                           split_weight = \"group\"\nduration_scale = \"log\"\nmax_duration = 1.0\nqueue = 4096\n";

fn sampler_config() -> SamplerConfig {
    SamplerConfig {
        train_size: 200,
        min_score: 0.9,
        max_duration: 1.0,
        duration_scale: scale::sample::DurationScale::Log,
        hst: hst::HstParams {
            window_size: 100,
            split_weight: hst::SplitWeight::Group,
            ..Default::default()
        },
        ..Default::default()
    }
}

/// Starts serve; returns the guard, the printed addresses by prefix, and the stderr path.
fn spawn_serve(dir: &Path) -> (KillOnDrop, HashMap<&'static str, String>, PathBuf) {
    let models = dir.join("models");
    std::fs::create_dir_all(&models).unwrap();
    let cfg = dir.join("serve.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n[defaults]\ntick = \"1s\"\nmodels = {models:?}\n\
             [source.otlp]\ngrpc = \"127.0.0.1:0\"\nhttp = \"127.0.0.1:0\"\n{SAMPLE_TOML}\
             [[service]]\nname = \"frontend\"\ncapacity_per_replica = 5\nmin_replicas = 1\nmax_replicas = 3\n"
        ),
    )
    .unwrap();
    support::serve::spawn(dir, &cfg, &[])
}

type Stream = tonic::Streaming<SampledSpan>;

async fn subscribe(addr: &str, req: SubscribeRequest) -> Result<Stream, tonic::Status> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .unwrap();
    let mut client = tonic::client::Grpc::new(channel);
    client.ready().await.unwrap();
    let path = http::uri::PathAndQuery::from_static(SUBSCRIBE_PATH);
    let codec = tonic_prost::ProstCodec::<SubscribeRequest, SampledSpan>::default();
    Ok(client
        .server_streaming(tonic::Request::new(req), path, codec)
        .await?
        .into_inner())
}

/// Reads `n` messages (each within 20 s).
async fn take(stream: &mut Stream, n: usize) -> Vec<SampledSpan> {
    let mut out = Vec::new();
    while out.len() < n {
        match tokio::time::timeout(Duration::from_secs(20), stream.message()).await {
            Ok(Ok(Some(m))) => out.push(m),
            other => panic!("after {} of {n} messages: {other:?}", out.len()),
        }
    }
    out
}

fn run_python(py: PathBuf, args: Vec<String>) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let (out_path, err_path) = (dir.path().join("out"), dir.path().join("err"));
    let script = support::repo().join("tests/otlp/send_shocked.py");
    let child = Command::new(py)
        .arg(script)
        .args(args)
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(s) = child.0.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "send_shocked.py timed out");
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    assert!(status.success(), "send_shocked.py failed: {stderr}");
    serde_json::from_slice(&std::fs::read(&out_path).unwrap())
        .unwrap_or_else(|e| panic!("bad script output ({e}): {stderr}"))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn attr(kvs: &[opentelemetry_proto::tonic::common::v1::KeyValue], key: &str) -> Option<String> {
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    kvs.iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            Value::StringValue(s) => Some(s.clone()),
            Value::IntValue(i) => Some(i.to_string()),
            _ => None,
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_spans_are_sampled_and_streamed_in_full() {
    let modules = [
        "opentelemetry.exporter.otlp.proto.grpc",
        "opentelemetry.exporter.otlp.proto.http",
    ];
    let Some(py) = support::venv_python("sample_stream", &modules) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (mut serve, lines, stderr_path) = spawn_serve(dir.path());
    let logs = || std::fs::read_to_string(&stderr_path).unwrap_or_default();
    let grpc = lines["scale serve otlp grpc on "].clone();
    assert_eq!(
        lines["scale serve sampled spans on "], grpc,
        "the stream shares the OTLP gRPC port"
    );

    let mut all = subscribe(&grpc, SubscribeRequest::default()).await.unwrap();
    let cart_filter = SubscribeRequest {
        service_names: vec!["cart".into()],
        min_score: 0.95,
    };
    let mut cart = subscribe(&grpc, cart_filter.clone()).await.unwrap();
    let bad = subscribe(
        &grpc,
        SubscribeRequest {
            min_score: 2.0,
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument, "{bad:?}");

    let base = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 60)
        * 1_000_000_000;
    let args = vec![
        format!("--grpc=http://{grpc}"),
        format!("--http=http://{}", lines["scale serve otlp http on "]),
        format!("--base={base}"),
    ];
    let out = tokio::task::spawn_blocking(move || run_python(py, args)).await.unwrap();
    let sent = out["spans"].as_array().unwrap().clone();
    assert_eq!(sent.len(), 1200);

    // What the sampler decides over the spans in the order the receivers got them.
    let mut sampler = Sampler::new(sampler_config()).unwrap();
    let mut want = Vec::new();
    for s in &sent {
        let secs = (s["end_ns"].as_u64().unwrap() - s["start_ns"].as_u64().unwrap()) as f64 / 1e9;
        let d = sampler.observe(s["service"].as_str().unwrap(), s["name"].as_str().unwrap(), secs);
        if d.sampled {
            want.push((s.clone(), d.score));
        }
    }
    let shocked: Vec<&serde_json::Value> = sent.iter().filter(|s| s["attributes"]["shocked"] == "yes").collect();
    assert_eq!(shocked.len(), 6, "spans 524, 655, …, 1179");
    for s in &shocked {
        assert!(
            want.iter().any(|(w, _)| w["span_id"] == s["span_id"]),
            "the sampler missed shocked span {s}"
        );
    }
    // Not everything: the ordinary spans are mostly left out.
    assert!(want.len() < sent.len() / 10, "{} of {} sampled", want.len(), sent.len());

    let got = take(&mut all, want.len()).await;
    for (g, (w, score)) in got.iter().zip(&want) {
        let rs = g.resource_spans.as_ref().expect("resource_spans");
        let resource = &rs.resource.as_ref().expect("resource").attributes;
        let service = w["service"].as_str().unwrap();
        assert_eq!(attr(resource, "service.name").as_deref(), Some(service));
        assert_eq!(attr(resource, "k8s.pod.name"), Some(format!("{service}-0")));
        assert_eq!(attr(resource, "deployment.environment").as_deref(), Some("e2e"));
        assert_eq!(attr(resource, "telemetry.sdk.language").as_deref(), Some("python"));
        assert_eq!(rs.scope_spans.len(), 1);
        let scope = rs.scope_spans[0].scope.as_ref().expect("scope");
        assert_eq!((scope.name.as_str(), scope.version.as_str()), ("scale-e2e", "1.2.3"));
        assert_eq!(rs.scope_spans[0].spans.len(), 1);
        let span = &rs.scope_spans[0].spans[0];
        assert_eq!(hex(&span.trace_id), w["trace_id"].as_str().unwrap());
        assert_eq!(hex(&span.span_id), w["span_id"].as_str().unwrap());
        assert_eq!(span.name, w["name"].as_str().unwrap());
        assert_eq!(span.kind, 2, "SPAN_KIND_SERVER");
        assert_eq!(span.start_time_unix_nano, w["start_ns"].as_u64().unwrap());
        assert_eq!(span.end_time_unix_nano, w["end_ns"].as_u64().unwrap());
        assert_eq!(attr(&span.attributes, "seq"), Some(w["attributes"]["seq"].to_string()));
        assert_eq!(
            attr(&span.attributes, "shocked").as_deref(),
            w["attributes"]["shocked"].as_str()
        );
        assert_eq!((g.score, g.service_name.as_str(), g.dropped), (*score, service, 0));
    }
    // The filtered subscriber: cart's spans scoring at least 0.95, in the same order.
    let want_cart: Vec<&(serde_json::Value, f64)> = want
        .iter()
        .filter(|(w, score)| w["service"] == "cart" && *score >= cart_filter.min_score)
        .collect();
    assert!(!want_cart.is_empty(), "no cart span scores at least 0.95");
    let got_cart = take(&mut cart, want_cart.len()).await;
    let got_ids: Vec<String> = got_cart
        .iter()
        .map(|g| hex(&g.resource_spans.as_ref().unwrap().scope_spans[0].spans[0].span_id))
        .collect();
    let want_ids: Vec<String> = want_cart
        .iter()
        .map(|(w, _)| w["span_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got_ids, want_ids);

    // SIGTERM: the streams end cleanly, with nothing beyond what was expected.
    support::serve::sigterm(&serve);
    for stream in [&mut all, &mut cart] {
        let end = tokio::time::timeout(Duration::from_secs(15), stream.message()).await;
        assert!(matches!(end, Ok(Ok(None))), "{end:?}; logs {}", logs());
    }
    let status = support::serve::wait_exit(&mut serve, logs);
    assert!(status.success(), "exit {status}: {}", logs());
    let l = logs();
    assert!(l.contains("sampled-span stream stopped"), "{l}");
    assert!(l.contains("scored=1200"), "{l}");
}
