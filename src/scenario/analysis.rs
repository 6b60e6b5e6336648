//! What the faults did, computed from the success timestamps (µs since the measured load began) and
//! the steps as they fired: for each step, the cluster-wide and per-node unavailability windows it
//! caused, and for steps that bring nodes back, how long until each node served again; then each
//! expectation's verdict.
//!
//! Each step also gets who served from it to the next step, in 100 ms slices
//! ([`crate::load::serving`]).
//!
//! The window a step caused is the longest span without a success that overlaps the time from the
//! step firing to the next step firing (or the end of the load). It runs from the last success
//! before the outage to the first one after it, so it may begin a few milliseconds before the step
//! fired: that is when the last acknowledged iteration happened. Resolution is 1 µs.

use super::{step_index, Aim, Expect, FaultKind, Scenario, StepRef};
use crate::fault::{NodeFault, Target};
use crate::load::measure::{self, Window, MICROS};
use crate::load::serving;
use crate::load::summary::Safety;
use crate::report::{FiredStep, NodeWindow, Recovery, StepEffect, Verdict};

/// The window a step caused in one timeline: the longest span without a success in `sorted` (µs,
/// ascending, within `[0, end_us]`) that ends after `from_us`, begins before `to_us`, and began at
/// most `lookback_us` before `from_us` (the last success before the outage; a span that began
/// earlier was caused by something else). When there is no success at all in `[from_us, to_us)`,
/// the span that covers the interval is the window, however early it began (the node was
/// already down). A zero-length window at `from_us` when nothing qualifies.
pub fn window_in(
    sorted: &[u64],
    end_us: u64,
    from_us: u64,
    to_us: u64,
    lookback_us: u64,
) -> Window {
    let silent = successes_between(sorted, from_us, to_us) == 0;
    measure::gaps(sorted, end_us, 0)
        .into_iter()
        .filter(|w| {
            let (start, end) = (to_us_f(w.start_s), to_us_f(w.end_s));
            end > from_us && start < to_us && (silent || start + lookback_us >= from_us)
        })
        .max_by_key(|w| to_us_f(w.length_s))
        .unwrap_or(Window {
            start_s: measure::secs(from_us),
            end_s: measure::secs(from_us),
            length_s: 0.0,
            open: false,
        })
}

fn to_us_f(s: f64) -> u64 {
    (s * MICROS as f64).round() as u64
}

/// The first success in `sorted` at or after `from_us`.
pub fn first_success_after(sorted: &[u64], from_us: u64) -> Option<u64> {
    let i = sorted.partition_point(|&t| t < from_us);
    sorted.get(i).copied()
}

/// Successes in `sorted` within `[from_us, to_us)`.
pub fn successes_between(sorted: &[u64], from_us: u64, to_us: u64) -> usize {
    sorted.partition_point(|&t| t < to_us) - sorted.partition_point(|&t| t < from_us)
}

/// What every fired step did. `successes[i]` are node `nodes[i]`'s success timestamps (µs,
/// ascending); `end_us` is the load's length; `lookback_us` how long before a step the last success
/// before its outage may lie (see [`window_in`]; the runner uses the op timeout, at least 1 s).
pub fn effects(
    nodes: &[String],
    successes: &[Vec<u64>],
    end_us: u64,
    fired: &[FiredStep],
    lookback_us: u64,
) -> Vec<StepEffect> {
    let all = measure::merge(&successes.iter().map(Vec::as_slice).collect::<Vec<_>>());
    let mut cut: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for (k, step) in fired.iter().enumerate() {
        let from = to_us_f(step.fired_s);
        let to = fired
            .get(k + 1)
            .map(|n| to_us_f(n.fired_s))
            .unwrap_or(end_us)
            .max(from + 1);
        let restored: Vec<String> = match step.fault.as_str() {
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
            cluster: window_in(&all, end_us, from, to, lookback_us),
            nodes: nodes
                .iter()
                .zip(successes)
                .map(|(n, ts)| NodeWindow {
                    node: n.clone(),
                    window: window_in(ts, end_us, from, to, lookback_us),
                })
                .collect(),
            recovery: restored
                .iter()
                .map(|n| Recovery {
                    node: n.clone(),
                    after_s: index_of(n)
                        .and_then(|i| first_success_after(&successes[i], from))
                        .map(|t| measure::secs(t - from)),
                })
                .collect(),
            serving: Some(serving::serving(successes, from, to)),
        });
    }
    out
}

