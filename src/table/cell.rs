//! A table's measured cells (one per system and experiment), rows and the table itself: what
//! `table.json` holds.

use std::fmt::Write as _;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::experiment::{Experiment, TableOptions};
use crate::fault::Target;
use crate::load::summary::Safety;
use crate::report::{Outcome, RunRecord};
use crate::systems::Leadership;

/// One measure over the runs of an experiment: a value per completed run (seconds), and whether
/// it is only a lower bound (it lasted until the node was restored, or the load ended).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Series {
    /// One per completed run.
    pub values_s: Vec<f64>,
    /// Per run: the value is a lower bound.
    pub at_least: Vec<bool>,
}

impl Series {
    /// Add a run's value.
    pub fn push(&mut self, value_s: f64, at_least: bool) {
        self.values_s.push(value_s);
        self.at_least.push(at_least);
    }

    /// The median (mean of the middle two for an even count); `None` without a value.
    pub fn median(&self) -> Option<f64> {
        let mut v = self.values_s.clone();
        if v.is_empty() {
            return None;
        }
        v.sort_by(|a, b| a.total_cmp(b));
        let m = v.len() / 2;
        Some(if v.len() % 2 == 1 {
            v[m]
        } else {
            (v[m - 1] + v[m]) / 2.0
        })
    }

    /// `1.25 s (1.03–1.97 s)` with `decimals` decimals, `≥ 15.00 s` when any run's value is a
    /// lower bound, `-` without a value.
    pub fn render(&self, decimals: usize) -> String {
        let Some(med) = self.median() else {
            return "-".into();
        };
        let bound = if self.at_least.iter().any(|b| *b) {
            "≥ "
        } else {
            ""
        };
        let (lo, hi) = self
            .values_s
            .iter()
            .fold((f64::MAX, f64::MIN), |(lo, hi), &w| (lo.min(w), hi.max(w)));
        if self.values_s.len() > 1 && hi > lo {
            format!("{bound}{med:.decimals$} s ({lo:.decimals$}–{hi:.decimals$} s)")
        } else {
            format!("{bound}{med:.decimals$} s")
        }
    }
}

/// One run of an experiment: its folder, relative to the table's folder, and how it ended.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunRef {
    /// `20261130-133045-etcd-table-crashed-leader`.
    pub folder: String,
    /// `passed`, `failed` (an expectation did not hold: it completed), `error`, `interrupted`.
    pub outcome: Outcome,
}

/// One experiment on one system, over its runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cell {
    /// Which experiment.
    pub experiment: Experiment,
    /// What its fault hit: `leader`, `follower`, or `n1` on a leaderless system.
    pub target: String,
    /// Every run, in order: its folder (relative to the table's folder) and how it ended. The
    /// series hold one value per completed run (`passed` or `failed`), in the same order.
    pub runs: Vec<RunRef>,
    /// Runs that did not complete (a step failed, the warm-up failed, the runner failed), with why.
    pub failed: Vec<String>,
    /// The 2017 measure: the cluster-wide unavailability window the fault caused.
    pub window: Series,
    /// While the node was down or cut: no node served.
    pub downtime: Series,
    /// While the node was down or cut: fewer than a majority served.
    pub partial_downtime: Series,
    /// From the fault until a majority served steadily.
    pub disturbance: Series,
    /// After the restart or heal: no node served.
    pub recovery_downtime: Series,
    /// After the restart or heal: fewer than a majority served.
    pub recovery_partial_downtime: Series,
    /// From the restart or heal until every node served steadily.
    pub recovery: Series,
    /// The anomalies of all its runs, final reads included.
    pub anomalies: Safety,
    /// Keys without a verdict (no final read settled, or the history check could not decide
    /// them), over all its runs.
    pub unverified_keys: u64,
    /// Keys of the runs' histories that no order explains, over all its runs.
    pub not_linearizable: usize,
    /// With a transactional workload: its anomalies by name over all its runs (`None`: the
    /// runs made no transactions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transactions: Option<std::collections::BTreeMap<String, u64>>,
}

