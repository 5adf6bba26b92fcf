//! Capacity fitting end to end: a simulated M/M/c server whose capacity is known, and the real
//! Nezha trace spans (CI-only data; skipped with a note when absent).

use scale::capacity::fit::{CapacityModel, Observation, observations};
use scale::capacity::queue::QueueModel;
use scale::core::rng::Rng;
use scale::observe::spans::{nearest_rank, per_service_minutes, read_spans};
use std::path::Path;
use std::time::Instant;

const WORKERS: usize = 4;
const CAPACITY: f64 = 50.0;

fn exponential(rng: &mut Rng, rate: f64) -> f64 {
    -(1.0 - rng.uniform()).ln() / rate
}

/// Per-minute observations of a FCFS M/M/c server at Poisson load `lambda`: one warm-up minute,
/// then `minutes` measured ones (response times grouped by arrival minute).
fn simulate(rng: &mut Rng, lambda: f64, minutes: usize) -> Vec<Observation> {
    let mu = CAPACITY / WORKERS as f64;
    let mut free = [0.0f64; WORKERS];
    let mut per_minute = vec![Vec::new(); minutes + 1];
    let mut t = 0.0;
    loop {
        t += exponential(rng, lambda);
        let minute = (t / 60.0) as usize;
        if minute > minutes {
            break;
        }
        let (i, &soonest) = free.iter().enumerate().min_by(|a, b| a.1.total_cmp(b.1)).unwrap();
        let done = t.max(soonest) + exponential(rng, mu);
        free[i] = done;
        per_minute[minute].push(done - t);
    }
    per_minute[1..]
        .iter_mut()
        .map(|r| {
            r.sort_by(f64::total_cmp);
            (r.len() as f64 / 60.0, nearest_rank(r, 0.5), nearest_rank(r, 0.95))
        })
        .collect()
}

#[test]
fn synthetic_mmc_recovers_known_capacity() {
    let truth = QueueModel::new(CAPACITY, WORKERS as u32);
    let start = Instant::now();
    for seed in [1, 2, 3] {
        let mut rng = Rng::new(seed);
        let obs: Vec<Observation> = (5..=48).flat_map(|l| simulate(&mut rng, l as f64, 5)).collect();
        let m = CapacityModel::fit(&obs).unwrap();
        let q = m.queue.expect("simulated M/M/c data should accept the queueing fit");
        println!(
            "seed {seed}: {} obs, fitted c={} capacity={:.1} rps (log rmse {:.3})",
            m.observations,
            q.workers,
            q.capacity_per_replica,
            m.queue_log_rmse.unwrap()
        );
        for load in [30.0, 40.0, 45.0] {
            let slo = truth.p95(load);
            let got = m.capacity_at_slo(slo).unwrap();
            println!("  slo {:.3}s: true max load {load}, fitted {got:.2}", slo);
            assert!(
                (got - load).abs() <= 0.1 * load,
                "seed {seed} slo {slo}: {got} vs {load}"
            );
        }
    }
    println!("synthetic fits: {:?}", start.elapsed());
}

#[test]
fn nezha_spans_give_monotone_capacity_curves() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/datasets/nezha");
    if !root.exists() {
        eprintln!("skipping: {} is absent (CI-only data)", root.display());
        return;
    }
    // Fault-free baselines; each covers about one minute, so windows are 5 s.
    for file in [
        "nezha-onlineboutique/2022-08-23_17_00_construct_trace.csv.xz",
        "nezha-trainticket/construct_data/2023-01-29_08_50_trace.csv.xz",
    ] {
        let path = root.join(file);
        let start = Instant::now();
        let spans = read_spans(&path).unwrap();
        let read = start.elapsed();
        let windows = per_service_minutes(&spans, 5);
        println!(
            "{file}: {} spans read in {read:?}, {} service-windows",
            spans.len(),
            windows.len()
        );
        assert!(read.as_secs_f64() < 60.0, "reading {file} took {read:?}");
        check_services(&windows);
    }
}

