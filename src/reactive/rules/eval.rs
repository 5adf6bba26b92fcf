//! Rule evaluation: pure, clock injected. Per-window latencies of the rule's service →
//! a replica recommendation with a reason, which then goes through the governor as the
//! reactive input (`govern::rules`), never straight to the actuator.

use super::spec::{Rule, format_latency};
use crate::core::time::format_duration;
use crate::observe::spans::{ServiceMinute, Span, nearest_rank, per_service_minutes};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One window's latency statistic (the rule's percentile) for the rule's service.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Observation {
    /// Window start, unix seconds.
    pub start: i64,
    /// Window length, seconds.
    pub seconds: i64,
    /// The rule's percentile over the window, seconds.
    pub latency: f64,
    /// Requests (spans) in the window.
    pub requests: usize,
}

impl Observation {
    /// Window end, unix seconds (exclusive): the window is complete from then on.
    pub fn end(&self) -> i64 {
        self.start + self.seconds
    }
}

/// What a rule's evaluation asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Action {
    /// Above the upper bound often enough: add `step` replicas.
    Up,
    /// Below the lower bound often enough: remove `step` replicas.
    Down,
    /// Within bounds, or a breach not yet repeated `breaches.count` times.
    Hold,
    /// No complete window for the service: no recommendation.
    NoData,
}

/// Which bound a window breached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bound {
    /// Above `upperBound`.
    Upper,
    /// Below `lowerBound`.
    Lower,
}

impl Bound {
    /// `upper` or `lower`, as records and metric labels spell it.
    pub fn label(self) -> &'static str {
        match self {
            Bound::Upper => "upper",
            Bound::Lower => "lower",
        }
    }
}

/// One rule's recommendation at one time, the governor's reactive input.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recommendation {
    /// Desired replicas before the governor; `None` without data.
    pub desired: Option<u32>,
    /// The direction, or why there is none.
    pub action: Action,
    /// e.g. `p95 612ms > upperBound 500ms, 3 breaches in 5m`.
    pub reason: String,
    /// The latest window's statistic, seconds.
    pub observed: Option<f64>,
    /// Age of the latest complete window at `now` (for the governor's staleness bound).
    pub metric_age_seconds: Option<i64>,
    /// The bound the latest window breached; None within the bounds or without data.
    pub bound: Option<Bound>,
    /// Windows that breached that bound within `breaches.window` (1 without a window).
    pub breaches: u32,
    /// Start of the latest complete window, unix seconds.
    pub window_start: Option<i64>,
}

/// A rule's verdict as the decision record carries it (`rule: {…}`), and the governor's input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleRecord {
    /// `metadata.name`.
    pub name: String,
    /// The statistic compared: `p50`, `p95` or `p99`.
    pub percentile: String,
    /// The latest complete window's statistic, seconds.
    pub observed_seconds: Option<f64>,
    /// The bound it breached (`upper`, `lower`), or null within the bounds.
    pub bound: Option<Bound>,
    /// Breaching windows of that bound within `breaches.window`.
    pub breaches: u32,
    /// What the rule asks for before the governor; null without data.
    pub desired: Option<u32>,
    /// Age of the latest complete window, seconds.
    pub metric_age_seconds: Option<i64>,
    /// e.g. `p95 612ms > upperBound 500ms, 3 breaches in 5m`.
    pub reason: String,
}

impl RuleRecord {
    /// The record of `rule`'s recommendation `rec`.
    pub fn of(rule: &Rule, rec: &Recommendation) -> Self {
        RuleRecord {
            name: rule.name.clone(),
            percentile: rule.percentile.to_string(),
            observed_seconds: rec.observed,
            bound: rec.bound,
            breaches: rec.breaches,
            desired: rec.desired,
            metric_age_seconds: rec.metric_age_seconds,
            reason: rec.reason.clone(),
        }
    }
}

/// The rule's observations from per-service windows (`window_seconds` long). Uses every request
/// of the service (entry spans); `spec.operations` needs raw spans, see [`observe_spans`].
pub fn observe_minutes(rule: &Rule, minutes: &[ServiceMinute], window_seconds: i64) -> Vec<Observation> {
    let mut out: Vec<Observation> = minutes
        .iter()
        .filter(|m| m.service == rule.service)
        .map(|m| Observation {
            start: m.minute,
            seconds: window_seconds.max(1),
            latency: match rule.percentile {
                super::spec::Percentile::P50 => m.p50,
                super::spec::Percentile::P95 => m.p95,
                super::spec::Percentile::P99 => m.p99,
            },
            requests: m.requests,
        })
        .filter(|o| o.latency.is_finite())
        .collect();
    out.sort_by_key(|o| o.start);
    out
}

