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

/// The three tables, each with what its cells mean; for `--fault power-loss`, the power-loss
/// table.
pub fn render(rows: &[Row], opts: &TableOptions) -> String {
    if opts.faults == TableFaults::PowerLoss {
        return render_power_loss(rows, opts);
    }
    let mut s = String::new();
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

    let _ = writeln!(s, "## Crashed and isolated leader (the 2017 summary)\n");
    let _ = writeln!(
        s,
        "| database | crashed leader | isolated leader | images |\n| --- | --- | --- | --- |"
    );
    for r in rows {
        let window = |c: &Cell| c.window.render(2) + &c.failures();
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} |",
            r.title,
            cell(r, Experiment::CrashedLeader, &window),
            cell(r, Experiment::IsolatedLeader, &window),
            r.images.join(", ")
        );
    }
    let _ = writeln!(
        s,
        "\nMedian cluster-wide unavailability window (range) over {n} run(s) each: {times}. `≥`: \
         the outage lasted to the restart or heal, or beyond (the system did not recover by \
         itself); the value is the whole outage."
    );
    let leaderless: Vec<&str> = rows
        .iter()
        .filter(|r| r.leaderless)
        .map(|r| r.title.as_str())
        .collect();
    if !leaderless.is_empty() {
        let _ = writeln!(
            s,
            "{} {} no leader: the faults hit n1, and there is no follower to isolate.",
            leaderless.join(", "),
            if leaderless.len() == 1 { "has" } else { "have" }
        );
    }

    let _ = writeln!(
        s,
        "\n## One node isolated, then reconnected (the 2018 summary)\n"
    );
    let _ = writeln!(
        s,
        "| database | isolated | downtime on isolation | partial downtime on isolation | disturbance time | downtime on recovery | partial downtime on recovery | recovery time |\n| --- | --- | --- | --- | --- | --- | --- | --- |"
    );
    for r in rows {
        for c in r
            .cells
            .iter()
            .filter(|c| c.experiment != Experiment::CrashedLeader)
        {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                r.title,
                c.target,
                c.downtime.render(1) + &c.failures(),
                c.partial_downtime.render(1),
                c.disturbance.render(1),
                c.recovery_downtime.render(1),
                c.recovery_partial_downtime.render(1),
                c.recovery.render(1)
            );
        }
    }
    let _ = writeln!(
        s,
        "\nMedian (range) over {n} run(s) each, {times}, in 100 ms slices: downtime, no node \
         served; partial downtime, only one of the three did; disturbance time, from the \
         isolation until two nodes served steadily (each in every slice of a full second); \
         recovery time, from the heal until all three did. `≥`: no steady second began before the heal \
         (or the end of the load) less 0.9 s."
    );

    let _ = writeln!(s, "\n## Anomalies, final read included\n");
    let _ = writeln!(
        s,
        "| database | crashed leader | isolated leader | isolated follower |\n| --- | --- | --- | --- |"
    );
    for r in rows {
        let loss = |c: &Cell| c.render_anomalies() + &c.failures();
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} |",
            r.title,
            cell(r, Experiment::CrashedLeader, &loss),
            cell(r, Experiment::IsolatedLeader, &loss),
            cell(r, Experiment::IsolatedFollower, &loss)
        );
    }
    let _ = writeln!(
        s,
        "\nLost writes, stale, reverted and impossible reads, summed over the completed runs of \
         each experiment ({n} each unless a failure is shown): what the loop saw, and the final \
         read of every key after the restore."
    );
    s
}

/// The power-loss table: per system, what a power cut of every node at once lost, judged by the
/// final read, and how long the cluster served nothing.
fn render_power_loss(rows: &[Row], opts: &TableOptions) -> String {
    let mut s = String::new();
    let n = opts.repeat.max(1);
    let _ = writeln!(s, "## Power loss of every node at once\n");
    let _ = writeln!(
        s,
        "| database | anomalies (final read included) | unavailability window | images |\n| --- | --- | --- | --- |"
    );
    for r in rows {
        let c = r.cell(Experiment::PowerLoss);
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} |",
            r.title,
            c.map(|c| c.render_anomalies() + &c.failures())
                .unwrap_or_else(|| "-".into()),
            c.map(|c| c.window.render(2)).unwrap_or_else(|| "-".into()),
            r.images.join(", ")
        );
    }
    let _ = writeln!(
        s,
        "\nEvery node's power cut at once after {} of load (its data directory under Perseus' lazy \
         file system: what the database did not fsync is gone), every node started {} later, {} \
         more load. Anomalies summed over {n} run(s) each; the unavailability window is the \
         median (range) cluster-wide, from the cut until a node served again.",
        crate::units::show(opts.before),
        crate::units::show(opts.hold),
        crate::units::show(opts.after)
    );
    s
}
