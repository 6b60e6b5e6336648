//! MariaDB Galera ([`Galera`]): the MySQL-wire driver, and readiness from each node's `wsrep_%`
//! status variables.
//!
//! Source: Galera Cluster status variables
//! (<https://galeracluster.com/library/documentation/galera-status-variables.html>) and MariaDB's
//! "Galera Cluster status variables": a node serves when `wsrep_ready` is `ON`, it belongs to the
//! primary component (`wsrep_cluster_status` = `Primary`) and has caught up
//! (`wsrep_local_state_comment` = `Synced`). Galera is multi-primary: every node takes writes, so
//! there is no leader.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;

use super::readiness::{Pending, Problem};
use super::sql::{MySqlDriver, Wire};
use super::system::{Cluster, Settings, System};
use crate::driver::Endpoint;

/// MariaDB Galera: multi-primary, so it has no leader.
#[derive(Debug, Clone, Copy)]
pub struct Galera;

impl System for Galera {
    fn name(&self) -> &'static str {
        "galera"
    }

    fn transactions(
        &self,
        settings: &Settings,
    ) -> Option<std::sync::Arc<dyn crate::workload::TxnDriver>> {
        Some(std::sync::Arc::new(super::sql_txn::MySqlTxnDriver {
            client: settings.sql_client(),
        }))
    }

    fn driver(&self, settings: &Settings) -> Arc<dyn crate::load::DynDriver> {
        Arc::new(MySqlDriver {
            client: settings.sql_client(),
            causal_final_read: true,
        })
    }

    fn ready<'a>(&'a self, cluster: &'a Cluster) -> BoxFuture<'a, Result<(), Pending>> {
        Box::pin(
            async move { ready(&Wire::MySql(cluster.settings.sql_client()), &cluster.nodes).await },
        )
    }

    fn sql(&self, settings: &Settings) -> Option<Wire> {
        Some(Wire::MySql(settings.sql_client()))
    }
}

/// How long a readiness probe waits for one node.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The `wsrep_%` status of one node, by variable name (lower case).
pub type WsrepStatus = BTreeMap<String, String>;

/// What keeps one node from serving in a cluster of `size` nodes: `None` when it is ready.
pub fn not_ready(status: &WsrepStatus, size: usize) -> Option<String> {
    let get = |k: &str| status.get(k).map(String::as_str).unwrap_or("?");
    let mut why = Vec::new();
    if get("wsrep_ready") != "ON" {
        why.push(format!("wsrep_ready={}", get("wsrep_ready")));
    }
    if get("wsrep_cluster_status") != "Primary" {
        why.push(format!(
            "wsrep_cluster_status={}",
            get("wsrep_cluster_status")
        ));
    }
    if get("wsrep_local_state_comment") != "Synced" {
        why.push(format!("state={}", get("wsrep_local_state_comment")));
    }
    if get("wsrep_cluster_size") != size.to_string() {
        why.push(format!(
            "wsrep_cluster_size={} of {size}",
            get("wsrep_cluster_size")
        ));
    }
    (!why.is_empty()).then(|| why.join(", "))
}

/// Read one node's `wsrep_%` status variables.
///
/// Errors: one line saying why the node did not answer.
pub async fn status(wire: &Wire, node: &Endpoint) -> Result<WsrepStatus, String> {
    let rows = wire
        .query(
            node.addr,
            "SHOW GLOBAL STATUS LIKE 'wsrep_%'",
            PROBE_TIMEOUT,
        )
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(
            |r| match (r.first().cloned().flatten(), r.get(1).cloned().flatten()) {
                (Some(k), v) => Some((k.to_lowercase(), v.unwrap_or_default())),
                _ => None,
            },
        )
        .collect())
}

/// Ready when every node is synced in one primary component of all the lab's nodes.
pub async fn ready(wire: &Wire, nodes: &[Endpoint]) -> Result<(), Pending> {
    let answers = futures_util::future::join_all(
        nodes
            .iter()
            .map(|n| async move { (n, status(wire, n).await) }),
    )
    .await;
    let problems: Vec<Problem> = answers
        .iter()
        .filter_map(|(n, r)| {
            let what = match r {
                Err(e) => format!("{} does not answer ({e})", n.node),
                Ok(s) => format!("{}: {}", n.node, not_ready(s, nodes.len())?),
            };
            Some(Problem {
                node: Some(n.node.clone()),
                what,
            })
        })
        .collect();
    if !problems.is_empty() {
        return Err(Pending { problems });
    }
    // Two bootstrapped clusters would each look healthy on their own.
    let clusters: std::collections::BTreeSet<&str> = answers
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok())
        .map(|s| {
            s.get("wsrep_cluster_state_uuid")
                .map_or("?", String::as_str)
        })
        .collect();
    if clusters.len() > 1 {
        return Err(Pending::cluster(format!(
            "the nodes belong to {} different clusters (wsrep_cluster_state_uuid)",
            clusters.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(pairs: &[(&str, &str)]) -> WsrepStatus {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_synced_primary_member_of_the_whole_cluster_is_ready() {
        let s = status(&[
            ("wsrep_ready", "ON"),
            ("wsrep_cluster_status", "Primary"),
            ("wsrep_local_state_comment", "Synced"),
            ("wsrep_cluster_size", "3"),
        ]);
        assert_eq!(not_ready(&s, 3), None);
        assert_eq!(
            not_ready(&s, 4).as_deref(),
            Some("wsrep_cluster_size=3 of 4")
        );
    }

    #[test]
    fn a_non_primary_or_joining_node_is_not_ready() {
        let s = status(&[
            ("wsrep_ready", "OFF"),
            ("wsrep_cluster_status", "non-Primary"),
            ("wsrep_local_state_comment", "Initialized"),
            ("wsrep_cluster_size", "1"),
        ]);
        let why = not_ready(&s, 3).unwrap();
        assert!(why.contains("wsrep_ready=OFF"), "{why}");
        assert!(why.contains("non-Primary"), "{why}");
        assert!(why.contains("Initialized"), "{why}");
        assert!(not_ready(&WsrepStatus::new(), 3)
            .unwrap()
            .contains("wsrep_ready=?"));
    }
}
