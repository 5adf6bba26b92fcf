//! Capacity: the queueing model and the latency/capacity fit.

pub mod fit;
pub mod queue;
