//! The lab as the rest of Perseus sees it: its nodes, their engines and endpoints, its system
//! and driver, and its leader asked now.

use std::sync::Arc;

use bollard::Docker;

use super::create::Node;
use super::definition::Definition;
use super::hosts;
use crate::driver::Endpoint;
use crate::error::{Error, Result};
use crate::load::DynDriver;
use crate::node::NodeName;
use crate::systems::{self, Cluster, System};

/// A running lab.
#[derive(Debug, Clone)]
pub struct Lab {
    /// The system.
    pub system: String,
    /// The lab network's name.
    pub network: String,
    /// The definition it was made from.
    pub definition: Definition,
    /// Nodes in order n1..nN.
    pub nodes: Vec<Node>,
    /// The Docker hosts the lab runs on, in `--hosts` order (empty: this machine's engine
    /// alone); node `n` runs on `hosts[n.host]`.
    pub hosts: Vec<hosts::Engine>,
    /// The engine the command connected to: every node's on one machine, and the one that
    /// holds the lab's network. A node's own engine is [`Lab::engine`].
    pub docker: Docker,
}

impl Lab {
    /// The engine that runs `node`: its host's, or the lab's `docker` when the lab is on one
    /// machine.
    pub fn engine(&self, node: &Node) -> &Docker {
        self.hosts
            .get(node.host)
            .map_or(&self.docker, |h| &h.docker)
    }

    /// [`Lab::engine`] of the node called `name` (the lab's `docker` for a name the lab does not
    /// have).
    pub fn engine_of(&self, name: &str) -> &Docker {
        match self.nodes.iter().find(|n| n.name == name) {
            Some(n) => self.engine(n),
            None => &self.docker,
        }
    }

    /// Client endpoints of every node, in node order.
    pub fn endpoints(&self) -> Vec<Endpoint> {
        self.nodes.iter().map(Node::endpoint).collect()
    }

    /// The node called `name`.
    ///
    /// Errors: [`Error::UnknownNode`] naming the lab's nodes.
    pub fn node(&self, name: &str) -> Result<&Node> {
        self.nodes
            .iter()
            .find(|n| n.name == name)
            .ok_or_else(|| Error::UnknownNode {
                node: name.to_string(),
                system: self.system.clone(),
                nodes: self
                    .nodes
                    .iter()
                    .map(|n| n.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// The web console of the first node, when the definition has one.
    pub fn admin_url(&self) -> Option<String> {
        let url = self.definition.perseus.admin_url.as_ref()?;
        let first = self.nodes.first()?;
        Some(url.replace("{ip}", &first.ip.to_string()))
    }

    /// The system implementation that drives this lab.
    pub fn kind(&self) -> &'static dyn System {
        self.definition.system
    }

    /// The load driver of the lab's system, with the definition's client settings.
    pub fn driver(&self) -> Arc<dyn DynDriver> {
        self.kind().driver(&self.definition.settings)
    }

    /// The transactional workloads' client of the lab's system, for transactions at `isolation`
    /// (`None`: the system's default), with `replica_reads` its read-only transactions at the
    /// definition's `read-port`; see [`crate::systems::txn_driver`] for its errors.
    pub fn txn_driver(
        &self,
        workload: crate::workload::Workload,
        isolation: Option<crate::workload::Isolation>,
        replica_reads: bool,
    ) -> Result<crate::workload::TxnClient> {
        crate::systems::txn_driver(
            self.kind(),
            &self.definition.settings,
            &self.system,
            workload,
            isolation,
            replica_reads,
        )
    }

    /// What the system's probes see: every node's endpoint and the definition's settings.
    pub fn cluster(&self) -> Cluster {
        Cluster {
            nodes: self.endpoints(),
            settings: self.definition.settings.clone(),
        }
    }

    /// The node names, n1 first.
    pub fn node_names(&self) -> Vec<NodeName> {
        self.nodes.iter().map(|n| n.name.clone()).collect()
    }

    /// The current leader, asked from the cluster now (`None`: no leader that answers); `role`
    /// names another leader role the system has (`pd` on TiDB).
    ///
    /// Errors: [`Error::Leaderless`] or [`Error::UnknownRole`] when the system has no such
    /// leader.
    pub async fn leader(&self, role: Option<&str>) -> Result<Option<NodeName>> {
        systems::leader(self.kind(), &self.system, &self.cluster(), role).await
    }
}
