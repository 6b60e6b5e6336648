//! The loop's own safety check, per key, with bounded state: what each read and write says about
//! the data, in Jepsen's words (Kingsbury's analyses; Herlihy & Wing 1990 for linearizability).
//!
//! Each connection owns its key, so the loop knows what the key must hold: the value of its last
//! acknowledged write (`last_acked`); at most the highest value the writes since the last
//! confirmed loss may have set (`reach`: acknowledged or unknown writes); at most the highest
//! value any write ever may have set (`max_possible`). A read is checked against these and
//! against the highest value a read returned since the last confirmed loss:
//!
//! | kind | what was read | how it is confirmed |
//! | --- | --- | --- |
//! | **lost** | below `last_acked` | the next compare-and-set from that value succeeded (the key really held it), or the final read is below `last_acked`; counted as the acknowledged increments that vanished |
//! | **stale** | below `last_acked` | not confirmed: the next compare-and-set from it was refused because the key held something else, or its outcome is unknown, or no write followed (a stale read is a linearizability violation, not a lost write) |
//! | **reverted** | below the highest value a read returned since the last confirmed loss, not below `last_acked`; or above anything written since the last confirmed loss but not above `max_possible` (a copy from before the loss came back) | |
//! | **impossible** | above `max_possible` | nothing could have written it (a duplicated apply, a foreign value) |
//!
//! **Counting losses.** The key's contents are followed as a chain of the writes that made them
//! (which acknowledged increments it holds), and the chains a loss or a revert left behind. When
//! a read is confirmed below what was acknowledged, the key switches to the chain that explains
//! the value (an abandoned chain whose last value it is, else a prefix of the current one); when
//! a copy from before a loss comes back, to the abandoned chain that reached that value. So
//! `lost_writes` is the number of acknowledged increments missing from what the key holds in the
//! end, however often it went back and forth: acknowledged 100, read 40 (60 vanish), acknowledged
//! up to 45, an old copy reads 100 and a write on it succeeds, then 45 again and a write on it
//! succeeds: 61 acknowledged increments are missing (41..100 of the first chain and the write
//! of 101), not 60 + 56. Each `lost` anomaly's `count` is what vanished at that moment, net of
//! what came back (which a revert can make smaller than `expected - got`).
//!
//! **One event, one anomaly.** A read below `last_acked` whose write then failed definitely but
//! not by the compare (a demoted primary answering `-READONLY`, no leader) proves nothing yet: if
//! the next read returns the same value and its write succeeds, the two reads are one loss; if it
//! returns something else, the first was a stale read.
//!
//! Without compare-and-set the loop cannot tell lost from stale: a read below `last_acked` is then
//! reported as lost, unconfirmed ([`Anomaly::confirmed`] is false).
//!
//! Every anomaly is counted; the first [`LISTED_PER_KEY`] of each key are listed with key, node,
//! time, expected and got.

use crate::node::NodeName;
use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// How many anomalies of one key are listed (all are counted).
pub const LISTED_PER_KEY: usize = 100;

/// How many chains left behind by losses a key remembers (older ones are forgotten: a copy
/// from before them that comes back is then explained as a prefix of the current chain).
const CHAINS_KEPT: usize = 16;

/// The kinds of anomaly, as Jepsen names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Acknowledged writes confirmed gone.
    Lost,
    /// A read below the last acknowledged value, not confirmed as a loss.
    Stale,
    /// A read of a value the key no longer held: below one already read, or from before a loss.
    Reverted,
    /// A read above the most that could have been written.
    Impossible,
}

impl Kind {
    /// `lost`, `stale`, ...
    pub fn name(self) -> &'static str {
        match self {
            Kind::Lost => "lost",
            Kind::Stale => "stale",
            Kind::Reverted => "reverted",
            Kind::Impossible => "impossible",
        }
    }
}

