//! Where a service's decisions go (`[service.target]`, docs/serve.md): the target's config,
//! tagged by `kind`, its validation, and building the live [`ScaleTarget`] from it.

use crate::actuate::ScaleTarget;
use crate::actuate::cloud::aws::asg::{AutoScalingClient, AwsAsg};
use crate::actuate::cloud::aws::config::AwsConfig;
use crate::actuate::cloud::azure::{ARM_BASE, AzureVmss};
use crate::actuate::cloud::gcp::{COMPUTE_BASE, GcpMig, MigLocation};
use crate::actuate::dry_run::DryRunTarget;
use crate::actuate::kube::events::ObjectRef;
use crate::actuate::kube::knative::KnativeService;
use crate::actuate::kube::scale::{KubeScale, ScalableKind};
use crate::{Error, Result};
use serde::Deserialize;
use std::sync::Arc;

/// Where decisions go. Tagged by `kind`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum TargetConfig {
    /// Records decisions; `replicas` is the starting size, `max_replicas` stands in for a
    /// group's own maximum.
    DryRun {
        replicas: u32,
        #[serde(default)]
        max_replicas: Option<u32>,
    },
    /// The `scale` subresource of any scalable resource.
    Kubernetes {
        namespace: String,
        scale_target_ref: ScaleTargetRef,
    },
    /// A Knative Service's min-scale/initial-scale annotations.
    Knative { namespace: String, name: String },
    /// An EC2 Auto Scaling group; credentials as the AWS CLI finds them.
    AwsAsg {
        group: String,
        #[serde(default)]
        region: Option<String>,
        #[serde(default)]
        profile: Option<String>,
        #[serde(default)]
        endpoint: Option<String>,
    },
    /// A GCP managed instance group (zonal or regional).
    GcpMig {
        project: String,
        #[serde(default)]
        zone: Option<String>,
        #[serde(default)]
        region: Option<String>,
        name: String,
        #[serde(default)]
        endpoint: Option<String>,
    },
    /// An Azure virtual machine scale set.
    AzureVmss {
        subscription: String,
        resource_group: String,
        name: String,
        #[serde(default)]
        endpoint: Option<String>,
    },
}

/// An HPA-style reference; `plural` is needed only for custom resources.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScaleTargetRef {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    #[serde(default)]
    pub plural: Option<String>,
}

impl ScaleTargetRef {
    pub fn scalable_kind(&self) -> std::result::Result<ScalableKind, String> {
        match &self.plural {
            Some(p) => {
                let (group, version) = match self.api_version.split_once('/') {
                    Some((g, v)) => (g, v),
                    None => ("", self.api_version.as_str()),
                };
                Ok(ScalableKind::custom(group, version, &self.kind, p))
            }
            None => ScalableKind::from_ref(&self.api_version, &self.kind).map_err(|e| e.to_string()),
        }
    }
}

fn dns_name(field: &str, v: &str) -> Result<()> {
    let ok = !v.is_empty()
        && v.len() <= 253
        && v.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && !v.starts_with(['-', '.'])
        && !v.ends_with(['-', '.']);
    if ok {
        Ok(())
    } else {
        Err(Error::config(field, format!("{v:?} is not a Kubernetes object name")))
    }
}

fn non_empty(field: &str, v: &str) -> Result<()> {
    if v.trim().is_empty() {
        Err(Error::config(field, "is empty"))
    } else {
        Ok(())
    }
}

fn url(field: &str, v: &Option<String>) -> Result<()> {
    if let Some(u) = v {
        crate::observe::http::parse_base_url(field, u)?;
    }
    Ok(())
}

impl TargetConfig {
    /// Checks values serde cannot; `at` is the field path, e.g. `service[0].target`.
    pub fn validate(&self, at: &str, min: u32) -> Result<()> {
        let f = |n: &str| format!("{at}.{n}");
        match self {
            TargetConfig::DryRun { max_replicas, .. } => {
                if let Some(m) = max_replicas
                    && (*m == 0 || *m < min)
                {
                    return Err(Error::config(
                        f("max_replicas"),
                        format!("must be at least 1 and at least min_replicas ({min}), got {m}"),
                    ));
                }
            }
            TargetConfig::Kubernetes {
                namespace,
                scale_target_ref: r,
            } => {
                dns_name(&f("namespace"), namespace)?;
                dns_name(&f("scale_target_ref.name"), &r.name)?;
                non_empty(&f("scale_target_ref.api_version"), &r.api_version)?;
                non_empty(&f("scale_target_ref.kind"), &r.kind)?;
                if let Some(p) = &r.plural {
                    dns_name(&f("scale_target_ref.plural"), p)?;
                }
                r.scalable_kind()
                    .map_err(|m| Error::config(f("scale_target_ref.kind"), m))?;
            }
            TargetConfig::Knative { namespace, name } => {
                dns_name(&f("namespace"), namespace)?;
                dns_name(&f("name"), name)?;
            }
            TargetConfig::AwsAsg {
                group,
                region,
                profile,
                endpoint,
            } => {
                if group.is_empty() || group.len() > 255 {
                    return Err(Error::config(f("group"), format!("{group:?}: want 1-255 characters")));
                }
                if let Some(r) = region
                    && (r.is_empty() || !r.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
                {
                    return Err(Error::config(f("region"), format!("{r:?} is not a region name")));
                }
                if let Some(p) = profile {
                    non_empty(&f("profile"), p)?;
                }
                url(&f("endpoint"), endpoint)?;
            }
            TargetConfig::GcpMig {
                project,
                zone,
                region,
                name,
                endpoint,
            } => {
                non_empty(&f("project"), project)?;
                non_empty(&f("name"), name)?;
                match (zone, region) {
                    (Some(z), None) => non_empty(&f("zone"), z)?,
                    (None, Some(r)) => non_empty(&f("region"), r)?,
                    _ => return Err(Error::config(f("zone"), "give exactly one of zone or region")),
                }
                url(&f("endpoint"), endpoint)?;
            }
            TargetConfig::AzureVmss {
                subscription,
                resource_group,
                name,
                endpoint,
            } => {
                non_empty(&f("subscription"), subscription)?;
                non_empty(&f("resource_group"), resource_group)?;
                non_empty(&f("name"), name)?;
                url(&f("endpoint"), endpoint)?;
            }
        }
        Ok(())
    }

    /// The `target` label in /metrics.
    pub fn label(&self) -> &'static str {
        match self {
            TargetConfig::DryRun { .. } => "dry-run",
            TargetConfig::Kubernetes { .. } => "kubernetes",
            TargetConfig::Knative { .. } => "knative",
            TargetConfig::AwsAsg { .. } => "aws-asg",
            TargetConfig::GcpMig { .. } => "gcp-mig",
            TargetConfig::AzureVmss { .. } => "azure-vmss",
        }
    }

