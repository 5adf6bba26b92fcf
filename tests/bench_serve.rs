//! `scale bench serve` runs end to end with a small service count and reports what it measured.

use std::process::Command;

fn bench(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_scale"))
        .args(["bench", "serve"])
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn bench_serve_small() {
    let out = bench(&["--services", "12", "--ticks", "2", "--templates", "2", "--days", "3"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["services"], 12);
    for pass in ["selected", "baseline"] {
        let p = &v[pass];
        assert_eq!(p["tick_seconds"].as_array().unwrap().len(), 2, "{p}");
        assert_eq!(p["families"].as_array().unwrap().len(), 2, "{p}");
        // Each timed tick brings a new point: one forecast per service per tick; the extra tick
        // on unchanged data uses the cache.
        assert_eq!(p["forecasts_computed"], 24, "{p}");
        assert!(p["median_tick_seconds"].as_f64().unwrap() > 0.0, "{p}");
        assert!(p["cached_tick_seconds"].as_f64().unwrap() > 0.0, "{p}");
    }
    assert!(
        v["baseline"]["families"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f == "seasonal_naive")
    );
    assert!(v["ratio"].as_f64().unwrap() > 0.0);
    if cfg!(target_os = "linux") {
        let rss = v["peak_rss_mib"].as_f64().unwrap();
        assert!(rss > 1.0 && rss < 4096.0, "{rss}");
    }
}

#[test]
fn bench_serve_bad_flags_name_the_flag() {
    for (args, want) in [
        (vec!["--services", "0"], "--services: must be at least 1"),
        (vec!["--days", "1"], "--days: must be at least 3"),
        (vec!["--families", "seasonal_naive,prophet"], "--families"),
    ] {
        let out = bench(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(want), "{args:?}: {err}");
    }
}
