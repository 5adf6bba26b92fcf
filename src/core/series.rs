//! Regular time series and the data-quality policy that turns raw rows into one.
//!
//! Policy (documented in docs/data.md), applied in this order:
//! 1. Rows are sorted by time; out-of-order rows are reported.
//! 2. Duplicate timestamps are averaged and reported.
//! 3. The step is the most common spacing; off-grid timestamps snap to the nearest
//!    grid point (reported); two rows on one grid point are averaged.
//! 4. NaN or empty values and missing grid points are gaps. A gap of at most
//!    `max_gap_fill` steps is filled by linear interpolation (reported); a longer one
//!    is refused with an error naming the lines on both sides.
//!
//! Non-numeric values are an error at the loader, never a gap: a typo is not missing data.

use crate::core::time::timestamp_in_range;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// A regularly spaced series: `values[i]` is the value at `start + i * step` (Unix seconds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// Series name: the service for per-service data, else the file stem.
    pub name: String,
    /// Time of `values[0]`, Unix seconds.
    pub start: i64,
    /// Spacing between points, seconds (positive).
    pub step: i64,
    /// One value per step, no gaps (gaps are filled or refused before a `Series` exists).
    pub values: Vec<f64>,
}

impl Series {
    /// A series of `values` from `start` every `step` seconds.
    pub fn new(name: impl Into<String>, start: i64, step: i64, values: Vec<f64>) -> Self {
        Series {
            name: name.into(),
            start,
            step,
            values,
        }
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// The series as `timestamp,value` CSV (the loader's NAB shape), RFC 3339 UTC times.
    pub fn to_csv(&self) -> String {
        let mut text = String::from("timestamp,value\n");
        for (i, v) in self.values.iter().enumerate() {
            let t = self.start + i as i64 * self.step;
            text.push_str(&format!("{},{v}\n", crate::core::time::format_timestamp(t)));
        }
        text
    }

    /// The name as a file stem: only `[A-Za-z0-9._-]`, anything else becomes `_`.
    pub fn file_stem(&self) -> String {
        self.name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._-".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    }

    /// True when the series has no points.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Time of point `i`, Unix seconds (`i` may be past the end).
    pub fn time_at(&self, i: usize) -> i64 {
        self.start + i as i64 * self.step
    }

    /// Time one step after the last point, Unix seconds: the series covers `[start, end)`.
    pub fn end(&self) -> i64 {
        self.time_at(self.values.len())
    }

    /// Points per day, if the step divides a day.
    pub fn per_day(&self) -> Option<usize> {
        (86_400 % self.step == 0).then(|| (86_400 / self.step) as usize)
    }

    /// The sub-series `[from, to)` by index.
    pub fn slice(&self, from: usize, to: usize) -> Series {
        Series::new(
            self.name.clone(),
            self.time_at(from),
            self.step,
            self.values[from..to].to_vec(),
        )
    }

    /// A stable fingerprint of the data (SHA-256 over start, step and values).
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(self.start.to_le_bytes());
        h.update(self.step.to_le_bytes());
        for v in &self.values {
            h.update(v.to_le_bytes());
        }
        format!("sha256:{:x}", h.finalize())
    }
}

/// One raw observation as read from a file.
#[derive(Debug, Clone, Copy)]
pub struct RawPoint {
    /// 1-based line (CSV, counting the header) or row (Parquet).
    pub line: usize,
    /// Unix seconds.
    pub time: i64,
    /// `None` for NaN or an empty cell.
    pub value: Option<f64>,
}

/// Something the policy found and handled; nothing is changed without one of these.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataIssue {
    /// 1-based line (or Parquet row) the issue is reported at.
    pub line: usize,
    /// What was found.
    pub kind: IssueKind,
    /// Human-readable description, including what was done about it.
    pub detail: String,
}

/// The kind of a [`DataIssue`], serialized in snake_case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IssueKind {
    /// A row earlier than the one before it; rows are sorted by time.
    OutOfOrder,
    /// A timestamp seen before; the values are averaged.
    Duplicate,
    /// A timestamp between grid points; snapped to the nearest one.
    OffGrid,
    /// A NaN or empty value, or a missing point at the edge of the series (trimmed).
    Missing,
    /// A run of missing steps filled by linear interpolation.
    GapFilled,
}

