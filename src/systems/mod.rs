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
pub mod redis;
pub mod redis_sentinel;
pub mod sql;
pub mod tidb;
pub mod zookeeper;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;

use crate::driver::Endpoint;
use crate::error::{Error, Result};
use crate::load::DynDriver;
use sql::{SqlClient, Wire};

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
/// Errors: [`Error::BadInput`] naming the known systems.
pub fn lookup(name: &str) -> Result<&'static dyn System> {
    REGISTRY
        .iter()
        .copied()
        .find(|s| s.name() == name)
        .ok_or_else(|| {
            Error::BadInput(format!(
                "no system implementation is called '{name}': use one of {}",
                REGISTRY
                    .iter()
                    .map(|s| s.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
}

/// What a definition tells its system beyond the nodes (`x-perseus`): who the client is and the
/// statements that make the loop's table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    /// The user the SQL drivers connect as (`client-user`; default `root`).
    pub client_user: Option<String>,
    /// The database the SQL drivers connect to (`client-database`).
    pub client_database: Option<String>,
    /// Statements run once the cluster is ready (`schema`), each idempotent.
    pub schema: Vec<String>,
    /// The system's own options (`options`), values as written (`false`, `3`).
    pub options: std::collections::BTreeMap<String, String>,
}

impl Settings {
    /// The SQL client these settings name (user `root` when none is given).
    pub fn sql_client(&self) -> SqlClient {
        SqlClient {
            user: self.client_user.clone().unwrap_or_else(|| "root".into()),
            database: self.client_database.clone(),
        }
    }
}

/// What a system's probes and hooks see of a lab: every node's client endpoint, in node order,
/// and the definition's settings.
#[derive(Debug, Clone)]
pub struct Cluster {
    /// The nodes' client endpoints, n1 first.
    pub nodes: Vec<Endpoint>,
    /// The definition's settings.
    pub settings: Settings,
}

/// Which leaders a system has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leadership {
    /// None: a leaderless (Gryadka), multi-primary (Galera) or unreplicated system. The targets
    /// `leader` and `follower` are refused.
    None,
    /// A leader (`leader`, `follower` targets), and the named roles it has besides (`pd` for
    /// TiDB's `pd-leader` target).
    Leader {
        /// Role names besides the leader, without the `-leader` suffix.
        roles: &'static [&'static str],
    },
}

/// One thing that keeps a cluster from being ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The node it is about, or `None` for the cluster as a whole (members disagree).
    pub node: Option<String>,
    /// What is missing, for people (`n2 does not answer (connection refused)`).
    pub what: String,
}

/// What keeps a cluster from being ready: every problem a readiness probe found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pending {
    /// The problems, in node order where they have a node.
    pub problems: Vec<Problem>,
}

impl Pending {
    /// One problem of node `node`.
    pub fn node(node: &str, what: impl Into<String>) -> Pending {
        Pending {
            problems: vec![Problem {
                node: Some(node.to_string()),
                what: what.into(),
            }],
        }
    }

    /// One problem of the cluster as a whole.
    pub fn cluster(what: impl Into<String>) -> Pending {
        Pending {
            problems: vec![Problem {
                node: None,
                what: what.into(),
            }],
        }
    }

    /// The nodes whose state explains the problems (every node when one concerns the whole
    /// cluster): the lab shows their logs when it gives up waiting.
    pub fn nodes<'a>(&self, all: &'a [String]) -> Vec<&'a String> {
        if self.problems.iter().any(|p| p.node.is_none()) {
            return all.iter().collect();
        }
        all.iter()
            .filter(|n| self.problems.iter().any(|p| p.node.as_ref() == Some(*n)))
            .collect()
    }
}

impl fmt::Display for Pending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<&str> = self.problems.iter().map(|p| p.what.as_str()).collect();
        f.write_str(&lines.join("; "))
    }
}

