//! The `postgres` control system ([`Postgres`]): independent PostgreSQL servers
//! (compose/postgres.yaml), no replication, no leader. Each node's column depends on that node
//! alone. It runs the PostgreSQL-wire driver that CockroachDB shares ([`super::sql::PgDriver`])
//! through the real loop here, and any PostgreSQL-wire server without a leader of its own can use
//! it (`kind: postgres`).

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;

use super::readiness::Pending;
use super::sql::{PgDriver, Wire};
use super::system::{Cluster, Settings, System};

/// How long the readiness probe waits for one node.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Independent PostgreSQL-wire servers: ready when every one answers `SELECT 1`.
#[derive(Debug, Clone, Copy)]
pub struct Postgres;

impl System for Postgres {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn transactions(
        &self,
        settings: &Settings,
    ) -> Option<std::sync::Arc<dyn crate::workload::TxnDriver>> {
        Some(std::sync::Arc::new(super::sql_txn::PgTxnDriver {
            client: settings.sql_client(),
        }))
    }

    fn shares_data(&self) -> bool {
        false
    }

    fn driver(&self, settings: &Settings) -> Arc<dyn crate::load::DynDriver> {
        Arc::new(PgDriver {
            client: settings.sql_client(),
        })
    }

    fn ready<'a>(&'a self, cluster: &'a Cluster) -> BoxFuture<'a, Result<(), Pending>> {
        Box::pin(async move {
            Wire::Postgres(cluster.settings.sql_client())
                .ready(&cluster.nodes, PROBE_TIMEOUT)
                .await
        })
    }

    fn sql(&self, settings: &Settings) -> Option<Wire> {
        Some(Wire::Postgres(settings.sql_client()))
    }
}
