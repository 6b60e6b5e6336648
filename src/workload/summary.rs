//! What a transactional run concluded ([`TxnSummary`]): outcomes per node, the errors, and the
//! checker's verdict: for list-append the anomalies by name, the models they rule out, a few of
//! each explained with their transactions, and anomalies per second; for the bank the wrong reads
//! and the totals read each second. Its JSON (`perseus load --json`) is a stable contract,
//! documented in docs/workloads.md: fields are added, never renamed or removed.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::bank::{self, BankCheck};
use super::history::mops_edn;
use super::run::{errors, outcomes, TxnHistory};
use super::{Isolation, Workload, ACCOUNTS};
use crate::checker::list_append::{self, Anomaly, Model, Outcome, Txn};
use crate::node::NodeName;

/// Anomalies of one name explained in full; the rest are counted.
pub const SHOWN_PER_NAME: usize = 2;

/// One node's transactions by outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeOutcomes {
    /// The node.
    pub node: NodeName,
    /// Committed (`ok`).
    pub ok: u64,
    /// Definitely not committed (`fail`), a bank transfer refused for want of money included.
    pub fail: u64,
    /// Unknown (`info`).
    pub info: u64,
    /// With `--replica-reads`: of the committed, those run at the node's read port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ok_at_read_port: Option<u64>,
    /// Connects that failed.
    pub connect_errors: u64,
}

/// A transaction as the summary shows it beside an anomaly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TxnView {
    /// Its number in the checked history (`T12` in the explanations).
    pub index: usize,
    /// The node its client was on (`None` in a history read from a file).
    pub node: Option<NodeName>,
    /// Whether it ran at the node's read port (`--replica-reads`), not through its client port.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reader: bool,
    /// Its process.
    pub process: u64,
    /// How it ended.
    pub outcome: Outcome,
    /// Invoked, s since the load began.
    pub invoked_s: f64,
    /// Completed, s since the load began.
    pub completed_s: Option<f64>,
    /// Its micro-operations as Elle writes them (`[[:append 3 1] [:r 4 [1 2]]]`).
    pub value: String,
}

/// The list-append checker's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListAppendVerdict {
    /// Transactions checked (every outcome).
    pub txns: usize,
    /// How many anomalies of each name (`G-single`: 3).
    pub anomalies: BTreeMap<String, u64>,
    /// The models the anomalies rule out, weakest first (empty: none is).
    pub ruled_out: Vec<Model>,
    /// The strongest model of Elle's lattice the history is consistent with, when one is.
    pub strongest_allowed: Option<Model>,
    /// Up to [`SHOWN_PER_NAME`] anomalies of each name with their cycles and explanations.
    pub shown: Vec<Anomaly>,
    /// The transactions the shown anomalies name.
    pub txns_shown: Vec<TxnView>,
    /// Anomalies per 1-based second (`[sec-1, sec)`), placed at the completion of the last of
    /// their transactions, when the anomaly became observable; seconds without one left out.
    pub per_second: BTreeMap<u64, u64>,
    /// Every anomaly's name and when it became observable (ns since the load began), for the
    /// fault windows.
    #[serde(skip)]
    pub placed: Vec<(String, u64)>,
}

/// What the transactions did between two moments of a scenario: before its first fault, or
/// from one step's firing to the next (so a kill, then the heal or start that undoes it, makes
/// the windows before, during and after the fault).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TxnWindow {
    /// What opened it: `before the first fault`, or the step as it fired (`kill n1 (leader)`).
    pub after: String,
    /// Its start, s since the load began.
    pub from_s: f64,
    /// Its end, s.
    pub to_s: f64,
    /// Transactions (or bank operations) that completed in it, by outcome.
    pub ok: u64,
    /// Definitely not committed.
    pub fail: u64,
    /// Unknown.
    pub info: u64,
    /// Anomalies that became observable in it, by name (list-append: when the last transaction
    /// of the anomaly completed; bank: when the wrong read completed).
    pub anomalies: BTreeMap<String, u64>,
}

/// What a transactional run concluded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TxnSummary {
    /// The run.
    pub run_id: String,
    /// `list-append` or `bank`.
    pub workload: Workload,
    /// The isolation level asked for (`null`: the system's default).
    pub isolation: Option<Isolation>,
    /// With `--replica-reads`: the port, inside each node, read-only transactions ran at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_port: Option<u16>,
    /// How long the clients ran, s.
    pub duration_s: f64,
    /// Whether it was interrupted.
    pub interrupted: bool,
    /// Outcomes per node, in node order.
    pub nodes: Vec<NodeOutcomes>,
    /// The errors transactions ended with, most frequent first: `(text, count)`.
    pub errors: Vec<(String, u64)>,
    /// The list-append verdict.
    pub list_append: Option<ListAppendVerdict>,
    /// The bank verdict.
    pub bank: Option<BankCheck>,
    /// Whether the checker found nothing.
    pub valid: bool,
    /// Per fault window, in a scenario (empty for `perseus load`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub windows: Vec<TxnWindow>,
}

