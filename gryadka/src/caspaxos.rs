//! The CASPaxos protocol core: a linearizable register per key, replicated on 2F+1 acceptors, changed
//! by applying a function to its current state.
//!
//! Sources: Denis Rystsov, "CASPaxos: Replicated State Machines without logs", arXiv:1802.07000
//! (2018), section 2 (the protocol) and 2.2.1 (the one-round-trip optimisation); the Gryadka
//! JavaScript implementation (<https://github.com/gryadka/js>: `core/src/Proposer.js`,
//! `core/src/BallotNumber.js`, and the acceptor's Redis scripts `prepare.lua` / `accept.lua`).
//!
//! # One change (paper §2)
//!
//! 1. The proposer takes a fresh ballot `B` (above every ballot it has used or seen) and sends
//!    `prepare(key, B)` to **all** acceptors at once.
//! 2. An acceptor refuses (a [`Conflict`] carrying the highest ballot it has seen) unless `B` is
//!    strictly above both its promise and its accepted ballot; otherwise it persists `B` as its
//!    promise and answers a [`Promise`] with its accepted `(ballot, state)`.
//! 3. As soon as F+1 promises have arrived (not waiting for the slowest acceptor), the proposer takes
//!    the state with the highest accepted ballot among them (empty if none has accepted anything),
//!    applies the change function, and sends `accept(key, B, new state, next)` to **all** acceptors.
//! 4. An acceptor refuses unless `B` is at least its promise and strictly above its accepted ballot;
//!    otherwise it stores `(B, new state)` as accepted and replaces its promise by `next` (see below).
//! 5. After F+1 confirmations the new state is committed and returned to the caller.
//!
//! A round that cannot gather F+1 answers (conflicts, errors, timeouts) fails; the proposer raises
//! its counter above every ballot a conflict reported (`counter = max(seen, own) + 1`, Gryadka's
//! `fastforwardAfter`), sleeps a short random back-off and retries with a new ballot until the
//! caller's deadline. Replies that arrive after the quorum was reached are not waited for, but a
//! conflict among them still raises the counter for the next round.
//!
//! # Reads and refused changes
//!
//! A read is the identity change and goes through both phases: the accept phase commits whatever
//! the prepare quorum returned (it may have been accepted by a minority only), which is what makes
//! the read linearizable. A refused change (a compare-and-set whose expected version does not match)
//! does the same: the proposer writes the **current state back unchanged** in the accept phase and
//! only then reports [`ProposeError::Rejected`] with that (now committed) state. This is Gryadka's
//! behaviour (`Proposer.change` commits `curr` when the update throws, then raises `UpdateError`).
//!
//! # The one-round-trip optimisation (paper §2.2.1) and why it is safe
//!
//! Every accept carries `next`, a ballot the proposer reserves for its next change on the key; an
//! acceptor that accepts also promises `next` in the same atomic step. After a successful accept the
//! proposer caches `key → (next, committed state)`. The next change on that key through the same
//! proposer skips the prepare phase: it applies the change to the cached state and sends the accept
//! at ballot `next` directly. If that accept does not reach F+1 confirmations (a conflict, errors),
//! the entry is dropped and the change falls back to the full two-phase path, same deadline.
//!
//! The argument: each of the F+1 acceptors that confirmed `accept(B, s, next)` atomically accepted
//! `(B, s)` and promised `next`, which is exactly the state it would be in had it accepted `(B, s)`
//! and then granted `prepare(next)`, answering `(B, s)`. So the proposer already holds a valid
//! phase-1 quorum for `next` whose highest accepted state is `s`, and the accept at `next` with
//! `change(s)` is an ordinary CASPaxos round (the paper's safety proof applies unchanged). In
//! particular a stale cache cannot overwrite a newer value: a newer value was committed at some
//! ballot `m`, above `next` (ballots below `next` cannot get a promise from any of those F+1
//! acceptors, and every majority contains one of them), by a round whose prepare quorum promised
//! `m`; every majority includes one of those acceptors, which refuses the accept at `next`.
//!
//! This needs `next` to be used for at most one accept:
//! - ballots carry the proposer id, so no other proposer uses `next`;
//! - `next` is reserved from the proposer's counter (the same counter fresh ballots come from), so a
//!   later full round of this proposer never reuses it; Gryadka uses `ballot.counter + 1`, which is
//!   the same number when the proposer runs nothing else concurrently;
//! - the cache entry is **removed** when a change takes it, so two concurrent changes on the same key
//!   through one proposer can never both accept at `next` (Gryadka instead refuses a second
//!   concurrent change on a key with `ConcurrentRequestError`; here the second one simply takes the
//!   two-phase path).
//!
//! # Retries, recovery and ambiguity (deviations from Gryadka)
//!
//! Gryadka makes one attempt and reports `PrepareError` / `CommitError` to its client; this proposer
//! retries until the deadline. A failed accept may still have been applied by some acceptors, so a
//! retry can meet the call's own earlier attempt:
//! - if the retry's prepare returns, as the highest accepted state, a state this call sent in an
//!   earlier failed round (recognised by that round's ballot, which is unique to it), the change is
//!   already in it: the proposer commits it unchanged and returns it, instead of applying the change
//!   a second time;
//! - if another proposer picked the earlier attempt up first (committing it under its own ballot),
//!   it cannot be recognised, and the change function runs again on a state that may already hold
//!   its effect. For [`Proposer::put`] the version check then fails; when an earlier attempt of the
//!   call may have been applied (an acceptor confirmed it, did not answer, or has not answered yet)
//!   the proposer reports [`ProposeError::Ambiguous`] rather than [`ProposeError::Rejected`].
//!
//! So `Rejected` always means "this call wrote nothing", and `Ok` from `put` means "applied exactly
//! once" (a failed attempt that was not recovered can never become visible after a later round
//! committed at a higher ballot). A general change function given to [`Proposer::change`] must
//! tolerate the second case (guard it by version, as `put` does).
//!
//! Also unlike Gryadka, a conflict reported after the quorum was already decided still raises the
//! counter (Gryadka ignores late replies).

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rand::Rng;
use tokio::sync::mpsc;
use tokio::time::{sleep_until, timeout_at, Instant};

/// At most this many keys are kept in a proposer's one-round-trip cache; inserting beyond it evicts
/// an arbitrary entry (that key's next change just takes the two-phase path).
pub const CACHE_CAPACITY: usize = 100_000;

/// Upper bound of the random back-off between failed rounds (milliseconds). The back-off of round
/// `r` is uniform in `1..=min(2r, BACKOFF_MAX_MS)` ms, and never sleeps past the deadline.
pub const BACKOFF_MAX_MS: u64 = 10;

