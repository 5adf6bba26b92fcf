//! Plumbing shared by the Kubernetes targets: one mapping from kube-rs errors to
//! [`ActuateError`] classes, and one way to send a prepared request.

use crate::actuate::ActuateError;

/// The field manager SCALE writes as (shows in `managedFields`, so `kubectl` users can see who
/// changed replicas or requests).
pub const FIELD_MANAGER: &str = "scale";

/// The API's `Status` (code + message) decides the class via [`ActuateError::from_status`];
/// connection failures back off; anything else is a client-side failure (status 0) that no
/// retry can fix.
pub fn from_kube(e: kube::Error) -> ActuateError {
    match e {
        kube::Error::Api(s) => {
            let message = if s.message.is_empty() {
                s.reason.clone()
            } else {
                s.message.clone()
            };
            // A Status without a code is still a failure from the server.
            let code = if s.code == 0 { 500 } else { s.code };
            ActuateError::from_status(code, message)
        }
        kube::Error::HyperError(e) => ActuateError::Transport(e.to_string()),
        kube::Error::Service(e) => ActuateError::Transport(e.to_string()),
        kube::Error::ReadEvents(e) => ActuateError::Transport(e.to_string()),
        other => ActuateError::Rejected {
            status: 0,
            message: other.to_string(),
        },
    }
}

/// Request-building failures (an invalid name) are refused before any call.
pub fn from_build(e: kube::core::request::Error) -> ActuateError {
    ActuateError::Refused(e.to_string())
}

/// Patch parameters for every SCALE write: no dry run, SCALE as the field manager.
pub fn patch_params() -> kube::api::PatchParams {
    kube::api::PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    }
}
