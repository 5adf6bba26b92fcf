//! Actuators: where governed decisions go. Every target (Kubernetes, Knative, cloud VM groups,
//! the dry run) implements [`ScaleTarget`]; [`apply`] is the one place that turns a desired count
//! into calls on it: read, compare, write, with retries by error class. `target` holds the
//! targets' config and builds them.

pub mod cloud;
pub mod dry_run;
pub mod kube;
pub(crate) mod target;

use crate::core::retry::RetryPolicy;
use serde::Serialize;

/// What a live target reports about its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ScaleReading {
    /// Desired/spec replicas as the target's API holds them now.
    pub replicas: u32,
    /// The target's own bounds where it has them (ASG min/max, MIG none).
    pub min: Option<u32>,
    /// The target's own maximum; [`apply`] refuses to write above it.
    pub max: Option<u32>,
}

/// Why a call to a live target failed; the class decides whether [`apply`] retries.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ActuateError {
    /// 409: someone else wrote first. Re-read and retry.
    #[error("conflict: {0}")]
    Conflict(String),
    /// 429 or a provider's throttling code. Back off and retry.
    #[error("throttled: {0}")]
    Throttled(String),
    /// 5xx. Back off and retry.
    #[error("server error {status}: {message}")]
    Server {
        /// The HTTP status, 500–599.
        status: u16,
        /// The API's message.
        message: String,
    },
    /// Other 4xx (404, 403, 422 ...): the decision fails with the API's message.
    #[error("rejected {status}: {message}")]
    Rejected {
        /// The HTTP status.
        status: u16,
        /// The API's message.
        message: String,
    },
    /// Connection, TLS or timeout. Back off and retry.
    #[error("transport: {0}")]
    Transport(String),
    /// Refused before any call (e.g. above the target's own maximum).
    #[error("refused: {0}")]
    Refused(String),
}

impl ActuateError {
    /// Maps an HTTP status and message to its class.
    pub fn from_status(status: u16, message: impl Into<String>) -> Self {
        let message = message.into();
        match status {
            409 => ActuateError::Conflict(message),
            429 => ActuateError::Throttled(message),
            500..=599 => ActuateError::Server { status, message },
            _ => ActuateError::Rejected { status, message },
        }
    }

    fn retry(&self) -> Retry {
        match self {
            ActuateError::Conflict(_) => Retry::Reread,
            ActuateError::Throttled(_) | ActuateError::Server { .. } | ActuateError::Transport(_) => Retry::Backoff,
            ActuateError::Rejected { .. } | ActuateError::Refused(_) => Retry::Never,
        }
    }
}

enum Retry {
    Reread,
    Backoff,
    Never,
}

/// A live target whose replica count SCALE sets.
#[async_trait::async_trait]
pub trait ScaleTarget: Send + Sync {
    /// A short, stable id for logs and records, e.g. `deployment/default/web`.
    fn describe(&self) -> String;
    /// The current replica count and the target's own bounds.
    async fn read(&self) -> Result<ScaleReading, ActuateError>;
    /// Sets the replica count; one API call, no retries (those are [`apply`]'s).
    async fn write(&self, replicas: u32) -> Result<(), ActuateError>;
}

/// Serialized as its one-line message, as the decision record shows it.
impl Serialize for ActuateError {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// What happened to one decision at a live target; goes into the decision record.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// The target already had the desired count: nothing was written.
    Unchanged {
        /// The count the target has, and was asked for.
        replicas: u32,
    },
    /// The target now has the desired count.
    Applied {
        /// The count read before the last write.
        from: u32,
        /// The desired count.
        to: u32,
        /// Writes made, retries included.
        attempts: u32,
    },
    /// The decision could not be applied.
    Failed {
        /// The last error.
        error: ActuateError,
        /// Writes made before giving up; 0 when refused or the read failed.
        attempts: u32,
    },
}

