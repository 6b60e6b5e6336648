//! Files Perseus wrote, or reads, that do not read back: [`ReadError`] (run, table and bisect folders,
//! re-exported as `perseus::report::ReadError`) and [`HistoryError`] (re-exported as
//! `perseus::history::HistoryError`).

use std::path::PathBuf;

/// A file Perseus wrote (a run folder, a table's or a bisect's folder) that does not read back.
/// Each is the user's path, so each maps to exit code 2 ([`super::Error::exit_code`]). The
/// message names the file and what to do; the cause is its source, which the command line prints
/// after it (`perseus: … wrote: No such file or directory`), so the message does not repeat it.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// A folder without `summary.json`.
    #[error("{} is not a run folder (reading {}): give a folder under runs/ that `perseus run` wrote", dir.display(), path.display())]
    NotARunFolder {
        /// The folder given.
        dir: PathBuf,
        /// The file looked for.
        path: PathBuf,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// A folder without `table.json`.
    #[error("{} is not a table's folder (reading {}): give a runs/<time>-table/ folder that `perseus table` wrote", dir.display(), path.display())]
    NotATableFolder {
        /// The folder given.
        dir: PathBuf,
        /// The file looked for.
        path: PathBuf,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// A folder without `bisect.json`, or one without the `scenario.yaml` a bisect keeps to be
    /// resumed.
    #[error("{} is not a bisect's folder that can be resumed (reading {}): give a runs/<time>-bisect/ folder that `perseus bisect` wrote", dir.display(), path.display())]
    NotABisectFolder {
        /// The folder given.
        dir: PathBuf,
        /// The file looked for.
        path: PathBuf,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// A JSON file that does not parse as what Perseus writes.
    #[error("{} does not read as a {what}: it was written by another Perseus version or edited; read it with the Perseus that wrote it, or make it again", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// What it should hold (`summary`, `table`).
        what: &'static str,
        /// The parser's error.
        source: serde_json::Error,
    },
    /// A `metrics.tsv` line that is not numbers.
    #[error("{}:{line}: '{text}' is not a metrics line (sec, total, one count per node)", path.display())]
    MetricsLine {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// The line.
        text: String,
    },
    /// A `metrics.tsv` line with another column count than its header.
    #[error("{}:{line}: {columns} columns where the header has {expected}", path.display())]
    MetricsColumns {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// Its columns.
        columns: usize,
        /// The header's.
        expected: usize,
    },
}

/// A file that is not a history Perseus can check (exit code 2, [`super::Error::exit_code`]).
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// An entry that is not a register operation.
    #[error("{}:{line}: not a history operation ({why})", path.display())]
    NotAnOperation {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        why: String,
    },
}
