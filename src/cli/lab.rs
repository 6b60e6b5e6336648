//! `perseus lab ...` and `perseus systems`: images, up, status, add-node, down, and the catalog.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use perseus::images::Rebuild;
use perseus::lab::{self, Home, Lab, SystemRef, UpOptions};
use perseus::status::{self, Depth};
use perseus::Error;

use super::common::{interrupt_token, parse_duration, progress};

#[derive(Debug, Subcommand)]
pub(super) enum LabCommand {
    /// Build the images a system needs, offline, from Debian packages (idempotent).
    Images {
        /// The system (etcd, ...), or the system at one of its releases (etcd@3.5.1).
        #[arg(
            required_unless_present = "all",
            conflicts_with = "all",
            value_name = "SYSTEM[@VERSION]"
        )]
        system: Option<String>,
        /// Every system whose images are built here (systems that run official images are
        /// listed, not pulled).
        #[arg(long)]
        all: bool,
        /// Rebuild images that exist (the base image is kept).
        #[arg(long)]
        rebuild: bool,
        /// How many images to build at once (1 to 16).
        #[arg(long, default_value_t = perseus::images::JOBS)]
        jobs: usize,
    },
    /// Start a cluster, wait until it is ready, print the node table.
    Up(UpArgs),
    /// Per node: container state, client endpoint, role, faults in force.
    Status {
        /// The system (optional when exactly one lab is up).
        system: Option<String>,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Add a node to a running lab (n4 after n1..n3), for systems whose members join by
    /// themselves (cockroach, galera); waits until the cluster is ready with it.
    AddNode {
        /// The system (optional when exactly one lab is up).
        system: Option<String>,
    },
    /// Remove a lab: containers, helpers, networks, volumes (idempotent).
    Down {
        /// The system (optional when exactly one lab is up).
        system: Option<String>,
        /// Remove every lab.
        #[arg(long, conflicts_with = "system")]
        all: bool,
    },
}

#[derive(Debug, Args)]
pub(super) struct UpArgs {
    /// The system (etcd, ...), or the system at one of the releases `perseus systems` lists
    /// (etcd@3.5.1).
    #[arg(value_name = "SYSTEM[@VERSION]")]
    system: String,
    /// Number of nodes.
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// A definition file instead of compose/<system>.yaml.
    #[arg(long)]
    file: Option<PathBuf>,
    /// How long to wait for readiness (default: the definition's ready-timeout).
    #[arg(long, value_parser = parse_duration)]
    timeout: Option<Duration>,
    /// Run this image instead of the definition's image of the same repository, e.g.
    /// `--image cockroachdb/cockroach:v24.3.3` (repeat for several).
    #[arg(long = "image", value_name = "REPOSITORY:TAG")]
    images: Vec<String>,
    /// Spread the nodes over these Docker hosts, members of one Swarm (comma-separated
    /// endpoints: ssh://user@host, tcp://host:2376 with DOCKER_TLS_VERIFY and DOCKER_CERT_PATH,
    /// tcp://host:2375, unix:///var/run/docker.sock); nodes go round-robin, n1 on the first host.
    /// Default: the definition's x-perseus.hosts, else this machine's engine alone.
    #[arg(long, value_name = "HOST,HOST,...")]
    hosts: Option<String>,
    /// Put nodes on given hosts of --hosts (or of the definition's x-perseus.hosts), numbered
    /// from 1 (`--place n1=3,n2=3`).
    #[arg(long, value_name = "NODE=HOST,...")]
    place: Option<String>,
    /// Run each node's data directory through Perseus' lazy file system, so that
    /// `fault power-loss` can drop what the database did not fsync (each node gains /dev/fuse and
    /// CAP_SYS_ADMIN for the mount; the database itself runs without them: docs/faults.md).
    #[arg(long)]
    lazyfs: bool,
}

