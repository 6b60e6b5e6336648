//! `perseus fault ...`: one fault on one node (or a partition, or heal), resolved now.

use anyhow::Context as _;
use clap::{Args, Subcommand};
use perseus::fault::{self, Direction, Fault, Link, NodeFault, Shape, Target};
use perseus::lab::Home;
use perseus::node::NodeName;
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
    /// Cut the node's power: its database is killed and what it did not fsync is lost; the node
    /// stays down until `start`. TARGET may be `all`. Needs a lab made with `lab up --lazyfs`.
    PowerLoss(TargetArgs),
    /// As power-loss, but each file's last unsynced write keeps its first half (a torn write).
    PowerLossTorn(TargetArgs),
    /// Damage a down node's data files: `corrupt [SYSTEM] TARGET --file GLOB (--bitflip N |
    /// --truncate BYTES) [--seed N]`; `start` it to see what the database makes of them.
    Corrupt {
        #[command(flatten)]
        target: TargetArgs,
        /// The files, a glob under the definition's data-dir (`version-2/log.*`, `**/*.wal`).
        #[arg(long, value_name = "GLOB")]
        file: String,
        /// Flip this many bits, each at a random byte of the matched files.
        #[arg(long, value_name = "N", conflicts_with = "truncate")]
        bitflip: Option<u32>,
        /// Cut this many bytes off the end of each matched file.
        #[arg(long, value_name = "BYTES")]
        truncate: Option<u64>,
        /// The seed of the random choices (default: a random one; the output names it).
        #[arg(long)]
        seed: Option<u64>,
    },
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
    /// (n1, n2, ...), several (n1,n2), leader, follower, random or all.
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

/// What a `perseus fault` command asks for: the system (when named), the fault, and the target
/// of a fault aimed at nodes.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Request {
    system: Option<String>,
    fault: Fault,
    target: Option<Target>,
}

/// Split `[SYSTEM] TARGET` into its parts: one word is the target; two are system and target.
fn split_target(args: &[String]) -> anyhow::Result<(Option<String>, Target)> {
    match args {
        [t] => Ok((None, t.parse()?)),
        [s, t] => Ok((Some(s.clone()), t.parse()?)),
        _ => Err(Error::Usage(
            "give [SYSTEM] TARGET, e.g. `perseus fault kill etcd leader`".into(),
        )
        .into()),
    }
}

impl FaultCommand {
    /// The fault, its target and its system, as typed; `systems` are the names a first word of
    /// a partition may be (the known systems). Nothing is resolved yet.
    ///
    /// Errors: a bad target, direction, amount, shape or group list, in one line.
    pub(super) fn request(self, systems: &[String]) -> anyhow::Result<Request> {
        let aimed = |fault: Fault, args: &[String]| -> anyhow::Result<Request> {
            let (system, target) =
                split_target(args).with_context(|| format!("perseus fault {}", fault.name()))?;
            Ok(Request {
                system,
                fault,
                target: Some(target),
            })
        };
        let node = |action: NodeFault, a: TargetArgs| aimed(Fault::Node { action }, &a.args);
        let link = |name: &str, args: &[String], jitter: Option<&str>| {
            let (amount, rest) = args.split_last().expect("clap asks for two or three");
            let link = Link::parse(name, amount, jitter).map_err(Error::Usage)?;
            aimed(Fault::Link { link }, rest)
        };
        match self {
            FaultCommand::Kill(a) => node(NodeFault::Kill, a),
            FaultCommand::Stop(a) => node(NodeFault::Stop, a),
            FaultCommand::Start(a) => node(NodeFault::Start, a),
            FaultCommand::Pause(a) => node(NodeFault::Pause, a),
            FaultCommand::Resume(a) => node(NodeFault::Resume, a),
            FaultCommand::Disconnect(a) => node(NodeFault::Disconnect, a),
            FaultCommand::Connect(a) => node(NodeFault::Connect, a),
            FaultCommand::PowerLoss(a) => node(NodeFault::PowerLoss, a),
            FaultCommand::PowerLossTorn(a) => node(NodeFault::PowerLossTorn, a),
            FaultCommand::Corrupt {
                target,
                file,
                bitflip,
                truncate,
                seed,
            } => {
                let how = perseus::fault::Corruption::from_options(bitflip, truncate)
                    .map_err(Error::Usage)?;
                aimed(Fault::Corrupt { file, how, seed }, &target.args)
            }
            FaultCommand::Isolate { target, direction } => {
                let direction: Direction = direction.parse()?;
                aimed(Fault::Isolate { direction }, &target.args)
            }
            FaultCommand::Loss(a) => link("loss", &a.args, None),
            FaultCommand::Bandwidth(a) => link("bandwidth", &a.args, None),
            FaultCommand::Delay { link: a, jitter } => link("delay", &a.args, jitter.as_deref()),
            FaultCommand::Heal { system } => Ok(Request {
                system,
                fault: Fault::Heal,
                target: None,
            }),
            FaultCommand::Partition {
                args,
                direction,
                shape,
                seed,
            } => {
                let direction: Direction = direction.parse()?;
                let (system, groups) = match args.first() {
                    Some(first) if systems.contains(first) => (Some(first.clone()), &args[1..]),
                    _ => (None, &args[..]),
                };
                let fault = if let Some(shape) = shape {
                    let shape: Shape = shape.parse()?;
                    if !groups.is_empty() || direction != Direction::Both {
                        return Err(Error::Usage(format!(
                            "a {shape} partition takes no groups and no direction: give either groups or --shape"
                        ))
                        .into());
                    }
                    Fault::Shaped { shape, seed }
                } else {
                    if groups.is_empty() {
                        return Err(Error::Usage(
                            "give groups (`partition n1 n2,n3`) or a shape (`partition --shape ring`)"
                                .into(),
                        )
                        .into());
                    }
                    let groups = groups
                        .iter()
                        .map(|g| {
                            g.split(',')
                                .filter(|s| !s.is_empty())
                                .map(NodeName::from)
                                .collect()
                        })
                        .collect();
                    Fault::Partition { groups, direction }
                };
                Ok(Request {
                    system,
                    fault,
                    target: None,
                })
            }
        }
    }
}

