//! Issue 17: bad input from outside ends in a one-line error naming the flag, field, file or line,
//! with a non-zero exit, and never a panic, an abort, a huge allocation or a hang. Each case here
//! was reproduced against the binary before the fix (docs/security.md).

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs `scale ARGS`, killed after 60 s: a hang is a failure, not a stuck test.
fn scale(args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let (out, err) = (dir.path().join("out"), dir.path().join("err"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_scale"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .expect("run scale");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("scale {args:?} did not finish in 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: std::fs::read(&out).unwrap(),
        stderr: std::fs::read(&err).unwrap(),
    }
}

/// Asserts a failed run with exactly one stderr line containing every one of `want`.
fn assert_one_line_error(o: &Output, what: &str, want: &[&str]) {
    let e = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(!o.status.success(), "{what}: exit 0; stderr {e:?}");
    // 1 = the CLI's error exit; a panic is 101, an abort a signal.
    assert_eq!(o.status.code(), Some(1), "{what}: {e}");
    assert!(!e.contains("panicked"), "{what}: {e}");
    assert_eq!(e.trim_end().lines().count(), 1, "{what}: one line: {e:?}");
    for w in want {
        assert!(e.contains(w), "{what}: want {w:?} in {e:?}");
    }
}

fn repo_models() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models")
}

/// `timestamp,value` rows, one a minute from 2024-01-01, `value(i)` each.
fn csv(dir: &Path, name: &str, n: usize, value: impl Fn(usize) -> String) -> PathBuf {
    let mut text = String::from("timestamp,value\n");
    for i in 0..n {
        text.push_str(&format!("{},{}\n", 1_704_067_200 + 60 * i as i64, value(i)));
    }
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// A `scale train` job over `input`, writing to `dir/models`.
fn train_job(dir: &Path, input: &Path, horizon: &str) -> PathBuf {
    let cfg = dir.join(format!("{}.toml", input.file_stem().unwrap().to_str().unwrap()));
    std::fs::write(
        &cfg,
        format!(
            "name = 't'\nmodels_dir = {:?}\n[source]\nkind = 'file'\npath = {:?}\n[backtest]\nhorizon = '{horizon}'\n",
            dir.join("models"),
            input
        ),
    )
    .unwrap();
    cfg
}

/// The three batch commands on one input file.
fn batch_commands(dir: &Path, input: &Path) -> Vec<Vec<String>> {
    let i = input.to_str().unwrap().to_string();
    let out = dir.join("out").to_str().unwrap().to_string();
    let job = train_job(dir, input, "5m").to_str().unwrap().to_string();
    vec![
        vec!["evaluate".into(), "--input".into(), i.clone(), "--output".into(), out],
        vec!["backtest".into(), "--input".into(), i, "--horizon".into(), "5m".into()],
        vec!["train".into(), "--config".into(), job],
    ]
}

#[test]
fn durations_beyond_ten_years_are_refused_by_flag() {
    let d = tempfile::tempdir().unwrap();
    let input = csv(d.path(), "ok.csv", 200, |i| (10 + i % 7).to_string());
    let (input, models) = (input.to_str().unwrap(), repo_models());
    let out = d.path().join("o");
    let out = out.to_str().unwrap();
    // (args, the flag named). On main, 1e30 saturated to i64::MAX and overflowed downstream.
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["evaluate", "--input", input, "--output", out, "--tick", "1e30"],
            "--tick",
        ),
        (
            vec!["evaluate", "--input", input, "--output", out, "--startup", "1e30"],
            "--startup",
        ),
        (vec!["backtest", "--input", input, "--horizon", "1e30"], "--horizon"),
        (
            vec!["backtest", "--input", input, "--horizon", "100000000years"],
            "--horizon",
        ),
        (
            vec![
                "forecast",
                "--models",
                models.to_str().unwrap(),
                "--service",
                "hourly_sf_traffic",
                "--horizon",
                "1e30",
            ],
            "--horizon",
        ),
        (
            vec![
                "forecast",
                "--models",
                models.to_str().unwrap(),
                "--service",
                "hourly_sf_traffic",
                "--horizon",
                "9223372036854775807",
            ],
            "--horizon",
        ),
        (
            vec!["keda", "--listen", "127.0.0.1:0", "--stream-interval", "1e30"],
            "--stream-interval",
        ),
    ];
    for (args, flag) in cases {
        let o = scale(&args);
        assert_one_line_error(&o, &format!("{args:?}"), &[flag, "longer than the maximum"]);
    }
}

