//! The artifact registry: the ACTIVE version per service, hot-reloaded when ACTIVE changes.
//! A version that fails to load is logged and skipped; the last good one keeps serving.

use super::tracker::Tracker;
use crate::train::artifact::{self, Artifact};
use std::path::PathBuf;
use std::sync::Arc;

pub struct Registry {
    models: PathBuf,
    service: String,
    current: Option<Arc<Artifact>>,
    /// The serving state built from `current` when it loaded, until the loop takes it.
    tracker: Option<Tracker>,
    /// The last ACTIVE name that failed, so a bad version is reported once, not every tick.
    failed: Option<String>,
}

/// What a poll did.
#[derive(Debug, Clone, PartialEq)]
pub enum Reload {
    Unchanged,
    Loaded(String),
    /// The new version did not load; the message says why. The previous one stays.
    Failed(String),
}

impl Registry {
    pub fn new(models: impl Into<PathBuf>, service: &str) -> Self {
        Registry {
            models: models.into(),
            service: service.to_string(),
            current: None,
            tracker: None,
            failed: None,
        }
    }

    /// The serving state of the version loaded last; once (the loop keeps it and updates it).
    pub fn take_tracker(&mut self) -> Option<Tracker> {
        self.tracker.take()
    }

    pub fn current(&self) -> Option<Arc<Artifact>> {
        self.current.clone()
    }

    /// Reads ACTIVE; loads it when it names a version other than the one held.
    pub fn poll(&mut self) -> Reload {
        let active = match artifact::active_version(&self.models, &self.service) {
            Ok(Some(v)) => v,
            Ok(None) => {
                return self.fail(
                    "none".into(),
                    format!("no model versions under {}", self.models.join(&self.service).display()),
                );
            }
            Err(e) => return self.fail("?".into(), e.to_string()),
        };
        if self.current.as_ref().is_some_and(|a| a.manifest.version == active) {
            return Reload::Unchanged;
        }
        if self.failed.as_deref() == Some(active.as_str()) {
            return Reload::Unchanged;
        }
        match artifact::load(&self.models.join(&self.service).join(&active)) {
            Ok(mut a) => {
                tracing::info!(service = %self.service, version = %active, family = %a.manifest.family, "model loaded");
                // The serving state moves to the tracker; with one, the history is not needed.
                self.tracker = Some(Tracker::take_from(&mut a));
                self.current = Some(Arc::new(a));
                self.failed = None;
                Reload::Loaded(active)
            }
            Err(e) => self.fail(active, e.to_string()),
        }
    }

    fn fail(&mut self, version: String, message: String) -> Reload {
        if self.failed.as_deref() != Some(version.as_str()) {
            tracing::error!(service = %self.service, %version, keeping = ?self.current.as_ref().map(|a| a.manifest.version.clone()), "model load failed: {message}");
            self.failed = Some(version);
            return Reload::Failed(message);
        }
        Reload::Unchanged
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::forecast::ModelSpec;
    use crate::train::artifact::{DataWindow, Manifest, State};
    use crate::train::backtest::{BacktestConfig, backtest};
    use std::path::Path;

    /// Writes a real trained version (seasonal naive picked by the backtest) and returns its name.
    pub(crate) fn write_version(models: &Path, service: &str, activate: bool) -> String {
        write_version_with(models, service, activate, None)
    }

    /// [`write_version`] with a trained capacity model in the state.
    pub(crate) fn write_version_with(
        models: &Path,
        service: &str,
        activate: bool,
        capacity: Option<crate::capacity::fit::TrainedCapacity>,
    ) -> String {
        let y: Vec<f64> = (0..96)
            .map(|t| 10.0 + (t % 24) as f64 + 0.3 * ((t * 7) % 5) as f64)
            .collect();
        let s = crate::core::series::Series::new(service, 0, 3600, y.clone());
        let bt = backtest(&s, &BacktestConfig::new(6)).unwrap();
        let m = Manifest {
            schema_version: 0,
            service: String::new(),
            version: String::new(),
            family: "seasonal_naive".into(),
            params: ModelSpec::SeasonalNaive { period: 24 },
            created_at: "2026-01-01T00:00:00Z".into(),
            data_window: DataWindow {
                start: 0,
                end: 96 * 3600,
                step: 3600,
                points: 96,
            },
            data_fingerprint: "x".into(),
            backtest: bt,
            state_file: String::new(),
            state_sha256: String::new(),
            promotion: None,
        };
        let state = State {
            spec: ModelSpec::SeasonalNaive { period: 24 },
            step: 3600,
            history_start: 0,
            history: y,
            conformal: None,
            weights: None,
            capacity,
            online: None,
        };
        let dir = artifact::write_version(models, service, m, &state, None, activate).unwrap();
        dir.file_name().unwrap().to_string_lossy().to_string()
    }

    #[test]
    fn hot_reload_keeps_last_good_version() {
        let d = tempfile::tempdir().unwrap();
        let mut r = Registry::new(d.path(), "web");
        assert!(matches!(r.poll(), Reload::Failed(m) if m.contains("no model versions")));
        assert!(r.current().is_none());
        let v1 = write_version(d.path(), "web", true);
        assert_eq!(r.poll(), Reload::Loaded(v1.clone()));
        assert_eq!(r.poll(), Reload::Unchanged);
        // A new version whose state was corrupted after writing: the checksum fails, v1 stays.
        let v2 = write_version(d.path(), "web", true);
        std::fs::write(d.path().join("web").join(&v2).join("state.json"), b"{}").unwrap();
        match r.poll() {
            Reload::Failed(m) => assert!(m.contains("checksum mismatch"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(r.current().unwrap().manifest.version, v1);
        // Reported once, not every tick.
        assert_eq!(r.poll(), Reload::Unchanged);
        // A good third version is picked up.
        let v3 = write_version(d.path(), "web", true);
        assert_eq!(r.poll(), Reload::Loaded(v3.clone()));
        assert_eq!(r.current().unwrap().manifest.version, v3);
        // Rolling ACTIVE back to v1 loads it again.
        artifact::set_active(d.path(), "web", &v1).unwrap();
        assert_eq!(r.poll(), Reload::Loaded(v1));
    }
}
