//! The training job's `[capacity]` step: spans → per-service windows (polars reader) →
//! [`CapacityModel`] per service, with its capacity at the SLO, for the artifact.

use super::job::CapacitySpec;
use crate::Result;
use crate::capacity::fit::{CapacityModel, TrainedCapacity, observations};
use crate::core::time::parse_duration;
use crate::observe::spans::{ServiceMinute, per_service_minutes, read_spans};
use std::collections::BTreeMap;

/// Fits one model per job service that has spans. A service without spans, or whose spans do
/// not fit, gets none (warned) and serve keeps its configured capacity; an unreadable span file
/// fails the job before anything is written.
pub fn fit_services(spec: &CapacitySpec, services: &[&str]) -> Result<BTreeMap<String, TrainedCapacity>> {
    let slo = spec.slo_seconds()?;
    let window = parse_duration("capacity.window", &spec.window)?;
    let spans = read_spans(&spec.spans)?;
    let mut by_service: BTreeMap<String, Vec<ServiceMinute>> = BTreeMap::new();
    for m in per_service_minutes(&spans, window) {
        by_service.entry(m.service.clone()).or_default().push(m);
    }
    let mut out = BTreeMap::new();
    for &svc in services {
        let span_svc = spec.span_services.get(svc).map_or(svc, String::as_str);
        let Some(minutes) = by_service.get(span_svc) else {
            tracing::warn!(service = svc, spans = %spec.spans.display(), "no spans for {span_svc:?}; no capacity model");
            continue;
        };
        match CapacityModel::fit(&observations(minutes, spec.replicas)) {
            Ok(model) => {
                out.insert(
                    svc.to_string(),
                    TrainedCapacity {
                        slo_seconds: slo,
                        load_per_replica_at_slo: model.capacity_at_slo(slo),
                        source: format!("{} ({span_svc})", spec.spans.display()),
                        model,
                    },
                );
            }
            Err(e) => tracing::warn!(service = svc, "capacity model does not fit: {e}"),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Spans of one service on one pod whose duration grows with the per-minute request count,
    /// like a saturating server: 10..=60 requests per minute, duration 20 ms + 1 ms per request/min.
    fn write_spans(path: &std::path::Path) {
        let mut f = std::fs::File::create(path).unwrap();
        writeln!(
            f,
            "TraceID,SpanID,ParentID,PodName,OperationName,StartTimeUnixNano,Duration"
        )
        .unwrap();
        let mut id = 0;
        for minute in 0..51i64 {
            let n = 10 + minute;
            for k in 0..n {
                id += 1;
                let start = (minute * 60 + k * 60 / n) * 1_000_000_000;
                let dur_us = 20_000 + 1_000 * n + (k % 5) * 100;
                writeln!(f, "t{id},s{id},,checkout-7d9f5c6b8-x2b4c,GET /cart,{start},{dur_us}").unwrap();
            }
        }
    }

    #[test]
    fn fits_per_service_and_maps_names() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("spans.csv");
        write_spans(&path);
        let spec = CapacitySpec {
            spans: path.clone(),
            slo: "60ms".into(),
            window: "1m".into(),
            replicas: None,
            span_services: [("web".to_string(), "checkout".to_string())].into(),
        };
        let fitted = fit_services(&spec, &["web", "absent"]).unwrap();
        assert_eq!(fitted.keys().collect::<Vec<_>>(), ["web"], "absent has no spans");
        let c = &fitted["web"];
        assert!((c.slo_seconds - 0.06).abs() < 1e-12);
        // p95 ≈ 20 ms + 1 ms × requests/min, so 60 ms is met up to ~40 requests/min ≈ 0.67 rps.
        let at_slo = c.load_per_replica_at_slo.expect("the SLO is met at light load");
        assert!((at_slo - 40.0 / 60.0).abs() / (40.0 / 60.0) < 0.1, "{at_slo}");
        // Monotone curve.
        let k = &c.model.isotonic;
        assert!(k.windows(2).all(|w| w[0].2 <= w[1].2), "{k:?}");
    }

    #[test]
    fn unreadable_spans_fail_naming_the_file() {
        let spec = CapacitySpec {
            spans: "/nonexistent/spans.csv".into(),
            slo: "100ms".into(),
            window: "1m".into(),
            replicas: None,
            span_services: Default::default(),
        };
        let err = fit_services(&spec, &["web"]).unwrap_err().to_string();
        assert!(err.contains("/nonexistent/spans.csv"), "{err}");
    }
}
