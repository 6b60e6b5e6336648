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
mod resume;

pub use cell::{Cell, Row, RunRef, Series, Table};
pub use experiment::{scenario, Experiment, TableFaults, TableOptions};
pub use html::html;
pub use markdown::{markdown, render, sections, Section};
pub use resume::resume;
use resume::{done_runs, find_row, made};

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

/// Make the runs `table` does not have yet for `systems`, one system after another (see
/// [`measure`]), writing the table after each.
pub(super) async fn fill(
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
pub(super) fn read_table(folder: &Path) -> Result<Table> {
    let path = folder.join("table.json");
    let mut table: Table =
        crate::report::read_json(&path, "table", |source| ReadError::NotATableFolder {
            dir: folder.to_path_buf(),
            path: path.clone(),
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
mod tests;
