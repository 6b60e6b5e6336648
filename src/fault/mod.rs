//! Faults (Jepsen says nemesis) on the nodes of a lab, aimed at a node or at a role resolved at the
//! moment the fault fires.
//!
//! | fault | mechanism |
//! | --- | --- |
//! | kill / stop / start | SIGKILL every container of the node / graceful stop (SIGTERM, then SIGKILL after the definition's `stop-timeout`) / start, main container first |
//! | pause / resume | cgroup freezer on every container of the node: processes hang, sockets stay open |
//! | isolate | iptables DROP to and from every other node, in the node's own namespace ([`net`]); clients on the host still reach it; one way only with a [`Direction`] |
//! | partition | the same rules between groups of nodes; one way only (the first group's packets in or out) with a [`Direction`]; or Jepsen's shapes by name ([`Shape`]: halves, majorities ring, bridge, the leader's side), from a seed |
//! | loss / bandwidth / delay | a degraded link between the node and its peers ([`link`]): iptables `statistic`, `htb` with `u32` filters, `netem` |
//! | disconnect / connect | Docker network disconnect / connect at the node's fixed address |
//! | heal | flush every rule Perseus added and reconnect every disconnected node |
//! | power-loss / power-loss-torn | a node under the lazy file system loses what it did not fsync ([`disk`], [`crate::lab::lazy`]); on such a node `kill` is a process crash that keeps it |
//! | corrupt | bits flipped in, or bytes cut off, a stopped node's data files ([`disk`]) |
//!
//! A fault is one typed value, [`Fault`] (Jepsen's nemesis operation), whatever gives it: the
//! command line and a scenario step build the same values, and [`inject`] carries out every one
//! on the nodes its target resolved to ([`resolve`]). Each fault knows its own undo
//! ([`Fault::undo`]); [`restore`] undoes whatever is in force.

pub mod disk;
pub mod link;
pub mod net;
mod node;
pub mod shape;

pub use disk::Corruption;
pub use link::Link;
pub use net::Direction;
pub use node::attached;
use node::{apply, connect, degrade, isolate, Applied};
pub use shape::Shape;

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;
use std::time::SystemTime;

use serde::Serialize;

pub use crate::error::FaultError;
use crate::error::{Error, Result};
use crate::lab::Lab;
use crate::node::NodeName;

/// What a fault does to each node it aims at, beyond its network (isolation and degraded links
/// are [`Fault::Isolate`] and [`Fault::Link`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeFault {
    /// SIGKILL every container of the node.
    Kill,
    /// Graceful stop.
    Stop,
    /// Start a killed or stopped node.
    Start,
    /// Freeze the node's processes.
    Pause,
    /// Thaw them.
    Resume,
    /// Take the node off the lab network entirely.
    Disconnect,
    /// Put it back, at its own address.
    Connect,
    /// Power loss: the node stops, and what its database did not fsync is gone (a node under
    /// the lazy file system, [`crate::lab::lazy`]).
    PowerLoss,
    /// Power loss that tears: as [`NodeFault::PowerLoss`], but each file's last unsynced write
    /// keeps its first half, as a disk losing power mid-write may.
    PowerLossTorn,
}

impl NodeFault {
    /// Every node fault, for help texts and parsing.
    pub const ALL: [NodeFault; 9] = [
        NodeFault::Kill,
        NodeFault::Stop,
        NodeFault::Start,
        NodeFault::Pause,
        NodeFault::Resume,
        NodeFault::Disconnect,
        NodeFault::Connect,
        NodeFault::PowerLoss,
        NodeFault::PowerLossTorn,
    ];

    /// The fault's name as typed (`kill`).
    pub fn name(self) -> &'static str {
        match self {
            NodeFault::Kill => "kill",
            NodeFault::Stop => "stop",
            NodeFault::Start => "start",
            NodeFault::Pause => "pause",
            NodeFault::Resume => "resume",
            NodeFault::Disconnect => "disconnect",
            NodeFault::Connect => "connect",
            NodeFault::PowerLoss => "power-loss",
            NodeFault::PowerLossTorn => "power-loss-torn",
        }
    }
}

