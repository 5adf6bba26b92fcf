//! Distributed-trace spans → per-service, per-window request series (rate and latency percentiles).
//!
//! Input is the Nezha span layout (`TraceID,SpanID,ParentID,PodName,OperationName,
//! StartTimeUnixNano,EndTimeUnixNano,Duration`), plain CSV or xz-compressed. Columns are found by
//! name (case-insensitive), so extra or reordered columns are fine. Every cell is read as text and
//! parsed here, so a bad cell is reported with its file and line.

use super::sketch::LatencySketch;
use crate::{Error, Result};
use polars::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufReader, Cursor};
use std::path::Path;

/// One span. `duration` is in seconds whatever the file's unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Span {
    /// Trace the span belongs to (as the file spells it; never empty).
    pub trace_id: String,
    /// The span's own id, unique within its trace (never empty).
    pub span_id: String,
    /// `None` for a root span (empty, `root`, `null` or all-zero parent id).
    pub parent_id: Option<String>,
    /// The pod that emitted the span (the service name when the file has no `PodName`).
    pub pod: String,
    /// The `ServiceName` column, else the pod name without its workload suffix ([`service_of`]).
    pub service: String,
    /// `OperationName`, e.g. an HTTP route or RPC method; may be empty.
    pub operation: String,
    /// Start time, Unix nanoseconds.
    pub start_ns: i64,
    /// Duration in seconds (finite, ≥ 0).
    pub duration: f64,
    /// From an optional `StatusCode`/`Status`/`Error` column; Nezha has none, so always false there.
    pub error: bool,
}

/// Requests one service received in one window, with their latency percentiles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceMinute {
    /// Service that received the requests ([`Span::service`]).
    pub service: String,
    /// Start of the window, unix seconds, floored to a multiple of the window length.
    pub minute: i64,
    /// Entry spans that started in the window.
    pub requests: usize,
    /// Requests per second over the window.
    pub rate: f64,
    /// Nearest-rank percentiles of the entry spans' durations, in seconds: exact up to
    /// [`super::sketch::EXACT_MAX`] requests, else within [`super::sketch::RELATIVE_ERROR`].
    pub p50: f64,
    /// 95th percentile, seconds.
    pub p95: f64,
    /// 99th percentile, seconds.
    pub p99: f64,
    /// Entry spans marked as errors.
    pub errors: usize,
    /// Distinct pods that served entry spans in the window: a lower bound on the replica count.
    pub pods: usize,
}

const XZ_MAGIC: [u8; 6] = [0xFD, b'7', b'z', b'X', b'Z', 0x00];
const REQUIRED: [&str; 5] = ["TraceID", "SpanID", "ParentID", "OperationName", "StartTimeUnixNano"];
const STATUS_NAMES: [&str; 4] = ["StatusCode", "Status", "Error", "IsError"];

/// Reads a span file, CSV or `.csv.xz` (recognised by the xz magic bytes, not the name).
///
/// `Duration` is in microseconds unless a `DurationUnit` column (`ns`, `us`, `ms`, `s`) says
/// otherwise per row; without `Duration`, `EndTimeUnixNano − StartTimeUnixNano` is used.
pub fn read_spans(path: &Path) -> Result<Vec<Span>> {
    let bytes = read_bytes(path)?;
    let df = CsvReadOptions::default()
        .with_has_header(true)
        .with_infer_schema_length(Some(0))
        .into_reader_with_file_handle(Cursor::new(bytes))
        .finish()
        .map_err(|e| Error::data(path, None, format!("cannot read CSV: {e}")))?;
    Columns::find(path, &df)?.spans(path)
}

/// The file's bytes, xz-decompressed when it starts with the xz magic.
pub fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    if !raw.starts_with(&XZ_MAGIC) {
        return Ok(raw);
    }
    let mut out = Vec::with_capacity(raw.len() * 8);
    lzma_rs::xz_decompress(&mut BufReader::new(raw.as_slice()), &mut out)
        .map_err(|e| Error::data(path, None, format!("cannot decompress xz: {e}")))?;
    Ok(out)
}

type Cells<'a> = Vec<Option<&'a str>>;

/// The span columns of one file, as text cells borrowed from the frame.
struct Columns<'a> {
    trace: Cells<'a>,
    span: Cells<'a>,
    parent: Cells<'a>,
    op: Cells<'a>,
    start: Cells<'a>,
    duration: Option<Cells<'a>>,
    end: Option<Cells<'a>>,
    unit: Option<Cells<'a>>,
    pod: Option<Cells<'a>>,
    service: Option<Cells<'a>>,
    status: Option<(String, Cells<'a>)>,
}

