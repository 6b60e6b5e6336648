//! The transactional clients: `clients_per_node` per node, each running one transaction after
//! another until the end on one connection (two with a read port: its read-only transactions on
//! the second), and what they did ([`TxnHistory`]).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::generate::{BankGenerator, BankRequest, ListAppendGenerator};
use super::{Isolation, TxnConn, TxnDriver, TxnError, Workload, ACCOUNTS, ACCOUNT_BALANCE};
use crate::checker::list_append::{Outcome, Txn};
use crate::driver::Endpoint;
use crate::error::{Error, Result};
use crate::load::{Second, RETRY_PAUSE};
use crate::node::NodeName;

/// Grace after each second's end before its line is printed.
const TICK_GRACE: Duration = Duration::from_millis(20);

/// Keys apart between the key spaces of independent servers (one per node).
const KEY_SPACE_STRIDE: u64 = 1_000_000;

/// What to run.
#[derive(Debug, Clone)]
pub struct TxnOptions {
    /// [`Workload::ListAppend`] or [`Workload::Bank`].
    pub workload: Workload,
    /// The level each transaction begins at (`None`: the system's default).
    pub isolation: Option<Isolation>,
    /// How long to run (at most [`crate::load::MAX_DURATION`]).
    pub duration: Duration,
    /// Clients (connections) per node, at least 1.
    pub clients_per_node: usize,
    /// Deadline of each connect and of each whole transaction.
    pub op_timeout: Duration,
    /// Names the run's rows, so runs on one lab never meet.
    pub run_id: String,
    /// Second 0 of the run (`None`: when [`run`] is called).
    pub origin: Option<Instant>,
    /// Seed of the requests.
    pub seed: u64,
    /// Whether every node serves the same data (a replicated system: all clients contend on one
    /// key space and one set of accounts) or each its own (independent servers: one per node).
    pub shared: bool,
    /// `--replica-reads`: the port, inside each node, where each client runs its read-only
    /// transactions (list-append transactions of reads alone, bank reads) on a second
    /// connection: the node's own copy of the data, a replica's on every node but the primary's
    /// (the definition's `read-port`). `None`: every transaction goes through the client port.
    pub read_port: Option<u16>,
}

/// One list-append transaction as it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnRecord {
    /// The node (index in node order) its client connected to.
    pub node: usize,
    /// Whether it ran at the node's read port ([`TxnOptions::read_port`]).
    pub reader: bool,
    /// The transaction (times in ns since second 0).
    pub txn: Txn,
    /// The error, for `fail` and `info`.
    pub error: Option<String>,
}

/// What a bank operation asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BankOpKind {
    /// Move `amount` from `from` to `to`.
    Transfer {
        /// Source account.
        from: u64,
        /// Destination account.
        to: u64,
        /// How much.
        amount: i64,
    },
    /// Read every balance: `(account, balance)` by account, `None` when it did not complete.
    Read(Option<Vec<(u64, i64)>>),
}

/// One bank operation as it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BankOp {
    /// The node (index in node order).
    pub node: usize,
    /// Whether it ran at the node's read port ([`TxnOptions::read_port`]).
    pub reader: bool,
    /// The process (Jepsen's numbering: a new one after an `info`).
    pub process: u64,
    /// How it ended (an insufficient balance is a `fail`).
    pub outcome: Outcome,
    /// Invocation, ns since second 0.
    pub invoked: u64,
    /// Completion, ns since second 0.
    pub completed: u64,
    /// What it asked and, for a read, what it read.
    pub kind: BankOpKind,
    /// The error, for `fail` and `info`.
    pub error: Option<String>,
}

/// What the clients did.
#[derive(Debug, Clone)]
pub struct TxnHistory {
    /// The run.
    pub run_id: String,
    /// Which workload.
    pub workload: Workload,
    /// The isolation level asked for.
    pub isolation: Option<Isolation>,
    /// The read port read-only transactions went to, with `--replica-reads`.
    pub read_port: Option<u16>,
    /// The nodes, in order.
    pub nodes: Vec<NodeName>,
    /// The list-append transactions, in completion order.
    pub txns: Vec<TxnRecord>,
    /// The bank operations, in completion order.
    pub bank: Vec<BankOp>,
    /// The total every bank read should see, per key space.
    pub bank_total: i64,
    /// Connects that failed, per node.
    pub connect_errors: Vec<u64>,
    /// When the run ended, ns since second 0.
    pub end_ns: u64,
    /// Whether it was interrupted.
    pub interrupted: bool,
}

