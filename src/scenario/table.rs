//! `perseus table`: the seeds' summary table, measured. For each system, a crashed-leader run
//! (SIGKILL the leader, start it again) and an isolated-leader run (cut the leader from its peers,
//! heal), each repeated; the cell is the median cluster-wide unavailability window with the range.
//!
//! ```text
//! | database | crashed leader | isolated leader |
//! | --- | --- | --- |
//! | etcd | 1.25 s (1.03–1.97 s) | 2.39 s (1.58–3.35 s) |
//! ```
//!
//! A leaderless system (Gryadka, Galera, the control systems) has no leader to hit: the fault hits
//! n1, and the table says so. A window that lasted until the node was restored is shown as `≥`.
//! Every run is an ordinary scenario run, with its own run folder.

use std::fmt::Write as _;
use std::time::Duration;

use bollard::Docker;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::runner::{self, RunOptions};
use super::{Aim, Aims, Expect, FaultKind, LoadSpec, Scenario, ScenarioFile, Step};
use crate::error::Result;
use crate::fault::{NodeFault, Target};
use crate::lab::{self, Home, UpOptions};
use crate::report::{Event, Outcome, Sink};

/// How the table's runs are timed.
#[derive(Debug, Clone)]
pub struct TableOptions {
    /// Runs per cell (at least 1).
    pub repeat: usize,
    /// Load before the fault.
    pub before: Duration,
    /// From the fault to the restart or heal.
    pub hold: Duration,
    /// Load after the restart or heal.
    pub after: Duration,
    /// Where run folders go.
    pub runs_dir: std::path::PathBuf,
}

/// The two experiments of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Experiment {
    /// SIGKILL the leader; start it after `hold`.
    CrashedLeader,
    /// Isolate the leader; heal after `hold`.
    IsolatedLeader,
}

impl Experiment {
    /// `crashed-leader`.
    pub fn name(self) -> &'static str {
        match self {
            Experiment::CrashedLeader => "crashed-leader",
            Experiment::IsolatedLeader => "isolated-leader",
        }
    }
}

/// One cell: the windows measured (seconds), and whether each lasted until the restore.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Cell {
    /// Cluster-wide windows, one per completed run.
    pub windows_s: Vec<f64>,
    /// Per run: the window lasted until the node was restored (a lower bound).
    pub until_restore: Vec<bool>,
    /// Runs that did not complete, with why.
    pub failed: Vec<String>,
    /// The run folders.
    pub runs: Vec<String>,
}

impl Cell {
    /// The median of the windows (mean of the middle two for an even count).
    pub fn median(&self) -> Option<f64> {
        let mut v = self.windows_s.clone();
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

    /// `1.25 s (1.03–1.97 s)`, `≥ 15.00 s`, or `-` when no run completed.
    pub fn render(&self) -> String {
        let Some(med) = self.median() else {
            return "-".into();
        };
        let lower_bound = if self.until_restore.iter().any(|b| *b) {
            "≥ "
        } else {
            ""
        };
        let (lo, hi) = self
            .windows_s
            .iter()
            .fold((f64::MAX, f64::MIN), |(lo, hi), &w| (lo.min(w), hi.max(w)));
        let mut s = if self.windows_s.len() > 1 {
            format!("{lower_bound}{med:.2} s ({lo:.2}–{hi:.2} s)")
        } else {
            format!("{lower_bound}{med:.2} s")
        };
        if !self.failed.is_empty() {
            let _ = write!(s, ", {} run(s) failed", self.failed.len());
        }
        s
    }
}

/// One row: a system and its two cells.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// The system (`etcd`).
    pub system: String,
    /// Its name for people (`etcd`, `CockroachDB`).
    pub title: String,
    /// What the faults hit: `leader`, or `n1` on a leaderless system.
    pub target: String,
    /// Killed leader.
    pub crashed: Cell,
    /// Isolated leader.
    pub isolated: Cell,
}

