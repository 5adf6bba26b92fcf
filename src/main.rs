//! The `scale` command line. Thin: parse, call the library, print, exit non-zero on error.

use clap::{Parser, Subcommand};
use scale::core::series::GapPolicy;
use scale::core::time::{format_duration, parse_duration};
use scale::evaluate::report::{EvalReport, Policies};
use scale::evaluate::{EvalOptions, evaluate_file};
use scale::train::backtest::{BacktestConfig, backtest};
use scale::{Error, Result};
use std::path::PathBuf;
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
    Demo {
        #[arg(long, default_value = "scale-demo")]
        output: PathBuf,
        /// Days of synthetic history per service.
        #[arg(long, default_value_t = 21)]
        days: usize,
        /// Number of synthetic services.
        #[arg(long, default_value_t = 4)]
        services: usize,
    },
    /// Backtest, replay every policy against the simulated cluster, write report.json/.html.
    Evaluate {
        #[arg(long)]
        input: PathBuf,
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
    },
    /// Rolling-origin backtest of every model family; writes backtest.json.
    Backtest {
        #[arg(long)]
        input: PathBuf,
        /// Forecast horizon, e.g. 1h or 1d.
        #[arg(long)]
        horizon: String,
        #[arg(long, default_value = ".")]
        output: PathBuf,
        /// Also write each series exactly as backtested (after the gap policy) to
        /// DIR/series/<name>.csv, so other tools can score the same data.
        #[arg(long)]
        write_series: bool,
    },
    /// Train per-service models from a job spec (training/<name>.toml) into models/.
    Train {
        #[arg(long)]
        config: PathBuf,
    },
    /// Forecast from a trained artifact (verifies checksum and schema); prints JSON.
    Forecast {
        #[arg(long, default_value = "models")]
        models: PathBuf,
        #[arg(long)]
        service: String,
        /// How far ahead, e.g. 1h.
        #[arg(long, default_value = "1h")]
        horizon: String,
    },
    /// Replay ticks through the HPA or KPA engine and its governor; one JSON line per tick.
    Decide {
        /// Input JSON file, or - for stdin (docs/decide.md).
        #[arg(long)]
        input: String,
    },
    /// Inspect trained model versions.
    Models {
        #[command(subcommand)]
        command: ModelsCommand,
    },
    /// Generate data sets.
    Datasets {
        #[command(subcommand)]
        command: DatasetsCommand,
    },
    /// Score spans with Half-Space Trees and mark the anomalous ones sampled (docs/sample.md).
    Sample(scale::sample::csv::SampleArgs),
    /// Print the ForecastScaler CustomResourceDefinition (YAML) for `kubectl apply -f -`.
    Crd,
    /// Serve the forecast to KEDA as an external scaler (gRPC, docs/keda.md).
    Keda {
        /// Address to listen on; port 0 picks a free port (the bound address is printed).
        #[arg(long, default_value = "0.0.0.0:9090")]
        listen: String,
        /// Models directory used when a ScaledObject sets no modelsDir.
        #[arg(long, default_value = "models")]
        models: PathBuf,
        /// How often StreamIsActive pushes the current state.
        #[arg(long, default_value = "30s")]
        stream_interval: String,
    },
    /// Latency rules (kind LatencyBasedAutoScaler, docs/rules.md).
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// Run the predictive autoscaler: config file → control loop + HTTP API (docs/serve.md).
    Serve(ServeArgs),
    /// Benchmarks run from the CLI (docs/benchmarks.md).
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Time serve ticks (forecast → plan → govern → publish) for many services on one core and
    /// report the peak RSS; prints JSON.
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
}

#[derive(Subcommand)]
enum RulesCommand {
    /// Validate a rule file or directory and print the parsed rules; exit 1 on the first error.
    Check { path: PathBuf },
}

