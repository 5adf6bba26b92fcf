//! `[rules]` in `scale serve`: each latency rule attaches to the service it names, and every tick
//! evaluates it on that service's latency windows from the trace source in use (the OTLP
//! receivers' store or Tempo). The verdict goes into the controller's inputs: the governor raises
//! the count to it, and the scale-in mode bounds its scale-downs (docs/rules.md#in-scale-serve).

use super::config::RulesConfig;
use crate::observe::traces::TraceSource;
use crate::reactive::rules::eval::{Action, Bound, RuleRecord, evaluate, observe_minutes};
use crate::reactive::rules::reload::{Reloader, RuleSet};
use crate::reactive::rules::spec::Rule;
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// What every set serve runs must pass: each rule attaches to one of `services`, at most one
/// rule per service, and no rule filters operations (serve keeps per-service windows, not spans).
pub fn check(set: &RuleSet, services: &[String]) -> Result<()> {
    let mut taken: BTreeMap<&str, &Rule> = BTreeMap::new();
    for r in &set.rules {
        let s = r.target_name();
        let at = |msg: String| Error::data(&r.source.file, Some(r.source.line), msg);
        if !services.iter().any(|n| n == s) {
            let field = if r.attach.is_some() {
                "spec.target.service"
            } else {
                "spec.target.deploymentName"
            };
            return Err(at(format!(
                "{field}: rule {} attaches to service {s:?}, which is not in the serve config (services: {})",
                r.name,
                services.join(", ")
            )));
        }
        if !r.operations.is_empty() {
            return Err(at(format!(
                "spec.operations: rule {}: scale serve keeps per-service latency windows, not raw spans; remove spec.operations",
                r.name
            )));
        }
        if let Some(other) = taken.insert(s, r) {
            return Err(at(format!(
                "spec.target: rules {} and {} ({}:{}) both attach to service {s:?}",
                r.name,
                other.name,
                other.source.file.display(),
                other.source.line
            )));
        }
    }
    Ok(())
}

/// Loads the rules and checks them against `services`: a start-up error names the file, the
/// line and the field.
pub fn load(cfg: &RulesConfig, services: &[String]) -> Result<Reloader> {
    let names = services.to_vec();
    Reloader::new(&cfg.path)?.with_check(Box::new(move |set| check(set, &names)))
}

/// Runs the reloader every `cfg.reload` until `stop` turns true; the receiver sees each set.
pub fn spawn(reloader: Reloader, cfg: &RulesConfig, mut stop: watch::Receiver<bool>) -> watch::Receiver<Arc<RuleSet>> {
    let rx = reloader.subscribe();
    let every = Duration::from_secs(cfg.reload_seconds().max(1) as u64);
    tokio::spawn(reloader.run(every, async move {
        let _ = stop.wait_for(|s| *s).await;
    }));
    rx
}

/// One service's view of the live rule set and the trace source it is evaluated on.
#[derive(Clone)]
pub struct RuleLink {
    /// The latest valid set.
    pub rules: watch::Receiver<Arc<RuleSet>>,
    /// Where latency windows come from.
    pub traces: Arc<dyn TraceSource>,
    /// The source's window length, seconds.
    pub window_seconds: i64,
    /// Start of the newest breaching window already counted in /metrics, per rule.
    counted: BTreeMap<String, i64>,
}

impl RuleLink {
    /// A link reading `rules` and `traces` (windows of `window_seconds`).
    pub fn new(rules: watch::Receiver<Arc<RuleSet>>, traces: Arc<dyn TraceSource>, window_seconds: i64) -> Self {
        RuleLink {
            rules,
            traces,
            window_seconds: window_seconds.max(1),
            counted: BTreeMap::new(),
        }
    }

    /// The rule attached to `service` and its latency windows at `now`; None when no rule is
    /// attached. Runs beside the demand fetch, within the same `budget`.
    pub async fn fetch(&self, service: &str, now: i64, budget: Duration) -> Option<Fetched> {
        let set = self.rules.borrow().clone();
        let rule = set.rules.iter().find(|r| r.target_name() == service)?.clone();
        // The breach window, plus two windows so the latest complete one is always included.
        let span = rule.breaches.window_seconds.unwrap_or(0) + 2 * self.window_seconds;
        let got = tokio::time::timeout(budget, self.traces.windows(&rule.service, now - span, now)).await;
        let windows = match got {
            Ok(Ok(w)) => Ok(observe_minutes(&rule, &w.windows, w.window_seconds)),
            Ok(Err(e)) => Err(format!("latency windows of {}: {e}", rule.service)),
            Err(_) => Err(format!(
                "latency windows of {} took longer than {budget:?}",
                rule.service
            )),
        };
        Some(Fetched { rule, windows })
    }

    /// The verdict on what [`Self::fetch`] got, at `current` replicas, and the bound of a
    /// breaching window not reported before (each window is counted once in /metrics, however
    /// many ticks see it). A failed fetch is a verdict without data (the governor ignores it).
    pub fn verdict(&mut self, fetched: Fetched, now: i64, current: u32) -> (RuleRecord, Option<Bound>) {
        let Fetched { rule, windows } = fetched;
        let (windows, failed) = match windows {
            Ok(w) => (w, None),
            Err(why) => (Vec::new(), Some(why)),
        };
        let rec = evaluate(&rule, &windows, current, now);
        let mut new_breach = None;
        if let (Some(bound), Some(start)) = (rec.bound, rec.window_start) {
            let last = self.counted.entry(rule.name.clone()).or_insert(i64::MIN);
            if start > *last {
                *last = start;
                new_breach = Some(bound);
            }
        }
        let mut record = RuleRecord::of(&rule, &rec);
        if let (Some(why), Action::NoData) = (failed, rec.action) {
            tracing::warn!(rule = %rule.name, "{why}");
            record.reason = why;
        }
        (record, new_breach)
    }
}

