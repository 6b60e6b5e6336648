//! Writing a history as the run goes: one writer task, fed by cheap senders, that formats each
//! line and stops at a size cap, ending the file with a line that says where it stopped.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::op::{Evidence, Op, Type, TRUNCATED_MARK};
use crate::error::{Error, Result};

/// The default size cap of a history file, in bytes (256 MiB: about 25 s of the loop at its
/// ceiling against Redis, hours at the rates of the replicated systems).
pub const DEFAULT_MAX_BYTES: u64 = 256 * 1024 * 1024;

/// Bytes kept under the cap for the line that says where the history was cut.
const MARK_ROOM: u64 = 256;

/// The room the history leaves on its disk, in bytes (16 MiB): it stops when the file system
/// under it has less free, so that `summary.json`, `report.md`, `report.html`, the plots and the
/// rest of `events.jsonl` and `metrics.tsv` (a few MiB at most) can still be written.
pub const DISK_RESERVE: u64 = 16 * 1024 * 1024;

/// How often the writer looks at the free space, in bytes written (1 MiB, the size of its buffer).
const DISK_CHECK_EVERY: u64 = 1024 * 1024;

/// One line of the history, as a connection sends it.
#[derive(Debug, Clone)]
struct Line {
    key: Arc<str>,
    process: u64,
    ty: Type,
    op: Op,
    time_ns: u64,
    error: Option<String>,
    evidence: Option<Evidence>,
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryReport {
    /// The file.
    pub path: PathBuf,
    /// Operation lines written (invocations and completions).
    pub ops: u64,
    /// Bytes written.
    pub bytes: u64,
    /// The size cap it ran under.
    pub max_bytes: u64,
    /// When the cap, or a disk running short, stopped it (seconds since the load began); `None`
    /// when it is complete.
    pub truncated_at_s: Option<f64>,
    /// When a disk running short stopped it: the bytes that were left free on it (under
    /// [`DISK_RESERVE`]). `None` when it is complete or the cap stopped it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_free_bytes: Option<u64>,
}

impl HistoryReport {
    /// Why it is not complete, for a report's sentence ("it was cut at its cap of 1024 bytes",
    /// "it was stopped with 1200 bytes left on its disk, to leave room for this report"); `None`
    /// when it is complete.
    pub fn why_cut(&self) -> Option<String> {
        self.truncated_at_s?;
        Some(match self.disk_free_bytes {
            Some(free) => format!(
                "it was stopped with {free} bytes left on its disk, to leave room for this report,"
            ),
            None => format!("it was cut at its cap of {} bytes", self.max_bytes),
        })
    }

    /// `history: runs/x/history.edn (76412 operations)`, and where it was cut when it was.
    pub fn describe(&self) -> String {
        match (self.truncated_at_s, self.disk_free_bytes) {
            (Some(t), Some(free)) => format!(
                "history: {} ({} operations): STOPPED at {t:.1} s with {free} bytes left on its disk, to leave room for the summary and the report; the operations after it, final reads included, are not in it, and no check of it is complete (free some space, or give --runs-dir on a larger disk)",
                self.path.display(),
                self.ops,
            ),
            (Some(t), None) => format!(
                "history: {} ({} operations): CUT at its cap of {} bytes at {t:.1} s; the operations after it, final reads included, are not in it, and no check of it is complete (raise --history-max)",
                self.path.display(),
                self.ops,
                self.max_bytes
            ),
            (None, _) => format!("history: {} ({} operations)", self.path.display(), self.ops),
        }
    }
}

/// Where the loop's connections send their operations: cheap to clone, one per connection.
#[derive(Debug, Clone)]
pub struct History {
    tx: mpsc::UnboundedSender<Line>,
    origin: Instant,
    next_process: Arc<AtomicU64>,
}

impl History {
    /// Nanoseconds since the load began.
    pub fn now_ns(&self) -> u64 {
        self.origin.elapsed().as_nanos() as u64
    }

    /// Record one line for `key` by `process`, stamped now.
    pub fn record(&self, key: &Arc<str>, process: u64, ty: Type, op: Op, error: Option<String>) {
        self.record_with(key, process, ty, op, error, None);
    }

    /// [`History::record`], with what the completion rests on as the database numbered it.
    pub fn record_with(
        &self,
        key: &Arc<str>,
        process: u64,
        ty: Type,
        op: Op,
        error: Option<String>,
        evidence: Option<Evidence>,
    ) {
        // The writer only goes away after every connection has finished.
        let _sent = self.tx.send(Line {
            key: key.clone(),
            process,
            ty,
            op,
            time_ns: self.now_ns(),
            error,
            evidence,
        });
    }