impl fmt::Display for NodeFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One fault, typed: what a `perseus fault` command and a scenario step both describe.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Kill, stop, start, pause, resume, disconnect or connect each node it aims at.
    Node {
        /// Which.
        action: NodeFault,
    },
    /// Cut each node it aims at from its peers, in `direction`; clients still reach it.
    Isolate {
        /// Which packets are dropped, as the node sees them.
        direction: Direction,
    },
    /// Degrade the links between each node it aims at and its peers.
    Link {
        /// How.
        link: Link,
    },
    /// Groups of nodes (resolved names) that cannot reach each other; nodes no group names
    /// form one more group.
    Partition {
        /// The groups.
        groups: Vec<Vec<NodeName>>,
        /// Both ways, or one way about the first group.
        direction: Direction,
    },
    /// A partition in one of Jepsen's shapes, its random choices drawn from `seed` (a random
    /// one, named in the event, when `None`).
    Shaped {
        /// The shape.
        shape: Shape,
        /// The seed.
        seed: Option<u64>,
    },
    /// Undo every network fault.
    Heal,
    /// Damage the files `file` (a glob under the definition's `data-dir`) of each node it aims
    /// at, which must be down ([`disk::corrupt`]); the choices come from `seed` (a random one,
    /// named in the event, when `None`). Nothing undoes it.
    Corrupt {
        /// The glob (`version-2/log.*`).
        file: String,
        /// How.
        how: Corruption,
        /// The seed.
        seed: Option<u64>,
    },
}

impl Fault {
    /// The fault's name as typed (`kill`, `isolate`, `loss`, `partition`, `heal`).
    pub fn name(&self) -> &'static str {
        match self {
            Fault::Node { action } => action.name(),
            Fault::Isolate { .. } => "isolate",
            Fault::Link { link } => link.name(),
            Fault::Partition { .. } | Fault::Shaped { .. } => "partition",
            Fault::Heal => "heal",
            Fault::Corrupt { .. } => "corrupt",
        }
    }

    /// Whether it acts on the nodes a target names (as opposed to the whole lab).
    pub fn aimed(&self) -> bool {
        matches!(
            self,
            Fault::Node { .. } | Fault::Isolate { .. } | Fault::Link { .. } | Fault::Corrupt { .. }
        )
    }

    /// The fault that undoes this one on the same nodes: start after kill or stop, resume after
    /// pause, connect after disconnect, heal after every network fault; `None` for a fault that
    /// is itself an undo.
    pub fn undo(&self) -> Option<Fault> {
        let node = |action| Some(Fault::Node { action });
        match self {
            Fault::Node {
                action:
                    NodeFault::Kill | NodeFault::Stop | NodeFault::PowerLoss | NodeFault::PowerLossTorn,
            } => node(NodeFault::Start),
            Fault::Node {
                action: NodeFault::Pause,
            } => node(NodeFault::Resume),
            Fault::Node {
                action: NodeFault::Disconnect,
            } => node(NodeFault::Connect),
            Fault::Isolate { .. }
            | Fault::Link { .. }
            | Fault::Partition { .. }
            | Fault::Shaped { .. } => Some(Fault::Heal),
            Fault::Node {
                action: NodeFault::Start | NodeFault::Resume | NodeFault::Connect,
            }
            | Fault::Heal
            | Fault::Corrupt { .. } => None,
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Isolate { direction } if *direction != Direction::Both => {
                write!(f, "isolate ({})", direction.name())
            }
            Fault::Link { link } => write!(f, "{link}"),
            Fault::Corrupt { file, how, seed } => {
                write!(f, "corrupt {file} ({how}")?;
                if let Some(seed) = seed {
                    write!(f, ", seed {seed}")?;
                }
                f.write_str(")")
            }
            Fault::Partition { groups, direction } => {
                let shown: Vec<String> = groups.iter().map(|g| g.join(",")).collect();
                write!(f, "partition {}", shown.join(" "))?;
                if *direction != Direction::Both {
                    write!(f, " ({})", direction.name())?;
                }
                Ok(())
            }
            Fault::Shaped { shape, seed } => {
                write!(f, "partition {shape}")?;
                if let Some(seed) = seed {
                    write!(f, " (seed {seed})")?;
                }
                Ok(())
            }
            other => f.write_str(other.name()),
        }
    }
}

