//! `scale sample` file front end: span CSV (plain or xz) in, the same CSV plus `score,sampled` out.
//!
//! Columns are found by name, case-insensitively: `TraceID,SpanID,ParentID,OperationName,
//! StartTimeUnixNano` are required, plus `Duration` or `EndTimeUnixNano`, plus `ServiceName` or
//! `PodName` (the service is derived from the pod name as in [`crate::observe::spans`]).
//!
//! One streaming pass, record by record (no data frame): each input record is copied through byte
//! for byte with `,score,sampled` appended, into `OUTPUT.partial`, renamed at the end. The first
//! bad cell stops the run and removes the partial file, so a bad input writes nothing.

use super::seed::{SeedConfig, SeedSampler};
use super::{Decision, Sampler, SamplerConfig};
use crate::observe::spans::{read_bytes, service_of};
use crate::{Error, Result};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::time::Instant;

/// Unit of the `Duration` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DurationUnit {
    Ns,
    Us,
    Ms,
}

impl DurationUnit {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "ns" => Ok(DurationUnit::Ns),
            "us" => Ok(DurationUnit::Us),
            "ms" => Ok(DurationUnit::Ms),
            _ => Err(Error::config(
                "duration-unit",
                format!("expected us, ms or ns, got {s:?}"),
            )),
        }
    }

    fn per_second(self) -> f64 {
        match self {
            DurationUnit::Ns => 1e9,
            DurationUnit::Us => 1e6,
            DurationUnit::Ms => 1e3,
        }
    }
}

/// Which detector scores the spans.
#[derive(Debug, Clone)]
pub enum Model {
    /// SCALE's sampler (the defaults).
    Scale(SamplerConfig),
    /// `--seed-compat`: River's trees as the seed ran them.
    Seed(SeedConfig),
}

enum Detector {
    Scale(Box<Sampler>),
    Seed(Box<SeedSampler>),
}

impl Detector {
    #[inline]
    fn observe(&mut self, service: &str, operation: &str, seconds: f64) -> Decision {
        match self {
            Detector::Scale(s) => s.observe(service, operation, seconds),
            Detector::Seed(s) => s.observe(service, operation, seconds),
        }
    }
}

/// What `scale sample` runs with.
#[derive(Debug, Clone)]
pub struct SampleOptions {
    /// Span CSV (plain or xz-compressed).
    pub input: std::path::PathBuf,
    /// Where to write the input columns plus `score` and `sampled`.
    pub output: std::path::PathBuf,
    /// Unit of the `Duration` column.
    pub duration_unit: DurationUnit,
    /// The detector and its settings.
    pub model: Model,
    /// Also write the run's summary as JSON here: `spans`, `sampled`, `scoring_seconds` and
    /// `us_per_span` (the scoring loop alone, reading/parsing/writing excluded).
    pub stats: Option<std::path::PathBuf>,
}

/// Runs `scale sample`.
pub fn run(args: &SampleOptions) -> Result<Summary> {
    let summary = sample_file(&args.input, &args.output, args.duration_unit, &args.model)?;
    if let Some(path) = &args.stats {
        let json = serde_json::json!({
            "spans": summary.spans,
            "sampled": summary.sampled,
            "scoring_seconds": summary.scoring_seconds,
            "us_per_span": summary.us_per_span(),
        });
        std::fs::write(path, format!("{json}\n")).map_err(|e| Error::io(path, e))?;
    }
    Ok(summary)
}

/// What one run did.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub spans: usize,
    pub sampled: usize,
    /// Wall time of the scoring loop alone (vocabulary, normalisation, trees), excluding reading,
    /// parsing and writing.
    pub scoring_seconds: f64,
}

impl Summary {
    /// Scoring-loop time per span, in microseconds (0 for an empty input).
    pub fn us_per_span(&self) -> f64 {
        self.scoring_seconds * 1e6 / self.spans.max(1) as f64
    }
}

/// Column positions in the header.
struct Layout {
    width: usize,
    op: usize,
    start: usize,
    duration: Option<usize>,
    end: Option<usize>,
    service: Option<usize>,
    pod: Option<usize>,
}

