//! One HTTP client for every data source (Prometheus, Tempo): auth, TLS, timeouts, retries with
//! jittered exponential backoff, and a hard cap on response size. Contract in docs/prometheus.md.

use crate::core::retry::RetryPolicy;
use crate::{Error, Result};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// Credentials sent with every request.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Auth {
    /// No `Authorization` header.
    #[default]
    None,
    /// `Authorization: Bearer <token>`.
    Bearer(String),
    /// HTTP basic auth; the password may be empty.
    Basic {
        /// User name.
        username: String,
        /// Password, empty when none was configured.
        password: String,
    },
}

/// The `auth` table of a source in TOML: at most one of bearer or basic; secrets may come from
/// files (e.g. a mounted Kubernetes secret) so they stay out of the config.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Bearer token inline; exclusive with `bearer_token_file` and basic auth.
    #[serde(default)]
    pub bearer_token: Option<String>,
    /// File holding the bearer token (trailing newlines dropped).
    #[serde(default)]
    pub bearer_token_file: Option<PathBuf>,
    /// Basic-auth user name; required when a password is given.
    #[serde(default)]
    pub username: Option<String>,
    /// Basic-auth password inline; exclusive with `password_file`.
    #[serde(default)]
    pub password: Option<String>,
    /// File holding the basic-auth password (trailing newlines dropped).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
}

impl AuthConfig {
    /// Resolves files and checks the combination; `field` prefixes the names in errors.
    pub fn resolve(&self, field: &str) -> Result<Auth> {
        let read = |p: &PathBuf, name: &str| -> Result<String> {
            let s = std::fs::read_to_string(p)
                .map_err(|e| Error::config(format!("{field}.{name}"), format!("{}: {e}", p.display())))?;
            Ok(s.trim_end_matches(['\n', '\r']).to_string())
        };
        let bearer = match (&self.bearer_token, &self.bearer_token_file) {
            (Some(_), Some(_)) => {
                return Err(Error::config(
                    format!("{field}.bearer_token"),
                    "set bearer_token or bearer_token_file, not both",
                ));
            }
            (Some(t), None) => Some(t.clone()),
            (None, Some(p)) => Some(read(p, "bearer_token_file")?),
            (None, None) => None,
        };
        let password = match (&self.password, &self.password_file) {
            (Some(_), Some(_)) => {
                return Err(Error::config(
                    format!("{field}.password"),
                    "set password or password_file, not both",
                ));
            }
            (Some(p), None) => Some(p.clone()),
            (None, Some(p)) => Some(read(p, "password_file")?),
            (None, None) => None,
        };
        match (bearer, &self.username, password) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => Err(Error::config(
                field.to_string(),
                "bearer and basic auth are exclusive; set one",
            )),
            (Some(t), None, None) if t.is_empty() => Err(Error::config(format!("{field}.bearer_token"), "is empty")),
            (Some(t), None, None) => Ok(Auth::Bearer(t)),
            (None, Some(u), p) => Ok(Auth::Basic {
                username: u.clone(),
                password: p.unwrap_or_default(),
            }),
            (None, None, Some(_)) => Err(Error::config(
                format!("{field}.username"),
                "password given without a username",
            )),
            (None, None, None) => Ok(Auth::None),
        }
    }
}

/// Everything the client needs; `Default` is a sane production setting.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Credentials for every request (none by default).
    pub auth: Auth,
    /// PEM file of extra CA certificates, trusted beside the platform's roots.
    pub ca_file: Option<PathBuf>,
    /// Accept any server certificate. For test clusters only.
    pub insecure_skip_verify: bool,
    /// Timeout for establishing the connection (5 s by default).
    pub connect_timeout: Duration,
    /// Whole-request timeout (connect, send, and read the full body).
    pub timeout: Duration,
    /// Attempts in total (`attempts`) and the backoff between them.
    pub retry: RetryPolicy,
    /// A body longer than this is refused (the read stops there).
    pub max_body_bytes: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            auth: Auth::None,
            ca_file: None,
            insecure_skip_verify: false,
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(60),
            retry: RetryPolicy {
                attempts: 4,
                base: Duration::from_millis(250),
                max: Duration::from_secs(8),
                seed: 0x5ca1e,
            },
            max_body_bytes: 64 << 20,
        }
    }
}

