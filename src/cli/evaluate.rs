//! `scale evaluate` (docs/evaluate.md).

use super::{duration_secs, latency_secs};
use crate::Result;
use crate::core::time::format_duration;
use crate::evaluate::report::{EvalReport, Policies};
use crate::evaluate::{EvalOptions, evaluate_file};
use crate::govern::ScaleIn;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Demand series to replay: CSV or Parquet, `timestamp,value` or long `timestamp,service,value`.
    #[arg(long)]
    input: PathBuf,
    /// Directory for report.json, report.html, timeline.csv and decisions.jsonl.
    #[arg(long)]
    output: PathBuf,
    /// Requests per second one replica serves at 100% utilization (default: derived).
    #[arg(long)]
    capacity_per_replica: Option<f64>,
    /// Pod start-up time, e.g. 90s (default: derived from the data step).
    #[arg(long)]
    startup: Option<String>,
    /// Control-loop interval, e.g. 30s (default: derived from the data step).
    #[arg(long)]
    tick: Option<String>,
    /// p95 latency objective, e.g. 250ms (default: modelled p95 at 90% utilization).
    #[arg(long)]
    slo_latency: Option<String>,
    /// Forecast quantile the predictive policy plans for, in (0, 1).
    #[arg(long, default_value_t = crate::evaluate::DEFAULT_QUANTILE)]
    quantile: f64,
    /// How far the forecast may scale in: `reactive` (never below the HPA) or `forecast`
    /// (down to a safety floor at the SLO-derived load per replica).
    #[arg(long, default_value = "reactive")]
    scale_in: ScaleIn,
    /// Lower bound on replicas for every policy; 0 replays scale-to-zero.
    #[arg(long, default_value_t = 1)]
    min_replicas: u32,
    /// Also replay the cost–SLO frontier: the HPA at targets 0.5–0.9 and the predictive policy
    /// at quantiles 0.5–0.99 in both scale-in modes.
    #[arg(long)]
    frontier: bool,
    /// When the replay retrains the model: `daily` (03:00 UTC, the chart's CronJob schedule)
    /// or `never`.
    #[arg(long, default_value = "daily")]
    retrain: crate::evaluate::Retrain,
    /// `LatencyBasedAutoScaler` rules (a YAML file or a directory) to replay as the
    /// `latency_rules` policy: each binds to the series named like its deploymentName or
    /// serviceName (a lone rule on a lone series binds to it).
    #[arg(long)]
    rules: Option<PathBuf>,
    /// Replay container usage (`timestamp,cpu,memory`, or long with `pod,container`) through
    /// the `vpa`, `predictive_vertical` and `oracle_vertical` policies instead of demand.
    #[arg(long, conflicts_with_all = ["frontier", "rules", "capacity_per_replica", "startup", "slo_latency"])]
    vertical: bool,
    /// Vertical: delay from a resize until it takes effect, e.g. 60s.
    #[arg(long, requires = "vertical")]
    resize_delay: Option<String>,
    /// Vertical: how long an OOM-killed container is down, e.g. 60s.
    #[arg(long, requires = "vertical")]
    oom_restart: Option<String>,
    /// Vertical: limit ÷ request for CPU and memory, at least 1.
    #[arg(long, requires = "vertical", default_value_t = 1.0)]
    limit_ratio: f64,
    /// Vertical: quantile of the previous days' usage the predictive policy sizes CPU for.
    #[arg(long, requires = "vertical")]
    vertical_quantile: Option<f64>,
    /// Vertical: fraction the predictive policy adds to its CPU forecast.
    #[arg(long, requires = "vertical")]
    vertical_margin: Option<f64>,
    /// Vertical: most resizes per hour for the predictive policy.
    #[arg(long, requires = "vertical")]
    max_resizes_per_hour: Option<u32>,
}

pub fn run(a: Args) -> Result<()> {
    if a.vertical {
        return run_vertical(a);
    }
    let opts = EvalOptions {
        capacity_per_replica: a.capacity_per_replica,
        startup: duration_secs("--startup", a.startup)?,
        tick: duration_secs("--tick", a.tick)?,
        slo_latency: latency_secs("--slo-latency", a.slo_latency)?,
        quantile: a.quantile,
        scale_in: a.scale_in,
        min_replicas: a.min_replicas,
        frontier: a.frontier,
        retrain: a.retrain,
        rules: match &a.rules {
            Some(path) => {
                let rules = crate::reactive::rules::spec::load_rules(path)?;
                crate::reactive::rules::spec::check_unique(&rules)?;
                rules
            }
            None => Vec::new(),
        },
        ..EvalOptions::default()
    };
    let report = evaluate_file(&a.input, &a.output, &opts)?;
    // The same binding the replay used, to compare each rule with its series' SLO.
    let names: Vec<&str> = report.services.keys().map(String::as_str).collect();
    let bound = crate::evaluate::bind_rules(&opts.rules, &names)?;
    for (name, s) in &report.services {
        for d in &s.settings.derived {
            eprintln!("{name}: derived {d}");
        }
        let st = &s.settings;
        eprintln!(
            "{name}: capacity_per_replica={} startup={} tick={} slo_latency={:.3}s",
            st.capacity_per_replica,
            format_duration(st.startup_seconds),
            format_duration(st.tick_seconds),
            st.slo_latency_seconds
        );
        if let Some(r) = &st.latency_rule {
            eprintln!("{name}: latency_rules replays {r}");
            if let Some(rule) = bound.get(name) {
                let ratio = rule.upper_seconds / st.slo_latency_seconds;
                if !(0.1..=10.0).contains(&ratio) {
                    eprintln!(
                        "{name}: note: upperBound {} is {ratio:.2e}× the replay's SLO ({:.3e} s): the rule's bounds are absolute, and the simulated latency scale follows --capacity-per-replica",
                        crate::reactive::rules::spec::format_latency(rule.upper_seconds),
                        st.slo_latency_seconds
                    );
                }
            }
        }
    }
    print_summary(&report);
    println!("\nwrote {}/report.json, report.html, timeline.csv", a.output.display());
    Ok(())
}

