//! TiDB ([`Tidb`]): a node is a PD member, a TiKV store and a TiDB server in one network namespace.
//! Readiness comes from PD and each TiDB's status port; the leader is the node whose TiKV holds
//! the Raft leader of the loop's table region; `pd-leader` is PD's own leader.
//!
//! Sources: PD HTTP API (`GET /pd/api/v1/stores`: `{"count", "stores": [{"store": {"id",
//! "address", "state_name"}}]}`; `GET /pd/api/v1/regions/check/miss-peer`: `{"count", ...}`;
//! `GET /pd/api/v1/leader`: `{"name", ...}`), TiDB's status API (`GET /status` on port 10080),
//! and TiDB's `information_schema` tables `TIKV_REGION_STATUS`, `TIKV_REGION_PEERS` and
//! `TIKV_STORE_STATUS`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use hyper::Method;
use serde::Deserialize;

use super::readiness::Pending;
use super::sql::{MySqlDriver, Wire};
use super::system::{Cluster, Leadership, Settings, System};
use crate::driver::Endpoint;
use crate::http::oneshot;
use crate::node::NodeName;

/// TiDB: its leader is the node holding the loop's region leader; `pd-leader` is PD's leader.
#[derive(Debug, Clone, Copy)]
pub struct Tidb;

impl System for Tidb {
    fn name(&self) -> &'static str {
        "tidb"
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
            causal_final_read: false,
        })
    }

    fn leadership(&self) -> Leadership {
        Leadership::Leader { roles: &["pd"] }
    }

    fn ready<'a>(&'a self, cluster: &'a Cluster) -> BoxFuture<'a, Result<(), Pending>> {
        Box::pin(ready(&cluster.nodes))
    }

    fn leader<'a>(
        &'a self,
        cluster: &'a Cluster,
        role: Option<&'a str>,
    ) -> BoxFuture<'a, Option<NodeName>> {
        Box::pin(async move {
            match role {
                Some(_) => pd_leader(&cluster.nodes).await,
                None => {
                    region_leader(&Wire::MySql(cluster.settings.sql_client()), &cluster.nodes).await
                }
            }
        })
    }

    fn sql(&self, settings: &Settings) -> Option<Wire> {
        Some(Wire::MySql(settings.sql_client()))
    }
}

/// PD's client port inside each node.
pub const PD_PORT: u16 = 2379;
/// TiDB's status port inside each node.
pub const STATUS_PORT: u16 = 10080;
/// How long a probe waits for one node.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// The address (`n2:20160`) of the TiKV store holding the leader of the loop's table region.
pub const REGION_LEADER_SQL: &str =
    "SELECT s.ADDRESS FROM information_schema.TIKV_REGION_STATUS r \
    JOIN information_schema.TIKV_REGION_PEERS p ON p.REGION_ID = r.REGION_ID AND p.IS_LEADER = 1 \
    JOIN information_schema.TIKV_STORE_STATUS s ON s.STORE_ID = p.STORE_ID \
    WHERE r.DB_NAME = 'lily' AND r.TABLE_NAME = 'counters' AND r.IS_INDEX = 0 \
    ORDER BY r.REGION_ID LIMIT 1";

#[derive(Debug, Deserialize)]
struct Stores {
    #[serde(default)]
    stores: Vec<StoreEntry>,
}

#[derive(Debug, Deserialize)]
struct StoreEntry {
    store: Store,
}

#[derive(Debug, Deserialize)]
struct Store {
    #[serde(default)]
    state_name: String,
}

#[derive(Debug, Deserialize)]
struct Count {
    #[serde(default)]
    count: u64,
}

#[derive(Debug, Deserialize)]
struct Member {
    name: String,
}

async fn get_json<T: for<'de> Deserialize<'de>>(addr: SocketAddr, path: &str) -> Result<T, String> {
    let (code, body) = oneshot(addr, Method::GET, path, None, PROBE_TIMEOUT)
        .await
        .map_err(|e| e.to_string())?;
    if !code.is_success() {
        return Err(format!("{path}: HTTP {code}"));
    }
    serde_json::from_slice(&body).map_err(|e| format!("{path}: {e}"))
}

