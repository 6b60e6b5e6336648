//! The latency of the loop's operations, per node, per outcome and per second, in bounded memory.
//!
//! An operation ends in one of Jepsen's three outcomes ([`Outcome`]): `ok` (the write was
//! acknowledged), `fail` (it definitely did not happen: a failed connect or read, a refused or
//! rejected write) or `info` (its outcome is unknown: a write that missed its deadline or lost
//! its connection). Each outcome has its own latencies, so an outage shows as the failures' and
//! the unknown writes' latencies, not as missing seconds.
//!
//! Where an operation's latency starts depends on the loop (docs/load.md): the closed loop times
//! an iteration from its actual start (its connect included, when the connection had to be made
//! again); the open loop (`--rate`) from its *intended* start on the schedule, so an operation
//! that had to wait for a connection counts its wait, as wrk2 and YCSB's corrected latencies
//! do. Values are recorded into HDR histograms (the `hdrhistogram` crate, 1 µs to 60 s, two
//! significant digits: a quantile is within 1 % of the true one); each second gets p50, p95, p99,
//! p99.9 and the maximum ([`SecondLatency`]).
//!
//! Memory does not grow with the number of operations: per node and outcome, one histogram for
//! the whole run and two for the seconds being filled (the current one and the one before, so an
//! operation recorded a moment after its second ended still lands in it). When a node's
//! operations move on to a later second, the older one is reduced to its quantiles and its
//! histogram is cleared and reused. About 20 KiB per histogram, so some 180 KiB per node, plus
//! 56 bytes per node, outcome and second of the run. Beside them each node keeps a uniform
//! sample of its operations per outcome ([`LatencySample`], at most [`SAMPLES_OK`] ok and
//! [`SAMPLES_FAILED`] fail and info each), for the plot of every operation's latency.

use std::sync::Mutex;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::node::NodeName;

use super::measure::MICROS;

/// The highest latency recorded exactly (µs); longer ones are recorded as this.
const HIGHEST_US: u64 = 60 * MICROS;

/// At most this many `ok` operations are kept per node for the plot of every operation.
pub const SAMPLES_OK: usize = 3_000;
/// At most this many `fail` and as many `info` operations are kept per node for that plot.
pub const SAMPLES_FAILED: usize = 1_000;

/// How an operation ended, in Jepsen's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// It happened: the write was acknowledged.
    Ok,
    /// It definitely did not happen.
    Fail,
    /// It may or may not have happened.
    Info,
}

impl Outcome {
    /// All three, in this order.
    pub const ALL: [Outcome; 3] = [Outcome::Ok, Outcome::Fail, Outcome::Info];

    /// `ok`, `fail`, `info`.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Fail => "fail",
            Outcome::Info => "info",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One node's latency of one outcome in one second of the run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SecondLatency {
    /// 1-based second, as the TSV numbers them (second `s` covers `[s-1, s)` since the start).
    pub sec: u64,
    /// Operations that ended in that second.
    pub count: u64,
    /// Median latency, milliseconds.
    pub p50_ms: f64,
    /// 95th percentile, milliseconds.
    #[serde(default)]
    pub p95_ms: f64,
    /// 99th percentile, milliseconds.
    pub p99_ms: f64,
    /// 99.9th percentile, milliseconds.
    #[serde(default)]
    pub p999_ms: f64,
    /// Slowest, milliseconds.
    pub max_ms: f64,
}

/// The latency of one outcome's operations on one node: over the run and per second (seconds
/// without one are absent). All zero when there was none.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OutcomeLatency {
    /// Operations recorded.
    pub count: u64,
    /// Median over the run, milliseconds.
    pub p50_ms: f64,
    /// 95th percentile over the run, milliseconds.
    #[serde(default)]
    pub p95_ms: f64,
    /// 99th percentile over the run, milliseconds.
    pub p99_ms: f64,
    /// 99.9th percentile over the run, milliseconds.
    #[serde(default)]
    pub p999_ms: f64,
    /// Slowest, milliseconds.
    pub max_ms: f64,
    /// Per second, in time order.
    pub seconds: Vec<SecondLatency>,
}

