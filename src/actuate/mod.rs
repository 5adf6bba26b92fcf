//! Actuators: where governed decisions go. One file per target; the dry-run one records.

pub mod dry_run;

pub use dry_run::DryRun;

/// A scale target. `apply` is only called by the controller when the governor says so.
pub trait Actuator {
    /// Replicas the target has now.
    fn current(&self) -> u32;
    /// Sets the replica count; an error message on failure (the governor then cools down).
    fn apply(&mut self, replicas: u32) -> Result<(), String>;
}
