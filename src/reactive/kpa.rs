//! Knative KPA decider (in progress).
