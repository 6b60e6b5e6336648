//! The systems the lab knows: how to tell a node is ready, who the leader is, and which load driver
//! speaks to it.
//!
//! A definition's `x-perseus` names these by string (`readiness: etcd-status`, `leader: etcd-status`,
//! `driver: etcd`); [`Readiness`], [`Leadership`] and [`DriverKind`] are the parsed forms and the
//! only place that maps a name to code.

pub mod cockroach;
pub mod etcd;
pub mod galera;
pub mod httpkv;
pub mod redis;
pub mod sql;
pub mod tidb;

use std::net::SocketAddr;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::lab::definition::Extension;
use sql::{SqlClient, Wire};

/// A node as a client sees it: its name and the address the load loop connects to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `n1`..`nN`.
    pub node: String,
    /// Client address (container IP on the lab network, client port).
    pub addr: SocketAddr,
}

/// Run `probe` on every node at once: `Ok(())` when every node passed, else the failures joined
/// by `"; "` (each one a line naming its node), as a readiness probe reports what is missing.
pub async fn on_every_node<F, Fut>(nodes: &[Endpoint], probe: F) -> std::result::Result<(), String>
where
    F: Fn(Endpoint) -> Fut,
    Fut: std::future::Future<Output = std::result::Result<(), String>>,
{
    let errors: Vec<String> = futures_util::future::join_all(nodes.iter().cloned().map(probe))
        .await
        .into_iter()
        .filter_map(std::result::Result::err)
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

/// How long a SQL readiness probe waits for one node.
const SQL_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Which load driver speaks to a system, with its client settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DriverKind {
    /// etcd v3 through its JSON gateway ([`etcd::EtcdDriver`]).
    Etcd,
    /// The etcd-like HTTP key-value API ([`httpkv::HttpKvDriver`]): Gryadka's proposers.
    HttpKv,
    /// Redis `GET`/`SET` ([`redis::RedisDriver`]): the `redis` control system.
    Redis,
    /// PostgreSQL wire ([`sql::PgDriver`]): CockroachDB, PostgreSQL.
    Postgres(SqlClient),
    /// MySQL wire ([`sql::MySqlDriver`]): TiDB, MariaDB Galera.
    MySql(SqlClient),
}

impl DriverKind {
    /// The driver an `x-perseus` section names (`driver`, with `client-user` and
    /// `client-database` for the SQL drivers).
    ///
    /// Errors: [`Error::BadInput`] naming the known drivers.
    pub fn from_extension(ext: &Extension) -> Result<DriverKind> {
        let client = || SqlClient {
            user: ext.client_user.clone().unwrap_or_else(|| "root".into()),
            database: ext.client_database.clone(),
        };
        match ext.driver.as_str() {
            "etcd" => Ok(DriverKind::Etcd),
            "http-kv" => Ok(DriverKind::HttpKv),
            "redis" => Ok(DriverKind::Redis),
            "postgres" => Ok(DriverKind::Postgres(client())),
            "mysql" => Ok(DriverKind::MySql(client())),
            other => Err(Error::BadInput(format!(
                "unknown driver '{other}' in x-perseus: use etcd, http-kv, redis, postgres or mysql"
            ))),
        }
    }

    /// The SQL wire of a SQL driver, `None` for the others.
    pub fn wire(&self) -> Option<Wire> {
        match self {
            DriverKind::Postgres(c) => Some(Wire::Postgres(c.clone())),
            DriverKind::MySql(c) => Some(Wire::MySql(c.clone())),
            DriverKind::Etcd | DriverKind::HttpKv | DriverKind::Redis => None,
        }
    }
}

/// How `lab up` decides a cluster is ready to serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// etcd's `/v3/maintenance/status` on every member, all naming one leader ([`etcd::ready`]).
    EtcdStatus,
    /// Every node's HTTP-KV API answers a read ([`httpkv::ready`]).
    HttpKv,
    /// Every node answers Redis `PING` ([`redis::ready`]).
    RedisPing,
    /// Every node answers `SELECT 1` through the system's SQL driver.
    Sql,
    /// Every Galera node synced in one primary component of all nodes ([`galera::ready`]).
    GaleraWsrep,
    /// Every CockroachDB node answers `/health?ready=1` ([`cockroach::ready`]).
    CockroachHealth,
    /// PD reports every TiKV store up and no region missing a peer; every TiDB answers
    /// ([`tidb::ready`]).
    TidbPd,
}

