//! `scale serve` end to end against a real Prometheus (Debian package): a generated demand
//! series is backfilled so that it runs from three hours ago to a quarter of an hour ahead —
//! Prometheus only answers samples at or before the query time, so the future part arrives "live"
//! as the wall clock moves. `scale train` fits a model from Prometheus, then the `scale` binary
//! serves in forecast-only mode; the test reads /readyz, /decisions, /metrics and the decision
//! log lines, and stops it with SIGTERM.

use std::path::Path;
use std::time::{Duration, Instant};

mod support;

const STEP: i64 = 2;
const CAPACITY: f64 = 10.0;
const UTILIZATION: f64 = 0.7;
const START_REPLICAS: u64 = 3;
const MAX_REPLICAS: u64 = 40;

/// Demand in req/s at `t`: a 5-minute cycle between ~40 and ~160 with deterministic jitter.
fn demand(t: i64) -> f64 {
    let phase = std::f64::consts::TAU * (t.rem_euclid(300)) as f64 / 300.0;
    let jitter = ((t.wrapping_mul(2_654_435_761)).rem_euclid(1000)) as f64 / 1000.0 - 0.5;
    ((100.0 + 60.0 * phase.sin() + 4.0 * jitter) * 1000.0).round() / 1000.0
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The tests' HTTP client: every request bounded to 5 s.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

async fn get(client: &reqwest::Client, url: &str) -> (u16, String) {
    match client.get(url).send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            (status, r.text().await.unwrap_or_default())
        }
        Err(e) => (0, e.to_string()),
    }
}

