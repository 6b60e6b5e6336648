//! The run's history in Jepsen's operation format (`history.edn`), so that Jepsen's own checkers
//! (`jepsen.independent` with Knossos' `cas-register` per key) can check what Perseus checked, and
//! an independent checker of that file ([`check`]).
//!
//! One EDN map per line, in the order the operations were invoked and completed:
//!
//! ```text
//! {:index 0, :type :invoke, :f :read, :value ["r17-ab/n1/0" nil], :process 0, :time 1520311}
//! {:index 1, :type :ok, :f :read, :value ["r17-ab/n1/0" nil], :process 0, :time 2411893}
//! {:index 2, :type :invoke, :f :write, :value ["r17-ab/n1/0" 1], :process 0, :time 2412004}
//! {:index 3, :type :ok, :f :write, :value ["r17-ab/n1/0" 1], :process 0, :time 3398112}
//! {:index 4, :type :invoke, :f :cas, :value ["r17-ab/n1/0" [1 2]], :process 0, :time 3398412}
//! {:index 5, :type :info, :f :cas, :value ["r17-ab/n1/0" [1 2]], :process 0, :time 1003402117, :error "io: reset"}
//! ```
//!
//! - `:type` is `:invoke`, then `:ok` (acknowledged), `:fail` (definitely not applied) or `:info`
//!   (unknown); `:f` is `:read`, `:write` (a key's first write, from nothing: Knossos'
//!   `cas-register` starts at `nil`) or `:cas`.
//! - `:value` is a `jepsen.independent` tuple `[key value]`: a read's value (`nil` when the key
//!   does not exist, and on its invocation), a write's value, a cas's `[old new]`.
//! - `:time` is nanoseconds since the load began. `:process` is the connection, numbered as
//!   Jepsen numbers processes: a connection whose operation ended `:info` takes a new number (a
//!   crashed process never invokes again).
//! - The final reads made after the load are `:read`s of each key's last process.
//!
//! The file is streamed as the run goes, through one writer task, and stops at a size cap: past
//! it, nothing more is written and [`HistoryReport::truncated_at_s`] says when it stopped. The
//! loop's own check ([`super::check`]) keeps bounded state per key and does not depend on it.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::error::{Error, Result};

/// The default size cap of a history file, in bytes (256 MiB: about 25 s of the loop at its
/// ceiling against Redis, hours at the rates of the replicated systems).
pub const DEFAULT_MAX_BYTES: u64 = 256 * 1024 * 1024;

/// An operation's (or its completion's) type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    /// Invoked.
    Invoke,
    /// Acknowledged.
    Ok,
    /// Definitely did not happen.
    Fail,
    /// Unknown.
    Info,
}

impl Type {
    fn edn(self) -> &'static str {
        match self {
            Type::Invoke => ":invoke",
            Type::Ok => ":ok",
            Type::Fail => ":fail",
            Type::Info => ":info",
        }
    }
}

/// What an operation does, with its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// A read, and what it returned (`None`: nothing yet, or the key does not exist).
    Read(Option<u64>),
    /// A key's first write, from nothing.
    Write(u64),
    /// A compare-and-set `[old new]`.
    Cas(u64, u64),
}

