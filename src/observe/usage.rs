//! Container usage from files: what `scale evaluate --vertical` replays (docs/evaluate.md).
//!
//! - wide: `timestamp,cpu,memory`, CPU in cores and memory in bytes, one container;
//! - long: `timestamp,pod,container,cpu,memory`, one series per (container, pod).
//!
//! The data policy is the demand files' ([`crate::core::series::regularize`]): empty and NaN
//! cells are gaps, filled up to the gap limit; negative or infinite values are errors naming the
//! line. CPU and memory are regularized apart, on the same timestamps.

use super::files::{read_table, text_column, time_column, value_column};
use crate::core::series::{DataIssue, GapPolicy, RawPoint, Series, regularize};
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::path::Path;

/// Most (container, pod) series one file may hold.
pub const MAX_USAGE_SERIES: usize = 1000;

/// One pod's usage of one container, on a regular grid.
#[derive(Debug, Clone)]
pub struct PodUsage {
    /// Pod name (`pod` column; the file stem in the wide format).
    pub pod: String,
    /// CPU cores.
    pub cpu: Series,
    /// Memory bytes, on the CPU series' grid.
    pub memory: Series,
    /// Issues the data policy handled, CPU's then memory's.
    pub issues: Vec<DataIssue>,
}

/// Every pod of one container.
#[derive(Debug, Clone)]
pub struct ContainerSeries {
    /// Container name (`container` column; the file stem in the wide format).
    pub container: String,
    /// Its pods, by name.
    pub pods: Vec<PodUsage>,
}

/// Loads every container in `path` (CSV, or Parquet by extension).
pub fn load_usage(path: &Path, policy: GapPolicy) -> Result<Vec<ContainerSeries>> {
    let (df, line_offset) = read_table(path)?;
    let names: Vec<String> = df.get_column_names().iter().map(|s| s.to_string()).collect();
    let find = |want: &str| names.iter().find(|n| n.trim().eq_ignore_ascii_case(want)).cloned();
    let (Some(tcol), Some(ccol), Some(mcol)) = (find("timestamp"), find("cpu"), find("memory")) else {
        return Err(Error::data(
            path,
            Some(1),
            format!(
                "wrong columns {names:?}: expected timestamp,cpu,memory (cores, bytes), optionally with pod,container"
            ),
        ));
    };
    let times = time_column(path, &df, &tcol, line_offset)?;
    let cpu = value_column(path, &df, &ccol, line_offset, "usage")?;
    let mem = value_column(path, &df, &mcol, line_offset, "usage")?;
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("container")
        .to_string();
    let label = |col: Option<String>| -> Result<Vec<Option<String>>> {
        match col {
            Some(c) => text_column(path, &df, &c),
            None => Ok(vec![None; df.height()]),
        }
    };
    let (pcol, kcol) = (find("pod"), find("container"));
    let pods = label(pcol.clone())?;
    let containers = label(kcol.clone())?;
    type Rows = (Vec<RawPoint>, Vec<RawPoint>);
    let mut groups: BTreeMap<(String, String), Rows> = BTreeMap::new();
    for (i, (((time, c), m), (pod, container))) in times
        .into_iter()
        .zip(cpu)
        .zip(mem)
        .zip(pods.into_iter().zip(containers))
        .enumerate()
    {
        let line = i + line_offset;
        let name = |col: &Option<String>, v: Option<String>| match (col, v) {
            (None, _) => Ok(stem.clone()),
            (Some(_), Some(s)) if !s.is_empty() => Ok(s),
            (Some(c), _) => Err(Error::data(path, Some(line), format!("column {c}: empty name"))),
        };
        let key = (name(&kcol, container)?, name(&pcol, pod)?);
        if !groups.contains_key(&key) && groups.len() == MAX_USAGE_SERIES {
            return Err(Error::data(
                path,
                Some(line),
                format!("more than {MAX_USAGE_SERIES} (container, pod) series"),
            ));
        }
        let g = groups.entry(key).or_default();
        g.0.push(RawPoint { line, time, value: c });
        g.1.push(RawPoint { line, time, value: m });
    }
    if groups.is_empty() {
        return Err(Error::data(path, None, "no data rows"));
    }
    let mut out: BTreeMap<String, Vec<PodUsage>> = BTreeMap::new();
    for ((container, pod), (c, m)) in groups {
        let what = |r: &str| format!("{container}/{pod} {r}");
        let c = regularize(path, &what("cpu"), c, policy)?;
        let m = regularize(path, &what("memory"), m, policy)?;
        let mut issues = c.issues;
        issues.extend(m.issues);
        out.entry(container).or_default().push(PodUsage {
            pod,
            cpu: c.series,
            memory: m.series,
            issues,
        });
    }
    Ok(out
        .into_iter()
        .map(|(container, pods)| ContainerSeries { container, pods })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(body: &str) -> Result<Vec<ContainerSeries>> {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("web.csv");
        std::fs::write(&p, body).unwrap();
        load_usage(&p, GapPolicy::default())
    }

    #[test]
    fn wide_and_long_shapes() {
        let wide = load("timestamp,cpu,memory\n0,0.5,1e8\n60,,2e8\n120,1.5,3e8\n").unwrap();
        assert_eq!(wide.len(), 1);
        assert_eq!(
            (wide[0].container.as_str(), wide[0].pods[0].pod.as_str()),
            ("web", "web")
        );
        // The empty CPU cell is a gap, interpolated by the data policy.
        assert_eq!(wide[0].pods[0].cpu.values, vec![0.5, 1.0, 1.5]);
        assert_eq!(wide[0].pods[0].memory.values, vec![1e8, 2e8, 3e8]);
        assert_eq!(wide[0].pods[0].cpu.step, 60);

        let long = load("timestamp,pod,container,cpu,memory\n0,a,app,1,1\n0,b,app,2,2\n0,a,side,3,3\n60,a,app,1,1\n60,b,app,2,2\n60,a,side,3,3\n").unwrap();
        let got: Vec<(String, Vec<String>)> = long
            .iter()
            .map(|c| (c.container.clone(), c.pods.iter().map(|p| p.pod.clone()).collect()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("app".into(), vec!["a".into(), "b".into()]),
                ("side".into(), vec!["a".into()])
            ]
        );
    }

    #[test]
    fn bad_input_names_the_line_or_columns() {
        let cases = [
            ("timestamp,value\n0,1\n", "wrong columns"),
            (
                "timestamp,cpu,memory\n0,1,1\n60,-1,1\n",
                "web.csv:3: column cpu: negative usage -1",
            ),
            (
                "timestamp,cpu,memory\n0,1,1\n60,1,inf\n",
                "web.csv:3: column memory: infinite value",
            ),
            ("timestamp,cpu,memory\n0,1,1\nx,1,1\n", "web.csv:3: column timestamp"),
            (
                "timestamp,pod,container,cpu,memory\n0,,app,1,1\n",
                "web.csv:2: column pod: empty name",
            ),
        ];
        for (body, want) in cases {
            let e = load(body).unwrap_err().to_string();
            assert!(e.contains(want), "{body:?}: {e}");
        }
    }
}