/// Per-node, per-second counts the clients add to and the printer reads.
struct Counts {
    ok: Vec<Vec<u64>>,
    err: Vec<Vec<u64>>,
    /// Of `err`, the transactions whose outcome is unknown.
    info: Vec<Vec<u64>>,
}

impl Counts {
    fn add(v: &mut [Vec<u64>], node: usize, ns: u64) {
        if let Some(c) = v[node].get_mut((ns / 1_000_000_000) as usize) {
            *c += 1;
        }
    }

    fn second(&self, sec: u64, complete: bool) -> Second {
        let idx = (sec - 1) as usize;
        let read = |v: &Vec<Vec<u64>>| v.iter().map(|n| n.get(idx).copied().unwrap_or(0)).collect();
        Second {
            sec,
            counts: read(&self.ok),
            errors: read(&self.err),
            info: read(&self.info),
            complete,
        }
    }
}

/// What the clients share.
struct Shared {
    driver: Arc<dyn TxnDriver>,
    opts: TxnOptions,
    origin: Instant,
    end: Instant,
    stop: CancellationToken,
    counts: Mutex<Counts>,
    txns: Mutex<Vec<TxnRecord>>,
    bank: Mutex<Vec<BankOp>>,
    connect_errors: Mutex<Vec<u64>>,
    conns: u64,
}

impl Shared {
    fn ns(&self) -> u64 {
        self.origin.elapsed().as_nanos() as u64
    }
}

/// Run `opts.workload` against `endpoints` until `opts.duration` has passed or `stop` is
/// cancelled, calling `on_second` once a second with that second's committed transactions and
/// failed ones per node, and return what the clients did. In-flight transactions finish (each
/// bounded by the deadline) after the end; none is retried.
///
/// Errors: for the bank, [`Error::Workload`] when no node of a key space could create its
/// accounts.
pub async fn run(
    driver: Arc<dyn TxnDriver>,
    endpoints: &[Endpoint],
    opts: &TxnOptions,
    stop: &CancellationToken,
    on_second: &mut dyn FnMut(&Second),
) -> Result<TxnHistory> {
    let duration = opts.duration.min(crate::load::MAX_DURATION);
    let per_node = opts.clients_per_node.max(1);
    if opts.workload == Workload::Bank {
        bank_setup(&*driver, endpoints, opts).await?;
    }
    let origin = opts.origin.unwrap_or_else(Instant::now);
    let seconds = duration.as_secs() as usize + 2;
    let n = endpoints.len();
    let shared = Arc::new(Shared {
        driver,
        opts: opts.clone(),
        origin,
        end: origin + duration,
        stop: stop.child_token(),
        counts: Mutex::new(Counts {
            ok: vec![vec![0; seconds]; n],
            err: vec![vec![0; seconds]; n],
            info: vec![vec![0; seconds]; n],
        }),
        txns: Mutex::new(Vec::new()),
        bank: Mutex::new(Vec::new()),
        connect_errors: Mutex::new(vec![0; n]),
        conns: (n * per_node) as u64,
    });
    // One request generator per key space: all nodes' clients on a replicated system, each
    // node's alone on independent servers.
    let spaces: Vec<Arc<Mutex<ListAppendGenerator>>> = (0..if opts.shared { 1 } else { n })
        .map(|s| {
            Arc::new(Mutex::new(ListAppendGenerator::new(
                opts.seed.wrapping_add(s as u64),
                s as u64 * KEY_SPACE_STRIDE,
            )))
        })
        .collect();
    let mut tasks = Vec::new();
    for (node, ep) in endpoints.iter().enumerate() {
        for c in 0..per_node {
            let process = (node * per_node + c) as u64;
            let space = spaces[if opts.shared { 0 } else { node }].clone();
            let (shared, ep) = (shared.clone(), ep.clone());
            tasks.push(tokio::spawn(async move {
                client(shared, ep, node, process, space).await
            }));
        }
    }
    let last = duration.as_secs_f64().ceil() as u64;
    let mut interrupted = false;
    for next in 1..=last {
        let boundary = origin + Duration::from_secs(next).min(duration);
        tokio::select! {
            _ = tokio::time::sleep_until((boundary + TICK_GRACE).into()) => {
                let complete = Duration::from_secs(next) <= duration;
                let s = shared.counts.lock().expect("counts").second(next, complete);
                on_second(&s);
            }
            _ = stop.cancelled() => { interrupted = true; break; }
        }
    }
    let end_ns = origin.elapsed().min(duration).as_nanos() as u64;
    shared.stop.cancel();
    for t in tasks {
        let _ = t.await;
    }
    let mut txns: Vec<TxnRecord> = std::mem::take(&mut *shared.txns.lock().expect("txns"));
    txns.sort_by_key(|r| r.txn.completed);
    let mut bank: Vec<BankOp> = std::mem::take(&mut *shared.bank.lock().expect("bank"));
    bank.sort_by_key(|o| o.completed);
    let connect_errors = shared.connect_errors.lock().expect("errors").clone();
    Ok(TxnHistory {
        run_id: opts.run_id.clone(),
        workload: opts.workload,
        isolation: opts.isolation,
        read_port: opts.read_port,
        nodes: endpoints.iter().map(|e| e.node.clone()).collect(),
        txns,
        bank,
        bank_total: ACCOUNTS as i64 * ACCOUNT_BALANCE,
        connect_errors,
        end_ns,
        interrupted,
    })
}

