//! `scale bench otlp`: sustained OTLP ingest on loopback, with what `scale serve` runs behind the
//! receivers (the window store, the span sampler's tap, and a latency rule per service read from
//! the store once a second), against a baseline of the same requests into the same servers whose
//! spans are discarded after decoding (docs/benchmarks.md).
//!
//! The load generator is here too: `connections` tasks, each with its own connection, send
//! batches of two-span traces (an entry span and a same-service child, so half the spans are
//! requests) stamped with the send time, paced to `rate` spans/s in total for `seconds`. A
//! refused request (503 / `UNAVAILABLE`) is resent, so nothing accepted is lost and nothing is
//! counted twice. The generator records the entry spans it got accepted per window and service;
//! every complete window is then checked against what the store counted.

use super::rules::RuleLink;
use crate::observe::otlp::window::{WindowConfig, WindowStats};
use crate::observe::otlp::{Ingest, ReceiverConfig, Receivers, grpc, http};
use crate::observe::sketch::RELATIVE_ERROR;
use crate::observe::traces::{TraceSource, WindowStore};
use crate::reactive::rules::reload::RuleSet;
use crate::reactive::rules::spec::parse_rules;
use crate::sample::stream::{SampleStream, StreamConfig};
use crate::{Error, Result};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span as OtlpSpan};
use prost::Message;
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;

/// Which receiver the load goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// OTLP/HTTP protobuf, `POST /v1/traces`.
    Http,
    /// OTLP/gRPC `TraceService/Export`.
    Grpc,
}

/// What `scale bench otlp` sends; every field is bounded by [`OtlpBenchOptions::validate`].
#[derive(Debug, Clone)]
pub struct OtlpBenchOptions {
    pub protocol: Protocol,
    /// Target spans per second, all connections together.
    pub rate: u64,
    /// How long the load runs.
    pub seconds: u64,
    /// Window length of the aggregator.
    pub window_seconds: i64,
    /// Spans per request (even: two per trace).
    pub batch: usize,
    /// Services the traces are spread over.
    pub services: usize,
    /// Concurrent connections (one task each).
    pub connections: usize,
}

impl OtlpBenchOptions {
    /// Each size the caller gives is bounded, so a typo cannot run for hours or exhaust memory.
    pub fn validate(&self) -> Result<()> {
        let check = |ok: bool, flag: &str, msg: &str| {
            if ok {
                Ok(())
            } else {
                Err(Error::config(flag, msg.to_string()))
            }
        };
        check(
            (1..=5_000_000).contains(&self.rate),
            "--rate",
            "must be 1..=5000000 spans/s",
        )?;
        check((1..=600).contains(&self.seconds), "--seconds", "must be 1..=600")?;
        check((1..=600).contains(&self.window_seconds), "--window", "must be 1s..=10m")?;
        check(
            (2..=10_000).contains(&self.batch) && self.batch.is_multiple_of(2),
            "--batch",
            "must be an even number in 2..=10000",
        )?;
        check((1..=1_000).contains(&self.services), "--services", "must be 1..=1000")?;
        check((1..=64).contains(&self.connections), "--connections", "must be 1..=64")
    }
}

/// One pass of the generator against one receiver.
#[derive(Debug, Clone, Serialize)]
pub struct PassReport {
    /// Spans in accepted requests.
    pub spans_accepted: u64,
    /// Requests refused as busy and resent.
    pub retries: u64,
    /// From the first send to the last answer.
    pub elapsed_seconds: f64,
    /// `spans_accepted / elapsed_seconds`.
    pub spans_per_second: f64,
}

