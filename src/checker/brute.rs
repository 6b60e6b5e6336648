//! The oracle the linearizability checker is proved against: the definition itself, by brute
//! force (Herlihy & Wing 1990). A history of one register is linearizable when some sequence
//! holds every acknowledged operation once and any of the operations of unknown outcome, such
//! that each operation comes after every acknowledged operation that completed before it was
//! invoked, and the register model accepts the sequence from the initial value. Every such
//! sequence is tried, so it only serves small histories. Shares nothing with the checker but the
//! history's parsed operations and the model's three rules, written again here.

use crate::history::{Completion, Op, Operation, Value};

/// Whether some order explains `ops` (one register's operations, parsed) from `initial`.
pub fn linearizable(ops: &[Operation], initial: Option<Value>) -> bool {
    // Acknowledged operations must be placed; unknown writes may be; reads of unknown outcome
    // and failed operations never took effect.
    let must: Vec<&Operation> = ops
        .iter()
        .filter(|o| o.completion == Completion::Ok)
        .collect();
    let may: Vec<&Operation> = ops
        .iter()
        .filter(|o| {
            matches!(o.completion, Completion::Info | Completion::Open)
                && !matches!(o.op, Op::Read(_))
        })
        .collect();
    let all: Vec<(&Operation, bool)> = must
        .iter()
        .map(|o| (*o, true))
        .chain(may.iter().map(|o| (*o, false)))
        .collect();
    let mut placed = vec![false; all.len()];
    search(&all, &mut placed, initial, must.len())
}

fn apply(value: Option<Value>, op: Op) -> Option<Option<Value>> {
    match op {
        Op::Read(None) => Some(value),
        Op::Read(Some(v)) if value == Some(v) => Some(value),
        Op::Read(Some(_)) => None,
        Op::Write(v) => Some(Some(v)),
        Op::Cas(a, b) if value == Some(a) => Some(Some(b)),
        Op::Cas(..) => None,
    }
}

fn search(
    all: &[(&Operation, bool)],
    placed: &mut [bool],
    value: Option<Value>,
    left: usize,
) -> bool {
    if left == 0 {
        return true;
    }
    for i in 0..all.len() {
        if placed[i] {
            continue;
        }
        let (o, required) = all[i];
        // Real-time order: no unplaced acknowledged operation completed before this one began.
        let blocked = all.iter().zip(placed.iter()).any(|((p, req), done)| {
            *req && !*done && p.completed_at.is_some_and(|c| c < o.invoked_at)
        });
        if blocked {
            continue;
        }
        let Some(next) = apply(value, o.op) else {
            continue;
        };
        placed[i] = true;
        let found = search(all, placed, next, left - usize::from(required));
        placed[i] = false;
        if found {
            return true;
        }
    }
    false
}
