//! AWS: Auto Scaling groups over the query API, signed with SigV4.

pub mod asg;
pub mod config;
pub mod sigv4;
pub(crate) mod xml;
