//! Online, bounded-memory version of [`per_service_minutes`]: spans arrive in batches, in any
//! order; each window is summarised once, when event time has passed its end plus the lateness.
//!
//! Spans are counted as they arrive, into one [`Requests`] (counts and a latency sketch) per
//! service and window, so memory is bounded by services × windows, not by spans. Whether a span
//! is an *entry* span depends on its parent's service, and parents (which end last) are usually
//! exported after their children: a child whose parent has not been seen waits, compactly, until
//! the parent arrives or the child's window closes (then its parent counts as absent). A child
//! arriving after its parent finds the parent's service among the span ids remembered for the
//! retention.
//!
//! [`per_service_minutes`]: crate::observe::spans::per_service_minutes

use crate::observe::spans::{Requests, ServiceMinute, Span, pod_hash};
use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};

/// Open windows at most: more (only with a very long lateness) close the oldest early.
pub const MAX_OPEN_WINDOWS: usize = 1024;

/// Windowing settings. Durations in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowConfig {
    /// Window length; below 1 is taken as 1.
    pub window_seconds: i64,
    /// How long after a window's end (in event time) spans for it are still accepted.
    pub lateness_seconds: i64,
    /// Children waiting for their parent, held at most; past it every waiting child is counted
    /// as an entry at once (its parent as absent) and counted in [`WindowStats::unresolved_parents`].
    pub max_pending_spans: usize,
    /// Span ids (→ service) remembered at most, for children that arrive after their parent.
    pub max_span_ids: usize,
    /// Span ids are remembered for at least this much event time (at most twice it), unless
    /// `max_span_ids` forgets them sooner; a parent forgotten counts as absent.
    pub retention_seconds: i64,
    /// With a receiver clock ([`Aggregator::observe_at`]): spans ending more than this far
    /// past the clock are dropped as future-dated (default 5 min of clock skew).
    pub max_future_skew_seconds: i64,
    /// Services per window at most; entry spans of further services are dropped and counted
    /// ([`WindowStats::service_overflow_spans`]), so invented service names cannot grow memory.
    pub max_services: usize,
}

impl Default for WindowConfig {
    fn default() -> Self {
        WindowConfig {
            window_seconds: 60,
            lateness_seconds: 30,
            max_pending_spans: 1_000_000,
            max_span_ids: 4_000_000,
            retention_seconds: 600,
            max_future_skew_seconds: 300,
            max_services: 10_000,
        }
    }
}

/// Counters of spans that did not make it into a window normally.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WindowStats {
    /// Spans for a window already closed: dropped.
    pub late_spans: u64,
    /// Windows closed early because more than [`MAX_OPEN_WINDOWS`] were open.
    pub forced_closes: u64,
    /// Spans dated beyond the clock plus `max_future_skew_seconds`: dropped, so that one span
    /// from the year 2200 cannot move event time and close every window as "fresh" zeros.
    pub future_spans: u64,
    /// Children counted as entries without waiting for their parent (`max_pending_spans`).
    pub unresolved_parents: u64,
    /// Entry spans of services beyond `max_services` in their window: dropped.
    pub service_overflow_spans: u64,
}

/// Keys that are already random hashes need no second hash.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

type IdMap<V> = HashMap<u64, V, BuildHasherDefault<IdHasher>>;

/// A child whose parent has not arrived: what it needs to be counted later.
struct Waiting {
    window: i64,
    service: String,
    service_key: u64,
    duration: f64,
    error: bool,
    pod: u64,
}

/// Span id → service key in two generations: the current one is retired when it is half the cap
/// or older than the retention, and the retired one is dropped at the next retirement.
#[derive(Default)]
struct SpanIds {
    current: IdMap<u64>,
    previous: IdMap<u64>,
    since_s: Option<i64>,
}

impl SpanIds {
    fn insert(&mut self, key: u64, service: u64, now_s: i64, cfg: &WindowConfig) {
        let since = *self.since_s.get_or_insert(now_s);
        if self.current.len() >= (cfg.max_span_ids / 2).max(1)
            || now_s.saturating_sub(since) >= cfg.retention_seconds.max(0)
        {
            self.previous = std::mem::take(&mut self.current);
            self.since_s = Some(now_s);
        }
        self.current.insert(key, service);
    }

    fn get(&self, key: u64) -> Option<u64> {
        self.current.get(&key).or_else(|| self.previous.get(&key)).copied()
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.current.len() + self.previous.len()
    }
}

