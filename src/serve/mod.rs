//! `scale serve`: the long-running predictive autoscaler (docs/serve.md). Config → one task per
//! service (fetch → forecast → plan → govern → actuate) → HTTP API with metrics and decisions.

pub mod actuation;
pub(crate) mod bench;
pub(crate) mod bench_otlp;
pub mod config;
pub mod events;
pub(crate) mod forecast;
pub mod forecastscaler;
pub(crate) mod http;
pub(crate) mod keda;
pub(crate) mod leader;
pub(crate) mod metrics;
pub mod publish;
pub(crate) mod registry;
pub mod rules;
pub mod service;
pub mod tick;
pub(crate) mod tracker;
pub mod vertical;

use crate::actuate::target;
use crate::core::time::Clock;
use crate::govern::Mode;
use crate::observe::MetricSource;
use crate::observe::traces::TraceSource;
use crate::{Error, Result};
use config::ServeConfig;
use publish::Shared;
use service::ServiceLoop;
use std::sync::Arc;
use tick::{TickContext, run_service};

/// How [`run`] runs the configured services.
pub struct RunOptions {
    /// Overrides `defaults.mode`.
    pub mode: Option<Mode>,
    /// Stop after this many ticks per service; None runs until shutdown.
    pub ticks: Option<u64>,
    /// Time for ticks and leases (a manual clock in tests).
    pub clock: Arc<dyn Clock>,
}

/// Runs until every service finished its ticks or `shutdown` resolves. Prints
/// `scale serve listening on ADDR` once the HTTP server is bound (tests read the port).
pub async fn run(
    cfg: ServeConfig,
    opts: RunOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    run_with(cfg, opts, ActuateOptions::default(), shutdown).await
}

/// How serve reaches live targets.
#[derive(Default)]
pub struct ActuateOptions {
    /// The Kubernetes client; None: in-cluster or kubeconfig (`kube::Client::try_default`) when a
    /// target or leader election needs one.
    pub kube: Option<kube::Client>,
    /// `--leader-elect` and the lease flags; disabled: this instance always actuates.
    pub leader: config::LeaderElection,
}

/// This instance's name in Leases and Events: `--lease-identity`, else `POD_NAME`, else
/// `HOSTNAME`, else `scale-PID`.
pub fn identity(le: &config::LeaderElection) -> String {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    le.identity
        .clone()
        .or_else(|| var("POD_NAME"))
        .or_else(|| var("HOSTNAME"))
        .unwrap_or_else(|| format!("scale-{}", std::process::id()))
}