fn secs(ns: u64) -> f64 {
    (ns as f64 / 1e9 * 1000.0).round() / 1000.0
}

/// Check `history` and sum it up.
pub fn summarize(history: &TxnHistory) -> TxnSummary {
    let per = outcomes(history);
    let nodes = history
        .nodes
        .iter()
        .zip(per)
        .zip(&history.connect_errors)
        .map(|((node, (ok, fail, info, at_read_port)), c)| NodeOutcomes {
            node: node.clone(),
            ok,
            fail,
            info,
            ok_at_read_port: history.read_port.map(|_| at_read_port),
            connect_errors: *c,
        })
        .collect();
    let (list_append, bank) = match history.workload {
        Workload::Bank => (
            None,
            Some(bank::check(&history.bank, ACCOUNTS, history.bank_total)),
        ),
        _ => {
            let txns: Vec<Txn> = history.txns.iter().map(|r| r.txn.clone()).collect();
            let node = |i: usize| {
                history
                    .txns
                    .get(i)
                    .map(|r| (history.nodes[r.node].clone(), r.reader))
            };
            (Some(list_append_verdict(&txns, &node)), None)
        }
    };
    let valid = list_append.as_ref().is_none_or(|v| v.anomalies.is_empty())
        && bank.as_ref().is_none_or(BankCheck::is_clean);
    TxnSummary {
        run_id: history.run_id.clone(),
        workload: history.workload,
        isolation: history.isolation,
        read_port: history.read_port,
        duration_s: secs(history.end_ns),
        interrupted: history.interrupted,
        nodes,
        errors: errors(history),
        list_append,
        bank,
        valid,
        windows: Vec::new(),
    }
}

/// Cut the run at `cuts` (each a step's firing: s since the load began, and what it did, in
/// time order) and count per window what completed and which anomalies became observable.
pub fn windows(
    summary: &TxnSummary,
    history: &TxnHistory,
    cuts: &[(f64, String)],
) -> Vec<TxnWindow> {
    let end_s = secs(history.end_ns);
    let mut bounds = vec![(0.0, "before the first fault".to_string())];
    bounds.extend(cuts.iter().cloned());
    let mut out: Vec<TxnWindow> = bounds
        .iter()
        .enumerate()
        .map(|(i, (from, after))| TxnWindow {
            after: after.clone(),
            from_s: *from,
            to_s: bounds.get(i + 1).map_or(end_s.max(*from), |b| b.0),
            ok: 0,
            fail: 0,
            info: 0,
            anomalies: BTreeMap::new(),
        })
        .collect();
    let which = |ns: u64| {
        let t = ns as f64 / 1e9;
        out.iter().rposition(|w| w.from_s <= t).unwrap_or(0)
    };
    let completions: Vec<(u64, Outcome)> = history
        .txns
        .iter()
        .map(|r| (r.txn.completed.unwrap_or(history.end_ns), r.txn.outcome))
        .chain(history.bank.iter().map(|o| (o.completed, o.outcome)))
        .collect();
    let mut marks: Vec<(usize, Option<Outcome>, Option<String>)> = completions
        .into_iter()
        .map(|(ns, o)| (which(ns), Some(o), None))
        .collect();
    if let Some(v) = &summary.list_append {
        marks.extend(
            v.placed
                .iter()
                .map(|(n, ns)| (which(*ns), None, Some(n.clone()))),
        );
    }
    if let Some(b) = &summary.bank {
        marks.extend(
            b.anomalies
                .iter()
                .map(|a| (which(a.at_ns), None, Some(a.kind.name().to_string()))),
        );
    }
    for (w, outcome, anomaly) in marks {
        let w = &mut out[w];
        match outcome {
            Some(Outcome::Ok) => w.ok += 1,
            Some(Outcome::Fail) => w.fail += 1,
            Some(Outcome::Info) => w.info += 1,
            None => {}
        }
        if let Some(n) = anomaly {
            *w.anomalies.entry(n).or_default() += 1;
        }
    }
    out
}