/// One complete window: what the generator got accepted against what the store counted.
#[derive(Debug, Clone, Serialize)]
pub struct WindowCheck {
    pub start: i64,
    /// False for the first and last windows, which the load covers only in part.
    pub complete: bool,
    /// All spans accepted with a start in the window, per second.
    pub spans_per_second: f64,
    /// Entry spans accepted, all services.
    pub sent_requests: u64,
    /// Entry spans the store counted, all services.
    pub counted_requests: u64,
    /// Largest |counted − sent| / sent over the services.
    pub max_service_error: f64,
    /// Largest relative error of the window's p50, p95 and p99 over the services, against the
    /// exact nearest-rank percentiles of the durations sent.
    pub max_percentile_error: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct OtlpBenchReport {
    pub protocol: Protocol,
    pub target_rate: u64,
    pub seconds: u64,
    pub window_seconds: i64,
    pub batch: usize,
    pub services: usize,
    pub connections: usize,
    /// Receivers → window store, with the sampler tap and the rules on.
    pub pipeline: PassReport,
    /// The same requests into the same server, decoded and discarded.
    pub baseline: PassReport,
    /// `pipeline.spans_per_second / baseline.spans_per_second`.
    pub ratio: f64,
    /// Every window of the pipeline pass, oldest first.
    pub windows: Vec<WindowCheck>,
    /// Every window's per-service request count within 1% of the sent count, its percentiles
    /// within the sketch's documented error, and no span dropped as late, future-dated or over a
    /// limit.
    pub counted_in_full: bool,
    pub window_stats: WindowStatsReport,
    /// Spans the sampler scored (every accepted span goes through its tap).
    pub sampler_spans: u64,
    /// Rule evaluations on the store's windows during the pass.
    pub rule_evaluations: u64,
}

/// [`WindowStats`] as JSON.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct WindowStatsReport {
    pub late_spans: u64,
    pub forced_closes: u64,
    pub future_spans: u64,
    pub unresolved_parents: u64,
    pub service_overflow_spans: u64,
}

impl From<WindowStats> for WindowStatsReport {
    fn from(s: WindowStats) -> Self {
        WindowStatsReport {
            late_spans: s.late_spans,
            forced_closes: s.forced_closes,
            future_spans: s.future_spans,
            unresolved_parents: s.unresolved_parents,
            service_overflow_spans: s.service_overflow_spans,
        }
    }
}

/// Entry spans accepted per (window start, service index).
type Sent = BTreeMap<(i64, usize), Tally>;

/// Entry spans by duration: `by_ms[k]` lasted `k + 1` ms (the generator's durations are whole
/// milliseconds), so exact nearest-rank percentiles can be compared with the sketch's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tally {
    by_ms: [u64; 64],
}

impl Default for Tally {
    fn default() -> Self {
        Tally { by_ms: [0; 64] }
    }
}

impl Tally {
    fn requests(&self) -> u64 {
        self.by_ms.iter().sum()
    }

    fn add(&mut self, other: &Tally) {
        for (a, b) in self.by_ms.iter_mut().zip(other.by_ms) {
            *a += b;
        }
    }

    /// Exact nearest-rank `q` percentile, seconds (the sketch's rank rule).
    fn quantile(&self, q: f64) -> f64 {
        let rank = crate::observe::sketch::rank(q, self.requests().max(1));
        let mut seen = 0;
        for (k, c) in self.by_ms.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return (k + 1) as f64 / 1000.0;
            }
        }
        0.0
    }
}

/// Runs the baseline, then the pipeline, on a runtime of its own.
pub fn run(opts: &OtlpBenchOptions) -> Result<OtlpBenchReport> {
    opts.validate()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Task(format!("bench runtime: {e}")))?;
    rt.block_on(run_async(opts))
}