/// One anomaly, as listed in the summary and the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Anomaly {
    /// What kind.
    pub kind: Kind,
    /// The key.
    pub key: String,
    /// The node its connection talks to.
    pub node: NodeName,
    /// When the read that showed it was made, seconds since the load began (for the final read:
    /// when it was made, after the load).
    pub at_s: f64,
    /// What the key should have held: the last acknowledged value (lost, stale), the highest value
    /// read (reverted below), the most the writes since the last loss could have set (reverted
    /// above), or the most that could ever have been written (impossible).
    pub expected: u64,
    /// What the read returned (a key that does not exist reads 0).
    pub got: u64,
    /// For lost: the acknowledged increments that vanished then (net of any that came back);
    /// else 1.
    pub count: u64,
    /// Shown by the final read, after the load.
    #[serde(default)]
    pub final_read: bool,
    /// Confirmed (for lost: by a compare-and-set or the final read). False only for a loss seen
    /// by a driver without compare-and-set.
    pub confirmed: bool,
}

/// How a write ended, as Jepsen names an operation's outcome, with why a definite failure failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Acknowledged.
    Ok,
    /// Refused by the compare: the key held something other than what was read.
    Refused,
    /// Definitely not applied, for another reason (read-only, no leader, refused before commit).
    Fail,
    /// Unknown: it may have been applied, now or later.
    Info,
}

/// The anomaly counts, all kinds: of a key, a node or a run (the expectations judge them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Safety {
    /// Acknowledged increments missing from what the keys hold.
    pub lost_writes: u64,
    /// Stale reads.
    pub stale_reads: u64,
    /// Reverted reads.
    pub reverted_reads: u64,
    /// Impossible reads.
    pub impossible_reads: u64,
}

impl Safety {
    /// Add `other`'s counts to these.
    pub fn add(&mut self, other: &Safety) {
        self.lost_writes += other.lost_writes;
        self.stale_reads += other.stale_reads;
        self.reverted_reads += other.reverted_reads;
        self.impossible_reads += other.impossible_reads;
    }

    /// Every anomaly counted (lost counts increments, the others reads).
    pub fn total(&self) -> u64 {
        self.lost_writes + self.stale_reads + self.reverted_reads + self.impossible_reads
    }

    /// `3 anomalies (0 lost writes, 2 stale, 1 reverted, 0 impossible reads)`.
    pub fn describe(&self) -> String {
        format!(
            "{} anomalies ({} lost writes, {} stale, {} reverted, {} impossible reads)",
            self.total(),
            self.lost_writes,
            self.stale_reads,
            self.reverted_reads,
            self.impossible_reads
        )
    }
}

/// Values `lo..=hi` of a chain, set by writes of one branch; `unacked` are the sub-ranges whose
/// writes were not acknowledged (unknown writes that took effect, values of unknown origin).
#[derive(Debug, Clone, PartialEq)]
struct Segment {
    branch: u32,
    lo: u64,
    hi: u64,
    unacked: Vec<(u64, u64)>,
}

impl Segment {
    fn acked(&self) -> u64 {
        let gaps: u64 = self.unacked.iter().map(|(a, b)| b - a + 1).sum();
        (self.hi - self.lo + 1) - gaps
    }
}

/// The writes behind a key's contents, from value 1 up to its top.
#[derive(Debug, Clone, Default, PartialEq)]
struct Chain {
    segments: Vec<Segment>,
}

impl Chain {
    fn top(&self) -> u64 {
        self.segments.last().map_or(0, |s| s.hi)
    }

    fn acked(&self) -> u64 {
        self.segments.iter().map(Segment::acked).sum()
    }

    /// Keep the values up to `v`.
    fn truncate(&mut self, v: u64) {
        while let Some(s) = self.segments.last_mut() {
            if s.lo > v {
                self.segments.pop();
                continue;
            }
            s.hi = s.hi.min(v);
            let hi = s.hi;
            s.unacked.retain(|(a, _)| *a <= hi);
            if let Some(last) = s.unacked.last_mut() {
                last.1 = last.1.min(hi);
            }
            break;
        }
    }

