//! What a run found: the record behind `summary.json`, `report.md`, `plot.svg` and JUnit. These are
//! the report's own input types: the scenario runner fills them in (a [`RunRecord`] is also a
//! [`super::Sink`] of the run's events), and everything the report renders comes from them.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::load::measure::Window;
use crate::load::serving::Serving;
use crate::load::summary::Summary;
use crate::node::NodeName;
use crate::workload::{Isolation, TxnSummary, Workload};

/// What was run, as the report names it: the scenario's name and description, the system, the
/// node count and the load's settings (`summary.json`'s `scenario`; the whole scenario is in the
/// run folder's `scenario.yaml`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case")]
pub struct Plan {
    /// The scenario's name (`etcd-kill-leader`).
    pub name: String,
    /// What the experiment shows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The system (`etcd`).
    pub system: String,
    /// How many nodes.
    pub nodes: usize,
    /// The load's settings.
    pub load: PlanLoad,
    /// The seed the run's random choices came from (`perseus run --seed` repeats them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

/// The load's settings as run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case")]
pub struct PlanLoad {
    /// How long the measured load ran (at most).
    #[serde(with = "crate::units::duration")]
    pub duration: Duration,
    /// Connections per node.
    pub clients_per_node: usize,
    /// Deadline of each connect, read and write.
    #[serde(with = "crate::units::duration")]
    pub op_timeout: Duration,
    /// The open loop's rate per node, operations per second (`None`: the closed loop).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_per_node: Option<f64>,
    /// The open loop's bound on connections per node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_clients_per_node: Option<usize>,
    /// The warm-up's bound.
    #[serde(with = "crate::units::duration")]
    pub warmup: Duration,
    /// The transactional workload beside the register loop (`register`: none).
    #[serde(default)]
    pub workload: Workload,
    /// Its isolation level (`None`: the system's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolation: Option<Isolation>,
    /// Whether its read-only transactions ran at each node's read port.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub replica_reads: bool,
}

impl PlanLoad {
    /// How the loop ran: `1 connection(s) per node`, or `an open loop at 300/s per node (up to
    /// 256 connections each)`.
    pub fn clients(&self) -> String {
        match self.rate_per_node {
            Some(r) => format!(
                "an open loop at {r}/s per node (up to {} connections each)",
                self.max_clients_per_node.unwrap_or_default()
            ),
            None => format!("{} connection(s) per node", self.clients_per_node),
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Every expectation held.
    Passed,
    /// The run completed and an expectation did not hold.
    Failed,
    /// Something failed midway (a step, the warm-up); the report is partial.
    Error,
    /// Ctrl-C; the report is partial.
    Interrupted,
}

impl Outcome {
    /// `passed`, `FAILED`, ...: the word reports use.
    pub fn word(self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Failed => "FAILED",
            Outcome::Error => "ERROR",
            Outcome::Interrupted => "INTERRUPTED",
        }
    }
}

/// Everything a run found: the content of `summary.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRecord {
    /// What was run.
    pub scenario: Plan,
    /// The run folder's name (`20261121-101502-etcd-kill-leader`).
    pub run: String,
    /// Wall-clock start of the measured load (RFC 3339, ms).
    pub started: String,
    /// Node names in column order.
    pub nodes: Vec<NodeName>,
    /// How it ended.
    pub outcome: Outcome,
    /// What went wrong, for `error` (and `interrupted`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The release the lab ran (`3.5.1`), when its definition lists releases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    /// What each node's server said its version was as the load began (`n1` → `3.5.1`).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub versions: std::collections::BTreeMap<String, String>,
    /// The leader when the measured load began (`None`: leaderless, or none answered).
    pub leader_before: Option<NodeName>,
    /// The leader when it ended, before anything was restored.
    pub leader_after: Option<NodeName>,
    /// The steps as they fired.
    pub steps: Vec<FiredStep>,
    /// What each fired step did.
    pub effects: Vec<StepEffect>,
    /// One per expectation.
    pub verdicts: Vec<Verdict>,
    /// What was undone at the end (faults still in force).
    pub restored: Vec<String>,
    /// Why the lab was not ready again after the faults were undone, when it was not (the
    /// final reads were made anyway; keys they could not read are unverified).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_ready: Option<String>,
    /// The promotions the system itself logged during the measured load (Patroni, Sentinel),
    /// beside the windows the loop measured; empty for a system that logs none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub promotions: Vec<PromotionSeen>,
    /// The load's summary (`None` when the measured load never ran).
    pub load: Option<Summary>,
    /// The transactional workload's summary with its fault windows, when the scenario ran one
    /// (docs/workloads.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transactions: Option<TxnSummary>,
    /// The Docker Engine calls the run had to try again because the Engine did not answer, one
    /// line each as it was said (when it stopped answering, when it answered again, or when the
    /// run gave up on it: [`crate::docker::patiently`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub engine_retries: Vec<String>,
}

/// A promotion the system logged: when, on the run's clock, which node became the primary, and
/// in whose words.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PromotionSeen {
    /// Seconds since the measured load began.
    pub t_s: f64,
    /// Wall-clock time (RFC 3339, ms), as the Docker Engine stamped the line.
    pub at: String,
    /// The node that became the primary.
    pub node: NodeName,
    /// Who said so (`Patroni`, `Sentinel`).
    pub source: String,
    /// What it logged, from its marker on.
    pub line: String,
}

