//! The one stream a scenario run tells as it goes: [`Event`]s, from the runner to every [`Sink`]
//! (the terminal view, the run folder's `events.jsonl` and `metrics.tsv`, the run record). The
//! runner emits each happening once; each sink keeps what it is for.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::SystemTime;

use serde::Serialize;

use super::record::{FiredStep, PromotionSeen, RunRecord};
use crate::load::Second;
use crate::node::NodeName;

/// Something a run tells, in the order it happened.
#[derive(Debug, Clone)]
pub enum Event {
    /// A line for people only (the progress of `lab up`, the load's summary, verdicts); it is not
    /// part of the timeline.
    Say(String),
    /// One second of the measured load: the seeds' TSV line.
    Second(Second),
    /// An entry of the run's timeline: one line of `events.jsonl`.
    Entry(Entry),
}

/// One line of `events.jsonl`: when, what, and (once the measured load has begun) when on the
/// load's clock. Written with a `detail` beside the entry's own fields: [`What::detail`], the line
/// people read.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Wall-clock time (written RFC 3339, ms).
    pub at: SystemTime,
    /// What happened (`kind` in the file, with its fields).
    pub what: What,
    /// Seconds since the measured load began, when it had.
    pub t_s: Option<f64>,
}

impl Serialize for Entry {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Line<'a> {
            at: String,
            #[serde(flatten)]
            what: &'a What,
            detail: String,
            #[serde(skip_serializing_if = "Option::is_none")]
            t_s: Option<f64>,
        }
        Line {
            at: humantime::format_rfc3339_millis(self.at).to_string(),
            what: &self.what,
            detail: self.what.detail(),
            t_s: self.t_s,
        }
        .serialize(s)
    }
}

/// A node and its address on the lab network, as a lab-up entry lists them.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NodeAddress {
    /// `n1`.
    pub node: NodeName,
    /// Its fixed address.
    pub ip: IpAddr,
}

/// The totals of a measured load, as its end entry gives them.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Totals {
    /// Iterations that succeeded.
    pub iterations: u64,
    /// Iterations that failed.
    pub errors: u64,
    /// Acknowledged increments the loop saw gone.
    pub lost_writes: u64,
    /// Writes whose outcome the loop could not know.
    pub ambiguous_writes: u64,
}

/// What [`crate::lab::LabHandle::down`] removed, as the lab-down entry gives it.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Removed {
    /// Containers.
    pub containers: usize,
    /// Networks.
    pub networks: usize,
    /// Volumes.
    pub volumes: usize,
}

/// What a timeline entry records, as data; [`What::detail`] renders it for people. In
/// `events.jsonl` the variant is the `kind` field (`lab-up`, `step`, ...).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum What {
    /// The run brought its lab up.
    LabUp {
        /// The system.
        system: String,
        /// How long `lab up` took, in seconds.
        took_s: f64,
        /// Its nodes.
        nodes: Vec<NodeAddress>,
    },
    /// The run uses a lab that was up already.
    LabReused {
        /// The system.
        system: String,
        /// Its nodes.
        nodes: Vec<NodeAddress>,
    },
    /// The warm-up ended: every node served in one second, or why not.
    Warmup {
        /// Seconds until every node had served in one second (`None`: it did not happen).
        served_after_s: Option<f64>,
        /// Why not, when it did not.
        #[serde(skip_serializing_if = "Option::is_none")]
        failure: Option<String>,
    },
    /// The measured load began.
    LoadStart {
        /// The run id (the history's and the keys').
        run: String,
        /// Connections per node (the closed loop's).
        clients_per_node: usize,
        /// The open loop's rate per node, operations per second (`None`: the closed loop).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rate_per_node: Option<f64>,
        /// How long the load runs, in seconds.
        duration_s: f64,
        /// The node columns of its seconds, in order.
        nodes: Vec<NodeName>,
        /// The leader when it began (`None`: leaderless, or none answered).
        leader: Option<NodeName>,
        /// The release the lab runs (`3.5.1`), when its definition lists releases.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        release: Option<String>,
        /// What each node's server reported about its version as the load began
        /// ([`crate::systems::System::server_version`]), for the nodes that said.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        versions: BTreeMap<String, String>,
    },
    /// A step fired.
    Step {
        /// The step as it fired.
        step: FiredStep,
    },
    /// A step failed: the run stops.
    StepFailed {
        /// Its index in the scenario.
        index: usize,
        /// The step as written (`kill leader`).
        step: String,
        /// When it fired (seconds since the load began).
        fired_s: f64,
        /// Why it failed.
        error: String,
    },
    /// The measured load ended at its time.
    LoadEnd {
        /// Its totals.
        totals: Totals,
        /// The leader then, before anything was restored.
        leader: Option<NodeName>,
    },
    /// The measured load was cut short by Ctrl-C.
    Interrupted {
        /// Its totals.
        totals: Totals,
        /// The leader then, before anything was restored.
        leader: Option<NodeName>,
    },
    /// The system logged that a node became its primary (read after the load ended).
    Promotion {
        /// The promotion.
        promotion: PromotionSeen,
    },
    /// Faults still in force were undone.
    Restore {
        /// One line per thing undone (empty when nothing was).
        done: Vec<String>,
    },
    /// Undoing the faults still in force failed: the lab may be left faulted.
    RestoreFailed {
        /// The failure.
        error: String,
    },
    /// The run took its lab down.
    LabDown {
        /// The system.
        system: String,
        /// What was removed.
        removed: Removed,
    },
}

