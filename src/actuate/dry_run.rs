//! The dry-run target: in memory, every write recorded, nothing changed outside itself.

use crate::actuate::{ActuateError, ScaleReading, ScaleTarget};
use std::sync::Mutex;

/// The dry-run target as a [`ScaleTarget`]: in memory, every write recorded.
pub struct DryRunTarget {
    state: Mutex<(u32, Vec<u32>)>,
    max: Option<u32>,
}

impl DryRunTarget {
    /// A target holding `replicas` that reports `max` as its own maximum, so
    /// [`apply`](crate::actuate::apply) refuses counts above it.
    pub fn new(replicas: u32, max: Option<u32>) -> Self {
        DryRunTarget {
            state: Mutex::new((replicas, vec![])),
            max,
        }
    }

    /// Every written count, in order.
    pub fn applied(&self) -> Vec<u32> {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).1.clone()
    }
}

#[async_trait::async_trait]
impl ScaleTarget for DryRunTarget {
    fn describe(&self) -> String {
        "dry-run".into()
    }
    async fn read(&self) -> std::result::Result<ScaleReading, ActuateError> {
        Ok(ScaleReading {
            replicas: self.state.lock().unwrap_or_else(|e| e.into_inner()).0,
            min: None,
            max: self.max,
        })
    }
    async fn write(&self, replicas: u32) -> std::result::Result<(), ActuateError> {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.0 = replicas;
        s.1.push(replicas);
        Ok(())
    }
}