/// The scenario of one experiment: the fault at `before`, the restart or heal `hold` later, then
/// `after` more load. The table's runs and `perseus demo` are this scenario.
pub fn scenario(
    system: &str,
    leaderless: bool,
    exp: Experiment,
    before: Duration,
    hold: Duration,
    after: Duration,
) -> Scenario {
    let target = if leaderless {
        Target::Node("n1".into())
    } else {
        Target::Leader
    };
    let (fault, restore, names) = match exp {
        Experiment::CrashedLeader => (
            NodeFault::Kill,
            FaultKind::Node(NodeFault::Start),
            ("crash", "restart"),
        ),
        Experiment::IsolatedLeader => (NodeFault::Isolate, FaultKind::Heal, ("cut", "mend")),
    };
    Scenario {
        name: format!("{system}-table-{}", exp.name()),
        description: Some(format!(
            "perseus table: {} {target} at {}, {} it after {}",
            fault.name(),
            crate::units::show(before),
            if restore == FaultKind::Heal {
                "heal"
            } else {
                "start"
            },
            crate::units::show(hold)
        )),
        system: system.to_string(),
        nodes: 3,
        load: LoadSpec {
            duration: before + hold + after,
            clients_per_node: 1,
            op_timeout: Duration::from_secs(1),
            warmup: Duration::from_secs(60),
        },
        steps: vec![
            Step {
                name: Some(names.0.into()),
                at: before,
                fault: FaultKind::Node(fault),
                target: Some(Aims::One(Aim::Target(target))),
                groups: None,
                direction: None,
                shape: None,
                seed: None,
                amount: None,
                jitter: None,
            },
            Step {
                name: Some(names.1.into()),
                at: before + hold,
                fault: restore,
                target: (restore != FaultKind::Heal).then(|| Aims::One(Aim::Step(names.0.into()))),
                groups: None,
                direction: None,
                shape: None,
                seed: None,
                amount: None,
                jitter: None,
            },
        ],
        expect: vec![Expect::LostWrites(0), Expect::Anomalies(0)],
    }
}

/// Measure the table for `systems`. Each system's lab is brought up once (or reused if it is up),
/// every run uses it, and it is taken down at the end unless it was up before. Cancelling
/// `cancel` (Ctrl-C) stops after the run in progress has restored its faults.
///
/// Errors: a system whose lab cannot be brought up; the runs' own failures are in the cells.
pub async fn measure(
    docker: &Docker,
    home: &Home,
    systems: &[String],
    opts: &TableOptions,
    cancel: &CancellationToken,
    sink: &mut dyn Sink,
) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for system in systems {
        home.check_system(system)?;
        let def = home.definition(system, None)?;
        let leaderless = !def.system.has_leader();
        let owned = if lab::labs_up(docker).await?.contains(system) {
            None
        } else {
            let up = UpOptions {
                nodes: 3,
                file: None,
                ready_timeout: None,
                images: Vec::new(),
            };
            let mut progress = |l: &str| sink.event(&Event::Say(l.to_string()));
            Some(lab::up(docker, home, system, &up, cancel, &mut progress).await?)
        };
        let mut row = Row {
            system: system.clone(),
            title: def.perseus.title.clone().unwrap_or_else(|| system.clone()),
            target: if leaderless { "n1" } else { "leader" }.into(),
            crashed: Cell::default(),
            isolated: Cell::default(),
        };
        let run_opts = RunOptions {
            keep: true,
            reuse: true,
            runs_dir: opts.runs_dir.clone(),
            history_max: Some(crate::load::history::DEFAULT_MAX_BYTES),
        };
        let mut outcome: Result<()> = Ok(());
        'runs: for r in 0..opts.repeat.max(1) {
            for exp in [Experiment::CrashedLeader, Experiment::IsolatedLeader] {
                if cancel.is_cancelled() {
                    break 'runs;
                }
                let sc = scenario(system, leaderless, exp, opts.before, opts.hold, opts.after);
                let file = ScenarioFile::made(&format!("(perseus table {system})"), sc)?;
                sink.event(&Event::Say(format!(
                    "== table: {system} {} run {}/{}",
                    exp.name(),
                    r + 1,
                    opts.repeat.max(1)
                )));
                let cell = match exp {
                    Experiment::CrashedLeader => &mut row.crashed,
                    Experiment::IsolatedLeader => &mut row.isolated,
                };
                match runner::run(docker, home, &file, &run_opts, cancel, sink).await {
                    Ok((rec, dir)) => {
                        cell.runs.push(dir.display().to_string());
                        match (rec.outcome, rec.effects.first(), rec.steps.get(1)) {
                            (Outcome::Passed | Outcome::Failed, Some(fx), restore) => {
                                cell.windows_s.push(fx.cluster.length_s);
                                let restored_at = restore.map(|s| s.fired_s).unwrap_or(f64::MAX);
                                cell.until_restore
                                    .push(fx.cluster.open || fx.cluster.end_s >= restored_at);
                            }
                            _ => cell
                                .failed
                                .push(rec.error.unwrap_or_else(|| rec.outcome.word().to_string())),
                        }
                    }
                    Err(e) => {
                        outcome = Err(e);
                        break 'runs;
                    }
                }
            }
        }
        if let Some(handle) = owned {
            if let Err(e) = handle.down().await {
                sink.event(&Event::Say(format!("lab down failed: {e}")));
            }
        }
        outcome?;
        rows.push(row);
    }
    Ok(rows)
}