#[test]
fn serve_config_durations_are_bounded_by_field() {
    let d = tempfile::tempdir().unwrap();
    for field in ["history", "tick", "lead", "max_metric_age", "tick_budget"] {
        let mut defaults = std::collections::BTreeMap::from([
            ("tick", "30s"),
            ("lead", "5m"),
            ("history", "2h"),
            ("max_metric_age", "10m"),
            ("tick_budget", "20s"),
        ]);
        defaults.insert(field, "1e30");
        let body: String = defaults.iter().map(|(k, v)| format!("{k} = \"{v}\"\n")).collect();
        let cfg = d.path().join(format!("{field}.toml"));
        std::fs::write(
            &cfg,
            format!(
                "[server]\nlisten = \"127.0.0.1:0\"\n[defaults]\nmode = \"forecast-only\"\nmodels = {:?}\n{body}\
                 [source.prometheus]\nurl = \"http://127.0.0.1:9\"\n[[service]]\nname = \"web\"\nquery = \"up\"\n\
                 capacity_per_replica = 5\nmin_replicas = 1\nmax_replicas = 3\ntarget = {{ kind = \"dry-run\", replicas = 1 }}\n",
                repo_models()
            ),
        )
        .unwrap();
        let o = scale(&["serve", "--config", cfg.to_str().unwrap(), "--once"]);
        assert_one_line_error(&o, field, &[&format!("defaults.{field}"), "longer than the maximum"]);
    }
}

#[test]
fn an_outlying_timestamp_names_its_line_and_allocates_nothing() {
    let d = tempfile::tempdir().unwrap();
    // (file body after the header, the error's file:line, the message). On main the first two
    // overflowed or tried to allocate terabytes (abort), the third a 1.7e9-point grid.
    let cases = [
        ("0,1\n60,2\n120,3\n1000000000000,4\n", ":5:", "cannot parse timestamp"),
        (
            "-9223372036854775808,1\n9223372036854775807,2\n",
            ":2:",
            "cannot parse timestamp",
        ),
        (
            "0,1\n60,2\n120,3\n100000000000,4\n",
            ":5:",
            "over the maximum of 5000000",
        ),
        (
            "-50000000000,1\n0,1\n60,2\n120,3\n",
            ":2:",
            "over the maximum of 5000000",
        ),
    ];
    for (i, (rows, line, want)) in cases.into_iter().enumerate() {
        let p = d.path().join(format!("outlier{i}.csv"));
        std::fs::write(&p, format!("timestamp,value\n{rows}")).unwrap();
        for cmd in batch_commands(d.path(), &p) {
            let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
            let o = scale(&args);
            let at = format!("outlier{i}.csv{line}");
            assert_one_line_error(&o, &format!("{args:?}"), &[&at, want]);
        }
    }
}

#[test]
fn negative_or_infinite_demand_is_an_error_naming_the_line() {
    let d = tempfile::tempdir().unwrap();
    // (bad value at line 42, the message). On main `evaluate` reported negative utilization, exit 0.
    for (name, bad, want) in [
        ("negative.csv", "-50", "negative demand -50"),
        ("inf.csv", "1e309", "infinite value"),
        ("ninf.csv", "-inf", "infinite value"),
    ] {
        let p = csv(d.path(), name, 3000, |i| {
            if i == 40 { bad.into() } else { (20 + i % 11).to_string() }
        });
        for cmd in batch_commands(d.path(), &p) {
            let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
            let o = scale(&args);
            assert_one_line_error(&o, &format!("{args:?}"), &[&format!("{name}:42: column value"), want]);
        }
    }
}