#[derive(Subcommand)]
enum ModelsCommand {
    /// Every service: versions, selected family, backtest MASE, which is active.
    List {
        #[arg(long, default_value = "models")]
        models: PathBuf,
    },
    /// One service: each version's manifest summary and promotion decision.
    Show {
        service: String,
        #[arg(long, default_value = "models")]
        models: PathBuf,
    },
}

#[derive(Subcommand)]
enum DatasetsCommand {
    /// Seeded synthetic demand for N services, written as service,timestamp,value.
    Synth {
        #[arg(long, default_value_t = 4)]
        services: usize,
        #[arg(long, default_value_t = 21)]
        days: usize,
        #[arg(long, default_value = "5m")]
        step: String,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        #[arg(long)]
        output: PathBuf,
    },
}

fn main() -> ExitCode {
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

fn duration_secs(field: &str, v: Option<String>) -> Result<Option<i64>> {
    v.map(|s| parse_duration(field, &s)).transpose()
}

/// Seconds as a float, so sub-second SLOs like 250ms work.
fn latency_secs(field: &str, v: Option<String>) -> Result<Option<f64>> {
    let Some(s) = v else { return Ok(None) };
    if let Ok(x) = s.trim().parse::<f64>() {
        if x > 0.0 && x.is_finite() {
            return Ok(Some(x));
        }
    }
    humantime::parse_duration(s.trim())
        .map(|d| Some(d.as_secs_f64()))
        .ok()
        .filter(|d| d.is_some_and(|x| x > 0.0))
        .ok_or_else(|| Error::config(field, format!("cannot parse duration {s:?}")))
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Demo { output, days, services } => {
            let mut opts = scale::evaluate::demo::DemoOptions::default();
            opts.synth.days = days;
            opts.synth.services = services;
            let report = scale::evaluate::demo::run(&output, &opts)?;
            print_summary(&report);
            println!("\nreport: {}", output.join("report.html").display());
            println!("models: {}", output.join("models").display());
        }
        Command::Evaluate {
            input,
            output,
            capacity_per_replica,
            startup,
            tick,
            slo_latency,
        } => {
            let opts = EvalOptions {
                capacity_per_replica,
                startup: duration_secs("--startup", startup)?,
                tick: duration_secs("--tick", tick)?,
                slo_latency: latency_secs("--slo-latency", slo_latency)?,
                ..EvalOptions::default()
            };
            let report = evaluate_file(&input, &output, &opts)?;
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
            }
            print_summary(&report);
            println!("\nwrote {}/report.json, report.html, timeline.csv", output.display());
        }
        Command::Backtest {
            input,
            horizon,
            output,
            write_series,
        } => {
            let horizon_secs = parse_duration("--horizon", &horizon)?;
            let loaded = scale::observe::load_series(&input, GapPolicy::default())?;
            let mut per_service = serde_json::Map::new();
            let mut first = None;
            for c in &loaded {
                let s = &c.series;
                let steps = (horizon_secs + s.step - 1) / s.step;
                let r = backtest(s, &BacktestConfig::new(steps.max(1) as usize))?;
                println!(
                    "{}: selected {} (horizon {} steps)",
                    s.name, r.selected, r.horizon_steps
                );
                for m in &r.models {
                    println!(
                        "  {:<15} mase {:>7.3}  smape {:>7.2}  cov80 {:>5.2}  cov95 {:>5.2}  {:>8.2} ms",
                        m.name, m.mase, m.smape, m.coverage_80, m.coverage_95, m.fit_predict_ms
                    );
                }
                for f in &r.failed {
                    println!("  {:<15} failed: {}", f.name, f.error);
                }
                if write_series {
                    write_series_csv(&output, s)?;
                }
                let v = serde_json::to_value(&r).map_err(|e| Error::Invalid(e.to_string()))?;
                first.get_or_insert_with(|| v.clone());
                per_service.insert(s.name.clone(), v);
            }
            let mut doc = first.ok_or_else(|| Error::Invalid("no series".into()))?;
            if let Some(obj) = doc.as_object_mut() {
                obj.insert("input".into(), input.display().to_string().into());
                obj.insert("services".into(), per_service.into());
            }
            std::fs::create_dir_all(&output).map_err(|e| Error::io(&output, e))?;
            let path = output.join("backtest.json");
            std::fs::write(&path, serde_json::to_string_pretty(&doc).unwrap_or_default())
                .map_err(|e| Error::io(&path, e))?;
            println!("wrote {}", path.display());
        }
        Command::Train { config } => {
            let spec = scale::train::job::JobSpec::load(&config)?;
            for t in scale::train::run_job(&spec)? {
                let p = &t.promotion;
                println!(
                    "{}: {} mase {:.3} → {} ({}: {})",
                    t.service,
                    t.report.selected,
                    p.candidate_mase,
                    t.dir.display(),
                    if p.promoted {
                        "promoted"
                    } else {
                        "rejected, last good version stays active"
                    },
                    p.reason
                );
            }
        }
        Command::Forecast {
            models,
            service,
            horizon,
        } => {
            let art = scale::train::artifact::load_active(&models, &service)?;
            let step = art.state.step;
            let steps = ((parse_duration("--horizon", &horizon)? + step - 1) / step).max(1) as usize;
            let f = art.forecast(&[], steps)?;
            let origin = art.state.history_start + art.state.history.len() as i64 * step;
            let out = serde_json::json!({
                "service": service,
                "version": art.manifest.version,
                "family": art.manifest.family,
                "start": origin,
                "step": step,
                "forecast": f,
            });
            println!("{out}");
        }
        Command::Keda {
            listen,
            models,
            stream_interval,
        } => keda(&listen, models, &stream_interval)?,
        Command::Serve(args) => serve(args)?,
        Command::Bench {
            command:
                BenchCommand::Serve {
                    services,
                    ticks,
                    templates,
                    days,
                    families,
                },
        } => {
            let report = scale::serve::bench::run(&scale::serve::bench::BenchOptions {
                services,
                ticks,
                templates,
                days,
                families: scale::serve::bench::parse_families(&families)?,
            })?;
            println!(
                "{}",
                serde_json::to_string_pretty(&report).map_err(|e| Error::Invalid(e.to_string()))?
            );
        }
        Command::Models {
            command: ModelsCommand::List { models },
        } => models_list(&models)?,
        Command::Models {
            command: ModelsCommand::Show { service, models },
        } => models_show(&models, &service)?,
        Command::Decide { input } => {
            let text = if input == "-" {
                let mut s = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut s).map_err(|e| Error::io("-", e))?;
                s
            } else {
                std::fs::read_to_string(&input).map_err(|e| Error::io(&input, e))?
            };
            let source = if input == "-" { "stdin" } else { input.as_str() };
            for line in scale::reactive::replay::run(source, &text)? {
                println!("{line}");
            }
        }
        Command::Crd => print!("{}", scale::serve::forecastscaler::crd::crd_yaml()?),
        Command::Datasets {
            command:
                DatasetsCommand::Synth {
                    services,
                    days,
                    step,
                    seed,
                    output,
                },
        } => {
            let spec = scale::sim::synth::SynthSpec {
                services,
                days,
                step: parse_duration("--step", &step)?,
                seed,
                ..Default::default()
            };
            let series = scale::sim::synth::generate(&spec);
            std::fs::write(&output, scale::sim::synth::to_long_csv(&series)).map_err(|e| Error::io(&output, e))?;
            println!(
                "wrote {} services × {} points to {}",
                series.len(),
                series.first().map_or(0, |s| s.len()),
                output.display()
            );
        }
        Command::Rules {
            command: RulesCommand::Check { path },
        } => {
            let set = scale::reactive::rules::reload::load_set(&path)?;
            for r in &set.rules {
                println!("{r}");
            }
            println!("ok: {} rules in {} files", set.rules.len(), set.files.len());
        }
        Command::Sample(args) => {
            let s = scale::sample::csv::run(&args)?;
            eprintln!(
                "scored {} spans, sampled {}; scoring took {:.3} ms ({:.3} µs/span, excluding I/O)",
                s.spans,
                s.sampled,
                s.scoring_seconds * 1e3,
                s.scoring_seconds * 1e6 / s.spans.max(1) as f64
            );
        }
    }
    Ok(())
}