/// Judge every expectation of `scenario` against what happened. `safety` is the run's anomaly
/// counts, final reads included.
pub fn verdicts(
    scenario: &Scenario,
    nodes: &[String],
    successes: &[Vec<u64>],
    end_us: u64,
    fired: &[FiredStep],
    effects: &[StepEffect],
    safety: &Safety,
) -> Vec<Verdict> {
    let fired_step = |r: &StepRef| {
        step_index(&scenario.steps, r).and_then(|i| fired.iter().position(|f| f.index == i))
    };
    // The nodes an expectation's `node` means: a node by name, or the node(s) a step hit.
    let nodes_of = |a: &Aim| -> Option<Vec<String>> {
        match a {
            Aim::Target(Target::Node(n)) => Some(vec![n.clone()]),
            Aim::Step(name) => {
                fired_step(&StepRef::Name(name.clone())).map(|k| fired[k].nodes.clone())
            }
            _ => None,
        }
    };
    let never = |e: &Expect, r: &StepRef| Verdict {
        expectation: e.describe(),
        passed: false,
        measured: format!("{r} never fired (the run ended before it)"),
    };
    let mut out = Vec::new();
    for e in &scenario.expect {
        let v = match e {
            Expect::LostWrites(max) => Verdict {
                expectation: e.describe(),
                passed: safety.lost_writes <= *max,
                measured: format!("{} lost writes", safety.lost_writes),
            },
            Expect::Anomalies(max) => Verdict {
                expectation: e.describe(),
                passed: safety.total() <= *max,
                measured: safety.describe(),
            },
            Expect::Window(w) => {
                let Some(k) = fired_step(&w.after) else {
                    out.push(never(e, &w.after));
                    continue;
                };
                let windows: Vec<(String, Window)> = match &w.node {
                    None => vec![("cluster".into(), effects[k].cluster)],
                    Some(a) => nodes_of(a)
                        .unwrap_or_default()
                        .into_iter()
                        .filter_map(|n| {
                            effects[k]
                                .nodes
                                .iter()
                                .find(|x| x.node == n)
                                .map(|x| (n, x.window))
                        })
                        .collect(),
                };
                let ok = |win: &Window| {
                    w.at_most
                        .is_none_or(|d| !win.open && win.length_s <= d.as_secs_f64())
                        && w.at_least.is_none_or(|d| win.length_s >= d.as_secs_f64())
                };
                Verdict {
                    expectation: e.describe(),
                    passed: !windows.is_empty() && windows.iter().all(|(_, win)| ok(win)),
                    measured: windows
                        .iter()
                        .map(|(who, win)| format!("{who}: {}", crate::load::summary::describe(win)))
                        .collect::<Vec<_>>()
                        .join("; "),
                }
            }
            Expect::ServesAgain(s) => {
                let Some(k) = fired_step(&s.after) else {
                    out.push(never(e, &s.after));
                    continue;
                };
                let rec = &effects[k].recovery;
                let within = s.within.as_secs_f64();
                Verdict {
                    expectation: e.describe(),
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
                }
            }
            Expect::ColumnZero(c) => {
                let Some(from) = fired_step(&c.from) else {
                    out.push(never(e, &c.from));
                    continue;
                };
                let until = match &c.until {
                    Some(u) => match fired_step(u) {
                        Some(k) => to_us_f(fired[k].fired_s),
                        None => end_us,
                    },
                    None => end_us,
                };
                let grace = c.grace.unwrap_or(scenario.load.op_timeout);
                let start = to_us_f(fired[from].applied_s) + grace.as_micros() as u64;
                let who = nodes_of(&c.node).unwrap_or_default();
                let counts: Vec<(String, usize)> =
                    who.iter()
                        .filter_map(|n| {
                            nodes.iter().position(|x| x == n).map(|i| {
                                (n.clone(), successes_between(&successes[i], start, until))
                            })
                        })
                        .collect();
                Verdict {
                    expectation: e.describe(),
                    passed: !counts.is_empty() && counts.iter().all(|(_, c)| *c == 0),
                    measured: counts
                        .iter()
                        .map(|(n, c)| {
                            format!(
                                "{n}: {c} successes from {:.2} s to {:.2} s",
                                measure::secs(start),
                                measure::secs(until)
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("; "),
                }
            }
        };
        out.push(v);
    }
    out
}

/// Whether a step's fault is a node fault that takes a node out of service (for the report).
pub fn takes_down(fault: FaultKind) -> bool {
    matches!(
        fault,
        FaultKind::Node(
            NodeFault::Kill
                | NodeFault::Stop
                | NodeFault::Pause
                | NodeFault::Isolate
                | NodeFault::Disconnect
        ) | FaultKind::Partition
    )
}

#[cfg(test)]
mod tests {
    use super::*;
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
            nodes: nodes.iter().map(|n| n.to_string()).collect(),
            scheduled_s: at_s,
            fired_s: at_s + 0.002,
            applied_s: at_s + 0.030,
            late_ms: 2.0,
            at: String::new(),
            detail: String::new(),
        }
    }

    fn names() -> Vec<String> {
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
            &Safety::default(),
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
        let v = verdicts(&sc, &names(), &succ, 30 * S, &steps, &fx, &lost);
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
        let v = verdicts(&sc, &names(), &succ, 30 * S, &steps, &fx, &stale_only);
        assert!(v[7].passed && !v[8].passed, "a stale read is no lost write");
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
        let v = verdicts(&sc, &names(), &succ, 15 * S, fired, &fx, &Safety::default());
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
        let w = window_in(&ts, 12 * S, 9 * S, 12 * S, S);
        assert!((w.length_s - 0.51).abs() < 0.011, "{w:?}");
        let w = window_in(&ts, 12 * S, 0, 12 * S, S);
        assert!((w.length_s - 2.01).abs() < 0.011, "{w:?}");
        // An outage that began long before the interval is not its window ...
        let w = window_in(&ts, 12 * S, 3 * S, 12 * S, S);
        assert!((w.length_s - 0.51).abs() < 0.011, "{w:?}");
        // ... unless nothing succeeded in the interval at all: the node was still down.
        let w = window_in(&ts, 12 * S, 3 * S, 3 * S + 500_000, S);
        assert!((w.length_s - 2.01).abs() < 0.011, "{w:?}");
        assert_eq!(successes_between(&ts, 2 * S, 4 * S), 0);
        assert_eq!(first_success_after(&ts, 2 * S), Some(4 * S));
    }
}
