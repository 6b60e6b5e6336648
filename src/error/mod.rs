//! The library's error type and its mapping to exit codes, with each module's own error enum in
//! a file of its own here (re-exported by its module), so that this stays a leaf every module
//! may import.
//!
//! Every error a user can cause (a wrong name, a lab that is not up, a malformed file, an unreachable
//! Docker Engine) is a [`Error`] variant whose message names the value and says what to do; those map to
//! exit code 2. Failures of a run (a cluster that never became ready, a Docker call that failed midway)
//! map to exit code 1. The mapping lives in one place: [`Error::exit_code`].

mod fault;
mod host;
mod image;
mod lab;
mod read;
mod scenario;

use std::path::PathBuf;
use std::time::Duration;

pub use fault::FaultError;
pub use host::HostError;
pub use image::ImageError;
pub use lab::LabError;
pub use read::{HistoryError, ReadError};
pub use scenario::ScenarioError;

/// Result alias used across the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in Perseus.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The system name is not one the lab knows.
    #[error("unknown system '{name}': choose one of {known}")]
    UnknownSystem {
        /// What the user typed.
        name: String,
        /// The known systems, comma-separated.
        known: String,
    },

    /// A definition names a system implementation Perseus does not have (`x-perseus.system`).
    #[error("no system implementation is called '{name}': use one of {known}")]
    NoImplementation {
        /// As written.
        name: String,
        /// The implementations, comma-separated.
        known: String,
    },

    /// A target names no node of the lab.
    #[error("unknown node '{node}' in lab {system}: its nodes are {nodes} (or use leader, follower, random)")]
    UnknownNode {
        /// What the user typed.
        node: String,
        /// The lab's system.
        system: String,
        /// The lab's nodes, comma-separated.
        nodes: String,
    },

    /// The command needs a lab of this system, and there is none.
    #[error("no {system} lab is up: run `perseus lab up {system}` first")]
    LabNotUp {
        /// The system the user named.
        system: String,
    },

    /// The system argument was omitted, and no lab is up to infer it from.
    #[error("no lab is up: run `perseus lab up <system>` first ({known})")]
    NoLabUp {
        /// The systems that could be brought up, comma-separated.
        known: String,
    },

    /// The system argument was omitted, and several labs are up.
    #[error("several labs are up ({labs}): name the system, e.g. `perseus lab status {first}`")]
    SeveralLabsUp {
        /// The systems whose labs are up, comma-separated.
        labs: String,
        /// One of them, for the example.
        first: String,
    },

    /// `lab up` for a system whose lab already exists.
    #[error("a {system} lab is already up ({containers} containers): use it, or run `perseus lab down {system}` first")]
    LabAlreadyUp {
        /// The system.
        system: String,
        /// How many labelled containers exist.
        containers: usize,
    },

    /// The Docker Engine cannot be reached.
    #[error("cannot reach the Docker Engine ({detail}): start the Docker daemon, or point DOCKER_HOST at a running one")]
    DockerUnreachable {
        /// What the client said.
        detail: String,
    },

    /// A definition or scenario file is malformed.
    #[error("{}:{line}:{column}: {message}", file.display())]
    Definition {
        /// The file.
        file: PathBuf,
        /// 1-based line (0 when unknown).
        line: usize,
        /// 1-based column (0 when unknown).
        column: usize,
        /// What is wrong and what to do.
        message: String,
    },

    /// A file the lab needs is not where it should be.
    #[error("cannot read {}: {source}; run perseus from a Perseus checkout or set PERSEUS_HOME to one", path.display())]
    MissingFile {
        /// The path tried.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },

    /// A command-line flag or argument the CLI refuses (`--repeat 0`, a demo whose times do not
    /// fit): the message names the value and the fix. Everything else a user can get wrong has
    /// a variant of its own, here or in its module's error enum.
    #[error("{0}")]
    Usage(String),

    /// An image the lab needs is absent and cannot be built or pulled here.
    #[error("image {image} is not available: {fix}")]
    ImageMissing {
        /// The image reference.
        image: String,
        /// How to get it.
        fix: String,
    },

    /// A node's server reports another version than the release its lab was brought up at
    /// (an image built from something else than its tag says).
    #[error("{node} of the {system} lab reports version '{reported}', but it was brought up at {asked}: rebuild its image (`perseus lab images {system}@{asked} --rebuild`)")]
    VersionMismatch {
        /// The system.
        system: String,
        /// The node.
        node: String,
        /// What its server says.
        reported: String,
        /// The release asked for.
        asked: String,
    },

    /// Building an image failed.
    #[error("building image {image} failed: {message}")]
    ImageBuild {
        /// The image tag.
        image: String,
        /// The builder's last message.
        message: String,
    },

    /// The cluster did not become ready within the bounded wait.
    #[error("the {system} lab was not ready after {}s: {detail}", waited.as_secs())]
    NotReady {
        /// The system.
        system: String,
        /// How long we waited.
        waited: Duration,
        /// What was still missing, with the last log lines of the nodes concerned.
        detail: String,
    },

    /// The cluster reports no leader right now (for a `leader`/`follower` target).
    #[error(
        "the {system} lab has no leader right now ({detail}); retry, or target a node by name"
    )]
    NoLeader {
        /// The system.
        system: String,
        /// What the nodes answered.
        detail: String,
    },

    /// `leader`, `follower` or a role's leader on a system without a leader.
    #[error("{system} has no {}leader: target a node by name (n1, n2, ...) or random", role.as_ref().map(|r| format!("{r} ")).unwrap_or_default())]
    Leaderless {
        /// The system.
        system: String,
        /// The role asked for (`pd`), if one was.
        role: Option<String>,
    },

    /// A role's leader the system does not have (`pd-leader` on etcd).
    #[error("{system} has no {role} leader: its leader targets are {targets}")]
    UnknownRole {
        /// The system.
        system: String,
        /// The role asked for.
        role: String,
        /// The leader targets it has, comma-separated.
        targets: String,
    },

    /// `follower` on a lab of one node.
    #[error("the {system} lab has no follower: it has one node")]
    NoFollower {
        /// The system.
        system: String,
    },

    /// The Docker Engine refused or failed a call.
    #[error("docker: {context}: {source}")]
    Docker {
        /// What we were doing.
        context: String,
        /// The client's error.
        source: bollard::errors::Error,
    },

    /// A fault needs something this machine's kernel lacks; nothing was changed.
    #[error("{fault} cannot be made here: {missing}")]
    KernelMissing {
        /// The fault (`delay`).
        fault: String,
        /// What is missing, as the probe said (`missing kernel module: sch_netem (...)`).
        missing: String,
    },

    /// A helper container (network faults) failed.
    #[error("network helper on {node} failed: {message}")]
    Helper {
        /// The node whose namespace the helper joined.
        node: String,
        /// What it printed.
        message: String,
    },

    /// Local I/O failed.
    #[error("{context}: {source}")]
    Io {
        /// What we were doing.
        context: String,
        /// The error.
        source: std::io::Error,
    },

    /// A file Perseus wrote does not read back ([`crate::report::ReadError`]).
    #[error(transparent)]
    Read(#[from] ReadError),

    /// A history file is not one ([`crate::history::HistoryError`]).
    #[error(transparent)]
    History(#[from] HistoryError),

    /// An image cannot be built as defined ([`crate::images::ImageError`]).
    #[error(transparent)]
    Image(#[from] ImageError),

    /// A scenario cannot be run as asked ([`crate::scenario::ScenarioError`]).
    #[error(transparent)]
    Scenario(#[from] ScenarioError),

    /// A lab cannot be made as asked ([`crate::lab::LabError`]).
    #[error(transparent)]
    Lab(#[from] LabError),

    /// A fault cannot be made as asked ([`crate::fault::FaultError`]).
    #[error(transparent)]
    Fault(#[from] FaultError),

    /// The Docker hosts of a lab across several are wrong ([`crate::lab::hosts::HostError`]).
    #[error(transparent)]
    Host(#[from] HostError),

    /// `lab down` (or a failed `lab up`'s undo) removed what it could within its bound, and some
    /// of the lab's objects are still there.
    #[error("the {system} lab is not wholly down: {left} could not be removed ({why}); run `perseus lab down {system}` again")]
    DownIncomplete {
        /// The lab's system.
        system: String,
        /// What is left (`container perseus-etcd-n1, volume perseus-etcd-n1-data`).
        left: String,
        /// The Engine's last refusal.
        why: String,
    },

    /// The run was interrupted (Ctrl-C) before it finished.
    #[error("interrupted")]
    Interrupted,

    /// A transactional workload on a system that has no transactions Perseus can run.
    #[error("{system} has no transactions to run the {workload} workload on: use --workload register, or a system with transactions ({with})")]
    NoTransactions {
        /// The lab's system.
        system: String,
        /// The workload asked for (`list-append`).
        workload: String,
        /// The systems that have them, comma-separated.
        with: String,
    },

    /// A transactional workload at an isolation level the system's client cannot ask for.
    #[error("{system}: {detail}")]
    Isolation {
        /// The lab's system.
        system: String,
        /// Why, and what to do.
        detail: String,
    },

    /// `--replica-reads` on a system whose definition names no port where a node serves reads
    /// from its own copy.
    #[error("{system} has no read port to send read-only transactions to: leave out --replica-reads, or name the port in its definition's x-perseus.read-port (as compose/patroni.yaml does)")]
    NoReplicaReads {
        /// The lab's system.
        system: String,
    },

    /// A transactional workload could not start (the bank's accounts could not be created).
    #[error("{0}")]
    Workload(String),
}

impl Error {
    /// The process exit code for this error: 2 for bad input, 1 for a failed run.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::UnknownSystem { .. }
            | Error::NoImplementation { .. }
            | Error::UnknownNode { .. }
            | Error::LabNotUp { .. }
            | Error::NoLabUp { .. }
            | Error::SeveralLabsUp { .. }
            | Error::LabAlreadyUp { .. }
            | Error::DockerUnreachable { .. }
            | Error::Definition { .. }
            | Error::MissingFile { .. }
            | Error::Usage(_)
            | Error::ImageMissing { .. }
            | Error::KernelMissing { .. }
            | Error::Leaderless { .. }
            | Error::UnknownRole { .. }
            | Error::NoFollower { .. }
            | Error::NoTransactions { .. }
            | Error::Isolation { .. }
            | Error::NoReplicaReads { .. }
            | Error::Host(_)
            | Error::Fault(_)
            | Error::Lab(_)
            | Error::Read(_)
            | Error::History(_)
            | Error::Image(_)
            | Error::Scenario(_) => 2,
            Error::ImageBuild { .. }
            | Error::VersionMismatch { .. }
            | Error::NotReady { .. }
            | Error::NoLeader { .. }
            | Error::Docker { .. }
            | Error::Helper { .. }
            | Error::Io { .. }
            | Error::Workload(_)
            | Error::DownIncomplete { .. }
            | Error::Interrupted => 1,
        }
    }

    /// Wrap a bollard error with what we were doing.
    pub fn docker(context: impl Into<String>) -> impl FnOnce(bollard::errors::Error) -> Error {
        let context = context.into();
        move |source| Error::Docker { context, source }
    }

    /// Wrap a failed blocking task (it panicked or was cancelled) as an I/O error about `context`.
    pub fn blocking(context: &str) -> impl FnOnce(tokio::task::JoinError) -> Error + '_ {
        move |e| Error::Io {
            context: context.to_string(),
            source: std::io::Error::other(e.to_string()),
        }
    }

    /// Wrap an I/O error with what we were doing.
    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    /// Each module's refusals keep their data and their source, and all map to exit code 2 in
    /// the one place that maps errors to codes.
    #[test]
    fn module_errors_keep_their_source_and_map_to_exit_code_2() {
        let tmp = tempfile::tempdir().unwrap();
        let not_a_run = crate::report::read_record(tmp.path()).unwrap_err();
        assert!(matches!(
            not_a_run,
            Error::Read(crate::report::ReadError::NotARunFolder { .. })
        ));
        let io = not_a_run
            .source()
            .and_then(|s| s.downcast_ref::<std::io::Error>())
            .expect("the io::Error is kept as the source");
        assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
        assert!(not_a_run.to_string().contains("is not a run folder"));
        // The command line prints the source after the message: the message does not repeat it.
        assert!(
            !not_a_run.to_string().contains(&io.to_string()),
            "{not_a_run}"
        );

        let host = "10.0.0.1"
            .parse::<crate::lab::hosts::HostSpec>()
            .unwrap_err();
        assert!(matches!(
            &host,
            Error::Host(crate::lab::hosts::HostError::NotAnEndpoint { host, .. }) if host == "10.0.0.1"
        ));

        let target = "n1,nodes".parse::<crate::fault::Target>().unwrap_err();
        assert!(matches!(
            &target,
            Error::Fault(crate::fault::FaultError::NotATarget { text }) if text == "n1,nodes"
        ));

        let home = crate::lab::Home::at(env!("CARGO_MANIFEST_DIR"));
        let nodes = home.definition("etcd", None).unwrap().nodes(0).unwrap_err();
        assert!(matches!(
            nodes,
            Error::Lab(crate::lab::LabError::NodesOutOfRange { nodes: 0, .. })
        ));

        let history = tmp.path().join("h.edn");
        std::fs::write(&history, "{:type :ok, :f :read}\n").unwrap();
        let bad = crate::history::read(&history).unwrap_err();
        assert!(matches!(
            bad,
            Error::History(crate::history::HistoryError::NotAnOperation { line: 1, .. })
        ));

        for e in [not_a_run, host, target, nodes, bad] {
            assert_eq!(e.exit_code(), 2, "{e}");
            assert!(!e.to_string().contains('\n'), "{e}");
        }
    }
}
