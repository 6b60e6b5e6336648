//! A checker of transactional histories over append-only lists, in the family of Elle
//! (Kingsbury & Alvaro, "Elle: Inferring Isolation Anomalies from Experimental Observations",
//! VLDB 2020), with Adya's names for what it finds (Adya, "Weak Consistency", MIT 1999).
//!
//! A transaction is a list of micro-operations on keys: appends of a value unique per key, and
//! reads of a key's whole list. Because every read returns the list of every append that
//! preceded it, the longest read of a key gives that key's version order, and every other read
//! must be a prefix of it. From the version orders the checker infers who depended on whom:
//!
//! | edge | meaning |
//! | --- | --- |
//! | `ww` | T1 appended an element and T2 appended the next one of the same key |
//! | `wr` | T2 read a list whose last element T1 appended |
//! | `rw` | T1 read a list, and T2 appended the element that comes right after it |
//! | `process` | T1 and T2 ran one after the other on the same process |
//! | `realtime` | T1 completed before T2 was invoked |
//!
//! Every cycle of these edges is an anomaly, named by the edges it needs: G0 (only `ww`), G1c
//! (`ww` and `wr`), G-single (exactly one `rw`), G-nonadjacent (several `rw`, no two in a row:
//! Jepsen's long fork), G2-item (`rw` edges in a row: write skew); a cycle that needs `process` or
//! `realtime` edges too gets that suffix (`G-single-realtime`: a stale read). Beside the cycles:
//! G1a (a read of an aborted append), G1b (a read of an intermediate state), lost update (two
//! transactions read the same state of a key and both appended to it: Berenson's P4), internal
//! inconsistency (a transaction that does not see its own reads and appends), a non-repeatable
//! read (Berenson's P2: a transaction reads a key again and finds others' appends after what it
//! read before, and before its own: what READ COMMITTED allows and REPEATABLE READ forbids),
//! duplicate
//! elements, reads of elements never appended, and reads whose orders disagree. Each anomaly
//! rules out the consistency models that proscribe it ([`Model`]).
//!
//! Cycles are found through strongly connected components (`petgraph`'s Kosaraju, without
//! recursion), linear in the history's edges: a G0 exists exactly when a `ww` edge lies inside a component of the graph of
//! `ww` edges, a G1c when a `wr` edge lies inside one of the graph of `ww` and `wr` edges, and a
//! cycle through an `rw` edge when it lies inside one of the whole graph; a G-single is looked for
//! from the `rw` edges of such a component (at most 512 of them, each a breadth-first search of
//! the component without `rw` edges), a G-nonadjacent in the graph of states that remember
//! whether the last edge was `rw`. Each cycle reported is drawn by a breadth-first search inside
//! its component, so it is a shortest one through its first edge. The real-time edges are a
//! reduction: each transaction links to the completions no later completion has followed, not
//! to every one before it.
//!
//! Proved against serializability and strict serializability by their definitions
//! ([`crate::checker`]'s tests run both by brute force over 20,000 random histories each).

mod graph;
mod model;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use graph::Graph;
pub use model::{Anomaly, Check, Edge, Element, Key, Kind, Model, Mop, Order, Outcome, Step, Txn};

/// Who appended what: the transaction and its place among that transaction's appends to the key.
#[derive(Debug, Clone, Copy)]
struct Writer {
    txn: usize,
    /// Whether it was the transaction's last append to the key.
    last: bool,
}

