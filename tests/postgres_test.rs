//! The PostgreSQL-wire driver (tokio-postgres, as CockroachDB is driven) through the real load
//! loop against Debian's PostgreSQL 15: three independent servers (`compose/postgres.yaml`), so a
//! killed node drops its own column only.

mod common;

use common::*;

#[test]
fn killed_server_drops_its_column_and_acknowledged_writes_survive_the_kill() {
    // An fsynced PostgreSQL loses no acknowledged write to SIGKILL.
    kill_n1_of_independent_servers("postgres", 0, |node| {
        postgres_table(&format!("perseus-postgres-{node}"))
    });
}
