//! The load loop (the seeds' loop, docs/load.md): C connections per node, each owning the key
//! `<run-id>/<node>/<conn>`; an iteration reads the key (missing = 0), adds 1 and writes it back
//! with a compare-and-set on the value it read, and counts a success when the write is
//! acknowledged. Every connect, read and write has the per-operation deadline; on an error, a
//! refused write or a missed deadline the connection is dropped and a new one is opened for the
//! next iteration (after [`RETRY_PAUSE`]). Connections run as independent tokio tasks, so a paused
//! or isolated node never stalls the others; at one connection per node they are pinned to one
//! single-threaded runtime per core (`Threads` says why).
//!
//! The loop is generic over the [`Driver`] (one copy per protocol, no dynamic dispatch on the hot
//! path); [`DynDriver`] erases the type once per run, for callers that pick the system from a
//! definition at run time. A run stops at its end or when its [`CancellationToken`] is cancelled
//! (Ctrl-C, reaching the library from the CLI as that token, or a scenario step that failed).
//!
//! Each success is stamped (µs since the start) into the run's timelines ([`timeline`]: what the
//! unavailability windows need, in memory that does not grow with the run); per-second counts
//! are kept in lock-free per-node buckets so the once-a-second line never waits for the
//! connections. Each success's latency goes into
//! per-node, per-second histograms of bounded size ([`latency`]). Each read and write goes through
//! the connection's key check ([`check`]: lost, stale, reverted and impossible reads, with bounded
//! state), and, when asked, into the run's history in Jepsen's format ([`crate::history`]). After the
//! run, [`final_reads`] reads every key again until two reads agree and checks it ([`summary`]), and
//! [`conclude`] checks the history again from the file ([`crate::checker`]).

mod buckets;
pub mod check;
mod connection;
mod end;
pub mod latency;
pub mod measure;
pub mod open;
pub mod serving;
pub mod summary;
pub mod timeline;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::{BoxFuture, LocalBoxFuture};
use tokio_util::sync::CancellationToken;

use crate::driver::{Driver, DriverError, Endpoint, Written};
use crate::history::History;
use crate::metrics::{Metrics, LATENCY_BOUNDS_S};
use crate::node::NodeName;
use buckets::Buckets;
use connection::Connection;
use measure::MICROS;
use summary::{ConnReport, Summary};

pub use buckets::Second;
pub use connection::RETRY_PAUSE;
pub use end::{final_reads, FINAL_READS_MAX, FINAL_READ_TIMEOUT};

/// Grace after each second's end before its line is printed, so that iterations acknowledged just
/// before the boundary are counted in it.
const TICK_GRACE: Duration = Duration::from_millis(20);

/// The longest run the loop accepts (it must always stop by itself).
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// How long to run (at most [`MAX_DURATION`]).
    pub duration: Duration,
    /// Connections per node (each with its own key), at least 1.
    pub clients_per_node: usize,
    /// Deadline of each connect, read and write.
    pub op_timeout: Duration,
    /// Prefix of every key (`<run-id>/<node>/<conn>`); unique per run.
    pub run_id: String,
    /// The instant second 0 of the run begins (`None`: when [`run`] is called). A scenario sets it
    /// so that its fault times and the success timestamps share one clock; a history's origin
    /// must be the same instant.
    pub origin: Option<Instant>,
    /// Where every operation goes in Jepsen's format, when a history is written. Its processes
    /// `0..connections` are the connections' first numbers.
    pub history: Option<History>,
    /// The live series (`--metrics`), copied from the loop's own counts once a second, when
    /// served; the caller begins their run ([`Metrics::begin_run`]) with `run_id` and the
    /// endpoints' nodes.
    pub metrics: Option<Metrics>,
    /// The open loop's schedule (`--rate`, [`open`]); `None`: the closed loop, where each
    /// connection sends its next iteration when the last returned.
    pub open: Option<open::Schedule>,
}

impl LoadOptions {
    /// The first Jepsen process number no connection of a run on `nodes` nodes starts with:
    /// what a history writer for the run is made with. Connection `c` of node `n` starts as
    /// process `n * C + c`, `C` the connections a node may have (the open loop's bound, else
    /// `clients_per_node`).
    pub fn first_free_process(&self, nodes: usize) -> u64 {
        let per_node = match &self.open {
            Some(s) => s.max_clients_per_node,
            None => self.clients_per_node.max(1),
        };
        (nodes * per_node) as u64
    }
}

/// A run id that sorts by time: `r<unix seconds>-<4 hex digits>`.
pub fn new_run_id() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!("r{}-{:04x}", now.as_secs(), rand::random::<u16>())
}

