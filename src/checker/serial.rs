//! The oracle the list-append checker is proved against: serializability by its definition, by
//! brute force (Papadimitriou 1979; Adya 1999 for histories of committed transactions). A
//! history of committed list-append transactions is serializable when some order of all of them,
//! each run alone from empty lists, gives every read exactly the list it returned. Every order
//! is tried (with the orders that fail early cut off), so it only serves small histories. Shares
//! nothing with the checker but the transaction types.

use std::collections::HashMap;

use super::list_append::{Element, Key, Mop, Txn};

/// Whether some serial order of `history` (committed transactions only) explains every read.
pub fn serializable(history: &[Txn]) -> bool {
    let mut placed = vec![false; history.len()];
    search(history, &mut placed, &HashMap::new(), 0, false)
}

/// Whether some serial order that respects real time (a transaction that completed before
/// another was invoked comes first) explains every read.
pub fn strictly_serializable(history: &[Txn]) -> bool {
    let mut placed = vec![false; history.len()];
    search(history, &mut placed, &HashMap::new(), 0, true)
}

fn search(
    history: &[Txn],
    placed: &mut [bool],
    state: &HashMap<Key, Vec<Element>>,
    done: usize,
    realtime: bool,
) -> bool {
    if done == history.len() {
        return true;
    }
    for t in 0..history.len() {
        if placed[t] {
            continue;
        }
        // In real time, every transaction that completed before this one began goes first.
        let waits = realtime
            && (0..history.len()).any(|u| {
                !placed[u] && u != t && history[u].completed.is_some_and(|c| c < history[t].invoked)
            });
        if waits {
            continue;
        }
        let Some(next) = run(&history[t], state) else {
            continue;
        };
        placed[t] = true;
        if search(history, placed, &next, done + 1, realtime) {
            return true;
        }
        placed[t] = false;
    }
    false
}

/// The state after `txn` runs alone on `state`, or `None` when one of its reads would differ.
fn run(txn: &Txn, state: &HashMap<Key, Vec<Element>>) -> Option<HashMap<Key, Vec<Element>>> {
    let mut s = state.clone();
    for m in &txn.mops {
        match m {
            Mop::Append(k, v) => s.entry(*k).or_default().push(*v),
            Mop::Read(k, Some(l)) => {
                if s.get(k).map(Vec::as_slice).unwrap_or(&[]) != l.as_slice() {
                    return None;
                }
            }
            Mop::Read(_, None) => {}
        }
    }
    Some(s)
}
