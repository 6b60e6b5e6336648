//! `perseus table`: the seeds' summary tables, measured. Per system, three experiments, each an
//! ordinary scenario run repeated `--repeat` times on one lab:
//!
//! - *crashed leader*: SIGKILL the leader, start it again `hold` later;
//! - *isolated leader*: cut the leader from its peers (clients still reach it), heal `hold` later;
//! - *isolated follower*: the same for a node that is not the leader.
//!
//! Every run gives the 2017 summary's measure (the cluster-wide unavailability window the fault
//! caused), the 2018 summary's (downtime, partial downtime and disturbance time while the node is
//! cut or down, downtime, partial downtime and recovery time after it is back:
//! [`crate::load::serving`]), and what neither summary checked: the anomalies the loop and the
//! final read found. A cell is the median over the runs, with the range.
//!
//! ```text
//! | database | crashed leader | isolated leader |
//! | --- | --- | --- |
//! | etcd | 1.25 s (1.03–1.97 s) | 2.39 s (1.58–3.35 s) |
//! ```
//!
//! A leaderless system (Gryadka, Galera, the control systems) has no leader to hit: its faults
//! hit n1, there is no follower experiment, and the table says so. A time that lasted until the
//! node was restored (or the load ended) is shown as a lower bound, `≥`. The table is written as `table.md`,
//! `table.html` (the same tables in a self-contained page that links every run's `report.html`)
//! and `table.json` into its own folder, which also holds every run's folder.

use std::path::Path;
use std::time::Duration;

use bollard::Docker;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::lab::{self, Home, SystemRef, UpOptions};
use crate::report::{Event, ReadError, Sink};
use crate::scenario::runner::{self, Afterwards, LabChoice, RunOptions};
use crate::scenario::{Scenario, ScenarioFile};
use crate::systems::Leadership;

mod cell;
mod experiment;
mod html;
mod markdown;

pub use cell::{Cell, Row, RunRef, Series, Table};
pub use experiment::{scenario, Experiment, TableFaults, TableOptions};
pub use html::html;
pub use markdown::{markdown, render, sections, Section};

/// What one run costs beyond its measured load, measured on the 2-core machine docs/table.md
/// names: the warm-up, the leader lookup, the final reads, restoring, and writing the run folder.
pub const RUN_OVERHEAD: Duration = Duration::from_secs(6);

/// What bringing a system's lab up and down costs, once per system (images already built).
pub const LAB_OVERHEAD: Duration = Duration::from_secs(20);

/// How far a table has got: runs done of runs planned, and what runs now.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// Runs finished (or given up with their system).
    pub done: usize,
    /// Runs planned.
    pub total: usize,
    /// `etcd isolated-follower run 2/3`.
    pub what: String,
}

/// The systems a table measures, in order, and those it leaves out with why.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Measured, one after another (a system may come at several releases: `nats@2.9.10
    /// nats@2.15.1`).
    pub systems: Vec<SystemRef>,
    /// Left out: `cockroach: cockroachdb/cockroach:v25.2.4 not on this Engine ...`.
    pub skipped: Vec<String>,
}

/// The systems `perseus table --all` measures: every system whose images are all built here or
/// already on the Engine, in name order; and the others, each with why it is left out.
///
/// Errors: [`Error::Docker`] when the Engine fails an image inspect; [`Error::Definition`].
pub async fn runnable_here(docker: &Docker, home: &Home) -> Result<Selection> {
    let (mut run, mut skipped) = (Vec::new(), Vec::new());
    for c in lab::catalog(docker, home).await? {
        let missing: Vec<&str> = c
            .images
            .iter()
            .filter(|i| !i.built_here && !i.present)
            .map(|i| i.image.as_str())
            .collect();
        if missing.is_empty() {
            run.push(SystemRef {
                system: c.system,
                version: None,
            });
        } else {
            skipped.push(format!(
                "{}: {} not on this Engine (`docker pull` it to include it)",
                c.system,
                missing.join(", ")
            ));
        }
    }
    Ok(Selection {
        systems: run,
        skipped,
    })
}

/// What a table will run: per system its experiments, the runs in all, and about how long.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Per system (`etcd`, `nats@2.12.1`), in order: the experiments it gets
    /// ([`Experiment::for_system`]).
    pub systems: Vec<(String, &'static [Experiment])>,
    /// Runs in all: the experiments times `repeat`, summed.
    pub runs: usize,
    /// About how long: the runs' loads, [`RUN_OVERHEAD`] per run, [`LAB_OVERHEAD`] per system.
    pub time: Duration,
}

