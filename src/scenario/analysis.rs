//! What the faults did, computed from the run's timelines (µs since the measured load began;
//! [`crate::load::timeline`], exact at and above its 10 ms floor) and the steps as they fired:
//! for each step, the cluster-wide and per-node unavailability windows it caused, and for steps
//! that bring nodes back, how long until each node served again (for a node that was serving at
//! the step already, a bound of at most 10 ms); then each expectation's verdict.
//!
//! Each step also gets who served from it to the next step, in 100 ms slices
//! ([`crate::load::serving`]).
//!
//! The window a step caused is the longest span without a success that overlaps the time from the
//! step firing to the next step firing (or the end of the load). It runs from the last success
//! before the outage to the first one after it, so it may begin a few milliseconds before the step
//! fired: that is when the last acknowledged iteration happened. Resolution is 1 µs; a step's
//! window shorter than the floor reads as none.

use super::{step_index, Aim, AnomalyBound, Expect, FaultKind, Scenario, StepRef};
use crate::fault::{NodeFault, Target};
use crate::load::measure::{self, Window};
use crate::load::serving;
use crate::load::summary::Summary;
use crate::load::timeline::{Next, Timelines};
use crate::node::NodeName;
use crate::report::{FiredStep, NodeWindow, Recovery, StepEffect, Verdict};
use crate::workload::TxnSummary;
use std::collections::BTreeMap;

fn to_us_f(s: f64) -> u64 {
    measure::micros(s)
}

/// What every fired step did. `timelines` are the nodes' (in the order of `nodes`) and the
/// cluster's; `end_us` is the load's length; `lookback_us` how long before a step the last
/// success before its outage may lie (see [`crate::load::timeline::Timeline::window_in`]; the
/// runner uses the op
/// timeout, at least 1 s).
pub fn effects(
    nodes: &[NodeName],
    timelines: &Timelines,
    end_us: u64,
    fired: &[FiredStep],
    lookback_us: u64,
) -> Vec<StepEffect> {
    let mut cut: Vec<NodeName> = Vec::new();
    let mut out = Vec::new();
    for (k, step) in fired.iter().enumerate() {
        let from = to_us_f(step.fired_s);
        let to = fired
            .get(k + 1)
            .map(|n| to_us_f(n.fired_s))
            .unwrap_or(end_us)
            .max(from + 1);
        let restored: Vec<NodeName> = match step.fault.as_str() {
            "isolate" | "disconnect" | "partition" | "loss" | "bandwidth" | "delay" => {
                for n in &step.nodes {
                    if !cut.contains(n) {
                        cut.push(n.clone());
                    }
                }
                Vec::new()
            }
            "heal" => std::mem::take(&mut cut),
            "connect" => {
                cut.retain(|n| !step.nodes.contains(n));
                step.nodes.clone()
            }
            "start" | "resume" => step.nodes.clone(),
            _ => Vec::new(),
        };
        let index_of = |n: &str| nodes.iter().position(|x| x == n);
        out.push(StepEffect {
            index: step.index,
            label: step.label(),
            fired_s: step.fired_s,
            cluster: timelines.cluster.window_in(end_us, from, to, lookback_us),
            nodes: nodes
                .iter()
                .zip(&timelines.nodes)
                .map(|(n, t)| NodeWindow {
                    node: n.clone(),
                    window: t.window_in(end_us, from, to, lookback_us),
                })
                .collect(),
            recovery: restored
                .iter()
                .map(|n| Recovery {
                    node: n.clone(),
                    after_s: index_of(n)
                        .and_then(|i| timelines.nodes[i].next_success(from))
                        .map(|t| measure::secs(t.us() - from)),
                })
                .collect(),
            serving: Some(serving::serving(&timelines.nodes, from, to)),
        });
    }
    out
}