/// As [`run`], with live targets and leader election.
pub async fn run_with(
    cfg: ServeConfig,
    opts: RunOptions,
    act: ActuateOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mode = opts.mode.unwrap_or(cfg.defaults.mode.into());
    let mut cfg = cfg;
    let names: Vec<String> = cfg.services.iter().map(|s| s.name.clone()).collect();
    // Rules load and attach before anything listens: a bad one stops start-up.
    let reloader = match &cfg.rules {
        Some(r) => Some(rules::load(r, &names)?),
        None => None,
    };
    let (source, receivers, traces) = demand_source(&mut cfg).await?;
    // Every target is built before anything runs, so a bad one stops start-up.
    let watch = cfg.kubernetes.watch_forecastscalers;
    let needs_kube = act.leader.enabled
        || watch
        || cfg
            .services
            .iter()
            .any(|s| s.target.as_ref().is_some_and(|t| t.needs_kube()));
    let kube = match (act.kube, needs_kube) {
        (Some(c), _) => Some(c),
        (None, true) => Some(
            kube::Client::try_default()
                .await
                .map_err(|e| Error::config("kubernetes", format!("no in-cluster config or kubeconfig: {e}")))?,
        ),
        (None, false) => None,
    };
    let me = identity(&act.leader);
    if act.leader.enabled {
        // The defaults fill what the flags leave out; the filled set must still be ordered.
        let le = &act.leader;
        config::LeaderElection {
            lease_duration: Some(le.lease_duration.unwrap_or(LEASE_DEFAULTS.0)),
            renew_deadline: Some(le.renew_deadline.unwrap_or(LEASE_DEFAULTS.1)),
            retry_period: Some(le.retry_period.unwrap_or(LEASE_DEFAULTS.2)),
            ..le.clone()
        }
        .validate()?;
    }
    let gate = act
        .leader
        .enabled
        .then(|| leader::LeaderGate::new(act.leader.renew_deadline.unwrap_or(LEASE_DEFAULTS.1)));
    let mut actuations = Vec::new();
    for (i, s) in cfg.services.iter().enumerate() {
        actuations.push(actuation_for(
            s,
            &format!("service[{i}].target"),
            mode,
            kube.as_ref(),
            &me,
            gate.as_ref(),
        )?);
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let rules = match (reloader, &cfg.rules, traces) {
        (Some(l), Some(r), Some((traces, window))) => Some(rules::RuleLink::new(
            rules::spawn(l, r, stop_rx.clone()),
            traces,
            window,
        )),
        // ServeConfig::validate refuses this already; a config built in code must not lose rules.
        (Some(_), _, _) => return Err(Error::config("rules", config::RULES_NEED_TRACES)),
        _ => None,
    };
    let shared = Arc::new(Shared::new(&names));
    if let Some((r, _)) = &receivers {
        shared.metrics.attach_otlp(r.live_stats());
    }
    let listener = tokio::net::TcpListener::bind(&cfg.server.listen)
        .await
        .map_err(|e| Error::config("server.listen", format!("cannot bind {}: {e}", cfg.server.listen)))?;
    let addr = listener.local_addr().map_err(|e| Error::io(&cfg.server.listen, e))?;
    println!("scale serve listening on {addr}");
    {
        use std::io::Write;
        let _ = std::io::stdout().flush();
    }
    tracing::info!(%addr, services = names.len(), mode = config::mode_label(mode), "serving");
    let tick = std::time::Duration::from_secs(cfg.tick_seconds() as u64);
    if let (Some(gate), Some(client)) = (&gate, &kube) {
        let le = &act.leader;
        let elector = crate::actuate::kube::lease::LeaderElector::new(
            client.clone(),
            &le.lease_namespace
                .clone()
                .or_else(|| std::env::var("POD_NAMESPACE").ok().filter(|v| !v.is_empty()))
                .unwrap_or_else(|| "default".into()),
            le.lease_name.as_deref().unwrap_or("scale-leader"),
            &me,
            std::time::Duration::from_secs(le.lease_duration.unwrap_or(LEASE_DEFAULTS.0).max(1) as u64),
            opts.clock.clone(),
        );
        tokio::spawn(leader::run_election(
            elector,
            gate.clone(),
            opts.clock.clone(),
            std::time::Duration::from_secs(le.retry_period.unwrap_or(LEASE_DEFAULTS.2).max(1) as u64),
            stop_rx.clone(),
        ));
    }
    let mut tasks = tokio::task::JoinSet::new();
    let ctx = TickContext {
        source: source.clone(),
        shared: shared.clone(),
        clock: opts.clock.clone(),
        history: cfg.history_seconds(),
        after: None,
        budget: cfg.tick_budget(),
    };
    for (s, a) in cfg.services.iter().zip(actuations) {
        let mut svc = ServiceLoop::new(&cfg, s, mode, a);
        svc.rules = rules.clone();
        tasks.spawn(run_service(svc, ctx.clone(), tick, opts.ticks, stop_rx.clone()));
    }
    if let (true, Some(client)) = (watch, &kube) {
        let crs = forecastscaler::CrLoops::new(
            forecastscaler::Deps {
                cfg: Arc::new(cfg.clone()),
                mode_ceiling: opts.mode,
                source: source.clone(),
                shared: shared.clone(),
                clock: opts.clock.clone(),
                kube: client.clone(),
                identity: me.clone(),
                gate: gate.clone(),
                ticks: opts.ticks,
            },
            cfg.kubernetes.namespace.clone(),
            names.iter().cloned().collect(),
        );
        let every = std::time::Duration::from_secs(cfg.kubernetes.resync_seconds().max(1) as u64);
        tasks.spawn(crs.run(every, stop_rx.clone()));
    }
    let mut http_stop = stop_rx.clone();
    let server = tokio::spawn(
        axum::serve(listener, http::router(shared.clone()))
            .with_graceful_shutdown(async move {
                let _ = http_stop.wait_for(|s| *s).await;
            })
            .into_future(),
    );
    let stop = stop_tx.clone();
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutting down");
        let _ = stop.send(true);
    });
    let mut failed = None;
    let spawned = tasks.len();
    while let Some(r) = tasks.join_next().await {
        if let Err(e) = r {
            tracing::error!("service task failed: {e}");
            failed = Some(format!("a service task failed: {e}"));
        }
    }
    // Without --ticks the loops end only on shutdown: anything else must not exit 0.
    if failed.is_none() && spawned > 0 && opts.ticks.is_none() && !*stop_rx.borrow() {
        failed = Some("every service loop ended while serving".into());
    }
    let _ = stop_tx.send(true);
    if let Some((r, sampling)) = receivers {
        if let Some(st) = sampling.map(|s| s.hub().stats()) {
            tracing::info!(
                scored = st.scored,
                sampled = st.sampled,
                delivered = st.delivered,
                dropped = st.dropped,
                "sampled-span stream stopped"
            );
        }
        match r.shutdown().await {
            Ok(stats) => tracing::info!(
                late_spans = stats.late_spans,
                forced_closes = stats.forced_closes,
                future_spans = stats.future_spans,
                unresolved_parents = stats.unresolved_parents,
                service_overflow_spans = stats.service_overflow_spans,
                "OTLP receivers stopped"
            ),
            Err(e) => tracing::error!("OTLP receivers: {e}"),
        }
    }
    if let Some(why) = failed {
        let _ = server.await;
        return Err(Error::Task(why));
    }
    match server.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(Error::io(addr.to_string(), e)),
        Err(e) => Err(Error::Task(format!("http server task: {e}"))),
    }
}

