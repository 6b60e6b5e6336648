//! The lab: one running cluster of one system, with its network, volumes and nodes.
//!
//! [`up`] reads the definition, makes sure the images exist (building them offline when needed),
//! creates a network with a subnet of its own, the volumes and the node containers (each node at a
//! fixed address, so that `fault connect` gives it back the same one), starts them and waits until
//! the system's readiness probe passes. It returns a [`LabHandle`] that owns what it made, as
//! testcontainers-rs owns a container: [`LabHandle::down`] removes the lab, [`LabHandle::keep`]
//! leaves it up for later commands, and dropping the handle without either removes it too (the
//! safety net). If `up` or [`add_node`] fails, or their cancellation token is cancelled (Ctrl-C), one
//! place removes exactly what they had created (`Made`). [`open`] finds a running lab again from
//! the labels on its containers, so every other command (status, load, fault, down) works from a
//! fresh process, even after perseus crashed.

pub mod claim;
pub mod compose;
mod create;
pub mod definition;
pub mod helper;
mod home;
pub mod hosts;
pub mod lazy;
mod model;
mod nodes;
mod promotions;
mod ready;
mod remove;
pub mod version;

pub use crate::error::LabError;
use crate::images;
pub use crate::images::HELPER_IMAGE;
pub use create::{
    check_bind_sources, container_name, ensure_pulled, image_repository, network_name,
    override_images, volume_name, Node,
};
use create::{create_lab, create_node, make_volumes, start_nodes, Made, Spread};
pub use home::{catalog, Catalogued, CataloguedRelease, Home, ImageSource};
pub use model::Lab;
pub use promotions::{promotions, promotions_in, Promotion};
pub use ready::{apply_schema, check_release, initialize, wait_ready};
pub use remove::DownReport;
use remove::Scope;
pub use version::{Release, SystemRef};

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::ops::Deref;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bollard::Docker;
use tokio_util::sync::CancellationToken;

use crate::docker::{self, IP_LABEL, LAB_LABEL, NODE_LABEL, PORT_LABEL, ROLE_LABEL};
use crate::error::{Error, Result};
use definition::Definition;

/// A lab this process brought up, and owns: [`LabHandle::down`] removes it, [`LabHandle::keep`]
/// leaves it up (for `perseus lab up`, or a run asked to `--keep` it). Dropped without either (a
/// panic, an early return), it removes the lab then, on a thread of its own: the safety net.
/// While it lives it holds the lab's claim ([`claim`]), so no other process brings the same lab
/// up or down meanwhile. Reads as the [`Lab`] it holds.
#[derive(Debug)]
pub struct LabHandle {
    lab: Lab,
    owned: bool,
    claim: Option<claim::Claim>,
}

impl LabHandle {
    /// Take ownership of a lab this process made under `claim`.
    fn new(lab: Lab, claim: claim::Claim) -> LabHandle {
        LabHandle {
            lab,
            owned: true,
            claim: Some(claim),
        }
    }

    /// Remove the lab (containers, networks, volumes), then give up its claim.
    ///
    /// Errors: [`Error::DownIncomplete`] or [`Error::Docker`] when the Engine does not let it go;
    /// `perseus lab down` finishes it.
    pub async fn down(mut self) -> Result<DownReport> {
        self.owned = false;
        let removed = remove_lab(&self.lab.docker, &self.lab.system, None, None).await;
        if let Some(claim) = self.claim.take() {
            release(claim).await;
        }
        removed
    }

    /// Leave the lab up: the handle lets go of it (and of its claim), and later commands find it
    /// by its labels.
    pub async fn keep(mut self) -> Lab {
        self.owned = false;
        if let Some(claim) = self.claim.take() {
            release(claim).await;
        }
        self.lab.clone()
    }
}

