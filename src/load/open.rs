//! The open loop (`--rate`): operations start on a fixed schedule, whether or not the ones
//! before them have returned, and each is timed from its *intended* start.
//!
//! The closed loop (the seeds', the default) sends a connection's next iteration only when the
//! last one returned, so during a 3 s pause a connection sends one operation that waits 3 s and
//! never sends the ones it would have sent meanwhile: YCSB's COORDINATED-OMISSION.md and wrk2
//! call that coordinated omission. Here node `n`'s operation `i` is due at `i / rate` seconds
//! after the start; a dispatcher per node hands each, when due, to an idle connection, opening a
//! new one (with a key of its own, so the register check's one-writer-per-key rule holds) when
//! none is idle, up to [`Schedule::max_clients_per_node`]. When every connection is busy at the
//! bound, the operations wait for one, in order: none is dropped, and each counts how late it
//! started. An operation that started more than [`LATE_AFTER`] after its intended start is
//! *late*; one still waiting when the run ended *never started*. Latency runs from the intended
//! start to the end of the operation (`ok`, `fail` or `info` alike), which is what a client
//! sending at that rate would have seen; this replaces the `hdrhistogram` crate's after-the-fact
//! `record_correct`, which would count a stall twice.
//!
//! A failed operation is not followed by the closed loop's retry pause: the schedule paces the
//! connections, so a node that refuses connections gets exactly its rate of attempts.

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::buckets::Buckets;
use super::connection::Connection;
use super::summary::ConnReport;
use crate::driver::{Driver, Endpoint};
use crate::history::History;
use crate::node::NodeName;

/// An operation that starts more than this after its intended start is late. Above the timer's
/// 1 ms resolution and what a busy machine adds to a wake-up (`perseus load redis --rate
/// 3000/s` on 2 cores while images were being built started a few operations 10 to 13 ms
/// late, with idle connections to spare), far below the outages a lab measures. Each
/// operation's latency counts its whole wait whatever this is.
pub const LATE_AFTER: Duration = Duration::from_millis(50);

/// Connections per node the open loop may open by default (`--max-clients-per-node`).
pub const DEFAULT_MAX_CLIENTS_PER_NODE: usize = 256;

/// The highest rate per node the loop accepts, operations per second.
pub const MAX_RATE_PER_NODE: f64 = 1_000_000.0;

/// A rate of operations, per second: `3000/s`, `3000` (per second), `180000/min`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Rate(pub f64);

impl FromStr for Rate {
    type Err = String;

    fn from_str(s: &str) -> Result<Rate, String> {
        let t = s.trim();
        let (n, per) = match t.split_once('/') {
            Some((n, unit)) => match unit.trim() {
                "s" | "sec" => (n, 1.0),
                "min" | "m" => (n, 60.0),
                other => {
                    return Err(format!(
                        "rate {t:?} has the unit /{other}: give operations per second, like 3000/s"
                    ))
                }
            },
            None => (t, 1.0),
        };
        let v: f64 = n.trim().parse().map_err(|_| {
            format!("rate {t:?} is not a number of operations per second, like 3000/s")
        })?;
        let v = v / per;
        if !v.is_finite() || v <= 0.0 {
            return Err(format!("rate {t:?} must be above 0, like 3000/s"));
        }
        Ok(Rate(v))
    }
}

impl TryFrom<String> for Rate {
    type Error = String;
    fn try_from(s: String) -> Result<Rate, String> {
        s.parse()
    }
}

impl From<Rate> for String {
    fn from(r: Rate) -> String {
        format!("{}/s", r.0)
    }
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/s", self.0)
    }
}

impl JsonSchema for Rate {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Rate".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": r"^\s*[0-9]+(\.[0-9]+)?\s*(/\s*(s|sec|min|m)\s*)?$",
            "description": "Operations per second (`3000/s`, `3000`) or per minute (`60/min`).",
            "examples": ["3000/s"]
        })
    }
}

/// The open loop's schedule for a run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    /// Operations per second on each node.
    pub rate_per_node: f64,
    /// The most connections a node may have open to keep the schedule.
    pub max_clients_per_node: usize,
}

