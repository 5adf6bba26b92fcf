//! `scale serve` with `[source.tempo]`: the real binary in forecast-only mode plans on the
//! request rate it reads from a local HTTP server speaking Tempo's API (`/api/search` JSON,
//! `/api/traces/{id}` protobuf) over real Nezha spans, shifted in time so that "now" falls inside
//! them. Every decision's demand must equal the rate `per_service_minutes` computes from the
//! served spans for the window before the decision, and the server must have been asked with
//! the configured TraceQL, limit and bearer token.

use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use scale::observe::spans::{Span, per_service_minutes, read_spans};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod support;
use support::tempo::encode;

const NEZHA: &str = "/work/shared/datasets/nezha/nezha-onlineboutique/rca_data/trace/03_53_trace.csv.xz";
const WINDOW: i64 = 5;
const TOKEN: &str = "s3cret";
const LIMIT: usize = 100_000;

#[derive(Debug, Clone)]
struct Seen {
    path: String,
    q: Option<String>,
    limit: Option<String>,
    end: Option<String>,
    accept: String,
    auth: String,
}

struct Tempo {
    /// Trace id (hex) → its spans.
    traces: BTreeMap<String, Vec<Span>>,
    seen: Mutex<Vec<Seen>>,
}

fn record(t: &Tempo, path: String, q: &HashMap<String, String>, h: &HeaderMap) {
    let get = |k| h.get(k).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    t.seen.lock().unwrap().push(Seen {
        path,
        q: q.get("q").cloned(),
        limit: q.get("limit").cloned(),
        end: q.get("end").cloned(),
        accept: get(header::ACCEPT),
        auth: get(header::AUTHORIZATION),
    });
}

/// Understands the one TraceQL form serve sends here: `{ resource.service.name = "X" }`.
async fn search(State(t): State<Arc<Tempo>>, Query(q): Query<HashMap<String, String>>, h: HeaderMap) -> Response {
    record(&t, "/api/search".into(), &q, &h);
    let num = |k: &str| q.get(k).and_then(|v| v.parse::<i64>().ok());
    let (Some(start), Some(end), Some(limit)) = (num("start"), num("end"), num("limit")) else {
        return (StatusCode::BAD_REQUEST, "start, end and limit are required").into_response();
    };
    let traceql = q.get("q").map(String::as_str).unwrap_or("");
    let Some(service) = traceql
        .strip_prefix("{ resource.service.name = \"")
        .and_then(|r| r.strip_suffix("\" }"))
    else {
        return (StatusCode::BAD_REQUEST, format!("unsupported TraceQL {traceql:?}")).into_response();
    };
    let mut hits: Vec<(i64, &String)> = t
        .traces
        .iter()
        .filter(|(_, spans)| spans.iter().any(|s| s.service == service))
        .map(|(id, spans)| (spans.iter().map(|s| s.start_ns).min().unwrap(), id))
        .filter(|(t0, _)| (start..end).contains(&(t0 / 1_000_000_000)))
        .collect();
    hits.sort();
    let traces: Vec<_> = hits
        .into_iter()
        .take(limit as usize)
        .map(|(t0, id)| serde_json::json!({"traceID": id, "startTimeUnixNano": t0.to_string(), "durationMs": 1}))
        .collect();
    axum::Json(serde_json::json!({ "traces": traces })).into_response()
}

