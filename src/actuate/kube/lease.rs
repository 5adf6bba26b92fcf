//! Leader election with a coordination.k8s.io/v1 Lease, so only one SCALE replica actuates.
//!
//! [`decide`] is pure (lease state + identity + now → action); [`LeaderElector`] does the I/O with
//! an injected clock. Writes carry the `resourceVersion` read, so when two replicas race for an
//! expired lease the API server accepts one and answers 409 Conflict to the other, which then
//! follows. Semantics match client-go's `leaderelection`: a lease is free when it has no holder
//! or `renewTime + leaseDurationSeconds` has passed.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kube::api::PostParams;
use kube::core::Request;

use super::api::{from_build, from_kube};
use super::events::micro_time;
use crate::actuate::ActuateError;
use crate::core::time::{SharedClock, SystemClock};

/// What a Lease says, as far as the election cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseState {
    /// `spec.holderIdentity`; None or empty means free.
    pub holder: Option<String>,
    /// `spec.acquireTime`: when the holder took it.
    pub acquire_time: Option<DateTime<Utc>>,
    /// `spec.renewTime`: the holder's last renewal; the lease expires a duration after it.
    pub renew_time: Option<DateTime<Utc>>,
    /// `spec.leaseDurationSeconds`; without it a held lease counts as expired.
    pub duration_seconds: Option<i64>,
    /// `spec.leaseTransitions`: how often the holder changed; 0 when absent.
    pub transitions: i64,
    /// `metadata.resourceVersion`: the precondition of the next write.
    pub resource_version: Option<String>,
}

/// What to do this round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaderAction {
    /// No Lease exists: create it with us as holder.
    Create,
    /// We hold it: bump renewTime.
    Renew,
    /// Free or expired: take it over (leaseTransitions + 1).
    Acquire,
    /// Someone else holds a live lease until `expires`.
    Follow {
        /// The current holder's identity.
        holder: String,
        /// `renewTime` (or `acquireTime`) plus the lease duration.
        expires: DateTime<Utc>,
    },
}

/// Pure election step.
pub fn decide(lease: Option<&LeaseState>, me: &str, now: DateTime<Utc>) -> LeaderAction {
    let Some(lease) = lease else {
        return LeaderAction::Create;
    };
    let holder = lease.holder.as_deref().unwrap_or_default();
    if holder == me {
        return LeaderAction::Renew;
    }
    if holder.is_empty() {
        return LeaderAction::Acquire;
    }
    let last = lease.renew_time.or(lease.acquire_time);
    match (last, lease.duration_seconds) {
        (Some(t), Some(d)) if t + chrono::Duration::seconds(d) > now => LeaderAction::Follow {
            holder: holder.to_string(),
            expires: t + chrono::Duration::seconds(d),
        },
        _ => LeaderAction::Acquire,
    }
}

/// The result of one election round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Leadership {
    /// We hold the lease: actuate.
    Leader,
    /// Someone else holds it: decide but do not actuate.
    Follower {
        /// The leader's identity; None when we lost a race (409) and have not seen the winner yet.
        holder: Option<String>,
    },
}

