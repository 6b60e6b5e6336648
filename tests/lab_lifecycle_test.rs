//! The lab's lifecycle hooks on real containers: `x-perseus.init` runs once on its node (retried
//! until the server takes it), `drain` runs before a graceful stop, and a failed `lab add-node`
//! removes what it made and nothing else. CockroachDB relies on all three (`cockroach init`,
//! `cockroach node drain`, add-node), but its image cannot be pulled here, so a PostgreSQL
//! definition with the same hooks (`tests/fixtures/postgres-lifecycle.yaml`) drives them.

mod common;

use common::*;

fn psql(node: &str, sql: &str) -> String {
    exec_output(
        &format!("perseus-postgres-{node}"),
        &["psql", "-U", "postgres", "-At", "-c", sql],
    )
}

#[test]
fn init_runs_once_drain_precedes_stop_and_a_failed_add_node_leaves_the_lab_as_it_was() {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/postgres-lifecycle.yaml"
    );
    let lab = LabGuard::up("postgres", &["--file", fixture]);
    let marker = "SELECT count(*) FROM pg_database WHERE datname = 'initialised'";
    assert_eq!(psql("n1", marker).trim(), "1", "init ran on n1");
    for n in ["n2", "n3"] {
        assert_eq!(
            psql(n, marker).trim(),
            "0",
            "init ran on n1 only, not on {n}"
        );
    }

    let event = lab.fault("stop", "n2");
    assert!(
        event.contains("drained (psql -h 127.0.0.1 -U postgres -c CHECKPOINT), then graceful stop"),
        "{event}"
    );
    assert!(lab.status()[1]["state"]
        .as_str()
        .unwrap()
        .starts_with("exited"));
    lab.fault("start", "n2");

    let before = leftovers("postgres");
    let out = run(&["lab", "add-node", "postgres"], 1);
    let err = stderr(&out);
    assert!(
        err.contains("perseus-postgres-n4") && err.contains("refusing to start as a fourth node"),
        "the failure names the node and shows its log: {err}"
    );
    assert_eq!(
        leftovers("postgres"),
        before,
        "n4's container and volume are gone"
    );
    let rows = lab.status();
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert!(rows.iter().all(|r| r["state"] == "running"), "{rows:?}");
    let r = LoadRun::start("postgres", 3, &[]).finish();
    assert!(
        r.rows
            .iter()
            .all(|row| row.len() == 5 && row[2..].iter().all(|&c| c > 0)),
        "the three nodes still serve: {}",
        r.stdout
    );
}
