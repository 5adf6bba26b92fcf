//! AWS EC2 Auto Scaling groups through the Query API (version 2011-01-01), signed with SigV4.
//!
//! Read: `DescribeAutoScalingGroups` → DesiredCapacity, MinSize, MaxSize. Write:
//! `SetDesiredCapacity` with `HonorCooldown=true`. The reading carries MaxSize, so
//! [`crate::actuate::apply`] refuses a decision above it before any call (AWS would reject it; moto
//! would accept it). Error codes map to classes:
//! - `Throttling`, `ThrottlingException`, `RequestLimitExceeded` → throttled (back off);
//! - `ScalingActivityInProgress` (a running activity or the cooldown blocks the change) →
//!   throttled too: waiting is what helps, and an immediate re-read-and-write would fail alike;
//! - `ResourceContention` → server error (back off);
//! - anything else by HTTP status (`ValidationError` is a 400 → rejected).
//!
//! A group that DescribeAutoScalingGroups does not return is rejected as 404.

use super::config::AwsConfig;
use super::sigv4::{self, uri_encode};
use super::xml::{self, Element};
use crate::actuate::cloud::http::{client, transport};
use crate::actuate::{ActuateError, ScaleReading, ScaleTarget};
use crate::core::time::{SharedClock, SystemClock};
use std::sync::Arc;

/// The Auto Scaling Query API version sent as `Version`.
pub const API_VERSION: &str = "2011-01-01";
const SERVICE: &str = "autoscaling";

/// A signed Auto Scaling Query API client.
pub struct AutoScalingClient {
    http: reqwest::Client,
    config: AwsConfig,
    url: reqwest::Url,
    /// The Host header reqwest sends for `url`, which is what gets signed.
    host: String,
    clock: SharedClock,
}

