//! Checkers of histories: what a run's operations say about the database, decided from the
//! history file alone ([`crate::history`]), so that anyone can check Perseus' verdicts again.
//!
//! [`linearizable`] decides, key by key (a history of many registers is linearizable exactly
//! when each key's is: Herlihy & Wing's locality, which Porcupine calls P-compositionality),
//! whether some order of the operations explains every answer the database gave, with a budget
//! past which a key is **unknown**. [`check`] runs it over a whole history: a history cut at its
//! size cap leaves every key it has not proved wrong unknown.

#[cfg(test)]
mod brute;
pub mod linearizable;
pub mod list_append;
#[cfg(test)]
mod serial;

use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::error::Result;
use crate::history::{Parsed, Value};
pub use linearizable::{Budget, KeyCheck, Verdict};

/// The default budget per key: configurations made.
pub const DEFAULT_MAX_STATES: u64 = 20_000_000;

/// The default time a whole history may take.
pub const DEFAULT_TIME_LIMIT: Duration = Duration::from_secs(300);

/// How to check.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// The register's initial value (`None`: `nil`, as Knossos' `(cas-register)`); Perseus'
    /// histories start at 0.
    pub initial: Option<Value>,
    /// Configurations one key may make before it is unknown.
    pub max_states: u64,
    /// Time the whole history may take; the keys not decided by then are unknown.
    pub time_limit: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            initial: Some(0),
            max_states: DEFAULT_MAX_STATES,
            time_limit: DEFAULT_TIME_LIMIT,
        }
    }
}

/// The check of a whole history.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Per key, in key order.
    pub keys: Vec<KeyCheck>,
    /// Entries the history holds (invocations and completions).
    pub entries: u64,
    /// Where the history says it was cut (its line and the mark), when it was.
    pub truncated: Option<(usize, String)>,
    /// Seconds the check took (reading the file included, by [`check`]).
    pub elapsed_s: f64,
}

impl Report {
    /// Keys proved linearizable.
    pub fn linearizable(&self) -> usize {
        self.count(|v| *v == Verdict::Linearizable)
    }

    /// Keys no order explains.
    pub fn not_linearizable(&self) -> usize {
        self.count(|v| *v == Verdict::NotLinearizable)
    }

    /// Keys not decided.
    pub fn unknown(&self) -> usize {
        self.count(|v| matches!(v, Verdict::Unknown { .. }))
    }

    /// Acknowledged operations, all keys.
    pub fn ok(&self) -> u64 {
        self.keys.iter().map(|k| k.ok).sum()
    }

    /// Whether every key was proved linearizable (and there is no cut).
    pub fn valid(&self) -> bool {
        self.truncated.is_none() && self.linearizable() == self.keys.len()
    }

    /// The verdict of `key`, when the history has it.
    pub fn key(&self, key: &str) -> Option<&KeyCheck> {
        self.keys.iter().find(|k| k.key == key)
    }

    fn count(&self, f: impl Fn(&Verdict) -> bool) -> usize {
        self.keys.iter().filter(|k| f(&k.verdict)).count()
    }

    /// `3 keys, 343044 acknowledged operations: 2 linearizable, 1 not linearizable, 0 unknown`.
    pub fn describe(&self) -> String {
        format!(
            "{} keys, {} acknowledged operations: {} linearizable, {} not linearizable, {} unknown",
            self.keys.len(),
            self.ok(),
            self.linearizable(),
            self.not_linearizable(),
            self.unknown()
        )
    }
}

