//! `scale serve`: the long-running predictive autoscaler (docs/serve.md). Config → one task per
//! service (fetch → forecast → plan → govern → actuate) → HTTP API with metrics and decisions.

pub mod bench;
pub mod config;
pub mod http;
pub mod r#loop;
pub mod metrics;
pub mod registry;

use crate::govern::Mode;
use crate::observe::MetricSource;
use crate::{Error, Result};
use config::ServeConfig;
use r#loop::{Clock, ServiceLoop, Shared, run_service};
use std::sync::Arc;

pub struct RunOptions {
    /// Overrides `defaults.mode`.
    pub mode: Option<Mode>,
    /// Stop after this many ticks per service; None runs until shutdown.
    pub ticks: Option<u64>,
    pub clock: Arc<dyn Clock>,
}

/// Runs until every service finished its ticks or `shutdown` resolves. Prints
/// `scale serve listening on ADDR` once the HTTP server is bound (tests read the port).
pub async fn run(
    cfg: ServeConfig,
    opts: RunOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mode = opts.mode.unwrap_or(cfg.defaults.mode.into());
    let mut cfg = cfg;
    let (source, receivers) = demand_source(&mut cfg).await?;
    let names: Vec<String> = cfg.services.iter().map(|s| s.name.clone()).collect();
    let shared = Arc::new(Shared::new(&names));
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
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let tick = std::time::Duration::from_secs(cfg.tick_seconds() as u64);
    let mut tasks = tokio::task::JoinSet::new();
    for s in &cfg.services {
        tasks.spawn(run_service(
            ServiceLoop::new(&cfg, s, mode),
            source.clone(),
            shared.clone(),
            opts.clock.clone(),
            tick,
            cfg.history_seconds(),
            opts.ticks,
            stop_rx.clone(),
        ));
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
    while let Some(r) = tasks.join_next().await {
        if let Err(e) = r {
            tracing::error!("service task failed: {e}");
        }
    }
    let _ = stop_tx.send(true);
    if let Some(r) = receivers {
        match r.shutdown().await {
            Ok(stats) => tracing::info!(late_spans = stats.late_spans, forced_closes = stats.forced_closes, "OTLP receivers stopped"),
            Err(e) => tracing::error!("OTLP receivers: {e}"),
        }
    }
    match server.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(Error::io(addr.to_string(), e)),
        Err(e) => Err(Error::Invalid(format!("http server task: {e}"))),
    }
}

/// The configured demand source; with `[source.otlp]` also the running receivers, whose closed
/// windows feed a store read as request rate per service (an empty `query` names the service).
async fn demand_source(
    cfg: &mut ServeConfig,
) -> Result<(Arc<dyn MetricSource>, Option<crate::observe::otlp::Receivers>)> {
    use crate::observe::otlp::{ReceiverConfig, Receivers, window::WindowConfig};
    use crate::observe::traces::{TraceMetric, TraceMetrics, WindowStore};
    if let Some(p) = &cfg.source.prometheus {
        return Ok((Arc::new(p.client()?), None));
    }
    let o = cfg
        .source
        .otlp
        .clone()
        .ok_or_else(|| Error::config("source", "set exactly one of [source.prometheus] and [source.otlp]"))?;
    for s in &mut cfg.services {
        if s.query.trim().is_empty() {
            s.query = s.name.clone();
        }
    }
    let window = crate::timefmt::parse_duration("source.otlp.window", &o.window)?;
    let lateness = crate::timefmt::parse_duration("source.otlp.lateness", &o.lateness)?;
    let addr = |f: &str, v: &str| {
        v.parse::<std::net::SocketAddr>()
            .map_err(|e| Error::config(f, format!("{v:?}: {e}")))
    };
    // Keep what a tick reads (history) plus a few windows.
    let store = WindowStore::new(window, cfg.history_seconds() + 4 * window);
    let sink = store.clone();
    let receivers = Receivers::start(
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
    let source = TraceMetrics {
        source: Arc::new(store),
        metric: TraceMetric::RequestRate,
    };
    Ok((Arc::new(source), Some(receivers)))
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
