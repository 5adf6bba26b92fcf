//! OTLP trace receivers (gRPC and HTTP) feeding an online per-service window aggregator.
//!
//! Requests are decoded and converted on the server tasks; valid spans go as one batch per request
//! through a bounded channel to a single aggregator task. A full channel is reported to the client
//! as retryable (gRPC `UNAVAILABLE`, HTTP 503) instead of buffering. See docs/otlp.md.

pub mod convert;
pub mod grpc;
pub mod http;
pub mod window;

use crate::core::time::{SharedClock, SystemClock};
use crate::observe::spans::{ServiceMinute, Span};
use crate::{Error, Result};
use convert::Converted;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use window::{Aggregator, WindowConfig, WindowStats};

/// Default largest request body / gRPC message, bytes (the gRPC default).
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;
/// Default channel capacity, in requests (batches of spans).
pub const DEFAULT_QUEUE_REQUESTS: usize = 256;

/// The sending side of the span channel, shared by both receivers.
#[derive(Clone)]
pub struct Ingest {
    tx: mpsc::Sender<Vec<Span>>,
    taps: Arc<[Arc<dyn Tap>]>,
}

/// Sees every accepted request in full (the caller's, e.g. the span sampler). Called on the
/// receiver's task once the request's spans have a place in the channel, so a request refused as
/// busy (and retried by the client) is seen once. Must not block.
pub trait Tap: Send + Sync {
    /// `converted.spans[k]` is the span at `converted.origins[k]` of `request`.
    fn accepted(&self, request: &ExportTraceServiceRequest, converted: &Converted);
}

/// The aggregator is behind: the client should retry later.
#[derive(Debug, PartialEq, Eq)]
pub struct Busy;

impl Ingest {
    /// A channel holding up to `capacity` batches (at least 1).
    pub fn channel(capacity: usize) -> (Ingest, mpsc::Receiver<Vec<Span>>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (Ingest { tx, taps: Arc::new([]) }, rx)
    }

    /// The same channel, with every accepted request also shown to each of `taps`.
    pub fn with_taps(self, taps: Vec<Arc<dyn Tap>>) -> Ingest {
        Ingest {
            taps: taps.into(),
            ..self
        }
    }

    /// Queues the request's valid spans without waiting (the tap sees it first); on `Busy`
    /// nothing was queued or tapped. An empty request is accepted and not queued.
    pub fn accept(
        &self,
        request: &ExportTraceServiceRequest,
        converted: &mut Converted,
    ) -> std::result::Result<(), Busy> {
        if converted.spans.is_empty() {
            return Ok(());
        }
        let permit = self.tx.try_reserve().map_err(|_| Busy)?;
        for t in self.taps.iter() {
            t.accepted(request, converted);
        }
        permit.send(std::mem::take(&mut converted.spans));
        Ok(())
    }

    /// Queues a batch without waiting. Empty batches are not queued.
    pub fn offer(&self, spans: Vec<Span>) -> std::result::Result<(), Busy> {
        if spans.is_empty() {
            return Ok(());
        }
        self.tx.try_send(spans).map_err(|_| Busy)
    }
}

/// Where the OTLP receivers listen and how they window and queue spans.
#[derive(Debug, Clone)]
pub struct ReceiverConfig {
    /// gRPC listen address; `None` disables the gRPC receiver.
    pub grpc: Option<SocketAddr>,
    /// HTTP listen address; `None` disables the HTTP receiver.
    pub http: Option<SocketAddr>,
    /// How spans are grouped into per-service windows.
    pub window: WindowConfig,
    /// Largest request body / gRPC message, bytes (default [`DEFAULT_MAX_MESSAGE_BYTES`]).
    pub max_message_bytes: usize,
    /// Requests queued for the aggregator at most; a full queue answers "unavailable, retry"
    /// (default [`DEFAULT_QUEUE_REQUESTS`]).
    pub queue_requests: usize,
    /// Also close windows by wall-clock time, so an idle service's last window is emitted.
    pub close_on_clock: bool,
}

