//! The bank's checker, as Jepsen's bank checker reads a history (`jepsen.tests.bank`): transfers
//! move money between a fixed set of accounts and never create or destroy it, so every read of
//! all balances that committed must see every account (`wrong-n` otherwise), the fixed total
//! (`wrong-total`) and no negative balance (`negative-value`, since a transfer refuses to
//! overdraw). Failed and unknown transfers change nothing here: only what was read is judged.
//! Beside the verdict it gives, second by second, the totals the reads saw, so a run shows when
//! money appeared or vanished against its fault timeline.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::run::{BankOp, BankOpKind};
use crate::checker::list_append::Outcome;

/// What is wrong with one read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BankAnomalyKind {
    /// It did not see exactly the run's accounts.
    WrongN,
    /// Its balances did not add up to the total.
    WrongTotal,
    /// A balance was below zero.
    NegativeValue,
}

impl BankAnomalyKind {
    /// Jepsen's name (`wrong-total`).
    pub fn name(self) -> &'static str {
        match self {
            BankAnomalyKind::WrongN => "wrong-n",
            BankAnomalyKind::WrongTotal => "wrong-total",
            BankAnomalyKind::NegativeValue => "negative-value",
        }
    }
}

/// One read that was wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BankAnomaly {
    /// What was wrong.
    pub kind: BankAnomalyKind,
    /// The operation (index in the operations given).
    pub op: usize,
    /// The node it read from (index in node order).
    pub node: usize,
    /// When it completed, ns since second 0.
    pub at_ns: u64,
    /// The total it read.
    pub total: i64,
    /// The balances it read, by account.
    pub balances: Vec<(u64, i64)>,
}

/// One second of reads: how many committed reads completed in it and the totals they saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecondTotals {
    /// 1-based second (`[sec-1, sec)` since second 0).
    pub sec: u64,
    /// Committed reads.
    pub reads: u64,
    /// The smallest total read (`None`: no read).
    pub min: Option<i64>,
    /// The largest.
    pub max: Option<i64>,
    /// Reads with the wrong total in it.
    pub wrong: u64,
}

/// What the bank's checker found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BankCheck {
    /// The total every read must see.
    pub total: i64,
    /// The accounts every read must see.
    pub accounts: u64,
    /// Committed reads judged.
    pub reads: u64,
    /// Committed transfers.
    pub transfers: u64,
    /// Every wrong read, in completion order.
    pub anomalies: Vec<BankAnomaly>,
    /// Totals read, second by second, up to the last read.
    pub per_second: Vec<SecondTotals>,
}

impl BankCheck {
    /// Whether every read saw the total, every account and no negative balance.
    pub fn is_clean(&self) -> bool {
        self.anomalies.is_empty()
    }

    /// How many wrong reads of each kind.
    pub fn counts(&self) -> BTreeMap<&'static str, u64> {
        let mut c = BTreeMap::new();
        for a in &self.anomalies {
            *c.entry(a.kind.name()).or_default() += 1;
        }
        c
    }
}

