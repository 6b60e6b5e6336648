//! The scenario format: what a scenario file holds (load, steps, expectations), as serde reads
//! and writes it.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer, Serialize};

use crate::checker::list_append::Model;
use crate::workload::{Isolation, Workload};

use crate::fault::link::{Link, LinkKind};
use crate::fault::{Direction, Fault, NodeFault, Shape, Target};
use crate::node::NodeName;

/// The longest measured load a scenario may ask for.
pub const MAX_LOAD: Duration = Duration::from_secs(3600);

/// A parsed, validated scenario. Its steps are typed [`Step`]s; as serde reads the file they are
/// [`RawStep`]s first ([`RawScenario`]), made typed once, with the path of anything wrong, by
/// [`crate::scenario::parse`].
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Scenario<S = Step> {
    /// Short name, used in the run folder's name and in JUnit (`etcd-kill-leader`).
    pub name: String,
    /// What the experiment shows, for the report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The system (`etcd`), or the system at a release it lists (`etcd@3.5.1`).
    pub system: crate::lab::SystemRef,
    /// How many nodes (default 3).
    #[serde(default = "default_nodes")]
    pub nodes: usize,
    /// The seed of the run's random choices: `random` targets, the follower a `follower` target
    /// picks, and shaped partitions without a seed of their own. Each firing draws from its own
    /// generator, made from this seed, the step's index and the firing's number, so the same seed
    /// makes the same choices in the same cluster state, however the timing falls. Default: a
    /// random one, printed at the start and kept in the report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// The Docker hosts to bring the lab up across (`hosts: [tcp://10.0.0.1:2375, ...]`, two or
    /// more, members of one Swarm; docs/hosts.md). Empty: this
    /// machine's engine. `perseus run --hosts` overrides it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<crate::lab::hosts::HostSpec>,
    /// The load loop's settings.
    pub load: LoadSpec,
    /// The timeline of faults, in time order.
    #[serde(default = "no_steps")]
    #[schemars(default = "Vec::<S>::new")]
    pub steps: Vec<S>,
    /// What must hold. Each is a one-key map (`- window: {...}`), not a YAML tag.
    #[serde(default, with = "serde_yaml::with::singleton_map_recursive")]
    #[schemars(with = "Vec<Expect>")]
    pub expect: Vec<Expect>,
}

/// A scenario as serde reads it, before its steps are checked and typed.
pub type RawScenario = Scenario<RawStep>;

impl Scenario {
    /// Whether a step is a power loss: the lab must run under the lazy file system.
    pub fn needs_lazyfs(&self) -> bool {
        self.steps.iter().any(|s| {
            matches!(
                s.kind(),
                FaultKind::Node(NodeFault::PowerLoss | NodeFault::PowerLossTorn)
            )
        })
    }
}

impl<S> Scenario<S> {
    /// The open loop's schedule on this scenario's nodes (`None`: the closed loop); a
    /// validated scenario's is always well-formed.
    pub fn schedule(&self) -> Option<crate::load::open::Schedule> {
        crate::load::open::Schedule::new(
            self.load.rate,
            self.load.rate_per_node,
            self.nodes,
            self.load.max_clients_per_node,
        )
        .ok()
        .flatten()
    }

    /// The same scenario with other steps (the typed ones made from its raw steps).
    pub(super) fn with_steps<T>(self, steps: Vec<T>) -> Scenario<T> {
        let Scenario {
            name,
            description,
            system,
            nodes,
            seed,
            hosts,
            load,
            steps: _,
            expect,
        } = self;
        Scenario {
            name,
            description,
            system,
            nodes,
            seed,
            hosts,
            load,
            steps,
            expect,
        }
    }
}

fn no_steps<S>() -> Vec<S> {
    Vec::new()
}

fn default_nodes() -> usize {
    3
}