/// One service's live target (a dry run when none is configured), with Events for Kubernetes
/// targets and the leader gate. `at` names the target in errors.
pub fn actuation_for(
    s: &config::ServiceConfig,
    at: &str,
    mode: Mode,
    kube: Option<&kube::Client>,
    identity: &str,
    gate: Option<&leader::LeaderGate>,
) -> Result<actuation::Actuation> {
    let (target, start): (Arc<dyn crate::actuate::ScaleTarget>, u32) = match &s.target {
        Some(t) => (
            target::build(t, at, kube)?,
            match t {
                target::TargetConfig::DryRun { replicas, .. } => *replicas,
                _ => s.min_replicas,
            },
        ),
        None => (
            Arc::new(crate::actuate::dry_run::DryRunTarget::new(s.min_replicas, None)),
            s.min_replicas,
        ),
    };
    let kind = s.target.as_ref().map_or("dry-run", |t| t.label());
    let mut a = actuation::Actuation::new(target, kind, mode, s.min_replicas, s.max_replicas, start);
    if let (Some(regarding), Some(client)) = (s.target.as_ref().and_then(|t| t.regarding()), kube) {
        a.events = Some((
            Arc::new(crate::actuate::kube::events::KubeEvents::new(client.clone(), identity)),
            regarding,
        ));
    }
    a.leader = gate.cloned();
    Ok(a)
}

/// client-go's defaults (seconds): lease duration, renew deadline, retry period.
pub const LEASE_DEFAULTS: (i64, i64, i64) = (15, 10, 2);

