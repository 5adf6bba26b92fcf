//! Latency rule files (`kind: LatencyBasedAutoScaler`, the seed system's format) → validated
//! [`Rule`]s. A file may hold several YAML documents (`---`); a directory is every `*.yaml` /
//! `*.yml` file in it (not recursive, hidden files skipped), in name order. Errors name the
//! file, line and field path (docs/rules.md).

use crate::{Error, Result};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// The `apiVersion` a rule document must have.
pub const API_VERSION: &str = "scale.autoscaling/v1";
/// The `kind` a rule document must have.
pub const KIND: &str = "LatencyBasedAutoScaler";
const UNITS: &str = "ns, us, µs, ms, s or m";

/// Which latency statistic of a window is compared with the bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Percentile {
    /// The median, `p50`.
    P50,
    /// `p95`, the default.
    #[default]
    P95,
    /// `p99`.
    P99,
}

impl Percentile {
    /// As a quantile in (0, 1): 0.5, 0.95 or 0.99.
    pub fn quantile(self) -> f64 {
        match self {
            Percentile::P50 => 0.50,
            Percentile::P95 => 0.95,
            Percentile::P99 => 0.99,
        }
    }
}

impl fmt::Display for Percentile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Percentile::P50 => "p50",
            Percentile::P95 => "p95",
            Percentile::P99 => "p99",
        })
    }
}

/// An `spec.operations` entry: an exact operation name, or a prefix written `name*`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum OperationFilter {
    /// Written `name`: the operation must equal it.
    Exact(String),
    /// Written `name*` (stored without the `*`): the operation must start with it.
    Prefix(String),
}

impl OperationFilter {
    /// Whether a span's operation name passes this filter.
    pub fn matches(&self, operation: &str) -> bool {
        match self {
            OperationFilter::Exact(e) => operation == e,
            OperationFilter::Prefix(p) => operation.starts_with(p.as_str()),
        }
    }
}

impl fmt::Display for OperationFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OperationFilter::Exact(e) => f.write_str(e),
            OperationFilter::Prefix(p) => write!(f, "{p}*"),
        }
    }
}

/// "Act after `count` breaches within `window_seconds`"; `None` window = the latest evaluation only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Breaches {
    /// `spec.breaches.count`: breaching windows needed, at least 1; default 1.
    pub count: u32,
    /// `spec.breaches.window` in whole seconds; required when `count` is above 1.
    pub window_seconds: Option<i64>,
}

impl Default for Breaches {
    fn default() -> Self {
        Breaches {
            count: 1,
            window_seconds: None,
        }
    }
}

/// Where a rule came from: its file and the line its document starts on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Source {
    /// The rule file, as given or found in the rules directory.
    pub file: PathBuf,
    /// The 1-based line the rule's YAML document starts on.
    pub line: usize,
}

/// One validated rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rule {
    /// `metadata.name`; unique per namespace in a set.
    pub name: String,
    /// `metadata.namespace`; `None` when the document has none.
    pub namespace: Option<String>,
    /// Matched against the spans' service (`ServiceMinute::service`).
    pub service: String,
    /// What gets scaled.
    pub deployment: String,
    /// `spec.target.service`: the `scale serve` service the rule attaches to, when it is not
    /// named like `deploymentName`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attach: Option<String>,
    /// `spec.latencyThreshold.upperBound` in seconds: above it, scale up.
    pub upper_seconds: f64,
    /// `None`: never scale down.
    pub lower_seconds: Option<f64>,
    /// The window statistic compared with the bounds; default p95.
    pub percentile: Percentile,
    /// Empty: all of the service's requests (entry spans).
    pub operations: Vec<OperationFilter>,
    /// How many breaching windows it takes to act.
    pub breaches: Breaches,
    /// `spec.step`: replicas added or removed per action, at least 1; default 1.
    pub step: u32,
    /// The file and line the rule was read from, for messages.
    pub source: Source,
}

