//! The Prometheus source against a real Prometheus (Debian package `prometheus`, with `promtool`):
//! a NAB series is backfilled as OpenMetrics into a TSDB, the server is started on a free
//! 127.0.0.1 port, and the client, `scale train` and `scale forecast` run against it.

use scale::core::series::{GapPolicy, Series};
use scale::observe::MetricSource;
use scale::observe::http::HttpConfig;
use scale::observe::prometheus::Prometheus;
use std::path::Path;
use std::process::Command;

mod support;

/// nyc_taxi from the shared NAB copy, else the bundled SF traffic series, so the test always runs.
fn dataset() -> Series {
    let nab = Path::new("/work/shared/datasets/nab/realKnownCause/nyc_taxi.csv");
    // SCALE_TEST_BUNDLED_DATA=1 exercises the fallback on a machine that has the NAB copy.
    let path = if nab.exists() && std::env::var_os("SCALE_TEST_BUNDLED_DATA").is_none() {
        nab.to_path_buf()
    } else {
        eprintln!(
            "note: {} absent; using the bundled datasets/hourly_sf_traffic.csv",
            nab.display()
        );
        Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/hourly_sf_traffic.csv")
    };
    let s = scale::observe::load_series(&path, GapPolicy::default())
        .unwrap()
        .remove(0)
        .series;
    // promtool writes one block per 2 hours of history and Prometheus opens each at start-up;
    // the last three weeks keep that to ~250 blocks (all of nyc_taxi takes minutes).
    let n = (DAYS * 86_400 / s.step) as usize;
    let mut s = s.slice(s.len().saturating_sub(n), s.len());
    s.name = "demo".into();
    s
}

const DAYS: i64 = 21;

/// The series as `demo_requests{service="demo"}` samples.
fn openmetrics(s: &Series) -> String {
    support::prometheus::openmetrics(
        "demo_requests",
        "service=\"demo\"",
        s.values.iter().enumerate().map(|(i, v)| (s.time_at(i), *v)),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn real_prometheus_backfill_query_train_forecast() {
    if !support::prometheus::available("real_prometheus_backfill_query_train_forecast") {
        return;
    }
    let s = dataset();
    let dir = tempfile::tempdir().unwrap();
    let (_server, url) = support::prometheus::start(dir.path(), &openmetrics(&s)).await;
    let (start, end, step) = (s.start, s.time_at(s.len() - 1), s.step);

    // 1. The full history comes back equal to the CSV, also when split into several requests
    // (as ranges over Prometheus' 11,000-point limit are).
    let prom = Prometheus::new(&url, &HttpConfig::default()).unwrap();
    let split = Prometheus::new(&url, &HttpConfig::default())
        .unwrap()
        .with_max_points(300);
    let got = prom.range("demo_requests", start, end, step).await.unwrap();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].name, "demo_requests{service=\"demo\"}");
    assert_eq!((got[0].start, got[0].step, got[0].values.len()), (start, step, s.len()));
    for (i, (a, b)) in got[0].values.iter().zip(&s.values).enumerate() {
        assert!(
            (a - b).abs() <= 1e-9 * b.abs().max(1.0),
            "step {i}: prometheus {a} vs csv {b}"
        );
    }
    assert_eq!(split.range("demo_requests", start, end, step).await.unwrap(), got);
    // GET works too and gives the same answer; an instant query sees the last sample.
    let via_get = Prometheus::new(&url, &HttpConfig::default()).unwrap().with_get(true);
    assert_eq!(via_get.range("demo_requests", start, end, step).await.unwrap(), got);
    let inst = prom.instant("sum(demo_requests)", end).await.unwrap();
    assert_eq!(inst.len(), 1);
    assert!((inst[0].value - s.values[s.len() - 1]).abs() < 1e-9 * s.values[s.len() - 1].abs().max(1.0));

    // 2. Past the data's end, Prometheus has nothing beyond its 5-minute lookback: those steps are
    // absent, become NaN, and the cleaning policy trims them.
    let past = prom
        .range("demo_requests", end - 2 * step, end + 4 * step, step)
        .await
        .unwrap();
    assert_eq!(past[0].values.len(), 7);
    assert!(past[0].values[3..].iter().all(|v| v.is_nan()), "{:?}", past[0].values);
    let cleaned = past[0].clean("q", "demo", GapPolicy::default()).unwrap();
    assert_eq!(cleaned.series.values.len(), 3);

    // 3. Bad PromQL: Prometheus' own error, naming the query.
    let bad = "sum(rate(demo_requests[5m]) by";
    let e = prom.range(bad, start, end, step).await.unwrap_err().to_string();
    assert!(
        e.contains(&format!("query {bad:?}")) && e.contains("bad_data") && e.contains("parse error"),
        "{e}"
    );
    assert!(e.contains(&format!("{url}/api/v1/query_range")), "{e}");

    // 4. The size limit stops the read and names the URL.
    let small = Prometheus::new(
        &url,
        &HttpConfig {
            max_body_bytes: 10_000,
            ..HttpConfig::default()
        },
    )
    .unwrap();
    let e = small
        .range("demo_requests", start, end, step)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&format!(
            "{url}/api/v1/query_range: response larger than the limit of 10000 bytes"
        )),
        "{e}"
    );

    // 5. `scale train` from Prometheus, then `scale forecast` from the artifact it wrote.
    let models = dir.path().join("models");
    let job = dir.path().join("job.toml");
    let horizon_steps = (86_400 / step) as usize;
    std::fs::write(
        &job,
        format!(
            "name = \"prom\"\nmodels_dir = {models:?}\n\n[source]\nkind = \"prometheus\"\nurl = \"{url}\"\n\
             history = \"{}s\"\nstep = \"{step}s\"\nend = \"{end}\"\n[source.queries]\ndemo = \"sum(demo_requests)\"\n\n\
             [backtest]\nhorizon = \"1d\"\nfolds = 3\nfamilies = [\"seasonal_naive\", \"ets\"]\nhistory = \"3w\"\n",
            DAYS * 86_400
        ),
    )
    .unwrap();
    support::prometheus::train_promoted(&job, "demo");
    let out = Command::new(env!("CARGO_BIN_EXE_scale"))
        .args(["forecast", "--models"])
        .arg(&models)
        .args(["--service", "demo", "--horizon", "1d"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "forecast: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["start"].as_i64(),
        Some(end + step),
        "the forecast starts right after the data"
    );
    let point: Vec<f64> = v["forecast"]["point"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert_eq!(point.len(), horizon_steps);
    assert!(point.iter().all(|x| x.is_finite()), "{point:?}");
    // Plausible level: the forecast day's mean is within a factor of 2 of the last week's.
    let week = &s.values[s.len() - 7 * horizon_steps..];
    let (mean_f, mean_w) = (
        point.iter().sum::<f64>() / point.len() as f64,
        week.iter().sum::<f64>() / week.len() as f64,
    );
    assert!(
        mean_f > 0.5 * mean_w && mean_f < 2.0 * mean_w,
        "forecast mean {mean_f} vs last week {mean_w}"
    );

    // 6. A query returning several series is refused with advice, naming the service.
    std::fs::write(
        &job,
        std::fs::read_to_string(&job)
            .unwrap()
            .replace("sum(demo_requests)", "demo_requests or vector(1)"),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_scale"))
        .args(["train", "--config"])
        .arg(&job)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("service demo") && err.contains("returned 2 series"),
        "{err}"
    );
}