fn parse_time(v: &serde_json::Value) -> Option<DateTime<Utc>> {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// Reads the fields of a Lease object as the API returns it.
pub fn lease_state(lease: &serde_json::Value) -> LeaseState {
    let spec = &lease["spec"];
    LeaseState {
        holder: spec["holderIdentity"].as_str().map(str::to_string),
        acquire_time: parse_time(&spec["acquireTime"]),
        renew_time: parse_time(&spec["renewTime"]),
        duration_seconds: spec["leaseDurationSeconds"].as_i64(),
        transitions: spec["leaseTransitions"].as_i64().unwrap_or(0),
        resource_version: lease["metadata"]["resourceVersion"].as_str().map(str::to_string),
    }
}

/// One candidate in one election (a Lease name in a namespace).
pub struct LeaderElector {
    client: kube::Client,
    namespace: String,
    lease: String,
    identity: String,
    duration: Duration,
    clock: SharedClock,
}

impl LeaderElector {
    /// `identity`'s candidacy for the Lease `lease` in `namespace`, held for `duration` per
    /// renewal, with `clock` for the lease times.
    pub fn new(
        client: kube::Client,
        namespace: &str,
        lease: &str,
        identity: &str,
        duration: Duration,
        clock: SharedClock,
    ) -> Self {
        LeaderElector {
            client,
            namespace: namespace.into(),
            lease: lease.into(),
            identity: identity.into(),
            duration,
            clock,
        }
    }

    /// With the system clock.
    pub fn with_system_clock(
        client: kube::Client,
        namespace: &str,
        lease: &str,
        identity: &str,
        duration: Duration,
    ) -> Self {
        Self::new(client, namespace, lease, identity, duration, Arc::new(SystemClock))
    }

    fn request(&self) -> Request {
        Request::new(format!(
            "/apis/coordination.k8s.io/v1/namespaces/{}/leases",
            self.namespace
        ))
    }

    /// The Lease we write: ourselves as holder, renewed now.
    pub fn lease_body(
        &self,
        acquire_time: DateTime<Utc>,
        now: DateTime<Utc>,
        transitions: i64,
        rv: Option<&str>,
    ) -> serde_json::Value {
        let mut metadata = serde_json::json!({"name": self.lease, "namespace": self.namespace});
        if let Some(rv) = rv {
            metadata["resourceVersion"] = rv.into();
        }
        serde_json::json!({
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": metadata,
            "spec": {
                "holderIdentity": self.identity,
                "leaseDurationSeconds": self.duration.as_secs(),
                "acquireTime": micro_time(acquire_time),
                "renewTime": micro_time(now),
                "leaseTransitions": transitions,
            }
        })
    }

    /// One round: read the Lease, decide, write if needed. Renew well inside the duration
    /// (client-go renews at 2/3 of it).
    pub async fn try_acquire_or_renew(&self) -> Result<Leadership, ActuateError> {
        let now = self.clock.now_utc();
        let req = self
            .request()
            .get(&self.lease, &Default::default())
            .map_err(from_build)?;
        let current = match self.client.request::<serde_json::Value>(req).await.map_err(from_kube) {
            Ok(v) => Some(lease_state(&v)),
            Err(ActuateError::Rejected { status: 404, .. }) => None,
            Err(e) => return Err(e),
        };
        let write = match decide(current.as_ref(), &self.identity, now) {
            LeaderAction::Follow { holder, .. } => return Ok(Leadership::Follower { holder: Some(holder) }),
            LeaderAction::Create => {
                let body = self.lease_body(now, now, 0, None);
                self.request()
                    .create(&PostParams::default(), serde_json::to_vec(&body).unwrap_or_default())
            }
            action => {
                let cur = current.unwrap_or_else(|| lease_state(&serde_json::Value::Null));
                let (acquired, transitions) = if action == LeaderAction::Renew {
                    (cur.acquire_time.unwrap_or(now), cur.transitions)
                } else {
                    (now, cur.transitions + 1)
                };
                let body = self.lease_body(acquired, now, transitions, cur.resource_version.as_deref());
                self.request().replace(
                    &self.lease,
                    &PostParams::default(),
                    serde_json::to_vec(&body).unwrap_or_default(),
                )
            }
        };
        // 409 on create (AlreadyExists) or replace (stale resourceVersion): another replica won.
        match self
            .client
            .request::<serde_json::Value>(write.map_err(from_build)?)
            .await
            .map_err(from_kube)
        {
            Ok(_) => Ok(Leadership::Leader),
            Err(ActuateError::Conflict(_)) => Ok(Leadership::Follower { holder: None }),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn decide_table() {
        let held = |holder: &str, renew: &str| LeaseState {
            holder: Some(holder.into()),
            acquire_time: Some(t("2026-01-01T00:00:00Z")),
            renew_time: Some(t(renew)),
            duration_seconds: Some(15),
            transitions: 2,
            resource_version: Some("7".into()),
        };
        let now = t("2026-01-01T00:01:00Z");
        let released = LeaseState {
            holder: Some(String::new()),
            ..held("x", "2026-01-01T00:00:59Z")
        };
        let no_duration = LeaseState {
            duration_seconds: None,
            ..held("b", "2026-01-01T00:00:59Z")
        };
        let cases = [
            (None, LeaderAction::Create),
            (Some(held("me", "2026-01-01T00:00:00Z")), LeaderAction::Renew),
            (
                Some(held("b", "2026-01-01T00:00:50Z")),
                LeaderAction::Follow {
                    holder: "b".into(),
                    expires: t("2026-01-01T00:01:05Z"),
                },
            ),
            // Exactly at expiry the lease is free.
            (Some(held("b", "2026-01-01T00:00:45Z")), LeaderAction::Acquire),
            (Some(held("b", "2026-01-01T00:00:10Z")), LeaderAction::Acquire),
            (Some(released), LeaderAction::Acquire),
            (Some(no_duration), LeaderAction::Acquire),
        ];
        for (lease, want) in cases {
            assert_eq!(decide(lease.as_ref(), "me", now), want, "{lease:?}");
        }
    }
}
