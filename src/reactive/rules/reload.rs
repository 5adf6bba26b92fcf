//! Hot reload of rule files. A [`Reloader`] owns the current [`RuleSet`] behind a
//! `tokio::sync::watch` channel; every poll it hashes the files (SHA-256 of names and contents,
//! so an edit within the filesystem's mtime granularity is still seen) and, when they changed,
//! swaps in the new set only if the whole set parses and validates. Otherwise the last good set
//! stays and the error (file:line: field: message) is logged once.

use super::spec::{Rule, check_unique, parse_rules, rule_files};
use crate::{Error, Result};
use sha2::{Digest, Sha256};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Polls faster than this are taken as this (a zero interval would spin).
pub const MIN_INTERVAL: Duration = Duration::from_millis(10);

/// One consistent, validated set of rules and the files it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSet {
    /// The rules, in file then document order; names and deployments unique.
    pub rules: Vec<Rule>,
    /// The files read, sorted by name.
    pub files: Vec<PathBuf>,
    /// SHA-256 (hex) over the files' names and contents.
    pub digest: String,
}

impl RuleSet {
    /// The rule scaling `deployment`, if any.
    pub fn for_deployment(&self, deployment: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.deployment == deployment)
    }
}

/// What one poll did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Poll {
    /// Same files, same contents as the last poll (valid or not).
    Unchanged,
    /// A new valid set is live.
    Reloaded { rules: usize },
    /// The files changed but do not form a valid set; the last good set stays.
    Rejected(String),
}

/// Reads every rule file under `path` as one snapshot.
fn snapshot(path: &Path) -> Result<(Vec<(PathBuf, String)>, String)> {
    let mut hash = Sha256::new();
    let mut files = Vec::new();
    for f in rule_files(path)? {
        let text = std::fs::read_to_string(&f).map_err(|e| Error::io(&f, e))?;
        hash.update(f.to_string_lossy().as_bytes());
        hash.update([0]);
        hash.update((text.len() as u64).to_le_bytes());
        hash.update(text.as_bytes());
        files.push((f, text));
    }
    let digest = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok((files, digest))
}

fn build(files: Vec<(PathBuf, String)>, digest: String) -> Result<RuleSet> {
    let mut rules = Vec::new();
    for (f, text) in &files {
        rules.extend(parse_rules(f, text)?);
    }
    check_unique(&rules)?;
    Ok(RuleSet {
        rules,
        files: files.into_iter().map(|(f, _)| f).collect(),
        digest,
    })
}

/// Loads a rule set once (what `scale rules check` and the reloader's first load do).
pub fn load_set(path: &Path) -> Result<RuleSet> {
    let (files, digest) = snapshot(path)?;
    build(files, digest)
}

/// Watches a rule file or directory and publishes each new valid [`RuleSet`]; see the module
/// docs.
pub struct Reloader {
    path: PathBuf,
    tx: watch::Sender<Arc<RuleSet>>,
    /// Digest of the last snapshot examined, valid or not.
    seen: String,
    last_error: Option<String>,
    /// What a set must also pass before it goes live (serve: every rule names a known service).
    check: Option<Check>,
}

/// A caller's extra validation of a whole set.
pub type Check = Box<dyn Fn(&RuleSet) -> Result<()> + Send + Sync>;

impl Reloader {
    /// Loads `path` (a file or a directory); the first load must succeed.
    pub fn new(path: impl Into<PathBuf>) -> Result<Self> {
        let path = path.into();
        let set = load_set(&path)?;
        let seen = set.digest.clone();
        let (tx, _) = watch::channel(Arc::new(set));
        Ok(Reloader {
            path,
            tx,
            seen,
            last_error: None,
            check: None,
        })
    }

    /// Adds `check` to what every set must pass: the current one now (an error here is a
    /// start-up error), and every reloaded one before it is swapped in.
    pub fn with_check(mut self, check: Check) -> Result<Self> {
        check(&self.current())?;
        self.check = Some(check);
        Ok(self)
    }

    /// A handle that always sees the latest good set (`borrow()`), and can wait for the next.
    pub fn subscribe(&self) -> watch::Receiver<Arc<RuleSet>> {
        self.tx.subscribe()
    }

    /// The live set: the last one that loaded.
    pub fn current(&self) -> Arc<RuleSet> {
        self.tx.borrow().clone()
    }