impl AutoScalingClient {
    /// A client for `config.endpoint`, which must be an http(s) URL with a host and no query.
    pub fn new(config: AwsConfig) -> crate::Result<Self> {
        let url = reqwest::Url::parse(&config.endpoint)
            .map_err(|e| crate::Error::config("endpoint", format!("{:?}: {e}", config.endpoint)))?;
        if !matches!(url.scheme(), "http" | "https") || url.query().is_some() {
            return Err(crate::Error::config(
                "endpoint",
                format!("{:?}: want an http(s) URL without a query", config.endpoint),
            ));
        }
        let host = match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            (None, _) => {
                return Err(crate::Error::config(
                    "endpoint",
                    format!("{:?} has no host", config.endpoint),
                ));
            }
        };
        Ok(AutoScalingClient {
            http: client(),
            config,
            url,
            host,
            clock: Arc::new(SystemClock),
        })
    }

    /// Uses `clock` as the signing clock (tests).
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// POSTs `Action` with `params` and returns the parsed response document.
    pub async fn call(&self, action: &str, params: &[(&str, String)]) -> Result<Element, ActuateError> {
        let mut form: Vec<(String, String)> =
            vec![("Action".into(), action.into()), ("Version".into(), API_VERSION.into())];
        form.extend(params.iter().map(|(k, v)| (k.to_string(), v.clone())));
        let body = form
            .iter()
            .map(|(k, v)| format!("{}={}", uri_encode(k), uri_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let headers = vec![(
            "content-type".to_string(),
            "application/x-www-form-urlencoded; charset=utf-8".to_string(),
        )];
        let req = sigv4::Request {
            method: "POST",
            host: &self.host,
            path: self.url.path(),
            query: &[],
            headers: &headers,
            body: body.as_bytes(),
        };
        let signed = sigv4::sign(
            &self.config.credentials,
            &self.config.region,
            SERVICE,
            &req,
            self.clock.now_utc(),
        );
        let mut rb = self.http.post(self.url.clone()).body(body);
        for (k, v) in headers.iter().chain(&signed.headers) {
            rb = rb.header(k, v);
        }
        let what = format!("{action} at {}", self.url);
        let resp = rb.send().await.map_err(|e| transport(&what, e))?;
        let status = resp.status().as_u16();
        let text = resp.text().await.map_err(|e| transport(&what, e))?;
        let doc = xml::parse(&text);
        if !(200..300).contains(&status) {
            return Err(classify(status, doc.ok().as_ref(), &text));
        }
        doc.map_err(|e| ActuateError::Rejected {
            status,
            message: format!("{what}: unreadable XML answer: {e}"),
        })
    }
}

/// Maps an AWS error answer to its class (see the module docs).
fn classify(status: u16, doc: Option<&Element>, raw: &str) -> ActuateError {
    let err = doc.and_then(|d| d.child("Error").or_else(|| d.path(&["Errors", "Error"])));
    let (code, message) = match err {
        Some(e) => (
            e.child_text("Code").unwrap_or("").to_string(),
            e.child_text("Message").unwrap_or("").to_string(),
        ),
        None => (String::new(), raw.trim().chars().take(300).collect()),
    };
    let text = if code.is_empty() {
        message
    } else {
        format!("{code}: {message}")
    };
    match code.as_str() {
        "Throttling" | "ThrottlingException" | "RequestLimitExceeded" | "ScalingActivityInProgress" => {
            ActuateError::Throttled(text)
        }
        "ResourceContention" => ActuateError::Server { status, message: text },
        _ => ActuateError::from_status(status, text),
    }
}

/// One Auto Scaling group as a [`ScaleTarget`].
pub struct AwsAsg {
    client: AutoScalingClient,
    group: String,
}

impl AwsAsg {
    /// The group named `group` (1–255 characters, as AWS allows), reached through `client`.
    pub fn new(client: AutoScalingClient, group: impl Into<String>) -> crate::Result<Self> {
        let group = group.into();
        // AWS allows 1-255 characters here.
        if group.is_empty() || group.len() > 255 {
            return Err(crate::Error::config(
                "group",
                format!("{group:?}: want 1-255 characters"),
            ));
        }
        Ok(AwsAsg { client, group })
    }

    /// Credentials, region and endpoint from the environment (see [`AwsConfig`]).
    pub fn from_env(group: impl Into<String>) -> crate::Result<Self> {
        Self::new(AutoScalingClient::new(AwsConfig::from_env()?)?, group)
    }
}

fn count(member: &Element, field: &str, group: &str) -> Result<u32, ActuateError> {
    let raw = member.child_text(field).ok_or_else(|| ActuateError::Rejected {
        status: 200,
        message: format!("Auto Scaling group {group:?}: answer lacks {field}"),
    })?;
    raw.parse().map_err(|_| ActuateError::Rejected {
        status: 200,
        message: format!("Auto Scaling group {group:?}: {field} {raw:?} is not a count"),
    })
}

/// The reading for `group` from a DescribeAutoScalingGroups answer.
pub fn reading_from(doc: &Element, group: &str) -> Result<ScaleReading, ActuateError> {
    let member = doc
        .path(&["DescribeAutoScalingGroupsResult", "AutoScalingGroups"])
        .and_then(|g| {
            g.children_named("member")
                .find(|m| m.child_text("AutoScalingGroupName") == Some(group))
        })
        .ok_or_else(|| ActuateError::Rejected {
            status: 404,
            message: format!("Auto Scaling group {group:?} not found"),
        })?;
    Ok(ScaleReading {
        replicas: count(member, "DesiredCapacity", group)?,
        min: Some(count(member, "MinSize", group)?),
        max: Some(count(member, "MaxSize", group)?),
    })
}

#[async_trait::async_trait]
impl ScaleTarget for AwsAsg {
    fn describe(&self) -> String {
        format!("aws-asg/{}/{}", self.client.config.region, self.group)
    }

    async fn read(&self) -> Result<ScaleReading, ActuateError> {
        let doc = self
            .client
            .call(
                "DescribeAutoScalingGroups",
                &[("AutoScalingGroupNames.member.1", self.group.clone())],
            )
            .await?;
        reading_from(&doc, &self.group)
    }

    async fn write(&self, replicas: u32) -> Result<(), ActuateError> {
        self.client
            .call(
                "SetDesiredCapacity",
                &[
                    ("AutoScalingGroupName", self.group.clone()),
                    ("DesiredCapacity", replicas.to_string()),
                    ("HonorCooldown", "true".into()),
                ],
            )
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reading_from_describe() {
        let doc = xml::parse(
            r#"<DescribeAutoScalingGroupsResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/">
  <DescribeAutoScalingGroupsResult><AutoScalingGroups>
    <member><AutoScalingGroupName>other</AutoScalingGroupName><MinSize>0</MinSize><MaxSize>1</MaxSize><DesiredCapacity>1</DesiredCapacity></member>
    <member><AutoScalingGroupName>web</AutoScalingGroupName>
      <Instances><member><InstanceId>i-1</InstanceId></member></Instances>
      <WarmPoolConfiguration><MinSize>7</MinSize></WarmPoolConfiguration>
      <MinSize>1</MinSize><MaxSize>6</MaxSize><DesiredCapacity>2</DesiredCapacity></member>
  </AutoScalingGroups></DescribeAutoScalingGroupsResult>
</DescribeAutoScalingGroupsResponse>"#,
        )
        .unwrap();
        assert_eq!(
            reading_from(&doc, "web").unwrap(),
            ScaleReading {
                replicas: 2,
                min: Some(1),
                max: Some(6)
            }
        );
        assert_eq!(
            reading_from(&doc, "gone").unwrap_err(),
            ActuateError::Rejected {
                status: 404,
                message: "Auto Scaling group \"gone\" not found".into()
            }
        );
        let bad = xml::parse("<R><DescribeAutoScalingGroupsResult><AutoScalingGroups><member><AutoScalingGroupName>web</AutoScalingGroupName><MinSize>1</MinSize><MaxSize>x</MaxSize><DesiredCapacity>2</DesiredCapacity></member></AutoScalingGroups></DescribeAutoScalingGroupsResult></R>").unwrap();
        assert!(
            reading_from(&bad, "web")
                .unwrap_err()
                .to_string()
                .contains("MaxSize \"x\" is not a count")
        );
    }

    #[test]
    fn errors_by_code() {
        let body = |code: &str| {
            format!(
                "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>m &amp; n</Message></Error><RequestId>r</RequestId></ErrorResponse>"
            )
        };
        for (status, code, want) in [
            (
                400,
                "ScalingActivityInProgress",
                ActuateError::Throttled("ScalingActivityInProgress: m & n".into()),
            ),
            (400, "Throttling", ActuateError::Throttled("Throttling: m & n".into())),
            (
                500,
                "ResourceContention",
                ActuateError::Server {
                    status: 500,
                    message: "ResourceContention: m & n".into(),
                },
            ),
            (
                400,
                "ValidationError",
                ActuateError::Rejected {
                    status: 400,
                    message: "ValidationError: m & n".into(),
                },
            ),
            (
                503,
                "ServiceUnavailable",
                ActuateError::Server {
                    status: 503,
                    message: "ServiceUnavailable: m & n".into(),
                },
            ),
            (
                403,
                "SignatureDoesNotMatch",
                ActuateError::Rejected {
                    status: 403,
                    message: "SignatureDoesNotMatch: m & n".into(),
                },
            ),
        ] {
            let text = body(code);
            assert_eq!(classify(status, xml::parse(&text).ok().as_ref(), &text), want, "{code}");
        }
        assert_eq!(
            classify(502, None, " bad gateway "),
            ActuateError::Server {
                status: 502,
                message: "bad gateway".into()
            }
        );
    }

    #[test]
    fn endpoint_and_group_are_checked() {
        let cfg = |endpoint: &str| AwsConfig {
            credentials: sigv4::Credentials {
                access_key_id: "a".into(),
                secret_access_key: "s".into(),
                session_token: None,
            },
            region: "us-east-1".into(),
            endpoint: endpoint.into(),
        };
        assert_eq!(
            AutoScalingClient::new(cfg("http://127.0.0.1:5000/")).unwrap().host,
            "127.0.0.1:5000"
        );
        assert_eq!(
            AutoScalingClient::new(cfg("https://autoscaling.us-east-1.amazonaws.com/"))
                .unwrap()
                .host,
            "autoscaling.us-east-1.amazonaws.com"
        );
        for bad in ["not a url", "ftp://x/", "http://x/?a=b"] {
            assert!(
                AutoScalingClient::new(cfg(bad))
                    .err()
                    .unwrap()
                    .to_string()
                    .contains("endpoint"),
                "{bad}"
            );
        }
        let c = AutoScalingClient::new(cfg("http://127.0.0.1:5000/")).unwrap();
        assert!(AwsAsg::new(c, "").err().unwrap().to_string().contains("group"));
    }
}