/// What went wrong with one request; every variant names the method and URL.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// A non-2xx answer; `message` is the server's body (trimmed, at most 1 KiB).
    #[error("{method} {url}: HTTP {status}: {message}")]
    Status {
        /// HTTP method, e.g. `GET`.
        method: &'static str,
        /// Request URL without credentials or query string.
        url: String,
        /// HTTP status code.
        status: u16,
        /// Server's body, or the status's canonical reason when the body is empty.
        message: String,
    },
    /// No answer: connect, TLS, timeout or body read failed.
    #[error("{method} {url}: {message}")]
    Transport {
        /// HTTP method, e.g. `GET`.
        method: &'static str,
        /// Request URL without credentials or query string.
        url: String,
        /// The error and its causes, outermost first.
        message: String,
    },
    /// The body exceeded `max_body_bytes`.
    #[error("{method} {url}: response larger than the limit of {limit} bytes")]
    TooLarge {
        /// HTTP method, e.g. `GET`.
        method: &'static str,
        /// Request URL without credentials or query string.
        url: String,
        /// The configured limit, bytes.
        limit: usize,
    },
}

impl HttpError {
    /// 429, 5xx and transport failures are worth another try; the rest are final.
    pub fn retryable(&self) -> bool {
        match self {
            HttpError::Status { status, .. } => *status == 429 || (500..600).contains(status),
            HttpError::Transport { .. } => true,
            HttpError::TooLarge { .. } => false,
        }
    }
}

impl From<HttpError> for Error {
    fn from(e: HttpError) -> Self {
        Error::Source {
            retryable: e.retryable(),
            message: e.to_string(),
        }
    }
}

/// A request to send: method, URL (query string included), optional form body and Accept.
#[derive(Debug, Clone)]
pub struct Request {
    /// HTTP method.
    pub method: reqwest::Method,
    /// Full URL, query string included.
    pub url: reqwest::Url,
    /// Form-encoded body, sent as `application/x-www-form-urlencoded`.
    pub form: Option<String>,
    /// `Accept` header value, if any.
    pub accept: Option<&'static str>,
}

impl Request {
    /// GET `url` with no body.
    pub fn get(url: reqwest::Url) -> Self {
        Request {
            method: reqwest::Method::GET,
            url,
            form: None,
            accept: None,
        }
    }

    /// POST with `application/x-www-form-urlencoded` parameters.
    pub fn post_form(url: reqwest::Url, params: &[(&str, String)]) -> Self {
        Request {
            method: reqwest::Method::POST,
            url,
            form: Some(encode_form(params)),
            accept: None,
        }
    }

    /// Sets the `Accept` header.
    pub fn accept(mut self, accept: &'static str) -> Self {
        self.accept = Some(accept);
        self
    }
}

/// `a=1&b=x+y` with percent-encoding, via the URL parser's own encoder (no extra crate).
pub fn encode_form(params: &[(&str, String)]) -> String {
    let mut u = reqwest::Url::parse("http://x/").expect("static URL");
    {
        let mut q = u.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
    }
    u.query().unwrap_or("").to_string()
}

/// Joins `path` onto a base URL that may itself have a path prefix (e.g. `/prometheus`).
pub fn join(base: &reqwest::Url, path: &str) -> reqwest::Url {
    let mut u = base.clone();
    let prefix = u.path().trim_end_matches('/').to_string();
    u.set_path(&format!("{prefix}/{}", path.trim_start_matches('/')));
    u.set_query(None);
    u
}

/// The parsed `url` of a source; names the field when it is not an absolute http(s) URL.
pub fn parse_base_url(field: &str, url: &str) -> Result<reqwest::Url> {
    let u = reqwest::Url::parse(url.trim()).map_err(|e| Error::config(field, format!("{url:?}: {e}")))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(Error::config(field, format!("{url:?}: scheme must be http or https")));
    }
    Ok(u)
}

/// The response of a successful request.
#[derive(Debug, Clone)]
pub struct Response {
    /// HTTP status code (2xx).
    pub status: u16,
    /// `Content-Type` header, if sent.
    pub content_type: Option<String>,
    /// Full body, at most `max_body_bytes`.
    pub body: Vec<u8>,
}

