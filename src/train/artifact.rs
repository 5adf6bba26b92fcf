//! Versioned model artifacts: `models/<service>/<version>/{manifest.json,state.json}`.
//!
//! The state is what forecasting needs: the frozen model spec and the recent history it
//! refits on. The manifest carries the state's SHA-256 and its own (schema 2); loading verifies
//! both, the schema version, that every path stays inside the version directory, that the
//! manifest's `version` is its directory's name, and what the state means (step, lengths,
//! finite numbers): an artifact that loads but could not serve is refused like a corrupt one.
//! A version directory is written under a temporary name, fsynced and renamed, so a crash
//! never leaves a half-written version that loads. `ACTIVE` names the version in use.

use crate::forecast::conformal::Conformal;
use crate::forecast::{Forecast, ModelSpec};
use crate::train::backtest::BacktestReport;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The manifest layout this build writes. 2 added `manifest_sha256`; schema 1 (no manifest
/// checksum) is still read, everything else is refused on load.
pub const SCHEMA_VERSION: u32 = 2;
/// The oldest manifest layout this build reads.
const OLDEST_READABLE_SCHEMA: u32 = 1;
/// The manifest checksum is computed with this in place of its own value.
const MANIFEST_SHA_PLACEHOLDER: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// The most history points a state may hold (the loader's grid bound).
const MAX_HISTORY: usize = crate::core::series::MAX_POINTS;
const MANIFEST: &str = "manifest.json";
const STATE: &str = "state.json";
const ACTIVE: &str = "ACTIVE";
const WEIGHTS: &str = "weights.safetensors";

/// The training series a version was made from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataWindow {
    /// Unix seconds of the first and one-past-last point.
    pub start: i64,
    /// Unix seconds one step past the last point.
    pub end: i64,
    /// Seconds between points.
    pub step: i64,
    /// Number of points.
    pub points: usize,
}

/// `manifest.json`: what a version is, what it was trained on and how it scored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// [`SCHEMA_VERSION`] when written.
    pub schema_version: u32,
    /// The service (series) name, also the directory under `models/`.
    pub service: String,
    /// `v0001`, `v0002`, ...: assigned on write.
    pub version: String,
    /// The selected family's name (`ets`, `mstl`, ...).
    pub family: String,
    /// The family's parameters (the frozen spec).
    pub params: ModelSpec,
    /// When it was trained, RFC 3339.
    pub created_at: String,
    /// The training series' span.
    pub data_window: DataWindow,
    /// SHA-256 of the training series (start, step and values).
    pub data_fingerprint: String,
    /// The backtest that selected the family (the backtest.json object).
    pub backtest: BacktestReport,
    /// The state file's name inside the version directory.
    pub state_file: String,
    /// SHA-256 (hex) of the state file, verified on load.
    pub state_sha256: String,
    /// SHA-256 (hex) of this file as written, with this value replaced by 64 zeros; verified
    /// on load (schema 2; schema 1 manifests have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_sha256: Option<String>,
    /// Whether this version was made active, and why (absent in versions written before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promotion: Option<Promotion>,
}

/// The promotion decision: a candidate replaces the active version only if its backtest MASE,
/// re-scored against the active version's spec on the same folds, is not worse by more than
/// `margin` (relative).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Promotion {
    /// Whether the candidate became the active version.
    pub promoted: bool,
    /// The candidate's backtest MASE (infinite when it has no score).
    pub candidate_mase: f64,
    /// The version active before, if one loaded.
    pub active_version: Option<String>,
    /// The active spec re-scored on the candidate's folds, if that worked.
    pub active_mase: Option<f64>,
    /// The relative margin in force (`promotion_margin`).
    pub margin: f64,
    /// Why, for logs and `scale models show`.
    pub reason: String,
}

