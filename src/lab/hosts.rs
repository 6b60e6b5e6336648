//! The Docker hosts of a lab spread over several machines (`perseus lab up etcd --hosts A,B,C`):
//! the endpoints users write, the engines they name, the check that those engines are members of
//! one Swarm (whose attachable overlay network joins the nodes), and where each node goes.
//!
//! A host is a Docker endpoint as the Docker CLI takes it in `DOCKER_HOST` or `docker -H`:
//! `ssh://[user@]host[:port]`, `tcp://host[:port]` (port 2376 when `DOCKER_TLS_VERIFY` is set,
//! 2375 without) or `unix:///path/to/docker.sock`, reached through bollard's transports as the
//! CLI reaches them:
//! - `ssh://`: the local `ssh` client (its config, keys and agent; the host key must be known or
//!   is added as new) runs `docker system dial-stdio` on the host, which needs the Docker CLI
//!   there;
//! - `tcp://` with `DOCKER_TLS_VERIFY` set: mutual TLS with `ca.pem`, `cert.pem` and `key.pem`
//!   from `DOCKER_CERT_PATH` (or `~/.docker`), for every `tcp://` host of the list;
//! - `tcp://` without it: the engine's API unencrypted, for a private network only.
//!
//! Perseus never makes or
//! changes the Swarm: when the hosts are not one Swarm it says which host is outside and the
//! `docker swarm` command that puts it in.

use std::collections::BTreeSet;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use bollard::models::LocalNodeState;
use bollard::Docker;

use crate::docker::API_TIMEOUT_SECS;
pub use crate::error::HostError;
use crate::error::{Error, Result};

/// One Docker host, as the user wrote it (validated; see the module docs for the forms).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostSpec {
    /// The endpoint, normalised: a `tcp://` endpoint without a port gets the CLI's default.
    pub url: String,
    /// The machine's name or address as written (`10.0.0.2`, `db-3.example`), or `local` for a
    /// `unix://` socket: where published ports of the host's nodes are reached.
    pub address: String,
}

impl fmt::Display for HostSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url)
    }
}

impl FromStr for HostSpec {
    type Err = Error;

    /// Errors: [`HostError::NotAnEndpoint`] naming the endpoint and the accepted forms.
    fn from_str(s: &str) -> Result<HostSpec> {
        let bad = |why: &str| {
            Error::from(HostError::NotAnEndpoint {
                host: s.to_string(),
                why: why.to_string(),
            })
        };
        let s = s.trim();
        let (scheme, rest) = s
            .split_once("://")
            .ok_or_else(|| bad("is not a Docker endpoint"))?;
        match scheme {
            "unix" => {
                if !rest.starts_with('/') {
                    return Err(bad("needs an absolute socket path"));
                }
                Ok(HostSpec {
                    url: s.to_string(),
                    address: "local".into(),
                })
            }
            "tcp" | "ssh" => {
                let authority = rest.strip_suffix('/').unwrap_or(rest);
                if authority.is_empty() || authority.contains('/') {
                    return Err(bad("needs a host name and nothing after it"));
                }
                let hostport = match authority.rsplit_once('@') {
                    Some((u, h)) if scheme == "ssh" && !u.is_empty() => h,
                    Some(_) => return Err(bad("has a user where none can be")),
                    None => authority,
                };
                let (host, port) = split_port(hostport).ok_or_else(|| bad("has a bad port"))?;
                if host.is_empty() {
                    return Err(bad("needs a host name"));
                }
                let url = match (scheme, port) {
                    ("tcp", None) => {
                        let default = if std::env::var_os("DOCKER_TLS_VERIFY").is_some() {
                            2376
                        } else {
                            2375
                        };
                        format!("tcp://{hostport}:{default}")
                    }
                    _ => format!("{scheme}://{authority}"),
                };
                Ok(HostSpec {
                    url,
                    address: host.trim_matches(['[', ']']).to_string(),
                })
            }
            other => Err(bad(&format!("has the scheme '{other}'"))),
        }
    }
}

/// In a scenario file (`hosts: [tcp://10.0.0.1:2375, ...]`): a string, checked as on the
/// command line.
impl<'de> serde::Deserialize<'de> for HostSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<HostSpec, D::Error> {
        let text = String::deserialize(d)?;
        text.parse()
            .map_err(|e: Error| serde::de::Error::custom(e.to_string()))
    }
}

