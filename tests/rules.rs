//! Latency rules end to end: `scale rules check` on valid and invalid files (the seed's exact
//! YAML included), and rule parity on real Nezha spans with injected faults.

use scale::govern::rules::govern;
use scale::govern::{GovernorConfig, GovernorState};
use scale::observe::spans::{Span, read_spans};
use scale::reactive::rules::eval::{Action, evaluate, observe_spans};
use scale::reactive::rules::parse_rules;
use std::path::Path;
use std::process::{Command, Output};

const SEED: &str = "apiVersion: scale.autoscaling/v1
kind: LatencyBasedAutoScaler
metadata:
  name: frontend-latency
spec:
  target:
    serviceName: frontend
    deploymentName: frontend
  latencyThreshold:
    upperBound: 500ms
    lowerBound: 100ms
";

fn check(path: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_scale"))
        .args(["rules", "check"])
        .arg(path)
        .output()
        .expect("run scale")
}

#[test]
fn rules_check_table() {
    let dir = tempfile::tempdir().unwrap();
    let swap = |from: &str, to: &str| SEED.replace(from, to);
    let two = format!("{SEED}---\n{}", SEED.replace("frontend", "cart"));
    let ext = format!(
        "{SEED}  operations: [\"hipstershop.Frontend/*\"]\n  breaches: {{count: 3, window: 5m}}\n  percentile: p99\n  step: 2\n"
    );
    // (file, content, success, fragment of stdout (ok) or of the one-line stderr (error))
    let cases: Vec<(&str, String, bool, &str)> = vec![
        (
            "seed.yaml",
            SEED.into(),
            true,
            "frontend-latency (FILE:1): service frontend → deployment frontend: p95 > 500ms scale up by 1, < 100ms scale down by 1; 1 breach per evaluation; operations: all",
        ),
        ("two.yaml", two, true, "ok: 2 rules in 1 files"),
        (
            "ext.yaml",
            ext,
            true,
            "p99 > 500ms scale up by 2, < 100ms scale down by 2; 3 breaches within 5m; operations: hipstershop.Frontend/*",
        ),
        (
            "units.yaml",
            swap("500ms", "0.5s").replace("100ms", "100000µs"),
            true,
            "p95 > 500ms",
        ),
        (
            "unitless.yaml",
            swap("500ms", "500"),
            false,
            "FILE:10: spec.latencyThreshold.upperBound: 500 has no unit",
        ),
        (
            "negative.yaml",
            swap("100ms", "-100ms"),
            false,
            "FILE:11: spec.latencyThreshold.lowerBound: \"-100ms\" is negative",
        ),
        (
            "inverted.yaml",
            swap("100ms", "500ms").replace("upperBound: 500ms", "upperBound: 100ms"),
            false,
            "FILE:11: spec.latencyThreshold.lowerBound: 500ms must be below upperBound 100ms",
        ),
        (
            "unknown.yaml",
            format!("{SEED}  minReplicas: 2\n"),
            false,
            "FILE:12: spec: unknown field `minReplicas`",
        ),
        (
            "noname.yaml",
            swap("  name: frontend-latency\n", "  labels: {a: b}\n"),
            false,
            "FILE:1: metadata.name: must not be empty",
        ),
        (
            "kind.yaml",
            swap("LatencyBasedAutoScaler", "Deployment"),
            false,
            "FILE:2: kind: expected",
        ),
    ];
    for (name, text, ok, want) in cases {
        let p = dir.path().join(name);
        std::fs::write(&p, &text).unwrap();
        let o = check(&p);
        let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        let want = want.replace("FILE", &p.display().to_string());
        assert_eq!(o.status.success(), ok, "{name}: {out} {err}");
        if ok {
            assert!(out.contains(&want), "{name}: {out}");
        } else {
            assert_eq!(o.status.code(), Some(1), "{name}");
            assert_eq!(err.trim_end().lines().count(), 1, "{name}: {err}");
            assert!(err.starts_with("error: ") && err.contains(&want), "{name}: {err}");
        }
        std::fs::remove_file(&p).unwrap();
    }
    // A directory: every *.yaml/*.yml file, one set.
    std::fs::write(dir.path().join("a.yaml"), SEED).unwrap();
    std::fs::write(dir.path().join("b.yml"), SEED.replace("frontend", "cart")).unwrap();
    let o = check(dir.path());
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("ok: 2 rules in 2 files"));
    let o = check(&dir.path().join("absent.yaml"));
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("absent.yaml"));
}

#[test]
fn example_rule_file_is_valid() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/rules/frontend-latency.yaml");
    let o = check(&p);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Unix seconds of each injected fault on `service` of one of `kinds`, from Nezha's fault list.
