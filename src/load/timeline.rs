//! What the measurements keep of a run's successes, in memory that does not grow with the run's
//! length: per timeline (each node, and the cluster), the number of successes, the first and the
//! last, the longest span between consecutive successes, and every span between consecutive
//! successes of at least [`GAP_FLOOR_US`] (10 ms). Per-second counts are kept beside it
//! ([`super`]'s buckets).
//!
//! From these, every measure the lab reports is exact at and above the floor, the same as from
//! every timestamp: the unavailability windows and outage lists ([`Timeline::gaps`],
//! [`Timeline::longest`], [`Timeline::window_in`]), whether a node was silent over a span of at
//! least the floor ("column zero", the 100 ms slices of [`super::serving`]), and when a node that
//! was silent at an instant served again ([`Timeline::next_success`]). Below the floor:
//!
//! - the longest span ([`Timeline::longest`]) stays exact at any length;
//! - a step's window shorter than the floor reads as none (zero-length at the step);
//! - a node that was serving at an instant (no span of the floor or more around it) served again
//!   within the floor, which [`Timeline::next_success`] says as a bound.
//!
//! Memory: 16 bytes per span of the floor or more. A node that serves faster than 100 iterations
//! a second records few (its outages, and pauses of the machine); one slower than that records
//! one per success (16 bytes, where a timestamp took 8), which still grows with the run, at
//! under 1.6 KB a second per node, and is less than its history file.
//!
//! The connections stamp their successes through one [`Recorder`], under its lock, so that the
//! stamps of every timeline are in time order whatever connection or thread made them.

use std::sync::Mutex;

use super::measure::{secs, Window};

/// Spans between consecutive successes at least this long are kept (µs): 10 ms, a tenth of the
/// 0.1 s resolution the lab promises.
pub const GAP_FLOOR_US: u64 = 10_000;

/// One timeline's successes, as the measurements need them (µs since the load began).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timeline {
    count: u64,
    first: Option<u64>,
    /// The last success (0 before the first: the load's start acts as one for spans).
    last: u64,
    /// Every span `(before, after)` of at least the floor, in time order: `before` is the
    /// success before it (0 for the span from the start), `after` the success that ended it.
    gaps: Vec<(u64, u64)>,
    /// The longest span between consecutive successes (or from the start), whatever its
    /// length; the last of equal ones.
    longest: (u64, u64),
}

/// When a node served again after an instant ([`Timeline::next_success`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Next {
    /// The first success at or after the instant (µs): the node was silent at it.
    At(u64),
    /// The node was serving at the instant: a success came at or before the bound (µs), the
    /// instant plus the floor (or the last success, if earlier).
    Before(u64),
}

impl Next {
    /// The time (µs): exact, or the bound.
    pub fn us(self) -> u64 {
        match self {
            Next::At(t) | Next::Before(t) => t,
        }
    }
}

impl Timeline {
    /// An empty timeline.
    pub fn new() -> Timeline {
        Timeline::default()
    }

    /// A timeline of `sorted` (ascending µs): what recording each in turn gives.
    pub fn from_sorted(sorted: &[u64]) -> Timeline {
        let mut t = Timeline::new();
        for &s in sorted {
            t.record(s);
        }
        t
    }

    /// Record a success at `t` µs; stamps must come in time order (an earlier one counts at the
    /// last).
    pub fn record(&mut self, t: u64) {
        let t = t.max(self.last);
        let span = (self.last, t);
        let len = t - self.last;
        if len >= GAP_FLOOR_US {
            self.gaps.push(span);
        }
        if len >= self.longest.1 - self.longest.0 {
            self.longest = span;
        }
        self.first.get_or_insert(t);
        self.last = t;
        self.count += 1;
    }

    /// Successes recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The spans kept (at least the floor), for the memory tests.
    pub fn kept(&self) -> usize {
        self.gaps.len()
    }

    /// The span from the last success to `end_us`, when there is one.
    fn tail(&self, end_us: u64) -> Option<Window> {
        match self.first {
            None => Some(Window::new(0, end_us, true)),
            Some(_) if end_us > self.last => Some(Window::new(self.last, end_us, true)),
            Some(_) => None,
        }
    }