impl Default for ReceiverConfig {
    fn default() -> Self {
        ReceiverConfig {
            grpc: Some(SocketAddr::from(([127, 0, 0, 1], 4317))),
            http: Some(SocketAddr::from(([127, 0, 0, 1], 4318))),
            window: WindowConfig::default(),
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            queue_requests: DEFAULT_QUEUE_REQUESTS,
            close_on_clock: true,
        }
    }
}

/// What the caller plugs into the receivers, so that they never name their consumers: taps that
/// see every accepted request, more gRPC services on the OTLP gRPC port, and hooks run first on
/// shutdown (the span sampler and its `scale.sample.v1.SampledSpans` stream plug in here), and
/// the clock that closes idle windows.
pub struct Plugins {
    /// Shown every accepted request.
    pub taps: Vec<Arc<dyn Tap>>,
    /// Served beside `TraceService` on the gRPC listener.
    pub grpc: Option<tonic::service::Routes>,
    /// Run when shutdown starts, e.g. to end open server streams, which would otherwise hold the
    /// gRPC server's graceful shutdown forever.
    pub on_shutdown: Vec<Box<dyn FnOnce() + Send>>,
    /// The receiver's clock: with `close_on_clock`, windows close by its time.
    pub clock: SharedClock,
}

impl Default for Plugins {
    fn default() -> Self {
        Plugins {
            taps: Vec::new(),
            grpc: None,
            on_shutdown: Vec::new(),
            clock: Arc::new(SystemClock),
        }
    }
}

/// The aggregator's [`WindowStats`] as it runs, for /metrics: updated after every batch and
/// clock tick, read without waiting for the aggregator.
#[derive(Debug, Default)]
pub struct LiveStats([AtomicU64; 5]);

impl LiveStats {
    fn store(&self, s: WindowStats) {
        let values = [
            s.late_spans,
            s.forced_closes,
            s.future_spans,
            s.unresolved_parents,
            s.service_overflow_spans,
        ];
        for (cell, v) in self.0.iter().zip(values) {
            cell.store(v, Ordering::Relaxed);
        }
    }

    /// The counters as of the aggregator's last batch or tick.
    pub fn snapshot(&self) -> WindowStats {
        let v = |i: usize| self.0[i].load(Ordering::Relaxed);
        WindowStats {
            late_spans: v(0),
            forced_closes: v(1),
            future_spans: v(2),
            unresolved_parents: v(3),
            service_overflow_spans: v(4),
        }
    }
}

/// Running receivers. [`Receivers::shutdown`] stops them and flushes every open window.
pub struct Receivers {
    /// Bound gRPC address (the real port when 0 was asked); `None` when disabled.
    pub grpc_addr: Option<SocketAddr>,
    /// Bound HTTP address (the real port when 0 was asked); `None` when disabled.
    pub http_addr: Option<SocketAddr>,
    stop: watch::Sender<bool>,
    servers: Vec<JoinHandle<std::result::Result<(), String>>>,
    aggregator: JoinHandle<WindowStats>,
    on_shutdown: Vec<Box<dyn FnOnce() + Send>>,
    live: Arc<LiveStats>,
}

impl Receivers {
    /// Binds the listeners (port 0 picks a free port) and starts serving. `sink` gets every
    /// batch of closed windows, oldest first, on the aggregator task.
    pub async fn start<F>(cfg: ReceiverConfig, sink: F) -> Result<Receivers>
    where
        F: FnMut(Vec<ServiceMinute>) + Send + 'static,
    {
        Self::start_with(cfg, sink, Plugins::default()).await
    }

