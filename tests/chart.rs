//! charts/scale through the real Helm engine (helm-python-sdk) and the Kubernetes 1.33
//! schemas (kubernetes-validate), for every values file in charts/scale/ci/; the rendered
//! config files are then parsed by SCALE's own loaders.

mod support;

use serde_json::Value;
use std::process::Command;

#[test]
fn chart_renders_lints_and_validates_for_every_values_file() {
    let Some(py) = support::venv_python("chart", &["helm_python", "kubernetes_validate", "yaml"]) else {
        return;
    };
    let repo = support::repo();
    let out = tempfile::tempdir().unwrap();
    let o = Command::new(&py)
        .arg(repo.join("tests/chart/check.py"))
        .arg(repo.join("charts/scale"))
        .arg(out.path())
        .output()
        .expect("run check.py");
    assert!(
        o.status.success(),
        "chart check failed:\n{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let summary: Value = serde_json::from_slice(&o.stdout).unwrap();
    let values = summary["values"].as_object().unwrap();
    let mut names: Vec<&str> = values.keys().map(String::as_str).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "default-values.yaml",
            "knative-values.yaml",
            "objectstore-keda-values.yaml",
            "vertical-values.yaml"
        ]
    );
    for (name, v) in values {
        let validated: Vec<&str> = v["validated"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_str().unwrap())
            .collect();
        for kind in [
            "apps/v1/Deployment",
            "batch/v1/CronJob",
            "rbac.authorization.k8s.io/v1/ClusterRole",
            "apiextensions.k8s.io/v1/CustomResourceDefinition",
        ] {
            assert!(validated.contains(&kind), "{name}: {kind} not validated: {validated:?}");
        }
        // pods/resize only with vertical on.
        assert_eq!(
            v["pods_resize"].as_bool().unwrap(),
            name == "vertical-values.yaml",
            "{name}"
        );
        // The rendered TOML is what `scale train --config` accepts.
        let training = out.path().join(name).join("training.toml");
        scale::train::job::JobSpec::load(&training).unwrap_or_else(|e| panic!("{name}: {e}"));
        let config = std::fs::read_to_string(out.path().join(name).join("config.toml")).unwrap();
        let config: toml::Value = toml::from_str(&config).unwrap_or_else(|e| panic!("{name}: config.toml: {e}"));
        assert_eq!(config["server"]["listen"].as_str(), Some("0.0.0.0:8080"), "{name}");
    }
    assert_eq!(values["knative-values.yaml"]["scale_rules"], serde_json::json!([]));
    assert_eq!(
        values["objectstore-keda-values.yaml"]["structural"],
        serde_json::json!(["monitoring.coreos.com/v1/ServiceMonitor"])
    );
    println!(
        "helm {} / kubernetes {}: {} values files OK",
        summary["helm_sdk"],
        summary["kube_version"],
        values.len()
    );
}
