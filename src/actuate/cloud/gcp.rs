//! GCP managed instance groups (Compute Engine API v1), zonal or regional.
//!
//! Read: `GET {base}/compute/v1/projects/{project}/zones/{zone}/instanceGroupManagers/{name}`
//! → `targetSize` (MIGs have no own bounds: min/max are None). Write:
//! `POST .../instanceGroupManagers/{name}/resize?size=N` with an empty body; it answers an
//! Operation, whose `error` (if already set) fails the write. Regional groups use
//! `regions/{region}/regionInstanceGroupManagers`.
//!
//! Token: `GOOGLE_OAUTH_ACCESS_TOKEN` when set, else the metadata server
//! (`GET {metadata}/computeMetadata/v1/instance/service-accounts/default/token` with
//! `Metadata-Flavor: Google`; `{metadata}` is `http://$GCE_METADATA_HOST` or
//! `http://metadata.google.internal`). Errors `{"error":{"code","message","errors"}}` map by
//! status, except a 403 whose reason is `rateLimitExceeded`/`userRateLimitExceeded`, which
//! Google documents as a rate limit and so backs off as throttled. A 401 drops the cached token.

use serde_json::Value;

use super::http::{TokenSource, api_message, client, count_at, google_reasons, segment, transport};
use crate::actuate::{ActuateError, ScaleReading, ScaleTarget};

/// The Compute Engine API root.
pub const COMPUTE_BASE: &str = "https://compute.googleapis.com";
/// The GCE metadata server, when `GCE_METADATA_HOST` is unset.
pub const METADATA_BASE: &str = "http://metadata.google.internal";

/// Where the group lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MigLocation {
    /// A zonal group, e.g. `us-central1-a` (`instanceGroupManagers`).
    Zone(String),
    /// A regional group, e.g. `us-central1` (`regionInstanceGroupManagers`).
    Region(String),
}

/// One managed instance group as a [`ScaleTarget`]; its size is `targetSize`.
pub struct GcpMig {
    http: reqwest::Client,
    token: TokenSource,
    /// The group's resource URL (no trailing slash).
    url: String,
    id: String,
}

impl GcpMig {
    /// A group reached at `base` (the Compute API root, e.g. [`COMPUTE_BASE`]) with `token`.
    pub fn new(
        base: &str,
        project: &str,
        location: MigLocation,
        name: &str,
        token: TokenSource,
    ) -> crate::Result<Self> {
        for (field, v) in [("project", project), ("name", name)] {
            if v.is_empty() {
                return Err(crate::Error::config(field, "is empty"));
            }
        }
        let (kind, place) = match &location {
            MigLocation::Zone(z) => ("zones", z),
            MigLocation::Region(r) => ("regions", r),
        };
        if place.is_empty() {
            return Err(crate::Error::config(
                if kind == "zones" { "zone" } else { "region" },
                "is empty",
            ));
        }
        let collection = if kind == "zones" {
            "instanceGroupManagers"
        } else {
            "regionInstanceGroupManagers"
        };
        let url = format!(
            "{}/compute/v1/projects/{}/{kind}/{}/{collection}/{}",
            base.trim_end_matches('/'),
            segment(project),
            segment(place),
            segment(name)
        );
        Ok(GcpMig {
            http: client(),
            token,
            url,
            id: format!("gcp-mig/{project}/{place}/{name}"),
        })
    }

    /// The token source from the environment: `GOOGLE_OAUTH_ACCESS_TOKEN`, else the metadata
    /// server at `GCE_METADATA_HOST` or metadata.google.internal.
    pub fn token_from_env() -> TokenSource {
        match std::env::var("GOOGLE_OAUTH_ACCESS_TOKEN")
            .ok()
            .filter(|t| !t.is_empty())
        {
            Some(t) => TokenSource::Static(t),
            None => {
                let base = std::env::var("GCE_METADATA_HOST")
                    .ok()
                    .filter(|h| !h.is_empty())
                    .map(|h| format!("http://{h}"))
                    .unwrap_or_else(|| METADATA_BASE.into());
                Self::metadata_token(&base)
            }
        }
    }

    /// Tokens from a GCE metadata server at `base` (overridable for tests).
    pub fn metadata_token(base: &str) -> TokenSource {
        TokenSource::metadata(
            format!(
                "{}/computeMetadata/v1/instance/service-accounts/default/token",
                base.trim_end_matches('/')
            ),
            ("Metadata-Flavor", "Google"),
        )
    }

    async fn send(&self, rb: reqwest::RequestBuilder, what: &str) -> Result<Value, ActuateError> {
        let token = self.token.token(&self.http).await?;
        let resp = rb.bearer_auth(token).send().await.map_err(|e| transport(what, e))?;
        let status = resp.status().as_u16();
        let body = resp.text().await.map_err(|e| transport(what, e))?;
        if !(200..300).contains(&status) {
            if status == 401 {
                self.token.invalidate().await;
            }
            let message = api_message(&body);
            let rate_limited = google_reasons(&body)
                .iter()
                .any(|r| r == "rateLimitExceeded" || r == "userRateLimitExceeded");
            return Err(if status == 403 && rate_limited {
                ActuateError::Throttled(message)
            } else {
                ActuateError::from_status(status, message)
            });
        }
        serde_json::from_str(&body).map_err(|e| ActuateError::Rejected {
            status,
            message: format!("{what}: not JSON: {e}"),
        })
    }
}

#[async_trait::async_trait]
impl ScaleTarget for GcpMig {
    fn describe(&self) -> String {
        self.id.clone()
    }

    async fn read(&self) -> Result<ScaleReading, ActuateError> {
        let v = self.send(self.http.get(&self.url), &format!("get {}", self.id)).await?;
        Ok(ScaleReading {
            replicas: count_at(&v, "/targetSize", &self.id)?,
            min: None,
            max: None,
        })
    }

    async fn write(&self, replicas: u32) -> Result<(), ActuateError> {
        let rb = self
            .http
            .post(format!("{}/resize?size={replicas}", self.url))
            .header("content-length", "0");
        let op = self.send(rb, &format!("resize {}", self.id)).await?;
        // An Operation that already failed carries its own HTTP status and messages.
        if let Some(errors) = op["error"]["errors"].as_array().filter(|e| !e.is_empty()) {
            let status = op["httpErrorStatusCode"]
                .as_u64()
                .and_then(|s| u16::try_from(s).ok())
                .unwrap_or(400);
            let msg = errors
                .iter()
                .filter_map(|e| e["message"].as_str())
                .collect::<Vec<_>>()
                .join("; ");
            return Err(ActuateError::from_status(status, msg));
        }
        Ok(())
    }
}
