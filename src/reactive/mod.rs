//! Reactive algorithms: what the Kubernetes HPA or Knative's KPA would recommend from
//! current metrics. Pure: state and time come in as arguments.

pub mod hpa;
pub mod kpa;
pub(crate) mod replay;
pub mod rules;
