//! `perseus lab`: up, status, down on the real engine, and the errors a user can cause.

mod common;

use common::*;

#[test]
fn up_status_down_leaves_nothing_behind() {
    let lab = LabGuard::up("etcd", &[]);
    let status = lab.status();
    assert_eq!(status.len(), 3);
    assert_eq!(
        status.iter().filter(|r| r["role"] == "leader").count(),
        1,
        "{status:?}"
    );
    for (i, r) in status.iter().enumerate() {
        assert_eq!(r["node"], format!("n{}", i + 1));
        assert_eq!(r["state"], "running");
        assert!(r["endpoint"].as_str().unwrap().ends_with(":2379"), "{r}");
        assert_eq!(r["faults"].as_array().unwrap().len(), 0);
        // What the member says of itself (GET /version): Debian bookworm's etcd-server.
        assert_eq!(r["version"], "3.4.23", "{r}");
    }
    // The system may be omitted when exactly one lab is up.
    let table = stdout(&run(&["lab", "status"], 0));
    assert!(
        table.contains("leader") && table.contains("perseus-etcd-n3"),
        "{table}"
    );

    let again = run(&["lab", "up", "etcd"], 2);
    let msg = stderr(&again);
    assert!(
        msg.contains("already up") && msg.contains("perseus lab down etcd"),
        "{msg}"
    );
    assert_eq!(msg.trim().lines().count(), 1, "one-line error: {msg}");

    let down = run(&["lab", "down", "etcd"], 0);
    assert!(
        // Three nodes and their three network helpers.
        stderr(&down).contains("removed 6 containers, 1 networks, 3 volumes"),
        "{}",
        stderr(&down)
    );
    assert_eq!(
        leftovers("etcd"),
        (0, 0, 0),
        "lab down leaves no labelled object"
    );
    run(&["lab", "down", "etcd"], 0);
}

#[test]
fn nine_nodes_of_etcd_redis_and_gryadka_all_serve() {
    // The largest lab (--nodes 9) of each system that scales: every node is in the status and
    // every node's column counts successes; etcd's nine members elect exactly one leader.
    for system in ["etcd", "redis", "gryadka"] {
        let lab = LabGuard::up(system, &["--nodes", "9"]);
        let status = lab.status();
        assert_eq!(status.len(), 9, "{system}: {status:?}");
        // Each server's own version (INFO server on Redis); Gryadka's proposer is Perseus' own
        // code, and says none.
        for r in &status {
            let v = r["version"].as_str();
            match system {
                "etcd" => assert_eq!(v, Some("3.4.23"), "{r}"),
                "redis" => assert!(v.is_some_and(|v| v.starts_with("7.0.")), "{r}"),
                _ => assert_eq!(v, None, "{r}"),
            }
        }
        if system == "etcd" {
            assert_eq!(
                status.iter().filter(|r| r["role"] == "leader").count(),
                1,
                "{status:?}"
            );
        }
        let r = LoadRun::start(system, 3, &[]).finish();
        for n in 1..=9 {
            assert!(
                r.column(n, 2, 3).iter().all(|&c| c > 0),
                "{system} n{n}: {}",
                r.stdout
            );
        }
        drop(lab);
    }
}

#[test]
fn errors_users_cause_are_one_line_with_exit_code_2() {
    let _guard = LabGuard::lock_only("etcd");
    let check = |args: &[&str], needle: &str| {
        let out = run(args, 2);
        let msg = stderr(&out);
        assert!(msg.contains(needle), "perseus {}: {msg}", args.join(" "));
        assert_eq!(msg.trim().lines().count(), 1, "one line: {msg}");
    };
    check(
        &["lab", "up", "mongo"],
        &format!(
            "unknown system 'mongo': choose one of {}",
            systems_defined().join(", ")
        ),
    );
    check(
        &["lab", "status", "etcd"],
        "no etcd lab is up: run `perseus lab up etcd` first",
    );
    check(&["fault", "kill", "etcd", "n1"], "no etcd lab is up");
    check(&["load", "etcd", "--duration", "2s"], "no etcd lab is up");
    check(
        &["fault", "kill", "etcd", "node1"],
        "'node1' is not a target",
    );
    check(
        &["load", "etcd", "--duration", "0s"],
        "--duration 0s is out of range",
    );
    // The open loop's flags, refused before any lab is looked for.
    check(
        &["load", "etcd", "--max-clients-per-node", "8"],
        "--max-clients-per-node bounds the open loop: add --rate",
    );
    check(
        &[
            "load",
            "etcd",
            "--rate",
            "100/s",
            "--max-clients-per-node",
            "0",
        ],
        "--max-clients-per-node 0 is out of range",
    );
    check(
        &["load", "etcd", "--rate", "3000/s", "--workload", "bank"],
        "--rate drives the register loop; bank runs closed",
    );
    check(
        &["lab", "up", "etcd", "--nodes", "12"],
        "--nodes 12 is out of range",
    );

    // Docker unreachable.
    let out = perseus()
        .args(["lab", "up", "etcd"])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("cannot reach the Docker Engine"),
        "{}",
        stderr(&out)
    );

    // A malformed definition names file, line and column, and nothing is created.
    let dir = tempfile::tempdir().unwrap();
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/compose/etcd.yaml")).unwrap();
    let bad = dir.path().join("etcd.yaml");
    std::fs::write(
        &bad,
        text.replace(
            "    hostname: n2\n",
            "    hostname: n2\n    privileged: true\n",
        ),
    )
    .unwrap();
    let out = run(&["lab", "up", "etcd", "--file", bad.to_str().unwrap()], 2);
    let msg = stderr(&out);
    let line = text.lines().position(|l| l == "    hostname: n2").unwrap() + 2;
    assert!(
        msg.contains(&format!("etcd.yaml:{line}:5: unknown field `privileged`")),
        "{msg}"
    );
    assert_eq!(leftovers("etcd"), (0, 0, 0));
}

