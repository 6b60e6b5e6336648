//! The latency of the loop's iterations, per node and per second, in bounded memory.
//!
//! An iteration's latency runs from its start (its connect included, when the connection had to
//! be made again) to the acknowledgement of its write; only iterations that succeeded (Jepsen's
//! `ok`) are recorded, so a second without a success has no latency, and an outage shows as
//! missing seconds, not as a latency of the op timeout. Values are recorded into HDR histograms
//! (the `hdrhistogram` crate, 1 µs to 60 s, two significant digits: a quantile is within 1 % of
//! the true one).
//!
//! Memory does not grow with the number of iterations: per node, one histogram for the whole run
//! and two for the seconds being filled (the current one and the one before, so a success
//! recorded a moment after its second ended still lands in it). When a node's successes move on
//! to a later second, the older one is reduced to its quantiles ([`SecondLatency`], a few numbers)
//! and its histogram is cleared and reused. About 20 KiB per histogram, so some 60 KiB per node,
//! plus 40 bytes per node and second of the run.

use std::sync::Mutex;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::node::NodeName;

use super::measure::MICROS;

/// The highest latency recorded exactly (µs); longer ones are recorded as this.
const HIGHEST_US: u64 = 60 * MICROS;

/// One node's latency in one second of the run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SecondLatency {
    /// 1-based second, as the TSV numbers them (second `s` covers `[s-1, s)` since the start).
    pub sec: u64,
    /// Successful iterations whose acknowledgement came in that second.
    pub count: u64,
    /// Median latency, milliseconds.
    pub p50_ms: f64,
    /// 99th percentile, milliseconds.
    pub p99_ms: f64,
    /// Slowest, milliseconds.
    pub max_ms: f64,
}

/// One node's latency over the run: in total, and per second (seconds without a success are
/// absent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeLatency {
    /// Node name.
    pub node: NodeName,
    /// Successful iterations recorded.
    pub count: u64,
    /// Median over the run, milliseconds.
    pub p50_ms: f64,
    /// 99th percentile over the run, milliseconds.
    pub p99_ms: f64,
    /// Slowest, milliseconds.
    pub max_ms: f64,
    /// Per second, in time order.
    pub seconds: Vec<SecondLatency>,
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

/// One node's histograms.
struct NodeBook {
    total: Histogram<u32>,
    /// The latest second with a success, and the one before it.
    current: Open,
    previous: Open,
    closed: Vec<SecondLatency>,
}