    /// Values `top+1..=to`, set by writes of `branch`, acknowledged or not.
    fn extend(&mut self, branch: u32, to: u64, acked: bool) {
        let from = self.top() + 1;
        if to < from {
            return;
        }
        match self.segments.last_mut() {
            Some(s) if s.branch == branch => s.hi = to,
            _ => self.segments.push(Segment {
                branch,
                lo: from,
                hi: to,
                unacked: Vec::new(),
            }),
        }
        if !acked {
            let s = self.segments.last_mut().expect("just extended");
            match s.unacked.last_mut() {
                Some(last) if last.1 + 1 == from => last.1 = to,
                _ => s.unacked.push((from, to)),
            }
        }
    }
}

/// The chain a key holds now, the chains losses left behind, and every acknowledged increment.
#[derive(Debug, Clone, Default, PartialEq)]
struct Lineage {
    acked: u64,
    chain: Chain,
    branch: u32,
    left: VecDeque<Chain>,
}

impl Lineage {
    /// Acknowledged increments the key does not hold.
    fn lost(&self) -> u64 {
        self.acked - self.chain.acked()
    }

    /// A write to `v` from `v - 1` took effect (`acked`: and was acknowledged).
    fn wrote(&mut self, v: u64, acked: bool) {
        if self.chain.top() + 1 < v {
            // Values in between came from unknown writes that took effect.
            self.chain.extend(self.branch, v - 1, false);
        }
        self.chain.truncate(v - 1);
        self.chain.extend(self.branch, v, acked);
        if acked {
            self.acked += 1;
        }
    }

    /// The key was shown to hold `v`, which the current chain does not end with: switch to the
    /// chain that explains it (a chain left behind whose last value is `v`; for a `v` above the
    /// current top, one that reached it; else the current chain cut at `v`).
    fn holds(&mut self, v: u64) {
        let top = self.chain.top();
        if v == top {
            return;
        }
        let exact = self.left.iter().position(|c| c.top() == v);
        let pick = exact.or_else(|| {
            (v > top)
                .then(|| self.left.iter().position(|c| c.top() > v))
                .flatten()
        });
        let mut next = match pick {
            Some(i) => self.left.remove(i).expect("found above"),
            None => self.chain.clone(),
        };
        self.branch += 1;
        if v <= next.top() {
            next.truncate(v);
        } else {
            next.extend(self.branch, v, false);
        }
        let before = std::mem::replace(&mut self.chain, next);
        self.left.push_front(before);
        self.left.truncate(CHAINS_KEPT);
    }
}

/// A read below `last_acked`, waiting for the compare-and-set that follows it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Suspect {
    expected: u64,
    got: u64,
    at_s: f64,
    /// Above what the writes since the last loss could set: already counted as reverted or
    /// impossible; a successful write from it switches the key to the chain that held it.
    high: bool,
}

/// The check of one key: what its writes allow it to hold, what its reads showed, and what was
/// wrong. Bounded: a few numbers, at most 16 chains of a few segments and at most
/// [`LISTED_PER_KEY`] listed anomalies.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyCheck {
    /// The key.
    pub key: String,
    /// The node its connection talks to.
    pub node: NodeName,
    /// Whether its driver writes by compare-and-set.
    pub conditional: bool,
    /// The value of the last acknowledged write (0 before any).
    pub last_acked: u64,
    /// The highest value a write that was not definitely refused may ever have set.
    pub max_possible: u64,
    /// The highest value the writes since the last confirmed loss may have set.
    pub reach: u64,
    /// The highest value a read returned since the last confirmed loss.
    pub highest_read: u64,
    /// Its anomalies.
    pub safety: Safety,
    /// The first [`LISTED_PER_KEY`] anomalies.
    pub anomalies: Vec<Anomaly>,
    suspect: Option<Suspect>,
    /// A low read whose write failed, but not by the compare: decided by the next read.
    deferred: Option<Suspect>,
    lineage: Lineage,
}

