//! Scenarios: an experiment as a YAML file — which system, how much load, which faults at which
//! times on which targets, and what must hold — so that `perseus run` carries it out the same way
//! every time and a CI job can use it as a smoke test.
//!
//! ```yaml
//! name: etcd-kill-leader
//! system: etcd
//! nodes: 3                      # default 3
//! load:
//!   duration: 30s               # how long the measured load runs
//!   clients-per-node: 1         # default 1
//!   op-timeout: 1s              # deadline of each connect, read and write; default 1s
//!   warmup: 30s                 # at most this long until every node serves; default 30s
//! steps:
//!   - name: crash               # optional; later steps and expectations refer to it
//!     at: 10s                   # offset from the start of the measured load
//!     fault: kill               # kill stop start pause resume isolate disconnect connect partition heal
//!     target: leader            # a node (n2), leader, follower, random, pd-leader, a step's name, or a list
//!   - at: 20s
//!     fault: start
//!     target: crash             # the node(s) step `crash` hit
//! expect:
//!   - window: {after: crash, at-most: 5s}          # the cluster-wide unavailability window it caused
//!   - serves-again: {after: 1, within: 10s}        # steps by name or by 0-based index
//!   - column-zero: {node: crash, from: crash, until: 1}
//!   - lost-writes: 0                               # at most (acknowledged increments gone)
//!   - anomalies: 0                                 # at most, every kind: lost, stale, reverted, impossible
//!   - unverified-keys: 1                           # allow keys without a verdict (else they fail the two above)
//! ```
//!
//! A partition step names its groups instead of a target (`groups: [[leader], [n2, n3]]`); nodes no
//! group names form one more group. `heal` takes neither.
//!
//! A soak repeats steps: `every: 60s` fires a step again each minute after its `at`, until
//! `until:` (an offset, default the load's end). Firings of all steps are merged in time order
//! ([`Scenario::firings`]); a step's name as a target means the nodes of its latest firing, so a
//! kill and a start can repeat as a pair. An expectation about a repeating step is judged at every
//! firing. The scenario's `seed:` draws every random choice (`random` targets, the follower a
//! `follower` target picks, shaped partitions), each firing from its own generator
//! ([`firing_draw`]); without one a seed is drawn, printed and kept in the report, and
//! `perseus run --seed N` makes the same choices again:
//!
//! ```yaml
//! seed: 42
//! load: {duration: 1h}
//! steps:
//!   - {name: crash, at: 60s, every: 5m, fault: kill, target: random}
//!   - {at: 90s, every: 5m, fault: start, target: crash}
//! expect:
//!   - serves-again: {after: 1, within: 20s}
//! ```
//!
//! Every error — unknown keys, bad durations, unknown faults or targets, references to steps that do
//! not exist — is reported with the file, line and column ([`Error::Definition`]) before anything
//! starts.

pub mod analysis;
pub mod runner;

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

use crate::error::{Error, Result};
use crate::fault::link::{Link, LinkKind};
use crate::fault::{Direction, Fault, NodeFault, Shape, Target};
use crate::lab::Home;
use crate::locate;
use crate::systems::Leadership;

/// The longest measured load a scenario may ask for.
pub const MAX_LOAD: Duration = Duration::from_secs(3600);

/// A parsed, validated scenario.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Scenario {
    /// Short name, used in the run folder's name and in JUnit (`etcd-kill-leader`).
    pub name: String,
    /// What the experiment shows, for the report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The system (`etcd`).
    pub system: String,
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
    #[serde(default)]
    pub steps: Vec<Step>,
    /// What must hold. Each is a one-key map (`- window: {...}`), not a YAML tag.
    #[serde(default, with = "serde_yaml::with::singleton_map_recursive")]
    pub expect: Vec<Expect>,
}

fn default_nodes() -> usize {
    3
}

/// How much load, for how long.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LoadSpec {
    /// How long the measured load runs.
    #[serde(with = "crate::units::duration")]
    pub duration: Duration,
    /// Connections per node, each with its own key (default 1).
    #[serde(default = "default_clients")]
    pub clients_per_node: usize,
    /// Deadline of each connect, read and write (default 1 s).
    #[serde(default = "default_op_timeout", with = "crate::units::duration")]
    pub op_timeout: Duration,
    /// Warm-up before the measured load: it ends after the first second in which every node
    /// served; a lab that does not get there within this long fails the run (default 30 s).
    #[serde(default = "default_warmup", with = "crate::units::duration")]
    pub warmup: Duration,
}

fn default_clients() -> usize {
    1
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
                        "unknown fault '{s}': use one of {}, isolate, loss, bandwidth, delay, partition, heal",
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
fn is_step_name(s: &str) -> bool {
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

/// One fault on the timeline.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Step {
    /// Optional name that later steps and expectations use to refer to this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// When it fires: offset from the start of the measured load.
    #[serde(with = "crate::units::duration")]
    pub at: Duration,
    /// Fire again this long after each firing (a soak's fault every few minutes), until `until`
    /// or the end of the load.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::units::duration::option"
    )]
    pub every: Option<Duration>,
    /// A repeating step's last firing comes before this offset from the start of the load
    /// (default: the load's end).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::units::duration::option"
    )]
    pub until: Option<Duration>,
    /// The fault.
    pub fault: FaultKind,
    /// What it aims at (node faults).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Aims>,
    /// The groups of a partition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<Vec<Aim>>>,
    /// Which way an isolate or partition cuts (`in`, `out`, `both`; default both): see
    /// [`crate::fault::Direction`] and [`crate::fault::Fault::Partition`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
    /// A partition by Jepsen's shape name instead of groups (`halves`, `ring`, `bridge`,
    /// `leader`): see [`crate::fault::Shape`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shape: Option<Shape>,
    /// The seed of a shaped partition's random choices (default: a random one, printed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// How much a link fault degrades: `30%` (loss), `1mbit` (bandwidth), `100ms` (delay).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<String>,
    /// A delay's jitter (`20ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<String>,
}

