//! The HPA's `behavior` (autoscaling/v2), exactly as the Kubernetes HPA controller applies it:
//! stabilization over past recommendations, then rate limits over past scale events, with the
//! min/max clamps folded into the rate step (`normalizeDesiredReplicasWithBehaviors`).
//! Rules cited in tests refer to the Kubernetes docs, "Horizontal Pod Autoscaling →
//! Configurable scaling behavior".

use crate::core::quantity::Quantity;
use crate::core::reason::{Reason, Step};
use serde::{Deserialize, Serialize};

/// `spec.behavior` as users write it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HpaBehavior {
    /// `scaleUp`; unset fields take the defaults of [`BehaviorConfig::from_spec`].
    #[serde(default)]
    pub scale_up: Option<HpaScalingRules>,
    /// `scaleDown`; unset fields take the defaults of [`BehaviorConfig::from_spec`].
    #[serde(default)]
    pub scale_down: Option<HpaScalingRules>,
}

/// `HPAScalingRules`: one direction's stabilization window and rate limits, as written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HpaScalingRules {
    /// `stabilizationWindowSeconds`, in [0, 3600]; defaults to 0 up and 300 down.
    #[serde(default)]
    pub stabilization_window_seconds: Option<i64>,
    /// `selectPolicy`; defaults to Max.
    #[serde(default)]
    pub select_policy: Option<SelectPolicy>,
    /// `policies`; when set, at least one, replacing the defaults rather than adding to them.
    #[serde(default)]
    pub policies: Option<Vec<HpaScalingPolicy>>,
    /// Per-direction tolerance (Kubernetes 1.33+, alpha); the controller's default otherwise.
    #[serde(default)]
    pub tolerance: Option<Quantity>,
}

/// `selectPolicy`: which policy's limit wins when several apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SelectPolicy {
    /// The policy allowing the largest change.
    Max,
    /// The policy allowing the smallest change.
    Min,
    /// No scaling in this direction.
    Disabled,
}

/// `HPAScalingPolicyType`: how a policy's `value` limits the change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PolicyType {
    /// At most `value` pods per period.
    Pods,
    /// At most `value` percent of the count at the period's start.
    Percent,
}

/// `HPAScalingPolicy`: a limit on the change over a sliding period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HpaScalingPolicy {
    /// `type`: pods or percent.
    #[serde(rename = "type")]
    pub kind: PolicyType,
    /// Pods or percent per period, greater than 0.
    pub value: i64,
    /// `periodSeconds`: the sliding window the change is summed over, in [1, 1800].
    pub period_seconds: i64,
}

/// One direction's rules after API defaulting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rules {
    /// Recommendations this many seconds back are considered (the highest for scale-down, the
    /// lowest for scale-up).
    pub stabilization_window_seconds: i64,
    /// Which policy's limit applies.
    pub select_policy: SelectPolicy,
    /// The rate limits; never empty after validation.
    pub policies: Vec<HpaScalingPolicy>,
    /// This direction's tolerance; `None` uses the controller's.
    pub tolerance: Option<f64>,
}

/// Both directions after defaulting: what the controller runs with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BehaviorConfig {
    /// Rules when the recommendation is above the current count.
    pub scale_up: Rules,
    /// Rules when the recommendation is below the current count.
    pub scale_down: Rules,
}

impl Default for BehaviorConfig {
    fn default() -> Self {
        BehaviorConfig::from_spec(None).expect("defaults are valid")
    }
}

impl BehaviorConfig {
    /// Applies the API server's defaults (SetDefaults_HorizontalPodAutoscalerBehavior):
    /// up: no window, Max of {4 pods, 100%} per 15 s; down: 300 s window, 100% per 15 s.
    /// Then validates as the API server does; errors name the field path.
    pub fn from_spec(b: Option<&HpaBehavior>) -> Result<Self, String> {
        let up_default = vec![
            HpaScalingPolicy {
                kind: PolicyType::Pods,
                value: 4,
                period_seconds: 15,
            },
            HpaScalingPolicy {
                kind: PolicyType::Percent,
                value: 100,
                period_seconds: 15,
            },
        ];
        let down_default = vec![HpaScalingPolicy {
            kind: PolicyType::Percent,
            value: 100,
            period_seconds: 15,
        }];
        let up = b.and_then(|b| b.scale_up.as_ref());
        let down = b.and_then(|b| b.scale_down.as_ref());
        let cfg = BehaviorConfig {
            scale_up: defaulted(up, 0, up_default),
            scale_down: defaulted(down, 300, down_default),
        };
        validate_rules("behavior.scaleUp", &cfg.scale_up)?;
        validate_rules("behavior.scaleDown", &cfg.scale_down)?;
        Ok(cfg)
    }

