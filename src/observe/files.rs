//! Series from files, read through polars.
//!
//! Two shapes are accepted:
//! - single series, the NAB shape: `timestamp,value` (also `ts,y`, `ds,y`, `time,value`);
//! - long format: `service,timestamp,value`, one series per service.
//!
//! CSV and Parquet (by extension `.parquet`) both work. Cells are parsed here, not by
//! polars, so that a bad cell is reported with its line. Values are demand: negative or infinite
//! is an error naming the line; timestamps must lie in years 1–9999 and the regular grid within
//! [`crate::core::series::MAX_POINTS`].

use crate::core::series::{Cleaned, GapPolicy, RawPoint, regularize};
use crate::core::time::parse_timestamp;
use crate::{Error, Result};
use polars::prelude::*;
use std::collections::BTreeMap;
use std::path::Path;

const TIME_NAMES: [&str; 6] = ["timestamp", "ts", "time", "ds", "date", "datetime"];
const VALUE_NAMES: [&str; 3] = ["value", "y", "demand"];
const SERVICE_NAMES: [&str; 3] = ["service", "service_name", "series"];

/// The cleaned series of one file, each with the data issues the policy handled.
pub type LoadedSeries = Vec<Cleaned>;

/// Loads every series in `path`. A single-series file names its series after the file stem.
pub fn load_series(path: &Path, policy: GapPolicy) -> Result<LoadedSeries> {
    let (df, line_offset) = read_table(path)?;
    let names: Vec<String> = df.get_column_names().iter().map(|s| s.to_string()).collect();
    let find = |cands: &[&str]| {
        names
            .iter()
            .find(|n| cands.contains(&n.trim().to_ascii_lowercase().as_str()))
            .cloned()
    };
    let (Some(tcol), Some(vcol)) = (find(&TIME_NAMES), find(&VALUE_NAMES)) else {
        return Err(Error::data(
            path,
            Some(1),
            format!("wrong columns {names:?}: expected timestamp,value or service,timestamp,value"),
        ));
    };
    let scol = find(&SERVICE_NAMES);
    let times = time_column(path, &df, &tcol, line_offset)?;
    let values = value_column(path, &df, &vcol, line_offset, "demand")?;
    let services = match &scol {
        Some(c) => text_column(path, &df, c)?,
        None => vec![None; df.height()],
    };
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("series")
        .to_string();
    let mut per_service: BTreeMap<String, Vec<RawPoint>> = BTreeMap::new();
    for (i, ((time, value), service)) in times.into_iter().zip(values).zip(services).enumerate() {
        let line = i + line_offset;
        let name = match (&scol, service) {
            (None, _) => stem.clone(),
            (Some(_), Some(s)) if !s.trim().is_empty() => s.trim().to_string(),
            (Some(c), _) => return Err(Error::data(path, Some(line), format!("column {c}: empty service name"))),
        };
        per_service
            .entry(name)
            .or_default()
            .push(RawPoint { line, time, value });
    }
    if per_service.is_empty() {
        return Err(Error::data(path, None, "no data rows"));
    }
    per_service
        .into_iter()
        .map(|(name, rows)| regularize(path, &name, rows, policy))
        .collect()
}

/// The file as a frame of text cells (CSV, or Parquet by extension), and the line of row 0:
/// CSV has a header line, so row i is line i + 2; Parquet rows count from 1.
pub(crate) fn read_table(path: &Path) -> Result<(DataFrame, usize)> {
    if !path.exists() {
        return Err(Error::data(path, None, "file not found"));
    }
    let is_parquet = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet"));
    if is_parquet {
        Ok((read_parquet(path)?, 1))
    } else {
        Ok((read_csv(path)?, 2))
    }
}

fn read_csv(path: &Path) -> Result<DataFrame> {
    // Every column as text (schema inference off) so each cell is checked with its line.
    CsvReadOptions::default()
        .with_has_header(true)
        .with_infer_schema_length(Some(0))
        .try_into_reader_with_file_path(Some(path.to_path_buf()))
        .and_then(|r| r.finish())
        .map_err(|e| Error::data(path, None, format!("cannot read CSV: {e}")))
}

fn read_parquet(path: &Path) -> Result<DataFrame> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    ParquetReader::new(file)
        .finish()
        .map_err(|e| Error::data(path, None, format!("cannot read Parquet: {e}")))
}