/// The configured demand source; with `[source.otlp]` also the running receivers, whose closed
/// windows feed a store read as request rate per service (an empty `query` names the service).
/// The OTLP receivers serve started, and the span sampler plugged into them.
type Listening = (
    crate::observe::otlp::Receivers,
    Option<crate::sample::stream::SampleStream>,
);

/// The demand source, the receivers serve started, and the trace source with its window length
/// (what `[rules]` reads latencies from; None for Prometheus).
type Sources = (
    Arc<dyn MetricSource>,
    Option<Listening>,
    Option<(Arc<dyn TraceSource>, i64)>,
);

async fn demand_source(cfg: &mut ServeConfig) -> Result<Sources> {
    use crate::observe::otlp::{ReceiverConfig, Receivers, window::WindowConfig};
    use crate::observe::traces::TraceSource;
    use crate::observe::traces::{TraceMetric, TraceMetrics, WindowStore};
    if let Some(p) = &cfg.source.prometheus {
        return Ok((Arc::new(p.client()?), None, None));
    }
    for s in &mut cfg.services {
        if s.query.trim().is_empty() {
            s.query = s.name.clone();
        }
    }
    if let Some(t) = &cfg.source.tempo {
        let traces =
            crate::observe::traces::TempoTraces::new(t.client()?, t.window_seconds(), t.limit, t.traceql.clone());
        let window = traces.window_seconds;
        let traces: Arc<dyn TraceSource> = Arc::new(traces);
        let source = TraceMetrics {
            source: traces.clone(),
            metric: TraceMetric::RequestRate,
        };
        return Ok((Arc::new(source), None, Some((traces, window))));
    }
    let o = cfg.source.otlp.clone().ok_or_else(|| {
        Error::config(
            "source",
            "set exactly one of [source.prometheus], [source.otlp] and [source.tempo]",
        )
    })?;
    let window = crate::core::time::parse_duration("source.otlp.window", &o.window)?;
    let lateness = crate::core::time::parse_duration("source.otlp.lateness", &o.lateness)?;
    let addr = |f: &str, v: &str| {
        v.parse::<std::net::SocketAddr>()
            .map_err(|e| Error::config(f, format!("{v:?}: {e}")))
    };
    // Keep what a tick reads (history) plus a few windows.
    let store = WindowStore::new(window, cfg.history_seconds() + 4 * window);
    let sink = store.clone();
    let sampling = match &o.sample {
        Some(s) => Some(crate::sample::stream::SampleStream::new(s.stream_config()?)?),
        None => None,
    };
    let streaming = sampling.is_some();
    let receivers = Receivers::start_with(
        ReceiverConfig {
            grpc: Some(addr("source.otlp.grpc", &o.grpc)?),
            http: Some(addr("source.otlp.http", &o.http)?),
            window: WindowConfig {
                window_seconds: window,
                lateness_seconds: lateness,
                ..WindowConfig::default()
            },
            ..ReceiverConfig::default()
        },
        move |closed| sink.add(closed),
        sampling.as_ref().map(|s| s.plugins()).unwrap_or_default(),
    )
    .await
    .map_err(|e| match e {
        Error::Config { field, message, .. } => Error::config(format!("source.otlp.{field}"), message),
        other => other,
    })?;
    // Tests and wrappers read these lines to learn the ports.
    if let Some(a) = receivers.grpc_addr {
        println!("scale serve otlp grpc on {a}");
    }
    if let Some(a) = receivers.http_addr {
        println!("scale serve otlp http on {a}");
    }
    if let (true, Some(a)) = (streaming, receivers.grpc_addr) {
        println!("scale serve sampled spans on {a}");
    }
    let traces: Arc<dyn TraceSource> = Arc::new(store);
    let source = TraceMetrics {
        source: traces.clone(),
        metric: TraceMetric::RequestRate,
    };
    Ok((Arc::new(source), Some((receivers, sampling)), Some((traces, window))))
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