impl<'a> Columns<'a> {
    fn find(path: &Path, df: &'a DataFrame) -> Result<Self> {
        let get = |name: &str| column(path, df, name);
        let need = |name: &str| get(name)?.ok_or_else(|| missing(path, name));
        let [trace, span, parent, op, start] = REQUIRED.map(need);
        let status = STATUS_NAMES
            .iter()
            .find_map(|n| get(n).transpose().map(|c| c.map(|c| (n.to_string(), c))));
        let cols = Columns {
            trace: trace?,
            span: span?,
            parent: parent?,
            op: op?,
            start: start?,
            duration: get("Duration")?,
            end: get("EndTimeUnixNano")?,
            unit: get("DurationUnit")?,
            pod: get("PodName")?,
            service: get("ServiceName")?,
            status: status.transpose()?,
        };
        if cols.duration.is_none() && cols.end.is_none() {
            return Err(missing(path, "Duration"));
        }
        if cols.pod.is_none() && cols.service.is_none() {
            return Err(missing(path, "PodName (or ServiceName)"));
        }
        Ok(cols)
    }

    fn spans(&self, path: &Path) -> Result<Vec<Span>> {
        (0..self.trace.len()).map(|i| self.row(path, i)).collect()
    }

    /// Row `i` is line `i + 2` (after the header).
    fn row(&self, path: &Path, i: usize) -> Result<Span> {
        let line = i + 2;
        let cell = |c: &Cells<'a>| c[i].unwrap_or("").trim();
        let bad = |col: &str, what: String| Error::data(path, Some(line), format!("column {col}: {what}"));
        let nonempty = |c: &Cells<'a>, col: &str| {
            let v = cell(c);
            if v.is_empty() {
                Err(bad(col, "empty".into()))
            } else {
                Ok(v.to_string())
            }
        };
        let int = |c: &Cells<'a>, col: &str| {
            let v = cell(c);
            v.parse::<i64>()
                .map_err(|_| bad(col, format!("cannot parse {v:?} as an integer")))
        };
        let start_ns = int(&self.start, "StartTimeUnixNano")?;
        let duration = match &self.duration {
            Some(d) => {
                let v = cell(d);
                let x: f64 = v.parse().map_err(|_| bad("Duration", format!("cannot parse {v:?}")))?;
                let per_sec = match &self.unit {
                    Some(u) => {
                        per_second(cell(u)).ok_or_else(|| bad("DurationUnit", format!("unknown unit {:?}", cell(u))))?
                    }
                    None => 1e6,
                };
                x / per_sec
            }
            None => {
                let end = int(self.end.as_ref().unwrap_or(&self.start), "EndTimeUnixNano")?;
                end.checked_sub(start_ns).map_or(f64::NAN, |d| d as f64 / 1e9)
            }
        };
        if !(duration.is_finite() && duration >= 0.0) {
            return Err(bad("Duration", format!("negative or non-finite duration {duration} s")));
        }
        let pod = self.pod.as_ref().map(&cell).filter(|p| !p.is_empty());
        let named = self.service.as_ref().map(&cell).filter(|s| !s.is_empty());
        let (pod, service) = match (pod, named) {
            (p, Some(s)) => (p.unwrap_or(s).to_string(), s.to_string()),
            (Some(p), None) => (p.to_string(), service_of(p)),
            (None, None) => return Err(bad("PodName", "empty".into())),
        };
        Ok(Span {
            trace_id: nonempty(&self.trace, "TraceID")?,
            span_id: nonempty(&self.span, "SpanID")?,
            parent_id: parent_of(cell(&self.parent)),
            pod,
            service,
            operation: cell(&self.op).to_string(),
            start_ns,
            duration,
            error: self.status.as_ref().is_some_and(|(n, c)| is_error(n, cell(c))),
        })
    }
}

/// A column by name, case-insensitively, as text cells; `None` when absent.
fn column<'a>(path: &Path, df: &'a DataFrame, name: &str) -> Result<Option<Cells<'a>>> {
    let Some(actual) = df
        .get_column_names()
        .into_iter()
        .find(|n| n.trim().eq_ignore_ascii_case(name))
    else {
        return Ok(None);
    };
    let ca = df
        .column(actual)
        .and_then(|c| c.str())
        .map_err(|e| Error::data(path, None, format!("column {name}: {e}")))?;
    Ok(Some(ca.iter().collect()))
}

fn missing(path: &Path, name: &str) -> Error {
    Error::data(path, Some(1), format!("missing column {name}"))
}