/// The windowing state: open windows, waiting children, remembered span ids and the counters.
pub struct Aggregator {
    cfg: WindowConfig,
    window: i64,
    /// Open windows by start (unix seconds): each service's requests so far.
    open: BTreeMap<i64, HashMap<String, Requests>>,
    /// Parent key → children waiting for it.
    waiting: IdMap<Vec<Waiting>>,
    waiting_len: usize,
    ids: SpanIds,
    /// Hashes span ids and services (seeded per process, so clients cannot aim collisions).
    keys: RandomState,
    /// Windows starting before this are closed.
    closed_before: i64,
    /// Largest span end time seen or clock time given, ns.
    watermark_ns: i64,
    stats: WindowStats,
}

impl Aggregator {
    /// An aggregator with no open window.
    pub fn new(cfg: WindowConfig) -> Self {
        Aggregator {
            window: cfg.window_seconds.max(1),
            cfg,
            open: BTreeMap::new(),
            waiting: IdMap::default(),
            waiting_len: 0,
            ids: SpanIds::default(),
            keys: RandomState::new(),
            closed_before: i64::MIN,
            watermark_ns: i64::MIN,
            stats: WindowStats::default(),
        }
    }

    /// Counters of dropped spans and early decisions so far.
    pub fn stats(&self) -> WindowStats {
        self.stats
    }

    /// Children waiting for their parent.
    pub fn pending(&self) -> usize {
        self.waiting_len
    }

    fn window_of(&self, start_ns: i64) -> i64 {
        start_ns.div_euclid(1_000_000_000).div_euclid(self.window) * self.window
    }

    /// Adds a batch; returns the windows this closes (event time moved past them), oldest first.
    /// Event time is the spans' own: for replays and tests. A receiver uses [`Self::observe_at`].
    pub fn observe(&mut self, spans: Vec<Span>) -> Vec<ServiceMinute> {
        self.observe_inner(spans, None)
    }

    /// [`Self::observe`] with the receiver's clock at `now_ns`: spans ending after
    /// `now + max_future_skew_seconds` are dropped and counted, and no span moves event time
    /// past `now` — the clock, not the senders, decides when a window is complete.
    pub fn observe_at(&mut self, spans: Vec<Span>, now_ns: i64) -> Vec<ServiceMinute> {
        self.observe_inner(spans, Some(now_ns))
    }

    fn observe_inner(&mut self, spans: Vec<Span>, now_ns: Option<i64>) -> Vec<ServiceMinute> {
        let skew_ns = self.cfg.max_future_skew_seconds.max(0).saturating_mul(1_000_000_000);
        for span in spans {
            let w = self.window_of(span.start_ns);
            let end = span.start_ns.saturating_add((span.duration * 1e9).round() as i64);
            if let Some(now) = now_ns {
                if end > now.saturating_add(skew_ns) {
                    self.stats.future_spans += 1;
                    continue;
                }
                self.watermark_ns = self.watermark_ns.max(end.min(now));
            } else {
                self.watermark_ns = self.watermark_ns.max(end);
            }
            self.place(span, w);
        }
        let mut out = self.close_due();
        while self.open.len() > MAX_OPEN_WINDOWS {
            self.stats.forced_closes += 1;
            out.extend(self.close_oldest());
        }
        out
    }

    /// Remembers the span's id, settles the children waiting for it, and counts it if it is an
    /// entry (or makes it wait for its parent).
    fn place(&mut self, span: Span, w: i64) {
        let key = self.keys.hash_one((span.trace_id.as_str(), span.span_id.as_str()));
        let service_key = self.keys.hash_one(span.service.as_str());
        self.ids
            .insert(key, service_key, self.watermark_ns.div_euclid(1_000_000_000), &self.cfg);
        if let Some(children) = self.waiting.remove(&key) {
            self.waiting_len -= children.len();
            for c in children.into_iter().filter(|c| c.service_key != service_key) {
                self.count(c.window, c.service, c.duration, c.error, c.pod);
            }
        }
        if w < self.closed_before {
            self.stats.late_spans += 1;
            return;
        }
        let pod = pod_hash(&span.pod);
        let Some(parent) = &span.parent_id else {
            return self.count(w, span.service, span.duration, span.error, pod);
        };
        let parent_key = self.keys.hash_one((span.trace_id.as_str(), parent.as_str()));
        match self.ids.get(parent_key) {
            Some(p) if p == service_key => {}
            Some(_) => self.count(w, span.service, span.duration, span.error, pod),
            None => {
                // The window is open while its children wait, so it closes in order.
                self.open.entry(w).or_default();
                self.waiting.entry(parent_key).or_default().push(Waiting {
                    window: w,
                    service: span.service,
                    service_key,
                    duration: span.duration,
                    error: span.error,
                    pod,
                });
                self.waiting_len += 1;
                if self.waiting_len > self.cfg.max_pending_spans {
                    self.stats.unresolved_parents += self.waiting_len as u64;
                    self.settle_waiting(i64::MAX);
                }
            }
        }
    }

