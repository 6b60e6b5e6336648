//! One connection of the loop: it owns its key, opens a connection to its node when it has none,
//! and iterates (read, missing = 0, compare-and-set the value plus one) until the run stops,
//! counting into the run's buckets, checking every read and write with its key check and writing
//! every operation to the history when there is one.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use tokio::sync::mpsc;

use super::buckets::Buckets;
use super::check::{self, Safety};
use super::latency::Outcome;
use super::measure;
use super::open;
use super::summary::ConnReport;
use crate::driver::{Driver, Endpoint, Written};
use crate::history::{counter, History, Op, Type};

/// Pause after a failed iteration before the next one, so that a node refusing connections does not
/// turn the loop into a busy spin. Small against the 0.1 s resolution the windows promise.
pub const RETRY_PAUSE: Duration = Duration::from_millis(20);

/// The operation a connection has sent and not yet seen answered.
#[derive(Debug, Clone, Copy)]
enum InFlight {
    None,
    Read,
    /// The write and the value it writes.
    Write(Op, u64),
}

/// One connection's loop and what it carries between iterations: the driver's connection while
/// it is open, the operation in flight, and its report (key check, counts, Jepsen process).
pub(super) struct Connection<D: Driver> {
    driver: Arc<D>,
    endpoint: Endpoint,
    key: Arc<str>,
    /// Deadline of each connect, read and write.
    op_timeout: Duration,
    /// Second 0 of the run.
    start: Instant,
    history: Option<History>,
    conn: Option<D::Conn>,
    in_flight: InFlight,
    report: ConnReport,
}

impl<D: Driver> Connection<D> {
    /// A connection for `report`'s key on `endpoint`; nothing is opened until [`Self::run`].
    pub(super) fn new(
        driver: Arc<D>,
        endpoint: Endpoint,
        report: ConnReport,
        op_timeout: Duration,
        start: Instant,
        history: Option<History>,
    ) -> Self {
        Connection {
            driver,
            endpoint,
            key: Arc::from(report.check.key.as_str()),
            op_timeout,
            start,
            history,
            conn: None,
            in_flight: InFlight::None,
            report,
        }
    }

    /// µs since the start of the run.
    fn now_us(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }

    /// Iterate until `stop`, counting into `buckets`. Returns the bookkeeping.
    pub(super) async fn run(
        mut self,
        buckets: Arc<Buckets>,
        stop: CancellationToken,
    ) -> ConnReport {
        // One wait for the stop, made once and polled by every iteration: it resolves at once if
        // the stop came before this task began, and making it per iteration would register and
        // drop a waiter on the channel twice per iteration, on the loop's hot path.
        let stopped = stop.cancelled();
        tokio::pin!(stopped);
        // What the key's check had counted: a change is passed on to the node's live counts.
        let mut seen = self.report.check.safety;
        loop {
            let began = self.now_us();
            let Some(ok) = self.step(&mut stopped, &buckets, &mut seen, began).await else {
                break;
            };
            if !ok {
                tokio::select! {
                    _ = tokio::time::sleep(RETRY_PAUSE) => {}
                    _ = &mut stopped => break,
                }
            }
        }
        self.finish()
    }

    /// The open loop's connection ([`super::open`]): take operations from `ops` (each its
    /// intended start, µs since the start of the run) and run each as one iteration, timed from
    /// that intended start; after each, say so on `idle` as `id`. Ends when `ops` closes or at
    /// `stop`. Returns the bookkeeping.
    pub(super) async fn serve(
        mut self,
        mut ops: mpsc::Receiver<u64>,
        idle: mpsc::UnboundedSender<usize>,
        id: usize,
        buckets: Arc<Buckets>,
        stats: Arc<open::Stats>,
        stop: CancellationToken,
    ) -> ConnReport {
        let stopped = stop.cancelled();
        tokio::pin!(stopped);
        let mut seen = self.report.check.safety;
        loop {
            let intended = tokio::select! {
                op = ops.recv() => match op {
                    Some(t) => t,
                    None => break,
                },
                _ = &mut stopped => break,
            };
            stats.started(self.report.node_idx, self.now_us().saturating_sub(intended));
            if self
                .step(&mut stopped, &buckets, &mut seen, intended)
                .await
                .is_none()
                || idle.send(id).is_err()
            {
                break;
            }
        }
        self.finish()
    }