/// The most points one regular series may have (about 9.5 years at one-minute steps). The grid
/// is sized by the timestamp span, so without this bound one outlying timestamp in a small file
/// would ask for terabytes.
pub const MAX_POINTS: usize = 5_000_000;

/// How many missing steps the loader may fill; default 12.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct GapPolicy {
    /// The longest run of missing steps that is interpolated; longer gaps are refused.
    pub max_gap_fill: usize,
}

impl Default for GapPolicy {
    fn default() -> Self {
        GapPolicy { max_gap_fill: 12 }
    }
}

/// Cleaned series plus every issue the policy handled.
#[derive(Debug, Clone)]
pub struct Cleaned {
    /// The regular series after the policy.
    pub series: Series,
    /// Every issue handled, sorted by line.
    pub issues: Vec<DataIssue>,
}

/// Applies the policy above. `path` is only used to name the file in errors.
pub fn regularize(path: &Path, name: &str, mut rows: Vec<RawPoint>, policy: GapPolicy) -> Result<Cleaned> {
    let mut issues = Vec::new();
    if rows.is_empty() {
        return Err(Error::data(path, None, "no data rows"));
    }
    if rows.iter().all(|r| r.value.is_none()) {
        return Err(Error::data(
            path,
            None,
            format!("series {name:?}: every value is NaN or empty"),
        ));
    }
    // Range-check before any arithmetic on times: differences below must not overflow.
    if let Some(r) = rows.iter().find(|r| !timestamp_in_range(r.time)) {
        return Err(Error::data(
            path,
            Some(r.line),
            format!(
                "series {name:?}: timestamp {} is outside the supported range (years 1 to 9999)",
                r.time
            ),
        ));
    }
    for w in rows.windows(2) {
        if w[1].time < w[0].time {
            issues.push(DataIssue {
                line: w[1].line,
                kind: IssueKind::OutOfOrder,
                detail: "timestamp earlier than the previous row; rows sorted by time".into(),
            });
        }
    }
    rows.sort_by_key(|r| (r.time, r.line));

    let step = infer_step(&rows).ok_or_else(|| {
        Error::data(
            path,
            None,
            format!("series {name:?}: need at least two distinct timestamps to infer the step"),
        )
    })?;
    let start = rows[0].time;
    check_grid_size(path, name, &rows, step)?;

    // Grid index → (sum, count, first line); duplicates and off-grid rows average into one point.
    let mut grid: BTreeMap<i64, (f64, usize, usize)> = BTreeMap::new();
    let mut seen_time: BTreeMap<i64, usize> = BTreeMap::new();
    for r in &rows {
        if let Some(first) = seen_time.get(&r.time) {
            issues.push(DataIssue {
                line: r.line,
                kind: IssueKind::Duplicate,
                detail: format!("duplicate timestamp (first at line {first}); values averaged"),
            });
        } else {
            seen_time.insert(r.time, r.line);
        }
        let offset = r.time - start;
        let idx = (offset as f64 / step as f64).round() as i64;
        if offset != idx * step {
            issues.push(DataIssue {
                line: r.line,
                kind: IssueKind::OffGrid,
                detail: format!(
                    "timestamp {}s off the {step}s grid; snapped to the nearest step",
                    offset - idx * step
                ),
            });
        }
        let e = grid.entry(idx).or_insert((0.0, 0, r.line));
        if let Some(v) = r.value {
            e.0 += v;
            e.1 += 1;
        }
    }
    let last = *grid.keys().next_back().expect("non-empty grid");
    let mut values: Vec<Option<f64>> = vec![None; last as usize + 1];
    let mut lines: Vec<Option<usize>> = vec![None; last as usize + 1];
    for (idx, (sum, n, line)) in &grid {
        lines[*idx as usize] = Some(*line);
        if *n > 0 {
            values[*idx as usize] = Some(sum / *n as f64);
        } else {
            issues.push(DataIssue {
                line: *line,
                kind: IssueKind::Missing,
                detail: "NaN or empty value".into(),
            });
        }
    }
    // Leading and trailing gaps cannot be interpolated: trim them, reporting each.
    let first_ok = values.iter().position(Option::is_some).expect("some value");
    let last_ok = values.iter().rposition(Option::is_some).expect("some value");
    for i in (0..first_ok).chain(last_ok + 1..values.len()) {
        if let Some(line) = lines[i] {
            issues.push(DataIssue {
                line,
                kind: IssueKind::Missing,
                detail: "missing value at the edge of the series; trimmed".into(),
            });
        }
    }
    let values = &values[first_ok..=last_ok];
    let lines = &lines[first_ok..=last_ok];
    let mut out = Vec::with_capacity(values.len());
    let mut i = 0;
    while i < values.len() {
        match values[i] {
            Some(v) => {
                out.push(v);
                i += 1;
            }
            None => {
                let gap_end = (i..values.len()).find(|&j| values[j].is_some()).expect("trimmed");
                let len = gap_end - i;
                let before_line = lines[..i].iter().rev().flatten().next().copied().unwrap_or(0);
                let after_line = lines[gap_end].unwrap_or(0);
                if len > policy.max_gap_fill {
                    return Err(Error::data(
                        path,
                        Some(after_line),
                        format!(
                            "series {name:?}: gap of {len} missing steps of {step}s between lines {before_line} and {after_line} \
                             exceeds the fill limit of {} steps",
                            policy.max_gap_fill
                        ),
                    ));
                }
                let a = out[out.len() - 1];
                let b = values[gap_end].expect("found");
                for k in 1..=len {
                    out.push(a + (b - a) * k as f64 / (len + 1) as f64);
                }
                issues.push(DataIssue {
                    line: after_line,
                    kind: IssueKind::GapFilled,
                    detail: format!("{len} missing step(s) after line {before_line} filled by linear interpolation"),
                });
                i = gap_end;
            }
        }
    }
    issues.sort_by_key(|d| d.line);
    Ok(Cleaned {
        series: Series::new(name, start + first_ok as i64 * step, step, out),
        issues,
    })
}