fn check_services(windows: &[scale::observe::spans::ServiceMinute]) {
    let mut services: Vec<&str> = windows.iter().map(|w| w.service.as_str()).collect();
    services.dedup();
    println!(
        "{:<28} {:>4} {:>15} {:>19} {:>12}",
        "service", "win", "load rps", "p95 ms", "cap@2xmed"
    );
    let mut fitted = 0;
    for svc in services {
        let mine: Vec<_> = windows.iter().filter(|w| w.service == svc).cloned().collect();
        if mine.len() < 6 {
            continue;
        }
        let m = CapacityModel::fit(&observations(&mine, None)).unwrap();
        let k = &m.isotonic;
        assert!(
            k.iter().all(|k| k.0.is_finite() && k.1.is_finite() && k.2.is_finite()),
            "{svc}: {k:?}"
        );
        assert!(
            k.windows(2)
                .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1 && w[0].2 <= w[1].2),
            "{svc}: {k:?}"
        );
        let mut p95: Vec<f64> = mine.iter().map(|w| w.p95).collect();
        p95.sort_by(f64::total_cmp);
        let slo = 2.0 * nearest_rank(&p95, 0.5);
        let cap = m.capacity_at_slo(slo).map_or("none".to_string(), |c| {
            let beyond = m.queue.is_none() && c >= m.max_observed_load();
            format!("{}{c:.1}", if beyond { "≥" } else { "" })
        });
        let loads = (k[0].0, m.max_observed_load());
        println!(
            "{svc:<28} {:>4} {:>6.1} – {:>6.1} {:>8.2} – {:>8.2} {cap:>12}{}",
            mine.len(),
            loads.0,
            loads.1,
            1e3 * p95[0],
            1e3 * p95[p95.len() - 1],
            if m.queue.is_some() { " (queue)" } else { "" }
        );
        fitted += 1;
    }
    assert!(fitted >= 3, "too few services with enough windows");
}

/// `scale train` with a `[capacity]` section fits the latency curve from real Nezha spans and
/// stores it in the artifact; `scale models show` prints it.
#[test]
fn train_job_stores_capacity_fitted_from_nezha_spans() {
    let spans = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/datasets/nezha/nezha-onlineboutique/2022-08-23_17_00_construct_trace.csv.xz");
    if !spans.exists() {
        eprintln!("skipping: {} is absent (CI-only data)", spans.display());
        return;
    }
    let d = tempfile::tempdir().unwrap();
    // Three weeks of hourly demand with a daily cycle for the job's service.
    let mut csv = String::from("timestamp,value\n");
    for t in 0..21 * 24 {
        let v = 100.0 + 40.0 * ((t % 24) as f64 / 24.0 * std::f64::consts::TAU).sin() + (t * 7 % 5) as f64;
        csv += &format!(
            "{},{v}\n",
            scale::core::time::format_timestamp(1_700_000_000 / 3600 * 3600 + t * 3600)
        );
    }
    std::fs::write(d.path().join("currency.csv"), csv).unwrap();
    let job = d.path().join("job.toml");
    std::fs::write(
        &job,
        format!(
            "name = \"cap\"\nmodels_dir = {:?}\n[source]\nkind = \"file\"\npath = {:?}\n\
             [backtest]\nhorizon = \"6h\"\nfamilies = [\"seasonal_naive\", \"linear\"]\n\
             [capacity]\nspans = {:?}\nslo = \"20ms\"\nwindow = \"5s\"\n\
             [capacity.span_services]\ncurrency = \"currencyservice\"\n",
            d.path().join("models"),
            d.path().join("currency.csv"),
            spans
        ),
    )
    .unwrap();
    let bin = env!("CARGO_BIN_EXE_scale");
    let out = std::process::Command::new(bin)
        .args(["train", "--config"])
        .arg(&job)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let a = scale::train::artifact::load_active(&d.path().join("models"), "currency").unwrap();
    let c = a.state.capacity.expect("capacity stored in the artifact");
    assert!((c.slo_seconds - 0.020).abs() < 1e-12);
    let k = &c.model.isotonic;
    assert!(
        k.len() >= 3 && k.windows(2).all(|w| w[0].0 < w[1].0 && w[0].2 <= w[1].2),
        "{k:?}"
    );
    let at = c.load_per_replica_at_slo.expect("20 ms is met at light load");
    assert!(at > 0.0 && at <= c.model.max_observed_load() * 1.5, "{at} vs {k:?}");
    assert!(c.model.p95_at(at) <= 0.020 + 1e-9);
    let show = std::process::Command::new(bin)
        .args(["models", "show", "currency", "--models"])
        .arg(d.path().join("models"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&show.stdout);
    assert!(text.contains("capacity") && text.contains("currencyservice"), "{text}");
    println!("{text}");

    // A span file that does not exist fails the job naming it, and writes no new version.
    let broken = std::fs::read_to_string(&job)
        .unwrap()
        .replace(".csv.xz", ".missing.csv.xz");
    std::fs::write(&job, broken).unwrap();
    let out = std::process::Command::new(bin)
        .args(["train", "--config"])
        .arg(&job)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains(".missing.csv.xz"), "{err}");
    let versions = scale::train::artifact::versions(&d.path().join("models"), "currency").unwrap();
    assert_eq!(versions, ["v0001"]);
}