/// A regular expression for the forms [`HostSpec`] takes (`ssh://`, `tcp://`, `unix:///`); the
/// rest (a port that is a port, a user where one can be) is for the parser.
pub const HOST_PATTERN: &str = "^\\s*(unix:///|tcp://[^/]|ssh://[^/])";

impl schemars::JsonSchema for HostSpec {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Host".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": HOST_PATTERN,
            "description": "A Docker endpoint: ssh://[user@]host[:port], tcp://host[:port] or unix:///path/to/docker.sock (docs/hosts.md).",
            "examples": ["ssh://ops@db1", "tcp://10.0.0.2:2375"]
        })
    }
}

impl serde::Serialize for HostSpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.url)
    }
}

/// `host` and its port, if any (`[::1]:22` included); `None` for a port that is not a number.
fn split_port(hostport: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if let Some(end) = hostport.strip_prefix('[').and_then(|r| r.find(']')) {
        let (h, rest) = hostport.split_at(end + 2);
        (h, rest.strip_prefix(':'))
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    match port {
        None => Some((host, None)),
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .map(|p| (host, Some(p))),
    }
}

/// A comma-separated host list (`--hosts A,B,C`): at least two hosts, none twice.
///
/// Errors: [`HostError`] for a malformed host, a repeated one, or fewer than two.
pub fn parse_hosts(list: &str) -> Result<Vec<HostSpec>> {
    let hosts = list
        .split(',')
        .filter(|h| !h.trim().is_empty())
        .map(HostSpec::from_str)
        .collect::<Result<Vec<_>>>()?;
    check_hosts(&hosts, "--hosts")?;
    Ok(hosts)
}

/// At least two hosts, none twice. `field` is where the list came from, for the message:
/// `--hosts`, a scenario's `hosts:` or a definition's `x-perseus.hosts`.
///
/// Errors: [`HostError::ListedTwice`], [`HostError::TooFew`].
pub fn check_hosts(hosts: &[HostSpec], field: &str) -> Result<()> {
    let mut seen = BTreeSet::new();
    for h in hosts {
        if !seen.insert(&h.url) {
            return Err(HostError::ListedTwice {
                host: h.to_string(),
                field: field.to_string(),
            }
            .into());
        }
    }
    if hosts.len() < 2 {
        let list: Vec<&str> = hosts.iter().map(|h| h.url.as_str()).collect();
        return Err(HostError::TooFew {
            field: field.to_string(),
            list: list.join(","),
            count: hosts.len(),
        }
        .into());
    }
    Ok(())
}

/// Which host each node runs on: `hosts[placement[i]]` for node `n{i+1}`. Round-robin (n1 on the
/// first host, n2 on the second, ...), except for the nodes `explicit` places (`(node, host
/// index)`, from `--place n1=2`, 1-based on the command line, 0-based here).
///
/// Errors: [`HostError::PlaceUnknownNode`] for a node that is not one of `n1..n{nodes}`,
/// [`HostError::PlaceUnknownHost`] for a host index outside the list.
pub fn place(nodes: usize, hosts: usize, explicit: &[(String, usize)]) -> Result<Vec<usize>> {
    let mut placement: Vec<usize> = (0..nodes).map(|i| i % hosts.max(1)).collect();
    for (node, host) in explicit {
        let i = node
            .strip_prefix('n')
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| (1..=nodes).contains(n))
            .ok_or_else(|| HostError::PlaceUnknownNode {
                node: node.clone(),
                nodes,
            })?;
        if *host >= hosts {
            return Err(HostError::PlaceUnknownHost {
                node: node.clone(),
                host: *host,
                hosts,
            }
            .into());
        }
        placement[i - 1] = *host;
    }
    Ok(placement)
}

/// `--place n1=2,n3=1` as `(node, 0-based host index)` pairs.
///
/// Errors: [`HostError::PlaceEntry`] for an entry that is not `nK=HOST_NUMBER`.
pub fn parse_place(list: &str) -> Result<Vec<(String, usize)>> {
    list.split(',')
        .filter(|e| !e.trim().is_empty())
        .map(|e| {
            let (node, host) = e.trim().split_once('=').unwrap_or((e, ""));
            match host.parse::<usize>() {
                Ok(h) if h >= 1 => Ok((node.to_string(), h - 1)),
                _ => Err(HostError::PlaceEntry {
                    entry: e.to_string(),
                }
                .into()),
            }
        })
        .collect()
}