impl What {
    /// The entry for people: `lab etcd up in 1.4 s (n1 10.77.0.11, ...)`, `kill n2 (leader)`,
    /// `no fault was in force`.
    pub fn detail(&self) -> String {
        let addresses = |nodes: &[NodeAddress]| {
            nodes
                .iter()
                .map(|n| format!("{} {}", n.node, n.ip))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let totals = |t: &Totals| {
            format!(
                "{} iterations, {} errors, {} lost writes, {} ambiguous writes",
                t.iterations, t.errors, t.lost_writes, t.ambiguous_writes
            )
        };
        match self {
            What::LabUp {
                system,
                took_s,
                nodes,
            } => format!("lab {system} up in {took_s:.1} s ({})", addresses(nodes)),
            What::LabReused { system, nodes } => {
                format!("reusing the running {system} lab ({})", addresses(nodes))
            }
            What::Warmup {
                served_after_s,
                failure,
            } => match (served_after_s, failure) {
                (Some(s), _) => format!("every node served within {s:.1} s"),
                (None, Some(why)) => why.clone(),
                (None, None) => "the warm-up did not end".into(),
            },
            What::LoadStart {
                run,
                clients_per_node,
                rate_per_node,
                duration_s,
                leader,
                ..
            } => format!(
                "run {run}: {} for {}; leader {}",
                match rate_per_node {
                    Some(r) => format!("an open loop at {r}/s per node"),
                    None => format!("{clients_per_node} connection(s) per node"),
                },
                crate::units::show(std::time::Duration::from_secs_f64(*duration_s)),
                leader.as_deref().unwrap_or("none")
            ),
            What::Step { step } => step.label(),
            What::StepFailed {
                index,
                step,
                fired_s,
                error,
            } => format!("step {index} ({step}) at {fired_s:.3} s failed: {error}"),
            What::LoadEnd { totals: t, .. } | What::Interrupted { totals: t, .. } => totals(t),
            What::Promotion { promotion: p } => format!(
                "{:.3} s {} promoted ({} logged: {})",
                p.t_s, p.node, p.source, p.line
            ),
            What::Restore { done } if done.is_empty() => "no fault was in force".into(),
            What::Restore { done } => done.join("; "),
            What::RestoreFailed { error } => format!("restoring the lab failed: {error}"),
            What::LabDown { system, removed: r } => format!(
                "lab {system} down: removed {} containers, {} networks, {} volumes",
                r.containers, r.networks, r.volumes
            ),
        }
    }
}

impl Entry {
    /// An entry stamped now.
    pub fn now(what: What, t_s: Option<f64>) -> Entry {
        Entry {
            at: SystemTime::now(),
            what,
            t_s,
        }
    }
}

/// Where a run's events go. A sink keeps what it is for and ignores the rest; one that can fail
/// (a file) keeps its first error and reports it when it is finished, so nothing is swallowed.
pub trait Sink {
    /// Take one event.
    fn event(&mut self, event: &Event);
}

/// Every event to each of several sinks, in order.
pub struct Fanout<'a>(pub Vec<&'a mut dyn Sink>);

impl Sink for Fanout<'_> {
    fn event(&mut self, event: &Event) {
        for s in self.0.iter_mut() {
            s.event(event);
        }
    }
}