impl Rule {
    /// What the rule scales by name: `spec.target.service` when set, else `deploymentName`
    /// (a `scale serve` service; a series in `scale evaluate`).
    pub fn target_name(&self) -> &str {
        self.attach.as_deref().unwrap_or(&self.deployment)
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}:{}): service {} → deployment {}{}: {} > {} scale up by {}",
            self.name,
            self.source.file.display(),
            self.source.line,
            self.service,
            self.deployment,
            self.attach
                .as_ref()
                .map(|a| format!(" (serve service {a})"))
                .unwrap_or_default()
                + &self.namespace.as_ref().map(|n| format!(" in {n}")).unwrap_or_default(),
            self.percentile,
            format_latency(self.upper_seconds),
            self.step
        )?;
        match self.lower_seconds {
            Some(l) => write!(f, ", < {} scale down by {}", format_latency(l), self.step)?,
            None => f.write_str(", no scale-down")?,
        }
        match self.breaches.window_seconds {
            Some(w) => write!(
                f,
                "; {} breaches within {}",
                self.breaches.count,
                crate::core::time::format_duration(w)
            )?,
            None => f.write_str("; 1 breach per evaluation")?,
        }
        if self.operations.is_empty() {
            f.write_str("; operations: all")
        } else {
            let ops: Vec<String> = self.operations.iter().map(|o| o.to_string()).collect();
            write!(f, "; operations: {}", ops.join(", "))
        }
    }
}

/// A duration with a unit, in seconds. Unitless numbers and negative values are rejected.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Dur(f64);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Dur;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "a duration with a unit ({UNITS}), e.g. 500ms")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Dur, E> {
                parse_latency(v).map(Dur).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Dur, E> {
                Err(E::custom(format!("{v} has no unit; write e.g. {v}ms ({UNITS})")))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Dur, E> {
                self.visit_i64(v as i64)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<Dur, E> {
                Err(E::custom(format!("{v} has no unit; write e.g. {v}ms ({UNITS})")))
            }
        }
        d.deserialize_any(V)
    }
}

/// Parses `500ms`, `0.5s`, `250us`, `250µs`, `1m`, `100 ns` into seconds.
pub fn parse_latency(text: &str) -> std::result::Result<f64, String> {
    let t = text.trim();
    if t.starts_with('-') {
        return Err(format!("{t:?} is negative; latencies are at least 0"));
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+'))
        .unwrap_or(t.len());
    let (num, unit) = (t[..split].trim(), t[split..].trim());
    if unit.is_empty() {
        return Err(format!("{t:?} has no unit; write e.g. {t}ms ({UNITS})"));
    }
    let value: f64 = num
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite())
        .ok_or_else(|| format!("{t:?} is not a duration; expected a number and a unit ({UNITS})"))?;
    let per_second = match unit {
        "ns" => 1e9,
        "us" | "µs" | "μs" => 1e6,
        "ms" => 1e3,
        "s" => 1.0,
        "m" => 1.0 / 60.0,
        other => return Err(format!("{t:?}: unknown unit {other:?}; use {UNITS}")),
    };
    Ok(value / per_second)
}