impl Schedule {
    /// The schedule for `nodes` nodes from a cluster-wide rate (spread evenly) or a per-node
    /// one (exactly one of the two); `None` when neither is given (the closed loop).
    ///
    /// Errors: a one-line message when both are given, a rate per node is above
    /// [`MAX_RATE_PER_NODE`], or the bound is 0 or above 4096.
    pub fn new(
        rate: Option<Rate>,
        rate_per_node: Option<Rate>,
        nodes: usize,
        max_clients_per_node: usize,
    ) -> Result<Option<Schedule>, String> {
        let per_node = match (rate, rate_per_node) {
            (None, None) => return Ok(None),
            (Some(_), Some(_)) => {
                return Err("give --rate (cluster-wide) or --rate-per-node, not both".into())
            }
            (Some(r), None) => r.0 / nodes.max(1) as f64,
            (None, Some(r)) => r.0,
        };
        if per_node > MAX_RATE_PER_NODE {
            return Err(format!(
                "a rate of {per_node:.0}/s per node is above the loop's {MAX_RATE_PER_NODE:.0}/s: give a lower {}",
                if rate.is_some() { "--rate" } else { "--rate-per-node" }
            ));
        }
        if max_clients_per_node == 0 || max_clients_per_node > 4096 {
            return Err(format!(
                "--max-clients-per-node {max_clients_per_node} is out of range: give 1 to 4096"
            ));
        }
        Ok(Some(Schedule {
            rate_per_node: per_node,
            max_clients_per_node,
        }))
    }

    /// When operation `i` of a node is due, since the start.
    pub fn intended(&self, i: u64) -> Duration {
        Duration::from_secs_f64(i as f64 / self.rate_per_node)
    }

    /// How many operations per node are due before `elapsed` (those with an intended start
    /// strictly before it).
    pub fn due_before(&self, elapsed: Duration) -> u64 {
        let n = (elapsed.as_secs_f64() * self.rate_per_node).ceil() as u64;
        // Float rounding at an exact boundary: step back while the last is not before it.
        let mut n = n;
        while n > 0 && self.intended(n - 1) >= elapsed {
            n -= 1;
        }
        while self.intended(n) < elapsed {
            n += 1;
        }
        n
    }
}

/// One node's counts, shared by its dispatcher and connections.
#[derive(Debug, Default)]
struct NodeStats {
    dispatched: AtomicU64,
    started: AtomicU64,
    late: AtomicU64,
    late_max_us: AtomicU64,
    late_sum_us: AtomicU64,
    clients: AtomicU64,
    /// Operations that found every connection busy at the bound.
    waited_at_bound: AtomicU64,
}

/// The open loop's counts, per node.
#[derive(Debug)]
pub(super) struct Stats {
    nodes: Vec<NodeStats>,
}

impl Stats {
    pub(super) fn new(nodes: usize) -> Stats {
        Stats {
            nodes: (0..nodes).map(|_| NodeStats::default()).collect(),
        }
    }

    /// A connection of node `node` began an operation `lag_us` after its intended start.
    pub(super) fn started(&self, node: usize, lag_us: u64) {
        if let Some(n) = self.nodes.get(node) {
            n.started.fetch_add(1, Ordering::Relaxed);
            if lag_us > LATE_AFTER.as_micros() as u64 {
                n.late.fetch_add(1, Ordering::Relaxed);
                n.late_sum_us.fetch_add(lag_us, Ordering::Relaxed);
                n.late_max_us.fetch_max(lag_us, Ordering::Relaxed);
            }
        }
    }

    /// Node `node`'s late operations so far.
    pub(super) fn late(&self, node: usize) -> u64 {
        self.nodes
            .get(node)
            .map_or(0, |n| n.late.load(Ordering::Relaxed))
    }

