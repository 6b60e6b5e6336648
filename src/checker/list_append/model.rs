//! The list-append checker's vocabulary: transactions and their micro-operations, the
//! consistency models, the kinds of edge and anomaly, and what a check returns.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A key of the history.
pub type Key = u64;

/// An element appended to a key's list, unique per key.
pub type Element = u64;

/// One micro-operation of a transaction (Elle's `[:append k v]` and `[:r k list]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mop {
    /// Append `1` to key `0`'s list.
    Append(Key, Element),
    /// Read key `0`'s list: `None` when the outcome is not known (a transaction that did not
    /// complete).
    Read(Key, Option<Vec<Element>>),
}

/// How a transaction ended, as Jepsen says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Committed.
    Ok,
    /// Unknown: it may or may not have committed.
    Info,
    /// Did not commit.
    Fail,
}

/// One transaction of the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Txn {
    /// The process (client) that ran it; a process runs one transaction at a time.
    pub process: u64,
    /// How it ended.
    pub outcome: Outcome,
    /// When it was invoked, on any clock that only moves forward (a history's index, or ns).
    pub invoked: u64,
    /// When it completed, on the same clock (`None`: it never did).
    pub completed: Option<u64>,
    /// Its micro-operations, in order.
    pub mops: Vec<Mop>,
}

/// A consistency model, weakest first; each anomaly rules out some of them (Elle's lattice,
/// cut to the models a register of lists can tell apart).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Model {
    /// Adya's PL-1: no G0.
    ReadUncommitted,
    /// PL-2: no G1 either.
    ReadCommitted,
    /// PL-2.99: no G2-item either (nor lost update).
    RepeatableRead,
    /// No G-single, G-nonadjacent or lost update, and no G1.
    SnapshotIsolation,
    /// PL-3: no cycle of data dependencies.
    Serializable,
    /// Serializable, and each process sees its own earlier transactions.
    StrongSessionSerializable,
    /// Serializable, in an order that respects real time.
    StrictSerializable,
}

impl Model {
    /// Every model, weakest first.
    pub const ALL: [Model; 7] = [
        Model::ReadUncommitted,
        Model::ReadCommitted,
        Model::RepeatableRead,
        Model::SnapshotIsolation,
        Model::Serializable,
        Model::StrongSessionSerializable,
        Model::StrictSerializable,
    ];

    /// Its name, as Elle writes it (`snapshot-isolation`).
    pub fn name(self) -> &'static str {
        match self {
            Model::ReadUncommitted => "read-uncommitted",
            Model::ReadCommitted => "read-committed",
            Model::RepeatableRead => "repeatable-read",
            Model::SnapshotIsolation => "snapshot-isolation",
            Model::Serializable => "serializable",
            Model::StrongSessionSerializable => "strong-session-serializable",
            Model::StrictSerializable => "strict-serializable",
        }
    }
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The kind of a dependency between two transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Edge {
    /// Write-write: a later append to the same key.
    Ww,
    /// Write-read: a read that saw the append.
    Wr,
    /// Read-write (anti-dependency): a read that did not see the next append.
    Rw,
    /// The same process, one after the other.
    Process,
    /// Real time: completed before the other was invoked.
    Realtime,
}

impl Edge {
    pub(super) fn bit(self) -> u8 {
        match self {
            Edge::Ww => 1,
            Edge::Wr => 2,
            Edge::Rw => 4,
            Edge::Process => 8,
            Edge::Realtime => 16,
        }
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Edge::Ww => "ww",
            Edge::Wr => "wr",
            Edge::Rw => "rw",
            Edge::Process => "process",
            Edge::Realtime => "realtime",
        }
    }
}

/// One step of a cycle: `from` must come before `to`, because of `edge` (on `key`, about
/// `element`, for the data edges).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// The earlier transaction (its index in the history given).
    pub from: usize,
    /// The later one.
    pub to: usize,
    /// Why.
    pub edge: Edge,
    /// The key, for a data edge.
    pub key: Option<Key>,
    /// The element the edge is about, for a data edge (`None` for a read of an empty list).
    pub element: Option<Element>,
}

