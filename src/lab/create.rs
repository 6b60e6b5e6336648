//! The Docker objects of a lab, and their undoing: the names every object carries, the network
//! (a free `/24` of its own, so nodes keep fixed addresses), the named volumes, each node's
//! containers (main first, sidecars in its namespace), the checks made before anything is created
//! (images present or pulled, bind sources present, `--image` overrides), and [`Made`], the record
//! of what a `lab up` or `add-node` created, which one place removes when it fails.

use std::collections::{BTreeSet, HashMap};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use bollard::models::{
    ContainerCreateBody, DeviceMapping, EndpointIpamConfig, EndpointSettings, HostConfig, Ipam,
    IpamConfig, MountType, NetworkCreateRequest, NetworkingConfig, PortBinding, ResourcesUlimits,
    RestartPolicy, RestartPolicyNameEnum, VolumeCreateRequest,
};
use bollard::query_parameters::{CreateContainerOptionsBuilder, CreateImageOptionsBuilder};
use bollard::Docker;
use futures_util::StreamExt;

use super::compose::{Mount, NodeSpec};
use super::definition::Definition;
use super::hosts::{self, Engine};
use super::remove::{converge, Scope};
use crate::docker::{self, IP_LABEL, NODE_LABEL, PORT_LABEL, ROLE_LABEL};
use crate::driver::Endpoint;
use crate::error::LabError;
use crate::error::{Error, Result};
use crate::node::NodeName;

/// A node of a running lab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// `n1`..`nN`.
    pub name: NodeName,
    /// The main container's name (owner of the network namespace).
    pub main: String,
    /// All containers of the node, main first.
    pub containers: Vec<String>,
    /// The node's fixed address on the lab network.
    pub ip: Ipv4Addr,
    /// The port clients connect to.
    pub client_port: u16,
    /// The index of the node's host in [`super::Lab::hosts`] (0 when the lab is on this
    /// machine's engine alone).
    pub host: usize,
    /// Where this machine reaches the client port, when the node runs on another host: the
    /// port its host published, at the host's address (the overlay network's addresses are not
    /// reachable from here). `None` on this machine's engine: the lab network's address is.
    pub published: Option<SocketAddr>,
    /// Where this machine reaches the definition's probe ports on another host (`(port in the
    /// node, address)`); empty on this machine's engine.
    pub probes: Vec<(u16, SocketAddr)>,
    /// The data directory mounted through the lazy file system, when the node runs under it
    /// ([`super::lazy`]): its faults go through the supervisor.
    pub lazy: Option<String>,
}

impl Node {
    /// The address the load loop connects to: the published one on another host, else the
    /// node's address on the lab network.
    pub fn endpoint(&self) -> Endpoint {
        Endpoint {
            node: self.name.clone(),
            addr: self
                .published
                .unwrap_or_else(|| SocketAddr::new(self.ip.into(), self.client_port)),
            probes: self.probes.clone(),
        }
    }
}

/// Name of the lab network.
pub fn network_name(system: &str) -> String {
    format!("perseus-{system}")
}

/// Name of a container of the lab.
pub fn container_name(system: &str, service: &str) -> String {
    format!("perseus-{system}-{service}")
}

/// Name of a named volume of the lab.
pub fn volume_name(system: &str, volume: &str) -> String {
    format!("perseus-{system}-{volume}")
}

/// What `up` or `add_node` is creating, so that one place ([`Made::undo`]) removes exactly that
/// when they fail or are cancelled.
///
/// Each object is recorded before the Engine is asked to create it: a cancellation (Ctrl-C) can
/// drop the request after the Engine acted and before its answer arrived, and an object recorded
/// only after the answer would then be left behind. [`Made::undo`] removes the recorded objects
/// that exist and carry this lab's label, so an object that was never made, or one of that name
/// that is not the lab's, is left alone.
#[derive(Debug)]
pub(super) struct Made {
    system: String,
    containers: Mutex<Vec<String>>,
    volumes: Mutex<Vec<String>>,
    network: Mutex<Option<String>>,
    /// The lab's other hosts' engines (none on one machine): containers and volumes are removed
    /// from each, the network from the manager, `manager`.
    hosts: Vec<Docker>,
    manager: Option<Docker>,
}