/// Which node a fault aims at, resolved when it fires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Target {
    /// A node by name (`n2`).
    Node(NodeName),
    /// The current leader, asked from the cluster.
    Leader,
    /// A node that is not the current leader.
    Follower,
    /// Any node.
    Random,
    /// The leader of a named role the system has besides its leader (`pd-leader` on TiDB: PD's
    /// leader), given without the `-leader` suffix.
    RoleLeader(String),
    /// Every node (a power loss of the whole cluster).
    All,
    /// Several nodes by name (`n1,n2`).
    Nodes(Vec<NodeName>),
}

impl FromStr for Target {
    type Err = Error;
    fn from_str(s: &str) -> Result<Target> {
        match s {
            "leader" => Ok(Target::Leader),
            "follower" => Ok(Target::Follower),
            "random" => Ok(Target::Random),
            "all" => Ok(Target::All),
            several
                if several.contains(',')
                    && several.split(',').all(crate::lab::compose::is_node_name) =>
            {
                Ok(Target::Nodes(
                    several.split(',').map(NodeName::from).collect(),
                ))
            }
            n if crate::lab::compose::is_node_name(n) => Ok(Target::Node(n.into())),
            r if r.strip_suffix("-leader").is_some_and(|role| {
                !role.is_empty() && role.chars().all(|c| c.is_ascii_lowercase())
            }) =>
            {
                Ok(Target::RoleLeader(
                    r.trim_end_matches("-leader").to_string(),
                ))
            }
            other => Err(FaultError::NotATarget {
                text: other.to_string(),
            }
            .into()),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Node(n) => f.write_str(n),
            Target::Leader => f.write_str("leader"),
            Target::Follower => f.write_str("follower"),
            Target::Random => f.write_str("random"),
            Target::RoleLeader(r) => write!(f, "{r}-leader"),
            Target::All => f.write_str("all"),
            Target::Nodes(v) => f.write_str(&v.join(",")),
        }
    }
}

/// What a fault did: which fault, aimed how, on which nodes, when.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultEvent {
    /// When the fault took effect.
    pub at: SystemTime,
    /// The fault, as carried out (a shaped partition with the seed it drew).
    pub fault: Fault,
    /// The target as given (`leader`), when there was one.
    pub target: Option<Target>,
    /// The nodes it acted on.
    pub nodes: Vec<NodeName>,
    /// What was done, for humans.
    pub detail: String,
    /// For a fault aimed at nodes: what was done on each, in the order of `nodes`.
    pub details: Vec<String>,
}

impl FaultEvent {
    /// An event that took effect now.
    fn new(
        fault: Fault,
        target: Option<&Target>,
        nodes: Vec<NodeName>,
        detail: String,
    ) -> FaultEvent {
        FaultEvent::at(SystemTime::now(), fault, target, nodes, detail)
    }

    /// An event that took effect at `at` (before its follow-up work, for a start or connect).
    fn at(
        at: SystemTime,
        fault: Fault,
        target: Option<&Target>,
        nodes: Vec<NodeName>,
        detail: String,
    ) -> FaultEvent {
        FaultEvent {
            at,
            fault,
            target: target.cloned(),
            nodes,
            detail,
            details: Vec::new(),
        }
    }

