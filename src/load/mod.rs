//! The load loop (the seeds' loop, DESIGN.md): C connections per node, each owning the key
//! `<run-id>/<node>/<conn>`; an iteration reads the key (missing = 0), adds 1 and writes it back, and
//! counts a success when the write is acknowledged. Every connect, read and write has the
//! per-operation deadline; on an error or a missed deadline the connection is dropped and a new one is
//! opened for the next iteration (after [`RETRY_PAUSE`]). Connections run as independent tokio tasks,
//! so a paused or isolated node never stalls the others.
//!
//! The loop is generic over the [`Driver`] (one copy per protocol, no dynamic dispatch on the hot
//! path); [`DynDriver`] erases the type once per run, for callers that pick the system from a
//! definition at run time. A run stops at its end or when its [`CancellationToken`] is cancelled
//! (Ctrl-C, reaching the library from the CLI as that token, or a scenario step that failed).
//!
//! Each success is recorded with its timestamp (µs since the start); per-second counts are kept in
//! lock-free per-node buckets so the once-a-second line never waits for the connections. At the end
//! the timestamps give the unavailability windows ([`measure`]), and each connection's bookkeeping
//! gives lost and ambiguous writes ([`summary`]).

pub mod measure;
pub mod summary;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::{BoxFuture, LocalBoxFuture};
use tokio_util::sync::CancellationToken;

use crate::driver::{Driver, DriverError, Endpoint};
use measure::MICROS;
use summary::{ConnReport, LostWrite, Summary};

/// Pause after a failed iteration before the next one, so that a node refusing connections does not
/// turn the loop into a busy spin. Small against the 0.1 s resolution the windows promise.
pub const RETRY_PAUSE: Duration = Duration::from_millis(20);

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
    /// so that its fault times and the success timestamps share one clock.
    pub origin: Option<Instant>,
}

/// One second of the run, as printed.
#[derive(Debug, Clone, PartialEq)]
pub struct Second {
    /// 1-based second number (second `s` covers `[s-1, s)` since the start).
    pub sec: u64,
    /// Successful iterations per node, in node order.
    pub counts: Vec<u64>,
    /// Failed iterations per node, in node order.
    pub errors: Vec<u64>,
    /// False for the last, cut-short second of an interrupted run.
    pub complete: bool,
}

/// A run id that sorts by time: `r<unix seconds>-<4 hex digits>`.
pub fn new_run_id() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!("r{}-{:04x}", now.as_secs(), rand::random::<u16>())
}

/// Per-node, per-second counters shared by the connections and the printer.
struct Buckets {
    ok: Vec<Vec<AtomicU32>>,
    err: Vec<Vec<AtomicU32>>,
}

impl Buckets {
    fn new(nodes: usize, seconds: usize) -> Buckets {
        let mk = || {
            (0..nodes)
                .map(|_| (0..seconds).map(|_| AtomicU32::new(0)).collect())
                .collect()
        };
        Buckets {
            ok: mk(),
            err: mk(),
        }
    }
    fn add(v: &[Vec<AtomicU32>], node: usize, t_us: u64) {
        if let Some(b) = v[node].get((t_us / MICROS) as usize) {
            b.fetch_add(1, Ordering::Relaxed);
        }
    }
    fn second(&self, sec: u64, complete: bool) -> Second {
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
            complete,
        }
    }
}

/// A load driver whose type is chosen at run time (a system's, from its definition): the loop
/// and the probe behind one object-safe interface. Every [`Driver`] that can be cloned is one;
/// the type is erased once per call, so the loop itself stays generic.
pub trait DynDriver: Send + Sync {
    /// [`run`] with this driver.
    fn run<'a>(
        &'a self,
        endpoints: &'a [Endpoint],
        opts: &'a LoadOptions,
        stop: &'a CancellationToken,
        on_second: &'a mut dyn FnMut(&Second),
    ) -> LocalBoxFuture<'a, Summary>;

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
/// [`DriverError`], or [`DriverError::Io`] naming the call that missed its deadline.
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
        tokio::time::timeout(timeout, driver.write(&mut conn, key, v.unwrap_or(0) + 1))
            .await
            .map_err(|_| late("write"))?
    }
    .await;
    driver.discard(conn);
    result
}

