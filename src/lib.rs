//! SCALE: a predictive autoscaler.
//!
//! The modules are declared in the order data flows: [`observe`] reads demand, [`sample`] keeps
//! the unusual spans, [`forecast`] predicts demand, [`capacity`] models what one replica serves,
//! [`plan`] turns the forecast into replicas, [`reactive`] says what the HPA or KPA would do,
//! [`govern`] clamps the recommendations, [`control`] runs that step, [`actuate`] applies the
//! decision. [`train`] writes the model artifacts the forecast reads; [`sim`] is the simulated
//! cluster; [`serve`] is the live loop; `evaluate` replays the same [`control`] path against the
//! simulator; [`cli`] is the command line.

/// Applies decisions to targets (Kubernetes, Knative, cloud VM groups, the dry run).
pub mod actuate;
/// The queueing model and the latency/capacity fit: demand one replica serves.
pub mod capacity;
/// The `scale` command line, one file per subcommand.
pub mod cli;
/// One control step: observation and forecast → recommendations → governor → decision record.
pub mod control;
/// Shared vocabulary (series, time, reasons, retries); imports nothing else in the crate.
pub mod core;
/// `scale evaluate`: replays a window through the same control path against the simulator.
pub(crate) mod evaluate;
/// Fits model families and forecasts demand with intervals.
pub mod forecast;
/// The governor: the ordered chain of clamps between recommendations and the actuator.
pub mod govern;
/// Where demand comes from: files, Prometheus, OTLP traces, Tempo.
pub mod observe;
/// Forecast demand → replicas (horizontal) and CPU/memory (vertical).
pub mod plan;
/// What the Kubernetes HPA or Knative's KPA would recommend from current metrics.
pub mod reactive;
/// Anomaly-driven span sampling with Half-Space Trees.
pub mod sample;
/// `scale serve`: the live loop, one task per service, with its HTTP API.
pub mod serve;
/// The simulated cluster that policies are replayed against.
pub mod sim;
/// Backtests the families, selects one per service and writes versioned artifacts.
pub mod train;

pub mod error;
pub use error::{Error, Result};