impl Cell {
    /// An experiment with no run yet.
    pub fn new(experiment: Experiment, leadership: Leadership) -> Cell {
        let target = match experiment.target(leadership) {
            Target::Node(n) => n.to_string(),
            Target::Follower => "follower".into(),
            Target::All => "all".into(),
            _ => "leader".into(),
        };
        Cell {
            experiment,
            target,
            runs: Vec::new(),
            failed: Vec::new(),
            window: Series::default(),
            downtime: Series::default(),
            partial_downtime: Series::default(),
            disturbance: Series::default(),
            recovery_downtime: Series::default(),
            recovery_partial_downtime: Series::default(),
            recovery: Series::default(),
            anomalies: Safety::default(),
            unverified_keys: 0,
            not_linearizable: 0,
            transactions: None,
        }
    }

    /// Add what a run of this experiment found: the fault is its first step, the restart or
    /// heal its second. A run that did not complete counts as failed, with why; one stopped by
    /// Ctrl-C only keeps its folder (the table says it was interrupted).
    pub fn add(&mut self, rec: &RunRecord, folder: String) {
        self.runs.push(RunRef {
            folder,
            outcome: rec.outcome,
        });
        if rec.outcome == Outcome::Interrupted {
            return;
        }
        let completed = matches!(rec.outcome, Outcome::Passed | Outcome::Failed);
        let (Some(fault), Some(restore), Some(step), true) = (
            rec.effects.first(),
            rec.effects.get(1),
            rec.steps.get(1),
            completed,
        ) else {
            self.failed.push(
                rec.error
                    .clone()
                    .unwrap_or_else(|| rec.outcome.word().to_string()),
            );
            return;
        };
        let w = &fault.cluster;
        self.window
            .push(w.length_s, w.open || w.end_s >= step.fired_s);
        if let Some(s) = fault.serving {
            self.downtime.push(s.none_s, false);
            self.partial_downtime.push(s.minority_s, false);
            self.disturbance.push(
                s.majority_steady_s.unwrap_or(s.steady_not_before_s()),
                s.majority_steady_s.is_none(),
            );
        }
        if let Some(s) = restore.serving {
            self.recovery_downtime.push(s.none_s, false);
            self.recovery_partial_downtime.push(s.minority_s, false);
            self.recovery.push(
                s.all_steady_s.unwrap_or(s.steady_not_before_s()),
                s.all_steady_s.is_none(),
            );
        }
        if let Some(t) = &rec.transactions {
            let found = self.transactions.get_or_insert_with(Default::default);
            let counts: Vec<(String, u64)> = match (&t.list_append, &t.bank) {
                (Some(v), _) => v.anomalies.clone().into_iter().collect(),
                (None, Some(b)) => b
                    .counts()
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect(),
                (None, None) => Vec::new(),
            };
            for (k, v) in counts {
                *found.entry(k).or_default() += v;
            }
        }
        if let Some(load) = &rec.load {
            self.anomalies.add(&load.safety);
            self.unverified_keys += match &load.final_reads {
                Some(_) => load.unverified_keys,
                None => load.keys.len() as u64,
            };
            self.not_linearizable += load
                .history_check
                .as_ref()
                .map_or(0, |c| c.not_linearizable);
        }
    }