impl Made {
    /// Nothing made yet for `system`'s lab on this machine's engine.
    pub(super) fn new(system: &str) -> Made {
        Made::across(system, Vec::new(), None)
    }

    /// Nothing made yet for `system`'s lab on the engines `hosts`, its network on `manager`.
    pub(super) fn across(system: &str, hosts: Vec<Docker>, manager: Option<Docker>) -> Made {
        Made {
            system: system.to_string(),
            containers: Mutex::default(),
            volumes: Mutex::default(),
            network: Mutex::default(),
            hosts,
            manager,
        }
    }

    /// Whether it spans several hosts.
    pub(super) fn spread(&self) -> bool {
        !self.hosts.is_empty()
    }

    /// A container about to be created.
    pub(super) fn container(&self, name: &str) {
        self.containers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(name.to_string());
    }

    /// A volume about to be created.
    pub(super) fn volume(&self, name: &str) {
        self.volumes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(name.to_string());
    }

    /// The network about to be created.
    pub(super) fn network(&self, name: &str) {
        *self.network.lock().unwrap_or_else(PoisonError::into_inner) = Some(name.to_string());
    }

    /// Remove what was made: containers (forced, with their anonymous volumes), then volumes,
    /// then the network; only those that exist with this lab's label, in rounds until none is
    /// left ([`super::remove::converge`]). Every engine is tried.
    ///
    /// Errors: the first engine's [`Error::DownIncomplete`] (what is left) or listing failure.
    pub(super) async fn undo(&self, docker: &Docker) -> Result<()> {
        let take = |m: &Mutex<Vec<String>>| {
            std::mem::take(&mut *m.lock().unwrap_or_else(PoisonError::into_inner))
        };
        let containers = take(&self.containers);
        let volumes = take(&self.volumes);
        let network = self
            .network
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let mut first: Option<Error> = None;
        let engines: Vec<&Docker> = if self.hosts.is_empty() {
            vec![docker]
        } else {
            self.hosts.iter().collect()
        };
        let named = Scope::Named {
            containers: &containers,
            volumes: &volumes,
            network: None,
        };
        for engine in engines {
            let r = converge(engine, &self.system, named, None).await;
            first = first.or(r.err());
        }
        if let Some(network) = network {
            let engine = self.manager.as_ref().unwrap_or(docker);
            let only = Scope::Named {
                containers: &[],
                volumes: &[],
                network: Some(&network),
            };
            let r = converge(engine, &self.system, only, None).await;
            first = first.or(r.err());
        }
        first.map_or(Ok(()), Err)
    }
}

/// The repository part of an image reference (`pingcap/tikv` of `pingcap/tikv:v8.5.4`).
pub fn image_repository(image: &str) -> &str {
    let image = image.split_once('@').map_or(image, |(r, _)| r);
    match image.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo,
        _ => image,
    }
}

/// Apply `--image` overrides to the node specs: every container whose image has an override's
/// repository runs the override instead (and is no longer built here).
///
/// Errors: [`LabError::ImageWithoutTag`], and [`LabError::ImageNotOfSystem`] for an override
/// that names no image of the system, listing its images.
pub fn override_images(system: &str, specs: &mut [NodeSpec], overrides: &[String]) -> Result<()> {
    for o in overrides {
        let repo = image_repository(o);
        if repo == o {
            // Docker pulls every tag of a repository asked for without one.
            return Err(LabError::ImageWithoutTag { image: o.clone() }.into());
        }
        let mut matched = false;
        for c in specs.iter_mut().flat_map(|n| n.containers.iter_mut()) {
            if image_repository(&c.image) == repo {
                c.image = o.clone();
                c.build = None;
                matched = true;
            }
        }
        if !matched {
            let known: BTreeSet<&str> = specs
                .iter()
                .flat_map(|n| &n.containers)
                .map(|c| c.image.as_str())
                .collect();
            return Err(LabError::ImageNotOfSystem {
                image: o.clone(),
                system: system.to_string(),
                repository: repo.to_string(),
                known: known.into_iter().collect::<Vec<_>>().join(", "),
            }
            .into());
        }
    }
    Ok(())
}

