//! The end-of-run summary: iterations and errors per node, lost and ambiguous writes, unavailability
//! windows (cluster-wide and per node), and each key's last acknowledged value (so that what the
//! database holds can be checked independently).

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::measure::{self, Window, MICROS};

/// Spans at least this long are listed as outages in the summary (the longest is always reported).
pub const LISTED_WINDOW_US: u64 = MICROS / 2;

/// A read that returned less than the value last acknowledged on that key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LostWrite {
    /// The key.
    pub key: String,
    /// When the read happened (seconds since the start).
    pub at_s: f64,
    /// The last acknowledged value.
    pub expected: u64,
    /// What the read returned.
    pub got: u64,
}

/// One connection's bookkeeping, filled by the loop.
#[derive(Debug, Clone)]
pub struct ConnReport {
    /// Index of the node in the run's node order.
    pub node_idx: usize,
    /// Node name.
    pub node: String,
    /// The key this connection owns.
    pub key: String,
    /// Success timestamps (µs since the start), ascending.
    pub successes: Vec<u64>,
    /// Acknowledged iterations.
    pub iterations: u64,
    /// Failed iterations (connect, read or write failed or missed its deadline).
    pub errors: u64,
    /// Writes that failed: they may or may not have been applied.
    pub ambiguous: u64,
    /// The value of the last acknowledged write (0 before any).
    pub last_acked: u64,
    /// The highest value written by a failed write since the last acknowledged one (0: none).
    pub max_ambiguous: u64,
    /// Lost writes seen by this connection.
    pub lost: Vec<LostWrite>,
    /// The value of a write sent and not yet answered.
    pub writing: Option<u64>,
}

impl ConnReport {
    /// An empty report for a connection.
    pub fn new(node_idx: usize, node: String, key: String) -> ConnReport {
        ConnReport {
            node_idx,
            node,
            key,
            successes: Vec::new(),
            iterations: 0,
            errors: 0,
            ambiguous: 0,
            last_acked: 0,
            max_ambiguous: 0,
            lost: Vec::new(),
            writing: None,
        }
    }
}

/// Per-node figures.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeSummary {
    /// Node name.
    pub node: String,
    /// Successful iterations.
    pub iterations: u64,
    /// Failed iterations.
    pub errors: u64,
    /// Lost writes seen on this node's keys.
    pub lost_writes: u64,
    /// Ambiguous (failed) writes on this node's keys.
    pub ambiguous_writes: u64,
    /// Mean successful iterations per second over the run.
    pub rate_per_s: f64,
    /// The longest span without a success on this node.
    pub window: Window,
}

/// What a key must hold at the end: the last acknowledged value, or up to `max_possible` if writes
/// after it failed ambiguously.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeySummary {
    /// The key.
    pub key: String,
    /// The node its connection talked to.
    pub node: String,
    /// Acknowledged iterations on this key.
    pub iterations: u64,
    /// The last acknowledged value.
    pub last_acked: u64,
    /// The highest value the key may hold (≥ `last_acked`) given ambiguous writes after it.
    pub max_possible: u64,
}

impl KeySummary {
    /// Whether a value read back from the database is consistent with what was acknowledged.
    pub fn accepts(&self, held: u64) -> bool {
        held >= self.last_acked && held <= self.max_possible
    }
}

/// The whole run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    /// The run id (key prefix).
    pub run_id: String,
    /// Wall-clock time of second 0 of the run (RFC 3339, microseconds), so that events stamped with
    /// the wall clock (a fault's `at`) can be placed on the run's own clock.
    #[serde(default)]
    pub started: String,
    /// How long the load ran (seconds).
    pub duration_s: f64,
    /// True when Ctrl-C (or the caller) ended it early.
    pub interrupted: bool,
    /// Successful iterations, all nodes.
    pub iterations: u64,
    /// Failed iterations, all nodes.
    pub errors: u64,
    /// Lost writes, all nodes.
    pub lost_writes: u64,
    /// Ambiguous writes, all nodes.
    pub ambiguous_writes: u64,
    /// The longest span without a success anywhere in the cluster.
    pub cluster_window: Window,
    /// Every cluster-wide span without success of at least 0.5 s, in time order.
    pub cluster_outages: Vec<Window>,
    /// Per node, in node order.
    pub nodes: Vec<NodeSummary>,
    /// Per key.
    pub keys: Vec<KeySummary>,
    /// Every lost write seen.
    pub lost: Vec<LostWrite>,
    /// Per node (in node order), every success timestamp (µs since the start, ascending): what
    /// the windows are computed from. Not serialised (a run folder keeps the results instead).
    #[serde(skip)]
    pub successes: Vec<Vec<u64>>,
}