/// A ballot number: `(counter, proposer id)`, ordered lexicographically (counter first), as Gryadka's
/// `BallotNumber`. [`Ballot::ZERO`] is below every ballot a proposer issues (their counters start at
/// 1) and is what an acceptor reports for "nothing accepted yet".
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct Ballot {
    /// Monotonic per proposer; raised past every conflicting ballot seen.
    pub counter: u64,
    /// The issuing proposer's unique id (node number); breaks ties between equal counters.
    pub proposer: u64,
}

impl Ballot {
    /// `(0, 0)`: below every real ballot.
    pub const ZERO: Ballot = Ballot {
        counter: 0,
        proposer: 0,
    };
}

impl fmt::Display for Ballot {
    /// `counter,proposer`, the text form Gryadka's acceptor scripts store.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},{}", self.counter, self.proposer)
    }
}

/// The register's state: a value (the load loop's counter as decimal text, or anything else) and a
/// version that increases by 1 on every successful [`Proposer::put`] (first write: version 1).
/// An absent register is `None` wherever an `Option<State>` appears.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct State {
    /// The value (opaque to the protocol).
    pub value: String,
    /// Write count: 1 after the first put, +1 per put.
    pub version: u64,
}

/// An acceptor's positive answer to `prepare`: it has promised the ballot, and reports what it had
/// accepted (`accepted_ballot` = [`Ballot::ZERO`] and `accepted` = `None` if nothing yet; `accepted`
/// may also be `None` after an accepted write of the empty state).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Promise {
    /// The ballot of the acceptor's accepted state.
    pub accepted_ballot: Ballot,
    /// The accepted state (`None` = empty register).
    pub accepted: Option<State>,
}

/// An acceptor's refusal: it has promised or accepted a ballot at least as high as the proposed one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conflict {
    /// The highest ballot the acceptor has seen (its promise; never below its accepted ballot).
    pub seen: Ballot,
}

/// A transport or acceptor failure (timeout, connection refused, script error, crashed acceptor):
/// the proposer counts it as no answer. The text says what failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("acceptor failed: {0}")]
pub struct AcceptorError(pub String);

/// One acceptor as the proposer sees it (Redis with Gryadka's Lua scripts in production,
/// [`crate::memory::MemoryAcceptor`] in tests). Each call must be atomic per key on the acceptor,
/// and its effects durable before it answers.
///
/// The rules an implementation must follow (Gryadka's `prepare.lua` and `accept.lua`):
/// - `prepare(b)`: if `b` > promise and `b` > accepted ballot, set promise = `b` and answer
///   [`Promise`] with the accepted ballot and state; otherwise [`Conflict`] with the promise.
/// - `accept(b, s, next)`: if `b` >= promise and `b` > accepted ballot, set accepted = `(b, s)` and
///   promise = `next` (or `b` when `next` is `None`); otherwise [`Conflict`] with the promise.
pub trait Acceptor: Send + Sync + 'static {
    /// Phase 1a/1b (paper §2): ask for a promise on `ballot` for `key`.
    ///
    /// Returns `Ok(Ok(promise))`, `Ok(Err(conflict))` when a ballot >= `ballot` was already seen, or
    /// `Err` when the acceptor could not be asked (no answer).
    fn prepare(
        &self,
        key: &str,
        ballot: Ballot,
    ) -> impl Future<Output = Result<Result<Promise, Conflict>, AcceptorError>> + Send;

    /// Phase 2a/2b (paper §2): accept `state` (`None` = empty register) at `ballot` unless a higher
    /// ballot was promised or an equal or higher one accepted; on success also promise `next` (the
    /// proposer's next ballot for this key) when it is `Some`, which is what makes the
    /// one-round-trip optimisation of §2.2.1 safe.
    ///
    /// Returns `Ok(Ok(()))`, `Ok(Err(conflict))`, or `Err` when the acceptor could not be asked (the
    /// request may or may not have been applied).
    fn accept(
        &self,
        key: &str,
        ballot: Ballot,
        state: Option<State>,
        next: Option<Ballot>,
    ) -> impl Future<Output = Result<Result<(), Conflict>, AcceptorError>> + Send;
}

/// A change function: given the register's current state (`None` = absent), return the new state
/// (`Ok(None)` keeps/makes it empty) or `Err(reason)` to refuse the change (e.g. a version
/// mismatch), in which case the proposer commits the current state unchanged and reports
/// [`ProposeError::Rejected`] (see the module docs).
///
/// It may be called several times during one [`Proposer::change`] (once per round), each time on
/// the state that round read, so it must be a pure function of its argument; and it may see a
/// state that already holds the effect of an earlier, ambiguous attempt of the same call, so guard
/// it by version as [`Proposer::put`] does (module docs, "Retries, recovery and ambiguity").
pub type Change<'a> = &'a (dyn Fn(Option<&State>) -> Result<Option<State>, String> + Send + Sync);

/// A change refused by its change function: nothing new was written by this call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("change refused: {reason}")]
pub struct Rejected {
    /// The change function's reason (for `put`: "version mismatch: expected V, register has W").
    pub reason: String,
    /// The register's committed state at the moment of the refusal (`None` = absent).
    pub current: Option<State>,
}

impl Rejected {
    /// The current version (0 for an absent register).
    pub fn current_version(&self) -> u64 {
        self.current.as_ref().map_or(0, |s| s.version)
    }
}

/// Why [`Proposer::change`] did not return a new state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProposeError {
    /// The change function refused (compare-and-set version mismatch); the register's current
    /// state was committed unchanged and nothing was written by this call.
    #[error("{0}")]
    Rejected(Rejected),

    /// The deadline passed before a round gathered a majority of acceptors. Ambiguous: an accept
    /// sent by this call may have been applied (and may become visible to later reads).
    #[error("no quorum of acceptors before the deadline after {tried} round(s): {last}; check that a majority of the acceptors is up and reachable, or give the operation more time")]
    NoQuorum {
        /// Rounds attempted (one-round-trip attempts included).
        tried: u32,
        /// What the last failed round saw (answers, conflicts, errors).
        last: String,
    },

    /// The change function refused in a later round, but an earlier round of this same call had
    /// sent a changed state that may have been applied, so the refusal may be caused by this call's
    /// own write. Whether the change took effect is unknown; `current` is the committed state.
    #[error("outcome unknown after {tried} round(s): an earlier attempt may have been applied, and the change now refuses ({reason})")]
    Ambiguous {
        /// Rounds attempted.
        tried: u32,
        /// The change function's reason in the last round.
        reason: String,
        /// The register's committed state (possibly this call's own write).
        current: Option<State>,
    },
}