/// Units of `unit` per second (dividing keeps e.g. 100000 µs exactly 0.1 s).
fn per_second(unit: &str) -> Option<f64> {
    match unit.to_ascii_lowercase().as_str() {
        "ns" => Some(1e9),
        "us" | "µs" | "μs" => Some(1e6),
        "ms" => Some(1e3),
        "s" => Some(1.0),
        _ => None,
    }
}

fn parent_of(v: &str) -> Option<String> {
    let root = v.is_empty()
        || ["root", "null", "none"].iter().any(|r| v.eq_ignore_ascii_case(r))
        || v.bytes().all(|b| b == b'0');
    (!root).then(|| v.to_string())
}

/// OTel `StatusCode` (`2`/`ERROR`), an HTTP status ≥ 500, or a boolean `Error` column.
fn is_error(column: &str, v: &str) -> bool {
    let v = v.to_ascii_lowercase();
    if column.eq_ignore_ascii_case("Error") || column.eq_ignore_ascii_case("IsError") {
        return v == "true" || v == "1";
    }
    v.contains("error") || v == "2" || v.parse::<u32>().is_ok_and(|c| (500..600).contains(&c))
}

/// Kubernetes' `rand.SafeEncodeString` alphabet: generated name parts use only these (no vowels),
/// which is what tells a hash apart from a word of the service name.
const SAFE: &str = "bcdfghjklmnpqrstvwxz2456789";

fn is_safe(s: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&s.len()) && s.chars().all(|c| SAFE.contains(c))
}

/// The service a pod belongs to. Rules, first match wins:
/// 1. Deployment pod `name-<rs hash>-<suffix>`: suffix 5 chars, ReplicaSet hash 6–10 chars (usually
///    8–10), both from the Kubernetes safe alphabet, or an all-digit hash (old clusters) → `name`;
/// 2. StatefulSet pod `name-<ordinal>` → `name`;
/// 3. DaemonSet/Job pod `name-<suffix>`, 5 safe chars including a digit → `name`;
/// 4. anything else is already a service name and is returned unchanged.
pub fn service_of(pod: &str) -> String {
    let pod = pod.trim();
    let parts: Vec<&str> = pod.rsplitn(3, '-').collect();
    if let [suffix, hash, name] = parts[..] {
        let digits = (6..=10).contains(&hash.len()) && hash.bytes().all(|b| b.is_ascii_digit());
        if !name.is_empty() && is_safe(suffix, 5, 5) && (is_safe(hash, 6, 10) || digits) {
            return name.to_string();
        }
    }
    if let Some((name, last)) = pod.rsplit_once('-') {
        let ordinal = !last.is_empty() && last.bytes().all(|b| b.is_ascii_digit());
        let suffix = is_safe(last, 5, 5) && last.bytes().any(|b| b.is_ascii_digit());
        if !name.is_empty() && (ordinal || suffix) {
            return name.to_string();
        }
    }
    pod.to_string()
}

pub use super::sketch::nearest_rank;

/// Per-service, per-window request counts and latency percentiles.
///
/// Only **entry spans** count as requests: a span whose parent is in another service, has no
/// parent, or whose parent is not in the input (trace cut at the file edge). The service's own
/// internal and client spans are work done *for* a request, not requests, and counting them would
/// inflate load and mix in downstream latency. Windows are keyed by the span's start time; a
/// window with no requests is absent rather than zero. `window_seconds` below 1 is taken as 1.
pub fn per_service_minutes(spans: &[Span], window_seconds: i64) -> Vec<ServiceMinute> {
    let window = window_seconds.max(1);
    let owner: HashMap<(&str, &str), &str> = spans
        .iter()
        .map(|s| ((s.trace_id.as_str(), s.span_id.as_str()), s.service.as_str()))
        .collect();
    let is_entry = |s: &Span| match &s.parent_id {
        None => true,
        Some(p) => owner
            .get(&(s.trace_id.as_str(), p.as_str()))
            .is_none_or(|svc| *svc != s.service),
    };
    let mut groups: BTreeMap<(&str, i64), Requests> = BTreeMap::new();
    for s in spans.iter().filter(|s| is_entry(s)) {
        let t = s.start_ns.div_euclid(1_000_000_000).div_euclid(window) * window;
        groups.entry((s.service.as_str(), t)).or_default().add(s);
    }
    groups
        .into_iter()
        .map(|((svc, t), g)| g.summarise(svc, t, window))
        .collect()
}

/// Distinct pods counted per service and window at most: the count is a lower bound on
/// replicas anyway, and a client inventing pod names cannot grow memory past it.
pub const MAX_PODS_PER_WINDOW: usize = 65_536;