fn pd(node: &Endpoint) -> SocketAddr {
    node.port(PD_PORT)
}

/// The node name of a `host:port` address, when it is one of `nodes`.
pub fn node_of(address: &str, nodes: &[Endpoint]) -> Option<NodeName> {
    let host = address.rsplit_once(':').map_or(address, |(h, _)| h);
    nodes
        .iter()
        .find(|n| n.node == host)
        .map(|n| n.node.clone())
}

/// What PD says is still missing before `nodes` stores serve with a full set of replicas: `Ok`
/// when every store is `Up` and no region misses a peer.
async fn pd_ready(nodes: &[Endpoint]) -> Result<(), String> {
    let mut last = String::from("no PD member answers");
    // (A problem of the cluster as a whole: the caller shows every node's logs.)
    for n in nodes {
        let stores: Stores = match get_json(pd(n), "/pd/api/v1/stores").await {
            Ok(s) => s,
            Err(e) => {
                last = format!("PD on {} does not answer ({e})", n.node);
                continue;
            }
        };
        let up = stores
            .stores
            .iter()
            .filter(|s| s.store.state_name == "Up")
            .count();
        if up < nodes.len() {
            return Err(format!("{up} of {} TiKV stores are up", nodes.len()));
        }
        let miss: Count = get_json(pd(n), "/pd/api/v1/regions/check/miss-peer").await?;
        if miss.count > 0 {
            return Err(format!("{} regions miss a peer", miss.count));
        }
        return Ok(());
    }
    Err(last)
}

/// Ready when PD reports every store up and no region missing a peer, and every node's TiDB
/// answers on its status port.
pub async fn ready(nodes: &[Endpoint]) -> Result<(), Pending> {
    pd_ready(nodes).await.map_err(Pending::cluster)?;
    super::readiness::on_every_node(nodes, |n| async move {
        let addr = n.port(STATUS_PORT);
        match oneshot(addr, Method::GET, "/status", None, PROBE_TIMEOUT).await {
            Ok((code, _)) if code.is_success() => Ok(()),
            Ok((code, _)) => Err(format!("TiDB on {} answers HTTP {code}", n.node)),
            Err(e) => Err(format!("TiDB on {} does not answer ({e})", n.node)),
        }
    })
    .await
}

/// The node whose TiKV holds the leader of the loop's table region, asked through the first
/// TiDB that answers; `None` when none answers or the store is not one of the lab's nodes.
pub async fn region_leader(wire: &Wire, nodes: &[Endpoint]) -> Option<NodeName> {
    for n in nodes {
        let Ok(rows) = wire.query(n.addr, REGION_LEADER_SQL, PROBE_TIMEOUT).await else {
            continue;
        };
        let address = rows.into_iter().next()?.into_iter().next()??;
        return node_of(&address, nodes);
    }
    None
}

/// The node whose PD member is PD's leader (PD members are named after their nodes), asked from
/// the first PD that answers.
pub async fn pd_leader(nodes: &[Endpoint]) -> Option<NodeName> {
    for n in nodes {
        if let Ok(m) = get_json::<Member>(pd(n), "/pd/api/v1/leader").await {
            return nodes
                .iter()
                .find(|e| e.node == m.name)
                .map(|e| e.node.clone());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_addresses_map_to_nodes() {
        let nodes: Vec<Endpoint> = (1..=3)
            .map(|i| {
                Endpoint::new(
                    format!("n{i}"),
                    format!("10.77.0.{}:4000", 10 + i).parse().unwrap(),
                )
            })
            .collect();
        assert_eq!(node_of("n2:20160", &nodes).as_deref(), Some("n2"));
        assert_eq!(node_of("n9:20160", &nodes), None);
        let stores: Stores = serde_json::from_str(
            r#"{"count":1,"stores":[{"store":{"id":1,"address":"n1:20160","state_name":"Up"},"status":{}}]}"#,
        )
        .unwrap();
        assert_eq!(stores.stores[0].store.state_name, "Up");
    }
}