/// A proposer's cached phase-1 result for a key: the ballot every acceptor of the last accept quorum
/// promised, and the state that quorum accepted.
#[derive(Debug, Clone)]
struct Cached {
    ballot: Ballot,
    state: Option<State>,
}

/// The answers one broadcast gathered before it stopped (quorum reached, or quorum impossible).
struct Tally<T> {
    oks: Vec<T>,
    conflicts: usize,
    errors: usize,
    highest_seen: Option<Ballot>,
    last_error: Option<String>,
}

impl<T> Tally<T> {
    fn describe(&self, phase: &str, ballot: Ballot, quorum: usize, total: usize) -> String {
        let mut text = format!(
            "{phase} at ballot {ballot}: {} of {quorum} needed confirmations from {total} acceptors",
            self.oks.len()
        );
        if self.conflicts > 0 {
            let seen = self.highest_seen.unwrap_or(Ballot::ZERO);
            text.push_str(&format!(
                ", {} conflict(s) (highest ballot seen {seen})",
                self.conflicts
            ));
        }
        if self.errors > 0 {
            let last = self.last_error.as_deref().unwrap_or("?");
            text.push_str(&format!(", {} error(s) (last: {last})", self.errors));
        }
        text
    }
}

/// One acceptor's reply to a call: an answer (`Ok`: confirmation or [`Conflict`]) or no answer.
type Reply<T> = Result<Result<T, Conflict>, AcceptorError>;

/// Whether a failed accept round may have been applied by some acceptor.
enum Applied {
    /// Every acceptor answered Conflict: nothing was applied.
    No,
    /// Some acceptor confirmed, or did not answer: it may have been applied.
    Maybe,
    /// Only conflicts so far; the other replies are still on their way on this channel.
    Pending {
        conflicts: usize,
        late: mpsc::UnboundedReceiver<Reply<()>>,
    },
}

impl Applied {
    /// Settle with the late replies that have arrived by now (without waiting): `true` unless every
    /// acceptor has answered Conflict.
    fn maybe(&mut self, total: usize) -> bool {
        if let Applied::Pending { conflicts, late } = self {
            while let Ok(reply) = late.try_recv() {
                if !matches!(reply, Ok(Err(_))) {
                    *self = Applied::Maybe;
                    return true;
                }
                *conflicts += 1;
            }
            if *conflicts >= total {
                *self = Applied::No;
            }
        }
        !matches!(self, Applied::No)
    }
}

/// A failed accept round: what it saw, and whether any acceptor may have applied it.
struct AcceptFailure {
    why: String,
    applied: Applied,
}

/// A CASPaxos proposer (paper §2; Gryadka's `Proposer`): runs changes on keys against a fixed set of
/// acceptors, with the one-round-trip optimisation of §2.2.1. Cheap to share (`&self` methods);
/// changes on different keys, and even on the same key, may run concurrently.
pub struct Proposer<A: Acceptor> {
    id: u64,
    acceptors: Vec<Arc<A>>,
    quorum: usize,
    /// Highest ballot counter this proposer has issued or seen in a conflict. Shared with the
    /// in-flight acceptor calls so late conflicts still raise it.
    counter: Arc<AtomicU64>,
    cache: Mutex<HashMap<String, Cached>>,
}

impl<A: Acceptor> fmt::Debug for Proposer<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proposer")
            .field("id", &self.id)
            .field("acceptors", &self.acceptors.len())
            .field("quorum", &self.quorum)
            .field("counter", &self.counter.load(Ordering::SeqCst))
            .finish()
    }
}

