//! `[service.vertical]` in `scale serve`: per-pod CPU and memory from the metric source →
//! the shared vertical step ([`crate::control::vertical`], the code `evaluate --vertical`
//! replays) → a recommendation in the service's decision record (/decisions, the log).
//!
//! Recommend only: SCALE does not yet resize from serve. The requests the step compares
//! against are its own previous recommendation, so the governor's churn limits shape the
//! recommendations as they would shape resizes (docs/serve.md).

use crate::control::vertical::{SizingPolicy, UsageSample, VerticalConfig, VerticalController, VerticalRecord};
use crate::observe::{MetricSource, NamedSeries};
use crate::plan::vertical::recommender::Resources;
use crate::{Error, Result};
use serde::Deserialize;
use std::collections::BTreeMap;

/// Most pods one container's queries may return per tick.
pub const MAX_PODS: usize = 1000;

/// `[service.vertical]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VerticalServiceConfig {
    /// `container`: the container name in cAdvisor's `container` label.
    pub container: String,
    /// `namespace`: adds `namespace="…"` to the default queries.
    #[serde(default)]
    pub namespace: Option<String>,
    /// `policy`: `predictive` (default) or `vpa`.
    #[serde(default)]
    pub policy: SizingPolicy,
    /// `cpu_query`: per-pod CPU cores; default cAdvisor's
    /// `rate(container_cpu_usage_seconds_total{container="…"}[5m])`.
    #[serde(default)]
    pub cpu_query: Option<String>,
    /// `memory_query`: per-pod bytes; default `container_memory_working_set_bytes{container="…"}`.
    #[serde(default)]
    pub memory_query: Option<String>,
    /// `oom_query`: per-pod OOM kills in the last 5 minutes; default
    /// `increase(container_oom_events_total{container="…"}[5m])`.
    #[serde(default)]
    pub oom_query: Option<String>,
    /// `quantile`: of the previous days' usage the predictive policy sizes CPU for (default 0.9).
    #[serde(default)]
    pub quantile: Option<f64>,
    /// `margin`: fraction added to the predictive CPU forecast (default 0.15).
    #[serde(default)]
    pub margin: Option<f64>,
    /// `max_resizes_per_hour` (default 6).
    #[serde(default)]
    pub max_resizes_per_hour: Option<u32>,
    /// `min_cpu`, `max_cpu`, `min_memory`, `max_memory`: the VPA's minAllowed and maxAllowed,
    /// as Kubernetes quantities (`250m`, `512Mi`).
    #[serde(default)]
    pub min_cpu: Option<String>,
    /// `max_cpu`: see `min_cpu`.
    #[serde(default)]
    pub max_cpu: Option<String>,
    /// `min_memory`: see `min_cpu`.
    #[serde(default)]
    pub min_memory: Option<String>,
    /// `max_memory`: see `min_cpu`.
    #[serde(default)]
    pub max_memory: Option<String>,
}

fn amount(field: &str, v: &Option<String>) -> Result<Option<f64>> {
    let Some(text) = v else { return Ok(None) };
    match crate::core::quantity::parse(text) {
        Some(x) if x.is_finite() && x >= 0.0 => Ok(Some(x)),
        _ => Err(Error::config(field, format!("{text:?} is not a non-negative quantity"))),
    }
}

