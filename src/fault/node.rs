//! Faults on one node: kill, stop, start, pause, resume, disconnect and connect through the
//! Engine (a lazy node's kill and power loss through its supervisor, [`super::disk`]), and the
//! per-node network faults, isolation and degraded links, through [`super::net`].

use std::time::SystemTime;

use bollard::models::{
    EndpointIpamConfig, EndpointSettings, NetworkConnectRequest, NetworkDisconnectRequest,
};
use bollard::query_parameters::{KillContainerOptionsBuilder, StopContainerOptionsBuilder};

use super::{disk, net, Direction, FaultError, Link, NodeFault};
use crate::error::{Error, Result};
use crate::lab::Lab;
use crate::node::NodeName;

/// What [`apply`] did, and when it took effect.
#[derive(Debug, Clone)]
pub(super) struct Applied {
    /// What was done, for humans.
    pub detail: String,
    /// When the fault took effect: as soon as the engine said the action was done, before the
    /// follow-up work some faults do (a started or reconnected node gets its degraded links made
    /// again, which over an ssh:// engine takes a second).
    pub at: SystemTime,
}

impl Applied {
    pub(super) fn now(detail: String) -> Applied {
        Applied {
            detail,
            at: SystemTime::now(),
        }
    }
}

/// Inject `fault` on the named node (already resolved); returns what was done and when it took
/// effect.
pub(super) async fn apply(lab: &Lab, fault: NodeFault, node: &str) -> Result<Applied> {
    let n = lab.node(node)?.clone();
    let mut at = None;
    let detail = apply_to(lab, fault, node, &n, &mut at).await?;
    Ok(Applied {
        detail,
        at: at.unwrap_or_else(SystemTime::now),
    })
}