async fn run_async(opts: &OtlpBenchOptions) -> Result<OtlpBenchReport> {
    let baseline = baseline_pass(opts).await?;
    let lateness = 2;
    let window = WindowConfig {
        window_seconds: opts.window_seconds,
        lateness_seconds: lateness,
        ..WindowConfig::default()
    };
    let store = WindowStore::new(opts.window_seconds, 3600);
    let sink = store.clone();
    let sampling = SampleStream::new(StreamConfig::default())?;
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let cfg = ReceiverConfig {
        grpc: (opts.protocol == Protocol::Grpc).then_some(loopback),
        http: (opts.protocol == Protocol::Http).then_some(loopback),
        window,
        ..ReceiverConfig::default()
    };
    let receivers = Receivers::start_with(cfg, move |closed| sink.add(closed), sampling.plugins()).await?;
    let addr = receivers
        .grpc_addr
        .or(receivers.http_addr)
        .ok_or_else(|| Error::Task("no receiver address".into()))?;
    let (stop_rules, rules_stopped) = watch::channel(false);
    let rules = tokio::spawn(evaluate_rules(
        opts.services,
        Arc::new(store.clone()),
        opts.window_seconds,
        rules_stopped,
    ));
    let (pass, sent) = generate(opts, addr).await?;
    // Let the last windows close on the receiver's clock before reading the store.
    tokio::time::sleep(Duration::from_secs((opts.window_seconds + lateness + 2) as u64)).await;
    let _ = stop_rules.send(true);
    let rule_evaluations = rules.await.map_err(|e| Error::Task(format!("rule task: {e}")))??;
    let stats = receivers.shutdown().await?;
    let sampler_spans = sampling.hub().stats().scored;
    let windows = check_windows(opts, &store, &sent).await?;
    let stats_clean = stats == WindowStats::default();
    let counted_in_full = stats_clean
        && !windows.is_empty()
        && windows
            .iter()
            .all(|w| w.max_service_error <= 0.01 && w.max_percentile_error <= RELATIVE_ERROR + 1e-9);
    Ok(OtlpBenchReport {
        protocol: opts.protocol,
        target_rate: opts.rate,
        seconds: opts.seconds,
        window_seconds: opts.window_seconds,
        batch: opts.batch,
        services: opts.services,
        connections: opts.connections,
        ratio: pass.spans_per_second / baseline.spans_per_second.max(f64::MIN_POSITIVE),
        pipeline: pass,
        baseline,
        windows,
        counted_in_full,
        window_stats: stats.into(),
        sampler_spans,
        rule_evaluations,
    })
}

/// The same servers, with the span channel drained and dropped, and no taps.
async fn baseline_pass(opts: &OtlpBenchOptions) -> Result<PassReport> {
    let (ingest, mut rx) = Ingest::channel(crate::observe::otlp::DEFAULT_QUEUE_REQUESTS);
    let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .map_err(|e| Error::Task(format!("baseline listener: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::Task(format!("baseline listener: {e}")))?;
    let (stop, stopped) = watch::channel(false);
    let wait = async move {
        let mut s = stopped;
        let _ = s.wait_for(|v| *v).await;
    };
    let max = crate::observe::otlp::DEFAULT_MAX_MESSAGE_BYTES;
    let server = match opts.protocol {
        Protocol::Http => tokio::spawn(http::serve(listener, ingest, max, wait)),
        Protocol::Grpc => tokio::spawn(grpc::serve_with(listener, ingest, max, None, wait)),
    };
    let (pass, _) = generate(opts, addr).await?;
    let _ = stop.send(true);
    server
        .await
        .map_err(|e| Error::Task(format!("baseline server: {e}")))?
        .map_err(Error::Task)?;
    let _ = drain.await;
    Ok(pass)
}

/// One rule per service, as `scale serve` attaches them, read from the store once a second.
async fn evaluate_rules(
    services: usize,
    store: Arc<dyn TraceSource>,
    window_seconds: i64,
    mut stop: watch::Receiver<bool>,
) -> Result<u64> {
    let docs: Vec<String> = (0..services)
        .map(|i| {
            format!(
                "apiVersion: scale.autoscaling/v1\nkind: LatencyBasedAutoScaler\nmetadata:\n  name: svc{i}-latency\nspec:\n  target:\n    serviceName: {}\n    deploymentName: {}\n  latencyThreshold:\n    upperBound: 50ms\n    lowerBound: 10ms\n",
                service_name(i),
                service_name(i)
            )
        })
        .collect();
    let rules = parse_rules(Path::new("<bench>"), &docs.join("---\n"))?;
    let (_keep, rx) = watch::channel(Arc::new(RuleSet {
        rules,
        files: Vec::new(),
        digest: String::new(),
    }));
    let mut links: Vec<RuleLink> = (0..services)
        .map(|_| RuleLink::new(rx.clone(), store.clone(), window_seconds))
        .collect();
    let mut evaluations = 0u64;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|v| *v) => return Ok(evaluations),
        }
        let now = unix_now_ns() / 1_000_000_000;
        for (i, link) in links.iter_mut().enumerate() {
            if let Some(f) = link.fetch(&service_name(i), now, Duration::from_secs(1)).await {
                let _ = link.verdict(f, now, 1);
                evaluations += 1;
            }
        }
    }
}

