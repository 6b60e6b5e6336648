//! Linearizability of one compare-and-set register, decided exactly: the search of Wing & Gong
//! as Lowe made it practical ("Testing for linearizability", Concurrency and Computation 2017:
//! just-in-time linearization, configurations deduplicated), which Knossos' `linear` and
//! Porcupine run too.
//!
//! The history is read in real-time order (the order of its entries). A **configuration** is
//! what the register can be after some order of the operations so far: its value, which of the
//! operations still running have already taken effect, and which operations of unknown outcome
//! have not (yet) taken effect. At an `:ok` completion every configuration is extended by every
//! order of running or unknown operations that ends with the completing one, as the model
//! allows; the configurations in which it took effect survive. When none does, no order
//! explains that operation: the history is not linearizable, and everything before it is
//! (the configurations before it are the proof).
//!
//! - `:ok` operations take effect once, between their invocation and their completion.
//! - `:fail` operations never take effect; `:info` operations (and those that never completed)
//!   may take effect at any time after their invocation, or never: they stay available forever
//!   and no configuration is obliged to use them. A read of unknown outcome has no effect and is
//!   left out.
//! - **Symmetry**: operations of unknown outcome with the same function and value form one group
//!   with a count. Which member of a group took effect never matters (each was invoked before
//!   the one now considered, and the earliest invoked can always stand in for a later one), so a
//!   configuration keeps how many of each group remain, not which: 16 identical pending
//!   compare-and-sets are 17 configurations at most, not 2^16.
//! - **Dominance**: of two configurations with the same value and the same running operations
//!   taken, one whose remaining unknown operations include all of the other's can do everything
//!   the other can (unknown operations are optional), so only it is kept.
//! - **Budget**: the configurations made are counted per key, and time is bounded; past either
//!   the key's verdict is [`Verdict::Unknown`], never linearizable.
//!
//! The model is Knossos' `cas-register`: `:write v` sets `v`, `:cas [a b]` sets `b` if the
//! register holds `a` and is otherwise impossible, `:read v` is possible when the register holds
//! `v` (and always when `v` is `nil`, a read of unknown value). The initial value is a setting:
//! Perseus' histories start at 0 (a missing key reads 0).
//!
//! After the first violation the check goes on, to count: the violating operation is taken to
//! have done what the system answered (a read sets the register to the value read), and each
//! later operation no order explains from there is counted too. Only the first is exact; the
//! count says how often the history went wrong, not a minimum.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use serde::Serialize;

use crate::history::{Completion, Op, Operation, Value};

/// What the search may spend on one key.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Configurations made, at most (each is a few dozen bytes and a model step).
    pub max_states: u64,
    /// When to give up, whatever is left.
    pub deadline: Option<Instant>,
}

/// Running operations a key may have at once that the search follows.
pub const MAX_RUNNING: usize = 128;

/// The verdict on one key.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum Verdict {
    /// Some order of the operations explains every completion.
    Linearizable,
    /// No order explains [`KeyCheck::first`].
    NotLinearizable,
    /// Not decided: the budget ran out, or the history stops early. Never a pass.
    Unknown {
        /// Why, in a line.
        why: String,
        /// Whether it is unknown only because the history was cut at its size cap (no order was
        /// shown to fail up to the cut).
        #[serde(default)]
        cut: bool,
    },
}

/// One operation, as a violation names it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpRef {
    /// Jepsen's `:process`.
    pub process: i64,
    /// What it did.
    pub op: String,
    /// `ok`, `info`: how it ended.
    pub outcome: &'static str,
    /// The position of its completion among the history's entries, 0-based (Jepsen's
    /// `:index`); of its invocation when it never completed.
    pub index: u64,
    /// The line of its invocation.
    pub invoke_line: usize,
    /// The line of its completion.
    pub complete_line: Option<usize>,
    /// Seconds since the load began at its completion, when the history has `:time`.
    pub at_s: Option<f64>,
}