/// How much load, for how long.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LoadSpec {
    /// How long the measured load runs.
    #[serde(with = "crate::units::duration")]
    #[schemars(with = "crate::units::DurationText")]
    pub duration: Duration,
    /// Connections per node, each with its own key (default 1).
    #[serde(default = "default_clients")]
    pub clients_per_node: usize,
    /// Deadline of each connect, read and write (default 1 s).
    #[serde(default = "default_op_timeout", with = "crate::units::duration")]
    #[schemars(with = "crate::units::DurationText")]
    pub op_timeout: Duration,
    /// The open loop's rate, all nodes together, spread evenly (`3000/s`): operations start on
    /// a fixed schedule and are timed from their intended start (docs/load.md). Without it (and
    /// without `rate-per-node`) the loop is closed, as the seeds'.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<crate::load::open::Rate>,
    /// The open loop's rate on each node (`1000/s`), instead of `rate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_per_node: Option<crate::load::open::Rate>,
    /// The most connections the open loop may open on a node to keep its schedule (default
    /// 256); `clients-per-node` is the closed loop's.
    #[serde(default = "default_max_clients")]
    pub max_clients_per_node: usize,
    /// Warm-up before the measured load: it ends after the first second in which every node
    /// served; a lab that does not get there within this long fails the run (default 30 s).
    #[serde(default = "default_warmup", with = "crate::units::duration")]
    #[schemars(with = "crate::units::DurationText")]
    pub warmup: Duration,
    /// The transactional workload run beside the register loop (`list-append`, `bank`; default
    /// `register`: the loop alone). The register loop still measures the windows; the
    /// transactions are checked for anomalies, counted per fault window (docs/workloads.md).
    #[serde(default, skip_serializing_if = "is_register")]
    pub workload: Workload,
    /// The isolation level each transaction begins at (default: the system's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolation: Option<Isolation>,
    /// Whether read-only transactions run at each node's own copy (the definition's
    /// `read-port`), as `perseus load --replica-reads` (default: false).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub replica_reads: bool,
    /// Transactional clients per node (default 3), beside the register loop's connections.
    #[serde(default = "default_txn_clients")]
    pub txn_clients_per_node: usize,
}

fn is_register(w: &Workload) -> bool {
    *w == Workload::Register
}
fn default_txn_clients() -> usize {
    3
}

fn default_clients() -> usize {
    1
}
fn default_max_clients() -> usize {
    crate::load::open::DEFAULT_MAX_CLIENTS_PER_NODE
}
fn default_op_timeout() -> Duration {
    Duration::from_secs(1)
}
fn default_warmup() -> Duration {
    Duration::from_secs(30)
}

/// Which fault a step injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// A fault on nodes (kill, stop, start, pause, resume, disconnect, connect).
    Node(NodeFault),
    /// Cut nodes from their peers (with a `direction`).
    Isolate,
    /// A degraded link between nodes and their peers (loss, bandwidth, delay).
    Link(LinkKind),
    /// Groups of nodes that cannot reach each other.
    Partition,
    /// Undo every network fault.
    Heal,
    /// Damage a stopped node's data files.
    Corrupt,
}

impl FaultKind {
    /// The name as written (`kill`, `partition`, `heal`).
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Node(f) => f.name(),
            FaultKind::Isolate => "isolate",
            FaultKind::Link(l) => l.name(),
            FaultKind::Partition => "partition",
            FaultKind::Heal => "heal",
            FaultKind::Corrupt => "corrupt",
        }
    }

    /// Whether the step brings nodes back (start, resume, connect, heal): its recovery is measured.
    pub fn restores(self) -> bool {
        matches!(
            self,
            FaultKind::Heal
                | FaultKind::Node(NodeFault::Start)
                | FaultKind::Node(NodeFault::Resume)
                | FaultKind::Node(NodeFault::Connect)
        )
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for FaultKind {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<FaultKind, String> {
        match s {
            "partition" => Ok(FaultKind::Partition),
            "heal" => Ok(FaultKind::Heal),
            "corrupt" => Ok(FaultKind::Corrupt),
            "isolate" => Ok(FaultKind::Isolate),
            _ if LinkKind::ALL.iter().any(|l| l.name() == s) => Ok(FaultKind::Link(
                *LinkKind::ALL.iter().find(|l| l.name() == s).expect("found"),
            )),
            _ => NodeFault::ALL
                .iter()
                .find(|f| f.name() == s)
                .map(|f| FaultKind::Node(*f))
                .ok_or_else(|| {
                    format!(
                        "unknown fault '{s}': use one of {}, isolate, loss, bandwidth, delay, partition, heal, corrupt",
                        NodeFault::ALL.map(|f| f.name()).join(", ")
                    )
                }),
        }
    }
}

impl Serialize for FaultKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for FaultKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<FaultKind, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl FaultKind {
    /// Every fault a step can name, as written: the node faults, then isolate, the link
    /// faults, partition, heal and corrupt (what [`FaultKind::from_str`] takes).
    pub fn names() -> Vec<&'static str> {
        let mut names: Vec<&str> = NodeFault::ALL.iter().map(|f| f.name()).collect();
        names.push("isolate");
        names.extend(LinkKind::ALL.iter().map(|l| l.name()));
        names.extend(["partition", "heal", "corrupt"]);
        names
    }
}