impl<A: Acceptor> Proposer<A> {
    /// A proposer with id `id` (must be unique among the proposers sharing these acceptors: the node
    /// number) over `acceptors` (all 2F+1 of them; the quorum is a majority, `len / 2 + 1`). With no
    /// acceptors every change fails with [`ProposeError::NoQuorum`].
    pub fn new(id: u64, acceptors: Vec<Arc<A>>) -> Self {
        let quorum = acceptors.len() / 2 + 1;
        Proposer {
            id,
            acceptors,
            quorum,
            counter: Arc::new(AtomicU64::new(0)),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// This proposer's id (the `proposer` part of its ballots).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Confirmations needed per phase: a majority of the acceptors (F+1 of 2F+1).
    pub fn quorum(&self) -> usize {
        self.quorum
    }

    /// The ballot the next change on `key` would accept at without a prepare (one-round-trip path),
    /// if this proposer holds one.
    pub fn cached_ballot(&self, key: &str) -> Option<Ballot> {
        self.lock_cache().get(key).map(|c| c.ballot)
    }

    /// Drop the one-round-trip cache entry of `key` (its next change takes the two-phase path).
    pub fn forget(&self, key: &str) {
        self.lock_cache().remove(key);
    }

    /// Run one change on `key` (paper §2), retrying rounds until `deadline`; every acceptor call is
    /// bounded by `deadline` too. Returns the new committed state (`None` = empty register). When a
    /// retry finds this call's own earlier, partly applied attempt as the current state, that
    /// attempt is committed and returned: the change is not applied twice (see the module docs).
    ///
    /// Errors: [`ProposeError::Rejected`] when the change function refused (the current state was
    /// committed unchanged; nothing new written); [`ProposeError::Ambiguous`] when it refused after
    /// an earlier round of this call may have applied a change; [`ProposeError::NoQuorum`] when the
    /// deadline passed first (the change may or may not have been applied).
    pub async fn change(
        &self,
        key: &str,
        change: Change<'_>,
        deadline: Instant,
    ) -> Result<Option<State>, ProposeError> {
        let mut tried: u32 = 0;
        let mut last = String::from("the deadline had already passed");
        // Failed accepts of this call that carried a changed state, and whether they may have
        // been applied (late replies can still settle that).
        let mut doubts: Vec<Applied> = Vec::new();
        // Ballots of this call's failed accepts that carried the change function's result.
        let mut own: Vec<Ballot> = Vec::new();
        // Taking (removing) the entry makes this call the only user of its ballot.
        let mut cached = self.take_cached(key);
        loop {
            if Instant::now() >= deadline {
                return Err(ProposeError::NoQuorum { tried, last });
            }
            tried += 1;
            let fast = cached.is_some();
            let (ballot, current, recovered) = match cached.take() {
                Some(c) => (c.ballot, c.state, false),
                None => match self.prepare_phase(key, deadline).await {
                    Ok((ballot, current, from)) => (ballot, current, own.contains(&from)),
                    Err(why) => {
                        last = why;
                        self.backoff(tried, deadline).await;
                        continue;
                    }
                },
            };
            // The highest accepted state is this call's own earlier attempt: the change is already
            // in it, so finish that attempt (commit it unchanged) instead of applying it twice.
            let (proposed, refusal) = if recovered {
                (current.clone(), None)
            } else {
                match change(current.as_ref()) {
                    Ok(new) => (new, None),
                    Err(reason) => (current.clone(), Some(reason)),
                }
            };
            let next = self.fresh_ballot();
            match self
                .accept_phase(key, ballot, proposed.clone(), next, deadline)
                .await
            {
                Ok(()) => {
                    self.store_cached(key, next, proposed.clone());
                    return match refusal {
                        None => Ok(proposed),
                        Some(reason) => {
                            let total = self.acceptors.len();
                            if doubts.iter_mut().any(|d| d.maybe(total)) {
                                Err(ProposeError::Ambiguous {
                                    tried,
                                    reason,
                                    current: proposed,
                                })
                            } else {
                                Err(ProposeError::Rejected(Rejected {
                                    reason,
                                    current: proposed,
                                }))
                            }
                        }
                    };
                }
                Err(failure) => {
                    if refusal.is_none() {
                        own.push(ballot);
                    }
                    if proposed != current {
                        doubts.push(failure.applied);
                    }
                    last = if fast {
                        format!("one-round-trip {}", failure.why)
                    } else {
                        failure.why
                    };
                    // A failed one-round-trip attempt falls back to the two-phase path at once;
                    // a failed two-phase round backs off first.
                    if !fast {
                        self.backoff(tried, deadline).await;
                    }
                }
            }
        }
    }

    /// Linearizable read: the identity change through both phases (or one round trip when cached).
    /// Returns the committed state (`None` = absent register).
    ///
    /// Errors: [`ProposeError::NoQuorum`] when the deadline passed first.
    pub async fn get(&self, key: &str, deadline: Instant) -> Result<Option<State>, ProposeError> {
        self.change(
            key,
            &|current: Option<&State>| Ok(current.cloned()),
            deadline,
        )
        .await
    }

    /// Compare-and-set write: set the value to `value` if the register's version equals
    /// `expected_version` (`None` = write unconditionally; an absent register has version 0). The
    /// new version is the old one + 1, so the first write gives version 1. Returns the new state.
    /// An `Ok` means the write took effect exactly once.
    ///
    /// Errors: [`ProposeError::Rejected`] on a version mismatch (nothing written; `current` holds the
    /// register's committed state); [`ProposeError::Ambiguous`] when the mismatch may be this call's
    /// own earlier attempt; [`ProposeError::NoQuorum`] when the deadline passed first (the write may
    /// or may not have been applied).
    pub async fn put(
        &self,
        key: &str,
        value: String,
        expected_version: Option<u64>,
        deadline: Instant,
    ) -> Result<State, ProposeError> {
        let cas = move |current: Option<&State>| {
            let version = current.map_or(0, |s| s.version);
            match expected_version {
                Some(expected) if expected != version => Err(format!(
                    "version mismatch: expected {expected}, register has {version}"
                )),
                _ => Ok(Some(State {
                    value: value.clone(),
                    version: version + 1,
                })),
            }
        };
        let new = self.change(key, &cas, deadline).await?;
        Ok(new.expect("put's change function always returns a state"))
    }

    /// A ballot above every ballot this proposer has issued or seen in a conflict.
    fn fresh_ballot(&self) -> Ballot {
        Ballot {
            counter: self.counter.fetch_add(1, Ordering::SeqCst) + 1,
            proposer: self.id,
        }
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, Cached>> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn take_cached(&self, key: &str) -> Option<Cached> {
        self.lock_cache().remove(key)
    }

    fn store_cached(&self, key: &str, ballot: Ballot, state: Option<State>) {
        let mut cache = self.lock_cache();
        if cache.len() >= CACHE_CAPACITY && !cache.contains_key(key) {
            if let Some(victim) = cache.keys().next().cloned() {
                cache.remove(&victim);
            }
        }
        cache.insert(key.to_owned(), Cached { ballot, state });
    }

    /// Sleep a random 1..=min(2·round, [`BACKOFF_MAX_MS`]) ms, but not past `deadline`.
    async fn backoff(&self, round: u32, deadline: Instant) {
        let cap = (u64::from(round) * 2).clamp(1, BACKOFF_MAX_MS);
        let ms = rand::rng().random_range(1..=cap);
        let wake = Instant::now() + Duration::from_millis(ms);
        sleep_until(wake.min(deadline)).await;
    }

    /// Phase 1 with a fresh ballot: the ballot, and the state with the highest accepted ballot among
    /// F+1 promises with that accepted ballot; or what the failed round saw.
    async fn prepare_phase(
        &self,
        key: &str,
        deadline: Instant,
    ) -> Result<(Ballot, Option<State>, Ballot), String> {
        let ballot = self.fresh_ballot();
        let (tally, _late) = self
            .broadcast(deadline, |a: Arc<A>| {
                let key = key.to_owned();
                async move { a.prepare(&key, ballot).await }
            })
            .await;
        if tally.oks.len() < self.quorum {
            return Err(tally.describe("prepare", ballot, self.quorum, self.acceptors.len()));
        }
        let highest = tally.oks.into_iter().max_by_key(|p| p.accepted_ballot);
        Ok(match highest {
            Some(p) => (ballot, p.accepted, p.accepted_ballot),
            None => (ballot, None, Ballot::ZERO),
        })
    }

    /// Phase 2: accept `state` at `ballot`, promising `next`, on F+1 acceptors.
    async fn accept_phase(
        &self,
        key: &str,
        ballot: Ballot,
        state: Option<State>,
        next: Ballot,
        deadline: Instant,
    ) -> Result<(), AcceptFailure> {
        let (tally, late) = self
            .broadcast(deadline, |a: Arc<A>| {
                let key = key.to_owned();
                let state = state.clone();
                async move { a.accept(&key, ballot, state, Some(next)).await }
            })
            .await;
        if tally.oks.len() >= self.quorum {
            return Ok(());
        }
        let total = self.acceptors.len();
        // Only an acceptor that answered Conflict certainly did not apply it.
        let applied = if !tally.oks.is_empty() || tally.errors > 0 {
            Applied::Maybe
        } else if tally.conflicts >= total {
            Applied::No
        } else {
            Applied::Pending {
                conflicts: tally.conflicts,
                late,
            }
        };
        Err(AcceptFailure {
            why: tally.describe("accept", ballot, self.quorum, total),
            applied,
        })
    }

    /// Send `call` to every acceptor concurrently (each in its own task, bounded by `deadline`) and
    /// gather answers until F+1 confirmations arrive or F+1 became impossible. Calls still in flight
    /// then run on to completion or the deadline; a conflict they report raises the counter, and
    /// their replies arrive on the returned channel (dropping it ignores them).
    async fn broadcast<T, F, Fut>(
        &self,
        deadline: Instant,
        call: F,
    ) -> (Tally<T>, mpsc::UnboundedReceiver<Reply<T>>)
    where
        T: Send + 'static,
        F: Fn(Arc<A>) -> Fut,
        Fut: Future<Output = Reply<T>> + Send + 'static,
    {
        let total = self.acceptors.len();
        let (tx, mut rx) = mpsc::unbounded_channel();
        for acceptor in &self.acceptors {
            let request = call(Arc::clone(acceptor));
            let tx = tx.clone();
            let counter = Arc::clone(&self.counter);
            tokio::spawn(async move {
                let reply = match timeout_at(deadline, request).await {
                    Ok(reply) => reply,
                    Err(_) => Err(AcceptorError("no answer before the deadline".into())),
                };
                if let Ok(Err(conflict)) = &reply {
                    counter.fetch_max(conflict.seen.counter, Ordering::SeqCst);
                }
                // The receiver is usually gone once the round was decided: the reply is ignored.
                let _ = tx.send(reply);
            });
        }
        drop(tx);
        let mut tally = Tally {
            oks: Vec::with_capacity(self.quorum),
            conflicts: 0,
            errors: 0,
            highest_seen: None,
            last_error: None,
        };
        while tally.oks.len() < self.quorum && total - tally.conflicts - tally.errors >= self.quorum
        {
            match rx.recv().await {
                Some(Ok(Ok(ok))) => tally.oks.push(ok),
                Some(Ok(Err(conflict))) => {
                    tally.conflicts += 1;
                    tally.highest_seen = tally.highest_seen.max(Some(conflict.seen));
                }
                Some(Err(AcceptorError(why))) => {
                    tally.errors += 1;
                    tally.last_error = Some(why);
                }
                None => break,
            }
        }
        (tally, rx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryAcceptor;

    fn cluster(n: usize) -> Vec<Arc<MemoryAcceptor>> {
        (0..n)
            .map(|i| Arc::new(MemoryAcceptor::with_seed(i as u64)))
            .collect()
    }

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(2)
    }

    fn prepares(acceptors: &[Arc<MemoryAcceptor>]) -> u64 {
        acceptors.iter().map(|a| a.prepare_calls()).sum()
    }

    fn accepts(acceptors: &[Arc<MemoryAcceptor>]) -> u64 {
        acceptors.iter().map(|a| a.accept_calls()).sum()
    }

    fn st(value: &str, version: u64) -> State {
        State {
            value: value.into(),
            version,
        }
    }

    #[test]
    fn ballots_order_by_counter_then_proposer() {
        let b = |counter, proposer| Ballot { counter, proposer };
        assert!(Ballot::ZERO < b(1, 0));
        assert!(b(1, 9) < b(2, 0));
        assert!(b(2, 1) < b(2, 2));
        assert_eq!(b(3, 4), b(3, 4));
        assert_eq!(Ballot::default(), Ballot::ZERO);
        assert_eq!(b(7, 3).to_string(), "7,3");
        let mut v = vec![b(2, 2), b(1, 5), b(2, 1), Ballot::ZERO];
        v.sort();
        assert_eq!(v, vec![Ballot::ZERO, b(1, 5), b(2, 1), b(2, 2)]);
    }

    #[tokio::test]
    async fn put_then_get_on_a_single_proposer() {
        let acceptors = cluster(3);
        let p = Proposer::new(1, acceptors.clone());
        assert_eq!(p.get("k", soon()).await, Ok(None));
        let s1 = p.put("k", "a".into(), Some(0), soon()).await.unwrap();
        assert_eq!(s1, st("a", 1));
        let s2 = p.put("k", "b".into(), None, soon()).await.unwrap();
        assert_eq!(s2, st("b", 2));
        assert_eq!(p.get("k", soon()).await, Ok(Some(st("b", 2))));
        // Another proposer sees the same committed state.
        let q = Proposer::new(2, acceptors);
        assert_eq!(q.get("k", soon()).await, Ok(Some(st("b", 2))));
        assert_eq!(q.get("other", soon()).await, Ok(None));
    }

    #[tokio::test]
    async fn cas_mismatch_is_rejected_and_writes_nothing_new() {
        let acceptors = cluster(3);
        let p = Proposer::new(1, acceptors.clone());
        p.put("k", "a".into(), None, soon()).await.unwrap();
        let err = p.put("k", "x".into(), Some(5), soon()).await.unwrap_err();
        let ProposeError::Rejected(rejected) = err else {
            panic!("expected Rejected, got {err:?}");
        };
        assert_eq!(rejected.current, Some(st("a", 1)));
        assert_eq!(rejected.current_version(), 1);
        assert!(
            rejected.reason.contains("expected 5"),
            "{}",
            rejected.reason
        );
        // Absent register: version 0 expected; anything else is refused.
        let err = p.put("new", "x".into(), Some(1), soon()).await.unwrap_err();
        assert!(
            matches!(&err, ProposeError::Rejected(r) if r.current.is_none()),
            "{err:?}"
        );
        for a in &acceptors {
            assert_eq!(a.slot("k").unwrap().state, Some(st("a", 1)));
            assert_eq!(a.slot("new").unwrap().state, None);
        }
        let q = Proposer::new(2, acceptors);
        assert_eq!(q.get("k", soon()).await, Ok(Some(st("a", 1))));
    }

    #[tokio::test]
    async fn a_refusal_commits_the_state_it_reports() {
        let acceptors = cluster(3);
        let p = Proposer::new(1, acceptors.clone());
        for _ in 0..10 {
            p.forget("other");
            p.get("other", soon()).await.unwrap();
        }
        // A state accepted by one acceptor only (a proposer that died mid-accept), below p's
        // ballots; the third acceptor is slow, so p's quorums are the first two.
        let phantom = Ballot {
            counter: 5,
            proposer: 9,
        };
        acceptors[0].prepare("k", phantom).await.unwrap().unwrap();
        acceptors[0]
            .accept("k", phantom, Some(st("x", 3)), None)
            .await
            .unwrap()
            .unwrap();
        acceptors[2].set_delays(Duration::from_millis(50), Duration::ZERO);
        let err = p.put("k", "y".into(), Some(7), soon()).await.unwrap_err();
        assert!(
            matches!(&err, ProposeError::Rejected(r) if r.current == Some(st("x", 3))),
            "{err:?}"
        );
        // Reported means committed: a majority holds it now.
        let holding = acceptors
            .iter()
            .filter(|a| a.slot("k").and_then(|s| s.state) == Some(st("x", 3)))
            .count();
        assert!(
            holding >= 2,
            "only {holding} acceptor(s) hold the reported state"
        );
    }

    #[tokio::test]
    async fn second_change_takes_one_round_trip_and_falls_back_on_interleaving() {
        let acceptors = cluster(3);
        let p1 = Proposer::new(1, acceptors.clone());
        let p2 = Proposer::new(2, acceptors.clone());

        p1.put("k", "1".into(), Some(0), soon()).await.unwrap();
        assert!(p1.cached_ballot("k").is_some());
        // Give the stragglers of the first round time to land.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let (prep, acc) = (prepares(&acceptors), accepts(&acceptors));
        let s = p1.put("k", "2".into(), Some(1), soon()).await.unwrap();
        assert_eq!(s, st("2", 2));
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(prepares(&acceptors), prep, "second change sent a prepare");
        assert_eq!(accepts(&acceptors), acc + 3);
        // A one-round-trip read.
        assert_eq!(p1.get("k", soon()).await, Ok(Some(st("2", 2))));
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(prepares(&acceptors), prep);

        // p2 interleaves: p1's cached ballot is now stale.
        let s = p2.put("k", "3".into(), Some(2), soon()).await.unwrap();
        assert_eq!(s, st("3", 3));
        tokio::time::sleep(Duration::from_millis(20)).await;
        let prep = prepares(&acceptors);
        let s = p1.put("k", "4".into(), Some(3), soon()).await.unwrap();
        assert_eq!(s, st("4", 4));
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            prepares(&acceptors) > prep,
            "p1 did not fall back to prepare"
        );
        assert_eq!(p2.get("k", soon()).await, Ok(Some(st("4", 4))));
    }

    #[tokio::test]
    async fn stale_proposer_cannot_overwrite_a_newer_value() {
        let acceptors = cluster(3);
        let stale = Proposer::new(1, acceptors.clone());
        let fresh = Proposer::new(2, acceptors.clone());
        stale.put("k", "10".into(), None, soon()).await.unwrap();
        let cached = stale.cached_ballot("k").unwrap();
        fresh.put("k", "20".into(), Some(1), soon()).await.unwrap();
        fresh.put("k", "30".into(), Some(2), soon()).await.unwrap();

        // Let the last accepts still in flight land; then the cached ballot is refused everywhere.
        tokio::time::sleep(Duration::from_millis(20)).await;
        for a in &acceptors {
            let refused = a.accept("k", cached, Some(st("bad", 2)), None).await;
            assert!(matches!(refused, Ok(Err(_))), "{refused:?}");
        }
        // A CAS from the stale view is refused, with the newer state reported.
        let err = stale
            .put("k", "11".into(), Some(1), soon())
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ProposeError::Rejected(r) if r.current == Some(st("30", 3))),
            "{err:?}"
        );
        // A blind change through the (again cached) proposer applies to the newest state.
        stale.put("k", "40".into(), Some(3), soon()).await.unwrap();
        fresh.put("k", "50".into(), Some(4), soon()).await.unwrap();
        let incr = |s: Option<&State>| {
            let s = s.expect("register is set");
            let n: u64 = s.value.parse().map_err(|e| format!("{e}"))?;
            Ok(Some(State {
                value: (n + 1).to_string(),
                version: s.version + 1,
            }))
        };
        let s = stale.change("k", &incr, soon()).await.unwrap();
        assert_eq!(s, Some(st("51", 6)));
        assert_eq!(fresh.get("k", soon()).await, Ok(Some(st("51", 6))));
    }

    #[tokio::test]
    async fn an_applied_write_with_lost_replies_is_finished_not_reapplied() {
        let acceptors = cluster(3);
        let p = Proposer::new(1, acceptors.clone());
        p.put("k", "1".into(), Some(0), soon()).await.unwrap();
        // Every acceptor applies the next accept (the one-round-trip attempt) but loses its reply.
        for a in &acceptors {
            a.lose_accept_replies(1);
        }
        let prep = prepares(&acceptors);
        // The retry's prepare finds this call's own attempt as the highest accepted state and
        // commits it as it is: one increment, reported as success.
        let s = p.put("k", "2".into(), Some(1), soon()).await.unwrap();
        assert_eq!(s, st("2", 2));
        assert!(prepares(&acceptors) > prep);
        let blind = |s: Option<&State>| {
            let v = s.map_or(0, |s| s.version);
            Ok(Some(st(&(v + 1).to_string(), v + 1)))
        };
        for a in &acceptors {
            a.lose_accept_replies(1);
        }
        // Same for a change that is not guarded by a version: applied exactly once.
        assert_eq!(p.change("k", &blind, soon()).await, Ok(Some(st("3", 3))));
        assert_eq!(p.get("k", soon()).await, Ok(Some(st("3", 3))));
    }

    #[tokio::test]
    async fn refusal_after_a_possibly_applied_attempt_is_ambiguous() {
        let acceptors = cluster(3);
        let p1 = Arc::new(Proposer::new(1, acceptors.clone()));
        let p2 = Proposer::new(2, acceptors.clone());
        // Raise p2's counter far above anything p1 will use.
        for _ in 0..50 {
            p2.forget("other");
            p2.get("other", soon()).await.unwrap();
        }
        // p1's first accept is applied everywhere but every reply is lost; then the acceptors go
        // down, so p1 keeps retrying its prepare.
        for a in &acceptors {
            a.lose_accept_replies(1);
        }
        let before = accepts(&acceptors);
        let put = {
            let p1 = Arc::clone(&p1);
            tokio::spawn(async move { p1.put("k", "1".into(), Some(0), soon()).await })
        };
        while accepts(&acceptors) < before + 3 {
            tokio::task::yield_now().await;
        }
        for a in &acceptors {
            a.crash();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        for a in &acceptors {
            a.restart();
        }
        // p2 reads first (its ballot is higher): it commits p1's write under p2's ballot, so p1's
        // retry no longer recognises the state as its own attempt, and its version check fails.
        assert_eq!(p2.get("k", soon()).await, Ok(Some(st("1", 1))));
        match put.await.unwrap() {
            Err(ProposeError::Ambiguous {
                current, reason, ..
            }) => {
                assert_eq!(current, Some(st("1", 1)));
                assert!(reason.contains("expected 0"), "{reason}");
            }
            other => panic!("expected Ambiguous, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn minority_down_is_tolerated_majority_down_is_no_quorum() {
        let acceptors = cluster(5);
        let p = Proposer::new(1, acceptors.clone());
        acceptors[0].crash();
        acceptors[3].crash();
        p.put("k", "1".into(), Some(0), soon()).await.unwrap();
        acceptors[1].crash();
        p.forget("k");
        let deadline = Instant::now() + Duration::from_millis(100);
        let err = p.get("k", deadline).await.unwrap_err();
        match &err {
            ProposeError::NoQuorum { tried, last } => {
                assert!(*tried >= 1);
                assert!(last.contains("of 3 needed"), "{last}");
                assert!(last.contains("acceptor is down"), "{last}");
            }
            other => panic!("expected NoQuorum, got {other:?}"),
        }
        assert!(Instant::now() < deadline + Duration::from_millis(50));
        for a in &acceptors {
            a.restart();
        }
        assert_eq!(p.get("k", soon()).await, Ok(Some(st("1", 1))));
    }

    #[tokio::test]
    async fn conflicts_fast_forward_the_counter() {
        let acceptors = cluster(3);
        let fast = Proposer::new(1, acceptors.clone());
        for _ in 0..5 {
            fast.forget("k");
            fast.get("k", soon()).await.unwrap();
        }
        let slow = Proposer::new(2, acceptors);
        slow.put("k", "x".into(), None, soon()).await.unwrap();
        assert!(slow.counter.load(Ordering::SeqCst) > fast.cached_ballot("k").unwrap().counter);
    }

    #[tokio::test]
    async fn no_acceptors_means_no_quorum() {
        let p: Proposer<MemoryAcceptor> = Proposer::new(1, Vec::new());
        let deadline = Instant::now() + Duration::from_millis(30);
        assert!(matches!(
            p.get("k", deadline).await,
            Err(ProposeError::NoQuorum { .. })
        ));
    }

    /// Property tests: concurrent read-increment-CAS loops under crashes, drops and delays.
    ///
    /// Every put writes a unique value `"<count>:<proposer>:<iteration>"` (count = the register's
    /// new version), so each observed state names the put that wrote it.
    mod properties {
        use super::*;
        use proptest::prelude::*;
        use rand::rngs::StdRng;
        use rand::{Rng, SeedableRng};
        use std::collections::HashMap;
        use std::sync::atomic::AtomicBool;

        /// Per-operation deadline in the property runs.
        const OP_DEADLINE: Duration = Duration::from_millis(200);
        /// Proptest cases per property; each case runs [`BATCH`] scenarios concurrently, so each
        /// property checks `CASES * BATCH` = 32 scenarios.
        const CASES: u32 = 4;
        /// Scenarios per case.
        const BATCH: usize = 8;

        #[derive(Debug, Clone)]
        struct Scenario {
            acceptors: usize,
            proposers: usize,
            iterations: usize,
            /// Drop probability per acceptor.
            drops: Vec<f64>,
            delay_before_ms: u64,
            delay_after_ms: u64,
            seed: u64,
        }

        /// How a put ended.
        #[derive(Debug, Clone)]
        enum Outcome {
            Acked(State),
            Rejected(Option<State>),
            Unknown,
        }

        /// One operation, stamped with a global logical clock (a total order consistent with
        /// real time: single-threaded runtime, SeqCst counter).
        #[derive(Debug, Clone)]
        enum Op {
            Read {
                invoked: u64,
                returned: u64,
                seen: Option<State>,
            },
            Put {
                invoked: u64,
                returned: u64,
                value: String,
                outcome: Outcome,
            },
        }

        fn count(st: &State) -> u64 {
            let head = st.value.split(':').next().unwrap_or_default();
            head.parse().expect("value starts with a count")
        }

        fn version(st: &Option<State>) -> u64 {
            st.as_ref().map_or(0, |st| st.version)
        }

        /// Run a batch of independent scenarios (each with its own acceptors) concurrently on one
        /// current-thread runtime: they spend their time sleeping, so a batch takes about as long
        /// as its slowest scenario.
        fn run(batch: &[Scenario]) -> Result<(), TestCaseError> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let results = rt.block_on(futures_util::future::join_all(batch.iter().map(scenario)));
            results.into_iter().collect()
        }

        /// One proposer's loop: get → put(count + 1, expected = version), `iterations` times.
        async fn increment_loop(
            proposer: Proposer<MemoryAcceptor>,
            iterations: usize,
            clock: Arc<AtomicU64>,
        ) -> Vec<Op> {
            let tick = || clock.fetch_add(1, Ordering::SeqCst) + 1;
            let mut ops = Vec::new();
            for i in 0..iterations {
                let invoked = tick();
                let Ok(seen) = proposer.get("k", Instant::now() + OP_DEADLINE).await else {
                    continue;
                };
                ops.push(Op::Read {
                    invoked,
                    returned: tick(),
                    seen: seen.clone(),
                });
                let (n, expected) = seen.as_ref().map_or((0, 0), |st| (count(st), st.version));
                let value = format!("{}:{}:{i}", n + 1, proposer.id());
                let invoked = tick();
                let deadline = Instant::now() + OP_DEADLINE;
                let outcome = match proposer
                    .put("k", value.clone(), Some(expected), deadline)
                    .await
                {
                    Ok(new) => Outcome::Acked(new),
                    Err(ProposeError::Rejected(r)) => Outcome::Rejected(r.current),
                    Err(ProposeError::NoQuorum { .. } | ProposeError::Ambiguous { .. }) => {
                        Outcome::Unknown
                    }
                };
                ops.push(Op::Put {
                    invoked,
                    returned: tick(),
                    value,
                    outcome,
                });
            }
            ops
        }

        /// Crash and restart random acceptors until `stop`, never more than `f` down at once.
        async fn nemesis(
            acceptors: Vec<Arc<MemoryAcceptor>>,
            f: usize,
            stop: Arc<AtomicBool>,
            seed: u64,
        ) {
            let mut rng = StdRng::seed_from_u64(seed);
            while !stop.load(Ordering::SeqCst) {
                let pause = rng.random_range(5..40);
                tokio::time::sleep(Duration::from_millis(pause)).await;
                let (down, up): (Vec<usize>, Vec<usize>) =
                    (0..acceptors.len()).partition(|&i| acceptors[i].is_crashed());
                if down.len() < f && rng.random_bool(0.6) {
                    acceptors[up[rng.random_range(0..up.len())]].crash();
                } else if !down.is_empty() {
                    acceptors[down[rng.random_range(0..down.len())]].restart();
                }
            }
        }

        async fn scenario(s: &Scenario) -> Result<(), TestCaseError> {
            let acceptors: Vec<Arc<MemoryAcceptor>> = (0..s.acceptors)
                .map(|i| {
                    let a = MemoryAcceptor::with_seed(s.seed ^ (i as u64 + 1));
                    a.set_drop_probability(s.drops[i]);
                    a.set_delays(
                        Duration::from_millis(s.delay_before_ms),
                        Duration::from_millis(s.delay_after_ms),
                    );
                    Arc::new(a)
                })
                .collect();
            let f = (s.acceptors - 1) / 2;
            let clock = Arc::new(AtomicU64::new(0));
            let stop = Arc::new(AtomicBool::new(false));
            let chaos = tokio::spawn(nemesis(
                acceptors.clone(),
                f,
                Arc::clone(&stop),
                s.seed.wrapping_mul(31),
            ));
            let loops: Vec<_> = (0..s.proposers)
                .map(|id| {
                    let proposer = Proposer::new(id as u64 + 1, acceptors.clone());
                    tokio::spawn(increment_loop(proposer, s.iterations, Arc::clone(&clock)))
                })
                .collect();
            let mut ops = Vec::new();
            for handle in loops {
                ops.extend(handle.await.unwrap());
            }
            stop.store(true, Ordering::SeqCst);
            chaos.await.unwrap();
            for a in &acceptors {
                a.clear_faults();
            }
            // Final read through a new proposer, every fault cleared.
            let observer = Proposer::new(99, acceptors.clone());
            let invoked = clock.fetch_add(1, Ordering::SeqCst) + 1;
            let last = observer
                .get("k", Instant::now() + Duration::from_secs(5))
                .await
                .map_err(|e| TestCaseError::fail(format!("final read failed: {e}")))?;
            ops.push(Op::Read {
                invoked,
                returned: invoked + 1,
                seen: last.clone(),
            });
            check(&ops, &last)
        }

        fn check(ops: &[Op], last: &Option<State>) -> Result<(), TestCaseError> {
            // Every observation: (invoked, returned, state seen or written).
            let mut observed: Vec<(u64, u64, Option<State>)> = Vec::new();
            // (invoked, returned, new state) of acknowledged puts.
            let mut acked: Vec<(u64, u64, State)> = Vec::new();
            let mut rejected_values: Vec<&str> = Vec::new();
            let mut unknown = 0usize;
            for op in ops {
                match op {
                    Op::Read {
                        invoked,
                        returned,
                        seen,
                    } => observed.push((*invoked, *returned, seen.clone())),
                    Op::Put {
                        invoked,
                        returned,
                        value,
                        outcome,
                    } => match outcome {
                        Outcome::Acked(new) => {
                            prop_assert_eq!(&new.value, value, "acknowledged a different value");
                            acked.push((*invoked, *returned, new.clone()));
                            observed.push((*invoked, *returned, Some(new.clone())));
                        }
                        // A refusal reports a committed state: it is a read as well.
                        Outcome::Rejected(current) => {
                            rejected_values.push(value);
                            observed.push((*invoked, *returned, current.clone()));
                        }
                        Outcome::Unknown => unknown += 1,
                    },
                }
            }

            // (a) each version is acknowledged at most once; count == version everywhere.
            let mut versions: Vec<u64> = acked.iter().map(|w| w.2.version).collect();
            versions.sort_unstable();
            let n = versions.len();
            versions.dedup();
            prop_assert_eq!(n, versions.len(), "two acknowledged writes share a version");
            for st in observed.iter().filter_map(|o| o.2.as_ref()) {
                prop_assert_eq!(count(st), st.version, "state {:?}: count != version", st);
            }
            // A committed state never changes without a version bump: one value per version.
            let mut by_version: HashMap<u64, &str> = HashMap::new();
            for st in observed.iter().filter_map(|o| o.2.as_ref()) {
                let first = *by_version.entry(st.version).or_insert(&st.value);
                prop_assert_eq!(
                    first,
                    st.value.as_str(),
                    "two values at version {}",
                    st.version
                );
            }
            // A refused put wrote nothing: its value is never observed.
            for value in &rejected_values {
                prop_assert!(
                    !by_version.values().any(|v| v == value),
                    "value {} of a Rejected put was observed",
                    value
                );
            }
            // (b) every read and every acknowledged write reflects all writes acknowledged
            // before it began.
            for (invoked, _, seen) in &observed {
                let floor = acked
                    .iter()
                    .filter(|w| w.1 < *invoked)
                    .map(|w| w.2.version)
                    .max()
                    .unwrap_or(0);
                prop_assert!(
                    version(seen) >= floor,
                    "stale: version {} after acknowledged version {}",
                    version(seen),
                    floor
                );
            }
            // Nothing goes back in time: an operation that starts after another returned sees
            // that one's state or a later one.
            for earlier in &observed {
                for later in observed.iter().filter(|o| o.0 > earlier.1) {
                    prop_assert!(
                        version(&later.2) >= version(&earlier.2),
                        "version {} observed after version {} had been observed",
                        version(&later.2),
                        version(&earlier.2)
                    );
                }
            }
            // (c), (d) the final read: count == version (checked above), no acknowledged
            // increment lost, and only puts with an unknown outcome add to them.
            let total = version(last);
            prop_assert!(
                total >= acked.len() as u64,
                "final count {} < {} acknowledged increments",
                total,
                acked.len()
            );
            prop_assert!(
                total <= (acked.len() + unknown) as u64,
                "final count {} > {} acknowledged + {} unknown puts",
                total,
                acked.len(),
                unknown
            );
            Ok(())
        }

        fn scenarios(acceptors: usize) -> impl Strategy<Value = Scenario> {
            (
                2usize..=4,
                20usize..=30,
                proptest::collection::vec(0.0f64..0.3, acceptors),
                0u64..=5,
                0u64..=5,
                any::<u64>(),
            )
                .prop_map(
                    move |(proposers, iterations, drops, before, after, seed)| Scenario {
                        acceptors,
                        proposers,
                        iterations,
                        drops,
                        delay_before_ms: before,
                        delay_after_ms: after,
                        seed,
                    },
                )
        }

        proptest! {
            #![proptest_config(ProptestConfig {
                cases: CASES,
                failure_persistence: None,
                ..ProptestConfig::default()
            })]

            #[test]
            fn register_is_linearizable_on_three_acceptors(
                batch in proptest::collection::vec(scenarios(3), BATCH)
            ) {
                run(&batch)?;
            }

            #[test]
            fn register_is_linearizable_on_five_acceptors(
                batch in proptest::collection::vec(scenarios(5), BATCH)
            ) {
                run(&batch)?;
            }
        }
    }
}
