//! The lab: one running cluster of one system, with its network, volumes and nodes.
//!
//! [`up`] reads the definition, makes sure the images exist (building them offline when needed),
//! creates a network with a subnet of its own, the volumes and the node containers (each node at a
//! fixed address, so that `fault connect` gives it back the same one), starts them and waits until
//! the system's readiness probe passes. It returns a [`LabHandle`] that owns what it made, as
//! testcontainers-rs owns a container: [`LabHandle::down`] removes the lab, [`LabHandle::keep`]
//! leaves it up for later commands, and dropping the handle without either removes it too (the
//! safety net). If `up` or [`add_node`] fails, or their cancellation token is cancelled (Ctrl-C), one
//! place removes exactly what they had created ([`Made`]). [`open`] finds a running lab again from
//! the labels on its containers, so every other command (status, load, fault, down) works from a
//! fresh process, even after perseus crashed.

pub mod base;
pub mod definition;
pub mod images;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{Ipv4Addr, SocketAddr};
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

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
use tokio_util::sync::CancellationToken;

use crate::docker::{self, IP_LABEL, LAB_LABEL, NODE_LABEL, PORT_LABEL, ROLE_LABEL};
use crate::driver::Endpoint;
use crate::error::{Error, Result};
use crate::load::DynDriver;
use crate::systems::{self, Cluster, System};
use definition::{Definition, Mount, NodeSpec};

/// Where the lab's files live: `compose/`, `docker/`, `etc/`, `scenarios/`.
#[derive(Debug, Clone)]
pub struct Home {
    root: PathBuf,
}

impl Home {
    /// Find the Perseus files: `$PERSEUS_HOME`, else the current folder or one of its parents, else
    /// a parent of the executable (`target/release/perseus` in a checkout), else the checkout the
    /// binary was built from.
    ///
    /// Errors: [`Error::MissingFile`] when none of them has a `compose/` folder.
    pub fn locate() -> Result<Home> {
        let has = |p: &Path| p.join("compose").is_dir();
        if let Some(h) = std::env::var_os("PERSEUS_HOME") {
            let p = PathBuf::from(h);
            return if has(&p) {
                Ok(Home { root: p })
            } else {
                Err(Error::MissingFile {
                    path: p.join("compose"),
                    source: std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        "PERSEUS_HOME has no compose/ folder",
                    ),
                })
            };
        }
        let mut candidates: Vec<PathBuf> = Vec::new();
        if let Ok(cwd) = std::env::current_dir() {
            candidates.extend(cwd.ancestors().map(Path::to_path_buf));
        }
        if let Ok(exe) = std::env::current_exe() {
            candidates.extend(exe.ancestors().skip(1).map(Path::to_path_buf));
        }
        candidates.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")));
        candidates
            .into_iter()
            .find(|p| has(p))
            .map(|root| Home { root })
            .ok_or_else(|| Error::MissingFile {
                path: PathBuf::from("compose"),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no compose/ folder found",
                ),
            })
    }

    /// A home at an explicit folder (tests).
    pub fn at(root: impl Into<PathBuf>) -> Home {
        Home { root: root.into() }
    }

    /// The root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The systems this home defines: the stems of `compose/*.yaml`, sorted.
    pub fn systems(&self) -> Vec<String> {
        let mut out: Vec<String> = std::fs::read_dir(self.root.join("compose"))
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter_map(|e| {
                        let p = e.path();
                        (p.extension().is_some_and(|x| x == "yaml"))
                            .then(|| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
                            .flatten()
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.sort();
        out
    }

    /// Check a lab's system name against the definitions.
    ///
    /// Errors: [`Error::UnknownSystem`] naming the known ones.
    pub fn check_system(&self, system: &str) -> Result<()> {
        let known = self.systems();
        if known.iter().any(|s| s == system) {
            Ok(())
        } else {
            Err(Error::UnknownSystem {
                name: system.to_string(),
                known: known.join(", "),
            })
        }
    }

    /// Load `compose/<system>.yaml`, or `file` when given.
    pub fn definition(&self, system: &str, file: Option<&Path>) -> Result<Definition> {
        let def = match file {
            Some(f) => Definition::load(f)?,
            None => {
                self.check_system(system)?;
                Definition::load(&self.root.join("compose").join(format!("{system}.yaml")))?
            }
        };
        if def.perseus.system != system {
            return Err(Error::BadInput(format!(
                "{} defines system '{}', not '{system}': pass the matching system name",
                def.file.display(),
                def.perseus.system
            )));
        }
        Ok(def)
    }

    /// The images the lab builds itself for this definition, plus the network helper.
    pub fn builds(&self, nodes: &[NodeSpec]) -> Vec<images::ImageBuild> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for c in nodes.iter().flat_map(|n| &n.containers) {
            if let Some((ctx, dockerfile)) = &c.build {
                if seen.insert(c.image.clone()) {
                    out.push(images::ImageBuild {
                        tag: c.image.clone(),
                        context: ctx.clone(),
                        dockerfile: dockerfile.clone(),
                    });
                }
            }
        }
        out.push(self.helper_build());
        out
    }

    /// The network helper image (iptables, iproute2) used by isolate, partition and heal.
    pub fn helper_build(&self) -> images::ImageBuild {
        images::ImageBuild {
            tag: HELPER_IMAGE.to_string(),
            context: self.root.join("docker").join("nettools"),
            dockerfile: "Dockerfile".into(),
        }
    }
}

/// Where an image of a system comes from, and whether it is on this machine.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ImageSource {
    /// The image reference (`perseus/etcd:3.4`, `cockroachdb/cockroach:v25.2.4`).
    pub image: String,
    /// Built here from a Dockerfile under `docker/` (else an official image to pull).
    pub built_here: bool,
    /// Present on the Docker Engine now.
    pub present: bool,
}