    /// The error that kept the last good set, until a valid set loads.
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// Checks the files once and swaps in a new set if they changed and are valid.
    pub fn poll(&mut self) -> Poll {
        let result = snapshot(&self.path).and_then(|(files, digest)| {
            if digest == self.seen {
                return Ok(None);
            }
            self.seen = digest.clone();
            let set = build(files, digest)?;
            if let Some(check) = &self.check {
                check(&set)?;
            }
            Ok(Some(set))
        });
        match result {
            Ok(None) => Poll::Unchanged,
            Ok(Some(set)) => {
                let n = set.rules.len();
                tracing::info!(path = %self.path.display(), rules = n, "rules reloaded");
                self.tx.send_replace(Arc::new(set));
                self.last_error = None;
                Poll::Reloaded { rules: n }
            }
            Err(e) => {
                let msg = e.to_string();
                if self.last_error.as_deref() != Some(msg.as_str()) {
                    tracing::error!(path = %self.path.display(), error = %msg, "rules rejected; keeping the last good set");
                }
                self.last_error = Some(msg.clone());
                Poll::Rejected(msg)
            }
        }
    }

    /// Polls every `interval` (at least `MIN_INTERVAL`, 10 ms) until `shutdown` resolves or every
    /// receiver is dropped.
    pub async fn run(mut self, interval: Duration, shutdown: impl Future<Output = ()>) {
        let mut tick = tokio::time::interval(interval.max(MIN_INTERVAL));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await; // the first tick is immediate; the set was just loaded
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                _ = self.tx.closed() => return,
                _ = tick.tick() => {
                    // Small files: reading them inline is cheaper than a blocking-pool hop.
                    self.poll();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    const RULE: &str = "apiVersion: scale.autoscaling/v1
kind: LatencyBasedAutoScaler
metadata:
  name: NAME-latency
spec:
  target:
    serviceName: NAME
    deploymentName: NAME
  latencyThreshold:
    upperBound: UPPER
    lowerBound: 100ms
";

    fn rule(name: &str, upper: &str) -> String {
        RULE.replace("NAME", name).replace("UPPER", upper)
    }

    fn uppers(set: &RuleSet) -> Vec<(String, f64)> {
        set.rules.iter().map(|r| (r.service.clone(), r.upper_seconds)).collect()
    }

    /// Captures what the reloader logs.
    #[derive(Clone, Default)]
    struct Logs(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Logs {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Logs {
        fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().unwrap()).to_string()
        }
    }

    #[test]
    fn edits_valid_invalid_and_deleted_files() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("rules");
        std::fs::create_dir(&dir).unwrap();
        let (a, b) = (dir.join("a.yaml"), dir.join("b.yaml"));
        std::fs::write(&a, rule("frontend", "500ms")).unwrap();
        std::fs::write(&b, rule("cart", "200ms")).unwrap();
        let mut r = Reloader::new(&dir).unwrap();
        let rx = r.subscribe();
        assert_eq!(uppers(&rx.borrow()), [("frontend".into(), 0.5), ("cart".into(), 0.2)]);
        assert_eq!(r.poll(), Poll::Unchanged);

        let logs = Logs::default();
        let sub = tracing_subscriber::fmt()
            .with_writer({
                let l = logs.clone();
                move || l.clone()
            })
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(sub, || {
            // Valid edit, same length as before: seen by content, not size or mtime.
            std::fs::write(&a, rule("frontend", "800ms")).unwrap();
            assert_eq!(r.poll(), Poll::Reloaded { rules: 2 });
            assert_eq!(uppers(&rx.borrow())[0], ("frontend".into(), 0.8));

            // Invalid edit: the old rules stay, the error names file and line, logged once.
            std::fs::write(&a, rule("frontend", "800")).unwrap();
            let Poll::Rejected(e) = r.poll() else {
                panic!("invalid set accepted")
            };
            assert!(
                e.contains("a.yaml:10: spec.latencyThreshold.upperBound: 800 has no unit"),
                "{e}"
            );
            assert_eq!(uppers(&rx.borrow())[0], ("frontend".into(), 0.8));
            assert_eq!(r.last_error(), Some(e.as_str()));
            assert_eq!(r.poll(), Poll::Unchanged);
            let log = logs.text();
            assert_eq!(log.matches("a.yaml:10").count(), 1, "{log}");
            assert!(log.contains("keeping the last good set"), "{log}");

            // A set that is invalid only as a whole (two rules for one deployment) is rejected too.
            std::fs::write(&a, rule("cart", "800ms").replace("name: cart-latency", "name: other")).unwrap();
            let Poll::Rejected(e) = r.poll() else {
                panic!("duplicate target accepted")
            };
            assert!(e.contains("already scaled by rule"), "{e}");
            assert_eq!(uppers(&rx.borrow()).len(), 2);

            // Fixed: reloads and clears the error.
            std::fs::write(&a, rule("frontend", "900ms")).unwrap();
            assert_eq!(r.poll(), Poll::Reloaded { rules: 2 });
            assert_eq!(r.last_error(), None);

            // A deleted file's rules go away with it.
            std::fs::remove_file(&b).unwrap();
            assert_eq!(r.poll(), Poll::Reloaded { rules: 1 });
            assert_eq!(uppers(&rx.borrow()), [("frontend".into(), 0.9)]);
            assert!(rx.borrow().for_deployment("cart").is_none());
            assert_eq!(rx.borrow().files, std::slice::from_ref(&a));

            // The whole directory gone: an error, the last good set stays; back, nothing changed.
            let gone = tmp.path().join("gone");
            std::fs::rename(&dir, &gone).unwrap();
            let Poll::Rejected(e) = r.poll() else {
                panic!("missing directory accepted")
            };
            assert!(e.contains("rules"), "{e}");
            assert_eq!(uppers(&rx.borrow()), [("frontend".into(), 0.9)]);
            std::fs::rename(&gone, &dir).unwrap();
            assert_eq!(r.poll(), Poll::Unchanged);
        });
    }

    /// A caller's check gates the first set (an error then) and every reload (the last good set
    /// stays).
    #[test]
    fn a_check_gates_the_first_set_and_every_reload() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.yaml");
        let only_frontend: fn() -> Check = || {
            Box::new(
                |set: &RuleSet| match set.rules.iter().find(|r| r.service != "frontend") {
                    Some(r) => Err(crate::Error::data(&r.source.file, Some(r.source.line), "not frontend")),
                    None => Ok(()),
                },
            )
        };
        std::fs::write(&a, rule("cart", "500ms")).unwrap();
        let e = Reloader::new(dir.path())
            .unwrap()
            .with_check(only_frontend())
            .err()
            .unwrap();
        assert!(e.to_string().contains("a.yaml:1: not frontend"), "{e}");
        std::fs::write(&a, rule("frontend", "500ms")).unwrap();
        let mut r = Reloader::new(dir.path()).unwrap().with_check(only_frontend()).unwrap();
        std::fs::write(&a, rule("cart", "800ms")).unwrap();
        assert!(matches!(r.poll(), Poll::Rejected(e) if e.contains("not frontend")));
        assert_eq!(uppers(&r.current()), [("frontend".into(), 0.5)]);
        std::fs::write(&a, rule("frontend", "900ms")).unwrap();
        assert_eq!(r.poll(), Poll::Reloaded { rules: 1 });
    }

