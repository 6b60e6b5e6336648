//! The end-of-run summary: iterations and errors per node, the writes whose outcome was unknown,
//! the anomalies the loop's check found ([`super::check`]: lost writes, stale, reverted and
//! impossible reads), the unavailability windows (cluster-wide and per node), and each key's
//! bounds and final read, so that what the database holds can be checked independently.
//!
//! The JSON contract (`perseus load --json`, `summary.json`'s `load`), per node (`nodes[]`) and in
//! total: `iterations`, `errors`, `failed_writes` (Jepsen's `fail`), `ambiguous_writes` (`info`),
//! `lost_writes` (acknowledged increments confirmed gone), `stale_reads`, `reverted_reads`,
//! `impossible_reads`, `unverified_keys` (keys without a final read or a history verdict); per key
//! (`keys[]`): `key`, `node`, `iterations`, `last_acked`, `max_possible`, `final` (the value the
//! final reads settled on, `null` when they did not), `unverified` (why it is unverified, or
//! `null`) and the four counts;
//! `anomalies[]`, each with `kind`, `key`, `node`, `at_s`, `expected`, `got`; `conditional_writes`
//! (whether the writes were compare-and-set, without which lost cannot be told from stale);
//! `latency[]` per node: `node`, `count`, `p50_ms`, `p99_ms`, `max_ms` over the run and
//! `seconds[]` with `sec`, `count`, `p50_ms`, `p99_ms`, `max_ms` (successful iterations only);
//! `history_check` (the history checked again by [`crate::checker`]: `keys`, `linearizable`,
//! `not_linearizable`, `unknown`, `disagreements[]` naming the keys where it and the loop's own
//! check disagree, `violations[]` with each key's explanation, `elapsed_s`; `null` when no
//! history was written). These names are stable: scripts read them.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

pub use super::check::Safety;
use super::check::{Anomaly, KeyCheck};
pub use super::latency::{LatencySample, NodeLatency, OutcomeLatency, SecondLatency};
use super::measure::{self, Window, MICROS};
use super::timeline::Timelines;
use crate::history::HistoryReport;
use crate::node::NodeName;

/// Spans at least this long are listed as outages in the summary (the longest is always reported).
pub const LISTED_WINDOW_US: u64 = MICROS / 2;

/// One connection's bookkeeping, filled by the loop.
#[derive(Debug, Clone)]
pub struct ConnReport {
    /// Index of the node in the run's node order.
    pub node_idx: usize,
    /// Successful iterations within the run (their stamps are in the run's
    /// [`super::timeline::Recorder`]).
    pub iterations: u64,
    /// Failed iterations (connect, read or write failed, was refused or missed its deadline).
    pub errors: u64,
    /// Writes that definitely did not happen (refused, or failed before they could).
    pub failed: u64,
    /// Writes whose outcome is unknown: they may have been applied.
    pub ambiguous: u64,
    /// The check of the connection's key.
    pub check: KeyCheck,
    /// The connection's Jepsen process number now.
    pub process: u64,
    /// The value the final reads of its key settled on (a key that does not exist reads 0);
    /// `None` until made, or when they did not settle.
    pub final_read: Option<u64>,
    /// Why its key is unverified (no final read settled, no history verdict), when it is.
    pub unverified: Option<String>,
}

impl ConnReport {
    /// An empty report for a connection whose key is `key`, as process `process`.
    pub fn new(
        node_idx: usize,
        node: NodeName,
        key: String,
        conditional: bool,
        process: u64,
    ) -> Self {
        ConnReport {
            node_idx,
            iterations: 0,
            errors: 0,
            failed: 0,
            ambiguous: 0,
            check: KeyCheck::new(key, node, conditional),
            process,
            final_read: None,
            unverified: None,
        }
    }
}