/// Connect to one host's engine and check that it answers `ping` within 5 s (ssh: 20 s, which
/// includes the ssh handshake). The transport is the endpoint's (see the module docs).
///
/// Errors: [`HostError::Unreachable`] naming the host when it cannot be reached (with the
/// client's error as its source), [`HostError::NoCertDir`] or [`HostError::CertMissing`] when
/// TLS is asked for and a certificate file is missing (exit code 2: the user's endpoint, keys or
/// engine are wrong).
pub async fn connect(spec: &HostSpec) -> Result<Docker> {
    if spec.url.starts_with("tcp://") && std::env::var_os("DOCKER_TLS_VERIFY").is_some() {
        let dir = tls_cert_dir().ok_or_else(|| HostError::NoCertDir {
            host: spec.to_string(),
        })?;
        for file in ["ca.pem", "cert.pem", "key.pem"] {
            if !dir.join(file).is_file() {
                return Err(HostError::CertMissing {
                    host: spec.to_string(),
                    file: dir.join(file),
                }
                .into());
            }
        }
    }
    let unreachable = |detail: String, source: Option<bollard::errors::Error>| {
        Error::from(HostError::Unreachable {
            host: spec.to_string(),
            detail: detail.split_whitespace().collect::<Vec<_>>().join(" "),
            source,
        })
    };
    let docker = Docker::connect_with_host(&spec.url)
        .map_err(|e| unreachable(e.to_string(), Some(e)))?
        .with_timeout(Duration::from_secs(API_TIMEOUT_SECS));
    let patience = if spec.url.starts_with("ssh://") {
        Duration::from_secs(20)
    } else {
        Duration::from_secs(5)
    };
    match tokio::time::timeout(patience, docker.ping()).await {
        Ok(Ok(_)) => Ok(docker),
        Ok(Err(e)) => Err(unreachable(error_chain(&e), Some(e))),
        Err(_) => Err(unreachable(
            format!("no answer to ping within {} s", patience.as_secs()),
            None,
        )),
    }
}

/// Where the TLS client files are, as the Docker CLI looks: `DOCKER_CERT_PATH`, else
/// `~/.docker`.
fn tls_cert_dir() -> Option<PathBuf> {
    match std::env::var_os("DOCKER_CERT_PATH") {
        Some(p) if !p.is_empty() => Some(PathBuf::from(p)),
        _ => std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")),
    }
}

/// An error and its sources on one line (a TLS or ssh failure is only named by its source).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        source = s.source();
    }
    text
}

/// What one host's engine says of its Swarm membership (from `GET /info`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// `active` when the engine is in a Swarm; `inactive`, `pending`, `error` or `locked` else.
    pub state: String,
    /// The engine's Swarm node ID (empty outside a Swarm).
    pub node_id: String,
    /// Whether it is a manager (only a manager creates the overlay network and lists nodes).
    pub manager: bool,
    /// The Swarm's ID, as a manager reports it (`None` on workers: the Engine does not say).
    pub cluster: Option<String>,
}

/// Ask `docker` for its Swarm membership.
///
/// Errors: [`Error::Docker`] when the engine refuses `GET /info`.
pub async fn membership(spec: &HostSpec, docker: &Docker) -> Result<Membership> {
    let info = docker.info().await.map_err(Error::docker(format!(
        "asking host {spec} for its Swarm state"
    )))?;
    let swarm = info.swarm.unwrap_or_default();
    Ok(Membership {
        state: swarm
            .local_node_state
            .unwrap_or(LocalNodeState::INACTIVE)
            .to_string(),
        node_id: swarm.node_id.unwrap_or_default(),
        manager: swarm.control_available.unwrap_or(false),
        cluster: swarm.cluster.and_then(|c| c.id),
    })
}