    /// Every span of at least `min_us` (taken as at least the floor) without a success within
    /// `[0, end_us]`, in time order; the last one open when no success ended it.
    pub fn gaps(&self, end_us: u64, min_us: u64) -> Vec<Window> {
        let min = min_us.max(GAP_FLOOR_US);
        let mut out: Vec<Window> = self
            .gaps
            .iter()
            .filter(|&&(a, b)| b - a >= min && b <= end_us)
            .map(|&(a, b)| Window::new(a, b, false))
            .collect();
        out.extend(self.tail(end_us).filter(|w| w.length_s >= secs(min)));
        out
    }

    /// The longest span without a success within `[0, end_us]` (the unavailability window),
    /// exact at any length. A timeline without any success is one open window over the run; a
    /// tail under the floor after the last success is the load stopping, not a window.
    pub fn longest(&self, end_us: u64) -> Window {
        let inner = Window::new(self.longest.0, self.longest.1, false);
        match self.tail(end_us) {
            Some(t)
                if t.length_us() >= inner.length_us()
                    && (self.first.is_none() || t.length_us() >= GAP_FLOOR_US) =>
            {
                t
            }
            _ => inner,
        }
    }

    /// The kept span that holds `at_us` (`before < at_us <= after`), if any.
    fn gap_at(&self, at_us: u64) -> Option<(u64, u64)> {
        let i = self.gaps.partition_point(|&(a, _)| a < at_us);
        let g = *self.gaps.get(i.checked_sub(1)?)?;
        (g.1 >= at_us).then_some(g)
    }

    /// True when no success lies within `[from_us, to_us)` (an empty span holds none). Exact
    /// when the span is at least the floor long, or lies before the first success or after the
    /// last; a shorter span within the run counts as served.
    pub fn silent(&self, from_us: u64, to_us: u64) -> bool {
        let Some(first) = self.first else {
            return true;
        };
        if from_us >= to_us {
            return true;
        }
        if to_us <= first || from_us > self.last {
            return true;
        }
        self.gap_at(from_us)
            .is_some_and(|(a, b)| a < from_us && b >= to_us)
    }

    /// When this timeline served at or after `from_us`: `None` when it never did.
    pub fn next_success(&self, from_us: u64) -> Option<Next> {
        let first = self.first?;
        if from_us <= first {
            return Some(Next::At(first));
        }
        if from_us > self.last {
            return None;
        }
        Some(match self.gap_at(from_us) {
            Some((_, b)) => Next::At(b),
            None => Next::Before((from_us + GAP_FLOOR_US).min(self.last)),
        })
    }

    /// The window a step caused: the longest span without a success (a kept one, or the one
    /// from the last success to `end_us`, each of at least the floor) that ends after `from_us`, begins before `to_us`, and began at most `lookback_us` before
    /// `from_us` (the last success before the outage; a span that began earlier was caused by
    /// something else). When there is no success at all in `[from_us, to_us)`, the span that
    /// covers the interval is the window, however early it began (the node was already down).
    /// A zero-length window at `from_us` when nothing qualifies.
    pub fn window_in(&self, end_us: u64, from_us: u64, to_us: u64, lookback_us: u64) -> Window {
        let silent = self.silent(from_us, to_us);
        self.gaps
            .iter()
            .map(|&(a, b)| Window::new(a, b, false))
            // The run's end a few ms after a success is the load stopping, not an outage: a
            // tail under the floor would be an open window of 0.00 s that no `at-most` passes.
            .chain(self.tail(end_us).filter(|w| w.length_us() >= GAP_FLOOR_US))
            .filter(|w| {
                let (start, end) = (w.start_us(), w.end_us());
                end > from_us && start < to_us && (silent || start + lookback_us >= from_us)
            })
            .max_by_key(Window::length_us)
            .unwrap_or(Window::new(from_us, from_us, false))
    }
}

/// Every node's timeline and the cluster's, once the run has ended.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timelines {
    /// Per node, in node order.
    pub nodes: Vec<Timeline>,
    /// Every success of every node.
    pub cluster: Timeline,
}

impl Timelines {
    /// Empty timelines for `nodes` nodes.
    pub fn empty(nodes: usize) -> Timelines {
        Timelines {
            nodes: vec![Timeline::new(); nodes],
            cluster: Timeline::new(),
        }
    }

