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
            manifest_sha256: None,
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

    /// A version with valid checksums whose content cannot serve, written as a real one is.
    fn write_invalid(models: &Path, edit: fn(&mut State)) -> String {
        let v = write_version(models, "web", false);
        let dir = models.join("web").join(&v);
        let a = artifact::load(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let mut state = a.state.clone();
        edit(&mut state);
        let dir = artifact::write_version(models, "web", a.manifest, &state, None, true).unwrap();
        dir.file_name().unwrap().to_string_lossy().to_string()
    }

    #[test]
    fn an_invalid_version_is_refused_and_the_last_good_keeps_serving() {
        // (what, edit, the reason). On main step 0 divided by zero in the tick and
        // history_start near i64::MAX overflowed: the service's loop died.
        type Case = (&'static str, fn(&mut State), &'static str);
        let cases: [Case; 4] = [
            ("step 0", |s| s.step = 0, "invalid state: step 0"),
            (
                "history_start",
                |s| s.history_start = i64::MAX - 100,
                "outside years 1 to 9999",
            ),
            ("empty history", |s| s.history.clear(), "history has 0 points"),
            (
                "zero period",
                |s| s.spec = ModelSpec::SeasonalNaive { period: 0 },
                "period 0",
            ),
        ];
        for (what, edit, want) in cases {
            let d = tempfile::tempdir().unwrap();
            let mut r = Registry::new(d.path(), "web");
            let v1 = write_version(d.path(), "web", true);
            assert_eq!(r.poll(), Reload::Loaded(v1.clone()));
            write_invalid(d.path(), edit);
            match r.poll() {
                Reload::Failed(m) => assert!(m.contains(want), "{what}: {m}"),
                other => panic!("{what}: {other:?}"),
            }
            assert_eq!(r.current().unwrap().manifest.version, v1, "{what}");
            assert_eq!(r.poll(), Reload::Unchanged, "{what}");
        }
    }

    #[test]
    fn a_manifest_naming_another_version_is_refused_once_not_reloaded_every_tick() {
        let d = tempfile::tempdir().unwrap();
        let mut r = Registry::new(d.path(), "web");
        let v1 = write_version(d.path(), "web", true);
        assert_eq!(r.poll(), Reload::Loaded(v1.clone()));
        // v0002's directory renamed to v0003: its manifest still says v0002.
        let v2 = write_version(d.path(), "web", false);
        let svc = d.path().join("web");
        std::fs::rename(svc.join(&v2), svc.join("v0003")).unwrap();
        artifact::set_active(d.path(), "web", "v0003").unwrap();
        match r.poll() {
            Reload::Failed(m) => assert!(m.contains("does not match its directory"), "{m}"),
            other => panic!("{other:?}"),
        }
        for _ in 0..3 {
            assert_eq!(r.poll(), Reload::Unchanged);
        }
        assert_eq!(r.current().unwrap().manifest.version, v1);
    }
}