/// Check a history of list-append transactions, in the order given (their indexes name them in
/// what is found).
pub fn check(history: &[Txn]) -> Check {
    let mut found: Vec<Anomaly> = Vec::new();

    // Who appended each element of each key.
    let mut writers: HashMap<(Key, Element), Writer> = HashMap::new();
    for (t, txn) in history.iter().enumerate() {
        let mut last_append: HashMap<Key, Element> = HashMap::new();
        for m in &txn.mops {
            if let Mop::Append(k, v) = m {
                last_append.insert(*k, *v);
                writers.insert(
                    (*k, *v),
                    Writer {
                        txn: t,
                        last: false,
                    },
                );
            }
        }
        for (k, v) in last_append {
            if let Some(w) = writers.get_mut(&(k, v)) {
                w.last = true;
            }
        }
    }

    // The reads that tell: those of committed transactions.
    let committed = |t: usize| history[t].outcome == Outcome::Ok;
    let mut reads: BTreeMap<Key, Vec<(usize, &Vec<Element>)>> = BTreeMap::new();
    for (t, txn) in history.iter().enumerate().filter(|(t, _)| committed(*t)) {
        for m in &txn.mops {
            if let Mop::Read(k, Some(list)) = m {
                reads.entry(*k).or_default().push((t, list));
            }
        }
    }

    // Each key's version order: its longest read, which every other read must prefix.
    let mut order: BTreeMap<Key, Vec<Element>> = BTreeMap::new();
    for (k, rs) in &reads {
        let longest = rs.iter().map(|(_, l)| *l).max_by_key(|l| l.len());
        let longest = longest.cloned().unwrap_or_default();
        for (t, l) in rs {
            if !longest.starts_with(l) {
                let other = rs
                    .iter()
                    .find(|(_, x)| x.len() == longest.len())
                    .map(|(o, _)| *o)
                    .unwrap_or(*t);
                found.push(plain(
                    Kind::IncompatibleOrder,
                    vec![*t, other],
                    format!(
                        "T{t} read key {k} as {l:?}, and T{other} as {longest:?}: neither is a prefix of the other, so the two reads cannot both come from one order of appends"
                    ),
                ));
            }
            let mut seen = BTreeSet::new();
            if let Some(d) = l.iter().find(|e| !seen.insert(**e)) {
                found.push(plain(
                    Kind::DuplicateElements,
                    vec![*t],
                    format!("T{t} read key {k} as {l:?}, in which {d} appears twice"),
                ));
            }
            for e in l.iter() {
                match writers.get(&(*k, *e)) {
                    None => found.push(plain(
                        Kind::GarbageRead,
                        vec![*t],
                        format!("T{t} read {e} in key {k}, which no transaction appended"),
                    )),
                    Some(w) if history[w.txn].outcome == Outcome::Fail => found.push(plain(
                        Kind::G1a,
                        vec![w.txn, *t],
                        format!(
                            "T{t} read {e} in key {k}, appended by T{}, which failed (aborted)",
                            w.txn
                        ),
                    )),
                    _ => {}
                }
            }
            if let Some(w) = l.last().and_then(|e| writers.get(&(*k, *e))) {
                if !w.last && w.txn != *t && history[w.txn].outcome != Outcome::Fail {
                    found.push(plain(
                        Kind::G1b,
                        vec![w.txn, *t],
                        format!(
                            "T{t} read key {k} as {l:?}, ending in {}, which T{} went on to append after",
                            l.last().expect("not empty"),
                            w.txn
                        ),
                    ));
                }
            }
        }
        order.insert(*k, longest);
    }

    // Each transaction against itself: it sees its own reads and appends.
    for (t, txn) in history.iter().enumerate().filter(|(t, _)| committed(*t)) {
        internal(t, txn, &mut found);
    }

    // Lost updates: committed transactions that read one state of a key and appended to it.
    let mut read_then_appended: BTreeMap<(Key, Vec<Element>), Vec<usize>> = BTreeMap::new();
    for (t, txn) in history.iter().enumerate().filter(|(t, _)| committed(*t)) {
        let mut first_read: HashMap<Key, &Vec<Element>> = HashMap::new();
        let mut appended_before_read: BTreeSet<Key> = BTreeSet::new();
        let mut appended: BTreeSet<Key> = BTreeSet::new();
        for m in &txn.mops {
            match m {
                Mop::Read(k, Some(l)) if !appended_before_read.contains(k) => {
                    first_read.entry(*k).or_insert(l);
                }
                Mop::Append(k, _) => {
                    if !first_read.contains_key(k) {
                        appended_before_read.insert(*k);
                    }
                    appended.insert(*k);
                }
                _ => {}
            }
        }
        for (k, l) in first_read {
            if appended.contains(&k) && !appended_before_read.contains(&k) {
                read_then_appended
                    .entry((k, l.clone()))
                    .or_default()
                    .push(t);
            }
        }
    }
    for ((k, l), ts) in read_then_appended {
        if ts.len() > 1 {
            found.push(plain(
                Kind::LostUpdate,
                ts.clone(),
                format!(
                    "{} all read key {k} as {l:?} and each appended to it: each wrote over a state the others had changed",
                    names(&ts)
                ),
            ));
        }
    }

    // The dependency graph, over the transactions that took effect: committed ones, and those
    // of unknown outcome whose appends someone read.
    let observed: BTreeSet<usize> = order
        .iter()
        .flat_map(|(k, l)| {
            l.iter()
                .filter_map(|e| writers.get(&(*k, *e)).map(|w| w.txn))
        })
        .collect();
    let took_effect =
        |t: usize| committed(t) || (history[t].outcome == Outcome::Info && observed.contains(&t));
    let mut graph = Graph::new(history.len());
    for (k, l) in &order {
        for pair in l.windows(2) {
            if let (Some(a), Some(b)) = (writers.get(&(*k, pair[0])), writers.get(&(*k, pair[1]))) {
                if took_effect(a.txn) && took_effect(b.txn) {
                    graph.add(a.txn, b.txn, Edge::Ww, Some(*k), Some(pair[1]));
                }
            }
        }
    }
    for (k, rs) in &reads {
        let versions = &order[k];
        for (t, l) in rs {
            if let Some(w) = l.last().and_then(|e| writers.get(&(*k, *e))) {
                if took_effect(w.txn) {
                    graph.add(w.txn, *t, Edge::Wr, Some(*k), l.last().copied());
                }
            }
            if versions.starts_with(l) {
                if let Some(next) = versions.get(l.len()) {
                    if let Some(w) = writers.get(&(*k, *next)) {
                        if took_effect(w.txn) {
                            graph.add(*t, w.txn, Edge::Rw, Some(*k), Some(*next));
                        }
                    }
                }
            }
        }
    }
    // Process order: each process's committed transactions, one after the other.
    let mut by_process: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    for t in (0..history.len()).filter(|t| took_effect(*t)) {
        by_process.entry(history[t].process).or_default().push(t);
    }
    for ts in by_process.values_mut() {
        ts.sort_by_key(|t| history[*t].invoked);
        for pair in ts.windows(2) {
            graph.add(pair[0], pair[1], Edge::Process, None, None);
        }
    }
    graph::realtime_edges(history, &took_effect, &mut graph);
    graph.freeze();

    found.extend(graph::cycles(&graph));
    found.sort_by(|a, b| (a.kind, a.order, &a.txns).cmp(&(b.kind, b.order, &b.txns)));
    found.dedup();

    let mut ruled_out: BTreeSet<Model> = BTreeSet::new();
    for a in &found {
        let weakest = a.kind.weakest_ruled_out(a.order);
        for m in Model::ALL.into_iter().filter(|m| *m >= weakest) {
            if m == Model::SnapshotIsolation
                && a.order == Order::Data
                && a.kind.allowed_by_snapshot_isolation()
            {
                continue;
            }
            ruled_out.insert(m);
        }
    }
    Check {
        txns: history.len(),
        anomalies: found,
        ruled_out: ruled_out.into_iter().collect(),
    }
}

