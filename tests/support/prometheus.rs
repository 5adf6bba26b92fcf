//! A real Prometheus for tests (Debian package `prometheus`, with `promtool`): OpenMetrics text
//! is backfilled into a TSDB with promtool and the server is started on a free 127.0.0.1 port.

use scale::observe::http::HttpConfig;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Kills the child process even when an assertion fails.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn tool(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

/// True when prometheus and promtool are on PATH; else a skip note (false), or a panic when
/// SCALE_REQUIRE_INTEGRATION=1.
pub fn available(test: &str) -> bool {
    if tool("prometheus").is_some() && tool("promtool").is_some() {
        return true;
    }
    assert!(
        std::env::var("SCALE_REQUIRE_INTEGRATION").as_deref() != Ok("1"),
        "{test}: prometheus/promtool not on PATH but SCALE_REQUIRE_INTEGRATION=1"
    );
    eprintln!("skip {test}: prometheus or promtool not on PATH (apt-get install prometheus)");
    false
}

/// One gauge's samples as OpenMetrics text: `(unix seconds, value)` pairs.
pub fn openmetrics(metric: &str, labels: &str, samples: impl IntoIterator<Item = (i64, f64)>) -> String {
    let mut out = format!("# HELP {metric} Backfilled for the test.\n# TYPE {metric} gauge\n");
    for (t, v) in samples {
        out.push_str(&format!("{metric}{{{labels}}} {v} {t}\n"));
    }
    out.push_str("# EOF\n");
    out
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Backfills `om` (OpenMetrics text) under `dir` and starts Prometheus on it; returns the guard
/// and the base URL once `/-/ready` answers (60 s bound).
pub async fn start(dir: &Path, om: &str) -> (KillOnDrop, String) {
    let file = dir.join("series.om");
    std::fs::write(&file, om).unwrap();
    let data = dir.join("data");
    let out = Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&file)
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cfg = dir.join("prometheus.yml");
    std::fs::write(&cfg, "global:\n  scrape_interval: 1h\nscrape_configs: []\n").unwrap();
    let port = free_port();
    let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
    // Backfilled blocks may be years old: a short retention would delete them at start-up.
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.tsdb.path={}", data.display()))
        .arg("--storage.tsdb.retention.time=100y")
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let server = KillOnDrop(child);
    let url = format!("http://127.0.0.1:{port}");
    let client = scale::observe::http::HttpClient::new(&HttpConfig {
        timeout: Duration::from_secs(2),
        ..HttpConfig::default()
    })
    .unwrap();
    let ready = scale::observe::http::Request::get(format!("{url}/-/ready").parse().unwrap());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if client.send(&ready).await.is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "prometheus not ready after 60 s: {}",
            std::fs::read_to_string(dir.join("prometheus.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    (server, url)
}

/// Runs `scale train --config job` and asserts it succeeded and promoted a version of `service`.
pub fn train_promoted(job: &Path, service: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_scale"))
        .args(["train", "--config"])
        .arg(job)
        .output()
        .unwrap();
    assert!(out.status.success(), "train: {}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("{service}: ")) && stdout.contains("promoted"),
        "{stdout}"
    );
}
