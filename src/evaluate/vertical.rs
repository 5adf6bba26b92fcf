//! `scale evaluate --vertical`: replays container usage through the shared vertical step
//! ([`crate::control::vertical`]) as the `vpa` and `predictive_vertical` policies, and through a
//! perfect-foresight `oracle_vertical`, on the simulated container ([`crate::sim::container`]).
//!
//! Time runs in minutes. A sample covering [t, t + step) is seen by the first decision at or
//! after t + step, when it is complete; decisions happen every tick. All pods of a container
//! share its requests (one pod template), and each pod is simulated on its own usage.

use crate::control::vertical::{SizingPolicy, UsageSample, VerticalConfig, VerticalController, VerticalRecord};
use crate::core::series::GapPolicy;
use crate::observe::usage::{ContainerSeries, load_usage};
use crate::plan::vertical::recommender::Resources;
use crate::sim::container::{ContainerSpec, SimPod, VerticalSummary};
use crate::{Error, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Most pod-minutes one replay simulates (about 19 pod-years).
pub const MAX_POD_MINUTES: usize = 10_000_000;

/// The replayed policies, in report order.
pub const POLICIES: [&str; 3] = ["vpa", "predictive_vertical", "oracle_vertical"];

/// What `scale evaluate --vertical` is run with.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct VerticalOptions {
    /// The simulated container.
    pub spec: ContainerSpec,
    /// Seconds between decisions; None: the data step (at least 60).
    pub tick_seconds: Option<i64>,
    /// The shared vertical step's settings (its policy is set per replay).
    pub config: VerticalConfig,
    /// Requests every policy starts from; 0 is unset.
    pub initial: Resources,
}

/// The settings a replay ran with, resolved.
#[derive(Debug, Clone, Serialize)]
pub struct VerticalSettings {
    /// Seconds between decisions.
    pub tick_seconds: i64,
    /// The data step, seconds.
    pub step_seconds: i64,
    /// The options as given.
    pub options: VerticalOptions,
}

/// `report.json`'s `vertical` object.
#[derive(Debug, Clone, Serialize)]
pub struct VerticalReport {
    /// Totals over every container: `vpa`, `predictive_vertical`, `oracle_vertical`.
    pub policies: BTreeMap<String, VerticalSummary>,
    /// The same per container.
    pub containers: BTreeMap<String, BTreeMap<String, VerticalSummary>>,
    /// Per container.
    pub settings: BTreeMap<String, VerticalSettings>,
    /// Data issues the data policy handled, per container/pod.
    pub data_issues: BTreeMap<String, usize>,
}

/// One container's replay, minute by minute: max usage over pods and each policy's requests.
#[derive(Debug, Clone, Default)]
pub struct VerticalTimeline {
    /// Unix seconds of each minute.
    pub time: Vec<i64>,
    /// Max over pods.
    pub usage: Vec<Resources>,
    /// Requests in effect, per policy (in [`POLICIES`] order).
    pub requests: [Vec<Resources>; 3],
}

fn nan() -> Resources {
    Resources {
        cpu_cores: f64::NAN,
        memory_bytes: f64::NAN,
    }
}

fn max_into(a: &mut Resources, b: Resources) {
    let m = |x: f64, y: f64| if x.is_nan() { y } else { x.max(y) };
    a.cpu_cores = m(a.cpu_cores, b.cpu_cores);
    a.memory_bytes = m(a.memory_bytes, b.memory_bytes);
}

/// Per-pod usage on the minute grid (NaN where the pod has no sample), and the samples as
/// the vertical step sees them: (time complete, sample).
struct Grid {
    m0: i64,
    minutes: usize,
    pods: Vec<Vec<Resources>>,
    samples: Vec<(i64, UsageSample)>,
    step: i64,
}