/// `tempopb.Trace`: one ResourceSpans per (service, pod).
async fn trace(State(t): State<Arc<Tempo>>, UrlPath(id): UrlPath<String>, h: HeaderMap) -> Response {
    record(&t, format!("/api/traces/{id}"), &HashMap::new(), &h);
    let Some(spans) = t.traces.get(&id) else {
        return (StatusCode::NOT_FOUND, "trace not found").into_response();
    };
    let td = encode(spans);
    (
        [(header::CONTENT_TYPE, "application/protobuf")],
        prost::Message::encode_to_vec(&td),
    )
        .into_response()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_plans_on_request_rate_from_tempo() {
    if !Path::new(NEZHA).exists() {
        assert_ne!(
            std::env::var("SCALE_REQUIRE_INTEGRATION").as_deref(),
            Ok("1"),
            "{NEZHA} absent (shared Nezha dataset)"
        );
        eprintln!("SKIP: {NEZHA} absent (shared Nezha dataset)");
        return;
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut spans = read_spans(Path::new(NEZHA)).unwrap();
    // Shift the minute of spans so that it starts 25 s ago: ticks over the next half minute
    // read windows inside it. Whole seconds, so window boundaries stay where they were relative
    // to the spans.
    let first = spans.iter().map(|s| s.start_ns).min().unwrap();
    let last = spans.iter().map(|s| s.start_ns).max().unwrap();
    assert!(
        last - first > 50_000_000_000,
        "{} s of spans",
        (last - first) / 1_000_000_000
    );
    let shift = (now() - 25 - first / 1_000_000_000) * 1_000_000_000;
    for s in &mut spans {
        s.start_ns += shift;
        // Every id as 16/8 bytes of hex (Nezha's are already).
        assert!(s.trace_id.len() == 32 && s.span_id.len() == 16, "{s:?}");
    }
    let minutes = per_service_minutes(&spans, WINDOW);
    let expected: BTreeMap<(String, i64), f64> = minutes
        .iter()
        .map(|m| ((m.service.clone(), m.minute), m.rate))
        .collect();
    let p95: BTreeMap<(String, i64), f64> = minutes.iter().map(|m| ((m.service.clone(), m.minute), m.p95)).collect();
    let mut traces: BTreeMap<String, Vec<Span>> = BTreeMap::new();
    for s in &spans {
        traces.entry(s.trace_id.clone()).or_default().push(s.clone());
    }
    let tempo = Arc::new(Tempo {
        traces,
        seen: Mutex::new(vec![]),
    });
    let app = axum::Router::new()
        .route("/api/search", axum::routing::get(search))
        .route("/api/traces/{id}", axum::routing::get(trace))
        .with_state(tempo.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tempo_addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models");
    std::fs::create_dir_all(&models).unwrap();
    // A latency rule on frontend reads its windows from the same Tempo ([rules]).
    let rules = dir.path().join("rules.yaml");
    std::fs::write(
        &rules,
        "apiVersion: scale.autoscaling/v1\nkind: LatencyBasedAutoScaler\nmetadata:\n  name: frontend-latency\nspec:\n  target:\n    serviceName: frontend\n    deploymentName: frontend\n  latencyThreshold:\n    upperBound: 500ms\n",
    )
    .unwrap();
    let cfg = dir.path().join("serve.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n[defaults]\ntick = \"1s\"\nmodels = {models:?}\nhistory = \"10s\"\n\
             [source.tempo]\nurl = \"http://{tempo_addr}\"\nwindow = \"{WINDOW}s\"\nlimit = {LIMIT}\ntimeout = \"10s\"\n\
             [source.tempo.auth]\nbearer_token = \"{TOKEN}\"\n[rules]\npath = {rules:?}\n\
             [[service]]\nname = \"frontend\"\ncapacity_per_replica = 5\nmin_replicas = 1\nmax_replicas = 100\n\
             [[service]]\nname = \"checkout\"\nquery = \"checkoutservice\"\ncapacity_per_replica = 5\nmin_replicas = 1\nmax_replicas = 100\n"
        ),
    )
    .unwrap();
    let (mut serve, lines, stderr_path) = support::serve::spawn(dir.path(), &cfg, &["--mode", "forecast-only"]);
    let logs = || std::fs::read_to_string(&stderr_path).unwrap_or_default();
    let api = &lines[support::serve::LISTENING];
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();

    // Three decisions per service, each within the shifted minute (bounded wait).
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut checked = BTreeMap::new();
    while checked.values().filter(|n| **n >= 3).count() < 2 {
        assert!(Instant::now() < deadline, "too few decisions {checked:?}: {}", logs());
        tokio::time::sleep(Duration::from_millis(500)).await;
        let body = support::serve::get_text(&client, &format!("http://{api}/decisions")).await;
        let records: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
        checked.clear();
        for r in &records {
            let (service, time) = (r["service"].as_str().unwrap(), r["time"].as_i64().unwrap());
            assert_eq!(r["mode"], "forecast_only", "{r}");
            assert_eq!(r["applied"], false, "{r}");
            let span_service = if service == "checkout" {
                "checkoutservice"
            } else {
                service
            };
            let window = (time - WINDOW).div_euclid(WINDOW) * WINDOW;
            let want = expected
                .get(&(span_service.to_string(), window))
                .copied()
                .unwrap_or(0.0);
            let got = r["demand"]
                .as_f64()
                .unwrap_or_else(|| panic!("no demand: {r}; logs {}", logs()));
            assert!(
                (got - want).abs() < 1e-9,
                "{service} at {time}: demand {got}, spans say {want}"
            );
            // The rule's statistic is the p95 of the same window, from the same spans.
            match (service, r["rule"]["observed_seconds"].as_f64()) {
                ("frontend", Some(got)) => {
                    let want = p95[&("frontend".to_string(), window)];
                    assert!(
                        (got - want).abs() < 1e-9,
                        "frontend at {time}: rule p95 {got}, spans say {want}"
                    );
                    assert_eq!(r["rule"]["name"], "frontend-latency", "{r}");
                }
                ("frontend", None) => panic!("no rule verdict: {r}"),
                (_, got) => assert!(got.is_none() && r.get("rule").is_none(), "no rule on {service}: {r}"),
            }
            // The frontend gets requests every second of the minute: a zero here would mean
            // the shift missed, and the equality above would prove little.
            assert!(
                service != "frontend" || want > 0.0,
                "frontend at {time}: no requests in the window before"
            );
            *checked.entry(service.to_string()).or_insert(0) += 1;
        }
    }

    let seen = tempo.seen.lock().unwrap().clone();
    let searches: Vec<&Seen> = seen.iter().filter(|s| s.path == "/api/search").collect();
    let queries: std::collections::BTreeSet<&str> = searches.iter().filter_map(|s| s.q.as_deref()).collect();
    assert_eq!(
        queries.into_iter().collect::<Vec<_>>(),
        vec![
            "{ resource.service.name = \"checkoutservice\" }",
            "{ resource.service.name = \"frontend\" }"
        ]
    );
    assert!(
        searches
            .iter()
            .all(|s| s.limit.as_deref() == Some(&LIMIT.to_string()) && s.accept == "application/json")
    );
    assert!(seen.len() > searches.len(), "no trace was fetched");
    // The demand fetch and the rule share one search a tick: after the first tick (which learns
    // the widest range), one frontend search per tick.
    let frontend: Vec<&&Seen> = searches
        .iter()
        .filter(|s| s.q.as_deref() == Some("{ resource.service.name = \"frontend\" }"))
        .collect();
    let ticks: std::collections::BTreeSet<&str> = frontend.iter().filter_map(|s| s.end.as_deref()).collect();
    assert!(
        frontend.len() <= ticks.len() + 1,
        "{} frontend searches over {} ticks",
        frontend.len(),
        ticks.len()
    );
    for s in &seen {
        assert_eq!(s.auth, format!("Bearer {TOKEN}"), "{s:?}");
        if s.path.starts_with("/api/traces/") {
            assert_eq!(s.accept, "application/protobuf", "{s:?}");
        }
    }

    support::serve::sigterm(&serve);
    let status = support::serve::wait_exit(&mut serve, logs);
    assert!(status.success(), "exit {status}: {}", logs());
    server.abort();
}