/// Create the run's accounts in every key space, through the first node of it that answers.
async fn bank_setup(
    driver: &dyn TxnDriver,
    endpoints: &[Endpoint],
    opts: &TxnOptions,
) -> Result<()> {
    let groups: Vec<&[Endpoint]> = if opts.shared {
        vec![endpoints]
    } else {
        endpoints.chunks(1).collect()
    };
    for group in groups {
        let mut last = String::from("no node");
        let mut made = false;
        for ep in group {
            let attempt = async {
                let mut conn = driver
                    .connect(ep, opts.op_timeout)
                    .await
                    .map_err(|e| e.to_string())?;
                conn.bank_setup(&opts.run_id, ACCOUNTS, ACCOUNT_BALANCE)
                    .await
                    .map_err(|e| e.to_string())
            };
            match tokio::time::timeout(opts.op_timeout * 5, attempt).await {
                Ok(Ok(())) => {
                    made = true;
                    break;
                }
                Ok(Err(e)) => last = format!("{}: {e}", ep.node),
                Err(_) => last = format!("{}: no answer within {:?}", ep.node, opts.op_timeout * 5),
            }
        }
        if !made {
            return Err(Error::Workload(format!(
                "the bank's accounts could not be created ({last}): is the lab up, with the lily.accounts table of its definition's schema?"
            )));
        }
    }
    Ok(())
}

/// What a client asks next.
enum Request {
    ListAppend(Vec<crate::checker::list_append::Mop>),
    Bank(BankRequest),
}

impl Request {
    /// Whether it only reads (the requests `--replica-reads` sends to the read port).
    fn read_only(&self) -> bool {
        match self {
            Request::ListAppend(mops) => mops
                .iter()
                .all(|m| matches!(m, crate::checker::list_append::Mop::Read(..))),
            Request::Bank(r) => *r == BankRequest::Read,
        }
    }
}