#[test]
fn unknown_node_on_a_running_lab() {
    let _lab = LabGuard::up("etcd", &[]);
    let out = run(&["fault", "kill", "etcd", "n7"], 2);
    assert!(
        stderr(&out).contains("unknown node 'n7' in lab etcd: its nodes are n1, n2, n3"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_failed_up_removes_what_it_created_and_shows_the_node_logs() {
    let _guard = LabGuard::lock_only("etcd");
    let dir = tempfile::tempdir().unwrap();
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/compose/etcd.yaml")).unwrap();
    let broken = dir.path().join("etcd.yaml");
    std::fs::write(
        &broken,
        text.replace(
            "[\"--name\", \"n2\",",
            "[\"--no-such-flag\", \"--name\", \"n2\",",
        ),
    )
    .unwrap();
    let out = run(
        &[
            "lab",
            "up",
            "etcd",
            "--file",
            broken.to_str().unwrap(),
            "--timeout",
            "30s",
        ],
        1,
    );
    let msg = stderr(&out);
    assert!(
        msg.contains("perseus-etcd-n2") && msg.contains("exited"),
        "{msg}"
    );
    assert!(
        msg.contains("no-such-flag"),
        "the node's own log lines are shown: {msg}"
    );
    assert!(msg.contains("removing what it created"), "{msg}");
    assert_eq!(
        leftovers("etcd"),
        (0, 0, 0),
        "a failed lab up leaves nothing"
    );
}

/// The suite's shared labs (`LabGuard::shared`, tests/common/shared.rs): a check that passed
/// hands its lab on restored, the next check of the system gets that very lab, a check that
/// failed removes it, and a lab nobody takes is removed by itself once idle.
#[test]
fn a_shared_lab_is_handed_on_restored_and_removed_when_idle() {
    // Seconds an idle lab waits here (30 in the suite); read by the guard of this process.
    std::env::set_var("PERSEUS_TEST_SHARED_IDLE", "4");
    let network = || {
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(async { shared::network_id(&open_lab("redis").await).await })
            .expect("the lab's network")
    };
    let first = LabGuard::shared("redis");
    let made = network();
    // A fault left in force by a check that passed.
    first.fault("isolate", "n2");
    first.fault("pause", "n3");
    drop(first);
    let idle = shared::dir();
    assert_eq!(
        std::fs::read_dir(&idle)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("redis."))
            .count(),
        1,
        "handed on"
    );
    let second = LabGuard::shared("redis");
    assert_eq!(network(), made, "the next check gets the same lab");
    for r in second.status() {
        assert_eq!(r["state"], "running", "{r}");
        assert_eq!(r["faults"].as_array().unwrap().len(), 0, "restored: {r}");
    }
    assert!(reaches("redis", 1, 2, 6379), "healed");
    let r = LoadRun::start("redis", 3, &[]).finish();
    assert!(
        r.rows
            .iter()
            .skip(1)
            .all(|row| row[2..].iter().all(|&c| c > 0)),
        "every node serves: {:?}",
        r.rows
    );
    drop(second);
    // Nobody takes it: removed once idle.
    sleep_s(7.0);
    assert_eq!(leftovers("redis"), (0, 0, 0), "the idle lab removed itself");
    // A check that fails removes its lab instead of handing it on.
    let failed = std::thread::spawn(|| {
        let _lab = LabGuard::shared("redis");
        panic!("a check that fails");
    })
    .join();
    assert!(failed.is_err());
    assert_eq!(
        leftovers("redis"),
        (0, 0, 0),
        "a failed check's lab is gone"
    );
}