    /// A process number never used before, for a connection whose operation ended `:info`.
    pub fn new_process(&self) -> u64 {
        self.next_process.fetch_add(1, Ordering::Relaxed)
    }
}

/// The history file being written: [`HistoryWriter::history`] hands out senders,
/// [`HistoryWriter::finish`] waits for the last line and closes the file.
#[derive(Debug)]
pub struct HistoryWriter {
    history: History,
    task: JoinHandle<Result<HistoryReport>>,
}

impl HistoryWriter {
    /// Create `path` (truncating it), write its first line (a comment naming the run and the
    /// model) and start the writer. `origin` is second 0 of the load; processes
    /// `0..first_free_process` are the connections' first numbers. `max_bytes` caps the file,
    /// its last line included.
    ///
    /// Errors: [`Error::Io`] when the file cannot be created.
    pub async fn create(
        path: &Path,
        max_bytes: u64,
        origin: Instant,
        first_free_process: u64,
        run_id: &str,
    ) -> Result<HistoryWriter> {
        Self::create_reserving(
            path,
            max_bytes,
            origin,
            first_free_process,
            run_id,
            DISK_RESERVE,
        )
        .await
    }

    /// [`HistoryWriter::create`], stopping when its disk has less than `reserve` bytes free.
    async fn create_reserving(
        path: &Path,
        max_bytes: u64,
        origin: Instant,
        first_free_process: u64,
        run_id: &str,
        reserve: u64,
    ) -> Result<HistoryWriter> {
        let file = tokio::fs::File::create(path)
            .await
            .map_err(Error::io(format!(
                "creating the history {}",
                path.display()
            )))?;
        let (tx, rx) = mpsc::unbounded_channel();
        let header = format!(
            "; perseus history of run {run_id}: one compare-and-set register per key ([key value] tuples), initial value 0; `perseus check` checks it, Knossos per key with (cas-register 0)\n"
        );
        let task = tokio::spawn(write_lines(
            rx,
            file,
            path.to_path_buf(),
            max_bytes,
            reserve,
            header,
        ));
        Ok(HistoryWriter {
            history: History {
                tx,
                origin,
                next_process: Arc::new(AtomicU64::new(first_free_process)),
            },
            task,
        })
    }

    /// A sender for the loop's connections.
    pub fn history(&self) -> History {
        self.history.clone()
    }