impl RunRecord {
    /// The record of a run that has just begun: nothing measured yet, outcome `error` until the
    /// run says otherwise.
    pub fn new(scenario: Plan, run: String, nodes: Vec<NodeName>) -> RunRecord {
        RunRecord {
            scenario,
            run,
            started: String::new(),
            nodes,
            outcome: Outcome::Error,
            error: None,
            release: None,
            versions: Default::default(),
            leader_before: None,
            leader_after: None,
            steps: Vec::new(),
            effects: Vec::new(),
            verdicts: Vec::new(),
            restored: Vec::new(),
            not_ready: None,
            promotions: Vec::new(),
            load: None,
            transactions: None,
            engine_retries: Vec::new(),
        }
    }

    /// The latest `late_ms` of any step.
    pub fn max_late_ms(&self) -> f64 {
        self.steps.iter().map(|s| s.late_ms).fold(0.0, f64::max)
    }
}

fn is_zero(x: &u32) -> bool {
    *x == 0
}

/// One step as it fired (a line of `events.jsonl`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FiredStep {
    /// Its index in the scenario.
    pub index: usize,
    /// Its name, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The fault (`kill`).
    pub fault: String,
    /// The aim as written (`leader`, `crash`, `n1 | n2,n3`), empty for heal.
    pub aim: String,
    /// The nodes it acted on, resolved when it fired.
    pub nodes: Vec<NodeName>,
    /// Which firing of a repeating step (`every:`) this is: 0 for the first.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub repeat: u32,
    /// When it was due (seconds since the load began).
    pub scheduled_s: f64,
    /// When it fired: its target resolution began (seconds since the load began).
    pub fired_s: f64,
    /// When the fault was in force: the Docker calls had returned (seconds).
    pub applied_s: f64,
    /// `fired_s - scheduled_s`, in milliseconds.
    pub late_ms: f64,
    /// Wall-clock time it fired (RFC 3339, ms).
    pub at: String,
    /// What was done.
    pub detail: String,
}

impl FiredStep {
    /// The line people see as it fires: `# 10.001 s kill n2 (leader) (+0.6 ms, in force at
    /// 10.227 s): n2: SIGKILL perseus-etcd-n2`.
    pub fn line(&self) -> String {
        format!(
            "# {:.3} s {} (+{:.1} ms, in force at {:.3} s): {}",
            self.fired_s,
            self.label(),
            self.late_ms,
            self.applied_s,
            self.detail
        )
    }

    /// `kill n2 (leader)`, `start n2`, `heal`.
    pub fn label(&self) -> String {
        let nodes = self.nodes.join(",");
        if self.fault == "heal" || self.fault == "partition" {
            return if self.aim.is_empty() {
                self.fault.clone()
            } else {
                format!("{} {}", self.fault, self.aim)
            };
        }
        if self.aim.is_empty() || self.aim == nodes {
            format!("{} {nodes}", self.fault)
        } else {
            format!("{} {nodes} ({})", self.fault, self.aim)
        }
    }
}

/// One node's window.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NodeWindow {
    /// The node.
    pub node: NodeName,
    /// Its longest span without a success in the step's interval.
    pub window: Window,
}

/// How long a node took to serve again after a step that brought it back.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Recovery {
    /// The node.
    pub node: NodeName,
    /// Seconds from the step firing to the node's first success after it; `None`: it never did.
    pub after_s: Option<f64>,
}

/// What one step did.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StepEffect {
    /// The step's index.
    pub index: usize,
    /// `kill n2 (leader)`.
    pub label: String,
    /// When it fired (seconds since the load began).
    pub fired_s: f64,
    /// The cluster-wide unavailability window it caused.
    pub cluster: Window,
    /// Per node, in node order.
    pub nodes: Vec<NodeWindow>,
    /// For start, resume, connect and heal: per node brought back, the time to its first success.
    pub recovery: Vec<Recovery>,
    /// Who served from this step to the next (or to the end of the load), in 100 ms slices: the
    /// 2018 summary's downtime, partial downtime and times until steady service
    /// ([`crate::load::serving`]). `None` in a run folder written before they were measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serving: Option<Serving>,
}