    fn longest_period(&self) -> i64 {
        self.scale_up
            .policies
            .iter()
            .chain(&self.scale_down.policies)
            .map(|p| p.period_seconds)
            .max()
            .unwrap_or(0)
    }

    fn longest_window(&self) -> i64 {
        self.scale_up
            .stabilization_window_seconds
            .max(self.scale_down.stabilization_window_seconds)
    }
}

fn defaulted(r: Option<&HpaScalingRules>, window: i64, policies: Vec<HpaScalingPolicy>) -> Rules {
    Rules {
        stabilization_window_seconds: r.and_then(|r| r.stabilization_window_seconds).unwrap_or(window),
        select_policy: r.and_then(|r| r.select_policy).unwrap_or(SelectPolicy::Max),
        policies: r.and_then(|r| r.policies.clone()).unwrap_or(policies),
        tolerance: r.and_then(|r| r.tolerance).map(|q| q.0),
    }
}

fn validate_rules(path: &str, r: &Rules) -> Result<(), String> {
    if !(0..=3600).contains(&r.stabilization_window_seconds) {
        return Err(format!(
            "{path}.stabilizationWindowSeconds: must be in [0, 3600], got {}",
            r.stabilization_window_seconds
        ));
    }
    if r.policies.is_empty() {
        return Err(format!("{path}.policies: must specify at least one Policy"));
    }
    for (i, p) in r.policies.iter().enumerate() {
        if p.value <= 0 {
            return Err(format!(
                "{path}.policies[{i}].value: must be greater than zero, got {}",
                p.value
            ));
        }
        if !(1..=1800).contains(&p.period_seconds) {
            return Err(format!(
                "{path}.policies[{i}].periodSeconds: must be in [1, 1800], got {}",
                p.period_seconds
            ));
        }
    }
    if let Some(t) = r.tolerance
        && t < 0.0
    {
        return Err(format!("{path}.tolerance: must be non-negative, got {t}"));
    }
    Ok(())
}

/// The controller's memory for one target: past recommendations and scale events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BehaviorState {
    /// (time in seconds, recommended replicas), for the stabilization windows.
    pub recommendations: Vec<(i64, u32)>,
    /// (time, replicas added) and (time, replicas removed), both positive.
    pub up_events: Vec<(i64, u32)>,
    /// (time, replicas removed); see `up_events`.
    pub down_events: Vec<(i64, u32)>,
    /// Whether the scale-down window has been seeded (maybeInitScaleDownStabilizationWindow).
    pub initialized: bool,
}

/// Reasons, named as the HPA's conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Limit {
    /// Nothing clamped the stabilized count.
    DesiredWithinRange,
    /// Raised to the minimum replicas.
    TooFewReplicas,
    /// Lowered to the maximum replicas.
    TooManyReplicas,
    /// Held back by the scale-up policies.
    ScaleUpLimit,
    /// Held back by the scale-down policies.
    ScaleDownLimit,
}

/// The AbleToScale reason of the stabilization step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Stabilization {
    /// The recommendation passed the windows unchanged.
    ReadyForNewScale,
    /// A lower recommendation in the scale-up window held the count down.
    ScaleUpStabilized,
    /// A higher recommendation in the scale-down window held the count up.
    ScaleDownStabilized,
}

/// The result of [`normalize`]: the count after each step and why it changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Normalized {
    /// The count after the stabilization windows.
    pub stabilized: u32,
    /// Whether, and which, window changed the recommendation.
    pub stabilization: Stabilization,
    /// The count after rate limits and min/max: what to scale to.
    pub desired: u32,
    /// Which clamp set `desired`, if any.
    pub limit: Limit,
}

impl BehaviorState {
    /// Seeds the down window with the current count on first use, as the controller does,
    /// so a freshly started autoscaler does not scale down at once.
    pub fn maybe_init(&mut self, cfg: &BehaviorConfig, now: i64, current: u32) {
        if !self.initialized {
            self.initialized = true;
            if self.recommendations.is_empty() && cfg.scale_down.stabilization_window_seconds > 0 {
                self.recommendations.push((now, current));
            }
        }
    }