    /// Wait until every line sent has been written, and close the file.
    ///
    /// Errors: [`Error::Io`] when a write failed.
    pub async fn finish(self) -> Result<HistoryReport> {
        let HistoryWriter { history, task } = self;
        drop(history);
        task.await.map_err(Error::blocking("writing the history"))?
    }
}

/// The writer task: format each line, stop at the cap (leaving room for the line that says
/// so) or when the disk has less than `reserve` bytes free, flush at the end.
async fn write_lines(
    mut rx: mpsc::UnboundedReceiver<Line>,
    file: tokio::fs::File,
    path: PathBuf,
    max_bytes: u64,
    reserve: u64,
    header: String,
) -> Result<HistoryReport> {
    let io = |e| Error::Io {
        context: format!("writing the history {}", path.display()),
        source: e,
    };
    let mut out = tokio::io::BufWriter::with_capacity(1 << 20, file);
    let mut report = HistoryReport {
        path: path.clone(),
        ops: 0,
        bytes: 0,
        max_bytes,
        truncated_at_s: None,
        disk_free_bytes: None,
    };
    let room = max_bytes.saturating_sub(MARK_ROOM);
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let mut next_check = 0u64;
    let mut failed: Option<std::io::Error> = None;
    if header.len() as u64 <= room {
        match out.write_all(header.as_bytes()).await {
            Ok(()) => report.bytes += header.len() as u64,
            Err(e) => failed = Some(e),
        }
    }
    let mut line = String::with_capacity(256);
    let mut cut: Option<(u64, u64)> = None;
    while let Some(l) = rx.recv().await {
        if cut.is_some() || failed.is_some() {
            continue;
        }
        line.clear();
        format_line(&mut line, report.ops, &l);
        if report.bytes + line.len() as u64 > room {
            cut = Some((l.time_ns, report.ops));
            continue;
        }
        if report.bytes >= next_check {
            next_check = report.bytes + DISK_CHECK_EVERY;
            // What is buffered and not yet on the disk counts as taken.
            let buffered = out.buffer().len() as u64;
            if let Some(free) = free_bytes(&dir) {
                if free.saturating_sub(buffered) < reserve {
                    report.disk_free_bytes = Some(free.saturating_sub(buffered));
                    cut = Some((l.time_ns, report.ops));
                    continue;
                }
            }
        }
        if let Err(e) = out.write_all(line.as_bytes()).await {
            failed = Some(e);
            continue;
        }
        report.ops += 1;
        report.bytes += line.len() as u64;
    }
    if let Some(e) = failed {
        return Err(io(e));
    }
    if let Some((t, index)) = cut {
        let at_s = t as f64 / 1e9;
        report.truncated_at_s = Some(at_s);
        let mark = match report.disk_free_bytes {
            Some(free) => format!(
                "{TRUNCATED_MARK} with {free} bytes left on its disk at {at_s:.3} s, before operation {index}, to leave room for the run's summary and report: what came after, final reads included, is not in this file\n"
            ),
            None => format!(
                "{TRUNCATED_MARK} at its cap of {max_bytes} bytes at {at_s:.3} s, before operation {index}: what came after, final reads included, is not in this file\n"
            ),
        };
        out.write_all(mark.as_bytes()).await.map_err(io)?;
        report.bytes += mark.len() as u64;
    }
    out.flush().await.map_err(io)?;
    Ok(report)
}

/// The bytes an unprivileged writer may still use on the file system holding `dir` (`statvfs`:
/// available blocks times their size); `None` when it cannot be asked.
pub fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: `c` is a NUL-terminated path and `stat` a plain struct the call fills in.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::statvfs(c.as_ptr(), &mut stat) };
    #[allow(clippy::unnecessary_cast)] // the field types differ between targets
    (r == 0).then(|| stat.f_bavail as u64 * stat.f_frsize as u64)
}

