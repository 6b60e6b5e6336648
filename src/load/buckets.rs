//! The loop's per-second counts: lock-free per-node buckets that the connections add to and the
//! printer reads once a second ([`Second`]), beside the successes' latencies and stamps.

use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};

use super::latency;
use super::measure::MICROS;
use super::timeline;

/// One second of the run, as printed.
#[derive(Debug, Clone, PartialEq)]
pub struct Second {
    /// 1-based second number (second `s` covers `[s-1, s)` since the start).
    pub sec: u64,
    /// Successful iterations per node, in node order.
    pub counts: Vec<u64>,
    /// Failed iterations per node, in node order.
    pub errors: Vec<u64>,
    /// Of those, the ones whose write's outcome is unknown (Jepsen's `info`), per node.
    pub info: Vec<u64>,
    /// False for the last, cut-short second of an interrupted run.
    pub complete: bool,
}

/// Per-node, per-second counters shared by the connections and the printer, and the latency of
/// the successful iterations.
pub(super) struct Buckets {
    ok: Vec<Vec<AtomicU32>>,
    err: Vec<Vec<AtomicU32>>,
    info: Vec<Vec<AtomicU32>>,
    /// Per node, the anomalies its keys' checks have counted so far, by kind (lost, stale,
    /// reverted, impossible); a loss can be revised down.
    anomalies: Vec<[AtomicI64; 4]>,
    pub(super) latency: latency::Latencies,
    /// The successes' stamps.
    pub(super) recorder: timeline::Recorder,
}

impl Buckets {
    pub(super) fn new(nodes: usize, seconds: usize, end_us: u64) -> Buckets {
        let mk = || {
            (0..nodes)
                .map(|_| (0..seconds).map(|_| AtomicU32::new(0)).collect())
                .collect()
        };
        Buckets {
            ok: mk(),
            err: mk(),
            info: mk(),
            anomalies: (0..nodes).map(|_| Default::default()).collect(),
            latency: latency::Latencies::new(nodes),
            recorder: timeline::Recorder::new(nodes, end_us),
        }
    }
    /// Count a success of `node` at `t_us` (µs since the start) in its second.
    pub(super) fn ok(&self, node: usize, t_us: u64) {
        Self::add(&self.ok, node, t_us);
    }
    /// Count a failed iteration of `node` at `t_us` in its second.
    pub(super) fn err(&self, node: usize, t_us: u64) {
        Self::add(&self.err, node, t_us);
    }
    /// Count a failed iteration of `node` at `t_us` whose write's outcome is unknown (also
    /// counted by [`Buckets::err`]).
    pub(super) fn info(&self, node: usize, t_us: u64) {
        Self::add(&self.info, node, t_us);
    }
    /// A key of `node` found anomalies: add the change of its counts (lost, stale, reverted,
    /// impossible).
    pub(super) fn anomalies(&self, node: usize, change: [i64; 4]) {
        if let Some(a) = self.anomalies.get(node) {
            for (slot, d) in a.iter().zip(change) {
                slot.fetch_add(d, Ordering::Relaxed);
            }
        }
    }
    /// Node `node`'s anomaly counts so far (lost, stale, reverted, impossible).
    pub(super) fn anomaly_counts(&self, node: usize) -> [u64; 4] {
        let mut out = [0; 4];
        if let Some(a) = self.anomalies.get(node) {
            for (o, slot) in out.iter_mut().zip(a) {
                *o = slot.load(Ordering::Relaxed).max(0) as u64;
            }
        }
        out
    }
    fn add(v: &[Vec<AtomicU32>], node: usize, t_us: u64) {
        if let Some(b) = v[node].get((t_us / MICROS) as usize) {
            b.fetch_add(1, Ordering::Relaxed);
        }
    }
    pub(super) fn second(&self, sec: u64, complete: bool) -> Second {
        let idx = (sec - 1) as usize;
        let read = |v: &Vec<Vec<AtomicU32>>| {
            v.iter()
                .map(|n| {
                    n.get(idx)
                        .map(|c| c.load(Ordering::Relaxed) as u64)
                        .unwrap_or(0)
                })
                .collect()
        };
        Second {
            sec,
            counts: read(&self.ok),
            errors: read(&self.err),
            info: read(&self.info),
            complete,
        }
    }
}
