//! SCALE: a predictive autoscaler.
//!
//! The flow is observe → forecast → plan → govern → actuate; `evaluate` runs the
//! same plan/govern path (see [`control`]) against a simulated cluster.

pub mod actuate;
pub mod capacity;
pub mod capacity_fit;
pub mod control;
pub mod crd;
pub mod decide;
pub mod demo;
pub mod error;
pub mod evaluate;
pub mod forecast;
pub mod govern;
pub mod keda;
pub mod observe;
pub mod plan;
pub mod reactive;
pub mod rules;
pub mod sample;
pub mod series;
pub mod simulate;
pub mod synth;
pub mod timefmt;
pub mod train;
pub mod vertical;

pub use error::{Error, Result};
pub mod serve;
