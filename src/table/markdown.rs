//! The table in Markdown: the seeds' three summaries, each with what its cells mean, and the
//! links to every run's report.

use std::fmt::Write as _;

use super::cell::{Cell, Row, Table};
use super::experiment::{Experiment, TableFaults, TableOptions};
use crate::report::Outcome;

/// The tables in Markdown: the 2017 summary (crashed and isolated leader), the 2018 one (a node
/// isolated, then reconnected: the leader and a follower), the anomalies per experiment, and a
/// link to every run's report.
pub fn markdown(table: &Table) -> String {
    let mut s = render(&table.rows, &table.options);
    if !table.skipped.is_empty() {
        let _ = writeln!(s, "\nLeft out: {}.", table.skipped.join("; "));
    }
    if table.interrupted {
        let _ = writeln!(s, "\nInterrupted: not every run was made.");
    }
    let _ = writeln!(s, "\n## Runs\n");
    for r in &table.rows {
        if let Some(e) = &r.error {
            let _ = writeln!(s, "- {}: the lab did not come up: {e}", r.title);
        }
        for c in &r.cells {
            let links: Vec<String> = c
                .runs
                .iter()
                .map(|r| {
                    let d = &r.folder;
                    match r.outcome {
                        Outcome::Passed | Outcome::Failed => format!("[{d}]({d}/report.md)"),
                        o => format!("[{d}]({d}/report.md) ({})", o.word()),
                    }
                })
                .collect();
            if !links.is_empty() {
                let _ = writeln!(
                    s,
                    "- {} {}: {}",
                    r.title,
                    c.experiment.title(),
                    links.join(", ")
                );
            }
        }
    }
    s
}

/// One of the tables as both renderings show it: a heading, the column names, the cells (plain
/// text), and the paragraph that says what they mean (its lines; `code` in backticks).
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    /// `Crashed and isolated leader (the 2017 summary)`.
    pub heading: String,
    /// The column names.
    pub head: Vec<String>,
    /// One per line of the table, a cell per column.
    pub rows: Vec<Vec<String>>,
    /// What the cells mean, a sentence or more per line, in one paragraph.
    pub notes: Vec<String>,
}

/// The three tables, each with what its cells mean; for `--fault power-loss`, the power-loss
/// table.
pub fn render(rows: &[Row], opts: &TableOptions) -> String {
    let mut s = String::new();
    for (i, sec) in sections(rows, opts).iter().enumerate() {
        if i > 0 {
            s.push('\n');
        }
        let _ = writeln!(s, "## {}\n", sec.heading);
        let _ = writeln!(s, "| {} |", sec.head.join(" | "));
        let _ = writeln!(s, "|{}", " --- |".repeat(sec.head.len()));
        for r in &sec.rows {
            let _ = writeln!(s, "| {} |", r.join(" | "));
        }
        for (k, note) in sec.notes.iter().enumerate() {
            if k == 0 {
                s.push('\n');
            }
            let _ = writeln!(s, "{note}");
        }
    }
    s
}

