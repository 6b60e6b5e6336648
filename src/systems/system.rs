//! The [`System`] trait (what varies between databases, and nothing else) and what its
//! implementations see and say: a lab's [`Cluster`] and [`Settings`], its [`Leadership`], where
//! it logs a promotion.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;

use super::readiness::Pending;
use super::sql::{SqlClient, Wire};
use crate::driver::Endpoint;
use crate::error::{Error, Result};
use crate::load::DynDriver;
use crate::node::NodeName;
use crate::workload::TxnDriver;

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
    /// Where a node serves read-only transactions from its own copy (`read-port`), for
    /// `--replica-reads`; `None`: every transaction goes through the client port.
    pub read_port: Option<u16>,
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

/// How long [`System::server_version`] waits for one server.
pub const VERSION_TIMEOUT: Duration = Duration::from_secs(2);

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
    pub node: NodeName,
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

    /// The transactional workloads' client ([`crate::workload`]), for a system that has
    /// transactions Perseus can run. Default: none (the workloads refuse the system).
    fn transactions(&self, settings: &Settings) -> Option<Arc<dyn TxnDriver>> {
        let _ = settings;
        None
    }

    /// Whether every node serves the same data (a replicated system), so that transactional
    /// clients on every node contend on one key space. Default: yes; independent servers
    /// (`postgres`) say no, and each node's clients get a key space of their own.
    fn shares_data(&self) -> bool {
        true
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
    ) -> BoxFuture<'a, Option<NodeName>> {
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
        Box::pin(run_schema(
            self.name(),
            self.sql(&cluster.settings),
            cluster,
            node,
            timeout,
        ))
    }

    /// The version the server at `node` reports about itself, asked now and bounded by a few
    /// seconds (`3.4.23`; a Patroni node names both: `Patroni 3.0.2, PostgreSQL 15.10`); `None`
    /// when it does not answer or says nothing readable. Default: through the SQL wire
    /// ([`Wire::server_version`]) when the system speaks SQL, else none.
    fn server_version<'a>(
        &'a self,
        cluster: &'a Cluster,
        node: &'a Endpoint,
    ) -> BoxFuture<'a, Option<String>> {
        Box::pin(async move {
            self.sql(&cluster.settings)?
                .server_version(node.addr, VERSION_TIMEOUT)
                .await
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
    fn promoted(&self, line: &LogLine, nodes: &[Endpoint]) -> Option<NodeName> {
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
/// and not yet replaced). Errors: [`Error::Leaderless`] for a system without a leader,
/// [`Error::UnknownRole`] for a role it does not have, naming what to use instead.
pub async fn leader(
    system: &dyn System,
    lab: &str,
    cluster: &Cluster,
    role: Option<&str>,
) -> Result<Option<NodeName>> {
    match (system.leadership(), role) {
        (Leadership::None, r) => Err(Error::Leaderless {
            system: lab.to_string(),
            role: r.map(str::to_string),
        }),
        (Leadership::Leader { roles }, Some(r)) if !roles.contains(&r) => Err(Error::UnknownRole {
            system: lab.to_string(),
            role: r.to_string(),
            targets: system.leader_targets().join(", "),
        }),
        _ => Ok(system.leader(cluster, role).await),
    }
}

/// [`System::prepare`]'s default: the definition's `schema` statements in order through `wire`
/// at `node`, each bounded by `timeout`.
///
/// Errors: one line naming the statement and the server's answer; that `system` does not speak
/// SQL (`wire` is `None`) when there are statements.
pub async fn run_schema(
    system: &str,
    wire: Option<Wire>,
    cluster: &Cluster,
    node: &Endpoint,
    timeout: Duration,
) -> std::result::Result<(), String> {
    let schema = &cluster.settings.schema;
    if schema.is_empty() {
        return Ok(());
    }
    let Some(wire) = wire else {
        return Err(format!("{system} does not speak SQL"));
    };
    for stmt in schema {
        wire.query(node.addr, stmt, timeout)
            .await
            .map_err(|e| format!("`{stmt}`: {e}"))?;
    }
    Ok(())
}
