//! `scale sample` file front end: span CSV (plain or xz) in, the same CSV plus `score,sampled` out.
//!
//! Columns are found by name, case-insensitively: `TraceID,SpanID,ParentID,OperationName,
//! StartTimeUnixNano` are required, plus `Duration` or `EndTimeUnixNano`, plus `ServiceName` or
//! `PodName` (the service is derived from the pod name as in [`crate::observe::spans`]). Every
//! row is checked before anything is scored or written, so a bad file writes nothing.

use super::{Decision, Sampler, SamplerConfig};
use crate::observe::spans::{read_bytes, service_of};
use crate::{Error, Result};
use polars::prelude::*;
use std::io::Cursor;
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

/// What `scale sample` runs with.
#[derive(Debug, Clone)]
pub struct SampleOptions {
    /// Span CSV (plain or xz-compressed).
    pub input: std::path::PathBuf,
    /// Where to write the input columns plus `score` and `sampled`.
    pub output: std::path::PathBuf,
    /// Unit of the `Duration` column.
    pub duration_unit: DurationUnit,
    pub sampler: SamplerConfig,
    /// Also write the run's summary as JSON here: `spans`, `sampled`, `scoring_seconds` and
    /// `us_per_span` (the scoring loop alone, reading/parsing/writing excluded).
    pub stats: Option<std::path::PathBuf>,
}

/// Runs `scale sample`.
pub fn run(args: &SampleOptions) -> Result<Summary> {
    let summary = sample_file(&args.input, &args.output, args.duration_unit, args.sampler.clone())?;
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

/// One span as the sampler needs it.
pub struct SpanKey<'a> {
    pub service: std::borrow::Cow<'a, str>,
    pub operation: &'a str,
    /// Seconds.
    pub duration: f64,
}

/// Reads `input`, scores every span in file order, writes `output`.
pub fn sample_file(input: &Path, output: &Path, unit: DurationUnit, cfg: SamplerConfig) -> Result<Summary> {
    let mut sampler = Sampler::new(cfg)?;
    let bytes = read_bytes(input)?;
    let mut df = CsvReadOptions::default()
        .with_has_header(true)
        .with_infer_schema_length(Some(0))
        .into_reader_with_file_handle(Cursor::new(bytes))
        .finish()
        .map_err(|e| Error::data(input, None, format!("cannot read CSV: {e}")))?;
    for name in ["score", "sampled"] {
        if find(&df, name).is_some() {
            return Err(Error::data(
                input,
                Some(1),
                format!("input already has a column {name}"),
            ));
        }
    }
    let spans = keys(input, &df, unit)?;
    let start = Instant::now();
    let decisions: Vec<Decision> = spans
        .iter()
        .map(|s| sampler.observe(&s.service, s.operation, s.duration))
        .collect();
    let scoring_seconds = start.elapsed().as_secs_f64();
    drop(spans);
    let scores: Vec<String> = decisions.iter().map(|d| format!("{:.6}", d.score)).collect();
    let sampled: Vec<&str> = decisions
        .iter()
        .map(|d| if d.sampled { "true" } else { "false" })
        .collect();
    let mut with = |name: &str, col: Column| {
        df.with_column(col)
            .map(|_| ())
            .map_err(|e| Error::data(output, None, format!("cannot add column {name}: {e}")))
    };
    with("score", Column::new("score".into(), scores))?;
    with("sampled", Column::new("sampled".into(), sampled))?;
    write_atomically(output, &mut df)?;
    Ok(Summary {
        spans: decisions.len(),
        sampled: decisions.iter().filter(|d| d.sampled).count(),
        scoring_seconds,
    })
}