/// [`apply`]'s work: sets `at` where a follow-up comes after the fault took effect.
async fn apply_to(
    lab: &Lab,
    fault: NodeFault,
    node: &str,
    n: &crate::lab::Node,
    at: &mut Option<SystemTime>,
) -> Result<String> {
    let docker = lab.engine(n);
    match fault {
        NodeFault::Kill | NodeFault::PowerLoss | NodeFault::PowerLossTorn if n.lazy.is_some() => {
            let signal = match fault {
                NodeFault::Kill => "SIGUSR1",
                NodeFault::PowerLoss => "SIGPWR",
                _ => "SIGUSR2",
            };
            disk::through_supervisor(docker, n, signal).await
        }
        NodeFault::PowerLoss | NodeFault::PowerLossTorn => Err(FaultError::NotLazy {
            node: node.to_string(),
            system: lab.system.clone(),
        }
        .into()),
        NodeFault::Kill => {
            let all = futures_util::future::join_all(n.containers.iter().map(|c| async move {
                let what = format!("killing {c}");
                // Tried again only after reading whether the first try killed it.
                crate::docker::patiently(&what, true, |again| async move {
                    if again && !running(docker, c).await? {
                        return Ok(());
                    }
                    let opts = KillContainerOptionsBuilder::default()
                        .signal("SIGKILL")
                        .build();
                    docker.kill_container(c, Some(opts)).await
                })
                .await
                .map_err(Error::docker(what))
            }))
            .await;
            all.into_iter().collect::<Result<Vec<_>>>()?;
            Ok(format!("SIGKILL {}", n.containers.join(" ")))
        }
        NodeFault::Stop => {
            let grace = lab.definition.perseus.stop_timeout.as_secs() as i32;
            // A system that drains (moves leases and clients away) does so first; the stop
            // follows whatever the drain says, so a failed drain is reported, not fatal.
            let mut drained = String::new();
            if let Some(cmd) = &lab.definition.perseus.drain {
                let timeout = lab.definition.perseus.stop_timeout;
                drained = match crate::docker::exec(docker, &n.main, cmd, timeout).await {
                    Ok(out) if out.code == Some(0) => format!("drained ({}), then ", cmd.join(" ")),
                    Ok(out) => format!(
                        "drain exited {:?} ({}), then ",
                        out.code,
                        out.output.lines().last().unwrap_or("").trim()
                    ),
                    Err(e) => format!("drain failed ({e}), then "),
                };
            }
            // Sidecars first, then the main container (whose namespace they share).
            for c in n.containers.iter().rev() {
                // A stop of a stopped container is a no-op (304): it may be sent again.
                let what = format!("stopping {c}");
                crate::docker::patiently(&what, true, |_| {
                    let opts = StopContainerOptionsBuilder::default().t(grace).build();
                    docker.stop_container(c, Some(opts))
                })
                .await
                .or_else(|e| match e {
                    bollard::errors::Error::DockerResponseServerError {
                        status_code: 304, ..
                    } => Ok(()),
                    e => Err(e),
                })
                .map_err(Error::docker(what))?;
            }
            Ok(format!(
                "{drained}graceful stop (SIGTERM, SIGKILL after {grace} s) {}",
                n.containers.join(" ")
            ))
        }
        NodeFault::Start => {
            for c in &n.containers {
                crate::docker::start(docker, c).await?;
            }
            *at = Some(SystemTime::now());
            // The node has a new namespace, without the rules its faults had put in the old one.
            let again = net::replay(lab, node).await?;
            Ok(format!(
                "started {}{}",
                n.containers.join(" "),
                again.describe("made again in its new namespace")
            ))
        }
        NodeFault::Pause | NodeFault::Resume => {
            let pause = fault == NodeFault::Pause;
            for c in &n.containers {
                let what = format!("{} {c}", fault.name());
                // Tried again only after reading whether the first try froze (thawed) it.
                crate::docker::patiently(&what, true, |again| async move {
                    if again && paused(docker, c).await? == pause {
                        return Ok(());
                    }
                    if pause {
                        docker.pause_container(c).await
                    } else {
                        docker.unpause_container(c).await
                    }
                })
                .await
                .map_err(Error::docker(what))?;
            }
            Ok(format!(
                "{} {}",
                if fault == NodeFault::Pause {
                    "froze"
                } else {
                    "thawed"
                },
                n.containers.join(" ")
            ))
        }
        NodeFault::Disconnect => {
            let what = format!("disconnecting {} from {}", n.main, lab.network);
            // Tried again only after reading whether the first try disconnected it.
            crate::docker::patiently(&what, true, |again| async move {
                if again && !on_network(docker, &n.main, &lab.network).await? {
                    return Ok(());
                }
                docker
                    .disconnect_network(
                        &lab.network,
                        NetworkDisconnectRequest {
                            container: n.main.clone(),
                            force: Some(true),
                        },
                    )
                    .await
            })
            .await
            .map_err(Error::docker(what))?;
            Ok(format!(
                "disconnected {} from network {}",
                n.main, lab.network
            ))
        }
        NodeFault::Connect => {
            if attached(lab, &n.main).await? {
                return Ok(format!("{} is already on network {}", n.main, lab.network));
            }
            connect(lab, node).await?;
            *at = Some(SystemTime::now());
            // A new interface: the qdiscs of its degraded links went with the old one. A node
            // that is down gets them when it starts.
            let running = crate::docker::inspect(docker, &n.main)
                .await?
                .state
                .and_then(|s| s.running)
                .unwrap_or(false);
            let again = if running {
                net::replay(lab, node).await?.describe("made again")
            } else {
                String::new()
            };
            Ok(format!(
                "connected {} to network {} at {}{again}",
                n.main, lab.network, n.ip
            ))
        }
    }
}

/// Cut the named node (already resolved) from every other node in `direction`; clients on the
/// host still reach it. Returns what was done.
///
/// Errors: [`Error::UnknownNode`]; [`Error::Helper`] when the rules cannot be added.
pub(super) async fn isolate(lab: &Lab, node: &str, direction: Direction) -> Result<String> {
    let peers: Vec<NodeName> = lab
        .nodes
        .iter()
        .filter(|p| p.name != node)
        .map(|p| p.name.clone())
        .collect();
    net::cut(lab, node, &peers, direction).await?;
    let one_way = match direction {
        Direction::Both => String::new(),
        Direction::In => " (in: it hears nothing from them, they still hear it)".into(),
        Direction::Out => " (out: they hear nothing from it, it still hears them)".into(),
    };
    Ok(format!(
        "iptables DROP {} {} in {}'s namespace{one_way}; clients still reach it",
        direction.words(),
        peers.join(","),
        node
    ))
}