/// One expectation's outcome.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Verdict {
    /// The expectation, in words (also the JUnit test case's name).
    pub expectation: String,
    /// Whether it held.
    pub passed: bool,
    /// What was measured.
    pub measured: String,
}

/// `(sec, per-node counts)`: one line of `metrics.tsv` without its total.
pub type MetricRow = (u64, Vec<u64>);

/// Records for the report's tests.
#[cfg(test)]
pub(super) mod fixture {
    use super::*;
    use crate::load::measure::Window;
    use crate::load::serving::Serving;
    use std::time::Duration;

    /// A failed run of two steps, with windows, verdicts and a promotion.
    pub fn record(outcome: Outcome) -> RunRecord {
        let scenario = Plan {
            name: "t".into(),
            description: None,
            system: "etcd".into(),
            nodes: 3,
            load: PlanLoad {
                duration: Duration::from_secs(20),
                clients_per_node: 1,
                op_timeout: Duration::from_secs(1),
                rate_per_node: None,
                max_clients_per_node: None,
                warmup: Duration::from_secs(30),
                workload: Default::default(),
                isolation: None,
                replica_reads: false,
            },
            seed: None,
        };
        let w = |a: f64, b: f64| Window {
            start_s: a,
            end_s: b,
            length_s: b - a,
            open: false,
        };
        let step = |i: usize, fault: &str, aim: &str, at: f64| FiredStep {
            index: i,
            name: None,
            fault: fault.into(),
            aim: aim.into(),
            nodes: vec!["n2".into()],
            repeat: 0,
            scheduled_s: at,
            fired_s: at + 0.003,
            applied_s: at + 0.02,
            late_ms: 3.0,
            at: String::new(),
            detail: String::new(),
        };
        RunRecord {
            scenario,
            run: "20261121-101502-t".into(),
            started: "2026-11-21T10:15:07.000Z".into(),
            nodes: vec!["n1".into(), "n2".into(), "n3".into()],
            outcome,
            error: None,
            release: None,
            versions: Default::default(),
            leader_before: Some("n2".into()),
            leader_after: Some("n1".into()),
            steps: vec![
                step(0, "kill", "leader", 5.0),
                step(1, "start", "crash", 12.0),
            ],
            effects: vec![
                StepEffect {
                    index: 0,
                    label: "kill n2 (leader)".into(),
                    fired_s: 5.003,
                    cluster: w(4.99, 6.31),
                    nodes: ["n1", "n2", "n3"]
                        .iter()
                        .map(|n| NodeWindow {
                            node: (*n).into(),
                            window: w(4.99, 6.4),
                        })
                        .collect(),
                    recovery: vec![],
                    serving: Some(Serving {
                        span_s: 7.0,
                        none_s: 1.3,
                        minority_s: 0.0,
                        majority_steady_s: Some(1.4),
                        all_steady_s: None,
                    }),
                },
                StepEffect {
                    index: 1,
                    label: "start n2".into(),
                    fired_s: 12.003,
                    cluster: w(12.0, 12.01),
                    nodes: ["n1", "n2", "n3"]
                        .iter()
                        .map(|n| NodeWindow {
                            node: (*n).into(),
                            window: w(12.0, 12.01),
                        })
                        .collect(),
                    recovery: vec![Recovery {
                        node: "n2".into(),
                        after_s: Some(1.25),
                    }],
                    serving: None,
                },
            ],
            verdicts: vec![
                Verdict {
                    expectation: "cluster unavailability window after crash is at most 1s".into(),
                    passed: false,
                    measured: "cluster: 1.32 s (from 4.99 s to 6.31 s)".into(),
                },
                Verdict {
                    expectation: "at most 0 lost writes".into(),
                    passed: true,
                    measured: "0 lost writes".into(),
                },
            ],
            restored: vec![],
            not_ready: None,
            promotions: vec![],
            load: None,
            transactions: None,
            engine_retries: Vec::new(),
        }
    }

    /// Patroni's promotion of n1, 6 s into the run.
    pub fn promotion() -> PromotionSeen {
        PromotionSeen {
            t_s: 6.0,
            at: "2026-11-21T10:15:08.000Z".into(),
            node: "n1".into(),
            source: "Patroni".into(),
            line: "promoted self to leader by acquiring session lock".into(),
        }
    }
}
