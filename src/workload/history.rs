//! The transactional workloads' histories in Jepsen's formats, so that Jepsen's own checkers
//! (elle-cli for list-append, `jepsen.tests.bank` for the bank) read the same file Perseus
//! checks:
//!
//! ```text
//! ; perseus list-append history of run r17-ab (serializable): Elle's format, :time in ns
//! {:index 0, :type :invoke, :f :txn, :value [[:append 3 1] [:r 4 nil]], :process 0, :time 1520311}
//! {:index 1, :type :ok, :f :txn, :value [[:append 3 1] [:r 4 [1 2]]], :process 0, :time 2411893}
//! {:index 2, :type :invoke, :f :transfer, :value {:from 1, :to 2, :amount 5}, :process 1, :time 2500000}
//! {:index 3, :type :ok, :f :read, :value {0 10, 1 10}, :process 2, :time 2600000}
//! ```
//!
//! An operation that did not commit is `:fail` (definitely not) or `:info` (maybe), its reads
//! `nil`, with `:error`; a process whose operation ended `:info` is never used again. Events are
//! in time order, each operation's invocation before its completion. [`read_text`] takes these files
//! and Jepsen's (one map per line, or one vector of maps; `:time` or else `:index` as the clock).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use super::bank::BankCheck;
use super::run::{BankOp, BankOpKind, TxnHistory};
use super::summary::{list_append_verdict, ListAppendVerdict};
use crate::checker::list_append::{Mop, Outcome, Txn};
use crate::error::{Error, Result};
use crate::history::edn::{Edn, Reader};

/// What a transactional history file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnFile {
    /// List-append transactions, in completion order (never-completed ones last).
    ListAppend(Vec<Txn>),
    /// Bank operations, in completion order.
    Bank(Vec<BankOp>),
}

fn keyword(o: Outcome) -> &'static str {
    match o {
        Outcome::Ok => ":ok",
        Outcome::Fail => ":fail",
        Outcome::Info => ":info",
    }
}

/// A transaction's micro-operations as Elle writes them, in one vector:
/// `[[:append 3 1] [:r 4 [1 2]]]`; with `with_reads` false (an invocation, or a transaction that
/// did not commit), every read's list is `nil`.
pub fn mops_edn(mops: &[Mop], with_reads: bool) -> String {
    let parts: Vec<String> = mops
        .iter()
        .map(|m| match m {
            Mop::Append(k, e) => format!("[:append {k} {e}]"),
            Mop::Read(k, Some(l)) if with_reads => {
                let l: Vec<String> = l.iter().map(u64::to_string).collect();
                format!("[:r {k} [{}]]", l.join(" "))
            }
            Mop::Read(k, _) => format!("[:r {k} nil]"),
        })
        .collect();
    format!("[{}]", parts.join(" "))
}

fn bank_value(kind: &BankOpKind, completed: bool) -> (&'static str, String) {
    match kind {
        BankOpKind::Transfer { from, to, amount } => (
            ":transfer",
            format!("{{:from {from}, :to {to}, :amount {amount}}}"),
        ),
        BankOpKind::Read(Some(b)) if completed => {
            let b: Vec<String> = b.iter().map(|(a, v)| format!("{a} {v}")).collect();
            (":read", format!("{{{}}}", b.join(", ")))
        }
        BankOpKind::Read(_) => (":read", "nil".into()),
    }
}