    /// Counts an entry span in its (open) window.
    fn count(&mut self, w: i64, service: String, duration: f64, error: bool, pod: u64) {
        let services = self.open.entry(w).or_default();
        if let Some(r) = services.get_mut(service.as_str()) {
            return r.add_parts(duration, error, pod);
        }
        if services.len() >= self.cfg.max_services {
            self.stats.service_overflow_spans += 1;
            return;
        }
        services.entry(service).or_default().add_parts(duration, error, pod);
    }

    /// Children in windows up to `through` stop waiting: their parent counts as absent.
    fn settle_waiting(&mut self, through: i64) {
        let mut due = Vec::new();
        self.waiting.retain(|_, children| {
            let (now, later): (Vec<Waiting>, Vec<Waiting>) = children.drain(..).partition(|c| c.window <= through);
            due.extend(now);
            *children = later;
            !children.is_empty()
        });
        self.waiting_len -= due.len();
        for c in due {
            self.count(c.window, c.service, c.duration, c.error, c.pod);
        }
    }

    /// Moves event time to at least `now_ns` (a clock tick), closing windows that are due.
    pub fn advance(&mut self, now_ns: i64) -> Vec<ServiceMinute> {
        self.watermark_ns = self.watermark_ns.max(now_ns);
        self.close_due()
    }

    /// Closes every open window (at shutdown).
    pub fn flush(&mut self) -> Vec<ServiceMinute> {
        self.settle_waiting(i64::MAX);
        let mut out = Vec::new();
        while !self.open.is_empty() {
            out.extend(self.close_oldest());
        }
        out
    }

    fn close_due(&mut self) -> Vec<ServiceMinute> {
        let mut out = Vec::new();
        while let Some((&w, _)) = self.open.first_key_value() {
            let due_ns = (w + self.window + self.cfg.lateness_seconds.max(0)).saturating_mul(1_000_000_000);
            if due_ns > self.watermark_ns {
                break;
            }
            out.extend(self.close_oldest());
        }
        // Event time can also pass windows that never opened: spans for them are late too.
        let passed = self.watermark_ns.div_euclid(1_000_000_000) - self.cfg.lateness_seconds.max(0) - self.window;
        self.closed_before = self
            .closed_before
            .max(self.window_of(passed.saturating_mul(1_000_000_000)) + self.window);
        out
    }

