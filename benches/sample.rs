//! Span sampler cost per span: Half-Space Trees score + learn on pre-encoded points, and the full
//! `Sampler::observe` (vocabulary lookup, operation-name normalisation, trees), against a loop
//! that only reads the same inputs (baseline). Shaped like Nezha Online Boutique: 10 services,
//! 43 operations, River's default forest (10 trees, height 8, window 250).
//! Run: cargo bench --profile dev --bench sample

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use scale::core::rng::Rng;
use scale::sample::hst::{HalfSpaceTrees, HstParams, Point};
use scale::sample::{Sampler, SamplerConfig};
use std::hint::black_box;

const N: usize = 10_000;

struct Span {
    service: String,
    operation: String,
    duration: f64,
}

fn spans() -> Vec<Span> {
    let mut rng = Rng::from_state(7);
    (0..N)
        .map(|_| {
            let op = (rng.next_u64() % 43) as usize;
            let svc = op % 10;
            let base = 0.001 * (1 + op % 13) as f64;
            let slow = if rng.uniform() < 0.05 { 9.0 } else { 1.0 };
            Span {
                service: format!("service{svc}"),
                operation: format!("hipstershop.Service{svc}/Method{op}"),
                duration: base * (0.5 + rng.uniform()) * slow,
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let spans = spans();
    let points: Vec<Point<2>> = spans
        .iter()
        .enumerate()
        .map(|(i, s)| Point {
            active: [Some((i % 10) as u32), Some(10 + (i % 43) as u32)],
            value: s.duration as f32,
        })
        .collect();
    let mut g = c.benchmark_group("sample");
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("baseline_read_inputs", |b| {
        b.iter(|| {
            let mut acc = 0.0f64;
            for s in &spans {
                acc += s.duration + (s.service.len() + s.operation.len()) as f64;
            }
            black_box(acc)
        })
    });
    let mut hst = HalfSpaceTrees::new(HstParams::default(), &[10, 43]);
    for p in &points {
        hst.score_learn(p);
    }
    g.bench_function("hst_score_learn", |b| {
        b.iter(|| {
            let mut acc = 0.0;
            for p in &points {
                acc += hst.score_learn(black_box(p));
            }
            black_box(acc)
        })
    });
    let mut sampler = Sampler::new(SamplerConfig::default()).expect("default config");
    for s in &spans {
        sampler.observe(&s.service, &s.operation, s.duration);
    }
    g.bench_function("sampler_observe", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for s in &spans {
                n += sampler.observe(&s.service, &s.operation, s.duration).sampled as usize;
            }
            black_box(n)
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