/// Degrade the named node's links to every other node ([`link`]). Returns what was done.
///
/// Errors: [`Error::KernelMissing`] when the kernel lacks what the fault needs (nothing changed).
pub(super) async fn degrade(lab: &Lab, node: &str, link: Link) -> Result<String> {
    let peers: Vec<NodeName> = lab
        .nodes
        .iter()
        .filter(|p| p.name != node)
        .map(|p| p.name.clone())
        .collect();
    net::degrade(lab, node, &peers, link).await?;
    let how = match link {
        Link::Loss { .. } => "of packets to and from",
        Link::Bandwidth { .. } | Link::Delay { .. } => "on what it sends to",
    };
    Ok(format!(
        "{link} {how} {} in {node}'s namespace; clients still reach it unhindered",
        peers.join(",")
    ))
}

/// Attach the named node's main container to the lab network at its own address and alias.
///
/// Patient ([`crate::docker::patiently`]): an attach that may have happened is tried again only
/// after reading whether the container is on the network by now.
///
/// Errors: [`Error::UnknownNode`]; [`Error::Docker`] when the Engine refuses or stays away.
pub(super) async fn connect(lab: &Lab, node: &str) -> Result<()> {
    let n = lab.node(node)?;
    let docker = lab.engine(n);
    let what = format!("connecting {} to {}", n.main, lab.network);
    crate::docker::patiently(&what, true, |again| async move {
        if again && on_network(docker, &n.main, &lab.network).await? {
            return Ok(());
        }
        docker
            .connect_network(
                &lab.network,
                NetworkConnectRequest {
                    container: n.main.clone(),
                    endpoint_config: Some(EndpointSettings {
                        ipam_config: Some(EndpointIpamConfig {
                            ipv4_address: Some(n.ip.to_string()),
                            ..Default::default()
                        }),
                        aliases: Some(vec![n.name.to_string()]),
                        ..Default::default()
                    }),
                },
            )
            .await
    })
    .await
    .map_err(Error::docker(what))
}

/// Whether a container is attached to the lab network.
pub async fn attached(lab: &Lab, container: &str) -> Result<bool> {
    let docker = match lab
        .nodes
        .iter()
        .find(|n| n.containers.iter().any(|c| c == container))
    {
        Some(n) => lab.engine(n),
        None => &lab.docker,
    };
    let info = crate::docker::inspect(docker, container).await?;
    Ok(info
        .network_settings
        .and_then(|s| s.networks)
        .is_some_and(|nets| nets.contains_key(&lab.network)))
}

/// Whether container `c` runs, read from the Engine (for a kill tried again).
async fn running(docker: &bollard::Docker, c: &str) -> Result<bool, bollard::errors::Error> {
    Ok(state(docker, c)
        .await?
        .and_then(|s| s.running)
        .unwrap_or(false))
}

/// Whether container `c` is frozen, read from the Engine (for a pause tried again).
async fn paused(docker: &bollard::Docker, c: &str) -> Result<bool, bollard::errors::Error> {
    Ok(state(docker, c)
        .await?
        .and_then(|s| s.paused)
        .unwrap_or(false))
}

async fn state(
    docker: &bollard::Docker,
    c: &str,
) -> Result<Option<bollard::models::ContainerState>, bollard::errors::Error> {
    Ok(docker
        .inspect_container(
            c,
            None::<bollard::query_parameters::InspectContainerOptions>,
        )
        .await?
        .state)
}

/// Whether container `c` is attached to `network`, read from the Engine (for a disconnect tried
/// again).
async fn on_network(
    docker: &bollard::Docker,
    c: &str,
    network: &str,
) -> Result<bool, bollard::errors::Error> {
    Ok(docker
        .inspect_container(
            c,
            None::<bollard::query_parameters::InspectContainerOptions>,
        )
        .await?
        .network_settings
        .and_then(|n| n.networks)
        .is_some_and(|n| n.contains_key(network)))
}