/// The node IDs of the Swarm `manager` manages that are `ready` (a host that left or cannot be
/// reached is listed as `down`, and is not one).
///
/// Errors: [`Error::Docker`] when the engine refuses `GET /nodes` (it is not a manager).
pub async fn swarm_nodes(spec: &HostSpec, manager: &Docker) -> Result<BTreeSet<String>> {
    let nodes = manager
        .list_nodes(None::<bollard::query_parameters::ListNodesOptions>)
        .await
        .map_err(Error::docker(format!(
            "listing the Swarm's nodes on host {spec}"
        )))?;
    Ok(nodes
        .into_iter()
        .filter(|n| {
            n.status.as_ref().and_then(|s| s.state) == Some(bollard::models::NodeState::READY)
        })
        .filter_map(|n| n.id)
        .collect())
}

/// Check that the hosts form one Swarm: every one `active`, at least one a manager, every manager
/// of the same Swarm, and every host's node ID among the nodes `swarm_nodes` (what a manager's
/// `GET /nodes` lists). Returns the index of the first manager, on which the overlay network is
/// made.
///
/// Errors: [`HostError::NotInSwarm`], [`HostError::NoManager`], [`HostError::TwoSwarms`] or
/// [`HostError::OtherSwarm`], naming the first host outside, with the `docker swarm` command
/// that fixes it.
pub fn one_swarm(
    hosts: &[(HostSpec, Membership)],
    swarm_nodes: &BTreeSet<String>,
) -> Result<usize> {
    for (spec, m) in hosts {
        if m.state != "active" {
            return Err(HostError::NotInSwarm {
                host: spec.to_string(),
                state: if m.state.is_empty() {
                    "none".into()
                } else {
                    m.state.clone()
                },
            }
            .into());
        }
    }
    let Some(first) = hosts.iter().position(|(_, m)| m.manager) else {
        return Err(HostError::NoManager.into());
    };
    let cluster = &hosts[first].1.cluster;
    for (spec, m) in hosts.iter().filter(|(_, m)| m.manager) {
        if m.cluster != *cluster {
            return Err(HostError::TwoSwarms {
                first: hosts[first].0.to_string(),
                host: spec.to_string(),
            }
            .into());
        }
    }
    for (spec, m) in hosts {
        if !swarm_nodes.contains(&m.node_id) {
            return Err(HostError::OtherSwarm {
                host: spec.to_string(),
                first: hosts[first].0.to_string(),
                node_id: m.node_id.clone(),
            }
            .into());
        }
    }
    Ok(first)
}

/// One host of a lab: its endpoint and its engine, connected.
#[derive(Debug, Clone)]
pub struct Engine {
    /// The endpoint.
    pub spec: HostSpec,
    /// Its engine.
    pub docker: Docker,
}

/// What `lab up --hosts` chose, kept on this machine so that every later command (`lab status`,
/// `load`, `fault`, `lab down`) finds the lab's hosts: `$PERSEUS_STATE_DIR/hosts/<system>.yaml`,
/// else `$XDG_STATE_HOME/perseus/...`, else `~/.local/state/perseus/...`. Written before anything is
/// made on the hosts, removed by `lab down` once every host is clean.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Record {
    /// The hosts' endpoints, in `--hosts` order.
    pub hosts: Vec<String>,
    /// The index of the Swarm manager the lab's overlay network was made on.
    pub manager: usize,
}

/// Where [`Record`]s live.
pub fn state_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("PERSEUS_STATE_DIR") {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_STATE_HOME") {
        return PathBuf::from(d).join("perseus");
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
    home.join(".local").join("state").join("perseus")
}

/// The file of `system`'s [`Record`].
pub fn record_path(system: &str) -> PathBuf {
    state_dir().join("hosts").join(format!("{system}.yaml"))
}