fn minutes(field: &str, v: Option<String>, default: i64) -> Result<i64> {
    let s = duration_secs(field, v)?.unwrap_or(default * 60);
    if !(0..=86_400).contains(&s) {
        return Err(crate::Error::config(field, "must be between 0s and 24h"));
    }
    Ok((s + 59) / 60)
}

fn run_vertical(a: Args) -> Result<()> {
    use crate::evaluate::vertical::{POLICIES, VerticalOptions, evaluate_vertical_file};
    let mut opts = VerticalOptions::default();
    opts.spec.resize_delay_minutes = minutes("--resize-delay", a.resize_delay, opts.spec.resize_delay_minutes)?;
    opts.spec.restart_minutes = minutes("--oom-restart", a.oom_restart, opts.spec.restart_minutes)?.max(1);
    if !(a.limit_ratio.is_finite() && (1.0..=100.0).contains(&a.limit_ratio)) {
        return Err(crate::Error::config("--limit-ratio", "must be between 1 and 100"));
    }
    opts.spec.limit_ratio = a.limit_ratio;
    opts.tick_seconds = duration_secs("--tick", a.tick)?;
    if opts.tick_seconds.is_some_and(|t| !(60..=86_400).contains(&t)) {
        return Err(crate::Error::config(
            "--tick",
            "must be between 1m and 24h for --vertical",
        ));
    }
    if let Some(q) = a.vertical_quantile {
        if !(q.is_finite() && (0.0..=1.0).contains(&q)) {
            return Err(crate::Error::config("--vertical-quantile", "must be in [0, 1]"));
        }
        opts.config.quantile = q;
    }
    if let Some(m) = a.vertical_margin {
        if !(m.is_finite() && (0.0..=10.0).contains(&m)) {
            return Err(crate::Error::config("--vertical-margin", "must be in [0, 10]"));
        }
        opts.config.cpu_margin = m;
    }
    if let Some(n) = a.max_resizes_per_hour {
        opts.config.limits.max_resizes_per_hour = n.max(1);
    }
    let report = evaluate_vertical_file(&a.input, &a.output, &opts)?;
    println!(
        "{:<20} {:<20} {:>10} {:>5} {:>10} {:>10} {:>10} {:>8}",
        "container", "policy", "throttled", "ooms", "viol_min", "cpu_core_h", "mem_gib_h", "resizes"
    );
    let rows = report
        .containers
        .iter()
        .map(|(n, p)| (n.as_str(), p))
        .chain((report.containers.len() > 1).then_some(("TOTAL", &report.policies)));
    for (name, p) in rows {
        for policy in POLICIES {
            let s = &p[policy];
            println!(
                "{:<20} {:<20} {:>10.0} {:>5} {:>10.0} {:>10.2} {:>10.2} {:>8}",
                name,
                policy,
                s.throttled_minutes,
                s.oom_kills,
                s.violation_minutes,
                s.cpu_core_hours,
                s.memory_gib_hours,
                s.resizes
            );
        }
    }
    println!(
        "\nwrote {}/report.json, report.html, vertical_timeline.csv, decisions.jsonl",
        a.output.display()
    );
    Ok(())
}

/// The per-service, per-policy table `evaluate` and `demo` print.
pub fn print_summary(report: &EvalReport) {
    let row = |name: &str, p: &Policies| {
        for (policy, s) in p.named() {
            println!(
                "{:<14} {:<13} {:>14.1} {:>14.1} {:>10} {:>10.3}",
                name, policy, s.slo_violation_minutes, s.replica_hours, s.scaling_actions, s.mean_utilization
            );
        }
    };
    println!(
        "{:<14} {:<13} {:>14} {:>14} {:>10} {:>10}",
        "service", "policy", "slo_viol_min", "replica_hours", "actions", "mean_util"
    );
    for (name, s) in &report.services {
        row(name, &s.policies);
    }
    if report.services.len() > 1 {
        row("TOTAL", &report.policies);
    }
}