/// Writes next to `output` and renames, so a failed write leaves no partial file.
fn write_atomically(output: &Path, df: &mut DataFrame) -> Result<()> {
    let mut tmp_name = output.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".partial");
    let tmp = output.with_file_name(tmp_name);
    let result = (|| {
        let mut f = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        CsvWriter::new(&mut f)
            .include_header(true)
            .finish(df)
            .map_err(|e| Error::data(output, None, format!("cannot write CSV: {e}")))?;
        std::fs::rename(&tmp, output).map_err(|e| Error::io(output, e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn find<'a>(df: &'a DataFrame, name: &str) -> Option<&'a PlSmallStr> {
    df.get_column_names()
        .into_iter()
        .find(|n| n.trim().eq_ignore_ascii_case(name))
}

type Cells<'a> = Vec<Option<&'a str>>;

fn column<'a>(path: &Path, df: &'a DataFrame, name: &str) -> Result<Option<Cells<'a>>> {
    let Some(actual) = find(df, name) else {
        return Ok(None);
    };
    let ca = df
        .column(actual)
        .and_then(|c| c.str())
        .map_err(|e| Error::data(path, None, format!("column {name}: {e}")))?;
    Ok(Some(ca.iter().collect()))
}

/// Every row's service, operation and duration; the first bad cell is an error naming its line.
pub fn keys<'a>(path: &Path, df: &'a DataFrame, unit: DurationUnit) -> Result<Vec<SpanKey<'a>>> {
    let missing = |name: &str| Error::data(path, Some(1), format!("missing column {name}"));
    for name in ["TraceID", "SpanID", "ParentID"] {
        column(path, df, name)?.ok_or_else(|| missing(name))?;
    }
    let op = column(path, df, "OperationName")?.ok_or_else(|| missing("OperationName"))?;
    let start = column(path, df, "StartTimeUnixNano")?.ok_or_else(|| missing("StartTimeUnixNano"))?;
    let duration = column(path, df, "Duration")?;
    let end = column(path, df, "EndTimeUnixNano")?;
    let service = column(path, df, "ServiceName")?;
    let pod = column(path, df, "PodName")?;
    if duration.is_none() && end.is_none() {
        return Err(missing("Duration (or EndTimeUnixNano)"));
    }
    if service.is_none() && pod.is_none() {
        return Err(missing("ServiceName (or PodName)"));
    }
    let per_second = unit.per_second();
    let mut out = Vec::with_capacity(op.len());
    for i in 0..op.len() {
        let line = i + 2;
        let bad = |col: &str, what: String| Error::data(path, Some(line), format!("column {col}: {what}"));
        let cell = |c: &Cells<'a>| c[i].unwrap_or("").trim();
        let start_ns: i64 = cell(&start).parse().map_err(|_| {
            bad(
                "StartTimeUnixNano",
                format!("cannot parse {:?} as an integer", cell(&start)),
            )
        })?;
        let secs = match (&duration, &end) {
            (Some(d), _) => {
                let v = cell(d);
                let x: f64 = v
                    .parse()
                    .map_err(|_| bad("Duration", format!("cannot parse {v:?} as a number")))?;
                x / per_second
            }
            (None, Some(e)) => {
                let v = cell(e);
                let end_ns: i64 = v
                    .parse()
                    .map_err(|_| bad("EndTimeUnixNano", format!("cannot parse {v:?} as an integer")))?;
                end_ns.checked_sub(start_ns).map_or(f64::NAN, |d| d as f64 / 1e9)
            }
            (None, None) => unreachable!("checked above"),
        };
        if !(secs.is_finite() && secs >= 0.0) {
            return Err(bad("Duration", format!("negative or non-finite duration {secs} s")));
        }
        let named = service.as_ref().map(cell).filter(|s| !s.is_empty());
        let svc = match (named, pod.as_ref().map(cell).filter(|p| !p.is_empty())) {
            (Some(s), _) => std::borrow::Cow::Borrowed(s),
            (None, Some(p)) => std::borrow::Cow::Owned(service_of(p)),
            (None, None) => {
                return Err(bad(
                    if service.is_some() { "ServiceName" } else { "PodName" },
                    "empty".into(),
                ));
            }
        };
        let operation = cell(&op);
        if operation.is_empty() {
            return Err(bad("OperationName", "empty".into()));
        }
        out.push(SpanKey {
            service: svc,
            operation,
            duration: secs,
        });
    }
    Ok(out)
}
