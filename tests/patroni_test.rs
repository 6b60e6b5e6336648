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
fn a_killed_leader_is_replaced_once_its_leader_key_expires_and_the_report_names_the_promotion() {
    // The scenario as users run it: kill the leader at 10 s, start it at 50 s, 70 s of load; on a
    // lab handed on to the isolate check (a patroni lab takes about 15 s to make).
    let lab = LabGuard::shared("patroni");
    let run = run_scenario("scenarios/patroni-kill-leader.yaml", &["--reuse"], 0);
    let (r, dir) = (&run.summary, &run.dir);
    // Patroni's own account: one promotion, of another node, once the leader key had expired
    // (ttl 20 s after its last renewal, renewed every 5 s), and the HAProxys routed to it within
    // a few checks (1 s apart) of it.
    let f = run.failover("Patroni");
    let (killed, crash, at, to, node) = (
        f.killed.clone(),
        f.crash_s,
        f.at_s,
        f.window.1,
        f.node.as_str(),
    );
    assert_eq!(
        r["leader_after"], node,
        "the promoted node leads at the end"
    );
    assert!(
        at > crash + 10.0 && at < to,
        "promoted at {at:.2} s: after the leader key expired, before clients were served again ({to:.2} s)"
    );
    assert!(
        to - at < 6.0,
        "the HAProxys route to the new leader a few checks after the promotion: {:.2} s",
        to - at
    );
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(
        report.contains("### Failover, as Patroni logged it"),
        "{report}"
    );

    // The old leader came back as a replica of the new one (rewound if it had to be), and every
    // key's final read is what psql reads on the leader.
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
    let held = table_on("patroni", &leader);
    let keys = r["load"]["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 3);
    for key in keys {
        let name = key["key"].as_str().unwrap();
        let on_leader = held.iter().find(|(k, _)| k == name).map(|(_, v)| *v);
        assert_eq!(key["final"].as_u64(), on_leader, "{key}");
    }
}

/// Isolate the leader of `lab` 5 s into a 60 s load, wait for another to be elected, heal 30 s
/// after the cut (or 1 s after the election, if that is later), and return the load's result,
/// the isolated node, the new leader and the cut's and heal's offsets on the load's clock (the
/// heal's: when it was issued, see [`undo`]).
///
/// Not sooner: a heal that came within a second of the promotion saw Patroni 3.0.2's old leader
/// lead again, as if it wrote its expired key back over its successor's (pull request #2689,
/// fixed in 3.0.3; docs/versions.md; not bisected for this fault), in one of five runs here
/// with the heal at 22 s (a second failure's output was not kept): it led again on its own
/// timeline, the successor's writes since its promotion were lost (4,149 and 4,338 on two keys)
/// and a read was reverted. A finding for docs/versions.md to bisect, not what this check is
/// about.
fn isolate_the_leader(lab: &LabGuard) -> (LoadResult, String, String, f64, f64, f64) {
    let load = LoadRun::start(&lab.system, 60, &[]);
    sleep_s(5.0);
    let event = lab.fault("isolate", "leader");
    let isolated = target(&event);
    let new = lab.wait_leader(Duration::from_secs(40), |l| l != isolated);
    let seen = std::time::SystemTime::now();
    sleep_until_after(&event, 30.0, 1.0);
    let (healed, heal_issued) = undo(|| run(&["fault", "heal", &lab.system], 0));
    // Ended once every node has served 5 s after heal: the old leader's HAProxy routes its
    // clients to the new primary as soon as it reaches it; nothing here counts the rewind.
    let r = load.interrupt_once_serving(5, Duration::from_secs(24));
    let (cut, elected, heal) = (
        r.offset(&event),
        r.offset_of(seen),
        r.offset_of(heal_issued),
    );
    eprintln!(
        "{}: {isolated} isolated at {cut:.2} s, {new} seen leading at {elected:.2} s, heal issued at {heal:.2} s, in force at {:.2} s; window {}",
        lab.system,
        r.offset(&stdout(&healed)),
        r.summary["cluster_window"]
    );
    (r, isolated, new, cut, elected, heal)
}

#[test]
fn an_isolated_leader_commits_writes_that_are_lost_and_synchronous_mode_loses_none() {
    // Asynchronous replication, as Patroni ships it.
    let lab = LabGuard::shared("patroni");
    let (r, isolated, new, cut, elected, heal) = isolate_the_leader(&lab);
    let s = &r.summary;
    let i = node_index(&isolated);
    // Its own HAProxy's clients still reach it, and it commits their writes until it demotes
    // itself: not before retry_timeout (5 s) after the cut, and before its leader key, last
    // renewed before the cut, expires (ttl, 20 s), which Patroni's rule
    // loop_wait + 2 * retry_timeout <= ttl is there to ensure (its dynamic configuration docs):
    // no successor is promoted while it still commits. When it demotes is measured (8.5 s after
    // the cut in the transcript of docs/systems/patroni.md, 16.5 s in a CI run on a busy
    // machine), bounded by the ttl from the cut, and it must come before the test saw its
    // successor lead.
    r.assert_column(
        i,
        cut + 0.5,
        cut + 4.0,
        |c| c > 0,
        "the isolated leader keeps committing until it demotes itself",
    );
    let stopped = r.stops_within(
        i,
        cut,
        20.0,
        heal,
        "demoted within the leader key's ttl of the cut, it routes its clients nowhere until heal",
    );
    assert!(
        (stopped - 1) as f64 <= elected,
        "{isolated} committed in second {} (to {:.2} s on the load's clock), after its successor {new} was seen leading at {elected:.2} s: two primaries took writes at once:\n{}",
        stopped - 1,
        (stopped - 1) as f64,
        r.stdout
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
    lab.remove();

    // synchronous_mode: the isolated leader's commits wait for a standby it cannot reach.
    let lab = LabGuard::up("patroni-synchronous", &[]);
    let (r, isolated, new, cut, _, heal) = isolate_the_leader(&lab);
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

#[test]
fn a_gracefully_stopped_leader_hands_over_at_once_and_a_paused_or_disconnected_replica_costs_nothing(
) {
    // The other faults, aimed where Patroni's answer is known: a stopped leader releases its
    // leader key on the way down, so a replica is promoted within a loop instead of a ttl; a
    // replica paused or cut off costs the cluster nothing (etcd keeps a quorum of two, the leader
    // does not wait for an asynchronous replica) and serves again once it is back.
    // A lab of its own, not handed on: a reconnected etcd member can make the leader demote and
    // promote itself again up to some 15 s after the connect (below), which a later check that
    // counts promotions must not see.
    let _lab = LabGuard::lock_only("patroni");
    let tmp = tempfile::tempdir().expect("temp dir");
    let file = tmp.path().join("patroni-fault-tour.yaml");
    std::fs::write(
        &file,
        "\
name: patroni-fault-tour
system: patroni
load: {duration: 55s}
steps:
  - {name: halt, at: 5s, fault: stop, target: leader}
  - {name: back, at: 13s, fault: start, target: halt}
  - {name: freeze, at: 23s, fault: pause, target: follower}
  - {name: thaw, at: 28s, fault: resume, target: freeze}
  - {name: unplug, at: 34s, fault: disconnect, target: follower}
  - {name: plug, at: 42s, fault: connect, target: unplug}
expect:
  - window: {after: halt, at-most: 10s}
  - column-zero: {node: halt, from: halt, until: back}
  - serves-again: {after: back, within: 15s}
  - window: {after: freeze, at-most: 1s}
  - column-zero: {node: freeze, from: freeze, until: thaw}
  - serves-again: {after: thaw, within: 10s}
  - window: {after: unplug, at-most: 1s}
  - column-zero: {node: unplug, from: unplug, until: plug}
  - serves-again: {after: plug, within: 13s}
  - lost-writes: 0
",
    )
    .unwrap();
    let run = run_scenario(file.to_str().unwrap(), &[], 0);
    let r = &run.summary;
    eprintln!(
        "{}",
        std::fs::read_to_string(run.dir.join("report.md")).unwrap_or_default()
    );
    assert_eq!(r["outcome"], "passed", "{}", run.stderr);
    assert_safe(&r["load"]);
    // One promotion, of another node, within a loop or two of the graceful stop.
    let halt = r["steps"][0]["fired_s"].as_f64().unwrap();
    let stopped = r["steps"][0]["nodes"][0].as_str().unwrap();
    let promotions = r["promotions"]
        .as_array()
        .expect("the run names its promotions");
    assert!(!promotions.is_empty(), "no promotion after the stop");
    let (node, at) = (
        promotions[0]["node"].as_str().unwrap(),
        promotions[0]["t_s"].as_f64().unwrap(),
    );
    assert_ne!(node, stopped);
    assert!(
        at > halt && at < halt + 10.0,
        "a stopped leader's successor is promoted within a loop or two: {:.2} s after the stop",
        at - halt
    );
    // No other node is promoted after that. The same leader may log a promotion again after the
    // replica is connected: the DCS is an etcd member beside every node, and etcd 3.4 (no
    // pre-vote) holds an election when the disconnected member comes back with a higher term; a
    // leader that cannot renew its key in time demotes itself and, still holding the lock,
    // promotes itself again ("because I had the session lock"). Seen once in CI: 13.3 s after
    // the connect, with a 5.3 s outage of every node, which the scenario does not bound.
    let plug = r["steps"][5]["fired_s"].as_f64().unwrap();
    for p in &promotions[1..] {
        let t = p["t_s"].as_f64().unwrap();
        eprintln!(
            "measured: {node} promoted again at {t:.2} s, {:.2} s after the connect",
            t - plug
        );
        assert_eq!(p["node"], node, "{promotions:?}");
        assert!(t > plug, "{promotions:?}");
        assert!(
            p["line"]
                .as_str()
                .unwrap()
                .contains("because I had the session lock"),
            "{promotions:?}"
        );
    }
}