impl Readiness {
    /// Parse an `x-perseus.readiness` name.
    ///
    /// Errors: [`Error::BadInput`] naming the known probes.
    pub fn parse(name: &str) -> Result<Readiness> {
        match name {
            "etcd-status" => Ok(Readiness::EtcdStatus),
            "http-kv" => Ok(Readiness::HttpKv),
            "redis-ping" => Ok(Readiness::RedisPing),
            "sql" => Ok(Readiness::Sql),
            "galera-wsrep" => Ok(Readiness::GaleraWsrep),
            "cockroach-health" => Ok(Readiness::CockroachHealth),
            "tidb-pd" => Ok(Readiness::TidbPd),
            other => Err(Error::BadInput(format!(
                "unknown readiness probe '{other}' in x-perseus: use etcd-status, http-kv, redis-ping, sql, galera-wsrep, cockroach-health or tidb-pd"
            ))),
        }
    }

    /// Check that the probe can work with `driver` (the SQL probes need a SQL driver).
    ///
    /// Errors: [`Error::BadInput`].
    pub fn check(&self, driver: &DriverKind) -> Result<()> {
        if matches!(self, Readiness::Sql | Readiness::GaleraWsrep) && driver.wire().is_none() {
            return Err(Error::BadInput(format!(
                "readiness {self:?} needs a SQL driver (postgres or mysql) in x-perseus"
            )));
        }
        Ok(())
    }

    /// Whether the cluster is ready to serve: `Ok(())`, or `Err` with what is still missing
    /// (one human-readable line).
    pub async fn ready(
        &self,
        driver: &DriverKind,
        nodes: &[Endpoint],
    ) -> std::result::Result<(), String> {
        match self {
            Readiness::EtcdStatus => etcd::ready(nodes).await,
            Readiness::HttpKv => httpkv::ready(nodes).await,
            Readiness::RedisPing => redis::ready(nodes).await,
            Readiness::Sql => match driver.wire() {
                Some(w) => w.ready(nodes, SQL_PROBE_TIMEOUT).await,
                None => Err("the sql readiness probe needs a SQL driver".into()),
            },
            Readiness::GaleraWsrep => match driver.wire() {
                Some(w) => galera::ready(&w, nodes).await,
                None => Err("the galera-wsrep readiness probe needs a SQL driver".into()),
            },
            Readiness::CockroachHealth => cockroach::ready(nodes).await,
            Readiness::TidbPd => tidb::ready(nodes).await,
        }
    }
}

/// How the leader of a system is found (`x-perseus.leader`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leadership {
    /// etcd's Raft leader, from the members' status ([`etcd::leader`]).
    EtcdStatus,
    /// The leaseholder of the loop's table range ([`cockroach::leaseholder`]).
    CockroachLeaseholder,
    /// The node whose TiKV holds the loop's table region leader ([`tidb::region_leader`]); the
    /// role `pd` is PD's leader ([`tidb::pd_leader`]).
    TidbRegion,
    /// No leader: leaderless (Gryadka) or multi-primary (Galera) systems.
    None,
}