    /// What the summary says, for a run that lasted `end_us`.
    pub(super) fn summarize(
        &self,
        schedule: &Schedule,
        names: &[NodeName],
        end_us: u64,
        completed: &[u64],
    ) -> OpenLoop {
        let end = Duration::from_micros(end_us);
        let scheduled = schedule.due_before(end);
        // Operations start in the order they are due, so the ones not started are the last
        // ones due; those due in the run's last `LATE_AFTER` were cut by its end, as the ones
        // in flight are, and could not have been late yet.
        let overdue = schedule.due_before(end.saturating_sub(LATE_AFTER));
        let nodes: Vec<OpenNode> = self
            .nodes
            .iter()
            .zip(names)
            .enumerate()
            .map(|(i, (n, name))| {
                let started = n.started.load(Ordering::Relaxed);
                let late = n.late.load(Ordering::Relaxed);
                OpenNode {
                    node: name.clone(),
                    scheduled,
                    started,
                    late,
                    never_started: overdue.saturating_sub(started),
                    late_max_ms: n.late_max_us.load(Ordering::Relaxed) as f64 / 1000.0,
                    late_mean_ms: if late == 0 {
                        0.0
                    } else {
                        n.late_sum_us.load(Ordering::Relaxed) as f64 / late as f64 / 1000.0
                    },
                    completed: completed.get(i).copied().unwrap_or(0),
                    clients: n.clients.load(Ordering::Relaxed) as usize,
                    waited_at_bound: n.waited_at_bound.load(Ordering::Relaxed),
                }
            })
            .collect();
        let sum = |f: fn(&OpenNode) -> u64| nodes.iter().map(f).sum::<u64>();
        let secs = end.as_secs_f64().max(1e-9);
        let completed = sum(|n| n.completed);
        let late = sum(|n| n.late);
        let never_started = sum(|n| n.never_started);
        OpenLoop {
            rate_per_s: schedule.rate_per_node * names.len() as f64,
            rate_per_node_per_s: schedule.rate_per_node,
            max_clients_per_node: schedule.max_clients_per_node,
            late_after_ms: LATE_AFTER.as_secs_f64() * 1000.0,
            scheduled: sum(|n| n.scheduled),
            started: sum(|n| n.started),
            completed,
            completed_rate_per_s: completed as f64 / secs,
            late,
            never_started,
            kept_up: late == 0 && never_started == 0,
            bound_hit: nodes.iter().any(|n| n.waited_at_bound > 0),
            nodes,
        }
    }
}

/// What the open loop did: the schedule and how well it was kept (`open_loop` in the JSON
/// summary; `null` for the closed loop).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenLoop {
    /// The target, all nodes, operations per second.
    pub rate_per_s: f64,
    /// The target per node, operations per second.
    pub rate_per_node_per_s: f64,
    /// The most connections a node could open.
    pub max_clients_per_node: usize,
    /// An operation that started later than this after its intended start is late, ms.
    pub late_after_ms: f64,
    /// Operations due within the run, all nodes.
    pub scheduled: u64,
    /// Operations that started, all nodes.
    pub started: u64,
    /// Operations that ended (ok, fail or info), all nodes.
    pub completed: u64,
    /// `completed` over the run's length, per second.
    pub completed_rate_per_s: f64,
    /// Operations that started late, all nodes.
    pub late: u64,
    /// Operations due more than [`LATE_AFTER`] before the run ended that had not started by
    /// then (still waiting for a connection), all nodes.
    pub never_started: u64,
    /// True when no operation was late and every one started: the schedule was kept.
    pub kept_up: bool,
    /// True when some node had every connection busy at the bound: the system, not Perseus,
    /// could not keep up with the rate.
    pub bound_hit: bool,
    /// Per node, in node order.
    pub nodes: Vec<OpenNode>,
}

/// One node's part of the open loop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenNode {
    /// The node.
    pub node: NodeName,
    /// Operations due within the run.
    pub scheduled: u64,
    /// Operations that started.
    pub started: u64,
    /// Operations that ended (ok, fail or info).
    pub completed: u64,
    /// Operations that started late.
    pub late: u64,
    /// Operations due more than [`LATE_AFTER`] before the end that had not started by then.
    pub never_started: u64,
    /// The latest start, ms after its intended start (0 when none was late).
    pub late_max_ms: f64,
    /// How late a late operation started on average, ms.
    pub late_mean_ms: f64,
    /// The connections it opened.
    pub clients: usize,
    /// Operations that found every connection busy at the bound.
    pub waited_at_bound: u64,
}