/// Plan the table of `systems` with `opts`.
///
/// Errors: [`Error::Definition`] for a definition that does not parse.
pub fn plan(home: &Home, systems: &[SystemRef], opts: &TableOptions) -> Result<Plan> {
    let mut planned = Vec::new();
    let mut runs = 0;
    for system in systems {
        let def = home
            .definition(&system.system, None)?
            .at(system.version.as_deref())?;
        workload_runs_on(&def, &system.system, opts)?;
        let experiments = Experiment::for_table(def.system.leadership(), opts.faults);
        runs += experiments.len() * opts.repeat.max(1);
        planned.push((system.to_string(), experiments));
    }
    let time = (opts.load() + RUN_OVERHEAD) * runs as u32 + LAB_OVERHEAD * systems.len() as u32;
    Ok(Plan {
        systems: planned,
        runs,
        time,
    })
}

/// Refuse, before anything runs, a transactional workload on a system without transactions or
/// at a level its client cannot ask for: it would fail every run ([`crate::systems::txn_driver`]
/// says why in one line).
fn workload_runs_on(
    def: &crate::lab::definition::Definition,
    system: &str,
    opts: &TableOptions,
) -> Result<()> {
    if opts.workload != crate::workload::Workload::Register {
        crate::systems::txn_driver(
            def.system,
            &def.settings,
            system,
            opts.workload,
            opts.isolation,
            opts.replica_reads,
        )?;
    }
    Ok(())
}

/// Measure the table for `systems`, one after another, into a new folder under
/// `opts.runs_dir` (`<time>-table/`, holding every run's folder, `table.md`, `table.html` and `table.json`,
/// rewritten after each run). Each system's lab is brought up once (or reused if it is up),
/// every run of it uses it, and it is taken down at the end unless it was up before. A system
/// whose lab cannot be brought up gets its error in its row, and the others are still measured.
/// Cancelling `cancel` (Ctrl-C) stops after the run in progress has restored its faults, and
/// [`resume`] goes on from there. `progress` hears of each run as it starts and ends.
///
/// Errors: [`Error::Io`] when the folder cannot be made or written; [`Error::Definition`].
pub async fn measure(
    docker: &Docker,
    home: &Home,
    selection: Selection,
    opts: &TableOptions,
    cancel: &CancellationToken,
    sink: &mut dyn Sink,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Table> {
    let Selection { systems, skipped } = selection;
    plan(home, &systems, opts)?;
    let folder = crate::report::stamped_dir(&opts.runs_dir, "table")?;
    let mut table = Table {
        started: crate::report::now_rfc3339(),
        folder: folder.clone(),
        options: opts.clone(),
        rows: Vec::new(),
        skipped,
        interrupted: false,
        planned: systems.iter().map(SystemRef::to_string).collect(),
    };
    fill(docker, home, &systems, &mut table, cancel, sink, progress).await?;
    Ok(table)
}

/// Go on with a table a Ctrl-C (or a crash) stopped, in its folder (`runs/<time>-table/`): the
/// runs it has are kept and not made again, a run that was cut short is made again, and the
/// systems and runs it had not reached are measured as [`measure`] would have; the tables come
/// out as if it had never stopped. Its options are the ones it was started with; `metrics`, if
/// given, serves the runs' live metrics.
///
/// Errors: [`ReadError`] when the folder holds no readable `table.json`; [`Error::Usage`] for a
/// table whose runs are all made; as [`measure`].
pub async fn resume(
    docker: &Docker,
    home: &Home,
    folder: &Path,
    metrics: Option<crate::metrics::Metrics>,
    cancel: &CancellationToken,
    sink: &mut dyn Sink,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Table> {
    let mut table = read_table(folder)?;
    table.options.metrics = metrics;
    table.options.runs_dir = folder.parent().unwrap_or(Path::new(".")).to_path_buf();
    // A table written before it listed its systems: its rows are what it had.
    let planned: Vec<String> = if table.planned.is_empty() {
        table
            .rows
            .iter()
            .map(|r| match &r.version {
                Some(v) => format!("{}@{v}", r.system),
                None => r.system.clone(),
            })
            .collect()
    } else {
        table.planned.clone()
    };
    let systems = planned
        .iter()
        .map(|s| SystemRef::parse(s))
        .collect::<Result<Vec<_>>>()?;
    let left = remaining(home, &table, &systems)?;
    if left == 0 {
        return Err(Error::Usage(format!(
            "{} has every run made: nothing to resume (`perseus table --render {}` measures it again from its runs)",
            folder.display(),
            folder.display()
        )));
    }
    sink.event(&Event::Say(format!(
        "== table: resuming {}: {left} of its runs are left",
        folder.display()
    )));
    table.planned = planned;
    table.interrupted = false;
    // A run a Ctrl-C cut short measured nothing: it is made again.
    for cell in table.rows.iter_mut().flat_map(|r| r.cells.iter_mut()) {
        cell.runs
            .retain(|r| r.outcome != crate::report::Outcome::Interrupted);
    }
    fill(docker, home, &systems, &mut table, cancel, sink, progress).await?;
    Ok(table)
}

/// The runs `table` has still to make for `systems`: every run of a system without a row, none
/// of a complete row, and of the others each experiment's runs short of `repeat` (a run cut short
/// counts as not made).
///
/// Errors: [`Error::Definition`] for a system without a row whose definition does not parse.
fn remaining(home: &Home, table: &Table, systems: &[SystemRef]) -> Result<usize> {
    let repeat = table.options.repeat.max(1);
    let mut left = 0;
    for s in systems {
        left += match find_row(table, s) {
            Some(row) if row.complete => 0,
            Some(row) => row
                .cells
                .iter()
                .map(|c| repeat.saturating_sub(made(c)))
                .sum(),
            None => plan(home, std::slice::from_ref(s), &table.options)?.runs,
        };
    }
    Ok(left)
}

/// The runs a cell has made: every one it holds but those cut short.
fn made(cell: &Cell) -> usize {
    cell.runs
        .iter()
        .filter(|r| r.outcome != crate::report::Outcome::Interrupted)
        .count()
}

/// The row of `system` (at its release) in `table`.
fn find_row<'a>(table: &'a Table, system: &SystemRef) -> Option<&'a Row> {
    table
        .rows
        .iter()
        .find(|r| r.system == system.system && r.version == system.version)
}