    /// One iteration, timed from `from_us` (µs since the start), counted by [`Self::settle`]:
    /// `Some(true)` when its write was acknowledged, `Some(false)` when it failed, `None` when
    /// `stopped` came first (the operation in flight is then abandoned).
    async fn step(
        &mut self,
        stopped: &mut std::pin::Pin<&mut tokio_util::sync::WaitForCancellationFuture<'_>>,
        buckets: &Buckets,
        seen: &mut Safety,
        from_us: u64,
    ) -> Option<bool> {
        let ambiguous = self.report.ambiguous;
        let outcome = tokio::select! {
            r = self.iterate() => Some(r),
            _ = stopped.as_mut() => None,
        };
        match outcome {
            Some(ok) => {
                self.settle(buckets, ok, ambiguous, seen, from_us);
                Some(ok)
            }
            None => {
                self.abandon();
                None
            }
        }
    }

    /// The connection is done: close it and hand back its bookkeeping.
    fn finish(mut self) -> ConnReport {
        if let Some(c) = self.conn.take() {
            self.driver.discard(c);
        }
        self.report.check.stop();
        self.report
    }

    /// Count how an iteration timed from `from_us` (µs since the start) ended: `ok` when its
    /// write was acknowledged, else `info` when it left a write of unknown outcome (the
    /// connection's count of those rose past `ambiguous_before`) and `fail` otherwise; its
    /// latency under that outcome; a change of the key's anomaly counts since `seen`. A failed
    /// iteration's connection is dropped.
    fn settle(
        &mut self,
        buckets: &Buckets,
        ok: bool,
        ambiguous_before: u64,
        seen: &mut Safety,
        from_us: u64,
    ) {
        let node_idx = self.report.node_idx;
        let safety = self.report.check.safety;
        if safety != *seen {
            buckets.anomalies(node_idx, anomaly_change(seen, &safety));
            *seen = safety;
        }
        if ok {
            // As the summary counts: the successes within the run, not the one acknowledged
            // after its end.
            let start = self.start;
            match buckets
                .recorder
                .success(node_idx, || start.elapsed().as_micros() as u64)
            {
                Some(t) => {
                    self.report.iterations += 1;
                    buckets.ok(node_idx, t);
                    buckets
                        .latency
                        .record(node_idx, Outcome::Ok, t, t.saturating_sub(from_us));
                }
                None => buckets.ok(node_idx, self.now_us()),
            }
            return;
        }
        if let Some(c) = self.conn.take() {
            self.driver.discard(c);
        }
        self.report.errors += 1;
        let now = self.now_us();
        buckets.err(node_idx, now);
        let outcome = if self.report.ambiguous > ambiguous_before {
            buckets.info(node_idx, now);
            Outcome::Info
        } else {
            Outcome::Fail
        };
        buckets
            .latency
            .record(node_idx, outcome, now, now.saturating_sub(from_us));
    }

    /// Stopped mid-iteration: a read has no effect and is over; a write already sent may be
    /// applied without its ack reaching us, so its outcome is unknown.
    fn abandon(&mut self) {
        let h = self.history.as_ref();
        let (key, process) = (&self.key, self.report.process);
        match std::mem::replace(&mut self.in_flight, InFlight::None) {
            InFlight::None => {}
            InFlight::Read => record(h, key, process, Type::Fail, Op::Read(None), || {
                "the run stopped before the answer".into()
            }),
            InFlight::Write(op, value) => {
                record(h, key, process, Type::Info, op, || {
                    "the run stopped before the answer".into()
                });
                self.report.check.written(value, check::Outcome::Info);
                self.report.ambiguous += 1;
                if let Some(h) = h {
                    self.report.process = h.new_process();
                }
            }
        }
    }

