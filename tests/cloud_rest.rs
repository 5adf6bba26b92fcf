//! The GCP MIG and Azure VMSS actuators against a local HTTP server (axum on 127.0.0.1) that
//! plays the documented APIs: it records every request, the tests assert their exact shape
//! (method, path, query, Authorization and metadata headers, JSON body), and it answers with
//! the documented response shapes, or scripted errors, so 404/409/429/500 go through `apply`.
//!
//! References for the shapes:
//! - GCP instanceGroupManagers.get / .resize and regionInstanceGroupManagers.resize:
//!   https://cloud.google.com/compute/docs/reference/rest/v1/instanceGroupManagers/get
//!   https://cloud.google.com/compute/docs/reference/rest/v1/instanceGroupManagers/resize
//!   https://cloud.google.com/compute/docs/reference/rest/v1/regionInstanceGroupManagers/resize
//!   (POST .../resize?size=N, empty body, answers an Operation)
//! - GCE metadata server token: https://cloud.google.com/compute/docs/access/authenticate-workloads
//!   (GET .../service-accounts/default/token, `Metadata-Flavor: Google`,
//!   answers {"access_token","expires_in","token_type"})
//! - Google error body {"error":{"code","message","errors":[{"reason",...}]}}:
//!   https://cloud.google.com/apis/design/errors
//! - Azure Virtual Machine Scale Sets Get / Update (api-version 2024-07-01):
//!   https://learn.microsoft.com/en-us/rest/api/compute/virtual-machine-scale-sets/get
//!   https://learn.microsoft.com/en-us/rest/api/compute/virtual-machine-scale-sets/update
//!   (PATCH with a VirtualMachineScaleSetUpdate body; 200 or 202; errors are CloudError
//!   {"error":{"code","message"}})
//! - Azure IMDS token: https://learn.microsoft.com/en-us/entra/identity/managed-identities-azure-resources/how-to-use-vm-token
//!   (GET /metadata/identity/oauth2/token?api-version=2018-02-01&resource=..., `Metadata: true`,
//!   answers expires_in as a string)

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use scale::actuate::cloud::azure::AzureVmss;
use scale::actuate::cloud::gcp::{GcpMig, MigLocation};
use scale::actuate::cloud::http::TokenSource;
use scale::actuate::{ActuateError, Outcome, ScaleTarget, apply};
use scale::core::retry::RetryPolicy;

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    query: Option<String>,
    headers: BTreeMap<String, String>,
    body: String,
}

impl Seen {
    fn line(&self) -> String {
        match &self.query {
            Some(q) => format!("{} {}?{q}", self.method, self.path),
            None => format!("{} {}", self.method, self.path),
        }
    }
}

#[derive(Default)]
struct Fake {
    /// targetSize / sku.capacity.
    size: u32,
    /// Scripted answers: (method it applies to, status, body), used before the normal route.
    failures: VecDeque<(Method, u16, Value)>,
    /// Answer for token requests, if not the default.
    token_answer: Option<(u16, Value)>,
    seen: Vec<Seen>,
}

type Shared = Arc<Mutex<Fake>>;

