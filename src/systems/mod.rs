//! The systems the lab knows. Each database is one file here implementing [`System`]: the load
//! loop's driver for its protocol, how to tell that a cluster is ready, which leaders it has and
//! how to find them, and what to make once it is ready (the loop's table). [`REGISTRY`] maps a name
//! to each. A definition's `x-perseus.kind` (by default its `system`) names one, and is resolved to
//! it once, when the definition is parsed ([`lookup`]); nothing after that matches names.
//!
//! Adding a database:
//! - one that speaks the protocol of a system here and needs nothing of its own to tell readiness
//!   or find a leader (another PostgreSQL-wire or Redis server): one compose file with
//!   `kind: postgres` (or `redis`, ...);
//! - any other: one file here implementing [`System`], one line in [`REGISTRY`], one compose file.

pub mod cockroach;
pub mod etcd;
pub mod galera;
pub mod gryadka;
pub mod nats;
pub mod patroni;
pub mod postgres;
mod readiness;
pub mod redis;
pub mod redis_sentinel;
pub mod sql;
pub mod sql_txn;
mod system;
pub mod tidb;
pub mod zookeeper;

use crate::error::{Error, Result};

pub use readiness::{on_every_node, Pending, Problem};
pub use system::{leader, Cluster, Leadership, LogLine, PromotionLog, Settings, System};

/// Every system the lab knows, by [`System::name`].
pub static REGISTRY: &[&dyn System] = &[
    &cockroach::Cockroach,
    &etcd::Etcd,
    &galera::Galera,
    &gryadka::Gryadka,
    &nats::Nats,
    &patroni::Patroni,
    &postgres::Postgres,
    &redis::Redis,
    &redis_sentinel::RedisSentinel,
    &tidb::Tidb,
    &zookeeper::ZooKeeper,
];