/// Make the runs `table` does not have yet for `systems`, one system after another (see
/// [`measure`]), writing the table after each.
async fn fill(
    docker: &Docker,
    home: &Home,
    systems: &[SystemRef],
    table: &mut Table,
    cancel: &CancellationToken,
    sink: &mut dyn Sink,
    progress: &mut dyn FnMut(&Progress),
) -> Result<()> {
    let opts = &table.options.clone();
    let total = plan(home, systems, opts)?.runs;
    let folder = table.folder.clone();
    let run_opts = RunOptions {
        lab: LabChoice::Running,
        afterwards: Afterwards::Keep,
        runs_dir: folder.clone(),
        history_max: Some(crate::history::DEFAULT_MAX_BYTES),
        hosts: Vec::new(),
        metrics: opts.metrics.clone(),
    };
    let repeat = opts.repeat.max(1);
    // Runs made before (a resumed table's) count as done from the start.
    let mut done = done_runs(table);
    for system in systems {
        if cancel.is_cancelled() {
            break;
        }
        if find_row(table, system).is_some_and(|r| r.complete) {
            continue;
        }
        home.check_system(&system.system)?;
        let def = home
            .definition(&system.system, None)?
            .at(system.version.as_deref())?;
        workload_runs_on(&def, &system.system, opts)?;
        let leadership = def.system.leadership();
        let experiments = Experiment::for_table(leadership, opts.faults);
        let row = match table
            .rows
            .iter()
            .position(|r| r.system == system.system && r.version == system.version)
        {
            Some(row) => row,
            None => {
                let mut images: Vec<String> = Vec::new();
                for c in def.nodes(3)?.iter().flat_map(|n| &n.containers) {
                    if !images.contains(&c.image) {
                        images.push(c.image.clone());
                    }
                }
                let title = def
                    .perseus
                    .title
                    .clone()
                    .unwrap_or_else(|| system.system.clone());
                table.rows.push(Row {
                    system: system.system.clone(),
                    title: match &system.version {
                        Some(v) => format!("{title} {v}"),
                        None => title,
                    },
                    version: system.version.clone(),
                    leaderless: leadership == Leadership::None,
                    images,
                    error: None,
                    cells: experiments
                        .iter()
                        .map(|e| Cell::new(*e, leadership))
                        .collect(),
                    complete: false,
                });
                table.rows.len() - 1
            }
        };
        // What a stopped table had made of this row already.
        let have: Vec<usize> = table.rows[row].cells.iter().map(made).collect();
        if have.iter().all(|h| *h >= repeat) {
            table.rows[row].complete = true;
            write(table)?;
            continue;
        }
        progress(&Progress {
            done,
            total,
            what: format!("{system}: lab up"),
        });
        let owned = if lab::labs_up(docker).await?.contains(&system.system) {
            // A lab that is up is used as it is: only if it runs the release this row names.
            let running = lab::open(docker, home, &system.system).await?;
            if running.definition.version() != def.version() {
                let e = Error::from(lab::LabError::OtherVersionUp {
                    system: system.system.clone(),
                    running: running
                        .definition
                        .version()
                        .unwrap_or("its only release")
                        .to_string(),
                    asked: def.version().unwrap_or("its only release").to_string(),
                });
                sink.event(&Event::Say(format!("== table: {system}: {e}")));
                table.rows[row].error = Some(e.to_string());
                table.rows[row].complete = true;
                done = done_runs(table);
                write(table)?;
                continue;
            }
            None
        } else {
            let up = UpOptions {
                nodes: 3,
                version: system.version.clone(),
                file: None,
                ready_timeout: None,
                images: Vec::new(),
                hosts: Vec::new(),
                place: Vec::new(),
                lazyfs: opts.faults == TableFaults::PowerLoss,
            };
            let mut say = |l: &str| sink.event(&Event::Say(l.to_string()));
            match lab::up(docker, home, &system.system, &up, cancel, &mut say).await {
                Ok(handle) => Some(handle),
                Err(_) if cancel.is_cancelled() => break,
                Err(e) => {
                    sink.event(&Event::Say(format!("== table: {system}: {e}")));
                    table.rows[row].error = Some(e.to_string());
                    table.rows[row].complete = true;
                    done = done_runs(table);
                    write(table)?;
                    continue;
                }
            }
        };
        'runs: for r in 0..repeat {
            for (k, exp) in experiments.iter().enumerate() {
                if cancel.is_cancelled() {
                    break 'runs;
                }
                if have[k] > r {
                    continue;
                }
                let what = format!("{system} {} run {}/{repeat}", exp.name(), r + 1);
                progress(&Progress {
                    done,
                    total,
                    what: what.clone(),
                });
                sink.event(&Event::Say(format!("== table: {what}")));
                let sc = run_scenario(system, leadership, *exp, opts);
                let file = ScenarioFile::made(&format!("(perseus table {system})"), sc)?;
                match runner::run(docker, home, &file, &run_opts, cancel, sink).await {
                    Ok((rec, dir)) => {
                        let name = dir
                            .file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_default();
                        table.rows[row].cells[k].add(&rec, name);
                    }
                    // The run could not be made at all (its folder, the lab it reuses): the
                    // system's other runs would fail alike, so the table goes on with the next
                    // system.
                    // Stopped by Ctrl-C before it measured anything: made again on --resume.
                    Err(_) if cancel.is_cancelled() => break 'runs,
                    Err(e) => {
                        sink.event(&Event::Say(format!("== table: {what}: {e}")));
                        table.rows[row].cells[k].failed.push(e.to_string());
                        table.rows[row].complete = true;
                        done = done_runs(table);
                        write(table)?;
                        break 'runs;
                    }
                }
                done += 1;
                write(table)?;
            }
        }
        if !cancel.is_cancelled() {
            table.rows[row].complete = true;
            write(table)?;
        }
        if let Some(handle) = owned {
            if let Err(e) = handle.down().await {
                sink.event(&Event::Say(format!("lab down failed: {e}")));
            }
        }
    }
    table.interrupted = cancel.is_cancelled();
    progress(&Progress {
        done,
        total,
        what: if table.interrupted {
            "interrupted".into()
        } else {
            "done".into()
        },
    });
    write(table)?;
    Ok(())
}