    /// Records an applied scaling (storeScaleEvent).
    pub fn record_scale(&mut self, now: i64, from: u32, to: u32) {
        if to > from {
            self.up_events.push((now, to - from));
        } else if to < from {
            self.down_events.push((now, from - to));
        }
    }

    /// Drops entries no window or period can read any more.
    fn prune(&mut self, cfg: &BehaviorConfig, now: i64) {
        let rec_cut = now - cfg.longest_window();
        self.recommendations.retain(|(t, _)| *t > rec_cut);
        let ev_cut = now - cfg.longest_period();
        self.up_events.retain(|(t, _)| *t > ev_cut);
        self.down_events.retain(|(t, _)| *t > ev_cut);
    }
}

/// Stabilization then rate limits and bounds (the HPA's normalizeDesiredReplicasWithBehaviors).
/// Records `desired` as a recommendation. Does not record a scale event: call
/// [`BehaviorState::record_scale`] once the change is applied.
pub fn normalize(
    cfg: &BehaviorConfig,
    state: &mut BehaviorState,
    now: i64,
    min: u32,
    max: u32,
    current: u32,
    desired: u32,
) -> Normalized {
    normalize_holding(cfg, state, now, (min, max), current, desired, desired)
}

/// [`normalize`], but the stabilization windows remember `held` instead of `desired`: the
/// predictive path stabilizes on its reactive floor, so a forecast peak that passed is not held.
/// With `held == desired` this is exactly the HPA's normalization.
pub fn normalize_holding(
    cfg: &BehaviorConfig,
    state: &mut BehaviorState,
    now: i64,
    (min, max): (u32, u32),
    current: u32,
    desired: u32,
    held: u32,
) -> Normalized {
    state.maybe_init(cfg, now, current);
    let (stabilized, stabilization) = stabilize(cfg, state, now, current, desired, held);
    state.prune(cfg, now);
    let (limited, limit) = rate_limit(cfg, state, now, min, max, current, stabilized);
    Normalized {
        stabilized,
        stabilization,
        desired: limited,
        limit,
    }
}

fn stabilize(
    cfg: &BehaviorConfig,
    state: &mut BehaviorState,
    now: i64,
    current: u32,
    desired: u32,
    held: u32,
) -> (u32, Stabilization) {
    let up_cut = now - cfg.scale_up.stabilization_window_seconds;
    let down_cut = now - cfg.scale_down.stabilization_window_seconds;
    let (mut up_rec, mut down_rec) = (desired, desired);
    for &(t, r) in &state.recommendations {
        if t > up_cut {
            up_rec = up_rec.min(r);
        }
        if t > down_cut {
            down_rec = down_rec.max(r);
        }
    }
    let stabilized = current.max(up_rec).min(down_rec);
    state.recommendations.push((now, held));
    let reason = if stabilized == desired {
        Stabilization::ReadyForNewScale
    } else if desired >= current {
        Stabilization::ScaleUpStabilized
    } else {
        Stabilization::ScaleDownStabilized
    };
    (stabilized, reason)
}

/// Sum of changes inside `(now - period, now]`.
fn changed(events: &[(i64, u32)], now: i64, period: i64) -> i64 {
    events
        .iter()
        .filter(|(t, _)| *t > now - period)
        .map(|(_, c)| *c as i64)
        .sum()
}

fn period_start(state: &BehaviorState, now: i64, current: u32, period: i64) -> i64 {
    current as i64 - changed(&state.up_events, now, period) + changed(&state.down_events, now, period)
}

/// calculateScaleUpLimitWithScalingRules.
pub fn scale_up_limit(rules: &Rules, state: &BehaviorState, now: i64, current: u32) -> i64 {
    let proposals = rules.policies.iter().map(|p| {
        let start = period_start(state, now, current, p.period_seconds);
        match p.kind {
            PolicyType::Pods => start + p.value,
            // rounded up, or a small target could never grow
            PolicyType::Percent => (start as f64 * (1.0 + p.value as f64 / 100.0)).ceil() as i64,
        }
    });
    match rules.select_policy {
        SelectPolicy::Disabled => current as i64,
        SelectPolicy::Min => proposals.min().unwrap_or(current as i64),
        SelectPolicy::Max => proposals.max().unwrap_or(current as i64),
    }
}

