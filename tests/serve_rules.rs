//! Latency rules in `scale serve`, end to end: the real OpenTelemetry Python SDK sends request
//! spans to serve's OTLP/HTTP receiver; the seed's example rule (`examples/seed/rules`) is
//! attached through `[rules] path`, its recommendation goes through the governor, and the
//! dry-run target's count follows: up while p95 is above `upperBound`, back down once it is below
//! `lowerBound`. Skips without the SDK in the shared venv (scripts/test.sh installs it).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

mod support;

/// Runs send_latency.py for `seconds` at `latency_ms` (bounded by the script).
fn send(py: &Path, endpoint: &str, latency_ms: f64, seconds: f64) {
    let out = Command::new(py)
        .arg(support::repo().join("tests/otlp/send_latency.py"))
        .args(["--endpoint", endpoint, "--service", "frontend", "--rate", "20"])
        .args([
            "--latency-ms",
            &latency_ms.to_string(),
            "--seconds",
            &seconds.to_string(),
        ])
        .output()
        .expect("cannot run send_latency.py");
    assert!(
        out.status.success(),
        "send_latency.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn decisions(client: &reqwest::Client, base: &str) -> Vec<serde_json::Value> {
    let body = support::serve::get_text(client, &format!("{base}/decisions?service=frontend")).await;
    serde_json::from_str(&body).unwrap_or_default()
}

/// Sends spans of `latency_ms` until a decision satisfies `done` (bounded), and returns it.
async fn until(
    py: &Path,
    client: &reqwest::Client,
    base: &str,
    otlp: &str,
    latency_ms: f64,
    logs: &dyn Fn() -> String,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        send(py, otlp, latency_ms, 3.0);
        if let Some(r) = decisions(client, base).await.into_iter().rev().find(&done) {
            return r;
        }
        assert!(
            Instant::now() < deadline,
            "no such decision after 90 s at {latency_ms} ms: {:?}; logs {}",
            decisions(client, base).await.last(),
            logs()
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_seed_rule_scales_serve_up_on_slow_spans_and_down_on_fast_ones() {
    let Some(py) = support::venv_python(
        "the_seed_rule_scales_serve_up_on_slow_spans_and_down_on_fast_ones",
        &[
            "opentelemetry.sdk.trace",
            "opentelemetry.exporter.otlp.proto.http.trace_exporter",
        ],
    ) else {
        return;
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    // The seed's file, copied so the test can edit it while serve runs (hot reload).
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    let seed = std::fs::read_to_string(support::repo().join("examples/seed/rules/frontend-latency.yaml")).unwrap();
    std::fs::write(rules.join("frontend-latency.yaml"), &seed).unwrap();
    let cfg = dir.path().join("serve.toml");
    // No model: the predictive policy has no forecast, so the rule and the standalone HPA decide
    // (capacity 1000 req/s per replica: the HPA alone wants one replica for 20 req/s).
    std::fs::write(
        &cfg,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n[defaults]\ntick = \"1s\"\nmode = \"auto\"\nmodels = {:?}\n\
             lead = \"30s\"\nhistory = \"1m\"\nmax_metric_age = \"1m\"\n\
             [source.otlp]\ngrpc = \"127.0.0.1:0\"\nhttp = \"127.0.0.1:0\"\nwindow = \"1s\"\nlateness = \"2s\"\n\
             [rules]\npath = {rules:?}\nreload = \"1s\"\n\
             [[service]]\nname = \"frontend\"\ncapacity_per_replica = 1000\nmin_replicas = 1\nmax_replicas = 6\n\
             target = {{ kind = \"dry-run\", replicas = 2 }}\n",
            dir.path().join("models")
        ),
    )
    .unwrap();
    let (mut serve, lines, stderr_path) = support::serve::spawn(dir.path(), &cfg, &[]);
    let logs = || std::fs::read_to_string(&stderr_path).unwrap_or_default();
    let base = format!("http://{}", lines["scale serve listening on "]);
    let otlp = format!("http://{}/v1/traces", lines["scale serve otlp http on "]);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();

    // Slow: p95 800 ms > upperBound 500ms. The rule's step raises the count, through the governor.
    let up = until(&py, &client, &base, &otlp, 800.0, &logs, |r| {
        r["rule"]["bound"] == "upper" && r["applied"] == true && r["desired_replicas"].as_u64() > Some(2)
    })
    .await;
    assert_eq!(up["rule"]["name"], "frontend-latency", "{up}");
    assert_eq!(up["rule"]["percentile"], "p95", "{up}");
    let observed = up["rule"]["observed_seconds"].as_f64().unwrap();
    assert!((0.7..=0.9).contains(&observed), "{up}");
    let steps = up["steps"].as_array().unwrap();
    assert!(
        steps
            .iter()
            .any(|s| s["step"] == "rule" && s["reason"] == "LatencyRule"),
        "the rule's scale-up reason: {up}"
    );
    // The dry-run target took it: a later tick starts from the raised count.
    let peak = until(&py, &client, &base, &otlp, 800.0, &logs, |r| {
        r["current_replicas"].as_u64() >= Some(4)
    })
    .await["current_replicas"]
        .as_u64()
        .unwrap();
    let text = support::serve::get_text(&client, &format!("{base}/metrics")).await;
    let breaches = text
        .lines()
        .find(|l| {
            l.starts_with("scale_rule_breaches_total{service=\"frontend\",rule=\"frontend-latency\",bound=\"upper\"}")
        })
        .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no breach counter: {text}"));
    assert!(breaches >= 2.0, "{text}");

    // Fast: p95 20 ms < lowerBound 100ms. Down by the rule's step, within the scale-in mode: never
    // below what the standalone HPA runs.
    let down = until(&py, &client, &base, &otlp, 20.0, &logs, |r| {
        r["rule"]["bound"] == "lower" && r["current_replicas"].as_u64() < Some(peak)
    })
    .await;
    let current = down["current_replicas"].as_u64().unwrap();
    assert!(current >= down["reactive"].as_u64().unwrap_or(1), "{down}");

    // Hot reload: an edit naming an unknown service is rejected and the last good set stays;
    // a valid edit (upperBound 10ms) goes live, and the same 20 ms spans now breach it.
    std::fs::write(rules.join("frontend-latency.yaml"), seed.replace("frontend", "cart")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !logs().contains("rules rejected; keeping the last good set") {
        assert!(Instant::now() < deadline, "the bad edit was not rejected: {}", logs());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(logs().contains("attaches to service \"cart\""), "{}", logs());
    std::fs::write(
        rules.join("frontend-latency.yaml"),
        seed.replace("upperBound: 500ms", "upperBound: 10ms")
            .replace("lowerBound: 100ms", "lowerBound: 1ms"),
    )
    .unwrap();
    let reloaded = until(&py, &client, &base, &otlp, 20.0, &logs, |r| {
        r["rule"]["bound"] == "upper"
            && r["rule"]["reason"]
                .as_str()
                .is_some_and(|t| t.contains("upperBound 10ms"))
    })
    .await;
    assert_eq!(reloaded["rule"]["name"], "frontend-latency", "{reloaded}");

    support::serve::sigterm(&serve);
    let status = support::serve::wait_exit(&mut serve, logs);
    assert!(status.success(), "exit {status}: {}", logs());
}

/// A rule that names no service of the config stops start-up with one line naming the file,
/// the line and the field, and a non-zero exit; nothing starts listening.
#[test]
fn a_rule_for_an_unknown_service_is_a_start_up_error() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    let seed = std::fs::read_to_string(support::repo().join("examples/seed/rules/frontend-latency.yaml")).unwrap();
    std::fs::write(rules.join("cart.yaml"), seed.replace("frontend", "cart")).unwrap();
    let cfg = dir.path().join("serve.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n[defaults]\nmodels = {:?}\n\
             [source.otlp]\ngrpc = \"127.0.0.1:0\"\nhttp = \"127.0.0.1:0\"\n\
             [rules]\npath = {rules:?}\n\
             [[service]]\nname = \"frontend\"\ncapacity_per_replica = 10\nmin_replicas = 1\nmax_replicas = 6\n",
            dir.path().join("models")
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_scale"))
        .args(["serve", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let want = format!(
        "{}:3: spec.target.deploymentName: rule cart-latency attaches to service \"cart\", which is not in the serve config (services: frontend)",
        rules.join("cart.yaml").display()
    );
    assert!(stderr.contains(&want), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "",
        "no receiver or server started"
    );
}
