//! Leader election gates actuation: `--leader-elect` runs [`LeaderElector`] rounds every retry
//! period; a service acts only while [`acts`] says so. A replica counts as leader for
//! `renew_deadline` after the *start* of its last successful round, which is shorter than the
//! lease duration, so it stops acting before any other replica can take the lease over.

use crate::actuate::kube::lease::{LeaderElector, Leadership};
use crate::core::time::Clock;
use std::sync::{Arc, Mutex};

/// Pure: does a replica whose last successful acquire/renew round started at `last_ok` act at
/// `now`?
pub fn acts(last_ok: Option<i64>, renew_deadline: i64, now: i64) -> bool {
    last_ok.is_some_and(|t| now >= t && now < t + renew_deadline)
}

#[derive(Debug, Default)]
struct GateState {
    last_ok: Option<i64>,
    holder: Option<String>,
}

/// Shared between the election task and the service loops.
#[derive(Clone)]
pub struct LeaderGate {
    state: Arc<Mutex<GateState>>,
    renew_deadline: i64,
}

impl LeaderGate {
    pub fn new(renew_deadline: i64) -> Self {
        LeaderGate {
            state: Arc::default(),
            renew_deadline,
        }
    }

    pub fn is_leader(&self, now: i64) -> bool {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        acts(s.last_ok, self.renew_deadline, now)
    }

    /// Who holds the lease as last seen ("unknown" before the first round).
    pub fn holder(&self) -> String {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.holder.clone().unwrap_or_else(|| "holder unknown".into())
    }

    /// Records one round that started at `started`. An error keeps the previous success, which
    /// then runs out after the renew deadline.
    pub fn observe(&self, started: i64, round: &Result<Leadership, crate::actuate::ActuateError>) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match round {
            Ok(Leadership::Leader) => {
                s.last_ok = Some(started);
                s.holder = Some("this instance".into());
            }
            Ok(Leadership::Follower { holder }) => {
                s.last_ok = None;
                s.holder = Some(
                    holder
                        .clone()
                        .map_or_else(|| "lost a race".into(), |h| format!("holder {h}")),
                );
            }
            Err(_) => {}
        }
    }
}

/// Election rounds every `retry_period` seconds until `stop` flips.
pub async fn run_election(
    elector: LeaderElector,
    gate: LeaderGate,
    clock: Arc<dyn Clock>,
    retry_period: std::time::Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let started = clock.now();
        let round = elector.try_acquire_or_renew().await;
        if let Err(e) = &round {
            tracing::warn!("leader election: {e}");
        }
        let was = gate.is_leader(started);
        gate.observe(started, &round);
        let is = gate.is_leader(clock.now());
        if was != is {
            tracing::info!(leader = is, "leadership changed");
        }
        tokio::select! {
            _ = tokio::time::sleep(retry_period) => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actuate::kube::lease::{LeaderAction, LeaseState, decide};
    use chrono::{DateTime, Utc};

    #[test]
    fn acts_table() {
        // (last_ok, deadline, now, acts)
        for (last, d, now, want) in [
            (None, 10, 100, false),
            (Some(100), 10, 100, true),
            (Some(100), 10, 109, true),
            (Some(100), 10, 110, false),
            (Some(100), 10, 99, false),
        ] {
            assert_eq!(acts(last, d, now), want, "{last:?} {d} {now}");
        }
    }

    /// Two replicas share one lease over a timeline in which A stalls (its renewals fail) and B
    /// keeps trying: at no second do both act. Each round is the real pure `decide`; a write
    /// succeeds only against the resourceVersion read, as the API server enforces.
    #[test]
    fn two_replicas_never_both_act() {
        let duration = 15;
        let deadline = 10;
        let ts = |s: i64| DateTime::<Utc>::from_timestamp(s, 0).unwrap();
        let mut lease: Option<(LeaseState, u64)> = None;
        let mut last_ok: [Option<i64>; 2] = [None, None];
        let names = ["a", "b"];
        // A is cut off from the API between 20 and 60 s; rounds every 2 s, B offset by 1 s.
        let reachable = |who: usize, t: i64| who == 1 || !(20..60).contains(&t);
        let mut leaders_seen = [false, false];
        for t in 0..120i64 {
            for who in 0..2 {
                if t % 2 != who as i64 || !reachable(who, t) {
                    continue;
                }
                let state = lease.as_ref().map(|(s, _)| s.clone());
                let rv = lease.as_ref().map(|(_, v)| *v);
                let action = decide(state.as_ref(), names[who], ts(t));
                let won = match action {
                    LeaderAction::Follow { .. } => false,
                    _ => {
                        // The write carries the version read; nothing intervenes in one round.
                        assert_eq!(rv, lease.as_ref().map(|(_, v)| *v));
                        lease = Some((
                            LeaseState {
                                holder: Some(names[who].into()),
                                acquire_time: Some(ts(t)),
                                renew_time: Some(ts(t)),
                                duration_seconds: Some(duration),
                                transitions: 0,
                                resource_version: Some(format!("{}", rv.unwrap_or(0) + 1)),
                            },
                            rv.unwrap_or(0) + 1,
                        ));
                        true
                    }
                };
                last_ok[who] = if won { Some(t) } else { None };
            }
            let a = acts(last_ok[0], deadline, t);
            let b = acts(last_ok[1], deadline, t);
            assert!(!(a && b), "both act at {t}s: {last_ok:?}");
            leaders_seen[0] |= a;
            leaders_seen[1] |= b;
        }
        assert_eq!(leaders_seen, [true, true], "leadership moved from A to B");
    }
}
