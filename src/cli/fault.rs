//! `perseus fault ...`: one fault on one node (or a partition, or heal), resolved now.

use anyhow::Context as _;
use clap::{Args, Subcommand};
use perseus::fault::{self, Direction, Link, NodeFault, Shape, Target};
use perseus::lab::Home;
use perseus::Error;

use super::lab::open_lab;

#[derive(Debug, Subcommand)]
pub(super) enum FaultCommand {
    /// SIGKILL the node's containers: `perseus fault kill [SYSTEM] TARGET`.
    Kill(TargetArgs),
    /// Stop the node gracefully (SIGTERM, then SIGKILL after the grace period).
    Stop(TargetArgs),
    /// Start a killed or stopped node.
    Start(TargetArgs),
    /// Freeze the node's processes (cgroup freezer); its sockets stay open.
    Pause(TargetArgs),
    /// Thaw a paused node.
    Resume(TargetArgs),
    /// Cut the node from its peers (both ways, or one way with --direction); clients still reach it.
    Isolate {
        #[command(flatten)]
        target: TargetArgs,
        /// Which packets to drop, as the node sees them: in (it hears nothing from its peers),
        /// out (they hear nothing from it) or both.
        #[arg(long, default_value = "both")]
        direction: String,
    },
    /// Drop a share of the packets between the node and its peers at random:
    /// `loss [SYSTEM] TARGET 30%` (iptables statistic match).
    Loss(LinkArgs),
    /// Limit what the node sends its peers: `bandwidth [SYSTEM] TARGET 1mbit` (htb, u32 filters).
    Bandwidth(LinkArgs),
    /// Delay what the node sends its peers: `delay [SYSTEM] TARGET 100ms [--jitter 20ms]`
    /// (netem; refused, changing nothing, where the kernel has no sch_netem).
    Delay {
        #[command(flatten)]
        link: LinkArgs,
        /// Jitter around the delay (uniform), e.g. 20ms.
        #[arg(long)]
        jitter: Option<String>,
    },
    /// Take the node off the lab network entirely (Docker network disconnect).
    Disconnect(TargetArgs),
    /// Put a disconnected node back on the network, at its own address.
    Connect(TargetArgs),
    /// Split the nodes into groups that cannot reach each other: `partition [SYSTEM] n1 n2,n3`.
    /// Or cut by Jepsen's shape: `partition [SYSTEM] --shape ring [--seed N]`.
    Partition {
        /// Optional system, then groups of comma-separated nodes; unnamed nodes form one more group.
        #[arg(num_args = 0..)]
        args: Vec<String>,
        /// Cut by shape instead of groups: halves (random halves), ring (majorities ring, 5 nodes
        /// or more), bridge (two halves joined by one node), leader (the leader's side a minority).
        #[arg(long)]
        shape: Option<String>,
        /// The seed of the shape's random choices (default: a random one; the output names it).
        #[arg(long, requires = "shape")]
        seed: Option<u64>,
        /// both (no packet crosses), or one way about the first group: in (it hears nothing from
        /// the others) or out (the others hear nothing from it).
        #[arg(long, default_value = "both")]
        direction: String,
    },
    /// Undo every network fault (isolate, partition, loss, bandwidth, delay, disconnect).
    Heal {
        /// The system (optional when exactly one lab is up).
        system: Option<String>,
    },
}

#[derive(Debug, Args)]
pub(super) struct TargetArgs {
    /// `[SYSTEM] TARGET`: the system is optional when exactly one lab is up; the target is a node
    /// (n1, n2, ...), leader, follower or random.
    #[arg(required = true, num_args = 1..=2, value_names = ["SYSTEM", "TARGET"])]
    args: Vec<String>,
}

#[derive(Debug, Args)]
pub(super) struct LinkArgs {
    /// `[SYSTEM] TARGET AMOUNT`: the system is optional when exactly one lab is up; the target is
    /// a node, leader, follower or random; the amount a percentage (loss), a rate such as 1mbit
    /// (bandwidth) or a duration such as 100ms (delay).
    #[arg(required = true, num_args = 2..=3, value_names = ["SYSTEM", "TARGET", "AMOUNT"])]
    args: Vec<String>,
}

