//! Latency rules: the seed system's `LatencyBasedAutoScaler` files, evaluated against per-window
//! span latencies, recommending replicas that go through the governor like any other
//! recommendation. `spec` parses and validates, `eval` decides (pure), `reload` hot-swaps the set.

pub mod eval;
pub(crate) mod reload;
pub mod spec;

pub use eval::{Action, Observation, Recommendation, evaluate};
pub use reload::{Reloader, RuleSet};
pub use spec::{Rule, load_rules, parse_rules};