/// One line of the history.
#[derive(Debug, Clone)]
struct Line {
    key: Arc<str>,
    process: u64,
    ty: Type,
    op: Op,
    time_ns: u64,
    error: Option<String>,
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryReport {
    /// The file.
    pub path: PathBuf,
    /// Lines written.
    pub ops: u64,
    /// Bytes written.
    pub bytes: u64,
    /// The size cap it ran under.
    pub max_bytes: u64,
    /// When the cap stopped it (seconds since the load began); `None` when it is complete.
    pub truncated_at_s: Option<f64>,
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
        // The writer only goes away after every connection has finished.
        let _sent = self.tx.send(Line {
            key: key.clone(),
            process,
            ty,
            op,
            time_ns: self.now_ns(),
            error,
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
    /// Create `path` (truncating it) and start the writer. `origin` is second 0 of the load;
    /// processes `0..first_free_process` are the connections' first numbers.
    ///
    /// Errors: [`Error::Io`] when the file cannot be created.
    pub async fn create(
        path: &Path,
        max_bytes: u64,
        origin: Instant,
        first_free_process: u64,
    ) -> Result<HistoryWriter> {
        let file = tokio::fs::File::create(path)
            .await
            .map_err(Error::io(format!(
                "creating the history {}",
                path.display()
            )))?;
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(write_lines(rx, file, path.to_path_buf(), max_bytes));
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

/// The writer task: format each line, stop at the cap, flush at the end.
async fn write_lines(
    mut rx: mpsc::UnboundedReceiver<Line>,
    file: tokio::fs::File,
    path: PathBuf,
    max_bytes: u64,
) -> Result<HistoryReport> {
    let mut out = tokio::io::BufWriter::with_capacity(1 << 20, file);
    let mut report = HistoryReport {
        path: path.clone(),
        ops: 0,
        bytes: 0,
        max_bytes,
        truncated_at_s: None,
    };
    let mut line = String::with_capacity(256);
    let mut failed: Option<std::io::Error> = None;
    while let Some(l) = rx.recv().await {
        if report.truncated_at_s.is_some() || failed.is_some() {
            continue;
        }
        line.clear();
        format_line(&mut line, report.ops, &l);
        if report.bytes + line.len() as u64 > max_bytes {
            report.truncated_at_s = Some(l.time_ns as f64 / 1e9);
            continue;
        }
        if let Err(e) = out.write_all(line.as_bytes()).await {
            failed = Some(e);
            continue;
        }
        report.ops += 1;
        report.bytes += line.len() as u64;
    }
    if let Some(e) = failed {
        return Err(Error::Io {
            context: format!("writing the history {}", path.display()),
            source: e,
        });
    }
    out.flush()
        .await
        .map_err(Error::io(format!("writing the history {}", path.display())))?;
    Ok(report)
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
    let f = match l.op {
        Op::Read(_) => ":read",
        Op::Write(_) => ":write",
        Op::Cas(..) => ":cas",
    };
    let _ = write!(
        out,
        "{{:index {index}, :type {}, :f {f}, :value [",
        l.ty.edn()
    );
    edn_string(out, &l.key);
    let _ = match l.op {
        Op::Read(None) => write!(out, " nil]"),
        Op::Read(Some(v)) | Op::Write(v) => write!(out, " {v}]"),
        Op::Cas(old, new) => write!(out, " [{old} {new}]]"),
    };
    let _ = write!(out, ", :process {}, :time {}", l.process, l.time_ns);
    if let Some(e) = &l.error {
        out.push_str(", :error ");
        edn_string(out, e);
    }
    out.push_str("}\n");
}

// ---------------------------------------------------------------------------------------------
// Reading a history back, and checking it.

/// An EDN value, as far as histories need.
#[derive(Debug, Clone, PartialEq)]
enum Edn {
    Nil,
    Int(i64),
    Str(String),
    Keyword(String),
    Vector(Vec<Edn>),
    Map(Vec<(Edn, Edn)>),
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn skip(&mut self) {
        while self.i < self.s.len()
            && (self.s[self.i].is_ascii_whitespace() || self.s[self.i] == b',')
        {
            self.i += 1;
        }
    }

    fn value(&mut self) -> std::result::Result<Edn, String> {
        self.skip();
        let Some(&c) = self.s.get(self.i) else {
            return Err("unexpected end of line".into());
        };
        match c {
            b'{' | b'[' => {
                let close = if c == b'{' { b'}' } else { b']' };
                self.i += 1;
                let mut items = Vec::new();
                loop {
                    self.skip();
                    if self.s.get(self.i) == Some(&close) {
                        self.i += 1;
                        break;
                    }
                    items.push(self.value()?);
                }
                if c == b'[' {
                    return Ok(Edn::Vector(items));
                }
                if items.len() % 2 != 0 {
                    return Err("a map with an odd number of forms".into());
                }
                let mut it = items.into_iter();
                let mut pairs = Vec::new();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    pairs.push((k, v));
                }
                Ok(Edn::Map(pairs))
            }
            b'"' => {
                self.i += 1;
                let mut out = String::new();
                loop {
                    let Some(&b) = self.s.get(self.i) else {
                        return Err("an unterminated string".into());
                    };
                    self.i += 1;
                    match b {
                        b'"' => break,
                        b'\\' => {
                            let e = self.s.get(self.i).copied().unwrap_or(b'\\');
                            self.i += 1;
                            out.push(match e {
                                b'n' => '\n',
                                b'r' => '\r',
                                b't' => '\t',
                                other => other as char,
                            });
                        }
                        _ => {
                            // Multi-byte characters pass through byte by byte.
                            let start = self.i - 1;
                            let len = utf8_len(b);
                            let end = (start + len).min(self.s.len());
                            out.push_str(&String::from_utf8_lossy(&self.s[start..end]));
                            self.i = end;
                        }
                    }
                }
                Ok(Edn::Str(out))
            }
            _ => {
                let start = self.i;
                while self.i < self.s.len()
                    && !self.s[self.i].is_ascii_whitespace()
                    && !matches!(self.s[self.i], b',' | b'}' | b']' | b'{' | b'[')
                {
                    self.i += 1;
                }
                let tok = std::str::from_utf8(&self.s[start..self.i]).map_err(|e| e.to_string())?;
                if tok == "nil" {
                    Ok(Edn::Nil)
                } else if let Some(k) = tok.strip_prefix(':') {
                    Ok(Edn::Keyword(k.to_string()))
                } else {
                    tok.parse::<i64>()
                        .map(Edn::Int)
                        .map_err(|_| format!("'{tok}' is not a value a history holds"))
                }
            }
        }
    }
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF7 => 4,
        _ => 1,
    }
}

/// One operation line read back.
#[derive(Debug, Clone, PartialEq)]
struct Parsed {
    ty: Type,
    key: String,
    op: Op,
    /// Read for completeness (every line has one); the check goes by key.
    #[allow(dead_code)]
    process: i64,
}

fn parse_line(line: &str) -> std::result::Result<Parsed, String> {
    let Edn::Map(pairs) = (Parser {
        s: line.as_bytes(),
        i: 0,
    })
    .value()?
    else {
        return Err("not a map".into());
    };
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(key, _)| *key == Edn::Keyword(k.to_string()))
            .map(|(_, v)| v)
    };
    let ty = match get("type") {
        Some(Edn::Keyword(t)) if t == "invoke" => Type::Invoke,
        Some(Edn::Keyword(t)) if t == "ok" => Type::Ok,
        Some(Edn::Keyword(t)) if t == "fail" => Type::Fail,
        Some(Edn::Keyword(t)) if t == "info" => Type::Info,
        other => return Err(format!(":type is {other:?}")),
    };
    let f = match get("f") {
        Some(Edn::Keyword(f)) => f.clone(),
        other => return Err(format!(":f is {other:?}")),
    };
    let (key, value) = match get("value") {
        Some(Edn::Vector(kv)) if kv.len() == 2 => match &kv[0] {
            Edn::Str(k) => (k.clone(), kv[1].clone()),
            other => return Err(format!("the key is {other:?}")),
        },
        other => return Err(format!(":value is {other:?}, not [key value]")),
    };
    let num = |v: &Edn| match v {
        Edn::Int(n) if *n >= 0 => Ok(*n as u64),
        other => Err(format!("{other:?} is not a counter value")),
    };
    let op = match (f.as_str(), &value) {
        ("read", Edn::Nil) => Op::Read(None),
        ("read", v) => Op::Read(Some(num(v)?)),
        ("write", v) => Op::Write(num(v)?),
        ("cas", Edn::Vector(on)) if on.len() == 2 => Op::Cas(num(&on[0])?, num(&on[1])?),
        (f, v) => return Err(format!(":f :{f} with value {v:?}")),
    };
    let process = match get("process") {
        Some(Edn::Int(p)) => *p,
        other => return Err(format!(":process is {other:?}")),
    };
    Ok(Parsed {
        ty,
        key,
        op,
        process,
    })
}

/// What [`check`] found on one key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct KeyVerdict {
    /// Completed operations seen.
    pub ops: u64,
    /// Acknowledged operations no order of the history explains: a read of a value the register
    /// cannot hold then, or a compare-and-set from one.
    pub violations: u64,
}