/// Run the loop against `endpoints` until `opts.duration` has passed or `stop` is cancelled
/// (Ctrl-C), calling `on_second` once per second with that second's counts, and return the
/// summary.
pub async fn run<D: Driver>(
    driver: Arc<D>,
    endpoints: &[Endpoint],
    opts: &LoadOptions,
    stop: &CancellationToken,
    on_second: &mut dyn FnMut(&Second),
) -> Summary {
    let duration = opts.duration.min(MAX_DURATION);
    let seconds = duration.as_secs() as usize + 2;
    let buckets = Arc::new(Buckets::new(endpoints.len(), seconds));
    // The connections stop on their own token: at the end of the run, or when `stop` is.
    let conns_stop = stop.child_token();
    let start = opts.origin.unwrap_or_else(Instant::now);
    let started = std::time::SystemTime::now()
        .checked_sub(start.elapsed())
        .map(|t| humantime::format_rfc3339_micros(t).to_string())
        .unwrap_or_default();

    let mut tasks = Vec::new();
    for (node_idx, ep) in endpoints.iter().enumerate() {
        for conn in 0..opts.clients_per_node.max(1) {
            let key = format!("{}/{}/{}", opts.run_id, ep.node, conn);
            tasks.push(tokio::spawn(connection(
                driver.clone(),
                ep.clone(),
                node_idx,
                key,
                opts.op_timeout,
                start,
                buckets.clone(),
                conns_stop.clone(),
            )));
        }
    }

    // The printer: one line per completed second, until the end or an interruption.
    let last = duration.as_secs_f64().ceil() as u64;
    let mut next = 1u64;
    let mut interrupted = false;
    while next <= last {
        let due = start + Duration::from_secs(next).min(duration) + TICK_GRACE;
        tokio::select! {
            _ = tokio::time::sleep_until(due.into()) => {
                let complete = Duration::from_secs(next) <= duration;
                on_second(&buckets.second(next, complete));
                next += 1;
            }
            _ = stop.cancelled() => { interrupted = true; break; }
        }
    }
    let end = if interrupted {
        start.elapsed().min(duration)
    } else {
        duration
    };
    conns_stop.cancel();
    let mut reports = Vec::new();
    for t in tasks {
        if let Ok(r) = t.await {
            reports.push(r);
        }
    }
    let end_us = end.as_micros() as u64;
    if interrupted && end_us > (next - 1) * MICROS {
        on_second(&buckets.second(next, false));
    }
    for r in &mut reports {
        r.successes.retain(|&t| t < end_us);
    }
    Summary::new(
        opts.run_id.clone(),
        started,
        endpoints.iter().map(|e| e.node.clone()).collect(),
        end_us,
        interrupted,
        reports,
    )
}

/// One connection's loop. Returns its bookkeeping when the run stops.
#[allow(clippy::too_many_arguments)]
async fn connection<D: Driver>(
    driver: Arc<D>,
    endpoint: Endpoint,
    node_idx: usize,
    key: String,
    op_timeout: Duration,
    start: Instant,
    buckets: Arc<Buckets>,
    stop: CancellationToken,
) -> ConnReport {
    let mut report = ConnReport::new(node_idx, endpoint.node.clone(), key.clone());
    let mut conn: Option<D::Conn> = None;
    let now_us = || start.elapsed().as_micros() as u64;
    // One wait for the stop, made once and polled by every iteration: it resolves at once if the
    // stop came before this task began, and making it per iteration would register and drop a
    // waiter on the channel twice per iteration, on the loop's hot path.
    let stopped = stop.cancelled();
    tokio::pin!(stopped);
    loop {
        let iteration = iterate(
            &*driver,
            &endpoint,
            &key,
            op_timeout,
            &mut conn,
            &mut report,
            now_us,
        );
        let outcome = tokio::select! {
            r = iteration => Some(r),
            _ = &mut stopped => None,
        };
        let Some(ok) = outcome else {
            // Stopped mid-iteration: a write already sent may be applied without its ack
            // reaching us, so it is ambiguous.
            if let Some(v) = report.writing.take() {
                report.ambiguous += 1;
                report.max_ambiguous = report.max_ambiguous.max(v);
            }
            break;
        };
        if ok {
            let t = now_us();
            report.successes.push(t);
            Buckets::add(&buckets.ok, node_idx, t);
        } else {
            if let Some(c) = conn.take() {
                driver.discard(c);
            }
            report.errors += 1;
            Buckets::add(&buckets.err, node_idx, now_us());
            tokio::select! {
                _ = tokio::time::sleep(RETRY_PAUSE) => {}
                _ = &mut stopped => break,
            }
        }
    }
    if let Some(c) = conn.take() {
        driver.discard(c);
    }
    report
}

