//! What a transactional run concluded ([`TxnSummary`]): outcomes per node, the errors, and the
//! checker's verdict: for list-append the anomalies by name, the models they rule out, a few of
//! each explained with their transactions, and anomalies per second; for the bank the wrong reads
//! and the totals read each second. Its JSON (`perseus load --json`) is a stable contract,
//! documented in docs/workloads.md: fields are added, never renamed or removed.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::bank::{self, BankCheck};
use super::run::{errors, outcomes, TxnHistory};
use super::{Isolation, Workload, ACCOUNTS};
use crate::checker::list_append::{self, Anomaly, Model, Mop, Outcome, Txn};
use crate::node::NodeName;

/// Anomalies of one name explained in full; the rest are counted.
pub const SHOWN_PER_NAME: usize = 2;

/// One node's transactions by outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeOutcomes {
    /// The node.
    pub node: NodeName,
    /// Committed (`ok`).
    pub ok: u64,
    /// Definitely not committed (`fail`), a bank transfer refused for want of money included.
    pub fail: u64,
    /// Unknown (`info`).
    pub info: u64,
    /// Connects that failed.
    pub connect_errors: u64,
}

/// A transaction as the summary shows it beside an anomaly.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TxnView {
    /// Its number in the checked history (`T12` in the explanations).
    pub index: usize,
    /// The node its client was on (`None` in a history read from a file).
    pub node: Option<NodeName>,
    /// Its process.
    pub process: u64,
    /// How it ended.
    pub outcome: Outcome,
    /// Invoked, s since the load began.
    pub invoked_s: f64,
    /// Completed, s since the load began.
    pub completed_s: Option<f64>,
    /// Its micro-operations as Elle writes them (`[:append 3 1] [:r 4 [1 2]]`).
    pub value: String,
}

/// The list-append checker's verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
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
}

/// What a transactional run concluded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TxnSummary {
    /// The run.
    pub run_id: String,
    /// `list-append` or `bank`.
    pub workload: Workload,
    /// The isolation level asked for (`null`: the system's default).
    pub isolation: Option<Isolation>,
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
}

fn secs(ns: u64) -> f64 {
    (ns as f64 / 1e9 * 1000.0).round() / 1000.0
}

/// Elle's text for a transaction's micro-operations.
pub fn elle_value(mops: &[Mop]) -> String {
    mops.iter()
        .map(|m| match m {
            Mop::Append(k, e) => format!("[:append {k} {e}]"),
            Mop::Read(k, Some(l)) => format!(
                "[:r {k} [{}]]",
                l.iter().map(u64::to_string).collect::<Vec<_>>().join(" ")
            ),
            Mop::Read(k, None) => format!("[:r {k} nil]"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Check `history` and sum it up.
pub fn summarize(history: &TxnHistory) -> TxnSummary {
    let per = outcomes(history);
    let nodes = history
        .nodes
        .iter()
        .zip(per)
        .zip(&history.connect_errors)
        .map(|((node, (ok, fail, info)), c)| NodeOutcomes {
            node: node.clone(),
            ok,
            fail,
            info,
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
            let node = |i: usize| history.txns.get(i).map(|r| history.nodes[r.node].clone());
            (Some(list_append_verdict(&txns, &node)), None)
        }
    };
    let valid = list_append.as_ref().is_none_or(|v| v.anomalies.is_empty())
        && bank.as_ref().is_none_or(BankCheck::is_clean);
    TxnSummary {
        run_id: history.run_id.clone(),
        workload: history.workload,
        isolation: history.isolation,
        duration_s: secs(history.end_ns),
        interrupted: history.interrupted,
        nodes,
        errors: errors(history),
        list_append,
        bank,
        valid,
    }
}

/// Check list-append transactions (in the order given, which names them `T0`, `T1`, ...) and
/// sum up what was found; `node` says which node a transaction ran on, where that is known.
pub fn list_append_verdict(
    txns: &[Txn],
    node: &dyn Fn(usize) -> Option<NodeName>,
) -> ListAppendVerdict {
    let check = list_append::check(txns);
    let mut anomalies: BTreeMap<String, u64> = BTreeMap::new();
    let mut per_second: BTreeMap<u64, u64> = BTreeMap::new();
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
    }
    let mut named: Vec<usize> = shown.iter().flat_map(|a| a.txns.iter().copied()).collect();
    named.sort_unstable();
    named.dedup();
    let txns_shown = named
        .into_iter()
        .filter_map(|i| {
            let t = txns.get(i)?;
            Some(TxnView {
                index: i,
                node: node(i),
                process: t.process,
                outcome: t.outcome,
                invoked_s: secs(t.invoked),
                completed_s: t.completed.map(secs),
                value: elle_value(&t.mops),
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
            "{} run {} ({}), {:.1} s{}: {ok} ok, {fail} fail, {info} info",
            self.workload,
            self.run_id,
            self.isolation
                .map_or("the system's default isolation", |i| i.name()),
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
                "  {}\tok {}\tfail {}\tinfo {}\tconnect errors {}",
                n.node, n.ok, n.fail, n.info, n.connect_errors
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
                t.node
                    .as_ref()
                    .map_or(String::new(), |n| format!(" on {n}")),
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