/// Judge every expectation of `scenario` against what happened. `summary` is the load's, final
/// reads and the history check included: its anomaly counts, its unverified keys (which fail
/// `lost-writes` and `anomalies` unless an `unverified-keys` expectation allows them) and its
/// history check (a key no order explains fails `anomalies`). An expectation about a repeating step (`every:`) is judged at
/// each of its firings and holds when it held at every one; a step's name as a node means the
/// nodes of that step's latest firing up to the one judged.
pub fn verdicts(
    scenario: &Scenario,
    nodes: &[NodeName],
    timelines: &Timelines,
    end_us: u64,
    fired: &[FiredStep],
    effects: &[StepEffect],
    summary: &Summary,
) -> Vec<Verdict> {
    let safety = &summary.safety;
    let allowed = scenario
        .expect
        .iter()
        .any(|e| matches!(e, Expect::UnverifiedKeys(_)));
    let unverified = summary.unverified_keys;
    // What stands beside the counts: unverified keys (unless allowed), keys of the history no
    // order explains.
    let unverified_note = if unverified > 0 && !allowed {
        let keys: Vec<&str> = summary
            .keys
            .iter()
            .filter(|k| k.unverified.is_some())
            .map(|k| k.key.as_str())
            .take(5)
            .collect();
        format!(
            "; {unverified} UNVERIFIED keys, not a pass ({}{})",
            keys.join(", "),
            if unverified > 5 { ", ..." } else { "" }
        )
    } else {
        String::new()
    };
    let not_linearizable = summary
        .history_check
        .as_ref()
        .map_or(0, |c| c.not_linearizable);
    // Every firing of the step `r` refers to (positions in `fired`).
    let firings = |r: &StepRef| -> Vec<usize> {
        step_index(&scenario.steps, r)
            .map(|i| (0..fired.len()).filter(|&k| fired[k].index == i).collect())
            .unwrap_or_default()
    };
    // The nodes an expectation's `node` means at firing `k`: a node by name, or the node(s) the
    // named step's latest firing up to `k` hit (a step that first fires after `k`: its first).
    let nodes_of = |a: &Aim, k: usize| -> Option<Vec<NodeName>> {
        match a {
            Aim::Target(Target::Node(n)) => Some(vec![n.clone()]),
            Aim::Target(Target::Nodes(v)) => Some(v.clone()),
            Aim::Step(name) => {
                let named = |f: &&FiredStep| f.name.as_deref() == Some(name.as_str());
                fired[..=k]
                    .iter()
                    .rev()
                    .find(named)
                    .or_else(|| fired[k + 1..].iter().find(named))
                    .map(|f| f.nodes.clone())
            }
            _ => None,
        }
    };
    let mut out = Vec::new();
    for e in &scenario.expect {
        let (r, judge): (&StepRef, Box<dyn Fn(usize) -> Judged + '_>) = match e {
            Expect::LostWrites(max) => {
                out.push(Verdict {
                    expectation: e.describe(),
                    passed: safety.lost_writes <= *max && unverified_note.is_empty(),
                    measured: format!("{} lost writes{unverified_note}", safety.lost_writes),
                });
                continue;
            }
            Expect::Anomalies(AnomalyBound::ByName(_)) | Expect::Model(_) => {
                // Judged on the transactions ([`txn_verdicts`]); without them, not a pass.
                out.push(Verdict {
                    expectation: e.describe(),
                    passed: false,
                    measured: "the run made no transactions".into(),
                });
                continue;
            }
            Expect::Anomalies(AnomalyBound::Total(max)) => {
                let history = if not_linearizable > 0 {
                    format!("; the history check finds {not_linearizable} keys not linearizable")
                } else {
                    String::new()
                };
                out.push(Verdict {
                    expectation: e.describe(),
                    passed: safety.total() <= *max
                        && unverified_note.is_empty()
                        && (*max > 0 || not_linearizable == 0),
                    measured: format!("{}{history}{unverified_note}", safety.describe()),
                });
                continue;
            }
            Expect::UnverifiedKeys(max) => {
                out.push(Verdict {
                    expectation: e.describe(),
                    passed: unverified <= *max,
                    measured: format!("{unverified} unverified keys"),
                });
                continue;
            }
            Expect::Window(w) => (
                &w.after,
                Box::new(move |k: usize| {
                    let windows: Vec<(String, Window)> = match &w.node {
                        None => vec![("cluster".into(), effects[k].cluster)],
                        Some(a) => nodes_of(a, k)
                            .unwrap_or_default()
                            .into_iter()
                            .filter_map(|n| {
                                effects[k]
                                    .nodes
                                    .iter()
                                    .find(|x| x.node == n)
                                    .map(|x| (n.to_string(), x.window))
                            })
                            .collect(),
                    };
                    let ok = |win: &Window| {
                        w.at_most
                            .is_none_or(|d| !win.open && win.length_s <= d.as_secs_f64())
                            && w.at_least.is_none_or(|d| win.length_s >= d.as_secs_f64())
                    };
                    Judged {
                        passed: !windows.is_empty() && windows.iter().all(|(_, win)| ok(win)),
                        measured: windows
                            .iter()
                            .map(|(who, win)| {
                                format!("{who}: {}", crate::load::summary::describe(win))
                            })
                            .collect::<Vec<_>>()
                            .join("; "),
                        weight: windows.iter().map(|(_, w)| w.length_s).fold(0.0, f64::max),
                    }
                }),
            ),
            Expect::ServesAgain(sa) => (
                &sa.after,
                Box::new(move |k: usize| {
                    let rec = &effects[k].recovery;
                    let within = sa.within.as_secs_f64();
                    Judged {
                        passed: rec.iter().all(|r| r.after_s.is_some_and(|t| t <= within)),
                        measured: if rec.is_empty() {
                            "no node was down".into()
                        } else {
                            rec.iter()
                                .map(|r| match r.after_s {
                                    Some(t) => format!("{} after {t:.2} s", r.node),
                                    None => format!("{} never served again", r.node),
                                })
                                .collect::<Vec<_>>()
                                .join(", ")
                        },
                        weight: rec
                            .iter()
                            .map(|r| r.after_s.unwrap_or(f64::INFINITY))
                            .fold(0.0, f64::max),
                    }
                }),
            ),
            Expect::ColumnZero(c) => (
                &c.from,
                Box::new(move |k: usize| {
                    // Until the first firing of `until` after this one, or the end of the load.
                    let until = c
                        .until
                        .as_ref()
                        .and_then(|u| {
                            let ui = step_index(&scenario.steps, u)?;
                            fired[k + 1..].iter().find(|f| f.index == ui)
                        })
                        .map_or(end_us, |f| to_us_f(f.fired_s));
                    let grace = c.grace.unwrap_or(scenario.load.op_timeout);
                    let start = to_us_f(fired[k].applied_s) + grace.as_micros() as u64;
                    if start >= until {
                        return Judged {
                            passed: true,
                            measured: format!(
                                "nothing to judge: the span ended at {:.2} s, within the grace",
                                measure::secs(until)
                            ),
                            weight: 0.0,
                        };
                    }
                    let who = nodes_of(&c.node, k).unwrap_or_default();
                    let served: Vec<(String, Option<Next>)> = who
                        .iter()
                        .filter_map(|n| {
                            nodes.iter().position(|x| x == n).map(|i| {
                                let t = &timelines.nodes[i];
                                let next = (!t.silent(start, until))
                                    .then(|| t.next_success(start))
                                    .flatten();
                                (n.to_string(), next)
                            })
                        })
                        .collect();
                    let span = format!(
                        "{:.2} s to {:.2} s",
                        measure::secs(start),
                        measure::secs(until)
                    );
                    let bad = served.iter().filter(|(_, s)| s.is_some()).count();
                    Judged {
                        passed: !served.is_empty() && bad == 0,
                        measured: served
                            .iter()
                            .map(|(n, s)| match s {
                                None => format!("{n}: no success from {span}"),
                                Some(Next::At(t)) => format!(
                                    "{n}: served from {span} (first at {:.2} s)",
                                    measure::secs(*t)
                                ),
                                Some(Next::Before(_)) => format!(
                                    "{n}: served from {span} (already serving at {:.2} s)",
                                    measure::secs(start)
                                ),
                            })
                            .collect::<Vec<_>>()
                            .join("; "),
                        weight: bad as f64,
                    }
                }),
            ),
        };
        let ks = firings(r);
        let v = if ks.is_empty() {
            Verdict {
                expectation: e.describe(),
                passed: false,
                measured: format!("{r} never fired (the run ended before it)"),
            }
        } else {
            let judged: Vec<(f64, Judged)> =
                ks.iter().map(|&k| (fired[k].fired_s, judge(k))).collect();
            Verdict {
                expectation: e.describe(),
                passed: judged.iter().all(|(_, j)| j.passed),
                measured: Judged::summarise(&judged),
            }
        };
        out.push(v);
    }
    out
}

