//! notebooks/evaluate.ipynb and notebooks/backtest.ipynb executed with nbclient on fresh
//! `scale backtest` / `scale evaluate` output for the bundled SF traffic data.

mod support;

use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn scale(args: &[&str], out: &Path) {
    let o = Command::new(env!("CARGO_BIN_EXE_scale"))
        .args(args)
        .arg("--output")
        .arg(out)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "scale {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))).unwrap()
}

#[test]
fn notebooks_execute_on_fresh_scale_output() {
    let Some(py) = support::venv_python("notebooks", &["nbclient", "ipykernel", "pandas", "matplotlib"]) else {
        return;
    };
    let repo = support::repo();
    let data = repo.join("datasets/hourly_sf_traffic.csv");
    let d = tempfile::tempdir().unwrap();
    let (eval, bt, out) = (d.path().join("eval"), d.path().join("bt"), d.path().join("out"));
    scale(&["evaluate", "--input", data.to_str().unwrap()], &eval);
    scale(&["backtest", "--horizon", "1d", "--input", data.to_str().unwrap()], &bt);

    let o = Command::new(&py)
        .arg(repo.join("tests/notebooks/run.py"))
        .arg(repo.join("notebooks/evaluate.ipynb"))
        .arg(repo.join("notebooks/backtest.ipynb"))
        .env("SCALE_EVAL_DIR", &eval)
        .env("SCALE_BACKTEST_DIR", &bt)
        .env("SCALE_NOTEBOOK_OUT", &out)
        .env("MPLCONFIGDIR", d.path().join("mpl"))
        .current_dir(d.path())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "notebooks failed:\n{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );

    // What the notebooks computed agrees with the files they read.
    let report = json(&eval.join("report.json"));
    let es = json(&out.join("evaluate_summary.json"));
    let mut policies: Vec<&str> = report["policies"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut got: Vec<&str> = es["policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    policies.sort();
    got.sort();
    assert_eq!(got, policies);
    let rows = std::fs::read_to_string(eval.join("timeline.csv"))
        .unwrap()
        .lines()
        .count()
        - 1;
    assert_eq!(es["rows"].as_u64().unwrap() as usize, rows);
    for p in &policies {
        assert_eq!(es["replica_hours"][p], report["policies"][p]["replica_hours"], "{p}");
    }
    let backtest = json(&bt.join("backtest.json"));
    let bs = json(&out.join("backtest_summary.json"));
    let service = bs["series"][0].as_str().unwrap();
    assert_eq!(bs["selected"][service], backtest["selected"]);
    assert_eq!(
        bs["best_by_mase"][service], backtest["selected"],
        "selection is the lowest MASE"
    );
    for fig in [
        "forecast_vs_actual.png",
        "replicas_by_policy.png",
        "slo.png",
        "backtest_families.png",
    ] {
        let bytes = std::fs::read(out.join(fig)).unwrap_or_else(|e| panic!("{fig}: {e}"));
        assert!(
            bytes.starts_with(b"\x89PNG") && bytes.len() > 5_000,
            "{fig}: {} bytes",
            bytes.len()
        );
    }
}
