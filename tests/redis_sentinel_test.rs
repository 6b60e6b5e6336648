//! Redis with Sentinel in the lab: the failover after a killed primary, and Kingsbury's finding,
//! measured. An isolated primary keeps acknowledging the writes of every client still pointed at
//! it, and they are lost when it is demoted at heal; with `min-replicas-to-write 1` the isolated
//! primary stops acknowledging once `min-replicas-max-lag` (10 s) has passed, and the loss is
//! bounded by it.

mod common;

use std::time::{Duration, SystemTime};

use common::*;

/// `redis-cli GET key` on node `node`'s server.
fn redis_get(system: &str, node: &str, key: &str) -> u64 {
    exec_output(
        &format!("perseus-{system}-{node}"),
        &["redis-cli", "GET", key],
    )
    .trim()
    .parse()
    .unwrap_or(0)
}

#[test]
fn a_killed_primary_fails_over_after_down_after_milliseconds() {
    let lab = LabGuard::up("redis-sentinel", &[]);
    let load = LoadRun::start("redis-sentinel", 24, &[]);
    sleep_s(4.0);
    let event = lab.fault("kill", "leader");
    let killed = event.split_whitespace().nth(2).unwrap().to_string();
    let new = lab.wait_leader(Duration::from_secs(20), |l| l != killed);
    sleep_s(6.0);
    let restarted = lab.fault("start", &killed);
    let r = load.finish();
    let kill = r.offset(&event);
    let w = &r.summary["cluster_window"];
    let (start, len) = (
        w["start_s"].as_f64().unwrap(),
        w["length_s"].as_f64().unwrap(),
    );
    eprintln!(
        "killed primary {killed}, new primary {new}: cluster window {len:.2} s from {start:.2} s"
    );
    assert!(
        (start - kill).abs() < 1.0,
        "the outage starts at the kill ({kill:.2} s): {w}"
    );
    // Down-after-milliseconds is 5 s: the Sentinels wait that long before the failover.
    assert!(
        (4.0..15.0).contains(&len),
        "a killed primary costs down-after (5 s) and the failover: {len:.2} s"
    );
    let k = node_index(&killed);
    r.assert_column(
        k,
        kill + 1.0,
        r.offset(&restarted),
        |c| c == 0,
        "the killed node's client cannot ask its own Sentinel",
    );
    for n in (1..=3).filter(|&n| n != k) {
        r.assert_column(
            n,
            kill + len + 1.0,
            r.offset(&restarted),
            |c| c > 0,
            "the other clients moved to the new primary",
        );
    }
}

fn node_index(node: &str) -> usize {
    node.trim_start_matches('n').parse().unwrap()
}

/// Isolate the primary for 20 s under load, heal, and return the load's result, the isolated
/// node, the new primary and the isolation's and heal's offsets on the load's clock.
fn isolate_the_primary(lab: &LabGuard) -> (LoadResult, String, String, f64, f64) {
    let load = LoadRun::start(&lab.system, 45, &[]);
    sleep_s(5.0);
    let event = lab.fault("isolate", "leader");
    let isolated = event.split_whitespace().nth(2).unwrap().to_string();
    let new = lab.wait_leader(Duration::from_secs(20), |l| l != isolated);
    let elected = SystemTime::now();
    sleep_s(20.0 - 5.0);
    let healed = run(&["fault", "heal", &lab.system], 0);
    let r = load.finish();
    let (cut, heal) = (r.offset(&event), r.offset(&stdout(&healed)));
    eprintln!(
        "{}: {isolated} isolated at {cut:.2} s, {new} elected by {:.2} s, heal at {heal:.2} s",
        lab.system,
        r.offset_of(elected)
    );
    (r, isolated, new, cut, heal)
}

#[test]
fn an_isolated_primary_acknowledges_writes_that_are_lost_and_min_replicas_bounds_the_loss() {
    // Without the mitigation.
    let lab = LabGuard::up("redis-sentinel", &[]);
    let (r, isolated, new, cut, heal) = isolate_the_primary(&lab);
    let s = &r.summary;
    // Every client was connected to the old primary, which kept acknowledging their writes.
    for n in 1..=3 {
        r.assert_column(
            n,
            cut + 1.0,
            heal,
            |c| c > 0,
            "every client still pointed at the isolated primary is acknowledged",
        );
    }
    let unmitigated = s["lost_writes"].as_u64().unwrap();
    eprintln!(
        "redis-sentinel: {unmitigated} lost writes; anomalies {}",
        s["anomalies"]
    );
    // Lost on exactly the keys that lost them: every key was written through the old primary,
    // each lost some, and each holds on the new primary what its final read found.
    for key in s["keys"].as_array().unwrap() {
        let name = key["key"].as_str().unwrap();
        assert!(key["lost_writes"].as_u64().unwrap() > 0, "{key}");
        assert_eq!(key["final"], redis_get(&lab.system, &new, name), "{key}");
    }
    for a in s["anomalies"].as_array().unwrap() {
        assert_eq!(a["kind"], "lost", "{a}");
    }
    assert!(
        unmitigated > 1000,
        "20 s of acknowledged writes went to the isolated primary: {unmitigated}"
    );
    drop(lab);

    // With min-replicas-to-write 1 and min-replicas-max-lag 10.
    let lab = LabGuard::up("redis-sentinel-min-replicas", &[]);
    let (r, isolated_m, _, cut_m, heal_m) = isolate_the_primary(&lab);
    let s = &r.summary;
    let mitigated = s["lost_writes"].as_u64().unwrap();
    eprintln!(
        "redis-sentinel-min-replicas: {mitigated} lost writes (against {unmitigated}); anomalies {}",
        s["anomalies"]
    );
    // Past the lag the isolated primary refuses writes (-NOREPLICAS): its own client, whose
    // Sentinel is cut off with it, gets no more acknowledgements until heal.
    r.assert_column(
        node_index(&isolated_m),
        cut_m + 12.0,
        heal_m,
        |c| c == 0,
        "the isolated primary stops acknowledging once min-replicas-max-lag (10 s) has passed",
    );
    for a in s["anomalies"].as_array().unwrap() {
        assert_eq!(a["kind"], "lost", "{a}");
    }
    assert!(
        mitigated < unmitigated,
        "the mitigation bounds the loss: {mitigated} lost against {unmitigated}"
    );
    let _ = isolated;
}
