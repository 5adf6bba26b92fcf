//! One service as `scale serve` runs it: its model registry, forecast step, controller and
//! target, and the fetch of its recent demand. A tick ([`super::tick`]) drives them in order.

use super::actuation::Actuation;
use super::config::{ServeConfig, ServiceConfig};
use super::forecast::Forecaster;
use super::registry::{Registry, Reload};
use super::tracker::Recent;
use crate::control::{ControlConfig, Controller, PolicyKind};
use crate::core::series::GapPolicy;
use crate::govern::{GovernorConfig, Mode};
use crate::observe::MetricSource;
use crate::plan::horizontal::PlanConfig;
use crate::reactive::hpa::replica::HpaUtilization;
use crate::{Error, Result};

/// The planner/governor settings for one service.
pub fn control_config(cfg: &ServeConfig, s: &ServiceConfig, mode: Mode) -> ControlConfig {
    let mut governor = GovernorConfig::hpa_default(s.min_replicas, s.max_replicas);
    governor.mode = mode;
    governor.max_metric_age_seconds = cfg.max_metric_age_seconds();
    governor.scale_in = s.scale_in.unwrap_or(cfg.defaults.scale_in);
    ControlConfig {
        policy: PolicyKind::Predictive,
        plan: PlanConfig {
            quantile: cfg.defaults.quantile,
            capacity_per_replica: s.capacity_per_replica,
            target_utilization: cfg.defaults.target_utilization,
            load_per_replica_at_slo: None,
        },
        hpa: HpaUtilization {
            target_utilization: cfg.defaults.target_utilization,
            tolerance: 0.1,
        },
        governor,
        lead_seconds: cfg.lead_seconds(),
    }
}

/// One service's loop state.
pub struct ServiceLoop {
    /// The service's name: its model directory and its label in /decisions and /metrics.
    pub name: String,
    /// What is fetched for demand: PromQL, or the span service name.
    pub query: String,
    pub(crate) registry: Registry,
    pub(crate) forecaster: Forecaster,
    /// Plan and governor, with their state across ticks.
    pub controller: Controller,
    /// `defaults.max_demand_ratio`: the plausibility bound on fetched demand.
    pub max_demand_ratio: f64,
    /// The service's target.
    pub actuation: Actuation,
    /// The latency rules, when `[rules]` is configured (the attached rule is looked up per tick,
    /// so a reload that attaches or detaches one takes effect at once).
    pub rules: Option<super::rules::RuleLink>,
    /// `[service.vertical]`: the container's sizing state.
    pub vertical: Option<super::vertical::VerticalLoop>,
}

impl ServiceLoop {
    /// A service deciding in `mode` on `actuation`'s target.
    pub fn new(cfg: &ServeConfig, s: &ServiceConfig, mode: Mode, actuation: Actuation) -> Self {
        let control = control_config(cfg, s, mode);
        ServiceLoop {
            name: s.name.clone(),
            query: s.query.clone(),
            registry: Registry::new(&cfg.defaults.models, &s.name),
            forecaster: Forecaster::new(control.lead_seconds, control.governor.max_metric_age_seconds),
            controller: Controller::new(control),
            max_demand_ratio: cfg.defaults.max_demand_ratio,
            actuation,
            rules: None,
            vertical: s
                .vertical
                .as_ref()
                .map(|v| super::vertical::VerticalLoop::new(v, cfg.tick_seconds(), cfg.lead_seconds())),
        }
    }

    /// Loads a newly published model version, if any.
    pub fn reload(&mut self) -> Reload {
        self.registry.poll()
    }

    /// Fetches the last `history` seconds on the model's step: one series, cleaned by the data
    /// policy. A source error or nothing usable ([`Error::NoData`]) is an error the tick logs.
    pub async fn fetch(&self, source: &dyn MetricSource, now: i64, history: i64) -> Result<Recent> {
        let step = self.registry.current().map(|a| a.state.step).unwrap_or(60).max(1);
        let start = fetch_start(now, history, step);
        let got = source.range(&self.query, start, now, step).await?;
        recent_from(&self.query, &self.name, got, self.max_demand_ratio)
    }
}

/// Where a tick's fetch starts: whole model steps before `now`, so the grid ends exactly at
/// `now` and lands on the freshest samples.
pub fn fetch_start(now: i64, history: i64, step: i64) -> i64 {
    now - (history / step).max(1) * step
}

