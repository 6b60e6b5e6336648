//! What the transactional clients ask for: Elle's list-append generator (a small pool of active
//! keys, each retired after a fixed number of appends and replaced by a fresh one, elements
//! unique per key) and the bank's transfers and reads. Seeded, so a run's requests can be made
//! again.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::checker::list_append::{Key, Mop};

/// Keys in use at once in one key space (Jepsen's `:key-count` is of this order: few keys, so
/// that transactions contend).
pub const ACTIVE_KEYS: usize = 5;
/// Appends a key takes before it is retired (Jepsen's `:max-writes-per-key`, 32 by default), so
/// lists stay short and reads cheap.
pub const MAX_WRITES_PER_KEY: u64 = 32;
/// The longest transaction, in micro-operations (Jepsen's `:max-txn-length`, 4).
pub const MAX_TXN_LENGTH: usize = 4;
/// Bank accounts per run (Jepsen's bank: 8).
pub const ACCOUNTS: u64 = 8;
/// What each account starts with (so the total is `ACCOUNTS * ACCOUNT_BALANCE`).
pub const ACCOUNT_BALANCE: i64 = 10;
/// The largest transfer (Jepsen's bank: `:max-transfer` 5).
const MAX_TRANSFER: i64 = 5;

/// The list-append requests of one key space: shared by the clients that contend on it (every
/// client of a replicated system; one node's clients on independent servers).
#[derive(Debug)]
pub struct ListAppendGenerator {
    rng: StdRng,
    /// The active keys and how many appends each has been given.
    active: Vec<(Key, u64)>,
    /// The next fresh key.
    next_key: Key,
}

impl ListAppendGenerator {
    /// A generator whose keys start at `first_key` (key spaces kept apart by their offsets).
    pub fn new(seed: u64, first_key: Key) -> ListAppendGenerator {
        ListAppendGenerator {
            rng: StdRng::seed_from_u64(seed),
            active: (0..ACTIVE_KEYS as Key)
                .map(|k| (first_key + k, 0))
                .collect(),
            next_key: first_key + ACTIVE_KEYS as Key,
        }
    }

    /// The next transaction: 1 to `MAX_TXN_LENGTH` (4) micro-operations, each a read of a whole
    /// list or an append of the key's next element (unique per key, from 1), half and half.
    pub fn next_txn(&mut self) -> Vec<Mop> {
        let len = self.rng.random_range(1..=MAX_TXN_LENGTH);
        (0..len)
            .map(|_| {
                let slot = self.rng.random_range(0..self.active.len());
                let key = self.active[slot].0;
                if self.rng.random_bool(0.5) {
                    return Mop::Read(key, None);
                }
                self.active[slot].1 += 1;
                let element = self.active[slot].1;
                if element >= MAX_WRITES_PER_KEY {
                    self.active[slot] = (self.next_key, 0);
                    self.next_key += 1;
                }
                Mop::Append(key, element)
            })
            .collect()
    }
}

/// The bank's requests: a read of every balance or a transfer between two accounts.
#[derive(Debug)]
pub struct BankGenerator {
    rng: StdRng,
}

/// One bank request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BankRequest {
    /// Read every balance.
    Read,
    /// Move `amount` from `from` to `to`.
    Transfer {
        /// Source account (0 to [`ACCOUNTS`] - 1).
        from: u64,
        /// Destination account, never the source.
        to: u64,
        /// How much, 1 to 5.
        amount: i64,
    },
}

impl BankGenerator {
    /// A seeded generator.
    pub fn new(seed: u64) -> BankGenerator {
        BankGenerator {
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// Half reads, half transfers of 1 to 5 between two different accounts.
    pub fn next_request(&mut self) -> BankRequest {
        if self.rng.random_bool(0.5) {
            return BankRequest::Read;
        }
        let from = self.rng.random_range(0..ACCOUNTS);
        let to = (from + self.rng.random_range(1..ACCOUNTS)) % ACCOUNTS;
        BankRequest::Transfer {
            from,
            to,
            amount: self.rng.random_range(1..=MAX_TRANSFER),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn elements_are_unique_per_key_and_keys_rotate() {
        let mut g = ListAppendGenerator::new(7, 100);
        let mut seen: HashMap<Key, Vec<u64>> = HashMap::new();
        let mut reads = 0;
        for _ in 0..2_000 {
            let t = g.next_txn();
            assert!((1..=MAX_TXN_LENGTH).contains(&t.len()));
            for m in t {
                match m {
                    Mop::Append(k, e) => seen.entry(k).or_default().push(e),
                    Mop::Read(k, None) => {
                        assert!(k >= 100);
                        reads += 1
                    }
                    Mop::Read(_, Some(_)) => panic!("a request holds no read value"),
                }
            }
        }
        assert!(reads > 1_000);
        assert!(seen.len() > 20, "keys retire and fresh ones come");
        for (k, es) in seen {
            assert!(k >= 100);
            let expected: Vec<u64> = (1..=es.len() as u64).collect();
            assert_eq!(es, expected, "key {k}: elements 1, 2, 3, ... each once");
            assert!(es.len() as u64 <= MAX_WRITES_PER_KEY);
        }
    }

    #[test]
    fn the_same_seed_asks_the_same_and_transfers_are_between_two_accounts() {
        let a: Vec<_> = {
            let mut g = ListAppendGenerator::new(3, 0);
            (0..50).map(|_| g.next_txn()).collect()
        };
        let mut g = ListAppendGenerator::new(3, 0);
        let b: Vec<_> = (0..50).map(|_| g.next_txn()).collect();
        assert_eq!(a, b);
        let mut bank = BankGenerator::new(1);
        let mut transfers = 0;
        for _ in 0..1_000 {
            if let BankRequest::Transfer { from, to, amount } = bank.next_request() {
                transfers += 1;
                assert_ne!(from, to);
                assert!(from < ACCOUNTS && to < ACCOUNTS);
                assert!((1..=MAX_TRANSFER).contains(&amount));
            }
        }
        assert!((300..700).contains(&transfers), "{transfers}");
    }
}