/// `state.json`: what forecasting from a version needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    /// The frozen model spec, refitted on `history` (or newer data) to forecast.
    pub spec: ModelSpec,
    /// Seconds between points.
    pub step: i64,
    /// Unix seconds of `history[0]`.
    pub history_start: i64,
    /// The training window's values, oldest first.
    pub history: Vec<f64>,
    /// Conformal interval multipliers from the backtest (absent: the family's own intervals).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conformal: Option<Conformal>,
    /// Learned weights stored beside the state (the MLP), with their checksum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<WeightsRef>,
    /// Latency/capacity model fitted from spans (job `[capacity]`), when configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<crate::capacity::fit::TrainedCapacity>,
    /// The fitted model's serving state at the end of `history` (forecast::online): serve
    /// continues it point by point instead of refitting. Absent for the MLP and older artifacts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub online: Option<crate::forecast::Online>,
}

/// The weights file of a version, by name and checksum.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightsRef {
    /// The file's name inside the version directory.
    pub file: String,
    /// SHA-256 (hex) of the file, verified on load.
    pub sha256: String,
}

impl State {
    /// Forecasts `horizon` steps after `recent` (or after the stored history when `recent`
    /// is empty): restores stored weights or refits the frozen spec, then applies the
    /// conformal intervals.
    pub fn forecast_with(&self, weights: Option<&[u8]>, recent: &[f64], horizon: usize) -> Result<Forecast> {
        let y = if recent.is_empty() { &self.history[..] } else { recent };
        let f = self.spec.restore(y, weights)?.predict(horizon)?;
        Ok(self.calibrate(f))
    }

    /// The stored conformal intervals applied to a forecast (unchanged without them).
    pub fn calibrate(&self, f: Forecast) -> Forecast {
        match &self.conformal {
            Some(c) => f.calibrated(c),
            None => f,
        }
    }

    /// As [`Self::forecast_with`] for families without stored weights.
    pub fn forecast(&self, recent: &[f64], horizon: usize) -> Result<Forecast> {
        self.forecast_with(None, recent, horizon)
    }
}

/// One loaded and verified version.
#[derive(Debug, Clone)]
pub struct Artifact {
    /// The version directory.
    pub dir: PathBuf,
    /// The parsed `manifest.json`.
    pub manifest: Manifest,
    /// The parsed `state.json`, its checksum verified.
    pub state: State,
    /// Verified weight bytes, if the state references any.
    pub weights: Option<Vec<u8>>,
}

impl Artifact {
    /// [`State::forecast_with`] with this version's weights.
    pub fn forecast(&self, recent: &[f64], horizon: usize) -> Result<Forecast> {
        self.state.forecast_with(self.weights.as_deref(), recent, horizon)
    }

    /// Time of the first step after the training history: where a forecast from the stored
    /// history starts.
    pub fn history_end(&self) -> i64 {
        self.state.history_start + self.state.history.len() as i64 * self.state.step
    }

