//! The ForecastScaler CRD: `scale crd` prints a CustomResourceDefinition that parses back with
//! the right names and schema, and the example manifest is a valid ForecastScaler.

use std::path::Path;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use scale::serve::forecastscaler::crd::{MetricType, ScalerMode, parse_manifest};

fn example_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/forecastscaler.yaml")
}

#[test]
fn scale_crd_prints_a_parseable_crd() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_scale"))
        .arg("crd")
        .output()
        .expect("run scale crd");
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text, scale::serve::forecastscaler::crd::crd_yaml().unwrap());
    let crd: CustomResourceDefinition = serde_yaml_ng::from_str(&text).expect("YAML is a CRD");
    assert_eq!(crd.metadata.name.as_deref(), Some("forecastscalers.scale.dev"));
    let spec = &crd.spec;
    assert_eq!(spec.group, "scale.dev");
    assert_eq!(spec.scope, "Namespaced");
    assert_eq!(spec.names.kind, "ForecastScaler");
    assert_eq!(spec.names.plural, "forecastscalers");
    assert_eq!(spec.names.short_names.as_deref(), Some(&["fs".to_string()][..]));
    assert_eq!(spec.versions.len(), 1);
    let v = &spec.versions[0];
    assert_eq!((v.name.as_str(), v.served, v.storage), ("v1alpha1", true, true));
    let sub = v.subresources.as_ref().expect("subresources");
    assert!(sub.status.is_some(), "status subresource");
    assert!(sub.scale.is_none(), "no scale subresource");

    // The schema, as JSON, for path lookups.
    let schema = serde_json::to_value(v.schema.as_ref().unwrap().open_api_v3_schema.as_ref().unwrap()).unwrap();
    let spec_schema = &schema["properties"]["spec"];
    for field in [
        "scaleTargetRef",
        "minReplicas",
        "maxReplicas",
        "behavior",
        "metrics",
        "forecast",
        "mode",
        "vertical",
    ] {
        assert!(
            spec_schema["properties"][field].is_object(),
            "spec.{field} missing from schema"
        );
    }
    let required: Vec<&str> = spec_schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    for field in ["scaleTargetRef", "maxReplicas", "metrics"] {
        assert!(
            required.contains(&field),
            "spec.{field} should be required: {required:?}"
        );
    }
    let rules = spec_schema["x-kubernetes-validations"].to_string();
    assert!(rules.contains("self.minReplicas <= self.maxReplicas"), "{rules}");
    let modes = spec_schema["properties"]["mode"]["enum"].to_string();
    assert_eq!(modes, r#"["Off","ForecastOnly","Auto"]"#);
    let behavior = &spec_schema["properties"]["behavior"]["properties"];
    assert_eq!(
        behavior["scaleDown"]["properties"]["policies"]["items"]["properties"]["type"]["enum"].to_string(),
        r#"["Pods","Percent"]"#
    );
    let status = &schema["properties"]["status"]["properties"];
    for field in ["lastDecision", "forecast", "conditions"] {
        assert!(status[field].is_object(), "status.{field} missing from schema");
    }
    let cond = status["conditions"]["items"]["properties"].as_object().unwrap();
    for field in [
        "type",
        "status",
        "lastTransitionTime",
        "reason",
        "message",
        "observedGeneration",
    ] {
        assert!(cond.contains_key(field), "Condition.{field}");
    }
}

