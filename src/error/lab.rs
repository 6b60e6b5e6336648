//! What bringing a lab up, growing it or giving it files refuses: [`LabError`] (re-exported as
//! `perseus::lab::LabError`). Each is the user's request or machine, so each maps to exit code 2
//! ([`super::Error::exit_code`]).

use std::path::PathBuf;

/// A lab that cannot be made as asked.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// `--lazyfs` (or a power loss) on a system whose definition does not say where its data is.
    #[error("{system} has no x-perseus.data-dir, so its nodes cannot run under the lazy file system: add data-dir (the main container's data directory) to its definition")]
    NoDataDir {
        /// The system.
        system: String,
    },
    /// A running lab without the lazy file system, for a scenario with a power loss.
    #[error("the {system} lab is up without the lazy file system, and the scenario cuts power: take it down (`perseus lab down {system}`) so that the run brings it up under it, or bring it up with `perseus lab up {system} --lazyfs`")]
    NotLazyUp {
        /// The system.
        system: String,
    },
    /// The lazy file system's binary is not next to `perseus`.
    #[error("{} is missing: build it with `cargo build --release` (the workspace builds perseus-lazyfs beside perseus)", path.display())]
    LazyfsMissing {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// A node count outside what a lab makes.
    #[error(
        "--nodes {nodes} is out of range: the lab makes 1 to {max} nodes (3 is the usual cluster)"
    )]
    NodesOutOfRange {
        /// As asked.
        nodes: usize,
        /// The most a lab makes.
        max: usize,
    },
    /// Fewer nodes than the system needs.
    #[error(
        "--nodes {nodes} is too few for {system}: it needs at least {min} (x-perseus.min-nodes)"
    )]
    TooFewNodes {
        /// As asked.
        nodes: usize,
        /// The system.
        system: String,
        /// Its minimum.
        min: usize,
    },
    /// A definition file of another system than the one named.
    #[error("{} defines system '{defined}', not '{named}': pass the matching system name", file.display())]
    OtherSystem {
        /// The definition.
        file: PathBuf,
        /// The system it defines.
        defined: String,
        /// The system named.
        named: String,
    },
    /// `--place` without hosts to place on.
    #[error("--place needs hosts (--hosts, or x-perseus.hosts in the definition): it says which of them a node runs on")]
    PlaceWithoutHosts,
    /// A system whose definition cannot run across hosts.
    #[error("{system} cannot run across --hosts: {why}; run it on one host")]
    NotAcrossHosts {
        /// The system.
        system: String,
        /// What in its definition keeps it on one host.
        why: String,
    },
    /// `lab add-node` on a system whose membership is fixed.
    #[error("{system} does not take new nodes while it runs (its membership is fixed when the lab comes up): use `perseus lab up {system} --nodes N` instead")]
    FixedMembership {
        /// The system.
        system: String,
    },
    /// `lab add-node` on a lab across hosts.
    #[error("the {system} lab runs across hosts, and add-node places nodes on this machine only: bring it up again with --nodes N")]
    AddNodeAcrossHosts {
        /// The system.
        system: String,
    },
    /// `lab add-node` past the highest node a lab has.
    #[error("{system} already has a node n{highest}, the highest the lab makes")]
    Full {
        /// The system.
        system: String,
        /// Its highest node number.
        highest: usize,
    },
    /// A container of the new node exists already.
    #[error("container {name} already exists: remove it (`docker rm -f {name}`) or bring the lab down and up again")]
    ContainerExists {
        /// The container.
        name: String,
    },
    /// `--image` without a tag.
    #[error(
        "--image {image} has no tag: give one, e.g. --image {image}:<tag> (or @sha256:<digest>)"
    )]
    ImageWithoutTag {
        /// As written.
        image: String,
    },
    /// `--image` of a repository the system does not run.
    #[error("--image {image}: {system} runs no {repository} image; its images are {known}: give one of those repositories with the tag you want")]
    ImageNotOfSystem {
        /// As written.
        image: String,
        /// The system.
        system: String,
        /// The image's repository.
        repository: String,
        /// The system's repositories, comma-separated.
        known: String,
    },
    /// A release the definition does not list (`etcd@3.6.0`).
    #[error("{system} has no release {version} that builds here: choose one of {known} (`perseus systems` lists them)")]
    UnknownVersion {
        /// The system.
        system: String,
        /// As asked.
        version: String,
        /// The releases it lists, comma-separated.
        known: String,
    },
    /// `SYSTEM@VERSION` for a definition that lists no releases.
    #[error("{system}@{version}: the {system} definition lists no releases (x-perseus.versions), so it runs one: use `{system}`, or run another image with --image")]
    NoVersions {
        /// The system.
        system: String,
        /// As asked.
        version: String,
    },
    /// A lab that is up at another release than the one a command asks for.
    #[error("the {system} lab is up at {running}, not {asked}: bring it down first (`perseus lab down {system}`)")]
    OtherVersionUp {
        /// The system.
        system: String,
        /// The release it runs.
        running: String,
        /// The release asked for.
        asked: String,
    },
    /// A bind mount whose source does not exist.
    #[error("{service} mounts {}, which does not exist: {fix}", path.display())]
    MountMissing {
        /// The service (container) that mounts it.
        service: String,
        /// The missing path.
        path: PathBuf,
        /// How to make it.
        fix: String,
    },
    /// A bind mount whose source cannot be read to copy it to another host.
    #[error("{container} mounts {}, which cannot be read to copy it to its host ({error}): check the file", path.display())]
    MountUnreadable {
        /// The container.
        container: String,
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        error: std::io::Error,
    },
    /// The files a container mounts could not be packed.
    #[error("packing the files {container} mounts: {error}")]
    Packing {
        /// The container.
        container: String,
        /// Why.
        #[source]
        error: std::io::Error,
    },
    /// Another process holds the lab's claim ([`crate::lab::claim`]).
    #[error("the {system} lab is being changed by {holder}: {fix}")]
    Claimed {
        /// The lab's system.
        system: String,
        /// Who holds it, as its claim says.
        holder: String,
        /// What to do.
        fix: String,
    },
    /// A container has the claim's name but is not a claim Perseus made.
    #[error("container {name} is in the way of the lab's claim and is not one: remove it (docker rm -f {name}) and try again")]
    ClaimForeign {
        /// Its name.
        name: String,
    },
    /// No address range left for a lab network.
    #[error("no free /24 left in 10.77.0.0/16 for the lab network: remove unused Docker networks (docker network prune)")]
    NoFreeSubnet,
    /// The network helper's image is not on the node's engine.
    #[error(
        "the network helper image {image} is missing: build it with `perseus lab images {system}`"
    )]
    HelperImageMissing {
        /// The image.
        image: String,
        /// The lab's system.
        system: String,
    },
}