    /// The loss cell: `0`, or the anomalies by kind (`12: 12 lost writes`), the keys the
    /// history check finds not linearizable, and the unverified keys, then with a transactional
    /// workload its anomalies by name (`; transactions: G-single 3`); `-` when no run completed.
    pub fn render_anomalies(&self) -> String {
        if self.window.values_s.is_empty() {
            return "-".into();
        }
        let a = &self.anomalies;
        let mut s = a.total().to_string();
        let kinds: Vec<String> = [
            (a.lost_writes, "lost writes"),
            (a.stale_reads, "stale reads"),
            (a.reverted_reads, "reverted reads"),
            (a.impossible_reads, "impossible reads"),
        ]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
        if !kinds.is_empty() {
            let _ = write!(s, ": {}", kinds.join(", "));
        }
        if self.not_linearizable > 0 {
            let _ = write!(s, "; {} keys not linearizable", self.not_linearizable);
        }
        if self.unverified_keys > 0 {
            let _ = write!(s, " ({} keys unverified)", self.unverified_keys);
        }
        match &self.transactions {
            Some(t) if t.is_empty() => s.push_str("; transactions: none"),
            Some(t) => {
                let each: Vec<String> = t.iter().map(|(k, v)| format!("{k} {v}")).collect();
                let _ = write!(s, "; transactions: {}", each.join(", "));
            }
            None => {}
        }
        s
    }

    /// `, 1 run failed` when runs did not complete.
    pub(super) fn failures(&self) -> String {
        match self.failed.len() {
            0 => String::new(),
            1 => ", 1 run failed".into(),
            n => format!(", {n} runs failed"),
        }
    }
}

/// One system: its experiments.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    /// The system (`etcd`).
    pub system: String,
    /// Its name for people (`etcd`, `CockroachDB`), with the release when one was asked for
    /// (`NATS 2.12.1`).
    pub title: String,
    /// The release asked for (`perseus table nats@2.12.1`); `None`: the definition's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// It has no leader: the faults hit n1.
    pub leaderless: bool,
    /// The images its lab ran (`perseus/etcd:3.4.23`).
    pub images: Vec<String>,
    /// Why its lab could not be brought up, when it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// One per experiment, in [`Experiment::for_system`] order.
    pub cells: Vec<Cell>,
    /// Every run of it was made (or given up, with the error said): `--resume` leaves it as it
    /// is. `false` for a row whose runs a Ctrl-C stopped.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub complete: bool,
}

impl Row {
    /// Whether the system has a leader, as the row records it (`leaderless`); a leader's roles
    /// do not matter to the table.
    pub fn leadership(&self) -> Leadership {
        if self.leaderless {
            Leadership::None
        } else {
            Leadership::Leader { roles: &[] }
        }
    }

    /// The cell of `exp`, if the system has that experiment.
    pub fn cell(&self, exp: Experiment) -> Option<&Cell> {
        self.cells.iter().find(|c| c.experiment == exp)
    }
}

/// A measured table: `table.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Table {
    /// Wall-clock start (RFC 3339, ms).
    pub started: String,
    /// Its folder: `table.md`, `table.json` and every run's folder.
    pub folder: PathBuf,
    /// The timings.
    pub options: TableOptions,
    /// One per system, in the order asked.
    pub rows: Vec<Row>,
    /// Systems `--all` left out, with why (`cockroach: cockroachdb/cockroach:v25.2.4 is not on
    /// this Engine`).
    pub skipped: Vec<String>,
    /// Stopped by Ctrl-C before every run was made.
    pub interrupted: bool,
    /// The systems it was asked to measure, in order (`etcd`, `nats@2.12.1`), rows or not yet:
    /// what `perseus table --resume` goes on with.
    #[serde(default)]
    pub planned: Vec<String>,
}

impl Table {
    /// Whether any run, or any lab, failed.
    pub fn failed(&self) -> bool {
        self.rows
            .iter()
            .any(|r| r.error.is_some() || r.cells.iter().any(|c| !c.failed.is_empty()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_show_the_median_and_the_range() {
        let mut c = Series::default();
        for w in [1.97, 1.03, 1.25] {
            c.push(w, false);
        }
        assert_eq!(c.render(2), "1.25 s (1.03–1.97 s)");
        let mut even = Series::default();
        even.push(1.0, false);
        even.push(2.0, true);
        assert_eq!(even.render(1), "≥ 1.5 s (1.0–2.0 s)");
        let mut same = Series::default();
        same.push(0.0, false);
        same.push(0.0, false);
        assert_eq!(same.render(1), "0.0 s");
        assert_eq!(Series::default().render(2), "-");
    }
}