/// One system the lab knows, as `perseus systems` lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Catalogued {
    /// The lab's name (`etcd`): the definition's `x-perseus.system`.
    pub system: String,
    /// Its name for people (`CockroachDB`).
    pub title: String,
    /// The implementation under `src/systems/` (`x-perseus.kind`).
    pub kind: String,
    /// The fewest nodes it runs with.
    pub min_nodes: usize,
    /// `leader`, `pd-leader`, ...: empty for a system without a leader.
    pub leader_targets: Vec<String>,
    /// Its images (the network helper's not included).
    pub images: Vec<ImageSource>,
}

impl Catalogued {
    /// Whether every image is built here from Debian packages: the system runs where no
    /// registry is reachable.
    pub fn local(&self) -> bool {
        self.images.iter().all(|i| i.built_here)
    }
}

/// Every system of `home`'s definitions, in name order, with where its images come from and
/// whether they are on the Engine now: the registry the CI script and the tests list systems from.
///
/// Errors: [`Error::Definition`] for a definition that does not parse; [`Error::Docker`] when the
/// Engine fails an image inspect.
pub async fn catalog(docker: &Docker, home: &Home) -> Result<Vec<Catalogued>> {
    let mut out = Vec::new();
    for system in home.systems() {
        let def = home.definition(&system, None)?;
        let specs = def.nodes(def.perseus.min_nodes.max(1))?;
        let mut images: Vec<ImageSource> = Vec::new();
        for c in specs.iter().flat_map(|n| &n.containers) {
            if images.iter().any(|i| i.image == c.image) {
                continue;
            }
            images.push(ImageSource {
                image: c.image.clone(),
                built_here: c.build.is_some(),
                present: docker::image_exists(docker, &c.image).await?,
            });
        }
        out.push(Catalogued {
            title: def.perseus.title.clone().unwrap_or_else(|| system.clone()),
            kind: def.system.name().to_string(),
            min_nodes: def.perseus.min_nodes,
            leader_targets: def.system.leader_targets(),
            images,
            system,
        });
    }
    Ok(out)
}

/// The image of the network-fault helper containers.
pub const HELPER_IMAGE: &str = "perseus/nettools:1";

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
}

impl Lab {
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

    /// What the system's probes see: every node's endpoint and the definition's settings.
    pub fn cluster(&self) -> Cluster {
        Cluster {
            nodes: self.endpoints(),
            settings: self.definition.settings.clone(),
        }
    }

    /// The node names, n1 first.
    pub fn node_names(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.name.clone()).collect()
    }

    /// The current leader, asked from the cluster now (`None`: no leader that answers); `role`
    /// names another leader role the system has (`pd` on TiDB).
    ///
    /// Errors: [`Error::UnsupportedTarget`] when the system has no such leader.
    pub async fn leader(&self, role: Option<&str>) -> Result<Option<String>> {
        systems::leader(self.kind(), &self.system, &self.cluster(), role).await
    }
}