fn service_name(i: usize) -> String {
    format!("svc{i:04}")
}

fn unix_now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// Sends the load from `connections` tasks and merges what each got accepted.
async fn generate(opts: &OtlpBenchOptions, addr: SocketAddr) -> Result<(PassReport, Sent)> {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(opts.seconds);
    let per_connection = opts.rate as f64 / opts.connections as f64;
    let interval = Duration::from_secs_f64(opts.batch as f64 / per_connection);
    let mut tasks = Vec::new();
    for c in 0..opts.connections {
        let o = opts.clone();
        tasks.push(tokio::spawn(connection(o, addr, c, started, interval, deadline)));
    }
    let (mut accepted, mut retries, mut sent) = (0u64, 0u64, Sent::new());
    for t in tasks {
        let (a, r, s) = t.await.map_err(|e| Error::Task(format!("load task: {e}")))??;
        accepted += a;
        retries += r;
        for (k, v) in s {
            sent.entry(k).or_default().add(&v);
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    Ok((
        PassReport {
            spans_accepted: accepted,
            retries,
            elapsed_seconds: elapsed,
            spans_per_second: accepted as f64 / elapsed.max(1e-9),
        },
        sent,
    ))
}

/// One connection's paced sends: batch `k` is due at `start + k·interval`; a late batch goes at
/// once, so the achieved rate shows what the receiver sustains.
async fn connection(
    opts: OtlpBenchOptions,
    addr: SocketAddr,
    c: usize,
    start: Instant,
    interval: Duration,
    deadline: Instant,
) -> Result<(u64, u64, Sent)> {
    // reqwest is built without a default crypto provider; ring is the one we ship.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let builder = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30));
    let client = match opts.protocol {
        Protocol::Http => builder.http1_only(),
        Protocol::Grpc => builder.http2_prior_knowledge(),
    }
    .build()
    .map_err(|e| Error::Task(format!("load client: {e}")))?;
    let (url, content_type) = match opts.protocol {
        Protocol::Http => (format!("http://{addr}/v1/traces"), "application/x-protobuf"),
        Protocol::Grpc => (
            format!("http://{addr}/opentelemetry.proto.collector.trace.v1.TraceService/Export"),
            "application/grpc",
        ),
    };
    let mut batch = Batch::new(c, opts.batch);
    let (mut accepted, mut retries, mut sent) = (0u64, 0u64, Sent::new());
    let mut k: u32 = 0;
    loop {
        let due = start + interval * k;
        // A generator behind its schedule stops at the deadline too: a pass lasts `seconds`.
        if due >= deadline || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep_until(due.into()).await;
        let service = (c + k as usize * opts.connections) % opts.services;
        let now_ns = unix_now_ns();
        let (body, tally) = batch.encode(&service_name(service), now_ns, opts.protocol);
        loop {
            let resp = client
                .post(&url)
                .header("content-type", content_type)
                .header("te", "trailers")
                .body(body.clone())
                .send()
                .await
                .map_err(|e| Error::Task(format!("load request to {url}: {e}")))?;
            let status = resp.status().as_u16();
            let grpc_status = resp
                .headers()
                .get("grpc-status")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let _ = resp.bytes().await;
            let busy = status == 503 || grpc_status.as_deref() == Some("14");
            if busy {
                if Instant::now() > deadline + Duration::from_secs(30) {
                    return Err(Error::Task(format!("{url} stayed busy 30 s past the load's end")));
                }
                retries += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
                continue;
            }
            if status != 200 || grpc_status.as_deref().is_some_and(|s| s != "0") {
                return Err(Error::Task(format!(
                    "load request to {url}: HTTP {status}, grpc-status {grpc_status:?}"
                )));
            }
            break;
        }
        accepted += opts.batch as u64;
        let window = Batch::start_ns(now_ns)
            .div_euclid(1_000_000_000)
            .div_euclid(opts.window_seconds)
            * opts.window_seconds;
        sent.entry((window, service)).or_default().add(&tally);
        k += 1;
    }
    Ok((accepted, retries, sent))
}

/// A reusable request: `batch / 2` traces of an entry span and a same-service child; only the
/// ids, times and service change between sends.
struct Batch {
    request: ExportTraceServiceRequest,
    connection: u32,
    next: u64,
    buf: Vec<u8>,
}

impl Batch {
    fn new(connection: usize, spans: usize) -> Batch {
        let span = |name: &str| OtlpSpan {
            name: name.to_string(),
            trace_id: vec![0; 16],
            span_id: vec![0; 8],
            ..OtlpSpan::default()
        };
        let spans: Vec<OtlpSpan> = (0..spans)
            .map(|i| if i % 2 == 0 { span("GET /api") } else { span("db.query") })
            .collect();
        let attr = |k: &str, v: &str| KeyValue {
            key: k.to_string(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(v.to_string())),
            }),
            ..KeyValue::default()
        };
        let request = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![attr("service.name", ""), attr("k8s.pod.name", "")],
                    ..Resource::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..ScopeSpans::default()
                }],
                ..ResourceSpans::default()
            }],
        };
        Batch {
            request,
            connection: connection as u32,
            next: 1,
            buf: Vec::new(),
        }
    }

    /// Where a batch sent at `now_ns` starts: 64 ms before, so the longest span ends by then.
    fn start_ns(now_ns: i64) -> i64 {
        now_ns.max(64_000_001) - 64_000_000
    }

    /// The request for `service` at `now_ns`, encoded for `protocol` (gRPC adds its 5-byte frame).
    fn encode(&mut self, service: &str, now_ns: i64, protocol: Protocol) -> (Vec<u8>, Tally) {
        let mut tally = Tally::default();
        let rs = &mut self.request.resource_spans[0];
        if let Some(res) = rs.resource.as_mut() {
            for kv in &mut res.attributes {
                let v = if kv.key == "service.name" {
                    service.to_string()
                } else {
                    format!("{service}-{}", self.connection % 4)
                };
                kv.value = Some(AnyValue {
                    value: Some(any_value::Value::StringValue(v)),
                });
            }
        }
        let start = Self::start_ns(now_ns) as u64;
        for pair in rs.scope_spans[0].spans.chunks_mut(2) {
            let n = self.next;
            self.next += 1;
            let mut trace = [0u8; 16];
            trace[..4].copy_from_slice(&self.connection.to_be_bytes());
            trace[4..12].copy_from_slice(&n.to_be_bytes());
            trace[15] = 1;
            // Every span starts at one instant (so a batch's requests fall in one window) and
            // lasts 1–64 ms, the child half as long; none ends after the send time.
            let dur = 1_000_000 * (1 + n % 64);
            tally.by_ms[(n % 64) as usize] += 1;
            let root_id = (n << 1) | 1;
            for (j, s) in pair.iter_mut().enumerate() {
                s.trace_id.copy_from_slice(&trace);
                let id = if j == 0 { root_id } else { (n << 1) | (1 << 63) };
                s.span_id.copy_from_slice(&id.to_be_bytes());
                s.parent_span_id = if j == 0 {
                    Vec::new()
                } else {
                    root_id.to_be_bytes().to_vec()
                };
                s.start_time_unix_nano = start;
                s.end_time_unix_nano = start + if j == 0 { dur } else { dur / 2 };
            }
        }
        self.buf.clear();
        if protocol == Protocol::Grpc {
            let len = self.request.encoded_len() as u32;
            self.buf.push(0);
            self.buf.extend_from_slice(&len.to_be_bytes());
        }
        // Encoding into a Vec cannot run out of space.
        let _ = self.request.encode(&mut self.buf);
        (self.buf.clone(), tally)
    }
}