/// Check list-append transactions (in the order given, which names them `T0`, `T1`, ...) and
/// sum up what was found; `node` says which node a transaction ran on, and whether at its read
/// port, where that is known.
pub fn list_append_verdict(
    txns: &[Txn],
    node: &dyn Fn(usize) -> Option<(NodeName, bool)>,
) -> ListAppendVerdict {
    let check = list_append::check(txns);
    let mut anomalies: BTreeMap<String, u64> = BTreeMap::new();
    let mut per_second: BTreeMap<u64, u64> = BTreeMap::new();
    let mut placed = Vec::new();
    let mut shown = Vec::new();
    for a in &check.anomalies {
        let n = anomalies.entry(a.name.clone()).or_default();
        *n += 1;
        if *n as usize <= SHOWN_PER_NAME {
            shown.push(a.clone());
        }
        let last = a
            .txns
            .iter()
            .filter_map(|&t| txns.get(t).and_then(|t| t.completed))
            .max()
            .unwrap_or(0);
        *per_second.entry(last / 1_000_000_000 + 1).or_default() += 1;
        placed.push((a.name.clone(), last));
    }
    let mut named: Vec<usize> = shown.iter().flat_map(|a| a.txns.iter().copied()).collect();
    named.sort_unstable();
    named.dedup();
    let txns_shown = named
        .into_iter()
        .filter_map(|i| {
            let t = txns.get(i)?;
            let (node, reader) = node(i).map_or((None, false), |(n, r)| (Some(n), r));
            Some(TxnView {
                index: i,
                node,
                reader,
                process: t.process,
                outcome: t.outcome,
                invoked_s: secs(t.invoked),
                completed_s: t.completed.map(secs),
                value: mops_edn(&t.mops, true),
            })
        })
        .collect();
    let strongest_allowed = Model::ALL
        .iter()
        .rev()
        .copied()
        .find(|m| !check.ruled_out.contains(m));
    ListAppendVerdict {
        txns: check.txns,
        anomalies,
        ruled_out: check.ruled_out.clone(),
        strongest_allowed,
        shown,
        txns_shown,
        per_second,
        placed,
    }
}

impl TxnSummary {
    /// The summary for people: outcomes, errors, then the verdict with its explanations.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let (ok, fail, info) = self
            .nodes
            .iter()
            .fold((0, 0, 0), |a, n| (a.0 + n.ok, a.1 + n.fail, a.2 + n.info));
        let _ = writeln!(
            out,
            "{} run {} ({}{}), {:.1} s{}: {ok} ok, {fail} fail, {info} info",
            self.workload,
            self.run_id,
            self.isolation
                .map_or("the system's default isolation", |i| i.name()),
            super::reads_at(self.read_port),
            self.duration_s,
            if self.interrupted {
                ", interrupted"
            } else {
                ""
            },
        );
        for n in &self.nodes {
            let _ = writeln!(
                out,
                "  {}\tok {}{}\tfail {}\tinfo {}\tconnect errors {}",
                n.node,
                n.ok,
                n.ok_at_read_port
                    .map_or(String::new(), |r| format!(" ({r} at the read port)")),
                n.fail,
                n.info,
                n.connect_errors
            );
        }
        for (e, c) in self.errors.iter().take(5) {
            let _ = writeln!(out, "  {c}x {e}");
        }
        if let Some(v) = &self.list_append {
            render_list_append(&mut out, v);
        }
        if let Some(b) = &self.bank {
            render_bank(&mut out, b);
        }
        if !self.windows.is_empty() {
            let _ = writeln!(
                out,
                "per fault window (from..to s: ok fail info, anomalies):"
            );
        }
        for w in &self.windows {
            let a: Vec<String> = w
                .anomalies
                .iter()
                .map(|(n, c)| format!("{n} {c}"))
                .collect();
            let _ = writeln!(
                out,
                "  {:.2}..{:.2} s, {}: {} {} {}, {}",
                w.from_s,
                w.to_s,
                w.after,
                w.ok,
                w.fail,
                w.info,
                if a.is_empty() {
                    "no anomaly".to_string()
                } else {
                    a.join(", ")
                }
            );
        }
        out
    }
}

