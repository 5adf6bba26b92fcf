//! `scale serve` end to end against a real Prometheus (Debian package): a generated demand
//! series is backfilled so that it runs from three hours ago to a quarter of an hour ahead —
//! Prometheus only answers samples at or before the query time, so the future part arrives "live"
//! as the wall clock moves. `scale train` fits a model from Prometheus, then the `scale` binary
//! serves in forecast-only mode; the test reads /readyz, /decisions, /metrics and the decision
//! log lines, and stops it with SIGTERM.

use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod support;
use support::prometheus::KillOnDrop;

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
    let out = Command::new(env!("CARGO_BIN_EXE_scale"))
        .args(["train", "--config"])
        .arg(&job)
        .output()
        .unwrap();
    assert!(out.status.success(), "train: {}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("demo: ") && stdout.contains("promoted"), "{stdout}");
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
    let stderr_path = dir.path().join("serve.stderr");
    let mut child = Command::new(env!("CARGO_BIN_EXE_scale"))
        .args(["serve", "--config"])
        .arg(&cfg)
        .args(["--mode", "forecast-only"])
        .env("SCALE_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();
    let pid = child.id();
    let stdout = child.stdout.take().unwrap();
    let mut serve = KillOnDrop(child);
    let logs = || std::fs::read_to_string(&stderr_path).unwrap_or_default();

    // The bound address comes on stdout.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(addr) = line.strip_prefix("scale serve listening on ") {
                let _ = tx.send(addr.to_string());
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| panic!("serve printed no address: {}", logs()));
    let base = format!("http://{addr}");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();

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
        assert_eq!(predictive, (peak / per).ceil() as u64, "{r}");
        let reactive = r["reactive"].as_u64().unwrap();
        assert!(
            reactive.abs_diff((d / per).ceil() as u64) <= 1,
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
    assert!(err.is_finite() && err >= 0.0 && err < 200.0, "{metrics}");
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
    let kill = Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
    assert!(kill.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(s) = serve.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "serve did not exit after SIGTERM: {}",
            logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "exit {status}: {}", logs());
    assert!(logs().contains("shutting down"), "{}", logs());
}