impl KeyCheck {
    /// A key never written.
    pub fn new(key: String, node: NodeName, conditional: bool) -> KeyCheck {
        KeyCheck {
            key,
            node,
            conditional,
            last_acked: 0,
            max_possible: 0,
            reach: 0,
            highest_read: 0,
            safety: Safety::default(),
            anomalies: Vec::new(),
            suspect: None,
            deferred: None,
            lineage: Lineage::default(),
        }
    }

    fn note(
        &mut self,
        kind: Kind,
        expected: u64,
        got: u64,
        at_s: f64,
        final_read: bool,
        count: u64,
    ) {
        let k = &mut self.safety;
        match kind {
            Kind::Lost => {}
            Kind::Stale => k.stale_reads += 1,
            Kind::Reverted => k.reverted_reads += 1,
            Kind::Impossible => k.impossible_reads += 1,
        }
        if self.anomalies.len() < LISTED_PER_KEY {
            self.anomalies.push(Anomaly {
                kind,
                key: self.key.clone(),
                node: self.node.clone(),
                at_s,
                expected,
                got,
                count,
                final_read,
                confirmed: kind != Kind::Lost || self.conditional || final_read,
            });
        }
    }

    /// The key was shown to hold `v` (a write from it succeeded, or the final read settled on
    /// it): follow the chain that explains it, note a loss if acknowledged increments vanished,
    /// and start counting afresh from it.
    fn confirm(&mut self, v: u64, expected: u64, at_s: f64, final_read: bool) {
        let before = self.lineage.lost();
        self.lineage.holds(v);
        let after = self.lineage.lost();
        self.safety.lost_writes = after;
        if v < expected {
            self.note(
                Kind::Lost,
                expected,
                v,
                at_s,
                final_read,
                after.saturating_sub(before),
            );
        }
        self.last_acked = v;
        self.reach = v;
        self.highest_read = v;
    }

    /// A read returned `got` (`None`: the key does not exist, which reads as 0) at `at_s`.
    /// Returns the value the loop increments.
    pub fn read(&mut self, got: Option<u64>, at_s: f64) -> u64 {
        let v = got.unwrap_or(0);
        // A read never leaves an earlier suspicion open: its write was never made.
        self.settle_suspect();
        if let Some(d) = self.deferred.take() {
            if d.got != v {
                self.note(Kind::Stale, d.expected, d.got, d.at_s, false, 1);
            }
        }
        if v > self.reach {
            // Above anything written since the last confirmed loss: a copy from before it (or
            // nothing ever wrote it). Counted now; a write from it that succeeds switches the key
            // to that copy. Until then it does not raise `highest_read`: the key's own next read
            // is no revert of it.
            if v > self.max_possible {
                self.note(Kind::Impossible, self.max_possible, v, at_s, false, 1);
            } else {
                self.note(Kind::Reverted, self.reach, v, at_s, false, 1);
            }
            self.suspect = self.conditional.then_some(Suspect {
                expected: self.last_acked,
                got: v,
                at_s,
                high: true,
            });
            return v;
        } else if v < self.last_acked {
            if self.conditional {
                self.suspect = Some(Suspect {
                    expected: self.last_acked,
                    got: v,
                    at_s,
                    high: false,
                });
            } else {
                // Without compare-and-set a stale read cannot be told from a loss.
                let expected = self.last_acked;
                self.confirm(v, expected, at_s, false);
            }
            return v;
        } else if v < self.highest_read {
            self.note(Kind::Reverted, self.highest_read, v, at_s, false, 1);
            self.highest_read = v;
        }
        if v > self.lineage.chain.top() && v <= self.reach {
            // Unknown writes took effect: the chain holds their values too.
            let branch = self.lineage.branch;
            self.lineage.chain.extend(branch, v, false);
        }
        self.highest_read = self.highest_read.max(v);
        v
    }

