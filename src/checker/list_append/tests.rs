use super::*;
use crate::checker::serial;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn a(k: Key, v: Element) -> Mop {
    Mop::Append(k, v)
}

fn r(k: Key, l: &[Element]) -> Mop {
    Mop::Read(k, Some(l.to_vec()))
}

/// Committed transactions, each on its own process and all concurrent, so that only the data
/// edges order them.
fn concurrent(txns: Vec<Vec<Mop>>) -> Vec<Txn> {
    txns.into_iter()
        .enumerate()
        .map(|(i, mops)| Txn {
            process: i as u64,
            outcome: Outcome::Ok,
            invoked: 0,
            completed: Some(1000),
            mops,
        })
        .collect()
}

fn names(c: &Check) -> Vec<String> {
    c.names().into_iter().collect()
}

fn the(c: &Check, name: &str) -> Anomaly {
    c.anomalies
        .iter()
        .find(|a| a.name == name)
        .unwrap_or_else(|| panic!("no {name} in {:#?}", c.anomalies))
        .clone()
}

fn edges(a: &Anomaly) -> Vec<(usize, usize, Edge)> {
    a.cycle.iter().map(|s| (s.from, s.to, s.edge)).collect()
}

#[test]
fn a_serial_history_has_no_anomaly_and_rules_out_no_model() {
    let h = concurrent(vec![
        vec![r(1, &[]), a(1, 1), a(2, 1)],
        vec![r(1, &[1]), a(1, 2), r(2, &[1])],
        vec![a(2, 2), r(2, &[1, 2]), r(1, &[1, 2])],
    ]);
    let c = check(&h);
    assert!(c.is_clean(), "{:#?}", c.anomalies);
    assert!(c.ruled_out.is_empty());
    assert!(serial::serializable(&h));
}

#[test]
fn g0_is_a_cycle_of_appends_and_rules_out_every_model() {
    // x's order says T0 then T1; y's says T1 then T0.
    let h = concurrent(vec![
        vec![a(1, 1), a(2, 2)],
        vec![a(1, 3), a(2, 4)],
        vec![r(1, &[1, 3]), r(2, &[4, 2])],
    ]);
    let c = check(&h);
    assert_eq!(names(&c), ["G0"]);
    let g0 = the(&c, "G0");
    let mut e = edges(&g0);
    e.sort();
    assert_eq!(e, [(0, 1, Edge::Ww), (1, 0, Edge::Ww)]);
    assert!(
        g0.explanation
            .contains("T1 appended 3 to key 1 right after T0's append (ww)"),
        "{}",
        g0.explanation
    );
    assert_eq!(c.ruled_out, Model::ALL);
}

#[test]
fn g1a_is_a_read_of_an_aborted_append() {
    let mut h = concurrent(vec![vec![a(1, 1)], vec![r(1, &[1])]]);
    h[0].outcome = Outcome::Fail;
    let c = check(&h);
    assert_eq!(names(&c), ["G1a"]);
    assert_eq!(the(&c, "G1a").txns, [0, 1]);
    assert_eq!(c.ruled_out[0], Model::ReadCommitted);
}

#[test]
fn g1b_is_a_read_of_an_intermediate_state() {
    let h = concurrent(vec![
        vec![a(1, 1), a(1, 2)],
        vec![r(1, &[1])],
        vec![r(1, &[1, 2])],
    ]);
    let c = check(&h);
    assert!(c.names().contains("G1b"), "{:#?}", c.anomalies);
    assert_eq!(the(&c, "G1b").txns, [0, 1]);
    assert!(!c.ruled_out.contains(&Model::ReadUncommitted));
    assert!(c.ruled_out.contains(&Model::ReadCommitted));
}

#[test]
fn g1c_is_a_cycle_of_appends_and_reads() {
    // Each saw the other's append: circular information flow.
    let h = concurrent(vec![vec![a(1, 1), r(2, &[1])], vec![a(2, 1), r(1, &[1])]]);
    let c = check(&h);
    assert_eq!(names(&c), ["G1c"]);
    let mut e = edges(&the(&c, "G1c"));
    e.sort();
    assert_eq!(e, [(0, 1, Edge::Wr), (1, 0, Edge::Wr)]);
    assert_eq!(c.ruled_out[0], Model::ReadCommitted);
}