/// The system called `name` in [`REGISTRY`].
///
/// Errors: [`Error::NoImplementation`] naming the known implementations.
pub fn lookup(name: &str) -> Result<&'static dyn System> {
    REGISTRY
        .iter()
        .copied()
        .find(|s| s.name() == name)
        .ok_or_else(|| Error::NoImplementation {
            name: name.to_string(),
            known: REGISTRY
                .iter()
                .map(|s| s.name())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// The string at `path` in a JSON document (`["patroni", "version"]`), for the version probes;
/// `None` when the body is not JSON or holds no string there.
pub fn json_field(body: &[u8], path: &[&str]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    path.iter()
        .try_fold(&v, |v, k| v.get(k))?
        .as_str()
        .map(str::to_string)
}

/// The transactional workloads' client of `system` (see [`System::transactions`]) with the
/// definition's `settings`, for transactions at `isolation` (`None`: the system's default), and
/// with `replica_reads` the port its read-only transactions go to (the definition's
/// `read-port`); `name` is the lab's system as the user wrote it, for the errors.
///
/// Errors: [`Error::NoTransactions`] for a system without transactions, naming those that have
/// them; [`Error::Isolation`] for a level its client (or, with `replica_reads`, its replicas)
/// cannot run; [`Error::NoReplicaReads`] for `replica_reads` without a `read-port`.
pub fn txn_driver(
    system: &dyn System,
    settings: &Settings,
    name: &str,
    workload: crate::workload::Workload,
    isolation: Option<crate::workload::Isolation>,
    replica_reads: bool,
) -> Result<crate::workload::TxnClient> {
    let driver = system
        .transactions(settings)
        .ok_or_else(|| Error::NoTransactions {
            system: name.to_string(),
            workload: workload.to_string(),
            with: REGISTRY
                .iter()
                .filter(|s| s.transactions(&Settings::default()).is_some())
                .map(|s| s.name())
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    let isolation_error = |detail| Error::Isolation {
        system: name.to_string(),
        detail,
    };
    driver.isolation(isolation).map_err(isolation_error)?;
    let read_port = if replica_reads {
        let port = settings.read_port.ok_or_else(|| Error::NoReplicaReads {
            system: name.to_string(),
        })?;
        driver
            .replica_isolation(isolation)
            .map_err(isolation_error)?;
        Some(port)
    } else {
        None
    };
    Ok(crate::workload::TxnClient { driver, read_port })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_finds_every_system_by_its_name_and_lists_them_otherwise() {
        for s in REGISTRY {
            assert_eq!(lookup(s.name()).unwrap().name(), s.name());
        }
        let names: std::collections::BTreeSet<&str> = REGISTRY.iter().map(|s| s.name()).collect();
        assert_eq!(names.len(), REGISTRY.len(), "names are unique");
        let e = lookup("mongo").unwrap_err().to_string();
        assert!(e.contains("'mongo'") && e.contains("etcd, galera"), "{e}");
    }

    fn cluster() -> Cluster {
        Cluster {
            nodes: Vec::new(),
            settings: Settings::default(),
        }
    }

    #[tokio::test]
    async fn leaderless_systems_refuse_leader_targets_and_name_the_alternatives() {
        let galera = lookup("galera").unwrap();
        assert!(!galera.has_leader());
        let e = leader(galera, "galera", &cluster(), None)
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Leaderless { role: None, .. }));
        assert_eq!(
            e.to_string(),
            "galera has no leader: target a node by name (n1, n2, ...) or random"
        );
        let etcd = lookup("etcd").unwrap();
        let e = leader(etcd, "etcd", &cluster(), Some("pd"))
            .await
            .unwrap_err()
            .to_string();
        assert_eq!(e, "etcd has no pd leader: its leader targets are leader");
        assert_eq!(
            lookup("tidb").unwrap().leader_targets(),
            ["leader", "pd-leader"]
        );
    }

    #[test]
    fn a_transactional_workload_is_refused_in_one_line_where_it_cannot_run() {
        use crate::workload::{Isolation, Workload};
        let s = Settings::default();
        let e = txn_driver(
            lookup("redis").unwrap(),
            &s,
            "redis",
            Workload::ListAppend,
            None,
            false,
        )
        .err()
        .unwrap();
        assert!(matches!(e, Error::NoTransactions { .. }));
        assert_eq!(e.exit_code(), 2);
        assert_eq!(
            e.to_string(),
            "redis has no transactions to run the list-append workload on: use --workload register, or a system with transactions (cockroach, etcd, galera, patroni, postgres, tidb)"
        );
        let e = txn_driver(
            lookup("etcd").unwrap(),
            &s,
            "etcd",
            Workload::Bank,
            Some(Isolation::RepeatableRead),
            false,
        )
        .err()
        .unwrap();
        assert_eq!(e.exit_code(), 2);
        assert!(
            e.to_string()
                .starts_with("etcd: transactions here have one level"),
            "{e}"
        );
        for ok in ["postgres", "galera", "etcd"] {
            let c = txn_driver(
                lookup(ok).unwrap(),
                &s,
                ok,
                Workload::ListAppend,
                None,
                false,
            )
            .unwrap();
            assert_eq!(c.read_port, None);
        }
    }

    #[test]
    fn replica_reads_need_a_read_port_and_a_level_a_hot_standby_serves() {
        use crate::workload::{Isolation, Workload};
        let patroni = lookup("patroni").unwrap();
        let e = txn_driver(
            patroni,
            &Settings::default(),
            "patroni",
            Workload::ListAppend,
            None,
            true,
        )
        .err()
        .unwrap();
        assert!(matches!(e, Error::NoReplicaReads { .. }));
        assert_eq!(e.exit_code(), 2);
        assert!(
            e.to_string().starts_with(
                "patroni has no read port to send read-only transactions to: leave out --replica-reads"
            ),
            "{e}"
        );
        let s = Settings {
            read_port: Some(5432),
            ..Settings::default()
        };
        let e = txn_driver(
            patroni,
            &s,
            "patroni",
            Workload::ListAppend,
            Some(Isolation::Serializable),
            true,
        )
        .err()
        .unwrap();
        assert_eq!(e.exit_code(), 2);
        assert!(
            e.to_string()
                .contains("cannot use serializable mode in a hot standby")
                && e.to_string().contains("--isolation repeatable-read"),
            "{e}"
        );
        // Serializable on the primary alone is fine; the read port is only used when asked.
        let c = txn_driver(
            patroni,
            &s,
            "patroni",
            Workload::ListAppend,
            Some(Isolation::Serializable),
            false,
        )
        .unwrap();
        assert_eq!(c.read_port, None);
        for level in [
            None,
            Some(Isolation::RepeatableRead),
            Some(Isolation::ReadCommitted),
        ] {
            let c = txn_driver(patroni, &s, "patroni", Workload::Bank, level, true).unwrap();
            assert_eq!(c.read_port, Some(5432));
        }
    }

    #[test]
    fn pending_names_the_nodes_whose_logs_explain_it() {
        let all: Vec<crate::node::NodeName> =
            ["n1", "n2", "n3"].iter().map(|s| (*s).into()).collect();
        let p = Pending::node("n2", "n2 does not answer");
        assert_eq!(p.nodes(&all), [&all[1]]);
        assert_eq!(p.to_string(), "n2 does not answer");
        let p = Pending::cluster("members do not agree on a leader yet");
        assert_eq!(p.nodes(&all).len(), 3);
    }

    #[test]
    fn schema_statements_need_a_system_that_speaks_sql() {
        let settings = Settings {
            schema: vec!["CREATE TABLE t (id INT)".into()],
            ..Settings::default()
        };
        let e = lookup("etcd").unwrap().check(&settings).unwrap_err();
        assert!(
            e.contains("x-perseus.schema needs a system that speaks SQL"),
            "{e}"
        );
        lookup("postgres").unwrap().check(&settings).unwrap();
    }
}