/// The register's possible states: its value (`None`: no value yet) and which of the key's
/// pending `:info` writes have taken effect.
type States = HashSet<(Option<u64>, u64)>;

/// The most pending `:info` writes per key the checker follows (each may still take effect);
/// older ones are taken to be over.
const PENDING: usize = 64;

/// Check a history file, key by key, as Knossos' `cas-register` model would (one register per
/// key, as `jepsen.independent` splits them): each acknowledged operation must take effect at
/// once, each `:fail` never, each `:info` write at any later moment or never, and a read must
/// return a value the register can hold then. A `:write` takes effect only on a register that has
/// no value (Perseus' first write of a key is an insert-if-absent; Knossos reads `:write` as
/// unconditional, which admits more). Each violation is counted and the read value accepted as a
/// possible state, so that one anomaly is not counted again at every later operation.
///
/// Errors: [`Error::BadInput`] naming the line that is not a history operation.
pub fn check(path: &Path) -> Result<BTreeMap<String, KeyVerdict>> {
    let text =
        std::fs::read_to_string(path).map_err(Error::io(format!("reading {}", path.display())))?;
    check_text(&text).map_err(|(line, why)| {
        Error::BadInput(format!(
            "{}:{line}: not a history operation ({why})",
            path.display()
        ))
    })
}

