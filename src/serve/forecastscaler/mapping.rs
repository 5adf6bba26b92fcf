//! ForecastScalers as serve services, pure: a CR → a [`ServiceConfig`], which CR-backed loops
//! to start/restart/stop given a list of CRs, and each CR's `status` from its latest decision.
//! The Kubernetes calls are in [`super::reconcile`].

use crate::actuate::target::{ScaleTargetRef, TargetConfig};
use crate::control::DecisionRecord;
use crate::govern::Mode;
use crate::serve::config::ServiceConfig;
use crate::serve::forecastscaler::crd::{
    Condition, ForecastScaler, ForecastScalerSpec, ForecastScalerStatus, ForecastSummary, LastDecision, MetricType,
};
use crate::{Error, Result};
use std::collections::{BTreeMap, BTreeSet};

/// The CR has no capacity field; demand per replica comes from this annotation.
pub const CAPACITY_ANNOTATION: &str = "scale.dev/capacity-per-replica";

/// One ForecastScaler as a serve service.
#[derive(Debug, Clone)]
pub struct CrService {
    /// `namespace/name`.
    pub key: String,
    pub namespace: String,
    pub name: String,
    pub generation: Option<i64>,
    /// Name `namespace.name` (a namespace has no dots, so it is unambiguous and a valid model
    /// directory name).
    pub service: ServiceConfig,
    pub mode: Mode,
    pub quantile: f64,
    pub horizon: String,
    pub horizon_seconds: i64,
    pub model: String,
    /// What a restart is decided on: the spec and the capacity annotation.
    pub spec: ForecastScalerSpec,
}

fn cr_key(fs: &ForecastScaler) -> (String, String) {
    let ns = fs.metadata.namespace.clone().unwrap_or_default();
    let name = fs.metadata.name.clone().unwrap_or_default();
    (ns, name)
}

/// Maps a ForecastScaler to a service. Errors name the CR (`namespace/name`) and the field.
pub fn to_service(fs: &ForecastScaler) -> Result<CrService> {
    let (ns, name) = cr_key(fs);
    let key = format!("{ns}/{name}");
    let err = |field: &str, msg: String| Error::config(format!("ForecastScaler {key} {field}"), msg);
    if ns.is_empty() {
        return Err(err("metadata.namespace", "must be set".into()));
    }
    if name.is_empty() {
        return Err(err("metadata.name", "must be set".into()));
    }
    fs.spec.validate().map_err(|e| match e {
        Error::Config { field, message, .. } => err(&field, message),
        other => other,
    })?;
    let s = &fs.spec;
    let metric = &s.metrics[0];
    if metric.kind != MetricType::Prometheus {
        return Err(err(
            "spec.metrics[0].type",
            format!(
                "{:?}: serve forecasts from a Prometheus query; put it first",
                metric.kind
            ),
        ));
    }
    let prom = metric.prometheus.as_ref().expect("validated: Prometheus member set");
    if prom.url.is_some() {
        return Err(err(
            "spec.metrics[0].prometheus.url",
            "serve queries its own [source.prometheus] url; leave this unset".into(),
        ));
    }
    let ann = fs
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(CAPACITY_ANNOTATION));
    let afield = format!("metadata.annotations[{CAPACITY_ANNOTATION}]");
    let capacity = match ann {
        None => return Err(err(&afield, "required: demand one replica serves (e.g. \"50\")".into())),
        Some(v) => match v.trim().parse::<f64>() {
            Ok(c) if c > 0.0 && c.is_finite() => c,
            _ => return Err(err(&afield, format!("{v:?} is not a positive number"))),
        },
    };
    let horizon_seconds =
        crate::core::time::parse_duration("spec.forecast.horizon", &s.forecast.horizon).map_err(|_| {
            err(
                "spec.forecast.horizon",
                format!("{:?} is not a duration", s.forecast.horizon),
            )
        })?;
    let (min, max) = (s.min_replicas as u32, s.max_replicas as u32);
    let target = TargetConfig::Kubernetes {
        namespace: ns.clone(),
        scale_target_ref: ScaleTargetRef {
            api_version: s.scale_target_ref.api_version.clone(),
            kind: s.scale_target_ref.kind.clone(),
            name: s.scale_target_ref.name.clone(),
            plural: None,
        },
    };
    target.validate("spec.scaleTargetRef", min).map_err(|e| match e {
        Error::Config { message, .. } => err("spec.scaleTargetRef", message),
        other => other,
    })?;
    Ok(CrService {
        key: key.clone(),
        namespace: ns.clone(),
        name: name.clone(),
        generation: fs.metadata.generation,
        service: ServiceConfig {
            name: format!("{ns}.{name}"),
            query: prom.query.clone(),
            capacity_per_replica: capacity,
            min_replicas: min,
            max_replicas: max,
            target: Some(target),
            scale_in: Some(s.scale_in.into()),
            // spec.vertical is not mapped to serve yet (issue 16).
            vertical: None,
        },
        mode: s.mode.into(),
        quantile: s.forecast.quantile,
        horizon: s.forecast.horizon.clone(),
        horizon_seconds,
        model: s.forecast.model.clone(),
        spec: s.clone(),
    })
}

