//! The dry-run actuator: records every call and changes nothing outside itself.

use super::Actuator;

#[derive(Debug, Clone, Default)]
pub struct DryRun {
    pub replicas: u32,
    /// Every applied count, in order.
    pub applied: Vec<u32>,
}

impl DryRun {
    pub fn new(replicas: u32) -> Self {
        DryRun {
            replicas,
            applied: vec![],
        }
    }
}

impl Actuator for DryRun {
    fn current(&self) -> u32 {
        self.replicas
    }

    fn apply(&mut self, replicas: u32) -> Result<(), String> {
        self.applied.push(replicas);
        self.replicas = replicas;
        Ok(())
    }
}
