//! Cloud VM groups: AWS Auto Scaling groups, GCP managed instance groups, Azure scale sets.

pub mod aws;
pub mod azure;
pub mod gcp;
pub mod http;