impl JsonSchema for FaultKind {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Fault".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "enum": FaultKind::names(),
            "description": "The fault the step injects (docs/faults.md)."
        })
    }
}

/// What a step aims at: a target resolved when it fires, or the nodes an earlier step hit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub enum Aim {
    /// A node, a role, or `random`, resolved when the step fires.
    Target(Target),
    /// The node(s) the named earlier step acted on.
    Step(String),
}

impl From<Aim> for String {
    fn from(a: Aim) -> String {
        a.to_string()
    }
}

impl fmt::Display for Aim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Aim::Target(t) => t.fmt(f),
            Aim::Step(s) => f.write_str(s),
        }
    }
}

/// Whether `s` can name a step: lowercase letters, digits and `-`, starting with a letter, and not
/// a target word or node name.
pub(super) fn is_step_name(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && s.parse::<Target>().is_err()
}

impl<'de> Deserialize<'de> for Aim {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Aim, D::Error> {
        let s = String::deserialize(d)?;
        if let Ok(t) = s.parse::<Target>() {
            return Ok(Aim::Target(t));
        }
        if is_step_name(&s) {
            return Ok(Aim::Step(s));
        }
        Err(serde::de::Error::custom(format!(
            "'{s}' is not a target: use a node (n1, n2, ...), leader, follower, random, a role's leader such as pd-leader, or the name of an earlier step"
        )))
    }
}

/// The target words an [`Aim`] may be besides a node, a role's leader or a step's name.
const TARGET_WORDS: [&str; 4] = ["leader", "follower", "random", "all"];

/// A regular expression for every text [`Aim`] takes: a node (`n2`), several (`n1,n2`), a target
/// word, a role's leader (`pd-leader`) or a step's name (lowercase letters, digits and `-`,
/// starting with a letter). Whether a node is in the lab, or a step name is an earlier step's, is
/// for `perseus run --check`.
pub(super) const AIM_PATTERN: &str = "^([a-z][a-z0-9-]*|n[1-9][0-9]*(,n[1-9][0-9]*)+)$";

impl JsonSchema for Aim {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Target".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A node (n2), several (n1,n2), leader, follower, random, all, a role's leader (pd-leader), or the name of an earlier step (the node(s) it hit).",
            "anyOf": [
                {"type": "string", "enum": TARGET_WORDS},
                {"type": "string", "pattern": AIM_PATTERN}
            ]
        })
    }
}

impl JsonSchema for Aims {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Targets".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let one = generator.subschema_for::<Aim>();
        json_schema!({
            "description": "One target, or a list of them: the fault acts on each.",
            "anyOf": [one, {"type": "array", "items": one, "minItems": 1}]
        })
    }
}

/// One target or a list of them (`target: leader`, `target: [n1, n2]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Aims {
    /// One.
    One(Aim),
    /// Several: the fault acts on each.
    Many(Vec<Aim>),
}

