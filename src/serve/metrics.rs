//! The /metrics series (names shared with charts/scale/dashboards/scale.json, docs/dashboard.md).

use crate::observe::otlp::LiveStats;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock};

pub type Labels = Vec<(String, String)>;
type FGauge = Gauge<f64, AtomicU64>;

pub struct Metrics {
    registry: Registry,
    pub decisions: Family<Labels, Counter>,
    pub clamps: Family<Labels, Counter>,
    pub forecast_demand: Family<Labels, FGauge>,
    pub observed_demand: Family<Labels, FGauge>,
    pub replicas: Family<Labels, FGauge>,
    pub abs_error: Family<Labels, FGauge>,
    pub tick_seconds: Histogram,
    pub actuations: Family<Labels, Counter>,
    pub loop_restarts: Family<Labels, Counter>,
    pub budget_overruns: Family<Labels, Counter>,
    pub rule_breaches: Family<Labels, Counter>,
    pub container_requests: Family<Labels, FGauge>,
    pub vertical_holds: Family<Labels, Counter>,
    otlp: Arc<OtlpWindows>,
}

/// The OTLP receivers' window counters, read on each scrape once serve attaches them.
#[derive(Debug, Default)]
struct OtlpWindows(OnceLock<Arc<LiveStats>>);

impl Collector for OtlpWindows {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(live) = self.0.get() else { return Ok(()) };
        let s = live.snapshot();
        for (name, help, value) in [
            (
                "scale_otlp_late_spans",
                "Spans for a window already closed: dropped",
                s.late_spans,
            ),
            (
                "scale_otlp_future_spans",
                "Spans dated beyond the clock plus max_future_skew_seconds: dropped",
                s.future_spans,
            ),
            (
                "scale_otlp_unresolved_parents",
                "Child spans counted as entries without waiting for their parent (max_pending_spans reached)",
                s.unresolved_parents,
            ),
            (
                "scale_otlp_service_overflow_spans",
                "Entry spans of services past max_services in their window: dropped",
                s.service_overflow_spans,
            ),
            (
                "scale_otlp_forced_window_closes",
                "Windows closed early because too many were open",
                s.forced_closes,
            ),
        ] {
            let c = ConstCounter::new(value);
            c.encode(encoder.encode_descriptor(name, help, None, c.metric_type())?)?;
        }
        Ok(())
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let m = Metrics {
            decisions: Family::default(),
            clamps: Family::default(),
            forecast_demand: Family::default(),
            observed_demand: Family::default(),
            replicas: Family::default(),
            abs_error: Family::default(),
            // 1 ms .. ~33 s
            tick_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
            actuations: Family::default(),
            loop_restarts: Family::default(),
            budget_overruns: Family::default(),
            rule_breaches: Family::default(),
            container_requests: Family::default(),
            vertical_holds: Family::default(),
            otlp: Arc::default(),
            registry: Registry::default(),
        };
        // Counters get their `_total` suffix from the encoder.
        registry.register("scale_decisions", "Control-loop decisions", m.decisions.clone());
        registry.register(
            "scale_clamps",
            "Governor clamps by the clamping step's reason",
            m.clamps.clone(),
        );
        registry.register(
            "scale_forecast_demand",
            "Forecast demand at the planning lead (req/s)",
            m.forecast_demand.clone(),
        );
        registry.register(
            "scale_observed_demand",
            "Latest observed demand (req/s)",
            m.observed_demand.clone(),
        );
        registry.register(
            "scale_container_requests",
            "[service.vertical] requests by resource (cpu cores, memory bytes) and kind: recommended (the VPA target), desired, applied",
            m.container_requests.clone(),
        );
        registry.register(
            "scale_vertical_holds",
            "[service.vertical] decisions held, by the governor's reason",
            m.vertical_holds.clone(),
        );
        registry.register(
            "scale_replicas",
            "Replicas by policy: predictive, reactive, desired, current",
            m.replicas.clone(),
        );
        registry.register(
            "scale_forecast_abs_error",
            "|forecast - observed| for the latest sample, from the previous tick's forecast",
            m.abs_error.clone(),
        );
        registry.register(
            "scale_tick_seconds",
            "Time for one service's tick",
            m.tick_seconds.clone(),
        );
        registry.register(
            "scale_actuations",
            "Decisions at the target by target kind and outcome (applied, retried, unchanged, refused, failed, held)",
            m.actuations.clone(),
        );
        registry.register(
            "scale_loop_restarts",
            "Service loop ticks that panicked; each was caught and the loop restarted",
            m.loop_restarts.clone(),
        );
        registry.register(
            "scale_tick_budget_overruns",
            "Tick phases (fetch, read, actuate) cancelled after their share of the tick budget",
            m.budget_overruns.clone(),
        );
        registry.register(
            "scale_rule_breaches",
            "Latency-rule windows that breached a bound, by service, rule and bound (upper, lower)",
            m.rule_breaches.clone(),
        );
        registry.register_collector(Box::new(m.otlp.clone()));
        Metrics { registry, ..m }
    }

    /// Exports the OTLP receivers' window counters from now on (the first call wins).
    pub fn attach_otlp(&self, live: Arc<LiveStats>) {
        let _ = self.otlp.0.set(live);
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let _ = encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_the_dashboard() {
        let m = Metrics::new();
        let l = |k: &str, v: &str| {
            vec![
                ("service".to_string(), "web".to_string()),
                (k.to_string(), v.to_string()),
            ]
        };
        m.decisions.get_or_create(&l("mode", "auto")).inc();
        m.clamps.get_or_create(&l("reason", "TooFewReplicas")).inc();
        m.replicas.get_or_create(&l("policy", "desired")).set(3.0);
        let mut cpu = l("resource", "cpu");
        cpu.push(("kind".into(), "applied".into()));
        m.container_requests.get_or_create(&cpu).set(0.5);
        m.vertical_holds.get_or_create(&l("reason", "StaleData")).inc();
        m.tick_seconds.observe(0.01);
        let text = m.encode();
        for want in [
            "scale_decisions_total{service=\"web\",mode=\"auto\"} 1",
            "scale_clamps_total{service=\"web\",reason=\"TooFewReplicas\"} 1",
            "scale_replicas{service=\"web\",policy=\"desired\"} 3.0",
            "scale_tick_seconds_count 1",
            "scale_container_requests{service=\"web\",resource=\"cpu\",kind=\"applied\"} 0.5",
            "scale_vertical_holds_total{service=\"web\",reason=\"StaleData\"} 1",
        ] {
            assert!(text.contains(want), "{want} not in {text}");
        }
    }
}