/// The runs `table`'s rows have made (every run of a complete row counts, made or given up).
fn done_runs(table: &Table) -> usize {
    let repeat = table.options.repeat.max(1);
    table
        .rows
        .iter()
        .map(|r| {
            if r.complete {
                r.cells.len() * repeat
            } else {
                r.cells.iter().map(|c| made(c).min(repeat)).sum()
            }
        })
        .sum()
}

/// Measure a table again from its folder (`runs/<time>-table/`): every run's `summary.json` is
/// read back, every cell recomputed from what the runs recorded (after Perseus' measures changed,
/// or to check a table against its runs), and `table.md`, `table.html` and `table.json` rewritten. The runs'
/// failures are kept as they were. Returns the table.
///
/// Errors: [`ReadError`] when the folder holds no readable `table.json`, or a run folder it
/// names is missing or unreadable; [`Error::Io`] when the table cannot be written.
pub fn render_again(folder: &Path) -> Result<Table> {
    let mut table = read_table(folder)?;
    for row in &mut table.rows {
        let leadership = row.leadership();
        for cell in &mut row.cells {
            let mut again = Cell::new(cell.experiment, leadership);
            again.target = cell.target.clone();
            for run in &cell.runs {
                let rec = crate::report::read_record(&folder.join(&run.folder))?;
                again.add(&rec, run.folder.clone());
            }
            again.failed = std::mem::take(&mut cell.failed);
            *cell = again;
        }
    }
    write(&table)?;
    Ok(table)
}