/// What kind of anomaly (written by its name: `G-single`, `lost-update`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// A cycle of `ww` edges.
    G0,
    /// A read of an element a failed transaction appended.
    G1a,
    /// A read of a state another transaction was still building (not its last append).
    G1b,
    /// A cycle of `ww` and `wr` edges.
    G1c,
    /// A cycle with exactly one `rw` edge (read skew).
    GSingle,
    /// A cycle with several `rw` edges, none adjacent (long fork).
    GNonadjacent,
    /// A cycle with adjacent `rw` edges (write skew).
    G2Item,
    /// Two committed transactions read the same state of a key and both appended to it (P4).
    LostUpdate,
    /// A transaction that does not observe its own earlier reads and appends.
    Internal,
    /// A transaction that reads a key again and finds others' appends between what it read
    /// before and its own appends since (Berenson's P2, fuzzy read).
    NonRepeatableRead,
    /// A read in which an element appears twice.
    DuplicateElements,
    /// A read of an element no transaction appended.
    GarbageRead,
    /// Two reads of a key neither of which is a prefix of the other.
    IncompatibleOrder,
}

impl Serialize for Kind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Kind, D::Error> {
        let name = String::deserialize(d)?;
        Kind::ALL
            .iter()
            .copied()
            .find(|k| k.name() == name)
            .ok_or_else(|| serde::de::Error::custom(format!("'{name}' is not an anomaly kind")))
    }
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 13] = [
        Kind::G0,
        Kind::G1a,
        Kind::G1b,
        Kind::G1c,
        Kind::GSingle,
        Kind::GNonadjacent,
        Kind::G2Item,
        Kind::LostUpdate,
        Kind::Internal,
        Kind::NonRepeatableRead,
        Kind::DuplicateElements,
        Kind::GarbageRead,
        Kind::IncompatibleOrder,
    ];

    /// Adya's or Elle's name (`G-single`, `lost-update`).
    pub fn name(self) -> &'static str {
        match self {
            Kind::G0 => "G0",
            Kind::G1a => "G1a",
            Kind::G1b => "G1b",
            Kind::G1c => "G1c",
            Kind::GSingle => "G-single",
            Kind::GNonadjacent => "G-nonadjacent",
            Kind::G2Item => "G2-item",
            Kind::LostUpdate => "lost-update",
            Kind::Internal => "internal",
            Kind::NonRepeatableRead => "non-repeatable-read",
            Kind::DuplicateElements => "duplicate-elements",
            Kind::GarbageRead => "garbage-read",
            Kind::IncompatibleOrder => "incompatible-order",
        }
    }

    /// The weakest model this kind of anomaly rules out (and every stronger one with it);
    /// `order` is the extra edges its cycle needed.
    pub(super) fn weakest_ruled_out(self, order: Order) -> Model {
        let data = match self {
            Kind::G0
            | Kind::Internal
            | Kind::DuplicateElements
            | Kind::GarbageRead
            | Kind::IncompatibleOrder => Model::ReadUncommitted,
            Kind::G1a | Kind::G1b | Kind::G1c => Model::ReadCommitted,
            Kind::LostUpdate
            | Kind::NonRepeatableRead
            | Kind::GSingle
            | Kind::GNonadjacent
            | Kind::G2Item => Model::RepeatableRead,
        };
        match order {
            Order::Data => data,
            Order::Process => Model::StrongSessionSerializable,
            Order::Realtime => Model::StrictSerializable,
        }
    }

    /// Whether snapshot isolation allows it (it allows write skew, G2-item, alone).
    pub(super) fn allowed_by_snapshot_isolation(self) -> bool {
        self == Kind::G2Item
    }
}

/// Which order edges a cycle needed besides the data edges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    /// None.
    Data,
    /// Process order.
    Process,
    /// Real time (and maybe process order).
    Realtime,
}

/// One anomaly: its kind, the transactions in it, the cycle for the cycle kinds, and an
/// explanation a person can follow, transaction by transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anomaly {
    /// What kind.
    pub kind: Kind,
    /// The order edges its cycle needed (`Data` for every anomaly that is not a cycle).
    pub order: Order,
    /// Its name with the order suffix (`G-single-realtime`).
    pub name: String,
    /// The transactions involved (indexes in the history given).
    pub txns: Vec<usize>,
    /// The cycle, for G0, G1c, G-single, G-nonadjacent and G2-item.
    pub cycle: Vec<Step>,
    /// Why, in words.
    pub explanation: String,
}

/// What the checker found in a history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Transactions in the history.
    pub txns: usize,
    /// Every anomaly found: each cycle kind once per strongly connected component, the other
    /// kinds once per occurrence.
    pub anomalies: Vec<Anomaly>,
    /// The models the anomalies rule out, weakest first.
    pub ruled_out: Vec<Model>,
}

impl Check {
    /// Whether nothing was found.
    pub fn is_clean(&self) -> bool {
        self.anomalies.is_empty()
    }

    /// The names of the anomalies found, each once, sorted.
    pub fn names(&self) -> BTreeSet<String> {
        self.anomalies.iter().map(|a| a.name.clone()).collect()
    }
}