/// The list-append verdict for people: the anomalies by name, the models ruled out, anomalies
/// per second, and each shown anomaly explained with its transactions.
pub fn render_list_append(out: &mut String, v: &ListAppendVerdict) {
    if v.anomalies.is_empty() {
        let _ = writeln!(
            out,
            "list-append check: {} transactions, no anomaly: consistent with {}",
            v.txns,
            v.strongest_allowed.map_or("every model", Model::name)
        );
        return;
    }
    let names: Vec<String> = v
        .anomalies
        .iter()
        .map(|(n, c)| format!("{n} {c}"))
        .collect();
    let _ = writeln!(
        out,
        "list-append check: {} transactions, anomalies: {}",
        v.txns,
        names.join(", ")
    );
    let _ = writeln!(
        out,
        "  rules out: {}",
        v.ruled_out
            .iter()
            .map(|m| m.name())
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let Some(m) = v.strongest_allowed {
        let _ = writeln!(out, "  consistent with: {m} (and weaker)");
    }
    let per: Vec<String> = v
        .per_second
        .iter()
        .map(|(s, c)| format!("{s}:{c}"))
        .collect();
    let _ = writeln!(out, "  per second (second:count): {}", per.join(" "));
    for a in &v.shown {
        let _ = writeln!(out, "  {}: {}", a.name, a.explanation);
        for t in v.txns_shown.iter().filter(|t| a.txns.contains(&t.index)) {
            let _ = writeln!(
                out,
                "    T{} = {}{} (process {}, {:.3} s to {}): {}",
                t.index,
                match t.outcome {
                    Outcome::Ok => "ok",
                    Outcome::Fail => "fail",
                    Outcome::Info => "info",
                },
                match (&t.node, t.reader) {
                    (Some(n), true) => format!(" on {n}'s read port"),
                    (Some(n), false) => format!(" on {n}"),
                    (None, _) => String::new(),
                },
                t.process,
                t.invoked_s,
                t.completed_s
                    .map_or("never".into(), |c| format!("{c:.3} s")),
                t.value
            );
        }
    }
}

/// The bank verdict for people: the wrong reads, then the totals read each second.
pub fn render_bank(out: &mut String, b: &BankCheck) {
    let counts = b.counts();
    if counts.is_empty() {
        let _ = writeln!(
            out,
            "bank check: {} reads, {} transfers, every read saw the total {} across {} accounts",
            b.reads, b.transfers, b.total, b.accounts
        );
    } else {
        let c: Vec<String> = counts.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let _ = writeln!(
            out,
            "bank check: {} reads, {} transfers, wrong reads: {} (total should be {})",
            b.reads,
            b.transfers,
            c.join(", "),
            b.total
        );
        for a in b.anomalies.iter().take(3) {
            let _ = writeln!(
                out,
                "  {} at {:.3} s: total {} in {:?}",
                a.kind.name(),
                secs(a.at_ns),
                a.total,
                a.balances
            );
        }
    }
    let _ = writeln!(out, "  totals read per second (second: reads min..max):");
    for s in &b.per_second {
        let _ = writeln!(
            out,
            "  {}\t{}\t{}",
            s.sec,
            s.reads,
            match (s.min, s.max) {
                (Some(a), Some(z)) if a == z => a.to_string(),
                (Some(a), Some(z)) => format!("{a}..{z}"),
                _ => "-".into(),
            }
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::list_append::Mop;
    use crate::workload::run::TxnRecord;

    fn txn(process: u64, at_s: f64, mops: Vec<Mop>) -> TxnRecord {
        let ns = (at_s * 1e9) as u64;
        TxnRecord {
            node: (process % 2) as usize,
            reader: false,
            txn: Txn {
                process,
                outcome: Outcome::Ok,
                invoked: ns,
                completed: Some(ns + 1_000_000),
                mops,
            },
            error: None,
        }
    }

    #[test]
    fn anomalies_are_counted_in_the_fault_window_where_they_became_observable() {
        use Mop::{Append as A, Read as R};
        // A lost update at 5 s (both read [] and appended), a clean stretch before and after.
        let history = TxnHistory {
            run_id: "r".into(),
            workload: Workload::ListAppend,
            isolation: None,
            read_port: None,
            nodes: vec!["n1".into(), "n2".into()],
            txns: vec![
                txn(0, 1.0, vec![A(1, 1)]),
                txn(1, 2.0, vec![R(1, Some(vec![1]))]),
                txn(0, 5.0, vec![R(2, Some(vec![])), A(2, 1)]),
                txn(1, 5.0, vec![R(2, Some(vec![])), A(2, 2)]),
                txn(0, 9.0, vec![R(2, Some(vec![1, 2]))]),
            ],
            bank: Vec::new(),
            bank_total: 80,
            connect_errors: vec![0, 0],
            end_ns: 12_000_000_000,
            interrupted: false,
        };
        let s = summarize(&history);
        let v = s.list_append.as_ref().unwrap();
        assert!(v.anomalies.contains_key("lost-update"), "{:?}", v.anomalies);
        let cuts = vec![(4.0, "kill n1".to_string()), (8.0, "start n1".to_string())];
        let w = windows(&s, &history, &cuts);
        assert_eq!(w.len(), 3);
        assert_eq!(
            (w[0].after.as_str(), w[0].from_s, w[0].to_s),
            ("before the first fault", 0.0, 4.0)
        );
        assert_eq!((w[0].ok, w[1].ok, w[2].ok), (2, 2, 1));
        assert!(w[0].anomalies.is_empty() && w[2].anomalies.is_empty());
        assert_eq!(w[1].anomalies.get("lost-update"), Some(&1));
        assert_eq!((w[2].from_s, w[2].to_s), (8.0, 12.0));
        assert!(!s.valid);
        let text = s.render();
        assert!(text.contains("lost-update"), "{text}");
        assert!(text.contains("on n1") || text.contains("on n2"), "{text}");
    }
}
