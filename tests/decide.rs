//! `scale decide` as a user calls it: the documented inputs in, one JSON line per tick out.

use std::io::Write;
use std::process::{Command, Stdio};

fn decide(input: &str) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_scale"))
        .args(["decide", "--input", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let o = child.wait_with_output().unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into(),
        String::from_utf8_lossy(&o.stderr).into(),
    )
}

fn lines(out: &str) -> Vec<serde_json::Value> {
    out.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn hpa_contract_example() {
    // The docs/decide.md example: 30% CPU against a 50% target on one ready pod proposes 1,
    // but the recommendation of 4 two minutes ago is inside the 300 s scale-down window.
    let input = r#"{"algorithm": "hpa",
      "hpa": {"minReplicas": 1, "maxReplicas": 10,
              "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}]},
      "controller": {"tolerance": 0.1, "cpuInitializationPeriodSeconds": 300, "initialReadinessDelaySeconds": 30},
      "history": {"recommendations": [{"time": -120, "replicas": 4}], "scaleEvents": [{"time": -100, "replicaChange": 2}]},
      "ticks": [{"time": 0, "currentReplicas": 3,
                 "pods": [{"name": "a", "phase": "Running", "ready": true, "startTime": -180, "readyTime": -170, "deleting": false,
                           "containers": [{"cpuRequestMilli": 1000, "cpuUsageMilli": 300}], "metrics": {"qps": 20.0}}],
                 "objectMetrics": {"requests-per-second": 20.0}, "externalMetrics": {"queue-depth": [10.0, 5.0]}},
                {"time": 200, "currentReplicas": 3,
                 "pods": [{"name": "a", "startTime": -180, "containers": [{"cpuRequestMilli": 1000, "cpuUsageMilli": 300}]}]}]}"#;
    let (ok, out, err) = decide(input);
    assert!(ok, "{err}");
    let l = lines(&out);
    assert_eq!(l.len(), 2);
    assert_eq!(l[0]["time"], 0);
    assert_eq!(l[0]["desiredReplicas"], 3);
    assert_eq!(l[0]["condition"], "DesiredWithinRange");
    assert_eq!(l[0]["ableToScale"], "ScaleDownStabilized");
    assert_eq!(l[0]["metrics"][0]["replicas"], 1);
    assert!(l[0]["steps"].as_array().unwrap().len() >= 3);
    // at t=200 the t=-120 recommendation has left the window; t=0 (1) is the highest left
    assert_eq!(l[1]["desiredReplicas"], 1);
}

#[test]
fn hpa_state_carries_across_ticks() {
    // 100% CPU on 2 pods against 50%: each tick wants double; max(4 pods, 100%) per 15 s.
    let tick = |t: i64, current: u32| {
        let pods: Vec<String> = (0..current)
            .map(|i| format!(r#"{{"name": "p{i}", "startTime": -1000, "containers": [{{"cpuRequestMilli": 100, "cpuUsageMilli": 400}}]}}"#))
            .collect();
        format!(
            r#"{{"time": {t}, "currentReplicas": {current}, "pods": [{}]}}"#,
            pods.join(",")
        )
    };
    let input = format!(
        r#"{{"algorithm": "hpa", "hpa": {{"maxReplicas": 100, "metrics": [{{"type": "Resource", "resource": {{"name": "cpu", "target": {{"type": "Utilization", "averageUtilization": 50}}}}}}]}},
           "ticks": [{}, {}, {}]}}"#,
        tick(0, 2),
        tick(5, 6),
        tick(20, 6)
    );
    let (ok, out, err) = decide(&input);
    assert!(ok, "{err}");
    let l = lines(&out);
    let got: Vec<(u64, &str)> = l
        .iter()
        .map(|v| (v["desiredReplicas"].as_u64().unwrap(), v["condition"].as_str().unwrap()))
        .collect();
    // t=0: 2 → 6 (4 pods); t=5: the +4 inside the period caps at 2+4=6 (or 2×2=4): stays 6;
    // t=20: the period has passed: from 6, max(10, 12) = 12
    assert_eq!(got, [(6, "ScaleUpLimit"), (6, "ScaleUpLimit"), (12, "ScaleUpLimit")]);
}

#[test]
fn kpa_contract_example() {
    let input = r#"{"algorithm": "kpa",
      "kpa": {"targetValue": 10, "totalValue": 13.33, "targetBurstCapacity": 100, "panicThreshold": 2.0,
              "maxScaleUpRate": 10, "maxScaleDownRate": 10, "stableWindowSeconds": 60, "scaleDownDelaySeconds": 0,
              "activationScale": 1, "activatorCapacity": 150, "minScale": 0, "maxScale": 0, "reachable": true},
      "ticks": [{"time": 0, "readyPods": 1, "stableValue": 50, "panicValue": 50},
                {"time": 2, "readyPods": 5, "stableValue": 10, "panicValue": 10}]}"#;
    let (ok, out, err) = decide(input);
    assert!(ok, "{err}");
    let l = lines(&out);
    assert_eq!(l[0]["desiredReplicas"], 5);
    assert_eq!(l[0]["excessBurstCapacity"], -137);
    assert_eq!(l[0]["panicking"], true);
    // still panicking two seconds later: no scale-down
    assert_eq!(l[1]["panicking"], true);
    assert_eq!(l[1]["desiredReplicas"], 5);
}