#[test]
fn g_single_is_read_skew_one_anti_dependency() {
    // T1 saw T0's append to key 2 but not its append to key 1.
    let h = concurrent(vec![
        vec![a(1, 1), a(2, 1)],
        vec![r(1, &[]), r(2, &[1])],
        vec![r(1, &[1]), r(2, &[1])],
    ]);
    let c = check(&h);
    assert_eq!(names(&c), ["G-single"]);
    let g = the(&c, "G-single");
    let mut e = edges(&g);
    e.sort();
    assert_eq!(e, [(0, 1, Edge::Wr), (1, 0, Edge::Rw)]);
    assert!(
        g.explanation
            .contains("T1 read key 1 without T0's append of 1, which came next (rw)"),
        "{}",
        g.explanation
    );
    // Snapshot isolation forbids it; read committed allows it.
    assert_eq!(c.ruled_out[0], Model::RepeatableRead);
    assert!(c.ruled_out.contains(&Model::SnapshotIsolation));
}

#[test]
fn g_nonadjacent_is_a_long_fork() {
    // T0 -rw-> T1 -wr-> T2 -rw-> T3 -wr-> T0: two anti-dependencies, not in a row.
    let h = concurrent(vec![
        vec![r(1, &[]), r(4, &[1])],
        vec![a(1, 1), a(2, 1)],
        vec![r(2, &[1]), r(3, &[])],
        vec![a(3, 1), a(4, 1)],
        vec![r(1, &[1]), r(2, &[1]), r(3, &[1]), r(4, &[1])],
    ]);
    let c = check(&h);
    assert_eq!(names(&c), ["G-nonadjacent"]);
    let g = the(&c, "G-nonadjacent");
    assert_eq!(g.cycle.len(), 4);
    assert_eq!(g.cycle.iter().filter(|s| s.edge == Edge::Rw).count(), 2);
    assert!(c.ruled_out.contains(&Model::SnapshotIsolation));
}

#[test]
fn g2_item_is_write_skew_and_snapshot_isolation_allows_it() {
    let h = concurrent(vec![
        vec![r(1, &[]), r(2, &[]), a(1, 1)],
        vec![r(1, &[]), r(2, &[]), a(2, 1)],
        vec![r(1, &[1]), r(2, &[1])],
    ]);
    let c = check(&h);
    assert_eq!(names(&c), ["G2-item"]);
    let mut e = edges(&the(&c, "G2-item"));
    e.sort();
    assert_eq!(e, [(0, 1, Edge::Rw), (1, 0, Edge::Rw)]);
    assert!(c.ruled_out.contains(&Model::RepeatableRead));
    assert!(c.ruled_out.contains(&Model::Serializable));
    assert!(!c.ruled_out.contains(&Model::SnapshotIsolation));
    assert!(!c.ruled_out.contains(&Model::ReadCommitted));
}

#[test]
fn a_lost_update_is_two_appends_over_one_read_state() {
    let h = concurrent(vec![
        vec![r(1, &[]), a(1, 1)],
        vec![r(1, &[]), a(1, 2)],
        vec![r(1, &[1, 2])],
    ]);
    let c = check(&h);
    let lost = the(&c, "lost-update");
    assert_eq!(lost.txns, [0, 1]);
    assert!(lost.explanation.contains("T0, T1 all read key 1 as []"));
    assert!(c.ruled_out.contains(&Model::SnapshotIsolation));
    assert!(!c.ruled_out.contains(&Model::ReadCommitted));
}

#[test]
fn a_transaction_must_see_its_own_reads_and_appends() {
    for (mops, why) in [
        (vec![r(1, &[]), a(1, 1), r(1, &[])], "say [1]"),
        (vec![a(1, 1), r(1, &[])], "a list ending in [1]"),
        (vec![r(1, &[1]), a(1, 1)], "which it appends only later"),
    ] {
        let c = check(&concurrent(vec![mops.clone()]));
        assert_eq!(names(&c), ["internal"], "{mops:?}");
        assert!(
            the(&c, "internal").explanation.contains(why),
            "{mops:?}: {}",
            the(&c, "internal").explanation
        );
    }
}