impl<'de> Deserialize<'de> for Aims {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Aims, D::Error> {
        // By hand rather than `untagged`, so that a bad target keeps its own message.
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Aims;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a target (leader, n2, ...) or a list of targets")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> std::result::Result<Aims, E> {
                Aim::deserialize(serde::de::value::StrDeserializer::<E>::new(s)).map(Aims::One)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<Aims, A::Error> {
                let mut v = Vec::new();
                while let Some(a) = seq.next_element::<Aim>()? {
                    v.push(a);
                }
                Ok(Aims::Many(v))
            }
        }
        d.deserialize_any(V)
    }
}

impl Aims {
    /// As a list.
    pub fn list(&self) -> Vec<&Aim> {
        match self {
            Aims::One(a) => vec![a],
            Aims::Many(v) => v.iter().collect(),
        }
    }
}

/// One step of the timeline as the file writes it: a flat map of which most fields belong to some
/// faults only. [`crate::scenario::parse`] checks it and makes it a [`Step`]; nothing else reads it.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawStep {
    /// Optional name that later steps and expectations use to refer to this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// When it fires.
    #[serde(with = "crate::units::duration")]
    #[schemars(with = "crate::units::DurationText")]
    pub at: Duration,
    /// Fire again this long after each firing.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::units::duration::option"
    )]
    #[schemars(with = "crate::units::DurationText")]
    pub every: Option<Duration>,
    /// A repeating step's last firing comes before this offset.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::units::duration::option"
    )]
    #[schemars(with = "crate::units::DurationText")]
    pub until: Option<Duration>,
    /// The fault.
    pub fault: FaultKind,
    /// What it aims at (node, isolate and link faults).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Aims>,
    /// The groups of a partition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<Vec<Aim>>>,
    /// Which way an isolate or partition cuts (`in`, `out`, `both`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
    /// A partition by Jepsen's shape name instead of groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shape: Option<Shape>,
    /// The seed of a shaped partition's random choices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// How much a link fault degrades: `30%` (loss), `1mbit` (bandwidth), `100ms` (delay).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<String>,
    /// A delay's jitter (`20ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<String>,
    /// The files a corruption damages: a glob under the data directory (`version-2/log.*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// A corruption's bits to flip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bitflip: Option<u32>,
    /// A corruption's bytes to cut off the end of each file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncate: Option<u64>,
}

/// One fault on the timeline, checked and typed: when it fires and what it does. Written to YAML
/// as the file's flat form ([`RawStep`]), so a scenario made in code reads back the same.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(into = "RawStep")]
pub struct Step {
    /// Optional name that later steps and expectations use to refer to this one.
    pub name: Option<String>,
    /// When it fires: offset from the start of the measured load.
    pub at: Duration,
    /// Fire again this long after each firing (a soak's fault every few minutes), until `until`
    /// or the end of the load.
    pub every: Option<Duration>,
    /// A repeating step's last firing comes before this offset from the start of the load
    /// (default: the load's end).
    pub until: Option<Duration>,
    /// What it does.
    pub action: Action,
}

/// What a step does: a [`Fault`] whose nodes are still aims, resolved each time it fires.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Kill, stop, start, pause, resume, disconnect or connect each node it aims at.
    Node {
        /// Which.
        fault: NodeFault,
        /// At what.
        target: Aims,
    },
    /// Cut each node it aims at from its peers ([`Fault::Isolate`]).
    Isolate {
        /// At what.
        target: Aims,
        /// Which packets are dropped (default both).
        direction: Direction,
    },
    /// Degrade the links of each node it aims at ([`Fault::Link`]).
    Link {
        /// At what.
        target: Aims,
        /// How.
        link: Link,
    },
    /// Groups of nodes that cannot reach each other ([`Fault::Partition`]).
    Partition {
        /// The groups, as aims.
        groups: Vec<Vec<Aim>>,
        /// Both ways, or one way about the first group.
        direction: Direction,
    },
    /// A partition by Jepsen's shape ([`Fault::Shaped`]).
    Shaped {
        /// Which.
        shape: Shape,
        /// The step's own seed (default: a draw from the run's seed at each firing).
        seed: Option<u64>,
    },
    /// Undo every network fault.
    Heal,
    /// Damage the data files of each node it aims at ([`Fault::Corrupt`]).
    Corrupt {
        /// At what.
        target: Aims,
        /// The glob under the data directory.
        file: String,
        /// How.
        how: crate::fault::Corruption,
        /// The seed of its random choices (moved on by each repeat), or a draw from the run's.
        seed: Option<u64>,
    },
}