/// Per-node figures.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeSummary {
    /// Node name.
    pub node: NodeName,
    /// Successful iterations.
    pub iterations: u64,
    /// Failed iterations.
    pub errors: u64,
    /// Writes that definitely did not happen, on this node's keys.
    #[serde(default)]
    pub failed_writes: u64,
    /// Writes whose outcome is unknown, on this node's keys.
    pub ambiguous_writes: u64,
    /// This node's keys that are unverified: no final read settled, or the history check could
    /// not decide them. Not a pass: the safety expectations fail on them.
    #[serde(default)]
    pub unverified_keys: u64,
    /// The anomalies on this node's keys (`lost_writes`, `stale_reads`, ... in the JSON).
    #[serde(flatten)]
    pub safety: Safety,
    /// Mean successful iterations per second over the run.
    pub rate_per_s: f64,
    /// The longest span without a success on this node.
    pub window: Window,
}

/// One key: what it must hold at the end (the last acknowledged value, or up to `max_possible`
/// if writes after it had unknown outcomes), what the final read found, and its anomalies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeySummary {
    /// The key.
    pub key: String,
    /// The node its connection talked to.
    pub node: NodeName,
    /// Acknowledged iterations on this key within the run.
    pub iterations: u64,
    /// The last acknowledged value.
    pub last_acked: u64,
    /// The highest value the key may hold (≥ `last_acked`) given writes of unknown outcome.
    pub max_possible: u64,
    /// The value the final reads settled on (a key that does not exist reads 0); `null` when
    /// they did not settle, or were not made.
    #[serde(default, rename = "final")]
    pub final_read: Option<u64>,
    /// Why the key is unverified, when it is (`null`: verified).
    #[serde(default)]
    pub unverified: Option<String>,
    /// Its anomalies (`lost_writes`, `stale_reads`, ... in the JSON).
    #[serde(flatten)]
    pub safety: Safety,
}

impl KeySummary {
    /// Whether a value read back from the database is consistent with what was acknowledged.
    pub fn accepts(&self, held: u64) -> bool {
        held >= self.last_acked && held <= self.max_possible
    }
}

/// The final reads of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinalReads {
    /// When they were made, seconds since the load began.
    pub at_s: f64,
    /// Keys whose reads settled (two in a row agreed).
    pub read: usize,
    /// Keys whose reads did not settle (a node still down, reads that kept changing), each as
    /// `key: why`.
    pub missing: Vec<String>,
}

/// The final reads of one key, as [`super::final_reads`] made them.
#[derive(Debug, Clone, PartialEq)]
pub struct FinalRead {
    /// What each read that answered returned, in order (`None`: the key does not exist).
    pub reads: Vec<Option<u64>>,
    /// Whether the last two agreed.
    pub settled: bool,
    /// Why they did not settle.
    pub why: Option<String>,
}

/// The history checked again, key by key, by [`crate::checker`], against the loop's own verdicts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HistoryCheck {
    /// Keys in the history.
    pub keys: usize,
    /// Keys some order explains.
    pub linearizable: usize,
    /// Keys no order explains.
    pub not_linearizable: usize,
    /// Keys not decided (its budget ran out, or the history was cut).
    pub unknown: usize,
    /// Keys on which it and the loop's own check disagree (one found something wrong, the
    /// other nothing), each as `key: what each said`. Should be empty: a disagreement is a bug
    /// in one of the two.
    pub disagreements: Vec<String>,
    /// The keys no order explains, with the explanation of their first violation (at most 10).
    pub violations: Vec<HistoryViolation>,
    /// Where the history was cut at its size cap, when it was: `line N`.
    pub truncated: Option<String>,
    /// Seconds the check took.
    pub elapsed_s: f64,
}