/// The tables, as [`Section`]s: what [`render`] writes in Markdown and `table.html` in HTML.
pub fn sections(rows: &[Row], opts: &TableOptions) -> Vec<Section> {
    if opts.faults == TableFaults::PowerLoss {
        return vec![power_loss(rows, opts)];
    }
    let n = opts.repeat.max(1);
    let times = format!(
        "the fault at {}, the restart or heal {} later, {} more load",
        crate::units::show(opts.before),
        crate::units::show(opts.hold),
        crate::units::show(opts.after)
    );
    let cell = |r: &Row, e: Experiment, f: &dyn Fn(&Cell) -> String| {
        r.cell(e).map(f).unwrap_or_else(|| "-".into())
    };
    let head = |h: &[&str]| h.iter().map(|x| x.to_string()).collect::<Vec<_>>();

    let window = |c: &Cell| c.window.render(2) + &c.failures();
    let mut first = Section {
        heading: "Crashed and isolated leader (the 2017 summary)".into(),
        head: head(&["database", "crashed leader", "isolated leader", "images"]),
        rows: rows
            .iter()
            .map(|r| {
                vec![
                    r.title.clone(),
                    cell(r, Experiment::CrashedLeader, &window),
                    cell(r, Experiment::IsolatedLeader, &window),
                    r.images.join(", "),
                ]
            })
            .collect(),
        notes: vec![format!(
            "Median cluster-wide unavailability window (range) over {n} run(s) each: {times}. `≥`: \
             the outage lasted to the restart or heal, or beyond (the system did not recover by \
             itself); the value is the whole outage."
        )],
    };
    let leaderless: Vec<&str> = rows
        .iter()
        .filter(|r| r.leaderless)
        .map(|r| r.title.as_str())
        .collect();
    if !leaderless.is_empty() {
        first.notes.push(format!(
            "{} {} no leader: the faults hit n1, and there is no follower to isolate.",
            leaderless.join(", "),
            if leaderless.len() == 1 { "has" } else { "have" }
        ));
    }

    let second = Section {
        heading: "One node isolated, then reconnected (the 2018 summary)".into(),
        head: head(&[
            "database",
            "isolated",
            "downtime on isolation",
            "partial downtime on isolation",
            "disturbance time",
            "downtime on recovery",
            "partial downtime on recovery",
            "recovery time",
        ]),
        rows: rows
            .iter()
            .flat_map(|r| {
                r.cells
                    .iter()
                    .filter(|c| c.experiment != Experiment::CrashedLeader)
                    .map(|c| {
                        vec![
                            r.title.clone(),
                            c.target.clone(),
                            c.downtime.render(1) + &c.failures(),
                            c.partial_downtime.render(1),
                            c.disturbance.render(1),
                            c.recovery_downtime.render(1),
                            c.recovery_partial_downtime.render(1),
                            c.recovery.render(1),
                        ]
                    })
            })
            .collect(),
        notes: vec![format!(
            "Median (range) over {n} run(s) each, {times}, in 100 ms slices: downtime, no node \
             served; partial downtime, only one of the three did; disturbance time, from the \
             isolation until two nodes served steadily (each in every slice of a full second); \
             recovery time, from the heal until all three did. `≥`: no steady second began before the heal \
             (or the end of the load) less 0.9 s."
        )],
    };

    let loss = |c: &Cell| c.render_anomalies() + &c.failures();
    let third = Section {
        heading: "Anomalies, final read included".into(),
        head: head(&[
            "database",
            "crashed leader",
            "isolated leader",
            "isolated follower",
        ]),
        rows: rows
            .iter()
            .map(|r| {
                vec![
                    r.title.clone(),
                    cell(r, Experiment::CrashedLeader, &loss),
                    cell(r, Experiment::IsolatedLeader, &loss),
                    cell(r, Experiment::IsolatedFollower, &loss),
                ]
            })
            .collect(),
        notes: vec![format!(
            "Lost writes, stale, reverted and impossible reads, summed over the completed runs of \
             each experiment ({n} each unless a failure is shown): what the loop saw, and the final \
             read of every key after the restore."
        )],
    };
    vec![first, second, third]
}

/// The power-loss table: per system, what a power cut of every node at once lost, judged by the
/// final read, and how long the cluster served nothing.
fn power_loss(rows: &[Row], opts: &TableOptions) -> Section {
    let n = opts.repeat.max(1);
    Section {
        heading: "Power loss of every node at once".into(),
        head: [
            "database",
            "anomalies (final read included)",
            "unavailability window",
            "images",
        ]
        .map(String::from)
        .to_vec(),
        rows: rows
            .iter()
            .map(|r| {
                let c = r.cell(Experiment::PowerLoss);
                vec![
                    r.title.clone(),
                    c.map(|c| c.render_anomalies() + &c.failures())
                        .unwrap_or_else(|| "-".into()),
                    c.map(|c| c.window.render(2)).unwrap_or_else(|| "-".into()),
                    r.images.join(", "),
                ]
            })
            .collect(),
        notes: vec![format!(
            "Every node's power cut at once after {} of load (its data directory under Perseus' lazy \
             file system: what the database did not fsync is gone), every node started {} later, {} \
             more load. Anomalies summed over {n} run(s) each; the unavailability window is the \
             median (range) cluster-wide, from the cut until a node served again.",
            crate::units::show(opts.before),
            crate::units::show(opts.hold),
            crate::units::show(opts.after)
        )],
    }
}
