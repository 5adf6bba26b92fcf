//! Kubernetes actuators: the `/scale` subresource, Knative, in-place resize, Events, the Lease.

pub(crate) mod api;
pub mod events;
pub mod knative;
pub mod lease;
pub mod resize;
pub mod scale;
