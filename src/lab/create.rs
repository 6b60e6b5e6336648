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
    ContainerCreateBody, EndpointIpamConfig, EndpointSettings, HostConfig, Ipam, IpamConfig,
    MountType, NetworkCreateRequest, NetworkingConfig, ResourcesUlimits, RestartPolicy,
    RestartPolicyNameEnum, VolumeCreateRequest,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, RemoveContainerOptionsBuilder,
    RemoveVolumeOptionsBuilder,
};
use bollard::Docker;
use futures_util::StreamExt;

use super::definition::{Definition, Mount, NodeSpec};
use crate::docker::{self, IP_LABEL, NODE_LABEL, PORT_LABEL, ROLE_LABEL};
use crate::driver::Endpoint;
use crate::error::{Error, Result};

/// A node of a running lab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// `n1`..`nN`.
    pub name: String,
    /// The main container's name (owner of the network namespace).
    pub main: String,
    /// All containers of the node, main first.
    pub containers: Vec<String>,
    /// The node's fixed address on the lab network.
    pub ip: Ipv4Addr,
    /// The port clients connect to.
    pub client_port: u16,
}

impl Node {
    /// The address the load loop connects to.
    pub fn endpoint(&self) -> Endpoint {
        Endpoint {
            node: self.name.clone(),
            addr: SocketAddr::new(self.ip.into(), self.client_port),
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
}

impl Made {
    /// Nothing made yet for `system`'s lab.
    pub(super) fn new(system: &str) -> Made {
        Made {
            system: system.to_string(),
            containers: Mutex::default(),
            volumes: Mutex::default(),
            network: Mutex::default(),
        }
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
    /// then the network; only those that exist with this lab's label. Every removal is tried.
    ///
    /// Errors: the first list or removal the Engine refused.
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
        let system = Some(self.system.as_str());
        let labelled: Vec<String> = docker::lab_containers(docker, system)
            .await?
            .into_iter()
            .flat_map(|c| c.names.unwrap_or_default())
            .map(|n| n.trim_start_matches('/').to_string())
            .filter(|n| containers.contains(n))
            .collect();
        let mut first: Option<Error> = None;
        let removed = futures_util::future::join_all(labelled.iter().map(|c| async move {
            let opts = RemoveContainerOptionsBuilder::default()
                .force(true)
                .v(true)
                .build();
            gone(
                docker.remove_container(c, Some(opts)).await,
                "removing container",
                c,
            )
        }))
        .await;
        for r in removed {
            first = first.or(r.err());
        }
        for v in docker::lab_volumes(docker, system).await? {
            if !volumes.contains(&v.name) {
                continue;
            }
            let opts = RemoveVolumeOptionsBuilder::default().force(true).build();
            let r = gone(
                docker.remove_volume(&v.name, Some(opts)).await,
                "removing volume",
                &v.name,
            );
            first = first.or(r.err());
        }
        for n in docker::lab_networks(docker, system).await? {
            let (Some(id), Some(name)) = (n.id, n.name) else {
                continue;
            };
            if network.as_ref() != Some(&name) {
                continue;
            }
            let r = gone(docker.remove_network(&id).await, "removing network", &name);
            first = first.or(r.err());
        }
        first.map_or(Ok(()), Err)
    }
}

/// A removal's outcome: `Ok(true)` when it removed the object, `Ok(false)` when it was gone
/// already (404), else [`Error::Docker`] naming what was being done.
pub(super) fn gone(
    r: std::result::Result<(), bollard::errors::Error>,
    doing: &str,
    what: &str,
) -> Result<bool> {
    match r {
        Ok(()) => Ok(true),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(false),
        Err(e) => Err(Error::Docker {
            context: format!("{doing} {what}"),
            source: e,
        }),
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
/// Errors: [`Error::BadInput`] for an override that names no image of the system, listing its
/// images.
pub fn override_images(system: &str, specs: &mut [NodeSpec], overrides: &[String]) -> Result<()> {
    for o in overrides {
        let repo = image_repository(o);
        if repo == o {
            // Docker pulls every tag of a repository asked for without one.
            return Err(Error::BadInput(format!(
                "--image {o} has no tag: give one, e.g. --image {o}:<tag> (or @sha256:<digest>)"
            )));
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
            return Err(Error::BadInput(format!(
                "--image {o}: {system} runs no {repo} image; its images are {}: give one of those repositories with the tag you want",
                known.into_iter().collect::<Vec<_>>().join(", ")
            )));
        }
    }
    Ok(())
}

/// Check that every host path a node mounts exists: Docker would refuse the container midway
/// (or, with the Compose tool, make an empty folder in its place).
///
/// Errors: [`Error::BadInput`] naming the container and the path, and, for a binary of the Perseus
/// workspace (next to perseus itself, such as `gryadka`), how to build it.
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
            let hint = if source.parent() == bin_dir.as_deref() {
                ": it is a binary of the Perseus workspace, built next to perseus; run `cargo build --release` (or `cargo build`, for a debug perseus) in the checkout"
            } else {
                ": create it, or fix the path in the definition"
            };
            return Err(Error::BadInput(format!(
                "{} mounts {}, which does not exist{hint}",
                c.service,
                source.display()
            )));
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

/// Create the lab's network, volumes and every node's containers, and start them: the network's
/// name and the nodes, n1 first. Everything made is recorded in `made`.
pub(super) async fn create_lab(
    docker: &Docker,
    system: &str,
    def: &Definition,
    specs: &[NodeSpec],
    made: &Made,
    progress: &mut dyn FnMut(&str),
) -> Result<(String, Vec<Node>)> {
    // Network with a subnet of its own, so that nodes keep fixed addresses.
    let taken: Vec<(u32, u32)> = docker
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
    let subnet = pick_subnet(&taken).ok_or_else(|| {
        Error::BadInput("no free /24 left in 10.77.0.0/16 for the lab network: remove unused Docker networks (docker network prune)".into())
    })?;
    let octets = subnet.octets();
    let network = network_name(system);
    made.network(&network);
    docker
        .create_network(NetworkCreateRequest {
            name: network.clone(),
            driver: Some("bridge".into()),
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
        })
        .await
        .map_err(Error::docker(format!("creating network {network}")))?;
    progress(&format!("network {network} ({subnet}/24)"));

    // Volumes, then every node's containers, each made concurrently: creating a container whose
    // volume is new copies the image's files at its mount point into it (PostgreSQL's initialised
    // data directory), and one after another that cost a lab of three nodes about 2 s.
    make_volumes(docker, system, specs, made).await?;

    // Containers: create every one (a node's own in order, main first), then start mains, then
    // sidecars.
    let created = futures_util::future::join_all(specs.iter().enumerate().map(|(i, spec)| {
        let ip = Ipv4Addr::new(octets[0], octets[1], octets[2], 11 + i as u8);
        create_node(docker, system, def, &network, spec, ip, made)
    }))
    .await;
    let nodes = created.into_iter().collect::<Result<Vec<_>>>()?;
    start_nodes(docker, &nodes).await?;
    progress(&format!(
        "started {} nodes: {}",
        nodes.len(),
        nodes
            .iter()
            .map(|n| format!("{} {}", n.name, n.ip))
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
        docker
            .create_volume(VolumeCreateRequest {
                name: Some(v.clone()),
                labels: Some(docker::labels(system, &[])),
                ..Default::default()
            })
            .await
            .map(|_| ())
            .map_err(Error::docker(format!("creating volume {v}")))
    }))
    .await;
    results.into_iter().collect::<Result<Vec<_>>>()?;
    Ok(())
}

/// Create the containers of one node (main first, then sidecars in its namespace) at `ip` on the
/// lab network, recording each in `made`. Volumes must exist already.
pub(super) async fn create_node(
    docker: &Docker,
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
        for (k, v) in &c.labels {
            labels.insert(k.clone(), v.clone());
        }
        let mounts = c
            .mounts
            .iter()
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
        let host_config = HostConfig {
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
            host_config: Some(host_config),
            networking_config,
            ..Default::default()
        };
        let opts = CreateContainerOptionsBuilder::default().name(&name).build();
        made.container(&name);
        docker
            .create_container(Some(opts), body)
            .await
            .map_err(Error::docker(format!("creating container {name}")))?;
        names.push(name);
    }
    Ok(Node {
        name: spec.name.clone(),
        main: main_name,
        containers: names,
        ip,
        client_port,
    })
}

/// Start the nodes' main containers together, then their sidecars.
pub(super) async fn start_nodes(docker: &Docker, nodes: &[Node]) -> Result<()> {
    let mains =
        futures_util::future::join_all(nodes.iter().map(|n| docker::start(docker, &n.main))).await;
    mains.into_iter().collect::<Result<Vec<_>>>()?;
    let sidecars = nodes.iter().flat_map(|n| n.containers.iter().skip(1));
    let started = futures_util::future::join_all(sidecars.map(|c| docker::start(docker, c))).await;
    started.into_iter().collect::<Result<Vec<_>>>()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
