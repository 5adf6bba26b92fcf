//! Plan: forecast demand → capacity, horizontal (replicas) and vertical (CPU/memory).

pub(crate) mod horizontal;
pub mod vertical;