impl Summary {
    /// Build the summary from the connections' reports; `end_us` is the run's length.
    pub fn new(
        run_id: String,
        started: String,
        nodes: Vec<String>,
        end_us: u64,
        interrupted: bool,
        reports: Vec<ConnReport>,
    ) -> Summary {
        let secs = measure::secs(end_us).max(1e-9);
        let mut node_summaries = Vec::new();
        let mut per_node_ts: Vec<Vec<u64>> = vec![Vec::new(); nodes.len()];
        for r in &reports {
            per_node_ts[r.node_idx].extend_from_slice(&r.successes);
        }
        for ts in &mut per_node_ts {
            ts.sort_unstable();
        }
        for (i, node) in nodes.iter().enumerate() {
            let mine = reports.iter().filter(|r| r.node_idx == i);
            let (mut errors, mut lost, mut amb) = (0, 0, 0);
            for r in mine {
                errors += r.errors;
                lost += r.lost.len() as u64;
                amb += r.ambiguous;
            }
            let iterations = per_node_ts[i].len() as u64;
            node_summaries.push(NodeSummary {
                node: node.clone(),
                iterations,
                errors,
                lost_writes: lost,
                ambiguous_writes: amb,
                rate_per_s: iterations as f64 / secs,
                window: measure::longest_gap(&per_node_ts[i], end_us),
            });
        }
        let slices: Vec<&[u64]> = per_node_ts.iter().map(Vec::as_slice).collect();
        let all = measure::merge(&slices);
        let keys = reports
            .iter()
            .map(|r| KeySummary {
                key: r.key.clone(),
                node: r.node.clone(),
                iterations: r.iterations,
                last_acked: r.last_acked,
                max_possible: r.last_acked.max(r.max_ambiguous),
            })
            .collect();
        Summary {
            run_id,
            started,
            duration_s: measure::secs(end_us),
            interrupted,
            iterations: all.len() as u64,
            errors: node_summaries.iter().map(|n| n.errors).sum(),
            lost_writes: node_summaries.iter().map(|n| n.lost_writes).sum(),
            ambiguous_writes: node_summaries.iter().map(|n| n.ambiguous_writes).sum(),
            cluster_window: measure::longest_gap(&all, end_us),
            cluster_outages: measure::gaps(&all, end_us, LISTED_WINDOW_US),
            nodes: node_summaries,
            keys,
            lost: reports
                .iter()
                .flat_map(|r| r.lost.iter().cloned())
                .collect(),
            successes: per_node_ts,
        }
    }

    /// The summary for humans (several lines, for stderr).
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "run {}: {:.1} s{}, {} iterations, {} errors, {} lost writes, {} ambiguous writes",
            self.run_id,
            self.duration_s,
            if self.interrupted {
                " (interrupted)"
            } else {
                ""
            },
            self.iterations,
            self.errors,
            self.lost_writes,
            self.ambiguous_writes
        );
        let _ = writeln!(
            s,
            "{:<6} {:>10} {:>8} {:>8} {:>6} {:>9}  longest window",
            "node", "iterations", "rate/s", "errors", "lost", "ambiguous"
        );
        for n in &self.nodes {
            let _ = writeln!(
                s,
                "{:<6} {:>10} {:>8.1} {:>8} {:>6} {:>9}  {}",
                n.node,
                n.iterations,
                n.rate_per_s,
                n.errors,
                n.lost_writes,
                n.ambiguous_writes,
                describe(&n.window)
            );
        }
        let _ = writeln!(
            s,
            "cluster unavailability window: {}",
            describe(&self.cluster_window)
        );
        for w in &self.cluster_outages {
            let _ = writeln!(s, "  outage {}", describe(w));
        }
        s
    }
}

/// `2.31 s (from 10.02 s to 12.33 s)`, or `... to the end, still open`.
pub fn describe(w: &Window) -> String {
    if w.open {
        format!(
            "{:.2} s (from {:.2} s to the end, still open)",
            w.length_s, w.start_s
        )
    } else {
        format!(
            "{:.2} s (from {:.2} s to {:.2} s)",
            w.length_s, w.start_s, w.end_s
        )
    }
}