/// Every window of `sent` against what the store counted (all of them: the receivers were shut
/// down, so even the partly sent first and last windows are closed and final).
async fn check_windows(opts: &OtlpBenchOptions, store: &WindowStore, sent: &Sent) -> Result<Vec<WindowCheck>> {
    let w = opts.window_seconds;
    let starts: Vec<i64> = sent.keys().map(|(s, _)| *s).collect();
    let (Some(&first), Some(&last)) = (starts.first(), starts.last()) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    let mut start = first;
    while start <= last {
        let (mut sent_total, mut counted_total, mut worst, mut worst_p) = (0u64, 0u64, 0.0f64, 0.0f64);
        for s in 0..opts.services {
            let want = sent.get(&(start, s)).copied().unwrap_or_default();
            let windows = store.windows(&service_name(s), start, start).await?.windows;
            let got = windows.iter().find(|m| m.minute == start);
            let (n_want, n_got) = (want.requests(), got.map_or(0, |m| m.requests as u64));
            sent_total += n_want;
            counted_total += n_got;
            worst = worst.max(relative(n_got as f64, n_want as f64));
            if let Some(m) = got.filter(|_| n_want > 0) {
                for (q, v) in [(0.5, m.p50), (0.95, m.p95), (0.99, m.p99)] {
                    worst_p = worst_p.max(relative(v, want.quantile(q)));
                }
            }
        }
        out.push(WindowCheck {
            start,
            complete: start != first && start != last,
            spans_per_second: (2 * sent_total) as f64 / w as f64,
            sent_requests: sent_total,
            counted_requests: counted_total,
            max_service_error: worst,
            max_percentile_error: worst_p,
        });
        start += w;
    }
    Ok(out)
}

