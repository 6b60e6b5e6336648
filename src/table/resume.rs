//! Going on with a table that was stopped (`perseus table --resume FOLDER`): which runs it has,
//! which it lacks, and the count of both. A run is made when its cell holds it with any outcome
//! but `interrupted`; a row is `complete` when every run of it was made or given up on.

use std::path::Path;

use bollard::Docker;
use tokio_util::sync::CancellationToken;

use super::{fill, plan, read_table, Cell, Progress, Row, Table};
use crate::error::{Error, Result};
use crate::lab::{Home, SystemRef};
use crate::report::{Event, Sink};

/// Go on with a table a Ctrl-C (or a crash) stopped, in its folder (`runs/<time>-table/`): the
/// runs it has are kept and not made again, a run that was cut short is made again, and the
/// systems and runs it had not reached are measured as [`super::measure`] would have; the tables come
/// out as if it had never stopped. Its options are the ones it was started with; `metrics`, if
/// given, serves the runs' live metrics.
///
/// Errors: [`crate::report::ReadError`] when the folder holds no readable `table.json`; [`Error::Usage`] for a
/// table whose runs are all made; as [`super::measure`].
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
pub(super) fn remaining(home: &Home, table: &Table, systems: &[SystemRef]) -> Result<usize> {
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
pub(super) fn made(cell: &Cell) -> usize {
    cell.runs
        .iter()
        .filter(|r| r.outcome != crate::report::Outcome::Interrupted)
        .count()
}

/// The row of `system` (at its release) in `table`.
pub(super) fn find_row<'a>(table: &'a Table, system: &SystemRef) -> Option<&'a Row> {
    table
        .rows
        .iter()
        .find(|r| r.system == system.system && r.version == system.version)
}

/// The runs `table`'s rows have made (every run of a complete row counts, made or given up).
pub(super) fn done_runs(table: &Table) -> usize {
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
