//! An in-memory CASPaxos acceptor with fault injection, for tests of the proposer.
//!
//! The acceptor rules are Gryadka's Redis scripts (`prepare.lua`, `accept.lua` in
//! <https://github.com/gryadka/js>), see [`Slot::prepare`] and [`Slot::accept`]. State survives a
//! crash (an acceptor's state is durable, as Redis with fsync is assumed to be).
//!
//! Faults, all decided by a seeded [`StdRng`] so a run is reproducible as far as the scheduler lets
//! it be:
//! - **crash** ([`MemoryAcceptor::crash`] / [`MemoryAcceptor::restart`]): every call fails while
//!   crashed; a call in flight when the crash happens loses its request (if it had not been applied
//!   yet) or its reply (if it had);
//! - **drop** ([`MemoryAcceptor::set_drop_probability`]): a call fails with that probability; half of
//!   the dropped calls lose the request (not applied), half lose the reply (applied, the proposer
//!   hears nothing);
//! - **delay** ([`MemoryAcceptor::set_delays`]): a uniform random sleep up to a maximum before
//!   applying and another after applying (a slow reply to an applied request);
//! - **lost replies** ([`MemoryAcceptor::lose_accept_replies`]): the next n accepts are applied and
//!   their replies lost, for deterministic tests of ambiguous outcomes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::caspaxos::{Acceptor, AcceptorError, Ballot, Conflict, Promise, State};

/// One key's acceptor state: the promised ballot, the accepted ballot and the accepted state. A key
/// never seen is `Slot::default()` (both ballots [`Ballot::ZERO`], no state). Invariant kept by the
/// rules below: `promise >= accepted`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Slot {
    /// Highest ballot promised (by a prepare, or as `next` by an accept).
    pub promise: Ballot,
    /// Ballot of the accepted state.
    pub accepted: Ballot,
    /// The accepted state (`None` = empty register).
    pub state: Option<State>,
}

impl Slot {
    /// Phase 1b (paper §2; Gryadka `prepare.lua`): if `ballot` is strictly above the promise (and
    /// so above the accepted ballot), promise it and return what was accepted; otherwise a
    /// [`Conflict`] with the promise.
    pub fn prepare(&mut self, ballot: Ballot) -> Result<Promise, Conflict> {
        if ballot > self.promise && ballot > self.accepted {
            self.promise = ballot;
            Ok(Promise {
                accepted_ballot: self.accepted,
                accepted: self.state.clone(),
            })
        } else {
            Err(Conflict {
                seen: self.promise.max(self.accepted),
            })
        }
    }

    /// Phase 2b (paper §2, §2.2.1; Gryadka `accept.lua`): if `ballot` is at least the promise and
    /// strictly above the accepted ballot, accept `(ballot, state)` and promise `next` (or `ballot`
    /// when `None`); otherwise a [`Conflict`] with the promise.
    pub fn accept(
        &mut self,
        ballot: Ballot,
        state: Option<State>,
        next: Option<Ballot>,
    ) -> Result<(), Conflict> {
        if ballot >= self.promise && ballot > self.accepted {
            self.accepted = ballot;
            self.state = state;
            self.promise = next.map_or(ballot, |n| n.max(ballot));
            Ok(())
        } else {
            Err(Conflict {
                seen: self.promise.max(self.accepted),
            })
        }
    }
}

/// The injected faults and the RNG that draws them.
#[derive(Debug)]
struct Faults {
    crashed: bool,
    /// Incremented by every crash: a call that saw another epoch was cut by a crash.
    epoch: u64,
    drop_probability: f64,
    delay_before: Duration,
    delay_after: Duration,
    lost_accept_replies: u32,
    rng: StdRng,
}

/// How one call will go, drawn when it starts.
struct Plan {
    epoch: u64,
    before: Duration,
    after: Duration,
    lose_request: bool,
    lose_reply: bool,
}