/// Reads, compares and writes `desired`, retrying by error class: 409 re-reads, 429/5xx/transport
/// back off, other errors fail at once. Never writes when the target already matches, so a
/// repeated decision is a no-op.
pub async fn apply(target: &dyn ScaleTarget, desired: u32, policy: &RetryPolicy) -> Outcome {
    let mut writes = 0u32;
    let mut backoffs = 0u32;
    loop {
        let reading = match target.read().await {
            Ok(r) => r,
            Err(e) => match e.retry() {
                Retry::Never => {
                    return Outcome::Failed {
                        error: e,
                        attempts: writes,
                    };
                }
                _ if backoffs + 1 >= policy.attempts => {
                    return Outcome::Failed {
                        error: e,
                        attempts: writes,
                    };
                }
                _ => {
                    tokio::time::sleep(policy.delay(backoffs)).await;
                    backoffs += 1;
                    continue;
                }
            },
        };
        if reading.replicas == desired {
            return if writes == 0 {
                Outcome::Unchanged { replicas: desired }
            } else {
                Outcome::Applied {
                    from: reading.replicas,
                    to: desired,
                    attempts: writes,
                }
            };
        }
        if let Some(max) = reading.max.filter(|&m| desired > m) {
            return Outcome::Failed {
                error: ActuateError::Refused(format!("{desired} replicas is above the target's maximum {max}")),
                attempts: writes,
            };
        }
        writes += 1;
        match target.write(desired).await {
            Ok(()) => {
                return Outcome::Applied {
                    from: reading.replicas,
                    to: desired,
                    attempts: writes,
                };
            }
            Err(e) => {
                let retry = e.retry();
                if matches!(retry, Retry::Never) || writes >= policy.attempts {
                    return Outcome::Failed {
                        error: e,
                        attempts: writes,
                    };
                }
                if matches!(retry, Retry::Backoff) {
                    tokio::time::sleep(policy.delay(backoffs)).await;
                    backoffs += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A target that answers from a script of write results, and records every call.
    struct Scripted {
        replicas: Mutex<u32>,
        max: Option<u32>,
        writes: Mutex<Vec<Result<(), ActuateError>>>,
        calls: Mutex<Vec<String>>,
    }

    #[async_trait::async_trait]
    impl ScaleTarget for Scripted {
        fn describe(&self) -> String {
            "scripted".into()
        }
        async fn read(&self) -> Result<ScaleReading, ActuateError> {
            self.calls.lock().unwrap().push("read".into());
            Ok(ScaleReading {
                replicas: *self.replicas.lock().unwrap(),
                min: None,
                max: self.max,
            })
        }
        async fn write(&self, replicas: u32) -> Result<(), ActuateError> {
            self.calls.lock().unwrap().push(format!("write {replicas}"));
            let mut script = self.writes.lock().unwrap();
            let result = if script.is_empty() { Ok(()) } else { script.remove(0) };
            if result.is_ok() {
                *self.replicas.lock().unwrap() = replicas;
            }
            result
        }
    }

    #[tokio::test(start_paused = true)]
    async fn apply_by_error_class() {
        let conflict = || Err(ActuateError::from_status(409, "modified"));
        let throttled = || Err(ActuateError::from_status(429, "slow down"));
        let server = || Err(ActuateError::from_status(503, "unavailable"));
        let not_found = || Err(ActuateError::from_status(404, "deployments.apps \"web\" not found"));
        // (start, max, script, desired, expected outcome, expected calls)
        type Case = (
            u32,
            Option<u32>,
            Vec<Result<(), ActuateError>>,
            u32,
            Outcome,
            Vec<&'static str>,
        );
        let cases: Vec<Case> = vec![
            (3, None, vec![], 3, Outcome::Unchanged { replicas: 3 }, vec!["read"]),
            (
                3,
                None,
                vec![],
                5,
                Outcome::Applied {
                    from: 3,
                    to: 5,
                    attempts: 1,
                },
                vec!["read", "write 5"],
            ),
            (
                3,
                None,
                vec![conflict()],
                5,
                Outcome::Applied {
                    from: 3,
                    to: 5,
                    attempts: 2,
                },
                vec!["read", "write 5", "read", "write 5"],
            ),
            (
                3,
                None,
                vec![throttled(), server()],
                4,
                Outcome::Applied {
                    from: 3,
                    to: 4,
                    attempts: 3,
                },
                vec!["read", "write 4", "read", "write 4", "read", "write 4"],
            ),
            (
                3,
                None,
                vec![not_found()],
                4,
                Outcome::Failed {
                    error: ActuateError::Rejected {
                        status: 404,
                        message: "deployments.apps \"web\" not found".into(),
                    },
                    attempts: 1,
                },
                vec!["read", "write 4"],
            ),
            (
                3,
                Some(10),
                vec![],
                11,
                Outcome::Failed {
                    error: ActuateError::Refused("11 replicas is above the target's maximum 10".into()),
                    attempts: 0,
                },
                vec!["read"],
            ),
            (
                3,
                None,
                (0..5).map(|_| server()).collect(),
                4,
                Outcome::Failed {
                    error: ActuateError::Server {
                        status: 503,
                        message: "unavailable".into(),
                    },
                    attempts: 5,
                },
                ["read", "write 4"].repeat(5),
            ),
        ];
        for (start, max, script, desired, want, want_calls) in cases {
            let t = Scripted {
                replicas: Mutex::new(start),
                max,
                writes: Mutex::new(script),
                calls: Mutex::new(vec![]),
            };
            let got = apply(&t, desired, &RetryPolicy::default()).await;
            assert_eq!(got, want);
            assert_eq!(*t.calls.lock().unwrap(), want_calls);
        }
    }
}