fn edn_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The history as Jepsen's text: a comment line, then one map per event in time order.
pub fn render(h: &TxnHistory) -> String {
    // (time, order within the time, text without :index)
    let mut events: Vec<(u64, u8, String)> = Vec::new();
    for r in &h.txns {
        let t = &r.txn;
        events.push((
            t.invoked,
            0,
            format!(
                ":type :invoke, :f :txn, :value {}, :process {}, :time {}",
                mops_edn(&t.mops, false),
                t.process,
                t.invoked
            ),
        ));
        let error = r
            .error
            .as_ref()
            .map(|e| format!(", :error {}", edn_string(e)))
            .unwrap_or_default();
        let done = t.completed.unwrap_or(h.end_ns);
        events.push((
            done,
            1,
            format!(
                ":type {}, :f :txn, :value {}, :process {}, :time {done}{error}",
                keyword(t.outcome),
                mops_edn(&t.mops, t.outcome == Outcome::Ok),
                t.process
            ),
        ));
    }
    for o in &h.bank {
        let (f, invoke) = bank_value(&o.kind, false);
        events.push((
            o.invoked,
            0,
            format!(
                ":type :invoke, :f {f}, :value {invoke}, :process {}, :time {}",
                o.process, o.invoked
            ),
        ));
        let (_, value) = bank_value(&o.kind, o.outcome == Outcome::Ok);
        let error = o
            .error
            .as_ref()
            .map(|e| format!(", :error {}", edn_string(e)))
            .unwrap_or_default();
        events.push((
            o.completed,
            1,
            format!(
                ":type {}, :f {f}, :value {value}, :process {}, :time {}{error}",
                keyword(o.outcome),
                o.process,
                o.completed
            ),
        ));
    }
    events.sort_by_key(|e| (e.0, e.1));
    let mut out = format!(
        "; perseus {} history of run {} ({}): Jepsen's format{}, :time in ns since the load began\n",
        h.workload,
        h.run_id,
        h.isolation.map_or("the system's default isolation", |i| i.name()),
        match h.workload {
            super::Workload::Bank => format!(
                " (jepsen.tests.bank: {} accounts, total {})",
                super::ACCOUNTS,
                h.bank_total
            ),
            _ => " (Elle's list-append, for elle-cli)".into(),
        }
    );
    for (i, (_, _, text)) in events.iter().enumerate() {
        let _ = writeln!(out, "{{:index {i}, {text}}}");
    }
    out
}

/// Write [`render`]'s text to `path`.
///
/// Errors: [`Error::Io`] naming the file.
pub fn write(path: &Path, h: &TxnHistory) -> Result<()> {
    std::fs::write(path, render(h)).map_err(|source| Error::Io {
        context: format!("writing {}", path.display()),
        source,
    })
}

fn int(e: Option<&Edn>) -> Option<i64> {
    match e {
        Some(Edn::Int(i)) => Some(*i),
        _ => None,
    }
}

fn kw(e: Option<&Edn>) -> Option<&str> {
    match e {
        Some(Edn::Keyword(k)) => Some(k),
        _ => None,
    }
}

fn u(v: i64, what: &str) -> std::result::Result<u64, String> {
    u64::try_from(v).map_err(|_| format!("{what} {v} is negative"))
}

fn parse_mops(v: &Edn) -> std::result::Result<Vec<Mop>, String> {
    let Edn::Vector(items) = v else {
        return Err("a :txn's :value is not a vector of micro-operations".into());
    };
    items
        .iter()
        .map(|m| {
            let Edn::Vector(parts) = m else {
                return Err("a micro-operation is not a vector".into());
            };
            let f = kw(parts.first());
            let k = int(parts.get(1)).ok_or("a micro-operation's key is not an integer")?;
            let k = u(k, "key")?;
            match (f, parts.get(2)) {
                (Some("append"), Some(Edn::Int(e))) => Ok(Mop::Append(k, u(*e, "element")?)),
                (Some("r"), Some(Edn::Nil) | None) => Ok(Mop::Read(k, None)),
                (Some("r"), Some(Edn::Vector(l))) => {
                    let l = l
                        .iter()
                        .map(|e| match e {
                            Edn::Int(i) => u(*i, "element"),
                            _ => Err("a list element is not an integer".into()),
                        })
                        .collect::<std::result::Result<Vec<u64>, String>>()?;
                    Ok(Mop::Read(k, Some(l)))
                }
                _ => Err("a micro-operation is neither [:append k v] nor [:r k list]".into()),
            }
        })
        .collect()
}

fn parse_bank(f: &str, v: &Edn) -> std::result::Result<BankOpKind, String> {
    match (f, v) {
        ("transfer", Edn::Map(_)) => Ok(BankOpKind::Transfer {
            from: u(
                int(v.get("from")).ok_or(":transfer has no :from")?,
                "account",
            )?,
            to: u(int(v.get("to")).ok_or(":transfer has no :to")?, "account")?,
            amount: int(v.get("amount")).ok_or(":transfer has no :amount")?,
        }),
        ("read", Edn::Nil) => Ok(BankOpKind::Read(None)),
        ("read", Edn::Map(pairs)) => {
            let mut b = pairs
                .iter()
                .map(|(a, v)| match (a, v) {
                    (Edn::Int(a), Edn::Int(v)) => Ok((u(*a, "account")?, *v)),
                    _ => Err("a bank read maps accounts to integer balances".to_string()),
                })
                .collect::<std::result::Result<Vec<_>, String>>()?;
            b.sort();
            Ok(BankOpKind::Read(Some(b)))
        }
        _ => Err(format!(":{f} is neither a bank :transfer nor a :read")),
    }
}