#[test]
fn a_read_that_finds_others_appends_before_its_own_is_a_non_repeatable_read() {
    // What PostgreSQL's READ COMMITTED does: each statement sees the latest commits, so after
    // reading [1] and appending 5 the transaction reads [1, 3, 5], T1's 3 in between.
    let h = concurrent(vec![
        vec![r(1, &[1]), a(1, 5), r(1, &[1, 3, 5])],
        vec![a(1, 1)],
        vec![a(1, 3)],
    ]);
    let c = check(&h);
    assert!(
        c.names().contains("non-repeatable-read"),
        "{:#?}",
        c.anomalies
    );
    assert!(!c.names().contains("internal"), "{:#?}", c.anomalies);
    let n = the(&c, "non-repeatable-read");
    assert!(
        n.explanation.contains("others' appends came in between"),
        "{}",
        n.explanation
    );
    // Read committed allows it; repeatable read and everything above forbid it.
    assert_eq!(c.ruled_out[0], Model::RepeatableRead);
    // Its own append missing is still internal, whatever else is there.
    let c = check(&concurrent(vec![
        vec![r(1, &[1]), a(1, 5), r(1, &[1, 3])],
        vec![a(1, 1)],
        vec![a(1, 3)],
    ]));
    assert!(c.names().contains("internal"), "{:#?}", c.anomalies);
}

#[test]
fn duplicates_garbage_and_incompatible_orders_are_named() {
    let h = concurrent(vec![
        vec![a(1, 1), a(1, 2)],
        vec![r(1, &[1, 1])],
        vec![r(1, &[9])],
        vec![r(2, &[1, 2])],
        vec![r(2, &[2, 1])],
        vec![a(2, 1)],
        vec![a(2, 2)],
    ]);
    let c = check(&h);
    for name in ["duplicate-elements", "garbage-read", "incompatible-order"] {
        assert!(c.names().contains(name), "{name}: {:#?}", c.anomalies);
    }
    assert!(the(&c, "garbage-read")
        .explanation
        .contains("T2 read 9 in key 1, which no transaction appended"));
}

#[test]
fn a_stale_read_after_a_commit_is_g_single_realtime_or_process() {
    // T0 appends and completes; T1, invoked later on another process, reads the empty list.
    let mut h = concurrent(vec![vec![a(1, 1)], vec![r(1, &[])], vec![r(1, &[1])]]);
    h[0].invoked = 0;
    h[0].completed = Some(10);
    h[1].invoked = 20;
    h[1].completed = Some(30);
    let c = check(&h);
    assert_eq!(names(&c), ["G-single-realtime"]);
    let g = the(&c, "G-single-realtime");
    assert!(
        g.explanation
            .contains("T0 < T1: T0 completed before T1 was invoked (realtime)"),
        "{}",
        g.explanation
    );
    // Serializable (T1 first), not strictly.
    assert_eq!(c.ruled_out, [Model::StrictSerializable]);
    assert!(serial::serializable(&h));

    // On one process, the process order says it first.
    h[1].process = h[0].process;
    let c = check(&h);
    assert_eq!(names(&c), ["G-single-process"]);
    assert_eq!(
        c.ruled_out,
        [Model::StrongSessionSerializable, Model::StrictSerializable]
    );
}

#[test]
fn a_transaction_of_unknown_outcome_counts_once_its_append_is_seen() {
    // T0 timed out, but T1 read its append: it took effect, and T2's stale view is ordered by it.
    let mut h = concurrent(vec![
        vec![a(1, 1), a(2, 1)],
        vec![r(1, &[1]), r(2, &[1])],
        vec![r(1, &[1]), r(2, &[])],
    ]);
    h[0].outcome = Outcome::Info;
    h[0].completed = None;
    let c = check(&h);
    assert_eq!(names(&c), ["G-single"]);
    // Unseen, it orders nothing.
    let h = concurrent(vec![vec![r(1, &[])], vec![r(1, &[])]]);
    assert!(check(&h).is_clean());
}