#[test]
fn example_manifest_is_a_valid_forecastscaler() {
    let path = example_path();
    let text = std::fs::read_to_string(&path).unwrap();
    let fs = parse_manifest(&path, &text).unwrap();
    assert_eq!(fs.metadata.name.as_deref(), Some("web"));
    let s = &fs.spec;
    assert_eq!(
        (s.scale_target_ref.kind.as_str(), s.scale_target_ref.name.as_str()),
        ("Deployment", "web")
    );
    assert_eq!((s.min_replicas, s.max_replicas), (2, 20));
    assert_eq!(s.mode, ScalerMode::ForecastOnly);
    assert_eq!(s.metrics.len(), 2);
    assert_eq!(s.metrics[0].kind, MetricType::Prometheus);
    assert_eq!(s.forecast.quantile, 0.9);
    let behavior = s.behavior.as_ref().unwrap();
    assert_eq!(
        behavior.scale_down.as_ref().unwrap().stabilization_window_seconds,
        Some(300)
    );
    assert_eq!(s.vertical.as_ref().unwrap().container, "app");
    // The governor understands the behavior as written.
    assert!(scale::reactive::hpa::behavior::BehaviorConfig::from_spec(Some(behavior)).is_ok());
}

#[test]
fn defaults_apply_when_fields_are_omitted() {
    let text = "apiVersion: scale.dev/v1alpha1\nkind: ForecastScaler\nmetadata: {name: w}\nspec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: w}\n  maxReplicas: 4\n  metrics: [{type: Traces, traces: {service: w}}]\n";
    let fs = parse_manifest(Path::new("w.yaml"), text).unwrap();
    assert_eq!(fs.spec.min_replicas, 1);
    assert_eq!(fs.spec.mode, ScalerMode::ForecastOnly);
    assert_eq!(
        (
            fs.spec.forecast.horizon.as_str(),
            fs.spec.forecast.quantile,
            fs.spec.forecast.model.as_str()
        ),
        ("1h", 0.5, "auto")
    );
    assert_eq!(
        fs.spec.scale_in,
        scale::serve::forecastscaler::crd::ScaleInMode::Reactive
    );
}

#[test]
fn invalid_manifests_name_the_field() {
    let base = std::fs::read_to_string(example_path()).unwrap();
    // (edit of the example, expected error text)
    let cases: Vec<(&str, &str, &str)> = vec![
        (
            "minReplicas: 2",
            "minReplicas: 30",
            "spec.minReplicas: 30 is above maxReplicas 20",
        ),
        ("maxReplicas: 20", "maxReplicas: 0", "spec.maxReplicas: 0 is below 1"),
        (
            "quantile: 0.9",
            "quantile: 1.5",
            "spec.forecast.quantile: 1.5 is outside [0.5, 0.999]",
        ),
        ("horizon: 1h", "horizon: soon", "spec.forecast.horizon"),
        (
            "service: web\n        signal",
            "service: \"\"\n        signal",
            "spec.metrics[1]: type Traces needs traces.service",
        ),
        (
            "cpu: 100m",
            "cpu: lots",
            "spec.vertical.minAllowed.cpu: \"lots\" is not a quantity",
        ),
        ("mode: ForecastOnly", "mode: Sometimes", "forecastscaler.yaml:"),
        (
            "kind: ForecastScaler",
            "kind: HorizontalPodAutoscaler",
            "expected apiVersion scale.dev/v1alpha1, kind ForecastScaler",
        ),
    ];
    for (from, to, want) in cases {
        assert!(base.contains(from), "example lacks {from:?}");
        let text = base.replacen(from, to, 1);
        let err = parse_manifest(&example_path(), &text)
            .err()
            .unwrap_or_else(|| panic!("{to:?} accepted"))
            .to_string();
        assert!(err.contains(want), "{to:?}: {err}");
        assert!(
            err.contains("forecastscaler.yaml"),
            "{to:?}: error should name the file: {err}"
        );
    }
}

/// The chart ships the CRD that `scale crd` prints; regenerate with
/// `cargo run -- crd > charts/scale/crds/forecastscalers.scale.dev.yaml`.
#[test]
fn chart_crd_is_the_generated_one() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_scale"))
        .arg("crd")
        .output()
        .unwrap();
    assert!(out.status.success());
    let shipped = std::fs::read_to_string(root.join("charts/scale/crds/forecastscalers.scale.dev.yaml")).unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), shipped, "chart CRD is stale");
}