/// The rule's observations from raw spans. Without `spec.operations`: the service's requests
/// (entry spans, as [`per_service_minutes`] counts them). With it: every span of the service
/// whose operation matches a filter, whether or not it is an entry span.
pub fn observe_spans(rule: &Rule, spans: &[Span], window_seconds: i64) -> Vec<Observation> {
    let window = window_seconds.max(1);
    if rule.operations.is_empty() {
        let mine: Vec<Span> = spans.iter().filter(|s| s.service == rule.service).cloned().collect();
        // Parents in other services are absent from `mine`, so entry spans stay entry spans.
        return observe_minutes(rule, &per_service_minutes(&mine, window), window);
    }
    let mut groups: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
    for s in spans
        .iter()
        .filter(|s| s.service == rule.service && rule.operations.iter().any(|f| f.matches(&s.operation)))
    {
        let t = s.start_ns.div_euclid(1_000_000_000).div_euclid(window) * window;
        groups.entry(t).or_default().push(s.duration);
    }
    groups
        .into_iter()
        .map(|(start, mut d)| {
            d.sort_by(f64::total_cmp);
            Observation {
                start,
                seconds: window,
                latency: nearest_rank(&d, rule.percentile.quantile()),
                requests: d.len(),
            }
        })
        .collect()
}