/// An acceptor in memory: per-key [`Slot`]s behind a mutex (each call is atomic per key), with
/// fault injection. Construct with [`MemoryAcceptor::with_seed`] for reproducible faults.
#[derive(Debug)]
pub struct MemoryAcceptor {
    slots: Mutex<HashMap<String, Slot>>,
    faults: Mutex<Faults>,
    prepares: AtomicU64,
    accepts: AtomicU64,
}

impl Default for MemoryAcceptor {
    fn default() -> Self {
        MemoryAcceptor::with_seed(0)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl MemoryAcceptor {
    /// An empty, healthy acceptor whose fault decisions come from `StdRng::seed_from_u64(seed)`.
    pub fn with_seed(seed: u64) -> Self {
        MemoryAcceptor {
            slots: Mutex::new(HashMap::new()),
            faults: Mutex::new(Faults {
                crashed: false,
                epoch: 0,
                drop_probability: 0.0,
                delay_before: Duration::ZERO,
                delay_after: Duration::ZERO,
                lost_accept_replies: 0,
                rng: StdRng::seed_from_u64(seed),
            }),
            prepares: AtomicU64::new(0),
            accepts: AtomicU64::new(0),
        }
    }

    /// Crash: every call fails with [`AcceptorError`] until [`MemoryAcceptor::restart`]; calls in
    /// flight lose their request or reply. The stored state is kept.
    pub fn crash(&self) {
        let mut f = lock(&self.faults);
        f.crashed = true;
        f.epoch += 1;
    }

    /// Come back after a crash, with the state as it was.
    pub fn restart(&self) {
        lock(&self.faults).crashed = false;
    }

    /// Whether the acceptor is crashed.
    pub fn is_crashed(&self) -> bool {
        lock(&self.faults).crashed
    }

    /// Fail each call with probability `p` (clamped to 0..=1): half of the failures drop the request
    /// (not applied), half drop the reply (applied).
    pub fn set_drop_probability(&self, p: f64) {
        lock(&self.faults).drop_probability = if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) };
    }

    /// Sleep a uniform random time up to `before` before applying each call and up to `after` after
    /// applying it (microsecond resolution).
    pub fn set_delays(&self, before: Duration, after: Duration) {
        let mut f = lock(&self.faults);
        f.delay_before = before;
        f.delay_after = after;
    }

    /// Apply the next `n` accepts but lose their replies (the proposer gets an [`AcceptorError`]).
    pub fn lose_accept_replies(&self, n: u32) {
        lock(&self.faults).lost_accept_replies = n;
    }

    /// Restart and remove every fault (drops, delays, lost replies).
    pub fn clear_faults(&self) {
        let mut f = lock(&self.faults);
        f.crashed = false;
        f.drop_probability = 0.0;
        f.delay_before = Duration::ZERO;
        f.delay_after = Duration::ZERO;
        f.lost_accept_replies = 0;
    }

    /// Prepare calls received so far (including failed ones).
    pub fn prepare_calls(&self) -> u64 {
        self.prepares.load(Ordering::SeqCst)
    }

    /// Accept calls received so far (including failed ones).
    pub fn accept_calls(&self) -> u64 {
        self.accepts.load(Ordering::SeqCst)
    }

    /// The stored slot of `key` (`None` if the key was never touched).
    pub fn slot(&self, key: &str) -> Option<Slot> {
        lock(&self.slots).get(key).cloned()
    }

    fn plan(&self, is_accept: bool) -> Result<Plan, AcceptorError> {
        let mut guard = lock(&self.faults);
        let f = &mut *guard;
        if f.crashed {
            return Err(AcceptorError(
                "acceptor is down (connection refused)".into(),
            ));
        }
        let before = random_up_to(&mut f.rng, f.delay_before);
        let after = random_up_to(&mut f.rng, f.delay_after);
        let p = f.drop_probability;
        let dropped = p > 0.0 && f.rng.random_bool(p);
        let request_side = f.rng.random_bool(0.5);
        let mut lose_reply = dropped && !request_side;
        if is_accept && f.lost_accept_replies > 0 {
            f.lost_accept_replies -= 1;
            lose_reply = true;
        }
        Ok(Plan {
            epoch: f.epoch,
            before,
            after,
            lose_request: dropped && request_side,
            lose_reply,
        })
    }