    /// The timelines of per-node ascending stamps (the cluster's is their union).
    pub fn from_sorted(nodes: &[Vec<u64>]) -> Timelines {
        let mut all: Vec<u64> = nodes.iter().flatten().copied().collect();
        all.sort_unstable();
        Timelines {
            nodes: nodes.iter().map(|n| Timeline::from_sorted(n)).collect(),
            cluster: Timeline::from_sorted(&all),
        }
    }
}

/// Where the connections stamp their successes: one lock over every timeline, taken for a few
/// tens of nanoseconds per success, under which the stamp is read, so that each timeline's
/// stamps come in time order. Successes at or after the run's end are not recorded.
#[derive(Debug)]
pub struct Recorder {
    book: Mutex<(Timelines, u64)>,
}

impl Recorder {
    /// A recorder for `nodes` nodes of a run that ends at `end_us` (µs since it began).
    pub fn new(nodes: usize, end_us: u64) -> Recorder {
        Recorder {
            book: Mutex::new((Timelines::empty(nodes), end_us)),
        }
    }

    /// Record a success of node `node` at `now()` (µs), read under the lock. Returns the stamp,
    /// or `None` when it came at or after the end (it does not count).
    pub fn success(&self, node: usize, now: impl Fn() -> u64) -> Option<u64> {
        let mut book = self.book.lock().unwrap_or_else(|e| e.into_inner());
        let t = now();
        if t >= book.1 {
            return None;
        }
        book.0.nodes[node].record(t);
        book.0.cluster.record(t);
        Some(t)
    }

    /// End the run now (an interrupted run ends early): `now()` (µs) is read under the lock, so
    /// no success stamped at or after it counts. Returns the end.
    pub fn close_now(&self, now: impl Fn() -> u64) -> u64 {
        let mut book = self.book.lock().unwrap_or_else(|e| e.into_inner());
        book.1 = book.1.min(now());
        book.1
    }

    /// The timelines, once every connection has stopped.
    pub fn finish(self) -> Timelines {
        self.book.into_inner().unwrap_or_else(|e| e.into_inner()).0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::measure::MICROS;

    const S: u64 = MICROS;

    /// Every timestamp, the way the measures were computed before the floor: the spans of at
    /// least `min_us` between consecutive successes (and from 0, and to the end).
    fn every_gap(sorted: &[u64], end_us: u64, min_us: u64) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let mut prev = 0;
        for &t in sorted {
            if t > prev && t - prev >= min_us {
                out.push((prev, t));
            }
            prev = t;
        }
        if end_us > prev && end_us - prev >= min_us {
            out.push((prev, end_us));
        }
        out
    }

    /// A timeline a little like a real one: a success every 0.3-3 ms, outages of 5 ms to 4 s.
    fn jagged(seed: u64) -> Vec<u64> {
        let mut x = seed;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut t = next() % 5_000;
        let mut out = Vec::new();
        while t < 30 * S {
            out.push(t);
            t += 300 + next() % 2_700;
            if next() % 400 == 0 {
                t += 5_000 + next() % (4 * S);
            }
        }
        out
    }

    #[test]
    fn spans_at_or_above_the_floor_are_those_every_timestamp_gives() {
        for seed in 1..20 {
            let ts = jagged(seed);
            let t = Timeline::from_sorted(&ts);
            let end = 31 * S;
            for min in [GAP_FLOOR_US, S / 10, S / 2, S] {
                let got: Vec<(u64, u64)> = t
                    .gaps(end, min)
                    .iter()
                    .map(|w| (w.start_us(), w.end_us()))
                    .collect();
                assert_eq!(got, every_gap(&ts, end, min), "seed {seed}, min {min}");
            }
            let all = every_gap(&ts, end, 0);
            let longest = all.iter().max_by_key(|(a, b)| b - a).unwrap();
            let w = t.longest(end);
            assert_eq!((w.start_us(), w.end_us()), *longest, "seed {seed}");
            assert_eq!(t.count(), ts.len() as u64);
        }
    }