    /// The forecast from the end of the stored history over at least `horizon_seconds` (whole
    /// steps, at least one), and the time of its first step.
    pub fn forecast_ahead(&self, horizon_seconds: i64) -> Result<(i64, Forecast)> {
        let step = self.state.step.max(1);
        let steps = ((horizon_seconds + step - 1) / step).max(1) as usize;
        Ok((self.history_end(), self.forecast(&[], steps)?))
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// The bytes of `"manifest_sha256": "<hex>"` as serde_json's pretty printer writes the field.
/// As a key it is unescaped, so it cannot be mistaken for text inside another string.
fn manifest_sha_field(hex: &str) -> Vec<u8> {
    format!("\"manifest_sha256\": \"{hex}\"").into_bytes()
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Writes the checksum of `bytes` (serialized with the placeholder) over the placeholder.
fn seal_manifest(mut bytes: Vec<u8>) -> Result<Vec<u8>> {
    let field = manifest_sha_field(MANIFEST_SHA_PLACEHOLDER);
    let at = find(&bytes, &field).ok_or_else(|| Error::Encode("manifest without its checksum field".into()))?;
    let sealed = manifest_sha_field(&sha256_hex(&bytes));
    bytes[at..at + field.len()].copy_from_slice(&sealed);
    Ok(bytes)
}

/// Verifies a schema-2 manifest's own checksum against its raw bytes.
fn verify_manifest(path: &Path, bytes: &[u8], claimed: Option<&str>) -> Result<()> {
    let claimed = claimed.ok_or_else(|| Error::artifact(path, "missing field manifest_sha256"))?;
    let field = manifest_sha_field(claimed);
    let at = find(bytes, &field).ok_or_else(|| {
        Error::artifact(
            path,
            "checksum mismatch: manifest_sha256 is not written as this build writes it",
        )
    })?;
    let mut unsealed = bytes.to_vec();
    unsealed[at..at + field.len()].copy_from_slice(&manifest_sha_field(MANIFEST_SHA_PLACEHOLDER));
    let got = sha256_hex(&unsealed);
    if got != claimed {
        return Err(Error::artifact(
            path,
            format!("checksum mismatch: manifest says sha256 {claimed}, manifest has {got}"),
        ));
    }
    Ok(())
}

/// `name` as a file directly inside `dir`: one plain component (no `/`, `..`, root or
/// prefix), and, once symlinks are resolved, still inside `dir`.
fn inside(dir: &Path, name: &str, field: &str, named_in: &Path) -> Result<PathBuf> {
    let mut parts = Path::new(name).components();
    let plain = matches!(
        (parts.next(), parts.next()),
        (Some(std::path::Component::Normal(_)), None)
    );
    if !plain || name.contains(['/', '\\']) {
        return Err(Error::artifact(
            named_in,
            format!("{field} {name:?} must name a file inside the version directory"),
        ));
    }
    let path = dir.join(name);
    if let (Ok(real), Ok(root)) = (fs::canonicalize(&path), fs::canonicalize(dir))
        && !real.starts_with(&root)
    {
        return Err(Error::artifact(
            named_in,
            format!("{field} {name:?} resolves outside the version directory"),
        ));
    }
    Ok(path)
}

fn write_file_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = fs::File::create(path).map_err(|e| Error::io(path, e))?;
    f.write_all(bytes).map_err(|e| Error::io(path, e))?;
    f.sync_all().map_err(|e| Error::io(path, e))
}

fn sync_dir(path: &Path) -> Result<()> {
    fs::File::open(path)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(path, e))
}

/// `v` and digits: the only names `ACTIVE` may hold.
fn is_version_name(s: &str) -> bool {
    s.len() > 1 && s.starts_with('v') && s[1..].bytes().all(|b| b.is_ascii_digit())
}

/// Existing version names of a service, oldest first (`v0001`, `v0002`, ...).
pub fn versions(models_dir: &Path, service: &str) -> Result<Vec<String>> {
    let dir = models_dir.join(service);
    if !dir.exists() {
        return Ok(vec![]);
    }
    let mut v: Vec<(u32, String)> = fs::read_dir(&dir)
        .map_err(|e| Error::io(&dir, e))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            name.strip_prefix('v')
                .and_then(|n| n.parse::<u32>().ok())
                .map(|n| (n, name))
        })
        .collect();
    v.sort();
    Ok(v.into_iter().map(|(_, n)| n).collect())
}

/// [`write_version`] without weights, made active.
pub fn write(models_dir: &Path, service: &str, manifest_base: Manifest, state: &State) -> Result<PathBuf> {
    write_version(models_dir, service, manifest_base, state, None, true)
}

