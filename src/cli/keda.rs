//! `scale keda` (docs/keda.md).

use crate::core::time::parse_duration;
use crate::serve::keda::{ForecastSource, Scaler, serve};
use crate::{Error, Result};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(clap::Args)]
pub struct Args {
    /// Address to listen on; port 0 picks a free port (the bound address is printed). Loopback
    /// by default: exposing it is a choice (docs/security.md).
    #[arg(long, default_value = "127.0.0.1:9090")]
    listen: String,
    /// The models directory served; a ScaledObject cannot name another (docs/security.md).
    #[arg(long, default_value = "models")]
    models: PathBuf,
    /// How often StreamIsActive pushes the current state.
    #[arg(long, default_value = "30s")]
    stream_interval: String,
}

pub fn run(a: Args) -> Result<()> {
    let interval = parse_duration("--stream-interval", &a.stream_interval)?;
    let scaler = Arc::new(Scaler {
        source: ForecastSource::new(a.models),
        stream_interval: std::time::Duration::from_secs(interval as u64),
    });
    let rt = tokio::runtime::Runtime::new().map_err(|e| Error::io("tokio runtime", e))?;
    let listen = a.listen;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(&listen)
            .await
            .map_err(|e| Error::config("--listen", format!("cannot bind {listen}: {e}")))?;
        let addr = listener.local_addr().map_err(|e| Error::io(&listen, e))?;
        // Tests and wrappers read this line to learn the port.
        println!("scale keda listening on {addr}");
        let _ = std::io::stdout().flush();
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        serve(listener, scaler, shutdown).await
    })
}
