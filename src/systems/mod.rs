//! The systems the lab knows: how to tell a node is ready, who the leader is, and which load driver
//! speaks to it.
//!
//! A definition's `x-perseus` names these by string (`readiness: etcd-status`, `leader: etcd-status`,
//! `driver: etcd`); [`Probe`] and [`DriverKind`] are the parsed forms and the only place that maps a
//! name to code.

pub mod etcd;
pub mod gryadka;
pub mod httpkv;

use std::net::SocketAddr;

use crate::error::{Error, Result};

/// A node as a client sees it: its name and the address the load loop connects to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `n1`..`nN`.
    pub node: String,
    /// Client address (container IP on the lab network, client port).
    pub addr: SocketAddr,
}

/// How readiness and the leader are found for a system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// etcd's `/v3/maintenance/status` on every member.
    EtcdStatus,
    /// Every node's HTTP-KV API answers a read ([`httpkv::ready`]); no leader.
    HttpKv,
    /// No leader (leaderless systems); readiness is then not answered by this probe.
    None,
}

impl Probe {
    /// Parse an `x-perseus` probe name.
    ///
    /// Errors: [`Error::BadInput`] naming the known probes.
    pub fn parse(name: &str) -> Result<Probe> {
        match name {
            "etcd-status" => Ok(Probe::EtcdStatus),
            "http-kv" => Ok(Probe::HttpKv),
            "none" => Ok(Probe::None),
            other => Err(Error::BadInput(format!(
                "unknown probe '{other}' in x-perseus: use etcd-status, http-kv or none"
            ))),
        }
    }

    /// Whether the cluster is ready to serve: `Ok(())`, or `Err` with what is still missing
    /// (one human-readable line).
    pub async fn ready(&self, nodes: &[Endpoint]) -> std::result::Result<(), String> {
        match self {
            Probe::EtcdStatus => etcd::ready(nodes).await,
            Probe::HttpKv => httpkv::ready(nodes).await,
            Probe::None => Ok(()),
        }
    }

    /// The current leader's node name, asked from the cluster now.
    ///
    /// `Ok(None)` when the cluster has no leader that answers (an election is in progress, or the
    /// leader is dead and not yet replaced). Errors: [`Error::UnsupportedTarget`] for a leaderless
    /// system.
    pub async fn leader(&self, system: &str, nodes: &[Endpoint]) -> Result<Option<String>> {
        match self {
            Probe::EtcdStatus => Ok(etcd::leader(nodes).await.leader),
            Probe::HttpKv | Probe::None => Err(Error::UnsupportedTarget(format!(
                "{system} has no leader: target a node by name (n1, n2, ...) or random"
            ))),
        }
    }
}

/// Which load driver speaks to a system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriverKind {
    /// etcd v3 through its JSON gateway ([`etcd::EtcdDriver`]).
    Etcd,
    /// The etcd-like HTTP key-value API ([`httpkv::HttpKvDriver`]): Gryadka's proposers.
    HttpKv,
}

impl DriverKind {
    /// Parse an `x-perseus` driver name.
    ///
    /// Errors: [`Error::BadInput`] naming the known drivers.
    pub fn parse(name: &str) -> Result<DriverKind> {
        match name {
            "etcd" => Ok(DriverKind::Etcd),
            "http-kv" => Ok(DriverKind::HttpKv),
            other => Err(Error::BadInput(format!(
                "unknown driver '{other}' in x-perseus: use etcd or http-kv"
            ))),
        }
    }
}