/// The shared HTTP client: one connection pool, the configured auth, retries and body cap.
#[derive(Debug, Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    auth: Auth,
    retry: RetryPolicy,
    max_body_bytes: usize,
}

impl HttpClient {
    /// Builds the client; fails on an unreadable or empty CA file.
    pub fn new(cfg: &HttpConfig) -> Result<HttpClient> {
        // reqwest is built without a default crypto provider; ring is the one we ship.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut b = reqwest::Client::builder()
            .connect_timeout(cfg.connect_timeout)
            .timeout(cfg.timeout)
            .user_agent(concat!("scale/", env!("CARGO_PKG_VERSION")));
        if let Some(p) = &cfg.ca_file {
            let pem = std::fs::read(p).map_err(|e| Error::io(p, e))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| Error::data(p, None, format!("not a PEM certificate bundle: {e}")))?;
            if certs.is_empty() {
                return Err(Error::data(p, None, "no certificate in the PEM file"));
            }
            b = b.tls_certs_merge(certs);
        }
        if cfg.insecure_skip_verify {
            b = b.tls_danger_accept_invalid_certs(true);
        }
        let client = b
            .build()
            .map_err(|e| Error::Task(format!("cannot build the HTTP client: {}", error_chain(&e))))?;
        Ok(HttpClient {
            client,
            auth: cfg.auth.clone(),
            retry: cfg.retry.clone(),
            max_body_bytes: cfg.max_body_bytes,
        })
    }

    /// Sends `req`, retrying 429/5xx/transport failures with backoff (a `Retry-After` in
    /// seconds is honoured up to the policy's maximum delay); reads at most `max_body_bytes`.
    pub async fn send(&self, req: &Request) -> std::result::Result<Response, HttpError> {
        let attempts = self.retry.attempts.max(1);
        let mut n = 0;
        loop {
            match self.once(req).await {
                Ok(r) => return Ok(r),
                Err((e, retry_after)) => {
                    n += 1;
                    if !e.retryable() || n >= attempts {
                        return Err(e);
                    }
                    let delay = self
                        .retry
                        .delay(n - 1)
                        .max(retry_after.unwrap_or_default().min(self.retry.max));
                    tracing::debug!("retrying in {delay:?} after: {e}");
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    async fn once(&self, req: &Request) -> std::result::Result<Response, (HttpError, Option<Duration>)> {
        let method = method_name(&req.method);
        let url = display_url(&req.url);
        let transport = |e: reqwest::Error| HttpError::Transport {
            method,
            url: url.clone(),
            message: error_chain(&e),
        };
        let mut b = self.client.request(req.method.clone(), req.url.clone());
        b = match &self.auth {
            Auth::None => b,
            Auth::Bearer(t) => b.bearer_auth(t),
            Auth::Basic { username, password } => b.basic_auth(username, Some(password)),
        };
        if let Some(a) = req.accept {
            b = b.header(reqwest::header::ACCEPT, a);
        }
        if let Some(f) = &req.form {
            b = b
                .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(f.clone());
        }
        let mut resp = b.send().await.map_err(|e| (transport(e), None))?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let too_large = || HttpError::TooLarge {
            method,
            url: url.clone(),
            limit: self.max_body_bytes,
        };
        if resp.content_length().is_some_and(|n| n > self.max_body_bytes as u64) {
            return Err((too_large(), None));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| (transport(e), None))? {
            if body.len() + chunk.len() > self.max_body_bytes {
                return Err((too_large(), None));
            }
            body.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body);
            let mut message: String = text.trim().chars().take(1024).collect();
            if message.is_empty() {
                message = status.canonical_reason().unwrap_or("no body").to_string();
            }
            let e = HttpError::Status {
                method,
                url,
                status: status.as_u16(),
                message,
            };
            return Err((e, retry_after));
        }
        Ok(Response {
            status: status.as_u16(),
            content_type,
            body,
        })
    }
}

fn method_name(m: &reqwest::Method) -> &'static str {
    match *m {
        reqwest::Method::POST => "POST",
        reqwest::Method::PUT => "PUT",
        reqwest::Method::DELETE => "DELETE",
        _ => "GET",
    }
}

/// The URL without its query string and without any userinfo, for messages.
fn display_url(u: &reqwest::Url) -> String {
    let mut u = u.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.set_query(None);
    u.to_string()
}

/// reqwest's top-level message is often just "error sending request"; the cause is below.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        src = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::get;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    async fn serve(app: axum::Router) -> (String, tokio::task::JoinHandle<()>) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let h = tokio::spawn(async move {
            axum::serve(l, app).await.unwrap();
        });
        (format!("http://{addr}"), h)
    }

    fn fast() -> HttpConfig {
        HttpConfig {
            retry: RetryPolicy {
                attempts: 3,
                base: Duration::from_millis(5),
                max: Duration::from_millis(20),
                seed: 1,
            },
            timeout: Duration::from_secs(5),
            ..HttpConfig::default()
        }
    }

    #[tokio::test]
    async fn retries_5xx_and_429_then_succeeds_but_not_4xx() {
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        let h2 = hits.clone();
        let app = axum::Router::new()
            .route(
                "/flaky",
                get(move || {
                    let n = h.fetch_add(1, Ordering::SeqCst);
                    async move {
                        match n {
                            0 => (StatusCode::SERVICE_UNAVAILABLE, "warming up".to_string()),
                            1 => (StatusCode::TOO_MANY_REQUESTS, "slow down".to_string()),
                            _ => (StatusCode::OK, "ok".to_string()),
                        }
                    }
                }),
            )
            .route(
                "/bad",
                get(move || {
                    h2.fetch_add(1, Ordering::SeqCst);
                    async { (StatusCode::BAD_REQUEST, "parse error at char 3") }
                }),
            );
        let (base, _srv) = serve(app).await;
        let c = HttpClient::new(&fast()).unwrap();
        let r = c
            .send(&Request::get(format!("{base}/flaky").parse().unwrap()))
            .await
            .unwrap();
        assert_eq!(r.body, b"ok");
        assert_eq!(hits.load(Ordering::SeqCst), 3);
        hits.store(0, Ordering::SeqCst);
        let e = c
            .send(&Request::get(format!("{base}/bad?q=x").parse().unwrap()))
            .await
            .unwrap_err();
        assert_eq!(hits.load(Ordering::SeqCst), 1, "4xx is not retried");
        let msg = e.to_string();
        assert!(
            msg.contains(&format!("GET {base}/bad: HTTP 400: parse error at char 3")),
            "{msg}"
        );
        // gives up after `attempts`
        let app = axum::Router::new().route("/down", get(|| async { (StatusCode::BAD_GATEWAY, "") }));
        let (base, _srv2) = serve(app).await;
        let e = c
            .send(&Request::get(format!("{base}/down").parse().unwrap()))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("HTTP 502: Bad Gateway"), "{e}");
    }

    #[tokio::test]
    async fn auth_headers_and_form_body() {
        let app = axum::Router::new().route(
            "/echo",
            axum::routing::any(|headers: HeaderMap, body: String| async move {
                let h = |k: &str| {
                    headers
                        .get(k)
                        .map(|v| v.to_str().unwrap().to_string())
                        .unwrap_or_default()
                };
                format!("{}|{}|{}|{}", h("authorization"), h("accept"), h("content-type"), body)
            }),
        );
        let (base, _srv) = serve(app).await;
        let url: reqwest::Url = format!("{base}/echo").parse().unwrap();
        let cases = [
            (Auth::None, ""),
            (Auth::Bearer("tok".into()), "Bearer tok"),
            (
                Auth::Basic {
                    username: "u".into(),
                    password: "p".into(),
                },
                "Basic dTpw",
            ),
        ];
        for (auth, want) in cases {
            let c = HttpClient::new(&HttpConfig { auth, ..fast() }).unwrap();
            let req = Request::post_form(url.clone(), &[("query", "sum(rate(x[5m])) by (a)".into())])
                .accept("application/json");
            let body = String::from_utf8(c.send(&req).await.unwrap().body).unwrap();
            assert_eq!(
                body,
                format!(
                    "{want}|application/json|application/x-www-form-urlencoded|query=sum%28rate%28x%5B5m%5D%29%29+by+%28a%29"
                )
            );
        }
    }

    #[tokio::test]
    async fn size_limit_stops_the_read_and_names_the_url() {
        // chunked (no Content-Length) and sized bodies are both cut off
        let app = axum::Router::new()
            .route("/big", get(|| async { "x".repeat(10_000) }))
            .route(
                "/stream",
                get(|| async {
                    let chunks = (0..100).map(|_| Ok::<_, std::io::Error>(vec![b'y'; 1000]));
                    axum::body::Body::from_stream(tokio_stream::iter(chunks))
                }),
            )
            .route("/small", get(|| async { "x".repeat(999) }));
        let (base, _srv) = serve(app).await;
        let c = HttpClient::new(&HttpConfig {
            max_body_bytes: 1000,
            ..fast()
        })
        .unwrap();
        for path in ["big", "stream"] {
            let e = c
                .send(&Request::get(format!("{base}/{path}").parse().unwrap()))
                .await
                .unwrap_err();
            assert!(matches!(e, HttpError::TooLarge { .. }), "{e}");
            assert!(
                e.to_string()
                    .contains(&format!("{base}/{path}: response larger than the limit of 1000 bytes")),
                "{e}"
            );
        }
        assert_eq!(
            c.send(&Request::get(format!("{base}/small").parse().unwrap()))
                .await
                .unwrap()
                .body
                .len(),
            999
        );
    }

    #[tokio::test]
    async fn transport_error_names_the_url() {
        // a port that was just free: connection refused, retried, then reported
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let c = HttpClient::new(&fast()).unwrap();
        let e = c
            .send(&Request::get(
                format!("http://127.0.0.1:{port}/api/v1/query").parse().unwrap(),
            ))
            .await
            .unwrap_err();
        assert!(matches!(e, HttpError::Transport { .. }));
        assert!(
            e.to_string()
                .starts_with(&format!("GET http://127.0.0.1:{port}/api/v1/query: ")),
            "{e}"
        );
    }

    #[test]
    fn auth_config_table() {
        let d = tempfile::tempdir().unwrap();
        let tok = d.path().join("token");
        std::fs::write(&tok, "s3cret\n").unwrap();
        let ok = |c: AuthConfig| c.resolve("source.auth").unwrap();
        let err = |c: AuthConfig| c.resolve("source.auth").unwrap_err().to_string();
        assert_eq!(ok(AuthConfig::default()), Auth::None);
        assert_eq!(
            ok(AuthConfig {
                bearer_token_file: Some(tok.clone()),
                ..Default::default()
            }),
            Auth::Bearer("s3cret".into())
        );
        assert_eq!(
            ok(AuthConfig {
                username: Some("u".into()),
                password_file: Some(tok.clone()),
                ..Default::default()
            }),
            Auth::Basic {
                username: "u".into(),
                password: "s3cret".into()
            }
        );
        let e = err(AuthConfig {
            bearer_token: Some("a".into()),
            username: Some("u".into()),
            ..Default::default()
        });
        assert!(e.contains("source.auth: bearer and basic auth are exclusive"), "{e}");
        let e = err(AuthConfig {
            bearer_token_file: Some(d.path().join("nope")),
            ..Default::default()
        });
        assert!(e.contains("source.auth.bearer_token_file") && e.contains("nope"), "{e}");
        let e = err(AuthConfig {
            password: Some("p".into()),
            ..Default::default()
        });
        assert!(e.contains("source.auth.username"), "{e}");
    }

    #[test]
    fn bad_ca_file_is_named() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("ca.pem");
        std::fs::write(&p, "not a certificate").unwrap();
        let e = HttpClient::new(&HttpConfig {
            ca_file: Some(p),
            ..HttpConfig::default()
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("ca.pem"), "{e}");
    }

    #[test]
    fn url_helpers() {
        let base = parse_base_url("source.url", "http://h:9090/prom/").unwrap();
        assert_eq!(join(&base, "/api/v1/query").as_str(), "http://h:9090/prom/api/v1/query");
        let e = parse_base_url("source.url", "ftp://h").unwrap_err().to_string();
        assert!(e.contains("source.url") && e.contains("http or https"), "{e}");
        assert!(parse_base_url("source.url", "not a url").is_err());
    }
}