/// A key of the history no order explains, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryViolation {
    /// The key.
    pub key: String,
    /// Operations no order explains (the first exactly; see [`crate::checker::linearizable`]).
    pub violations: u64,
    /// The explanation of the first, a line each.
    pub explanation: Vec<String>,
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
    /// Whether the writes were compare-and-set (else lost cannot be told from stale).
    #[serde(default)]
    pub conditional_writes: bool,
    /// Successful iterations, all nodes.
    pub iterations: u64,
    /// Failed iterations, all nodes.
    pub errors: u64,
    /// Writes that definitely did not happen, all nodes.
    #[serde(default)]
    pub failed_writes: u64,
    /// Writes whose outcome is unknown, all nodes.
    pub ambiguous_writes: u64,
    /// The anomalies, all nodes (`lost_writes`, `stale_reads`, ... in the JSON).
    #[serde(flatten)]
    pub safety: Safety,
    /// The longest span without a success anywhere in the cluster.
    pub cluster_window: Window,
    /// Every cluster-wide span without success of at least 0.5 s, in time order.
    pub cluster_outages: Vec<Window>,
    /// Per node, in node order.
    pub nodes: Vec<NodeSummary>,
    /// Per key.
    pub keys: Vec<KeySummary>,
    /// The anomalies, listed (at most [`super::check::LISTED_PER_KEY`] per key), in time order.
    #[serde(default)]
    pub anomalies: Vec<Anomaly>,
    /// The final reads, once made.
    #[serde(default)]
    pub final_reads: Option<FinalReads>,
    /// Keys that are unverified (no final read settled, or the history check could not decide
    /// them), all nodes.
    #[serde(default)]
    pub unverified_keys: u64,
    /// The history file, when one was written.
    #[serde(default)]
    pub history: Option<HistoryReport>,
    /// The history checked again by [`crate::checker`], when one was written.
    #[serde(default)]
    pub history_check: Option<HistoryCheck>,
    /// Per node (in node order), the latency of the successful iterations: over the run and per
    /// second (p50, p99, max in milliseconds; [`super::latency`]).
    #[serde(default)]
    pub latency: Vec<NodeLatency>,
    /// What the open loop did (`--rate`: the schedule, and how well it was kept); `None` for the
    /// closed loop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_loop: Option<super::open::OpenLoop>,
    /// Per node, a uniform sample of its operations' latencies ([`super::latency`]), in time
    /// order, for the plot of every operation. Not in the JSON: a run folder keeps them in
    /// `latency.tsv`.
    #[serde(skip)]
    pub latency_samples: Vec<Vec<LatencySample>>,
    /// The successes as the measurements need them, per node and cluster-wide
    /// ([`super::timeline`]): what the windows are computed from. Not serialised (a run folder
    /// keeps the results instead).
    #[serde(skip)]
    pub timelines: Timelines,
    /// The connections' own state, for the final reads. Not serialised.
    #[serde(skip)]
    pub conns: Vec<ConnReport>,
}

impl Summary {
    /// Build the summary from the connections' reports and the run's timelines; `end_us` is the
    /// run's length.
    pub fn new(
        run_id: String,
        started: String,
        nodes: Vec<NodeName>,
        end_us: u64,
        interrupted: bool,
        reports: Vec<ConnReport>,
        timelines: Timelines,
    ) -> Summary {
        let conditional = reports.first().is_none_or(|r| r.check.conditional);
        let mut s = Summary {
            run_id,
            started,
            duration_s: measure::secs(end_us),
            interrupted,
            conditional_writes: conditional,
            iterations: 0,
            errors: 0,
            failed_writes: 0,
            ambiguous_writes: 0,
            safety: Safety::default(),
            cluster_window: timelines.cluster.longest(end_us),
            cluster_outages: timelines.cluster.gaps(end_us, LISTED_WINDOW_US),
            nodes: nodes
                .iter()
                .enumerate()
                .map(|(i, node)| NodeSummary {
                    node: node.clone(),
                    iterations: 0,
                    errors: 0,
                    failed_writes: 0,
                    ambiguous_writes: 0,
                    unverified_keys: 0,
                    safety: Safety::default(),
                    rate_per_s: 0.0,
                    window: timelines
                        .nodes
                        .get(i)
                        .map_or(Window::new(0, end_us, true), |t| t.longest(end_us)),
                })
                .collect(),
            keys: Vec::new(),
            anomalies: Vec::new(),
            final_reads: None,
            unverified_keys: 0,
            history: None,
            history_check: None,
            latency: Vec::new(),
            open_loop: None,
            latency_samples: Vec::new(),
            timelines,
            conns: reports,
        };
        s.refresh();
        s
    }

