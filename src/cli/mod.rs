//! The `scale` command line: one file per subcommand, each with its clap arguments and a `run`
//! that calls the library and prints. Clap types live only here.

mod backtest;
mod bench;
mod crd;
mod datasets;
mod decide;
mod demo;
mod evaluate;
mod forecast;
mod keda;
mod models;
mod rules;
mod sample;
mod serve;
mod train;

use crate::core::time::parse_duration;
use crate::{Error, Result};
use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "scale",
    version,
    about = "SCALE: predictive autoscaling — forecast demand, scale ahead of it"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the embedded demo: synthetic services + bundled SF traffic, train, replay, report.
    Demo(demo::Args),
    /// Backtest, replay every policy against the simulated cluster, write report.json/.html.
    Evaluate(evaluate::Args),
    /// Rolling-origin backtest of every model family; writes backtest.json.
    Backtest(backtest::Args),
    /// Train per-service models from a job spec (training/<name>.toml) into models/.
    Train(train::Args),
    /// Forecast from a trained artifact (verifies checksum and schema); prints JSON.
    Forecast(forecast::Args),
    /// Replay ticks through the HPA or KPA engine and its governor; one JSON line per tick.
    Decide(decide::Args),
    /// Inspect trained model versions.
    Models {
        #[command(subcommand)]
        command: models::Command,
    },
    /// Generate data sets.
    Datasets {
        #[command(subcommand)]
        command: datasets::Command,
    },
    /// Score spans with Half-Space Trees and mark the anomalous ones sampled (docs/sample.md).
    Sample(sample::Args),
    /// Print the ForecastScaler CustomResourceDefinition (YAML) for `kubectl apply -f -`.
    Crd,
    /// Serve the forecast to KEDA as an external scaler (gRPC, docs/keda.md).
    Keda(keda::Args),
    /// Latency rules (kind LatencyBasedAutoScaler, docs/rules.md).
    Rules {
        #[command(subcommand)]
        command: rules::Command,
    },
    /// Run the predictive autoscaler: config file → control loop + HTTP API (docs/serve.md).
    Serve(serve::Args),
    /// Benchmarks run from the CLI (docs/benchmarks.md).
    Bench {
        #[command(subcommand)]
        command: bench::Command,
    },
}

/// The binary's entry point: parse, set up logging, run, and turn an error into one line on
/// stderr and a non-zero exit.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // The server logs one info line per decision; the batch commands stay quiet.
    let default_level = if matches!(cli.command, Command::Serve(_)) {
        "info"
    } else {
        "warn"
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SCALE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level)),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line, whatever the source error looked like.
            eprintln!("error: {}", e.to_string().replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Demo(a) => demo::run(a),
        Command::Evaluate(a) => evaluate::run(a),
        Command::Backtest(a) => backtest::run(a),
        Command::Train(a) => train::run(a),
        Command::Forecast(a) => forecast::run(a),
        Command::Decide(a) => decide::run(a),
        Command::Models { command } => models::run(command),
        Command::Datasets { command } => datasets::run(command),
        Command::Sample(a) => sample::run(a),
        Command::Crd => crd::run(),
        Command::Keda(a) => keda::run(a),
        Command::Rules { command } => rules::run(command),
        Command::Serve(a) => serve::run(a),
        Command::Bench { command } => bench::run(command),
    }
}

/// A duration flag in whole seconds, if given.
fn duration_secs(field: &str, v: Option<String>) -> Result<Option<i64>> {
    v.map(|s| parse_duration(field, &s)).transpose()
}

/// A latency flag in seconds as a float, so sub-second SLOs like 250ms work.
fn latency_secs(field: &str, v: Option<String>) -> Result<Option<f64>> {
    let Some(s) = v else { return Ok(None) };
    if let Ok(x) = s.trim().parse::<f64>()
        && x > 0.0
        && x.is_finite()
    {
        return Ok(Some(x));
    }
    humantime::parse_duration(s.trim())
        .map(|d| Some(d.as_secs_f64()))
        .ok()
        .filter(|d| d.is_some_and(|x| x > 0.0))
        .ok_or_else(|| Error::config(field, format!("cannot parse duration {s:?}")))
}

/// A pretty JSON document, or the error naming what failed to serialize.
fn to_json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string_pretty(v).map_err(|e| Error::Encode(e.to_string()))
}