impl Step {
    /// The degraded link a link step makes (`None` for other steps, or an amount that does not
    /// parse, which validation has refused).
    pub fn link(&self) -> Option<Link> {
        match self.fault {
            FaultKind::Link(k) => {
                Link::parse(k.name(), self.amount.as_deref()?, self.jitter.as_deref()).ok()
            }
            _ => None,
        }
    }

    /// The fault this step injects, as [`crate::fault::inject`] takes it: `groups` are its
    /// partition groups resolved to node names, `seed` the seed of a shaped partition (its own,
    /// moved on by the repeat, or a draw from the run's).
    ///
    /// Errors: a link step whose amount does not parse (validation refuses it first).
    pub fn fault(
        &self,
        groups: Vec<Vec<String>>,
        seed: Option<u64>,
    ) -> std::result::Result<Fault, String> {
        Ok(match self.fault {
            FaultKind::Node(action) => Fault::Node { action },
            FaultKind::Isolate => Fault::Isolate {
                direction: self.direction.unwrap_or_default(),
            },
            FaultKind::Link(k) => Fault::Link {
                link: self
                    .link()
                    .ok_or_else(|| format!("step {} has no valid amount", k.name()))?,
            },
            FaultKind::Partition => match self.shape {
                Some(shape) => Fault::Shaped { shape, seed },
                None => Fault::Partition {
                    groups,
                    direction: self.direction.unwrap_or_default(),
                },
            },
            FaultKind::Heal => Fault::Heal,
        })
    }
}

impl Step {
    /// Every aim the step uses (its target or targets, its partition groups' members), each with
    /// its path in the document (`steps[2].target[1]`), given the step's index `i`.
    pub fn aims_at(&self, i: usize) -> Vec<(String, &Aim)> {
        let mut aims: Vec<(String, &Aim)> = Vec::new();
        match &self.target {
            Some(Aims::One(a)) => aims.push((format!("steps[{i}].target"), a)),
            Some(Aims::Many(v)) => aims.extend(
                v.iter()
                    .enumerate()
                    .map(|(j, a)| (format!("steps[{i}].target[{j}]"), a)),
            ),
            None => {}
        }
        for (g, group) in self.groups.iter().flatten().enumerate() {
            aims.extend(
                group
                    .iter()
                    .enumerate()
                    .map(|(j, a)| (format!("steps[{i}].groups[{g}][{j}]"), a)),
            );
        }
        aims
    }

    /// `kill leader`, `partition [leader] | [n2,n3]`, `isolate leader (in)`, `heal`.
    pub fn describe(&self) -> String {
        let aims = |v: &[&Aim]| {
            v.iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        let plain = match (&self.target, &self.groups) {
            (Some(t), _) => format!("{} {}", self.fault, aims(&t.list())),
            (None, Some(g)) => format!(
                "{} {}",
                self.fault,
                g.iter()
                    .map(|g| aims(&g.iter().collect::<Vec<_>>()))
                    .collect::<Vec<_>>()
                    .join(" | ")
            ),
            (None, None) => match self.shape {
                Some(shape) => format!("{} {shape}", self.fault),
                None => self.fault.to_string(),
            },
        };
        if let Some(link) = self.link() {
            return format!("{plain} ({link})");
        }
        match self.direction {
            Some(d) if d != Direction::Both => format!("{plain} ({d})"),
            _ => plain,
        }
    }
}

/// A step referred to by name or by 0-based index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
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
    /// [`Expect::UnverifiedKeys`] allows it.
    Anomalies(u64),
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
            Expect::Anomalies(n) => {
                format!("at most {n} anomalies (lost, stale, reverted, impossible)")
            }
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

/// `window: {after, node, at-most, at-least}`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
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
    pub at_most: Option<Duration>,
    /// Lower bound.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::units::duration::option"
    )]
    pub at_least: Option<Duration>,
}

/// `serves-again: {after, within}`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ServesAgain {
    /// A start, resume, connect or heal step.
    pub after: StepRef,
    /// How soon.
    #[serde(with = "crate::units::duration")]
    pub within: Duration,
}

/// `column-zero: {node, from, until, grace}`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
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
    pub grace: Option<Duration>,
}

/// A scenario file, parsed and checked, with its text kept for the run folder.
#[derive(Debug, Clone)]
pub struct ScenarioFile {
    /// Where it came from.
    pub path: PathBuf,
    /// The file's text.
    pub text: String,
    /// The scenario.
    pub scenario: Scenario,
}

impl ScenarioFile {
    /// A scenario made in code (`perseus demo`, `perseus table`), with its text as YAML for the
    /// run folder; `path` says where it came from (`(perseus demo)`).
    ///
    /// Errors: [`Error::BadInput`] if it cannot be written as YAML.
    pub fn made(path: &str, scenario: Scenario) -> Result<ScenarioFile> {
        let text = serde_yaml::to_string(&scenario).map_err(|e| {
            Error::BadInput(format!(
                "scenario {} cannot be written as YAML: {e}",
                scenario.name
            ))
        })?;
        Ok(ScenarioFile {
            path: path.into(),
            text,
            scenario,
        })
    }