impl OpRef {
    fn of(o: &Operation) -> OpRef {
        OpRef {
            process: o.process,
            op: o.op.describe(),
            outcome: match o.completion {
                Completion::Ok => "ok",
                Completion::Fail => "fail",
                Completion::Info => "info",
                Completion::Open => "never completed",
            },
            index: o.completed_at.unwrap_or(o.invoked_at),
            invoke_line: o.invoke_line,
            complete_line: o.complete_line,
            at_s: o.time_ns.map(|t| t as f64 / 1e9),
        }
    }

    /// `p3 read 0 (ok, index 12, lines 13-14, 2.31 s)`.
    pub fn describe(&self) -> String {
        let lines = match self.complete_line {
            Some(c) => format!("lines {}-{c}", self.invoke_line),
            None => format!("line {}", self.invoke_line),
        };
        let at = self.at_s.map(|t| format!(", {t:.3} s")).unwrap_or_default();
        format!(
            "p{} {} ({}, index {}, {lines}{at})",
            self.process, self.op, self.outcome, self.index
        )
    }
}

/// The first operation no order explains, with what comes before it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Violation {
    /// The operation.
    pub op: OpRef,
    /// The values the register could hold while it ran, given every order of what came before
    /// (`None`: `nil`), the smallest [`SHOWN`] of them.
    pub could_hold: Vec<Option<Value>>,
    /// How many values it could hold in all (more than `could_hold` lists when it is cut).
    pub could_hold_count: usize,
    /// Acknowledged operations before it, all explained by some order: the longest
    /// linearizable prefix.
    pub prefix_ok: u64,
    /// The last steps of one order that explains that prefix, oldest first (at most [`SHOWN`]
    /// + 4), unknown operations that it lets take effect included.
    pub order: Vec<OpRef>,
}

/// How many values and steps a violation shows.
pub const SHOWN: usize = 8;

/// The check of one key.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyCheck {
    /// The key (`""` for a history of one register without keys).
    pub key: String,
    /// Acknowledged (`:ok`) operations.
    pub ok: u64,
    /// The verdict.
    #[serde(flatten)]
    pub verdict: Verdict,
    /// Acknowledged operations no order explains: the first exactly, the later ones each after
    /// taking the one before to have done what the system answered.
    pub violations: u64,
    /// The first of them, explained.
    pub first: Option<Violation>,
    /// Configurations made.
    pub states: u64,
}

impl KeyCheck {
    /// The explanation of the first violation, in a few lines (empty when there is none).
    pub fn explain(&self) -> Vec<String> {
        let Some(v) = &self.first else {
            return Vec::new();
        };
        let hold = v
            .could_hold
            .iter()
            .map(|x| x.map_or("nil".to_string(), |x| x.to_string()))
            .collect::<Vec<_>>()
            .join(", ");
        let more = v.could_hold_count.saturating_sub(v.could_hold.len());
        let more = if more > 0 {
            format!(" (and {more} more values)")
        } else {
            String::new()
        };
        let mut out = vec![format!(
            "no order explains {}: the register could hold only {hold}{more} then",
            v.op.describe()
        )];
        out.push(format!(
            "the {} acknowledged operations before it are linearizable; one order that explains them ends:",
            v.prefix_ok
        ));
        for o in &v.order {
            out.push(format!("  {}", o.describe()));
        }
        out
    }
}

/// Groups of unknown operations still available, as `(group, count)` sorted by group.
type Remaining = Vec<(u32, u32)>;

fn rem_add(r: &mut Remaining, g: u32) {
    match r.binary_search_by_key(&g, |&(x, _)| x) {
        Ok(i) => r[i].1 += 1,
        Err(i) => r.insert(i, (g, 1)),
    }
}

fn rem_take(r: &Remaining, i: usize) -> Remaining {
    let mut out = r.clone();
    if out[i].1 == 1 {
        out.remove(i);
    } else {
        out[i].1 -= 1;
    }
    out
}