/// The table in Markdown, with a line per leaderless system saying what the faults hit.
pub fn render(rows: &[Row], opts: &TableOptions) -> String {
    let mut s =
        String::from("| database | crashed leader | isolated leader |\n| --- | --- | --- |\n");
    for r in rows {
        let _ = writeln!(
            s,
            "| {} | {} | {} |",
            r.title,
            r.crashed.render(),
            r.isolated.render()
        );
    }
    let _ = writeln!(
        s,
        "\nMedian cluster-wide unavailability window (range) over {} run(s) each: the fault at {}, the restart or heal {} later, {} more load.",
        opts.repeat.max(1),
        crate::units::show(opts.before),
        crate::units::show(opts.hold),
        crate::units::show(opts.after)
    );
    let leaderless: Vec<&str> = rows
        .iter()
        .filter(|r| r.target != "leader")
        .map(|r| r.title.as_str())
        .collect();
    if !leaderless.is_empty() {
        let _ = writeln!(
            s,
            "{} {} no leader: the fault hit n1.",
            leaderless.join(", "),
            if leaderless.len() == 1 { "has" } else { "have" }
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> TableOptions {
        TableOptions {
            repeat: 3,
            before: Duration::from_secs(5),
            hold: Duration::from_secs(15),
            after: Duration::from_secs(10),
            runs_dir: "runs".into(),
        }
    }

    #[test]
    fn cells_show_the_median_and_the_range() {
        let c = Cell {
            windows_s: vec![1.97, 1.03, 1.25],
            until_restore: vec![false; 3],
            ..Cell::default()
        };
        assert_eq!(c.render(), "1.25 s (1.03–1.97 s)");
        let even = Cell {
            windows_s: vec![1.0, 2.0],
            until_restore: vec![false, true],
            failed: vec!["x".into()],
            ..Cell::default()
        };
        assert_eq!(even.render(), "≥ 1.50 s (1.00–2.00 s), 1 run(s) failed");
        assert_eq!(Cell::default().render(), "-");
    }

    #[test]
    fn the_table_is_the_seeds_markdown() {
        let row = |title: &str, target: &str, w: f64| Row {
            system: title.to_lowercase(),
            title: title.into(),
            target: target.into(),
            crashed: Cell {
                windows_s: vec![w],
                until_restore: vec![false],
                ..Cell::default()
            },
            isolated: Cell::default(),
        };
        let t = render(
            &[row("etcd", "leader", 1.3), row("Gryadka", "n1", 0.04)],
            &opts(),
        );
        assert!(t.starts_with("| database | crashed leader | isolated leader |\n| --- | --- | --- |\n| etcd | 1.30 s | - |\n| Gryadka | 0.04 s | - |\n"), "{t}");
        assert!(
            t.contains("Gryadka has no leader: the fault hit n1."),
            "{t}"
        );
    }

    #[test]
    fn table_scenarios_are_valid_scenarios() {
        for leaderless in [false, true] {
            for exp in [Experiment::CrashedLeader, Experiment::IsolatedLeader] {
                let o = opts();
                let sc = scenario("etcd", leaderless, exp, o.before, o.hold, o.after);
                let text = serde_yaml::to_string(&sc).unwrap();
                let back = crate::scenario::parse(std::path::Path::new("t.yaml"), &text).unwrap();
                assert_eq!(back, sc, "{text}");
                assert_eq!(back.load.duration, Duration::from_secs(30));
            }
        }
        let o = opts();
        let sc = scenario(
            "gryadka",
            true,
            Experiment::IsolatedLeader,
            o.before,
            o.hold,
            o.after,
        );
        assert_eq!(sc.steps[0].describe(), "isolate n1");
        assert_eq!(sc.steps[1].describe(), "heal");
    }
}
