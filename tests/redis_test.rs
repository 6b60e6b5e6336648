//! The Redis driver through the real load loop against Debian's redis-server: three independent
//! servers (`compose/redis.yaml`), the control system, so a fault on one node drops that node's
//! column and nothing else.

mod common;

use common::*;

/// Every key on one node with its value, read back with `redis-cli` inside the node's container.
fn keys_on(node: &str) -> Vec<(String, u64)> {
    parse_id_values(&exec_output(
        &format!("perseus-redis-{node}"),
        &[
            "sh",
            "-c",
            "for k in $(redis-cli --scan); do printf '%s\\t%s\\n' \"$k\" \"$(redis-cli get \"$k\")\"; done",
        ],
    ))
}

#[test]
fn killed_server_drops_its_column_only_and_acknowledged_writes_survive_the_kill() {
    let Some(lab) = LabGuard::up("redis", &[]) else {
        return;
    };
    let load = LoadRun::start("redis", 14, &["--clients-per-node", "2"]);
    sleep_s(4.0);
    lab.fault("kill", "n1");
    sleep_s(4.0);
    lab.fault("start", "n1");
    let r = load.finish();
    assert!(
        r.column(1, 6, 8).iter().all(|&c| c == 0),
        "the killed server's column is 0: {}",
        r.stdout
    );
    for n in [2, 3] {
        assert!(
            r.column(n, 1, 14).iter().all(|&c| c > 100),
            "n{n} is independent of n1 and never stops: {}",
            r.stdout
        );
    }
    assert!(
        r.column(1, 13, 14).iter().all(|&c| c > 0),
        "after start n1 serves again: {}",
        r.stdout
    );
    assert_eq!(
        r.summary["lost_writes"], 0,
        "the append-only file holds every acknowledged write through SIGKILL: {}",
        r.summary["lost"]
    );
    for node in ["n1", "n2", "n3"] {
        let keys = keys_on(node);
        let checked = check_table_against_acks(&r, &keys, |k| k.contains(&format!("/{node}/")));
        assert_eq!(checked, 2, "two keys per node on {node}");
    }
}

#[test]
fn a_paused_server_is_a_window_of_the_pause_on_its_own_column() {
    let Some(lab) = LabGuard::up("redis", &[]) else {
        return;
    };
    let load = LoadRun::start("redis", 8, &[]);
    sleep_s(3.0);
    lab.fault("pause", "n2");
    sleep_s(2.0);
    lab.fault("resume", "n2");
    let r = load.finish();
    let n2 = &r.summary["nodes"][1];
    let window = n2["window"]["length_s"].as_f64().unwrap();
    // The window is the pause (2 s of the test's clock) plus what the Engine's pause and unpause
    // calls add; it is measured from success timestamps, so it is far finer than a second.
    assert!(
        (1.9..2.8).contains(&window),
        "n2's window is the 2 s pause: {window} s ({n2})"
    );
    for n in [0, 2] {
        let w = r.summary["nodes"][n]["window"]["length_s"]
            .as_f64()
            .unwrap();
        assert!(w < 0.5, "the others never stop: {w} s");
    }
}