/// Whether `text` is a transactional history rather than a register one: one of its first
/// thousand operations is a `:txn` (list-append) or a `:transfer` (bank).
pub fn is_txn_history(text: &str) -> bool {
    text.lines()
        .take(1_000)
        .any(|l| l.contains(":f :txn") || l.contains(":f :transfer"))
}

/// Read a list-append or bank history (see the module docs).
///
/// Errors: the 1-based line and why it is not such a history.
pub fn read_text(text: &str) -> std::result::Result<TxnFile, (usize, String)> {
    let mut r = Reader::new(text.as_bytes());
    let wrapped = r.peek_collection();
    if wrapped.is_some() {
        r.open();
    }
    let mut open: HashMap<i64, (u64, Edn)> = HashMap::new();
    let mut txns = Vec::new();
    let mut bank = Vec::new();
    let mut clock = 0u64;
    loop {
        if let Some(c) = wrapped {
            if r.close(c) {
                break;
            }
        }
        if r.at_end() {
            break;
        }
        let line = r.line();
        let op = r.value().map_err(|e| (line, e))?;
        let bad = |m: &str| (line, m.to_string());
        let ty = kw(op.get("type")).ok_or_else(|| bad("an operation without :type"))?;
        let f = kw(op.get("f")).ok_or_else(|| bad("an operation without :f"))?;
        let process = int(op.get("process"))
            .ok_or_else(|| bad("an operation without an integer :process"))?;
        clock = match int(op.get("time")).or(int(op.get("index"))) {
            Some(t) => u(t, "time").map_err(|e| bad(&e))?,
            None => clock + 1,
        };
        let value = op.get("value").cloned().unwrap_or(Edn::Nil);
        if ty == "invoke" {
            open.insert(process, (clock, value));
            continue;
        }
        let outcome = match ty {
            "ok" => Outcome::Ok,
            "fail" => Outcome::Fail,
            "info" => Outcome::Info,
            other => {
                return Err(bad(&format!(
                    ":type :{other} is not :invoke, :ok, :fail or :info"
                )))
            }
        };
        let Some((invoked, asked)) = open.remove(&process) else {
            return Err(bad(&format!(
                "process {process} completes an operation it never invoked"
            )));
        };
        let error = op.get("error").map(|e| match e {
            Edn::Str(s) => s.clone(),
            other => format!("{other:?}"),
        });
        let proc_u = u(process, "process").map_err(|e| bad(&e))?;
        if f == "txn" {
            // A completion that did not commit may repeat the invocation; its reads are unknown.
            let source = if outcome == Outcome::Ok || value != Edn::Nil {
                &value
            } else {
                &asked
            };
            let mut mops = parse_mops(source).map_err(|e| bad(&e))?;
            if outcome != Outcome::Ok {
                for m in &mut mops {
                    if let Mop::Read(_, l) = m {
                        *l = None;
                    }
                }
            }
            txns.push(Txn {
                process: proc_u,
                outcome,
                invoked,
                completed: Some(clock),
                mops,
            });
        } else {
            let source = if f == "transfer" && value == Edn::Nil {
                &asked
            } else {
                &value
            };
            let kind = parse_bank(f, source).map_err(|e| bad(&e))?;
            let kind = match (outcome, kind) {
                (Outcome::Ok, k) => k,
                (_, BankOpKind::Read(_)) => BankOpKind::Read(None),
                (_, k) => k,
            };
            bank.push(BankOp {
                node: 0,
                reader: false,
                process: proc_u,
                outcome,
                invoked,
                completed: clock,
                kind,
                error,
            });
        }
    }
    // Invoked and never completed: unknown.
    let mut pending: Vec<(i64, (u64, Edn))> = open.into_iter().collect();
    pending.sort_by_key(|(p, (t, _))| (*t, *p));
    for (process, (invoked, asked)) in pending {
        if let Ok(mut mops) = parse_mops(&asked) {
            for m in &mut mops {
                if let Mop::Read(_, l) = m {
                    *l = None;
                }
            }
            txns.push(Txn {
                process: process as u64,
                outcome: Outcome::Info,
                invoked,
                completed: None,
                mops,
            });
        }
    }
    if !bank.is_empty() && !txns.is_empty() {
        return Err((
            1,
            "the history mixes list-append :txn and bank operations".into(),
        ));
    }
    Ok(if bank.is_empty() {
        TxnFile::ListAppend(txns)
    } else {
        TxnFile::Bank(bank)
    })
}

