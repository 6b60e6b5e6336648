//! Transactional workloads beside the register loop (docs/workloads.md): Elle's *list-append*
//! and Jepsen's *bank*, run by several clients per node against a system that has transactions,
//! with each transaction's outcome recorded as Jepsen records it (`ok`, `fail`, `info`) and the
//! history checked afterwards ([`crate::checker::list_append`], [`bank`]).
//!
//! - [`Workload`] picks the workload (`register`, the seeds' loop, stays the default), and
//!   [`Isolation`] the isolation level its transactions ask for (none: the system's own).
//! - A system that has transactions gives a [`TxnDriver`]; its connections ([`TxnConn`]) run one
//!   transaction per call, on one connection, and say whether an error came before the commit
//!   was sent ([`TxnError`]): only then, or when the commit's own error proves it did not commit,
//!   is the transaction `fail`; otherwise it is `info` and is never retried (a retry of a commit
//!   that did land would show up as a duplicate element).
//! - [`run`] runs the clients until the end, printing each second's committed transactions per
//!   node exactly as the register loop prints its successes, and returns the [`TxnHistory`].

pub mod bank;
mod generate;
pub mod history;
mod run;
pub mod summary;

use std::fmt;
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::checker::list_append::Mop;
use crate::driver::{DriverError, Endpoint};

pub use generate::{BankGenerator, ListAppendGenerator, ACCOUNTS, ACCOUNT_BALANCE};
pub use run::{errors, outcomes, run, BankOp, BankOpKind, TxnHistory, TxnOptions, TxnRecord};
pub use summary::{summarize, windows, TxnSummary, TxnWindow};

/// What the load loop runs.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    Serialize,
    Deserialize,
    clap::ValueEnum,
    schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Workload {
    /// The seeds' loop: one key per connection, read, add 1, compare-and-set it back.
    #[default]
    Register,
    /// Elle's list-append: transactions of 1 to 4 appends and whole-list reads over a small,
    /// rotating key space that every client shares.
    ListAppend,
    /// Jepsen's bank: transfers between accounts and reads of every balance, total fixed.
    Bank,
}

impl Workload {
    /// Its name as written on the command line and in files (`list-append`).
    pub fn name(self) -> &'static str {
        match self {
            Workload::Register => "register",
            Workload::ListAppend => "list-append",
            Workload::Bank => "bank",
        }
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The isolation level a transaction asks for (SQL's names; `None` where it is asked: the
/// system's default, PostgreSQL's and CockroachDB's own level, InnoDB's REPEATABLE READ).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Isolation {
    /// READ COMMITTED.
    ReadCommitted,
    /// REPEATABLE READ (snapshot isolation on PostgreSQL).
    RepeatableRead,
    /// SERIALIZABLE.
    Serializable,
}

impl Isolation {
    /// The level as SQL writes it (`REPEATABLE READ`).
    pub fn sql(self) -> &'static str {
        match self {
            Isolation::ReadCommitted => "READ COMMITTED",
            Isolation::RepeatableRead => "REPEATABLE READ",
            Isolation::Serializable => "SERIALIZABLE",
        }
    }

    /// Its name as written on the command line (`repeatable-read`).
    pub fn name(self) -> &'static str {
        match self {
            Isolation::ReadCommitted => "read-committed",
            Isolation::RepeatableRead => "repeatable-read",
            Isolation::Serializable => "serializable",
        }
    }
}

/// Why a transaction failed, and whether its commit had been sent when it did.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}")]
pub struct TxnError {
    /// What went wrong.
    pub error: DriverError,
    /// Whether the `COMMIT` had been sent: before that, no error can leave the transaction
    /// committed (the connection is dropped and the server rolls it back).
    pub at_commit: bool,
}

impl TxnError {
    /// An error before the commit was sent.
    pub fn before_commit(error: DriverError) -> TxnError {
        TxnError {
            error,
            at_commit: false,
        }
    }

    /// An error of the commit itself.
    pub fn at_commit(error: DriverError) -> TxnError {
        TxnError {
            error,
            at_commit: true,
        }
    }

    /// Whether the transaction definitely did not commit (Jepsen's `fail`, else `info`): an error
    /// before the commit, or a commit error that proves it ([`DriverError::definite`]).
    pub fn definite(&self) -> bool {
        !self.at_commit || self.error.definite()
    }
}

/// What a transfer did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transferred {
    /// Committed: the amount moved.
    Committed,
    /// The source held less than the amount, so the transaction rolled back (a definite `fail`).
    Insufficient,
}

