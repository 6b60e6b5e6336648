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
fn a_killed_primary_fails_over_after_down_after_milliseconds_and_the_report_names_the_promotion() {
    // The scenario as users run it: kill the primary at 10 s, start it at 30 s, 45 s of load. Its
    // expectations: a window of 4 to 15 s (down-after-milliseconds 5 s, then the failover), the
    // killed node's column at 0 until the start, every node serving again within 15 s of it.
    let _lab = LabGuard::lock_only("redis-sentinel");
    let run = run_scenario("scenarios/redis-sentinel-kill-leader.yaml", &[], 0);
    let r = &run.summary;
    // The Sentinels' own account: the leading Sentinel promoted one replica, after
    // down-after-milliseconds (5 s), and clients were served again once they asked for it.
    let f = run.failover("Sentinel");
    let (crash, at, to, node) = (f.crash_s, f.at_s, f.window.1, f.node.as_str());
    assert_eq!(
        r["leader_after"], node,
        "the promoted replica is the primary at the end"
    );
    assert!(
        at > crash + 4.0 && at < to + 0.5,
        "promoted at {at:.2} s: after down-after-milliseconds, before clients were served again ({to:.2} s)"
    );
}

/// How many `-failover-abort-not-elected` lines the Sentinels of the lab have logged: failovers
/// a Sentinel tried and gave up because no Sentinel won the vote.
fn split_votes(system: &str) -> usize {
    (1..=3)
        .map(|n| {
            let out = std::process::Command::new("docker")
                .args(["logs", &format!("perseus-{system}-n{n}-sentinel")])
                .output()
                .expect("docker logs");
            let text = String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr);
            text.matches("-failover-abort-not-elected").count()
        })
        .sum()
}

fn node_index(node: &str) -> usize {
    node.trim_start_matches('n').parse().unwrap()
}

/// Isolate the primary under load until 16 s after the cut, or 3 s after the others elected a
/// new one if that is later, heal, and return the load's result, the isolated node, the new primary and the isolation's and heal's
/// offsets on the load's clock (the heal's: when it was issued, see [`undo`]). The load writes
/// its history to `history`.
///
/// The election usually ends 6-8 s after the cut (down-after-milliseconds 5 s, then one vote).
/// When the two Sentinels that see the primary down ask for votes in the same epoch, each votes
/// for itself, neither is elected, and each may try again only two failover-timeouts (20 s) after
/// its first try (Sentinel docs, "failover-timeout"): about 28 s after the cut, 48 s after two
/// such splits. So the wait is 60 s and the load is started long, and ended once the Sentinels
/// have made the old primary a replica of the new one (its `ROLE` says `slave`) and every client
/// has served 3 s in a row since (those still on the old primary get `READONLY` and reconnect to
/// the primary Sentinel names). The 16 s leave the mitigated primary (min-replicas-max-lag 10 s)
/// 4 s of refusing writes before the heal.
fn isolate_the_primary(
    lab: &LabGuard,
    history: &std::path::Path,
) -> (LoadResult, String, String, f64, f64) {
    // Redis takes some 30,000 operations a second here: the history of this long a run is past
    // the default cap (256 MiB), and a cut history cannot be checked whole.
    let load = LoadRun::start(
        &lab.system,
        180,
        &[
            "--history",
            history.to_str().unwrap(),
            "--history-max",
            "4GiB",
        ],
    );
    sleep_s(5.0);
    let event = lab.fault("isolate", "leader");
    let isolated = event.split_whitespace().nth(2).unwrap().to_string();
    let new = lab.wait_leader(Duration::from_secs(60), |l| l != isolated);
    let elected = SystemTime::now();
    eprintln!(
        "{}: elections the Sentinels lost to a split vote (-failover-abort-not-elected): {}",
        lab.system,
        split_votes(&lab.system)
    );
    sleep_until_after(&event, 16.0, 3.0);
    let (healed, heal_issued) = undo(|| run(&["fault", "heal", &lab.system], 0));
    let old = format!("perseus-{}-{isolated}", lab.system);
    let demoting = std::time::Instant::now();
    while !exec_output(&old, &["redis-cli", "ROLE"]).starts_with("slave") {
        assert!(
            demoting.elapsed() < Duration::from_secs(30),
            "the Sentinels did not make {isolated} a replica within 30 s of the heal"
        );
        sleep_s(0.5);
    }
    eprintln!(
        "{}: {isolated} is a replica {:.1} s after the heal",
        lab.system,
        demoting.elapsed().as_secs_f64()
    );
    let r = load.interrupt_once_serving(3, Duration::from_secs(15));
    let (cut, heal) = (r.offset(&event), r.offset_of(heal_issued));
    eprintln!(
        "{}: {isolated} isolated at {cut:.2} s, {new} elected by {:.2} s, heal issued at {heal:.2} s, in force at {:.2} s",
        lab.system,
        r.offset_of(elected),
        r.offset(&stdout(&healed))
    );
    (r, isolated, new, cut, heal)
}

#[test]
fn an_isolated_primary_acknowledges_writes_that_are_lost_and_min_replicas_bounds_the_loss() {
    // Without the mitigation.
    let lab = LabGuard::up("redis-sentinel", &[]);
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("unmitigated.edn");
    let (r, isolated, new, cut, heal) = isolate_the_primary(&lab, &history);
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
        "16 s or more of acknowledged writes went to the isolated primary: {unmitigated}"
    );
    // The history, checked again from the file, finds the same keys wrong.
    assert_history_agrees(s, &history);
    drop(lab);

    // With min-replicas-to-write 1 and min-replicas-max-lag 10.
    let lab = LabGuard::up("redis-sentinel-min-replicas", &[]);
    let history = dir.path().join("mitigated.edn");
    let (r, isolated_m, _, cut_m, heal_m) = isolate_the_primary(&lab, &history);
    let s = &r.summary;
    let mitigated = s["lost_writes"].as_u64().unwrap();
    eprintln!(
        "redis-sentinel-min-replicas: {mitigated} lost writes (against {unmitigated}); anomalies {}",
        s["anomalies"]
    );
    // Past the lag the isolated primary refuses writes (-NOREPLICAS): its own client, whose
    // Sentinel is cut off with it, gets no more acknowledgements until heal.
    // When it stops is measured: Redis counts a replica's lag in whole seconds since its last
    // REPLCONF ACK (sent once a second, so up to 1 s before the cut) and refuses once it is
    // past 10, so the refusal starts up to 12 s after the cut; a second more for the clients.
    r.stops_within(
        node_index(&isolated_m),
        cut_m,
        13.0,
        heal_m,
        "the isolated primary stops acknowledging once min-replicas-max-lag (10 s) has passed",
    );
    for a in s["anomalies"].as_array().unwrap() {
        assert_eq!(a["kind"], "lost", "{a}");
    }
    assert!(
        mitigated < unmitigated,
        "the mitigation bounds the loss: {mitigated} lost against {unmitigated}"
    );
    assert_history_agrees(s, &history);
    let _ = isolated;
}
