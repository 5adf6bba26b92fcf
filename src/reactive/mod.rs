//! Reactive algorithms: what the Kubernetes HPA would recommend from current metrics.

pub mod hpa;
