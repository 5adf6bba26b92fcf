//! `scale keda` against a Python gRPC client generated from proto/externalscaler.proto
//! (KEDA's side of the wire), checked against `scale forecast` for the same service and lead.

mod support;

use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Kills the server even when an assertion fails.
struct Server(Child, String);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(models: &Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_scale"))
        .args(["keda", "--listen", "127.0.0.1:0", "--stream-interval", "1s", "--models"])
        .arg(models)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn scale keda");
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(out).read_line(&mut line);
        let _ = tx.send(line);
    });
    let mut server = Server(child, String::new());
    let line = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("scale keda printed no address");
    server.1 = line
        .trim()
        .strip_prefix("scale keda listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    server
}

fn client(py: &Path, addr: &str, metadata: &Value, stream: usize) -> Value {
    let repo = support::repo();
    let o = Command::new(py)
        .arg(repo.join("tests/keda/client.py"))
        .arg(repo.join("proto/externalscaler.proto"))
        .arg(addr)
        .arg(metadata.to_string())
        .arg(stream.to_string())
        .output()
        .expect("run client.py");
    assert!(
        o.status.success(),
        "client.py failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("client output: {e}: {}", String::from_utf8_lossy(&o.stdout)))
}

/// The value `scale forecast` gives at the lead (its last step) for the quantile's series.
fn cli_forecast(models: &Path, service: &str, horizon: &str, series: &str) -> f64 {
    let o = Command::new(env!("CARGO_BIN_EXE_scale"))
        .args(["forecast", "--service", service, "--horizon", horizon, "--models"])
        .arg(models)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let xs = v["forecast"][series].as_array().unwrap();
    xs.last().unwrap().as_f64().unwrap()
}

#[test]
fn keda_external_scaler_serves_the_forecast() {
    let Some(py) = support::venv_python("keda", &["grpc", "grpc_tools"]) else {
        return;
    };
    let models: PathBuf = support::repo().join("models");
    let service = "hourly_sf_traffic";
    // The scaler serves its --models directory only; a ScaledObject cannot name another.
    let server = start(&models);

    // (lead, quantile, forecast series, `scale forecast --horizon`)
    let cases = [
        (None, None, "point", "1h"),
        (Some("3h"), None, "point", "3h"),
        (Some("1d"), Some("0.5"), "point", "1d"),
        (Some("6h"), Some("0.9"), "upper_80", "6h"),
        (Some("90m"), Some("0.025"), "lower_95", "2h"),
    ];
    for (lead, quantile, series, horizon) in cases {
        let mut md = json!({
            "scalerAddress": server.1,
            "service": service,
            "capacityPerReplica": "250.5",
        });
        if let Some(l) = lead {
            md["lead"] = json!(l);
        }
        if let Some(q) = quantile {
            md["quantile"] = json!(q);
        }
        let got = client(&py, &server.1, &md, 3);
        assert!(got.get("error").is_none(), "{md}: {got}");
        let want = cli_forecast(&models, service, horizon, series).max(0.0);
        let value = &got["metricValues"][0];
        let v = value["metricValueFloat"].as_f64().unwrap();
        assert!(
            (v - want).abs() <= 1e-9 * want.abs().max(1.0),
            "{md}: keda {v} vs scale forecast {want}"
        );
        assert_eq!(value["metricValue"].as_i64().unwrap(), want.ceil() as i64);
        assert_eq!(value["metricName"], "scale-forecast-hourly_sf_traffic");
        assert_eq!(got["isActive"], json!(want > 0.0));
        assert_eq!(got["stream"], json!(vec![want > 0.0; 3]), "{got}");
        assert_eq!(
            got["metricSpecs"],
            json!([{"metricName": "scale-forecast-hourly_sf_traffic", "targetSize": 251, "targetSizeFloat": 250.5}])
        );
        assert_eq!(got["streamMetricSpec"], "UNIMPLEMENTED");
    }

    // Bad or missing settings: a clear status naming the field or file, never panic text.
    let empty = tempfile::tempdir().unwrap();
    let bad = [
        (json!({}), "INVALID_ARGUMENT", "scalerMetadata.service"),
        (
            json!({"service": service, "quantile": "0.7"}),
            "INVALID_ARGUMENT",
            "scalerMetadata.quantile",
        ),
        (
            json!({"service": service, "lead": "soon"}),
            "INVALID_ARGUMENT",
            "scalerMetadata.lead",
        ),
        // saturated to i64::MAX on main, then overflowed in the forecast task (panic text sent back)
        (
            json!({"service": service, "lead": "1e30", "capacityPerReplica": "1"}),
            "INVALID_ARGUMENT",
            "scalerMetadata.lead: duration \"1e30\" is longer than the maximum",
        ),
        (
            json!({"service": service, "lead": "3650d", "anchor": "now", "capacityPerReplica": "1"}),
            "INVALID_ARGUMENT",
            "scalerMetadata.lead",
        ),
        (
            json!({"service": service}),
            "INVALID_ARGUMENT",
            "scalerMetadata.capacityPerReplica",
        ),
        // a request cannot point the scaler at another directory (it used to be followed)
        (
            json!({"service": service, "modelsDir": empty.path(), "capacityPerReplica": "1"}),
            "INVALID_ARGUMENT",
            "scalerMetadata.modelsDir: not accepted",
        ),
        (
            json!({"service": "absent", "capacityPerReplica": "1"}),
            "FAILED_PRECONDITION",
            "no ACTIVE version",
        ),
    ];
    for (md, code, text) in bad {
        let got = client(&py, &server.1, &md, 1);
        let err = &got["error"];
        assert_eq!(err["code"], code, "{md}: {got}");
        let details = err["details"].as_str().unwrap();
        assert!(details.contains(text), "{md}: {got}");
        assert!(!details.contains("panic"), "{md}: {got}");
    }
}