    /// Run one call: draw its faults, wait, apply `op` to the key's slot, wait, answer.
    async fn call<T>(
        &self,
        key: &str,
        is_accept: bool,
        op: impl FnOnce(&mut Slot) -> T,
    ) -> Result<T, AcceptorError> {
        let plan = self.plan(is_accept)?;
        if !plan.before.is_zero() {
            tokio::time::sleep(plan.before).await;
        }
        {
            let f = lock(&self.faults);
            if f.crashed || f.epoch != plan.epoch {
                return Err(AcceptorError("acceptor crashed before applying".into()));
            }
        }
        if plan.lose_request {
            return Err(AcceptorError("request dropped (not applied)".into()));
        }
        let out = {
            let mut slots = lock(&self.slots);
            op(slots.entry(key.to_owned()).or_default())
        };
        if !plan.after.is_zero() {
            tokio::time::sleep(plan.after).await;
        }
        {
            let f = lock(&self.faults);
            if f.crashed || f.epoch != plan.epoch {
                return Err(AcceptorError(
                    "acceptor crashed after applying (reply lost)".into(),
                ));
            }
        }
        if plan.lose_reply {
            return Err(AcceptorError("reply dropped (request was applied)".into()));
        }
        Ok(out)
    }
}

fn random_up_to(rng: &mut StdRng, max: Duration) -> Duration {
    let us = u64::try_from(max.as_micros()).unwrap_or(u64::MAX);
    if us == 0 {
        Duration::ZERO
    } else {
        Duration::from_micros(rng.random_range(0..=us))
    }
}

impl Acceptor for MemoryAcceptor {
    async fn prepare(
        &self,
        key: &str,
        ballot: Ballot,
    ) -> Result<Result<Promise, Conflict>, AcceptorError> {
        self.prepares.fetch_add(1, Ordering::SeqCst);
        self.call(key, false, |slot| slot.prepare(ballot)).await
    }