/// Read `table.json` from a table's folder.
///
/// Errors: [`ReadError`] when it is missing or not a table.
fn read_table(folder: &Path) -> Result<Table> {
    let path = folder.join("table.json");
    let text = std::fs::read_to_string(&path).map_err(|source| ReadError::NotATableFolder {
        dir: folder.to_path_buf(),
        path: path.clone(),
        source,
    })?;
    let mut table: Table = serde_json::from_str(&text).map_err(|source| ReadError::Unreadable {
        path,
        what: "table",
        source,
    })?;
    table.folder = folder.to_path_buf();
    Ok(table)
}

/// Write `table.md`, `table.json` and `table.html` into the table's folder.
fn write(table: &Table) -> Result<()> {
    crate::report::write_summary(&table.folder, "table", markdown(table), table)?;
    crate::report::write_whole(&table.folder.join("table.html"), html(table).as_bytes())
}

/// One run's scenario: the experiment's, with the table's load settings (the transactional
/// workload beside the loop, the open loop's rate).
fn run_scenario(
    system: &SystemRef,
    leadership: Leadership,
    exp: Experiment,
    opts: &TableOptions,
) -> Scenario {
    let mut sc = scenario(system, leadership, exp, opts.before, opts.hold, opts.after);
    sc.load.workload = opts.workload;
    sc.load.isolation = opts.isolation;
    sc.load.replica_reads = opts.replica_reads;
    sc.load.rate = opts.rate;
    sc.load.rate_per_node = opts.rate_per_node;
    if let Some(m) = opts.max_clients_per_node {
        sc.load.max_clients_per_node = m;
    }
    sc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::measure::Window;
    use crate::load::serving::Serving;
    use crate::report::{FiredStep, Outcome, Plan, PlanLoad, RunRecord, StepEffect};

    const LEADER: Leadership = Leadership::Leader { roles: &[] };

    fn opts() -> TableOptions {
        TableOptions {
            repeat: 3,
            before: Duration::from_secs(5),
            hold: Duration::from_secs(15),
            after: Duration::from_secs(10),
            runs_dir: "runs".into(),
            workload: Default::default(),
            isolation: None,
            replica_reads: false,
            faults: TableFaults::Seeds,
            metrics: None,
            rate: None,
            rate_per_node: None,
            max_clients_per_node: None,
        }
    }
    /// A completed run of an isolation: the window, and who served during and after it.
    fn record(window: f64, during: Serving, after: Serving, lost: u64) -> RunRecord {
        let plan = Plan {
            name: "t".into(),
            description: None,
            system: "etcd".into(),
            nodes: 3,
            load: PlanLoad {
                duration: Duration::from_secs(30),
                clients_per_node: 1,
                op_timeout: Duration::from_secs(1),
                rate_per_node: None,
                max_clients_per_node: None,
                warmup: Duration::from_secs(60),
                workload: Default::default(),
                isolation: None,
                replica_reads: false,
            },
            seed: None,
        };
        let mut rec = RunRecord::new(plan, "r".into(), vec!["n1".into(), "n2".into()]);
        rec.outcome = Outcome::Failed;
        let effect = |at: f64, w: f64, s: Serving| StepEffect {
            index: 0,
            label: "x".into(),
            fired_s: at,
            cluster: Window {
                start_s: at,
                end_s: at + w,
                length_s: w,
                open: false,
            },
            nodes: Vec::new(),
            recovery: Vec::new(),
            serving: Some(s),
        };
        rec.effects = vec![effect(5.0, window, during), effect(20.0, 0.0, after)];
        let step = FiredStep {
            index: 1,
            name: Some("mend".into()),
            fault: "heal".into(),
            aim: "all".into(),
            nodes: Vec::new(),
            repeat: 0,
            scheduled_s: 20.0,
            fired_s: 20.0,
            applied_s: 20.0,
            late_ms: 0.0,
            at: String::new(),
            detail: "healed".into(),
        };
        rec.steps = vec![step.clone(), step];
        let mut load: crate::load::summary::Summary = crate::load::summary::Summary::new(
            "r".into(),
            String::new(),
            vec!["n1".into()],
            30_000_000,
            false,
            Vec::new(),
            Default::default(),
        );
        load.safety.lost_writes = lost;
        rec.load = Some(load);
        rec
    }

    fn serving(none: f64, minority: f64, majority: Option<f64>, all: Option<f64>) -> Serving {
        Serving {
            span_s: 15.0,
            none_s: none,
            minority_s: minority,
            majority_steady_s: majority,
            all_steady_s: all,
        }
    }

    #[test]
    fn a_cell_takes_the_2017_and_2018_measures_and_sums_the_anomalies() {
        let mut c = Cell::new(Experiment::IsolatedLeader, LEADER);
        c.add(
            &record(
                2.4,
                serving(2.0, 0.5, Some(2.5), Some(0.0)),
                serving(0.0, 0.0, Some(0.0), Some(1.2)),
                0,
            ),
            "a".into(),
        );
        c.add(
            &record(
                3.0,
                serving(3.0, 0.0, None, None),
                serving(0.3, 0.0, Some(0.3), None),
                7,
            ),
            "b".into(),
        );
        assert_eq!(c.window.render(2), "2.70 s (2.40–3.00 s)");
        assert_eq!(c.downtime.render(1), "2.5 s (2.0–3.0 s)");
        assert_eq!(c.partial_downtime.render(1), "0.2 s (0.0–0.5 s)");
        // Not steady within the span: at least the span less 0.9 s.
        assert_eq!(c.disturbance.render(1), "≥ 8.3 s (2.5–14.1 s)");
        assert_eq!(c.recovery_downtime.render(1), "0.1 s (0.0–0.3 s)");
        assert_eq!(c.recovery.render(1), "≥ 7.6 s (1.2–14.1 s)");
        assert_eq!(c.render_anomalies(), "7: 7 lost writes");
        let folders = |c: &Cell| c.runs.iter().map(|r| r.folder.clone()).collect::<Vec<_>>();
        assert_eq!(folders(&c), vec!["a", "b"]);
        assert_eq!(c.runs[0].outcome, Outcome::Failed);
        let mut rec = record(
            1.0,
            serving(0.0, 0.0, None, None),
            serving(0.0, 0.0, None, None),
            0,
        );
        rec.outcome = Outcome::Error;
        rec.error = Some("the warm-up failed".into());
        c.add(&rec, "c".into());
        assert_eq!(c.failed, vec!["the warm-up failed"]);
        rec.outcome = Outcome::Interrupted;
        c.add(&rec, "d".into());
        assert_eq!(c.failed.len(), 1, "Ctrl-C is not a failed run");
        assert_eq!(folders(&c), vec!["a", "b", "c", "d"]);
        assert_eq!(c.runs[3].outcome, Outcome::Interrupted);
        assert_eq!(
            c.window.values_s.len(),
            2,
            "a run that did not complete adds no value"
        );
        assert_eq!(
            Cell::new(Experiment::IsolatedFollower, LEADER).render_anomalies(),
            "-"
        );
    }

    #[test]
    fn the_tables_are_the_seeds_markdown() {
        let row = |title: &str, leadership: Leadership, w: f64| {
            let mut cells: Vec<Cell> = Experiment::for_system(leadership)
                .iter()
                .map(|e| Cell::new(*e, leadership))
                .collect();
            cells[0].add(
                &record(
                    w,
                    serving(w, 0.0, Some(w), Some(w)),
                    serving(0.0, 0.0, Some(0.0), Some(0.5)),
                    0,
                ),
                "r1".into(),
            );
            Row {
                system: title.to_lowercase(),
                title: title.into(),
                version: None,
                leaderless: leadership == Leadership::None,
                images: vec![format!("perseus/{}:1", title.to_lowercase())],
                error: None,
                cells,
                complete: true,
            }
        };
        let t = render(
            &[
                row("etcd", LEADER, 1.3),
                row("Gryadka", Leadership::None, 0.04),
            ],
            &opts(),
        );
        assert!(t.starts_with("## Crashed and isolated leader (the 2017 summary)\n\n| database | crashed leader | isolated leader | images |\n| --- | --- | --- | --- |\n| etcd | 1.30 s | - | perseus/etcd:1 |\n| Gryadka | 0.04 s | - | perseus/gryadka:1 |\n"), "{t}");
        assert!(
            t.contains(
                "Gryadka has no leader: the faults hit n1, and there is no follower to isolate."
            ),
            "{t}"
        );
        assert!(t.contains("| database | isolated | downtime on isolation | partial downtime on isolation | disturbance time | downtime on recovery | partial downtime on recovery | recovery time |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n| etcd | leader | - | - | - | - | - | - |\n| etcd | follower | - | - | - | - | - | - |\n| Gryadka | n1 | - | - | - | - | - | - |\n"), "{t}");
        assert!(t.contains("| database | crashed leader | isolated leader | isolated follower |\n| --- | --- | --- | --- |\n| etcd | 0 | - | - |\n| Gryadka | 0 | - | - |\n"), "{t}");
        let table = Table {
            started: String::new(),
            folder: "runs/t".into(),
            options: opts(),
            rows: vec![row("etcd", LEADER, 1.3)],
            skipped: vec!["cockroach: cockroachdb/cockroach:v25.2.4 not on this Engine".into()],
            interrupted: false,
            planned: vec!["etcd".into()],
        };
        let md = markdown(&table);
        assert!(
            md.contains("- etcd crashed leader: [r1](r1/report.md)\n"),
            "{md}"
        );
        assert!(md.contains("Left out: cockroach: "), "{md}");
        // table.html: the same cells, every run's page linked, the prose's code marked.
        let h = html(&table);
        assert!(
            h.contains("<td>etcd</td><td class=\"num\">1.30 s</td>"),
            "{h}"
        );
        assert!(h.contains("<a href=\"r1/report.html\">r1</a>"), "{h}");
        assert!(h.contains("<code>≥</code>: the outage lasted"), "{h}");
        assert!(!h.contains("http://") && !h.contains("<script"), "{h}");
        let json = serde_json::to_value(&table).unwrap();
        assert_eq!(json["rows"][0]["cells"][0]["experiment"], "crashed-leader");
        assert_eq!(json["rows"][0]["cells"][2]["target"], "follower");
        assert_eq!(json["options"]["hold"], "15s");
    }

    #[test]
    fn a_table_is_measured_again_from_its_runs_summaries() {
        let tmp = tempfile::tempdir().unwrap();
        let rec = record(
            2.4,
            serving(2.0, 0.5, Some(2.5), None),
            serving(0.0, 0.0, Some(0.0), Some(1.2)),
            3,
        );
        std::fs::create_dir(tmp.path().join("r1")).unwrap();
        std::fs::write(
            tmp.path().join("r1/summary.json"),
            serde_json::to_string(&rec).unwrap(),
        )
        .unwrap();
        let mut cell = Cell::new(Experiment::IsolatedLeader, LEADER);
        cell.add(&rec, "r1".into());
        cell.failed.push("a run that could not be made".into());
        // What an older Perseus wrote: a bound the measures no longer give.
        cell.recovery = Series {
            values_s: vec![15.0],
            at_least: vec![true],
        };
        let table = Table {
            started: String::new(),
            folder: tmp.path().to_path_buf(),
            options: opts(),
            rows: vec![Row {
                system: "etcd".into(),
                title: "etcd".into(),
                version: None,
                leaderless: false,
                images: Vec::new(),
                error: None,
                cells: vec![cell],
                complete: true,
            }],
            skipped: Vec::new(),
            interrupted: false,
            planned: vec!["etcd".into()],
        };
        write(&table).unwrap();
        let again = render_again(tmp.path()).unwrap();
        let c = &again.rows[0].cells[0];
        assert_eq!(c.recovery.values_s, vec![1.2]);
        assert_eq!(c.disturbance.values_s, vec![2.5]);
        assert_eq!(c.anomalies.lost_writes, 3);
        assert_eq!(c.failed, vec!["a run that could not be made"]);
        let md = std::fs::read_to_string(tmp.path().join("table.md")).unwrap();
        assert!(
            md.contains(
                "| etcd | leader | 2.0 s, 1 run failed | 0.5 s | 2.5 s | 0.0 s | 0.0 s | 1.2 s |"
            ),
            "{md}"
        );
        let page = std::fs::read_to_string(tmp.path().join("table.html")).unwrap();
        assert!(
            page.contains("<td class=\"num\">2.0 s, 1 run failed</td>"),
            "{page}"
        );
        // A folder without a table, and a table whose run folder is gone, are refused.
        let err = render_again(&tmp.path().join("r1")).unwrap_err();
        assert!(err.to_string().contains("is not a table's folder"), "{err}");
        std::fs::remove_dir_all(tmp.path().join("r1")).unwrap();
        let err = render_again(tmp.path()).unwrap_err();
        assert_eq!(err.exit_code(), 2, "{err}");
    }

    fn sys(name: &str) -> SystemRef {
        SystemRef::parse(name).unwrap()
    }

    #[test]
    fn the_plan_counts_each_systems_experiments_and_the_time() {
        let home = Home::at(env!("CARGO_MANIFEST_DIR"));
        let systems = ["etcd", "etcd@3.5.1", "gryadka"].map(|s| SystemRef::parse(s).unwrap());
        let p = plan(&home, &systems, &opts()).unwrap();
        assert_eq!(
            p.systems,
            vec![
                ("etcd".to_string(), Experiment::for_system(LEADER)),
                ("etcd@3.5.1".to_string(), Experiment::for_system(LEADER)),
                (
                    "gryadka".to_string(),
                    Experiment::for_system(Leadership::None)
                ),
            ]
        );
        assert_eq!(p.runs, (3 + 3 + 2) * 3);
        assert_eq!(p.time, Duration::from_secs(24 * (30 + 6) + 3 * 20));
        // A release the definition does not list is refused before anything runs.
        let e = plan(&home, &[SystemRef::parse("etcd@3.6.0").unwrap()], &opts()).unwrap_err();
        assert_eq!(e.exit_code(), 2);
    }

    #[test]
    fn table_scenarios_are_valid_scenarios() {
        for leadership in [LEADER, Leadership::None] {
            for exp in Experiment::for_system(leadership) {
                let o = opts();
                let sc = scenario(&sys("etcd"), leadership, *exp, o.before, o.hold, o.after);
                let text = serde_yaml::to_string(&sc).unwrap();
                let back = crate::scenario::parse(std::path::Path::new("t.yaml"), &text).unwrap();
                assert_eq!(back, sc, "{text}");
                assert_eq!(back.load.duration, Duration::from_secs(30));
            }
        }
        let o = opts();
        let sc = scenario(
            &sys("etcd"),
            LEADER,
            Experiment::IsolatedFollower,
            o.before,
            o.hold,
            o.after,
        );
        assert_eq!(sc.steps[0].describe(), "isolate follower");
        let sc = scenario(
            &sys("gryadka"),
            Leadership::None,
            Experiment::IsolatedLeader,
            o.before,
            o.hold,
            o.after,
        );
        assert_eq!(sc.steps[0].describe(), "isolate n1");
        assert_eq!(sc.steps[1].describe(), "heal");
    }

    /// `perseus table --rate`: every run's register loop is open at that rate, and a scenario
    /// made so is valid; without it the loop stays closed.
    #[test]
    fn the_tables_rate_reaches_every_runs_scenario() {
        let mut o = opts();
        let exp = Experiment::CrashedLeader;
        let closed = run_scenario(&sys("etcd"), LEADER, exp, &o);
        assert_eq!(closed.schedule(), None);
        o.rate = Some(crate::load::open::Rate(900.0));
        o.max_clients_per_node = Some(64);
        let sc = run_scenario(&sys("etcd"), LEADER, exp, &o);
        let s = sc.schedule().unwrap();
        assert_eq!((s.rate_per_node, s.max_clients_per_node), (300.0, 64));
        let text = serde_yaml::to_string(&sc).unwrap();
        let back = crate::scenario::parse(std::path::Path::new("t.yaml"), &text).unwrap();
        assert_eq!(back, sc, "{text}");
        assert!(text.contains("rate: 900/s"), "{text}");
    }

    #[test]
    fn a_stopped_table_knows_the_runs_it_has_left() {
        let home = Home::at(env!("CARGO_MANIFEST_DIR"));
        let done = record(
            1.0,
            serving(1.0, 0.0, Some(1.0), Some(1.0)),
            serving(0.0, 0.0, Some(0.0), Some(0.5)),
            0,
        );
        let mut cut = done.clone();
        cut.outcome = Outcome::Interrupted;
        // etcd: three experiments, three runs each; two runs made, and one cut short.
        let mut cells: Vec<Cell> = Experiment::for_system(LEADER)
            .iter()
            .map(|e| Cell::new(*e, LEADER))
            .collect();
        cells[0].add(&done, "r1".into());
        cells[1].add(&done, "r2".into());
        cells[2].add(&cut, "r3".into());
        let row = Row {
            system: "etcd".into(),
            title: "etcd".into(),
            version: None,
            leaderless: false,
            images: Vec::new(),
            error: None,
            cells,
            complete: false,
        };
        let mut table = Table {
            started: String::new(),
            folder: "runs/t".into(),
            options: opts(),
            rows: vec![row],
            skipped: Vec::new(),
            interrupted: true,
            planned: vec!["etcd".into(), "redis".into()],
        };
        assert_eq!(
            made(&table.rows[0].cells[2]),
            0,
            "a run cut short is not made"
        );
        assert_eq!(done_runs(&table), 2);
        let systems: Vec<SystemRef> = table
            .planned
            .iter()
            .map(|s| SystemRef::parse(s).unwrap())
            .collect();
        // etcd: 9 - 2; redis (not reached, no leader): two experiments, three runs each.
        assert_eq!(remaining(&home, &table, &systems).unwrap(), 7 + 6);
        // A complete row is left as it is, even one whose runs failed.
        table.rows[0].complete = true;
        assert_eq!(done_runs(&table), 9);
        assert_eq!(remaining(&home, &table, &systems).unwrap(), 6);
        // A release is its own row.
        let other = [SystemRef::parse("etcd@3.5.1").unwrap()];
        assert!(find_row(&table, &other[0]).is_none());
        // What an older table.json lacks reads as nothing planned and no row complete.
        let mut json = serde_json::to_value(&table).unwrap();
        json.as_object_mut().unwrap().remove("planned");
        json["rows"][0].as_object_mut().unwrap().remove("complete");
        let old: Table = serde_json::from_value(json).unwrap();
        assert!(old.planned.is_empty() && !old.rows[0].complete);
    }
}
