//! The Grafana dashboard (charts/scale/dashboards/scale.json): the fields Grafana's dashboard
//! model requires, unique panel ids and non-overlapping grid positions, and only the metric
//! names docs/dashboard.md documents.

use serde_json::Value;

const METRICS: [&str; 6] = [
    "scale_forecast_demand",
    "scale_observed_demand",
    "scale_replicas",
    "scale_decisions_total",
    "scale_clamps_total",
    "scale_forecast_abs_error",
];

/// Metric-like identifiers (scale_…) in a PromQL expression.
fn metric_names(expr: &str) -> Vec<String> {
    let mut out = vec![];
    let b = expr.as_bytes();
    let mut i = 0;
    while let Some(pos) = expr[i..].find("scale_") {
        let start = i + pos;
        let mut end = start;
        while end < b.len() && (b[end].is_ascii_alphanumeric() || b[end] == b'_') {
            end += 1;
        }
        if start == 0 || !(b[start - 1].is_ascii_alphanumeric() || b[start - 1] == b'_') {
            out.push(expr[start..end].to_string());
        }
        i = end;
    }
    out
}

#[test]
fn dashboard_has_grafana_required_fields_and_documented_metrics() {
    let repo = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let d: Value =
        serde_json::from_str(&std::fs::read_to_string(repo.join("charts/scale/dashboards/scale.json")).unwrap())
            .unwrap();
    let docs = std::fs::read_to_string(repo.join("docs/dashboard.md")).unwrap();
    assert!(d["uid"].as_str().is_some_and(|u| !u.is_empty() && u.len() <= 40), "uid");
    assert!(d["title"].as_str().is_some_and(|t| !t.is_empty()), "title");
    assert!(d["schemaVersion"].as_u64().is_some_and(|v| v >= 36), "schemaVersion");
    let panels = d["panels"].as_array().unwrap();
    assert!(panels.len() >= 4);
    let mut ids = std::collections::HashSet::new();
    let mut cells = std::collections::HashSet::new();
    let mut used = std::collections::BTreeSet::new();
    for p in panels {
        let id = p["id"].as_u64().expect("panel id");
        assert!(ids.insert(id), "duplicate panel id {id}");
        assert!(p["type"].as_str().is_some_and(|t| !t.is_empty()), "panel {id} type");
        assert!(p["title"].as_str().is_some(), "panel {id} title");
        let g = &p["gridPos"];
        let [x, y, w, h] =
            ["x", "y", "w", "h"].map(|k| g[k].as_u64().unwrap_or_else(|| panic!("panel {id} gridPos.{k}")));
        assert!(w >= 1 && x + w <= 24 && h >= 1, "panel {id} gridPos {g}");
        for cx in x..x + w {
            for cy in y..y + h {
                assert!(cells.insert((cx, cy)), "panel {id} overlaps another at ({cx},{cy})");
            }
        }
        let targets = p["targets"].as_array().unwrap_or_else(|| panic!("panel {id} targets"));
        assert!(!targets.is_empty(), "panel {id} has no targets");
        for t in targets {
            assert!(t["refId"].as_str().is_some(), "panel {id} refId");
            for m in metric_names(t["expr"].as_str().unwrap()) {
                assert!(METRICS.contains(&m.as_str()), "panel {id} uses undocumented metric {m}");
                used.insert(m);
            }
        }
    }
    for m in METRICS {
        assert!(used.contains(m), "dashboard never shows {m}");
        assert!(
            docs.contains(&format!("`{m}")),
            "docs/dashboard.md does not document {m}"
        );
    }
    assert_eq!(
        metric_names("rate(scale_clamps_total{x}[5m]) / my_scale_x"),
        ["scale_clamps_total"]
    );
}