/// Where a system logs that a node became its primary (the moment its own failover machinery
/// says so), for the report to set beside the measured window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PromotionLog {
    /// Which of a node's containers writes the line: `None` its main container, `Some("sentinel")`
    /// the sidecar `<node>-sentinel`.
    pub sidecar: Option<&'static str>,
    /// Text every such line contains (`promoted self to leader`).
    pub marker: &'static str,
    /// Who says it, for people (`Patroni`).
    pub source: &'static str,
}

/// One line of a node's container logs, stamped by the Docker Engine on this machine's clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// The node whose container wrote it.
    pub node: String,
    /// When the Engine received it.
    pub at: std::time::SystemTime,
    /// The line, without the Engine's stamp.
    pub text: String,
}

/// A database the lab knows: what varies between databases, and nothing else. One implementation
/// per file of this module; the lab, the load loop, the faults and the scenarios work through it.
pub trait System: Send + Sync + 'static {
    /// The name a definition's `x-perseus.kind` gives (`etcd`).
    fn name(&self) -> &'static str;

    /// The load loop's driver for this system's protocol, with the definition's client settings.
    fn driver(&self, settings: &Settings) -> Arc<dyn DynDriver>;

    /// Why its lab cannot run across Docker hosts, when it cannot: this machine reaches a node
    /// on another host only at its published ports, so a client that connects wherever the
    /// servers send it cannot follow. Default: it can.
    fn across_hosts(&self) -> std::result::Result<(), &'static str> {
        Ok(())
    }

    /// Which leaders it has. Default: none.
    fn leadership(&self) -> Leadership {
        Leadership::None
    }

    /// Whether the cluster is ready to serve: `Ok(())`, or what is still missing. Each probe is
    /// bounded in time by the implementation (a few seconds at most).
    fn ready<'a>(&'a self, cluster: &'a Cluster)
        -> BoxFuture<'a, std::result::Result<(), Pending>>;

    /// The node that leads `role` now (`None`: the system's leader; `Some("pd")`: a role from
    /// [`Leadership::Leader`]), asked from the cluster; `None` when no node that answers leads.
    /// Only called for roles [`System::leadership`] names (see [`leader`]). Default: none.
    fn leader<'a>(
        &'a self,
        cluster: &'a Cluster,
        role: Option<&'a str>,
    ) -> BoxFuture<'a, Option<String>> {
        let _ = (cluster, role);
        Box::pin(async { None })
    }

    /// The SQL wire, for a system that speaks SQL: the definition's `schema` statements run
    /// through it. Default: none.
    fn sql(&self, settings: &Settings) -> Option<Wire> {
        let _ = settings;
        None
    }

    /// Make what the load loop needs, through `node`, once the cluster is ready; the lab retries
    /// it until it succeeds or the lab's ready-timeout runs out, so it must be idempotent.
    /// Default: run the definition's `schema` statements in order through [`System::sql`], each
    /// bounded by `timeout`.
    ///
    /// Errors: one line naming the statement and the server's answer.
    fn prepare<'a>(
        &'a self,
        cluster: &'a Cluster,
        node: &'a Endpoint,
        timeout: Duration,
    ) -> BoxFuture<'a, std::result::Result<(), String>> {
        Box::pin(async move {
            let schema = &cluster.settings.schema;
            if schema.is_empty() {
                return Ok(());
            }
            let Some(wire) = self.sql(&cluster.settings) else {
                return Err(format!("{} does not speak SQL", self.name()));
            };
            for stmt in schema {
                wire.query(node.addr, stmt, timeout)
                    .await
                    .map_err(|e| format!("`{stmt}`: {e}"))?;
            }
            Ok(())
        })
    }

    /// Where this system logs a promotion, if it does. Default: it does not (the report then
    /// shows the measured windows alone).
    fn promotion_log(&self) -> Option<PromotionLog> {
        None
    }

    /// The node a promotion line (one containing [`PromotionLog::marker`]) names as the new
    /// primary, given the cluster's endpoints; `None` when the line names none of them. Default:
    /// the node whose container wrote it.
    fn promoted(&self, line: &LogLine, nodes: &[Endpoint]) -> Option<String> {
        let _ = nodes;
        Some(line.node.clone())
    }

    /// Whether a definition's settings suit this system; called when the definition is parsed.
    /// Default: `schema` statements need a system that speaks SQL, and no `options` are taken.
    ///
    /// Errors: what is wrong and what to do, for the definition's error message.
    fn check(&self, settings: &Settings) -> std::result::Result<(), String> {
        if let Some(name) = settings.options.keys().next() {
            return Err(format!(
                "x-perseus.options.{name} means nothing to {}, which takes no options: leave it out",
                self.name()
            ));
        }
        if !settings.schema.is_empty() && self.sql(settings).is_none() {
            return Err(format!(
                "x-perseus.schema needs a system that speaks SQL, and {} does not: leave schema out",
                self.name()
            ));
        }
        Ok(())
    }
}