    fn close_oldest(&mut self) -> Vec<ServiceMinute> {
        let Some(&w) = self.open.keys().next() else {
            return Vec::new();
        };
        if self.waiting_len > 0 {
            self.settle_waiting(w);
        }
        let services = self.open.remove(&w).unwrap_or_default();
        self.closed_before = self.closed_before.max(w + self.window);
        let mut out: Vec<ServiceMinute> = services
            .iter()
            .map(|(svc, r)| r.summarise(svc, w, self.window))
            .collect();
        out.sort_by(|a, b| a.service.cmp(&b.service));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::spans::per_service_minutes;
    use proptest::prelude::*;

    fn span(trace: usize, id: usize, parent: Option<usize>, service: &str, start_s: f64, dur: f64) -> Span {
        Span {
            trace_id: format!("t{trace}"),
            span_id: format!("s{id}"),
            parent_id: parent.map(|p| format!("s{p}")),
            pod: format!("{service}-{}", id % 2),
            service: service.to_string(),
            operation: "op".into(),
            start_ns: (start_s * 1e9) as i64,
            duration: dur,
            error: id.is_multiple_of(3),
        }
    }

    fn sorted(mut v: Vec<ServiceMinute>) -> Vec<ServiceMinute> {
        v.sort_by(|a, b| (a.service.as_str(), a.minute).cmp(&(b.service.as_str(), b.minute)));
        v
    }

    /// Traces of 1–4 spans over three services, spread over `span_s` seconds.
    fn traces(seed: Vec<(u8, u16, u16, bool)>) -> Vec<Span> {
        let services = ["front", "cart", "db"];
        let mut out = Vec::new();
        for (t, (shape, start, dur, late_parent)) in seed.into_iter().enumerate() {
            let base = 1_700_000_000.0 + f64::from(start) / 4.0;
            let d = f64::from(dur) / 1000.0;
            let id = t * 10;
            out.push(span(t, id, None, services[shape as usize % 3], base, d));
            for k in 1..=(shape as usize % 4) {
                // Children in the same or another service, sometimes starting after the parent's window.
                let svc = services[(shape as usize + k / 2) % 3];
                let offset = if late_parent { 61.0 * k as f64 } else { 0.01 * k as f64 };
                out.push(span(t, id + k, Some(id + k - 1), svc, base + offset, d / 2.0));
            }
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn any_batch_order_equals_per_service_minutes(
            seed in prop::collection::vec((any::<u8>(), 0u16..2400, 1u16..5000, any::<bool>()), 1..80),
            order in any::<u64>(),
            cuts in prop::collection::vec(1usize..20, 1..20),
        ) {
            let spans = traces(seed);
            let want = per_service_minutes(&spans, 60);
            // Shuffle deterministically from `order`, then cut into batches of the given sizes.
            let mut shuffled = spans.clone();
            let mut x = order | 1;
            for i in (1..shuffled.len()).rev() {
                x ^= x << 13; x ^= x >> 7; x ^= x << 17;
                shuffled.swap(i, (x % (i as u64 + 1)) as usize);
            }
            // Lateness covers the whole spread (10 min + children offsets), so nothing is late.
            let mut agg = Aggregator::new(WindowConfig { lateness_seconds: 1200, retention_seconds: 1200, ..Default::default() });
            let mut got = Vec::new();
            let mut rest = shuffled.as_slice();
            for c in cuts.iter().cycle() {
                if rest.is_empty() { break; }
                let (batch, tail) = rest.split_at((*c).min(rest.len()));
                got.extend(agg.observe(batch.to_vec()));
                rest = tail;
            }
            got.extend(agg.flush());
            prop_assert_eq!(agg.stats(), WindowStats::default());
            prop_assert_eq!(agg.pending(), 0);
            prop_assert_eq!(sorted(got), want);
        }
    }

    #[test]
    fn windows_close_after_lateness_and_late_spans_are_dropped() {
        let cfg = WindowConfig {
            window_seconds: 60,
            lateness_seconds: 10,
            ..Default::default()
        };
        let mut agg = Aggregator::new(cfg);
        // Window [0, 60): one request of 1 s, one erroring.
        assert!(agg.observe(vec![span(1, 3, None, "web", 5.0, 1.0)]).is_empty());
        // Event time 69 s: window 0 is not yet due (60 + 10).
        assert!(agg.observe(vec![span(2, 1, None, "web", 68.0, 1.0)]).is_empty());
        let closed = agg.observe(vec![span(3, 1, None, "web", 70.0, 0.5)]);
        assert_eq!(closed.len(), 1);
        let w = &closed[0];
        assert_eq!(
            (w.service.as_str(), w.minute, w.requests, w.errors, w.p99),
            ("web", 0, 1, 1, 1.0)
        );
        // A span for the closed window is counted as late, not summarised.
        assert!(agg.observe(vec![span(4, 1, None, "web", 30.0, 0.1)]).is_empty());
        assert_eq!(agg.stats().late_spans, 1);
        // A clock tick closes the idle window [60, 120) at 130 s.
        assert!(agg.advance(129_000_000_000).is_empty());
        let closed = agg.advance(130_000_000_000);
        assert_eq!((closed[0].minute, closed[0].requests), (60, 2));
        // Event time passed [120, 180) + lateness too, though no span opened it.
        agg.advance(190_000_000_000);
        agg.observe(vec![span(5, 1, None, "web", 150.0, 0.1)]);
        assert_eq!(agg.stats().late_spans, 2);
        assert_eq!(agg.pending(), 0);
    }

    #[test]
    fn future_dated_spans_are_dropped_and_never_move_the_clock() {
        let cfg = WindowConfig {
            window_seconds: 60,
            lateness_seconds: 10,
            ..Default::default()
        };
        let now = 1_000_000i64; // the receiver's clock, seconds
        let ns = |s: i64| s * 1_000_000_000;
        // (span start s, kept?): within the 5-minute skew is kept, beyond it is dropped.
        let cases = [
            (now - 30, true),
            (now + 200, true),
            (now + 301, false),
            // the year 2200, the reproduced attack
            (7_258_118_400, false),
        ];
        for (start, kept) in cases {
            let mut agg = Aggregator::new(cfg);
            agg.observe_at(vec![span(1, 1, None, "web", (now - 30) as f64, 0.1)], ns(now));
            let closed = agg.observe_at(vec![span(2, 1, None, "web", start as f64, 0.1)], ns(now));
            // Nothing closes: event time stays at the clock, and [now-60, now) is not yet due.
            assert!(closed.is_empty(), "{start}: {closed:?}");
            assert_eq!(agg.stats().future_spans, u64::from(!kept), "{start}");
            // Real traffic after it is still accepted: not late.
            agg.observe_at(vec![span(3, 1, None, "web", (now - 5) as f64, 0.1)], ns(now));
            assert_eq!(agg.stats().late_spans, 0, "{start}");
            let got = agg.flush();
            let requests: usize = got.iter().map(|m| m.requests).sum();
            assert_eq!(requests, 2 + usize::from(kept), "{start}: {got:?}");
        }
        // Without a clock (a replay) event time is the spans' own, as before.
        let mut agg = Aggregator::new(cfg);
        agg.observe(vec![span(1, 1, None, "web", (now - 30) as f64, 0.1)]);
        assert_eq!(
            agg.observe(vec![span(2, 1, None, "web", 7_258_118_400.0, 0.1)]).len(),
            1
        );
    }

    #[test]
    fn child_before_parent_in_same_service_is_not_an_entry() {
        let mut agg = Aggregator::new(WindowConfig::default());
        // The child arrives first; the parent, same service, later (as exporters do).
        agg.observe(vec![span(1, 2, Some(1), "web", 10.5, 0.1)]);
        agg.observe(vec![
            span(1, 1, None, "web", 10.0, 1.0),
            span(1, 3, Some(2), "db", 10.6, 0.05),
        ]);
        let got = sorted(agg.flush());
        let summary: Vec<_> = got.iter().map(|m| (m.service.as_str(), m.requests, m.p50)).collect();
        assert_eq!(summary, [("db", 1, 0.05), ("web", 1, 1.0)]);
    }

    #[test]
    fn memory_is_bounded_by_services_and_windows_not_spans() {
        let cfg = WindowConfig {
            max_pending_spans: 100,
            max_span_ids: 1_000,
            max_services: 3,
            lateness_seconds: 100_000,
            ..Default::default()
        };
        let mut agg = Aggregator::new(cfg);
        // 50,000 entry spans in one window: nothing is held per span.
        let roots: Vec<Span> = (0..50_000)
            .map(|i| span(i, 1, None, "web", 10.0, 0.001 * (i % 100) as f64))
            .collect();
        agg.observe(roots);
        assert!(agg.ids.len() <= 1_000, "{}", agg.ids.len());
        // 500 children whose parents never come: at most 100 wait, the rest are settled early.
        let orphans: Vec<Span> = (0..500)
            .map(|i| span(100_000 + i, 2, Some(1_000), "web", 20.0, 0.5))
            .collect();
        agg.observe(orphans);
        assert!(agg.pending() <= 100, "{}", agg.pending());
        assert!(agg.stats().unresolved_parents >= 400, "{:?}", agg.stats());
        // Invented service names stop at max_services per window.
        let invented: Vec<Span> = (0..10)
            .map(|i| span(200_000 + i, 1, None, &format!("svc{i}"), 30.0, 0.1))
            .collect();
        agg.observe(invented);
        let got = agg.flush();
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!(agg.stats().service_overflow_spans, 8);
        let web = got.iter().find(|m| m.service == "web").unwrap();
        assert_eq!(web.requests, 50_500);
        // The sketch's p95 of 0..0.099 s (and the orphans' 0.5 s) is within 1% of nearest rank.
        let mut d: Vec<f64> = (0..50_000).map(|i| 0.001 * (i % 100) as f64).collect();
        d.extend([0.5; 500]);
        d.sort_by(f64::total_cmp);
        let want = crate::observe::spans::nearest_rank(&d, 0.95);
        assert!((web.p95 - want).abs() <= 0.01 * want, "{} vs {want}", web.p95);
    }

    #[test]
    fn too_many_open_windows_close_the_oldest() {
        let cfg = WindowConfig {
            lateness_seconds: 1_000_000_000,
            ..Default::default()
        };
        let mut agg = Aggregator::new(cfg);
        let spans: Vec<Span> = (0..MAX_OPEN_WINDOWS + 5)
            .map(|i| span(i, 1, None, "web", 60.0 * i as f64, 0.1))
            .collect();
        let closed = agg.observe(spans);
        assert_eq!(
            closed.iter().map(|m| m.minute).collect::<Vec<_>>(),
            [0, 60, 120, 180, 240]
        );
        assert_eq!(agg.stats().forced_closes, 5);
    }
}
