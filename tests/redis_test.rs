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
    let pause = lab.fault("pause", "n2");
    sleep_s(2.0);
    let resume = lab.fault("resume", "n2");
    let r = load.finish();
    // The pause was in force between the two events (each stamped when its Engine call returned),
    // on the load's own clock.
    let (paused, resumed) = (r.offset(&pause), r.offset(&resume));
    let n2 = &r.summary["nodes"][1];
    let w = &n2["window"];
    let (start, end, window) = (
        w["start_s"].as_f64().unwrap(),
        w["end_s"].as_f64().unwrap(),
        w["length_s"].as_f64().unwrap(),
    );
    // The window is measured from success timestamps, so it is far finer than a second: it is the
    // pause, from the last success before the freeze to the first after the thaw.
    eprintln!("paused {paused:.3} s, resumed {resumed:.3} s: n2's window {window:.3} s from {start:.3} s to {end:.3} s");
    assert!(
        (paused - 0.25..=paused).contains(&start),
        "n2's window starts when the pause took effect ({paused:.3} s): {n2}"
    );
    assert!(
        (resumed - 0.25..resumed + 0.5).contains(&end),
        "n2's window ends when the resume took effect ({resumed:.3} s): {n2}"
    );
    for n in [0, 2] {
        let w = r.summary["nodes"][n]["window"]["length_s"]
            .as_f64()
            .unwrap();
        assert!(w < 0.5, "the others never stop: {w} s");
    }
}