impl Action {
    /// Which fault it is.
    pub fn kind(&self) -> FaultKind {
        match self {
            Action::Node { fault, .. } => FaultKind::Node(*fault),
            Action::Isolate { .. } => FaultKind::Isolate,
            Action::Link { link, .. } => FaultKind::Link(link.kind()),
            Action::Partition { .. } | Action::Shaped { .. } => FaultKind::Partition,
            Action::Heal => FaultKind::Heal,
            Action::Corrupt { .. } => FaultKind::Corrupt,
        }
    }

    /// The target of a node, isolate or link step.
    pub fn target(&self) -> Option<&Aims> {
        match self {
            Action::Node { target, .. }
            | Action::Isolate { target, .. }
            | Action::Link { target, .. }
            | Action::Corrupt { target, .. } => Some(target),
            _ => None,
        }
    }

    /// A partition's groups (empty for every other step).
    pub fn groups(&self) -> &[Vec<Aim>] {
        match self {
            Action::Partition { groups, .. } => groups,
            _ => &[],
        }
    }

    /// The fault one firing injects, as [`crate::fault::inject`] takes it: `groups` are the
    /// partition's groups resolved to node names (ignored otherwise), `seed` a shaped
    /// partition's or a corruption's seed for this firing.
    pub fn fault(&self, groups: Vec<Vec<NodeName>>, seed: Option<u64>) -> Fault {
        match self {
            Action::Node { fault, .. } => Fault::Node { action: *fault },
            Action::Isolate { direction, .. } => Fault::Isolate {
                direction: *direction,
            },
            Action::Link { link, .. } => Fault::Link { link: *link },
            Action::Partition { direction, .. } => Fault::Partition {
                groups,
                direction: *direction,
            },
            Action::Shaped { shape, .. } => Fault::Shaped {
                shape: *shape,
                seed,
            },
            Action::Heal => Fault::Heal,
            Action::Corrupt { file, how, .. } => Fault::Corrupt {
                file: file.clone(),
                how: *how,
                seed,
            },
        }
    }
}

impl From<Step> for RawStep {
    fn from(s: Step) -> RawStep {
        let fault = s.action.kind();
        let mut raw = RawStep {
            name: s.name,
            at: s.at,
            every: s.every,
            until: s.until,
            fault,
            target: None,
            groups: None,
            direction: None,
            shape: None,
            seed: None,
            amount: None,
            jitter: None,
            file: None,
            bitflip: None,
            truncate: None,
        };
        let both = |d: Direction| (d != Direction::Both).then_some(d);
        match s.action {
            Action::Node { target, .. } => raw.target = Some(target),
            Action::Corrupt {
                target,
                file,
                how,
                seed,
            } => {
                raw.target = Some(target);
                raw.file = Some(file);
                raw.seed = seed;
                match how {
                    crate::fault::Corruption::Bitflip { bits } => raw.bitflip = Some(bits),
                    crate::fault::Corruption::Truncate { bytes } => raw.truncate = Some(bytes),
                }
            }
            Action::Isolate { target, direction } => {
                raw.target = Some(target);
                raw.direction = both(direction);
            }
            Action::Link { target, link } => {
                raw.target = Some(target);
                let (amount, jitter) = link.written();
                raw.amount = Some(amount);
                raw.jitter = jitter;
            }
            Action::Partition { groups, direction } => {
                raw.groups = Some(groups);
                raw.direction = both(direction);
            }
            Action::Shaped { shape, seed } => {
                raw.shape = Some(shape);
                raw.seed = seed;
            }
            Action::Heal => {}
        }
        raw
    }
}

impl Step {
    /// A step that fires once, at `at`.
    pub fn once(name: Option<&str>, at: Duration, action: Action) -> Step {
        Step {
            name: name.map(str::to_string),
            at,
            every: None,
            until: None,
            action,
        }
    }

    /// Which fault it is.
    pub fn kind(&self) -> FaultKind {
        self.action.kind()
    }

