//! `scale bench otlp`: the in-repo load generator drives the real receivers (window store,
//! sampler tap and rules on) on 127.0.0.1, and every accepted span is counted.

use serde_json::Value;
use std::process::Command;

fn bench(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_scale"))
        .args(["bench", "otlp"])
        .args(args)
        .output()
        .unwrap()
}

fn report(args: &[&str]) -> Value {
    let out = bench(args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// What holds for any pass: nothing dropped, every window's count equal to what was accepted,
/// percentiles within the sketch's error, and the sampler and rules saw the load.
fn assert_counted_in_full(v: &Value) {
    assert_eq!(v["counted_in_full"], true, "{v}");
    for (k, n) in v["window_stats"].as_object().unwrap() {
        assert_eq!(n, 0, "{k}: {v}");
    }
    let accepted = v["pipeline"]["spans_accepted"].as_u64().unwrap();
    assert!(accepted > 0);
    assert_eq!(v["sampler_spans"].as_u64().unwrap(), accepted);
    assert!(v["rule_evaluations"].as_u64().unwrap() > 0, "{v}");
    let windows = v["windows"].as_array().unwrap();
    let counted: u64 = windows.iter().map(|w| w["counted_requests"].as_u64().unwrap()).sum();
    // Half the spans are requests (an entry span and a same-service child per trace).
    assert_eq!(2 * counted, accepted, "{v}");
    for w in windows {
        assert_eq!(w["counted_requests"], w["sent_requests"], "{w}");
        assert!(w["max_percentile_error"].as_f64().unwrap() <= 0.01 + 1e-9, "{w}");
    }
}

#[test]
fn a_window_of_more_than_a_million_spans_is_counted_in_full_over_http() {
    // 80,000 spans/s into 15 s windows: 1.2M spans a window, past the old receiver's 1M-pending
    // ceiling (which dropped 37% of a 40,000 spans/s load as late).
    let v = report(&[
        "--protocol",
        "http",
        "--rate",
        "80000",
        "--seconds",
        "33",
        "--window",
        "15s",
    ]);
    assert_counted_in_full(&v);
    let biggest = v["windows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["complete"] == true)
        .map(|w| 2 * w["sent_requests"].as_u64().unwrap())
        .max()
        .unwrap_or(0);
    assert!(biggest > 1_000_000, "largest complete window had {biggest} spans: {v}");
}

#[test]
fn grpc_load_is_counted_in_full() {
    let v = report(&[
        "--protocol",
        "grpc",
        "--rate",
        "40000",
        "--seconds",
        "6",
        "--window",
        "2s",
    ]);
    assert_counted_in_full(&v);
    assert!(v["baseline"]["spans_accepted"].as_u64().unwrap() > 0);
    assert!(v["ratio"].as_f64().unwrap() > 0.0);
}

#[test]
fn bad_flags_name_the_flag() {
    for (args, want) in [
        (vec!["--batch", "7"], "--batch"),
        (vec!["--rate", "0"], "--rate"),
        (vec!["--seconds", "100000"], "--seconds"),
        (vec!["--window", "1e30"], "--window"),
    ] {
        let out = bench(&args);
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
    }
}
