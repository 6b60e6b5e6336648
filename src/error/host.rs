//! What `perseus lab up --hosts` refuses: [`HostError`] (re-exported as
//! `perseus::lab::hosts::HostError`).

use std::path::PathBuf;

pub(crate) const FORMS: &str =
    "write ssh://user@host, tcp://host:2376 (TLS, with DOCKER_TLS_VERIFY set) or unix:///var/run/docker.sock";

/// What `perseus lab up --hosts` refuses: every variant is the user's hosts, keys or Swarm, so
/// each maps to exit code 2 ([`super::Error::exit_code`]).
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// A host that is not a Docker endpoint.
    #[error("host '{host}' {why}: {FORMS}")]
    NotAnEndpoint {
        /// As written.
        host: String,
        /// What is wrong with it.
        why: String,
    },
    /// A host listed twice.
    #[error("host '{host}' is listed twice in {field}: list each Docker host once")]
    ListedTwice {
        /// The host.
        host: String,
        /// Where (`--hosts`, `hosts:`).
        field: String,
    },
    /// Fewer than two hosts.
    #[error("{field} '{list}' names {count} host(s): name two or more, or leave {field} out to run every node on this machine")]
    TooFew {
        /// Where (`--hosts`, `hosts:`).
        field: String,
        /// The hosts, comma-separated.
        list: String,
        /// How many.
        count: usize,
    },
    /// `--place` names a node the lab does not have.
    #[error("--place names node '{node}': the lab's nodes are n1 to n{nodes}")]
    PlaceUnknownNode {
        /// As written.
        node: String,
        /// The lab's node count.
        nodes: usize,
    },
    /// `--place` names a host past the list.
    #[error("--place puts {node} on host {}: there are {hosts} hosts, numbered 1 to {hosts} in --hosts order", host + 1)]
    PlaceUnknownHost {
        /// The node.
        node: String,
        /// The host, 0-based.
        host: usize,
        /// How many hosts there are.
        hosts: usize,
    },
    /// A `--place` entry that is not `NODE=HOST`.
    #[error("--place entry '{entry}' is not NODE=HOST: write n1=2 to run n1 on the second host of --hosts")]
    PlaceEntry {
        /// As written.
        entry: String,
    },
    /// TLS is asked for and nothing says where its files are.
    #[error("host {host}: DOCKER_TLS_VERIFY is set but neither DOCKER_CERT_PATH nor a home folder names where ca.pem, cert.pem and key.pem are: set DOCKER_CERT_PATH")]
    NoCertDir {
        /// The host.
        host: String,
    },
    /// TLS is asked for and a client file is missing.
    #[error("host {host}: DOCKER_TLS_VERIFY is set but {} is missing: set DOCKER_CERT_PATH to the folder holding the client's ca.pem, cert.pem and key.pem (as for docker --tlsverify)", file.display())]
    CertMissing {
        /// The host.
        host: String,
        /// The file looked for.
        file: PathBuf,
    },
    /// The host's engine does not answer.
    #[error("cannot reach the Docker Engine of host {host} ({detail}): check the endpoint, and that `docker -H {host} info` works here")]
    Unreachable {
        /// The host.
        host: String,
        /// What the client said, its causes included, on one line.
        detail: String,
        /// The client's error (none for a ping that timed out).
        #[source]
        source: Option<bollard::errors::Error>,
    },
    /// A host outside any Swarm.
    #[error("host {host} is not in a Swarm (its Swarm state is '{state}'): {SWARM_FIX}")]
    NotInSwarm {
        /// The host.
        host: String,
        /// Its Swarm state (`inactive`, `none`).
        state: String,
    },
    /// No host is a Swarm manager.
    #[error("none of the hosts is a Swarm manager: put a manager in --hosts (`docker node ls` on a manager lists them), the overlay network is made there")]
    NoManager,
    /// Two managers of different Swarms.
    #[error("hosts {first} and {host} are managers of two different Swarms: every host must be in one; `docker swarm leave` on the hosts of one, then join them to the other with the command `docker swarm join-token worker` prints")]
    TwoSwarms {
        /// The first manager.
        first: String,
        /// The other.
        host: String,
    },
    /// A host in another Swarm than the first manager's.
    #[error("host {host} is in another Swarm than {first} (its node {node_id} is not among that Swarm's nodes): `docker swarm leave` there, then join it with the command `docker swarm join-token worker` prints on {first}")]
    OtherSwarm {
        /// The host.
        host: String,
        /// The first manager.
        first: String,
        /// The host's Swarm node id.
        node_id: String,
    },
    /// The record of a lab's hosts does not parse.
    #[error("{} is not a record of a lab's hosts ({source}): remove it", path.display())]
    BadRecord {
        /// The file.
        path: PathBuf,
        /// Why.
        source: serde_yaml::Error,
    },
    /// `lab down` of a lab across hosts, one of which does not answer.
    #[error("{source}; or, if that host is gone for good, remove {} and clean the other hosts by hand (`docker -H HOST rm -f $(docker -H HOST ps -aq --filter label=perseus.lab={system})`)", record.display())]
    DownBlocked {
        /// Why the host cannot be used.
        source: Box<HostError>,
        /// The record of the lab's hosts.
        record: PathBuf,
        /// The lab's system.
        system: String,
    },
    /// A host's name does not resolve here.
    #[error("host {host}: its name '{name}' does not resolve on this machine, so its nodes' client ports cannot be reached: use an address, or a name this machine resolves")]
    Unresolved {
        /// The host.
        host: String,
        /// Its name.
        name: String,
    },
}

/// How to make the Swarm the hosts must share.
const SWARM_FIX: &str = "run `docker swarm init` on one host and the `docker swarm join ...` it prints on each other; perseus does not make the Swarm itself";
