//! A scenario checked on its own, once it has been read: what serde cannot say (a step that
//! names an unknown step, a window that ends before it starts, a fault's missing or misplaced
//! field), each with the YAML path it is about.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::checker::list_append::Kind;
use crate::workload::bank::BankAnomalyKind;
use crate::workload::Workload;

use crate::fault::link::{Link, LinkKind};
use crate::fault::{Direction, Shape, Target};

use super::format::{
    is_step_name, Action, Aim, Aims, AnomalyBound, Expect, FaultKind, RawScenario, RawStep,
    Scenario, Step, StepRef, MAX_LOAD,
};
use super::schedule::{step_index, MAX_FIRINGS, MIN_EVERY};

/// An error: (path in the document, message).
type Refusal = (String, String);

/// Checks that need no lab definition, and the raw steps made typed. Err: (path in the document,
/// message).
pub(super) fn validate(raw: RawScenario) -> std::result::Result<Scenario, Refusal> {
    let s = &raw;
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
    if let Err(e) = crate::load::open::Schedule::new(
        load.rate,
        load.rate_per_node,
        s.nodes,
        load.max_clients_per_node,
    ) {
        let field = if load.rate.is_some() && load.rate_per_node.is_some() {
            "load.rate-per-node"
        } else if load.max_clients_per_node == 0 || load.max_clients_per_node > 4096 {
            "load.max-clients-per-node"
        } else {
            "load.rate"
        };
        let e = e
            .replace("--rate-per-node", "rate-per-node")
            .replace("--rate", "rate")
            .replace("--max-clients-per-node", "max-clients-per-node");
        return at(field, e);
    }
    if load.op_timeout < Duration::from_millis(10) {
        return at(
            "load.op-timeout",
            "op-timeout must be at least 10ms".to_string(),
        );
    }
    if load.workload == Workload::Register {
        if load.isolation.is_some() {
            return at(
                "load.isolation",
                "an isolation level is for the transactional workloads: add load.workload: list-append or bank, or leave isolation out".into(),
            );
        }
        if load.replica_reads {
            return at(
                "load.replica-reads",
                "replica reads are for the transactional workloads' read-only transactions: add load.workload: list-append or bank, or leave replica-reads out".into(),
            );
        }
    }
    let mut names = BTreeSet::new();
    let mut previous = Duration::ZERO;
    let node_count = s.nodes;
    let node_ok = move |n: &str| {
        n.trim_start_matches('n')
            .parse::<usize>()
            .is_ok_and(|i| i >= 1 && i <= node_count)
    };
    let mut steps: Vec<Step> = Vec::with_capacity(s.steps.len());
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
        let step = typed(step, i, s.nodes)?;
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
                Aim::Target(Target::Nodes(v)) if v.iter().any(|n| !node_ok(n)) => {
                    return at(
                        &path,
                        format!(
                            "{} names a node that is not in a {}-node lab: use n1 to n{}",
                            v.join(","),
                            s.nodes,
                            s.nodes
                        ),
                    )
                }
                Aim::Step(name) => {
                    let earlier = steps.iter().any(|e| e.name.as_deref() == Some(name));
                    if !earlier {
                        return at(&path, format!("'{name}' names no earlier step: name the step whose node(s) this one means (name: {name})"));
                    }
                }
                _ => {}
            }
        }
        steps.push(step);
    }
    let s = raw.with_steps(steps);
    let load = &s.load;
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
            Expect::Model(_) => "model",
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
                if !s.steps[idx].kind().restores() {
                    return Err((p("after"), format!("'{}' is a {} step: serves-again follows a start, resume, connect or heal step", sa.after, s.steps[idx].kind())));
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
            Expect::LostWrites(_)
            | Expect::Anomalies(AnomalyBound::Total(_))
            | Expect::UnverifiedKeys(_) => {}
            Expect::Anomalies(AnomalyBound::ByName(names)) => {
                if load.workload == Workload::Register {
                    return Err((format!("expect[{i}].anomalies"), "anomalies by name are the transactions' (G-single, wrong-total, ...): add load.workload: list-append or bank, or give one number".into()));
                }
                for n in names.keys() {
                    if !anomaly_name_ok(load.workload, n) {
                        return Err((
                            p(n),
                            format!(
                                "'{n}' is not an anomaly the {} checker names: use one of {}",
                                load.workload,
                                anomaly_names(load.workload).join(", ")
                            ),
                        ));
                    }
                }
            }
            Expect::Model(_) => {
                if load.workload != Workload::ListAppend {
                    return Err((format!("expect[{i}].model"), "a consistency model is judged on list-append transactions: add load.workload: list-append".into()));
                }
            }
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
    Ok(s)
}