fn grid(c: &ContainerSeries) -> Result<Grid> {
    let step = c.pods.iter().map(|p| p.cpu.step).min().unwrap_or(60).max(1);
    let m0 = c.pods.iter().map(|p| p.cpu.start.div_euclid(60)).min().unwrap_or(0);
    let m1 = c
        .pods
        .iter()
        .map(|p| (p.cpu.end() + 59).div_euclid(60))
        .max()
        .unwrap_or(m0);
    let minutes = (m1 - m0).max(0) as usize;
    if minutes.saturating_mul(c.pods.len()) > MAX_POD_MINUTES {
        return Err(Error::config(
            "--input",
            format!(
                "container {}: {} pods × {minutes} minutes exceeds {MAX_POD_MINUTES} pod-minutes",
                c.container,
                c.pods.len()
            ),
        ));
    }
    let mut pods = Vec::with_capacity(c.pods.len());
    let mut by_time: BTreeMap<i64, Vec<Resources>> = BTreeMap::new();
    for p in &c.pods {
        let mut g = vec![nan(); minutes];
        for (i, (&cpu, &mem)) in p.cpu.values.iter().zip(&p.memory.values).enumerate() {
            let t = p.cpu.time_at(i);
            let u = Resources {
                cpu_cores: cpu,
                memory_bytes: mem,
            };
            let (a, b) = (t.div_euclid(60) - m0, (t + p.cpu.step + 59).div_euclid(60) - m0);
            for m in a.max(0)..b.min(minutes as i64) {
                max_into(&mut g[m as usize], u);
            }
            by_time.entry(t + p.cpu.step).or_default().push(u);
        }
        pods.push(g);
    }
    let samples = by_time
        .into_iter()
        .map(|(done, pods)| {
            (
                done,
                UsageSample {
                    time: done - step,
                    pods,
                },
            )
        })
        .collect();
    Ok(Grid {
        m0,
        minutes,
        pods,
        samples,
        step,
    })
}

/// The pods' summaries summed, with the container's resize count.
fn total(pods: &[SimPod], resizes: u64) -> VerticalSummary {
    let mut s = pods.iter().fold(VerticalSummary::default(), |a, p| a.merge(&p.summary));
    s.resizes = resizes;
    s
}

/// Replays one policy of the shared step; returns its summary, requests per minute and
/// decision records.
fn replay_controlled(
    g: &Grid,
    opts: &VerticalOptions,
    policy: SizingPolicy,
    tick: i64,
) -> (VerticalSummary, Vec<Resources>, Vec<VerticalRecord>) {
    let cfg = VerticalConfig {
        policy,
        lead_seconds: opts.spec.resize_delay_minutes.max(0) * 60 + tick,
        ..opts.config
    };
    let mut ctl = VerticalController::new(cfg, g.step);
    let mut pods: Vec<SimPod> = g.pods.iter().map(|_| SimPod::new(opts.spec, opts.initial)).collect();
    let (mut setting, mut next, mut ooms) = (opts.initial, 0usize, Vec::<(i64, f64)>::new());
    let (mut requests, mut records, mut resizes) = (Vec::with_capacity(g.minutes), vec![], 0u64);
    let tick_minutes = (tick / 60).max(1);
    for m in 0..g.minutes {
        let now = (g.m0 + m as i64) * 60;
        if (m as i64) % tick_minutes == 0 {
            while next < g.samples.len() && g.samples[next].0 <= now {
                ctl.observe(&g.samples[next].1, setting);
                next += 1;
            }
            for (t, mem) in ooms.drain(..) {
                ctl.record_oom(t, mem);
            }
            let r = ctl.decide(now, setting);
            if r.changed() {
                setting = r.applied;
                resizes += 1;
                for p in &mut pods {
                    p.resize(m as i64, setting, false);
                }
            }
            records.push(r);
        }
        for (p, usage) in pods.iter_mut().zip(&g.pods) {
            if p.step(m as i64, usage[m]).oom {
                ooms.push((now, usage[m].memory_bytes));
            }
        }
        requests.push(pods[0].requests());
    }
    (total(&pods, resizes), requests, records)
}