/// One service's entry spans in one window, summarised as they arrive: the single definition of
/// a [`ServiceMinute`], shared by [`per_service_minutes`] and the OTLP receivers' online windows.
/// Memory is bounded (a [`LatencySketch`] and at most [`MAX_PODS_PER_WINDOW`] pod hashes), not
/// proportional to spans.
#[derive(Debug, Clone, Default)]
pub struct Requests {
    latency: LatencySketch,
    errors: usize,
    pods: HashSet<u64>,
}

impl Requests {
    /// Counts one entry span.
    pub fn add(&mut self, s: &Span) {
        self.add_parts(s.duration, s.error, pod_hash(&s.pod));
    }

    /// Counts one entry span given its parts (`pod` from [`pod_hash`]).
    pub fn add_parts(&mut self, duration: f64, error: bool, pod: u64) {
        self.latency.add(duration);
        self.errors += usize::from(error);
        if self.pods.len() < MAX_PODS_PER_WINDOW {
            self.pods.insert(pod);
        }
    }

    /// The window's summary.
    pub fn summarise(&self, service: &str, minute: i64, window: i64) -> ServiceMinute {
        let n = self.latency.count() as usize;
        ServiceMinute {
            service: service.to_string(),
            minute,
            requests: n,
            rate: n as f64 / window as f64,
            p50: self.latency.quantile(0.50),
            p95: self.latency.quantile(0.95),
            p99: self.latency.quantile(0.99),
            errors: self.errors,
            pods: self.pods.len(),
        }
    }
}