/// A random history of a few committed transactions over a few keys: run one after the other,
/// but a read may see a stale prefix of its key (and a transaction's reads may miss its own
/// appends), then one last transaction reads every key, so every version order is whole. Each
/// runs on a process of its own; with `times`, the i-th to run is invoked and completes around
/// i * 10 (so neighbours overlap), the last read after all; without, all are concurrent.
fn random_history(rng: &mut StdRng, times: bool) -> Vec<Txn> {
    let keys = rng.random_range(1..=3u64);
    let n = rng.random_range(2..=6);
    let mut state: HashMap<Key, Vec<Element>> = HashMap::new();
    let mut next: HashMap<Key, Element> = HashMap::new();
    let mut txns = Vec::new();
    for _ in 0..n {
        let mut mops = Vec::new();
        for _ in 0..rng.random_range(1..=3) {
            let k = rng.random_range(0..keys);
            if rng.random_bool(0.5) {
                let v = next.entry(k).or_insert(0);
                *v += 1;
                state.entry(k).or_default().push(*v);
                mops.push(Mop::Append(k, *v));
            } else {
                let full = state.get(&k).cloned().unwrap_or_default();
                let seen = if rng.random_bool(0.2) && !full.is_empty() {
                    full[..rng.random_range(0..full.len())].to_vec()
                } else {
                    full
                };
                mops.push(Mop::Read(k, Some(seen)));
            }
        }
        txns.push(mops);
    }
    txns.push(
        (0..keys)
            .map(|k| Mop::Read(k, Some(state.get(&k).cloned().unwrap_or_default())))
            .collect(),
    );
    let mut h = concurrent(txns);
    if times {
        let last = h.len() as u64 - 1;
        for (i, t) in h.iter_mut().enumerate() {
            let i = i as u64;
            t.invoked =
                (i * 10 + 30).saturating_sub(rng.random_range(0..25)) + 1000 * u64::from(i == last);
            t.completed = Some(t.invoked + rng.random_range(1..40));
        }
    }
    // Shuffle, so the order given says nothing.
    for i in (1..h.len()).rev() {
        let j = rng.random_range(0..=i);
        h.swap(i, j);
    }
    for (p, t) in h.iter_mut().enumerate() {
        t.process = p as u64;
    }
    h
}

/// The checker agrees with serializability by brute force on every random history: it finds an
/// anomaly exactly when no serial order explains the reads (sound: every cycle it names is real;
/// complete, where every append is read at the end).
#[test]
fn the_checker_agrees_with_brute_force_serializability() {
    let mut rng = StdRng::seed_from_u64(7);
    let (mut clean, mut anomalous) = (0, 0);
    for case in 0..20_000 {
        let h = random_history(&mut rng, false);
        let c = check(&h);
        let serializable = serial::serializable(&h);
        assert_eq!(
            c.is_clean(),
            serializable,
            "case {case}: checker {:#?} / brute force serializable {serializable}\n{h:#?}",
            c.anomalies
        );
        if serializable {
            clean += 1;
        } else {
            anomalous += 1;
            assert!(c.ruled_out.contains(&Model::Serializable), "case {case}");
        }
    }
    eprintln!("{clean} serializable, {anomalous} not: the checker agreed on each");
    assert!(
        clean > 2_000 && anomalous > 2_000,
        "{clean} clean, {anomalous} not"
    );
}

/// With real time, the checker finds an anomaly exactly when no serial order that respects real
/// time explains the reads (strict serializability by brute force).
#[test]
fn the_checker_agrees_with_brute_force_strict_serializability() {
    let mut rng = StdRng::seed_from_u64(11);
    let (mut strict, mut only_serializable, mut neither) = (0, 0, 0);
    for case in 0..20_000 {
        let h = random_history(&mut rng, true);
        let c = check(&h);
        let s = serial::strictly_serializable(&h);
        assert_eq!(
            c.is_clean(),
            s,
            "case {case}: checker {:#?} / brute force strictly serializable {s}\n{h:#?}",
            c.anomalies
        );
        match (s, serial::serializable(&h)) {
            (true, _) => strict += 1,
            (false, true) => {
                only_serializable += 1;
                // Only real time is broken: every anomaly is a real-time one.
                assert!(
                    c.anomalies.iter().all(|a| a.order == Order::Realtime),
                    "case {case}: {:#?}",
                    c.anomalies
                );
                assert_eq!(c.ruled_out, [Model::StrictSerializable], "case {case}");
            }
            (false, false) => neither += 1,
        }
    }
    eprintln!(
        "{strict} strictly serializable, {only_serializable} serializable only, {neither} neither"
    );
    assert!(strict > 1_000 && only_serializable > 500 && neither > 1_000);
}