/// Requests equal to the coming tick's peak usage over pods, in effect at once.
fn replay_oracle(g: &Grid, opts: &VerticalOptions, tick: i64) -> (VerticalSummary, Vec<Resources>) {
    let mut pods: Vec<SimPod> = g.pods.iter().map(|_| SimPod::new(opts.spec, opts.initial)).collect();
    let (mut setting, mut requests, mut resizes) = (opts.initial, Vec::with_capacity(g.minutes), 0u64);
    let tick_minutes = (tick / 60).max(1) as usize;
    for m in 0..g.minutes {
        if m % tick_minutes == 0 {
            let mut peak = nan();
            for u in &g.pods {
                for v in &u[m..(m + tick_minutes).min(g.minutes)] {
                    max_into(&mut peak, *v);
                }
            }
            if peak.cpu_cores.is_finite() && peak.memory_bytes.is_finite() && peak != setting {
                setting = peak;
                resizes += 1;
                for p in &mut pods {
                    p.resize(m as i64, setting, true);
                }
            }
        }
        for (p, usage) in pods.iter_mut().zip(&g.pods) {
            p.step(m as i64, usage[m]);
        }
        requests.push(pods[0].requests());
    }
    (total(&pods, resizes), requests)
}

/// Summaries by policy, the timeline, the shared step's records and the resolved settings.
pub type ContainerReplay = (
    BTreeMap<String, VerticalSummary>,
    VerticalTimeline,
    Vec<VerticalRecord>,
    VerticalSettings,
);

/// One container's replay: summaries by policy, the timeline and the shared step's records.
pub fn evaluate_container(c: &ContainerSeries, opts: &VerticalOptions) -> Result<ContainerReplay> {
    let g = grid(c)?;
    let tick = opts.tick_seconds.unwrap_or(g.step).max(60).div_euclid(60) * 60;
    let (vpa, vpa_req, mut records) = replay_controlled(&g, opts, SizingPolicy::Vpa, tick);
    let (pred, pred_req, pred_records) = replay_controlled(&g, opts, SizingPolicy::Predictive, tick);
    records.extend(pred_records);
    let (oracle, oracle_req) = replay_oracle(&g, opts, tick);
    let usage = (0..g.minutes)
        .map(|m| {
            let mut u = nan();
            for p in &g.pods {
                max_into(&mut u, p[m]);
            }
            u
        })
        .collect();
    let timeline = VerticalTimeline {
        time: (0..g.minutes as i64).map(|m| (g.m0 + m) * 60).collect(),
        usage,
        requests: [vpa_req, pred_req, oracle_req],
    };
    let summaries = POLICIES
        .iter()
        .map(|p| p.to_string())
        .zip([vpa, pred, oracle])
        .collect();
    let settings = VerticalSettings {
        tick_seconds: tick,
        step_seconds: g.step,
        options: *opts,
    };
    Ok((summaries, timeline, records, settings))
}

/// Loads `input`, replays every container and writes `report.json` (`{"vertical": ...}`),
/// `vertical_timeline.csv`, `decisions.jsonl` and `report.html` into `out`.
pub fn evaluate_vertical_file(input: &Path, out: &Path, opts: &VerticalOptions) -> Result<VerticalReport> {
    let containers = load_usage(input, GapPolicy::default())?;
    let mut report = VerticalReport {
        policies: BTreeMap::new(),
        containers: BTreeMap::new(),
        settings: BTreeMap::new(),
        data_issues: BTreeMap::new(),
    };
    let mut timelines = BTreeMap::new();
    let mut jsonl = String::new();
    for c in &containers {
        for p in &c.pods {
            report
                .data_issues
                .insert(format!("{}/{}", c.container, p.pod), p.issues.len());
        }
        let (summaries, timeline, records, settings) = evaluate_container(c, opts)?;
        for (name, s) in &summaries {
            let total = report.policies.entry(name.clone()).or_default();
            *total = total.merge(s);
        }
        for r in &records {
            let line = serde_json::json!({"container": c.container, "vertical": r});
            jsonl.push_str(&line.to_string());
            jsonl.push('\n');
        }
        report.containers.insert(c.container.clone(), summaries);
        report.settings.insert(c.container.clone(), settings);
        timelines.insert(c.container.clone(), timeline);
    }
    write(out, &report, &timelines, &jsonl)?;
    Ok(report)
}