#[test]
fn a_series_of_two_or_three_points_is_a_clear_error() {
    let d = tempfile::tempdir().unwrap();
    for n in [2, 3] {
        let p = csv(d.path(), &format!("short{n}.csv"), n, |i| (5 + i).to_string());
        for cmd in batch_commands(d.path(), &p) {
            let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
            let o = scale(&args);
            assert_one_line_error(
                &o,
                &format!("{args:?}"),
                &[&format!("short{n}.csv"), &format!("{n} points")],
            );
        }
    }
}

// ---- artifacts ----

/// A fresh copy of the bundled hourly_sf_traffic artifact (schema 2) at `dir/models`.
fn copy_models(dir: &Path) -> PathBuf {
    let models = dir.join("models");
    let src = repo_models().join("hourly_sf_traffic");
    let active = std::fs::read_to_string(src.join("ACTIVE")).unwrap();
    let v = active.trim();
    let dst = models.join("hourly_sf_traffic");
    std::fs::create_dir_all(dst.join(v)).unwrap();
    for f in ["manifest.json", "state.json"] {
        std::fs::copy(src.join(v).join(f), dst.join(v).join(f)).unwrap();
    }
    std::fs::write(dst.join("ACTIVE"), format!("{v}\n")).unwrap();
    models
}

fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// Re-seals a manifest as docs/training.md describes: SHA-256 of the file with its own
/// `manifest_sha256` value replaced by 64 zeros. A tampered file then passes the checksum, so
/// what is tested is the check after it.
fn write_sealed_manifest(path: &Path, mut m: serde_json::Value) {
    let zeros = "0".repeat(64);
    m["manifest_sha256"] = zeros.clone().into();
    let text = serde_json::to_string_pretty(&m).unwrap();
    let sealed = text.replacen(&zeros, &sha256_hex(text.as_bytes()), 1);
    std::fs::write(path, sealed).unwrap();
}

/// Rewrites the active version's state with `edit`, updating both checksums.
fn edit_state(models: &Path, edit: impl Fn(&mut serde_json::Value)) {
    let vdir = version_dir(models);
    let mut state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(vdir.join("state.json")).unwrap()).unwrap();
    edit(&mut state);
    let bytes = serde_json::to_vec_pretty(&state).unwrap();
    std::fs::write(vdir.join("state.json"), &bytes).unwrap();
    let mut m = manifest(models);
    m["state_sha256"] = sha256_hex(&bytes).into();
    write_sealed_manifest(&vdir.join("manifest.json"), m);
}

fn version_dir(models: &Path) -> PathBuf {
    let svc = models.join("hourly_sf_traffic");
    svc.join(std::fs::read_to_string(svc.join("ACTIVE")).unwrap().trim())
}

fn manifest(models: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(version_dir(models).join("manifest.json")).unwrap()).unwrap()
}

fn forecast(models: &Path) -> Output {
    scale(&[
        "forecast",
        "--models",
        models.to_str().unwrap(),
        "--service",
        "hourly_sf_traffic",
        "--horizon",
        "3h",
    ])
}

