//! Plan: forecast demand → capacity, horizontal (replicas) and vertical (CPU/memory).

pub mod horizontal;
pub mod vertical;