fn services(models: &std::path::Path) -> Result<Vec<String>> {
    let rd = std::fs::read_dir(models).map_err(|e| Error::io(models, e))?;
    let mut names: Vec<String> = rd
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    Ok(names)
}

fn models_list(models: &std::path::Path) -> Result<()> {
    use scale::train::artifact;
    println!(
        "{:<24} {:<8} {:<15} {:>8} {:<6}",
        "service", "version", "family", "mase", "active"
    );
    for svc in services(models)? {
        let active = artifact::active_version(models, &svc)?;
        for v in artifact::versions(models, &svc)? {
            let mark = if Some(&v) == active.as_ref() { "*" } else { "" };
            match artifact::load(&models.join(&svc).join(&v)) {
                Ok(a) => {
                    let mase = a.manifest.backtest.selected_score().map_or(f64::NAN, |s| s.mase);
                    println!("{svc:<24} {v:<8} {:<15} {mase:>8.3} {mark:<6}", a.manifest.family);
                }
                Err(e) => println!("{svc:<24} {v:<8} {:<15} {:>8} {mark:<6} ({e})", "unloadable", "-"),
            }
        }
    }
    Ok(())
}

fn models_show(models: &std::path::Path, service: &str) -> Result<()> {
    use scale::train::artifact;
    let versions = artifact::versions(models, service)?;
    if versions.is_empty() {
        return Err(Error::artifact(models.join(service), "no model versions"));
    }
    let active = artifact::active_version(models, service)?;
    for v in versions {
        let active_mark = if Some(&v) == active.as_ref() { " (active)" } else { "" };
        println!("{service} {v}{active_mark}");
        match artifact::load(&models.join(service).join(&v)) {
            Ok(a) => {
                let m = &a.manifest;
                println!("  created   {}", m.created_at);
                println!("  params    {}", serde_json::to_string(&m.params).unwrap_or_default());
                println!(
                    "  data      {} .. {} ({} points, step {}s) {}",
                    scale::core::time::format_timestamp(m.data_window.start),
                    scale::core::time::format_timestamp(m.data_window.end),
                    m.data_window.points,
                    m.data_window.step,
                    m.data_fingerprint
                );
                for s in &m.backtest.models {
                    let sel = if s.name == m.backtest.selected { "*" } else { " " };
                    println!(
                        "  {sel} {:<15} mase {:>7.3} smape {:>7.2} cov80 {:.2} cov95 {:.2}",
                        s.name, s.mase, s.smape, s.coverage_80, s.coverage_95
                    );
                }
                if let Some(c) = &a.state.capacity {
                    let at = c
                        .load_per_replica_at_slo
                        .map_or("SLO missed at every observed load".to_string(), |l| {
                            format!("{l:.4} req/s per replica")
                        });
                    println!(
                        "  capacity  {at} at p95 <= {}s ({} by {}, from {})",
                        c.slo_seconds,
                        c.model.observations,
                        if c.model.queue.is_some() { "M/M/c" } else { "isotonic" },
                        c.source
                    );
                }
                if let Some(p) = &m.promotion {
                    println!(
                        "  promotion {}: {}",
                        if p.promoted { "promoted" } else { "rejected" },
                        p.reason
                    );
                }
            }
            Err(e) => println!("  unloadable: {e}"),
        }
    }
    Ok(())
}