/// A load driver whose type is chosen at run time (a system's, from its definition): the loop,
/// the final reads and the probe behind one object-safe interface. Every [`Driver`] that can be
/// cloned is one; the type is erased once per call, so the loop itself stays generic.
pub trait DynDriver: Send + Sync {
    /// [`run`] with this driver.
    fn run<'a>(
        &'a self,
        endpoints: &'a [Endpoint],
        opts: &'a LoadOptions,
        stop: &'a CancellationToken,
        on_second: &'a mut dyn FnMut(&Second),
    ) -> LocalBoxFuture<'a, Summary>;

    /// [`final_reads`] with this driver.
    fn final_reads<'a>(
        &'a self,
        endpoints: &'a [Endpoint],
        summary: &'a mut Summary,
        timeout: Duration,
        history: Option<&'a History>,
        origin: Instant,
    ) -> LocalBoxFuture<'a, ()>;

    /// [`probe`] with this driver.
    fn probe<'a>(
        &'a self,
        endpoint: &'a Endpoint,
        key: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(), DriverError>>;
}

impl<D: Driver + Clone> DynDriver for D {
    fn run<'a>(
        &'a self,
        endpoints: &'a [Endpoint],
        opts: &'a LoadOptions,
        stop: &'a CancellationToken,
        on_second: &'a mut dyn FnMut(&Second),
    ) -> LocalBoxFuture<'a, Summary> {
        Box::pin(run(
            Arc::new(self.clone()),
            endpoints,
            opts,
            stop,
            on_second,
        ))
    }

    fn final_reads<'a>(
        &'a self,
        endpoints: &'a [Endpoint],
        summary: &'a mut Summary,
        timeout: Duration,
        history: Option<&'a History>,
        origin: Instant,
    ) -> LocalBoxFuture<'a, ()> {
        Box::pin(final_reads(
            self, endpoints, summary, timeout, history, origin,
        ))
    }

    fn probe<'a>(
        &'a self,
        endpoint: &'a Endpoint,
        key: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(), DriverError>> {
        Box::pin(probe(self, endpoint, key, timeout))
    }
}

/// One iteration of the loop on a fresh connection to `endpoint`: connect, read `key` (missing =
/// 0), write it plus one. `Ok(())` when the write was acknowledged. Each of the three calls is
/// bounded by `timeout`; the connection is discarded afterwards.
///
/// It tells when a node first serves (the lab-start benchmark polls it). Errors: the first
/// [`DriverError`], [`DriverError::Server`] for a refused write, or [`DriverError::Io`] naming
/// the call that missed its deadline.
pub async fn probe<D: Driver>(
    driver: &D,
    endpoint: &Endpoint,
    key: &str,
    timeout: Duration,
) -> Result<(), DriverError> {
    use DriverError::Io;
    let late = |call: &str| Io(format!("{call} took longer than {timeout:?}"));
    let mut conn = tokio::time::timeout(timeout, driver.connect(endpoint, timeout))
        .await
        .map_err(|_| late("connect"))??;
    let result = async {
        let v = tokio::time::timeout(timeout, driver.read(&mut conn, key))
            .await
            .map_err(|_| late("read"))??;
        let next = v.unwrap_or(0) + 1;
        match tokio::time::timeout(timeout, driver.write(&mut conn, key, v, next))
            .await
            .map_err(|_| late("write"))??
        {
            Written::Applied => Ok(()),
            Written::Refused => Err(DriverError::Server(format!(
                "{key} changed between the read and the write"
            ))),
        }
    }
    .await;
    driver.discard(conn);
    result
}

/// Copy one complete second, and the latency, anomalies and late operations so far, into the
/// live series.
fn publish(m: &Metrics, buckets: &Buckets, stats: &open::Stats, s: &Second) {
    m.second(s.sec, &s.counts, &s.errors, &s.info);
    let bounds_us: Vec<u64> = LATENCY_BOUNDS_S
        .iter()
        .map(|b| (b * MICROS as f64).round() as u64)
        .collect();
    for n in 0..s.counts.len() {
        for outcome in latency::Outcome::ALL {
            let (per, count, sum_us) = buckets.latency.buckets(n, outcome, &bounds_us);
            m.latency(n, outcome.name(), per, count, sum_us / MICROS as f64);
        }
        m.late(n, stats.late(n));
        let [lost, stale, reverted, impossible] = buckets.anomaly_counts(n);
        m.anomalies(n, "lost", lost);
        m.anomalies(n, "stale", stale);
        m.anomalies(n, "reverted", reverted);
        m.anomalies(n, "impossible", impossible);
    }
}

