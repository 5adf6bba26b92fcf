//! `scale bench serve` and `scale bench otlp` (docs/benchmarks.md).

use crate::Result;
use crate::serve::bench::{BenchOptions, parse_families, run as run_bench};
use crate::serve::bench_otlp::{OtlpBenchOptions, Protocol, run as run_otlp};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Time serve ticks (fetch → forecast → plan → govern → publish) for many services on one
    /// core and report the peak RSS; prints JSON.
    Serve {
        #[arg(long, default_value_t = 10_000)]
        services: usize,
        #[arg(long, default_value_t = 3)]
        ticks: usize,
        /// Trained artifacts the services share (hard-linked copies).
        #[arg(long, default_value_t = 4)]
        templates: usize,
        /// Days of 5-minute synthetic data each template is trained on.
        #[arg(long, default_value_t = 14)]
        days: usize,
        /// Families training may select, comma-separated (default: the training default).
        #[arg(long, default_value = "seasonal_naive,ets,mstl,linear")]
        families: String,
    },
    /// Sustained OTLP ingest on 127.0.0.1: a bounded, paced load generator sends two-span
    /// traces to the receivers with the window store, the sampler tap and a latency rule per
    /// service on, then to the same server discarding them (the baseline); checks every complete
    /// window's per-service request rate against what was sent; prints JSON.
    Otlp {
        /// `http` (OTLP/HTTP protobuf) or `grpc`.
        #[arg(long, value_enum, default_value_t = Protocol::Http)]
        protocol: Protocol,
        /// Target spans per second, all connections together (1..=5000000).
        #[arg(long, default_value_t = 300_000)]
        rate: u64,
        /// Seconds of load per pass (1..=600).
        #[arg(long, default_value_t = 40)]
        seconds: u64,
        /// The aggregator's window (1s..=10m); the run should span at least three.
        #[arg(long, default_value = "10s")]
        window: String,
        /// Spans per request, even (2..=10000).
        #[arg(long, default_value_t = 1000)]
        batch: usize,
        /// Services the traces are spread over (1..=1000).
        #[arg(long, default_value_t = 20)]
        services: usize,
        /// Concurrent connections (1..=64).
        #[arg(long, default_value_t = 4)]
        connections: usize,
    },
}

pub fn run(c: Command) -> Result<()> {
    match c {
        Command::Serve {
            services,
            ticks,
            templates,
            days,
            families,
        } => {
            let report = run_bench(&BenchOptions {
                services,
                ticks,
                templates,
                days,
                families: parse_families(&families)?,
            })?;
            println!("{}", super::to_json(&report)?);
        }
        Command::Otlp {
            protocol,
            rate,
            seconds,
            window,
            batch,
            services,
            connections,
        } => {
            let report = run_otlp(&OtlpBenchOptions {
                protocol,
                rate,
                seconds,
                window_seconds: crate::core::time::parse_duration("--window", &window)?,
                batch,
                services,
                connections,
            })?;
            println!("{}", super::to_json(&report)?);
        }
    }
    Ok(())
}