async fn handle(State(s): State<Shared>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let mut f = s.lock().unwrap();
    let path = uri.path().to_string();
    f.seen.push(Seen {
        method: method.to_string(),
        path: path.clone(),
        query: uri.query().map(str::to_string),
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("?").to_string()))
            .collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let reply = |status: u16, v: Value| (StatusCode::from_u16(status).unwrap(), axum::Json(v)).into_response();

    if path.ends_with("/token") {
        if let Some((status, v)) = f.token_answer.clone() {
            return reply(status, v);
        }
        // GCE answers a number, IMDS a string.
        return if path.starts_with("/computeMetadata") {
            reply(
                200,
                json!({"access_token": "tok-gcp", "expires_in": 3599, "token_type": "Bearer"}),
            )
        } else {
            reply(
                200,
                json!({"access_token": "tok-az", "expires_in": "3599", "expires_on": "1700000000",
                "resource": "https://management.azure.com/", "token_type": "Bearer"}),
            )
        };
    }
    if f.failures.front().is_some_and(|(m, _, _)| *m == method) {
        let (_, status, v) = f.failures.pop_front().unwrap();
        return reply(status, v);
    }
    let name = path.rsplit('/').find(|s| *s != "resize").unwrap_or("").to_string();
    match (method.as_str(), path.contains("/virtualMachineScaleSets/")) {
        ("GET", false) => reply(
            200,
            json!({"kind": "compute#instanceGroupManager", "name": name, "targetSize": f.size,
            "status": {"isStable": true}}),
        ),
        ("POST", false) => {
            let size = uri
                .query()
                .and_then(|q| q.strip_prefix("size="))
                .and_then(|n| n.parse().ok());
            match size {
                Some(n) => {
                    f.size = n;
                    reply(
                        200,
                        json!({"kind": "compute#operation", "name": "operation-1",
                        "operationType": "compute.instanceGroupManagers.resize", "status": "RUNNING", "progress": 0}),
                    )
                }
                None => reply(
                    400,
                    json!({"error": {"code": 400, "message": "Invalid value for field 'size'",
                    "errors": [{"reason": "invalid"}]}}),
                ),
            }
        }
        ("GET", true) => reply(
            200,
            json!({"name": name, "location": "westeurope",
            "sku": {"name": "Standard_D2s_v3", "tier": "Standard", "capacity": f.size},
            "properties": {"provisioningState": "Succeeded"}}),
        ),
        ("PATCH", true) => match serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v["sku"]["capacity"].as_u64())
        {
            Some(n) => {
                f.size = n as u32;
                reply(
                    200,
                    json!({"name": name, "sku": {"name": "Standard_D2s_v3", "tier": "Standard", "capacity": n},
                    "properties": {"provisioningState": "Updating"}}),
                )
            }
            None => reply(
                400,
                json!({"error": {"code": "InvalidRequestContent", "message": "sku.capacity missing"}}),
            ),
        },
        _ => reply(405, json!({"error": {"code": 405, "message": "method not allowed"}})),
    }
}

/// The server task is aborted on drop, so a failed test leaves nothing running.
struct Server {
    base: String,
    state: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    async fn start(size: u32) -> Server {
        let state: Shared = Arc::new(Mutex::new(Fake {
            size,
            ..Fake::default()
        }));
        let app = Router::new().fallback(handle).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Server { base, state, task }
    }

    fn fail(&self, method: Method, status: u16, body: Value) {
        self.state.lock().unwrap().failures.push_back((method, status, body));
    }

    /// Requests seen so far, cleared.
    fn take(&self) -> Vec<Seen> {
        std::mem::take(&mut self.state.lock().unwrap().seen)
    }

    fn size(&self) -> u32 {
        self.state.lock().unwrap().size
    }
}

/// An error-class case: scripted failures, the outcome of the apply, the request lines after the
/// token.
type Case = (Vec<(Method, u16, Value)>, Outcome, Vec<String>);

fn policy() -> RetryPolicy {
    RetryPolicy {
        attempts: 3,
        base: Duration::from_millis(1),
        max: Duration::from_millis(4),
        seed: 7,
    }
}

const MIG: &str = "/compute/v1/projects/proj-1/zones/us-central1-a/instanceGroupManagers/web";

fn mig(server: &Server, token: TokenSource) -> GcpMig {
    GcpMig::new(
        &server.base,
        "proj-1",
        MigLocation::Zone("us-central1-a".into()),
        "web",
        token,
    )
    .unwrap()
}