/// calculateScaleDownLimitWithBehaviors.
pub fn scale_down_limit(rules: &Rules, state: &BehaviorState, now: i64, current: u32) -> i64 {
    let proposals = rules.policies.iter().map(|p| {
        let start = period_start(state, now, current, p.period_seconds);
        match p.kind {
            PolicyType::Pods => start - p.value,
            // truncated, as the controller converts to int32
            PolicyType::Percent => (start as f64 * (1.0 - p.value as f64 / 100.0)) as i64,
        }
    });
    match rules.select_policy {
        SelectPolicy::Disabled => current as i64,
        // for scale-down the smallest change is the highest floor
        SelectPolicy::Min => proposals.max().unwrap_or(current as i64),
        SelectPolicy::Max => proposals.min().unwrap_or(current as i64),
    }
}

fn rate_limit(
    cfg: &BehaviorConfig,
    state: &BehaviorState,
    now: i64,
    min: u32,
    max: u32,
    current: u32,
    desired: u32,
) -> (u32, Limit) {
    if desired > current {
        let limit = scale_up_limit(&cfg.scale_up, state, now, current).max(current as i64);
        let (allowed, reason) = if max as i64 > limit {
            (limit, Limit::ScaleUpLimit)
        } else {
            (max as i64, Limit::TooManyReplicas)
        };
        if desired as i64 > allowed {
            return (allowed as u32, reason);
        }
    } else if desired < current {
        let limit = scale_down_limit(&cfg.scale_down, state, now, current).min(current as i64);
        let (allowed, reason) = if (min as i64) < limit {
            (limit, Limit::ScaleDownLimit)
        } else {
            (min as i64, Limit::TooFewReplicas)
        };
        if (desired as i64) < allowed {
            return (allowed.max(0) as u32, reason);
        }
    }
    (desired, Limit::DesiredWithinRange)
}

impl From<Limit> for Reason {
    fn from(l: Limit) -> Self {
        match l {
            Limit::DesiredWithinRange => Reason::DesiredWithinRange,
            Limit::TooFewReplicas => Reason::TooFewReplicas,
            Limit::TooManyReplicas => Reason::TooManyReplicas,
            Limit::ScaleUpLimit => Reason::ScaleUpLimit,
            Limit::ScaleDownLimit => Reason::ScaleDownLimit,
        }
    }
}

impl From<Stabilization> for Reason {
    fn from(s: Stabilization) -> Self {
        match s {
            Stabilization::ReadyForNewScale => Reason::DesiredWithinRange,
            Stabilization::ScaleUpStabilized => Reason::ScaleUpStabilized,
            Stabilization::ScaleDownStabilized => Reason::ScaleDownStabilized,
        }
    }
}