#[test]
fn the_bundled_artifact_is_sealed_and_loads() {
    let d = tempfile::tempdir().unwrap();
    let models = copy_models(d.path());
    assert_eq!(manifest(&models)["schema_version"], 2);
    let o = forecast(&models);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Re-sealed by the documented recipe (re-serialized, so other bytes), it still loads: the
    // cases below test the checks after the checksum, not the test's sealing.
    write_sealed_manifest(&version_dir(&models).join("manifest.json"), manifest(&models));
    let o = forecast(&models);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn a_tampered_manifest_fails_its_checksum() {
    let d = tempfile::tempdir().unwrap();
    let models = copy_models(d.path());
    let path = version_dir(&models).join("manifest.json");
    // The manifest is what `scale models show` and promotion trust: on main an edit went unseen.
    let text = std::fs::read_to_string(&path).unwrap();
    let tampered = text.replacen("\"family\": \"", "\"family\": \"x", 1);
    assert_ne!(text, tampered);
    std::fs::write(&path, tampered).unwrap();
    assert_one_line_error(&forecast(&models), "tampered", &["manifest.json", "checksum mismatch"]);
}

#[test]
fn invalid_artifacts_are_refused_like_corrupt_ones() {
    type Edit = Box<dyn Fn(&Path)>;
    let state = |f: fn(&mut serde_json::Value)| -> Edit { Box::new(move |m: &Path| edit_state(m, f)) };
    let man = |f: fn(&mut serde_json::Value)| -> Edit {
        Box::new(move |m: &Path| {
            let mut v = manifest(m);
            f(&mut v);
            write_sealed_manifest(&version_dir(m).join("manifest.json"), v);
        })
    };
    // (case, edit with valid checksums, what the error says). On main each was followed, or
    // loaded and then divided by zero / overflowed in serve.
    let cases: Vec<(&str, Edit, &str)> = vec![
        ("step 0", state(|s| s["step"] = 0.into()), "invalid state: step 0"),
        (
            "negative step",
            state(|s| s["step"] = (-3600).into()),
            "invalid state: step -3600",
        ),
        (
            "history_start near i64::MAX",
            state(|s| s["history_start"] = (i64::MAX - 10).into()),
            "outside years 1 to 9999",
        ),
        (
            "empty history",
            state(|s| s["history"] = serde_json::json!([])),
            "history has 0 points",
        ),
        (
            "zero period",
            state(|s| s["spec"] = serde_json::json!({"family": "seasonal_naive", "period": 0})),
            "period 0",
        ),
        (
            "weights outside",
            state(|s| s["weights"] = serde_json::json!({"file": "../../../etc/passwd", "sha256": "00"})),
            "weights.file \"../../../etc/passwd\" must name a file inside the version directory",
        ),
        (
            "state_file outside",
            man(|m| m["state_file"] = "../v0001/../../hourly_sf_traffic/ACTIVE".into()),
            "state_file \"../v0001/../../hourly_sf_traffic/ACTIVE\" must name a file inside",
        ),
        (
            "state_file absolute",
            man(|m| m["state_file"] = "/etc/hostname".into()),
            "state_file \"/etc/hostname\"",
        ),
        (
            "version mismatch",
            man(|m| m["version"] = "v0099".into()),
            "version \"v0099\" does not match its directory",
        ),
        (
            "ACTIVE outside",
            Box::new(|m: &Path| std::fs::write(m.join("hourly_sf_traffic/ACTIVE"), "../../etc\n").unwrap()),
            "ACTIVE: names \"../../etc\", which is not a version",
        ),
    ];
    for (what, edit, want) in cases {
        let d = tempfile::tempdir().unwrap();
        let models = copy_models(d.path());
        edit(&models);
        assert_one_line_error(&forecast(&models), what, &["artifact ", want]);
    }
    // a symlinked state file that leaves the version directory
    let d = tempfile::tempdir().unwrap();
    let models = copy_models(d.path());
    let vdir = version_dir(&models);
    let outside = d.path().join("outside.json");
    std::fs::rename(vdir.join("state.json"), &outside).unwrap();
    std::os::unix::fs::symlink(&outside, vdir.join("state.json")).unwrap();
    assert_one_line_error(
        &forecast(&models),
        "symlink",
        &["resolves outside the version directory"],
    );
}

#[test]
fn a_second_train_on_the_same_models_dir_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let input = csv(d.path(), "svc.csv", 600, |i| (30 + i % 13).to_string());
    let job = train_job(d.path(), &input, "10m");
    // Another `scale train` holds the lock (taken the way train takes it).
    let lock = scale::train::artifact::lock_models_dir(&d.path().join("models")).unwrap();
    let o = scale(&["train", "--config", job.to_str().unwrap()]);
    assert_one_line_error(&o, "locked", &["models/.lock", "locked by another `scale train`"]);
    assert!(!d.path().join("models/svc").exists(), "nothing was written");
    drop(lock);
    let o = scale(&["train", "--config", job.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}