/// One client: connect, run transactions one after another, reconnect after any error. With a
/// read port it holds a second connection there for its read-only transactions. A request whose
/// connection could not be opened is dropped, counted as a connect error, and the next one is
/// drawn: a read port that is down (a replica restarting) does not hold up the writes.
async fn client(
    shared: Arc<Shared>,
    ep: Endpoint,
    node: usize,
    mut process: u64,
    space: Arc<Mutex<ListAppendGenerator>>,
) {
    let opts = &shared.opts;
    let mut bank = BankGenerator::new(opts.seed ^ (process.wrapping_mul(0x9E37_79B9_7F4A_7C15)));
    let reader_ep = opts.read_port.map(|port| Endpoint {
        node: ep.node.clone(),
        addr: ep.port(port),
        probes: ep.probes.clone(),
    });
    // [the client port's connection, the read port's]
    let mut conns: [Option<Box<dyn TxnConn>>; 2] = [None, None];
    let running = || !shared.stop.is_cancelled() && Instant::now() < shared.end;
    while running() {
        let request = match opts.workload {
            Workload::Bank => Request::Bank(bank.next_request()),
            _ => Request::ListAppend(space.lock().expect("generator").next_txn()),
        };
        let reader = request.read_only() && reader_ep.is_some();
        let slot = usize::from(reader);
        if conns[slot].is_none() {
            let target = if reader { reader_ep.as_ref() } else { None }.unwrap_or(&ep);
            match tokio::time::timeout(
                opts.op_timeout,
                shared.driver.connect(target, opts.op_timeout),
            )
            .await
            {
                // A connect can take up to the deadline: the run may have ended meanwhile.
                Ok(Ok(c)) if running() => conns[slot] = Some(c),
                Ok(Ok(_)) => break,
                _ => {
                    shared.connect_errors.lock().expect("errors")[node] += 1;
                    Counts::add(
                        &mut shared.counts.lock().expect("counts").err,
                        node,
                        shared.ns(),
                    );
                    tokio::select! {
                        _ = tokio::time::sleep(RETRY_PAUSE) => {}
                        _ = shared.stop.cancelled() => {}
                    }
                    continue;
                }
            }
        }
        let Some(c) = conns[slot].as_mut() else {
            continue;
        };
        let invoked = shared.ns();
        let (outcome, error) = match request {
            Request::Bank(request) => {
                let (outcome, error, kind) = bank_op(c.as_mut(), opts, request).await;
                let completed = shared.ns();
                shared.bank.lock().expect("bank").push(BankOp {
                    node,
                    reader,
                    process,
                    outcome,
                    invoked,
                    completed,
                    kind,
                    error: error.clone(),
                });
                (outcome, error)
            }
            Request::ListAppend(request) => {
                let result = tokio::time::timeout(
                    opts.op_timeout,
                    c.list_append(&opts.run_id, opts.isolation, &request),
                )
                .await;
                let completed = shared.ns();
                let (outcome, mops, error) = match result {
                    Ok(Ok(mops)) => (Outcome::Ok, mops, None),
                    Ok(Err(e)) => (outcome_of(&e), request, Some(e.to_string())),
                    Err(_) => (
                        late_outcome(c.as_ref()),
                        request,
                        Some(late(opts.op_timeout)),
                    ),
                };
                shared.txns.lock().expect("txns").push(TxnRecord {
                    node,
                    reader,
                    txn: Txn {
                        process,
                        outcome,
                        invoked,
                        completed: Some(completed),
                        mops,
                    },
                    error: error.clone(),
                });
                (outcome, error)
            }
        };
        let now = shared.ns();
        {
            let mut counts = shared.counts.lock().expect("counts");
            match outcome {
                Outcome::Ok => Counts::add(&mut counts.ok, node, now),
                Outcome::Info => {
                    Counts::add(&mut counts.err, node, now);
                    Counts::add(&mut counts.info, node, now);
                }
                Outcome::Fail => Counts::add(&mut counts.err, node, now),
            }
        }
        if error.is_some() {
            // After any error the connection goes (the server rolls back what it held); after an
            // unknown outcome the process is a new one, as in Jepsen.
            conns[slot] = None;
            if outcome == Outcome::Info {
                process += shared.conns;
            }
            tokio::select! {
                _ = tokio::time::sleep(RETRY_PAUSE) => {}
                _ = shared.stop.cancelled() => {}
            }
        }
    }
}

fn late(timeout: Duration) -> String {
    format!("no answer within {} ms", timeout.as_millis())
}

/// How a transaction cut off by the deadline ended: `fail` when its commit was never sent (the
/// connection is dropped, and the server rolls it back), else `info`.
fn late_outcome(conn: &dyn TxnConn) -> Outcome {
    if conn.commit_sent() {
        Outcome::Info
    } else {
        Outcome::Fail
    }
}

fn outcome_of(e: &TxnError) -> Outcome {
    if e.definite() {
        Outcome::Fail
    } else {
        Outcome::Info
    }
}

/// Run one bank request: how it ended, its error, and what it asked and read.
async fn bank_op(
    conn: &mut dyn TxnConn,
    opts: &TxnOptions,
    request: BankRequest,
) -> (Outcome, Option<String>, BankOpKind) {
    match request {
        BankRequest::Read => {
            match tokio::time::timeout(opts.op_timeout, conn.balances(&opts.run_id, opts.isolation))
                .await
            {
                Ok(Ok(b)) => (Outcome::Ok, None, BankOpKind::Read(Some(b))),
                Ok(Err(e)) => (outcome_of(&e), Some(e.to_string()), BankOpKind::Read(None)),
                Err(_) => (
                    late_outcome(conn),
                    Some(late(opts.op_timeout)),
                    BankOpKind::Read(None),
                ),
            }
        }
        BankRequest::Transfer { from, to, amount } => {
            let kind = BankOpKind::Transfer { from, to, amount };
            let r = tokio::time::timeout(
                opts.op_timeout,
                conn.transfer(&opts.run_id, opts.isolation, from, to, amount),
            )
            .await;
            match r {
                Ok(Ok(super::Transferred::Committed)) => (Outcome::Ok, None, kind),
                // Rolled back on purpose: not an error of the connection.
                Ok(Ok(super::Transferred::Insufficient)) => (Outcome::Fail, None, kind),
                Ok(Err(e)) => (outcome_of(&e), Some(e.to_string()), kind),
                Err(_) => (late_outcome(conn), Some(late(opts.op_timeout)), kind),
            }
        }
    }
}