    pub fn needs_kube(&self) -> bool {
        matches!(self, TargetConfig::Kubernetes { .. } | TargetConfig::Knative { .. })
    }

    /// The object Kubernetes Events are about, for Kubernetes targets.
    pub fn regarding(&self) -> Option<ObjectRef> {
        match self {
            TargetConfig::Kubernetes {
                namespace,
                scale_target_ref: r,
            } => Some(ObjectRef {
                api_version: r.api_version.clone(),
                kind: r.kind.clone(),
                namespace: namespace.clone(),
                name: r.name.clone(),
            }),
            TargetConfig::Knative { namespace, name } => Some(ObjectRef {
                api_version: "serving.knative.dev/v1".into(),
                kind: "Service".into(),
                namespace: namespace.clone(),
                name: name.clone(),
            }),
            _ => None,
        }
    }
}

/// AWS settings: the file's fields override the matching environment variables.
fn aws_config(region: &Option<String>, profile: &Option<String>, endpoint: &Option<String>) -> Result<AwsConfig> {
    AwsConfig::resolve(&|k| {
        let over = match k {
            "AWS_REGION" => region.clone(),
            "AWS_PROFILE" => profile.clone(),
            "AWS_ENDPOINT_URL_AUTO_SCALING" => endpoint.clone(),
            _ => None,
        };
        over.or_else(|| std::env::var(k).ok().filter(|v| !v.is_empty()))
    })
}

/// Builds the live target. `kube` is the client Kubernetes targets use.
pub fn build(t: &TargetConfig, at: &str, kube: Option<&kube::Client>) -> Result<Arc<dyn ScaleTarget>> {
    let need_kube = || {
        kube.cloned()
            .ok_or_else(|| Error::config(at.to_string(), "no Kubernetes client (in-cluster or kubeconfig)"))
    };
    let named = |e: Error| match e {
        Error::Config { field, message, .. } => Error::config(format!("{at}.{field}"), message),
        other => other,
    };
    Ok(match t {
        TargetConfig::DryRun { replicas, max_replicas } => Arc::new(DryRunTarget::new(*replicas, *max_replicas)),
        TargetConfig::Kubernetes {
            namespace,
            scale_target_ref: r,
        } => {
            let kind = r
                .scalable_kind()
                .map_err(|m| Error::config(format!("{at}.scale_target_ref.kind"), m))?;
            Arc::new(KubeScale::new(need_kube()?, namespace, kind, &r.name))
        }
        TargetConfig::Knative { namespace, name } => Arc::new(KnativeService::new(need_kube()?, namespace, name)),
        TargetConfig::AwsAsg {
            group,
            region,
            profile,
            endpoint,
        } => {
            let client =
                AutoScalingClient::new(aws_config(region, profile, endpoint).map_err(named)?).map_err(named)?;
            Arc::new(AwsAsg::new(client, group).map_err(named)?)
        }
        TargetConfig::GcpMig {
            project,
            zone,
            region,
            name,
            endpoint,
        } => {
            let loc = match (zone, region) {
                (Some(z), _) => MigLocation::Zone(z.clone()),
                (None, Some(r)) => MigLocation::Region(r.clone()),
                (None, None) => {
                    return Err(Error::config(
                        format!("{at}.zone"),
                        "give exactly one of zone or region",
                    ));
                }
            };
            let base = endpoint.as_deref().unwrap_or(COMPUTE_BASE);
            Arc::new(GcpMig::new(base, project, loc, name, GcpMig::token_from_env()).map_err(named)?)
        }
        TargetConfig::AzureVmss {
            subscription,
            resource_group,
            name,
            endpoint,
        } => {
            let base = endpoint.as_deref().unwrap_or(ARM_BASE);
            Arc::new(
                AzureVmss::new(base, subscription, resource_group, name, AzureVmss::token_from_env()).map_err(named)?,
            )
        }
    })
}