/// Check that every host path a node mounts exists: Docker would refuse the container midway
/// (or, with the Compose tool, make an empty folder in its place).
///
/// Errors: [`LabError::MountMissing`] naming the container and the path, and, for a binary of the
/// Perseus workspace (next to perseus itself, such as `gryadka`), how to build it.
pub fn check_bind_sources(specs: &[NodeSpec]) -> Result<()> {
    let bin_dir = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf));
    for c in specs.iter().flat_map(|n| &n.containers) {
        for m in &c.mounts {
            let Mount::Bind { source, .. } = m else {
                continue;
            };
            if source.exists() {
                continue;
            }
            let fix = if source.parent() == bin_dir.as_deref() {
                "it is a binary of the Perseus workspace, built next to perseus; run `cargo build --release` (or `cargo build`, for a debug perseus) in the checkout"
            } else {
                "create it, or fix the path in the definition"
            };
            return Err(LabError::MountMissing {
                service: c.service.clone(),
                path: source.clone(),
                fix: fix.to_string(),
            }
            .into());
        }
    }
    Ok(())
}

/// Make sure an image that is not built locally is present: pull it (bounded to 5 minutes) when it
/// is not. Errors: [`Error::ImageMissing`] with the commands that fix it.
pub async fn ensure_pulled(
    docker: &Docker,
    image: &str,
    progress: &mut dyn FnMut(&str),
) -> Result<()> {
    if docker.inspect_image(image).await.is_ok() {
        return Ok(());
    }
    progress(&format!("pulling {image}"));
    let opts = CreateImageOptionsBuilder::default()
        .from_image(image)
        .build();
    let pull = async {
        let mut stream = docker.create_image(Some(opts), None, None);
        while let Some(item) = stream.next().await {
            item.map_err(|e| e.to_string())?;
        }
        Ok::<(), String>(())
    };
    let why = match tokio::time::timeout(Duration::from_secs(300), pull).await {
        Ok(Ok(())) => return Ok(()),
        Ok(Err(e)) => e,
        Err(_) => "the pull did not finish within 5 minutes".to_string(),
    };
    let file = image.replace(['/', ':'], "_");
    Err(Error::ImageMissing {
        image: image.to_string(),
        fix: format!(
            "it is not on this machine and cannot be pulled ({}); run `docker pull {image}` where a registry is reachable, or `docker load -i {file}.tar` with an image saved elsewhere (`docker save {image} -o {file}.tar`)",
            why.lines().next().unwrap_or("").trim()
        ),
    })
}

/// Pick a /24 for the lab network that overlaps no existing Docker network: 10.77.k.0/24.
fn pick_subnet(taken: &[(u32, u32)]) -> Option<Ipv4Addr> {
    (0u32..=255)
        .map(|k| Ipv4Addr::new(10, 77, k as u8, 0))
        .find(|net| {
            let a = u32::from(*net);
            let a_end = a + 255;
            taken.iter().all(|&(b, len)| {
                let size = if len >= 32 { 1 } else { 1u64 << (32 - len) };
                let b_end = (b as u64 + size - 1).min(u32::MAX as u64) as u32;
                a_end < b || a > b_end
            })
        })
}

/// Parse `a.b.c.d/len` into (network address, prefix length).
fn parse_cidr(s: &str) -> Option<(u32, u32)> {
    let (ip, len) = s.split_once('/')?;
    let ip: Ipv4Addr = ip.parse().ok()?;
    let len: u32 = len.parse().ok()?;
    let mask = if len == 0 {
        0
    } else {
        u32::MAX << (32 - len.min(32))
    };
    Some((u32::from(ip) & mask, len))
}

/// Where a lab's nodes go: every node on this machine's engine (`engines` empty), or node `i` on
/// `engines[placement[i]]`, the overlay network made on `engines[manager]`.
#[derive(Debug, Clone, Default)]
pub(super) struct Spread {
    pub engines: Vec<Engine>,
    pub placement: Vec<usize>,
    pub manager: usize,
}

impl Spread {
    /// The engine of node number `i` (0-based), `local` on one machine.
    pub fn engine<'a>(&'a self, local: &'a Docker, i: usize) -> &'a Docker {
        match self.placement.get(i) {
            Some(h) if !self.engines.is_empty() => &self.engines[*h].docker,
            _ => local,
        }
    }