/// Whether every group count of `small` is at most its count in `big`.
fn rem_within(small: &Remaining, big: &Remaining) -> bool {
    let mut j = 0;
    for &(g, n) in small {
        while j < big.len() && big[j].0 < g {
            j += 1;
        }
        if j == big.len() || big[j].0 != g || big[j].1 < n {
            return false;
        }
    }
    true
}

/// The last few operations of one order, newest last.
#[derive(Debug, Clone, Copy)]
struct Trail {
    ids: [u32; SHOWN + 4],
    len: u8,
    head: u8,
}

impl Trail {
    const CAP: usize = SHOWN + 4;

    fn new() -> Trail {
        Trail {
            ids: [0; SHOWN + 4],
            len: 0,
            head: 0,
        }
    }

    fn push(mut self, id: u32) -> Trail {
        let at = (self.head as usize + self.len as usize) % Self::CAP;
        self.ids[at] = id;
        if (self.len as usize) < Self::CAP {
            self.len += 1;
        } else {
            self.head = ((self.head as usize + 1) % Self::CAP) as u8;
        }
        self
    }

    fn ids(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.len as usize).map(|i| self.ids[(self.head as usize + i) % Self::CAP])
    }
}

/// A configuration: the register's value, the running operations already taken (a bit per
/// slot), the unknown operations still available.
#[derive(Debug, Clone)]
struct Config {
    value: Option<Value>,
    taken: u128,
    rem: Remaining,
    trail: Trail,
}

/// The model's step: the register after `op` from `value`, or `None` when `op` cannot happen.
fn step(value: Option<Value>, op: Op) -> Option<Option<Value>> {
    match op {
        Op::Read(None) => Some(value),
        Op::Read(Some(v)) => (value == Some(v)).then_some(value),
        Op::Write(v) => Some(Some(v)),
        Op::Cas(a, b) => (value == Some(a)).then_some(Some(b)),
    }
}

/// What the system answered an operation no order explains, taken as done.
fn forced(value: Option<Value>, op: Op) -> Option<Value> {
    match op {
        Op::Read(None) => value,
        Op::Read(Some(v)) | Op::Write(v) => Some(v),
        Op::Cas(_, b) => Some(b),
    }
}

/// An event of the history, in real-time order.
#[derive(Debug, Clone, Copy)]
enum Event {
    /// An acknowledged operation begins (index into the key's operations).
    Call(u32),
    /// An acknowledged operation completes.
    Return(u32),
    /// An operation of unknown outcome begins: a member of this group.
    Unknown(u32),
}

/// Configurations kept as an antichain per (value, taken): none whose remaining operations are
/// within another's.
#[derive(Default)]
struct Antichain {
    by: HashMap<(Option<Value>, u128), Vec<usize>>,
    all: Vec<Config>,
}

impl Antichain {
    /// Add `c` unless a kept configuration dominates it; returns whether it was added.
    fn add(&mut self, c: Config, prune: bool) -> bool {
        let slot = self.by.entry((c.value, c.taken)).or_default();
        if slot.iter().any(|&i| rem_within(&c.rem, &self.all[i].rem)) {
            return false;
        }
        if prune {
            // Leave the dominated ones in `all` (they may be in use) but forget them here.
            let all = &self.all;
            slot.retain(|&i| !rem_within(&all[i].rem, &c.rem));
        }
        slot.push(self.all.len());
        self.all.push(c);
        true
    }

    /// The configurations not dominated by a later one.
    fn into_kept(self) -> Vec<Config> {
        let mut keep = vec![false; self.all.len()];
        for v in self.by.values() {
            for &i in v {
                keep[i] = true;
            }
        }
        self.all
            .into_iter()
            .zip(keep)
            .filter_map(|(c, k)| k.then_some(c))
            .collect()
    }
}