/// One connection that runs transactions: each call is one transaction, begun at `isolation`
/// (`None`: the system's default) and committed, on keys and accounts named within the run
/// `run` (so that runs on one lab never see each other's rows).
pub trait TxnConn: Send {
    /// Run a list-append transaction: the micro-operations in order, reads (`Mop::Read(k, None)`)
    /// filled with the list read (an absent key is an empty list).
    fn list_append<'a>(
        &'a mut self,
        run: &'a str,
        isolation: Option<Isolation>,
        mops: &'a [Mop],
    ) -> BoxFuture<'a, Result<Vec<Mop>, TxnError>>;

    /// Create the run's `accounts` accounts, each holding `balance`, unless they exist
    /// (idempotent).
    fn bank_setup<'a>(
        &'a mut self,
        run: &'a str,
        accounts: u64,
        balance: i64,
    ) -> BoxFuture<'a, Result<(), TxnError>>;

    /// Move `amount` from account `from` to `to` in one transaction: read both, and write both
    /// back (the values computed here, as Jepsen's bank does) unless `from` holds less.
    fn transfer<'a>(
        &'a mut self,
        run: &'a str,
        isolation: Option<Isolation>,
        from: u64,
        to: u64,
        amount: i64,
    ) -> BoxFuture<'a, Result<Transferred, TxnError>>;

    /// Read every account's balance in one transaction, by account number.
    fn balances<'a>(
        &'a mut self,
        run: &'a str,
        isolation: Option<Isolation>,
    ) -> BoxFuture<'a, Result<Vec<(u64, i64)>, TxnError>>;

    /// Whether the last transaction begun on this connection had sent its commit (or, on etcd,
    /// its one conditional write) when it stopped: a transaction cut off by the deadline before
    /// that is a definite `fail`, after it `info`. Default: yes (the cautious answer).
    fn commit_sent(&self) -> bool {
        true
    }
}

/// A system's transactional client: opens [`TxnConn`]s.
pub trait TxnDriver: Send + Sync {
    /// Open a connection to a node (`timeout` bounds the connect).
    fn connect<'a>(
        &'a self,
        endpoint: &'a Endpoint,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Box<dyn TxnConn>, DriverError>>;

    /// Whether the client can begin transactions at `isolation` (`None`: the system's default),
    /// asked once before a run. Default: every level.
    ///
    /// Errors: why not and what to do, in one line.
    fn isolation(&self, isolation: Option<Isolation>) -> Result<(), String> {
        let _ = isolation;
        Ok(())
    }

    /// Whether a node's read port (`--replica-reads`, a replica's own copy) can run read-only
    /// transactions at `isolation`, asked once before a run. Default: every level.
    ///
    /// Errors: why not and what to do, in one line.
    fn replica_isolation(&self, isolation: Option<Isolation>) -> Result<(), String> {
        let _ = isolation;
        Ok(())
    }
}

/// A system's transactional client as a run uses it ([`crate::systems::txn_driver`]).
#[derive(Clone)]
pub struct TxnClient {
    /// Opens the connections.
    pub driver: std::sync::Arc<dyn TxnDriver>,
    /// With `--replica-reads`: the port, inside each node, its read-only transactions go to
    /// ([`TxnOptions::read_port`]).
    pub read_port: Option<u16>,
}

/// How a run's header says where read-only transactions went: `, read-only transactions at each
/// node's port 5432` with a read port, nothing without.
pub fn reads_at(read_port: Option<u16>) -> String {
    read_port.map_or(String::new(), |p| {
        format!(", read-only transactions at each node's port {p}")
    })
}

/// A list as stored by the SQL drivers: its elements as comma-separated decimal text.
///
/// Errors: [`DriverError::Protocol`] naming the text when an element is not a number.
pub fn parse_list(text: &str) -> Result<Vec<u64>, DriverError> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    text.split(',')
        .map(|e| {
            e.trim()
                .parse::<u64>()
                .map_err(|_| DriverError::Protocol(format!("list '{text}' holds a non-number")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_errors_before_the_commit_or_proven_ones_are_definite() {
        let io = DriverError::Io("reset".into());
        assert!(TxnError::before_commit(io.clone()).definite());
        assert!(!TxnError::at_commit(io).definite());
        assert!(TxnError::at_commit(DriverError::Server("40001".into())).definite());
        assert!(!TxnError::at_commit(DriverError::Ambiguous("57P01".into())).definite());
    }

    #[test]
    fn lists_are_comma_separated_numbers() {
        assert_eq!(parse_list("").unwrap(), Vec::<u64>::new());
        assert_eq!(parse_list("1,2,30").unwrap(), vec![1, 2, 30]);
        let e = parse_list("1,x").unwrap_err().to_string();
        assert!(e.contains("'1,x'"), "{e}");
    }

    #[test]
    fn names_are_as_written() {
        assert_eq!(Workload::ListAppend.name(), "list-append");
        assert_eq!(Isolation::RepeatableRead.sql(), "REPEATABLE READ");
        assert_eq!(Workload::default(), Workload::Register);
    }
}