/// What one reconcile pass does.
#[derive(Debug, Clone)]
pub enum Action {
    Start(Box<CrService>),
    /// The spec (or capacity annotation) changed: stop the old loop, start this one.
    Restart(Box<CrService>),
    /// The CR is gone (or became invalid): stop its loop.
    Stop(String),
    /// Not run; the message goes on the CR's status.
    Reject {
        key: String,
        namespace: String,
        name: String,
        generation: Option<i64>,
        reason: &'static str,
        message: String,
    },
}

/// Pure: from the listed CRs, the running CR loops (by key) and the file services' names,
/// what to start, restart, stop or reject. File services are never touched.
pub fn plan(
    file_services: &BTreeSet<String>,
    running: &BTreeMap<String, CrService>,
    listed: &[ForecastScaler],
) -> Vec<Action> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for fs in listed {
        let (ns, name) = cr_key(fs);
        let key = format!("{ns}/{name}");
        seen.insert(key.clone());
        let reject = |reason, message| Action::Reject {
            key: key.clone(),
            namespace: ns.clone(),
            name: name.clone(),
            generation: fs.metadata.generation,
            reason,
            message,
        };
        let svc = match to_service(fs) {
            Ok(s) => s,
            Err(e) => {
                if running.contains_key(&key) {
                    out.push(Action::Stop(key.clone()));
                }
                out.push(reject("InvalidSpec", e.to_string()));
                continue;
            }
        };
        if file_services.contains(&svc.service.name) {
            out.push(reject(
                "NameCollision",
                format!(
                    "service name {:?} is already a [[service]] in the serve config",
                    svc.service.name
                ),
            ));
            continue;
        }
        match running.get(&key) {
            None => out.push(Action::Start(Box::new(svc))),
            Some(r) if r.spec != svc.spec || r.service.capacity_per_replica != svc.service.capacity_per_replica => {
                out.push(Action::Restart(Box::new(svc)))
            }
            Some(_) => {}
        }
    }
    for key in running.keys().filter(|k| !seen.contains(*k)) {
        out.push(Action::Stop(key.clone()));
    }
    out
}

