//! PostgreSQL with Patroni ([`Patroni`]): one leader, replicas by streaming replication
//! (asynchronous unless `synchronous_mode`), etcd as the DCS, and an HAProxy on every node that
//! routes clients to the leader (compose/patroni.yaml, etc/patroni/).
//!
//! The client of node *i* speaks the PostgreSQL wire ([`PgDriver`], tokio-postgres) to node *i*'s
//! HAProxy, which forwards it to whichever node answers 200 on Patroni's `GET /primary`; a node
//! marked down has its sessions closed, so the loop reconnects and is routed again.
//!
//! Patroni's REST API (port [`REST_PORT`] on every node; reference:
//! <https://patroni.readthedocs.io/en/latest/rest_api.html>): `GET /cluster` lists the members as
//! this node reads them from the DCS (`members[]`: `name`, `role` `leader` | `replica` |
//! `sync_standby`, `state` `running` | `streaming` | ..., `lag` in bytes or `"unknown"`).
//! Ready when every node's Patroni answers, all name the same leader and list every member
//! running, with a synchronous standby when the DCS's configuration asks for one (`GET /config`),
//! and every HAProxy routes to a primary (`SELECT pg_is_in_recovery()` is false through it). The
//! leader is the one more than half of the nodes' Patronis name: a node cut off from the DCS may
//! still name itself.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use hyper::{Method, StatusCode};
use serde::Deserialize;

use super::readiness::{Pending, Problem};
use super::sql::{PgDriver, Wire};
use super::system::{Cluster, Leadership, PromotionLog, Settings, System};
use crate::driver::Endpoint;
use crate::http::oneshot;
use crate::node::NodeName;

/// Patroni's REST API port on every node.
pub const REST_PORT: u16 = 8008;
/// How long a readiness or leader probe waits for one node.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// PostgreSQL with Patroni: its leader is the Patroni leader.
#[derive(Debug, Clone, Copy)]
pub struct Patroni;

impl System for Patroni {
    fn name(&self) -> &'static str {
        "patroni"
    }

    fn transactions(
        &self,
        settings: &Settings,
    ) -> Option<std::sync::Arc<dyn crate::workload::TxnDriver>> {
        Some(std::sync::Arc::new(super::sql_txn::PgTxnDriver {
            client: settings.sql_client(),
        }))
    }

    fn driver(&self, settings: &Settings) -> Arc<dyn crate::load::DynDriver> {
        Arc::new(PgDriver {
            client: settings.sql_client(),
        })
    }

    fn leadership(&self) -> Leadership {
        Leadership::Leader { roles: &[] }
    }

    fn ready<'a>(&'a self, cluster: &'a Cluster) -> BoxFuture<'a, Result<(), Pending>> {
        Box::pin(ready(cluster))
    }

    fn leader<'a>(
        &'a self,
        cluster: &'a Cluster,
        _: Option<&'a str>,
    ) -> BoxFuture<'a, Option<NodeName>> {
        Box::pin(leader(&cluster.nodes))
    }

    fn sql(&self, settings: &Settings) -> Option<Wire> {
        Some(Wire::Postgres(settings.sql_client()))
    }

    /// Patroni's `GET /patroni`: its own `patroni.version` and its PostgreSQL's
    /// `server_version` (`150010`: 15.10), so the node reads `Patroni 3.0.2, PostgreSQL 15.10`.
    fn server_version<'a>(
        &'a self,
        _: &'a Cluster,
        node: &'a Endpoint,
    ) -> BoxFuture<'a, Option<String>> {
        Box::pin(async move { patroni_version(&get(node, "/patroni").await.ok()?) })
    }

    /// The schema through `node`'s HAProxy (on the leader), then, when the definition has a
    /// `read-port`, a wait until every node's own PostgreSQL has replayed it: replication is
    /// asynchronous, and `--replica-reads` clients read there from the first second.
    fn prepare<'a>(
        &'a self,
        cluster: &'a Cluster,
        node: &'a Endpoint,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            // One budget for both: the lab retries `prepare` within its own deadline.
            let deadline = tokio::time::Instant::now() + timeout;
            let wire = self.sql(&cluster.settings);
            super::system::run_schema(self.name(), wire.clone(), cluster, node, timeout).await?;
            match (cluster.settings.read_port, wire) {
                (Some(port), Some(wire)) if !cluster.settings.schema.is_empty() => {
                    replayed(&wire, cluster, node, port, deadline).await
                }
                _ => Ok(()),
            }
        })
    }

    /// Patroni logs `promoted self to leader by acquiring session lock` on the node that took the
    /// leader key and promoted its PostgreSQL (patroni/ha.py).
    fn promotion_log(&self) -> Option<PromotionLog> {
        Some(PromotionLog {
            sidecar: None,
            marker: "promoted self to leader",
            source: "Patroni",
        })
    }
}

