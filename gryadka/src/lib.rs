//! Gryadka: the CASPaxos register that Perseus puts under faults (`perseus lab up gryadka`). It is
//! a crate of its own in the Perseus workspace, because it is the system under test, not a part of
//! the lab. It is modelled on the Gryadka JavaScript implementation (<https://github.com/gryadka/js>)
//! and on Denis Rystsov, "CASPaxos: Replicated State Machines without logs", arXiv:1802.07000
//! (2018).
//!
//! - [`caspaxos`]: the protocol core: ballots, register states, the [`caspaxos::Acceptor`] trait an
//!   acceptor transport implements, and the [`caspaxos::Proposer`] (two-phase rounds, retries with
//!   back-off until a deadline, the one-round-trip optimisation of the paper's section 2.2.1).
//! - [`memory`]: an in-memory acceptor with fault injection (crash/restart, dropped requests or
//!   replies, delays), used by the tests.
//! - [`redis`]: acceptors on Redis, each phase one atomic Lua script.
//! - [`server`]: the proposer's etcd-like HTTP key-value API, which the `gryadka` binary serves
//!   (`gryadka --node n1 --acceptors n1:6379,n2:6379,n3:6379`) on each lab node beside its Redis
//!   acceptor.
#![deny(missing_docs)]

pub mod caspaxos;
pub mod memory;
pub mod redis;
pub mod server;
