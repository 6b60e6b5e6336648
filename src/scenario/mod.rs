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
mod format;
pub mod runner;
mod schedule;
mod schema;
mod validate;

use std::path::{Path, PathBuf};

pub use crate::error::ScenarioError;
use crate::error::{Error, Result};
use crate::fault::Target;
use crate::lab::Home;
use crate::locate;
use crate::systems::Leadership;

pub use format::*;
pub use schedule::*;
pub use schema::schema;
use validate::validate;

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
    /// Errors: [`ScenarioError::Unwritable`] if it cannot be written as YAML.
    pub fn made(path: &str, scenario: Scenario) -> Result<ScenarioFile> {
        let text =
            serde_yaml::to_string(&scenario).map_err(|source| ScenarioError::Unwritable {
                name: scenario.name.clone(),
                source,
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
    parse_text(file, text).map_err(|e| crate::locate::place(e, text))
}

/// [`parse`], where a position may be unknown (0).
fn parse_text(file: &Path, text: &str) -> Result<Scenario> {
    let raw: RawScenario = serde_yaml::from_str(text).map_err(|e| {
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
    validate(raw).map_err(|(path, message)| error_at(file, text, &path, message))
}

/// Checks against the lab's definitions: the system exists, the node count suits it, and the
/// targets exist on it (`leader` needs a system with a leader, `pd-leader` one with that role).
fn check_against(file: &Path, text: &str, s: &Scenario, home: &Home) -> Result<()> {
    let bad = |path: &str, message: String| Err(error_at(file, text, path, message));
    let name = &s.system.system;
    if !home.systems().contains(name) {
        return bad(
            "system",
            format!(
                "unknown system '{name}': choose one of {}",
                home.systems().join(", ")
            ),
        );
    }
    let def = match home.definition(name, None)?.at(s.system.version.as_deref()) {
        Ok(def) => def,
        Err(e) => return bad("system", e.to_string()),
    };
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
    // A transactional workload the system's client cannot run (no transactions, a level it
    // refuses, replica reads without a read port) would fail only after `lab up`.
    if s.load.workload != crate::workload::Workload::Register {
        if let Err(e) = crate::systems::txn_driver(
            system,
            &def.settings,
            name,
            s.load.workload,
            s.load.isolation,
            s.load.replica_reads,
        ) {
            let path = match e {
                Error::NoReplicaReads { .. } => "load.replica-reads",
                Error::Isolation { .. } => "load.isolation",
                _ => "load.workload",
            };
            return bad(path, e.to_string());
        }
    }
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
    use crate::fault::{Direction, NodeFault, Shape};
    use std::time::Duration;

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
    fn a_transactional_workload_and_its_expectations_parse_and_are_checked() {
        let with = GOOD
            .replace(
                "  op-timeout: 500ms\n",
                "  op-timeout: 500ms\n  workload: list-append\n  isolation: serializable\n",
            )
            .replace(
                "  - lost-writes: 0\n",
                "  - lost-writes: 0\n  - anomalies: {G-single: 0, G2-item-realtime: 1}\n  - model: serializable\n  - anomalies: 0\n",
            );
        let s = parse(Path::new("s.yaml"), &with).unwrap();
        assert_eq!(s.load.workload, crate::workload::Workload::ListAppend);
        assert_eq!(s.load.txn_clients_per_node, 3);
        let by_name = AnomalyBound::ByName(
            [
                ("G-single".to_string(), 0),
                ("G2-item-realtime".to_string(), 1),
            ]
            .into_iter()
            .collect(),
        );
        assert_eq!(s.expect[6], Expect::Anomalies(by_name));
        assert_eq!(
            s.expect[7],
            Expect::Model(crate::checker::list_append::Model::Serializable)
        );
        assert_eq!(s.expect[8], Expect::Anomalies(AnomalyBound::Total(0)));
        let again = parse(Path::new("s.yaml"), &serde_yaml::to_string(&s).unwrap()).unwrap();
        assert_eq!(again, s);
        // Without the workload, names and models mean nothing, nor do a level or replica reads.
        let plain = with.replace("  workload: list-append\n  isolation: serializable\n", "");
        let (_, _, m) = err(&plain);
        assert!(
            m.contains("anomalies by name are the transactions'")
                && m.contains("add load.workload: list-append or bank"),
            "{m}"
        );
        let (_, _, m) = err(&with.replace("  workload: list-append\n", ""));
        assert!(
            m.contains("an isolation level is for the transactional workloads"),
            "{m}"
        );
        let (_, _, m) = err(&with.replace(
            "  workload: list-append\n  isolation: serializable\n",
            "  replica-reads: true\n",
        ));
        assert!(
            m.contains("replica reads are for the transactional workloads"),
            "{m}"
        );
        let reads = with.replace(
            "  isolation: serializable\n",
            "  isolation: repeatable-read\n  replica-reads: true\n",
        );
        let s = parse(Path::new("s.yaml"), &reads).unwrap();
        assert!(s.load.replica_reads);
        let bank = with.replace("workload: list-append", "workload: bank");
        let (_, _, m) = err(&bank);
        assert!(
            m.contains("'G-single' is not an anomaly the bank checker names"),
            "{m}"
        );
        let bank = bank.replace("G-single: 0, G2-item-realtime: 1", "wrong-total: 0");
        let (_, _, m) = err(&bank);
        assert!(
            m.contains("a consistency model is judged on list-append"),
            "{m}"
        );
        let (_, _, m) = err(&with.replace("G-single: 0", "G-sngle: 0"));
        assert!(m.contains("'G-sngle' is not an anomaly"), "{m}");
    }

    #[test]
    fn a_complete_scenario_parses_with_defaults() {
        let s = parse(Path::new("s.yaml"), GOOD).unwrap();
        assert_eq!(s.nodes, 3);
        assert_eq!(s.load.clients_per_node, 1);
        assert_eq!(s.load.op_timeout, Duration::from_millis(500));
        assert_eq!(s.load.warmup, Duration::from_secs(30));
        assert_eq!(s.steps.len(), 4);
        assert_eq!(
            s.steps[0].action,
            Action::Node {
                fault: NodeFault::Kill,
                target: Aims::One(Aim::Target(Target::Leader))
            }
        );
        assert_eq!(s.steps[0].kind(), FaultKind::Node(NodeFault::Kill));
        assert_eq!(
            s.steps[1].action.target(),
            Some(&Aims::One(Aim::Step("crash".into())))
        );
        assert_eq!(s.steps[3].action, Action::Heal);
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
        assert!(matches!(
            s.steps[0].action,
            Action::Isolate {
                direction: Direction::In,
                ..
            }
        ));
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
            s.steps[2].action,
            Action::Shaped {
                shape: Shape::Bridge,
                seed: Some(7)
            }
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

    /// Every kind of step is made typed once, at parse time, and written back as the same flat
    /// YAML: a scenario made in code (`perseus table`) and its run folder's copy read the same.
    #[test]
    fn every_kind_of_step_is_typed_once_and_written_back_the_same() {
        let text = "\
name: every
system: etcd
nodes: 5
load: {duration: 60s}
steps:
  - {name: a, at: 1s, fault: kill, target: leader}
  - {at: 2s, fault: start, target: a}
  - {at: 3s, fault: stop, target: [n1, n2]}
  - {at: 4s, fault: pause, target: random}
  - {at: 5s, fault: resume, target: n3}
  - {at: 6s, fault: disconnect, target: follower}
  - {at: 7s, fault: connect, target: n5}
  - {at: 8s, fault: isolate, target: leader, direction: in}
  - {at: 9s, fault: isolate, target: n4}
  - {at: 10s, fault: loss, target: n2, amount: 25%}
  - {at: 11s, fault: bandwidth, target: n2, amount: 500kbit}
  - {at: 12s, fault: delay, target: n2, amount: 100ms, jitter: 20ms}
  - {at: 13s, fault: partition, groups: [[leader], [n2, n3]], direction: out}
  - {at: 14s, fault: partition, shape: ring, seed: 9}
  - {at: 15s, fault: partition, shape: halves}
  - {at: 16s, every: 10s, until: 50s, fault: heal}
";
        let s = parse(Path::new("s.yaml"), text).unwrap();
        let written = serde_yaml::to_string(&s).unwrap();
        let again = parse(Path::new("s.yaml"), &written).unwrap();
        assert_eq!(again, s, "{written}");
        let kinds: Vec<String> = s.steps.iter().map(|st| st.kind().to_string()).collect();
        assert_eq!(
            kinds,
            [
                "kill",
                "start",
                "stop",
                "pause",
                "resume",
                "disconnect",
                "connect",
                "isolate",
                "isolate",
                "loss",
                "bandwidth",
                "delay",
                "partition",
                "partition",
                "partition",
                "heal"
            ]
        );
        assert_eq!(
            s.steps[11].action,
            Action::Link {
                target: Aims::One(Aim::Target(Target::Node("n2".into()))),
                link: crate::fault::Link::Delay {
                    delay: Duration::from_millis(100),
                    jitter: Duration::from_millis(20)
                }
            }
        );
        assert_eq!(
            s.steps[8].action,
            Action::Isolate {
                target: Aims::One(Aim::Target(Target::Node("n4".into()))),
                direction: Direction::Both
            }
        );
        // What a firing injects is decided here, not re-read from strings at fire time.
        assert_eq!(
            s.steps[12].action.fault(
                vec![vec!["n1".into()], vec!["n2".into(), "n3".into()]],
                None
            ),
            crate::fault::Fault::Partition {
                groups: vec![vec!["n1".into()], vec!["n2".into(), "n3".into()]],
                direction: Direction::Out
            }
        );
        assert_eq!(s.steps[13].describe(), "partition ring");
        assert_eq!(s.steps[11].describe(), "delay n2 (delay 100ms ± 20ms)");
        assert_eq!(s.steps[12].aim_text(), "leader | n2,n3");
        assert_eq!(s.steps[15].every, Some(Duration::from_secs(10)));
        // Defaults are not written out: a both-ways isolate has no direction line.
        assert!(!written.contains("direction: both"), "{written}");
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
