//! CockroachDB ([`Cockroach`]): the PostgreSQL-wire driver, readiness from each node's HTTP health
//! endpoint, and the leaseholder of the loop's table as the leader.
//!
//! Sources: CockroachDB docs, "Monitoring and alerting" (`GET /health?ready=1` on the HTTP port
//! answers 200 once the node is initialised, live and not draining, 503 otherwise), "SHOW RANGE ...
//! FOR ROW" (columns `range_id, lease_holder, ...`) and the `node_id` session variable. The
//! leaseholder serves every read and coordinates every write of its range, so it is the node whose
//! loss costs the loop's table the most: the "leader" of the seeds' experiments.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use hyper::Method;

use super::readiness::Pending;
use super::sql::{PgDriver, Wire};
use super::system::{Cluster, Leadership, Settings, System};
use crate::driver::Endpoint;
use crate::http::oneshot;
use crate::node::NodeName;

/// CockroachDB: its leader is the leaseholder of the loop's table range.
#[derive(Debug, Clone, Copy)]
pub struct Cockroach;

impl System for Cockroach {
    fn name(&self) -> &'static str {
        "cockroach"
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
        Box::pin(ready(&cluster.nodes))
    }

    fn leader<'a>(
        &'a self,
        cluster: &'a Cluster,
        _: Option<&'a str>,
    ) -> BoxFuture<'a, Option<NodeName>> {
        Box::pin(async move {
            leaseholder(
                &Wire::Postgres(cluster.settings.sql_client()),
                &cluster.nodes,
            )
            .await
        })
    }

    fn sql(&self, settings: &Settings) -> Option<Wire> {
        Some(Wire::Postgres(settings.sql_client()))
    }
}

/// The HTTP (admin UI and health) port inside each node.
pub const HTTP_PORT: u16 = 8080;
/// How long a probe waits for one node.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// The node id of the leaseholder of the range holding the loop's keys. `statement_timeout`
/// keeps a range without quorum from hanging it. (No `crdb_internal` here: newer releases gate it
/// behind `allow_unsafe_internals`.)
pub const LEASEHOLDER_SQL: &str = "SET statement_timeout = '2s'; \
    SELECT lease_holder FROM [SHOW RANGE FROM TABLE lily.counters FOR ROW ('')]";
/// A node's own node id (a session variable).
pub const NODE_ID_SQL: &str = "SHOW node_id";

fn http_addr(node: &Endpoint) -> SocketAddr {
    node.port(HTTP_PORT)
}

/// `GET path` on the node's HTTP port: `Ok` on 200, else the status and body in one line.
async fn health(node: &Endpoint, path: &str) -> Result<(), String> {
    let (code, body) = oneshot(http_addr(node), Method::GET, path, None, PROBE_TIMEOUT)
        .await
        .map_err(|e| e.to_string())?;
    if code.is_success() {
        Ok(())
    } else {
        Err(format!(
            "HTTP {code} {}",
            String::from_utf8_lossy(&body)
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        ))
    }
}

/// Ready when every node answers `/health?ready=1` with 200.
pub async fn ready(nodes: &[Endpoint]) -> Result<(), Pending> {
    super::readiness::on_every_node(nodes, |n| async move {
        health(&n, "/health?ready=1")
            .await
            .map_err(|e| format!("{} is not ready ({e})", n.node))
    })
    .await
}

/// The node holding the lease of the loop's table: its node id asked from the first node that
/// answers, matched to the node that reports that id as its own.
///
/// `None` when no node answers, or when the leaseholder does not answer itself (a killed
/// leaseholder keeps its lease until it expires, a few seconds).
pub async fn leaseholder(wire: &Wire, nodes: &[Endpoint]) -> Option<NodeName> {
    let mut holder = None;
    for n in nodes {
        if let Ok(rows) = wire.query(n.addr, LEASEHOLDER_SQL, PROBE_TIMEOUT).await {
            holder = rows.into_iter().next()?.into_iter().next()?;
            break;
        }
    }
    let holder = holder?;
    let ids = futures_util::future::join_all(nodes.iter().map(|n| async move {
        let id = wire
            .query(n.addr, NODE_ID_SQL, PROBE_TIMEOUT)
            .await
            .ok()
            .and_then(|rows| rows.into_iter().next())
            .and_then(|row| row.into_iter().next().flatten());
        (n.node.clone(), id)
    }))
    .await;
    ids.into_iter()
        .find(|(_, id)| id.as_deref() == Some(holder.as_str()))
        .map(|(node, _)| node)
}