/// A lab this process brought up, and owns: [`LabHandle::down`] removes it, [`LabHandle::keep`]
/// leaves it up (for `perseus lab up`, or a run asked to `--keep` it). Dropped without either (a
/// panic, an early return), it removes the lab then, on a thread of its own: the safety net.
/// Reads as the [`Lab`] it holds.
#[derive(Debug)]
pub struct LabHandle {
    lab: Lab,
    docker: Docker,
    owned: bool,
}

impl LabHandle {
    /// Take ownership of a lab this process made.
    fn new(docker: &Docker, lab: Lab) -> LabHandle {
        LabHandle {
            lab,
            docker: docker.clone(),
            owned: true,
        }
    }

    /// Remove the lab (containers, networks, volumes).
    ///
    /// Errors: [`Error::Docker`] when the Engine refuses a removal; `perseus lab down` finishes it.
    pub async fn down(mut self) -> Result<DownReport> {
        self.owned = false;
        down(&self.docker, &self.lab.system).await
    }

    /// Leave the lab up: the handle lets go of it, and later commands find it by its labels.
    pub fn keep(mut self) -> Lab {
        self.owned = false;
        self.lab.clone()
    }
}

impl Deref for LabHandle {
    type Target = Lab;
    fn deref(&self) -> &Lab {
        &self.lab
    }
}

impl Drop for LabHandle {
    fn drop(&mut self) {
        if !self.owned {
            return;
        }
        // Drop cannot await, and the runtime that made `self.docker` may be the one blocked
        // here: a thread of its own, with its own runtime and Engine connection, does the removal.
        let system = self.lab.system.clone();
        let removed = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(async {
                let docker = docker::connect().await.map_err(|e| e.to_string())?;
                down(&docker, &system).await.map_err(|e| e.to_string())
            })
        })
        .join();
        if !matches!(removed, Ok(Ok(_))) {
            eprintln!(
                "perseus: a {} lab was left behind and could not be removed: run `perseus lab down {}`",
                self.lab.system, self.lab.system
            );
        }
    }
}

/// What `up` or `add_node` has created so far, so that one place ([`Made::undo`]) removes exactly
/// that when they fail: never a container, volume or network that was there before.
#[derive(Debug, Default)]
struct Made {
    containers: Mutex<Vec<String>>,
    volumes: Mutex<Vec<String>>,
    network: Mutex<Option<String>>,
}

impl Made {
    fn container(&self, name: &str) {
        self.containers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(name.to_string());
    }

    fn volume(&self, name: &str) {
        self.volumes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(name.to_string());
    }

    fn network(&self, name: &str) {
        *self.network.lock().unwrap_or_else(PoisonError::into_inner) = Some(name.to_string());
    }

