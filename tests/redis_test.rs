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
    // The append-only file (appendfsync everysec) holds every acknowledged write through SIGKILL.
    kill_n1_of_independent_servers("redis", 100, keys_on);
}

#[test]
fn a_paused_server_is_a_window_of_the_pause_on_its_own_column() {
    let lab = LabGuard::up("redis", &[]);
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
