//! SCALE: a predictive autoscaler.
//!
//! The flow is observe → forecast → plan → govern → actuate; `evaluate` runs the
//! same plan/govern path (see [`control`]) against a simulated cluster.

pub mod actuate;
pub mod capacity;
pub mod cli;
pub mod control;
pub mod core;
pub(crate) mod evaluate;
pub mod forecast;
pub mod govern;
pub mod observe;
pub mod plan;
pub mod reactive;
pub mod sample;
pub mod serve;
pub mod sim;
pub mod train;

pub mod error;
pub use error::{Error, Result};
