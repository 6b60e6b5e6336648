//! The one stream a scenario run tells as it goes: [`Event`]s, from the runner to every [`Sink`]
//! (the terminal view, the run folder's `events.jsonl` and `metrics.tsv`, the run record). The
//! runner emits each happening once; each sink keeps what it is for.

use serde::{Deserialize, Serialize};

use super::record::{FiredStep, PromotionSeen, RunRecord};
use crate::load::Second;

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
/// load's clock.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    /// Wall-clock time (RFC 3339, ms).
    pub at: String,
    /// What happened (`kind` in the file, with its fields).
    #[serde(flatten)]
    pub what: What,
    /// Seconds since the measured load began, when it had.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub t_s: Option<f64>,
}

/// What a timeline entry records. In `events.jsonl` the variant is the `kind` field
/// (`lab-up`, `step`, ...), and every entry has a `detail` for people.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum What {
    /// The run brought its lab up.
    LabUp {
        /// `lab etcd up in 1.4 s: n1 10.77.0.11, ...`.
        detail: String,
    },
    /// The run uses a lab that was up already.
    LabReused {
        /// Which lab, and its nodes.
        detail: String,
    },
    /// The warm-up ended: every node served in one second, or why not.
    Warmup {
        /// What happened.
        detail: String,
    },
    /// The measured load began.
    LoadStart {
        /// The run id, connections and leader, for people.
        detail: String,
        /// The node columns of its seconds, in order.
        nodes: Vec<String>,
        /// The leader when it began (`None`: leaderless, or none answered).
        leader: Option<String>,
    },
    /// A step fired.
    Step {
        /// Its label (`kill n2 (leader)`).
        detail: String,
        /// The step as it fired.
        step: FiredStep,
    },
    /// A step failed: the run stops.
    StepFailed {
        /// Which step, and why.
        detail: String,
    },
    /// The measured load ended at its time.
    LoadEnd {
        /// Its totals, for people.
        detail: String,
        /// The leader then, before anything was restored.
        leader: Option<String>,
    },
    /// The measured load was cut short by Ctrl-C.
    Interrupted {
        /// Its totals, for people.
        detail: String,
        /// The leader then, before anything was restored.
        leader: Option<String>,
    },
    /// The system logged that a node became its primary (read after the load ended).
    Promotion {
        /// `n2 promoted at 27.39 s (Patroni: promoted self to leader ...)`.
        detail: String,
        /// The promotion.
        promotion: PromotionSeen,
    },
    /// Faults still in force were undone.
    Restore {
        /// What was undone, or `no fault was in force`.
        detail: String,
        /// One line per thing undone (empty when nothing was).
        done: Vec<String>,
    },
    /// Undoing the faults still in force failed: the lab may be left faulted.
    RestoreFailed {
        /// The failure.
        detail: String,
    },
    /// The run took its lab down.
    LabDown {
        /// What was removed.
        detail: String,
    },
}

impl What {
    /// The entry's `detail`, for people.
    pub fn detail(&self) -> &str {
        match self {
            What::LabUp { detail }
            | What::LabReused { detail }
            | What::Warmup { detail }
            | What::LoadStart { detail, .. }
            | What::Step { detail, .. }
            | What::StepFailed { detail }
            | What::LoadEnd { detail, .. }
            | What::Interrupted { detail, .. }
            | What::Promotion { detail, .. }
            | What::Restore { detail, .. }
            | What::RestoreFailed { detail }
            | What::LabDown { detail } => detail,
        }
    }
}

impl Entry {
    /// An entry stamped now.
    pub fn now(what: What, t_s: Option<f64>) -> Entry {
        Entry {
            at: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
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
            What::LoadStart { nodes, leader, .. } => {
                self.started = entry.at.clone();
                self.nodes = nodes.clone();
                self.leader_before = leader.clone();
            }
            What::Step { step, .. } => self.steps.push(step.clone()),
            What::LoadEnd { leader, .. } | What::Interrupted { leader, .. } => {
                self.leader_after = leader.clone();
            }
            What::Promotion { promotion, .. } => self.promotions.push(promotion.clone()),
            What::Restore { done, .. } => self.restored = done.clone(),
            What::RestoreFailed { detail } => self.restored = vec![detail.clone()],
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_the_events_jsonl_lines() {
        let e = Entry {
            at: "2026-11-21T10:15:07.000Z".into(),
            what: What::Restore {
                detail: "resume n2: thawed perseus-etcd-n2".into(),
                done: vec!["resume n2: thawed perseus-etcd-n2".into()],
            },
            t_s: None,
        };
        let line = serde_json::to_string(&e).unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["kind"], "restore");
        assert_eq!(v["detail"], "resume n2: thawed perseus-etcd-n2");
        assert_eq!(v["at"], "2026-11-21T10:15:07.000Z");
        assert!(v.get("t_s").is_none());
        let back: Entry = serde_json::from_str(&line).unwrap();
        assert_eq!(back, e);
    }
}