    /// As [`Receivers::start`], with the caller's [`Plugins`].
    pub async fn start_with<F>(cfg: ReceiverConfig, sink: F, plugins: Plugins) -> Result<Receivers>
    where
        F: FnMut(Vec<ServiceMinute>) + Send + 'static,
    {
        let bind = |addr: SocketAddr, field: &'static str| async move {
            TcpListener::bind(addr)
                .await
                .map_err(|e| Error::config(field, format!("cannot listen on {addr}: {e}")))
        };
        let grpc = match cfg.grpc {
            Some(a) => Some(bind(a, "grpc").await?),
            None => None,
        };
        let http = match cfg.http {
            Some(a) => Some(bind(a, "http").await?),
            None => None,
        };
        let local = |l: &TcpListener| l.local_addr().ok();
        let (grpc_addr, http_addr) = (grpc.as_ref().and_then(local), http.as_ref().and_then(local));
        let (ingest, rx) = Ingest::channel(cfg.queue_requests);
        let ingest = ingest.with_taps(plugins.taps);
        let (stop, stopped) = watch::channel(false);
        let mut servers = Vec::new();
        if let Some(l) = grpc {
            let fut = grpc::serve_with(
                l,
                ingest.clone(),
                cfg.max_message_bytes,
                plugins.grpc,
                wait(stopped.clone()),
            );
            servers.push(tokio::spawn(fut));
        }
        if let Some(l) = http {
            let fut = http::serve(l, ingest.clone(), cfg.max_message_bytes, wait(stopped.clone()));
            servers.push(tokio::spawn(fut));
        }
        drop(ingest);
        let clock = cfg.close_on_clock.then_some(plugins.clock);
        let live = Arc::new(LiveStats::default());
        let aggregator = tokio::spawn(aggregate(rx, cfg.window, clock, sink, live.clone()));
        Ok(Receivers {
            grpc_addr,
            http_addr,
            stop,
            servers,
            aggregator,
            on_shutdown: plugins.on_shutdown,
            live,
        })
    }

    /// The window counters while the receivers run (a shared handle, cheap to read).
    pub fn live_stats(&self) -> Arc<LiveStats> {
        self.live.clone()
    }

    /// Stops accepting, lets in-flight requests finish, drains the channel, flushes all windows.
    pub async fn shutdown(self) -> Result<WindowStats> {
        let _ = self.stop.send(true);
        for hook in self.on_shutdown {
            hook();
        }
        for s in self.servers {
            s.await
                .map_err(|e| Error::Task(format!("OTLP receiver task failed: {e}")))?
                .map_err(Error::Task)?;
        }
        self.aggregator
            .await
            .map_err(|e| Error::Task(format!("OTLP aggregator task failed: {e}")))
    }
}

async fn wait(mut stopped: watch::Receiver<bool>) {
    let _ = stopped.wait_for(|s| *s).await;
}

/// Runs until every sender is gone (both servers stopped), then flushes.
async fn aggregate<F>(
    mut rx: mpsc::Receiver<Vec<Span>>,
    cfg: WindowConfig,
    clock: Option<SharedClock>,
    mut sink: F,
    live: Arc<LiveStats>,
) -> WindowStats
where
    F: FnMut(Vec<ServiceMinute>),
{
    let mut agg = Aggregator::new(cfg);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut emit = |closed: Vec<ServiceMinute>| {
        if !closed.is_empty() {
            sink(closed)
        }
    };
    loop {
        tokio::select! {
            batch = rx.recv() => match batch {
                // With a clock, future-dated spans are dropped and the clock bounds event time.
                Some(spans) => match &clock {
                    Some(c) => emit(agg.observe_at(spans, c.now().saturating_mul(1_000_000_000))),
                    None => emit(agg.observe(spans)),
                },
                None => break,
            },
            _ = tick.tick(), if clock.is_some() => {
                let now_ns = clock.as_ref().map_or(0, |c| c.now().saturating_mul(1_000_000_000));
                emit(agg.advance(now_ns))
            }
        }
        live.store(agg.stats());
    }
    emit(agg.flush());
    live.store(agg.stats());
    agg.stats()
}

/// `google.rpc.Status`, the error body OTLP/HTTP returns (details omitted).
#[derive(Clone, PartialEq, prost::Message, serde::Serialize)]
pub struct RpcStatus {
    /// `google.rpc.Code`, e.g. 3 (INVALID_ARGUMENT) or 14 (UNAVAILABLE).
    #[prost(int32, tag = "1")]
    pub code: i32,
    /// Human-readable cause.
    #[prost(string, tag = "2")]
    pub message: String,
}