impl fmt::Debug for dyn System {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl dyn System {
    /// Whether `leader` and `follower` targets mean something on this system: the one place that
    /// decides it.
    pub fn has_leader(&self) -> bool {
        self.leadership() != Leadership::None
    }

    /// The leader targets this system takes: `leader` and one `<role>-leader` per role.
    pub fn leader_targets(&self) -> Vec<String> {
        match self.leadership() {
            Leadership::None => Vec::new(),
            Leadership::Leader { roles } => std::iter::once("leader".to_string())
                .chain(roles.iter().map(|r| format!("{r}-leader")))
                .collect(),
        }
    }
}

/// The node that leads `role` now (see [`System::leader`]), after checking that the system has
/// that leader; `lab` names the lab in errors.
///
/// `Ok(None)` when no node that answers leads (an election is in progress, or the leader is dead
/// and not yet replaced). Errors: [`Error::UnsupportedTarget`] for a system without a leader, or a
/// role it does not have, naming what to use instead.
pub async fn leader(
    system: &dyn System,
    lab: &str,
    cluster: &Cluster,
    role: Option<&str>,
) -> Result<Option<String>> {
    match (system.leadership(), role) {
        (Leadership::None, r) => Err(Error::UnsupportedTarget(format!(
            "{lab} has no {}leader: target a node by name (n1, n2, ...) or random",
            r.map(|r| format!("{r} ")).unwrap_or_default()
        ))),
        (Leadership::Leader { roles }, Some(r)) if !roles.contains(&r) => {
            Err(Error::UnsupportedTarget(format!(
                "{lab} has no {r} leader: its leader targets are {}",
                system.leader_targets().join(", ")
            )))
        }
        _ => Ok(system.leader(cluster, role).await),
    }
}

/// Run `probe` on every node at once: `Ok(())` when every node passed, else every failure as a
/// problem of its node, as a readiness probe reports what is missing.
pub async fn on_every_node<F, Fut>(nodes: &[Endpoint], probe: F) -> std::result::Result<(), Pending>
where
    F: Fn(Endpoint) -> Fut,
    Fut: std::future::Future<Output = std::result::Result<(), String>>,
{
    let answers = futures_util::future::join_all(nodes.iter().cloned().map(|n| {
        let node = n.node.clone();
        let answer = probe(n);
        async move { (node, answer.await) }
    }))
    .await;
    let problems: Vec<Problem> = answers
        .into_iter()
        .filter_map(|(node, r)| {
            r.err().map(|what| Problem {
                node: Some(node),
                what,
            })
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Pending { problems })
    }
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
        assert!(matches!(e, Error::UnsupportedTarget(_)));
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
    fn pending_names_the_nodes_whose_logs_explain_it() {
        let all: Vec<String> = ["n1", "n2", "n3"].iter().map(|s| s.to_string()).collect();
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