/// Evaluates `rule` at `now` over `observations` (any order; windows not yet complete at `now`
/// are ignored). The latest complete window decides the direction; it acts only once
/// `breaches.count` windows ending within `breaches.window` (just the latest without a window)
/// breached the same bound. Up adds `step`, down removes `step` (floored at 0; the governor
/// applies minReplicas).
pub fn evaluate(rule: &Rule, observations: &[Observation], current: u32, now: i64) -> Recommendation {
    let done: Vec<&Observation> = observations
        .iter()
        .filter(|o| o.end() <= now && o.latency.is_finite())
        .collect();
    let Some(latest) = done.iter().max_by_key(|o| o.start) else {
        return Recommendation {
            desired: None,
            action: Action::NoData,
            reason: format!("no complete latency window for service {}", rule.service),
            observed: None,
            metric_age_seconds: None,
            bound: None,
            breaches: 0,
            window_start: None,
        };
    };
    let p = rule.percentile;
    let v = latest.latency;
    let (up, down) = (
        |x: f64| x > rule.upper_seconds,
        |x: f64| rule.lower_seconds.is_some_and(|l| x < l),
    );
    let hold = |reason: String, bound: Option<Bound>, breaches: u32| Recommendation {
        desired: Some(current),
        action: Action::Hold,
        reason,
        observed: Some(v),
        metric_age_seconds: Some(now - latest.end()),
        bound,
        breaches,
        window_start: Some(latest.start),
    };
    let (breach, which, bound, action, desired): (&dyn Fn(f64) -> bool, Bound, String, Action, u32) = if up(v) {
        (
            &up,
            Bound::Upper,
            format!("> upperBound {}", format_latency(rule.upper_seconds)),
            Action::Up,
            current.saturating_add(rule.step),
        )
    } else if down(v) {
        (
            &down,
            Bound::Lower,
            format!("< lowerBound {}", format_latency(rule.lower_seconds.unwrap_or(0.0))),
            Action::Down,
            current.saturating_sub(rule.step),
        )
    } else {
        let range = match rule.lower_seconds {
            Some(l) => format!("within [{}, {}]", format_latency(l), format_latency(rule.upper_seconds)),
            None => format!("≤ upperBound {}", format_latency(rule.upper_seconds)),
        };
        return hold(format!("{p} {} {range}", format_latency(v)), None, 0);
    };
    let head = format!("{p} {} {bound}", format_latency(v));
    let need = rule.breaches.count;
    let Some(w) = rule.breaches.window_seconds else {
        return Recommendation {
            desired: Some(desired),
            action,
            reason: head,
            observed: Some(v),
            metric_age_seconds: Some(now - latest.end()),
            bound: Some(which),
            breaches: 1,
            window_start: Some(latest.start),
        };
    };
    let count = done.iter().filter(|o| o.end() > now - w && breach(o.latency)).count() as u32;
    let window = format_duration(w);
    if count < need {
        return hold(
            format!("{head}, {count} of {need} breaches in {window}: holding"),
            Some(which),
            count,
        );
    }
    Recommendation {
        desired: Some(desired),
        action,
        reason: format!("{head}, {count} breaches in {window}"),
        observed: Some(v),
        metric_age_seconds: Some(now - latest.end()),
        bound: Some(which),
        breaches: count,
        window_start: Some(latest.start),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reactive::rules::spec::{OperationFilter, Percentile, parse_rules};
    use std::path::Path;

    fn rule(extra: &str) -> Rule {
        let text = format!(
            "apiVersion: scale.autoscaling/v1\nkind: LatencyBasedAutoScaler\nmetadata:\n  name: r\nspec:\n  target:\n    serviceName: frontend\n    deploymentName: frontend\n  latencyThreshold:\n    upperBound: 500ms\n    lowerBound: 100ms\n{extra}"
        );
        parse_rules(Path::new("r.yaml"), &text).unwrap().remove(0)
    }

    /// 60 s windows from t=0 with these latencies (ms).
    fn obs(ms: &[f64]) -> Vec<Observation> {
        ms.iter()
            .enumerate()
            .map(|(i, v)| Observation {
                start: i as i64 * 60,
                seconds: 60,
                latency: v / 1e3,
                requests: 10,
            })
            .collect()
    }

    #[test]
    fn evaluation_table() {
        let three_in_5m = "  breaches: {count: 3, window: 5m}\n";
        // (case, extra spec, latencies ms, current, now, desired, action, reason)
        type Case = (
            &'static str,
            &'static str,
            Vec<f64>,
            u32,
            i64,
            Option<u32>,
            Action,
            &'static str,
        );
        let cases: Vec<Case> = vec![
            (
                "above upper",
                "",
                vec![612.0],
                3,
                60,
                Some(4),
                Action::Up,
                "p95 612ms > upperBound 500ms",
            ),
            (
                "below lower",
                "",
                vec![80.0],
                3,
                60,
                Some(2),
                Action::Down,
                "p95 80ms < lowerBound 100ms",
            ),
            (
                "within",
                "",
                vec![300.0],
                3,
                60,
                Some(3),
                Action::Hold,
                "p95 300ms within [100ms, 500ms]",
            ),
            (
                "equal to upper is not a breach",
                "",
                vec![500.0],
                3,
                60,
                Some(3),
                Action::Hold,
                "within",
            ),
            (
                "equal to lower is not a breach",
                "",
                vec![100.0],
                3,
                60,
                Some(3),
                Action::Hold,
                "within",
            ),
            ("step", "  step: 3\n", vec![612.0], 3, 60, Some(6), Action::Up, "612ms"),
            (
                "down floors at 0",
                "  step: 5\n",
                vec![1.0],
                3,
                60,
                Some(0),
                Action::Down,
                "< lowerBound",
            ),
            (
                "incomplete window ignored",
                "",
                vec![300.0, 900.0],
                3,
                119,
                Some(3),
                Action::Hold,
                "300ms",
            ),
            (
                "latest window decides",
                "",
                vec![900.0, 300.0],
                3,
                120,
                Some(3),
                Action::Hold,
                "300ms",
            ),
            (
                "no data",
                "",
                vec![],
                3,
                60,
                None,
                Action::NoData,
                "no complete latency window for service frontend",
            ),
            (
                "not yet complete",
                "",
                vec![612.0],
                3,
                59,
                None,
                Action::NoData,
                "no complete",
            ),
            (
                "3 breaches in 5m",
                three_in_5m,
                vec![612.0, 700.0, 300.0, 650.0],
                3,
                240,
                Some(4),
                Action::Up,
                "p95 650ms > upperBound 500ms, 3 breaches in 5m",
            ),
            (
                "2 of 3: hold",
                three_in_5m,
                vec![300.0, 700.0, 300.0, 650.0],
                3,
                240,
                Some(3),
                Action::Hold,
                "p95 650ms > upperBound 500ms, 2 of 3 breaches in 5m: holding",
            ),
            (
                "breaches older than the window do not count",
                three_in_5m,
                vec![900.0, 900.0, 300.0, 300.0, 300.0, 300.0, 650.0, 700.0],
                3,
                480,
                Some(3),
                Action::Hold,
                "2 of 3",
            ),
            (
                "breaching the other bound does not count",
                three_in_5m,
                vec![50.0, 50.0, 700.0],
                3,
                180,
                Some(3),
                Action::Hold,
                "1 of 3",
            ),
            (
                "the latest window must breach",
                three_in_5m,
                vec![700.0, 700.0, 700.0, 300.0],
                3,
                240,
                Some(3),
                Action::Hold,
                "300ms within",
            ),
            (
                "scale-down counts too",
                three_in_5m,
                vec![50.0, 50.0, 50.0],
                3,
                180,
                Some(2),
                Action::Down,
                "3 breaches in 5m",
            ),
            (
                "p50",
                "  percentile: p50\n",
                vec![612.0],
                3,
                60,
                Some(4),
                Action::Up,
                "p50 612ms",
            ),
        ];
        for (case, extra, ms, current, now, desired, action, reason) in cases {
            let r = rule(extra);
            let rec = evaluate(&r, &obs(&ms), current, now);
            assert_eq!((rec.desired, rec.action), (desired, action), "{case}: {rec:?}");
            assert!(rec.reason.contains(reason), "{case}: {}", rec.reason);
        }
    }

    #[test]
    fn no_lower_bound_never_scales_down() {
        let mut r = rule("");
        r.lower_seconds = None;
        let rec = evaluate(&r, &obs(&[1.0]), 3, 60);
        assert_eq!((rec.desired, rec.action), (Some(3), Action::Hold));
        assert_eq!(rec.reason, "p95 1ms ≤ upperBound 500ms");
    }

    #[test]
    fn observations_from_windows_and_from_operations() {
        let minutes = vec![
            ServiceMinute {
                service: "frontend".into(),
                minute: 60,
                requests: 5,
                rate: 5.0 / 60.0,
                p50: 0.1,
                p95: 0.4,
                p99: 0.9,
                errors: 0,
                pods: 1,
            },
            ServiceMinute {
                service: "cart".into(),
                minute: 60,
                requests: 5,
                rate: 0.1,
                p50: 9.0,
                p95: 9.0,
                p99: 9.0,
                errors: 0,
                pods: 1,
            },
        ];
        let mut r = rule("");
        for (p, want) in [(Percentile::P50, 0.1), (Percentile::P95, 0.4), (Percentile::P99, 0.9)] {
            r.percentile = p;
            let o = observe_minutes(&r, &minutes, 60);
            assert_eq!(o.len(), 1);
            assert_eq!(
                (o[0].start, o[0].seconds, o[0].latency, o[0].requests),
                (60, 60, want, 5)
            );
        }
        let span = |id: &str, parent: Option<&str>, svc: &str, op: &str, start_s: i64, ms: f64| Span {
            trace_id: "t".into(),
            span_id: id.into(),
            parent_id: parent.map(Into::into),
            pod: svc.into(),
            service: svc.into(),
            operation: op.into(),
            start_ns: start_s * 1_000_000_000,
            duration: ms / 1e3,
            error: false,
        };
        let spans = vec![
            span("a", None, "frontend", "Recv", 61, 200.0),
            span("b", Some("a"), "frontend", "GET /api/cart", 61, 900.0),
            span("c", Some("b"), "cart", "GetCart", 61, 800.0),
            span("d", None, "frontend", "Recv", 125, 50.0),
            span("e", Some("d"), "frontend", "GET /api/x", 125, 700.0),
            span("f", Some("d"), "frontend", "GET /other", 125, 9000.0),
        ];
        // All requests: entry spans only (a, d); the internal client spans do not count.
        let all = observe_spans(&r, &spans, 60);
        assert_eq!(
            all.iter().map(|o| (o.start, o.latency, o.requests)).collect::<Vec<_>>(),
            [(60, 0.2, 1), (120, 0.05, 1)]
        );
        r.operations = vec![OperationFilter::Prefix("GET /api/".into())];
        let ops = observe_spans(&r, &spans, 60);
        assert_eq!(
            ops.iter().map(|o| (o.start, o.latency, o.requests)).collect::<Vec<_>>(),
            [(60, 0.9, 1), (120, 0.7, 1)]
        );
        assert_eq!(evaluate(&r, &ops, 2, 180).action, Action::Up);
        r.operations = vec![OperationFilter::Exact("Recv".into())];
        assert_eq!(
            evaluate(&r, &observe_spans(&r, &spans, 60), 2, 180).action,
            Action::Down
        );
    }
}