fn rfc3339(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A condition keeping `prev`'s transition time when its status did not change.
fn condition(
    prev: Option<&ForecastScalerStatus>,
    kind: &str,
    ok: bool,
    reason: &str,
    message: String,
    generation: Option<i64>,
    now: i64,
) -> Condition {
    let status = if ok { "True" } else { "False" }.to_string();
    let since = prev
        .and_then(|p| p.conditions.iter().find(|c| c.kind == kind))
        .filter(|c| c.status == status)
        .map(|c| c.last_transition_time.clone())
        .unwrap_or_else(|| rfc3339(now));
    Condition {
        kind: kind.into(),
        status,
        observed_generation: generation,
        last_transition_time: since,
        reason: reason.into(),
        message,
    }
}

/// Pure: the status after a decision for `svc`. Conditions: `Ready` (the tick had demand and the
/// actuation did not fail), `Active` (forecast used in Auto mode), `Error` (the failure message).
pub fn status_for(
    prev: Option<&ForecastScalerStatus>,
    svc: &CrService,
    d: &DecisionRecord,
    model_version: Option<String>,
) -> ForecastScalerStatus {
    let last = d.steps.last();
    let reason = last.map_or("NoDecision".to_string(), |s| s.step.clone());
    let message = d
        .steps
        .iter()
        .map(|s| format!("{}={}", s.step, s.value))
        .collect::<Vec<_>>()
        .join(" ");
    let g = svc.generation;
    let failure = d.actuation_error.clone().or_else(|| {
        d.demand
            .is_none()
            .then(|| "no demand data from the metric query".to_string())
    });
    let active = d.mode == Mode::Auto && d.forecast_peak.is_some();
    let active_reason = match (d.mode, d.forecast_peak.is_some()) {
        (Mode::Auto, true) => "ForecastApplied",
        (Mode::Auto, false) => "ForecastSkipped",
        (Mode::ForecastOnly, _) => "ForecastOnly",
        (Mode::Off, _) => "Off",
    };
    let skipped = d
        .forecast_skipped
        .as_ref()
        .map(|n| format!("forecast skipped: {n:?}"))
        .unwrap_or_default();
    ForecastScalerStatus {
        observed_generation: g,
        last_decision: Some(LastDecision {
            time: rfc3339(d.time),
            current_replicas: d.current_replicas as i32,
            desired_replicas: d.desired_replicas as i32,
            applied: d.applied,
            reason,
            message,
        }),
        forecast: d.forecast_peak.map(|peak| ForecastSummary {
            generated_at: rfc3339(d.time),
            horizon: svc.horizon.clone(),
            quantile: d.forecast_quantile,
            peak,
            model: svc.model.clone(),
            model_version,
        }),
        conditions: vec![
            condition(
                prev,
                "Ready",
                failure.is_none(),
                if d.actuation_error.is_some() {
                    "ActuationFailed"
                } else if failure.is_some() {
                    "NoDemand"
                } else {
                    "Decided"
                },
                String::new(),
                g,
                d.time,
            ),
            condition(prev, "Active", active, active_reason, skipped, g, d.time),
            condition(
                prev,
                "Error",
                failure.is_some(),
                if failure.is_some() { "Failed" } else { "None" },
                failure.unwrap_or_default(),
                g,
                d.time,
            ),
        ],
    }
}

/// Pure: the status of a CR that is not run (invalid spec, name collision).
pub fn rejected_status(
    prev: Option<&ForecastScalerStatus>,
    generation: Option<i64>,
    reason: &str,
    message: &str,
    now: i64,
) -> ForecastScalerStatus {
    ForecastScalerStatus {
        observed_generation: generation,
        last_decision: prev.and_then(|p| p.last_decision.clone()),
        forecast: prev.and_then(|p| p.forecast.clone()),
        conditions: vec![
            condition(prev, "Ready", false, reason, message.into(), generation, now),
            condition(prev, "Active", false, reason, String::new(), generation, now),
            condition(prev, "Error", true, reason, message.into(), generation, now),
        ],
    }
}

/// Pure: whether `new` is worth a write over `old`. The decision and forecast times move every
/// tick and the peak drifts; ignoring them (and peak changes under 1%) keeps one write per real
/// change instead of one per tick per CR.
pub fn status_changed(old: Option<&ForecastScalerStatus>, new: &ForecastScalerStatus) -> bool {
    let Some(old) = old else { return true };
    let strip = |s: &ForecastScalerStatus| {
        let mut s = s.clone();
        if let Some(d) = &mut s.last_decision {
            d.time.clear();
        }
        if let Some(f) = &mut s.forecast {
            f.generated_at.clear();
            f.peak = 0.0;
        }
        s
    };
    let peak_moved = match (&old.forecast, &new.forecast) {
        (Some(a), Some(b)) => (a.peak - b.peak).abs() > 0.01 * a.peak.abs().max(b.peak.abs()),
        _ => false,
    };
    peak_moved || strip(old) != strip(new)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::{Value, json};

    pub(crate) fn cr(ns: &str, name: &str, capacity: Option<&str>, spec: Value) -> ForecastScaler {
        let mut meta = json!({"name": name, "namespace": ns, "generation": 3});
        if let Some(c) = capacity {
            meta["annotations"] = json!({ CAPACITY_ANNOTATION: c });
        }
        serde_json::from_value(json!({
            "apiVersion": "scale.dev/v1alpha1", "kind": "ForecastScaler",
            "metadata": meta, "spec": spec
        }))
        .unwrap()
    }

    pub(crate) fn spec() -> Value {
        json!({
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 2, "maxReplicas": 20,
            "metrics": [{"type": "Prometheus", "prometheus": {"query": "sum(rate(x[1m]))"}}],
            "forecast": {"horizon": "30m", "quantile": 0.95, "model": "ets"},
            "mode": "Auto"
        })
    }

    pub(crate) fn with(f: impl Fn(&mut Value)) -> Value {
        let mut s = spec();
        f(&mut s);
        s
    }

    #[test]
    fn maps_a_forecastscaler_to_a_service() {
        let s = to_service(&cr("shop", "web", Some("50"), spec())).unwrap();
        assert_eq!(s.key, "shop/web");
        assert_eq!(s.service.name, "shop.web");
        assert_eq!(s.service.query, "sum(rate(x[1m]))");
        assert_eq!(s.service.capacity_per_replica, 50.0);
        assert_eq!((s.service.min_replicas, s.service.max_replicas), (2, 20));
        assert_eq!(
            s.service.target,
            Some(TargetConfig::Kubernetes {
                namespace: "shop".into(),
                scale_target_ref: ScaleTargetRef {
                    api_version: "apps/v1".into(),
                    kind: "Deployment".into(),
                    name: "web".into(),
                    plural: None
                }
            })
        );
        assert_eq!(
            (s.mode, s.quantile, s.horizon_seconds, s.model.as_str()),
            (Mode::Auto, 0.95, 1800, "ets")
        );
        assert_eq!(s.generation, Some(3));
    }

    #[test]
    fn mapping_errors_name_the_cr_and_field() {
        let cases: Vec<(&str, Option<&str>, Value, &str)> = vec![
            (
                "no annotation",
                None,
                spec(),
                "ForecastScaler shop/web metadata.annotations[scale.dev/capacity-per-replica]",
            ),
            (
                "bad annotation",
                Some("-3"),
                spec(),
                "metadata.annotations[scale.dev/capacity-per-replica]: \"-3\"",
            ),
            (
                "min > max",
                Some("5"),
                with(|s| s["minReplicas"] = json!(30)),
                "ForecastScaler shop/web spec.minReplicas: 30 is above",
            ),
            (
                "traces first",
                Some("5"),
                with(|s| s["metrics"] = json!([{"type": "Traces", "traces": {"service": "web"}}])),
                "shop/web spec.metrics[0].type",
            ),
            (
                "own url",
                Some("5"),
                with(|s| s["metrics"][0]["prometheus"]["url"] = json!("http://p:9090")),
                "spec.metrics[0].prometheus.url",
            ),
            (
                "bad horizon",
                Some("5"),
                with(|s| s["forecast"]["horizon"] = json!("soon")),
                "shop/web spec.forecast.horizon",
            ),
            (
                "bad quantile",
                Some("5"),
                with(|s| s["forecast"]["quantile"] = json!(0.2)),
                "shop/web spec.forecast.quantile",
            ),
            (
                "unknown kind",
                Some("5"),
                with(|s| s["scaleTargetRef"]["kind"] = json!("Widget")),
                "shop/web spec.scaleTargetRef",
            ),
        ];
        for (what, cap, s, want) in cases {
            let e = to_service(&cr("shop", "web", cap, s)).unwrap_err().to_string();
            assert!(e.contains(want), "{what}: {e}");
        }
    }

    fn running(fs: &[ForecastScaler]) -> BTreeMap<String, CrService> {
        fs.iter()
            .map(|f| to_service(f).unwrap())
            .map(|s| (s.key.clone(), s))
            .collect()
    }

    pub(crate) fn summary(actions: &[Action]) -> Vec<String> {
        actions
            .iter()
            .map(|a| match a {
                Action::Start(s) => format!("start {}", s.key),
                Action::Restart(s) => format!("restart {}", s.key),
                Action::Stop(k) => format!("stop {k}"),
                Action::Reject { key, reason, .. } => format!("reject {key} {reason}"),
            })
            .collect()
    }

    #[test]
    fn plan_starts_restarts_stops_and_rejects() {
        let web = cr("shop", "web", Some("50"), spec());
        let api = cr("shop", "api", Some("50"), spec());
        let old = cr("shop", "old", Some("50"), spec());
        let web2 = cr("shop", "web", Some("50"), with(|s| s["maxReplicas"] = json!(30)));
        let api_cap = cr("shop", "api", Some("80"), spec());
        let clash = cr("team", "web", Some("50"), spec());
        let files: BTreeSet<String> = ["team.web".to_string()].into();
        let bad = cr("shop", "api", None, spec());
        type Case<'a> = (&'a str, Vec<ForecastScaler>, Vec<ForecastScaler>, Vec<&'a str>);
        let cases: Vec<Case> = vec![
            ("new", vec![], vec![web.clone()], vec!["start shop/web"]),
            ("unchanged", vec![web.clone()], vec![web.clone()], vec![]),
            (
                "spec changed",
                vec![web.clone()],
                vec![web2.clone()],
                vec!["restart shop/web"],
            ),
            (
                "capacity changed",
                vec![api.clone()],
                vec![api_cap],
                vec!["restart shop/api"],
            ),
            (
                "deleted",
                vec![web.clone(), old.clone()],
                vec![web.clone()],
                vec!["stop shop/old"],
            ),
            ("collision", vec![], vec![clash], vec!["reject team/web NameCollision"]),
            (
                "became invalid",
                vec![api.clone()],
                vec![bad],
                vec!["stop shop/api", "reject shop/api InvalidSpec"],
            ),
        ];
        for (what, run, listed, want) in cases {
            assert_eq!(summary(&plan(&files, &running(&run), &listed)), want, "{what}");
        }
    }

    pub(crate) fn decision(desired: u32, peak: Option<f64>, err: Option<&str>) -> DecisionRecord {
        DecisionRecord {
            time: 1_700_000_000,
            policy: crate::control::PolicyKind::Predictive,
            mode: Mode::Auto,
            current_replicas: 2,
            ready_replicas: 2,
            demand: Some(120.0),
            metric_age_seconds: 10,
            reactive: Some(3),
            predictive: Some(desired),
            forecast_peak: peak,
            forecast_quantile: 0.95,
            forecast_skipped: None,
            steps: vec![crate::core::reason::Step::new(
                "final",
                desired,
                crate::core::reason::Reason::DesiredWithinRange,
            )],
            safety_floor: None,
            burst: None,
            trend_demand: None,
            forecast_bias: None,
            rule: None,
            desired_replicas: desired,
            applied: err.is_none(),
            actuation_error: err.map(String::from),
        }
    }

    #[test]
    fn rejected_status_carries_the_message() {
        let s = rejected_status(
            None,
            Some(4),
            "NameCollision",
            "service name \"team.web\" is taken",
            1_700_000_000,
        );
        assert_eq!(s.observed_generation, Some(4));
        let by = |k: &str| s.conditions.iter().find(|c| c.kind == k).unwrap().clone();
        assert_eq!(
            (by("Ready").status.as_str(), by("Ready").reason.as_str()),
            ("False", "NameCollision")
        );
        assert_eq!(by("Error").status, "True");
        assert!(by("Error").message.contains("team.web"));
        assert!(!status_changed(Some(&s), &s));
    }
}