/// A key's register under check.
struct Register {
    states: States,
    /// Pending `:info` writes: (old value or `None` for a first write, new value).
    pending: Vec<(Option<u64>, u64)>,
    verdict: KeyVerdict,
}

impl Register {
    fn new() -> Register {
        Register {
            states: HashSet::from([(None, 0)]),
            pending: Vec::new(),
            verdict: KeyVerdict::default(),
        }
    }

    /// Every state reachable by letting pending writes take effect.
    fn closure(&self) -> States {
        let mut all = self.states.clone();
        let mut frontier: Vec<(Option<u64>, u64)> = all.iter().copied().collect();
        while let Some((value, applied)) = frontier.pop() {
            for (i, (old, new)) in self.pending.iter().enumerate() {
                let bit = 1u64 << i;
                if applied & bit != 0 || value != *old {
                    continue;
                }
                let next = (Some(*new), applied | bit);
                if all.insert(next) {
                    frontier.push(next);
                }
            }
        }
        all
    }

    fn complete(&mut self, ty: Type, op: Op) {
        match ty {
            Type::Invoke => {}
            Type::Fail => {}
            Type::Info => {
                let pending = match op {
                    Op::Read(_) => None,
                    Op::Write(v) => Some((None, v)),
                    Op::Cas(old, new) => Some((Some(old), new)),
                };
                if let Some(p) = pending {
                    if self.pending.len() == PENDING {
                        // The oldest pending write is taken to be over: forget it, and the bit
                        // it had in every state.
                        self.pending.remove(0);
                        self.states = self
                            .states
                            .iter()
                            .map(|&(v, applied)| (v, applied >> 1))
                            .collect();
                    }
                    self.pending.push(p);
                }
            }
            Type::Ok => {
                self.verdict.ops += 1;
                let reachable = self.closure();
                let (want, then): (Option<u64>, Option<u64>) = match op {
                    Op::Read(v) => (v, v),
                    Op::Write(v) => (None, Some(v)),
                    Op::Cas(old, new) => (Some(old), Some(new)),
                };
                let mut next: States = reachable
                    .iter()
                    .filter(|(v, _)| *v == want)
                    .map(|&(_, applied)| (then, applied))
                    .collect();
                if next.is_empty() {
                    self.verdict.violations += 1;
                    // Accept what the system said the register held, and go on from there.
                    let masks: HashSet<u64> = reachable.iter().map(|&(_, a)| a).collect();
                    next = masks.into_iter().map(|a| (then, a)).collect();
                }
                self.states = next;
            }
        }
    }
}