fn faults(list: &Path, service: &str, kinds: &[&str]) -> Vec<i64> {
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(list).unwrap()).unwrap();
    let mut out: Vec<i64> = v
        .as_object()
        .unwrap()
        .values()
        .flat_map(|hour| hour.as_array().unwrap().iter())
        .filter(|f| {
            let pod = f["inject_pod"].as_str().unwrap_or("");
            scale::observe::spans::service_of(pod) == service
                && kinds.contains(&f["inject_type"].as_str().unwrap_or(""))
        })
        .map(|f| f["inject_timestamp"].as_str().unwrap().parse().unwrap())
        .collect();
    out.sort();
    out
}

/// Nezha Online Boutique: CPU faults injected into `frontend` slow its requests. A rule with
/// thresholds between the fault-free and the faulty p50 must scale up in the fault windows and
/// hold in fault-free ones; with `breaches`, exactly where the windows computed directly say.
#[test]
fn nezha_fault_windows_scale_up() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/datasets/nezha/nezha-onlineboutique");
    if !root.exists() {
        eprintln!("skipping: {} is absent (CI-only data)", root.display());
        return;
    }
    // Latency-raising faults only: `return`/`exception` short-circuit requests (faster, not slower).
    let injected = faults(
        &root.join("rca_data/2022-08-22-fault_list.json"),
        "frontend",
        &["cpu_contention", "cpu_consumed"],
    );
    assert_eq!(injected, [1_661_140_434, 1_661_141_420], "fault list changed");
    let mut spans: Vec<Span> = Vec::new();
    for t in &injected {
        // Trace files are named by minute (UTC hour_minute); read those around the injection.
        for m in -1..=3 {
            let at = chrono::DateTime::from_timestamp(t + m * 60, 0).unwrap();
            let f = root.join(format!("rca_data/trace/{}_trace.csv.xz", at.format("%H_%M")));
            if f.exists() {
                spans.extend(read_spans(&f).unwrap());
            }
        }
    }
    let baseline = read_spans(&root.join("2022-08-23_17_00_construct_trace.csv.xz")).unwrap();
    let yaml = format!(
        "{}  percentile: p50\n",
        SEED.replace("lowerBound: 100ms", "lowerBound: 50ms")
    );
    let rule = parse_rules(Path::new("nezha.yaml"), &yaml).unwrap().remove(0);
    let obs = observe_spans(&rule, &spans, 60);
    let base = observe_spans(&rule, &baseline, 60);
    let in_fault = |start: i64| injected.iter().any(|t| start >= *t && start + 60 <= t + 180);
    let before_fault = |start: i64| injected.iter().all(|t| start + 60 <= *t || start >= t + 600);
    let (mut faulty, mut calm) = (0, 0);
    for o in obs.iter().chain(&base) {
        let rec = evaluate(&rule, std::slice::from_ref(o), 3, o.end());
        println!(
            "window {} p50 {:.0}ms n={}: {:?} {}",
            o.start,
            o.latency * 1e3,
            o.requests,
            rec.action,
            rec.reason
        );
        if in_fault(o.start) {
            faulty += 1;
            assert_eq!(
                (rec.action, rec.desired),
                (Action::Up, Some(4)),
                "fault window {}: {}",
                o.start,
                rec.reason
            );
            // Through the governor: the scale-up survives (within default HPA behavior and max).
            let g = govern(
                &GovernorConfig::hpa_default(1, 10),
                &mut GovernorState::default(),
                &rec,
                o.end(),
                3,
            );
            assert_eq!((g.desired, g.apply), (4, true), "{g:?}");
        } else if before_fault(o.start) {
            calm += 1;
            assert_eq!(
                (rec.action, rec.desired),
                (Action::Hold, Some(3)),
                "calm window {}: {}",
                o.start,
                rec.reason
            );
        }
    }
    assert!(faulty >= 4 && calm >= 3, "fault windows {faulty}, calm windows {calm}");

    // "2 breaches within 2m": up exactly where this and the previous 60 s window both breach.
    let mut r2 = rule.clone();
    r2.breaches = scale::reactive::rules::spec::Breaches {
        count: 2,
        window_seconds: Some(120),
    };
    let hot = |start: i64| obs.iter().any(|o| o.start == start && o.latency > rule.upper_seconds);
    for o in &obs {
        let rec = evaluate(&r2, &obs, 3, o.end());
        let want = hot(o.start) && hot(o.start - 60);
        assert_eq!(rec.action == Action::Up, want, "window {}: {}", o.start, rec.reason);
    }
}