pub(crate) fn time_column(path: &Path, df: &DataFrame, name: &str, line_offset: usize) -> Result<Vec<i64>> {
    let col = df.column(name).map_err(|e| Error::data(path, None, e.to_string()))?;
    let bad = |i: usize, what: String| Error::data(path, Some(i + line_offset), format!("column {name}: {what}"));
    match col.dtype() {
        DataType::Datetime(unit, _) => {
            let div = match unit {
                TimeUnit::Nanoseconds => 1_000_000_000,
                TimeUnit::Microseconds => 1_000_000,
                TimeUnit::Milliseconds => 1_000,
            };
            let ints = col
                .cast(&DataType::Int64)
                .map_err(|e| Error::data(path, None, e.to_string()))?;
            let ca = ints.i64().map_err(|e| Error::data(path, None, e.to_string()))?;
            ca.iter()
                .enumerate()
                .map(|(i, v)| {
                    v.map(|v| v.div_euclid(div))
                        .ok_or_else(|| bad(i, "missing timestamp".into()))
                })
                .collect()
        }
        dt if dt.is_integer() => {
            let ints = col
                .cast(&DataType::Int64)
                .map_err(|e| Error::data(path, None, e.to_string()))?;
            let ca = ints.i64().map_err(|e| Error::data(path, None, e.to_string()))?;
            ca.iter()
                .enumerate()
                .map(|(i, v)| v.ok_or_else(|| bad(i, "missing timestamp".into())))
                .collect()
        }
        _ => {
            let text = col
                .cast(&DataType::String)
                .map_err(|e| Error::data(path, None, e.to_string()))?;
            let ca = text.str().map_err(|e| Error::data(path, None, e.to_string()))?;
            ca.iter()
                .enumerate()
                .map(|(i, v)| {
                    let v = v.unwrap_or("");
                    parse_timestamp(v).ok_or_else(|| {
                        bad(
                            i,
                            format!("cannot parse timestamp {v:?} (a date or Unix seconds, years 1 to 9999)"),
                        )
                    })
                })
                .collect()
        }
    }
}

/// A column's cells as trimmed text (None where empty in Parquet).
pub(crate) fn text_column(path: &Path, df: &DataFrame, name: &str) -> Result<Vec<Option<String>>> {
    let col = df
        .column(name)
        .and_then(|c| c.cast(&DataType::String))
        .map_err(|e| Error::data(path, None, e.to_string()))?;
    let ca = col.str().map_err(|e| Error::data(path, None, e.to_string()))?;
    Ok(ca.iter().map(|s| s.map(|s| s.trim().to_string())).collect())
}

