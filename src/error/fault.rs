//! A fault that cannot be made as asked: [`FaultError`] (re-exported as
//! `perseus::fault::FaultError`).

/// A fault that cannot be made as asked: each is the user's request, so each maps to exit code 2
/// ([`super::Error::exit_code`]).
#[derive(Debug, thiserror::Error)]
pub enum FaultError {
    /// A corruption of a node that runs.
    #[error("corrupt works on a node that is down, and {node} runs: kill, stop or power-loss it first, then start it to see what the database makes of its files")]
    CorruptRunning {
        /// The node.
        node: String,
    },
    /// A corruption whose glob names no file.
    #[error("no file under {dir} of {node} matches '{glob}' (nothing changed): give a glob relative to {dir}, such as '**/*.log'; it holds {some}")]
    NoFileMatches {
        /// The glob.
        glob: String,
        /// The node.
        node: String,
        /// The data directory.
        dir: String,
        /// Some of the files it holds.
        some: String,
    },
    /// A power loss on a node that does not run under the lazy file system.
    #[error("node {node} of {system} does not run under the lazy file system, so a power loss cannot drop what it did not fsync: bring the lab up with `perseus lab up {system} --lazyfs` (a scenario with a power-loss step does so itself)")]
    NotLazy {
        /// The node.
        node: String,
        /// The system.
        system: String,
    },
    /// Not a node, a role or `random`.
    #[error("'{text}' is not a target: use a node name (n1, n2, ...), several (n1,n2), leader, follower, random, all, or a role's leader such as pd-leader")]
    NotATarget {
        /// As written.
        text: String,
    },
    /// Not `in`, `out` or `both`.
    #[error("'{text}' is not a direction: use in (the node hears nothing from its peers), out (they hear nothing from it) or both")]
    NotADirection {
        /// As written.
        text: String,
    },
    /// Not one of Jepsen's partition shapes.
    #[error("'{text}' is not a partition shape: use halves, ring (majorities ring, 5 nodes or more), bridge or leader")]
    NotAShape {
        /// As written.
        text: String,
    },
    /// An aimed fault with no node to act on.
    #[error("{fault} needs a node to act on: give a target (n1, leader, follower, random)")]
    NoNode {
        /// The fault (`kill`).
        fault: String,
    },
    /// A node in two partition groups.
    #[error("node {node} is in two partition groups: name each node once")]
    NodeTwice {
        /// The node.
        node: String,
    },
    /// A partition whose groups leave one group.
    #[error("a partition needs at least two groups, e.g. `n1 n2,n3`")]
    OneGroup,
    /// A shape that needs more nodes than the lab has.
    #[error("a {shape} partition needs at least {need} nodes and the lab has {have}{}", if shape == "ring" { ": with fewer, some node's majority holds another's whole view; use halves or bridge, or `lab up --nodes 5`" } else { "" })]
    TooFewNodes {
        /// The shape (`ring`).
        shape: String,
        /// How many it needs.
        need: usize,
        /// How many the lab has.
        have: usize,
    },
    /// The leader shape on a system without a leader.
    #[error(
        "{system} has no leader, so a leader partition cannot be drawn: use halves, ring or bridge"
    )]
    Leaderless {
        /// The system.
        system: String,
    },
    /// The leader shape while no leader answers.
    #[error("a leader partition needs a leader, and none answers now")]
    NoLeaderNow,
}