/// Seconds as a short latency: `612ms`, `1.5s`, `250µs`.
pub fn format_latency(seconds: f64) -> String {
    let trim = |v: f64, unit: &str| {
        // Whole milli/microseconds from 10 up: reasons stay short ("612ms", not "612.348ms").
        let s = if unit != "s" && v >= 10.0 {
            format!("{v:.0}")
        } else {
            format!("{v:.3}")
        };
        let s = if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.')
        } else {
            &s
        };
        format!("{s}{unit}")
    };
    if seconds >= 60.0 && (seconds / 60.0).fract() == 0.0 {
        trim(seconds / 60.0, "m")
    } else if seconds >= 1.0 {
        trim(seconds, "s")
    } else if seconds >= 1e-3 || seconds == 0.0 {
        trim(seconds * 1e3, "ms")
    } else {
        trim(seconds * 1e6, "µs")
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Document {
    // Checked in the first (value) pass, where a wrong kind is reported before its fields.
    #[allow(dead_code)]
    api_version: String,
    #[allow(dead_code)]
    kind: String,
    metadata: Metadata,
    spec: SpecDoc,
}

/// Kubernetes-style metadata: labels, annotations and the like are allowed and ignored.
#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    name: String,
    #[serde(default)]
    namespace: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SpecDoc {
    target: TargetDoc,
    latency_threshold: ThresholdDoc,
    #[serde(default)]
    operations: Vec<String>,
    #[serde(default)]
    breaches: Option<BreachesDoc>,
    #[serde(default)]
    percentile: Option<Percentile>,
    #[serde(default)]
    step: Option<u32>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TargetDoc {
    service_name: String,
    deployment_name: String,
    #[serde(default)]
    service: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ThresholdDoc {
    upper_bound: Dur,
    #[serde(default)]
    lower_bound: Option<Dur>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BreachesDoc {
    count: u32,
    #[serde(default)]
    window: Option<Dur>,
}

/// Line (1-based) on which each document of `text` starts, as libyaml splits them.
fn document_lines(text: &str) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut content_seen = false;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_end();
        if t == "---" || t.starts_with("--- ") {
            starts.push(i + 2);
            content_seen = false;
        } else if !content_seen && !t.trim().is_empty() && !t.trim_start().starts_with('#') {
            if starts.is_empty() {
                starts.push(i + 1);
            }
            content_seen = true;
        }
    }
    starts
}

/// Line of the first `key:` at or after `from` (where a validation error points); block or flow style.
fn key_line(text: &str, from: usize, key: &str) -> usize {
    let has_key = |l: &str| {
        l.match_indices(key).any(|(i, _)| {
            let before = l[..i].chars().next_back();
            before.is_none_or(|c| c == ' ' || c == '{' || c == ',' || c == '-' || c == '"')
                && l[i + key.len()..].trim_start_matches('"').trim_start().starts_with(':')
        })
    };
    text.lines()
        .enumerate()
        .skip(from.saturating_sub(1))
        .find(|(_, l)| has_key(l))
        .map_or(from, |(i, _)| i + 1)
}

/// Parses every rule document of one file's text.
pub fn parse_rules(path: &Path, text: &str) -> Result<Vec<Rule>> {
    let starts = document_lines(text);
    let mut rules = Vec::new();
    let docs = serde_yaml_ng::Deserializer::from_str(text);
    let values = serde_yaml_ng::Deserializer::from_str(text);
    for (i, (doc, value)) in docs.zip(values).enumerate() {
        let start = starts.get(i).copied().unwrap_or(1);
        let yaml_err = |e: &serde_yaml_ng::Error| e.location().map_or(start, |l| l.line());
        // A first pass as a plain value: skips empty documents, checks the kind before the fields.
        let value = serde_yaml_ng::Value::deserialize(value)
            .map_err(|e| Error::data(path, Some(yaml_err(&e)), format!("not valid YAML: {e}")))?;
        if value.is_null() {
            continue;
        }
        let field = |k: &str| value.get(k).and_then(|v| v.as_str()).map(str::to_string);
        match (field("apiVersion"), field("kind")) {
            (_, Some(k)) if k != KIND => {
                return Err(Error::data(
                    path,
                    Some(key_line(text, start, "kind")),
                    format!("kind: expected {KIND}, got {k:?}"),
                ));
            }
            (Some(v), _) if v != API_VERSION => {
                return Err(Error::data(
                    path,
                    Some(key_line(text, start, "apiVersion")),
                    format!("apiVersion: expected {API_VERSION}, got {v:?}"),
                ));
            }
            _ => {}
        }
        let parsed: Document = serde_path_to_error::deserialize(doc).map_err(|e| {
            let line = yaml_err(e.inner());
            let field = e.path().to_string();
            // serde_yaml_ng appends " at line L column C"; the line is already in front.
            let inner = e.inner().to_string();
            let inner = inner.split(" at line ").next().unwrap_or(&inner);
            let field = if field == "." {
                String::new()
            } else {
                format!("{field}: ")
            };
            // serde_yaml_ng may name the (parent) path itself: then its message stands alone.
            let own_path = inner
                .split_once(": ")
                .is_some_and(|(p, _)| !p.is_empty() && !p.contains(' ') && field.starts_with(p));
            let field = if own_path { String::new() } else { field };
            Error::data(path, Some(line), format!("{field}{inner}"))
        })?;
        rules.push(validate(path, text, start, parsed)?);
    }
    Ok(rules)
}

fn validate(path: &Path, text: &str, start: usize, d: Document) -> Result<Rule> {
    let bad = |key: &str, field: &str, msg: String| {
        Error::data(path, Some(key_line(text, start, key)), format!("{field}: {msg}"))
    };
    let name_ok = |key: &str, field: &str, v: &str| -> Result<String> {
        let v = v.trim();
        if v.is_empty() {
            return Err(bad(key, field, "must not be empty".into()));
        }
        if v.chars().any(char::is_whitespace) {
            return Err(bad(key, field, format!("{v:?} must not contain whitespace")));
        }
        Ok(v.to_string())
    };
    let name = name_ok("name", "metadata.name", &d.metadata.name)?;
    let service = name_ok("serviceName", "spec.target.serviceName", &d.spec.target.service_name)?;
    let deployment = name_ok(
        "deploymentName",
        "spec.target.deploymentName",
        &d.spec.target.deployment_name,
    )?;
    let attach = match &d.spec.target.service {
        Some(n) => Some(name_ok("service", "spec.target.service", n)?),
        None => None,
    };
    let namespace = match d.metadata.namespace {
        Some(n) => Some(name_ok("namespace", "metadata.namespace", &n)?),
        None => None,
    };
    let upper = d.spec.latency_threshold.upper_bound.0;
    if upper <= 0.0 {
        return Err(bad(
            "upperBound",
            "spec.latencyThreshold.upperBound",
            "must be above 0".into(),
        ));
    }
    let lower = d.spec.latency_threshold.lower_bound.map(|l| l.0);
    if let Some(l) = lower.filter(|l| *l >= upper) {
        return Err(bad(
            "lowerBound",
            "spec.latencyThreshold.lowerBound",
            format!(
                "{} must be below upperBound {}",
                format_latency(l),
                format_latency(upper)
            ),
        ));
    }
    let mut operations = Vec::new();
    for (i, op) in d.spec.operations.iter().enumerate() {
        let field = format!("spec.operations[{i}]");
        let star = op.find('*');
        let f = match star {
            _ if op.trim().is_empty() => return Err(bad("operations", &field, "must not be empty".into())),
            Some(p) if p + 1 != op.len() => {
                return Err(bad(
                    "operations",
                    &field,
                    format!("{op:?}: '*' is only allowed at the end (a prefix match)"),
                ));
            }
            Some(_) if op.len() == 1 => {
                return Err(bad(
                    "operations",
                    &field,
                    "\"*\" alone matches everything; omit spec.operations instead".into(),
                ));
            }
            Some(_) => OperationFilter::Prefix(op[..op.len() - 1].to_string()),
            None => OperationFilter::Exact(op.clone()),
        };
        operations.push(f);
    }
    let breaches = match d.spec.breaches {
        None => Breaches::default(),
        Some(b) => {
            if b.count == 0 {
                return Err(bad("count", "spec.breaches.count", "must be at least 1".into()));
            }
            let window = match b.window {
                Some(w) if w.0 < 1.0 => {
                    return Err(bad("window", "spec.breaches.window", "must be at least 1s".into()));
                }
                Some(w) => Some(w.0.round() as i64),
                None if b.count > 1 => {
                    return Err(bad(
                        "count",
                        "spec.breaches.window",
                        format!("required when count is {} (count breaches within a window)", b.count),
                    ));
                }
                None => None,
            };
            Breaches {
                count: b.count,
                window_seconds: window,
            }
        }
    };
    let step = d.spec.step.unwrap_or(1);
    if step == 0 {
        return Err(bad("step", "spec.step", "must be at least 1".into()));
    }
    Ok(Rule {
        name,
        namespace,
        service,
        deployment,
        attach,
        upper_seconds: upper,
        lower_seconds: lower,
        percentile: d.spec.percentile.unwrap_or_default(),
        operations,
        breaches,
        step,
        source: Source {
            file: path.to_path_buf(),
            line: start,
        },
    })
}

/// The rule files under `path`: the file itself, or a directory's `*.yaml`/`*.yml` files
/// (not recursive; names starting with `.` skipped), sorted by name.
pub fn rule_files(path: &Path) -> Result<Vec<PathBuf>> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| Error::io(path, e))?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            !name.starts_with('.') && (name.ends_with(".yaml") || name.ends_with(".yml")) && p.is_file()
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Reads, parses and validates every rule under `path` (a file or a directory) as one set:
/// any error fails the whole set. Rule names and target deployments must be unique in the set.
pub fn load_rules(path: &Path) -> Result<Vec<Rule>> {
    let mut rules = Vec::new();
    for file in rule_files(path)? {
        let text = std::fs::read_to_string(&file).map_err(|e| Error::io(&file, e))?;
        rules.extend(parse_rules(&file, &text)?);
    }
    check_unique(&rules)?;
    Ok(rules)
}

/// Two rules with one name, or two rules scaling one deployment, would fight: reject the set.
pub fn check_unique(rules: &[Rule]) -> Result<()> {
    let mut names: BTreeMap<(&Option<String>, &str), &Rule> = BTreeMap::new();
    let mut targets: BTreeMap<(&Option<String>, &str), &Rule> = BTreeMap::new();
    for r in rules {
        let at = |o: &Rule| format!("{}:{}", o.source.file.display(), o.source.line);
        if let Some(o) = names.insert((&r.namespace, &r.name), r) {
            return Err(Error::data(
                &r.source.file,
                Some(r.source.line),
                format!("metadata.name: {:?} is already defined at {}", r.name, at(o)),
            ));
        }
        if let Some(o) = targets.insert((&r.namespace, &r.deployment), r) {
            return Err(Error::data(
                &r.source.file,
                Some(r.source.line),
                format!(
                    "spec.target.deploymentName: {:?} is already scaled by rule {:?} at {}",
                    r.deployment,
                    o.name,
                    at(o)
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    pub const SEED: &str = "apiVersion: scale.autoscaling/v1
kind: LatencyBasedAutoScaler
metadata:
  name: frontend-latency
spec:
  target:
    serviceName: frontend
    deploymentName: frontend
  latencyThreshold:
    upperBound: 500ms
    lowerBound: 100ms
";

    fn parse(text: &str) -> Result<Vec<Rule>> {
        parse_rules(Path::new("r.yaml"), text)
    }

    #[test]
    fn seed_yaml_parses_with_defaults() {
        let r = parse(SEED).unwrap();
        assert_eq!(r.len(), 1);
        let r = &r[0];
        assert_eq!(
            (r.name.as_str(), r.service.as_str(), r.deployment.as_str()),
            ("frontend-latency", "frontend", "frontend")
        );
        assert_eq!((r.upper_seconds, r.lower_seconds), (0.5, Some(0.1)));
        assert_eq!(
            (r.percentile, r.step, r.breaches),
            (Percentile::P95, 1, Breaches::default())
        );
        assert!(r.operations.is_empty());
        assert_eq!(r.source.line, 1);
    }

    #[test]
    fn latency_units() {
        let ok = [
            ("500ms", 0.5),
            ("0.5s", 0.5),
            ("250us", 250e-6),
            ("250µs", 250e-6),
            ("250μs", 250e-6),
            ("1500000ns", 0.0015),
            ("2m", 120.0),
            (" 100 ms ", 0.1),
            ("0ms", 0.0),
        ];
        for (t, want) in ok {
            let got = parse_latency(t).unwrap();
            assert!((got - want).abs() < 1e-12, "{t}: {got}");
        }
        for (t, want) in [
            ("500", "no unit"),
            ("-5ms", "negative"),
            ("5h", "unknown unit"),
            ("ms", "not a duration"),
            ("1.2.3ms", "not a duration"),
            ("", "no unit"),
        ] {
            let e = parse_latency(t).unwrap_err();
            assert!(e.contains(want), "{t}: {e}");
        }
        for (s, want) in [
            (0.612, "612ms"),
            (1.5, "1.5s"),
            (0.00025, "250µs"),
            (300.0, "5m"),
            (0.0, "0ms"),
            (0.5, "500ms"),
            (0.0105, "10ms"),
            (0.0015, "1.5ms"),
            (600.0, "10m"),
        ] {
            assert_eq!(format_latency(s), want);
        }
    }

    #[test]
    fn extensions_parse() {
        let text = format!(
            "{SEED}  operations: [\"hipstershop.Frontend/Recv.\", \"GET /api/*\"]\n  breaches: {{count: 3, window: 5m}}\n  percentile: p99\n  step: 2\n"
        );
        let r = &parse(&text).unwrap()[0];
        assert_eq!(r.percentile, Percentile::P99);
        assert_eq!(r.step, 2);
        assert_eq!(
            r.breaches,
            Breaches {
                count: 3,
                window_seconds: Some(300)
            }
        );
        assert_eq!(
            r.operations,
            [
                OperationFilter::Exact("hipstershop.Frontend/Recv.".into()),
                OperationFilter::Prefix("GET /api/".into())
            ]
        );
        assert!(r.operations[1].matches("GET /api/cart") && !r.operations[1].matches("GET /apx"));
        assert!(
            r.operations[0].matches("hipstershop.Frontend/Recv.")
                && !r.operations[0].matches("hipstershop.Frontend/Recv")
        );
    }

    #[test]
    fn spec_target_service_names_the_serve_service() {
        let cases = [
            (SEED.to_string(), None),
            (
                SEED.replace("deploymentName: frontend", "deploymentName: frontend\n    service: web"),
                Some("web"),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(parse(&text).unwrap()[0].attach.as_deref(), want, "{text}");
        }
    }

    #[test]
    fn multi_document_lines() {
        let second = SEED.replace("frontend", "cart");
        let text = format!("# rules\n---\n{SEED}---\n\n{second}---\n");
        let r = parse(&text).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!((r[0].source.line, r[1].source.line), (3, 15));
        assert_eq!(r[1].service, "cart");
    }

    /// (case, text, expected line, expected message fragment)
    #[test]
    fn invalid_documents_name_line_and_field() {
        let swap = |from: &str, to: &str| SEED.replace(from, to);
        let second_doc = format!("{SEED}---\n{}", swap("upperBound: 500ms", "upperBound: 500"));
        let cases: Vec<(&str, String, usize, &str)> = vec![
            (
                "unitless",
                swap("500ms", "500"),
                10,
                "spec.latencyThreshold.upperBound: 500 has no unit",
            ),
            (
                "negative",
                swap("100ms", "-100ms"),
                11,
                "spec.latencyThreshold.lowerBound: \"-100ms\" is negative",
            ),
            ("bad unit", swap("100ms", "100h"), 11, "unknown unit \"h\""),
            (
                "lower ≥ upper",
                swap("100ms", "600ms"),
                11,
                "lowerBound: 600ms must be below upperBound 500ms",
            ),
            (
                "spec.target.service with whitespace",
                swap("deploymentName: frontend", "deploymentName: frontend\n    service: a b"),
                9,
                "spec.target.service: \"a b\" must not contain whitespace",
            ),
            (
                "unknown spec field",
                format!("{SEED}  replicas: 3\n"),
                12,
                "spec: unknown field `replicas`",
            ),
            (
                "unknown target field",
                swap("deploymentName: frontend", "deploymentName: frontend\n    namespace: x"),
                9,
                "spec.target: unknown field `namespace`",
            ),
            (
                "missing target",
                swap(
                    "  target:\n    serviceName: frontend\n    deploymentName: frontend\n",
                    "",
                ),
                6,
                "spec: missing field `target`",
            ),
            (
                "empty name",
                swap("name: frontend-latency", "name: \"\""),
                4,
                "metadata.name: must not be empty",
            ),
            (
                "empty service",
                swap("serviceName: frontend", "serviceName: \" \""),
                7,
                "spec.target.serviceName: must not be empty",
            ),
            (
                "wrong kind",
                swap("kind: LatencyBasedAutoScaler", "kind: HorizontalPodAutoscaler"),
                2,
                "kind: expected LatencyBasedAutoScaler",
            ),
            (
                "wrong apiVersion",
                swap("scale.autoscaling/v1", "autoscaling/v2"),
                1,
                "apiVersion: expected scale.autoscaling/v1",
            ),
            (
                "percentile",
                format!("{SEED}  percentile: p90\n"),
                12,
                "spec.percentile: unknown variant `p90`",
            ),
            (
                "step 0",
                format!("{SEED}  step: 0\n"),
                12,
                "spec.step: must be at least 1",
            ),
            ("negative step", format!("{SEED}  step: -1\n"), 12, "spec.step"),
            (
                "breaches without window",
                format!("{SEED}  breaches: {{count: 3}}\n"),
                12,
                "spec.breaches.window: required when count is 3",
            ),
            (
                "breaches count 0",
                format!("{SEED}  breaches:\n    count: 0\n"),
                13,
                "spec.breaches.count: must be at least 1",
            ),
            (
                "breaches window unitless",
                format!("{SEED}  breaches: {{count: 2, window: 300}}\n"),
                12,
                "spec.breaches.window: 300 has no unit",
            ),
            (
                "glob in the middle",
                format!("{SEED}  operations: [\"a*b\"]\n"),
                12,
                "spec.operations[0]: \"a*b\": '*' is only allowed at the end",
            ),
            (
                "bare star",
                format!("{SEED}  operations: [\"*\"]\n"),
                12,
                "spec.operations[0]",
            ),
            (
                "second document",
                second_doc,
                22,
                "spec.latencyThreshold.upperBound: 500 has no unit",
            ),
            ("bad yaml", "apiVersion: [\n".into(), 2, "not valid YAML"),
        ];
        for (case, text, line, want) in cases {
            let e = parse(&text).unwrap_err().to_string();
            assert!(e.starts_with(&format!("r.yaml:{line}: ")), "{case}: {e}");
            assert!(e.contains(want), "{case}: {e}");
        }
    }

    #[test]
    fn duplicates_across_files_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.yaml"), SEED).unwrap();
        std::fs::write(
            dir.path().join("b.yml"),
            SEED.replace("name: frontend-latency", "name: other"),
        )
        .unwrap();
        let e = load_rules(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("b.yml:1") && e.contains("already scaled by rule \"frontend-latency\""),
            "{e}"
        );
        std::fs::write(
            dir.path().join("b.yml"),
            SEED.replace("deploymentName: frontend", "deploymentName: f2"),
        )
        .unwrap();
        let e = load_rules(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("metadata.name: \"frontend-latency\" is already defined at"),
            "{e}"
        );
        // Other extensions and hidden files are not rule files.
        std::fs::write(dir.path().join("b.yml"), SEED.replace("frontend", "cart")).unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not yaml").unwrap();
        std::fs::write(dir.path().join(".a.yaml.swp"), "junk").unwrap();
        std::fs::write(dir.path().join(".hidden.yaml"), "junk: [").unwrap();
        let r = load_rules(dir.path()).unwrap();
        assert_eq!(
            r.iter().map(|r| r.service.as_str()).collect::<Vec<_>>(),
            ["frontend", "cart"]
        );
        let e = load_rules(&dir.path().join("absent")).unwrap_err().to_string();
        assert!(e.contains("absent"), "{e}");
    }
}