    /// Every aim the step uses (its target or targets, its partition groups' members), each with
    /// its path in the document (`steps[2].target[1]`), given the step's index `i`.
    pub fn aims_at(&self, i: usize) -> Vec<(String, &Aim)> {
        let mut aims: Vec<(String, &Aim)> = Vec::new();
        match self.action.target() {
            Some(Aims::One(a)) => aims.push((format!("steps[{i}].target"), a)),
            Some(Aims::Many(v)) => aims.extend(
                v.iter()
                    .enumerate()
                    .map(|(j, a)| (format!("steps[{i}].target[{j}]"), a)),
            ),
            None => {}
        }
        for (g, group) in self.action.groups().iter().enumerate() {
            aims.extend(
                group
                    .iter()
                    .enumerate()
                    .map(|(j, a)| (format!("steps[{i}].groups[{g}][{j}]"), a)),
            );
        }
        aims
    }

    /// Its aims as written: `leader`, `n1,n2`, `n1 | n2,n3` for a partition's groups, empty for a
    /// shaped partition and heal.
    pub fn aim_text(&self) -> String {
        let aims = |v: &[&Aim]| {
            v.iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        match &self.action {
            Action::Partition { groups, .. } => groups
                .iter()
                .map(|g| aims(&g.iter().collect::<Vec<_>>()))
                .collect::<Vec<_>>()
                .join(" | "),
            a => a.target().map(|t| aims(&t.list())).unwrap_or_default(),
        }
    }

    /// `kill leader`, `partition [leader] | [n2,n3]`, `isolate leader (in)`, `heal`.
    pub fn describe(&self) -> String {
        let kind = self.kind();
        let plain = match &self.action {
            Action::Shaped { shape, .. } => format!("{kind} {shape}"),
            Action::Heal => kind.to_string(),
            _ => format!("{kind} {}", self.aim_text()),
        };
        match &self.action {
            Action::Link { link, .. } => format!("{plain} ({link})"),
            Action::Isolate { direction, .. } | Action::Partition { direction, .. }
                if *direction != Direction::Both =>
            {
                format!("{plain} ({direction})")
            }
            _ => plain,
        }
    }
}

/// A step referred to by name or by 0-based index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum StepRef {
    /// By index.
    Index(usize),
    /// By name.
    Name(String),
}

impl<'de> Deserialize<'de> for StepRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<StepRef, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            I(usize),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::I(i) => Ok(StepRef::Index(i)),
            Raw::S(s) => Ok(StepRef::Name(s)),
        }
    }
}

impl fmt::Display for StepRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StepRef::Index(i) => write!(f, "step {i}"),
            StepRef::Name(n) => f.write_str(n),
        }
    }
}

/// What must hold for the run to pass.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub enum Expect {
    /// The unavailability window a step caused (cluster-wide, or one node's) is within bounds.
    Window(WindowExpect),
    /// Every node the step brings back (start, resume, connect; heal: every node a network fault
    /// had cut) serves again within a duration of it.
    ServesAgain(ServesAgain),
    /// At most this many lost writes (acknowledged increments confirmed gone, final read
    /// included), and no unverified key unless [`Expect::UnverifiedKeys`] allows it.
    LostWrites(u64),
    /// At most this many anomalies of every kind: lost writes, stale, reverted and impossible
    /// reads; every key of the history linearizable; and no unverified key unless
    /// [`Expect::UnverifiedKeys`] allows it; with a transactional workload, its anomalies too.
    /// Or, by name, at most so many of each transactional anomaly (`anomalies: {G-single: 0}`;
    /// a name without `-process` or `-realtime` counts those variants too).
    Anomalies(AnomalyBound),
    /// The transactions' history rules out none of this model (`model: serializable`): it is
    /// consistent with it, and with every weaker one (list-append only).
    Model(Model),
    /// At most this many unverified keys (no final read settled, or the history check could not
    /// decide them). With it, `lost-writes` and `anomalies` no longer fail because a key is
    /// unverified; they still count what the loop saw on every key.
    UnverifiedKeys(u64),
    /// A node's column is 0 from a step until another (while it is isolated, killed, paused).
    ColumnZero(ColumnZero),
}