    #[test]
    fn silence_and_the_next_success_are_exact_over_spans_of_the_floor() {
        for seed in 1..10 {
            let ts = jagged(seed);
            let t = Timeline::from_sorted(&ts);
            // Every 100 ms slice and every 1 s span, at odd offsets.
            for (len, step) in [(S / 10, 37_000), (S, 311_000), (GAP_FLOOR_US, 7_001)] {
                let mut from = 0;
                while from < 31 * S {
                    let any = ts.iter().any(|&x| x >= from && x < from + len);
                    assert_eq!(t.silent(from, from + len), !any, "seed {seed} at {from}");
                    let next = ts.iter().copied().find(|&x| x >= from);
                    match (t.next_success(from), next) {
                        (None, None) => {}
                        (Some(Next::At(a)), Some(b)) => assert_eq!(a, b),
                        (Some(Next::Before(a)), Some(b)) => {
                            assert!(b <= a && a - from <= GAP_FLOOR_US, "{a} {b} {from}")
                        }
                        other => panic!("seed {seed} at {from}: {other:?}"),
                    }
                    from += step;
                }
            }
        }
    }

    #[test]
    fn memory_is_the_spans_of_the_floor_not_the_successes() {
        // An hour at 10,000 successes a second with ten 2 s outages: 36 million successes, ten
        // spans kept.
        let mut t = Timeline::new();
        let mut at = 0;
        for outage in 0..10u64 {
            for _ in 0..3_600_000 {
                at += 100;
                t.record(at);
            }
            at += 2 * S;
            t.record(at);
            let _ = outage;
        }
        assert_eq!(t.count(), 36_000_010);
        assert_eq!(t.kept(), 10);
        assert_eq!(t.gaps(at + S, S / 2).len(), 11, "ten outages and the tail");
    }

    #[test]
    fn a_node_that_never_comes_back_has_an_open_window_to_the_end() {
        let t = Timeline::from_sorted(&(1..=300).map(|i| i * 10_000).collect::<Vec<_>>());
        let w = t.longest(20 * S);
        assert!(w.open && (w.length_s - 17.0).abs() < 1e-9, "{w:?}");
        assert!(t.silent(3 * S + 1, 20 * S));
        assert_eq!(t.next_success(3 * S + 1), None);
    }

    #[test]
    fn the_end_of_the_run_just_after_a_success_is_no_window() {
        // Successes every 5 ms to the end: after a step at 12 s there is no outage, and the
        // 3 ms from the last success to the end is the load stopping (seen in a run as
        // "0.00 s (from 20.00 s to the end, still open)", which failed an at-most).
        let t = Timeline::from_sorted(&(1..=3_999).map(|i| i * 5_000).collect::<Vec<_>>());
        let end = 20 * S - 2_000;
        let w = t.window_in(end, 12 * S, end, S);
        assert!(!w.open && w.length_s == 0.0, "{w:?}");
        // Nor is it the run's longest window, which the summary prints per node.
        let w = t.longest(end);
        assert!(!w.open && w.length_us() < GAP_FLOOR_US, "{w:?}");
        // A tail of the floor or more is still the open window it is.
        let w = t.window_in(20 * S + 5_000, 12 * S, 20 * S + 5_000, S);
        assert!(w.open && w.length_us() == 10_000, "{w:?}");
    }

    #[test]
    fn a_timeline_without_successes_is_one_open_window() {
        let t = Timeline::new();
        let w = t.longest(5 * S);
        assert!(w.open && (w.length_s - 5.0).abs() < 1e-9);
        assert!(t.silent(0, 5 * S));
        assert_eq!(t.next_success(0), None);
        assert_eq!(t.gaps(5 * S, 0).len(), 1);
    }

    #[test]
    fn the_recorder_stamps_in_order_and_drops_what_comes_after_the_end() {
        let r = Recorder::new(2, 10 * S);
        assert_eq!(r.success(0, || 5), Some(5));
        assert_eq!(r.success(1, || 7), Some(7));
        assert_eq!(r.close_now(|| 8), 8);
        assert_eq!(r.success(0, || 9), None);
        let t = r.finish();
        assert_eq!(t.nodes[0].count(), 1);
        assert_eq!(t.cluster.count(), 2);
        assert_eq!(t, Timelines::from_sorted(&[vec![5], vec![7]]));
    }
}