/// The attached rule and its windows (or why they could not be read).
pub struct Fetched {
    /// The rule, as the live set had it.
    pub rule: Rule,
    /// Its observations, oldest first.
    pub windows: std::result::Result<Vec<crate::reactive::rules::eval::Observation>, String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::spans::ServiceMinute;
    use crate::observe::traces::WindowStore;
    use crate::reactive::rules::spec::parse_rules;
    use std::path::Path;

    fn set(docs: &[&str]) -> RuleSet {
        let text = docs.join("---\n");
        RuleSet {
            rules: parse_rules(Path::new("rules/r.yaml"), &text).unwrap(),
            files: vec![],
            digest: String::new(),
        }
    }

    fn rule(name: &str, deployment: &str, extra: &str) -> String {
        format!(
            "apiVersion: scale.autoscaling/v1\nkind: LatencyBasedAutoScaler\nmetadata:\n  name: {name}\nspec:\n  target:\n    serviceName: {deployment}\n    deploymentName: {deployment}\n{extra}  latencyThreshold:\n    upperBound: 500ms\n    lowerBound: 100ms\n"
        )
    }

    #[test]
    fn rules_attach_to_the_services_they_name() {
        let services = vec!["web".to_string(), "api".to_string()];
        // (what, rule documents, Ok or the error's text)
        let cases: Vec<(&str, Vec<String>, std::result::Result<(), &str>)> = vec![
            ("by deploymentName", vec![rule("a", "web", "")], Ok(())),
            (
                "by spec.target.service",
                vec![rule("a", "frontend", "    service: api\n")],
                Ok(()),
            ),
            (
                "an unknown service names the file, line and field",
                vec![rule("a", "web", ""), rule("b", "cart", "")],
                Err(
                    "rules/r.yaml:13: spec.target.deploymentName: rule b attaches to service \"cart\", which is not in the serve config (services: web, api)",
                ),
            ),
            (
                "an unknown explicit service",
                vec![rule("a", "web", "    service: nope\n")],
                Err("rules/r.yaml:1: spec.target.service: rule a attaches to service \"nope\""),
            ),
            (
                "two rules on one service",
                vec![rule("a", "web", ""), rule("b", "frontend", "    service: web\n")],
                Err("spec.target: rules b and a (rules/r.yaml:1) both attach to service \"web\""),
            ),
            (
                "operations need raw spans",
                vec![format!("{}  operations: [\"GET /\"]\n", rule("a", "web", ""))],
                Err("spec.operations: rule a: scale serve keeps per-service latency windows"),
            ),
        ];
        for (what, docs, want) in cases {
            let docs: Vec<&str> = docs.iter().map(String::as_str).collect();
            let got = check(&set(&docs), &services).map_err(|e| e.to_string());
            match (got, want) {
                (Ok(()), Ok(())) => {}
                (Err(e), Err(w)) => assert!(e.contains(w), "{what}: {e}"),
                (got, want) => panic!("{what}: got {got:?}, want {want:?}"),
            }
        }
    }

    fn window(t: i64, p95: f64) -> ServiceMinute {
        ServiceMinute {
            service: "web".into(),
            minute: t,
            requests: 10,
            rate: 1.0,
            p50: p95,
            p95,
            p99: p95,
            errors: 0,
            pods: 1,
        }
    }

    /// The verdict reads the store's windows, and /metrics counts each breaching window once,
    /// however many ticks see it.
    #[tokio::test]
    async fn verdicts_read_the_trace_windows_and_count_each_breach_once() {
        let store = WindowStore::new(10, 600);
        let (_tx, rx) = watch::channel(Arc::new(set(&[&rule("web-latency", "web", "")])));
        let mut link = RuleLink::new(rx, Arc::new(store.clone()), 10);
        let mut counted = 0;
        let budget = Duration::from_secs(1);
        // (what, window added before the tick, now, current, desired, bound, breaches counted)
        type Case = (
            &'static str,
            Option<ServiceMinute>,
            i64,
            u32,
            Option<u32>,
            Option<&'static str>,
            u64,
        );
        let cases: Vec<Case> = vec![
            ("no window yet: no data", None, 100, 3, None, None, 0),
            (
                "a slow window: up",
                Some(window(100, 0.8)),
                110,
                3,
                Some(4),
                Some("upper"),
                1,
            ),
            (
                "the same window on the next tick: counted once",
                None,
                112,
                4,
                Some(5),
                Some("upper"),
                1,
            ),
            (
                "the next slow window",
                Some(window(110, 0.9)),
                120,
                5,
                Some(6),
                Some("upper"),
                2,
            ),
            ("within bounds: hold", Some(window(120, 0.3)), 130, 6, Some(6), None, 2),
            (
                "a fast window: down",
                Some(window(130, 0.05)),
                140,
                6,
                Some(5),
                Some("lower"),
                2,
            ),
        ];
        for (what, add, now, current, desired, bound, upper_count) in cases {
            if let Some(w) = add {
                store.add(vec![w]);
            }
            let f = link.fetch("web", now, budget).await.expect("attached");
            let (r, new) = link.verdict(f, now, current);
            assert_eq!(r.desired, desired, "{what}: {r:?}");
            assert_eq!(r.bound.map(|b| b.label()), bound, "{what}: {r:?}");
            counted += u64::from(new == Some(Bound::Upper));
            assert_eq!(counted, upper_count, "{what}");
        }
        assert!(
            link.fetch("api", 140, budget).await.is_none(),
            "no rule attached to api"
        );
    }
}