    /// One iteration: read (missing = 0) and check it, write the value plus one by
    /// compare-and-set on what was read, check how the write ended. True when the write was
    /// acknowledged.
    async fn iterate(&mut self) -> bool {
        use tokio::time::timeout;
        let op_timeout = self.op_timeout;
        if self.conn.is_none() {
            match timeout(op_timeout, self.driver.connect(&self.endpoint, op_timeout)).await {
                Ok(Ok(c)) => self.conn = Some(c),
                _ => return false,
            }
        }
        let (driver, key, history) = (&*self.driver, &self.key, self.history.as_ref());
        let Some(c) = self.conn.as_mut() else {
            return false;
        };
        let process = self.report.process;
        if let Some(h) = history {
            h.record(key, process, Type::Invoke, Op::Read(None), None);
        }
        self.in_flight = InFlight::Read;
        let read = timeout(op_timeout, driver.read(c, key)).await;
        self.in_flight = InFlight::None;
        let got = match read {
            Ok(Ok(v)) => {
                if let Some(h) = history {
                    // A missing key is the register's initial value, 0.
                    let op = Op::Read(Some(counter(v.unwrap_or(0))));
                    h.record_with(key, process, Type::Ok, op, None, driver.evidence(c));
                }
                v
            }
            // A read changes nothing: whatever stopped it, it did not happen.
            Ok(Err(e)) => {
                record(history, key, process, Type::Fail, Op::Read(None), || {
                    e.to_string()
                });
                return false;
            }
            Err(_) => {
                record(history, key, process, Type::Fail, Op::Read(None), || {
                    format!("no answer within {op_timeout:?}")
                });
                return false;
            }
        };
        let now = self.start.elapsed().as_micros() as u64;
        let read = self.report.check.read(got, measure::secs(now));
        let next = read + 1;
        // Every write is a compare-and-set from the value read: a key's first write (an
        // insert-if-absent) is `[0 1]`.
        let op = Op::Cas(counter(read), counter(next));
        if let Some(h) = history {
            h.record(key, process, Type::Invoke, op, None);
        }
        self.in_flight = InFlight::Write(op, next);
        let written = timeout(op_timeout, driver.write(c, key, got, next)).await;
        self.in_flight = InFlight::None;
        let (outcome, ty, why) = match written {
            Ok(Ok(Written::Applied)) => (check::Outcome::Ok, Type::Ok, None),
            Ok(Ok(Written::Refused)) => (
                check::Outcome::Refused,
                Type::Fail,
                Some("refused: the key held something else".to_string()),
            ),
            Ok(Err(e)) if e.definite() => (check::Outcome::Fail, Type::Fail, Some(e.to_string())),
            Ok(Err(e)) => (check::Outcome::Info, Type::Info, Some(e.to_string())),
            Err(_) => (
                check::Outcome::Info,
                Type::Info,
                Some(format!("no answer within {op_timeout:?}")),
            ),
        };
        if let Some(h) = history {
            let evidence = (ty == Type::Ok).then(|| driver.evidence(c)).flatten();
            h.record_with(key, process, ty, op, why, evidence);
        }
        self.report.check.written(next, outcome);
        match outcome {
            check::Outcome::Ok => true,
            check::Outcome::Refused | check::Outcome::Fail => {
                self.report.failed += 1;
                false
            }
            check::Outcome::Info => {
                self.report.ambiguous += 1;
                // Jepsen's rule: a process whose operation crashed never invokes again.
                if let Some(h) = history {
                    self.report.process = h.new_process();
                }
                false
            }
        }
    }
}

/// How the anomaly counts changed from `before` to `after`: lost, stale, reverted, impossible.
fn anomaly_change(before: &Safety, after: &Safety) -> [i64; 4] {
    let d = |a: u64, b: u64| b as i64 - a as i64;
    [
        d(before.lost_writes, after.lost_writes),
        d(before.stale_reads, after.stale_reads),
        d(before.reverted_reads, after.reverted_reads),
        d(before.impossible_reads, after.impossible_reads),
    ]
}

/// Record a history line when there is a history; `error` is only formatted then.
fn record(
    history: Option<&History>,
    key: &Arc<str>,
    process: u64,
    ty: Type,
    op: Op,
    error: impl FnOnce() -> String,
) {
    if let Some(h) = history {
        let error = matches!(ty, Type::Fail | Type::Info).then(error);
        h.record(key, process, ty, op, error);
    }
}
