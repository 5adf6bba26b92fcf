//! Decisions per second: one HPA reconcile (replica calculation + behavior), one KPA decide,
//! and one predictive governor tick, each against the cost of cloning its input (baseline).
//! Run: cargo bench --profile dev --bench decide

use criterion::{Criterion, criterion_group, criterion_main};
use scale::govern::{GovernorConfig, GovernorInput, GovernorState};
use scale::reactive::hpa::controller::HpaController;
use scale::reactive::hpa::replica::{ContainerInput, ControllerOptions, MetricsView, PodInput, PodPhase};
use scale::reactive::hpa::spec::HpaSpec;
use scale::reactive::kpa::{self, KpaSpec, KpaState, KpaTick};
use std::collections::BTreeMap;
use std::hint::black_box;

fn pods(n: u32) -> MetricsView {
    let pods = (0..n)
        .map(|i| PodInput {
            name: format!("pod-{i}"),
            phase: PodPhase::Running,
            ready: true,
            start_time: Some(-3600),
            ready_time: Some(-3500),
            deleting: false,
            containers: vec![ContainerInput {
                name: Some("app".into()),
                cpu_request_milli: Some(500.0),
                cpu_usage_milli: Some(300.0 + (i % 7) as f64 * 40.0),
                memory_request_bytes: None,
                memory_usage_bytes: None,
            }],
            metrics: BTreeMap::new(),
        })
        .collect();
    MetricsView {
        pods,
        ..Default::default()
    }
}

fn hpa(c: &mut Criterion) {
    let spec: HpaSpec = serde_json::from_value(serde_json::json!({"maxReplicas": 200,
        "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}}]}))
    .expect("valid spec");
    for n in [10u32, 100] {
        let view = pods(n);
        c.bench_function(&format!("baseline/clone_input/{n}_pods"), |b| {
            b.iter(|| black_box(view.clone()))
        });
        let mut ctl = HpaController::new(spec.clone(), ControllerOptions::default()).expect("valid");
        let mut t = 0;
        c.bench_function(&format!("hpa_tick/{n}_pods"), |b| {
            b.iter(|| {
                t += 15;
                black_box(ctl.tick(t, n, black_box(&view)))
            })
        });
    }
}

fn kpa_bench(c: &mut Criterion) {
    let spec: KpaSpec =
        serde_json::from_value(serde_json::json!({"targetValue": 10, "totalValue": 13.33})).expect("valid");
    let mut state = KpaState::default();
    let mut t = 0;
    c.bench_function("kpa_tick", |b| {
        b.iter(|| {
            t += 2;
            let tick = KpaTick {
                time: t,
                ready_pods: 5,
                stable_value: 40.0 + (t % 30) as f64,
                panic_value: 45.0,
            };
            black_box(kpa::decide(&spec, &mut state, black_box(&tick)))
        })
    });
}

fn governor(c: &mut Criterion) {
    let cfg = GovernorConfig::hpa_default(1, 100);
    let mut st = GovernorState::default();
    let mut t = 0;
    c.bench_function("governor_tick", |b| {
        b.iter(|| {
            t += 15;
            let input = GovernorInput {
                now: t,
                current: 10,
                reactive: Some(9 + (t % 4) as u32),
                metric_age_seconds: Some(5),
                predictive: Some(Ok(12)),
                limits: None,
                safety_floor: None,
                burst: None,
                implausible: false,
                rule: None,
            };
            black_box(cfg.govern(black_box(&input), &mut st))
        })
    });
}

criterion_group!(benches, hpa, kpa_bench, governor);
criterion_main!(benches);
