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
    // An fsynced PostgreSQL loses no acknowledged write to SIGKILL.
    kill_n1_of_independent_servers("postgres", 0, table_on);
}
