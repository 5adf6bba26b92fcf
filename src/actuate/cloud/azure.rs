//! Azure virtual machine scale sets (Azure Resource Manager, Microsoft.Compute).
//!
//! Read: `GET {base}/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/
//! virtualMachineScaleSets/{name}?api-version=2024-07-01` → `sku.capacity` (no own bounds:
//! autoscale settings are a separate resource). Write: `PATCH` the same URL with
//! `{"sku":{"capacity":N}}`; 200 and 202 both succeed.
//!
//! Token: `AZURE_ACCESS_TOKEN` when set, else the instance metadata service (`GET
//! {imds}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://management.azure.com/`
//! with `Metadata: true`, plus `&client_id=$AZURE_CLIENT_ID` for a user-assigned identity;
//! `{imds}` is `http://169.254.169.254`). Errors `{"error":{"code","message"}}` map by status,
//! with the message `code: message`. A 401 drops the cached token.

use serde_json::{Value, json};

use super::http::{TokenSource, api_message, client, count_at, segment, transport};
use crate::actuate::{ActuateError, ScaleReading, ScaleTarget};

/// The Azure Resource Manager root.
pub const ARM_BASE: &str = "https://management.azure.com";
/// The instance metadata service, for managed-identity tokens.
pub const IMDS_BASE: &str = "http://169.254.169.254";
/// The Microsoft.Compute `api-version` of every scale set call.
pub const API_VERSION: &str = "2024-07-01";

/// One virtual machine scale set as a [`ScaleTarget`]; its size is `sku.capacity`.
pub struct AzureVmss {
    http: reqwest::Client,
    token: TokenSource,
    /// The scale set's resource URL, without the api-version query.
    url: String,
    id: String,
}

impl AzureVmss {
    /// The scale set `name` in `resource_group` of `subscription`, reached at `base` (e.g.
    /// [`ARM_BASE`]) with `token`; empty names are refused.
    pub fn new(
        base: &str,
        subscription: &str,
        resource_group: &str,
        name: &str,
        token: TokenSource,
    ) -> crate::Result<Self> {
        for (field, v) in [
            ("subscription", subscription),
            ("resource_group", resource_group),
            ("name", name),
        ] {
            if v.is_empty() {
                return Err(crate::Error::config(field, "is empty"));
            }
        }
        let url = format!(
            "{}/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Compute/virtualMachineScaleSets/{}",
            base.trim_end_matches('/'),
            segment(subscription),
            segment(resource_group),
            segment(name)
        );
        Ok(AzureVmss {
            http: client(),
            token,
            url,
            id: format!("azure-vmss/{resource_group}/{name}"),
        })
    }

    /// `AZURE_ACCESS_TOKEN`, else IMDS (with `AZURE_CLIENT_ID` when set).
    pub fn token_from_env() -> TokenSource {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        match var("AZURE_ACCESS_TOKEN") {
            Some(t) => TokenSource::Static(t),
            None => Self::imds_token(IMDS_BASE, var("AZURE_CLIENT_ID").as_deref()),
        }
    }

    /// Tokens from IMDS at `base` (overridable for tests).
    pub fn imds_token(base: &str, client_id: Option<&str>) -> TokenSource {
        let mut url = format!(
            "{}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fmanagement.azure.com%2F",
            base.trim_end_matches('/')
        );
        if let Some(id) = client_id {
            url.push_str(&format!("&client_id={}", segment(id)));
        }
        TokenSource::metadata(url, ("Metadata", "true"))
    }

    fn versioned(&self) -> String {
        format!("{}?api-version={API_VERSION}", self.url)
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
            return Err(ActuateError::from_status(status, api_message(&body)));
        }
        if body.trim().is_empty() {
            return Ok(Value::Null); // a 202 may come without a body
        }
        serde_json::from_str(&body).map_err(|e| ActuateError::Rejected {
            status,
            message: format!("{what}: not JSON: {e}"),
        })
    }
}

#[async_trait::async_trait]
impl ScaleTarget for AzureVmss {
    fn describe(&self) -> String {
        self.id.clone()
    }

    async fn read(&self) -> Result<ScaleReading, ActuateError> {
        let v = self
            .send(self.http.get(self.versioned()), &format!("get {}", self.id))
            .await?;
        Ok(ScaleReading {
            replicas: count_at(&v, "/sku/capacity", &self.id)?,
            min: None,
            max: None,
        })
    }

    async fn write(&self, replicas: u32) -> Result<(), ActuateError> {
        let rb = self
            .http
            .patch(self.versioned())
            .json(&json!({ "sku": { "capacity": replicas } }));
        self.send(rb, &format!("patch {}", self.id)).await.map(|_| ())
    }
}