/// `what` names the quantity in the negative-value error (`demand`, `usage`).
pub(crate) fn value_column(
    path: &Path,
    df: &DataFrame,
    name: &str,
    line_offset: usize,
    what: &str,
) -> Result<Vec<Option<f64>>> {
    let col = df.column(name).map_err(|e| Error::data(path, None, e.to_string()))?;
    let bad = |i: usize, what: String| Error::data(path, Some(i + line_offset), format!("column {name}: {what}"));
    let check = |i: usize, v: Option<f64>| -> Result<Option<f64>> {
        match v {
            Some(x) if x.is_nan() => Ok(None),
            Some(x) if x.is_infinite() => Err(bad(i, "infinite value".into())),
            // Demand and usage are rates or sizes: a negative one is a broken export, and
            // replaying it would report negative utilization as if it were real.
            Some(x) if x < 0.0 => Err(bad(i, format!("negative {what} {x}: {what} must be non-negative"))),
            other => Ok(other),
        }
    };
    if col.dtype().is_primitive_numeric() {
        let f = col
            .cast(&DataType::Float64)
            .map_err(|e| Error::data(path, None, e.to_string()))?;
        let ca = f.f64().map_err(|e| Error::data(path, None, e.to_string()))?;
        return ca.iter().enumerate().map(|(i, v)| check(i, v)).collect();
    }
    let text = col
        .cast(&DataType::String)
        .map_err(|e| Error::data(path, None, e.to_string()))?;
    let ca = text.str().map_err(|e| Error::data(path, None, e.to_string()))?;
    ca.iter()
        .enumerate()
        .map(|(i, v)| {
            let s = v.unwrap_or("").trim();
            if s.is_empty()
                || s.eq_ignore_ascii_case("nan")
                || s.eq_ignore_ascii_case("null")
                || s.eq_ignore_ascii_case("na")
            {
                return Ok(None);
            }
            let x: f64 = s.parse().map_err(|_| bad(i, format!("non-numeric value {s:?}")))?;
            check(i, Some(x))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write(dir: &Path, name: &str, body: &str) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::File::create(&p).unwrap().write_all(body.as_bytes()).unwrap();
        p
    }

    #[test]
    fn nab_shape_and_aliases() {
        let d = tempfile::tempdir().unwrap();
        for header in ["timestamp,value", "ts,y"] {
            let p = write(
                d.path(),
                "a.csv",
                &format!("{header}\n2014-07-01 00:00:00,1\n2014-07-01 00:05:00,2.5\n2014-07-01 00:10:00,3\n"),
            );
            let s = load_series(&p, GapPolicy::default()).unwrap();
            assert_eq!(s.len(), 1);
            assert_eq!(s[0].series.name, "a");
            assert_eq!(s[0].series.step, 300);
            assert_eq!(s[0].series.values, vec![1.0, 2.5, 3.0]);
        }
    }

    #[test]
    fn long_format_splits_services() {
        let d = tempfile::tempdir().unwrap();
        let p = write(
            d.path(),
            "l.csv",
            "service,timestamp,value\nb,0,1\na,0,5\nb,60,2\na,60,6\n",
        );
        let s = load_series(&p, GapPolicy::default()).unwrap();
        let names: Vec<_> = s.iter().map(|c| c.series.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(s[1].series.values, vec![1.0, 2.0]);
    }

    #[test]
    fn errors_name_file_and_line() {
        let d = tempfile::tempdir().unwrap();
        let cases = [
            (
                "timestamp,value\n2014-07-01 00:00:00,1\n2014-07-01 00:05:00,abc\n",
                "bad.csv:3: column value: non-numeric value \"abc\"",
            ),
            (
                "timestamp,value\nnot-a-time,1\n2014-07-01 00:05:00,2\n",
                "bad.csv:2: column timestamp: cannot parse timestamp",
            ),
            ("when,count\n1,2\n", "bad.csv:1: wrong columns"),
            ("timestamp,value\n0,NaN\n60,nan\n", "every value is NaN"),
            (
                "timestamp,value\n0,1\n60,inf\n",
                "bad.csv:3: column value: infinite value",
            ),
            (
                "timestamp,value\n0,1\n60,-50\n120,2\n",
                "bad.csv:3: column value: negative demand -50",
            ),
            (
                "timestamp,value\n0,1\n60,1e309\n",
                "bad.csv:3: column value: infinite value",
            ),
            (
                "timestamp,value\n0,1\n60,1\n120,1\n1000000000000,1\n",
                "bad.csv:5: column timestamp: cannot parse timestamp",
            ),
            (
                "timestamp,value\n0,1\n60,1\n120,1\n100000000000,1\n",
                "bad.csv:5: series \"bad\": timestamp 5138-11-16 09:46:40 makes the 60s grid",
            ),
        ];
        for (body, want) in cases {
            let p = write(d.path(), "bad.csv", body);
            let err = load_series(&p, GapPolicy::default()).unwrap_err().to_string();
            assert!(err.contains(want), "want {want:?} in {err:?}");
        }
        let err = load_series(&d.path().join("missing.csv"), GapPolicy::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing.csv: file not found"), "{err}");
    }

    #[test]
    fn parquet_long_format() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("l.parquet");
        let mut df = df!(
            "service" => ["a", "a", "a"],
            "timestamp" => [0i64, 60, 120],
            "value" => [1.0f64, f64::NAN, 3.0],
        )
        .unwrap();
        ParquetWriter::new(std::fs::File::create(&p).unwrap())
            .finish(&mut df)
            .unwrap();
        let s = load_series(&p, GapPolicy::default()).unwrap();
        assert_eq!(s[0].series.values, vec![1.0, 2.0, 3.0]);
        assert_eq!(s[0].issues.len(), 2, "{:?}", s[0].issues);
    }
}