/// The record keeps the timeline's facts: when the load began and the leaders around it, the
/// steps as they fired, and what was restored.
impl Sink for RunRecord {
    fn event(&mut self, event: &Event) {
        let Event::Entry(entry) = event else {
            return;
        };
        match &entry.what {
            What::LoadStart {
                nodes,
                leader,
                release,
                versions,
                ..
            } => {
                self.started = humantime::format_rfc3339_millis(entry.at).to_string();
                self.nodes = nodes.clone();
                self.leader_before = leader.clone();
                self.release = release.clone();
                self.versions = versions.clone();
            }
            What::Step { step, .. } => self.steps.push(step.clone()),
            What::LoadEnd { leader, .. } | What::Interrupted { leader, .. } => {
                self.leader_after = leader.clone();
            }
            What::Promotion { promotion, .. } => self.promotions.push(promotion.clone()),
            What::Restore { done } => self.restored = done.clone(),
            failed @ What::RestoreFailed { .. } => self.restored = vec![failed.detail()],
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_the_events_jsonl_lines_with_a_detail_rendered_from_their_data() {
        let at = humantime::parse_rfc3339("2026-11-21T10:15:07Z").unwrap();
        let e = Entry {
            at,
            what: What::Restore {
                done: vec!["resume n2: thawed perseus-etcd-n2".into()],
            },
            t_s: None,
        };
        let v: serde_json::Value = serde_json::to_value(&e).unwrap();
        assert_eq!(v["kind"], "restore");
        assert_eq!(v["detail"], "resume n2: thawed perseus-etcd-n2");
        assert_eq!(v["done"][0], "resume n2: thawed perseus-etcd-n2");
        assert_eq!(v["at"], "2026-11-21T10:15:07.000Z");
        assert!(v.get("t_s").is_none());

        let up = Entry {
            at,
            what: What::LabUp {
                system: "etcd".into(),
                took_s: 1.44,
                nodes: vec![
                    NodeAddress {
                        node: "n1".into(),
                        ip: "10.77.0.11".parse().unwrap(),
                    },
                    NodeAddress {
                        node: "n2".into(),
                        ip: "10.77.0.12".parse().unwrap(),
                    },
                ],
            },
            t_s: None,
        };
        let v: serde_json::Value = serde_json::to_value(&up).unwrap();
        assert_eq!(v["kind"], "lab-up");
        assert_eq!(
            v["detail"],
            "lab etcd up in 1.4 s (n1 10.77.0.11, n2 10.77.0.12)"
        );
        assert_eq!(v["nodes"][1]["ip"], "10.77.0.12");
        assert_eq!(v["took_s"], 1.44);

        let end = What::LoadEnd {
            totals: Totals {
                iterations: 900,
                errors: 3,
                lost_writes: 0,
                ambiguous_writes: 1,
            },
            leader: Some("n2".into()),
        };
        assert_eq!(
            end.detail(),
            "900 iterations, 3 errors, 0 lost writes, 1 ambiguous writes"
        );
        let start = What::LoadStart {
            run: "r1".into(),
            clients_per_node: 2,
            rate_per_node: None,
            duration_s: 30.0,
            nodes: vec!["n1".into()],
            leader: None,
            release: None,
            versions: BTreeMap::new(),
        };
        assert_eq!(
            start.detail(),
            "run r1: 2 connection(s) per node for 30s; leader none"
        );
        let open = What::LoadStart {
            run: "r1".into(),
            clients_per_node: 1,
            rate_per_node: Some(300.0),
            duration_s: 30.0,
            nodes: vec!["n1".into()],
            leader: Some("n1".into()),
            release: None,
            versions: BTreeMap::new(),
        };
        assert_eq!(
            open.detail(),
            "run r1: an open loop at 300/s per node for 30s; leader n1"
        );
        let plan = crate::report::PlanLoad {
            duration: std::time::Duration::from_secs(30),
            clients_per_node: 1,
            op_timeout: std::time::Duration::from_secs(1),
            rate_per_node: Some(300.0),
            max_clients_per_node: Some(256),
            warmup: std::time::Duration::from_secs(30),
            workload: Default::default(),
            isolation: None,
            replica_reads: false,
        };
        assert_eq!(
            plan.clients(),
            "an open loop at 300/s per node (up to 256 connections each)"
        );
        let failed = What::StepFailed {
            index: 1,
            step: "kill leader".into(),
            fired_s: 10.0005,
            error: "no leader".into(),
        };
        assert_eq!(
            failed.detail(),
            "step 1 (kill leader) at 10.001 s failed: no leader"
        );
        let mut record = RunRecord::new(
            super::super::record::fixture::record(crate::report::Outcome::Passed).scenario,
            "f".into(),
            vec![],
        );
        record.event(&Event::Entry(Entry::now(
            What::RestoreFailed {
                error: "docker: gone".into(),
            },
            None,
        )));
        assert_eq!(record.restored, ["restoring the lab failed: docker: gone"]);
    }
}