impl Record {
    /// Save it for `system`'s lab.
    ///
    /// Errors: [`Error::Io`] naming the file.
    pub fn save(&self, system: &str) -> Result<()> {
        let path = record_path(system);
        let context = format!("writing {}", path.display());
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(Error::io(context.clone()))?;
        }
        let text = serde_yaml::to_string(self).expect("a record serialises");
        std::fs::write(&path, text).map_err(Error::io(context))
    }

    /// The record of `system`'s lab, if it runs across hosts.
    ///
    /// Errors: [`Error::Io`] for a file that cannot be read, [`HostError::BadRecord`] for one
    /// that is not a record (remove it, then clean the hosts with `docker -H HOST rm`).
    pub fn load(system: &str) -> Result<Option<Record>> {
        let path = record_path(system);
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_yaml::from_str(&text)
                .map(Some)
                .map_err(|source| HostError::BadRecord { path, source }.into()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(format!("reading {}", path.display()))(e)),
        }
    }

    /// Forget `system`'s record (none is fine).
    ///
    /// Errors: [`Error::Io`] when it exists and cannot be removed.
    pub fn forget(system: &str) -> Result<()> {
        let path = record_path(system);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(Error::io(format!("removing {}", path.display()))(e))
            }
            _ => Ok(()),
        }
    }

    /// The systems that have a record.
    pub fn systems() -> Vec<String> {
        let Ok(rd) = std::fs::read_dir(state_dir().join("hosts")) else {
            return Vec::new();
        };
        let mut out: Vec<String> = rd
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                e.file_name()
                    .to_str()?
                    .strip_suffix(".yaml")
                    .map(str::to_string)
            })
            .collect();
        out.sort();
        out
    }

    /// Connect to every host of the record.
    ///
    /// Errors: as [`connect`], for the first host that does not answer.
    pub async fn engines(&self) -> Result<Vec<Engine>> {
        let mut out = Vec::new();
        for url in &self.hosts {
            let spec: HostSpec = url.parse()?;
            let docker = connect(&spec).await?;
            out.push(Engine { spec, docker });
        }
        Ok(out)
    }
}

/// Where this machine reaches a port the host `spec` published (`published` on all of the host's
/// addresses): the host's address as written in its endpoint, resolved, or 127.0.0.1 for a
/// `unix://` socket.
///
/// Errors: [`HostError::Unresolved`] when the host's name does not resolve here.
pub async fn published_addr(spec: &HostSpec, published: u16) -> Result<std::net::SocketAddr> {
    if spec.address == "local" {
        return Ok(std::net::SocketAddr::from(([127, 0, 0, 1], published)));
    }
    tokio::net::lookup_host((spec.address.as_str(), published))
        .await
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| {
            HostError::Unresolved {
                host: spec.to_string(),
                name: spec.address.clone(),
            }
            .into()
        })
}

