//! Gryadka: Perseus' own CASPaxos register, modelled on the Gryadka JavaScript implementation
//! (<https://github.com/gryadka/js>) and on Denis Rystsov, "CASPaxos: Replicated State Machines
//! without logs", arXiv:1802.07000 (2018).
//!
//! - [`caspaxos`]: the protocol core: ballots, register states, the [`caspaxos::Acceptor`] trait an
//!   acceptor transport implements, and the [`caspaxos::Proposer`] (two-phase rounds, retries with
//!   back-off until a deadline, the one-round-trip optimisation of the paper's section 2.2.1).
//! - [`memory`]: an in-memory acceptor with fault injection (crash/restart, dropped requests or
//!   replies, delays), used by the tests.
//! - [`redis`]: acceptors on Redis, each phase one atomic Lua script.
//! - [`server`]: the proposer's etcd-like HTTP key-value API (`perseus gryadka-proposer`), which
//!   each lab node runs beside its Redis acceptor.

pub mod caspaxos;
pub mod memory;
pub mod redis;
pub mod server;