fn print_summary(report: &EvalReport) {
    let row = |name: &str, p: &Policies| {
        for (policy, s) in [
            ("predictive", &p.predictive),
            ("reactive_hpa", &p.reactive_hpa),
            ("oracle", &p.oracle),
        ] {
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

/// `DIR/series/<name>.csv` as `timestamp,value`; the name keeps only `[A-Za-z0-9._-]`.
fn write_series_csv(dir: &std::path::Path, s: &scale::core::series::Series) -> Result<()> {
    let dir = dir.join("series");
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let safe: String = s
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut text = String::from("timestamp,value\n");
    for (i, v) in s.values.iter().enumerate() {
        let t = s.start + i as i64 * s.step;
        text.push_str(&format!("{},{v}\n", scale::core::time::format_timestamp(t)));
    }
    let path = dir.join(format!("{safe}.csv"));
    std::fs::write(&path, text).map_err(|e| Error::io(&path, e))
}

fn keda(listen: &str, models: PathBuf, stream_interval: &str) -> Result<()> {
    let interval = parse_duration("--stream-interval", stream_interval)?;
    let scaler = std::sync::Arc::new(scale::serve::keda::Scaler {
        source: scale::serve::keda::ForecastSource::new(models),
        stream_interval: std::time::Duration::from_secs(interval as u64),
    });
    let rt = tokio::runtime::Runtime::new().map_err(|e| Error::io("tokio runtime", e))?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| Error::config("--listen", format!("cannot bind {listen}: {e}")))?;
        let addr = listener.local_addr().map_err(|e| Error::io(listen, e))?;
        // Tests and wrappers read this line to learn the port.
        println!("scale keda listening on {addr}");
        use std::io::Write;
        let _ = std::io::stdout().flush();
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        scale::serve::keda::serve(listener, scaler, shutdown).await
    })
}

