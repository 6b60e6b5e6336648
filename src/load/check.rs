//! The loop's own safety check, per key, with bounded state: what each read and write says about
//! the data, in Jepsen's words (Kingsbury's analyses; Herlihy & Wing 1990 for linearizability).
//!
//! Each connection owns its key, so the loop knows what the key must hold: the value of its last
//! acknowledged write (`last_acked`), and at most the highest value any write that was not
//! definitely refused may have set (`max_possible`: an `ok` or `info` write). A read is checked
//! against both, and against the highest value a read already returned:
//!
//! | kind | what was read | how it is confirmed |
//! | --- | --- | --- |
//! | **lost** | below `last_acked` | the next compare-and-set from that value succeeded (the key really held it), or the final read is below `last_acked`; counted as the acknowledged increments missing |
//! | **stale** | below `last_acked` | not confirmed: the next compare-and-set from it failed or its outcome is unknown (a stale read is a linearizability violation, not a lost write) |
//! | **reverted** | below the highest value a read already returned, not below `last_acked` | a value clients saw (written by a write whose outcome was unknown) disappeared |
//! | **impossible** | above `max_possible` | nothing could have written it (a duplicated apply, a foreign value) |
//!
//! Without compare-and-set the loop cannot tell lost from stale: a read below `last_acked` is then
//! reported as lost, unconfirmed ([`Anomaly::confirmed`] is false).
//!
//! Every anomaly is counted; the first [`LISTED_PER_KEY`] of each key are listed with key, node,
//! time, expected and got.

use serde::{Deserialize, Serialize};

/// How many anomalies of one key are listed (all are counted).
pub const LISTED_PER_KEY: usize = 100;

/// The kinds of anomaly, as Jepsen names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Acknowledged writes confirmed gone.
    Lost,
    /// A read below the last acknowledged value, not confirmed as a loss.
    Stale,
    /// A read below the highest value a read already returned (not below acknowledged).
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
    pub node: String,
    /// When the read that showed it was made, seconds since the load began (for the final read:
    /// when it was made, after the load).
    pub at_s: f64,
    /// What the key should have held: the last acknowledged value (lost, stale), the highest value
    /// read (reverted), or the most that could have been written (impossible).
    pub expected: u64,
    /// What the read returned (a key that does not exist reads 0).
    pub got: u64,
    /// For lost: the acknowledged increments missing (`expected - got`); else 1.
    pub count: u64,
    /// Shown by the final read, after the load.
    #[serde(default)]
    pub final_read: bool,
    /// Confirmed (for lost: by a compare-and-set or the final read). False only for a loss seen
    /// by a driver without compare-and-set.
    pub confirmed: bool,
}

/// How a write ended, as Jepsen names an operation's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Acknowledged.
    Ok,
    /// Definitely not applied (refused, or failed before it could be).
    Fail,
    /// Unknown: it may have been applied, now or later.
    Info,
}

/// The anomaly counts, all kinds: of a key, a node or a run (the expectations judge them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Safety {
    /// Acknowledged increments lost.
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

/// A read below `last_acked`, waiting for the compare-and-set that follows it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Suspect {
    expected: u64,
    got: u64,
    at_s: f64,
}

/// The check of one key: what its writes allow it to hold, what its reads showed, and what was
/// wrong. Bounded: a few numbers and at most [`LISTED_PER_KEY`] listed anomalies.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyCheck {
    /// The key.
    pub key: String,
    /// The node its connection talks to.
    pub node: String,
    /// Whether its driver writes by compare-and-set.
    pub conditional: bool,
    /// The value of the last acknowledged write (0 before any).
    pub last_acked: u64,
    /// The highest value a write that was not definitely refused may have set.
    pub max_possible: u64,
    /// The highest value a read returned since the last confirmed loss.
    pub highest_read: u64,
    /// Its anomalies: acknowledged increments confirmed lost, reads below `last_acked` not
    /// confirmed as losses (stale), below the highest value read (reverted), above
    /// `max_possible` (impossible).
    pub safety: Safety,
    /// The first [`LISTED_PER_KEY`] anomalies.
    pub anomalies: Vec<Anomaly>,
    suspect: Option<Suspect>,
}

impl KeyCheck {
    /// A key never written.
    pub fn new(key: String, node: String, conditional: bool) -> KeyCheck {
        KeyCheck {
            key,
            node,
            conditional,
            last_acked: 0,
            max_possible: 0,
            highest_read: 0,
            safety: Safety::default(),
            anomalies: Vec::new(),
            suspect: None,
        }
    }