/// Run the loop against `endpoints` until `opts.duration` has passed or `stop` is cancelled
/// (Ctrl-C), calling `on_second` once per second with that second's counts, and return the
/// summary (its final reads not made yet: [`final_reads`]).
pub async fn run<D: Driver>(
    driver: Arc<D>,
    endpoints: &[Endpoint],
    opts: &LoadOptions,
    stop: &CancellationToken,
    on_second: &mut dyn FnMut(&Second),
) -> Summary {
    let duration = opts.duration.min(MAX_DURATION);
    let seconds = duration.as_secs() as usize + 2;
    let buckets = Arc::new(Buckets::new(
        endpoints.len(),
        seconds,
        duration.as_micros() as u64,
    ));
    // The connections stop on their own token: at the end of the run, or when `stop` is.
    let conns_stop = stop.child_token();
    let start = opts.origin.unwrap_or_else(Instant::now);
    let started = std::time::SystemTime::now()
        .checked_sub(start.elapsed())
        .map(|t| humantime::format_rfc3339_micros(t).to_string())
        .unwrap_or_default();

    let mut tasks = Vec::new();
    let per_node = opts.clients_per_node.max(1);
    let stats = Arc::new(open::Stats::new(endpoints.len()));
    let threads = Threads::for_load(endpoints.len(), per_node);
    for (node_idx, ep) in endpoints.iter().enumerate() {
        if let Some(schedule) = opts.open {
            let node = open::NodeRun {
                driver: driver.clone(),
                endpoint: ep.clone(),
                node_idx,
                run_id: opts.run_id.clone(),
                conditional: D::CONDITIONAL,
                op_timeout: opts.op_timeout,
                start,
                duration,
                history: opts.history.clone(),
                schedule,
            };
            let run = node.run(buckets.clone(), stats.clone(), conns_stop.clone());
            tasks.push(tokio::spawn(run));
            continue;
        }
        for conn in 0..per_node {
            let key = format!("{}/{}/{}", opts.run_id, ep.node, conn);
            let report = ConnReport::new(
                node_idx,
                ep.node.clone(),
                key,
                D::CONDITIONAL,
                (node_idx * per_node + conn) as u64,
            );
            let connection = Connection::new(
                driver.clone(),
                ep.clone(),
                report,
                opts.op_timeout,
                start,
                opts.history.clone(),
            );
            let (buckets, conns_stop) = (buckets.clone(), conns_stop.clone());
            let fut = move || async move { vec![connection.run(buckets, conns_stop).await] };
            tasks.push(threads.spawn(fut, tasks.len()));
        }
    }

    // The printer: one line per completed second, until the end or an interruption. The
    // connections stop exactly at the end (not a grace later), so that the writes acknowledged
    // after it are at most the one in flight on each connection.
    let last = duration.as_secs_f64().ceil() as u64;
    let mut next = 1u64;
    let mut interrupted = false;
    let mut reports: Option<Vec<ConnReport>> = None;
    let mut tasks = Some(tasks);
    while next <= last {
        let boundary = start + Duration::from_secs(next).min(duration);
        let is_last = next == last;
        let due = if is_last {
            boundary
        } else {
            boundary + TICK_GRACE
        };
        tokio::select! {
            _ = tokio::time::sleep_until(due.into()) => {
                if is_last {
                    conns_stop.cancel();
                    reports = Some(join(tasks.take().unwrap_or_default()).await);
                }
                let complete = Duration::from_secs(next) <= duration;
                let second = buckets.second(next, complete);
                if let Some(m) = opts.metrics.as_ref().filter(|_| complete) {
                    publish(m, &buckets, &stats, &second);
                }
                on_second(&second);
                next += 1;
            }
            _ = stop.cancelled() => { interrupted = true; break; }
        }
    }
    // The end, read under the recorder's lock: no success stamped at or after it counts.
    let end_us = buckets.recorder.close_now(|| {
        if interrupted {
            start.elapsed().min(duration).as_micros() as u64
        } else {
            duration.as_micros() as u64
        }
    });
    conns_stop.cancel();
    let reports = match reports {
        Some(r) => r,
        None => join(tasks.take().unwrap_or_default()).await,
    };
    if interrupted && end_us > (next - 1) * MICROS {
        on_second(&buckets.second(next, false));
    }
    let names: Vec<NodeName> = endpoints.iter().map(|e| e.node.clone()).collect();
    // Every connection has stopped, so the printer holds the last reference.
    let ((latency, samples), timelines) = match Arc::try_unwrap(buckets) {
        Ok(b) => (b.latency.finish(&names), b.recorder.finish()),
        Err(_) => (Default::default(), timeline::Timelines::empty(names.len())),
    };
    let mut summary = Summary::new(
        opts.run_id.clone(),
        started,
        names,
        end_us,
        interrupted,
        reports,
        timelines,
    );
    summary.latency = latency;
    summary.latency_samples = samples;
    if let Some(schedule) = &opts.open {
        let completed: Vec<u64> = summary
            .nodes
            .iter()
            .map(|n| n.iterations + n.errors)
            .collect();
        summary.open_loop =
            Some(stats.summarize(schedule, &summary.nodes_names(), end_us, &completed));
    }
    summary
}