    /// Read, parse and check a scenario file against the lab's definitions.
    ///
    /// Errors: [`Error::MissingFile`] when it cannot be read; [`Error::Definition`] with file, line
    /// and column for anything wrong in it.
    pub fn load(path: &Path, home: &Home) -> Result<ScenarioFile> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::MissingFile {
            path: path.to_path_buf(),
            source,
        })?;
        let scenario = parse(path, &text)?;
        check_against(path, &text, &scenario, home)?;
        Ok(ScenarioFile {
            path: path.to_path_buf(),
            text,
            scenario,
        })
    }
}

/// An error at `path` (like `steps[2].target`) in `file`.
fn error_at(file: &Path, text: &str, path: &str, message: String) -> Error {
    let (line, column) = locate::locate(text, &locate::path(path)).unwrap_or((0, 0));
    Error::Definition {
        file: file.to_path_buf(),
        line,
        column,
        message,
    }
}

/// Parse and check a scenario's text on its own (no lab definitions needed).
///
/// Errors: [`Error::Definition`] with file, line and column.
pub fn parse(file: &Path, text: &str) -> Result<Scenario> {
    let scenario: Scenario = serde_yaml::from_str(text).map_err(|e| {
        let (line, column) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((0, 0));
        let message = e.to_string();
        // serde_yaml appends " at line L column C"; the prefix already says where.
        let message = match message.find(" at line ") {
            Some(i) => message[..i].to_string(),
            None => message,
        };
        // Errors raised by our own value checks (faults, targets, durations) are placed by
        // serde_yaml at the start of the enclosing mapping; they quote the value, so move to it.
        let (line, column) = locate::refine(text, line, column, &message);
        Error::Definition {
            file: file.to_path_buf(),
            line,
            column,
            message,
        }
    })?;
    validate(&scenario).map_err(|(path, message)| error_at(file, text, &path, message))?;
    Ok(scenario)
}

/// At most this many firings in one scenario, every step's repeats together.
pub const MAX_FIRINGS: usize = 10_000;

/// A repeating step fires at most this often.
pub const MIN_EVERY: Duration = Duration::from_secs(1);

/// One firing of a step: when it is due, which step, and which of its repeats (0: the first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Firing {
    /// Offset from the start of the measured load.
    pub at: Duration,
    /// The step's index.
    pub step: usize,
    /// Which repeat: 0 for the first firing, 1 for the next `every` later, ...
    pub repeat: u32,
}

impl Step {
    /// When this step fires: `at`, then every `every` while before `until` (or `end`, the
    /// load's length), at most `cap` times.
    fn due(&self, end: Duration, cap: usize) -> Vec<Duration> {
        let mut out = vec![self.at];
        if let Some(every) = self.every.filter(|e| !e.is_zero()) {
            let until = self.until.unwrap_or(end).min(end);
            let mut t = self.at + every;
            while t < until && out.len() < cap {
                out.push(t);
                t += every;
            }
        }
        out
    }
}

impl Scenario {
    /// Every firing of every step, in time order; firings due at the same moment in the order of
    /// their steps. At most [`MAX_FIRINGS`] + 1 (validation refuses a scenario with more).
    pub fn firings(&self) -> Vec<Firing> {
        let mut out: Vec<Firing> = Vec::new();
        for (i, step) in self.steps.iter().enumerate() {
            for (k, at) in step
                .due(self.load.duration, MAX_FIRINGS + 1)
                .into_iter()
                .enumerate()
            {
                out.push(Firing {
                    at,
                    step: i,
                    repeat: k as u32,
                });
            }
            if out.len() > MAX_FIRINGS {
                break;
            }
        }
        out.sort_by_key(|f| (f.at, f.step, f.repeat));
        out
    }
}

/// One splitmix64 step: the next state's output.
fn splitmix(z: u64) -> u64 {
    let z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    let z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One firing's random draws: a splitmix64 sequence started from the run's seed, the step's
/// index and the firing's repeat, so neighbouring firings draw unrelated values. The algorithm is
/// written here (not a library's generator, which may change between versions), so a seed makes
/// the same draws everywhere, now and later.
#[derive(Debug, Clone)]
pub struct FiringDraw(u64);

impl FiringDraw {
    /// The next draw.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        splitmix(self.0)
    }
}

/// The draws of firing `repeat` of step `step` in a run with `seed`.
pub fn firing_draw(seed: u64, step: usize, repeat: u32) -> FiringDraw {
    FiringDraw(seed ^ splitmix(((step as u64) << 32) | u64::from(repeat)))
}

/// The index of the step `r` refers to.
pub fn step_index(steps: &[Step], r: &StepRef) -> Option<usize> {
    match r {
        StepRef::Index(i) => (*i < steps.len()).then_some(*i),
        StepRef::Name(n) => steps.iter().position(|s| s.name.as_deref() == Some(n)),
    }
}

