//! The `scale serve` binary in tests: started with its logs in a file and its printed
//! addresses collected, and stopped with SIGTERM.

use super::prometheus::KillOnDrop;
use std::collections::HashMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The address lines serve prints on stdout; the HTTP API's line comes last.
pub const LISTENING: &str = "scale serve listening on ";
const PREFIXES: [&str; 4] = [
    LISTENING,
    "scale serve otlp grpc on ",
    "scale serve otlp http on ",
    "scale serve sampled spans on ",
];

/// Starts `scale serve --config cfg ARGS` with logs in `dir/serve.stderr`; returns the guard,
/// the addresses it printed by prefix (e.g. `LISTENING` → address), and the stderr path.
pub fn spawn(dir: &Path, cfg: &Path, args: &[&str]) -> (KillOnDrop, HashMap<&'static str, String>, PathBuf) {
    let stderr_path = dir.join("serve.stderr");
    let mut child = Command::new(env!("CARGO_BIN_EXE_scale"))
        .args(["serve", "--config"])
        .arg(cfg)
        .args(args)
        .env("SCALE_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let serve = KillOnDrop(child);
    // Drained to the end on its own thread, so serve never writes into a closed pipe.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            for p in PREFIXES {
                if let Some(addr) = line.strip_prefix(p) {
                    let _ = tx.send((p, addr.to_string()));
                }
            }
        }
    });
    let mut lines = HashMap::new();
    while !lines.contains_key(LISTENING) {
        let (p, a) = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_else(|_| {
            panic!(
                "serve printed no address: {}",
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            )
        });
        lines.insert(p, a);
    }
    (serve, lines, stderr_path)
}

/// Sends SIGTERM to serve.
pub fn sigterm(serve: &KillOnDrop) {
    let pid = serve.0.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
}

/// Waits up to 15 s for serve to exit; panics with `logs()` if it does not.
pub fn wait_exit(serve: &mut KillOnDrop, logs: impl Fn() -> String) -> ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(s) = serve.0.try_wait().unwrap() {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "serve did not exit after SIGTERM: {}",
            logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The body of a GET on `url` (panics on a transport error: the server must be up).
pub async fn get_text(client: &reqwest::Client, url: &str) -> String {
    client.get(url).send().await.unwrap().text().await.unwrap()
}
