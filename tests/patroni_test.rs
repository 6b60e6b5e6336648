//! PostgreSQL with Patroni in the lab: the failover after a killed leader, and what asynchronous
//! replication costs when the leader is cut off. An isolated leader keeps committing its own
//! HAProxy's clients' writes until it fails to renew its leader key and demotes itself; with
//! asynchronous replication (Patroni's default) those acknowledged writes are lost when it rewinds
//! onto the new leader's timeline, and with `synchronous_mode` they are never acknowledged and
//! nothing is lost. Both are checked with `psql` on the new primary.

mod common;

use std::time::Duration;

use common::*;

fn node_index(node: &str) -> usize {
    node.trim_start_matches('n').parse().unwrap()
}

/// The node a `perseus fault` event line acted on (`<time> <fault> <node> (...)`).
fn target(event: &str) -> String {
    event.split_whitespace().nth(2).unwrap().to_string()
}

/// The loop's table as `psql` reads it on node `node` of lab `system`.
fn table_on(system: &str, node: &str) -> Vec<(String, u64)> {
    postgres_table(&format!("perseus-{system}-{node}"))
}

/// What role the status gives `node`, once it answers (`leader`, `follower`).
fn role_of(lab: &LabGuard, node: &str) -> String {
    lab.status()
        .into_iter()
        .find(|r| r["node"] == node)
        .map(|r| r["role"].as_str().unwrap_or_default().to_string())
        .unwrap_or_default()
}

#[test]
fn a_killed_leader_is_replaced_once_its_leader_key_expires() {
    let lab = LabGuard::up("patroni", &[]);
    let load = LoadRun::start("patroni", 50, &[]);
    sleep_s(4.0);
    let event = lab.fault("kill", "leader");
    let killed = target(&event);
    let new = lab.wait_leader(Duration::from_secs(40), |l| l != killed);
    sleep_s(5.0);
    let restarted = lab.fault("start", &killed);
    let r = load.finish();
    let (kill, start) = (r.offset(&event), r.offset(&restarted));
    let w = &r.summary["cluster_window"];
    let (from, len) = (
        w["start_s"].as_f64().unwrap(),
        w["length_s"].as_f64().unwrap(),
    );
    eprintln!(
        "killed leader {killed}, new leader {new}: cluster window {len:.2} s from {from:.2} s"
    );
    assert!(
        (from - kill).abs() < 1.0,
        "the outage starts at the kill ({kill:.2} s): {w}"
    );
    // The leader key lives 20 s after its last renewal (every 5 s), a replica takes it on its
    // next loop (5 s), and the HAProxys route to it after two passing checks (2 s).
    assert!(
        (8.0..35.0).contains(&len),
        "a killed leader costs the leader key's ttl and a loop: {len:.2} s"
    );
    let k = node_index(&killed);
    r.assert_column(
        k,
        kill + 1.0,
        start,
        |c| c == 0,
        "the killed node's HAProxy is gone with it",
    );
    for n in (1..=3).filter(|&n| n != k) {
        r.assert_column(
            n,
            from + len + 1.0,
            start,
            |c| c > 0,
            "the other HAProxys route to the new leader",
        );
    }
    // The old leader comes back as a replica of the new one (rewound if it had to be).
    let start_wait = std::time::Instant::now();
    while role_of(&lab, &killed) != "follower" {
        assert!(
            start_wait.elapsed() < Duration::from_secs(60),
            "{killed} did not rejoin as a replica: {:?}",
            lab.status()
        );
        sleep_s(1.0);
    }
    let leader = lab.leader().expect("a leader");
    let checked = check_table_against_acks(&r, &table_on("patroni", &leader), |_| true);
    assert_eq!(checked, 3, "every node's key is on the leader");
}

/// Isolate the leader of `lab` 5 s into a 60 s load, wait for another to be elected, heal 30 s
/// after the cut, and return the load's result, the isolated node, the new leader and the cut's
/// and heal's offsets on the load's clock.
fn isolate_the_leader(lab: &LabGuard) -> (LoadResult, String, String, f64, f64) {
    let load = LoadRun::start(&lab.system, 60, &[]);
    sleep_s(5.0);
    let event = lab.fault("isolate", "leader");
    let isolated = target(&event);
    let new = lab.wait_leader(Duration::from_secs(40), |l| l != isolated);
    let cut_at = event_time(&event);
    let since = cut_at.elapsed().unwrap_or_default().as_secs_f64();
    sleep_s((30.0 - since).max(1.0));
    let healed = run(&["fault", "heal", &lab.system], 0);
    let r = load.finish();
    let (cut, heal) = (r.offset(&event), r.offset(&stdout(&healed)));
    eprintln!(
        "{}: {isolated} isolated at {cut:.2} s, {new} leads after it, heal at {heal:.2} s; window {}",
        lab.system, r.summary["cluster_window"]
    );
    (r, isolated, new, cut, heal)
}

#[test]
fn an_isolated_leader_commits_writes_that_are_lost_and_synchronous_mode_loses_none() {
    // Asynchronous replication, as Patroni ships it.
    let lab = LabGuard::up("patroni", &[]);
    let (r, isolated, new, cut, heal) = isolate_the_leader(&lab);
    let s = &r.summary;
    let i = node_index(&isolated);
    // Its own HAProxy's clients still reach it, and it commits their writes until it demotes
    // itself: at least retry_timeout (5 s) after the cut, at most retry_timeout and a loop.
    r.assert_column(
        i,
        cut + 0.5,
        cut + 4.0,
        |c| c > 0,
        "the isolated leader keeps committing until it demotes itself",
    );
    r.assert_column(
        i,
        cut + 15.0,
        heal,
        |c| c == 0,
        "once demoted, it routes its clients nowhere until heal",
    );
    let lost = s["lost_writes"].as_u64().unwrap();
    eprintln!("patroni: {lost} lost writes; anomalies {}", s["anomalies"]);
    // Lost on exactly the keys that lost them: the new primary holds what each final read found,
    // and the isolated node's key lost what its leader acknowledged while cut off.
    let held = table_on("patroni", &new);
    for key in s["keys"].as_array().unwrap() {
        let name = key["key"].as_str().unwrap();
        let on_new = held.iter().find(|(k, _)| k == name).map(|(_, v)| *v);
        assert_eq!(key["final"].as_u64(), on_new, "{key}");
        if key["node"] == isolated.as_str() {
            assert!(key["lost_writes"].as_u64().unwrap() > 100, "{key}");
        }
    }
    for a in s["anomalies"].as_array().unwrap() {
        assert_eq!(a["kind"], "lost", "{a}");
    }
    drop(lab);

    // synchronous_mode: the isolated leader's commits wait for a standby it cannot reach.
    let lab = LabGuard::up("patroni-synchronous", &[]);
    let (r, isolated, new, cut, heal) = isolate_the_leader(&lab);
    let s = &r.summary;
    eprintln!(
        "patroni-synchronous: {} lost writes (against {lost}); anomalies {}",
        s["lost_writes"], s["anomalies"]
    );
    r.assert_column(
        node_index(&isolated),
        cut + 1.0,
        heal,
        |c| c == 0,
        "no commit of the isolated leader is acknowledged",
    );
    assert_safe(s);
    let held = table_on("patroni-synchronous", &new);
    assert_eq!(
        check_table_against_acks(&r, &held, |_| true),
        3,
        "every key's acknowledged writes are on the new primary"
    );
}