    /// Remove what was made: containers (forced, with their anonymous volumes), then volumes,
    /// then the network. Every removal is tried; objects already gone count as removed.
    ///
    /// Errors: the first removal the Engine refused.
    async fn undo(&self, docker: &Docker) -> Result<()> {
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
        let removed = futures_util::future::join_all(containers.iter().map(|c| async move {
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
        for v in &volumes {
            let opts = RemoveVolumeOptionsBuilder::default().force(true).build();
            let r = gone(
                docker.remove_volume(v, Some(opts)).await,
                "removing volume",
                v,
            );
            first = first.or(r.err());
        }
        if let Some(n) = &network {
            let r = gone(docker.remove_network(n).await, "removing network", n);
            first = first.or(r.err());
        }
        first.map_or(Ok(()), Err)
    }
}

/// A removal's outcome: `Ok(true)` when it removed the object, `Ok(false)` when it was gone
/// already (404), else [`Error::Docker`] naming what was being done.
fn gone(
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

/// Options of [`up`].
#[derive(Debug, Clone)]
pub struct UpOptions {
    /// Number of nodes.
    pub nodes: usize,
    /// A definition file other than `compose/<system>.yaml`.
    pub file: Option<PathBuf>,
    /// Override of the definition's readiness wait.
    pub ready_timeout: Option<Duration>,
    /// Image overrides (`repository:tag`): each replaces the image of every container whose
    /// image has the same repository (`--image cockroachdb/cockroach:v24.3.3`).
    pub images: Vec<String>,
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

/// Which system a command means: the one named, or the only lab that is up.
///
/// Errors: [`Error::UnknownSystem`] for a name no definition has; [`Error::NoLabUp`] or
/// [`Error::SeveralLabsUp`] when none was named and zero or several labs are up.
pub async fn resolve_system(docker: &Docker, home: &Home, named: Option<&str>) -> Result<String> {
    if let Some(s) = named {
        home.check_system(s)?;
        return Ok(s.to_string());
    }
    let labs = labs_up(docker).await?;
    let mut names = labs.into_iter();
    match (names.next(), names.next()) {
        (Some(only), None) => Ok(only),
        (None, _) => Err(Error::NoLabUp {
            known: home.systems().join(", "),
        }),
        (Some(first), Some(second)) => Err(Error::SeveralLabsUp {
            labs: [first.clone(), second]
                .into_iter()
                .chain(names)
                .collect::<Vec<_>>()
                .join(", "),
            first,
        }),
    }
}

/// The systems that have lab objects (containers or networks) right now.
pub async fn labs_up(docker: &Docker) -> Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    for c in docker::lab_containers(docker, None).await? {
        if let Some(s) = c.labels.as_ref().and_then(|l| l.get(LAB_LABEL)) {
            out.insert(s.clone());
        }
    }
    for n in docker::lab_networks(docker, None).await? {
        if let Some(s) = n.labels.as_ref().and_then(|l| l.get(LAB_LABEL)) {
            out.insert(s.clone());
        }
    }
    Ok(out)
}

/// Bring a lab up; see the module docs. `progress` gets one line per step; cancelling `cancel`
/// (Ctrl-C) stops it.
///
/// Errors: [`Error::LabAlreadyUp`], [`Error::UnknownSystem`], [`Error::Definition`],
/// [`Error::BadInput`] for a bind mount whose source is missing, [`Error::ImageMissing`] (all
/// before anything is created), [`Error::NotReady`] with the nodes' last log lines,
/// [`Error::Interrupted`] when cancelled; in every failure case what was created is removed.
pub async fn up(
    docker: &Docker,
    home: &Home,
    system: &str,
    opts: &UpOptions,
    cancel: &CancellationToken,
    progress: &mut dyn FnMut(&str),
) -> Result<LabHandle> {
    let def = home.definition(system, opts.file.as_deref())?;
    let mut specs = def.nodes(opts.nodes)?;
    override_images(system, &mut specs, &opts.images)?;
    check_bind_sources(&specs)?;
    let existing = docker::lab_containers(docker, Some(system)).await?;
    if !existing.is_empty() || !docker::lab_networks(docker, Some(system)).await?.is_empty() {
        return Err(Error::LabAlreadyUp {
            system: system.to_string(),
            containers: existing.len(),
        });
    }
    let made = Made::default();
    let attempt = async {
        // Images first: nothing is created until every image exists.
        images::ensure(docker, &home.builds(&specs), false, progress).await?;
        for image in specs
            .iter()
            .flat_map(|n| &n.containers)
            .filter(|c| c.build.is_none())
            .map(|c| c.image.clone())
            .collect::<BTreeSet<_>>()
        {
            ensure_pulled(docker, &image, progress).await?;
        }
        let lab = create(docker, system, &def, &specs, &made, progress).await?;
        let timeout = opts.ready_timeout.unwrap_or(def.perseus.ready_timeout);
        progress(&format!(
            "waiting for {system} to be ready (at most {} s)",
            timeout.as_secs()
        ));
        let deadline = Instant::now() + timeout;
        initialize(docker, &lab, deadline, progress).await?;
        wait_ready(
            docker,
            &lab,
            deadline.saturating_duration_since(Instant::now()),
        )
        .await?;
        apply_schema(&lab, deadline, progress).await?;
        Ok::<Lab, Error>(lab)
    };
    let result = tokio::select! {
        r = attempt => r,
        _ = cancel.cancelled() => Err(Error::Interrupted),
    };
    match result {
        Ok(lab) => Ok(LabHandle::new(docker, lab)),
        Err(e) => Err(roll_back(docker, &made, e, system, progress).await),
    }
}

/// The one place a failed `up` or `add_node` is undone: remove what it made, say so, and hand the
/// error back.
async fn roll_back(
    docker: &Docker,
    made: &Made,
    error: Error,
    system: &str,
    progress: &mut dyn FnMut(&str),
) -> Error {
    progress(&format!("failed; removing what it created ({error})"));
    if let Err(d) = made.undo(docker).await {
        progress(&format!(
            "removing it failed too ({d}): run `perseus lab down {system}`"
        ));
    }
    error
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

async fn create(
    docker: &Docker,
    system: &str,
    def: &Definition,
    specs: &[NodeSpec],
    made: &Made,
    progress: &mut dyn FnMut(&str),
) -> Result<Lab> {
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
    made.network(&network);
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
    Ok(Lab {
        system: system.to_string(),
        network,
        definition: def.clone(),
        nodes,
    })
}

/// Create the named volumes `specs` mount that do not exist yet, concurrently, recording each in
/// `made`.
///
/// Errors: [`Error::Docker`] naming the volume the Engine refused.
async fn make_volumes(
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
        docker
            .create_volume(VolumeCreateRequest {
                name: Some(v.clone()),
                labels: Some(docker::labels(system, &[])),
                ..Default::default()
            })
            .await
            .map(|_| made.volume(v))
            .map_err(Error::docker(format!("creating volume {v}")))
    }))
    .await;
    results.into_iter().collect::<Result<Vec<_>>>()?;
    Ok(())
}

/// Create the containers of one node (main first, then sidecars in its namespace) at `ip` on the
/// lab network, recording each in `made`. Volumes must exist already.
async fn create_node(
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
        docker
            .create_container(Some(opts), body)
            .await
            .map_err(Error::docker(format!("creating container {name}")))?;
        made.container(&name);
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
async fn start_nodes(docker: &Docker, nodes: &[Node]) -> Result<()> {
    let mains =
        futures_util::future::join_all(nodes.iter().map(|n| docker::start(docker, &n.main))).await;
    mains.into_iter().collect::<Result<Vec<_>>>()?;
    let sidecars = nodes.iter().flat_map(|n| n.containers.iter().skip(1));
    let started = futures_util::future::join_all(sidecars.map(|c| docker::start(docker, c))).await;
    started.into_iter().collect::<Result<Vec<_>>>()?;
    Ok(())
}

/// Run the definition's `init` command (if any) in its node until it exits 0, by `deadline`.
///
/// Errors: [`Error::NotReady`] with the command's last output when it never succeeds, or when the
/// node's container has stopped.
pub async fn initialize(
    docker: &Docker,
    lab: &Lab,
    deadline: Instant,
    progress: &mut dyn FnMut(&str),
) -> Result<()> {
    let Some(init) = &lab.definition.perseus.init else {
        return Ok(());
    };
    let node = lab.node(&init.node)?;
    progress(&format!(
        "initialising: {} on {}",
        init.command.join(" "),
        node.name
    ));
    let started = Instant::now();
    let mut last = String::from("not run yet");
    while Instant::now() < deadline {
        let running = docker::inspect(docker, &node.main)
            .await?
            .state
            .and_then(|s| s.running)
            .unwrap_or(false);
        if !running {
            return Err(Error::NotReady {
                system: lab.system.clone(),
                waited: started.elapsed(),
                detail: format!(
                    "{} stopped before it could be initialised; its last log lines:\n{}",
                    node.name,
                    docker::tail_logs(docker, &node.main, 40).await
                ),
            });
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match docker::exec(
            docker,
            &node.main,
            &init.command,
            left.min(Duration::from_secs(30)),
        )
        .await
        {
            Ok(out) if out.code == Some(0) => return Ok(()),
            // An earlier attempt that outlived its wait may have done the work after all.
            Ok(out)
                if init
                    .already_done
                    .as_deref()
                    .is_some_and(|text| out.output.contains(text)) =>
            {
                return Ok(())
            }
            Ok(out) => last = format!("exit {:?}: {}", out.code, out.output.trim()),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Err(Error::NotReady {
        system: lab.system.clone(),
        waited: started.elapsed(),
        detail: format!("`{}` never succeeded; last: {last}", init.command.join(" ")),
    })
}

/// Make what the load loop needs ([`System::prepare`]: the definition's `schema` statements for
/// the SQL systems) by `deadline`: through one node (the next one on failure, a moment later) or,
/// with `schema-on: every-node`, through each node. Each attempt is retried until it succeeds.
///
/// Errors: [`Error::NotReady`] with the last failure (the statement and the server's answer).
pub async fn apply_schema(
    lab: &Lab,
    deadline: Instant,
    progress: &mut dyn FnMut(&str),
) -> Result<()> {
    let schema = &lab.definition.settings.schema;
    if schema.is_empty() {
        return Ok(());
    }
    let targets: Vec<Vec<&Node>> = match lab.definition.perseus.schema_on {
        definition::SchemaOn::OneNode => vec![lab.nodes.iter().collect()],
        definition::SchemaOn::EveryNode => lab.nodes.iter().map(|n| vec![n]).collect(),
    };
    progress(&format!(
        "creating the schema ({} statements{})",
        schema.len(),
        if targets.len() > 1 {
            ", on every node"
        } else {
            ""
        }
    ));
    let started = Instant::now();
    let system = lab.kind();
    let cluster = lab.cluster();
    // Each target (every node, for independent servers) concurrently.
    let jobs = targets.into_iter().map(|candidates| {
        let cluster = &cluster;
        async move {
            let mut last = Some("the lab's ready-timeout ran out first".to_string());
            for node in candidates.iter().cycle() {
                if Instant::now() >= deadline {
                    break;
                }
                let left = deadline.saturating_duration_since(Instant::now());
                last = system
                    .prepare(cluster, &node.endpoint(), left.min(Duration::from_secs(30)))
                    .await
                    .err()
                    .map(|e| format!("on {}: {e}", node.name));
                if last.is_none() {
                    break;
                }
                tokio::time::sleep(SCHEMA_RETRY).await;
            }
            last
        }
    });
    match futures_util::future::join_all(jobs)
        .await
        .into_iter()
        .flatten()
        .next()
    {
        Some(last) => Err(Error::NotReady {
            system: lab.system.clone(),
            waited: started.elapsed(),
            detail: format!("the schema could not be created; last failure {last}"),
        }),
        None => Ok(()),
    }
}

/// Pause between attempts to create the schema on a node that refused it (still starting up).
const SCHEMA_RETRY: Duration = Duration::from_millis(250);

/// Add one node to a running lab: `n<N+1>`, cloned from the definition's template with every
/// `each-node` variable rebuilt for N+1 nodes and the same images as the template's containers,
/// started and waited for until the whole cluster is ready again (N+1 nodes).
///
/// Errors: [`Error::BadInput`] when the system does not take new nodes (`x-perseus.add-node`) or
/// the lab has [`definition::MAX_NODES`]; [`Error::NotReady`] when the cluster does not become
/// ready, after removing the new node's containers and volumes.
pub async fn add_node(
    docker: &Docker,
    home: &Home,
    system: &str,
    cancel: &CancellationToken,
    progress: &mut dyn FnMut(&str),
) -> Result<Node> {
    let not_joinable = |system: &str| {
        Error::BadInput(format!(
            "{system} does not take new nodes while it runs (its membership is fixed when the lab comes up): use `perseus lab up {system} --nodes N` instead"
        ))
    };
    // The running lab's own definition decides (it may come from --file); with no lab up, say
    // first whether the system could take a node at all.
    let lab = match open(docker, home, system).await {
        Ok(lab) => lab,
        Err(e @ Error::LabNotUp { .. }) => {
            if !home.definition(system, None)?.perseus.add_node {
                return Err(not_joinable(system));
            }
            return Err(e);
        }
        Err(e) => return Err(e),
    };
    let def = &lab.definition;
    if !def.perseus.add_node {
        return Err(not_joinable(system));
    }
    // After the highest node there is, even if some node was removed by hand.
    let n = lab
        .nodes
        .iter()
        .filter_map(|node| node.name.trim_start_matches('n').parse::<usize>().ok())
        .max()
        .unwrap_or(0)
        + 1;
    if n > definition::MAX_NODES {
        return Err(Error::BadInput(format!(
            "{system} already has a node n{}, the highest the lab makes",
            n - 1
        )));
    }
    let mut spec = def.nodes(n)?.pop().expect("nodes(n) returns n nodes");
    // The new node runs what the template node runs (including any --image override).
    for c in &mut spec.containers {
        let twin = definition::replace_word(&c.service, &spec.name, &def.perseus.template);
        let running = docker::inspect(docker, &container_name(system, &twin)).await?;
        if let Some(image) = running.config.and_then(|cfg| cfg.image) {
            c.image = image;
        }
    }
    let first = lab
        .nodes
        .first()
        .map(|n| n.ip.octets())
        .unwrap_or([10, 77, 0, 0]);
    let ip = Ipv4Addr::new(first[0], first[1], first[2], 10 + n as u8);
    check_bind_sources(std::slice::from_ref(&spec))?;
    // A container of that name left from elsewhere is not ours to replace (or remove).
    for c in &spec.containers {
        let name = container_name(system, &c.service);
        if docker::inspect(docker, &name).await.is_ok() {
            return Err(Error::BadInput(format!(
                "container {name} already exists: remove it (`docker rm -f {name}`) or bring the lab down and up again"
            )));
        }
    }
    let made = Made::default();
    let attempt = async {
        make_volumes(docker, system, std::slice::from_ref(&spec), &made).await?;
        let node = create_node(docker, system, def, &lab.network, &spec, ip, &made).await?;
        start_nodes(docker, std::slice::from_ref(&node)).await?;
        progress(&format!(
            "started {} {}; waiting for the cluster to take it in",
            node.name, node.ip
        ));
        let mut grown = lab.clone();
        grown.nodes.push(node.clone());
        wait_ready(docker, &grown, def.perseus.ready_timeout).await?;
        Ok::<Node, Error>(node)
    };
    let result = tokio::select! {
        r = attempt => r,
        _ = cancel.cancelled() => Err(Error::Interrupted),
    };
    match result {
        Ok(node) => Ok(node),
        Err(e) => Err(roll_back(docker, &made, e, system, progress).await),
    }
}

/// How often `lab up` asks a starting cluster whether it is ready. The probes are cheap, and
/// every poll period is time a fast system (Redis, PostgreSQL) waits for nothing.
const READY_POLL: Duration = Duration::from_millis(50);

/// Wait until the readiness probe passes, failing early when a node's container stops.
///
/// Errors: [`Error::NotReady`] with what was missing and the last log lines of the nodes concerned.
pub async fn wait_ready(docker: &Docker, lab: &Lab, timeout: Duration) -> Result<()> {
    let system = lab.kind();
    let cluster = lab.cluster();
    let started = Instant::now();
    let mut last = systems::Pending::cluster("no answer yet");
    while started.elapsed() < timeout {
        // A node whose container died will never be ready: say so now, with its logs. The
        // containers are inspected while the probe runs, so a poll costs one round trip.
        let containers = lab
            .nodes
            .iter()
            .flat_map(|n| n.containers.iter().map(move |c| (n, c)));
        let states = futures_util::future::join_all(
            containers.map(|(n, c)| async move { (n, c, crate::docker::inspect(docker, c).await) }),
        );
        let (states, answer) = tokio::join!(states, system.ready(&cluster));
        for (n, c, info) in states {
            let state = info?.state;
            if !state.as_ref().and_then(|s| s.running).unwrap_or(false) {
                let code = state.and_then(|s| s.exit_code).unwrap_or(-1);
                return Err(Error::NotReady {
                    system: lab.system.clone(),
                    waited: started.elapsed(),
                    detail: format!(
                        "container {c} of {} exited (code {code}); its last log lines:\n{}",
                        n.name,
                        docker::tail_logs(docker, c, 40).await
                    ),
                });
            }
        }
        match answer {
            Ok(()) => return Ok(()),
            Err(why) => last = why,
        }
        tokio::time::sleep(READY_POLL).await;
    }
    let mut logs = String::new();
    let names = lab.node_names();
    let concerned = last.nodes(&names);
    for n in lab.nodes.iter().filter(|n| concerned.contains(&&n.name)) {
        logs.push_str(&format!(
            "--- {} ({}) last log lines:\n{}\n",
            n.name,
            n.main,
            docker::tail_logs(docker, &n.main, 15).await
        ));
    }
    Err(Error::NotReady {
        system: lab.system.clone(),
        waited: timeout,
        detail: format!("{last}\n{logs}"),
    })
}

/// Find the running lab of `system` from its labels.
///
/// Errors: [`Error::LabNotUp`] when it has no containers.
pub async fn open(docker: &Docker, home: &Home, system: &str) -> Result<Lab> {
    let containers = docker::lab_containers(docker, Some(system)).await?;
    if containers.is_empty() {
        return Err(Error::LabNotUp {
            system: system.to_string(),
        });
    }
    let mut by_node: BTreeMap<usize, Node> = BTreeMap::new();
    let mut def_path: Option<PathBuf> = None;
    for c in &containers {
        let labels = c.labels.clone().unwrap_or_default();
        let name = c
            .names
            .as_ref()
            .and_then(|n| n.first())
            .map(|n| n.trim_start_matches('/').to_string())
            .unwrap_or_default();
        let (Some(node), Some(role)) = (labels.get(NODE_LABEL), labels.get(ROLE_LABEL)) else {
            continue;
        };
        if role == "helper" {
            continue;
        }
        let idx: usize = node.trim_start_matches('n').parse().unwrap_or(usize::MAX);
        let ip: Ipv4Addr = labels
            .get(IP_LABEL)
            .and_then(|s| s.parse().ok())
            .unwrap_or(Ipv4Addr::UNSPECIFIED);
        let port: u16 = labels
            .get(PORT_LABEL)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        if def_path.is_none() {
            def_path = labels.get(docker::DEFINITION_LABEL).map(PathBuf::from);
        }
        let entry = by_node.entry(idx).or_insert_with(|| Node {
            name: node.clone(),
            main: String::new(),
            containers: Vec::new(),
            ip,
            client_port: port,
        });
        if role == "main" {
            entry.main = name.clone();
            entry.containers.insert(0, name);
        } else {
            entry.containers.push(name);
        }
    }
    let definition = match def_path.filter(|p| p.exists()) {
        Some(p) => Definition::load(&p)?,
        None => home.definition(system, None)?,
    };
    Ok(Lab {
        system: system.to_string(),
        network: network_name(system),
        definition,
        nodes: by_node.into_values().collect(),
    })
}

/// What [`down`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DownReport {
    /// Containers removed (nodes, sidecars, helpers).
    pub containers: usize,
    /// Networks removed.
    pub networks: usize,
    /// Volumes removed.
    pub volumes: usize,
}

/// Remove every labelled object of `system`'s lab: containers (forced), networks, volumes.
/// Idempotent: a lab that is not there removes nothing and succeeds.
pub async fn down(docker: &Docker, system: &str) -> Result<DownReport> {
    let mut report = DownReport::default();
    let containers = docker::lab_containers(docker, Some(system)).await?;
    let removals = containers
        .iter()
        .filter_map(|c| c.id.clone())
        .map(|id| async move {
            let opts = RemoveContainerOptionsBuilder::default()
                .force(true)
                .v(true)
                .build();
            match docker.remove_container(&id, Some(opts)).await {
                Ok(()) => Ok(true),
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => Ok(false),
                Err(e) => Err(Error::Docker {
                    context: format!("removing container {id}"),
                    source: e,
                }),
            }
        });
    for r in futures_util::future::join_all(removals).await {
        if r? {
            report.containers += 1;
        }
    }
    for n in docker::lab_networks(docker, Some(system)).await? {
        let Some(id) = n.id else { continue };
        match docker.remove_network(&id).await {
            Ok(()) => report.networks += 1,
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => {}
            Err(e) => {
                return Err(Error::Docker {
                    context: format!("removing network {id}"),
                    source: e,
                })
            }
        }
    }
    for v in docker::lab_volumes(docker, Some(system)).await? {
        let opts = RemoveVolumeOptionsBuilder::default().force(true).build();
        match docker.remove_volume(&v.name, Some(opts)).await {
            Ok(()) => report.volumes += 1,
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => {}
            Err(e) => {
                return Err(Error::Docker {
                    context: format!("removing volume {}", v.name),
                    source: e,
                })
            }
        }
    }
    Ok(report)
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
        let def = Definition::load(
            &Home::at(env!("CARGO_MANIFEST_DIR"))
                .root()
                .join("compose/tidb.yaml"),
        )
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

    #[test]
    fn names_carry_the_system() {
        assert_eq!(container_name("etcd", "n1"), "perseus-etcd-n1");
        assert_eq!(network_name("etcd"), "perseus-etcd");
        assert_eq!(volume_name("etcd", "n1-data"), "perseus-etcd-n1-data");
    }

    #[test]
    fn home_lists_systems_and_rejects_unknown_ones() {
        let home = Home::at(env!("CARGO_MANIFEST_DIR"));
        assert!(home.systems().contains(&"etcd".to_string()));
        let err = home.check_system("mongo").unwrap_err();
        assert!(err.to_string().contains("unknown system 'mongo'"), "{err}");
        assert!(err.to_string().contains("etcd"), "{err}");
        assert_eq!(err.exit_code(), 2);
        let def = home.definition("etcd", None).unwrap();
        let nodes = def.nodes(5).unwrap();
        assert_eq!(nodes[4].containers[0].command.as_ref().unwrap()[1], "n5");
    }
}