/// Check one key's operations (in invocation order, as [`crate::history::read`] gives them)
/// against a compare-and-set register starting at `initial`.
pub fn check_key(key: &str, ops: &[Operation], initial: Option<Value>, budget: Budget) -> KeyCheck {
    let mut out = KeyCheck {
        key: key.to_string(),
        ok: 0,
        verdict: Verdict::Linearizable,
        violations: 0,
        first: None,
        states: 0,
    };
    // The events, in the order of the history's entries.
    let mut groups: HashMap<Op, u32> = HashMap::new();
    let mut members: Vec<Vec<u32>> = Vec::new();
    let mut events: Vec<(u64, Event)> = Vec::with_capacity(ops.len() * 2);
    for (i, o) in ops.iter().enumerate() {
        let i = i as u32;
        match (o.completion, o.op) {
            (Completion::Ok, _) => {
                out.ok += 1;
                events.push((o.invoked_at, Event::Call(i)));
                events.push((o.completed_at.unwrap_or(u64::MAX), Event::Return(i)));
            }
            (Completion::Fail, _) | (Completion::Info | Completion::Open, Op::Read(_)) => {}
            (Completion::Info | Completion::Open, op) => {
                let next = groups.len() as u32;
                let g = *groups.entry(op).or_insert(next);
                if g == next {
                    members.push(Vec::new());
                }
                members[g as usize].push(i);
                events.push((o.invoked_at, Event::Unknown(g)));
            }
        }
    }
    events.sort_by_key(|&(pos, _)| pos);
    let group_op: Vec<Op> = members.iter().map(|m| ops[m[0] as usize].op).collect();
    // Members of each group invoked so far.
    let mut invoked = vec![0u32; members.len()];

    let mut configs = vec![Config {
        value: initial,
        taken: 0,
        rem: Vec::new(),
        trail: Trail::new(),
    }];
    // Running acknowledged operations by slot.
    let mut slots: Vec<Option<u32>> = Vec::new();
    let mut slot_of: HashMap<u32, usize> = HashMap::new();
    let mut returned: u64 = 0;
    let mut since_clock = 0u64;

    for &(_, ev) in &events {
        match ev {
            Event::Unknown(g) => {
                invoked[g as usize] += 1;
                for c in &mut configs {
                    rem_add(&mut c.rem, g);
                }
            }
            Event::Call(i) => {
                let s = match slots.iter().position(Option::is_none) {
                    Some(s) => s,
                    None => {
                        slots.push(None);
                        slots.len() - 1
                    }
                };
                if s >= MAX_RUNNING {
                    out.verdict = Verdict::Unknown {
                        why: format!(
                            "more than {MAX_RUNNING} operations running at once at line {}",
                            ops[i as usize].invoke_line
                        ),
                        cut: false,
                    };
                    return finish(out);
                }
                slots[s] = Some(i);
                slot_of.insert(i, s);
            }
            Event::Return(i) => {
                let s = slot_of.remove(&i).expect("called before it returns");
                let bit = 1u128 << s;
                // Every order of running and unknown operations that ends with this one.
                let mut results = Antichain::default();
                let mut seen = Antichain::default();
                let mut queue: VecDeque<usize> = VecDeque::new();
                let mut values: Vec<Option<Value>> = Vec::new();
                for c in &configs {
                    if c.taken & bit != 0 {
                        let mut r = c.clone();
                        r.taken &= !bit;
                        results.add(r, true);
                    } else if seen.add(c.clone(), false) {
                        queue.push_back(seen.all.len() - 1);
                    }
                }
                while let Some(at) = queue.pop_front() {
                    let c = seen.all[at].clone();
                    if values.len() < 64 && !values.contains(&c.value) {
                        values.push(c.value);
                    }
                    out.states += 1;
                    since_clock += 1;
                    if out.states > budget.max_states
                        || (since_clock >= 4096 && {
                            since_clock = 0;
                            budget.deadline.is_some_and(|d| Instant::now() >= d)
                        })
                    {
                        let spent = if out.states > budget.max_states {
                            format!("{} configurations", budget.max_states)
                        } else {
                            "the time limit".to_string()
                        };
                        out.verdict = Verdict::Unknown {
                            why: format!(
                                "the budget ({spent}) ran out at the completion on line {}",
                                ops[i as usize].complete_line.unwrap_or(0)
                            ),
                            cut: false,
                        };
                        return finish(out);
                    }
                    // A running acknowledged operation takes effect.
                    for (t, op) in slots.iter().enumerate() {
                        let Some(j) = *op else { continue };
                        let tb = 1u128 << t;
                        if c.taken & tb != 0 {
                            continue;
                        }
                        let Some(v) = step(c.value, ops[j as usize].op) else {
                            continue;
                        };
                        let next = Config {
                            value: v,
                            taken: c.taken | tb,
                            rem: c.rem.clone(),
                            trail: c.trail.push(j),
                        };
                        if t == s {
                            let mut r = next;
                            r.taken &= !bit;
                            results.add(r, true);
                        } else if seen.add(next, false) {
                            queue.push_back(seen.all.len() - 1);
                        }
                    }
                    // An unknown operation takes effect: the earliest invoked member of its
                    // group that has not.
                    for (k, &(g, n)) in c.rem.iter().enumerate() {
                        let Some(v) = step(c.value, group_op[g as usize]) else {
                            continue;
                        };
                        let member = members[g as usize][(invoked[g as usize] - n) as usize];
                        let next = Config {
                            value: v,
                            taken: c.taken,
                            rem: rem_take(&c.rem, k),
                            trail: c.trail.push(member),
                        };
                        if seen.add(next, false) {
                            queue.push_back(seen.all.len() - 1);
                        }
                    }
                }
                slots[s] = None;
                let kept = results.into_kept();
                if kept.is_empty() {
                    let o = &ops[i as usize];
                    out.violations += 1;
                    if out.first.is_none() {
                        let mut could_hold = values.clone();
                        could_hold.sort();
                        let could_hold_count = could_hold.len();
                        could_hold.truncate(SHOWN);
                        out.first = Some(Violation {
                            op: OpRef::of(o),
                            could_hold,
                            could_hold_count,
                            prefix_ok: returned,
                            order: configs
                                .first()
                                .map(|c| {
                                    c.trail.ids().map(|j| OpRef::of(&ops[j as usize])).collect()
                                })
                                .unwrap_or_default(),
                        });
                    }
                    // Take it to have done what the system answered, and go on.
                    let mut again = Antichain::default();
                    for c in &configs {
                        again.add(
                            Config {
                                value: forced(c.value, o.op),
                                taken: c.taken & !bit,
                                rem: c.rem.clone(),
                                trail: c.trail.push(i),
                            },
                            true,
                        );
                    }
                    configs = again.into_kept();
                } else {
                    configs = kept;
                }
                returned += 1;
            }
        }
    }
    finish(out)
}