/// Wait, until `deadline`, for every node's PostgreSQL at `port` to replay the WAL the leader
/// (reached through `via`) had written: `pg_last_wal_replay_lsn()` at or past the leader's
/// `pg_current_wal_lsn()` (PostgreSQL docs, "System Administration Functions"); the leader
/// itself (not in recovery) has nothing to replay.
///
/// Errors: the first node that had not caught up, with its last answer.
async fn replayed(
    wire: &Wire,
    cluster: &Cluster,
    via: &Endpoint,
    port: u16,
    deadline: tokio::time::Instant,
) -> Result<(), String> {
    let left = || deadline.saturating_duration_since(tokio::time::Instant::now());
    let rows = wire
        .query(
            via.addr,
            "SELECT pg_current_wal_lsn()::text",
            left().min(PROBE_TIMEOUT),
        )
        .await
        .map_err(|e| format!("the leader's WAL position: {e}"))?;
    let lsn = rows
        .first()
        .and_then(|r| r.first().cloned().flatten())
        .unwrap_or_default();
    // An LSN is two hex numbers around one slash: nothing to escape in the query below.
    let is_lsn = lsn.split_once('/').is_some_and(|(a, b)| {
        [a, b]
            .iter()
            .all(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit()))
    });
    if !is_lsn {
        return Err(format!("the leader's WAL position '{lsn}' is not an LSN"));
    }
    let caught_up = format!(
        "SELECT NOT pg_is_in_recovery() OR coalesce(pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn, false)"
    );
    for ep in &cluster.nodes {
        let addr = ep.port(port);
        loop {
            let answer = match wire
                .query(addr, &caught_up, left().min(PROBE_TIMEOUT))
                .await
            {
                Ok(rows)
                    if rows
                        .first()
                        .and_then(|r| r.first().cloned().flatten())
                        .as_deref()
                        == Some("t") =>
                {
                    break
                }
                Ok(_) => "still behind".to_string(),
                Err(e) => e,
            };
            if left() < Duration::from_millis(200) {
                return Err(format!(
                    "{}'s PostgreSQL ({addr}) had not replayed the schema (WAL to {lsn}) in time: {answer}",
                    ep.node
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

/// A node's versions from Patroni's `GET /patroni` answer: `Patroni 3.0.2, PostgreSQL 15.10`,
/// or Patroni's alone while its PostgreSQL is down (no `server_version`).
pub fn patroni_version(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let patroni = v.get("patroni")?.get("version")?.as_str()?;
    Some(
        match v.get("server_version").and_then(serde_json::Value::as_u64) {
            // PostgreSQL 10 and later: major * 10000 + minor.
            Some(n) if n >= 100_000 => format!(
                "Patroni {patroni}, PostgreSQL {}.{}",
                n / 10_000,
                n % 10_000
            ),
            Some(n) => format!(
                "Patroni {patroni}, PostgreSQL {}.{}.{}",
                n / 10_000,
                n / 100 % 100,
                n % 100
            ),
            None => format!("Patroni {patroni}"),
        },
    )
}

/// One member as `GET /cluster` lists it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Member {
    /// Patroni's name for the node (the lab's node name).
    pub name: String,
    /// `leader` (`master` before Patroni 3), `replica`, `sync_standby`, `standby_leader`.
    pub role: String,
    /// `running`, `streaming`, `starting`, `stopped`, `start failed`, ...
    #[serde(default)]
    pub state: String,
    /// Replication lag in bytes, or `"unknown"`; absent on the leader.
    #[serde(default)]
    pub lag: Option<serde_json::Value>,
}

impl Member {
    /// Whether this member holds the leader key.
    pub fn is_leader(&self) -> bool {
        self.role == "leader" || self.role == "master"
    }

    /// Whether PostgreSQL runs on it and, for a replica, its lag is known.
    fn healthy(&self) -> bool {
        let running = self.state == "running" || self.state == "streaming";
        running && (self.is_leader() || matches!(self.lag, Some(serde_json::Value::Number(_))))
    }
}

/// The body of `GET /cluster`.
#[derive(Debug, Clone, Deserialize)]
pub struct ClusterView {
    /// The members the node reads from the DCS.
    #[serde(default)]
    pub members: Vec<Member>,
}

impl ClusterView {
    /// The member that holds the leader key, if one does.
    pub fn leader(&self) -> Option<&Member> {
        self.members.iter().find(|m| m.is_leader())
    }
}

/// Decode a `GET /cluster` body.
///
/// Errors: the JSON error, in one line.
pub fn parse_cluster(body: &[u8]) -> Result<ClusterView, String> {
    serde_json::from_slice(body).map_err(|e| format!("bad /cluster answer: {e}"))
}

fn rest(node: &Endpoint) -> SocketAddr {
    node.port(REST_PORT)
}

/// `GET path` on a node's Patroni, as JSON bytes.
async fn get(node: &Endpoint, path: &str) -> Result<bytes::Bytes, String> {
    match oneshot(rest(node), Method::GET, path, None, PROBE_TIMEOUT).await {
        Ok((StatusCode::OK, body)) => Ok(body),
        Ok((status, body)) => Err(format!(
            "Patroni answered {path} with {status}: {}",
            String::from_utf8_lossy(&body).trim()
        )),
        Err(e) => Err(format!("Patroni does not answer: {e}")),
    }
}

/// What one node's Patroni says of the cluster.
async fn view(node: &Endpoint) -> Result<ClusterView, String> {
    parse_cluster(&get(node, "/cluster").await?)
}

/// Whether the DCS's configuration has `synchronous_mode` on (`GET /config`).
async fn synchronous_mode(node: &Endpoint) -> Result<bool, String> {
    let body = get(node, "/config").await?;
    let config: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| format!("bad /config answer: {e}"))?;
    Ok(config
        .get("synchronous_mode")
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false))
}

/// What is missing from one node's view of an `n`-node cluster, if anything.
fn view_problem(view: &ClusterView, n: usize, synchronous: bool) -> Option<String> {
    let Some(leader) = view.leader() else {
        return Some("its Patroni knows no leader".into());
    };
    if view.members.len() < n {
        return Some(format!(
            "its Patroni lists {} of {n} members",
            view.members.len()
        ));
    }
    let sick: Vec<String> = view
        .members
        .iter()
        .filter(|m| !m.healthy())
        .map(|m| format!("{} {} ({})", m.role, m.name, m.state))
        .collect();
    if !sick.is_empty() {
        return Some(format!("not yet running: {}", sick.join(", ")));
    }
    if synchronous && n > 1 && !view.members.iter().any(|m| m.role == "sync_standby") {
        return Some(format!(
            "synchronous_mode is on and the leader {} has no synchronous standby yet",
            leader.name
        ));
    }
    None
}

async fn ready(cluster: &Cluster) -> Result<(), Pending> {
    let nodes = &cluster.nodes;
    let synchronous = match nodes.first() {
        Some(n) => synchronous_mode(n)
            .await
            .map_err(|e| Pending::node(&n.node, e))?,
        None => false,
    };
    let views =
        futures_util::future::join_all(nodes.iter().map(|n| async move { (n, view(n).await) }))
            .await;
    let mut problems = Vec::new();
    let mut leaders = std::collections::BTreeSet::new();
    for (node, v) in &views {
        let what = match v {
            Err(e) => e.clone(),
            Ok(v) => match view_problem(v, nodes.len(), synchronous) {
                Some(p) => p,
                None => {
                    leaders.extend(v.leader().map(|m| m.name.clone()));
                    continue;
                }
            },
        };
        problems.push(Problem {
            node: Some(node.node.clone()),
            what,
        });
    }
    if !problems.is_empty() {
        return Err(Pending { problems });
    }
    if leaders.len() > 1 {
        return Err(Pending::cluster(format!(
            "the Patronis name different leaders ({})",
            leaders.into_iter().collect::<Vec<_>>().join(", ")
        )));
    }
    // Every HAProxy routes to a primary (its check marks the leader up after two passes).
    let wire = Wire::Postgres(cluster.settings.sql_client());
    super::readiness::on_every_node(nodes, |n| {
        let wire = wire.clone();
        async move {
            let rows = wire
                .query(n.addr, "SELECT pg_is_in_recovery()", PROBE_TIMEOUT)
                .await
                .map_err(|e| format!("its HAProxy does not reach the leader yet ({e})"))?;
            match rows.first().and_then(|r| r.first()).cloned().flatten() {
                Some(v) if v == "f" || v == "false" => Ok(()),
                other => Err(format!(
                    "its HAProxy routes to a server in recovery ({other:?})"
                )),
            }
        }
    })
    .await
}

/// The leader more than half of the nodes' Patronis name.
pub async fn leader(nodes: &[Endpoint]) -> Option<NodeName> {
    let views = futures_util::future::join_all(nodes.iter().map(view)).await;
    let mut votes: BTreeMap<String, usize> = BTreeMap::new();
    for v in views.into_iter().flatten() {
        if let Some(m) = v.leader() {
            *votes.entry(m.name.clone()).or_default() += 1;
        }
    }
    let (name, n) = votes.into_iter().max_by_key(|(_, n)| *n)?;
    (n * 2 > nodes.len() && nodes.iter().any(|e| e.node == name)).then_some(name.into())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_nodes_version_names_patroni_and_its_postgresql() {
        let body = br#"{"state":"running","role":"replica","server_version":150010,"patroni":{"version":"3.0.2","scope":"perseus"}}"#;
        assert_eq!(
            super::patroni_version(body).as_deref(),
            Some("Patroni 3.0.2, PostgreSQL 15.10")
        );
        let down = br#"{"state":"stopped","patroni":{"version":"4.1.5","scope":"perseus"}}"#;
        assert_eq!(
            super::patroni_version(down).as_deref(),
            Some("Patroni 4.1.5")
        );
    }

    use super::*;

    const CLUSTER: &str = r#"{"members": [
        {"name": "n1", "role": "leader", "state": "running", "api_url": "http://n1:8008/patroni", "host": "n1", "port": 5432, "timeline": 1},
        {"name": "n2", "role": "sync_standby", "state": "streaming", "host": "n2", "port": 5432, "timeline": 1, "lag": 0},
        {"name": "n3", "role": "replica", "state": "running", "host": "n3", "port": 5432, "timeline": 1, "lag": "unknown"}
    ], "scope": "perseus"}"#;

    #[test]
    fn the_cluster_view_names_its_leader_and_what_is_not_yet_running() {
        let v = parse_cluster(CLUSTER.as_bytes()).unwrap();
        assert_eq!(v.leader().unwrap().name, "n1");
        assert_eq!(
            view_problem(&v, 3, true).as_deref(),
            Some("not yet running: replica n3 (running)"),
            "a replica whose lag is unknown is not streaming yet"
        );
        assert_eq!(
            view_problem(&v, 4, false).as_deref(),
            Some("its Patroni lists 3 of 4 members")
        );
        let mut v = v;
        v.members[2].lag = Some(serde_json::json!(0));
        assert_eq!(view_problem(&v, 3, true), None);
        v.members[1].role = "replica".into();
        assert!(view_problem(&v, 3, true)
            .unwrap()
            .contains("no synchronous standby"));
        assert_eq!(view_problem(&v, 3, false), None);
        v.members[0].role = "replica".into();
        v.members[0].lag = Some(serde_json::json!(0));
        assert_eq!(
            view_problem(&v, 3, false).as_deref(),
            Some("its Patroni knows no leader")
        );
        assert!(parse_cluster(b"<html>").is_err());
    }
}
