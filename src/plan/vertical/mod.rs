//! Vertical (CPU/memory request) recommender with the Kubernetes VPA recommender's semantics,
//! extended by the forecast, plus a vertical governor. Pure: times are Unix seconds.
//!
//! Semantics follow kubernetes/autoscaler `vertical-pod-autoscaler/pkg/recommender/`:
//! `util/histogram{,_options}.go`, `util/decaying_histogram.go`, `model/aggregations_config.go`,
//! `model/aggregate_container_state.go`, `model/container.go`, `logic/{recommender,estimator}.go`,
//! `config/config.go`, and the updater's `pkg/updater/priority/priority_processor.go`.
//!
//! Deliberate differences (all documented where they apply):
//! - CPU samples are weighted by max(request, 0.1), the VPA rule until Feb 2025; upstream now
//!   uses a constant 0.1 (commit ca812b36a3). Passing `request_cores = 0.0` reproduces that.
//! - Memory peaks are kept per 24 h interval aligned to the Unix epoch (upstream aligns to the
//!   container's first sample) and late samples are merged into their interval, not discarded;
//!   for the same reason an OOM is never dropped as "too old".
//! - One container per recommendation, so the pod minimums are not split across containers.
//!
//! [`histogram`] holds the decaying histograms, [`recommender`] the recommendation; the vertical
//! governor is `govern::vertical`.

pub(crate) mod histogram;
pub mod recommender;