pub(super) async fn fault_command(cmd: FaultCommand) -> anyhow::Result<i32> {
    let systems = match &cmd {
        FaultCommand::Partition { .. } => Home::locate()?.systems(),
        _ => Vec::new(),
    };
    let Request {
        system,
        fault,
        target,
    } = cmd.request(&systems)?;
    let lab = open_lab(system.as_deref()).await?;
    // A target is resolved now; a random or follower target draws at random.
    let nodes = match &target {
        Some(t) => fault::resolve_nodes(&lab, t, rand::random()).await?,
        None => Vec::new(),
    };
    let ev = fault::inject(&lab, &fault, target.as_ref(), &nodes).await?;
    println!("{}", ev.render());
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use perseus::scenario::{Action, Aim, Aims};

    #[derive(Debug, Parser)]
    struct Line {
        #[command(subcommand)]
        fault: FaultCommand,
    }

    /// `perseus fault WORDS...` as the command line parses it.
    fn cli(words: &str) -> Request {
        let line = Line::try_parse_from(std::iter::once("fault").chain(words.split(' ')))
            .unwrap_or_else(|e| panic!("{words}: {e}"));
        line.fault.request(&["etcd".to_string()]).unwrap()
    }

    /// A scenario step written in YAML, as the runner makes it a fault (partition groups of
    /// node names resolve to themselves; a shaped partition's seed at its first firing).
    fn yaml(step: &str) -> (Fault, Option<Target>) {
        let text = format!(
            "name: t\nsystem: etcd\nnodes: 5\nload: {{duration: 30s}}\nsteps:\n  - {{at: 5s, {step}}}\n"
        );
        let s = perseus::scenario::parse(std::path::Path::new("t.yaml"), &text)
            .unwrap_or_else(|e| panic!("{step}: {e}"));
        let step = &s.steps[0];
        let name = |a: &Aim| match a {
            Aim::Target(Target::Node(n)) => n.clone(),
            other => panic!("{other:?}"),
        };
        let groups = step
            .action
            .groups()
            .iter()
            .map(|g| g.iter().map(name).collect())
            .collect();
        let seed = match step.action {
            Action::Shaped { seed, .. } | Action::Corrupt { seed, .. } => seed,
            _ => None,
        };
        let fault = step.action.fault(groups, seed);
        let target = match step.action.target() {
            Some(Aims::One(Aim::Target(t))) => Some(t.clone()),
            None => None,
            other => panic!("{other:?}"),
        };
        (fault, target)
    }

    /// Every fault kind, from the command line and from a scenario step, is the same `Fault`.
    #[test]
    fn every_fault_kind_is_the_same_fault_from_the_command_line_and_from_yaml() {
        let n = |s: &str| Some(Target::Node(s.into()));
        let cases: Vec<(&str, &str, Fault, Option<Target>)> = vec![
            (
                "kill etcd leader",
                "fault: kill, target: leader",
                Fault::Node {
                    action: NodeFault::Kill,
                },
                Some(Target::Leader),
            ),
            (
                "stop n2",
                "fault: stop, target: n2",
                Fault::Node {
                    action: NodeFault::Stop,
                },
                n("n2"),
            ),
            (
                "start n2",
                "fault: start, target: n2",
                Fault::Node {
                    action: NodeFault::Start,
                },
                n("n2"),
            ),
            (
                "pause follower",
                "fault: pause, target: follower",
                Fault::Node {
                    action: NodeFault::Pause,
                },
                Some(Target::Follower),
            ),
            (
                "power-loss all",
                "fault: power-loss, target: all",
                Fault::Node {
                    action: NodeFault::PowerLoss,
                },
                Some(Target::All),
            ),
            (
                "power-loss n1,n3",
                "fault: power-loss, target: 'n1,n3'",
                Fault::Node {
                    action: NodeFault::PowerLoss,
                },
                Some(Target::Nodes(vec!["n1".into(), "n3".into()])),
            ),
            (
                "power-loss-torn n1",
                "fault: power-loss-torn, target: n1",
                Fault::Node {
                    action: NodeFault::PowerLossTorn,
                },
                n("n1"),
            ),
            (
                "corrupt n2 --file version-2/log.* --bitflip 3 --seed 7",
                "fault: corrupt, target: n2, file: 'version-2/log.*', bitflip: 3, seed: 7",
                Fault::Corrupt {
                    file: "version-2/log.*".into(),
                    how: perseus::fault::Corruption::Bitflip { bits: 3 },
                    seed: Some(7),
                },
                n("n2"),
            ),
            (
                "resume n1",
                "fault: resume, target: n1",
                Fault::Node {
                    action: NodeFault::Resume,
                },
                n("n1"),
            ),
            (
                "disconnect random",
                "fault: disconnect, target: random",
                Fault::Node {
                    action: NodeFault::Disconnect,
                },
                Some(Target::Random),
            ),
            (
                "connect n3",
                "fault: connect, target: n3",
                Fault::Node {
                    action: NodeFault::Connect,
                },
                n("n3"),
            ),
            (
                "isolate n1",
                "fault: isolate, target: n1",
                Fault::Isolate {
                    direction: Direction::Both,
                },
                n("n1"),
            ),
            (
                "isolate n1 --direction in",
                "fault: isolate, target: n1, direction: in",
                Fault::Isolate {
                    direction: Direction::In,
                },
                n("n1"),
            ),
            (
                "loss leader 30%",
                "fault: loss, target: leader, amount: 30%",
                Fault::Link {
                    link: Link::parse("loss", "30%", None).unwrap(),
                },
                Some(Target::Leader),
            ),
            (
                "bandwidth n1 1mbit",
                "fault: bandwidth, target: n1, amount: 1mbit",
                Fault::Link {
                    link: Link::parse("bandwidth", "1mbit", None).unwrap(),
                },
                n("n1"),
            ),
            (
                "delay n1 100ms --jitter 20ms",
                "fault: delay, target: n1, amount: 100ms, jitter: 20ms",
                Fault::Link {
                    link: Link::parse("delay", "100ms", Some("20ms")).unwrap(),
                },
                n("n1"),
            ),
            (
                "partition etcd n1 n2,n3",
                "fault: partition, groups: [[n1], [n2, n3]]",
                Fault::Partition {
                    groups: vec![vec!["n1".into()], vec!["n2".into(), "n3".into()]],
                    direction: Direction::Both,
                },
                None,
            ),
            (
                "partition n1 n2 --direction out",
                "fault: partition, groups: [[n1], [n2]], direction: out",
                Fault::Partition {
                    groups: vec![vec!["n1".into()], vec!["n2".into()]],
                    direction: Direction::Out,
                },
                None,
            ),
            (
                "partition --shape ring --seed 11",
                "fault: partition, shape: ring, seed: 11",
                Fault::Shaped {
                    shape: Shape::Ring,
                    seed: Some(11),
                },
                None,
            ),
            ("heal", "fault: heal", Fault::Heal, None),
        ];
        let mut kinds = std::collections::BTreeSet::new();
        for (line, step, fault, target) in cases {
            let r = cli(line);
            assert_eq!(
                (&r.fault, &r.target),
                (&fault, &target),
                "perseus fault {line}"
            );
            assert_eq!(yaml(step), (fault.clone(), target), "{step}");
            kinds.insert(fault.name());
            // Every fault knows its undo, and an undo has none.
            if let Some(undo) = fault.undo() {
                assert_eq!(undo.undo(), None, "{fault:?}");
            }
        }
        assert_eq!(
            kinds.len(),
            NodeFault::ALL.len() + 7,
            "every node fault, isolate, the three links, partition, heal and corrupt: {kinds:?}"
        );
        assert_eq!(cli("kill etcd n1").system.as_deref(), Some("etcd"));
        assert_eq!(cli("partition etcd n1 n2").system.as_deref(), Some("etcd"));
    }

    #[test]
    fn a_bad_request_is_one_line_before_any_lab_is_opened() {
        let bad = |words: &str| {
            let line =
                Line::try_parse_from(std::iter::once("fault").chain(words.split(' '))).unwrap();
            format!("{:#}", line.fault.request(&[]).unwrap_err())
        };
        assert!(
            bad("loss n1 300%").contains("300%"),
            "{}",
            bad("loss n1 300%")
        );
        assert!(bad("kill node3").contains("'node3' is not a target"));
        assert!(bad("partition --shape ring n1").contains("takes no groups"));
        assert!(bad("isolate n1 --direction sideways").contains("sideways"));
    }
}