#[tokio::test]
async fn gcp_mig_requests_and_token() {
    let server = Server::start(2).await;
    let target = mig(&server, GcpMig::metadata_token(&server.base));
    assert_eq!(target.describe(), "gcp-mig/proj-1/us-central1-a/web");

    assert_eq!(
        apply(&target, 5, &policy()).await,
        Outcome::Applied {
            from: 2,
            to: 5,
            attempts: 1
        }
    );
    assert_eq!(apply(&target, 5, &policy()).await, Outcome::Unchanged { replicas: 5 });
    assert_eq!(
        apply(&target, 3, &policy()).await,
        Outcome::Applied {
            from: 5,
            to: 3,
            attempts: 1
        }
    );
    assert_eq!(server.size(), 3);

    let seen = server.take();
    let lines: Vec<String> = seen.iter().map(Seen::line).collect();
    // One token fetch (then cached), and no write for the repeated decision.
    assert_eq!(
        lines,
        vec![
            "GET /computeMetadata/v1/instance/service-accounts/default/token".to_string(),
            format!("GET {MIG}"),
            format!("POST {MIG}/resize?size=5"),
            format!("GET {MIG}"),
            format!("GET {MIG}"),
            format!("POST {MIG}/resize?size=3"),
        ]
    );
    assert_eq!(
        seen[0].headers.get("metadata-flavor").map(String::as_str),
        Some("Google")
    );
    assert!(!seen[0].headers.contains_key("authorization"));
    for s in &seen[1..] {
        assert_eq!(
            s.headers.get("authorization").map(String::as_str),
            Some("Bearer tok-gcp"),
            "{}",
            s.line()
        );
    }
    // resize carries no body.
    assert_eq!(seen[2].body, "");
    assert_eq!(seen[2].headers.get("content-length").map(String::as_str), Some("0"));

    // A token from the environment is used as is; no metadata call. Regional groups use their own path.
    let regional = GcpMig::new(
        &server.base,
        "proj-1",
        MigLocation::Region("us-central1".into()),
        "web",
        TokenSource::Static("env-tok".into()),
    )
    .unwrap();
    assert_eq!(
        apply(&regional, 4, &policy()).await,
        Outcome::Applied {
            from: 3,
            to: 4,
            attempts: 1
        }
    );
    let seen = server.take();
    let rmig = "/compute/v1/projects/proj-1/regions/us-central1/regionInstanceGroupManagers/web";
    assert_eq!(
        seen.iter().map(Seen::line).collect::<Vec<_>>(),
        vec![format!("GET {rmig}"), format!("POST {rmig}/resize?size=4")]
    );
    assert!(
        seen.iter()
            .all(|s| s.headers.get("authorization").map(String::as_str) == Some("Bearer env-tok"))
    );
}

fn gerr(code: u16, message: &str, reason: &str) -> Value {
    json!({"error": {"code": code, "message": message, "errors": [{"message": message, "domain": "global", "reason": reason}]}})
}

#[tokio::test]
async fn gcp_mig_errors_by_class() {
    let not_found = "The resource 'projects/proj-1/zones/us-central1-a/instanceGroupManagers/web' was not found";
    let get = || format!("GET {MIG}");
    let post = || format!("POST {MIG}/resize?size=5");
    // (scripted failures, outcome of apply(5) from size 2, request lines after the token)
    let cases: Vec<Case> = vec![
        (
            vec![(Method::GET, 404, gerr(404, not_found, "notFound"))],
            Outcome::Failed {
                error: ActuateError::Rejected {
                    status: 404,
                    message: not_found.to_string(),
                },
                attempts: 0,
            },
            vec![get()],
        ),
        (
            vec![(
                Method::POST,
                409,
                gerr(409, "The resource is being modified", "resourceInUseByAnotherResource"),
            )],
            Outcome::Applied {
                from: 2,
                to: 5,
                attempts: 2,
            },
            vec![get(), post(), get(), post()],
        ),
        (
            vec![(Method::POST, 429, gerr(429, "Rate Limit Exceeded", "rateLimitExceeded"))],
            Outcome::Applied {
                from: 2,
                to: 5,
                attempts: 2,
            },
            vec![get(), post(), get(), post()],
        ),
        // Google's rate limit may come as a 403 with reason rateLimitExceeded: backed off, not rejected.
        (
            vec![(Method::GET, 403, gerr(403, "Quota exceeded", "rateLimitExceeded"))],
            Outcome::Applied {
                from: 2,
                to: 5,
                attempts: 1,
            },
            vec![get(), get(), post()],
        ),
        (
            vec![(
                Method::POST,
                403,
                gerr(
                    403,
                    "Required 'compute.instanceGroupManagers.update' permission",
                    "forbidden",
                ),
            )],
            Outcome::Failed {
                error: ActuateError::Rejected {
                    status: 403,
                    message: "Required 'compute.instanceGroupManagers.update' permission".into(),
                },
                attempts: 1,
            },
            vec![get(), post()],
        ),
        (
            (0..3)
                .map(|_| (Method::POST, 500, gerr(500, "Internal error", "backendError")))
                .collect(),
            Outcome::Failed {
                error: ActuateError::Server {
                    status: 500,
                    message: "Internal error".into(),
                },
                attempts: 3,
            },
            (0..3).flat_map(|_| [get(), post()]).collect(),
        ),
        // An Operation that comes back already failed fails the write with its own status.
        (
            vec![(
                Method::POST,
                200,
                json!({"kind": "compute#operation", "status": "DONE", "httpErrorStatusCode": 400,
                "error": {"errors": [{"code": "INVALID_FIELD_VALUE", "message": "size exceeds the quota"}]}}),
            )],
            Outcome::Failed {
                error: ActuateError::Rejected {
                    status: 400,
                    message: "size exceeds the quota".into(),
                },
                attempts: 1,
            },
            vec![get(), post()],
        ),
    ];
    for (script, want, want_lines) in cases {
        let server = Server::start(2).await;
        for (m, status, body) in script {
            server.fail(m, status, body);
        }
        let target = mig(&server, TokenSource::Static("t".into()));
        assert_eq!(apply(&target, 5, &policy()).await, want);
        assert_eq!(
            server.take().iter().map(Seen::line).collect::<Vec<_>>(),
            want_lines,
            "{want:?}"
        );
    }
}

