//! Shared by the Python-driven integration tests (keda, chart, notebooks): finding the venv
//! python and honouring SCALE_REQUIRE_INTEGRATION.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

/// The shared venv's python if it can import `modules`; else None after a skip note, or a
/// panic when SCALE_REQUIRE_INTEGRATION=1 (CI installs them through scripts/test.sh).
pub fn venv_python(test: &str, modules: &[&str]) -> Option<PathBuf> {
    let venv = std::env::var("SCALE_PY_VENV").unwrap_or_else(|_| "/var/tmp/scale-venv".into());
    let py = PathBuf::from(venv).join("bin/python");
    let ok = py.exists()
        && Command::new(&py)
            .arg("-c")
            .arg(format!("import {}", modules.join(", ")))
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
    if ok {
        return Some(py);
    }
    let msg = format!(
        "{test}: {} cannot import {:?} (install them with scripts/test.sh)",
        py.display(),
        modules
    );
    if std::env::var("SCALE_REQUIRE_INTEGRATION").as_deref() == Ok("1") {
        panic!("{msg}");
    }
    eprintln!("SKIP {msg}");
    None
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub mod prometheus;
pub mod serve;
pub mod tempo;