/// Give a claim up; a failure is only said (the claim's holder is this process, which is about
/// to let go: the next maker takes it over).
async fn release(claim: claim::Claim) {
    let system = claim.system().to_string();
    if let Err(e) = claim.release().await {
        eprintln!("perseus: the claim on the {system} lab was not removed ({e}); the next `perseus lab` command takes it over");
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
        // here: a thread of its own, with its own runtime and Engine connection, does the removal
        // (the claim, a field, is released after it by its own Drop).
        let system = self.lab.system.clone();
        let removed = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(async {
                let docker = docker::connect().await.map_err(|e| e.to_string())?;
                remove_lab(&docker, &system, None, None)
                    .await
                    .map_err(|e| e.to_string())
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

/// Options of [`up`].
#[derive(Debug, Clone)]
pub struct UpOptions {
    /// Number of nodes.
    pub nodes: usize,
    /// A definition file other than `compose/<system>.yaml`.
    pub file: Option<PathBuf>,
    /// Override of the definition's readiness wait.
    pub ready_timeout: Option<Duration>,
    /// The release to run (`3.5.1`; `None`: the definition's default), one its
    /// `x-perseus.versions` lists.
    pub version: Option<String>,
    /// Image overrides (`repository:tag`): each replaces the image of every container whose
    /// image has the same repository (`--image cockroachdb/cockroach:v24.3.3`).
    pub images: Vec<String>,
    /// The Docker hosts to spread the nodes over (`--hosts`; empty: this machine's engine).
    pub hosts: Vec<hosts::HostSpec>,
    /// Nodes placed on a given host (`--place n1=2`, as `(node, 0-based host index)`); the
    /// others go round-robin.
    pub place: Vec<(String, usize)>,
    /// Run the nodes under the lazy file system (`--lazyfs`; [`lazy`]), as the definition's
    /// `lazyfs: true` does.
    pub lazyfs: bool,
}

/// Which system a command means: the one named (`etcd`, or `etcd@3.5.1`, which must then be the
/// release its lab runs), or the only lab that is up.
///
/// Errors: [`Error::UnknownSystem`] for a name no definition has; [`LabError::OtherVersionUp`]
/// for a release the running lab is not at; [`Error::NoLabUp`] or
/// [`Error::SeveralLabsUp`] when none was named and zero or several labs are up.
pub async fn resolve_system(docker: &Docker, home: &Home, named: Option<&str>) -> Result<String> {
    if let Some(s) = named {
        // `etcd@3.5.1` names the etcd lab, and must be a release it lists and the one it runs
        // when it is up.
        let named = SystemRef::parse(s)?;
        home.check_system(&named.system)?;
        if let Some(asked) = &named.version {
            home.definition(&named.system, None)?.at(Some(asked))?;
            if labs_up(docker).await?.contains(&named.system) {
                let lab = open(docker, home, &named.system).await?;
                if lab.definition.version() != Some(asked.as_str()) {
                    return Err(LabError::OtherVersionUp {
                        system: named.system.clone(),
                        running: lab
                            .definition
                            .version()
                            .unwrap_or("its only release")
                            .to_string(),
                        asked: asked.clone(),
                    }
                    .into());
                }
            }
        }
        return Ok(named.system);
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
    out.extend(hosts::Record::systems());
    Ok(out)
}

/// Bring a lab up; see the module docs. `progress` gets one line per step; cancelling `cancel`
/// (Ctrl-C) stops it.
///
/// Errors: [`Error::LabAlreadyUp`], [`Error::UnknownSystem`], [`Error::Definition`],
/// [`LabError`] for a bind mount whose source is missing or a placement that cannot be made, [`Error::ImageMissing`] (all
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
    let mut def = home
        .definition(system, opts.file.as_deref())?
        .at(opts.version.as_deref())?;
    let mut specs = def.nodes(opts.nodes)?;
    override_images(system, &mut specs, &opts.images)?;
    // `--image` over the system's own image: it is no longer a release the definition knows.
    let replaced = specs.iter().flat_map(|n| &n.containers).any(|c| {
        c.version.is_some()
            && c.build.is_none()
            && def
                .version()
                .is_some_and(|v| !c.image.ends_with(&format!(":{v}")))
    });
    if replaced {
        if let Some(v) = &opts.version {
            return Err(Error::Usage(format!(
                "{system}@{v} and --image both choose {system}'s image: give one of them"
            )));
        }
        def.release = None;
        for c in specs.iter_mut().flat_map(|n| n.containers.iter_mut()) {
            c.version = None;
        }
    }
    check_bind_sources(&specs)?;
    let lazy = lazy::plan(&def, system, opts.lazyfs)?;
    // The hosts given (--hosts, a scenario's hosts:), else the definition's own.
    let host_list = if opts.hosts.is_empty() {
        &def.perseus.hosts
    } else {
        &opts.hosts
    };
    let spread = if host_list.is_empty() {
        if !opts.place.is_empty() {
            return Err(LabError::PlaceWithoutHosts.into());
        }
        Spread::default()
    } else {
        if let Err(why) = def.system.across_hosts() {
            return Err(LabError::NotAcrossHosts {
                system: system.to_string(),
                why: why.to_string(),
            }
            .into());
        }
        let placement = hosts::place(specs.len(), host_list.len(), &opts.place)?;
        progress(&format!(
            "checking hosts {}",
            host_list
                .iter()
                .map(|h| h.url.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
        let (engines, manager) = hosts::prepare(host_list).await?;
        Spread {
            engines,
            placement,
            manager,
        }
    };
    // One writer per lab: the claim lives where the lab's network does (the manager's engine
    // across hosts), and is taken before anything is looked at or made.
    let (engine, local) = match spread.engines.get(spread.manager) {
        Some(e) => (&e.docker, false),
        None => (docker, true),
    };
    let claim = claim::take(engine, system, &claim::command_line(), local, progress).await?;
    let built = async {
        let existing = if spread.engines.is_empty() {
            docker::lab_containers(docker, Some(system)).await?.len()
                + docker::lab_networks(docker, Some(system)).await?.len()
        } else {
            let mut n = 0;
            for e in &spread.engines {
                n += docker::lab_containers(&e.docker, Some(system)).await?.len();
            }
            n + docker::lab_networks(&spread.engines[spread.manager].docker, Some(system))
                .await?
                .len()
        };
        if existing > 0 || hosts::Record::load(system)?.is_some() {
            return Err(Error::LabAlreadyUp {
                system: system.to_string(),
                containers: existing,
            });
        }
        // Images first: nothing is created until every image exists, so a cancellation here leaves
        // nothing to undo.
        let images = async {
            images::ensure(
                docker,
                &home.builds(&specs),
                images::Rebuild::Missing,
                images::JOBS,
                progress,
            )
            .await?;
            for image in specs
                .iter()
                .flat_map(|n| &n.containers)
                .filter(|c| c.build.is_none())
                .map(|c| c.image.clone())
                .collect::<BTreeSet<_>>()
            {
                ensure_pulled(docker, &image, progress).await?;
            }
            // Across hosts, each gets the images of its nodes and the network helper's from here.
            for (h, engine) in spread.engines.iter().enumerate() {
                let mut wanted: BTreeSet<String> = specs
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| spread.placement[*i] == h)
                    .flat_map(|(_, n)| n.containers.iter().map(|c| c.image.clone()))
                    .collect();
                wanted.insert(HELPER_IMAGE.to_string());
                let wanted: Vec<String> = wanted.into_iter().collect();
                images::ship(docker, &engine.docker, &engine.spec.url, &wanted, progress).await?;
            }
            Ok::<(), Error>(())
        };
        tokio::select! {
            r = images => r?,
            _ = cancel.cancelled() => return Err(Error::Interrupted),
        }
        if let Some((dir, bin)) = &lazy {
            // The supervisor runs what the image would have run: its entrypoint, command and user.
            for spec in specs.iter_mut() {
                if let Some(image) = spec
                    .containers
                    .iter()
                    .find(|c| c.main)
                    .map(|c| c.image.clone())
                {
                    let run = lazy::ImageRun::of(docker, &image).await?;
                    lazy::wrap(spec, dir, bin, &run);
                }
            }
            progress(&format!(
                "each node's {dir} is mounted through the lazy file system ({})",
                bin.display()
            ));
        }
        // Creating is not cut short: the Engine finishes a create whose request was dropped, and the
        // object would appear after the undo. It takes about a second; a cancellation is acted on
        // right after it.
        let made = if spread.engines.is_empty() {
            Made::new(system)
        } else {
            // Recorded before anything is made on the hosts, so that `lab down` finds them even
            // if this process dies midway.
            hosts::Record {
                hosts: spread.engines.iter().map(|e| e.spec.url.clone()).collect(),
                manager: spread.manager,
            }
            .save(system)?;
            Made::across(
                system,
                spread.engines.iter().map(|e| e.docker.clone()).collect(),
                Some(spread.engines[spread.manager].docker.clone()),
            )
        };
        let lab = match create_lab(docker, system, &def, &specs, &spread, &made, progress).await {
            Ok((network, nodes)) => Lab {
                system: system.to_string(),
                network,
                definition: def.clone(),
                nodes,
                hosts: spread.engines.clone(),
                docker: docker.clone(),
            },
            Err(e) => return Err(roll_back(docker, &made, e, system, progress).await),
        };
        let ready = async {
            if cancel.is_cancelled() {
                return Err(Error::Interrupted);
            }
            let timeout = opts.ready_timeout.unwrap_or(def.perseus.ready_timeout);
            progress(&format!(
                "waiting for {system} to be ready (at most {} s)",
                timeout.as_secs()
            ));
            let deadline = Instant::now() + timeout;
            // The nodes' network helpers start while the cluster gets ready.
            let helpers = helper::start_all(&lab, &made);
            let cluster = async {
                initialize(&lab, deadline, progress).await?;
                wait_ready(&lab, deadline.saturating_duration_since(Instant::now())).await?;
                apply_schema(&lab, deadline, progress).await?;
                check_release(&lab).await?;
                lazy::settle(&lab).await
            };
            // The cluster's own failure (with the nodes' logs) says more than a helper's.
            let (helpers, cluster) = tokio::join!(helpers, cluster);
            cluster.and(helpers)
        };
        let result = tokio::select! {
            r = ready => r,
            _ = cancel.cancelled() => Err(Error::Interrupted),
        };
        match result {
            Ok(()) => Ok(lab),
            Err(e) => Err(roll_back(docker, &made, e, system, progress).await),
        }
    }
    .await;
    match built {
        Ok(lab) => Ok(LabHandle::new(lab, claim)),
        Err(e) => {
            release(claim).await;
            Err(e)
        }
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
    match made.undo(docker).await {
        Err(d) => progress(&format!(
            "removing it failed too ({d}): run `perseus lab down {system}`"
        )),
        Ok(()) if made.spread() => {
            if let Err(d) = hosts::Record::forget(system) {
                progress(&format!("{d}"));
            }
        }
        Ok(()) => {}
    }
    error
}

/// Add one node to a running lab: `n<N+1>`, cloned from the definition's template with every
/// `each-node` variable rebuilt for N+1 nodes and the same images as the template's containers,
/// started and waited for until the whole cluster is ready again (N+1 nodes).
///
/// Errors: [`LabError::FixedMembership`] when the system does not take new nodes
/// (`x-perseus.add-node`), [`LabError::Full`] when the lab has [`definition::MAX_NODES`]; [`Error::NotReady`] when the cluster does not become
/// ready, after removing the new node's containers and volumes; [`LabError::Claimed`] when another
/// process is changing the lab.
pub async fn add_node(
    docker: &Docker,
    home: &Home,
    system: &str,
    cancel: &CancellationToken,
    progress: &mut dyn FnMut(&str),
) -> Result<Node> {
    // A lab across hosts is refused below, so the claim is this machine's.
    let claim = claim::take(docker, system, &claim::command_line(), true, progress).await?;
    let added = add_node_claimed(docker, home, system, cancel, progress).await;
    release(claim).await;
    added
}

/// [`add_node`] under the lab's claim.
async fn add_node_claimed(
    docker: &Docker,
    home: &Home,
    system: &str,
    cancel: &CancellationToken,
    progress: &mut dyn FnMut(&str),
) -> Result<Node> {
    let not_joinable = |system: &str| {
        Error::from(LabError::FixedMembership {
            system: system.to_string(),
        })
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
    if !lab.hosts.is_empty() {
        return Err(LabError::AddNodeAcrossHosts {
            system: system.to_string(),
        }
        .into());
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
        return Err(LabError::Full {
            system: system.to_string(),
            highest: n - 1,
        }
        .into());
    }
    let mut spec = def.nodes(n)?.pop().expect("nodes(n) returns n nodes");
    // The new node runs what the template node runs (including any --image override).
    for c in &mut spec.containers {
        let twin = compose::replace_word(&c.service, &spec.name, &def.perseus.template);
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
            return Err(LabError::ContainerExists { name: name.clone() }.into());
        }
    }
    // As in `up`, creating is not cut short (the Engine would finish it after the undo); a
    // cancellation is acted on right after it.
    let made = Made::new(system);
    let created = async {
        make_volumes(docker, system, std::slice::from_ref(&spec), &made).await?;
        let at = create::At {
            docker,
            host: 0,
            publish: None,
        };
        let node = create_node(at, system, def, &lab.network, &spec, ip, &made).await?;
        start_nodes(docker, &Spread::default(), std::slice::from_ref(&node)).await?;
        Ok::<Node, Error>(node)
    };
    let node = match created.await {
        Ok(node) => node,
        Err(e) => return Err(roll_back(docker, &made, e, system, progress).await),
    };
    progress(&format!(
        "started {} {}; waiting for the cluster to take it in",
        node.name, node.ip
    ));
    let mut grown = lab.clone();
    grown.nodes.push(node.clone());
    let ready = async {
        let (helper, cluster) = tokio::join!(
            helper::create(&grown, &node.name, Some(&made)),
            wait_ready(&grown, def.perseus.ready_timeout)
        );
        cluster.and(helper.map(|_| ()))
    };
    let result = tokio::select! {
        r = ready => r,
        _ = cancel.cancelled() => Err(Error::Interrupted),
    };
    match result {
        Ok(()) => Ok(node),
        Err(e) => Err(roll_back(docker, &made, e, system, progress).await),
    }
}

/// Find the running lab of `system` from its labels.
///
/// Errors: [`Error::LabNotUp`] when it has no containers.
pub async fn open(docker: &Docker, home: &Home, system: &str) -> Result<Lab> {
    let engines = match hosts::Record::load(system)? {
        Some(record) => record.engines().await?,
        None => Vec::new(),
    };
    let mut containers = Vec::new();
    if engines.is_empty() {
        for c in docker::lab_containers(docker, Some(system)).await? {
            containers.push((0, c));
        }
    } else {
        for (h, e) in engines.iter().enumerate() {
            for c in docker::lab_containers(&e.docker, Some(system)).await? {
                containers.push((h, c));
            }
        }
    }
    if containers.is_empty() {
        return Err(Error::LabNotUp {
            system: system.to_string(),
        });
    }
    let mut by_node: BTreeMap<usize, Node> = BTreeMap::new();
    let mut def_path: Option<PathBuf> = None;
    let mut version: Option<String> = None;
    for (host, c) in &containers {
        let labels = c.labels.clone().unwrap_or_default();
        if version.is_none() {
            version = labels.get(docker::VERSION_LABEL).cloned();
        }
        let name = c
            .names
            .as_ref()
            .and_then(|n| n.first())
            .map(|n| n.trim_start_matches('/').to_string())
            .unwrap_or_default();
        let (Some(node), Some(role)) = (labels.get(NODE_LABEL), labels.get(ROLE_LABEL)) else {
            continue;
        };
        if role == helper::ROLE {
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
            name: node.clone().into(),
            main: String::new(),
            containers: Vec::new(),
            ip,
            client_port: port,
            host: *host,
            published: None,
            probes: Vec::new(),
            lazy: None,
        });
        if role == "main" {
            entry.main = name.clone();
            entry.lazy = labels.get(lazy::LABEL).cloned();
            entry.containers.insert(0, name);
            // Where the node publishes its client port: fixed by its place in the lab, so
            // known while it is stopped too.
            if let Some(engine) = engines.get(*host) {
                let port = create::published_port(ip.octets()[2], idx.saturating_sub(1));
                entry.published = Some(hosts::published_addr(&engine.spec, port).await?);
            }
        } else {
            entry.containers.push(name);
        }
    }
    let definition = match def_path.filter(|p| p.exists()) {
        Some(p) => Definition::load(&p)?,
        None => home.definition(system, None)?,
    }
    .at(version.as_deref())?;
    // Across hosts, the probe ports are published beside the client port (create::published_addrs).
    for (idx, node) in by_node.iter_mut() {
        if let Some(client) = node.published {
            node.probes = definition
                .perseus
                .probe_ports
                .iter()
                .enumerate()
                .map(|(k, &p)| {
                    let port =
                        create::published_probe_port(node.ip.octets()[2], idx.saturating_sub(1), k);
                    (p, std::net::SocketAddr::new(client.ip(), port))
                })
                .collect();
        }
    }
    Ok(Lab {
        system: system.to_string(),
        network: network_name(system),
        definition,
        nodes: by_node.into_values().collect(),
        hosts: engines,
        docker: docker.clone(),
    })
}

/// Remove every labelled object of `system`'s lab: containers (forced), networks, volumes, in
/// rounds until none is left (a volume in use is freed by removing its containers; at most ten
/// rounds, about 15 s); on each of its hosts when it runs across several (then the overlay
/// network last, from the manager, and the record of the hosts once all are clean). It takes the
/// lab's claim first ([`claim`]), taking over a dead holder's (then it lists once more 2 s after
/// the lab looked empty, for creates the dead process had in flight). Idempotent: a lab that is
/// not there removes nothing and succeeds.
///
/// Errors: [`LabError::Claimed`] when another process is changing the lab;
/// [`Error::DownIncomplete`] naming what is left after the bound; across hosts, as
/// [`hosts::connect`] for a host that does not answer (the record is kept, so `lab down` can be
/// run again once it does).
pub async fn down(
    docker: &Docker,
    system: &str,
    progress: &mut dyn FnMut(&str),
) -> Result<DownReport> {
    let record = hosts::Record::load(system)?;
    let engines = match &record {
        Some(record) => Some(record.engines().await.map_err(|e| {
            match e {
                // A host that is gone for good would keep the lab's record forever: say how to drop it.
                Error::Host(source) => hosts::HostError::DownBlocked {
                    source: Box::new(source),
                    record: hosts::record_path(system),
                    system: system.to_string(),
                }
                .into(),
                other => other,
            }
        })?),
        None => None,
    };
    let (engine, local) = match (&record, &engines) {
        (Some(r), Some(e)) if r.manager < e.len() => (&e[r.manager].docker, false),
        _ => (docker, true),
    };
    let claim = claim::take(engine, system, &claim::command_line(), local, progress).await?;
    let settle = claim.took_over().map(|_| remove::SETTLE);
    let known = record.zip(engines);
    let removed = remove_lab(docker, system, settle, known).await;
    let released = claim.release().await;
    let report = removed?;
    released?;
    Ok(report)
}

/// [`down`]'s removals, under a claim the caller holds. `known`: the lab's hosts record and their
/// engines when the caller has connected them already; `None`: read the record here (a lab on
/// one machine has none).
async fn remove_lab(
    docker: &Docker,
    system: &str,
    settle: Option<Duration>,
    known: Option<(hosts::Record, Vec<hosts::Engine>)>,
) -> Result<DownReport> {
    let (record, engines) = match known {
        Some(known) => known,
        None => match hosts::Record::load(system)? {
            Some(record) => {
                let engines = record.engines().await?;
                (record, engines)
            }
            None => {
                return remove::converge(docker, system, Scope::All { networks: true }, settle)
                    .await
            }
        },
    };
    let mut report = DownReport::default();
    let order = (0..engines.len())
        .filter(|h| *h != record.manager)
        .chain([record.manager]);
    for h in order {
        let Some(e) = engines.get(h) else { continue };
        // The overlay network of a lab across hosts is removed from its manager only.
        let scope = Scope::All {
            networks: h == record.manager,
        };
        report.add(&remove::converge(&e.docker, system, scope, settle).await?);
    }
    hosts::Record::forget(system)?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_system() {
        assert_eq!(container_name("etcd", "n1"), "perseus-etcd-n1");
        assert_eq!(network_name("etcd"), "perseus-etcd");
        assert_eq!(volume_name("etcd", "n1-data"), "perseus-etcd-n1-data");
    }
}