const VMSS: &str = "/subscriptions/sub-1/resourceGroups/rg-1/providers/Microsoft.Compute/virtualMachineScaleSets/vmss";
const VERSION: &str = "api-version=2024-07-01";
const IMDS_QUERY: &str = "api-version=2018-02-01&resource=https%3A%2F%2Fmanagement.azure.com%2F";

fn vmss(server: &Server, token: TokenSource) -> AzureVmss {
    AzureVmss::new(&server.base, "sub-1", "rg-1", "vmss", token).unwrap()
}

#[tokio::test]
async fn azure_vmss_requests_and_token() {
    let server = Server::start(2).await;
    let target = vmss(&server, AzureVmss::imds_token(&server.base, None));
    assert_eq!(target.describe(), "azure-vmss/rg-1/vmss");

    assert_eq!(
        apply(&target, 5, &policy()).await,
        Outcome::Applied {
            from: 2,
            to: 5,
            attempts: 1
        }
    );
    assert_eq!(apply(&target, 5, &policy()).await, Outcome::Unchanged { replicas: 5 });
    assert_eq!(
        apply(&target, 3, &policy()).await,
        Outcome::Applied {
            from: 5,
            to: 3,
            attempts: 1
        }
    );
    assert_eq!(server.size(), 3);

    let seen = server.take();
    assert_eq!(
        seen.iter().map(Seen::line).collect::<Vec<_>>(),
        vec![
            format!("GET /metadata/identity/oauth2/token?{IMDS_QUERY}"),
            format!("GET {VMSS}?{VERSION}"),
            format!("PATCH {VMSS}?{VERSION}"),
            format!("GET {VMSS}?{VERSION}"),
            format!("GET {VMSS}?{VERSION}"),
            format!("PATCH {VMSS}?{VERSION}"),
        ]
    );
    assert_eq!(seen[0].headers.get("metadata").map(String::as_str), Some("true"));
    for s in &seen[1..] {
        assert_eq!(
            s.headers.get("authorization").map(String::as_str),
            Some("Bearer tok-az"),
            "{}",
            s.line()
        );
    }
    for (s, n) in [(&seen[2], 5), (&seen[5], 3)] {
        assert_eq!(
            s.headers.get("content-type").map(String::as_str),
            Some("application/json")
        );
        assert_eq!(
            serde_json::from_str::<Value>(&s.body).unwrap(),
            json!({"sku": {"capacity": n}})
        );
    }

    // A user-assigned identity names its client id.
    let server = Server::start(1).await;
    let target = vmss(&server, AzureVmss::imds_token(&server.base, Some("cid-1")));
    assert_eq!(apply(&target, 1, &policy()).await, Outcome::Unchanged { replicas: 1 });
    assert_eq!(
        server.take()[0].line(),
        format!("GET /metadata/identity/oauth2/token?{IMDS_QUERY}&client_id=cid-1")
    );
}