impl Leadership {
    /// Parse an `x-perseus.leader` name.
    ///
    /// Errors: [`Error::BadInput`] naming the known probes.
    pub fn parse(name: &str) -> Result<Leadership> {
        match name {
            "etcd-status" => Ok(Leadership::EtcdStatus),
            "cockroach-leaseholder" => Ok(Leadership::CockroachLeaseholder),
            "tidb-region" => Ok(Leadership::TidbRegion),
            "none" => Ok(Leadership::None),
            other => Err(Error::BadInput(format!(
                "unknown leader probe '{other}' in x-perseus: use etcd-status, cockroach-leaseholder, tidb-region or none"
            ))),
        }
    }

    /// The named leader roles this probe knows besides `leader` (`pd` for TiDB's `pd-leader`).
    pub fn roles(&self) -> &'static [&'static str] {
        match self {
            Leadership::TidbRegion => &["pd"],
            _ => &[],
        }
    }

    /// The current leader's node name, asked from the cluster now; `role` selects a named
    /// leader role (`Some("pd")`) instead of the system's leader.
    ///
    /// `Ok(None)` when the cluster has no leader that answers (an election is in progress, or the
    /// leader is dead and not yet replaced). Errors: [`Error::UnsupportedTarget`] for a system
    /// without a leader, or a role it does not have, naming what to use instead.
    pub async fn leader(
        &self,
        system: &str,
        driver: &DriverKind,
        nodes: &[Endpoint],
        role: Option<&str>,
    ) -> Result<Option<String>> {
        if let Some(role) = role {
            if !self.roles().contains(&role) {
                let known: Vec<String> = std::iter::once("leader".to_string())
                    .chain(self.roles().iter().map(|r| format!("{r}-leader")))
                    .collect();
                return Err(Error::UnsupportedTarget(match self {
                    Leadership::None => format!(
                        "{system} has no {role} leader: target a node by name (n1, n2, ...) or random"
                    ),
                    _ => format!(
                        "{system} has no {role} leader: its leader targets are {}",
                        known.join(", ")
                    ),
                }));
            }
        }
        let wire = driver.wire();
        match (self, role, wire) {
            (Leadership::EtcdStatus, _, _) => Ok(etcd::leader(nodes).await.leader),
            (Leadership::CockroachLeaseholder, _, Some(w)) => {
                Ok(cockroach::leaseholder(&w, nodes).await)
            }
            (Leadership::TidbRegion, Some("pd"), _) => Ok(tidb::pd_leader(nodes).await),
            (Leadership::TidbRegion, _, Some(w)) => Ok(tidb::region_leader(&w, nodes).await),
            (Leadership::CockroachLeaseholder | Leadership::TidbRegion, _, None) => {
                Err(Error::BadInput(format!(
                    "{system}: the {self:?} leader probe needs a SQL driver in x-perseus"
                )))
            }
            (Leadership::None, _, _) => Err(Error::UnsupportedTarget(format!(
                "{system} has no leader: target a node by name (n1, n2, ...) or random"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_unknown_names_list_the_known_ones() {
        assert_eq!(
            Readiness::parse("galera-wsrep").unwrap(),
            Readiness::GaleraWsrep
        );
        assert_eq!(
            Leadership::parse("cockroach-leaseholder").unwrap(),
            Leadership::CockroachLeaseholder
        );
        let e = Readiness::parse("nope").unwrap_err().to_string();
        assert!(e.contains("tidb-pd"), "{e}");
        let e = Leadership::parse("nope").unwrap_err().to_string();
        assert!(e.contains("tidb-region"), "{e}");
    }

    #[tokio::test]
    async fn leaderless_systems_refuse_leader_targets_and_name_the_alternatives() {
        let e = Leadership::None
            .leader("galera", &DriverKind::HttpKv, &[], None)
            .await
            .unwrap_err();
        assert!(matches!(e, Error::UnsupportedTarget(_)));
        assert!(e.to_string().contains("random"), "{e}");
        let e = Leadership::EtcdStatus
            .leader("etcd", &DriverKind::Etcd, &[], Some("pd"))
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("etcd has no pd leader"), "{e}");
        assert!(e.contains("leader"), "{e}");
    }
}