#[test]
fn malformed_input_names_the_json_path() {
    let cases = [
        (
            r#"{"algorithm": "hpa", "hpa": {"maxReplicas": "ten"}, "ticks": []}"#,
            "stdin: hpa.maxReplicas: invalid type",
        ),
        (
            r#"{"algorithm": "hpa", "hpa": {"maxReplicas": 3, "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": "x"}}}]}, "ticks": []}"#,
            "hpa.metrics[0].resource.target.averageUtilization",
        ),
        (
            r#"{"algorithm": "hpa", "hpa": {"maxReplicas": 3}, "ticks": [{"time": 0, "currentReplicas": 1, "pods": [{"name": "a", "phase": "Sleeping"}]}]}"#,
            "ticks[0].pods[0].phase",
        ),
        (
            r#"{"algorithm": "hpa", "hpa": {"maxReplicas": 3, "minReplicas": 5}, "ticks": []}"#,
            "hpa.maxReplicas: must be greater than or equal to `minReplicas`",
        ),
        (
            r#"{"algorithm": "hpa", "hpa": {"maxReplicas": 3, "behavior": {"scaleUp": {"policies": [{"type": "Pods", "value": 0, "periodSeconds": 15}]}}}, "ticks": []}"#,
            "behavior.scaleUp.policies[0].value",
        ),
        (
            r#"{"algorithm": "hpa", "hpa": {"maxReplicas": 3}, "ticks": [{"time": 5, "currentReplicas": 1}, {"time": 1, "currentReplicas": 1}]}"#,
            "ticks[1].time",
        ),
        (
            r#"{"algorithm": "hpa", "hpa": {"maxReplicas": 3}, "tick": []}"#,
            "unknown field `tick`",
        ),
        (r#"{"algorithm": "vpa"}"#, "algorithm: unknown \"vpa\""),
        (r#"{"hpa": {}}"#, "algorithm: missing"),
        (
            r#"{"algorithm": "kpa", "kpa": {"targetValue": -1}, "ticks": []}"#,
            "kpa.targetValue",
        ),
        (
            r#"{"algorithm": "kpa", "kpa": {"targetValue": 1}, "ticks": [{"time": 0, "readyPods": -2, "stableValue": 1, "panicValue": 1}]}"#,
            "ticks[0].readyPods",
        ),
        ("{not json", "not valid JSON"),
    ];
    for (input, want) in cases {
        let (ok, out, err) = decide(input);
        assert!(!ok, "{input}");
        assert!(out.is_empty(), "nothing half-printed: {out}");
        assert!(err.contains(want), "want {want:?} in {err:?}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(!err.contains("panicked"));
    }
}
