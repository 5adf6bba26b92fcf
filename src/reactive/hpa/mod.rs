//! The HPA replica calculation (autoscaling/v2), exactly as the Kubernetes HPA controller's
//! replica calculator does it, for Resource (Utilization, AverageValue), ContainerResource,
//! Pods, Object (Value, AverageValue) and External (Value, AverageValue) metrics, with the
//! maximum across metrics. Pure: pods and metric values come in, a proposal goes out.
//!
//! Rules (Kubernetes docs, "Horizontal Pod Autoscaling → Algorithm details"):
//! desiredReplicas = ceil(currentReplicas × currentMetricValue / desiredMetricValue); no change
//! inside the tolerance (0.1); pods being deleted and failed pods are ignored; pods missing
//! metrics count as 100% of the request (or the target, for raw values) on scale-down and 0% on
//! scale-up; unready pods and pods inside the CPU initialization period count as 0% on scale-up;
//! if that flips the direction of scaling, nothing changes.
//!
//! [`spec`] is the autoscaling/v2 spec as users write it; [`replica`] is the replica calculator
//! (pure arithmetic, as `replica_calculator.go`); [`controller`] is one reconcile with
//! [`behavior`] (as `horizontal.go`).

pub mod behavior;
pub mod controller;
pub mod replica;
pub mod spec;