/// Connect to every host, and check that they are one Swarm ([`one_swarm`]): the engines, in
/// order, and the index of the manager to make the overlay network on.
///
/// Errors: as [`connect`] and [`one_swarm`].
pub async fn prepare(specs: &[HostSpec]) -> Result<(Vec<Engine>, usize)> {
    let engines = futures_util::future::join_all(specs.iter().map(|spec| async move {
        let docker = connect(spec).await?;
        let m = membership(spec, &docker).await?;
        Ok::<_, Error>((
            Engine {
                spec: spec.clone(),
                docker,
            },
            m,
        ))
    }))
    .await
    .into_iter()
    .collect::<Result<Vec<_>>>()?;
    let members: Vec<(HostSpec, Membership)> = engines
        .iter()
        .map(|(e, m)| (e.spec.clone(), m.clone()))
        .collect();
    let nodes = match engines
        .iter()
        .find(|(_, m)| m.manager && m.state == "active")
    {
        Some((e, _)) => swarm_nodes(&e.spec, &e.docker).await?,
        None => BTreeSet::new(),
    };
    let manager = one_swarm(&members, &nodes)?;
    Ok((engines.into_iter().map(|(e, _)| e).collect(), manager))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(s: &str) -> HostSpec {
        s.parse().unwrap()
    }

    #[test]
    fn endpoints_parse_as_the_docker_cli_writes_them() {
        assert_eq!(spec("ssh://ops@db3.example").url, "ssh://ops@db3.example");
        assert_eq!(spec("ssh://ops@db3.example").address, "db3.example");
        assert_eq!(spec("ssh://db3:2222").address, "db3");
        assert_eq!(spec("tcp://10.0.0.2:2376").url, "tcp://10.0.0.2:2376");
        assert_eq!(spec("tcp://10.0.0.2:2376/").address, "10.0.0.2");
        assert_eq!(spec("tcp://[fd00::2]:2375").address, "fd00::2");
        assert_eq!(spec("unix:///var/run/docker.sock").address, "local");
        if std::env::var_os("DOCKER_TLS_VERIFY").is_none() {
            assert_eq!(spec("tcp://10.0.0.2").url, "tcp://10.0.0.2:2375");
        }
        for bad in [
            "10.0.0.2",
            "http://10.0.0.2:2375",
            "tcp://",
            "tcp://10.0.0.2:port",
            "tcp://10.0.0.2:0",
            "tcp://u@10.0.0.2",
            "tcp://10.0.0.2:2375/x",
            "unix://relative.sock",
            "ssh://@",
        ] {
            let e = bad.parse::<HostSpec>().unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad}");
            let msg = e.to_string();
            assert!(
                msg.contains(bad.trim()) && msg.contains("ssh://user@host") && msg.contains("TLS"),
                "{msg}"
            );
        }
    }

    #[test]
    fn a_host_list_needs_two_distinct_hosts() {
        let hosts = parse_hosts("tcp://a:2375, tcp://b:2375,ssh://c").unwrap();
        assert_eq!(hosts.len(), 3);
        let e = parse_hosts("tcp://a:2375").unwrap_err().to_string();
        assert!(e.contains("two or more"), "{e}");
        let e = parse_hosts("tcp://a,tcp://a:2375").unwrap_err().to_string();
        assert!(
            e.contains("listed twice") || e.contains("two or more"),
            "{e}"
        );
        let e = parse_hosts("tcp://a:2375,tcp://a:2375")
            .unwrap_err()
            .to_string();
        assert!(e.contains("listed twice"), "{e}");
    }

    #[test]
    fn nodes_go_round_robin_unless_placed() {
        assert_eq!(place(5, 3, &[]).unwrap(), vec![0, 1, 2, 0, 1]);
        let explicit = parse_place("n1=3, n5=1").unwrap();
        assert_eq!(place(5, 3, &explicit).unwrap(), vec![2, 1, 2, 0, 0]);
        for (bad, says) in [
            ("n6=1", "n1 to n5"),
            ("x=1", "n1 to n5"),
            ("n1=4", "numbered 1 to 3"),
        ] {
            let e = place(5, 3, &parse_place(bad).unwrap()).unwrap_err();
            assert!(e.to_string().contains(says), "{bad}: {e}");
        }
        for bad in ["n1", "n1=0", "n1=two"] {
            let e = parse_place(bad).unwrap_err().to_string();
            assert!(e.contains("NODE=HOST"), "{bad}: {e}");
        }
    }

    fn member(state: &str, id: &str, manager: bool, cluster: Option<&str>) -> Membership {
        Membership {
            state: state.into(),
            node_id: id.into(),
            manager,
            cluster: cluster.map(str::to_string),
        }
    }

    #[test]
    fn hosts_must_be_one_swarm_with_a_manager() {
        let nodes: BTreeSet<String> = ["m1", "w1", "w2"].map(String::from).into();
        let ok = vec![
            (spec("tcp://w1:2375"), member("active", "w1", false, None)),
            (
                spec("tcp://m1:2375"),
                member("active", "m1", true, Some("c1")),
            ),
            (spec("tcp://w2:2375"), member("active", "w2", false, None)),
        ];
        assert_eq!(one_swarm(&ok, &nodes).unwrap(), 1);

        let mut outside = ok.clone();
        outside[2].1 = member("inactive", "", false, None);
        let e = one_swarm(&outside, &nodes).unwrap_err().to_string();
        assert!(
            e.contains("tcp://w2:2375 is not in a Swarm") && e.contains("docker swarm init"),
            "{e}"
        );

        let workers: Vec<_> = ok.iter().filter(|(_, m)| !m.manager).cloned().collect();
        let e = one_swarm(&workers, &nodes).unwrap_err().to_string();
        assert!(e.contains("none of the hosts is a Swarm manager"), "{e}");

        let mut two = ok.clone();
        two[2].1 = member("active", "m2", true, Some("c2"));
        let e = one_swarm(&two, &nodes).unwrap_err().to_string();
        assert!(e.contains("two different Swarms"), "{e}");

        let mut elsewhere = ok.clone();
        elsewhere[0].1 = member("active", "w9", false, None);
        let e = one_swarm(&elsewhere, &nodes).unwrap_err().to_string();
        assert!(
            e.contains("tcp://w1:2375 is in another Swarm") && e.contains("join-token"),
            "{e}"
        );
    }
}