impl NodeBook {
    fn new() -> NodeBook {
        NodeBook {
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
        closed.push(SecondLatency {
            sec: open.idx + 1,
            count: h.len(),
            p50_ms: ms(h.value_at_quantile(0.5)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(h.max()),
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
                // A gap: the previous second is over too; the histogram waits, empty, for a
                // success of the second just before this one that another connection records a
                // moment late.
                Self::close(&mut self.closed, &mut self.previous);
                self.previous.idx = idx - 1;
            }
        }
        if idx == self.current.idx {
            self.current.hist.saturating_record(v);
        } else if idx == self.previous.idx {
            self.previous.hist.saturating_record(v);
        }
        // Older still cannot happen (a success is recorded as it is timestamped); it would count
        // in the total only.
    }

    fn finish(mut self, node: NodeName) -> NodeLatency {
        Self::close(&mut self.closed, &mut self.previous);
        Self::close(&mut self.closed, &mut self.current);
        self.closed.sort_by_key(|s| s.sec);
        let t = &self.total;
        let q = |q: f64| {
            if t.is_empty() {
                0.0
            } else {
                ms(t.value_at_quantile(q))
            }
        };
        NodeLatency {
            node,
            count: t.len(),
            p50_ms: q(0.5),
            p99_ms: q(0.99),
            max_ms: if t.is_empty() { 0.0 } else { ms(t.max()) },
            seconds: self.closed,
        }
    }
}

/// The run's latency recorder, shared by the connections: one lock per node, taken once per
/// successful iteration.
pub struct Latencies {
    nodes: Vec<Mutex<NodeBook>>,
}

impl Latencies {
    /// A recorder for `nodes` nodes.
    pub fn new(nodes: usize) -> Latencies {
        Latencies {
            nodes: (0..nodes).map(|_| Mutex::new(NodeBook::new())).collect(),
        }
    }

    /// Record a successful iteration on node `node` (index), acknowledged at `at_us` since the
    /// start, that took `latency_us`.
    pub fn record(&self, node: usize, at_us: u64, latency_us: u64) {
        if let Some(book) = self.nodes.get(node) {
            let mut b = book.lock().unwrap_or_else(|p| p.into_inner());
            b.record(at_us / MICROS, latency_us);
        }
    }

    /// Node `node`'s latencies so far as histogram buckets: per bucket (not cumulative) the
    /// count at or below each of `bounds_us` (ascending) and above the last, with the count and
    /// the sum in microseconds (the sum from the HDR histogram's values, within its 1 %).
    pub fn buckets(&self, node: usize, bounds_us: &[u64]) -> (Vec<u64>, u64, f64) {
        let mut per = vec![0u64; bounds_us.len() + 1];
        let Some(book) = self.nodes.get(node) else {
            return (per, 0, 0.0);
        };
        let b = book.lock().unwrap_or_else(|p| p.into_inner());
        let mut sum = 0.0;
        for v in b.total.iter_recorded() {
            let value = b.total.lowest_equivalent(v.value_iterated_to());
            let i = bounds_us.partition_point(|&bound| bound < value);
            per[i] += u64::from(v.count_at_value());
            sum +=
                b.total.median_equivalent(v.value_iterated_to()) as f64 * v.count_at_value() as f64;
        }
        (per, b.total.len(), sum)
    }

    /// Every node's latency, in node order, named by `names`; the recorder is spent.
    pub fn finish(self, names: &[NodeName]) -> Vec<NodeLatency> {
        self.nodes
            .into_iter()
            .zip(names)
            .map(|(b, n)| {
                b.into_inner()
                    .unwrap_or_else(|p| p.into_inner())
                    .finish(n.clone())
            })
            .collect()
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
            l.record(0, 200_000, 1_000);
        }
        l.record(0, 900_000, 50_000);
        for _ in 0..10 {
            l.record(0, 2_500_000, 10_000);
        }
        // A success of second 3 recorded after second 4 began still lands in second 3.
        l.record(0, 3_100_000, 2_000);
        l.record(0, 2_999_000, 20_000);
        // After a gap (nothing in seconds 5 to 6), a late success of second 6 still counts there.
        l.record(0, 6_500_000, 3_000);
        l.record(0, 5_900_000, 3_000);
        let out = l.finish(&["n1".into(), "n2".into()]);
        let n1 = &out[0];
        assert_eq!(n1.node, "n1");
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
        assert_eq!(out[1].count, 0);
        assert!(out[1].seconds.is_empty() && out[1].p99_ms == 0.0);
    }

    #[test]
    fn buckets_count_each_latency_once_at_its_bound() {
        let l = Latencies::new(1);
        for _ in 0..10 {
            l.record(0, 1, 400); // 0.4 ms
        }
        for _ in 0..5 {
            l.record(0, 1, 1_000); // exactly 1 ms: at or below the 1 ms bound
        }
        l.record(0, 1, 30_000);
        l.record(0, 1, 90 * MICROS); // above every bound
        let (per, count, sum) = l.buckets(0, &[500, 1_000, 2_000, 50_000]);
        assert_eq!(per, vec![10, 5, 0, 1, 1]);
        assert_eq!(count, 17);
        // 4 + 5 + 30 + 60 000 (kept at 60 s) ms, within the histogram's precision.
        let want = 4_000.0 + 5_000.0 + 30_000.0 + 60_000_000.0;
        assert!((sum - want).abs() / want < 0.01, "{sum}");
        assert_eq!(l.buckets(3, &[1]).1, 0, "no such node");
    }

    #[test]
    fn memory_is_three_histograms_per_node_whatever_the_length() {
        let l = Latencies::new(1);
        for sec in 0..3_600u64 {
            for i in 0..5 {
                l.record(0, sec * MICROS + i * 1_000, 500 + sec % 7 * 100);
            }
        }
        let book = l.nodes[0].lock().unwrap();
        assert_eq!(book.closed.len(), 3_598);
        assert_eq!(book.total.len(), 18_000);
        drop(book);
        let out = l.finish(&["n1".into()]);
        assert_eq!(out[0].seconds.len(), 3_600);
        assert!(out[0].seconds.iter().all(|s| s.count == 5));
        // Over 60 s is kept as 60 s, not dropped.
        let l = Latencies::new(1);
        l.record(0, 1, 120 * MICROS);
        assert!((l.finish(&["n1".into()])[0].max_ms - 60_000.0).abs() < 600.0);
    }
}