/// Checks that need no lab definition. Err: (path in the document, message).
fn validate(s: &Scenario) -> std::result::Result<(), (String, String)> {
    let at = |p: &str, m: String| Err((p.to_string(), m));
    if s.name.is_empty()
        || !s
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
    {
        return at(
            "name",
            format!(
                "name '{}' must be letters, digits, '-', '_' or '.' (it names the run folder)",
                s.name
            ),
        );
    }
    if s.nodes == 0 || s.nodes > 9 {
        return at(
            "nodes",
            format!("nodes: {} is out of range: give 1 to 9", s.nodes),
        );
    }
    if !s.hosts.is_empty() {
        if let Err(e) = crate::lab::hosts::check_hosts(&s.hosts, "hosts:") {
            return at("hosts", e.to_string());
        }
    }
    let load = &s.load;
    if load.duration < Duration::from_secs(1) || load.duration > MAX_LOAD {
        return at(
            "load.duration",
            format!(
                "load duration {} is out of range: give 1s to 1h",
                crate::units::show(load.duration)
            ),
        );
    }
    if load.clients_per_node == 0 || load.clients_per_node > 1024 {
        return at(
            "load.clients-per-node",
            format!(
                "clients-per-node {} is out of range: give 1 to 1024",
                load.clients_per_node
            ),
        );
    }
    if load.op_timeout < Duration::from_millis(10) {
        return at(
            "load.op-timeout",
            "op-timeout must be at least 10ms".to_string(),
        );
    }
    let mut names = BTreeSet::new();
    let mut previous = Duration::ZERO;
    let node_ok = |n: &str| {
        n.trim_start_matches('n')
            .parse::<usize>()
            .is_ok_and(|i| i >= 1 && i <= s.nodes)
    };
    for (i, step) in s.steps.iter().enumerate() {
        let p = |k: &str| format!("steps[{i}].{k}");
        if let Some(n) = &step.name {
            if !is_step_name(n) {
                return at(
                    &p("name"),
                    format!("step name '{n}' must be lowercase letters, digits and '-', and not a node name or target word (leader, follower, random)"),
                );
            }
            if !names.insert(n.clone()) {
                return at(
                    &p("name"),
                    format!("two steps are named '{n}': names must be unique"),
                );
            }
        }
        if step.at < previous {
            return at(
                &p("at"),
                format!(
                    "step {i} at {} comes before the step above it ({}): list steps in time order",
                    crate::units::show(step.at),
                    crate::units::show(previous)
                ),
            );
        }
        previous = step.at;
        if step.at >= load.duration {
            return at(
                &p("at"),
                format!(
                    "step {i} at {} is not within the load's {}: make the load longer or the step earlier",
                    crate::units::show(step.at),
                    crate::units::show(load.duration)
                ),
            );
        }
        if step.until.is_some() && step.every.is_none() {
            return at(
                &p("until"),
                "until ends a repeating step: add every (every: 60s), or leave until out".into(),
            );
        }
        if let Some(every) = step.every {
            if every < MIN_EVERY {
                return at(
                    &p("every"),
                    format!(
                        "every {} is too often: a step repeats at most once a second (every: 1s or more)",
                        crate::units::show(every)
                    ),
                );
            }
            if let Some(until) = step.until {
                if until <= step.at || until > load.duration {
                    return at(
                        &p("until"),
                        format!(
                            "until {} must come after the step's first firing ({}) and within the load's {}",
                            crate::units::show(until),
                            crate::units::show(step.at),
                            crate::units::show(load.duration)
                        ),
                    );
                }
            }
        }
        if step.direction.is_some()
            && !matches!(step.fault, FaultKind::Isolate | FaultKind::Partition)
        {
            return at(
                &p("direction"),
                format!(
                    "a direction belongs to isolate and partition steps; {} cuts nothing: leave it out",
                    step.fault
                ),
            );
        }
        if (step.shape.is_some() || step.seed.is_some()) && step.fault != FaultKind::Partition {
            return at(
                &p(if step.shape.is_some() {
                    "shape"
                } else {
                    "seed"
                }),
                format!(
                    "shape and seed belong to partition steps; {} takes neither",
                    step.fault
                ),
            );
        }
        if step.seed.is_some() && step.shape.is_none() {
            return at(
                &p("seed"),
                "a seed draws a shape's random choices: name a shape (halves, ring, bridge, leader) or leave the seed out".into(),
            );
        }
        if step.shape.is_some() && step.direction.is_some_and(|d| d != Direction::Both) {
            return at(
                &p("direction"),
                "shaped partitions cut both ways: leave the direction out, or give groups".into(),
            );
        }
        if (step.amount.is_some() || step.jitter.is_some())
            && !matches!(step.fault, FaultKind::Link(_))
        {
            return at(
                &p(if step.amount.is_some() {
                    "amount"
                } else {
                    "jitter"
                }),
                format!(
                    "amount and jitter belong to loss, bandwidth and delay steps; {} takes neither",
                    step.fault
                ),
            );
        }
        if let FaultKind::Link(k) = step.fault {
            let Some(amount) = &step.amount else {
                return at(
                    &format!("steps[{i}]"),
                    format!(
                        "step {i} ({k}) needs an amount: {}",
                        match k {
                            LinkKind::Loss => "amount: 30%",
                            LinkKind::Bandwidth => "amount: 1mbit",
                            LinkKind::Delay => "amount: 100ms (and jitter: 20ms if you like)",
                        },
                        k = k.name()
                    ),
                );
            };
            if let Err(e) = Link::parse(k.name(), amount, step.jitter.as_deref()) {
                return at(&p("amount"), e);
            }
        }
        match step.fault {
            FaultKind::Node(_) | FaultKind::Isolate | FaultKind::Link(_) => {
                let f = step.fault;
                if step.groups.is_some() {
                    return at(
                        &p("groups"),
                        format!("groups belong to partition steps; {f} takes a target"),
                    );
                }
                match &step.target {
                    None => return at(&format!("steps[{i}]"), format!("step {i} ({f}) needs a target: a node, leader, follower, random, or an earlier step's name")),
                    Some(Aims::Many(v)) if v.is_empty() => return at(&p("target"), "the target list is empty".into()),
                    Some(_) => {}
                }
            }
            FaultKind::Partition => {
                if step.target.is_some() {
                    return at(
                        &p("target"),
                        "a partition takes groups, not a target: groups: [[leader], [n2, n3]]"
                            .into(),
                    );
                }
                if let Some(shape) = step.shape {
                    if step.groups.is_some() {
                        return at(
                            &p("groups"),
                            "a partition takes groups or a shape, not both".into(),
                        );
                    }
                    if shape == Shape::Ring && s.nodes < 5 {
                        return at(
                            &p("shape"),
                            format!("a ring partition (majorities ring) needs at least 5 nodes and this scenario has {}: set nodes: 5, or use halves or bridge", s.nodes),
                        );
                    }
                    continue;
                }
                let Some(groups) = &step.groups else {
                    return at(
                        &format!("steps[{i}]"),
                        format!(
                            "step {i} (partition) needs groups, e.g. groups: [[leader], [n2, n3]], or a shape (halves, ring, bridge, leader)"
                        ),
                    );
                };
                if groups.is_empty() || groups.iter().any(|g| g.is_empty()) {
                    return at(
                        &p("groups"),
                        "every partition group needs at least one node".into(),
                    );
                }
            }
            FaultKind::Heal => {
                if step.target.is_some() || step.groups.is_some() {
                    return at(
                        &p(if step.target.is_some() {
                            "target"
                        } else {
                            "groups"
                        }),
                        "heal undoes every network fault: it takes no target".into(),
                    );
                }
            }
        }
        for (path, a) in step.aims_at(i) {
            match a {
                Aim::Target(Target::Node(n)) if !node_ok(n) => {
                    return at(
                        &path,
                        format!(
                            "node {n} is not in a {}-node lab: use n1 to n{}",
                            s.nodes, s.nodes
                        ),
                    )
                }
                Aim::Step(name) => {
                    let earlier = s.steps[..i].iter().any(|e| e.name.as_deref() == Some(name));
                    if !earlier {
                        return at(&path, format!("'{name}' names no earlier step: name the step whose node(s) this one means (name: {name})"));
                    }
                }
                _ => {}
            }
        }
    }
    let firings = s.firings();
    if firings.len() > MAX_FIRINGS {
        return at(
            "steps",
            format!(
                "the steps fire more than {MAX_FIRINGS} times in all: repeat them less often (a larger every) or over less time (until)"
            ),
        );
    }
    for (i, e) in s.expect.iter().enumerate() {
        let key = match e {
            Expect::Window(_) => "window",
            Expect::ServesAgain(_) => "serves-again",
            Expect::LostWrites(_) => "lost-writes",
            Expect::Anomalies(_) => "anomalies",
            Expect::UnverifiedKeys(_) => "unverified-keys",
            Expect::ColumnZero(_) => "column-zero",
        };
        let p = |k: &str| format!("expect[{i}].{key}.{k}");
        let step_ok = |r: &StepRef, k: &str| {
            match step_index(&s.steps, r) {
            Some(idx) => Ok(idx),
            None => Err((
                p(k),
                format!(
                    "'{r}' is no step of this scenario: name one (name: ...) or give its 0-based index (0 to {})",
                    s.steps.len().saturating_sub(1)
                ),
            )),
        }
        };
        let node_aim_ok = |a: &Aim, k: &str| {
            match a {
            Aim::Target(Target::Node(n)) if node_ok(n) => Ok(()),
            Aim::Target(Target::Node(n)) => Err((p(k), format!("node {n} is not in a {}-node lab", s.nodes))),
            Aim::Step(name) if s.steps.iter().any(|st| st.name.as_deref() == Some(name)) => Ok(()),
            other => Err((p(k), format!("'{other}' does not name one node: give a node (n1) or a step's name (the node it hit)"))),
        }
        };
        match e {
            Expect::Window(w) => {
                step_ok(&w.after, "after")?;
                if let Some(n) = &w.node {
                    node_aim_ok(n, "node")?;
                }
                if w.at_most.is_none() && w.at_least.is_none() {
                    return Err((
                        format!("expect[{i}].window"),
                        "a window expectation needs at-most, at-least or both".into(),
                    ));
                }
                if let (Some(lo), Some(hi)) = (w.at_least, w.at_most) {
                    if lo > hi {
                        return Err((
                            p("at-least"),
                            "at-least is above at-most: nothing can pass".into(),
                        ));
                    }
                }
            }
            Expect::ServesAgain(sa) => {
                let idx = step_ok(&sa.after, "after")?;
                if !s.steps[idx].fault.restores() {
                    return Err((p("after"), format!("'{}' is a {} step: serves-again follows a start, resume, connect or heal step", sa.after, s.steps[idx].fault)));
                }
                // The last firing: a repeating step's is the one that leaves the least time.
                let last = firings
                    .iter()
                    .filter(|f| f.step == idx)
                    .map(|f| f.at)
                    .max()
                    .unwrap_or(s.steps[idx].at);
                let left = load.duration.saturating_sub(last);
                if sa.within > left {
                    return Err((p("within"), format!(
                        "within {} of '{}' cannot be judged: the load ends {} after its last firing; lengthen the load or shorten within",
                        crate::units::show(sa.within),
                        sa.after,
                        crate::units::show(left)
                    )));
                }
            }
            Expect::LostWrites(_) | Expect::Anomalies(_) | Expect::UnverifiedKeys(_) => {}
            Expect::ColumnZero(c) => {
                node_aim_ok(&c.node, "node")?;
                let from = step_ok(&c.from, "from")?;
                if let Some(u) = &c.until {
                    let until = step_ok(u, "until")?;
                    if until <= from {
                        return Err((
                            p("until"),
                            format!("'{u}' does not come after '{}'", c.from),
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

/// Checks against the lab's definitions: the system exists, the node count suits it, and the
/// targets exist on it (`leader` needs a system with a leader, `pd-leader` one with that role).
fn check_against(file: &Path, text: &str, s: &Scenario, home: &Home) -> Result<()> {
    let bad = |path: &str, message: String| Err(error_at(file, text, path, message));
    if !home.systems().contains(&s.system) {
        return bad(
            "system",
            format!(
                "unknown system '{}': choose one of {}",
                s.system,
                home.systems().join(", ")
            ),
        );
    }
    let def = home.definition(&s.system, None)?;
    if s.nodes < def.perseus.min_nodes {
        return bad(
            "nodes",
            format!(
                "{} needs at least {} nodes; nodes: {} is too few",
                s.system, def.perseus.min_nodes, s.nodes
            ),
        );
    }
    let system = def.system;
    let roles: &[&str] = match system.leadership() {
        Leadership::None => &[],
        Leadership::Leader { roles } => roles,
    };
    for (i, step) in s.steps.iter().enumerate() {
        for (path, a) in step.aims_at(i) {
            match a {
                Aim::Target(Target::Leader | Target::Follower) if !system.has_leader() => {
                    return bad(
                        &path,
                        format!(
                            "{} has no leader, so '{a}' cannot be resolved: target a node (n1) or random",
                            s.system
                        ),
                    )
                }
                Aim::Target(Target::RoleLeader(role)) if !roles.contains(&role.as_str()) => {
                    return bad(
                        &path,
                        format!(
                            "{} has no {role} leader{}",
                            s.system,
                            if roles.is_empty() {
                                String::new()
                            } else {
                                format!(": its roles are {}", roles.join(", "))
                            }
                        ),
                    );
                }
                _ => {}
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "\
name: etcd-kill-leader
system: etcd
load:
  duration: 30s
  op-timeout: 500ms
steps:
  - name: crash
    at: 10s
    fault: kill
    target: leader
  - at: 20s
    fault: start
    target: crash
  - at: 21s
    fault: partition
    groups: [[n1], [n2, n3]]
  - name: mend
    at: 25s
    fault: heal
expect:
  - window: {after: crash, at-most: 5s}
  - window: {after: 0, node: n2, at-least: 100ms}
  - serves-again: {after: 1, within: 10s}
  - serves-again: {after: mend, within: 3s}
  - column-zero: {node: crash, from: crash, until: 1, grace: 2s}
  - lost-writes: 0
";

    fn err(text: &str) -> (usize, usize, String) {
        match parse(Path::new("s.yaml"), text).unwrap_err() {
            Error::Definition {
                line,
                column,
                message,
                ..
            } => (line, column, message),
            other => panic!("not a definition error: {other}"),
        }
    }

    #[test]
    fn hosts_are_docker_endpoints_two_or_more_and_survive_a_round_trip() {
        let with = GOOD.replace(
            "system: etcd\n",
            "system: etcd\nhosts: [tcp://10.0.0.1:2375, tcp://10.0.0.2]\n",
        );
        let s = parse(Path::new("s.yaml"), &with).unwrap();
        let urls: Vec<&str> = s.hosts.iter().map(|h| h.url.as_str()).collect();
        assert_eq!(urls, ["tcp://10.0.0.1:2375", "tcp://10.0.0.2:2375"]);
        let again = parse(Path::new("s.yaml"), &serde_yaml::to_string(&s).unwrap()).unwrap();
        assert_eq!(again.hosts, s.hosts);
        assert!(parse(Path::new("s.yaml"), GOOD).unwrap().hosts.is_empty());

        let (line, _, msg) = err(&GOOD.replace(
            "system: etcd\n",
            "system: etcd\nhosts: [tcp://10.0.0.1:2375, 10.0.0.2]\n",
        ));
        assert_eq!(line, 3, "{msg}");
        assert!(
            msg.contains("host '10.0.0.2' is not a Docker endpoint"),
            "{msg}"
        );
        let (line, _, msg) = err(&GOOD.replace(
            "system: etcd\n",
            "system: etcd\nhosts: [tcp://10.0.0.1:2375]\n",
        ));
        assert_eq!(line, 3, "{msg}");
        assert!(msg.contains("two or more"), "{msg}");
    }

    #[test]
    fn a_complete_scenario_parses_with_defaults() {
        let s = parse(Path::new("s.yaml"), GOOD).unwrap();
        assert_eq!(s.nodes, 3);
        assert_eq!(s.load.clients_per_node, 1);
        assert_eq!(s.load.op_timeout, Duration::from_millis(500));
        assert_eq!(s.load.warmup, Duration::from_secs(30));
        assert_eq!(s.steps.len(), 4);
        assert_eq!(s.steps[0].fault, FaultKind::Node(NodeFault::Kill));
        assert_eq!(
            s.steps[0].target,
            Some(Aims::One(Aim::Target(Target::Leader)))
        );
        assert_eq!(
            s.steps[1].target,
            Some(Aims::One(Aim::Step("crash".into())))
        );
        assert_eq!(s.steps[2].describe(), "partition n1 | n2,n3");
        assert_eq!(s.expect.len(), 6);
        assert_eq!(s.expect[5], Expect::LostWrites(0));
        assert_eq!(
            s.expect[0].describe(),
            "cluster unavailability window after crash is at most 5s"
        );
        assert_eq!(
            s.expect[4].describe(),
            "crash's column is 0 from crash until step 1"
        );
        // It survives a round trip through its own serialisation (the run folder keeps a copy).
        let again = parse(Path::new("s.yaml"), &serde_yaml::to_string(&s).unwrap()).unwrap();
        assert_eq!(again, s);
    }

    #[test]
    fn isolate_and_partition_steps_take_a_direction_and_no_other_step_does() {
        let one_way = GOOD
            .replace(
                "    fault: kill\n    target: leader",
                "    fault: isolate\n    target: leader\n    direction: in",
            )
            .replace(
                "    groups: [[n1], [n2, n3]]",
                "    groups: [[n1], [n2, n3]]\n    direction: out",
            );
        let s = parse(Path::new("s.yaml"), &one_way).unwrap();
        assert_eq!(s.steps[0].direction, Some(Direction::In));
        assert_eq!(s.steps[0].describe(), "isolate leader (in)");
        assert_eq!(s.steps[2].describe(), "partition n1 | n2,n3 (out)");
        let again = parse(Path::new("s.yaml"), &serde_yaml::to_string(&s).unwrap()).unwrap();
        assert_eq!(again, s);
        let (line, _, m) = err(&GOOD.replace(
            "    fault: kill\n    target: leader",
            "    fault: kill\n    target: leader\n    direction: in",
        ));
        assert!(
            m.contains("direction belongs to isolate and partition"),
            "{m}"
        );
        assert_eq!(
            line,
            GOOD.lines()
                .position(|l| l == "    target: leader")
                .unwrap()
                + 2
        );
        let (_, _, m) = err(&one_way.replace("direction: in", "direction: sideways"));
        assert!(m.contains("'sideways' is not a direction"), "{m}");
    }

    const SOAK: &str = "\
name: soak
system: redis
seed: 42
load:
  duration: 60s
steps:
  - {name: crash, at: 10s, every: 20s, fault: kill, target: random}
  - {at: 15s, every: 20s, until: 50s, fault: start, target: crash}
  - {at: 59s, fault: heal}
expect:
  - serves-again: {after: 1, within: 1s}
";

    #[test]
    fn repeating_steps_fire_in_time_order_until_their_end() {
        let s = parse(Path::new("s.yaml"), SOAK).unwrap();
        assert_eq!(s.seed, Some(42));
        let f: Vec<(u64, usize, u32)> = s
            .firings()
            .iter()
            .map(|f| (f.at.as_secs(), f.step, f.repeat))
            .collect();
        assert_eq!(
            f,
            vec![
                (10, 0, 0),
                (15, 1, 0),
                (30, 0, 1),
                (35, 1, 1),
                (50, 0, 2),
                (59, 2, 0)
            ],
            "kill at 10, 30, 50 (the load ends at 60); start at 15 and 35 (until 50)"
        );
        let again = parse(Path::new("s.yaml"), &serde_yaml::to_string(&s).unwrap()).unwrap();
        assert_eq!(again, s);
        // The same seed, step and repeat draw the same; any other differs; the values are fixed
        // (a seed in a report must make the same choices with any later build).
        let draw = |seed, step, repeat| firing_draw(seed, step, repeat).next_u64();
        assert_eq!(draw(42, 0, 0), 8_701_754_705_650_102_559);
        assert_eq!(draw(7, 1, 2), 10_803_267_794_582_773_353);
        assert_eq!(draw(42, 0, 1), draw(42, 0, 1));
        let all = [
            draw(42, 0, 0),
            draw(42, 0, 1),
            draw(42, 1, 0),
            draw(43, 0, 0),
        ];
        for (i, a) in all.iter().enumerate() {
            assert!(all[i + 1..].iter().all(|b| a != b), "{all:?}");
        }
    }

    #[test]
    fn repeats_are_refused_when_they_cannot_be_run_or_judged() {
        let (_, _, m) = err(&SOAK.replace("every: 20s, until: 50s", "until: 50s"));
        assert!(m.contains("until ends a repeating step: add every"), "{m}");
        let (_, _, m) = err(&SOAK.replace("at: 10s, every: 20s", "at: 10s, every: 500ms"));
        assert!(m.contains("every 500ms is too often"), "{m}");
        let (_, _, m) = err(&SOAK.replace("until: 50s", "until: 15s"));
        assert!(m.contains("must come after the step's first firing"), "{m}");
        let (_, _, m) = err(&SOAK.replace("until: 50s", "until: 61s"));
        assert!(m.contains("within the load's 1m"), "{m}");
        // The start's last firing is at 35 s; 30 s to serve again is past the load's end.
        let (_, _, m) = err(&SOAK.replace("within: 1s", "within: 30s"));
        assert!(m.contains("after its last firing"), "{m}");
        let many = SOAK
            .replace("duration: 60s", "duration: 1h")
            .replace("every: 20s, fault: kill", "every: 1s, fault: kill")
            .replace("until: 50s", "until: 3000s")
            .replace("every: 20s, until", "every: 1s, until")
            .replace("at: 59s, fault", "at: 16s, every: 1s, fault");
        let (_, _, m) = err(&many);
        assert!(m.contains("more than 10000 times"), "{m}");
    }

    #[test]
    fn a_partition_takes_a_shape_and_a_seed_instead_of_groups() {
        let shaped = GOOD.replace(
            "    groups: [[n1], [n2, n3]]",
            "    shape: bridge\n    seed: 7",
        );
        let s = parse(Path::new("s.yaml"), &shaped).unwrap();
        assert_eq!(
            (s.steps[2].shape, s.steps[2].seed),
            (Some(Shape::Bridge), Some(7))
        );
        assert_eq!(s.steps[2].describe(), "partition bridge");
        let again = parse(Path::new("s.yaml"), &serde_yaml::to_string(&s).unwrap()).unwrap();
        assert_eq!(again, s);
        let (_, _, m) = err(&shaped.replace("shape: bridge", "shape: ring"));
        assert!(
            m.contains("needs at least 5 nodes") && m.contains("has 3"),
            "{m}"
        );
        let (_, _, m) = err(&shaped.replace("shape: bridge", "shape: square"));
        assert!(m.contains("'square' is not a partition shape"), "{m}");
        let (_, _, m) = err(&GOOD.replace(
            "    groups: [[n1], [n2, n3]]",
            "    groups: [[n1], [n2, n3]]\n    shape: halves",
        ));
        assert!(m.contains("groups or a shape, not both"), "{m}");
        let (_, _, m) = err(&GOOD.replace(
            "    groups: [[n1], [n2, n3]]",
            "    groups: [[n1], [n2, n3]]\n    seed: 3",
        ));
        assert!(m.contains("a seed draws a shape's random choices"), "{m}");
        let (_, _, m) = err(&GOOD.replace(
            "    fault: kill\n    target: leader",
            "    fault: kill\n    target: leader\n    shape: halves",
        ));
        assert!(
            m.contains("shape and seed belong to partition steps"),
            "{m}"
        );
    }

    #[test]
    fn link_steps_take_an_amount_and_say_it() {
        let lossy = GOOD.replace(
            "    fault: kill\n    target: leader",
            "    fault: loss\n    target: leader\n    amount: 30%",
        );
        let s = parse(Path::new("s.yaml"), &lossy).unwrap();
        assert_eq!(s.steps[0].describe(), "loss leader (loss 30%)");
        let (_, _, m) = err(&lossy.replace("amount: 30%", "amount: 30"));
        assert!(m.contains("loss '30' is not a percentage"), "{m}");
        let (_, _, m) = err(&lossy.replace("    amount: 30%\n", ""));
        assert!(m.contains("needs an amount: amount: 30%"), "{m}");
        let (_, _, m) = err(&GOOD.replace(
            "    fault: kill\n    target: leader",
            "    fault: kill\n    target: leader\n    amount: 3%",
        ));
        assert!(
            m.contains("amount and jitter belong to loss, bandwidth and delay"),
            "{m}"
        );
    }

    #[test]
    fn unknown_keys_are_reported_where_they_are() {
        let (line, col, m) = err(&GOOD.replace("  op-timeout: 500ms", "  op-timout: 500ms"));
        assert_eq!((line, col), (5, 3), "{m}");
        assert!(m.contains("unknown field `op-timout`"), "{m}");
        let (line, _, m) =
            err(&GOOD.replace("    target: leader", "    target: leader\n    taget: n1"));
        assert_eq!(line, 11, "{m}");
        assert!(m.contains("taget"), "{m}");
    }

    #[test]
    fn bad_durations_faults_and_targets_name_the_value_and_the_fix() {
        let (line, col, m) = err(&GOOD.replace("at: 10s", "at: ten seconds"));
        assert_eq!((line, col), (8, 9), "{m}");
        assert!(m.contains("'ten seconds' is not a duration"), "{m}");
        let (_, _, m) = err(&GOOD.replace("at: 10s", "at: 10"));
        assert!(m.contains("'10' has no unit: write 10s"), "{m}");
        let (line, col, m) = err(&GOOD.replace("fault: kill", "fault: kil"));
        assert_eq!((line, col), (9, 12), "{m}");
        assert!(
            m.contains("unknown fault 'kil': use one of kill, stop"),
            "{m}"
        );
        let (line, col, m) = err(&GOOD.replace("target: leader", "target: Leader"));
        assert_eq!((line, col), (10, 13), "{m}");
        assert!(m.contains("'Leader' is not a target"), "{m}");
        let (_, _, m) = err(&GOOD.replace("  - lost-writes: 0", "  - lost-write: 0"));
        assert!(m.contains("unknown variant `lost-write`"), "{m}");
    }

    #[test]
    fn references_and_timeline_are_checked_with_positions() {
        let (line, col, m) = err(&GOOD.replace("target: crash", "target: crsh"));
        assert_eq!((line, col), (13, 13), "{m}");
        assert!(m.contains("'crsh' names no earlier step"), "{m}");
        let (line, col, m) = err(&GOOD.replace("after: crash, at-most", "after: boom, at-most"));
        assert_eq!((line, col), (21, 21), "{m}");
        assert!(m.contains("'boom' is no step"), "{m}");
        let (line, _, m) = err(&GOOD.replace("at: 21s", "at: 2s"));
        assert_eq!(line, 14, "{m}");
        assert!(m.contains("comes before the step above it"), "{m}");
        let (line, _, m) = err(&GOOD.replace("at: 25s", "at: 30s"));
        assert_eq!(line, 18, "{m}");
        assert!(m.contains("not within the load's 30s"), "{m}");
        let (line, col, m) = err(&GOOD.replace("[[n1], [n2, n3]]", "[[n1], [n2, n4]]"));
        assert_eq!((line, col), (16, 25), "{m}");
        assert!(m.contains("node n4 is not in a 3-node lab"), "{m}");
        let (_, _, m) =
            err(&GOOD.replace("serves-again: {after: 1,", "serves-again: {after: crash,"));
        assert!(m.contains("'crash' is a kill step"), "{m}");
        let (_, _, m) = err(&GOOD.replace("  - name: mend\n", "  - name: leader\n"));
        assert!(m.contains("step name 'leader'"), "{m}");
        let (line, _, m) = err(&GOOD.replace("    fault: heal", "    fault: heal\n    target: n1"));
        assert_eq!(line, 20, "{m}");
        assert!(m.contains("heal undoes every network fault"), "{m}");
    }

    #[test]
    fn every_error_is_one_line_with_file_line_and_column() {
        let e = parse(
            Path::new("scenarios/x.yaml"),
            &GOOD.replace("fault: kill", "fault: kil"),
        )
        .unwrap_err();
        let shown = e.to_string();
        assert!(
            shown.starts_with("scenarios/x.yaml:9:12: steps[0]: unknown fault 'kil'"),
            "{shown}"
        );
        assert!(!shown.contains('\n'), "{shown}");
        assert_eq!(e.exit_code(), 2);
    }
}