/// A pod name's key for counting distinct pods (fixed, so every window agrees).
pub fn pod_hash(pod: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    pod.hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "TraceID,SpanID,ParentID,PodName,OperationName,StartTimeUnixNano,EndTimeUnixNano,Duration";

    fn write(dir: &Path, name: &str, body: &str) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        p
    }

    #[test]
    fn service_of_real_pod_names() {
        let table = [
            ("frontend-579b9bff58-t2dbm", "frontend"),
            ("currencyservice-cf787dd48-vpjrd", "currencyservice"),
            ("productcatalogservice-668d5f85fb-jhwx9", "productcatalogservice"),
            ("ts-order-service-5b67c48447-mv5hb", "ts-order-service"),
            ("ts-station-food-service-dc4d75dd-fw6ft", "ts-station-food-service"),
            ("ts-gateway-service-6f6cfc45b-h5m2n", "ts-gateway-service"),
            ("ts-basic-service-5dc8d4f9fd-46997", "ts-basic-service"),
            ("redis-cart-0", "redis-cart"),
            ("node-exporter-x7k2p", "node-exporter"),
            ("web-3795187231-x7k2p", "web"),
            ("web-3795187231-abcde", "web-3795187231-abcde"),
            ("ts-order-service", "ts-order-service"),
            ("cartservice", "cartservice"),
            ("  emailservice-55fdc5b988-f6xth ", "emailservice"),
            ("-", "-"),
            ("", ""),
        ];
        for (pod, want) in table {
            assert_eq!(service_of(pod), want, "{pod:?}");
        }
    }

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(nearest_rank(&v, 0.5), 10.0);
        assert_eq!(nearest_rank(&v, 0.95), 19.0);
        assert_eq!(nearest_rank(&v, 0.99), 20.0);
        assert_eq!(nearest_rank(&v, 0.0), 1.0);
        let h: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(nearest_rank(&h, 0.95), 95.0);
        assert_eq!(nearest_rank(&[7.0], 0.99), 7.0);
        assert!(nearest_rank(&[], 0.5).is_nan());
    }

    #[test]
    fn entry_spans_per_service_and_window() {
        let dir = tempfile::tempdir().unwrap();
        let body = format!(
            "{HEADER}\n\
             t1,a,root,frontend-579b9bff58-t2dbm,Recv,60000000000,0,100000\n\
             t1,b,a,frontend-579b9bff58-t2dbm,call cart,60001000000,0,50000\n\
             t1,c,b,cartservice-579f59597d-wc2lz,GetCart,60002000000,0,40000\n\
             t1,d,c,cartservice-579f59597d-wc2lz,redis,60003000000,0,1000\n\
             t2,e,root,frontend-579b9bff58-t2dbm,Recv,61000000000,0,300000\n\
             t3,f,gone,cartservice-579f59597d-wc2lz,GetCart,125000000000,0,20000\n"
        );
        let spans = read_spans(&write(dir.path(), "s.csv", &body)).unwrap();
        assert_eq!(spans.len(), 6);
        assert_eq!(spans[0].parent_id, None);
        assert!((spans[0].duration - 0.1).abs() < 1e-12);
        let m = per_service_minutes(&spans, 60);
        let got: Vec<_> = m.iter().map(|m| (m.service.as_str(), m.minute, m.requests)).collect();
        assert_eq!(
            got,
            [("cartservice", 60, 1), ("cartservice", 120, 1), ("frontend", 60, 2)]
        );
        let f = &m[2];
        assert_eq!((f.p50, f.p95, f.pods), (0.1, 0.3, 1));
        assert!((f.rate - 2.0 / 60.0).abs() < 1e-12);
    }

    #[test]
    fn xz_service_name_unit_and_status_columns() {
        let dir = tempfile::tempdir().unwrap();
        let body = "traceid,spanid,parentid,servicename,operationname,starttimeunixnano,duration,durationunit,statuscode\n\
                    t,a,,checkout,Pay,1000000000,250,ms,STATUS_CODE_ERROR\n\
                    t,b,0000000000000000,checkout,Pay,1000000000,2,s,OK\n";
        let mut xz = Vec::new();
        lzma_rs::xz_compress(&mut BufReader::new(body.as_bytes()), &mut xz).unwrap();
        let p = dir.path().join("s.csv.xz");
        std::fs::write(&p, xz).unwrap();
        let spans = read_spans(&p).unwrap();
        assert_eq!(spans[0].service, "checkout");
        assert_eq!((spans[0].duration, spans[1].duration), (0.25, 2.0));
        assert_eq!((spans[0].error, spans[1].error), (true, false));
        assert_eq!(spans[1].parent_id, None);
        assert_eq!(per_service_minutes(&spans, 60)[0].errors, 1);
    }

    #[test]
    fn end_time_stands_in_for_duration() {
        let dir = tempfile::tempdir().unwrap();
        let body = "TraceID,SpanID,ParentID,PodName,OperationName,StartTimeUnixNano,EndTimeUnixNano\n\
                    t,a,root,web-0,GET,1000,2001000\n";
        let spans = read_spans(&write(dir.path(), "e.csv", body)).unwrap();
        assert!((spans[0].duration - 0.002).abs() < 1e-12);
        assert_eq!(spans[0].service, "web");
    }

    #[test]
    fn errors_name_file_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let row = "t,a,root,web-0,GET,1000,0,5";
        let cases = [
            (
                "nodur.csv",
                "TraceID,SpanID,ParentID,PodName,OperationName,StartTimeUnixNano\nt,a,root,web-0,GET,1\n".to_string(),
                "nodur.csv:1: missing column Duration",
            ),
            (
                "nospan.csv",
                "TraceID,ParentID,PodName,OperationName,StartTimeUnixNano,Duration\nt,root,w,GET,1,2\n".to_string(),
                "nospan.csv:1: missing column SpanID",
            ),
            (
                "nopod.csv",
                "TraceID,SpanID,ParentID,OperationName,StartTimeUnixNano,Duration\nt,a,root,GET,1,2\n".to_string(),
                "missing column PodName",
            ),
            (
                "badstart.csv",
                format!("{HEADER}\n{row}\n{row}\nt,b,root,web-0,GET,soon,0,5\n"),
                "badstart.csv:4: column StartTimeUnixNano",
            ),
            (
                "baddur.csv",
                format!("{HEADER}\n{row}\nt,b,root,web-0,GET,1000,0,fast\n"),
                "baddur.csv:3: column Duration",
            ),
            (
                "negdur.csv",
                format!("{HEADER}\nt,b,root,web-0,GET,1000,0,-4\n"),
                "negdur.csv:2: column Duration",
            ),
            (
                "nospanid.csv",
                format!("{HEADER}\nt,,root,web-0,GET,1000,0,4\n"),
                "nospanid.csv:2: column SpanID: empty",
            ),
        ];
        for (name, body, want) in cases {
            let err = read_spans(&write(dir.path(), name, &body)).unwrap_err().to_string();
            assert!(err.contains(want), "{name}: {err}");
        }
        let err = read_spans(&dir.path().join("absent.csv")).unwrap_err().to_string();
        assert!(err.contains("absent.csv"), "{err}");
        let junk = write(dir.path(), "junk.csv.xz", "");
        std::fs::write(&junk, [0xFD, b'7', b'z', b'X', b'Z', 0, 1, 2]).unwrap();
        let err = read_spans(&junk).unwrap_err().to_string();
        assert!(err.contains("junk.csv.xz") && err.contains("xz"), "{err}");
    }
}