/// What a transactional history file was checked to be.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "workload", rename_all = "kebab-case")]
pub enum FileVerdict {
    /// A list-append history's verdict.
    ListAppend(ListAppendVerdict),
    /// A bank history's verdict.
    Bank(BankCheck),
}

impl FileVerdict {
    /// Whether the checker found nothing.
    pub fn valid(&self) -> bool {
        match self {
            FileVerdict::ListAppend(v) => v.anomalies.is_empty(),
            FileVerdict::Bank(b) => b.is_clean(),
        }
    }

    /// The verdict for people.
    pub fn render(&self) -> String {
        let mut out = String::new();
        match self {
            FileVerdict::ListAppend(v) => super::summary::render_list_append(&mut out, v),
            FileVerdict::Bank(b) => super::summary::render_bank(&mut out, b),
        }
        out
    }
}

/// The bank's accounts and total as the file's first comment line states them (`8 accounts,
/// total 80`, as Perseus writes it), else as the reads show them: the most accounts one read saw,
/// and the total most reads saw.
fn bank_shape(text: &str, ops: &[BankOp]) -> (u64, i64) {
    let stated = text
        .lines()
        .next()
        .filter(|l| l.starts_with(';'))
        .and_then(|l| {
            let words: Vec<&str> = l
                .split(|c: char| c.is_whitespace() || c == ',' || c == ')')
                .collect();
            let accounts = words
                .windows(2)
                .find(|w| w[1] == "accounts")
                .and_then(|w| w[0].parse().ok())?;
            let total = words
                .windows(2)
                .find(|w| w[0] == "total")
                .and_then(|w| w[1].parse().ok())?;
            Some((accounts, total))
        });
    if let Some(s) = stated {
        return s;
    }
    let reads = ops.iter().filter_map(|o| match &o.kind {
        BankOpKind::Read(Some(b)) if o.outcome == Outcome::Ok => Some(b),
        _ => None,
    });
    let mut totals: HashMap<i64, u64> = HashMap::new();
    let mut accounts = 0;
    for b in reads {
        accounts = accounts.max(b.len() as u64);
        *totals.entry(b.iter().map(|(_, v)| v).sum()).or_default() += 1;
    }
    let total = totals
        .into_iter()
        .max_by_key(|(t, n)| (*n, -t))
        .map_or(0, |(t, _)| t);
    (accounts, total)
}