/// One firing's verdict on one expectation.
struct Judged {
    passed: bool,
    measured: String,
    /// How far it went (the longest window, the slowest recovery): which firing is the worst.
    weight: f64,
}

impl Judged {
    /// What the verdict says of every firing (`(fired_s, judged)`, at least one): a single
    /// firing's measure as it is; of several, how many held, and the ones that did not (at most
    /// three, by time) or else the worst.
    fn summarise(judged: &[(f64, Judged)]) -> String {
        if let [(_, only)] = judged {
            return only.measured.clone();
        }
        let failed: Vec<&(f64, Judged)> = judged.iter().filter(|(_, j)| !j.passed).collect();
        let at = |(t, j): &(f64, Judged)| format!("at {t:.2} s: {}", j.measured);
        if failed.is_empty() {
            let first = judged[0].1.weight;
            if judged.iter().all(|(_, j)| j.weight == first) {
                let last = &judged[judged.len() - 1];
                return format!("{} firings, all held; the last {}", judged.len(), at(last));
            }
            let worst = judged
                .iter()
                .max_by(|a, b| a.1.weight.total_cmp(&b.1.weight))
                .expect("at least one");
            return format!(
                "{} firings, all held; the worst {}",
                judged.len(),
                at(worst)
            );
        }
        let shown: Vec<String> = failed.iter().take(3).map(|f| at(f)).collect();
        let more = failed.len().saturating_sub(3);
        format!(
            "{} of {} firings did not hold: {}{}",
            failed.len(),
            judged.len(),
            shown.join("; "),
            if more > 0 {
                format!("; and {more} more")
            } else {
                String::new()
            }
        )
    }
}

