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
        // And the rendered config.toml is what `scale serve --config` accepts.
        let config = scale::serve::config::ServeConfig::load(&out.path().join(name).join("config.toml"))
            .unwrap_or_else(|e| panic!("{name}: config.toml: {e}"));
        assert_eq!(config.server.listen, "0.0.0.0:8080", "{name}");
        assert!(config.kubernetes.watch_forecastscalers, "{name}");
        serve_can_do_what_serve_does(name, v, &config);
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

/// Every API call serve makes (docs/serve.md, docs/crd.md) is allowed to its ServiceAccount by
/// the rendered roles and bindings, and leader election gets its identity from the downward API.
fn serve_can_do_what_serve_does(name: &str, v: &Value, config: &scale::serve::config::ServeConfig) {
    let access: Vec<&str> = v["serve_access"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    let mut need: Vec<String> = [
        // Events for applied/refused decisions (events.k8s.io/v1).
        "events.k8s.io/events:create",
        // ForecastScalers: listed every resync, status merge-patched after decisions.
        "scale.dev/forecastscalers:list",
        "scale.dev/forecastscalers:watch",
        "scale.dev/forecastscalers:get",
        "scale.dev/forecastscalers/status:patch",
    ]
    .map(String::from)
    .to_vec();
    let leader = v["serve_args"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a == "--leader-elect");
    if leader {
        // actuate::leader: GET the Lease, POST it when missing, PUT to renew or take over.
        need.push("coordination.k8s.io/leases:create in scale-system".into());
        for verb in ["get", "update"] {
            need.push(format!(
                "coordination.k8s.io/leases:{verb}@scale-leader in scale-system"
            ));
        }
        // The identity is the pod name from the downward API.
        assert_eq!(v["serve_env"]["POD_NAME"], "metadata.name", "{name}");
        assert_eq!(v["serve_env"]["POD_NAMESPACE"], "metadata.namespace", "{name}");
        let args: Vec<&str> = v["serve_args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert!(
            args.windows(2).any(|w| w == ["--lease-identity", "$(POD_NAME)"]),
            "{name}: {args:?}"
        );
    }
    match name {
        "default-values.yaml" | "vertical-values.yaml" => {
            for r in ["deployments", "statefulsets", "replicasets"] {
                need.push(format!("apps/{r}/scale:get"));
                need.push(format!("apps/{r}/scale:patch"));
            }
        }
        "knative-values.yaml" => {
            need.push("serving.knative.dev/services:get".into());
            need.push("serving.knative.dev/services:patch".into());
        }
        _ => {}
    }
    if name == "vertical-values.yaml" {
        need.push("core/pods/resize:patch".into());
    }
    // File services' targets: their kind's access is granted too.
    for s in &config.services {
        match s.target.as_ref().map(|t| t.label()) {
            Some("kubernetes") => need.push("apps/deployments/scale:patch".into()),
            Some("knative") => need.push("serving.knative.dev/services:patch".into()),
            _ => {}
        }
    }
    assert_eq!(leader, name != "knative-values.yaml", "{name}");
    for n in &need {
        assert!(
            access.contains(&n.as_str()),
            "{name}: serve needs {n}; granted {access:?}"
        );
    }
}