    fn note(&mut self, kind: Kind, expected: u64, got: u64, at_s: f64, final_read: bool) {
        let count = if kind == Kind::Lost {
            expected - got
        } else {
            1
        };
        let k = &mut self.safety;
        match kind {
            Kind::Lost => k.lost_writes += count,
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

    /// A read returned `got` (`None`: the key does not exist, which reads as 0) at `at_s`.
    /// Returns the value the loop increments.
    pub fn read(&mut self, got: Option<u64>, at_s: f64) -> u64 {
        let v = got.unwrap_or(0);
        // A read never leaves an earlier suspicion open: its write was never made.
        self.settle();
        if v > self.max_possible {
            self.note(Kind::Impossible, self.max_possible, v, at_s, false);
        } else if v < self.last_acked {
            if self.conditional {
                self.suspect = Some(Suspect {
                    expected: self.last_acked,
                    got: v,
                    at_s,
                });
            } else {
                // Without compare-and-set a stale read cannot be told from a loss.
                self.note(Kind::Lost, self.last_acked, v, at_s, false);
                self.last_acked = v;
                self.highest_read = v;
            }
        } else if v < self.highest_read {
            self.note(Kind::Reverted, self.highest_read, v, at_s, false);
            self.highest_read = v;
        }
        self.highest_read = self.highest_read.max(v);
        v
    }

    /// The write of `value` (from the value just read) ended with `outcome`.
    pub fn written(&mut self, value: u64, outcome: Outcome) {
        let suspect = self.suspect.take();
        match outcome {
            Outcome::Ok => {
                if let Some(s) = suspect {
                    // The compare-and-set from the low value succeeded: the key held it.
                    self.note(Kind::Lost, s.expected, s.got, s.at_s, false);
                    self.highest_read = value;
                }
                self.last_acked = value;
                self.max_possible = self.max_possible.max(value);
            }
            Outcome::Fail => {
                if let Some(s) = suspect {
                    self.note(Kind::Stale, s.expected, s.got, s.at_s, false);
                }
            }
            Outcome::Info => {
                self.max_possible = self.max_possible.max(value);
                if let Some(s) = suspect {
                    self.note(Kind::Stale, s.expected, s.got, s.at_s, false);
                }
            }
        }
    }

    /// A read below `last_acked` whose write never came (the run stopped, the write's connect
    /// failed) stays unconfirmed: stale.
    pub fn settle(&mut self) {
        if let Some(s) = self.suspect.take() {
            self.note(Kind::Stale, s.expected, s.got, s.at_s, false);
        }
    }

    /// The final read, after the load and after the faults were undone, returned `got` at `at_s`.
    pub fn final_read(&mut self, got: Option<u64>, at_s: f64) {
        self.settle();
        let v = got.unwrap_or(0);
        if v > self.max_possible {
            self.note(Kind::Impossible, self.max_possible, v, at_s, true);
        } else if v < self.last_acked {
            self.note(Kind::Lost, self.last_acked, v, at_s, true);
        } else if v < self.highest_read {
            self.note(Kind::Reverted, self.highest_read, v, at_s, true);
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

    #[test]
    fn a_healthy_history_has_no_anomaly() {
        let mut k = key();
        step(&mut k, None, Outcome::Ok);
        step(&mut k, Some(1), Outcome::Ok);
        step(&mut k, Some(2), Outcome::Info);
        step(&mut k, Some(3), Outcome::Ok); // the info write was applied
        step(&mut k, Some(4), Outcome::Fail);
        k.final_read(Some(4), 9.0);
        assert_eq!((k.last_acked, k.max_possible, k.safety.total()), (4, 4, 0));
    }

    #[test]
    fn a_compare_and_set_from_below_confirms_a_loss_of_the_missing_increments() {
        let mut k = key();
        for v in 0..100 {
            step(&mut k, Some(v).filter(|&v| v > 0), Outcome::Ok);
        }
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
        k.final_read(Some(5), 9.0);
        assert_eq!(k.safety.total(), 97);
    }

    #[test]
    fn a_low_read_whose_compare_and_set_fails_is_a_stale_read_not_a_loss() {
        let mut k = key();
        step(&mut k, None, Outcome::Ok);
        step(&mut k, Some(1), Outcome::Ok);
        step(&mut k, Some(1), Outcome::Fail); // a follower answered from behind
        assert_eq!((k.safety.stale_reads, k.safety.lost_writes), (1, 0));
        step(&mut k, Some(0), Outcome::Info); // unknown: not a confirmation either
        assert_eq!((k.safety.stale_reads, k.safety.lost_writes), (2, 0));
        assert_eq!(k.anomalies[0].kind, Kind::Stale);
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
    }

    #[test]
    fn the_final_read_finds_a_loss_no_read_saw() {
        let mut k = key();
        for v in 0..10 {
            step(&mut k, Some(v).filter(|&v| v > 0), Outcome::Ok);
        }
        k.final_read(None, 30.5);
        assert_eq!(k.safety.lost_writes, 10);
        let a = &k.anomalies[0];
        assert!(a.final_read && a.confirmed);
        assert_eq!((a.expected, a.got, a.at_s), (10, 0, 30.5));
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
}