/// Writes a new version atomically, with `weights` beside the state when given; makes it active
/// when `activate`. The manifest's version, service, state file, checksum and schema version are
/// filled in. Returns its directory.
pub fn write_version(
    models_dir: &Path,
    service: &str,
    manifest_base: Manifest,
    state: &State,
    weights: Option<&[u8]>,
    activate: bool,
) -> Result<PathBuf> {
    if service.is_empty() || service.contains(['/', '\\']) || service.starts_with('.') {
        return Err(Error::Invalid(format!(
            "service name {service:?} cannot name a model directory"
        )));
    }
    let svc_dir = models_dir.join(service);
    fs::create_dir_all(&svc_dir).map_err(|e| Error::io(&svc_dir, e))?;
    let next = versions(models_dir, service)?
        .last()
        .and_then(|v| v[1..].parse::<u32>().ok())
        .unwrap_or(0)
        + 1;
    let version = format!("v{next:04}");
    let mut state = state.clone();
    state.weights = weights.map(|w| WeightsRef {
        file: WEIGHTS.into(),
        sha256: sha256_hex(w),
    });
    let state_bytes = serde_json::to_vec_pretty(&state).map_err(|e| Error::Encode(e.to_string()))?;
    let manifest = Manifest {
        version: version.clone(),
        service: service.to_string(),
        state_file: STATE.into(),
        state_sha256: sha256_hex(&state_bytes),
        manifest_sha256: Some(MANIFEST_SHA_PLACEHOLDER.into()),
        schema_version: SCHEMA_VERSION,
        ..manifest_base
    };
    let manifest_bytes =
        seal_manifest(serde_json::to_vec_pretty(&manifest).map_err(|e| Error::Encode(e.to_string()))?)?;
    let tmp = svc_dir.join(format!(".tmp-{version}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    if let Some(w) = weights {
        write_file_synced(&tmp.join(WEIGHTS), w)?;
    }
    write_file_synced(&tmp.join(STATE), &state_bytes)?;
    write_file_synced(&tmp.join(MANIFEST), &manifest_bytes)?;
    sync_dir(&tmp)?;
    let dest = svc_dir.join(&version);
    fs::rename(&tmp, &dest).map_err(|e| Error::io(&dest, e))?;
    sync_dir(&svc_dir)?;
    if activate {
        set_active(models_dir, service, &version)?;
    }
    Ok(dest)
}

/// An exclusive lock on a models directory, held by `scale train` while it writes: two runs
/// would otherwise number the same version and race on `ACTIVE`. Released on drop (and by the
/// kernel if the process dies, so a crash leaves no stale lock).
#[derive(Debug)]
pub struct ModelsLock {
    _file: fs::File,
}

/// Takes [`ModelsLock`] on `models_dir` (created if missing) without waiting: a second
/// `scale train` on the same directory fails at once, naming the lock file.
pub fn lock_models_dir(models_dir: &Path) -> Result<ModelsLock> {
    fs::create_dir_all(models_dir).map_err(|e| Error::io(models_dir, e))?;
    let path = models_dir.join(".lock");
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(ModelsLock { _file: file }),
        Err(fs::TryLockError::WouldBlock) => Err(Error::Invalid(format!(
            "{}: locked by another `scale train` on this models directory; wait for it to finish",
            path.display()
        ))),
        Err(fs::TryLockError::Error(e)) => Err(Error::io(&path, e)),
    }
}

/// Points `ACTIVE` at `version` (write to a temporary file, fsync, rename).
pub fn set_active(models_dir: &Path, service: &str, version: &str) -> Result<()> {
    let svc_dir = models_dir.join(service);
    let tmp = svc_dir.join(format!(".{ACTIVE}.tmp"));
    write_file_synced(&tmp, format!("{version}\n").as_bytes())?;
    let dest = svc_dir.join(ACTIVE);
    fs::rename(&tmp, &dest).map_err(|e| Error::io(&dest, e))?;
    sync_dir(&svc_dir)
}