/// The value of the first exposition line starting with `prefix` (`name{labels}`).
fn metric(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

fn train(dir: &Path, url: &str, t0: i64) {
    let models = dir.join("models");
    let job = dir.join("job.toml");
    std::fs::write(
        &job,
        format!(
            "name = \"serve-e2e\"\nmodels_dir = {models:?}\n\n[source]\nkind = \"prometheus\"\nurl = \"{url}\"\n\
             history = \"3h\"\nstep = \"{STEP}s\"\nend = \"{t0}\"\n[source.queries]\ndemo = \"sum(demo_requests)\"\n\n\
             [backtest]\nhorizon = \"5m\"\nfolds = 3\nfamilies = [\"seasonal_naive\", \"ets\"]\nhistory = \"3h\"\n"
        ),
    )
    .unwrap();
    support::prometheus::train_promoted(&job, "demo");
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_forecast_only_against_real_prometheus() {
    if !support::prometheus::available("serve_forecast_only_against_real_prometheus") {
        return;
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let t0 = now();
    let first = t0 - 3 * 3600;
    let om = support::prometheus::openmetrics(
        "demo_requests",
        "service=\"demo\"",
        (first..t0 + 900).step_by(STEP as usize).map(|t| (t, demand(t))),
    );
    let (_prom, url) = support::prometheus::start(dir.path(), &om).await;
    train(dir.path(), &url, t0);

    // The file says auto; --mode forecast-only overrides it, so nothing may be actuated.
    let cfg = dir.path().join("serve.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n\n[defaults]\ntick = \"{STEP}s\"\nmode = \"auto\"\nmodels = {:?}\n\
             lead = \"1m\"\nhistory = \"10m\"\nmax_metric_age = \"1m\"\ntarget_utilization = {UTILIZATION}\n\n\
             [source.prometheus]\nurl = \"{url}\"\n\n[[service]]\nname = \"demo\"\nquery = \"sum(demo_requests)\"\n\
             capacity_per_replica = {CAPACITY}\nmin_replicas = 1\nmax_replicas = {MAX_REPLICAS}\n\
             target = {{ kind = \"dry-run\", replicas = {START_REPLICAS} }}\n",
            dir.path().join("models")
        ),
    )
    .unwrap();
    let (mut serve, lines, stderr_path) = support::serve::spawn(dir.path(), &cfg, &["--mode", "forecast-only"]);
    let logs = || std::fs::read_to_string(&stderr_path).unwrap_or_default();
    let base = format!("http://{}", lines["scale serve listening on "]);
    let client = client();

    // Ready, at least three decisions, and a forecast error scored (needs a tick after a forecast).
    let deadline = Instant::now() + Duration::from_secs(90);
    let (records, metrics) = loop {
        let (ready, body) = get(&client, &format!("{base}/readyz")).await;
        let (_, decisions) = get(&client, &format!("{base}/decisions?service=demo")).await;
        let (_, metrics) = get(&client, &format!("{base}/metrics")).await;
        let records: Vec<serde_json::Value> = serde_json::from_str(&decisions).unwrap_or_default();
        if ready == 200
            && records.len() >= 3
            && metric(&metrics, "scale_forecast_abs_error{service=\"demo\"}").is_some()
        {
            break (records, metrics);
        }
        assert!(
            Instant::now() < deadline,
            "not ready after 90 s: readyz {ready} {body}; decisions {decisions}; logs {}",
            logs()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };

    // The decision records: forecast-only, planned from the forecast, nothing applied.
    let per = CAPACITY * UTILIZATION;
    for r in &records {
        assert_eq!(r["service"], "demo", "{r}");
        assert_eq!(r["mode"], "forecast_only", "{r}");
        assert_eq!(r["applied"], false, "{r}");
        assert!(r["actuation_error"].is_null(), "{r}");
        assert!(r["model_version"].is_string(), "{r}");
        assert_eq!(
            r["current_replicas"].as_u64(),
            Some(START_REPLICAS),
            "never actuated: {r}"
        );
        // Demand is the latest sample at or before the tick's time: the "live" part of the data.
        let time = r["time"].as_i64().unwrap();
        let sample_t = time - (time - first).rem_euclid(STEP);
        let d = r["demand"].as_f64().unwrap_or_else(|| panic!("no demand: {r}"));
        assert!(
            (d - demand(sample_t)).abs() < 1e-6,
            "demand {d} vs {} at {sample_t}: {r}",
            demand(sample_t)
        );
        assert!(r["metric_age_seconds"].as_i64().unwrap() < 60, "{r}");
        // Replicas for the forecast peak at the planned utilization.
        let peak = r["forecast_peak"]
            .as_f64()
            .unwrap_or_else(|| panic!("no forecast: {r}"));
        assert!(peak > 20.0 && peak < 300.0, "implausible forecast peak {peak}: {r}");
        let predictive = r["predictive"].as_u64().unwrap();
        // The forecast peak, or the rising trend of observed demand when it is higher.
        let planned = peak.max(r["trend_demand"].as_f64().unwrap_or(0.0));
        assert_eq!(predictive, (planned / per).ceil() as u64, "{r}");
        // The reactive floor is a standalone HPA on this demand: it starts at the target's count
        // and climbs within the HPA's scale-up limit, never past its own recommendation.
        let reactive = r["reactive"].as_u64().unwrap();
        assert!(
            reactive > START_REPLICAS && reactive <= (d / per).ceil() as u64 + 1,
            "reactive {reactive} for {d}: {r}"
        );
        // Demand of 40–160 req/s needs more than 3 replicas of 7 req/s; the governor may limit
        // the step up but never goes beyond what the policies asked for.
        let desired = r["desired_replicas"].as_u64().unwrap();
        assert!(
            desired > START_REPLICAS && desired <= predictive.max(reactive).min(MAX_REPLICAS),
            "desired {desired}: {r}"
        );
        if desired != predictive.max(reactive) {
            let clamped = r["steps"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["reason"] != "DesiredWithinRange");
            assert!(clamped, "desired {desired} differs without a clamp: {r}");
        }
    }

    // /metrics: decisions, ticks and the forecast error, with counts.
    let decisions_total = metric(
        &metrics,
        "scale_decisions_total{service=\"demo\",mode=\"forecast_only\"}",
    )
    .unwrap_or_else(|| panic!("no decision counter: {metrics}"));
    assert!(decisions_total >= records.len() as f64, "{metrics}");
    let ticks = metric(&metrics, "scale_tick_seconds_count").unwrap();
    assert!(ticks >= decisions_total, "{metrics}");
    let err = metric(&metrics, "scale_forecast_abs_error{service=\"demo\"}").unwrap();
    assert!(err.is_finite() && (0.0..200.0).contains(&err), "{metrics}");
    for name in [
        "scale_forecast_demand{service=\"demo\"}",
        "scale_observed_demand{service=\"demo\"}",
        "scale_replicas{service=\"demo\",policy=\"desired\"}",
    ] {
        assert!(metric(&metrics, name).is_some(), "{name} missing: {metrics}");
    }

    // Every decision is also a structured log line on stderr.
    let text = logs();
    let lines: Vec<&str> = text.lines().filter(|l| l.contains(" decision ")).collect();
    assert!(
        lines.len() >= records.len(),
        "{} decision lines for {} records: {text}",
        lines.len(),
        records.len()
    );
    for r in &records {
        let want = [
            "service=\"demo\"".to_string(),
            format!("desired={}", r["desired_replicas"]),
            format!("current={START_REPLICAS}"),
            "applied=false".to_string(),
            "mode=\"forecast_only\"".to_string(),
            format!("demand=Some({})", r["demand"]),
        ];
        assert!(
            lines.iter().any(|l| want.iter().all(|w| l.contains(w.as_str()))),
            "no log line with {want:?}: {text}"
        );
    }

    // SIGTERM: the loop and the server stop and the process exits 0.
    support::serve::sigterm(&serve);
    let status = support::serve::wait_exit(&mut serve, logs);
    assert!(status.success(), "exit {status}: {}", logs());
    assert!(logs().contains("shutting down"), "{}", logs());
}

/// OTLP/HTTP protobuf: `n` root spans of `service` starting now, 50 ms each.
fn export_request(service: &str, n: usize, seq: u64) -> Vec<u8> {
    export_request_at(service, n, seq, 0)
}

/// As [`export_request`], starting `offset_seconds` from now.
fn export_request_at(service: &str, n: usize, seq: u64, offset_seconds: i64) -> Vec<u8> {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
    use prost::Message;
    let start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let start = start.saturating_add_signed(offset_seconds * 1_000_000_000);
    let spans = (0..n as u64)
        .map(|i| Span {
            trace_id: [seq.to_be_bytes(), (i + 1).to_be_bytes()].concat(),
            span_id: (i + 1).to_be_bytes().to_vec(),
            name: "GET /checkout".into(),
            kind: 2, // server
            start_time_unix_nano: start,
            end_time_unix_nano: start + 50_000_000,
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue(service.into())),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

/// `[source.otlp]`: serve runs the OTLP receivers; spans sent to them become the demand the
/// loop plans on. No external tool needed, so this never skips.
#[tokio::test(flavor = "multi_thread")]
async fn serve_plans_on_request_rate_from_otlp_spans() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models");
    // A real trained artifact on the window grid (2 s): 20 req/s with a 2-minute cycle.
    let t0 = now() - 3600;
    let y: Vec<f64> = (0..1800).map(|i| 20.0 + 3.0 * (i % 60) as f64 / 60.0).collect();
    let series = scale::core::series::Series::new("checkout", t0, 2, y);
    let mut bt = scale::train::backtest::BacktestConfig::new(30);
    bt.families = vec![scale::train::backtest::Family::SeasonalNaive];
    scale::train::train_series(&series, &bt, &models, scale::train::Retention::default()).unwrap();

    let cfg = dir.path().join("serve.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n[defaults]\ntick = \"1s\"\nmode = \"forecast-only\"\nmodels = {models:?}\n\
             lead = \"30s\"\nhistory = \"1m\"\nmax_metric_age = \"1m\"\n\
             [source.otlp]\ngrpc = \"127.0.0.1:0\"\nhttp = \"127.0.0.1:0\"\nwindow = \"2s\"\nlateness = \"1s\"\n\
             [[service]]\nname = \"checkout\"\ncapacity_per_replica = 5\nmin_replicas = 1\nmax_replicas = 30\n\
             target = {{ kind = \"dry-run\", replicas = 2 }}\n"
        ),
    )
    .unwrap();
    let (mut serve, lines, stderr_path) = support::serve::spawn(dir.path(), &cfg, &[]);
    let logs = || std::fs::read_to_string(&stderr_path).unwrap_or_default();
    let base = format!("http://{}", lines["scale serve listening on "]);
    let otlp = format!("http://{}/v1/traces", lines["scale serve otlp http on "]);
    assert!(lines.contains_key("scale serve otlp grpc on "));
    let client = client();

    // 20 spans a second, until a decision planned on span demand shows up (bounded).
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seq = 0u64;
    let record = loop {
        seq += 1;
        let r = client
            .post(&otlp)
            .header("content-type", "application/x-protobuf")
            .body(export_request("checkout", 20, seq))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap_or_default());
        let (_, body) = get(&client, &format!("{base}/decisions?service=checkout")).await;
        let records: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap_or_default();
        if let Some(r) = records
            .iter()
            .rev()
            .find(|r| r["demand"].as_f64().is_some_and(|d| d > 0.0))
        {
            break r.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no decision with span demand after 60 s: {body}; logs {}",
            logs()
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let d = record["demand"].as_f64().unwrap();
    // 20 spans/s, give or take a batch landing in the neighbouring 2 s window.
    assert!((5.0..=40.0).contains(&d), "demand {d}: {record}");
    assert_eq!(record["mode"], "forecast_only", "{record}");
    assert_eq!(record["applied"], false, "{record}");
    let peak = record["forecast_peak"]
        .as_f64()
        .unwrap_or_else(|| panic!("no forecast: {record}"));
    assert_eq!(
        record["predictive"].as_u64(),
        Some((peak / 3.5).ceil() as u64),
        "{record}"
    );
    assert!(record["reactive"].as_u64().unwrap() >= 2, "{record}");
    let (ready, _) = get(&client, &format!("{base}/readyz")).await;
    assert_eq!(ready, 200);

    // One span a day ahead and one for a window closed a minute ago: both dropped, and /metrics
    // counts them while serve runs.
    for (seq, offset) in [(1_000_001, 86_400), (1_000_002, -60)] {
        let r = client
            .post(&otlp)
            .header("content-type", "application/x-protobuf")
            .body(export_request_at("checkout", 1, seq, offset))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
    }
    let counter = |text: &str, name: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let text = loop {
        let (_, text) = get(&client, &format!("{base}/metrics")).await;
        let want = [("scale_otlp_future_spans_total", 1), ("scale_otlp_late_spans_total", 1)];
        if want.iter().all(|&(n, v)| counter(&text, n) == Some(v)) {
            break text;
        }
        assert!(Instant::now() < deadline, "window counters not on /metrics: {text}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for name in [
        "scale_otlp_unresolved_parents_total",
        "scale_otlp_service_overflow_spans_total",
        "scale_otlp_forced_window_closes_total",
    ] {
        assert_eq!(counter(&text, name), Some(0), "{name}: {text}");
    }

    // SIGTERM stops the receivers too.
    support::serve::sigterm(&serve);
    let status = support::serve::wait_exit(&mut serve, logs);
    assert!(status.success(), "exit {status}: {}", logs());
    assert!(logs().contains("OTLP receivers stopped"), "{}", logs());
}

/// cAdvisor-shaped series of two pods of container `app`: the CPU counter grows by `cores`
/// per second, the working set is constant.
fn cadvisor(from: i64, to: i64, step: i64) -> String {
    let pods = [("web-a", 0.5, 300.0), ("web-b", 0.8, 400.0)];
    let labels = |pod: &str| format!("container=\"app\",namespace=\"shop\",pod=\"{pod}\"");
    let mut om = String::from(
        "# HELP container_cpu_usage_seconds_total Backfilled.\n# TYPE container_cpu_usage_seconds_total counter\n",
    );
    for (pod, cores, _) in pods {
        for t in (from..to).step_by(step as usize) {
            let v = (t - from) as f64 * cores;
            om.push_str(&format!(
                "container_cpu_usage_seconds_total{{{}}} {v} {t}\n",
                labels(pod)
            ));
        }
    }
    om.push_str(
        "# HELP container_memory_working_set_bytes Backfilled.\n# TYPE container_memory_working_set_bytes gauge\n",
    );
    for (pod, _, mib) in pods {
        for t in (from..to).step_by(step as usize) {
            let v = mib * 1024.0 * 1024.0;
            om.push_str(&format!(
                "container_memory_working_set_bytes{{{}}} {v} {t}\n",
                labels(pod)
            ));
        }
    }
    om.push_str("# EOF\n");
    om
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_recommends_container_requests_from_cadvisor_series() {
    if !support::prometheus::available("serve_recommends_container_requests_from_cadvisor_series") {
        return;
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let t0 = now();
    let (_prom, url) = support::prometheus::start(dir.path(), &cadvisor(t0 - 2 * 3600, t0 + 900, 5)).await;
    let cfg = dir.path().join("serve.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n\n[defaults]\ntick = \"5s\"\nmode = \"forecast-only\"\nmodels = {:?}\n\
             lead = \"1m\"\nhistory = \"10m\"\nmax_metric_age = \"1m\"\n\n\
             [source.prometheus]\nurl = \"{url}\"\n\n[[service]]\nname = \"web\"\n\
             query = \"sum(rate(container_cpu_usage_seconds_total{{container=\\\"app\\\"}}[5m]))\"\n\
             capacity_per_replica = 1.0\nmin_replicas = 1\nmax_replicas = 10\n\
             target = {{ kind = \"dry-run\", replicas = 2 }}\n\n\
             [service.vertical]\ncontainer = \"app\"\nnamespace = \"shop\"\n",
            dir.path().join("models")
        ),
    )
    .unwrap();
    let (mut serve, lines, stderr_path) = support::serve::spawn(dir.path(), &cfg, &[]);
    let logs = || std::fs::read_to_string(&stderr_path).unwrap_or_default();
    let base = format!("http://{}", lines["scale serve listening on "]);
    let client = client();
    let deadline = Instant::now() + Duration::from_secs(60);
    let record = loop {
        let (_, decisions) = get(&client, &format!("{base}/decisions?service=web")).await;
        let records: Vec<serde_json::Value> = serde_json::from_str(&decisions).unwrap_or_default();
        if let Some(r) = records.iter().find(|r| r["vertical"]["recommendation"].is_object()) {
            break r.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no vertical recommendation after 60 s: {decisions}; logs {}",
            logs()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let v = &record["vertical"];
    assert_eq!(record["mode"], "forecast_only", "{record}");
    assert_eq!(v["policy"], "predictive", "{v}");
    // Per-pod usage: 0.5 and 0.8 cores, 300 and 400 MiB. Before a day of history the VPA target
    // (p90 of both pods' samples, +15%) stands in, never below the busiest pod plus the margin.
    let cpu = v["applied"]["cpu_cores"].as_f64().unwrap();
    let mem = v["applied"]["memory_bytes"].as_f64().unwrap() / 1024.0 / 1024.0;
    let target = v["recommendation"]["target"]["cpu_cores"].as_f64().unwrap();
    assert!((0.8 * 1.15..1.2).contains(&cpu) && cpu >= target * 0.999, "{v}");
    assert!((400.0 * 1.15 - 1.0..400.0 * 1.15 + 1.0).contains(&mem), "{v}");
    assert!(
        v["reasons"].as_array().unwrap().iter().any(|r| r[1] == "Applied"),
        "{v}"
    );
    assert!(logs().contains("vertical recommendation"), "{}", logs());
    let (_, metrics) = get(&client, &format!("{base}/metrics")).await;
    let applied = metric(
        &metrics,
        "scale_container_requests{service=\"web\",resource=\"cpu\",kind=\"applied\"}",
    )
    .unwrap_or_else(|| panic!("no container request gauge: {metrics}"));
    assert!((0.8 * 1.15..1.2).contains(&applied), "{metrics}");
    support::serve::sigterm(&serve);
    let status = support::serve::wait_exit(&mut serve, logs);
    assert!(status.success(), "exit {status}: {}", logs());
}