/// Check the list-append or bank history in `path` ([`read_text`], then the checker).
///
/// Errors: [`Error::Io`] when it cannot be read, [`crate::error::HistoryError::NotAnOperation`]
/// with the line and why when it is not such a history.
pub fn check_file(path: &Path) -> Result<FileVerdict> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        context: format!("reading {}", path.display()),
        source,
    })?;
    let parsed = read_text(&text).map_err(|(line, why)| {
        Error::from(crate::error::HistoryError::NotAnOperation {
            path: path.to_path_buf(),
            line,
            why,
        })
    })?;
    Ok(match parsed {
        TxnFile::ListAppend(txns) => FileVerdict::ListAppend(list_append_verdict(&txns, &|_| None)),
        TxnFile::Bank(ops) => {
            let (accounts, total) = bank_shape(&text, &ops);
            FileVerdict::Bank(super::bank::check(&ops, accounts, total))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::run::TxnRecord;
    use crate::workload::{Isolation, Workload};

    fn history() -> TxnHistory {
        let t = |process, outcome, invoked, completed, mops| TxnRecord {
            node: 0,
            reader: false,
            txn: Txn {
                process,
                outcome,
                invoked,
                completed: Some(completed),
                mops,
            },
            error: (outcome != Outcome::Ok).then(|| "ERROR 40001: \"could not serialize\"".into()),
        };
        TxnHistory {
            run_id: "r1-ab".into(),
            workload: Workload::ListAppend,
            isolation: Some(Isolation::Serializable),
            read_port: None,
            nodes: vec!["n1".into()],
            txns: vec![
                t(
                    0,
                    Outcome::Ok,
                    10,
                    20,
                    vec![Mop::Append(3, 1), Mop::Read(4, Some(vec![]))],
                ),
                t(
                    1,
                    Outcome::Ok,
                    15,
                    30,
                    vec![Mop::Read(3, Some(vec![1])), Mop::Append(4, 1)],
                ),
                t(
                    0,
                    Outcome::Fail,
                    25,
                    40,
                    vec![Mop::Append(3, 2), Mop::Read(4, None)],
                ),
                t(1, Outcome::Info, 35, 50, vec![Mop::Append(4, 2)]),
            ],
            bank: Vec::new(),
            bank_total: 80,
            connect_errors: vec![0],
            end_ns: 60,
            interrupted: false,
        }
    }

    #[test]
    fn a_list_append_history_is_elles_format_and_reads_back_the_same() {
        let h = history();
        let text = render(&h);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("; perseus list-append history of run r1-ab (serializable)"));
        assert_eq!(
            lines[1],
            "{:index 0, :type :invoke, :f :txn, :value [[:append 3 1] [:r 4 nil]], :process 0, :time 10}"
        );
        assert_eq!(
            lines[3],
            "{:index 2, :type :ok, :f :txn, :value [[:append 3 1] [:r 4 []]], :process 0, :time 20}"
        );
        let fail = lines.iter().find(|l| l.contains(":type :fail")).unwrap();
        assert!(
            fail.contains(r#":error "ERROR 40001: \"could not serialize\"""#),
            "{fail}"
        );
        let TxnFile::ListAppend(back) = read_text(&text).unwrap() else {
            panic!("not a list-append history")
        };
        let orig: Vec<Txn> = h.txns.iter().map(|r| r.txn.clone()).collect();
        assert_eq!(back, orig);
        assert!(is_txn_history(&text));
    }

    #[test]
    fn a_bank_history_is_jepsens_format_and_reads_back_the_same() {
        let mut h = history();
        h.workload = Workload::Bank;
        h.txns.clear();
        h.bank = vec![
            BankOp {
                node: 0,
                reader: false,
                process: 0,
                outcome: Outcome::Ok,
                invoked: 1,
                completed: 2,
                kind: BankOpKind::Transfer {
                    from: 1,
                    to: 2,
                    amount: 5,
                },
                error: None,
            },
            BankOp {
                node: 0,
                reader: false,
                process: 1,
                outcome: Outcome::Ok,
                invoked: 3,
                completed: 4,
                kind: BankOpKind::Read(Some(vec![(0, 10), (1, 5), (2, 15)])),
                error: None,
            },
        ];
        let text = render(&h);
        assert!(
            text.contains(":f :transfer, :value {:from 1, :to 2, :amount 5}"),
            "{text}"
        );
        assert!(
            text.contains(":type :ok, :f :read, :value {0 10, 1 5, 2 15}"),
            "{text}"
        );
        assert!(
            text.contains(":type :invoke, :f :read, :value nil"),
            "{text}"
        );
        assert_eq!(read_text(&text).unwrap(), TxnFile::Bank(h.bank.clone()));
    }

    #[test]
    fn a_jepsen_history_in_one_vector_without_times_reads_by_index() {
        let text = "[{:type :invoke, :f :txn, :value [[:r 1 nil]], :process 0, :index 0}\n\
                    {:type :ok, :f :txn, :value [[:r 1 [1]]], :process 0, :index 1}]";
        let TxnFile::ListAppend(t) = read_text(text).unwrap() else {
            panic!()
        };
        assert_eq!(t[0].mops, vec![Mop::Read(1, Some(vec![1]))]);
        assert_eq!((t[0].invoked, t[0].completed), (0, Some(1)));
        let e = read_text("{:type :ok, :f :txn, :value [], :process 3}").unwrap_err();
        assert_eq!(
            e,
            (
                1,
                "process 3 completes an operation it never invoked".into()
            )
        );
    }
}
