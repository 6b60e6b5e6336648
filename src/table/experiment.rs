//! The table's experiments (crashed leader, isolated leader, isolated follower; or a power loss of
//! every node), how their runs
//! are timed, and the scenario each run is.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::fault::{Direction, NodeFault, Target};
use crate::scenario::{Action, Aim, Aims, AnomalyBound, Expect, LoadSpec, Scenario, Step};
use crate::systems::Leadership;
use crate::workload::{Isolation, Workload};

/// How the table's runs are timed, and where they go.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TableOptions {
    /// Runs per experiment (at least 1).
    pub repeat: usize,
    /// Load before the fault.
    #[serde(with = "crate::units::duration")]
    pub before: Duration,
    /// From the fault to the restart or heal.
    #[serde(with = "crate::units::duration")]
    pub hold: Duration,
    /// Load after the restart or heal.
    #[serde(with = "crate::units::duration")]
    pub after: Duration,
    /// Where the table's folder goes (`runs/`).
    #[serde(skip, default)]
    pub runs_dir: PathBuf,
    /// The transactional workload each run runs beside the register loop (`register`: none).
    #[serde(default)]
    pub workload: Workload,
    /// Its isolation level (`None`: each system's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolation: Option<Isolation>,
    /// Whether its read-only transactions run at each node's read port.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub replica_reads: bool,
    /// Which experiments: the seeds' three, or a power loss of every node.
    #[serde(default)]
    pub faults: TableFaults,
    /// The live series of every run (`--metrics`), when served.
    #[serde(skip)]
    pub metrics: Option<crate::metrics::Metrics>,
    /// Each run's register loop open at this rate, all nodes (`None`: closed, or per node).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<crate::load::open::Rate>,
    /// Each run's register loop open at this rate per node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_per_node: Option<crate::load::open::Rate>,
    /// The open loop's bound on connections per node (`None`: the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_clients_per_node: Option<usize>,
}

/// `perseus table --fault`: which experiments each system gets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TableFaults {
    /// Crashed leader, isolated leader, isolated follower (the seeds' tables).
    #[default]
    Seeds,
    /// Every node's power cut at once ([`Experiment::PowerLoss`]), under the lazy file system.
    PowerLoss,
}

impl TableOptions {
    /// How long one run's measured load lasts.
    pub fn load(&self) -> Duration {
        self.before + self.hold + self.after
    }
}

/// The experiments of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Experiment {
    /// SIGKILL the leader; start it after `hold`.
    CrashedLeader,
    /// Isolate the leader; heal after `hold`.
    IsolatedLeader,
    /// Isolate a node that is not the leader; heal after `hold`.
    IsolatedFollower,
    /// Cut every node's power at once (under the lazy file system); start them after `hold`.
    PowerLoss,
}

impl Experiment {
    /// `crashed-leader`.
    pub fn name(self) -> &'static str {
        match self {
            Experiment::CrashedLeader => "crashed-leader",
            Experiment::IsolatedLeader => "isolated-leader",
            Experiment::IsolatedFollower => "isolated-follower",
            Experiment::PowerLoss => "power-loss",
        }
    }

    /// `crashed leader`: the column's heading.
    pub fn title(self) -> &'static str {
        match self {
            Experiment::CrashedLeader => "crashed leader",
            Experiment::IsolatedLeader => "isolated leader",
            Experiment::IsolatedFollower => "isolated follower",
            Experiment::PowerLoss => "power loss (all nodes)",
        }
    }

    /// The experiments a system gets: all three, or on a leaderless system the crash and the
    /// isolation of n1.
    pub fn for_system(leadership: Leadership) -> &'static [Experiment] {
        if leadership == Leadership::None {
            &[Experiment::CrashedLeader, Experiment::IsolatedLeader]
        } else {
            &[
                Experiment::CrashedLeader,
                Experiment::IsolatedLeader,
                Experiment::IsolatedFollower,
            ]
        }
    }

    /// The experiments a table with `faults` gives a system.
    pub fn for_table(leadership: Leadership, faults: TableFaults) -> &'static [Experiment] {
        match faults {
            TableFaults::Seeds => Experiment::for_system(leadership),
            TableFaults::PowerLoss => &[Experiment::PowerLoss],
        }
    }

    /// What the fault hits: the leader, a follower, or n1 on a leaderless system; every node
    /// for a power loss.
    pub fn target(self, leadership: Leadership) -> Target {
        match (self, leadership) {
            (Experiment::PowerLoss, _) => Target::All,
            (_, Leadership::None) => Target::Node("n1".into()),
            (Experiment::IsolatedFollower, Leadership::Leader { .. }) => Target::Follower,
            _ => Target::Leader,
        }
    }
}

/// The scenario of one experiment: the fault at `before`, the restart or heal `hold` later, then
/// `after` more load. The table's runs and `perseus demo` are this scenario.
pub fn scenario(
    system: &crate::lab::SystemRef,
    leadership: Leadership,
    exp: Experiment,
    before: Duration,
    hold: Duration,
    after: Duration,
) -> Scenario {
    let target = exp.target(leadership);
    let aim = Aims::One(Aim::Target(target.clone()));
    let (fault, restore, names) = match exp {
        Experiment::CrashedLeader => (
            Action::Node {
                fault: NodeFault::Kill,
                target: aim,
            },
            Action::Node {
                fault: NodeFault::Start,
                target: Aims::One(Aim::Step("crash".into())),
            },
            ("crash", "restart"),
        ),
        Experiment::IsolatedLeader | Experiment::IsolatedFollower => (
            Action::Isolate {
                target: aim,
                direction: Direction::Both,
            },
            Action::Heal,
            ("cut", "mend"),
        ),
        Experiment::PowerLoss => (
            Action::Node {
                fault: NodeFault::PowerLoss,
                target: aim,
            },
            Action::Node {
                fault: NodeFault::Start,
                target: Aims::One(Aim::Step("outage".into())),
            },
            ("outage", "back"),
        ),
    };
    Scenario {
        hosts: Vec::new(),
        name: format!(
            "{}-table-{}",
            system.to_string().replace('@', "-"),
            exp.name()
        ),
        description: Some(format!(
            "perseus table: {} {target} at {}, {} it after {}",
            fault.kind(),
            crate::units::show(before),
            restore.kind(),
            crate::units::show(hold)
        )),
        system: system.clone(),
        nodes: 3,
        seed: None,
        load: LoadSpec {
            duration: before + hold + after,
            clients_per_node: 1,
            op_timeout: Duration::from_secs(1),
            rate: None,
            rate_per_node: None,
            max_clients_per_node: crate::load::open::DEFAULT_MAX_CLIENTS_PER_NODE,
            warmup: Duration::from_secs(60),
            workload: crate::workload::Workload::Register,
            isolation: None,
            replica_reads: false,
            txn_clients_per_node: 3,
        },
        steps: vec![
            Step::once(Some(names.0), before, fault),
            Step::once(Some(names.1), before + hold, restore),
        ],
        expect: vec![
            Expect::LostWrites(0),
            Expect::Anomalies(AnomalyBound::Total(0)),
        ],
    }
}