#[derive(clap::Args)]
struct ServeArgs {
    /// The serve TOML file.
    #[arg(long)]
    config: PathBuf,
    /// Overrides `defaults.mode` in the file.
    #[arg(long, value_enum)]
    mode: Option<scale::serve::config::ModeName>,
    /// Run one tick per service and exit.
    #[arg(long, conflicts_with = "ticks")]
    once: bool,
    /// Run N ticks per service and exit.
    #[arg(long)]
    ticks: Option<u64>,
    /// Leader election with a Kubernetes Lease: only the leader actuates; others forecast.
    #[arg(long)]
    leader_elect: bool,
    #[arg(long)]
    lease_name: Option<String>,
    #[arg(long)]
    lease_namespace: Option<String>,
    #[arg(long)]
    lease_identity: Option<String>,
    #[arg(long)]
    lease_duration: Option<String>,
    #[arg(long)]
    renew_deadline: Option<String>,
    #[arg(long)]
    retry_period: Option<String>,
}

fn serve(a: ServeArgs) -> Result<()> {
    let lease = scale::serve::config::LeaderElection {
        enabled: a.leader_elect,
        lease_name: a.lease_name,
        lease_namespace: a.lease_namespace,
        identity: a.lease_identity,
        lease_duration: duration_secs("--lease-duration", a.lease_duration)?,
        renew_deadline: duration_secs("--renew-deadline", a.renew_deadline)?,
        retry_period: duration_secs("--retry-period", a.retry_period)?,
    };
    lease.validate()?;
    if a.ticks == Some(0) {
        return Err(Error::config("--ticks", "must be at least 1"));
    }
    let cfg = scale::serve::config::ServeConfig::load(&a.config)?;
    let opts = scale::serve::RunOptions {
        mode: a.mode.map(Into::into),
        ticks: if a.once { Some(1) } else { a.ticks },
        clock: std::sync::Arc::new(scale::core::time::SystemClock),
    };
    let rt = tokio::runtime::Runtime::new().map_err(|e| Error::io("tokio runtime", e))?;
    let act = scale::serve::ActuateOptions {
        kube: None,
        leader: lease,
    };
    rt.block_on(scale::serve::run_with(cfg, opts, act, scale::serve::shutdown_signal()))
}
