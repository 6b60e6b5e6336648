//! ZooKeeper in the lab: the scenarios as users run them, on one lab. A killed leader's followers
//! elect a new one at once (its connections close with it), and ZooKeeper's own log names the
//! promotion; an isolated leader costs the whole ensemble syncLimit x tickTime (10 s), because
//! every write goes through the leader and nobody gives up on it sooner, and it loses nothing: ZAB
//! commits only what a quorum acknowledged. Every key's final read is checked with ZooKeeper's own
//! command-line client.

mod common;

use std::time::Duration;

use common::*;

/// What ZooKeeper's own client (`zkcli get`, ZooKeeperMain) reads for the loop's key `key` on
/// container `container`.
fn zkcli_get(container: &str, key: &str) -> Option<u64> {
    let path = format!("/perseus/{}", key.replace('/', ":"));
    let out = exec_output(container, &["sh", "-c", &format!("zkcli get {path} 2>&1")]);
    out.lines().rev().find_map(|l| l.trim().parse().ok())
}

#[test]
fn a_killed_leader_is_replaced_at_once_and_an_isolated_one_after_sync_limit_and_nothing_is_lost() {
    let lab = LabGuard::lock_only("zookeeper");

    // Kill the leader at 10 s, start it at 20 s.
    let run = run_scenario("scenarios/zookeeper-kill-leader.yaml", &["--keep"], 0);
    // ZooKeeper's account: one server won the election, not the killed one, in well under the
    // 10 s a silent leader would cost, and the ensemble served again right after.
    let f = run.failover("ZooKeeper");
    let (crash, at, (from, to)) = (f.crash_s, f.at_s, f.window);
    assert!(
        f.line.contains("LEADING - LEADER ELECTION TOOK"),
        "{}",
        f.line
    );
    assert!(
        at > crash && at < crash + 3.0,
        "the followers elect at once when the leader's connections close: {:.2} s",
        at - crash
    );
    assert!(to - from < 3.0, "cluster window {:.2} s", to - from);
    let report = std::fs::read_to_string(run.dir.join("report.md")).unwrap();
    assert!(
        report.contains("### Failover, as ZooKeeper logged it"),
        "{report}"
    );

    // The killed server is back as a follower once the run is over.
    let start_wait = std::time::Instant::now();
    loop {
        let roles: Vec<String> = lab
            .status()
            .iter()
            .map(|s| s["role"].as_str().unwrap_or_default().to_string())
            .collect();
        if roles.iter().filter(|r| *r == "follower").count() == 2
            && roles.iter().filter(|r| *r == "leader").count() == 1
        {
            break;
        }
        assert!(
            start_wait.elapsed() < Duration::from_secs(30),
            "one leader and two followers: {roles:?}"
        );
        sleep_s(1.0);
    }

    // Isolate the leader at 10 s, heal at 30 s, on the same lab.
    let run = run_scenario(
        "scenarios/zookeeper-isolate-leader.yaml",
        &["--reuse", "--keep"],
        0,
    );
    let r = &run.summary;
    assert_eq!(r["outcome"], "passed", "{}", run.stderr);
    let cut = r["steps"][0]["fired_s"].as_f64().unwrap();
    let window = &r["effects"][0]["cluster"];
    let (from, to) = (
        window["start_s"].as_f64().unwrap(),
        window["end_s"].as_f64().unwrap(),
    );
    eprintln!("isolated the leader at {cut:.2} s; cluster window {from:.2} s to {to:.2} s");
    // Nobody serves until the followers give up on their leader: syncLimit x tickTime = 10 s.
    assert!(
        from < cut + 1.0,
        "the ensemble stops at the cut: {from:.2} s"
    );
    assert!(
        (8.0..15.0).contains(&(to - cut)),
        "out for about syncLimit x tickTime (10 s): {:.2} s",
        to - cut
    );
    assert_ne!(
        r["leader_after"], r["leader_before"],
        "a new leader was elected"
    );
    assert_safe(&r["load"]);

    // Every key's final read is what ZooKeeper's own client reads on the new leader.
    let container = format!("perseus-zookeeper-{}", r["leader_after"].as_str().unwrap());
    for key in r["load"]["keys"].as_array().unwrap() {
        let name = key["key"].as_str().unwrap();
        assert_eq!(key["final"].as_u64(), zkcli_get(&container, name), "{key}");
        assert!(key["final"].as_u64().unwrap() > 1000, "{key}");
    }
}