/// |got − want| / want; 0 when both are 0, 1 when only `want` is.
fn relative(got: f64, want: f64) -> f64 {
    if want == 0.0 {
        if got == 0.0 { 0.0 } else { 1.0 }
    } else {
        (got - want).abs() / want
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::otlp::convert::{Encoding, convert, decode};
    use crate::observe::spans::per_service_minutes;

    #[test]
    fn a_batch_is_valid_otlp_with_one_request_per_trace() {
        let mut b = Batch::new(3, 10);
        let now = 1_700_000_000_000_000_000;
        for round in 0..2 {
            let (body, tally) = b.encode("svc0001", now, Protocol::Http);
            assert_eq!(tally.requests(), 5);
            let converted = convert(&decode(&body, Encoding::Protobuf).unwrap());
            assert_eq!((converted.spans.len(), converted.rejected), (10, 0), "round {round}");
            let minutes = per_service_minutes(&converted.spans, 60);
            assert_eq!(minutes.len(), 1);
            assert_eq!((minutes[0].service.as_str(), minutes[0].requests), ("svc0001", 5));
            // The tally's exact percentiles are the windows' own definition.
            for (q, got) in [(0.5, minutes[0].p50), (0.95, minutes[0].p95), (0.99, minutes[0].p99)] {
                assert!((tally.quantile(q) - got).abs() < 1e-12, "round {round} q={q}");
            }
            assert!(
                converted
                    .spans
                    .iter()
                    .all(|s| s.start_ns == now - 64_000_000 && s.duration <= 0.064)
            );
        }
        // The gRPC frame is the message behind a 5-byte prefix.
        let (framed, _) = b.encode("svc0001", now, Protocol::Grpc);
        let len = u32::from_be_bytes(framed[1..5].try_into().unwrap()) as usize;
        assert_eq!((framed[0], framed.len()), (0, 5 + len));
        assert_eq!(
            convert(&decode(&framed[5..], Encoding::Protobuf).unwrap()).spans.len(),
            10
        );
    }

    #[test]
    fn options_out_of_bounds_name_the_flag() {
        let ok = OtlpBenchOptions {
            protocol: Protocol::Http,
            rate: 1000,
            seconds: 5,
            window_seconds: 2,
            batch: 100,
            services: 4,
            connections: 2,
        };
        assert!(ok.validate().is_ok());
        type Edit = fn(&mut OtlpBenchOptions);
        let cases: [(&str, Edit); 6] = [
            ("--rate", |o| o.rate = 0),
            ("--seconds", |o| o.seconds = 100_000),
            ("--window", |o| o.window_seconds = 0),
            ("--batch", |o| o.batch = 7),
            ("--services", |o| o.services = 0),
            ("--connections", |o| o.connections = 1000),
        ];
        for (flag, bad) in cases {
            let mut o = ok.clone();
            bad(&mut o);
            let e = o.validate().unwrap_err().to_string();
            assert!(e.contains(flag), "{flag}: {e}");
        }
    }
}