/// The typed step a raw one means, given its index `i` and the scenario's node count; refused
/// when a field is missing, belongs to another fault, or does not parse.
fn typed(step: &RawStep, i: usize, nodes: usize) -> std::result::Result<Step, Refusal> {
    let at = |p: &str, m: String| Err((p.to_string(), m));
    let p = |k: &str| format!("steps[{i}].{k}");
    let f = step.fault;
    if step.direction.is_some() && !matches!(f, FaultKind::Isolate | FaultKind::Partition) {
        return at(
            &p("direction"),
            format!(
                "a direction belongs to isolate and partition steps; {f} cuts nothing: leave it out"
            ),
        );
    }
    if (step.file.is_some() || step.bitflip.is_some() || step.truncate.is_some())
        && f != FaultKind::Corrupt
    {
        return at(
            &p("file"),
            format!("file, bitflip and truncate belong to corrupt steps; {f} takes none of them"),
        );
    }
    if (step.shape.is_some() || (step.seed.is_some() && f != FaultKind::Corrupt))
        && f != FaultKind::Partition
    {
        return at(
            &p(if step.shape.is_some() {
                "shape"
            } else {
                "seed"
            }),
            format!("shape and seed belong to partition steps; {f} takes neither"),
        );
    }
    if step.seed.is_some() && step.shape.is_none() && f != FaultKind::Corrupt {
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
    if (step.amount.is_some() || step.jitter.is_some()) && !matches!(f, FaultKind::Link(_)) {
        return at(
            &p(if step.amount.is_some() {
                "amount"
            } else {
                "jitter"
            }),
            format!(
                "amount and jitter belong to loss, bandwidth and delay steps; {f} takes neither"
            ),
        );
    }
    let direction = step.direction.unwrap_or_default();
    let action = match f {
        FaultKind::Node(_) | FaultKind::Isolate | FaultKind::Link(_) => {
            let link = match f {
                FaultKind::Link(k) => {
                    let Some(amount) = &step.amount else {
                        return at(
                            &format!("steps[{i}]"),
                            format!(
                                "step {i} ({k}) needs an amount: {}",
                                match k {
                                    LinkKind::Loss => "amount: 30%",
                                    LinkKind::Bandwidth => "amount: 1mbit",
                                    LinkKind::Delay =>
                                        "amount: 100ms (and jitter: 20ms if you like)",
                                },
                                k = k.name()
                            ),
                        );
                    };
                    match Link::parse(k.name(), amount, step.jitter.as_deref()) {
                        Ok(link) => Some(link),
                        Err(e) => return at(&p("amount"), e),
                    }
                }
                _ => None,
            };
            if step.groups.is_some() {
                return at(
                    &p("groups"),
                    format!("groups belong to partition steps; {f} takes a target"),
                );
            }
            let target = match &step.target {
                None => return at(&format!("steps[{i}]"), format!("step {i} ({f}) needs a target: a node, leader, follower, random, or an earlier step's name")),
                Some(Aims::Many(v)) if v.is_empty() => return at(&p("target"), "the target list is empty".into()),
                Some(t) => t.clone(),
            };
            match (f, link) {
                (FaultKind::Node(fault), _) => Action::Node { fault, target },
                (_, Some(link)) => Action::Link { target, link },
                _ => Action::Isolate { target, direction },
            }
        }
        FaultKind::Corrupt => {
            let Some(file) = step.file.clone() else {
                return at(
                    &format!("steps[{i}]"),
                    format!("step {i} (corrupt) needs file: a glob under the node's data directory, such as 'version-2/log.*'"),
                );
            };
            let how = match crate::fault::Corruption::from_options(step.bitflip, step.truncate) {
                Ok(how) => how,
                Err(e) => return at(&format!("steps[{i}]"), e),
            };
            let target = match &step.target {
                None => return at(&format!("steps[{i}]"), format!("step {i} (corrupt) needs a target: a node that is down, or an earlier step's name")),
                Some(t) => t.clone(),
            };
            Action::Corrupt {
                target,
                file,
                how,
                seed: step.seed,
            }
        }
        FaultKind::Partition => {
            if step.target.is_some() {
                return at(
                    &p("target"),
                    "a partition takes groups, not a target: groups: [[leader], [n2, n3]]".into(),
                );
            }
            match (step.shape, &step.groups) {
                (Some(_), Some(_)) => {
                    return at(
                        &p("groups"),
                        "a partition takes groups or a shape, not both".into(),
                    )
                }
                (Some(Shape::Ring), None) if nodes < 5 => {
                    return at(
                        &p("shape"),
                        format!("a ring partition (majorities ring) needs at least 5 nodes and this scenario has {nodes}: set nodes: 5, or use halves or bridge"),
                    );
                }
                (Some(shape), None) => Action::Shaped {
                    shape,
                    seed: step.seed,
                },
                (None, None) => {
                    return at(
                        &format!("steps[{i}]"),
                        format!(
                            "step {i} (partition) needs groups, e.g. groups: [[leader], [n2, n3]], or a shape (halves, ring, bridge, leader)"
                        ),
                    );
                }
                (None, Some(groups)) => {
                    if groups.is_empty() || groups.iter().any(|g| g.is_empty()) {
                        return at(
                            &p("groups"),
                            "every partition group needs at least one node".into(),
                        );
                    }
                    Action::Partition {
                        groups: groups.clone(),
                        direction,
                    }
                }
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
            Action::Heal
        }
    };
    Ok(Step {
        name: step.name.clone(),
        at: step.at,
        every: step.every,
        until: step.until,
        action,
    })
}

/// The anomaly names a workload's checker gives, without order suffixes.
fn anomaly_names(w: Workload) -> Vec<&'static str> {
    match w {
        Workload::Bank => [
            BankAnomalyKind::WrongN,
            BankAnomalyKind::WrongTotal,
            BankAnomalyKind::NegativeValue,
        ]
        .iter()
        .map(|k| k.name())
        .collect(),
        _ => Kind::ALL.iter().map(|k| k.name()).collect(),
    }
}

/// Whether `name` is one the workload's checker gives (list-append: with or without a
/// `-process` or `-realtime` suffix).
fn anomaly_name_ok(w: Workload, name: &str) -> bool {
    let base = name
        .strip_suffix("-process")
        .or_else(|| name.strip_suffix("-realtime"))
        .filter(|_| w == Workload::ListAppend)
        .unwrap_or(name);
    anomaly_names(w).contains(&base)
}