pub(super) async fn lab_command(cmd: LabCommand) -> anyhow::Result<i32> {
    let home = Home::locate()?;
    match cmd {
        LabCommand::Images {
            system,
            all: _,
            rebuild,
            jobs,
        } => {
            if !(1..=16).contains(&jobs) {
                return Err(Error::Usage(format!(
                    "--jobs {jobs} is out of range: give 1 to 16 (builds at once)"
                ))
                .into());
            }
            let docker = perseus::docker::connect().await?;
            let systems = match system {
                Some(s) => vec![SystemRef::parse(&s)?],
                None => {
                    let mut local = Vec::new();
                    for c in lab::catalog(&docker, &home).await? {
                        if c.local() {
                            local.push(c.system);
                        } else {
                            let official: Vec<&str> = c
                                .images
                                .iter()
                                .filter(|i| !i.built_here)
                                .map(|i| i.image.as_str())
                                .collect();
                            progress(&format!(
                                "{}: runs official images, not built here: {} (`docker pull` them)",
                                c.system,
                                official.join(", ")
                            ));
                        }
                    }
                    local
                        .into_iter()
                        .map(|system| SystemRef {
                            system,
                            version: None,
                        })
                        .collect()
                }
            };
            // Every system's images in one list, so that they build side by side and an image
            // two systems share (the network helper's) is built once.
            let mut builds = Vec::new();
            for system in systems {
                let def = home
                    .definition(&system.system, None)?
                    .at(system.version.as_deref())?;
                let specs = def.nodes(def.perseus.min_nodes.max(3))?;
                builds.extend(home.builds(&specs));
            }
            perseus::images::ensure(
                &docker,
                &builds,
                if rebuild {
                    Rebuild::All
                } else {
                    Rebuild::Missing
                },
                jobs,
                &mut progress,
            )
            .await?;
            Ok(0)
        }
        LabCommand::Up(args) => {
            let asked = SystemRef::parse(&args.system)?;
            home.check_system(&asked.system)?;
            let hosts = match &args.hosts {
                Some(list) => lab::hosts::parse_hosts(list)?,
                None => Vec::new(),
            };
            let place = match &args.place {
                Some(list) => lab::hosts::parse_place(list)?,
                None => Vec::new(),
            };
            let docker = perseus::docker::connect().await?;
            let opts = UpOptions {
                nodes: args.nodes,
                version: asked.version.clone(),
                file: args.file,
                ready_timeout: args.timeout,
                images: args.images,
                hosts,
                place,
                lazyfs: args.lazyfs,
            };
            let cancel = interrupt_token("removing what lab up created");
            let handle =
                lab::up(&docker, &home, &asked.system, &opts, &cancel, &mut progress).await?;
            let lab = handle.keep().await;
            let rows = status::status(&lab, Depth::JustMade).await?;
            print!("{}", status::render(&rows));
            if let Some(url) = lab.admin_url() {
                println!("admin UI: {url}");
            }
            Ok(0)
        }
        LabCommand::AddNode { system } => {
            let docker = perseus::docker::connect().await?;
            let system = lab::resolve_system(&docker, &home, system.as_deref()).await?;
            let cancel = interrupt_token("removing the node add-node created");
            let node = lab::add_node(&docker, &home, &system, &cancel, &mut progress).await?;
            progress(&format!("{} joined {system}", node.name));
            let lab = lab::open(&docker, &home, &system).await?;
            print!(
                "{}",
                status::render(&status::status(&lab, Depth::Full).await?)
            );
            Ok(0)
        }
        LabCommand::Status { system, json } => {
            let docker = perseus::docker::connect().await?;
            let system = lab::resolve_system(&docker, &home, system.as_deref()).await?;
            let lab = lab::open(&docker, &home, &system).await?;
            let rows = status::status(&lab, Depth::Full).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                print!("{}", status::render(&rows));
            }
            Ok(0)
        }
        LabCommand::Down { system, all } => {
            let docker = perseus::docker::connect().await?;
            let systems: Vec<String> = if all {
                lab::labs_up(&docker).await?.into_iter().collect()
            } else {
                match system {
                    // Naming a system that is not up is fine: down is idempotent. A release
                    // (`etcd@3.5.1`) names its system's lab.
                    Some(s) => {
                        let named = SystemRef::parse(&s)?;
                        if named.version.is_some() && home.systems().contains(&named.system) {
                            home.definition(&named.system, None)?
                                .at(named.version.as_deref())?;
                        }
                        vec![named.system]
                    }
                    None => match lab::resolve_system(&docker, &home, None).await {
                        Ok(s) => vec![s],
                        Err(Error::NoLabUp { .. }) => {
                            eprintln!("no lab is up: nothing to remove");
                            vec![]
                        }
                        Err(e) => return Err(e.into()),
                    },
                }
            };
            for s in systems {
                let r = lab::down(&docker, &s, &mut progress).await?;
                eprintln!(
                    "lab {s} down: removed {} containers, {} networks, {} volumes",
                    r.containers, r.networks, r.volumes
                );
            }
            Ok(0)
        }
    }
}

