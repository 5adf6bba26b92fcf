//! Shared vocabulary; imports nothing else in the crate.

pub(crate) mod quantity;
pub mod reason;
pub mod retry;
pub mod rng;
pub mod series;
pub mod time;

/// Proptest case count: `SCALE_PROPTEST_CASES` (CI runs 1,000,000), else 2,000.
#[cfg(test)]
pub(crate) fn proptest_cases() -> u32 {
    std::env::var("SCALE_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000)
}