fn label_value_ok(v: &str) -> bool {
    !v.is_empty() && v.len() <= 253 && v.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

impl VerticalServiceConfig {
    /// Checks what serde cannot; `field` prefixes the error (e.g. `service[0].vertical`).
    pub fn validate(&self, field: &str) -> Result<()> {
        let bad = |f: &str, m: String| Err(Error::config(format!("{field}.{f}"), m));
        if !label_value_ok(&self.container) {
            return bad("container", format!("{:?} is not a container name", self.container));
        }
        if let Some(ns) = &self.namespace
            && !label_value_ok(ns)
        {
            return bad("namespace", format!("{ns:?} is not a namespace"));
        }
        if let Some(q) = self.quantile
            && !(q.is_finite() && (0.0..=1.0).contains(&q))
        {
            return bad("quantile", format!("must be in [0, 1], got {q}"));
        }
        if let Some(m) = self.margin
            && !(m.is_finite() && (0.0..=10.0).contains(&m))
        {
            return bad("margin", format!("must be in [0, 10], got {m}"));
        }
        if self.max_resizes_per_hour == Some(0) {
            return bad("max_resizes_per_hour", "must be at least 1".into());
        }
        let b = self.bounds(field)?;
        if b.max.cpu_cores < b.min.cpu_cores {
            return bad("max_cpu", "is below min_cpu".into());
        }
        if b.max.memory_bytes < b.min.memory_bytes {
            return bad("max_memory", "is below min_memory".into());
        }
        Ok(())
    }

    /// minAllowed and maxAllowed; an unset max is unbounded (NaN).
    pub fn bounds(&self, field: &str) -> Result<VerticalBoundsPair> {
        let f = |n: &str| format!("{field}.{n}");
        Ok(VerticalBoundsPair {
            min: Resources::new(
                amount(&f("min_cpu"), &self.min_cpu)?.unwrap_or(0.0),
                amount(&f("min_memory"), &self.min_memory)?.unwrap_or(0.0),
            ),
            max: Resources::new(
                amount(&f("max_cpu"), &self.max_cpu)?.unwrap_or(f64::NAN),
                amount(&f("max_memory"), &self.max_memory)?.unwrap_or(f64::NAN),
            ),
        })
    }

    fn selector(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("container=\"{}\",namespace=\"{ns}\"", self.container),
            None => format!("container=\"{}\"", self.container),
        }
    }

    /// The CPU, memory and OOM queries in force.
    pub fn queries(&self) -> [String; 3] {
        let s = self.selector();
        [
            self.cpu_query
                .clone()
                .unwrap_or_else(|| format!("rate(container_cpu_usage_seconds_total{{{s}}}[5m])")),
            self.memory_query
                .clone()
                .unwrap_or_else(|| format!("container_memory_working_set_bytes{{{s}}}")),
            self.oom_query
                .clone()
                .unwrap_or_else(|| format!("increase(container_oom_events_total{{{s}}}[5m])")),
        ]
    }
}

/// minAllowed and maxAllowed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VerticalBoundsPair {
    /// minAllowed (0 when unset).
    pub min: Resources,
    /// maxAllowed (NaN when unset: unbounded).
    pub max: Resources,
}

/// One service's vertical state across ticks.
pub struct VerticalLoop {
    queries: [String; 3],
    controller: VerticalController,
    step: i64,
    last_seen: i64,
    current: Resources,
}

fn pod_of(s: &NamedSeries) -> String {
    s.labels.get("pod").cloned().unwrap_or_else(|| s.name.clone())
}

impl VerticalLoop {
    /// Sized every `tick` seconds, deciding for the peak within `lead` seconds.
    pub fn new(v: &VerticalServiceConfig, tick: i64, lead: i64) -> Self {
        let mut cfg = VerticalConfig {
            policy: v.policy,
            lead_seconds: lead.max(tick),
            ..VerticalConfig::default()
        };
        // Validated with the config, so the bounds parse.
        if let Ok(b) = v.bounds("vertical") {
            cfg.bounds.min = b.min;
            cfg.bounds.max = b.max;
        }
        cfg.quantile = v.quantile.unwrap_or(cfg.quantile);
        cfg.cpu_margin = v.margin.unwrap_or(cfg.cpu_margin);
        cfg.limits.max_resizes_per_hour = v.max_resizes_per_hour.unwrap_or(cfg.limits.max_resizes_per_hour);
        // Usage older than two ticks is stale.
        cfg.limits.stale_after_seconds = cfg.limits.stale_after_seconds.max(2 * tick);
        let step = tick.clamp(1, 86_400);
        VerticalLoop {
            queries: v.queries(),
            controller: VerticalController::new(cfg, step),
            step,
            last_seen: i64::MIN,
            current: Resources::default(),
        }
    }

    /// Fetches the usage since the last tick (at most `history` seconds), feeds it and decides.
    /// A failed fetch feeds nothing, so the step's stale-data hold applies; its error is
    /// returned beside the record.
    pub async fn tick(&mut self, source: &dyn MetricSource, now: i64, history: i64) -> (VerticalRecord, Option<Error>) {
        let err = self.feed(source, now, history).await.err();
        let record = self.controller.decide(now, self.current);
        self.current = record.applied;
        (record, err)
    }