/// Open the lab a command means.
pub(super) async fn open_lab(system: Option<&str>) -> anyhow::Result<Lab> {
    let home = Home::locate()?;
    let docker = perseus::docker::connect().await?;
    let system = lab::resolve_system(&docker, &home, system).await?;
    let lab = lab::open(&docker, &home, &system).await?;
    Ok(lab)
}

/// `perseus systems`: the catalog of the definitions, as a table or JSON.
pub(super) async fn systems_command(json: bool) -> anyhow::Result<i32> {
    let home = Home::locate()?;
    let docker = perseus::docker::connect().await?;
    let systems = lab::catalog(&docker, &home).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&systems)?);
        return Ok(0);
    }
    let rows: Vec<[String; 5]> = systems
        .iter()
        .map(|c| {
            let images: Vec<String> = c
                .images
                .iter()
                .map(|i| {
                    let source = if i.built_here {
                        "built here"
                    } else {
                        "official"
                    };
                    let state = if i.present { "present" } else { "absent" };
                    format!("{} ({source}, {state})", i.image)
                })
                .collect();
            let leaders = if c.leader_targets.is_empty() {
                "-".to_string()
            } else {
                c.leader_targets.join(", ")
            };
            [
                c.system.clone(),
                c.title.clone(),
                c.kind.clone(),
                leaders,
                images.join(", "),
            ]
        })
        .collect();
    let header = ["system", "title", "kind", "leader targets", "images"].map(String::from);
    let mut widths = [0usize; 4];
    for row in std::iter::once(&header).chain(&rows) {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (w, cell) in widths.iter().zip(row) {
            line.push_str(&format!("{cell:<w$}  "));
        }
        line.push_str(&row[4]);
        println!("{line}");
    }
    // The releases each system can run (SYSTEM@VERSION), where each comes from, and whether
    // its images are here already.
    let with_releases: Vec<&lab::Catalogued> =
        systems.iter().filter(|c| !c.releases.is_empty()).collect();
    if !with_releases.is_empty() {
        println!("\nreleases (`perseus lab up SYSTEM@VERSION`; * the default, + its images are here, the others are built or pulled when asked for):");
        for c in with_releases {
            let mut listed: Vec<String> = Vec::new();
            for r in &c.releases {
                let mark = format!(
                    "{}{}{}",
                    r.version,
                    if r.default { "*" } else { "" },
                    if r.present { "+" } else { "" }
                );
                let source = format!("{}: ", r.source);
                match listed.last_mut() {
                    Some(group) if group.starts_with(&source) => {
                        group.push_str(", ");
                        group.push_str(&mark);
                    }
                    _ => listed.push(format!("{source}{mark}")),
                }
            }
            println!("{:<w$}  {}", c.system, listed.join("; "), w = widths[0]);
        }
    }
    Ok(0)
}