    /// The write of `value` (from the value just read) ended with `outcome`.
    pub fn written(&mut self, value: u64, outcome: Outcome) {
        let suspect = self.suspect.take();
        let from = value - 1;
        match outcome {
            Outcome::Ok => {
                if let Some(s) = suspect {
                    // The compare-and-set from that value succeeded: the key held it.
                    self.confirm(
                        s.got,
                        if s.high { s.got } else { s.expected },
                        s.at_s,
                        false,
                    );
                } else if from != self.lineage.chain.top() {
                    self.lineage.holds(from);
                    self.safety.lost_writes = self.lineage.lost();
                }
                self.lineage.wrote(value, true);
                self.safety.lost_writes = self.lineage.lost();
                self.last_acked = value;
                self.reach = self.reach.max(value);
                self.max_possible = self.max_possible.max(value);
                self.highest_read = self.highest_read.max(value);
            }
            Outcome::Refused => {
                if let Some(s) = suspect.filter(|s| !s.high) {
                    self.note(Kind::Stale, s.expected, s.got, s.at_s, false, 1);
                }
            }
            Outcome::Fail => {
                // Refused, but not because the key held something else: the next read decides.
                self.deferred = suspect.filter(|s| !s.high);
            }
            Outcome::Info => {
                self.reach = self.reach.max(value);
                self.max_possible = self.max_possible.max(value);
                if let Some(s) = suspect.filter(|s| !s.high) {
                    self.note(Kind::Stale, s.expected, s.got, s.at_s, false, 1);
                }
            }
        }
    }

    fn settle_suspect(&mut self) {
        if let Some(s) = self.suspect.take().filter(|s| !s.high) {
            self.note(Kind::Stale, s.expected, s.got, s.at_s, false, 1);
        }
    }

    /// The connection stopped: a read below `last_acked` whose write never came stays
    /// unconfirmed (stale). A low read whose write failed, not by the compare, waits for the
    /// final read, which decides it as the next read would ([`KeyCheck::final_read`]).
    pub fn stop(&mut self) {
        self.settle_suspect();
    }

    /// A read below `last_acked` whose write never came (the run stopped, the write's connect
    /// failed) stays unconfirmed: stale; so does one whose write failed and that nothing
    /// decided since.
    pub fn settle(&mut self) {
        self.settle_suspect();
        if let Some(d) = self.deferred.take() {
            self.note(Kind::Stale, d.expected, d.got, d.at_s, false, 1);
        }
    }

    /// The final reads, after the load and after the faults were undone, returned `reads` at
    /// `at_s`, the last of which the key settled on (two in a row agreed). The reads before it
    /// that returned something else are checked as reads; the settled one is what the key holds: below `last_acked` a loss,
    /// above what the writes since the last loss could set a revert to that copy (or impossible).
    pub fn final_read(&mut self, reads: &[Option<u64>], at_s: f64) {
        self.settle_suspect();
        let Some(last) = reads.last() else {
            self.settle();
            return;
        };
        let v = last.unwrap_or(0);
        // The settled value closes a low read whose write failed at the end of the run as the
        // next read would: the same value below what was acknowledged is one loss, anything
        // else shows it was stale.
        if let Some(d) = self.deferred.take() {
            if !(d.got == v && v < self.last_acked) {
                self.note(Kind::Stale, d.expected, d.got, d.at_s, false, 1);
            }
        }
        // The reads before the final run of reads of `v`, in their order, as reads.
        let run = reads
            .iter()
            .rev()
            .take_while(|g| g.unwrap_or(0) == v)
            .count();
        for got in &reads[..reads.len() - run] {
            self.read(*got, at_s);
            self.settle();
        }
        // What was acknowledged stays as it was: the summary shows it beside the final read.
        let acked = self.last_acked;
        self.final_settled(v, at_s);
        self.last_acked = acked;
    }