/// How many transactions ended each way, per node: `(ok, fail, info, ok at the read port)`.
pub fn outcomes(history: &TxnHistory) -> Vec<(u64, u64, u64, u64)> {
    let mut per = vec![(0, 0, 0, 0); history.nodes.len()];
    let all = history
        .txns
        .iter()
        .map(|r| (r.node, r.reader, r.txn.outcome))
        .chain(history.bank.iter().map(|o| (o.node, o.reader, o.outcome)));
    for (node, reader, outcome) in all {
        let p = &mut per[node];
        match outcome {
            Outcome::Ok => {
                p.0 += 1;
                p.3 += u64::from(reader);
            }
            Outcome::Fail => p.1 += 1,
            Outcome::Info => p.2 += 1,
        }
    }
    per
}

/// The errors the transactions ended with, by text, most frequent first.
pub fn errors(history: &TxnHistory) -> Vec<(String, u64)> {
    let mut by: BTreeMap<String, u64> = BTreeMap::new();
    let all = history
        .txns
        .iter()
        .filter_map(|r| r.error.as_ref())
        .chain(history.bank.iter().filter_map(|o| o.error.as_ref()));
    for e in all {
        *by.entry(e.clone()).or_default() += 1;
    }
    let mut v: Vec<(String, u64)> = by.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::list_append::{self, Mop};
    use crate::driver::DriverError;
    use crate::workload::Transferred;
    use futures_util::future::BoxFuture;
    use std::collections::HashMap;

    /// An in-memory database: every transaction holds one lock from begin to commit, so its
    /// histories are strict serializable. `stall` makes a transaction wait past any deadline
    /// before its commit.
    /// Each (run, key)'s list.
    type Lists = HashMap<(String, u64), Vec<u64>>;

    #[derive(Clone, Default)]
    struct Fake {
        lists: Arc<tokio::sync::Mutex<Lists>>,
        stall: bool,
        /// Each list-append transaction's connection address and whether it only read.
        seen: Arc<Mutex<Vec<(std::net::SocketAddr, bool)>>>,
        /// A port no connect reaches (a read port that is down).
        refuse: Option<u16>,
    }

    struct FakeConn {
        db: Fake,
        addr: std::net::SocketAddr,
        committing: bool,
    }

    impl TxnDriver for Fake {
        fn connect<'a>(
            &'a self,
            endpoint: &'a Endpoint,
            _: Duration,
        ) -> BoxFuture<'a, Result<Box<dyn TxnConn>, DriverError>> {
            Box::pin(async move {
                if Some(endpoint.addr.port()) == self.refuse {
                    return Err(DriverError::Io("connection refused".into()));
                }
                Ok(Box::new(FakeConn {
                    db: self.clone(),
                    addr: endpoint.addr,
                    committing: false,
                }) as Box<dyn TxnConn>)
            })
        }
    }

    impl TxnConn for FakeConn {
        fn commit_sent(&self) -> bool {
            self.committing
        }

        fn list_append<'a>(
            &'a mut self,
            run: &'a str,
            _: Option<Isolation>,
            mops: &'a [Mop],
        ) -> BoxFuture<'a, Result<Vec<Mop>, TxnError>> {
            Box::pin(async move {
                self.committing = false;
                let read_only = mops.iter().all(|m| matches!(m, Mop::Read(..)));
                self.db.seen.lock().unwrap().push((self.addr, read_only));
                let mut lists = self.db.lists.lock().await;
                let mut done = Vec::new();
                let mut staged = HashMap::new();
                for m in mops {
                    let (Mop::Append(k, _) | Mop::Read(k, _)) = m;
                    let l = staged.entry(*k).or_insert_with(|| {
                        lists
                            .get(&(run.to_string(), *k))
                            .cloned()
                            .unwrap_or_default()
                    });
                    match m {
                        Mop::Append(_, e) => {
                            l.push(*e);
                            done.push(m.clone());
                        }
                        Mop::Read(..) => done.push(Mop::Read(*k, Some(l.clone()))),
                    }
                }
                if self.db.stall {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                }
                self.committing = true;
                for (k, l) in staged {
                    lists.insert((run.to_string(), k), l);
                }
                Ok(done)
            })
        }

        fn bank_setup<'a>(
            &'a mut self,
            _: &'a str,
            _: u64,
            _: i64,
        ) -> BoxFuture<'a, Result<(), TxnError>> {
            Box::pin(async { Ok(()) })
        }

        fn transfer<'a>(
            &'a mut self,
            _: &'a str,
            _: Option<Isolation>,
            _: u64,
            _: u64,
            _: i64,
        ) -> BoxFuture<'a, Result<Transferred, TxnError>> {
            Box::pin(async { Ok(Transferred::Insufficient) })
        }

        fn balances<'a>(
            &'a mut self,
            _: &'a str,
            _: Option<Isolation>,
        ) -> BoxFuture<'a, Result<Vec<(u64, i64)>, TxnError>> {
            Box::pin(async { Ok(Vec::new()) })
        }
    }

    fn opts(shared: bool) -> TxnOptions {
        TxnOptions {
            workload: Workload::ListAppend,
            isolation: None,
            duration: Duration::from_millis(1500),
            clients_per_node: 3,
            op_timeout: Duration::from_millis(100),
            run_id: "r1".into(),
            origin: None,
            seed: 4,
            shared,
            read_port: None,
        }
    }

    fn endpoints() -> Vec<Endpoint> {
        ["n1", "n2"]
            .iter()
            .enumerate()
            .map(|(i, n)| Endpoint::new(*n, format!("127.0.0.{}:1000", i + 1).parse().unwrap()))
            .collect()
    }

    #[tokio::test]
    async fn clients_on_every_node_contend_on_one_key_space_and_a_serial_store_checks_clean() {
        let stop = CancellationToken::new();
        let mut seconds = Vec::new();
        let h = run(
            Arc::new(Fake::default()),
            &endpoints(),
            &opts(true),
            &stop,
            &mut |s| seconds.push(s.clone()),
        )
        .await
        .unwrap();
        assert_eq!(
            seconds.len(),
            2,
            "one line a second, the last one cut short"
        );
        assert!(h.txns.len() > 100, "{}", h.txns.len());
        assert!(h.txns.iter().all(|r| r.txn.outcome == Outcome::Ok));
        let counted: u64 = seconds.iter().flat_map(|s| s.counts.iter()).sum();
        assert!(counted as usize <= h.txns.len());
        // Both nodes' clients touched the same keys.
        let keys = |node: usize| -> std::collections::BTreeSet<u64> {
            h.txns
                .iter()
                .filter(|r| r.node == node)
                .flat_map(|r| {
                    r.txn.mops.iter().map(|m| match m {
                        Mop::Append(k, _) | Mop::Read(k, _) => *k,
                    })
                })
                .collect()
        };
        assert!(keys(0).intersection(&keys(1)).count() > 3);
        let txns: Vec<Txn> = h.txns.iter().map(|r| r.txn.clone()).collect();
        let c = list_append::check(&txns);
        assert!(c.is_clean(), "{:?}", c.anomalies.first());
        // Independent servers: each node's clients keep to keys of their own.
        let h = run(
            Arc::new(Fake::default()),
            &endpoints(),
            &opts(false),
            &stop,
            &mut |_| {},
        )
        .await
        .unwrap();
        let n1: Vec<u64> = h
            .txns
            .iter()
            .filter(|r| r.node == 0)
            .flat_map(|r| {
                r.txn.mops.iter().map(|m| match m {
                    Mop::Append(k, _) | Mop::Read(k, _) => *k,
                })
            })
            .collect();
        assert!(n1.iter().all(|k| *k < KEY_SPACE_STRIDE));
        let n2_min = h
            .txns
            .iter()
            .filter(|r| r.node == 1)
            .flat_map(|r| {
                r.txn.mops.iter().map(|m| match m {
                    Mop::Append(k, _) | Mop::Read(k, _) => *k,
                })
            })
            .min()
            .unwrap();
        assert!(n2_min >= KEY_SPACE_STRIDE);
    }

    #[tokio::test]
    async fn a_transaction_cut_off_before_its_commit_fails_and_its_process_goes_on() {
        let stop = CancellationToken::new();
        let db = Fake {
            stall: true,
            ..Fake::default()
        };
        let h = run(Arc::new(db), &endpoints(), &opts(true), &stop, &mut |_| {})
            .await
            .unwrap();
        assert!(!h.txns.is_empty());
        for r in &h.txns {
            assert_eq!(
                r.txn.outcome,
                Outcome::Fail,
                "the commit was never sent: {r:?}"
            );
            assert!(r
                .error
                .as_deref()
                .unwrap()
                .starts_with("no answer within 100 ms"));
            assert!(r
                .txn
                .mops
                .iter()
                .all(|m| !matches!(m, Mop::Read(_, Some(_)))));
        }
        // A definite failure keeps the process's number (only info makes a new one).
        assert!(h.txns.iter().all(|r| r.txn.process < 6));
    }

    #[tokio::test]
    async fn with_a_read_port_read_only_transactions_and_only_they_go_there() {
        let stop = CancellationToken::new();
        let db = Fake::default();
        let reading = TxnOptions {
            read_port: Some(5432),
            ..opts(true)
        };
        let h = run(
            Arc::new(db.clone()),
            &endpoints(),
            &reading,
            &stop,
            &mut |_| {},
        )
        .await
        .unwrap();
        assert_eq!(h.read_port, Some(5432));
        let seen = db.seen.lock().unwrap().clone();
        assert!(seen.len() > 100, "{}", seen.len());
        for (addr, read_only) in &seen {
            assert_eq!(addr.port() == 5432, *read_only, "{addr} {read_only}");
        }
        // Each node's read port, at that node's address.
        let readers: std::collections::BTreeSet<String> = seen
            .iter()
            .filter(|(a, _)| a.port() == 5432)
            .map(|(a, _)| a.to_string())
            .collect();
        assert_eq!(
            readers.into_iter().collect::<Vec<_>>(),
            ["127.0.0.1:5432", "127.0.0.2:5432"]
        );
        // The summary counts, per node, the committed that ran at the read port.
        let summary = crate::workload::summarize(&h);
        for (node, n) in summary.nodes.iter().enumerate() {
            let at = h
                .txns
                .iter()
                .filter(|r| r.node == node && r.reader && r.txn.outcome == Outcome::Ok)
                .count() as u64;
            assert!(at > 0);
            assert_eq!(n.ok_at_read_port, Some(at), "{n:?}");
        }
        for node in 0..2 {
            let mine: Vec<&TxnRecord> = h.txns.iter().filter(|r| r.node == node).collect();
            assert!(
                mine.iter().any(|r| r.reader),
                "n{} read at the read port",
                node + 1
            );
            assert!(mine.iter().any(|r| !r.reader));
            for r in mine {
                let read_only = r.txn.mops.iter().all(|m| matches!(m, Mop::Read(..)));
                assert_eq!(r.reader, read_only, "{r:?}");
            }
        }
        // Without one, everything goes through the client port.
        let db = Fake::default();
        let h = run(
            Arc::new(db.clone()),
            &endpoints(),
            &opts(true),
            &stop,
            &mut |_| {},
        )
        .await
        .unwrap();
        assert!(h.txns.iter().all(|r| !r.reader));
        let summary = crate::workload::summarize(&h);
        assert!(summary.nodes.iter().all(|n| n.ok_at_read_port.is_none()));
        assert!(db
            .seen
            .lock()
            .unwrap()
            .iter()
            .all(|(a, _)| a.port() != 5432));
        // A read port that is down costs the reads, not the writes: they still commit on every
        // node, and the failed connects are counted.
        let db = Fake {
            refuse: Some(5432),
            ..Fake::default()
        };
        let h = run(Arc::new(db), &endpoints(), &reading, &stop, &mut |_| {})
            .await
            .unwrap();
        assert!(h.txns.iter().all(|r| !r.reader));
        for node in 0..2 {
            let writes = h
                .txns
                .iter()
                .filter(|r| r.node == node && r.txn.outcome == Outcome::Ok)
                .count();
            assert!(writes > 20, "n{}: {writes} committed", node + 1);
            assert!(h.connect_errors[node] > 0, "{:?}", h.connect_errors);
        }
    }
}