    fn network_engine<'a>(&'a self, local: &'a Docker) -> &'a Docker {
        self.engines.get(self.manager).map_or(local, |e| &e.docker)
    }
}

/// Create the lab's network, volumes and every node's containers, and start them: the network's
/// name and the nodes, n1 first. Everything made is recorded in `made`. Across hosts (`spread`)
/// the network is an attachable overlay network of their Swarm, each node's containers and
/// volumes are made on its own host, and each node's client port is published there.
pub(super) async fn create_lab(
    docker: &Docker,
    system: &str,
    def: &Definition,
    specs: &[NodeSpec],
    spread: &Spread,
    made: &Made,
    progress: &mut dyn FnMut(&str),
) -> Result<(String, Vec<Node>)> {
    let multi = !spread.engines.is_empty();
    let net_engine = spread.network_engine(docker);
    // Network with a subnet of its own, so that nodes keep fixed addresses.
    let taken: Vec<(u32, u32)> = net_engine
        .list_networks(None::<bollard::query_parameters::ListNetworksOptions>)
        .await
        .map_err(Error::docker("listing networks"))?
        .iter()
        .flat_map(|n| {
            n.ipam
                .as_ref()
                .and_then(|i| i.config.clone())
                .unwrap_or_default()
        })
        .filter_map(|c| c.subnet.as_deref().and_then(parse_cidr))
        .collect();
    let subnet = pick_subnet(&taken).ok_or(LabError::NoFreeSubnet)?;
    let octets = subnet.octets();
    let network = network_name(system);
    made.network(&network);
    let request = NetworkCreateRequest {
        name: network.clone(),
        driver: Some(if multi { "overlay" } else { "bridge" }.into()),
        attachable: multi.then_some(true),
        ipam: Some(Ipam {
            config: Some(vec![IpamConfig {
                subnet: Some(format!("{subnet}/24")),
                gateway: Some(Ipv4Addr::new(octets[0], octets[1], octets[2], 1).to_string()),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        labels: Some(docker::labels(system, &[])),
        ..Default::default()
    };
    let what = format!("creating network {network}");
    // A create that may have happened is sent again only after reading that it did not.
    docker::patiently(&what, true, |again| {
        let (request, network) = (request.clone(), &network);
        async move {
            if again
                && docker::found(
                    net_engine
                        .inspect_network(
                            network,
                            None::<bollard::query_parameters::InspectNetworkOptions>,
                        )
                        .await,
                )?
            {
                return Ok(());
            }
            net_engine.create_network(request).await.map(|_| ())
        }
    })
    .await
    .map_err(Error::docker(what))?;
    progress(&format!(
        "network {network} ({subnet}/24{})",
        if multi { ", overlay" } else { "" }
    ));

    // Volumes, then every node's containers, each made concurrently: creating a container whose
    // volume is new copies the image's files at its mount point into it (PostgreSQL's initialised
    // data directory), and one after another that cost a lab of three nodes about 2 s.
    let hosts = spread.engines.len().max(1);
    futures_util::future::join_all((0..hosts).map(|h| {
        let on: Vec<NodeSpec> = specs
            .iter()
            .enumerate()
            .filter(|(i, _)| spread.placement.get(*i).copied().unwrap_or(0) == h)
            .map(|(_, s)| s.clone())
            .collect();
        let engine = spread.engines.get(h).map_or(docker, |e| &e.docker);
        async move { make_volumes(engine, system, &on, made).await }
    }))
    .await
    .into_iter()
    .collect::<Result<Vec<_>>>()?;

    // Containers: create every one (a node's own in order, main first), then start mains, then
    // sidecars.
    let created = futures_util::future::join_all(specs.iter().enumerate().map(|(i, spec)| {
        let ip = Ipv4Addr::new(octets[0], octets[1], octets[2], 11 + i as u8);
        let at = At {
            docker: spread.engine(docker, i),
            host: spread.placement.get(i).copied().unwrap_or(0),
            publish: multi.then_some((octets[2], i)),
        };
        create_node(at, system, def, &network, spec, ip, made)
    }))
    .await;
    let mut nodes = created.into_iter().collect::<Result<Vec<_>>>()?;
    start_nodes(docker, spread, &nodes).await?;
    if multi {
        for (i, n) in nodes.iter_mut().enumerate() {
            let spec = &spread.engines[n.host].spec;
            let (client, probes) =
                published_addrs(spec, octets[2], i, &def.perseus.probe_ports).await?;
            n.published = Some(client);
            n.probes = probes;
        }
    }
    progress(&format!(
        "started {} nodes: {}",
        nodes.len(),
        nodes
            .iter()
            .map(|n| match n.published {
                Some(p) => format!(
                    "{} {} (host {}, {p})",
                    n.name, n.ip, spread.engines[n.host].spec
                ),
                None => format!("{} {}", n.name, n.ip),
            })
            .collect::<Vec<_>>()
            .join(", ")
    ));
    Ok((network, nodes))
}

/// Create the named volumes `specs` mount that do not exist yet, concurrently, recording each in
/// `made`.
///
/// Errors: [`Error::Docker`] naming the volume the Engine refused.
pub(super) async fn make_volumes(
    docker: &Docker,
    system: &str,
    specs: &[NodeSpec],
    made: &Made,
) -> Result<()> {
    let existing: BTreeSet<String> = docker::lab_volumes(docker, Some(system))
        .await?
        .into_iter()
        .map(|v| v.name)
        .collect();
    let fresh: BTreeSet<String> = specs
        .iter()
        .flat_map(|n| &n.containers)
        .flat_map(|c| &c.mounts)
        .filter_map(|m| match m {
            Mount::Volume { name, .. } => Some(volume_name(system, name)),
            Mount::Bind { .. } => None,
        })
        .filter(|v| !existing.contains(v))
        .collect();
    let results = futures_util::future::join_all(fresh.iter().map(|v| async move {
        made.volume(v);
        let what = format!("creating volume {v}");
        // A volume create is idempotent by name: sent again as it is.
        docker::patiently(&what, true, |_| {
            docker.create_volume(VolumeCreateRequest {
                name: Some(v.clone()),
                labels: Some(docker::labels(system, &[])),
                ..Default::default()
            })
        })
        .await
        .map(|_| ())
        .map_err(Error::docker(what))
    }))
    .await;
    results.into_iter().collect::<Result<Vec<_>>>()?;
    Ok(())
}

/// Where [`create_node`] makes a node: on `docker`, the engine of host number `host`, with the
/// client port and the probe ports published on the host when `publish` gives the lab's subnet
/// octet and the node's index ([`published_port`]), which is a lab across hosts:
/// there the files a definition bind-mounts from this machine are copied into the containers
/// instead ([`copy_in`]).
#[derive(Clone, Copy)]
pub(super) struct At<'a> {
    pub docker: &'a Docker,
    pub host: usize,
    pub publish: Option<(u8, usize)>,
}

/// The host port node number `i` (0-based) of the lab on the subnet `10.77.X.0/24` publishes its
/// client port on, across hosts: `40000 + 16 X + i`. Fixed rather than left to the Engine, which
/// may hand a restarted container another port, while the load loop keeps the one it started
/// with; and distinct per lab, as each lab has a subnet of its own.
pub(crate) fn published_port(subnet_octet: u8, i: usize) -> u16 {
    40000 + 16 * u16::from(subnet_octet) + i as u16
}

/// The host port for the node's `k`-th probe port (`x-perseus.probe-ports`, 0-based) across
/// hosts: the client ports' formula moved up by 4096 per probe port, `40000 + 4096 (k + 1) +
/// 16 X + i`, below 65536 for the [`super::definition::MAX_PROBE_PORTS`] a definition may name.
pub(crate) fn published_probe_port(subnet_octet: u8, i: usize, k: usize) -> u16 {
    published_port(subnet_octet, i) + 4096 * (k as u16 + 1)
}

/// Where this machine reaches node number `i`'s client port and each probe port across hosts,
/// on the host `spec` (see [`published_port`]).
pub(super) async fn published_addrs(
    spec: &hosts::HostSpec,
    subnet_octet: u8,
    i: usize,
    probe_ports: &[u16],
) -> Result<(SocketAddr, Vec<(u16, SocketAddr)>)> {
    let client = hosts::published_addr(spec, published_port(subnet_octet, i)).await?;
    let probes = probe_ports
        .iter()
        .enumerate()
        .map(|(k, &p)| {
            (
                p,
                SocketAddr::new(client.ip(), published_probe_port(subnet_octet, i, k)),
            )
        })
        .collect();
    Ok((client, probes))
}

/// Create the containers of one node (main first, then sidecars in its namespace) at `ip` on the
/// lab network, recording each in `made`. Volumes must exist already.
pub(super) async fn create_node(
    at: At<'_>,
    system: &str,
    def: &Definition,
    network: &str,
    spec: &NodeSpec,
    ip: Ipv4Addr,
    made: &Made,
) -> Result<Node> {
    let client_port = def.perseus.client_port;
    let def_path = def.file.display().to_string();
    let main_name = container_name(system, &spec.containers[0].service);
    let mut names = Vec::new();
    for c in &spec.containers {
        let name = container_name(system, &c.service);
        let ip_s = ip.to_string();
        let port_s = client_port.to_string();
        let mut labels = docker::labels(
            system,
            &[
                (NODE_LABEL, &spec.name),
                (ROLE_LABEL, if c.main { "main" } else { "sidecar" }),
                (IP_LABEL, &ip_s),
                (PORT_LABEL, &port_s),
                (docker::DEFINITION_LABEL, &def_path),
            ],
        );
        if let Some(v) = def.version() {
            labels.insert(docker::VERSION_LABEL.to_string(), v.to_string());
        }
        for (k, v) in &c.labels {
            labels.insert(k.clone(), v.clone());
        }
        if let Some(dir) = &c.lazy {
            labels.insert(super::lazy::LABEL.to_string(), dir.clone());
        }
        let across = at.publish.is_some();
        let mounts = c
            .mounts
            .iter()
            .filter(|m| !(across && matches!(m, Mount::Bind { .. })))
            .map(|m| match m {
                Mount::Volume {
                    name,
                    target,
                    read_only,
                } => bollard::models::Mount {
                    typ: Some(MountType::VOLUME),
                    source: Some(volume_name(system, name)),
                    target: Some(target.clone()),
                    read_only: Some(*read_only),
                    ..Default::default()
                },
                Mount::Bind {
                    source,
                    target,
                    read_only,
                } => bollard::models::Mount {
                    typ: Some(MountType::BIND),
                    source: Some(source.display().to_string()),
                    target: Some(target.clone()),
                    read_only: Some(*read_only),
                    ..Default::default()
                },
            })
            .collect();
        let publish = at.publish.filter(|_| c.main).map(|(octet, i)| {
            let bind = |port: u16, host_port: u16| {
                (
                    format!("{port}/tcp"),
                    Some(vec![PortBinding {
                        host_ip: None,
                        host_port: Some(host_port.to_string()),
                    }]),
                )
            };
            std::iter::once(bind(client_port, published_port(octet, i)))
                .chain(
                    def.perseus
                        .probe_ports
                        .iter()
                        .enumerate()
                        .map(|(k, &p)| bind(p, published_probe_port(octet, i, k))),
                )
                .collect::<HashMap<_, _>>()
        });
        let exposed = publish.as_ref().map(|p| p.keys().cloned().collect());
        let host_config = HostConfig {
            port_bindings: publish,
            network_mode: Some(if c.main {
                network.to_string()
            } else {
                format!("container:{main_name}")
            }),
            mounts: Some(mounts),
            restart_policy: Some(RestartPolicy {
                name: Some(RestartPolicyNameEnum::NO),
                ..Default::default()
            }),
            init: Some(true),
            ulimits: (!c.ulimits.is_empty()).then(|| {
                c.ulimits
                    .iter()
                    .map(|(n, s, h)| ResourcesUlimits {
                        name: Some(n.clone()),
                        soft: Some(*s),
                        hard: Some(*h),
                    })
                    .collect()
            }),
            tmpfs: (!c.tmpfs.is_empty()).then(|| {
                c.tmpfs
                    .iter()
                    .map(|t| (t.clone(), String::new()))
                    .collect::<HashMap<_, _>>()
            }),
            // The lazy file system's mount (lab/lazy.rs says why each is needed).
            devices: c.lazy.as_ref().map(|_| {
                vec![DeviceMapping {
                    path_on_host: Some("/dev/fuse".into()),
                    path_in_container: Some("/dev/fuse".into()),
                    cgroup_permissions: Some("rwm".into()),
                }]
            }),
            cap_add: c.lazy.as_ref().map(|_| vec!["SYS_ADMIN".to_string()]),
            security_opt: c
                .lazy
                .as_ref()
                .map(|_| vec!["apparmor:unconfined".to_string()]),
            ..Default::default()
        };
        let networking_config = c.main.then(|| NetworkingConfig {
            endpoints_config: Some(HashMap::from([(
                network.to_string(),
                EndpointSettings {
                    ipam_config: Some(EndpointIpamConfig {
                        ipv4_address: Some(ip.to_string()),
                        ..Default::default()
                    }),
                    aliases: Some(vec![spec.name.clone()]),
                    ..Default::default()
                },
            )])),
        });
        let body = ContainerCreateBody {
            image: Some(c.image.clone()),
            cmd: c.command.clone(),
            entrypoint: c.entrypoint.clone(),
            env: Some(c.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            hostname: if c.main {
                c.hostname.clone().or_else(|| Some(spec.name.clone()))
            } else {
                None
            },
            user: c.user.clone(),
            labels: Some(labels),
            exposed_ports: exposed,
            host_config: Some(host_config),
            networking_config,
            ..Default::default()
        };
        let opts = CreateContainerOptionsBuilder::default().name(&name).build();
        made.container(&name);
        let what = format!("creating container {name}");
        // A create that may have happened is sent again only after reading that it did not.
        docker::patiently(&what, true, |again| {
            let (opts, body, name) = (opts.clone(), body.clone(), &name);
            async move {
                let read = || {
                    at.docker.inspect_container(
                        name,
                        None::<bollard::query_parameters::InspectContainerOptions>,
                    )
                };
                if again && docker::found(read().await)? {
                    return Ok(());
                }
                at.docker
                    .create_container(Some(opts), body)
                    .await
                    .map(|_| ())
            }
        })
        .await
        .map_err(Error::docker(what))?;
        if across {
            copy_in(at.docker, &name, &c.mounts).await?;
        }
        names.push(name);
    }
    Ok(Node {
        name: spec.name.clone().into(),
        main: main_name,
        containers: names,
        ip,
        client_port,
        host: at.host,
        published: None,
        probes: Vec::new(),
        lazy: spec
            .containers
            .iter()
            .find(|c| c.main)
            .and_then(|c| c.lazy.clone()),
    })
}

/// Copy what `mounts` bind-mount from this machine into the created (not yet started) container
/// `name`, each file or folder at its mount's target, owned by root with its own mode: a lab
/// across hosts, where the host does not have the files (`PUT /containers/{name}/archive`, one
/// tar of them all; the Engine makes missing parent folders). A read-only mount becomes a copy
/// the container could change; the definitions' mounts are configuration and binaries, which
/// it does not. Changes on this machine reach the hosts at the next `lab up`.
///
/// Errors: [`LabError::MountUnreadable`] naming a source that cannot be read; [`Error::Docker`] naming the
/// container when the Engine refuses the upload.
pub(super) async fn copy_in(docker: &Docker, name: &str, mounts: &[Mount]) -> Result<()> {
    let mut tar = tar::Builder::new(Vec::new());
    tar.follow_symlinks(true);
    let mut any = false;
    for m in mounts {
        let Mount::Bind { source, target, .. } = m else {
            continue;
        };
        let at = target.trim_start_matches('/');
        let unreadable = |error: std::io::Error| LabError::MountUnreadable {
            container: name.to_string(),
            path: source.clone(),
            error,
        };
        if source.is_dir() {
            tar.append_dir_all(at, source).map_err(unreadable)?;
        } else {
            let mut file = std::fs::File::open(source).map_err(unreadable)?;
            let meta = file.metadata().map_err(unreadable)?;
            let mut header = tar::Header::new_gnu();
            header.set_metadata(&meta);
            header.set_uid(0);
            header.set_gid(0);
            tar.append_data(&mut header, at, &mut file)
                .map_err(unreadable)?;
        }
        any = true;
    }
    if !any {
        return Ok(());
    }
    let body = tar.into_inner().map_err(|error| LabError::Packing {
        container: name.to_string(),
        error,
    })?;
    docker
        .upload_to_container(
            name,
            Some(
                bollard::query_parameters::UploadToContainerOptionsBuilder::default()
                    .path("/")
                    .build(),
            ),
            bollard::body_full(body.into()),
        )
        .await
        .map_err(Error::docker(format!(
            "copying the files it mounts into {name}"
        )))
}

/// Start the nodes' main containers together, each on its host, then their sidecars.
pub(super) async fn start_nodes(docker: &Docker, spread: &Spread, nodes: &[Node]) -> Result<()> {
    let engine = |n: &Node| spread.engines.get(n.host).map_or(docker, |e| &e.docker);
    let mains =
        futures_util::future::join_all(nodes.iter().map(|n| docker::start(engine(n), &n.main)))
            .await;
    mains.into_iter().collect::<Result<Vec<_>>>()?;
    let sidecars = nodes
        .iter()
        .flat_map(|n| n.containers.iter().skip(1).map(move |c| (engine(n), c)));
    let started = futures_util::future::join_all(sidecars.map(|(e, c)| docker::start(e, c))).await;
    started.into_iter().collect::<Result<Vec<_>>>()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_ports_never_collide_and_stay_below_65536() {
        use crate::lab::definition::MAX_PROBE_PORTS;
        let mut seen = std::collections::HashSet::new();
        for octet in [0u8, 1, 2, 100, 255] {
            for i in 0..16 {
                assert!(seen.insert(published_port(octet, i)), "{octet} {i}");
                for k in 0..MAX_PROBE_PORTS {
                    let p = published_probe_port(octet, i, k);
                    assert!(p >= 40000, "{p}");
                    assert!(seen.insert(p), "{octet} {i} {k}: {p}");
                }
            }
        }
        assert_eq!(published_port(0, 2), 40002);
        assert_eq!(published_probe_port(0, 2, 0), 44098);
        assert_eq!(published_probe_port(255, 15, MAX_PROBE_PORTS - 1), 64575);
    }

    #[test]
    fn subnet_avoids_existing_networks() {
        let taken = vec![
            parse_cidr("172.17.0.0/16").unwrap(),
            parse_cidr("10.77.0.0/24").unwrap(),
            parse_cidr("10.77.1.128/25").unwrap(),
        ];
        assert_eq!(pick_subnet(&taken), Some(Ipv4Addr::new(10, 77, 2, 0)));
        assert_eq!(pick_subnet(&[parse_cidr("10.0.0.0/8").unwrap()]), None);
        assert_eq!(
            parse_cidr("10.77.3.9/24"),
            Some((u32::from(Ipv4Addr::new(10, 77, 3, 0)), 24))
        );
    }

    #[test]
    fn image_overrides_replace_by_repository_and_reject_unknown_ones() {
        assert_eq!(image_repository("pingcap/tikv:v8.5.4"), "pingcap/tikv");
        assert_eq!(
            image_repository("localhost:5000/x/y:1"),
            "localhost:5000/x/y"
        );
        assert_eq!(image_repository("localhost:5000/x/y"), "localhost:5000/x/y");
        assert_eq!(image_repository("redis@sha256:abc"), "redis");
        let def =
            Definition::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("compose/tidb.yaml"))
                .unwrap();
        let mut specs = def.nodes(3).unwrap();
        override_images("tidb", &mut specs, &["pingcap/tikv:v8.1.0".into()]).unwrap();
        for n in &specs {
            let images: Vec<&str> = n.containers.iter().map(|c| c.image.as_str()).collect();
            assert_eq!(
                images,
                [
                    "pingcap/pd:v8.5.4",
                    "pingcap/tidb:v8.5.4",
                    "pingcap/tikv:v8.1.0"
                ]
            );
        }
        let e = override_images("tidb", &mut specs, &["cockroachdb/cockroach:v1".into()])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("tidb runs no cockroachdb/cockroach image"),
            "{e}"
        );
        assert!(e.contains("pingcap/pd:v8.5.4"), "{e}");
        let e = override_images("tidb", &mut specs, &["pingcap/tikv".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("--image pingcap/tikv has no tag"), "{e}");
        let e = def.nodes(2).unwrap_err().to_string();
        assert!(
            e.contains("--nodes 2 is too few for tidb: it needs at least 3"),
            "{e}"
        );
    }
}
