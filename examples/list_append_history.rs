//! A synthetic list-append history for timing the checker (BENCHMARKS.md): `N` transactions of
//! Perseus' own generator, run one at a time against an in-memory store in index order by 10
//! processes whose invocations and completions overlap (each transaction is invoked 10 ns after
//! the one before and completes 25 ns after its own invocation), so the history is strict
//! serializable, except that with probability `STALE` a read returns its list without the last
//! element: a stale read, which the checker must find.
//!
//! `cargo run --release --example list_append_history -- 200000 0.001 > h.edn`, then
//! `perseus check h.edn`.

use std::collections::HashMap;
use std::io::Write;

use perseus::checker::list_append::Mop;
use perseus::workload::history::mops_edn;
use perseus::workload::ListAppendGenerator;
use rand::{Rng, SeedableRng};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let stale: f64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(0.0);
    let mut generator = ListAppendGenerator::new(1, 0);
    let mut rng = rand::rngs::StdRng::seed_from_u64(2);
    let mut store: HashMap<u64, Vec<u64>> = HashMap::new();
    let mut events: Vec<(u64, String)> = Vec::with_capacity(2 * n);
    let edn = |mops: &[Mop]| mops_edn(mops, true);
    for i in 0..n {
        let process = i % 10;
        let asked = generator.next_txn();
        let mut done = Vec::with_capacity(asked.len());
        for m in &asked {
            match m {
                Mop::Append(k, e) => {
                    store.entry(*k).or_default().push(*e);
                    done.push(m.clone());
                }
                Mop::Read(k, _) => {
                    let mut l = store.get(k).cloned().unwrap_or_default();
                    if !l.is_empty() && rng.random_bool(stale) {
                        l.pop();
                    }
                    done.push(Mop::Read(*k, Some(l)));
                }
            }
        }
        let t = i as u64 * 10;
        events.push((
            t,
            format!(
                ":type :invoke, :f :txn, :value {}, :process {process}, :time {t}",
                edn(&asked)
            ),
        ));
        events.push((
            t + 25,
            format!(
                ":type :ok, :f :txn, :value {}, :process {process}, :time {}",
                edn(&done),
                t + 25
            ),
        ));
    }
    events.sort_by_key(|e| e.0);
    let out = std::io::stdout();
    let mut out = std::io::BufWriter::new(out.lock());
    for (i, (_, e)) in events.iter().enumerate() {
        writeln!(out, "{{:index {i}, {e}}}").expect("stdout");
    }
}
