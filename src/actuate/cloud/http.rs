//! HTTP plumbing the cloud actuators share: the client, bearer tokens (static or from an
//! instance metadata service, cached until shortly before expiry) and error bodies.

use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use crate::actuate::ActuateError;

/// A client with bounded timeouts; installs rustls' ring provider once.
pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// Turns a send error into the retryable transport class.
pub fn transport(what: &str, e: reqwest::Error) -> ActuateError {
    ActuateError::Transport(format!("{what}: {e}"))
}

/// Where a bearer token comes from.
pub enum TokenSource {
    /// Given once (from an environment variable); never refreshed.
    Static(String),
    /// Fetched with GET from a metadata endpoint that answers
    /// `{"access_token": "...", "expires_in": N}` (N a number or a numeric string).
    Metadata {
        /// The token endpoint.
        url: String,
        /// The header the endpoint requires (`Metadata-Flavor: Google`, `Metadata: true`).
        header: (&'static str, &'static str),
        /// The last token and when it expires.
        cache: tokio::sync::Mutex<Option<(String, Instant)>>,
    },
}

/// A cached token is replaced this long before it expires.
const REFRESH_MARGIN: Duration = Duration::from_secs(60);

impl TokenSource {
    /// A metadata-service source with an empty cache.
    pub fn metadata(url: String, header: (&'static str, &'static str)) -> Self {
        TokenSource::Metadata {
            url,
            header,
            cache: tokio::sync::Mutex::new(None),
        }
    }

    /// The bearer token: the static one, the cached one while more than a minute from expiry, or
    /// a fresh one from the endpoint.
    pub async fn token(&self, http: &reqwest::Client) -> Result<String, ActuateError> {
        let (url, header, cache) = match self {
            TokenSource::Static(t) => return Ok(t.clone()),
            TokenSource::Metadata { url, header, cache } => (url, header, cache),
        };
        let mut cached = cache.lock().await;
        if let Some((token, expires)) = cached.as_ref()
            && Instant::now() + REFRESH_MARGIN < *expires
        {
            return Ok(token.clone());
        }
        let what = format!("token from {url}");
        let resp = http
            .get(url)
            .header(header.0, header.1)
            .send()
            .await
            .map_err(|e| transport(&what, e))?;
        let status = resp.status().as_u16();
        let body = resp.text().await.map_err(|e| transport(&what, e))?;
        if !(200..300).contains(&status) {
            return Err(ActuateError::from_status(
                status,
                format!("{what}: {}", api_message(&body)),
            ));
        }
        let v: Value = serde_json::from_str(&body).map_err(|e| ActuateError::Rejected {
            status,
            message: format!("{what}: not JSON: {e}"),
        })?;
        let token = v["access_token"]
            .as_str()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ActuateError::Rejected {
                status,
                message: format!("{what}: no access_token in the answer"),
            })?;
        // IMDS on Azure sends expires_in as a string, GCE's metadata server as a number.
        let secs = v["expires_in"]
            .as_u64()
            .or_else(|| v["expires_in"].as_str().and_then(|s| s.parse().ok()))
            .unwrap_or(0);
        *cached = Some((token.to_string(), Instant::now() + Duration::from_secs(secs)));
        Ok(token.to_string())
    }

    /// Drops a cached token (after a 401), so the next call fetches a fresh one.
    pub async fn invalidate(&self) {
        if let TokenSource::Metadata { cache, .. } = self {
            *cache.lock().await = None;
        }
    }
}

/// A replica count from a JSON answer at `pointer` (e.g. `/sku/capacity`); a missing or
/// non-u32 value fails the read naming the target and the field.
pub fn count_at(v: &Value, pointer: &str, id: &str) -> Result<u32, ActuateError> {
    v.pointer(pointer)
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| ActuateError::Rejected {
            status: 200,
            message: format!(
                "{id}: answer lacks a {} count",
                pointer.trim_start_matches('/').replace('/', ".")
            ),
        })
}

/// The message of a Google or Azure error body `{"error": {"code": .., "message": ..}}`;
/// Azure's string codes are prefixed (`ResourceNotFound: ...`). Falls back to the raw body.
pub fn api_message(body: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let err = parsed.as_ref().map(|v| &v["error"]);
    match err {
        Some(e) if e["message"].is_string() => {
            let msg = e["message"].as_str().unwrap_or_default();
            match e["code"].as_str() {
                Some(code) => format!("{code}: {msg}"),
                None => msg.to_string(),
            }
        }
        // OAuth-style errors from the metadata services.
        Some(Value::String(code)) => match parsed.as_ref().and_then(|v| v["error_description"].as_str()) {
            Some(d) => format!("{code}: {d}"),
            None => code.clone(),
        },
        _ => {
            let t = body.trim();
            let cut: String = t.chars().take(300).collect();
            if cut.is_empty() { "(empty body)".into() } else { cut }
        }
    }
}

/// The `reason`s in a Google error body's `error.errors[]`.
pub fn google_reasons(body: &str) -> Vec<String> {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    v["error"]["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| e["reason"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Percent-encodes one URL path segment (names are user input).
pub fn segment(s: &str) -> String {
    super::aws::sigv4::uri_encode(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages() {
        for (body, want) in [
            (
                r#"{"error":{"code":404,"message":"The resource 'x' was not found","errors":[{"reason":"notFound"}]}}"#,
                "The resource 'x' was not found",
            ),
            (
                r#"{"error":{"code":"ResourceNotFound","message":"The Resource 'vmss' was not found."}}"#,
                "ResourceNotFound: The Resource 'vmss' was not found.",
            ),
            (
                r#"{"error":"invalid_request","error_description":"Identity not found"}"#,
                "invalid_request: Identity not found",
            ),
            ("upstream connect error", "upstream connect error"),
            ("", "(empty body)"),
        ] {
            assert_eq!(api_message(body), want);
        }
        assert_eq!(
            google_reasons(r#"{"error":{"errors":[{"reason":"rateLimitExceeded"},{"domain":"x"}]}}"#),
            vec!["rateLimitExceeded"]
        );
        assert_eq!(segment("my rg(1)"), "my%20rg%281%29");
    }
}