    /// The nodes' names, in node order.
    pub fn nodes_names(&self) -> Vec<NodeName> {
        self.nodes.iter().map(|n| n.node.clone()).collect()
    }

    /// Recompute every count, the key table and the anomaly list from the connections' state
    /// (after the final reads changed it).
    pub fn refresh(&mut self) {
        let secs = self.duration_s.max(1e-9);
        for n in &mut self.nodes {
            n.iterations = 0;
            n.errors = 0;
            n.failed_writes = 0;
            n.ambiguous_writes = 0;
            n.unverified_keys = 0;
            n.safety = Safety::default();
        }
        self.keys.clear();
        self.anomalies.clear();
        for r in &self.conns {
            let c = &r.check;
            if let Some(n) = self.nodes.get_mut(r.node_idx) {
                n.iterations += r.iterations;
                n.errors += r.errors;
                n.failed_writes += r.failed;
                n.ambiguous_writes += r.ambiguous;
                n.unverified_keys += u64::from(r.unverified.is_some());
                n.safety.add(&c.safety);
            }
            self.keys.push(KeySummary {
                key: c.key.clone(),
                node: c.node.clone(),
                iterations: r.iterations,
                last_acked: c.last_acked,
                max_possible: c.max_possible,
                final_read: r.final_read,
                unverified: r.unverified.clone(),
                safety: c.safety,
            });
            self.anomalies.extend(c.anomalies.iter().cloned());
        }
        self.anomalies.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
        for n in &mut self.nodes {
            n.rate_per_s = n.iterations as f64 / secs;
        }
        let sum = |f: fn(&NodeSummary) -> u64| self.nodes.iter().map(f).sum::<u64>();
        self.iterations = sum(|n| n.iterations);
        self.errors = sum(|n| n.errors);
        self.failed_writes = sum(|n| n.failed_writes);
        self.ambiguous_writes = sum(|n| n.ambiguous_writes);
        self.unverified_keys = sum(|n| n.unverified_keys);
        self.safety = Safety::default();
        for n in &self.nodes {
            self.safety.add(&n.safety);
        }
    }

    /// Record the final reads, one per connection in connection order. A key whose reads
    /// settled is checked on what they settled on; one whose reads did not is unverified (its
    /// reads are still checked, as reads).
    pub fn set_finals(&mut self, reads: Vec<FinalRead>, at_s: f64) {
        let mut missing = Vec::new();
        for (r, f) in self.conns.iter_mut().zip(reads) {
            if f.settled {
                r.check.final_read(&f.reads, at_s);
                r.final_read = f.reads.last().map(|v| v.unwrap_or(0));
            } else {
                r.check.settle();
                for got in &f.reads {
                    r.check.read(*got, at_s);
                    r.check.settle();
                }
                let why = format!(
                    "no final read: {}",
                    f.why.unwrap_or_else(|| "not made".into())
                );
                missing.push(format!("{}: {why}", r.check.key));
                r.unverified = Some(why);
            }
        }
        self.final_reads = Some(FinalReads {
            at_s,
            read: self.conns.len() - missing.len(),
            missing,
        });
        self.refresh();
    }

    /// The seconds (1-based, as the TSV numbers them) in which an anomaly was seen, ascending.
    pub fn anomaly_seconds(&self) -> Vec<u64> {
        let mut s: Vec<u64> = self
            .anomalies
            .iter()
            .map(|a| a.at_s.floor() as u64 + 1)
            .collect();
        s.dedup();
        s
    }