    async fn feed(&mut self, source: &dyn MetricSource, now: i64, history: i64) -> Result<()> {
        let start = (now - history.clamp(self.step, 86_400)).max(self.last_seen.saturating_add(1));
        let start = now - (now - start).div_euclid(self.step) * self.step;
        let [cpu_q, mem_q, oom_q] = &self.queries;
        let (cpu, mem, oom) = tokio::join!(
            source.range(cpu_q, start, now, self.step),
            source.range(mem_q, start, now, self.step),
            source.instant(oom_q, now),
        );
        let (cpu, mem) = (cpu?, mem?);
        if cpu.len() > MAX_PODS || mem.len() > MAX_PODS {
            return Err(Error::Implausible(format!(
                "the usage queries returned more than {MAX_PODS} series"
            )));
        }
        let memory: BTreeMap<String, &NamedSeries> = mem.iter().map(|s| (pod_of(s), s)).collect();
        let mut by_time: BTreeMap<i64, Vec<Resources>> = BTreeMap::new();
        for c in &cpu {
            let m = memory.get(&pod_of(c));
            for (i, &v) in c.values.iter().enumerate() {
                let t = c.start + i as i64 * c.step;
                let mv = m.and_then(|m| {
                    let j = (t - m.start).checked_div(m.step)?;
                    usize::try_from(j).ok().and_then(|j| m.values.get(j).copied())
                });
                if t > self.last_seen && t <= now {
                    by_time
                        .entry(t)
                        .or_default()
                        .push(Resources::new(v, mv.unwrap_or(f64::NAN)));
                }
            }
        }
        for (time, pods) in by_time {
            self.controller.observe(&UsageSample { time, pods }, self.current);
            self.last_seen = time;
        }
        let max_mem = memory
            .values()
            .filter_map(|s| s.values.iter().rev().find(|v| v.is_finite()).copied())
            .fold(0.0, f64::max);
        // A failed OOM query loses nothing the usage did not already show.
        if let Ok(samples) = oom
            && samples.iter().any(|s| s.value.is_finite() && s.value > 0.0)
        {
            self.controller.record_oom(now, max_mem);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_clamp_the_recommendation() {
        let v: VerticalServiceConfig =
            toml::from_str("container = \"a\"\nmax_cpu = \"300m\"\nmin_memory = \"1Gi\"").unwrap();
        v.validate("v").unwrap();
        let mut l = VerticalLoop::new(&v, 60, 120);
        let pods = vec![Resources::new(2.0, 100.0 * 1024.0 * 1024.0)];
        l.controller
            .observe(&UsageSample { time: 0, pods }, Resources::default());
        let r = l.controller.decide(0, Resources::default());
        // maxAllowed wins over "never below usage": 2 cores in use, 300m set.
        assert_eq!(r.desired, Resources::new(0.3, 1024.0 * 1024.0 * 1024.0), "{r:?}");
        assert_eq!(r.applied, r.desired, "{r:?}");
    }

    #[test]
    fn default_queries_and_validation() {
        let v: VerticalServiceConfig = toml::from_str("container = \"app\"\nnamespace = \"shop\"").unwrap();
        assert_eq!(
            v.queries(),
            [
                "rate(container_cpu_usage_seconds_total{container=\"app\",namespace=\"shop\"}[5m])".to_string(),
                "container_memory_working_set_bytes{container=\"app\",namespace=\"shop\"}".to_string(),
                "increase(container_oom_events_total{container=\"app\",namespace=\"shop\"}[5m])".to_string(),
            ]
        );
        let cases = [
            ("container = \"a\\\"b\"", "v.container"),
            ("container = \"a\"\nquantile = 1.5", "v.quantile"),
            ("container = \"a\"\nmargin = -1.0", "v.margin"),
            ("container = \"a\"\nmax_resizes_per_hour = 0", "v.max_resizes_per_hour"),
            ("container = \"a\"\nmin_cpu = \"lots\"", "v.min_cpu"),
            ("container = \"a\"\nmin_cpu = \"2\"\nmax_cpu = \"500m\"", "v.max_cpu"),
            ("container = \"a\"\nmax_memory = \"-1Gi\"", "v.max_memory"),
        ];
        for (text, field) in cases {
            let v: VerticalServiceConfig = toml::from_str(text).unwrap();
            let e = v.validate("v").unwrap_err().to_string();
            assert!(e.contains(field), "{text}: {e}");
        }
    }
}