/// Where the connections run (figures from interleaved 6 s runs of the old and new loop on one
/// `redis` lab, medians of 5; BENCHMARKS.md has the ratios against redis-benchmark).
///
/// - At one connection per node, each server has one request in flight at a time and the loop's
///   rate is set by how soon a reply reaches the connection waiting for it: the connections are
///   pinned to single-threaded runtimes, one per core (at most one per node), connection
///   `i` on thread `i` mod their number. On tokio's multi-threaded runtime a reply wakes
///   whichever worker holds the I/O driver, which may wake a parked sibling to share the work;
///   pinned, the thread that reads the reply runs the connection. On 2 cores this raised the
///   rate at one connection per node by 18 to 89% at 3, 4, 5 and 9 nodes.
/// - From two connections per node up, the loop is bound by CPU, which it shares with the
///   servers, and the connections run as tasks of the runtime that called [`run`]. In the CLI
///   that is one current-thread runtime (`cli::main`), so all of them share one thread: it
///   switches threads less often per iteration than the pinned pool (0.26 against 0.73 context
///   switches an iteration at four connections per node) and did 9 to 13% more at two to four
///   connections per node. Tried again at 4, 16 and 64 per node (2026-12-06, BENCHMARKS.md),
///   the pinned pool did 0.74 to 0.85 of it and a two-worker multi-threaded runtime 0.84 to
///   0.91: at 64 per node 80 % of the loop's time is the kernel's, so more threads only switch
///   more. The open loop's connections are tasks of the caller's runtime too.
///
/// Each pinned thread has its own timers, so every deadline of a connection is kept by the
/// thread it runs on.
enum Threads {
    Pinned(tokio_util::task::LocalPoolHandle),
    Shared,
}

impl Threads {
    fn for_load(nodes: usize, per_node: usize) -> Threads {
        if per_node > 1 {
            return Threads::Shared;
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Threads::Pinned(tokio_util::task::LocalPoolHandle::new(
            cores.min(nodes).max(1),
        ))
    }

    /// Start connection number `i` (`make` builds its future on the thread that runs it).
    fn spawn<F, Fut>(&self, make: F, i: usize) -> tokio::task::JoinHandle<Vec<ConnReport>>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Vec<ConnReport>> + Send + 'static,
    {
        match self {
            Threads::Pinned(pool) => pool.spawn_pinned_by_idx(make, i % pool.num_threads()),
            Threads::Shared => tokio::spawn(make()),
        }
    }
}

/// The connections' reports, once each has stopped.
async fn join(tasks: Vec<tokio::task::JoinHandle<Vec<ConnReport>>>) -> Vec<ConnReport> {
    let mut reports = Vec::new();
    for t in tasks {
        if let Ok(r) = t.await {
            reports.extend(r);
        }
    }
    reports
}

/// The time the run's own check of its history may take (the keys not decided by then are
/// unverified).
pub const HISTORY_CHECK_TIME: Duration = Duration::from_secs(120);

/// The end of a run, once its faults are undone: the final reads of every key
/// ([`final_reads`]), the history closed, and, when there is one, the history checked again
/// from the file by [`crate::checker`] and set beside the loop's own verdicts
/// ([`Summary::set_history_check`]: a key it cannot decide is unverified, a disagreement is
/// named). `timeout` bounds each final read.
///
/// Errors: [`crate::Error::Io`] when the history could not be written or read back; the
/// summary then has everything else.
pub async fn conclude(
    driver: &dyn DynDriver,
    endpoints: &[Endpoint],
    summary: &mut Summary,
    timeout: Duration,
    history: Option<crate::history::HistoryWriter>,
    origin: Instant,
) -> crate::Result<()> {
    let h = history.as_ref().map(crate::history::HistoryWriter::history);
    driver
        .final_reads(endpoints, summary, timeout, h.as_ref(), origin)
        .await;
    drop(h);
    let Some(w) = history else {
        return Ok(());
    };
    let report = w.finish().await?;
    let path = report.path.clone();
    summary.history = Some(report);
    let opts = crate::checker::Options {
        time_limit: HISTORY_CHECK_TIME,
        ..crate::checker::Options::default()
    };
    let checked = tokio::task::spawn_blocking(move || crate::checker::check(&path, &opts))
        .await
        .map_err(crate::Error::blocking("checking the history"))??;
    summary.set_history_check(&checked);
    Ok(())
}

#[cfg(test)]
mod tests;