    /// The safety verdict in one line: the four kinds, how the writes were made, the final read.
    pub fn safety_line(&self) -> String {
        let k = &self.safety;
        let mut s = format!(
            "safety: {} lost writes, {} stale reads, {} reverted reads, {} impossible reads",
            k.lost_writes, k.stale_reads, k.reverted_reads, k.impossible_reads
        );
        s.push_str(if self.conditional_writes {
            "; compare-and-set writes"
        } else {
            "; blind writes (no compare-and-set: a low read is reported as lost, unconfirmed)"
        });
        match &self.final_reads {
            Some(f) if f.missing.is_empty() => {
                let _ = write!(s, "; final read of all {} keys", f.read);
            }
            Some(f) => {
                let _ = write!(
                    s,
                    "; final read of {} keys, {} did not settle",
                    f.read,
                    f.missing.len()
                );
            }
            None => s.push_str("; no final read"),
        }
        if self.unverified_keys > 0 {
            let _ = write!(s, "; {} UNVERIFIED keys (not a pass)", self.unverified_keys);
        }
        s
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
            self.safety.lost_writes,
            self.ambiguous_writes
        );
        let _ = writeln!(
            s,
            "{:<6} {:>10} {:>8} {:>8} {:>6} {:>9} {:>8} {:>8}  longest window",
            "node", "iterations", "rate/s", "errors", "lost", "ambiguous", "p50 ms", "p99 ms"
        );
        for (i, n) in self.nodes.iter().enumerate() {
            let (p50, p99) = self
                .latency
                .get(i)
                .filter(|l| l.ok.count > 0)
                .map(|l| (format!("{:.2}", l.ok.p50_ms), format!("{:.2}", l.ok.p99_ms)))
                .unwrap_or_else(|| ("-".into(), "-".into()));
            let _ = writeln!(
                s,
                "{:<6} {:>10} {:>8.1} {:>8} {:>6} {:>9} {:>8} {:>8}  {}",
                n.node,
                n.iterations,
                n.rate_per_s,
                n.errors,
                n.safety.lost_writes,
                n.ambiguous_writes,
                p50,
                p99,
                describe(&n.window)
            );
        }
        if let Some(o) = &self.open_loop {
            let _ = writeln!(s, "{}", o.line());
            for n in o.nodes.iter().filter(|n| n.late + n.never_started > 0) {
                let _ = writeln!(
                    s,
                    "  {}: {} late (mean {:.1} ms, latest {:.3} s), {} never started, {} of {} connections",
                    n.node,
                    n.late,
                    n.late_mean_ms,
                    n.late_max_ms / 1000.0,
                    n.never_started,
                    n.clients,
                    o.max_clients_per_node
                );
            }
        }
        let _ = writeln!(
            s,
            "cluster unavailability window: {}",
            describe(&self.cluster_window)
        );
        for w in &self.cluster_outages {
            let _ = writeln!(s, "  outage {}", describe(w));
        }
        let _ = writeln!(s, "{}", self.safety_line());
        for a in self.anomalies.iter().take(10) {
            let _ = writeln!(s, "  {}", describe_anomaly(a));
        }
        if self.anomalies.len() > 10 {
            let _ = writeln!(
                s,
                "  ... and {} more (all in the JSON summary)",
                self.anomalies.len() - 10
            );
        }
        let unverified: Vec<&KeySummary> = self
            .keys
            .iter()
            .filter(|k| k.unverified.is_some())
            .collect();
        for k in unverified.iter().take(10) {
            let _ = writeln!(
                s,
                "  unverified {} on {}: {}",
                k.key,
                k.node,
                k.unverified.as_deref().unwrap_or("")
            );
        }
        if unverified.len() > 10 {
            let _ = writeln!(
                s,
                "  ... and {} more unverified keys",
                unverified.len() - 10
            );
        }
        if let Some(h) = &self.history {
            let _ = writeln!(s, "{}", h.describe());
        }
        if let Some(c) = &self.history_check {
            let _ = writeln!(s, "{}", c.describe());
            for v in c.violations.iter().take(3) {
                if let Some(first) = v.explanation.first() {
                    let _ = writeln!(s, "  {}: {first}", v.key);
                }
            }
            for d in &c.disagreements {
                let _ = writeln!(s, "  DISAGREES {d}");
            }
        }
        s
    }

    /// Take the history check's verdicts: a key it could not decide within its budget is
    /// unverified (not one a cut history leaves undecided: the loop's own check saw what the
    /// file lacks); a key on which it and the loop's own check disagree is named.
    pub fn set_history_check(&mut self, report: &crate::checker::Report) {
        use crate::checker::Verdict;
        let mut c = HistoryCheck {
            keys: report.keys.len(),
            linearizable: report.linearizable(),
            not_linearizable: report.not_linearizable(),
            unknown: report.unknown(),
            truncated: report
                .truncated
                .as_ref()
                .map(|(line, _)| format!("line {line}")),
            elapsed_s: report.elapsed_s,
            ..HistoryCheck::default()
        };
        for k in &report.keys {
            if k.verdict == Verdict::NotLinearizable && c.violations.len() < 10 {
                c.violations.push(HistoryViolation {
                    key: k.key.clone(),
                    violations: k.violations,
                    explanation: k.explain(),
                });
            }
        }
        for r in &mut self.conns {
            let found = r.check.safety.total() > 0;
            match report.key(&r.check.key).map(|k| &k.verdict) {
                // Undecided within the budget: unverified. A history cut at its cap leaves the
                // keys it could not show wrong undecided too, but the loop's own check saw
                // every operation: the summary says the history is cut, and the keys stand on
                // the loop's verdicts.
                Some(Verdict::Unknown { why, cut: false }) if r.unverified.is_none() => {
                    r.unverified = Some(format!("the history check did not decide: {why}"));
                }
                Some(Verdict::NotLinearizable) if !found => c.disagreements.push(format!(
                    "{}: the history check finds it not linearizable, the loop found no anomaly",
                    r.check.key
                )),
                Some(Verdict::Linearizable) if found => c.disagreements.push(format!(
                    "{}: the loop found {}, the history check finds it linearizable",
                    r.check.key,
                    r.check.safety.describe()
                )),
                None if (r.iterations > 0 || found) && report.truncated.is_none() => c
                    .disagreements
                    .push(format!("{}: not in the history", r.check.key)),
                _ => {}
            }
        }
        self.history_check = Some(c);
        self.refresh();
    }
}

