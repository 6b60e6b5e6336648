//! The PostgreSQL-wire driver (tokio-postgres, as CockroachDB is driven) through the real load
//! loop against Debian's PostgreSQL 15: three independent servers (`compose/postgres.yaml`), so a
//! killed node drops its own column only.

mod common;

use common::*;

/// The loop's table on one node, read back with `psql` inside the node's container.
fn table_on(node: &str) -> Vec<(String, u64)> {
    parse_id_values(&exec_output(
        &format!("perseus-postgres-{node}"),
        &[
            "psql",
            "-U",
            "postgres",
            "-At",
            "-F",
            "\t",
            "-c",
            "SELECT id, value FROM lily.counters",
        ],
    ))
}

#[test]
fn killed_server_drops_its_column_and_acknowledged_writes_survive_the_kill() {
    let Some(lab) = LabGuard::up("postgres", &[]) else {
        return;
    };
    let load = LoadRun::start("postgres", 14, &["--clients-per-node", "2"]);
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
            r.column(n, 1, 14).iter().all(|&c| c > 0),
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
        "an fsynced PostgreSQL loses no acknowledged write to SIGKILL: {}",
        r.summary["lost"]
    );
    for node in ["n1", "n2", "n3"] {
        let table = table_on(node);
        let checked = check_table_against_acks(&r, &table, |k| k.contains(&format!("/{node}/")));
        assert_eq!(checked, 2, "two keys per node on {node}");
    }
}