/// The decision-record steps of one behavior normalization: stabilization, then rate limit.
pub fn normalized_steps(n: &Normalized) -> [Step; 2] {
    [
        Step::new("stabilization", n.stabilized, n.stabilization.into()),
        Step::new("rate_limit", n.desired, n.limit.into()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pol(kind: PolicyType, value: i64, period_seconds: i64) -> HpaScalingPolicy {
        HpaScalingPolicy {
            kind,
            value,
            period_seconds,
        }
    }

    fn rules(window: i64, select: SelectPolicy, policies: Vec<HpaScalingPolicy>) -> HpaScalingRules {
        HpaScalingRules {
            stabilization_window_seconds: Some(window),
            select_policy: Some(select),
            policies: Some(policies),
            tolerance: None,
        }
    }

    struct Case {
        doc: &'static str,
        behavior: Option<HpaBehavior>,
        min: u32,
        max: u32,
        /// (time, current, recommended) ticks; each applied result is recorded as a scale event.
        ticks: Vec<(i64, u32, u32)>,
        want: u32,
        limit: Limit,
    }

    fn run(c: &Case) -> Normalized {
        let cfg = BehaviorConfig::from_spec(c.behavior.as_ref()).unwrap();
        let mut st = BehaviorState::default();
        let mut last = None;
        for &(t, cur, rec) in &c.ticks {
            let n = normalize(&cfg, &mut st, t, c.min, c.max, cur, rec);
            st.record_scale(t, cur, n.desired);
            last = Some(n);
        }
        last.unwrap()
    }

    #[test]
    fn behavior_table() {
        use PolicyType::*;
        let down = |r| {
            Some(HpaBehavior {
                scale_up: None,
                scale_down: Some(r),
            })
        };
        let up = |r| {
            Some(HpaBehavior {
                scale_up: Some(r),
                scale_down: None,
            })
        };
        let cases = vec![
            Case {
                doc: "default scaleUp: max(4 pods, 100%) per 15s — from 2, 4 pods wins",
                behavior: None,
                min: 1,
                max: 100,
                ticks: vec![(0, 2, 50)],
                want: 6,
                limit: Limit::ScaleUpLimit,
            },
            Case {
                doc: "default scaleUp: from 10, 100% wins",
                behavior: None,
                min: 1,
                max: 100,
                ticks: vec![(0, 10, 50)],
                want: 20,
                limit: Limit::ScaleUpLimit,
            },
            Case {
                doc: "default scaleUp: the period counts earlier events (periodStartReplicas)",
                behavior: None,
                min: 1,
                max: 100,
                ticks: vec![(0, 10, 20), (10, 20, 60)],
                want: 20,
                limit: Limit::ScaleUpLimit,
            },
            Case {
                doc: "default scaleUp: after the 15s period the budget renews",
                behavior: None,
                min: 1,
                max: 100,
                ticks: vec![(0, 10, 20), (16, 20, 60)],
                want: 40,
                limit: Limit::ScaleUpLimit,
            },
            Case {
                doc: "maxReplicas caps before the rate (TooManyReplicas)",
                behavior: None,
                min: 1,
                max: 12,
                ticks: vec![(0, 10, 50)],
                want: 12,
                limit: Limit::TooManyReplicas,
            },
            Case {
                doc: "default scaleDown: 300s window holds the highest recent recommendation",
                behavior: None,
                min: 1,
                max: 100,
                ticks: vec![(0, 10, 10), (60, 10, 2)],
                want: 10,
                limit: Limit::DesiredWithinRange,
            },
            Case {
                doc: "default scaleDown: after the window, 100% per 15s allows the full drop",
                behavior: None,
                min: 1,
                max: 100,
                ticks: vec![(0, 10, 10), (301, 10, 2)],
                want: 2,
                limit: Limit::DesiredWithinRange,
            },
            Case {
                doc: "first tick seeds the down window with the current count",
                behavior: None,
                min: 1,
                max: 100,
                ticks: vec![(0, 10, 2)],
                want: 10,
                limit: Limit::DesiredWithinRange,
            },
            Case {
                doc: "minReplicas floors a scale-down (TooFewReplicas)",
                behavior: down(rules(0, SelectPolicy::Max, vec![pol(Percent, 100, 15)])),
                min: 3,
                max: 100,
                ticks: vec![(0, 10, 1)],
                want: 3,
                limit: Limit::TooFewReplicas,
            },
            Case {
                doc: "doc example: Pods 4/60s and Percent 10/60s, Max — at 80 replicas 10% (8) wins",
                behavior: down(rules(
                    0,
                    SelectPolicy::Max,
                    vec![pol(Pods, 4, 60), pol(Percent, 10, 60)],
                )),
                min: 1,
                max: 100,
                ticks: vec![(0, 80, 1)],
                want: 72,
                limit: Limit::ScaleDownLimit,
            },
            Case {
                doc: "doc example: at 72 replicas 10% is 7.2, rounded up to 8 pods removed",
                behavior: down(rules(
                    0,
                    SelectPolicy::Max,
                    vec![pol(Pods, 4, 60), pol(Percent, 10, 60)],
                )),
                min: 1,
                max: 100,
                ticks: vec![(0, 80, 1), (61, 72, 1)],
                want: 64,
                limit: Limit::ScaleDownLimit,
            },
            Case {
                doc: "doc example: below 40 replicas the Pods policy (4) allows more",
                behavior: down(rules(
                    0,
                    SelectPolicy::Max,
                    vec![pol(Pods, 4, 60), pol(Percent, 10, 60)],
                )),
                min: 1,
                max: 100,
                ticks: vec![(0, 30, 1)],
                want: 26,
                limit: Limit::ScaleDownLimit,
            },
            Case {
                doc: "selectPolicy Min picks the policy with the smallest change",
                behavior: down(rules(
                    0,
                    SelectPolicy::Min,
                    vec![pol(Pods, 4, 60), pol(Percent, 10, 60)],
                )),
                min: 1,
                max: 100,
                ticks: vec![(0, 80, 1)],
                want: 76,
                limit: Limit::ScaleDownLimit,
            },
            Case {
                doc: "selectPolicy Disabled turns scaling off in that direction",
                behavior: down(rules(0, SelectPolicy::Disabled, vec![pol(Percent, 100, 15)])),
                min: 1,
                max: 100,
                ticks: vec![(0, 10, 1)],
                want: 10,
                limit: Limit::ScaleDownLimit,
            },
            Case {
                doc: "scaleUp Disabled",
                behavior: up(rules(0, SelectPolicy::Disabled, vec![pol(Pods, 4, 15)])),
                min: 1,
                max: 100,
                ticks: vec![(0, 10, 20)],
                want: 10,
                limit: Limit::ScaleUpLimit,
            },
            Case {
                doc: "doc example: Percent 900/60s scales 1 → 10",
                behavior: up(rules(0, SelectPolicy::Max, vec![pol(Percent, 900, 60)])),
                min: 1,
                max: 1000,
                ticks: vec![(0, 1, 1000)],
                want: 10,
                limit: Limit::ScaleUpLimit,
            },
            Case {
                doc: "doc example: Pods 5 per 600s allows a final drop of 5 pods per 10 minutes",
                behavior: down(rules(0, SelectPolicy::Max, vec![pol(Pods, 5, 600)])),
                min: 1,
                max: 100,
                ticks: vec![(0, 20, 1), (300, 15, 1)],
                want: 15,
                limit: Limit::ScaleDownLimit,
            },
            Case {
                doc: "scaleUp stabilization window takes the lowest recent recommendation",
                behavior: up(rules(60, SelectPolicy::Max, vec![pol(Percent, 100, 15)])),
                min: 1,
                max: 100,
                ticks: vec![(0, 4, 4), (30, 4, 8)],
                want: 4,
                limit: Limit::DesiredWithinRange,
            },
            Case {
                doc: "scaleUp stabilization: after the window the higher recommendation applies",
                behavior: up(rules(60, SelectPolicy::Max, vec![pol(Percent, 100, 15)])),
                min: 1,
                max: 100,
                ticks: vec![(0, 4, 4), (30, 4, 8), (91, 4, 8)],
                want: 8,
                limit: Limit::DesiredWithinRange,
            },
            Case {
                doc: "scale-down events in the period raise periodStartReplicas for scale-up",
                behavior: Some(HpaBehavior {
                    scale_up: Some(rules(0, SelectPolicy::Max, vec![pol(Pods, 2, 60)])),
                    scale_down: Some(rules(0, SelectPolicy::Max, vec![pol(Pods, 10, 60)])),
                }),
                min: 1,
                max: 100,
                ticks: vec![(0, 10, 6), (10, 6, 20)],
                want: 12,
                limit: Limit::ScaleUpLimit,
            },
            Case {
                doc: "desired equal to current passes unchanged",
                behavior: None,
                min: 1,
                max: 100,
                ticks: vec![(0, 5, 5)],
                want: 5,
                limit: Limit::DesiredWithinRange,
            },
        ];
        for c in &cases {
            let n = run(c);
            assert_eq!((n.desired, n.limit), (c.want, c.limit), "{}", c.doc);
        }
    }

    #[test]
    fn stabilization_reasons() {
        let cfg = BehaviorConfig::default();
        let mut st = BehaviorState::default();
        let n = normalize(&cfg, &mut st, 0, 1, 10, 5, 2);
        assert_eq!(n.stabilization, Stabilization::ScaleDownStabilized);
        let n = normalize(&cfg, &mut st, 10, 1, 10, 5, 5);
        assert_eq!(n.stabilization, Stabilization::ReadyForNewScale);
    }

    #[test]
    fn validation_names_the_field() {
        let bad = [
            (
                HpaScalingRules {
                    stabilization_window_seconds: Some(4000),
                    ..Default::default()
                },
                "behavior.scaleDown.stabilizationWindowSeconds",
            ),
            (
                HpaScalingRules {
                    policies: Some(vec![]),
                    ..Default::default()
                },
                "behavior.scaleDown.policies",
            ),
            (
                HpaScalingRules {
                    policies: Some(vec![pol(PolicyType::Pods, 0, 15)]),
                    ..Default::default()
                },
                "behavior.scaleDown.policies[0].value",
            ),
            (
                HpaScalingRules {
                    policies: Some(vec![pol(PolicyType::Pods, 1, 1801)]),
                    ..Default::default()
                },
                "behavior.scaleDown.policies[0].periodSeconds",
            ),
        ];
        for (r, want) in bad {
            let e = BehaviorConfig::from_spec(Some(&HpaBehavior {
                scale_up: None,
                scale_down: Some(r),
            }))
            .unwrap_err();
            assert!(e.starts_with(want), "{e}");
        }
    }
}