/// Whether a step's fault is a node fault that takes a node out of service (for the report).
pub fn takes_down(fault: FaultKind) -> bool {
    matches!(
        fault,
        FaultKind::Node(
            NodeFault::Kill
                | NodeFault::Stop
                | NodeFault::Pause
                | NodeFault::Disconnect
                | NodeFault::PowerLoss
                | NodeFault::PowerLossTorn
        ) | FaultKind::Isolate
            | FaultKind::Partition
    )
}

/// Judge the expectations about transactions on `txn` (the transactional workload's summary),
/// in `verdicts` (one per expectation, as [`verdicts`] made them): anomalies by name, the model,
/// and the transactions' anomalies beside the register loop's in a total `anomalies` bound.
pub fn txn_verdicts(scenario: &Scenario, verdicts: &mut [Verdict], txn: &TxnSummary) {
    let counts: BTreeMap<String, u64> = match (&txn.list_append, &txn.bank) {
        (Some(v), _) => v.anomalies.clone(),
        (None, Some(b)) => b
            .counts()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        (None, None) => BTreeMap::new(),
    };
    let total: u64 = counts.values().sum();
    let listed = || {
        if counts.is_empty() {
            "no transactional anomaly".to_string()
        } else {
            let c: Vec<String> = counts.iter().map(|(k, v)| format!("{k} {v}")).collect();
            format!("transactions: {}", c.join(", "))
        }
    };
    for (e, v) in scenario.expect.iter().zip(verdicts.iter_mut()) {
        match e {
            Expect::Anomalies(AnomalyBound::Total(max)) => {
                v.passed &= total <= *max;
                v.measured = format!("{}; {}", v.measured, listed());
            }
            Expect::Anomalies(AnomalyBound::ByName(bounds)) => {
                let over: Vec<String> = bounds
                    .iter()
                    .filter_map(|(name, max)| {
                        let n = AnomalyBound::covered(name, &counts);
                        (n > *max).then(|| format!("{n} {name}"))
                    })
                    .collect();
                v.passed = over.is_empty();
                v.measured = if over.is_empty() {
                    listed()
                } else {
                    format!("{} over the bound ({})", over.join(", "), listed())
                };
            }
            Expect::Model(m) => {
                let Some(la) = &txn.list_append else { continue };
                v.passed = !la.ruled_out.contains(m);
                v.measured = match la.strongest_allowed {
                    Some(s) => format!("consistent with {s} ({})", listed()),
                    None => format!("consistent with no model ({})", listed()),
                };
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::measure::MICROS;
    use crate::load::summary::Safety;
    use crate::load::timeline::Timeline;
    use std::path::Path;

    const S: u64 = MICROS;

    /// Successes every `every_ms` in `[from_s, to_s)`.
    fn ticks(from_s: f64, to_s: f64, every_ms: u64) -> Vec<u64> {
        let (a, b) = ((from_s * S as f64) as u64, (to_s * S as f64) as u64);
        (a..b).step_by((every_ms * 1000) as usize).collect()
    }

    fn step(index: usize, fault: &str, aim: &str, nodes: &[&str], at_s: f64) -> FiredStep {
        FiredStep {
            index,
            name: None,
            fault: fault.into(),
            aim: aim.into(),
            nodes: nodes.iter().map(|n| NodeName::from(*n)).collect(),
            repeat: 0,
            scheduled_s: at_s,
            fired_s: at_s + 0.002,
            applied_s: at_s + 0.030,
            late_ms: 2.0,
            at: String::new(),
            detail: String::new(),
        }
    }

    /// [`super::effects`] over nodes given by their every success.
    fn effects(
        nodes: &[NodeName],
        succ: &[Vec<u64>],
        end_us: u64,
        fired: &[FiredStep],
        lookback_us: u64,
    ) -> Vec<StepEffect> {
        super::effects(
            nodes,
            &Timelines::from_sorted(succ),
            end_us,
            fired,
            lookback_us,
        )
    }

    /// [`super::verdicts`] over nodes given by their every success.
    fn verdicts(
        scenario: &Scenario,
        nodes: &[NodeName],
        succ: &[Vec<u64>],
        end_us: u64,
        fired: &[FiredStep],
        effects: &[StepEffect],
        summary: &Summary,
    ) -> Vec<Verdict> {
        let t = Timelines::from_sorted(succ);
        super::verdicts(scenario, nodes, &t, end_us, fired, effects, summary)
    }

    fn names() -> Vec<NodeName> {
        vec!["n1".into(), "n2".into(), "n3".into()]
    }

    /// The seeds' killed-leader timeline: n2 is the leader and is killed at 10 s; nothing succeeds
    /// anywhere until 11.35 s; n1 and n3 then serve; n2 is started at 20 s and serves from 21.2 s.
    fn killed_leader() -> (Vec<Vec<u64>>, Vec<FiredStep>) {
        let mut n1 = ticks(0.0, 10.0, 7);
        n1.extend(ticks(11.35, 30.0, 7));
        let mut n2 = ticks(0.0, 9.995, 5);
        n2.extend(ticks(21.2, 30.0, 5));
        let mut n3 = ticks(0.003, 10.0, 9);
        n3.extend(ticks(11.4, 30.0, 9));
        let steps = vec![
            step(0, "kill", "leader", &["n2"], 10.0),
            step(1, "start", "crash", &["n2"], 20.0),
        ];
        (vec![n1, n2, n3], steps)
    }

    #[test]
    fn a_killed_leader_window_is_measured_from_the_last_success_to_the_first() {
        let (succ, steps) = killed_leader();
        let fx = effects(&names(), &succ, 30 * S, &steps, S);
        let w = fx[0].cluster;
        // The last success anywhere before the outage: n1 or n3's tick just under 10 s.
        assert!((w.start_s - 9.996).abs() < 0.01, "{w:?}");
        assert!((w.end_s - 11.35).abs() < 1e-6, "{w:?}");
        assert!((w.length_s - 1.35).abs() < 0.01, "{w:?}");
        assert!(!w.open);
        assert_eq!(fx[0].label, "kill n2 (leader)");
        // Per node: n2 is out from ~10 s until after its start at 20 s.
        let n2 = &fx[0].nodes[1].window;
        assert!(
            (n2.start_s - 9.995).abs() < 0.01 && (n2.end_s - 21.2).abs() < 1e-6,
            "{n2:?}"
        );
        // The start step brought n2 back 1.2 s after it fired (at 20.002 s).
        assert_eq!(fx[1].recovery.len(), 1);
        let r = fx[1].recovery[0].after_s.unwrap();
        assert!((r - 1.198).abs() < 1e-3, "{r}");
        // After the start nothing is out for the whole cluster beyond the tick spacing, and n2's
        // outage from before the start is not the start's window (it is its recovery).
        assert!(fx[1].cluster.length_s < 0.01, "{:?}", fx[1].cluster);
        assert!(
            fx[1].nodes[1].window.length_s < 0.01,
            "{:?}",
            fx[1].nodes[1].window
        );
    }

    #[test]
    fn a_leaderless_system_shows_no_window_and_a_node_that_never_returns_is_open() {
        // Gryadka-like: n1 is killed at 5 s; n2 and n3 never stop; n1 never comes back.
        let n1 = ticks(0.0, 5.0, 2);
        let n2 = ticks(0.0, 15.0, 2);
        let n3 = ticks(0.001, 15.0, 2);
        let steps = vec![step(0, "kill", "n1", &["n1"], 5.0)];
        let fx = effects(&names(), &[n1, n2, n3], 15 * S, &steps, S);
        assert!(fx[0].cluster.length_s <= 0.002, "{:?}", fx[0].cluster);
        let n1w = fx[0].nodes[0].window;
        assert!(n1w.open && (n1w.length_s - 10.0).abs() < 0.01, "{n1w:?}");
        assert_eq!(fx[0].label, "kill n1");
    }

    #[test]
    fn heal_measures_recovery_of_every_node_a_network_fault_had_cut() {
        // Isolate n1 at 5 s (n1 stops serving), partition nothing else; heal at 12 s; n1 serves
        // again from 13.5 s. A second cluster-wide pause of 2 s after heal (Galera's rejoin) is
        // the heal step's window.
        let mut n1 = ticks(0.0, 5.0, 4);
        n1.extend(ticks(13.5, 20.0, 4));
        let mut n2 = ticks(0.0, 12.5, 4);
        n2.extend(ticks(14.5, 20.0, 4));
        let mut n3 = ticks(0.002, 12.5, 4);
        n3.extend(ticks(14.5, 20.0, 4));
        let steps = vec![
            step(0, "isolate", "leader", &["n1"], 5.0),
            step(1, "heal", "", &["n1", "n2", "n3"], 12.0),
        ];
        let fx = effects(&names(), &[n1, n2, n3], 20 * S, &steps, S);
        assert!(fx[0].cluster.length_s < 0.01, "{:?}", fx[0].cluster);
        assert_eq!(fx[1].recovery.len(), 1, "only n1 was cut");
        assert_eq!(fx[1].recovery[0].node, "n1");
        assert!((fx[1].recovery[0].after_s.unwrap() - 1.498).abs() < 1e-3);
        let w = fx[1].cluster;
        assert!(
            (w.start_s - 12.5).abs() < 0.01 && (w.length_s - 1.0).abs() < 0.01,
            "{w:?}"
        );
        assert_eq!(fx[1].label, "heal");
    }

    #[test]
    fn a_repeating_step_is_judged_at_every_firing() {
        // A kill of a random node every 10 s and its start 4 s later; the node killed at 2 s
        // serves 0.5 s after its start, the one killed at 12 s only 2.5 s after.
        let text = "\
name: t
system: redis
load: {duration: 30s}
steps:
  - {name: crash, at: 2s, every: 10s, until: 20s, fault: kill, target: random}
  - {name: back, at: 6s, every: 10s, until: 20s, fault: start, target: crash}
expect:
  - serves-again: {after: back, within: 1s}
  - serves-again: {after: back, within: 3s}
  - column-zero: {node: crash, from: crash, until: back}
  - column-zero: {node: crash, from: crash, until: back, grace: 5s}
";
        let sc = crate::scenario::parse(Path::new("t.yaml"), text).unwrap();
        let mut n1 = ticks(0.0, 2.0, 5);
        n1.extend(ticks(6.5, 30.0, 5));
        let mut n2 = ticks(0.0, 12.0, 5);
        n2.extend(ticks(18.5, 30.0, 5));
        let n3 = ticks(0.0, 30.0, 5);
        let mut fired = vec![
            step(0, "kill", "random", &["n1"], 2.0),
            step(1, "start", "crash", &["n1"], 6.0),
            step(0, "kill", "random", &["n2"], 12.0),
            step(1, "start", "crash", &["n2"], 16.0),
        ];
        for (k, f) in fired.iter_mut().enumerate() {
            f.name = Some(if k % 2 == 0 { "crash" } else { "back" }.into());
            f.repeat = (k / 2) as u32;
        }
        let succ = [n1, n2, n3];
        let fx = effects(&names(), &succ, 30 * S, &fired, S);
        let v = verdicts(
            &sc,
            &names(),
            &succ,
            30 * S,
            &fired,
            &fx,
            &summary(Safety::default(), &[]),
        );
        assert!(!v[0].passed, "{v:#?}");
        assert_eq!(
            v[0].measured,
            "1 of 2 firings did not hold: at 16.00 s: n2 after 2.50 s"
        );
        assert!(v[1].passed, "{v:#?}");
        assert_eq!(
            v[1].measured,
            "2 firings, all held; the worst at 16.00 s: n2 after 2.50 s"
        );
        // Each kill's own node is silent until that kill's own start.
        assert!(v[2].passed, "{v:#?}");
        assert!(
            v[2].measured
                .starts_with("2 firings, all held; the last at 12.00 s: n2: no success"),
            "{}",
            v[2].measured
        );
        // A grace past the start leaves nothing to judge: it holds, and says so.
        assert!(v[3].passed, "{v:#?}");
        assert!(
            v[3].measured.contains("nothing to judge"),
            "{}",
            v[3].measured
        );
    }

    #[test]
    fn expectations_pass_and_fail_on_the_measured_timeline() {
        let text = "\
name: t
system: etcd
load: {duration: 30s}
steps:
  - {name: crash, at: 10s, fault: kill, target: leader}
  - {name: back, at: 20s, fault: start, target: crash}
expect:
  - window: {after: crash, at-most: 2s}
  - window: {after: crash, at-most: 1s}
  - window: {after: crash, at-least: 1s, node: crash}
  - serves-again: {after: back, within: 2s}
  - serves-again: {after: back, within: 1s}
  - column-zero: {node: crash, from: crash, until: back}
  - column-zero: {node: n1, from: crash, until: back}
  - lost-writes: 0
  - anomalies: 0
";
        let sc = crate::scenario::parse(Path::new("t.yaml"), text).unwrap();
        let (succ, mut steps) = killed_leader();
        steps[0].name = Some("crash".into());
        steps[1].name = Some("back".into());
        let fx = effects(&names(), &succ, 30 * S, &steps, S);
        let v = verdicts(
            &sc,
            &names(),
            &succ,
            30 * S,
            &steps,
            &fx,
            &summary(Safety::default(), &[]),
        );
        let passed: Vec<bool> = v.iter().map(|v| v.passed).collect();
        assert_eq!(
            passed,
            vec![true, false, true, true, false, true, false, true, true],
            "{v:#?}"
        );
        assert!(
            v[1].measured.starts_with("cluster: 1.35 s"),
            "{}",
            v[1].measured
        );
        assert_eq!(v[4].measured, "n2 after 1.20 s");
        assert!(v[6].measured.starts_with("n1: "), "{}", v[6].measured);
        let lost = Safety {
            lost_writes: 3,
            stale_reads: 2,
            ..Safety::default()
        };
        let v = verdicts(
            &sc,
            &names(),
            &succ,
            30 * S,
            &steps,
            &fx,
            &summary(lost, &[]),
        );
        assert!(!v[7].passed && v[7].measured == "3 lost writes");
        assert!(!v[8].passed);
        assert_eq!(
            v[8].measured,
            "5 anomalies (3 lost writes, 2 stale, 0 reverted, 0 impossible reads)"
        );
        let stale_only = Safety {
            stale_reads: 1,
            ..Safety::default()
        };
        let v = verdicts(
            &sc,
            &names(),
            &succ,
            30 * S,
            &steps,
            &fx,
            &summary(stale_only, &[]),
        );
        assert!(v[7].passed && !v[8].passed, "a stale read is no lost write");
        // A key without a final read is no pass: both safety expectations fail and name it.
        let v = verdicts(
            &sc,
            &names(),
            &succ,
            30 * S,
            &steps,
            &fx,
            &summary(Safety::default(), &["r1/n2/0"]),
        );
        assert!(!v[7].passed && !v[8].passed);
        assert!(
            v[8].measured
                .ends_with("; 1 UNVERIFIED keys, not a pass (r1/n2/0)"),
            "{}",
            v[8].measured
        );
        // Unless the scenario allows it, and then it is judged by its own expectation.
        let allowed = crate::scenario::parse(
            Path::new("t.yaml"),
            &text.replace(
                "  - anomalies: 0\n",
                "  - anomalies: 0\n  - unverified-keys: 1\n",
            ),
        )
        .unwrap();
        let two = summary(Safety::default(), &["r1/n2/0", "r1/n2/1"]);
        let v = verdicts(&allowed, &names(), &succ, 30 * S, &steps, &fx, &two);
        assert!(v[7].passed && v[8].passed, "{v:#?}");
        assert_eq!(
            (v[9].passed, v[9].measured.as_str()),
            (false, "2 unverified keys")
        );
    }

    /// A load summary with these anomaly counts and these keys unverified.
    fn summary(safety: Safety, unverified: &[&str]) -> Summary {
        let mut s = Summary::new(
            "r1".into(),
            String::new(),
            names(),
            30 * S,
            false,
            Vec::new(),
            crate::load::timeline::Timelines::empty(3),
        );
        s.safety = safety;
        s.unverified_keys = unverified.len() as u64;
        for k in unverified {
            s.keys.push(crate::load::summary::KeySummary {
                key: k.to_string(),
                node: "n2".into(),
                iterations: 0,
                last_acked: 0,
                max_possible: 0,
                final_read: None,
                unverified: Some("no final read: connect took longer than 5s".into()),
                safety: Safety::default(),
            });
        }
        s
    }

    #[test]
    fn expectations_about_steps_that_never_fired_fail_and_say_so() {
        let text = "\
name: t
system: etcd
load: {duration: 30s}
steps:
  - {name: crash, at: 10s, fault: kill, target: leader}
  - {name: back, at: 20s, fault: start, target: crash}
expect:
  - serves-again: {after: back, within: 5s}
";
        let sc = crate::scenario::parse(Path::new("t.yaml"), text).unwrap();
        let (succ, steps) = killed_leader();
        let fired = &steps[..1]; // interrupted before `back`
        let fx = effects(&names(), &succ, 15 * S, fired, S);
        let v = verdicts(
            &sc,
            &names(),
            &succ,
            15 * S,
            fired,
            &fx,
            &summary(Safety::default(), &[]),
        );
        assert!(!v[0].passed);
        assert!(
            v[0].measured.contains("back never fired"),
            "{}",
            v[0].measured
        );
    }

    #[test]
    fn window_in_ignores_outages_outside_the_interval() {
        let mut ts = ticks(0.0, 2.0, 10);
        ts.extend(ticks(4.0, 10.0, 10)); // a 2 s outage at 2–4 s
        ts.extend(ticks(10.5, 12.0, 10)); // a 0.5 s outage at 10–10.5 s
        let t = Timeline::from_sorted(&ts);
        let w = t.window_in(12 * S, 9 * S, 12 * S, S);
        assert!((w.length_s - 0.51).abs() < 0.011, "{w:?}");
        let w = t.window_in(12 * S, 0, 12 * S, S);
        assert!((w.length_s - 2.01).abs() < 0.011, "{w:?}");
        // An outage that began long before the interval is not its window ...
        let w = t.window_in(12 * S, 3 * S, 12 * S, S);
        assert!((w.length_s - 0.51).abs() < 0.011, "{w:?}");
        // ... unless nothing succeeded in the interval at all: the node was still down.
        let w = t.window_in(12 * S, 3 * S, 3 * S + 500_000, S);
        assert!((w.length_s - 2.01).abs() < 0.011, "{w:?}");
        assert!(t.silent(2 * S, 4 * S));
        assert_eq!(t.next_success(2 * S), Some(Next::At(4 * S)));
    }

    #[test]
    fn transactional_expectations_are_judged_on_the_transactions() {
        use crate::checker::list_append::{Mop, Outcome as TxnOutcome, Txn};
        use crate::workload::{summarize, TxnHistory, TxnRecord, Workload};
        let yaml = "name: t\nsystem: postgres\nload:\n  duration: 10s\n  workload: list-append\n\
                    expect:\n  - anomalies: 0\n  - anomalies: {lost-update: 0, G-single: 5}\n  - model: read-committed\n  - model: serializable\n";
        let sc = crate::scenario::parse(Path::new("t.yaml"), yaml).unwrap();
        let t = |process, mops| TxnRecord {
            node: 0,
            reader: false,
            txn: Txn {
                process,
                outcome: TxnOutcome::Ok,
                invoked: 1,
                completed: Some(2),
                mops,
            },
            error: None,
        };
        // Both read [] and appended: a lost update, which read committed allows.
        let history = TxnHistory {
            run_id: "r".into(),
            workload: Workload::ListAppend,
            isolation: None,
            read_port: None,
            nodes: vec!["n1".into()],
            txns: vec![
                t(0, vec![Mop::Read(1, Some(vec![])), Mop::Append(1, 1)]),
                t(1, vec![Mop::Read(1, Some(vec![])), Mop::Append(1, 2)]),
                t(2, vec![Mop::Read(1, Some(vec![1, 2]))]),
            ],
            bank: Vec::new(),
            bank_total: 0,
            connect_errors: vec![0],
            end_ns: 10,
            interrupted: false,
        };
        let txn = summarize(&history);
        let mut v: Vec<Verdict> = sc
            .expect
            .iter()
            .map(|e| Verdict {
                expectation: e.describe(),
                passed: true,
                measured: "0 anomalies".into(),
            })
            .collect();
        txn_verdicts(&sc, &mut v, &txn);
        let passed: Vec<bool> = v.iter().map(|v| v.passed).collect();
        assert_eq!(passed, [false, false, true, false], "{v:#?}");
        assert!(
            v[0].measured
                .ends_with("; transactions: G-single 1, lost-update 1"),
            "{}",
            v[0].measured
        );
        assert!(
            v[1].measured.starts_with("1 lost-update over the bound"),
            "{}",
            v[1].measured
        );
        assert_eq!(
            v[2].measured,
            "consistent with read-committed (transactions: G-single 1, lost-update 1)"
        );
    }
}
