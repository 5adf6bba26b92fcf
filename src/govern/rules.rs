//! A latency rule's recommendation through the governor: it is the *reactive* recommendation,
//! beside an optional forecast, so it meets the same staleness, combine, HPA behavior, budget,
//! cooldown and mode steps as any other.

use super::{Governed, GovernorConfig, GovernorInput, GovernorState};
use crate::plan::horizontal::NoPlan;
use crate::reactive::rules::eval::Recommendation;

/// The governor input for a rule's recommendation.
pub fn governor_input(
    rec: &Recommendation,
    now: i64,
    current: u32,
    predictive: Option<Result<u32, NoPlan>>,
) -> GovernorInput {
    GovernorInput {
        now,
        current,
        reactive: rec.desired,
        metric_age_seconds: rec.metric_age_seconds,
        predictive,
        limits: None,
        safety_floor: None,
        burst: None,
        implausible: false,
        rule: None,
    }
}

/// Governs a rule's recommendation (no forecast).
pub fn govern(
    cfg: &GovernorConfig,
    state: &mut GovernorState,
    rec: &Recommendation,
    now: i64,
    current: u32,
) -> Governed {
    cfg.govern(&governor_input(rec, now, current, None), state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::reason::{Reason, Step};
    use crate::reactive::rules::eval::{Action, Observation, evaluate};
    use crate::reactive::rules::spec::{Breaches, Rule, parse_rules};
    use std::path::Path;

    fn rule(extra: &str) -> Rule {
        let text = format!(
            "apiVersion: scale.autoscaling/v1\nkind: LatencyBasedAutoScaler\nmetadata:\n  name: r\nspec:\n  target:\n    serviceName: frontend\n    deploymentName: frontend\n  latencyThreshold:\n    upperBound: 500ms\n    lowerBound: 100ms\n{extra}"
        );
        parse_rules(Path::new("r.yaml"), &text).unwrap().remove(0)
    }

    /// 60 s windows from t=0 with these latencies (ms).
    fn obs(ms: &[f64]) -> Vec<Observation> {
        ms.iter()
            .enumerate()
            .map(|(i, v)| Observation {
                start: i as i64 * 60,
                seconds: 60,
                latency: v / 1000.0,
                requests: 10,
            })
            .collect()
    }

    /// A rule's scale-up goes through the governor: HPA rate limits, then maxReplicas.
    #[test]
    fn rule_scale_up_is_clamped_by_the_governor() {
        let mut r = rule("  step: 10\n");
        r.breaches = Breaches::default();
        let cfg = GovernorConfig::hpa_default(1, 8);
        let mut state = GovernorState::default();
        let hot = obs(&[900.0; 10]);
        // (now, current) → (desired, apply, steps)
        let ticks: Vec<(i64, u32, u32, bool, Vec<Step>)> = vec![
            (
                60,
                3,
                7,
                true,
                vec![
                    Step::new("combine", 13, Reason::DesiredWithinRange),
                    Step::new("stabilization", 13, Reason::DesiredWithinRange),
                    // Default scaleUp: max(4 pods, 100%) per 15 s → 3 + 4.
                    Step::new("rate_limit", 7, Reason::ScaleUpLimit),
                ],
            ),
            (
                65,
                7,
                7,
                false,
                vec![
                    Step::new("combine", 17, Reason::DesiredWithinRange),
                    Step::new("stabilization", 17, Reason::DesiredWithinRange),
                    // Still inside the 15 s period that already added 4.
                    Step::new("rate_limit", 7, Reason::ScaleUpLimit),
                ],
            ),
            (
                120,
                7,
                8,
                true,
                vec![
                    Step::new("combine", 17, Reason::DesiredWithinRange),
                    Step::new("stabilization", 17, Reason::DesiredWithinRange),
                    Step::new("rate_limit", 8, Reason::TooManyReplicas),
                ],
            ),
        ];
        for (now, current, desired, apply, steps) in ticks {
            let rec = evaluate(&r, &hot, current, now);
            assert_eq!(rec.action, Action::Up);
            let g = govern(&cfg, &mut state, &rec, now, current);
            assert_eq!((g.desired, g.apply), (desired, apply), "t={now}: {g:?}");
            assert_eq!(g.steps, steps, "t={now}");
        }
        // A stale latest window: the governor holds instead of acting on old latency.
        let rec = evaluate(&r, &obs(&[900.0]), 3, 60 + 600);
        assert_eq!(rec.metric_age_seconds, Some(600));
        let g = govern(&cfg, &mut GovernorState::default(), &rec, 660, 3);
        assert_eq!((g.desired, g.apply), (3, false));
        assert_eq!(g.steps[0].reason, Reason::StaleMetrics);
        // No data: no recommendation, the governor holds.
        let rec = evaluate(&r, &[], 3, 60);
        let g = govern(&cfg, &mut GovernorState::default(), &rec, 60, 3);
        assert_eq!((g.desired, g.apply), (3, false));
    }
}