/// One iteration: read (missing = 0), check against what this connection last had acknowledged,
/// write the value plus one. True when the write was acknowledged.
async fn iterate<D: Driver>(
    driver: &D,
    endpoint: &Endpoint,
    key: &str,
    op_timeout: Duration,
    conn: &mut Option<D::Conn>,
    report: &mut ConnReport,
    now_us: impl Fn() -> u64,
) -> bool {
    use tokio::time::timeout;
    if conn.is_none() {
        match timeout(op_timeout, driver.connect(endpoint, op_timeout)).await {
            Ok(Ok(c)) => *conn = Some(c),
            _ => return false,
        }
    }
    let Some(c) = conn.as_mut() else { return false };
    let value = match timeout(op_timeout, driver.read(c, key)).await {
        Ok(Ok(v)) => v.unwrap_or(0),
        _ => return false,
    };
    if value < report.last_acked {
        report.lost.push(LostWrite {
            key: key.to_string(),
            at_s: measure::secs(now_us()),
            expected: report.last_acked,
            got: value,
        });
    }
    let next = value + 1;
    report.writing = Some(next);
    let written = timeout(op_timeout, driver.write(c, key, next)).await;
    report.writing = None;
    match written {
        Ok(Ok(())) => {
            report.last_acked = next;
            report.max_ambiguous = 0;
            report.iterations += 1;
            true
        }
        _ => {
            // The write may or may not have been applied: the next read may show it.
            report.ambiguous += 1;
            report.max_ambiguous = report.max_ambiguous.max(next);
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::Mutex;

    /// An in-memory store with switchable faults, to test the loop's rules without a database.
    #[derive(Default)]
    struct Fake {
        data: Mutex<HashMap<String, u64>>,
        /// Nodes whose operations hang (paused).
        hang: Mutex<Vec<String>>,
        /// Make every write on this node fail after applying it (ambiguous), once.
        apply_then_fail: Mutex<Option<String>>,
        /// Drop the key's value to this after the next write (a lost write).
        lose_to: Mutex<Option<u64>>,
        /// Delay between applying a write and acknowledging it.
        ack_delay: Option<Duration>,
    }

    struct FakeConn(String);

    impl Driver for Fake {
        type Conn = FakeConn;
        async fn connect(&self, ep: &Endpoint, _: Duration) -> Result<FakeConn, DriverError> {
            Ok(FakeConn(ep.node.clone()))
        }
        async fn read(&self, c: &mut FakeConn, key: &str) -> Result<Option<u64>, DriverError> {
            if self.hang.lock().unwrap().contains(&c.0) {
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
            Ok(self.data.lock().unwrap().get(key).copied())
        }
        async fn write(&self, c: &mut FakeConn, key: &str, v: u64) -> Result<(), DriverError> {
            self.data.lock().unwrap().insert(key.to_string(), v);
            if let Some(to) = self.lose_to.lock().unwrap().take() {
                self.data.lock().unwrap().insert(key.to_string(), to);
            }
            let fail = {
                let mut f = self.apply_then_fail.lock().unwrap();
                let fail = f.as_deref() == Some(c.0.as_str());
                if fail {
                    *f = None;
                }
                fail
            };
            if fail {
                return Err(DriverError::Io("reset".into()));
            }
            if let Some(d) = self.ack_delay {
                tokio::time::sleep(d).await;
            }
            Ok(())
        }
    }

    fn endpoints() -> Vec<Endpoint> {
        (1..=3)
            .map(|i| Endpoint {
                node: format!("n{i}"),
                addr: format!("127.0.0.1:{i}").parse().unwrap(),
            })
            .collect()
    }

    fn opts(secs: u64) -> LoadOptions {
        LoadOptions {
            duration: Duration::from_secs(secs),
            clients_per_node: 2,
            op_timeout: Duration::from_millis(200),
            run_id: "t".into(),
            origin: None,
        }
    }

    #[tokio::test]
    async fn a_hanging_node_never_stalls_the_others_and_its_window_is_measured() {
        let fake = Arc::new(Fake::default());
        fake.hang.lock().unwrap().push("n2".into());
        let mut lines = Vec::new();
        let s = run(
            fake.clone(),
            &endpoints(),
            &opts(2),
            &CancellationToken::new(),
            &mut |sec| lines.push(sec.clone()),
        )
        .await;
        assert_eq!(lines.len(), 2);
        for l in &lines {
            assert!(l.counts[0] > 50 && l.counts[2] > 50, "{l:?}");
            assert_eq!(l.counts[1], 0);
            assert!(l.errors[1] > 0);
        }
        let n2 = &s.nodes[1];
        assert_eq!(n2.iterations, 0);
        assert!(n2.window.open && n2.window.length_s > 1.9);
        assert!(s.cluster_window.length_s < 0.1, "{:?}", s.cluster_window);
        // The TSV columns add up to the summary's counts.
        let from_lines: u64 = lines.iter().map(|l| l.counts[0]).sum();
        assert_eq!(from_lines, s.nodes[0].iterations);
        // What the store holds is what each connection had acknowledged.
        for k in &s.keys {
            let held = fake.data.lock().unwrap().get(&k.key).copied().unwrap_or(0);
            assert!(k.accepts(held), "{k:?} holds {held}");
        }
        assert_eq!(s.lost_writes, 0);
    }

    #[tokio::test]
    async fn a_probe_is_one_bounded_iteration() {
        let fake = Fake::default();
        let eps = endpoints();
        let t = Duration::from_millis(100);
        probe(&fake, &eps[0], "k", t).await.unwrap();
        probe(&fake, &eps[0], "k", t).await.unwrap();
        assert_eq!(fake.data.lock().unwrap().get("k"), Some(&2));
        fake.hang.lock().unwrap().push("n2".into());
        let started = Instant::now();
        let e = probe(&fake, &eps[1], "k", t).await.unwrap_err();
        assert_eq!(e.to_string(), "io: read took longer than 100ms");
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test]
    async fn ambiguous_and_lost_writes_are_told_apart() {
        let fake = Arc::new(Fake::default());
        *fake.apply_then_fail.lock().unwrap() = Some("n1".into());
        let s = run(
            fake.clone(),
            &endpoints()[..1],
            &opts(1),
            &CancellationToken::new(),
            &mut |_| {},
        )
        .await;
        assert_eq!(s.ambiguous_writes, 1);
        assert_eq!(
            s.lost_writes, 0,
            "an applied ambiguous write is not a lost one"
        );

        let fake = Arc::new(Fake::default());
        *fake.lose_to.lock().unwrap() = Some(0);
        let mut o = opts(1);
        o.clients_per_node = 1;
        let s = run(
            fake.clone(),
            &endpoints()[..1],
            &o,
            &CancellationToken::new(),
            &mut |_| {},
        )
        .await;
        assert_eq!(s.lost_writes, 1);
        assert_eq!(s.lost[0].expected, 1);
        assert_eq!(s.lost[0].got, 0);
    }

    #[tokio::test]
    async fn stop_ends_the_run_early_with_a_partial_last_second() {
        // Writes are applied 20 ms before their ack: a stop lands mid-write on most connections.
        let fake = Arc::new(Fake {
            ack_delay: Some(Duration::from_millis(20)),
            ..Fake::default()
        });
        let mut lines = Vec::new();
        let stop = CancellationToken::new();
        let cancel = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            cancel.cancel();
        });
        let s = run(fake.clone(), &endpoints(), &opts(30), &stop, &mut |l| {
            lines.push(l.clone())
        })
        .await;
        assert!(s.interrupted);
        for k in &s.keys {
            let held = fake.data.lock().unwrap().get(&k.key).copied().unwrap_or(0);
            assert!(
                k.accepts(held),
                "a write cut off by the stop is ambiguous, not lost: {k:?} holds {held}"
            );
        }
        assert!(
            s.ambiguous_writes > 0,
            "the cut-off writes are counted as ambiguous"
        );
        assert!(
            s.duration_s >= 1.5 && s.duration_s < 2.0,
            "{}",
            s.duration_s
        );
        assert_eq!(lines.len(), 2);
        assert!(lines[0].complete && !lines[1].complete);
    }
}