/// An anomaly that is not a cycle.
fn plain(kind: Kind, txns: Vec<usize>, explanation: String) -> Anomaly {
    Anomaly {
        kind,
        order: Order::Data,
        name: kind.name().to_string(),
        txns,
        cycle: Vec::new(),
        explanation,
    }
}

fn names(ts: &[usize]) -> String {
    ts.iter()
        .map(|t| format!("T{t}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Internal consistency of one committed transaction: a read after a read of the same key sees
/// the same list and the transaction's appends since; a read after appends ends with them; no
/// read sees an append the transaction makes only later.
fn internal(t: usize, txn: &Txn, found: &mut Vec<Anomaly>) {
    // Per key: what it last read and its own appends since (after a read), or its appends alone
    // (before any read), which a later read must end with.
    let mut exact: HashMap<Key, (Vec<Element>, Vec<Element>)> = HashMap::new();
    let mut suffix: HashMap<Key, Vec<Element>> = HashMap::new();
    for (i, m) in txn.mops.iter().enumerate() {
        match m {
            Mop::Append(k, v) => match exact.get_mut(k) {
                Some((_, own)) => own.push(*v),
                None => suffix.entry(*k).or_default().push(*v),
            },
            Mop::Read(k, Some(l)) => {
                let later: Vec<Element> = txn.mops[i + 1..]
                    .iter()
                    .filter_map(|m| match m {
                        Mop::Append(kk, v) if kk == k => Some(*v),
                        _ => None,
                    })
                    .collect();
                let wrong = match (exact.get(k), suffix.get(k)) {
                    (Some((read, own)), _) => {
                        let expected: Vec<Element> = read.iter().chain(own).copied().collect();
                        // Others' appends between what it read and its own: the list moved on
                        // under it, each statement seeing the latest commits.
                        let moved_on =
                            l.len() > expected.len() && l.starts_with(read) && l.ends_with(own);
                        (expected != *l).then_some((format!("{expected:?}"), moved_on))
                    }
                    (None, Some(s)) if !l.ends_with(s) => {
                        Some((format!("a list ending in {s:?}"), false))
                    }
                    _ => None,
                };
                let future = l.iter().find(|e| later.contains(e));
                if let Some((expected, true)) = &wrong {
                    found.push(plain(
                        Kind::NonRepeatableRead,
                        vec![t],
                        format!("T{t} read key {k} as {l:?} where its own earlier read and appends say {expected}: others' appends came in between"),
                    ));
                } else if let Some((expected, false)) = wrong {
                    found.push(plain(
                        Kind::Internal,
                        vec![t],
                        format!("T{t} read key {k} as {l:?} where its own earlier reads and appends say {expected}"),
                    ));
                } else if let Some(e) = future {
                    found.push(plain(
                        Kind::Internal,
                        vec![t],
                        format!(
                            "T{t} read key {k} as {l:?}, holding {e}, which it appends only later"
                        ),
                    ));
                }
                exact.insert(*k, (l.clone(), Vec::new()));
                suffix.remove(k);
            }
            Mop::Read(_, None) => {}
        }
    }
}

#[cfg(test)]
mod tests;