impl Layout {
    fn of(path: &Path, header: &[&str]) -> Result<Self> {
        let find = |name: &str| header.iter().position(|h| h.trim().eq_ignore_ascii_case(name));
        let missing = |name: &str| Error::data(path, Some(1), format!("missing column {name}"));
        for name in ["score", "sampled"] {
            if find(name).is_some() {
                return Err(Error::data(path, Some(1), format!("input already has a column {name}")));
            }
        }
        for name in ["TraceID", "SpanID", "ParentID"] {
            find(name).ok_or_else(|| missing(name))?;
        }
        let l = Layout {
            width: header.len(),
            op: find("OperationName").ok_or_else(|| missing("OperationName"))?,
            start: find("StartTimeUnixNano").ok_or_else(|| missing("StartTimeUnixNano"))?,
            duration: find("Duration"),
            end: find("EndTimeUnixNano"),
            service: find("ServiceName"),
            pod: find("PodName"),
        };
        if l.duration.is_none() && l.end.is_none() {
            return Err(missing("Duration (or EndTimeUnixNano)"));
        }
        if l.service.is_none() && l.pod.is_none() {
            return Err(missing("ServiceName (or PodName)"));
        }
        Ok(l)
    }
}

/// Reads CSV records one at a time, keeping each record's raw bytes for the copy-through.
struct Records<R> {
    input: R,
    /// The current record as read (terminator stripped; a quoted field may span lines).
    raw: Vec<u8>,
    /// Its cells, unquoted, concatenated; `cells[k]` is a range of this.
    text: Vec<u8>,
    cells: Vec<(usize, usize)>,
    /// Physical line of the next record's first line (1-based).
    line: usize,
}

impl<R: BufRead> Records<R> {
    /// The next non-empty record and its first line number, or None at the end.
    fn next(&mut self, path: &Path) -> Result<Option<usize>> {
        loop {
            self.raw.clear();
            let first = self.line;
            if !self.read_line(path)? {
                return Ok(None);
            }
            // A quoted field may hold newlines: an odd count of quotes means it goes on. Most
            // records have no quote at all, which one memchr pass finds.
            while self.raw.contains(&b'"') && self.raw.iter().filter(|&&b| b == b'"').count() % 2 == 1 {
                self.raw.push(b'\n');
                if !self.read_line(path)? {
                    return Err(Error::data(path, Some(first), "unterminated quoted field"));
                }
            }
            if self.raw.is_empty() {
                continue;
            }
            self.split();
            return Ok(Some(first));
        }
    }

    /// Appends one physical line to `raw`, without its `\n` / `\r\n`; false at end of input.
    fn read_line(&mut self, path: &Path) -> Result<bool> {
        let before = self.raw.len();
        let n = self
            .input
            .read_until(b'\n', &mut self.raw)
            .map_err(|e| Error::io(path, e))?;
        if n == 0 {
            return Ok(false);
        }
        self.line += 1;
        if self.raw.last() == Some(&b'\n') {
            self.raw.pop();
        }
        if self.raw.len() > before && self.raw.last() == Some(&b'\r') {
            self.raw.pop();
        }
        Ok(true)
    }

    fn split(&mut self) {
        self.cells.clear();
        self.text.clear();
        if !self.raw.contains(&b'"') {
            self.text.extend_from_slice(&self.raw);
            let mut start = 0;
            for (i, &b) in self.raw.iter().enumerate() {
                if b == b',' {
                    self.cells.push((start, i));
                    start = i + 1;
                }
            }
            self.cells.push((start, self.raw.len()));
            return;
        }
        let (mut quoted, mut start, mut i) = (false, 0, 0);
        while i < self.raw.len() {
            let b = self.raw[i];
            match (quoted, b) {
                (true, b'"') if self.raw.get(i + 1) == Some(&b'"') => {
                    self.text.push(b'"');
                    i += 1;
                }
                (_, b'"') => quoted = !quoted,
                (false, b',') => {
                    self.cells.push((start, self.text.len()));
                    start = self.text.len();
                }
                _ => self.text.push(b),
            }
            i += 1;
        }
        self.cells.push((start, self.text.len()));
    }

    fn cell(&self, k: usize) -> &[u8] {
        let (a, b) = self.cells[k];
        &self.text[a..b]
    }
}

/// Plain or xz input as one buffered reader (xz is decompressed in memory first).
fn open(path: &Path) -> Result<Box<dyn BufRead>> {
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut magic = [0u8; 6];
    let n = f.read(&mut magic).map_err(|e| Error::io(path, e))?;
    if n == 6 && magic == [0xFD, b'7', b'z', b'X', b'Z', 0x00] {
        return Ok(Box::new(std::io::Cursor::new(read_bytes(path)?)));
    }
    let head = std::io::Cursor::new(magic[..n].to_vec());
    Ok(Box::new(BufReader::with_capacity(1 << 16, head.chain(f))))
}