impl OpenLoop {
    /// The line the summary prints: whether the schedule was kept, and if not, who could not
    /// keep up.
    pub fn line(&self) -> String {
        let head = format!(
            "open loop at {:.0}/s ({:.0}/s per node): {} of {} operations started, {} completed ({:.1}/s)",
            self.rate_per_s,
            self.rate_per_node_per_s,
            self.started,
            self.scheduled,
            self.completed,
            self.completed_rate_per_s
        );
        if self.kept_up {
            return format!(
                "{head}; the schedule was kept (none later than {:.0} ms)",
                self.late_after_ms
            );
        }
        let worst = self
            .nodes
            .iter()
            .max_by(|a, b| a.late_max_ms.total_cmp(&b.late_max_ms))
            .map(|n| format!(", worst {} at {:.3} s", n.node, n.late_max_ms / 1000.0))
            .unwrap_or_default();
        let who = if self.bound_hit {
            let at: Vec<String> = self
                .nodes
                .iter()
                .filter(|n| n.waited_at_bound > 0)
                .map(|n| n.node.to_string())
                .collect();
            format!(
                "{} had all {} connections busy: the system did not keep up with the rate",
                at.join(", "),
                self.max_clients_per_node
            )
        } else {
            "no node reached its connection bound: the load generator itself fell behind (a busy machine), not the system".to_string()
        };
        format!(
            "{head}; BEHIND SCHEDULE: {} late, {} never started{worst}; {who}",
            self.late, self.never_started
        )
    }
}

/// Everything a node's dispatcher needs.
pub(super) struct NodeRun<D: Driver> {
    pub(super) driver: Arc<D>,
    pub(super) endpoint: Endpoint,
    pub(super) node_idx: usize,
    pub(super) run_id: String,
    pub(super) conditional: bool,
    pub(super) op_timeout: Duration,
    pub(super) start: Instant,
    pub(super) duration: Duration,
    pub(super) history: Option<History>,
    pub(super) schedule: Schedule,
}