fn finish(mut out: KeyCheck) -> KeyCheck {
    if out.violations > 0 {
        out.verdict = Verdict::NotLinearizable;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::read_text;

    pub(super) fn budget() -> Budget {
        Budget {
            max_states: 10_000_000,
            deadline: None,
        }
    }

    /// A history of one register, from `(process, type, op)` entries.
    pub(super) fn text(entries: &[(i64, &str, Op)]) -> String {
        let mut s = String::new();
        for (p, ty, op) in entries {
            let value = match op {
                Op::Read(None) => "nil".to_string(),
                Op::Read(Some(v)) | Op::Write(v) => v.to_string(),
                Op::Cas(a, b) => format!("[{a} {b}]"),
            };
            s.push_str(&format!(
                "{{:process {p}, :type :{ty}, :f {}, :value {value}}}\n",
                op.f()
            ));
        }
        s
    }

    fn check(entries: &[(i64, &str, Op)], initial: Option<Value>) -> KeyCheck {
        let p = read_text(&text(entries)).unwrap();
        let ops = p.keys.get("").cloned().unwrap_or_default();
        check_key("", &ops, initial, budget())
    }

    use Op::*;

    #[test]
    fn overlapping_operations_are_ordered_within_their_spans() {
        // The history: the read of 1 completes before the write of 1, which it saw.
        let k = check(
            &[
                (0, "invoke", Write(1)),
                (1, "invoke", Read(None)),
                (1, "ok", Read(Some(1))),
                (0, "ok", Write(1)),
            ],
            Some(0),
        );
        assert_eq!(
            (k.verdict.clone(), k.violations),
            (Verdict::Linearizable, 0)
        );
        // A compare-and-set's effect read before its :info line.
        let k = check(
            &[
                (0, "invoke", Cas(0, 1)),
                (1, "invoke", Read(None)),
                (1, "ok", Read(Some(1))),
                (0, "info", Cas(0, 1)),
                (2, "invoke", Read(None)),
                (2, "ok", Read(Some(1))),
            ],
            Some(0),
        );
        assert_eq!(k.verdict, Verdict::Linearizable);
        // But a read that completes before the write is invoked cannot see it.
        let k = check(
            &[
                (1, "invoke", Read(None)),
                (1, "ok", Read(Some(1))),
                (0, "invoke", Write(1)),
                (0, "ok", Write(1)),
            ],
            Some(0),
        );
        assert_eq!((k.verdict, k.violations), (Verdict::NotLinearizable, 1));
        let v = k.first.unwrap();
        assert_eq!(
            (v.op.op.as_str(), v.op.invoke_line, v.prefix_ok),
            ("read 1", 1, 0)
        );
        assert_eq!(v.could_hold, vec![Some(0)]);
    }

    #[test]
    fn an_unknown_write_may_take_effect_late_or_never_but_a_failed_one_never() {
        let base = [(0, "invoke", Cas(0, 1)), (0, "info", Cas(0, 1))];
        for (reads, ok) in [
            (vec![0, 0, 1, 1], true),
            (vec![1, 0], false),
            (vec![0], true),
        ] {
            let mut h = base.to_vec();
            for (n, v) in reads.iter().enumerate() {
                h.push((n as i64 + 1, "invoke", Read(None)));
                h.push((n as i64 + 1, "ok", Read(Some(*v))));
            }
            assert_eq!(
                check(&h, Some(0)).verdict == Verdict::Linearizable,
                ok,
                "{reads:?}"
            );
        }
        let h = [
            (0, "invoke", Cas(0, 1)),
            (0, "fail", Cas(0, 1)),
            (1, "invoke", Read(None)),
            (1, "ok", Read(Some(1))),
        ];
        assert_eq!(check(&h, Some(0)).verdict, Verdict::NotLinearizable);
    }

    #[test]
    fn a_wipe_reads_zero_after_an_acknowledged_value_and_is_explained() {
        let mut h = Vec::new();
        for v in 0..5 {
            h.push((0, "invoke", Read(None)));
            h.push((0, "ok", Read(Some(v))));
            h.push((0, "invoke", Cas(v, v + 1)));
            h.push((0, "ok", Cas(v, v + 1)));
        }
        h.push((0, "invoke", Read(None)));
        h.push((0, "ok", Read(Some(0))));
        h.push((0, "invoke", Cas(0, 1)));
        h.push((0, "ok", Cas(0, 1)));
        let k = check(&h, Some(0));
        assert_eq!(k.verdict, Verdict::NotLinearizable);
        assert_eq!(
            k.violations, 1,
            "the cas from 0 follows the forced read of 0"
        );
        let v = k.first.as_ref().unwrap();
        assert_eq!((v.op.op.as_str(), v.prefix_ok), ("read 0", 10));
        assert_eq!(v.could_hold, vec![Some(5)]);
        assert_eq!(v.order.last().unwrap().op, "cas [4 5]");
        let lines = k.explain();
        assert!(lines[0].contains("could hold only 5"), "{lines:?}");
        // Knossos' model at nil: a read of nil is a read of unknown value, always possible.
        let k = check(&[(0, "invoke", Read(None)), (0, "ok", Read(None))], None);
        assert_eq!(k.verdict, Verdict::Linearizable);
    }

    #[test]
    fn identical_pending_operations_are_one_group_and_decided_at_once() {
        // 8 groups of 8 identical :info writes (each process crashes once), with reads that
        // see each value in turn: linearizable, decided within a second.
        let mut h = Vec::new();
        let mut p = 0;
        for g in 1..=8 {
            for _ in 0..8 {
                h.push((p, "invoke", Write(g)));
                h.push((p, "info", Write(g)));
                p += 1;
            }
        }
        // Each read needs one more of its value's writes to take effect: 64 reads use up
        // every copy.
        let mut reads = Vec::new();
        for round in 0..8 {
            for g in 1..=8 {
                reads.push((p, (g + round) % 8 + 1));
                p += 1;
            }
        }
        for &(p, v) in &reads {
            h.push((p, "invoke", Read(None)));
            h.push((p, "ok", Read(Some(v))));
        }
        let started = Instant::now();
        let k = check(&h, Some(0));
        assert_eq!(k.verdict, Verdict::Linearizable);
        assert!(
            started.elapsed().as_secs_f64() < 1.0,
            "{:?}",
            started.elapsed()
        );
        // One more read of a value whose copies are all used up, after another value: no
        // order explains it.
        h.push((p, "invoke", Read(None)));
        h.push((p, "ok", Read(Some(reads[63].1 % 8 + 1))));
        let k = check(&h, Some(0));
        assert_eq!(k.verdict, Verdict::NotLinearizable);
        // 4 groups of 16 identical compare-and-sets, as a paused NATS leader makes them:
        // each connection retries cas [v v+1] until one applies.
        let mut h = Vec::new();
        let mut p = 100;
        for v in 0..4 {
            for _ in 0..16 {
                h.push((p, "invoke", Read(None)));
                h.push((p, "ok", Read(Some(v))));
                h.push((p, "invoke", Cas(v, v + 1)));
                h.push((p, "info", Cas(v, v + 1)));
                p += 1;
            }
        }
        h.push((p, "invoke", Read(None)));
        h.push((p, "ok", Read(Some(4))));
        let started = Instant::now();
        let k = check(&h, Some(0));
        assert_eq!(k.verdict, Verdict::Linearizable);
        assert!(k.states < 5_000, "{}", k.states);
        assert!(started.elapsed().as_secs_f64() < 1.0);
    }

    #[test]
    fn past_its_budget_a_key_is_unknown_never_linearizable() {
        // 20 writes that all run until the end, then reads: every subset of them is a
        // configuration.
        let mut h = Vec::new();
        for p in 0..20 {
            h.push((p, "invoke", Write(p)));
        }
        for r in 0..20 {
            h.push((100 + r, "invoke", Read(None)));
            h.push((100 + r, "ok", Read(Some(r))));
        }
        for p in 0..20 {
            h.push((p, "ok", Write(p)));
        }
        let p = read_text(&text(&h)).unwrap();
        let k = check_key(
            "",
            &p.keys[""],
            Some(0),
            Budget {
                max_states: 10_000,
                deadline: None,
            },
        );
        match &k.verdict {
            Verdict::Unknown { why, cut } => {
                assert!(why.contains("10000 configurations") && !cut, "{why}")
            }
            other => panic!("{other:?}"),
        }
        assert!(k.states > 10_000);
    }

    #[test]
    fn later_violations_are_counted_after_taking_the_answer() {
        // acked 2, read 0 (a wipe), cas 0->1 ok, read 5 (nothing wrote 5).
        let k = check(
            &[
                (0, "invoke", Cas(0, 1)),
                (0, "ok", Cas(0, 1)),
                (0, "invoke", Cas(1, 2)),
                (0, "ok", Cas(1, 2)),
                (0, "invoke", Read(None)),
                (0, "ok", Read(Some(0))),
                (0, "invoke", Cas(0, 1)),
                (0, "ok", Cas(0, 1)),
                (0, "invoke", Read(None)),
                (0, "ok", Read(Some(5))),
            ],
            Some(0),
        );
        assert_eq!(k.violations, 2);
        assert_eq!(k.first.unwrap().op.op, "read 0");
    }
}