    fn final_settled(&mut self, v: u64, at_s: f64) {
        if v > self.max_possible {
            self.note(Kind::Impossible, self.max_possible, v, at_s, true, 1);
            self.confirm(v, v, at_s, true);
        } else if v > self.reach {
            self.note(Kind::Reverted, self.reach, v, at_s, true, 1);
            self.confirm(v, v, at_s, true);
        } else if v < self.last_acked {
            let expected = self.last_acked;
            self.confirm(v, expected, at_s, true);
        } else if v < self.highest_read {
            self.note(Kind::Reverted, self.highest_read, v, at_s, true, 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> KeyCheck {
        KeyCheck::new("r/n1/0".into(), "n1".into(), true)
    }

    /// Read, then write the value plus one with `outcome`.
    fn step(k: &mut KeyCheck, got: Option<u64>, outcome: Outcome) {
        let v = k.read(got, 1.0);
        k.written(v + 1, outcome);
    }

    /// Acknowledged increments from `from` up to `to`.
    fn climb(k: &mut KeyCheck, from: u64, to: u64) {
        for v in from..to {
            step(k, Some(v).filter(|&v| v > 0), Outcome::Ok);
        }
    }

    #[test]
    fn a_healthy_history_has_no_anomaly() {
        let mut k = key();
        step(&mut k, None, Outcome::Ok);
        step(&mut k, Some(1), Outcome::Ok);
        step(&mut k, Some(2), Outcome::Info);
        step(&mut k, Some(3), Outcome::Ok); // the info write was applied
        step(&mut k, Some(4), Outcome::Fail);
        step(&mut k, Some(4), Outcome::Refused);
        k.final_read(&[Some(4), Some(4)], 9.0);
        assert_eq!((k.last_acked, k.max_possible, k.safety.total()), (4, 4, 0));
    }

    #[test]
    fn a_compare_and_set_from_below_confirms_a_loss_of_the_missing_increments() {
        let mut k = key();
        climb(&mut k, 0, 100);
        assert_eq!(k.last_acked, 100);
        // The key was wiped back to 3 and the compare-and-set from 3 succeeded.
        step(&mut k, Some(3), Outcome::Ok);
        assert_eq!(
            k.safety.lost_writes, 97,
            "a drop from 100 to 3 loses 97 increments"
        );
        assert_eq!(k.anomalies.len(), 1);
        let a = &k.anomalies[0];
        assert_eq!(
            (a.kind, a.expected, a.got, a.count),
            (Kind::Lost, 100, 3, 97)
        );
        assert!(a.confirmed && !a.final_read);
        // From there on the key climbs again without further reports.
        step(&mut k, Some(4), Outcome::Ok);
        k.final_read(&[Some(5)], 9.0);
        assert_eq!(k.safety.total(), 97);
    }

    /// The history: acknowledged 100, read 40 and a write on it (60 vanish),
    /// acknowledged up to 45, a deposed primary's old copy reads 100 and a write on it succeeds,
    /// then 45 again and a write on it succeeds: the read of 100 is flagged, and 61 acknowledged
    /// increments are missing in the end (41..100 and 101), not 60 + 56.
    #[test]
    fn counting_stays_right_when_an_old_copy_comes_back() {
        let mut k = key();
        climb(&mut k, 0, 100);
        step(&mut k, Some(40), Outcome::Ok);
        assert_eq!(k.safety.lost_writes, 60);
        climb(&mut k, 41, 45);
        assert_eq!(k.last_acked, 45);
        let v = k.read(Some(100), 5.0);
        assert_eq!(
            k.safety.reverted_reads, 1,
            "100 is above anything written since the loss"
        );
        let r = k.anomalies.last().unwrap();
        assert_eq!((r.kind, r.expected, r.got), (Kind::Reverted, 45, 100));
        k.written(v + 1, Outcome::Ok);
        assert_eq!(
            k.safety.lost_writes, 5,
            "41..45 of the second chain are gone, 41..100 are back"
        );
        step(&mut k, Some(45), Outcome::Ok);
        assert_eq!(k.safety.lost_writes, 61);
        let lost: Vec<u64> = k
            .anomalies
            .iter()
            .filter(|a| a.kind == Kind::Lost)
            .map(|a| a.count)
            .collect();
        assert_eq!(lost, vec![60, 56]);
        k.final_read(&[Some(46), Some(46)], 9.0);
        assert_eq!(k.safety.lost_writes, 61);
        assert_eq!(k.safety.total(), 61 + 1);
    }

    #[test]
    fn a_low_read_whose_compare_and_set_is_refused_is_a_stale_read_not_a_loss() {
        let mut k = key();
        step(&mut k, None, Outcome::Ok);
        step(&mut k, Some(1), Outcome::Ok);
        step(&mut k, Some(1), Outcome::Refused); // a follower answered from behind
        assert_eq!((k.safety.stale_reads, k.safety.lost_writes), (1, 0));
        step(&mut k, Some(0), Outcome::Info); // unknown: not a confirmation either
        assert_eq!((k.safety.stale_reads, k.safety.lost_writes), (2, 0));
        assert_eq!(k.anomalies[0].kind, Kind::Stale);
    }

    /// A demoted primary: its read is below what was acknowledged and its write is refused as
    /// read-only; the next read, on the new primary, returns the same value and its write
    /// succeeds: one loss, not a stale read plus a loss.
    #[test]
    fn a_stale_read_of_a_demoted_primary_then_its_loss_is_one_event() {
        let mut k = key();
        climb(&mut k, 0, 100);
        step(&mut k, Some(40), Outcome::Fail);
        step(&mut k, Some(40), Outcome::Ok);
        assert_eq!((k.safety.stale_reads, k.safety.lost_writes), (0, 60));
        assert_eq!(k.anomalies.len(), 1);
        // Refused as read-only, then the next read is back at what was acknowledged: stale.
        let mut k = key();
        climb(&mut k, 0, 10);
        step(&mut k, Some(4), Outcome::Fail);
        step(&mut k, Some(10), Outcome::Ok);
        assert_eq!((k.safety.stale_reads, k.safety.lost_writes), (1, 0));
        // Left undecided at the end: stale.
        let mut k = key();
        climb(&mut k, 0, 10);
        step(&mut k, Some(4), Outcome::Fail);
        k.settle();
        assert_eq!(k.safety.stale_reads, 1);
        // The key's last iteration: the final read decides it as the next read would.
        let mut k = key();
        climb(&mut k, 0, 100);
        step(&mut k, Some(40), Outcome::Fail);
        k.stop();
        k.final_read(&[Some(40), Some(40)], 9.0);
        assert_eq!((k.safety.stale_reads, k.safety.lost_writes), (0, 60));
        let mut k = key();
        climb(&mut k, 0, 100);
        step(&mut k, Some(40), Outcome::Fail);
        k.stop();
        k.final_read(&[Some(100), Some(100)], 9.0);
        assert_eq!((k.safety.stale_reads, k.safety.lost_writes), (1, 0));
    }

    /// A deposed primary answers an old copy once and its write on it is refused: one reverted
    /// read, and the key's next read of its real value is no second anomaly.
    #[test]
    fn an_old_copy_read_once_is_one_anomaly() {
        let mut k = key();
        climb(&mut k, 0, 100);
        step(&mut k, Some(40), Outcome::Ok); // 60 lost
        climb(&mut k, 41, 45);
        step(&mut k, Some(100), Outcome::Refused);
        step(&mut k, Some(45), Outcome::Ok);
        step(&mut k, Some(46), Outcome::Ok);
        let s = k.safety;
        assert_eq!((s.lost_writes, s.reverted_reads, s.stale_reads), (60, 1, 0));
        // Likewise a value nothing wrote, read once.
        step(&mut k, Some(9999), Outcome::Refused);
        step(&mut k, Some(47), Outcome::Ok);
        assert_eq!((k.safety.impossible_reads, k.safety.total()), (1, 62));
    }

    #[test]
    fn a_value_seen_then_gone_is_reverted_and_one_never_written_is_impossible() {
        let mut k = key();
        step(&mut k, None, Outcome::Ok); // acked 1
        step(&mut k, Some(1), Outcome::Info); // 2 may be applied
        step(&mut k, Some(2), Outcome::Info); // read 2: it was; 3 may be applied
        step(&mut k, Some(1), Outcome::Ok); // 2 was seen and is gone: reverted, not lost
        assert_eq!((k.safety.reverted_reads, k.safety.lost_writes), (1, 0));
        let r = &k.anomalies[0];
        assert_eq!((r.kind, r.expected, r.got), (Kind::Reverted, 2, 1));
        // 7 was never written: nothing reached beyond 3.
        step(&mut k, Some(7), Outcome::Ok);
        assert_eq!(k.safety.impossible_reads, 1);
        let i = &k.anomalies[1];
        assert_eq!((i.kind, i.expected, i.got), (Kind::Impossible, 3, 7));
        assert_eq!(k.safety.lost_writes, 0, "the write on 7 took nothing away");
    }

    #[test]
    fn the_final_read_finds_a_loss_no_read_saw() {
        let mut k = key();
        climb(&mut k, 0, 10);
        k.final_read(&[None, None], 30.5);
        assert_eq!(k.safety.lost_writes, 10);
        let a = &k.anomalies[0];
        assert!(a.final_read && a.confirmed);
        assert_eq!((a.expected, a.got, a.at_s, a.count), (10, 0, 30.5, 10));
        // Final reads that first disagree: the one before the settled pair is a read like any.
        let mut k = key();
        climb(&mut k, 0, 10);
        k.final_read(&[Some(7), Some(10), Some(10)], 31.0);
        assert_eq!((k.safety.stale_reads, k.safety.lost_writes), (1, 0));
        // In their order: 6, then 5, then 6 again is a revert, though 6 is what they settle on.
        let mut k = key();
        climb(&mut k, 0, 5);
        step(&mut k, Some(5), Outcome::Info);
        k.final_read(&[Some(6), Some(5), Some(6), Some(6)], 31.0);
        assert_eq!((k.safety.reverted_reads, k.safety.total()), (1, 1));
    }

    #[test]
    fn without_compare_and_set_a_low_read_is_an_unconfirmed_loss() {
        let mut k = KeyCheck::new("k".into(), "n1".into(), false);
        step(&mut k, None, Outcome::Ok);
        step(&mut k, Some(1), Outcome::Ok);
        step(&mut k, Some(0), Outcome::Ok);
        assert_eq!(k.safety.lost_writes, 2);
        assert!(!k.anomalies[0].confirmed);
        step(&mut k, Some(1), Outcome::Ok);
        assert_eq!(k.safety.total(), 2, "counted once");
    }

    #[test]
    fn a_read_left_waiting_for_its_write_is_stale_and_the_list_is_bounded() {
        let mut k = key();
        step(&mut k, None, Outcome::Ok);
        k.read(Some(0), 2.0);
        k.settle();
        assert_eq!(k.safety.stale_reads, 1);
        for _ in 0..(LISTED_PER_KEY * 2) {
            k.read(Some(0), 3.0);
            k.settle();
        }
        assert_eq!(k.safety.stale_reads as usize, 1 + LISTED_PER_KEY * 2);
        assert_eq!(k.anomalies.len(), LISTED_PER_KEY);
    }

    #[test]
    fn repeated_wipes_count_what_is_missing_in_the_end() {
        let mut k = key();
        climb(&mut k, 0, 50);
        step(&mut k, None, Outcome::Ok); // wiped: 50 gone
        climb(&mut k, 1, 20);
        step(&mut k, None, Outcome::Ok); // wiped again: 20 more
        climb(&mut k, 1, 5);
        k.final_read(&[Some(5), Some(5)], 9.0);
        assert_eq!(k.safety.lost_writes, 70);
        assert_eq!(k.last_acked, 5);
    }
}