/// Read the history at `path` and check every key ([`check_parsed`]).
///
/// Errors: the history cannot be read, or an entry is not a register operation
/// ([`crate::history::read`]).
pub fn check(path: &Path, opts: &Options) -> Result<Report> {
    let started = Instant::now();
    let parsed = crate::history::read(path)?;
    let mut report = check_parsed(&parsed, opts);
    report.elapsed_s = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Check every key of a parsed history against a compare-and-set register starting at
/// `opts.initial`, each within `opts.max_states` configurations and all within
/// `opts.time_limit`. A key of a history cut at its cap that no order was shown not to explain
/// is unknown: what came after the cut may have been wrong.
pub fn check_parsed(parsed: &Parsed, opts: &Options) -> Report {
    let started = Instant::now();
    let deadline = started + opts.time_limit;
    let mut keys = Vec::with_capacity(parsed.keys.len());
    for (key, ops) in &parsed.keys {
        let budget = Budget {
            max_states: opts.max_states,
            deadline: Some(deadline),
        };
        let mut k = linearizable::check_key(key, ops, opts.initial, budget);
        if let (Some((line, _)), Verdict::Linearizable) = (&parsed.truncated, &k.verdict) {
            k.verdict = Verdict::Unknown {
                why: format!(
                    "linearizable up to line {line}, where the history was cut (at its size cap, or short of a full disk)"
                ),
                cut: true,
            };
        }
        keys.push(k);
    }
    Report {
        keys,
        entries: parsed.entries,
        truncated: parsed.truncated.clone(),
        elapsed_s: started.elapsed().as_secs_f64(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{read_text, Op};
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// A random history of one register: `procs` processes, `n` operations over values 0..3,
    /// outcomes ok, fail, info or never completed. With `real`, the answers come from a register
    /// that applies each operation at a random moment within its span (so the history is
    /// linearizable unless `corrupt` changes one read); otherwise reads return random values.
    fn random_history(
        rng: &mut StdRng,
        procs: usize,
        n: usize,
        real: bool,
        corrupt: bool,
    ) -> String {
        #[derive(Clone, Copy)]
        struct Running {
            process: i64,
            op: Op,
            applied: Option<bool>,
            read: Option<i64>,
        }
        let mut out = String::new();
        let mut register = 0i64;
        let mut running: Vec<Option<Running>> = vec![None; procs];
        let mut next_process = procs as i64;
        let mut ids: Vec<i64> = (0..procs as i64).collect();
        let mut left = n;
        let mut corrupted = !corrupt;
        let line = |out: &mut String, p: i64, ty: &str, op: Op| {
            let value = match op {
                Op::Read(None) => "nil".to_string(),
                Op::Read(Some(v)) | Op::Write(v) => v.to_string(),
                Op::Cas(a, b) => format!("[{a} {b}]"),
            };
            out.push_str(&format!(
                "{{:process {p}, :type :{ty}, :f {}, :value {value}}}\n",
                op.f()
            ));
        };
        while left > 0 || running.iter().any(Option::is_some) {
            let slot = rng.random_range(0..procs);
            // A running operation may take effect now, before any entry.
            for r in running.iter_mut().flatten() {
                if real && r.applied.is_none() && rng.random_bool(0.5) {
                    match r.op {
                        Op::Read(_) => {
                            r.read = Some(register);
                            r.applied = Some(true);
                        }
                        Op::Write(v) => {
                            register = v;
                            r.applied = Some(true);
                        }
                        Op::Cas(a, b) => {
                            r.applied = Some(register == a);
                            if register == a {
                                register = b;
                            }
                        }
                    }
                }
            }
            match running[slot] {
                None if left > 0 => {
                    left -= 1;
                    let op = match rng.random_range(0..3) {
                        0 => Op::Read(None),
                        1 => Op::Write(rng.random_range(0..3)),
                        _ => Op::Cas(rng.random_range(0..3), rng.random_range(0..3)),
                    };
                    line(&mut out, ids[slot], "invoke", op);
                    running[slot] = Some(Running {
                        process: ids[slot],
                        op,
                        applied: None,
                        read: None,
                    });
                }
                None => {}
                Some(r) => {
                    // Complete it: as its register said when `real`, else at random.
                    if real && r.applied.is_none() {
                        continue;
                    }
                    let roll = rng.random_range(0..100);
                    let (ty, op) = match r.op {
                        Op::Read(_) => {
                            let mut v = if real {
                                r.read.unwrap()
                            } else {
                                rng.random_range(0..3)
                            };
                            if !corrupted && rng.random_bool(0.3) {
                                v = (v + 1) % 3;
                                corrupted = true;
                            }
                            (
                                if roll < 85 {
                                    "ok"
                                } else if roll < 92 {
                                    "fail"
                                } else {
                                    "info"
                                },
                                Op::Read(Some(v)),
                            )
                        }
                        op => {
                            let done = if real {
                                r.applied == Some(true)
                            } else {
                                roll < 60
                            };
                            let ty = if roll >= 80 {
                                "info"
                            } else if done {
                                "ok"
                            } else {
                                "fail"
                            };
                            (ty, op)
                        }
                    };
                    if ty == "info" && rng.random_bool(0.3) {
                        // Never completed: the process is gone.
                    } else {
                        line(&mut out, r.process, ty, op);
                    }
                    if ty == "info" {
                        ids[slot] = next_process;
                        next_process += 1;
                    }
                    running[slot] = None;
                }
            }
        }
        out
    }

    /// The property: on thousands of small random histories, overlapping operations, unknown
    /// outcomes and crashed processes included, the checker and the brute-force enumeration
    /// of every order agree.
    #[test]
    fn the_checker_agrees_with_every_order_tried_by_brute_force() {
        let mut rng = StdRng::seed_from_u64(29);
        let (mut yes, mut no) = (0, 0);
        // More with PERSEUS_CHECKER_CASES=200000 (about a minute in release).
        let cases: u64 = std::env::var("PERSEUS_CHECKER_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(6000);
        for case in 0..cases {
            let real = case % 2 == 0;
            let corrupt = case % 4 == 2;
            let procs = rng.random_range(1..=4);
            let n = rng.random_range(1..=if case % 3 == 0 { 9 } else { 6 });
            let text = random_history(&mut rng, procs, n, real, corrupt);
            let p = read_text(&text).unwrap();
            let ops = p.keys.get("").cloned().unwrap_or_default();
            let initial = if case % 5 == 0 { None } else { Some(0) };
            let truth = brute::linearizable(&ops, initial);
            let k = linearizable::check_key(
                "",
                &ops,
                initial,
                Budget {
                    max_states: 1_000_000,
                    deadline: None,
                },
            );
            assert_eq!(
                k.verdict == Verdict::Linearizable,
                truth,
                "case {case}: the checker says {:?}, every order tried says {truth}, on\n{text}",
                k.verdict
            );
            if real && !corrupt && initial == Some(0) {
                assert!(truth, "case {case}: a real register's history\n{text}");
            }
            if truth {
                yes += 1;
            } else {
                no += 1;
            }
        }
        eprintln!("{cases} histories: {yes} linearizable, {no} not, the checker agreeing on each");
        assert!(
            yes > cases / 4 && no > cases / 4,
            "{yes} linearizable, {no} not"
        );
    }

    #[test]
    fn a_cut_history_is_unknown_where_it_is_not_wrong() {
        let text = "{:type :invoke, :f :read, :value [\"a\" nil], :process 0}\n{:type :ok, :f :read, :value [\"a\" 0], :process 0}\n{:type :invoke, :f :read, :value [\"b\" nil], :process 1}\n{:type :ok, :f :read, :value [\"b\" 7], :process 1}\n; perseus: history cut at its cap of 300 bytes at 1.000 s\n";
        let r = check_parsed(&read_text(text).unwrap(), &Options::default());
        assert_eq!(
            r.key("a").unwrap().verdict,
            Verdict::Unknown {
                why: "linearizable up to line 5, where the history was cut (at its size cap, or short of a full disk)".into(),
                cut: true
            }
        );
        assert_eq!(r.key("b").unwrap().verdict, Verdict::NotLinearizable);
        assert!(!r.valid());
        assert_eq!(
            r.describe(),
            "2 keys, 2 acknowledged operations: 0 linearizable, 1 not linearizable, 1 unknown"
        );
    }
}