/// [`check`] on a history's text. Errors: the 1-based line and why it is not an operation.
pub fn check_text(
    text: &str,
) -> std::result::Result<BTreeMap<String, KeyVerdict>, (usize, String)> {
    let mut keys: BTreeMap<String, Register> = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let r = parse_line(line).map_err(|why| (i + 1, why))?;
        keys.entry(r.key.clone())
            .or_insert_with(Register::new)
            .complete(r.ty, r.op);
    }
    Ok(keys.into_iter().map(|(k, r)| (k, r.verdict)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

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
        for (ty, op) in [
            (Type::Ok, Op::Read(Some(41))),
            (Type::Fail, Op::Write(1)),
            (Type::Info, Op::Cas(5, 6)),
        ] {
            let back = parse_line(&line(ty, op, 9, Some("x"))).unwrap();
            assert_eq!(
                back,
                Parsed {
                    ty,
                    key: "r1-ab/n1/0".into(),
                    op,
                    process: 9
                }
            );
        }
        assert!(parse_line("{:type :ok}").is_err());
    }

    fn history(ops: &[(Type, Op)]) -> String {
        let mut s = String::new();
        for (i, (ty, op)) in ops.iter().enumerate() {
            format_line(
                &mut s,
                i as u64,
                &Line {
                    key: Arc::from("k"),
                    process: 0,
                    ty: *ty,
                    op: *op,
                    time_ns: i as u64,
                    error: None,
                },
            );
        }
        s
    }

    use Op::*;
    use Type::*;

    fn violations(ops: &[(Type, Op)]) -> u64 {
        check_text(&history(ops)).unwrap()["k"].violations
    }

    #[test]
    fn a_register_that_keeps_its_writes_is_linearizable() {
        let ops = [
            (Invoke, Read(None)),
            (Ok, Read(None)),
            (Invoke, Write(1)),
            (Ok, Write(1)),
            (Invoke, Cas(1, 2)),
            (Info, Cas(1, 2)),
            (Invoke, Read(None)),
            (Ok, Read(Some(2))), // the unknown write took effect
            (Invoke, Cas(2, 3)),
            (Ok, Cas(2, 3)),
            (Invoke, Cas(3, 4)),
            (Fail, Cas(3, 4)),
            (Invoke, Read(None)),
            (Ok, Read(Some(3))),
        ];
        assert_eq!(violations(&ops), 0);
    }

    #[test]
    fn a_lost_write_a_revert_and_an_impossible_value_are_violations() {
        let base = [
            (Invoke, Write(1)),
            (Ok, Write(1)),
            (Invoke, Cas(1, 2)),
            (Ok, Cas(1, 2)),
        ];
        // Lost: the register went back to 1 after 2 was acknowledged.
        let mut lost = base.to_vec();
        lost.extend([
            (Invoke, Read(None)),
            (Ok, Read(Some(1))),
            (Invoke, Cas(1, 2)),
            (Ok, Cas(1, 2)),
        ]);
        assert_eq!(
            violations(&lost),
            1,
            "one violation, not one per later operation"
        );
        // Reverted: 3 was seen (an unknown write), then 2 again.
        let mut reverted = base.to_vec();
        reverted.extend([
            (Invoke, Cas(2, 3)),
            (Info, Cas(2, 3)),
            (Invoke, Read(None)),
            (Ok, Read(Some(3))),
            (Invoke, Read(None)),
            (Ok, Read(Some(2))),
        ]);
        assert_eq!(violations(&reverted), 1);
        // Impossible: nothing wrote 9.
        let mut impossible = base.to_vec();
        impossible.extend([(Invoke, Read(None)), (Ok, Read(Some(9)))]);
        assert_eq!(violations(&impossible), 1);
    }

    #[tokio::test]
    async fn the_writer_streams_lines_and_stops_at_its_cap() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.edn");
        let w = HistoryWriter::create(&path, 400, Instant::now(), 1)
            .await
            .unwrap();
        let h = w.history();
        let key: Arc<str> = Arc::from("k");
        for v in 0..10 {
            h.record(&key, 0, Type::Invoke, Op::Read(None), None);
            h.record(&key, 0, Type::Ok, Op::Read(Some(v)), None);
        }
        assert_eq!(h.new_process(), 1);
        assert_eq!(h.new_process(), 2);
        drop(h);
        let r = w.finish().await.unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(r.bytes, text.len() as u64);
        assert!(r.bytes <= 400 && r.ops >= 3, "{r:?}");
        assert!(r.truncated_at_s.is_some(), "{r:?}");
        assert_eq!(text.lines().count() as u64, r.ops);
        assert!(check(&path).is_ok());
    }
}