/// Check a bank history: `ops` as they ended, `accounts` accounts of `total` together.
pub fn check(ops: &[BankOp], accounts: u64, total: i64) -> BankCheck {
    let mut anomalies = Vec::new();
    let mut seconds: BTreeMap<u64, SecondTotals> = BTreeMap::new();
    let (mut reads, mut transfers) = (0, 0);
    for (i, op) in ops.iter().enumerate() {
        if op.outcome != Outcome::Ok {
            continue;
        }
        let balances = match &op.kind {
            BankOpKind::Transfer { .. } => {
                transfers += 1;
                continue;
            }
            BankOpKind::Read(Some(b)) => b,
            BankOpKind::Read(None) => continue,
        };
        reads += 1;
        let sum: i64 = balances.iter().map(|(_, b)| b).sum();
        let sec = op.completed / 1_000_000_000 + 1;
        let s = seconds.entry(sec).or_insert(SecondTotals {
            sec,
            reads: 0,
            min: None,
            max: None,
            wrong: 0,
        });
        s.reads += 1;
        s.min = Some(s.min.map_or(sum, |m| m.min(sum)));
        s.max = Some(s.max.map_or(sum, |m| m.max(sum)));
        let mut wrong = |kind| {
            anomalies.push(BankAnomaly {
                kind,
                op: i,
                node: op.node,
                at_ns: op.completed,
                total: sum,
                balances: balances.clone(),
            })
        };
        let ids: Vec<u64> = balances.iter().map(|(a, _)| *a).collect();
        if ids != (0..accounts).collect::<Vec<_>>() {
            wrong(BankAnomalyKind::WrongN);
        }
        if sum != total {
            wrong(BankAnomalyKind::WrongTotal);
            s.wrong += 1;
        }
        if balances.iter().any(|(_, b)| *b < 0) {
            wrong(BankAnomalyKind::NegativeValue);
        }
    }
    // Seconds without a read are shown as such, so a gap in the reads is visible.
    let last = seconds.keys().next_back().copied().unwrap_or(0);
    let per_second = (1..=last)
        .map(|sec| {
            seconds.remove(&sec).unwrap_or(SecondTotals {
                sec,
                reads: 0,
                min: None,
                max: None,
                wrong: 0,
            })
        })
        .collect();
    BankCheck {
        total,
        accounts,
        reads,
        transfers,
        anomalies,
        per_second,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn read(at_s: u64, balances: &[i64]) -> BankOp {
        BankOp {
            node: 0,
            reader: false,
            process: 0,
            outcome: Outcome::Ok,
            invoked: at_s * 1_000_000_000,
            completed: at_s * 1_000_000_000 + 1,
            kind: BankOpKind::Read(Some(
                balances
                    .iter()
                    .enumerate()
                    .map(|(a, b)| (a as u64, *b))
                    .collect(),
            )),
            error: None,
        }
    }

    #[test]
    fn serial_transfers_never_change_the_total_and_the_checker_agrees() {
        // The oracle: apply random transfers one at a time, as a serial bank would, reading
        // after each; every read is right by construction.
        let mut rng = StdRng::seed_from_u64(5);
        let mut bal = vec![10i64; 8];
        let mut ops = Vec::new();
        for t in 0..2_000u64 {
            let (from, to) = (rng.random_range(0..8), rng.random_range(0..8));
            let amount = rng.random_range(1..=5);
            if from != to && bal[from] >= amount {
                bal[from] -= amount;
                bal[to] += amount;
            }
            ops.push(read(t / 100, &bal));
        }
        let c = check(&ops, 8, 80);
        assert!(c.is_clean(), "{:?}", c.anomalies.first());
        assert_eq!(c.reads, 2_000);
        assert_eq!(c.per_second.len(), 20);
        assert!(c
            .per_second
            .iter()
            .all(|s| s.min == Some(80) && s.max == Some(80)));
    }

    #[test]
    fn money_made_lost_overdrawn_or_an_account_missing_is_named() {
        let ops = vec![
            read(0, &[10; 8]),
            read(1, &[10, 10, 10, 10, 10, 10, 10, 13]),
            read(1, &[15, -5, 20, 10, 10, 10, 10, 10]),
            read(3, &[10; 7]),
            BankOp {
                outcome: Outcome::Info,
                kind: BankOpKind::Read(None),
                ..read(3, &[])
            },
        ];
        let c = check(&ops, 8, 80);
        let kinds: Vec<_> = c.anomalies.iter().map(|a| (a.op, a.kind.name())).collect();
        assert_eq!(
            kinds,
            [
                (1, "wrong-total"),
                (2, "negative-value"),
                (3, "wrong-n"),
                (3, "wrong-total")
            ]
        );
        assert_eq!(c.anomalies[0].total, 83);
        let s2 = &c.per_second[1];
        assert_eq!(
            (s2.reads, s2.min, s2.max, s2.wrong),
            (2, Some(80), Some(83), 1)
        );
        assert_eq!(c.per_second[2].reads, 0, "a second without a read is shown");
        assert_eq!(c.counts()["wrong-total"], 2);
    }
}