/// Refuses a series whose grid (timestamp span / step) would exceed [`MAX_POINTS`], naming the
/// outlying row: the one beside the widest spacing, on the side with fewer rows. `rows` is sorted.
fn check_grid_size(path: &Path, name: &str, rows: &[RawPoint], step: i64) -> Result<()> {
    let (first, last) = (rows[0].time, rows[rows.len() - 1].time);
    // In range, so the span fits in i64; the step is positive.
    let points = (last - first) / step + 1;
    if points <= MAX_POINTS as i64 {
        return Ok(());
    }
    let widest = rows
        .windows(2)
        .enumerate()
        .max_by_key(|(_, w)| w[1].time - w[0].time)
        .map_or(0, |(i, _)| i);
    let outlier = if widest + 1 < rows.len() - widest - 1 {
        &rows[widest]
    } else {
        &rows[widest + 1]
    };
    Err(Error::data(
        path,
        Some(outlier.line),
        format!(
            "series {name:?}: timestamp {} makes the {step}s grid {points} points long, over the maximum of {MAX_POINTS}",
            crate::core::time::format_timestamp(outlier.time)
        ),
    ))
}

/// The most common positive spacing between consecutive distinct timestamps.
fn infer_step(rows: &[RawPoint]) -> Option<i64> {
    let mut counts: BTreeMap<i64, usize> = BTreeMap::new();
    for w in rows.windows(2) {
        let d = w[1].time - w[0].time;
        if d > 0 {
            *counts.entry(d).or_default() += 1;
        }
    }
    counts
        .into_iter()
        .max_by_key(|&(d, n)| (n, std::cmp::Reverse(d)))
        .map(|(d, _)| d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(points: &[(i64, Option<f64>)]) -> Vec<RawPoint> {
        points
            .iter()
            .enumerate()
            .map(|(i, &(time, value))| RawPoint {
                line: i + 2,
                time,
                value,
            })
            .collect()
    }

    fn kinds(c: &Cleaned) -> Vec<IssueKind> {
        c.issues.iter().map(|i| i.kind).collect()
    }

    #[test]
    fn policy_table() {
        let p = Path::new("x.csv");
        let pol = GapPolicy { max_gap_fill: 2 };
        // (rows, expected values, expected issue kinds)
        type Case = (Vec<(i64, Option<f64>)>, Vec<f64>, Vec<IssueKind>);
        let cases: Vec<Case> = vec![
            (
                vec![(0, Some(1.0)), (60, Some(2.0)), (120, Some(3.0))],
                vec![1.0, 2.0, 3.0],
                vec![],
            ),
            // a missing grid point is interpolated
            (
                vec![(0, Some(1.0)), (60, Some(2.0)), (180, Some(4.0))],
                vec![1.0, 2.0, 3.0, 4.0],
                vec![IssueKind::GapFilled],
            ),
            // NaN is a gap too
            (
                vec![(0, Some(1.0)), (60, None), (120, Some(3.0)), (180, Some(4.0))],
                vec![1.0, 2.0, 3.0, 4.0],
                vec![IssueKind::Missing, IssueKind::GapFilled],
            ),
            // duplicates are averaged
            (
                vec![(0, Some(1.0)), (60, Some(2.0)), (60, Some(4.0)), (120, Some(5.0))],
                vec![1.0, 3.0, 5.0],
                vec![IssueKind::Duplicate],
            ),
            // out of order rows are sorted
            (
                vec![(0, Some(1.0)), (120, Some(3.0)), (60, Some(2.0)), (180, Some(4.0))],
                vec![1.0, 2.0, 3.0, 4.0],
                vec![IssueKind::OutOfOrder],
            ),
            // off-grid timestamps snap
            (
                vec![
                    (0, Some(1.0)),
                    (60, Some(2.0)),
                    (121, Some(3.0)),
                    (180, Some(4.0)),
                    (240, Some(5.0)),
                ],
                vec![1.0, 2.0, 3.0, 4.0, 5.0],
                vec![IssueKind::OffGrid],
            ),
            // trailing NaN is trimmed
            (
                vec![(0, Some(1.0)), (60, Some(2.0)), (120, None)],
                vec![1.0, 2.0],
                vec![IssueKind::Missing, IssueKind::Missing],
            ),
        ];
        for (i, (input, want, want_kinds)) in cases.into_iter().enumerate() {
            let c = regularize(p, "s", rows(&input), pol).unwrap();
            assert_eq!(c.series.values, want, "case {i}");
            assert_eq!(c.series.step, 60, "case {i}");
            let mut got = kinds(&c);
            got.sort_by_key(|k| *k as u8);
            let mut want_kinds = want_kinds;
            want_kinds.sort_by_key(|k| *k as u8);
            assert_eq!(got, want_kinds, "case {i}: {:?}", c.issues);
        }
    }

    #[test]
    fn long_gap_refused_with_lines() {
        let input = rows(&[(0, Some(1.0)), (60, Some(1.0)), (600, Some(2.0))]);
        let err = regularize(Path::new("f.csv"), "s", input, GapPolicy { max_gap_fill: 3 })
            .unwrap_err()
            .to_string();
        assert!(err.contains("f.csv:4"), "{err}");
        assert!(err.contains("gap of 8 missing steps"), "{err}");
        assert!(err.contains("between lines 3 and 4"), "{err}");
    }

    #[test]
    fn outlying_timestamps_refused_before_allocating() {
        let p = Path::new("f.csv");
        // (rows, the line named, part of the message)
        type Case = (Vec<(i64, Option<f64>)>, usize, &'static str);
        let cases: Vec<Case> = vec![
            // one timestamp at 10^12: outside years 1..9999
            (
                vec![
                    (0, Some(1.0)),
                    (60, Some(1.0)),
                    (120, Some(1.0)),
                    (1_000_000_000_000, Some(1.0)),
                ],
                5,
                "outside the supported range",
            ),
            (
                vec![(i64::MIN, Some(1.0)), (i64::MAX, Some(1.0))],
                2,
                "outside the supported range",
            ),
            // in range, but the grid would be ~1.7e9 points: the outlier is named, first or last
            (
                vec![
                    (0, Some(1.0)),
                    (60, Some(1.0)),
                    (120, Some(1.0)),
                    (100_000_000_000, Some(1.0)),
                ],
                5,
                "over the maximum of 5000000",
            ),
            (
                vec![
                    (-50_000_000_000, Some(1.0)),
                    (0, Some(1.0)),
                    (60, Some(1.0)),
                    (120, Some(1.0)),
                ],
                2,
                "over the maximum of 5000000",
            ),
        ];
        for (input, line, want) in cases {
            let err = regularize(p, "s", rows(&input), GapPolicy::default())
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(&format!("f.csv:{line}:")) && err.contains(want),
                "{input:?}: {err}"
            );
        }
    }

    #[test]
    fn all_nan_refused() {
        let input = rows(&[(0, None), (60, None)]);
        let err = regularize(Path::new("f.csv"), "s", input, GapPolicy::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("every value is NaN"), "{err}");
    }
}