    #[test]
    fn first_load_must_succeed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.yaml"), rule("frontend", "-1ms")).unwrap();
        let e = Reloader::new(dir.path()).err().unwrap().to_string();
        assert!(e.contains("a.yaml:10") && e.contains("negative"), "{e}");
        assert!(Reloader::new(dir.path().join("absent")).is_err());
        // An empty directory is a valid, empty set (every file deleted).
        std::fs::remove_file(dir.path().join("a.yaml")).unwrap();
        assert!(Reloader::new(dir.path()).unwrap().current().rules.is_empty());
    }

    #[tokio::test]
    async fn run_polls_until_shutdown() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.yaml");
        std::fs::write(&a, rule("frontend", "500ms")).unwrap();
        let r = Reloader::new(&a).unwrap();
        let mut rx = r.subscribe();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(r.run(Duration::from_millis(20), async {
            stopped.await.ok();
        }));
        std::fs::write(&a, rule("frontend", "700ms")).unwrap();
        tokio::time::timeout(Duration::from_secs(10), rx.changed())
            .await
            .expect("reload within 10 s")
            .unwrap();
        assert_eq!(rx.borrow().rules[0].upper_seconds, 0.7);
        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .unwrap()
            .unwrap();

        // Dropping every receiver stops the loop too.
        let r = Reloader::new(&a).unwrap();
        let task = tokio::spawn(r.run(Duration::ZERO, std::future::pending()));
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .unwrap()
            .unwrap();
    }
}