/// Degrade a target's links: `[SYSTEM] TARGET AMOUNT` parsed as `name` wants it.
async fn link_command(name: &str, args: &[String], jitter: Option<&str>) -> anyhow::Result<i32> {
    let (amount, rest) = args.split_last().expect("clap asks for two or three");
    let link = Link::parse(name, amount, jitter).map_err(Error::BadInput)?;
    let (system, target) = split_target(rest).with_context(|| format!("perseus fault {name}"))?;
    let (docker, lab) = open_lab(system.as_deref()).await?;
    let ev = fault::inject_link(&docker, &lab, &target, link).await?;
    println!("{}", ev.render());
    Ok(0)
}

/// Split `[SYSTEM] TARGET` into its parts: one word is the target; two are system and target.
fn split_target(args: &[String]) -> anyhow::Result<(Option<String>, Target)> {
    match args {
        [t] => Ok((None, t.parse()?)),
        [s, t] => Ok((Some(s.clone()), t.parse()?)),
        _ => Err(Error::BadInput(
            "give [SYSTEM] TARGET, e.g. `perseus fault kill etcd leader`".into(),
        )
        .into()),
    }
}

pub(super) async fn fault_command(cmd: FaultCommand) -> anyhow::Result<i32> {
    let (fault_kind, args) = match cmd {
        FaultCommand::Heal { system } => {
            let (docker, lab) = open_lab(system.as_deref()).await?;
            let ev = fault::heal(&docker, &lab).await?;
            println!("{}", ev.render());
            return Ok(0);
        }
        FaultCommand::Partition {
            args,
            direction,
            shape,
            seed,
        } => {
            let direction: Direction = direction.parse()?;
            let home = Home::locate()?;
            let (system, groups) = match args.first() {
                Some(first) if home.systems().contains(first) => (Some(first.clone()), &args[1..]),
                _ => (None, &args[..]),
            };
            if let Some(shape) = shape {
                let shape: Shape = shape.parse()?;
                if !groups.is_empty() || direction != Direction::Both {
                    return Err(Error::BadInput(format!(
                        "a {shape} partition takes no groups and no direction: give either groups or --shape"
                    ))
                    .into());
                }
                let (docker, lab) = open_lab(system.as_deref()).await?;
                let ev = fault::partition_shape(&docker, &lab, shape, seed).await?;
                println!("{}", ev.render());
                return Ok(0);
            }
            if groups.is_empty() {
                return Err(Error::BadInput(
                    "give groups (`partition n1 n2,n3`) or a shape (`partition --shape ring`)"
                        .into(),
                )
                .into());
            }
            let groups: Vec<Vec<String>> = groups
                .iter()
                .map(|g| {
                    g.split(',')
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .collect();
            let (docker, lab) = open_lab(system.as_deref()).await?;
            let ev = fault::partition(&docker, &lab, &groups, direction).await?;
            println!("{}", ev.render());
            return Ok(0);
        }
        FaultCommand::Kill(a) => (NodeFault::Kill, a.args),
        FaultCommand::Stop(a) => (NodeFault::Stop, a.args),
        FaultCommand::Start(a) => (NodeFault::Start, a.args),
        FaultCommand::Pause(a) => (NodeFault::Pause, a.args),
        FaultCommand::Resume(a) => (NodeFault::Resume, a.args),
        FaultCommand::Isolate { target, direction } => {
            let direction: Direction = direction.parse()?;
            let (system, target) = split_target(&target.args).context("perseus fault isolate")?;
            let (docker, lab) = open_lab(system.as_deref()).await?;
            let ev = fault::inject_isolate(&docker, &lab, &target, direction).await?;
            println!("{}", ev.render());
            return Ok(0);
        }
        FaultCommand::Loss(a) => return link_command("loss", &a.args, None).await,
        FaultCommand::Bandwidth(a) => return link_command("bandwidth", &a.args, None).await,
        FaultCommand::Delay { link, jitter } => {
            return link_command("delay", &link.args, jitter.as_deref()).await
        }
        FaultCommand::Disconnect(a) => (NodeFault::Disconnect, a.args),
        FaultCommand::Connect(a) => (NodeFault::Connect, a.args),
    };
    let (system, target) =
        split_target(&args).with_context(|| format!("perseus fault {fault_kind}"))?;
    let (docker, lab) = open_lab(system.as_deref()).await?;
    let ev = fault::inject(&docker, &lab, fault_kind, &target).await?;
    println!("{}", ev.render());
    Ok(0)
}