/// An EDN string literal.
fn edn_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn format_line(out: &mut String, index: u64, l: &Line) {
    let _ = write!(
        out,
        "{{:index {index}, :type {}, :f {}, :value [",
        l.ty.edn(),
        l.op.f()
    );
    edn_string(out, &l.key);
    let _ = match l.op {
        Op::Read(None) => write!(out, " nil]"),
        Op::Read(Some(v)) | Op::Write(v) => write!(out, " {v}]"),
        Op::Cas(old, new) => write!(out, " [{old} {new}]]"),
    };
    let _ = write!(out, ", :process {}, :time {}", l.process, l.time_ns);
    if let Some(e) = &l.evidence {
        let _ = write!(out, ", :{} {}", e.name, e.value);
    }
    if let Some(e) = &l.error {
        out.push_str(", :error ");
        edn_string(out, e);
    }
    out.push_str("}\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{read_text, Completion};

    fn line(ty: Type, op: Op, process: u64, error: Option<&str>) -> String {
        let mut s = String::new();
        format_line(
            &mut s,
            7,
            &Line {
                key: Arc::from("r1-ab/n1/0"),
                process,
                ty,
                op,
                time_ns: 1_500_000_000,
                error: error.map(str::to_string),
                evidence: None,
            },
        );
        s
    }

    #[test]
    fn lines_are_jepsen_operations_and_read_back() {
        assert_eq!(
            line(Type::Invoke, Op::Read(None), 3, None),
            "{:index 7, :type :invoke, :f :read, :value [\"r1-ab/n1/0\" nil], :process 3, :time 1500000000}\n"
        );
        assert_eq!(
            line(Type::Info, Op::Cas(5, 6), 3, Some("io: \"reset\"")),
            "{:index 7, :type :info, :f :cas, :value [\"r1-ab/n1/0\" [5 6]], :process 3, :time 1500000000, :error \"io: \\\"reset\\\"\"}\n"
        );
        let mut s = String::new();
        format_line(
            &mut s,
            1,
            &Line {
                key: Arc::from("k"),
                process: 0,
                ty: Type::Ok,
                op: Op::Cas(0, 1),
                time_ns: 9,
                error: None,
                evidence: Some(Evidence {
                    name: "seq",
                    value: 41,
                }),
            },
        );
        assert_eq!(
            s,
            "{:index 1, :type :ok, :f :cas, :value [\"k\" [0 1]], :process 0, :time 9, :seq 41}\n"
        );
        let text = line(Type::Invoke, Op::Cas(5, 6), 9, None)
            + &line(Type::Info, Op::Cas(5, 6), 9, Some("x"));
        let back = read_text(&text).unwrap();
        let o = &back.keys["r1-ab/n1/0"][0];
        assert_eq!(
            (o.op, o.completion, o.process),
            (Op::Cas(5, 6), Completion::Info, 9)
        );
        assert_eq!(o.error.as_deref(), Some("x"));
    }

    #[tokio::test]
    async fn the_writer_streams_lines_and_ends_a_cut_history_with_a_mark() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.edn");
        let w = HistoryWriter::create(&path, 1000, Instant::now(), 1, "r1")
            .await
            .unwrap();
        let h = w.history();
        let key: Arc<str> = Arc::from("k");
        for v in 0..20 {
            h.record(&key, 0, Type::Invoke, Op::Read(None), None);
            h.record(&key, 0, Type::Ok, Op::Read(Some(v)), None);
        }
        assert_eq!(h.new_process(), 1);
        assert_eq!(h.new_process(), 2);
        drop(h);
        let r = w.finish().await.unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(r.bytes, text.len() as u64);
        assert!(r.bytes <= 1000 && r.ops >= 4, "{r:?}");
        assert!(r.truncated_at_s.is_some(), "{r:?}");
        assert!(text.starts_with("; perseus history of run r1"), "{text}");
        let last = text.lines().last().unwrap();
        assert!(last.starts_with(TRUNCATED_MARK), "{last}");
        assert!(
            r.describe().contains("CUT at its cap of 1000 bytes"),
            "{}",
            r.describe()
        );
        // Comment lines aside, one line per operation; the reader finds the mark.
        assert_eq!(
            text.lines().filter(|l| l.starts_with('{')).count() as u64,
            r.ops
        );
        let back = read_text(&text).unwrap();
        assert_eq!(back.truncated.unwrap().0, text.lines().count());
    }

    #[tokio::test]
    async fn a_disk_running_short_stops_the_history_with_a_mark_that_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.edn");
        let free = free_bytes(dir.path()).unwrap();
        assert!(free > 0);
        // A reserve larger than what is free: the disk is "short" from the first operation.
        let w = HistoryWriter::create_reserving(&path, u64::MAX, Instant::now(), 1, "r3", u64::MAX)
            .await
            .unwrap();
        let h = w.history();
        let key: Arc<str> = Arc::from("k");
        for v in 0..5 {
            h.record(&key, 0, Type::Invoke, Op::Read(None), None);
            h.record(&key, 0, Type::Ok, Op::Read(Some(v)), None);
        }
        drop(h);
        let r = w.finish().await.unwrap();
        assert_eq!(r.ops, 0, "{r:?}");
        assert!(
            r.truncated_at_s.is_some() && r.disk_free_bytes.is_some(),
            "{r:?}"
        );
        let text = std::fs::read_to_string(&path).unwrap();
        let last = text.lines().last().unwrap();
        assert!(last.starts_with(TRUNCATED_MARK), "{last}");
        assert!(last.contains("bytes left on its disk"), "{last}");
        assert!(r.describe().contains("STOPPED at"), "{}", r.describe());
        assert!(r.why_cut().unwrap().contains("left on its disk"));
        assert!(read_text(&text).unwrap().truncated.is_some());
        // The same writer with room to spare keeps everything.
        let w = HistoryWriter::create_reserving(&path, u64::MAX, Instant::now(), 1, "r4", 1)
            .await
            .unwrap();
        let h = w.history();
        h.record(&key, 0, Type::Invoke, Op::Read(None), None);
        drop(h);
        let r = w.finish().await.unwrap();
        assert_eq!((r.ops, r.disk_free_bytes, r.why_cut()), (1, None, None));
    }

    #[tokio::test]
    async fn a_history_under_its_cap_is_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.edn");
        let w = HistoryWriter::create(&path, u64::MAX, Instant::now(), 1, "r2")
            .await
            .unwrap();
        let h = w.history();
        let key: Arc<str> = Arc::from("k");
        h.record(&key, 0, Type::Invoke, Op::Read(None), None);
        h.record(&key, 0, Type::Ok, Op::Read(Some(0)), None);
        drop(h);
        let r = w.finish().await.unwrap();
        assert_eq!((r.ops, r.truncated_at_s), (2, None));
        assert!(read_text(&std::fs::read_to_string(&path).unwrap())
            .unwrap()
            .truncated
            .is_none());
    }
}
