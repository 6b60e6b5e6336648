//! `perseus load` against a healthy etcd cluster: the output contract and the acknowledged counts.

mod common;

use common::*;

#[test]
fn every_node_serves_and_etcd_holds_exactly_what_was_acknowledged() {
    let _lab = LabGuard::up("etcd", &[]);
    let spawned = std::time::SystemTime::now();
    let r = LoadRun::start("etcd", 5, &["--clients-per-node", "2"]).finish();
    let finished = std::time::SystemTime::now();
    // `started` is the wall-clock time of second 0, which the fault tests place events against:
    // after the command was spawned, and a whole run before it ended.
    let started = r.started();
    assert!(
        started >= spawned && started + std::time::Duration::from_secs_f64(r.end()) <= finished,
        "started {} lies between the spawn and the end of the run: {}",
        r.summary["started"],
        r.summary
    );
    assert_eq!(r.rows.len(), 5, "one line per second: {}", r.stdout);
    for row in &r.rows {
        assert_eq!(row.len(), 5, "sec, total, n1, n2, n3: {row:?}");
        assert!(
            row[2..].iter().all(|&c| c > 0),
            "all three columns > 0: {row:?}"
        );
    }
    let s = &r.summary;
    assert_safe(s);
    let total: u64 = r.rows.iter().map(|row| row[1]).sum();
    assert_eq!(
        s["iterations"].as_u64().unwrap(),
        total,
        "the summary counts what the lines show"
    );
    let w = s["cluster_window"]["length_s"].as_f64().unwrap();
    assert!(w < 0.5, "no outage without a fault: {w}");

    let run_id = s["run_id"].as_str().unwrap();
    let held: std::collections::HashMap<String, u64> =
        etcdctl_get_prefix("perseus-etcd-n1", &format!("{run_id}/"))
            .into_iter()
            .collect();
    let keys = s["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 6, "2 connections per node, one key each");
    for key in keys {
        let name = key["key"].as_str().unwrap();
        assert!(
            name.starts_with(&format!("{run_id}/n")),
            "keys are <run-id>/<node>/<conn>: {name}"
        );
        let acked = key["last_acked"].as_u64().unwrap();
        assert!(
            held[name] >= acked && held[name] <= key["max_possible"].as_u64().unwrap(),
            "{name}: etcd {} vs acknowledged {acked}",
            held[name]
        );
        // Without faults each iteration adds exactly one; the write in flight when the load
        // stopped may have been acknowledged after its end, outside its counted iterations.
        let counted = key["iterations"].as_u64().unwrap();
        assert!(
            acked == counted || acked == counted + 1,
            "{name}: {counted} iterations counted, {acked} acknowledged"
        );
    }
}