/// A range query's answer as the forecast step reads it: one series, cleaned by the data
/// policy. A source error or nothing usable ([`Error::NoData`]) is an error the tick logs;
/// demand that is non-finite, negative, or newest above `max_ratio` × the largest earlier
/// value is [`Error::Implausible`], a rejected observation.
pub fn recent_from(query: &str, name: &str, got: Vec<crate::observe::NamedSeries>, max_ratio: f64) -> Result<Recent> {
    let one = match got.as_slice() {
        [one] => one,
        [] => return Err(Error::NoData(format!("query {query:?} returned no series"))),
        many => {
            return Err(Error::NoData(format!(
                "query {query:?} returned {} series; aggregate it to one, e.g. sum(...)",
                many.len()
            )));
        }
    };
    let c = one.clean(&format!("prometheus query {query:?}"), name, GapPolicy::default())?;
    let s = c.series;
    if s.values.is_empty() {
        return Err(Error::NoData(format!("query {query:?}: no samples")));
    }
    if let Some((i, v)) = s.values.iter().enumerate().find(|(_, v)| !v.is_finite() || **v < 0.0) {
        return Err(Error::Implausible(format!(
            "query {query:?}: demand {v} at {}: demand must be finite and non-negative",
            s.start + i as i64 * s.step
        )));
    }
    let (newest, earlier) = s.values.split_last().expect("not empty");
    let top = earlier.iter().copied().fold(0.0, f64::max);
    if top > 0.0 && *newest > max_ratio * top {
        return Err(Error::Implausible(format!(
            "query {query:?}: newest demand {newest} is over {max_ratio}× the recent maximum {top}"
        )));
    }
    Ok(Recent {
        last_time: s.start + (s.values.len() as i64 - 1) * s.step,
        step: s.step,
        values: s.values,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::govern::ScaleIn;
    use crate::serve::config::DEFAULT_MAX_DEMAND_RATIO;

    const CONFIG: &str = "[server]\nlisten = \"127.0.0.1:0\"\n[defaults]\nmode = \"auto\"\n[source.prometheus]\nurl = \"http://127.0.0.1:9090\"\n[[service]]\nname = \"web\"\nquery = \"q\"\ncapacity_per_replica = 50\nmin_replicas = 1\nmax_replicas = 10\ntarget = { kind = \"dry-run\", replicas = 3 }\n";

    #[test]
    fn implausible_demand_is_rejected() {
        let grid = |values: &[f64]| {
            vec![crate::observe::NamedSeries {
                name: "{}".into(),
                labels: Default::default(),
                start: 600,
                step: 60,
                values: values.to_vec(),
            }]
        };
        // (fetched values, Ok(newest) or the rejection's text)
        let cases: [(&[f64], std::result::Result<f64, &str>); 7] = [
            (&[10.0, 12.0, 11.0], Ok(11.0)),
            (
                &[10.0, 12.0, -50.0],
                Err("demand -50 at 720: demand must be finite and non-negative"),
            ),
            // The data policy reads a non-finite sample as a gap and fills it.
            (&[10.0, f64::INFINITY, 11.0], Ok(11.0)),
            (&[10.0, 12.0, 1e308], Err("newest demand 100000000")),
            (&[10.0, 12.0, 1200.0], Ok(1200.0)),
            (&[10.0, 12.0, 1200.1], Err("is over 100× the recent maximum 12")),
            (&[0.0, 0.0, 5.0], Ok(5.0)),
        ];
        for (values, want) in cases {
            let got = recent_from("q", "web", grid(values), DEFAULT_MAX_DEMAND_RATIO);
            match (got, want) {
                (Ok(r), Ok(v)) => assert_eq!(r.values.last(), Some(&v), "{values:?}"),
                (Err(Error::Implausible(e)), Err(text)) => assert!(e.contains(text), "{values:?}: {e}"),
                (got, want) => panic!("{values:?}: {got:?}, want {want:?}"),
            }
        }
        let e = ServeConfig::parse(&CONFIG.replace("mode = \"auto\"\n", "mode = \"auto\"\nmax_demand_ratio = 0.5\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("defaults.max_demand_ratio"), "{e}");
    }

    #[test]
    fn scale_in_defaults_and_overrides() {
        // ([defaults] line, [[service]] line, the mode the service's governor gets)
        let cases = [
            ("", "", ScaleIn::Reactive),
            ("scale_in = \"forecast\"\n", "", ScaleIn::Forecast),
            (
                "scale_in = \"forecast\"\n",
                "scale_in = \"reactive\"\n",
                ScaleIn::Reactive,
            ),
            ("", "scale_in = \"forecast\"\n", ScaleIn::Forecast),
        ];
        for (defaults, service, want) in cases {
            let text = CONFIG
                .replace("mode = \"auto\"\n", &format!("mode = \"auto\"\n{defaults}"))
                .replace("max_replicas = 10\n", &format!("max_replicas = 10\n{service}"));
            let c = ServeConfig::parse(&text).unwrap();
            let ctl = control_config(&c, &c.services[0], Mode::Auto);
            assert_eq!(ctl.governor.scale_in, want, "{defaults:?} {service:?}");
            assert_eq!(ctl.plan.quantile, 0.5, "default quantile");
        }
        let e = ServeConfig::parse(&CONFIG.replace("mode = \"auto\"\n", "mode = \"auto\"\nscale_in = \"down\"\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("defaults.scale_in"), "{e}");
    }
}