impl<D: Driver> NodeRun<D> {
    /// Dispatch the node's operations on the schedule until the end of the run or `stop`, and
    /// return its connections' reports (in the order they were opened).
    pub(super) async fn run(
        self,
        buckets: Arc<Buckets>,
        stats: Arc<Stats>,
        stop: CancellationToken,
    ) -> Vec<ConnReport> {
        let node = self.node_idx;
        let max = self.schedule.max_clients_per_node;
        let (idle_tx, mut idle_rx) = mpsc::unbounded_channel::<usize>();
        let mut workers: Vec<mpsc::Sender<u64>> = Vec::new();
        let mut tasks: Vec<tokio::task::JoinHandle<ConnReport>> = Vec::new();
        let my = &stats.nodes[node];
        let mut i = 0u64;
        'schedule: loop {
            let intended = self.schedule.intended(i);
            if intended >= self.duration {
                break;
            }
            let at = self.start + intended;
            if at > Instant::now() {
                tokio::select! {
                    _ = tokio::time::sleep_until(at.into()) => {}
                    _ = stop.cancelled() => break,
                }
            }
            let w = match idle_rx.try_recv() {
                Ok(w) => w,
                Err(_) if workers.len() < max => {
                    let id = workers.len();
                    let (tx, rx) = mpsc::channel::<u64>(1);
                    let key = format!("{}/{}/{}", self.run_id, self.endpoint.node, id);
                    let report = ConnReport::new(
                        node,
                        self.endpoint.node.clone(),
                        key,
                        self.conditional,
                        (node * max + id) as u64,
                    );
                    let c = Connection::new(
                        self.driver.clone(),
                        self.endpoint.clone(),
                        report,
                        self.op_timeout,
                        self.start,
                        self.history.clone(),
                    );
                    let serve = c.serve(
                        rx,
                        idle_tx.clone(),
                        id,
                        buckets.clone(),
                        stats.clone(),
                        stop.clone(),
                    );
                    tasks.push(tokio::spawn(serve));
                    workers.push(tx);
                    my.clients.store(workers.len() as u64, Ordering::Relaxed);
                    id
                }
                Err(_) => {
                    my.waited_at_bound.fetch_add(1, Ordering::Relaxed);
                    tokio::select! {
                        w = idle_rx.recv() => match w { Some(w) => w, None => break 'schedule },
                        _ = stop.cancelled() => break 'schedule,
                    }
                }
            };
            // An idle connection's slot is free: it took its last operation before saying so.
            if workers[w].try_send(intended.as_micros() as u64).is_err() {
                break;
            }
            my.dispatched.fetch_add(1, Ordering::Relaxed);
            i += 1;
        }
        drop(workers);
        let mut reports = Vec::new();
        for t in tasks {
            if let Ok(r) = t.await {
                reports.push(r);
            }
        }
        reports
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_with_their_unit_and_bad_ones_say_what_to_give() {
        assert_eq!("3000/s".parse::<Rate>().unwrap(), Rate(3000.0));
        assert_eq!("3000".parse::<Rate>().unwrap(), Rate(3000.0));
        assert_eq!(" 120 / min".parse::<Rate>().unwrap(), Rate(2.0));
        assert_eq!("0.5/s".parse::<Rate>().unwrap(), Rate(0.5));
        for bad in ["", "x/s", "0/s", "-3/s", "3000/h", "inf"] {
            let e = bad.parse::<Rate>().unwrap_err();
            assert!(e.contains("3000/s"), "{bad}: {e}");
        }
        let r: Rate = serde_json::from_str("\"3000/s\"").unwrap();
        assert_eq!(serde_json::to_string(&r).unwrap(), "\"3000/s\"");
    }

    #[test]
    fn a_cluster_rate_is_spread_over_the_nodes_and_limits_are_enforced() {
        let s = Schedule::new(Some(Rate(3000.0)), None, 3, 256)
            .unwrap()
            .unwrap();
        assert_eq!(s.rate_per_node, 1000.0);
        let s = Schedule::new(None, Some(Rate(500.0)), 3, 8)
            .unwrap()
            .unwrap();
        assert_eq!((s.rate_per_node, s.max_clients_per_node), (500.0, 8));
        assert_eq!(Schedule::new(None, None, 3, 256).unwrap(), None);
        assert!(Schedule::new(Some(Rate(1.0)), Some(Rate(1.0)), 3, 1).is_err());
        let e = Schedule::new(Some(Rate(1e7)), None, 3, 1).unwrap_err();
        assert!(e.ends_with("give a lower --rate"), "{e}");
        let e = Schedule::new(None, Some(Rate(2e6)), 3, 1).unwrap_err();
        assert!(e.ends_with("give a lower --rate-per-node"), "{e}");
        // A cluster-wide rate is shared: 1.5 M/s over 3 nodes is 500 k/s each, within bounds.
        assert!(Schedule::new(Some(Rate(1.5e6)), None, 3, 1).is_ok());
        assert!(Schedule::new(Some(Rate(1.0)), None, 3, 0).is_err());
    }

    #[test]
    fn operations_due_before_an_instant_are_counted_exactly() {
        let s = Schedule::new(None, Some(Rate(3.0)), 1, 1).unwrap().unwrap();
        // Due at 0, 1/3, 2/3, 1, 4/3 ...: before 1 s are three.
        assert_eq!(s.due_before(Duration::from_secs(1)), 3);
        assert_eq!(s.due_before(Duration::from_millis(1001)), 4);
        assert_eq!(s.due_before(Duration::ZERO), 0);
        assert_eq!(s.due_before(Duration::from_nanos(1)), 1);
        let s = Schedule::new(None, Some(Rate(1000.0)), 1, 1)
            .unwrap()
            .unwrap();
        assert_eq!(s.due_before(Duration::from_secs(10)), 10_000);
    }
}