    async fn accept(
        &self,
        key: &str,
        ballot: Ballot,
        state: Option<State>,
        next: Option<Ballot>,
    ) -> Result<Result<(), Conflict>, AcceptorError> {
        self.accepts.fetch_add(1, Ordering::SeqCst);
        self.call(key, true, |slot| slot.accept(ballot, state, next))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(counter: u64, proposer: u64) -> Ballot {
        Ballot { counter, proposer }
    }

    fn st(v: u64) -> Option<State> {
        Some(State {
            value: v.to_string(),
            version: v,
        })
    }

    #[test]
    fn prepare_needs_a_ballot_above_everything_seen() {
        let mut s = Slot::default();
        assert_eq!(
            s.prepare(b(1, 1)),
            Ok(Promise {
                accepted_ballot: Ballot::ZERO,
                accepted: None
            })
        );
        assert_eq!(s.prepare(b(1, 1)), Err(Conflict { seen: b(1, 1) }));
        assert_eq!(s.prepare(b(1, 0)), Err(Conflict { seen: b(1, 1) }));
        assert!(s.prepare(b(1, 2)).is_ok());
        assert_eq!(s.promise, b(1, 2));
    }

    #[test]
    fn accept_needs_the_promise_and_promises_next() {
        let mut s = Slot::default();
        s.prepare(b(2, 1)).unwrap();
        assert_eq!(
            s.accept(b(1, 9), st(1), None),
            Err(Conflict { seen: b(2, 1) })
        );
        assert_eq!(s.accept(b(2, 1), st(1), Some(b(3, 1))), Ok(()));
        assert_eq!(
            (s.promise, s.accepted, s.state.clone()),
            (b(3, 1), b(2, 1), st(1))
        );
        // Same ballot twice: refused (strictly above the accepted ballot).
        assert!(s.accept(b(2, 1), st(2), None).is_err());
        // Between the accepted ballot and the promised next: refused, for everyone.
        assert!(s.accept(b(2, 5), st(2), None).is_err());
        assert!(s.prepare(b(3, 0)).is_err());
        assert!(s.prepare(b(3, 1)).is_err());
        // The one-round-trip accept at next succeeds and promises the following one.
        assert_eq!(s.accept(b(3, 1), st(2), Some(b(4, 1))), Ok(()));
        // Prepare returns the accepted state.
        assert_eq!(
            s.prepare(b(5, 2)),
            Ok(Promise {
                accepted_ballot: b(3, 1),
                accepted: st(2)
            })
        );
        // Without next, the accept promises its own ballot.
        assert_eq!(s.accept(b(5, 2), st(3), None), Ok(()));
        assert_eq!(s.promise, b(5, 2));
    }

    #[tokio::test]
    async fn crash_fails_calls_and_keeps_state() {
        let a = MemoryAcceptor::with_seed(7);
        a.prepare("k", b(1, 1)).await.unwrap().unwrap();
        a.accept("k", b(1, 1), st(1), Some(b(2, 1)))
            .await
            .unwrap()
            .unwrap();
        a.crash();
        assert!(a.is_crashed());
        assert!(a.prepare("k", b(9, 1)).await.is_err());
        assert!(a.accept("k", b(9, 1), st(9), None).await.is_err());
        a.restart();
        let promise = a.prepare("k", b(3, 1)).await.unwrap().unwrap();
        assert_eq!(promise.accepted, st(1));
        assert_eq!(a.prepare_calls(), 3);
        assert_eq!(a.accept_calls(), 2);
    }

    #[tokio::test]
    async fn crash_during_the_delay_after_applying_loses_the_reply() {
        let a = std::sync::Arc::new(MemoryAcceptor::with_seed(1));
        a.set_delays(Duration::ZERO, Duration::from_millis(50));
        // Retry until the random delay is long enough to crash inside it.
        let mut ballot = 1;
        loop {
            let call = {
                let a = a.clone();
                tokio::spawn(async move { a.accept("k", b(ballot, 1), st(ballot), None).await })
            };
            tokio::time::sleep(Duration::from_millis(5)).await;
            a.crash();
            a.restart();
            let reply = call.await.unwrap();
            if reply.is_err() {
                assert_eq!(a.slot("k").unwrap().state, st(ballot), "not applied");
                break;
            }
            ballot += 1;
            assert!(ballot < 50, "the crash never fell inside the delay");
        }
    }

    #[tokio::test]
    async fn drops_are_reproducible_from_the_seed() {
        async fn pattern(seed: u64) -> Vec<bool> {
            let a = MemoryAcceptor::with_seed(seed);
            a.set_drop_probability(0.5);
            let mut out = Vec::new();
            for i in 1..=64 {
                out.push(a.prepare("k", b(i, 1)).await.is_ok());
            }
            out
        }
        let first = pattern(42).await;
        assert_eq!(first, pattern(42).await);
        let ok = first.iter().filter(|x| **x).count();
        assert!((10..=54).contains(&ok), "{ok} of 64 succeeded at p = 0.5");
        let a = MemoryAcceptor::with_seed(3);
        a.set_drop_probability(1.0);
        assert!(a.prepare("k", b(1, 1)).await.is_err());
        a.clear_faults();
        assert!(a.prepare("k", b(2, 1)).await.is_ok());
    }

    #[tokio::test]
    async fn lost_accept_replies_are_applied() {
        let a = MemoryAcceptor::with_seed(0);
        a.lose_accept_replies(1);
        assert!(a.accept("k", b(1, 1), st(1), None).await.is_err());
        assert_eq!(a.slot("k").unwrap().state, st(1));
        assert_eq!(a.accept("k", b(2, 1), st(2), None).await, Ok(Ok(())));
    }
}