impl Expect {
    /// One line naming the expectation, also the JUnit test case name.
    pub fn describe(&self) -> String {
        match self {
            Expect::Window(w) => {
                let whose = match &w.node {
                    Some(n) => format!("{n}'s"),
                    None => "cluster".into(),
                };
                let mut bounds = Vec::new();
                if let Some(d) = w.at_least {
                    bounds.push(format!("at least {}", crate::units::show(d)));
                }
                if let Some(d) = w.at_most {
                    bounds.push(format!("at most {}", crate::units::show(d)));
                }
                format!(
                    "{whose} unavailability window after {} is {}",
                    w.after,
                    bounds.join(" and ")
                )
            }
            Expect::ServesAgain(s) => format!(
                "every node serves again within {} of {}",
                crate::units::show(s.within),
                s.after
            ),
            Expect::LostWrites(n) => format!("at most {n} lost writes"),
            Expect::Anomalies(AnomalyBound::Total(n)) => {
                format!("at most {n} anomalies (lost, stale, reverted, impossible)")
            }
            Expect::Anomalies(AnomalyBound::ByName(m)) => {
                let each: Vec<String> = m.iter().map(|(k, v)| format!("{v} {k}")).collect();
                format!("at most {} transactional anomalies", each.join(", "))
            }
            Expect::Model(m) => format!("the transactions are consistent with {m}"),
            Expect::UnverifiedKeys(n) => format!("at most {n} unverified keys"),
            Expect::ColumnZero(c) => format!(
                "{}'s column is 0 from {} until {}",
                c.node,
                c.from,
                c.until
                    .as_ref()
                    .map(|u| u.to_string())
                    .unwrap_or_else(|| "the end".into())
            ),
        }
    }
}

/// The bound of an `anomalies` expectation: a number for every kind together, or a map of
/// transactional anomaly names to their bounds.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, JsonSchema)]
#[serde(untagged)]
pub enum AnomalyBound {
    /// At most this many of every kind together.
    Total(u64),
    /// At most so many of each name (`G-single: 0`).
    ByName(std::collections::BTreeMap<String, u64>),
}

impl AnomalyBound {
    /// How many of `counts` (anomaly name to count) the bound for `name` covers: the name itself
    /// and, for a name without an order suffix, its `-process` and `-realtime` variants.
    pub fn covered(name: &str, counts: &std::collections::BTreeMap<String, u64>) -> u64 {
        counts
            .iter()
            .filter(|(n, _)| {
                n.as_str() == name
                    || n.strip_prefix(name)
                        .is_some_and(|rest| rest == "-process" || rest == "-realtime")
            })
            .map(|(_, c)| c)
            .sum()
    }
}

/// `window: {after, node, at-most, at-least}`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct WindowExpect {
    /// The step whose window it is.
    pub after: StepRef,
    /// One node's window instead of the cluster's (a node, or a step's name: the node it hit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<Aim>,
    /// Upper bound.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::units::duration::option"
    )]
    #[schemars(with = "crate::units::DurationText")]
    pub at_most: Option<Duration>,
    /// Lower bound.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::units::duration::option"
    )]
    #[schemars(with = "crate::units::DurationText")]
    pub at_least: Option<Duration>,
}

/// `serves-again: {after, within}`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ServesAgain {
    /// A start, resume, connect or heal step.
    pub after: StepRef,
    /// How soon.
    #[serde(with = "crate::units::duration")]
    #[schemars(with = "crate::units::DurationText")]
    pub within: Duration,
}

/// `column-zero: {node, from, until, grace}`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ColumnZero {
    /// The node (a name, or a step's name: the node it hit).
    pub node: Aim,
    /// From this step (plus `grace`) ...
    pub from: StepRef,
    /// ... until this one fires (default: the end of the load).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<StepRef>,
    /// Iterations already in flight when `from` fired may still be acknowledged this long after
    /// it (default: the load's op-timeout).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::units::duration::option"
    )]
    #[schemars(with = "crate::units::DurationText")]
    pub grace: Option<Duration>,
}