/// The active version's name: `ACTIVE` if present, else the newest version.
pub fn active_version(models_dir: &Path, service: &str) -> Result<Option<String>> {
    let p = models_dir.join(service).join(ACTIVE);
    match fs::read_to_string(&p) {
        // ACTIVE names a version directory, never a path: `../other` would leave the service.
        Ok(s) if is_version_name(s.trim()) => Ok(Some(s.trim().to_string())),
        Ok(s) => Err(Error::artifact(
            p,
            format!("names {:?}, which is not a version (v0001, v0002, ...)", s.trim()),
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(versions(models_dir, service)?.pop()),
        Err(e) => Err(Error::io(p, e)),
    }
}

/// Removes the oldest versions beyond `keep`, never the active one. Returns the removed names.
pub fn prune(models_dir: &Path, service: &str, keep: usize) -> Result<Vec<String>> {
    let active = active_version(models_dir, service)?;
    let all = versions(models_dir, service)?;
    let excess = all.len().saturating_sub(keep.max(1));
    let mut removed = Vec::new();
    for v in all.into_iter().take(excess) {
        if Some(&v) == active.as_ref() {
            continue;
        }
        let dir = models_dir.join(service).join(&v);
        fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        removed.push(v);
    }
    Ok(removed)
}

/// Loads and verifies one version directory.
pub fn load(dir: &Path) -> Result<Artifact> {
    let mpath = dir.join(MANIFEST);
    let mbytes = fs::read(&mpath).map_err(|e| Error::io(&mpath, e))?;
    // Check the schema version before the full parse, so an old or new layout says so plainly.
    let raw: serde_json::Value =
        serde_json::from_slice(&mbytes).map_err(|e| Error::artifact(&mpath, format!("not valid JSON: {e}")))?;
    let schema = match raw.get("schema_version").and_then(|v| v.as_u64()) {
        Some(v) if (OLDEST_READABLE_SCHEMA as u64..=SCHEMA_VERSION as u64).contains(&v) => v,
        Some(v) => {
            return Err(Error::artifact(
                &mpath,
                format!(
                    "schema_version {v} is not supported (this build reads {OLDEST_READABLE_SCHEMA} to {SCHEMA_VERSION})"
                ),
            ));
        }
        None => return Err(Error::artifact(&mpath, "missing field schema_version")),
    };
    let manifest: Manifest = serde_json::from_value(raw).map_err(|e| Error::artifact(&mpath, e.to_string()))?;
    if schema >= 2 {
        verify_manifest(&mpath, &mbytes, manifest.manifest_sha256.as_deref())?;
    }
    // A manifest naming another version would be loaded again on every poll.
    let dir_name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    if manifest.version != dir_name {
        return Err(Error::artifact(
            &mpath,
            format!(
                "version {:?} does not match its directory {dir_name:?}",
                manifest.version
            ),
        ));
    }
    let spath = inside(dir, &manifest.state_file, "state_file", &mpath)?;
    let sbytes = fs::read(&spath).map_err(|e| Error::io(&spath, e))?;
    let got = sha256_hex(&sbytes);
    if got != manifest.state_sha256 {
        return Err(Error::artifact(
            &spath,
            format!(
                "checksum mismatch: manifest says sha256 {}, file has {got}",
                manifest.state_sha256
            ),
        ));
    }
    let state: State = serde_json::from_slice(&sbytes).map_err(|e| Error::artifact(&spath, e.to_string()))?;
    state
        .validate()
        .map_err(|why| Error::artifact(&spath, format!("invalid state: {why}")))?;
    let weights = match &state.weights {
        Some(w) => {
            let wpath = inside(dir, &w.file, "weights.file", &spath)?;
            let bytes = fs::read(&wpath).map_err(|e| Error::io(&wpath, e))?;
            let got = sha256_hex(&bytes);
            if got != w.sha256 {
                return Err(Error::artifact(
                    &wpath,
                    format!("checksum mismatch: state says sha256 {}, file has {got}", w.sha256),
                ));
            }
            Some(bytes)
        }
        None => None,
    };
    Ok(Artifact {
        dir: dir.to_path_buf(),
        manifest,
        state,
        weights,
    })
}

impl State {
    /// What a checksum cannot tell: that the state can serve. Times stay in range with checked
    /// arithmetic, the step is positive, the history is non-empty and finite, and the spec and
    /// serving state are consistent (no zero period, lengths that match).
    pub fn validate(&self) -> std::result::Result<(), String> {
        use crate::core::time::{MAX_DURATION_SECONDS, timestamp_in_range};
        if !(1..=MAX_DURATION_SECONDS).contains(&self.step) {
            return Err(format!("step {} must be 1s to {MAX_DURATION_SECONDS}s", self.step));
        }
        if self.history.is_empty() || self.history.len() > MAX_HISTORY {
            return Err(format!(
                "history has {} points (1 to {MAX_HISTORY})",
                self.history.len()
            ));
        }
        let end = (self.history.len() as i64)
            .checked_mul(self.step)
            .and_then(|span| span.checked_add(self.history_start));
        if !timestamp_in_range(self.history_start) || !end.is_some_and(timestamp_in_range) {
            return Err(format!(
                "history_start {} with {} points of {}s is outside years 1 to 9999",
                self.history_start,
                self.history.len(),
                self.step
            ));
        }
        if let Some(i) = self.history.iter().position(|v| !v.is_finite()) {
            return Err(format!("history[{i}] is not finite"));
        }
        if let Some(c) = &self.conformal
            && !(c.q80.is_finite() && c.q95.is_finite() && c.q80 >= 0.0 && c.q95 >= 0.0)
        {
            return Err("conformal multipliers must be finite and non-negative".into());
        }
        self.spec.validate()?;
        if let Some(o) = &self.online {
            o.validate()?;
        }
        Ok(())
    }
}

/// The services under `models_dir` (its sub-directories, hidden ones excluded), sorted.
pub fn services(models_dir: &Path) -> Result<Vec<String>> {
    let rd = fs::read_dir(models_dir).map_err(|e| Error::io(models_dir, e))?;
    let mut names: Vec<String> = rd
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    Ok(names)
}

/// One stored version of a service, loaded (or why it would not load).
pub struct VersionEntry {
    /// The version's name, `v0001` ...
    pub version: String,
    /// Whether `ACTIVE` names it (or, without `ACTIVE`, it is the newest).
    pub active: bool,
    /// The loaded version, or the load error.
    pub artifact: Result<Artifact>,
}

/// Every version of `service`, oldest first, each loaded and verified.
pub fn version_entries(models_dir: &Path, service: &str) -> Result<Vec<VersionEntry>> {
    let active = active_version(models_dir, service)?;
    Ok(versions(models_dir, service)?
        .into_iter()
        .map(|v| VersionEntry {
            active: Some(&v) == active.as_ref(),
            artifact: load(&models_dir.join(service).join(&v)),
            version: v,
        })
        .collect())
}

/// Loads the active version of a service.
pub fn load_active(models_dir: &Path, service: &str) -> Result<Artifact> {
    let v = active_version(models_dir, service)?
        .ok_or_else(|| Error::artifact(models_dir.join(service), "no model versions"))?;
    load(&models_dir.join(service).join(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::series::Series;
    use crate::train::backtest::{BacktestConfig, backtest};

    fn sample(dir: &Path) -> PathBuf {
        let y: Vec<f64> = (0..96)
            .map(|t| 10.0 + (t % 24) as f64 + 0.1 * t as f64 + ((t * 7) % 3) as f64)
            .collect();
        let s = Series::new("svc", 0, 3600, y.clone());
        let bt = backtest(&s, &BacktestConfig::new(6)).unwrap();
        let spec = bt.selected_score().unwrap().spec.clone();
        let m = Manifest {
            schema_version: 0,
            service: String::new(),
            version: String::new(),
            family: spec.name().into(),
            params: spec.clone(),
            created_at: "now".into(),
            data_window: DataWindow {
                start: 0,
                end: 96 * 3600,
                step: 3600,
                points: 96,
            },
            data_fingerprint: s.fingerprint(),
            backtest: bt,
            state_file: String::new(),
            state_sha256: String::new(),
            manifest_sha256: None,
            promotion: None,
        };
        let st = State {
            spec,
            step: 3600,
            history_start: 0,
            history: y,
            conformal: None,
            weights: None,
            capacity: None,
            online: None,
        };
        write(dir, "svc", m, &st).unwrap()
    }

    #[test]
    fn round_trip_versions_and_active() {
        let d = tempfile::tempdir().unwrap();
        let a = sample(d.path());
        let b = sample(d.path());
        assert!(a.ends_with("svc/v0001") && b.ends_with("svc/v0002"));
        assert_eq!(versions(d.path(), "svc").unwrap(), ["v0001", "v0002"]);
        let art = load_active(d.path(), "svc").unwrap();
        assert_eq!(art.manifest.version, "v0002");
        let f = art.state.forecast(&[], 24).unwrap();
        assert_eq!(f.len(), 24);
        set_active(d.path(), "svc", "v0001").unwrap();
        assert_eq!(load_active(d.path(), "svc").unwrap().manifest.version, "v0001");
    }

    #[test]
    fn corruption_is_detected() {
        let d = tempfile::tempdir().unwrap();
        let dir = sample(d.path());
        let state = dir.join("state.json");
        let mut s = fs::read_to_string(&state).unwrap();
        s = s.replacen("10.0", "11.0", 1);
        fs::write(&state, s).unwrap();
        let err = load(&dir).unwrap_err().to_string();
        assert!(err.contains("checksum mismatch"), "{err}");

        let dir = sample(d.path());
        let man = dir.join("manifest.json");
        let m = fs::read_to_string(&man)
            .unwrap()
            .replace("\"schema_version\": 2", "\"schema_version\": 99");
        fs::write(&man, m).unwrap();
        let err = load(&dir).unwrap_err().to_string();
        assert!(err.contains("schema_version 99 is not supported"), "{err}");

        fs::write(&man, "{not json").unwrap();
        assert!(load(&dir).unwrap_err().to_string().contains("not valid JSON"));
    }

    #[test]
    fn schema_1_artifacts_still_load_and_schema_2_needs_its_seal() {
        let d = tempfile::tempdir().unwrap();
        let dir = sample(d.path());
        let man = dir.join("manifest.json");
        let mut v: serde_json::Value = serde_json::from_slice(&fs::read(&man).unwrap()).unwrap();
        let obj = v.as_object_mut().unwrap();
        obj.remove("manifest_sha256");
        // Schema 2 without its seal is refused; as schema 1 (written before the seal) it loads.
        fs::write(&man, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
        let err = load(&dir).unwrap_err().to_string();
        assert!(err.contains("missing field manifest_sha256"), "{err}");
        v["schema_version"] = 1.into();
        fs::write(&man, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
        let a = load(&dir).unwrap();
        assert_eq!((a.manifest.schema_version, a.manifest.manifest_sha256), (1, None));
    }

    #[test]
    fn a_second_lock_on_the_models_dir_fails_until_the_first_is_dropped() {
        let d = tempfile::tempdir().unwrap();
        let first = lock_models_dir(d.path()).unwrap();
        let err = lock_models_dir(d.path()).unwrap_err().to_string();
        assert!(err.contains(".lock: locked by another `scale train`"), "{err}");
        drop(first);
        lock_models_dir(d.path()).unwrap();
    }

    #[test]
    fn leftover_temp_dir_is_ignored() {
        let d = tempfile::tempdir().unwrap();
        sample(d.path());
        // a crash between write and rename leaves only a .tmp directory
        fs::create_dir_all(d.path().join("svc/.tmp-v0002-1")).unwrap();
        assert_eq!(versions(d.path(), "svc").unwrap(), ["v0001"]);
        assert_eq!(load_active(d.path(), "svc").unwrap().manifest.version, "v0001");
    }
}