fn aerr(code: &str, message: &str) -> Value {
    json!({"error": {"code": code, "message": message}})
}

#[tokio::test]
async fn azure_vmss_errors_by_class() {
    let get = || format!("GET {VMSS}?{VERSION}");
    let patch = || format!("PATCH {VMSS}?{VERSION}");
    let nf = "The Resource 'Microsoft.Compute/virtualMachineScaleSets/vmss' under resource group 'rg-1' was not found.";
    let cases: Vec<Case> = vec![
        (
            vec![(Method::GET, 404, aerr("ResourceNotFound", nf))],
            Outcome::Failed {
                error: ActuateError::Rejected {
                    status: 404,
                    message: format!("ResourceNotFound: {nf}"),
                },
                attempts: 0,
            },
            vec![get()],
        ),
        (
            vec![(
                Method::PATCH,
                409,
                aerr(
                    "OperationNotAllowed",
                    "Operation 'Update' is not allowed while another is in progress.",
                ),
            )],
            Outcome::Applied {
                from: 2,
                to: 5,
                attempts: 2,
            },
            vec![get(), patch(), get(), patch()],
        ),
        (
            vec![(
                Method::PATCH,
                429,
                aerr("TooManyRequests", "The request is being throttled."),
            )],
            Outcome::Applied {
                from: 2,
                to: 5,
                attempts: 2,
            },
            vec![get(), patch(), get(), patch()],
        ),
        (
            vec![(
                Method::GET,
                500,
                aerr("InternalServerError", "An internal error occurred."),
            )],
            Outcome::Applied {
                from: 2,
                to: 5,
                attempts: 1,
            },
            vec![get(), get(), patch()],
        ),
        (
            (0..3)
                .map(|_| (Method::PATCH, 503, aerr("ServiceUnavailable", "Try again.")))
                .collect(),
            Outcome::Failed {
                error: ActuateError::Server {
                    status: 503,
                    message: "ServiceUnavailable: Try again.".into(),
                },
                attempts: 3,
            },
            (0..3).flat_map(|_| [get(), patch()]).collect(),
        ),
        (
            vec![(
                Method::PATCH,
                400,
                aerr(
                    "OperationNotAllowed",
                    "Operation results in exceeding quota limits of Core.",
                ),
            )],
            Outcome::Failed {
                error: ActuateError::Rejected {
                    status: 400,
                    message: "OperationNotAllowed: Operation results in exceeding quota limits of Core.".into(),
                },
                attempts: 1,
            },
            vec![get(), patch()],
        ),
    ];
    for (script, want, want_lines) in cases {
        let server = Server::start(2).await;
        for (m, status, body) in script {
            server.fail(m, status, body);
        }
        let target = vmss(&server, TokenSource::Static("t".into()));
        assert_eq!(apply(&target, 5, &policy()).await, want);
        assert_eq!(
            server.take().iter().map(Seen::line).collect::<Vec<_>>(),
            want_lines,
            "{want:?}"
        );
    }
}

#[tokio::test]
async fn token_failures_fail_the_decision_with_the_services_message() {
    // IMDS without an identity answers 400 with an OAuth error: rejected, no API call made.
    let server = Server::start(2).await;
    server.state.lock().unwrap().token_answer = Some((
        400,
        json!({"error": "invalid_request", "error_description": "Identity not found"}),
    ));
    let target = vmss(&server, AzureVmss::imds_token(&server.base, None));
    let Outcome::Failed { error, attempts: 0 } = apply(&target, 5, &policy()).await else {
        panic!("must fail")
    };
    let error = error.to_string();
    assert!(error.starts_with("rejected 400: token from "), "{error}");
    assert!(error.ends_with("invalid_request: Identity not found"), "{error}");
    assert!(server.take().iter().all(|s| s.path.ends_with("/token")));

    // A metadata server that is down is a transport error: retried, then the decision fails.
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let target = mig(&server, GcpMig::metadata_token(&base));
    let Outcome::Failed { error, attempts: 0 } = apply(&target, 5, &policy()).await else {
        panic!("must fail")
    };
    assert!(matches!(error, ActuateError::Transport(_)), "{error}");
    assert!(error.to_string().starts_with("transport: token from "), "{error}");
    assert!(server.take().is_empty());
}