impl HistoryCheck {
    /// `history check: 3 keys: 3 linearizable, 0 not linearizable, 0 unknown (0.4 s); it agrees
    /// with the loop's own check on every key`.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "history check: {} keys: {} linearizable, {} not linearizable, {} unknown ({:.1} s)",
            self.keys, self.linearizable, self.not_linearizable, self.unknown, self.elapsed_s
        );
        if let Some(t) = &self.truncated {
            let _ = write!(
                s,
                "; the history was cut (at its size cap, or short of a full disk) at {t}"
            );
        }
        if self.disagreements.is_empty() {
            s.push_str("; it agrees with the loop's own check on every key");
        } else {
            let _ = write!(
                s,
                "; it DISAGREES with the loop's own check on {} keys",
                self.disagreements.len()
            );
        }
        s
    }
}

/// `lost 97 at 12.31 s: r1/n2/0 on n2 read 3, acknowledged 100 (confirmed by a compare-and-set)`.
pub fn describe_anomaly(a: &Anomaly) -> String {
    use super::check::Kind;
    let when = if a.final_read {
        format!("in the final read at {:.2} s", a.at_s)
    } else {
        format!("at {:.2} s", a.at_s)
    };
    let what = match a.kind {
        Kind::Lost => format!(
            "lost {} {when}: {} on {} read {}, acknowledged {}{}",
            a.count,
            a.key,
            a.node,
            a.got,
            a.expected,
            if a.confirmed {
                ""
            } else {
                " (unconfirmed: no compare-and-set)"
            }
        ),
        Kind::Stale => format!(
            "stale read {when}: {} on {} read {}, acknowledged {}",
            a.key, a.node, a.got, a.expected
        ),
        Kind::Reverted if a.got > a.expected => format!(
            "reverted read {when}: {} on {} read {}, a copy from before a loss: at most {} was written since",
            a.key, a.node, a.got, a.expected
        ),
        Kind::Reverted => format!(
            "reverted read {when}: {} on {} read {} after a read of {}",
            a.key, a.node, a.got, a.expected
        ),
        Kind::Impossible => format!(
            "impossible read {when}: {} on {} read {}, at most {} could have been written",
            a.key, a.node, a.got, a.expected
        ),
    };
    what
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