/// Reads `input`, scores every span in file order, streams `output` through a partial file.
pub fn sample_file(input: &Path, output: &Path, unit: DurationUnit, model: &Model) -> Result<Summary> {
    let mut detector = match model {
        Model::Scale(c) => Detector::Scale(Box::new(Sampler::new(c.clone())?)),
        Model::Seed(c) => Detector::Seed(Box::new(SeedSampler::new(c.clone())?)),
    };
    let mut records = Records {
        input: open(input)?,
        raw: Vec::new(),
        text: Vec::new(),
        cells: Vec::new(),
        line: 1,
    };
    let Some(_) = records.next(input)? else {
        return Err(Error::data(input, Some(1), "empty file: no header"));
    };
    let header: Vec<String> = (0..records.cells.len())
        .map(|k| String::from_utf8_lossy(records.cell(k)).into_owned())
        .collect();
    let layout = Layout::of(input, &header.iter().map(String::as_str).collect::<Vec<_>>())?;
    let mut tmp_name = output.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".partial");
    let tmp = output.with_file_name(tmp_name);
    let file = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 16, file);
    let result = (|| {
        let w = |r: std::io::Result<()>| r.map_err(|e| Error::io(&tmp, e));
        w(out.write_all(&records.raw))?;
        w(out.write_all(b",score,sampled\n"))?;
        let mut summary = Summary {
            spans: 0,
            sampled: 0,
            scoring_seconds: 0.0,
        };
        let per_second = unit.per_second();
        let mut pod_service = (Vec::new(), String::new());
        let mut batch = Batch::default();
        let mut more = true;
        while more {
            batch.clear();
            while batch.len() < BATCH {
                let Some(line) = records.next(input)? else {
                    more = false;
                    break;
                };
                let (svc, op, secs) = span(input, line, &records, &layout, per_second, &mut pod_service)?;
                batch.push(&records.raw, svc, op, secs);
            }
            // Timed per batch, so the clock is not read per span.
            let t = Instant::now();
            for k in 0..batch.len() {
                let (svc, op, secs) = batch.span(k);
                let d = detector.observe(svc, op, secs);
                batch.decisions.push(d);
            }
            summary.scoring_seconds += t.elapsed().as_secs_f64();
            for (k, &d) in batch.decisions.iter().enumerate() {
                summary.spans += 1;
                summary.sampled += d.sampled as usize;
                w(out.write_all(batch.raw(k)))?;
                w(out.write_all(&score_cell(d)))?;
            }
        }
        w(out.flush())?;
        drop(out);
        std::fs::rename(&tmp, output).map_err(|e| Error::io(output, e))?;
        Ok(summary)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Spans read, then scored, then written, this many at a time.
const BATCH: usize = 1024;

/// One batch of records: their raw lines and names in two byte arenas, their durations and, once
/// scored, their decisions.
#[derive(Default)]
struct Batch {
    raw: Vec<u8>,
    names: String,
    /// Per record: end of its raw line, end of its service, end of its operation, seconds.
    ends: Vec<(usize, usize, usize, f64)>,
    decisions: Vec<Decision>,
}

impl Batch {
    fn clear(&mut self) {
        self.raw.clear();
        self.names.clear();
        self.ends.clear();
        self.decisions.clear();
    }

    fn len(&self) -> usize {
        self.ends.len()
    }

    fn push(&mut self, raw: &[u8], svc: &str, op: &str, secs: f64) {
        self.raw.extend_from_slice(raw);
        self.names.push_str(svc);
        let svc_end = self.names.len();
        self.names.push_str(op);
        self.ends.push((self.raw.len(), svc_end, self.names.len(), secs));
    }

    fn starts(&self, k: usize) -> (usize, usize) {
        k.checked_sub(1).map_or((0, 0), |j| (self.ends[j].0, self.ends[j].2))
    }

    fn span(&self, k: usize) -> (&str, &str, f64) {
        let (_, name_start) = self.starts(k);
        let (_, svc_end, op_end, secs) = self.ends[k];
        (&self.names[name_start..svc_end], &self.names[svc_end..op_end], secs)
    }

    fn raw(&self, k: usize) -> &[u8] {
        &self.raw[self.starts(k).0..self.ends[k].0]
    }
}

/// `,0.123456,false\n`: the score to six decimals, as `{:.6}` would print a value in [0, 1].
fn score_cell(d: Decision) -> Vec<u8> {
    let micro = (d.score.clamp(0.0, 1.0) * 1e6).round() as u32;
    let mut s = Vec::with_capacity(16);
    s.extend_from_slice(if micro >= 1_000_000 { b",1." } else { b",0." });
    let frac = micro % 1_000_000;
    let frac = if micro >= 1_000_000 { 0 } else { frac };
    for p in [100_000, 10_000, 1_000, 100, 10, 1] {
        s.push(b'0' + (frac / p % 10) as u8);
    }
    s.extend_from_slice(if d.sampled { b",true\n" } else { b",false\n" });
    s
}

/// One record's service, operation and duration (seconds); a bad cell is an error naming the line.
fn span<'a, R: BufRead>(
    path: &Path,
    line: usize,
    r: &'a Records<R>,
    l: &Layout,
    per_second: f64,
    pod_service: &'a mut (Vec<u8>, String),
) -> Result<(&'a str, &'a str, f64)> {
    let bad = |col: &str, what: String| Error::data(path, Some(line), format!("column {col}: {what}"));
    if r.cells.len() != l.width {
        return Err(Error::data(
            path,
            Some(line),
            format!("expected {} fields, got {}", l.width, r.cells.len()),
        ));
    }
    let text = |k: usize, col: &str| {
        std::str::from_utf8(r.cell(k))
            .map(str::trim)
            .map_err(|_| bad(col, "not UTF-8".into()))
    };
    let start = text(l.start, "StartTimeUnixNano")?;
    let start_ns: i64 = start
        .parse()
        .map_err(|_| bad("StartTimeUnixNano", format!("cannot parse {start:?} as an integer")))?;
    let secs = match (l.duration, l.end) {
        (Some(k), _) => {
            let v = text(k, "Duration")?;
            let x: f64 = v
                .parse()
                .map_err(|_| bad("Duration", format!("cannot parse {v:?} as a number")))?;
            x / per_second
        }
        (None, Some(k)) => {
            let v = text(k, "EndTimeUnixNano")?;
            let end_ns: i64 = v
                .parse()
                .map_err(|_| bad("EndTimeUnixNano", format!("cannot parse {v:?} as an integer")))?;
            end_ns.checked_sub(start_ns).map_or(f64::NAN, |d| d as f64 / 1e9)
        }
        (None, None) => unreachable!("Layout::of checks one is present"),
    };
    if !(secs.is_finite() && secs >= 0.0) {
        return Err(bad("Duration", format!("negative or non-finite duration {secs} s")));
    }
    let named = match l.service {
        Some(k) => Some(text(k, "ServiceName")?).filter(|s| !s.is_empty()),
        None => None,
    };
    let pod = match l.pod {
        Some(k) => Some(text(k, "PodName")?).filter(|s| !s.is_empty()),
        None => None,
    };
    let svc = match (named, pod) {
        (Some(s), _) => s,
        (None, Some(p)) => {
            // Pods repeat in runs; derive the service once per distinct pod name.
            if pod_service.0 != p.as_bytes() {
                pod_service.0.clear();
                pod_service.0.extend_from_slice(p.as_bytes());
                pod_service.1 = service_of(p);
            }
            pod_service.1.as_str()
        }
        (None, None) => {
            let col = if l.service.is_some() { "ServiceName" } else { "PodName" };
            return Err(bad(col, "empty".into()));
        }
    };
    let op = text(l.op, "OperationName")?;
    if op.is_empty() {
        return Err(bad("OperationName", "empty".into()));
    }
    Ok((svc, op, secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(body: &str) -> Vec<(usize, Vec<String>)> {
        let mut r = Records {
            input: std::io::Cursor::new(body.as_bytes().to_vec()),
            raw: Vec::new(),
            text: Vec::new(),
            cells: Vec::new(),
            line: 1,
        };
        let mut out = Vec::new();
        while let Some(line) = r.next(Path::new("x.csv")).unwrap() {
            let cells = (0..r.cells.len())
                .map(|k| String::from_utf8(r.cell(k).to_vec()).unwrap())
                .collect();
            out.push((line, cells));
        }
        out
    }

    #[test]
    fn splits_records() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        // (input, records with their first line)
        let cases = [
            ("a,b\n1,2\n", vec![(1, v(&["a", "b"])), (2, v(&["1", "2"]))]),
            ("a,b\r\n1,2", vec![(1, v(&["a", "b"])), (2, v(&["1", "2"]))]),
            ("a\n\n b \n", vec![(1, v(&["a"])), (3, v(&[" b "]))]),
            ("\"x,y\",\"q\"\"\"\n", vec![(1, v(&["x,y", "q\""]))]),
            (
                "\"two\nlines\",z\nnext\n",
                vec![(1, v(&["two\nlines", "z"])), (3, v(&["next"]))],
            ),
            (",\n", vec![(1, v(&["", ""]))]),
        ];
        for (input, want) in cases {
            assert_eq!(records(input), want, "{input:?}");
        }
    }

    #[test]
    fn score_cells_print_like_format() {
        for (score, sampled) in [
            (0.0, false),
            (1.0, true),
            (0.1234565, false),
            (0.9999996, true),
            (0.5, true),
        ] {
            let got = String::from_utf8(score_cell(Decision { score, sampled })).unwrap();
            let micro = (score * 1e6_f64).round() / 1e6;
            assert_eq!(got, format!(",{micro:.6},{sampled}\n"), "{score}");
        }
    }
}