/// One node's latency over the run. The top-level figures (`count`, `p50_ms` ... `seconds`) are
/// the successful operations' (`ok`), as they always were; `fail` and `info` have their own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeLatency {
    /// Node name.
    pub node: NodeName,
    /// The successful operations.
    #[serde(flatten)]
    pub ok: OutcomeLatency,
    /// The operations that definitely did not happen.
    #[serde(default)]
    pub fail: OutcomeLatency,
    /// The operations whose outcome is unknown.
    #[serde(default)]
    pub info: OutcomeLatency,
}

impl NodeLatency {
    /// The latency of one outcome.
    pub fn of(&self, outcome: Outcome) -> &OutcomeLatency {
        match outcome {
            Outcome::Ok => &self.ok,
            Outcome::Fail => &self.fail,
            Outcome::Info => &self.info,
        }
    }
}

/// One operation kept for the plot of every operation's latency.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatencySample {
    /// When it ended, µs since the start of the run.
    pub at_us: u64,
    /// How long it took, µs.
    pub latency_us: u64,
    /// How it ended.
    pub outcome: Outcome,
}

fn histogram() -> Histogram<u32> {
    Histogram::new_with_bounds(1, HIGHEST_US, 2).expect("valid histogram bounds")
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// The index of a histogram that holds no second.
const NONE: u64 = u64::MAX;

/// A histogram for one second (0-based index) that is still being filled.
struct Open {
    idx: u64,
    hist: Histogram<u32>,
}

/// The quantiles of a histogram, in milliseconds: p50, p95, p99, p99.9, max (zeros when empty).
fn quantiles(h: &Histogram<u32>) -> [f64; 5] {
    if h.is_empty() {
        return [0.0; 5];
    }
    let q = |q: f64| ms(h.value_at_quantile(q));
    [q(0.5), q(0.95), q(0.99), q(0.999), ms(h.max())]
}

/// One node's histograms of one outcome.
struct Book {
    total: Histogram<u32>,
    /// The latest second with an operation, and the one before it.
    current: Open,
    previous: Open,
    closed: Vec<SecondLatency>,
}

impl Book {
    fn new() -> Book {
        Book {
            total: histogram(),
            current: Open {
                idx: 0,
                hist: histogram(),
            },
            previous: Open {
                idx: NONE,
                hist: histogram(),
            },
            closed: Vec::new(),
        }
    }

    fn close(closed: &mut Vec<SecondLatency>, open: &mut Open) {
        let h = &open.hist;
        if h.is_empty() || open.idx == NONE {
            open.idx = NONE;
            return;
        }
        let [p50_ms, p95_ms, p99_ms, p999_ms, max_ms] = quantiles(h);
        closed.push(SecondLatency {
            sec: open.idx + 1,
            count: h.len(),
            p50_ms,
            p95_ms,
            p99_ms,
            p999_ms,
            max_ms,
        });
        open.hist.reset();
        open.idx = NONE;
    }

    fn record(&mut self, idx: u64, latency_us: u64) {
        let v = latency_us.clamp(1, HIGHEST_US);
        self.total.saturating_record(v);
        if idx > self.current.idx {
            // Second `previous` can get nothing more: reduce it, and reuse its histogram.
            Self::close(&mut self.closed, &mut self.previous);
            std::mem::swap(&mut self.previous, &mut self.current);
            self.current.idx = idx;
            if self.previous.idx.saturating_add(1) < idx {
                // A gap: the previous second is over too; the histogram waits, empty, for an
                // operation of the second just before this one that another connection records
                // a moment late.
                Self::close(&mut self.closed, &mut self.previous);
                self.previous.idx = idx - 1;
            }
        }
        if idx == self.current.idx {
            self.current.hist.saturating_record(v);
        } else if idx == self.previous.idx {
            self.previous.hist.saturating_record(v);
        }
        // Older still cannot happen (an operation is recorded as it ends); it would count in the
        // total only.
    }

    fn finish(mut self) -> OutcomeLatency {
        Self::close(&mut self.closed, &mut self.previous);
        Self::close(&mut self.closed, &mut self.current);
        self.closed.sort_by_key(|s| s.sec);
        let [p50_ms, p95_ms, p99_ms, p999_ms, max_ms] = quantiles(&self.total);
        OutcomeLatency {
            count: self.total.len(),
            p50_ms,
            p95_ms,
            p99_ms,
            p999_ms,
            max_ms,
            seconds: self.closed,
        }
    }
}

/// A uniform sample of a stream of bounded size (Vitter's algorithm R), drawn with a fixed-seed
/// xorshift so that the same run keeps the same points.
struct Reservoir {
    kept: Vec<LatencySample>,
    capacity: usize,
    seen: u64,
    rng: u64,
}

impl Reservoir {
    fn new(capacity: usize, seed: u64) -> Reservoir {
        Reservoir {
            kept: Vec::new(),
            capacity,
            seen: 0,
            rng: seed | 1,
        }
    }

    fn offer(&mut self, s: LatencySample) {
        self.seen += 1;
        if self.kept.len() < self.capacity {
            self.kept.push(s);
            return;
        }
        // xorshift64
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let j = self.rng % self.seen;
        if let Some(slot) = self.kept.get_mut(j as usize) {
            *slot = s;
        }
    }
}

/// One node's books, one per outcome, and its samples.
struct NodeBook {
    books: [Book; 3],
    samples: [Reservoir; 3],
}

impl NodeBook {
    fn new(node: usize) -> NodeBook {
        let seed = 0x9E37_79B9_7F4A_7C15_u64.wrapping_mul(node as u64 + 1);
        NodeBook {
            books: [Book::new(), Book::new(), Book::new()],
            samples: [
                Reservoir::new(SAMPLES_OK, seed),
                Reservoir::new(SAMPLES_FAILED, seed ^ 1),
                Reservoir::new(SAMPLES_FAILED, seed ^ 2),
            ],
        }
    }
}

/// The run's latency recorder, shared by the connections: one lock per node, taken once per
/// operation.
pub struct Latencies {
    nodes: Vec<Mutex<NodeBook>>,
}

impl Latencies {
    /// A recorder for `nodes` nodes.
    pub fn new(nodes: usize) -> Latencies {
        Latencies {
            nodes: (0..nodes).map(|i| Mutex::new(NodeBook::new(i))).collect(),
        }
    }

    /// Record an operation on node `node` (index) that ended with `outcome` at `at_us` since
    /// the start and took `latency_us`.
    pub fn record(&self, node: usize, outcome: Outcome, at_us: u64, latency_us: u64) {
        if let Some(book) = self.nodes.get(node) {
            let mut b = book.lock().unwrap_or_else(|p| p.into_inner());
            b.books[outcome.index()].record(at_us / MICROS, latency_us);
            b.samples[outcome.index()].offer(LatencySample {
                at_us,
                latency_us,
                outcome,
            });
        }
    }

    /// Node `node`'s latencies of `outcome` so far as histogram buckets: per bucket (not
    /// cumulative) the count at or below each of `bounds_us` (ascending) and above the last, with
    /// the count and the sum in microseconds (the sum from the HDR histogram's values, within its
    /// 1 %).
    pub fn buckets(
        &self,
        node: usize,
        outcome: Outcome,
        bounds_us: &[u64],
    ) -> (Vec<u64>, u64, f64) {
        let mut per = vec![0u64; bounds_us.len() + 1];
        let Some(book) = self.nodes.get(node) else {
            return (per, 0, 0.0);
        };
        let b = book.lock().unwrap_or_else(|p| p.into_inner());
        let total = &b.books[outcome.index()].total;
        let mut sum = 0.0;
        for v in total.iter_recorded() {
            let value = total.lowest_equivalent(v.value_iterated_to());
            let i = bounds_us.partition_point(|&bound| bound < value);
            per[i] += u64::from(v.count_at_value());
            sum +=
                total.median_equivalent(v.value_iterated_to()) as f64 * v.count_at_value() as f64;
        }
        (per, total.len(), sum)
    }

    /// Every node's latency and kept samples (in time order), in node order, named by `names`;
    /// the recorder is spent.
    pub fn finish(self, names: &[NodeName]) -> (Vec<NodeLatency>, Vec<Vec<LatencySample>>) {
        self.nodes
            .into_iter()
            .zip(names)
            .map(|(b, n)| {
                let b = b.into_inner().unwrap_or_else(|p| p.into_inner());
                let [ok, fail, info] = b.books.map(Book::finish);
                let mut samples: Vec<LatencySample> =
                    b.samples.into_iter().flat_map(|r| r.kept).collect();
                samples.sort_by_key(|s| s.at_us);
                (
                    NodeLatency {
                        node: n.clone(),
                        ok,
                        fail,
                        info,
                    },
                    samples,
                )
            })
            .unzip()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_second_gets_its_own_quantiles_and_the_run_its_total() {
        let l = Latencies::new(2);
        // Node 0: second 1 (idx 0) 100 fast iterations of 1 ms and one of 50 ms; second 3 (idx
        // 2) ten of 10 ms; nothing in second 2.
        for _ in 0..100 {
            l.record(0, Outcome::Ok, 200_000, 1_000);
        }
        l.record(0, Outcome::Ok, 900_000, 50_000);
        for _ in 0..10 {
            l.record(0, Outcome::Ok, 2_500_000, 10_000);
        }
        // A success of second 3 recorded after second 4 began still lands in second 3.
        l.record(0, Outcome::Ok, 3_100_000, 2_000);
        l.record(0, Outcome::Ok, 2_999_000, 20_000);
        // After a gap (nothing in seconds 5 to 6), a late success of second 6 still counts there.
        l.record(0, Outcome::Ok, 6_500_000, 3_000);
        l.record(0, Outcome::Ok, 5_900_000, 3_000);
        let (out, _) = l.finish(&["n1".into(), "n2".into()]);
        let n1 = &out[0].ok;
        assert_eq!(out[0].node, "n1");
        assert_eq!(n1.count, 115);
        let secs: Vec<u64> = n1.seconds.iter().map(|s| s.sec).collect();
        assert_eq!(secs, vec![1, 3, 4, 6, 7]);
        let s1 = n1.seconds[0];
        assert_eq!(s1.count, 101);
        assert!((s1.p50_ms - 1.0).abs() < 0.01, "{s1:?}");
        assert!((s1.p99_ms - 1.0).abs() < 0.01, "{s1:?}");
        assert!((s1.max_ms - 50.0).abs() < 0.5, "{s1:?}");
        let s3 = n1.seconds[1];
        assert_eq!(s3.count, 11);
        assert!((s3.p50_ms - 10.0).abs() < 0.1, "{s3:?}");
        assert!((s3.max_ms - 20.0).abs() < 0.2, "{s3:?}");
        assert_eq!(n1.seconds[2].count, 1);
        assert!((n1.p50_ms - 1.0).abs() < 0.01 && (n1.max_ms - 50.0).abs() < 0.5);
        // A node without a success has no seconds and zero quantiles.
        assert_eq!(out[1].ok.count, 0);
        assert!(out[1].ok.seconds.is_empty() && out[1].ok.p99_ms == 0.0);
    }

    #[test]
    fn buckets_count_each_latency_once_at_its_bound() {
        let l = Latencies::new(1);
        for _ in 0..10 {
            l.record(0, Outcome::Ok, 1, 400); // 0.4 ms
        }
        for _ in 0..5 {
            l.record(0, Outcome::Ok, 1, 1_000); // exactly 1 ms: at or below the 1 ms bound
        }
        l.record(0, Outcome::Ok, 1, 30_000);
        l.record(0, Outcome::Ok, 1, 90 * MICROS); // above every bound
        let (per, count, sum) = l.buckets(0, Outcome::Ok, &[500, 1_000, 2_000, 50_000]);
        assert_eq!(per, vec![10, 5, 0, 1, 1]);
        assert_eq!(count, 17);
        // 4 + 5 + 30 + 60 000 (kept at 60 s) ms, within the histogram's precision.
        let want = 4_000.0 + 5_000.0 + 30_000.0 + 60_000_000.0;
        assert!((sum - want).abs() / want < 0.01, "{sum}");
        assert_eq!(l.buckets(3, Outcome::Ok, &[1]).1, 0, "no such node");
    }

    #[test]
    fn memory_is_three_histograms_per_node_whatever_the_length() {
        let l = Latencies::new(1);
        for sec in 0..3_600u64 {
            for i in 0..5 {
                l.record(
                    0,
                    Outcome::Ok,
                    sec * MICROS + i * 1_000,
                    500 + sec % 7 * 100,
                );
            }
        }
        let book = l.nodes[0].lock().unwrap();
        assert_eq!(book.books[0].closed.len(), 3_598);
        assert_eq!(book.books[0].total.len(), 18_000);
        assert_eq!(book.samples[0].kept.len(), SAMPLES_OK);
        drop(book);
        let (out, samples) = l.finish(&["n1".into()]);
        assert_eq!(out[0].ok.seconds.len(), 3_600);
        assert!(out[0].ok.seconds.iter().all(|s| s.count == 5));
        // The kept sample spreads over the whole run, as a uniform one does: a tenth of it in
        // each tenth of the run, within a few standard deviations.
        assert_eq!(samples[0].len(), SAMPLES_OK);
        assert!(samples[0].windows(2).all(|w| w[0].at_us <= w[1].at_us));
        for tenth in 0..10u64 {
            let n = samples[0]
                .iter()
                .filter(|s| s.at_us / (360 * MICROS) == tenth)
                .count();
            assert!((230..=370).contains(&n), "tenth {tenth}: {n}");
        }
        // Over 60 s is kept as 60 s, not dropped.
        let l = Latencies::new(1);
        l.record(0, Outcome::Ok, 1, 120 * MICROS);
        assert!((l.finish(&["n1".into()]).0[0].ok.max_ms - 60_000.0).abs() < 600.0);
    }
}

#[cfg(test)]
mod outcome_tests {
    use super::*;

    /// The quantiles of each second against a brute-force sort of the same values (nearest
    /// rank), per outcome; the outcomes never mix; the JSON keeps ok's figures at the top.
    #[test]
    fn every_outcome_has_its_own_quantiles_which_agree_with_a_sort() {
        let l = Latencies::new(1);
        let mut by: std::collections::HashMap<(Outcome, u64), Vec<u64>> = Default::default();
        let mut x = 12345u64;
        for i in 0..30_000u64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let outcome = Outcome::ALL[(x >> 60) as usize % 3];
            let lat = 100 + (x >> 33) % 2_000_000;
            let at = i * 100;
            l.record(0, outcome, at, lat);
            by.entry((outcome, at / MICROS)).or_default().push(lat);
        }
        let (out, samples) = l.finish(&["n1".into()]);
        let n = &out[0];
        for outcome in Outcome::ALL {
            let ol = n.of(outcome);
            let total: usize = by
                .iter()
                .filter(|(k, _)| k.0 == outcome)
                .map(|(_, v)| v.len())
                .sum();
            assert_eq!(ol.count as usize, total);
            for s in &ol.seconds {
                let mut v = by[&(outcome, s.sec - 1)].clone();
                v.sort_unstable();
                let rank =
                    |q: f64| v[((q * v.len() as f64).ceil() as usize).max(1) - 1] as f64 / 1000.0;
                for (got, q) in [
                    (s.p50_ms, 0.5),
                    (s.p95_ms, 0.95),
                    (s.p99_ms, 0.99),
                    (s.p999_ms, 0.999),
                ] {
                    let want = rank(q);
                    assert!(
                        (got - want).abs() <= want * 0.011 + 0.002,
                        "{outcome:?} s{} q{q}: {got} vs {want}",
                        s.sec
                    );
                }
                let max = *v.last().unwrap() as f64 / 1000.0;
                assert!(
                    (s.max_ms - max).abs() <= max * 0.011,
                    "{} vs {max}",
                    s.max_ms
                );
            }
        }
        assert!(samples[0].iter().any(|s| s.outcome == Outcome::Info));
        let json = serde_json::to_value(n).unwrap();
        assert_eq!(json["count"], serde_json::json!(n.ok.count));
        assert_eq!(json["fail"]["count"], serde_json::json!(n.fail.count));
        let back: NodeLatency = serde_json::from_value(json).unwrap();
        assert_eq!(&back, n);
        // A summary written before fail and info existed still reads.
        let old: NodeLatency = serde_json::from_str(
            r#"{"node":"n1","count":1,"p50_ms":1.0,"p99_ms":1.0,"max_ms":1.0,"seconds":[]}"#,
        )
        .unwrap();
        assert_eq!((old.ok.count, old.fail.count), (1, 0));
    }
}