fn write(
    out: &Path,
    report: &VerticalReport,
    timelines: &BTreeMap<String, VerticalTimeline>,
    jsonl: &str,
) -> Result<()> {
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let json = serde_json::to_string_pretty(&serde_json::json!({ "vertical": report }))
        .map_err(|e| Error::Encode(e.to_string()))?;
    let files: [(PathBuf, String); 4] = [
        (out.join("report.json"), json),
        (out.join("vertical_timeline.csv"), timeline_csv(timelines)),
        (out.join("decisions.jsonl"), jsonl.to_string()),
        (
            out.join("report.html"),
            super::html::vertical::render(report, timelines),
        ),
    ];
    for (p, body) in files {
        std::fs::write(&p, body).map_err(|e| Error::io(&p, e))?;
    }
    Ok(())
}

/// One row per container and minute (docs/evaluate.md).
pub fn timeline_csv(timelines: &BTreeMap<String, VerticalTimeline>) -> String {
    let mut s = String::from("timestamp,container,cpu_usage,memory_usage");
    for p in POLICIES {
        s.push_str(&format!(",{p}_cpu,{p}_memory"));
    }
    s.push('\n');
    for (name, t) in timelines {
        for (i, time) in t.time.iter().enumerate() {
            let u = t.usage[i];
            s.push_str(&format!("{time},{name},{},{}", u.cpu_cores, u.memory_bytes));
            for r in &t.requests {
                s.push_str(&format!(",{},{}", r[i].cpu_cores, r[i].memory_bytes));
            }
            s.push('\n');
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::series::Series;
    use crate::observe::usage::PodUsage;

    /// Two weeks at 5-minute steps with a working-hours CPU peak and flat memory.
    fn container(pods: usize) -> ContainerSeries {
        let n = 14 * 288;
        let cpu: Vec<f64> = (0..n)
            .map(|i| {
                let h = (i % 288) / 12;
                if (9..17).contains(&h) { 1.0 } else { 0.2 }
            })
            .collect();
        let mem = vec![400.0 * 1024.0 * 1024.0; n];
        ContainerSeries {
            container: "app".into(),
            pods: (0..pods)
                .map(|k| PodUsage {
                    pod: format!("p{k}"),
                    cpu: Series::new("c", 1_700_006_400, 300, cpu.clone()),
                    memory: Series::new("m", 1_700_006_400, 300, mem.clone()),
                    issues: vec![],
                })
                .collect(),
        }
    }

    #[test]
    fn oracle_never_violates_and_predictive_beats_vpa_on_a_daily_cycle() {
        let (s, t, records, settings) = evaluate_container(&container(2), &VerticalOptions::default()).unwrap();
        assert_eq!(settings.tick_seconds, 300);
        let (vpa, pred, oracle) = (&s["vpa"], &s["predictive_vertical"], &s["oracle_vertical"]);
        assert_eq!((oracle.violation_minutes, oracle.oom_kills), (0.0, 0));
        assert!(oracle.cpu_core_hours <= pred.cpu_core_hours, "{oracle:?} {pred:?}");
        assert!(pred.throttled_minutes <= vpa.throttled_minutes, "{pred:?} {vpa:?}");
        assert!(pred.oom_kills <= vpa.oom_kills);
        assert!(pred.cpu_core_hours <= 0.85 * vpa.cpu_core_hours, "{pred:?} {vpa:?}");
        assert_eq!(t.time.len(), 14 * 24 * 60);
        assert!(
            records
                .iter()
                .any(|r| r.policy == SizingPolicy::Predictive && r.changed())
        );
    }

    #[test]
    fn memory_above_the_request_is_killed_and_raises_memory() {
        let mut c = container(1);
        // A step up in memory on day 8: every policy sized for 400 MiB sees it.
        let p = &mut c.pods[0];
        for v in &mut p.memory.values[8 * 288..] {
            *v = 900.0 * 1024.0 * 1024.0;
        }
        let (s, t, _, _) = evaluate_container(&c, &VerticalOptions::default()).unwrap();
        for policy in ["vpa", "predictive_vertical"] {
            assert!(s[policy].oom_kills >= 1, "{policy}: {:?}", s[policy]);
        }
        let last = |k: usize| t.requests[k].last().unwrap().memory_bytes;
        assert!(last(0) > 900.0 * 1024.0 * 1024.0 && last(1) > 900.0 * 1024.0 * 1024.0);
    }
}