    /// What was done, each node's part named (`n1: SIGKILL ...; n2: SIGKILL ...`) for a fault
    /// aimed at nodes; `detail` for one on the whole lab.
    pub fn detail_by_node(&self) -> String {
        if self.details.is_empty() {
            return self.detail.clone();
        }
        self.nodes
            .iter()
            .zip(&self.details)
            .map(|(n, d)| format!("{n}: {d}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// One line: `2026-11-21T01:52:03.123Z kill n2 (leader): SIGKILL perseus-etcd-n2`.
    pub fn render(&self) -> String {
        let aimed = match &self.target {
            Some(t) if self.nodes.len() == 1 && t.to_string() != self.nodes[0] => {
                format!(" ({t})")
            }
            _ => String::new(),
        };
        format!(
            "{} {} {}{}: {}",
            humantime::format_rfc3339_millis(self.at),
            self.fault.name(),
            self.nodes.join(","),
            aimed,
            self.detail
        )
    }
}

/// Resolve a target to a node name now. `pick` is the draw for the choices a target leaves
/// open: `random` takes node `pick % n` of the lab's `n` (in node order), `follower` follower
/// `pick % f` of the `f` nodes that are not the leader (in node order); a command line draws it
/// at random, a scenario from its seed ([`crate::scenario::firing_draw`]).
///
/// Errors: [`Error::UnknownNode`], [`Error::NoLeader`] when the cluster has no leader that answers,
/// [`Error::Leaderless`] for `leader`/`follower` on a leaderless system, [`Error::UnknownRole`]
/// for a role leader the system does not have, [`Error::NoFollower`] on a lab of one node.
pub async fn resolve(lab: &Lab, target: &Target, pick: u64) -> Result<NodeName> {
    match target {
        Target::All | Target::Nodes(_) => Err(Error::Usage(format!(
            "`{target}` names several nodes, not one: use it where a fault takes several"
        ))),
        Target::Node(n) => lab.node(n).map(|n| n.name.clone()),
        Target::Random => pick_from(&lab.nodes, pick)
            .map(|n| n.name.clone())
            .ok_or_else(|| Error::UnknownNode {
                node: "random".into(),
                system: lab.system.clone(),
                nodes: "none".into(),
            }),
        Target::RoleLeader(role) => lab
            .leader(Some(role))
            .await?
            .ok_or_else(|| Error::NoLeader {
                system: lab.system.clone(),
                detail: format!("no node that answers is the {role} leader"),
            }),
        Target::Leader | Target::Follower => {
            let leader = lab.leader(None).await?.ok_or_else(|| Error::NoLeader {
                system: lab.system.clone(),
                detail: "no member that answers is the leader".into(),
            })?;
            if *target == Target::Leader {
                return Ok(leader);
            }
            let followers: Vec<&NodeName> = lab
                .nodes
                .iter()
                .map(|n| &n.name)
                .filter(|n| **n != leader)
                .collect();
            pick_from(&followers, pick)
                .map(|n| (*n).clone())
                .ok_or_else(|| Error::NoFollower {
                    system: lab.system.clone(),
                })
        }
    }
}

/// Resolve a target to the nodes it names now: every node for `all`, else the one node
/// [`resolve`] gives.
///
/// Errors: [`resolve`]'s.
pub async fn resolve_nodes(lab: &Lab, target: &Target, pick: u64) -> Result<Vec<NodeName>> {
    match target {
        Target::All => Ok(lab.node_names()),
        Target::Nodes(v) => v
            .iter()
            .map(|n| lab.node(n).map(|n| n.name.clone()))
            .collect(),
        t => Ok(vec![resolve(lab, t, pick).await?]),
    }
}

/// Element `pick % len` of `items`.
fn pick_from<T>(items: &[T], pick: u64) -> Option<&T> {
    (!items.is_empty()).then(|| &items[(pick % items.len() as u64) as usize])
}

/// Carry out `fault`: on each of `nodes` (a target already resolved, [`resolve`]) for a fault
/// aimed at nodes, all at once; on the whole lab for a partition or heal (`nodes` unused). The
/// event names `target` as given, the nodes, what was done on each, and when it took effect (for
/// a start or a connect: when the engine said so, before the node's network faults are made
/// again).
///
/// Errors: [`FaultError::NoNode`] for an aimed fault with no node, [`FaultError`] for a
/// partition whose groups do not split the lab; [`Error::UnknownNode`]; [`Error::KernelMissing`] for a degraded link the
/// kernel cannot make (nothing changed); [`Error::Helper`] or a Docker error when the fault
/// cannot be put in place (what was done on other nodes stays done).
pub async fn inject(
    lab: &Lab,
    fault: &Fault,
    target: Option<&Target>,
    nodes: &[NodeName],
) -> Result<FaultEvent> {
    match fault {
        Fault::Heal => heal(lab).await,
        Fault::Partition { groups, direction } => partition(lab, groups, *direction).await,
        Fault::Shaped { shape, seed } => partition_shape(lab, *shape, *seed).await,
        aimed => {
            if nodes.is_empty() {
                return Err(FaultError::NoNode {
                    fault: aimed.name().to_string(),
                }
                .into());
            }
            let results = futures_util::future::join_all(nodes.iter().map(|n| async move {
                match aimed {
                    Fault::Node { action } => apply(lab, *action, n).await,
                    Fault::Isolate { direction } => {
                        isolate(lab, n, *direction).await.map(Applied::now)
                    }
                    Fault::Link { link } => degrade(lab, n, *link).await.map(Applied::now),
                    Fault::Corrupt { file, how, seed } => disk::corrupt(lab, n, file, *how, *seed)
                        .await
                        .map(Applied::now),
                    _ => unreachable!("the lab-wide faults are matched above"),
                }
            }))
            .await;
            let mut details = Vec::new();
            let mut at: Option<SystemTime> = None;
            for r in results {
                let applied = r?;
                at = Some(at.map_or(applied.at, |t| t.max(applied.at)));
                details.push(applied.detail);
            }
            let mut ev = FaultEvent::at(
                at.unwrap_or_else(SystemTime::now),
                aimed.clone(),
                target,
                nodes.to_vec(),
                details.join("; "),
            );
            if nodes.len() > 1 {
                ev.detail = nodes
                    .iter()
                    .zip(&details)
                    .map(|(n, d)| format!("{n}: {d}"))
                    .collect::<Vec<_>>()
                    .join("; ");
            }
            ev.details = details;
            Ok(ev)
        }
    }
}

/// Split the cluster into groups that cannot reach each other. Nodes no group names form one more
/// group. With [`Direction::Both`] no packet crosses between groups; with `In` or `Out` the cut is
/// one-way and about the first group: `In`, its nodes hear nothing from the other groups (which
/// still hear them); `Out`, the other groups hear nothing from it (it still hears them). Other
/// groups keep reaching each other. Errors: [`FaultError::NodeTwice`] when a node is named twice,
/// [`FaultError::OneGroup`] when fewer than two groups result.
async fn partition(
    lab: &Lab,
    groups: &[Vec<NodeName>],
    direction: Direction,
) -> Result<FaultEvent> {
    let mut groups: Vec<Vec<NodeName>> = groups.to_vec();
    let mut seen = BTreeSet::new();
    for g in &groups {
        for n in g {
            lab.node(n)?;
            if !seen.insert(n.clone()) {
                return Err(FaultError::NodeTwice {
                    node: n.to_string(),
                }
                .into());
            }
        }
    }
    let rest: Vec<NodeName> = lab
        .nodes
        .iter()
        .map(|n| n.name.clone())
        .filter(|n| !seen.contains(n))
        .collect();
    if !rest.is_empty() {
        groups.push(rest);
    }
    groups.retain(|g| !g.is_empty());
    if groups.len() < 2 {
        return Err(FaultError::OneGroup.into());
    }
    let mut jobs = Vec::new();
    for (i, g) in groups.iter().enumerate() {
        // A one-way cut is made in the first group's nodes alone.
        if direction != Direction::Both && i > 0 {
            break;
        }
        let others: Vec<NodeName> = groups
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .flat_map(|(_, g)| g.clone())
            .collect();
        for n in g {
            let others = others.clone();
            jobs.push(async move { net::cut(lab, n, &others, direction).await });
        }
    }
    futures_util::future::join_all(jobs)
        .await
        .into_iter()
        .collect::<Result<Vec<_>>>()?;
    let shown = groups
        .iter()
        .map(|g| g.join(","))
        .collect::<Vec<_>>()
        .join(" | ");
    let first = groups[0].join(",");
    let detail = match direction {
        Direction::Both => format!("groups {shown} cannot reach each other"),
        Direction::In => format!(
            "groups {shown}: {first} hears nothing from the other groups, which still hear it (in)"
        ),
        Direction::Out => format!(
            "groups {shown}: the other groups hear nothing from {first}, which still hears them (out)"
        ),
    };
    Ok(FaultEvent::new(
        Fault::Partition { groups, direction },
        None,
        lab.nodes.iter().map(|n| n.name.clone()).collect(),
        detail,
    ))
}

/// Cut the cluster in the named `shape` ([`shape::cuts`]), its random choices drawn from `seed`
/// (a random one when `None`; the event names the seed either way, so a run can be repeated).
///
/// Errors: [`FaultError::TooFewNodes`] for a lab too small for the shape,
/// [`FaultError::Leaderless`] for the `leader` shape on a leaderless system; [`Error::NoLeader`] for it when no leader answers; [`Error::Helper`] when
/// the rules cannot be added.
async fn partition_shape(lab: &Lab, shape: Shape, seed: Option<u64>) -> Result<FaultEvent> {
    let seed = seed.unwrap_or_else(rand::random);
    let leader = match shape {
        Shape::Leader => Some(resolve(lab, &Target::Leader, 0).await.map_err(|e| {
            match e {
                Error::Leaderless { .. } => FaultError::Leaderless {
                    system: lab.system.clone(),
                }
                .into(),
                other => other,
            }
        })?),
        _ => None,
    };
    let cuts = shape::cuts(shape, &lab.node_names(), leader.as_deref(), seed)?;
    let jobs = cuts
        .cut_from
        .iter()
        .map(|(node, peers)| async move { net::cut(lab, node, peers, Direction::Both).await });
    futures_util::future::join_all(jobs)
        .await
        .into_iter()
        .collect::<Result<Vec<_>>>()?;
    Ok(FaultEvent::new(
        Fault::Shaped {
            shape,
            seed: Some(seed),
        },
        None,
        lab.node_names(),
        format!("{shape}: {} (seed {seed})", cuts.detail),
    ))
}

/// Undo every network fault: flush the rules in every node whose namespace exists, and reconnect
/// every node that is off the lab network.
///
/// Errors: the first Docker or helper failure.
async fn heal(lab: &Lab) -> Result<FaultEvent> {
    let done = undo_network_faults(lab).await?;
    let detail = if done.is_empty() {
        "no network fault was in force".to_string()
    } else {
        done.join("; ")
    };
    Ok(FaultEvent::new(Fault::Heal, None, lab.node_names(), detail))
}

/// What [`heal`] does: one line per thing undone, empty when no network fault was in force.
async fn undo_network_faults(lab: &Lab) -> Result<Vec<String>> {
    let mut done = Vec::new();
    let jobs = lab.nodes.iter().map(|n| async move {
        let mut what = Vec::new();
        // One round trip for every question: attached to the lab network, running, and whether
        // its helper is in its namespace.
        let pair = crate::lab::helper::inspect(lab, &n.name).await?;
        let info = &pair.main;
        let running = info.state.as_ref().and_then(|s| s.running).unwrap_or(false);
        let on_network = info
            .network_settings
            .as_ref()
            .and_then(|s| s.networks.as_ref())
            .is_some_and(|nets| nets.contains_key(&lab.network));
        if !on_network {
            connect(lab, &n.name).await?;
            what.push(format!("{} reconnected", n.name));
        }
        if !running {
            // Down: nothing in force, but what is recorded would be made again when it starts.
            let kept = net::forget(lab, &n.name).await?;
            if !kept.is_empty() {
                what.push(format!(
                    "{} is down; dropped what it would have been given again on start ({})",
                    n.name,
                    kept.join("; ")
                ));
            }
        } else {
            let was = net::heal(lab, &n.name, pair).await?;
            if !was.cut.is_empty() {
                what.push(format!(
                    "{} rules flushed (was cut from {})",
                    n.name,
                    net::describe_cut(&was.cut)
                ));
            }
            if !was.links.is_empty() {
                what.push(format!(
                    "{} links restored (was {})",
                    n.name,
                    was.links.join(", ")
                ));
            }
        }
        Ok::<Vec<String>, Error>(what)
    });
    for r in futures_util::future::join_all(jobs).await {
        done.extend(r?);
    }
    Ok(done)
}

/// Leave no fault in force: heal every network fault, thaw every paused node and start every
/// node that is not running. Returns one line per thing undone (empty when nothing was).
///
/// Errors: the first Docker or helper failure; what was undone before it stays undone.
pub async fn restore(lab: &Lab) -> Result<Vec<String>> {
    let mut done = Vec::new();
    let healed = undo_network_faults(lab).await?;
    if !healed.is_empty() {
        done.push(format!("heal: {}", healed.join("; ")));
    }
    for n in &lab.nodes {
        let mut paused = false;
        let mut stopped = false;
        for c in &n.containers {
            let state = crate::docker::inspect(lab.engine(n), c).await?.state;
            let state = state.as_ref();
            paused |= state.and_then(|s| s.paused).unwrap_or(false);
            stopped |= !state.and_then(|s| s.running).unwrap_or(false);
        }
        if paused {
            done.push(format!(
                "resume {}: {}",
                n.name,
                apply(lab, NodeFault::Resume, &n.name).await?.detail
            ));
        }
        if stopped {
            done.push(format!(
                "start {}: {}",
                n.name,
                apply(lab, NodeFault::Start, &n.name).await?.detail
            ));
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pick_chooses_by_its_remainder_so_a_seed_repeats_the_choice() {
        let nodes = ["n1", "n2", "n3"];
        assert_eq!(pick_from(&nodes, 0), Some(&"n1"));
        assert_eq!(pick_from(&nodes, 4), Some(&"n2"));
        assert_eq!(pick_from(&nodes, u64::MAX), Some(&"n1"));
        assert_eq!(pick_from::<&str>(&[], 7), None);
    }

    #[test]
    fn targets_parse_and_reject_with_a_hint() {
        assert_eq!("leader".parse::<Target>().unwrap(), Target::Leader);
        assert_eq!("n3".parse::<Target>().unwrap(), Target::Node("n3".into()));
        let err = "node3".parse::<Target>().unwrap_err();
        assert!(err.to_string().contains("'node3' is not a target"), "{err}");
        assert_eq!(err.exit_code(), 2);
        let pd = "pd-leader".parse::<Target>().unwrap();
        assert_eq!(pd, Target::RoleLeader("pd".into()));
        assert_eq!(pd.to_string(), "pd-leader");
        assert!("-leader".parse::<Target>().is_err());
    }

    #[test]
    fn event_line_names_fault_node_and_aim() {
        let e = FaultEvent::at(
            humantime::parse_rfc3339("2026-11-21T01:52:03.123Z").unwrap(),
            Fault::Node {
                action: NodeFault::Kill,
            },
            Some(&Target::Leader),
            vec!["n2".into()],
            "SIGKILL perseus-etcd-n2".into(),
        );
        assert_eq!(
            e.render(),
            "2026-11-21T01:52:03.123Z kill n2 (leader): SIGKILL perseus-etcd-n2"
        );
        // A target that is the node itself is not said twice.
        let mut named = e.clone();
        named.target = Some(Target::Node("n2".into()));
        assert!(named
            .render()
            .ends_with(" kill n2: SIGKILL perseus-etcd-n2"));
    }
}
